/* authz_compile.c: AuthorizationPolicy specs checked and compiled into matchers (authz_int.h),
 * and the index of which policies apply to which workload. The importer checks each spec with
 * mp_authz_check_spec so a bad field is reported at its YAML line; an engine snapshot compiles
 * the model's policies with mp_authz_compile. Semantics: docs/import.md. */
#include "alloc.h"
#include "authz_int.h"
#include "provider.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* --- checking and compiling one spec --- */

typedef struct {
	mp_arena *ar;
	char *err;
	size_t errlen;
	char path[512];
	size_t plen;
	int bad;
	const char *policy_ns; /* for serviceAccounts without a namespace */
} cctx;

static void push(cctx *c, const char *seg)
{
	size_t n = strlen(seg);
	if (c->plen + n + 2 >= sizeof(c->path))
		return;
	if (c->plen)
		c->path[c->plen++] = '/';
	memcpy(c->path + c->plen, seg, n + 1);
	c->plen += n;
}

static void pushi(cctx *c, size_t i)
{
	char b[24];
	snprintf(b, sizeof(b), "%zu", i);
	push(c, b);
}

static void pop(cctx *c)
{
	while (c->plen && c->path[c->plen - 1] != '/')
		c->plen--;
	if (c->plen)
		c->plen--;
	c->path[c->plen] = '\0';
}

static int fail(cctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(cctx *c, const char *fmt, ...)
{
	if (!c->bad) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(c->err, c->errlen, fmt, ap);
		va_end(ap);
		c->bad = 1;
	}
	return -1;
}

const char *az_scalar_text(json_t *v, char *buf, size_t len)
{
	if (json_is_string(v))
		return json_string_value(v);
	if (json_is_integer(v)) {
		snprintf(buf, len, "%lld", (long long)json_integer_value(v));
		return buf;
	}
	if (json_is_real(v)) {
		snprintf(buf, len, "%g", json_real_value(v));
		return buf;
	}
	return NULL;
}

/* Is s a valid Istio path template? Called when s holds "{*}" or "{**}". */
static int check_template(const char *s, char *why, size_t len)
{
	if (s[0] != '/') {
		snprintf(why, len, "a path template must start with '/'");
		return -1;
	}
	int seen_double = 0;
	for (const char *p = s; *p;) {
		if (*p == '{') {
			int two = !strncmp(p, "{**}", 4), one = !strncmp(p, "{*}", 3);
			size_t w = two ? 4 : 3;
			if (!one && !two) {
				snprintf(why, len, "only {*} and {**} may appear in braces");
				return -1;
			}
			if (p[-1] != '/' || (p[w] && p[w] != '/')) {
				snprintf(why, len,
				         "no other characters are allowed in a path segment with a "
				         "template operator");
				return -1;
			}
			if (seen_double) {
				snprintf(why, len, "{**} must be the last operator");
				return -1;
			}
			seen_double = two;
			p += w;
			continue;
		}
		if (*p == '*' || *p == '}') {
			snprintf(why, len, "'%c' outside of a {*} or {**} operator", *p);
			return -1;
		}
		p++;
	}
	return 0;
}

static int compile_value(cctx *c, const char *s, int vk, az_val *out)
{
	size_t n = strlen(s);
	char why[200];
	switch (vk) {
	case VK_IP:
		out->kind = V_IP;
		if (mp_ipnet_parse(s, &out->ip, 1) < 0)
			return fail(c, "'%s' is not an IP address or CIDR block", s);
		return 0;
	case VK_PORT: {
		char *end;
		long p = strtol(s, &end, 10);
		if (!*s || *end || p < 0 || p > 65535)
			return fail(c, "'%s' is not a port number (0-65535)", s);
		out->kind = V_PORT;
		out->port = (uint32_t)p;
		return 0;
	}
	case VK_SA: {
		const char *slash = strchr(s, '/');
		if (!n || (slash && (slash == s || !slash[1] || strchr(slash + 1, '/'))))
			return fail(c, "'%s' is not a service account (SA or NAMESPACE/SA)", s);
		out->kind = V_SA;
		if (slash)
			out->text = mp_arena_printf(c->ar, "/ns/%.*s/sa/%s", (int)(slash - s), s,
			                            slash + 1);
		else
			out->text = mp_arena_printf(c->ar, "/ns/%s/sa/%s", c->policy_ns, s);
		out->len = out->text ? (uint32_t)strlen(out->text) : 0;
		return 0;
	}
	case VK_PATH:
		if (strstr(s, "{*}") || strstr(s, "{**}")) {
			if (check_template(s, why, sizeof(why)) < 0)
				return fail(c, "path template '%s': %s", s, why);
			out->kind = V_TEMPLATE;
			out->text = mp_arena_strn(c->ar, s, n);
			out->len = (uint32_t)n;
			return 0;
		}
		__attribute__((fallthrough)); /* not a template: an ordinary pattern */
	default:
		out->nocase = vk == VK_HOST;
		if (n == 1 && s[0] == '*') {
			out->kind = V_ANY;
			out->text = "";
		} else if (n > 1 && s[n - 1] == '*') {
			out->kind = V_PREFIX;
			out->text = mp_arena_strn(c->ar, s, n - 1);
			out->len = (uint32_t)(n - 1);
		} else if (n > 1 && s[0] == '*') {
			out->kind = V_SUFFIX;
			out->text = mp_arena_strn(c->ar, s + 1, n - 1);
			out->len = (uint32_t)(n - 1);
		} else {
			out->kind = V_EXACT;
			out->text = mp_arena_strn(c->ar, s, n);
			out->len = (uint32_t)n;
		}
		return 0;
	}
}

