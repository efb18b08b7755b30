/* intentions.c: Consul's intentions compiled from the model and decided (intentions.h). The
 * precedence table and sort are consul agent/structs/config_entry_intentions.go
 * (computeIntentionPrecedence) and intention.go (IntentionPrecedenceSorter); what Envoy
 * enforces is agent/xds/rbac.go (removeSameSourceIntentions, removeSourcePrecedence,
 * removePermissionPrecedence); headers match as Envoy's HeaderUtility::matchHeaders does.
 * Semantics: docs/import.md ("Consul"). */
#include "intentions.h"
#include "alloc.h"
#include "consul_int.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* --- strings the authz owns --- */

static const char *keep(consul_authz *a, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static const char *keep(consul_authz *a, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	char *s = mp_strdup(buf);
	if (!s || mp_grow((void **)&a->strs, &a->capstrs, sizeof(char *), a->nstrs, 64) < 0) {
		mp_free(s);
		return NULL;
	}
	a->strs[a->nstrs++] = s;
	return s;
}

/* --- reading the stored entries --- */

typedef struct {
	consul_authz *a;
	const mp_resource *r;
	const uint32_t *lines;
	uint32_t nlines, at;
	char *err;
	size_t errlen;
} reader;

static int fail(reader *rd, const char *fmt, const char *arg)
{
	char msg[400];
	snprintf(msg, sizeof(msg), fmt, arg);
	snprintf(rd->err, rd->errlen, "%s %s/%s: %s", mp_model_str(rd->a->m, rd->r->kind),
	         mp_model_str(rd->a->m, rd->r->ns), mp_model_str(rd->a->m, rd->r->name), msg);
	return -1;
}

static const char *sval(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));
	return s ? s : "";
}

static const char *loc_at(reader *rd, uint32_t line)
{
	char buf[700];
	mp_loc l = {rd->r->loc.file, line ? line : rd->r->loc.line, 0};
	return keep(rd->a, "%s", mp_model_loc_str(rd->a->m, l, buf, sizeof(buf)));
}

static uint32_t next_line(reader *rd)
{
	return rd->at < rd->nlines ? rd->lines[rd->at++] : 0;
}

static int read_header(reader *rd, json_t *j, cx_header *h)
{
	static const char *const kinds[] = {"present", "exact",    "prefix",
	                                    "suffix",  "contains", "regex"};
	char lower[256];
	size_t i;
	const char *name = sval(j, "name");
	for (i = 0; name[i] && i + 1 < sizeof(lower); i++)
		lower[i] = (char)tolower((unsigned char)name[i]);
	lower[i] = '\0';
	h->name = keep(rd->a, "%s", lower);
	h->invert = json_is_true(json_object_get(j, "invert"));
	h->nocase = json_is_true(json_object_get(j, "ignoreCase"));
	h->kind = CH_PRESENT;
	for (int k = 1; k < 6; k++)
		if (json_object_get(j, kinds[k]))
			h->kind = (uint8_t)k;
	h->value = keep(rd->a, "%s", h->kind == CH_PRESENT ? "" : sval(j, kinds[h->kind]));
	if (!h->name || !h->value)
		return fail(rd, "%s", "out of memory");
	h->len = strlen(h->value);
	if (h->kind == CH_REGEX) {
		char err[256];
		if (!(h->re = mp_regex_compile(h->value, h->len, err, sizeof(err))))
			return fail(rd, "header regex: %s", err);
	}
	return 0;
}

