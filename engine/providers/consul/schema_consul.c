/* schema_consul.c: the fields of Consul's config entries, one table per object as consul-k8s'
 * CRDs spell them (control-plane/api/v1alpha1, the files NAME_types.go; newer fields from Consul's
 * config entry references), and the one reader that checks a document against them and returns it
 * as JSON with the CRD's names, whichever form it came in: a CRD's spec (exact camelCase names, as
 * Kubernetes reads them) or a config entry (any case, underscores ignored, as Consul's decoder
 * reads `PathExact` or `path_exact`). So the two forms of one entry give the same JSON, hence the
 * same model. Fields meshpol does not read are typed CT_ANY: checked to exist, kept as written.
 * Mapping: docs/import.md ("Consul"). */
#include "consul_int.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define F(n, t)                                                                                    \
	{                                                                                          \
		n, t, NULL                                                                         \
	}
#define FS(n, t, s)                                                                                \
	{                                                                                          \
		n, t, s                                                                            \
	}
#define END                                                                                        \
	{                                                                                          \
		NULL, CT_ANY, NULL                                                                 \
	}

/* --- ServiceIntentions --- */

static const consul_field ixn_header[] = {
    F("name", CT_STRING),     F("present", CT_BOOL),
    F("exact", CT_STRING),    F("prefix", CT_STRING),
    F("suffix", CT_STRING),   F("contains", CT_STRING),
    F("regex", CT_STRING),    F("invert", CT_BOOL),
    F("ignoreCase", CT_BOOL), END,
};
static const consul_field ixn_http[] = {
    F("pathExact", CT_STRING),         F("pathPrefix", CT_STRING), F("pathRegex", CT_STRING),
    FS("header", CT_LIST, ixn_header), F("methods", CT_STRINGS),   END,
};
static const consul_field ixn_permission[] = {
    F("action", CT_STRING),
    FS("http", CT_OBJECT, ixn_http),
    F("jwt", CT_ANY),
    END,
};
/* precedence, type and legacy*: what `consul config read` adds to each source; read-only */
static const consul_field ixn_source[] = {
    F("name", CT_STRING),
    F("namespace", CT_STRING),
    F("peer", CT_STRING),
    F("partition", CT_STRING),
    F("samenessGroup", CT_STRING),
    F("action", CT_STRING),
    FS("permissions", CT_LIST, ixn_permission),
    F("description", CT_STRING),
    F("precedence", CT_IGNORE),
    F("type", CT_IGNORE),
    F("legacyID", CT_IGNORE),
    F("legacyMeta", CT_IGNORE),
    F("legacyCreateTime", CT_IGNORE),
    F("legacyUpdateTime", CT_IGNORE),
    END,
};
static const consul_field ixn_destination[] = {F("name", CT_STRING), F("namespace", CT_STRING),
                                               END};
static const consul_field ixn_spec[] = {
    FS("destination", CT_OBJECT, ixn_destination),
    FS("sources", CT_LIST, ixn_source),
    F("jwt", CT_ANY),
    END,
};

/* --- ServiceDefaults, ProxyDefaults, Mesh --- */

static const consul_field defaults_spec[] = {
    F("protocol", CT_STRING),
    F("mode", CT_STRING),
    F("transparentProxy", CT_ANY),
    F("mutualTLSMode", CT_STRING),
    F("meshGateway", CT_ANY),
    F("expose", CT_ANY),
    F("externalSNI", CT_STRING),
    F("upstreamConfig", CT_ANY),
    F("destination", CT_ANY),
    F("maxInboundConnections", CT_INT),
    F("localConnectTimeoutMs", CT_INT),
    F("localRequestTimeoutMs", CT_INT),
    F("balanceInboundConnections", CT_STRING),
    F("rateLimits", CT_ANY),
    F("envoyExtensions", CT_ANY),
    END,
};
static const consul_field proxy_spec[] = {
    F("config", CT_ANY),
    F("mode", CT_STRING),
    F("transparentProxy", CT_ANY),
    F("mutualTLSMode", CT_STRING),
    F("meshGateway", CT_ANY),
    F("expose", CT_ANY),
    F("accessLogs", CT_ANY),
    F("envoyExtensions", CT_ANY),
    F("failoverPolicy", CT_ANY),
    F("prioritizeByLocality", CT_ANY),
    END,
};
static const consul_field mesh_spec[] = {
    F("transparentProxy", CT_ANY),
    F("allowEnablingPermissiveMutualTLS", CT_BOOL),
    F("tls", CT_ANY),
    F("http", CT_ANY),
    F("peering", CT_ANY),
    F("validateClusters", CT_BOOL),
    END,
};

