/* arena.c: blocks carved out of large chunks, freed at once (arena.h). */
#include "arena.h"
#include "alloc.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

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

void *mp_arena_alloc_raw(mp_arena *a, size_t n)
{
	n = n ? (n + 15) & ~(size_t)15 : 16;
	struct mp_arena_chunk *c = a->head;
	if (!c || c->cap - c->used < n) {
		size_t want = a->chunk ? a->chunk : 16384;
		size_t cap = n > want ? n : want;
		c = mp_malloc(sizeof(*c) + cap);
		if (!c) {
			a->oom = 1;
			return NULL;
		}
		c->next = a->head;
		c->used = 0;
		c->cap = cap;
		a->head = c;
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
}
