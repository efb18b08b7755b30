/* routes_gatewayapi.c: Gateway API routes into the model. A route's parents decide its callers:
 * an attached Gateway's data-plane service, or, for a Service parent (GAMMA) that the mesh of
 * the sources programs, any caller (a producer route, in the Service's namespace) or the
 * services of the route's namespace (a consumer route, which for them replaces the producer
 * routes: those then name every other service). Its backendRefs are resolved as the parent
 * kind asks (a Gateway's cross-namespace backend needs a ReferenceGrant, a mesh route's does
 * not), each bad one reported with its ResolvedRefs reason, and weighted as shares of the whole
 * rule, so an invalid backend's share stays unassigned. One model route per rule, match and
 * caller, in the Gateway API's order of precedence. docs/import.md ("Kubernetes Gateway API");
 * sources: tests/data/import/gatewayapi/SOURCES.md. */
#include "alloc.h"
#include "gatewayapi_int.h"
#include "providers/kubernetes/kubernetes_int.h"
#include "scalar.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_REFS 64 /* backendRefs of a rule (the CRD allows 16) and mirrors */

int mp_gwapi_core(const char *group)
{
	return !group || !*group || !strcmp(group, "core");
}

/* Looked up without interning: interning may move the model's strings, which callers hold. */
mp_id mp_gwapi_service(mp_import *im, const char *ns, const char *name)
{
	mp_str n = mp_model_find_str(im->m, ns, strlen(ns)), s;
	mp_id nsid =
	    n == MP_NONE ? MP_NONE : im->host->lookup(im->host->ctx, MP_IMPORT_NAMESPACE, n, 0);
	if (nsid == MP_NONE || (s = mp_model_find_str(im->m, name, strlen(name))) == MP_NONE)
		return MP_NONE;
	return im->host->lookup(im->host->ctx, MP_IMPORT_SERVICE, nsid, s);
}

/* --- ReferenceGrant (gw apis/v1beta1 referencegrant_types.go; Istio BackendAllowed) --- */

static int grant_admits(mp_import *im, idoc *dc, const char *from_kind, const char *from_ns,
                        const char *to_group, const char *to_kind, const char *to_name)
{
	yaml_node_t *from = im_get(dc, dc->spec, "from"), *to = im_get(dc, dc->spec, "to"), *e;
	int f = 0, t = 0;
	(void)im;
	if (from && from->type == YAML_SEQUENCE_NODE)
		IM_SEQ_FOREACH(dc, from, e)
		{
			const char *g = im_scalar(im_get(dc, e, "group"));
			const char *k = im_scalar(im_get(dc, e, "kind"));
			const char *n = im_scalar(im_get(dc, e, "namespace"));
			f |= g && !strcmp(g, GW_GROUP) && k && !strcmp(k, from_kind) && n &&
			     !strcmp(n, from_ns);
		}
	if (to && to->type == YAML_SEQUENCE_NODE)
		IM_SEQ_FOREACH(dc, to, e)
		{
			const char *g = im_scalar(im_get(dc, e, "group"));
			const char *k = im_scalar(im_get(dc, e, "kind"));
			const char *n = im_scalar(im_get(dc, e, "name"));
			int group = mp_gwapi_core(to_group) ? g && !*g : g && !strcmp(g, to_group);
			t |=
			    group && k && !strcmp(k, to_kind) && (!n || !*n || !strcmp(n, to_name));
		}
	return f && t;
}

int mp_gwapi_granted(mp_import *im, mp_id cluster, const char *from_kind, const char *from_ns,
                     const char *to_group, const char *to_kind, const char *to_ns,
                     const char *to_name)
{
	for (uint32_t i = 0; i < im->ndocs; i++) {
		idoc *dc = &im->docs[i];
		if (gwapi_is(dc, GW_REFERENCEGRANT) && im_live(dc) && dc->cluster == cluster &&
		    !strcmp(im_str_of(im, dc->ns), to_ns) &&
		    grant_admits(im, dc, from_kind, from_ns, to_group, to_kind, to_name))
			return 1;
	}
	return 0;
}

/* --- the routes of one import, collected, then emitted in order of precedence --- */

/* One model route to be: a rule's match from one caller. */
typedef struct {
	uint32_t doc, docrank, rule, match, nmatch;
	mp_id source;
	mp_route tmpl;                                /* match, timeouts, retries, loc */
	uint32_t dests, ndests;                       /* in the pool */
	uint32_t mirrors, nmirrors;                   /* in the pool */
	uint32_t rank, len, method, nheaders, nquery; /* precedence */
} entry;