/* A list of strings into a field's values. */
static int compile_list(cctx *c, json_t *arr, int vk, az_field *f)
{
	if (!json_is_array(arr))
		return fail(c, "must be a list of strings");
	size_t n = json_array_size(arr), i;
	json_t *v;
	f->v = mp_arena_alloc(c->ar, (n ? n : 1) * sizeof(az_val));
	if (!f->v)
		return -1;
	json_array_foreach(arr, i, v)
	{
		char buf[64];
		pushi(c, i);
		const char *s = az_scalar_text(v, buf, sizeof(buf));
		if (!s)
			return fail(c, "must be a string");
		if (compile_value(c, s, vk, &f->v[f->n]) < 0)
			return -1;
		f->n++;
		pop(c);
	}
	return 0;
}

typedef struct {
	const char *key;
	uint8_t attr, neg, http_only, vk;
} fdef;

static const fdef source_fields[] = {
    {"principals", A_PRINCIPAL, 0, 0, VK_PATTERN},
    {"notPrincipals", A_PRINCIPAL, 1, 0, VK_PATTERN},
    {"requestPrincipals", A_REQ_PRINCIPAL, 0, 1, VK_PATTERN},
    {"notRequestPrincipals", A_REQ_PRINCIPAL, 1, 1, VK_PATTERN},
    {"namespaces", A_NAMESPACE, 0, 0, VK_PATTERN},
    {"notNamespaces", A_NAMESPACE, 1, 0, VK_PATTERN},
    {"ipBlocks", A_SRC_IP, 0, 0, VK_IP},
    {"notIpBlocks", A_SRC_IP, 1, 0, VK_IP},
    {"remoteIpBlocks", A_REMOTE_IP, 0, 0, VK_IP},
    {"notRemoteIpBlocks", A_REMOTE_IP, 1, 0, VK_IP},
    {"trustDomains", A_TRUST_DOMAIN, 0, 0, VK_PATTERN},
    {"notTrustDomains", A_TRUST_DOMAIN, 1, 0, VK_PATTERN},
    {"serviceAccounts", A_SERVICE_ACCOUNT, 0, 0, VK_SA},
    {"notServiceAccounts", A_SERVICE_ACCOUNT, 1, 0, VK_SA},
};

static const fdef operation_fields[] = {
    {"hosts", A_HOST, 0, 1, VK_HOST},        {"notHosts", A_HOST, 1, 1, VK_HOST},
    {"ports", A_PORT, 0, 0, VK_PORT},        {"notPorts", A_PORT, 1, 0, VK_PORT},
    {"methods", A_METHOD, 0, 1, VK_PATTERN}, {"notMethods", A_METHOD, 1, 1, VK_PATTERN},
    {"paths", A_PATH, 0, 1, VK_PATH},        {"notPaths", A_PATH, 1, 1, VK_PATH},
};

/* One `source` or `operation` mapping into a clause: its fields, ANDed. */
static int compile_clause(cctx *c, json_t *obj, const fdef *defs, size_t ndefs, const char *what,
                          az_clause *out)
{
	if (!json_is_object(obj))
		return fail(c, "'%s' must be a mapping", what);
	const char *k;
	json_t *v;
	out->f = mp_arena_alloc(c->ar, (json_object_size(obj) + 1) * sizeof(az_field));
	if (!out->f)
		return -1;
	json_object_foreach(obj, k, v)
	{
		size_t i;
		for (i = 0; i < ndefs && strcmp(defs[i].key, k); i++)
			;
		push(c, k);
		if (i == ndefs)
			return fail(c, "%s: unknown field '%s'", what, k);
		az_field *f = &out->f[out->n];
		f->attr = defs[i].attr;
		f->neg = defs[i].neg;
		f->http_only = defs[i].http_only;
		f->name = mp_arena_printf(c->ar, "%s.%s", what, k);
		if (compile_list(c, v, defs[i].vk, f) < 0)
			return -1;
		out->n++;
		pop(c);
	}
	return 0;
}

