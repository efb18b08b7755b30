/* export_appmesh.c: the way off App Mesh (export.h), to Istio: what App Mesh allows, which it
 * decides on the client (backends, egress filter, the client's TLS validation) and by routing,
 * written as Istio's server-side AuthorizationPolicies, one per destination workload, that
 * allow exactly those requests; and the migrate op, which adds the rest of the configuration
 * and the requests that check it (istio_appmesh.c). Mapping and what does not carry over:
 * docs/import.md ("The way off App Mesh"). */
#include "alloc.h"
#include "appmesh_export.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_ATOMS 16
#define MAX_RULES 64

/* --- conditions: what an AuthorizationPolicy rule's `to` and `when` say --- */

typedef struct {
	const char *name; /* request.headers[NAME] */
	const char *pattern;
	int neg; /* notValues */
} hatom;

/* A conjunction of atoms, each one Istio can say: a path pattern ("/api*", "/x"), methods,
 * header patterns, a host pattern, and their negations. */
typedef struct {
	const char *path;
	const char *not_paths[MAX_ATOMS];
	uint32_t nnot_paths;
	uint32_t method, not_methods; /* MP_METHOD_* bits */
	hatom h[MAX_ATOMS];
	uint32_t nh;
	const char *host;
	const char *not_hosts[MAX_ATOMS];
	uint32_t nnot_hosts;
	int bad;     /* no request satisfies it */
	int inexact; /* an atom Istio cannot say (regex, range, query parameters) */
} cond;

const char *astr(ex *x, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	return mp_arena_str(&x->ar, buf);
}

void left_out(ex *x, const char *what, const char *why)
{
	json_t *e = json_pack("{s:s,s:s}", "what", what, "why", why), *o;
	size_t i;
	json_array_foreach(x->left, i, o)
	{
		if (json_equal(o, e)) {
			json_decref(e);
			return;
		}
	}
	json_array_append_new(x->left, e);
}

/* Does path pattern a (a prefix "x*" or exact "x") admit every path b admits? */
static int path_covers(const char *a, const char *b)
{
	size_t al = strlen(a), bl = strlen(b);
	if (a[al - 1] == '*')
		return !strncmp(b, a, al - 1);
	return b[bl - 1] != '*' && !strcmp(a, b);
}

/* The positive path atom: two must agree (one covers the other), else nothing matches. */
static void with_path(cond *c, const char *p)
{
	if (!c->path || path_covers(c->path, p))
		c->path = p;
	else if (!path_covers(p, c->path))
		c->bad = 1;
	for (uint32_t i = 0; i < c->nnot_paths; i++)
		if (path_covers(c->not_paths[i], c->path))
			c->bad = 1;
}

static void without_path(cond *c, const char *p)
{
	if (c->path && path_covers(p, c->path))
		c->bad = 1;
	else if (c->nnot_paths < MAX_ATOMS)
		c->not_paths[c->nnot_paths++] = p;
	else
		c->inexact = 1;
}

static void with_header(cond *c, const char *name, const char *pattern, int neg)
{
	for (uint32_t i = 0; i < c->nh; i++)
		if (!strcmp(c->h[i].name, name) && !strcmp(c->h[i].pattern, pattern) &&
		    c->h[i].neg != neg)
			c->bad = 1;
	if (c->nh < MAX_ATOMS)
		c->h[c->nh++] = (hatom){name, pattern, neg};
	else
		c->inexact = 1;
}

/* The conditions of a route's match (router or gateway route), its path seen through
 * path_of (NULL: as it is). */
static cond cond_of(ex *x, const am_match *mt, uint32_t kind)
{
	cond c = {0};
	if (kind == AM_ROUTE_TCP)
		return c;
	if (kind == AM_ROUTE_GRPC) {
		if (mt->grpc_service)
			with_path(&c, mt->grpc_method
			                  ? astr(x, "/%s/%s", mt->grpc_service, mt->grpc_method)
			                  : astr(x, "/%s/*", mt->grpc_service));
	} else {
		if (mt->prefix && strcmp(mt->prefix, "/"))
			with_path(&c, astr(x, "%s*", mt->prefix));
		if (mt->path_exact)
			with_path(&c, mt->path_exact);
		if (mt->path_regex || mt->nquery || mt->scheme)
			c.inexact = 1;
		c.method = mt->method;
	}
	for (uint32_t i = 0; i < mt->nheaders; i++) {
		const am_header *h = &mt->headers[i];
		const char *p = h->how == AM_HM_EXACT     ? h->value
		                : h->how == AM_HM_PREFIX  ? astr(x, "%s*", h->value)
		                : h->how == AM_HM_SUFFIX  ? astr(x, "*%s", h->value)
		                : h->how == AM_HM_PRESENT ? "*"
		                                          : NULL;
		if (!p)
			c.inexact = 1;
		else
			with_header(&c, h->name, p, h->invert);
	}
	if (mt->host_exact)
		c.host = mt->host_exact;
	if (mt->host_suffix)
		c.host = astr(x, "*%s", mt->host_suffix);
	return c;
}

