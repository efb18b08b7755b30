#!/usr/bin/env bash
# tests/e2e/server.sh: `meshpol serve` against real clients: every endpoint, bad and hostile
# input (malformed requests, huge headers and bodies, slowloris, too many connections),
# concurrency, the decision log (verified, one record per decision, masked), TLS and mutual TLS,
# the admin endpoint, and a SIGTERM that drains. Reference: docs/server.md.
. "$(dirname "$0")/server_lib.sh"

PAY_HOST='pay.billing'
WEB_ID='spiffe://t/ns/shop/sa/web'
XFCC_WEB="By=spiffe://t/ns/billing/sa/pay;Hash=0123abcd;Subject=\"CN=web,O=t\";URI=$WEB_ID"

# --- the CLI refuses what it cannot run ---------------------------------------------------
expect_rc "serve needs -m and -p" 2 "$MESHPOL" serve -m "$UNIT/mesh.yaml"
expect_out "serve usage names them" 'meshpol serve: -m MODEL and -p POLICY_DIR are required'
expect_rc "serve rejects a bad number" 2 "$MESHPOL" serve -m "$UNIT/mesh.yaml" -p "$UNIT" --workers 0
expect_out "bad number explained" '--workers takes a number from 1 to 256'
cp -r "$UNIT" "$TMP/broken"
echo 'allow "x" { service = "shop/nope" }' >>"$TMP/broken/rbac.lua"
expect_rc "a broken bundle: serve exits 2" 2 "$MESHPOL" serve -m "$UNIT/mesh.yaml" -p "$TMP/broken" --listen 127.0.0.1:1
expect_out "with the bundle's error at file:line" "$TMP/broken/rbac.lua:[0-9]+: allow 'x'"
busy=$(free_port)
python3 -c "import socket,time,sys; s=socket.socket(); s.bind(('127.0.0.1',$busy)); s.listen(); time.sleep(10)" &
holder=$!
for i in $(seq 1 50); do # until the port is taken (python starts slowly on a busy machine)
	python3 -c "import socket; socket.create_connection(('127.0.0.1', $busy), timeout=1)" 2>/dev/null && break
	sleep 0.1
done
expect_rc "an address in use: serve exits 2" 2 timeout 10 "$MESHPOL" serve -m "$UNIT/mesh.yaml" -p "$UNIT" --listen "127.0.0.1:$busy"
expect_out "address in use explained" "cannot listen: 127.0.0.1:$busy: Address already in use"
expect_rc "serve rejects an unknown --deny-body" 2 "$MESHPOL" serve -m "$UNIT/mesh.yaml" -p "$UNIT" --deny-body some
expect_out "... listing the choices" "--deny-body takes minimal or full, not 'some'"
expect_rc "serve rejects an unknown --escaped-slashes" 2 "$MESHPOL" serve -m "$UNIT/mesh.yaml" -p "$UNIT" --escaped-slashes drop
expect_out "... listing the choices" "--escaped-slashes takes reject, keep or unescape, not 'drop'"
expect_rc "serve rejects an unknown --path-params" 2 "$MESHPOL" serve -m "$UNIT/mesh.yaml" -p "$UNIT" --path-params x
expect_out "... listing the choices" "--path-params takes reject, strip or keep, not 'x'"
kill "$holder" 2>/dev/null
wait "$holder" 2>/dev/null

# --- the reference bundle: endpoints -------------------------------------------------------
start_server main -m examples/acme -p policies --workers 2 --decision-log "$TMP/decisions.jsonl" \
	--max-body 4096 --max-header 4096 || { not_ok "server starts"; e2e_done; }
ok "server starts with the reference bundle"

check "GET /health is 200" 200 "$BASE/health"
jq_ok "/health names the snapshot" '.status == "ok" and .bundle.revision == "2026.11.25-1" and (.model.sha256 | length) == 64 and .reloads.failed == 0'

