# tests/e2e/server_lib.sh: helpers for the `meshpol serve` end-to-end scripts (server*.sh):
# start a server on a free loopback port, wait for it, stop it with SIGTERM and check that it
# exits 0 (under `make check` a leak or a sanitizer error makes that fail). Sourced by them;
# run on its own (tests/run.sh runs every *.sh) it does nothing.
[ "${BASH_SOURCE[0]}" = "$0" ] && exit 0

. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
export MESHPOL_STDLIB="$PWD/stdlib"
UNIT=tests/data/bundles/unit
CURL=(curl -s --max-time 10)
SERVER_PIDS=()
trap 'for p in "${SERVER_PIDS[@]}"; do kill -KILL "$p" 2>/dev/null; done; rm -rf "$TMP"' EXIT

free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# start_server NAME ARGS...: runs `meshpol serve --listen 127.0.0.1:PORT ARGS...` with its
# output in $TMP/NAME.log; sets SRV_PID and PORT (and BASE=http://127.0.0.1:PORT). PORT is a free
# one, or $START_PORT (a server restarted where it was). Waits up to 15 s for /health (plain HTTP
# only; TLS servers pass HEALTH_CURL_ARGS). Returns 1 if it never answered.
start_server() {
	local name=$1 i
	shift
	PORT=${START_PORT:-$(free_port)}
	BASE=http://127.0.0.1:$PORT
	"$MESHPOL" serve --listen "127.0.0.1:$PORT" "$@" >"$TMP/$name.log" 2>&1 &
	SRV_PID=$!
	SERVER_PIDS+=("$SRV_PID")
	for i in $(seq 1 150); do
		if "${CURL[@]}" -o /dev/null ${HEALTH_CURL_ARGS:-} "${HEALTH_URL:-$BASE}/health" 2>/dev/null; then
			return 0
		fi
		kill -0 "$SRV_PID" 2>/dev/null || break
		sleep 0.1
	done
	echo "# server $name did not start:"
	sed 's/^/# /' "$TMP/$name.log" | head -20
	return 1
}

# stop_server NAME [PID]: SIGTERM, then waits up to 30 s; sets STOP_RC (the exit code, or
# "hung") and STOP_MS (how long it took).
stop_server() {
	local name=$1 pid=${2:-$SRV_PID} i start
	start=$(date +%s%N)
	kill -TERM "$pid" 2>/dev/null
	STOP_RC=hung
	for i in $(seq 1 300); do
		if ! kill -0 "$pid" 2>/dev/null; then
			wait "$pid"
			STOP_RC=$?
			break
		fi
		sleep 0.1
	done
	if [ "$STOP_RC" = hung ]; then
		kill -KILL "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	fi
	STOP_MS=$((($(date +%s%N) - start) / 1000000))
}

# expect_stop NAME: stop_server, and one check that it exited 0.
expect_stop() {
	stop_server "$@"
	if [ "$STOP_RC" = 0 ]; then
		ok "$1: SIGTERM: clean exit 0"
	else
		not_ok "$1: SIGTERM: clean exit 0" "exit $STOP_RC" "$(tail -30 "$TMP/$1.log")"
	fi
}

# check NAME WANT CURL-ARGS...: one request; the status must be WANT. The body is in $BODY,
# the headers in $HDRS.
check() {
	local name=$1 want=$2 code
	shift 2
	rm -f "$TMP/body" "$TMP/hdrs" # a request that gets no reply must not read the last one's
	code=$("${CURL[@]}" -o "$TMP/body" -D "$TMP/hdrs" -w '%{http_code}' "$@")
	BODY=$(cat "$TMP/body" 2>/dev/null)
	HDRS=$(cat "$TMP/hdrs" 2>/dev/null)
	if [ "$code" = "$want" ]; then ok "$name"; else not_ok "$name" "status $code, want $want" "body: ${BODY:0:400}"; fi
}

# jq_ok NAME FILTER: $BODY satisfies the jq filter.
jq_ok() {
	if printf '%s' "$BODY" | jq -e "$2" >/dev/null 2>&1; then ok "$1"; else not_ok "$1" "jq: $2" "body: ${BODY:0:600}"; fi
}