static int read_perm(reader *rd, json_t *j, cx_perm *p, const cx_source *s, uint32_t m)
{
	json_t *http = json_object_get(j, "http"), *x;
	size_t i;
	p->jwt = json_object_size(json_object_get(j, "jwt")) != 0;
	p->action = !strcmp(sval(j, "action"), "allow")  ? CX_ALLOW
	            : !strcmp(sval(j, "action"), "deny") ? CX_DENY
	                                                 : CX_NONE;
	if (!p->action)
		return fail(rd, "permission action '%s' is not allow or deny", sval(j, "action"));
	static const char *const paths[] = {"", "pathExact", "pathPrefix", "pathRegex"};
	for (int k = 1; k < 4; k++)
		if (*sval(http, paths[k])) {
			p->path_kind = (uint8_t)k;
			p->path = sval(http, paths[k]);
			p->path_len = strlen(p->path);
		}
	if (p->path_kind == CP_REGEX) {
		char err[256];
		if (!(p->re = mp_regex_compile(p->path, p->path_len, err, sizeof(err))))
			return fail(rd, "pathRegex: %s", err);
	}
	json_array_foreach(json_object_get(http, "methods"), i, x) p->methods |=
	    mp_method_bit(json_string_value(x) ? json_string_value(x) : "");
	json_t *hs = json_object_get(http, "header");
	if (json_array_size(hs) && !(p->h = mp_calloc(json_array_size(hs), sizeof(*p->h))))
		return fail(rd, "%s", "out of memory");
	json_array_foreach(hs, i, x)
	{
		if (read_header(rd, x, &p->h[p->nh++]) < 0)
			return -1;
	}
	p->rule = keep(rd->a, "%s.permissions[%u]", s->rule, m);
	p->loc = loc_at(rd, next_line(rd));
	return p->rule && p->loc ? 0 : fail(rd, "%s", "out of memory");
}

/* Consul's precedence (computeIntentionPrecedence): 9, 6 or 3 for a destination with two, one
 * or no exact parts, less the source's wildcards. */
static uint8_t exact_parts(const char *ns, const char *name)
{
	return !strcmp(ns, "*") ? 0 : !strcmp(name, "*") ? 1 : 2;
}

static int read_source(reader *rd, const cx_entry *e, json_t *j, cx_source *s, uint32_t n)
{
	json_t *perms = json_object_get(j, "permissions"), *p;
	size_t i;
	s->entry = e;
	s->index = n;
	s->name = sval(j, "name");
	s->peer = sval(j, "peer");
	s->sameness = sval(j, "samenessGroup");
	/* a local source inherits the destination's namespace and partition; a peer's or a
	 * sameness group's namespace is `default` (config_entry_intentions.go normalize) */
	int local = !*s->peer && !*s->sameness;
	s->ns = *sval(j, "namespace") ? sval(j, "namespace") : local ? e->ns : "default";
	s->partition = *sval(j, "partition") ? sval(j, "partition") : local ? e->partition : "";
	s->wild = (uint8_t)(2 - exact_parts(s->ns, s->name));
	s->prec = (uint8_t)((uint8_t[]){3, 6, 9}[exact_parts(e->ns, e->name)] - s->wild);
	s->action = json_array_size(perms)                ? CX_L7
	            : !strcmp(sval(j, "action"), "allow") ? CX_ALLOW
	            : !strcmp(sval(j, "action"), "deny")  ? CX_DENY
	                                                  : CX_NONE;
	if (!s->action)
		return fail(rd, "source action '%s' is not allow or deny", sval(j, "action"));
	s->rule = keep(rd->a, "sources[%u]", n);
	s->rule_nomatch = keep(rd->a, "sources[%u].no-permission-matched", n);
	/* "sources[2] (web)", "sources[1] (ops/NAME)", "sources[0] (peer partner web)" */
	int other_ns = strcmp(s->ns, e->ns) != 0;
	s->what = keep(rd->a, "sources[%u] (%s%s%s%s%s%s)", n, *s->peer ? "peer " : "", s->peer,
	               *s->peer ? " " : "", other_ns ? s->ns : "", other_ns ? "/" : "", s->name);
	uint32_t line = next_line(rd);
	s->loc = loc_at(rd, line);
	s->mloc = (mp_loc){rd->r->loc.file, line ? line : rd->r->loc.line, 0};
	if (!s->rule || !s->rule_nomatch || !s->what || !s->loc)
		return fail(rd, "%s", "out of memory");
	if (json_array_size(perms) &&
	    !(s->perms = mp_calloc(json_array_size(perms), sizeof(*s->perms))))
		return fail(rd, "%s", "out of memory");
	json_array_foreach(perms, i, p)
	{
		cx_perm *perm = &s->perms[s->nperms++];
		if (read_perm(rd, p, perm, s, (uint32_t)i) < 0)
			return -1;
	}
	return 0;
}

/* Consul's sorter: precedence first, then source namespace and name (the destination is one). */
static int by_precedence(const void *pa, const void *pb)
{
	const cx_source *a = pa, *b = pb;
	int c;
	if (a->prec != b->prec)
		return a->prec > b->prec ? -1 : 1;
	if ((c = strcmp(a->ns, b->ns)) || (c = strcmp(a->name, b->name)))
		return c;
	return a->index < b->index ? -1 : a->index > b->index;
}