/* `from: [{source: {...}}]` or `to: [{operation: {...}}]`. */
static int compile_clauses(cctx *c, json_t *arr, const char *wrapper, const fdef *defs,
                           size_t ndefs, az_clause **out, uint32_t *n)
{
	if (!json_is_array(arr))
		return fail(c, "must be a list");
	size_t cnt = json_array_size(arr), i;
	json_t *item;
	*out = mp_arena_alloc(c->ar, (cnt ? cnt : 1) * sizeof(az_clause));
	if (!*out)
		return -1;
	json_array_foreach(arr, i, item)
	{
		pushi(c, i);
		if (!json_is_object(item))
			return fail(c, "must be a mapping with '%s'", wrapper);
		json_t *inner = json_object_get(item, wrapper);
		const char *k;
		json_t *v;
		json_object_foreach(item, k, v)
		{
			if (strcmp(k, wrapper)) {
				push(c, k);
				return fail(c, "unknown field '%s' (expected '%s')", k, wrapper);
			}
		}
		if (!inner)
			return fail(c, "'%s' is required", wrapper);
		push(c, wrapper);
		if (compile_clause(c, inner, defs, ndefs, wrapper, &(*out)[*n]) < 0)
			return -1;
		(*n)++;
		pop(c);
		pop(c);
	}
	return 0;
}

/* A condition key: its attribute, argument, value kind and whether it is HTTP-only. */
static int compile_key(cctx *c, const char *key, az_field *f, int *vk)
{
	static const struct {
		const char *key;
		uint8_t attr, http_only, vk;
	} keys[] = {
	    {"source.ip", A_SRC_IP, 0, VK_IP},
	    {"remote.ip", A_REMOTE_IP, 0, VK_IP},
	    {"destination.ip", A_DST_IP, 0, VK_IP},
	    {"source.namespace", A_NAMESPACE, 0, VK_PATTERN},
	    {"source.principal", A_PRINCIPAL, 0, VK_PATTERN},
	    {"source.trustDomain", A_TRUST_DOMAIN, 0, VK_PATTERN},
	    {"source.serviceAccount", A_SERVICE_ACCOUNT, 0, VK_SA},
	    {"request.auth.principal", A_REQ_PRINCIPAL, 1, VK_PATTERN},
	    {"request.auth.audiences", A_AUDIENCES, 1, VK_PATTERN},
	    {"request.auth.presenter", A_PRESENTER, 1, VK_PATTERN},
	    {"destination.port", A_PORT, 0, VK_PORT},
	    {"connection.sni", A_SNI, 0, VK_HOST},
	};
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (!strcmp(key, keys[i].key)) {
			f->attr = keys[i].attr;
			f->http_only = keys[i].http_only;
			*vk = keys[i].vk;
			return 0;
		}
	/* request.headers[NAME] and request.auth.claims[A][B]... */
	const char *brackets = NULL;
	if (!strncmp(key, "request.headers[", 16)) {
		f->attr = A_HEADER;
		brackets = key + 15;
	} else if (!strncmp(key, "request.auth.claims[", 20)) {
		f->attr = A_CLAIM;
		brackets = key + 19;
	} else if (!strncmp(key, "experimental.envoy.filters.", 27)) {
		f->attr = A_UNSUPPORTED;
		*vk = VK_PATTERN;
		return 0;
	} else {
		return fail(c, "unknown condition key '%s'", key);
	}
	f->http_only = 1;
	*vk = VK_PATTERN;
	char buf[512];
	size_t o = 0;
	const char *p = brackets;
	while (*p == '[') {
		const char *end = strchr(p, ']');
		if (!end || end == p + 1 || o + (size_t)(end - p) >= sizeof(buf))
			return fail(c, "condition key '%s': malformed brackets", key);
		for (const char *q = p + 1; q < end; q++)
			buf[o++] =
			    f->attr == A_HEADER && *q >= 'A' && *q <= 'Z' ? (char)(*q + 32) : *q;
		buf[o++] = '\0';
		f->nargs++;
		p = end + 1;
	}
	if (*p || !f->nargs || (f->attr == A_HEADER && f->nargs != 1))
		return fail(c, "condition key '%s': malformed brackets", key);
	char *arg = mp_arena_alloc(c->ar, o); /* the names with their NULs */
	if (!arg)
		return fail(c, "out of memory");
	f->arg = memcpy(arg, buf, o);
	return 0;
}

