#!/usr/bin/env bash
# tests/fuzz/make-seeds.sh: (re)writes the seed inputs of tests/fuzz/corpus/<harness>/ from the
# repository's own files (examples/, tests/data/, policies/). Seeds are named seed-*; files named
# repro-* are reproducers of bugs found by fuzzing, kept by hand and never touched here, except
# the .mpm ones, which depend on the model format and are remade here (mpm_repros below).
#   tests/fuzz/make-seeds.sh            all corpora (needs $BIN/meshpol for the .mpm seeds)
#   tests/fuzz/make-seeds.sh --mpm DIR  only the .mpm seeds, into DIR (`make fuzz` does this, so
#                                       the fuzzer starts from models in the current format)
# Run from the repository root. The .mpm seeds change whenever the model format does: run this
# again after a change to engine/include/model.h or engine/mpm.c and commit the result.
set -eu
BIN=${BIN:-bin}
C=tests/fuzz/corpus

mpm_seeds() { # DIR
	local out=$1 tmp
	tmp=$(mktemp -d)
	mkdir -p "$out"
	rm -f "$out"/seed-*
	"$BIN/meshpol" compile -o "$tmp/acme.mpm" examples/acme >/dev/null
	"$BIN/meshpol" compile -o "$tmp/unit.mpm" tests/data/bundles/unit/mesh.yaml >/dev/null
	"$BIN/meshpol" compile -o "$tmp/small.mpm" tests/data/good/small.yaml >/dev/null
	"$BIN/meshpol" compile -o "$tmp/loop.mpm" tests/data/audit/loop >/dev/null
	"$BIN/meshpol" compile -o "$tmp/residency.mpm" tests/data/audit/residency >/dev/null
	"$BIN/meshpol" compile -o "$tmp/import.mpm" tests/data/import/mesh >/dev/null 2>&1
	"$BIN/meshpol" compile -o "$tmp/authz.mpm" tests/data/import/authz/{base,order,dryrun,root}.yaml >/dev/null 2>&1
	"$BIN/meshpol" compile -o "$tmp/findings.mpm" tests/data/import/findings >/dev/null 2>&1
	# Named without .mpm: the repository ignores *.mpm.
	cp "$tmp/acme.mpm" "$out/seed-acme"
	cp "$tmp/unit.mpm" "$out/seed-unit"
	cp "$tmp/small.mpm" "$out/seed-small"
	cp "$tmp/loop.mpm" "$out/seed-audit-loop"
	cp "$tmp/residency.mpm" "$out/seed-audit-residency"
	cp "$tmp/import.mpm" "$out/seed-import-mesh"
	cp "$tmp/authz.mpm" "$out/seed-import-authz"
	cp "$tmp/findings.mpm" "$out/seed-import-findings"
	# Variants: each is refused at a different step of docs/mpm-format.md's list.
	head -c 40 "$tmp/unit.mpm" >"$out/seed-variant-truncated-header"
	head -c 1000 "$tmp/acme.mpm" >"$out/seed-variant-truncated-content"
	{ cat "$tmp/unit.mpm"; printf 'pad'; } >"$out/seed-variant-padded"
	python3 - "$tmp/unit.mpm" "$out" <<-'EOF'
		import sys
		src, out = sys.argv[1], sys.argv[2]
		b = bytearray(open(src, "rb").read())
		def put(name, data):
		    open(out + "/seed-variant-" + name, "wb").write(bytes(data))
		v = bytearray(b); v[8] = 99; put("version", v)              # unsupported version
		v = bytearray(b); v[12:16] = b[12:16][::-1]; put("byte-order", v)
		v = bytearray(b); v[24] ^= 0xFF; put("hash", v)              # SHA-256 mismatch
		v = bytearray(b); v[56] = 7; put("section-tag", v)           # bad section header
		v = bytearray(b); v[-5] ^= 0x01; put("content-bit", v)       # content changed
	EOF
	rm -rf "$tmp"
}

