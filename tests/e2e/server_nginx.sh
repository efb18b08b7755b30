#!/usr/bin/env bash
# tests/e2e/server_nginx.sh: a real proxy in front of a service asks `meshpol serve` on every
# request: nginx with auth_request to /v1/nginx/check, configured exactly as docs/server.md shows
# (the block is read from there), callers identified by the TLS client certificates nginx
# verifies, a trivial upstream behind it. Allowed requests reach the upstream, denied ones get
# 403, and nothing meshpol answers becomes a 500. The spoofing attempts are server_spoof.sh's.
. "$(dirname "$0")/server_lib.sh"

if [ ! -x "$NGINX" ]; then
	not_ok "nginx is installed ($NGINX)" "run scripts/install-deps.sh"
	e2e_done
fi

PKI=$TMP/pki
pki_init "$PKI" && pki_cert "$PKI" web 'URI:spiffe://t/ns/shop/sa/web' && pki_cert "$PKI" echo 'URI:spiffe://t/ns/sandbox/sa/echo' &&
	pki_cert "$PKI" nouri 'DNS:nouri.example' || { not_ok "test certificates"; e2e_done; }
PAY=$(free_port)
WEB=$(free_port)
UP=$(free_port)
# the bundle, with a rule on the port nginx listens on for web.shop (the destination's port is
# the one the client connected to)
cp -r "$UNIT" "$TMP/bundle"
echo "allow \"nginx-port\" { service = \"shop/web\", methods = { \"GET\" }, paths = { \"/port-only\" }, ports = { $WEB } }" >>"$TMP/bundle/rbac.lua"
start_server mp -m "$UNIT/mesh.yaml" -p "$TMP/bundle" --workers 2 --decision-log "$TMP/decisions.jsonl" ||
	{ not_ok "meshpol serve starts"; e2e_done; }
nginx_conf "$TMP/ngx/nginx.conf" "$PORT" "$UP" "$PKI" "pay.billing:$PAY" "web.shop:$WEB" ||
	{ not_ok "the documented nginx block can be instantiated"; e2e_done; }
ok "the documented nginx block can be instantiated"
start_nginx "$TMP/ngx/nginx.conf" || e2e_done
ok "nginx runs the documented configuration"

T=(--cacert "$PKI/ca.pem")
AS_WEB=(--cert "$PKI/web.pem" --key "$PKI/web.key")
AS_ECHO=(--cert "$PKI/echo.pem" --key "$PKI/echo.key")
P=https://127.0.0.1:$PAY
W=https://127.0.0.1:$WEB

check "nginx: web may charge (reaches the upstream)" 200 "${T[@]}" "${AS_WEB[@]}" -X POST "$P/v1/charge"
[ "$BODY" = "upstream /v1/charge" ] && ok "nginx: the upstream answered" || not_ok "upstream body" "$BODY"
printf '%s' "$HDRS" | grep -qiE '^x-meshpol-decision-id: [0-9a-f-]{36}' && ok "nginx: the decision id comes back to the client" ||
	not_ok "decision id through nginx" "$HDRS"
check "nginx: the sandbox may not (403, upstream not reached)" 403 "${T[@]}" "${AS_ECHO[@]}" -X POST "$P/v1/charge"
[ "${BODY#upstream}" = "$BODY" ] && ok "nginx: a denied request never reaches the upstream" || not_ok "denied reached upstream"
printf '%s' "$HDRS" | grep -qiE '^x-meshpol-decision-id: [0-9a-f-]{36}' && ok "nginx: the 403 carries the decision id" ||
	not_ok "decision id on 403" "$HDRS"
check "nginx: web may not GET the charge endpoint" 403 "${T[@]}" "${AS_WEB[@]}" "$P/v1/charge"
check "nginx: no certificate, no identity: 403" 403 "${T[@]}" -X POST "$P/v1/charge"
check "nginx: a certificate without a URI SAN is no identity: 403" 403 "${T[@]}" --cert "$PKI/nouri.pem" --key "$PKI/nouri.key" -X POST "$P/v1/charge"
check "nginx: template paths (GET /v1/charges/42/items from the shop namespace)" 200 "${T[@]}" "${AS_WEB[@]}" "$P/v1/charges/42/items"
check "nginx: a path trick (/v1/charges/../refund) is normalised" 403 "${T[@]}" "${AS_WEB[@]}" \
	"$P/v1/charges/42/items/../../../admin" --path-as-is
