#!/usr/bin/env bash
# tests/e2e/appmesh.sh: `meshpol compile`, `decide`, `audit`, `serve` and `export` on App Mesh
# input as a user runs them: the App Mesh corpus (../shared/corpus/appmesh, beside the clone),
# the scenarios of tests/data/import/appmesh in both forms (the controller's CRDs and
# `terraform show -json`), the option, malformed and unknown kinds, a bundle beside App Mesh,
# and the way off it to Istio. The shell's :why on App Mesh input is tests/e2e/repl.sh's session
# "appmesh"; the console examples of docs/import.md run in tests/e2e/import.sh.
. "$(dirname "$0")/server_lib.sh"

SHARED=${MESHPOL_SHARED:-$(git rev-parse --show-toplevel 2>/dev/null || pwd)/../shared}
CORPUS=$SHARED/corpus/appmesh
if [ ! -f "$CORPUS/yelb-base.yaml" ]; then
	not_ok "the App Mesh corpus is present" "expected $CORPUS (the shared folder beside the clone;" \
		"set MESHPOL_SHARED to point elsewhere)"
	e2e_done
fi
ok "the App Mesh corpus is present"
A=tests/data/import/appmesh

# --- compile ---
expect_rc "corpus compiles" 0 "$MESHPOL" compile "$CORPUS"
expect_out "corpus counts" '^1 clusters, 0 jurisdictions, 3 namespaces, 10 services, 7 routes, 0 externals, 0 certificates, 6 workloads, 0 authorization policies, 3 import findings; sha256 [0-9a-f]{64}$'
expect_out "a later document replaces an earlier one" 'yelb-base.yaml:52:1: note: VirtualNode yelb/yelb-appserver: replaces the one at'
expect_rc "compile -o" 0 "$MESHPOL" compile -o "$TMP/corpus.mpm" "$CORPUS"
for s in shop open tls routes gateway; do
	"$MESHPOL" compile -o "$TMP/$s.mpm" "$A/$s.yaml" >/dev/null 2>&1
done
expect_rc "the Terraform state form" 0 "$MESHPOL" compile -o "$TMP/tfstate.mpm" "$A/equiv-k8s.yaml" "$A/equiv-tfstate.json"
expect_out "... other resource types are one note" 'equiv-tfstate.json:1:1: note: skipped 1 Terraform resource that App Mesh.s provider does not read \(aws_iam_role\)'
expect_rc "the Terraform plan form" 0 "$MESHPOL" compile -o "$TMP/tfplan.mpm" "$A/equiv-k8s.yaml" "$A/equiv-tfplan.json"
expect_rc "a directory of the scenarios reads no JSON" 0 "$MESHPOL" compile "$A"

expect_rc "the option" 0 "$MESHPOL" compile --appmesh-allow-all-with-backends allow -o "$TMP/open-allow.mpm" "$A/open.yaml"
expect_rc "a bad option value exits 2" 2 "$MESHPOL" compile --appmesh-allow-all-with-backends alow "$A/open.yaml"
expect_out "... naming the values" "takes refuse or allow, not 'alow'"

cat >"$TMP/bad.yaml" <<'EOF'
apiVersion: appmesh.k8s.aws/v1beta2
kind: Mesh
metadata: {name: shop}
spec:
  egressFilter: {type: DROP}
---
apiVersion: appmesh.k8s.aws/v1beta2
kind: VirtualService
metadata: {name: s, namespace: shop}
spec:
  provider:
    virtualNode: {virtualNodeRf: {name: n}}
---
apiVersion: appmesh.k8s.aws/v1beta2
kind: VirtualNode
metadata: {name: n, namespace: shop}
spec:
  backend: []
---
apiVersion: appmesh.k8s.aws/v1beta1
kind: VirtualNode
metadata: {name: old, namespace: shop}
spec: {}
EOF
expect_rc "malformed known kinds exit 2" 2 "$MESHPOL" compile "$TMP/bad.yaml"
expect_out "a value outside the enum, at file:line:col" "bad.yaml:5:24: Mesh shop: spec.egressFilter.type: unknown value 'DROP' \(expected ALLOW_ALL or DROP_ALL\)"
expect_out "an unknown field, the nearest name" "bad.yaml:12:19: VirtualService shop/s: spec.provider.virtualNode: unknown field 'virtualNodeRf' \(did you mean 'virtualNodeRef'\?\)"
expect_out "a field the controller keeps is a note" "bad.yaml:18:3: note: VirtualNode shop/n: spec: unknown field 'backend' \(did you mean 'backends'\?\)"
expect_out "an older version is skipped with a note" "bad.yaml:20:13: note: skipped VirtualNode \(apiVersion appmesh.k8s.aws/v1beta1\): meshpol imports versions v1beta2 of this group"
expect_out "error count" 'meshpol compile: 2 errors'