/* `when: [{key, values, notValues}]`: each condition is one or two fields (values, notValues),
 * all ANDed into one clause. */
static int compile_when(cctx *c, json_t *arr, az_clause *out)
{
	if (!json_is_array(arr))
		return fail(c, "must be a list");
	size_t n = json_array_size(arr), i;
	json_t *cond;
	out->f = mp_arena_alloc(c->ar, (2 * n + 1) * sizeof(az_field));
	if (!out->f)
		return -1;
	json_array_foreach(arr, i, cond)
	{
		pushi(c, i);
		if (!json_is_object(cond))
			return fail(c, "a condition must be a mapping");
		const char *k;
		json_t *v;
		json_object_foreach(cond, k, v)
		{
			if (strcmp(k, "key") && strcmp(k, "values") && strcmp(k, "notValues")) {
				push(c, k);
				return fail(c, "condition: unknown field '%s'", k);
			}
		}
		json_t *key = json_object_get(cond, "key");
		json_t *vals = json_object_get(cond, "values");
		json_t *nvals = json_object_get(cond, "notValues");
		if (!json_is_string(key)) {
			if (key)
				push(c, "key");
			return fail(c, "a condition needs a 'key' string");
		}
		if (!vals && !nvals)
			return fail(
			    c, "condition '%s': at least one of values or notValues must be set",
			    json_string_value(key));
		for (int neg = 0; neg < 2; neg++) {
			json_t *list = neg ? nvals : vals;
			if (!list)
				continue;
			az_field *f = &out->f[out->n];
			int vk;
			push(c, "key");
			if (compile_key(c, json_string_value(key), f, &vk) < 0)
				return -1;
			pop(c);
			f->neg = (uint8_t)neg;
			f->name = mp_arena_printf(c->ar, "when %s%s", json_string_value(key),
			                          neg ? " (notValues)" : "");
			push(c, neg ? "notValues" : "values");
			if (compile_list(c, list, vk, f) < 0)
				return -1;
			pop(c);
			out->n++;
		}
		pop(c);
	}
	return 0;
}

static int rule_http_only(const az_rule *r)
{
	const az_clause *lists[2] = {r->from, r->to};
	const uint32_t counts[2] = {r->nfrom, r->nto};
	for (int l = 0; l < 2; l++)
		for (uint32_t i = 0; i < counts[l]; i++)
			for (uint32_t k = 0; k < lists[l][i].n; k++)
				if (lists[l][i].f[k].http_only)
					return 1;
	for (uint32_t k = 0; k < r->when.n; k++)
		if (r->when.f[k].http_only)
			return 1;
	return 0;
}

static int compile_rule(cctx *c, json_t *obj, az_rule *r)
{
	if (!json_is_object(obj))
		return fail(c, "a rule must be a mapping");
	const char *k;
	json_t *v;
	json_object_foreach(obj, k, v)
	{
		push(c, k);
		if (!strcmp(k, "from")) {
			if (compile_clauses(c, v, "source", source_fields,
			                    sizeof(source_fields) / sizeof(*source_fields),
			                    &r->from, &r->nfrom) < 0)
				return -1;
		} else if (!strcmp(k, "to")) {
			if (compile_clauses(c, v, "operation", operation_fields,
			                    sizeof(operation_fields) / sizeof(*operation_fields),
			                    &r->to, &r->nto) < 0)
				return -1;
		} else if (!strcmp(k, "when")) {
			if (compile_when(c, v, &r->when) < 0)
				return -1;
		} else {
			return fail(c, "rule: unknown field '%s' (expected from, to, when)", k);
		}
		pop(c);
	}
	r->http_only = (uint8_t)rule_http_only(r);
	r->empty = !r->nfrom && !r->nto && !r->when.n;
	return 0;
}

static int compile_labels(cctx *c, json_t *obj, az_kv **out, uint32_t *n)
{
	const char *k;
	json_t *v;
	if (!json_is_object(obj))
		return fail(c, "'matchLabels' must be a mapping of strings");
	*out = mp_arena_alloc(c->ar, (json_object_size(obj) + 1) * sizeof(az_kv));
	if (!*out)
		return -1;
	json_object_foreach(obj, k, v)
	{
		char buf[64];
		const char *s = az_scalar_text(v, buf, sizeof(buf));
		push(c, k);
		if (!s)
			return fail(c, "label '%s' must be a string", k);
		pop(c);
		(*out)[*n].key = mp_arena_strn(c->ar, k, strlen(k));
		(*out)[*n].value = mp_arena_strn(c->ar, s, strlen(s));
		(*n)++;
	}
	return 0;
}