# Reproducers of .mpm bugs: a minimal model with one field set to what no compiler writes, behind
# a correct header, so that loading accepts it (docs/testing.md, "Findings").
mpm_repros() { # DIR
	local out=$1 tmp
	tmp=$(mktemp -d)
	printf '%s\n' 'kind: Cluster' 'name: c' 'provider: p' 'region: r' '---' 'kind: Service' \
		'name: s' 'namespace: n' 'cluster: c' '---' 'kind: External' 'name: x' \
		'host: x.example' '---' 'kind: Route' 'name: r' 'source: s' 'destination: x' \
		>"$tmp/min.yaml"
	"$BIN/meshpol" compile -o "$tmp/min.mpm" "$tmp/min.yaml" >/dev/null
	python3 - "$tmp/min.mpm" "$out" <<-'EOF'
		import hashlib, struct, sys
		src, out = sys.argv[1], sys.argv[2]
		b = bytearray(open(src, "rb").read())
		def section(tag):  # offset of the first element of section tag (engine/mpm.c)
		    pos = 56
		    while pos < len(b):
		        t, size, n, _ = struct.unpack_from("<4I", b, pos)
		        if t == tag:
		            return pos + 16
		        pos += 16 + size * n
		    sys.exit("no section %d" % tag)
		def put(name, data):
		    data[24:56] = hashlib.sha256(bytes(data[56:])).digest()
		    open(out + "/repro-" + name, "wb").write(bytes(data))
		# mp_service.mtls (the fifth field) of service 0: mtls_names[] in engine/luamodel.c
		v = bytearray(b); struct.pack_into("<I", v, section(6) + 16, 0x40000000)
		put("mpm-service-mtls-out-of-range", v)
		# mp_target.cluster (the third field) of target 0, a route to an external: never
		# validated for external targets, read by push_targets in engine/luamodel.c
		v = bytearray(b); struct.pack_into("<I", v, section(13) + 8, 0x40000000)
		put("mpm-external-target-cluster-out-of-range", v)
	EOF
	rm -rf "$tmp"
}

if [ "${1:-}" = "--mpm" ]; then
	mpm_seeds "$2"
	exit 0
fi

copy() { # HARNESS SEED-NAME SOURCE
	mkdir -p "$C/$1"
	cp "$3" "$C/$1/seed-$2"
}

# fuzz_compile: single files, the whole Acme mesh as one stream, and the bad inputs' variety.
rm -f "$C"/fuzz_compile/seed-*
for f in clusters externals certificates routes; do
	copy fuzz_compile "acme-$f.yaml" "examples/acme/$f.yaml"
