#!/usr/bin/env bash
# tests/e2e/consul.sh: every verb on Consul input, as a user runs them: `meshpol compile` of the
# consul-k8s corpus (../shared/corpus/consul, beside the clone) with pinned counts, the config
# entry form, options and bad input at file:line:col; `decide` (alone, --explain, with a bundle);
# `audit` (the analyzers, and residency through a failover); `repl` (:decide, :why) and `serve`
# (/v1/decide, Envoy's /v1/check with a Consul SPIFFE identity). docs/import.md ("Consul").
. "$(dirname "$0")/server_lib.sh"

SHARED=${MESHPOL_SHARED:-$(git rev-parse --show-toplevel 2>/dev/null || pwd)/../shared}
CORPUS=$SHARED/corpus/consul
D=tests/data/import/consul
if [ ! -f "$CORPUS/intentions.yaml" ]; then
	not_ok "the Consul corpus is present" "expected $CORPUS (set MESHPOL_SHARED to point elsewhere)"
	e2e_done
fi

# --- compile ---
expect_rc "corpus compiles" 0 "$MESHPOL" compile "$CORPUS"
expect_out "corpus counts" '^1 clusters, 0 jurisdictions, 1 namespaces, 0 services, 0 routes, 0 externals, 0 certificates, 0 workloads, 12 authorization policies, 31 import findings; sha256 [0-9a-f]{64}$'
hash=$(echo "$OUT" | sed 's/.*sha256 //')
expect_rc "compile -o" 0 "$MESHPOL" compile -o "$TMP/corpus.mpm" "$CORPUS"
expect_out "same hash in the file" "sha256 $hash -> $TMP/corpus.mpm"

mkdir -p "$TMP/l7" "$TMP/json"
cp "$D/mesh.yaml" "$D/acl-deny.yaml" "$D/service-defaults.yaml" "$D/intentions.yaml" "$TMP/l7/"
expect_rc "a consul-k8s cluster with ACLs on" 0 "$MESHPOL" compile "$TMP/l7"
expect_out "its counts" '^1 clusters, 0 jurisdictions, 2 namespaces, 15 services, 0 routes, 0 externals, 0 certificates, 15 workloads, 2 authorization policies, 0 import findings;'
expect_rc "config entries as consul config read prints them (named as files)" 0 "$MESHPOL" compile \
	"$D/mesh.yaml" "$D/acl-deny.yaml" "$D/equiv-entries.json" "$D/equiv-db.json"
expect_out "JSON entries: two intentions" '15 workloads, 2 authorization policies, 0 import findings'
expect_rc "the options" 0 "$MESHPOL" compile --trust-domain c0ffee00-0000-4000-8000-000000000001.consul \
	--consul-default-intention-policy allow --consul-namespaces mirror "$TMP/l7"
expect_rc "--consul-default-intention-policy wants allow or deny" 2 "$MESHPOL" compile \
	--consul-default-intention-policy maybe "$TMP/l7"
expect_out "... and says so" "takes allow or deny, not 'maybe'"

cat >"$TMP/bad.yaml" <<'EOF'
apiVersion: consul.hashicorp.com/v1alpha1
kind: ServiceIntentions
metadata: {name: api}
spec:
  destination: {name: api}
  sources:
    - name: web
      permissions:
        - action: allow
          http: {pathPrefx: /admin}
---
apiVersion: consul.hashicorp.com/v1alpha1
kind: ServiceSplitter
metadata: {name: web}
spec:
  splits: [{weight: 120}]
