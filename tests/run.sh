#!/usr/bin/env bash
# tests/run.sh: runs every cmocka binary in $BUILD/tests and every tests/e2e/*.sh script, then
# prints one closing line "N passed, M failed" (cmocka cases and e2e checks added up).
set -u
BUILD=${BUILD:-build}
BIN=${BIN:-bin}
export MESHPOL="$PWD/$BIN/meshpol" BUILD BIN
passed=0
failed=0
failed_names=()
log=$(mktemp)
trap 'rm -f "$log"' EXIT

count() { # $1: label; reads the run's output in $log
	local p f
	p=$(grep -Eo '^\[  PASSED  \] [0-9]+' "$log" | awk '{s+=$4} END {print s+0}')
	f=$(grep -Eo '^\[  FAILED  \] [0-9]+ test' "$log" | awk '{s+=$4} END {print s+0}')
	p=$((p + $(grep -c '^ok - ' "$log")))
	f=$((f + $(grep -c '^not ok - ' "$log")))
	if [ "$2" -ne 0 ] && [ "$f" -eq 0 ]; then
		f=1 # crashed or exited non-zero without reporting a failure
	fi
	passed=$((passed + p))
	failed=$((failed + f))
	[ "$f" -eq 0 ] || failed_names+=("$1")
}

for t in "$BUILD"/tests/test_*; do
	[ -x "$t" ] || continue
	"$t" >"$log" 2>&1
	rc=$?
	grep -E '^\[  (FAILED|ERROR) |^\[ +ERROR|Assertion|ERROR:|runtime error' "$log" || true
	count "$(basename "$t")" "$rc"
done

for t in tests/e2e/*.sh; do
	[ -f "$t" ] || continue
	bash "$t" >"$log" 2>&1
	rc=$?
	grep -E '^not ok - |^#' "$log" || true
	count "$(basename "$t")" "$rc"
done

[ ${#failed_names[@]} -eq 0 ] || echo "failing: ${failed_names[*]}"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