# logged NAME ID FILTER: the record of decision ID in the decision log ($DECLOG, else
# $TMP/decisions.jsonl) satisfies the jq FILTER.
logged() {
	local rec
	rec=$(grep -F "\"decision_id\":\"$2\"" "${DECLOG:-$TMP/decisions.jsonl}" | head -1)
	if [ -n "$2" ] && printf '%s' "$rec" | jq -e "$3" >/dev/null 2>&1; then ok "$1"; else not_ok "$1" "jq: $3" "record: ${rec:0:600}"; fi
}

# metric NAME: the value of a metric line (exact name with labels) from $BASE/metrics.
metric() {
	"${CURL[@]}" "${METRICS_URL:-$BASE}/metrics" | awk -v m="$1" '$1 == m { print $2 }'
}

# A load client: python3 $TMP/client.py PORT SPEC.json THREADS COUNT|STOPFILE [TRACE]
# SPEC is a list of requests {"method", "path", "headers", "body"}; each thread keeps one
# HTTP/1.1 connection and cycles through them, COUNT requests in all, or until STOPFILE exists.
# With TRACE, thread 0 writes "status allow" per request, in order. Prints a JSON summary:
# {"sent", "status": {code: n}, "errors", "decisions", "unexpected"} (decisions: 200/403 from
# /v1/*; unexpected: replies whose status is not the request's "expect", when it has one).
cat >"$TMP/client.py" <<'PY'
import http.client, json, os, sys, threading, time
port, spec, nthreads, until = int(sys.argv[1]), json.load(open(sys.argv[2])), int(sys.argv[3]), sys.argv[4]
trace = open(sys.argv[5], "w") if len(sys.argv) > 5 else None
lock = threading.Lock()
total = {"sent": 0, "status": {}, "errors": 0, "decisions": 0, "unexpected": 0, "error_samples": []}
count = int(until) if until.isdigit() else None
budget = [count]
def take():
    with lock:
        if count is None:
            return not os.path.exists(until)
        if budget[0] <= 0:
            return False
        budget[0] -= 1
        return True
def run(tid):
    conn, i = None, tid
    while take():
        r = spec[i % len(spec)]
        i += 1
        try:
            if conn is None:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            body = r.get("body")
            if body is not None and not isinstance(body, str):
                body = json.dumps(body)
            conn.request(r.get("method", "GET"), r["path"], body=body, headers=r.get("headers", {}))
            resp = conn.getresponse()
            data = resp.read()
            code = resp.status
            allow = ""
            if code in (200, 403) and (resp.getheader("Content-Type") or "").startswith("application/json"):
                d = json.loads(data)
                if "decision_id" in d:
                    allow = str(d.get("allow", d.get("result")))
            with lock:
                total["sent"] += 1
                total["status"][str(code)] = total["status"].get(str(code), 0) + 1
                if allow:
                    total["decisions"] += 1
                if "expect" in r and r["expect"] != code:
                    total["unexpected"] += 1
            if trace and tid == 0:
                trace.write("%d %s\n" % (code, allow))
            if resp.getheader("Connection", "").lower() == "close":
                conn.close()
                conn = None
        except Exception as e:
            with lock:
                total["errors"] += 1
                if len(total["error_samples"]) < 5:
                    total["error_samples"].append(repr(e))
            if conn:
                conn.close()
            conn = None
            time.sleep(0.01)
threads = [threading.Thread(target=run, args=(t,)) for t in range(nthreads)]
for t in threads: t.start()
for t in threads: t.join()
if trace: trace.close()
print(json.dumps(total))
PY

# doc_block NAME [DOC]: prints the fenced block of DOC (docs/server.md) that follows the line
# "<!-- meshpol-config: NAME ...": the configurations the tests run are the documented ones.
doc_block() {
	awk -v name="$1" '
		index($0, "<!-- meshpol-config: " name " ") == 1 { found = 1; next }
		found == 1 && /^```/ { found = 2; next }
		found == 2 && /^```/ { exit }
		found == 2 { print }' "${2:-docs/server.md}"
}

# pki_init DIR: a throwaway CA (DIR/ca.pem, DIR/ca.key) and a server certificate for 127.0.0.1
# (DIR/server.pem, .key); pki_cert DIR NAME SAN: a client certificate DIR/NAME.pem (.key)
# signed by that CA, with subjectAltName SAN ("URI:spiffe://..."). 0 on success.
pki_cert() {
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$1/$2.key" -out "$1/$2.csr" \
		-subj "/CN=$2" 2>/dev/null &&
		printf 'subjectAltName=%s\n' "$3" >"$1/$2.ext" &&
		openssl x509 -req -in "$1/$2.csr" -CA "$1/ca.pem" -CAkey "$1/ca.key" -CAcreateserial -out "$1/$2.pem" \
			-days 1 -extfile "$1/$2.ext" 2>/dev/null
}
pki_init() {
	mkdir -p "$1" &&
		openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$1/ca.key" -out "$1/ca.pem" \
			-days 1 -subj /CN=meshpol-test-ca 2>/dev/null &&
		pki_cert "$1" server 'DNS:localhost,IP:127.0.0.1'
}

