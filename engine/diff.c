/* diff.c: every decision that changes between two snapshots (diff.h). The space of requests is
 * cut into classes by what the rules of either side and the routes of either model can tell
 * apart; each class is decided by both snapshots through one representative request, and the
 * classes whose decisions differ are the report. The classes and their reasons:
 * docs/bundles.md ("What is enumerated").
 *
 * A class is: a caller (a service of either model by its identity, or without a principal;
 * one principal for each combination of the rules' principal patterns that no identity stands
 * for; a caller of each namespace that the model does not know; nobody), a destination (a
 * service or external of either model), a method (each one the destination's rules and routes
 * name, one other, none), a path (one per combination of the destination's path patterns, its
 * routes' paths and the paths its `when` functions hold, strclass.c; none), a port (each one
 * its rules name, none), the values of each header its rules read (strclass.c; absent), and,
 * where a residency rule can tell clusters apart, the caller's and the destination's cluster. */
#include "alloc.h"
#include "arena.h"
#include "changes.h"
#include "diff_int.h"
#include "policy.h"
#include "provider.h"
#include "strclass.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_HEADER_COMBOS 64

static const char *const method_names[] = {"GET",   "HEAD",    "POST",    "PUT",  "DELETE",
                                           "PATCH", "OPTIONS", "CONNECT", "TRACE"};
#define NMETHODS 9

typedef struct {
	const char *principal, *service, *ns; /* the decision input's source fields; NULL absent */
	const char *label, *key;
	const char **clusters; /* source.cluster variants beyond none (residency) */
	uint32_t nclusters;
	/* its features in the base model, for classify: resolved service ("ns/name" or NULL),
	 * namespace and the principal patterns it matches */
	const char *f_svc, *f_ns;
	uint64_t *f_pvec;
	const char *h_svc, *h_ns; /* the same in the head model */
} caller;

typedef struct {
	const char *name;
	mp_pattern *pats;
	uint32_t npats;
	mp_strclass reps; /* the values; absent is one more */
	uint64_t **rep_vecs;
} header_dim;

typedef struct {
	const char *name, *ns; /* destination.service and .namespace (ns NULL: an external) */
	const char *label;
	mp_pattern *paths;
	uint32_t npaths;
	mp_strclass path_reps;
	uint64_t **path_vecs;
	uint32_t methods; /* MP_METHOD_* bits named */
	const char *other_method;
	uint32_t *ports;
	uint32_t nports;
	header_dim *headers;
	uint32_t nheaders;
	const char **clusters; /* destination.cluster variants beyond none (residency) */
	uint32_t nclusters;
	uint32_t route0, nroutes; /* its routes: s->routes[route0 .. route0 + nroutes) */
} dest;

typedef struct {
	const char *name, *source, *target; /* source: "ns/name" or NULL (any caller) */
	uint32_t methods, path_kind;
	const char *path;
	uint64_t changed, classes;
} route_view;

struct diff_space {
	mp_engine *e[2];
	mp_evaluator *ev[2];
	mp_arena arena;
	caller *callers;
	uint32_t ncallers, ccap;
	dest *dests;
	uint32_t ndests, dcap;
	route_view *routes;
	uint32_t nroutes, rcap;
	mp_pattern *ppats; /* every principal pattern, identities included */
	uint32_t nppats, ppcap;
	int residency;
	diff_hints hints[2]; /* of every `when`, per side */
	/* per side, the model's routes by what they send to: services 0 .. nservices - 1, then
	 * externals; each list in route order (by_target[k].v[off[t] .. off[t + 1])) */
	struct {
		uint32_t *off, *v;
	} by_target[2];
	int truncated;
	uint64_t hinted;
	/* 1: both sides decide alike wherever their rules for a destination are the same (one
	 * model, the same providers and default decision, the same global rules, no `when` among
	 * them): run_dest skips those destinations, counting their classes (same_dest) */
	int prunable;
	int exhaustive;   /* diff_space_exhaustive: decide every class all the same */
	uint32_t skipped; /* destinations skipped */
};

/* --- small helpers --- */

static uint32_t vwords(uint32_t n)
{
	return (n + 63) / 64 + 1;
}

static uint64_t *match_vec(diff_space *s, const mp_pattern *p, uint32_t n, const char *v)
{
	uint64_t *vec = mp_arena_alloc(&s->arena, vwords(n) * sizeof(uint64_t));
	size_t len = v ? strlen(v) : 0;
	for (uint32_t i = 0; vec && i < n; i++)
		if (v && mp_pattern_match(&p[i], v, len))
			vec[i / 64] |= 1ull << (i % 64);
	return vec;
}

static int same_vec(const uint64_t *a, const uint64_t *b, uint32_t n)
{
	return !memcmp(a, b, vwords(n) * sizeof(uint64_t));
}

static int same_pattern(const mp_pattern *a, const mp_pattern *b)
{
	return a->kind == b->kind && a->len == b->len && !memcmp(a->text, b->text, a->len);
}

/* Appends p to *v unless it is there; -1 when out of memory. */
static int add_pattern(mp_pattern **v, uint32_t *n, uint32_t *cap, const mp_pattern *p)
{
	for (uint32_t i = 0; i < *n; i++)
		if (same_pattern(&(*v)[i], p))
			return 0;
	if (mp_grow((void **)v, cap, sizeof(**v), *n, 16) < 0)
		return -1;
	(*v)[(*n)++] = *p;
	(*v)[*n - 1].id = UINT32_MAX;
	return 0;
}

static mp_pattern exact(const char *s)
{
	mp_pattern p = {MP_PAT_EXACT, (uint32_t)strlen(s), s, UINT32_MAX};
	return p;
}

static const char *svc_ref(diff_space *s, const mp_model *m, mp_id id)
{
	mp_model_view v = mp_model_get_view(m);
	return mp_arena_printf(&s->arena, "%s/%s",
	                       mp_model_str(m, v.namespaces[v.services[id].ns].name),
	                       mp_model_str(m, v.services[id].name));
}

/* --- callers --- */

static int add_caller(diff_space *s, const char *principal, const char *service, const char *ns,
                      const char *label)
{
	/* "=value" or "-" each: no value can pass for an absent one */
	const char *key = mp_arena_printf(&s->arena, "%s%s|%s%s|%s%s", principal ? "=" : "-",
	                                  principal ? principal : "", service ? "=" : "-",
	                                  service ? service : "", ns ? "=" : "-", ns ? ns : "");
	if (!key)
		return -1;
	for (uint32_t i = 0; i < s->ncallers; i++)
		if (!strcmp(s->callers[i].key, key))
			return 0;
	if (mp_grow((void **)&s->callers, &s->ccap, sizeof(*s->callers), s->ncallers, 64) < 0)
		return -1;
	caller *c = &s->callers[s->ncallers++];
	memset(c, 0, sizeof(*c));
	c->principal = principal;
	c->service = service;
	c->ns = ns;
	c->label = label;
	c->key = key;
	return 0;
}

