#!/usr/bin/env bash
# tests/e2e/install.sh: what the verb and option tables are written out as (cli/options.c):
# --help for every verb and every option it takes, the man page (groff's warnings, man renders
# it), the bash and zsh completions typed into real shells (in tmux), and `make install
# PREFIX=...` run into a temporary prefix whose program then works from another directory.
. "$(dirname "$0")/lib.sh"
REPO=$PWD
BUILD=${BUILD:-build}
BIN=${BIN:-bin}
GEN=$REPO/$BUILD/share

# check NAME CMD...: ok when the command succeeds.
check() {
	local name=$1
	shift
	if "$@"; then ok "$name"; else not_ok "$name" "failed: $*"; fi
}

# ---- --help: every verb, every option of its usage described ----
run_cmd "$MESHPOL" help
verbs=$(echo "$OUT" | awk '/^  [a-z]/ {print $1}')
[ "$(echo "$verbs" | wc -l)" -ge 14 ] && ok "help lists the verbs" || not_ok "help lists the verbs" "$OUT"
# the subcommands of verbs that have them (trail, bundle), from those verbs' --help
subs=$(for v in $verbs; do "$MESHPOL" "$v" --help | sed -n '/^subcommands/,/^$/p' | awk -v v="$v" '/^  [a-z]/ {print v "_" $1}'; done)
[ "$(echo "$subs" | wc -l)" -ge 6 ] && ok "trail and bundle list their subcommands" || not_ok "subcommands listed" "$subs"
for v in $verbs $subs; do
	v=${v/_/ }
	# shellcheck disable=SC2086
	run_cmd "$MESHPOL" $v --help
	if [ "$RC" -ne 0 ] || [ "${OUT:0:15}" != "usage: meshpol " ]; then
		not_ok "$v --help" "exit $RC" "$OUT"
		continue
	fi
	usage=$(echo "$OUT" | head -1)
	described=$(echo "$OUT" | sed -n '/^options:$/,$p' | grep -Eo '^  (-[a-zA-Z], )?--[a-z0-9-]+|^      --[a-z0-9-]+' | grep -Eo -- '--[a-z0-9-]+' | sort -u)
	missing=""
	# (the usage of a verb with subcommands is theirs, whose own --help describes their options)
	echo "$OUT" | grep -q '^subcommands' && usage="usage: meshpol $v"
	for o in $(echo "$usage" | grep -Eo -- '--[a-z0-9-]+' | sort -u); do
		grep -qx -- "$o" <<<"$described" || missing="$missing $o"
	done
	# the other way: every option described is in the usage line, or has a short form there
	for o in $described; do
		[ "$o" = --help ] && continue
		short=$(echo "$OUT" | grep -Eo -- "-[a-zA-Z], $o\b" | cut -c1-2)
		grep -q -- "$o\b" <<<"$usage" || { [ -n "$short" ] && grep -q -- "$short\b" <<<"$usage"; } || missing="$missing $o(not in usage)"
	done
	[ -z "$missing" ] && ok "$v --help describes every option" || not_ok "$v --help describes every option" "missing:$missing" "$OUT"
	# every option described is one the verb parses (not an "unknown option")
	bad=""
	for o in $described; do
		[ "$o" = --help ] && continue
		# (in a directory of its own: `keygen --output x` writes x and x.pub.pem)
		rm -rf "$TMP/optrun" && mkdir "$TMP/optrun"
		# shellcheck disable=SC2086
		(cd "$TMP/optrun" && timeout 10 "$MESHPOL" $v "$o" x </dev/null >/dev/null 2>"$TMP/err")
		grep -q "unknown option" "$TMP/err" && bad="$bad $o"
	done
	[ -z "$bad" ] && ok "$v parses every option it describes" || not_ok "$v parses every option it describes" "unknown:$bad"
