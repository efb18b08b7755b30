#!/usr/bin/env bash
# tests/e2e/compile.sh: `meshpol compile` as a user runs it: summaries, .mpm output, errors
# with file:line:col and exit codes.
. "$(dirname "$0")/lib.sh"

expect_rc "compile example exits 0" 0 "$MESHPOL" compile examples/acme
expect_out "summary counts and hash" '^5 clusters, 3 jurisdictions, 10 namespaces, 26 services, 35 routes, 5 externals, 7 certificates; sha256 [0-9a-f]{64}$'
hash=$(echo "$OUT" | sed 's/.*sha256 //')

expect_rc "compile -o writes a model" 0 "$MESHPOL" compile -o "$TMP/acme.mpm" examples/acme
expect_out "summary names the output" "sha256 $hash -> $TMP/acme.mpm"
[ -s "$TMP/acme.mpm" ] && ok "mpm file exists" || not_ok "mpm file exists"

# The model's hash covers the content and each file's name relative to its SOURCE argument
# (docs/mpm-format.md, "The model's hash"): one hash however the path is spelled, from any
# working directory, and for a copy elsewhere; the paths shown to users stay the ones given.
hash_of() { "$MESHPOL" compile "$@" 2>&1 | sed -n 's/.*; sha256 \([0-9a-f]\{64\}\).*/\1/p'; }
cp -r examples/acme "$TMP/copy"
spellings="$(hash_of examples/acme) $(hash_of ./examples/acme) $(hash_of "$PWD/examples/acme") $(hash_of "$PWD/examples/acme/") $(cd "$TMP" && hash_of copy) $(cd "$TMP/copy" && hash_of .)"
[ "$(echo "$spellings" | tr ' ' '\n' | sort -u)" = "$hash" ] && ok "one hash: relative, ./, absolute, trailing /, a copy, ." || not_ok "one hash however the sources are spelled" "$spellings" "want $hash"
"$MESHPOL" compile -o "$TMP/copy.mpm" "$TMP/copy" >/dev/null
run_cmd "$MESHPOL" decide -m "$TMP/copy.mpm" examples/requests/allow-checkout-charge.json
[ "$(echo "$OUT" | jq -r .model.sha256)" = "$hash" ] && ok "decisions cite the same hash from a copy's .mpm" || not_ok "decisions cite the same hash from a copy's .mpm" "$OUT"
[ "$(hash_of examples/acme/clusters.yaml)" = "$(cd examples/acme && hash_of clusters.yaml)" ] && ok "a single file hashes by its base name" || not_ok "a single file hashes by its base name"
mv "$TMP/copy/routes.yaml" "$TMP/copy/routes-renamed.yaml"
[ "$(hash_of "$TMP/copy")" != "$hash" ] && ok "a renamed file changes the hash" || not_ok "a renamed file changes the hash"
mv "$TMP/copy/routes-renamed.yaml" "$TMP/copy/routes.yaml"
printf '# a comment\n' >>"$TMP/copy/routes.yaml"
[ "$(hash_of "$TMP/copy")" = "$hash" ] && ok "a comment is not the model: same hash" || not_ok "a comment is not the model: same hash"
printf -- '---\nkind: Namespace\nname: one-more\n' >>"$TMP/copy/namespaces.yaml"
[ "$(hash_of "$TMP/copy")" != "$hash" ] && ok "changed content changes the hash" || not_ok "changed content changes the hash"
# locations are relative to --base (the default, the Git work tree or the current directory,
# depends on where the checkout is: name it)
run_cmd "$MESHPOL" audit -m "$TMP/copy" -p policies --format json --base "$TMP"
echo "$OUT" | jq -e '[.findings[].location.file | select(startswith("copy/") | not)] == [] and (.findings | length) > 0' >/dev/null && ok "findings name the files relative to --base" || not_ok "findings name the files relative to --base" "$(echo "$OUT" | jq -c '[.findings[].location.file] | unique' | head -c 400)"

expect_rc "several sources" 0 "$MESHPOL" compile examples/acme/clusters.yaml examples/acme/jurisdictions.yaml
expect_out "several sources counted" '^5 clusters, 3 jurisdictions, 0 namespaces'

expect_rc "bad input exits 2" 2 "$MESHPOL" compile tests/data/bad/multiple-errors.yaml
expect_out "every error is reported" 'multiple-errors.yaml:15:10: .*timeout'
expect_out "second error" 'multiple-errors.yaml:17:1: .*namespace'
expect_out "third error" "multiple-errors.yaml:21:7: unknown kind 'Gateway'"
expect_out "error count" 'meshpol compile: 3 errors'

