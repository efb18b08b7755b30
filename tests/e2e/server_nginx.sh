#!/usr/bin/env bash
# tests/e2e/server_nginx.sh: a real proxy in front of a service asks `meshpol serve` on every
# request: nginx with auth_request to /v1/check, a trivial upstream behind it, identities passed
# the way a mesh passes them (x-forwarded-client-cert). Allowed requests reach the upstream,
# denied ones get 403. The configuration is the one docs/server.md shows.
. "$(dirname "$0")/server_lib.sh"

NGINX=${NGINX:-/usr/sbin/nginx}
if [ ! -x "$NGINX" ]; then
	not_ok "nginx is installed ($NGINX)" "run scripts/install-deps.sh"
	e2e_done
fi

start_server mp -m "$UNIT/mesh.yaml" -p "$UNIT" --workers 2 --decision-log "$TMP/decisions.jsonl" ||
	{ not_ok "meshpol serve starts"; e2e_done; }
MP_PORT=$PORT
FRONT=$(free_port)
UP=$(free_port)
mkdir -p "$TMP/ngx"
user=""
[ "$(id -u)" = 0 ] && user="user root;"
cat >"$TMP/ngx/nginx.conf" <<CONF
$user
worker_processes 1;
pid $TMP/ngx/nginx.pid;
error_log $TMP/ngx/error.log warn;
events { worker_connections 128; }
http {
  access_log $TMP/ngx/access.log;
  client_body_temp_path $TMP/ngx/body;
  proxy_temp_path $TMP/ngx/proxy;
  fastcgi_temp_path $TMP/ngx/fastcgi;
  uwsgi_temp_path $TMP/ngx/uwsgi;
  scgi_temp_path $TMP/ngx/scgi;

  upstream meshpol { server 127.0.0.1:$MP_PORT; keepalive 8; }

  # the service being protected
  server {
    listen 127.0.0.1:$UP;
    location / { return 200 "upstream\n"; }
  }

  # the proxy in front of it
  server {
    listen 127.0.0.1:$FRONT;
    location / {
      auth_request /_meshpol;
      auth_request_set \$decision_id \$upstream_http_x_meshpol_decision_id;
      add_header x-meshpol-decision-id \$decision_id always;
      proxy_pass http://127.0.0.1:$UP;
    }
    location = /_meshpol {
      internal;
      proxy_pass http://meshpol/v1/check;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_pass_request_body off;
      proxy_set_header Content-Length "";
      proxy_set_header Host \$host;
      proxy_set_header X-Original-Method \$request_method;
      proxy_set_header X-Original-URI \$request_uri;
    }
  }
}
CONF
"$NGINX" -t -c "$TMP/ngx/nginx.conf" -g 'daemon off;' >"$TMP/ngx/t.out" 2>&1 && ok "nginx accepts the configuration" ||
	not_ok "nginx -t" "$(cat "$TMP/ngx/t.out")"
"$NGINX" -c "$TMP/ngx/nginx.conf" -g 'daemon off;' >"$TMP/ngx/out" 2>&1 &
NGINX_PID=$!
SERVER_PIDS+=("$NGINX_PID")
for i in $(seq 1 50); do
	"${CURL[@]}" -o /dev/null "http://127.0.0.1:$UP/" && break
	sleep 0.1
done

N=http://127.0.0.1:$FRONT
XFCC_WEB='By=spiffe://t/ns/billing/sa/pay;Hash=1f2e3d;Subject="CN=web,O=t";URI=spiffe://t/ns/shop/sa/web'
XFCC_ECHO='By=spiffe://t/ns/billing/sa/pay;Hash=4c5d6e;URI=spiffe://t/ns/sandbox/sa/echo'

check "nginx: web may charge (reaches the upstream)" 200 -X POST -H 'Host: pay.billing' -H "x-forwarded-client-cert: $XFCC_WEB" "$N/v1/charge"
[ "$BODY" = upstream ] && ok "nginx: the upstream answered" || not_ok "upstream body" "$BODY"
printf '%s' "$HDRS" | grep -qiE '^x-meshpol-decision-id: [0-9a-f-]{36}' && ok "nginx: the decision id comes back to the client" ||
	not_ok "decision id through nginx" "$HDRS"