typedef struct {
	mp_import *im;
	entry *e;
	uint32_t n, cap;
	mp_target *pool;
	uint32_t npool, poolcap;
} emitter;

/* A rule's targets for one kind of parent: offsets into the pool. */
typedef struct {
	uint32_t dests, ndests, mirrors, nmirrors;
} targets;

static uint32_t pool_add(emitter *x, const mp_target *t, uint32_t n)
{
	if (mp_reserve((void **)&x->pool, &x->poolcap, sizeof(*x->pool), (uint64_t)x->npool + n,
	               64) < 0) {
		x->im->oom = 1;
		return 0;
	}
	memcpy(x->pool + x->npool, t, n * sizeof(*t));
	x->npool += n;
	return x->npool - n;
}

/* --- backendRefs (gw HTTPRouteRule.BackendRefs; Istio conversion.go buildDestination) --- */

typedef struct {
	mp_id svc;       /* MP_NONE: invalid for every parent */
	int gw_ok;       /* also for Gateway parents (granted when it crosses namespaces) */
	uint32_t weight; /* as written (default 1) */
	yaml_node_t *at;
} backend;

/* One backendRef resolved, its problem reported when report: the kind first, then the
 * ReferenceGrant a Gateway's route needs across namespaces, then the Service. */
static backend resolve(mp_import *im, idoc *dc, yaml_node_t *b, int gw, int report)
{
	const char *group = im_scalar(im_get(dc, b, "group"));
	const char *kind = im_scalar(im_get(dc, b, "kind"));
	const char *ns = im_scalar(im_get(dc, b, "namespace"));
	const char *name = im_scalar(im_get(dc, b, "name"));
	const char *w = im_scalar(im_get(dc, b, "weight"));
	const char *rns = im_str_of(im, dc->ns);
	char subject[400];
	backend out = {MP_NONE, 0, w ? (uint32_t)strtoul(w, NULL, 10) : 1, b};
	if (!ns)
		ns = rns;
	if (!name)
		name = "";
	int service = (mp_gwapi_core(group) && (!kind || !strcmp(kind, "Service"))) ||
	              (group && !strcmp(group, "multicluster.x-k8s.io") && kind &&
	               !strcmp(kind, "ServiceImport"));
	if (!service) {
		if (report)
			im_finding(
			    im, "InvalidKind", MP_FINDING_WARNING, im_loc(dc, b),
			    im_title(im, dc, subject, sizeof(subject)),
			    "backendRef %s%s%s %s/%s: ResolvedRefs=False: no mesh routes to a "
			    "backend of that kind (a Service is one); requests it would take fail",
			    group ? group : "", group && *group ? "/" : "", kind ? kind : "", ns,
			    name);
		return out;
	}
	int granted =
	    !gw || !strcmp(ns, rns) ||
	    mp_gwapi_granted(im, dc->cluster, dc->kind->kind, rns, "", "Service", ns, name);
	out.svc = mp_gwapi_service(im, ns, name);
	if (!granted && report)
		im_finding(im, "RefNotPermitted", MP_FINDING_WARNING, im_loc(dc, b),
		           im_title(im, dc, subject, sizeof(subject)),
		           "backendRef Service %s/%s: ResolvedRefs=False: it is in another "
		           "namespace, and no ReferenceGrant in %s lets %ss of %s refer to it; "
		           "requests it would take through a Gateway fail",
		           ns, name, ns, dc->kind->kind, rns);
	else if (out.svc == MP_NONE && report)
		im_finding(im, "BackendNotFound", MP_FINDING_WARNING, im_loc(dc, b),
		           im_title(im, dc, subject, sizeof(subject)),
		           "backendRef Service %s/%s: ResolvedRefs=False: the Service does not "
		           "exist; requests it would take fail",
		           ns, name);
	out.gw_ok = granted && out.svc != MP_NONE;
	return out;
}

/* The shares of the rule's backends as the model's percentages, for one kind of parent: each
 * backend's weight over the sum of every weight, so an invalid backend's share stays
 * unassigned (its requests fail); the rounding goes to the first valid backend. */
