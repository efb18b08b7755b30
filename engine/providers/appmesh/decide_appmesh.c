/* decide_appmesh.c: one request decided as App Mesh's Envoys would: the caller's egress (its
 * node's backends, the mesh's egress filter), the virtual service's provider (a node, or a
 * router and the first of its routes that matches), and TLS between the caller and each node
 * the request can reach (the listener's mode and validation, the client's policy); ingress
 * through a virtual gateway and its gateway routes. App Mesh has no deny rule: every refusal
 * is not_permitted. Semantics and sources: docs/import.md ("App Mesh"). */
#include "appmesh_state.h"
#include "regex.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Who calls. */
enum {
	C_PLAIN,   /* no App Mesh proxy, plaintext (or passthrough from a node) */
	C_CERT,    /* no App Mesh proxy, presenting a certificate (source.principal) */
	C_NODE,    /* a pod running App Mesh's Envoy for a virtual node */
	C_GATEWAY, /* a virtual gateway forwarding a request */
};

typedef struct {
	uint32_t kind;
	const am_mesh *mesh;
	const am_node *node;
	const am_gateway *gw;
	const char *principal;
} caller;

typedef struct {
	const mp_amstate *s;
	const mp_provider_request *q;
	const mp_request *r;
	mp_decision *d;
	json_t *explain;
	uint32_t verdict;
	char path[2048]; /* the path the current stage sees (a gateway rewrites it) */
	char host[512];  /* the host likewise */
	int has_path;
} dctx;

#define PROVIDER "appmesh"

static void reason(dctx *x, uint32_t kind, const char *title, const char *version, const char *rule,
                   const char *source, const char *msg)
{
	mp_reason_origin o = {.provider = PROVIDER,
	                      .resource = title,
	                      .version = version ? version : "",
	                      .rule = -1,
	                      .rule_name = rule,
	                      .source = source ? source : ""};
	mp_decision_add(x->d, kind, msg, 0, &o);
	if (x->explain) {
		/* the stage: the caller's egress, the provider's routing, or TLS */
		const char *type = !rule || strstr(rule, ".tls") ? "appmesh.tls"
		                   : !strncmp(rule, "backends", 8) ||
		                           !strncmp(rule, "backend[", 8) ||
		                           !strncmp(rule, "egressFilter", 12)
		                       ? "appmesh.egress"
		                       : "appmesh.route";
		json_t *e =
		    json_pack("{s:s,s:s,s:s,s:s,s:s,s:b}", "type", type, "policy", title, "version",
		              version ? version : "", "rule", rule ? rule : "", "source",
		              source ? source : "", "matched", kind == MP_REASON_ALLOW);
		if (e && kind != MP_REASON_ALLOW)
			json_object_set_new(e, "why", json_string(msg));
		if (e)
			json_array_append_new(x->explain, e);
	}
	if (kind != MP_REASON_ALLOW)
		x->verdict = MP_PROVIDER_NOT_PERMITTED;
	else if (x->verdict == MP_PROVIDER_ABSTAIN)
		x->verdict = MP_PROVIDER_ALLOW;
}

static void allow(dctx *x, const am_obj *o, const char *rule, const am_at *at, const char *msg)
{
	reason(x, MP_REASON_ALLOW, o->title, o->version, rule, at->source, msg);
}

static void refuse(dctx *x, const am_obj *o, const char *rule, const am_at *at, const char *msg)
{
	reason(x, MP_REASON_DENY, o->title, o->version, rule, at->source, msg);
}

/* --- the request --- */

static const char *header(const mp_request *r, const char *name)
{
	for (uint32_t i = 0; i < r->nheaders; i++)
		if (!strcasecmp(r->headers[i].name, name))
			return r->headers[i].value;
	return NULL;
}

/* The path without its query, into x->path; "/" for a request without one. */
static void set_path(dctx *x, const char *p)
{
	size_t n = p ? strcspn(p, "?") : 0;
	snprintf(x->path, sizeof(x->path), "%.*s", (int)(p ? n : 1), p ? p : "/");
}

