#!/usr/bin/env bash
# audit_bench.sh: `meshpol audit` of a generated mesh against a bundle built from the reference
# policies, and the audit's peak RSS. Targets (the design brief's "Performance targets", issue
# 20): audit of 10,000 services and 100,000 routes with the reference bundle < 1 s wall and
# < 250 MB peak, growing linearly; of 1,000 services < 0.1 s. The baseline is `meshpol check`
# (loading the model and the bundle) in the same run: the ratio audit/check says what the audit
# costs over loading, whatever the machine's speed or load.
#
# For each size (services; routes = services x ROUTES_PER_SERVICE) it
#   - generates a mesh with gen_mesh.py into out/audit-mesh-N (not out/mesh-N: the compile
#     benchmark uses other routes per service there) and compiles it once to out/audit-mesh-N.mpm;
#   - assembles the bundle out/audit-bundle-N with gen_audit_bundle.py: bundle.yaml, the
#     reference traffic/baseline.lua without its acme-only declared_routes_only rule,
#     residency/gdpr.lua, and generated rbac/<ns>.lua files granting every declared route but
#     ~1% (every UNGRANTED_EVERY-th), left ungranted so that route-not-permitted has findings;
#   - runs each command once untimed (warm cache, check it succeeds; the audit's JSON report goes
#     to out/audit-N.json, where the findings are counted), then REPS alternating timed runs of
#         bin/meshpol audit -m out/audit-mesh-N.mpm -p out/audit-bundle-N --format json -o /dev/null
#         bin/meshpol check -m out/audit-mesh-N.mpm out/audit-bundle-N     (baseline: load only)
#     through out/timecmd (wall time in us, peak RSS from wait4),
# and prints medians and a PASS/FAIL per target. The audit exits 1 (findings): that is success
# here; 0 is accepted too, 2 or 3 (usage/input or policy runtime error) are failures.
#
# The bundle load alone (issue 20: 84,000 generated rules < 0.2 s), from the source directory and
# from the archive `meshpol bundle build` makes of it (out/audit-bundle-N.tar.gz, the bundle and
# its compiled declarations, docs/bundles.md; the model stays out): in the same alternating runs,
#         bin/meshpol check -m out/audit-mesh-N.mpm out/audit-min      (the model and a 1-rule bundle)
#         bin/meshpol check -m out/audit-mesh-N.mpm out/audit-bundle-N.tar.gz
#         bin/meshpol audit -m out/audit-mesh-N.mpm -p out/audit-bundle-N.tar.gz --format json -o /dev/null
# load = check - the model-only check (CPU seconds, medians), for the directory and the archive;
# the archive's audit report must equal the directory's but for the bundle's path and the time.
# With BASE=/path/to/another/meshpol (a build of the commit to compare with), the same three
# checks of BASE run in the same alternating loop (the archive is built by each binary, out/
# audit-bundle-N.base.tar.gz for BASE), and a second row gives BASE's loads: before and after
# measured under the same load of the machine.
#
# Environment: SIZES ("1000 10000"), REPS (5), ROUTES_PER_SERVICE (10), SEED (42),
#              UNGRANTED_EVERY (100), MESHPOL (bin/meshpol of this checkout), BASE (none).
# Exit: 0 whether or not the targets are met (benchmarks report, they do not gate); 1 if a
# command failed or bin/meshpol is missing.
set -u

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
OUT=$HERE/out
MESHPOL=${MESHPOL:-$ROOT/bin/meshpol}
SIZES=${SIZES:-1000 10000}
REPS=${REPS:-5}
ROUTES_PER_SERVICE=${ROUTES_PER_SERVICE:-10}
SEED=${SEED:-42}
UNGRANTED_EVERY=${UNGRANTED_EVERY:-100}
BASE=${BASE:-}
TIMECMD=$OUT/timecmd
TARGET_S=1
TARGET_MB=250
TARGET_SIZE=10000
SMALL_TARGET_S=0.1
SMALL_SIZE=1000
GROWTH_FROM=1000
GROWTH_TO=10000
GROWTH_MAX=12
RESULTS=$OUT/audit-results.txt

