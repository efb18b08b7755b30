#!/usr/bin/env bash
# tests/e2e/html.sh: the html audit report and `meshpol graph` (engine/report_html.c,
# engine/meshdot.c): the page read by a real browser (Debian's headless Chromium, driven over the
# DevTools protocol by tests/npm/html_report.mjs): it renders, makes no request and logs nothing,
# and its picture shows the mesh with the leak paths in colour (pixels of the screenshot counted
# by tools/pngcolors.py); the scope and trail sections; Graphviz missing; hostile names.
. "$(dirname "$0")/lib.sh"
NODE_DIR=$PWD/tests/npm
LEAK=d62728 # MP_MESHDOT_LEAK

# check NAME CONDITION-COMMAND...: ok when the command succeeds.
check() {
	local name=$1
	shift
	if "$@"; then ok "$name"; else not_ok "$name" "failed: $*"; fi
}

# browse NAME PAGE: loads PAGE in Chromium; its JSON in $TMP/NAME.json, picture in $TMP/NAME.png.
browse() {
	if ! node "$NODE_DIR/html_report.mjs" "$2" "$TMP/$1.png" >"$TMP/$1.json" 2>"$TMP/$1.err"; then
		not_ok "$1: Chromium loads the page" "$(head -c 600 "$TMP/$1.err")"
		return 1
	fi
	ok "$1: Chromium loads the page"
}

# jq_is NAME FILE FILTER: the jq filter is true of FILE.
jq_is() {
	if jq -e "$3" "$2" >/dev/null; then ok "$1"; else not_ok "$1" "not true: $3" "$(head -c 800 "$2")"; fi
}

[ -d "$NODE_DIR/node_modules/playwright-core" ] || not_ok "playwright-core is installed" "run scripts/install-deps.sh"
command -v chromium >/dev/null || not_ok "chromium is installed" "run scripts/install-deps.sh"
command -v dot >/dev/null || not_ok "graphviz's dot is installed" "run scripts/install-deps.sh"

# ---- the example audit, with a trail ----
expect_rc "audit --format html with a trail: findings, exit 1" 1 "$MESHPOL" audit -m examples/acme -p policies \
	--format html -o "$TMP/report.html" --trail "$TMP/trail.jsonl"
H=$TMP/report.html
check "one file: no script, stylesheet, image or font from elsewhere" \
	bash -c "! grep -Eiq '<script|<link|<img|<iframe|@import|url\(|src=' '$H'"
check "no address but the SVG namespaces" \
	bash -c "! grep -Eo 'https?://[^\"<> ]*' '$H' | grep -v '^http://www.w3.org/'"
check "a Content-Security-Policy that allows nothing to be fetched" grep -q "content=\"default-src 'none'; style-src 'unsafe-inline'\"" "$H"
run_cmd "$MESHPOL" trail head "$TMP/trail.jsonl"
head=$(echo "$OUT" | awk '{print $2}')
check "scope: the trail's run, its seal and head" grep -Eq "<th>Trail</th><td>[^<]*trail.jsonl: records 1-[0-9]+, sealed at [0-9]+ \(unsigned\), head $head</td>" "$H"
check "scope: clusters with their jurisdictions" grep -q "<tr><td>uk-prod-1</td><td>gcp</td><td>europe-west2</td><td>UK</td></tr>" "$H"
check "scope: the clusters once, in their own table, not again as a row" bash -c "[ \$(grep -c 'uk-prod-1' '$H') -ge 1 ] && ! grep -q '<tr><th>Clusters</th>' '$H'"
check "scope: policies with versions" grep -q "<tr><td>residency.gdpr</td><td>2.1.0</td>" "$H"
check "scope: bundle revision and model hash" bash -c "grep -q '<th>Bundle revision</th><td>2026.11.25-1</td>' '$H' && grep -q '<th>Model SHA-256</th><td>c6441e' '$H'"
check "controls with their status" grep -Eq '<tr><td>GDPR-Art44</td><td><span class="badge FAIL">FAIL</span>' "$H"
check "findings by control, with locations" grep -q '<td class="loc">examples/acme/routes.yaml:271<br>rule: policies/residency/gdpr.lua:28' "$H"
check "waivers: none" grep -q "No waivers: every finding above counts." "$H"

