#!/usr/bin/env bash
# tests/e2e/trail.sh: `meshpol keygen` and `meshpol verify` as a user runs them, on the fixture
# trails of tests/data/trail (see its README.md), and the by-hand check of docs/trail-format.md.
. "$(dirname "$0")/lib.sh"
D=tests/data/trail

# keygen: two files, private 0600, public 0644, never overwritten
expect_rc "keygen exits 0" 0 "$MESHPOL" keygen -o "$TMP/k.pem"
expect_out "keygen names both files" "^$TMP/k.pub.pem: public key, key_id [0-9a-f]{64}$"
[ "$(stat -c %a "$TMP/k.pem")" = 600 ] && ok "private key is 0600" || not_ok "private key is 0600" "$(stat -c %a "$TMP/k.pem")"
[ "$(stat -c %a "$TMP/k.pub.pem")" = 644 ] && ok "public key is 0644" || not_ok "public key is 0644" "$(stat -c %a "$TMP/k.pub.pem")"
grep -q 'BEGIN PRIVATE KEY' "$TMP/k.pem" && ok "private key is PEM" || not_ok "private key is PEM"
openssl pkey -pubin -in "$TMP/k.pub.pem" -noout -text 2>/dev/null | grep -q ED25519 && ok "public key is Ed25519" || not_ok "public key is Ed25519"
sum=$(md5sum "$TMP/k.pem")
expect_rc "keygen refuses to overwrite" 1 "$MESHPOL" keygen -o "$TMP/k.pem"
expect_out "refusal explained" "$TMP/k.pem: already exists; refusing to overwrite it"
[ "$(md5sum "$TMP/k.pem")" = "$sum" ] && ok "existing key untouched" || not_ok "existing key untouched"
expect_rc "keygen without -o" 2 "$MESHPOL" keygen
expect_out "keygen usage" 'usage: meshpol keygen -o KEY.pem'
expect_rc "keygen into a missing directory" 1 "$MESHPOL" keygen -o "$TMP/nodir/k.pem"

# verify: the intact trail, with and without its public key
expect_rc "intact trail verifies" 0 "$MESHPOL" verify "$D/intact.jsonl" --pubkey "$D/key.pub.pem"
expect_out "intact summary" "^$D/intact.jsonl: intact: 12 records in 2 runs, 2 seals \(2 signatures verified\)$"
expect_rc "intact without a key" 0 "$MESHPOL" verify "$D/intact.jsonl"
expect_out "unchecked signatures said" "2 signed seals present but not checked \(give --pubkey; key_id [0-9a-f]{64}\)"
expect_rc "a trail and another key" 1 "$MESHPOL" verify "$D/intact.jsonl" --pubkey "$D/other.pub.pem"
expect_out "wrong key named" "TAMPERED: line 6 \(seq 6, seal\): signature does not verify with the given public key \(the seal names key_id"
expect_rc "a freshly made key is not the trail's" 1 "$MESHPOL" verify "$D/intact.jsonl" --pubkey "$TMP/k.pub.pem"

# verify: each tampered copy, named at its first bad line
check_tampered() { # FILE REGEX
	expect_rc "$1 is tampered" 1 "$MESHPOL" verify "$D/$1" --pubkey "$D/key.pub.pem"
	expect_out "$1 reason" "^$D/$1: TAMPERED: $2"
}
check_tampered altered.jsonl 'line 3 \(seq 3\): record altered \(its hash no longer matches the next record.s prev\)$'
check_tampered removed.jsonl 'line 3 \(seq 4\): seq 3 expected, found 4 \(a record was removed\)$'
check_tampered reordered.jsonl 'line 3 \(seq 4\): seq 3 expected, found 4 \(records reordered: seq 3 is at line 4\)$'
check_tampered inserted.jsonl 'line 9 \(seq 2\): seq goes backwards: 9 expected, found 2'
check_tampered head-edited.jsonl 'line 6 \(seq 6, seal\): head does not match the chain'
check_tampered truncated.jsonl 'line 7: no newline at the end: the record is torn'
check_tampered garbage.jsonl 'line 13: not valid JSON'
check_tampered forged-seal.jsonl 'line 6 \(seq 6, seal\): signature does not verify with the given public key'
check_tampered unsigned.jsonl 'line 6 \(seq 6, seal\): unsigned seal while a public key was given'
expect_rc "tampering found without a key too" 1 "$MESHPOL" verify "$D/altered.jsonl"
expect_rc "a re-sealed rewrite passes without the key" 0 "$MESHPOL" verify "$D/forged-seal.jsonl"
expect_rc "unsigned seals pass without a key" 0 "$MESHPOL" verify "$D/unsigned.jsonl"
expect_out "unsigned summary" 'intact: 12 records in 2 runs, 2 seals \(0 signatures verified\)$'