/* --- the discovery chain: ServiceRouter, ServiceSplitter, ServiceResolver --- */

static const consul_field route_header[] = {
    F("name", CT_STRING),   F("present", CT_BOOL), F("exact", CT_STRING), F("prefix", CT_STRING),
    F("suffix", CT_STRING), F("regex", CT_STRING), F("invert", CT_BOOL),  END,
};
static const consul_field route_query[] = {
    F("name", CT_STRING), F("present", CT_BOOL), F("exact", CT_STRING), F("regex", CT_STRING), END,
};
static const consul_field route_http[] = {
    F("pathExact", CT_STRING),
    F("pathPrefix", CT_STRING),
    F("pathRegex", CT_STRING),
    F("caseInsensitive", CT_BOOL),
    FS("header", CT_LIST, route_header),
    FS("queryParam", CT_LIST, route_query),
    F("methods", CT_STRINGS),
    END,
};
static const consul_field route_match[] = {FS("http", CT_OBJECT, route_http), END};
static const consul_field route_dest[] = {
    F("service", CT_STRING),
    F("serviceSubset", CT_STRING),
    F("namespace", CT_STRING),
    F("partition", CT_STRING),
    F("prefixRewrite", CT_STRING),
    F("requestTimeout", CT_DURATION),
    F("idleTimeout", CT_DURATION),
    F("numRetries", CT_INT),
    F("retryOnConnectFailure", CT_BOOL),
    F("retryOn", CT_STRINGS),
    F("retryOnStatusCodes", CT_ANY),
    F("requestHeaders", CT_ANY),
    F("responseHeaders", CT_ANY),
    END,
};
static const consul_field route[] = {
    FS("match", CT_OBJECT, route_match),
    FS("destination", CT_OBJECT, route_dest),
    END,
};
static const consul_field router_spec[] = {FS("routes", CT_LIST, route), END};

static const consul_field split[] = {
    F("weight", CT_NUMBER),        F("service", CT_STRING),
    F("serviceSubset", CT_STRING), F("namespace", CT_STRING),
    F("partition", CT_STRING),     F("requestHeaders", CT_ANY),
    F("responseHeaders", CT_ANY),  END,
};
static const consul_field splitter_spec[] = {FS("splits", CT_LIST, split), END};

static const consul_field subset[] = {F("filter", CT_STRING), F("onlyPassing", CT_BOOL), END};
static const consul_field redirect[] = {
    F("service", CT_STRING),       F("serviceSubset", CT_STRING),
    F("namespace", CT_STRING),     F("partition", CT_STRING),
    F("datacenter", CT_STRING),    F("peer", CT_STRING),
    F("samenessGroup", CT_STRING), END,
};
static const consul_field failover_target[] = {
    F("service", CT_STRING),
    F("serviceSubset", CT_STRING),
    F("partition", CT_STRING),
    F("namespace", CT_STRING),
    F("datacenter", CT_STRING),
    F("peer", CT_STRING),
    END,
};
static const consul_field failover[] = {
    F("service", CT_STRING),
    F("serviceSubset", CT_STRING),
    F("namespace", CT_STRING),
    F("datacenters", CT_STRINGS),
    FS("targets", CT_LIST, failover_target),
    F("policy", CT_ANY),
    F("samenessGroup", CT_STRING),
    END,
};
static const consul_field resolver_spec[] = {
    F("defaultSubset", CT_STRING),
    FS("subsets", CT_MAP, subset),
    FS("redirect", CT_OBJECT, redirect),
    FS("failover", CT_MAP, failover),
    F("connectTimeout", CT_DURATION),
    F("requestTimeout", CT_DURATION),
    F("loadBalancer", CT_ANY),
    F("prioritizeByLocality", CT_ANY),
    END,
};

/* --- ExportedServices, gateways --- */

static const consul_field consumer[] = {F("partition", CT_STRING), F("peer", CT_STRING),
                                        F("samenessGroup", CT_STRING), END};
