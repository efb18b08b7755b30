/* arena.c: blocks carved out of large chunks, freed at once (arena.h). */
#include "arena.h"
#include "alloc.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

struct mp_arena_chunk {
	struct mp_arena_chunk *next;
	size_t used, cap;
	unsigned char *data; /* cap bytes: right after the header, or (a large chunk) at the
	                      * first huge-page boundary after it */
	_Alignas(16) unsigned char after[];
};

void *mp_arena_alloc(mp_arena *a, size_t n)
{
	void *p = mp_arena_alloc_raw(a, n);
	if (p)
		memset(p, 0, n);
	return p;
}

/* A new chunk is at least as large as the arena so far (up to MAX_GROW), so that a large arena
 * is a few large chunks; those of HUGE_MIN bytes or more start on a huge-page boundary (the
 * bytes before it are address space, never touched) and ask for transparent huge pages: a
 * bundle of 84,000 rules writes ~60 MB of fresh memory at load, and on a virtual machine each
 * 4 KiB page's first-touch fault costs microseconds (bench/README.md, "Bundle load"). */
#define MAX_GROW  ((size_t)8 << 20)
#define HUGE_PAGE ((size_t)2 << 20)
#define HUGE_MIN  HUGE_PAGE

void *mp_arena_alloc_raw(mp_arena *a, size_t n)
{
	n = n ? (n + 15) & ~(size_t)15 : 16;
	struct mp_arena_chunk *c = a->head;
	if (!c || c->cap - c->used < n) {
		size_t want = a->chunk ? a->chunk : 16384, grow = a->total;
		want = grow > want ? (grow < MAX_GROW ? grow : MAX_GROW) : want;
		size_t cap = n > want ? n : want, pad = cap >= HUGE_MIN ? HUGE_PAGE : 0;
		c = mp_malloc(sizeof(*c) + pad + cap);
		if (!c) {
			a->oom = 1;
			return NULL;
		}
		c->data = c->after;
		if (pad) {
			uintptr_t at =
			    ((uintptr_t)c->after + HUGE_PAGE - 1) & ~(uintptr_t)(HUGE_PAGE - 1);
			c->data = (unsigned char *)at;
			mp_advise_huge(c->data, cap);
		}
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

void mp_arena_reset(mp_arena *a)
{
	struct mp_arena_chunk *keep = a->head;
	if (!keep)
		return;
	for (struct mp_arena_chunk *c = keep->next, *next; c; c = next) {
		next = c->next;
		mp_free(c);
	}
	keep->next = NULL;
	keep->used = 0;
	a->total = keep->cap;
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
