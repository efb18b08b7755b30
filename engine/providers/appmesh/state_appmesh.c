/* state_appmesh.c: the model's AppMesh records (record_appmesh.c writes them) read back into
 * an mp_amstate: names resolved to indexes, routes put in the order App Mesh tries them, every
 * id and span checked (a model file may have been made by hand). Matching a route and a label
 * selector is here too, for decisions (decide_appmesh.c) and analyzers alike. docs/import.md
 * ("App Mesh"). */
#include "alloc.h"
#include "appmesh_state.h"
#include "regex.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const mp_am_tls_modes[4] = {"", "DISABLED", "PERMISSIVE", "STRICT"};
const char *const mp_am_route_kinds[4] = {"httpRoute", "http2Route", "grpcRoute", "tcpRoute"};

typedef struct {
	mp_amstate *s;
	jmp_buf *oom; /* where reading ends when the arena cannot give more */
	const mp_str *files;
	uint32_t nfiles;
	const char *where; /* the record's title, for errors */
	char *err;
	size_t errlen;
	int bad;
} rctx;

static void fail(rctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail(rctx *c, const char *fmt, ...)
{
	char msg[300];
	va_list ap;
	if (c->bad)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(c->err, c->errlen, "AppMesh record %s: %s", c->where, msg);
	c->bad = 1;
}

static const char *str(rctx *c, json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));
	return s ? mp_arena_str(&c->s->ar, s) : NULL;
}

static const char *str_or(rctx *c, json_t *o, const char *key, const char *dflt)
{
	const char *s = str(c, o, key);
	return s ? s : dflt;
}

static uint32_t u32(json_t *o, const char *key, uint32_t dflt)
{
	json_t *v = json_object_get(o, key);
	json_int_t n = json_integer_value(v);
	return json_is_integer(v) && n >= 0 && n <= UINT32_MAX ? (uint32_t)n : dflt;
}

/* n elements from the arena; out of memory ends the reading (read_all). */
static void *alloc(rctx *c, size_t n, size_t size)
{
	void *p = n ? mp_arena_alloc(&c->s->ar, n * size) : NULL;
	if (n && !p)
		longjmp(*c->oom, 1);
	return p;
}

static am_at at(rctx *c, json_t *a)
{
	am_at r = {{0, 0, 0}, ""};
	json_int_t k = json_integer_value(json_array_get(a, 0));
	json_int_t line = json_integer_value(json_array_get(a, 1));
	if (!json_is_array(a))
		return r;
	if (k < 0 || (uint64_t)k >= c->nfiles || line < 0 || line > UINT32_MAX ||
	    c->files[k] >= mp_model_nstrings(c->s->m)) {
		fail(c, "a location outside the record's files");
		return r;
	}
	r.loc = (mp_loc){c->files[k], (uint32_t)line, 1};
	r.source =
	    mp_arena_printf(&c->s->ar, "%s:%u", mp_model_str(c->s->m, r.loc.file), (uint32_t)line);
	return r;
}

static const char *const *strs(rctx *c, json_t *a, uint32_t *n)
{
	size_t i;
	json_t *v;
	const char **out = alloc(c, json_array_size(a), sizeof(*out));
	*n = 0;
	json_array_foreach(a, i, v)
	{
		if (json_is_string(v))
			out[(*n)++] = mp_arena_str(&c->s->ar, json_string_value(v));
	}
	return out;
}

static am_validation validation(rctx *c, json_t *v)
{
	am_validation r = {0};
	if (!json_is_object(v))
		return r;
	r.set = 1;
	r.at = at(c, json_object_get(v, "at"));
	if (json_object_get(v, "sans")) {
		r.sans = strs(c, json_object_get(v, "sans"), &r.nsans);
		r.sans_at = at(c, json_object_get(v, "sansAt"));
	}
	return r;
}