/* Target references: kept as (kind, name) for the compiler to resolve against the model. */
typedef struct {
	const char *kind, *name;
} tref;

static int compile_tref(cctx *c, json_t *obj, tref *out)
{
	const char *k;
	json_t *v;
	if (!json_is_object(obj))
		return fail(c, "a target reference must be a mapping");
	json_object_foreach(obj, k, v)
	{
		push(c, k);
		if (strcmp(k, "group") && strcmp(k, "kind") && strcmp(k, "name") &&
		    strcmp(k, "namespace"))
			return fail(c, "target reference: unknown field '%s'", k);
		if (!json_is_string(v))
			return fail(c, "'%s' must be a string", k);
		pop(c);
	}
	out->kind = json_string_value(json_object_get(obj, "kind"));
	out->name = json_string_value(json_object_get(obj, "name"));
	if (!out->kind || !out->name)
		return fail(c, "a target reference needs 'kind' and 'name'");
	return 0;
}

/* Compiles a spec into p (rules, selector, action). trefs receives the target references. */
static int compile_spec(cctx *c, json_t *spec, az_policy *p, tref *trefs, uint32_t *ntrefs,
                        uint32_t maxtrefs)
{
	const char *k;
	json_t *v;
	if (!json_is_object(spec))
		return fail(c, "the spec must be a mapping");
	json_t *action = json_object_get(spec, "action"), *provider = NULL;
	json_object_foreach(spec, k, v)
	{
		push(c, k);
		if (!strcmp(k, "action")) {
			const char *a = json_string_value(v);
			uint32_t i;
			for (i = 0; a && i < 4 && strcmp(a, action_names[i]); i++)
				;
			if (!a || i == 4)
				return fail(c, "action must be ALLOW, DENY, AUDIT or CUSTOM");
			p->action = i;
		} else if (!strcmp(k, "rules")) {
			if (!json_is_array(v))
				return fail(c, "'rules' must be a list");
			size_t n = json_array_size(v), i;
			json_t *r;
			p->rules = mp_arena_alloc(c->ar, (n ? n : 1) * sizeof(az_rule));
			if (!p->rules)
				return -1;
			json_array_foreach(v, i, r)
			{
				pushi(c, i);
				if (compile_rule(c, r, &p->rules[i]) < 0)
					return -1;
				pop(c);
			}
			p->nrules = (uint32_t)n;
		} else if (!strcmp(k, "selector")) {
			if (!json_is_object(v))
				return fail(c, "'selector' must be a mapping");
			const char *sk;
			json_t *sv;
			json_object_foreach(v, sk, sv)
			{
				push(c, sk);
				if (strcmp(sk, "matchLabels"))
					return fail(
					    c,
					    "selector: unknown field '%s' (expected matchLabels)",
					    sk);
				if (compile_labels(c, sv, &p->sel, &p->nsel) < 0)
					return -1;
				pop(c);
			}
		} else if (!strcmp(k, "targetRef") || !strcmp(k, "targetRefs")) {
			int many = !strcmp(k, "targetRefs");
			size_t n = many ? json_array_size(v) : 1, i;
			if (many && !json_is_array(v))
				return fail(c, "'targetRefs' must be a list");
			p->has_targets = 1;
			for (i = 0; i < n; i++) {
				if (many)
					pushi(c, i);
				if (*ntrefs == maxtrefs)
					return fail(c, "more than %u target references", maxtrefs);
				if (compile_tref(c, many ? json_array_get(v, i) : v,
				                 &trefs[(*ntrefs)++]) < 0)
					return -1;
				if (many)
					pop(c);
			}
		} else if (!strcmp(k, "provider")) {
			const char *pk;
			json_t *pv;
			if (!json_is_object(v))
				return fail(c, "'provider' must be a mapping");
			json_object_foreach(v, pk, pv)
			{
				if (strcmp(pk, "name")) {
					push(c, pk);
					return fail(c, "provider: unknown field '%s'", pk);
				}
			}
			provider = json_object_get(v, "name");
			if (!json_is_string(provider))
				return fail(c, "provider needs a 'name' string");
			p->provider = mp_arena_strn(c->ar, json_string_value(provider),
			                            strlen(json_string_value(provider)));
		} else {
			return fail(c,
			            "unknown field '%s' (expected selector, targetRef, targetRefs, "
			            "action, provider, rules)",
			            k);
		}
		pop(c);
	}
	if (json_object_get(spec, "selector") &&
	    (json_object_get(spec, "targetRef") || json_object_get(spec, "targetRefs"))) {
		push(c, "selector");
		return fail(c, "at most one of selector and targetRef(s) may be set");
	}
	if (p->action == ACT_CUSTOM && !provider) {
		if (action)
			push(c, "action");
		return fail(c, "a CUSTOM policy needs 'provider'");
	}
	if (p->action != ACT_CUSTOM && provider) {
		push(c, "provider");
		return fail(c, "'provider' is only valid with action CUSTOM");
	}
	return c->ar->oom ? fail(c, "out of memory") : 0;
}

