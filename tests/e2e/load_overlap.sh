#!/usr/bin/env bash
# tests/e2e/load_overlap.sh: the model loaded on a thread of its own while the bundle loads
# (engine.c, mp_engine_open_opts; docs/architecture.md, "Loading the model beside the bundle"):
# `meshpol audit --jobs 2` and `meshpol check` on two threads give what one thread gives (audit
# --jobs 1, MESHPOL_LOAD_JOBS=1): the same reports, the same errors in the same order, the same
# exit codes, whichever side fails; a model that is a FIFO, or that is rewritten while it is
# read, fails or loads as one thread does, and never hangs or crashes.
. "$(dirname "$0")/lib.sh"
export MESHPOL_STDLIB="$PWD/stdlib"

"$MESHPOL" compile -o "$TMP/acme.mpm" examples/acme >/dev/null 2>&1 || not_ok "compile the acme model"
"$MESHPOL" bundle build -p policies -o "$TMP/policies.tar.gz" >/dev/null 2>&1 || not_ok "build the policies' archive"
mkdir -p "$TMP/bad-lua" "$TMP/bad-ref"
printf 'name: b\nrevision: "1"\n' | tee "$TMP/bad-lua/bundle.yaml" > "$TMP/bad-ref/bundle.yaml"
printf 'policy "p" {\n' > "$TMP/bad-lua/p.lua"
# loads, but names a service the mesh lacks: an error of the compile, the step that waits for
# the model
printf 'policy "p" { version = "1.0.0", kind = "rbac" }\nallow "x" { service = "nowhere/none", methods = { "GET" } }\n' > "$TMP/bad-ref/p.lua"
printf 'services:\n  - name: [\n' > "$TMP/bad-mesh.yaml"
head -c 100 "$TMP/acme.mpm" > "$TMP/cut.mpm"

# Runs "$@" on one thread and on two, three times (the threads race differently each time):
# stdout (times and hashes blanked), stderr and the exit code must be one thread's. The
# command's -o FILE is $TMP/report.
one_vs_two() { # NAME WANT_RC VERB ARGS...
	local name=$1 want=$2 verb=$3 run
	shift 3
	local jobs1=(--jobs 1) jobs2=(--jobs 2)
	if [ "$verb" != audit ]; then jobs1=() jobs2=(); fi
	MESHPOL_LOAD_JOBS=1 "$MESHPOL" "$verb" "$@" "${jobs1[@]}" >"$TMP/one.out" 2>"$TMP/one.err"
	local rc1=$? fail=
	[ -f "$TMP/report" ] && cat "$TMP/report" >>"$TMP/one.out"
	rm -f "$TMP/report"
	for run in 1 2 3; do
		MESHPOL_LOAD_JOBS=2 "$MESHPOL" "$verb" "$@" "${jobs2[@]}" >"$TMP/two.out" 2>"$TMP/two.err"
		local rc2=$?
		[ -f "$TMP/report" ] && cat "$TMP/report" >>"$TMP/two.out"
		rm -f "$TMP/report"
		sed -E -i 's/[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z/TIME/g; s/[0-9a-f]{64}/HASH/g' "$TMP/one.out" "$TMP/two.out"
		if [ "$rc1" != "$want" ] || [ "$rc2" != "$rc1" ] || ! cmp -s "$TMP/one.out" "$TMP/two.out" ||
			! cmp -s "$TMP/one.err" "$TMP/two.err"; then
			fail="run $run: exit $rc1 and $rc2 (want $want)"
			break
		fi
	done
	if [ -z "$fail" ]; then
		ok "$name"
	else
		not_ok "$name" "$fail" "$(diff "$TMP/one.out" "$TMP/two.out" | head -5)" \
			"$(diff "$TMP/one.err" "$TMP/two.err" | head -5)"
	fi
}

# the same reports
for f in json text sarif; do
	one_vs_two "audit of a bundle directory, $f" 1 audit -m "$TMP/acme.mpm" -p policies --format $f -o "$TMP/report"
done
one_vs_two "audit of a bundle archive" 1 audit -m "$TMP/acme.mpm" -p "$TMP/policies.tar.gz" --format json -o "$TMP/report"
one_vs_two "audit of YAML sources" 1 audit -m examples/acme -p policies --format json -o "$TMP/report"
one_vs_two "audit without a bundle" 0 audit -m "$TMP/acme.mpm" --format json -o "$TMP/report"
one_vs_two "check" 0 check -m "$TMP/acme.mpm" policies
one_vs_two "check of an archive" 0 check -m examples/acme "$TMP/policies.tar.gz"