---
apiVersion: consul.hashicorp.com/v1alpha1
kind: SamenessGroup
metadata: {name: s}
EOF
printf '{"Kind": "service-intentions", "Name": "db", "Sources": [{"Name": "web", "Action": "alow"}]}\n' >"$TMP/bad.json"
expect_rc "malformed known kinds exit 2" 2 "$MESHPOL" compile "$TMP/bad.yaml" "$TMP/bad.json"
expect_out "an unknown field at file:line:col, with the nearest valid name" "bad.yaml:10:18: ServiceIntentions default/api: spec.sources\[0\].permissions\[0\].http: unknown field 'pathPrefx' \(did you mean 'pathPrefix'\?\)"
expect_out "a value Consul refuses" "bad.yaml:16:21: ServiceSplitter default/web: splits\[0\].weight is 120, outside 0..100"
expect_out "the config entry form too" "bad.json:1:84: ServiceIntentions default/db: sources\[0\].action must be allow or deny, not 'alow'"
expect_out "unknown kinds of the group are notes" "bad.yaml:19:7: note: skipped kind 'SamenessGroup'"
expect_out "error count" 'meshpol compile: 3 errors'

# --- decide: intentions alone ---
req() { # FROM TO METHOD PATH
	printf '{"source": {"service": "%s", "namespace": "default"}, "destination": {"service": "%s", "namespace": "default"}, "request": {"method": "%s", "path": "%s"}}\n' "$1" "$2" "$3" "$4"
}
req web api GET /health >"$TMP/r1.json"
expect_rc "an L7 permission allows (exit 0)" 0 "$MESHPOL" decide -m "$TMP/l7" "$TMP/r1.json"
expect_out "the entry cited" '"policy": "ServiceIntentions default/api"'
expect_out "the permission cited" '"rule": "sources\[0\].permissions\[1\]"'
expect_out "with its file:line" '"source": ".*l7/intentions.yaml:20"'
req web api GET /admin/users >"$TMP/r2.json"
expect_rc "the first permission that matches denies (exit 1)" 1 "$MESHPOL" decide -m "$TMP/l7" "$TMP/r2.json"
expect_out "forbidden" '"effect": "forbidden"'
req web catalog GET / >"$TMP/r3.json"
expect_rc "no intention: the ACL default denies" 1 "$MESHPOL" decide -m "$TMP/l7" "$TMP/r3.json"
expect_out "the default and where it is configured" '"policy": "ConfigMap consul/consul-server-config".*|"rule": "acl.default_policy:deny"'
expect_out "... at its line" '"source": ".*l7/acl-deny.yaml:39"'
expect_rc "--explain" 1 "$MESHPOL" decide --explain -m "$TMP/l7" "$TMP/r2.json"
expect_out "explain lists the intentions with their precedence" '"type": "consul.intention"'
printf '{"source": {"principal": "spiffe://c0ffee00-0000-4000-8000-000000000001.consul/ns/default/dc/dc7/svc/web"}, "destination": {"service": "api"}, "request": {"method": "GET", "path": "/health"}}\n' >"$TMP/r4.json"
expect_rc "a Consul principal: the datacenter is not checked" 0 "$MESHPOL" decide -m "$TMP/l7" "$TMP/r4.json"
printf '{"source": {"service": "web", "peer": "partner"}, "destination": {"service": "api"}, "request": {"method": "GET", "path": "/"}}\n' >"$TMP/r5.json"
expect_rc "source.peer: a caller from a peer" 1 "$MESHPOL" decide -m "$TMP/l7" "$TMP/r5.json"

# --- decide with a bundle: the routing scenario's residency bundle (default deny, no allows) ---
printf '{"source": {"service": "checkout"}, "destination": {"service": "payments", "cluster": "dc1"}, "request": {"method": "POST", "path": "/charge"}}\n' >"$TMP/r6.json"
expect_rc "bundle and intention: the intention allows in dc1" 0 "$MESHPOL" decide -m "$D/routing" -p "$D/bundle" "$TMP/r6.json"
expect_out "by payments' intention" '"policy": "ServiceIntentions default/payments"'
req checkout payments POST /charge >"$TMP/r6b.json"
expect_rc "... but the bundle's residency rule forbids any datacenter (payments runs in dc2 too)" 1 \
	"$MESHPOL" decide -m "$D/routing" -p "$D/bundle" "$TMP/r6b.json"
