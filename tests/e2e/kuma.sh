#!/usr/bin/env bash
# tests/e2e/kuma.sh: `meshpol compile`, `decide`, `audit` and `serve` on Kuma input as a user
# runs them: the Kuma corpus (../shared/corpus/kuma, beside the clone), the scenarios of
# tests/data/import/kuma in both of Kuma's forms (Kubernetes CRDs and Universal documents), the
# --kuma-system-namespace option, malformed and unknown kinds, a bundle beside Kuma's permissions,
# and the example mesh of VMs and Kubernetes (examples/kuma). The shell's :why on Kuma input is
# tests/e2e/repl.sh's session "kuma"; the console examples of docs/import.md's Kuma section are
# run with the rest of that file by tests/e2e/import.sh.
. "$(dirname "$0")/server_lib.sh"

SHARED=${MESHPOL_SHARED:-$(git rev-parse --show-toplevel 2>/dev/null || pwd)/../shared}
CORPUS=$SHARED/corpus/kuma
if [ ! -f "$CORPUS/mt_with_mhr.input.yaml" ]; then
	not_ok "the Kuma corpus is present" "expected $CORPUS (the shared folder beside the clone;" \
		"set MESHPOL_SHARED to point elsewhere)"
	e2e_done
fi
ok "the Kuma corpus is present"
K=tests/data/import/kuma

# --- compile ---
expect_rc "corpus compiles" 0 "$MESHPOL" compile "$CORPUS"
expect_out "corpus counts" '^1 clusters, 0 jurisdictions, 2 namespaces, 1 services, 1 routes, 0 externals, 0 certificates, 0 workloads, 2 authorization policies, 4 import findings; sha256 [0-9a-f]{64}$'
expect_out "a later document of the same mesh and name replaces one" 'mt_with_mhr.input.yaml:2:1: note: MeshHTTPRoute http-route-1: replaces the one at .*01.policies.yaml:1'
expect_rc "compile -o" 0 "$MESHPOL" compile -o "$TMP/corpus.mpm" "$CORPUS"
"$MESHPOL" compile -o "$TMP/from.mpm" $K/k8s-apps.yaml $K/mesh-mtls.yaml $K/from-kind.yaml >/dev/null 2>&1
"$MESHPOL" compile -o "$TMP/uni.mpm" $K/uni-mesh.yaml $K/uni-dataplanes.yaml $K/uni-from.yaml >/dev/null 2>&1
"$MESHPOL" compile -o "$TMP/rules.mpm" $K/k8s-apps.yaml $K/mesh-nomtls.yaml $K/rules-identity.yaml \
	$K/rules-uni.yaml $K/rules-vms.yaml >/dev/null 2>&1
expect_rc "multizone: one directory per zone" 0 "$MESHPOL" compile -o "$TMP/mz.mpm" $K/mz
expect_out "... three zones, the global one's Universal documents and a Kubernetes zone" '^3 clusters, .* 4 services, 2 routes, 1 externals'
expect_rc "--kuma-system-namespace" 0 "$MESHPOL" compile --kuma-system-namespace pay -o "$TMP/sysns.mpm" \
	$K/k8s-apps.yaml $K/mesh-mtls.yaml $K/from-role.yaml
expect_rc "--kuma-system-namespace wants a value" 2 "$MESHPOL" compile $K/k8s-apps.yaml --kuma-system-namespace

cat >"$TMP/bad.yaml" <<'EOF'
apiVersion: kuma.io/v1alpha1
kind: MeshTrafficPermission
metadata:
  name: p
  namespace: kuma-system
spec:
  targetRef:
    kind: Dataplane
    lables: {app: web}
  from:
    - targetRef: {kind: Mesh}
      default: {action: Alow}
---
type: MeshTrafficPermission
name: q
mesh: default
spec:
  rules:
    - default:
        allow:
          - spiffeID: {type: Prefx, value: "spiffe://default/"}
