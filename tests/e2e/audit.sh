#!/usr/bin/env bash
# tests/e2e/audit.sh: `meshpol audit` end to end: each built-in check finds its problem in a
# model made for it and stays silent on a clean one; the example mesh's planted problems are
# found at their file:line; every output format is valid; exit codes; an audit without -p (the
# import analyzers alone); the trail verifies and tampering is caught.
. "$(dirname "$0")/lib.sh"
export MESHPOL_STDLIB="$PWD/stdlib"
D=tests/data/audit

# A bundle of the reference bundle's generic policies, for the small models.
mkdir -p "$TMP/generic/traffic" "$TMP/generic/residency"
cp policies/traffic/baseline.lua "$TMP/generic/traffic/"
cp policies/residency/gdpr.lua "$TMP/generic/residency/"
printf 'name: generic\nrevision: "1"\n' > "$TMP/generic/bundle.yaml"

audit_json() { # MODEL_DIR BUNDLE -> $TMP/a.json, $RC
	"$MESHPOL" audit -m "$1" -p "$2" --format json -o "$TMP/a.json" 2>"$TMP/err"
	RC=$?
}
has_finding() { # NAME RULE FILE_REGEX
	if jq -e --arg r "$2" --arg f "$3" '[.findings[] | select(.rule == $r and ((.location.file + ":" + (.location.line|tostring)) | test($f)))] | length > 0' "$TMP/a.json" >/dev/null; then
		ok "$1"
	else
		not_ok "$1" "$(jq -c '[.findings[] | {rule, subject, location}]' "$TMP/a.json" | head -c 800)" "$(cat "$TMP/err")"
	fi
}

# the clean model's one route, granted, so that it has no finding of any kind
cp -r "$TMP/generic" "$TMP/clean-bundle"
printf 'policy "grants" { version = "1.0.0", kind = "rbac" }\nallow "a-b" { service = "n/b", from = { services = { "n/a" } } }\n' > "$TMP/clean-bundle/grants.lua"
audit_json $D/clean "$TMP/clean-bundle"
[ "$RC" -eq 0 ] && ok "clean model exits 0" || not_ok "clean model exits 0" "rc $RC" "$(cat "$TMP/err")"
jq -e '.findings == [] and .result == "pass" and .errors == []' "$TMP/a.json" >/dev/null && ok "clean model: no findings" || not_ok "clean model: no findings" "$(jq -c '.findings' "$TMP/a.json" | head -c 600)"

audit_json $D/loop "$TMP/generic"
has_finding "routing loop found" routing-loop 'loop/mesh.yaml:[0-9]+$'
jq -e '[.findings[] | select(.rule == "routing-loop")][0] | (.path | length) == 4 and (.related | length) == 3' "$TMP/a.json" >/dev/null && ok "loop reports the whole cycle" || not_ok "loop reports the whole cycle"
[ "$RC" -eq 1 ] && ok "findings at fail-on hard exit 1" || not_ok "findings exit 1" "rc $RC"

audit_json $D/weights "$TMP/generic"
has_finding "weights not summing to 100" weights-sum-to-100 'weights/mesh.yaml:[0-9]+$'
audit_json $D/timeout "$TMP/generic"
has_finding "cross-region route without timeout" cross-region-timeout 'timeout/mesh.yaml:[0-9]+$'
# every branch of the two per-route checks, message for message (tests/data/audit/regions)
audit_json $D/regions "$TMP/generic"
jq -c '.findings[] | select(.rule == "cross-region-timeout" or .rule == "weights-sum-to-100") | [.rule, .subject, .message]' "$TMP/a.json" > "$TMP/regions.jsonl"
if diff -u $D/regions/expected.jsonl "$TMP/regions.jsonl" > "$TMP/regions.diff"; then
	ok "regions and weights: every finding and message"
else
	not_ok "regions and weights: every finding and message" "$(head -c 1500 "$TMP/regions.diff")" "$(cat "$TMP/err")"
