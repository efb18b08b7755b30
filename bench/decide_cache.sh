#!/usr/bin/env bash
# decide_cache.sh: what one mp_decide costs on the shared rbac workload, counted rather than
# timed: instructions and cache misses per decision under callgrind's cache simulation at 100,
# 1,000 and 10,000 services, for this checkout and for a baseline commit built in the same run,
# with the ratio 10,000/100 of each (the growth the design brief bounds at 1.5x). Then the p50 of
# both binaries, timed in interleaved rounds (medians). Why the decision layout is what it is:
# docs/server.md ("Performance", "In-process decisions").
#
# For each size N and each build (base, this), on out/rbac-workload-N.json (rbac_workload.sh):
#     valgrind --tool=callgrind --cache-sim=yes --instr-atstart=no --D1=$D1 --LL=$LL \
#         --callgrind-out-file=out/decide-cache-N-BUILD.cg  rbac_bench WORKLOAD --count
# rbac_bench --count starts the instrumentation after the load, decides every query once (which
# warms the simulated caches), zeroes the counters, decides every query again and dumps
# (out/decide-cache-N-BUILD.cg.1, readable with callgrind_annotate): the figures are a steady
# state per decision, the load left out. Caches simulated: the host's core (AMD EPYC, Zen 5
# here): D1 48 KiB 12-way, and for the last level its private 1 MiB 16-way L2, because the L3 is
# shared with the other core and, on a VM, with neighbours: a decision that misses the L2 is the
# one that waits. Override with D1=size,assoc,line and LL=size,assoc,line.
#
# Baseline: BASE (a commit; default `git merge-base HEAD main`, the commit this branch left main
# at, so that only its own changes are measured; "none" skips it) is extracted with `git archive` into
# out/base-SHA12/ and its engine built there once per commit (`make build/libmeshpol.a`, about
# 1.5 min on 2 cores, log in out/base-SHA12/build.log); this checkout's rbac_bench.c is compiled
# against it (`make out/base-SHA12/bench/rbac_bench`: it uses the public API only; linked with the
# packages the baseline's Makefile names), beside the baseline's own stdlib/, so each build runs
# its own DSL.
# valgrind: scripts/install-deps.sh --bench installs it (Debian package valgrind).
#
# Environment: SIZES ("100 1000 10000"), BASE (see above), SEED (42), SHARED (the shared folder),
#              D1 (49152,12,64), LL (1048576,16,64), REPS (3: timed rounds; 0 skips timing).
# Exit: 0 when it ran (benchmarks report, they do not gate); 1 when a command failed or a
# decision disagreed with the workload's expected one.
set -u

HERE=$(cd "$(dirname "$0")" && pwd)
OUT=$HERE/out
SIZES=${SIZES:-100 1000 10000}
BASE=${BASE:-$(git -C "$HERE" merge-base HEAD main 2>/dev/null || echo main)}
SEED=${SEED:-42}
D1=${D1:-49152,12,64}
LL=${LL:-1048576,16,64}
REPS=${REPS:-3}
RESULTS=$OUT/decide-cache-results.txt
sha=""
GROWTH_FROM=100
GROWTH_TO=10000

failed=0
fail() {
	echo "decide_cache: $*" >&2
	failed=1
}

# shellcheck source=rbac_workload.sh
. "$HERE/rbac_workload.sh"
rbac_find_shared decide_cache
if ! command -v valgrind >/dev/null 2>&1; then
	echo "decide_cache: valgrind not found (scripts/install-deps.sh --bench installs it)" >&2
	exit 1
fi
make --no-print-directory -C "$HERE" rbac_bench >&2 || {
	echo "decide_cache: cannot build bench/rbac_bench (is the engine built? \`make\` at the top)" >&2
	exit 1
}
mkdir -p "$OUT"

