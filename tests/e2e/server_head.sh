#!/usr/bin/env bash
# tests/e2e/server_head.sh: the reply's head the server writes itself on a plain keep-alive
# connection (server/head.c) is byte for byte the one evhttp writes. The same raw requests go to
# a plain server and to a TLS one (whose replies evhttp still writes), each case on one
# connection ending with a request that closes it; the two byte streams must be equal once the
# Date and the decision ids are masked. Every route, errors, HEAD, HTTP/1.0 with and without
# keep-alive, pipelining, a chunked body, an absolute URI, Expect: 100-continue; without and with
# the decision log (whose replies wait for their record). With MESHPOL_BASELINE=path/to/meshpol
# the plain server is also compared with that build's (e.g. main's). Then hostile inputs: no
# header line of a reply carries a byte a header cannot (CR, LF, NUL, control bytes), whatever
# the request held. Reference: docs/server.md ("Performance").
. "$(dirname "$0")/server_lib.sh"

pki_init "$TMP/pki" || not_ok "test certificates"

cat >"$TMP/raw.py" <<'PY'
import json, re, socket, ssl, sys
mode, port, ca, cases = sys.argv[1], int(sys.argv[2]), sys.argv[3], json.load(open(sys.argv[4]))
def conn():
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    if mode == "tls":
        ctx = ssl.create_default_context(cafile=ca)
        s = ctx.wrap_socket(s, server_hostname="127.0.0.1")
    return s
def run(reqs):
    s = conn()
    for r in reqs:  # one write per request: the server may read them together or apart
        s.sendall(r.encode("latin-1"))
    data = b""
    try:
        while True:
            d = s.recv(1 << 16)
            if not d:
                break
            data += d
    except (socket.timeout, ssl.SSLError, ConnectionResetError) as e:
        data += b"<" + type(e).__name__.encode() + b">"
    s.close()
    return data
