#!/usr/bin/env bash
# tests/e2e/sarif.sh: the SARIF report as code hosts read it: Microsoft's SARIF Multitool
# (tests/npm, its GitHub rules `--rule-kind Gh` and the spec's `--rule-kind Sarif`) finds no
# error and no warning in the example audit, with and without waivers; every rule carries what
# GitHub shows (name, descriptions, help, a helpUri whose anchor docs/rules.md has, precision,
# security-severity); primaryLocationLineHash is what GitHub's upload action computes
# (tests/e2e/linehash.js); locations are relative to --base (default: the Git work tree),
# whatever the working directory or the spelling of the paths, in every format.
. "$(dirname "$0")/lib.sh"
ROOT=$PWD
MT=$ROOT/tests/npm/node_modules/@microsoft/sarif-multitool-linux/Sarif.Multitool
export DOTNET_SYSTEM_GLOBALIZATION_INVARIANT=1 # the tool's .NET runtime then needs no ICU
# runs from other directories find the stdlib wherever the binary is (build-san/bin has none)
export MESHPOL_STDLIB=${MESHPOL_STDLIB:-$ROOT/stdlib}

# expect_eq NAME GOT WANT
expect_eq() {
	if [ "$2" = "$3" ]; then ok "$1"; else not_ok "$1" "got:  $2" "want: $3"; fi
}
# jq_ok NAME FILE [JQ ARGS...] FILTER: the filter holds on the file.
jq_ok() {
	local name=$1 file=$2
	shift 2
	if jq -e "$@" "$file" >/dev/null 2>"$TMP/jqerr"; then ok "$name"; else not_ok "$name" "$(cat "$TMP/jqerr")" "$(jq -c "$@" "$file" 2>&1 | head -c 600)"; fi
}

"$MESHPOL" audit -m examples/acme -p policies --format sarif -o "$TMP/acme.sarif"
expect_eq "the example audit fails its gate (exit 1) and writes SARIF" "$?" 1

# validate NAME FILE KIND: the Multitool reports no error and no warning (notes are advice)
validate() {
	if [ ! -x "$MT" ]; then
		not_ok "$1" "$MT is missing: scripts/install-deps.sh installs tests/npm"
		return
	fi
	"$MT" validate "$2" -c tests/data/sarif-multitool.xml --rule-kind "$3" \
		-o "$TMP/v.sarif" --log ForceOverwrite >"$TMP/mt.out" 2>&1
	local bad
	bad=$(jq -r '.runs[0].results[]? | select((.level // "warning") == "error" or (.level // "warning") == "warning") | "\(.ruleId): \(.message.text // .message.id)"' "$TMP/v.sarif" 2>&1)
	if [ -s "$TMP/v.sarif" ] && [ -z "$bad" ]; then ok "$1"; else not_ok "$1" "${bad:0:1500}" "$(tail -5 "$TMP/mt.out")"; fi
}
validate "Multitool --rule-kind Gh: no error or warning" "$TMP/acme.sarif" Gh
validate "Multitool --rule-kind Sarif: no error or warning" "$TMP/acme.sarif" Sarif

# Rules: what GitHub shows, never the id as the description.
S=$TMP/acme.sarif
jq_ok "every rule has a Pascal-case name" "$S" '[.runs[0].tool.driver.rules[].name | test("^([A-Z][a-z0-9]+)+$")] | all'
jq_ok "no shortDescription repeats the rule id" "$S" '[.runs[0].tool.driver.rules[] | .shortDescription.text != .id and (.shortDescription.text | length) > 10] | all'
jq_ok "every rule has fullDescription and help (text and markdown)" "$S" '[.runs[0].tool.driver.rules[] | (.fullDescription.text | length) > 0 and (.help.text | length) > 0 and (.help.markdown | length) > 0] | all'
jq_ok "every rule has precision, tags with security, and security-severity as a number" "$S" '[.runs[0].tool.driver.rules[].properties | (.precision | IN("very-high","high","medium","low")) and (.tags | index("security")) and ((.["security-severity"] // "5") | tonumber | . > 0 and . <= 10)] | all'
jq_ok "the driver has informationUri, version and semanticVersion" "$S" '.runs[0].tool.driver | (.informationUri | startswith("https://")) and .version == .semanticVersion and (.version | length) > 0'
# every helpUri names an anchor that a heading of docs/rules.md has (GitHub's slug of it)
anchors=$(grep -E '^#{2,3} ' docs/rules.md | sed -E 's/^#+ //' | tr 'A-Z' 'a-z' | sed -E 's/[^a-z0-9 _-]//g; s/ /-/g' | sort -u)
missing=$(jq -r '.runs[0].tool.driver.rules[].helpUri' "$S" | sort -u | while read -r u; do
	case $u in https://*/docs/rules.md#*) ;; *) echo "not into docs/rules.md: $u"; continue ;; esac
	grep -qx -- "${u#*#}" <<<"$anchors" || echo "no anchor: $u"
done)
expect_eq "every helpUri is an https URL to an anchor of docs/rules.md" "$missing" ""

