/* schema_gatewayapi.c: the Gateway API's CRD schemas (kubernetes-sigs/gateway-api apis/v1,
 * v1alpha2), one table per object, and the CEL and pattern rules the API server enforces on top
 * (lengths, hostnames, paths, a Service backendRef's port, filters, listeners). A document that
 * breaks one is an error at its node, as the API server would refuse it. Regular expressions
 * are RE2's (engine/regex.h): Envoy's and Linkerd's proxies use RE2's family. docs/import.md
 * ("Kubernetes Gateway API"). */
#include "gatewayapi_int.h"
#include "regex.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* --- the tables --- */

static const char *const path_types[] = {"Exact", "PathPrefix", "RegularExpression", NULL};
static const char *const value_types[] = {"Exact", "RegularExpression", NULL};
static const char *const methods[] = {"GET",     "HEAD",    "POST",  "PUT",   "DELETE",
                                      "CONNECT", "OPTIONS", "TRACE", "PATCH", NULL};
static const char *const from_values[] = {"All", "Selector", "Same", "None", NULL};
static const char *const tls_modes[] = {"Terminate", "Passthrough", NULL};
static const char *const expr_ops[] = {"In", "NotIn", "Exists", "DoesNotExist", NULL};
static const char *const http_filters[] = {"RequestHeaderModifier",
                                           "ResponseHeaderModifier",
                                           "RequestMirror",
                                           "RequestRedirect",
                                           "URLRewrite",
                                           "ExtensionRef",
                                           "CORS",
                                           "ExternalAuth",
                                           NULL};
static const char *const grpc_filters[] = {"RequestHeaderModifier", "ResponseHeaderModifier",
                                           "RequestMirror", "ExtensionRef", NULL};

#define END                                                                                        \
	{                                                                                          \
		NULL, 0, 0, 0, NULL, NULL                                                          \
	}

