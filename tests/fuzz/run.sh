#!/usr/bin/env bash
# tests/fuzz/run.sh: runs the libFuzzer harnesses that `make fuzz` built in $FUZZ_BUILD, one after
# the other (never in parallel), each for $FUZZ_SECONDS (fuzz_policy, slow, for a third of that),
# then prints one line per harness: executions, coverage, and what it found. Usage:
#   tests/fuzz/run.sh [compile|mpm|decide|trail|policy|barchive ...]
# New interesting inputs go to $FUZZ_BUILD/corpus/<harness>/ (not committed); crashes, leaks and
# timeouts to $FUZZ_BUILD/artifacts/<harness>/. Extra libFuzzer flags: FUZZ_FLAGS, e.g.
# "-fork=1 -ignore_crashes=1" to go on past a known crash.
# Exit status 1 when any harness found something. docs/testing.md, "Fuzzing".
set -u
FUZZ_BUILD=${FUZZ_BUILD:-build-fuzz}
FUZZ_SECONDS=${FUZZ_SECONDS:-60}
FUZZ_FLAGS=${FUZZ_FLAGS:-}
BIN=${BIN:-bin}
[ $# -gt 0 ] || set -- compile mpm decide trail policy barchive

# .mpm seeds in the format of this build (the committed ones may predate a format change)
if [ -x "$BIN/meshpol" ]; then
	tests/fuzz/make-seeds.sh --mpm "$FUZZ_BUILD/seeds/fuzz_mpm" ||
		echo "fuzz: could not make fresh .mpm seeds; using the committed ones" >&2
fi

# fuzz_trail, fuzz_policy and fuzz_compile write a file per input (fuzz_trail also fsyncs): on a
# tmpfs that costs nothing. One directory for the whole run, removed at the end, so that a
# harness that crashed leaves nothing behind.
base=${TMPDIR:-/tmp}
if [ -z "${TMPDIR:-}" ] && [ -d /dev/shm ] && [ -w /dev/shm ]; then
	base=/dev/shm
fi
TMPDIR=$(mktemp -d "$base/meshpol-fuzz-run.XXXXXX") || exit 2
export TMPDIR
trap 'rm -rf "$TMPDIR"' EXIT
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
summary=()
found=0
for h in "$@"; do
	name=fuzz_$h
	exe=$FUZZ_BUILD/$name
	if [ ! -x "$exe" ]; then
		summary+=("$name: not built ($exe)")
		found=1
		continue
	fi
	secs=$FUZZ_SECONDS
	opts=(-timeout=10 -rss_limit_mb=2048 -print_final_stats=1)
	case $h in
	policy) # a Lua state per input, and a policy may spend its whole instruction budget
		secs=$((FUZZ_SECONDS / 3))
		opts=(-timeout=60 -rss_limit_mb=2048 -max_len=8192 -print_final_stats=1) ;;
	esac
	[ "$secs" -ge 1 ] || secs=1
	[ -f "tests/fuzz/$name.dict" ] && opts+=("-dict=tests/fuzz/$name.dict")
	work=$FUZZ_BUILD/corpus/$name
	art=$FUZZ_BUILD/artifacts/$name
	mkdir -p "$work" "$art"
	seeds=("tests/fuzz/corpus/$name")
	[ -d "$FUZZ_BUILD/seeds/$name" ] && seeds+=("$FUZZ_BUILD/seeds/$name")
	log=$FUZZ_BUILD/$name.log
	before=$(find "$art" -type f | sort)
	echo "fuzz: $name for ${secs}s (log: $log)"
	# shellcheck disable=SC2086
	"$exe" "${opts[@]}" $FUZZ_FLAGS -max_total_time="$secs" -artifact_prefix="$art/" \
		"$work" "${seeds[@]}" >"$log" 2>&1
	rc=$?
	execs=$(grep -o 'stat::number_of_executed_units: [0-9]*' "$log" | awk '{print $2}' | tail -1)
	[ -n "$execs" ] || execs=$(grep -Eo '^#[0-9]+' "$log" | tail -1 | tr -d '#') # -fork
	cov=$(grep -Eo 'cov: [0-9]+ ft: [0-9]+' "$log" | tail -1)
	what=$(grep -Eo 'ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer): [^ ]+( [^ ]+)?|runtime error: .*|ALARM: .*' "$log" | head -1)
	new=$(comm -13 <(echo "$before") <(find "$art" -type f | sort) | grep -v '^$')
	# an input found again has the same name (its SHA-1): the log names it
	[ -n "$new" ] || new=$(grep -o "Test unit written to .*" "$log" | sed 's/Test unit written to //')
	if [ "$rc" -ne 0 ] || [ -n "$new" ]; then
		found=1
		summary+=("$name: FOUND ${what:-exit $rc} after ${execs:-?} runs, ${cov:-no coverage line}; inputs: $(echo "$new" | head -3 | tr '\n' ' ')$([ "$(echo "$new" | wc -l)" -gt 3 ] && echo "(and $(($(echo "$new" | wc -l) - 3)) more)")")
	else
		summary+=("$name: ${execs:-?} runs in ${secs}s, ${cov:-no coverage line}, nothing found")
	fi
done
echo
printf '%s\n' "${summary[@]}"
exit $found
