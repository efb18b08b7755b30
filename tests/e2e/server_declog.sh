#!/usr/bin/env bash
# tests/e2e/server_declog.sh: the decision log when the file cannot grow. A file size limit
# (ulimit -f, so write(2) fails with EFBIG; the server ignores SIGXFSZ) stands in for a full
# disk. In no-drop mode no decision may be answered without its record: the 200s (allows) must be
# exactly the decision records in the file, later requests fail closed with the reason, /health
# turns unavailable and says why, the end record counts what was written and what failed, and
# SIGTERM still stops the server. In drop mode decisions go on, and the losses are counted.
# Reference: docs/server.md ("Decision log").
. "$(dirname "$0")/server_lib.sh"

XFCC='By=spiffe://t/ns/billing/sa/pay;URI=spiffe://t/ns/shop/sa/web'
PAD=$(head -c 7000 /dev/zero | tr '\0' 'p') # ~8 KB records: the limit falls inside one
python3 - "$TMP/charge.json" "$XFCC" "$PAD" <<'PY'
import json, sys
json.dump([{"method": "POST", "path": "/v1/check/v1/charge", "expect": 200,
            "headers": {"Host": "pay.billing", "x-forwarded-client-cert": sys.argv[2], "x-pad": sys.argv[3]}}],
          open(sys.argv[1], "w"))
PY
send() { # send PORT N: N allowed requests on one connection; the summary in $TMP/summary
	timeout 120 python3 "$TMP/client.py" "$1" "$TMP/charge.json" 1 "$2" >"$TMP/summary" 2>&1
}
# the decision records in FILE (one run per file here), as one array
records() { jq -s '[.[] | select(.type == "decision")]' "$1"; }
cat >"$TMP/limited" <<'SH'
#!/usr/bin/env bash
ulimit -f "$FSIZE_KB" || exit 99
exec "$REAL_MESHPOL" "$@"
SH
chmod +x "$TMP/limited"
export REAL_MESHPOL=$MESHPOL

# --- calibration, and the end record of a run with room to spare --------------------------
start_server calib -m "$UNIT/mesh.yaml" -p "$UNIT" --workers 2 --decision-log "$TMP/calib.jsonl" ||
	{ not_ok "calibration server starts"; e2e_done; }
send "$PORT" 5
expect_stop calib
start_len=$(awk 'NR == 1 { print length($0) + 1 }' "$TMP/calib.jsonl")
rec_len=$(awk 'NR == 3 { print length($0) + 1 }' "$TMP/calib.jsonl")
end=$(jq -c 'select(.type == "end")' "$TMP/calib.jsonl")
echo "$end" | jq -e '.decisions == 5 and .decision_records == 5 and .records == 5 and .failed == 0 and .refused == 0' >/dev/null &&
	ok "end record: decisions, decision records and records written agree (5)" || not_ok "end record of a clean run" "$end"

# 20 records fit, and about half of one more: the 21st fails, "end" and "seal" still fit
FSIZE_KB=$(((start_len + 20 * rec_len + rec_len / 2) / 1024))
export FSIZE_KB
echo "# start record $start_len bytes, decision records $rec_len bytes: limit $FSIZE_KB KiB"

# --- no-drop (the default): fail closed ----------------------------------------------------
APORT=$(free_port)
MESHPOL=$TMP/limited start_server full -m "$UNIT/mesh.yaml" -p "$UNIT" --workers 2 \
	--decision-log "$TMP/full.jsonl" --admin-listen "127.0.0.1:$APORT" --drain-timeout 2 ||
	{ not_ok "server starts under a file size limit"; e2e_done; }
send "$PORT" 60
summary=$(cat "$TMP/summary")
ok200=$(echo "$summary" | jq '.status["200"] // 0')
denied=$(echo "$summary" | jq '.status["403"] // 0')
echo "$summary" | jq -e '.sent == 60 and .errors == 0 and ((.status | keys) - ["200", "403"] | length) == 0' >/dev/null &&
	ok "every request answered, 200 or 403 ($ok200 allowed, $denied failed closed)" || not_ok "requests answered" "$summary" "$(tail -5 "$TMP/full.log")"