static const im_field parent_fields[] = {
    {"group", IM_T_STR, 0, 0, NULL, NULL},
    {"kind", IM_T_STR, 0, 0, NULL, NULL},
    {"namespace", IM_T_STR, 0, 0, NULL, NULL},
    {"name", IM_T_STR, 1, 0, NULL, NULL},
    {"sectionName", IM_T_STR, 0, 0, NULL, NULL},
    {"port", IM_T_INT, 0, 0, NULL, NULL},
    END,
};
static const im_field ref_fields[] = {
    {"group", IM_T_STR, 0, 0, NULL, NULL}, {"kind", IM_T_STR, 0, 0, NULL, NULL},
    {"name", IM_T_STR, 1, 0, NULL, NULL},  {"namespace", IM_T_STR, 0, 0, NULL, NULL},
    {"port", IM_T_INT, 0, 0, NULL, NULL},  END,
};
static const im_field mirror_fields[] = {
    {"backendRef", IM_T_MAP, 1, 0, ref_fields, NULL},
    {"percent", IM_T_INT, 0, 0, NULL, NULL},
    {"fraction", IM_T_ANY, 0, 0, NULL, NULL},
    END,
};
static const im_field filter_fields[] = {
    {"type", IM_T_STR, 1, 0, NULL, NULL},
    {"requestHeaderModifier", IM_T_ANY, 0, 0, NULL, NULL},
    {"responseHeaderModifier", IM_T_ANY, 0, 0, NULL, NULL},
    {"requestRedirect", IM_T_ANY, 0, 0, NULL, NULL},
    {"requestMirror", IM_T_MAP, 0, 0, mirror_fields, NULL},
    {"urlRewrite", IM_T_ANY, 0, 0, NULL, NULL},
    {"extensionRef", IM_T_ANY, 0, 0, NULL, NULL},
    {"cors", IM_T_ANY, 0, 0, NULL, NULL},
    {"externalAuth", IM_T_ANY, 0, 0, NULL, NULL},
    END,
};
static const im_field backend_fields[] = {
    {"group", IM_T_STR, 0, 0, NULL, NULL},
    {"kind", IM_T_STR, 0, 0, NULL, NULL},
    {"name", IM_T_STR, 1, 0, NULL, NULL},
    {"namespace", IM_T_STR, 0, 0, NULL, NULL},
    {"port", IM_T_INT, 0, 0, NULL, NULL},
    {"weight", IM_T_INT, 0, 0, NULL, NULL},
    {"filters", IM_T_LIST, 0, 0, filter_fields, NULL},
    END,
};
static const im_field path_fields[] = {
    {"type", IM_T_ENUM, 0, 0, NULL, path_types},
    {"value", IM_T_STR, 0, 0, NULL, NULL},
    END,
};
static const im_field value_fields[] = {
    {"type", IM_T_ENUM, 0, 0, NULL, value_types},
    {"name", IM_T_STR, 1, 0, NULL, NULL},
    {"value", IM_T_STR, 1, 0, NULL, NULL},
    END,
};
static const im_field http_match_fields[] = {
    {"path", IM_T_MAP, 0, 0, path_fields, NULL},
    {"headers", IM_T_LIST, 0, 0, value_fields, NULL},
    {"queryParams", IM_T_LIST, 0, 0, value_fields, NULL},
    {"method", IM_T_ENUM, 0, 0, NULL, methods},
    END,
};
static const im_field timeouts_fields[] = {
    {"request", IM_T_STR, 0, 0, NULL, NULL},
    {"backendRequest", IM_T_STR, 0, 0, NULL, NULL},
    END,
};
static const im_field retry_fields[] = {
    {"codes", IM_T_LIST, 0, IM_T_INT, NULL, NULL},
    {"attempts", IM_T_INT, 0, 0, NULL, NULL},
    {"backoff", IM_T_STR, 0, 0, NULL, NULL},
    END,
};
static const im_field http_rule_fields[] = {
    {"name", IM_T_STR, 0, 0, NULL, NULL},
    {"matches", IM_T_LIST, 0, 0, http_match_fields, NULL},
    {"filters", IM_T_LIST, 0, 0, filter_fields, NULL},
    {"backendRefs", IM_T_LIST, 0, 0, backend_fields, NULL},
    {"timeouts", IM_T_MAP, 0, 0, timeouts_fields, NULL},
    {"retry", IM_T_MAP, 0, 0, retry_fields, NULL},
    {"sessionPersistence", IM_T_ANY, 0, 0, NULL, NULL},
    END,
};
const im_field mp_gwapi_httproute_spec[] = {
    {"parentRefs", IM_T_LIST, 0, 0, parent_fields, NULL},
    {"hostnames", IM_T_LIST, 0, IM_T_STR, NULL, NULL},
    {"rules", IM_T_LIST, 0, 0, http_rule_fields, NULL},
    {"useDefaultGateways", IM_T_STR, 0, 0, NULL, NULL},
    END,
};
static const im_field grpc_method_fields[] = {
    {"type", IM_T_ENUM, 0, 0, NULL, value_types},
    {"service", IM_T_STR, 0, 0, NULL, NULL},
    {"method", IM_T_STR, 0, 0, NULL, NULL},
    END,
};
static const im_field grpc_match_fields[] = {
    {"method", IM_T_MAP, 0, 0, grpc_method_fields, NULL},
    {"headers", IM_T_LIST, 0, 0, value_fields, NULL},
    END,
};
static const im_field grpc_rule_fields[] = {
    {"name", IM_T_STR, 0, 0, NULL, NULL},
    {"matches", IM_T_LIST, 0, 0, grpc_match_fields, NULL},
    {"filters", IM_T_LIST, 0, 0, filter_fields, NULL},
    {"backendRefs", IM_T_LIST, 0, 0, backend_fields, NULL},
    {"sessionPersistence", IM_T_ANY, 0, 0, NULL, NULL},
    END,
};
static const im_field grpcroute_spec[] = {
    {"parentRefs", IM_T_LIST, 0, 0, parent_fields, NULL},
    {"hostnames", IM_T_LIST, 0, IM_T_STR, NULL, NULL},
    {"rules", IM_T_LIST, 0, 0, grpc_rule_fields, NULL},
    END,
};
static const im_field l4_rule_fields[] = {
    {"name", IM_T_STR, 0, 0, NULL, NULL},
    {"backendRefs", IM_T_LIST, 1, 0, backend_fields, NULL},
    END,
};
static const im_field tlsroute_spec[] = {
    {"parentRefs", IM_T_LIST, 0, 0, parent_fields, NULL},
    {"hostnames", IM_T_LIST, 0, IM_T_STR, NULL, NULL},
    {"rules", IM_T_LIST, 1, 0, l4_rule_fields, NULL},
    END,
};
static const im_field tcproute_spec[] = {
    {"parentRefs", IM_T_LIST, 0, 0, parent_fields, NULL},
    {"rules", IM_T_LIST, 1, 0, l4_rule_fields, NULL},
    END,
};
static const im_field cert_fields[] = {
    {"group", IM_T_STR, 0, 0, NULL, NULL},
    {"kind", IM_T_STR, 0, 0, NULL, NULL},
    {"name", IM_T_STR, 1, 0, NULL, NULL},
    {"namespace", IM_T_STR, 0, 0, NULL, NULL},
    END,
};
static const im_field tls_fields[] = {
    {"mode", IM_T_ENUM, 0, 0, NULL, tls_modes},
    {"certificateRefs", IM_T_LIST, 0, 0, cert_fields, NULL},
    {"frontendValidation", IM_T_ANY, 0, 0, NULL, NULL},
    {"options", IM_T_STRMAP, 0, 0, NULL, NULL},
    END,
};
static const im_field expr_fields[] = {
    {"key", IM_T_STR, 1, 0, NULL, NULL},
    {"operator", IM_T_ENUM, 1, 0, NULL, expr_ops},
    {"values", IM_T_LIST, 0, IM_T_STR, NULL, NULL},
    END,
};
static const im_field selector_fields[] = {
    {"matchLabels", IM_T_STRMAP, 0, 0, NULL, NULL},
    {"matchExpressions", IM_T_LIST, 0, 0, expr_fields, NULL},
    END,
};
static const im_field namespaces_fields[] = {
    {"from", IM_T_ENUM, 0, 0, NULL, from_values},
    {"selector", IM_T_MAP, 0, 0, selector_fields, NULL},
    END,
};
static const im_field kind_fields[] = {
    {"group", IM_T_STR, 0, 0, NULL, NULL},
    {"kind", IM_T_STR, 1, 0, NULL, NULL},
    END,
};
static const im_field allowed_fields[] = {
    {"namespaces", IM_T_MAP, 0, 0, namespaces_fields, NULL},
    {"kinds", IM_T_LIST, 0, 0, kind_fields, NULL},
    END,
};
static const im_field listener_fields[] = {
    {"name", IM_T_STR, 1, 0, NULL, NULL},
    {"hostname", IM_T_STR, 0, 0, NULL, NULL},
    {"port", IM_T_INT, 1, 0, NULL, NULL},
    {"protocol", IM_T_STR, 1, 0, NULL, NULL},
    {"tls", IM_T_MAP, 0, 0, tls_fields, NULL},
    {"allowedRoutes", IM_T_MAP, 0, 0, allowed_fields, NULL},
    END,
};
static const im_field gateway_spec[] = {
    {"gatewayClassName", IM_T_STR, 1, 0, NULL, NULL},
    {"listeners", IM_T_LIST, 1, 0, listener_fields, NULL},
    {"addresses", IM_T_ANY, 0, 0, NULL, NULL},
    {"infrastructure", IM_T_ANY, 0, 0, NULL, NULL},
    {"backendTLS", IM_T_ANY, 0, 0, NULL, NULL},
    {"allowedListeners", IM_T_ANY, 0, 0, NULL, NULL},
    {"defaultScope", IM_T_STR, 0, 0, NULL, NULL},
    END,
};
static const im_field gatewayclass_spec[] = {
    {"controllerName", IM_T_STR, 1, 0, NULL, NULL},
    {"parametersRef", IM_T_ANY, 0, 0, NULL, NULL},
    {"description", IM_T_STR, 0, 0, NULL, NULL},
    END,
};
static const im_field grant_from_fields[] = {
    {"group", IM_T_STR, 1, 0, NULL, NULL},
    {"kind", IM_T_STR, 1, 0, NULL, NULL},
    {"namespace", IM_T_STR, 1, 0, NULL, NULL},
    END,
};
static const im_field grant_to_fields[] = {
    {"group", IM_T_STR, 1, 0, NULL, NULL},
    {"kind", IM_T_STR, 1, 0, NULL, NULL},
    {"name", IM_T_STR, 0, 0, NULL, NULL},
    END,
};
static const im_field referencegrant_spec[] = {
    {"from", IM_T_LIST, 1, 0, grant_from_fields, NULL},
    {"to", IM_T_LIST, 1, 0, grant_to_fields, NULL},
    END,
};

