/* match.h: the patterns rules use for principals, paths and header values.
 * Semantics: docs/policy-language.md ("Patterns"). Patterns are compiled once at load time. */
#ifndef MP_MATCH_H
#define MP_MATCH_H

#pragma GCC visibility push(default) /* the engine's interface: exported */

#include <stddef.h>
#include <stdint.h>

typedef enum {
	MP_PAT_EXACT = 0,
	MP_PAT_PREFIX,   /* "x*" */
	MP_PAT_SUFFIX,   /* "*x" */
	MP_PAT_ANY,      /* "*": anything present */
	MP_PAT_TEMPLATE, /* a path with {*} (one segment) or a final {**} (any rest) */
} mp_pat_kind;

/* A compiled pattern; text is borrowed from whoever compiled it (the bundle). */
typedef struct {
	uint32_t kind;
	uint32_t len; /* of text: the literal part for prefix and suffix */
	const char *text;
	uint32_t id; /* exact patterns whose owner interned the text (principals): its string id,
	              * or UINT32_MAX; lets a decision compare ids instead of bytes */
} mp_pattern;

/* Compiles s. Templates are recognised only when allow_template is set (paths). Returns 0, or
 * -1 with a message in err for a malformed template ({**} not last, a brace not closed). */
int mp_pattern_compile(mp_pattern *p, const char *s, int allow_template, char *err, size_t errlen);
/* Does value (len bytes) match? A NULL value (absent) matches nothing, not even "*". */
int mp_pattern_match(const mp_pattern *p, const char *value, size_t len);
/* Case-insensitive exact / prefix / suffix / any (hosts and header names). */
int mp_pattern_match_nocase(const mp_pattern *p, const char *value, size_t len);

/* Normalises a request path as proxies do before routing (RFC 3986 section 6.2.2):
 * percent-encoded unreserved characters are decoded (so %2e%2e is ..), a raw backslash is a
 * slash (%5C stays encoded), dot segments removed
 * (section 5.2.4; a path ending in one keeps its trailing slash; an empty segment counts), and,
 * with merge_slashes, repeated slashes merged after that (Envoy's order: normalize_path, then
 * merge_slashes). Stops at '?' or '#'. Writes out (NUL-terminated) and returns the
 * length, or -1 when it does not fit in cap bytes. The decision engine merges slashes (so //admin
 * is /admin); Istio's AuthorizationPolicy ("BASE" normalisation) does not. */
long mp_path_normalize(const char *in, char *out, size_t cap, int merge_slashes);

/* The byte that the percent-encoding at p ("%2F") stands for, or -1 when p does not start with
 * '%' and two hex digits (either case). Reads at most 3 bytes, stopping at a NUL. */
int mp_percent_byte(const char *p);

#pragma GCC visibility pop

#endif
