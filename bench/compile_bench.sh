#!/usr/bin/env bash
# compile_bench.sh: `meshpol compile` (YAML -> model) against libyaml's bare event parse of the
# same files, and the compile's peak RSS. Targets: the design brief's "Performance targets".
#
# For each size (services; routes = services x ROUTES_PER_SERVICE) it generates a mesh with
# gen_mesh.py into out/mesh-N (native format), and for each of K8S_SIZES one with
# gen_k8s_mesh.py into out/k8s-N (Kubernetes Services and Deployments, Istio VirtualServices,
# DestinationRules and PeerAuthentications: the importers' and analyzers' lookups that once
# grew with the square of the documents, issue 20), runs each command once untimed (warm
# cache, check it succeeds),
# then REPS alternating timed runs of
#     out/yaml_baseline DIR               (the floor: parse every file, delete every event)
#     bin/meshpol compile -o out/mesh-N.mpm DIR
# through out/timecmd (wall time in us, peak RSS from wait4), and prints medians and a PASS/FAIL
# per target. Both are timed the same way, from fork to exit, so process start-up is in both.
#
# Environment: SIZES ("1000 10000"), K8S_SIZES ("1000 10000"; empty: none), REPS (5),
#              ROUTES_PER_SERVICE (2), SEED (42), MESHPOL (bin/meshpol of this checkout).
# Exit: 0 whether or not the targets are met (benchmarks report, they do not gate); 1 if a
# command failed or bin/meshpol is missing (the baseline is still measured and printed).
set -u

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
OUT=$HERE/out
MESHPOL=${MESHPOL:-$ROOT/bin/meshpol}
SIZES=${SIZES:-1000 10000}
K8S_SIZES=${K8S_SIZES-1000 10000}
REPS=${REPS:-5}
ROUTES_PER_SERVICE=${ROUTES_PER_SERVICE:-2}
SEED=${SEED:-42}
BASELINE=$OUT/yaml_baseline
TIMECMD=$OUT/timecmd
RATIO_TARGET=3.0
RSS_TARGET_MB=50
RSS_TARGET_SIZE=10000
RESULTS=$OUT/compile-results.txt

BENCH_NAME=compile_bench
. "$HERE/bench_lib.sh"

# always asked: make rebuilds a helper whose source changed
if ! make --no-print-directory -s -C "$HERE" tools >&2; then
	echo "compile_bench: cannot build the helpers (make -C bench tools)" >&2
	exit 1
fi
have_meshpol=1
if [ ! -x "$MESHPOL" ]; then
	have_meshpol=0
	fail "$MESHPOL not found or not executable: build it first (\`make\` at the top, or" \
		"\`make bench\`, which builds it); measuring the YAML baseline only"
fi

mkdir -p "$OUT"
RUN=$(mktemp -d "$OUT/run.XXXXXX")
trap 'rm -rf "$RUN"' EXIT

