#!/usr/bin/env bash
# tests/e2e/server_bundle.sh: distribution with real processes (docs/bundles.md, "Serving from
# a URL" and "Shipping decision logs"): nginx serves signed bundle archives with the
# configuration docs/bundles.md shows; three `meshpol serve` replicas poll it every second
# under load. A new signed bundle switches all three with no failed request; a bundle signed by
# another key, one changed after it was signed, and an unsigned one are refused by all three,
# which keep serving the last good one; killing nginx changes nothing but the status; a replica
# restarted with nginx down serves its cache. Every replica ships its decision log to the
# receiver docs/bundles.md shows, and each log received verifies as a signed hash chain. Waits
# are on conditions (health, metrics), never on time alone.
. "$(dirname "$0")/server_lib.sh"

[ -x "$NGINX" ] || { not_ok "nginx is installed" "no $NGINX (scripts/install-deps.sh installs it)"; e2e_done; }

# wait_until NAME SECONDS CMD...: CMD succeeds within SECONDS (checked every 0.1 s); sets
# WAITED to the seconds it took.
wait_until() {
	local name=$1 limit=$2 start i
	shift 2
	start=$(date +%s%N)
	for i in $(seq 1 $((limit * 10))); do
		if "$@" >/dev/null 2>&1; then
			WAITED=$(awk -v ns=$(($(date +%s%N) - start)) 'BEGIN { printf "%.1f", ns / 1e9 }')
			ok "$name"
			return 0
		fi
		sleep 0.1
	done
	not_ok "$name" "not within ${limit}s: $*"
	return 1
}

health() { "${CURL[@]}" "http://127.0.0.1:$1/health"; }
revision_is() { [ "$(health "$1" | jq -r .bundle.revision)" = "$2" ]; }
all_revision() { # REVISION: every replica serves it
	local p
	for p in "${PORTS[@]}"; do revision_is "$p" "$1" || return 1; done
}
source_status_is() { [ "$(health "$1" | jq -r .bundle_source.status)" = "$2" ]; }
refused_at_least() { # PORT N
	local n
	n=$("${CURL[@]}" "http://127.0.0.1:$1/metrics" |
		awk '$1 == "meshpol_bundle_polls_total{target=\"bundle\",result=\"refused\"}" { print $2 }')
	[ "${n:-0}" -ge "$2" ]
}
all_refused_at_least() {
	local p
	for p in "${PORTS[@]}"; do refused_at_least "$p" "$1" || return 1; done
}

# --- the bundles: r1, r2 (a file changed), and three that must be refused ---
"$MESHPOL" keygen -o "$TMP/release.pem" >/dev/null
"$MESHPOL" keygen -o "$TMP/rogue.pem" >/dev/null
build() { # NAME DIR REVISION [KEY]
	"$MESHPOL" bundle build -p "$2" -m examples/acme -o "$TMP/$1.tar.gz" --revision "$3" \
		${4:+--sign-key "$4"} >"$TMP/build.out" 2>&1 ||
		not_ok "build $1" "$(cat "$TMP/build.out")"
}
cp -r policies "$TMP/p2" && printf '\nRevision 2 notes.\n' >>"$TMP/p2/README.md"
build r1 policies r1 "$TMP/release.pem"
build r2 "$TMP/p2" r2 "$TMP/release.pem"
build rogue "$TMP/p2" r3-rogue "$TMP/rogue.pem"
build unsigned "$TMP/p2" r5-unsigned
build r4 "$TMP/p2" r4-tampered "$TMP/release.pem"
python3 - "$TMP/r4.tar.gz" "$TMP/tampered.tar.gz" <<'PY'
import io, sys, tarfile
src, dst = sys.argv[1], sys.argv[2]
with tarfile.open(src) as t, tarfile.open(dst, "w:gz", format=tarfile.PAX_FORMAT) as out:
    for m in t.getmembers():
        data = t.extractfile(m).read()
        if m.name == "rbac/billing.lua":  # a rule loosened after the release was signed
            data = data.replace(b"deny", b"allow", 1)
            m.size = len(data)
        out.addfile(m, io.BytesIO(data))
