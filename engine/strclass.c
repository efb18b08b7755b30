/* strclass.c: representatives of the classes patterns cut strings into (strclass.h).
 *
 * Each pattern kind of match.c is a small deterministic automaton over bytes (exact: a chain;
 * prefix: a chain ending in a state that takes anything; suffix: the Knuth-Morris-Pratt
 * automaton of its text; a template: its literal bytes, {*} one or more bytes other than '/',
 * a final {**} anything). The search runs all of them at once, breadth first over their
 * product, on an alphabet of the bytes the patterns hold, '/' and one byte none holds (every
 * other byte behaves like it): every product state reached is a set of strings that no pattern
 * tells apart from here on, so every combination of matches some string has is met at some
 * state, and the first string to reach it is the shortest. For paths a fifth automaton keeps
 * the strings in normal form (no empty, "." or ".." segment), the form the engine matches
 * paths in, and the search starts after a '/'. */
#include "strclass.h"
#include "alloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEAD      (-1)
#define STAR_HAVE 0x40000000 /* a template state inside {*}, one byte taken */

/* --- one pattern's automaton --- */

typedef struct {
	const mp_pattern *p;
	int32_t *fail; /* suffix: the KMP failure function of its text */
} pat;

static int32_t pat_start(const pat *x)
{
	(void)x;
	return 0;
}

/* Template offset i at "{**}"? */
static int at_rest(const mp_pattern *p, int32_t i)
{
	return (uint32_t)i + 4 <= p->len && !memcmp(p->text + i, "{**}", 4);
}
static int at_star(const mp_pattern *p, int32_t i)
{
	return (uint32_t)i + 3 <= p->len && !memcmp(p->text + i, "{*}", 3) && !at_rest(p, i);
}

static int32_t pat_step(const pat *x, int32_t s, unsigned char c)
{
	const mp_pattern *p = x->p;
	if (s == DEAD)
		return DEAD;
	switch (p->kind) {
	case MP_PAT_ANY:
		return 0;
	case MP_PAT_EXACT:
		return (uint32_t)s < p->len && (unsigned char)p->text[s] == c ? s + 1 : DEAD;
	case MP_PAT_PREFIX:
		if ((uint32_t)s == p->len)
			return s;
		return (unsigned char)p->text[s] == c ? s + 1 : DEAD;
	case MP_PAT_SUFFIX:
		for (;;) {
			if ((uint32_t)s < p->len && (unsigned char)p->text[s] == c)
				return s + 1;
			if (s == 0)
				return 0;
			s = x->fail[s - 1];
		}
	case MP_PAT_TEMPLATE:
		if (s & STAR_HAVE) {
			int32_t i = s & ~STAR_HAVE;
			if (c != '/')
				return s;
			int32_t j = i + 3;
			return (uint32_t)j < p->len && p->text[j] == '/' ? j + 1 : DEAD;
		}
		if (at_rest(p, s))
			return s;
		if (at_star(p, s))
			return c == '/' ? DEAD : (s | STAR_HAVE);
		return (uint32_t)s < p->len && (unsigned char)p->text[s] == c ? s + 1 : DEAD;
	}
	return DEAD;
}

static int pat_accepts(const pat *x, int32_t s)
{
	const mp_pattern *p = x->p;
	if (s == DEAD)
		return 0;
	switch (p->kind) {
	case MP_PAT_ANY:
		return 1;
	case MP_PAT_EXACT:
	case MP_PAT_PREFIX:
	case MP_PAT_SUFFIX:
		return (uint32_t)s == p->len;
	case MP_PAT_TEMPLATE:
		if (s & STAR_HAVE)
			return (uint32_t)(s & ~STAR_HAVE) + 3 == p->len;
		return (uint32_t)s == p->len || at_rest(p, s);
	}
	return 0;
}

