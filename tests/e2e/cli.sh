#!/usr/bin/env bash
# tests/e2e/cli.sh: what every verb of `meshpol` shares (docs/cli.md): --help, one value per
# option, the exit codes of input errors, and outputs that never destroy what they replace:
# a device, a FIFO, a symbolic link, a file's mode, a directory, the process's own stdout.
# Devices are made with mknod inside $TMP; nothing outside $TMP is ever written.
. "$(dirname "$0")/lib.sh"
M=examples/acme
P=policies
REQ=examples/requests/allow-checkout-charge.json

# --- --help and -h: every verb prints its usage and exits 0, whatever else is given ---
verbs=$("$MESHPOL" help | awk '/^verbs:/ {on = 1; next} on && NF {print $1}')
[ "$(echo "$verbs" | wc -w)" -ge 12 ] && ok "help lists the verbs" || not_ok "help lists the verbs" "$verbs"
for verb in $verbs; do
	for flag in --help -h; do
		expect_rc "$verb $flag exits 0" 0 "$MESHPOL" "$verb" "$flag"
		expect_out "$verb $flag prints its usage" "^usage: meshpol $verb"
	done
done
expect_rc "--help after other arguments" 0 "$MESHPOL" audit -m "$M" --format nope --help
expect_out "--help wins over a bad option" '^usage: meshpol audit -m MODEL'
expect_rc "-h after -- is an argument" 2 "$MESHPOL" compile -- -h
expect_out "-h after -- is a source" '^-h: No such file or directory$'

# --- one value per option: a second -m, -o, --format ... is a usage error on every verb ---
twice() { # NAME REGEX ARGS...
	local name=$1 re=$2
	shift 2
	expect_rc "$name given twice exits 2" 2 "$MESHPOL" "$@"
	expect_out "$name given twice is named" "$re"
}
twice "compile -o" "^meshpol compile: -o/--output given twice \('$TMP/a.mpm', then '$TMP/b.mpm'\); give it once$" compile -o "$TMP/a.mpm" -o "$TMP/b.mpm" "$M"
[ ! -e "$TMP/a.mpm" ] && [ ! -e "$TMP/b.mpm" ] && ok "compile -o twice writes nothing" || not_ok "compile -o twice writes nothing"
twice "compile --trust-domain" "^meshpol compile: --trust-domain given twice \('a', then 'b'\)" compile --trust-domain a --trust-domain=b "$M"
twice "check -m" "^meshpol check: -m/--model given twice" check -m "$M" --model "$M" "$P"
twice "test --run" "^meshpol test: --run given twice \('a', then 'b'\)" test --run a --run b "$P"
twice "decide -m" "^meshpol decide: -m/--model given twice \('a', then 'b'\)" decide -m a -m b "$REQ"
twice "decide -p" "^meshpol decide: -p/--policies given twice" decide -m "$M" -p "$P" -p "$P" "$REQ"
twice "audit -m" "^meshpol audit: -m/--model given twice \('a', then 'b'\); give it once$" audit -m a -m b -p "$P"
twice "audit --format" "^meshpol audit: -f/--format given twice \('json', then 'json'\)" audit -m "$M" -p "$P" --format json --format json
twice "audit -o" "^meshpol audit: -o/--output given twice" audit -m "$M" -p "$P" -o "$TMP/x" --output "$TMP/y"
twice "audit --fail-on" "^meshpol audit: --fail-on given twice" audit -m "$M" -p "$P" --fail-on soft --fail-on hard
twice "audit --policy" "^meshpol audit: --policy given twice" audit -m "$M" -p "$P" --policy a --policy b
twice "audit --trail" "^meshpol audit: --trail given twice" audit -m "$M" -p "$P" --trail "$TMP/t1" --trail "$TMP/t2"
[ ! -e "$TMP/t1" ] && [ ! -e "$TMP/t2" ] && ok "audit --trail twice starts no trail" || not_ok "audit --trail twice starts no trail"
twice "verify --pubkey" "^meshpol verify: --pubkey given twice" verify tests/data/trail/intact.jsonl --pubkey a --pubkey b
twice "trail head --pubkey" "^meshpol trail head: --pubkey given twice" trail head tests/data/trail/intact.jsonl --pubkey a --pubkey b
twice "trail adopt --sign-key" "^meshpol trail adopt: --sign-key given twice" trail adopt tests/data/trail/intact.jsonl --sign-key a --sign-key b
twice "keygen -o" "^meshpol keygen: -o/--output given twice" keygen -o "$TMP/k1.pem" -o "$TMP/k2.pem"
[ ! -e "$TMP/k1.pem" ] && [ ! -e "$TMP/k2.pem" ] && ok "keygen -o twice makes no key" || not_ok "keygen -o twice makes no key"
twice "repl -m" "^meshpol repl: -m/--model given twice" repl -m a -m b </dev/null
twice "diff --base" "^meshpol diff: --base given twice \('a', then 'b'\)" diff -m "$M" --base a --base b --head "$P"
twice "replay -p" "^meshpol replay: -p/--policies given twice" replay --decision-log x -p "$P" -p "$P"
expect_rc "flags may repeat (test -v -v)" 0 "$MESHPOL" test -v -v tests/data/bundles/unit
mkdir "$TMP/c1" "$TMP/c2"
cp "$M/jurisdictions.yaml" "$TMP/c1/"
cp "$M/namespaces.yaml" "$TMP/c2/"
expect_rc "compile --cluster-dir repeats" 0 "$MESHPOL" compile --cluster-dir a="$TMP/c1" --cluster-dir b="$TMP/c2"

