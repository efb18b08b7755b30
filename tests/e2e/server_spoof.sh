#!/usr/bin/env bash
# tests/e2e/server_spoof.sh: no client chooses what is decided. For each documented proxy setup
# (docs/server.md, "What a caller can claim"; the Envoy and nginx blocks are read from there),
# what a client adds to its request (X-Original-*, X-Real-IP, x-forwarded-client-cert,
# X-Client-Cert, Host and port variants, repeated headers, path spellings) never changes the
# decision from what the request itself implies. Envoy's requests to /v1/check are emulated from
# its documented configuration (which headers it passes, how it sets x-forwarded-client-cert and
# x-forwarded-for); nginx runs for real, with TLS client certificates from a throwaway CA.
#
# Where each proxy rule comes from:
# - Envoy's HTTP connection manager, envoyproxy/envoy
#   api/envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.proto:
#   ForwardClientCertDetails (SANITIZE_SET: the client's XFCC is dropped and Envoy writes its own),
#   set_current_client_cert_details.uri, use_remote_address (Envoy appends the peer to
#   x-forwarded-for), normalize_path, merge_slashes, PathWithEscapedSlashesAction
#   (KEEP_UNCHANGED, REJECT_REQUEST, UNESCAPE_AND_REDIRECT, UNESCAPE_AND_FORWARD: %2F %2f %5C %5c).
# - Envoy's ext_authz filter, api/envoy/extensions/filters/http/ext_authz/v3/ext_authz.proto:
#   http_service.path_prefix, authorization_request.allowed_headers (only the listed headers
#   reach the authorization server; the method and path are the request's own).
# - nginx: ngx_http_auth_request_module (a subrequest; 2xx allows, 401/403 deny, anything else
#   is a 500), ngx_http_proxy_module (proxy_set_header replaces a client's header of that name;
#   proxy_pass_request_headers off passes none of the client's), ngx_http_ssl_module
#   ($ssl_client_escaped_cert: the verified client certificate, URL-encoded PEM;
#   $ssl_client_verify: SUCCESS once it verified).
. "$(dirname "$0")/server_lib.sh"

# --- the Envoy configuration, as documented ------------------------------------------------------
doc_block envoy >"$TMP/envoy.yaml"
python3 - "$TMP/envoy.yaml" >"$TMP/envoy-checks" <<'PY'
import sys, yaml
hcm = yaml.safe_load(open(sys.argv[1]))
authz = [f["typed_config"] for f in hcm["http_filters"] if f["name"] == "envoy.filters.http.ext_authz"][0]
pats = authz["allowed_headers"]["patterns"]
checks = {
    "x-forwarded-client-cert is sanitised and set by Envoy (SANITIZE_SET)": hcm.get("forward_client_cert_details") == "SANITIZE_SET",
    "... naming the caller's URI SAN": hcm.get("set_current_client_cert_details", {}).get("uri") is True,
    "x-forwarded-for ends with the address Envoy saw (use_remote_address)": hcm.get("use_remote_address") is True,
    "only named headers reach meshpol (no prefix pattern)": all(set(p) == {"exact"} for p in pats),
    "x-forwarded-client-cert is one of them": {"exact": "x-forwarded-client-cert"} in pats,
    "the check path is /v1/check + the client's path": authz["http_service"]["path_prefix"] == "/v1/check",
    "escaped slashes are refused before meshpol is asked": hcm.get("path_with_escaped_slashes_action") in ("REJECT_REQUEST", "UNESCAPE_AND_REDIRECT"),
    "slashes merged and paths normalised as meshpol decides them": hcm.get("merge_slashes") is True and hcm.get("normalize_path") is True,
    "a denial passes only the decision id to the client": authz["http_service"]["authorization_response"]["allowed_client_headers"]["patterns"] == [{"exact": "x-meshpol-decision-id"}],
    "Envoy fails closed": authz.get("failure_mode_allow") is False,
}
for name, good in checks.items():
    print(("ok" if good else "bad") + " " + name)
PY
[ -s "$TMP/envoy-checks" ] || not_ok "docs/server.md has the Envoy block (meshpol-config: envoy)"
while read -r verdict name; do
	[ "$verdict" = ok ] && ok "envoy config: $name" || not_ok "envoy config: $name" "$(cat "$TMP/envoy.yaml")"
