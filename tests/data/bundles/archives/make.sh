#!/usr/bin/env bash
# tests/data/bundles/archives/make.sh: remakes the bundle archives docs/bundles.md and
# tests/e2e/bundle.sh use, from the repository root: the unit bundle signed with the throwaway
# key here, one with a file changed after it was built, and one with a path that leaves the
# bundle. Run it (bin/meshpol built) after changing tests/data/bundles/unit, then update the
# hashes docs/bundles.md shows. signing.pem is a test key: never sign anything real with it.
set -eu
D=tests/data/bundles/archives
M=${MESHPOL:-bin/meshpol}
export MESHPOL_STDLIB=$PWD/stdlib
"$M" bundle build -p tests/data/bundles/unit -m tests/data/bundles/unit/mesh.yaml \
	--sign-key "$D/signing.pem" -o "$D/unit.tar.gz" >/dev/null
python3 - "$D" <<'PY'
import gzip, io, sys, tarfile
d = sys.argv[1]
def write(name, members):
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as t:
        for path, data in members:
            info = tarfile.TarInfo(path)
            info.size, info.mtime, info.mode = len(data), 0, 0o644
            t.addfile(info, io.BytesIO(data))
    with open("%s/%s" % (d, name), "wb") as f:
        with gzip.GzipFile(fileobj=f, mode="wb", mtime=0, filename="") as g:
            g.write(raw.getvalue())
with tarfile.open("%s/unit.tar.gz" % d) as t:
    members = [(m.name, t.extractfile(m).read()) for m in t.getmembers()]
# a rule edited after the build: the manifest and its signature no longer match
write("tampered.tar.gz", [(p, data.replace(b'"GET"', b'"DELETE"') if p == "rbac.lua" else data)
                          for p, data in members])
# a path that would land outside the bundle if the archive were extracted
write("traversal.tar.gz", members + [("../outside.lua", b"-- written outside the bundle\n")])
PY
