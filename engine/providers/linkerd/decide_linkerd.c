/* decide_linkerd.c: one request decided as linkerd2-proxy decides it (see linkerd_authz.h), on
 * every meshed pod behind the destination (a request may land on any; the strictest wins):
 * the Server that selects the pod's port, else the default server of the pod's default inbound
 * policy; for HTTP the one best route (none: 404), whose own authorizations and then the
 * server's are tried in order (none admits: 403); for TCP the server's alone. Semantics and
 * sources: docs/import.md ("Linkerd"); the state: linkerd_state.h. */
#include "linkerd_int.h"
#include "linkerd_state.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#define MAX_PATH   2048
#define ADMIN_PORT 4191
#define PROXY_PORT 4143

/* The request as Linkerd sees it. */
typedef struct {
	const mp_lkauthz *a;
	const mp_request *r;
	mp_ipnet ip; /* family 0: source.ip absent */
	int localhost;
	const char *id; /* the client's identity; NULL: unmeshed (no principal) */
	size_t idlen;
	int http;        /* a method or a path: an HTTP request; else a TCP connection */
	uint32_t method; /* MP_METHOD_* bit, 0 when absent or unknown */
	const char *query;
	char path[MAX_PATH]; /* raw (Linkerd does not normalise), without the query */
	size_t pathlen;
	const char *host; /* without a port; NULL: none */
	size_t hostlen;
	json_t *explain;
	const char *wname; /* the workload decided, for explanations */
} dctx;

/* What one pod port decided: the verdict and the reason (and an audit advisory). */
typedef struct {
	uint32_t verdict; /* MP_PROVIDER_*; ABSTAIN: Linkerd's implicit allow */
	uint32_t kind;    /* MP_REASON_ALLOW or DENY */
	const char *policy, *version, *rule, *source;
	const char *fmt, *arg1, *arg2; /* the message */
	const lk_authz *audit;         /* an audit authorization admitted the client */
	const char *audit_title, *audit_rule, *audit_source;
	mp_id workload;
} outcome;

/* --- the client: networks and identities --- */

static int in_net(const lk_net *n, const mp_ipnet *ip)
{
	if (!mp_ipnet_contains(&n->net, ip))
		return 0;
	for (uint32_t i = 0; i < n->nexcept; i++)
		if (mp_ipnet_contains(&n->except[i], ip))
			return 0;
	return 1;
}

/* Without source.ip, only a network of every address (without exceptions) can admit. */
static int nets_admit(const lk_nets *n, const dctx *x)
{
	for (uint32_t i = 0; i < n->n; i++) {
		if (x->ip.family ? in_net(&n->v[i], &x->ip) : !n->v[i].net.bits && !n->v[i].nexcept)
			return 1;
	}
	return 0;
}

static int id_suffix(const dctx *x, const char *s)
{
	size_t n = strlen(s);
	return x->idlen > n + 1 && x->id[x->idlen - n - 1] == '.' &&
	       !memcmp(x->id + x->idlen - n, s, n);
}

/* NULL when az admits the client, else why not (linkerd2-proxy policy/mod.rs
 * check_authorized). */
static const char *admits(const lk_authz *az, const dctx *x)
{
	if (!nets_admit(&az->nets, x))
		return !az->nets.n    ? "it admits no network"
		       : x->ip.family ? "the client's address is in none of its networks"
		                      : "the request gives no source.ip, and its networks are not "
		                        "every address";
	if (az->identity == LK_ID_NONE)
		return NULL;
	if (!x->id)
		return "it requires an identity and the client has none (unmeshed)";
	if (az->identity == LK_ID_ANY)
		return NULL;
	for (uint32_t i = 0; i < az->nexact; i++)
		if (!strcmp(az->exact[i], x->id))
			return NULL;
	for (uint32_t i = 0; i < az->nsuffix; i++)
		if (id_suffix(x, az->suffix[i]))
			return NULL;
	return "the client's identity is none of its identities";
}

/* --- explanations --- */

