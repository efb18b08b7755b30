#!/usr/bin/env bash
# tests/e2e/server_fetch.sh: `meshpol serve --bundle-url` beyond the replicas of
# server_bundle.sh (docs/bundles.md, "Serving from a URL"): https with a private CA and a bearer
# token read from a file; a start with nothing cached and nothing served waits, not listening,
# until a bundle arrives; --model-url polled beside the bundle; a cache that no longer verifies
# is set aside; -p as the fallback; and the options' usage errors. Waits are on conditions.
. "$(dirname "$0")/server_lib.sh"

wait_until() { # NAME SECONDS CMD...
	local name=$1 limit=$2 i
	shift 2
	for i in $(seq 1 $((limit * 10))); do
		"$@" >/dev/null 2>&1 && { ok "$name"; return 0; }
		sleep 0.1
	done
	not_ok "$name" "not within ${limit}s: $*"
	return 1
}
health_has() { # FILTER: /health answers and satisfies it (jq -e passes empty input)
	local h
	h=$("${CURL[@]}" "$BASE/health") && [ -n "$h" ] && printf '%s' "$h" | jq -e "$1" >/dev/null
}

# --- usage errors: exit 2 before anything starts ---
expect_rc "-p and -m are required without --bundle-url" 2 "$MESHPOL" serve
expect_out "named" 'are required \(or --bundle-url URL\)'
expect_rc "--model-url needs --bundle-url" 2 "$MESHPOL" serve -m examples/acme -p policies --model-url http://x/m.mpm
expect_out "named" '^meshpol serve: --model-url needs --bundle-url$'
expect_rc "--bundle-pubkey needs --bundle-url" 2 "$MESHPOL" serve -m examples/acme -p policies --bundle-pubkey k.pem
expect_rc "only http and https" 2 "$MESHPOL" serve --bundle-url file:///etc/passwd
expect_out "named" 'takes an http:// or https:// URL'
expect_rc "--watch with --bundle-url" 2 "$MESHPOL" serve --bundle-url http://x/b.tar.gz --watch
expect_rc "--bundle-poll 0" 2 "$MESHPOL" serve --bundle-url http://x/b.tar.gz --bundle-poll 0
expect_rc "--decision-log-buffer needs --decision-log-url" 2 \
	"$MESHPOL" serve -m examples/acme -p policies --decision-log-buffer 1m
expect_rc "a cache that is not a directory" 2 \
	"$MESHPOL" serve --bundle-url http://127.0.0.1:9/b.tar.gz --bundle-cache /dev/null
expect_out "named" '^meshpol serve: --bundle-cache: /dev/null: not a directory$'
expect_rc "an unreadable public key" 2 \
	"$MESHPOL" serve --bundle-url http://127.0.0.1:9/b.tar.gz --bundle-pubkey "$TMP/none.pem"

# --- a bundle server over https with a private CA and a bearer token (Python, ETags) ---
pki_init "$TMP/pki" || { not_ok "test certificates"; e2e_done; }
mkdir -p "$TMP/srv"
printf 's3cret-token\n' >"$TMP/token"
cat >"$TMP/https.py" <<'PY'
import hashlib, http.server, os, ssl, sys
root, port, token, cert, key = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        with open(os.path.join(root, "requests.log"), "a") as log:
            log.write("%s %s\n" % (self.path, self.headers.get("Authorization", "-")))
        if self.headers.get("Authorization") != "Bearer " + token:
            self.send_error(401); return
        path = os.path.join(root, self.path.lstrip("/"))
        if not os.path.isfile(path):
            self.send_error(404); return
        data = open(path, "rb").read()
        etag = '"%s"' % hashlib.sha256(data).hexdigest()[:16]
        if self.headers.get("If-None-Match") == etag:
            self.send_response(304); self.send_header("ETag", etag); self.end_headers(); return
        self.send_response(200); self.send_header("ETag", etag)
        self.send_header("Content-Length", str(len(data))); self.end_headers(); self.wfile.write(data)
    def log_message(self, *a): pass
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER); ctx.load_cert_chain(cert, key)
s = http.server.ThreadingHTTPServer(("127.0.0.1", port), H)
s.socket = ctx.wrap_socket(s.socket, server_side=True)
s.serve_forever()
PY
HP=$(free_port)
python3 "$TMP/https.py" "$TMP/srv" "$HP" s3cret-token "$TMP/pki/server.pem" "$TMP/pki/server.key" >"$TMP/https.log" 2>&1 &
HTTPS_PID=$!
SERVER_PIDS+=("$HTTPS_PID")
wait_until "the https bundle server listens" 10 python3 -c "import socket; socket.create_connection(('127.0.0.1', $HP))"
URL="https://127.0.0.1:$HP/b.tar.gz"
"$MESHPOL" keygen -o "$TMP/k.pem" >/dev/null
"$MESHPOL" bundle build -p tests/data/bundles/unit -o "$TMP/b1.tar.gz" --sign-key "$TMP/k.pem" --revision b1 >/dev/null
"$MESHPOL" bundle build -p tests/data/bundles/unit -o "$TMP/b2.tar.gz" --sign-key "$TMP/k.pem" --revision b2 >/dev/null
"$MESHPOL" compile -o "$TMP/m1.mpm" tests/data/bundles/unit/mesh.yaml >/dev/null
# a second model the unit bundle loads against: the unit mesh with one more external
cp tests/data/bundles/unit/mesh.yaml "$TMP/mesh2.yaml"
printf -- '---\nkind: External\nname: extra\nhost: extra.example.com\nregion: eu-west-1\n' >>"$TMP/mesh2.yaml"
"$MESHPOL" compile -o "$TMP/m2.mpm" "$TMP/mesh2.yaml" >/dev/null
publish() { cp "$1" "$TMP/srv/$2.new" && mv -f "$TMP/srv/$2.new" "$TMP/srv/$2"; }