/* c and one atom of e negated: each way e can fail, a conjunction (n of them into out). */
static uint32_t and_not(const cond *c, const cond *e, cond *out, uint32_t max)
{
	uint32_t n = 0;
#define ADD(stmt)                                                                                  \
	do {                                                                                       \
		if (n < max) {                                                                     \
			cond k = *c;                                                               \
			stmt;                                                                      \
			if (!k.bad)                                                                \
				out[n++] = k;                                                      \
		}                                                                                  \
	} while (0)
	if (e->path)
		ADD(without_path(&k, e->path));
	if (e->method)
		ADD(k.method == e->method ? (void)(k.bad = 1) : (void)(k.not_methods |= e->method));
	for (uint32_t i = 0; i < e->nh; i++)
		ADD(with_header(&k, e->h[i].name, e->h[i].pattern, !e->h[i].neg));
	if (e->host)
		ADD(k.host && !strcmp(k.host, e->host)
		        ? (void)(k.bad = 1)
		        : (void)(k.nnot_hosts < MAX_ATOMS
		                     ? (void)(k.not_hosts[k.nnot_hosts++] = e->host)
		                     : (void)(k.inexact = 1)));
	for (uint32_t i = 0; i < e->nnot_paths; i++)
		ADD(with_path(&k, e->not_paths[i]));
#undef ADD
	return n;
}

/* The requests of cond c that match none of the refused (routes before it that refuse):
 * conjunctions into out; -1 when there are too many or one cannot be said. */
static int excluding(const cond *c, const cond *refused, uint32_t nrefused, cond *out)
{
	uint32_t n = 1;
	out[0] = *c;
	for (uint32_t r = 0; r < nrefused; r++) {
		cond next[MAX_RULES];
		uint32_t nn = 0;
		if (refused[r].inexact)
			return -1;
		for (uint32_t i = 0; i < n; i++) {
			cond tmp[MAX_RULES];
			uint32_t k = and_not(&out[i], &refused[r], tmp, MAX_RULES);
			for (uint32_t j = 0; j < k; j++) {
				if (nn == MAX_RULES)
					return -1;
				next[nn++] = tmp[j];
			}
		}
		memcpy(out, next, nn * sizeof(*out));
		n = nn;
	}
	return (int)n;
}

/* --- rules --- */

const char *const method_names[] = {"GET",   "HEAD",    "POST",    "PUT",   "DELETE",
                                    "PATCH", "OPTIONS", "CONNECT", "TRACE", NULL};

static json_t *methods(uint32_t bits)
{
	json_t *a = json_array();
	for (size_t i = 0; method_names[i]; i++)
		if (bits & mp_method_bit(method_names[i]))
			json_array_append_new(a, json_string(method_names[i]));
	return a;
}

static json_t *port_list(const uint32_t *ports, uint32_t n)
{
	json_t *a = json_array();
	char buf[16];
	for (uint32_t i = 0; i < n; i++) {
		snprintf(buf, sizeof(buf), "%u", ports[i]);
		json_array_append_new(a, json_string(buf));
	}
	return a;
}

/* A rule: from src (a `source`, NULL: anyone), to port (0: any; with notports: any other) and
 * the conditions c (NULL: none; http: say them). */
static json_t *rule(json_t *src, uint32_t port, const uint32_t *notports, uint32_t nnot,
                    const cond *c, const char *const *hosts, uint32_t nhosts)
{
	json_t *r = json_object(), *op = json_object(), *when = json_array();
	if (src)
		json_object_set_new(r, "from", json_pack("[{s:o}]", "source", src));
	if (port)
		json_object_set_new(op, "ports", port_list(&port, 1));
	if (nnot)
		json_object_set_new(op, "notPorts", port_list(notports, nnot));
	if (c) {
		if (c->path)
			json_object_set_new(op, "paths", json_pack("[s]", c->path));
		if (c->nnot_paths) {
			json_t *a = json_array();
			for (uint32_t i = 0; i < c->nnot_paths; i++)
				json_array_append_new(a, json_string(c->not_paths[i]));
			json_object_set_new(op, "notPaths", a);
		}
		if (c->method)
			json_object_set_new(op, "methods", methods(c->method));
		if (c->not_methods)
			json_object_set_new(op, "notMethods", methods(c->not_methods));
		if (c->host)
			json_object_set_new(op, "hosts", json_pack("[s]", c->host));
		if (c->nnot_hosts) {
			json_t *a = json_array();
			for (uint32_t i = 0; i < c->nnot_hosts; i++)
				json_array_append_new(a, json_string(c->not_hosts[i]));
			json_object_set_new(op, "notHosts", a);
		}
		for (uint32_t i = 0; i < c->nh; i++) {
			char key[300];
			snprintf(key, sizeof(key), "request.headers[%s]", c->h[i].name);
			json_array_append_new(when, json_pack("{s:s,s:[s]}", "key", key,
			                                      c->h[i].neg ? "notValues" : "values",
			                                      c->h[i].pattern));
		}
	}
	if (hosts && nhosts && !(c && c->host)) {
		json_t *a = json_array();
		for (uint32_t i = 0; i < nhosts; i++)
			json_array_append_new(a, json_string(hosts[i]));
		json_object_set_new(op, "hosts", a);
	}
	if (json_object_size(op))
		json_object_set_new(r, "to", json_pack("[{s:o}]", "operation", op));
	else
		json_decref(op);
	if (json_array_size(when))
		json_object_set_new(r, "when", when);
	else
		json_decref(when);
	return r;
}

