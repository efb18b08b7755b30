# tests/e2e/diff.sh: `meshpol diff`, `meshpol replay` and `serve --shadow-bundle`
# (docs/bundles-diff.md): the reference bundle against a copy with one rule changed, both ways,
# and a change that alters nothing; Git revisions in a temporary repository; a mesh change;
# replay's hostile logs; and shadow and replay agreeing on the same traffic.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/server_lib.sh"

M=examples/acme
cp -r policies "$TMP/one"
# no-refunds-from-canary narrowed to /v1/refunds: the canary may refund by id again
sed -i 's|"/v1/refunds", "/v1/refunds/{\*}"|"/v1/refunds"|' "$TMP/one/rbac/billing.lua"
cp -r policies "$TMP/same"
sed -i 's|message = "the checkout canary may not issue refunds"|message = "no refunds from the canary"|; s|version = "2.4.0"|version = "2.4.1"|' "$TMP/same/rbac/billing.lua"

# --- one rule changed: exactly its decisions, both ways ---
run_cmd "$MESHPOL" diff -m $M --base policies --head "$TMP/one" --format json -o "$TMP/fwd.json"
[ "$RC" -eq 0 ] && ok "diff base->head runs" || not_ok "diff base->head runs" "$ERR"
run_cmd "$MESHPOL" diff -m $M --base "$TMP/one" --head policies --format json -o "$TMP/back.json"
[ "$RC" -eq 0 ] && ok "diff head->base runs" || not_ok "diff head->base runs" "$ERR"
n=$(jq '.changed' "$TMP/fwd.json")
[ "$n" -gt 0 ] && [ "$n" = "$(jq '.changes | length' "$TMP/fwd.json")" ] &&
	ok "one change entry per changed class ($n)" || not_ok "one change entry per changed class" "$n"
[ "$n" = "$(jq '.changed' "$TMP/back.json")" ] && ok "the same classes change both ways" ||
	not_ok "the same classes change both ways" "$n vs $(jq '.changed' "$TMP/back.json")"
# every change is the changed rule's: dropped going forward, added going back; nothing else
bad=$(jq '[.changes[] | select((.base.rules | index("rbac.billing/no-refunds-from-canary")) == null
	or .destination != "billing/payments" or .base.effect != "forbidden")] | length' "$TMP/fwd.json")
[ "$bad" = 0 ] && ok "forward: only no-refunds-from-canary's decisions" || not_ok "forward: only the rule's decisions" "$bad"
bad=$(jq '[.changes[] | select((.head.rules | index("rbac.billing/no-refunds-from-canary")) == null
	or .head.effect != "forbidden")] | length' "$TMP/back.json")
[ "$bad" = 0 ] && ok "back: only no-refunds-from-canary's decisions" || not_ok "back: only the rule's decisions" "$bad"
[ "$(jq -c '[.changes[].class] | sort' "$TMP/fwd.json")" = "$(jq -c '[.changes[].class] | sort' "$TMP/back.json")" ] &&
	ok "the same class keys both ways" || not_ok "the same class keys both ways"
# the rule's own paths: only requests under /v1/refunds/ from the canary
bad=$(jq '[.changes[] | select(((.input.request.path // "") | startswith("/v1/refunds/") | not)
	or .input.source.principal != "spiffe://acme.io/ns/shop/sa/checkout-v2")] | length' "$TMP/fwd.json")
[ "$bad" = 0 ] && ok "changes are the canary's requests under /v1/refunds/" || not_ok "changes are the canary's" "$bad"
# each change's input, decided by `meshpol decide` under each bundle, gives the recorded effects
jq -c '.changes[0].input' "$TMP/fwd.json" >"$TMP/in.json"
run_cmd "$MESHPOL" decide -m $M -p policies "$TMP/in.json"
b=$(printf '%s' "$OUT" | jq -r .effect)
run_cmd "$MESHPOL" decide -m $M -p "$TMP/one" "$TMP/in.json"
h=$(printf '%s' "$OUT" | jq -r .effect)
[ "$b/$h" = "$(jq -r '.changes[0] | .base.effect + "/" + .head.effect' "$TMP/fwd.json")" ] &&
	ok "a change's input decides as reported ($b -> $h)" || not_ok "a change's input decides as reported" "$b/$h"

