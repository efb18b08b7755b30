#!/usr/bin/env bash
# tests/e2e/trail.sh: `meshpol keygen`, `meshpol verify` and `meshpol trail` as a user runs them,
# on the fixture trails of tests/data/trail (see its README.md) and on trails `meshpol audit`
# writes, the by-hand check of docs/trail-format.md, and every console example of the trail docs.
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
expect_rc "keygen refuses to overwrite (an input error)" 2 "$MESHPOL" keygen -o "$TMP/k.pem"
expect_out "refusal explained" "$TMP/k.pem: already exists; refusing to overwrite it"
[ "$(md5sum "$TMP/k.pem")" = "$sum" ] && ok "existing key untouched" || not_ok "existing key untouched"
expect_rc "keygen without -o" 2 "$MESHPOL" keygen
expect_out "keygen usage" 'usage: meshpol keygen -o KEY.pem'
expect_rc "keygen into a missing directory (an input error)" 2 "$MESHPOL" keygen -o "$TMP/nodir/k.pem"
expect_out "the missing directory explained" "^meshpol keygen: $TMP/nodir/k.pem: No such file or directory$"
ln -s "$TMP/elsewhere.pem" "$TMP/dangling.pem"
expect_rc "keygen refuses a dangling link" 2 "$MESHPOL" keygen -o "$TMP/dangling.pem"
[ ! -e "$TMP/elsewhere.pem" ] && [ ! -e "$TMP/dangling.pub.pem" ] && ok "nothing made through the link" || not_ok "nothing made through the link"

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
expect_rc "an unsealed tail is only a note without the key" 0 "$MESHPOL" verify "$TMP/open.jsonl"
expect_out "unsealed tail noted" 'note: 5 records after the last seal are not sealed$'
expect_rc "an unsealed tail of a signed trail is not intact with the key" 1 "$MESHPOL" verify "$TMP/open.jsonl" --pubkey "$D/key.pub.pem"
expect_out "unsealed tail named" "^$TMP/open.jsonl: TAMPERED: line 7 \(seq 7\): not sealed: 5 records after the last seal \(line 6\) are covered by no signature \(added by hand, or a run that did not seal\)$"
check_tampered forged-tail.jsonl 'line 13 \(seq 13\): not sealed: 2 records after the last seal \(line 12\) are covered by no signature'
expect_rc "a forged tail passes the chain alone" 0 "$MESHPOL" verify "$D/forged-tail.jsonl"
expect_out "forged tail noted" 'note: 2 records after the last seal are not sealed$'

# An empty trail: no records is a valid chain, but never a signed trail
expect_rc "empty trail with a key" 1 "$MESHPOL" verify "$D/empty.jsonl" --pubkey "$D/key.pub.pem"
expect_out "empty trail refused" "^$D/empty.jsonl: TAMPERED: the trail is empty, but a signed trail holds at least one seal \(was it truncated\?\)$"
expect_rc "empty trail without a key" 0 "$MESHPOL" verify "$D/empty.jsonl"
expect_out "empty trail noted" "^$D/empty.jsonl: note: the trail is empty \(nothing to check; a trail cut to nothing looks the same: --pubkey, --head or --runs refuse it\)$"
expect_rc "empty trail with --runs" 1 "$MESHPOL" verify "$D/empty.jsonl" --runs 1