head -n 11 "$D/intact.jsonl" >"$TMP/open.jsonl"
expect_rc "an unsealed tail is intact" 0 "$MESHPOL" verify "$TMP/open.jsonl" --pubkey "$D/key.pub.pem"
expect_out "unsealed tail noted" 'note: 5 records after the last seal are not sealed$'

# usage and input errors: exit 2
expect_rc "verify without a trail" 2 "$MESHPOL" verify
expect_out "verify usage" 'usage: meshpol verify TRAIL \[--pubkey PUB.pem\]'
expect_rc "verify a missing trail" 2 "$MESHPOL" verify "$TMP/none.jsonl"
expect_out "missing trail named" "$TMP/none.jsonl: No such file or directory"
expect_rc "verify with a missing key" 2 "$MESHPOL" verify "$D/intact.jsonl" --pubkey "$TMP/none.pem"
expect_rc "verify with the private key" 2 "$MESHPOL" verify "$D/intact.jsonl" --pubkey "$TMP/k.pem"
expect_out "private key explained" 'a private key; give the public key'
expect_rc "verify with a non-key" 2 "$MESHPOL" verify "$D/intact.jsonl" --pubkey "$D/intact.jsonl"
expect_out "non-key explained" 'not a PEM public key'
expect_rc "verify an unknown option" 2 "$MESHPOL" verify --bogus "$D/intact.jsonl"

# The by-hand check of docs/trail-format.md, with openssl and jq only: a record's prev is the
# SHA-256 of the line before it, and a seal's signature verifies over the documented message.
prev7=$(sed -n 7p "$D/intact.jsonl" | jq -r .prev)
hash6=$(sed -n 6p "$D/intact.jsonl" | tr -d '\n' | openssl dgst -sha256 -r | cut -d' ' -f1)
[ "$prev7" = "$hash6" ] && ok "by hand: prev is the hash of the line before" || not_ok "by hand: prev is the hash of the line before" "$prev7 != $hash6"
seal=$(sed -n 6p "$D/intact.jsonl")
echo "$seal" | jq -j '"meshpol-trail-seal-v1 seq=\(.seq) time=\(.time) records=\(.records) head=\(.head)"' >"$TMP/msg"
echo "$seal" | jq -r .signature | openssl base64 -d -A >"$TMP/sig"
expect_rc "by hand: the seal's signature verifies" 0 openssl pkeyutl -verify -pubin -inkey "$D/key.pub.pem" -rawin -in "$TMP/msg" -sigfile "$TMP/sig"
expect_rc "by hand: another key does not verify it" 1 openssl pkeyutl -verify -pubin -inkey "$D/other.pub.pem" -rawin -in "$TMP/msg" -sigfile "$TMP/sig"
key_id=$(openssl pkey -pubin -in "$D/key.pub.pem" -outform DER | openssl dgst -sha256 -r | cut -d' ' -f1)
[ "$key_id" = "$(echo "$seal" | jq -r .key_id)" ] && ok "by hand: key_id is the SHA-256 of the key's DER" || not_ok "by hand: key_id" "$key_id"
e2e_done