# --- decide with App Mesh alone ---
expect_rc "a backend through a router: exit 0" 0 "$MESHPOL" decide -m "$TMP/shop.mpm" <(echo '{"source": {"service": "shop/front"}, "destination": {"service": "shop/cart", "port": 8080}, "request": {"method": "POST", "path": "/items"}}')
expect_out "the backend is cited" '"policy": "VirtualNode shop/front",.*|"rule": "backends\[1\]"'
expect_out "with its file:line" '"source": ".*shop.yaml:4[0-9]"'
expect_rc "DROP_ALL: exit 1" 1 "$MESHPOL" decide -m "$TMP/shop.mpm" <(echo '{"source": {"service": "shop/front"}, "destination": {"service": "shop/orders", "port": 8080}}')
expect_out "the mesh's egress filter is cited" '"rule": "egressFilter:DROP_ALL"'
expect_rc "*.amazonaws.com is always let out" 0 "$MESHPOL" decide -m "$TMP/shop.mpm" <(echo '{"source": {"service": "shop/orders"}, "destination": {"service": "s3.eu-west-1.amazonaws.com", "port": 443, "external": true}}')
expect_rc "an undeclared external host: exit 1" 1 "$MESHPOL" decide -m "$TMP/shop.mpm" <(echo '{"source": {"service": "shop/front"}, "destination": {"service": "api.paypal.com", "port": 443, "external": true}}')
expect_rc "STRICT refuses plaintext" 1 "$MESHPOL" decide --explain -m "$TMP/tls.mpm" <(echo '{"source": {"principal": ""}, "destination": {"service": "secure/ledger", "port": 8080}}')
expect_out "... the listener cited" '"rule": "listeners\[0\].tls:STRICT"'
expect_out "explain: the TLS stage" '"type": "appmesh.tls"'
expect_rc "the API reference's reading: undeclared egress refused" 1 "$MESHPOL" decide -m "$TMP/open.mpm" <(echo '{"source": {"service": "open/declared"}, "destination": {"service": "api.example.com", "port": 443, "external": true}}')
expect_rc "the option's, the user guide's: let through" 0 "$MESHPOL" decide -m "$TMP/open-allow.mpm" <(echo '{"source": {"service": "open/declared"}, "destination": {"service": "api.example.com", "port": 443, "external": true}}')
expect_rc "the Terraform form decides alike" 1 "$MESHPOL" decide -m "$TMP/tfplan.mpm" <(echo '{"source": {"principal": "spiffe://eq.mesh/worker"}, "destination": {"service": "eq/api", "port": 8080}}')
expect_out "... citing the resource address" '"policy": "aws_appmesh_mesh.eq"'

# --- with a bundle: any deny wins ---
mkdir -p "$TMP/bundle"
printf 'name: appmesh-e2e\nrevision: "1"\ndefault: deny\n' >"$TMP/bundle/bundle.yaml"
printf '%s\n' 'policy "appmesh.bundle" { version = "1.0.0", kind = "rbac" }' \
	'deny "no-admin" { service = "rt/catalog", paths = { "/admin/*" } }' >"$TMP/bundle/rules.lua"
expect_rc "bundle: its deny wins over App Mesh's route" 1 "$MESHPOL" decide -m "$TMP/routes.mpm" -p "$TMP/bundle" <(echo '{"source": {"service": "rt/web"}, "destination": {"service": "rt/catalog", "port": 8080}, "request": {"method": "POST", "path": "/admin/users"}}')
expect_out "forbidden by the bundle" '"effect": "forbidden"'

# --- audit: the analyzers, without a bundle ---
expect_rc "audit the corpus" 0 "$MESHPOL" audit -m "$CORPUS"
expect_out "corpus: a node no pod runs" 'meshpol.import/AppMeshNodeSelectsNoPod  VirtualNode prod/dj'
expect_rc "audit the analyzers' scenario: refused pods fail it (exit 1)" 1 "$MESHPOL" audit -m "$A/audit.yaml"
for code in AppMeshBackendUnknownService AppMeshNodeSelectsNoPod AppMeshListenerNotStrict \
	AppMeshOpenEgress AppMeshSANAdmitsNoIdentity AppMeshRouteWeights AppMeshPodRefused \
	AppMeshServiceWithoutProvider AppMeshTCPPortCollision AppMeshUnknownField; do
	expect_out "audit.yaml: $code" "meshpol.import/$code"