declare -A BIN
BUILDS="this"
BIN[this]=$HERE/rbac_bench
if [ "$BASE" != none ]; then
	top=$(git -C "$HERE" rev-parse --show-toplevel)
	sha=$(git -C "$top" rev-parse --verify --quiet "$BASE^{commit}") || {
		echo "decide_cache: BASE=$BASE is not a commit of $top" >&2
		exit 1
	}
	bdir=$OUT/base-${sha:0:12}
	if [ ! -f "$bdir/build/libmeshpol.a" ]; then
		echo "decide_cache: building the baseline engine ($BASE = ${sha:0:12}) in $bdir..." >&2
		rm -rf "$bdir" && mkdir -p "$bdir" &&
			git -C "$top" archive "$sha" | tar -x -C "$bdir" &&
			make -C "$bdir" -j2 build/libmeshpol.a >"$bdir/build.log" 2>&1 || {
			echo "decide_cache: the baseline does not build; see $bdir/build.log" >&2
			exit 1
		}
	fi
	make --no-print-directory -C "$HERE" "out/base-${sha:0:12}/bench/rbac_bench" >&2 || exit 1
	BUILDS="base this"
	BIN[base]=$bdir/bench/rbac_bench
fi

# field NAME LINE: the value of NAME=... in LINE, or n/a.
field() {
	local v
	v=$(grep -o "\b$1=[^ ,]*" <<<"$2" | head -n 1 | cut -d= -f2)
	echo "${v:-n/a}"
}

declare -A IR D1M LLM P50
for n in $SIZES; do
	if ! rbac_workload "$n"; then
		fail "gen_rbac_workload.py failed for $n services"
		continue
	fi
	wl=$OUT/rbac-workload-$n.json
	for b in $BUILDS; do
		cg=$OUT/decide-cache-$n-$b.cg
		rm -f "$cg" "$cg".*
		echo "decide_cache: $n services, $b: callgrind..." >&2
		if ! valgrind --tool=callgrind --cache-sim=yes --instr-atstart=no --D1="$D1" \
			--LL="$LL" --callgrind-out-file="$cg" "${BIN[$b]}" "$wl" --count \
			>"$cg.log" 2>&1; then
			fail "callgrind of ${BIN[$b]} failed; see $cg.log"
			continue
		fi
		line=$(grep '^meshpol ' "$cg.log" | tail -n 1)
		nq=$(field decisions "$line")
		if [ "$(field agree "$line")" != "$nq" ] || [ "$nq" = n/a ]; then
			fail "$b at $n services: $(field agree "$line") of $nq decisions as expected"
			continue
		fi
		# events: Ir Dr Dw I1mr D1mr D1mw ILmr DLmr DLmw
		read -r ir d1 ll < <(awk '/^summary:/ { print $2, $6 + $7, $9 + $10 }' "$cg.1")
		IR[$n,$b]=$(awk -v v="$ir" -v n="$nq" 'BEGIN { printf "%.0f", v / n }')
		D1M[$n,$b]=$(awk -v v="$d1" -v n="$nq" 'BEGIN { printf "%.1f", v / n }')
		LLM[$n,$b]=$(awk -v v="$ll" -v n="$nq" 'BEGIN { printf "%.1f", v / n }')
	done
done

# the timed rounds: sizes and builds interleaved, so that a busy spell hits both
declare -A RUNS
for ((r = 1; r <= REPS; r++)); do
	for n in $SIZES; do
		[ -s "$OUT/rbac-workload-$n.json" ] || continue
		for b in $BUILDS; do
			echo "decide_cache: round $r, $n services, $b: timed..." >&2
			line=$("${BIN[$b]}" "$OUT/rbac-workload-$n.json" 2>/dev/null | grep '^meshpol ')
			p=$(field p50_us "$line")
			[ "$p" != n/a ] || fail "$b at $n services: no timing"
			RUNS[$n,$b]="${RUNS[$n,$b]:-} $p"
		done
	done
done
for key in "${!RUNS[@]}"; do
	P50[$key]=$(tr ' ' '\n' <<<"${RUNS[$key]}" | grep . | sort -n |
		awk '{ v[NR] = $1 } END { if (NR) printf "%.3f", (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }')