# Results: regions and GitHub's line hash.
jq_ok "results carry primaryLocationLineHash and meshpolFinding/v1" "$S" '[.runs[0].results[] | select(.locations) | .partialFingerprints | (.primaryLocationLineHash | test("^[0-9a-f]+:[0-9]+$")) and (.["meshpolFinding/v1"] | test("^[0-9a-f]{64}$"))] | all'
jq_ok "model elements carry startColumn" "$S" '[.runs[0].results[] | select(.ruleId | startswith("residency.")) | .locations[0].physicalLocation.region.startColumn] | all(. >= 1)'
mismatch=$(jq -r '.runs[0].results[] | select(.locations) | "\(.locations[0].physicalLocation.artifactLocation.uri) \(.locations[0].physicalLocation.region.startLine) \(.partialFingerprints.primaryLocationLineHash)"' "$S" |
	while read -r uri line hash; do
		want=$(node tests/e2e/linehash.js "$uri" "$line" | cut -d' ' -f2)
		[ "$want" = "$hash" ] || echo "$uri:$line: $hash, the upload action computes $want"
	done)
expect_eq "primaryLocationLineHash is what GitHub's upload action computes" "$mismatch" ""

# Locations: relative to the Git work tree whatever the working directory or spelling.
jq_ok "uris are relative, with %SRCROOT% the work tree" "$S" --arg root "file://$ROOT/" '.runs[0].originalUriBaseIds["%SRCROOT%"].uri == $root and ([.runs[0].results[].locations[]?.physicalLocation.artifactLocation | .uriBaseId == "%SRCROOT%" and (.uri | startswith("examples/acme/"))] | all)'
uris() { jq -c '[.runs[0].results[] | .locations[]?.physicalLocation.artifactLocation.uri, .relatedLocations[]?.physicalLocation.artifactLocation.uri]' "$1"; }
(cd tests && "$MESHPOL" audit -m ../examples/acme -p ../policies --format sarif -o "$TMP/sub.sarif")
expect_eq "run from a subdirectory: the same uris" "$(uris "$TMP/sub.sarif")" "$(uris "$S")"
"$MESHPOL" audit -m "$ROOT/examples/acme" -p "$ROOT/policies" --format sarif -o "$TMP/abs.sarif"
expect_eq "absolute paths given: the same uris" "$(uris "$TMP/abs.sarif")" "$(uris "$S")"
"$MESHPOL" audit -m examples/acme -p policies --base examples --format sarif -o "$TMP/base.sarif"
jq_ok "--base DIR: uris relative to DIR" "$TMP/base.sarif" --arg root "file://$ROOT/examples/" '.runs[0].originalUriBaseIds["%SRCROOT%"].uri == $root and ([.runs[0].results[].locations[]?.physicalLocation.artifactLocation.uri | startswith("acme/")] | all)'
# sources outside any Git work tree: relative to the working directory
cp -r examples/acme "$TMP/acme"
(cd "$TMP" && "$MESHPOL" audit -m acme --format json -o "$TMP/nogit.json" 2>/dev/null)
jq_ok "outside a work tree: relative to the working directory" "$TMP/nogit.json" --arg tmp "$TMP" '.base == $tmp'
"$MESHPOL" audit -m "$TMP/acme" -p policies --format sarif -o "$TMP/out.sarif"
jq_ok "a file outside the base: an absolute file: URI, no uriBaseId" "$TMP/out.sarif" --arg tmp "file://$TMP/acme/" '[.runs[0].results[].locations[]?.physicalLocation.artifactLocation | select(.uri | startswith("file:")) | (.uri | startswith($tmp)) and (has("uriBaseId") | not)] | length > 0 and all'
expect_rc "--base that is not a directory: exit 2" 2 "$MESHPOL" audit -m examples/acme --base README.md
"$MESHPOL" audit -m examples/acme -p policies --docs-url https://docs.example.test/meshpol --format sarif -o "$TMP/docs.sarif"
jq_ok "--docs-url sets every helpUri" "$TMP/docs.sarif" '[.runs[0].tool.driver.rules[].helpUri | startswith("https://docs.example.test/meshpol/rules.md#")] | all'
expect_rc "--docs-url that is not an http(s) URL: exit 2" 2 "$MESHPOL" audit -m examples/acme --docs-url docs/