PY

# --- nginx serving them, configured as docs/bundles.md shows ---
mkdir -p "$TMP/ngx" "$TMP/srv/bundles"
NGX_PORT=$(free_port)
doc_block bundle-server docs/bundles.md >"$TMP/bundle-server.conf"
python3 - "$TMP/bundle-server.conf" "$TMP/ngx.conf" "$NGX_PORT" "$TMP" "$(id -u)" <<'PY'
import sys
doc, out, port, tmp, uid = sys.argv[1:]
text = open(doc).read()
for old, new in (("listen 8080;", "listen 127.0.0.1:%s;" % port), ("root /srv;", "root %s/srv;" % tmp)):
    if text.count(old) != 1:
        sys.exit("docs/bundles.md's bundle-server block: expected one %r" % old)
    text = text.replace(old, new)
run = tmp + "/ngx"
open(out, "w").write("""%s
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
%s
}
""" % ("user root;" if uid == "0" else "", run, run, run, run, run, run, run, run, text))
PY
publish() { # NAME: the archive renamed over the published one, as docs/bundles.md says
	cp "$TMP/$1.tar.gz" "$TMP/srv/bundles/acme.tar.gz.new" &&
		mv -f "$TMP/srv/bundles/acme.tar.gz.new" "$TMP/srv/bundles/acme.tar.gz"
}
publish r1
start_nginx "$TMP/ngx.conf" || e2e_done
URL="http://127.0.0.1:$NGX_PORT/bundles/acme.tar.gz"
code=$("${CURL[@]}" -o /dev/null -w '%{http_code}' -H "If-None-Match: $("${CURL[@]}" -D - -o /dev/null "$URL" | awk -F': ' 'tolower($1) == "etag" { print $2 }' | tr -d '\r')" "$URL")
[ "$code" = 304 ] && ok "nginx answers If-None-Match with 304" || not_ok "nginx answers If-None-Match with 304" "status $code"

# --- the decision log receiver docs/bundles.md shows ---
doc_block log-receiver docs/bundles.md >"$TMP/receiver.py"
RCV_PORT=$(free_port)
mkdir -p "$TMP/received"
python3 "$TMP/receiver.py" "$RCV_PORT" "$TMP/received" >"$TMP/receiver.log" 2>&1 &
RCV_PID=$!
SERVER_PIDS+=("$RCV_PID")
wait_until "the log receiver listens" 10 python3 -c "import socket; socket.create_connection(('127.0.0.1', $RCV_PORT))"

# --- three replicas, nothing but the URL, the key and a cache each ---
PORTS=()
PIDS=()
replica_args() { # N
	echo --bundle-url "$URL" --bundle-pubkey "$TMP/release.pub.pem" --bundle-poll 1 \
		--bundle-cache "$TMP/cache$1" --workers 2 --decision-log-url "http://127.0.0.1:$RCV_PORT/" \
		--sign-key "$TMP/release.pem" --decision-log-flush-ms 200
}
for i in 1 2 3; do
	mkdir -p "$TMP/cache$i"
	# shellcheck disable=SC2046
	start_server "replica$i" $(replica_args $i) || e2e_done
	PORTS+=("$PORT")
	PIDS+=("$SRV_PID")
done
all_revision r1 && ok "all three serve r1, fetched from nginx" || not_ok "all three serve r1" "$(health "${PORTS[0]}")"
h=$(health "${PORTS[0]}")
if [ -n "$h" ] && printf '%s' "$h" | jq -e '.bundle_source.status == "ok" and .bundle_source.from == "url" and .status == "ok"' >/dev/null; then
	ok "health shows the bundle source"
else
	not_ok "health shows the bundle source" "${h:0:600}"
fi
[ -s "$TMP/cache1/bundle.tar.gz" ] && cmp -s "$TMP/cache1/bundle.tar.gz" "$TMP/r1.tar.gz" &&
	ok "the cache holds the bundle serving" || not_ok "the cache holds the bundle serving"