static const char *query_value(const char *path, const char *name, char *buf, size_t len)
{
	const char *q = path ? strchr(path, '?') : NULL;
	size_t nl = strlen(name);
	while (q && *q) {
		q++;
		size_t kl = strcspn(q, "=&");
		if (kl == nl && !strncmp(q, name, nl)) {
			const char *v = q[kl] == '=' ? q + kl + 1 : q + kl;
			snprintf(buf, len, "%.*s", (int)strcspn(v, "&"), v);
			return buf;
		}
		q = strchr(q, '&');
	}
	return NULL;
}

static int header_matches(const am_header *h, const char *v)
{
	int m = 0;
	size_t vl = v ? strlen(v) : 0, l = strlen(h->value);
	switch (h->how) {
	case AM_HM_PRESENT:
		m = v != NULL;
		break;
	case AM_HM_EXACT:
		m = v && !strcmp(v, h->value);
		break;
	case AM_HM_PREFIX:
		m = v && !strncmp(v, h->value, l);
		break;
	case AM_HM_SUFFIX:
		m = v && vl >= l && !strcmp(v + vl - l, h->value);
		break;
	case AM_HM_RANGE: {
		char *end;
		long long n = v ? strtoll(v, &end, 10) : 0;
		m = v && *v && !*end && n >= h->lo && n < h->hi;
		break;
	}
	default: /* regex, the whole value (Envoy's safe_regex); RE2 failing: no match */
		m = v && h->re && mp_regex_full_match(h->re, v, vl) == 1;
		break;
	}
	/* invert matches anything but the criteria, an absent header included */
	return h->invert ? !m : m;
}

int mp_am_route_matches(const am_match *mt, uint32_t kind, const mp_request *r, const char *path,
                        const char *host, uint32_t port)
{
	if (mt->port && mt->port != port)
		return 0;
	if (kind == AM_ROUTE_TCP)
		return 1;
	if (kind == AM_ROUTE_GRPC) {
		/* /package.Service/Method */
		const char *svc = path && *path == '/' ? path + 1 : "";
		size_t sl = strcspn(svc, "/");
		if (mt->grpc_service &&
		    (strlen(mt->grpc_service) != sl || strncmp(svc, mt->grpc_service, sl)))
			return 0;
		if (mt->grpc_method && (!svc[sl] || strcmp(svc + sl + 1, mt->grpc_method)))
			return 0;
	} else {
		if (mt->prefix && strncmp(path, mt->prefix, strlen(mt->prefix)))
			return 0;
		if (mt->path_exact && strcmp(path, mt->path_exact))
			return 0;
		if (mt->path_regex &&
		    !(mt->path_re && mp_regex_full_match(mt->path_re, path, strlen(path)) == 1))
			return 0;
		if (mt->method && !(r->method && mp_method_bit(r->method) == mt->method))
			return 0;
		if (mt->scheme) {
			const char *sch = header(r, ":scheme");
			if (strcmp(sch ? sch : "http", mt->scheme))
				return 0;
		}
		for (uint32_t i = 0; i < mt->nquery; i++) {
			char buf[512];
			const char *v = query_value(r->path, mt->query[i].name, buf, sizeof(buf));
			if (!v || (mt->query[i].exact && strcmp(v, mt->query[i].exact)))
				return 0;
		}
	}
	for (uint32_t i = 0; i < mt->nheaders; i++)
		if (!header_matches(&mt->headers[i], header(r, mt->headers[i].name)))
			return 0;
	if (mt->host_exact && (!host || strcasecmp(host, mt->host_exact)))
		return 0;
	if (mt->host_suffix) {
		size_t hl = host ? strlen(host) : 0, sl = strlen(mt->host_suffix);
		if (!host || hl < sl || strcasecmp(host + hl - sl, mt->host_suffix))
			return 0;
	}
	return 1;
}

/* --- who calls --- */

static int names_node(const am_node *n, const char *ref)
{
	const char *slash = strchr(ref, '/');
	if (slash)
		return *n->o.ns && (size_t)(slash - ref) == strlen(n->o.ns) &&
		       !strncmp(ref, n->o.ns, (size_t)(slash - ref)) &&
		       !strcmp(slash + 1, n->o.kname);
	return !strcmp(ref, n->o.name);
}

/* The node whose pods run workload w with App Mesh's Envoy; *opted_out when a node selects
 * them but they run without one. */
