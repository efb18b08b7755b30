/* luapool.c: small blocks of a Lua state from size classes (luapool.h). */
#include "luapool.h"
#include "alloc.h"

#include <string.h>

#if defined(__SANITIZE_ADDRESS__)
#define POOL_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define POOL_ASAN 1
#endif
#endif
#ifdef POOL_ASAN
#include <sanitizer/asan_interface.h>
#define POISON(p, n)   ASAN_POISON_MEMORY_REGION((p), (n))
#define UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define POISON(p, n)   ((void)(p), (void)(n))
#define UNPOISON(p, n) ((void)(p), (void)(n))
#endif

#define CHUNK      ((size_t)64 << 10)
#define CHUNK_HEAD ((size_t)16) /* the chunk's link, keeping blocks 16-aligned */
/* the least a large block is given: a stray's link goes at MP_LUAPOOL_SMALL */
#define LARGE_MIN (MP_LUAPOOL_SMALL + sizeof(mp_luapool_link))

struct mp_luapool_link {
	mp_luapool_link *next;
};

/* The class of a small size (1..MP_LUAPOOL_SMALL), and a class's block size. */
static unsigned class_of(size_t n)
{
	return (unsigned)((n + 15) >> 4) - 1;
}
static size_t class_size(unsigned c)
{
	return ((size_t)c + 1) << 4;
}

/* A block of class c: a freed one, else carved; NULL when a new chunk is needed and would pass
 * max, or there is no memory. Usable for n bytes (the rest of the class poisoned). */
static void *take(mp_luapool *p, unsigned c, size_t n, size_t max)
{
	size_t size = class_size(c);
	void *b = p->free[c];
	if (b) {
		UNPOISON(b, size);
		p->free[c] = p->free[c]->next;
	} else {
		if (p->left < size) {
			char *chunk;
			if ((max && p->held + CHUNK > max) || !(chunk = mp_malloc(CHUNK)))
				return NULL;
			((mp_luapool_link *)chunk)->next = p->chunks;
			p->chunks = (mp_luapool_link *)chunk;
			p->held += CHUNK;
			p->next = chunk + CHUNK_HEAD;
			p->left = CHUNK - CHUNK_HEAD;
			POISON(p->next, p->left);
		}
		b = p->next;
		p->next += size;
		p->left -= size;
	}
	UNPOISON(b, n);
	return b;
}

/* Puts a small block Lua knew as osize bytes on its class's list. */
static void give(mp_luapool *p, void *b, size_t osize)
{
	unsigned c = class_of(osize);
	mp_luapool_link *l = b;
	UNPOISON(l, sizeof(*l));
	l->next = p->free[c];
	p->free[c] = l;
	POISON(b, class_size(c));
}

void *mp_luapool_realloc(mp_luapool *p, void *ptr, size_t osize, size_t nsize, size_t max)
{
	size_t old = ptr ? osize : 0; /* for a new block osize is a type tag */
	int was_small = ptr && old <= MP_LUAPOOL_SMALL;
	void *q;
	if (nsize == 0) {
		if (was_small)
			give(p, ptr, old);
		else
			mp_free(ptr);
		return NULL;
	}
	if (nsize <= MP_LUAPOOL_SMALL) {
		if (was_small && class_of(nsize) <= class_of(old)) { /* in place: never fails */
			UNPOISON(ptr, nsize);
			POISON((char *)ptr + nsize, class_size(class_of(nsize)) - nsize);
			return ptr;
		}
		if (!(q = take(p, class_of(nsize), nsize, max))) {
			if (!ptr || was_small)
				return NULL; /* a growth */
			/* a large block shrunk, with no memory to move it to: it stays, now the
			 * pool's */
			mp_luapool_link *l = (void *)((char *)ptr + MP_LUAPOOL_SMALL);
			l->next = p->strays;
			p->strays = l;
			return ptr;
		}
	} else if (!was_small) {
		q = mp_realloc(ptr, nsize < LARGE_MIN ? LARGE_MIN : nsize);
		/* a shrink that failed: the old block is big enough */
		return q || !ptr || nsize > old ? q : ptr;
	} else if (!(q = mp_malloc(nsize < LARGE_MIN ? LARGE_MIN : nsize))) {
		return NULL;
	}
	if (ptr) { /* moved between the pool and mp_malloc, or between classes */
		memcpy(q, ptr, old < nsize ? old : nsize);
		if (was_small)
			give(p, ptr, old);
		else
			mp_free(ptr);
	}
	return q;
}

void mp_luapool_release(mp_luapool *p)
{
	mp_luapool_link *l, *next;
	for (l = p->chunks; l; l = next) {
		next = l->next;
		UNPOISON(l, CHUNK);
		mp_free(l);
	}
	for (l = p->strays; l; l = next) {
		next = l->next;
		mp_free((char *)l - MP_LUAPOOL_SMALL);
	}
	memset(p, 0, sizeof(*p));
}