BENCH_NAME=audit_bench
. "$HERE/bench_lib.sh"

# always asked: make rebuilds a helper whose source changed
if ! make --no-print-directory -s -C "$HERE" out/timecmd >&2; then
	echo "audit_bench: cannot build $TIMECMD (make -C bench tools)" >&2
	exit 1
fi
if [ ! -x "$MESHPOL" ]; then
	echo "audit_bench: $MESHPOL not found or not executable: build it first (\`make\` at the" \
		"top, or \`make bench\`, which builds it)" >&2
	exit 1
fi

mkdir -p "$OUT"
RUN=$(mktemp -d "$OUT/run.XXXXXX")
trap 'rm -rf "$RUN"' EXIT

rows=()
load_rows=()
base_rows=()
declare -A audit_med=() audit_mb=() check_med=() arc_med=()
# A bundle of one policy and no rule: `check` of it is the model's load and the fixed costs.
MIN=$OUT/audit-min
mkdir -p "$MIN"
printf 'name: audit-min\nrevision: "1"\ndefault: deny\n' >"$MIN/bundle.yaml"
printf 'policy "min" { version = "1.0.0", kind = "custom" }\n' >"$MIN/min.lua"
# sub A B: A - B with 3 decimals; ratio A B: A / B with 2.
sub() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a - b }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b <= 0) print "nan"; else printf "%.2f", a / b }'; }
for n in $SIZES; do
	dir=$OUT/audit-mesh-$n
	mpm=$OUT/audit-mesh-$n.mpm
	bundle=$OUT/audit-bundle-$n
	report=$OUT/audit-$n.json
	log=$OUT/audit-$n.log
	rm -f "$RUN"/*.s "$RUN"/*.kb "$RUN"/*.cpu "$mpm" "$report"
	if ! python3 "$HERE/gen_mesh.py" --services "$n" --routes-per-service "$ROUTES_PER_SERVICE" \
		--seed "$SEED" "$dir"; then
		fail "gen_mesh.py failed for $n services"
		continue
	fi
	if ! "$MESHPOL" compile -o "$mpm" "$dir" >"$log" 2>&1; then
		fail "meshpol compile failed on $dir; its output ($log):"
		tail -n 20 "$log" | sed 's/^/  | /' >&2
		continue
	fi
	if ! python3 "$HERE/gen_audit_bundle.py" --mesh "$dir" --ungranted-every "$UNGRANTED_EVERY" \
		"$bundle"; then
		fail "gen_audit_bundle.py failed for $n services"
		continue
	fi
	# Untimed runs: the bundle must load, and the audit must produce a report.
	if ! "$MESHPOL" check -m "$mpm" "$bundle" >"$log" 2>&1; then
		fail "meshpol check failed on $bundle; its output ($log):"
		tail -n 20 "$log" | sed 's/^/  | /' >&2
		continue
	fi
	"$MESHPOL" audit -m "$mpm" -p "$bundle" --format json -o "$report" >>"$log" 2>&1
	rc=$?
	if [ "$rc" -gt 1 ]; then
		fail "meshpol audit failed on $bundle (exit $rc); its output ($log):"
		tail -n 20 "$log" | sed 's/^/  | /' >&2
		continue
	fi
	# From the report: rules; findings (each rule's count: the report lists at most 10,000 per
	# rule, counts.findings counts the listed ones); listed; route-not-permitted; audit errors.
	read -r rules findings listed not_permitted errors < <(python3 - "$report" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
total = sum(r["findings"] for r in d["rules"])
np = sum(r["findings"] for r in d["rules"] if r["rule"] == "route-not-permitted")
print(d["counts"]["rules"], total, d["counts"]["findings"], np, d["counts"]["errors"])
EOF
	) || {
		fail "cannot read $report"
		continue
	}
	[ "$errors" -eq 0 ] || fail "the audit of $n services reported $errors errors (see $report)"
	# The archive: the same bundle with its compiled declarations; its audit must say what the
	# directory's says (the bundle's path and the time aside). Built without -m, against the
	# model its bundle.yaml names (a copy of the bundle saying so), so that the archive holds the
	# bundle alone and its load is the bundle's, as the directory's is.
	archive=$OUT/audit-bundle-$n.tar.gz
	rm -rf "$bundle.m" && cp -r "$bundle" "$bundle.m" &&
		printf 'model: ../audit-mesh-%s.mpm\n' "$n" >>"$bundle.m/bundle.yaml"
	if ! "$MESHPOL" bundle build -p "$bundle.m" -o "$archive" >>"$log" 2>&1; then
		fail "meshpol bundle build failed on $bundle; its output ($log):"
		tail -n 20 "$log" | sed 's/^/  | /' >&2
		continue
	fi
	"$MESHPOL" audit -m "$mpm" -p "$archive" --format json -o "$report.arc" >>"$log" 2>&1
	"$MESHPOL" audit -m "$mpm" -p "$bundle.m" --format json -o "$report.m" >>"$log" 2>&1
	if ! cmp -s <(sed -e "s|audit-bundle-$n\.tar\.gz|audit-bundle-$n.m|g" -e '/"time": /d' \
		"$report.arc") <(sed -e '/"time": /d' "$report.m"); then
		fail "the audit of $archive differs from that of $bundle.m ($report.arc, $report.m)"
		continue
	fi
	rm -f "$report.arc" "$report.m"
	base_archive=$OUT/audit-bundle-$n.base.tar.gz
	if [ -n "$BASE" ] &&
		! "$BASE" bundle build -p "$bundle.m" -o "$base_archive" >>"$log" 2>&1; then
		fail "BASE ($BASE) bundle build failed on $bundle; its output ($log):"
		tail -n 20 "$log" | sed 's/^/  | /' >&2
		continue
	fi

	echo "audit_bench: $n services: $REPS alternating runs..." >&2
	ok=1
	for ((r = 1; r <= REPS; r++)); do
		bench_timed audit "$RUN/audit.log" 1 "$MESHPOL" audit -m "$mpm" -p "$bundle" --format json \
			-o /dev/null || { ok=0; break; }
		bench_timed check "$RUN/check.log" 0 "$MESHPOL" check -m "$mpm" "$bundle" || { ok=0; break; }
		bench_timed min "$RUN/min.log" 0 "$MESHPOL" check -m "$mpm" "$MIN" || { ok=0; break; }
		bench_timed check_arc "$RUN/check_arc.log" 0 "$MESHPOL" check -m "$mpm" "$archive" ||
			{ ok=0; break; }
		bench_timed audit_arc "$RUN/audit_arc.log" 1 "$MESHPOL" audit -m "$mpm" -p "$archive" \
			--format json -o /dev/null || { ok=0; break; }
		[ -z "$BASE" ] && continue
		bench_timed base_check "$RUN/base_check.log" 0 "$BASE" check -m "$mpm" "$bundle" ||
			{ ok=0; break; }
		bench_timed base_min "$RUN/base_min.log" 0 "$BASE" check -m "$mpm" "$MIN" ||
			{ ok=0; break; }
		bench_timed base_arc "$RUN/base_arc.log" 0 "$BASE" check -m "$mpm" "$base_archive" ||
			{ ok=0; break; }
	done
	if [ "$ok" -eq 0 ]; then
		failed=1
		continue
	fi
	a_s=$(median "$RUN/audit.s")
	c_s=$(median "$RUN/check.s")
	a_cpu=$(median "$RUN/audit.cpu")
	c_cpu=$(median "$RUN/check.cpu")
	audit_med[$n]=$a_s
	check_med[$n]=$c_s
	audit_mb[$n]=$(kb_to_mb "$(max "$RUN/audit.kb")")
	rows+=("$(printf '%8s %7s %6s %8s %7s %8s | %9s %9s %9s %6s | %8s %8s | %8s %8s' \
		"$n" "$((n * ROUTES_PER_SERVICE))" "$rules" "$findings" "$listed" "$not_permitted" \
		"$a_s" "$c_s" "$(awk -v a="$a_s" -v c="$c_s" 'BEGIN { printf "%.6f", a - c }')" \
		"$(awk -v a="$a_s" -v c="$c_s" 'BEGIN { printf "%.2f", a / c }')" \
		"$(printf '%.3f' "$a_cpu")" "$(printf '%.3f' "$c_cpu")" \
		"${audit_mb[$n]}" "$(kb_to_mb "$(max "$RUN/check.kb")")")")
	m_cpu=$(median "$RUN/min.cpu")
	ca_cpu=$(median "$RUN/check_arc.cpu")
	aa_cpu=$(median "$RUN/audit_arc.cpu")
	arc_med[$n]=$(median "$RUN/audit_arc.s")
	ls_cpu=$(sub "$c_cpu" "$m_cpu")
	la_cpu=$(sub "$ca_cpu" "$m_cpu")
	load_rows+=("$(printf '%8s %6s | %7s %8s %8s %6s | %9s %9s %6s %9s | %8s %8s' "$n" \
		"$rules" "$(printf '%.3f' "$m_cpu")" "$ls_cpu" "$la_cpu" "$(ratio "$ls_cpu" "$la_cpu")" \
		"$(printf '%.3f' "$a_cpu")" "$(printf '%.3f' "$aa_cpu")" "$(ratio "$a_cpu" "$aa_cpu")" \
		"${arc_med[$n]}" "$(kb_to_mb "$(max "$RUN/check_arc.kb")")" \
		"$(kb_to_mb "$(max "$RUN/audit_arc.kb")")")")
	if [ -n "$BASE" ]; then
		bm=$(median "$RUN/base_min.cpu")
		bs=$(sub "$(median "$RUN/base_check.cpu")" "$bm")
		ba=$(sub "$(median "$RUN/base_arc.cpu")" "$bm")
		base_rows+=("$(printf '%8s %6s | %7s %8s %8s | %9s %9s' "$n" "$rules" \
			"$(printf '%.3f' "$bm")" "$bs" "$ba" "$(ratio "$bs" "$ls_cpu")" \
			"$(ratio "$ba" "$la_cpu")")")
	fi
done

# pass_fail VALUE LIMIT: PASS when VALUE < LIMIT.
pass_fail() { awk -v t="$1" -v m="$2" 'BEGIN { print (t < m) ? "PASS" : "FAIL" }'; }
if [ -n "${audit_med[$TARGET_SIZE]:-}" ]; then
	t=${audit_med[$TARGET_SIZE]}
	target_line="target < $TARGET_S s at 10,000 services: $(pass_fail "$t" "$TARGET_S") ($(printf \
		'%.2f' "$t") s; $(awk -v a="$t" -v c="${check_med[$TARGET_SIZE]}" \
		'BEGIN { printf "%.2f", a / c }')x its load); < $TARGET_MB MB: $(pass_fail \
		"${audit_mb[$TARGET_SIZE]}" "$TARGET_MB") (${audit_mb[$TARGET_SIZE]} MB)"
else
	target_line="target < $TARGET_S s at 10,000 services: n/a (SIZES has no $TARGET_SIZE)"
fi
if [ -n "${arc_med[$TARGET_SIZE]:-}" ]; then
	arc_line="the same from the bundle's archive: $(pass_fail "${arc_med[$TARGET_SIZE]}" \
		"$TARGET_S") ($(printf '%.2f' "${arc_med[$TARGET_SIZE]}") s)"
else
	arc_line="the same from the bundle's archive: n/a"
fi
if [ -n "${audit_med[$SMALL_SIZE]:-}" ]; then
	t=${audit_med[$SMALL_SIZE]}
	small_line="target < $SMALL_TARGET_S s at 1,000 services: $(pass_fail "$t" \
		"$SMALL_TARGET_S") ($(printf '%.3f' "$t") s)"
else
	small_line="target < $SMALL_TARGET_S s at 1,000 services: n/a (SIZES has no $SMALL_SIZE)"
fi
if [ -n "${audit_med[$GROWTH_FROM]:-}" ] && [ -n "${audit_med[$GROWTH_TO]:-}" ]; then
	g=$(awk -v a="${audit_med[$GROWTH_FROM]}" -v b="${audit_med[$GROWTH_TO]}" \
		'BEGIN { printf "%.1f", b / a }')
	growth_line="growth 1k -> 10k: $g x (linear would be ~10x; PASS when <= ${GROWTH_MAX}x): $(awk \
		-v g="$g" -v m="$GROWTH_MAX" 'BEGIN { print (g <= m) ? "PASS" : "FAIL" }')"
else
	growth_line="growth 1k -> 10k: n/a (SIZES needs $GROWTH_FROM and $GROWTH_TO)"
fi

{
	echo
	echo "audit benchmark: meshpol audit vs meshpol check (load only), median of $REPS alternating runs"
	echo "host: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg), $(date -u +%Y-%m-%dT%H:%M:%SZ)"
	echo "meshpol: $MESHPOL; $ROUTES_PER_SERVICE routes per service, every ${UNGRANTED_EVERY}th route with a source ungranted"
	echo
	printf '%8s %7s %6s %8s %7s %8s | %9s %9s %9s %6s | %8s %8s | %8s %8s\n' \
		services routes rules findings listed not_perm audit_s check_s audit-chk ratio \
		audit_cpu check_cpu audit_MB check_MB
	for row in "${rows[@]}"; do echo "$row"; done
	echo
	echo "$target_line"
	echo "$arc_line"
	echo "$small_line"
	echo "$growth_line"
	echo
	echo "bundle load: from the directory (source) and from its archive (compiled declarations), CPU s"
	printf '%8s %6s | %7s %8s %8s %6s | %9s %9s %6s %9s | %8s %8s\n' services rules model \
		load_src load_arc ratio audit_src audit_arc ratio audarc_s chkarc_MB audarc_MB
	for row in "${load_rows[@]}"; do echo "$row"; done
	if [ -n "$BASE" ]; then
		echo
		echo "the same loads by BASE ($BASE), in the same alternating runs; speedup = BASE / this"
		printf '%8s %6s | %7s %8s %8s | %9s %9s\n' services rules model load_src load_arc \
			speed_src speed_arc
		for row in "${base_rows[@]}"; do echo "$row"; done
	fi
	echo
	echo "audit_s, check_s: median wall time from fork to exit of \`meshpol audit ... --format json"
	echo "  -o /dev/null\` and of \`meshpol check -m MODEL BUNDLE\` (loads the .mpm and the bundle, no"
	echo "  audit). audit-chk = audit_s - check_s: the audit's own steps (Lua checks, residency,"
	echo "  rbac hygiene, routes) and the JSON report writer. ratio = audit_s / check_s, the"
	echo "  figure to compare two builds by on a busy machine (both runs share its load)."
	echo "audit_cpu, check_cpu: median CPU seconds (user + system, from wait4) of the same runs:"
	echo "  on a machine other work keeps busy, the wall times grow and these do not."
	echo "rules, findings, listed, not_perm: from the untimed run's report (out/audit-N.json): rules"
	echo "  in the report; findings, the sum of the rules' counts; listed, those in the findings list"
	echo "  (at most 10,000 per rule); not_perm, route-not-permitted's (the routes left ungranted)."
	echo "audit_MB, check_MB: peak resident set (ru_maxrss, max over the runs), in 10^6 bytes."
	echo "model: median CPU s of \`meshpol check -m MODEL out/audit-min\` (the model and a bundle of"
	echo "  one policy); load_src, load_arc: the median CPU s of \`meshpol check -m MODEL\` of the"
	echo "  directory and of out/audit-bundle-N.tar.gz (\`meshpol bundle build -p DIR\`, no model in it)"
	echo "  less model: the bundle's load; ratio = load_src / load_arc. audit_src, audit_arc: the"
	echo "  audit's median CPU s with -p DIR and -p the archive (its report checked equal to the"
	echo "  directory's, the bundle's path and the time aside); audarc_s: that audit's median wall"
	echo "  time (the archive is what \`meshpol bundle build\` gives CI and the servers);"
	echo "  chkarc_MB, audarc_MB: their peaks."
} | tee "$RESULTS"
[ "$failed" -eq 0 ] || echo "audit_bench: some commands failed (see above)" >&2
exit "$failed"
