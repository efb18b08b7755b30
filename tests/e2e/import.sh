#!/usr/bin/env bash
# tests/e2e/import.sh: `meshpol compile`, `decide` and `audit` on Kubernetes and Istio input
# as a user runs them: the Istio corpus (../shared/corpus/istio, beside the clone), options,
# multi-cluster directories, errors, imported AuthorizationPolicies alone and with a bundle.
. "$(dirname "$0")/lib.sh"

SHARED=${MESHPOL_SHARED:-$(git rev-parse --show-toplevel 2>/dev/null || pwd)/../shared}
CORPUS=$SHARED/corpus/istio
if [ ! -d "$CORPUS/bookinfo" ] || [ ! -d "$CORPUS/security" ]; then
	not_ok "the Istio corpus is present" "expected $CORPUS (the shared folder beside the clone;" \
		"set MESHPOL_SHARED to point elsewhere)"
	e2e_done
fi
ok "the Istio corpus is present"
D=tests/data/import

# --- compile ---
expect_rc "corpus compiles" 0 "$MESHPOL" compile "$CORPUS"
expect_out "corpus counts" '^1 clusters, 0 jurisdictions, 3 namespaces, 8 services, 11 routes, 1 externals, 0 certificates, 9 workloads, 5 authorization policies, 24 import findings; sha256 [0-9a-f]{64}$'
case "$ERR" in
*"skipped kind 'RequestAuthentication'"*) not_ok "RequestAuthentication is read" "$ERR" ;;
*) ok "RequestAuthentication is read (for the analyzers), not skipped" ;;
esac
expect_out "replaced documents are notes" 'virtual-service-reviews-v3.yaml:1:1: note: VirtualService default/reviews: replaces the one at'
hash=$(echo "$OUT" | sed 's/.*sha256 //')
expect_rc "-q: compiles the same" 0 "$MESHPOL" compile -q "$CORPUS"
[ -z "$ERR" ] && echo "$OUT" | grep -q "sha256 $hash" && ok "-q: no notes, the same model" || not_ok "-q silences notes" "stderr: ${ERR:0:300}"
expect_rc "-q: audit" 1 "$MESHPOL" audit -q -m "$CORPUS" --format json -o /dev/null
[ -z "$ERR" ] && ok "-q: audit prints no notes" || not_ok "-q: audit prints no notes" "stderr: ${ERR:0:300}"

expect_rc "compile -o" 0 "$MESHPOL" compile -o "$TMP/corpus.mpm" "$CORPUS"
expect_out "same hash in the file" "sha256 $hash -> $TMP/corpus.mpm"

expect_rc "bookinfo alone" 0 "$MESHPOL" compile "$CORPUS/bookinfo"
expect_out "bookinfo counts" '^1 clusters, 0 jurisdictions, 2 namespaces, 5 services, 11 routes, 1 externals, 0 certificates, 6 workloads, 0 authorization policies, 7 import findings;'

expect_rc "options" 0 "$MESHPOL" compile --trust-domain acme.io --root-namespace mesh-root \
	--cluster prod-eu --cloud aws --region eu-west-1 "$D/authz/base.yaml"
expect_out "options: one cluster" '^1 clusters, 0 jurisdictions, 2 namespaces, 4 services'
expect_rc "options: --region needs --cluster" 2 "$MESHPOL" compile --region eu-west-1 "$D/authz/base.yaml"
expect_out "options: explained" 'describe --cluster NAME'
expect_rc "--cluster-dir wants NAME=DIR" 2 "$MESHPOL" compile --cluster-dir eu "$D/multi"
expect_rc "one directory per cluster (Cluster documents)" 0 "$MESHPOL" compile "$D/multi"
expect_out "two clusters" '^2 clusters, 2 jurisdictions, 1 namespaces, 3 services, 2 routes'
expect_rc "one directory per cluster (--cluster-dir)" 0 "$MESHPOL" compile \
	--cluster-dir west="$D/multi/eu" --cluster-dir east="$D/multi/us" "$D/multi/jurisdictions.yaml"
expect_out "--cluster-dir: four clusters (two declared, two named)" '^4 clusters, 2 jurisdictions'

cat >"$TMP/bad.yaml" <<'EOF'
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: v, namespace: shop}
spec:
  hosts: [a]
  http:
  - route:
    - destination: {host: a}
      weight: 150
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: p, namespace: shop}
spec:
  action: PERMIT
