/* waiver.h: accepted findings: the bundle's waivers.yaml, read and checked, for the audit
 * (audit.h applies them) and `meshpol check`. Format and rules: docs/audit-format.md
 * ("Waivers"). Prefix mp_waivers_.
 *
 * The file is the bundle's own copy (the bytes its SHA-256 covers), never read again from disk.
 * Ownership: an mp_waivers owns its entries and their strings (its arena); mp_waivers_free
 * releases them all. */
#ifndef MP_WAIVER_H
#define MP_WAIVER_H

#pragma GCC visibility push(default) /* the engine's interface: exported */

#include "diag.h"
#include "policy.h"

#include <jansson.h>
#include <stdint.h>

#define MP_WAIVERS_FILE "waivers.yaml"
#define MP_WAIVERS_MAX  10000 /* entries in one file */

/* One accepted finding: by fingerprint (a prefix of at least 12 of its 64 hex digits), or by
 * rule ("policy/rule") and subject, exactly as reports print them. */
typedef struct {
	const char *fingerprint; /* lower-case hex; NULL: matched by rule and subject */
	const char *rule, *subject;
	const char *reason, *owner;
	char expires[11];   /* YYYY-MM-DD */
	int64_t expires_at; /* Unix seconds when it stops applying: the end of that day, UTC */
	uint32_t line, col; /* where the entry starts in the file */
} mp_waiver;

typedef struct mp_waivers {
	const char *file; /* the file's path (its location in messages and reports) */
	mp_waiver *v;
	uint32_t n;
	struct mp_arena *arena;
} mp_waivers;

/* Reads the waivers of bundle b (its file MP_WAIVERS_FILE at the top of its directory). 0 with
 * *out NULL when the bundle has none, 0 with *out set, or -1 with every problem in d as
 * file:line:col (unknown fields with the nearest valid name, wrong types, missing fields, bad
 * dates, aliases, more than MP_WAIVERS_MAX entries). */
int mp_waivers_load(const mp_bundle *b, mp_waivers **out, mp_diags *d);
/* The same for len bytes of YAML named file (tests, and a file given apart from a bundle). */
int mp_waivers_parse(const char *file, const char *text, size_t len, mp_waivers **out, mp_diags *d);
void mp_waivers_free(mp_waivers *w); /* NULL is fine */

/* Applies w to an audit's findings (docs/audit-format.md: objects with policy, rule, subject and
 * fingerprint) at time now (Unix seconds): each finding the first waiver in force matches gets
 * "waiver": {reason, owner, expires, location}; an expired waiver waives nothing. Returns the
 * audit's "waivers" array (new reference): one object per waiver with what it names, reason,
 * owner, expires, location (file as file_as_shown, line, column), status ("active", "expired"
 * or "unused": in force but matching nothing) and findings (how many it matches). NULL when
 * out of memory (the findings may then be partly marked). */
json_t *mp_waivers_apply(const mp_waivers *w, const char *file_as_shown, json_t *findings,
                         int64_t now);

#pragma GCC visibility pop

#endif