static void explain(const dctx *x, const char *type, const char *policy, const char *version,
                    const char *rule, const char *source, const char *why)
{
	if (!x->explain)
		return;
	json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:b}", "policy", policy ? policy : "",
	                      "version", version ? version : "", "rule", rule ? rule : "", "type",
	                      type, "source", source ? source : "", "matched", !why);
	if (o && why)
		json_object_set_new(o, "why", json_string(why));
	if (o && x->wname)
		json_object_set_new(o, "workload", json_string(x->wname));
	if (o)
		json_array_append_new(x->explain, o);
}

/* --- routes --- */

/* How well a match fits (linkerd2-proxy http/route: host first, then the request match: path
 * length, method, headers, query parameters; gRPC: service, method, headers). Larger wins;
 * on a tie, the first in order. */
typedef struct {
	uint32_t host_kind, host_len; /* 0: the route has no hostnames; 1 wildcard; 2 exact */
	uint32_t path, method, headers, query;
} score;

static int score_cmp(const score *p, const score *q)
{
	const uint32_t a[] = {p->host_kind, p->host_len, p->path, p->method, p->headers, p->query};
	const uint32_t b[] = {q->host_kind, q->host_len, q->path, q->method, q->headers, q->query};
	for (size_t i = 0; i < sizeof(a) / sizeof(a[0]); i++)
		if (a[i] != b[i])
			return a[i] < b[i] ? -1 : 1;
	return 0;
}

/* The whole value matches (RE2 failing, out of memory, is no match). */
static int regex_match(const mp_regex *re, const char *s, size_t len)
{
	return mp_regex_full_match(re, s, len) == 1;
}

static int value_match(const lk_value *v, const char *s, size_t len)
{
	if (v->kind == LK_VAL_REGEX)
		return regex_match(v->re, s, len);
	return len == v->len && !memcmp(s, v->text, len);
}

/* A path match's length, or -1 (http/match/path.rs). */
static long path_match(const lk_value *v, const dctx *x)
{
	size_t vl = v->len, pl = x->pathlen;
	switch (v->kind) {
	case LK_VAL_EXACT:
		return pl == vl && !memcmp(x->path, v->text, vl) ? (long)vl : -1;
	case LK_VAL_REGEX:
		return regex_match(v->re, x->path, pl) ? (long)pl : -1;
	default:
		if (vl == 1 && v->text[0] == '/')
			return 1;
		while (vl && v->text[vl - 1] == '/')
			vl--;
		while (pl && x->path[pl - 1] == '/')
			pl--;
		if (pl < vl || memcmp(x->path, v->text, vl) || (pl > vl && x->path[vl] != '/'))
			return -1;
		return (long)vl;
	}
}

static const char *header(const mp_request *r, const char *name)
{
	for (uint32_t i = 0; i < r->nheaders; i++)
		if (!strcasecmp(r->headers[i].name, name))
			return r->headers[i].value;
	return NULL;
}

/* Form-urlencoded decoding of n bytes of s into out (cap bytes); its length, or -1. */
static long form_decode(const char *s, size_t n, char *out, size_t cap)
{
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		int b = s[i] == '+' ? ' ' : s[i];
		if (s[i] == '%' && i + 2 < n + 1 && mp_percent_byte(s + i) >= 0) {
			b = mp_percent_byte(s + i);
			i += 2;
		}
		if (o + 1 >= cap)
			return -1;
		out[o++] = (char)b;
	}
	out[o] = '\0';
	return (long)o;
}

/* Does a query parameter of that name have a matching value (http/match/query_param.rs)? */
static int query_match(const lk_param *p, const dctx *x)
{
	char key[256], val[1024];
	for (const char *q = x->query; q && *q;) {
		size_t n = strcspn(q, "&"), k = strcspn(q, "=");
		if (k > n)
			k = n;
		long kl = form_decode(q, k, key, sizeof(key));
		long vl = form_decode(q + k + (k < n), n - k - (k < n), val, sizeof(val));
		if (kl >= 0 && vl >= 0 && !strcmp(key, p->name) &&
		    value_match(&p->value, val, (size_t)vl))
			return 1;
		q += n + (q[n] == '&');
	}
	return 0;
}