done
expect_out "with file:line" "at $A/audit.yaml:110"
expect_rc "audit json" 1 "$MESHPOL" audit -m "$A/audit.yaml" --format json
expect_out "13 findings" '"findings": 13,'

# --- serve: the decision API on App Mesh input ---
mkdir -p "$TMP/bundle-gw"
printf 'name: appmesh-gateway\nrevision: "1"\ndefault: allow\n' >"$TMP/bundle-gw/bundle.yaml"
printf '%s\n' 'policy "appmesh.gateway" { version = "1.0.0", kind = "rbac" }' \
	'deny "no-secrets" { service = "gw/ingress-gw", paths = { "/secret/*" } }' >"$TMP/bundle-gw/rules.lua"
if start_server appmesh -m "$TMP/gateway.mpm" -p "$TMP/bundle-gw" --workers 1; then
	ok "serve starts on an App Mesh model"
	echo '{"source": {"ip": "203.0.113.5"}, "destination": {"service": "gw/ingress-gw", "port": 8088}, "request": {"method": "GET", "path": "/paths/x"}}' >"$TMP/gw.json"
	check "/v1/decide: through the gateway" 200 -X POST --data-binary @"$TMP/gw.json" "$BASE/v1/decide"
	jq_ok "... allowed, the rewritten route cited" '.allow == true and ([.reasons[].rule] | index("route:white") != null)'
	echo '{"source": {"ip": "203.0.113.5"}, "destination": {"service": "gw/ingress-gw", "port": 8088}, "request": {"method": "GET", "path": "/"}}' >"$TMP/gw404.json"
	a=$("${CURL[@]}" -X POST --data-binary @"$TMP/gw404.json" "$BASE/v1/decide")
	b=$("$MESHPOL" decide -m "$TMP/gateway.mpm" -p "$TMP/bundle-gw" "$TMP/gw404.json")
	[ "$(echo "$a" | jq -c 'del(.decision_id)')" = "$(echo "$b" | jq -c 'del(.decision_id)')" ] &&
		ok "/v1/decide = meshpol decide on App Mesh input" || not_ok "/v1/decide = meshpol decide" "server: $a" "cli: $b"
	expect_stop appmesh
else
	not_ok "serve starts on an App Mesh model"
fi

# --- the way off App Mesh: export to Istio, checked by meshpol ---
expect_rc "export the corpus: no difference (exit 0)" 0 "$MESHPOL" export --to istio -o "$TMP/istio.yaml" --report "$TMP/report.json" "$CORPUS"
expect_out "the summary" 'meshpol export: appmesh -> istio: [0-9]+ requests checked, [0-9]+ decided the same, 0 differ, [0-9]+ not verified'
expect_out "the steps it cannot take itself are listed" 'left out: Deployment yelb/yelb-ui: a step of the migration: run its pods as the service account appmesh-yelb-ui'
jq -e '.check.requests > 0 and .check.same == .check.requests and (.check.differ | length) == 0' "$TMP/report.json" >/dev/null &&
	ok "the report: every request decided the same" || not_ok "the report: every request decided the same" "$(head -c 600 "$TMP/report.json")"
grep -q '^kind: AuthorizationPolicy' "$TMP/istio.yaml" && grep -q '^kind: VirtualService' "$TMP/istio.yaml" &&
	grep -q '^kind: Gateway' "$TMP/istio.yaml" && ok "the resources: policies, routes, the gateway" ||
	not_ok "the resources: policies, routes, the gateway" "$(head -40 "$TMP/istio.yaml")"
expect_rc "the exported resources compile on their own" 0 "$MESHPOL" compile "$TMP/istio.yaml"
for s in shop tls routes gateway; do
	expect_rc "export $s: no difference" 0 "$MESHPOL" export --to istio -o /dev/null "$A/$s.yaml"
done
expect_rc "export the Terraform form" 0 "$MESHPOL" export --to istio -o /dev/null "$A/equiv-k8s.yaml" "$A/equiv-tfstate.json"
expect_rc "an unknown target exits 2" 2 "$MESHPOL" export --to kuma "$A/shop.yaml"
expect_out "... naming the one it has" "unknown target 'kuma': App Mesh exports to istio"
expect_rc "--to is required" 2 "$MESHPOL" export "$A/shop.yaml"

e2e_done