done <"$TMP/envoy-checks"

# ask.py PORT [envoy.yaml]: reads requests as JSON lines and prints one JSON line per reply:
# {"name", "status", "id" (x-meshpol-decision-id), "error" (x-meshpol-error), "body"}. A request
# is {"name", "method", "target", "headers": [[name, value], ...]} sent as it is; with the Envoy
# configuration, it is a client's request to Envoy ({"name", "method", "path", "authority",
# "headers", "cert": the caller's URI SAN or null, "peer": its address, "leaky": pass every
# header}) and what is sent is the check request Envoy makes of it.
cat >"$TMP/ask.py" <<'PY'
import hashlib, json, socket, sys, yaml
port = int(sys.argv[1])
hcm = yaml.safe_load(open(sys.argv[2])) if len(sys.argv) > 2 else None
ENVOY_ID = "spiffe://acme.io/ns/billing/sa/payments"  # the URI SAN of Envoy's own certificate

def envoy(c):
    authz = [f["typed_config"] for f in hcm["http_filters"] if f["name"] == "envoy.filters.http.ext_authz"][0]
    pats = authz["allowed_headers"]["patterns"]
    def allowed(name):
        n = name.lower()
        return c.get("leaky") or n in ("authorization",) or any(
            ("exact" in p and p["exact"] == n) or ("prefix" in p and n.startswith(p["prefix"])) for p in pats)
    path = c["path"]
    if hcm.get("path_with_escaped_slashes_action") == "REJECT_REQUEST" and any(e in path.split("?")[0].lower() for e in ("%2f", "%5c")):
        return None  # Envoy answers 400 itself
    client = [(k, v) for k, v in c.get("headers", [])]
    # the connection manager: x-forwarded-client-cert, x-forwarded-for
    if hcm["forward_client_cert_details"] == "SANITIZE_SET" and not c.get("leaky"):
        client = [(k, v) for k, v in client if k.lower() != "x-forwarded-client-cert"]
    if c.get("cert"):
        h = hashlib.sha256(c["cert"].encode()).hexdigest()
        xfcc = "By=%s;Hash=%s;URI=%s" % (ENVOY_ID, h, c["cert"])
        old = [v for k, v in client if k.lower() == "x-forwarded-client-cert"]
        client = [(k, v) for k, v in client if k.lower() != "x-forwarded-client-cert"]
        client.append(("x-forwarded-client-cert", ",".join(old + [xfcc])))  # appended after any left
    if hcm.get("use_remote_address"):
        old = [v for k, v in client if k.lower() == "x-forwarded-for"]
        client = [(k, v) for k, v in client if k.lower() != "x-forwarded-for"]
        client.append(("x-forwarded-for", ", ".join(old + [c.get("peer", "203.0.113.9")])))
    hdrs = [("Host", c["authority"])] + [(k, v) for k, v in client if allowed(k) and k.lower() not in ("host", "content-length")]
    hdrs.append(("Content-Length", "0"))
    return {"name": c["name"], "method": c["method"], "target": authz["http_service"]["path_prefix"] + path, "headers": hdrs}

for line in sys.stdin:
    if not line.strip():
        continue
    c = json.loads(line)
    r = envoy(c) if hcm else c
    if r is None:
        print(json.dumps({"name": c["name"], "status": 400, "id": None, "error": "envoy rejected", "body": ""}))
        continue
    raw = ("%s %s HTTP/1.1\r\n" % (r["method"], r["target"])).encode("latin-1")
    raw += b"".join(("%s: %s\r\n" % (k, v)).encode("latin-1") for k, v in r.get("headers", [])) + b"Connection: close\r\n\r\n"
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(raw)
    data = b""
    while True:
        d = s.recv(65536)
        if not d:
            break
        data += d
    s.close()
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    h = {k.strip().lower(): v.strip() for k, _, v in (l.partition(":") for l in lines[1:])}
    print(json.dumps({"name": r["name"], "status": int(lines[0].split()[1]) if lines[0] else 0,
                      "id": h.get("x-meshpol-decision-id"), "error": h.get("x-meshpol-error"),
                      "body": body.decode("utf-8", "replace")}))
PY

