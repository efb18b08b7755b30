#!/usr/bin/env bash
# bench/dirload_bench.sh: a bundle directory loaded on two threads (engine/policy_split.c). For
# each size, `meshpol check` and `meshpol audit --format json -o /dev/null` of the audit
# benchmark's mesh and bundle directory (made by audit_bench.sh: SIZES=N REPS=1 bash
# bench/audit_bench.sh), run by BASE (another build, e.g. main's), by this build on one thread
# (MESHPOL_LOAD_JOBS=1) and by this build as it chooses (two threads on two cores), in REPS
# alternating rounds; prints the medians of wall and CPU seconds, and checks that the three give
# the same `check` and audit output, byte for byte (the audit's "time" aside; BASE's `check`
# without its load line, whose figure counts memory's charge there).
#
# One thread (MESHPOL_LOAD_JOBS=1) also loads the model before the bundle, where two threads
# load it beside the bundle (engine.c); ARCHIVE=1 times the bundle's archive
# (audit-bundle-N.tar.gz, also made by audit_bench.sh) instead of its directory: the model's
# overlap alone, as an archive is never split.
#
# usage: SIZES="1000 10000" REPS=5 BASE=/path/to/main/bin/meshpol bash bench/dirload_bench.sh
# env:   DATA (where audit-mesh-N.mpm and audit-bundle-N are: bench/out), MESHPOL (bin/meshpol),
#        ARCHIVE (0).
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
OUT=$HERE/out
DATA=${DATA:-$OUT}
SIZES=${SIZES:-"1000 10000"}
REPS=${REPS:-5}
BASE=${BASE:-}
ARCHIVE=${ARCHIVE:-0}
MESHPOL=${MESHPOL:-$ROOT/bin/meshpol}
TIMECMD=$OUT/timecmd
BENCH_NAME=dirload_bench
. "$HERE/bench_lib.sh"
export MESHPOL_STDLIB=$ROOT/stdlib

if ! make --no-print-directory -s -C "$HERE" out/timecmd >&2; then
	echo "$BENCH_NAME: cannot build $TIMECMD" >&2
	exit 1
fi
bench_workdir dirload
variants=(one two)
[ -n "$BASE" ] && variants=(base one two)

# cmd VARIANT: the command line of the variant's meshpol, into CMD
cmd() {
	case $1 in
	base) CMD=("$BASE") ;;
	one) CMD=(env MESHPOL_LOAD_JOBS=1 "$MESHPOL") ;;
	two) CMD=("$MESHPOL") ;;
	esac
}

for n in $SIZES; do
	mpm=$DATA/audit-mesh-$n.mpm bundle=$DATA/audit-bundle-$n
	[ "$ARCHIVE" = 1 ] && bundle=$bundle.tar.gz
	if [ ! -f "$mpm" ] || [ ! -e "$bundle" ]; then
		fail "no $mpm or $bundle (SIZES=$n REPS=1 bash bench/audit_bench.sh makes them)"
		continue
	fi
	RUN=$WORK/$n
	mkdir -p "$RUN"
	for v in "${variants[@]}"; do # the outputs, once
		cmd "$v"
		"${CMD[@]}" check -m "$mpm" "$bundle" >"$RUN/$v.check" 2>&1
		"${CMD[@]}" audit -m "$mpm" -p "$bundle" --format json -o "$RUN/$v.json" >/dev/null 2>&1
		grep -v '^ *"time": ' "$RUN/$v.json" >"$RUN/$v.audit"
		grep -v ': load: ' "$RUN/$v.check" >"$RUN/$v.check.noload"
	done
	cmp -s "$RUN/one.check" "$RUN/two.check" || fail "$n: check differs on one and two threads"
	cmp -s "$RUN/one.audit" "$RUN/two.audit" || fail "$n: the audit differs on one and two threads"
	if [ -n "$BASE" ]; then
		cmp -s "$RUN/base.check.noload" "$RUN/two.check.noload" || fail "$n: check differs from BASE's"
		cmp -s "$RUN/base.audit" "$RUN/two.audit" || fail "$n: the audit differs from BASE's"
	fi
	for ((r = 0; r < REPS; r++)); do
		for v in "${variants[@]}"; do
			cmd "$v"
			bench_timed "$v.check" "$RUN/log" 0 "${CMD[@]}" check -m "$mpm" "$bundle"
			bench_timed "$v.audit" "$RUN/log" 1 "${CMD[@]}" audit -m "$mpm" -p "$bundle" \
				--format json -o /dev/null
		done
	done
	echo "$n services, $(basename "$bundle"), median of $REPS alternating rounds (wall s / CPU s):"
	printf '  %-6s %-24s %-24s\n' "" "check" "audit --format json"
	for v in "${variants[@]}"; do
		printf '  %-6s %-24s %-24s\n' "$v" \
			"$(median "$RUN/$v.check.s") / $(median "$RUN/$v.check.cpu")" \
			"$(median "$RUN/$v.audit.s") / $(median "$RUN/$v.audit.cpu")"
	done
done
[ "$failed" = 0 ] && echo "outputs: the same on every variant" || echo "outputs: DIFFER (above)"
exit "$failed"
