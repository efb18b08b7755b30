/* decide_index.c: the decision layout of a bundle (decide_index.h): the key table of the
 * strings a request names and the per-destination rule records. Design and figures:
 * docs/server.md ("Performance", "The decision layout"). */
#include "decide_index.h"
#include "alloc.h"

#include <assert.h>
#include <string.h>

static uint64_t load64(const char *s)
{
	uint64_t w;
	memcpy(&w, s, 8);
	return w;
}

uint64_t mp_dindex_hash(const char *s, size_t len)
{
	uint64_t h = 0x9e3779b97f4a7c15u ^ ((uint64_t)len * 0xff51afd7ed558ccdu), w = 0;
	const char *end = s + len;
	for (; end - s > 8; s += 8) {
		h = (h ^ load64(s)) * 0xbf58476d1ce4e5b9u;
		h ^= h >> 31;
	}
	if (len >= 8) /* the last 8 bytes, overlapping what went before */
		w = load64(end - 8);
	else
		for (size_t i = 0; i < len; i++)
			w |= (uint64_t)(unsigned char)s[i] << (8 * i);
	h = (h ^ w) * 0x94d049bb133111ebu;
	h ^= h >> 29;
	h *= 0xbf58476d1ce4e5b9u;
	return h ^ (h >> 32);
}

/* memcmp(a, b, n) == 0, a word at a time (the lengths here are short and vary: a call to
 * memcmp costs more than the compare). */
static int same_bytes(const char *a, const char *b, size_t n)
{
	if (n < 8) {
		for (size_t i = 0; i < n; i++)
			if (a[i] != b[i])
				return 0;
		return 1;
	}
	for (size_t i = 0; i + 8 < n; i += 8)
		if (load64(a + i) != load64(b + i))
			return 0;
	return load64(a + n - 8) == load64(b + n - 8);
}

static int same_key(const mp_dindex_key *k, const char *s, size_t len)
{
	size_t head = len < MP_DINDEX_HEAD ? len : MP_DINDEX_HEAD;
	return k->len == len && same_bytes(k->head, s, head) &&
	       same_bytes(k->text + head, s + head, len - head);
}

const mp_dindex_key *mp_dindex_find(const mp_dindex *x, const char *s, size_t len, uint64_t h)
{
	for (uint32_t i = (uint32_t)h & x->mask;; i = (i + 1) & x->mask) {
		const mp_dindex_key *k = &x->keys[i];
		if (!k->text)
			return NULL;
		if (k->hash == h && same_key(k, s, len))
			return k;
	}
}

/* Adds the model string str (not the empty one) with the answers resolving it gives. */
static void add_key(mp_dindex *x, const mp_bundle *b, const mp_model_view *v, mp_str str)
{
	const mp_model *m = x->model;
	if (str == 0 || str == MP_NONE)
		return;
	const char *t = mp_model_str(m, str);
	uint32_t len = mp_model_str_len(m, str), i;
	uint64_t h = mp_dindex_hash(t, len);
	for (i = (uint32_t)h & x->mask; x->keys[i].text; i = (i + 1) & x->mask)
		if (x->keys[i].str == str)
			return;
	mp_dindex_key *k = &x->keys[i];
	k->hash = h;
	k->text = t;
	k->len = len;
	k->str = str;
	k->ident_svc = mp_model_find_service_by_identity_id(m, str);
	k->ident_ns = k->ident_svc != MP_NONE ? v->services[k->ident_svc].ns : MP_NONE;
	k->named_svc = mp_model_find_service(m, t);
	if (k->named_svc != MP_NONE) {
		k->rec_off = b->svc_off[k->named_svc];
		k->rec_n = b->svc_off[k->named_svc + 1] - k->rec_off;
	}
	memcpy(k->head, t, len < MP_DINDEX_HEAD ? len : MP_DINDEX_HEAD);
	x->nkeys++;
}

/* 1 when str is a key not counted yet (seen: a bitmap over string ids, or NULL: count all). */
static uint32_t count_key(unsigned char *seen, mp_str str)
{
	if (str == 0 || str == MP_NONE)
		return 0;
	if (!seen)
		return 1;
	unsigned char bit = (unsigned char)(1u << (str & 7));
	if (seen[str >> 3] & bit)
		return 0;
	seen[str >> 3] |= bit;
	return 1;
}

/* Equal path patterns share one entry of x->paths, so a destination's records read a few hot
 * lines. A set of the patterns seen, in scratch memory: slots is a power-of-two table of
 * indexes + 1 into pats, the first pattern of each kind and text. */