static am_client_tls client_tls(rctx *c, json_t *p)
{
	am_client_tls r = {0};
	if (!json_is_object(p))
		return r;
	r.set = 1;
	r.path = str_or(c, p, "path", "clientPolicy.tls");
	r.enforce = !json_is_false(json_object_get(p, "enforce"));
	json_t *ports = json_object_get(p, "ports"), *v;
	size_t i;
	uint32_t *pv = alloc(c, json_array_size(ports), sizeof(*pv));
	json_array_foreach(ports, i, v)
	{
		if (json_is_integer(v))
			pv[r.nports++] = (uint32_t)json_integer_value(v);
	}
	r.ports = pv;
	r.cert = str(c, p, "cert");
	r.validation = validation(c, json_object_get(p, "validation"));
	r.at = at(c, json_object_get(p, "at"));
	r.rule_val = mp_arena_printf(&c->s->ar, "%s.validation", r.path);
	r.rule_sans = mp_arena_printf(&c->s->ar, "%s.validation.%s", r.path,
	                              strchr(r.path, '_') ? "subject_alternative_names"
	                                                  : "subjectAlternativeNames");
	return r;
}

static uint32_t tls_mode(const char *s)
{
	for (uint32_t i = 1; s && i < 4; i++)
		if (!strcmp(s, mp_am_tls_modes[i]))
			return i;
	return AM_TLS_NONE;
}

static const am_listener *listeners(rctx *c, json_t *a, uint32_t *n)
{
	size_t i;
	json_t *l;
	am_listener *out = alloc(c, json_array_size(a), sizeof(*out));
	*n = 0;
	json_array_foreach(a, i, l)
	{
		am_listener *x = &out[(*n)++];
		json_t *tls = json_object_get(l, "tls");
		x->port = u32(l, "port", 0);
		x->protocol = str_or(c, l, "protocol", "tcp");
		x->timeout_ms = u32(l, "timeoutMs", 0);
		x->at = at(c, json_object_get(l, "at"));
		if (json_is_object(tls)) {
			x->tls = tls_mode(json_string_value(json_object_get(tls, "mode")));
			x->cert = str(c, tls, "cert");
			x->validation = validation(c, json_object_get(tls, "validation"));
			x->tls_at = at(c, json_object_get(tls, "at"));
		}
		/* the CRD's words, or the form's own ("listener[0]", Terraform's) */
		const char *lp = json_string_value(json_object_get(l, "path"));
		char path[64];
		snprintf(path, sizeof(path), "listeners[%zu]", i);
		x->rule_mode = mp_arena_printf(&c->s->ar, "%s.tls:%s", lp ? lp : path,
		                               x->tls ? mp_am_tls_modes[x->tls] : "none");
		x->rule_val = mp_arena_printf(&c->s->ar, "%s.tls.validation", lp ? lp : path);
		x->rule_sans =
		    mp_arena_printf(&c->s->ar, "%s.tls.validation.%s", lp ? lp : path,
		                    lp ? "subject_alternative_names" : "subjectAlternativeNames");
	}
	return out;
}

static am_selector selector(rctx *c, json_t *s)
{
	am_selector r = {0};
	const char *k;
	json_t *v, *e;
	size_t i;
	if (!json_is_object(s))
		return r;
	r.set = 1;
	json_t *labels = json_object_get(s, "labels"), *exprs = json_object_get(s, "exprs");
	const char **keys = alloc(c, json_object_size(labels), sizeof(*keys));
	const char **vals = alloc(c, json_object_size(labels), sizeof(*vals));
	json_object_foreach(labels, k, v)
	{
		if (!json_is_string(v))
			continue;
		keys[r.nlabels] = mp_arena_str(&c->s->ar, k);
		vals[r.nlabels++] = mp_arena_str(&c->s->ar, json_string_value(v));
	}
	r.keys = keys;
	r.values = vals;
	am_expr *ex = alloc(c, json_array_size(exprs), sizeof(*ex));
	json_array_foreach(exprs, i, e)
	{
		static const char *const ops[] = {"In", "NotIn", "Exists", "DoesNotExist"};
		const char *op = json_string_value(json_object_get(e, "operator"));
		am_expr *x = &ex[r.nexprs++];
		x->key = str_or(c, e, "key", "");
		x->op = AM_OP_DOES_NOT_EXIST;
		for (uint32_t o = 0; op && o < 4; o++)
			if (!strcmp(op, ops[o]))
				x->op = o;
		x->values = strs(c, json_object_get(e, "values"), &x->nvalues);
	}
	r.exprs = ex;
	return r;
}

