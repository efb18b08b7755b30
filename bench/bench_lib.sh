# bench/bench_lib.sh: what the server benchmarks (server_bench.sh, grpc_bench.sh) share. Sourced
# after OUT is set.

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

# cpu_ticks PID...: the user + system clock ticks the processes (all their threads) have used.
cpu_ticks() { for p in "$@"; do awk '{ print $14 + $15 }' "/proc/$p/stat" 2>/dev/null; done | awk '{ s += $1 } END { print s + 0 }'; }

fmt_us() { awk -v u="$1" 'BEGIN { if (u >= 1000) printf "%.2f ms", u / 1000; else printf "%d us", u }'; }
