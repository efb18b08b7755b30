#!/usr/bin/env bash
# tests/e2e/junit.sh: JUnit from `meshpol audit` and `meshpol test` as CI servers read it: valid
# against the Jenkins xunit plugin's junit-10.xsd (tests/data/junit-10.xsd, xmllint), parsed by
# junit2json (tests/npm, tests/e2e/junit_read.mjs), and every failures and errors attribute equal
# to the elements it counts. Then `test --format json`, `-o`, `--run` that selects nothing, and
# `--watch` running the tests again when the bundle changes.
. "$(dirname "$0")/lib.sh"
XSD=tests/data/junit-10.xsd
D=tests/data/audit

expect_eq() {
	if [ "$2" = "$3" ]; then ok "$1"; else not_ok "$1" "got:  $2" "want: $3"; fi
}
xp() { xmllint --xpath "$2" "$1"; }

# junit_ok NAME FILE: valid, attributes equal to the elements, junit2json reads the same.
junit_ok() {
	local name=$1 f=$2 bad="" s
	if xmllint --noout --schema "$XSD" "$f" 2>"$TMP/xerr"; then ok "$name: valid against junit-10.xsd"; else not_ok "$name: junit-10.xsd" "$(head -5 "$TMP/xerr")"; fi
	for s in $(seq 1 "$(xp "$f" 'count(//testsuite)')"); do
		local t="(//testsuite)[$s]"
		[ "$(xp "$f" "string($t/@failures)")" = "$(xp "$f" "count($t/testcase[failure])")" ] &&
			[ "$(xp "$f" "count($t/testcase/failure)")" = "$(xp "$f" "count($t/testcase[failure])")" ] &&
			[ "$(xp "$f" "string($t/@errors)")" = "$(xp "$f" "count($t/testcase/error)")" ] &&
			[ "$(xp "$f" "string($t/@tests)")" = "$(xp "$f" "count($t/testcase)")" ] ||
			bad+="$(xp "$f" "string($t/@name)") "
	done
	[ "$(xp "$f" 'string(/testsuites/@failures)')" = "$(xp "$f" 'count(//failure)')" ] || bad+="(total failures) "
	[ "$(xp "$f" 'string(/testsuites/@errors)')" = "$(xp "$f" 'count(//error)')" ] || bad+="(total errors) "
	expect_eq "$name: failures and errors count their elements" "$bad" ""
	local read
	read=$(node tests/e2e/junit_read.mjs "$f" 2>&1)
	local declared=${read%% | *} counted=${read##*| counted }
	expect_eq "$name: junit2json reads totals that match what it counts" "$declared" "$counted"
}

"$MESHPOL" audit -m examples/acme -p policies --format junit -o "$TMP/acme.xml"
junit_ok "audit" "$TMP/acme.xml"
G='//testsuite[@name="residency.gdpr"]'
expect_eq "residency.gdpr: failures 2, two failure elements holding its 9 findings" \
	"$(xp "$TMP/acme.xml" "string($G/@failures)") $(xp "$TMP/acme.xml" "count($G//failure)") $(grep -c '^subject: ' <(xp "$TMP/acme.xml" "$G//failure/text()"))" "2 2 9"

"$MESHPOL" audit -m $D/rbac -p $D/broken-bundle --format junit -o "$TMP/err.xml"
expect_eq "an audit with a failing check exits 3" "$?" 3
junit_ok "audit with an error" "$TMP/err.xml"

cp -r policies "$TMP/pw"
sed -i "s#^model: .*#model: $PWD/examples/acme#" "$TMP/pw/bundle.yaml"
printf 'waivers:\n  - rule: rbac.billing/payments-any-caller\n    subject: rule payments-any-caller on billing/payments\n    reason: migration\n    owner: payments\n    expires: 2999-01-01\n' >"$TMP/pw/waivers.yaml"
"$MESHPOL" audit -m examples/acme -p "$TMP/pw" --format junit -o "$TMP/w.xml"
junit_ok "audit with a waiver" "$TMP/w.xml"
expect_eq "a rule whose findings are all waived passes, its findings in system-out" \
	"$(xp "$TMP/w.xml" 'count(//testcase[@name="payments-any-caller"]/failure)') $(xp "$TMP/w.xml" 'count(//testcase[@name="payments-any-caller"]/system-out)')" "0 1"

# meshpol test
run_cmd "$MESHPOL" test --format junit policies
expect_eq "test --format junit: exit 0, the summary on stderr" "$RC $ERR" "0 49 passed, 0 failed"
printf '%s\n' "$OUT" >"$TMP/t.xml"
junit_ok "test" "$TMP/t.xml"
mkdir -p "$TMP/tb"
cp tests/data/bundles/unit/* "$TMP/tb/"
cat >"$TMP/tb/more_test.lua" <<'LUA'
test "wrong expectation" (function() expect_allow { from = "sandbox/echo", to = "billing/pay", method = "POST", path = "/v1/charge" } end)
test "two wrong" (function()
  expect_deny { from = "shop/web", to = "billing/pay", method = "POST", path = "/v1/charge" }
  expect_allow { from = "sandbox/echo", to = "shop/web", method = "GET", path = "/admin" }
end)
test "raises" (function() expect_allow { to = "billing/pay", methd = "GET" } end)
LUA
run_cmd "$MESHPOL" test --format junit -o "$TMP/tf.xml" "$TMP/tb"
expect_eq "failing tests, -o FILE: exit 1, the summary on stdout" "$RC $OUT" "1 3 passed, 3 failed"
junit_ok "test with failures and errors" "$TMP/tf.xml"
expect_eq "one failure element a failed test, every expectation in it" \
	"$(xp "$TMP/tf.xml" 'count(//testcase[@name="two wrong"]/failure)') $(xp "$TMP/tf.xml" 'string(//testcase[@name="two wrong"]/failure)' | grep -c 'expected')" "1 2"
expect_eq "a test that raises is an error" "$(xp "$TMP/tf.xml" 'count(//testcase[@name="raises"]/error)')" 1
run_cmd "$MESHPOL" test --format json "$TMP/tb"
printf '%s\n' "$OUT" >"$TMP/t.json"
jq -e '.passed == 3 and .failed == 3 and ([.tests[].status] | sort) == ["error","fail","fail","pass","pass","pass"] and ([.tests[] | select(.name == "two wrong") | .failures | length] == [2])' "$TMP/t.json" >/dev/null &&
	ok "test --format json: every test with its status and failures" || not_ok "test json" "$OUT"
expect_rc "test --format xml: exit 2" 2 "$MESHPOL" test --format xml policies
expect_out "names the formats" "--format takes text, junit or json, not 'xml'"
expect_rc "test --run matching nothing: exit 2" 2 "$MESHPOL" test --format junit --run nothing-matches policies
expect_out "and says so" "--run 'nothing-matches' matches no test in policies"

# --watch: a change to the bundle runs the tests again; SIGTERM stops it.
"$MESHPOL" test --watch "$TMP/tb" >"$TMP/watch.out" 2>"$TMP/watch.err" &
pid=$!
for _ in $(seq 1 50); do grep -q 'watching' "$TMP/watch.err" && break; sleep 0.1; done
sed -i 's/test "raises".*$//' "$TMP/tb/more_test.lua"
for _ in $(seq 1 50); do [ "$(grep -c 'passed,' "$TMP/watch.out")" -ge 2 ] && break; sleep 0.1; done
kill -TERM "$pid" 2>/dev/null
wait "$pid"
rc=$?
expect_eq "--watch ran the tests again after the change, then stopped on SIGTERM" \
	"$(grep 'passed,' "$TMP/watch.out" | tr '\n' ';')exit $rc" "3 passed, 3 failed;3 passed, 2 failed;exit 1"
grep -q 'more_test.lua changed' "$TMP/watch.err" && ok "--watch names what changed" || not_ok "--watch names the change" "$(cat "$TMP/watch.err")"
e2e_done
