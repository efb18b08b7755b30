/* mutate.h: seeded mutations of JSON texts for the cmocka tests (test_jsonparse.c,
 * test_loginput.c): one to three edits of a real body at a time, inserting the tokens where
 * JSON parsers part (escapes, surrogates, NUL, numbers at the edges, invalid UTF-8, structure)
 * and repeating spans (duplicate keys). Deterministic for a seed (rng_state). */
#ifndef MP_TEST_MUTATE_H
#define MP_TEST_MUTATE_H

#include <glob.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t rng_state;
static uint64_t rnd(void) /* splitmix64 */
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15u);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
	return z ^ (z >> 31);
}

/* What a mutation inserts: tokens where the two parsers could part. */
static const char *const tokens[] = {
    "\\u0000",
    "\\uD800",
    "\\uDC00",
    "\\uD83D\\uDE00",
    "\\u00e9",
    "\\\"",
    "\\\\",
    "\\",
    "1e309",
    "1e-400",
    "-0",
    "-0.0",
    "9223372036854775808",
    "-9223372036854775809",
    "1.0",
    "1e2",
    "\xef\xbb\xbf",
    "\xc0\x80",
    "\xed\xa0\x80",
    "\xf4\x90\x80\x80",
    "\xe2\x82\xac",
    "\x80",
    "\xff",
    "null",
    "true",
    "[",
    "]",
    "{",
    "}",
    ",",
    ":",
    "\"",
    "\"a\":1,",
    "\"a\":",
    "{\"a\":1,\"a\":2}",
    " ",
    "\t",
    "\n",
    "\r",
    "\v",
    "\x01",
    "0",
    "-",
    ".",
    "e",
    "E",
    "+",
};
static const char bytes[] = "\"\\{}[],:0-1e.E+ \n\tu\x00\x80\xc0\xed\xf4\xff";

/* One to three mutations of src into dst (capacity cap); the new length. */
static size_t mutate(const char *src, size_t len, char *dst, size_t cap)
{
	memcpy(dst, src, len);
	int rounds = 1 + (int)(rnd() % 3);
	for (int r = 0; r < rounds; r++) {
		size_t at = len ? rnd() % (len + 1) : 0;
		switch (rnd() % 7) {
		case 0: /* flip a bit */
			if (at < len)
				dst[at] ^= (char)(1u << (rnd() % 8));
			break;
		case 1: /* set a byte to one that matters */
			if (at < len)
				dst[at] = bytes[rnd() % (sizeof(bytes) - 1)];
			break;
		case 2: { /* insert a token */
			const char *t = tokens[rnd() % (sizeof(tokens) / sizeof(tokens[0]))];
			size_t n = strlen(t);
			if (len + n <= cap) {
				memmove(dst + at + n, dst + at, len - at);
				memcpy(dst + at, t, n);
				len += n;
			}
			break;
		}
		case 3: { /* delete a range */
			size_t n = at < len ? 1 + rnd() % (len - at < 8 ? len - at : 8) : 0;
			memmove(dst + at, dst + at + n, len - at - n);
			len -= n;
			break;
		}
		case 4: /* truncate */
			len = at;
			break;
		case 5: { /* repeat a span (makes duplicate keys) */
			size_t n = at < len ? 1 + rnd() % (len - at < 40 ? len - at : 40) : 0;
			if (len + n <= cap) {
				memmove(dst + at + n, dst + at, len - at);
				len += n;
			}
			break;
		}
		default: /* swap two bytes */
			if (at < len) {
				size_t b = rnd() % len;
				char c = dst[at];
				dst[at] = dst[b];
				dst[b] = c;
			}
		}
	}
	return len;
}

/* Adds the files pattern matches to the mutations' seeds (seeds[n..], their lengths in len,
 * max seeds in all, the first cap bytes of each, malloc'd). Returns the new count; SIZE_MAX when a
 * file it matched could not be opened. */
static size_t mutate_add_seeds(const char *pattern, char **seeds, size_t *len, size_t n, size_t max,
                               size_t cap)
{
	glob_t g;
	if (glob(pattern, 0, NULL, &g) != 0)
		return n;
	for (size_t i = 0; i < g.gl_pathc && n < max; i++) {
		FILE *f = fopen(g.gl_pathv[i], "rb");
		if (!f) {
			n = SIZE_MAX;
			break;
		}
		seeds[n] = malloc(cap);
		len[n] = fread(seeds[n], 1, cap, f);
		n++;
		fclose(f);
	}
	globfree(&g);
	return n;
}

/* One mutated text (the i-th) through the check under test: 1 when its two ways agree, with
 * *read set when the way under test read the text itself (else it was left to the other); 0
 * when they part. */
typedef int (*mutate_check)(const char *text, size_t len, long i, int *read);

typedef struct {
	long runs;       /* mutations checked */
	long failures;   /* of them, the ones the check failed (the run stops at 5) */
	long read;       /* the ones the check read itself */
	long read_first; /* of those, mutations of seeds[0] */
} mutate_counts;

/* total mutations (rng_state seeded with seed) of seeds picked at random among the n, each made
 * in a buffer of cap bytes and handed to check; each failure is said on stderr. */
static mutate_counts mutate_run(char *const *seeds, const size_t *len, size_t n, long total,
                                uint64_t seed, size_t cap, mutate_check check)
{
	mutate_counts c = {0, 0, 0, 0};
	char *buf = malloc(cap);
	rng_state = seed;
	for (; c.runs < total && c.failures < 5; c.runs++) {
		size_t s = rnd() % n;
		size_t l = mutate(seeds[s], len[s], buf, cap);
		int r = 0;
		if (!check(buf, l, c.runs, &r)) {
			fprintf(stderr, "mutation %ld of seed %zu\n", c.runs, s);
			c.failures++;
		}
		c.read += r;
		c.read_first += r && s == 0;
	}
	free(buf);
	return c;
}

static void mutate_free_seeds(char **seeds, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(seeds[i]);
}

#endif