/* The policy a rule goes to: a workload's (by its selector), or for a service without
 * workloads, the service's (by a targetRef), SVC_TARGET + its id. */
#define SVC_TARGET 0x80000000u

/* Adds rule r (taken) to the policy of target w, once. */
static void add_rule(ex *x, mp_id w, json_t *r)
{
	char key[24];
	if (w & SVC_TARGET)
		snprintf(key, sizeof(key), "svc:%u", w & ~SVC_TARGET);
	else
		snprintf(key, sizeof(key), "%u", w);
	json_t *p = json_object_get(x->policies, key), *o;
	size_t i;
	if (!p) {
		p = json_array();
		json_object_set_new(x->policies, key, p);
	}
	json_array_foreach(p, i, o)
	{
		if (json_equal(o, r)) {
			json_decref(r);
			return;
		}
	}
	json_array_append_new(p, r);
}

/* --- who is who in Istio --- */

/* The service account a workload runs as: an App Mesh pod's, else the one its identity names
 * (spiffe://TD/ns/NS/sa/SA), else NULL. */
static const char *account_of(ex *x, mp_id w)
{
	mp_model_view v = mp_model_get_view(x->m);
	for (uint32_t mi = 0; mi < x->s->nmeshes; mi++)
		for (uint32_t i = 0; i < x->s->meshes[mi].nnodes; i++)
			for (uint32_t p = 0; p < x->s->meshes[mi].nodes[i].npods; p++)
				if (x->s->meshes[mi].nodes[i].pods[p].workload == w)
					return x->s->meshes[mi].nodes[i].pods[p].service_account;
	const char *id = mp_model_str(x->m, v.workloads[w].identity), *sa = strstr(id, "/sa/");
	return sa ? sa + 4 : NULL;
}

/* The service account a node's pod runs as in the target mesh: its own, when no other
 * workload of its namespace runs as it, else appmesh-NODE, a step of the migration (Istio tells
 * callers apart by service account; App Mesh by node), reported and exported. */
const char *node_account(ex *x, const am_node *n, const am_pod *p)
{
	mp_model_view v = mp_model_get_view(x->m);
	const mp_workload *mine = &v.workloads[p->workload];
	for (mp_id w = 0; w < v.nworkloads; w++) {
		const char *sa = account_of(x, w);
		uint32_t k;
		if (v.workloads[w].ns != mine->ns || !sa || strcmp(sa, p->service_account))
			continue;
		for (k = 0; k < n->npods && n->pods[k].workload != w; k++)
			;
		if (k == n->npods)
			return astr(x, "appmesh-%s",
			            n->o.kname && *n->o.kname ? n->o.kname : n->o.name);
	}
	return p->service_account;
}

/* A node's pod's Istio principal: TD/ns/NS/sa/SA (without spiffe://). */
const char *principal(ex *x, const am_node *n, const am_pod *p)
{
	mp_model_view v = mp_model_get_view(x->m);
	const mp_workload *w = &v.workloads[p->workload];
	return astr(x, "%s/ns/%s/sa/%s", x->td, mp_model_str(x->m, v.namespaces[w->ns].name),
	            node_account(x, n, p));
}

static json_t *node_principals(ex *x, const am_node *node)
{
	json_t *a = json_array();
	const am_pod *pods = node->pods;
	for (uint32_t i = 0; i < node->npods; i++) {
		if (!pods[i].injected)
			continue;
		const char *pr = principal(x, node, &pods[i]);
		size_t k;
		json_t *o;
		int seen = 0;
		json_array_foreach(a, k, o)
		{
			seen |= !strcmp(json_string_value(o), pr);
		}
		if (!seen)
			json_array_append_new(a, json_string(pr));
	}
	return a;
}

static json_t *from_principals(json_t *p)
{
	return json_pack("{s:O}", "principals", p);
}

/* Anyone but the meshes' nodes (whose requests App Mesh decides on their side). */
static json_t *from_not_nodes(ex *x)
{
	return json_array_size(x->nodes_all) ? json_pack("{s:O}", "notPrincipals", x->nodes_all)
	                                     : NULL;
}

/* --- what App Mesh lets through, as rules --- */

/* The node whose Envoy runs workload w, or NULL. */
static const am_node *node_of(ex *x, mp_id w, const am_mesh **mesh)
{
	if (w & SVC_TARGET)
		return NULL;
	for (uint32_t m = 0; m < x->s->nmeshes; m++)
		for (uint32_t i = 0; i < x->s->meshes[m].nnodes; i++) {
			const am_node *n = &x->s->meshes[m].nodes[i];
			for (uint32_t p = 0; p < n->npods; p++)
				if (n->pods[p].workload == w && n->pods[p].injected) {
					*mesh = &x->s->meshes[m];
					return n;
				}
		}
	return NULL;
}

/* Requests from src to the listeners of node n that App Mesh admits from a caller without
 * its Envoy (plaintext, or a foreign certificate) or a node's passthrough, on workload w;
 * other ports bypass the Envoy. */