fi
audit_json $D/retries "$TMP/generic"
has_finding "retries without per-try timeout" retries-bounded 'retries/mesh.yaml:[0-9]+$'
jq -e '[.findings[] | select(.rule == "retries-bounded")] | length == 2' "$TMP/a.json" >/dev/null && ok "retries above the bound" || not_ok "retries above the bound"
audit_json $D/mtls "$TMP/generic"
has_finding "data service without STRICT mTLS" mtls-strict-for-data 'mtls/mesh.yaml:1$'

# certificates relative to today
mkdir -p "$TMP/certs"
cp $D/base.yaml "$TMP/certs/"
cat > "$TMP/certs/mesh.yaml" <<CERTS
kind: Certificate
name: old
not_after: $(date -u -d '-3 days' +%Y-%m-%d)
---
kind: Certificate
name: soon
not_after: $(date -u -d '+10 days' +%Y-%m-%dT%H:%M:%SZ)
---
kind: Certificate
name: later
not_after: $(date -u -d '+200 days' +%Y-%m-%d)
---
kind: Certificate
name: from-pem
pem: $PWD/examples/acme/certs/payments.pem
CERTS
audit_json "$TMP/certs" "$TMP/generic"
has_finding "expired certificate" certificate-expired 'certs/mesh.yaml:1$'
has_finding "certificate expiring soon" certificate-expiring-soon 'certs/mesh.yaml:5$'
jq -e '[.findings[] | select(.subject == "later" or .subject == "from-pem")] | length == 0' "$TMP/a.json" >/dev/null && ok "valid certificates (one read from PEM) are silent" || not_ok "valid certificates are silent" "$(jq -c '.findings' "$TMP/a.json" | head -c 600)"

audit_json $D/residency "$TMP/generic"
jq -e '[.findings[] | select(.rule == "pii-stays-in-eu" and .subject == "n/p -> n/x" and (.message | test("failover")))] | length == 1' "$TMP/a.json" >/dev/null && ok "residency leak through failover" || not_ok "residency leak through failover" "$(jq -c '[.findings[] | .subject + " | " + .message]' "$TMP/a.json")"
jq -e '[.findings[] | select(.rule == "pii-stays-in-eu") | .subject] | (index("n/p -> n/t -> n/x") != null) and (index("n/p -> n/x") != null) and (index("n/p -> api.crm.example.com") != null)' "$TMP/a.json" >/dev/null && ok "residency: failover, multi-hop and egress paths" || not_ok "residency paths" "$(jq -c '[.findings[].subject]' "$TMP/a.json")"
jq -e '[.findings[] | select(.rule == "pii-stays-in-eu" and .subject == "n/p <- n/o")] | length == 1' "$TMP/a.json" >/dev/null && ok "residency: a caller outside reads the data (the reply leaves)" || not_ok "inbound leak" "$(jq -c '[.findings[].subject]' "$TMP/a.json")"
jq -e '[.findings[] | select(.rule == "pii-stays-in-eu")] | length == 4' "$TMP/a.json" >/dev/null && ok "residency: nothing else reported" || not_ok "residency count" "$(jq -c '[.findings[] | select(.rule == "pii-stays-in-eu") | .subject]' "$TMP/a.json")"

audit_json $D/rbac $D/rbac-bundle
has_finding "over-broad grant" too-broad 'rbac/mesh.yaml:[0-9]+$'
has_finding "unbound role" ghost-role 'rbac.lua:3$'
has_finding "binding to an unknown identity" reader 'rbac.lua:5$'
has_finding "declared route the policies forbid" no-web-to-api 'rbac/mesh.yaml:[0-9]+$'
has_finding "declared route nothing allows" route-not-permitted 'rbac/mesh.yaml:[0-9]+$'
jq -e '[.findings[] | select(.rule == "route-not-permitted") | .subject] == ["route api-web: shop/api -> shop/web"]' "$TMP/a.json" >/dev/null && ok "only the unallowed route is reported" || not_ok "only the unallowed route" "$(jq -c '[.findings[]|.subject]' "$TMP/a.json")"