/* The bytes a pattern compares literally. */
static void pat_bytes(const mp_pattern *p, unsigned char used[256])
{
	for (uint32_t i = 0; i < p->len;) {
		if (p->kind == MP_PAT_TEMPLATE && at_rest(p, (int32_t)i)) {
			i += 4;
		} else if (p->kind == MP_PAT_TEMPLATE && at_star(p, (int32_t)i)) {
			i += 3;
		} else {
			used[(unsigned char)p->text[i]] = 1;
			i++;
		}
	}
}

/* --- normal form of a path: 0 in a segment, 1 after '/', 2 after "/.", 3 after "/.." --- */

static int32_t norm_step(int32_t s, unsigned char c)
{
	if (c == '/')
		return s == 0 ? 1 : DEAD; /* "//" merges; "/./" and "/../" are removed */
	if (c == '.' && (s == 1 || s == 2))
		return s + 1;
	return 0;
}

/* --- the search --- */

typedef struct {
	uint32_t width;    /* int32s per state: the norm state, then one per pattern */
	uint32_t vwords;   /* uint64s per match vector */
	int32_t *states;   /* n * width */
	uint32_t *parent;  /* the state it was reached from (UINT32_MAX: the start) */
	unsigned char *by; /* the byte that reached it */
	uint32_t n, cap;
	uint32_t *slots; /* open addressing: index + 1, 0 empty */
	uint32_t nslots;
} space;

static uint64_t hash_words(const void *v, size_t bytes)
{
	const unsigned char *p = v;
	uint64_t h = 1469598103934665603ull;
	for (size_t i = 0; i < bytes; i++)
		h = (h ^ p[i]) * 1099511628211ull;
	return h;
}

/* Index of the state st, added when new (*added set); UINT32_MAX when out of memory. */
static uint32_t intern_state(space *sp, const int32_t *st, uint32_t parent, unsigned char by,
                             int *added)
{
	size_t bytes = sp->width * sizeof(int32_t);
	*added = 0;
	if ((sp->n + 1) * 2 > sp->nslots) {
		uint32_t ns = sp->nslots ? sp->nslots * 2 : 1024;
		uint32_t *slots = mp_calloc(ns, sizeof(*slots));
		if (!slots)
			return UINT32_MAX;
		for (uint32_t i = 0; i < sp->n; i++) {
			uint64_t h =
			    hash_words(sp->states + (size_t)i * sp->width, bytes) & (ns - 1);
			while (slots[h])
				h = (h + 1) & (ns - 1);
			slots[h] = i + 1;
		}
		mp_free(sp->slots);
		sp->slots = slots;
		sp->nslots = ns;
	}
	uint64_t h = hash_words(st, bytes) & (sp->nslots - 1);
	while (sp->slots[h]) {
		uint32_t i = sp->slots[h] - 1;
		if (!memcmp(sp->states + (size_t)i * sp->width, st, bytes))
			return i;
		h = (h + 1) & (sp->nslots - 1);
	}
	if (sp->n == sp->cap) {
		uint32_t nc = sp->cap ? sp->cap * 2 : 256;
		int32_t *s2 = mp_realloc(sp->states, (size_t)nc * bytes);
		if (!s2)
			return UINT32_MAX;
		sp->states = s2;
		uint32_t *p2 = mp_realloc(sp->parent, (size_t)nc * sizeof(*p2));
		if (!p2)
			return UINT32_MAX;
		sp->parent = p2;
		unsigned char *b2 = mp_realloc(sp->by, nc);
		if (!b2)
			return UINT32_MAX;
		sp->by = b2;
		sp->cap = nc;
	}
	memcpy(sp->states + (size_t)sp->n * sp->width, st, bytes);
	sp->parent[sp->n] = parent;
	sp->by[sp->n] = by;
	sp->slots[h] = sp->n + 1;
	*added = 1;
	return sp->n++;
}

