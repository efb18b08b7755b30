/* authz.c: Istio AuthorizationPolicy decided per request (see authz.h): the destination's
 * workloads, the policies that apply to each (authz_compile.c built the index), Istio's
 * evaluation order, and the reasons. Semantics: docs/import.md ("AuthorizationPolicy"). */
#include "authz_int.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

/* --- deciding --- */

typedef struct {
	const mp_authz_request *q;
	const mp_request *r;
	const char *principal, *ns, *td, *host;
	size_t plen, nslen, tdlen;
	int http;
	mp_ipnet src, remote, dst; /* family 0: absent or unparsable */
	const char *path;
	size_t pathlen;
	char pathbuf[2048];
	char idbuf[512];
} ctx;

static void parse_req_ip(const char *s, mp_ipnet *out)
{
	if (!s || mp_ipnet_parse(s, out, 0) < 0)
		out->family = 0;
}

static const char *header(const mp_request *r, const char *name)
{
	for (uint32_t i = 0; i < r->nheaders; i++)
		if (!strcasecmp(r->headers[i].name, name))
			return r->headers[i].value;
	return NULL;
}

static void ctx_init(ctx *x, const mp_authz *a, const mp_authz_request *q)
{
	const mp_request *r = q->r;
	memset(x, 0, offsetof(ctx, pathbuf));
	x->q = q;
	x->r = r;
	/* the peer identity: as given, else what automatic mTLS would present; "spiffe://" is not
	 * part of Istio's principal */
	const char *p = r->principal;
	if (!p && q->src_identity)
		p = mp_model_str(a->m, q->src_identity);
	if (p && *p) {
		if (!strncmp(p, "spiffe://", 9))
			p += 9;
		x->principal = p;
		x->plen = strlen(p);
		const char *slash = strchr(p, '/');
		x->td = p;
		x->tdlen = slash ? (size_t)(slash - p) : x->plen;
		const char *ns = strstr(p, "/ns/");
		if (ns) {
			ns += 4;
			const char *end = strchr(ns, '/');
			x->ns = ns;
			x->nslen = end ? (size_t)(end - ns) : strlen(ns);
		}
	}
	x->http = r->method || r->path || r->nheaders || r->host || r->auth;
	parse_req_ip(r->src_ip, &x->src);
	parse_req_ip(r->src_remote_ip ? r->src_remote_ip : r->src_ip, &x->remote);
	parse_req_ip(r->dst_ip, &x->dst);
	x->host = r->host ? r->host : header(r, "host");
	if (!x->host)
		x->host = header(r, ":authority");
	if (r->path) {
		long n = mp_path_normalize(r->path, x->pathbuf, sizeof(x->pathbuf), 0);
		if (n >= 0) {
			x->path = x->pathbuf;
			x->pathlen = (size_t)n;
		}
	}
}

/* Envoy's URI template semantics: {*} is one or more characters of one segment, {**} (the
 * last operator) any characters, slashes included; everything else is literal. */
static int template_match(const char *t, const char *v, size_t len)
{
	const char *end = v + len;
	while (*t) {
		if (!strncmp(t, "{**}", 4)) {
			size_t rest = strlen(t + 4);
			return (size_t)(end - v) >= rest && !memcmp(end - rest, t + 4, rest);
		}
		if (!strncmp(t, "{*}", 3)) {
			const char *seg = v;
			while (v < end && *v != '/')
				v++;
			if (v == seg)
				return 0;
			t += 3;
			continue;
		}
		if (v == end || *v != *t)
			return 0;
		t++, v++;
	}
	return v == end;
}

static int str_match(const az_val *p, const char *s, size_t len)
{
	int (*cmp)(const char *, const char *, size_t) = p->nocase ? strncasecmp : strncmp;
	if (!s)
		return 0;
	switch (p->kind) {
	case V_ANY:
		return len > 0;
	case V_EXACT:
		return len == p->len && !cmp(s, p->text, len);
	case V_PREFIX:
		return len >= p->len && !cmp(s, p->text, p->len);
	case V_SUFFIX:
		return len >= p->len && !cmp(s + len - p->len, p->text, p->len);
	case V_TEMPLATE:
		return template_match(p->text, s, len);
	}
	return 0;
}

/* Does any of the field's values match one string attribute (NULL: absent)? */
static int any_str(const az_field *f, const char *s, size_t len)
{
	for (uint32_t i = 0; s && i < f->n; i++)
		if (str_match(&f->v[i], s, len))
			return 1;
	return 0;
}

