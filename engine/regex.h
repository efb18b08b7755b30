/* regex.h: RE2 regular expressions, for the mesh providers whose proxies match with Envoy's
 * safe_regex, which is Google's RE2, or with Rust's regex crate, of RE2's family: RE2's syntax (no
 * backreferences, no lookaround) and full matches of the whole value. The library is RE2 itself,
 * through a small C++ shim (regex.cc), so the semantics are RE2's by construction, never POSIX
 * regex by accident. Prefix mp_regex_. Used by: engine/providers/consul/ (intention permissions)
 * and engine/providers/linkerd/ (route matches: Linkerd's proxy uses Rust's regex crate, whose
 * syntax is RE2's), docs/import.md.
 *
 * Ownership: mp_regex_compile returns a regex the caller frees with mp_regex_free. A compiled
 * regex is immutable; any number of threads may match with it at once (RE2 is thread-safe).
 * Memory is RE2's own (C++ new), outside the engine's allocator; matching may grow RE2's lazily
 * built automaton cache, bounded by RE2's per-regex memory budget. */
#ifndef MP_REGEX_H
#define MP_REGEX_H

#include <stddef.h>

typedef struct mp_regex mp_regex;

/* Compiles pattern (len bytes) with RE2's default options (UTF-8, case-sensitive, . does not
 * match a newline). NULL with RE2's message (or "out of memory") in err. */
mp_regex *mp_regex_compile(const char *pattern, size_t len, char *err, size_t errlen);
/* Does the whole of s (len bytes) match? 1 or 0; -1 when RE2 failed (out of memory): callers
 * fail closed. */
int mp_regex_full_match(const mp_regex *re, const char *s, size_t len);
void mp_regex_free(mp_regex *re); /* NULL is fine */

#endif