static const consul_field exported[] = {
    F("name", CT_STRING),
    F("namespace", CT_STRING),
    FS("consumers", CT_LIST, consumer),
    END,
};
static const consul_field exported_spec[] = {FS("services", CT_LIST, exported), END};

static const consul_field ingress_service[] = {
    F("name", CT_STRING),
    F("namespace", CT_STRING),
    F("partition", CT_STRING),
    F("hosts", CT_STRINGS),
    F("requestHeaders", CT_ANY),
    F("responseHeaders", CT_ANY),
    F("tls", CT_ANY),
    F("maxConnections", CT_INT),
    F("maxPendingRequests", CT_INT),
    F("maxConcurrentRequests", CT_INT),
    F("passiveHealthCheck", CT_ANY),
    END,
};
static const consul_field listener[] = {
    F("port", CT_INT),
    F("protocol", CT_STRING),
    FS("services", CT_LIST, ingress_service),
    F("tls", CT_ANY),
    END,
};
static const consul_field ingress_spec[] = {
    F("tls", CT_ANY),
    FS("listeners", CT_LIST, listener),
    F("defaults", CT_ANY),
    END,
};
static const consul_field linked_service[] = {
    F("name", CT_STRING),
    F("namespace", CT_STRING),
    F("caFile", CT_STRING),
    F("certFile", CT_STRING),
    F("keyFile", CT_STRING),
    F("sni", CT_STRING),
    F("disableAutoHostRewrite", CT_BOOL),
    END,
};
static const consul_field terminating_spec[] = {FS("services", CT_LIST, linked_service), END};

const consul_field *consul_spec_fields(uint32_t kind)
{
	static const consul_field *const specs[CK_KINDS] = {
	    [CK_SERVICEINTENTIONS] = ixn_spec,
	    [CK_SERVICEDEFAULTS] = defaults_spec,
	    [CK_PROXYDEFAULTS] = proxy_spec,
	    [CK_SERVICEROUTER] = router_spec,
	    [CK_SERVICESPLITTER] = splitter_spec,
	    [CK_SERVICERESOLVER] = resolver_spec,
	    [CK_MESH] = mesh_spec,
	    [CK_EXPORTEDSERVICES] = exported_spec,
	    [CK_TERMINATINGGATEWAY] = terminating_spec,
	    [CK_INGRESSGATEWAY] = ingress_spec,
	};
	return kind < CK_KINDS ? specs[kind] : NULL;
}

/* --- reading --- */

/* Does the key as written name field canon? A CRD's exactly; a config entry's as Consul's
 * decoder matches (mapstructure ignores case; lib.TranslateKeys takes snake_case). */
static int key_is(const idoc *dc, const char *written, const char *canon)
{
	if (!dc->form)
		return !strcmp(written, canon);
	for (;; written++, canon++) {
		while (*written == '_')
			written++;
		if (tolower((unsigned char)*written) != tolower((unsigned char)*canon))
			return 0;
		if (!*written)
			return 1;
	}
}

yaml_node_t *consul_get(idoc *dc, yaml_node_t *map, const char *name)
{
	yaml_node_t *k, *v;
	if (!map || map->type != YAML_MAPPING_NODE)
		return NULL;
	IM_MAP_FOREACH(dc, map, k, v)
	{
		const char *key = im_scalar(k);
		if (key && key_is(dc, key, name))
			return v;
	}
	return NULL;
}

int consul_is_duration(const char *s)
{
	static const char *const units[] = {"ns", "us", "µs", "ms", "s", "m", "h", NULL};
	if (!strcmp(s, "0"))
		return 1;
	if (*s == '-' || *s == '+')
		s++;
	if (!*s)
		return 0;
	while (*s) {
		size_t digits = strspn(s, "0123456789");
		int frac = s[digits] == '.';
		size_t fdigits = frac ? strspn(s + digits + 1, "0123456789") : 0;
		if (!digits && !fdigits)
			return 0;
		s += digits + frac + fdigits;
		size_t i, n = 0;
		for (i = 0; units[i]; i++) {
			n = strlen(units[i]);
			if (!strncmp(s, units[i], n) &&
			    /* "m" must not be the start of "ms" */
			    !(n == 1 && s[0] == 'm' && s[1] == 's'))
				break;
		}
		if (!units[i])
			return 0;
		s += n;
	}
	return 1;
}

