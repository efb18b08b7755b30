#!/usr/bin/env bash
# tests/e2e/server_logship.sh: `meshpol serve --decision-log-url` when the receiver is not there
# (docs/bundles.md, "Shipping decision logs"): records wait in the bounded buffer and go up when
# it comes back; a full buffer in no-drop mode fails decisions closed, then a gap record says
# what is missing once uploads make room; in drop mode decisions go on and the drops are
# counted; with a file log too, the file and the upload hold the same chain. Each received log
# verifies. Waits are on conditions (metrics, health), never on time alone.
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
upload() { "${CURL[@]}" "$BASE/health" | jq -r ".decision_log_upload.$1"; }
upload_is() { [ "$(upload "$1")" = "$2" ]; }
upload_at_least() { [ "$(upload "$1")" -ge "$2" ]; }
decide() { "${CURL[@]}" -o /dev/null -w '%{http_code}' "$BASE/v1/decide" --data @examples/requests/deny-sandbox-payments.json; }

# the receiver of docs/bundles.md, started and stopped at will on one port
awk 'index($0, "<!-- meshpol-config: log-receiver ") == 1 { f = 1; next }
     f == 1 && /^```/ { f = 2; next } f == 2 && /^```/ { exit } f == 2 { print }' docs/bundles.md >"$TMP/receiver.py"
RCV_PORT=$(free_port)
receiver_up() {
	python3 "$TMP/receiver.py" "$RCV_PORT" "$TMP/received" >>"$TMP/receiver.log" 2>&1 &
	RCV_PID=$!
	SERVER_PIDS+=("$RCV_PID")
	wait_until "receiver up" 10 python3 -c "import socket; socket.create_connection(('127.0.0.1', $RCV_PORT))"
}
receiver_down() { kill -TERM "$RCV_PID" && wait "$RCV_PID" 2>/dev/null; }
"$MESHPOL" keygen -o "$TMP/k.pem" >/dev/null