static uint32_t shares(const backend *b, uint32_t n, int gw, mp_target *out, idoc *dc)
{
	uint64_t sum = 0, given = 0;
	uint32_t k = 0;
	for (uint32_t i = 0; i < n; i++)
		sum += b[i].weight;
	for (uint32_t i = 0; sum && i < n; i++) {
		uint32_t pct = (uint32_t)(b[i].weight * 100 / sum);
		given += pct;
		if (!b[i].weight || b[i].svc == MP_NONE || (gw && !b[i].gw_ok))
			continue;
		out[k++] = (mp_target){MP_TARGET_SERVICE,   b[i].svc, MP_NONE, pct,
		                       im_loc(dc, b[i].at), 0,        0};
	}
	if (k)
		out[0].weight += (uint32_t)(100 - given);
	return k;
}

/* A rule's backendRefs and RequestMirror backends for Gateway and mesh parents, reported once
 * (report). Weight-0 references are skipped before they are resolved (Istio
 * buildHTTPDestination), so a missing one reports nothing. */
static void rule_targets(emitter *x, idoc *dc, yaml_node_t *rule, int gw, int report,
                         targets *for_gw, targets *for_mesh)
{
	mp_import *im = x->im;
	yaml_node_t *refs = im_get(dc, rule, "backendRefs"), *filters = im_get(dc, rule, "filters"),
	            *b, *f;
	backend bs[MAX_REFS], ms[MAX_REFS];
	mp_target t[MAX_REFS];
	uint32_t nb = 0, nm = 0;
	if (refs && refs->type == YAML_SEQUENCE_NODE)
		IM_SEQ_FOREACH(dc, refs, b)
		{
			const char *w = im_scalar(im_get(dc, b, "weight"));
			if (nb == MAX_REFS)
				break;
			if (w && !strtoul(w, NULL, 10))
				bs[nb++] = (backend){MP_NONE, 0, 0, b};
			else
				bs[nb++] = resolve(im, dc, b, gw, report);
		}
	if (filters && filters->type == YAML_SEQUENCE_NODE)
		IM_SEQ_FOREACH(dc, filters, f)
		{
			yaml_node_t *mb = im_get(dc, im_get(dc, f, "requestMirror"), "backendRef");
			if (mb && nm < MAX_REFS)
				ms[nm++] = resolve(im, dc, mb, gw, report);
		}
	for (int side = 0; side < 2; side++) {
		targets *out = side ? for_mesh : for_gw;
		uint32_t n = shares(bs, nb, !side, t, dc);
		out->dests = n ? pool_add(x, t, n) : 0;
		out->ndests = n;
		n = 0;
		for (uint32_t i = 0; i < nm; i++)
			if (ms[i].svc != MP_NONE && (side || ms[i].gw_ok))
				t[n++] = (mp_target){MP_TARGET_SERVICE,    ms[i].svc, MP_NONE, 0,
				                     im_loc(dc, ms[i].at), 0,         0};
		out->mirrors = n ? pool_add(x, t, n) : 0;
		out->nmirrors = n;
	}
}

/* --- matches (gw HTTPRouteMatch, GRPCRouteMatch; Istio createURIMatch, createGRPCURIMatch) --- */

/* An HTTPRoute or GRPCRoute match as the model's (path, method, exact headers, the first of
 * each name) and its precedence. Regular-expression headers and query parameters are left
 * out: the route admits more. A PathPrefix is kept without its trailing slash (the API
 * matches it by whole segments; the model's prefix is a string prefix, so it admits more,
 * never less). */