static const am_node *node_of_workload(const mp_amstate *s, mp_id w, const am_mesh **mesh,
                                       int *opted_out)
{
	for (uint32_t m = 0; m < s->nmeshes; m++)
		for (uint32_t i = 0; i < s->meshes[m].nnodes; i++) {
			const am_node *n = &s->meshes[m].nodes[i];
			for (uint32_t p = 0; p < n->npods; p++)
				if (n->pods[p].workload == w) {
					*mesh = &s->meshes[m];
					if (!n->pods[p].injected) {
						*opted_out = 1;
						return NULL;
					}
					return n;
				}
		}
	return NULL;
}

/* Do the workload's labels all appear in the caller's (source.labels)? */
static int workload_in_labels(const mp_model *m, mp_id w, json_t *labels)
{
	mp_model_view v = mp_model_get_view(m);
	const mp_workload *wl = &v.workloads[w];
	for (uint32_t i = 0; i < wl->labels.n; i++) {
		const mp_label *l = &v.labels[wl->labels.off + i];
		const char *got =
		    json_string_value(json_object_get(labels, mp_model_str(m, l->key)));
		if (!got || strcmp(got, mp_model_str(m, l->value)))
			return 0;
	}
	return 1;
}

static void by_labels(dctx *x, caller *c)
{
	const mp_request *r = x->r;
	const char *keys[64], *vals[64], *k;
	uint32_t n = 0;
	json_t *v;
	json_object_foreach(r->src_labels, k, v)
	{
		if (n < 64 && json_is_string(v)) {
			keys[n] = k;
			vals[n++] = json_string_value(v);
		}
	}
	for (uint32_t m = 0; m < x->s->nmeshes; m++)
		for (uint32_t i = 0; i < x->s->meshes[m].nnodes; i++) {
			const am_node *nd = &x->s->meshes[m].nodes[i];
			if (!*nd->o.ns || strcmp(nd->o.ns, r->src_namespace) ||
			    !mp_am_selects(&nd->selector, keys, vals, n))
				continue;
			for (uint32_t p = 0; p < nd->npods; p++)
				if (workload_in_labels(x->s->m, nd->pods[p].workload,
				                       r->src_labels) &&
				    !nd->pods[p].injected)
					return; /* opted out: no Envoy */
			c->kind = C_NODE;
			c->mesh = &x->s->meshes[m];
			c->node = nd;
			return;
		}
}

static void resolve_caller(dctx *x, caller *c)
{
	const mp_request *r = x->r;
	memset(c, 0, sizeof(*c));
	c->kind = C_PLAIN;
	if (r->principal) {
		if (!*r->principal)
			return;
		for (uint32_t m = 0; m < x->s->nmeshes; m++)
			for (uint32_t i = 0; i < x->s->meshes[m].nnodes; i++) {
				const am_node *n = &x->s->meshes[m].nodes[i];
				for (uint32_t k = 0; k < n->nidentities; k++)
					if (!strcmp(n->identities[k], r->principal)) {
						c->kind = C_NODE;
						c->mesh = &x->s->meshes[m];
						c->node = n;
						c->principal = r->principal;
						return;
					}
			}
		c->kind = C_CERT;
		c->principal = r->principal;
		return;
	}
	if (r->src_service) {
		char ref[600];
		if (r->src_namespace && !strchr(r->src_service, '/'))
			snprintf(ref, sizeof(ref), "%s/%s", r->src_namespace, r->src_service);
		else
			snprintf(ref, sizeof(ref), "%s", r->src_service);
		for (uint32_t m = 0; m < x->s->nmeshes; m++)
			for (uint32_t i = 0; i < x->s->meshes[m].nnodes; i++)
				if (names_node(&x->s->meshes[m].nodes[i], ref)) {
					c->kind = C_NODE;
					c->mesh = &x->s->meshes[m];
					c->node = &x->s->meshes[m].nodes[i];
					return;
				}
		if (x->q->src_svc != MP_NONE) { /* a Service: the node of its pods */
			const mp_id *ws;
			uint32_t nw = mp_model_workloads_of_service(x->s->m, x->q->src_svc, &ws);
			for (uint32_t i = 0; i < nw; i++) {
				int out = 0;
				const am_node *n = node_of_workload(x->s, ws[i], &c->mesh, &out);
				if (n) {
					c->kind = C_NODE;
					c->node = n;
					return;
				}
			}
		}
		return;
	}
	if (r->src_labels && r->src_namespace)
		by_labels(x, c);
}

