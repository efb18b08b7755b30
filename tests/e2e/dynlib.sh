#!/usr/bin/env bash
# tests/e2e/dynlib.sh: libcurl, libgit2 and libarchive are loaded on first use
# (engine/include/dynlib.h), not at every start: the program does not link them, a check or an
# audit of a directory never maps them, a revision source, a bundle URL and an archive do; a
# library that is missing, is no library, or lacks a function the program calls is an error
# naming it (exit 2), never a crash. The broken
# libraries live in a temporary directory named by LD_LIBRARY_PATH: no system file is touched.
. "$(dirname "$0")/lib.sh"
export MESHPOL_STDLIB="$PWD/stdlib" # the runs in the test repository (make check's binary is not beside it)

soname() { objdump -p "$(cc -print-file-name="lib$1.so")" 2>/dev/null | sed -n 's/^ *SONAME *//p'; }
CURL_SO=$(soname curl)
GIT_SO=$(soname git2)
ARCHIVE_SO=$(soname archive)
[ -n "$CURL_SO" ] && [ -n "$GIT_SO" ] && [ -n "$ARCHIVE_SO" ] &&
	ok "the sonames of libcurl, libgit2 and libarchive ($CURL_SO, $GIT_SO, $ARCHIVE_SO)" ||
	not_ok "sonames" "libcurl: '$CURL_SO'" "libgit2: '$GIT_SO'" "libarchive: '$ARCHIVE_SO'"

needed=$(readelf -d "$MESHPOL" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')
if [ -n "$needed" ] && ! printf '%s\n' "$needed" | grep -Fxq -e "$CURL_SO" -e "$GIT_SO" -e "$ARCHIVE_SO"; then
	ok "meshpol does not link libcurl, libgit2 or libarchive"
else
	not_ok "not linked" "NEEDED: $(echo $needed)"
fi

# loaded: the libraries the dynamic loader opened for a run (LD_DEBUG=files names each)
loaded() { LD_DEBUG=files LD_DEBUG_OUTPUT="$TMP/ld" "$@" >/dev/null 2>&1; cat "$TMP"/ld.* 2>/dev/null; rm -f "$TMP"/ld.*; }
l=$(loaded "$MESHPOL" check -m examples/acme policies)
if printf '%s' "$l" | grep -q 'file=liblua' &&
	! printf '%s' "$l" | grep -q -e "file=$CURL_SO" -e "file=$GIT_SO" -e "file=$ARCHIVE_SO"; then
	ok "a check of a directory maps none of them"
else
	not_ok "a check of a directory maps none of them" "$(printf '%s' "$l" | grep -o 'file=[^ ]*' | sort -u | tr '\n' ' ')"
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

"$MESHPOL" bundle build -p policies -o "$TMP/b.tar.gz" >/dev/null 2>&1 || not_ok "bundle build"
l=$(loaded "$MESHPOL" check -m examples/acme "$TMP/b.tar.gz")
printf '%s' "$l" | grep -q "file=$ARCHIVE_SO.*dynamically loaded by" && ok "an archive loads libarchive" ||
	not_ok "an archive loads libarchive" "$(printf '%s' "$l" | grep -o 'file=[^ ]*' | sort -u | tr '\n' ' ')"

# broken libraries, each alone in a directory searched before the system's
mkdir -p "$TMP/none" "$TMP/text" "$TMP/short"
printf 'not a library, but longer than the sixty-four bytes of an ELF header, so read as one\n' \
	>"$TMP/text/$GIT_SO"
cp "$TMP/text/$GIT_SO" "$TMP/text/$CURL_SO"
cp "$TMP/text/$GIT_SO" "$TMP/text/$ARCHIVE_SO"
printf 'int git_libgit2_init(void) { return 1; }\nint curl_global_init(long f) { return (int)f; }\n' \
	>"$TMP/short.c"
printf 'int archive_entry_clear(void) { return 0; }\n' >>"$TMP/short.c"
for so in "$GIT_SO" "$CURL_SO" "$ARCHIVE_SO"; do
	cc -shared -fPIC -o "$TMP/short/$so" -Wl,-soname,"$so" "$TMP/short.c" || not_ok "a stub $so"
done

# broken KIND NAME SONAME FUNCTION: what loading the broken library of KIND says (a regex): the
# text file is no ELF file; the stub lacks FUNCTION, the first of NAME's table it does not define
broken() {
	case $1 in
	text) printf '%s: .*/%s: invalid ELF header$' "$2" "$3" ;;
	short) printf '%s: %s: cannot use %s: .*undefined symbol: %s$' "$2" "$3" "$4" "$4" ;;
	esac
}