static int convert_match(mp_import *im, idoc *dc, yaml_node_t *m, int grpc, entry *e)
{
	yaml_node_t *headers = im_get(dc, m, "headers"), *h, *q = im_get(dc, m, "queryParams");
	mp_match *out = &e->tmpl.match;
	char buf[1100];
	const char *seen[16];
	uint32_t nseen = 0;
	memset(out, 0, sizeof(*out));
	e->rank = 2, e->len = 1, e->method = e->nheaders = e->nquery = 0;
	if (grpc) {
		yaml_node_t *method = im_get(dc, m, "method");
		const char *type = im_scalar(im_get(dc, method, "type"));
		const char *svc = im_scalar(im_get(dc, method, "service"));
		const char *meth = im_scalar(im_get(dc, method, "method"));
		out->methods = MP_METHOD_POST;
		if (type && !strcmp(type, "RegularExpression")) {
			snprintf(buf, sizeof(buf), "/%s/%s", svc ? svc : "[^/]+",
			         meth ? meth : ".+");
			out->path_kind = MP_PATH_REGEX, e->rank = 1;
		} else if (svc && meth) {
			snprintf(buf, sizeof(buf), "/%s/%s", svc, meth);
			out->path_kind = MP_PATH_EXACT, e->rank = 3;
		} else if (svc) {
			snprintf(buf, sizeof(buf), "/%s/", svc);
			out->path_kind = MP_PATH_PREFIX;
		}
		if (out->path_kind) {
			out->path = im_intern(im, buf);
			e->len = (uint32_t)strlen(buf);
		}
	} else {
		yaml_node_t *path = im_get(dc, m, "path");
		const char *type = im_scalar(im_get(dc, path, "type"));
		const char *value = im_scalar(im_get(dc, path, "value"));
		const char *method = im_scalar(im_get(dc, m, "method"));
		if (!value)
			value = "/";
		e->len = (uint32_t)strlen(value);
		if (type && !strcmp(type, "Exact")) {
			out->path_kind = MP_PATH_EXACT, e->rank = 3;
			out->path = im_intern(im, value);
		} else if (type && !strcmp(type, "RegularExpression")) {
			out->path_kind = MP_PATH_REGEX, e->rank = 1;
			out->path = im_intern(im, value);
		} else if (strcmp(value, "/")) {
			size_t n = strlen(value);
			snprintf(buf, sizeof(buf), "%.*s", (int)(n - (value[n - 1] == '/')), value);
			out->path_kind = MP_PATH_PREFIX;
			out->path = im_intern(im, buf);
		}
		out->methods = method ? mp_method_bit(method) : 0;
		e->method = method != NULL;
		e->nquery =
		    q && q->type == YAML_SEQUENCE_NODE
		        ? (uint32_t)(q->data.sequence.items.top - q->data.sequence.items.start)
		        : 0;
	}
	if (headers && headers->type == YAML_SEQUENCE_NODE)
		IM_SEQ_FOREACH(dc, headers, h)
		{
			const char *type = im_scalar(im_get(dc, h, "type"));
			const char *name = im_scalar(im_get(dc, h, "name"));
			const char *value = im_scalar(im_get(dc, h, "value"));
			uint32_t k;
			if (!name || !value)
				continue;
			for (k = 0; k < nseen && strcasecmp(seen[k], name); k++)
				;
			if (k < nseen) /* only the first entry of a name counts */
				continue;
			if (nseen < 16)
				seen[nseen++] = name;
			e->nheaders++;
			if (type && strcmp(type, "Exact"))
				continue; /* a regular expression: left out, the route admits more
				           */
			if (im_match_header(im, name, value, out) < 0)
				return -1;
		}
	return 0;
}

/* --- one route document --- */

/* Its parents, as the route attaches to them. */
typedef struct {
	mp_id gw_src[64]; /* data-plane services of the Gateways it attached to */
	uint32_t ngw;
	const mp_provider *gw_mesh; /* the first attached Gateway's mesh (its annotations) */
	int gw_ours;                /* some parent is a Gateway of ours */
	int mesh_ours;              /* some parent is a Service the mesh programs */
	mp_id first_svc;            /* the first accepted Service parent */
	int any_caller;             /* a producer route: every caller */
	mp_id excluded_ns[64];      /* ... but those of namespaces with consumer routes */
	uint32_t nexcluded;
	int from_own_ns; /* a consumer route: the services of its namespace */
} parents;

static void add_unique(mp_id *v, uint32_t *n, uint32_t max, mp_id id)
{
	uint32_t k;
	for (k = 0; k < *n && v[k] != id; k++)
		;
	if (k == *n && *n < max)
		v[(*n)++] = id;
}

/* Is the Service document ns/name of cluster headless (clusterIP: None)? */
static int headless(mp_import *im, const char *ns, const char *name, mp_id cluster)
{
	for (uint32_t i = 0; i < im->ndocs; i++) {
		idoc *s = &im->docs[i];
		if (k8s_is(s, K8S_SERVICE) && !s->dead && s->cluster == cluster &&
		    !strcmp(im_str_of(im, s->ns), ns) && !strcmp(im_str_of(im, s->name), name)) {
			const char *ip = im_scalar(im_get(s, s->spec, "clusterIP"));
			return ip && !strcmp(ip, "None");
		}
	}
	return 0;
}

/* A Service parent the mesh programs (GEP-1294): it must exist (and, for Linkerd, have a
 * cluster IP); the mesh's own configuration may stand for it (a ServiceProfile). */
