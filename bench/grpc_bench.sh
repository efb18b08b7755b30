#!/usr/bin/env bash
# grpc_bench.sh: Envoy's gRPC ext_authz under load. h2load (nghttp2-client) sends Check calls
# (POST /envoy.service.auth.v3.Authorization/Check, content-type application/grpc, te: trailers,
# the body a prepared CheckRequest: checkout POST /v1/charge to payments.billing:8080, allowed)
# to `meshpol serve --grpc-listen` (the reference bundle and examples/acme), and the same
# requests with the same h2load settings to nginx serving `return 200` over HTTP/2 cleartext
# (`listen ... http2`), each meshpol run paired with an nginx run just before it: requests/s,
# p50 and p99 (from h2load's per-request log), the ratio to nginx (the median of the pairs'
# ratios). Target: the design brief's (>= 50% of nginx's requests/s, p99 < 1 ms at 2
# connections). Every call of a run must come back allowed (the server's metrics are checked).
#
# Environment: DURATION (4 s per run), CONNS (2 and 16: the runs), STREAMS (1: concurrent calls
#              per connection), WORKERS (nproc, both servers), REPS (3), MESHPOL (bin/meshpol),
#              NGINX (/usr/sbin/nginx), NODE (node: encodes the CheckRequest).
# Output: the table on stdout and in out/grpc-results.txt; meshpol's stderr in out/grpc.log.
# Exit 0 whether or not the targets are met (benchmarks report, they do not gate); 1 if a tool
# is missing, a server failed or a call was not allowed.
set -u

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
OUT=$HERE/out
MESHPOL=${MESHPOL:-$ROOT/bin/meshpol}
NGINX=${NGINX:-/usr/sbin/nginx}
NODE=${NODE:-node}
DURATION=${DURATION:-4}
CONNS=${CONNS:-2 16}
STREAMS=${STREAMS:-1}
WORKERS=${WORKERS:-$(nproc)}
REPS=${REPS:-3}
RESULTS=$OUT/grpc-results.txt
METHOD=/envoy.service.auth.v3.Authorization/Check
export MESHPOL_STDLIB=$ROOT/stdlib

. "$HERE/bench_lib.sh"
bench_need grpc_bench "scripts/install-deps.sh" h2load python3 curl "$NODE" "$NGINX" "$MESHPOL"
bench_workdir grpc

# --- the request, the servers -----------------------------------------------------------------
cat >"$WORK/check.json" <<'JSON'
{"attributes": {
  "source": {"principal": "spiffe://acme.io/ns/shop/sa/checkout",
             "address": {"socket_address": {"address": "10.1.2.3", "port_value": 41000}}},
  "destination": {"address": {"socket_address": {"address": "10.1.9.9", "port_value": 8080}}},
  "request": {"http": {"method": "POST", "path": "/v1/charge", "host": "payments.billing:8080",
    "headers": {":authority": "payments.billing:8080", ":method": "POST", ":path": "/v1/charge",
                "content-type": "application/json", "x-request-id": "req-0001",
                "user-agent": "curl/8.0", "accept": "*/*"}}}}}
JSON
# the same through the ingress gateway to the catalog: rules without a `when` (no Lua per call)
cat >"$WORK/catalog.json" <<'JSON'
{"attributes": {
  "source": {"principal": "spiffe://acme.io/ns/edge/sa/ingress-gateway",
             "address": {"socket_address": {"address": "10.1.2.4", "port_value": 41000}}},
  "request": {"http": {"method": "GET", "path": "/api/catalog/products/sku-4711",
    "host": "products.catalog:8080",
    "headers": {":authority": "products.catalog:8080", ":method": "GET",
                ":path": "/api/catalog/products/sku-4711", "accept": "application/json",
                "x-request-id": "req-0002", "user-agent": "curl/8.0"}}}}}
JSON
"$NODE" "$ROOT/tests/e2e/grpc_check.js" encode "$WORK/catalog.json" "$WORK/catalog.bin" &&
"$NODE" "$ROOT/tests/e2e/grpc_check.js" encode "$WORK/check.json" "$WORK/check.bin" || {
	echo "grpc_bench: cannot encode the CheckRequest (scripts/install-deps.sh installs tests/npm)" >&2
	exit 1
}

