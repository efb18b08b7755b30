/* strclass.h: the classes a set of patterns (match.h) cuts a string dimension into, one
 * representative string each: for every combination of the patterns that some string matches
 * (and no other), the shortest such string. Used by the diff (diff.c) for request paths,
 * principals and header values. Design: docs/bundles.md ("What is enumerated"). */
#ifndef MP_STRCLASS_H
#define MP_STRCLASS_H

#include "match.h"

#include <stdint.h>

/* States the search visits at most; past it, some classes may have no representative
 * (mp_strclass.truncated). */
#define MP_STRCLASS_MAX_STATES 60000u
/* Nor more bytes of states than this: a state holds a position in every pattern (84,000
 * principal patterns are 336 KB a state). */
#define MP_STRCLASS_MAX_BYTES ((uint64_t)64 << 20)

enum {
	/* request paths: every representative starts with '/' and is its own normal form
	 * (mp_path_normalize with merged slashes), as the engine matches paths */
	MP_STRCLASS_PATH = 1u << 0,
};

/* The representatives, in the order the search found them (shortest first). Owns v and its
 * strings; free with mp_strclass_free. */
typedef struct {
	char **v;
	uint32_t n, cap;
	int truncated; /* the search stopped at MP_STRCLASS_MAX_STATES or _MAX_BYTES */
} mp_strclass;

/* One representative for each combination of the n patterns that some string matches,
 * templates read as paths when flags has MP_STRCLASS_PATH. A string that matches none is a
 * combination too. 0, or -1 when out of memory. */
int mp_strclass_find(const mp_pattern *pats, uint32_t n, unsigned flags, mp_strclass *out);
void mp_strclass_free(mp_strclass *c);

#endif