/* A JSON value (string, or list of strings) against the field. */
static int any_json(const az_field *f, json_t *v)
{
	char buf[64];
	if (json_is_array(v)) {
		size_t i;
		json_t *e;
		json_array_foreach(v, i, e)
		{
			const char *s = az_scalar_text(e, buf, sizeof(buf));
			if (s && any_str(f, s, strlen(s)))
				return 1;
		}
		return 0;
	}
	if (json_is_true(v) || json_is_false(v))
		return any_str(f, json_is_true(v) ? "true" : "false", json_is_true(v) ? 4 : 5);
	const char *s = v ? az_scalar_text(v, buf, sizeof(buf)) : NULL;
	return s ? any_str(f, s, strlen(s)) : 0;
}

static json_t *auth_get(const ctx *x, const char *key)
{
	return x->r->auth ? json_object_get(x->r->auth, key) : NULL;
}

/* Does the request have a value of the field's attribute that one of its values matches? */
static int field_values(const ctx *x, const az_field *f)
{
	const mp_request *r = x->r;
	switch (f->attr) {
	case A_PRINCIPAL:
		return any_str(f, x->principal, x->plen);
	case A_NAMESPACE:
		return any_str(f, x->ns, x->nslen);
	case A_TRUST_DOMAIN:
		return any_str(f, x->td, x->tdlen);
	case A_SERVICE_ACCOUNT:
		for (uint32_t i = 0; x->principal && i < f->n; i++) {
			const az_val *v = &f->v[i];
			if (x->plen > v->len &&
			    !memcmp(x->principal + x->plen - v->len, v->text, v->len) &&
			    !memchr(x->principal, '/', x->plen - v->len))
				return 1;
		}
		return 0;
	case A_REQ_PRINCIPAL:
		return any_json(f, auth_get(x, "principal"));
	case A_AUDIENCES:
		return any_json(f, auth_get(x, "audiences"));
	case A_PRESENTER:
		return any_json(f, auth_get(x, "presenter"));
	case A_CLAIM: {
		json_t *v = auth_get(x, "claims");
		const char *k = f->arg;
		for (uint32_t i = 0; v && i < f->nargs; i++, k += strlen(k) + 1)
			v = json_is_object(v) ? json_object_get(v, k) : NULL;
		return v ? any_json(f, v) : 0;
	}
	case A_SRC_IP:
	case A_REMOTE_IP:
	case A_DST_IP: {
		const mp_ipnet *ip = f->attr == A_SRC_IP      ? &x->src
		                     : f->attr == A_REMOTE_IP ? &x->remote
		                                              : &x->dst;
		for (uint32_t i = 0; i < f->n; i++)
			if (mp_ipnet_contains(&f->v[i].ip, ip))
				return 1;
		return 0;
	}
	case A_PORT:
		for (uint32_t i = 0; r->port && i < f->n; i++)
			if (f->v[i].port == r->port)
				return 1;
		return 0;
	case A_HOST:
		return x->host ? any_str(f, x->host, strlen(x->host)) : 0;
	case A_SNI:
		return r->sni ? any_str(f, r->sni, strlen(r->sni)) : 0;
	case A_METHOD:
		return r->method ? any_str(f, r->method, strlen(r->method)) : 0;
	case A_PATH:
		return any_str(f, x->path, x->pathlen);
	case A_HEADER: {
		const char *h = header(r, f->arg);
		return h ? any_str(f, h, strlen(h)) : 0;
	}
	}
	return 0;
}

/* Does the field hold for the request? For a DENY or CUSTOM policy, a field meshpol cannot
 * evaluate counts as a match (fail closed); for ALLOW and AUDIT as a mismatch. */
static int field_match(const ctx *x, const az_field *f, int deny_like)
{
	if (f->attr == A_UNSUPPORTED)
		return deny_like;
	if (!x->http && f->http_only && deny_like)
		return 1; /* Istio drops HTTP-only fields of DENY rules on TCP traffic */
	int m = field_values(x, f);
	return f->neg ? !m : m;
}

/* The first field of the clause that does not hold, or NULL when all do. */
static const az_field *clause_fails(const ctx *x, const az_clause *c, int deny_like)
{
	for (uint32_t i = 0; i < c->n; i++)
		if (!field_match(x, &c->f[i], deny_like))
			return &c->f[i];
	return NULL;
}

/* NULL when the rule matches, else why not. */
static const char *rule_fails(const ctx *x, const az_policy *p, const az_rule *r)
{
	int deny_like = p->action == ACT_DENY || p->action == ACT_CUSTOM;
	const az_field *f;
	if (!x->http && r->http_only && !deny_like)
		return "it uses HTTP-only fields and the request is not HTTP";
	if (r->nfrom) {
		const az_field *first = NULL;
		uint32_t i;
		for (i = 0; i < r->nfrom; i++) {
			f = clause_fails(x, &r->from[i], deny_like);
			if (!f)
				break;
			if (!first)
				first = f;
		}
		if (i == r->nfrom)
			return first->name;
	}
	if (r->nto) {
		const az_field *first = NULL;
		uint32_t i;
		for (i = 0; i < r->nto; i++) {
			f = clause_fails(x, &r->to[i], deny_like);
			if (!f)
				break;
			if (!first)
				first = f;
		}
		if (i == r->nto)
			return first->name;
	}
	f = clause_fails(x, &r->when, deny_like);
	return f ? f->name : NULL;
}