# the same errors, in one thread's order: a bad model's alone (one thread never loads the
# bundle after it), else the model's notes and then the bundle's errors
one_vs_two "a model that does not compile" 2 audit -m "$TMP/bad-mesh.yaml" -p policies -o "$TMP/report"
one_vs_two "an .mpm cut short" 2 audit -m "$TMP/cut.mpm" -p "$TMP/policies.tar.gz" -o "$TMP/report"
one_vs_two "no such model" 2 audit -m "$TMP/none.mpm" -p policies -o "$TMP/report"
one_vs_two "a bundle whose Lua does not load" 2 audit -m "$TMP/acme.mpm" -p "$TMP/bad-lua" -o "$TMP/report"
one_vs_two "a bundle that does not compile against the model" 2 audit -m examples/acme -p "$TMP/bad-ref" -o "$TMP/report"
one_vs_two "no such bundle" 2 audit -m "$TMP/acme.mpm" -p "$TMP/none" -o "$TMP/report"
one_vs_two "both bad: the model's errors alone" 2 audit -m "$TMP/bad-mesh.yaml" -p "$TMP/bad-lua" -o "$TMP/report"
one_vs_two "both bad, check" 2 check -m "$TMP/cut.mpm" "$TMP/bad-ref"
run_cmd "$MESHPOL" audit -m "$TMP/bad-mesh.yaml" -p "$TMP/bad-lua" --jobs 2
if [ "$RC" = 2 ] && grep -q "bad-mesh.yaml" <<<"$ERR" && ! grep -q "p.lua" <<<"$ERR"; then
	ok "both bad: nothing of the bundle is said"
else
	not_ok "both bad: nothing of the bundle is said" "exit $RC" "${ERR:0:400}"
fi

# A FIFO is refused as a model (it is not a regular file), without waiting for a writer, on
# either thread; with a writer, the same.
mkfifo "$TMP/fifo.mpm"
one_vs_two "a model that is a FIFO nobody writes" 2 audit -m "$TMP/fifo.mpm" -p policies -o "$TMP/report"
( exec cat "$TMP/acme.mpm" >"$TMP/fifo.mpm" ) 2>/dev/null &
writer=$!
run_cmd timeout 60 "$MESHPOL" audit -m "$TMP/fifo.mpm" -p policies --jobs 2
if [ "$RC" = 2 ] && grep -q "FIFO" <<<"$ERR"; then ok "a model that is a FIFO being written"; else not_ok "a model that is a FIFO being written" "exit $RC" "${ERR:0:400}"; fi
kill "$writer" 2>/dev/null
wait "$writer" 2>/dev/null

# A model rewritten in place while it is read, over and over: each audit gives one of the two
# models' reports, or exit 2 with the model's error; never a crash, a hang or a mix.
"$MESHPOL" compile -o "$TMP/small.mpm" tests/data/bundles/unit/mesh.yaml >/dev/null 2>&1
mkdir -p "$TMP/generic"
cp policies/traffic/baseline.lua "$TMP/generic/"
printf 'name: generic\nrevision: "1"\n' > "$TMP/generic/bundle.yaml"
for m in acme small; do
	"$MESHPOL" audit -m "$TMP/$m.mpm" -p "$TMP/generic" --format json -o "$TMP/want-$m.json" --jobs 1 2>/dev/null
	sed -E "s/[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z/TIME/g; s/$m\\.mpm/MODEL/g" "$TMP/want-$m.json" > "$TMP/want-$m.norm"
done
cp "$TMP/acme.mpm" "$TMP/changing.mpm"
( for _ in $(seq 1 400); do cat "$TMP/small.mpm" 1<>"$TMP/changing.mpm"; cat "$TMP/acme.mpm" >"$TMP/changing.mpm"; done ) &
changer=$!
bad= loaded=0
for i in $(seq 1 12); do
	timeout 60 "$MESHPOL" audit -m "$TMP/changing.mpm" -p "$TMP/generic" --format json -o "$TMP/got.json" --jobs 2 2>"$TMP/got.err"
	rc=$?
	if [ $rc -eq 2 ]; then
		grep -q "changing.mpm" "$TMP/got.err" || bad="run $i: exit 2 without the model's error: $(head -c 300 "$TMP/got.err")"
	elif [ $rc -le 1 ]; then
		sed -E 's/[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z/TIME/g; s/changing\.mpm/MODEL/g' "$TMP/got.json" > "$TMP/got.norm"
		cmp -s "$TMP/got.norm" "$TMP/want-acme.norm" || cmp -s "$TMP/got.norm" "$TMP/want-small.norm" ||
			bad="run $i: a report of neither model"
	else
		bad="run $i: exit $rc: $(head -c 300 "$TMP/got.err")"
	fi
	[ -z "$bad" ] || break
	[ $rc -eq 2 ] || loaded=$((loaded + 1))
done
kill "$changer" 2>/dev/null
wait "$changer" 2>/dev/null
if [ -z "$bad" ]; then ok "a model rewritten while it is read" && echo "# $loaded of 12 loaded"; else not_ok "a model rewritten while it is read" "$bad"; fi

exit $E2E_FAILED