static void direct_rules(ex *x, mp_id w, const am_node *n, json_t *plain_src, json_t *cert_src,
                         json_t *bypass_src)
{
	uint32_t ports[32], np = 0;
	for (uint32_t i = 0; n && i < n->nlisteners; i++) {
		const am_listener *l = &n->listeners[i];
		am_tls_step st[2];
		uint32_t ns;
		if (np < 32)
			ports[np++] = l->port;
		if (plain_src && mp_am_tls(AM_CALLER_PLAIN, NULL, NULL, n->hostname, l, st, &ns))
			add_rule(x, w,
			         rule(json_deep_copy(plain_src), l->port, NULL, 0, NULL, NULL, 0));
		if (!cert_src)
			continue;
		if (l->tls >= AM_TLS_PERMISSIVE && l->validation.set && l->validation.sans) {
			/* only the certificates the list names, that are no node's */
			json_t *names = json_array();
			for (uint32_t k = 0; k < l->validation.nsans; k++) {
				const char *san = l->validation.sans[k];
				json_array_append_new(
				    names,
				    json_string(!strncmp(san, "spiffe://", 9) ? san + 9 : san));
			}
			json_t *src = json_deep_copy(cert_src);
			json_object_set_new(src, "principals", names);
			add_rule(x, w, rule(src, l->port, NULL, 0, NULL, NULL, 0));
		} else {
			add_rule(x, w,
			         rule(json_deep_copy(cert_src), l->port, NULL, 0, NULL, NULL, 0));
		}
	}
	if (bypass_src || !n)
		add_rule(x, w,
		         rule(bypass_src ? json_deep_copy(bypass_src) : NULL, 0, ports, np, NULL,
		              NULL, 0));
}

/* Does a route let a caller through: every target it sends to (weight above 0) has a listener
 * on the port and admits the caller's TLS (client policy own, else defaults)? */
static int route_admits(const am_mesh *m, const am_route *r, uint32_t router_port,
                        const am_client_tls *own, const am_client_tls *defaults)
{
	uint32_t live = 0;
	for (uint32_t t = 0; t < r->ntargets; t++) {
		const am_target *tg = &r->targets[t];
		am_tls_step st[2];
		uint32_t n;
		if (!tg->weight)
			continue;
		live++;
		if (tg->node == AM_NONE)
			return 0;
		const am_node *node = &m->nodes[tg->node];
		const am_listener *l = mp_am_listener_on(node->listeners, node->nlisteners,
		                                         mp_am_target_port(tg, node, router_port));
		if (!l ||
		    !mp_am_tls(AM_CALLER_MESH, NULL, mp_am_client_policy(own, defaults, l->port),
		               node->hostname, l, st, &n))
			return 0;
	}
	return live > 0;
}

/* The rules of one router listener: its routes in App Mesh's order, each route that admits
 * the caller less the requests of the routes before it that refuse; each rule to every
 * workload of ws. via: a gateway route's conditions and rewrite, or NULL. */
typedef struct {
	const cond *outer;   /* the gateway route's conditions (original path), or NULL */
	const am_groute *gr; /* its rewrite */
} via;

/* A router route's path atom as the original request's, through a gateway route's rewrite:
 * 1 with *out (NULL: any path), 0 when no request of the gateway route can match it. */
static int through_rewrite(ex *x, const via *v, const char *p, const char **out)
{
	const am_groute *g = v ? v->gr : NULL;
	*out = p;
	if (!g || !p)
		return 1;
	size_t pl = strlen(p);
	int prefix = p[pl - 1] == '*';
	if (g->path_to) { /* the path becomes one path: the atom is true or false */
		*out = NULL;
		return prefix ? !strncmp(g->path_to, p, pl - 1) : !strcmp(g->path_to, p);
	}
	if (!g->match.prefix || (!g->prefix_to && !g->rewrite_prefix))
		return 1; /* the path arrives as it is */
	const char *to = g->prefix_to ? g->prefix_to : "/", *gp = g->match.prefix;
	size_t tl = strlen(to), gl = strlen(gp);
	size_t body = prefix ? pl - 1 : pl;
	if (prefix && !strncmp(to, p, body < tl ? body : tl) && body <= tl) {
		*out = NULL; /* every rewritten path starts with it */
		return 1;
	}
	if (strncmp(p, to, tl))
		return 0;
	/* rewritten = to + rest (one slash where both have one): rest starts with what follows to
	 */
	const char *after = p + tl;
	int slash = to[tl - 1] == '/' && gp[gl - 1] != '/';
	*out = astr(x, "%s%s%s", gp, slash ? "/" : "", after);
	return 1;
}

