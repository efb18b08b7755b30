#!/usr/bin/env bash
# rbac_bench.sh: in-process decision latency on the shared mesh-RBAC workload, meshpol against
# Cedar on the same files in the same run. Targets: the design brief's "Performance targets".
#
# For each size (services) it generates a workload with ../shared/bench/gen_rbac_workload.py
# into out/rbac-workload-N.json (kept and reused while the generator and its arguments are the
# same: the 10,000-service one takes ~30 s to generate), then runs
#     ./rbac_bench WORKLOAD                   (all queries, several timed passes; see rbac_bench.c)
#     node cedar_rbac_bench.mjs WORKLOAD MAX  (the first MAX queries: Cedar takes ms per query)
# and prints one table, with PASS/FAIL against the targets:
#     p50 <= 0.5 us at every size; p99 <= 5 us at 1,000 services (5,020 rules)
#     growth: p50 at 10,000 services (50,020 rules) <= 1.5x p50 at 100 services (505 rules)
# Sizes: 100 (`--services 100 --namespaces 5 --denies 5`), 1000 (the generator's defaults),
# 10000 (`--services 10000`); any other N runs `--services N` (rbac_workload.sh). Where a
# decision's time goes (instructions, cache misses) at each size: decide_cache.sh.
#
# The shared folder sits beside the clone: $(git rev-parse --show-toplevel)/../shared.
# Cedar: @cedar-policy/cedar-wasm@4 is installed with npm into bench/node/ (git-ignored) when it
# is not there yet; cedar_rbac_bench.mjs resolves the package from its working directory, so it
# runs with cwd = bench/node.
#
# Environment: SIZES ("100 1000 10000"), SHARED (the shared folder), SEED (42),
#              CEDAR (1; 0 skips Cedar), CEDAR_MAX_<N> (Cedar's queries at N services;
#              defaults 100: 5000, 1000: 2000, 10000: 200, others: 2000).
# Exit: 0 whether or not the targets are met (benchmarks report, they do not gate); 1 if a
# command failed or meshpol did not agree with every expected decision.
set -u

HERE=$(cd "$(dirname "$0")" && pwd)
OUT=$HERE/out
NODE_DIR=$HERE/node
RBAC_BENCH=$HERE/rbac_bench
SIZES=${SIZES:-100 1000 10000}
SEED=${SEED:-42}
CEDAR=${CEDAR:-1}
RESULTS=$OUT/rbac-results.txt
P50_TARGET=0.5
P99_TARGET=5
TARGET_SIZE=1000
GROWTH_TARGET=1.5
GROWTH_FROM=100
GROWTH_TO=10000

failed=0
fail() {
	echo "rbac_bench: $*" >&2
	failed=1
}

# shellcheck source=rbac_workload.sh
. "$HERE/rbac_workload.sh"
rbac_find_shared rbac_bench
CEDAR_MJS=$SHARED/bench/cedar_rbac_bench.mjs
if [ ! -f "$CEDAR_MJS" ]; then
	echo "rbac_bench: the shared benchmark folder is missing: expected $CEDAR_MJS" >&2
	exit 1
fi

make --no-print-directory -C "$HERE" rbac_bench >&2 || {
	echo "rbac_bench: cannot build bench/rbac_bench (is the engine built? \`make\` at the top)" >&2
	exit 1
}
mkdir -p "$OUT"