wait_until "an unchanged bundle is answered 304 (not modified)" 10 \
	bash -c "[ \$(curl -s http://127.0.0.1:${PORTS[0]}/metrics | awk '\$1 == \"meshpol_bundle_polls_total{target=\\\"bundle\\\",result=\\\"not_modified\\\"}\" { print \$2 }') -ge 2 ]"

# --- load on every replica from here until nginx is gone ---
cat >"$TMP/spec.json" <<EOF
[{"method": "POST", "path": "/v1/decide", "body": $(cat examples/requests/deny-sandbox-payments.json), "expect": 200},
 {"method": "POST", "path": "/v1/decide", "body": $(cat examples/requests/allow-checkout-charge.json), "expect": 200}]
EOF
LOADERS=()
for i in 0 1 2; do
	python3 "$TMP/client.py" "${PORTS[$i]}" "$TMP/spec.json" 2 "$TMP/stop-load" >"$TMP/load$i.json" &
	LOADERS+=($!)
done

# --- a new signed bundle: all three switch within the poll interval (plus the build) ---
publish r2
wait_until "all three switch to r2" 15 all_revision r2 &&
	echo "# all three served r2 ${WAITED}s after it was published (--bundle-poll 1)"
[ -s "$TMP/cache2/bundle.tar.gz" ] && wait_until "the cache follows" 10 cmp -s "$TMP/cache2/bundle.tar.gz" "$TMP/r2.tar.gz"

# --- refused by all three: another key, a file changed after signing, no signature ---
refusal() { # N NAME REGEX
	publish "$2"
	wait_until "$2: refused by all three" 15 all_refused_at_least "$1"
	all_revision r2 && ok "$2: all three keep serving r2" || not_ok "$2: all three keep serving r2"
	local h p bad=0
	for p in "${PORTS[@]}"; do
		h=$(health "$p")
		[ -n "$h" ] && printf '%s' "$h" | jq -e --arg re "$3" '.status == "degraded" and .bundle_source.status == "refused" and (.problems | any(test($re)))' >/dev/null || bad=1
	done
	[ $bad = 0 ] && ok "$2: health says why (degraded)" || not_ok "$2: health says why" "${h:0:700}"
	grep -q "$3" "$TMP/replica1.log" && ok "$2: logged" || not_ok "$2: logged" "$(tail -5 "$TMP/replica1.log")"
}
refusal 1 rogue "signed by another key"
refusal 2 tampered "rbac/billing.lua.*changed after the bundle was built"
refusal 3 unsigned "unsigned; a signature by the given key is required"
# a refused download is not downloaded again: its ETag is kept
n1=$("${CURL[@]}" "http://127.0.0.1:${PORTS[0]}/health" | jq .bundle_source.downloaded)
wait_until "the refused bundle is polled again with its ETag (304)" 10 \
	bash -c "[ \$(curl -s http://127.0.0.1:${PORTS[0]}/health | jq .bundle_source.not_modified) -gt $(health "${PORTS[0]}" | jq .bundle_source.not_modified) ]"
n2=$("${CURL[@]}" "http://127.0.0.1:${PORTS[0]}/health" | jq .bundle_source.downloaded)
[ "$n1" = "$n2" ] && ok "nothing downloaded again" || not_ok "nothing downloaded again" "$n1 -> $n2"

# --- nginx goes away: nothing changes but the status ---
kill -TERM "$NGINX_PID"
wait "$NGINX_PID" 2>/dev/null
unreachable_all() {
	local p
	for p in "${PORTS[@]}"; do source_status_is "$p" unreachable || return 1; done
}
wait_until "nginx killed: all three see the bundle server unreachable" 15 unreachable_all
all_revision r2 && ok "nginx killed: all three keep serving r2" || not_ok "nginx killed: all three keep serving r2"
# the load goes on a moment against the degraded replicas, then stops
before=$(cat "$TMP"/load*.json 2>/dev/null | wc -c)
touch "$TMP/stop-load"
for p in "${LOADERS[@]}"; do wait "$p"; done
for i in 0 1 2; do
	s=$(cat "$TMP/load$i.json")
	if [ -n "$s" ] && printf '%s' "$s" | jq -e '.sent > 0 and .errors == 0 and .unexpected == 0 and (.status | keys) == ["200"]' >/dev/null; then
		ok "replica$((i + 1)): no failed request through it all ($(printf '%s' "$s" | jq .sent) requests)"
	else
		not_ok "replica$((i + 1)): no failed request through it all" "$s"
	fi
