/* model.c: the compiled mesh model: string interning, element arrays, indexes, content hash.
 * The .mpm reader and writer live in mpm.c. Design notes: docs/architecture.md ("The model"). */
#include "model.h"
#include "alloc.h"
#include "model_int.h"

#include <assert.h>
#include <ctype.h>
#include <openssl/evp.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

_Static_assert(sizeof(mp_certificate) == 40, "mp_certificate must have no padding");
_Static_assert(sizeof(mp_service) % 4 == 0, "u32-only struct");

/* Appends n elements of elsize bytes; returns the offset of the first, or MP_NONE. */
static uint32_t vec_push(void **v, uint32_t *len, uint32_t *cap, size_t elsize, const void *src,
                         uint32_t n)
{
	if (mp_reserve(v, cap, elsize, (uint64_t)*len + n, 16) < 0)
		return MP_NONE;
	uint32_t off = *len;
	if (n)
		memcpy((char *)*v + (size_t)off * elsize, src, (size_t)n * elsize);
	*len += n;
	return off;
}

#define PUSH(vec, src, count)                                                                      \
	vec_push((void **)&(vec).v, &(vec).n, &(vec).cap, sizeof(*(vec).v), src, count)

static uint32_t hash_bytes(const char *s, size_t len)
{
	uint32_t h = 2166136261u; /* FNV-1a */
	for (size_t i = 0; i < len; i++) {
		h ^= (unsigned char)s[i];
		h *= 16777619u;
	}
	return h;
}

mp_model *mp_model_new(void)
{
	mp_model *m = mp_calloc(1, sizeof(*m));
	if (!m)
		return NULL;
	atomic_init(&m->refs, 1);
	if (mp_model_intern(m, "", 0) != 0) {
		mp_model_free(m);
		return NULL;
	}
	return m;
}

static void csr_free(mp_csr *c)
{
	mp_free(c->off);
	mp_free(c->val);
	c->off = NULL;
	c->val = NULL;
}

static void free_indexes(mp_model *m)
{
	csr_free(&m->by_name);
	csr_free(&m->by_identity);
	csr_free(&m->by_namespace);
	csr_free(&m->by_cluster);
	csr_free(&m->edges_from);
	csr_free(&m->edges_to);
	csr_free(&m->ns_by_name);
	csr_free(&m->cluster_by_name);
	csr_free(&m->jur_by_name);
	csr_free(&m->jur_by_region);
	csr_free(&m->ext_by_key);
	csr_free(&m->workloads_of);
	csr_free(&m->wl_by_identity);
	mp_free(m->edges_any.v);
	m->edges_any.v = NULL;
	m->edges_any.n = m->edges_any.cap = 0;
}

mp_model *mp_model_retain(mp_model *m)
{
	atomic_fetch_add_explicit(&m->refs, 1, memory_order_relaxed);
	return m;
}

void mp_model_free(mp_model *m)
{
	if (!m || atomic_fetch_sub_explicit(&m->refs, 1, memory_order_acq_rel) != 1)
		return;
	free_indexes(m);
	mp_free(m->blob.v);
	mp_free(m->str_off.v);
	mp_free(m->str_hash.v);
	mp_free(m->table);
	mp_free(m->clusters.v);
	mp_free(m->jurisdictions.v);
	mp_free(m->namespaces.v);
	mp_free(m->services.v);
	mp_free(m->routes.v);
	mp_free(m->externals.v);
	mp_free(m->certs.v);
	mp_free(m->u32.v);
	mp_free(m->labels.v);
	mp_free(m->ports.v);
	mp_free(m->targets.v);
	mp_free(m->workloads.v);
	mp_free(m->resources.v);
	mp_free(m->findings.v);
	mp_free(m->sources.v);
	mp_free(m);
}

/* The interning table is open addressing over string ids; it is rebuilt when 3/4 full. */
static int table_insert(mp_model *m, mp_str id)
{
	uint32_t mask = m->table_cap - 1;
	uint32_t i = m->str_hash.v[id] & mask;
	while (m->table[i] != MP_NONE)
		i = (i + 1) & mask;
	m->table[i] = id;
	return 0;
}