typedef struct {
	uint32_t *slots; /* NULL: no scratch memory */
	uint32_t mask;
	const mp_pattern **pats;
	uint32_t n;
} path_set;

/* The index of p in the set, added when it is new. */
static uint32_t path_index(path_set *ps, const mp_pattern *p)
{
	uint32_t i = (uint32_t)(mp_dindex_hash(p->text, p->len) ^ p->kind) & ps->mask;
	for (; ps->slots[i]; i = (i + 1) & ps->mask) {
		const mp_pattern *q = ps->pats[ps->slots[i] - 1];
		/* same kind and bytes: the texts are the same NUL-terminated string after len too
		 * (a prefix's '*', or its end), so templates, which read to the NUL, agree */
		if (q->kind == p->kind && q->len == p->len && !memcmp(q->text, p->text, p->len))
			return ps->slots[i] - 1;
	}
	ps->pats[ps->n] = p;
	ps->slots[i] = ++ps->n;
	return ps->n - 1;
}

/* The record of rule ri; its path pattern (MP_DREC_PATH) is returned, for the caller to index. */
static const mp_pattern *fill_rec(mp_dindex_rec *o, const mp_bundle *b, uint32_t ri, int plain)
{
	const mp_rule *r = &b->rules[ri];
	const mp_source *s = &r->from;
	int simple = !plain && !r->nports && !r->nheaders && r->npaths <= 1 && r->methods <= 0xffff;
	memset(o, 0, sizeof(*o));
	o->rule = ri;
	o->flags =
	    (uint8_t)((r->type != MP_RULE_ALLOW ? MP_DREC_DENY : 0) |
	              (b->policies[r->policy].enforcement == MP_ENF_ADVISORY ? MP_DREC_ADVISORY
	                                                                     : 0) |
	              (r->when ? MP_DREC_WHEN : 0) | (r->message ? MP_DREC_MESSAGE : 0));
	o->methods = (uint16_t)r->methods;
	if (!s->any) { /* `any` skips every other source field, as match_source does */
		simple = simple && !s->authenticated && !s->nservices && !s->nlabels &&
		         s->nprincipals + s->nnamespaces <= 1;
		if (s->nprincipals && s->principals[0].id == MP_NONE) {
			simple = 0; /* a pattern, or a text the model lacks: bytes decide */
		} else if (s->nprincipals) {
			o->flags |= MP_DREC_PRINCIPAL;
			o->who = s->principals[0].id;
		} else if (s->nnamespaces) {
			o->flags |= MP_DREC_NS;
			o->who = s->namespaces[0];
		}
	}
	if (!simple) {
		o->flags = (uint8_t)((o->flags & (MP_DREC_DENY | MP_DREC_ADVISORY | MP_DREC_WHEN |
		                                  MP_DREC_MESSAGE)) |
		                     MP_DREC_FULL);
		return NULL;
	}
	if (!r->npaths)
		return NULL;
	o->flags |= MP_DREC_PATH;
	return &r->paths[0];
}

/* Fills the records of one row of the index (rules: the bundle's row, n long), or with out
 * NULL only counts the distinct patterns into ps. Without scratch memory (ps->slots NULL) a
 * record with a path is FULL: right, only slower. */
static void fill_row(mp_dindex_rec *out, const mp_bundle *b, const uint32_t *rules, uint32_t n,
                     path_set *ps, mp_pattern *pats, int plain)
{
	mp_dindex_rec tmp;
	for (uint32_t i = 0; i < n; i++) {
		mp_dindex_rec *o = out ? &out[i] : &tmp;
		const mp_pattern *p = fill_rec(o, b, rules[i], plain);
		if (p && !ps->slots) {
			o->flags = (uint8_t)((o->flags & (MP_DREC_DENY | MP_DREC_ADVISORY |
			                                  MP_DREC_WHEN | MP_DREC_MESSAGE)) |
			                     MP_DREC_FULL);
			o->who = 0;
		} else if (p) {
			o->path = path_index(ps, p);
			if (out)
				pats[o->path] = *p;
		}
	}
}

/* Sets up ps for at most n patterns; slots stays NULL when scratch memory is short. */
static void path_set_open(path_set *ps, uint64_t n)
{
	uint64_t cap = 16;
	while (cap < 2 * n)
		cap *= 2;
	memset(ps, 0, sizeof(*ps));
	ps->pats = mp_calloc((size_t)n + 1, sizeof(*ps->pats));
	ps->slots = ps->pats ? mp_calloc((size_t)cap, sizeof(*ps->slots)) : NULL;
	ps->mask = (uint32_t)(cap - 1);
}