static void service_parent(mp_import *im, idoc *dc, yaml_node_t *p, const mp_provider *mesh,
                           parents *ps)
{
	gwapi_state *st = gwapi_of(im);
	const mp_gateway_impl *impl = mesh->gateway_api;
	const char *ns = im_scalar(im_get(dc, p, "namespace"));
	const char *name = im_scalar(im_get(dc, p, "name"));
	char subject[400];
	if (!ns)
		ns = im_str_of(im, dc->ns);
	if (!name)
		name = "";
	mp_id sid = mp_gwapi_service(im, ns, name);
	ps->mesh_ours = 1;
	if (sid == MP_NONE ||
	    ((impl->flags & MP_GWI_CLUSTER_IP) && headless(im, ns, name, dc->cluster))) {
		im_finding(im, "NoMatchingParent", MP_FINDING_WARNING, im_loc(dc, p),
		           im_title(im, dc, subject, sizeof(subject)),
		           "parentRef Service %s/%s: Accepted=False: %s; the route applies to "
		           "nothing there",
		           ns, name,
		           sid == MP_NONE ? "the Service does not exist"
		                          : "the Service is headless (clusterIP: None), and a "
		                            "parent needs a cluster IP");
		return;
	}
	if (impl->replaced && impl->replaced(im, sid))
		return; /* the mesh's own routes stand for the Service */
	if (ps->first_svc == MP_NONE)
		ps->first_svc = sid;
	if (strcmp(ns, im_str_of(im, dc->ns))) {
		ps->from_own_ns = 1;
		return;
	}
	/* a producer route: every caller but those of namespaces with consumer routes to it */
	ps->any_caller = 1;
	for (uint32_t i = 0; i + 1 < st->nconsumers * 2; i += 2)
		if (st->consumers[i] == sid)
			add_unique(ps->excluded_ns, &ps->nexcluded, 64, st->consumers[i + 1]);
}

/* The route's parents: Gateways (when gateways) and Services (when mesh programs them). */
static void read_parents(mp_import *im, idoc *dc, const mp_provider *mesh, int gateways,
                         parents *ps)
{
	yaml_node_t *seq = im_get(dc, dc->spec, "parentRefs"), *p;
	memset(ps, 0, sizeof(*ps));
	ps->first_svc = MP_NONE;
	if (!seq || seq->type != YAML_SEQUENCE_NODE)
		return;
	IM_SEQ_FOREACH(dc, seq, p)
	{
		const char *group = im_scalar(im_get(dc, p, "group"));
		const char *kind = im_scalar(im_get(dc, p, "kind"));
		if (!group)
			group = GW_GROUP;
		if (!kind)
			kind = "Gateway";
		if (gateways && !strcmp(group, GW_GROUP) && !strcmp(kind, "Gateway")) {
			gw_attachment a;
			mp_gwapi_attach(im, dc, p, &a);
			ps->gw_ours |= a.gw != NULL;
			if (a.gw && a.listeners && a.gw->svc != MP_NONE) {
				if (!ps->gw_mesh)
					ps->gw_mesh = a.gw->mesh;
				add_unique(ps->gw_src, &ps->ngw, 64, a.gw->svc);
			}
		} else if (mesh && mp_gwapi_core(group) && !strcasecmp(kind, "Service")) {
			service_parent(im, dc, p, mesh, ps);
		}
		/* any other parent is another controller's (Linkerd's Server: its inbound
		 * routes) */
	}
}

/* The callers of the route's mesh part: MP_NONE alone (any caller), or services. */
static uint32_t mesh_callers(mp_import *im, idoc *dc, const parents *ps, mp_id *out, uint32_t max)
{
	mp_model_view v = mp_model_get_view(im->m);
	uint32_t n = 0;
	if (ps->any_caller && !ps->nexcluded) {
		out[0] = MP_NONE;
		return 1;
	}
	for (mp_id s = 0; s < v.nservices && n < max; s++) {
		int own = v.services[s].ns == dc->ns_id, excluded = 0;
		for (uint32_t k = 0; k < ps->nexcluded; k++)
			excluded |= v.services[s].ns == ps->excluded_ns[k];
		if ((ps->from_own_ns && own) || (ps->any_caller && !excluded))
			out[n++] = s;
	}
	return n;
}

static void add_entry(emitter *x, const entry *e)
{
	if (mp_grow((void **)&x->e, &x->cap, sizeof(*x->e), x->n, 64) < 0) {
		x->im->oom = 1;
		return;
	}
	x->e[x->n++] = *e;
}