static void router_rules(ex *x, const am_mesh *m, const am_router *rt, const am_listener *rl,
                         json_t *src, const am_client_tls *own, const am_client_tls *defaults,
                         const mp_id *ws, uint32_t nw, uint32_t port, const char *const *hosts,
                         uint32_t nhosts, const via *v)
{
	cond refused[MAX_RULES];
	uint32_t nrefused = 0;
	int tcp = !strcmp(rl->protocol, "tcp");
	for (uint32_t i = 0; i < rt->nroutes; i++) {
		const am_route *r = &rt->routes[rt->order[i]];
		if ((r->kind == AM_ROUTE_TCP) != tcp ||
		    (r->match.port && r->match.port != rl->port))
			continue;
		cond c = cond_of(x, &r->match, r->kind);
		if (v) { /* the gateway route's request, rewritten */
			const char *p = NULL;
			if (!through_rewrite(x, v, c.path, &p))
				continue;
			cond o = *v->outer;
			o.inexact |= c.inexact;
			o.method |= c.method;
			for (uint32_t h = 0; h < c.nh; h++)
				with_header(&o, c.h[h].name, c.h[h].pattern, c.h[h].neg);
			if (p)
				with_path(&o, p);
			if (o.bad)
				continue;
			c = o;
		}
		if (!route_admits(m, r, rl->port, own, defaults)) {
			if (nrefused < MAX_RULES)
				refused[nrefused++] = c;
			continue;
		}
		cond out[MAX_RULES];
		int n = c.inexact ? -1 : excluding(&c, refused, nrefused, out);
		if (n < 0) {
			left_out(
			    x, astr(x, "%s %s", r->title, r->rule),
			    "its match (a regular expression, a range, query parameters, a "
			    "scheme), or the routes before it that refuse, cannot be said in an "
			    "AuthorizationPolicy: the export leaves its requests out (denied)");
			continue;
		}
		for (int k = 0; k < n; k++)
			for (uint32_t w = 0; w < nw; w++)
				add_rule(x, ws[w],
				         rule(json_deep_copy(src), port, NULL, 0,
				              tcp ? NULL : &out[k], tcp ? NULL : hosts,
				              tcp ? 0 : nhosts));
	}
}

/* The port behind Service svc's port (its targetPort), from the nodes of its workloads. */
uint32_t target_port(ex *x, mp_id svc, uint32_t port)
{
	const mp_id *ws;
	uint32_t nw = mp_model_workloads_of_service(x->m, svc, &ws);
	for (uint32_t i = 0; i < nw; i++) {
		const am_mesh *m;
		const am_node *n = node_of(x, ws[i], &m);
		uint32_t t = n ? mp_am_behind(n->fronts, n->nfronts, svc, port) : port;
		if (t != port)
			return t;
	}
	for (uint32_t mi = 0; mi < x->s->nmeshes; mi++)
		for (uint32_t g = 0; g < x->s->meshes[mi].ngateways; g++) {
			const am_gateway *gw = &x->s->meshes[mi].gateways[g];
			uint32_t t = mp_am_behind(gw->fronts, gw->nfronts, svc, port);
			if (t != port)
				return t;
		}
	return port;
}

/* The virtual service of mesh m that stands for model service svc, or NULL. */
const am_vservice *vs_of(const am_mesh *m, mp_id svc)
{
	for (uint32_t i = 0; i < m->nservices; i++)
		if (m->services[i].service == svc)
			return &m->services[i];
	return NULL;
}

/* The hosts of the virtual services that stand for svc, when its workloads serve several of
 * them (a rule must then say which; else none is needed). */
static uint32_t hosts_of(ex *x, mp_id svc, const char **out, uint32_t max)
{
	const mp_id *ws;
	uint32_t nw = mp_model_workloads_of_service(x->m, svc, &ws), n = 0, shared = 0;
	mp_model_view v = mp_model_get_view(x->m);
	for (uint32_t i = 0; i < nw; i++)
		shared |= v.workloads[ws[i]].services.n > 1;
	for (uint32_t mi = 0; shared && mi < x->s->nmeshes; mi++) {
		const am_vservice *vs = vs_of(&x->s->meshes[mi], svc);
		if (vs && n + 2 <= max) {
			out[n++] = vs->o.name;
			out[n++] = astr(x, "%s:*", vs->o.name);
		}
	}
	return n;
}

/* Everything the meshes' nodes may send to model service svc, as rules on its workloads. */
/* The targets of a service's rules: its workloads, else the service itself. */
static uint32_t targets_of(ex *x, mp_id svc, const mp_id **ws, mp_id *self)
{
	uint32_t nw = mp_model_workloads_of_service(x->m, svc, ws);
	if (nw)
		return nw;
	*self = svc | SVC_TARGET;
	*ws = self;
	return 1;
}