static void path_set_close(path_set *ps)
{
	mp_free(ps->slots);
	mp_free(ps->pats);
}

int mp_dindex_path_normal(const char *path, size_t *len)
{
	/* 1: a byte normalising may change ('%', '\\', '?', '#'); 2: one it may change after a
	 * slash ('/', '.') */
	static const unsigned char special[256] = {
	    ['%'] = 1, ['\\'] = 1, ['?'] = 1, ['#'] = 1, ['/'] = 2, ['.'] = 2};
	const unsigned char *s = (const unsigned char *)path;
	for (; *s; s++)
		if (special[*s] && (special[*s] == 1 || (*s == '/' && special[s[1]] == 2)))
			return 0;
	*len = (size_t)((const char *)s - path);
	return *len < MP_DINDEX_PATH_MAX;
}

mp_dindex *mp_dindex_build(const mp_bundle *b, void *(*alloc)(void *ctx, size_t n), void *ctx,
                           int plain)
{
	const mp_model *m = b->model;
	mp_model_view v = mp_model_get_view(m);
	uint32_t nsvc_rows = b->svc_off[v.nservices], next_rows = b->ext_off[v.nexternals];
	uint64_t nrows = (uint64_t)nsvc_rows + next_rows;
	mp_dindex *x = alloc(ctx, sizeof(*x));
	x->model = m;
	x->svc_recs = alloc(ctx, ((size_t)nsvc_rows + 1) * sizeof(mp_dindex_rec));
	x->ext_recs = alloc(ctx, ((size_t)next_rows + 1) * sizeof(mp_dindex_rec));
	for (uint32_t i = 0; i < b->npolicies; i++)
		x->any_advisory |= b->policies[i].enforcement == MP_ENF_ADVISORY;

	/* the table: at most a third full of the distinct keys (counted with a scratch bitmap over
	 * string ids; without one, every candidate counts), so that most keys sit in the slot
	 * their hash names: a second slot is a second line to wait for */
	uint32_t nstr = mp_model_nstrings(m);
	unsigned char *seen = mp_calloc(nstr / 8 + 1, 1);
	uint64_t nkeys = 0, cap = 16;
	for (uint32_t s = 0; s < v.nservices; s++) {
		nkeys += count_key(seen, v.services[s].name);
		nkeys += count_key(seen, v.services[s].identity);
	}
	for (uint32_t r = 0; r < b->nrules; r++)
		for (uint32_t i = 0; i < b->rules[r].from.nprincipals; i++)
			nkeys += count_key(seen, b->rules[r].from.principals[i].id);
	mp_free(seen);
	if (plain)
		nkeys = 0;
	while (cap < 3 * nkeys)
		cap *= 2;
	uintptr_t raw = (uintptr_t)alloc(ctx, (size_t)cap * sizeof(mp_dindex_key) + 63);
	x->keys = (mp_dindex_key *)((raw + 63) & ~(uintptr_t)63);
	x->mask = (uint32_t)(cap - 1);

	/* the records, in two passes over the rows: the first counts the distinct path patterns,
	 * the second fills x->paths (scratch memory only in each: nothing in a pass can raise) */
	path_set ps;
	path_set_open(&ps, plain ? 0 : nrows);
	fill_row(NULL, b, b->svc_rules, nsvc_rows, &ps, NULL, plain);
	fill_row(NULL, b, b->ext_rules, next_rows, &ps, NULL, plain);
	uint32_t npaths = ps.slots ? ps.n : 0;
	path_set_close(&ps);
	x->paths = alloc(ctx, ((size_t)npaths + 1) * sizeof(mp_pattern));
	if (npaths) /* the same rows again: the same npaths patterns, a table sized for them */
		path_set_open(&ps, npaths);
	else /* none, or no scratch memory in the first pass: records with a path are FULL */
		memset(&ps, 0, sizeof(ps));
	fill_row(x->svc_recs, b, b->svc_rules, nsvc_rows, &ps, x->paths, plain);
	fill_row(x->ext_recs, b, b->ext_rules, next_rows, &ps, x->paths, plain);
	x->npaths = ps.n;
	path_set_close(&ps);
	assert(x->npaths <= npaths);

	if (plain)
		return x;
	for (uint32_t s = 0; s < v.nservices; s++) {
		add_key(x, b, &v, v.services[s].name);
		add_key(x, b, &v, v.services[s].identity);
	}
	for (uint32_t r = 0; r < b->nrules; r++)
		for (uint32_t i = 0; i < b->rules[r].from.nprincipals; i++)
			add_key(x, b, &v, b->rules[r].from.principals[i].id);
	return x;
}
