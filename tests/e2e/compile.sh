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

expect_rc "several sources" 0 "$MESHPOL" compile examples/acme/clusters.yaml examples/acme/jurisdictions.yaml
expect_out "several sources counted" '^5 clusters, 3 jurisdictions, 0 namespaces'

expect_rc "bad input exits 2" 2 "$MESHPOL" compile tests/data/bad/multiple-errors.yaml
expect_out "every error is reported" 'multiple-errors.yaml:15:10: .*timeout'
expect_out "second error" 'multiple-errors.yaml:17:1: .*namespace'
expect_out "third error" "multiple-errors.yaml:21:7: unknown kind 'Gateway'"
expect_out "error count" 'meshpol compile: 3 errors'

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
e2e_done