static void service_rules(ex *x, mp_id svc)
{
	const mp_id *ws;
	mp_id self;
	uint32_t nw = targets_of(x, svc, &ws, &self);
	const char *hosts[8];
	uint32_t nhosts = hosts_of(x, svc, hosts, 8);
	for (uint32_t mi = 0; mi < x->s->nmeshes; mi++) {
		const am_mesh *m = &x->s->meshes[mi];
		const am_vservice *vs = vs_of(m, svc);
		for (uint32_t ni = 0; ni < m->nnodes; ni++) {
			const am_node *n = &m->nodes[ni];
			json_t *pr = node_principals(x, n);
			const am_backend *b = NULL;
			for (uint32_t k = 0; vs && k < n->nbackends && !b; k++)
				if (n->backends[k].service == (uint32_t)(vs - m->services))
					b = &n->backends[k];
			if (!json_array_size(pr)) {
				json_decref(pr);
				continue;
			}
			json_t *src = from_principals(pr);
			json_decref(pr);
			if (b && vs->target != AM_NONE && vs->provider == AM_PROVIDER_NODE) {
				const am_node *t = &m->nodes[vs->target];
				for (uint32_t l = 0; l < t->nlisteners; l++) {
					am_tls_step st[2];
					uint32_t ns;
					const am_listener *ls = &t->listeners[l];
					if (!mp_am_tls(AM_CALLER_MESH, NULL,
					               mp_am_client_policy(&b->policy, &n->defaults,
					                                   ls->port),
					               t->hostname, ls, st, &ns))
						continue;
					for (uint32_t w = 0; w < nw; w++)
						add_rule(
						    x, ws[w],
						    rule(json_deep_copy(src),
						         target_port(x, svc, ls->port), NULL, 0,
						         NULL,
						         strcmp(ls->protocol, "tcp") ? hosts : NULL,
						         strcmp(ls->protocol, "tcp") ? nhosts : 0));
				}
			} else if (b && vs->target != AM_NONE) {
				const am_router *rt = &m->routers[vs->target];
				for (uint32_t l = 0; l < rt->nlisteners; l++)
					router_rules(x, m, rt, &rt->listeners[l], src, &b->policy,
					             &n->defaults, ws, nw,
					             target_port(x, svc, rt->listeners[l].port),
					             hosts, nhosts, NULL);
			} else if (!b && m->egress == AM_ALLOW_ALL &&
			           (!n->nbackends || m->allow_all_backends)) {
				/* passthrough: the request leaves in plaintext, to the pods
				 * directly */
				for (uint32_t w = 0; w < nw; w++) {
					const am_mesh *wm;
					const am_node *t = node_of(x, ws[w], &wm);
					direct_rules(x, ws[w], t, src, NULL, src);
				}
			}
			json_decref(src);
		}
	}
}

/* What callers without App Mesh's Envoy may send to svc's workloads directly. */
/* The nodes without pods that a virtual service standing for svc sends to (the Terraform
 * form binds no pod by selector): App Mesh's decisions take them for the pods behind svc. */
static uint32_t unbound_nodes(ex *x, mp_id svc, const am_node **out, uint32_t max)
{
	uint32_t n = 0;
	for (uint32_t mi = 0; mi < x->s->nmeshes; mi++) {
		const am_mesh *m = &x->s->meshes[mi];
		const am_vservice *vs = vs_of(m, svc);
		uint32_t cand[64], nc = 0;
		if (!vs || vs->target == AM_NONE)
			continue;
		if (vs->provider == AM_PROVIDER_NODE)
			cand[nc++] = vs->target;
		else if (vs->provider == AM_PROVIDER_ROUTER)
			for (uint32_t r = 0; r < m->routers[vs->target].nroutes; r++) {
				const am_route *rt = &m->routers[vs->target].routes[r];
				for (uint32_t t = 0; t < rt->ntargets && nc < 64; t++)
					if (rt->targets[t].node != AM_NONE && rt->targets[t].weight)
						cand[nc++] = rt->targets[t].node;
			}
		for (uint32_t i = 0; i < nc; i++) {
			const am_node *nd = &m->nodes[cand[i]];
			uint32_t k;
			for (k = 0; k < n && out[k] != nd; k++)
				;
			if (k == n && !nd->npods && n < max)
				out[n++] = nd;
		}
	}
	return n;
}

/* Direct requests to workload w when unbound nodes stand for its pods: on a port, a caller
 * gets in when every such node with a listener there admits it; other ports bypass. */
static void unbound_rules(ex *x, mp_id w, const am_node *const *nodes, uint32_t nn, json_t *plain,
                          json_t *cert, json_t *bypass)
{
	uint32_t ports[32], np = 0;
	for (uint32_t i = 0; i < nn; i++)
		for (uint32_t l = 0; l < nodes[i]->nlisteners; l++) {
			uint32_t p = nodes[i]->listeners[l].port, k;
			for (k = 0; k < np && ports[k] != p; k++)
				;
			if (k == np && np < 32)
				ports[np++] = p;
		}
	for (uint32_t k = 0; k < np; k++) {
		int plain_ok = 1, cert_ok = 1;
		for (uint32_t i = 0; i < nn; i++) {
			const am_listener *l =
			    mp_am_listener_on(nodes[i]->listeners, nodes[i]->nlisteners, ports[k]);
			am_tls_step st[2];
			uint32_t ns;
			if (!l)
				continue;
			plain_ok &=
			    mp_am_tls(AM_CALLER_PLAIN, NULL, NULL, nodes[i]->hostname, l, st, &ns);
			cert_ok &=
			    !(l->validation.set && l->validation.sans) &&
			    mp_am_tls(AM_CALLER_CERT, "-", NULL, nodes[i]->hostname, l, st, &ns);
		}
		if (plain_ok)
			add_rule(x, w,
			         rule(json_deep_copy(plain), ports[k], NULL, 0, NULL, NULL, 0));
		if (cert_ok)
			add_rule(x, w,
			         rule(json_deep_copy(cert), ports[k], NULL, 0, NULL, NULL, 0));
	}
	add_rule(x, w, rule(bypass ? json_deep_copy(bypass) : NULL, 0, ports, np, NULL, NULL, 0));
}