# The same base in text, markdown and json.
(cd tests && "$MESHPOL" audit -m ../examples/acme -p ../policies >"$TMP/sub.txt"; "$MESHPOL" audit -m ../examples/acme -p ../policies --format markdown >"$TMP/sub.md"; "$MESHPOL" audit -m ../examples/acme -p ../policies --format json >"$TMP/sub.json")
if grep -q 'at examples/acme/routes.yaml:' "$TMP/sub.txt" && ! grep -q '\.\./' "$TMP/sub.txt"; then ok "text: locations relative to the base from a subdirectory"; else not_ok "text base" "$(grep -m3 ' at ' "$TMP/sub.txt")"; fi
# (the model's sources are shown as they were given, not as locations)
if grep -q 'examples/acme/routes.yaml:' "$TMP/sub.md" && ! grep -v '^| Model sources' "$TMP/sub.md" | grep -q '\.\./'; then ok "markdown: locations relative to the base"; else not_ok "markdown base"; fi
jq_ok "json: locations relative to the base, and the base" "$TMP/sub.json" --arg root "$ROOT" '.base == $root and ([.findings[] | .location.file, .rule_location.file | strings] | all(startswith("examples/") or startswith("policies/")))'

# Waivers in SARIF: suppressions, and notifications for the expired and the unused.
cp -r policies "$TMP/pw"
sed -i "s#^model: .*#model: $ROOT/examples/acme#" "$TMP/pw/bundle.yaml"
cat >"$TMP/pw/waivers.yaml" <<'YAML'
waivers:
  - rule: rbac.billing/payments-any-caller
    subject: rule payments-any-caller on billing/payments
    reason: the v12 migration needs it until March
    owner: payments-team@acme.example
    expires: 2999-03-31
  - rule: traffic.baseline/routing-loop
    subject: products-inventory
    reason: accepted once
    owner: catalog
    expires: 2001-01-31
  - rule: rbac.shop/no-such-rule
    subject: nothing
    reason: left over
    owner: shop
    expires: 2999-01-01
YAML
"$MESHPOL" audit -m examples/acme -p "$TMP/pw" --format sarif -o "$TMP/w.sarif" 2>/dev/null
jq_ok "a waived finding has an external, accepted suppression with its justification" "$TMP/w.sarif" '[.runs[0].results[] | select(.suppressions)] | length == 1 and (.[0].suppressions[0] | .kind == "external" and .status == "accepted" and (.justification | test("v12 migration")) and .properties.owner == "payments-team@acme.example")'
jq_ok "expired and unused waivers are configuration notifications" "$TMP/w.sarif" '[.runs[0].invocations[0].toolConfigurationNotifications[].level] == ["error", "warning"]'
validate "Multitool --rule-kind Gh on an audit with waivers: no error or warning" "$TMP/w.sarif" Gh
validate "Multitool --rule-kind Sarif on an audit with waivers: no error or warning" "$TMP/w.sarif" Sarif
e2e_done