static const am_pod *pods(rctx *c, json_t *a, uint32_t *n)
{
	size_t i;
	json_t *p;
	mp_model_view v = mp_model_get_view(c->s->m);
	am_pod *out = alloc(c, json_array_size(a), sizeof(*out));
	*n = 0;
	json_array_foreach(a, i, p)
	{
		json_int_t w = json_integer_value(json_array_get(p, 0));
		if (w < 0 || w >= v.nworkloads) {
			fail(c, "a workload that is not the model's");
			return out;
		}
		out[(*n)++] =
		    (am_pod){(mp_id)w, json_is_true(json_array_get(p, 1)),
		             json_string_value(json_array_get(p, 2))
		                 ? mp_arena_str(&c->s->ar, json_string_value(json_array_get(p, 2)))
		                 : "default"};
	}
	return out;
}

static const am_front *fronts(rctx *c, json_t *a, uint32_t *n)
{
	size_t i, j;
	json_t *f, *p;
	mp_model_view v = mp_model_get_view(c->s->m);
	am_front *out = alloc(c, json_array_size(a), sizeof(*out));
	*n = 0;
	json_array_foreach(a, i, f)
	{
		json_int_t sid = json_integer_value(json_array_get(f, 0));
		json_t *ports = json_array_get(f, 1);
		if (sid < 0 || sid >= v.nservices) {
			fail(c, "a service that is not the model's");
			return out;
		}
		am_front *x = &out[(*n)++];
		uint32_t *pp = alloc(c, json_array_size(ports), sizeof(*pp));
		uint32_t *tp = alloc(c, json_array_size(ports), sizeof(*tp));
		x->service = (mp_id)sid;
		json_array_foreach(ports, j, p)
		{
			pp[x->nports] = (uint32_t)json_integer_value(json_array_get(p, 0));
			tp[x->nports++] = (uint32_t)json_integer_value(json_array_get(p, 1));
		}
		x->ports = pp;
		x->targets = tp;
	}
	return out;
}

static void obj(rctx *c, am_obj *o, json_t *j)
{
	o->title = str_or(c, j, "title", "");
	o->name = str_or(c, j, "name", "");
	o->ns = str_or(c, j, "ns", "");
	o->kname = str_or(c, j, "kname", "");
	o->version = str_or(c, j, "version", "");
	o->at = at(c, json_object_get(j, "at"));
}

/* --- routes --- */

/* A route's regular expression (RE2 syntax, matched against the whole value as Envoy's
 * safe_regex does); one RE2 refuses makes the record unreadable (the importer checked it). */
static const mp_regex *regex(rctx *c, const char *s)
{
	char why[200];
	if (!s)
		return NULL;
	mp_regex *re = mp_regex_compile(s, strlen(s), why, sizeof(why));
	mp_regex **list = re ? mp_realloc(c->s->res, (c->s->nres + 1) * sizeof(*list)) : NULL;
	if (!re || !list) {
		mp_regex_free(re);
		fail(c, "regular expression '%s': %s", s, re ? "out of memory" : why);
		return NULL;
	}
	c->s->res = list;
	c->s->res[c->s->nres++] = re;
	return re;
}

static uint32_t route_kind(const char *s)
{
	for (uint32_t i = 0; s && i < 4; i++)
		if (!strcmp(s, mp_am_route_kinds[i]))
			return i;
	return AM_ROUTE_HTTP;
}

static am_match match(rctx *c, json_t *m)
{
	static const char *const hows[] = {"present", "exact", "prefix",
	                                   "suffix",  "regex", "range"};
	am_match r = {0};
	size_t i;
	json_t *h;
	r.prefix = str(c, m, "prefix");
	r.path_exact = str(c, m, "pathExact");
	r.path_regex = str(c, m, "pathRegex");
	r.path_re = regex(c, r.path_regex);
	r.method = json_string_value(json_object_get(m, "method"))
	               ? mp_method_bit(json_string_value(json_object_get(m, "method")))
	               : 0;
	r.scheme = str(c, m, "scheme");
	r.port = u32(m, "port", 0);
	r.grpc_service = str(c, m, "grpcService");
	r.grpc_method = str(c, m, "grpcMethod");
	r.host_exact = str(c, m, "hostExact");
	r.host_suffix = str(c, m, "hostSuffix");
	json_t *hs = json_object_get(m, "headers"), *qs = json_object_get(m, "query");
	am_header *ho = alloc(c, json_array_size(hs), sizeof(*ho));
	json_array_foreach(hs, i, h)
	{
		am_header *x = &ho[r.nheaders++];
		const char *how = json_string_value(json_object_get(h, "how"));
		x->name = str_or(c, h, "name", "");
		x->value = str_or(c, h, "value", "");
		x->invert = json_is_true(json_object_get(h, "invert"));
		x->lo = json_integer_value(json_object_get(h, "lo"));
		x->hi = json_integer_value(json_object_get(h, "hi"));
		for (uint32_t k = 0; how && k < 6; k++)
			if (!strcmp(how, hows[k]))
				x->how = k;
		if (x->how == AM_HM_REGEX)
			x->re = regex(c, x->value);
	}
	r.headers = ho;
	am_query *qo = alloc(c, json_array_size(qs), sizeof(*qo));
	json_array_foreach(qs, i, h)
	{
		qo[r.nquery++] = (am_query){str_or(c, h, "name", ""), str(c, h, "exact")};
	}
	r.query = qo;
	return r;
}