if browse acme "$H"; then
	J=$TMP/acme.json
	jq_is "renders with no console message and no page error" "$J" '.console == [] and .errors == []'
	jq_is "fetches nothing" "$J" '.requests == []'
	jq_is "every section" "$J" '.sections == ["summary","scope","mesh","controls","findings","waivers","errors"]'
	jq_is "the picture: an inline svg with every node" "$J" '.svg and .nodes == 47 and .svg_box.width > 600 and .svg_box.height > 400'
	jq_is "leak paths drawn in their colour" "$J" '.edge_colours | index("#d62728") != null'
	if [ -s "$TMP/acme.png" ]; then
		python3 tests/e2e/tools/pngcolors.py "$TMP/acme.png" $LEAK e8f1fb >"$TMP/px"
		read -r _ red < <(grep "^$LEAK" "$TMP/px")
		read -r _ eu < <(grep '^e8f1fb' "$TMP/px")
		read -r _ ink < <(grep '^nonwhite' "$TMP/px")
		[ "${red:-0}" -gt 2000 ] && ok "screenshot: the leak paths' red ($red pixels)" || not_ok "screenshot: the leak paths' red" "$(cat "$TMP/px")"
		[ "${eu:-0}" -gt 100000 ] && ok "screenshot: a jurisdiction's box ($eu pixels)" || not_ok "screenshot: a jurisdiction's box" "$(cat "$TMP/px")"
		[ "${ink:-0}" -gt 200000 ] && ok "screenshot: not blank" || not_ok "screenshot: not blank" "$(cat "$TMP/px")"
	else
		not_ok "screenshot of the picture"
	fi
fi

# the harness sees what it must: a page that fetches and logs is caught
cat >"$TMP/bad.html" <<'EOF'
<!DOCTYPE html><html><head><title>bad</title></head><body><img src="http://127.0.0.1:9/x.png"><script>console.error("boom"); undefined_call();</script></body></html>
EOF
if browse bad "$TMP/bad.html"; then
	jq_is "the harness sees console messages, page errors and requests" "$TMP/bad.json" \
		'(.console | length) > 0 and (.errors | length) > 0 and (.requests | length) > 0 and (.svg | not)'
fi

# ---- markdown and json carry the same scope ----
"$MESHPOL" audit -m examples/acme -p policies --format markdown -o "$TMP/report.md" --trail "$TMP/trail.jsonl"
check "markdown: meshes, clusters, jurisdictions, elements" bash -c "grep -q '^| Meshes | meshpol |$' '$TMP/report.md' && grep -q '^| Clusters | eu-prod-1 (aws eu-west-1, EU), ' '$TMP/report.md' && grep -q '^| Jurisdictions | EU: eu-west-1, ' '$TMP/report.md' && grep -q '^| Elements | 10 namespaces, 26 services, 35 routes, ' '$TMP/report.md'"
check "markdown: the second run of the trail and its seal" grep -Eq '^\| Trail \| .*trail\.jsonl: records [0-9]+-[0-9]+, sealed at [0-9]+ \(unsigned\), head [0-9a-f]{64} \|$' "$TMP/report.md"
"$MESHPOL" audit -m examples/acme -p policies --format json -o "$TMP/report.json"
jq_is "json: the scope object" "$TMP/report.json" '.scope.meshes == ["meshpol"] and (.scope.clusters | length) == 5 and .scope.counts.services == 26 and (has("trail") | not)'
"$MESHPOL" audit -m examples/acme -p policies --format markdown -o "$TMP/none.md"
check "markdown without a trail says none was written" grep -q '^| Trail | none written |$' "$TMP/none.md"

# ---- no Graphviz: the report is written all the same, and says why there is no picture ----
expect_rc "no dot: the audit's exit code is unchanged" 1 env MESHPOL_DOT=/nonexistent/dot "$MESHPOL" audit \
	-m examples/acme -p policies --format html -o "$TMP/nodot.html"