static int headers_match(const lk_match *m, const dctx *x)
{
	for (uint32_t i = 0; i < m->nheaders; i++) {
		const char *v = header(x->r, m->headers[i].name);
		if (!v || !value_match(&m->headers[i].value, v, strlen(v)))
			return 0;
	}
	return 1;
}

/* The gRPC method path "/SERVICE/METHOD" against a GRPCRoute match (grpc/match.rs). */
static int grpc_match(const lk_match *m, const dctx *x, score *s)
{
	const char *p = x->path, *end = x->path + x->pathlen;
	if (x->method != MP_METHOD_POST || p == end || *p != '/')
		return 0;
	const char *svc = p + 1, *slash = memchr(svc, '/', (size_t)(end - svc));
	if (!slash)
		return 0;
	const char *rpc = slash + 1, *rend = memchr(rpc, '/', (size_t)(end - rpc));
	size_t sl = (size_t)(slash - svc), rl = (size_t)((rend ? rend : end) - rpc);
	if (m->service && (strlen(m->service) != sl || memcmp(m->service, svc, sl)))
		return 0;
	if (m->rpc && (strlen(m->rpc) != rl || memcmp(m->rpc, rpc, rl)))
		return 0;
	if (!headers_match(m, x))
		return 0;
	s->path = m->service ? (uint32_t)sl : 0;
	s->method = m->rpc ? (uint32_t)rl : 0;
	s->headers = m->nheaders;
	return 1;
}

static int match_one(const lk_match *m, int grpc, const dctx *x, score *s)
{
	long pl;
	if (grpc)
		return grpc_match(m, x, s);
	if ((pl = path_match(&m->path, x)) < 0 || (m->method && m->method != x->method) ||
	    !headers_match(m, x))
		return 0;
	for (uint32_t i = 0; i < m->nquery; i++)
		if (!query_match(&m->query[i], x))
			return 0;
	s->path = (uint32_t)pl;
	s->method = m->method != 0;
	s->headers = m->nheaders;
	s->query = m->nquery;
	return 1;
}

/* The route's hostnames against the request's host (http/match/host.rs): exact beats a
 * wildcard, a longer one a shorter; a route without hostnames takes any host. */
static int host_match(const lk_route *rt, const dctx *x, score *s)
{
	if (!rt->nhosts)
		return 1;
	for (uint32_t i = 0; x->host && i < rt->nhosts; i++) {
		const char *h = rt->hosts[i];
		size_t hl = strlen(h);
		if (!strncmp(h, "*.", 2)) {
			if (x->hostlen > hl - 1 &&
			    !strncasecmp(x->host + x->hostlen - (hl - 1), h + 1, hl - 1) &&
			    (s->host_kind < 1 || (s->host_kind == 1 && s->host_len < hl)))
				s->host_kind = 1, s->host_len = (uint32_t)hl;
		} else if (hl == x->hostlen && !strncasecmp(h, x->host, hl) &&
		           (s->host_kind < 2 || s->host_len < hl)) {
			s->host_kind = 2, s->host_len = (uint32_t)hl;
		}
	}
	return s->host_kind > 0;
}

/* The route's best match (its rules in order, their matches), or 0. */
static int route_match(const lk_route *rt, const dctx *x, score *best)
{
	score h = {0};
	int found = 0;
	if (!host_match(rt, x, &h))
		return 0;
	for (uint32_t i = 0; i < rt->nrules; i++) {
		const lk_rule *ru = &rt->rules[i];
		for (uint32_t j = 0; j < ru->n || (!ru->n && !j); j++) {
			score s = h;
			if (ru->n && !match_one(&ru->m[j], rt->grpc, x, &s))
				continue;
			if (!found || score_cmp(&s, best) > 0)
				*best = s;
			found = 1;
			if (!ru->n)
				break;
		}
	}
	return found;
}

/* --- servers --- */