# Strict shapes and values (issue 11)
expect_rc "a scalar for a list exits 2" 2 "$MESHPOL" compile tests/data/bad/scalar-data.yaml
expect_out "data: pii named at line:col" "scalar-data.yaml:15:7: Service 'payments': 'data' must be a list of strings, not the scalar 'pii'"
expect_rc "a scalar failover exits 2" 2 "$MESHPOL" compile tests/data/bad/scalar-failover.yaml
expect_out "failover: s named at line:col" "scalar-failover.yaml:15:11: Route 'to-payments': 'failover' must be a list of targets"
expect_rc "mtls: strict exits 2" 2 "$MESHPOL" compile tests/data/bad/lowercase-mtls.yaml
expect_out "mtls: strict gets the spelling" "lowercase-mtls.yaml:11:7: .*not 'strict' \\(did you mean 'STRICT'\\?\\)"
expect_rc "misspelt fields exit 2" 2 "$MESHPOL" compile tests/data/bad/unknown-field-nested.yaml
expect_out "nested field gets the nearest name" "unknown-field-nested.yaml:18:3: Route 'to-payments': unknown field 'methds' \\(did you mean 'methods'\\?\\)"

expect_rc "missing source exits 2" 2 "$MESHPOL" compile /nonexistent
expect_out "missing source named" '/nonexistent: No such file or directory'
expect_rc "no source is a usage error" 2 "$MESHPOL" compile
expect_out "usage shown" 'usage: meshpol compile'
expect_rc "unknown option" 2 "$MESHPOL" compile --bogus examples/acme
expect_rc "unknown verb" 2 "$MESHPOL" frobnicate
expect_out "unknown verb named" "unknown verb 'frobnicate'"
expect_rc "version" 0 "$MESHPOL" version
expect_out "version printed" '^meshpol [0-9]+\.[0-9]+\.[0-9]+$'

mkdir "$TMP/empty"
expect_rc "empty directory exits 2" 2 "$MESHPOL" compile "$TMP/empty"
expect_out "empty directory explained" 'no .yaml or .yml files'
head -c 4096 /dev/urandom > "$TMP/random.yaml"
expect_rc "random bytes exit 2" 2 "$MESHPOL" compile "$TMP/random.yaml"
expect_out "random bytes explained" 'random.yaml:[0-9]+:[0-9]+: YAML:'
expect_rc "small file limit" 2 "$MESHPOL" compile --max-file-size 10 examples/acme/clusters.yaml
expect_out "limit explained" 'over the 10-byte limit'

# --- hostile files: every case must end promptly (timeout 10 turns a hang into a failure) ---
expect_rc "billion laughs exits 2" 2 timeout 10 "$MESHPOL" compile tests/data/bad/billion-laughs.yaml
expect_out "billion laughs: the alias that passes the limit" "billion-laughs.yaml:11:8: YAML: alias '\*e' passes the alias expansion limit"

mkdir "$TMP/mesh" "$TMP/bundle"
cp examples/acme/clusters.yaml "$TMP/mesh/"
mkfifo "$TMP/mesh/pipe.yaml"
expect_rc "FIFO in a mesh directory exits 2" 2 timeout 10 "$MESHPOL" compile "$TMP/mesh"
expect_out "FIFO named" "^$TMP/mesh/pipe.yaml: is a FIFO, not a regular file$"
expect_rc "FIFO as a source exits 2" 2 timeout 10 "$MESHPOL" compile "$TMP/mesh/pipe.yaml"
expect_out "FIFO source named" "^$TMP/mesh/pipe.yaml: is a FIFO, not a regular file$"
expect_rc "FIFO as the model of decide exits 2" 2 timeout 10 "$MESHPOL" decide -m "$TMP/mesh/pipe.yaml" examples/requests/allow-checkout-charge.json
expect_out "FIFO model named" "^$TMP/mesh/pipe.yaml: is a FIFO, not a regular file$"
rm "$TMP/mesh/pipe.yaml"

