#!/usr/bin/env bash
# soak.sh: `meshpol serve` with the decision log on, in no-drop mode, under sustained wrk load
# (POST /v1/decide and GET /v1/check/ at once, keep-alive, loopback) for DURATION seconds. It
# samples the server's RSS every INTERVAL seconds and prints the curve, then checks that no
# record was dropped or refused (the /metrics counters: decisions answered, records written,
# dropped, refused, errors) and that `meshpol verify` passes on the log after a clean shutdown.
# RSS must stay flat: the last sample within SLACK_MB of the first sample after warm-up.
#
# Environment: DURATION (600 s), INTERVAL (10 s), CONNS (16, split between the two runs),
#              THREADS (1 wrk thread per run), WORKERS (nproc), SLACK_MB (8), MESHPOL
#              (bin/meshpol).
# Output: the curve and the checks on stdout and in out/soak-results.txt; the server's stderr in
# out/soak-server.log. Exit 0 when every check passed, 1 when one failed or a tool is missing.
set -u

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
OUT=$HERE/out
MESHPOL=${MESHPOL:-$ROOT/bin/meshpol}
DURATION=${DURATION:-600}
INTERVAL=${INTERVAL:-10}
CONNS=${CONNS:-16}
THREADS=${THREADS:-1}
WORKERS=${WORKERS:-$(nproc)}
SLACK_MB=${SLACK_MB:-8}
RESULTS=$OUT/soak-results.txt
export MESHPOL_STDLIB=$ROOT/stdlib

. "$HERE/bench_lib.sh"
bench_need soak "scripts/install-deps.sh --bench" wrk curl "$MESHPOL"
bench_workdir soak

PORT=$(free_port)
"$MESHPOL" serve -m "$ROOT/examples/acme" -p "$ROOT/policies" --listen "127.0.0.1:$PORT" \
	--workers "$WORKERS" --decision-log "$WORK/decisions.jsonl" --log-mode no-drop \
	>"$OUT/soak-server.log" 2>&1 &
PID=$!
PIDS+=($PID)
for _ in $(seq 1 100); do
	curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$PORT/health" && break
	sleep 0.1
done
curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$PORT/health" || {
	echo "soak: the server did not come up" >&2
	cat "$OUT/soak-server.log" >&2
	exit 1
}

bench_requests
half=$((CONNS / 2 > 0 ? CONNS / 2 : 1))
wrk -t"$THREADS" -c"$half" -d"${DURATION}s" -s "$WORK/decide.lua" \
	"http://127.0.0.1:$PORT/v1/decide" >"$WORK/wrk-decide.txt" 2>&1 &
W1=$!
wrk -t"$THREADS" -c"$half" -d"${DURATION}s" -H 'Host: payments.billing:8080' \
	-H "x-forwarded-client-cert: $XFCC" \
	"http://127.0.0.1:$PORT/v1/check/v1/charges/ch_42" >"$WORK/wrk-check.txt" 2>&1 &
W2=$!
PIDS+=($W1 $W2)

rss_mb() { awk '/^VmRSS/ { printf "%.1f", $2 / 1024 }' "/proc/$1/status"; }
metric() { # NAME: the sum of a /metrics counter's series
	curl -s --max-time 5 "http://127.0.0.1:$PORT/metrics" |
		awk -v n="$1" '$1 == n || index($1, n "{") == 1 { s += $2 } END { printf "%d\n", s }'
}
echo "soak: ${DURATION}s of wrk (-t$THREADS, $half connections each on /v1/decide and /v1/check/), $WORKERS workers, no-drop log; RSS every ${INTERVAL}s" >&2
: >"$WORK/curve"
start=$(date +%s)
while kill -0 "$W1" 2>/dev/null || kill -0 "$W2" 2>/dev/null; do
	t=$(($(date +%s) - start))
	kill -0 "$PID" 2>/dev/null || break
	echo "$t $(rss_mb "$PID") $(metric meshpol_decisions_total)" >>"$WORK/curve"
	tail -1 "$WORK/curve" | awk '{ printf "soak: %4d s  RSS %6.1f MB  %d decisions\n", $1, $2, $3 }' >&2
	sleep "$INTERVAL"