# a route whose targets no rule permits: one finding for the route, naming each target
mkdir -p "$TMP/fanout"
cp $D/rbac/base.yaml $D/rbac/mesh.yaml "$TMP/fanout/"
cat >>"$TMP/fanout/mesh.yaml" <<'EOF'
---
kind: Route
name: api-fanout
source: api
destinations: [{service: web, weight: 50}, {service: pay, weight: 50}] # pay: anyone may call
mirrors: [web]
timeout: 1s
EOF
audit_json "$TMP/fanout" $D/rbac-bundle
jq -e '[.findings[] | select(.rule == "route-not-permitted" and (.subject | startswith("route api-fanout")))] | length == 1' "$TMP/a.json" >/dev/null && ok "route-not-permitted: one finding per route" || not_ok "route-not-permitted grouped" "$(jq -c '[.findings[] | select(.rule == "route-not-permitted") | .subject]' "$TMP/a.json")"
jq -e '.findings[] | select(.subject | startswith("route api-fanout")) | .subject == "route api-fanout: shop/api -> shop/web" and (.message | test("destination, mirror, to each of its targets")) and ([.related[].message] == ["destination shop/web", "mirror shop/web"])' "$TMP/a.json" >/dev/null && ok "... naming each target, with its location" || not_ok "... naming each target" "$(jq -c '.findings[] | select(.subject | startswith("route api-fanout"))' "$TMP/a.json")"

# a check that errors: exit 3, and everything else is still reported
audit_json $D/rbac $D/broken-bundle
[ "$RC" -eq 3 ] && ok "a failing check exits 3" || not_ok "a failing check exits 3" "rc $RC"
jq -e '(.errors | length) == 1 and (.errors[0].message | test("broken_check.lua:2:")) and ([.findings[] | select(.rule == "fine")] | length) == 1' "$TMP/a.json" >/dev/null && ok "the error is reported with file:line and the other check still runs" || not_ok "error reported" "$(jq -c '.errors' "$TMP/a.json")"

# report{} with a misspelt field or a positional value: the check errors, naming the field,
# rather than dropping what the field carried
mkdir -p "$TMP/report-fields"
printf 'name: report-fields\nrevision: "1"\n' >"$TMP/report-fields/bundle.yaml"
cat >"$TMP/report-fields/fields.lua" <<'EOF'
policy "t.fields" { version = "1.0.0", kind = "custom", enforcement = "soft" }
check "misspelt" { run = function(mesh, report) report { subject = "x", mesage = "one" } end }
check "positional" { run = function(mesh, report) report { "x", message = "one" } end }
EOF
audit_json $D/rbac "$TMP/report-fields"
jq -e '(.errors | length) == 2 and ([.findings[] | select(.policy == "t.fields")] | length) == 0' "$TMP/a.json" >/dev/null &&
	jq -e '.errors[] | select(.rule == "misspelt") | .message | test("fields.lua:2: report: unknown field .mesage. \\(did you mean .message.\\?\\)")' "$TMP/a.json" >/dev/null &&
	jq -e '.errors[] | select(.rule == "positional") | .message | test("fields.lua:3: report: fields are named .*got a number key")' "$TMP/a.json" >/dev/null &&
	[ "$RC" -eq 3 ] && ok "report{}: an unknown or positional field is the check's error, with the nearest name" ||
	not_ok "report{} unknown field" "rc $RC" "$(jq -c '.errors' "$TMP/a.json")"

