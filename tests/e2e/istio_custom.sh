#!/usr/bin/env bash
# tests/e2e/istio_custom.sh: Istio's CUSTOM action with meshpol as the extension provider, as a
# user runs it: `meshpol compile` reads the mesh config (ConfigMap istio, key mesh), `decide`
# asks the bundle where Istio's order puts CUSTOM, `audit` reports only other providers; the
# mesh config's errors. Semantics: docs/import.md ("AuthorizationPolicy"); the cases with their
# sources: tests/data/import/authz/cases.json (scenarios meshpol, nomesh).
. "$(dirname "$0")/lib.sh"
D=tests/data/import/authz
SLEEP=spiffe://cluster.local/ns/foo/sa/sleep
req() { # METHOD PATH [SERVICE]
	printf '{"destination": {"service": "%s"}, "source": {"principal": "%s"}, "request": {"method": "%s", "path": "%s"}}' \
		"${3:-httpbin}" "$SLEEP" "$1" "$2" >"$TMP/in.json"
}

expect_rc "compile with the mesh config" 0 "$MESHPOL" compile -o "$TMP/m.mpm" $D/base.yaml $D/mesh.yaml $D/meshpol.yaml
expect_out "seven authorization policies" ' 7 authorization policies, '
# CustomActionNotSupported findings of a model, one line per policy (the analyzers report others)
custom_findings() { "$MESHPOL" audit -m "$1" --format json 2>/dev/null | jq -r '[.findings[] | select(.rule == "CustomActionNotSupported") | .subject] | join(",")'; }
OUT=$(custom_findings "$TMP/m.mpm")
[ "$OUT" = "AuthorizationPolicy foo/custom-other" ] && ok "one CUSTOM finding (the other provider)" || not_ok "one CUSTOM finding (the other provider)" "$OUT"

req GET /bundle-open
expect_rc "bundle allows: on to ALLOW, allowed" 0 "$MESHPOL" decide -m "$TMP/m.mpm" -p $D/bundle "$TMP/in.json"
expect_out "allowed" '"effect": "allowed"'
req GET /secrets
expect_rc "bundle denies: denied" 1 "$MESHPOL" decide -m "$TMP/m.mpm" -p $D/bundle "$TMP/in.json"
expect_out "CUSTOM names meshpol" "CUSTOM AuthorizationPolicy foo/custom-meshpol matched: its extension provider 'meshpol' is meshpol"
req DELETE /bundle-open
expect_rc "bundle allows, DENY after CUSTOM denies" 1 "$MESHPOL" decide -m "$TMP/m.mpm" -p $D/bundle "$TMP/in.json"
expect_out "deny-delete denies" '"policy": "AuthorizationPolicy foo/deny-delete"'
req GET / other
expect_rc "the bundle's default deny answers CUSTOM" 1 "$MESHPOL" decide -m "$TMP/m.mpm" -p $D/bundle "$TMP/in.json"
expect_out "custom-all denies" '"policy": "AuthorizationPolicy bar/custom-all"'
req GET /admin/x
expect_rc "no bundle: denied" 1 "$MESHPOL" decide -m "$TMP/m.mpm" "$TMP/in.json"
expect_out "says no bundle was given" "which decides with a bundle, and none was given"
req GET /other/x
expect_rc "another provider: denied" 1 "$MESHPOL" decide -m "$TMP/m.mpm" -p $D/bundle "$TMP/in.json"
expect_out "another provider: unsupported" "provider 'ext-authz', which meshpol cannot consult"
req GET /hello
expect_rc "CUSTOM not matching: not consulted" 0 "$MESHPOL" decide -m "$TMP/m.mpm" "$TMP/in.json"

expect_rc "audit" 0 "$MESHPOL" audit -m "$TMP/m.mpm" -p $D/bundle
expect_out "audit reports the other provider" 'CustomActionNotSupported +AuthorizationPolicy foo/custom-other'
if printf '%s\n' "$OUT" | grep -q 'CustomActionNotSupported.*custom-meshpol\|CustomActionNotSupported.*custom-all'; then
	not_ok "audit leaves meshpol's CUSTOM alone" "$OUT"
else ok "audit leaves meshpol's CUSTOM alone"; fi