/* --- TLS between a caller and a listener --- */

static int in_list(const char *const *l, uint32_t n, const char *s)
{
	for (uint32_t i = 0; s && i < n; i++)
		if (!strcmp(l[i], s))
			return 1;
	return 0;
}

const am_client_tls *mp_am_client_policy(const am_client_tls *own, const am_client_tls *defaults,
                                         uint32_t port)
{
	const am_client_tls *p = own && own->set ? own : defaults;
	if (!p || !p->set || !p->enforce)
		return NULL;
	if (!p->nports)
		return p;
	for (uint32_t i = 0; i < p->nports; i++)
		if (p->ports[i] == port)
			return p;
	return NULL;
}

/* The caller's client policy for backend b at the server's port. */
static const am_client_tls *client_policy(const caller *c, const am_backend *b, uint32_t port)
{
	if (c->kind == C_NODE)
		return mp_am_client_policy(b ? &b->policy : NULL, &c->node->defaults, port);
	if (c->kind == C_GATEWAY)
		return mp_am_client_policy(NULL, &c->gw->defaults, port);
	return NULL;
}

static void step(am_tls_step *st, uint32_t *n, int ok, int client, const char *rule,
                 const am_at *at, const char *msg)
{
	st[(*n)++] = (am_tls_step){ok, client, rule, at, msg};
}

int mp_am_tls(uint32_t caller, const char *principal, const am_client_tls *p, const char *hostname,
              const am_listener *l, am_tls_step steps[2], uint32_t *n)
{
	const char *client_cert = caller == AM_CALLER_CERT ? principal : p ? p->cert : NULL;
	*n = 0;
	if (l->tls == AM_TLS_NONE)
		return 1; /* plaintext both ways; nothing checks */
	if (l->tls == AM_TLS_DISABLED) {
		step(steps, n, 1, 0, l->rule_mode, &l->tls_at,
		     "the listener's TLS is DISABLED: it admits plaintext");
		return 1;
	}
	if (caller == AM_CALLER_PLAIN) {
		int strict = l->tls == AM_TLS_STRICT;
		step(steps, n, !strict, 0, l->rule_mode, &l->tls_at,
		     strict ? "the listener is STRICT: it refuses plaintext"
		            : "the listener is PERMISSIVE: it admits plaintext");
		return !strict;
	}
	/* TLS is negotiated: with a client policy, the client validates the server's
	 * certificate (api ClientPolicyTls, TlsValidationContext) */
	if (p && p->validation.set) {
		const char *san = l->cert ? l->cert : hostname;
		if (p->validation.sans) {
			int ok = in_list(p->validation.sans, p->validation.nsans, san);
			step(steps, n, ok, 1, p->rule_sans, &p->validation.sans_at,
			     ok ? "the server's certificate carries a SAN the client accepts"
			        : "the client's policy accepts no server certificate with the SAN "
			          "the "
			          "listener presents");
			if (!ok)
				return 0;
		} else {
			int ok = san && hostname && !strcmp(san, hostname);
			step(steps, n, ok, 1, p->rule_val, &p->validation.at,
			     ok ? "the server's certificate carries its service discovery name"
			        : "without a SAN list the client wants the server's service "
			          "discovery "
			          "name in its certificate");
			if (!ok)
				return 0;
		}
	}
	/* the listener validates client certificates */
	if (l->validation.set) {
		if (!client_cert) {
			step(steps, n, 0, 0, l->rule_val, &l->validation.at,
			     "the listener requires a client certificate and the caller has none");
			return 0;
		}
		if (l->validation.sans) {
			int ok = in_list(l->validation.sans, l->validation.nsans, client_cert);
			step(steps, n, ok, 0, l->rule_sans, &l->validation.sans_at,
			     ok ? "the client certificate's SAN is in the listener's list"
			        : "the client certificate's SAN is not in the listener's list");
			return ok;
		}
		step(steps, n, 1, 0, l->rule_val, &l->validation.at,
		     "the listener validates the client certificate's chain only");
		return 1;
	}
	step(steps, n, 1, 0, l->rule_mode, &l->tls_at,
	     l->tls == AM_TLS_STRICT ? "the listener is STRICT and the caller speaks TLS"
	                             : "the listener is PERMISSIVE");
	return 1;
}

