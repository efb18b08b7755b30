#!/bin/sh
# Installs the Debian packages meshpol needs to build and test, or prints the command to.
# Run by `make demo` and `make test`; safe to run again (it only installs what is missing).
set -eu

# Build: compilers (C, and C++ for the RE2 shim), pkg-config and the libraries in
# docs/architecture.md: libarchive reads and writes bundle archives (tar.gz) in memory, libcurl
# polls bundles and uploads decision logs for `meshpol serve` (docs/bundles.md), zlib compresses
# the uploaded log batches and reads them back (`meshpol trail join`).
# Tests: cmocka, curl, nginx, tmux (the shell's terminal test), xmllint (JUnit validation),
# python3 (workload generators), jq (end-to-end assertions).
# Bench: wrk, hyperfine, nodejs (the Cedar runner; npm ships with it).
# Fuzz (`make fuzz`): clang and libclang-rt-14-dev (libFuzzer and the sanitizer runtimes).
PACKAGES="build-essential pkg-config liblua5.4-dev libyaml-dev libreadline-dev libssl-dev
libevent-dev libjansson-dev libre2-dev libarchive-dev libcurl4-openssl-dev zlib1g-dev libcmocka-dev
curl nginx tmux libxml2-utils python3 jq openssl"
if [ "${1:-}" = "--bench" ]; then
	PACKAGES="$PACKAGES wrk hyperfine nodejs"
elif [ "${1:-}" = "--fuzz" ]; then
	PACKAGES="$PACKAGES clang libclang-rt-14-dev"
fi

missing=""
for p in $PACKAGES; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing="$missing $p"
	fi
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" -eq 0 ]; then
	echo "install-deps: installing:$missing" >&2
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	# shellcheck disable=SC2086
	apt-get install -y -qq --no-install-recommends $missing >/dev/null
else
	echo "install-deps: missing Debian packages:$missing" >&2
	echo "install-deps: run: sudo apt-get install -y$missing" >&2
	exit 1
fi