static int read_intentions(reader *rd, json_t *spec, cx_entry *e)
{
	const mp_model *m = rd->a->m;
	json_t *d = json_object_get(spec, "destination"), *srcs = json_object_get(spec, "sources");
	json_t *s;
	size_t i;
	e->ns = *sval(d, "namespace") ? sval(d, "namespace") : "default";
	e->name = sval(d, "name");
	e->partition = *sval(spec, "partition") ? sval(spec, "partition") : "default";
	e->ns_id = mp_model_find_str(m, e->ns, strlen(e->ns));
	e->name_id = mp_model_find_str(m, e->name, strlen(e->name));
	e->part_id = mp_model_find_str(m, e->partition, strlen(e->partition));
	e->jwt = json_array_size(json_object_get(json_object_get(spec, "jwt"), "providers")) != 0;
	e->title = keep(rd->a, "ServiceIntentions %s/%s", e->ns, e->name);
	e->version = keep(rd->a, "%s", mp_model_str(m, rd->r->version));
	e->loc = loc_at(rd, 0);
	e->mloc = rd->r->loc;
	if (!e->title || !e->loc || !e->version)
		return fail(rd, "%s", "out of memory");
	if (!*e->name || !json_array_size(srcs))
		return fail(rd, "%s", "no destination name or no sources");
	if (!(e->src = mp_calloc(json_array_size(srcs), sizeof(*e->src))))
		return fail(rd, "%s", "out of memory");
	json_array_foreach(srcs, i, s)
	{
		/* counted first, so that consul_authz_free frees what a failed read allocated */
		cx_source *src = &e->src[e->nsrc++];
		if (read_source(rd, e, s, src, (uint32_t)i) < 0)
			return -1;
	}
	qsort(e->src, e->nsrc, sizeof(*e->src), by_precedence);
	return 0;
}

static int read_defaults(reader *rd, json_t *spec, cx_defaults *d, int proxy)
{
	const mp_model *m = rd->a->m;
	const char *p =
	    proxy ? sval(json_object_get(spec, "config"), "protocol") : sval(spec, "protocol");
	char lower[32];
	size_t i;
	for (i = 0; p[i] && i + 1 < sizeof(lower); i++)
		lower[i] = (char)tolower((unsigned char)p[i]);
	lower[i] = '\0';
	/* copies: the analyzers compile a model still being built, whose strings move */
	d->ns = keep(rd->a, "%s", mp_model_str(m, rd->r->ns));
	d->name = keep(rd->a, "%s", mp_model_str(m, rd->r->name));
	d->protocol = *p ? keep(rd->a, "%s", lower) : NULL;
	d->has_mode = *sval(spec, "mutualTLSMode") != '\0';
	d->permissive = !strcmp(sval(spec, "mutualTLSMode"), "permissive");
	d->title = keep(rd->a, "%s %s/%s", mp_model_str(m, rd->r->kind), d->ns, d->name);
	(void)next_line(rd); /* the protocol's line */
	d->mtls_loc = loc_at(rd, next_line(rd));
	return d->ns && d->name && d->title && d->mtls_loc && (!*p || d->protocol)
	           ? 0
	           : fail(rd, "%s", "out of memory");
}

static int read_dc(reader *rd, json_t *spec, cx_dc *dc)
{
	static const char *const modes[] = {"off", "mirror", "single"};
	dc->cluster = rd->r->cluster;
	dc->datacenter = sval(spec, "datacenter");
	dc->partition = *sval(spec, "partition") ? sval(spec, "partition") : "default";
	for (uint32_t k = 0; k < 3; k++)
		if (!strcmp(sval(spec, "namespaces"), modes[k]))
			dc->ns_mode = k;
	dc->prefix = sval(spec, "namespacePrefix");
	dc->single =
	    *sval(spec, "destinationNamespace") ? sval(spec, "destinationNamespace") : "default";
	dc->default_allow = !strcmp(sval(spec, "defaultPolicy"), "allow");
	dc->default_from = sval(spec, "defaultFrom");
	dc->default_rule = sval(spec, "defaultRule");
	dc->default_loc = rd->nlines ? loc_at(rd, rd->lines[0]) : NULL;
	if (*sval(spec, "trustDomain"))
		rd->a->trust_domain = sval(spec, "trustDomain");
	return rd->nlines && !dc->default_loc ? fail(rd, "%s", "out of memory") : 0;
}