/* The service and namespace a caller resolves to in m (as decide.c resolves a source). */
static void resolve_caller(diff_space *s, const mp_model *m, const char *principal,
                           const char *service, const char *ns, const char **svc_out,
                           const char **ns_out)
{
	mp_model_view v = mp_model_get_view(m);
	mp_id svc = principal ? mp_model_find_service_by_identity(m, principal) : MP_NONE;
	if (svc == MP_NONE && service)
		svc = ns ? mp_model_find_service_ns(m, ns, service)
		         : mp_model_find_service(m, service);
	*svc_out = svc != MP_NONE ? svc_ref(s, m, svc) : NULL;
	if (svc != MP_NONE) {
		*ns_out = mp_model_str(m, v.namespaces[v.services[svc].ns].name);
	} else if (ns) {
		*ns_out = mp_model_find_namespace(m, ns) != MP_NONE ? ns : NULL;
	} else if (principal && strstr(principal, "/ns/")) {
		const char *p = strstr(principal, "/ns/") + 4;
		const char *n = mp_arena_strn(&s->arena, p, strcspn(p, "/"));
		*ns_out = n && mp_model_find_namespace(m, n) != MP_NONE ? n : NULL;
	} else {
		*ns_out = NULL;
	}
}

/* The trust domain of the model's SPIFFE identities ("acme.io"), or NULL. */
static const char *trust_domain(diff_space *s, const mp_model *m)
{
	mp_model_view v = mp_model_get_view(m);
	for (uint32_t i = 0; i < v.nservices; i++) {
		const char *id = mp_model_str(m, v.services[i].identity);
		if (!strncmp(id, "spiffe://", 9))
			return mp_arena_strn(&s->arena, id + 9, strcspn(id + 9, "/"));
	}
	return NULL;
}

static int same_str(const char *a, const char *b)
{
	return a == b || (a && b && !strcmp(a, b));
}

/* Can no rule tell the two callers apart? The same principal patterns matched (identities and
 * the principals `when` functions hold among them), the same service and namespace in both
 * models. */
static int same_caller(const caller *a, const caller *b, uint32_t nppats)
{
	return !a->principal == !b->principal && same_vec(a->f_pvec, b->f_pvec, nppats) &&
	       same_str(a->f_svc, b->f_svc) && same_str(a->f_ns, b->f_ns) &&
	       same_str(a->h_svc, b->h_svc) && same_str(a->h_ns, b->h_ns);
}

static int build_callers(diff_space *s)
{
	/* every principal pattern of both bundles, the identities of both models, and the
	 * principals the `when` functions hold */
	for (int k = 0; k < 2; k++) {
		const mp_bundle *b = s->e[k]->bundle;
		const mp_model *m = s->e[k]->model;
		mp_model_view v = mp_model_get_view(m);
		for (uint32_t r = 0; b && r < b->nrules; r++)
			for (uint32_t i = 0; i < b->rules[r].from.nprincipals; i++)
				if (add_pattern(&s->ppats, &s->nppats, &s->ppcap,
				                &b->rules[r].from.principals[i]) < 0)
					return -1;
		for (uint32_t i = 0; i < v.nservices; i++)
			if (v.services[i].identity) {
				mp_pattern p = exact(mp_model_str(m, v.services[i].identity));
				if (add_pattern(&s->ppats, &s->nppats, &s->ppcap, &p) < 0)
					return -1;
			}
		for (uint32_t i = 0; i < s->hints[k].n; i++)
			if (strstr(s->hints[k].v[i], "://")) {
				mp_pattern p = exact(s->hints[k].v[i]);
				if (add_pattern(&s->ppats, &s->nppats, &s->ppcap, &p) < 0)
					return -1;
			}
	}
	/* the services of both models: by identity, and without a principal */
	for (int k = 0; k < 2; k++) {
		const mp_model *m = s->e[k]->model;
		mp_model_view v = mp_model_get_view(m);
		for (uint32_t i = 0; i < v.nservices; i++) {
			const char *ref = svc_ref(s, m, i);
			const char *ns = mp_model_str(m, v.namespaces[v.services[i].ns].name);
			const char *name = mp_model_str(m, v.services[i].name);
			if (!ref)
				return -1;
			if (v.services[i].identity &&
			    mp_model_find_service_by_identity(
			        m, mp_model_str(m, v.services[i].identity)) == i &&
			    add_caller(s, mp_model_str(m, v.services[i].identity), NULL, NULL,
			               ref) < 0)
				return -1;
			if (add_caller(s, NULL, name, ns,
			               mp_arena_printf(&s->arena, "%s (no principal)", ref)) < 0)
				return -1;
		}
	}
	/* one principal per combination of the patterns that no identity stands for */
	mp_strclass pw;
	if (mp_strclass_find(s->ppats, s->nppats, 0, &pw) < 0)
		return -1;
	s->truncated |= pw.truncated;
	for (uint32_t i = 0; i < pw.n; i++) {
		int known = 0;
		for (int k = 0; k < 2; k++)
			known |=
			    mp_model_find_service_by_identity(s->e[k]->model, pw.v[i]) != MP_NONE;
		const char *p = mp_arena_str(&s->arena, pw.v[i]);
		if (!known && (!p || add_caller(s, p, NULL, NULL, p) < 0)) {
			mp_strclass_free(&pw);
			return -1;
		}
	}
	mp_strclass_free(&pw);
	/* a caller of each namespace that the model does not know, with and without a principal */
	for (int k = 0; k < 2; k++) {
		const mp_model *m = s->e[k]->model;
		mp_model_view v = mp_model_get_view(m);
		const char *td = trust_domain(s, m);
		for (uint32_t i = 0; i < v.nnamespaces; i++) {
			const char *ns = mp_model_str(m, v.namespaces[i].name);
			if (add_caller(s, NULL, NULL, ns,
			               mp_arena_printf(&s->arena, "a caller in %s (no principal)",
			                               ns)) < 0)
				return -1;
			const char *p =
			    td ? mp_arena_printf(&s->arena, "spiffe://%s/ns/%s/sa/meshpol-unlisted",
			                         td, ns)
			       : NULL;
			if (p && add_caller(s, p, NULL, NULL, p) < 0)
				return -1;
		}
	}
	if (add_caller(s, NULL, NULL, NULL, "anonymous") < 0)
		return -1;
	/* features for classify; a caller no rule tells from an earlier one is left out */
	uint32_t kept = 0;
	for (uint32_t i = 0; i < s->ncallers; i++) {
		caller *c = &s->callers[i];
		resolve_caller(s, s->e[0]->model, c->principal, c->service, c->ns, &c->f_svc,
		               &c->f_ns);
		resolve_caller(s, s->e[1]->model, c->principal, c->service, c->ns, &c->h_svc,
		               &c->h_ns);
		c->f_pvec = match_vec(s, s->ppats, s->nppats, c->principal);
		if (!c->f_pvec)
			return -1;
		uint32_t j;
		for (j = 0; j < kept && !same_caller(&s->callers[j], c, s->nppats); j++)
			;
		if (j == kept)
			s->callers[kept++] = *c;
	}
	s->ncallers = kept;
	/* source.cluster variants, where residency tells them apart */
	for (uint32_t i = 0; i < s->ncallers; i++) {
		caller *c = &s->callers[i];
		for (int k = 0; k < 2 && s->residency; k++) {
			const mp_model *m = s->e[k]->model;
			mp_model_view v = mp_model_get_view(m);
			const char *ref, *ns;
			resolve_caller(s, m, c->principal, c->service, c->ns, &ref, &ns);
			mp_id svc = ref ? mp_model_find_service(m, ref) : MP_NONE;
			if (svc == MP_NONE || v.services[svc].clusters.n < 2 || c->nclusters)
				continue;
			c->clusters =
			    mp_arena_alloc(&s->arena, v.services[svc].clusters.n * sizeof(char *));
			if (!c->clusters)
				return -1;
			for (uint32_t j = 0; j < v.services[svc].clusters.n; j++)
				c->clusters[c->nclusters++] = mp_model_str(
				    m, v.clusters[v.u32[v.services[svc].clusters.off + j]].name);
		}
	}
	return 0;
}

