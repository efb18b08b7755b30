/* provider_consul.c: Consul's service mesh (consul.hashicorp.com, and the same config entries in
 * the form `consul config read -format json` prints). Its importer (import_consul.c,
 * routes_consul.c, schema_consul.c) and analyzers (analyze_consul.c) map its entries into the
 * model; its authorization ops compile the model's intentions (intentions.h) and decide a
 * request as Envoy's RBAC, which Consul generates, enforces it; with no intention deciding,
 * the datacenter's intention default does. docs/import.md ("Consul"). */
#include "consul_int.h"
#include "intentions.h"
#include "match.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#define GROUP "consul.hashicorp.com", " v1alpha1 "

/* Each CRD is also a config entry of its ConsulKind() (consul-k8s), in the form below. */
const mp_provider_kind mp_consul_kinds[CK_KINDS + 1] = {
    [CK_SERVICEINTENTIONS] = {GROUP, "ServiceIntentions", MP_KIND_FORM, NULL, "service-intentions"},
    [CK_SERVICEDEFAULTS] = {GROUP, "ServiceDefaults", MP_KIND_FORM, NULL, "service-defaults"},
    [CK_PROXYDEFAULTS] = {GROUP, "ProxyDefaults", MP_KIND_FORM, NULL, "proxy-defaults"},
    [CK_SERVICEROUTER] = {GROUP, "ServiceRouter", MP_KIND_FORM, NULL, "service-router"},
    [CK_SERVICESPLITTER] = {GROUP, "ServiceSplitter", MP_KIND_FORM, NULL, "service-splitter"},
    [CK_SERVICERESOLVER] = {GROUP, "ServiceResolver", MP_KIND_FORM, NULL, "service-resolver"},
    [CK_MESH] = {GROUP, "Mesh", MP_KIND_FORM, NULL, "mesh"},
    [CK_EXPORTEDSERVICES] = {GROUP, "ExportedServices", MP_KIND_FORM, NULL, "exported-services"},
    [CK_TERMINATINGGATEWAY] = {GROUP, "TerminatingGateway", MP_KIND_FORM, NULL,
                               "terminating-gateway"},
    [CK_INGRESSGATEWAY] = {GROUP, "IngressGateway", MP_KIND_FORM, NULL, "ingress-gateway"},
    [CK_KINDS] = {NULL, NULL, NULL, 0, NULL, NULL},
};

/* Config entries as `consul config read -format json` prints them: one, or a list. */
static const struct mp_provider_form form = {
    .title = "config entry",
    .kind_key = "Kind",
    .name_key = "Name",
    .ns_key = "Namespace",
};

static const mp_provider_option options[] = {
    {"default-intention-policy",
     "the intention default, allow or deny, over what the server configuration says", NULL},
    {"namespaces",
     "Kubernetes namespaces as Consul namespaces: off (Consul CE), mirror, mirror=PREFIX, or "
     "one namespace for all; over the connect injector's flags",
     NULL},
    {NULL, NULL, NULL},
};

/* --- the request as Consul sees it --- */

enum { CALLER_OK = 0, CALLER_PLAINTEXT, CALLER_FOREIGN };

typedef struct {
	char ns[256], name[256], partition[256], peer[256];
	cx_caller c;
} caller_buf;

/* Is host the local trust domain: --trust-domain when given, else any *.consul (Consul's is
 * <cluster-id>.consul, in no file meshpol reads)? */
static int local_domain(const consul_authz *a, const char *host, size_t n)
{
	if (a->trust_domain)
		return strlen(a->trust_domain) == n && !strncasecmp(a->trust_domain, host, n);
	return (n == 6 && !strncasecmp(host, "consul", 6)) ||
	       (n > 7 && !strncasecmp(host + n - 7, ".consul", 7));
}

/* spiffe://HOST[/ap/AP]/ns/NS/dc/DC/svc/NAME (consul connect/uri_service.go); the datacenter
 * is not checked (rbac.go makeSpiffePattern). */