[ "$ok200" -gt 0 ] && [ "$denied" -gt 0 ] && ok "the limit was reached mid-run" || not_ok "the limit was reached" "$summary"
kill -0 "$SRV_PID" 2>/dev/null && ok "the server survives the limit (SIGXFSZ ignored)" || not_ok "server alive" "$(tail -5 "$TMP/full.log")"
check "fail closed: /v1/check is 403" 403 -X POST "$BASE/v1/check/v1/charge" -H 'Host: pay.billing' -H "x-forwarded-client-cert: $XFCC"
jq_ok "fail closed: allow false, the reason" '.allow == false and (.error | test("^decision log unavailable: write: File too large"))'
printf '%s' "$HDRS" | grep -qi '^x-meshpol-decision-id' && not_ok "fail closed: no decision id (no record has it)" "$HDRS" ||
	ok "fail closed: no decision id (no record has it)"
check "fail closed: /v1/decide is 503" 503 -X POST "$BASE/v1/decide" --data '{"source": {"principal": "spiffe://t/ns/shop/sa/web"}, "destination": {"service": "billing/pay"}, "request": {"method": "POST", "path": "/v1/charge"}}'
jq_ok "fail closed: /v1/decide says allow false" '.allow == false and (.error | test("decision log unavailable"))'
check "fail closed: /v1/data is 503" 503 -X POST "$BASE/v1/data/meshpol/allow" --data '{"input": {"destination": {"service": "billing/pay"}}}'
jq_ok "fail closed: /v1/data says result false, in OPA's error shape" '.result == false and .code == "internal_error" and (.message | startswith("decision log unavailable"))'
check "health: 503 on the main listener" 503 "$BASE/health"
check "health: 503 on the admin listener" 503 "http://127.0.0.1:$APORT/health"
jq_ok "health: says the decision log is why" '.status == "unavailable" and .decision_log.status == "unavailable" and .decision_log.failed >= 1 and (.problems | map(test("decision log unavailable.*File too large")) | any)'
[ "$(metric meshpol_decision_log_available)" = 0 ] && [ "$(metric meshpol_decision_log_failed_total)" -ge 1 ] &&
	[ "$(metric 'meshpol_decisions_failed_closed_total{reason="decision_log"}')" -ge "$denied" ] &&
	ok "metrics: log unavailable, writes failed, requests failed closed" || not_ok "metrics" "$("${CURL[@]}" "$BASE/metrics" | grep -E 'decision_log|failed_closed')"
