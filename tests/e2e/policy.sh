#!/usr/bin/env bash
# tests/e2e/policy.sh: `meshpol check`, `meshpol test` and `meshpol decide` as a user runs them,
# on the reference bundle and on broken inputs.
. "$(dirname "$0")/lib.sh"
export MESHPOL_STDLIB="$PWD/stdlib"
UNIT=tests/data/bundles/unit

expect_rc "check the reference bundle" 0 "$MESHPOL" check -m examples/acme policies
expect_out "check summary" '^policies: ok: [0-9]+ policies, [0-9]+ rules, [0-9]+ checks; revision .*; sha256 [0-9a-f]{64}$'
expect_rc "check takes the model from the manifest" 0 "$MESHPOL" check "$UNIT"
expect_rc "check a bundle without a model" 2 "$MESHPOL" check "$TMP"
expect_out "missing model explained" 'no model: give -m MODEL'

cp -r "$UNIT" "$TMP/broken"
printf 'policy "b" { version = "one", kind = "rbac" }\nallow "x" { service = "shop/nope" }\n' > "$TMP/broken/broken.lua"
expect_rc "check a broken bundle exits 2" 2 "$MESHPOL" check "$TMP/broken"
expect_out "bad version at file:line" "$TMP/broken/broken.lua:1: policy 'b': version 'one' is not a semantic version"
expect_out "unknown service at file:line" "$TMP/broken/broken.lua:2: allow 'x': 'service' names 'shop/nope'"
expect_out "error count" 'meshpol check: .*: 2 errors'

expect_rc "reference bundle tests pass" 0 "$MESHPOL" test policies
expect_out "closing line" '^[1-9][0-9]* passed, 0 failed$'
expect_rc "unit bundle tests pass" 0 "$MESHPOL" test -v "$UNIT"
expect_out "verbose lists tests" "^ok   $UNIT/unit_test.lua: web charges$"
expect_out "unit closing line" '^3 passed, 0 failed$'
expect_rc "--run selects tests" 0 "$MESHPOL" test --run sandbox "$UNIT"
expect_out "one test ran" '^1 passed, 0 failed$'

cp -r "$UNIT" "$TMP/failing"
cat >> "$TMP/failing/unit_test.lua" <<'LUA'
test "wrong on purpose" (function()
  expect_allow { from = "sandbox/echo", to = "billing/pay", method = "POST", path = "/v1/charge" }
end)
LUA
expect_rc "a failing test exits 1" 1 "$MESHPOL" test "$TMP/failing"
expect_out "failure names the test" "^FAIL $TMP/failing/unit_test.lua:14: wrong on purpose$"
expect_out "failure shows expected and actual" "$TMP/failing/unit_test.lua:15: expected allow, got forbidden"
expect_out "failure shows the reasons" "reason: deny t.rbac 1.0.0 rule 'no-sandbox' at $TMP/failing/rbac.lua:17"
expect_out "failing closing line" '^3 passed, 1 failed$'

# decide: every example input, with its documented outcome
for f in examples/requests/allow-*.json; do
	expect_rc "decide $(basename "$f") allows" 0 "$MESHPOL" decide -m examples/acme -p policies "$f"
done
for f in examples/requests/deny-*.json; do
	expect_rc "decide $(basename "$f") denies" 1 "$MESHPOL" decide -m examples/acme -p policies "$f"
done
run_cmd "$MESHPOL" decide -m examples/acme -p policies examples/requests/deny-sandbox-payments.json
rule=$(echo "$OUT" | jq -r '.reasons[0].rule + " " + .reasons[0].policy + " " + .reasons[0].version')
[ "$rule" = "no-sandbox-to-card-data pci.cardholder 1.2.0" ] && ok "deny cites rule, policy and version" || not_ok "deny cites rule, policy and version" "$rule"
echo "$OUT" | jq -e '.effect == "forbidden" and .allow == false and (.decision_id | length) == 36 and (.model.sha256 | length) == 64 and (.bundle.sha256 | length) == 64 and (.reasons[0].source | test("^policies/pci/cardholder.lua:[0-9]+$"))' >/dev/null &&
	ok "decision JSON shape" || not_ok "decision JSON shape" "$OUT"
run_cmd "$MESHPOL" decide -m examples/acme -p policies examples/requests/deny-recommendations-scoring.json
echo "$OUT" | jq -e '.effect == "not_permitted"' >/dev/null && ok "nothing allowed it: not_permitted" || not_ok "not_permitted" "$OUT"

"$MESHPOL" compile -o "$TMP/acme.mpm" examples/acme >/dev/null
run_cmd sh -c "\"$MESHPOL\" decide -m \"$TMP/acme.mpm\" -p policies - < examples/requests/allow-checkout-charge.json"
[ "$RC" -eq 0 ] && ok "decide from stdin with a compiled model" || not_ok "decide from stdin" "$ERR"
run_cmd "$MESHPOL" decide --explain -m examples/acme -p policies examples/requests/allow-checkout-charge.json
echo "$OUT" | jq -e '(.explain | length) > 0 and (.explain[] | has("matched") and has("rule"))' >/dev/null &&
	ok "--explain lists considered rules" || not_ok "--explain" "$OUT"
expect_rc "no bundle: default deny" 1 "$MESHPOL" decide -m examples/acme examples/requests/allow-checkout-charge.json