static int has_label(const mp_model *m, const mp_workload *w, const char *key, const char **val)
{
	mp_model_view v = mp_model_get_view(m);
	for (uint32_t i = 0; i < w->labels.n; i++) {
		const mp_label *l = &v.labels[w->labels.off + i];
		if (!strcmp(mp_model_str(m, l->key), key)) {
			*val = mp_model_str(m, l->value);
			return 1;
		}
	}
	return 0;
}

/* Does the Server's podSelector select the workload's pods (matchLabels and
 * matchExpressions, all of them)? */
static int selects(const mp_lkauthz *a, const lk_server *s, const mp_workload *w)
{
	const char *v;
	if (s->external)
		return 0;
	for (uint32_t i = 0; i < s->nmatch; i++)
		if (!has_label(a->m, w, s->match[i].key, &v) || strcmp(v, s->match[i].value))
			return 0;
	for (uint32_t i = 0; i < s->nexprs; i++) {
		const lk_expr *e = &s->exprs[i];
		int has = has_label(a->m, w, e->key, &v), in = 0;
		for (uint32_t k = 0; has && k < e->nvalues && !in; k++)
			in = !strcmp(e->values[k], v);
		if ((e->op == LK_OP_IN && !in) || (e->op == LK_OP_NOT_IN && in) ||
		    (e->op == LK_OP_EXISTS && !has) || (e->op == LK_OP_DOES_NOT_EXIST && has))
			return 0;
	}
	return 1;
}

/* Does the Server select port on the pod: its number, or a TCP container port by name? */
static int selects_port(const lk_server *s, const lk_pod *pod, uint32_t port)
{
	if (!s->port_name)
		return s->port == port;
	for (uint32_t i = 0; i < pod->nports; i++)
		if (pod->ports[i].port == port && pod->ports[i].name &&
		    !strcmp(pod->ports[i].name, s->port_name))
			return 1;
	return 0;
}

/* The Server of the pod's port; several: the first by name (Linkerd's pick is arbitrary; the
 * auditor reports ServerPortConflict). NULL: the default server. */
static const lk_server *server_of(const mp_lkauthz *a, const lk_pod *pod, uint32_t port)
{
	mp_model_view v = mp_model_get_view(a->m);
	const mp_workload *w = &v.workloads[pod->workload];
	const lk_server *best = NULL;
	for (uint32_t i = 0; i < a->nservers; i++) {
		const lk_server *s = &a->servers[i];
		if (strcmp(mp_model_str(a->m, s->ns),
		           mp_model_str(a->m, v.namespaces[w->ns].name)) ||
		    (s->cluster != MP_NONE && s->cluster != w->cluster) || !selects(a, s, w) ||
		    !selects_port(s, pod, port))
			continue;
		if (!best || strcmp(s->name, best->name) < 0)
			best = s;
	}
	return best;
}

static int in_ranges(const lk_range *r, uint32_t n, uint32_t port)
{
	for (uint32_t i = 0; i < n; i++)
		if (port >= r[i].lo && port <= r[i].hi)
			return 1;
	return 0;
}

/* --- one pod port --- */

static void deny(outcome *o, const char *policy, const char *version, const char *rule,
                 const char *source, const char *fmt, const char *a1, const char *a2)
{
	*o = (outcome){MP_PROVIDER_NOT_PERMITTED,
	               MP_REASON_DENY,
	               policy,
	               version,
	               rule,
	               source,
	               fmt,
	               a1,
	               a2,
	               NULL,
	               NULL,
	               NULL,
	               NULL,
	               MP_NONE};
}

static void allow(outcome *o, uint32_t verdict, const char *policy, const char *version,
                  const char *rule, const char *source, const char *fmt, const char *a1,
                  const char *a2)
{
	*o = (outcome){
	    verdict, MP_REASON_ALLOW, policy, version, rule, source, fmt, a1, a2, NULL, NULL, NULL,
	    NULL,    MP_NONE};
}

/* The authorizations in turn (the route's own, then the server's): the first explicit one that
 * admits decides; a default's, or an audit's, is Linkerd's implicit allow. 1 when one
 * admitted, with o set. */