static void unmeshed_rules(ex *x, mp_id svc)
{
	const mp_id *ws;
	mp_id self;
	uint32_t nw = targets_of(x, svc, &ws, &self), bound = 0;
	json_t *plain = json_pack("{s:[s]}", "notPrincipals", "*");
	json_t *cert = json_pack("{s:[s]}", "principals", "*"), *bypass = from_not_nodes(x);
	const am_node *unbound[16];
	if (json_array_size(x->nodes_all))
		json_object_set(cert, "notPrincipals", x->nodes_all);
	for (uint32_t w = 0; w < nw; w++) {
		const am_mesh *m;
		bound += node_of(x, ws[w], &m) != NULL;
	}
	uint32_t nu = bound ? 0 : unbound_nodes(x, svc, unbound, 16);
	for (uint32_t w = 0; w < nw; w++) {
		const am_mesh *m;
		const am_node *n = node_of(x, ws[w], &m);
		if (nu && !(ws[w] & SVC_TARGET))
			unbound_rules(x, ws[w], unbound, nu, plain, cert, bypass);
		else
			direct_rules(x, ws[w], n, plain, cert, bypass);
	}
	json_decref(plain);
	json_decref(cert);
	json_decref(bypass);
}

/* A gateway's pods: what its gateway routes let through, each to its virtual service and
 * on, as App Mesh routes the rewritten request. */
static void gateway_rules(ex *x, const am_mesh *m, const am_gateway *g)
{
	json_t *plain = json_pack("{s:[s]}", "notPrincipals", "*");
	json_t *cert = json_pack("{s:[s]}", "principals", "*");
	if (json_array_size(x->nodes_all))
		json_object_set(cert, "notPrincipals", x->nodes_all);
	for (uint32_t li = 0; li < g->nlisteners; li++) {
		const am_listener *gl = &g->listeners[li];
		json_t *srcs[2] = {plain, cert};
		for (int s = 0; s < 2; s++) {
			am_tls_step st[2];
			uint32_t ns;
			if (!mp_am_tls(s ? AM_CALLER_CERT : AM_CALLER_PLAIN, s ? "-" : NULL, NULL,
			               NULL, gl, st, &ns))
				continue;
			cond refused[MAX_RULES];
			uint32_t nrefused = 0;
			for (uint32_t i = 0; i < g->nroutes; i++) {
				const am_groute *gr = &g->routes[g->order[i]];
				if (gr->match.port && gr->match.port != gl->port)
					continue;
				cond c = cond_of(x, &gr->match, gr->kind);
				const am_vservice *vs =
				    gr->service != AM_NONE ? &m->services[gr->service] : NULL;
				cond parts[MAX_RULES];
				int n = c.inexact ? -1 : excluding(&c, refused, nrefused, parts);
				if (nrefused < MAX_RULES)
					refused[nrefused++] =
					    c; /* later routes see none of these */
				if (!vs || vs->target == AM_NONE ||
				    vs->provider == AM_PROVIDER_NONE)
					continue;
				if (n < 0) {
					left_out(x, gr->o.title,
					         "its match cannot be said in an "
					         "AuthorizationPolicy: the "
					         "export leaves its requests out (denied)");
					continue;
				}
				uint32_t tport = mp_am_groute_port(m, gr, vs);
				for (int k = 0; k < n; k++) {
					for (uint32_t p = 0; p < g->npods; p++) {
						mp_id w = g->pods[p].workload;
						if (vs->provider == AM_PROVIDER_NODE) {
							const am_node *t = &m->nodes[vs->target];
							const am_listener *l = mp_am_listener_on(
							    t->listeners, t->nlisteners, tport);
							if (l && mp_am_tls(AM_CALLER_MESH, NULL,
							                   mp_am_client_policy(
							                       NULL, &g->defaults,
							                       l->port),
							                   t->hostname, l, st, &ns))
								add_rule(
								    x, w,
								    rule(json_deep_copy(srcs[s]),
								         gl->port, NULL, 0,
								         &parts[k], NULL, 0));
							continue;
						}
						const am_router *rt = &m->routers[vs->target];
						const am_listener *rl = mp_am_listener_on(
						    rt->listeners, rt->nlisteners, tport);
						via v = {&parts[k], gr};
						if (rl)
							router_rules(x, m, rt, rl, srcs[s], NULL,
							             &g->defaults, &w, 1, gl->port,
							             NULL, 0, &v);
					}
				}
			}
		}
	}
	json_decref(plain);
	json_decref(cert);
}