static int by_destination(const void *pa, const void *pb)
{
	const cx_entry *a = pa, *b = pb;
	if (a->name_id != b->name_id)
		return a->name_id < b->name_id ? -1 : 1;
	if (a->ns_id != b->ns_id)
		return a->ns_id < b->ns_id ? -1 : 1;
	return a->part_id < b->part_id ? -1 : a->part_id > b->part_id;
}

consul_authz *consul_authz_compile(const mp_model *m, char *err, size_t errlen)
{
	mp_model_view v = mp_model_get_view(m);
	consul_authz *a = mp_calloc(1, sizeof(*a));
	uint32_t n[4] = {0};
	if (!a)
		goto oom;
	a->m = m;
	/* count, then read */
	for (uint32_t i = 0; i < v.nresources; i++) {
		const char *kind = mp_model_str(m, v.resources[i].kind);
		n[0] += !strcmp(kind, "ServiceIntentions");
		n[1] += !strcmp(kind, "ServiceDefaults");
		n[2] += !strcmp(kind, "ConsulConfig");
	}
	if ((n[0] && !(a->e = mp_calloc(n[0], sizeof(*a->e)))) ||
	    (n[1] && !(a->sd = mp_calloc(n[1], sizeof(*a->sd)))) ||
	    (n[2] && !(a->dc = mp_calloc(n[2], sizeof(*a->dc)))))
		goto oom;
	for (uint32_t i = 0; i < v.nresources; i++) {
		const mp_resource *r = &v.resources[i];
		const char *kind = mp_model_str(m, r->kind);
		int consul = !strcmp(mp_model_str(m, r->api), CONSUL_API);
		int cfg = !strcmp(kind, "ConsulConfig");
		if (!(consul &&
		      (!strcmp(kind, "ServiceIntentions") || !strcmp(kind, "ServiceDefaults") ||
		       !strcmp(kind, "ProxyDefaults") || !strcmp(kind, "Mesh") ||
		       !strcmp(kind, "ExportedServices"))) &&
		    !cfg)
			continue;
		reader rd = {a, r, v.u32 + r->aux.off, r->aux.n, 0, err, errlen};
		json_error_t je;
		json_t *spec = json_loads(mp_model_str(m, r->spec), 0, &je);
		int rc = 0;
		if (!spec || !json_is_object(spec)) {
			json_decref(spec);
			fail(&rd, "stored spec is not a JSON object%s", "");
			goto fail;
		}
		/* the entries borrow the spec's strings: it lives as long as the authz */
		if (mp_grow((void **)&a->specs, &a->capspecs, sizeof(json_t *), a->nspecs, 16) <
		    0) {
			json_decref(spec);
			goto oom;
		}
		a->specs[a->nspecs++] = spec;
		if (!strcmp(kind, "ServiceIntentions")) {
			rc = read_intentions(&rd, spec, &a->e[a->ne]);
			a->nintentions += a->e[a->ne].nsrc;
			a->ne++;
		} else if (!strcmp(kind, "ServiceDefaults")) {
			rc = read_defaults(&rd, spec, &a->sd[a->nsd++], 0);
		} else if (!strcmp(kind, "ProxyDefaults")) {
			rc = read_defaults(&rd, spec, &a->pd, 1);
		} else if (!strcmp(kind, "Mesh")) {
			json_t *norm = json_object_get(
			    json_object_get(json_object_get(spec, "http"), "incoming"),
			    "requestNormalization");
			a->merge_slashes = json_is_true(json_object_get(norm, "mergeSlashes"));
			a->no_normalize =
			    json_is_true(json_object_get(norm, "insecureDisablePathNormalization"));
		} else if (!strcmp(kind, "ExportedServices")) {
			a->exports = spec; /* borrowed from specs[] */
		} else if (cfg) {
			rc = read_dc(&rd, spec, &a->dc[a->ndc++]);
		}
		if (rc < 0)
			goto fail;
	}
	if (a->ne)
		qsort(a->e, a->ne, sizeof(*a->e), by_destination);
	for (uint32_t i = 0; i < a->ne; i++) /* the sources point at their (moved) entry */
		for (uint32_t k = 0; k < a->e[i].nsrc; k++)
			a->e[i].src[k].entry = &a->e[i];
	return a;
oom:
	snprintf(err, errlen, "out of memory");
fail:
	consul_authz_free(a);
	return NULL;
}