static int authorize(const dctx *x, const lk_authz *const *list, uint32_t n, const char *rule,
                     const char *setting, const char *setting_source, outcome *o)
{
	const lk_authz *audit = NULL;
	for (uint32_t i = 0; i < n; i++) {
		const lk_authz *az = list[i];
		const char *title = az->title ? az->title : setting;
		const char *src = az->title ? az->source : setting_source;
		const char *r = az->rule ? az->rule : rule;
		const char *why = admits(az, x);
		explain(x, "linkerd.authorization", title, az->version, r, src, why);
		if (why)
			continue;
		if (az->audit) {
			audit = audit ? audit : az;
			continue;
		}
		if (az->kind == LK_AZ_DEFAULT)
			allow(o, MP_PROVIDER_ABSTAIN, setting, "", r, setting_source,
			      "%s admits the client (%s)", setting, r);
		else
			allow(o, MP_PROVIDER_ALLOW, title, az->version, r, src,
			      "%s admits the client (%s)", title, r);
		return 1;
	}
	if (!audit)
		return 0;
	allow(o, MP_PROVIDER_ABSTAIN, audit->title ? audit->title : setting, audit->version,
	      audit->rule ? audit->rule : "default:audit",
	      audit->title ? audit->source : setting_source,
	      "%s admits the client in audit mode (%s)", audit->title ? audit->title : setting,
	      audit->rule ? audit->rule : "default:audit");
	o->audit = audit;
	return 1;
}

#define MAX_LIST 256

/* A server's authorization list, behind a route's own (of route, or none). */
static uint32_t gather(const mp_lkauthz *a, const lk_route *rt, const lk_authz *probe,
                       const uint32_t *srv, uint32_t nsrv, const lk_authz *dflt,
                       const lk_authz **out)
{
	uint32_t n = 0;
	for (uint32_t i = 0; rt && i < rt->nauthz && n < MAX_LIST; i++)
		out[n++] = &a->az[rt->authz[i]];
	if (probe)
		out[n++] = probe;
	for (uint32_t i = 0; i < nsrv && n < MAX_LIST; i++)
		out[n++] = &a->az[srv[i]];
	if (dflt && n < MAX_LIST)
		out[n++] = dflt;
	return n;
}

/* The best of the server's routes (explicit ones, or its default and probe routes), as its
 * index into the server's routes, SIZE of them for the probe route, SIZE+1 for the default;
 * -1: none matches (404). */
static long best_route(const lk_server *s, const lk_pod *pod, uint32_t port, int grpc,
                       const dctx *x)
{
	const mp_lkauthz *a = x->a;
	score best = {0}, sc;
	long found = -1;
	uint32_t n = s ? s->nroutes : 0;
	for (uint32_t i = 0; i < n; i++) {
		sc = (score){0};
		if (route_match(&a->routes[s->routes[i]], x, &sc) &&
		    (found < 0 || score_cmp(&sc, &best) > 0))
			best = sc, found = i;
	}
	if (n)
		return found;
	/* the default routes (index.rs default_inbound_http_routes): probe (GET, an exact probe
	 * path of this port; none without probe networks) and default (anything); gRPC servers
	 * have only the default */
	for (uint32_t i = 0;
	     !grpc && pod->cl->probe.n && x->method == MP_METHOD_GET && i < pod->nprobes; i++)
		if (pod->probes[i].port == port && !strcmp(pod->probes[i].path, x->path))
			return n;
	return n + 1;
}