# revisions (diff --base REV:PATH, --base-rev REV), with libgit2 broken two ways
for kind in text short; do
	run_cmd bash -c "cd '$R' && LD_LIBRARY_PATH='$TMP/$kind' $DIFF"
	want="cannot read a Git revision: $(broken $kind libgit2 "$GIT_SO" git_error_last)"
	[ "$RC" = 2 ] && printf '%s\n' "$ERR" | grep -Eq "^HEAD:policies: $want" && ok "libgit2 $kind: diff --base REV:PATH exits 2 naming it" ||
		not_ok "libgit2 $kind" "exit $RC" "$ERR"
	run_cmd bash -c "cd '$R' && LD_LIBRARY_PATH='$TMP/$kind' '$MESHPOL' diff -m examples/acme --base-rev HEAD --head policies"
	[ "$RC" = 2 ] && printf '%s\n' "$ERR" | grep -Eq "$want" &&
		ok "libgit2 $kind: diff --base-rev exits 2 naming it" || not_ok "diff, libgit2 $kind" "exit $RC" "$ERR"
done
# and what does not read a revision does not notice
run_cmd env LD_LIBRARY_PATH="$TMP/text" "$MESHPOL" audit -m examples/acme -p policies -o /dev/null
[ "$RC" = 1 ] && [ -z "$ERR" ] && ok "a broken libgit2 or libcurl does not stop an audit" || not_ok "audit beside broken libraries" "exit $RC" "$ERR"

# archives: reading one (check, audit) and writing one (bundle build)
for kind in text short; do
	want="cannot read a bundle archive: $(broken $kind libarchive "$ARCHIVE_SO" archive_entry_filetype)"
	run_cmd env LD_LIBRARY_PATH="$TMP/$kind" "$MESHPOL" check -m examples/acme "$TMP/b.tar.gz"
	[ "$RC" = 2 ] && printf '%s\n' "$ERR" | grep -Eq "$want" && ok "libarchive $kind: check of an archive exits 2 naming it" ||
		not_ok "check, libarchive $kind" "exit $RC" "$ERR"
	run_cmd env LD_LIBRARY_PATH="$TMP/$kind" "$MESHPOL" audit -m examples/acme -p "$TMP/b.tar.gz" -o "$TMP/r.txt"
	[ "$RC" = 2 ] && printf '%s\n' "$ERR" | grep -Eq "$want" && [ ! -e "$TMP/r.txt" ] &&
		ok "libarchive $kind: audit of an archive exits 2 naming it, no report" || not_ok "audit, libarchive $kind" "exit $RC" "$ERR"
	run_cmd env LD_LIBRARY_PATH="$TMP/$kind" "$MESHPOL" bundle build -p policies -o "$TMP/c.tar.gz"
	# exit 1: the archive was not written, as for any failure to write it (cli/bundle_cmd.c)
	[ "$RC" = 1 ] && printf '%s\n' "$ERR" | grep -Eq "$(broken $kind libarchive "$ARCHIVE_SO" archive_entry_filetype)" &&
		[ ! -e "$TMP/c.tar.gz" ] &&
		ok "libarchive $kind: bundle build exits 1 naming it, no archive" || not_ok "bundle build, libarchive $kind" "exit $RC" "$ERR"
done

# bundle URL: the server stops at start, naming libcurl and why
for kind in text short; do
	run_cmd env LD_LIBRARY_PATH="$TMP/$kind" timeout 20 "$MESHPOL" serve \
		--bundle-url http://127.0.0.1:9/b.tar.gz --listen 127.0.0.1:0
	[ "$RC" = 2 ] && printf '%s\n' "$ERR" | grep -Eq "^meshpol serve: $(broken $kind libcurl "$CURL_SO" curl_global_cleanup)" && ok "libcurl $kind: serve --bundle-url exits 2 naming it" ||
		not_ok "libcurl $kind" "exit $RC" "$ERR"
done

e2e_done