/* --- destinations --- */

static dest *add_dest(diff_space *s, const char *name, const char *ns, const char *label)
{
	for (uint32_t i = 0; i < s->ndests; i++)
		if (!strcmp(s->dests[i].label, label))
			return &s->dests[i];
	if (mp_grow((void **)&s->dests, &s->dcap, sizeof(*s->dests), s->ndests, 64) < 0)
		return NULL;
	dest *t = &s->dests[s->ndests++];
	memset(t, 0, sizeof(*t));
	t->name = name;
	t->ns = ns;
	t->label = label;
	return t;
}

/* What one rule lets the destination's classes depend on. */
static int take_rule(dest *t, const mp_rule *r, uint32_t *pcap, uint32_t *hcap)
{
	uint32_t portcap = t->nports;
	for (uint32_t i = 0; i < r->npaths; i++)
		if (add_pattern(&t->paths, &t->npaths, pcap, &r->paths[i]) < 0)
			return -1;
	t->methods |= r->methods;
	for (uint32_t i = 0; i < r->nports; i++) {
		uint32_t k;
		for (k = 0; k < t->nports && t->ports[k] != r->ports[i]; k++)
			;
		if (k < t->nports)
			continue;
		if (mp_grow((void **)&t->ports, &portcap, sizeof(*t->ports), t->nports, 8) < 0)
			return -1;
		t->ports[t->nports++] = r->ports[i];
	}
	for (uint32_t i = 0; i < r->nheaders; i++) {
		uint32_t k;
		for (k = 0; k < t->nheaders && strcasecmp(t->headers[k].name, r->headers[i].name);
		     k++)
			;
		if (k == t->nheaders) {
			if (mp_grow((void **)&t->headers, hcap, sizeof(*t->headers), t->nheaders,
			            4) < 0)
				return -1;
			memset(&t->headers[k], 0, sizeof(t->headers[k]));
			t->headers[k].name = r->headers[i].name;
			t->nheaders++;
		}
		header_dim *h = &t->headers[k];
		uint32_t cap = h->npats;
		if (add_pattern(&h->pats, &h->npats, &cap, &r->headers[i].value) < 0)
			return -1;
	}
	return 0;
}

/* The strings the `when` functions of side hold, as paths and methods of t. */
static int take_hints(diff_space *s, dest *t, int side, uint32_t *pcap)
{
	for (uint32_t i = 0; i < s->hints[side].n; i++) {
		const char *h = s->hints[side].v[i];
		if (h[0] == '/') {
			mp_pattern p = exact(h);
			if (add_pattern(&t->paths, &t->npaths, pcap, &p) < 0)
				return -1;
		} else {
			t->methods |= mp_method_bit(h);
		}
	}
	return 0;
}

static int take_route(diff_space *s, dest *t, const mp_model *m, const mp_route *rt, uint32_t *pcap)
{
	t->methods |= rt->match.methods;
	const char *path = mp_model_str(m, rt->match.path);
	if (rt->match.path_kind == MP_PATH_EXACT || rt->match.path_kind == MP_PATH_PREFIX) {
		mp_pattern p = {rt->match.path_kind == MP_PATH_EXACT ? MP_PAT_EXACT : MP_PAT_PREFIX,
		                (uint32_t)strlen(path), path, UINT32_MAX};
		if (p.kind == MP_PAT_PREFIX && p.len == 0)
			p.kind = MP_PAT_ANY;
		if (add_pattern(&t->paths, &t->npaths, pcap, &p) < 0)
			return -1;
	}
	/* the route, for the report's view by route */
	const char *name = mp_model_str(m, rt->name);
	for (uint32_t i = t->route0; i < s->nroutes; i++) /* t's own, taken last */
		if (!strcmp(s->routes[i].name, name))
			return 0;
	if (mp_grow((void **)&s->routes, &s->rcap, sizeof(*s->routes), s->nroutes, 32) < 0)
		return -1;
	route_view *r = &s->routes[s->nroutes++];
	memset(r, 0, sizeof(*r));
	r->name = name;
	r->target = t->label;
	r->source = rt->source != MP_NONE ? svc_ref(s, m, rt->source) : NULL;
	r->methods = rt->match.methods;
	r->path_kind = rt->match.path_kind;
	r->path = path;
	return 0;
}

