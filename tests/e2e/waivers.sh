#!/usr/bin/env bash
# tests/e2e/waivers.sh: a bundle's waivers.yaml through `meshpol audit` (docs/audit-format.md,
# "Waivers"): waived findings shown as waived in every format and in the trail, and not failing
# the gate; an expired waiver failing it and saying so; an unused one a warning; a malformed
# file an input error at file:line:col naming the nearest field; `--fail-on` by severity.
. "$(dirname "$0")/lib.sh"
D=tests/data/audit
B=$TMP/bundle
cp -r $D/rbac-bundle "$B"
sed -i "s#^model: .*#model: $PWD/$D/rbac#" "$B/bundle.yaml"
audit() { "$MESHPOL" audit -m $D/rbac -p "$B" "$@"; }
expect_eq() {
	if [ "$2" = "$3" ]; then ok "$1"; else not_ok "$1" "got:  $2" "want: $3"; fi
}

# The four hard findings waived (two by fingerprint prefix, two by rule and subject).
cat >"$B/waivers.yaml" <<'YAML'
waivers:
  - fingerprint: 024281874993
    reason: the reader binding goes with the next release
    owner: shop-team
    expires: 2999-12-31
  - fingerprint: 1f11e33bb2a8
    reason: pay is internal-only until the gateway lands
    owner: payments
    expires: 2999-12-31
  - rule: t.rbac/ghost-role
    subject: role ghost-role
    reason: kept for the audit of the old roles
    owner: security
    expires: 2999-12-31
  - rule: t.rbac/no-web-to-api
    subject: "route web-api: shop/web -> shop/api"
    reason: the route is removed in the next deploy
    owner: platform
    expires: 2999-12-31
YAML
run_cmd audit --format json
expect_eq "every hard finding waived: the gate passes (exit 0)" "$RC" 0
printf '%s\n' "$OUT" >"$TMP/a.json"
jq -e '.counts.waived == 4 and .counts.by_enforcement.hard == 0 and .counts.findings == 5 and
	([.findings[] | select(.waiver) | .waiver.owner] | sort) == ["payments","platform","security","shop-team"] and
	([.waivers[].status] | unique) == ["active"] and ([.rules[] | select(.status == "waived")] | length) == 4' "$TMP/a.json" >/dev/null &&
	ok "json: waived findings carry their waiver; counts and rule statuses say so" || not_ok "json waivers" "$(jq -c '.counts, [.waivers[].status]' "$TMP/a.json")"
run_cmd audit
expect_out "text: each waived finding says so, with reason, owner and date" 'waived: pay is internal-only until the gateway lands \(payments, until 2999-12-31; .*waivers.yaml:6\)'
expect_out "text: the summary counts them" 'PASS  5 findings .*, 4 waived, 0 at or above fail-on hard'
run_cmd audit --format markdown
expect_out "markdown: a waivers table" '\| 024281874993 \| active \| 1 \| shop-team \| 2999-12-31 \|'
expect_out "markdown: the finding is marked waived" '\| hard \| waived: binding of role reader \|'
run_cmd audit --format junit
expect_out "junit: waived findings in system-out" '<system-out>subject: role ghost-role'
run_cmd audit --format sarif
printf '%s\n' "$OUT" >"$TMP/a.sarif"
[ "$(jq '[.runs[0].results[] | select(.suppressions[0].kind == "external")] | length' "$TMP/a.sarif")" = 4 ] && ok "sarif: four external suppressions" || not_ok "sarif suppressions"
# the trail: finding records carry the waiver, a waiver record per waiver, end counts
audit --trail "$TMP/t.jsonl" >/dev/null
jq -s -e '([.[] | select(.type == "finding" and .waiver)] | length) == 4 and ([.[] | select(.type == "waiver") | .status] == ["active","active","active","active"]) and (.[] | select(.type == "end") | .counts.waived == 4 and .result == "pass")' "$TMP/t.jsonl" >/dev/null &&
	ok "trail: finding records with their waiver, waiver records, the end's counts" || not_ok "trail waivers" "$(head -c 600 "$TMP/t.jsonl")"