---
type: MeshAccessLog
name: logs
mesh: default
spec: {}
---
type: MeshWidget
name: w
EOF
expect_rc "malformed known kinds exit 2" 2 "$MESHPOL" compile "$TMP/bad.yaml"
expect_out "error at file:line:col, the nearest field" "bad.yaml:9:5: MeshTrafficPermission kuma-system/p: spec.targetRef: unknown field 'lables' \(did you mean 'labels'\?\)"
expect_out "... the nearest value" "bad.yaml:12:25: MeshTrafficPermission kuma-system/p: spec.from\[0\].default.action: unknown value 'Alow' \(did you mean 'Allow'\?\)"
expect_out "... in the Universal form too" "bad.yaml:21:30: MeshTrafficPermission q: spec.rules\[0\].default.allow\[0\].spiffeID.type: unknown value 'Prefx' \(did you mean 'Prefix'\?\)"
expect_out "kinds Kuma has and meshpol leaves out are notes, with their reason" "bad.yaml:23:7: note: skipped document of type 'MeshAccessLog': Kuma's observability policies"
expect_out "unknown types are notes" "bad.yaml:28:7: note: skipped document of type 'MeshWidget': meshpol does not import this kind"
expect_out "error count" 'meshpol compile: 3 errors'

# --- decide with Kuma's permissions alone ---
req() { # SERVICE PORT PRINCIPAL [METHOD PATH]
	local http=""
	[ -n "${4:-}" ] && http=$(printf ', "request": {"method": "%s", "path": "%s"}' "$4" "$5")
	printf '{"destination": {"service": "%s", "port": %s}, "source": {"principal": "%s"}%s}\n' \
		"$1" "$2" "$3" "$http"
}
req pay/payments 8080 spiffe://default/orders_shop_svc_8080 >"$TMP/orders.json"
expect_rc "from form: the Dataplane policy's Deny is the last entry that matches: exit 1" 1 "$MESHPOL" decide -m "$TMP/from.mpm" "$TMP/orders.json"
expect_out "forbidden" '"effect": "forbidden"'
expect_out "the policy and its entry cited" '"policy": "MeshTrafficPermission kuma-system/payments-deny-orders"'
expect_out "with its file:line" '"source": ".*from-kind.yaml:33"'
req pay/payments 8080 spiffe://default/web_shop_svc_8080 GET /v1/balance >"$TMP/web.json"
expect_rc "the mesh-wide Allow: exit 0" 0 "$MESHPOL" decide -m "$TMP/from.mpm" "$TMP/web.json"
expect_out "from[0] cited" '"rule": "from\[0\]"'
expect_rc "--explain" 1 "$MESHPOL" decide --explain -m "$TMP/from.mpm" "$TMP/orders.json"
expect_out "explain: the dataplane inbound" '"type": "kuma.dataplane"'
expect_out "explain: each entry in Kuma's order" '"policy": "MeshTrafficPermission kuma-system/mesh-allow-all"'
req pay/payments 8080 "" >"$TMP/plain.json"
expect_rc "strict mTLS refuses plaintext" 1 "$MESHPOL" decide -m "$TMP/from.mpm" "$TMP/plain.json"
expect_out "... the Mesh cited" '"rule": "mtls-required"'
req payments 8080 spiffe://default/orders >"$TMP/uni-orders.json"
expect_rc "Universal: the same decision" 1 "$MESHPOL" decide -m "$TMP/uni.mpm" "$TMP/uni-orders.json"
expect_out "... a Universal policy has no namespace" '"policy": "MeshTrafficPermission payments-deny-orders"'
req pay/payments 8080 spiffe://default.zone-1.mesh.local/ns/shop/sa/cart >"$TMP/cart.json"
expect_rc "rules form: a deny matcher wins" 1 "$MESHPOL" decide -m "$TMP/rules.mpm" "$TMP/cart.json"
expect_out "... the matcher cited" '"rule": "rules\[0\].deny\[0\]"'
req billing 7000 spiffe://default.zone-1.mesh.local/ns/shop/sa/orders >"$TMP/vm.json"
expect_rc "rules form: a VM with a workload identity admits shop" 0 "$MESHPOL" decide -m "$TMP/rules.mpm" "$TMP/vm.json"
req shop/web 8080 spiffe://default/orders_shop_svc_8080 >"$TMP/sysns.json"
"$MESHPOL" compile -o "$TMP/role.mpm" $K/k8s-apps.yaml $K/mesh-mtls.yaml $K/from-role.yaml >/dev/null 2>&1
expect_rc "kuma-system's policy denies orders mesh-wide" 1 "$MESHPOL" decide -m "$TMP/role.mpm" "$TMP/sysns.json"
expect_rc "with --kuma-system-namespace pay, pay's policy admits it everywhere" 0 "$MESHPOL" decide -m "$TMP/sysns.mpm" "$TMP/sysns.json"
expect_out "... and is cited" '"policy": "MeshTrafficPermission pay/z-owner-allow-all"'