# nginx_conf OUT MP_PORT UPSTREAM_PORT PKI NAME:PORT...: writes an nginx configuration to OUT
# from the documented block (doc_block nginx): meshpol's address, one server block per NAME:PORT
# (its server_name and listen port), the test's certificates, and a trivial upstream that answers
# "upstream <uri>". Fails (1, with the reason on stderr) when the block no longer has a line the
# substitution needs, so the documentation cannot drift from what is tested.
nginx_conf() {
	local out=$1 mp=$2 up=$3 pki=$4
	shift 4
	mkdir -p "$TMP/ngx"
	doc_block nginx >"$TMP/nginx-doc.conf"
	python3 - "$TMP/nginx-doc.conf" "$out" "$mp" "$up" "$pki" "$TMP/ngx" "$(id -u)" "$@" <<'PY'
import re, sys
doc, out, mp, up, pki, run, uid, servers = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5], sys.argv[6], sys.argv[7], sys.argv[8:]
text = open(doc).read()
def sub(t, old, new):
    if t.count(old) != 1:
        sys.exit("docs/server.md's nginx block: expected one %r, found %d" % (old, t.count(old)))
    return t.replace(old, new)
text = sub(text, "server 127.0.0.1:8181;", "server 127.0.0.1:%s;" % mp)
start = text.index("\nserver {") + 1
depth, i = 0, start
while True:
    if text[i] == "{": depth += 1
    if text[i] == "}":
        depth -= 1
        if depth == 0: break
    i += 1
upstreams, block = text[:start], text[start:i + 1]
for old, new in (("/etc/nginx/tls/server.pem", pki + "/server.pem"), ("/etc/nginx/tls/server.key", pki + "/server.key"),
                 ("/etc/nginx/tls/mesh-ca.pem", pki + "/ca.pem"), ("http://backend;", "http://127.0.0.1:%s;" % up)):
    block = sub(block, old, new)
blocks = []
for s in servers:
    name, port = s.split(":")
    b = sub(block, "listen 443 ssl;", "listen 127.0.0.1:%s ssl;" % port)
    blocks.append(sub(b, "server_name payments.billing;", "server_name %s;" % name))
conf = """%s
worker_processes 1;
pid %s/nginx.pid;
error_log %s/error.log warn;
events { worker_connections 128; }
http {
  access_log %s/access.log;
  client_body_temp_path %s/body;
  proxy_temp_path %s/proxy;
  fastcgi_temp_path %s/fastcgi;
  uwsgi_temp_path %s/uwsgi;
  scgi_temp_path %s/scgi;
  server { listen 127.0.0.1:%s; location / { return 200 "upstream $request_uri\\n"; } }
%s
%s
}
""" % ("user root;" if uid == "0" else "", run, run, run, run, run, run, run, run, up, upstreams, "\n".join(blocks))
open(out, "w").write(conf)
PY
}

# start_nginx CONF: checks and starts nginx (in the foreground of a background job) with CONF;
# sets NGINX_PID. Returns 1, with nginx's complaint as "not ok", when it does not start.
start_nginx() {
	local i
	"$NGINX" -t -c "$1" -g 'daemon off;' >"$TMP/ngx/t.out" 2>&1 ||
		{ not_ok "nginx accepts the configuration" "$(cat "$TMP/ngx/t.out")"; return 1; }
	"$NGINX" -c "$1" -g 'daemon off;' >"$TMP/ngx/out" 2>&1 &
	NGINX_PID=$!
	SERVER_PIDS+=("$NGINX_PID")
	for i in $(seq 1 50); do
		[ -s "$TMP/ngx/nginx.pid" ] && return 0
		sleep 0.1
	done
	not_ok "nginx starts" "$(cat "$TMP/ngx/out" "$TMP/ngx/error.log" 2>/dev/null | head -20)"
	return 1
}
NGINX=${NGINX:-/usr/sbin/nginx}