uuid = re.compile(rb"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
out = {}
for name, c in cases.items():
    data = run(c["send"])
    data = re.sub(rb"Date: [^\r\n]*", b"Date: <date>", data)
    data = uuid.sub(b"<uuid>", data)
    if c.get("digits"):  # metrics, health: counters and times move between two servers
        data = re.sub(rb"[0-9]+", b"#", data)
    out[name] = data.decode("latin-1")
json.dump(out, sys.stdout, indent=1, sort_keys=True)
PY

python3 - "$TMP/cases.json" <<'PY'
import json, sys
body = '{"source": {"principal": "spiffe://t/ns/shop/sa/web"}, "destination": {"service": "billing/pay"}, "request": {"method": "POST", "path": "/v1/charge"}}'
deny = body.replace("shop/sa/web", "other/sa/x")
def post(path, b, extra=""):
    return "POST %s HTTP/1.1\r\nHost: x\r\n%sContent-Length: %d\r\n\r\n%s" % (path, extra, len(b), b)
def get(path, extra="", method="GET", version="1.1"):
    return "%s %s HTTP/%s\r\nHost: x\r\n%s\r\n" % (method, path, version, extra)
xfcc = "x-forwarded-client-cert: URI=spiffe://t/ns/shop/sa/web\r\n"
check = "GET /v1/check/v1/charge HTTP/1.1\r\nHost: pay.billing\r\n%s\r\n"
close = get("/closing", "Connection: close\r\n")
opa_in = '{"input": %s}' % body
cases = {
    "decide_allow": [post("/v1/decide", body)],
    "decide_deny": [post("/v1/decide", deny)],
    "decide_bad_json": [post("/v1/decide", "{")],
    "decide_bad_field": [post("/v1/decide", '{"source": 5}')],
    "decide_empty": [post("/v1/decide", "")],
    "decide_get_405": [get("/v1/decide")],
    "check_allow": [check % xfcc],
    "check_deny": [check % "x-forwarded-client-cert: URI=spiffe://t/ns/other/sa/x\r\n"],
    "check_no_peer": [check % ""],
    "check_post": [post("/v1/check/v1/charge", "", "x-forwarded-client-cert: URI=spiffe://t/ns/shop/sa/web\r\n")],
    "nginx_check": [get("/v1/nginx/check")],
    "nginx_check_headers": [get("/v1/nginx/check", "X-Original-URI: /v1/charge\r\nX-Original-Method: POST\r\n" + xfcc)],
    "opa_data": [post("/v1/data/meshpol/allow", opa_in)],
    "opa_data_pretty": [post("/v1/data/meshpol/allow?pretty=true", opa_in)],
    "opa_data_get": [get("/v1/data")],
    "opa_data_bad": [post("/v1/data/meshpol/allow", "{nope")],
    "opa_data_put_405": [get("/v1/data", method="PUT")],
    "opa_default": [post("/", body)],
    "opa_default_get_405": [get("/")],
    "health": [get("/health")],
    "health_head": [get("/health", method="HEAD")],
    "metrics": [get("/metrics")],
    "not_found": [get("/nope/%0d%0aX-Evil:%20yes")],
    "reload_no_token": [get("/v1/reload", method="POST", extra="Content-Length: 0\r\n")],
    "reload_bad_token": [get("/v1/reload", method="POST", extra="Content-Length: 0\r\nAuthorization: Bearer nope\r\n")],
    "header_too_big": [get("/health", "X-Big: %s\r\n" % ("a" * 20000))],
    "two_lengths": ["POST /v1/decide HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}"],
    "get_with_body": [get("/health", "Content-Length: 2\r\n") + "{}"],
    "chunked": ["POST /v1/decide HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)],
    "expect_continue": [post("/v1/decide", body, "Expect: 100-continue\r\n")],
    "absolute_uri": ["GET http://pay.billing/v1/check/v1/charge HTTP/1.1\r\nHost: pay.billing\r\n" + xfcc + "\r\n"],
    "http11_keepalive_header": [get("/health", "Connection: keep-alive\r\n")],
    "http10": [get("/v1/decide", version="1.0"), close],
    "http10_keepalive": [post("/v1/decide", body).replace("HTTP/1.1", "HTTP/1.0").replace("Host: x\r\n", "Host: x\r\nConnection: keep-alive\r\n"),
                         get("/health", "connection: Keep-Alive, foo\r\n", version="1.0"), get("/health", version="1.0")],
    "http11_close_first": [get("/health", "Connection: close\r\n"), get("/health")],
    "pipelined": ["".join([post("/v1/decide", body), check % xfcc, get("/nope"), post("/v1/decide", "{"), post("/v1/data/meshpol/allow", opa_in)] * 3)],
}
out = {}
for k, v in cases.items():
    c = {"send": v + ([] if k in ("http10", "http10_keepalive", "http11_close_first") else [close])}
    if any("/health" in r or "/metrics" in r for r in v):
        c["digits"] = True
    out[k] = c
json.dump(out, open(sys.argv[1], "w"))
PY

ARGS=(-m "$UNIT/mesh.yaml" -p "$UNIT" --workers 1 --admin-token sekrit --max-header 8192)
TLS=(--tls-cert "$TMP/pki/server.pem" --tls-key "$TMP/pki/server.key")
# compare LABEL A.json B.json: one check per case
compare() {
	python3 - "$@" <<'PY'
import json, sys
label, a, b = sys.argv[1], json.load(open(sys.argv[2])), json.load(open(sys.argv[3]))
for k in sorted(a):
    if a[k] == b.get(k):
        print("ok - %s: %s" % (label, k))
    else:
        print("not ok - %s: %s" % (label, k))
        print("# plain: %r" % a[k][:1500])
        print("# other: %r" % b.get(k, "")[:1500])
PY
}

for log in off on; do
	extra=()
	[ $log = on ] && extra=(--decision-log "$TMP/decisions-$log.jsonl")
	start_server "plain-$log" "${ARGS[@]}" "${extra[@]}" || not_ok "plain server starts (log $log)"
	P_PID=$SRV_PID P_PORT=$PORT
	[ $log = on ] && extra=(--decision-log "$TMP/decisions-tls.jsonl")
	T_PORT=$(free_port)
	START_PORT=$T_PORT HEALTH_URL=https://127.0.0.1:$T_PORT HEALTH_CURL_ARGS="--cacert $TMP/pki/ca.pem" \
		start_server "tls-$log" "${ARGS[@]}" "${TLS[@]}" "${extra[@]}" || not_ok "TLS server starts (log $log)"
	T_PID=$SRV_PID
	python3 "$TMP/raw.py" plain "$P_PORT" "" "$TMP/cases.json" >"$TMP/plain-$log.json"
	python3 "$TMP/raw.py" tls "$T_PORT" "$TMP/pki/ca.pem" "$TMP/cases.json" >"$TMP/tls-$log.json"
	compare "log $log: plain = TLS (evhttp)" "$TMP/plain-$log.json" "$TMP/tls-$log.json"
	expect_stop "plain-$log" "$P_PID"
	expect_stop "tls-$log" "$T_PID"
	if [ -n "${MESHPOL_BASELINE:-}" ]; then
		[ $log = on ] && extra=(--decision-log "$TMP/decisions-base.jsonl")
		MESHPOL=$MESHPOL_BASELINE start_server "base-$log" "${ARGS[@]}" "${extra[@]}" || not_ok "baseline server starts"
		python3 "$TMP/raw.py" plain "$PORT" "" "$TMP/cases.json" >"$TMP/base-$log.json"
		compare "log $log: plain = $MESHPOL_BASELINE" "$TMP/plain-$log.json" "$TMP/base-$log.json"
		expect_stop "base-$log"
	fi
done
# Hostile inputs, on the plain server (the hand-written head) and the TLS one (evhttp's, after
# mp_head_clean): every reply parses, one after the other by Content-Length, and no header line
# holds a byte a header cannot carry, whatever the request's headers, path or body held.
cat >"$TMP/hostile.py" <<'PY'
import re, socket, ssl, sys
mode, port, ca = sys.argv[1], int(sys.argv[2]), sys.argv[3]
nasty = ["G\x01ET", "/a\x7fb", "/%0d%0aSet-Cookie:%20x=1", "/\xff\xfe", "a\tb", "/a%00b", "\x1b[31mred"]
def req(method, path, headers, body=b""):
    h = "".join("%s: %s\r\n" % kv for kv in headers)
    return ("%s %s HTTP/1.1\r\nHost: x\r\n%sContent-Length: %d\r\n\r\n" % (method, path, h, len(body))).encode("latin-1") + body
reqs = []
for n in nasty:
    reqs.append(req("GET", "/v1/nginx/check", [("X-Original-Method", n), ("X-Original-URI", "/v1/charge")]))
    reqs.append(req("GET", "/v1/nginx/check", [("X-Original-Method", "POST"), ("X-Original-URI", n),
                                                ("x-forwarded-client-cert", "URI=" + n)]))
    reqs.append(req("GET", "/v1/check/" + n.replace(" ", "%20"), [("x-forwarded-client-cert", "URI=spiffe://" + n), ("x-request-id", n)]))
    reqs.append(req("POST", "/v1/decide", [("x-request-id", n)], ('{"source": {"principal": "%s\\r\\nX-Evil: 1"}}' % n.encode("unicode_escape").decode()).encode()))
# obs-fold continuation lines and a header with a NUL byte
reqs.append(b"GET /v1/nginx/check HTTP/1.1\r\nHost: x\r\nX-Original-Method: GET\r\nX-Original-URI: /a\r\n b\r\n\tc\r\n\r\n")
reqs.append(b"GET /v1/nginx/check HTTP/1.1\r\nHost: x\r\nX-Original-Method: PO\x00ST\r\nX-Original-URI: /x\r\n\r\n")
reqs.append(b"GET /closing HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
s = socket.create_connection(("127.0.0.1", port), timeout=10)
if mode == "tls":
    s = ssl.create_default_context(cafile=ca).wrap_socket(s, server_hostname="127.0.0.1")
for r in reqs:
    s.sendall(r)
data = b""
try:
    while True:
        d = s.recv(1 << 16)
        if not d:
            break
        data += d
except (socket.timeout, ssl.SSLError, ConnectionResetError):
    pass
line_ok = re.compile(rb"^[!#$%&'*+.^_`|~0-9A-Za-z-]+: [\t\x20-\x7e\x80-\xff]*$")
replies, bad = 0, []
while data:
    head, sep, rest = data.partition(b"\r\n\r\n")
    if not sep:
        bad.append("truncated: %r" % data[:200]); break
    lines = head.split(b"\r\n")
    if not re.match(rb"^HTTP/1\.1 [0-9]{3} [A-Za-z -]+$", lines[0]):
        bad.append("status line %r" % lines[0])
    length = None
    for l in lines[1:]:
        if not line_ok.match(l):
            bad.append("header line %r" % l)
        if l.lower().startswith(b"content-length: "):
            length = int(l.split(b": ", 1)[1])
    if length is None:
        bad.append("no Content-Length: %r" % head[:200]); break
    data = rest[length:]
    replies += 1
print("replies=%d want=%d" % (replies, len(reqs)))
for b in bad[:10]:
    print("bad", b)
PY
start_server hostile-plain "${ARGS[@]}" || not_ok "plain server starts (hostile)"
out=$(python3 "$TMP/hostile.py" plain "$PORT" "")
[ "$out" = "replies=31 want=31" ] && ok "hostile: plain: every reply parses, no header byte out of place" ||
	not_ok "hostile: plain: every reply parses, no header byte out of place" "$out"
expect_stop hostile-plain
T_PORT=$(free_port)
START_PORT=$T_PORT HEALTH_URL=https://127.0.0.1:$T_PORT HEALTH_CURL_ARGS="--cacert $TMP/pki/ca.pem" \
	start_server hostile-tls "${ARGS[@]}" "${TLS[@]}" || not_ok "TLS server starts (hostile)"
out=$(python3 "$TMP/hostile.py" tls "$T_PORT" "$TMP/pki/ca.pem")
[ "$out" = "replies=31 want=31" ] && ok "hostile: TLS: every reply parses, no header byte out of place" ||
	not_ok "hostile: TLS: every reply parses, no header byte out of place" "$out"
expect_stop hostile-tls

if MESHPOL_STDLIB=$PWD/stdlib "$MESHPOL" verify "$TMP/decisions-on.jsonl" >"$TMP/verify.out" 2>&1; then
	ok "the plain server's decision log verifies"
else
	not_ok "the plain server's decision log verifies" "$(head -5 "$TMP/verify.out")"
fi

e2e_done