int mp_authz_check_spec(json_t *spec, char *err, size_t errlen, char *path, size_t pathlen)
{
	mp_arena ar = {0};
	az_policy p;
	tref trefs[64];
	uint32_t ntrefs = 0;
	memset(&p, 0, sizeof(p));
	cctx c = {.ar = &ar, .err = err, .errlen = errlen, .policy_ns = "default"};
	int rc = compile_spec(&c, spec, &p, trefs, &ntrefs, 64);
	snprintf(path, pathlen, "%s", rc < 0 ? c.path : "");
	mp_arena_free(&ar);
	return rc;
}

/* --- compiling the model's policies --- */

static const char *rule_name(mp_arena *ar, const az_policy *p, uint32_t i)
{
	if (p->rules[i].empty && p->action == ACT_DENY)
		return "deny-all";
	return mp_arena_printf(ar, "rules[%u]", i);
}

static int compile_policy(mp_authz *a, const mp_resource *res, const char *rootns, char *err,
                          size_t errlen)
{
	const mp_model *m = a->m;
	mp_model_view v = mp_model_get_view(m);
	json_error_t je;
	json_t *spec = json_loads(mp_model_str(m, res->spec), 0, &je);
	az_policy *p = &a->p[a->np];
	tref trefs[64];
	uint32_t ntrefs = 0;
	char path[512], where[600];
	const char *ns = mp_model_str(m, res->ns), *name = mp_model_str(m, res->name);
	memset(p, 0, sizeof(*p));
	cctx c = {.ar = &a->ar, .err = err, .errlen = errlen, .policy_ns = ns};
	mp_model_loc_str(m, res->loc, where, sizeof(where));
	if (!spec) {
		snprintf(err, errlen, "%s: AuthorizationPolicy %s/%s: stored spec is not JSON: %s",
		         where, ns, name, je.text);
		return -1;
	}
	/* trefs point into spec: it lives until they are resolved, below */
	int rc = compile_spec(&c, spec, p, trefs, &ntrefs, 64);
	if (rc < 0) {
		json_decref(spec);
		snprintf(path, sizeof(path), "%s", err);
		snprintf(err, errlen, "%s: AuthorizationPolicy %s/%s: %s", where, ns, name, path);
		return -1;
	}
	p->ns = mp_model_find_namespace(m, ns);
	p->cluster = res->cluster;
	p->dry_run = res->flags & MP_RESOURCE_DRY_RUN;
	p->meshpol = p->action == ACT_CUSTOM && a->meshpol && a->meshpol[0] &&
	             !strcmp(p->provider, a->meshpol);
	p->nsname = !strcmp(ns, rootns) ? "" : ns;
	p->title = mp_arena_printf(&a->ar, "AuthorizationPolicy %s/%s", ns, name);
	p->version =
	    mp_arena_strn(&a->ar, mp_model_str(m, res->version), mp_model_str_len(m, res->version));
	p->loc = mp_arena_strn(&a->ar, where, strlen(where));
	if (p->has_targets) {
		p->targets = mp_arena_alloc(&a->ar, (ntrefs + 1) * sizeof(mp_id));
		for (uint32_t i = 0; p->targets && i < ntrefs; i++) {
			mp_id s = MP_NONE;
			if (!strcmp(trefs[i].kind, "Service"))
				s = mp_model_find_service_ns(m, ns, trefs[i].name);
			else if (!strcmp(trefs[i].kind, "Gateway"))
				s = mp_model_find_service_ns(m, ns, trefs[i].name);
			if (s != MP_NONE)
				p->targets[p->ntargets++] = s;
		}
	}
	json_decref(spec);
	const char *act = action_names[p->action];
	for (uint32_t i = 0; i < p->nrules; i++) {
		az_rule *r = &p->rules[i];
		mp_loc l = res->loc;
		if (i < res->aux.n)
			l.line = v.u32[res->aux.off + i];
		mp_model_loc_str(m, l, where, sizeof(where));
		r->loc = mp_arena_strn(&a->ar, where, strlen(where));
		r->name = rule_name(&a->ar, p, i);
		switch (p->action) {
		case ACT_ALLOW:
			r->msg =
			    mp_arena_printf(&a->ar, "allowed by %s of ALLOW %s%s", r->name,
			                    p->title, p->dry_run ? " (dry run: not enforced)" : "");
			break;
		case ACT_DENY:
			r->msg =
			    mp_arena_printf(&a->ar, "denied by %s of DENY %s%s", r->name, p->title,
			                    p->dry_run ? " (dry run: not enforced)" : "");
			break;
		case ACT_AUDIT:
			r->msg =
			    mp_arena_printf(&a->ar, "audited by %s of AUDIT %s", r->name, p->title);
			break;
		default:
			if (p->meshpol) {
				r->msg =
				    mp_arena_printf(&a->ar,
				                    "%s of CUSTOM %s matched: its extension "
				                    "provider '%s' is meshpol, "
				                    "and the bundle does not allow the request",
				                    r->name, p->title, p->provider);
				break;
			}
			r->msg = mp_arena_printf(
			    &a->ar,
			    "%s of CUSTOM %s matched: the request would go to extension "
			    "provider '%s', which meshpol cannot consult (CUSTOM is not "
			    "supported), so it is denied rather than allowed unchecked",
			    r->name, p->title, p->provider ? p->provider : "");
		}
	}
	if (p->meshpol)
		p->msg_nobundle = mp_arena_printf(
		    &a->ar,
		    "CUSTOM %s matched: its extension provider '%s' is meshpol, which decides with "
		    "a "
		    "bundle, and none was given; denied rather than allowed unchecked",
		    p->title, p->provider);
	p->msg_nomatch =
	    p->nrules
	        ? mp_arena_printf(&a->ar,
	                          "%s %s applies to the workload and none of its %u rule%s matched",
	                          act, p->title, p->nrules, p->nrules == 1 ? "" : "s")
	        : mp_arena_printf(&a->ar, "%s %s has no rules: it allows nothing", act, p->title);
	a->np++;
	if (a->ar.oom) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	return 0;
}