static void decide_port(const dctx *x, const lk_pod *pod, uint32_t port, outcome *o)
{
	const mp_lkauthz *a = x->a;
	const lk_server *s = server_of(a, pod, port);
	const lk_authz *list[MAX_LIST + 2];
	char what[32];
	snprintf(what, sizeof(what), "port %u", port);
	uint32_t policy = pod->policy;
	const char *setting = pod->policy_from, *setting_src = pod->policy_source;
	if (!s && in_ranges(pod->require, pod->nrequire, port) &&
	    (policy == LK_ALL_UNAUTHENTICATED || policy == LK_CLUSTER_UNAUTHENTICATED)) {
		/* a port that requires an identity: the default's allow needs one too */
		policy = policy == LK_ALL_UNAUTHENTICATED ? LK_ALL_AUTHENTICATED
		                                          : LK_CLUSTER_AUTHENTICATED;
		setting = pod->require_from ? pod->require_from : setting;
		setting_src = pod->require_source;
	}
	const char *server_title = s ? s->title : setting,
	           *server_src = s ? s->source : setting_src;
	const char *refused_rule = s ? "unauthorized" : mp_lk_default_rules[policy];
	explain(x, s ? "linkerd.server" : "linkerd.default-server", server_title,
	        s ? s->version : "", what, server_src, NULL);
	if (x->localhost) { /* "Always permit traffic from localhost" (server-policy lib.rs) */
		allow(o, MP_PROVIDER_ABSTAIN, server_title, s ? s->version : "", "localhost",
		      server_src, "%s: Linkerd always admits clients on localhost%s", server_title,
		      "");
		return;
	}
	lk_authz dcopy = pod->cl->defaults[policy];
	dcopy.rule = mp_lk_default_rules[policy];
	const lk_authz *dflt = s ? NULL : &dcopy;
	uint32_t proto = s                                            ? s->proto
	                 : in_ranges(pod->opaque, pod->nopaque, port) ? LK_P_OPAQUE
	                                                              : LK_P_DETECT;
	if (!x->http || proto == LK_P_OPAQUE || proto == LK_P_TLS) {
		uint32_t n =
		    gather(a, NULL, NULL, s ? s->authz : NULL, s ? s->nauthz : 0, dflt, list);
		if (authorize(x, list, n, "tcp", setting, setting_src, o))
			return;
		if (s)
			deny(o, s->title, s->version, refused_rule, s->source,
			     "no authorization of %s admits the connection%s", s->title, "");
		else
			deny(
			    o, setting, "", refused_rule, setting_src,
			    "no Server selects the port: its default inbound policy, %s, admits no "
			    "such connection%s",
			    setting, "");
		return;
	}
	long r = best_route(s, pod, port, proto == LK_P_GRPC, x);
	uint32_t nr = s ? s->nroutes : 0;
	const lk_route *rt = r >= 0 && (uint32_t)r < nr ? &a->routes[s->routes[r]] : NULL;
	const char *rule = rt ? rt->rule : (uint32_t)r == nr ? "route:probe" : "route:default";
	if (r < 0) {
		explain(x, "linkerd.route", server_title, s->version, "route-not-found", server_src,
		        "no route of the Server matches the request");
		deny(o, server_title, s->version, "route-not-found", server_src,
		     "no route of %s matches the request: Linkerd answers 404%s", server_title, "");
		return;
	}
	explain(x, "linkerd.route", rt ? rt->title : server_title, rt ? rt->version : "", rule,
	        rt ? rt->source : server_src, NULL);
	lk_authz probe = pod->cl->probe_authz;
	probe.title = s ? s->title : NULL;
	probe.version = s ? s->version : NULL;
	probe.source = s ? s->source : NULL;
	uint32_t n = gather(a, rt, (uint32_t)r == nr ? &probe : NULL, s ? s->authz : NULL,
	                    s ? s->nauthz : 0, dflt, list);
	if (authorize(x, list, n, rule, setting, setting_src, o))
		return;
	if (rt)
		deny(o, rt->title, rt->version, refused_rule, rt->source,
		     "no authorization admits the client on %s of %s: Linkerd answers 403",
		     rt->title, server_title);
	else if (s)
		deny(o, s->title, s->version, refused_rule, s->source,
		     "no authorization of %s admits the client%s", s->title,
		     ": Linkerd answers 403");
	else
		deny(o, setting, "", refused_rule, setting_src,
		     "no Server selects the port: its default inbound policy, %s, admits no such "
		     "client%s",
		     setting, ": Linkerd answers 403");
}

/* --- the request --- */

