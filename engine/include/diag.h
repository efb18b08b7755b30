/* diag.h: diagnostics: "file:line:col: message" errors and notes, collected so that a run
 * reports every problem rather than the first. One emitter for every front-end. */
#ifndef MP_DIAG_H
#define MP_DIAG_H

#pragma GCC visibility push(default) /* the engine's interface: exported */

#include <stdint.h>
#include <stdio.h>

typedef enum { MP_DIAG_ERROR = 0, MP_DIAG_NOTE = 1 } mp_diag_level;

typedef struct {
	char *file;         /* owned; NULL when the problem has no file */
	uint32_t line, col; /* 1-based; 0 when unknown */
	mp_diag_level level;
	char *msg; /* owned; control characters already escaped */
} mp_diag;

/* A list of diagnostics; owns its entries. Zero-initialise, then mp_diags_free. */
typedef struct {
	mp_diag *v;
	uint32_t n, cap;
	uint32_t errors;  /* entries at MP_DIAG_ERROR */
	uint32_t dropped; /* entries not kept after MP_DIAGS_MAX, or lost to out-of-memory */
	uint32_t quiet;   /* set by a front-end (-q): mp_diags_print leaves the notes out */
} mp_diags;

#define MP_DIAGS_MAX 10000

void mp_diags_add(mp_diags *d, mp_diag_level level, const char *file, uint32_t line, uint32_t col,
                  const char *fmt, ...) __attribute__((format(printf, 6, 7)));
#define mp_diags_error(d, file, line, col, ...)                                                    \
	mp_diags_add(d, MP_DIAG_ERROR, file, line, col, __VA_ARGS__)
/* Prints each as "file:line:col: message" ("note: " before notes, none when d->quiet), then a
 * count if dropped. */
void mp_diags_print(const mp_diags *d, FILE *f);
void mp_diags_free(mp_diags *d);
/* Moves from's diagnostics after d's, as if each had been added to d in turn (past MP_DIAGS_MAX,
 * or out of memory, they count as dropped), and frees from. */
void mp_diags_append(mp_diags *d, mp_diags *from);

/* Copies at most max bytes of s into buf, quoting it for a message: control and non-ASCII bytes
 * become \xNN and a cut value ends in "...". Returns buf. */
const char *mp_diag_quote(const char *s, size_t len, char *buf, size_t buflen);

/* The name of names (NULL-terminated) that s most likely misspells, or NULL when none is close:
 * the nearest by optimal string alignment distance (insertions, deletions, substitutions and
 * swaps of two neighbours; ASCII case ignored, so "strict" finds "STRICT"), when that distance
 * is at most max(strlen(s), 3) / 3. Ties go to the earlier name; an s or a name over 64 bytes
 * is never matched. Every "unknown key" and "unknown value" error names its suggestion so. */
const char *mp_diag_nearest(const char *s, const char *const *names);

/* The parenthesised part of an error about s, an unknown name that should be one of names:
 * "did you mean 'X'?" when mp_diag_nearest finds X, else "expected A, B or C". Written into buf
 * (cut to fit); returns buf. */
const char *mp_diag_hint(const char *s, const char *const *names, char *buf, size_t len);

/* Is s (len bytes) well-formed UTF-8 (no overlong forms, surrogates or code points past
 * U+10FFFF)? JSON output needs it: text that is not is refused where it enters. */
int mp_utf8_valid(const char *s, size_t len);

#pragma GCC visibility pop

#endif