# expect NAME STATUS: the reply to NAME in $TMP/replies has that status.
expect() {
	local got
	got=$(jq -r --arg n "$1" 'select(.name == $n) | .status' "$TMP/replies")
	[ "$got" = "$2" ] && ok "$1: $2" || not_ok "$1: $2" "got '$got'" "$(jq -c --arg n "$1" 'select(.name == $n)' "$TMP/replies")"
}
# reason NAME REGEX: the decision log's record of NAME's decision has a reason matching REGEX.
reason() {
	local id
	id=$(jq -r --arg n "$1" 'select(.name == $n) | .id' "$TMP/replies")
	grep -F "\"decision_id\":\"$id\"" "$LOG" | jq -e --arg re "$2" '[.decision.reasons[] | "\(.rule): \(.message)"] | any(test($re))' >/dev/null &&
		ok "$1: the log says why ($2)" || not_ok "$1: the log says why ($2)" "$(grep -F "$id" "$LOG" | head -c 600)"
}

# --- Envoy: the reference bundle, the brief's reproduction ------------------------------------
LOG=$TMP/envoy.jsonl
start_server envoy -m examples/acme -p policies --workers 2 --decision-log "$LOG" || { not_ok "server starts"; e2e_done; }
CANARY=spiffe://acme.io/ns/shop/sa/checkout-v2
CHECKOUT=spiffe://acme.io/ns/shop/sa/checkout
python3 - "$CANARY" "$CHECKOUT" >"$TMP/envoy-cases" <<'PY'
import json, sys
canary, checkout = sys.argv[1], sys.argv[2]
def case(name, cert, method, path, headers=(), authority="payments.billing", leaky=False):
    print(json.dumps({"name": name, "cert": cert, "method": method, "path": path, "authority": authority,
                      "headers": [list(h) for h in headers], "leaky": leaky}))
forged_xfcc = "By=spiffe://x;Hash=00;URI=%s"
gateway = "spiffe://acme.io/ns/edge/sa/ingress-gateway"
# (name, caller, method, path, authority): what the request itself implies; and what a spoof
# would claim instead: a path, a method, a caller with the opposite decision
bases = [("canary refund", canary, "POST", "/v1/refunds", "payments.billing", "/v1/charge", "POST", checkout),
         ("checkout charge", checkout, "POST", "/v1/charge", "payments.billing", "/v1/refunds", "POST", canary),
         ("edge writes the catalog", gateway, "DELETE", "/api/catalog/1", "products.catalog", "/api/catalog/1", "GET", gateway),
         ("edge reads the catalog", gateway, "GET", "/api/catalog/1", "products.catalog", "/api/catalog/1", "DELETE", gateway)]
for base, who, method, path, authority, other_path, other_method, other_who in bases:
    for leaky in (False, True):
        tag = base + (" (every header passed on)" if leaky else "")
        args = dict(authority=authority, leaky=leaky)
        case(tag, who, method, path, **args)
        case(tag + " + X-Original-URI", who, method, path, [("X-Original-URI", other_path)], **args)
        case(tag + " + X-Original-Method", who, method, path, [("X-Original-Method", other_method)], **args)
        case(tag + " + X-Real-IP", who, method, path, [("X-Real-IP", "10.9.9.9")], **args)
        case(tag + " + a forged x-forwarded-client-cert", who, method, path, [("x-forwarded-client-cert", forged_xfcc % other_who)], **args)
        case(tag + " + two forged x-forwarded-client-cert", who, method, path,
             [("x-forwarded-client-cert", forged_xfcc % other_who)] * 2, **args)
        case(tag + " + X-Client-Cert", who, method, path, [("X-Client-Cert", "-----BEGIN%20CERTIFICATE-----"), ("X-Client-Verify", "SUCCESS")], **args)
    name, _, port = authority.partition(":")
    for host in (authority.title(), authority + ".", authority + ".svc.cluster.local", authority + ":8080"):
        case(base + " with Host " + host, who, method, path, authority=host)