expect_out "... and it warns" "^meshpol audit: warning: cannot run /nonexistent/dot \(Graphviz\): "
check "... and the page says so" grep -q '<p class="note">cannot run /nonexistent/dot (Graphviz): ' "$TMP/nodot.html"
printf '#!/bin/sh\necho "Error: syntax error in line 1" >&2\nexit 1\n' >"$TMP/faildot"
chmod +x "$TMP/faildot"
expect_rc "a failing dot: graph exits 1" 1 env MESHPOL_DOT="$TMP/faildot" "$MESHPOL" graph -m examples/acme
expect_out "... quoting dot's words" "^meshpol graph: $TMP/faildot failed \(exit 1\): Error: syntax error in line 1"
printf '#!/bin/sh\nexec 0<&-\necho "<svg/>"\n' >"$TMP/closedot"
chmod +x "$TMP/closedot"
expect_rc "a dot that stops reading early: no SIGPIPE, its output kept" 0 env MESHPOL_DOT="$TMP/closedot" "$MESHPOL" graph -m examples/acme -o "$TMP/closed.svg"

# ---- meshpol graph ----
expect_rc "graph --format dot" 0 "$MESHPOL" graph -m examples/acme -p policies --format dot -o "$TMP/acme.dot"
check "... which dot lays out" dot -Tsvg -o "$TMP/acme-dot.svg" "$TMP/acme.dot"
check "... with the leaks coloured" grep -q 'color="#d62728", penwidth=3' "$TMP/acme.dot"
check "... grouped by jurisdiction, then cluster" bash -c "grep -q 'label=\"jurisdiction EU\"' '$TMP/acme.dot' && grep -q 'label=\"cluster eu-prod-1 (aws eu-west-1)\"' '$TMP/acme.dot'"
expect_rc "graph without a bundle: no verdicts, no leaks" 0 "$MESHPOL" graph -m examples/acme --format dot
check "... so no colour" bash -c "! grep -q 'penwidth' <<<\"\$OUT\"" 
expect_rc "graph: svg by default" 0 "$MESHPOL" graph -m examples/acme -p policies -o "$TMP/acme.svg"
check "... an SVG document" grep -q '<svg width=' "$TMP/acme.svg"
expect_rc "graph: an unknown format" 2 "$MESHPOL" graph -m examples/acme --format png
expect_out "... names the formats" "^meshpol graph: --format takes svg or dot, not 'png'"
expect_rc "graph: -m is required" 2 "$MESHPOL" graph
expect_rc "graph: a model that does not load" 2 "$MESHPOL" graph -m "$TMP/missing"

# ---- hostile names: quotes, backslashes, DOT escapes and markup stay text ----
mkdir -p "$TMP/hostile"
cat >"$TMP/hostile/mesh.yaml" <<'EOF'
kind: Cluster
name: 'c"1\N'
provider: 'aws</text><script>alert(1)</script>'
region: eu-west-1
---
kind: Jurisdiction
name: 'EU"];evil->x;["'
regions: [eu-west-1]
---
kind: Namespace
name: ns
---
kind: Service
name: 'a"b\c'
namespace: ns
clusters: ['c"1\N']
data: ['<b>pii</b>']
---
kind: Service
name: "x\u00e9\u2028y"
namespace: ns
clusters: ['c"1\N']
---
kind: Route
name: 'r"}'
source: 'ns/a"b\c'
destination: "ns/x\u00e9\u2028y"
EOF
expect_rc "hostile names: graph" 0 "$MESHPOL" graph -m "$TMP/hostile" --format dot -o "$TMP/hostile.dot"
check "... two nodes and one edge, nothing injected" bash -c "[ \$(grep -c ' \[label=' '$TMP/hostile.dot') = 2 ] && [ \$(grep -c ' -> ' '$TMP/hostile.dot') = 1 ]"
expect_rc "... laid out" 0 "$MESHPOL" graph -m "$TMP/hostile" -o "$TMP/hostile.svg"
check "... markup stays text" grep -q '(aws&lt;/text&gt;&lt;script&gt;alert(1)&lt;/script&gt; eu&#45;west&#45;1)' "$TMP/hostile.svg"
expect_rc "hostile names: html without a bundle" 0 "$MESHPOL" audit -m "$TMP/hostile" --format html -o "$TMP/hostile.html"
if browse hostile "$TMP/hostile.html"; then
	jq_is "... renders with nothing logged, run or fetched" "$TMP/hostile.json" '.console == [] and .errors == [] and .requests == [] and .svg and .nodes == 2'
fi

e2e_done