check "nginx: the sandbox may not (403, upstream not reached)" 403 -X POST -H 'Host: pay.billing' -H "x-forwarded-client-cert: $XFCC_ECHO" "$N/v1/charge"
[ "$BODY" != upstream ] && ok "nginx: a denied request never reaches the upstream" || not_ok "denied reached upstream"
printf '%s' "$HDRS" | grep -qiE '^x-meshpol-decision-id: [0-9a-f-]{36}' && ok "nginx: the 403 carries the decision id" ||
	not_ok "decision id on 403" "$HDRS"
check "nginx: web may not GET the charge endpoint" 403 -H 'Host: pay.billing' -H "x-forwarded-client-cert: $XFCC_WEB" "$N/v1/charge"
check "nginx: no identity at all: 403" 403 -X POST -H 'Host: pay.billing' "$N/v1/charge"
check "nginx: the last XFCC element is the caller (web after echo)" 200 -X POST -H 'Host: pay.billing.svc.cluster.local' \
	-H "x-forwarded-client-cert: $XFCC_ECHO,$XFCC_WEB" "$N/v1/charge"
check "nginx: the last XFCC element is the caller (echo after web)" 403 -X POST -H 'Host: pay.billing' \
	-H "x-forwarded-client-cert: $XFCC_WEB,$XFCC_ECHO" "$N/v1/charge"
check "nginx: template paths (GET /v1/charges/42/items from the shop namespace)" 200 -H 'Host: pay.billing' \
	-H "x-forwarded-client-cert: $XFCC_WEB" "$N/v1/charges/42/items"
check "nginx: a path trick (/v1/charges/../refund) is normalised" 403 -H 'Host: pay.billing' \
	-H "x-forwarded-client-cert: $XFCC_WEB" "$N/v1/charges/42/items/../../../admin" --path-as-is
check "nginx: query strings do not change the path" 200 -X POST -H 'Host: pay.billing' \
	-H "x-forwarded-client-cert: $XFCC_WEB" "$N/v1/charge?amount=10"
check "nginx: public paths for anyone (GET web.shop /pub/x)" 200 -H 'Host: web.shop:8080' "$N/pub/a/b"
check "nginx: a denied path on the same service (/admin)" 403 -H 'Host: web.shop' "$N/admin"

# many clients through the proxy
cat >"$TMP/nginx-mix.json" <<JSON
[{"method": "POST", "path": "/v1/charge", "expect": 200, "headers": {"Host": "pay.billing", "x-forwarded-client-cert": "$(echo "$XFCC_WEB" | sed 's/"/\\"/g')"}},
 {"method": "POST", "path": "/v1/charge", "expect": 403, "headers": {"Host": "pay.billing", "x-forwarded-client-cert": "$XFCC_ECHO"}},
 {"method": "GET", "path": "/pub/x", "expect": 200, "headers": {"Host": "web.shop"}}]
JSON
summary=$(python3 "$TMP/client.py" "$FRONT" "$TMP/nginx-mix.json" 8 600)
echo "$summary" | jq -e '.errors == 0 and .unexpected == 0 and .sent == 600 and .status["403"] > 0' >/dev/null &&
	ok "nginx: 600 requests from 8 clients, every one decided right" || not_ok "nginx load" "$summary"
grep -q ' 500 ' "$TMP/ngx/access.log" && not_ok "nginx never saw a 500" "$(grep ' 500 ' "$TMP/ngx/access.log" | head -3)" ||
	ok "nginx never saw a 500"

kill -QUIT "$NGINX_PID" 2>/dev/null
wait "$NGINX_PID" 2>/dev/null
decided=$("${CURL[@]}" "$BASE/metrics" | awk '/^meshpol_decisions_total/ { s += $2 } END { print s }')
expect_stop mp
expect_rc "nginx: the decision log verifies" 0 "$MESHPOL" verify "$TMP/decisions.jsonl"
logged=$(grep -c '"type":"decision"' "$TMP/decisions.jsonl")
[ "$logged" = "$decided" ] && [ "$logged" -ge 611 ] && ok "nginx: every decision logged ($logged)" ||
	not_ok "decisions logged" "logged $logged, decided $decided, sent 611"
e2e_done