# nothing served yet, nothing cached: the server polls before it listens
mkdir -p "$TMP/cache"
PORT=$(free_port)
BASE=http://127.0.0.1:$PORT
"$MESHPOL" serve --listen "127.0.0.1:$PORT" --workers 1 --bundle-url "$URL" --model-url "https://127.0.0.1:$HP/m.mpm" \
	--bundle-pubkey "$TMP/k.pub.pem" --bundle-poll 1 --bundle-cache "$TMP/cache" --bundle-ca "$TMP/pki/ca.pem" \
	--bundle-token "$TMP/token" >"$TMP/waiting.log" 2>&1 &
SRV_PID=$!
SERVER_PIDS+=("$SRV_PID")
wait_until "no bundle yet: it says it polls before listening" 10 grep -q 'waiting for a bundle and a model that verifies and loads: polling https://127.0.0.1:.* before listening' "$TMP/waiting.log"
wait_until "no bundle yet: it polls (404, counted, with backoff)" 10 grep -q 'HTTP 404' "$TMP/waiting.log"
"${CURL[@]}" -o /dev/null "$BASE/health" && not_ok "no bundle yet: not listening" || ok "no bundle yet: not listening"
publish "$TMP/b1.tar.gz" b.tar.gz
publish "$TMP/m1.mpm" m.mpm
wait_until "once published: it listens, serving them" 30 health_has '.bundle.revision == "b1" and .bundle_source.model.status == "ok"'
grep -q '^/b.tar.gz Bearer s3cret-token$' "$TMP/srv/requests.log" && ok "the token is sent as a bearer token" ||
	not_ok "the token is sent as a bearer token" "$(tail -3 "$TMP/srv/requests.log")"
m=$("${CURL[@]}" "$BASE/health" | jq -r .model.sha256)
want=$("$MESHPOL" compile tests/data/bundles/unit/mesh.yaml | grep -o 'sha256 [0-9a-f]*' | cut -d' ' -f2)
[ "$m" = "$want" ] && ok "--model-url: the model serving is the one published" || not_ok "--model-url: the model serving" "$m vs $want"
# a new model alone swaps in
publish "$TMP/m2.mpm" m.mpm
want2=$("$MESHPOL" compile "$TMP/mesh2.yaml" | grep -o 'sha256 [0-9a-f]*' | cut -d' ' -f2)
wait_until "--model-url: a new model swaps in" 15 health_has ".model.sha256 == \"$want2\""
wait_until "--model-url: the model is cached too" 10 cmp -s "$TMP/cache/model.mpm" "$TMP/m2.mpm"
# a rotated token: the file is read at every poll
printf 'wrong\n' >"$TMP/token"
wait_until "a wrong token: HTTP 401, the last good one still serving" 15 \
	health_has '.bundle_source.status == "unreachable" and (.bundle_source.last_error.message | test("HTTP 401")) and .bundle.revision == "b1"'
printf 's3cret-token\n' >"$TMP/token"
publish "$TMP/b2.tar.gz" b.tar.gz
wait_until "the token fixed: the next bundle arrives" 30 health_has '.bundle.revision == "b2" and .bundle_source.status == "ok"'
expect_stop waiting

# SIGTERM while waiting for a first bundle: a clean exit, nothing was served
PORT=$(free_port)
"$MESHPOL" serve --listen "127.0.0.1:$PORT" --workers 1 --bundle-url "https://127.0.0.1:$HP/none.tar.gz" \
	--bundle-ca "$TMP/pki/ca.pem" --bundle-token "$TMP/token" --bundle-poll 1 >"$TMP/sigwait.log" 2>&1 &
SRV_PID=$!
SERVER_PIDS+=("$SRV_PID")
wait_until "waiting for a bundle that is not there" 10 grep -q 'HTTP 404' "$TMP/sigwait.log"
expect_stop sigwait

# without the CA the server's certificate is not trusted: -p serves meanwhile
start_server noca --workers 1 --bundle-url "$URL" -p tests/data/bundles/unit -m tests/data/bundles/unit/mesh.yaml \
	--bundle-token "$TMP/token" --bundle-poll 1 || e2e_done
wait_until "without --bundle-ca: refused TLS, reported" 15 \
	health_has '.bundle_source.status == "unreachable" and (.bundle_source.last_error.message | test("certificate|SSL"))'
health_has '.bundle.revision == "7"' && ok "without --bundle-ca: -p serves" || not_ok "without --bundle-ca: -p serves"
expect_stop noca

# a cache that no longer verifies (signed by another key now) is set aside, and said so
"$MESHPOL" keygen -o "$TMP/other.pem" >/dev/null
start_server recache --workers 1 --bundle-url "$URL" -m tests/data/bundles/unit/mesh.yaml \
	--bundle-pubkey "$TMP/other.pub.pem" --bundle-cache "$TMP/cache" --bundle-ca "$TMP/pki/ca.pem" \
	--bundle-token "$TMP/token" -p tests/data/bundles/unit --bundle-poll 1 || e2e_done
grep -q 'the cached bundle is not used' "$TMP/recache.log" && ok "a cache signed by another key is set aside" ||
	not_ok "a cache signed by another key is set aside" "$(head -5 "$TMP/recache.log")"
wait_until "the download signed by the old key is refused" 15 health_has '.bundle_source.status == "refused"'
health_has '.bundle.revision == "7"' &&
	ok "-p serves while the downloads are refused" || not_ok "-p serves while the downloads are refused" "$("${CURL[@]}" "$BASE/health")"
expect_stop recache
kill -TERM "$HTTPS_PID" && wait "$HTTPS_PID" 2>/dev/null
e2e_done