static void authorization_policies(ex *x)
{
	mp_model_view v = mp_model_get_view(x->m);
	const char *key;
	json_t *rules;
	json_object_foreach(x->policies, key, rules)
	{
		if (!strncmp(key, "svc:", 4)) { /* a service without workloads: by a targetRef */
			const mp_service *sv = &v.services[strtoul(key + 4, NULL, 10)];
			const char *name = mp_model_str(x->m, sv->name);
			doc(x, "security.istio.io/v1", "AuthorizationPolicy",
			    mp_model_str(x->m, v.namespaces[sv->ns].name),
			    astr(x, "appmesh-service-%s", label(x, name)),
			    json_pack("{s:[{s:s,s:s,s:s}],s:s,s:O}", "targetRefs", "kind",
			              "Service", "group", "", "name", name, "action", "ALLOW",
			              "rules", rules));
			continue;
		}
		mp_id w = (mp_id)strtoul(key, NULL, 10);
		json_t *sel = workload_labels(x, w);
		if (!json_object_size(sel)) {
			json_decref(sel);
			left_out(
			    x,
			    astr(x, "%s %s/%s", mp_model_str(x->m, v.workloads[w].kind),
			         wl_ns(x, w), mp_model_str(x->m, v.workloads[w].name)),
			    "its pods carry no label an AuthorizationPolicy could select them by");
			continue;
		}
		doc(x, "security.istio.io/v1", "AuthorizationPolicy", wl_ns(x, w),
		    astr(x, "appmesh-%s", label(x, mp_model_str(x->m, v.workloads[w].name))),
		    json_pack("{s:{s:o},s:s,s:O}", "selector", "matchLabels", sel, "action",
		              "ALLOW", "rules", rules));
	}
}

/* --- the op --- */

int mp_appmesh_migrate(const mp_model *m, const char *target, const mp_compile_opts *opts,
                       FILE *out, json_t *checks_out, json_t *left, char *err, size_t errlen)
{
	ex x = {0};
	int rc = -1;
	if (strcmp(target, "istio")) {
		snprintf(err, errlen,
		         "unknown target '%s': App Mesh exports to istio (linkerd and kuma: "
		         "docs/import.md, \"The way off App Mesh\")",
		         target);
		return -1;
	}
	mp_amstate *s = NULL;
	if (mp_amstate_compile(m, &s, err, errlen) < 0)
		return -1;
	if (!s) {
		snprintf(err, errlen, "the model holds no App Mesh configuration");
		return -1;
	}
	x.s = s;
	x.m = m;
	x.td = opts && opts->trust_domain ? opts->trust_domain : "cluster.local";
	x.docs = json_array();
	x.policies = json_object();
	x.checks = checks_out;
	x.left = left;
	x.nodes_all = json_array();
	for (uint32_t mi = 0; mi < s->nmeshes; mi++)
		for (uint32_t i = 0; i < s->meshes[mi].nnodes; i++) {
			json_t *p = node_principals(&x, &s->meshes[mi].nodes[i]);
			json_array_extend(x.nodes_all, p);
			json_decref(p);
		}
	mp_model_view v = mp_model_get_view(m);
	for (mp_id svc = 0; svc < v.nservices; svc++) {
		const mp_id *ws;
		uint32_t nw = mp_model_workloads_of_service(m, svc, &ws), any = 0;
		for (uint32_t mi = 0; mi < s->nmeshes; mi++)
			any |= vs_of(&s->meshes[mi], svc) != NULL;
		for (uint32_t w = 0; w < nw; w++) {
			const am_mesh *mm;
			any |= node_of(&x, ws[w], &mm) != NULL;
		}
		if (!any)
			continue;
		service_rules(&x, svc);
		unmeshed_rules(&x, svc);
	}
	for (uint32_t mi = 0; mi < s->nmeshes; mi++) {
		const am_mesh *me = &s->meshes[mi];
		for (uint32_t g = 0; g < me->ngateways; g++)
			gateway_rules(&x, me, &me->gateways[g]);
	}
	authorization_policies(&x);
	for (uint32_t mi = 0; mi < s->nmeshes; mi++) {
		const am_mesh *me = &s->meshes[mi];
		for (uint32_t i = 0; i < me->nnodes; i++)
			node_resources(&x, me, &me->nodes[i]);
		for (uint32_t i = 0; i < me->nservices; i++)
			if (me->services[i].provider == AM_PROVIDER_ROUTER &&
			    me->services[i].target != AM_NONE && me->services[i].service != MP_NONE)
				mp_amx_routes(&x, me, &me->services[i]);
		for (uint32_t g = 0; g < me->ngateways; g++)
			gateway_resources(&x, me, &me->gateways[g]);
	}
	left_out(&x, "egress to hosts outside the cluster",
	         "written as Sidecar egress hosts and outboundTrafficPolicy (REGISTRY_ONLY for "
	         "DROP_ALL); meshpol does not decide Istio's egress, so the check lists these "
	         "requests as not verified");
	left_out(&x, "the client's TLS validation",
	         "Istio has it in DestinationRule tls.subjectAltNames, per host; the export "
	         "carries its effect instead: the server's AuthorizationPolicy admits only the "
	         "callers whose validation passes");
	mp_amx_checks(&x);
	fprintf(out,
	        "# Istio resources for the App Mesh configuration (meshpol export --to istio).\n"
	        "# Principals are the pods' service accounts in trust domain %s.\n",
	        x.td);
	size_t i;
	json_t *d;
	json_array_foreach(x.docs, i, d)
	{
		fputs("---\n", out);
		yaml_value(out, d, 0);
	}
	rc = x.ar.oom ? -1 : 0;
	if (rc < 0)
		snprintf(err, errlen, "out of memory");
	json_decref(x.docs);
	json_decref(x.policies);
	json_decref(x.nodes_all);
	mp_arena_free(&x.ar);
	mp_amstate_free(s);
	return rc;
}