/* The rules that can apply to t in side's snapshot, its routes and its clusters. */
static int take_side(diff_space *s, dest *t, int side, uint32_t *pcap, uint32_t *hcap)
{
	const mp_engine *e = s->e[side];
	const mp_model *m = e->model;
	const mp_bundle *b = e->bundle;
	mp_model_view v = mp_model_get_view(m);
	mp_id svc = t->ns ? mp_model_find_service_ns(m, t->ns, t->name) : MP_NONE;
	mp_id ext = t->ns ? MP_NONE : mp_model_find_external(m, t->name);
	if (svc == MP_NONE && ext == MP_NONE)
		return 0;
	if (b) {
		const uint32_t *cand = svc != MP_NONE ? b->svc_rules + b->svc_off[svc]
		                                      : b->ext_rules + b->ext_off[ext];
		uint32_t n = svc != MP_NONE ? b->svc_off[svc + 1] - b->svc_off[svc]
		                            : b->ext_off[ext + 1] - b->ext_off[ext];
		int when = 0;
		for (int pass = 0; pass < 2; pass++) {
			for (uint32_t i = 0; i < n; i++) {
				const mp_rule *r = &b->rules[cand[i]];
				when |= r->when != 0;
				if (take_rule(t, r, pcap, hcap) < 0)
					return -1;
			}
			cand = b->global_rules;
			n = b->nglobal;
		}
		if (when && take_hints(s, t, side, pcap) < 0)
			return -1;
	}
	uint32_t slot = svc != MP_NONE ? svc : v.nservices + ext;
	const uint32_t *off = s->by_target[side].off, *rts = s->by_target[side].v;
	for (uint32_t i = off[slot]; i < off[slot + 1]; i++)
		if (take_route(s, t, m, &v.routes[rts[i]], pcap) < 0)
			return -1;
	if (s->residency && svc != MP_NONE && v.services[svc].clusters.n > 1 && !t->nclusters) {
		t->clusters =
		    mp_arena_alloc(&s->arena, v.services[svc].clusters.n * sizeof(char *));
		if (!t->clusters)
			return -1;
		for (uint32_t j = 0; j < v.services[svc].clusters.n; j++)
			t->clusters[t->nclusters++] = mp_model_str(
			    m, v.clusters[v.u32[v.services[svc].clusters.off + j]].name);
	}
	return 0;
}

static int build_dest(diff_space *s, dest *t)
{
	uint32_t pcap = 0, hcap = 0;
	t->route0 = s->nroutes;
	for (int k = 0; k < 2; k++)
		if (take_side(s, t, k, &pcap, &hcap) < 0)
			return -1;
	t->nroutes = s->nroutes - t->route0;
	if (mp_strclass_find(t->paths, t->npaths, MP_STRCLASS_PATH, &t->path_reps) < 0)
		return -1;
	s->truncated |= t->path_reps.truncated;
	t->path_vecs = mp_arena_alloc(&s->arena, (t->path_reps.n + 1) * sizeof(uint64_t *));
	for (uint32_t i = 0; t->path_vecs && i < t->path_reps.n; i++)
		if (!(t->path_vecs[i] = match_vec(s, t->paths, t->npaths, t->path_reps.v[i])))
			return -1;
	for (uint32_t i = 0; i < t->nheaders; i++) {
		header_dim *h = &t->headers[i];
		if (mp_strclass_find(h->pats, h->npats, 0, &h->reps) < 0)
			return -1;
		s->truncated |= h->reps.truncated;
		h->rep_vecs = mp_arena_alloc(&s->arena, (h->reps.n + 1) * sizeof(uint64_t *));
		for (uint32_t j = 0; h->rep_vecs && j < h->reps.n; j++)
			if (!(h->rep_vecs[j] = match_vec(s, h->pats, h->npats, h->reps.v[j])))
				return -1;
	}
	t->other_method = "PROPFIND"; /* no bit: matches no rule's methods */
	for (int i = 0; i < NMETHODS; i++)
		if (!(t->methods & (1u << i))) {
			t->other_method = method_names[i];
			break;
		}
	return t->path_vecs ? 0 : -1;
}

/* The slot of what tg sends to in by_target, or UINT32_MAX for anything else. */
static uint32_t target_slot(const mp_model_view *v, const mp_target *tg)
{
	if (tg->kind == MP_TARGET_SERVICE && tg->id < v->nservices)
		return tg->id;
	if (tg->kind == MP_TARGET_EXTERNAL && tg->id < v->nexternals)
		return v->nservices + tg->id;
	return UINT32_MAX;
}

/* Calls fn with each slot route rt sends to (its destinations, mirrors and failover), once
 * each. */
static void route_slots(const mp_model_view *v, const mp_route *rt,
                        void (*fn)(void *ctx, uint32_t slot), void *ctx)
{
	const mp_span spans[3] = {rt->dests, rt->mirrors, rt->failover};
	for (int k = 0; k < 3; k++)
		for (uint32_t j = 0; j < spans[k].n; j++) {
			uint32_t slot = target_slot(v, &v->targets[spans[k].off + j]), seen = 0;
			for (int k2 = 0; k2 <= k && !seen && slot != UINT32_MAX; k2++)
				for (uint32_t j2 = 0; j2 < (k2 < k ? spans[k2].n : j); j2++)
					seen |=
					    target_slot(v, &v->targets[spans[k2].off + j2]) == slot;
			if (slot != UINT32_MAX && !seen)
				fn(ctx, slot);
		}
}

static void count_slot(void *ctx, uint32_t slot)
{
	((uint32_t *)ctx)[slot + 1]++;
}

typedef struct {
	uint32_t *at, *v, route;
} slot_fill;

static void fill_slot(void *ctx, uint32_t slot)
{
	slot_fill *f = ctx;
	f->v[f->at[slot]++] = f->route;
}

/* by_target of each side: a counting pass, then a filling one, in route order. */
static int build_route_index(diff_space *s)
{
	for (int k = 0; k < 2; k++) {
		mp_model_view v = mp_model_get_view(s->e[k]->model);
		uint32_t nslots = v.nservices + v.nexternals;
		uint32_t *off = mp_calloc(nslots + 1, sizeof(*off));
		if (!off)
			return -1;
		s->by_target[k].off = off;
		for (uint32_t i = 0; i < v.nroutes; i++)
			route_slots(&v, &v.routes[i], count_slot, off);
		for (uint32_t i = 0; i < nslots; i++)
			off[i + 1] += off[i];
		uint32_t *at = mp_malloc((nslots + 1) * sizeof(*at));
		s->by_target[k].v = mp_malloc((off[nslots] + 1) * sizeof(uint32_t));
		if (!at || !s->by_target[k].v) {
			mp_free(at);
			return -1;
		}
		memcpy(at, off, (nslots + 1) * sizeof(*at));
		slot_fill f = {at, s->by_target[k].v, 0};
		for (f.route = 0; f.route < v.nroutes; f.route++)
			route_slots(&v, &v.routes[f.route], fill_slot, &f);
		mp_free(at);
	}
	return 0;
}