expect_rc "the trail verifies" 0 "$MESHPOL" verify "$TMP/t.jsonl"

# An expired waiver fails the gate, whatever it matches, and says so; an unused one warns.
cat >>"$B/waivers.yaml" <<'YAML'
  - rule: t.rbac/too-broad
    subject: nothing like it
    reason: stale
    owner: nobody
    expires: 2999-01-01
  - fingerprint: 5bbc2a617992
    reason: once
    owner: ops
    expires: 2001-06-30
YAML
run_cmd audit
expect_eq "an expired waiver fails the gate (exit 1)" "$RC" 1
expect_out "and says where, when and whose" 'waivers.yaml:25:5: waiver for fingerprint 5bbc2a617992 expired on 2001-06-30 \(owner ops\): the audit fails until it is renewed or removed'
expect_out "an unused waiver is a warning with its location" 'waivers.yaml:20:5: warning: waiver for rule t.rbac/too-broad matches no finding'
expect_out "the text report lists both" 'EXPIRED   5bbc2a617992'
run_cmd audit --format json
printf '%s\n' "$OUT" >"$TMP/b.json"
jq -e '.result == "fail" and .counts.waivers_expired == 1 and .counts.waivers_unused == 1 and ([.findings[] | select(.rule == "route-not-permitted") | has("waiver")] == [false])' "$TMP/b.json" >/dev/null &&
	ok "json: an expired waiver waives nothing and is counted" || not_ok "expired json" "$(jq -c .counts "$TMP/b.json")"

# Malformed files: input errors (exit 2) at file:line:col, with the nearest field.
bad() { # NAME WANT YAML
	printf '%s' "$3" >"$B/waivers.yaml"
	run_cmd audit
	if [ "$RC" -eq 2 ] && grep -Eq -- "$2" <<<"$ERR"; then ok "$1"; else not_ok "$1" "exit $RC" "stderr: ${ERR:0:400}"; fi
}
bad "a misspelt field: its nearest name" 'waivers.yaml:3:5: unknown field .ownr. \(did you mean .owner.\?\)' \
	$'waivers:\n  - fingerprint: 024281874993\n    ownr: a\n    reason: r\n    expires: 2999-01-01\n'
bad "a wrong type" "waivers.yaml:2:5: a waiver is a mapping" $'waivers:\n  - 42\n'
bad "a bad date" "waivers.yaml:5:14: 'expires' is '31/12/2999'" \
	$'waivers:\n  - fingerprint: 024281874993\n    owner: a\n    reason: r\n    expires: 31/12/2999\n'
bad "an alias" "this node is used again through an alias" \
	$'waivers:\n  - &w {fingerprint: 024281874993, owner: a, reason: r, expires: 2999-01-01}\n  - *w\n'
bad "not YAML" "waivers.yaml:[0-9]+:[0-9]+: YAML" $'waivers: [\n'
head -c 70000000 /dev/zero | tr '\0' 'x' >"$B/waivers.yaml"
run_cmd audit
[ "$RC" -eq 2 ] && ok "a waivers file over the bundle's file limit: exit 2" || not_ok "huge waivers file" "exit $RC" "${ERR:0:300}"
rm -f "$B/waivers.yaml"

# --fail-on by severity
run_cmd audit --fail-on critical
expect_eq "--fail-on critical: no critical finding, exit 0" "$RC" 0
run_cmd audit --fail-on high
expect_eq "--fail-on high: high findings, exit 1" "$RC" 1
run_cmd audit --fail-on medium --format json
jq -e '.fail_on == "medium" and .result == "fail"' <<<"$OUT" >/dev/null && ok "the audit records a severity fail-on" || not_ok "fail_on medium" "${OUT:0:200}"
expect_rc "--fail-on hihg: exit 2" 2 "$MESHPOL" audit -m $D/rbac --fail-on hihg
expect_out "naming the nearest level" "--fail-on takes advisory, soft, hard, critical, high, medium or low, not 'hihg' \(did you mean 'high'\?\)"
# the examples of docs/audit-format.md (lib.sh, doc_examples)
doc_examples docs/audit-format.md
e2e_done