static void add_hit(mp_authz_hit *arr, uint32_t *n, uint32_t cap, mp_authz_hit h)
{
	for (uint32_t i = 0; i < *n; i++)
		if (arr[i].policy == h.policy && arr[i].rule == h.rule && arr[i].kind == h.kind)
			return; /* the same reason from another workload */
	if (*n < cap)
		arr[(*n)++] = h;
}

static void explain_policy(json_t *explain, const mp_authz *a, const az_policy *p, const char *rule,
                           const char *loc, int matched, const char *why, mp_id workload)
{
	static const char *const types[] = {"istio.allow", "istio.deny", "istio.audit",
	                                    "istio.custom"};
	if (!explain)
		return;
	json_t *o =
	    json_pack("{s:s, s:s, s:s, s:s, s:s, s:b}", "policy", p->title, "version", p->version,
	              "rule", rule, "type", types[p->action], "source", loc, "matched", matched);
	if (o && why)
		json_object_set_new(o, "why", json_string(why));
	if (o && workload != MP_NONE)
		json_object_set_new(o, "workload",
		                    json_string(mp_model_str(
		                        a->m, mp_model_get_view(a->m).workloads[workload].name)));
	if (o)
		json_array_append_new(explain, o);
}

/* Decides one unit (workload); returns its verdict and appends its hits. */
static uint32_t decide_unit(const mp_authz *a, const ctx *x, uint32_t u, mp_authz_result *out,
                            mp_authz_hit *tmp, uint32_t *ntmp, json_t *explain)
{
	mp_id wl = u < a->nworkloads ? u : MP_NONE;
	int custom = 0, deny = 0, has_allow = 0, allowed = 0;
	uint32_t first = *ntmp;
	for (uint32_t k = a->unit_off[u]; k < a->unit_off[u + 1]; k++) {
		const az_policy *p = &a->p[a->unit_pol[k]];
		uint32_t pi = a->unit_pol[k];
		if (p->action == ACT_ALLOW && !p->dry_run)
			has_allow = 1;
		int matched = 0;
		for (uint32_t i = 0; i < p->nrules; i++) {
			const az_rule *r = &p->rules[i];
			const char *why = rule_fails(x, p, r);
			/* meshpol's CUSTOM: the bundle is the extension; its allow goes on to
			 * DENY and ALLOW, as Istio does with an OK from the provider */
			int passes = !why && p->meshpol && !p->dry_run &&
			             x->q->bundle == MP_PROVIDER_BUNDLE_ALLOW;
			explain_policy(explain, a, p, r->name, r->loc, !why, why, wl);
			if (why)
				continue;
			matched = 1;
			if (passes)
				break;
			mp_authz_hit h = {pi, (int32_t)i, MP_AUTHZ_HIT_ALLOW, wl};
			if (p->dry_run || p->action == ACT_AUDIT) {
				h.kind = MP_AUTHZ_HIT_AUDIT;
				add_hit(out->audits, &out->naudits, 8, h);
				break;
			}
			h.kind = p->action == ACT_ALLOW  ? MP_AUTHZ_HIT_ALLOW
			         : p->action == ACT_DENY ? MP_AUTHZ_HIT_DENY
			         : p->meshpol && x->q->bundle == MP_PROVIDER_BUNDLE_NONE
			             ? MP_AUTHZ_HIT_CUSTOM_NO_BUNDLE
			             : MP_AUTHZ_HIT_CUSTOM;
			custom |= p->action == ACT_CUSTOM;
			deny |= p->action == ACT_DENY;
			allowed |= p->action == ACT_ALLOW;
			add_hit(tmp, ntmp, 64, h);
			break;
		}
		if (!p->nrules)
			explain_policy(explain, a, p,
			               p->action == ACT_ALLOW ? "allow-nothing" : "-", p->loc, 0,
			               "the policy has no rules", wl);
		if (!matched && p->action == ACT_ALLOW && !p->dry_run)
			add_hit(tmp, ntmp, 64,
			        (mp_authz_hit){pi, MP_AUTHZ_RULE_NONE, MP_AUTHZ_HIT_NO_MATCH, wl});
	}
	uint32_t verdict = custom || deny ? MP_AUTHZ_DENY
	                   : !has_allow   ? MP_AUTHZ_ABSTAIN
	                   : allowed      ? MP_AUTHZ_ALLOW
	                                  : MP_AUTHZ_NOT_PERMITTED;
	/* keep only the hits that explain this unit's verdict */
	uint32_t k = first;
	for (uint32_t i = first; i < *ntmp; i++) {
		uint32_t kind = tmp[i].kind;
		int keep = verdict == MP_AUTHZ_DENY
		               ? kind == MP_AUTHZ_HIT_DENY || kind == MP_AUTHZ_HIT_CUSTOM ||
		                     kind == MP_AUTHZ_HIT_CUSTOM_NO_BUNDLE
		           : verdict == MP_AUTHZ_NOT_PERMITTED ? kind == MP_AUTHZ_HIT_NO_MATCH
		           : verdict == MP_AUTHZ_ALLOW         ? kind == MP_AUTHZ_HIT_ALLOW
		                                               : 0;
		if (keep)
			tmp[k++] = tmp[i];
	}
	*ntmp = k;
	return verdict;
}

