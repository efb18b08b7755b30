# bench/bench_lib.sh: what the benchmarks share: the server ones' tools and work directory
# (server_bench.sh, grpc_bench.sh, soak.sh) and the timed runs and their statistics of the
# command-line ones (audit_bench.sh, compile_bench.sh). Sourced after OUT is set.

# bench_need NAME HINT TOOL...: every tool is there, else says which and exits.
bench_need() {
	local name=$1 hint=$2 tool
	shift 2
	for tool in "$@"; do
		if ! command -v "$tool" >/dev/null 2>&1; then
			echo "$name: $tool not found ($hint; \`make\` for bin/meshpol)" >&2
			exit 1
		fi
	done
}

# bench_workdir NAME: WORK, a fresh directory under OUT; PIDS, the processes to stop; both
# cleaned up on exit.
bench_workdir() {
	mkdir -p "$OUT"
	WORK=$(mktemp -d "$OUT/$1.XXXXXX")
	PIDS=()
	trap bench_cleanup EXIT
}
bench_cleanup() {
	for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
	wait 2>/dev/null
	rm -rf "$WORK"
}

free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# bench_requests: the server benchmarks' requests: $WORK/decide.lua, wrk's script posting the
# example decision input allow-checkout-charge.json (from $ROOT); XFCC, the certificate header of
# a checkout -> payments check (rules with `when`); GATEWAY, the ingress gateway's -> products
# (rules without).
bench_requests() {
	cat >"$WORK/decide.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local f = assert(io.open("$ROOT/examples/requests/allow-checkout-charge.json", "r"))
wrk.body = f:read("*a")
f:close()
LUA
	XFCC='By=spiffe://acme.io/ns/billing/sa/payments;URI=spiffe://acme.io/ns/shop/sa/checkout'
	GATEWAY='By=spiffe://acme.io/ns/catalog/sa/products;URI=spiffe://acme.io/ns/edge/sa/ingress-gateway'
}

# bench_row_args PORT ROW: wrk's arguments (into the array ROW_ARGS) for one server row: decide,
# check (rules with `when`) or nowhen (rules without), as bench_requests describes them.
bench_row_args() {
	case $2 in
	decide) ROW_ARGS=(-s "$WORK/decide.lua" "http://127.0.0.1:$1/v1/decide") ;;
	check) ROW_ARGS=(-H 'Host: payments.billing:8080' -H "x-forwarded-client-cert: $XFCC"
		"http://127.0.0.1:$1/v1/check/v1/charges/ch_42") ;;
	nowhen) ROW_ARGS=(-H 'Host: products.catalog:8080' -H "x-forwarded-client-cert: $GATEWAY"
		"http://127.0.0.1:$1/v1/check/api/catalog/products/sku-4711") ;;
	esac
}

# cpu_ticks PID...: the user + system clock ticks the processes (all their threads) have used.
cpu_ticks() { for p in "$@"; do awk '{ print $14 + $15 }' "/proc/$p/stat" 2>/dev/null; done | awk '{ s += $1 } END { print s + 0 }'; }

fmt_us() { awk -v u="$1" 'BEGIN { if (u >= 1000) printf "%.2f ms", u / 1000; else printf "%d us", u }'; }

# fail MESSAGE...: says it on stderr, prefixed by $BENCH_NAME, and marks the run failed (the
# script exits with $failed).
failed=0
fail() {
	echo "$BENCH_NAME: $*" >&2
	failed=1
}

# median FILE: the median of the numbers in FILE, one a line.
median() {
	sort -g "$1" | awk '{ v[NR] = $1 } END {
		if (NR == 0) { print "nan"; exit }
		if (NR % 2) printf "%.6f\n", v[(NR + 1) / 2]
		else printf "%.6f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
# max FILE: the largest number in FILE.
max() { sort -g "$1" | tail -n 1; }
# kb_to_mb KB: decimal megabytes (10^6 bytes), one decimal.
kb_to_mb() { awk -v k="$1" 'BEGIN { printf "%.1f", k * 1024 / 1e6 }'; }

# bench_timed NAME LOG MAXRC CMD...: one run of CMD through $TIMECMD (timecmd.c); an exit code
# above MAXRC is a failure. Appends its wall seconds, peak RSS (kB) and CPU seconds to
# $RUN/NAME.s, .kb and .cpu; on failure prints LOG's tail, prefixed by $BENCH_NAME, and returns
# non-zero.
bench_timed() {
	local name=$1 log=$2 maxrc=$3 rc secs kb cpu
	shift 3
	"$TIMECMD" -o "$RUN/last" "$@" >"$log" 2>&1
	rc=$?
	if [ "$rc" -gt "$maxrc" ]; then
		echo "$BENCH_NAME: failed (exit $rc): $*" >&2
		tail -n 20 "$log" | sed 's/^/  | /' >&2
		return 1
	fi
	read -r secs kb cpu <"$RUN/last"
	echo "$secs" >>"$RUN/$name.s"
	echo "$kb" >>"$RUN/$name.kb"
	echo "${cpu:-nan}" >>"$RUN/$name.cpu"
}