static void ctx_init(dctx *x, const mp_lkauthz *a, const mp_request *r, json_t *explain_arr)
{
	memset(x, 0, offsetof(dctx, path));
	x->a = a;
	x->r = r;
	x->explain = explain_arr;
	if (r->src_ip && mp_ipnet_parse(r->src_ip, &x->ip, 0) == 0) {
		static const unsigned char v6lo[16] = {[15] = 1};
		x->localhost = (x->ip.family == 4 && x->ip.addr[0] == 127 && x->ip.addr[1] == 0 &&
		                x->ip.addr[2] == 0 && x->ip.addr[3] == 1) ||
		               (x->ip.family == 6 && !memcmp(x->ip.addr, v6lo, 16));
	}
	if (r->principal && *r->principal) {
		x->id = r->principal;
		x->idlen = strlen(r->principal);
	}
	x->http = r->method || r->path;
	x->method = r->method ? mp_method_bit(r->method) : 0;
	const char *p = r->path ? r->path : "/";
	size_t n = strcspn(p, "?#");
	if (n >= sizeof(x->path))
		n = sizeof(x->path) - 1;
	memcpy(x->path, p, n);
	x->path[n] = '\0';
	x->pathlen = n;
	x->query = p[n] == '?' ? p + n + 1 : NULL;
	const char *h = r->host             ? r->host
	                : header(r, "host") ? header(r, "host")
	                                    : header(r, ":authority");
	if (h) {
		x->host = h;
		x->hostlen = strcspn(h, ":");
	}
}

/* A mirror of a service whose cluster the sources do not describe: the decision there is
 * unknown, so refused (fail closed). */
static int unknown_mirror(const mp_model *m, mp_id svc)
{
	mp_model_view v = mp_model_get_view(m);
	const mp_service *s = &v.services[svc];
	const mp_id *ids;
	if (mp_model_workloads_of_service(m, svc, &ids))
		return 0;
	for (uint32_t i = 0; i < s->labels.n; i++) {
		const mp_label *l = &v.labels[s->labels.off + i];
		if (!strcmp(mp_model_str(m, l->key), "mirror.linkerd.io/mirrored-service") &&
		    !strcmp(mp_model_str(m, l->value), "true"))
			return 1;
	}
	return 0;
}

static void add(mp_decision *d, const outcome *o, const char *msg, int advisory)
{
	mp_reason_origin og = {.provider = mp_provider_linkerd.name,
	                       .resource = o->policy,
	                       .version = o->version ? o->version : "",
	                       .rule = -1,
	                       .rule_name = o->rule ? o->rule : "",
	                       .source = o->source ? o->source : ""};
	mp_decision_add(d, o->kind, msg, advisory, o->policy ? &og : NULL);
}

/* Adds the reason of o, unless one with the same resource and rule is there. */
static void add_once(mp_decision *d, const outcome *o, int mixed, const mp_model *m)
{
	for (uint32_t i = 0; i < d->nreasons; i++) {
		const mp_reason_origin *g = &d->reasons[i].origin;
		if (g->provider == mp_provider_linkerd.name && g->resource == o->policy &&
		    g->rule_name == o->rule)
			return;
	}
	const char *msg =
	    mp_decision_text(d, o->fmt, o->arg1 ? o->arg1 : "", o->arg2 ? o->arg2 : "");
	if (mixed && o->workload != MP_NONE)
		msg = mp_decision_text(
		    d, "%s (workload %s)", msg,
		    mp_model_str(m, mp_model_get_view(m).workloads[o->workload].name));
	add(d, o, msg, 0);
}

#define MAX_UNITS 64

/* The origin of the reasons for a destination no Linkerd proxy guards. */
static const mp_reason_origin no_proxy = {.provider = "linkerd",
                                          .resource = "linkerd.io/inject",
                                          .version = "",
                                          .rule = -1,
                                          .rule_name = "not-meshed",
                                          .source = ""};