case("anonymous charge", None, "POST", "/v1/charge")
case("anonymous charge + a forged x-forwarded-client-cert", None, "POST", "/v1/charge", [("x-forwarded-client-cert", forged_xfcc % checkout)])
case("anonymous charge + X-Forwarded-For", None, "POST", "/v1/charge", [("X-Forwarded-For", "10.1.1.1")])
case("canary refund, escaped: Envoy refuses", canary, "POST", "/v1%2Frefunds")
PY
python3 "$TMP/ask.py" "$PORT" "$TMP/envoy.yaml" <"$TMP/envoy-cases" >"$TMP/replies"
for leaky in "" " (every header passed on)"; do
	for extra in "" " + X-Original-URI" " + X-Original-Method" " + X-Real-IP" " + a forged x-forwarded-client-cert" \
		" + two forged x-forwarded-client-cert" " + X-Client-Cert"; do
		expect "canary refund$leaky$extra" 403
		expect "checkout charge$leaky$extra" 200
		expect "edge writes the catalog$leaky$extra" 403
		expect "edge reads the catalog$leaky$extra" 200
	done
done
for host in Payments.Billing payments.billing. payments.billing.svc.cluster.local payments.billing:8080; do
	expect "canary refund with Host $host" 403
	expect "checkout charge with Host $host" 200
done
for host in Products.Catalog products.catalog. products.catalog.svc.cluster.local products.catalog:8080; do
	expect "edge writes the catalog with Host $host" 403
	expect "edge reads the catalog with Host $host" 200
done
expect "anonymous charge" 403
expect "anonymous charge + a forged x-forwarded-client-cert" 403
expect "canary refund, escaped: Envoy refuses" 400
reason "canary refund" "no-refunds-from-canary"
reason "canary refund (every header passed on) + X-Original-URI" "no-refunds-from-canary"
id=$(jq -r 'select(.name == "anonymous charge + X-Forwarded-For") | .id' "$TMP/replies")
grep -F "$id" "$LOG" | jq -e '.input.source.ip == "203.0.113.9"' >/dev/null &&
	ok "source.ip is the address Envoy appended, not the client's x-forwarded-for" ||
	not_ok "source.ip from Envoy" "$(grep -F "$id" "$LOG" | head -c 400)"
id=$(jq -r 'select(.name == "canary refund (every header passed on) + X-Real-IP") | .id' "$TMP/replies")
grep -F "$id" "$LOG" | jq -e '.input.source.ip == "203.0.113.9"' >/dev/null &&
	ok "X-Real-IP is not read on Envoy's door" || not_ok "X-Real-IP on /v1/check" "$(grep -F "$id" "$LOG" | head -c 400)"

# deny bodies: minimal; the reasons are in the log
jq -c 'select(.name == "canary refund") | .body | fromjson' "$TMP/replies" >"$TMP/deny-body"
jq -e 'keys == ["allow", "decision_id"] and .allow == false' "$TMP/deny-body" >/dev/null &&
	ok "a denial's body is {allow, decision_id}" || not_ok "minimal deny body" "$(cat "$TMP/deny-body")"
grep -qE 'policies/|sha256|no-refunds|rbac\.' "$TMP/deny-body" && not_ok "no policy, rule, file or hash in a denial's body" "$(cat "$TMP/deny-body")" ||
	ok "no policy, rule, file or hash in a denial's body"