static int build_dests(diff_space *s)
{
	for (int k = 0; k < 2; k++) {
		const mp_model *m = s->e[k]->model;
		mp_model_view v = mp_model_get_view(m);
		for (uint32_t i = 0; i < v.nservices; i++) {
			const char *ns = mp_model_str(m, v.namespaces[v.services[i].ns].name);
			if (!add_dest(s, mp_model_str(m, v.services[i].name), ns, svc_ref(s, m, i)))
				return -1;
		}
		for (uint32_t i = 0; i < v.nexternals; i++) {
			const char *name = mp_model_str(m, v.externals[i].name);
			if (!add_dest(s, name, NULL, name))
				return -1;
		}
	}
	for (uint32_t i = 0; i < s->ndests; i++)
		if (build_dest(s, &s->dests[i]) < 0)
			return -1;
	return 0;
}

/* --- destinations both sides decide alike --- */

static int same_strs(const char *const *a, const char *const *b, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++)
		if (!same_str(a[i], b[i]))
			return 0;
	return 1;
}

static int same_patterns(const mp_pattern *a, const mp_pattern *b, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++)
		if (!same_pattern(&a[i], &b[i]))
			return 0;
	return 1;
}

/* Do rule x of bundle a and rule y of bundle b (over one model) decide alike and cite the same
 * names? Every field mp_decide reads, compared; a rule with a `when` never is (what its
 * function computes cannot be compared). A field added to mp_rule must be added here: the
 * assertion below counts the struct's size. */
static int same_rule(const mp_bundle *a, const mp_rule *x, const mp_bundle *b, const mp_rule *y)
{
	_Static_assert(sizeof(mp_rule) == 184, "a new field of mp_rule: compare it in same_rule");
	const mp_policy *px = &a->policies[x->policy], *py = &b->policies[y->policy];
	const mp_source *fx = &x->from, *fy = &y->from;
	if (x->when || y->when || x->type != y->type || x->dest_any != y->dest_any ||
	    x->nheaders != y->nheaders || x->methods != y->methods || x->npaths != y->npaths ||
	    x->nports != y->nports || x->ndata != y->ndata ||
	    x->njurisdictions != y->njurisdictions || !same_str(x->name, y->name) ||
	    !same_str(x->message, y->message) || !same_str(x->via, y->via) ||
	    !same_str(px->name, py->name) || px->enforcement != py->enforcement ||
	    px->enabled != py->enabled)
		return 0;
	if (fx->any != fy->any || fx->authenticated != fy->authenticated ||
	    fx->nprincipals != fy->nprincipals || fx->nnamespaces != fy->nnamespaces ||
	    fx->nservices != fy->nservices || fx->nlabels != fy->nlabels ||
	    !same_patterns(fx->principals, fy->principals, fx->nprincipals) ||
	    (fx->nnamespaces &&
	     memcmp(fx->namespaces, fy->namespaces, fx->nnamespaces * sizeof(mp_id))) ||
	    (fx->nservices && memcmp(fx->services, fy->services, fx->nservices * sizeof(mp_id))))
		return 0;
	for (uint32_t i = 0; i < fx->nlabels; i++)
		if (!same_str(fx->labels[i].key, fy->labels[i].key) ||
		    !same_str(fx->labels[i].value, fy->labels[i].value))
			return 0;
	for (uint32_t i = 0; i < x->nheaders; i++)
		if (!same_str(x->headers[i].name, y->headers[i].name) ||
		    !same_pattern(&x->headers[i].value, &y->headers[i].value))
			return 0;
	return same_patterns(x->paths, y->paths, x->npaths) &&
	       (!x->nports || !memcmp(x->ports, y->ports, x->nports * sizeof(*x->ports))) &&
	       same_strs(x->data, y->data, x->ndata) &&
	       (!x->ndata || !memcmp(x->data_ids, y->data_ids, x->ndata * sizeof(mp_str))) &&
	       (!x->njurisdictions ||
	        !memcmp(x->jurisdictions, y->jurisdictions, x->njurisdictions * sizeof(mp_id)));
}

static int same_rules(const mp_bundle *a, const uint32_t *ra, uint32_t na, const mp_bundle *b,
                      const uint32_t *rb, uint32_t nb)
{
	if (na != nb)
		return 0;
	for (uint32_t i = 0; i < na; i++)
		if (!same_rule(a, &a->rules[ra[i]], b, &b->rules[rb[i]]))
			return 0;
	return 1;
}

/* Can the two sides decide some request differently only through the rules of its
 * destination? Both have a bundle, one model (so the same providers over it) and the same
 * default decision and global rules. */
static int prunable(const diff_space *s)
{
	const mp_engine *e0 = s->e[0], *e1 = s->e[1];
	const mp_bundle *a = e0->bundle, *b = e1->bundle;
	if (!a || !b || strcmp(mp_model_sha256(e0->model), mp_model_sha256(e1->model)) ||
	    e0->nproviders != e1->nproviders || a->default_decision != b->default_decision)
		return 0;
	for (uint32_t i = 0; i < e0->nproviders; i++)
		if (e0->providers[i].p != e1->providers[i].p)
			return 0;
	return same_rules(a, a->global_rules, a->nglobal, b, b->global_rules, b->nglobal);
}

/* Does t have the same rules on both sides (in a prunable space)? Then no class of it can
 * change: mp_decide reads nothing else that differs. */
static int same_dest(const diff_space *s, const dest *t)
{
	const mp_model *m = s->e[0]->model;
	const mp_bundle *a = s->e[0]->bundle, *b = s->e[1]->bundle;
	mp_id svc = t->ns ? mp_model_find_service_ns(m, t->ns, t->name) : MP_NONE;
	mp_id ext = t->ns ? MP_NONE : mp_model_find_external(m, t->name);
	if (svc != MP_NONE)
		return same_rules(
		    a, a->svc_rules + a->svc_off[svc], a->svc_off[svc + 1] - a->svc_off[svc], b,
		    b->svc_rules + b->svc_off[svc], b->svc_off[svc + 1] - b->svc_off[svc]);
	if (ext != MP_NONE)
		return same_rules(
		    a, a->ext_rules + a->ext_off[ext], a->ext_off[ext + 1] - a->ext_off[ext], b,
		    b->ext_rules + b->ext_off[ext], b->ext_off[ext + 1] - b->ext_off[ext]);
	return 0;
}