# /v1/decide answers exactly what `meshpol decide` answers, in the same key order
same=0
for f in examples/requests/*.json; do
	a=$("${CURL[@]}" -X POST --data-binary @"$f" "$BASE/v1/decide")
	b=$("$MESHPOL" decide -m examples/acme -p policies "$f")
	if [ "$(echo "$a" | jq -c 'del(.decision_id)')" = "$(echo "$b" | jq -c 'del(.decision_id)')" ] &&
		[ "$(echo "$a" | jq -c 'keys_unsorted')" = "$(echo "$b" | jq -c 'keys_unsorted')" ]; then
		same=$((same + 1))
	else
		not_ok "decide $(basename "$f") as meshpol decide" "server: ${a:0:300}" "cli: ${b:0:300}"
	fi
done
[ "$same" -eq "$(ls examples/requests/*.json | wc -l)" ] && ok "/v1/decide = meshpol decide for every example ($same)"
check "decide: a denial is 200 with allow false" 200 -X POST --data-binary @examples/requests/deny-sandbox-payments.json "$BASE/v1/decide"
jq_ok "decide: denial cites rule and version" '.allow == false and .effect == "forbidden" and .reasons[0].rule == "no-sandbox-to-card-data" and .reasons[0].version == "1.2.0" and (.decision_id | length) == 36'

# /v1/data: OPA's shape (the whole OPA API: server_opa.sh)
input=$(jq -c '{input: .}' examples/requests/allow-checkout-charge.json)
check "data: POST /v1/data/meshpol/allow" 200 -X POST --data "$input" "$BASE/v1/data/meshpol/allow"
jq_ok "data: {result: true, decision_id}" '.result == true and (.decision_id | length) == 36 and (keys == ["decision_id", "result"])'
check "data: .../decision gives the whole decision" 200 -X POST --data "$input" "$BASE/v1/data/meshpol/decision"
jq_ok "data: result is the decision object" '.result.allow == true and .result.decision_id == .decision_id and (.result.reasons | length) > 0'
deny_input=$(jq -c '{input: .}' examples/requests/deny-sandbox-payments.json)
check "data: a denial" 200 -X POST --data "$deny_input" "$BASE/v1/data/meshpol/allow"
jq_ok "data: result false" '.result == false'
check "data: a document outside the tree is undefined" 200 -X POST --data "$deny_input" "$BASE/v1/data/envoy/authz/allow"
jq_ok "data: no result" '. == {}'
check "data: no input is 400" 400 -X POST --data '{"in": {}}' "$BASE/v1/data/meshpol/allow"
jq_ok "data: OPA's error saying input is missing" '.code == "invalid_parameter" and (.message | startswith("input: missing"))'
check "data: a bad field inside input is 400" 400 -X POST --data '{"input": {"destination": {"service": "x", "port": "80"}}}' "$BASE/v1/data/meshpol/allow"
jq_ok "data: names input.destination.port" '.message | startswith("input.destination.port")'
check "data: PUT is 405" 405 -X PUT --data '{}' "$BASE/v1/data/x"

# /v1/check: method and path from the request (Envoy), identity from XFCC, destination from Host
check "check: checkout POST /v1/charge to payments is 200" 200 -X POST "$BASE/v1/check/v1/charge" \
	-H 'Host: payments.billing:8080' \
	-H 'x-forwarded-client-cert: By=spiffe://acme.io/ns/billing/sa/payments;URI=spiffe://acme.io/ns/shop/sa/checkout'
jq_ok "check: 200 carries {allow, decision_id}" '.allow == true and (.decision_id | length) == 36 and keys == ["allow", "decision_id"]'
id=$(printf '%s' "$HDRS" | tr -d '\r' | awk -F': ' 'tolower($1) == "x-meshpol-decision-id" { print $2 }')
[ "$id" = "$(printf '%s' "$BODY" | jq -r .decision_id)" ] && ok "check: x-meshpol-decision-id header = decision_id" || not_ok "check: decision id header" "$HDRS"
check "check: the sandbox is 403" 403 -X POST "$BASE/v1/check/v1/charge" -H 'Host: payments.billing.svc.cluster.local' \
	-H 'x-forwarded-client-cert: By=spiffe://acme.io/ns/billing/sa/payments;URI=spiffe://acme.io/ns/sandbox/sa/echo'
jq_ok "check: the 403 body is minimal" 'keys == ["allow", "decision_id"] and .allow == false'
logged "check: the decision log names the rule" "$(printf '%s' "$BODY" | jq -r .decision_id)" \
	'.endpoint == "/v1/check" and .decision.reasons[0].rule == "no-sandbox-to-card-data"'
printf '%s' "$HDRS" | grep -qi '^x-meshpol-decision-id: ' && ok "check: 403 has x-meshpol-decision-id too" || not_ok "check: 403 decision id" "$HDRS"
check "check: the LAST XFCC element is the caller" 200 -X POST "$BASE/v1/check/v1/charge" -H 'Host: payments.billing' \
	-H 'x-forwarded-client-cert: By=spiffe://a;URI=spiffe://acme.io/ns/sandbox/sa/echo,By=spiffe://acme.io/ns/billing/sa/payments;Subject="CN=x,O=y;z";URI=spiffe://acme.io/ns/shop/sa/checkout'
check "check: XFCC with quoted values and escapes, first URI of the element" 200 -X POST "$BASE/v1/check/v1/charge" -H 'Host: payments.billing' \
	-H 'x-forwarded-client-cert: By=spiffe://a;URI=spiffe://x,  By="spiffe://b";Subject="CN=\"q\",O=,;";URI="spiffe://acme.io/ns/shop/sa/checkout";URI=spiffe://acme.io/ns/sandbox/sa/echo'
check "check: X-Original-URI is not read on Envoy's door (the canary's refund stays denied)" 403 -X POST "$BASE/v1/check/v1/refunds" \
	-H 'Host: payments.billing' -H 'X-Original-URI: /v1/charge' -H 'x-forwarded-client-cert: URI=spiffe://acme.io/ns/shop/sa/checkout-v2'
check "check: nor X-Original-Method (the edge may not write to the catalog)" 403 -X DELETE "$BASE/v1/check/api/catalog/1" \
	-H 'Host: products.catalog' -H 'X-Original-Method: GET' -H 'x-forwarded-client-cert: URI=spiffe://acme.io/ns/edge/sa/ingress-gateway'
check "nginx door: a charge from a caller without a certificate (XFCC is never read there)" 403 "$BASE/v1/nginx/check" \
	-H 'Host: payments.billing' -H 'X-Original-Method: POST' -H 'X-Original-URI: /v1/charge?x=1' -H 'X-Real-IP: 10.0.0.1' \
	-H 'x-forwarded-client-cert: URI=spiffe://acme.io/ns/shop/sa/checkout'
logged "nginx door: method, URI and address from its headers, no caller" "$(printf '%s' "$BODY" | jq -r .decision_id)" \
	'.endpoint == "/v1/nginx/check" and .input.request.method == "POST" and .input.request.path == "/v1/charge?x=1" and
	 .input.source.ip == "10.0.0.1" and (.input.source | has("principal") | not) and (.input.request.headers | has("x-original-uri") | not)'
check "check: no identity, unknown destination: 403" 403 "$BASE/v1/check/" -H 'Host: nowhere.example.com'
logged "check: the reason names the unknown host" "$(printf '%s' "$BODY" | jq -r .decision_id)" \
	'.decision.effect == "not_permitted" and (.decision.reasons[0].message | test("nowhere.example.com"))'
check "check: a malformed XFCC is 400" 400 "$BASE/v1/check/x" -H 'Host: payments.billing' -H 'x-forwarded-client-cert: By=x;URI="unterminated'
jq_ok "check: 400 names the field" '.field == "source.principal"'
check "check: a bad port in Host is 400" 400 "$BASE/v1/check/x" -H 'Host: payments.billing:99999'
check "check: HEAD works (any method)" 403 -I "$BASE/v1/check/x" -H 'Host: payments.billing'
many=()
for i in $(seq 1 70); do many+=(-H "x-h$i: v"); done
check "check: more than 64 headers is a 403, never an allow" 403 -X POST "$BASE/v1/check/v1/charge" -H 'Host: payments.billing' \
	-H 'x-forwarded-client-cert: URI=spiffe://acme.io/ns/shop/sa/checkout' "${many[@]}"
logged "check: the reason says why" "$(printf '%s' "$BODY" | jq -r .decision_id)" \
	'.decision.reasons[0].rule == "engine" and (.decision.reasons[0].message | test("64"))'

# errors: JSON with line and column, the missing field named, 404, 405
check "decide: invalid JSON is 400" 400 -X POST --data $'{"destination": {"service": "a"},\n "source": {"principal": }}' "$BASE/v1/decide"
jq_ok "decide: invalid JSON has line and column" '.line == 2 and .column > 0 and (.error | test("invalid JSON"))'
check "decide: missing destination.service is 400" 400 -X POST --data '{"destination": {"namespace": "shop"}}' "$BASE/v1/decide"
jq_ok "decide: names destination.service" '.field == "destination.service" and (.error | test("destination.service: missing"))'
check "decide: an empty body is 400" 400 -X POST "$BASE/v1/decide"
printf '{"destination": {"service": "a"}}\0' >"$TMP/nul.json"
check "decide: a NUL byte after the JSON is 400" 400 -X POST --data-binary @"$TMP/nul.json" "$BASE/v1/decide"
check "decide: an escaped NUL in a string is 400" 400 -X POST --data '{"destination": {"service": "a\u0000b"}}' "$BASE/v1/decide"
check "decide: a duplicate key is 400" 400 -X POST --data '{"destination": {"service": "a", "service": "b"}}' "$BASE/v1/decide"
check "decide: GET is 405" 405 "$BASE/v1/decide"
printf '%s' "$HDRS" | grep -qi '^Allow: POST' && ok "405 has an Allow header" || not_ok "405 Allow" "$HDRS"
check "an unknown path is 404" 404 "$BASE/v2/nope"
jq_ok "404 is JSON" '.error | test("no endpoint")'
check "/v1/reload is off without --admin-listen or --admin-token" 404 -X POST "$BASE/v1/reload"

# limits: body, headers
check "a body over --max-body is 413" 413 -X POST --data-binary @<(head -c 8000 /dev/zero | tr '\0' ' ') "$BASE/v1/decide"
check "a chunked body over --max-body is 413" 413 -X POST -H 'Transfer-Encoding: chunked' --data-binary @<(head -c 8000 /dev/zero | tr '\0' ' ') "$BASE/v1/decide"
check "headers over --max-header are 431" 431 "$BASE/health" -H "X-Big: $(head -c 5000 /dev/zero | tr '\0' a)"
jq_ok "431 is JSON" '.error | test("larger than 4096 bytes")'
check "headers far over --max-header: 400 from the parser" 400 "$BASE/health" -H "X-Big: $(head -c 40000 /dev/zero | tr '\0' a)"
check "the server still answers" 200 "$BASE/health"

# hostile bytes on raw sockets: garbage, a bad request line, HTTP/1.0, pipelining, a reset
out=$(python3 - "$PORT" <<'PY'
import socket, sys, time
port = int(sys.argv[1])
def talk(data, wait=0.3):
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall(data)
    time.sleep(wait)
    try:
        out = s.recv(1 << 20)
    except Exception as e:
        out = repr(e).encode()
    s.close()
    return out
print("garbage", talk(b"\x00\xff\x13GARBAGE\r\n\r\n").split(b"\r\n")[0].decode(errors="replace"))
print("badline", talk(b"GET\r\n\r\n").split(b"\r\n")[0].decode())
print("http10", talk(b"GET /health HTTP/1.0\r\n\r\n").split(b"\r\n")[0].decode())
print("pipelined", talk(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\nGET /health HTTP/1.1\r\nHost: x\r\n\r\n").count(b"HTTP/1.1 200"))
s = socket.create_connection(("127.0.0.1", port)); s.sendall(b"POST /v1/decide HTTP/1.1\r\nContent-Length: 50\r\n\r\n{\"dest"); s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00"); s.close()
print("alive", talk(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n").split(b"\r\n")[0].decode())
PY
)
echo "$out" | grep -q '^garbage HTTP/1.1 400' && ok "garbage bytes get 400" || not_ok "garbage" "$out"
echo "$out" | grep -q '^badline HTTP/1.1 400' && ok "a bad request line gets 400" || not_ok "bad line" "$out"
echo "$out" | grep -q '^http10 HTTP/1.[01] 200' && ok "HTTP/1.0 is served" || not_ok "http/1.0" "$out"
echo "$out" | grep -q '^pipelined 2' && ok "pipelined requests both answered" || not_ok "pipelining" "$out"
echo "$out" | grep -q '^alive HTTP/1.1 200' && ok "a reset mid-body does not hurt the server" || not_ok "reset" "$out"

# random bytes where the proxy headers go: never a crash, never a 5xx
out=$(python3 - "$PORT" <<'PY'
import random, socket, sys
port = int(sys.argv[1])
rnd = random.Random(7)
pieces = [b"URI=", b"By=", b";", b",", b'"', b"\\", b"spiffe://acme.io/ns/shop/sa/checkout", b"=",
          b" ", b"\xff", b"\xc3\xa9", b"payments", b".billing", b".svc", b":", b"8080", b"[::1]", b"%00", b"/.."]
def junk(n):
    return b"".join(rnd.choice(pieces) for _ in range(rnd.randrange(n)))
codes = {}
for i in range(300):
    hdrs = [(b"Host", junk(8)), (b"x-forwarded-client-cert", junk(12)), (b"X-Original-URI", b"/" + junk(6)),
            (b"X-Original-Method", rnd.choice([b"GET", b"POST", junk(3)]))]
    req = b"GET /v1/check/" + junk(3).replace(b" ", b"") + b" HTTP/1.1\r\n"
    req += b"".join(k + b": " + v.replace(b"\r", b"").replace(b"\n", b"") + b"\r\n" for k, v in hdrs) + b"\r\n"
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall(req)
    line = s.recv(65536).split(b"\r\n")[0]
    s.close()
    code = line.split(b" ")[1].decode() if line.startswith(b"HTTP/") else "none"
    codes[code] = codes.get(code, 0) + 1
print(" ".join("%s:%d" % kv for kv in sorted(codes.items())))
PY
)
echo "$out" | grep -Eq '^((200|400|403):[0-9]+ ?)+$' && ok "300 random proxy headers: only 200, 400, 403 ($out)" || not_ok "random proxy headers" "$out"
check "the server is still up" 200 "$BASE/health"

# concurrency: many clients at once, every decision logged
cat >"$TMP/mix.json" <<JSON
[{"method": "POST", "path": "/v1/decide", "body": $(cat examples/requests/allow-checkout-charge.json)},
 {"method": "POST", "path": "/v1/decide", "body": $(cat examples/requests/deny-sandbox-payments.json)},
 {"method": "POST", "path": "/v1/check/v1/charge", "headers": {"Host": "payments.billing", "Authorization": "Bearer secret-token-1",
   "x-forwarded-client-cert": "By=spiffe://acme.io/ns/billing/sa/payments;URI=spiffe://acme.io/ns/shop/sa/checkout"}},
 {"method": "GET", "path": "/v1/check/api/catalog/products", "headers": {"Host": "products.catalog", "Cookie": "session=secret-cookie"}},
 {"method": "POST", "path": "/v1/data/meshpol/allow", "body": {"input": $(cat examples/requests/allow-storefront-cart.json)}},
 {"method": "GET", "path": "/health"}]
JSON
summary=$(python3 "$TMP/client.py" "$PORT" "$TMP/mix.json" 16 1200)
echo "$summary" | jq -e '.errors == 0 and .sent == 1200 and ((.status | keys) - ["200", "403"] | length) == 0' >/dev/null &&
	ok "1200 requests from 16 concurrent clients: all 200 or 403" || not_ok "concurrent clients" "$summary"
urls=()
for i in $(seq 1 60); do urls+=(-o /dev/null "$BASE/health"); done
out=$("${CURL[@]}" --parallel --parallel-max 20 -w '%{http_code}\n' "${urls[@]}" 2>/dev/null)
[ "$(echo "$out" | grep -c '^200$')" -eq 60 ] && ok "curl --parallel: 60 at once" || not_ok "curl --parallel" "$out"

# metrics: counts, info labels, the log's queue
served=$(( $(echo "$summary" | jq .decisions) ))
"${CURL[@]}" "$BASE/metrics" >"$TMP/metrics"
total=$(awk '/^meshpol_decisions_total/ { s += $2 } END { print s }' "$TMP/metrics")
grep -q '^meshpol_snapshot_info{bundle_name="acme-reference",bundle_revision="2026.11.25-1",bundle_sha256="[0-9a-f]\{64\}",model_sha256="[0-9a-f]\{64\}"} 1$' "$TMP/metrics" &&
	ok "metrics: snapshot info labels" || not_ok "metrics: info" "$(grep snapshot_info "$TMP/metrics")"
for m in 'meshpol_decision_duration_seconds_bucket{le="+Inf"}' 'meshpol_decision_log_queue_depth' \
	'meshpol_decision_log_dropped_total' 'meshpol_decision_log_mode{mode="no-drop"}' 'meshpol_reloads_total{result="failed"}' \
	'meshpol_when_errors_total' 'meshpol_http_responses_total{code="400"}' 'meshpol_connections_open'; do
	grep -qF "$m " "$TMP/metrics" && ok "metrics: $m" || not_ok "metrics: $m" "$(head -c 600 "$TMP/metrics")"
done
[ "$(awk '$1 == "meshpol_decision_duration_seconds_count" { print $2 }' "$TMP/metrics")" = "$total" ] &&
	ok "metrics: the histogram counts every decision" || not_ok "histogram count" "total $total"
# each worker's connections (--workers 2): six held open, then closed; the workers' gauges add
# up to the server's count both times, whichever worker took them
worker_conns() { "${CURL[@]}" "$BASE/metrics" | awk '/^meshpol_worker_connections_open\{worker="[01]"\} / { n++; s += $2 }
	$1 == "meshpol_connections_open" { open = $2 } END { print n + 0, s + 0, open + 0 }'; }
held=()
for i in 1 2 3 4 5 6; do exec {fd}<>"/dev/tcp/127.0.0.1/$PORT" && held+=("$fd"); done
for i in $(seq 1 30); do [ "$(worker_conns)" = "2 7 7" ] && break; sleep 0.1; done
[ "$(worker_conns)" = "2 7 7" ] && ok "metrics: two workers' gauges add up to the 6 held connections and this one" ||
	not_ok "worker connections, held" "$(worker_conns)"
for fd in "${held[@]}"; do exec {fd}>&-; done
for i in $(seq 1 30); do [ "$(worker_conns)" = "2 1 1" ] && break; sleep 0.1; done
[ "$(worker_conns)" = "2 1 1" ] && ok "metrics: closed connections leave their worker's gauge" ||
	not_ok "worker connections, closed" "$(worker_conns)"

# SIGTERM: drains, seals the log; the log verifies and holds every decision, masked
expect_stop main
expect_rc "decision log verifies" 0 "$MESHPOL" verify "$TMP/decisions.jsonl"
expect_out "decision log is sealed" 'intact: [0-9]+ records in 1 run, 1 seal'
logged=$(grep -c '"type":"decision"' "$TMP/decisions.jsonl")
[ "$logged" = "$total" ] && ok "decision log: one record per decision served ($logged)" || not_ok "log records = decisions" "logged $logged, metrics $total, client $served"
[ "$served" -le "$total" ] && ok "decision log: covers the client's count ($served)" || not_ok "client count" "$served > $total"
tail -2 "$TMP/decisions.jsonl" | head -1 | jq -e --argjson n "$total" '.type == "end" and .decisions == $n and .dropped == 0' >/dev/null &&
	ok "decision log: an end record with the counts" || not_ok "end record" "$(tail -2 "$TMP/decisions.jsonl")"
grep -q 'secret-token-1\|secret-cookie' "$TMP/decisions.jsonl" && not_ok "masked headers stay out of the log" ||
	ok "masked headers stay out of the log"
grep -m1 '"authorization"' "$TMP/decisions.jsonl" | jq -e '.endpoint == "/v1/check" and .input.request.headers.authorization == "[masked]" and .decision.decision_id and .latency_ns > 0' >/dev/null &&
	ok "decision log: input masked, decision and latency recorded" || not_ok "log record shape" "$(grep -m1 '"authorization"' "$TMP/decisions.jsonl" | head -c 600)"
python3 - "$TMP/decisions.jsonl" <<'PY' && ok "decision log: records in the trail's canonical form" || not_ok "canonical records"
import json, re, sys
low = lambda t: re.sub(r"\\u[0-9A-Fa-f]{4}", lambda m: m.group(0).lower(), t)  # jansson: \u00E9
for line in open(sys.argv[1]):
    o = json.loads(line)
    head = line.index('"prev":"') + 8 + 64 + 1
    content = "{" + line[head + 1:].rstrip("\n") if len(o) > 4 else "{}"
    for k in ("seq", "time", "type", "prev"):
        o.pop(k)
    if low(content) != json.dumps(o, sort_keys=True, separators=(",", ":"), ensure_ascii=True):
        print(content[:300])
        sys.exit(1)
PY

# --- /v1/decide without the body's tree --------------------------------------------------------
# Without a TLS peer the body is read straight from simdjson's document (jsonparse.h,
# mp_request_parse), the decision log on or off, and a logged record's input is written from that
# document (loginput.h, mp_loginput_parsed); anything the document's reader does not take goes to
# the tree. A body past the document's 64 KiB still takes the tree's path: each body below is
# also sent with 70,000 spaces after it, which JSON ignores, and must be answered and logged as
# it is without them (docs/server.md, "A seventh pass" and "An eighth pass"); the probes of
# tests/data/integrity/lazyreq show what a `when` sees.
start_server notree -m examples/acme -p policies --workers 1 || not_ok "no-log server starts"
same=0
for f in examples/requests/*.json; do
	a=$("${CURL[@]}" -X POST --data-binary @"$f" "$BASE/v1/decide")
	b=$("$MESHPOL" decide -m examples/acme -p policies "$f")
	if [ "$(echo "$a" | jq -c 'del(.decision_id)')" = "$(echo "$b" | jq -c 'del(.decision_id)')" ]; then
		same=$((same + 1))
	else
		not_ok "no log: decide $(basename "$f") as meshpol decide" "server: ${a:0:300}" "cli: ${b:0:300}"
	fi
done
[ "$same" -eq "$(ls examples/requests/*.json | wc -l)" ] && ok "no log: /v1/decide = meshpol decide for every example ($same)"
stop_server notree
# same.py PORT LOG BODIES.json [NOLOG_PORT]: POSTs each body to /v1/decide as it is and padded
# past 64 KiB (the tree's path), on one connection; the two answers must be equal but for the
# decision id (and the column of an error at the end of the text, which the padding moves), and,
# with NOLOG_PORT, equal to a server's without a log, decision id aside. Each decided pair's
# records in LOG must hold the same input, byte for byte (the record's own text, not re-encoded).
# Prints "N bodies, M decided, K logged pairs" or what differs; exit 1 on a difference.
cat >"$TMP/same.py" <<'PY'
import http.client, json, re, sys
port, log, bodies = int(sys.argv[1]), sys.argv[2], json.load(open(sys.argv[3]))
nolog = int(sys.argv[4]) if len(sys.argv) > 4 else None
conns = {}
def post(p, body):
    c = conns.setdefault(p, http.client.HTTPConnection("127.0.0.1", p, timeout=10))
    c.request("POST", "/v1/decide", body=body.encode(), headers={"Content-Type": "application/json"})
    r = c.getresponse()
    return r.status, r.read().decode()
def norm(text, column=False):
    text = re.sub(r'"decision_id":"[^"]*",?', "", text)
    return re.sub(r'"column":\s*[0-9]+', '"column":C', text) if column else text
def ident(text):
    try:
        return json.loads(text).get("decision_id")
    except ValueError:
        return None
bad, pairs = [], []
for body in bodies:
    s1, r1 = post(port, body)
    s2, r2 = post(port, body + " " * 70000)
    if (s1, norm(r1, True)) != (s2, norm(r2, True)):
        bad.append("answers differ for %s:\n  document %d %s\n  tree     %d %s" % (body[:120], s1, r1[:300], s2, r2[:300]))
    if nolog:
        s3, r3 = post(nolog, body)
        if (s1, norm(r1)) != (s3, norm(r3)):
            bad.append("the server without a log answers otherwise for %s:\n  logged %d %s\n  no log %d %s" % (body[:120], s1, r1[:300], s3, r3[:300]))
    if s1 == 200 and ident(r1) and ident(r2):
        pairs.append((body, ident(r1), ident(r2)))
inputs = {}
for line in open(log):  # in no-drop mode a record is written before its reply is sent
    if '"type":"decision"' not in line:
        continue
    at = line.index(',"input":', line.index(',"endpoint":')) + len(',"input":')
    _, end = json.JSONDecoder().raw_decode(line, at)
    inputs[json.loads(line)["decision"]["decision_id"]] = line[at:end]
for body, a, b in pairs:
    if a not in inputs or b not in inputs:
        bad.append("no record for %s" % body[:120])
    elif inputs[a] != inputs[b]:
        bad.append("records differ for %s:\n  document %s\n  tree     %s" % (body[:120], inputs[a][:400], inputs[b][:400]))
for b in bad[:5]:
    print(b)
print("%d bodies, %d decided, %d logged pairs, %d differences" % (len(bodies), len(pairs), len(pairs), len(bad)))
sys.exit(1 if bad else 0)
PY
LAZY=tests/data/integrity/lazyreq
start_server notree -m "$UNIT/mesh.yaml" -p "$LAZY" --workers 1 || not_ok "no-log probe server starts"
NOTREE_PORT=$PORT NOTREE_PID=$SRV_PID
start_server tree -m "$UNIT/mesh.yaml" -p "$LAZY" --workers 1 --decision-log "$TMP/tree.jsonl" ||
	not_ok "logged probe server starts"
bodies=(
	'{"destination": {"service": "billing/pay"}, "source": {"principal": "spiffe://t/ns/shop/sa/web", "namespace": "shop", "service": "web", "ip": "10.0.0.1"}, "request": {"method": "GET", "path": "/x", "headers": {"x-a": "1", "x-dup": "2", "content-type": "t"}}, "context": {"k": "v", "list": [1, "two"], "obj": {"n": 3}}}'
	'{"destination": {"service": "shop/web", "port": 8080}, "source": {"principal": "spiffe://t/ns/billing/sa/pay", "labels": {"tier": "back"}}, "request": {"method": "POST", "path": "/", "headers": {}}, "context": {"peer": {"principal": "forged"}, "k": "v"}}'
	'{"destination": {"service": "shop/web"}, "context": {"peer": "forged"}}'
	'{"destination": {"service": "shop/web"}, "context": null, "source": null, "request": {"headers": null}}'
	'{"destination": {"service": "shop/web"}, "request": {"auth": {"principal": "a/b", "audiences": ["x"], "claims": {"c": 1}}}}'
	'{"destination": {"service": "shop/web", "service": "shop/web"}}'
	'{"destination": {"service": "shop/web"}, "request": {"headers": {"a": "1", "a": "2"}}}'
	'{"destination": {"service": "shop/web"}, "context": {"a": {"b": 1, "b": 2}}}'
	'{"destination": {"service": "shop/web", "port": 8080.0}}'
	'{"destination": {"service": "shop/web", "port": 65536}}'
	'{"destination": {"service": "shop/web", "external": "yes"}}'
	'{"destination": {"servic": "shop/web"}}'
	'{"destination": {"service": ""}}'
	'{"destination": null}'
	'{"destination": {"service": "shop/web"}, "request": {"headers": {"a": 1}}}'
	'{"destination": {"service": "shop/web"}, "source": {"labels": {"k": 1}}}'
	'{"destination": {"service": "sh\u0000op/web"}}'
	'{"destination": {"service": "shop/web"}, "context": {"n": 18446744073709551616}}'
	'{"destination": {"service": "shop/web"}, "context": {"r": [1.5, -0.0, 0.1, 1e300, 5e-324, 1E2, -0, 9223372036854775807], "s": "caf\u00e9 \ud83d\ude00 \"q\"", "\u00e9": {"peer": 1}, "": []}}'
	'{"destination": {"service": "shop/web"}, "context": {"r": 1e400}}'
	'{"destination": {"service": "shop/web"}, "source": {"peer": "kept", "partition": "p"}, "context": {"z": 1, "peer": 2, "a": {"z": [{"y": 1, "x": 2}]}}}'
	'[{"destination": {"service": "shop/web"}}]'
	'{"destination": {"service": "shop/web"}'
)
printf '%s\n' "${bodies[@]}" | jq -R . | jq -s . >"$TMP/probe-bodies.json"
out=$(python3 "$TMP/same.py" "$PORT" "$TMP/tree.jsonl" "$TMP/probe-bodies.json" "$NOTREE_PORT")
[ $? = 0 ] && ok "probe and hostile bodies: answered and logged as the tree's path, and as without a log ($(echo "$out" | tail -1))" ||
	not_ok "probe and hostile bodies: the document's path and the tree's" "$out"
"${CURL[@]}" -X POST --data-binary "${bodies[1]}" "$BASE/v1/decide" | jq -e '.reasons[0].message |
	(test("k=v") and (test("forged") | not) and (test("peer") | not))' >/dev/null &&
	ok "a client's context.peer never reaches a when (req.context holds only k)" ||
	not_ok "context.peer" "$("${CURL[@]}" -X POST --data-binary "${bodies[1]}" "$BASE/v1/decide" | head -c 400)"
grep -q forged "$TMP/tree.jsonl" && not_ok "a client's context.peer is never logged" "$(grep -m1 forged "$TMP/tree.jsonl" | head -c 400)" ||
	ok "a client's context.peer is never logged"
stop_server tree
stop_server notree "$NOTREE_PID"
# the bundle's mask (policies/: request.headers.authorization and .cookie) on both paths
start_server masked -m examples/acme -p policies --workers 1 --decision-log "$TMP/masked.jsonl" ||
	not_ok "logged server with masks starts"
python3 - "$TMP/masked-bodies.json" examples/requests/*.json <<'PY'
import json, sys
bodies = [open(f).read() for f in sys.argv[2:]]
ex = json.loads(bodies[0])
for headers in ({"Authorization": "Bearer secret-a", "authorization": "secret-b", "COOKIE": "secret-c", "x-tenant": "uk"},
                {"cookie": "secret-d", "x-caf\u00e9": "\u00e9\U0001F600"}):
    b = dict(ex)
    b["request"] = dict(ex["request"], headers=headers)
    b["context"] = {"peer": {"principal": "forged"}, "team": "pay", "r": 0.25}
    bodies.append(json.dumps(b))
json.dump(bodies, open(sys.argv[1], "w"))
PY
out=$(python3 "$TMP/same.py" "$PORT" "$TMP/masked.jsonl" "$TMP/masked-bodies.json")
[ $? = 0 ] && ok "examples and masked headers: logged as the tree's path logs them ($(echo "$out" | tail -1))" ||
	not_ok "masked bodies: the document's path and the tree's" "$out"
grep -q 'secret-\|forged' "$TMP/masked.jsonl" && not_ok "masked headers and context.peer stay out of the log" "$(grep -m1 'secret-\|forged' "$TMP/masked.jsonl" | head -c 400)" ||
	ok "masked headers and context.peer stay out of the log"
[ "$(grep -c '"headers":{"Authorization":"\[masked\]","COOKIE":"\[masked\]","authorization":"\[masked\]","x-tenant":"uk"}' "$TMP/masked.jsonl")" = 2 ] &&
	[ "$(grep -c '"headers":{"cookie":"\[masked\]","x-caf\\u00E9":"\\u00E9\\uD83D\\uDE00"}' "$TMP/masked.jsonl")" = 2 ] &&
	ok "the mask names headers in any case, on both paths" || not_ok "masked header records" "$(grep -m1 -i authorization "$TMP/masked.jsonl" | head -c 600)"
expect_stop masked
expect_rc "the masked log verifies" 0 "$MESHPOL" verify "$TMP/masked.jsonl"

# --- limits on connections and time --------------------------------------------------------
start_server limits -m "$UNIT/mesh.yaml" -p "$UNIT" --workers 2 --read-timeout 1 --max-connections 4 --drain-timeout 5 ||
	not_ok "limits server starts"
out=$(python3 - "$PORT" <<'PY'
import socket, sys, time
port = int(sys.argv[1])
held = [socket.create_connection(("127.0.0.1", port)) for _ in range(4)]
for s in held:
    s.sendall(b"GET /hea")  # partial requests hold their slots
time.sleep(0.3)
s = socket.create_connection(("127.0.0.1", port), timeout=5)
s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
print("fifth", s.recv(200).split(b"\r\n")[0].decode())
t0 = time.time()
for h in held:
    h.settimeout(5)
    try:
        d = h.recv(100)
    except Exception as e:
        d = b"err"
print("dropped_after %.1f" % (time.time() - t0))
# slowloris: one byte every 0.2 s never completes a request within --read-timeout
s = socket.create_connection(("127.0.0.1", port), timeout=5)
t0 = time.time()
try:
    for ch in b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 40:
        s.sendall(bytes([ch]))
        time.sleep(0.2)
    r = s.recv(100)
    print("slowloris", "closed" if r == b"" else "answered", "%.1f" % (time.time() - t0))
except Exception as e:
    print("slowloris closed %.1f" % (time.time() - t0))
PY
)
# policies that fail: a `when` that errors, one that never returns: denied, counted, served on
fail_req() { echo "{\"source\": {\"principal\": \"$WEB_ID\"}, \"destination\": {\"service\": \"shop/web\"}, \"request\": {\"method\": \"$1\", \"path\": \"/x\"}}"; }
check "a when that errors: denied (fail closed)" 200 -X POST --data "$(fail_req OPTIONS)" "$BASE/v1/decide"
jq_ok "a when that errors: the reason is an error" '.allow == false and .reasons[0].effect == "error" and (.reasons[0].message | test("when failed"))'
check "a when that never ends: denied within its budget" 200 -X POST --data "$(fail_req TRACE)" "$BASE/v1/decide"
jq_ok "a when that never ends: the reason says so" '.allow == false and .reasons[0].effect == "error"'
[ "$(metric meshpol_when_errors_total)" -ge 2 ] && ok "metrics: when errors counted" || not_ok "when_errors metric" "$(metric meshpol_when_errors_total)"
echo "$out" | grep -q '^fifth HTTP/1.1 503' && ok "over --max-connections: 503" || not_ok "max connections" "$out"
echo "$out" | awk '/^dropped_after/ { exit !($2 < 3) }' && ok "partial requests are cut at --read-timeout" || not_ok "read timeout" "$out"
echo "$out" | awk '/^slowloris/ { exit !($2 == "closed" && $3 < 3) }' && ok "slowloris is cut at --read-timeout" || not_ok "slowloris" "$out"
check "served again once the slots are free" 200 "$BASE/health"
for i in $(seq 1 30); do [ "$(metric meshpol_connections_open)" = 1 ] && break; sleep 0.1; done
[ "$(metric meshpol_connections_open)" = 1 ] && ok "every closed connection was counted down" || not_ok "connections_open" "$(metric meshpol_connections_open)"
[ "$(metric meshpol_connections_refused_total)" -ge 1 ] && ok "metrics: refused connections counted" || not_ok "refused metric"
[ "$(metric meshpol_connections_timed_out_total)" -ge 1 ] && ok "metrics: timed-out connections counted" || not_ok "timeout metric"

# SIGTERM drains: a request whose body is still arriving is answered, then the server exits
out=$(python3 - "$PORT" "$SRV_PID" <<'PY'
import os, signal, socket, sys, time
port, pid = int(sys.argv[1]), int(sys.argv[2])
body = b'{"source": {"principal": "spiffe://t/ns/shop/sa/web"}, "destination": {"service": "billing/pay"}, "request": {"method": "POST", "path": "/v1/charge"}}'
idle = socket.create_connection(("127.0.0.1", port), timeout=5)
idle.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
idle.recv(4096)
s = socket.create_connection(("127.0.0.1", port), timeout=5)
s.sendall(b"POST /v1/decide HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(body) + body[:20])
time.sleep(0.2)
os.kill(pid, signal.SIGTERM)
time.sleep(0.3)
try:
    late = socket.create_connection(("127.0.0.1", port), timeout=2)
    late.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
    print("new", "refused" if late.recv(100) == b"" else "accepted")
except Exception:
    print("new refused")
print("idle", "closed" if idle.recv(100) == b"" else "open")
s.sendall(body[20:])
r = s.recv(4096)
print("inflight", r.split(b"\r\n")[0].decode(), b"Connection: close" in r, b'"allow":true' in r)
PY
)
stop_server limits
echo "$out" | grep -q '^inflight HTTP/1.1 200 OK True True' && ok "SIGTERM: the request in flight is answered" || not_ok "drain in flight" "$out"
echo "$out" | grep -q '^new refused' && ok "SIGTERM: new connections are refused" || not_ok "drain refuses new" "$out"
echo "$out" | grep -q '^idle closed' && ok "SIGTERM: idle keep-alive connections are closed" || not_ok "drain idle" "$out"
[ "$STOP_RC" = 0 ] && ok "SIGTERM: exit 0 after draining" || not_ok "drain exit" "exit $STOP_RC" "$(tail -20 "$TMP/limits.log")"

# --- admin: a separate listener, a token ----------------------------------------------------
APORT=$(free_port)
start_server admin -m "$UNIT/mesh.yaml" -p "$UNIT" --workers 1 --admin-listen "127.0.0.1:$APORT" --admin-token t0ken ||
	not_ok "admin server starts"
check "admin: /v1/reload is not on the main listener" 404 -X POST "$BASE/v1/reload"
check "admin: without the token, 401" 401 -X POST "http://127.0.0.1:$APORT/v1/reload"
check "admin: a wrong token, 401" 401 -X POST -H 'Authorization: Bearer t0ke' "http://127.0.0.1:$APORT/v1/reload"
check "admin: with the token, 200" 200 -X POST -H 'Authorization: Bearer t0ken' "http://127.0.0.1:$APORT/v1/reload"
jq_ok "admin: an unchanged bundle is unchanged" '.status == "unchanged" and .bundle.revision == "7"'
check "admin: /health there too" 200 "http://127.0.0.1:$APORT/health"
check "admin: decisions are not served there" 404 -X POST --data '{}' "http://127.0.0.1:$APORT/v1/decide"
expect_stop admin
start_server token -m "$UNIT/mesh.yaml" -p "$UNIT" --workers 1 --admin-token t0ken || not_ok "token server starts"
check "token only: /v1/reload on the main listener needs it" 401 -X POST "$BASE/v1/reload"
check "token only: with it, 200" 200 -X POST -H 'Authorization: Bearer t0ken' "$BASE/v1/reload"
expect_stop token

# --- drop mode: the queue never blocks; records + dropped = decisions ------------------------
start_server drop -m "$UNIT/mesh.yaml" -p "$UNIT" --workers 2 --decision-log "$TMP/drop.jsonl" --log-mode drop --log-queue 2 ||
	not_ok "drop server starts"
cat >"$TMP/one.json" <<JSON
[{"method": "POST", "path": "/v1/decide", "body": {"destination": {"service": "billing/pay"}}}]
JSON
summary=$(python3 "$TMP/client.py" "$PORT" "$TMP/one.json" 8 800)
echo "$summary" | jq -e '.errors == 0 and .status["200"] == 800' >/dev/null && ok "drop mode: every request answered" || not_ok "drop mode requests" "$summary"
dropped=$(metric meshpol_decision_log_dropped_total)
[ "$(metric 'meshpol_decision_log_mode{mode="drop"}')" = 1 ] && ok "drop mode: the mode is in the metrics" || not_ok "drop mode metric"
expect_stop drop
records=$(grep -c '"type":"decision"' "$TMP/drop.jsonl")
[ $((records + dropped)) -eq 800 ] && ok "drop mode: records ($records) + dropped ($dropped) = decisions (800)" ||
	not_ok "drop mode accounting" "records $records dropped $dropped"
expect_rc "drop mode: the log verifies" 0 "$MESHPOL" verify "$TMP/drop.jsonl"

# --- TLS and mutual TLS -------------------------------------------------------------------
pki=$TMP/pki
mkdir -p "$pki"
mkcert() { # NAME SAN [CA]: an EC key and a certificate signed by the test CA
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$pki/$1.key" -out "$pki/$1.csr" -subj "/CN=$1" 2>/dev/null &&
		printf 'subjectAltName=%s\n' "$2" >"$pki/$1.ext" &&
		openssl x509 -req -in "$pki/$1.csr" -CA "$pki/ca.pem" -CAkey "$pki/ca.key" -CAcreateserial -out "$pki/$1.pem" -days 1 -extfile "$pki/$1.ext" 2>/dev/null
}
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$pki/ca.key" -out "$pki/ca.pem" -days 1 -subj /CN=meshpol-test-ca 2>/dev/null
mkcert server 'DNS:localhost,IP:127.0.0.1' && mkcert web "URI:$WEB_ID" && mkcert proxy 'URI:spiffe://t/ns/shop/sa/proxy' ||
	not_ok "test certificates"
T=(--cacert "$pki/ca.pem")
PORT=$(free_port)
"$MESHPOL" serve --listen "127.0.0.1:$PORT" -m "$UNIT/mesh.yaml" -p "$UNIT" --workers 2 --tls-cert "$pki/server.pem" \
	--tls-key "$pki/server.key" --client-ca "$pki/ca.pem" --destination-header X-Dest --deny-body full \
	--decision-log "$TMP/tls.jsonl" >"$TMP/tls.log" 2>&1 &
SRV_PID=$!
SERVER_PIDS+=("$SRV_PID")
S=https://127.0.0.1:$PORT
for i in $(seq 1 100); do
	"${CURL[@]}" "${T[@]}" --cert "$pki/web.pem" --key "$pki/web.key" -o /dev/null "$S/health" && break
	sleep 0.1
done
"${CURL[@]}" "${T[@]}" -o /dev/null "$S/health"
rc=$?
[ "$rc" -ne 0 ] && ok "mTLS: a client without a certificate is refused" || not_ok "mTLS refuses no cert" "curl exit $rc"
check "mTLS: the certificate's URI SAN is the caller" 200 "${T[@]}" --cert "$pki/web.pem" --key "$pki/web.key" \
	-X POST "$S/v1/check/v1/charge" -H 'X-Dest: pay.billing'
check "mTLS: a forged XFCC does not override the certificate" 200 "${T[@]}" --cert "$pki/web.pem" --key "$pki/web.key" \
	-X POST "$S/v1/check/v1/charge" -H 'X-Dest: pay.billing' -H 'x-forwarded-client-cert: By=spiffe://x;URI=spiffe://t/ns/sandbox/sa/echo'
check "mTLS: XFCC written by the peer itself (By = its SAN) names the caller" 403 "${T[@]}" --cert "$pki/proxy.pem" --key "$pki/proxy.key" \
	-X POST "$S/v1/check/v1/charge" -H 'X-Dest: pay.billing' -H 'x-forwarded-client-cert: By=spiffe://t/ns/shop/sa/proxy;URI=spiffe://t/ns/sandbox/sa/echo'
jq_ok "mTLS: and the sandbox is denied by its rule (--deny-body full)" '.reasons[0].rule == "no-sandbox"'
check "--destination-header: the header names the destination" 403 "${T[@]}" --cert "$pki/web.pem" --key "$pki/web.key" \
	-X POST "$S/v1/check/v1/charge" -H 'X-Dest: web.shop' -H 'Host: pay.billing'
check "mTLS: /v1/decide" 200 "${T[@]}" --cert "$pki/web.pem" --key "$pki/web.key" -X POST \
	--data '{"destination": {"service": "billing/pay"}, "context": {"peer": {"principal": "forged"}}}' "$S/v1/decide"
expect_stop tls
grep '"endpoint":"/v1/decide"' "$TMP/tls.jsonl" | jq -e --arg id "$WEB_ID" '.input.context.peer.principal == $id' >/dev/null &&
	ok "mTLS: /v1/decide input gets context.peer from the certificate, never from the client" ||
	not_ok "context.peer" "$(grep '/v1/decide' "$TMP/tls.jsonl" | head -c 400)"
e2e_done