static const im_field *const spec_of[GW_UDPROUTE] = {
    [GW_GATEWAYCLASS] = gatewayclass_spec,
    [GW_GATEWAY] = gateway_spec,
    [GW_HTTPROUTE] = mp_gwapi_httproute_spec,
    [GW_GRPCROUTE] = grpcroute_spec,
    [GW_TLSROUTE] = tlsroute_spec,
    [GW_TCPROUTE] = tcproute_spec,
    [GW_REFERENCEGRANT] = referencegrant_spec,
};

/* --- CEL and pattern rules (gw apis/v1 *_types.go kubebuilder markers) --- */

static uint32_t items(const yaml_node_t *seq)
{
	return seq && seq->type == YAML_SEQUENCE_NODE
	           ? (uint32_t)(seq->data.sequence.items.top - seq->data.sequence.items.start)
	           : 0;
}

/* A list's length within lo..hi (a missing list passes: required lists are the tables'). */
static int count_in(mp_import *im, idoc *dc, yaml_node_t *seq, const char *what, uint32_t lo,
                    uint32_t hi)
{
	uint32_t n = items(seq);
	if (!seq || seq->type != YAML_SEQUENCE_NODE || (n >= lo && n <= hi))
		return 0;
	return im_error(im, dc, seq, "%s has %u items; the Gateway API allows %u to %u", what, n,
	                lo, hi);
}

