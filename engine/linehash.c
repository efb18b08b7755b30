/* linehash.c: GitHub's primaryLocationLineHash (linehash.h). */
#include "linehash.h"
#include "alloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WINDOW   100
#define EOF_UNIT 65535u /* what the action hashes after the last character */

/* Counts of the hashes seen so far: open addressing over 64-bit keys. */
typedef struct {
	uint64_t *key;
	uint32_t *count;
	size_t cap, n;
} counter;

static uint32_t bump(counter *c, uint64_t h)
{
	if (2 * (c->n + 1) > c->cap) {
		size_t cap = c->cap ? 2 * c->cap : 1024;
		uint64_t *key = mp_calloc(cap, sizeof(*key));
		uint32_t *count = mp_calloc(cap, sizeof(*count));
		if (!key || !count) {
			mp_free(key);
			mp_free(count);
			return 0;
		}
		for (size_t i = 0; i < c->cap; i++) {
			if (!c->count[i])
				continue;
			size_t j = (size_t)(c->key[i] * 0x9e3779b97f4a7c15ull >> 20) & (cap - 1);
			while (count[j])
				j = (j + 1) & (cap - 1);
			key[j] = c->key[i];
			count[j] = c->count[i];
		}
		mp_free(c->key);
		mp_free(c->count);
		c->key = key, c->count = count, c->cap = cap;
	}
	size_t j = (size_t)(h * 0x9e3779b97f4a7c15ull >> 20) & (c->cap - 1);
	while (c->count[j] && c->key[j] != h)
		j = (j + 1) & (c->cap - 1);
	if (!c->count[j]) {
		c->key[j] = h;
		c->n++;
	}
	return ++c->count[j];
}

struct want {
	uint32_t line;
	size_t req;
};

typedef struct {
	uint32_t unit[WINDOW]; /* the last WINDOW code units */
	int64_t line[WINDOW];  /* the line that starts at that unit, or -1 */
	uint64_t hash, first;  /* the rolling hash; 37^WINDOW */
	size_t at;             /* the oldest unit */
	int64_t lines;         /* lines started so far */
	int line_start, prev_cr, oom;
	counter seen;
	mp_linehash_req *reqs;
	struct want *order; /* reqs by line: lines come out in order, so a cursor walks them */
	size_t nreqs, next;
} state;

/* The window holds the WINDOW units from the start of line s->line[s->at]: its hash is due. */
static void emit(state *s)
{
	uint32_t n = bump(&s->seen, s->hash);
	if (!n) {
		s->oom = 1;
		return;
	}
	while (s->next < s->nreqs && (int64_t)s->order[s->next].line < s->line[s->at])
		s->next++;
	for (size_t k = s->next; k < s->nreqs && (int64_t)s->order[k].line == s->line[s->at]; k++)
		snprintf(s->reqs[s->order[k].req].hash, sizeof(s->reqs[0].hash), "%llx:%u",
		         (unsigned long long)s->hash, n);
	s->line[s->at] = -1;
}

static void push(state *s, uint32_t u)
{
	uint32_t old = s->unit[s->at];
	s->unit[s->at] = u;
	s->hash = 37 * s->hash + u - s->first * old;
	s->at = (s->at + 1) % WINDOW;
}

static void unit(state *s, uint32_t u)
{
	if (u == ' ' || u == '\t' || (s->prev_cr && u == '\n')) {
		s->prev_cr = 0;
		return;
	}
	s->prev_cr = u == '\r';
	if (u == '\r')
		u = '\n';
	if (s->line[s->at] != -1)
		emit(s);
	if (s->line_start) {
		s->line_start = 0;
		s->line[s->at] = ++s->lines;
	}
	s->line_start = u == '\n';
	push(s, u);
}

/* The next code point of UTF-8 text (U+FFFD for a byte that starts no valid sequence). */
static uint32_t next_cp(const unsigned char *p, size_t left, size_t *used)
{
	uint32_t cp, min;
	size_t n;
	if (p[0] < 0x80) {
		*used = 1;
		return p[0];
	}
	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		n = 2, cp = p[0] & 0x1f, min = 0x80;
	else if (p[0] >= 0xe0 && p[0] <= 0xef)
		n = 3, cp = p[0] & 0x0f, min = 0x800;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		n = 4, cp = p[0] & 0x07, min = 0x10000;
	else
		goto bad;
	if (n > left)
		goto bad;
	for (size_t i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			goto bad;
		cp = (cp << 6) | (p[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		goto bad;
	*used = n;
	return cp;
bad:
	*used = 1;
	return 0xfffd;
}

static int by_line(const void *a, const void *b)
{
	uint32_t x = ((const struct want *)a)->line, y = ((const struct want *)b)->line;
	return x < y ? -1 : x > y;
}

int mp_linehash(const char *text, size_t len, mp_linehash_req *reqs, size_t n)
{
	state *s = mp_calloc(1, sizeof(*s));
	const unsigned char *p = (const unsigned char *)text;
	if (!s || !(s->order = mp_calloc(n + 1, sizeof(*s->order)))) {
		mp_free(s);
		return -1;
	}
	for (size_t k = 0; k < n; k++)
		s->order[k] = (struct want){reqs[k].line, k};
	qsort(s->order, n, sizeof(*s->order), by_line);
	for (size_t k = 0; k < n; k++)
		reqs[k].hash[0] = '\0';
	s->reqs = reqs, s->nreqs = n, s->line_start = 1, s->first = 1;
	for (size_t i = 0; i < WINDOW; i++) {
		s->line[i] = -1;
		s->first *= 37;
	}
	for (size_t i = 0, used; i < len && !s->oom; i += used) {
		uint32_t cp = next_cp(p + i, len - i, &used);
		if (cp > 0xffff) { /* a surrogate pair, as JavaScript strings hold it */
			unit(s, 0xd800 + ((cp - 0x10000) >> 10));
			unit(s, 0xdc00 + ((cp - 0x10000) & 0x3ff));
		} else {
			unit(s, cp);
		}
	}
	unit(s, EOF_UNIT);
	for (size_t i = 0; i < WINDOW && !s->oom; i++) {
		if (s->line[s->at] != -1)
			emit(s);
		push(s, 0);
	}
	int rc = s->oom ? -1 : 0;
	mp_free(s->seen.key);
	mp_free(s->seen.count);
	mp_free(s->order);
	mp_free(s);
	return rc;
}
