#!/bin/sh
# Installs the Debian packages meshpol needs to build and test, or prints the command to.
# Run by `make demo` and `make test`; safe to run again (it only installs what is missing).
set -eu

# Build: compilers (C, and C++ for the RE2 shim), pkg-config and the libraries in
# docs/architecture.md.
# zlib (zlib1g-dev): gzip request bodies on the OPA routes (server/opa.c).
# Tests: cmocka, curl, nginx, tmux (the shell's terminal test), xmllint (JUnit validation),
# python3 (workload generators), jq (end-to-end assertions), Node.js and npm (real npm clients
# of the server, tests/npm: OPA's JavaScript SDK; playwright-core, which drives Chromium).
# Graphviz (graphviz): its dot program lays out the picture of the mesh (meshpol graph, the html
# report), in DejaVu Sans (fonts-dejavu-core), the font the picture names. Chromium (chromium):
# tests/e2e/html.sh opens the html report in it, headless, through playwright-core (tests/npm).
# groff-base and man-db: the man page is checked with groff's warnings and rendered by man.
# zsh: the zsh completion script is loaded and run in tests.
# yamllint: checks the CI examples (examples/ci/).
# Bench: wrk, hyperfine, nodejs (the Cedar runner; npm ships with it).
# Fuzz (`make fuzz`): clang and libclang-rt-14-dev (libFuzzer and the sanitizer runtimes).
PACKAGES="build-essential pkg-config liblua5.4-dev libyaml-dev libreadline-dev libssl-dev
libevent-dev libjansson-dev libre2-dev zlib1g-dev libcmocka-dev curl nginx tmux libxml2-utils python3 jq openssl
graphviz fonts-dejavu-core chromium groff-base man-db zsh yamllint"
if [ "${1:-}" = "--bench" ]; then
	PACKAGES="$PACKAGES wrk hyperfine nodejs"
elif [ "${1:-}" = "--fuzz" ]; then
	PACKAGES="$PACKAGES clang libclang-rt-14-dev"
else
	# a Node.js installed some other way (with its own npm) is kept as it is
	command -v node >/dev/null 2>&1 || PACKAGES="$PACKAGES nodejs"
	command -v npm >/dev/null 2>&1 || PACKAGES="$PACKAGES npm"
fi

# The npm packages the tests use as real clients: tests/npm/package.json, pinned by its
# package-lock.json, installed with `npm ci` into tests/npm/node_modules (git-ignored), again
# only when the lock file is newer than the last install.
npm_deps() {
	dir="$(dirname "$0")/../tests/npm"
	[ -z "${1:-}" ] && [ -f "$dir/package-lock.json" ] || return 0
	[ "$dir/node_modules/.package-lock.json" -nt "$dir/package-lock.json" ] && return 0
	echo "install-deps: npm ci in tests/npm" >&2
	(cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >&2)
}

missing=""
for p in $PACKAGES; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing="$missing $p"
	fi
done
if [ -z "$missing" ]; then
	npm_deps "${1:-}"
	exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
	echo "install-deps: installing:$missing" >&2
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	# shellcheck disable=SC2086
	apt-get install -y -qq --no-install-recommends $missing >/dev/null
	npm_deps "${1:-}"
else
	echo "install-deps: missing Debian packages:$missing" >&2
	echo "install-deps: run: sudo apt-get install -y$missing" >&2
	exit 1
fi