printf '{"destination": {"service": "shop/cart"},\n "source": {"principal": }\n}\n' > "$TMP/bad.json"
expect_rc "invalid JSON exits 2" 2 "$MESHPOL" decide -m examples/acme -p policies "$TMP/bad.json"
expect_out "invalid JSON at line and column" "$TMP/bad.json:2:[0-9]+: invalid JSON"
echo '{"source": {"principal": "spiffe://x"}}' > "$TMP/nodest.json"
expect_rc "missing destination exits 2" 2 "$MESHPOL" decide -m examples/acme -p policies "$TMP/nodest.json"
expect_out "missing field named" 'destination: missing'
echo '{"destination": {"service": "shop/cart", "port": "80"}}' > "$TMP/port.json"
expect_rc "wrong type exits 2" 2 "$MESHPOL" decide -m examples/acme -p policies "$TMP/port.json"
expect_out "wrong field named" 'destination.port: must be an integer'
expect_rc "decide needs -m" 2 "$MESHPOL" decide -p policies examples/requests/allow-checkout-charge.json

# Strict inputs (issue 11): a misspelt key is an error naming its path and the nearest key, never
# ignored (which let a DELETE through a DELETE deny).
mkdir "$TMP/nodelete"
printf 'name: nodelete\nrevision: "1"\ndefault: allow\n' > "$TMP/nodelete/bundle.yaml"
printf 'policy "p" { version = "1.0.0", kind = "rbac" }\ndeny "no-delete" { service = "*", methods = { "DELETE" } }\n' > "$TMP/nodelete/p.lua"
echo '{"destination": {"service": "shop/web"}, "request": {"method": "DELETE"}}' > "$TMP/delete.json"
expect_rc "spelt right, the DELETE deny applies" 1 "$MESHPOL" decide -m "$UNIT/mesh.yaml" -p "$TMP/nodelete" "$TMP/delete.json"
echo '{"destination": {"service": "shop/web"}, "request": {"methd": "DELETE"}}' > "$TMP/methd.json"
expect_rc "request.methd is refused, not allowed" 2 "$MESHPOL" decide -m "$UNIT/mesh.yaml" -p "$TMP/nodelete" "$TMP/methd.json"
expect_out "request.methd named with the nearest key" "request.methd: unknown key \\(did you mean 'method'\\?\\)"
echo '{"destination": {"service": "shop/web"}, "requst": {"method": "DELETE"}}' > "$TMP/requst.json"
expect_rc "requst is refused, not allowed" 2 "$MESHPOL" decide -m "$UNIT/mesh.yaml" -p "$TMP/nodelete" "$TMP/requst.json"
expect_out "requst named with the nearest key" "requst: unknown key \\(did you mean 'request'\\?\\)"
echo '{"destination": {"service": "shop/web", "external": false, "cluster": "eu1"}, "source": {"labels": {"app": "x"}, "cluster": "eu1"}, "request": {"method": "DELETE"}}' > "$TMP/reserved.json"
expect_rc "the reserved keys are accepted" 1 "$MESHPOL" decide -m "$UNIT/mesh.yaml" -p "$TMP/nodelete" "$TMP/reserved.json"

# ... and in the tables of `meshpol test`
cp -r "$UNIT" "$TMP/typos"
cat > "$TMP/typos/typo_test.lua" <<'LUA'
test "a misspelt method (passed without testing DELETE)" (function()
  expect_deny { from = "shop/web", to = "shop/web", methd = "DELETE" }
end)
test "misspelt rule and effect" (function()
  expect_deny { from = "sandbox/echo", to = "billing/pay", method = "POST", rul = "no-sandbox", efect = "forbidden" }
end)
test "a port by name" (function()
  expect_allow { from = "shop/web", to = "shop/web", port = "http" }
end)
LUA
expect_rc "misspelt expectations fail the run" 1 "$MESHPOL" test "$TMP/typos"
expect_out "methd named at file:line" "$TMP/typos/typo_test.lua:2: expect_deny: unknown key 'methd' \\(did you mean 'method'\\?\\)"
expect_out "rul and efect named at file:line, sorted" "$TMP/typos/typo_test.lua:5: expect_deny: unknown keys 'efect' \\(did you mean 'effect'\\?\\), 'rul' \\(did you mean 'rule'\\?\\)"
expect_out "port by name refused" "$TMP/typos/typo_test.lua:8: 'port' must be an integer 1..65535, not a string"
expect_out "typos closing line" '^3 passed, 3 failed$'

# ... and in declarations: a string where a list is expected, a misspelt field
cp -r "$UNIT" "$TMP/dsl"
printf 'policy "s" { version = "1.0.0", kind = "rbac", controls = "SOC2" }\nallow "x" { service = "*", methods = "GET" }\ndeny "y" { service = "*", methds = { "GET" } }\n' > "$TMP/dsl/strict.lua"
expect_rc "check refuses loose declarations" 2 "$MESHPOL" check "$TMP/dsl"
expect_out "controls must be a list" "$TMP/dsl/strict.lua:1: policy 's': 'controls' must be a list of strings, not a string"
expect_out "methods must be a list" "$TMP/dsl/strict.lua:2: allow 'x': 'methods' must be a list of strings, not a string"
expect_out "misspelt field named" "$TMP/dsl/strict.lua:3: deny 'y': unknown field 'methds' \\(did you mean 'methods'\\?\\)"
e2e_done
