/* arena.c: blocks carved out of large chunks, freed at once (arena.h). */
#include "arena.h"
#include "alloc.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

struct mp_arena_chunk {
	struct mp_arena_chunk *next;
	size_t used, cap;
	_Alignas(16) unsigned char data[];
};

void *mp_arena_alloc(mp_arena *a, size_t n)
{
	void *p = mp_arena_alloc_raw(a, n);
	if (p)
		memset(p, 0, n);
	return p;
}

/* A chunk is at least a quarter of what the arena holds (up to MAX_GROW), so that a large arena
 * is a few large chunks; those of HUGE_MIN bytes or more ask for transparent huge pages: a
 * bundle of 84,000 rules writes ~100 MB of fresh memory at load, and on a virtual machine each
 * 4 KiB page's first-touch fault costs microseconds (bench/README.md, "Bundle load"). */
#define MAX_GROW  ((size_t)8 << 20)
#define HUGE_PAGE ((size_t)2 << 20)
#define HUGE_MIN  (2 * HUGE_PAGE)

static void advise_huge(void *p, size_t n)
{
#ifdef MADV_HUGEPAGE
	uintptr_t from = ((uintptr_t)p + HUGE_PAGE - 1) & ~(uintptr_t)(HUGE_PAGE - 1);
	uintptr_t to = ((uintptr_t)p + n) & ~(uintptr_t)(HUGE_PAGE - 1);
	if (n >= HUGE_MIN && to > from)
		(void)madvise((void *)from, to - from, MADV_HUGEPAGE); /* a hint: may fail */
#else
	(void)p, (void)n;
#endif
}

void *mp_arena_alloc_raw(mp_arena *a, size_t n)
{
	n = n ? (n + 15) & ~(size_t)15 : 16;
	struct mp_arena_chunk *c = a->head;
	if (!c || c->cap - c->used < n) {
		size_t want = a->chunk ? a->chunk : 16384, grow = a->total / 4;
		want = grow > want ? (grow < MAX_GROW ? grow : MAX_GROW) : want;
		size_t cap = n > want ? n : want;
		c = mp_malloc(sizeof(*c) + cap);
		if (!c) {
			a->oom = 1;
			return NULL;
		}
		advise_huge(c->data, cap);
		c->next = a->head;
		c->used = 0;
		c->cap = cap;
		a->head = c;
		a->total += cap;
	}
	void *p = c->data + c->used;
	c->used += n;
	return p;
}

char *mp_arena_strn(mp_arena *a, const char *s, size_t len)
{
	char *p = mp_arena_alloc_raw(a, len + 1); /* written whole: not zeroed first */
	if (p) {
		memcpy(p, s, len);
		p[len] = '\0';
	}
	return p;
}

char *mp_arena_str(mp_arena *a, const char *s)
{
	return mp_arena_strn(a, s, strlen(s));
}

char *mp_arena_printf(mp_arena *a, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	return mp_arena_strn(a, buf, (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1);
}

void mp_arena_free(mp_arena *a)
{
	for (struct mp_arena_chunk *c = a->head, *next; c; c = next) {
		next = c->next;
		mp_free(c);
	}
	a->head = NULL;
	a->total = 0;
}

void mp_arena_adopt(mp_arena *to, mp_arena *from)
{
	struct mp_arena_chunk *last = from->head;
	if (!last)
		return;
	while (last->next)
		last = last->next;
	/* from's chunks go behind to's current one, which new blocks keep filling */
	if (to->head) {
		last->next = to->head->next;
		to->head->next = from->head;
	} else {
		to->head = from->head;
	}
	to->total += from->total;
	from->head = NULL;
	from->total = 0;
}