/* Timeouts and retries of a rule for callers through mesh (its annotations first). */
static void rule_settings(mp_import *im, idoc *dc, yaml_node_t *rule, const mp_provider *mesh,
                          mp_route *rt)
{
	yaml_node_t *t = im_get(dc, rule, "timeouts"), *retry = im_get(dc, rule, "retry");
	const char *req = im_scalar(im_get(dc, t, "request"));
	const char *backend = im_scalar(im_get(dc, t, "backendRequest"));
	const char *attempts = im_scalar(im_get(dc, retry, "attempts"));
	memset(rt, 0, sizeof(*rt));
	if (mesh && mesh->gateway_api && mesh->gateway_api->annotations)
		mesh->gateway_api->annotations(im, dc, rt);
	if (req)
		mp_parse_duration(req, &rt->timeout_ms);
	if (backend)
		mp_parse_duration(backend, &rt->per_try_timeout_ms);
	if (attempts)
		rt->retry_attempts = (uint32_t)strtoul(attempts, NULL, 10);
}

/* Every entry of document dc: Gateway parents (with gateways), and Service parents when mesh
 * programs them. */
static void route_doc(emitter *x, idoc *dc, const mp_provider *mesh, int gateways)
{
	mp_import *im = x->im;
	parents ps;
	uint32_t kind = gwapi_route_kind(dc);
	int grpc = kind == GW_K_GRPC, http = kind == GW_K_HTTP || !kind;
	read_parents(im, dc, mesh, gateways, &ps);
	if (!ps.gw_ours && !ps.mesh_ours)
		return; /* nothing of ours: no status to write, no route */
	uint32_t nsvc = mp_model_get_view(im->m).nservices, ncallers = 0;
	mp_id *callers = mp_malloc((nsvc + 1) * sizeof(*callers));
	if (!callers) {
		im->oom = 1;
		return;
	}
	if (ps.mesh_ours)
		ncallers = mesh_callers(im, dc, &ps, callers, nsvc + 1);
	yaml_node_t *rules = im_get(dc, dc->spec, "rules"), *rule, *m;
	uint32_t ri = 0;
	if (!rules || rules->type != YAML_SEQUENCE_NODE)
		rules = NULL; /* the CRD's default rule has no backends: no route */
	if (rules)
		IM_SEQ_FOREACH(dc, rules, rule)
		{
			targets tg, tm;
			rule_targets(x, dc, rule, ps.gw_ours, 1, &tg, &tm);
			if (!im_get(dc, rule, "backendRefs") && ps.first_svc != MP_NONE && mesh &&
			    (mesh->gateway_api->flags & MP_GWI_EMPTY_TO_PARENT)) {
				mp_target t = {MP_TARGET_SERVICE,
				               ps.first_svc,
				               MP_NONE,
				               100,
				               im_loc(dc, rule),
				               0,
				               0};
				tm.dests = pool_add(x, &t, 1), tm.ndests = 1;
			}
			yaml_node_t *matches = (http || grpc) ? im_get(dc, rule, "matches") : NULL;
			uint32_t nm = matches && matches->type == YAML_SEQUENCE_NODE
			                  ? (uint32_t)(matches->data.sequence.items.top -
			                               matches->data.sequence.items.start)
			                  : 0;
			for (uint32_t mi = 0; mi < (nm ? nm : 1) && !im->oom; mi++) {
				entry e;
				memset(&e, 0, sizeof(e));
				m = nm ? im_node(dc, matches->data.sequence.items.start[mi]) : NULL;
				if (m && convert_match(im, dc, m, grpc, &e) < 0) {
					im->oom = 1;
					break;
				}
				if (!m) { /* no matches: every request (HTTP: PathPrefix "/") */
					e.rank = (http || grpc) ? 2 : 0, e.len = 1;
					e.tmpl.match.methods = grpc ? MP_METHOD_POST : 0;
				}
				mp_match match = e.tmpl.match;
				e.doc = (uint32_t)(dc - im->docs), e.rule = ri, e.match = mi,
				e.nmatch = nm;
				/* through Gateways */
				for (uint32_t s = 0; s < ps.ngw && tg.ndests; s++) {
					rule_settings(im, dc, rule, ps.gw_mesh, &e.tmpl);
					e.tmpl.match = match;
					e.tmpl.loc = im_loc(dc, m ? m : rule);
					e.source = ps.gw_src[s];
					e.dests = tg.dests, e.ndests = tg.ndests;
					e.mirrors = tg.mirrors, e.nmirrors = tg.nmirrors;
					add_entry(x, &e);
				}
				/* in the mesh */
				if (mesh && (mesh->gateway_api->flags & MP_GWI_PATH_LENGTH))
					e.rank = e.rank ? 2 : 0;
				for (uint32_t s = 0; s < ncallers && tm.ndests; s++) {
					rule_settings(im, dc, rule, mesh, &e.tmpl);
					e.tmpl.match = match;
					e.tmpl.loc = im_loc(dc, m ? m : rule);
					e.source = callers[s];
					e.dests = tm.dests, e.ndests = tm.ndests;
					e.mirrors = tm.mirrors, e.nmirrors = tm.nmirrors;
					add_entry(x, &e);
				}
			}
			ri++;
		}
	mp_free(callers);
}