/* An integer field within lo..hi (its type is the table's to check). */
static int int_in(mp_import *im, idoc *dc, yaml_node_t *map, const char *key, uint32_t lo,
                  uint32_t hi)
{
	uint32_t v;
	int set;
	return im_u32(im, dc, map, key, lo, hi, &v, &set);
}

/* Hostname (gw shared_types.go Hostname): lower-case DNS labels, a wildcard only as the whole
 * first label, no IP address, at most 253 characters. */
static int check_hostname(mp_import *im, idoc *dc, yaml_node_t *n)
{
	const char *s = im_scalar(n), *p;
	size_t len = s ? strlen(s) : 0;
	int digits_only = 1;
	if (!s)
		return 0;
	p = s;
	if (!strncmp(p, "*.", 2))
		p += 2;
	for (const char *label = p; *label;) {
		size_t l = strcspn(label, ".");
		if (!l || l > 63 || label[0] == '-' || label[l - 1] == '-' ||
		    strspn(label, "abcdefghijklmnopqrstuvwxyz0123456789-") < l)
			goto bad;
		if (strspn(label, "0123456789") < l)
			digits_only = 0;
		label += l + (label[l] == '.');
		if (label[-1] == '.' && !*label)
			goto bad;
	}
	if (!*p || len > 253 || digits_only)
		goto bad;
	return 0;
bad:
	return im_error(im, dc, n,
	                "hostname '%s' is not a lower-case DNS name (a '*.' first label is the one "
	                "wildcard; IP addresses are not hostnames)",
	                s);
}

static int check_hostnames(mp_import *im, idoc *dc, yaml_node_t *seq, uint32_t max)
{
	yaml_node_t *h;
	int bad = count_in(im, dc, seq, "spec.hostnames", 0, max);
	if (seq && seq->type == YAML_SEQUENCE_NODE)
		IM_SEQ_FOREACH(dc, seq, h)
		{
			bad |= check_hostname(im, dc, h);
		}
	return bad;
}