/* TLS from caller c to listener l of the node or gateway o (hostname: its service discovery
 * name, the SAN of a certificate that is not SDS), the caller's client policy p (or NULL); the
 * client's refusals are the client's (client). */
static void tls_stage(dctx *x, const caller *c, const am_obj *o, const char *hostname,
                      const am_listener *l, const am_client_tls *p, const am_obj *client)
{
	am_tls_step st[2];
	uint32_t n;
	mp_am_tls(c->kind == C_PLAIN  ? AM_CALLER_PLAIN
	          : c->kind == C_CERT ? AM_CALLER_CERT
	                              : AM_CALLER_MESH,
	          c->principal, p, hostname, l, st, &n);
	for (uint32_t i = 0; i < n; i++)
		(st[i].ok ? allow : refuse)(x, st[i].client ? client : o, st[i].rule, st[i].at,
		                            st[i].msg);
}

const am_listener *mp_am_listener_on(const am_listener *ls, uint32_t n, uint32_t port)
{
	for (uint32_t i = 0; i < n; i++)
		if (ls[i].port == port)
			return &ls[i];
	return NULL;
}
#define listener_on mp_am_listener_on

uint32_t mp_am_behind(const am_front *f, uint32_t nf, mp_id svc, uint32_t port)
{
	for (uint32_t i = 0; i < nf; i++)
		if (f[i].service == svc)
			for (uint32_t k = 0; k < f[i].nports; k++)
				if (f[i].ports[k] == port)
					return f[i].targets[k];
	return port;
}
#define behind mp_am_behind

uint32_t mp_am_target_port(const am_target *t, const am_node *n, uint32_t router_port)
{
	return t->port                                                 ? t->port
	       : listener_on(n->listeners, n->nlisteners, router_port) ? router_port
	       : n->nlisteners == 1                                    ? n->listeners[0].port
	                                                               : router_port;
}

/* --- the provider: a node, or a router's routes --- */

static void to_node(dctx *x, const caller *c, const am_backend *b, const am_mesh *m,
                    const am_node *t, uint32_t port, const am_obj *blame)
{
	const am_listener *l = port            ? listener_on(t->listeners, t->nlisteners, port)
	                       : t->nlisteners ? &t->listeners[0]
	                                       : NULL;
	(void)m;
	if (!l && t->nlisteners == 1 && !port)
		l = &t->listeners[0];
	if (!l) {
		refuse(x, blame ? blame : &t->o, "no-listener", blame ? &blame->at : &t->o.at,
		       "no listener on the port: \"No matching filter chain found\"");
		return;
	}
	tls_stage(x, c, &t->o, t->hostname, l, client_policy(c, b, l->port),
	          c->kind == C_GATEWAY ? &c->gw->o
	          : c->node            ? &c->node->o
	                               : NULL);
}

static void to_router(dctx *x, const caller *c, const am_backend *b, const am_mesh *m,
                      const am_router *rt, uint32_t port)
{
	const am_listener *rl = port             ? listener_on(rt->listeners, rt->nlisteners, port)
	                        : rt->nlisteners ? &rt->listeners[0]
	                                         : NULL;
	if (!rl) {
		refuse(x, &rt->o, "no-listener", &rt->o.at,
		       "the virtual router has no listener on the port: \"No matching filter "
		       "chain found\"");
		return;
	}
	const am_route *route = NULL;
	for (uint32_t i = 0; i < rt->nroutes && !route; i++) {
		const am_route *r = &rt->routes[rt->order[i]];
		if ((r->kind == AM_ROUTE_TCP) != !strcmp(rl->protocol, "tcp"))
			continue; /* a listener's routes are of its protocol */
		if (mp_am_route_matches(&r->match, r->kind, x->r, x->path, x->host, rl->port))
			route = r;
	}
	if (!route) {
		refuse(x, &rt->o, "no-route-matched", &rt->o.at,
		       "no route of the virtual router matches: \"No cluster match for URL\" "
		       "(404)");
		return;
	}
	am_obj holder = rt->o;
	holder.title = route->title;
	allow(x, &holder, route->rule, &route->at, "the first route that matches, by priority");
	uint32_t live = 0;
	for (uint32_t i = 0; i < route->ntargets; i++) {
		const am_target *t = &route->targets[i];
		if (!t->weight)
			continue;
		live++;
		if (t->node == AM_NONE) {
			refuse(x, &holder, route->rule, &t->at,
			       "the route's target names no virtual node of the mesh");
			continue;
		}
		const am_node *n = &m->nodes[t->node];
		uint32_t p = t->port                                              ? t->port
		             : listener_on(n->listeners, n->nlisteners, rl->port) ? rl->port
		             : n->nlisteners == 1 ? n->listeners[0].port
		                                  : rl->port;
		to_node(x, c, b, m, n, p, NULL);
	}
	if (!live)
		refuse(x, &holder, route->rule, &route->at,
		       "every target of the route has weight 0: it forwards nothing");
}