/* Appends the string that reaches state i (prefix: the bytes before the start state). */
static int add_witness(mp_strclass *out, const space *sp, uint32_t i, const char *prefix)
{
	uint32_t len = 0;
	for (uint32_t k = i; sp->parent[k] != UINT32_MAX; k = sp->parent[k])
		len++;
	size_t pl = strlen(prefix);
	char *w = mp_malloc(pl + len + 1);
	if (!w || mp_grow((void **)&out->v, &out->cap, sizeof(*out->v), out->n, 16) < 0) {
		mp_free(w);
		return -1;
	}
	memcpy(w, prefix, pl);
	w[pl + len] = '\0';
	for (uint32_t k = i, at = len; sp->parent[k] != UINT32_MAX; k = sp->parent[k])
		w[pl + --at] = (char)sp->by[k];
	out->v[out->n++] = w;
	return 0;
}

int mp_strclass_find(const mp_pattern *pats, uint32_t n, unsigned flags, mp_strclass *out)
{
	int path = (flags & MP_STRCLASS_PATH) != 0, rc = -1;
	unsigned char used[256] = {0}, alpha[256];
	uint32_t na = 0;
	pat *x = mp_calloc(n + 1, sizeof(*x));
	space sp = {.width = n + 1, .vwords = (n + 63) / 64 + 1};
	int32_t *cur = mp_malloc((n + 1) * sizeof(int32_t));
	uint64_t *vec = mp_malloc(sp.vwords * sizeof(uint64_t));
	/* the vectors met so far: open addressing over a flat array */
	uint64_t *seen = NULL;
	uint32_t nseen = 0, seen_slots = 0;
	uint32_t *seen_idx = NULL;
	memset(out, 0, sizeof(*out));
	if (!x || !cur || !vec)
		goto out;
	for (uint32_t i = 0; i < n; i++) {
		x[i].p = &pats[i];
		pat_bytes(&pats[i], used);
		if (pats[i].kind == MP_PAT_SUFFIX && pats[i].len) {
			const char *t = pats[i].text;
			int32_t *f = mp_calloc(pats[i].len, sizeof(*f));
			if (!(x[i].fail = f))
				goto out;
			for (uint32_t q = 1, k = 0; q < pats[i].len; q++) {
				while (k > 0 && t[q] != t[k])
					k = (uint32_t)f[k - 1];
				if (t[q] == t[k])
					k++;
				f[q] = (int32_t)k;
			}
		}
	}
	used['/'] = 1;
	if (path) /* never in a normal path: matching stops at ? and #, a backslash is a slash */
		used['?'] = used['#'] = used['\\'] = 0;
	used[0] = 0;
	/* one byte no pattern holds stands for every such byte; tried first, then '/', so that
	 * the representatives read "/x", "/a/x" */
	for (const char *o = "xyzqkjw0123456789abcdefghilmnoprstuv-_~"; *o; o++)
		if (!used[(unsigned char)*o]) {
			alpha[na++] = (unsigned char)*o;
			break;
		}
	alpha[na++] = '/';
	for (int c = 1; c < 256; c++)
		if (used[c] && c != '/')
			alpha[na++] = (unsigned char)c;

	/* the start: after the leading '/' for paths */
	cur[0] = path ? 1 : 0;
	for (uint32_t i = 0; i < n; i++) {
		cur[i + 1] = pat_start(&x[i]);
		if (path)
			cur[i + 1] = pat_step(&x[i], cur[i + 1], '/');
	}
	int added;
	if (intern_state(&sp, cur, UINT32_MAX, 0, &added) == UINT32_MAX)
		goto out;
	for (uint32_t head = 0; head < sp.n; head++) {
		const int32_t *st = sp.states + (size_t)head * sp.width;
		/* the combination the string reaching this state matches */
		if (!path || st[0] == 0 || st[0] == 1) {
			memset(vec, 0, sp.vwords * sizeof(uint64_t));
			for (uint32_t i = 0; i < n; i++)
				if (pat_accepts(&x[i], st[i + 1]))
					vec[i / 64] |= 1ull << (i % 64);
			int fresh = path || head != 0; /* not the empty string */
			uint64_t h = hash_words(vec, sp.vwords * sizeof(uint64_t));
			if (fresh && (nseen + 1) * 2 > seen_slots) {
				uint32_t ns = seen_slots ? seen_slots * 2 : 64;
				uint32_t *idx = mp_calloc(ns, sizeof(*idx));
				uint64_t *sv =
				    mp_realloc(seen, (size_t)ns * sp.vwords * sizeof(uint64_t));
				if (!idx || !sv) {
					mp_free(idx);
					if (sv)
						seen = sv;
					goto out;
				}
				seen = sv;
				for (uint32_t k = 0; k < nseen; k++) {
					uint64_t g = hash_words(seen + (size_t)k * sp.vwords,
					                        sp.vwords * sizeof(uint64_t)) &
					             (ns - 1);
					while (idx[g])
						g = (g + 1) & (ns - 1);
					idx[g] = k + 1;
				}
				mp_free(seen_idx);
				seen_idx = idx;
				seen_slots = ns;
			}
			for (uint64_t g = h & (seen_slots - 1); fresh;
			     g = (g + 1) & (seen_slots - 1)) {
				if (!seen_idx[g]) {
					memcpy(seen + (size_t)nseen * sp.vwords, vec,
					       sp.vwords * sizeof(uint64_t));
					seen_idx[g] = ++nseen;
					if (add_witness(out, &sp, head, path ? "/" : "") < 0)
						goto out;
					break;
				}
				if (!memcmp(seen + (size_t)(seen_idx[g] - 1) * sp.vwords, vec,
				            sp.vwords * sizeof(uint64_t)))
					break;
			}
		}
		if (sp.n >= MP_STRCLASS_MAX_STATES ||
		    (uint64_t)sp.n * sp.width * sizeof(int32_t) >= MP_STRCLASS_MAX_BYTES) {
			out->truncated = 1;
			continue; /* no new states: finish the queue */
		}
		for (uint32_t a = 0; a < na; a++) {
			st = sp.states + (size_t)head * sp.width; /* intern may move it */
			cur[0] = path ? norm_step(st[0], alpha[a]) : 0;
			if (cur[0] == DEAD)
				continue;
			for (uint32_t i = 0; i < n; i++)
				cur[i + 1] = pat_step(&x[i], st[i + 1], alpha[a]);
			if (intern_state(&sp, cur, head, alpha[a], &added) == UINT32_MAX)
				goto out;
		}
	}
	/* a '%' the patterns hold can spell an escape the engine would decode: such a string is
	 * not its own normal form and cannot stand for its class */
	for (uint32_t i = 0; path && i < out->n; i++) {
		char norm[4096];
		long len = mp_path_normalize(out->v[i], norm, sizeof(norm), 1);
		if (len < 0 || strcmp(norm, out->v[i])) {
			mp_free(out->v[i]);
			memmove(&out->v[i], &out->v[i + 1], (out->n - i - 1) * sizeof(char *));
			out->n--;
			out->truncated = 1;
			i--;
		}
	}
	rc = 0;
out:
	for (uint32_t i = 0; x && i < n; i++)
		mp_free(x[i].fail);
	mp_free(x);
	mp_free(cur);
	mp_free(vec);
	mp_free(seen);
	mp_free(seen_idx);
	mp_free(sp.states);
	mp_free(sp.parent);
	mp_free(sp.by);
	mp_free(sp.slots);
	if (rc < 0)
		mp_strclass_free(out);
	return rc;
}

void mp_strclass_free(mp_strclass *c)
{
	for (uint32_t i = 0; i < c->n; i++)
		mp_free(c->v[i]);
	mp_free(c->v);
	memset(c, 0, sizeof(*c));
}