static int check_regex(mp_import *im, idoc *dc, yaml_node_t *n)
{
	char why[200];
	const char *s = im_scalar(n);
	mp_regex *re = s ? mp_regex_compile(s, strlen(s), why, sizeof(why)) : NULL;
	if (!s || re) {
		mp_regex_free(re);
		return 0;
	}
	return im_error(im, dc, n, "regular expression '%s': %s", s, why);
}

/* An Exact or PathPrefix path value (gw httproute_types.go HTTPPathMatch XValidation). */
static int check_path(mp_import *im, idoc *dc, yaml_node_t *path)
{
	const char *type = im_scalar(im_get(dc, path, "type"));
	yaml_node_t *vn = im_get(dc, path, "value");
	const char *v = im_scalar(vn);
	if (!v)
		return 0;
	if (strlen(v) > 1024)
		return im_error(im, dc, vn, "a path is at most 1024 characters");
	if (type && !strcmp(type, "RegularExpression"))
		return check_regex(im, dc, vn);
	size_t n = strlen(v);
	const char *why = NULL;
	if (v[0] != '/')
		why = "must be an absolute path (start with '/')";
	else if (strstr(v, "//") || strstr(v, "/./") || strstr(v, "/../"))
		why = "must not contain '//', '/./' or '/../'";
	else if (strstr(v, "%2f") || strstr(v, "%2F") || strchr(v, '#'))
		why = "must not contain '%2f', '%2F' or '#'";
	else if ((n >= 3 && !strcmp(v + n - 3, "/..")) || (n >= 2 && !strcmp(v + n - 2, "/.")))
		why = "must not end with '/..' or '/.'";
	for (const char *p = v; !why && *p; p++)
		if (*p == '%' ? !(isxdigit((unsigned char)p[1]) && isxdigit((unsigned char)p[2]))
		              : !strchr("-._~!$&'()*+,;=:@/", *p) && !isalnum((unsigned char)*p))
			why = "has a character a path may not (only unreserved, sub-delims, ':', "
			      "'@', "
			      "'/' and %XX)";
	if (why)
		return im_error(im, dc, vn, "path '%s' %s", v, why);
	return 0;
}

/* headers or queryParams of a match: at most 16, regular expressions RE2 compiles. */
static int check_values(mp_import *im, idoc *dc, yaml_node_t *seq, const char *what)
{
	yaml_node_t *h;
	int bad = count_in(im, dc, seq, what, 0, 16);
	if (seq && seq->type == YAML_SEQUENCE_NODE)
		IM_SEQ_FOREACH(dc, seq, h)
		{
			const char *t = im_scalar(im_get(dc, h, "type"));
			if (t && !strcmp(t, "RegularExpression"))
				bad |= check_regex(im, dc, im_get(dc, h, "value"));
		}
	return bad;
}

/* A backendRef (or a mirror's): port and weight in range; a Service needs its port. */
static int check_backend(mp_import *im, idoc *dc, yaml_node_t *b)
{
	const char *group = im_scalar(im_get(dc, b, "group"));
	const char *kind = im_scalar(im_get(dc, b, "kind"));
	int bad = int_in(im, dc, b, "port", 1, 65535) | int_in(im, dc, b, "weight", 0, 1000000);
	if ((!group || !*group) && (!kind || !strcmp(kind, "Service")) && !im_get(dc, b, "port"))
		bad = im_error(im, dc, b, "Must have port for Service reference");
	return bad;
}

/* A rule's filters: the filter's field is its type's, each core type at most once, no redirect
 * with backends or with a rewrite (gw httproute_types.go HTTPRouteRule XValidation). */
