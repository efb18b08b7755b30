/* alloc.h: the engine allocator. Every engine allocation goes through here so that tests can
 * count allocations, cap them and inject failures (docs/architecture.md, "Allocation"). */
#ifndef MP_ALLOC_H
#define MP_ALLOC_H

#pragma GCC visibility push(default) /* the engine's interface: exported */

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

/* Same contracts as malloc/calloc/realloc/free/strdup; NULL on failure. */
void *mp_malloc(size_t n);
void *mp_calloc(size_t count, size_t size);
void *mp_realloc(void *p, size_t n);
void mp_free(void *p);
char *mp_strdup(const char *s);
char *mp_strndup(const char *s, size_t n);

/* Makes room in the array *v of *cap elements of elsize bytes for an element at index n: when
 * n < *cap nothing changes; else the capacity doubles (first when it was 0). 0, or -1 when out of
 * memory (*v and *cap then unchanged). */
int mp_grow(void **v, uint32_t *cap, size_t elsize, uint32_t n, uint32_t first);
/* The same for at least need elements: the capacity doubles from *cap (first when 0) until it
 * holds them, capped below UINT32_MAX. 0, or -1 (need too large, or out of memory). */
int mp_reserve(void **v, uint32_t *cap, size_t elsize, uint64_t need, uint32_t first);

/* Asks for transparent huge pages over the whole 2 MiB pages inside [p, p + n): a block of
 * several MiB written at once then costs a few page faults instead of one per 4 KiB (on a
 * virtual machine each costs microseconds). A hint: nothing happens where it is refused. */
void mp_advise_huge(void *p, size_t n);

/* Test hooks. mp_alloc_fail_after(n): the n-th allocation from now (0 = the next) and every
 * one after it fail, until mp_alloc_fail_after(-1) restores normal service. */
void mp_alloc_fail_after(long n);
unsigned long mp_alloc_count(void); /* successful mp_malloc/calloc/realloc calls so far */
/* One step of such a countdown (*left < 0: off; else the steps before failing), for the other
 * hooks that inject failures (mp_sandbox_fail_after): 1 when this step fails. */
int mp_alloc_countdown(atomic_long *left);

#pragma GCC visibility pop

#endif