static int table_grow(mp_model *m)
{
	uint32_t ncap = m->table_cap ? m->table_cap * 2 : 64;
	uint32_t *nt = mp_malloc((size_t)ncap * sizeof(*nt));
	if (!nt)
		return -1;
	memset(nt, 0xff, (size_t)ncap * sizeof(*nt));
	mp_free(m->table);
	m->table = nt;
	m->table_cap = ncap;
	for (uint32_t id = 0; id < m->str_hash.n; id++)
		table_insert(m, id);
	return 0;
}

static mp_str table_find(const mp_model *m, const char *s, size_t len, uint32_t h)
{
	if (!m->table_cap)
		return MP_NONE;
	uint32_t mask = m->table_cap - 1;
	for (uint32_t i = h & mask; m->table[i] != MP_NONE; i = (i + 1) & mask) {
		mp_str id = m->table[i];
		if (m->str_hash.v[id] == h && mp_model_str_len(m, id) == len &&
		    memcmp(m->blob.v + m->str_off.v[id], s, len) == 0)
			return id;
	}
	return MP_NONE;
}

mp_str mp_model_find_str(const mp_model *m, const char *s, size_t len)
{
	return table_find(m, s, len, hash_bytes(s, len));
}

/* Adds a string to the blob and hash arrays without looking it up first (used by load). */
int mp_model_append_str(mp_model *m, const char *s, size_t len, uint32_t h)
{
	if (len > UINT32_MAX / 2 || (uint64_t)m->blob.n + len + 1 > UINT32_MAX - 1)
		return -1;
	if (m->str_off.n == 0 && PUSH(m->str_off, &(uint32_t){0}, 1) == MP_NONE)
		return -1;
	if (PUSH(m->blob, s, (uint32_t)len) == MP_NONE || PUSH(m->blob, "", 1) == MP_NONE)
		return -1;
	if (PUSH(m->str_hash, &h, 1) == MP_NONE)
		return -1;
	if (PUSH(m->str_off, &m->blob.n, 1) == MP_NONE) {
		m->str_hash.n--;
		return -1;
	}
	return 0;
}

mp_str mp_model_intern(mp_model *m, const char *s, size_t len)
{
	uint32_t h = hash_bytes(s, len);
	mp_str id = table_find(m, s, len, h);
	if (id != MP_NONE)
		return id;
	if ((uint64_t)(m->str_hash.n + 1) * 4 > (uint64_t)m->table_cap * 3 && table_grow(m) < 0)
		return MP_NONE;
	id = m->str_hash.n;
	if (mp_model_append_str(m, s, len, h) < 0)
		return MP_NONE;
	table_insert(m, id);
	return id;
}

int mp_model_rehash(mp_model *m)
{
	for (uint32_t id = 0; id < m->str_hash.n; id++)
		m->str_hash.v[id] =
		    hash_bytes(m->blob.v + m->str_off.v[id], mp_model_str_len(m, id));
	mp_free(m->table);
	m->table = NULL;
	m->table_cap = 0;
	uint32_t cap = 64;
	while ((uint64_t)cap * 3 < (uint64_t)m->str_hash.n * 4 + 4)
		cap *= 2;
	m->table_cap = cap / 2; /* table_grow doubles it */
	return table_grow(m);
}

const char *mp_model_str(const mp_model *m, mp_str id)
{
	if (id >= m->str_hash.n)
		return "";
	return m->blob.v + m->str_off.v[id];
}

uint32_t mp_model_str_len(const mp_model *m, mp_str id)
{
	if (id >= m->str_hash.n)
		return 0;
	return m->str_off.v[id + 1] - m->str_off.v[id] - 1;
}

uint32_t mp_model_nstrings(const mp_model *m)
{
	return m->str_hash.n;
}

