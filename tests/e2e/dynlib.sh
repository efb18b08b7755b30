#!/usr/bin/env bash
# tests/e2e/dynlib.sh: libcurl and libgit2 are loaded on first use (engine/include/dynlib.h),
# not at every start: the program does not link them, a check or an audit never maps them, a
# revision source and a bundle URL do; a library that is missing, is no library, or lacks a
# function the program calls is an error naming it (exit 2), never a crash. The broken
# libraries live in a temporary directory named by LD_LIBRARY_PATH: no system file is touched.
. "$(dirname "$0")/lib.sh"
export MESHPOL_STDLIB="$PWD/stdlib" # the runs in the test repository (make check's binary is not beside it)

soname() { objdump -p "$(cc -print-file-name="lib$1.so")" 2>/dev/null | sed -n 's/^ *SONAME *//p'; }
CURL_SO=$(soname curl)
GIT_SO=$(soname git2)
[ -n "$CURL_SO" ] && [ -n "$GIT_SO" ] && ok "the sonames of libcurl and libgit2 ($CURL_SO, $GIT_SO)" ||
	not_ok "sonames" "libcurl: '$CURL_SO'" "libgit2: '$GIT_SO'"

needed=$(readelf -d "$MESHPOL" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')
if [ -n "$needed" ] && ! printf '%s\n' "$needed" | grep -Fxq -e "$CURL_SO" -e "$GIT_SO"; then
	ok "meshpol does not link libcurl or libgit2"
else
	not_ok "not linked" "NEEDED: $(echo $needed)"
fi

# loaded: the libraries the dynamic loader opened for a run (LD_DEBUG=files names each)
loaded() { LD_DEBUG=files LD_DEBUG_OUTPUT="$TMP/ld" "$@" >/dev/null 2>&1; cat "$TMP"/ld.* 2>/dev/null; rm -f "$TMP"/ld.*; }
l=$(loaded "$MESHPOL" check -m examples/acme policies)
if printf '%s' "$l" | grep -q 'file=liblua' && ! printf '%s' "$l" | grep -q -e "file=$CURL_SO" -e "file=$GIT_SO"; then
	ok "check maps neither"
else
	not_ok "check maps neither" "$(printf '%s' "$l" | grep -o 'file=[^ ]*' | sort -u | tr '\n' ' ')"
fi

# a repository of the policies, for revision sources
R=$TMP/repo
git init -q "$R" && cp -r policies "$R/policies" && cp -r examples "$R/examples" &&
	git -C "$R" add . && git -C "$R" -c user.name=t -c user.email=t@t commit -qm base ||
	not_ok "a test repository"
DIFF="'$MESHPOL' diff -m examples/acme --base HEAD:policies --head policies"
l=$(cd "$R" && loaded "$MESHPOL" diff -m examples/acme --base HEAD:policies --head policies)
printf '%s' "$l" | grep -q "file=$GIT_SO.*dynamically loaded by" && ok "a revision source loads libgit2" ||
	not_ok "a revision source loads libgit2" "$(printf '%s' "$l" | grep -o 'file=[^ ]*' | sort -u | tr '\n' ' ')"
run_cmd bash -c "cd '$R' && $DIFF"
[ "$RC" = 0 ] && ok "and reads it" || not_ok "diff --base HEAD:policies" "exit $RC" "$ERR"

# broken libraries, each alone in a directory searched before the system's
mkdir -p "$TMP/none" "$TMP/text" "$TMP/short"
printf 'not a library, but longer than the sixty-four bytes of an ELF header, so read as one\n' \
	>"$TMP/text/$GIT_SO"
cp "$TMP/text/$GIT_SO" "$TMP/text/$CURL_SO"
printf 'int git_libgit2_init(void) { return 1; }\nint curl_global_init(long f) { return (int)f; }\n' \
	>"$TMP/short.c"
cc -shared -fPIC -o "$TMP/short/$GIT_SO" -Wl,-soname,"$GIT_SO" "$TMP/short.c" &&
	cc -shared -fPIC -o "$TMP/short/$CURL_SO" -Wl,-soname,"$CURL_SO" "$TMP/short.c" ||
	not_ok "a stub library"

# revisions (diff --base REV:PATH, --base-rev REV), with libgit2 broken two ways
for kind in text short; do
	run_cmd bash -c "cd '$R' && LD_LIBRARY_PATH='$TMP/$kind' $DIFF"
	case $kind in
	text) want="^HEAD:policies: cannot read a Git revision: .*/$GIT_SO: invalid ELF header$" ;;
	short) want="^HEAD:policies: cannot read a Git revision: $GIT_SO: cannot use git_error_last: .*undefined symbol: git_error_last$" ;;
	esac
	[ "$RC" = 2 ] && printf '%s\n' "$ERR" | grep -Eq "$want" && ok "libgit2 $kind: diff --base REV:PATH exits 2 naming it" ||
		not_ok "libgit2 $kind" "exit $RC" "$ERR"
	run_cmd bash -c "cd '$R' && LD_LIBRARY_PATH='$TMP/$kind' '$MESHPOL' diff -m examples/acme --base-rev HEAD --head policies"
	[ "$RC" = 2 ] && printf '%s\n' "$ERR" | grep -q "cannot read a Git revision: .*$GIT_SO" &&
		ok "libgit2 $kind: diff --base-rev exits 2 naming it" || not_ok "diff, libgit2 $kind" "exit $RC" "$ERR"
done
# and what does not read a revision does not notice
run_cmd env LD_LIBRARY_PATH="$TMP/text" "$MESHPOL" audit -m examples/acme -p policies -o /dev/null
[ "$RC" = 1 ] && [ -z "$ERR" ] && ok "a broken libgit2 or libcurl does not stop an audit" || not_ok "audit beside broken libraries" "exit $RC" "$ERR"

# bundle URL: the server stops at start, naming libcurl and why
for kind in text short; do
	run_cmd env LD_LIBRARY_PATH="$TMP/$kind" timeout 20 "$MESHPOL" serve \
		--bundle-url http://127.0.0.1:9/b.tar.gz --listen 127.0.0.1:0
	case $kind in
	text) want="^meshpol serve: libcurl: .*/$CURL_SO: invalid ELF header$" ;;
	short) want="^meshpol serve: libcurl: $CURL_SO: cannot use curl_global_cleanup: .*undefined symbol" ;;
	esac
	[ "$RC" = 2 ] && printf '%s\n' "$ERR" | grep -Eq "$want" && ok "libcurl $kind: serve --bundle-url exits 2 naming it" ||
		not_ok "libcurl $kind" "exit $RC" "$ERR"
done

e2e_done