---
apiVersion: example.com/v1
kind: Widget
metadata: {name: w}
EOF
expect_rc "malformed known kinds exit 2" 2 "$MESHPOL" compile "$TMP/bad.yaml"
expect_out "error with file:line:col" "bad.yaml:9:15: VirtualService shop/v: 'weight' is 150, outside 0..100"
expect_out "AuthorizationPolicy error at its field" "bad.yaml:15:11: AuthorizationPolicy shop/p: action must be ALLOW, DENY, AUDIT or CUSTOM"
expect_out "unknown groups stay notes" "bad.yaml:18:7: note: skipped document of kind 'Widget'"
expect_out "error count" 'meshpol compile: 2 errors'

# --- decide with the imported policies alone ---
req() { # FROM TO METHOD PATH
	printf '{"source": {"service": "%s", "namespace": "default"}, "destination": {"service": "%s", "namespace": "default", "port": 9080}, "request": {"method": "%s", "path": "%s"}}\n' "$1" "$2" "$3" "$4"
}
req productpage reviews GET /reviews/0 >"$TMP/r1.json"
expect_rc "bookinfo without policies: allowed (exit 0)" 0 "$MESHPOL" decide -m "$CORPUS/bookinfo" "$TMP/r1.json"
expect_out "Istio's implicit allow" '"effect": "allowed"'
expect_rc "whole corpus: denied (exit 1)" 1 "$MESHPOL" decide -m "$TMP/corpus.mpm" "$TMP/r1.json"
expect_out "forbidden" '"effect": "forbidden"'
expect_out "the policy cited" '"policy": "AuthorizationPolicy default/deny-policy"'
expect_out "the rule cited" '"rule": "rules\[0\]"'
expect_out "with its file:line" '"source": ".*security/authz-a.yaml:19"'
expect_rc "--explain" 1 "$MESHPOL" decide --explain -m "$TMP/corpus.mpm" "$TMP/r1.json"
expect_out "explain lists the AuthorizationPolicies" '"type": "istio.deny"'

# --- decide with a bundle too ---
A=$D/authz
printf '{"source": {"principal": "spiffe://cluster.local/ns/foo/sa/sleep"}, "destination": {"service": "foo/httpbin"}, "request": {"method": "GET", "path": "/secrets"}}\n' >"$TMP/r2.json"
mkdir -p "$TMP/order" && cp "$A/base.yaml" "$A/order.yaml" "$TMP/order/"
expect_rc "Istio alone: allowed" 0 "$MESHPOL" decide -m "$TMP/order" "$TMP/r2.json"
expect_out "by allow-get" '"policy": "AuthorizationPolicy foo/allow-get"'
expect_rc "with the bundle: its deny wins" 1 "$MESHPOL" decide -m "$TMP/order" -p "$A/bundle" "$TMP/r2.json"
expect_out "by the bundle's rule" '"rule": "no-secrets"'
printf '{"source": {"principal": "spiffe://cluster.local/ns/bar/sa/other"}, "destination": {"service": "foo/httpbin"}, "request": {"method": "GET", "path": "/bundle-open"}}\n' >"$TMP/r3.json"
expect_rc "bundle allows, Istio does not" 1 "$MESHPOL" decide -m "$TMP/order" -p "$A/bundle" "$TMP/r3.json"
expect_out "not permitted by Istio's ALLOW step" '"rule": "no-rule-matched"'
printf '{"destination": {"service": "foo/httpbin"}, "request": {"auth": []}}\n' >"$TMP/r4.json"
expect_rc "request.auth must be an object" 2 "$MESHPOL" decide -m "$TMP/order" "$TMP/r4.json"
expect_out "named" 'request.auth: must be an object'

# --- audit ---
expect_rc "audit multi-cluster: residency leak (exit 1)" 1 "$MESHPOL" audit -m "$D/multi" -p "$D/bundle"
expect_out "the leak says failover only reorders" 'only reorder endpoints'
expect_out "the import finding" 'meshpol.import/LocalityFailoverLeak'
expect_rc "audit json" 1 "$MESHPOL" audit -m "$D/multi" -p "$D/bundle" --format json
expect_out "finding policy and rule" '"policy": "meshpol.import",.*"rule": "LocalityFailoverLeak"|"rule": "LocalityFailoverLeak"'
expect_rc "audit the corpus: import errors fail it" 1 "$MESHPOL" audit -m "$TMP/corpus.mpm" -p tests/data/import/corpus-bundle
expect_out "ReferencedResourceNotFound, hard" 'HIGH +meshpol.import/ReferencedResourceNotFound'
expect_rc "--policy meshpol.import" 1 "$MESHPOL" audit -m "$TMP/corpus.mpm" -p tests/data/import/corpus-bundle --policy meshpol.import --format json
expect_out "only import findings" '"findings": 24,'
expect_rc "audit the corpus without -p: the analyzers alone" 1 "$MESHPOL" audit -m "$TMP/corpus.mpm" --format json
expect_out "the same import findings" '"findings": 24,'
expect_out "no bundle" '"bundle": null'