#define ADDER(fn, T, field)                                                                        \
	mp_id fn(mp_model *m, const T *e)                                                          \
	{                                                                                          \
		return PUSH(m->field, e, 1);                                                       \
	}
ADDER(mp_model_add_cluster, mp_cluster, clusters)
ADDER(mp_model_add_jurisdiction, mp_jurisdiction, jurisdictions)
ADDER(mp_model_add_namespace, mp_namespace, namespaces)
ADDER(mp_model_add_service, mp_service, services)
ADDER(mp_model_add_route, mp_route, routes)
ADDER(mp_model_add_external, mp_external, externals)
ADDER(mp_model_add_workload, mp_workload, workloads)
ADDER(mp_model_add_resource, mp_resource, resources)
ADDER(mp_model_add_finding, mp_import_finding, findings)

int mp_model_add_source(mp_model *m, mp_str name, uint32_t root_len)
{
	mp_source_name sn = {name, root_len};
	assert(name < m->str_hash.n && root_len <= mp_model_str_len(m, name));
	return PUSH(m->sources, &sn, 1) == MP_NONE ? -1 : 0;
}

mp_id mp_model_add_cert(mp_model *m, const mp_certificate *c)
{
	mp_certificate copy;
	memset(&copy, 0, sizeof(copy)); /* no padding today; keep the hash stable if that changes */
	copy = *c;
	return PUSH(m->certs, &copy, 1);
}

uint32_t mp_model_push_u32(mp_model *m, const uint32_t *v, uint32_t n)
{
	return PUSH(m->u32, v, n);
}
uint32_t mp_model_push_labels(mp_model *m, const mp_label *v, uint32_t n)
{
	return PUSH(m->labels, v, n);
}
uint32_t mp_model_push_ports(mp_model *m, const mp_port *v, uint32_t n)
{
	return PUSH(m->ports, v, n);
}
uint32_t mp_model_push_targets(mp_model *m, const mp_target *v, uint32_t n)
{
	return PUSH(m->targets, v, n);
}

mp_service *mp_model_service_mut(mp_model *m, mp_id id)
{
	return id < m->services.n ? &m->services.v[id] : NULL;
}

mp_route *mp_model_route_mut(mp_model *m, mp_id id)
{
	return id < m->routes.n ? &m->routes.v[id] : NULL;
}

mp_namespace *mp_model_namespace_mut(mp_model *m, mp_id id)
{
	return id < m->namespaces.n ? &m->namespaces.v[id] : NULL;
}

mp_cluster *mp_model_cluster_mut(mp_model *m, mp_id id)
{
	return id < m->clusters.n ? &m->clusters.v[id] : NULL;
}

mp_model_view mp_model_get_view(const mp_model *m)
{
	mp_model_view v = {
	    .nclusters = m->clusters.n,
	    .njurisdictions = m->jurisdictions.n,
	    .nnamespaces = m->namespaces.n,
	    .nservices = m->services.n,
	    .nroutes = m->routes.n,
	    .nexternals = m->externals.n,
	    .ncerts = m->certs.n,
	    .clusters = m->clusters.v,
	    .jurisdictions = m->jurisdictions.v,
	    .namespaces = m->namespaces.v,
	    .services = m->services.v,
	    .routes = m->routes.v,
	    .externals = m->externals.v,
	    .certs = m->certs.v,
	    .u32 = m->u32.v,
	    .labels = m->labels.v,
	    .ports = m->ports.v,
	    .targets = m->targets.v,
	    .nworkloads = m->workloads.n,
	    .nresources = m->resources.n,
	    .nfindings = m->findings.n,
	    .workloads = m->workloads.v,
	    .resources = m->resources.v,
	    .findings = m->findings.v,
	};
	return v;
}

/* --- indexes --- */

/* A (key, value) pair list being collected for a CSR index. */
typedef struct {
	uint32_t *keys;
	char *vals;
	uint32_t n, cap;
	size_t elsize;
} pairs;

