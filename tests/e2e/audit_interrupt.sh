#!/usr/bin/env bash
# tests/e2e/audit_interrupt.sh: `meshpol audit --jobs 2` stopped by SIGINT and by SIGTERM once it
# is running (docs/cli.md, "audit": "Interrupted"): it dies of the signal (130 and
# 143 in a shell), the -o file it would have replaced is as it was and no temporary file is left,
# and the trail is as it was (or, for a signal that lands while the trail is written, holds the
# run whole and sealed, and the message says so), intact for `meshpol verify`. The audit runs on
# a terminal (script(1)) so that it prints progress: the signal goes once the first progress line
# is out, mid-run unless the machine is busy enough that it lands during the trail or the report
# (said in a comment).
. "$(dirname "$0")/lib.sh"
export MESHPOL_STDLIB="$PWD/stdlib"

# A mesh large enough that the audit runs for a while after its first progress line (the
# benchmark's generator and bundle: bench/audit_bench.sh), compiled once.
N=${AUDIT_INTERRUPT_SERVICES:-10000}
python3 bench/gen_mesh.py --services "$N" --routes-per-service 10 --seed 7 "$TMP/mesh" >/dev/null &&
	python3 bench/gen_audit_bundle.py --mesh "$TMP/mesh" "$TMP/bundle" >/dev/null &&
	"$MESHPOL" compile -o "$TMP/mesh.mpm" "$TMP/mesh" >/dev/null 2>&1 ||
	{ not_ok "generate and compile a mesh of $N services"; exit 1; }

# A finished audit first: the report and the trail an interrupted one must leave as they are.
mkdir "$TMP/o"
"$MESHPOL" audit -m "$TMP/mesh.mpm" -p "$TMP/bundle" --format json -o "$TMP/o/r.json" \
	--trail "$TMP/o/t.jsonl" --jobs 2 2>"$TMP/err"
rc=$?
if [ "$rc" -eq 1 ] && [ -s "$TMP/o/r.json" ] && "$MESHPOL" verify "$TMP/o/t.jsonl" >/dev/null; then
	ok "a finished audit writes its report and its trail (exit 1: findings)"
else
	not_ok "a finished audit writes its report and its trail" "exit $rc" "$(head -c 400 "$TMP/err")"
fi

RESET='import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); os.execv(sys.argv[1], sys.argv[1:])'

# interrupt SIGNAL STATUS: the audit on a terminal, signalled once it has printed progress.
interrupt() {
	local sig=$1 want=$2 i
	rm -f "$TMP/pid" "$TMP/tty.log"
	cp "$TMP/o/r.json" "$TMP/r.before"
	cp "$TMP/o/t.jsonl" "$TMP/t.before"
	# A background job's SIGINT is ignored, and meshpol keeps an ignored SIGINT ignored (as a
	# background job should): the wrapper gives the audit the default disposition back.
	script -qec "sh -c 'echo \$\$ >\"$TMP/pid\"; exec python3 -c \"$RESET\" \"$MESHPOL\" audit -m \"$TMP/mesh.mpm\" \
-p \"$TMP/bundle\" --format json -o \"$TMP/o/r.json\" --trail \"$TMP/o/t.jsonl\" --jobs 2'" \
		/dev/null >"$TMP/tty.log" 2>&1 </dev/null &
	local script_pid=$!
	for ((i = 0; i < 3000; i++)); do # 60 s at most for the load and the first progress line
		grep -q 'audit: [0-9]*/[0-9]' "$TMP/tty.log" 2>/dev/null && [ -s "$TMP/pid" ] && break
		sleep 0.02
	done
	local progressed=$i
	kill -s "$sig" "$(cat "$TMP/pid")" 2>/dev/null
	wait "$script_pid"
	local rc=$?
	local log
	log=$(tr '\r' '\n' <"$TMP/tty.log" | sed 's/\x1b\[K//g' | grep -v '^$' | tail -n 3)
	# the last progress line before the stop: done < total when the audit was mid-run. On a busy
	# machine the signal can land after the rows, while the trail or the report is written: no
	# report then either, and the trail as it was or (while it was written) with the run whole
	# and sealed; the stop on both threads at a known step is test_audit_emit's test_interrupted.
	local last
	last=$(tr '\r' '\n' <"$TMP/tty.log" | grep -o 'audit: [0-9]*/[0-9]*' | tail -n 1)
	local done=${last#audit: } total
	total=${done#*/}
	done=${done%/*}
	if [ "$progressed" -lt 3000 ] && [ "$rc" -eq "$want" ]; then
		ok "$sig after the first progress line: exit $want (killed by $sig)"
		[ "${done:-0}" -lt "${total:-0}" ] || echo "# $sig came after the rows ($last)"
	else
		not_ok "$sig after the first progress line: exit $want" "exit $rc (progress seen: $([ "$progressed" -lt 3000 ] && echo yes || echo no); last: $last)" "$log"
	fi
	echo "$log" | grep -q "meshpol audit: interrupted (SIG$sig): no report written" &&
		ok "$sig: says it was interrupted and wrote no report" ||
		not_ok "$sig: says it was interrupted and wrote no report" "$log"
	cmp -s "$TMP/r.before" "$TMP/o/r.json" &&
		ok "$sig: the -o file is the one before, not a partial report" ||
		not_ok "$sig: the -o file is the one before" "$(ls -l "$TMP/o")"
	local left
	left=$(find "$TMP/o" -name '.*.tmp' | head -3)
	[ -z "$left" ] && ok "$sig: no temporary file left beside it" ||
		not_ok "$sig: no temporary file left beside it" "$left"
	# a signal that lands while the trail is written waits for the run's seal: the trail then
	# holds the run whole after what it held, and the message says so (docs/cli.md, "audit")
	local before_bytes
	before_bytes=$(stat -c %s "$TMP/t.before")
	if echo "$log" | grep -q "the trail's run was finished and sealed"; then
		echo "# $sig came while the trail was written"
		cmp -s -n "$before_bytes" "$TMP/t.before" "$TMP/o/t.jsonl" &&
			[ "$(stat -c %s "$TMP/o/t.jsonl")" -gt "$before_bytes" ] &&
			ok "$sig: the trail holds the run whole after what it held (it was being written)" ||
			not_ok "$sig: the trail holds the run whole after what it held" "$(wc -l <"$TMP/o/t.jsonl") lines"
	else
		cmp -s "$TMP/t.before" "$TMP/o/t.jsonl" &&
			ok "$sig: the trail has no record of the stopped run" ||
			not_ok "$sig: the trail has no record of the stopped run" "$(wc -l <"$TMP/o/t.jsonl") lines" "$log"
	fi
	run_cmd "$MESHPOL" verify "$TMP/o/t.jsonl"
	[ "$RC" -eq 0 ] && [[ "$OUT" == *"intact"* ]] && ok "$sig: meshpol verify: the trail is intact" ||
		not_ok "$sig: meshpol verify: the trail is intact" "exit $RC" "$OUT" "$ERR"
}

interrupt INT 130
interrupt TERM 143

exit $E2E_FAILED
