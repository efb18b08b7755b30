#!/usr/bin/env bash
# tests/e2e/library.sh: libmeshpol.a promises what engine/include/ declares and nothing more
# (docs/architecture.md, "Layout"). Every symbol it defines for the linker is declared in a
# public header; no function of a private header (engine/*.h, engine/providers/*/*.h) is among
# them; a front-end, compiled as cli/, repl/ and server/ are, cannot include a private header.
. "$(dirname "$0")/lib.sh"
BUILD=${BUILD:-build}
LIB=$BUILD/libmeshpol.a
PKGS=(lua5.4 yaml-0.1 jansson libevent libevent_openssl libevent_pthreads openssl re2 libgit2) # as the Makefile

if [ ! -f "$LIB" ] || [ ! -f "$BUILD/libmeshpol_int.a" ]; then
	not_ok "library: $LIB and libmeshpol_int.a exist" "build them first (make all)"
	e2e_done
fi

# The identifiers the public headers declare, and the functions the private ones declare.
cat engine/include/*.h | grep -oE '\bmp_[A-Za-z0-9_]+' | sort -u >"$TMP/public"
cat engine/*.h engine/providers/*/*.h | grep -oE '\bmp_[A-Za-z0-9_]+ *\(' | tr -d ' (' | sort -u |
	comm -23 - "$TMP/public" >"$TMP/private"
nm -g --defined-only "$LIB" | awk 'NF == 3 { print $3 }' | sort -u >"$TMP/exported"
nm -g --defined-only "$BUILD/libmeshpol_int.a" | awk 'NF == 3 { print $3 }' | sort -u >"$TMP/all"

# Sanitizer builds add their own symbols (__asan_*, __ubsan_*, module constructors).
grep -vE '^(__|_GLOBAL_|asan\.|\.)' "$TMP/exported" >"$TMP/ours"
stray=$(comm -23 "$TMP/ours" "$TMP/public")
if [ -z "$stray" ] && [ -s "$TMP/ours" ]; then
	ok "library: its $(wc -l <"$TMP/ours") exported symbols are all declared in engine/include/"
else
	mapfile -t why < <(echo "$stray" | head -20)
	not_ok "library: exported symbols are all declared in engine/include/" "${why[@]}"
fi

leaked=$(comm -12 "$TMP/private" "$TMP/exported")
hidden=$(comm -12 "$TMP/private" "$TMP/all" | wc -l)
if [ -z "$leaked" ] && [ "$hidden" -gt 20 ]; then
	ok "library: none of the $hidden functions of private headers is exported"
else
	mapfile -t why < <(echo "$leaked" | head -20)
	not_ok "library: no function of a private header is exported ($hidden defined)" "${why[@]}"
fi

# A front-end sees engine/include/ only: a private header is not found, a public one is.
read -ra cflags <<<"$(pkg-config --cflags "${PKGS[@]}")"
printf '#include "provider.h"\n' >"$TMP/private.c"
printf '#include "engine.h"\nint main(void) { mp_engine_release(0); return 0; }\n' >"$TMP/public.c"
if ! cc -std=c11 -Iengine/include "${cflags[@]}" -c "$TMP/private.c" -o "$TMP/private.o" \
	2>"$TMP/cc" && grep -q 'provider.h' "$TMP/cc"; then
	ok "library: a front-end cannot include a private header (provider.h)"
else
	not_ok "library: a front-end cannot include a private header (provider.h)" "$(head -3 "$TMP/cc")"
fi
read -ra libs <<<"$(pkg-config --libs "${PKGS[@]}") -lstdc++ -lreadline -lpthread -lm"
if nm "$LIB" 2>/dev/null | grep -q __asan_report; then # built by `make check`
	cflags+=("-fsanitize=address,undefined" -fno-omit-frame-pointer)
fi
if cc -std=c11 -D_POSIX_C_SOURCE=200809L -Iengine/include "${cflags[@]}" "$TMP/public.c" "$LIB" \
	"${libs[@]}" -o "$TMP/public" 2>"$TMP/cc" && "$TMP/public"; then
	ok "library: a program using a public function links against libmeshpol.a alone"
else
	not_ok "library: a program using a public function links against libmeshpol.a" "$(head -5 "$TMP/cc")"
fi
e2e_done