void diff_space_exhaustive(diff_space *s, int on)
{
	s->exhaustive = on;
}

uint32_t diff_space_skipped(const diff_space *s)
{
	return s->skipped;
}

/* --- the space --- */

static int has_residency(const mp_engine *e)
{
	const mp_bundle *b = e->bundle;
	for (uint32_t i = 0; b && i < b->nrules; i++)
		if (b->rules[i].type == MP_RULE_RESIDENCY)
			return 1;
	return 0;
}

static int collect_hints(diff_space *s, mp_diags *d)
{
	char err[512];
	for (int k = 0; k < 2; k++) {
		const mp_bundle *b = s->e[k]->bundle;
		for (int32_t w = 1; b && w <= (int32_t)b->nwhens; w++)
			if (diff_hints_of_when(s->ev[k], w, &s->hints[k], err, sizeof(err)) < 0) {
				mp_diags_error(
				    d, b->dir, 0, 0,
				    "diff: cannot read a `when` function of the bundle: %s", err);
				return -1;
			}
		s->hinted += s->hints[k].n;
	}
	return 0;
}

diff_space *diff_space_new(mp_engine *base, mp_engine *head, mp_diags *d)
{
	diff_space *s = mp_calloc(1, sizeof(*s));
	if (!s) {
		mp_diags_error(d, NULL, 0, 0, "out of memory");
		return NULL;
	}
	s->arena.chunk = 65536;
	s->e[0] = base;
	s->e[1] = head;
	for (int k = 0; k < 2; k++)
		if (!(s->ev[k] = mp_evaluator_new(s->e[k], NULL, d)))
			goto fail;
	s->residency = has_residency(base) || has_residency(head);
	s->prunable = prunable(s);
	if (collect_hints(s, d) < 0)
		goto fail;
	if (build_callers(s) < 0 || build_route_index(s) < 0 || build_dests(s) < 0 ||
	    s->arena.oom) {
		mp_diags_error(d, NULL, 0, 0, "out of memory");
		goto fail;
	}
	return s;
fail:
	diff_space_free(s);
	return NULL;
}

void diff_space_free(diff_space *s)
{
	if (!s)
		return;
	for (uint32_t i = 0; i < s->ndests; i++) {
		dest *t = &s->dests[i];
		mp_free(t->paths);
		mp_free(t->ports);
		mp_strclass_free(&t->path_reps);
		for (uint32_t j = 0; j < t->nheaders; j++) {
			mp_free(t->headers[j].pats);
			mp_strclass_free(&t->headers[j].reps);
		}
		mp_free(t->headers);
	}
	for (int k = 0; k < 2; k++) {
		mp_evaluator_free(s->ev[k]);
		diff_hints_free(&s->hints[k]);
		mp_free(s->by_target[k].off);
		mp_free(s->by_target[k].v);
	}
	mp_free(s->dests);
	mp_free(s->callers);
	mp_free(s->routes);
	mp_free(s->ppats);
	mp_arena_free(&s->arena);
	mp_free(s);
}

/* --- one class --- */

/* The choice of each dimension, by index; method and path count one past their lists for
 * "none" (and method one more for "other"). */
typedef struct {
	uint32_t caller, method, path, port, headers, src_cluster, dst_cluster;
} pick;

typedef struct {
	mp_request r;
	mp_header h[MP_REQUEST_MAX_HEADERS];
	char portbuf[16];
	const char *method_class;
	char key[2048], label[1024];
} probe;

static uint32_t nmethod_picks(const dest *t)
{
	return (uint32_t)__builtin_popcount(t->methods) + 2; /* each named, other, none */
}

static uint32_t nheader_combos(const dest *t)
{
	uint64_t n = 1;
	for (uint32_t i = 0; i < t->nheaders && n <= MAX_HEADER_COMBOS; i++)
		n *= t->headers[i].reps.n + 1;
	return n > MAX_HEADER_COMBOS ? MAX_HEADER_COMBOS : (uint32_t)n;
}

/* The key of a class: how the report's "class" and classify spell it. */
static void class_key(char *buf, size_t len, const caller *c, const dest *t, const char *method,
                      const char *path, uint32_t port, const char *headers, const char *sc,
                      const char *dc)
{
	snprintf(buf, len, "%s|%s|%s|%s%s|%u|%s|%s%s|%s%s", c->key, t->label, method,
	         path ? "=" : "-", path ? path : "", port, headers, sc ? "=" : "-", sc ? sc : "",
	         dc ? "=" : "-", dc ? dc : "");
}

static void make_probe(const diff_space *s, const dest *t, const pick *k, probe *p)
{
	const caller *c = &s->callers[k->caller];
	mp_request *r = &p->r;
	memset(r, 0, sizeof(*r));
	r->principal = c->principal;
	r->src_service = c->service;
	r->src_namespace = c->ns;
	r->dst_service = t->name;
	r->dst_namespace = t->ns;
	r->src_cluster = k->src_cluster ? c->clusters[k->src_cluster - 1] : NULL;
	r->dst_cluster = k->dst_cluster ? t->clusters[k->dst_cluster - 1] : NULL;
	/* the method: the named ones in bit order, then other, then none */
	uint32_t named = nmethod_picks(t) - 2, seen = 0;
	p->method_class = "-";
	if (k->method < named) {
		for (int i = 0; i < NMETHODS; i++)
			if ((t->methods & (1u << i)) && seen++ == k->method)
				r->method = method_names[i];
		p->method_class = r->method;
	} else if (k->method == named) {
		r->method = t->other_method;
		p->method_class = "other";
	}
	r->path = k->path < t->path_reps.n ? t->path_reps.v[k->path] : NULL;
	r->port = k->port ? t->ports[k->port - 1] : 0;
	/* headers: combo k->headers in mixed radix over each name's values and absent */
	char hk[512] = "";
	uint32_t combo = k->headers;
	for (uint32_t i = 0; i < t->nheaders; i++) {
		const header_dim *h = &t->headers[i];
		uint32_t radix = h->reps.n + 1, which = combo % radix;
		combo /= radix;
		if (which < h->reps.n) {
			p->h[r->nheaders].name = h->name;
			p->h[r->nheaders++].value = h->reps.v[which];
		}
		snprintf(hk + strlen(hk), sizeof(hk) - strlen(hk), "%s%s%s%s", i ? "," : "",
		         h->name, which < h->reps.n ? "=" : "-",
		         which < h->reps.n ? h->reps.v[which] : "");
	}
	r->headers = p->h;
	class_key(p->key, sizeof(p->key), c, t, p->method_class, r->path, r->port, hk,
	          r->src_cluster, r->dst_cluster);
	/* what a person reads */
	int n = snprintf(p->label, sizeof(p->label), "%s %s",
	                 r->method ? r->method
	                 : r->path ? "(no method)"
	                           : "TCP",
	                 r->path     ? r->path
	                 : r->method ? "(no path)"
	                             : "");
	if (n > 0 && p->label[n - 1] == ' ')
		p->label[--n] = '\0';
	if (r->port)
		snprintf(p->label + strlen(p->label), sizeof(p->label) - strlen(p->label),
		         " port %u", r->port);
	for (uint32_t i = 0; i < r->nheaders; i++)
		snprintf(p->label + strlen(p->label), sizeof(p->label) - strlen(p->label),
		         " %s: %s", p->h[i].name, p->h[i].value);
	if (r->src_cluster)
		snprintf(p->label + strlen(p->label), sizeof(p->label) - strlen(p->label),
		         " from cluster %s", r->src_cluster);
	if (r->dst_cluster)
		snprintf(p->label + strlen(p->label), sizeof(p->label) - strlen(p->label),
		         " to cluster %s", r->dst_cluster);
}