static void through(dctx *x, const caller *c, const am_backend *b, const am_mesh *m,
                    const am_vservice *vs, uint32_t port)
{
	if (vs->provider == AM_PROVIDER_NONE) {
		refuse(x, &vs->o, "no-provider", &vs->o.at,
		       "the virtual service has no provider: requests fail with 503");
		return;
	}
	if (vs->target == AM_NONE) {
		refuse(x, &vs->o, "provider-not-found", &vs->provider_at,
		       "the virtual service's provider is not in the mesh");
		return;
	}
	if (vs->provider == AM_PROVIDER_NODE)
		to_node(x, c, b, m, &m->nodes[vs->target], port, NULL);
	else
		to_router(x, c, b, m, &m->routers[vs->target], port);
}

/* --- destinations --- */

/* The name the request's destination has: the model's service's (ns/name), an external's
 * host, or the host the input names. */
static const char *dest_host(dctx *x)
{
	mp_model_view v = mp_model_get_view(x->s->m);
	if (x->q->dst_ext != MP_NONE)
		return mp_model_str(x->s->m, v.externals[x->q->dst_ext].host);
	return x->r->dst_service;
}

static const am_vservice *vservice_of(dctx *x, const am_mesh *m)
{
	const char *host = dest_host(x);
	for (uint32_t i = 0; i < m->nservices; i++) {
		const am_vservice *vs = &m->services[i];
		if ((x->q->dst_svc != MP_NONE && vs->service == x->q->dst_svc) ||
		    (x->q->dst_ext != MP_NONE && vs->external == x->q->dst_ext) ||
		    (x->q->dst_svc == MP_NONE && host && !strcmp(vs->o.name, host)))
			return vs;
	}
	return NULL;
}

static int aws_host(const char *h)
{
	static const char suffix[] = ".amazonaws.com";
	size_t n = h ? strlen(h) : 0;
	return n > sizeof(suffix) - 1 && !strcasecmp(h + n - (sizeof(suffix) - 1), suffix);
}

/* The destination's pods, reached directly (an unmeshed caller, or a node's passthrough):
 * each node whose pods back the Service decides by its listener on the port. */
/* A node no workload is bound to (the Terraform form binds pods only by the Envoy's
 * APPMESH_RESOURCE_ARN): the nodes a virtual service standing for the destination sends to
 * are taken as the pods behind its Service. 1 when some was checked. */
static int unbound(dctx *x, const caller *c)
{
	int any = 0;
	for (uint32_t mi = 0; mi < x->s->nmeshes; mi++) {
		const am_mesh *m = &x->s->meshes[mi];
		for (uint32_t si = 0; si < m->nservices; si++) {
			const am_vservice *vs = &m->services[si];
			if (vs->service != x->q->dst_svc || vs->target == AM_NONE)
				continue;
			uint32_t nodes[64], nn = 0;
			if (vs->provider == AM_PROVIDER_NODE)
				nodes[nn++] = vs->target;
			else
				for (uint32_t r = 0; r < m->routers[vs->target].nroutes; r++) {
					const am_route *rt = &m->routers[vs->target].routes[r];
					for (uint32_t t = 0; t < rt->ntargets && nn < 64; t++)
						if (rt->targets[t].node != AM_NONE &&
						    rt->targets[t].weight)
							nodes[nn++] = rt->targets[t].node;
				}
			for (uint32_t i = 0; i < nn; i++) {
				const am_node *n = &m->nodes[nodes[i]];
				uint32_t k;
				for (k = 0; k < i && nodes[k] != nodes[i]; k++)
					;
				if (k < i || n->npods)
					continue;
				const am_listener *l =
				    listener_on(n->listeners, n->nlisteners, x->r->port);
				if (l)
					tls_stage(x, c, &n->o, n->hostname, l, NULL, NULL);
				any = 1;
			}
		}
	}
	return any;
}