void consul_authz_free(consul_authz *a)
{
	if (!a)
		return;
	for (uint32_t i = 0; i < a->ne; i++) {
		for (uint32_t k = 0; k < a->e[i].nsrc; k++) {
			cx_source *s = &a->e[i].src[k];
			for (uint32_t p = 0; p < s->nperms; p++) {
				for (uint32_t h = 0; h < s->perms[p].nh; h++)
					mp_regex_free(s->perms[p].h[h].re);
				mp_free(s->perms[p].h);
				mp_regex_free(s->perms[p].re);
			}
			mp_free(s->perms);
		}
		mp_free(a->e[i].src);
	}
	/* an entry that failed to read may have sources beyond ne: none, it is counted first */
	for (uint32_t i = 0; i < a->nstrs; i++)
		mp_free(a->strs[i]);
	for (uint32_t i = 0; i < a->nspecs; i++)
		json_decref(a->specs[i]);
	mp_free(a->strs);
	mp_free(a->specs);
	mp_free(a->e);
	mp_free(a->sd);
	mp_free(a->dc);
	mp_free(a);
}

/* --- lookups --- */

const cx_dc *cx_dc_of(const consul_authz *a, mp_id cluster)
{
	for (uint32_t i = 0; i < a->ndc; i++)
		if (a->dc[i].cluster == cluster)
			return &a->dc[i];
	return a->ndc ? &a->dc[0] : NULL;
}

const char *cx_namespace(const cx_dc *dc, const char *k8s_ns, char *buf, size_t len)
{
	if (!dc || dc->ns_mode == CNS_OFF)
		snprintf(buf, len, "default");
	else if (dc->ns_mode == CNS_MIRROR)
		snprintf(buf, len, "%s%s", dc->prefix, k8s_ns);
	else
		snprintf(buf, len, "%s", dc->single);
	return buf;
}

const cx_entry *cx_entry_of(const consul_authz *a, const char *ns, const char *name,
                            const char *partition)
{
	cx_entry key = {.ns_id = mp_model_find_str(a->m, ns, strlen(ns)),
	                .name_id = mp_model_find_str(a->m, name, strlen(name)),
	                .part_id = mp_model_find_str(a->m, partition, strlen(partition))};
	if (!a->ne || key.ns_id == MP_NONE || key.name_id == MP_NONE || key.part_id == MP_NONE)
		return NULL;
	return bsearch(&key, a->e, a->ne, sizeof(*a->e), by_destination);
}

static const cx_defaults *service_defaults(const consul_authz *a, const char *ns, const char *name)
{
	for (uint32_t i = 0; i < a->nsd; i++)
		if (!strcmp(a->sd[i].ns, ns) && !strcmp(a->sd[i].name, name))
			return &a->sd[i];
	return NULL;
}

const char *cx_protocol(const consul_authz *a, const char *ns, const char *name)
{
	const cx_defaults *sd = service_defaults(a, ns, name);
	if (sd && sd->protocol)
		return sd->protocol;
	return a->pd.title && a->pd.protocol ? a->pd.protocol : "tcp";
}

int cx_http_like(const char *p)
{
	return !strcmp(p, "http") || !strcmp(p, "http2") || !strcmp(p, "grpc");
}

const cx_defaults *cx_permissive(const consul_authz *a, const char *ns, const char *name)
{
	const cx_defaults *sd = service_defaults(a, ns, name);
	if (sd && sd->has_mode)
		return sd->permissive ? sd : NULL;
	return a->pd.title && a->pd.permissive ? &a->pd : NULL;
}

/* --- the intentions that apply --- */

static int same_source(const cx_source *x, const cx_source *y)
{
	return !strcmp(x->name, y->name) && !strcmp(x->ns, y->ns) &&
	       !strcmp(x->partition, y->partition) && !strcmp(x->peer, y->peer) &&
	       !strcmp(x->sameness, y->sameness);
}

