#!/usr/bin/env bash
# server_callgrind.sh: the server's user-space instructions per request, counted by callgrind
# (every thread of `meshpol serve --workers 1`; deterministic where time on a shared machine is
# not). For each row of server_bench.sh (decide, check, check without `when`; without and with
# --decision-log): the server starts under `valgrind --tool=callgrind`, a 1 s wrk run warms it,
# `callgrind_control -z` zeroes the counts, a DURATION s `wrk -t1 -c4` run is counted and
# `callgrind_control -d` dumps them; Ir/request = the dump's total over the requests wrk completed.
# With BASE=path/to/meshpol (e.g. main's build) each row is counted for that build too, beside.
#
# Environment: MESHPOL (bin/meshpol), BASE (none), DURATION (5), OUT (bench/out/callgrind).
# Output: a table on stdout; the dumps in $OUT (callgrind_annotate them to see where the
# instructions go). Exit 0; 1 if a tool is missing or a server failed to start.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
MESHPOL=${MESHPOL:-$ROOT/bin/meshpol}
BASE=${BASE:-}
DURATION=${DURATION:-5}
OUT=${OUT:-$HERE/out/callgrind}
export MESHPOL_STDLIB=$ROOT/stdlib
for t in valgrind callgrind_control wrk curl python3; do
	command -v "$t" >/dev/null || { echo "server_callgrind: $t is missing (scripts/install-deps.sh --bench)" >&2; exit 1; }
done
mkdir -p "$OUT"
WORK=$(mktemp -d)
PID=
trap '[ -n "$PID" ] && kill "$PID" 2>/dev/null; rm -rf "$WORK"' EXIT
BENCH_NAME=server_callgrind
. "$HERE/bench_lib.sh"

bench_requests

# load PORT ROW SECONDS: one wrk run of ROW; prints the requests it completed
load() {
	bench_row_args "$1" "$2"
	wrk -t1 -c4 -d"$3s" "${ROW_ARGS[@]}" | awk '/requests in/ { print $1 }'
}

# count BIN LABEL LOG ROW: Ir per request of one row
count() {
	local bin=$1 label=$2 log=$3 row=$4 p extra=() f
	p=$(free_port)
	[ "$log" = on ] && extra=(--decision-log "$WORK/decisions.jsonl")
	rm -f "$WORK/decisions.jsonl" "$OUT/$label-$log-$row".*
	valgrind --tool=callgrind --callgrind-out-file="$OUT/$label-$log-$row.%p" \
		"$bin" serve -m "$ROOT/examples/acme" -p "$ROOT/policies" --listen "127.0.0.1:$p" \
		--workers 1 "${extra[@]}" >"$WORK/serve.log" 2>&1 &
	PID=$!
	for _ in $(seq 1 300); do
		curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$p/health" && break
		sleep 0.2
	done
	curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$p/health" ||
		{ echo "server_callgrind: $label did not start:" >&2; cat "$WORK/serve.log" >&2; exit 1; }
	load "$p" "$row" 1 >/dev/null
	callgrind_control -z "$PID" >/dev/null 2>&1
	local n
	n=$(load "$p" "$row" "$DURATION")
	callgrind_control -d "$PID" >/dev/null 2>&1
	kill "$PID"
	wait "$PID" 2>/dev/null
	PID=
	f=$(ls -t "$OUT/$label-$log-$row".*.1 2>/dev/null | head -1)
	[ -n "$f" ] && [ -n "$n" ] && [ "$n" -gt 0 ] ||
		{ echo "server_callgrind: no dump or no requests for $label $log $row" >&2; exit 1; }
	awk -v n="$n" '/^(summary|totals):/ { printf "%d", $2 / n; exit }' "$f"
}

printf '| target | log |%s now: Ir/req |%s\n' "${BASE:+ base: Ir/req |}" "${BASE:+ |}"
printf '|---|---|---|%s\n' "${BASE:+---|---|}"
for log in off on; do
	for row in decide check nowhen; do
		now=$(count "$MESHPOL" now "$log" "$row")
		if [ -n "$BASE" ]; then
			base=$(count "$BASE" base "$log" "$row")
			printf '| %s | %s | %s | %s | %+.0f%% |\n' "$row" "$log" "$base" "$now" \
				"$(python3 -c "print(($now - $base) * 100 / $base)")"
		else
			printf '| %s | %s | %s |\n' "$row" "$log" "$now"
		fi
	done
done
