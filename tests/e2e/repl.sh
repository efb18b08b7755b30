#!/usr/bin/env bash
# tests/e2e/repl.sh: `meshpol repl` driven through stdin, as scripts use it: each session
# tests/data/repl/NAME.txt runs through the shell and its output (stdout and stderr together)
# must equal NAME.expected, after hashes and times are masked. The sessions use the lab mesh
# and bundle beside them, except acceptance.txt: the example mesh and bundle of the README.
#
# After a deliberate change of output: REPL_UPDATE=1 bash tests/e2e/repl.sh rewrites the
# .expected files; read the diff before committing it.
. "$(dirname "$0")/lib.sh"
export MESHPOL_STDLIB="$PWD/stdlib" NO_COLOR=1 SOURCE_DATE_EPOCH=1764115200
D=tests/data/repl
LAB=(-m "$D/mesh" -p "$D/bundle")

# Masks what changes from run to run or with the engine's file formats: hashes and timings.
normalize() {
	sed -E -e 's/sha256 [0-9a-f]{12,64}/sha256 <sha>/g' \
		-e 's/"sha256": "[0-9a-f]{64}"/"sha256": "<sha>"/g' \
		-e 's/sha256 = "[0-9a-f]{64}"/sha256 = "<sha>"/g' \
		-e 's/model [0-9a-f]{12}  /model <sha>  /g' \
		-e 's/\(([a-z]+) in [0-9.]+ (us|ms|s)\)/(\1 in <time>)/g' \
		-e "s#$TMP#<tmp>#g"
}

# session NAME RC [ARGS...]: runs $D/NAME.txt through `meshpol repl ARGS`; the output must
# match $D/NAME.expected and the exit code RC.
session() {
	local name=$1 want=$2
	shift 2
	"$MESHPOL" repl "$@" <"$D/$name.txt" >"$TMP/$name.raw" 2>&1
	local rc=$?
	normalize <"$TMP/$name.raw" >"$TMP/$name.out"
	if [ -n "${REPL_UPDATE:-}" ]; then
		cp "$TMP/$name.out" "$D/$name.expected"
	fi
	if diff -u "$D/$name.expected" "$TMP/$name.out" >"$TMP/$name.diff"; then
		ok "session $name: output as expected"
	else
		not_ok "session $name: output as expected" "$(head -60 "$TMP/$name.diff")"
	fi
	if [ "$rc" -eq "$want" ]; then
		ok "session $name: exit $want"
	else
		not_ok "session $name: exit $want" "exit $rc"
	fi
}

session decide 1 "${LAB[@]}"       # compact and JSON requests, every effect, input errors
session why 1 "${LAB[@]}"          # explanations: not permitted, forbidden, a role, a when
session lua 1 "${LAB[@]}"          # values, tables, multi-line chunks, errors with position
session shell_rules 1 "${LAB[@]}"  # rules defined in the shell, then decided against
session acceptance 0               # the README's story: why denied, fix the rule, decided again
session commands 1 "${LAB[@]}"     # every other command, and arity errors
session clean 0 "${LAB[@]}"        # a script where nothing fails exits 0
# Linkerd's booksapp (tests/data/import/linkerd): :why shows Linkerd's steps, the Server or the
# default server, the route, each authorization tried, and the deciding resource
"$MESHPOL" compile -o "$TMP/booksapp.mpm" tests/data/import/linkerd/booksapp >/dev/null
session linkerd 0 -m "$TMP/booksapp.mpm"
# App Mesh's TLS scenario (tests/data/import/appmesh): :why shows its stages, the caller's
# egress, the route, and TLS on either side
"$MESHPOL" compile -o "$TMP/appmesh-tls.mpm" tests/data/import/appmesh/tls.yaml >/dev/null
session appmesh 0 -m "$TMP/appmesh-tls.mpm"
# Kuma's from form (tests/data/import/kuma, scenario from-kind): :why shows the dataplane
# inbound, then every from[] entry in Kuma's order, the last matching one deciding
K=tests/data/import/kuma
"$MESHPOL" compile -o "$TMP/kuma.mpm" $K/k8s-apps.yaml $K/mesh-mtls.yaml $K/from-kind.yaml >/dev/null
session kuma 0 -m "$TMP/kuma.mpm"

# :why names the key of a two-key `from` that failed, and the one that matched
run_cmd "$MESHPOL" repl -m examples/acme -p policies <<'EOF'
:decide shop-us/storefront -> shop/recommendations GET /product/1/related
:why
:decide shop/cart -> shop/recommendations GET /product/1/related
:why
EOF
expect_out ":why: the failing key of two" "why not: the caller's namespace is not one of the rule's \(every key of the rule's \`from\` must match: 2 here\)"
expect_out ":why: the key that matched before it" "why not: the caller lacks a label the rule requires; its namespace matched \(every key"

