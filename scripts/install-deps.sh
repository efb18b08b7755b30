#!/bin/sh
# Installs the Debian packages meshpol needs to build and test, or prints the command to.
# Run by `make demo` and `make test`; safe to run again (it only installs what is missing).
set -eu

# Build: compilers (C, and C++ for the RE2 shim), pkg-config and the libraries in
# docs/architecture.md: libnghttp2-dev (HTTP/2 for the gRPC listener), libprotobuf-c-dev and
# protobuf-c-compiler (protoc-c makes the C of server/proto/ext_authz.proto at build time).
# Tests: cmocka, curl, nginx, tmux (the shell's terminal test), xmllint (JUnit validation),
# python3 (workload generators; python3-yaml reads documented configurations), jq (end-to-end
# assertions), nghttp2-client (nghttp: raw
# HTTP/2 frames against the gRPC listener), nodejs and npm (the real clients of tests/npm:
# @grpc/grpc-js, installed below with `npm ci` into tests/npm/node_modules).
# Bench: wrk, hyperfine, nodejs (the Cedar runner), h2load (nghttp2-client).
# Fuzz (`make fuzz`): clang and libclang-rt-14-dev (libFuzzer and the sanitizer runtimes).
PACKAGES="build-essential pkg-config liblua5.4-dev libyaml-dev libreadline-dev libssl-dev
libevent-dev libjansson-dev libre2-dev libcmocka-dev curl nginx tmux libxml2-utils python3 jq openssl
libnghttp2-dev libprotobuf-c-dev protobuf-c-compiler nghttp2-client nodejs python3-yaml"
if [ "${1:-}" = "--bench" ]; then
	PACKAGES="$PACKAGES wrk hyperfine nodejs"
elif [ "${1:-}" = "--fuzz" ]; then
	PACKAGES="$PACKAGES clang libclang-rt-14-dev"
fi

# The test clients from npm (tests/npm/package.json, its package-lock.json pinning every
# version): installed when missing or older than the lock file. Run after the Debian packages.
npm_clients() {
	dir="$(dirname "$0")/../tests/npm"
	[ -f "$dir/package-lock.json" ] || return 0
	if [ -d "$dir/node_modules" ] && [ ! "$dir/package-lock.json" -nt "$dir/node_modules" ]; then
		return 0
	fi
	echo "install-deps: npm ci in tests/npm" >&2
	(cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >/dev/null) && touch "$dir/node_modules"
}

missing=""
for p in $PACKAGES; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing="$missing $p"
	fi
done
# Debian's nodejs leaves npm to a package of its own (NodeSource's ships it inside)
command -v npm >/dev/null 2>&1 || missing="$missing npm"
if [ -z "$missing" ]; then
	npm_clients
	exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
	echo "install-deps: installing:$missing" >&2
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	# shellcheck disable=SC2086
	apt-get install -y -qq --no-install-recommends $missing >/dev/null
	npm_clients
else
	echo "install-deps: missing Debian packages:$missing" >&2
	echo "install-deps: run: sudo apt-get install -y$missing" >&2
	exit 1
fi