/* The suggestion for an unknown key: the nearest field, spelt as the form spells it. */
static const char *nearest(const idoc *dc, const char *key, const consul_field *fields, char *buf,
                           size_t len)
{
	const char *names[64];
	size_t n = 0;
	for (const consul_field *f = fields; f->name && n + 1 < 64; f++)
		names[n++] = f->name;
	names[n] = NULL;
	const char *near = mp_diag_nearest(key, names);
	if (!near)
		return NULL;
	snprintf(buf, len, "%s", near);
	if (dc->form)
		buf[0] = (char)toupper((unsigned char)buf[0]);
	return buf;
}

static const char *kind_of(const yaml_node_t *n)
{
	return im_kind_of(n);
}

static json_t *value(mp_import *im, idoc *dc, yaml_node_t *v, const consul_field *f,
                     const char *path);

static json_t *list_of(mp_import *im, idoc *dc, yaml_node_t *v, const consul_field *f,
                       const char *path)
{
	yaml_node_t *item;
	json_t *out = json_array();
	uint32_t i = 0;
	int bad = 0;
	if (!out) {
		im->oom = 1;
		return NULL;
	}
	if (v->type != YAML_SEQUENCE_NODE) {
		im_error(im, dc, v, "%s must be a list, not %s", path, kind_of(v));
		json_decref(out);
		return NULL;
	}
	IM_SEQ_FOREACH(dc, v, item)
	{
		char p[512];
		snprintf(p, sizeof(p), "%.400s[%u]", path, i++);
		json_t *one = NULL;
		if (f->type == CT_STRINGS) {
			if (item->type != YAML_SCALAR_NODE || im_is_null(item))
				im_error(im, dc, item, "%s must be a string, not %s", p,
				         kind_of(item));
			else
				one = json_string((const char *)item->data.scalar.value);
		} else {
			one = consul_normalize(im, dc, item, f->sub, p, NULL);
		}
		if (!one || json_array_append_new(out, one) < 0)
			bad = 1;
	}
	if (bad) {
		json_decref(out);
		return NULL;
	}
	return out;
}

static json_t *map_of(mp_import *im, idoc *dc, yaml_node_t *v, const consul_field *f,
                      const char *path)
{
	yaml_node_t *k, *item;
	json_t *out = json_object();
	int bad = 0;
	if (!out) {
		im->oom = 1;
		return NULL;
	}
	if (v->type != YAML_MAPPING_NODE) {
		im_error(im, dc, v, "%s must be a mapping, not %s", path, kind_of(v));
		json_decref(out);
		return NULL;
	}
	IM_MAP_FOREACH(dc, v, k, item)
	{
		const char *key = im_scalar(k);
		char p[512];
		if (!key) {
			bad = im_error(im, dc, k, "%s: keys must be strings", path);
			continue;
		}
		snprintf(p, sizeof(p), "%.400s.%.100s", path, key);
		json_t *one = im_is_null(item) ? json_object()
		                               : consul_normalize(im, dc, item, f->sub, p, NULL);
		if (!one || json_object_set_new(out, key, one) < 0)
			bad = 1;
	}
	if (bad) {
		json_decref(out);
		return NULL;
	}
	return out;
}

/* A scalar that is a number: a JSON integer when whole, else a real; NULL when it is not. */
static json_t *number(const char *s, int integer)
{
	char *end;
	errno = 0;
	if (!*s || isspace((unsigned char)*s))
		return NULL;
	double d = strtod(s, &end);
	if (*end || errno || !isfinite(d) || (integer && d != floor(d)))
		return NULL;
	if (d == floor(d) && fabs(d) < 9e15)
		return json_integer((json_int_t)d);
	return json_real(d);
}