# --- nothing altered; --fail-on-change ---
expect_rc "a change that alters nothing: exit 0 with --fail-on-change" 0 "$MESHPOL" diff -m $M --base policies --head "$TMP/same" --fail-on-change
expect_out "and it says so" "[0-9]+ decisions compared, 0 changed"
expect_rc "a change that alters decisions: exit 1 with --fail-on-change" 1 "$MESHPOL" diff -m $M --base policies --head "$TMP/one" --fail-on-change
expect_rc "-m defaults to the head's manifest model" 0 "$MESHPOL" diff --base "$TMP/one" --head policies --format json
[ "$(printf '%s' "$OUT" | jq .changed)" = "$n" ] && ok "the same changes with the manifest's model" || not_ok "the manifest's model"
run_cmd "$MESHPOL" diff -m $M --base policies --head "$TMP/one" --format markdown
expect_out "markdown: a pull-request comment" '^\| billing/payments \| forbidden → allowed \| '

# --- Git revisions, read from the object database ---
R=$TMP/repo
git init -q "$R" && cp -r policies "$R/policies" && cp -r examples "$R/examples"
git -C "$R" add . && git -C "$R" -c user.name=t -c user.email=t@t commit -qm base
cp "$TMP/one/rbac/billing.lua" "$R/policies/rbac/billing.lua"
git -C "$R" -c user.name=t -c user.email=t@t commit -qam head
echo "-- uncommitted" >>"$R/policies/rbac/billing.lua"
run_cmd bash -c "cd '$R' && '$MESHPOL' diff -m examples/acme --base HEAD~1:policies --head HEAD:policies --format json"
[ "$RC" = 0 ] && [ "$(printf '%s' "$OUT" | jq .changed)" = "$n" ] && ok "git: HEAD~1:policies -> HEAD:policies finds the same changes" ||
	not_ok "git: HEAD~1 -> HEAD" "$RC" "$ERR"
[ "$(printf '%s' "$OUT" | jq -r .base.bundle.sha256)" = "$(jq -r .base.bundle.sha256 "$TMP/fwd.json")" ] &&
	ok "git: a revision's bundle has the directory's hash" || not_ok "git: the directory's hash"
run_cmd bash -c "cd '$R/policies' && '$MESHPOL' diff -m ../examples/acme --base HEAD~1:./ --head HEAD:./ --format json"
[ "$RC" = 0 ] && [ "$(printf '%s' "$OUT" | jq .changed)" = "$n" ] && ok "git: ./ is relative to the current directory" || not_ok "git: ./" "$ERR"
run_cmd bash -c "cd '$R' && '$MESHPOL' diff -m examples/acme --base-rev HEAD --head policies --format json"
[ "$RC" = 0 ] && [ "$(printf '%s' "$OUT" | jq .changed)" = 0 ] && [ "$(printf '%s' "$OUT" | jq -r .base.source)" = "HEAD:policies" ] &&
	ok "git: --base-rev HEAD against the work tree (an uncommitted comment changes nothing)" || not_ok "git: --base-rev" "$OUT" "$ERR"