uint32_t mp_lkauthz_decide(const mp_lkauthz *a, const mp_provider_request *q, mp_decision *d,
                           json_t *explain_arr, int fallback)
{
	const mp_model *m = a->m;
	const mp_request *r = q->r;
	mp_model_view v = mp_model_get_view(m);
	outcome units[MAX_UNITS];
	uint32_t nu = 0, verdict = MP_PROVIDER_ABSTAIN, meshed = 0;
	const mp_id *ids;
	dctx x;
	if (q->dst_svc == MP_NONE) { /* an external host: Linkerd's inbound policy has no say */
		if (fallback && q->dst_ext != MP_NONE)
			mp_decision_add(
			    d, MP_REASON_ALLOW,
			    "the destination is outside the mesh: no Linkerd proxy decides "
			    "whom it admits",
			    0, &no_proxy);
		return fallback && q->dst_ext != MP_NONE ? MP_PROVIDER_ALLOW : MP_PROVIDER_ABSTAIN;
	}
	if (unknown_mirror(m, q->dst_svc)) {
		if (!fallback)
			mp_decision_add(
			    d, MP_REASON_DENY,
			    "the destination mirrors a service of another cluster that the "
			    "sources do not hold: Linkerd's decision there is unknown",
			    0, NULL);
		return fallback ? MP_PROVIDER_ABSTAIN : MP_PROVIDER_NOT_PERMITTED;
	}
	ctx_init(&x, a, r, explain_arr);
	uint32_t nw = mp_model_workloads_of_service(m, q->dst_svc, &ids);
	for (uint32_t i = 0; i < nw; i++) {
		const mp_workload *w = &v.workloads[ids[i]];
		uint32_t pi = a->pod_of[ids[i]];
		if ((q->dst_cluster != MP_NONE && w->cluster != q->dst_cluster) ||
		    (r->dst_workload && strcmp(r->dst_workload, mp_model_str(m, w->name))))
			continue;
		if (pi == UINT32_MAX)
			continue; /* no proxy: Linkerd has no say there */
		const lk_pod *pod = &a->pods[pi];
		x.wname = mp_model_str(m, w->name);
		meshed++;
		uint32_t ports[MAX_UNITS], np = 0;
		if (r->port)
			ports[np++] = r->port;
		for (uint32_t k = 0; !r->port && k < pod->nports && np < MAX_UNITS; k++)
			if (pod->ports[k].port != PROXY_PORT && pod->ports[k].port != ADMIN_PORT)
				ports[np++] = pod->ports[k].port;
		if (!np)
			ports[np++] = 0;
		for (uint32_t k = 0; k < np && nu < MAX_UNITS; k++) {
			decide_port(&x, pod, ports[k], &units[nu]);
			units[nu].workload = ids[i];
			if (units[nu].verdict > verdict)
				verdict = units[nu].verdict;
			nu++;
		}
	}
	if (fallback) {
		/* nothing decided: the defaults' implicit allow, or no proxy at all */
		if (!meshed)
			mp_decision_add(
			    d, MP_REASON_ALLOW,
			    "the destination's pods run no Linkerd proxy (linkerd.io/inject "
			    "is not enabled on them or their namespace): Linkerd has no say",
			    0, &no_proxy);
		for (uint32_t i = 0; i < nu; i++)
			if (units[i].verdict == MP_PROVIDER_ABSTAIN)
				add_once(d, &units[i], 0, m);
		return MP_PROVIDER_ALLOW;
	}
	int mixed = 0;
	for (uint32_t i = 1; i < nu; i++)
		mixed |= units[i].verdict != units[0].verdict;
	for (uint32_t i = 0; i < nu; i++) {
		if (units[i].verdict == verdict && verdict != MP_PROVIDER_ABSTAIN)
			add_once(d, &units[i], mixed, m);
		if (units[i].audit && units[i].verdict == MP_PROVIDER_ABSTAIN) {
			outcome adv = units[i];
			adv.kind = MP_REASON_AUDIT;
			add(d, &adv, mp_decision_text(d, adv.fmt, adv.arg1, adv.arg2), 1);
		}
	}
	return verdict;
}