static size_t prefix_len(const am_match *m)
{
	return m->prefix ? strlen(m->prefix) : m->path_exact ? strlen(m->path_exact) : 0;
}

/* App Mesh's order: by priority, 0 first (api RouteSpec.priority); routes without one after
 * all that have one, the longest prefix first among them (aws-app-mesh-roadmap#77; the
 * walkthroughs' "default match with no priority"); equal priorities in the order written.
 * Gateway routes: by priority, then the longest prefix (gateway-routes.md). */
static const uint32_t *order(rctx *c, const int32_t *prio, const size_t *plen, uint32_t n,
                             int by_length)
{
	uint32_t *o = alloc(c, n, sizeof(*o));
	for (uint32_t i = 0; o && i < n; i++) {
		uint32_t k = i;
		while (k > 0) {
			uint32_t p = o[k - 1];
			int64_t a = prio[p] < 0 ? 100000 : prio[p],
			        b = prio[i] < 0 ? 100000 : prio[i];
			int after =
			    a > b || (a == b && (b == 100000 || by_length) && plen[p] < plen[i]);
			if (!after)
				break;
			o[k] = o[k - 1];
			k--;
		}
		o[k] = i;
	}
	return o;
}

static uint32_t find(const am_obj *objs, size_t stride, uint32_t n, const char *name)
{
	for (uint32_t i = 0; name && i < n; i++) {
		const am_obj *o = (const am_obj *)((const char *)objs + i * stride);
		if (!strcmp(o->name, name))
			return i;
	}
	return AM_NONE;
}

#define FIND(arr, n, name) find(&(arr)[0].o, sizeof((arr)[0]), n, name)

static void router(rctx *c, am_router *r, json_t *j, const am_node *nodes, uint32_t nnodes)
{
	size_t i, k;
	json_t *rj, *t;
	obj(c, &r->o, j);
	r->listeners = listeners(c, json_object_get(j, "listeners"), &r->nlisteners);
	json_t *routes = json_object_get(j, "routes");
	am_route *ro = alloc(c, json_array_size(routes), sizeof(*ro));
	int32_t *prio = alloc(c, json_array_size(routes), sizeof(*prio));
	size_t *plen = alloc(c, json_array_size(routes), sizeof(*plen));
	json_array_foreach(routes, i, rj)
	{
		am_route *x = &ro[r->nroutes];
		x->name = str_or(c, rj, "name", "");
		x->title = str_or(c, rj, "title", r->o.title);
		x->priority = json_is_integer(json_object_get(rj, "priority"))
		                  ? (int32_t)u32(rj, "priority", 0)
		                  : -1;
		x->kind = route_kind(json_string_value(json_object_get(rj, "kind")));
		x->match = match(c, json_object_get(rj, "match"));
		x->retries = u32(rj, "retries", 0);
		x->per_try_ms = u32(rj, "perTryMs", 0);
		x->timeout_ms = u32(rj, "timeoutMs", 0);
		x->at = at(c, json_object_get(rj, "at"));
		x->rule = mp_arena_printf(&c->s->ar, "route:%s", x->name);
		json_t *ts = json_object_get(rj, "targets");
		am_target *to = alloc(c, json_array_size(ts), sizeof(*to));
		json_array_foreach(ts, k, t)
		{
			am_target *y = &to[x->ntargets++];
			y->node_name = str_or(c, t, "node", str_or(c, t, "written", ""));
			y->node = json_is_string(json_object_get(t, "node"))
			              ? FIND(nodes, nnodes, y->node_name)
			              : AM_NONE;
			y->weight = u32(t, "weight", 0);
			y->port = u32(t, "port", 0);
			y->at = at(c, json_object_get(t, "at"));
		}
		x->targets = to;
		prio[r->nroutes] = x->priority;
		plen[r->nroutes++] = prefix_len(&x->match);
	}
	r->routes = ro;
	r->order = order(c, prio, plen, r->nroutes, 0);
}

