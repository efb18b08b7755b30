# tests/e2e/lib.sh: helpers for end-to-end scripts. Each check prints "ok - NAME" or
# "not ok - NAME" followed by "# " lines of detail; tests/run.sh counts them.
set -u
MESHPOL=${MESHPOL:-$PWD/bin/meshpol}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
E2E_FAILED=0

# jq -e that fails on empty input: Debian's jq 1.6 exits 0 when it reads nothing (1.7 exits 4),
# so a check of a report a crash left empty would pass.
jq() {
	[ "${1:-}" = -e ] || { command jq "$@"; return; }
	local out rc
	out=$(command jq "$@")
	rc=$?
	[ -z "$out" ] || printf '%s\n' "$out"
	[ $rc -ne 0 ] && return $rc
	[ -n "$out" ] || { echo "jq -e: no input, or no output" >&2; return 4; }
}

ok() { echo "ok - $1"; }
not_ok() {
	echo "not ok - $1"
	shift
	[ $# -eq 0 ] || printf '# %s\n' "$@"
	E2E_FAILED=1
}

# run_cmd: runs "$@", keeping stdout in $OUT, stderr in $ERR and the exit code in $RC.
run_cmd() {
	"$@" >"$TMP/out" 2>"$TMP/err"
	RC=$?
	OUT=$(cat "$TMP/out")
	ERR=$(cat "$TMP/err")
}

# expect_rc NAME CODE CMD...: the command exits with CODE.
expect_rc() {
	local name=$1 want=$2
	shift 2
	run_cmd "$@"
	if [ "$RC" -eq "$want" ]; then ok "$name"; else not_ok "$name" "exit $RC, want $want" "stdout: ${OUT:0:400}" "stderr: ${ERR:0:400}"; fi
}

# expect_out NAME REGEX: the last run_cmd's stdout+stderr matches the extended REGEX.
expect_out() {
	if printf '%s\n%s\n' "$OUT" "$ERR" | grep -Eq -- "$2"; then ok "$1"; else not_ok "$1" "no match for: $2" "stdout: ${OUT:0:600}" "stderr: ${ERR:0:600}"; fi
}

# doc_examples FILE [SECTION|-SECTION]: every ```console example of a doc, run as written from
# the repository root: each "$ " line is a command (continued by the "> " lines after it, as a
# shell's PS2 shows them: a here-document), the lines up to the next command its output (stdout
# and stderr), which must be what the command prints; in the output a line "..." stands for any
# number of lines and a line ending in "..." for any line that starts so (tools/doc_match.py).
# With SECTION, only the examples under the "## SECTION" heading (its subsections too); with
# -SECTION, all but those: two scripts can share a doc. With DOC_CMD_SED each command first goes
# through `sed -E "$DOC_CMD_SED"` (a test server's address for the documented one); with
# DOC_OUT_SED both outputs do before they are compared (what changes from run to run).
# tests/e2e/docs.sh checks that every example that shows output is in such a block, and that
# every doc with examples is run by some test.
doc_examples() { # FILE [SECTION|-SECTION]
	local line cmd="" want="" in=0 n=0 cont=0 indent="" sect=${2:-} inside=1
	[ -z "$sect" ] || [ "${sect:0:1}" = - ] || inside=0
	doc_check() { # (not `check`: server_lib.sh has one)
		[ -n "$cmd" ] || return 0
		n=$((n + 1))
		# the docs' /tmp/ paths are the test's own (two runs at once must not share a file);
		# the output names them as the doc does
		local got run=${cmd//\/tmp\//$TMP/doctmp/} w=${want%$'\n'}
		mkdir -p "$TMP/doctmp"
		[ -z "${DOC_CMD_SED:-}" ] || run=$(printf '%s' "$run" | sed -E "$DOC_CMD_SED")
		got=$(PATH="$(dirname "$MESHPOL"):$PATH" bash -c "$run" 2>&1)
		got=${got//$TMP\/doctmp\//\/tmp\/}
		if [ -n "${DOC_OUT_SED:-}" ]; then
			got=$(printf '%s' "$got" | sed -E "$DOC_OUT_SED")
			w=$(printf '%s' "$w" | sed -E "$DOC_OUT_SED")
		fi
		printf '%s\n' "$w" >"$TMP/doc.want"
		printf '%s\n' "$got" >"$TMP/doc.got"
		if [ "$got" = "$w" ] || python3 "$(dirname "${BASH_SOURCE[0]}")/tools/doc_match.py" "$TMP/doc.want" "$TMP/doc.got"; then
			ok "$1 example $n"
		else
			not_ok "$1 example $n" "\$ $cmd" "got: $got" "want: $w"
		fi
	}
	while IFS= read -r line; do
		if [ $in = 0 ]; then
			if [ -n "$sect" ] && [ "${line:0:3}" = '## ' ]; then
				if [ "${sect:0:1}" = - ]; then
					[ "${line:3}" = "${sect:1}" ] && inside=0 || inside=1
				else
					[ "${line:3}" = "$sect" ] && inside=1 || inside=0
				fi
			fi
			# a block may be indented (in a list item): its lines lose the fence's indent
			[ "${line#"${line%%[! ]*}"}" = '```console' ] && [ $inside = 1 ] && in=1 &&
				indent=${line%%[! ]*}
			continue
		fi
		line=${line#"$indent"}
		if [ $cont = 1 ] && [ "${line:0:2}" = '> ' ]; then
			cmd+=$'\n'"${line:2}"
			continue
		fi
		cont=0
		if [ "$line" = '```' ] || [ "${line:0:2}" = '$ ' ]; then
			doc_check "$1"
			cmd="" want=""
			[ "$line" = '```' ] && in=0 || { cmd=${line:2} && cont=1; }
			continue
		fi
		want+="$line"$'\n'
	done <"$1"
	[ $n -gt 0 ] && ok "$1 has tested examples" || not_ok "$1 has tested examples"
}

e2e_done() { exit $E2E_FAILED; }