# A real signed trail, then records chained by hand after its seal (no key needed): the next
# signed audit must refuse to seal them, and verify with the key must say the tail is unsealed.
AUDIT=(-m examples/acme -p policies)
T=$TMP/audit.jsonl
"$MESHPOL" audit "${AUDIT[@]}" --trail "$T" --sign-key "$TMP/k.pem" >/dev/null
"$MESHPOL" audit "${AUDIT[@]}" --trail "$T" --sign-key "$TMP/k.pem" >/dev/null
expect_rc "a signed audit trail of two runs" 0 "$MESHPOL" verify "$T" --pubkey "$TMP/k.pub.pem"
run_cmd "$MESHPOL" trail head "$T"
[ "$RC" -eq 0 ] && [[ $OUT =~ ^--head\ [0-9a-f]{64}\ --runs\ 2$ ]] && ok "trail head prints --head HASH --runs N" || not_ok "trail head prints --head HASH --runs N" "rc $RC: $OUT $ERR"
saved=$OUT
[ "${saved:7:64}" = "$(tail -n 1 "$T" | tr -d '\n' | openssl dgst -sha256 -r | cut -d' ' -f1)" ] && ok "the head is the hash of the last line" || not_ok "the head is the hash of the last line" "$saved"
# shellcheck disable=SC2086 # the saved head is words of hex and digits: split on purpose
expect_rc "trail head round-trips to verify" 0 "$MESHPOL" verify "$T" --pubkey "$TMP/k.pub.pem" $saved
expect_out "the head is the last record" "^$T: head: the last record \(line [0-9]+\) has the given hash$"
n=$(wc -l <"$T")
forge() { # FILE TYPE CONTENT: appends a record chained by hand, as anyone can without the key
	local seq prev
	seq=$(($(wc -l <"$1") + 1))
	prev=$(tail -n 1 "$1" | tr -d '\n' | openssl dgst -sha256 -r | cut -d' ' -f1)
	printf '{"seq":%d,"time":"2026-11-27T09:00:00.000Z","type":"%s","prev":"%s",%s}\n' "$seq" "$2" "$prev" "$3" >>"$1"
}
cp "$T" "$TMP/forged.jsonl"
forge "$TMP/forged.jsonl" start '"meshpol":"0.1.0"'
forge "$TMP/forged.jsonl" end '"result":"pass"'
expect_rc "the forged records chain" 0 "$MESHPOL" verify "$TMP/forged.jsonl"
sum=$(md5sum <"$TMP/forged.jsonl")
expect_rc "a signed audit refuses to seal forged records" 2 "$MESHPOL" audit "${AUDIT[@]}" --trail "$TMP/forged.jsonl" --sign-key "$TMP/k.pem"
expect_out "the refusal names the file and the first unsealed line" "^meshpol audit: $TMP/forged.jsonl: refusing to extend a trail whose tail is not sealed: 2 records after the last seal \(line $n\), from line $((n + 1)) \(seq $((n + 1))\); a new seal would vouch for records this writer did not write \(inspect them, then seal them on purpose with meshpol trail adopt, or start a new trail file\)$"
[ "$(md5sum <"$TMP/forged.jsonl")" = "$sum" ] && ok "the refused trail is untouched" || not_ok "the refused trail is untouched"
expect_rc "an unsigned audit refuses them too" 2 "$MESHPOL" audit "${AUDIT[@]}" --trail "$TMP/forged.jsonl"
expect_rc "verify with the key: forged tail not intact" 1 "$MESHPOL" verify "$TMP/forged.jsonl" --pubkey "$TMP/k.pub.pem"
expect_out "forged tail named" "TAMPERED: line $((n + 1)) \(seq $((n + 1))\): not sealed: 2 records after the last seal \(line $n\)"
# shellcheck disable=SC2086
expect_rc "the forged trail still holds the recorded head" 0 "$MESHPOL" verify "$TMP/forged.jsonl" $saved
expect_out "records after the head counted" "^$TMP/forged.jsonl: head: line $n has the given hash; 2 records follow it$"

# adopting them is an explicit act of the key holder, and the seal says so
expect_rc "trail adopt seals them" 0 "$MESHPOL" trail adopt "$TMP/forged.jsonl" --sign-key "$TMP/k.pem"
expect_out "adoption reported" "^$TMP/forged.jsonl: adopted 2 unsealed records \(lines $((n + 1))-$((n + 2))\): sealed and signed at line $((n + 3))$"
tail -n 1 "$TMP/forged.jsonl" | jq -e '.type == "seal" and .adopted == 2 and .records == 2' >/dev/null && ok "the seal records the adoption" || not_ok "the seal records the adoption"
expect_rc "an adopted tail verifies with the key" 0 "$MESHPOL" verify "$TMP/forged.jsonl" --pubkey "$TMP/k.pub.pem"
expect_out "adoption noted" "^$TMP/forged.jsonl: note: 1 seal adopted 2 records found unsealed \(the first at line $((n + 3))\): sealed on purpose, not written by the run that sealed them$"
seal=$(tail -n 1 "$TMP/forged.jsonl")
echo "$seal" | jq -j '"meshpol-trail-seal-v1 seq=\(.seq) time=\(.time) records=\(.records) head=\(.head) adopted=\(.adopted)"' >"$TMP/msg"
echo "$seal" | jq -r .signature | openssl base64 -d -A >"$TMP/sig"
expect_rc "by hand: an adopting seal signs its mark" 0 openssl pkeyutl -verify -pubin -inkey "$TMP/k.pub.pem" -rawin -in "$TMP/msg" -sigfile "$TMP/sig"
sed -i '$s/"adopted":2,//' "$TMP/forged.jsonl"
expect_rc "stripping the mark breaks the signature" 1 "$MESHPOL" verify "$TMP/forged.jsonl" --pubkey "$TMP/k.pub.pem"
expect_rc "adopt: nothing to adopt" 0 "$MESHPOL" trail adopt "$T" --sign-key "$TMP/k.pem"
expect_out "nothing adopted" "^$T: nothing to adopt: the trail ends in a seal$"
expect_rc "adopt: a missing trail" 2 "$MESHPOL" trail adopt "$TMP/none.jsonl"
[ ! -e "$TMP/none.jsonl" ] && ok "adopt creates no trail" || not_ok "adopt creates no trail"
expect_rc "adopt: with another key" 2 "$MESHPOL" trail adopt "$TMP/open.jsonl" --sign-key "$TMP/k.pem"