static void node(rctx *c, am_node *n, json_t *j)
{
	size_t i;
	json_t *b;
	obj(c, &n->o, j);
	n->selector = selector(c, json_object_get(j, "selector"));
	n->pods = pods(c, json_object_get(j, "pods"), &n->npods);
	n->fronts = fronts(c, json_object_get(j, "fronts"), &n->nfronts);
	n->hostname = str(c, j, "hostname");
	n->listeners = listeners(c, json_object_get(j, "listeners"), &n->nlisteners);
	n->defaults = client_tls(c, json_object_get(j, "defaults"));
	json_t *bs = json_object_get(j, "backends");
	am_backend *bo = alloc(c, json_array_size(bs), sizeof(*bo));
	const char **ids = alloc(c, json_array_size(bs) + 1 + n->nlisteners, sizeof(*ids));
	json_array_foreach(bs, i, b)
	{
		am_backend *x = &bo[n->nbackends++];
		x->vs = str(c, b, "vs");
		if (!x->vs)
			x->vs = str_or(c, b, "written", "");
		x->service = json_is_string(json_object_get(b, "vs")) ? 0 : AM_NONE;
		x->group = str(c, b, "group");
		x->policy = client_tls(c, json_object_get(b, "policy"));
		x->at = at(c, json_object_get(b, "at"));
		x->rule = json_is_string(json_object_get(b, "rule"))
		              ? str(c, b, "rule")
		              : mp_arena_printf(&c->s->ar, "backends[%zu]", i);
	}
	n->backends = bo;
	/* its identities: the SANs of its SDS certificates, client ones first */
	if (n->defaults.cert && *n->defaults.cert)
		ids[n->nidentities++] = n->defaults.cert;
	for (uint32_t k = 0; k < n->nbackends; k++)
		if (n->backends[k].policy.cert && *n->backends[k].policy.cert)
			ids[n->nidentities++] = n->backends[k].policy.cert;
	for (uint32_t k = 0; k < n->nlisteners; k++)
		if (n->listeners[k].cert)
			ids[n->nidentities++] = n->listeners[k].cert;
	n->identities = ids;
}

static void gateway(rctx *c, am_gateway *g, json_t *j, const am_vservice *svcs, uint32_t nsvcs)
{
	size_t i;
	json_t *rj;
	obj(c, &g->o, j);
	g->selector = selector(c, json_object_get(j, "selector"));
	g->pods = pods(c, json_object_get(j, "pods"), &g->npods);
	g->fronts = fronts(c, json_object_get(j, "fronts"), &g->nfronts);
	g->listeners = listeners(c, json_object_get(j, "listeners"), &g->nlisteners);
	g->defaults = client_tls(c, json_object_get(j, "defaults"));
	json_t *routes = json_object_get(j, "routes");
	am_groute *ro = alloc(c, json_array_size(routes), sizeof(*ro));
	int32_t *prio = alloc(c, json_array_size(routes), sizeof(*prio));
	size_t *plen = alloc(c, json_array_size(routes), sizeof(*plen));
	json_array_foreach(routes, i, rj)
	{
		am_groute *x = &ro[g->nroutes];
		obj(c, &x->o, rj);
		x->priority = (int32_t)u32(rj, "priority", 1000);
		x->kind = route_kind(json_string_value(json_object_get(rj, "kind")));
		x->match = match(c, json_object_get(rj, "match"));
		x->service_name = str(c, rj, "service");
		x->service = FIND(svcs, nsvcs, x->service_name);
		if (!x->service_name)
			x->service_name = str_or(c, rj, "written", "");
		x->port = u32(rj, "port", 0);
		x->rewrite_prefix = !json_is_false(json_object_get(rj, "rewritePrefix"));
		x->rewrite_host = !json_is_false(json_object_get(rj, "rewriteHost"));
		x->prefix_to = str(c, rj, "prefixTo");
		x->path_to = str(c, rj, "pathTo");
		prio[g->nroutes] = x->priority;
		plen[g->nroutes++] = prefix_len(&x->match);
	}
	g->routes = ro;
	g->order = order(c, prio, plen, g->nroutes, 1);
}