NPORT=$(free_port)
user=""
[ "$(id -u)" = 0 ] && user="user root;"
cat >"$WORK/nginx.conf" <<CONF
$user
worker_processes $WORKERS;
pid $WORK/nginx.pid;
error_log $WORK/nginx-error.log;
events { worker_connections 1024; }
http {
  access_log off;
  keepalive_requests 100000000;
  http2_max_requests 100000000;
  client_body_temp_path $WORK/body; proxy_temp_path $WORK/proxy; fastcgi_temp_path $WORK/fcgi;
  uwsgi_temp_path $WORK/uwsgi; scgi_temp_path $WORK/scgi;
  server { listen 127.0.0.1:$NPORT http2; location / { return 200 "ok\n"; } }
}
CONF
"$NGINX" -c "$WORK/nginx.conf" -g 'daemon off;' >"$WORK/nginx.out" 2>&1 &
PIDS+=($!)
HPORT=$(free_port)
GPORT=$(free_port)
"$MESHPOL" serve -m "$ROOT/examples/acme" -p "$ROOT/policies" --listen "127.0.0.1:$HPORT" \
	--grpc-listen "127.0.0.1:$GPORT" --workers "$WORKERS" >"$OUT/grpc.log" 2>&1 &
MP_PID=$!
PIDS+=($MP_PID)
for _ in $(seq 1 100); do
	curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$HPORT/health" &&
		curl -s -o /dev/null --max-time 1 --http2-prior-knowledge "http://127.0.0.1:$NPORT/" && break
	sleep 0.1
done
allowed() {
	curl -s --max-time 5 "http://127.0.0.1:$HPORT/metrics" |
		awk '$1 == "meshpol_decisions_total{endpoint=\"grpc\",effect=\"allowed\"}" { print $2 }'
}

# --- the runs ---------------------------------------------------------------------------------
TICK_US=$(awk -v t="$(getconf CLK_TCK)" 'BEGIN { print 1000000 / t }')
# run KEY PORT CONNS PID...: one h2load run; appends "rps p50_us p99_us cpu_us_per_call" to
# $WORK/KEY (CPU: the server processes', user + system, over the calls completed: on a busy
# machine it moves far less than req/s and the latencies)
run() {
	local key=$1 port=$2 conns=$3 body=$4 out rps t0 n
	shift 4
	rm -f "$WORK/h2.log"
	t0=$(cpu_ticks "$@")
	out=$(h2load -t1 -c"$conns" -m"$STREAMS" -D "$DURATION" -d "$WORK/$body.bin" \
		-H 'content-type: application/grpc' -H 'te: trailers' --log-file="$WORK/h2.log" \
		"http://127.0.0.1:$port$METHOD" 2>&1)
	rps=$(echo "$out" | awk '/^finished in/ { gsub(",", "", $4); print $4 }')
	if [ -z "$rps" ] || ! echo "$out" | grep -q ' 0 failed, 0 errored'; then
		echo "grpc_bench: $key: h2load failed or got errors:" >&2
		echo "$out" | tail -15 >&2
	fi
	# the log: start time, status, microseconds until the end of the response
	n=$(echo "$out" | awk '/^requests:/ { print $8 }')
	cpu=$(awk -v a="$t0" -v b="$(cpu_ticks "$@")" -v n="${n:-0}" -v t="$TICK_US" \
		'BEGIN { print (n > 0 ? (b - a) * t / n : 0) }')
	sort -n -k3 "$WORK/h2.log" | awk -v rps="${rps:-0}" -v cpu="$cpu" -v n="${n:-0}" '{ v[NR] = $3 } END {
		if (NR == 0) { print rps, 0, 0, cpu, n; exit }
		i = int(NR * 0.99); if (i < 1) i = 1
		print rps, v[int((NR + 1) / 2)], v[i], cpu, n }' >>"$WORK/$key"
}
echo "grpc_bench: $REPS rounds of ${DURATION}s runs, h2load -t1 -m$STREAMS -c {$CONNS}, $WORKERS workers each" >&2
NGINX_PIDS="$(cat "$WORK/nginx.pid") $(pgrep -P "$(cat "$WORK/nginx.pid")" | tr '\n' ' ')"
load=$(cut -d' ' -f1-3 /proc/loadavg)
before=$(allowed)
for r in $(seq 1 "$REPS"); do
	echo "grpc_bench: round $r/$REPS" >&2
	for c in $CONNS; do
		for body in check catalog; do # each paired with an nginx run just before it
			run "nginx-$c" "$NPORT" "$c" check $NGINX_PIDS
			run "$body-$c" "$GPORT" "$c" "$body" "$MP_PID"
			awk 'END { print $1 }' "$WORK/$body-$c" | awk -v n="$(awk 'END { print $1 }' "$WORK/nginx-$c")" \
				'{ print (n > 0 ? $1 / n : 0) }' >>"$WORK/ratio-$body-$c"
		done
	done
