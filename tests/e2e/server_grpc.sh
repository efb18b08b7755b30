#!/usr/bin/env bash
# tests/e2e/server_grpc.sh: Envoy's gRPC ext_authz on `meshpol serve --grpc-listen`, with a real
# gRPC client (@grpc/grpc-js loading server/proto/ext_authz.proto, which has Envoy's field
# numbers): every example input agrees with /v1/decide (v3 and v2), the trust model (the peer's
# principal wins over any header), the decision log and metrics, hostile HTTP/2 and gRPC input
# (tests/e2e/grpc_raw.js), connection limits shared with HTTP, TLS and mutual TLS with ALPN h2,
# and a clean SIGTERM. Reference: docs/server.md ("gRPC ext_authz").
. "$(dirname "$0")/server_lib.sh"

NODE=${NODE:-node}
if ! [ -d tests/npm/node_modules/@grpc/grpc-js ]; then
	not_ok "the gRPC client is installed (scripts/install-deps.sh: npm ci in tests/npm)"
	e2e_done
fi
CLIENT=(timeout 60 "$NODE" tests/e2e/grpc_check.js)
RAW=(timeout 60 "$NODE" tests/e2e/grpc_raw.js)

# start_grpc NAME ARGS...: a server with --grpc-listen on a free port (GPORT, GADDR)
start_grpc() {
	local name=$1
	shift
	GPORT=$(free_port)
	GADDR=127.0.0.1:$GPORT
	start_server "$name" --grpc-listen "$GADDR" "$@"
}

# checks NAME FILE: the CheckRequests of FILE (a JSON array) through grpc-js; one JSON line each in $OUT
checks() {
	OUT=$("${CLIENT[@]}" check "$GADDR" "$2" "${@:3}" 2>&1)
}

expect_rc "--grpc-max-streams is checked" 2 "$MESHPOL" serve -m "$UNIT/mesh.yaml" -p "$UNIT" --grpc-max-streams 0
expect_out "... with its bounds" '--grpc-max-streams takes a number from 1 to 65536'

# --- every example, as Envoy would ask, agrees with /v1/decide ----------------------------
start_grpc main -m examples/acme -p policies --workers 2 --decision-log "$TMP/decisions.jsonl" \
	--read-timeout 2 --max-body 4096 || { not_ok "server starts with --grpc-listen"; e2e_done; }
ok "server starts with --grpc-listen"
grep -q "gRPC h2c $GADDR" "$TMP/main.log" && ok "the start line names the gRPC listener" ||
	not_ok "the start line names the gRPC listener" "$(cat "$TMP/main.log")"