static int parse_principal(const consul_authz *a, const char *p, caller_buf *b)
{
	if (strncmp(p, "spiffe://", 9))
		return CALLER_FOREIGN;
	p += 9;
	size_t hn = strcspn(p, "/");
	if (!local_domain(a, p, hn))
		return CALLER_FOREIGN;
	p += hn;
	snprintf(b->partition, sizeof(b->partition), "default");
	char seg[4][256];
	const char *want[] = {"ns", "dc", "svc"};
	int k = 0;
	while (*p == '/' && k < 4) {
		p++;
		size_t a1 = strcspn(p, "/");
		char key[8];
		snprintf(key, sizeof(key), "%.*s", (int)(a1 < 7 ? a1 : 7), p);
		p += a1;
		if (*p != '/')
			return CALLER_FOREIGN;
		p++;
		size_t v = strcspn(p, "/");
		if (!v || v >= 256)
			return CALLER_FOREIGN;
		if (!strcmp(key, "ap") && k == 0) {
			snprintf(b->partition, sizeof(b->partition), "%.*s", (int)v, p);
		} else {
			if (k > 2 || strcmp(key, want[k]))
				return CALLER_FOREIGN;
			snprintf(seg[k++], sizeof(seg[0]), "%.*s", (int)v, p);
		}
		p += v;
	}
	if (k != 3 || *p)
		return CALLER_FOREIGN;
	snprintf(b->ns, sizeof(b->ns), "%s", seg[0]);
	snprintf(b->name, sizeof(b->name), "%s", seg[2]);
	return CALLER_OK;
}

/* The caller: its principal, else the service it names (which presents its certificate), else
 * nobody (no certificate: plaintext). */
static int caller_of(const consul_authz *a, const mp_provider_request *q, const cx_dc *dc,
                     caller_buf *b)
{
	const mp_request *r = q->r;
	int rc = CALLER_OK;
	memset(b, 0, sizeof(*b));
	if (r->principal) {
		if (!*r->principal)
			return CALLER_PLAINTEXT;
		rc = parse_principal(a, r->principal, b);
	} else if (r->src_service) {
		mp_model_view v = mp_model_get_view(q->m);
		const char *k8s_ns = r->src_namespace ? r->src_namespace : "default";
		const cx_dc *sdc = dc;
		if (q->src_svc != MP_NONE && !r->src_peer) {
			const mp_service *s = &v.services[q->src_svc];
			k8s_ns = mp_model_str(q->m, v.namespaces[s->ns].name);
			sdc = s->clusters.n ? cx_dc_of(a, v.u32[s->clusters.off]) : dc;
		}
		if (r->src_peer) /* a peer's namespace is its own (Consul's), default `default` */
			snprintf(b->ns, sizeof(b->ns), "%s", k8s_ns);
		else
			cx_namespace(sdc, k8s_ns, b->ns, sizeof(b->ns));
		snprintf(b->name, sizeof(b->name), "%s", r->src_service);
		snprintf(b->partition, sizeof(b->partition), "%s",
		         r->src_partition ? r->src_partition
		         : sdc            ? sdc->partition
		                          : "default");
	} else {
		return CALLER_PLAINTEXT;
	}
	snprintf(b->peer, sizeof(b->peer), "%s", r->src_peer ? r->src_peer : "");
	if (r->src_partition && r->principal)
		snprintf(b->partition, sizeof(b->partition), "%s", r->src_partition);
	b->c = (cx_caller){b->ns, b->name, b->partition, b->peer};
	return rc;
}

/* --- one datacenter's verdict --- */

enum {
	R_NONE = 0,
	R_SOURCE,
	R_PERM,
	R_NOMATCH,
	R_DEFAULT,
	R_PLAINTEXT,
	R_MTLS,
	R_FOREIGN,
	R_NOT_EXPORTED,
	R_JWT
};

typedef struct {
	uint32_t verdict; /* mp_provider_verdict */
	uint32_t why;     /* R_* */
	int l7_on_tcp;
	const cx_dc *dc;
	const cx_source *src;
	const cx_perm *perm;
	const cx_defaults *permissive;
	const cx_entry *jwt_entry;
} result;