# a reload retries the log: the small "gap" record fits, so it takes records again; the next
# decision's record does not, so that request fails closed and the log is unavailable again
kill -HUP "$SRV_PID"
for i in $(seq 1 50); do
	[ "$("${CURL[@]}" -o /dev/null -w '%{http_code}' "http://127.0.0.1:$APORT/health")" = 200 ] && break
	sleep 0.1
done
check "retry (SIGHUP): the log is available again" 200 "http://127.0.0.1:$APORT/health"
check "retry: the next record does not fit either: failed closed" 403 -X POST "$BASE/v1/check/v1/charge" -H 'Host: pay.billing' -H "x-forwarded-client-cert: $XFCC" -H "x-pad: $PAD"
check "retry: health is 503 again" 503 "http://127.0.0.1:$APORT/health"
stop_server full
[ "$STOP_RC" != hung ] && ok "SIGTERM: the server stops ($STOP_RC: the log failed)" || not_ok "SIGTERM stops the server" "$(tail -5 "$TMP/full.log")"
[ "$STOP_RC" = 1 ] && ok "exit 1: the decision log could not be written" || not_ok "exit code" "exit $STOP_RC"
logged=$(records "$TMP/full.jsonl" | jq '[.[] | select(.decision.allow == true)] | length')
[ "$logged" = "$ok200" ] && ok "no allow without its record: $ok200 answered 200, $logged allow records" ||
	not_ok "200s = allow records" "200s: $ok200, allow records: $logged"
end=$(jq -c 'select(.type == "end")' "$TMP/full.jsonl")
echo "$end" | jq -e --argjson n "$ok200" '.decisions == $n and .decision_records == $n and .records == $n and .failed >= 1 and .refused >= 1 and .failed_closed >= 1' >/dev/null &&
	ok "end record: written, failed and refused records counted" || not_ok "end record under the limit" "$end" "200s: $ok200"
[ "$(tail -1 "$TMP/full.jsonl" | jq -r .type)" = seal ] && ok "the log is sealed after the failure" || not_ok "sealed" "$(tail -c 300 "$TMP/full.jsonl")"
gap=$(jq -c 'select(.type == "gap")' "$TMP/full.jsonl")
echo "$gap" | jq -e '.failed >= 1 and .refused >= 1 and (.error | test("File too large"))' >/dev/null &&
	ok "the retry's gap record says what is missing before it" || not_ok "gap record" "$gap"
run_cmd "$MESHPOL" verify "$TMP/full.jsonl"
printf '%s' "$OUT" | grep -q TAMPERED && not_ok "verify: the chain is intact" "$OUT" || ok "verify: the chain is intact"
closed=$(echo "$end" | jq '.failed + .refused')
expect_out "verify reports the gap: what was answered closed, unlogged" \
	"^$TMP/full.jsonl: note: decision log: $closed decisions? answered closed and not logged while the log could not be written \\(1 gap record, the first at line [0-9]+; end records from line [0-9]+\\)$"
# The end record's count of decision records must be the run's: remove one decision record and
# rebuild the chain by hand (an unsigned log can be rewritten; the count still catches a cut run).
python3 - "$TMP/full.jsonl" "$TMP/cut.jsonl" <<'PY'
import hashlib, json, sys
lines = open(sys.argv[1], 'rb').read().splitlines()
recs = [json.loads(l) for l in lines]
first = next(i for i, r in enumerate(recs) if r['type'] == 'decision')
del recs[first]
out, prev = [], '0' * 64
for seq, r in enumerate(recs, 1):
    r['seq'], r['prev'] = seq, prev
    if r['type'] == 'seal':
        r['head'], r['records'] = prev, seq - 1
    line = json.dumps(r, separators=(',', ':')).encode()
    out.append(line)
    prev = hashlib.sha256(line).hexdigest()
open(sys.argv[2], 'wb').write(b'\n'.join(out) + b'\n')
PY
expect_rc "verify: a run missing a decision record is tampered" 1 "$MESHPOL" verify "$TMP/cut.jsonl"
expect_out "verify names the end record and both counts" \
	"TAMPERED: line [0-9]+ \\(seq [0-9]+\\): end record says the run wrote $ok200 decision records, but the run holds $((ok200 - 1))$"

# --- drop mode: decisions go on, losses counted ----------------------------------------------
MESHPOL=$TMP/limited start_server drop -m "$UNIT/mesh.yaml" -p "$UNIT" --workers 2 --log-mode drop \
	--decision-log "$TMP/drop.jsonl" --drain-timeout 2 || { not_ok "drop-mode server starts"; e2e_done; }
send "$PORT" 40
jq -e '.sent == 40 and .errors == 0 and .status["200"] == 40' "$TMP/summary" >/dev/null &&
	ok "drop mode: every decision answered" || not_ok "drop mode answers" "$(cat "$TMP/summary")"
check "drop mode: health stays 200" 200 "$BASE/health"
jq_ok "drop mode: health says the log is failing" '.status == "degraded" and .decision_log.status == "failing" and .decision_log.failed >= 1'
[ "$(metric meshpol_decision_log_failed_total)" -ge 1 ] && ok "drop mode: failed writes counted" || not_ok "drop mode metric"
stop_server drop
[ "$STOP_RC" = 1 ] && ok "drop mode: SIGTERM stops the server (exit 1: writes failed)" || not_ok "drop mode SIGTERM" "exit $STOP_RC"
end=$(jq -c 'select(.type == "end")' "$TMP/drop.jsonl")
echo "$end" | jq -e '.decisions == 40 and .decision_records < 40 and .failed + .decision_records == 40' >/dev/null &&
	ok "drop mode: the end record shows the decisions unlogged" || not_ok "drop mode end record" "$end"
lost=$(echo "$end" | jq '.failed + .refused + .dropped')
expect_rc "drop mode: verify says intact" 0 "$MESHPOL" verify "$TMP/drop.jsonl"
expect_out "drop mode: verify reports the decisions answered but not logged" \
	"^$TMP/drop.jsonl: note: decision log: $lost decisions? answered but dropped from the log \\(drop mode; the first end record saying so is at line [0-9]+\\)$"
e2e_done
