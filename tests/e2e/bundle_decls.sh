#!/usr/bin/env bash
# tests/e2e/bundle_decls.sh: the compiled declarations of a bundle archive (docs/bundles.md,
# "Compiled declarations"). The same bundles loaded from an archive with them and from one
# without (every file run from source) give byte-identical decisions with --explain (every
# example request; rule file:line, policy versions, bundle revision and sha256), audits (json
# and text) and `meshpol diff` finds no changed decision; for the reference policies/, the unit
# bundle and a generated bundle of some 650 rules. Hostile declarations: a changed byte with the
# manifest left alone is refused as tampering; one that the manifest was made to match is
# refused as corrupt; truncated too; another format version, another DSL or a key of no file
# fall back to the source, with the same results.
. "$(dirname "$0")/lib.sh"
export MESHPOL_STDLIB="$PWD/stdlib"
ROOT=$PWD

# build DIR MODEL NAME: DIR as $TMP/with/NAME.tar.gz (declarations) and $TMP/without/NAME.tar.gz
build() {
	mkdir -p "$TMP/with" "$TMP/without"
	"$MESHPOL" bundle build -p "$1" -m "$2" -o "$TMP/with/$3.tar.gz" >/dev/null &&
		"$MESHPOL" bundle build -p "$1" -m "$2" -o "$TMP/without/$3.tar.gz" --no-declarations \
			>/dev/null
}

# same NAME WHAT CMD...: CMD run in $TMP/with and in $TMP/without (its arguments name the
# archives by their file names, so locations read the same) prints the same bytes, times,
# decision ids, the working directory and check's load figure aside (a stored file's is the
# one measured when the archive was built, from the path it was built from).
same() {
	local name=$1 what=$2
	shift 2
	local drop='"time":\|"decision_id":\|^time:\|"base":\|: load: .* instructions'
	local stamp='s/[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z/TIME/g'
	(cd "$TMP/with" && "$@" 2>&1 | grep -v "$drop" | sed -E "$stamp") >"$TMP/w.out"
	(cd "$TMP/without" && "$@" 2>&1 | grep -v "$drop" | sed -E "$stamp") >"$TMP/wo.out"
	if [ -s "$TMP/w.out" ] && cmp -s "$TMP/w.out" "$TMP/wo.out"; then
		ok "$name: $what the same from the declarations as from the source"
	else
		not_ok "$name: $what the same from the declarations as from the source" \
			"$(diff "$TMP/w.out" "$TMP/wo.out" | head -10)" "$(head -c 300 "$TMP/w.out")"
	fi
}