expect_rc "git: no such revision: exit 2" 2 bash -c "cd '$R' && '$MESHPOL' diff -m examples/acme --base HEAD~7:policies --head policies"
expect_out "git: the error names the revision" "HEAD~7:policies: no revision 'HEAD~7' in the repository"
expect_rc "git: no such path: exit 2" 2 bash -c "cd '$R' && '$MESHPOL' diff -m examples/acme --base HEAD:nope --head policies"
expect_out "git: the error names the path" "HEAD:nope: revision 'HEAD' has no 'nope'"
expect_rc "git: a file, not a directory: exit 2" 2 bash -c "cd '$R' && '$MESHPOL' diff -m examples/acme --base HEAD:policies/bundle.yaml --head policies"
expect_out "git: says it is a file" "is a file in revision 'HEAD', not a bundle directory"
ln -s ../README.md "$R/policies/linked.md" && git -C "$R" add policies/linked.md && git -C "$R" -c user.name=t -c user.email=t@t commit -qm link
expect_rc "git: a symbolic link in the revision: exit 2" 2 bash -c "cd '$R' && '$MESHPOL' diff -m examples/acme --base HEAD:policies --head policies"
expect_out "git: names the link" "HEAD:policies: linked.md: a symbolic link in the revision, not read"
expect_rc "outside a repository: exit 2" 2 bash -c "cd / && '$MESHPOL' diff -m '$PWD/$M' --base HEAD:policies --head '$PWD/policies'"
expect_out "outside a repository: says so" "not in a Git repository"

# --- a mesh change: two models, one bundle ---
cp -r $M "$TMP/mesh2"
# the route from checkout-v2 to payments goes: declared-routes-only now forbids the canary
python3 - "$TMP/mesh2/routes.yaml" <<'EOF'
import sys
p = sys.argv[1]
docs = open(p).read().split("\n---\n")
keep = [d for d in docs if "name: checkout-v2-payments" not in d]
assert len(keep) == len(docs) - 1
open(p, "w").write("\n---\n".join(keep))
EOF
run_cmd "$MESHPOL" diff -p policies --base-model $M --head-model "$TMP/mesh2" --format json
[ "$RC" = 0 ] && ok "mesh change: runs" || not_ok "mesh change: runs" "$ERR"
bad=$(printf '%s' "$OUT" | jq '[.changes[] | select(.head.rules | index("traffic.routes/declared-routes-only") == null)] | length')
[ "$(printf '%s' "$OUT" | jq .changed)" -gt 0 ] && [ "$bad" = 0 ] &&
	ok "mesh change: the decisions the removed route governed, now declared-routes-only's" || not_ok "mesh change" "$bad"
expect_rc "mesh change, the same model: nothing changes" 0 "$MESHPOL" diff -p policies --base-model $M --head-model $M --fail-on-change

# --- usage ---
expect_rc "usage: both modes at once" 2 "$MESHPOL" diff -m $M --base policies --head policies --base-model $M
expect_rc "usage: --base and --base-rev" 2 "$MESHPOL" diff -m $M --base policies --base-rev HEAD --head policies
expect_rc "usage: an unknown format" 2 "$MESHPOL" diff -m $M --base policies --head policies --format yaml
expect_out "usage: names the formats" "text, json or markdown"
expect_rc "a bundle that does not exist: exit 2" 2 "$MESHPOL" diff -m $M --base /nonexistent --head policies
expect_out "and says what a bundle is" "/nonexistent: no such directory \(a bundle is a directory, or a Git revision REV:PATH\)"