static int check_filters(mp_import *im, idoc *dc, yaml_node_t *seq, int has_backends,
                         const char *const *types)
{
	static const char *const fields[][2] = {
	    {"RequestHeaderModifier", "requestHeaderModifier"},
	    {"ResponseHeaderModifier", "responseHeaderModifier"},
	    {"RequestMirror", "requestMirror"},
	    {"RequestRedirect", "requestRedirect"},
	    {"URLRewrite", "urlRewrite"},
	    {"ExtensionRef", "extensionRef"},
	    {"CORS", "cors"},
	    {"ExternalAuth", "externalAuth"},
	};
	uint32_t seen[8] = {0};
	yaml_node_t *f;
	int bad = 0;
	if (!seq || seq->type != YAML_SEQUENCE_NODE)
		return 0;
	IM_SEQ_FOREACH(dc, seq, f)
	{
		yaml_node_t *tn = im_get(dc, f, "type");
		const char *t = im_scalar(tn);
		size_t i, k;
		for (k = 0; t && types[k] && strcmp(types[k], t); k++)
			;
		if (!t || !types[k]) {
			char hint[300];
			bad = im_error(im, dc, tn ? tn : f, "filter type '%s' (%s)", t ? t : "",
			               mp_diag_hint(t ? t : "", types, hint, sizeof(hint)));
			continue;
		}
		for (i = 0; strcmp(fields[i][0], t); i++)
			;
		if (!im_get(dc, f, fields[i][1]))
			bad =
			    im_error(im, dc, f, "filter %s needs its field '%s'", t, fields[i][1]);
		for (k = 0; k < 8; k++)
			if (k != i && im_get(dc, f, fields[k][1]))
				bad =
				    im_error(im, dc, im_get(dc, f, fields[k][1]),
				             "'%s' is not a field of a %s filter", fields[k][1], t);
		if (im_get(dc, f, "requestMirror"))
			bad |= check_backend(
			    im, dc, im_get(dc, im_get(dc, f, "requestMirror"), "backendRef"));
		if (++seen[i] == 2 && i != 2 && i != 5 && i != 7) /* mirrors, extensions repeat */
			bad = im_error(im, dc, f, "a rule has at most one %s filter", t);
	}
	if (seen[3] && has_backends)
		bad = im_error(im, dc, seq,
		               "RequestRedirect filter must not be used together with "
		               "backendRefs");
	if (seen[3] && seen[4])
		bad = im_error(im, dc, seq,
		               "May specify either httpRouteFilterRequestRedirect or "
		               "httpRouteFilterRequestRewrite, but not both");
	return bad;
}

static int check_duration(mp_import *im, idoc *dc, yaml_node_t *map, const char *key)
{
	uint32_t ms;
	int set;
	return im_duration(im, dc, map, key, &ms, &set);
}

/* A parentRef's parent, its defaults applied (gw shared_types.go ParentReference). */
static void parent_key(mp_import *im, idoc *dc, yaml_node_t *p, char *buf, size_t len)
{
	const char *g = im_scalar(im_get(dc, p, "group"));
	const char *k = im_scalar(im_get(dc, p, "kind"));
	const char *ns = im_scalar(im_get(dc, p, "namespace"));
	const char *n = im_scalar(im_get(dc, p, "name"));
	snprintf(buf, len, "%s/%s/%s/%s", g ? g : GW_GROUP, k ? k : "Gateway",
	         ns ? ns : im_str_of(im, dc->ns), n ? n : "");
}

/* Two parentRefs to the same parent must each set a sectionName or port, and differ in it. */
static int check_parents(mp_import *im, idoc *dc, yaml_node_t *seq)
{
	yaml_node_t *a, *b;
	int bad = count_in(im, dc, seq, "spec.parentRefs", 0, 32);
	if (!seq || seq->type != YAML_SEQUENCE_NODE)
		return bad;
	IM_SEQ_FOREACH(dc, seq, a)
	{
		char ka[1200], kb[1200];
		bad |= int_in(im, dc, a, "port", 1, 65535);
		parent_key(im, dc, a, ka, sizeof(ka));
		IM_SEQ_FOREACH(dc, seq, b)
		{
			if (b == a)
				break;
			parent_key(im, dc, b, kb, sizeof(kb));
			if (strcmp(ka, kb))
				continue;
			const char *sa = im_scalar(im_get(dc, a, "sectionName"));
			const char *sb = im_scalar(im_get(dc, b, "sectionName"));
			const char *pa = im_scalar(im_get(dc, a, "port"));
			const char *pb = im_scalar(im_get(dc, b, "port"));
			if ((!sa && !pa) || (!sb && !pb) ||
			    (!strcmp(sa ? sa : "", sb ? sb : "") &&
			     !strcmp(pa ? pa : "", pb ? pb : "")))
				bad = im_error(
				    im, dc, a,
				    "sectionName or port must be specified when parentRefs "
				    "includes 2 or more references to the same parent, and "
				    "be unique");
		}
	}
	return bad;
}