done

base_desc=none
[ -z "$sha" ] || base_desc=$(git -C "$HERE" log -1 --format='%h %s' "$sha" | cut -c1-60)

# ratio A B: A / B with two decimals, or n/a
ratio() {
	awk -v a="${1:-n/a}" -v b="${2:-n/a}" 'BEGIN { if (a == "n/a" || b == "n/a" || b + 0 == 0) print "n/a"; else printf "%.2f", a / b }'
}

{
	echo
	echo "decide_cache: mp_decide on the rbac workload, per decision (one steady-state pass over every query)"
	echo "host: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), load average $(cut -d' ' -f1-3 /proc/loadavg), $(date -u +%Y-%m-%dT%H:%M:%SZ)"
	echo "callgrind $(valgrind --version | sed 's/valgrind-//'), D1 $D1, LL $LL (size,assoc,line); base: $base_desc; this: $(git -C "$HERE" rev-parse --short HEAD)$(git -C "$HERE" diff --quiet HEAD -- ../engine 2>/dev/null || echo ' + changes')"
	echo
	printf '%8s %6s | %8s %11s %11s | %12s\n' services build Ir D1_misses LL_misses "p50_us(med)"
	for n in $SIZES; do
		for b in $BUILDS; do
			printf '%8s %6s | %8s %11s %11s | %12s\n' "$n" "$b" "${IR[$n,$b]:-n/a}" \
				"${D1M[$n,$b]:-n/a}" "${LLM[$n,$b]:-n/a}" "${P50[$n,$b]:-n/a}"
		done
	done
	echo
	echo "growth ($GROWTH_TO services / $GROWTH_FROM; the design brief: p50 <= 1.5x):"
	for b in $BUILDS; do
		f=$GROWTH_FROM t=$GROWTH_TO
		printf '  %-4s  Ir %sx  D1 misses %sx  LL misses %sx  p50 %sx\n' "$b" \
			"$(ratio "${IR[$t,$b]:-}" "${IR[$f,$b]:-}")" "$(ratio "${D1M[$t,$b]:-}" "${D1M[$f,$b]:-}")" \
			"$(ratio "${LLM[$t,$b]:-}" "${LLM[$f,$b]:-}")" "$(ratio "${P50[$t,$b]:-}" "${P50[$f,$b]:-}")"
	done
	if [ "$BASE" != none ]; then
		echo "this / base:"
		for n in $SIZES; do
			printf '  %6s services: Ir %sx  D1 misses %sx  LL misses %sx  p50 %sx\n' "$n" \
				"$(ratio "${IR[$n,this]:-}" "${IR[$n,base]:-}")" "$(ratio "${D1M[$n,this]:-}" "${D1M[$n,base]:-}")" \
				"$(ratio "${LLM[$n,this]:-}" "${LLM[$n,base]:-}")" "$(ratio "${P50[$n,this]:-}" "${P50[$n,base]:-}")"
		done
	fi
	if [ "$REPS" -gt 0 ]; then
		echo "p50_us of each round:"
		for n in $SIZES; do
			for b in $BUILDS; do
				printf '  %6s %-4s %s\n' "$n" "$b" "${RUNS[$n,$b]:-}"
			done
		done
	fi
	echo
	echo "Ir: instructions; D1_misses, LL_misses: data reads and writes that missed the simulated"
	echo "  first level and last level, per decision (both include the benchmark's own request data:"
	echo "  20,000 queries built from the parsed workload JSON, read once per pass). p50_us(med): the"
	echo "  median over $REPS rounds of rbac_bench's p50 (each >= 200,000 calls timed one by one)."
	echo "  Per-function figures: callgrind_annotate out/decide-cache-N-BUILD.cg.1"
} | tee "$RESULTS"
[ "$failed" -eq 0 ] || echo "decide_cache: some commands failed or disagreed (see above)" >&2
exit "$failed"