# the last run removed together with its seal: a good signed trail, but not the recorded one
head -n "$(grep -n '"type":"seal"' "$T" | head -n 1 | cut -d: -f1)" "$T" >"$TMP/cut.jsonl"
expect_rc "a trail cut back to its first seal verifies alone" 0 "$MESHPOL" verify "$TMP/cut.jsonl" --pubkey "$TMP/k.pub.pem"
# shellcheck disable=SC2086
expect_rc "--head catches the removed run" 1 "$MESHPOL" verify "$TMP/cut.jsonl" --pubkey "$TMP/k.pub.pem" $saved
expect_out "truncation named" "^$TMP/cut.jsonl: TAMPERED: head ${saved:7:64} is not in the trail: it was truncated or rewritten \(it now has [0-9]+ records, head [0-9a-f]{64}\)$"
expect_rc "--runs catches the removed run" 1 "$MESHPOL" verify "$TMP/cut.jsonl" --pubkey "$TMP/k.pub.pem" --runs 2
expect_out "missing runs named" "^$TMP/cut.jsonl: TAMPERED: 1 run, but at least 2 expected: whole runs are missing \(the trail was truncated or rewritten\)$"
expect_rc "--runs 1 is met" 0 "$MESHPOL" verify "$TMP/cut.jsonl" --runs 1
# a trail extended after its head was recorded
"$MESHPOL" audit "${AUDIT[@]}" --trail "$T" --sign-key "$TMP/k.pem" >/dev/null
# shellcheck disable=SC2086
expect_rc "an extended trail holds the recorded head" 0 "$MESHPOL" verify "$T" --pubkey "$TMP/k.pub.pem" $saved
expect_out "the records since are counted" "^$T: head: line $n has the given hash; [0-9]+ records follow it$"

# trail head refuses what it cannot vouch for
expect_rc "trail head of a tampered trail" 1 "$MESHPOL" trail head "$D/altered.jsonl"
expect_out "trail head says why" "^meshpol trail head: $D/altered.jsonl: TAMPERED: line 3 \(seq 3\): record altered"
[ -z "$OUT" ] && ok "trail head prints no head for a tampered trail" || not_ok "trail head prints no head for a tampered trail" "$OUT"
expect_rc "trail head of an empty trail" 1 "$MESHPOL" trail head "$D/empty.jsonl"
expect_out "empty head explained" "^meshpol trail head: $D/empty.jsonl: the trail is empty: it has no head to record$"
expect_rc "trail head with the key, unsealed tail" 1 "$MESHPOL" trail head "$D/forged-tail.jsonl" --pubkey "$D/key.pub.pem"
expect_rc "trail head of a missing trail" 2 "$MESHPOL" trail head "$TMP/none.jsonl"
expect_rc "trail without a subcommand" 2 "$MESHPOL" trail
expect_out "trail usage" '^meshpol trail: missing subcommand \(head, adopt or join\)$'
expect_rc "trail with an unknown subcommand" 2 "$MESHPOL" trail tail "$T"
expect_out "unknown subcommand named" "^meshpol trail: unknown subcommand 'tail' \(head, adopt or join\)$"
expect_rc "trail head without a trail" 2 "$MESHPOL" trail head
expect_out "trail head usage" '^usage: meshpol trail head TRAIL \[--pubkey PUB.pem\]$'
expect_rc "help trail" 0 "$MESHPOL" help trail

# hostile values for --head and --runs: usage errors, before the trail is read
good=${saved:7:64}
bad_head() { # NAME VALUE REGEX
	expect_rc "--head $1" 2 "$MESHPOL" verify "$T" --head "$2"
	expect_out "--head $1 explained" "$3"
}
bad_head empty "" '^meshpol verify: --head is empty; give the 64 hex digits of a head \(meshpol trail head prints it\)$'
bad_head short abc "^meshpol verify: --head takes a SHA-256 in 64 lower-case hex digits, not 'abc'$"
bad_head "one digit too many" "${good}0" "not '${good}0'$"
bad_head "not hex" "${good:0:63}g" 'takes a SHA-256 in 64 lower-case hex digits'
bad_head "upper case" "$(echo "$good" | tr a-f A-F)" '^meshpol verify: --head must be in lower case, as trails and meshpol trail head write hashes$'
bad_head "control characters" "$(printf 'a\033[31m')" "not 'a\\\\x1b\\[31m'$"
for r in 0 -1 abc "" 1x " 1" 99999999999999999999999; do
	expect_rc "--runs '$r'" 2 "$MESHPOL" verify "$T" --runs "$r"
	expect_out "--runs '$r' explained" "^meshpol verify: --runs takes a whole number of runs from 1, not '"
done
expect_out "verify usage names the new flags" '^usage: meshpol verify TRAIL \[--pubkey PUB.pem\] \[--head SHA256\] \[--runs N\]$'

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
# Every ```console example of the trail docs and the CLI reference (lib.sh, doc_examples).
doc_examples docs/trail-format.md
doc_examples docs/cli.md
e2e_done