# cedar_max N: how many queries Cedar gets at N services.
cedar_max() {
	local var=CEDAR_MAX_$1 def=2000
	case $1 in 100) def=5000 ;; 1000) def=2000 ;; 10000) def=200 ;; esac
	echo "${!var:-$def}"
}
# field NAME [FILE]: the value of NAME=... in FILE or stdin (first occurrence), or n/a.
field() {
	local v
	v=$(grep -o "\b$1=[^ ,]*" "${2:--}" 2>/dev/null | head -n 1 | cut -d= -f2)
	echo "${v:-n/a}"
}
have_cedar=0
if [ "$CEDAR" != 0 ]; then
	if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
		fail "node and npm are needed for the Cedar side (Node 20); Cedar is not measured"
	elif [ -f "$NODE_DIR/node_modules/@cedar-policy/cedar-wasm/package.json" ]; then
		have_cedar=1
	else
		echo "rbac_bench: installing @cedar-policy/cedar-wasm@4 into $NODE_DIR..." >&2
		mkdir -p "$NODE_DIR"
		if npm install --prefix "$NODE_DIR" --no-audit --no-fund @cedar-policy/cedar-wasm@4 >&2; then
			have_cedar=1
		else
			fail "npm install of @cedar-policy/cedar-wasm@4 failed; Cedar is not measured"
		fi
	fi
fi

rows=()
declare -A P50
for n in $SIZES; do
	wl=$OUT/rbac-workload-$n.json
	if ! rbac_workload "$n"; then
		fail "gen_rbac_workload.py failed for $n services"
		continue
	fi
	mres=$OUT/rbac-meshpol-$n.txt
	echo "rbac_bench: $n services: meshpol..." >&2
	if ! "$RBAC_BENCH" "$wl" >"$mres" 2>"$mres.err"; then
		fail "rbac_bench failed on $wl; its output:"
		cat "$mres" "$mres.err" | tail -n 20 | sed 's/^/  | /' >&2
		continue
	fi
	line=$(grep '^meshpol ' "$mres" | tail -n 1)
	if [ -z "$line" ]; then
		fail "rbac_bench printed no result line for $wl"
		continue
	fi
	m_n=$(field decisions <<<"$line")
	m_agree=$(field agree <<<"$line")
	m_p50=$(field p50_us <<<"$line")
	m_p99=$(field p99_us <<<"$line")
	m_per_s=$(field per_s <<<"$line")
	rules=$(field rules "$mres")
	load_ms=$(field load_ms "$mres")
	loaded_mb=$(field loaded "$mres")
	rss_mb=$(field rss_after_load "$mres")
	if [ "$m_agree" != "$m_n" ]; then
		fail "meshpol agrees with $m_agree of $m_n expected decisions at $n services"
		grep 'disagree' "$mres.err" | head -n 5 | sed 's/^/  | /' >&2
	fi
	P50[$n]=$m_p50

	c_p50=n/a c_p99=n/a c_agree=n/a ratio=n/a
	if [ "$have_cedar" -eq 1 ]; then
		max=$(cedar_max "$n")
		cres=$OUT/rbac-cedar-$n.txt
		echo "rbac_bench: $n services: cedar ($max queries)..." >&2
		if (cd "$NODE_DIR" && node "$CEDAR_MJS" "$wl" "$max") >"$cres" 2>"$cres.err"; then
			cline=$(grep '^decisions=' "$cres" | tail -n 1)
			c_p50=$(field p50_us <<<"$cline")
			c_p99=$(field p99_us <<<"$cline")
			c_agree="$(field agree <<<"$cline")/$(field decisions <<<"$cline")"
			ratio=$(awk -v c="$c_p50" -v m="$m_p50" 'BEGIN { if (m > 0 && c + 0 == c) printf "%.0f", c / m; else print "n/a" }')
		else
			fail "cedar_rbac_bench.mjs failed on $wl; its output:"
			cat "$cres" "$cres.err" | tail -n 20 | sed 's/^/  | /' >&2
		fi
	fi
	rows+=("$(printf '%8s %7s %8s %7s %6s | %8s %8s %10s %13s | %10s %10s %10s | %9s' \
		"$n" "$rules" "$load_ms" "$loaded_mb" "$rss_mb" "$m_p50" "$m_p99" "$m_per_s" "$m_agree/$m_n" \
		"$c_p50" "$c_p99" "$c_agree" "$ratio")")
done

