#!/usr/bin/env bash
# tests/e2e/server_opa.sh: OPA's REST API on `meshpol serve` (docs/server.md, "OPA's REST API"):
# OPA's own JavaScript SDK (tests/npm) runs its documented calls and error paths against the
# server; then curl covers the document tree, every query parameter, the default decision,
# gzip bodies, OPA-Envoy's input, the decision log, hostile requests (a malformed ?input=, a
# huge query, a gzip bomb, a wrong Content-Encoding, deep JSON) and the documented examples.
. "$(dirname "$0")/server_lib.sh"

DECLOG=$TMP/decisions.jsonl
start_server opa -m examples/acme -p policies --workers 2 --decision-log "$DECLOG" || exit 1
in_allow=$(jq -c '{input: .}' examples/requests/allow-checkout-charge.json)
in_deny=$(jq -c '{input: .}' examples/requests/deny-sandbox-payments.json)
records() { grep -c '"type":"decision"' "$DECLOG"; }

# --- OPA's SDK (@open-policy-agent/opa, installed by scripts/install-deps.sh) ---
if [ -d tests/npm/node_modules/@open-policy-agent/opa ]; then
	node tests/npm/opa_sdk.mjs "$BASE" "http://127.0.0.1:$(free_port)" >"$TMP/sdk.out" 2>&1
	rc=$?
	cat "$TMP/sdk.out"
	grep -q '^ok - sdk: ' "$TMP/sdk.out" && [ $rc -eq 0 ] && ok "sdk: every SDK check passed" ||
		not_ok "sdk: every SDK check passed" "exit $rc" "$(grep -v '^ok - ' "$TMP/sdk.out" | head -20)"
else
	not_ok "sdk: @open-policy-agent/opa is installed in tests/npm/node_modules" \
		"run scripts/install-deps.sh (npm ci in tests/npm)"
fi

# --- the document tree ---
check "tree: meshpol/allow of an allowed request" 200 --data "$in_allow" "$BASE/v1/data/meshpol/allow"
jq_ok "tree: {decision_id, result: true}" '.result == true and (.decision_id | length) == 36 and keys == ["decision_id", "result"]'
allow_id=$(jq -r .decision_id <<<"$BODY")
logged "tree: the decision is logged from /v1/data" "$allow_id" '.endpoint == "/v1/data" and .decision.allow == true and .input.destination.service == "payments"'
check "tree: meshpol/allow of a forbidden request" 200 --data "$in_deny" "$BASE/v1/data/meshpol/allow"
jq_ok "tree: result false" '.result == false'
check "tree: meshpol/decision" 200 --data "$in_deny" "$BASE/v1/data/meshpol/decision"
jq_ok "tree: the decision object, its id the reply's" '.result.allow == false and .result.effect == "forbidden" and .result.decision_id == .decision_id and .result.reasons[0].rule == "no-sandbox-to-card-data"'
check "tree: meshpol/effect" 200 --data "$in_deny" "$BASE/v1/data/meshpol/effect"
jq_ok "tree: effect forbidden" '.result == "forbidden"'
check "tree: meshpol/reasons" 200 --data "$in_deny" "$BASE/v1/data/meshpol/reasons"
jq_ok "tree: the reasons array" '(.result | type) == "array" and .result[0].rule == "no-sandbox-to-card-data"'
check "tree: meshpol/reasons/0/rule (an integer segment indexes)" 200 --data "$in_deny" "$BASE/v1/data/meshpol/reasons/0/rule"
jq_ok "tree: the first reason's rule" '.result == "no-sandbox-to-card-data"'
check "tree: meshpol" 200 --data "$in_deny" "$BASE/v1/data/meshpol"
jq_ok "tree: meshpol has allow, effect, reasons, decision" '(.result | keys) == ["allow", "decision", "effect", "reasons"] and .result.allow == false and .result.decision.decision_id == .decision_id'
check "tree: /v1/data is the whole tree" 200 --data "$in_deny" "$BASE/v1/data"
jq_ok "tree: data has meshpol" '(.result | keys) == ["meshpol"] and .result.meshpol.effect == "forbidden"'
check "tree: /v1/data/ is the whole tree too" 200 --data "$in_deny" "$BASE/v1/data/"
jq_ok "tree: data/ has meshpol" '(.result | keys) == ["meshpol"]'
check "tree: empty segments are skipped (meshpol//allow)" 200 --data "$in_allow" "$BASE/v1/data/meshpol//allow/"
jq_ok "tree: meshpol//allow is meshpol/allow" '.result == true'
check "tree: %-escaped segments are decoded (meshpol/%61llow)" 200 --data "$in_allow" "$BASE/v1/data/meshpol/%61llow"
jq_ok "tree: meshpol/%61llow is meshpol/allow" '.result == true'
n0=$(records)
check "tree: an undefined document (envoy/authz/allow) is 200" 200 --data "$in_allow" "$BASE/v1/data/envoy/authz/allow"
[ "$BODY" = "{}" ] && ok "tree: undefined is {} with no result (a deny rule is never read as the allow)" ||
	not_ok "tree: undefined is {} with no result" "body: $BODY"