# --- replay: hostile logs ---
printf '%s\n' '{"seq":1,"type":"start","prev":"0"}' '{"seq":2,"type":"decision","input":{"destination":{"service":"payments","namespace":"billing"}},"decision":{"effect":"not_permitted","reasons":[]}}' >"$TMP/ok.jsonl"
expect_rc "replay: a log of one decision" 0 "$MESHPOL" replay --decision-log "$TMP/ok.jsonl" -p policies -m $M
expect_out "replay: counts it" "1 decisions compared"
head -c -1 "$TMP/ok.jsonl" >"$TMP/torn.jsonl"
expect_rc "replay: a torn last line: exit 2" 2 "$MESHPOL" replay --decision-log "$TMP/torn.jsonl" -p policies -m $M
expect_out "replay: names the torn line" "torn.jsonl:2: the last line is torn"
printf '%s\n' '{"seq":1,"type":"start"}' '{"seq":2,"type":"decision","input":{' >"$TMP/bad.jsonl"
expect_rc "replay: a line that is not JSON: exit 2" 2 "$MESHPOL" replay --decision-log "$TMP/bad.jsonl" -p policies -m $M
expect_out "replay: names line and column" "bad.jsonl:2:[0-9]+: not a JSON record"
printf '%s\n' '{"seq":1,"type":"decision","input":{"destination":{}},"decision":{"effect":"allowed"}}' >"$TMP/noin.jsonl"
expect_rc "replay: an input that does not read: exit 2" 2 "$MESHPOL" replay --decision-log "$TMP/noin.jsonl" -p policies -m $M
expect_out "replay: names the field" "noin.jsonl:1: input: destination.service: missing"
printf '%s\n' '[1,2]' >"$TMP/arr.jsonl"
expect_rc "replay: a record that is not an object: exit 2" 2 "$MESHPOL" replay --decision-log "$TMP/arr.jsonl" -p policies -m $M
expect_out "replay: says what a record is" "arr.jsonl:1: not a decision log record"
printf '%s\n' '{"seq":1,"type":"decision","input":{"destination":{"service":"x"}}}' >"$TMP/nodec.jsonl"
expect_rc "replay: a decision record without its decision: exit 2" 2 "$MESHPOL" replay --decision-log "$TMP/nodec.jsonl" -p policies -m $M
expect_rc "replay: no such log: exit 2" 2 "$MESHPOL" replay --decision-log "$TMP/none.jsonl" -p policies -m $M

# --- shadow and replay agree on the same traffic ---
start_server shadow -m $M -p policies --shadow-bundle "$TMP/one" --decision-log "$TMP/log.jsonl" --workers 2
decide() { # PRINCIPAL METHOD PATH
	curl -s -o /dev/null -XPOST "$BASE/v1/decide" -d "{\"source\":{\"principal\":\"spiffe://acme.io/ns/$1\"},\"destination\":{\"service\":\"payments\",\"namespace\":\"billing\"},\"request\":{\"method\":\"$2\",\"path\":\"$3\"}}"
}
for i in 1 2 3; do
	decide shop/sa/checkout-v2 POST /v1/refunds/ch_$i     # changes
	decide shop/sa/checkout-v2 POST /v1/refunds           # does not
	decide shop/sa/checkout POST /v1/refunds/ch_$i        # does not
	decide shop/sa/checkout-v2 GET /v1/charges/ch_$i      # does not
done
# the proxies' door too
curl -s -o /dev/null -H "Host: payments.billing" -H "x-forwarded-client-cert: URI=spiffe://acme.io/ns/shop/sa/checkout-v2" -XDELETE "$BASE/v1/check/v1/refunds/ch_9"
# refused by the front door (an escaped slash): no bundle decides it, the shadow neither
curl -s -o /dev/null -H "Host: payments.billing" -H "x-forwarded-client-cert: URI=spiffe://acme.io/ns/shop/sa/checkout-v2" "$BASE/v1/check/v1/refunds%2Fch_8"
metrics=$(curl -s "$BASE/metrics")
dis=$(printf '%s\n' "$metrics" | awk '/^meshpol_shadow_disagreements_total/ {s += $2} END {print s + 0}')
shadowed=$(printf '%s\n' "$metrics" | awk '/^meshpol_shadow_decisions_total/ {print $2}')
expect_stop shadow
[ "$shadowed" = 13 ] && ok "shadow: every request decided by the candidate too" || not_ok "shadow: decisions" "$shadowed"
[ "$dis" = 4 ] && ok "shadow: the candidate disagrees on the 4 changed requests" || not_ok "shadow: disagreements" "$dis"
recs=$(grep -c '"shadow":{"decision"' "$TMP/log.jsonl")
[ "$recs" = "$dis" ] && ok "shadow: one decision record with the candidate's decision per disagreement" || not_ok "shadow: records" "$recs"
[ "$(grep -c '"refused":true' "$TMP/log.jsonl")" = 1 ] && ok "shadow: the refused request's record says so" || not_ok "refused record"
run_cmd "$MESHPOL" verify "$TMP/log.jsonl"
[ "$RC" = 0 ] && ok "shadow: the log with shadow members verifies" || not_ok "shadow: verify" "$OUT" "$ERR"
run_cmd "$MESHPOL" replay --decision-log "$TMP/log.jsonl" -p "$TMP/one" -m $M --format json
[ "$RC" = 0 ] && [ "$(printf '%s' "$OUT" | jq .changed)" = "$dis" ] && [ "$(printf '%s' "$OUT" | jq .decided)" = 13 ] &&
	ok "replay of the log against the shadow bundle: the same $dis disagreements" || not_ok "replay agrees with shadow" "$OUT" "$ERR"
