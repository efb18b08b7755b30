#!/usr/bin/env bash
# tests/e2e/bundle.sh: bundle archives through the command line (docs/bundles.md): build, verify
# and inspect; the same bundle hash, rules and results from the archive as from the directory in
# check, test, decide, audit and the shell; reproducible bytes; hostile archives made with
# Python's tarfile (traversal, absolute paths, links, devices, duplicates, too many entries, a
# real gzip bomb, truncation) each refused by name; the exit codes; and every example of
# docs/bundles.md as written.
. "$(dirname "$0")/lib.sh"
export MESHPOL_STDLIB="$PWD/stdlib"
A=tests/data/bundles/archives
UNIT=tests/data/bundles/unit

"$MESHPOL" keygen -o "$TMP/k.pem" >/dev/null

# --- build: reproducible, and the same hash as the directory ---
expect_rc "build the reference bundle with its model, signed" 0 \
	"$MESHPOL" bundle build -p policies -m examples/acme -o "$TMP/ref.tar.gz" --sign-key "$TMP/k.pem"
dir_sha=$("$MESHPOL" check policies | head -1 | grep -o 'sha256 [0-9a-f]*')
expect_out "build names the bundle's hash" "bundle sha256 ${dir_sha#sha256 }"
"$MESHPOL" bundle build -p policies -m examples/acme -o "$TMP/ref2.tar.gz" --sign-key "$TMP/k.pem" >/dev/null
if cmp -s "$TMP/ref.tar.gz" "$TMP/ref2.tar.gz"; then ok "the same inputs give the same bytes"; else not_ok "the same inputs give the same bytes"; fi
SOURCE_DATE_EPOCH=1700000000 "$MESHPOL" bundle build -p policies -o "$TMP/epoch.tar.gz" >/dev/null
if tar tvzf "$TMP/epoch.tar.gz" | grep -q '2023-11-1'; then ok "SOURCE_DATE_EPOCH dates the entries"; else not_ok "SOURCE_DATE_EPOCH dates the entries" "$(tar tvzf "$TMP/epoch.tar.gz" | head -2)"; fi
"$MESHPOL" bundle build -p policies -o - 2>"$TMP/build.err" | tar tzf - >"$TMP/list" 2>&1
if grep -qx '.meshpol/manifest.json' "$TMP/list" && grep -q '^-: acme-reference' "$TMP/build.err"; then
	ok "-o - writes the archive to stdout, the summary to stderr"
else
	not_ok "-o - writes the archive to stdout, the summary to stderr" "$(head -3 "$TMP/list")" "$(cat "$TMP/build.err")"
fi
expect_rc "--revision names the archive's revision" 0 \
	"$MESHPOL" bundle build -p policies -m examples/acme -o "$TMP/rev.tar.gz" --revision ci-42
expect_out "build reports the revision" 'revision ci-42:'

# the archive everywhere a directory goes
for verb in check; do
	a=$("$MESHPOL" check "$TMP/ref.tar.gz" | head -1 | grep -o 'sha256 [0-9a-f]*')
	[ "$a" = "$dir_sha" ] && ok "check: the archive's hash is the directory's" || not_ok "check: the archive's hash is the directory's" "$a vs $dir_sha"