done
wait "$W1" "$W2" 2>/dev/null

fail=0
check() { # LABEL OK(0/1) DETAIL
	if [ "$2" = 1 ]; then echo "PASS $1: $3"; else echo "FAIL $1: $3"; fail=1; fi
}
alive=0
kill -0 "$PID" 2>/dev/null && alive=1
decisions=$(metric meshpol_decisions_total)
written=$(metric meshpol_decision_log_records_written_total)
dropped=$(metric meshpol_decision_log_dropped_total)
refused=$(metric meshpol_decision_log_refused_total)
errors=$(metric meshpol_decision_log_errors_total)
failed=$(metric meshpol_decision_log_failed_total)
rss_end=$([ "$alive" = 1 ] && rss_mb "$PID" || echo 0)
hwm=$([ "$alive" = 1 ] && awk '/^VmHWM/ { printf "%.1f", $2 / 1024 }' "/proc/$PID/status" || echo 0)
kill -TERM "$PID"
wait "$PID"
rc=$?
verify=$("$MESHPOL" verify "$WORK/decisions.jsonl" 2>&1)
vrc=$?
logged=$(grep -c '"type":"decision"' "$WORK/decisions.jsonl")
{
	echo "soak: meshpol serve, decision log on (no-drop), ${DURATION}s under wrk; $WORKERS workers, $(nproc) CPUs"
	echo
	echo "| t (s) | RSS (MB) | decisions |"
	echo "|---|---|---|"
	awk '{ printf "| %d | %.1f | %d |\n", $1, $2, $3 }' "$WORK/curve"
	echo
	awk '{ print $2 }' "$WORK/curve" | sort -g | awk '{ v[NR] = $1 } END {
		printf "RSS: min %.1f MB, max %.1f MB over %d samples\n", v[1], v[NR], NR }'
	echo "peak RSS (VmHWM): $hwm MB; at the end: $rss_end MB"
	for f in "$WORK"/wrk-*.txt; do
		echo "$(basename "$f" .txt): $(awk '/ requests in /{ print $1, "requests" } /^Requests\/sec/{ print "(" $2 "/s)" }' "$f" | paste -sd' ')$(grep -h 'Non-2xx\|Socket errors' "$f" | paste -sd' ' | sed 's/^./; &/')"
	done
	# after the warm-up (the first minute, or quarter of a shorter run: caches, the Lua
	# states, glibc's arenas), RSS is flat
	warm=$((DURATION >= 240 ? 60 : DURATION / 4))
	first=$(awk -v w="$warm" '$1 >= w { print $2; exit }' "$WORK/curve")
	last=$(tail -1 "$WORK/curve" | awk '{ print $2 }')
	check "server alive through the run" "$alive" "exit status $rc after SIGTERM"
	check "RSS flat after warm-up" "$(awk -v a="${first:-0}" -v b="${last:-0}" -v s="$SLACK_MB" \
		'BEGIN { print (a > 0 && b - a <= s) ? 1 : 0 }')" "${first:-?} MB at $warm s, ${last:-?} MB at the end (slack $SLACK_MB MB)"
	check "no record dropped, refused or failed" "$([ "$dropped" = 0 ] && [ "$refused" = 0 ] && [ "$errors" = 0 ] && [ "$failed" = 0 ] && echo 1 || echo 0)" \
		"dropped $dropped, refused $refused, failed $failed, errors $errors"
	check "every decision answered is logged" "$([ "$decisions" -le "$written" ] && [ "$logged" -ge "$decisions" ] && echo 1 || echo 0)" \
		"$decisions decisions answered, $written records written (metrics), $logged decision records in the file"
	check "meshpol verify" "$([ "$vrc" = 0 ] && echo 1 || echo 0)" "$(echo "$verify" | sed 's|^.*/decisions.jsonl: ||' | tail -1)"
} | tee "$RESULTS"
grep -q '^FAIL' "$RESULTS" && exit 1
exit 0