static void direct(dctx *x, const caller *c)
{
	const mp_id *ws;
	int bound = 0;
	if (x->q->dst_svc == MP_NONE)
		return;
	uint32_t nw = mp_model_workloads_of_service(x->s->m, x->q->dst_svc, &ws);
	for (uint32_t i = 0; i < nw; i++) {
		const am_mesh *m = NULL;
		int out = 0;
		const am_node *n = node_of_workload(x->s, ws[i], &m, &out);
		bound |= n || out;
		if (!n)
			continue;
		uint32_t port = behind(n->fronts, n->nfronts, x->q->dst_svc, x->r->port);
		const am_listener *l = listener_on(n->listeners, n->nlisteners, port);
		if (!l)
			continue; /* not a listener port: the Envoy does not intercept it */
		tls_stage(x, c, &n->o, n->hostname, l, NULL, NULL);
	}
	if (!bound)
		unbound(x, c);
}

uint32_t mp_am_groute_port(const am_mesh *m, const am_groute *gr, const am_vservice *vs)
{
	if (gr->port || vs->target == AM_NONE || vs->provider == AM_PROVIDER_NONE)
		return gr->port;
	const am_listener *l = vs->provider == AM_PROVIDER_ROUTER ? m->routers[vs->target].listeners
	                                                          : m->nodes[vs->target].listeners;
	uint32_t n = vs->provider == AM_PROVIDER_ROUTER ? m->routers[vs->target].nlisteners
	                                                : m->nodes[vs->target].nlisteners;
	return n ? l[0].port : 0;
}

/* A virtual gateway in front of the destination, with the Service's port. */
static int ingress(dctx *x, const caller *c)
{
	if (x->q->dst_svc == MP_NONE)
		return 0;
	for (uint32_t mi = 0; mi < x->s->nmeshes; mi++) {
		const am_mesh *m = &x->s->meshes[mi];
		for (uint32_t gi = 0; gi < m->ngateways; gi++) {
			const am_gateway *g = &m->gateways[gi];
			uint32_t f;
			for (f = 0; f < g->nfronts && g->fronts[f].service != x->q->dst_svc; f++)
				;
			if (f == g->nfronts)
				continue;
			uint32_t port = behind(g->fronts, g->nfronts, x->q->dst_svc, x->r->port);
			const am_listener *l = listener_on(g->listeners, g->nlisteners, port);
			if (!l) {
				refuse(x, &g->o, "no-listener", &g->o.at,
				       "the virtual gateway has no listener on the port");
				return 1;
			}
			tls_stage(x, c, &g->o, NULL, l, NULL, NULL);
			if (x->verdict == MP_PROVIDER_NOT_PERMITTED)
				return 1;
			const am_groute *gr = NULL;
			for (uint32_t i = 0; i < g->nroutes && !gr; i++) {
				const am_groute *r = &g->routes[g->order[i]];
				if (mp_am_route_matches(&r->match, r->kind, x->r, x->path, x->host,
				                        port))
					gr = r;
			}
			if (!gr) {
				refuse(x, &g->o, "no-gateway-route-matched", &g->o.at,
				       "no gateway route of the virtual gateway matches");
				return 1;
			}
			allow(x, &gr->o, mp_am_route_kinds[gr->kind], &gr->o.at,
			      "the gateway route that matches first");
			if (gr->service == AM_NONE) {
				refuse(
				    x, &gr->o, mp_am_route_kinds[gr->kind], &gr->o.at,
				    "the gateway route's target is no virtual service of the mesh");
				return 1;
			}
			const am_vservice *vs = &m->services[gr->service];
			/* rewrites (virtual_gateways.md): the path, then the host */
			char was[2048];
			snprintf(was, sizeof(was), "%s", x->path);
			if (gr->path_to) {
				snprintf(x->path, sizeof(x->path), "%s", gr->path_to);
			} else if (gr->match.prefix && (gr->prefix_to || gr->rewrite_prefix)) {
				/* the matched prefix becomes "/" (or the value): "/paths/" on
				 * "/paths/x" gives "/x"; one slash where both have one */
				const char *to = gr->prefix_to ? gr->prefix_to : "/";
				const char *rest = was + strlen(gr->match.prefix);
				size_t tl = strlen(to);
				snprintf(x->path, sizeof(x->path), "%s%s", to,
				         tl && to[tl - 1] == '/' && *rest == '/' ? rest + 1 : rest);
			}
			if (gr->rewrite_host)
				snprintf(x->host, sizeof(x->host), "%s", vs->o.name);
			caller gc = {C_GATEWAY, m, NULL, g, NULL};
			through(x, &gc, NULL, m, vs, mp_am_groute_port(m, gr, vs));
			return 1;
		}
	}
	return 0;
}