check "tree: meshpol/deny is undefined (not the negation)" 200 --data "$in_allow" "$BASE/v1/data/meshpol/deny"
[ "$BODY" = "{}" ] && ok "tree: meshpol/deny is {}" || not_ok "tree: meshpol/deny is {}" "body: $BODY"
[ "$(records)" = "$n0" ] && ok "tree: an undefined document is not decided nor logged" ||
	not_ok "tree: an undefined document is not decided nor logged" "records: $n0 -> $(records)"
check "tree: meshpol/reasons/99 is decided, undefined in it" 200 --data "$in_deny" "$BASE/v1/data/meshpol/reasons/99"
jq_ok "tree: a decision id and no result" 'keys == ["decision_id"]'
check "tree: meshpol/allow/x is undefined" 200 --data "$in_allow" "$BASE/v1/data/meshpol/allow/x"
jq_ok "tree: no result under a boolean" 'has("result") | not'
check "tree: a body without input on an undefined path: OPA's warning" 200 --data '{"other": 1}' "$BASE/v1/data/x/y"
jq_ok "tree: api_usage_warning" '.warning.code == "api_usage_warning" and (has("result") | not)'
check "tree: keys beside input are not read" 200 --data "$(jq -c '. + {other: [1, 2]}' <<<"$in_allow")" "$BASE/v1/data/meshpol/allow"
jq_ok "tree: still decided" '.result == true'