cp tests/data/bundles/unit/*.lua tests/data/bundles/unit/bundle.yaml "$TMP/bundle/"
expect_rc "bundle copy checks" 0 "$MESHPOL" check -m tests/data/bundles/unit/mesh.yaml "$TMP/bundle"
mkfifo "$TMP/bundle/pipe.lua"
expect_rc "FIFO in a bundle exits 2" 2 timeout 10 "$MESHPOL" check -m tests/data/bundles/unit/mesh.yaml "$TMP/bundle"
expect_out "bundle FIFO named" "^$TMP/bundle/pipe.lua: is a FIFO, not a regular file$"
rm "$TMP/bundle/pipe.lua"

# symbolic links out of the tree: the secret lives outside the source tree and outside $TMP/mesh
SECRET=$(mktemp -d)
trap 'rm -rf "$TMP" "$SECRET"' EXIT
printf 'kind: SECRETTOKEN8c1f\n' >"$SECRET/secret.yaml"
printf 'SECRETTOKEN8c1f SECRETTOKEN8c1f\n' >"$SECRET/secret.lua"
ln -s "$SECRET/secret.yaml" "$TMP/mesh/stolen.yaml"
expect_rc "link out of a mesh directory exits 2" 2 timeout 10 "$MESHPOL" compile "$TMP/mesh"
expect_out "link refused" "^$TMP/mesh/stolen.yaml: symbolic link to a file outside $TMP/mesh, not read \(meshpol compile --follow-symlinks reads it\)$"
if printf '%s\n%s\n' "$OUT" "$ERR" | grep -q SECRETTOKEN; then not_ok "secret not quoted (mesh)" "$ERR"; else ok "secret not quoted (mesh)"; fi
expect_rc "meshpol compile --follow-symlinks reads it" 2 timeout 10 "$MESHPOL" compile --follow-symlinks "$TMP/mesh"
expect_out "--follow-symlinks: the file was read" "^$TMP/mesh/stolen.yaml:1:7: unknown kind 'SECRETTOKEN8c1f'"
rm "$TMP/mesh/stolen.yaml"
ln -s ../mesh/clusters.yaml "$TMP/mesh/again.yml"
ln -s clusters.yaml "$TMP/mesh/same.yml"
expect_rc "link inside the tree is read" 2 "$MESHPOL" compile "$TMP/mesh"
expect_out "link inside the tree: its clusters are duplicates" 'same.yml:[0-9]+:[0-9]+: duplicate Cluster'
rm "$TMP/mesh/again.yml" "$TMP/mesh/same.yml"
ln -s "$SECRET/secret.lua" "$TMP/bundle/stolen.lua"
expect_rc "link out of a bundle exits 2" 2 timeout 10 "$MESHPOL" check -m tests/data/bundles/unit/mesh.yaml "$TMP/bundle"
expect_out "bundle link refused" "^$TMP/bundle/stolen.lua: symbolic link to a file outside $TMP/bundle, not read$"
if printf '%s\n%s\n' "$OUT" "$ERR" | grep -q SECRETTOKEN; then not_ok "secret not quoted (bundle)" "$ERR"; else ok "secret not quoted (bundle)"; fi
rm "$TMP/bundle/stolen.lua"
mv "$TMP/bundle/bundle.yaml" "$SECRET/bundle.yaml"
printf 'SECRETTOKEN8c1f: 1\n' >>"$SECRET/bundle.yaml"
ln -s "$SECRET/bundle.yaml" "$TMP/bundle/bundle.yaml"
expect_rc "manifest linked out of a bundle exits 2" 2 timeout 10 "$MESHPOL" check -m tests/data/bundles/unit/mesh.yaml "$TMP/bundle"
expect_out "manifest link refused" "^$TMP/bundle/bundle.yaml: symbolic link to a file outside $TMP/bundle, not read$"
if printf '%s\n%s\n' "$OUT" "$ERR" | grep -q SECRETTOKEN; then not_ok "secret not quoted (manifest)" "$ERR"; else ok "secret not quoted (manifest)"; fi

# billion laughs in a bundle's manifest: the same alias limit as every YAML the engine reads
rm "$TMP/bundle/bundle.yaml"
{
	printf 'name: laughs\nrevision: "1"\ndefault: deny\n'
	printf 'a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n'
	prev=a
	for n in b c d e f g h i; do
		printf '%s: &%s [*%s, *%s, *%s, *%s, *%s, *%s, *%s, *%s, *%s, *%s]\n' "$n" "$n" \
			"$prev" "$prev" "$prev" "$prev" "$prev" "$prev" "$prev" "$prev" "$prev" "$prev"
		prev=$n
	done
	printf 'mask: *i\n'
} >"$TMP/bundle/bundle.yaml"
expect_rc "billion laughs in a bundle manifest exits 2" 2 timeout 10 "$MESHPOL" check -m tests/data/bundles/unit/mesh.yaml "$TMP/bundle"
expect_out "manifest billion laughs: the alias that passes the limit" "^$TMP/bundle/bundle.yaml:[0-9]+:[0-9]+: YAML: alias '\*[a-i]' passes the alias expansion limit"

# models: an empty or cut .mpm is an error, not an empty model
REQ=examples/requests/allow-checkout-charge.json
"$MESHPOL" compile -o "$TMP/acme.mpm" examples/acme >/dev/null
: >"$TMP/empty.mpm"
expect_rc "empty .mpm exits 2" 2 "$MESHPOL" decide -m "$TMP/empty.mpm" "$REQ"
expect_out "empty .mpm named" "^$TMP/empty.mpm: is empty \(a compiled model is at least its 56-byte header\)$"
head -c 5 "$TMP/acme.mpm" >"$TMP/five.mpm"
expect_rc "5-byte .mpm exits 2" 2 "$MESHPOL" decide -m "$TMP/five.mpm" "$REQ"
expect_out "5-byte .mpm: truncated" "^$TMP/five.mpm: truncated at byte 5, inside the 56-byte header$"
head -c 1000 "$TMP/acme.mpm" >"$TMP/cut.mpm"
expect_rc "cut .mpm exits 2" 2 "$MESHPOL" decide -m "$TMP/cut.mpm" "$REQ"
expect_out "cut .mpm: truncated" "^$TMP/cut.mpm: truncated at byte 1000: the header says the file has $(wc -c <"$TMP/acme.mpm") bytes$"

# a directory where a file is expected
expect_rc "directory as decide input exits 2" 2 timeout 10 "$MESHPOL" decide -m examples/acme "$TMP"
expect_out "directory input named" "^$TMP: is a directory, not a JSON file$"
e2e_done