/* One value of elsize bytes, copied inline rather than by a call to memcpy per value (a loaded
 * model indexes ~10^6 of them). */
static inline void copy_value(void *dst, const void *src, size_t elsize)
{
	assert(elsize == 4 || elsize == 8); /* ids, and mp_edge */
	if (elsize == 8)
		memcpy(dst, src, 8);
	else
		memcpy(dst, src, 4);
}

/* Room for n pairs at once, when their number is known (or bounded) before they are added: a
 * loaded model's indexes then grow no array (the first pairs_add allocates when n is 0). */
static int pairs_reserve(pairs *p, uint64_t n)
{
	if (n <= p->cap)
		return 0;
	if (n > UINT32_MAX)
		return -1;
	uint32_t *nk = mp_realloc(p->keys, (size_t)n * sizeof(*nk));
	if (!nk)
		return -1;
	p->keys = nk;
	char *nv = mp_realloc(p->vals, (size_t)n * p->elsize);
	if (!nv)
		return -1;
	p->vals = nv;
	p->cap = (uint32_t)n;
	return 0;
}

static int pairs_add(pairs *p, uint32_t key, const void *val)
{
	if (p->n == p->cap) {
		if (pairs_reserve(p, p->cap ? (uint64_t)p->cap * 2 : 64) < 0)
			return -1;
	}
	p->keys[p->n] = key;
	memcpy(p->vals + (size_t)p->n * p->elsize, val, p->elsize);
	p->n++;
	return 0;
}

/* c made for n values under nkeys keys, its offsets zeroed: the caller counts key k's values
 * in c->off[k + 1], then csr_offsets. 0, or -1 (out of memory; c freed by free_indexes). */
static int csr_alloc(mp_csr *c, uint32_t nkeys, uint32_t n, size_t elsize)
{
	c->elsize = elsize;
	c->nkeys = nkeys;
	c->off = mp_calloc((size_t)nkeys + 1, sizeof(uint32_t));
	c->val = mp_malloc((size_t)n * elsize);
	return c->off && c->val ? 0 : -1;
}

/* The counts made offsets; returns each key's fill cursor (the caller frees it), or NULL. */
static uint32_t *csr_offsets(mp_csr *c)
{
	for (uint32_t k = 0; k < c->nkeys; k++)
		c->off[k + 1] += c->off[k];
	uint32_t *fill = mp_malloc(((size_t)c->nkeys + 1) * sizeof(uint32_t));
	if (fill)
		memcpy(fill, c->off, ((size_t)c->nkeys + 1) * sizeof(uint32_t));
	return fill;
}

/* Counting sort of the pairs into c; stable, so values keep their insertion order. */
static int csr_build(mp_csr *c, uint32_t nkeys, pairs *p)
{
	int rc = -1;
	uint32_t *fill = NULL;
	if (csr_alloc(c, nkeys, p->n, p->elsize) < 0)
		goto out;
	for (uint32_t i = 0; i < p->n; i++)
		c->off[p->keys[i] + 1]++;
	if (!(fill = csr_offsets(c)))
		goto out;
	for (uint32_t i = 0; i < p->n; i++)
		copy_value(c->val + (size_t)fill[p->keys[i]]++ * p->elsize,
		           p->vals + (size_t)i * p->elsize, p->elsize);
	rc = 0;
out:
	mp_free(fill);
	mp_free(p->keys);
	mp_free(p->vals);
	memset(p, 0, sizeof(*p));
	return rc;
}

static uint32_t csr_get(const mp_csr *c, uint32_t key, const void **vals)
{
	if (!c->off || key >= c->nkeys) {
		*vals = NULL;
		return 0;
	}
	*vals = c->val + (size_t)c->off[key] * c->elsize;
	return c->off[key + 1] - c->off[key];
}

static uint32_t csr_first(const mp_csr *c, uint32_t key)
{
	const void *v;
	if (csr_get(c, key, &v) == 0)
		return MP_NONE;
	uint32_t id;
	memcpy(&id, v, sizeof(id));
	return id;
}