/* The decision input of a probe, as `meshpol decide` reads it. */
static json_t *probe_input(const probe *p)
{
	const mp_request *r = &p->r;
	json_t *src = json_object(), *dst = json_object(), *req = json_object();
	if (r->principal)
		json_object_set_new(src, "principal", json_string(r->principal));
	if (r->src_service)
		json_object_set_new(src, "service", json_string(r->src_service));
	if (r->src_namespace)
		json_object_set_new(src, "namespace", json_string(r->src_namespace));
	if (r->src_cluster)
		json_object_set_new(src, "cluster", json_string(r->src_cluster));
	json_object_set_new(dst, "service", json_string(r->dst_service));
	if (r->dst_namespace)
		json_object_set_new(dst, "namespace", json_string(r->dst_namespace));
	if (r->dst_cluster)
		json_object_set_new(dst, "cluster", json_string(r->dst_cluster));
	if (r->port)
		json_object_set_new(dst, "port", json_integer(r->port));
	if (r->method)
		json_object_set_new(req, "method", json_string(r->method));
	if (r->path)
		json_object_set_new(req, "path", json_string(r->path));
	if (r->nheaders) {
		json_t *h = json_object();
		for (uint32_t i = 0; i < r->nheaders; i++)
			json_object_set_new(h, r->headers[i].name,
			                    json_string(r->headers[i].value));
		json_object_set_new(req, "headers", h);
	}
	json_t *in = json_pack("{s:o, s:o}", "source", src, "destination", dst);
	if (json_object_size(req))
		json_object_set_new(in, "request", req);
	else
		json_decref(req);
	return in;
}

/* Is the probe traffic of the route: from its source (or any caller), with its methods and
 * path? */
static int on_route(const route_view *rt, const caller *c, const probe *p)
{
	if (rt->source && (!c->f_svc || strcmp(rt->source, c->f_svc)))
		return 0;
	if (rt->methods && !(p->r.method && (rt->methods & mp_method_bit(p->r.method))))
		return 0;
	switch (rt->path_kind) {
	case MP_PATH_EXACT:
		return p->r.path && !strcmp(p->r.path, rt->path);
	case MP_PATH_PREFIX:
		return p->r.path && !strncmp(p->r.path, rt->path, strlen(rt->path));
	default:
		return 1;
	}
}

static json_t *side_of(const mp_engine *e)
{
	const mp_bundle *b = e->bundle;
	json_t *o = json_pack("{s:s, s:{s:s}}", "source", b && b->dir ? b->dir : "", "model",
	                      "sha256", mp_model_sha256(e->model));
	if (b)
		json_object_set_new(o, "bundle",
		                    json_pack("{s:s, s:s, s:s}", "name", b->name ? b->name : "",
		                              "revision", b->revision ? b->revision : "", "sha256",
		                              b->sha256));
	return o;
}

/* Decides the class k of t by both sides; a change goes into changes. */
static int run_class(diff_space *s, const dest *t, const pick *k, probe *p, mp_decision *da,
                     mp_decision *db, json_t *changes, uint64_t *changed)
{
	const caller *c = &s->callers[k->caller];
	make_probe(s, t, k, p);
	mp_decide(s->ev[0], &p->r, da, NULL);
	mp_decide(s->ev[1], &p->r, db, NULL);
	int same = mp_decision_same(s->e[0], da, s->e[1], db);
	json_t *rs = same ? NULL : json_array();
	for (uint32_t i = t->route0; i < t->route0 + t->nroutes; i++) {
		route_view *rt = &s->routes[i];
		if (!on_route(rt, c, p))
			continue;
		rt->classes++;
		rt->changed += !same;
		if (rs)
			json_array_append_new(rs, json_string(rt->name));
	}
	if (same)
		return 0;
	(*changed)++;
	json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:o, s:o, s:o, s:o}", "destination", t->label,
	                      "caller", c->label, "request", p->label, "class", p->key, "input",
	                      probe_input(p), "base", mp_decision_summary(s->e[0], da), "head",
	                      mp_decision_summary(s->e[1], db), "routes", rs);
	return o ? json_array_append_new(changes, o) : -1;
}

/* Every class of destination t: each caller, then the other dimensions as an odometer. */
static int run_dest(diff_space *s, const dest *t, probe *p, mp_decision *da, mp_decision *db,
                    json_t *changes, uint64_t *decided, uint64_t *changed)
{
	int skip = s->prunable && !s->exhaustive && same_dest(s, t);
	s->skipped += skip;
	for (uint32_t ci = 0; ci < s->ncallers; ci++) {
		const caller *c = &s->callers[ci];
		uint32_t size[6] = {c->nclusters + 1,   t->nclusters + 1, nmethod_picks(t),
		                    t->path_reps.n + 1, t->nports + 1,    nheader_combos(t)};
		uint32_t at[6] = {0};
		if (skip) { /* its classes, counted as deciding them would */
			uint64_t n = 1;
			for (int i = 0; i < 6; i++)
				n *= size[i];
			*decided += n;
			continue;
		}
		for (;;) {
			pick k = {ci, at[2], at[3], at[4], at[5], at[0], at[1]};
			if (run_class(s, t, &k, p, da, db, changes, changed) < 0)
				return -1;
			(*decided)++;
			int i = 5;
			while (i >= 0 && ++at[i] == size[i])
				at[i--] = 0;
			if (i < 0)
				break;
		}
	}
	return 0;
}

