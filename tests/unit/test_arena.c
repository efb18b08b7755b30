/* test_arena.c: engine/arena.c: blocks are 16-aligned, zeroed (mp_arena_alloc) and never
 * overlap, in small and in large (huge-page) chunks; chunks grow with the arena; mp_arena_reset
 * keeps one chunk and reuses its bytes; mp_arena_adopt moves every block, which stays where it
 * is and is freed with its new arena; out of memory sets oom. Run under ASan by `make check`,
 * which sees any block freed too early or never. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "alloc.h"
#include "arena.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* n blocks of growing sizes, each filled with its number, then checked: none overlaps. */
static void fill_and_check(mp_arena *a, uint32_t n, size_t big)
{
	unsigned char **p = calloc(n, sizeof(*p));
	size_t *len = calloc(n, sizeof(*len));
	assert_non_null(p);
	assert_non_null(len);
	for (uint32_t i = 0; i < n; i++) {
		len[i] = i % 7 == 6 ? big : 1 + (i * 37) % 300;
		p[i] = mp_arena_alloc(a, len[i]);
		assert_non_null(p[i]);
		assert_int_equal((uintptr_t)p[i] % 16, 0);
		for (size_t k = 0; k < len[i]; k++)
			assert_int_equal(p[i][k], 0);
		memset(p[i], (int)(i & 0xff), len[i]);
	}
	for (uint32_t i = 0; i < n; i++)
		for (size_t k = 0; k<len[i]; k += len[i]> 4096 ? 4093 : 1)
			assert_int_equal(p[i][k], i & 0xff);
	free(p);
	free(len);
}

static void test_blocks(void **state)
{
	(void)state;
	mp_arena a = {.chunk = 4096};
	fill_and_check(&a, 2000, 5000);
	assert_true(a.total >= 2000);
	/* large blocks: chunks of 2 MiB and more start on a huge-page boundary */
	fill_and_check(&a, 40, (size_t)3 << 20);
	char *s = mp_arena_str(&a, "kept");
	assert_string_equal(s, "kept");
	assert_int_equal(a.oom, 0);
	mp_arena_free(&a);
	assert_null(a.head);
	assert_int_equal(a.total, 0);
	/* reusable once freed */
	fill_and_check(&a, 10, 100);
	mp_arena_free(&a);
}

static void test_reset(void **state)
{
	(void)state;
	mp_arena a = {.chunk = 65536};
	void *first = mp_arena_alloc(&a, 64);
	for (int round = 0; round < 100; round++) {
		mp_arena_reset(&a);
		void *p = mp_arena_alloc(&a, 64);
		assert_ptr_equal(p, first); /* the same bytes, every time */
		memset(p, 0xab, 64);
		assert_non_null(mp_arena_alloc(&a, 30000));
	}
	mp_arena_reset(&a);
	unsigned char *z = mp_arena_alloc(&a, 64);
	for (int k = 0; k < 64; k++)
		assert_int_equal(z[k], 0); /* zeroed again */
	/* a block larger than the chunk: a chunk of its own, the latest; reset keeps that one */
	assert_non_null(mp_arena_alloc(&a, 300000));
	mp_arena_reset(&a);
	assert_int_equal(a.total, 300000);           /* one chunk left */
	assert_non_null(mp_arena_alloc(&a, 300000)); /* fits again */
	assert_int_equal(a.total, 300000);
	mp_arena_free(&a);
	mp_arena_reset(&a); /* an empty arena: nothing to do */
	assert_null(a.head);
}

static void test_adopt(void **state)
{
	(void)state;
	mp_arena from = {.chunk = 1024}, to = {.chunk = 1024}, empty = {0};
	char *kept[50];
	for (int i = 0; i < 50; i++)
		kept[i] = mp_arena_printf(&from, "block %d of the first arena", i);
	char *mine = mp_arena_str(&to, "the second arena's own");
	size_t total = from.total + to.total;
	mp_arena_adopt(&to, &from);
	assert_null(from.head);
	assert_int_equal(from.total, 0);
	assert_int_equal(to.total, total);
	mp_arena_adopt(&to, &empty); /* nothing moves */
	assert_int_equal(to.total, total);
	char *after = mp_arena_str(&to, "allocated after"); /* to keeps filling its own chunk */
	mp_arena_free(&from);                               /* frees nothing of to's */
	for (int i = 0; i < 50; i++) {
		char want[64];
		snprintf(want, sizeof(want), "block %d of the first arena", i);
		assert_string_equal(kept[i], want);
	}
	assert_string_equal(mine, "the second arena's own");
	assert_string_equal(after, "allocated after");
	/* into an empty arena */
	mp_arena fresh = {0};
	mp_arena_adopt(&fresh, &to);
	assert_string_equal(kept[0], "block 0 of the first arena");
	mp_arena_free(&fresh); /* frees every block, ASan would see one left or freed twice */
	mp_arena_free(&to);
}

static void test_out_of_memory(void **state)
{
	(void)state;
	mp_arena a = {0};
	assert_non_null(mp_arena_alloc(&a, 10));
	mp_alloc_fail_after(0);
	assert_null(mp_arena_alloc(&a, 100000));
	assert_int_equal(a.oom, 1);
	mp_alloc_fail_after(-1);
	assert_non_null(mp_arena_alloc(&a, 100000));
	mp_arena_free(&a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_blocks),
	    cmocka_unit_test(test_reset),
	    cmocka_unit_test(test_adopt),
	    cmocka_unit_test(test_out_of_memory),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
