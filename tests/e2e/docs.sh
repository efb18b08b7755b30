#!/usr/bin/env bash
# tests/e2e/docs.sh: the docs are tested. Every example of README.md and docs/*.md that shows a
# command's output is a ```console block (lib.sh, doc_examples), and every doc with such blocks
# is run by a test: here, or by the test that sets up what its examples need (a server, a trail).
. "$(dirname "$0")/lib.sh"

# Docs whose examples another test runs, in the context they need.
declare -A ELSEWHERE=(
	[docs/cli.md]=trail.sh [docs/trail-format.md]=trail.sh [docs/import.md]=import.sh
	[docs/server.md]=server_opa.sh [docs/bundles.md]=bundle.sh [docs/audit-format.md]=waivers.sh
)

for doc in README.md docs/*.md examples/acme/README.md policies/README.md; do
	# an example that shows output outside a console block would never run
	bad=$(awk '
		/^ *```/ { sub(/^ */, ""); if (!inb) { inb = 1; lang = substr($0, 4); next } else { inb = 0; next } }
		{ sub(/^ */, "") }
		inb && lang != "console" && prev ~ /^\$ / && $0 != "" && $0 !~ /^\$ / { print FILENAME ":" NR ": " prev; }
		{ prev = $0 }' "$doc")
	[ -z "$bad" ] && ok "$doc: every example that shows output is a console block" || not_ok "$doc: an example showing output outside a console block" "$bad"
	grep -q '^ *```console$' "$doc" || continue
	if [ -n "${ELSEWHERE[$doc]:-}" ]; then
		grep -q "doc_examples $doc" "tests/e2e/${ELSEWHERE[$doc]}" && ok "$doc: run by ${ELSEWHERE[$doc]}" || not_ok "$doc: run by ${ELSEWHERE[$doc]}"
		continue
	fi
	doc_examples "$doc"
done

# policy-guide's table of mistakes: each message it shows is one the fixtures' run prints
{ "$MESHPOL" check tests/data/bundles/guide-mistakes; "$MESHPOL" test tests/data/bundles/guide-testkey; } >"$TMP/mistakes" 2>&1
missing=""
while IFS= read -r msg; do
	msg=${msg//.../*}
	# shellcheck disable=SC2053
	grep -q "" <(grep -F -- "${msg%%\**}" "$TMP/mistakes") && [[ $(cat "$TMP/mistakes") == *$msg* ]] || missing+=$'\n'"$msg"
done < <(sed -n '/^| mistake | what you see |$/,/^$/p' docs/policy-guide.md | grep -o '^| [^|]* | `[^`]*`' | sed 's/^| [^|]* | `//; s/`$//')
[ -z "$missing" ] && ok "policy-guide: every message of the mistakes table is what meshpol says" || not_ok "policy-guide: the mistakes table" "not printed:$missing"

e2e_done