long diff_space_run(diff_space *s, const mp_diff_opts *opts, json_t **report, mp_diags *d)
{
	json_t *changes = json_array(), *notes = json_array();
	uint64_t decided = 0, changed = 0;
	mp_decision *da = mp_malloc(sizeof(*da)), *db = mp_malloc(sizeof(*db));
	probe *p = mp_malloc(sizeof(*p));
	*report = NULL;
	if (!da || !db || !p || !changes || !notes) {
		mp_diags_error(d, NULL, 0, 0, "out of memory");
		goto fail;
	}
	for (uint32_t ti = 0; ti < s->ndests; ti++)
		if (run_dest(s, &s->dests[ti], p, da, db, changes, &decided, &changed) < 0) {
			mp_diags_error(d, NULL, 0, 0, "out of memory");
			goto fail;
		}
	json_t *routes = json_array();
	for (uint32_t i = 0; i < s->nroutes; i++)
		if (s->routes[i].changed)
			json_array_append_new(
			    routes, json_pack("{s:s, s:s, s:I, s:I}", "route", s->routes[i].name,
			                      "target", s->routes[i].target, "changed",
			                      (json_int_t)s->routes[i].changed, "classes",
			                      (json_int_t)s->routes[i].classes));
	if (s->truncated)
		json_array_append_new(notes,
		                      json_string("a pattern search stopped at its bound: some "
		                                  "classes may have no representative"));
	uint32_t whens = (s->e[0]->bundle ? s->e[0]->bundle->nwhens : 0) +
	                 (s->e[1]->bundle ? s->e[1]->bundle->nwhens : 0);
	if (whens) {
		char note[300];
		snprintf(
		    note, sizeof(note),
		    "%u `when` functions were run on every class; the %llu strings they hold are "
		    "representatives too, but what they compute cannot be enumerated",
		    whens, (unsigned long long)s->hinted);
		json_array_append_new(notes, json_string(note));
	}
	*report =
	    json_pack("{s:s, s:o, s:o, s:I, s:I, s:{s:i, s:i, s:i}, s:o, s:o, s:o}", "kind", "diff",
	              "base", opts && opts->base ? json_incref(opts->base) : side_of(s->e[0]),
	              "head", opts && opts->head ? json_incref(opts->head) : side_of(s->e[1]),
	              "decided", (json_int_t)decided, "changed", (json_int_t)changed, "dimensions",
	              "callers", (int)s->ncallers, "destinations", (int)s->ndests, "routes",
	              (int)s->nroutes, "notes", notes, "changes", changes, "routes", routes);
	changes = notes = NULL;
	if (!*report) {
		mp_diags_error(d, NULL, 0, 0, "out of memory");
		goto fail;
	}
	mp_changes_group(*report, opts && opts->max_examples ? opts->max_examples : 3);
	mp_free(da);
	mp_free(db);
	mp_free(p);
	return (long)changed;
fail:
	json_decref(changes);
	json_decref(notes);
	mp_free(da);
	mp_free(db);
	mp_free(p);
	return -1;
}

/* --- classify (the unit test's brute force) --- */

int diff_space_classify(const diff_space *s, const mp_request *r, char *buf, size_t len)
{
	diff_space *w = (diff_space *)s; /* the arena only */
	const dest *t = NULL;
	for (uint32_t i = 0; i < s->ndests && !t; i++)
		if (!strcmp(s->dests[i].name, r->dst_service) &&
		    (!s->dests[i].ns == !r->dst_namespace) &&
		    (!r->dst_namespace || !strcmp(s->dests[i].ns, r->dst_namespace)))
			t = &s->dests[i];
	if (!t)
		return -1;
	const char *svc, *ns;
	resolve_caller(w, s->e[0]->model, r->principal, r->src_service, r->src_namespace, &svc,
	               &ns);
	uint64_t *pv = match_vec(w, s->ppats, s->nppats, r->principal);
	const caller *c = NULL;
	for (uint32_t i = 0; i < s->ncallers && !c && pv; i++) {
		const caller *x = &s->callers[i];
		if (!x->principal == !r->principal && same_vec(x->f_pvec, pv, s->nppats) &&
		    same_str(x->f_svc, svc) && same_str(x->f_ns, ns))
			c = x;
	}
	if (!c)
		return -1;
	const char *method = "-";
	if (r->method) {
		uint32_t bit = mp_method_bit(r->method);
		method = "other";
		for (int i = 0; i < NMETHODS; i++)
			if (bit == (1u << i) && (t->methods & bit))
				method = method_names[i];
	}
	const char *path = NULL;
	char norm[2048];
	if (r->path) {
		long n = mp_path_normalize(r->path, norm, sizeof(norm), 1);
		uint64_t *v = n < 0 ? NULL : match_vec(w, t->paths, t->npaths, norm);
		for (uint32_t i = 0; v && i < t->path_reps.n && !path; i++)
			if (same_vec(v, t->path_vecs[i], t->npaths))
				path = t->path_reps.v[i];
		if (!path)
			return -1;
	}
	uint32_t port = 0;
	for (uint32_t i = 0; i < t->nports; i++)
		if (t->ports[i] == r->port)
			port = r->port;
	char hk[512] = "";
	for (uint32_t i = 0; i < t->nheaders; i++) {
		const header_dim *h = &t->headers[i];
		const char *val = NULL, *rep = "";
		for (uint32_t j = 0; j < r->nheaders; j++)
			if (!strcasecmp(r->headers[j].name, h->name))
				val = r->headers[j].value;
		if (val) {
			uint64_t *v = match_vec(w, h->pats, h->npats, val);
			rep = NULL;
			for (uint32_t j = 0; v && j < h->reps.n && !rep; j++)
				if (same_vec(v, h->rep_vecs[j], h->npats))
					rep = h->reps.v[j];
			if (!rep)
				return -1;
		}
		snprintf(hk + strlen(hk), sizeof(hk) - strlen(hk), "%s%s%s%s", i ? "," : "",
		         h->name, val ? "=" : "-", val ? rep : "");
	}
	class_key(buf, len, c, t, method, path, port, hk, r->src_cluster, r->dst_cluster);
	return 0;
}

long mp_diff(mp_engine *base, mp_engine *head, const mp_diff_opts *opts, json_t **report,
             mp_diags *d)
{
	diff_space *s = diff_space_new(base, head, d);
	*report = NULL;
	if (!s)
		return -1;
	long rc = diff_space_run(s, opts, report, d);
	diff_space_free(s);
	return rc;
}
