#!/usr/bin/env bash
# server_syscalls.sh: the server's system calls per request, by name, counted by `perf stat` on
# the kernel's syscall tracepoints (every thread of `meshpol serve --workers 2`, the writer
# thread's fsyncs included). For each row of server_bench.sh (decide, check, check without
# `when`; without and with --decision-log): the server starts, a 1 s wrk run warms it, then
# `perf stat -e syscalls:sys_enter_NAME,... -p PID` counts while `wrk -t1 -c16` runs DURATION s;
# calls/request = each count over the requests wrk completed. A count moves far less than time
# on a shared machine (it does move with how many requests a worker takes per turn of its loop).
# With BASE=path/to/meshpol each row is counted for that build too, beside.
#
# Environment: MESHPOL (bin/meshpol), BASE (none), DURATION (3), CONNS (16),
#              CALLS (readv ioctl writev write epoll_ctl epoll_wait futex fsync).
# Output: a table on stdout. Exit 0; 1 if a tool is missing, perf cannot read the tracepoints
# (it needs root or kernel.perf_event_paranoid <= -1), or a server failed to start.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
MESHPOL=${MESHPOL:-$ROOT/bin/meshpol}
BASE=${BASE:-}
DURATION=${DURATION:-3}
CONNS=${CONNS:-16}
CALLS=${CALLS:-readv ioctl writev write epoll_ctl epoll_wait futex fsync}
export MESHPOL_STDLIB=$ROOT/stdlib
OUT=${OUT:-$HERE/out}
BENCH_NAME=server_syscalls
. "$HERE/bench_lib.sh"
bench_need server_syscalls "scripts/install-deps.sh --bench" wrk curl perf "$MESHPOL"
bench_workdir syscalls
bench_requests
PID=

events=$(for c in $CALLS; do printf 'syscalls:sys_enter_%s,' "$c"; done)
events=${events%,}
perf stat -e "$events" -- true >/dev/null 2>&1 ||
	{ echo "server_syscalls: perf cannot count syscall tracepoints here (root, or kernel.perf_event_paranoid <= -1)" >&2; exit 1; }

# load PORT ROW SECONDS: one wrk run of ROW; prints the requests it completed
load() {
	bench_row_args "$1" "$2"
	wrk -t1 -c"$CONNS" -d"$3s" "${ROW_ARGS[@]}" | awk '/requests in/ { print $1 }'
}

# count BIN LOG ROW: "name=calls/request ..." for one row
count() {
	local bin=$1 log=$2 row=$3 p extra=() n
	p=$(free_port)
	[ "$log" = on ] && extra=(--decision-log "$WORK/decisions.jsonl")
	rm -f "$WORK/decisions.jsonl"
	"$bin" serve -m "$ROOT/examples/acme" -p "$ROOT/policies" --listen "127.0.0.1:$p" \
		--workers 2 "${extra[@]}" >"$WORK/serve.log" 2>&1 &
	PID=$!
	PIDS+=("$PID")
	for _ in $(seq 1 100); do
		curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$p/health" && break
		sleep 0.1
	done
	curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$p/health" ||
		{ echo "server_syscalls: $bin did not start:" >&2; cat "$WORK/serve.log" >&2; exit 1; }
	load "$p" "$row" 1 >/dev/null
	perf stat -x, -e "$events" -p "$PID" -o "$WORK/perf.csv" -- sleep $((DURATION + 1)) &
	local perf=$!
	sleep 0.2
	n=$(load "$p" "$row" "$DURATION")
	wait "$perf"
	kill "$PID"
	wait "$PID" 2>/dev/null
	PID=
	[ -n "$n" ] && [ "$n" -gt 0 ] || { echo "server_syscalls: no requests for $bin $log $row" >&2; exit 1; }
	awk -F, -v n="$n" '$3 ~ /^syscalls:sys_enter_/ { sub(/^syscalls:sys_enter_/, "", $3);
		printf "%s%s=%.2f", sep, $3, $1 / n; sep = " " } END { print "" }' "$WORK/perf.csv"
}

printf '| target | log |%s now: calls/request |\n' "${BASE:+ base: calls/request |}"
printf '|---|---|---|%s\n' "${BASE:+---|}"
for log in off on; do
	for row in decide check nowhen; do
		now=$(count "$MESHPOL" "$log" "$row")
		if [ -n "$BASE" ]; then
			base=$(count "$BASE" "$log" "$row")
			printf '| %s | %s | %s | %s |\n' "$row" "$log" "$base" "$now"
		else
			printf '| %s | %s | %s |\n' "$row" "$log" "$now"
		fi
	done
done