# verify_logs NAME [REGEX]: every log received so far (then cleared) verifies as a signed chain
verify_logs() {
	local d n=0
	for d in "$TMP"/received/*/; do
		[ -d "$d" ] || continue
		n=$((n + 1))
		"$MESHPOL" trail join "$d"*.json.gz >"$TMP/joined.jsonl"
		run_cmd "$MESHPOL" verify "$TMP/joined.jsonl" --pubkey "$TMP/k.pub.pem"
		if [ "$RC" = 0 ] && printf '%s' "$OUT" | grep -Eq "${2:-intact}"; then ok "$1: the received log verifies"; else not_ok "$1: the received log verifies" "$OUT" "$ERR"; fi
	done
	[ "$n" = 1 ] || not_ok "$1: one log received" "$n"
	rm -rf "$TMP/received"
}

# --- the receiver comes up after the server: the records waited, and go up in order ---
mkdir -p "$TMP/received"
start_server late -m examples/acme -p policies --workers 1 --decision-log-url "http://127.0.0.1:$RCV_PORT/" \
	--sign-key "$TMP/k.pem" --decision-log-flush-ms 50 || e2e_done
for i in 1 2 3 4 5; do decide >/dev/null; done
wait_until "uploads fail while the receiver is down" 10 upload_is status failing
h=$("${CURL[@]}" "$BASE/health")
[ -n "$h" ] && printf '%s' "$h" | jq -e '.status == "degraded" and (.problems | any(test("decision log upload failing")))' >/dev/null &&
	ok "health: degraded while uploads fail" || not_ok "health: degraded while uploads fail" "${h:0:500}"
[ "$(decide)" = 200 ] && ok "decisions go on meanwhile" || not_ok "decisions go on meanwhile"
receiver_up
wait_until "the buffered records go up" 15 upload_is buffered_records 0
expect_stop late
verify_logs "late receiver" 'intact: 9 records in 1 run'

# --- no-drop, a small buffer, the receiver down: decisions fail closed, then a gap ---
start_server nodrop -m examples/acme -p policies --workers 1 --decision-log-url "http://127.0.0.1:$RCV_PORT/" \
	--sign-key "$TMP/k.pem" --decision-log-buffer 64k --decision-log-flush-ms 50 || e2e_done
receiver_down
codes=""
for i in $(seq 1 400); do
	c=$(decide)
	codes="$codes $c"
	[ "$c" = 503 ] && break
done
case "$codes" in *503) ok "no-drop: a full buffer fails the decision closed (503)" ;; *) not_ok "no-drop: a full buffer fails the decision closed" "${codes:0:200}" ;; esac
check "no-drop: the reply says why" 503 "$BASE/v1/decide" --data @examples/requests/deny-sandbox-payments.json
jq_ok "no-drop: never an allow" '.allow == false and (.error | test("decision log unavailable: upload buffer full"))'
check "no-drop: the proxies' endpoint denies" 403 "$BASE/v1/check/v1/charge" -H 'Host: payments.billing'
[ "$(metric 'meshpol_decision_log_available')" = 0 ] && ok "no-drop: the log reports unavailable" || not_ok "no-drop: the log reports unavailable"
receiver_up
wait_until "no-drop: the log takes records again once uploads made room" 20 \
	bash -c "[ \$(curl -s $BASE/metrics | awk '\$1 == \"meshpol_decision_log_available\" { print \$2 }') = 1 ]"
[ "$(decide)" = 200 ] && ok "no-drop: decisions answered again" || not_ok "no-drop: decisions answered again"
wait_until "no-drop: everything uploaded" 15 upload_is buffered_records 0
# as after a failed write to a file log: the run says at exit that records were refused
stop_server nodrop
[ "$STOP_RC" = 1 ] && grep -q 'decision log: upload buffer full' "$TMP/nodrop.log" &&
	ok "no-drop: exit 1, naming the refusals" || not_ok "no-drop: exit 1, naming the refusals" "exit $STOP_RC" "$(tail -3 "$TMP/nodrop.log")"
verify_logs "no-drop" 'answered closed and not logged while the log could not be written \(1 gap record'

# --- drop mode: decisions go on, the drops are counted and the end record says so ---
start_server drop -m examples/acme -p policies --workers 1 --decision-log-url "http://127.0.0.1:$RCV_PORT/" \
	--sign-key "$TMP/k.pem" --log-mode drop --decision-log-buffer 64k --decision-log-flush-ms 50 || e2e_done
receiver_down
bad=0
for i in $(seq 1 200); do [ "$(decide)" = 200 ] || bad=$((bad + 1)); done
[ $bad = 0 ] && ok "drop: every decision answered with a full buffer" || not_ok "drop: every decision answered" "$bad failed"
d=$(metric meshpol_decision_log_dropped_total)
[ "${d:-0}" -gt 0 ] && ok "drop: records dropped and counted ($d)" || not_ok "drop: records dropped and counted" "$d"
f=$(metric meshpol_decision_log_upload_full_total)
[ "${f:-0}" -gt 0 ] && ok "drop: the full buffer counted ($f)" || not_ok "drop: the full buffer counted" "$f"
receiver_up
wait_until "drop: everything uploaded" 15 upload_is buffered_records 0
expect_stop drop
verify_logs "drop" 'decisions? answered but dropped from the log \(drop mode'

# --- a file log and an upload: one chain, the same bytes ---
start_server both -m examples/acme -p policies --workers 2 --decision-log "$TMP/file.jsonl" \
	--decision-log-url "http://127.0.0.1:$RCV_PORT/" --sign-key "$TMP/k.pem" --decision-log-flush-ms 50 || e2e_done
for i in $(seq 1 20); do decide >/dev/null; done
expect_stop both
"$MESHPOL" trail join "$TMP"/received/*/*.json.gz >"$TMP/joined.jsonl"
cmp -s "$TMP/file.jsonl" "$TMP/joined.jsonl" && ok "file log and upload: the same bytes" ||
	not_ok "file log and upload: the same bytes" "$(diff "$TMP/file.jsonl" "$TMP/joined.jsonl" | head -5)"
verify_logs "file log and upload"

# --- a receiver gone at shutdown: the server waits --drain-timeout for it, then says so ---
start_server gone -m examples/acme -p policies --workers 1 --decision-log-url "http://127.0.0.1:$RCV_PORT/" \
	--decision-log-flush-ms 50 --drain-timeout 1 || e2e_done
receiver_down
decide >/dev/null
stop_server gone
[ "$STOP_RC" = 1 ] && ok "receiver gone at shutdown: exit 1" || not_ok "receiver gone at shutdown: exit 1" "exit $STOP_RC"
grep -q 'records not uploaded at exit' "$TMP/gone.log" && ok "receiver gone at shutdown: says how many were lost" ||
	not_ok "receiver gone at shutdown: says how many were lost" "$(tail -3 "$TMP/gone.log")"
e2e_done