# verdict VALUE OP LIMIT: PASS, FAIL or n/a
verdict() {
	awk -v v="$1" -v t="$3" -v op="$2" 'BEGIN {
		if (v == "n/a" || v == "") { print "n/a"; exit }
		ok = (op == "<=") ? (v + 0 <= t + 0) : 0
		print ok ? "PASS" : "FAIL" }'
}
t_p99=n/a growth=n/a
if [ -n "${P50[$TARGET_SIZE]:-}" ]; then
	t_p99=$(field p99_us "$OUT/rbac-meshpol-$TARGET_SIZE.txt")
fi
if [ -n "${P50[$GROWTH_FROM]:-}" ] && [ -n "${P50[$GROWTH_TO]:-}" ]; then
	growth=$(awk -v a="${P50[$GROWTH_TO]}" -v b="${P50[$GROWTH_FROM]}" 'BEGIN { printf "%.2f", a / b }')
fi

{
	echo
	echo "rbac benchmark: in-process decisions on gen_rbac_workload.py workloads, meshpol vs Cedar"
	echo "host: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), load average $(cut -d' ' -f1-3 /proc/loadavg), $(date -u +%Y-%m-%dT%H:%M:%SZ)"
	if [ "$have_cedar" -eq 1 ]; then
		echo "cedar: $(grep -h -m1 '^cedar ' "$OUT"/rbac-cedar-*.txt 2>/dev/null | head -n 1 | cut -d' ' -f1-2), node $(node --version)"
	fi
	echo
	printf '%8s %7s %8s %7s %6s | %8s %8s %10s %13s | %10s %10s %10s | %9s\n' \
		services rules load_ms load_MB rss_MB mp_p50us mp_p99us mp_per_s mp_agree \
		ced_p50us ced_p99us ced_agree ced/mp_p50
	for row in "${rows[@]}"; do echo "$row"; done
	echo
	echo "targets (DESIGN.md, in-process decision):"
	for n in $SIZES; do
		echo "  p50 <= $P50_TARGET us at $n services: ${P50[$n]:-n/a} us  $(verdict "${P50[$n]:-n/a}" "<=" "$P50_TARGET")"
	done
	echo "  p99 <= $P99_TARGET us at $TARGET_SIZE services: $t_p99 us  $(verdict "$t_p99" "<=" "$P99_TARGET")"
	echo "  p50 at $GROWTH_TO services <= ${GROWTH_TARGET}x p50 at $GROWTH_FROM: ${growth}x  $(verdict "$growth" "<=" "$GROWTH_TARGET")"
	echo
	echo "meshpol (bench/rbac_bench): every query of the workload checked once against 'expect'"
	echo "  (mp_agree), then >= 200,000 decisions timed one by one on one pinned core, with"
	echo "  clock_gettime around each call (p50, p99: its ~20 ns are included, nothing is"
	echo "  subtracted); mp_per_s is from a separate batch loop with no clock inside. load_ms:"
	echo "  mp_engine_open of the YAML mesh (compiled on the fly) and the bundle, plus the"
	echo "  evaluator; load_MB: the VmRSS that load added (model, bundle, evaluator); rss_MB: VmRSS"
	echo "  after load, the parsed workload JSON included. Full distribution: out/rbac-meshpol-N.txt."
	echo "cedar (shared/bench/cedar_rbac_bench.mjs, @cedar-policy/cedar-wasm in Node): only the first"
	echo "  CEDAR_MAX_N queries ($(for n in $SIZES; do printf '%s at %s, ' "$(cedar_max "$n")" "$n"; done | sed 's/, $//'))"
	echo "  after as many warm-up calls (at most 2,000), each timed with process.hrtime;"
	echo "  ced/mp_p50 divides its p50 by meshpol's p50 over all queries."
} | tee "$RESULTS"
[ "$failed" -eq 0 ] || echo "rbac_bench: some commands failed or disagreed (see above)" >&2
exit "$failed"