# another name for meshpol's entry: then meshpol is ext-authz, and "meshpol" is not
expect_rc "--istio-meshpol-provider" 0 "$MESHPOL" compile --istio-meshpol-provider ext-authz -o "$TMP/n.mpm" $D/base.yaml $D/mesh.yaml $D/meshpol.yaml
req GET /other/x
expect_rc "ext-authz is meshpol: the bundle's default denies" 1 "$MESHPOL" decide -m "$TMP/n.mpm" -p $D/bundle "$TMP/in.json"
expect_out "named as meshpol" "its extension provider 'ext-authz' is meshpol"
req GET /bundle-open
expect_rc "meshpol is now another provider" 1 "$MESHPOL" decide -m "$TMP/n.mpm" -p $D/bundle "$TMP/in.json"
expect_out "unsupported" "provider 'meshpol', which meshpol cannot consult"

# without the mesh config: every CUSTOM is another provider's
expect_rc "no mesh config" 0 "$MESHPOL" compile -o "$TMP/x.mpm" $D/base.yaml $D/meshpol.yaml
OUT=$(custom_findings "$TMP/x.mpm")
[ "$(printf '%s' "$OUT" | tr ',' '\n' | grep -c .)" = 4 ] && ok "a finding for each of the four CUSTOM policies" || not_ok "a finding for each of the four CUSTOM policies" "$OUT"

# the same MeshConfig as a file (--istio-mesh-config): meshpol's entry read from it, its errors at the file's line
printf 'rootNamespace: istio-system\nextensionProviders:\n- name: meshpol\n  envoyExtAuthzHttp: {service: m, port: 80}\n' >"$TMP/meshcfg.yaml"
expect_rc "mesh config file" 0 "$MESHPOL" compile --istio-mesh-config "$TMP/meshcfg.yaml" -o "$TMP/f.mpm" $D/base.yaml $D/meshpol.yaml
OUT=$(custom_findings "$TMP/f.mpm")
[ "$OUT" = "AuthorizationPolicy foo/custom-other" ] && ok "mesh config file: meshpol's CUSTOM decided" || not_ok "mesh config file: meshpol's CUSTOM decided" "$OUT"
printf 'extensionProviders:\n- name: meshpol\n  zipkin: {service: x, port: 9}\n' >"$TMP/meshcfg.yaml"
expect_rc "mesh config file, meshpol of another kind: refused" 2 "$MESHPOL" compile --istio-mesh-config "$TMP/meshcfg.yaml" $D/base.yaml
expect_out "mesh config file: file:line" "meshcfg.yaml:2: the MeshConfig file: extension provider 'meshpol' is meshpol's name"

# hostile mesh configs: each a compile error at the ConfigMap, naming the line inside mesh
cm() { printf 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: istio, namespace: istio-system}\ndata:\n  mesh: %s\n' "$1" >"$TMP/cm.yaml"; }
cm '|-
    extensionProviders:
    - name: meshpol
      envoyExtAuthzGrpc: {service: x, port: ['
expect_rc "malformed mesh: refused" 2 "$MESHPOL" compile $D/base.yaml "$TMP/cm.yaml" $D/meshpol.yaml
expect_out "malformed mesh: file:line" 'cm.yaml:5:9: ConfigMap istio-system/istio: data.mesh is not valid YAML: .* \(its line 4, line 9 of the file\)'
cm '|-
    extensionProviders:
    - name: meshpol
      zipkin: {service: x, port: 9}'
expect_rc "meshpol's entry of another kind: refused" 2 "$MESHPOL" compile $D/base.yaml "$TMP/cm.yaml" $D/meshpol.yaml
expect_out "names the kinds" "extension provider 'meshpol' is meshpol's name .* not an envoyExtAuthzGrpc or envoyExtAuthzHttp provider \(its line 2, line 7 of the file\)"
cm '|-
    extensionProviders: {name: meshpol}'
expect_rc "extensionProviders not a list: refused" 2 "$MESHPOL" compile $D/base.yaml "$TMP/cm.yaml"
expect_out "must be a list" 'extensionProviders must be a list \(its line 1, line 6 of the file\)'
cm '[1, 2]'
expect_rc "mesh not a string: refused" 2 "$MESHPOL" compile $D/base.yaml "$TMP/cm.yaml"
expect_out "must be a string" 'data.mesh must be a string'
cm '"- a"'
expect_rc "mesh not a mapping: refused" 2 "$MESHPOL" compile $D/base.yaml "$TMP/cm.yaml"
expect_out "must be a mapping" 'data.mesh must be a mapping'
# deeply nested mesh config: the YAML loader's limits hold
cm "\"$(printf '[%.0s' $(seq 1 5000))\""
expect_rc "deeply nested mesh: refused" 2 "$MESHPOL" compile $D/base.yaml "$TMP/cm.yaml"
e2e_done