/* A node's request: its egress, then the virtual service it names. */
static void from_node(dctx *x, const caller *c)
{
	const am_mesh *m = c->mesh;
	const am_node *n = c->node;
	const am_vservice *vs = vservice_of(x, m);
	const char *host = dest_host(x);
	if (vs)
		for (uint32_t i = 0; i < n->nbackends; i++) {
			const am_backend *b = &n->backends[i];
			if (b->service != (uint32_t)(vs - m->services))
				continue;
			allow(x, &n->o, b->rule, &b->at,
			      "the destination is one of the node's backends");
			through(x, c, b, m, vs, x->r->port);
			return;
		}
	if (aws_host(host) && (x->q->dst_svc == MP_NONE)) {
		allow(x, &m->o, "egressFilter:*.amazonaws.com", &m->egress_at,
		      "App Mesh always lets traffic to *.amazonaws.com out");
		return;
	}
	if (m->egress == AM_DROP_ALL) {
		refuse(x, &m->o, "egressFilter:DROP_ALL", &m->egress_at,
		       "the destination is none of the node's backends and the mesh's egress "
		       "filter is DROP_ALL (its default)");
		return;
	}
	if (n->nbackends && !m->allow_all_backends) {
		refuse(x, &n->o, "backends:undeclared", &n->o.at,
		       "the mesh is ALLOW_ALL but the node declares backends: all its egress must "
		       "be declared");
		return;
	}
	allow(x, &m->o, "egressFilter:ALLOW_ALL", &m->egress_at,
	      "ALLOW_ALL: the request leaves as the application sent it, in plaintext");
	caller plain = {C_PLAIN, NULL, NULL, NULL, NULL};
	direct(x, &plain);
}

uint32_t mp_amstate_decide(const mp_amstate *s, const mp_provider_request *q, mp_decision *d,
                           json_t *explain, int fallback)
{
	if (fallback) {
		if (!s)
			return MP_PROVIDER_ABSTAIN;
		mp_decision_add(d, MP_REASON_ALLOW,
		                "nothing of App Mesh refuses the request: no proxy of the mesh "
		                "stands in its way",
		                0, NULL);
		return MP_PROVIDER_ALLOW;
	}
	dctx x = {s, q, q->r, d, explain, MP_PROVIDER_ABSTAIN, "", "", 0};
	caller c;
	set_path(&x, q->r->path);
	snprintf(x.host, sizeof(x.host), "%s",
	         q->r->host             ? q->r->host
	         : header(q->r, "host") ? header(q->r, "host")
	                                : "");
	x.host[strcspn(x.host, ":")] = '\0';
	resolve_caller(&x, &c);
	if (c.kind != C_NODE && q->dst_svc == MP_NONE && q->dst_ext == MP_NONE) {
		/* a host the model does not declare, from a caller without App Mesh's Envoy */
		mp_decision_add(
		    d, MP_REASON_ALLOW,
		    "the caller runs no App Mesh proxy: its egress is not App Mesh's to "
		    "filter",
		    0, NULL);
		return MP_PROVIDER_ALLOW;
	}
	if (c.kind == C_NODE)
		from_node(&x, &c);
	else if (!ingress(&x, &c))
		direct(&x, &c);
	return x.verdict;
}
