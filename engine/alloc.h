/* alloc.h: the engine allocator. Every engine allocation goes through here so that tests can
 * count allocations, cap them and inject failures (docs/architecture.md, "Allocation"). */
#ifndef MP_ALLOC_H
#define MP_ALLOC_H

#include <stddef.h>

/* Same contracts as malloc/calloc/realloc/free/strdup; NULL on failure. */
void *mp_malloc(size_t n);
void *mp_calloc(size_t count, size_t size);
void *mp_realloc(void *p, size_t n);
void mp_free(void *p);
char *mp_strdup(const char *s);
char *mp_strndup(const char *s, size_t n);

/* Test hooks. mp_alloc_fail_after(n): the n-th allocation from now (0 = the next) and every
 * one after it fail, until mp_alloc_fail_after(-1) restores normal service. */
void mp_alloc_fail_after(long n);
unsigned long mp_alloc_count(void); /* successful mp_malloc/calloc/realloc calls so far */

#endif
