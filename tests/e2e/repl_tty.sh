#!/usr/bin/env bash
# tests/e2e/repl_tty.sh: `meshpol repl` on a real terminal: tmux runs it in a detached session
# of a fixed size, send-keys types, capture-pane reads the screen. Every wait polls the screen
# with a time limit, so nothing depends on timing. Covers Tab completion (a command, a service,
# a Lua field), colour, Ctrl-C stopping a runaway loop and dropping a half-typed line, history
# kept across runs (and capped), Ctrl-D, and :watch reloading an edited policy.
. "$(dirname "$0")/lib.sh"
D=tests/data/repl
SOCK="$TMP/tmux.sock"
TM=(tmux -S "$SOCK")
trap '"${TM[@]}" kill-server >/dev/null 2>&1; rm -rf "$TMP"' EXIT

if ! command -v tmux >/dev/null; then
	not_ok "tmux is installed (make deps installs it)"
	e2e_done
fi
cp -r "$D/bundle" "$TMP/bundle"
cp -r "$D/mesh" "$TMP/mesh"

# wait_for REGEX [SECONDS]: polls the visible screen until a line matches (default 30 s, for
# sanitizer builds on a busy machine); fails at once when the shell's session has ended.
wait_for() {
	local tries=$((${2:-30} * 10))
	for ((i = 0; i < tries; i++)); do
		"${TM[@]}" capture-pane -p -N -t repl >"$TMP/screen" 2>/dev/null || return 1
		grep -Eq -- "$1" "$TMP/screen" && return 0
		sleep 0.1
	done
	return 1
}

# check NAME REGEX: the screen shows REGEX (waiting for it).
check() {
	if wait_for "$2"; then ok "$1"; else not_ok "$1" "screen:" "$(cat "$TMP/screen")"; fi
}

keys() { "${TM[@]}" send-keys -t repl "$@"; }

# A fresh screen: readline's clear-screen (C-l) redraws only the prompt.
clear_screen() {
	keys C-l
	wait_for '^meshpol> $' 5 || true
}

start_shell() {
	rm -f "$TMP/exit"
	"${TM[@]}" new-session -d -x 150 -y 45 -s repl \
		"cd '$PWD' && unset NO_COLOR && INPUTRC=/dev/null MESHPOL_HISTORY='$TMP/history' \
		MESHPOL_STDLIB='$PWD/stdlib' \
		'$MESHPOL' repl -m '$TMP/mesh' -p '$TMP/bundle'; echo \"exit=\$?\" >'$TMP/exit'"
	if ! wait_for '^meshpol> $'; then # nothing else can pass: stop here
		not_ok "$1" "screen:" "$(cat "$TMP/screen")" "$(cat "$TMP/exit" 2>/dev/null)"
		e2e_done
	fi
	ok "$1"
}

# wait_exit NAME: the shell has ended, with exit code 0.
wait_exit() {
	local i=0
	while [ ! -s "$TMP/exit" ] && [ $i -lt 300 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	if grep -q '^exit=0$' "$TMP/exit" 2>/dev/null; then
		ok "$1"
	else
		"${TM[@]}" capture-pane -p -t repl >"$TMP/screen" 2>/dev/null
		not_ok "$1" "$(cat "$TMP/exit" 2>/dev/null || echo 'still running')" "$(cat "$TMP/screen")"
	fi
}

start_shell "the shell starts with a banner and a prompt"
check "the banner names the bundle" "^bundle $TMP/bundle: lab 3"

# Tab completes a command name, then a service name after the arrow.
keys ':dec' Tab
check "Tab completes a command" '^meshpol> :decide $'
keys 'checkout -> pay' Tab
check "Tab completes a service" '^meshpol> :decide checkout -> payments $'
keys 'PO' Tab '/v1/charge' Enter
check "the completed request is decided" '^ALLOW allowed: shop/checkout -> billing/payments POST /v1/charge$'
"${TM[@]}" capture-pane -p -e -t repl >"$TMP/colours"
if grep -q $'\033\\[32mALLOW' "$TMP/colours"; then ok "allow is green on a terminal"; else not_ok "allow is green on a terminal" "$(cat -v "$TMP/colours" | tail -5)"; fi

clear_screen
keys 'mesh.services.sco' Tab
check "Tab completes a Lua field through the model" '^meshpol> mesh\.services\.scorer$'
keys Enter
check "the completed field evaluates" '^Service ml/scorer$'

# After a subscript ("fraud-check" is not a name), `.` offers the element's fields.
clear_screen
keys 'mesh.services["scorer"].iden' Tab
check "Tab completes a field after a subscript" '^meshpol> mesh\.services\["scorer"\]\.identity$'
keys Enter
check "... which evaluates" 'spiffe://'

# Ctrl-C stops a loop that would never end, and the shell still answers.
clear_screen
keys 'while true do end' Enter
sleep 0.3
keys C-c
check "Ctrl-C interrupts a runaway loop" 'interrupted$'
keys '1041 + 1' Enter
check "the shell answers after the interrupt" '^1042$'

# Ctrl-C on a half-typed line drops it.
clear_screen
keys '99999 + 1'
wait_for '^meshpol> 99999 \+ 1$' 5
keys C-c
keys '5000 + 1' Enter
check "Ctrl-C drops the line being typed" '^5001$'
if grep -q '^100000$' "$TMP/screen"; then not_ok "the dropped line did not run"; else ok "the dropped line did not run"; fi

keys C-d
wait_exit "Ctrl-D leaves the shell (exit 0)"
if grep -qx ':decide checkout -> payments POST /v1/charge' "$TMP/history"; then ok "history is saved in \$MESHPOL_HISTORY"; else not_ok "history is saved in \$MESHPOL_HISTORY" "$(cat "$TMP/history" 2>/dev/null)"; fi
if grep -q '99999' "$TMP/history"; then not_ok "a dropped line is not in the history"; else ok "a dropped line is not in the history"; fi

# A second run recalls the first one's lines with Up; the file stays capped.
for i in $(seq 1 1200); do echo "-- old line $i"; done >"$TMP/old"
cat "$TMP/history" >>"$TMP/old" && mv "$TMP/old" "$TMP/history"
start_shell "the shell starts again"
keys Up
check "Up recalls the last line of the previous run" '^meshpol> 5000 \+ 1$'
keys Up
check "Up again, the line before" '^meshpol> 1041 \+ 1$'
keys Enter
check "a recalled line runs" '^1042$'

# :watch reloads an edited policy between prompts.
clear_screen
keys ':watch on' Enter
check ":watch on" '^watching '
cat >>"$TMP/bundle/shop.lua" <<'LUA'
allow "web-scores" { service = "ml/scorer", methods = { "POST" }, from = { services = { "shop/web" } } }
LUA
check ":watch reports the change and the reload time" "^watch: reloaded in [0-9.]+ ms: lab 3, 2 policies, 9 rules$"
check ":watch names the file" "^watch: changed: $TMP/bundle/shop.lua$"
keys ':decide web -> scorer POST /score' Enter
check "the reloaded rule decides" "^ALLOW allowed: shop/web -> ml/scorer POST /score$"

keys C-d
wait_exit "Ctrl-D leaves again (exit 0)"
lines=$(wc -l <"$TMP/history")
if [ "$lines" -le 1000 ]; then ok "the history file is capped ($lines lines)"; else not_ok "the history file is capped" "$lines lines"; fi

e2e_done