# --fail-on
expect_rc "fail-on advisory: findings fail" 1 "$MESHPOL" audit -m $D/weights -p "$TMP/generic" --fail-on advisory
mkdir -p "$TMP/soft/traffic" && sed 's/enforcement = "hard"/enforcement = "soft"/' policies/traffic/baseline.lua > "$TMP/soft/traffic/baseline.lua"
printf 'name: soft\nrevision: "1"\n' > "$TMP/soft/bundle.yaml"
expect_rc "soft findings pass fail-on hard" 0 "$MESHPOL" audit -m $D/weights -p "$TMP/soft"
expect_rc "soft findings fail fail-on soft" 1 "$MESHPOL" audit -m $D/weights -p "$TMP/soft" --fail-on soft
expect_rc "bad fail-on is a usage error" 2 "$MESHPOL" audit -m $D/weights -p "$TMP/soft" --fail-on never
expect_rc "bad format is a usage error" 2 "$MESHPOL" audit -m $D/weights -p "$TMP/soft" --format pdf
expect_rc "a broken bundle exits 2" 2 "$MESHPOL" audit -m $D/weights -p tests/data/bundles/unit

# the example mesh: every planted problem, at its location
audit_json examples/acme policies
[ "$RC" -eq 1 ] && ok "acme audit exits 1" || not_ok "acme audit exits 1" "rc $RC" "$(cat "$TMP/err")"
[ ! -s "$TMP/err" ] && ok "no progress output when stderr is not a terminal" || not_ok "no progress when piped" "$(cat "$TMP/err")"
# on a terminal (script(1) gives the audit one), progress is drawn on stderr
script -qec "\"$MESHPOL\" audit -m examples/acme -p policies -o \"$TMP/tty-report.txt\"" /dev/null > "$TMP/tty.out" 2>&1
grep -q 'audit: [0-9]*/[0-9]* ' "$TMP/tty.out" && ok "progress shown on a terminal" || not_ok "progress on a terminal" "$(head -c 300 "$TMP/tty.out")"
has_finding "acme: routing loop" routing-loop 'examples/acme/routes.yaml:228$'

has_finding "acme: residency leak through failover" pii-stays-in-eu 'examples/acme/routes.yaml:217$'
has_finding "acme: multi-hop residency leak" pii-stays-in-eu 'examples/acme/routes.yaml:96$'
has_finding "acme: UK data to an EU-only external" uk-pii-stays-in-uk 'examples/acme/routes.yaml:271$'
has_finding "acme: certificate expiring soon" certificate-expiring-soon 'examples/acme/certificates.yaml:19$'
has_finding "acme: expired certificate" certificate-expired 'examples/acme/certificates.yaml:32$'
has_finding "acme: over-broad grant" payments-any-caller 'examples/acme/services/billing.yaml:[0-9]+$'
has_finding "acme: weights" weights-sum-to-100 'examples/acme/routes.yaml:5$'
has_finding "acme: cross-region without timeout" cross-region-timeout 'examples/acme/routes.yaml:278$'
has_finding "acme: retries without per-try timeout" retries-bounded 'examples/acme/routes.yaml:201$'
has_finding "acme: mTLS disabled" mtls-strict-for-data 'examples/acme/services/billing.yaml:42$'
has_finding "acme: route the policies do not allow" route-not-permitted 'examples/acme/routes.yaml:234$'
jq -e '[.findings[] | select(.policy != "meshpol.audit") | has("policy") and has("version") and has("rule") and has("severity") and has("enforcement") and has("controls") and has("subject") and has("message") and has("rule_location")] | all' "$TMP/a.json" >/dev/null && ok "every finding has all its fields" || not_ok "finding fields"

# every format, parsed by a real parser
for f in text json junit sarif markdown; do
	"$MESHPOL" audit -m examples/acme -p policies --format $f -o "$TMP/report.$f"
	[ -s "$TMP/report.$f" ] && ok "format $f written" || not_ok "format $f written"