/* Indexes n elements of stride bytes by the u32 key at key_off in each: key -> element ids.
 * The values are the element ids themselves, so the counting sort reads the keys twice from the
 * array instead of collecting pairs. */
static int index_by_field(mp_csr *c, uint32_t nkeys, const void *arr, uint32_t n, size_t stride,
                          size_t key_off)
{
	const char *key_at = (const char *)arr + key_off;
	uint32_t key, *fill;
	if (csr_alloc(c, nkeys, n, sizeof(uint32_t)) < 0)
		return -1;
	for (uint32_t i = 0; i < n; i++) {
		memcpy(&key, key_at + (size_t)i * stride, sizeof(key));
		c->off[key + 1]++;
	}
	if (!(fill = csr_offsets(c)))
		return -1;
	uint32_t *val = (uint32_t *)(void *)c->val;
	for (uint32_t i = 0; i < n; i++) {
		memcpy(&key, key_at + (size_t)i * stride, sizeof(key));
		val[fill[key]++] = i;
	}
	mp_free(fill);
	return 0;
}

#define INDEX(csr_, arr, field, nkeys)                                                             \
	index_by_field(&m->csr_, nkeys, m->arr.v, m->arr.n, sizeof(*m->arr.v),                     \
	               offsetof(__typeof__(*m->arr.v), field))

static int build_edges(mp_model *m)
{
	pairs from = {.elsize = sizeof(mp_edge)}, to = {.elsize = sizeof(mp_edge)};
	uint64_t nedges = 0; /* at most one pair per edge in each index */
	for (uint32_t r = 0; r < m->routes.n; r++)
		nedges += (uint64_t)m->routes.v[r].dests.n + m->routes.v[r].mirrors.n +
		          m->routes.v[r].failover.n;
	if (pairs_reserve(&from, nedges) < 0 || pairs_reserve(&to, nedges) < 0)
		goto fail;
	for (uint32_t r = 0; r < m->routes.n; r++) {
		const mp_route *rt = &m->routes.v[r];
		const mp_span spans[3] = {rt->dests, rt->mirrors, rt->failover};
		for (int s = 0; s < 3; s++) {
			for (uint32_t t = spans[s].off; t < spans[s].off + spans[s].n; t++) {
				mp_edge e = {r, t};
				if (rt->source == MP_NONE) {
					if (PUSH(m->edges_any, &e, 1) == MP_NONE)
						goto fail;
				} else if (pairs_add(&from, rt->source, &e) < 0) {
					goto fail;
				}
				const mp_target *tg = &m->targets.v[t];
				if (tg->kind == MP_TARGET_SERVICE && pairs_add(&to, tg->id, &e) < 0)
					goto fail;
			}
		}
	}
	if (csr_build(&m->edges_from, m->services.n, &from) < 0)
		goto fail;
	if (csr_build(&m->edges_to, m->services.n, &to) < 0)
		goto fail;
	return 0;
fail:
	mp_free(from.keys);
	mp_free(from.vals);
	mp_free(to.keys);
	mp_free(to.vals);
	return -1;
}

/* Imported workloads: service -> workloads, identity -> workloads. */
static int build_workload_indexes(mp_model *m)
{
	pairs of = {.elsize = 4}, ident = {.elsize = 4};
	uint64_t nof = 0;
	for (uint32_t w = 0; w < m->workloads.n; w++)
		nof += m->workloads.v[w].services.n;
	if (pairs_reserve(&of, nof) < 0 || pairs_reserve(&ident, m->workloads.n) < 0)
		goto fail;
	for (uint32_t w = 0; w < m->workloads.n; w++) {
		const mp_workload *wl = &m->workloads.v[w];
		for (uint32_t k = 0; k < wl->services.n; k++)
			if (pairs_add(&of, m->u32.v[wl->services.off + k], &w) < 0)
				goto fail;
		if (wl->identity && pairs_add(&ident, wl->identity, &w) < 0)
			goto fail;
	}
	int r1 = csr_build(&m->workloads_of, m->services.n, &of);
	int r2 = csr_build(&m->wl_by_identity, m->str_hash.n, &ident);
	return r1 < 0 || r2 < 0 ? -1 : 0;
fail:
	mp_free(of.keys);
	mp_free(of.vals);
	mp_free(ident.keys);
	mp_free(ident.vals);
	return -1;
}