rows=()
for spec in $(for n in $SIZES; do echo "mesh:$n"; done) $(for n in $K8S_SIZES; do echo "k8s:$n"; done); do
	kind=${spec%%:*} n=${spec#*:}
	dir=$OUT/$kind-$n
	mpm=$OUT/$kind-$n.mpm
	if [ "$kind" = mesh ]; then
		if ! python3 "$HERE/gen_mesh.py" --services "$n" --routes-per-service \
			"$ROUTES_PER_SERVICE" --seed "$SEED" "$dir"; then
			fail "gen_mesh.py failed for $n services"
			continue
		fi
	elif ! python3 "$HERE/gen_k8s_mesh.py" --services "$n" "$dir"; then
		fail "gen_k8s_mesh.py failed for $n services"
		continue
	fi
	rm -f "$RUN"/*.s "$RUN"/*.kb "$mpm"
	summary=$("$BASELINE" "$dir") || {
		fail "yaml_baseline failed on $dir"
		continue
	}
	docs=$(sed -n 's/.* documents=\([0-9]*\).*/\1/p' <<<"$summary")
	bytes=$(sed -n 's/.* bytes=\([0-9]*\).*/\1/p' <<<"$summary")
	files=$(sed -n 's/.* files=\([0-9]*\).*/\1/p' <<<"$summary")

	compile_ok=$have_meshpol
	if [ "$compile_ok" -eq 1 ]; then
		"$MESHPOL" compile -o "$mpm" "$dir" >"$OUT/compile-$kind-$n.log" 2>&1
		rc=$?
		if [ "$rc" -ne 0 ]; then
			fail "meshpol compile failed on $dir (exit $rc); its output ($OUT/compile-$kind-$n.log):"
			tail -n 20 "$OUT/compile-$kind-$n.log" | sed 's/^/  | /' >&2
			compile_ok=0
		fi
	fi
	# `meshpol version` measures the fixed cost of starting the binary (dynamic linking of
	# Lua, OpenSSL, libevent...); optional: a binary without the verb just shows n/a.
	start_ok=0
	if [ "$compile_ok" -eq 1 ] && "$MESHPOL" version >/dev/null 2>&1; then
		start_ok=1
	fi
	echo "compile_bench: $kind, $n services: $REPS alternating runs..." >&2
	for ((r = 1; r <= REPS; r++)); do
		bench_timed yaml "$RUN/yaml.log" 0 "$BASELINE" -q "$dir" || { failed=1; break; }
		if [ "$compile_ok" -eq 1 ]; then
			bench_timed compile "$OUT/compile-$kind-$n.log" 0 "$MESHPOL" compile -o "$mpm" "$dir" ||
				{ failed=1; compile_ok=0; }
		fi
		if [ "$start_ok" -eq 1 ]; then
			bench_timed start "$RUN/start.log" 0 "$MESHPOL" version 2>/dev/null || start_ok=0
		fi
	done
	start_s=n/a
	[ "$start_ok" -eq 1 ] && start_s=$(median "$RUN/start.s")

	yaml_s=$(median "$RUN/yaml.s" 2>/dev/null || echo nan)
	yaml_mb=$(kb_to_mb "$(max "$RUN/yaml.kb" 2>/dev/null || echo 0)")
	if [ "$compile_ok" -eq 1 ]; then
		comp_s=$(median "$RUN/compile.s")
		comp_kb=$(max "$RUN/compile.kb")
		comp_mb=$(kb_to_mb "$comp_kb")
		ratio=$(awk -v c="$comp_s" -v y="$yaml_s" 'BEGIN { printf "%.2f", c / y }')
		ratio_ok=$(awk -v r="$ratio" -v t="$RATIO_TARGET" 'BEGIN { print (r <= t) ? "PASS" : "FAIL" }')
		if [ "$kind" = mesh ] && [ "$n" -eq "$RSS_TARGET_SIZE" ]; then
			rss_ok=$(awk -v m="$comp_mb" -v t="$RSS_TARGET_MB" 'BEGIN { print (m < t) ? "PASS" : "FAIL" }')
		else
			rss_ok="-"
		fi
		mpm_mb=$(awk -v b="$(stat -c %s "$mpm" 2>/dev/null || echo 0)" 'BEGIN { printf "%.1f", b / 1e6 }')
	else
		comp_s="n/a" comp_mb="n/a" ratio="n/a" ratio_ok="n/a" rss_ok="n/a" mpm_mb="n/a"
	fi
	routes=$((n * ROUTES_PER_SERVICE))
	[ "$kind" = k8s ] && routes=$n
	rows+=("$(printf '%4s %8s %7s %6s %6s %6.1f | %9s %10s %8s %6s %5s | %8s %8s %5s %7s' \
		"$kind" "$n" "$routes" "$docs" "$files" "$(awk -v b="$bytes" 'BEGIN { print b / 1e6 }')" \
		"$yaml_s" "$comp_s" "$start_s" "$ratio" "$ratio_ok" "$yaml_mb" "$comp_mb" "$rss_ok" "$mpm_mb")")
done

{
	echo
	echo "compile benchmark: meshpol compile vs libyaml event parse, median of $REPS alternating runs"
	echo "host: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg), $(date -u +%Y-%m-%dT%H:%M:%SZ)"
	echo "meshpol: $MESHPOL"
	echo
	printf '%4s %8s %7s %6s %6s %6s | %9s %10s %8s %6s %5s | %8s %8s %5s %7s\n' \
		kind services routes docs files MB yaml_s compile_s start_s ratio "<=3" yaml_MB comp_MB \
		"<50" mpm_MB
	for row in "${rows[@]}"; do echo "$row"; done
	echo
	echo "kind: mesh, gen_mesh.py's native format; k8s, gen_k8s_mesh.py's Kubernetes and Istio"
	echo "  documents (Service, Deployment, VirtualService, DestinationRule per service), whose"
	echo "  compile also runs Istio's analyzers (their findings go into the model)."
	echo "yaml_s, compile_s: median wall time from fork to exit (start-up included in both;"
	echo "  compile_s also includes writing the .mpm). ratio = compile_s / yaml_s, target <= $RATIO_TARGET."
	echo "start_s: median wall time of \`meshpol version\`, the fixed start-up cost inside compile_s."
	echo "yaml_MB, comp_MB: peak resident set (ru_maxrss, max over the runs), in 10^6 bytes."
	echo "  comp_MB is the whole compile process's high-water mark: executable and shared libraries,"
	echo "  libyaml's buffers, the compiler's temporary tables, the finished model and the .mpm"
	echo "  writer. It is an upper bound on the model's resident size; the target (model of"
	echo "  $RSS_TARGET_SIZE services < $RSS_TARGET_MB MB) is checked against it. mpm_MB: size of the .mpm file."
} | tee "$RESULTS"
[ "$failed" -eq 0 ] || echo "compile_bench: some commands failed (see above)" >&2
exit "$failed"