done
jq -e '.findings | length > 0' "$TMP/report.json" >/dev/null && ok "json parses" || not_ok "json parses"
xmllint --noout "$TMP/report.junit" 2>"$TMP/xerr" && ok "junit is well-formed XML" || not_ok "junit XML" "$(cat "$TMP/xerr")"
[ "$(xmllint --xpath 'count(//testcase)' "$TMP/report.junit")" -eq "$(jq '.rules | length' "$TMP/report.json")" ] && ok "junit: one testcase per rule" || not_ok "junit testcases"
[ "$(xmllint --xpath 'count(//failure)' "$TMP/report.junit")" -eq "$(jq '[.rules[] | select(.status == "fail")] | length' "$TMP/report.json")" ] && ok "junit: one failure per failed rule" || not_ok "junit failures"
jq -e '.version == "2.1.0" and (.runs[0].results | length) > 0 and ([.runs[0].results[] | .locations[0].physicalLocation.region.startLine] | all(. > 0)) and ([.runs[0].results[].ruleId] | all(test("/")))' "$TMP/report.sarif" >/dev/null && ok "sarif 2.1.0 with file:line" || not_ok "sarif"
grep -q '^## Controls' "$TMP/report.markdown" && grep -Eq 'PCI-DSS-7.1.*(PASS|FAIL)' "$TMP/report.markdown" && ok "markdown: controls with pass/fail" || not_ok "markdown controls"
grep -q "$(jq -r .bundle.revision "$TMP/report.json")" "$TMP/report.markdown" && ok "markdown: bundle revision" || not_ok "markdown revision"
! grep -q $'\033' "$TMP/report.text" && ok "text to a file has no colour" || not_ok "text colour"
grep -Eq '^(CRITICAL|HIGH) ' "$TMP/report.text" && ok "text grouped by severity" || not_ok "text severity"

# --jobs 2 (the Lua checks on a second thread) writes the --jobs 1 report byte for byte, in
# every format, with a trail too (the audit's time and the trail's file and head masked)
jobs_same() { # NAME ARGS...: both runs' reports and exit codes equal
	local name=$1 j rc1 rc2
	shift
	for j in 1 2; do
		rm -f "$TMP/jobs.trail"
		"$MESHPOL" audit "$@" --jobs $j -o "$TMP/jobs$j.out" 2>"$TMP/jobs$j.err"
		eval "rc$j=$?"
		sed -E -i 's/[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z/TIME/g; s/[0-9a-f]{64}/HASH/g' "$TMP/jobs$j.out"
	done
	if [ "$rc1" = "$rc2" ] && cmp -s "$TMP/jobs1.out" "$TMP/jobs2.out" && cmp -s "$TMP/jobs1.err" "$TMP/jobs2.err"; then
		ok "$name"
	else
		not_ok "$name" "exit $rc1 and $rc2" "$(diff "$TMP/jobs1.out" "$TMP/jobs2.out" | head -5)"
	fi
}
for f in text json junit sarif markdown html; do
	jobs_same "--jobs 2 writes the --jobs 1 report: $f" -m examples/acme -p policies --format $f
	jobs_same "--jobs 2 with a trail: $f" -m examples/acme -p policies --format $f --trail "$TMP/jobs.trail"
done
jobs_same "--jobs 2, waivers and a failing check" -m $D/rbac -p $D/parallel-bundle --format json
# a check named as a rule of its policy: one rule of the report, counted by one thread (serial)
mkdir -p "$TMP/shared-name"
printf 'name: shared\nrevision: "1"\n' > "$TMP/shared-name/bundle.yaml"
cat > "$TMP/shared-name/p.lua" <<'LUA'
policy "t.shared" { version = "1.0.0", kind = "rbac" }
allow "same" { service = "shop/pay", from = "*" }
check "same" { run = function(mesh, report) report { subject = "x", message = "from the check" } end }
LUA
jobs_same "--jobs 2, a check and a rule of one name" -m $D/rbac -p "$TMP/shared-name" --format json
jq -e '[.rules[] | select(.rule == "same")] | length == 1 and .[0].findings == 2' "$TMP/jobs2.out" >/dev/null && ok "one rule for the check and the grant of one name" || not_ok "shared name" "$(jq -c '.rules' "$TMP/jobs2.out" | head -c 400)"
expect_rc "--jobs 3 is a usage error" 2 "$MESHPOL" audit -m examples/acme --jobs 3