/* A route document's place among the others by namespace and name (Git has no creation
 * times, the spec's first tie-break). */
typedef struct {
	const char *ns, *name;
	uint32_t doc;
} doc_key;

static int by_name(const void *pa, const void *pb)
{
	const doc_key *a = pa, *b = pb;
	int c = strcmp(a->ns, b->ns);
	if (!c)
		c = strcmp(a->name, b->name);
	return c ? c : a->doc < b->doc ? -1 : a->doc > b->doc;
}

/* The Gateway API's precedence among the rules of one parent (gw HTTPRouteRule.Matches:
 * an Exact path, the longest PathPrefix, a method, the most headers, the most query
 * parameters; then the oldest route, which Git cannot tell, so namespace/name; then rule and
 * match order). Hostnames, which come first, are not in the model. */
static int by_precedence(const void *pa, const void *pb)
{
	const entry *a = pa, *b = pb;
	if (a->rank != b->rank)
		return a->rank > b->rank ? -1 : 1;
	if (a->len != b->len)
		return a->len > b->len ? -1 : 1;
	if (a->method != b->method)
		return a->method > b->method ? -1 : 1;
	if (a->nheaders != b->nheaders)
		return a->nheaders > b->nheaders ? -1 : 1;
	if (a->nquery != b->nquery)
		return a->nquery > b->nquery ? -1 : 1;
	if (a->docrank != b->docrank)
		return a->docrank < b->docrank ? -1 : 1;
	if (a->rule != b->rule)
		return a->rule < b->rule ? -1 : 1;
	if (a->match != b->match)
		return a->match < b->match ? -1 : 1;
	return a->source == b->source ? 0 : a->source < b->source ? -1 : 1;
}

/* Each entry's document ranked by namespace/name; 0, or -1 when out of memory. */
static int rank_documents(emitter *x)
{
	mp_import *im = x->im;
	doc_key *k = mp_malloc((x->n + 1) * sizeof(*k));
	uint32_t *rank = mp_malloc((im->ndocs + 1) * sizeof(*rank));
	uint32_t n = 0;
	if (!k || !rank) {
		mp_free(k);
		mp_free(rank);
		return -1;
	}
	for (uint32_t i = 0; i < x->n; i++)
		if (!i || x->e[i].doc != x->e[i - 1].doc) /* a document's entries are together */
			k[n++] = (doc_key){im_str_of(im, im->docs[x->e[i].doc].ns),
			                   im_str_of(im, im->docs[x->e[i].doc].name), x->e[i].doc};
	qsort(k, n, sizeof(*k), by_name);
	for (uint32_t i = 0; i < n; i++)
		rank[k[i].doc] = i;
	for (uint32_t i = 0; i < x->n; i++)
		x->e[i].docrank = rank[x->e[i].doc];
	mp_free(k);
	mp_free(rank);
	return 0;
}

/* The entries as the model's routes, in order, named NS/NAME:rules[I] (.matches[J] when the
 * rule has several, <-NS/CALLER for a caller, @CLUSTER across clusters). */