printf '%s' "$OUT" | jq -r '.notes[]' | grep -q "^1 decision records the server's front door refused" &&
	ok "replay: the refused record is left out, and said so" || not_ok "replay: refused left out" "$OUT"
[ "$(printf '%s' "$OUT" | jq -c '[.changes[].line] | sort')" = "$(grep -n '"shadow":{"decision"' "$TMP/log.jsonl" | cut -d: -f1 | jq -sc 'sort')" ] &&
	ok "replay: the same records as the shadow's" || not_ok "replay: the same records"
expect_rc "replay --fail-on-change: exit 1" 1 "$MESHPOL" replay --decision-log "$TMP/log.jsonl" -p "$TMP/one" -m $M --fail-on-change
expect_rc "replay against the serving bundle: nothing changes" 0 "$MESHPOL" replay --decision-log "$TMP/log.jsonl" -p policies -m $M --fail-on-change

# a reload rebuilds the candidate; one that does not load is dropped, the serving one untouched
cp -r "$TMP/one" "$TMP/cand"
start_server reload -m $M -p policies --shadow-bundle "$TMP/cand" --workers 1
sha() { curl -s "$BASE/metrics" | sed -n 's/^meshpol_shadow_info{.*bundle_sha256="\([0-9a-f]*\)"} 1$/\1/p'; }
before=$(sha)
cp policies/rbac/billing.lua "$TMP/cand/rbac/billing.lua"
kill -HUP "$SRV_PID"
for _ in $(seq 50); do [ "$(sha)" != "$before" ] && break; sleep 0.1; done
[ -n "$before" ] && [ "$(sha)" != "$before" ] && ok "reload: the shadow bundle is read again" || not_ok "reload: shadow rebuilt" "$before"
echo 'policy "broken" {' >"$TMP/cand/broken.lua"
kill -HUP "$SRV_PID"
for _ in $(seq 50); do curl -s "$BASE/metrics" | grep -q '^meshpol_shadow_loaded 0' && break; sleep 0.1; done
m=$(curl -s "$BASE/metrics")
printf '%s\n' "$m" | grep -q '^meshpol_shadow_loaded 0' && printf '%s\n' "$m" | grep -q '^meshpol_shadow_build_failures_total 1' &&
	ok "reload: a shadow bundle that does not load is dropped and counted" || not_ok "reload: broken shadow" "$(printf '%s' "$m" | grep shadow_)"
check "reload: still serving" 200 -XPOST "$BASE/v1/decide" -d '{"destination":{"service":"payments","namespace":"billing"}}'
expect_stop reload
grep -q "the shadow bundle did not load" "$TMP/reload.log" && ok "reload: says so on stderr" || not_ok "reload: stderr"

# a shadow bundle that does not load: the server refuses to start, naming it
run_cmd "$MESHPOL" serve -m $M -p policies --shadow-bundle /nonexistent --listen 127.0.0.1:0
[ "$RC" = 2 ] && ok "serve: a shadow bundle that does not load: exit 2" || not_ok "serve: bad shadow" "$RC"
expect_out "serve: names it" "/nonexistent: no such directory"

doc_examples docs/bundles-diff.md
exit $E2E_FAILED