done
t_dir=$("$MESHPOL" test policies | tail -1)
t_arc=$("$MESHPOL" test "$TMP/ref.tar.gz" | tail -1)
[ "$t_dir" = "$t_arc" ] && ok "test: the archive's tests pass as the directory's ($t_arc)" || not_ok "test: the archive's tests pass as the directory's" "$t_dir / $t_arc"
for req in examples/requests/*.json; do
	d=$("$MESHPOL" decide -m examples/acme -p policies "$req" | jq -c '[.allow, .effect, [.reasons[] | .policy + "/" + .rule], .bundle.sha256]')
	a=$("$MESHPOL" decide -m "$TMP/ref.tar.gz" -p "$TMP/ref.tar.gz" "$req" | jq -c '[.allow, .effect, [.reasons[] | .policy + "/" + .rule], .bundle.sha256]')
	[ "$d" = "$a" ] || { not_ok "decide: $req: the archive decides as the directory" "$d" "$a"; continue; }
done
ok "decide: every example request decided the same from the archive"
d=$("$MESHPOL" audit -m examples/acme -p policies --format json | jq -c '[.bundle.sha256, .result, [.findings[] | .policy + "/" + .rule + " " + .subject]]')
a=$("$MESHPOL" audit -m "$TMP/ref.tar.gz" -p "$TMP/ref.tar.gz" --format json | jq -c '[.bundle.sha256, .result, [.findings[] | .policy + "/" + .rule + " " + .subject]]')
[ "$d" = "$a" ] && ok "audit: the archive finds what the directory finds" || not_ok "audit: the archive finds what the directory finds" "${d:0:300}" "${a:0:300}"
r=$("$MESHPOL" audit -m examples/acme -p "$TMP/rev.tar.gz" --format json | jq -r .bundle.revision)
[ "$r" = ci-42 ] && ok "audit reports the manifest's revision" || not_ok "audit reports the manifest's revision" "$r"
out=$(printf ':policies\n' | "$MESHPOL" repl -p "$TMP/ref.tar.gz" 2>&1)
if printf '%s' "$out" | grep -q "^bundle acme-reference 2026" && printf '%s' "$out" | grep -q "ref.tar.gz/pci/cardholder.lua"; then
	ok "repl loads the archive and its model"
else
	not_ok "repl loads the archive and its model" "${out:0:400}"
fi
# a plain tar.gz of the directory loads with the same hash (hidden files left out)
cp -r policies "$TMP/plain" && printf 'x\n' >"$TMP/plain/.hidden"
tar czf "$TMP/plain.tar.gz" -C "$TMP/plain" .
p=$("$MESHPOL" check -m examples/acme "$TMP/plain.tar.gz" | head -1 | grep -o 'sha256 [0-9a-f]*')
[ "$p" = "$dir_sha" ] && ok "a plain tar.gz of the directory has its hash" || not_ok "a plain tar.gz of the directory has its hash" "$p"
expect_rc "verify: a plain archive passes, saying there is nothing to check" 0 "$MESHPOL" bundle verify "$TMP/plain.tar.gz"
expect_out "verify says it is a plain archive" 'no manifest and no signature'
expect_rc "verify --pubkey refuses a plain archive" 1 "$MESHPOL" bundle verify "$TMP/plain.tar.gz" --pubkey "$TMP/k.pub.pem"
expect_out "unsigned, required" 'TAMPERED: unsigned; a signature by the given key is required'

# --- usage and input errors: exit 2 ---
expect_rc "build without -o" 2 "$MESHPOL" bundle build -p policies
expect_rc "build of a missing directory" 2 "$MESHPOL" bundle build -p no-such-dir -m examples/acme -o "$TMP/x.tar.gz"
expect_rc "build with a public key as the signing key" 2 \
	"$MESHPOL" bundle build -p policies -o "$TMP/x.tar.gz" --sign-key "$TMP/k.pub.pem"
expect_out "the public key is named" 'a public key; signing needs the private key'
[ -e "$TMP/x.tar.gz" ] && not_ok "nothing written on failure" || ok "nothing written on failure"
expect_rc "build of a bundle that does not load" 2 \
	"$MESHPOL" bundle build -p tests/data/integrity/loadcost -m examples/acme -o "$TMP/x.tar.gz"
expect_rc "verify of a missing file" 2 "$MESHPOL" bundle verify "$TMP/none.tar.gz"
expect_rc "verify with an unreadable key" 2 "$MESHPOL" bundle verify "$A/unit.tar.gz" --pubkey "$TMP/none.pem"
expect_rc "an unknown subcommand" 2 "$MESHPOL" bundle unpack "$A/unit.tar.gz"
expect_out "the subcommands named" "unknown subcommand 'unpack' \(build, verify or inspect\)"
expect_rc "inspect of a tampered archive" 1 "$MESHPOL" bundle inspect "$A/tampered.tar.gz"
expect_out "inspect shows the problem" "TAMPERED: 'rbac.lua'"

# --- hostile archives, made as an attacker would (Python's tarfile), each refused by name ---
python3 - "$TMP" <<'PY'
import gzip, io, sys, tarfile
tmp = sys.argv[1]
manifest = b"name: t\nrevision: r1\n"
policy = b'policy "p" { version = "1.0.0", kind = "rbac" }\n'
def reg(name, data):
    i = tarfile.TarInfo(name); i.size = len(data); return (i, io.BytesIO(data))
def special(name, kind, link=""):
    i = tarfile.TarInfo(name); i.type = kind; i.linkname = link; return (i, None)
def write(name, extra, base=True):
    with tarfile.open("%s/%s" % (tmp, name), "w:gz", format=tarfile.PAX_FORMAT) as t:
        for i, f in ([reg("bundle.yaml", manifest), reg("p.lua", policy)] if base else []) + extra:
            t.addfile(i, f)
write("traversal.tar.gz", [reg("../../etc/cron.d/x", b"* * * * * root id\n")])
write("absolute.tar.gz", [reg("/etc/passwd", b"root::0:0::/:/bin/sh\n")])
write("symlink.tar.gz", [special("p2.lua", tarfile.SYMTYPE, "/etc/shadow")])
write("hardlink.tar.gz", [special("p2.lua", tarfile.LNKTYPE, "bundle.yaml")])
write("device.tar.gz", [special("tty", tarfile.CHRTYPE)])
write("fifo.tar.gz", [special("pipe", tarfile.FIFOTYPE)])
write("duplicate.tar.gz", [reg("p.lua", b"-- shadowing the first\n")])
write("many.tar.gz", [reg("d/%05d.md" % i, b"") for i in range(10001)])
# gzip bombs: 300 MiB of zeros in a few hundred KiB, as the model (which may use the whole
# uncompressed limit) and as a file (which may not pass 16 MiB); each is refused from its header,
# before it is decompressed
class Zeros(io.RawIOBase):
    def __init__(self, n): self.n = n
    def readinto(self, b):
        k = min(len(b), self.n); b[:k] = bytes(k); self.n -= k; return k
for name, entry in (("bomb.tar.gz", ".meshpol/model.mpm"), ("bigfile.tar.gz", "big.md")):
    with tarfile.open("%s/%s" % (tmp, name), "w:gz", compresslevel=1) as t:
        info = tarfile.TarInfo(entry); info.size = 300 << 20
        t.addfile(info, Zeros(info.size))
open("%s/truncated.tar.gz" % tmp, "wb").write(open("%s/bomb.tar.gz" % tmp, "rb").read()[:4000])
open("%s/garbage.tar.gz" % tmp, "wb").write(b"\x1f\x8b" + b"not really gzip" * 10)
PY
refused() { # NAME FILE REGEX: verify and check both refuse it, naming the problem
	expect_rc "$1: verify refuses it" 1 "$MESHPOL" bundle verify "$TMP/$2"
	expect_out "$1: named" "$3"
	expect_rc "$1: loading refuses it" 2 "$MESHPOL" check -m examples/acme "$TMP/$2"
	expect_out "$1: named when loading" "$3"
}
refused "path traversal" traversal.tar.gz "'\.\./\.\./etc/cron\.d/x': has a '\.\.' component"
refused "absolute path" absolute.tar.gz "'/etc/passwd': is an absolute path"
refused "symbolic link" symlink.tar.gz "'p2\.lua': is a symbolic link \(to '/etc/shadow'\)"
refused "hard link" hardlink.tar.gz "'p2\.lua': is a hard link \(to 'bundle\.yaml'\)"
refused "device" device.tar.gz "'tty': is a device"
refused "FIFO" fifo.tar.gz "'pipe': is a FIFO"
refused "duplicate entry" duplicate.tar.gz "'p\.lua': given twice"
refused "too many entries" many.tar.gz "more than 10000 entries"
refused "gzip bomb" bomb.tar.gz "'\.meshpol/model\.mpm': 314572800 bytes would take the archive past its 268435456-byte limit, uncompressed"
refused "a file over the limit" bigfile.tar.gz "'big\.md': 314572800 bytes, over the 16777216-byte limit for one file"
refused "truncated archive" truncated.tar.gz "corrupt or truncated|truncated"
refused "not an archive" garbage.tar.gz "not a tar\.gz bundle archive"
# a signed archive with a file changed after the build, or signed by another key
expect_rc "a file changed after the build" 1 "$MESHPOL" bundle verify "$A/tampered.tar.gz"
expect_rc "serve refuses a tampered -p archive at start" 2 \
	"$MESHPOL" serve -m examples/acme -p "$A/tampered.tar.gz" --listen 127.0.0.1:0

# --- shipped decision log batches back into a verifiable trail ---
"$MESHPOL" trail join tests/data/trail/batches/*.json.gz tests/data/trail/batches/000000000002.json.gz >"$TMP/joined.jsonl"
expect_rc "joined batches verify (a batch sent twice counts once)" 0 \
	"$MESHPOL" verify "$TMP/joined.jsonl" --pubkey "$A/signing.pub.pem"
printf 'not a batch\n' | gzip >"$TMP/bad.json.gz"
expect_rc "trail join refuses what is not a batch" 2 "$MESHPOL" trail join "$TMP/bad.json.gz"
expect_out "named" 'not a decision log batch'

# --- the fixtures are what make.sh makes now (a changed unit bundle needs them remade) ---
if cmp -s <("$MESHPOL" bundle build -p "$UNIT" -m "$UNIT/mesh.yaml" --sign-key "$A/signing.pem" -o - 2>/dev/null) "$A/unit.tar.gz"; then
	ok "tests/data/bundles/archives/unit.tar.gz is the unit bundle built now"
else
	not_ok "tests/data/bundles/archives/unit.tar.gz is the unit bundle built now" "run tests/data/bundles/archives/make.sh and update docs/bundles.md"
fi

doc_examples docs/bundles.md "-The impact of a change" # diff.sh runs those
e2e_done