int mp_model_build_indexes(mp_model *m)
{
	uint32_t nstr = m->str_hash.n;
	free_indexes(m);
	if (INDEX(by_name, services, name, nstr) < 0 ||
	    INDEX(by_identity, services, identity, nstr) < 0 ||
	    INDEX(by_namespace, services, ns, m->namespaces.n) < 0 ||
	    INDEX(ns_by_name, namespaces, name, nstr) < 0 ||
	    INDEX(cluster_by_name, clusters, name, nstr) < 0 ||
	    INDEX(jur_by_name, jurisdictions, name, nstr) < 0)
		goto fail;
	{
		pairs cl = {.elsize = 4}, reg = {.elsize = 4}, ext = {.elsize = 4};
		uint64_t ncl = 0, nreg = 0;
		for (uint32_t i = 0; i < m->services.n; i++)
			ncl += m->services.v[i].clusters.n;
		for (uint32_t j = 0; j < m->jurisdictions.n; j++)
			nreg += m->jurisdictions.v[j].regions.n;
		int bad = pairs_reserve(&cl, ncl) | pairs_reserve(&reg, nreg) |
		          pairs_reserve(&ext, (uint64_t)m->externals.n * 2);
		for (uint32_t i = 0; i < m->services.n && !bad; i++) {
			const mp_service *s = &m->services.v[i];
			for (uint32_t k = 0; k < s->clusters.n && !bad; k++)
				bad |= pairs_add(&cl, m->u32.v[s->clusters.off + k], &i);
		}
		for (uint32_t j = 0; j < m->jurisdictions.n && !bad; j++) {
			const mp_jurisdiction *jd = &m->jurisdictions.v[j];
			for (uint32_t k = 0; k < jd->regions.n && !bad; k++)
				bad |= pairs_add(&reg, m->u32.v[jd->regions.off + k], &j);
		}
		m->ext_mixed_case = 0;
		for (uint32_t e = 0; e < m->externals.n; e++)
			for (const char *h = mp_model_str(m, m->externals.v[e].host); *h; h++)
				m->ext_mixed_case |= *h >= 'A' && *h <= 'Z';
		for (uint32_t e = 0; e < m->externals.n && !bad; e++) {
			bad |= pairs_add(&ext, m->externals.v[e].name, &e);
			if (!bad && m->externals.v[e].host != m->externals.v[e].name)
				bad |= pairs_add(&ext, m->externals.v[e].host, &e);
		}
		if (bad) {
			pairs *all[3] = {&cl, &reg, &ext};
			for (int i = 0; i < 3; i++) {
				mp_free(all[i]->keys);
				mp_free(all[i]->vals);
			}
			goto fail;
		}
		int r2 = csr_build(&m->by_cluster, m->clusters.n, &cl);
		int r3 = csr_build(&m->jur_by_region, nstr, &reg);
		int r4 = csr_build(&m->ext_by_key, nstr, &ext);
		if (r2 < 0 || r3 < 0 || r4 < 0)
			goto fail;
	}
	if (build_edges(m) < 0 || build_workload_indexes(m) < 0)
		goto fail;
	return 0;
fail:
	free_indexes(m);
	return -1;
}

/* The model's hash covers the content with each source file's name relative to its source
 * root (mp_model_serialize_hashed; docs/mpm-format.md, "The model's hash"). */
static int sha_sink(void *ctx, const void *p, size_t n)
{
	return EVP_DigestUpdate((EVP_MD_CTX *)ctx, p, n) == 1 ? 0 : -1;
}