# --- with a bundle: any deny wins; an allow stands where the bundle governs nothing ---
req pay/payments 8080 spiffe://default/web_shop_svc_8080 GET /admin >"$TMP/admin.json"
expect_rc "bundle: its deny wins over Kuma's allow" 1 "$MESHPOL" decide -m "$TMP/from.mpm" -p $K/bundle "$TMP/admin.json"
expect_out "forbidden by the bundle" '"rule": "no-admin"'
req pay/ledger 9000 spiffe://default/web_shop_svc_8080 >"$TMP/ledger.json"
expect_rc "bundle: Kuma's allow stands for a destination the bundle has no rules for" 0 "$MESHPOL" decide -m "$TMP/from.mpm" -p $K/bundle "$TMP/ledger.json"
req shop/orders 8080 spiffe://default/web_shop_svc_8080 POST / >"$TMP/post.json"
expect_rc "bundle: Kuma's allow is not enough where the bundle's allow rules do not allow" 1 "$MESHPOL" decide -m "$TMP/from.mpm" -p $K/bundle "$TMP/post.json"

# --- audit: the analyzers' findings, with or without a bundle ---
expect_rc "audit the corpus: a mesh that does not exist fails it (exit 1)" 1 "$MESHPOL" audit -m "$CORPUS"
for code in MeshNotFound BackendRefNotFound MTLSDisabled ShadowPolicy; do
	expect_out "corpus: $code" "meshpol.import/$code"
done
expect_out "in Kuma's words" 'skip applying MeshTrafficPermission, MTLS is disabled'
expect_rc "audit json" 1 "$MESHPOL" audit -m "$TMP/corpus.mpm" --format json
expect_out "4 findings" '"findings": 4,'
expect_rc "audit the analyzers' scenario" 1 "$MESHPOL" audit -m $K/audit.yaml
for code in MeshNotFound MTLSDisabled NoTrafficPermission TargetRefSelectsNothing ShadowPolicy \
	AllowWithShadowDeny AllowOverriddenByDeny TargetRefNotFound BackendRefNotFound \
	CrossZoneFailover DataplaneWithoutIdentity; do
	expect_out "audit.yaml: $code" "meshpol.import/$code"
done
expect_out "with file:line" "at $K/audit.yaml:223"

# --- the example: VMs as Universal Dataplanes next to a Kubernetes zone ---
expect_rc "examples/kuma compiles" 0 "$MESHPOL" compile examples/kuma
expect_out "... three zones, the VM replica joining the Kubernetes service" '^3 clusters, 2 jurisdictions, 3 namespaces, 4 services, 2 routes'
expect_rc "examples/kuma audits (medium findings only: exit 0)" 0 "$MESHPOL" audit -m examples/kuma
expect_out "the cross-zone failover of personal data" 'meshpol.import/CrossZoneFailover'
expect_out "the allow a later deny overrides" 'meshpol.import/AllowOverriddenByDeny'
expect_rc "examples/kuma: the VM's request is allowed on the pod and on the VM" 0 \
	"$MESHPOL" decide -m examples/kuma examples/kuma/request.json

# --- serve: the decision API on Kuma input ---
if start_server kuma -m "$TMP/from.mpm" -p $K/bundle --workers 1; then
	ok "serve starts on a Kuma model"
	check "/v1/decide: Kuma admits" 200 -X POST --data-binary @"$TMP/ledger.json" "$BASE/v1/decide"
	jq_ok "... allowed by the mesh-wide permission" '.allow == true and .reasons[0].policy == "MeshTrafficPermission kuma-system/mesh-allow-all"'
	check "/v1/decide: Kuma denies" 200 -X POST --data-binary @"$TMP/orders.json" "$BASE/v1/decide"
	jq_ok "... forbidden, the entry cited" '.allow == false and .effect == "forbidden" and .reasons[0].rule == "from[0]"'
	a=$("${CURL[@]}" -X POST --data-binary @"$TMP/admin.json" "$BASE/v1/decide")
	b=$("$MESHPOL" decide -m "$TMP/from.mpm" -p $K/bundle "$TMP/admin.json")
	[ "$(echo "$a" | jq -c 'del(.decision_id)')" = "$(echo "$b" | jq -c 'del(.decision_id)')" ] &&
		ok "/v1/decide = meshpol decide on Kuma input" || not_ok "/v1/decide = meshpol decide" "server: $a" "cli: $b"
	expect_stop kuma
else
	not_ok "serve starts on a Kuma model"
fi
e2e_done
