/* state_linkerd.c: the model's Linkerd resources compiled for decisions, as Linkerd's policy
 * controller indexes them (linkerd/linkerd2 policy-controller/k8s/index/src/inbound): each
 * cluster's settings and default authorizations, each meshed pod's ports, probes and
 * settings, the Servers with their authorizations (ServerAuthorizations, AuthorizationPolicies
 * targeting them or their Namespace, their accessPolicy) and their accepted inbound routes,
 * each route with its own AuthorizationPolicies. Deciding: decide_linkerd.c. Semantics:
 * docs/import.md ("Linkerd"). */
#include "alloc.h"
#include "linkerd_int.h"
#include "linkerd_state.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

const char *const mp_lk_default_rules[LK_POLICIES] = {
    "default:deny",
    "default:audit",
    "default:all-unauthenticated",
    "default:all-authenticated",
    "default:cluster-authenticated",
    "default:cluster-unauthenticated",
};

#define POLICY_GROUP "policy.linkerd.io"

typedef struct {
	mp_lkauthz *a;
	char *err;
	size_t errlen;
} cctx;

static int fail(cctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(cctx *c, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(c->err, c->errlen, fmt, ap);
	va_end(ap);
	return -1;
}

const char *mp_linkerd_item(const char *p, char *buf, size_t len)
{
	size_t l = strcspn(p, ",");
	const char *s = p, *e = p + l;
	while (s < e && isspace((unsigned char)*s))
		s++;
	while (e > s && isspace((unsigned char)e[-1]))
		e--;
	snprintf(buf, len, "%.*s", (int)(e - s), s);
	return p + l + (p[l] == ',');
}

/* --- regular expressions: Linkerd's (Rust's regex crate, RE2's syntax) with RE2 --- */

/* What the regex crate reads otherwise than RE2, which takes it as literal characters: a class
 * inside a class and the class set operations '&&', '--', '~~'; the word boundaries '\<',
 * '\>', '\b{...}'; and RE2's own '\Q...\E' and '\C', which the crate refuses. NULL when s
 * has none of them, else what it has. */
static const char *crate_only(const char *s)
{
	int in_class = 0;
	for (const char *p = s; *p; p++) {
		if (*p == '\\') {
			if (p[1] == '<' || p[1] == '>' ||
			    ((p[1] == 'b' || p[1] == 'B') && p[2] == '{'))
				return "the regex crate's word boundaries ('\\<', '\\>', "
				       "'\\b{...}')";
			if (p[1] == 'Q' || p[1] == 'C')
				return "RE2's '\\Q...\\E' and '\\C', which the regex crate refuses";
			p += p[1] != '\0';
		} else if (!in_class && *p == '[') {
			in_class = 1;
			p += p[1] == '^';
			p += p[1] == ']'; /* a leading ']' is a member */
		} else if (in_class && *p == ']') {
			in_class = 0;
		} else if (in_class && *p == '[' && p[1] == ':' && strstr(p + 2, ":]")) {
			p = strstr(p + 2, ":]") + 1; /* [:alpha:] */
		} else if (in_class && *p == '[') {
			return "a class inside a class (the regex crate's nested classes)";
		} else if (in_class && strchr("&-~", *p) && p[1] == *p) {
			return "class set operations ('&&', '--', '~~')";
		}
	}
	return NULL;
}

/* s compiled as Linkerd's proxy would read it: NULL with why in err when RE2 refuses it or
 * would read it otherwise than the regex crate. */
static mp_regex *compile_crate(const char *s, char *err, size_t errlen)
{
	const char *crate = crate_only(s);
	if (crate) {
		snprintf(err, errlen, "%s: RE2 would read it otherwise", crate);
		return NULL;
	}
	return mp_regex_compile(s, strlen(s), err, errlen);
}

int mp_linkerd_regex(const char *s, char *err, size_t errlen)
{
	mp_regex *re = compile_crate(s, err, errlen);
	int ok = re != NULL;
	mp_regex_free(re);
	return ok ? 0 : -1;
}

static const mp_regex *compile_regex(cctx *c, const char *s, const char *what)
{
	char why[200];
	mp_lkauthz *a = c->a;
	mp_regex **list = mp_realloc(a->res, (a->nres + 1) * sizeof(*list));
	if (!list) {
		fail(c, "out of memory");
		return NULL;
	}
	a->res = list;
	mp_regex *re = compile_crate(s, why, sizeof(why));
	if (!re) {
		fail(c, "%s: regular expression '%s': %s", what, s, why);
		return NULL;
	}
	a->res[a->nres++] = re;
	return re;
}

/* --- small readers over a resource's JSON --- */

static const char *jstr(json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

static const char *astr(cctx *c, const char *s)
{
	return s ? mp_arena_str(&c->a->ar, s) : NULL;
}

/* The networks of a comma-separated list (clusterNetworks) or of a JSON networks list
 * [{cidr, except}]. */
static lk_nets nets_of_list(cctx *c, const char *list)
{
	char item[80];
	uint32_t n = 0;
	for (const char *p = list; *p;)
		p = mp_linkerd_item(p, item, sizeof(item)), n += item[0] != '\0';
	lk_net *v = mp_arena_alloc(&c->a->ar, (n + 1) * sizeof(*v));
	uint32_t k = 0;
	for (const char *p = list; v && *p;) {
		p = mp_linkerd_item(p, item, sizeof(item));
		if (item[0] && mp_ipnet_parse(item, &v[k].net, 1) == 0)
			k++;
	}
	return (lk_nets){v, k};
}

static lk_nets nets_of_json(cctx *c, json_t *arr)
{
	size_t i, j;
	json_t *n, *e;
	lk_net *v = mp_arena_alloc(&c->a->ar, (json_array_size(arr) + 1) * sizeof(*v));
	uint32_t k = 0;
	json_array_foreach(arr, i, n)
	{
		const char *cidr = jstr(n, "cidr");
		json_t *except = json_object_get(n, "except");
		if (!v || !cidr || mp_ipnet_parse(cidr, &v[k].net, 1) < 0)
			continue;
		mp_ipnet *ex =
		    mp_arena_alloc(&c->a->ar, (json_array_size(except) + 1) * sizeof(*ex));
		uint32_t nex = 0;
		json_array_foreach(except, j, e)
		{
			if (ex && json_is_string(e) &&
			    mp_ipnet_parse(json_string_value(e), &ex[nex], 1) == 0)
				nex++;
		}
		v[k].except = ex;
		v[k++].nexcept = nex;
	}
	return (lk_nets){v, k};
}

/* A new authorization in the state's list; its index, or UINT32_MAX when out of memory. */
static uint32_t new_authz(cctx *c, const lk_authz *az)
{
	mp_lkauthz *a = c->a;
	lk_authz *v = mp_realloc(a->az, (a->naz + 1) * sizeof(*v));
	if (!v)
		return UINT32_MAX;
	a->az = v;
	v[a->naz] = *az;
	return a->naz++;
}

static int push_index(cctx *c, uint32_t **list, uint32_t *n, uint32_t v)
{
	uint32_t *l = mp_realloc(*list, (*n + 1) * sizeof(**list));
	if (!l)
		return fail(c, "out of memory");
	*list = l;
	l[(*n)++] = v;
	return 0;
}

/* "Kind ns/name" of a resource, its version and "file:line". */
static void describe(cctx *c, const mp_resource *r, const char **title, const char **version,
                     const char **source)
{
	const mp_model *m = c->a->m;
	char where[600];
	*title = mp_arena_printf(&c->a->ar, "%s %s/%s", mp_model_str(m, r->kind),
	                         mp_model_str(m, r->ns), mp_model_str(m, r->name));
	*version = astr(c, mp_model_str(m, r->version));
	*source = astr(c, mp_model_loc_str(m, r->loc, where, sizeof(where)));
}

/* Is resource r a cluster's settings: the ConfigMap linkerd-config (Kubernetes' kind)? */
static int is_config(const mp_model *m, const mp_resource *r)
{
	return !strcmp(mp_model_str(m, r->kind), "ConfigMap") &&
	       !strcmp(mp_model_str(m, r->api), "v1") &&
	       !strcmp(mp_model_str(m, r->name), LK_CONFIG_NAME);
}

/* Does resource r belong to Linkerd and have kind (ConfigMap: its settings; HTTPRoute and
 * GRPCRoute: the Gateway API's too, whose Server-parent routes are Linkerd's inbound ones)? */
static int is(const mp_model *m, const mp_resource *r, const char *kind)
{
	const mp_provider *p;
	if (!strcmp(kind, "ConfigMap"))
		return is_config(m, r);
	if (strcmp(mp_model_str(m, r->kind), kind))
		return 0;
	p = mp_provider_of(m, r);
	return p == &mp_provider_linkerd ||
	       (p == &mp_provider_gatewayapi &&
	        (!strcmp(kind, "HTTPRoute") || !strcmp(kind, "GRPCRoute")));
}

int mp_lkauthz_present(const mp_model *m)
{
	mp_model_view v = mp_model_get_view(m);
	for (uint32_t i = 0; i < v.nresources; i++)
		if (is_config(m, &v.resources[i]))
			return 1;
	return 0;
}

static int same_cluster(mp_id a, mp_id b)
{
	return a == MP_NONE || b == MP_NONE || a == b;
}

/* --- clusters: their settings and default authorizations --- */

/* The authorization of a default policy (policy-controller/k8s/index/src/defaults.rs
 * DefaultPolicy::default_authzs). */
static lk_authz default_authz(const lk_cluster_state *cl, const lk_nets *anywhere, uint32_t p)
{
	lk_authz az = {.kind = LK_AZ_DEFAULT};
	az.identity =
	    p == LK_ALL_AUTHENTICATED || p == LK_CLUSTER_AUTHENTICATED ? LK_ID_ANY : LK_ID_NONE;
	az.nets = p == LK_CLUSTER_AUTHENTICATED || p == LK_CLUSTER_UNAUTHENTICATED ? cl->networks
	          : p == LK_DENY                                                   ? (lk_nets){0}
	                                                                           : *anywhere;
	az.audit = p == LK_AUDIT;
	return az;
}

static int compile_cluster(cctx *c, const mp_resource *r, json_t *spec)
{
	mp_lkauthz *a = c->a;
	lk_cluster_state *cl = &a->cls[a->ncls++];
	const char *probe = NULL;
	char buf[1024] = "";
	size_t at = 0, i;
	json_t *p;
	cl->cluster = r->cluster;
	cl->cp_ns = astr(c, mp_model_str(a->m, r->ns));
	cl->td = astr(c, jstr(spec, "identityTrustDomain") ? jstr(spec, "identityTrustDomain")
	                                                   : "cluster.local");
	cl->networks =
	    nets_of_list(c, jstr(spec, "clusterNetworks") ? jstr(spec, "clusterNetworks") : "");
	json_array_foreach(
	    json_object_get(json_object_get(spec, "policyController"), "probeNetworks"), i, p)
	{
		if (json_is_string(p) && at < sizeof(buf))
			at += (size_t)snprintf(buf + at, sizeof(buf) - at, "%s%s", at ? "," : "",
			                       json_string_value(p));
	}
	probe = buf;
	cl->probe = nets_of_list(c, probe);
	for (uint32_t k = 0; k < LK_POLICIES; k++)
		cl->defaults[k] = default_authz(cl, &a->anywhere, k);
	/* the probe route's: no identity, from the probe networks (index.rs
	 * default_inbound_http_routes) */
	cl->probe_authz =
	    (lk_authz){.kind = LK_AZ_PROBE, .identity = LK_ID_NONE, .nets = cl->probe};
	return a->ar.oom ? fail(c, "out of memory") : 0;
}

static const lk_cluster_state *cluster_of(const mp_lkauthz *a, mp_id cluster)
{
	for (uint32_t i = 0; i < a->ncls; i++)
		if (same_cluster(a->cls[i].cluster, cluster))
			return &a->cls[i];
	return NULL;
}

/* --- servers --- */

static int compile_selector(cctx *c, json_t *sel, lk_server *s)
{
	static const char *const ops[] = {"In", "NotIn", "Exists", "DoesNotExist"};
	json_t *ml = json_object_get(sel, "matchLabels"),
	       *exprs = json_object_get(sel, "matchExpressions");
	const char *k;
	json_t *v, *e;
	size_t i, j;
	lk_kv *kv = mp_arena_alloc(&c->a->ar, (json_object_size(ml) + 1) * sizeof(*kv));
	lk_expr *ex = mp_arena_alloc(&c->a->ar, (json_array_size(exprs) + 1) * sizeof(*ex));
	if (!kv || !ex)
		return fail(c, "out of memory");
	json_object_foreach(ml, k, v)
	{
		kv[s->nmatch].key = astr(c, k);
		kv[s->nmatch++].value = astr(c, json_string_value(v) ? json_string_value(v) : "");
	}
	json_array_foreach(exprs, i, e)
	{
		lk_expr *x = &ex[s->nexprs++];
		json_t *vals = json_object_get(e, "values");
		const char **vv =
		    mp_arena_alloc(&c->a->ar, (json_array_size(vals) + 1) * sizeof(*vv));
		x->key = astr(c, jstr(e, "key") ? jstr(e, "key") : "");
		for (x->op = 0; x->op < 4 &&
		                strcmp(ops[x->op], jstr(e, "operator") ? jstr(e, "operator") : "");
		     x->op++)
			;
		if (x->op == 4)
			return fail(c, "%s: matchExpressions[%zu]: unknown operator", s->title, i);
		json_array_foreach(vals, j, v)
		{
			if (vv && json_is_string(v))
				vv[x->nvalues++] = astr(c, json_string_value(v));
		}
		x->values = vv;
	}
	s->match = kv;
	s->exprs = ex;
	return 0;
}

/* The Server's labels: (key, value) string ids in aux. */
static int server_labels(cctx *c, const mp_resource *r, lk_server *s)
{
	const mp_model *m = c->a->m;
	mp_model_view v = mp_model_get_view(m);
	lk_kv *kv = mp_arena_alloc(&c->a->ar, (r->aux.n / 2 + 1) * sizeof(*kv));
	if (!kv)
		return fail(c, "out of memory");
	for (uint32_t i = 0; i + 1 < r->aux.n; i += 2) {
		uint32_t k = v.u32[r->aux.off + i], val = v.u32[r->aux.off + i + 1];
		if (k >= mp_model_nstrings(m) || val >= mp_model_nstrings(m))
			return fail(c, "%s: a label that is not a string of the model", s->title);
		kv[s->nlabels++] = (lk_kv){mp_model_str(m, k), mp_model_str(m, val)};
	}
	s->labels = kv;
	return 0;
}

static int compile_server(cctx *c, const mp_resource *r, json_t *spec)
{
	static const char *const protos[] = {"unknown", "HTTP/1", "HTTP/2",
	                                     "gRPC",    "opaque", "TLS"};
	mp_lkauthz *a = c->a;
	lk_server *s = &a->servers[a->nservers++];
	json_t *port = json_object_get(spec, "port");
	const char *proto = jstr(spec, "proxyProtocol"), *access = jstr(spec, "accessPolicy");
	describe(c, r, &s->title, &s->version, &s->source);
	s->name = astr(c, mp_model_str(a->m, r->name));
	s->ns = r->ns;
	s->cluster = r->cluster;
	s->external = json_object_get(spec, "externalWorkloadSelector") != NULL;
	if (json_is_integer(port))
		s->port = (uint32_t)json_integer_value(port);
	else if (json_is_string(port))
		s->port_name = astr(c, json_string_value(port));
	else
		return fail(c, "%s: spec.port must be a port number or name", s->title);
	for (s->proto = 0; proto && s->proto < 6 && strcmp(protos[s->proto], proto); s->proto++)
		;
	if (s->proto == 6)
		return fail(c, "%s: unknown proxyProtocol '%s'", s->title, proto);
	if (!proto)
		s->proto = LK_P_DETECT;
	s->access = access ? mp_linkerd_policy(access) : LK_DENY;
	if (access && s->access == LK_POLICY_NONE)
		return fail(c, "%s: unknown accessPolicy '%s'", s->title, access);
	if (compile_selector(
	        c, json_object_get(spec, s->external ? "externalWorkloadSelector" : "podSelector"),
	        s) < 0 ||
	    server_labels(c, r, s) < 0)
		return -1;
	return 0;
}

/* --- inbound routes --- */

static int compile_value(cctx *c, json_t *o, int path, const char *what, lk_value *out)
{
	const char *type = jstr(o, "type"), *value = jstr(o, "value");
	if (!value)
		value = "/";
	out->text = astr(c, value);
	out->len = (uint32_t)strlen(value);
	out->kind = !type                         ? (path ? LK_VAL_PREFIX : LK_VAL_EXACT)
	            : !strcmp(type, "Exact")      ? LK_VAL_EXACT
	            : !strcmp(type, "PathPrefix") ? LK_VAL_PREFIX
	                                          : LK_VAL_REGEX;
	if (out->kind == LK_VAL_REGEX && !(out->re = compile_regex(c, value, what)))
		return -1;
	return 0;
}

static int compile_params(cctx *c, json_t *arr, int lower, const char *what, const lk_param **out,
                          uint32_t *n)
{
	size_t i;
	json_t *p;
	lk_param *v = mp_arena_alloc(&c->a->ar, (json_array_size(arr) + 1) * sizeof(*v));
	if (!v)
		return fail(c, "out of memory");
	json_array_foreach(arr, i, p)
	{
		char *name = (char *)astr(c, jstr(p, "name") ? jstr(p, "name") : "");
		for (char *q = name; lower && q && *q; q++)
			*q = (char)tolower((unsigned char)*q);
		v[*n].name = name;
		if (compile_value(c, p, 0, what, &v[*n].value) < 0)
			return -1;
		(*n)++;
	}
	*out = v;
	return 0;
}

static int compile_match(cctx *c, json_t *m, int grpc, const char *what, lk_match *out)
{
	if (grpc) {
		json_t *method = json_object_get(m, "method");
		out->service = astr(c, jstr(method, "service"));
		out->rpc = astr(c, jstr(method, "method"));
	} else {
		/* no path: PathPrefix "/" (the CRD's default, and the controller's) */
		json_t *path = json_object_get(m, "path");
		if (compile_value(c, path, 1, what, &out->path) < 0 ||
		    compile_params(c, json_object_get(m, "queryParams"), 0, what, &out->query,
		                   &out->nquery) < 0)
			return -1;
		out->method = jstr(m, "method") ? mp_method_bit(jstr(m, "method")) : 0;
	}
	return compile_params(c, json_object_get(m, "headers"), 1, what, &out->headers,
	                      &out->nheaders);
}

/* Is the route inbound (every parentRef a Server of its namespace, without port or section)?
 * The policy controller ignores it for inbound otherwise (inbound/routes.rs). */
static int inbound_parents(json_t *spec, const char *ns)
{
	size_t i;
	json_t *p;
	int servers = 0;
	json_array_foreach(json_object_get(spec, "parentRefs"), i, p)
	{
		const char *kind = jstr(p, "kind"), *group = jstr(p, "group"),
		           *pns = jstr(p, "namespace");
		if (!kind || strcasecmp(kind, "Server") || !group ||
		    strcasecmp(group, POLICY_GROUP))
			continue;
		if ((pns && strcmp(pns, ns)) || json_object_get(p, "port") ||
		    json_object_get(p, "sectionName"))
			return 0;
		servers++;
	}
	return servers > 0;
}

static int compile_route(cctx *c, const mp_resource *r, json_t *spec)
{
	mp_lkauthz *a = c->a;
	lk_route *rt = &a->routes[a->nroutes++];
	const char *api = mp_model_str(a->m, r->api), *slash = strrchr(api, '/');
	json_t *rules = json_object_get(spec, "rules"), *rule, *m, *h;
	size_t i, j;
	describe(c, r, &rt->title, &rt->version, &rt->source);
	rt->name = astr(c, mp_model_str(a->m, r->name));
	rt->rule = mp_arena_printf(&a->ar, "route:%s", rt->name);
	rt->group = mp_arena_strn(&a->ar, api, slash ? (size_t)(slash - api) : 0);
	rt->ns = r->ns;
	rt->cluster = r->cluster;
	rt->grpc = !strcmp(mp_model_str(a->m, r->kind), "GRPCRoute");
	rt->inbound = inbound_parents(spec, mp_model_str(a->m, r->ns));
	json_t *hosts = json_object_get(spec, "hostnames");
	const char **hv = mp_arena_alloc(&a->ar, (json_array_size(hosts) + 1) * sizeof(*hv));
	lk_rule *rv = mp_arena_alloc(&a->ar, (json_array_size(rules) + 1) * sizeof(*rv));
	if (!hv || !rv)
		return fail(c, "out of memory");
	json_array_foreach(hosts, i, h)
	{
		if (json_is_string(h))
			hv[rt->nhosts++] = astr(c, json_string_value(h));
	}
	rt->hosts = hv;
	json_array_foreach(rules, i, rule)
	{
		json_t *matches = json_object_get(rule, "matches");
		size_t n = json_array_size(matches);
		/* an HTTPRoute rule without matches has the CRD's default, PathPrefix "/"; a
		 * GRPCRoute's matches anything */
		int dflt = !n && !rt->grpc;
		lk_match *mv = mp_arena_alloc(&a->ar, (n + dflt + 1) * sizeof(*mv));
		if (!mv)
			return fail(c, "out of memory");
		if (dflt)
			mv[0].path = (lk_value){LK_VAL_PREFIX, "/", 1, NULL};
		json_array_foreach(matches, j, m)
		{
			if (compile_match(c, m, rt->grpc, rt->title, &mv[j]) < 0)
				return -1;
		}
		rv[rt->nrules++] = (lk_rule){mv, (uint32_t)(n + (size_t)dflt)};
	}
	rt->rules = rv;
	return a->ar.oom ? fail(c, "out of memory") : 0;
}

/* --- authentications and authorizations --- */

/* The resource named by a ref: kind, namespace (default: ns) and name, in cluster. */
static const mp_resource *find(const mp_model *m, const char *kind, const char *ns,
                               const char *name, mp_id cluster)
{
	mp_model_view v = mp_model_get_view(m);
	for (uint32_t i = 0; name && i < v.nresources; i++) {
		const mp_resource *r = &v.resources[i];
		if (is(m, r, kind) && !strcmp(mp_model_str(m, r->ns), ns) &&
		    !strcmp(mp_model_str(m, r->name), name) && same_cluster(r->cluster, cluster))
			return r;
	}
	return NULL;
}

/* Identities: an exact string, "*.suffix" or a lone "*" (core/src/identity_match.rs); a "*"
 * anywhere else is a literal character. */
static void add_identity(cctx *c, lk_authz *az, const char *id, const char **ex, const char **sx)
{
	if (!strcmp(id, "*"))
		az->identity = LK_ID_ANY;
	else if (!strncmp(id, "*.", 2))
		sx[az->nsuffix++] = astr(c, id + 2);
	else
		ex[az->nexact++] = astr(c, id);
}

static const char *sa_identity(cctx *c, const char *sa, const char *ns, const lk_cluster_state *cl)
{
	return mp_arena_printf(&c->a->ar, "%s.%s.serviceaccount.identity.%s.%s", sa, ns, cl->cp_ns,
	                       cl->td);
}

/* A MeshTLSAuthentication's identities and identityRefs into az; 0, or 1 when it is invalid
 * (an unsupported ref kind: Linkerd ignores it, and every policy naming it). */
static int meshtls_identities(cctx *c, json_t *spec, const char *ns, const lk_cluster_state *cl,
                              lk_authz *az)
{
	json_t *ids = json_object_get(spec, "identities"),
	       *refs = json_object_get(spec, "identityRefs");
	size_t n = json_array_size(ids) + json_array_size(refs) + 1, i;
	const char **ex = mp_arena_alloc(&c->a->ar, n * sizeof(*ex));
	const char **sx = mp_arena_alloc(&c->a->ar, n * sizeof(*sx));
	json_t *v;
	if (!ex || !sx)
		return fail(c, "out of memory");
	az->identity = LK_ID_LISTED;
	json_array_foreach(ids, i, v)
	{
		if (json_is_string(v))
			add_identity(c, az, json_string_value(v), ex, sx);
	}
	json_array_foreach(refs, i, v)
	{
		const char *kind = jstr(v, "kind"), *name = jstr(v, "name"),
		           *rns = jstr(v, "namespace");
		if (kind && !strcasecmp(kind, "ServiceAccount") &&
		    mp_linkerd_group_is(jstr(v, "group"), ""))
			ex[az->nexact++] = sa_identity(c, name ? name : "", rns ? rns : ns, cl);
		else if (kind && !strcasecmp(kind, "Namespace") &&
		         mp_linkerd_group_is(jstr(v, "group"), ""))
			sx[az->nsuffix++] =
			    mp_arena_printf(&c->a->ar, "%s.serviceaccount.identity.%s.%s",
			                    name ? name : "", cl->cp_ns, cl->td);
		else
			return 1;
	}
	az->exact = ex;
	az->suffix = sx;
	return 0;
}

/* An AuthorizationPolicy's requiredAuthenticationRefs into az (index.rs policy_client_authz):
 * one identity requirement (a MeshTLSAuthentication or a ServiceAccount) and one
 * NetworkAuthentication at most; none of either: any client, from anywhere. 0; 1 when the
 * policy is ignored (a ref that does not exist, an unsupported kind, two of a kind); -1. */
static int policy_authns(cctx *c, const mp_resource *r, json_t *spec, const lk_cluster_state *cl,
                         lk_authz *az)
{
	const mp_model *m = c->a->m;
	const char *ns = mp_model_str(m, r->ns);
	int nid = 0, nnet = 0;
	size_t i;
	json_t *ref;
	az->identity = LK_ID_NONE;
	az->nets = c->a->anywhere;
	json_array_foreach(json_object_get(spec, "requiredAuthenticationRefs"), i, ref)
	{
		const char *kind = jstr(ref, "kind"), *group = jstr(ref, "group");
		const char *name = jstr(ref, "name"), *rns = jstr(ref, "namespace");
		const mp_resource *t;
		json_t *tspec;
		if (!kind)
			return 1;
		if (!strcasecmp(kind, "ServiceAccount") && mp_linkerd_group_is(group, "")) {
			const char **ex = mp_arena_alloc(&c->a->ar, sizeof(*ex));
			if (nid++ || !ex)
				return ex ? 1 : fail(c, "out of memory");
			ex[0] = sa_identity(c, name ? name : "", rns ? rns : ns, cl);
			*az = (lk_authz){
			    .identity = LK_ID_LISTED, .exact = ex, .nexact = 1, .nets = az->nets};
			continue;
		}
		int mtls = !strcasecmp(kind, "MeshTLSAuthentication");
		int net = !strcasecmp(kind, "NetworkAuthentication");
		if ((!mtls && !net) || !mp_linkerd_group_is(group, POLICY_GROUP))
			return 1; /* "unsupported authentication target" */
		if ((mtls && nid++) || (net && nnet++))
			return 1; /* "policy must not include multiple ..." */
		t = find(m, mtls ? "MeshTLSAuthentication" : "NetworkAuthentication",
		         rns ? rns : ns, name, r->cluster);
		if (!t)
			return 1; /* "could not find ..." */
		tspec = json_loads(mp_model_str(m, t->spec), 0, NULL);
		int rc = 0;
		if (!tspec)
			rc = fail(c, "%s: its spec is not JSON", mp_model_str(m, t->name));
		else if (mtls)
			rc = meshtls_identities(c, tspec, mp_model_str(m, t->ns), cl, az);
		else
			az->nets = nets_of_json(c, json_object_get(tspec, "networks"));
		json_decref(tspec);
		if (rc)
			return rc;
	}
	return c->a->ar.oom ? fail(c, "out of memory") : 0;
}

/* Does the ServerAuthorization's server select Server s (server_authorization.rs: by name, by
 * labels, or every Server of the namespace)? */
static int saz_selects(json_t *server, const lk_server *s)
{
	const char *name = jstr(server, "name"), *k;
	json_t *sel = json_object_get(server, "selector"), *v;
	if (name)
		return !strcmp(name, s->name);
	json_object_foreach(json_object_get(sel, "matchLabels"), k, v)
	{
		uint32_t i;
		for (i = 0;
		     i < s->nlabels &&
		     (strcmp(s->labels[i].key, k) ||
		      strcmp(s->labels[i].value, json_string_value(v) ? json_string_value(v) : ""));
		     i++)
			;
		if (i == s->nlabels)
			return 0;
	}
	return 1;
}

static int compile_saz(cctx *c, const mp_resource *r, json_t *spec)
{
	mp_lkauthz *a = c->a;
	json_t *client = json_object_get(spec, "client"),
	       *mtls = json_object_get(client, "meshTLS");
	const lk_cluster_state *cl = cluster_of(a, r->cluster);
	lk_authz az = {.kind = LK_AZ_SAZ};
	size_t i;
	json_t *v;
	if (!cl)
		return fail(c, "ServerAuthorization: no cluster settings");
	describe(c, r, &az.title, &az.version, &az.source);
	/* networks: absent or empty, the cluster networks (grpc/src/inbound.rs to_authz) */
	az.nets = json_array_size(json_object_get(client, "networks"))
	              ? nets_of_json(c, json_object_get(client, "networks"))
	              : cl->networks;
	if (json_is_true(json_object_get(client, "unauthenticated"))) {
		az.identity = LK_ID_NONE;
	} else if (json_is_true(json_object_get(mtls, "unauthenticatedTLS"))) {
		az.identity = LK_ID_ANY; /* TLS without an identity: meshpol cannot tell */
	} else {
		json_t *ids = json_object_get(mtls, "identities"),
		       *sas = json_object_get(mtls, "serviceAccounts");
		size_t n = json_array_size(ids) + json_array_size(sas) + 1;
		const char **ex = mp_arena_alloc(&a->ar, n * sizeof(*ex)),
		           **sx = mp_arena_alloc(&a->ar, n * sizeof(*sx));
		if (!ex || !sx)
			return fail(c, "out of memory");
		az.identity = LK_ID_LISTED;
		json_array_foreach(ids, i, v)
		{
			if (json_is_string(v))
				add_identity(c, &az, json_string_value(v), ex, sx);
		}
		json_array_foreach(sas, i, v)
		{
			const char *ns = jstr(v, "namespace");
			ex[az.nexact++] = sa_identity(c, jstr(v, "name") ? jstr(v, "name") : "",
			                              ns ? ns : mp_model_str(a->m, r->ns), cl);
		}
		az.exact = ex;
		az.suffix = sx;
		if (az.identity == LK_ID_LISTED && !az.nexact && !az.nsuffix)
			return 0; /* no identities: invalid, ignored */
	}
	uint32_t k = UINT32_MAX;
	for (uint32_t s = 0; s < a->nservers; s++) {
		lk_server *sv = &a->servers[s];
		if (sv->ns != r->ns || !same_cluster(sv->cluster, r->cluster) ||
		    !saz_selects(json_object_get(spec, "server"), sv))
			continue;
		if (k == UINT32_MAX && (k = new_authz(c, &az)) == UINT32_MAX)
			return fail(c, "out of memory");
		if (push_index(c, &sv->authz, &sv->nauthz, k) < 0)
			return -1;
	}
	return a->ar.oom ? fail(c, "out of memory") : 0;
}

static int compile_policy(cctx *c, const mp_resource *r, json_t *spec)
{
	mp_lkauthz *a = c->a;
	json_t *target = json_object_get(spec, "targetRef");
	const char *kind = jstr(target, "kind"), *group = jstr(target, "group"),
	           *name = jstr(target, "name");
	const lk_cluster_state *cl = cluster_of(a, r->cluster);
	lk_authz az = {.kind = LK_AZ_POLICY};
	if (!cl)
		return fail(c, "AuthorizationPolicy: no cluster settings");
	int rc = policy_authns(c, r, spec, cl, &az);
	if (rc)
		return rc < 0 ? -1 : 0; /* ignored as a whole */
	az.kind = LK_AZ_POLICY;
	describe(c, r, &az.title, &az.version, &az.source);
	uint32_t k = new_authz(c, &az);
	if (k == UINT32_MAX)
		return fail(c, "out of memory");
	if (!kind)
		return 0;
	if (!strcasecmp(kind, "Server") && mp_linkerd_group_is(group, POLICY_GROUP)) {
		for (uint32_t s = 0; s < a->nservers; s++)
			if (a->servers[s].ns == r->ns &&
			    same_cluster(a->servers[s].cluster, r->cluster) && name &&
			    !strcmp(a->servers[s].name, name) &&
			    push_index(c, &a->servers[s].authz, &a->servers[s].nauthz, k) < 0)
				return -1;
	} else if (!strcasecmp(kind, "Namespace") && mp_linkerd_group_is(group, "")) {
		/* every Server of the policy's namespace (index.rs: the index is per namespace) */
		for (uint32_t s = 0; s < a->nservers; s++)
			if (a->servers[s].ns == r->ns &&
			    same_cluster(a->servers[s].cluster, r->cluster) &&
			    push_index(c, &a->servers[s].authz, &a->servers[s].nauthz, k) < 0)
				return -1;
	} else if (!strcasecmp(kind, "HTTPRoute") || !strcasecmp(kind, "GRPCRoute")) {
		/* the route of that group, kind and name (core/src/routes.rs GroupKindName) */
		for (uint32_t i = 0; i < a->nroutes; i++) {
			lk_route *rt = &a->routes[i];
			if (rt->ns == r->ns && same_cluster(rt->cluster, r->cluster) && name &&
			    !strcmp(rt->name, name) &&
			    !strcasecmp(rt->grpc ? "GRPCRoute" : "HTTPRoute", kind) &&
			    mp_linkerd_group_is(group, rt->group) &&
			    push_index(c, &rt->authz, &rt->nauthz, k) < 0)
				return -1;
		}
	}
	return 0; /* another kind: "unsupported authorization target type", nothing */
}

/* A Server's accessPolicy: one more of its authorizations (index.rs client_authzs). */
static int compile_access(cctx *c, lk_server *s)
{
	const lk_cluster_state *cl = cluster_of(c->a, s->cluster);
	if (s->access == LK_DENY || !cl)
		return 0;
	lk_authz az = cl->defaults[s->access];
	az.kind = LK_AZ_ACCESS;
	az.title = s->title;
	az.version = s->version;
	az.source = s->source;
	az.rule = mp_arena_printf(&c->a->ar, "accessPolicy:%s", mp_linkerd_policies[s->access]);
	uint32_t k = new_authz(c, &az);
	if (k == UINT32_MAX)
		return fail(c, "out of memory");
	return push_index(c, &s->authz, &s->nauthz, k);
}

/* --- the routes each Server uses --- */

/* Linkerd's order of routes without a creation time (Git has none): name, group, kind. */
static int route_before(const lk_route *p, const lk_route *q)
{
	int d = strcmp(p->name, q->name);
	if (!d)
		d = strcmp(p->group, q->group);
	return (d ? d : (int)p->grpc - (int)q->grpc) < 0;
}

static void sort_routes(const mp_lkauthz *a, uint32_t *v, uint32_t n)
{
	for (uint32_t i = 1; i < n; i++) /* a server has few routes: insertion sort */
		for (uint32_t j = i; j > 0 && route_before(&a->routes[v[j]], &a->routes[v[j - 1]]);
		     j--) {
			uint32_t t = v[j];
			v[j] = v[j - 1];
			v[j - 1] = t;
		}
}

/* Does the route name Server s among its parents? */
static int has_parent(const lk_server *s, json_t *spec)
{
	size_t i;
	json_t *p;
	json_array_foreach(json_object_get(spec, "parentRefs"), i, p)
	{
		const char *kind = jstr(p, "kind"), *group = jstr(p, "group"),
		           *name = jstr(p, "name");
		if (kind && !strcasecmp(kind, "Server") && group &&
		    !strcasecmp(group, POLICY_GROUP) && name && !strcmp(name, s->name))
			return 1;
	}
	return 0;
}

/* Each Server's accepted routes of its protocol, in Linkerd's order (grpc/src/inbound/http.rs
 * to_route_list: creation time, which Git does not have, then name, group, kind). An
 * HTTPRoute is not accepted by a Server a GRPCRoute also attaches to (the status controller's
 * conflict rule). */
static int server_routes(cctx *c, json_t **specs)
{
	mp_lkauthz *a = c->a;
	for (uint32_t s = 0; s < a->nservers; s++) {
		lk_server *sv = &a->servers[s];
		int grpc_attached = 0;
		for (uint32_t i = 0; i < a->nroutes; i++) {
			lk_route *rt = &a->routes[i];
			grpc_attached |= rt->grpc && rt->inbound && rt->ns == sv->ns &&
			                 same_cluster(rt->cluster, sv->cluster) &&
			                 has_parent(sv, specs[i]);
		}
		if (sv->proto == LK_P_OPAQUE || sv->proto == LK_P_TLS)
			continue;
		for (uint32_t i = 0; i < a->nroutes; i++) {
			lk_route *rt = &a->routes[i];
			if (!rt->inbound || rt->ns != sv->ns ||
			    !same_cluster(rt->cluster, sv->cluster) || !has_parent(sv, specs[i]) ||
			    (!rt->grpc && grpc_attached) ||
			    (sv->proto == LK_P_GRPC) != (rt->grpc != 0))
				continue;
			if (push_index(c, &sv->routes, &sv->nroutes, i) < 0)
				return -1;
		}
		sort_routes(a, sv->routes, sv->nroutes);
	}
	return 0;
}

/* --- pods --- */

static int ranges(cctx *c, json_t *arr, const lk_range **out, uint32_t *n)
{
	size_t i;
	json_t *r;
	lk_range *v = mp_arena_alloc(&c->a->ar, (json_array_size(arr) + 1) * sizeof(*v));
	if (!v)
		return fail(c, "out of memory");
	json_array_foreach(arr, i, r)
	{
		v[*n].lo = (uint32_t)json_integer_value(json_array_get(r, 0));
		v[(*n)++].hi = (uint32_t)json_integer_value(json_array_get(r, 1));
	}
	*out = v;
	return 0;
}

/* "file:line" of the (file, line) pair at aux[i], or "" (a setting with no place). */
static const char *aux_source(cctx *c, const mp_resource *r, uint32_t i)
{
	const mp_model *m = c->a->m;
	mp_model_view v = mp_model_get_view(m);
	char where[600];
	if (i + 1 >= r->aux.n)
		return "";
	mp_loc l = {v.u32[r->aux.off + i], v.u32[r->aux.off + i + 1], 0};
	if (l.file >= mp_model_nstrings(m)) {
		fail(c, "%s %s/%s: a location that is not in the model", LK_PROXY_KIND,
		     mp_model_str(m, r->ns), mp_model_str(m, r->name));
		return NULL;
	}
	return l.file ? astr(c, mp_model_loc_str(m, l, where, sizeof(where))) : "";
}

static int compile_pod(cctx *c, const mp_resource *r, json_t *spec)
{
	mp_lkauthz *a = c->a;
	mp_model_view v = mp_model_get_view(a->m);
	const char *kind = jstr(spec, "kind"), *policy = jstr(spec, "defaultInboundPolicy");
	json_t *ports = json_object_get(spec, "ports"), *probes = json_object_get(spec, "probes"),
	       *p;
	size_t i;
	mp_id w;
	for (w = 0; w < v.nworkloads; w++) {
		const mp_workload *wl = &v.workloads[w];
		if (wl->name == r->name && kind && !strcmp(mp_model_str(a->m, wl->kind), kind) &&
		    !strcmp(mp_model_str(a->m, v.namespaces[wl->ns].name),
		            mp_model_str(a->m, r->ns)) &&
		    same_cluster(r->cluster, wl->cluster))
			break;
	}
	if (w == v.nworkloads)
		return 0; /* a record of a workload the model does not hold: nothing to decide */
	lk_pod *pod = &a->pods[a->npods];
	pod->workload = w;
	pod->cl = cluster_of(a, v.workloads[w].cluster);
	pod->policy = mp_linkerd_policy(policy);
	if (!pod->cl || pod->policy == LK_POLICY_NONE)
		return fail(c, "%s %s/%s: bad record", LK_PROXY_KIND, mp_model_str(a->m, r->ns),
		            mp_model_str(a->m, r->name));
	pod->default_rule = mp_lk_default_rules[pod->policy];
	pod->policy_from =
	    astr(c, jstr(spec, "defaultInboundPolicyFrom") ? jstr(spec, "defaultInboundPolicyFrom")
	                                                   : "");
	pod->require_from = astr(c, jstr(spec, "requireIdentityFrom"));
	if (!(pod->policy_source = aux_source(c, r, 0)) ||
	    !(pod->require_source = aux_source(c, r, 2)))
		return -1;
	lk_port *pv = mp_arena_alloc(&a->ar, (json_array_size(ports) + 1) * sizeof(*pv));
	lk_probe *bv = mp_arena_alloc(&a->ar, (json_array_size(probes) + 1) * sizeof(*bv));
	if (!pv || !bv)
		return fail(c, "out of memory");
	json_array_foreach(ports, i, p)
	{
		pv[pod->nports].name = astr(c, jstr(p, "name"));
		pv[pod->nports++].port = (uint32_t)json_integer_value(json_object_get(p, "port"));
	}
	json_array_foreach(probes, i, p)
	{
		bv[pod->nprobes].path = astr(c, jstr(p, "path") ? jstr(p, "path") : "/");
		bv[pod->nprobes++].port = (uint32_t)json_integer_value(json_object_get(p, "port"));
	}
	pod->ports = pv;
	pod->probes = bv;
	if (ranges(c, json_object_get(spec, "opaquePorts"), &pod->opaque, &pod->nopaque) < 0 ||
	    ranges(c, json_object_get(spec, "requireIdentityPorts"), &pod->require,
	           &pod->nrequire) < 0)
		return -1;
	a->pod_of[w] = a->npods++;
	return 0;
}

/* --- the whole state --- */

typedef int (*compile_fn)(cctx *c, const mp_resource *r, json_t *spec);

/* Compiles every resource of kind (Linkerd's, or the records' kind) with fn, in model order;
 * specs[i] keeps the JSON of the i-th when specs is given (the caller frees them). */
static int each(cctx *c, const char *kind, int record, compile_fn fn, json_t **specs)
{
	const mp_model *m = c->a->m;
	mp_model_view v = mp_model_get_view(m);
	uint32_t n = 0;
	for (uint32_t i = 0; i < v.nresources; i++) {
		const mp_resource *r = &v.resources[i];
		if (record ? strcmp(mp_model_str(m, r->kind), kind) ||
		                 strcmp(mp_model_str(m, r->api), LK_PROXY_API)
		           : !is(m, r, kind))
			continue;
		json_t *spec = json_loads(mp_model_str(m, r->spec), 0, NULL);
		int rc = spec ? fn(c, r, spec)
		              : fail(c, "%s %s/%s: its spec is not JSON", kind,
		                     mp_model_str(m, r->ns), mp_model_str(m, r->name));
		if (specs)
			specs[n++] = spec;
		else
			json_decref(spec);
		if (rc < 0)
			return -1;
	}
	return 0;
}

static uint32_t count(const mp_model *m, const char *kind, int record)
{
	mp_model_view v = mp_model_get_view(m);
	uint32_t n = 0;
	for (uint32_t i = 0; i < v.nresources; i++)
		n += record ? !strcmp(mp_model_str(m, v.resources[i].kind), kind)
		            : is(m, &v.resources[i], kind);
	return n;
}

int mp_lkauthz_compile(const mp_model *m, mp_lkauthz **out, char *err, size_t errlen)
{
	mp_model_view v = mp_model_get_view(m);
	uint32_t ncl = count(m, "ConfigMap", 0);
	uint32_t nroutes = count(m, "HTTPRoute", 0) + count(m, "GRPCRoute", 0);
	json_t **specs = NULL;
	*out = NULL;
	if (!ncl)
		return 0; /* Linkerd holds nothing here: it sits out */
	mp_lkauthz *a = mp_calloc(1, sizeof(*a));
	cctx c = {a, err, errlen};
	if (!a)
		goto oom;
	a->m = m;
	mp_ipnet_parse("0.0.0.0/0", &a->all[0].net, 1);
	mp_ipnet_parse("::/0", &a->all[1].net, 1);
	a->anywhere = (lk_nets){a->all, 2};
	a->cls = mp_arena_alloc(&a->ar, ncl * sizeof(*a->cls));
	a->servers = mp_arena_alloc(&a->ar, (count(m, "Server", 0) + 1) * sizeof(*a->servers));
	a->routes = mp_arena_alloc(&a->ar, (nroutes + 1) * sizeof(*a->routes));
	a->pods = mp_arena_alloc(&a->ar, (count(m, LK_PROXY_KIND, 1) + 1) * sizeof(*a->pods));
	a->pod_of = mp_arena_alloc(&a->ar, (v.nworkloads + 1) * sizeof(*a->pod_of));
	specs = mp_calloc(nroutes + 1, sizeof(*specs));
	if (a->ar.oom || !specs)
		goto oom;
	for (uint32_t w = 0; w < v.nworkloads; w++)
		a->pod_of[w] = UINT32_MAX;
	if (each(&c, "ConfigMap", 0, compile_cluster, NULL) < 0 ||
	    each(&c, LK_PROXY_KIND, 1, compile_pod, NULL) < 0 ||
	    each(&c, "Server", 0, compile_server, NULL) < 0 ||
	    each(&c, "HTTPRoute", 0, compile_route, specs) < 0 ||
	    each(&c, "GRPCRoute", 0, compile_route, specs + count(m, "HTTPRoute", 0)) < 0 ||
	    server_routes(&c, specs) < 0 ||
	    each(&c, "ServerAuthorization", 0, compile_saz, NULL) < 0 ||
	    each(&c, "AuthorizationPolicy", 0, compile_policy, NULL) < 0)
		goto fail;
	for (uint32_t s = 0; s < a->nservers; s++)
		if (compile_access(&c, &a->servers[s]) < 0)
			goto fail;
	if (a->ar.oom)
		goto oom;
	for (uint32_t i = 0; i < nroutes; i++)
		json_decref(specs[i]);
	mp_free(specs);
	*out = a;
	return 0;
oom:
	snprintf(err, errlen, "out of memory");
fail:
	for (uint32_t i = 0; specs && i < nroutes; i++)
		json_decref(specs[i]);
	mp_free(specs);
	mp_lkauthz_free(a);
	return -1;
}

void mp_lkauthz_free(mp_lkauthz *a)
{
	if (!a)
		return;
	for (uint32_t i = 0; i < a->nres; i++)
		mp_regex_free(a->res[i]);
	mp_free(a->res);
	for (uint32_t s = 0; s < a->nservers; s++) {
		mp_free(a->servers[s].authz);
		mp_free(a->servers[s].routes);
	}
	for (uint32_t i = 0; i < a->nroutes; i++)
		mp_free(a->routes[i].authz);
	mp_free(a->az);
	mp_arena_free(&a->ar);
	mp_free(a);
}