int mp_model_hash(const mp_model *m, unsigned char out[32])
{
	int rc = -1;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	if (!ctx || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1)
		goto out;
	if (mp_model_serialize_hashed(m, sha_sink, ctx) < 0)
		goto out;
	if (EVP_DigestFinal_ex(ctx, out, NULL) != 1)
		goto out;
	rc = 0;
out:
	EVP_MD_CTX_free(ctx);
	return rc;
}

void mp_hex(const unsigned char *in, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * n] = '\0';
}

int mp_model_finish(mp_model *m)
{
	unsigned char digest[32];
	if (mp_model_build_indexes(m) < 0 || mp_model_hash(m, digest) < 0)
		return -1;
	memcpy(m->digest, digest, 32);
	mp_hex(digest, 32, m->sha256);
	return 0;
}

const char *mp_model_sha256(const mp_model *m)
{
	return m->sha256;
}

/* --- lookups --- */

uint32_t mp_model_services_named(const mp_model *m, const char *name, const mp_id **ids)
{
	mp_str s = mp_model_find_str(m, name, strlen(name));
	*ids = NULL;
	if (s == MP_NONE)
		return 0;
	return csr_get(&m->by_name, s, (const void **)ids);
}

uint32_t mp_model_services_in_namespace(const mp_model *m, mp_id ns, const mp_id **ids)
{
	return csr_get(&m->by_namespace, ns, (const void **)ids);
}

uint32_t mp_model_services_in_cluster(const mp_model *m, mp_id cluster, const mp_id **ids)
{
	return csr_get(&m->by_cluster, cluster, (const void **)ids);
}

uint32_t mp_model_edges_from(const mp_model *m, mp_id svc, const mp_edge **edges)
{
	return csr_get(&m->edges_from, svc, (const void **)edges);
}

uint32_t mp_model_edges_to(const mp_model *m, mp_id svc, const mp_edge **edges)
{
	return csr_get(&m->edges_to, svc, (const void **)edges);
}

uint32_t mp_model_edges_any(const mp_model *m, const mp_edge **edges)
{
	*edges = m->edges_any.v;
	return m->edges_any.n;
}

static uint32_t find_by_str(const mp_model *m, const mp_csr *c, const char *s)
{
	mp_str id = mp_model_find_str(m, s, strlen(s));
	return id == MP_NONE ? MP_NONE : csr_first(c, id);
}

mp_id mp_model_find_service_by_identity_id(const mp_model *m, mp_str id)
{
	if (!id)
		return MP_NONE;
	mp_id s = csr_first(&m->by_identity, id);
	if (s != MP_NONE || !m->workloads.n)
		return s;
	/* an imported service whose workloads run as several service accounts */
	const uint32_t *ws;
	uint32_t n = csr_get(&m->wl_by_identity, id, (const void **)&ws);
	for (uint32_t i = 0; i < n; i++) {
		const mp_workload *w = &m->workloads.v[ws[i]];
		if (w->services.n)
			return m->u32.v[w->services.off];
	}
	return MP_NONE;
}

uint32_t mp_model_workloads_of_service(const mp_model *m, mp_id svc, const mp_id **ids)
{
	return csr_get(&m->workloads_of, svc, (const void **)ids);
}

mp_id mp_model_find_service_by_identity(const mp_model *m, const char *spiffe_id)
{
	if (!*spiffe_id)
		return MP_NONE;
	mp_str id = mp_model_find_str(m, spiffe_id, strlen(spiffe_id));
	return id == MP_NONE ? MP_NONE : mp_model_find_service_by_identity_id(m, id);
}

mp_id mp_model_find_namespace(const mp_model *m, const char *name)
{
	return find_by_str(m, &m->ns_by_name, name);
}

mp_id mp_model_find_cluster(const mp_model *m, const char *name)
{
	return find_by_str(m, &m->cluster_by_name, name);
}