void mp_authz_decide(const mp_authz *a, const mp_authz_request *q, mp_authz_result *out,
                     json_t *explain)
{
	ctx x;
	mp_authz_hit tmp[64];
	uint32_t ntmp = 0, verdict = MP_AUTHZ_ABSTAIN;
	out->verdict = MP_AUTHZ_ABSTAIN;
	out->governed = out->mixed = 0;
	out->nhits = out->naudits = 0;
	if (!a || !a->np || q->dst_svc == MP_NONE)
		return;
	mp_model_view v = mp_model_get_view(a->m);
	ctx_init(&x, a, q);
	const mp_id *ws;
	uint32_t nw = mp_model_workloads_of_service(a->m, q->dst_svc, &ws);
	const char *want = q->r->dst_workload;
	mp_id in_cluster = q->dst_cluster;
	uint32_t considered = 0, lowest = MP_AUTHZ_DENY, placed = 0;
	/* the request names a workload or a cluster: only those; when that leaves none (a name
	 * the service does not have), it cannot be placed, and every workload decides */
	for (uint32_t i = 0; i < nw && !placed; i++)
		placed = (in_cluster == MP_NONE || v.workloads[ws[i]].cluster == in_cluster) &&
		         (!want || !strcmp(mp_model_str(a->m, v.workloads[ws[i]].name), want));
	if (!placed) {
		want = NULL;
		in_cluster = MP_NONE;
	}
	for (uint32_t i = 0; i < (nw ? nw : 1); i++) {
		uint32_t u = nw ? ws[i] : a->nworkloads + q->dst_svc;
		if (nw && in_cluster != MP_NONE && v.workloads[u].cluster != in_cluster)
			continue;
		if (nw && want && strcmp(mp_model_str(a->m, v.workloads[u].name), want))
			continue;
		considered++;
		if (a->unit_off[u + 1] > a->unit_off[u])
			out->governed = 1;
		uint32_t before = ntmp;
		uint32_t uv = decide_unit(a, &x, u, out, tmp, &ntmp, explain);
		if (uv < lowest)
			lowest = uv;
		if (uv > verdict) {
			/* a stricter verdict: its reasons replace the milder ones */
			memmove(tmp, tmp + before, (ntmp - before) * sizeof(*tmp));
			ntmp -= before;
			verdict = uv;
		} else if (uv < verdict) {
			ntmp = before;
		}
	}
	out->verdict = verdict;
	out->mixed = considered > 1 && lowest != verdict;
	for (uint32_t i = 0; i < ntmp; i++)
		add_hit(out->hits, &out->nhits, MP_AUTHZ_MAX_HITS, tmp[i]);
}

/* --- describing hits --- */

const char *mp_authz_policy_title(const mp_authz *a, uint32_t policy)
{
	return a->p[policy].title;
}

const char *mp_authz_policy_version(const mp_authz *a, uint32_t policy)
{
	return a->p[policy].version;
}

const char *mp_authz_hit_rule(const mp_authz *a, const mp_authz_hit *h)
{
	const az_policy *p = &a->p[h->policy];
	if (h->rule >= 0 && (uint32_t)h->rule < p->nrules)
		return p->rules[h->rule].name;
	return p->nrules ? "no-rule-matched" : "allow-nothing";
}

const char *mp_authz_hit_loc(const mp_authz *a, const mp_authz_hit *h)
{
	const az_policy *p = &a->p[h->policy];
	if (h->rule >= 0 && (uint32_t)h->rule < p->nrules)
		return p->rules[h->rule].loc;
	return p->loc;
}

const char *mp_authz_hit_message(const mp_authz *a, const mp_authz_hit *h)
{
	const az_policy *p = &a->p[h->policy];
	if (h->kind == MP_AUTHZ_HIT_CUSTOM_NO_BUNDLE)
		return p->msg_nobundle;
	if (h->rule >= 0 && (uint32_t)h->rule < p->nrules)
		return p->rules[h->rule].msg;
	return p->msg_nomatch;
}