static void mesh(rctx *c, am_mesh *m, json_t *rec)
{
	mp_model_view v = mp_model_get_view(c->s->m);
	json_t *mj = json_object_get(rec, "mesh"), *j;
	json_t *nodes = json_object_get(rec, "nodes"), *svcs = json_object_get(rec, "services");
	json_t *routers = json_object_get(rec, "routers"), *gws = json_object_get(rec, "gateways");
	size_t i;
	obj(c, &m->o, mj);
	const char *eg = json_string_value(json_object_get(mj, "egress"));
	m->egress = eg && !strcmp(eg, "ALLOW_ALL") ? AM_ALLOW_ALL : AM_DROP_ALL;
	m->egress_at =
	    json_object_get(mj, "egressAt") ? at(c, json_object_get(mj, "egressAt")) : m->o.at;
	m->allow_all_backends = !strcmp(str_or(c, rec, "rule", "refuse"), "allow");
	m->namespaces = strs(c, json_object_get(mj, "namespaces"), &m->nnamespaces);
	am_node *no = alloc(c, json_array_size(nodes), sizeof(*no));
	json_array_foreach(nodes, i, j)
	{
		node(c, &no[m->nnodes++], j);
	}
	m->nodes = no;
	am_router *ro = alloc(c, json_array_size(routers), sizeof(*ro));
	json_array_foreach(routers, i, j)
	{
		router(c, &ro[m->nrouters++], j, no, m->nnodes);
	}
	m->routers = ro;
	am_vservice *so = alloc(c, json_array_size(svcs), sizeof(*so));
	json_array_foreach(svcs, i, j)
	{
		am_vservice *x = &so[m->nservices++];
		const char *p = json_string_value(json_object_get(j, "provider"));
		obj(c, &x->o, j);
		x->provider = !p                     ? AM_PROVIDER_NONE
		              : !strcmp(p, "router") ? AM_PROVIDER_ROUTER
		                                     : AM_PROVIDER_NODE;
		x->target_name = str(c, j, "target");
		x->target = x->provider == AM_PROVIDER_ROUTER
		                ? FIND(ro, m->nrouters, x->target_name)
		            : x->provider == AM_PROVIDER_NODE ? FIND(no, m->nnodes, x->target_name)
		                                              : AM_NONE;
		if (!x->target_name)
			x->target_name = str_or(c, j, "written", "");
		x->service = u32(j, "service", MP_NONE);
		x->external = u32(j, "external", MP_NONE);
		if ((x->service != MP_NONE && x->service >= v.nservices) ||
		    (x->external != MP_NONE && x->external >= v.nexternals))
			fail(c, "a virtual service standing for no element of the model");
		x->provider_at = at(c, json_object_get(j, "providerAt"));
	}
	m->services = so;
	/* backends by name */
	for (uint32_t k = 0; k < m->nnodes; k++)
		for (uint32_t b = 0; b < no[k].nbackends; b++) {
			am_backend *x = (am_backend *)&no[k].backends[b];
			x->service =
			    x->service == AM_NONE ? AM_NONE : FIND(so, m->nservices, x->vs);
		}
	am_gateway *go = alloc(c, json_array_size(gws), sizeof(*go));
	json_array_foreach(gws, i, j)
	{
		gateway(c, &go[m->ngateways++], j, so, m->nservices);
	}
	m->gateways = go;
}

static int read_all(mp_amstate *s, json_t *const *specs, const mp_str *const *files,
                    const uint32_t *nfiles, uint32_t n, char *err, size_t errlen)
{
	am_mesh *meshes = mp_arena_alloc(&s->ar, (n ? n : 1) * sizeof(*meshes));
	jmp_buf oom;
	rctx c = {s, &oom, NULL, 0, "", err, errlen, 0};
	if (setjmp(oom)) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (uint32_t i = 0; meshes && i < n && !c.bad; i++) {
		c.files = files[i];
		c.nfiles = nfiles[i];
		c.where = json_string_value(json_object_get(specs[i], "name"));
		if (!c.where || !json_is_object(json_object_get(specs[i], "mesh"))) {
			c.where = "?";
			fail(&c, "not a mesh");
			break;
		}
		mesh(&c, &meshes[s->nmeshes++], specs[i]);
	}
	s->meshes = meshes;
	if (s->ar.oom) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	return c.bad ? -1 : 0;
}