# --- exit codes of input errors ---
expect_rc "audit --policy of no such policy exits 2" 2 "$MESHPOL" audit -m "$M" -p "$P" --policy rbac.nope
expect_out "the nearest policy is named" "^meshpol audit: --policy 'rbac.nope': no such policy in $P \(did you mean 'rbac\.[a-z]+'\?\)$"
[ -z "$OUT" ] && ok "no report for an unknown policy" || not_ok "no report for an unknown policy" "$OUT"
expect_rc "audit --policy far from any name lists them" 2 "$MESHPOL" audit -m "$M" -p "$P" --policy zzzzzzzzzzzzzzzz
expect_out "the policies are listed" "no such policy in $P \(expected .*residency\.gdpr.* or meshpol\.import\)$"
expect_rc "audit --policy of a real policy" 1 "$MESHPOL" audit -m "$M" -p "$P" --policy residency.gdpr --format json
expect_rc "audit --policy meshpol.import is known" 0 "$MESHPOL" audit -m "$M" -p "$P" --policy meshpol.import --format json
cp -r "$P" "$TMP/partial"
printf 'policies: [residency.gdpr]\n' >>"$TMP/partial/bundle.yaml"
expect_rc "audit --policy the manifest does not enable exits 2" 2 "$MESHPOL" audit -m "$M" -p "$TMP/partial" --policy rbac.shop
expect_out "not enabled explained" "^meshpol audit: --policy 'rbac.shop': the manifest of $TMP/partial does not enable it, so the audit would not run it$"
expect_rc "test --run matching no test exits 2" 2 "$MESHPOL" test --run no-such-test-name tests/data/bundles/unit
expect_out "the pattern is named" "^meshpol test: --run 'no-such-test-name' matches no test in tests/data/bundles/unit$"
if printf '%s\n' "$OUT" | grep -q 'passed'; then not_ok "no summary line when nothing ran" "$OUT"; else ok "no summary line when nothing ran"; fi
expect_rc "keygen into a missing directory exits 2" 2 "$MESHPOL" keygen -o "$TMP/nodir/k.pem"
expect_out "the missing directory is named" "^meshpol keygen: $TMP/nodir/k.pem: No such file or directory$"
expect_rc "keygen -o - exits 2" 2 sh -c 'cd "$1" && exec "$2" keygen -o -' sh "$TMP" "$MESHPOL"
[ ! -e "$TMP/-" ] && ok "keygen -o - makes no file named -" || not_ok "keygen -o - makes no file named -"
expect_rc "compile -o into a missing directory exits 2" 2 "$MESHPOL" compile -o "$TMP/nodir/m.mpm" "$M"
expect_out "compile names the directory" "^meshpol compile: $TMP/nodir/m.mpm: cannot create a file in $TMP/nodir: No such file or directory$"
expect_rc "audit -o into a missing directory exits 2" 2 "$MESHPOL" audit -m "$M" -p "$P" -o "$TMP/nodir/r.txt"
expect_rc "decide without a model exits 2" 2 "$MESHPOL" decide "$REQ"
expect_rc "decide on a missing input exits 2" 2 "$MESHPOL" decide -m "$M" "$TMP/nope.json"
expect_rc "check of a missing bundle exits 2" 2 "$MESHPOL" check -m "$M" "$TMP/nope"
mkdir "$TMP/no-tests" "$TMP/zero-tests"
expect_rc "test of a bundle without tests exits 2" 2 "$MESHPOL" test "$TMP/no-tests"
cp tests/data/bundles/unit/bundle.yaml tests/data/bundles/unit/*.lua "$TMP/zero-tests/"
printf -- '-- no tests yet\n' >"$TMP/zero-tests/unit_test.lua"
expect_rc "test files that declare no tests exit 2" 2 "$MESHPOL" test "$TMP/zero-tests"
expect_out "no tests explained" "^meshpol test: $TMP/zero-tests: its test files declare no tests$"
expect_rc "verify of a missing trail exits 2" 2 "$MESHPOL" verify "$TMP/nope.jsonl"
expect_rc "help of no verb exits 2" 2 "$MESHPOL" help frobnicate
expect_rc "version with an argument exits 2" 2 "$MESHPOL" version extra

# --- outputs: what -o names is never destroyed ---
# A character device: written in place, still a device (as root, /dev/null's copy made here).
if mknod "$TMP/null" c 1 3 2>/dev/null; then
	expect_rc "compile -o a device" 0 "$MESHPOL" compile -o "$TMP/null" "$M"
	[ -c "$TMP/null" ] && ok "the device is still a character device after compile -o" || not_ok "the device is still a character device after compile -o" "$(ls -l "$TMP/null")"
	expect_rc "audit -o a device" 1 "$MESHPOL" audit -m "$M" -p "$P" -o "$TMP/null"
	[ -c "$TMP/null" ] && ok "the device is still a character device after audit -o" || not_ok "the device is still a character device after audit -o" "$(ls -l "$TMP/null")"
	[ "$(stat -c '%t,%T' "$TMP/null")" = 1,3 ] && ok "the device keeps its numbers" || not_ok "the device keeps its numbers"
else
	ok "# SKIP mknod needs root"
fi
leftovers() { find "$TMP" -name '.*.tmp' | head -3; }
[ -z "$(leftovers)" ] && ok "no temporary files left" || not_ok "no temporary files left" "$(leftovers)"

# A FIFO with a reader gets the whole model; without one, the run ends, exit 2.
mkfifo "$TMP/fifo"
timeout 20 cat "$TMP/fifo" >"$TMP/from-fifo" &
reader=$!
expect_rc "compile -o a FIFO with a reader" 0 timeout 20 "$MESHPOL" compile -o "$TMP/fifo" "$M"
wait "$reader"
"$MESHPOL" compile -o "$TMP/direct.mpm" "$M" >/dev/null
cmp -s "$TMP/from-fifo" "$TMP/direct.mpm" && ok "the reader got the whole model" || not_ok "the reader got the whole model" "$(wc -c <"$TMP/from-fifo") bytes"
[ -p "$TMP/fifo" ] && ok "the FIFO is still a FIFO" || not_ok "the FIFO is still a FIFO"
expect_rc "compile -o a FIFO nobody reads exits 2" 2 timeout 20 "$MESHPOL" compile -o "$TMP/fifo" "$M"
expect_out "no reader explained" "^meshpol compile: $TMP/fifo: is a FIFO that no reader opened within [0-9]+ s; not written$"
[ -p "$TMP/fifo" ] && ok "the unread FIFO is still a FIFO" || not_ok "the unread FIFO is still a FIFO"

# A symbolic link: the file it leads to is replaced (a new file: a reader holding the old one
# still reads it whole), the link stays, and the file keeps its mode 0600.
printf 'old report\n' >"$TMP/report.json"
chmod 600 "$TMP/report.json"
ln -s report.json "$TMP/link.json"
exec 3<"$TMP/report.json"
expect_rc "audit -o a symbolic link" 1 "$MESHPOL" audit -m "$M" -p "$P" --format json -o "$TMP/link.json"
[ -L "$TMP/link.json" ] && ok "the link is still a link" || not_ok "the link is still a link" "$(ls -l "$TMP/link.json")"
jq -e '.findings | length > 0' "$TMP/report.json" >/dev/null && ok "the link's target holds the report" || not_ok "the link's target holds the report" "$(head -c 200 "$TMP/report.json")"
[ "$(cat <&3)" = "old report" ] && ok "a reader of the old file still reads it whole (replaced, not truncated)" || not_ok "a reader of the old file still reads it whole (replaced, not truncated)"
exec 3<&-
[ "$(stat -c %a "$TMP/report.json")" = 600 ] && ok "audit -o keeps a 0600 file's mode" || not_ok "audit -o keeps a 0600 file's mode" "$(stat -c %a "$TMP/report.json")"
printf 'old model\n' >"$TMP/model.mpm"
chmod 600 "$TMP/model.mpm"
ln -s model.mpm "$TMP/model-link.mpm"
expect_rc "compile -o a symbolic link" 0 "$MESHPOL" compile -o "$TMP/model-link.mpm" "$M"
[ -L "$TMP/model-link.mpm" ] && ok "compile -o keeps the link" || not_ok "compile -o keeps the link" "$(ls -l "$TMP/model-link.mpm")"
cmp -s "$TMP/model.mpm" "$TMP/direct.mpm" && ok "the link's target holds the model" || not_ok "the link's target holds the model"
[ "$(stat -c %a "$TMP/model.mpm")" = 600 ] && ok "compile -o keeps the mode of a link's target" || not_ok "compile -o keeps the mode of a link's target" "$(stat -c %a "$TMP/model.mpm")"
printf 'old model\n' >"$TMP/private.mpm"
chmod 600 "$TMP/private.mpm"
expect_rc "compile -o a 0600 file" 0 "$MESHPOL" compile -o "$TMP/private.mpm" "$M"
[ "$(stat -c %a "$TMP/private.mpm")" = 600 ] && ok "compile -o keeps a 0600 file's mode" || not_ok "compile -o keeps a 0600 file's mode" "$(stat -c %a "$TMP/private.mpm")"
cmp -s "$TMP/private.mpm" "$TMP/direct.mpm" && ok "the 0600 file holds the model" || not_ok "the 0600 file holds the model"
ln -s "$TMP/made-by-link.mpm" "$TMP/dangling.mpm"
expect_rc "compile -o a dangling link" 0 "$MESHPOL" compile -o "$TMP/dangling.mpm" "$M"
[ -L "$TMP/dangling.mpm" ] && [ -f "$TMP/made-by-link.mpm" ] && ok "a dangling link's target is created" || not_ok "a dangling link's target is created"

# A run that fails leaves the file it would have replaced as it was.
printf 'keep me\n' >"$TMP/keep.txt"
expect_rc "audit of a missing model exits 2" 2 "$MESHPOL" audit -m "$TMP/nope" -p "$P" -o "$TMP/keep.txt"
[ "$(cat "$TMP/keep.txt")" = "keep me" ] && ok "a failed audit leaves -o as it was" || not_ok "a failed audit leaves -o as it was"
expect_rc "compile errors exit 2" 2 "$MESHPOL" compile -o "$TMP/keep.txt" tests/data/bad/multiple-errors.yaml
[ "$(cat "$TMP/keep.txt")" = "keep me" ] && ok "a failed compile leaves -o as it was" || not_ok "a failed compile leaves -o as it was"
[ -z "$(leftovers)" ] && ok "no temporary files left after failures" || not_ok "no temporary files left after failures" "$(leftovers)"

# A directory is refused, naming it.
mkdir "$TMP/dir"
expect_rc "compile -o a directory exits 2" 2 "$MESHPOL" compile -o "$TMP/dir" "$M"
expect_out "the directory is named" "^meshpol compile: $TMP/dir: is a directory$"
expect_rc "audit -o a directory exits 2" 2 "$MESHPOL" audit -m "$M" -p "$P" -o "$TMP/dir"
expect_out "audit names the directory" "^meshpol audit: $TMP/dir: is a directory$"
[ -d "$TMP/dir" ] && [ -z "$(ls -A "$TMP/dir")" ] && ok "the directory is untouched" || not_ok "the directory is untouched"

# "-" and a descriptor are written as they are: appended to, never replaced.
printf 'first line\n' >"$TMP/log"
(cd "$TMP" && "$MESHPOL" compile -o - "$OLDPWD/$M" >>log 2>"$TMP/summary")
[ "$(head -n 1 "$TMP/log")" = "first line" ] && ok "compile -o - appends to the redirected stdout" || not_ok "compile -o - appends to the redirected stdout"
"$MESHPOL" compile -o "$TMP/abs.mpm" "$PWD/$M" >/dev/null
tail -c +12 "$TMP/log" | cmp -s - "$TMP/abs.mpm" && ok "the model follows on stdout" || not_ok "the model follows on stdout"
grep -q 'sha256 [0-9a-f]\{64\} -> -$' "$TMP/summary" && ok "the summary goes to stderr when stdout has the model" || not_ok "the summary goes to stderr when stdout has the model" "$(cat "$TMP/summary")"
[ ! -e "$TMP/-" ] && ok "no file named -" || not_ok "no file named -"
printf 'first line\n' >"$TMP/log2"
expect_rc "audit -o /proc/self/fd/3 (appending)" 1 "$MESHPOL" audit -m "$M" -p "$P" --format json -o /proc/self/fd/3 3>>"$TMP/log2"
[ "$(head -n 1 "$TMP/log2")" = "first line" ] && ok "the descriptor is appended to" || not_ok "the descriptor is appended to" "$(head -c 100 "$TMP/log2")"
tail -n +2 "$TMP/log2" | jq -e '.findings | length > 0' >/dev/null && ok "the report follows" || not_ok "the report follows"
expect_rc "a descriptor open for reading only exits 2" 2 "$MESHPOL" audit -m "$M" -p "$P" -o /proc/self/fd/3 3<"$TMP/log2"
expect_out "read-only descriptor named" "descriptor 3 is open for reading only$"
e2e_done