done
kill -0 "$MP_PID" 2>/dev/null || { echo "grpc_bench: meshpol died during the runs:" >&2; tail -5 "$OUT/grpc.log" >&2; exit 1; }
after=$(allowed)
calls=$(cat "$WORK"/check-* "$WORK"/catalog-* 2>/dev/null | awk '{ s += $5 } END { print s + 0 }')
rss=$(awk '/^VmHWM/ { printf "%.1f MB", $2 / 1024 }' "/proc/$MP_PID/status")

# --- the table --------------------------------------------------------------------------------
median() { # FILE COLUMN
	awk -v c="$2" '{ print $c }' "$1" | sort -g | awk '{ v[NR] = $1 } END {
		if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
{
	echo "meshpol gRPC Check vs nginx \`return 200\` over h2c: h2load -t1 -m$STREAMS, ${DURATION}s x $REPS rounds (medians), $WORKERS workers each, $(nproc) CPUs"
	echo
	printf '| %-28s | %5s | %9s | %8s | %8s | %8s | %8s |\n' target conns req/s p50 p99 "vs nginx" "CPU/call"
	printf '|%s|%s|%s|%s|%s|%s|%s|\n' "------------------------------" "-------" "-----------" "----------" "----------" "----------" "----------"
	for c in $CONNS; do
		for who in nginx check catalog; do
			label="nginx \`return 200\` (h2c)"
			ratio=100
			if [ $who != nginx ]; then
				label="Check: payments (when)"
				[ $who = catalog ] && label="Check: catalog (no when)"
				ratio=$(median "$WORK/ratio-$who-$c" 1 | awk '{ printf "%.0f", $1 * 100 }')
			fi
			printf '| %-28s | %5s | %9.0f | %8s | %8s | %7s%% | %5.1f us |\n' "$label" "$c" "$(median "$WORK/$who-$c" 1)" \
				"$(fmt_us "$(median "$WORK/$who-$c" 2)")" "$(fmt_us "$(median "$WORK/$who-$c" 3)")" "$ratio" \
				"$(median "$WORK/$who-$c" 4)"
		done
	done
	echo
	echo "load average before the runs: $load (the machine's other work moves req/s and p99; CPU/call much less)"
	echo "calls completed: $calls; allowed decisions counted by the server meanwhile: $((${after:-0} - ${before:-0})) (the same: every call allowed); peak RSS $rss"
	p99=$(median "$WORK/check-2" 3 2>/dev/null)
	r2=$(median "$WORK/ratio-check-2" 1 2>/dev/null | awk '{ printf "%.0f", $1 * 100 }')
	echo "targets at 2 connections (payments): >= 50% of nginx's req/s: ${r2:-?}%; p99 < 1 ms: $(fmt_us "${p99:-0}")"
} | tee "$RESULTS"
[ "$calls" -gt 0 ] && [ "$calls" -le "$((${after:-0} - ${before:-0}))" ] || {
	echo "grpc_bench: not every call was allowed: the figures are void" >&2
	exit 1
}