static int check_route(mp_import *im, idoc *dc, uint32_t kind)
{
	yaml_node_t *rules = im_get(dc, dc->spec, "rules"), *rule, *m, *b;
	uint32_t total = 0;
	int grpc = kind == GW_K_GRPC, l4 = kind == GW_K_TLS || kind == GW_K_TCP;
	int bad = check_parents(im, dc, im_get(dc, dc->spec, "parentRefs"));
	bad |= check_hostnames(im, dc, im_get(dc, dc->spec, "hostnames"),
	                       kind == GW_K_TLS ? 1024 : 16);
	bad |= count_in(im, dc, rules, "spec.rules", 1, 16);
	if (!rules || rules->type != YAML_SEQUENCE_NODE)
		return bad;
	IM_SEQ_FOREACH(dc, rules, rule)
	{
		yaml_node_t *matches = im_get(dc, rule, "matches");
		yaml_node_t *refs = im_get(dc, rule, "backendRefs");
		total += items(matches);
		bad |= count_in(im, dc, matches, "matches", 0, grpc ? 8 : 64);
		bad |= count_in(im, dc, refs, "backendRefs", l4 ? 1 : 0, 16);
		if (matches && matches->type == YAML_SEQUENCE_NODE)
			IM_SEQ_FOREACH(dc, matches, m)
			{
				yaml_node_t *meth = im_get(dc, m, "method");
				bad |= check_values(im, dc, im_get(dc, m, "headers"), "headers");
				if (grpc) {
					const char *t = im_scalar(im_get(dc, meth, "type"));
					if (meth && !im_get(dc, meth, "service") &&
					    !im_get(dc, meth, "method"))
						bad =
						    im_error(im, dc, meth,
						             "One or both of 'service' or 'method' "
						             "must be specified");
					if (t && !strcmp(t, "RegularExpression")) {
						if (im_get(dc, meth, "service"))
							bad |= check_regex(
							    im, dc, im_get(dc, meth, "service"));
						if (im_get(dc, meth, "method"))
							bad |= check_regex(
							    im, dc, im_get(dc, meth, "method"));
					}
					continue;
				}
				bad |= check_values(im, dc, im_get(dc, m, "queryParams"),
				                    "queryParams");
				if (im_get(dc, m, "path"))
					bad |= check_path(im, dc, im_get(dc, m, "path"));
			}
		if (refs && refs->type == YAML_SEQUENCE_NODE)
			IM_SEQ_FOREACH(dc, refs, b)
			{
				bad |= check_backend(im, dc, b);
				bad |= check_filters(im, dc, im_get(dc, b, "filters"), 0,
				                     grpc ? grpc_filters : http_filters);
			}
		if (!l4)
			bad |= check_filters(im, dc, im_get(dc, rule, "filters"), items(refs) > 0,
			                     grpc ? grpc_filters : http_filters);
		yaml_node_t *t = im_get(dc, rule, "timeouts");
		if (t)
			bad |= check_duration(im, dc, t, "request") |
			       check_duration(im, dc, t, "backendRequest");
		if (im_get(dc, rule, "retry"))
			bad |= check_duration(im, dc, im_get(dc, rule, "retry"), "backoff");
	}
	if (total > 128)
		bad = im_error(im, dc, rules, "a route has at most 128 matches in all, not %u",
		               total);
	return bad;
}