# :who-can lists the callers an allow admits but a deny or residency keeps out
run_cmd "$MESHPOL" repl -m examples/acme -p policies <<'EOF'
:who-can identity/accounts POST /acme.identity.v1.Accounts/Get
:format json
:who-can identity/accounts POST /acme.identity.v1.Accounts/Get
EOF
expect_out ":who-can: blocked callers" "^an allow rule admits 2 more, but a deny, residency or traffic rule forbids them:$"
expect_out ":who-can: with what forbids them" "^  identity/auth +spiffe://acme.io/ns/identity/sa/auth +deny residency.gdpr 'pii-stays-in-eu'$"
expect_out ":who-can: JSON's blocked" '"forbidden_by": "deny residency.gdpr '"'"'pii-stays-in-eu'"'"'"'

# :session save into the bundle: the file becomes the bundle's and the session empties, so the
# next reload loads it once; a session that replaces a bundle rule is not saved there
cp -r policies "$TMP/sp"
sed -i "s#^model: .*#model: $PWD/examples/acme#" "$TMP/sp/bundle.yaml"
run_cmd "$MESHPOL" repl -p "$TMP/sp" <<EOF
allow "cart-reads" { service = "shop/cart", methods = { "GET" }, from = { namespaces = { "shop" } } }
:session save $TMP/sp/rbac/mine.lua
:session
:reload
allow "cart-writes" { service = "shop/cart", methods = { "PUT" }, from = { namespaces = { "shop" } } }
:session save $TMP/sp/rbac/mine2.lua
:reload
allow "gpu-services-data-team-only" { namespace = "data", methods = { "POST" }, from = { namespaces = { "shop" } } }
:session save $TMP/sp/rbac/mine3.lua
:session save $TMP/outside.lua
:reload
EOF
expect_out ":session save into the bundle: said" "^wrote $TMP/sp/rbac/mine.lua into the bundle $TMP/sp: its declarations load from there now, and the session is empty$"
expect_out "... the session is empty" "^the session declares nothing yet"
[ "$(grep -c '^reloaded' <<<"$OUT")" = 3 ] && ! grep -q "duplicate policy" <<<"$OUT$ERR" && ok "... every reload after it works" || not_ok "reloads after :session save" "$OUT" "$ERR"
expect_out "... twice" "^wrote $TMP/sp/rbac/mine2.lua into the bundle"
expect_out "a replacement is not saved into the bundle" ":session: save into the bundle: the session replaces rbac.data's allow 'gpu-services-data-team-only' at $TMP/sp/rbac/data.lua:48, which a file of the bundle cannot do"
[ ! -e "$TMP/sp/rbac/mine3.lua" ] && ok "... and no file is left" || not_ok "... no file left"
expect_out "... but is outside it" "^wrote $TMP/outside.lua$"
"$MESHPOL" check "$TMP/sp" >/dev/null 2>&1 && ok "the bundle with the saved files checks" || not_ok "the bundle with the saved files checks"

# The model comes from the bundle's manifest when -m is not given.
run_cmd sh -c "echo ':decide checkout -> payments POST /v1/charge' | \"$MESHPOL\" repl -p $D/bundle"
[ "$RC" -eq 0 ] && ok "the manifest names the model" || not_ok "the manifest names the model" "$OUT" "$ERR"
expect_out "manifest model: decided" '^ALLOW allowed: shop/checkout -> billing/payments'

# A script whose model or bundle does not load stops at once with exit 2.
run_cmd sh -c "echo '1' | \"$MESHPOL\" repl -m $D/nosuch -p $D/bundle"
[ "$RC" -eq 2 ] && ok "a model that does not load: exit 2" || not_ok "a model that does not load: exit 2" "exit $RC"
expect_out "the model's error is shown" "$D/nosuch"
expect_rc "a stray argument is a usage error" 2 "$MESHPOL" repl "${LAB[@]}" extra
expect_out "usage line" 'usage: meshpol repl \[-m MODEL\] \[-p POLICY_DIR\]'

# A bundle that does not load is refused and the previous one kept.
cp -r "$D/bundle" "$TMP/broken"
printf 'allow "x" { service = "shop/nope" }\n' >>"$TMP/broken/shop.lua"
run_cmd sh -c "printf ':load $TMP/broken\n:policies\n' | \"$MESHPOL\" repl ${LAB[*]}"
expect_out "broken bundle: the error names file:line" "$TMP/broken/shop.lua:[0-9]+: allow 'x'"
expect_out "broken bundle: the previous one is kept" ':load: 1 error; kept the previous snapshot'
expect_out "broken bundle: still the old one" 'bundle lab 3, default deny'

# A session can be saved as a policy file, which then loads as part of a bundle.
cp -r "$D/bundle" "$TMP/grown"
run_cmd sh -c "printf 'allow \"web-scores\" { service = \"ml/scorer\", from = { services = { \"shop/web\" } } }\n:session save $TMP/grown/shell.lua\n' | \"$MESHPOL\" repl ${LAB[*]}"
[ "$RC" -eq 0 ] && ok "session saved" || not_ok "session saved" "$OUT" "$ERR"
expect_rc "the saved session checks as part of the bundle" 0 "$MESHPOL" check -m "$D/mesh" "$TMP/grown"
run_cmd sh -c "echo ':decide web -> scorer POST /score' | \"$MESHPOL\" repl -m $D/mesh -p $TMP/grown"
expect_out "the saved rule decides" "allow shell 0.0.0 rule 'web-scores' at $TMP/grown/shell.lua:2"