static void evaluate(const consul_authz *a, const mp_provider_request *q, const cx_dc *dc,
                     result *res, json_t *explain)
{
	const mp_request *r = q->r;
	mp_model_view v = mp_model_get_view(q->m);
	const mp_service *s = &v.services[q->dst_svc];
	char ns[256], path[2048];
	caller_buf b;
	memset(res, 0, sizeof(*res));
	res->dc = dc;
	cx_namespace(dc, mp_model_str(q->m, v.namespaces[s->ns].name), ns, sizeof(ns));
	const char *name = mp_model_str(q->m, s->name);
	int who = caller_of(a, q, dc, &b);
	if (who == CALLER_PLAINTEXT) {
		res->permissive = cx_permissive(a, ns, name);
		res->verdict = res->permissive ? MP_PROVIDER_ALLOW : MP_PROVIDER_NOT_PERMITTED;
		res->why = res->permissive ? R_PLAINTEXT : R_MTLS;
		return;
	}
	cx_http h = {.http = r->method || r->path || r->nheaders || r->host,
	             .method = r->method,
	             .headers = r->headers,
	             .nheaders = r->nheaders,
	             .has_auth = r->auth != NULL};
	if (r->path) {
		long n = -1;
		if (a->no_normalize)
			n = snprintf(path, sizeof(path), "%.*s", (int)strcspn(r->path, "?#"),
			             r->path);
		else
			n = mp_path_normalize(r->path, path, sizeof(path), (int)a->merge_slashes);
		if (n >= 0 && (size_t)n < sizeof(path)) {
			h.path = path;
			h.path_len = (size_t)n;
		}
	}
	int http_like = cx_http_like(cx_protocol(a, ns, name));
	if (who == CALLER_OK && *b.peer && !cx_exported(a, ns, name, b.peer)) {
		res->verdict = MP_PROVIDER_NOT_PERMITTED; /* a peer reaches only what is exported */
		res->why = R_NOT_EXPORTED;
		return;
	}
	const cx_entry *own = cx_entry_of(a, ns, name, dc->partition);
	if (own && own->jwt && http_like && h.http && !h.has_auth) {
		res->verdict =
		    MP_PROVIDER_NOT_PERMITTED; /* jwt_authn refuses a request without one */
		res->why = R_JWT;
		res->src = NULL;
		res->jwt_entry = own;
		return;
	}
	cx_outcome o;
	if (who == CALLER_FOREIGN) /* matches no intention: an unknown caller */
		b.c = (cx_caller){"", "", "", "\x01"};
	cx_decide(a, ns, name, dc->partition, http_like, (int)dc->default_allow, &b.c, &h, &o,
	          explain);
	res->src = o.src;
	res->perm = o.perm;
	res->l7_on_tcp = o.src && o.src->action == CX_L7 && !http_like;
	if (o.outcome == CO_ALLOW) {
		res->verdict = MP_PROVIDER_ALLOW;
		res->why = o.perm ? R_PERM : R_SOURCE;
	} else if (o.outcome == CO_DENY) {
		res->verdict = MP_PROVIDER_DENY;
		res->why = o.perm ? R_PERM : R_SOURCE;
	} else if (who == CALLER_FOREIGN && dc->default_allow) {
		/* the mTLS handshake refuses a certificate Consul's CA did not sign */
		res->verdict = MP_PROVIDER_NOT_PERMITTED;
		res->why = R_FOREIGN;
	} else {
		res->verdict = dc->default_allow ? MP_PROVIDER_ABSTAIN : MP_PROVIDER_NOT_PERMITTED;
		res->why = o.src ? R_NOMATCH : R_DEFAULT;
	}
}