static void emit(emitter *x)
{
	mp_import *im = x->im;
	if (x->n && rank_documents(x) < 0) {
		im->oom = 1;
		return;
	}
	if (x->n)
		qsort(x->e, x->n, sizeof(*x->e), by_precedence);
	for (uint32_t i = 0; i < x->n && !im->oom; i++) {
		const entry *e = &x->e[i];
		idoc *dc = &im->docs[e->doc];
		char name[1400];
		size_t at =
		    (size_t)snprintf(name, sizeof(name), "%s/%s:rules[%u]", im_str_of(im, dc->ns),
		                     im_str_of(im, dc->name), e->rule);
		if (e->nmatch > 1)
			at += (size_t)snprintf(name + at, sizeof(name) - at, ".matches[%u]",
			                       e->match);
		if (e->source != MP_NONE) {
			mp_model_view v = mp_model_get_view(im->m);
			const mp_service *s = &v.services[e->source];
			at += (size_t)snprintf(name + at, sizeof(name) - at, "<-%s/%s",
			                       im_str_of(im, v.namespaces[s->ns].name),
			                       im_str_of(im, s->name));
		}
		if (im->multi_cluster && at < sizeof(name))
			snprintf(
			    name + at, sizeof(name) - at, "@%s",
			    im_str_of(im, mp_model_get_view(im->m).clusters[dc->cluster].name));
		mp_route rt = e->tmpl;
		rt.source = e->source;
		const mp_target *t[3] = {x->pool + e->dests, x->pool + e->mirrors, NULL};
		const uint32_t n[3] = {e->ndests, e->nmirrors, 0};
		im_add_route(im, name, &rt, t, n);
	}
}

static void emitter_free(emitter *x)
{
	mp_free(x->e);
	mp_free(x->pool);
}

void mp_gwapi_mesh_route(mp_import *im, idoc *dc, const mp_provider *mesh)
{
	emitter x = {.im = im};
	route_doc(&x, dc, mesh, 0);
	emit(&x);
	emitter_free(&x);
}

/* The mesh that programs Service parents: the first that the import holds and that does,
 * else, when the import holds no mesh, the one that does so by default (Istio). */
static const mp_provider *gamma_mesh(mp_import *im)
{
	int any = 0;
	for (const mp_provider *const *p = mp_providers; *p; p++) {
		int holds = im_holds(im, *p);
		any |= holds;
		if (holds && (*p)->gateway_api && ((*p)->gateway_api->flags & MP_GWI_MESH))
			return *p;
	}
	for (const mp_provider *const *p = mp_providers; *p && !any; p++)
		if ((*p)->gateway_api && ((*p)->gateway_api->flags & MP_GWI_DEFAULT_MESH))
			return *p;
	return NULL;
}

/* The namespaces with consumer routes to each Service (a route in another namespace than its
 * Service parent's), for the producer routes that leave their callers out. */
static void consumers(mp_import *im)
{
	gwapi_state *st = gwapi_of(im);
	for (uint32_t i = 0; i < im->ndocs && !im->oom; i++) {
		idoc *dc = &im->docs[i];
		yaml_node_t *seq = im_get(dc, dc->spec, "parentRefs"), *p;
		if (!gwapi_route_kind(dc) || !im_live(dc) || dc->ns_id == MP_NONE || !seq ||
		    seq->type != YAML_SEQUENCE_NODE)
			continue;
		IM_SEQ_FOREACH(dc, seq, p)
		{
			const char *group = im_scalar(im_get(dc, p, "group"));
			const char *kind = im_scalar(im_get(dc, p, "kind"));
			const char *ns = im_scalar(im_get(dc, p, "namespace"));
			const char *name = im_scalar(im_get(dc, p, "name"));
			mp_id sid;
			if (!group || !mp_gwapi_core(group) || !kind ||
			    strcasecmp(kind, "Service") || !ns ||
			    !strcmp(ns, im_str_of(im, dc->ns)) || !name ||
			    (sid = mp_gwapi_service(im, ns, name)) == MP_NONE)
				continue;
			uint32_t pair[2] = {sid, dc->ns_id};
			uint32_t cap = st->nconsumers * 2;
			uint32_t *grown = mp_realloc(st->consumers, (cap + 2) * sizeof(*grown));
			if (!grown) {
				im->oom = 1;
				return;
			}
			st->consumers = grown;
			memcpy(st->consumers + cap, pair, sizeof(pair));
			st->nconsumers++;
		}
	}
}

void mp_gwapi_routes(mp_import *im)
{
	gwapi_state *st = gwapi_of(im);
	emitter x = {.im = im};
	st->mesh = gamma_mesh(im);
	mp_gwapi_listener_findings(im);
	consumers(im);
	for (uint32_t i = 0; i < im->ndocs && !im->oom; i++) {
		idoc *dc = &im->docs[i];
		if (gwapi_route_kind(dc) && im_live(dc) && dc->ns_id != MP_NONE)
			route_doc(&x, dc, st->mesh, 1);
	}
	emit(&x);
	emitter_free(&x);
}
