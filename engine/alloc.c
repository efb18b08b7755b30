/* alloc.c: the engine allocator; a thin counting layer over the C library (see alloc.h). */
#include "alloc.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

static atomic_long fail_countdown = -1;
static atomic_ulong alloc_count;

static int should_fail(void)
{
	long left = atomic_load_explicit(&fail_countdown, memory_order_relaxed);
	if (left < 0)
		return 0;
	if (left == 0)
		return 1;
	atomic_fetch_sub_explicit(&fail_countdown, 1, memory_order_relaxed);
	return 0;
}

void mp_alloc_fail_after(long n)
{
	atomic_store(&fail_countdown, n);
}
unsigned long mp_alloc_count(void)
{
	return atomic_load(&alloc_count);
}

void *mp_malloc(size_t n)
{
	if (should_fail())
		return NULL;
	void *p = malloc(n ? n : 1);
	if (p)
		atomic_fetch_add_explicit(&alloc_count, 1, memory_order_relaxed);
	return p;
}

void *mp_calloc(size_t count, size_t size)
{
	if (should_fail())
		return NULL;
	void *p = calloc(count ? count : 1, size ? size : 1);
	if (p)
		atomic_fetch_add_explicit(&alloc_count, 1, memory_order_relaxed);
	return p;
}

void *mp_realloc(void *p, size_t n)
{
	if (should_fail())
		return NULL;
	void *q = realloc(p, n ? n : 1);
	if (q)
		atomic_fetch_add_explicit(&alloc_count, 1, memory_order_relaxed);
	return q;
}

void mp_free(void *p)
{
	free(p);
}

char *mp_strndup(const char *s, size_t n)
{
	char *d = mp_malloc(n + 1);
	if (d) {
		memcpy(d, s, n);
		d[n] = '\0';
	}
	return d;
}

char *mp_strdup(const char *s)
{
	return mp_strndup(s, strlen(s));
}

int mp_reserve(void **v, uint32_t *cap, size_t elsize, uint64_t need, uint32_t first)
{
	if (need <= *cap)
		return 0;
	if (need > UINT32_MAX - 1)
		return -1;
	uint64_t ncap = *cap ? *cap : (first ? first : 1);
	while (ncap < need)
		ncap *= 2;
	if (ncap > UINT32_MAX - 1)
		ncap = UINT32_MAX - 1;
	void *nv = mp_realloc(*v, (size_t)ncap * elsize);
	if (!nv)
		return -1;
	*v = nv;
	*cap = (uint32_t)ncap;
	return 0;
}

int mp_grow(void **v, uint32_t *cap, size_t elsize, uint32_t n, uint32_t first)
{
	return mp_reserve(v, cap, elsize, (uint64_t)n + 1, first);
}