# A bundle that has a shell.lua of its own: the session's file gets another name.
run_cmd sh -c "printf 'deny \"d\" { service = \"ml/scorer\" }\n:decide web -> scorer GET /\n' | \"$MESHPOL\" repl -m $D/mesh -p $TMP/grown"
expect_out "a bundle's own shell.lua is kept apart" "deny shell-session 0.0.0 rule 'd' at shell-session.lua:2"

# A session snapshot is built in memory: while the shell runs with declarations, nothing is
# written under TMPDIR (it used to hold a copy of the bundle and the model).
mkdir "$TMP/tmpdir"
mkfifo "$TMP/tfifo"
TMPDIR="$TMP/tmpdir" "$MESHPOL" repl "${LAB[@]}" <"$TMP/tfifo" >"$TMP/tmpdir.out" 2>&1 &
TREPL=$!
exec 8>"$TMP/tfifo"
printf 'deny "d" { service = "ml/scorer" }\n:decide web -> scorer GET /\n' >&8
for _ in $(seq 1 100); do
	grep -q '^DENY' "$TMP/tmpdir.out" && break
	sleep 0.1
done
grep -q "^  deny shell 0.0.0 rule 'd' at shell.lua:2" "$TMP/tmpdir.out" &&
	ok "a session decides (TMPDIR set)" || not_ok "a session decides (TMPDIR set)" "$(cat "$TMP/tmpdir.out")"
[ -z "$(ls -A "$TMP/tmpdir")" ] && ok "a session writes nothing under TMPDIR" ||
	not_ok "a session writes nothing under TMPDIR" "$(ls -AR "$TMP/tmpdir")"
exec 8>&-
wait "$TREPL"

# Lua that never ends is stopped by Ctrl-C, not by a budget: a script can run long loops.
run_cmd sh -c "echo 'n = 0 for i = 1, 3e6 do n = n + 1 end return n' | \"$MESHPOL\" repl ${LAB[*]}"
expect_out "no instruction budget in the shell" '^3000000$'

# :watch in a script (the shell polls stdin and the watch together): an edit in place, then the
# whole bundle directory replaced by a new one renamed over it, which the watch follows.
cp -r "$D/bundle" "$TMP/wb"
mkfifo "$TMP/wfifo"
"$MESHPOL" repl -m "$D/mesh" -p "$TMP/wb" <"$TMP/wfifo" >"$TMP/watch.out" 2>&1 &
WREPL=$!
exec 7>"$TMP/wfifo"
seen() { # COUNT REGEX: until the shell's output has COUNT lines matching REGEX (10 s at most)
	for _ in $(seq 1 100); do
		[ "$(grep -Ec -- "$2" "$TMP/watch.out")" -ge "$1" ] && return 0
		sleep 0.1
	done
	return 1
}
echo ':watch on' >&7
seen 1 '^watching ' && ok ":watch on in a script" || not_ok ":watch on in a script" "$(cat "$TMP/watch.out")"
printf 'allow "web-scores" { service = "ml/scorer", from = { services = { "shop/web" } } }\n' >>"$TMP/wb/shop.lua"
seen 1 '^watch: reloaded in [0-9.]+ ms: lab 3, 2 policies, 9 rules$' && grep -q "^watch: changed: $TMP/wb/shop.lua$" "$TMP/watch.out" &&
	ok ":watch: an edit in place reloads" || not_ok ":watch: an edit in place reloads" "$(cat "$TMP/watch.out")"
cp -r "$TMP/wb" "$TMP/wb.new"
printf 'deny "no-scores" { service = "ml/scorer" }\n' >>"$TMP/wb.new/shop.lua"
mv -T "$TMP/wb" "$TMP/wb.old" && mv -T "$TMP/wb.new" "$TMP/wb"
seen 1 '^watch: reloaded in [0-9.]+ ms: lab 3, 2 policies, 10 rules$' && grep -q "^watch: changed: $TMP/wb$" "$TMP/watch.out" &&
	ok ":watch: a directory renamed over the bundle reloads" || not_ok ":watch: a directory renamed over the bundle reloads" "$(cat "$TMP/watch.out")"
printf -- '-- the new tree: watched\n' >>"$TMP/wb/shop.lua"
seen 3 '^watch: reloaded in ' && ok ":watch: the new directory is watched" || not_ok ":watch: the new directory is watched" "$(cat "$TMP/watch.out")"
echo ':decide web -> scorer POST /score' >&7
exec 7>&-
wait "$WREPL"
grep -q '^DENY forbidden: shop/web -> ml/scorer' "$TMP/watch.out" &&
	ok ":watch: decisions use the new directory" || not_ok ":watch: decisions use the new directory" "$(cat "$TMP/watch.out")"

e2e_done
