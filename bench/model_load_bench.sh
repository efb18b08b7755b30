#!/usr/bin/env bash
# model_load_bench.sh: loading a compiled model (.mpm), this build against another (BASE), in
# the same run: `meshpol check -m out/audit-mesh-N.mpm out/audit-min` (the model and a one-rule
# bundle, no audit), REPS alternating timed runs of each through out/timecmd, then
# `perf stat -e page-faults,instructions` of each (medians of PERF_REPS runs; instructions read
# "n/a" where the machine's PMU is not exposed, as on most VMs). Both builds' outputs are checked
# equal first. The meshes and the bundle are `make -C bench audit`'s (out/audit-mesh-N.mpm,
# out/audit-min), or MESHES=DIR's.
#
# Environment: BASE (required: another build's meshpol), MESHPOL (bin/meshpol of this checkout),
#              SIZES ("1000 10000"), REPS (7), PERF_REPS (5), MESHES (out/).
# Exit: 0 (benchmarks report, they do not gate); 1 if a command failed or a tool is missing.
set -u

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
OUT=$HERE/out
MESHPOL=${MESHPOL:-$ROOT/bin/meshpol}
BASE=${BASE:-}
SIZES=${SIZES:-1000 10000}
REPS=${REPS:-7}
PERF_REPS=${PERF_REPS:-5}
MESHES=${MESHES:-$OUT}
TIMECMD=$OUT/timecmd

BENCH_NAME=model_load_bench
. "$HERE/bench_lib.sh"

if [ -z "$BASE" ] || [ ! -x "$BASE" ] || [ ! -x "$MESHPOL" ]; then
	echo "model_load_bench: needs BASE=/path/to/another/meshpol and $MESHPOL (\`make\`)" >&2
	exit 1
fi
if ! make --no-print-directory -s -C "$HERE" out/timecmd >&2; then
	echo "model_load_bench: cannot build $TIMECMD (make -C bench tools)" >&2
	exit 1
fi
RUN=$(mktemp -d "$OUT/run.XXXXXX")
trap 'rm -rf "$RUN"' EXIT

# perf_median BIN MPM EVENT: the median count of EVENT over PERF_REPS runs ("n/a": not counted).
perf_median() {
	local bin=$1 mpm=$2 ev=$3 i
	if ! command -v perf >/dev/null 2>&1; then
		echo n/a
		return
	fi
	: >"$RUN/perf"
	for i in $(seq "$PERF_REPS"); do
		perf stat -x, -e "$ev" "$bin" check -m "$mpm" "$MESHES/audit-min" 2>&1 >/dev/null |
			awk -F, -v ev="$ev" '$3 == ev && $1 ~ /^[0-9]+$/ { print $1 }' >>"$RUN/perf"
	done
	if [ -s "$RUN/perf" ]; then median "$RUN/perf" | awk '{ printf "%d", $1 }'; else echo n/a; fi
}

echo "model load: meshpol check -m audit-mesh-N.mpm audit-min, median of $REPS alternating runs"
printf '%-7s %-5s %9s %9s %8s %12s %12s\n' size build wall_s cpu_s peak_MB page_faults instructions
for n in $SIZES; do
	mpm=$MESHES/audit-mesh-$n.mpm
	if [ ! -f "$mpm" ] || [ ! -d "$MESHES/audit-min" ]; then
		echo "model_load_bench: $mpm or $MESHES/audit-min missing (make -C bench audit)" >&2
		exit 1
	fi
	"$BASE" check -m "$mpm" "$MESHES/audit-min" >"$RUN/base.out" 2>&1
	"$MESHPOL" check -m "$mpm" "$MESHES/audit-min" >"$RUN/new.out" 2>&1
	if ! cmp -s "$RUN/base.out" "$RUN/new.out"; then
		echo "model_load_bench: the two builds' outputs differ at $n services" >&2
		diff "$RUN/base.out" "$RUN/new.out" | head -n 10 >&2
		exit 1
	fi
	rm -f "$RUN"/base_"$n".* "$RUN"/new_"$n".*
	for i in $(seq "$REPS"); do
		bench_timed "base_$n" "$RUN/log" 0 "$BASE" check -m "$mpm" "$MESHES/audit-min" || exit 1
		bench_timed "new_$n" "$RUN/log" 0 "$MESHPOL" check -m "$mpm" "$MESHES/audit-min" || exit 1
	done
	for b in base new; do
		bin=$BASE
		[ "$b" = new ] && bin=$MESHPOL
		printf '%-7s %-5s %9s %9s %8s %12s %12s\n' "$n" "$b" \
			"$(median "$RUN/${b}_$n.s" | awk '{ printf "%.3f", $1 }')" \
			"$(median "$RUN/${b}_$n.cpu" | awk '{ printf "%.3f", $1 }')" \
			"$(kb_to_mb "$(median "$RUN/${b}_$n.kb")")" \
			"$(perf_median "$bin" "$mpm" page-faults)" \
			"$(perf_median "$bin" "$mpm" instructions)"
	done
	awk -v b="$(median "$RUN/base_$n.s")" -v n="$(median "$RUN/new_$n.s")" \
		-v bc="$(median "$RUN/base_$n.cpu")" -v nc="$(median "$RUN/new_$n.cpu")" -v s="$n" \
		'BEGIN { printf "%-7s ratio base/new: wall %.2fx, cpu %.2fx\n", s, b / n, bc / nc }'
done