# without -p: no bundle, so the checks that need none run alone (the import analyzers' findings)
I=tests/data/import
"$MESHPOL" audit -m $I/findings --format json -o "$TMP/nob.json" 2>"$TMP/err"
RC=$?
[ "$RC" -eq 1 ] && ok "no bundle: hard import findings exit 1" || not_ok "no bundle: hard import findings exit 1" "rc $RC" "$(cat "$TMP/err")"
jq -e '.bundle == null and .policies == [] and (.findings | length) == 22 and ([.findings[], .rules[] | .policy] | all(. == "meshpol.import"))' "$TMP/nob.json" >/dev/null && ok "no bundle: only meshpol.import findings, bundle null" || not_ok "no bundle: only import findings" "$(jq -c '{bundle, n: (.findings | length), p: [.findings[].policy] | unique}' "$TMP/nob.json")"
"$MESHPOL" audit -m $I/findings -p $I/corpus-bundle --policy meshpol.import --format json -o "$TMP/withb.json" 2>/dev/null
[ "$(jq -c '.findings' "$TMP/nob.json")" = "$(jq -c '.findings' "$TMP/withb.json")" ] && ok "no bundle: the same findings, in the same order, as with a bundle" || not_ok "no bundle: same findings as with a bundle"
expect_rc "no bundle: soft findings pass fail-on hard" 0 "$MESHPOL" audit -m $I/multi
expect_out "no bundle: the text header says so" '^meshpol audit  bundle none  model [0-9a-f]{12} '
expect_out "no bundle: the warning is reported" 'MEDIUM +meshpol.import/LocalityFailoverLeak'
expect_rc "no bundle: soft findings fail fail-on soft" 1 "$MESHPOL" audit -m $I/multi --fail-on soft
expect_rc "no bundle, a native model: clean, exit 0" 0 "$MESHPOL" audit -m $D/clean --format json
jq -e '.bundle == null and .rules == [] and .result == "pass"' <<<"$OUT" >/dev/null && ok "no bundle, native model: no rules, pass" || not_ok "no bundle, native model" "${OUT:0:400}"
expect_rc "no bundle: markdown" 1 "$MESHPOL" audit -m $I/findings --format markdown
expect_out "no bundle: markdown names no bundle" '^\| Bundle \| none: built-in and import checks only \|$'
"$MESHPOL" audit -m $I/findings --format junit -o "$TMP/nob.junit" 2>/dev/null
xmllint --noout "$TMP/nob.junit" 2>"$TMP/xerr" && [ "$(xmllint --xpath 'count(//failure)' "$TMP/nob.junit")" -eq "$(xmllint --xpath 'count(//testcase)' "$TMP/nob.junit")" ] && [ "$(grep -o 'subject: ' "$TMP/nob.junit" | wc -l)" -eq 22 ] && ok "no bundle: junit, one failure per rule holding its 22 findings" || not_ok "no bundle: junit" "$(cat "$TMP/xerr")"
"$MESHPOL" audit -m $I/findings --format sarif -o "$TMP/nob.sarif" 2>/dev/null
jq -e '(.runs[0].results | length) == 22 and .runs[0].properties.bundle == null' "$TMP/nob.sarif" >/dev/null && ok "no bundle: sarif" || not_ok "no bundle: sarif" "$(jq -c '.runs[0].properties' "$TMP/nob.sarif" | head -c 400)"
expect_rc "no bundle: --policy meshpol.import" 1 "$MESHPOL" audit -m $I/findings --policy meshpol.import
expect_rc "no bundle: --policy naming a bundle policy is a usage error" 2 "$MESHPOL" audit -m $I/findings --policy rbac.shop
expect_out "no bundle: --policy names what there is" "--policy 'rbac.shop': no such policy without -p POLICY_DIR \(expected meshpol.import\)"
expect_rc "no -m is a usage error" 2 "$MESHPOL" audit -p "$TMP/generic"
expect_out "no -m: named" '-m MODEL is required'
expect_rc "no bundle: a model that does not load exits 2" 2 "$MESHPOL" audit -m "$TMP/no-such-model"
"$MESHPOL" audit -m $I/findings --trail "$TMP/nob-trail.jsonl" >/dev/null 2>&1
head -1 "$TMP/nob-trail.jsonl" | jq -e '.type == "start" and .bundle == null and .policies == [] and (.model.sha256 | length) == 64' >/dev/null && ok "no bundle: the trail's start record says there is none" || not_ok "no bundle: trail start record" "$(head -1 "$TMP/nob-trail.jsonl")"
expect_rc "no bundle: the trail verifies" 0 "$MESHPOL" verify "$TMP/nob-trail.jsonl"