/* The reason for a result, with its origin; note: " (datacenter X)" when datacenters differ. */
static void add_reason(const mp_provider_request *q, mp_decision *d, const result *res, int mixed)
{
	const cx_source *s = res->src;
	const cx_dc *dc = res->dc;
	mp_reason_origin o = {.provider = mp_provider_consul.name, .rule = -1};
	uint32_t kind = res->verdict == MP_PROVIDER_ALLOW ? MP_REASON_ALLOW : MP_REASON_DENY;
	const char *msg = NULL;
	if (s) {
		o.resource = s->entry->title;
		o.version = s->entry->version;
		o.rule = (int32_t)s->index;
		o.rule_name = s->rule;
		o.source = s->loc;
	}
	switch (res->why) {
	case R_SOURCE:
		msg = res->l7_on_tcp
		          ? mp_decision_text(
		                d,
		                "denied: %s of %s has L7 permissions but its destination "
		                "is not HTTP, so Consul's RBAC treats it as a deny",
		                s->what, s->entry->title)
		          : mp_decision_text(d,
		                             kind == MP_REASON_ALLOW ? "allowed by %s of %s"
		                                                     : "denied by %s of %s",
		                             s->what, s->entry->title);
		break;
	case R_PERM:
		o.rule_name = res->perm->rule;
		o.source = res->perm->loc;
		msg = mp_decision_text(
		    d, kind == MP_REASON_ALLOW ? "allowed by %s of %s" : "denied by %s of %s",
		    res->perm->rule, s->entry->title);
		break;
	case R_NOMATCH:
		o.rule_name = s->rule_nomatch;
		msg = mp_decision_text(d,
		                       "none of the permissions of %s matches the request, so the "
		                       "intention default decides (%s)",
		                       s->what, dc->default_rule);
		break;
	case R_DEFAULT:
	case R_FOREIGN:
		o.resource = *dc->default_from ? dc->default_from : "Consul";
		o.version = "";
		o.rule_name = dc->default_rule;
		o.source = dc->default_loc;
		msg =
		    mp_decision_text(d,
		                     "no intention matches the caller: the intention default (%s) "
		                     "%s the request",
		                     dc->default_rule, dc->default_allow ? "allows" : "denies");
		if (res->why == R_FOREIGN) {
			o.resource = "Consul";
			o.rule_name = "trust-domain";
			o.source = NULL;
			msg = "the caller's identity is not in Consul's trust domain: the mTLS "
			      "handshake refuses it";
		}
		break;
	case R_PLAINTEXT:
		o.resource = res->permissive->title;
		o.version = "";
		o.rule_name = "mutualTLSMode:permissive";
		o.source = res->permissive->mtls_loc;
		msg = mp_decision_text(d,
		                       "the caller sends plaintext, which %s passes to the service "
		                       "unchecked (%s)",
		                       res->permissive->title, "mutualTLSMode: permissive");
		break;
	case R_NOT_EXPORTED:
		o.resource = "Consul";
		o.rule_name = "not-exported";
		msg = mp_decision_text(
		    d, "%s is not exported to the caller's peer (ExportedServices)%s",
		    mp_model_str(q->m, mp_model_get_view(q->m).services[q->dst_svc].name), "");
		break;
	case R_JWT:
		o.resource = res->jwt_entry->title;
		o.version = res->jwt_entry->version;
		o.rule_name = "jwt";
		o.source = res->jwt_entry->loc;
		msg =
		    mp_decision_text(d,
		                     "%s requires a JWT from its providers and the request carries "
		                     "none (request.auth)%s",
		                     res->jwt_entry->title, "");
		break;
	case R_MTLS:
		o.resource = "Consul";
		o.rule_name = "mtls-required";
		msg = mp_decision_text(
		    d, "the caller presents no client certificate; %s accepts mTLS only (%s)",
		    mp_model_str(q->m, mp_model_get_view(q->m).services[q->dst_svc].name),
		    "mutualTLSMode: strict");
		break;
	}
	if (mixed)
		msg = mp_decision_text(d, "%s (datacenter %s)", msg, dc->datacenter);
	mp_decision_add(d, kind, msg, 0, &o);
}

/* Decides in each datacenter the destination runs in (one, when the request names its
 * cluster): the most restrictive verdict, with its reason. fallback: what default allow gives
 * when nothing else decided. */