static json_t *value(mp_import *im, idoc *dc, yaml_node_t *v, const consul_field *f,
                     const char *path)
{
	const char *s = v->type == YAML_SCALAR_NODE ? (const char *)v->data.scalar.value : NULL;
	json_t *j = NULL;
	switch (f->type) {
	case CT_STRING:
		if (!s)
			return im_error(im, dc, v, "%s must be a string, not %s", path, kind_of(v)),
			       NULL;
		j = json_string(s);
		break;
	case CT_BOOL:
		if (!s || (strcasecmp(s, "true") && strcasecmp(s, "false")))
			return im_error(im, dc, v, "%s must be true or false, not %s%s%s", path,
			                s ? "'" : kind_of(v), s ? s : "", s ? "'" : ""),
			       NULL;
		j = json_boolean(!strcasecmp(s, "true"));
		break;
	case CT_INT:
	case CT_NUMBER:
		if (!s || !(j = number(s, f->type == CT_INT)))
			return im_error(im, dc, v, "%s must be %s, not %s%s%s", path,
			                f->type == CT_INT ? "an integer" : "a number",
			                s ? "'" : kind_of(v), s ? s : "", s ? "'" : ""),
			       NULL;
		break;
	case CT_DURATION:
		if (!s || !consul_is_duration(s))
			return im_error(im, dc, v,
			                "%s must be a duration such as 15s, 1m30s or 250ms, not "
			                "%s%s%s",
			                path, s ? "'" : kind_of(v), s ? s : "", s ? "'" : ""),
			       NULL;
		j = json_string(s);
		break;
	case CT_STRINGS:
	case CT_LIST:
		return list_of(im, dc, v, f, path);
	case CT_MAP:
		return map_of(im, dc, v, f, path);
	case CT_OBJECT:
		return consul_normalize(im, dc, v, f->sub, path, NULL);
	case CT_ANY:
	case CT_IGNORE:
		j = im_json(dc, v);
		break;
	}
	if (!j)
		im->oom = 1;
	return j;
}

/* Go's zero values (null, "", false, 0, {}, []): a field that holds one is unset, so a CRD that
 * leaves it out and an entry that prints it empty read alike. */
static int go_zero(json_t *j)
{
	switch (json_typeof(j)) {
	case JSON_NULL:
	case JSON_FALSE:
		return 1;
	case JSON_STRING:
		return !json_string_length(j);
	case JSON_INTEGER:
		return !json_integer_value(j);
	case JSON_REAL:
		return json_real_value(j) == 0;
	case JSON_OBJECT:
		return !json_object_size(j);
	case JSON_ARRAY:
		return !json_array_size(j);
	default:
		return 0;
	}
}

json_t *consul_normalize(mp_import *im, idoc *dc, yaml_node_t *map, const consul_field *fields,
                         const char *path, const char *const *skip)
{
	yaml_node_t *k, *v;
	int bad = 0;
	if (map->type != YAML_MAPPING_NODE) {
		im_error(im, dc, map, "%s must be a mapping, not %s", path, kind_of(map));
		return NULL;
	}
	json_t *out = json_object();
	if (!out) {
		im->oom = 1;
		return NULL;
	}
	IM_MAP_FOREACH(dc, map, k, v)
	{
		const char *key = im_scalar(k);
		const consul_field *f;
		size_t i;
		for (i = 0; key && skip && skip[i] && !key_is(dc, key, skip[i]); i++)
			;
		if (key && skip && skip[i])
			continue; /* a config entry's Kind, Name or read-only field */
		for (f = fields; key && f->name && !key_is(dc, key, f->name); f++)
			;
		if (!key || !f->name) {
			char q[80], hint[80];
			const char *near =
			    key ? nearest(dc, key, fields, hint, sizeof(hint)) : NULL;
			bad = im_error(im, dc, k, "%s: unknown field '%s'%s%s%s", path,
			               key ? mp_diag_quote(key, strlen(key), q, sizeof(q)) : "?",
			               near ? " (did you mean '" : "", near ? near : "",
			               near ? "'?)" : "");
			continue;
		}
		if (im_is_null(v) || f->type == CT_IGNORE)
			continue; /* null is absent, as in Go */
		char p[512];
		snprintf(p, sizeof(p), "%.400s%s%.100s", path, *path ? "." : "", key);
		json_t *j = value(im, dc, v, f, p);
		if (!j) {
			bad = -1;
			continue;
		}
		if (go_zero(
		        j)) { /* as Go reads it: what `consul config read` prints as {} is unset */
			json_decref(j);
			continue;
		}
		if (json_object_set_new(out, f->name, j) < 0)
			im->oom = 1;
	}
	if (bad || im->oom) {
		json_decref(out);
		return NULL;
	}
	return out;
}
