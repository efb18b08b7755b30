#!/usr/bin/env bash
# report_bench.sh: `meshpol audit --format F` for the report formats written from the streamed
# audit (sarif, junit, markdown, html; issue 20: "findings and reports streamed"), against a
# baseline build in the same run: CPU seconds (user + system) and peak RSS from out/timecmd,
# medians of REPS alternating runs, and their ratios to the baseline's.
#
# The meshes and bundles are audit_bench.sh's (out/audit-mesh-N.mpm, out/audit-bundle-N: see its
# header); a size missing from out/ is generated the same way (gen_mesh.py, meshpol compile,
# gen_audit_bundle.py). Each size and format runs
#     BASELINE audit -m out/audit-mesh-N.mpm -p out/audit-bundle-N --format F -o /dev/null
#     MESHPOL  audit -m out/audit-mesh-N.mpm -p out/audit-bundle-N --format F -o /dev/null
# alternately, REPS times each, after one untimed run of each whose reports must be equal (the
# time aside; html: the scope's Clusters row, which this build no longer repeats, aside).
#
# Environment: BASELINE (required: a meshpol built from the commit to compare with, e.g.
#              `git worktree add /tmp/base main && make -C /tmp/base`), SIZES ("1000 10000"),
#              FORMATS ("sarif junit markdown html"), REPS (3), ROUTES_PER_SERVICE (10), SEED
#              (42), UNGRANTED_EVERY (100), MESHPOL (bin/meshpol of this checkout), MESHPOL_DOT
#              (false: html's picture is not laid out, see below).
# Exit: 0 whatever the figures; 1 if a command failed or the reports differ.
set -u

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
OUT=$HERE/out
MESHPOL=${MESHPOL:-$ROOT/bin/meshpol}
BASELINE=${BASELINE:-}
SIZES=${SIZES:-1000 10000}
FORMATS=${FORMATS:-sarif junit markdown html}
REPS=${REPS:-3}
ROUTES_PER_SERVICE=${ROUTES_PER_SERVICE:-10}
SEED=${SEED:-42}
UNGRANTED_EVERY=${UNGRANTED_EVERY:-100}
TIMECMD=$OUT/timecmd
RESULTS=$OUT/report-results.txt

BENCH_NAME=report_bench
. "$HERE/bench_lib.sh"

if [ -z "$BASELINE" ] || [ ! -x "$BASELINE" ]; then
	echo "report_bench: BASELINE must name a meshpol binary to compare with (see the header)" >&2
	exit 1
fi
if ! make --no-print-directory -s -C "$HERE" out/timecmd >&2 || [ ! -x "$MESHPOL" ]; then
	echo "report_bench: cannot build $TIMECMD, or $MESHPOL is missing (\`make\`)" >&2
	exit 1
fi
mkdir -p "$OUT"
RUN=$(mktemp -d "$OUT/run.XXXXXX")
trap 'rm -rf "$RUN"' EXIT
export MESHPOL_STDLIB=${MESHPOL_STDLIB:-$ROOT/stdlib}
# html lays its picture out with Graphviz, the same program and time for both builds (up to its
# 60 s timeout on a mesh of 1,000 services): not the writer's cost. A program that fails at once
# leaves the picture out (the page says why) while the audit's leak paths are still read.
export MESHPOL_DOT=${MESHPOL_DOT:-false}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b <= 0) print "nan"; else printf "%.2f", a / b }'; }
# the report without what legitimately differs between the two builds' runs
norm() {
	sed -E 's/[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z/TIME/g; /<tr><th>Clusters<\/th>/d' "$1"
}

rows=()
for n in $SIZES; do
	dir=$OUT/audit-mesh-$n mpm=$OUT/audit-mesh-$n.mpm bundle=$OUT/audit-bundle-$n
	if [ ! -s "$mpm" ] || [ ! -f "$bundle/bundle.yaml" ]; then
		echo "report_bench: generating the mesh and bundle of $n services..." >&2
		python3 "$HERE/gen_mesh.py" --services "$n" --routes-per-service "$ROUTES_PER_SERVICE" \
			--seed "$SEED" "$dir" >/dev/null &&
			"$MESHPOL" compile -o "$mpm" "$dir" >/dev/null 2>&1 &&
			python3 "$HERE/gen_audit_bundle.py" --mesh "$dir" \
				--ungranted-every "$UNGRANTED_EVERY" "$bundle" >/dev/null ||
			{ fail "cannot make the mesh and bundle of $n services"; continue; }
	fi
	for fmt in $FORMATS; do
		rm -f "$RUN"/*.s "$RUN"/*.kb "$RUN"/*.cpu
		"$BASELINE" audit -m "$mpm" -p "$bundle" --format "$fmt" -o "$RUN/base.$fmt" 2>/dev/null
		"$MESHPOL" audit -m "$mpm" -p "$bundle" --format "$fmt" -o "$RUN/new.$fmt" 2>/dev/null
		if ! cmp -s <(norm "$RUN/base.$fmt") <(norm "$RUN/new.$fmt"); then
			fail "$n services, $fmt: the report differs from the baseline's"
			continue
		fi
		echo "report_bench: $n services, $fmt: $REPS alternating runs..." >&2
		ok=1
		for ((r = 1; r <= REPS; r++)); do
			bench_timed base "$RUN/base.log" 1 "$BASELINE" audit -m "$mpm" -p "$bundle" \
				--format "$fmt" -o /dev/null || { ok=0; break; }
			bench_timed new "$RUN/new.log" 1 "$MESHPOL" audit -m "$mpm" -p "$bundle" \
				--format "$fmt" -o /dev/null || { ok=0; break; }
		done
		[ "$ok" -eq 1 ] || { failed=1; continue; }
		b_cpu=$(median "$RUN/base.cpu") n_cpu=$(median "$RUN/new.cpu")
		b_mb=$(kb_to_mb "$(max "$RUN/base.kb")") n_mb=$(kb_to_mb "$(max "$RUN/new.kb")")
		rows+=("$(printf '%8s %-8s | %8.3f %8.3f %6s | %8s %8s %6s' "$n" "$fmt" "$b_cpu" \
			"$n_cpu" "$(ratio "$n_cpu" "$b_cpu")" "$b_mb" "$n_mb" "$(ratio "$n_mb" "$b_mb")")")
	done
done

{
	echo
	echo "report benchmark: meshpol audit --format F -o /dev/null, this build vs BASELINE, median of $REPS alternating runs"
	echo "host: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg), $(date -u +%Y-%m-%dT%H:%M:%SZ)"
	echo "meshpol: $MESHPOL; baseline: $BASELINE"
	echo
	printf '%8s %-8s | %8s %8s %6s | %8s %8s %6s\n' services format base_cpu cpu ratio \
		base_MB MB ratio
	for row in "${rows[@]}"; do echo "$row"; done
	echo
	echo "cpu: CPU seconds (user + system, from wait4) of the whole command (load, audit, report);"
	echo "  MB: peak resident set (ru_maxrss, max over the runs), 10^6 bytes; ratio: this build's"
	echo "  figure over the baseline's in the same run (below 1: this build uses less)."
} | tee "$RESULTS"
[ "$failed" -eq 0 ] || echo "report_bench: some commands failed (see above)" >&2
exit "$failed"