# the trail: two runs chained, signed, verified; tampering is caught and named
"$MESHPOL" keygen -o "$TMP/key.pem" >/dev/null
"$MESHPOL" audit -m examples/acme -p policies --trail "$TMP/trail.jsonl" --sign-key "$TMP/key.pem" >/dev/null
"$MESHPOL" audit -m $D/clean -p "$TMP/generic" --trail "$TMP/trail.jsonl" --sign-key "$TMP/key.pem" >/dev/null
expect_rc "trail of two runs verifies" 0 "$MESHPOL" verify "$TMP/trail.jsonl" --pubkey "$TMP/key.pub.pem"
expect_out "verify counts runs and signatures" 'intact: [0-9]+ records in 2 runs, 2 seals \(2 signatures verified\)'
n_find=$(jq '.findings | length' "$TMP/report.json")
[ "$(sed -n '1,/"type":"end"/p' "$TMP/trail.jsonl" | grep -c '"type":"finding"')" -eq "$n_find" ] && ok "one trail record per finding" || not_ok "trail finding records"
head -1 "$TMP/trail.jsonl" | jq -e '.type == "start" and .seq == 1 and (.bundle.sha256|length) == 64 and (.model.sha256|length) == 64 and (.policies|length) > 0 and has("user")' >/dev/null && ok "start record cites bundle, model and policy versions" || not_ok "start record"
cp "$TMP/trail.jsonl" "$TMP/t1"; sed -i '4s/"message":"/"message":"X/' "$TMP/t1"
cmp -s "$TMP/trail.jsonl" "$TMP/t1" && not_ok "tampering fixture changed nothing"
expect_rc "a changed byte is caught" 1 "$MESHPOL" verify "$TMP/t1" --pubkey "$TMP/key.pub.pem"
expect_out "the altered record is named" 'line 4 \(seq 4\)'
sed '6d' "$TMP/trail.jsonl" > "$TMP/t2"
expect_rc "a deleted record is caught" 1 "$MESHPOL" verify "$TMP/t2" --pubkey "$TMP/key.pub.pem"
expect_out "the gap is named" 'line 6'
awk 'NR==7{l=$0; next} NR==8{print; print l; next} {print}' "$TMP/trail.jsonl" > "$TMP/t3"
expect_rc "a swapped pair is caught" 1 "$MESHPOL" verify "$TMP/t3" --pubkey "$TMP/key.pub.pem"
"$MESHPOL" keygen -o "$TMP/other.pem" >/dev/null
expect_rc "another key does not verify the seals" 1 "$MESHPOL" verify "$TMP/trail.jsonl" --pubkey "$TMP/other.pub.pem"
expect_out "the seal is named" 'seal'
cp "$TMP/trail.jsonl" "$TMP/t4"; printf '{"seq":' >> "$TMP/t4"
expect_rc "appending to a torn trail is refused" 2 "$MESHPOL" audit -m $D/clean -p "$TMP/generic" --trail "$TMP/t4" --sign-key "$TMP/key.pem"

