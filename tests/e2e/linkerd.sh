#!/usr/bin/env bash
# tests/e2e/linkerd.sh: `meshpol compile`, `decide`, `audit` and `serve` on Linkerd input as a
# user runs them: the Linkerd corpus (../shared/corpus/linkerd, beside the clone), the scenarios
# of tests/data/import/linkerd, options, malformed and unknown kinds, a bundle beside Linkerd's
# policy, and every console example of docs/import.md. The shell's :why on Linkerd input is
# tests/e2e/repl.sh's session "linkerd".
. "$(dirname "$0")/server_lib.sh"

SHARED=${MESHPOL_SHARED:-$(git rev-parse --show-toplevel 2>/dev/null || pwd)/../shared}
CORPUS=$SHARED/corpus/linkerd
if [ ! -d "$CORPUS/authz-crd-0" ]; then
	not_ok "the Linkerd corpus is present" "expected $CORPUS (the shared folder beside the clone;" \
		"set MESHPOL_SHARED to point elsewhere)"
	e2e_done
fi
ok "the Linkerd corpus is present"
L=tests/data/import/linkerd

# --- compile ---
expect_rc "corpus compiles" 0 "$MESHPOL" compile "$CORPUS"
expect_out "corpus counts" '^1 clusters, 0 jurisdictions, 3 namespaces, 0 services, 0 routes, 0 externals, 0 certificates, 0 workloads, 5 authorization policies, 19 import findings; sha256 [0-9a-f]{64}$'
expect_out "replaced documents are notes" 'emojivoto-policy.yml:5:1: note: Server emojivoto/emoji-grpc: replaces the one at'
expect_rc "compile -o" 0 "$MESHPOL" compile -o "$TMP/corpus.mpm" "$CORPUS"
"$MESHPOL" compile -o "$TMP/booksapp.mpm" "$L/booksapp" >/dev/null 2>&1
"$MESHPOL" compile -o "$TMP/defaults.mpm" "$L/defaults.yaml" >/dev/null 2>&1

expect_rc "options" 0 "$MESHPOL" compile --default-inbound-policy deny --cluster-networks 10.0.0.0/8 \
	--control-plane-namespace l5d --trust-domain example.org -o "$TMP/options.mpm" "$L/defaults.yaml"
expect_rc "a bad option value exits 2" 2 "$MESHPOL" compile --default-inbound-policy alow "$L/defaults.yaml"
expect_out "... naming the nearest value" "^--default-inbound-policy: unknown value 'alow' \(did you mean 'allow'|expected deny"
expect_rc "a bad network exits 2" 2 "$MESHPOL" compile --cluster-networks 10.0.0.0/40 "$L/defaults.yaml"
expect_out "... naming it" "^--cluster-networks: '10.0.0.0/40' is not a CIDR block"

cat >"$TMP/bad.yaml" <<'EOF'
apiVersion: policy.linkerd.io/v1beta3
kind: Server
metadata: {name: web, namespace: shop}
spec:
  podSelector:
    matchLabels: {app: web}
  port: http
  proxyProtocl: HTTP/1
---
apiVersion: policy.linkerd.io/v1alpha1
kind: AuthorizationPolicy
metadata: {name: p, namespace: shop}
spec:
  targetRef: {group: policy.linkerd.io, kind: Server, name: web}
  requiredAuthenticationRefs:
  - {kind: NetworkAuthentication, name: n, group: policy.linkerd.io, namepsace: shop}
---
apiVersion: policy.linkerd.io/v1alpha1
kind: HTTPLocalRateLimitPolicy
metadata: {name: limits, namespace: shop}
spec: {}
---
apiVersion: workload.linkerd.io/v1beta1
kind: ExternalWorkload
metadata: {name: vm, namespace: shop}
spec: {}
EOF
expect_rc "malformed known kinds exit 2" 2 "$MESHPOL" compile "$TMP/bad.yaml"
expect_out "error at file:line:col, the nearest field" "bad.yaml:8:3: Server shop/web: spec: unknown field 'proxyProtocl' \(did you mean 'proxyProtocol'\?\)"
expect_out "... in a list item too" "bad.yaml:16:70: AuthorizationPolicy shop/p: spec.requiredAuthenticationRefs\[0\]: unknown field 'namepsace' \(did you mean 'namespace'\?\)"
expect_out "kinds Linkerd leaves out are notes" "bad.yaml:19:7: note: skipped kind 'HTTPLocalRateLimitPolicy' \(apiVersion policy.linkerd.io/v1alpha1\): Linkerd's rate limits allow or deny no client"
expect_out "... with their reason" "bad.yaml:24:7: note: skipped kind 'ExternalWorkload' \(apiVersion workload.linkerd.io/v1beta1\): workloads outside Kubernetes are not modelled"
expect_out "error count" 'meshpol compile: 2 errors'

