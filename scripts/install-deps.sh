#!/bin/sh
# Installs the Debian packages meshpol needs to build and test, or prints the command to.
# Run by `make demo` and `make test`; safe to run again (it only installs what is missing).
set -eu

# Build: compilers (C, and C++ for the RE2 and simdjson shims), pkg-config and the libraries in
# docs/architecture.md (libgit2: `meshpol diff` reads a bundle at a Git revision from the object
# database, without a checkout; libarchive reads and writes bundle archives (tar.gz) in memory;
# libcurl polls bundles and uploads decision logs for `meshpol serve` (docs/bundles.md)). libgit2,
# libcurl and libarchive are loaded on first use, not linked: their -dev packages give the
# headers and the .so whose soname the Makefile reads with objdump (binutils, in build-essential).
# zlib (zlib1g-dev): gzip request bodies on the OPA routes (server/opa.c), the uploaded log
# batches and `meshpol trail join` reading them back.
# libsimdjson-dev: the server parses request bodies with simdjson's DOM into the same jansson tree
# json_loadb makes, several times faster (engine/jsonparse.cc, docs/server.md "A fourth pass").
# libnghttp2-dev (HTTP/2 for the gRPC listener, server/grpc.c), libprotobuf-c-dev and
# protobuf-c-compiler (protoc-c makes the C of server/proto/ext_authz.proto at build time).
# Tests: cmocka, curl, nginx, tmux (the shell's terminal test), xmllint (JUnit validation),
# python3 (workload generators; python3-yaml reads documented proxy configurations), jq
# (end-to-end assertions), Node.js and npm (the real clients of tests/npm/package.json: OPA's
# JavaScript SDK, the SARIF Multitool, junit2json, @grpc/grpc-js; playwright-core, which drives
# Chromium), nghttp2-client (h2load), git (the repositories the diff's tests make).
# Graphviz (graphviz): its dot program lays out the picture of the mesh (meshpol graph, the html
# report), in DejaVu Sans (fonts-dejavu-core), the font the picture names. Chromium (chromium):
# tests/e2e/html.sh opens the html report in it, headless, through playwright-core (tests/npm).
# groff-base and man-db: the man page is checked with groff's warnings and rendered by man.
# zsh: the zsh completion script is loaded and run in tests.
# yamllint: checks the CI examples (examples/ci/).
# Bench: wrk, hyperfine, nodejs (the Cedar runner; npm ships with it), h2load (nghttp2-client),
# valgrind (bench/decide_cache.sh counts a decision's instructions and cache misses with callgrind),
# linux-perf (perf record/report: where the server's time goes under wrk, docs/server.md
# "Performance").
# Fuzz (`make fuzz`): clang and libclang-rt-14-dev (libFuzzer and the sanitizer runtimes).
PACKAGES="build-essential pkg-config liblua5.4-dev libyaml-dev libreadline-dev libssl-dev
libevent-dev libjansson-dev libre2-dev libsimdjson-dev zlib1g-dev libgit2-dev libarchive-dev
libcurl4-openssl-dev libcmocka-dev curl nginx tmux libxml2-utils python3 jq openssl
libnghttp2-dev libprotobuf-c-dev protobuf-c-compiler nghttp2-client python3-yaml git
graphviz fonts-dejavu-core chromium groff-base man-db zsh yamllint"
if [ "${1:-}" = "--bench" ]; then
	PACKAGES="$PACKAGES wrk hyperfine valgrind linux-perf"
elif [ "${1:-}" = "--fuzz" ]; then
	PACKAGES="$PACKAGES clang libclang-rt-14-dev"
fi
# a Node.js installed some other way (with its own npm) is kept as it is
command -v node >/dev/null 2>&1 || PACKAGES="$PACKAGES nodejs"
command -v npm >/dev/null 2>&1 || PACKAGES="$PACKAGES npm"

# The npm packages the tests use as real clients (tests/npm/package.json, pinned by its
# package-lock.json): installed into the git-ignored tests/npm/node_modules with `npm ci`
# whenever the lock file is newer than the last install. No install scripts run: what the
# packages ship is used as shipped (the SARIF Multitool's native binary among them).
npm_clients() {
	[ -z "${1:-}" ] || return 0
	dir="$(dirname "$0")/../tests/npm"
	[ -f "$dir/package-lock.json" ] || return 0
	stamp="$dir/node_modules/.meshpol-installed"
	[ -f "$stamp" ] && [ ! "$dir/package-lock.json" -nt "$stamp" ] && return 0
	command -v npm >/dev/null 2>&1 || { echo "install-deps: npm is missing (Debian package npm)" >&2; exit 1; }
	echo "install-deps: npm ci in tests/npm" >&2
	(cd "$dir" && npm ci --ignore-scripts --no-audit --no-fund >/dev/null) || exit 1
	# the one step of an install script the tests need: the SARIF Multitool's postinstall
	# makes its native binary executable
	find "$dir/node_modules/@microsoft" -name Sarif.Multitool -type f -exec chmod u+x {} + 2>/dev/null || true
	touch "$stamp"
}

missing=""
for p in $PACKAGES; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing="$missing $p"
	fi
done
if [ -z "$missing" ]; then
	npm_clients "${1:-}"
	exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
	echo "install-deps: installing:$missing" >&2
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	# shellcheck disable=SC2086
	apt-get install -y -qq --no-install-recommends $missing >/dev/null
	npm_clients "${1:-}"
else
	echo "install-deps: missing Debian packages:$missing" >&2
	echo "install-deps: run: sudo apt-get install -y$missing" >&2
	exit 1
fi
