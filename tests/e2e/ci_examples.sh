#!/usr/bin/env bash
# tests/e2e/ci_examples.sh: the CI examples (examples/ci/): yamllint (strict, with the folder's
# .yamllint) passes them; every meshpol command in them names a verb and options the program
# has; and the audit commands, run as written in a repository laid out as the examples assume
# (mesh/ and policies/: the example mesh and bundle), exit as the examples say and write what
# they keep.
. "$(dirname "$0")/lib.sh"
CI=examples/ci
REPO=$PWD

run_cmd yamllint -s -c "$CI/.yamllint" "$CI"
[ "$RC" -eq 0 ] && ok "yamllint -s passes the CI examples" || not_ok "yamllint" "$OUT" "$ERR"

# The meshpol commands of the examples' run: and script: blocks, one per line (continuations
# joined).
python3 - "$CI"/*.yml >"$TMP/commands" <<'PY'
import sys, yaml
def walk(v):
    if isinstance(v, dict):
        for k, x in v.items():
            if k in ("run", "script", "before_script") and x:
                for s in (x if isinstance(x, list) else [x]):
                    for line in str(s).replace("\\\n", " ").split("\n"):
                        for part in line.replace("&&", ";").split(";"):
                            part = " ".join(part.split())
                            if part.startswith("meshpol "):
                                print(part.split(" || ")[0])
            else:
                walk(x)
    elif isinstance(v, list):
        for x in v:
            walk(x)
for f in sys.argv[1:]:
    walk(yaml.safe_load(open(f)))
PY
[ -s "$TMP/commands" ] && ok "the examples run meshpol" || not_ok "the examples run meshpol"

while read -r cmd; do
	read -r -a words <<<"$cmd"
	verb=${words[1]}
	help=$("$MESHPOL" "$verb" --help 2>&1) || { not_ok "$cmd: a verb" "$help"; continue; }
	bad=""
	for w in "${words[@]:2}"; do
		case $w in
		--*) o=${w%%=*} ;;
		-?) o=$w ;;
		*) continue ;;
		esac
		grep -Eq -- "(^|[ ,])$o( |,|$)" <<<"$help" || bad="$bad $o"
	done
	[ -z "$bad" ] && ok "meshpol $verb: every option of the example is one it has" || not_ok "$cmd" "unknown:$bad"
done <"$TMP/commands"

# The audits, run as written in a repository of the examples' layout.
W=$TMP/repo
mkdir -p "$W"
cp -r "$REPO/examples/acme" "$W/mesh"
cp -r "$REPO/policies" "$W/policies"
cd "$W" || exit 1
# the program finds its stdlib beside itself; a build tree elsewhere (make check's) is told
export MESHPOL_STDLIB=${MESHPOL_STDLIB:-$REPO/stdlib}
n=0
while read -r cmd; do
	[[ $cmd == "meshpol audit "* ]] || continue
	n=$((n + 1))
	run_cmd bash -c "PATH=$(dirname "$MESHPOL"):\$PATH $cmd"
	# the example mesh has findings at hard: every audit of it exits 1
	[ "$RC" -eq 1 ] && ok "runs: $cmd" || not_ok "runs: $cmd" "exit $RC" "${ERR:0:400}"
done <"$TMP/commands"
[ $n -ge 5 ] && ok "the examples' audits ran ($n)" || not_ok "the examples' audits ran" "$n"
for f in audit.html meshpol.sarif audit.xml audit-trail.jsonl; do
	[ -s "$f" ] && ok "written: $f" || not_ok "written: $f"
done
jq -e '.runs[0].results | length > 0' meshpol.sarif >/dev/null && ok "the SARIF has results" || not_ok "the SARIF has results"
xmllint --noout audit.xml && ok "the audit's JUnit is XML" || not_ok "the audit's JUnit is XML"
"$MESHPOL" verify audit-trail.jsonl >/dev/null && ok "the trail verifies" || not_ok "the trail verifies"
cd "$REPO" || exit 1

e2e_done