/* --- which policies apply to which workload --- */

static int unit_has_labels(const mp_authz *a, uint32_t u, const az_kv *sel, uint32_t nsel)
{
	const mp_model *m = a->m;
	mp_model_view v = mp_model_get_view(m);
	mp_span labels =
	    u < a->nworkloads ? v.workloads[u].labels : v.services[u - a->nworkloads].labels;
	for (uint32_t i = 0; i < nsel; i++) {
		uint32_t k;
		for (k = 0; k < labels.n; k++) {
			const mp_label *l = &v.labels[labels.off + k];
			if (!strcmp(mp_model_str(m, l->key), sel[i].key) &&
			    !strcmp(mp_model_str(m, l->value), sel[i].value))
				break;
		}
		if (k == labels.n)
			return 0;
	}
	return 1;
}

static mp_id unit_ns(const mp_authz *a, uint32_t u)
{
	mp_model_view v = mp_model_get_view(a->m);
	return u < a->nworkloads ? v.workloads[u].ns : v.services[u - a->nworkloads].ns;
}

static mp_id unit_service_of(const mp_authz *a, uint32_t u, uint32_t k)
{
	mp_model_view v = mp_model_get_view(a->m);
	if (u >= a->nworkloads)
		return k == 0 ? u - a->nworkloads : MP_NONE;
	const mp_workload *w = &v.workloads[u];
	return k < w->services.n ? v.u32[w->services.off + k] : MP_NONE;
}

static int unit_in_cluster(const mp_authz *a, uint32_t u, mp_id cluster)
{
	mp_model_view v = mp_model_get_view(a->m);
	if (cluster == MP_NONE)
		return 1;
	if (u < a->nworkloads)
		return v.workloads[u].cluster == cluster;
	const mp_service *s = &v.services[u - a->nworkloads];
	for (uint32_t i = 0; i < s->clusters.n; i++)
		if (v.u32[s->clusters.off + i] == cluster)
			return 1;
	return 0;
}