# paths as backends read them: /admin;x, /x/..;/admin, /admin%2fx pass an /admin deny when decided
# as written (payments-any-caller allows the rest)
cat >"$TMP/path-cases" <<JSON
{"name": "refunds;x", "method": "POST", "target": "/v1/check/v1/refunds;x", "headers": [["Host", "payments.billing"], ["x-forwarded-client-cert", "URI=$CANARY"]]}
{"name": "x/..;/refunds", "method": "POST", "target": "/v1/check/x/..;/v1/refunds", "headers": [["Host", "payments.billing"], ["x-forwarded-client-cert", "URI=$CANARY"]]}
{"name": "refunds%2fx", "method": "POST", "target": "/v1/check/v1/refunds%2fx", "headers": [["Host", "payments.billing"], ["x-forwarded-client-cert", "URI=$CANARY"]]}
{"name": "v1%2Frefunds", "method": "POST", "target": "/v1/check/v1%2Frefunds", "headers": [["Host", "payments.billing"], ["x-forwarded-client-cert", "URI=$CANARY"]]}
{"name": "v1%5crefunds", "method": "POST", "target": "/v1/check/v1%5crefunds", "headers": [["Host", "payments.billing"], ["x-forwarded-client-cert", "URI=$CANARY"]]}
{"name": "v1 backslash refunds", "method": "POST", "target": "/v1/check/v1\\\\refunds", "headers": [["Host", "payments.billing"], ["x-forwarded-client-cert", "URI=$CANARY"]]}
{"name": "refunds%00", "method": "POST", "target": "/v1/check/v1/refunds%00", "headers": [["Host", "payments.billing"], ["x-forwarded-client-cert", "URI=$CANARY"]]}
{"name": "refunds#x", "method": "POST", "target": "/v1/check/v1/refunds#x", "headers": [["Host", "payments.billing"], ["x-forwarded-client-cert", "URI=$CANARY"]]}
{"name": "two x-forwarded-client-cert", "method": "POST", "target": "/v1/check/v1/charge", "headers": [["Host", "payments.billing"], ["x-forwarded-client-cert", "URI=$CHECKOUT"], ["x-forwarded-client-cert", "URI=$CHECKOUT"]]}
{"name": "refunds/../charge", "method": "POST", "target": "/v1/check/v1/refunds/../charge", "headers": [["Host", "payments.billing"], ["x-forwarded-client-cert", "URI=$CANARY"]]}
{"name": "refunds?x=;%2f", "method": "POST", "target": "/v1/check/v1/charge?x=;%2f", "headers": [["Host", "payments.billing"], ["x-forwarded-client-cert", "URI=$CANARY"]]}
JSON
python3 "$TMP/ask.py" "$PORT" <"$TMP/path-cases" >"$TMP/replies"
for n in 'refunds;x' 'x/..;/refunds' 'refunds%2fx' 'v1%2Frefunds' 'v1%5crefunds' 'v1 backslash refunds' 'refunds%00' 'refunds#x'; do
	expect "$n" 403
done
expect "two x-forwarded-client-cert" 403
reason "two x-forwarded-client-cert" "x-forwarded-client-cert more than once"
reason 'refunds;x' "';' parameter"
reason 'refunds%2fx' 'escaped slash .*--escaped-slashes reject'
reason 'refunds%00' 'NUL'
expect "refunds/../charge" 200
expect "refunds?x=;%2f" 200
expect_stop envoy
expect_rc "envoy: the decision log verifies" 0 "$MESHPOL" verify "$LOG"

# the other path options: strip and unescape decide what Tomcat-like backends route to; keep
# decides the path as written
start_server strip -m examples/acme -p policies --workers 1 --decision-log "$TMP/strip.jsonl" \
	--path-params strip --escaped-slashes unescape || not_ok "strip server starts"
LOG=$TMP/strip.jsonl
python3 "$TMP/ask.py" "$PORT" <"$TMP/path-cases" >"$TMP/replies"
for n in 'refunds;x' 'x/..;/refunds' 'refunds%2fx' 'v1%2Frefunds' 'v1%5crefunds' 'v1 backslash refunds'; do
	expect "$n" 403
done
reason 'x/..;/refunds' 'no-refunds-from-canary'
reason 'v1%5crefunds' 'no-refunds-from-canary'
expect "refunds%00" 403
expect_stop strip
start_server keep -m examples/acme -p policies --workers 1 --path-params keep --escaped-slashes keep || not_ok "keep server starts"
python3 "$TMP/ask.py" "$PORT" <"$TMP/path-cases" >"$TMP/replies"
expect "refunds;x" 200
expect "refunds%2fx" 200
expect "refunds#x" 403
expect_stop keep

# --- nginx: the documented configuration, for real ----------------------------------------------
if [ ! -x "$NGINX" ]; then
	not_ok "nginx is installed ($NGINX)" "run scripts/install-deps.sh"
	e2e_done
fi
PKI=$TMP/pki
WEB_ID=spiffe://t/ns/shop/sa/web
ECHO_ID=spiffe://t/ns/sandbox/sa/echo
pki_init "$PKI" && pki_cert "$PKI" web "URI:$WEB_ID" && pki_cert "$PKI" echo "URI:$ECHO_ID" || { not_ok "test certificates"; e2e_done; }
PAY=$(free_port)
WEB=$(free_port)
UP=$(free_port)
cp -r "$UNIT" "$TMP/bundle"
cat >>"$TMP/bundle/rbac.lua" <<LUA
-- as payments-any-caller in the reference bundle: web may do anything on itself but /admin
allow "web-any" { service = "shop/web", from = { principals = { "$WEB_ID" } } }
allow "nginx-port" { service = "shop/web", methods = { "GET" }, paths = { "/port-only" }, ports = { $WEB } }
LUA
LOG=$TMP/nginx.jsonl
start_server nginx-mp -m "$UNIT/mesh.yaml" -p "$TMP/bundle" --workers 2 --decision-log "$LOG" || { not_ok "server starts"; e2e_done; }
MP=$PORT
nginx_conf "$TMP/ngx/nginx.conf" "$MP" "$UP" "$PKI" "pay.billing:$PAY" "web.shop:$WEB" || { not_ok "the nginx block"; e2e_done; }
start_nginx "$TMP/ngx/nginx.conf" || e2e_done