/* Listeners (gw gateway_types.go GatewaySpec.Listeners XValidation). */
static int check_listeners(mp_import *im, idoc *dc)
{
	yaml_node_t *ls = im_get(dc, dc->spec, "listeners"), *l, *o, *c;
	int bad = count_in(im, dc, ls, "spec.listeners", 1, 64);
	if (!ls || ls->type != YAML_SEQUENCE_NODE)
		return bad;
	IM_SEQ_FOREACH(dc, ls, l)
	{
		const char *name = im_scalar(im_get(dc, l, "name"));
		const char *proto = im_scalar(im_get(dc, l, "protocol"));
		const char *host = im_scalar(im_get(dc, l, "hostname"));
		const char *port = im_scalar(im_get(dc, l, "port"));
		yaml_node_t *tls = im_get(dc, l, "tls");
		const char *mode = im_scalar(im_get(dc, tls, "mode"));
		int plain = proto && (!strcmp(proto, "HTTP") || !strcmp(proto, "TCP") ||
		                      !strcmp(proto, "UDP"));
		bad |= int_in(im, dc, l, "port", 1, 65535);
		if (im_get(dc, l, "hostname"))
			bad |= check_hostname(im, dc, im_get(dc, l, "hostname"));
		if (tls && plain)
			bad = im_error(im, dc, tls,
			               "tls must not be specified for protocols ['HTTP', "
			               "'TCP', 'UDP']");
		if (host && proto && (!strcmp(proto, "TCP") || !strcmp(proto, "UDP")))
			bad =
			    im_error(im, dc, im_get(dc, l, "hostname"),
			             "hostname must not be specified for protocols ['TCP', 'UDP']");
		if (proto && !strcmp(proto, "HTTPS") && mode && strcmp(mode, "Terminate"))
			bad = im_error(im, dc, im_get(dc, tls, "mode"),
			               "tls mode must be Terminate for protocol HTTPS");
		if (proto && (!strcmp(proto, "HTTPS") || !strcmp(proto, "TLS")) && !tls)
			bad = im_error(im, dc, l,
			               "tls must be specified for protocols ['HTTPS', 'TLS']");
		if (tls && (!mode || !strcmp(mode, "Terminate")) &&
		    !items(im_get(dc, tls, "certificateRefs")) && !im_get(dc, tls, "options"))
			bad = im_error(im, dc, tls,
			               "certificateRefs or options must be specified when mode is "
			               "Terminate");
		bad |=
		    count_in(im, dc, im_get(dc, tls, "certificateRefs"), "certificateRefs", 0, 64);
		if ((c = im_get(dc, im_get(dc, l, "allowedRoutes"), "kinds")))
			bad |= count_in(im, dc, c, "allowedRoutes.kinds", 0, 8);
		IM_SEQ_FOREACH(dc, ls, o)
		{
			if (o == l)
				break;
			const char *on = im_scalar(im_get(dc, o, "name"));
			const char *op = im_scalar(im_get(dc, o, "protocol"));
			const char *oh = im_scalar(im_get(dc, o, "hostname"));
			const char *opt = im_scalar(im_get(dc, o, "port"));
			if (name && on && !strcmp(name, on))
				bad = im_error(im, dc, im_get(dc, l, "name"),
				               "Listener name must be unique within the Gateway");
			else if (proto && op && port && opt && !strcmp(proto, op) &&
			         !strcmp(port, opt) && !strcmp(host ? host : "", oh ? oh : ""))
				bad = im_error(
				    im, dc, l,
				    "Combination of port, protocol and hostname must be unique "
				    "for each listener");
		}
	}
	return bad;
}

static int check_grant(mp_import *im, idoc *dc)
{
	return count_in(im, dc, im_get(dc, dc->spec, "from"), "spec.from", 1, 16) |
	       count_in(im, dc, im_get(dc, dc->spec, "to"), "spec.to", 1, 16);
}

void mp_gwapi_check(mp_import *im, idoc *dc)
{
	uint32_t k = (uint32_t)(dc->kind - mp_gwapi_kinds);
	if (!dc->spec) {
		im_error(im, dc, dc->root, "missing required field 'spec'");
		return;
	}
	if (im_check(im, dc, dc->spec, spec_of[k], "spec") < 0)
		return;
	if (gwapi_route_kind(dc))
		check_route(im, dc, gwapi_route_kind(dc));
	else if (k == GW_GATEWAY)
		check_listeners(im, dc);
	else if (k == GW_REFERENCEGRANT)
		check_grant(im, dc);
}