static int applies(const mp_authz *a, const az_policy *p, uint32_t u, mp_id rootns)
{
	if (!unit_in_cluster(a, u, p->cluster))
		return 0;
	if (p->has_targets) {
		for (uint32_t t = 0; t < p->ntargets; t++)
			for (uint32_t k = 0;; k++) {
				mp_id s = unit_service_of(a, u, k);
				if (s == MP_NONE)
					break;
				if (s == p->targets[t])
					return 1;
			}
		return 0;
	}
	if (p->ns == MP_NONE || (p->ns != rootns && p->ns != unit_ns(a, u)))
		return 0;
	return unit_has_labels(a, u, p->sel, p->nsel);
}

static int build_index(mp_authz *a, mp_id rootns)
{
	mp_model_view v = mp_model_get_view(a->m);
	a->nworkloads = v.nworkloads;
	a->nunits = v.nworkloads + v.nservices;
	a->unit_off = mp_arena_alloc(&a->ar, ((size_t)a->nunits + 1) * sizeof(uint32_t));
	if (!a->unit_off)
		return -1;
	/* two passes: count, then fill */
	for (int pass = 0; pass < 2; pass++) {
		uint32_t total = 0;
		for (uint32_t u = 0; u < a->nunits; u++) {
			const mp_id *ws;
			if (u >= a->nworkloads &&
			    mp_model_workloads_of_service(a->m, u - a->nworkloads, &ws) > 0) {
				a->unit_off[u + 1] =
				    total; /* the service has workloads: not a unit */
				continue;
			}
			for (uint32_t i = 0; i < a->np; i++)
				if (applies(a, &a->p[i], u, rootns)) {
					if (pass)
						a->unit_pol[total] = i;
					total++;
				}
			if (!pass)
				a->unit_off[u + 1] = total;
		}
		if (!pass) {
			a->unit_pol =
			    mp_arena_alloc(&a->ar, ((size_t)total + 1) * sizeof(uint32_t));
			if (!a->unit_pol)
				return -1;
		}
	}
	return 0;
}

/* The mesh settings the importer stored (MeshConfig resource): the root namespace, and the
 * extension provider that is meshpol ("" when none). */
static void mesh_settings(const mp_model *m, char *rootns, size_t len, char *meshpol, size_t mlen)
{
	mp_model_view v = mp_model_get_view(m);
	snprintf(rootns, len, "istio-system");
	snprintf(meshpol, mlen, "%s", "");
	for (uint32_t i = 0; i < v.nresources; i++) {
		if (strcmp(mp_model_str(m, v.resources[i].kind), "MeshConfig"))
			continue;
		json_t *j = json_loads(mp_model_str(m, v.resources[i].spec), 0, NULL);
		const char *r = json_string_value(json_object_get(j, "rootNamespace"));
		const char *mp = json_string_value(json_object_get(j, "meshpolProvider"));
		if (r && *r)
			snprintf(rootns, len, "%s", r);
		if (mp)
			snprintf(meshpol, mlen, "%s", mp);
		json_decref(j);
		break;
	}
}

/* Istio's AuthorizationPolicy (Linkerd has a kind of that name too). */
static int is_policy(const mp_model *m, const mp_resource *r)
{
	return !strcmp(mp_model_str(m, r->kind), "AuthorizationPolicy") &&
	       mp_provider_of(m, r) == &mp_provider_istio;
}

mp_authz *mp_authz_compile(const mp_model *m, char *err, size_t errlen)
{
	mp_model_view v = mp_model_get_view(m);
	mp_authz *a = mp_calloc(1, sizeof(*a));
	char rootns[256], meshpol[256];
	if (!a) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	a->m = m;
	mesh_settings(m, rootns, sizeof(rootns), meshpol, sizeof(meshpol));
	a->meshpol = mp_arena_strn(&a->ar, meshpol, strlen(meshpol));
	uint32_t n = 0;
	for (uint32_t i = 0; i < v.nresources; i++)
		n += is_policy(m, &v.resources[i]);
	a->p = mp_arena_alloc(&a->ar, (n + 1) * sizeof(az_policy));
	if (!a->p) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	for (uint32_t i = 0; i < v.nresources; i++)
		if (is_policy(m, &v.resources[i]) &&
		    compile_policy(a, &v.resources[i], rootns, err, errlen) < 0)
			goto fail;
	if ((a->np && build_index(a, mp_model_find_namespace(m, rootns)) < 0) || a->ar.oom) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	return a;
fail:
	mp_authz_free(a);
	return NULL;
}

void mp_authz_free(mp_authz *a)
{
	if (!a)
		return;
	mp_arena_free(&a->ar);
	mp_free(a);
}

uint32_t mp_authz_count(const mp_authz *a)
{
	return a ? a->np : 0;
}