# json and text stream; with --trail the trail comes first and the json report names it
# (docs/audit-format.md, "trail"): the findings read back from the spool for both, the report
# otherwise what it is without a trail
"$MESHPOL" audit -m examples/acme -p policies --format json -o "$TMP/tr.json" --trail "$TMP/tr.jsonl" 2>/dev/null
"$MESHPOL" audit -m examples/acme -p policies --format json -o "$TMP/notr.json" 2>/dev/null
head=$("$MESHPOL" trail head "$TMP/tr.jsonl" 2>/dev/null | grep -Eo '[0-9a-f]{64}' | head -1)
jq -e --arg h "$head" '.trail.head == $h and .trail.first_seq == 1 and .trail.signed == false' "$TMP/tr.json" >/dev/null && ok "json with --trail: the run and its seal" || not_ok "json with --trail: the trail object" "$(jq -c '.trail' "$TMP/tr.json")" "head $head"
jq -e --slurpfile b "$TMP/notr.json" 'del(.trail, .time) == ($b[0] | del(.time))' "$TMP/tr.json" >/dev/null && ok "json with --trail: the rest as without" || not_ok "json with --trail: the rest as without"
[ "$(grep -c '"type":"finding"' "$TMP/tr.jsonl")" -eq "$(jq '.findings | length' "$TMP/tr.json")" ] && ok "json with --trail: every finding in the trail" || not_ok "json with --trail: the trail's findings"
"$MESHPOL" audit -m examples/acme -p policies -o "$TMP/tr.txt" --trail "$TMP/tr2.jsonl" 2>/dev/null
"$MESHPOL" audit -m examples/acme -p policies -o "$TMP/notr.txt" 2>/dev/null
cmp -s <(sed 1d "$TMP/tr.txt") <(sed 1d "$TMP/notr.txt") && ok "text with --trail: the report as without" || not_ok "text with --trail: the report as without" "$(diff "$TMP/notr.txt" "$TMP/tr.txt" | head -5)"
[ "$(grep -c '"type":"finding"' "$TMP/tr2.jsonl")" -eq "$(jq '.findings | length' "$TMP/tr.json")" ] && ok "text with --trail: every finding in the trail" || not_ok "text with --trail: the trail's findings"

# Findings stream through a temporary file (docs/architecture.md, "Reports"): with none to be
# had, the audit fails as an input error, for every format, rather than report fewer findings.
for fmt in json text junit sarif markdown html; do
	expect_rc "no temporary file ($fmt): exit 2" 2 env TMPDIR="$TMP/none/such" "$MESHPOL" audit \
		-m $D/rbac -p $D/rbac-bundle --format $fmt -o "$TMP/nospool.$fmt"
	expect_out "no temporary file ($fmt): said so" 'no temporary file for the findings'
	[ ! -e "$TMP/nospool.$fmt" ] && ok "no temporary file ($fmt): no report written" ||
		not_ok "no temporary file ($fmt): a report was left"
done

# Every format streams (report.h, mp_report_write_result): the report read back from the spool;
# a full disk under the report is an error, exit 2, never a report passed as written (a copy of
# /dev/full made here, as root; nothing outside $TMP is touched).
if mknod "$TMP/full" c 1 7 2>/dev/null; then
	for fmt in json text junit sarif markdown html; do
		expect_rc "a full disk ($fmt): exit 2" 2 "$MESHPOL" audit -m $D/rbac -p $D/rbac-bundle \
			--format $fmt -o "$TMP/full"
		expect_out "a full disk ($fmt): said so" "cannot write|No space left"
	done
else
	ok "# SKIP mknod needs root"
fi
e2e_done