uint32_t cx_applicable(const consul_authz *a, const char *ns, const char *name,
                       const char *partition, const cx_source **out, uint32_t max)
{
	/* the three destination patterns have disjoint precedences (9-7, 6-4, 3-1): each entry's
	 * sources in order, one after the other, are in precedence order */
	const cx_entry *es[3] = {cx_entry_of(a, ns, name, partition),
	                         cx_entry_of(a, ns, "*", partition),
	                         cx_entry_of(a, "*", "*", partition)};
	uint32_t n = 0;
	for (int k = 0; k < 3; k++) {
		if (!es[k] || (k == 1 && !strcmp(name, "*")) || (k == 2 && es[k] == es[0]))
			continue;
		for (uint32_t i = 0; i < es[k]->nsrc && n < max; i++) {
			const cx_source *s = &es[k]->src[i];
			uint32_t j;
			for (j = 0; j < n && !same_source(out[j], s); j++)
				;
			if (j ==
			    n) /* a source seen higher up shadows it (removeSameSourceIntentions) */
				out[n++] = s;
		}
	}
	return n;
}

int cx_source_matches(const cx_source *s, const cx_caller *c)
{
	if (*s->sameness)
		return 0; /* expanded by Consul Enterprise into its members: not modelled */
	if (strcmp(s->peer, c->peer))
		return 0;
	if (!*s->peer && strcmp(s->partition, c->partition))
		return 0;
	return (!strcmp(s->ns, "*") || !strcmp(s->ns, c->ns)) &&
	       (!strcmp(s->name, "*") || !strcmp(s->name, c->name));
}

int cx_source_contains(const cx_source *hi, const cx_source *lo)
{
	if (hi->wild >= lo->wild || strcmp(hi->peer, lo->peer) ||
	    strcmp(hi->partition, lo->partition))
		return 0;
	return (!strcmp(lo->ns, "*") || !strcmp(lo->ns, hi->ns)) &&
	       (!strcmp(lo->name, "*") || !strcmp(lo->name, hi->name));
}

/* --- matching a request --- */

static int has_lower(const char *s)
{
	for (; *s; s++)
		if (islower((unsigned char)*s))
			return 1;
	return 0;
}

static int ends_with(const char *v, size_t n, const char *sfx, size_t k, int nocase)
{
	return n >= k && !(nocase ? strncasecmp(v + n - k, sfx, k) : memcmp(v + n - k, sfx, k));
}

static int contains(const char *v, size_t n, const char *sub, size_t k, int nocase)
{
	for (size_t i = 0; i + k <= n; i++)
		if (!(nocase ? strncasecmp(v + i, sub, k) : memcmp(v + i, sub, k)))
			return 1;
	return 0;
}

/* Envoy's header match (HeaderUtility::matchHeaders): an absent header matches only an
 * inverted `present`; invert negates the other criteria on a present header. */
static int header_matches(const cx_header *h, const cx_http *r)
{
	const char *v = NULL;
	for (uint32_t i = 0; i < r->nheaders && !v; i++)
		if (!strcasecmp(r->headers[i].name, h->name))
			v = r->headers[i].value;
	if (!v)
		return h->kind == CH_PRESENT && h->invert;
	size_t n = strlen(v);
	int m = 0;
	switch (h->kind) {
	case CH_PRESENT:
		m = 1;
		break;
	case CH_EXACT:
		m = n == h->len &&
		    !(h->nocase ? strncasecmp(v, h->value, n) : memcmp(v, h->value, n));
		break;
	case CH_PREFIX:
		m = n >= h->len &&
		    !(h->nocase ? strncasecmp(v, h->value, h->len) : memcmp(v, h->value, h->len));
		break;
	case CH_SUFFIX:
		m = ends_with(v, n, h->value, h->len, h->nocase);
		break;
	case CH_CONTAINS:
		m = contains(v, n, h->value, h->len, h->nocase);
		break;
	case CH_REGEX:
		m = mp_regex_full_match(h->re, v, n);
		if (m < 0) /* RE2 failed: fail closed, as if the criterion held for a deny */
			m = !h->invert;
		break;
	}
	return h->invert ? !m : m;
}

/* Does an HTTP request match a permission: its path, methods and every header (ANDed)? */
static int perm_matches(const cx_perm *p, const cx_http *r)
{
	if (p->path_kind) {
		if (!r->path)
			return 0;
		int m = p->path_kind == CP_EXACT
		            ? r->path_len == p->path_len && !memcmp(r->path, p->path, p->path_len)
		        : p->path_kind == CP_PREFIX
		            ? r->path_len >= p->path_len && !memcmp(r->path, p->path, p->path_len)
		            : mp_regex_full_match(p->re, r->path, r->path_len);
		if (m <= 0)
			return m < 0 && p->action == CX_DENY; /* fail closed */
	}
	if (p->jwt && p->action == CX_ALLOW && !r->has_auth)
		return 0; /* Consul's jwt_authn wants a token: none asserted (request.auth) */
	if (p->methods) {
		uint32_t bit = r->method && !has_lower(r->method) ? mp_method_bit(r->method) : 0;
		if (!(p->methods & bit))
			return 0;
	}
	for (uint32_t i = 0; i < p->nh; i++)
		if (!header_matches(&p->h[i], r))
			return 0;
	return 1;
}

