#!/usr/bin/env bash
# tests/e2e/server_watchdog.sh: nothing a policy or a file does keeps the server from answering
# /health, serving other requests, or stopping on SIGTERM within --drain-timeout. A `when` that
# loops in Lua under a huge --when-budget (only an interrupt stops it), one that burns C time
# (string.rep of an empty string 1e15 times: no Lua instruction for the interrupt to catch), and
# a reload that blocks reading a FIFO in the bundle. Each stuck request must be answered without
# an allow. Written to pass whether or not the sandbox stops such calls by itself (a cost model,
# a wall-clock deadline): then the stuck request is just denied sooner. Reference:
# docs/server.md ("Watchdog").
. "$(dirname "$0")/server_lib.sh"

cp -r "$UNIT" "$TMP/stuck"
cat >>"$TMP/stuck/rbac.lua" <<'LUA'
allow "spin-lua" { service = "shop/web", paths = { "/spin" }, when = function(req) while true do end end }
allow "spin-c" { service = "shop/web", paths = { "/rep" },
                 when = function(req) return #string.rep("", 1e15) > 0 end }
LUA
OPTS=(-m "$UNIT/mesh.yaml" -p "$TMP/stuck" --request-timeout 1 --drain-timeout 2 --when-budget 1000000000000000)
pub() { "${CURL[@]}" -o /dev/null -w '%{http_code}' -H 'Host: web.shop' "$BASE/v1/check/pub/x"; }
# stuck NAME PATH: sends GET /v1/check/PATH in the background (reply in $TMP/NAME.{code,body})
stuck() {
	(curl -s --max-time 20 -o "$TMP/$1.body" -w '%{http_code}' -H 'Host: web.shop' "$BASE/v1/check/$2" >"$TMP/$1.code" 2>/dev/null) &
	STUCK_PID=$!
}
# served N: N requests, each on a new connection, all allowed (200)
served() {
	local i n=0
	for i in $(seq 1 "$1"); do [ "$(pub)" = 200 ] && n=$((n + 1)); done
	[ "$n" = "$1" ]
}
# not_allowed NAME: the stuck request came back, and not as an allow
not_allowed() {
	local code body
	wait "$STUCK_PID"
	code=$(cat "$TMP/$1.code" 2>/dev/null)
	body=$(cat "$TMP/$1.body" 2>/dev/null)
	if [ "$code" = 403 ] && printf '%s' "$body" | jq -e '.allow == false' >/dev/null 2>&1; then
		ok "$1: the stuck request is denied (403, allow false)"
	else
		not_ok "$1: the stuck request is denied" "status ${code:-none}" "body: ${body:0:300}"
	fi
	STUCK_BODY=$body
}

# --- a Lua loop: the watchdog's interrupt stops it --------------------------------------------
APORT=$(free_port)
ADMIN=http://127.0.0.1:$APORT
start_server lua "${OPTS[@]}" --workers 2 --admin-listen "127.0.0.1:$APORT" \
	--decision-log "$TMP/lua.jsonl" || { not_ok "server starts"; e2e_done; }
stuck lua spin
sleep 0.5
check "lua: /health answers (admin) while a request is stuck" 200 --max-time 3 "$ADMIN/health"
served 10 && ok "lua: other requests are served meanwhile" || not_ok "lua: other requests served"
not_allowed lua
served 10 && ok "lua: requests are served after it" || not_ok "lua: served after"
expect_stop lua
expect_rc "lua: the decision log verifies" 0 "$MESHPOL" verify "$TMP/lua.jsonl"

# --- C time, one worker: the watchdog gives up on it and starts another ------------------------
APORT=$(free_port)
ADMIN=http://127.0.0.1:$APORT
start_server c "${OPTS[@]}" --workers 1 --admin-listen "127.0.0.1:$APORT" \
	--decision-log "$TMP/c.jsonl" || { not_ok "server starts"; e2e_done; }
stuck c rep
sleep 0.5
check "c: /health answers (admin) while the only worker is stuck" 200 --max-time 3 "$ADMIN/health"
check "c: /metrics answers too" 200 --max-time 3 "$ADMIN/metrics"
not_allowed c
served 10 && ok "c: requests are served after it" || not_ok "c: served after" "$(tail -5 "$TMP/c.log")"
if printf '%s' "$STUCK_BODY" | grep -q 'worker was replaced'; then
	check "c: /health after the replacement" 200 "$ADMIN/health"
	jq_ok "c: /health counts the replaced worker" '.status == "ok" and .watchdog.replaced == 1 and .watchdog.interrupted >= 1 and .watchdog.failed_closed == 1'
	[ "$(METRICS_URL=$ADMIN metric meshpol_watchdog_workers_replaced_total)" = 1 ] && ok "c: metrics count the replacement" ||
		not_ok "c: replacement metric" "$("${CURL[@]}" "$ADMIN/metrics" | grep watchdog)"
	grep -q 'worker 0: stuck for' "$TMP/c.log" && ok "c: stderr says what happened" || not_ok "c: stderr" "$(tail -5 "$TMP/c.log")"
elif [ -n "$STUCK_BODY" ]; then
	echo "# c: the sandbox stopped the C call itself (${STUCK_BODY:0:120}): no replacement to check"
fi

# --- SIGTERM with a worker stuck: exit within --drain-timeout (2 s), log sealed ---------------
stuck term rep
sleep 0.5
stop_server c
[ "$STOP_RC" != hung ] && [ "$STOP_MS" -lt 6000 ] && ok "SIGTERM with a stuck worker: stops in ${STOP_MS} ms (drain 2 s)" ||
	not_ok "SIGTERM with a stuck worker" "exit $STOP_RC after $STOP_MS ms" "$(tail -5 "$TMP/c.log")"
case "$STOP_RC" in 0 | 1) ok "SIGTERM: exit $STOP_RC (1: a thread was left behind)" ;; *) not_ok "SIGTERM exit code" "$STOP_RC" ;; esac
wait "$STUCK_PID"
[ "$(cat "$TMP/term.code")" != 200 ] && ok "SIGTERM: the request in flight is not allowed" || not_ok "SIGTERM: request in flight" "$(cat "$TMP/term.code")"
[ "$(tail -1 "$TMP/c.jsonl" | jq -r .type)" = seal ] && jq -s -e 'map(select(.type == "end")) | length == 1' "$TMP/c.jsonl" >/dev/null &&
	ok "SIGTERM: the decision log ends in its end record and seal" || not_ok "log sealed" "$(tail -c 300 "$TMP/c.jsonl")"
expect_rc "c: the decision log verifies" 0 "$MESHPOL" verify "$TMP/c.jsonl"

# --- a reload that blocks reading a file: SIGTERM still works --------------------------------
cp -r "$UNIT" "$TMP/fifo"
APORT=$(free_port)
ADMIN=http://127.0.0.1:$APORT
start_server fifo -m "$UNIT/mesh.yaml" -p "$TMP/fifo" --workers 2 --drain-timeout 2 \
	--admin-listen "127.0.0.1:$APORT" || { not_ok "server starts"; e2e_done; }
mkfifo "$TMP/fifo/zz.lua" # nobody ever writes to it
kill -HUP "$SRV_PID"
sleep 0.5
check "fifo: /health answers (admin) during the reload" 200 --max-time 3 "$ADMIN/health"
served 5 && ok "fifo: requests are served during the reload" || not_ok "fifo: served"
stop_server fifo
[ "$STOP_RC" != hung ] && [ "$STOP_MS" -lt 6000 ] && ok "fifo: SIGTERM stops the server in ${STOP_MS} ms" ||
	not_ok "fifo: SIGTERM during a blocked reload" "exit $STOP_RC after $STOP_MS ms" "$(tail -5 "$TMP/fifo.log")"
e2e_done