static uint32_t decide_all(const consul_authz *a, const mp_provider_request *q, mp_decision *d,
                           json_t *explain, int fallback)
{
	mp_model_view v = mp_model_get_view(q->m);
	const mp_service *s = &v.services[q->dst_svc];
	result res[16], *worst = NULL;
	uint32_t n = 0;
	for (uint32_t i = 0; i < s->clusters.n && n < 16; i++) {
		mp_id c = v.u32[s->clusters.off + i];
		if (q->dst_cluster != MP_NONE && c != q->dst_cluster)
			continue;
		const cx_dc *dc = cx_dc_of(a, c);
		uint32_t k;
		for (k = 0; k < n && res[k].dc != dc; k++)
			;
		if (k < n)
			continue; /* one evaluation per datacenter */
		evaluate(a, q, dc, &res[n], n ? NULL : explain);
		if (!worst || res[n].verdict > worst->verdict)
			worst = &res[n];
		n++;
	}
	if (!worst)
		return MP_PROVIDER_ABSTAIN;
	int mixed = 0;
	for (uint32_t i = 0; i < n; i++)
		mixed |= res[i].verdict != worst->verdict || res[i].why != worst->why ||
		         res[i].src != worst->src || res[i].perm != worst->perm;
	if (worst->verdict == MP_PROVIDER_ABSTAIN) {
		if (!fallback)
			return MP_PROVIDER_ABSTAIN;
		worst->verdict = MP_PROVIDER_ALLOW; /* the default allows */
	} else if (fallback) {
		return MP_PROVIDER_ABSTAIN;
	}
	add_reason(q, d, worst, mixed);
	return worst->verdict;
}

/* --- the ops --- */

static int present(const mp_model *m)
{
	mp_str id = mp_model_find_str(m, "ConsulConfig", 12);
	if (id == MP_NONE)
		return 0;
	mp_model_view v = mp_model_get_view(m);
	for (uint32_t i = 0; i < v.nresources; i++)
		if (v.resources[i].kind == id)
			return 1;
	return 0;
}

static int compile(const mp_model *m, void **state, char *err, size_t errlen)
{
	consul_authz *a = NULL;
	*state = NULL;
	if (!present(m))
		return 0;
	if (!(a = consul_authz_compile(m, err, errlen)))
		return -1;
	*state = a;
	return 0;
}

static uint32_t decide(const void *state, const mp_provider_request *q, mp_decision *d,
                       json_t *explain)
{
	if (q->dst_svc == MP_NONE)
		return MP_PROVIDER_ABSTAIN; /* an external host: not Consul's to decide */
	return decide_all(state, q, d, explain, 0);
}

/* No bundle and nothing decided: the intention default allows (default deny decided already). */
static uint32_t fallback(const void *state, const mp_provider_request *q, mp_decision *d)
{
	if (q->dst_svc == MP_NONE)
		return MP_PROVIDER_ABSTAIN;
	return decide_all(state, q, d, NULL, 1);
}

static void free_state(void *state)
{
	consul_authz_free(state);
}

/* Consul's API gateway controller (hashicorp/consul-k8s, the class "consul" its Helm chart
 * installs): Gateways only; its mesh routes are its own config entries, not this group's. */
static const mp_gateway_impl gateway_api = {
    .controller = "consul.hashicorp.com/gateway-controller",
    .classes = " consul ",
    .protocols = " HTTP HTTPS TCP ",
};

const mp_provider mp_provider_consul = {
    .name = "consul",
    .title = "Consul",
    .kinds = mp_consul_kinds,
    .form = &form,
    .options = options,
    .import = &mp_consul_import,
    .analyzers = mp_consul_analyzers,
    .compile = compile,
    .decide = decide,
    .fallback = fallback,
    .free = free_state,
    .bundle_disagrees = "a Consul intention allows the request but the bundle, which has allow "
                        "rules for this destination, allows none of it",
    .present = present,
    .gateway_api = &gateway_api,
};