done
expect_rc "help of an unknown verb" 2 "$MESHPOL" help grahp
expect_out "... suggests the nearest" "^meshpol help: no verb 'grahp' \(did you mean 'graph'\?\)$"
expect_rc "an unknown verb" 2 "$MESHPOL" audti
expect_out "... suggests the nearest" "^meshpol: unknown verb 'audti' \(did you mean 'audit'\?\)$"
expect_rc "an unknown option" 2 "$MESHPOL" audit --fromat json
expect_out "... suggests the nearest" "^meshpol audit: unknown option '--fromat' \(did you mean '--format'\?\)$"
expect_rc "an unknown short option" 2 "$MESHPOL" audit -z
expect_out "... named" "^meshpol audit: unknown option '-z' \(meshpol audit --help lists them\)$"
expect_rc "a value that is not one of the option's words" 2 "$MESHPOL" audit -m x --fail-on hrad
expect_out "... names them and the nearest" "^meshpol audit: --fail-on takes advisory, soft, hard, critical, high, medium or low, not 'hrad' \(did you mean 'hard'\?\)$"
expect_rc "a missing value" 2 "$MESHPOL" audit -m x --format
expect_out "... says which" "^meshpol audit: -f/--format needs a value \(FORMAT\)$"

# ---- the man page ----
check "the man page is built" test -s "$GEN/meshpol.1"
run_cmd groff -man -ww -z "$GEN/meshpol.1"
[ "$RC" -eq 0 ] && [ -z "$ERR" ] && ok "groff reads the man page without a warning" || not_ok "groff warnings" "$ERR"
MANWIDTH=100 man -l "$GEN/meshpol.1" >"$TMP/man.txt" 2>"$TMP/man.err"
check "man renders it" grep -q '^VERBS' "$TMP/man.txt"
missing=""
for v in $verbs $subs; do
	v=${v/_/ }
	grep -q "^   $v\$" "$TMP/man.txt" || missing="$missing $v"
	# shellcheck disable=SC2086
	for o in $("$MESHPOL" $v --help | sed -n '/^options:$/,$p' | grep -Eo -- '--[a-z0-9-]+' | sort -u); do
		[ "$o" = --help ] || grep -q -- "$o" "$TMP/man.txt" || missing="$missing $v$o"
	done
done
[ -z "$missing" ] && ok "the man page has every verb and every option" || not_ok "the man page has every verb and option" "missing:$missing"
check "the man page has the exit codes" grep -q "0 clean, 1 findings at or above --fail-on, 2 usage or input error, 3 policy runtime" "$TMP/man.txt"