# --- an analysis: audit reports a malformed document and analyses the rest; compile refuses it ---
expect_rc "compile refuses a Gateway without servers" 2 "$MESHPOL" compile "$D/istio/virtualservice/gateways.yaml"
expect_out "at its line" "gateways.yaml:7:3: Gateway default/storefront-gateway: missing required field 'servers'"
expect_rc "audit reports it, and the rest, as findings" 1 "$MESHPOL" audit -m "$D/istio/virtualservice/gateways.yaml" --format json
expect_out "SchemaValidationError (IST0106)" '"message": "\[IST0106\] Schema validation error: missing required field '"'servers'"'"'
expect_out "and the analyzers' findings" '"rule": "VirtualServiceHostNotFoundInGateway"'
expect_rc "audit with istioctl's MeshConfig (DNS auto-allocation)" 0 "$MESHPOL" audit -m "$D/istio/serviceentry/uppercase-tcp.yaml" \
	--istio-mesh-config "$D/istio/meshconfig/dns-auto-allocate.yaml" --format json
case "$OUT" in
*ServiceEntryAddressesRequired*) not_ok "the mesh allocates addresses" "${OUT:0:400}" ;;
*) ok "the mesh allocates addresses: no ServiceEntryAddressesRequired" ;;
esac
expect_rc "without it, Istio's defaults" 0 "$MESHPOL" audit -m "$D/istio/serviceentry/uppercase-tcp.yaml" --format json
expect_out "ServiceEntryAddressesRequired" '"rule": "ServiceEntryAddressesRequired"'
expect_rc "a MeshConfig file that is not there" 2 "$MESHPOL" audit -m "$D/istio/serviceentry/uppercase-tcp.yaml" --istio-mesh-config "$TMP/none.yaml"
expect_out "names it" "$TMP/none.yaml"
expect_rc "compile --istio-mesh-config" 0 "$MESHPOL" compile --istio-mesh-config "$D/istio/meshconfig/dns-auto-allocate.yaml" "$D/istio/serviceentry/uppercase-tcp.yaml"
expect_out "no finding" ', 0 import findings;'

# --- aliases: reuse imports; billion laughs fails at once (timeout 10 turns a hang into a failure) ---
expect_rc "anchors reused in Kubernetes and Istio documents" 0 timeout 10 "$MESHPOL" compile "$D/aliases/reuse.yaml"
expect_out "reuse: counts" '^1 clusters, 0 jurisdictions, 1 namespaces, 1 services, 3 routes, 0 externals, 0 certificates, 1 workloads,'
expect_rc "billion laughs in a VirtualService exits 2" 2 timeout 10 "$MESHPOL" compile "$D/aliases/billion-laughs.yaml"
expect_out "billion laughs: the alias that passes the limit" "^$D/aliases/billion-laughs.yaml:16:16: YAML: alias '\\*e' passes the alias expansion limit: the aliases of this file may add at most 1048576 bytes to it \\(10 times its size, or 1 MiB if more\\)$"

# --- an ingress Gateway gets the identity of its workload's service account ---
run_cmd "$MESHPOL" repl -m $D/gateway-identity <<'EOF'
print(mesh.services["istio-system/istio-ingressgateway"].identity)
:decide spiffe://cluster.local/ns/istio-system/sa/istio-ingressgateway-service-account -> istio-ingressgateway GET /
EOF
expect_out "gateway: the workload's service account" '^spiffe://cluster.local/ns/istio-system/sa/istio-ingressgateway-service-account$'
expect_out "gateway: its principal resolves to the gateway" '^ALLOW allowed: istio-system/istio-ingressgateway -> '

# --- the ```console examples of docs/import.md (every mesh's sections), run as written ---
doc_examples docs/import.md
e2e_done
