#!/usr/bin/env bash
# tests/e2e/fuzz_replay.sh: replays the committed fuzz corpora (tests/fuzz/corpus/<harness>/:
# seeds and the reproducers of bugs fuzzing found) once through each harness, without libFuzzer:
# each harness is linked with tests/fuzz/replay_main.c against $BUILD/libmeshpol_int.a, with the
# sanitizers when that library has them (`make check`). One check per harness: every input runs
# to its end, each in its own process; a failure names every input that failed and why.
# Fuzzing itself is `make fuzz` (docs/testing.md, "Fuzzing").
. "$(dirname "$0")/lib.sh"
BUILD=${BUILD:-build}
CC=${CC:-gcc}
LIB=$BUILD/libmeshpol_int.a
PKGS=(lua5.4 yaml-0.1 jansson libevent libevent_openssl libevent_pthreads openssl re2 libgit2) # as the Makefile

if [ ! -f "$LIB" ]; then
	not_ok "fuzz replay: $LIB exists" "build it first (make all)"
	e2e_done
fi
flags=(-std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -O1 -g -Wall -Wextra -Werror
	-Iengine/include -Iengine -Itests/fuzz "-DFUZZ_ROOT=\"$PWD\"")
read -ra more <<<"$(pkg-config --cflags "${PKGS[@]}")"
flags+=("${more[@]}")
read -ra libs <<<"$(pkg-config --libs "${PKGS[@]}") -lstdc++ -lreadline -lpthread -lm"
if nm "$LIB" 2>/dev/null | grep -q __asan_report; then # built by `make check`
	flags+=("-fsanitize=address,undefined" -fno-omit-frame-pointer -fno-sanitize-recover=all)
fi

for src in tests/fuzz/fuzz_*.c; do
	name=$(basename "$src" .c)
	h=${name#fuzz_}
	bin=$BUILD/tests/fuzzreplay_$h
	corpus=tests/fuzz/corpus/$name
	mkdir -p "$BUILD/tests"
	if [ ! -x "$bin" ] || [ "$src" -nt "$bin" ] || [ "$LIB" -nt "$bin" ] ||
		[ tests/fuzz/replay_main.c -nt "$bin" ] || [ tests/fuzz/fuzzutil.h -nt "$bin" ]; then
		if ! "$CC" "${flags[@]}" -o "$bin" tests/fuzz/replay_main.c "$src" "$LIB" "${libs[@]}" \
			>"$TMP/cc" 2>&1; then
			mapfile -t why < <(head -20 "$TMP/cc")
			not_ok "fuzz replay $name: builds" "${why[@]}"
			continue
		fi
	fi
	if [ ! -d "$corpus" ]; then
		not_ok "fuzz replay $name: corpus $corpus exists"
		continue
	fi
	# one process per input, so that one crash does not hide the inputs after it
	n=0
	failed=()
	why=()
	for input in "$corpus"/*; do
		[ -f "$input" ] || continue
		n=$((n + 1))
		# in a subshell: a crash is reported below, not by bash ("Segmentation fault")
		(TMPDIR=$TMP timeout 120 "$bin" "$input" >"$TMP/out" 2>"$TMP/err"; exit $?) 2>/dev/null
		rc=$?
		[ "$rc" -eq 0 ] && continue
		failed+=("$(basename "$input")")
		why+=("${input}: exit $rc$([ "$rc" -eq 124 ] && echo ' (timed out)')")
		mapfile -t -O "${#why[@]}" why < <(grep -v '^replay: ' "$TMP/err" |
			grep -E 'ERROR|SUMMARY|runtime error|^ *#[0-3] |: ' | head -6)
	done
	if [ ${#failed[@]} -eq 0 ]; then
		ok "fuzz replay $name: $n inputs"
	else
		not_ok "fuzz replay $name: ${#failed[@]} of $n inputs fail: ${failed[*]}" "${why[@]}"
	fi
done
e2e_done