done
copy fuzz_compile acme-shop.yaml examples/acme/services/shop.yaml
copy fuzz_compile unit-mesh.yaml tests/data/bundles/unit/mesh.yaml
copy fuzz_compile small.yaml tests/data/good/small.yaml
copy fuzz_compile bad-multiple-errors.yaml tests/data/bad/multiple-errors.yaml
copy fuzz_compile bad-syntax-indent.yaml tests/data/bad/syntax-indent.yaml
# imported Kubernetes and Istio documents go through the same compiler (docs/import.md)
cat tests/data/import/mesh/*.yaml >"$C/fuzz_compile/seed-import-mesh.yaml"
cat tests/data/import/authz/{base,order,dryrun,root}.yaml >"$C/fuzz_compile/seed-import-authz.yaml"
copy fuzz_compile import-findings.yaml tests/data/import/findings/all.yaml
# Consul's CRDs and server ConfigMaps, and its config entries in JSON (docs/import.md, "Consul")
for f in mesh acl-deny service-defaults intentions gateways; do
	printf -- '---\n'
	cat "tests/data/import/consul/$f.yaml"
done >"$C/fuzz_compile/seed-import-consul.yaml"
copy fuzz_compile import-consul-entries.json tests/data/import/consul/equiv-entries.json
# the other documents without apiVersion (docs/import.md, "Which documents are imported"): Kuma's
# Universal resources beside its CRDs, and App Mesh's resources in `terraform show -json`
for f in k8s-apps mesh-mtls rules-k8s uni-mesh uni-dataplanes uni-legacy uni-from; do
	printf -- '---\n'
	cat "tests/data/import/kuma/$f.yaml"
done >"$C/fuzz_compile/seed-import-kuma.yaml"
copy fuzz_compile import-appmesh-tfplan.json tests/data/import/appmesh/equiv-tfplan.json
# the Gateway API (docs/import.md, "Kubernetes Gateway API"): the table's fixture and the cases
# that exercise listeners, grants, precedence and Service parents
for f in fixture cases/c9 cases/c8h cases/d4 cases/f1 cases/g1 cases/h3 cases/i3 cases/k2; do
	printf -- '---\n'
	cat "tests/data/import/gatewayapi/$f.yaml"
done >"$C/fuzz_compile/seed-import-gatewayapi.yaml"
for d in loop residency; do
	for f in "tests/data/audit/$d"/*.yaml; do
		printf -- '---\n'
		cat "$f"
	done >"$C/fuzz_compile/seed-audit-$d.yaml"
done
for f in examples/acme/*.yaml examples/acme/services/*.yaml; do
	printf -- '---\n'
	cat "$f"
done >"$C/fuzz_compile/seed-acme-all.yaml"

# fuzz_decide: the example requests (decided against the unit bundle) and requests that reach
# the unit bundle's rules (tests/unit/test_decide.c).
rm -f "$C"/fuzz_decide/seed-*
for f in allow-checkout-charge allow-gateway-catalog deny-auth-accounts-residency \
	deny-plaintext-catalog deny-sandbox-payments; do
	copy fuzz_decide "$f.json" "examples/requests/$f.json"
done
w() { printf '%s\n' "$2" >"$C/fuzz_decide/seed-$1.json"; }
w unit-web-charge '{"source": {"principal": "spiffe://t/ns/shop/sa/web"}, "destination": {"service": "billing/pay", "port": 8080}, "request": {"method": "POST", "path": "/v1/charge", "headers": {"x-tenant": "eu-1"}}, "context": {}}'
w unit-sandbox '{"source": {"service": "echo", "namespace": "sandbox"}, "destination": {"service": "pay", "namespace": "billing"}, "request": {"method": "GET", "path": "/files/a/b.json"}}'
w unit-when '{"source": {"principal": "spiffe://t/ns/shop/sa/web"}, "destination": {"service": "shop/web"}, "request": {"method": "DELETE", "path": "/x", "headers": {"x-ok": "yes"}}, "context": {"tenant": {"tier": [1, 2.5, null, true]}}}'
w unit-when-loop '{"destination": {"service": "shop/web"}, "request": {"method": "TRACE", "path": "/"}}'
w unit-external '{"source": {"service": "pay", "namespace": "billing", "ip": "10.0.0.1", "cluster": "eu1"}, "destination": {"service": "api.stripe.com", "port": 443, "cluster": "us1"}, "request": {"method": "GET", "path": "/v1/../admin/%2e%2e/"}}'
w unit-template '{"source": {"namespace": "shop"}, "destination": {"service": "billing/pay"}, "request": {"method": "GET", "path": "/v1/charges/42/items"}}'
w bad-header '{"destination": {"service": "a"}, "request": {"headers": {"x": 1}}}'

# fuzz_trail: every fixture trail (intact, each tampering, unsigned).
rm -f "$C"/fuzz_trail/seed-*
for f in tests/data/trail/*.jsonl; do
	copy fuzz_trail "$(basename "$f")" "$f"
done

# fuzz_policy: the unit bundle's files, the reference bundle's, the audit fixtures'.
rm -f "$C"/fuzz_policy/seed-*
for f in advisory rbac residency traffic; do
	copy fuzz_policy "unit-$f.lua" "tests/data/bundles/unit/$f.lua"
done
copy fuzz_policy acme-rbac-billing.lua policies/rbac/billing.lua
copy fuzz_policy acme-rbac-identity.lua policies/rbac/identity.lua
copy fuzz_policy acme-pci-cardholder.lua policies/pci/cardholder.lua
copy fuzz_policy acme-residency-gdpr.lua policies/residency/gdpr.lua
copy fuzz_policy acme-traffic-declared.lua policies/traffic/declared.lua
copy fuzz_policy audit-rbac.lua tests/data/audit/rbac-bundle/rbac.lua
copy fuzz_policy audit-broken-check.lua tests/data/audit/broken-bundle/broken_check.lua
copy fuzz_policy unit-test.lua tests/data/bundles/unit/unit_test.lua

# fuzz_barchive: the archive fixtures (a signed one, one tampered after signing, one with a
# path leaving the bundle) and archives with each kind of entry a bundle archive may not hold.
rm -f "$C"/fuzz_barchive/seed-*
for f in unit tampered traversal; do
	copy fuzz_barchive "$f.tar.gz" "tests/data/bundles/archives/$f.tar.gz"
done
python3 - "$C/fuzz_barchive" <<'EOF'
import gzip, io, sys, tarfile
out = sys.argv[1]
def w(name, members, gz=True):
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as t:
        for m, data in members:
            m.mtime = 0
            if data is not None:
                m.size = len(data)
            t.addfile(m, io.BytesIO(data) if data is not None else None)
    data = raw.getvalue()
    if gz:
        buf = io.BytesIO()
        with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0, filename="") as g:
            g.write(data)
        data = buf.getvalue()
    open("%s/seed-%s" % (out, name), "wb").write(data)
def reg(p): return tarfile.TarInfo(p)
def link(p, kind, to):
    i = tarfile.TarInfo(p); i.type = kind; i.linkname = to; return i
base = [(reg("bundle.yaml"), b"name: t\nrevision: r1\n"),
        (reg("p.lua"), b'policy "p" { version = "1.0.0", kind = "rbac" }\n')]
w("plain.tar", base, gz=False)
w("symlink.tar.gz", base + [(link("l.lua", tarfile.SYMTYPE, "/etc/passwd"), None)])
w("hardlink.tar.gz", base + [(link("h.lua", tarfile.LNKTYPE, "p.lua"), None)])
w("dotslash.tar.gz", [(reg("./" + m.name), d) for m, d in base] + [(reg("./.git/x"), b"x")])
w("manifest-bad.tar.gz", base + [(reg(".meshpol/manifest.json"),
                                  b'{"format": "meshpol-bundle/1", "name": "t"}')])
EOF

# fuzz_mpm: compiled models and their variants, and the reproducers that depend on the format.
mpm_seeds "$C/fuzz_mpm"
rm -f "$C"/fuzz_mpm/repro-mpm-*
mpm_repros "$C/fuzz_mpm"
