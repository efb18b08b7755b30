/* patcost.h: the worst-case cost of Lua pattern matching, bounded from the pattern and the
 * subject's length alone, in O(pattern length) time and no heap memory (patcost.c). */
#ifndef MP_PATCOST_H
#define MP_PATCOST_H

#include <stddef.h>

/* How often the matcher starts: once (anchored), until a match (find, match), everywhere
 * (gmatch, gsub). */
enum mp_patcost_attempts { MP_ATTEMPT_ONCE, MP_ATTEMPT_UNTIL_MATCH, MP_ATTEMPT_EVERYWHERE };

/* The bound, in matcher steps, for pattern p (len bytes, without an anchoring '^') on n
 * subject bytes. */
double mp_patcost(const char *p, size_t len, size_t n, enum mp_patcost_attempts how);

#endif