# --- decide with Linkerd's policy alone ---
req() { # SERVICE PORT PRINCIPAL IP [METHOD PATH]
	printf '{"destination": {"service": "%s", "port": %s}, "source": {"principal": "%s", "ip": "%s"}%s}\n' \
		"$1" "$2" "$3" "$4" "${5:+, \"request\": {\"method\": \"$5\", \"path\": \"$6\"}}"
}
BOOKS=books.booksapp.serviceaccount.identity.linkerd.cluster.local
req booksapp/authors 7001 $BOOKS 10.1.2.3 GET /authors.json >"$TMP/get.json"
expect_rc "an AuthorizationPolicy on the route admits: exit 0" 0 "$MESHPOL" decide -m "$TMP/booksapp.mpm" "$TMP/get.json"
expect_out "the policy cited" '"policy": "AuthorizationPolicy booksapp/authors-get-policy"'
expect_out "the route as the rule" '"rule": "route:authors-get-route"'
expect_out "with its file:line" '"source": ".*booksapp/policy.yaml:53"'
req booksapp/authors 7001 $BOOKS 10.1.2.3 DELETE /authors/1 >"$TMP/delete.json"
expect_rc "no authorization on the route: exit 1" 1 "$MESHPOL" decide -m "$TMP/booksapp.mpm" "$TMP/delete.json"
expect_out "403: the route is cited" '"policy": "HTTPRoute booksapp/authors-modify-route",.*|"rule": "unauthorized"'
req booksapp/authors 7001 $BOOKS 10.1.2.3 PATCH /authors/1 >"$TMP/patch.json"
expect_rc "no route: exit 1" 1 "$MESHPOL" decide -m "$TMP/booksapp.mpm" "$TMP/patch.json"
expect_out "404: route-not-found" '"rule": "route-not-found"'
expect_rc "--explain" 1 "$MESHPOL" decide --explain -m "$TMP/booksapp.mpm" "$TMP/delete.json"
expect_out "explain: the Server" '"type": "linkerd.server"'
expect_out "explain: the route" '"type": "linkerd.route"'
expect_out "explain: each authorization, with why not" '"why": "the client.s identity is none of its identities"'
req d-deny/app 8080 "" 10.244.0.1 GET /ready >"$TMP/probe.json"
expect_rc "a probe passes a deny default" 0 "$MESHPOL" decide -m "$TMP/defaults.mpm" "$TMP/probe.json"
expect_out "the setting is cited" '"policy": "Namespace d-deny \(config.linkerd.io/default-inbound-policy: deny\)"'
req d-none/app 8080 "" 203.0.113.5 GET / >"$TMP/open.json"
expect_rc "the chart's default admits" 0 "$MESHPOL" decide -m "$TMP/defaults.mpm" "$TMP/open.json"
expect_rc "the --default-inbound-policy option wins" 1 "$MESHPOL" decide -m "$TMP/options.mpm" "$TMP/open.json"
expect_out "... and is cited" '"policy": "meshpol compile --default-inbound-policy \(proxy.defaultInboundPolicy: deny\)"'

# --- with a bundle: any deny wins; a default policy's allow is no allow ---
expect_rc "bundle: its default deny holds where Linkerd's default admits" 1 \
	"$MESHPOL" decide -m "$TMP/defaults.mpm" -p "$L/bundle-defaults" "$TMP/open.json"
TRAFFIC=traffic.booksapp.serviceaccount.identity.linkerd.cluster.local
req booksapp/webapp 7000 $TRAFFIC 10.1.2.3 GET /admin >"$TMP/admin.json"
expect_rc "bundle: its deny wins over a Linkerd authorization" 1 "$MESHPOL" decide -m "$TMP/booksapp.mpm" -p "$L/bundle" "$TMP/admin.json"
expect_out "forbidden by the bundle" '"effect": "forbidden"'

# --- audit: the analyzers' findings, with or without a bundle ---
expect_rc "audit the corpus: an ignored policy fails it (exit 1)" 1 "$MESHPOL" audit -m "$CORPUS"
for code in IllegalAuthorizationPolicy AuthorizationPolicyTargetNotFound ServerSelectsNoPods \
	DeprecatedServerAuthorization IdentityRefNotFound; do
	expect_out "corpus: $code" "meshpol.import/$code"
done
expect_out "the unsupported authentication, in Linkerd's words" 'Illegal AuthorizationPolicy; ignoring: unsupported authentication target ClusterAuthentication'
expect_rc "audit json" 1 "$MESHPOL" audit -m "$TMP/corpus.mpm" --format json
expect_out "19 findings" '"findings": 19,'
expect_rc "audit the analyzers' scenario" 1 "$MESHPOL" audit -m "$L/audit.yaml"
for code in IllegalAuthorizationPolicy AuthorizationPolicyTargetNotFound ServerSelectsNoPods \
	ServerPortNotFound ServerPortConflict NoMatchingParent IdentityRefNotFound \
	DeprecatedServerAuthorization DefaultAllUnauthenticated PortWithoutServer; do
	expect_out "audit.yaml: $code" "meshpol.import/$code"
done
expect_out "with file:line" "at $L/audit.yaml:51"

# --- serve: the decision API on Linkerd input ---
if start_server linkerd -m "$TMP/booksapp.mpm" -p "$L/bundle" --workers 1; then
	ok "serve starts on a Linkerd model"
	check "/v1/decide: Linkerd admits" 200 -X POST --data-binary @"$TMP/get.json" "$BASE/v1/decide"
	jq_ok "... allowed by the route's policy" '.allow == true and .reasons[0].policy == "AuthorizationPolicy booksapp/authors-get-policy"'
	check "/v1/decide: Linkerd refuses" 200 -X POST --data-binary @"$TMP/delete.json" "$BASE/v1/decide"
	jq_ok "... not permitted, the route cited" '.allow == false and .effect == "not_permitted" and .reasons[0].rule == "unauthorized"'
	a=$("${CURL[@]}" -X POST --data-binary @"$TMP/patch.json" "$BASE/v1/decide")
	b=$("$MESHPOL" decide -m "$TMP/booksapp.mpm" -p "$L/bundle" "$TMP/patch.json")
	[ "$(echo "$a" | jq -c 'del(.decision_id)')" = "$(echo "$b" | jq -c 'del(.decision_id)')" ] &&
		ok "/v1/decide = meshpol decide on Linkerd input" || not_ok "/v1/decide = meshpol decide" "server: $a" "cli: $b"
	expect_stop linkerd
else
	not_ok "serve starts on a Linkerd model"
fi

e2e_done