T=(--cacert "$PKI/ca.pem")
AS_WEB=(--cert "$PKI/web.pem" --key "$PKI/web.key")
AS_ECHO=(--cert "$PKI/echo.pem" --key "$PKI/echo.key")
P=https://127.0.0.1:$PAY
W=https://127.0.0.1:$WEB
WEB_PEM=$(python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(open(sys.argv[1]).read(), safe=""))' "$PKI/web.pem")
SPOOF_ID=(-H "X-Client-Cert: $WEB_PEM" -H "X-Client-Verify: SUCCESS" -H "x-forwarded-client-cert: By=spiffe://x;URI=$WEB_ID")

# nginx_same NAME WANT CURL-ARGS... -- SPOOF-ARGS...: the request alone and with what the client
# adds both get WANT.
nginx_same() {
	local name=$1 want=$2 i
	shift 2
	for ((i = 1; i <= $#; i++)); do [ "${!i}" = -- ] && break; done
	local base=("${@:1:i-1}") spoof=("${@:i+1}")
	check "nginx: $name" "$want" "${T[@]}" "${base[@]}"
	check "nginx: $name, whatever the client adds" "$want" "${T[@]}" "${base[@]}" "${spoof[@]}"
}
nginx_same "the sandbox may not charge" 403 "${AS_ECHO[@]}" -X POST "$P/v1/charge" -- "${SPOOF_ID[@]}"
nginx_same "no certificate, no identity" 403 -X POST "$P/v1/charge" -- "${SPOOF_ID[@]}"
nginx_same "web charges" 200 "${AS_WEB[@]}" -X POST "$P/v1/charge" -- -H "x-forwarded-client-cert: URI=$ECHO_ID" \
	-H 'X-Original-URI: /admin' -H 'X-Original-Method: DELETE' -H 'X-Client-Verify: NONE'
nginx_same "web may not GET a charge" 403 "${AS_WEB[@]}" "$P/v1/charge" -- -H 'X-Original-Method: POST' \
	-H 'X-Original-Method: POST' -H 'X-Original-URI: /v1/charge'
nginx_same "/admin is denied" 403 "${AS_WEB[@]}" "$W/admin" -- -H 'X-Original-URI: /pub/x' -H 'X-Original-URI: /pub/y' \
	-H 'Host: pay.billing' -H 'X-Real-IP: 10.0.0.1'
nginx_same "/pub is public" 200 "$W/pub/x" -- -H 'X-Original-URI: /admin' -H "Host: pay.billing"
nginx_same "no /pub on pay.billing" 403 "$P/pub/x" -- -H 'Host: web.shop' -H "Host: web.shop:$WEB"
nginx_same "a rule on the port the client connected to" 200 "$W/port-only" -- -H 'Host: web.shop:9999'
nginx_same "... not on another server's port" 403 "$P/port-only" -- -H "Host: web.shop:$WEB"
check "nginx: two Host headers: decided for the server nginx routed to" 403 "${T[@]}" "$P/pub/x" -H 'Host: web.shop' -H 'Host: web.shop'
for p in '/admin;x' '/x/..;/admin' '/admin%2fx' '/admin%2Fx' '/pub/x%2f..%2f..%2fadmin' '/pub/..;/admin' '/pub/%2e%2e/admin'; do
	check "nginx: $p is not /admin's way round the deny" 403 "${T[@]}" "${AS_WEB[@]}" --path-as-is "$W$p"
done
check "nginx: web may do the rest (GET /other)" 200 "${T[@]}" "${AS_WEB[@]}" "$W/other"

# the log: the caller and the address are nginx's, never the client's headers
id=$("${CURL[@]}" "${T[@]}" "${AS_ECHO[@]}" -o /dev/null -D - -H 'X-Real-IP: 10.6.6.6' "${SPOOF_ID[@]}" "$W/pub/x" |
	tr -d '\r' | awk -F': ' 'tolower($1) == "x-meshpol-decision-id" { print $2 }')
grep -F "\"decision_id\":\"$id\"" "$LOG" | jq -e --arg w "$WEB" --arg e "$ECHO_ID" '.input.source.principal == $e and
	.input.source.ip == "127.0.0.1" and .input.destination.service == "web" and .input.destination.port == ($w | tonumber) and
	([.input.request.headers | keys[]] - ["host"] | length) == 0' >/dev/null &&
	ok "nginx: the log has the verified caller, nginx's address and port, no client header" ||
	not_ok "nginx log record" "$(grep -F "$id" "$LOG" | head -c 800)"
grep -q '" 500 ' "$TMP/ngx/access.log" && not_ok "nginx never turned an answer into a 500" "$(grep '" 500 ' "$TMP/ngx/access.log" | head -3)" ||
	ok "nginx never turned an answer into a 500"

# what meshpol cannot decide on nginx's door is a 403 with the reason in a header (direct calls:
# the documented configuration never sends these)
N="http://127.0.0.1:$MP/v1/nginx/check"
check "nginx door: an X-Client-Cert that is no certificate: 403" 403 "$N" -H 'Host: web.shop' -H 'X-Original-Method: GET' \
	-H 'X-Original-URI: /pub/x' -H 'X-Client-Verify: SUCCESS' -H 'X-Client-Cert: -----BEGIN%20CERTIFICATE-----%0Agarbage'
printf '%s' "$HDRS" | grep -qi '^x-meshpol-error: source.principal: the X-Client-Cert header is not' &&
	ok "nginx door: x-meshpol-error names the header" || not_ok "x-meshpol-error" "$HDRS"
check "nginx door: no X-Original-URI: 403" 403 "$N" -H 'Host: web.shop' -H 'X-Original-Method: GET'
printf '%s' "$HDRS" | grep -qi '^x-meshpol-error: request.path: missing (no X-Original-URI' && ok "nginx door: ... saying so" || not_ok "no uri error" "$HDRS"
check "nginx door: headers over --max-header: 403, not 431" 403 "$N" -H 'Host: web.shop' -H "X-Big: $(head -c 40000 /dev/zero | tr '\0' a)"
check "nginx door: a malformed Host: 403, not 400" 403 "$N" -H 'Host: web.shop:99999' -H 'X-Original-Method: GET' -H 'X-Original-URI: /'
check "nginx door: x-forwarded-client-cert is never read there" 403 "$N" -H 'Host: web.shop' -H 'X-Original-Method: PUT' \
	-H 'X-Original-URI: /x' -H "x-forwarded-client-cert: URI=$WEB_ID"
kill -QUIT "$NGINX_PID" 2>/dev/null
wait "$NGINX_PID" 2>/dev/null
expect_stop nginx-mp

# --- --trusted-proxy: identity headers from other peers are ignored ------------------------------
start_server untrusted -m examples/acme -p policies --workers 1 --trusted-proxy 10.0.0.0/8 --trusted-proxy ::1/128 ||
	not_ok "untrusted server starts"
check "--trusted-proxy: XFCC from a peer outside the ranges is ignored (anonymous)" 403 -X POST "$BASE/v1/check/v1/charge" \
	-H 'Host: payments.billing' -H "x-forwarded-client-cert: URI=$CHECKOUT"
expect_stop untrusted
start_server trusted -m examples/acme -p policies --workers 1 --trusted-proxy 127.0.0.0/8 || not_ok "trusted server starts"
check "--trusted-proxy: ... and counts from one inside" 200 -X POST "$BASE/v1/check/v1/charge" \
	-H 'Host: payments.billing' -H "x-forwarded-client-cert: URI=$CHECKOUT"
expect_stop trusted
expect_rc "--trusted-proxy refuses what is not a range" 2 "$MESHPOL" serve -m examples/acme -p policies --trusted-proxy 10.0.0.0/33
expect_out "... saying what it takes" "--trusted-proxy takes an address or CIDR range"
e2e_done