check "nginx: query strings do not change the path" 200 "${T[@]}" "${AS_WEB[@]}" -X POST "$P/v1/charge?amount=10"
check "nginx: public paths for anyone (GET web.shop /pub/x)" 200 "${T[@]}" "$W/pub/a/b"
check "nginx: a denied path on the same service (/admin)" 403 "${T[@]}" "$W/admin"
check "nginx: the port the client connected to is the destination's (a rule on it)" 200 "${T[@]}" "$W/port-only"
check "nginx: ... which the other server block does not have" 403 "${T[@]}" "$P/port-only"

# many clients through the proxy
cat >"$TMP/mix.py" <<'PY'
import http.client, json, ssl, sys, threading
pki, pay, web = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
def ctx(who):
    c = ssl.create_default_context(cafile=pki + "/ca.pem")
    if who:
        c.load_cert_chain(pki + "/%s.pem" % who, pki + "/%s.key" % who)
    return c
mix = [("web", pay, "POST", "/v1/charge", 200), ("echo", pay, "POST", "/v1/charge", 403), (None, web, "GET", "/pub/x", 200)]
lock, total = threading.Lock(), {"sent": 0, "unexpected": 0, "errors": 0, "status": {}}
def run(t):
    conns = {}
    for i in range(75):
        who, port, method, path, want = mix[(t + i) % len(mix)]
        try:
            if (who, port) not in conns:
                conns[(who, port)] = http.client.HTTPSConnection("127.0.0.1", port, context=ctx(who), timeout=10)
            c = conns[(who, port)]
            c.request(method, path)
            r = c.getresponse()
            r.read()
            with lock:
                total["sent"] += 1
                total["status"][str(r.status)] = total["status"].get(str(r.status), 0) + 1
                total["unexpected"] += r.status != want
        except Exception as e:
            with lock:
                total["errors"] += 1
            conns.pop((who, port), None)
ts = [threading.Thread(target=run, args=(t,)) for t in range(8)]
for t in ts: t.start()
for t in ts: t.join()
print(json.dumps(total))
PY
summary=$(python3 "$TMP/mix.py" "$PKI" "$PAY" "$WEB")
echo "$summary" | jq -e '.errors == 0 and .unexpected == 0 and .sent == 600 and .status["403"] > 0' >/dev/null &&
	ok "nginx: 600 requests from 8 clients, every one decided right" || not_ok "nginx load" "$summary"
grep -q '" 500 ' "$TMP/ngx/access.log" && not_ok "nginx never saw a 500" "$(grep '" 500 ' "$TMP/ngx/access.log" | head -3)" ||
	ok "nginx never saw a 500"

kill -QUIT "$NGINX_PID" 2>/dev/null
wait "$NGINX_PID" 2>/dev/null
decided=$("${CURL[@]}" "$BASE/metrics" | awk '/^meshpol_decisions_total\{endpoint="nginx"/ { s += $2 } END { print s }')
expect_stop mp
expect_rc "nginx: the decision log verifies" 0 "$MESHPOL" verify "$TMP/decisions.jsonl"
logged=$(grep -c '"endpoint":"/v1/nginx/check"' "$TMP/decisions.jsonl")
[ "$logged" = "$decided" ] && [ "$logged" -ge 612 ] && ok "nginx: every decision logged ($logged)" ||
	not_ok "decisions logged" "logged $logged, decided $decided, sent 612"
grep '"endpoint":"/v1/nginx/check"' "$TMP/decisions.jsonl" | head -1 |
	jq -e --arg p "$PAY" '.input.source.principal == "spiffe://t/ns/shop/sa/web" and .input.source.ip == "127.0.0.1" and
		.input.destination.port == ($p | tonumber) and .input.request.path == "/v1/charge" and
		(.input.request.headers | has("x-client-cert") | not)' >/dev/null &&
	ok "nginx: the log has the caller from the certificate, the address nginx saw, the port it listened on" ||
	not_ok "nginx log record" "$(grep -m1 '/v1/nginx/check' "$TMP/decisions.jsonl" | head -c 800)"
e2e_done