uint32_t cx_yield(const cx_source *s, int http_like, const cx_http *h, const cx_perm **perm)
{
	*perm = NULL;
	if (s->action != CX_L7)
		return s->action;
	if (!http_like)
		return CX_DENY; /* rbac.go intentionToIntermediateRBACForm: L7 slipped through */
	for (uint32_t i = 0; i < s->nperms; i++) {
		const cx_perm *p = &s->perms[i];
		/* a connection (no HTTP request): an allow permission cannot be shown to match, a
		 * deny one is taken to (meshpol fails closed, as for Istio's HTTP-only fields) */
		if (h->http ? perm_matches(p, h) : p->action == CX_DENY) {
			*perm = p;
			return p->action;
		}
	}
	return CX_NONE;
}

static void explain_source(json_t *explain, const cx_source *s, int matched, const char *why)
{
	if (!explain)
		return;
	json_t *o =
	    json_pack("{s:s, s:s, s:s, s:s, s:s, s:b, s:i}", "policy", s->entry->title, "version",
	              s->entry->version, "rule", s->rule, "type", "consul.intention", "source",
	              s->loc, "matched", matched, "precedence", (int)s->prec);
	if (o && why)
		json_object_set_new(o, "why", json_string(why));
	if (o)
		json_array_append_new(explain, o);
}

#define MAX_APPLICABLE 256

void cx_decide(const consul_authz *a, const char *ns, const char *name, const char *partition,
               int http_like, int default_allow, const cx_caller *c, const cx_http *h,
               cx_outcome *out, json_t *explain)
{
	const cx_source *all[MAX_APPLICABLE], *dec[3];
	uint32_t n = cx_applicable(a, ns, name, partition, all, MAX_APPLICABLE), nd = 0;
	uint8_t least = 3;
	memset(out, 0, sizeof(*out));
	/* M, then A: each later member must have fewer wildcards than every one before it */
	for (uint32_t i = 0; i < n; i++) {
		int m = cx_source_matches(all[i], c);
		const char *why = !m ? "its source does not match the caller"
		                  : all[i]->wild >= least
		                      ? "a higher intention for a source inside this one decides"
		                      : NULL;
		explain_source(explain, all[i], m && !why, why);
		if (!m)
			continue;
		if (!out->nmatched++)
			out->top = all[i];
		if (all[i]->wild < least && nd < 3) {
			dec[nd++] = all[i];
			least = all[i]->wild;
		}
	}
	uint32_t want = default_allow ? CX_DENY : CX_ALLOW;
	const cx_perm *p;
	for (uint32_t i = 0; i < nd; i++)
		if (cx_yield(dec[i], http_like, h, &p) == want) {
			out->outcome = want == CX_ALLOW ? CO_ALLOW : CO_DENY;
			out->src = dec[i];
			out->perm = p;
			return;
		}
	if (!nd)
		return;
	uint32_t first = cx_yield(dec[0], http_like, h, &p);
	if (first != CX_NONE) { /* the default's own action: deny (default deny) or allow */
		out->outcome = first == CX_ALLOW ? CO_ALLOW : CO_DENY;
		out->src = dec[0];
		out->perm = p;
		return;
	}
	out->src = dec[0]; /* an L7 intention none of whose permissions matched */
}

int cx_exported(const consul_authz *a, const char *ns, const char *name, const char *peer)
{
	json_t *svc, *c;
	size_t i, k;
	json_array_foreach(json_object_get(a->exports, "services"), i, svc)
	{
		const char *sns = sval(svc, "namespace");
		if (strcmp(sval(svc, "name"), "*") && strcmp(sval(svc, "name"), name))
			continue;
		if (strcmp(*sns ? sns : "default", "*") && strcmp(*sns ? sns : "default", ns))
			continue;
		json_array_foreach(json_object_get(svc, "consumers"), k,
		                   c) if (!strcmp(sval(c, "peer"), peer)) return 1;
	}
	return 0;
}
