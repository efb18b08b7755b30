#!/usr/bin/env bash
# tests/e2e/server_reload.sh: hot reload under load. Clients keep asking while the bundle is
# replaced by a changed copy (a rule removed: decisions switch at the swap) and then by a broken
# one (refused: the previous snapshot keeps serving, /health says why); no request fails. Then
# the same through --watch, with files edited in place and a directory renamed over another.
. "$(dirname "$0")/server_lib.sh"

# three versions of the unit bundle: v1 as is, v2 without web-charges, v3 broken
cp -r "$UNIT" "$TMP/v1"
cp -r "$UNIT" "$TMP/v2"
python3 - "$TMP/v2/rbac.lua" <<'PY'
import re, sys
p = sys.argv[1]
s = open(p).read()
s2 = re.sub(r'allow "web-charges" \{.*?\n\}\n', "", s, flags=re.S)
assert s2 != s
open(p, "w").write(s2)
PY
cp -r "$TMP/v2" "$TMP/v3"
printf 'allow "oops" {\n  service = "billing/pay",\n' >>"$TMP/v3/rbac.lua"
ln -s v1 "$TMP/live"
swap() { ln -s "$1" "$TMP/live.new" && mv -T "$TMP/live.new" "$TMP/live"; } # atomic

APORT=$(free_port)
ADMIN=http://127.0.0.1:$APORT
start_server reload -m "$UNIT/mesh.yaml" -p "$TMP/live" --workers 2 --admin-listen "127.0.0.1:$APORT" \
	--decision-log "$TMP/decisions.jsonl" || { not_ok "server starts"; e2e_done; }
sha() { "${CURL[@]}" "$BASE/health" | jq -r .bundle.sha256; }
sha1=$(sha)

cat >"$TMP/charge.json" <<'JSON'
[{"method": "POST", "path": "/v1/check/v1/charge",
  "headers": {"Host": "pay.billing", "x-forwarded-client-cert": "By=spiffe://t/ns/billing/sa/pay;URI=spiffe://t/ns/shop/sa/web"}},
 {"method": "POST", "path": "/v1/decide",
  "body": {"source": {"principal": "spiffe://t/ns/shop/sa/web"}, "destination": {"service": "billing/pay"},
           "request": {"method": "POST", "path": "/v1/charge"}}}]
JSON
python3 "$TMP/client.py" "$PORT" "$TMP/charge.json" 4 "$TMP/stop" "$TMP/trace" >"$TMP/summary" &
CLIENT=$!
# v1 decides some of the client's requests before the swap: wait for them rather than for a
# fixed time, which a busy machine outlasts before the client has sent anything
decided() { "${CURL[@]}" "$BASE/metrics" | awk '$1 ~ /^meshpol_decisions_total[{]/ { s += $2 } END { print s + 0 }'; }
for i in $(seq 1 200); do [ "$(decided)" -ge 40 ] && break; sleep 0.05; done

# v2 by SIGHUP
swap v2
kill -HUP "$SRV_PID"
for i in $(seq 1 50); do [ "$(sha)" != "$sha1" ] && break; sleep 0.1; done
sha2=$(sha)
[ "$sha2" != "$sha1" ] && ok "SIGHUP: the changed bundle is serving" || not_ok "SIGHUP reload" "$(tail -5 "$TMP/reload.log")"
sleep 0.5

# v3 by POST /v1/reload: refused
swap v3
check "reload API: a broken bundle is refused (422)" 422 -X POST "$ADMIN/v1/reload"
jq_ok "reload API: the errors name file and line" '.status == "failed" and (.errors[0].file | test("rbac.lua$")) and .errors[0].line > 0'
check "health: still ready after a refused reload" 200 "$BASE/health"
printf '%s' "$BODY" | jq -e --arg s "$sha2" '.status == "ok" and .bundle.sha256 == $s and .reloads.ok == 1 and .reloads.failed == 1 and .reloads.last.status == "failed" and .reloads.last.trigger == "api" and (.reloads.last_failure.errors | length) > 0' >/dev/null &&
	ok "health: shows why the last reload failed" || not_ok "health after a failed reload" "$BODY"
grep -q 'reload (api) refused, still serving the previous snapshot' "$TMP/reload.log" && ok "the refusal is logged on stderr" ||
	not_ok "refusal on stderr" "$(tail -5 "$TMP/reload.log")"
sleep 0.5
touch "$TMP/stop"
wait "$CLIENT"
summary=$(cat "$TMP/summary")
echo "$summary" | jq -e '.errors == 0 and .sent > 50 and ((.status | keys) - ["200", "403"] | length) == 0' >/dev/null &&
	ok "under load: no request failed ($(echo "$summary" | jq .sent) requests)" || not_ok "no request failed" "$summary"
# one client's own requests, in order: allowed until the swap, denied from then on
python3 - "$TMP/trace" <<'PY' && ok "decisions switch at the swap, once and for good" || not_ok "switch at the swap" "$(uniq -c "$TMP/trace" | head)"
import sys
seq = ["allow" if l.split()[1] == "True" else "deny" for l in open(sys.argv[1]) if l.strip()]
first_deny = seq.index("deny") if "deny" in seq else len(seq)
sys.exit(0 if first_deny > 0 and first_deny < len(seq) and "allow" not in seq[first_deny:] else 1)
PY
[ "$(metric 'meshpol_reloads_total{result="ok"}')" = 1 ] && [ "$(metric 'meshpol_reloads_total{result="failed"}')" = 1 ] &&
	ok "metrics: one reload ok, one failed" || not_ok "reload metrics" "$("${CURL[@]}" "$BASE/metrics" | grep reloads)"