mp_id mp_model_find_jurisdiction(const mp_model *m, const char *name)
{
	return find_by_str(m, &m->jur_by_name, name);
}

mp_id mp_model_find_external(const mp_model *m, const char *name_or_host)
{
	mp_id e = find_by_str(m, &m->ext_by_key, name_or_host);
	if (e != MP_NONE || !*name_or_host)
		return e;
	/* Hosts are case-insensitive (RFC 4343): try the lower-case spelling, and scan only when
	 * the model itself spells a host with capitals (rare; keeps unknown hosts O(1)). */
	char lower[256];
	size_t n = strlen(name_or_host);
	int upper = 0;
	for (size_t i = 0; i < n && i < sizeof(lower); i++) {
		lower[i] = (char)tolower((unsigned char)name_or_host[i]);
		upper |= lower[i] != name_or_host[i];
	}
	if (upper && n < sizeof(lower)) {
		lower[n] = '\0';
		if ((e = find_by_str(m, &m->ext_by_key, lower)) != MP_NONE)
			return e;
	}
	for (uint32_t i = 0; m->ext_mixed_case && i < m->externals.n; i++)
		if (strcasecmp(mp_model_str(m, m->externals.v[i].host), name_or_host) == 0)
			return i;
	return MP_NONE;
}

mp_id mp_model_jurisdiction_of_region(const mp_model *m, mp_str region)
{
	return csr_first(&m->jur_by_region, region);
}

mp_id mp_model_find_service_ns(const mp_model *m, const char *ns, const char *name)
{
	const mp_id *ids;
	mp_id nsid = mp_model_find_namespace(m, ns);
	uint32_t n = mp_model_services_named(m, name, &ids);
	for (uint32_t i = 0; i < n && nsid != MP_NONE; i++)
		if (m->services.v[ids[i]].ns == nsid)
			return ids[i];
	return MP_NONE;
}

mp_id mp_model_find_service(const mp_model *m, const char *ref)
{
	const char *slash = strchr(ref, '/');
	if (slash) {
		char ns[256];
		size_t len = (size_t)(slash - ref);
		if (len >= sizeof(ns))
			return MP_NONE;
		memcpy(ns, ref, len);
		ns[len] = '\0';
		return mp_model_find_service_ns(m, ns, slash + 1);
	}
	const mp_id *ids;
	return mp_model_services_named(m, ref, &ids) == 1 ? ids[0] : MP_NONE;
}

const char *mp_model_loc_str(const mp_model *m, mp_loc loc, char *buf, size_t len)
{
	snprintf(buf, len, "%s:%u", mp_model_str(m, loc.file), loc.line);
	return buf;
}

uint32_t mp_method_bit(const char *name)
{
	/* the usual spelling first: one switch, no loop (this runs once per decision) */
	switch (name[0]) {
	case 'G':
		if (!strcmp(name, "GET"))
			return MP_METHOD_GET;
		break;
	case 'P':
		if (!strcmp(name, "POST"))
			return MP_METHOD_POST;
		if (!strcmp(name, "PUT"))
			return MP_METHOD_PUT;
		if (!strcmp(name, "PATCH"))
			return MP_METHOD_PATCH;
		break;
	case 'D':
		if (!strcmp(name, "DELETE"))
			return MP_METHOD_DELETE;
		break;
	}

	static const struct {
		const char *name;
		uint32_t bit;
	} methods[] = {
	    {"GET", MP_METHOD_GET},         {"HEAD", MP_METHOD_HEAD},
	    {"POST", MP_METHOD_POST},       {"PUT", MP_METHOD_PUT},
	    {"DELETE", MP_METHOD_DELETE},   {"PATCH", MP_METHOD_PATCH},
	    {"OPTIONS", MP_METHOD_OPTIONS}, {"CONNECT", MP_METHOD_CONNECT},
	    {"TRACE", MP_METHOD_TRACE},
	};
	for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
		if (strcasecmp(methods[i].name, name) == 0)
			return methods[i].bit;
	return 0;
}
