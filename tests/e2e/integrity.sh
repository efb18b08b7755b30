#!/usr/bin/env bash
# tests/e2e/integrity.sh: evaluation integrity as an attacker who writes policies would test it:
# a `when` bound to its own rule in every Lua state (rules declared over pairs()), a request no
# policy can change for another, advisory policies that never decide, the same load budget in
# every front-end, and a test runner that survives hostile test files. Bundles:
# tests/data/integrity/.
. "$(dirname "$0")/server_lib.sh"
D=tests/data/integrity
MESH=tests/data/bundles/unit/mesh.yaml
printf '%s' '{"source":{"service":"web","namespace":"shop"},"destination":{"service":"web","namespace":"shop"},"request":{"method":"GET","path":"/"}}' >"$TMP/web.json"
printf '%s' '{"source":{"service":"web","namespace":"shop"},"destination":{"service":"pay","namespace":"billing"},"request":{"method":"GET","path":"/"}}' >"$TMP/pay.json"

# 1. Rules declared in a loop over pairs(): each process seeds string hashing anew, so the
# order differs from run to run; the deny's `when` must stay on the deny.
same=0
for i in $(seq 1 8); do
	run_cmd "$MESHPOL" decide -m "$MESH" -p "$D/pairs" "$TMP/web.json"
	[ "$RC" -eq 1 ] && [ "$(echo "$OUT" | jq -r '.reasons[0].rule')" = deny-k17 ] && same=$((same + 1))
done
[ "$same" -eq 8 ] && ok "pairs(): 8 of 8 decide runs deny, citing deny-k17" || not_ok "pairs(): 8 of 8 decide runs deny" "$same of 8" "$OUT"
passes=0
for i in $(seq 1 4); do
	"$MESHPOL" test "$D/pairs" >/dev/null 2>&1 && passes=$((passes + 1))
done
[ "$passes" -eq 4 ] && ok "pairs(): meshpol test passes 4 of 4 runs" || not_ok "pairs(): meshpol test is stable" "$passes of 4"

if start_server pairs -m "$MESH" -p "$D/pairs" --workers 2; then
	rules=$(for i in $(seq 1 12); do
		"${CURL[@]}" -X POST --data-binary @"$TMP/web.json" "$BASE/v1/decide" | jq -r '"\(.allow) \(.reasons[0].rule)"'
	done | sort | uniq -c | awk '{$1=$1; print}')
	[ "$rules" = "12 false deny-k17" ] && ok "pairs(): 12 of 12 requests through both workers deny, citing deny-k17" ||
		not_ok "pairs(): every request through serve denies" "$rules"
	expect_stop pairs
else
	not_ok "pairs(): serve starts" "$(tail -5 "$TMP/pairs.log")"
fi

# A declaration whose content depends on the iteration order (a counter-named rule capturing
# the loop's value) cannot be bound safely: every front-end refuses the bundle at load.
expect_rc "pairs() with a counter: check refuses the bundle" 2 "$MESHPOL" check "$D/counter"
expect_out "the refusal names the rule and why" \
	'counter.lua:10: rule "rule-[0-9]+" of policy "t.counter" declares something else when the bundle runs again \(its declaration depends on the order of pairs\(\)'
expect_rc "pairs() with a counter: decide refuses the bundle" 2 "$MESHPOL" decide -m "$MESH" -p "$D/counter" "$TMP/web.json"

# 2. One policy's `when` cannot change the request another policy's `when` sees, whatever the
# file order (a_ and a2_ run before b_, z_ after).
same=0
for i in $(seq 1 4); do
	run_cmd "$MESHPOL" decide -m "$MESH" -p "$D/sharedreq" "$TMP/pay.json"
	[ "$RC" -eq 1 ] && [ "$(echo "$OUT" | jq -r '.reasons[0].rule')" = no-shop-to-billing ] && same=$((same + 1))
done
[ "$same" -eq 4 ] && ok "a when that clears req.source.namespace does not disarm another policy's deny" ||
	not_ok "tampering with req stays with its policy" "$same of 4" "$OUT"
cat >"$TMP/probe.lua" <<'LUA'
policy "t.probe" { version = "1.0.0", kind = "rbac" }
deny "probe" { service = "billing/pay", when = function(req)
  local ok = pcall(function() req.source.namespace = "x" end)
  local ok2 = pcall(function() req.request.headers["x"] = "y" end)
  local ok3 = pcall(rawset, req, "source", {})
  error(("writes: %s %s %s; ns=%s"):format(ok, ok2, ok3, tostring(req.source.namespace)))
end }
LUA
cp -r "$D/sharedreq" "$TMP/probe" && cp "$TMP/probe.lua" "$TMP/probe/"
sed -i 's#model: ../../bundles/unit/mesh.yaml#model: '"$PWD/$MESH"'#' "$TMP/probe/bundle.yaml"
run_cmd "$MESHPOL" decide -m "$MESH" -p "$TMP/probe" "$TMP/pay.json"
echo "$OUT" | jq -e '[.reasons[] | select(.rule == "probe")][0].message | test("writes: false false false; ns=shop")' >/dev/null &&
	ok "req is read-only at every level (assignment and rawset refused)" || not_ok "req is read-only" "$OUT"

# 3. Advisory policies never change the decision, not even when their `when` fails or runs
# out of budget: the failures are advisories.
run_cmd "$MESHPOL" decide -m "$MESH" -p "$D/adverr" "$TMP/web.json"
[ "$RC" -eq 0 ] && ok "an advisory when that errors does not deny" || not_ok "an advisory when that errors does not deny" "exit $RC" "$OUT"
echo "$OUT" | jq -e '.allow == true and ([.advisories[] | select(.effect == "error")] | length) == 2 and
	(.advisories[0].message | test("advisory bug")) and (.advisories[1].message | test("budget"))' >/dev/null &&
	ok "advisory failures are reported as advisories" || not_ok "advisory failures are reported as advisories" "$OUT"

# 4. Top-level code gets the load budget in every front-end (here 1.5M instructions: more than
# one `when` call may use, far less than loading may).
expect_rc "check loads a bundle whose top level needs 1.5M instructions" 0 "$MESHPOL" check "$D/loadcost"
expect_out "check reports the load cost against the budget" \
	'heavy.lua: load: [0-9.]+M of 100M instructions'
expect_rc "decide loads it the same way and allows" 0 "$MESHPOL" decide -m "$MESH" -p "$D/loadcost" "$TMP/web.json"

# 5. Hostile test files: metamethods on every table the runner reads, values nothing else holds,
# aliased and cyclic inputs. Under `make check` AddressSanitizer watches this run.
cp -r tests/data/bundles/unit "$TMP/hostile"
cp "$D/hostile/hostile_test.lua" "$TMP/hostile/"
run_cmd timeout 120 "$MESHPOL" test "$TMP/hostile"
[ "$RC" -eq 1 ] && ok "hostile test file: the runner reports, exit 1" || not_ok "hostile test file: exit 1" "exit $RC" "${OUT: -800}" "${ERR: -800}"
expect_out "hostile: closing line" '^11 passed, 3 failed$'
expect_out "hostile: an __index that raises fails its test" 'error: .*hostile_test.lua:[0-9]+: hostile index'
expect_out "hostile: an __index that spins runs out of budget" 'error: .*instruction budget exceeded'
expect_out "hostile: an aliased input is refused, not expanded" 'input: not convertible to JSON'

e2e_done