expect_stop reload
expect_rc "the decision log verifies" 0 "$MESHPOL" verify "$TMP/decisions.jsonl"
# every decision cites the snapshot that made it: v1 allowed, v2 denied
jq -r 'select(.type == "decision") | "\(.decision.bundle.sha256) \(.decision.allow)"' "$TMP/decisions.jsonl" | sort | uniq -c >"$TMP/by_sha"
grep -q " $sha1 true" "$TMP/by_sha" && grep -q " $sha2 false" "$TMP/by_sha" && [ "$(wc -l <"$TMP/by_sha")" = 2 ] &&
	ok "decision log: v1 decisions allow, v2 decisions deny, each citing its bundle" || not_ok "decisions by bundle" "$(cat "$TMP/by_sha")"
grep -q '"type":"reload"' "$TMP/decisions.jsonl" && ok "decision log: the reload is recorded" || not_ok "reload record"

# --- --watch ---------------------------------------------------------------------------------
rm -f "$TMP/stop"
cp -r "$UNIT" "$TMP/w"
start_server watch -m "$UNIT/mesh.yaml" -p "$TMP/w" --workers 2 --watch || not_ok "watch server starts"
REQ='{"source": {"principal": "spiffe://t/ns/shop/sa/web"}, "destination": {"service": "billing/pay"}, "request": {"method": "POST", "path": "/v1/charge"}}'
allowed() { "${CURL[@]}" -X POST --data "$REQ" "$BASE/v1/decide" | jq -r .allow; }
python3 "$TMP/client.py" "$PORT" "$TMP/charge.json" 2 "$TMP/stop" >"$TMP/wsummary" &
CLIENT=$!
[ "$(allowed)" = true ] && ok "watch: allowed before" || not_ok "watch: allowed before"
cp "$TMP/v2/rbac.lua" "$TMP/w/rbac.lua" # an edit in place
for i in $(seq 1 50); do [ "$(allowed)" = false ] && break; sleep 0.1; done
[ "$(allowed)" = false ] && ok "watch: an edited file is picked up" || not_ok "watch: edit" "$(tail -5 "$TMP/watch.log")"
cp "$TMP/v3/rbac.lua" "$TMP/w/rbac.lua"
for i in $(seq 1 50); do
	[ "$("${CURL[@]}" "$BASE/health" | jq .reloads.failed)" -ge 1 ] && break
	sleep 0.1
done
check "watch: a broken edit is refused, still serving" 200 "$BASE/health"
jq_ok "watch: /health says why" '.reloads.failed >= 1 and .reloads.last.trigger == "watch" and .reloads.last.status == "failed"'
[ "$(allowed)" = false ] && ok "watch: the previous snapshot keeps deciding" || not_ok "watch: previous snapshot"
rm -rf "$TMP/w.new" && cp -r "$TMP/v1" "$TMP/w.new"
mv -T "$TMP/w" "$TMP/w.old" && mv -T "$TMP/w.new" "$TMP/w" # the whole directory replaced
for i in $(seq 1 50); do [ "$(allowed)" = true ] && break; sleep 0.1; done
[ "$(allowed)" = true ] && ok "watch: a directory renamed into place is picked up" || not_ok "watch: rename" "$(tail -5 "$TMP/watch.log")"
echo '-- touched' >>"$TMP/w/traffic.lua"
for i in $(seq 1 50); do
	[ "$("${CURL[@]}" "$BASE/health" | jq .reloads.ok)" -ge 3 ] && break
	sleep 0.1
done
[ "$("${CURL[@]}" "$BASE/health" | jq .reloads.ok)" -ge 3 ] && ok "watch: still watching the new directory" || not_ok "watch: new directory"
touch "$TMP/stop"
wait "$CLIENT"
jq -e '.errors == 0 and ((.status | keys) - ["200", "403"] | length) == 0' "$TMP/wsummary" >/dev/null &&
	ok "watch: no request failed during the reloads" || not_ok "watch: requests" "$(cat "$TMP/wsummary")"
expect_stop watch

# --watch and a symbolic link: the bundle is a link beside the model (one parent directory for
# both paths), pointed at another version as deploy tools do it (a new link renamed over the old)
mkdir "$TMP/s" && cp "$UNIT/mesh.yaml" "$TMP/s/mesh.yaml" && cp -r "$TMP/v1" "$TMP/s/r1" && cp -r "$TMP/v2" "$TMP/s/r2"
ln -s r1 "$TMP/s/live"
start_server swatch -m "$TMP/s/mesh.yaml" -p "$TMP/s/live" --workers 2 --watch || not_ok "link watch server starts"
[ "$(allowed)" = true ] && ok "watch (link): allowed before" || not_ok "watch (link): allowed before"
ln -s r2 "$TMP/s/live.new" && mv -T "$TMP/s/live.new" "$TMP/s/live"
for i in $(seq 1 50); do [ "$(allowed)" = false ] && break; sleep 0.1; done
[ "$(allowed)" = false ] && ok "watch: a symbolic link pointed elsewhere is picked up" || not_ok "watch: link swap" "$(tail -5 "$TMP/swatch.log")"
cp "$TMP/v1/rbac.lua" "$TMP/s/r2/rbac.lua" # an edit in the link's new target
for i in $(seq 1 50); do [ "$(allowed)" = true ] && break; sleep 0.1; done
[ "$(allowed)" = true ] && ok "watch: the link's new target is watched" || not_ok "watch: new target" "$(tail -5 "$TMP/swatch.log")"
expect_stop swatch
e2e_done