# --- the reference policies over the Acme mesh ---
build policies examples/acme ref || not_ok "build the reference archives"
n=$("$MESHPOL" bundle inspect "$TMP/with/ref.tar.gz" | grep -c 'declarations:  .meshpol/declarations.bin, [0-9]* bytes, of [1-9]')
[ "$n" = 1 ] && ok "ref: inspect shows the declarations" || not_ok "ref: inspect shows the declarations" "$("$MESHPOL" bundle inspect "$TMP/with/ref.tar.gz" | head -8)"
if tar tzf "$TMP/without/ref.tar.gz" | grep -q declarations; then not_ok "--no-declarations leaves them out"; else ok "--no-declarations leaves them out"; fi
same ref "check" "$MESHPOL" check ref.tar.gz
for req in "$ROOT"/examples/requests/*.json; do
	same ref "decide --explain $(basename "$req")" "$MESHPOL" decide -m ref.tar.gz -p ref.tar.gz --explain "$req"
done
same ref "audit (json)" "$MESHPOL" audit -m ref.tar.gz -p ref.tar.gz --format json
same ref "audit (text)" "$MESHPOL" audit -m ref.tar.gz -p ref.tar.gz
same ref "test" "$MESHPOL" test ref.tar.gz
expect_rc "ref: diff of the two archives runs" 0 "$MESHPOL" diff -m examples/acme \
	--base "$TMP/with/ref.tar.gz" --head "$TMP/without/ref.tar.gz"
expect_out "ref: no decision changes" ' 0 changed'

# --- the unit bundle (roles, a residency rule, require_mtls) ---
build tests/data/bundles/unit tests/data/bundles/unit/mesh.yaml unit || not_ok "build the unit archives"
same unit "audit (json)" "$MESHPOL" audit -m unit.tar.gz -p unit.tar.gz --format json
same unit "decide --explain" "$MESHPOL" decide -m unit.tar.gz -p unit.tar.gz --explain \
	"$ROOT/examples/requests/allow-checkout-charge.json"

# --- a generated bundle: some 650 grants in a few files ---
python3 bench/gen_mesh.py --services 100 --routes-per-service 8 --seed 7 "$TMP/mesh" >/dev/null 2>&1 &&
	"$MESHPOL" compile -o "$TMP/mesh.mpm" "$TMP/mesh" >/dev/null &&
	python3 bench/gen_audit_bundle.py --mesh "$TMP/mesh" "$TMP/gen" >/dev/null 2>&1 ||
	not_ok "generate the mesh and bundle"
build "$TMP/gen" "$TMP/mesh.mpm" gen || not_ok "build the generated archives"
same gen "check" "$MESHPOL" check gen.tar.gz
same gen "audit (json)" "$MESHPOL" audit -m gen.tar.gz -p gen.tar.gz --format json
# inputs from the grants: each granted caller to its service (allowed), and to another (denied)
python3 - "$TMP/gen/rbac" >"$TMP/inputs" <<'PY'
import glob, re, sys
pairs = []
for f in sorted(glob.glob(sys.argv[1] + "/*.lua")):
    text = open(f).read()
    for svc, p in re.findall(r'service = "([^"]+)",\s*from = \{ principals = \{ "([^"]+)"', text):
        pairs.append((svc, p))
pairs = pairs[::max(1, len(pairs) // 25)][:25]
for i, (svc, p) in enumerate(pairs):
    for dst in (svc, pairs[(i + 1) % len(pairs)][0]):
        print('{"source": {"principal": "%s"}, "destination": {"service": "%s"}, '
              '"request": {"method": "GET", "path": "/x"}}' % (p, dst))
PY
if [ "$(wc -l <"$TMP/inputs")" -ge 20 ]; then
	same gen "decisions --explain of $(wc -l <"$TMP/inputs") inputs" sh -c \
		"while read -r l; do printf '%s' \"\$l\" | \"$MESHPOL\" decide -m gen.tar.gz -p gen.tar.gz --explain -; done <\"$TMP/inputs\""
else
	not_ok "gen: inputs from the grants" "$(head -3 "$TMP/inputs")"
fi

# --- hostile declarations, rewritten with Python's tarfile ---
# edit IN OUT HOW [MANIFEST]: OUT is IN with its declarations changed by HOW (flip: one byte in
# the middle; version: the format's version byte; dsl: the DSL's hash; key: the first file's key;
# cut: the last 100 bytes dropped); with MANIFEST=fix the manifest is made to match (the
# archive is then unsigned, as anyone could make it).
edit() {
	python3 - "$@" <<'PY'
import gzip, hashlib, io, json, sys, tarfile
src, dst, how = sys.argv[1:4]
fix = len(sys.argv) > 4 and sys.argv[4] == "fix"
with tarfile.open(src) as t:
    members = [(m.name, t.extractfile(m).read()) for m in t.getmembers()]
out = []
decls = None
for name, data in members:
    if name == ".meshpol/declarations.bin":
        b = bytearray(data)
        if how == "flip":
            b[len(b) // 2] ^= 0x5A
        elif how == "version":
            b[7] = ord("9")
        elif how == "dsl":
            b[8] ^= 0xFF
        elif how == "key":  # the first file's, after the strings
            b[52 + int.from_bytes(b[48:52], "little")] ^= 0xFF
        elif how == "cut":
            b = b[:-100]
        data = decls = bytes(b)
    out.append((name, data))
if fix:
    fixed = []
    for name, data in out:
        if name == ".meshpol/manifest.json":
            m = json.loads(data)
            m["declarations"]["size"] = len(decls)
            m["declarations"]["sha256"] = hashlib.sha256(decls).hexdigest()
            data = (json.dumps(m, indent=2) + "\n").encode()
        if name != ".meshpol/signature.json":
            fixed.append((name, data))
    out = fixed
raw = io.BytesIO()
with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as t:
    for name, data in out:
        info = tarfile.TarInfo(name)
        info.size, info.mtime, info.mode = len(data), 0, 0o644
        t.addfile(info, io.BytesIO(data))
with gzip.GzipFile(dst, mode="wb", mtime=0) as g:
    g.write(raw.getvalue())
PY
}
mkdir -p "$TMP/h"
edit "$TMP/with/gen.tar.gz" "$TMP/h/flip.tar.gz" flip
expect_rc "a changed byte, the manifest left alone: refused" 2 "$MESHPOL" check -m "$TMP/mesh.mpm" "$TMP/h/flip.tar.gz"
expect_out "names the declarations as changed after the build" 'declarations.bin: [0-9]+ bytes with SHA-256 .*changed after the bundle was built'
expect_rc "verify says so too" 1 "$MESHPOL" bundle verify "$TMP/h/flip.tar.gz"
expect_out "verify: TAMPERED" 'TAMPERED: .meshpol/declarations.bin'
edit "$TMP/with/gen.tar.gz" "$TMP/h/cut.tar.gz" cut fix
expect_rc "truncated, the manifest made to match: refused" 2 "$MESHPOL" check -m "$TMP/mesh.mpm" "$TMP/h/cut.tar.gz"
expect_out "names the declarations as corrupt" 'declarations.bin: (corrupt|the declarations stored for .*corrupt)'
for how in version dsl key; do
	edit "$TMP/with/gen.tar.gz" "$TMP/h/$how.tar.gz" $how fix
	# both archives named gen.tar.gz from the directory the audit runs in: locations are
	# relative to it (and, from a Git checkout, an absolute $TMP would not be what is printed)
	mkdir -p "$TMP/fb" && cp "$TMP/h/$how.tar.gz" "$TMP/fb/gen.tar.gz"
	a=$(cd "$TMP/fb" && "$MESHPOL" audit -m "$TMP/mesh.mpm" -p gen.tar.gz --format json | grep -v '"time":\|"base":')
	b=$(cd "$TMP/without" && "$MESHPOL" audit -m "$TMP/mesh.mpm" -p gen.tar.gz --format json | grep -v '"time":\|"base":')
	[ -n "$a" ] && [ "$a" = "$b" ] && ok "$how changed: falls back to the source, the same audit" ||
		not_ok "$how changed: falls back to the source, the same audit" "$(diff <(echo "$a") <(echo "$b") | head -10)"
done
# a byte changed inside a record, the manifest made to match: what the container's checks see
edit "$TMP/with/gen.tar.gz" "$TMP/h/flipfix.tar.gz" flip fix
"$MESHPOL" check -m "$TMP/mesh.mpm" "$TMP/h/flipfix.tar.gz" >"$TMP/h/out" 2>&1
rc=$?
if [ $rc = 2 ] || [ $rc = 0 ]; then
	ok "a byte changed inside a record, the manifest made to match: refused or loaded, never a crash (exit $rc)"
else
	not_ok "a byte changed inside a record: refused or loaded, never a crash" "exit $rc" "$(head -3 "$TMP/h/out")"
fi