for v in v3 v2; do
	flag=()
	[ $v = v2 ] && flag=(--v2)
	"${CLIENT[@]}" input "$GADDR" examples/requests/*.json "${flag[@]}" >"$TMP/grpc.$v" 2>&1
	agree=0 n=0
	for f in examples/requests/*.json; do
		n=$((n + 1))
		g=$(sed -n "${n}p" "$TMP/grpc.$v")
		h=$("${CURL[@]}" -X POST --data-binary @"$f" "$BASE/v1/decide")
		gw=$(echo "$g" | jq -c '[.code, (.response.status.code // 0) == 0, .response.http_response,
			(.response.status.message // "allowed")]' 2>/dev/null)
		hw=$(echo "$h" | jq -c '[0, .allow, (if .allow then "ok_response" else "denied_response" end), .effect]')
		if [ "$gw" = "$hw" ]; then agree=$((agree + 1)); else not_ok "$v: $(basename "$f") agrees with /v1/decide" "grpc: $g" "http: $h"; fi
	done
	[ "$agree" -eq "$(ls examples/requests/*.json | wc -l)" ] && ok "$v: Check agrees with /v1/decide for every example ($agree)"
done

# the replies: the decision id to add upstream, or a minimal 403
g=$(sed -n 1p "$TMP/grpc.v3")
id=$(echo "$g" | jq -r '.response.ok_response.headers[0].header.value')
echo "$g" | jq -e '.response.ok_response.headers | length == 1 and .[0].header.key == "x-meshpol-decision-id" and .[0].append.value != true' >/dev/null &&
	ok "allowed: OkHttpResponse with x-meshpol-decision-id (replacing any the client sent)" || not_ok "allowed: the decision id header" "$g"
d=$(grep -m1 denied_response "$TMP/grpc.v3")
did=$(echo "$d" | jq -r '.response.denied_response.headers[] | select(.header.key == "x-meshpol-decision-id") | .header.value')
echo "$d" | jq -e --arg id "$did" '.response.status.code == 7 and .response.denied_response.status.code == 403 and
	(.response.denied_response.body | fromjson) == {"allow": false, "decision_id": $id}' >/dev/null &&
	ok "denied: PERMISSION_DENIED, 403 and a minimal body (reasons only in the log)" || not_ok "denied: the reply" "$d"
logged "the allow is logged under its id, endpoint the gRPC method" "$id" \
	'.decision.allow == true and .endpoint == "/envoy.service.auth.v3.Authorization/Check" and .input.source.principal == "spiffe://acme.io/ns/shop/sa/checkout"'
logged "the denial's log record has its reasons" "$did" '.decision.allow == false and (.decision.reasons | length) > 0'

# --- the trust model: attributes.source.principal wins; XFCC only without it -------------
cat >"$TMP/trust.json" <<'EOF'
[{"attributes": {"source": {"principal": "spiffe://acme.io/ns/sandbox/sa/echo"},
  "request": {"http": {"method": "POST", "path": "/v1/charge", "host": "payments.billing:8080",
   "headers": {"x-forwarded-client-cert": "By=spiffe://x;URI=spiffe://acme.io/ns/shop/sa/checkout"}}}}},
 {"attributes": {"request": {"http": {"method": "POST", "path": "/v1/charge", "host": "payments.billing:8080",
   "headers": {"x-forwarded-client-cert": "By=spiffe://x;URI=spiffe://acme.io/ns/shop/sa/checkout"}}}}},
 {"attributes": {"request": {"http": {"method": "POST", "path": "/v1/charge", "host": "payments.billing:8080",
   "headers": {"x-forwarded-client-cert": "URI=\"unterminated"}}}}},
 {"attributes": {"request": {"http": {"method": "GET", "path": "/"}}}},
 {"attributes": {"request": {"http": {"method": "GET", "path": "/", "host": "products.catalog",
   "headers": {"x-a": "1", "X-A": "2"}}}}},
 {"attributes": {"destination": {"principal": "spiffe://acme.io/ns/billing/sa/payments",
   "address": {"socket_address": {"address": "10.1.1.1", "port_value": 8080}}},
   "source": {"principal": "spiffe://acme.io/ns/shop/sa/checkout"}}},
 {"attributes": {"source": {"principal": "spiffe://acme.io/ns/shop/sa/checkout"},
   "request": {"http": {"method": "POST", "path": "/v1/charge", "host": "anything.example"}},
   "context_extensions": {"destination": "payments.billing:8080", "team": "pay"}}},
 {"attributes": {"request": {"http": {"method": "GET", "path": "/admin%2Fx", "host": "products.catalog"}}}}]
EOF
checks trust "$TMP/trust.json"
line() { sed -n "${1}p" <<<"$OUT"; }
id1=$(line 1 | jq -r '.response.denied_response.headers[0].header.value')
logged "the peer's principal wins over x-forwarded-client-cert" "$id1" \
	'.decision.allow == false and .input.source.principal == "spiffe://acme.io/ns/sandbox/sa/echo"'
id2=$(line 2 | jq -r '.response.ok_response.headers[0].header.value')
logged "without one, the last URI= of x-forwarded-client-cert" "$id2" \
	'.decision.allow == true and .input.source.principal == "spiffe://acme.io/ns/shop/sa/checkout"'
line 3 | jq -e '.code == 0 and .response.status.code == 3 and (.response.status.message | test("x-forwarded-client-cert is malformed"))
	and .response.denied_response.status.code == 403 and (.response.denied_response.headers[] | select(.header.key == "x-meshpol-error"))' >/dev/null &&
	ok "a malformed x-forwarded-client-cert: denied (INVALID_ARGUMENT in the CheckResponse), never anonymous" || not_ok "malformed xfcc" "$(line 3)"
line 4 | jq -e '.response.status.code == 3 and (.response.status.message | test("destination.service: missing"))' >/dev/null &&
	ok "no destination anywhere: denied, naming what is missing" || not_ok "no destination" "$(line 4)"
id5=$(line 5 | jq -r '.response.denied_response.headers[0].header.value')
logged "a header given twice (in any case): denied, the reason logged" "$id5" \
	'.decision.allow == false and (.decision.reasons[0].message | test("more than once"))'
id6=$(line 6 | jq -r '.response.ok_response.headers[0].header.value')
logged "a TCP check (no request.http): the destination from its principal, decided" "$id6" \
	'.decision.allow == true and .input.destination.service == "payments" and .input.destination.namespace == "billing"
	 and .input.destination.port == 8080 and .input.destination.ip == "10.1.1.1" and (.input.request | has("method") | not)'
id7=$(line 7 | jq -r '.response.ok_response.headers[0].header.value')
logged "context_extensions destination names the destination; every key reaches the context" "$id7" \
	'.decision.allow == true and .input.destination.service == "payments" and .input.context.context_extensions.team == "pay"'
id8=$(line 8 | jq -r '.response.denied_response.headers[0].header.value')
logged "an escaped slash: refused as on the HTTP door (--escaped-slashes reject)" "$id8" \
	'.decision.allow == false and (.decision.reasons[0].message | test("escaped slash"))'

# --- the documented configurations (docs/server.md) -----------------------------------------
doc_block envoy-grpc >"$TMP/envoy-grpc.yaml"
doc_block istio-grpc >"$TMP/istio-grpc.yaml"
python3 - "$TMP/envoy-grpc.yaml" "$TMP/istio-grpc.yaml" "$TMP/doc-check.json" >"$TMP/doc.out" 2>&1 <<'PY'
import json, sys, yaml
filters, clusters = yaml.safe_load_all(open(sys.argv[1]))
cluster = clusters[0]
authz = filters["http_filters"][0]
assert authz["name"] == "envoy.filters.http.ext_authz", authz["name"]
tc = authz["typed_config"]
assert tc["transport_api_version"] == "V3" and tc["failure_mode_allow"] is False
assert tc["grpc_service"]["envoy_grpc"]["cluster_name"] == cluster["name"]
opts = cluster["typed_extension_protocol_options"]["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"]
assert "http2_protocol_options" in opts["explicit_http_config"], "the cluster must speak HTTP/2"
route = filters["route_config"]["virtual_hosts"][0]["routes"][0]
ext = route["typed_per_filter_config"]["envoy.filters.http.ext_authz"]["check_settings"]["context_extensions"]
assert set(ext) <= {"destination", "destination_cluster"}, ext
# the call Envoy makes for a request on that route: the client chose another authority
json.dump([{"attributes": {"source": {"principal": "spiffe://acme.io/ns/shop/sa/checkout"},
  "request": {"http": {"method": "POST", "path": "/v1/charge", "host": "evil.example"}},
  "context_extensions": ext}}], open(sys.argv[3], "w"))
cm, svc, pol = yaml.safe_load_all(open(sys.argv[2]))
prov = yaml.safe_load(cm["data"]["mesh"])["extensionProviders"][0]
g = prov["envoyExtAuthzGrpc"]
assert g["service"] == "%s.%s.svc.cluster.local" % (svc["metadata"]["name"], svc["metadata"]["namespace"])
port = svc["spec"]["ports"][0]
assert port["port"] == g["port"] and port["appProtocol"] == "grpc" and port["name"].startswith("grpc")
assert pol["spec"]["action"] == "CUSTOM" and pol["spec"]["provider"]["name"] == prov["name"]
print("ok")
PY
[ "$(cat "$TMP/doc.out")" = ok ] && ok "docs/server.md: the Envoy and Istio gRPC configurations hang together" ||
	not_ok "the documented gRPC configurations" "$(cat "$TMP/doc.out")"
checks docs "$TMP/doc-check.json"
idd=$(echo "$OUT" | jq -r '.response.ok_response.headers[0].header.value' 2>/dev/null)
logged "the documented route's context_extensions name the destination, not the client's authority" "$idd" \
	'.decision.allow == true and .input.destination.service == "payments" and .input.destination.namespace == "billing"'

# --- hostile HTTP/2 and gRPC ------------------------------------------------------------
"${RAW[@]}" 127.0.0.1 "$GPORT" 4096 >"$TMP/raw" 2>&1
raw_ok() { # NAME JQ-FILTER WHAT
	local r
	r=$(grep -F "\"name\":\"$1\"" "$TMP/raw")
	if printf '%s' "$r" | jq -e "$2" >/dev/null 2>&1; then ok "$3"; else not_ok "$3" "got: $r" "$(head -c 600 "$TMP/raw")"; fi
}
raw_ok good '.grpc_status == 0' "raw HTTP/2: a well-formed call is answered"
raw_ok malformed '.status == 200 and .grpc_status == 3 and (.grpc_message | test("malformed protobuf"))' "malformed protobuf: INVALID_ARGUMENT"
raw_ok content-type '.status == 415 and .grpc_status == 3' "content-type text/plain: HTTP 415 (grpc-status INVALID_ARGUMENT)"
raw_ok compressed '.grpc_status == 12 and (.grpc_message | test("compressed"))' "a compressed message: UNIMPLEMENTED"
raw_ok oversized '.grpc_status == 8 and (.grpc_message | test("--max-body"))' "a message over --max-body: RESOURCE_EXHAUSTED"
raw_ok oversized-prefix '.grpc_status == 8 and .ms < 1000' "... refused at its 5-byte prefix, before the body"
raw_ok unknown-method '.grpc_status == 12 and (.grpc_message | test("unknown method /x.Y/Z"))' "an unknown method: UNIMPLEMENTED"
raw_ok get '.status == 405' "GET: HTTP 405"
raw_ok truncated '.grpc_status == 13' "a truncated message: INTERNAL"
raw_ok two-messages '.grpc_status == 13' "two messages on a unary call: INTERNAL"
raw_ok no-message '.grpc_status == 13' "END_STREAM without a message: INTERNAL"
raw_ok nul-in-path '.grpc_status == 3 and (.grpc_message | test("http.path"))' "a NUL inside a string (protobuf-c would cut it): INVALID_ARGUMENT"
raw_ok not-utf8 '.grpc_status == 3' "a string that is not UTF-8: INVALID_ARGUMENT"
raw_ok split-chunks '.grpc_status == 0' "a message split across DATA frames"
raw_ok never-ends '.grpc_status == 4 and .ms >= 1900 and .ms < 5000' "a request never ended: DEADLINE_EXCEEDED after --read-timeout"
raw_ok after '.grpc_status == 0' "the connection still serves after all of that"
raw_ok goaway '.closed' "the client's GOAWAY closes the connection"
r=$("${RAW[@]}" raw 127.0.0.1 "$GPORT" 130 3500)
echo "$r" | jq -e '.refused == 30 and .headers == 100' >/dev/null &&
	ok "130 streams at once: 30 refused (REFUSED_STREAM) over SETTINGS_MAX_CONCURRENT_STREAMS 100, the others served" ||
	not_ok "many streams" "$r"
code=$("${CURL[@]}" -o "$TMP/h1" -w '%{http_code}' "http://$GADDR/")
[ "$code" = 505 ] && grep -q "HTTP/2 with prior knowledge" "$TMP/h1" && ok "HTTP/1.1 on the gRPC port: 505 saying what the port speaks" ||
	not_ok "HTTP/1.1 on the gRPC port" "$code $(cat "$TMP/h1")"
resets=$(metric meshpol_grpc_streams_reset_total)
[ "$(metric 'meshpol_grpc_responses_total{code="OK"}')" -gt 20 ] && [ "$(metric 'meshpol_grpc_responses_total{code="INVALID_ARGUMENT"}')" -ge 3 ] &&
	[ "$(metric 'meshpol_decisions_total{endpoint="grpc",effect="allowed"}')" -gt 5 ] && [ -n "$resets" ] &&
	ok "metrics: gRPC responses by status, decisions of endpoint grpc" || not_ok "gRPC metrics" "$("${CURL[@]}" "$BASE/metrics" | grep grpc)"
sleep 0.5
[ "$(metric meshpol_connections_open)" = 1 ] && ok "every gRPC connection closed is off the count (1: the metrics request's)" ||
	not_ok "connections_open back to 1" "$(metric meshpol_connections_open)"
wsum=$("${CURL[@]}" "$BASE/metrics" | awk '/^meshpol_worker_connections_open\{worker="[01]"\} / { s += $2 } END { print s + 0 }')
[ "$wsum" = 1 ] && ok "every gRPC connection closed is off its worker's gauge" || not_ok "gRPC worker gauges back to 1" "$wsum"
"${RAW[@]}" raw 127.0.0.1 "$GPORT" 0 8000 >"$TMP/term-goaway" &
raw_pid=$!
sleep 1
# the held gRPC connection on its worker's gauge: the two workers' add up to the server's count
wsum=$("${CURL[@]}" "$BASE/metrics" | awk '/^meshpol_worker_connections_open\{worker="[01]"\} / { s += $2 }
	$1 == "meshpol_connections_open" { open = $2 } END { print s + 0, open + 0 }')
[ "$wsum" = "2 2" ] && ok "metrics: a held gRPC connection on its worker's gauge (2 with the metrics request)" ||
	not_ok "gRPC worker connections" "$wsum"
expect_stop main
wait "$raw_pid"
jq -e '.goaway == [0] and .closed' "$TMP/term-goaway" >/dev/null && ok "SIGTERM: an open gRPC connection gets GOAWAY (NO_ERROR) and is closed" ||
	not_ok "SIGTERM GOAWAY" "$(cat "$TMP/term-goaway")"
"$MESHPOL" verify "$TMP/decisions.jsonl" >"$TMP/verify" 2>&1 && ok "the decision log verifies (gRPC decisions in it)" ||
	not_ok "verify" "$(cat "$TMP/verify")"

# --- limits shared with HTTP; the idle timeout; SIGTERM's GOAWAY --------------------------
start_grpc limits -m "$UNIT/mesh.yaml" -p "$UNIT" --workers 1 --max-connections 2 --grpc-idle-timeout 1 ||
	{ not_ok "limits server starts"; e2e_done; }
# hold PORT MARKER: a connection that says nothing, open for 20 s; MARKER once it is accepted
hold() {
	python3 -c "import socket,time; s=socket.create_connection(('127.0.0.1',$1)); s.settimeout(0.3)
try: s.recv(1)
except Exception: pass
open('$2','w').close(); time.sleep(20)" &
}
hold "$PORT" "$TMP/held1"
holder=$!
sleep 0.5
r=$("${RAW[@]}" raw 127.0.0.1 "$GPORT" 0 2500)
echo "$r" | jq -e '.goaway == [0] and .closed' >/dev/null && ok "an idle gRPC connection gets GOAWAY (NO_ERROR) after --grpc-idle-timeout" ||
	not_ok "idle GOAWAY" "$r"
hold "$GPORT" "$TMP/held2"
holder2=$!
for i in $(seq 1 100); do [ -f "$TMP/held1" ] && [ -f "$TMP/held2" ] && break; sleep 0.1; done
r=$("${RAW[@]}" raw 127.0.0.1 "$GPORT" 1 1500)
echo "$r" | jq -e '.closed and .headers == 0' >/dev/null && ok "over --max-connections (HTTP and gRPC together): refused" ||
	not_ok "shared connection limit" "$r"
kill "$holder" "$holder2" 2>/dev/null
wait "$holder" "$holder2" 2>/dev/null
sleep 0.3
[ "$(metric meshpol_connections_refused_total)" -ge 1 ] && ok "... and counted with HTTP's" ||
	not_ok "refused connections counted" "$(metric meshpol_connections_refused_total)"
expect_stop limits

# --- TLS and mutual TLS, ALPN h2 ------------------------------------------------------------
pki_init "$TMP/pki" && pki_cert "$TMP/pki" envoy 'URI:spiffe://acme.io/ns/mesh/sa/envoy' ||
	{ not_ok "test certificates"; e2e_done; }
echo '[{"attributes": {"source": {"principal": "spiffe://acme.io/ns/shop/sa/checkout"}, "request": {"http": {"method": "POST", "path": "/v1/charge", "host": "payments.billing:8080"}}}}]' >"$TMP/one.json"
APORT=$(free_port)
HEALTH_URL=http://127.0.0.1:$APORT start_grpc tls -m examples/acme -p policies --workers 1 --admin-listen "127.0.0.1:$APORT" \
	--tls-cert "$TMP/pki/server.pem" --tls-key "$TMP/pki/server.key" || not_ok "TLS server starts"
checks tls "$TMP/one.json" --ca "$TMP/pki/ca.pem"
echo "$OUT" | jq -e '.code == 0 and .response.http_response == "ok_response"' >/dev/null && ok "TLS: grpc-js (ALPN h2) gets its decision" || not_ok "TLS Check" "$OUT"
alpn=$(echo | timeout 5 openssl s_client -connect "$GADDR" -alpn http/1.1 2>&1)
echo "$alpn" | grep -qi "no application protocol\|alert" && ok "TLS: a client offering only http/1.1 is refused (no_application_protocol)" ||
	not_ok "ALPN refusal" "${alpn:0:400}"
expect_stop tls
APORT=$(free_port)
HEALTH_URL=http://127.0.0.1:$APORT start_grpc mtls -m examples/acme -p policies --workers 1 --admin-listen "127.0.0.1:$APORT" \
	--tls-cert "$TMP/pki/server.pem" --tls-key "$TMP/pki/server.key" --client-ca "$TMP/pki/ca.pem" || not_ok "mTLS server starts"
checks mtls "$TMP/one.json" --ca "$TMP/pki/ca.pem"
echo "$OUT" | jq -e '.code == 14' >/dev/null && ok "mutual TLS: a client without a certificate is refused" || not_ok "mTLS without cert" "$OUT"
checks mtls "$TMP/one.json" --ca "$TMP/pki/ca.pem" --cert "$TMP/pki/envoy.pem" --key "$TMP/pki/envoy.key"
echo "$OUT" | jq -e '.code == 0 and .response.http_response == "ok_response"' >/dev/null &&
	ok "mutual TLS: with its certificate, decided (the caller is the request's, not the proxy's)" || not_ok "mTLS Check" "$OUT"
expect_stop mtls

# --- the watchdog: a call stuck in C is never an allow; the worker is replaced ---------------
cp -r "$UNIT" "$TMP/stuck"
cat >>"$TMP/stuck/rbac.lua" <<'LUA'
allow "spin-c" { service = "shop/web", paths = { "/rep" },
                 when = function(req) return #string.rep("", 1e15) > 0 end }
LUA
start_grpc watchdog -m "$UNIT/mesh.yaml" -p "$TMP/stuck" --workers 1 --request-timeout 1 --drain-timeout 2 \
	--when-budget 1000000000000000 || not_ok "watchdog server starts"
echo '[{"attributes": {"request": {"http": {"method": "GET", "path": "/rep", "host": "web.shop"}}}},
       {"attributes": {"request": {"http": {"method": "GET", "path": "/pub/x", "host": "web.shop"}}}}]' >"$TMP/stuck.json"
checks watchdog "$TMP/stuck.json"
first=$(sed -n 1p <<<"$OUT")
echo "$first" | jq -e '.code != 0 or .response.http_response == "denied_response"' >/dev/null &&
	ok "watchdog: the stuck call is not allowed (its connection is shut down, or the sandbox denied it)" || not_ok "watchdog: stuck call" "$first"
sed -n 2p <<<"$OUT" | jq -e '.code == 0 and .response.http_response == "ok_response"' >/dev/null &&
	ok "watchdog: the next call is served (by the replacement worker)" || not_ok "watchdog: next call" "$OUT" "$(tail -5 "$TMP/watchdog.log")"
stop_server watchdog
case "$STOP_RC" in 0 | 1) ok "watchdog: SIGTERM: exit $STOP_RC (1: the stuck thread was left behind)" ;; *) not_ok "watchdog: SIGTERM" "$STOP_RC" ;; esac
e2e_done