done

# --- a replica restarted while nginx is down serves its cache ---
stop_server replica1 "${PIDS[0]}"
[ "$STOP_RC" = 0 ] && ok "replica1: SIGTERM: clean exit 0" || not_ok "replica1: SIGTERM: clean exit 0" "exit $STOP_RC" "$(tail -20 "$TMP/replica1.log")"
mv "$TMP/replica1.log" "$TMP/replica1-first.log"
# on its own port again: a fresh one could be taken meanwhile by another test's server
# shellcheck disable=SC2046
START_PORT=${PORTS[0]} start_server replica1 $(replica_args 1) || e2e_done
kill -0 "$SRV_PID" 2>/dev/null || { not_ok "replica1 restarts" "$(cat "$TMP/replica1.log")"; e2e_done; }
PORTS[0]=$PORT
PIDS[0]=$SRV_PID
h=$(health "$PORT")
if [ -n "$h" ] && printf '%s' "$h" | jq -e '.bundle.revision == "r2" and .bundle_source.from == "cache" and .bundle_source.status == "unreachable"' >/dev/null; then
	ok "replica1 restarted with nginx down: serves r2 from its cache"
else
	not_ok "replica1 restarted with nginx down: serves r2 from its cache" "${h:0:600}"
fi
check "replica1 restarted: decides" 200 "$BASE/v1/decide" --data @examples/requests/deny-sandbox-payments.json
jq_ok "replica1 restarted: decided with r2" '.bundle.revision == "r2" and .allow == false'

# --- every replica's decision log, as received, verifies as a signed chain ---
for i in 0 1 2; do
	stop_server "replica$((i + 1))" "${PIDS[$i]}"
	[ "$STOP_RC" = 0 ] && ok "replica$((i + 1)): SIGTERM: clean exit 0 (its log uploaded)" ||
		not_ok "replica$((i + 1)): SIGTERM: clean exit 0" "exit $STOP_RC" "$(tail -20 "$TMP/replica$((i + 1)).log")"
done
logs=0 with_reload=0
for d in "$TMP"/received/*/; do
	logs=$((logs + 1))
	"$MESHPOL" trail join "$d"*.json.gz >"$TMP/joined.jsonl" 2>"$TMP/join.err"
	run_cmd "$MESHPOL" verify "$TMP/joined.jsonl" --pubkey "$TMP/release.pub.pem"
	if [ "$RC" = 0 ] && printf '%s' "$OUT" | grep -q 'intact: .* in 1 run, 1 seal (1 signature verified)'; then
		ok "log $(basename "$d"): received batches verify as a chain ($(printf '%s' "$OUT" | grep -o '[0-9]* records'))"
	else
		not_ok "log $(basename "$d"): received batches verify as a chain" "$OUT" "$ERR" "$(cat "$TMP/join.err")"
	fi
	jq -e -s '[.[] | select(.type == "reload" and .trigger == "fetch" and .bundle.revision == "r2")] | length == 1' \
		"$TMP/joined.jsonl" >/dev/null && with_reload=$((with_reload + 1))
done
[ "$logs" = 4 ] && ok "four logs received (three replicas, one restarted)" || not_ok "four logs received" "$logs"
kill -TERM "$RCV_PID" && wait "$RCV_PID" 2>/dev/null
[ "$with_reload" = 3 ] && ok "three logs record the swap to r2 (the restart started on it)" ||
	not_ok "three logs record the swap to r2" "$with_reload"
e2e_done