int mp_amstate_from_json(const mp_model *m, json_t *const *specs, const mp_str *const *files,
                         const uint32_t *nfiles, uint32_t n, mp_amstate **out, char *err,
                         size_t errlen)
{
	mp_amstate *s = mp_calloc(1, sizeof(*s));
	*out = NULL;
	if (!s) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	s->m = m;
	if (read_all(s, specs, files, nfiles, n, err, errlen) < 0) {
		mp_amstate_free(s);
		return -1;
	}
	*out = s;
	return 0;
}

int mp_amstate_compile(const mp_model *m, mp_amstate **out, char *err, size_t errlen)
{
	mp_model_view v = mp_model_get_view(m);
	uint32_t n = 0;
	int rc = -1;
	*out = NULL;
	for (uint32_t i = 0; i < v.nresources; i++)
		n += !strcmp(mp_model_str(m, v.resources[i].kind), AM_RECORD_KIND) &&
		     !strcmp(mp_model_str(m, v.resources[i].api), AM_RECORD_API);
	if (!n)
		return 0;
	json_t **specs = mp_calloc(n, sizeof(*specs));
	const mp_str **files = mp_calloc(n, sizeof(*files));
	uint32_t *nfiles = mp_calloc(n, sizeof(*nfiles)), k = 0;
	if (!specs || !files || !nfiles) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	for (uint32_t i = 0; i < v.nresources; i++) {
		const mp_resource *r = &v.resources[i];
		if (strcmp(mp_model_str(m, r->kind), AM_RECORD_KIND) ||
		    strcmp(mp_model_str(m, r->api), AM_RECORD_API))
			continue;
		json_error_t je;
		specs[k] = json_loads(mp_model_str(m, r->spec), 0, &je);
		files[k] = v.u32 + r->aux.off;
		nfiles[k] = r->aux.n;
		if (!specs[k++]) {
			snprintf(err, errlen, "AppMesh record %s: %s", mp_model_str(m, r->name),
			         je.text);
			goto out;
		}
	}
	rc = mp_amstate_from_json(m, specs, files, nfiles, n, out, err, errlen);
out:
	for (uint32_t i = 0; specs && i < k; i++)
		json_decref(specs[i]);
	mp_free(specs);
	mp_free(files);
	mp_free(nfiles);
	return rc;
}

void mp_amstate_free(mp_amstate *s)
{
	if (!s)
		return;
	for (uint32_t i = 0; i < s->nres; i++)
		mp_regex_free(s->res[i]);
	mp_free(s->res);
	mp_arena_free(&s->ar);
	mp_free(s);
}

/* --- selectors and matches --- */

static const char *label(const char *const *keys, const char *const *values, uint32_t n,
                         const char *key)
{
	for (uint32_t i = 0; i < n; i++)
		if (!strcmp(keys[i], key))
			return values[i];
	return NULL;
}

int mp_am_selects(const am_selector *s, const char *const *keys, const char *const *values,
                  uint32_t n)
{
	if (!s->set)
		return 0;
	for (uint32_t i = 0; i < s->nlabels; i++) {
		const char *v = label(keys, values, n, s->keys[i]);
		if (!v || strcmp(v, s->values[i]))
			return 0;
	}
	for (uint32_t i = 0; i < s->nexprs; i++) {
		const am_expr *e = &s->exprs[i];
		const char *v = label(keys, values, n, e->key);
		int in = 0;
		for (uint32_t k = 0; v && k < e->nvalues; k++)
			in |= !strcmp(v, e->values[k]);
		if ((e->op == AM_OP_IN && !in) || (e->op == AM_OP_NOT_IN && in) ||
		    (e->op == AM_OP_EXISTS && !v) || (e->op == AM_OP_DOES_NOT_EXIST && v))
			return 0;
	}
	return 1;
}

int mp_am_selects_workload(const mp_model *m, const am_selector *s, mp_id w)
{
	mp_model_view v = mp_model_get_view(m);
	const mp_workload *wl = &v.workloads[w];
	const char *keys[64], *vals[64];
	uint32_t n = 0;
	for (uint32_t i = 0; i < wl->labels.n && n < 64; i++, n++) {
		keys[n] = mp_model_str(m, v.labels[wl->labels.off + i].key);
		vals[n] = mp_model_str(m, v.labels[wl->labels.off + i].value);
	}
	return mp_am_selects(s, keys, vals, n);
}