expect_out "the bundle's rule" '"rule": "pii-stays-in-eu"'
req payments refunds GET / >"$TMP/r7.json"
expect_rc "bundle and default deny: not permitted" 1 "$MESHPOL" decide -m "$D/routing" -p "$D/bundle" "$TMP/r7.json"
expect_out "by the datacenter's default" '"rule": "acl.default_policy:deny"'

# --- audit ---
expect_rc "audit the corpus without -p: the analyzers' findings (exit 1)" 1 "$MESHPOL" audit -m "$CORPUS"
expect_out "an unknown route target, hard" 'HIGH +meshpol.import/ConsulRouteUnknownTarget'
expect_out "an intention naming an unknown service" 'meshpol.import/ConsulIntentionUnknownService'
expect_rc "audit json" 1 "$MESHPOL" audit -m "$TMP/corpus.mpm" --format json
expect_out "31 findings" '"findings": 31,'
mkdir -p "$TMP/audit"
cp "$D/audit-mesh.yaml" "$D/acl-off.yaml" "$D/audit.yaml" "$TMP/audit/"
expect_rc "audit the analyzers' scenario" 1 "$MESHPOL" audit -m "$TMP/audit"
for code in ConsulIntentionUnknownService ConsulL7PermissionsOnTCP ConsulShadowedIntention \
	ConsulRouteUnknownTarget ConsulSplitWeights ConsulDefaultAllow; do
	expect_out "finding $code" "meshpol.import/$code"
done
expect_out "Consul's own words" 'the sum of all split weights must be 100, not 95.000000'
expect_rc "residency sees a failover to another datacenter" 1 "$MESHPOL" audit -m "$D/routing" -p "$D/bundle"
expect_out "through payments' failover to dc2" 'pii data can leave EU: it reaches default/payments@dc2, outside the jurisdiction through route default/payments:default<-default/checkout@dc1 \(failover\)'

# --- repl ---
run_cmd sh -c "printf ':decide web -> api GET /health\n:why\n' | \"$MESHPOL\" repl -m $TMP/l7"
[ "$RC" -eq 0 ] && ok "repl: decided" || not_ok "repl: decided" "exit $RC" "$OUT" "$ERR"
expect_out "repl: allowed by the permission" "allow ServiceIntentions default/api  rule 'sources\[0\].permissions\[1\]'"
expect_out "repl: :why lists the intentions" "MATCH consul.intention ServiceIntentions default/api  'sources\[0\]'"
expect_out "repl: :why says why the wildcard did not decide" 'why not: a higher intention for a source inside this one decides'
expect_out "repl: the outcome names the mesh" 'outcome: allowed: the mesh.s own policy \(consul\) decided'

# --- serve ---
start_server consul -m "$D/routing" -p "$D/bundle" --decision-log "$TMP/decisions.jsonl" ||
	{ not_ok "server starts on Consul input"; e2e_done; }
ok "server starts on Consul input"
check "/v1/decide: checkout -> payments is 200" 200 -X POST --data-binary @"$TMP/r6.json" "$BASE/v1/decide"
jq_ok "/v1/decide: allowed by payments' intention" '.allow == true and .reasons[0].policy == "ServiceIntentions default/payments" and .reasons[0].rule == "sources[0]"'
ID='spiffe://c0ffee00-0000-4000-8000-000000000001.consul'
check "/v1/check: checkout's Consul identity to refunds is 200" 200 -X POST "$BASE/v1/check/refunds/9" \
	-H 'Host: refunds' -H "x-forwarded-client-cert: By=$ID/ns/default/dc/dc1/svc/refunds;URI=$ID/ns/default/dc/dc1/svc/checkout"
check "/v1/check: payments' identity to refunds is 403" 403 -X POST "$BASE/v1/check/refunds/9" \
	-H 'Host: refunds' -H "x-forwarded-client-cert: By=$ID/ns/default/dc/dc1/svc/refunds;URI=$ID/ns/default/dc/dc1/svc/payments"
logged "the decision log names the default" "$(printf '%s' "$BODY" | jq -r .decision_id)" \
	'.decision.reasons[0].rule == "acl.default_policy:deny"'
expect_stop consul

e2e_done
