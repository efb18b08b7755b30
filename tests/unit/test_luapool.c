/* test_luapool.c: engine/luapool.c, a Lua state's allocator: 200,000 random news, growths,
 * shrinks and frees across the small/large border keep every block's bytes and never overlap
 * two blocks; a shrink never fails, a large block shrunk without memory to move it stays and
 * is freed by the release (a stray); a failed growth leaves the block as it was; the bound on
 * chunks refuses growth past it and freed blocks are reused under it. `make check` runs it under
 * ASan, which also sees the pool's poisoned (freed, uncarved) bytes and any block not released. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "alloc.h"
#include "luapool.h"

#include <stdlib.h>
#include <string.h>

#define NBLOCKS 512

typedef struct {
	unsigned char *p;
	size_t n;
	unsigned char tag;
} block;

static void check_block(const block *b)
{
	for (size_t k = 0; k < b->n; k++)
		if (b->p[k] != (unsigned char)(b->tag + k))
			fail_msg("block %p of %zu bytes: byte %zu changed", (void *)b->p, b->n, k);
}

static void fill(block *b, size_t from)
{
	for (size_t k = from; k < b->n; k++)
		b->p[k] = (unsigned char)(b->tag + k);
}

/* A size around the small/large border most of the time, sometimes a few KiB. */
static size_t random_size(unsigned *seed)
{
	unsigned r = (unsigned)rand_r(seed);
	return r % 8 == 0 ? 1 + r % 5000 : 1 + r % 320;
}

static void test_random_operations(void **state)
{
	(void)state;
	mp_luapool pool = {0};
	block b[NBLOCKS] = {{0}};
	unsigned seed = 20261207;
	for (int op = 0; op < 200000; op++) {
		block *x = &b[(unsigned)rand_r(&seed) % NBLOCKS];
		if (!x->p) { /* new: osize is Lua's type tag */
			x->n = random_size(&seed);
			x->tag = (unsigned char)op;
			x->p = mp_luapool_realloc(&pool, NULL, (size_t)(op % 9), x->n, 0);
			assert_non_null(x->p);
			fill(x, 0);
		} else if (rand_r(&seed) % 4 == 0) { /* free */
			check_block(x);
			assert_null(mp_luapool_realloc(&pool, x->p, x->n, 0, 0));
			x->p = NULL;
		} else { /* resize */
			size_t n = random_size(&seed), keep = n < x->n ? n : x->n;
			unsigned char *q = mp_luapool_realloc(&pool, x->p, x->n, n, 0);
			assert_non_null(q);
			x->p = q;
			x->n = keep;
			check_block(x);
			x->n = n;
			fill(x, keep);
		}
	}
	/* every live block still holds its own bytes: none was given twice or overlaps another */
	for (int i = 0; i < NBLOCKS; i++)
		if (b[i].p)
			check_block(&b[i]);
	for (int i = 0; i < NBLOCKS; i++)
		if (b[i].p)
			mp_luapool_realloc(&pool, b[i].p, b[i].n, 0, 0);
	mp_luapool_release(&pool);
	assert_null(pool.chunks);
	assert_int_equal(pool.held, 0);
}

/* 257..5000 bytes shrunk to 1..256 with every allocation failing: the block stays, whole. */
static void test_shrink_never_fails(void **state)
{
	(void)state;
	mp_luapool pool = {0};
	static const size_t from[] = {257, 263, 264, 300, 5000};
	static const size_t to[] = {256, 249, 1, 16, 100};
	for (size_t i = 0; i < sizeof(from) / sizeof(*from); i++) {
		block x = {.n = from[i], .tag = (unsigned char)i};
		x.p = mp_luapool_realloc(&pool, NULL, 0, x.n, 0);
		assert_non_null(x.p);
		fill(&x, 0);
		mp_alloc_fail_after(0);
		unsigned char *q = mp_luapool_realloc(&pool, x.p, x.n, to[i], 0);
		mp_alloc_fail_after(-1);
		assert_ptr_equal(q, x.p); /* a stray now */
		x.n = to[i];
		check_block(&x);
		/* and a small block shrunk stays where it is, with no allocation at all */
		mp_alloc_fail_after(0);
		q = mp_luapool_realloc(&pool, x.p, x.n, 1, 0);
		mp_alloc_fail_after(-1);
		assert_ptr_equal(q, x.p);
		if (i %
		    2) { /* freed into the pool, then handed out again as a block of its class */
			mp_luapool_realloc(&pool, x.p, 1, 0, 0);
			q = mp_luapool_realloc(&pool, NULL, 0, 16, 0);
			assert_ptr_equal(q, x.p);
			memset(q, 0x5a, 16);
		}
	}
	assert_non_null(pool.strays);
	mp_luapool_release(&pool); /* under ASan: a stray not freed here is a leak */
	assert_null(pool.strays);
}

/* A growth that finds no memory: NULL, the block untouched and still usable. */
static void test_failed_growth(void **state)
{
	(void)state;
	mp_luapool pool = {0};
	static const size_t from[] = {16, 100, 256, 300};
	static const size_t to[] = {5000, 200, 300, 6000};
	for (size_t i = 0; i < sizeof(from) / sizeof(*from); i++) {
		block x = {.n = from[i], .tag = (unsigned char)(i * 7)};
		/* a fresh pool each time for the small targets: a carve must need a new chunk */
		mp_luapool_release(&pool);
		x.p = mp_luapool_realloc(&pool, NULL, 0, x.n, 0);
		fill(&x, 0);
		pool.left = 0; /* the chunk carved out: the next class block needs a new one */
		mp_alloc_fail_after(0);
		assert_null(mp_luapool_realloc(&pool, x.p, x.n, to[i], 0));
		assert_null(mp_luapool_realloc(&pool, NULL, 0, to[i], 0));
		mp_alloc_fail_after(-1);
		check_block(&x);
		unsigned char *q = mp_luapool_realloc(&pool, x.p, x.n, to[i], 0);
		assert_non_null(q);
		x.p = q;
		check_block(&x);
		mp_luapool_realloc(&pool, x.p, to[i], 0, 0);
	}
	mp_luapool_release(&pool);
}

/* Churning through the classes under a bound: growth past it is refused, freed blocks of the
 * class asked for are still handed out, and the chunks never pass it. */
static void test_bound(void **state)
{
	(void)state;
	mp_luapool pool = {0};
	const size_t max = (size_t)4 << 16; /* four chunks */
	void *v[40000];
	for (unsigned c = 0; c < MP_LUAPOOL_CLASSES; c++) {
		size_t n = ((size_t)c + 1) * 16;
		uint32_t k = 0;
		while (k < 40000 && (v[k] = mp_luapool_realloc(&pool, NULL, 0, n, max)))
			k++;
		assert_true(pool.held <= max);
		if (c > 0 && k == 0) { /* refused: but a freed block of this class would serve */
			void *small = NULL;
			for (unsigned d = 0; d < c && !small; d++)
				small = pool.free[d];
			assert_non_null(small);
		}
		for (uint32_t i = 0; i < k; i++)
			mp_luapool_realloc(&pool, v[i], n, 0, max);
		if (k) /* what was freed is reused, within the bound */
			assert_non_null(mp_luapool_realloc(&pool, NULL, 0, n, max));
	}
	/* no bound: as much as memory gives */
	assert_non_null(mp_luapool_realloc(&pool, NULL, 0, 256, 0));
	mp_luapool_release(&pool);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_random_operations),
	    cmocka_unit_test(test_shrink_never_fails),
	    cmocka_unit_test(test_failed_growth),
	    cmocka_unit_test(test_bound),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