# every example: the decision object of /v1/data is /v1/decide's, and POST / is its allow
same=0
for f in examples/requests/*.json; do
	a=$("${CURL[@]}" --data "{\"input\": $(cat "$f")}" "$BASE/v1/data/meshpol/decision" | jq -c '.result | del(.decision_id)')
	b=$("${CURL[@]}" --data-binary @"$f" "$BASE/v1/decide" | jq -c 'del(.decision_id)')
	c=$("${CURL[@]}" --data-binary @"$f" "$BASE/")
	g=$("${CURL[@]}" -G --data-urlencode "input@$f" "$BASE/v1/data/meshpol/decision" | jq -c '.result | del(.decision_id)')
	if [ -n "$a" ] && [ "$a" = "$b" ] && [ "$a" = "$g" ] && [ "$c" = "$(jq -c .allow <<<"$b")" ]; then
		same=$((same + 1))
	else
		not_ok "example $(basename "$f"): /v1/data, GET ?input=, POST / and /v1/decide agree" "data: ${a:0:200}" "decide: ${b:0:200}" "get: ${g:0:200}" "/: $c"
	fi
done
[ "$same" -eq "$(ls examples/requests/*.json | wc -l)" ] && ok "every example: /v1/data, GET ?input=, POST / and /v1/decide agree ($same)"

# --- GET with ?input= ---
check "get: ?input= (URL-encoded JSON)" 200 -G --data-urlencode "input@examples/requests/allow-checkout-charge.json" "$BASE/v1/data/meshpol/allow"
jq_ok "get: decided" '.result == true and (.decision_id | length) == 36'
plus=$(jq -c . examples/requests/deny-sandbox-payments.json | sed 's/:/:+/g; s/"/%22/g; s/{/%7B/g; s/}/%7D/g; s/,/%2C/g')
check "get: '+' is a space in ?input=, as Go's query parser reads it" 200 "$BASE/v1/data/meshpol/allow?input=$plus"
jq_ok "get: decided with '+' as spaces" '.result == false'
check "get: the last ?input= counts" 200 "$BASE/v1/data/meshpol/allow?input=%7B%7D&input=$plus"
jq_ok "get: the last one" '.result == false'
check "get: no input is 400" 400 "$BASE/v1/data/meshpol/allow"
jq_ok "get: OPA's invalid_parameter saying what is missing" '.code == "invalid_parameter" and (.message | startswith("input: missing")) and keys == ["code", "message"]'
check "get: HEAD is answered as GET" 200 -I -G --data-urlencode "input@examples/requests/allow-checkout-charge.json" "$BASE/v1/data/meshpol/allow"

# --- POST /: the default decision ---
check "default: POST / with an allowed input" 200 --data-binary @examples/requests/allow-checkout-charge.json "$BASE/"
[ "$BODY" = "true" ] && ok "default: the body is meshpol/allow itself: true" || not_ok "default: the body is true" "body: $BODY"
did=$(grep -i '^x-meshpol-decision-id:' <<<"$HDRS" | tr -d '\r' | awk '{print $2}')
logged "default: logged, its id in x-meshpol-decision-id" "$did" '.endpoint == "/v1/data" and .decision.allow == true'
check "default: a denial" 200 --data-binary @examples/requests/deny-sandbox-payments.json "$BASE/"
[ "$BODY" = "false" ] && ok "default: false" || not_ok "default: false" "body: $BODY"
check "default: ?pretty" 200 --data-binary @examples/requests/deny-sandbox-payments.json "$BASE/?pretty"
[ "$BODY" = "false" ] && ok "default: pretty false" || not_ok "default: pretty false" "body: $BODY"
check "default: an empty body is 400" 400 -X POST "$BASE/"
jq_ok "default: input missing" '.code == "invalid_parameter" and (.message | startswith("input: missing"))'
printf '%*s\n\t\r' 8000 '' >"$TMP/ws.txt" # white space to the end: the scan stays within the body
check "default: a body of white space only is no body (400)" 400 --data-binary @"$TMP/ws.txt" "$BASE/"
jq_ok "default: input missing, as for an empty body" '.code == "invalid_parameter" and (.message | startswith("input: missing"))'
gzip -c "$TMP/ws.txt" >"$TMP/ws.gz"
check "default: the same white space gzipped" 400 -H 'Content-Encoding: gzip' --data-binary @"$TMP/ws.gz" "$BASE/"
jq_ok "default: input missing once decompressed" '.code == "invalid_parameter" and (.message | startswith("input: missing"))'
check "default: a body {\"input\": ...} is not OPA's POST / (the body is the input)" 400 --data "$in_allow" "$BASE/"
jq_ok "default: names the unknown key" '.message | startswith("input.input: unknown key")'
check "default: GET / is 405" 405 "$BASE/"
jq_ok "default: 405 in OPA's shape" '.code == "invalid_operation"'
grep -qi '^allow: POST' <<<"$HDRS" && ok "default: Allow: POST" || not_ok "default: Allow: POST" "$HDRS"

# --- query parameters ---
check "pretty: ?pretty" 200 --data "$in_allow" "$BASE/v1/data/meshpol/allow?pretty"
[ "$(printf '%s' "$BODY" | head -2 | tail -1)" = '  "decision_id": "'"$(jq -r .decision_id <<<"$BODY")"'",' ] &&
	ok "pretty: two-space indent, one member a line" || not_ok "pretty: two-space indent" "body: $BODY"
[ "$(tail -c 1 "$TMP/body" | od -An -c | tr -d ' ')" = '\n' ] && ok "pretty: ends with a newline" || not_ok "pretty: ends with a newline"
check "pretty: ?pretty=TRUE" 200 --data "$in_allow" "$BASE/v1/data/meshpol/allow?pretty=TRUE"
[ "$(wc -l <"$TMP/body")" -ge 3 ] && ok "pretty: TRUE counts" || not_ok "pretty: TRUE counts" "body: $BODY"
check "pretty: ?pretty=false" 200 --data "$in_allow" "$BASE/v1/data/meshpol/allow?pretty=false"
[ "$(wc -l <"$TMP/body")" -eq 0 ] && ok "pretty: false is compact" || not_ok "pretty: false is compact" "body: $BODY"
check "metrics: ?metrics" 200 --data "$in_deny" "$BASE/v1/data/meshpol/allow?metrics"
jq_ok "metrics: OPA's timer names, in ns" '(.metrics | keys) == ["timer_rego_input_parse_ns", "timer_rego_query_eval_ns", "timer_server_handler_ns"] and .metrics.timer_rego_query_eval_ns > 0 and .metrics.timer_server_handler_ns >= .metrics.timer_rego_query_eval_ns and .metrics.timer_server_handler_ns >= .metrics.timer_rego_input_parse_ns'
check "metrics: ?instrument gives them too" 200 --data "$in_deny" "$BASE/v1/data/meshpol/allow?instrument"
jq_ok "metrics: instrument" '.metrics.timer_server_handler_ns > 0'
health=$("${CURL[@]}" "$BASE/health")
check "provenance: ?provenance" 200 --data "$in_deny" "$BASE/v1/data/meshpol/allow?provenance=true"
if printf '%s' "$BODY" | jq -e --argjson h "$health" '.provenance.bundles[$h.bundle.name].revision == $h.bundle.revision and .provenance.bundles[$h.bundle.name].sha256 == $h.bundle.sha256 and .provenance.model.sha256 == $h.model.sha256 and (.provenance.version | length) > 0' >/dev/null; then
	ok "provenance: bundle revision and sha256, model sha256, as /health says"
else
	not_ok "provenance: bundle revision and sha256, model sha256, as /health says" "body: ${BODY:0:400}" "health: ${health:0:300}"
fi
check "provenance: on an undefined document too" 200 --data "$in_deny" "$BASE/v1/data/nothing?provenance"
jq_ok "provenance: undefined, with provenance" '(has("result") | not) and (.provenance.model.sha256 | length) == 64'
check "explain: ?explain=full" 200 --data "$in_deny" "$BASE/v1/data/meshpol/allow?explain=full"
full=$(jq '.explanation | length' <<<"$BODY")
jq_ok "explain: every rule considered, each with matched" '(.explanation | length) > 3 and all(.explanation[]; has("matched") and has("rule") and has("source"))'
check "explain: ?explain=fails" 200 --data "$in_deny" "$BASE/v1/data/meshpol/allow?explain=fails"
fails=$(jq '.explanation | length' <<<"$BODY")
jq_ok "explain: fails lists the rules that did not match, with why" 'all(.explanation[]; .matched == false and has("why"))'
check "explain: ?explain=notes" 200 --data "$in_deny" "$BASE/v1/data/meshpol/allow?explain=notes"
notes=$(jq '.explanation | length' <<<"$BODY")
jq_ok "explain: notes lists the rules that matched" '(.explanation | length) > 0 and all(.explanation[]; .matched == true)'
[ $((fails + notes)) -eq "$full" ] && ok "explain: notes + fails = full ($notes + $fails = $full)" || not_ok "explain: notes + fails = full" "$notes + $fails != $full"
check "explain: ?explain=debug is full" 200 --data "$in_deny" "$BASE/v1/data/meshpol/allow?explain=debug"
jq_ok "explain: debug" "(.explanation | length) == $full"
check "explain: an unknown mode is off, as in OPA" 200 --data "$in_deny" "$BASE/v1/data/meshpol/allow?explain=verbose&strict-builtin-errors&unknown=1"
jq_ok "explain: no explanation; unknown parameters ignored" 'has("explanation") | not'
check "params: all at once" 200 --data "$in_deny" "$BASE/v1/data/meshpol/effect?pretty&metrics&provenance&explain=notes"
jq_ok "params: result, provenance, metrics, explanation" '.result == "forbidden" and has("provenance") and has("metrics") and has("explanation")'

# --- gzip request bodies ---
printf '%s' "$in_allow" | gzip >"$TMP/allow.gz"
check "gzip: Content-Encoding: gzip" 200 -H 'Content-Encoding: gzip' --data-binary @"$TMP/allow.gz" "$BASE/v1/data/meshpol/allow"
jq_ok "gzip: decided" '.result == true'
check "gzip: x-gzip" 200 -H 'Content-Encoding: x-gzip' --data-binary @"$TMP/allow.gz" "$BASE/v1/data/meshpol/allow"
check "gzip: POST / too" 200 -H 'Content-Encoding: gzip' --data-binary @<(gzip <examples/requests/allow-checkout-charge.json) "$BASE/"
[ "$BODY" = "true" ] && ok "gzip: POST / decided" || not_ok "gzip: POST / decided" "body: $BODY"
{ printf '%s' "${in_allow:0:40}" | gzip; printf '%s' "${in_allow:40}" | gzip; } >"$TMP/two.gz"
check "gzip: two members in a row (as gunzip reads them)" 200 -H 'Content-Encoding: gzip' --data-binary @"$TMP/two.gz" "$BASE/v1/data/meshpol/allow"
jq_ok "gzip: both members read" '.result == true'
check "gzip: identity is no coding" 200 -H 'Content-Encoding: identity' --data "$in_allow" "$BASE/v1/data/meshpol/allow"
check "gzip: a body that is not gzip is 400" 400 -H 'Content-Encoding: gzip' --data "$in_allow" "$BASE/v1/data/meshpol/allow"
jq_ok "gzip: could not decompress" '.code == "invalid_parameter" and (.message | startswith("could not decompress the body"))'
head -c $(($(stat -c %s "$TMP/allow.gz") - 6)) "$TMP/allow.gz" >"$TMP/short.gz"
check "gzip: a truncated stream is 400" 400 -H 'Content-Encoding: gzip' --data-binary @"$TMP/short.gz" "$BASE/v1/data/meshpol/allow"
jq_ok "gzip: says it ends early" '.message == "could not decompress the body: the gzip stream ends early"'
{ cat "$TMP/allow.gz"; printf 'trailing'; } >"$TMP/trail.gz"
check "gzip: bytes after the stream are 400" 400 -H 'Content-Encoding: gzip' --data-binary @"$TMP/trail.gz" "$BASE/v1/data/meshpol/allow"
check "gzip: another coding (br) is 415" 415 -H 'Content-Encoding: br' --data "$in_allow" "$BASE/v1/data/meshpol/allow"
jq_ok "gzip: names the coding" '.code == "invalid_parameter" and .message == "Content-Encoding: only gzip (once) or identity is accepted, not br"'
check "gzip: gzip twice is 415 (no nested bombs)" 415 -H 'Content-Encoding: gzip, gzip' --data-binary @"$TMP/allow.gz" "$BASE/v1/data/meshpol/allow"
check "gzip: deflate is 415" 415 -H 'Content-Encoding: deflate' --data "$in_allow" "$BASE/v1/data/meshpol/allow"
check "yaml: a YAML body is 415" 415 -H 'Content-Type: application/yaml' --data 'input: {}' "$BASE/v1/data/meshpol/allow"
# the body's limit holds once decompressed: up to --max-body (1 MiB) is read, one byte more is not
python3 - "$TMP" <<'PY'
import gzip, json, sys
inp = json.load(open("examples/requests/allow-checkout-charge.json"))
def doc(size):
    inp["context"] = {"pad": ""}
    base = len(json.dumps({"input": inp}))
    inp["context"]["pad"] = "a" * (size - base)
    text = json.dumps({"input": inp}).encode()
    assert len(text) == size
    return gzip.compress(text)
open(sys.argv[1] + "/max.gz", "wb").write(doc(1048576))
open(sys.argv[1] + "/over.gz", "wb").write(doc(1048577))
PY
check "gzip: a body of --max-body bytes once decompressed is read" 200 -H 'Content-Encoding: gzip' --data-binary @"$TMP/max.gz" "$BASE/v1/data/meshpol/allow"
jq_ok "gzip: decided at the limit" '.result == true'
check "gzip: one byte more is 400" 400 -H 'Content-Encoding: gzip' --data-binary @"$TMP/over.gz" "$BASE/v1/data/meshpol/allow"
jq_ok "gzip: too large once decompressed" '.code == "invalid_parameter" and (.message | contains("gzip payload too large"))'
# a gzip bomb: 100 MB of zeros in about 100 kB
head -c 100000000 /dev/zero | gzip -9 >"$TMP/bomb.gz"
hwm0=$(awk '/VmHWM/ {print $2}' /proc/"$SRV_PID"/status)
t0=$(date +%s%N)
check "bomb: 100 MB of zeros gzipped is refused" 400 -H 'Content-Encoding: gzip' --data-binary @"$TMP/bomb.gz" "$BASE/v1/data/meshpol/allow"
ms=$((($(date +%s%N) - t0) / 1000000))
jq_ok "bomb: OPA's error saying why" '.code == "invalid_parameter" and (.message | contains("more than 1048576 bytes (--max-body) once decompressed"))'
hwm1=$(awk '/VmHWM/ {print $2}' /proc/"$SRV_PID"/status)
[ $((hwm1 - hwm0)) -lt 32768 ] && ok "bomb: the server's peak memory grew by less than 32 MB ($((hwm1 - hwm0)) kB, in $ms ms)" ||
	not_ok "bomb: the server's peak memory grew by less than 32 MB" "VmHWM $hwm0 -> $hwm1 kB"
check "bomb: POST / refuses it too" 400 -H 'Content-Encoding: gzip' --data-binary @"$TMP/bomb.gz" "$BASE/"
check "bomb: the server still answers" 200 "$BASE/health"

# --- hostile requests: every refusal is OPA's {"code", "message"} ---
check "hostile: a malformed ?input= is 400" 400 "$BASE/v1/data/meshpol/allow?input=%7B%22destination%22"
jq_ok "hostile: says the parameter is malformed, with line:column" '.code == "invalid_parameter" and (.message | startswith("parameter contains malformed input document: 1:"))'
check "hostile: a malformed %-escape in the query is 400" 400 "$BASE/v1/data/meshpol/allow?input=%zz"
jq_ok "hostile: names the escape" '.message == "the query string has a malformed %-escape"'
check "hostile: a NUL in ?input= is 400" 400 "$BASE/v1/data/meshpol/allow?input=%7B%00%7D"
check "hostile: ?input= not an object is 400" 400 "$BASE/v1/data/meshpol/allow?input=5"
jq_ok "hostile: input must be an object" '.message == "input: must be a JSON object"'
big=$(head -c 40000 /dev/zero | tr '\0' 'a')
check "hostile: a 40 kB query is 431" 431 "$BASE/v1/data/meshpol/allow?input=%22$big%22"
jq_ok "hostile: 431 in OPA's shape" '.code == "invalid_parameter" and (.message | contains("larger than"))'
check "hostile: a 120 kB query is refused by the parser (400)" 400 "$BASE/v1/data/meshpol/allow?input=%22$big$big$big%22"
check "hostile: the server still answers after huge queries" 200 "$BASE/health"
deep=$(printf '%.0s[' $(seq 1 3000))
check "hostile: JSON nested 3000 deep in the body is 400" 400 --data "{\"input\": {\"context\": {\"x\": $deep}}}" "$BASE/v1/data/meshpol/allow"
jq_ok "hostile: depth named" '.code == "invalid_parameter" and (.message | contains("maximum parsing depth reached"))'
check "hostile: JSON nested 3000 deep in ?input= is 400" 400 "$BASE/v1/data/meshpol/allow?input=$(printf '%.0s%%5B' $(seq 1 3000))"
jq_ok "hostile: depth named for ?input=" '.message | contains("maximum parsing depth reached")'
deep_ok="$(printf '%.0s[' $(seq 1 1000))$(printf '%.0s]' $(seq 1 1000))"
deep_in=$(jq -c '{input: (.context = {"x": "DEEP"})}' examples/requests/allow-checkout-charge.json)
check "hostile: nesting inside the limit is read (context is free-form)" 200 --data "${deep_in/\"DEEP\"/$deep_ok}" "$BASE/v1/data/meshpol/allow"
check "hostile: invalid JSON is 400 with line:column" 400 --data '{"input": {"destination": }}' "$BASE/v1/data/meshpol/allow"
jq_ok "hostile: malformed input document 1:27" '.code == "invalid_parameter" and (.message | startswith("body contains malformed input document: 1:27:")) and keys == ["code", "message"]'
check "hostile: duplicate keys are 400" 400 --data '{"input": {}, "input": {}}' "$BASE/v1/data/meshpol/allow"
check "hostile: a body that is not an object is 400" 400 --data '[{"input": {}}]' "$BASE/v1/data/meshpol/allow"
check "hostile: input not an object is 400" 400 --data '{"input": "payments"}' "$BASE/v1/data/meshpol/allow"
jq_ok "hostile: names input" '.message == "input: must be a JSON object"'
check "hostile: a bad field is 400 naming it from input" 400 --data '{"input": {"destination": {"service": "payments", "port": "80"}}}' "$BASE/v1/data/meshpol/allow"
jq_ok "hostile: input.destination.port" '.code == "invalid_parameter" and (.message | startswith("input.destination.port"))'
check "hostile: input null is no input" 400 --data '{"input": null}' "$BASE/v1/data/meshpol/allow"
check "hostile: a '\"' in a path segment is 400" 400 --data "$in_allow" "$BASE/v1/data/meshpol/%22allow"
jq_ok "hostile: invalid path" '.code == "invalid_parameter" and (.message | startswith("invalid path"))'
check "hostile: a malformed %-escape in the path is 400" 400 --data "$in_allow" "$BASE/v1/data/meshpol/%zz"
check "hostile: %00 in the path is 400" 400 --data "$in_allow" "$BASE/v1/data/meshpol/allow%00"
check "hostile: PUT (a write of OPA's data) is 405" 405 -X PUT --data '{}' "$BASE/v1/data/meshpol/allow"
jq_ok "hostile: 405 in OPA's shape" '.code == "invalid_operation" and .message == "/v1/data takes GET, HEAD, POST"'
check "hostile: DELETE is 405" 405 -X DELETE "$BASE/v1/data/meshpol"
check "hostile: PATCH is 405" 405 -X PATCH --data '[]' "$BASE/v1/data"
framing=$(python3 - "$PORT" <<'PY'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
s.sendall(b"POST /v1/data/meshpol/allow HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 33\r\n\r\n{}")
r = b""
while b"\r\n\r\n" not in r or not r.endswith(b"}"):
    d = s.recv(4096)
    if not d:
        break
    r += d
print(r.split(b"\r\n")[0].decode(), r.split(b"\r\n\r\n", 1)[-1].decode())
PY
)
[[ "$framing" == "HTTP/1.1 400 "*'{"code":"invalid_parameter","message":"Content-Length: given twice with different values"}' ]] &&
	ok "hostile: a framing error on an OPA route is OPA's 400" || not_ok "hostile: a framing error on an OPA route is OPA's 400" "$framing"
check "hostile: /v1/decide keeps meshpol's error shape" 400 --data '{"destination": {}}' "$BASE/v1/decide"
jq_ok "hostile: /v1/decide's {error, field}" '.field == "destination.service" and (has("code") | not)'

# --- OPA-Envoy's input ---
env_allow=$(jq -c '{input: .}' examples/opa-envoy/checkout-charge.json)
env_deny=$(jq -c '{input: .}' examples/opa-envoy/sandbox-charge.json)
check "envoy: OPA-Envoy's input for an allowed request" 200 --data "$env_allow" "$BASE/v1/data/meshpol/decision"
jq_ok "envoy: allowed by the same rules as the decision input" '.result.allow == true and ([.result.reasons[].rule] == ["checkout-charges", "payments-any-caller"])'
env_id=$(jq -r .decision_id <<<"$BODY")
logged "envoy: logged as Envoy's door reads it: principal, address, destination, headers" "$env_id" \
	'.input.source.principal == "spiffe://acme.io/ns/shop/sa/checkout" and .input.source.ip == "10.1.2.3" and .input.destination == {"service": "payments", "namespace": "billing", "port": 8080} and .input.request.method == "POST" and .input.request.path == "/v1/charge" and .input.request.headers["x-request-id"] == "req-0001" and (.input.request.headers | has(":authority") | not)'
check "envoy: a forbidden request" 200 --data "$env_deny" "$BASE/v1/data/meshpol/decision"
native=$("${CURL[@]}" --data-binary @examples/requests/deny-sandbox-payments.json "$BASE/v1/decide" | jq -c '[.reasons[].rule]')
jq_ok "envoy: forbidden by the same rules as deny-sandbox-payments.json" ".result.effect == \"forbidden\" and [.result.reasons[].rule] == $native"
check "envoy: POST / takes it as its body" 200 --data-binary @examples/opa-envoy/checkout-charge.json "$BASE/"
[ "$BODY" = "true" ] && ok "envoy: POST / true" || not_ok "envoy: POST / true" "body: $BODY"
check "envoy: GET ?input= takes it too" 200 -G --data-urlencode "input@examples/opa-envoy/sandbox-charge.json" "$BASE/v1/data/meshpol/allow"
jq_ok "envoy: GET false" '.result == false'
# the caller: attributes.source.principal is the peer Envoy verified; x-forwarded-client-cert
# counts only when that peer wrote it (By=), as on /v1/check with mutual TLS
xfcc_env() { # PRINCIPAL XFCC
	jq -c --arg p "$1" --arg x "$2" '{input: (.attributes.source.principal = $p | .attributes.request.http.headers["x-forwarded-client-cert"] = $x)}' examples/opa-envoy/checkout-charge.json
}
gw=spiffe://acme.io/ns/edge/sa/ingress-gateway
check "envoy: XFCC from another hop does not replace the principal" 200 --data "$(xfcc_env spiffe://acme.io/ns/sandbox/sa/echo "By=spiffe://x;URI=spiffe://acme.io/ns/shop/sa/checkout")" "$BASE/v1/data/meshpol/allow"
jq_ok "envoy: the sandbox caller is denied" '.result == false'
logged "envoy: principal from attributes.source.principal" "$(jq -r .decision_id <<<"$BODY")" '.input.source.principal == "spiffe://acme.io/ns/sandbox/sa/echo"'
check "envoy: XFCC the peer itself wrote (By=) names the caller" 200 --data "$(xfcc_env "$gw" "By=$gw;URI=spiffe://acme.io/ns/shop/sa/checkout")" "$BASE/v1/data/meshpol/allow"
logged "envoy: principal from XFCC's URI=" "$(jq -r .decision_id <<<"$BODY")" '.input.source.principal == "spiffe://acme.io/ns/shop/sa/checkout"'
check "envoy: without a principal, XFCC's last element names the caller" 200 --data "$(xfcc_env "" "URI=spiffe://acme.io/ns/sandbox/sa/echo")" "$BASE/v1/data/meshpol/allow"
jq_ok "envoy: the XFCC caller (sandbox) is denied" '.result == false'
check "envoy: a malformed XFCC is 400" 400 --data "$(xfcc_env "" 'URI="unterminated')" "$BASE/v1/data/meshpol/allow"
jq_ok "envoy: names the header" '.message == "input.attributes.request.http: source.principal: x-forwarded-client-cert is malformed"'
envmod() { jq -c "{input: (. | $1)}" examples/opa-envoy/checkout-charge.json; }
check "envoy: the path options of Envoy's door apply (%2F refused)" 200 --data "$(envmod '.attributes.request.http.path = "/v1%2Fcharge"')" "$BASE/v1/data/meshpol/decision"
jq_ok "envoy: a denial saying why" '.result.allow == false and (.result.reasons[0].message | contains("escaped slash"))'
check "envoy: a header twice (names differ in case) is a denial" 200 --data "$(envmod '.attributes.request.http.headers["X-Request-Id"] = "b"')" "$BASE/v1/data/meshpol/decision"
jq_ok "envoy: nothing decided on a repeated header" '.result.allow == false and (.result.reasons[0].message | contains("more than once"))'
check "envoy: host from :authority when http.host is absent" 200 --data "$(envmod 'del(.attributes.request.http.host)')" "$BASE/v1/data/meshpol/allow"
jq_ok "envoy: still decided" '.result == true'
check "envoy: method and path from :method and :path when absent" 200 --data "$(envmod 'del(.attributes.request.http.method, .attributes.request.http.path)')" "$BASE/v1/data/meshpol/allow"
jq_ok "envoy: decided from the pseudo-headers" '.result == true'
check "envoy: no host at all is 400" 400 --data "$(envmod 'del(.attributes.request.http.host, .attributes.request.http.headers[":authority"])')" "$BASE/v1/data/meshpol/allow"
jq_ok "envoy: names the host" '.code == "invalid_parameter" and (.message | startswith("input.attributes.request.http.host: missing"))'
check "envoy: a header value that is not a string is 400" 400 --data "$(envmod '.attributes.request.http.headers["x-n"] = 5')" "$BASE/v1/data/meshpol/allow"
jq_ok "envoy: names the header" '.message == "input.attributes.request.http.headers.x-n: must be a string"'
check "envoy: a header value with CR LF is 400" 400 --data "$(envmod '.attributes.request.http.headers["x-n"] = "a\r\nx-evil: 1"')" "$BASE/v1/data/meshpol/allow"
check "envoy: a header name that is no token is 400" 400 --data "$(envmod '.attributes.request.http.headers["a b"] = "1"')" "$BASE/v1/data/meshpol/allow"
check "envoy: a path without '/' is 400" 400 --data "$(envmod '.attributes.request.http.path = "v1/charge"')" "$BASE/v1/data/meshpol/allow"
check "envoy: attributes not an object is 400" 400 --data '{"input": {"attributes": []}}' "$BASE/v1/data/meshpol/allow"
jq_ok "envoy: names attributes" '.message == "input.attributes: must be an object"'
check "envoy: a source address that is no IP is 400" 400 --data "$(envmod '.attributes.source.address.socketAddress.address = "evil host"')" "$BASE/v1/data/meshpol/allow"
check "envoy: socket_address (the proto name) is read too" 200 --data "$(envmod '.attributes.source.address = {"socket_address": {"address": "10.9.9.9"}}')" "$BASE/v1/data/meshpol/allow"
logged "envoy: the address from socket_address" "$(jq -r .decision_id <<<"$BODY")" '.input.source.ip == "10.9.9.9"'

# --- the decisions counted under endpoint "data" ---
n=$(metric 'meshpol_decisions_total{endpoint="data",effect="allowed"}')
[ "${n:-0}" -gt 10 ] && ok "metrics: /v1/data and POST / decisions counted under endpoint=\"data\" ($n)" || not_ok "metrics: data decisions counted" "got ${n:-none}"

# --- the examples of docs/server.md ---
DOC_CMD_SED="s#localhost:8181#127.0.0.1:$PORT#g" \
	DOC_OUT_SED='s/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/<uuid>/g' \
	doc_examples docs/server.md

expect_stop opa
"$MESHPOL" verify "$DECLOG" >/dev/null 2>&1 && ok "the decision log verifies" || not_ok "the decision log verifies" "$("$MESHPOL" verify "$DECLOG" 2>&1 | tail -3)"
e2e_done