# ---- completions, typed into real shells in tmux ----
NSOCK=0
# screen_has REGEX SECONDS: polls the session's screen until it matches, into $TMP/screen.
screen_has() {
	local i
	for ((i = 0; i < $2 * 5; i++)); do
		tmux -S "$SOCK" capture-pane -p -t sh >"$TMP/screen" 2>/dev/null
		grep -Eq -- "$1" "$TMP/screen" && return 0
		sleep 0.2
	done
	return 1
}
# complete_in NAME SHELL TYPED WANT-REGEX SETUP: runs SETUP in SHELL (its prompt then ends in
# "mp> "), types TYPED and Tab (twice, for a list); the screen must then match WANT-REGEX.
complete_in() {
	local name=$1 shell=$2 typed=$3 want=$4
	# a tmux server of its own: the last one may still be exiting after its session was killed,
	# and a new session on its socket then fails (the screen stays empty)
	SOCK=$TMP/tmux.$((++NSOCK)).sock
	tmux -S "$SOCK" new-session -d -s sh -x 160 -y 40 "env -i HOME=$TMP TERM=xterm PATH=$(dirname "$MESHPOL"):/usr/bin:/bin $shell"
	tmux -S "$SOCK" send-keys -t sh "$5; PS1='mp> '; clear" Enter
	if ! screen_has '^mp> ?$' 15; then
		not_ok "$name" "the shell never showed its prompt" "$(grep -v '^$' "$TMP/screen" | head)"
	else
		tmux -S "$SOCK" send-keys -t sh "$typed" Tab
		screen_has "$want" 3 || { tmux -S "$SOCK" send-keys -t sh Tab; screen_has "$want" 5; } &&
			ok "$name" || not_ok "$name" "want: $want" "$(grep -v '^$' "$TMP/screen" | head -20)"
	fi
	tmux -S "$SOCK" kill-session -t sh 2>/dev/null
}
BASH_SETUP="source $GEN/meshpol.bash; cd $REPO"
ZSH_SETUP="fpath=($GEN \$fpath); autoload -Uz compinit; compinit -u -D; cd $REPO"
complete_in "bash: a verb" "bash --norc --noprofile" "meshpol gra" '^mp> meshpol graph ?$' "$BASH_SETUP"
complete_in "bash: a verb's options" "bash --norc --noprofile" "meshpol audit --f" 'fail-on.*format|format.*fail-on' "$BASH_SETUP"
complete_in "bash: an option's words" "bash --norc --noprofile" "meshpol audit --format " 'html.*json.*junit|json.*html' "$BASH_SETUP"
complete_in "bash: trail's subcommands" "bash --norc --noprofile" "meshpol trail " 'adopt +head' "$BASH_SETUP"
complete_in "bash: a subcommand's options" "bash --norc --noprofile" "meshpol trail head --p" '^mp> meshpol trail head --pubkey ?$' "$BASH_SETUP"
complete_in "bash: bundle's subcommands" "bash --norc --noprofile" "meshpol bundle " 'build/? +inspect +verify' "$BASH_SETUP"
complete_in "bash: a bundle subcommand's words" "bash --norc --noprofile" "meshpol bundle inspect --format " 'json +text' "$BASH_SETUP"
complete_in "bash: a directory for -p" "bash --norc --noprofile" "meshpol audit -p polic" '^mp> meshpol audit -p policies/$' "$BASH_SETUP"
complete_in "zsh: a verb, with its summary" "zsh -f" "meshpol gra" 'meshpol graph' "$ZSH_SETUP"
complete_in "zsh: an option" "zsh -f" "meshpol audit --form" 'meshpol audit --format=' "$ZSH_SETUP"
complete_in "zsh: an option's words" "zsh -f" "meshpol audit --format " 'html.*json|json.*html' "$ZSH_SETUP"
complete_in "zsh: a subcommand's options" "zsh -f" "meshpol trail head --p" 'meshpol trail head --pubkey' "$ZSH_SETUP"
complete_in "zsh: a bundle subcommand's options" "zsh -f" "meshpol bundle build --rev" 'meshpol bundle build --revision' "$ZSH_SETUP"

# ---- make install PREFIX=..., run from elsewhere ----
P=$TMP/prefix
run_cmd make --no-print-directory -s -C "$REPO" install PREFIX="$P" BUILD="$BUILD" BIN="$BIN"
[ "$RC" -eq 0 ] && ok "make install PREFIX=$P" || not_ok "make install" "$OUT" "$ERR"
for f in bin/meshpol share/meshpol/stdlib/meshpol/dsl.lua share/man/man1/meshpol.1 \
	share/bash-completion/completions/meshpol share/zsh/site-functions/_meshpol; do
	check "installed: $f" test -s "$P/$f"
done
check "the program is executable" test -x "$P/bin/meshpol"
mkdir -p "$TMP/elsewhere"
cd "$TMP/elsewhere" || exit 1
run_cmd env -u MESHPOL_STDLIB "$P/bin/meshpol" test "$REPO/policies"
[ "$RC" -eq 0 ] && echo "$OUT" | tail -1 | grep -Eq '^[0-9]+ passed, 0 failed$' && ok "installed: policy tests from another directory (stdlib found under the prefix)" || not_ok "installed: test" "exit $RC" "$OUT" "$ERR"
run_cmd env -u MESHPOL_STDLIB "$P/bin/meshpol" audit -m "$REPO/examples/acme" -p "$REPO/policies" --format json
[ "$RC" -eq 1 ] && [ "$(echo "$OUT" | jq '.counts.findings')" -gt 0 ] && ok "installed: the example audit from another directory" || not_ok "installed: audit" "exit $RC" "${ERR:0:400}"
run_cmd man -M "$P/share/man" meshpol
echo "$OUT" | grep -q "meshpol - policy-as-code engine" && ok "man -M PREFIX/share/man meshpol" || not_ok "installed man page" "${OUT:0:300}" "$ERR"
cd "$REPO" || exit 1
run_cmd make --no-print-directory -s -C "$REPO" uninstall PREFIX="$P" BUILD="$BUILD" BIN="$BIN"
check "make uninstall removes it all" bash -c "[ -z \"\$(find '$P' -type f)\" ]"

e2e_done
