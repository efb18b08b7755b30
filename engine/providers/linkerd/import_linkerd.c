/* import_linkerd.c: Linkerd's importer: its state and phases (mp_linkerd_import). The cluster
 * settings come from the ConfigMap linkerd-config (its values document) or the Helm chart's
 * defaults, with the options over them; pods Linkerd injects get its identities; every Linkerd
 * document is checked against its CRD's schema (the table of each kind below) and kept in the
 * model as a resource, with the settings as a ConfigMap record and, per meshed workload, a
 * LinkerdProxy record (pods_linkerd.c). Routes and mirrored services: routes_linkerd.c; the
 * analyzers: analyze_linkerd.c. Mapping: docs/import.md ("Linkerd"). */
#include "alloc.h"
#include "ipnet.h"
#include "linkerd_authz.h"
#include "linkerd_int.h"
#include "providers/kubernetes/kubernetes_int.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* The chart's defaults (charts/linkerd-control-plane/values.yaml, pkg/charts/linkerd2). */
#define CHART_NETWORKS     "10.0.0.0/8,100.64.0.0/10,172.16.0.0/12,192.168.0.0/16,fd00::/8"
#define CHART_PROBE_NETS   "0.0.0.0/0,::/0"
#define CHART_OPAQUE_PORTS "25,587,3306,4444,5432,6379,9300,11211"
#define CHART_POLICY       "all-unauthenticated"

/* --- the kinds' schemas (the CRDs of linkerd/linkerd2 charts/linkerd-crds and the Gateway
 * API's), one table per object --- */

static const char *const expr_ops[] = {"In", "NotIn", "Exists", "DoesNotExist", NULL};
static const char *const protocols[] = {"unknown", "HTTP/1", "HTTP/2", "gRPC",
                                        "opaque",  "TLS",    NULL};

static const im_field expr_fields[] = {
    {"key", IM_T_STR, 1, 0, NULL, NULL},
    {"operator", IM_T_ENUM, 1, 0, NULL, expr_ops},
    {"values", IM_T_LIST, 0, IM_T_STR, NULL, NULL},
    {NULL, 0, 0, 0, NULL, NULL},
};
static const im_field selector_fields[] = {
    {"matchLabels", IM_T_STRMAP, 0, 0, NULL, NULL},
    {"matchExpressions", IM_T_LIST, 0, 0, expr_fields, NULL},
    {NULL, 0, 0, 0, NULL, NULL},
};
static const im_field server_fields[] = {
    {"podSelector", IM_T_MAP, 0, 0, selector_fields, NULL},
    {"externalWorkloadSelector", IM_T_MAP, 0, 0, selector_fields, NULL},
    {"port", IM_T_INTSTR, 1, 0, NULL, NULL},
    {"proxyProtocol", IM_T_ENUM, 0, 0, NULL, protocols},
    {"accessPolicy", IM_T_ENUM, 0, 0, NULL, mp_linkerd_policies},
    {NULL, 0, 0, 0, NULL, NULL},
};
static const im_field network_fields[] = {
    {"cidr", IM_T_STR, 1, 0, NULL, NULL},
    {"except", IM_T_LIST, 0, IM_T_STR, NULL, NULL},
    {NULL, 0, 0, 0, NULL, NULL},
};
static const im_field sa_fields[] = {
    {"name", IM_T_STR, 1, 0, NULL, NULL},
    {"namespace", IM_T_STR, 0, 0, NULL, NULL},
    {NULL, 0, 0, 0, NULL, NULL},
};
static const im_field mtls_fields[] = {
    {"unauthenticatedTLS", IM_T_BOOL, 0, 0, NULL, NULL},
    {"identities", IM_T_LIST, 0, IM_T_STR, NULL, NULL},
    {"serviceAccounts", IM_T_LIST, 0, 0, sa_fields, NULL},
    {NULL, 0, 0, 0, NULL, NULL},
};
static const im_field client_fields[] = {
    {"networks", IM_T_LIST, 0, 0, network_fields, NULL},
    {"unauthenticated", IM_T_BOOL, 0, 0, NULL, NULL},
    {"meshTLS", IM_T_MAP, 0, 0, mtls_fields, NULL},
    {NULL, 0, 0, 0, NULL, NULL},
};
static const im_field saz_server_fields[] = {
    {"name", IM_T_STR, 0, 0, NULL, NULL},
    {"selector", IM_T_MAP, 0, 0, selector_fields, NULL},
    {NULL, 0, 0, 0, NULL, NULL},
};
static const im_field saz_fields[] = {
    {"server", IM_T_MAP, 1, 0, saz_server_fields, NULL},
    {"client", IM_T_MAP, 1, 0, client_fields, NULL},
    {NULL, 0, 0, 0, NULL, NULL},
};
static const im_field target_fields[] = {
    {"group", IM_T_STR, 0, 0, NULL, NULL},
    {"kind", IM_T_STR, 1, 0, NULL, NULL},
    {"name", IM_T_STR, 1, 0, NULL, NULL},
    {NULL, 0, 0, 0, NULL, NULL},
};
static const im_field ref_fields[] = {
    {"group", IM_T_STR, 0, 0, NULL, NULL}, {"kind", IM_T_STR, 1, 0, NULL, NULL},
    {"name", IM_T_STR, 0, 0, NULL, NULL},  {"namespace", IM_T_STR, 0, 0, NULL, NULL},
    {NULL, 0, 0, 0, NULL, NULL},
};
static const im_field authzpolicy_fields[] = {
    {"targetRef", IM_T_MAP, 1, 0, target_fields, NULL},
    {"requiredAuthenticationRefs", IM_T_LIST, 1, 0, ref_fields, NULL},
    {NULL, 0, 0, 0, NULL, NULL},
};
static const im_field meshtls_fields[] = {
    {"identities", IM_T_LIST, 0, IM_T_STR, NULL, NULL},
    {"identityRefs", IM_T_LIST, 0, 0, ref_fields, NULL},
    {NULL, 0, 0, 0, NULL, NULL},
};
static const im_field netauthn_fields[] = {
    {"networks", IM_T_LIST, 1, 0, network_fields, NULL},
    {NULL, 0, 0, 0, NULL, NULL},
};
/* A ServiceProfile request condition nests: all and any hold conditions, not holds one. */
static const im_field sp_condition[6];
static const im_field sp_condition[6] = {
    {"method", IM_T_STR, 0, 0, NULL, NULL},       {"pathRegex", IM_T_STR, 0, 0, NULL, NULL},
    {"all", IM_T_LIST, 0, 0, sp_condition, NULL}, {"any", IM_T_LIST, 0, 0, sp_condition, NULL},
    {"not", IM_T_MAP, 0, 0, sp_condition, NULL},  {NULL, 0, 0, 0, NULL, NULL},
};
static const im_field response_class_fields[] = {
    {"condition", IM_T_ANY, 1, 0, NULL, NULL},
    {"isFailure", IM_T_BOOL, 0, 0, NULL, NULL},
    {NULL, 0, 0, 0, NULL, NULL},
};
static const im_field sp_route_fields[] = {
    {"name", IM_T_STR, 1, 0, NULL, NULL},
    {"condition", IM_T_MAP, 1, 0, sp_condition, NULL},
    {"responseClasses", IM_T_LIST, 0, 0, response_class_fields, NULL},
    {"isRetryable", IM_T_BOOL, 0, 0, NULL, NULL},
    {"timeout", IM_T_STR, 0, 0, NULL, NULL},
    {NULL, 0, 0, 0, NULL, NULL},
};
static const im_field budget_fields[] = {
    {"retryRatio", IM_T_STR, 0, 0, NULL, NULL},
    {"minRetriesPerSecond", IM_T_INT, 0, 0, NULL, NULL},
    {"ttl", IM_T_STR, 0, 0, NULL, NULL},
    {NULL, 0, 0, 0, NULL, NULL},
};
static const im_field dst_fields[] = {
    {"authority", IM_T_STR, 1, 0, NULL, NULL},
    {"weight", IM_T_INTSTR, 0, 0, NULL, NULL},
    {NULL, 0, 0, 0, NULL, NULL},
};
static const im_field sp_fields[] = {
    {"routes", IM_T_LIST, 0, 0, sp_route_fields, NULL},
    {"retryBudget", IM_T_MAP, 0, 0, budget_fields, NULL},
    {"dstOverrides", IM_T_LIST, 0, 0, dst_fields, NULL},
    {"opaquePorts", IM_T_LIST, 0, IM_T_INT, NULL, NULL},
    {NULL, 0, 0, 0, NULL, NULL},
};
static const im_field link_fields[] = {
    {"targetClusterName", IM_T_STR, 0, 0, NULL, NULL},
    {"targetClusterDomain", IM_T_STR, 0, 0, NULL, NULL},
    {"targetClusterLinkerdNamespace", IM_T_STR, 0, 0, NULL, NULL},
    {"clusterCredentialsSecret", IM_T_STR, 0, 0, NULL, NULL},
    {"gatewayAddress", IM_T_STR, 0, 0, NULL, NULL},
    {"gatewayPort", IM_T_INTSTR, 0, 0, NULL, NULL},
    {"gatewayIdentity", IM_T_STR, 0, 0, NULL, NULL},
    {"probeSpec", IM_T_ANY, 0, 0, NULL, NULL},
    {"selector", IM_T_MAP, 0, 0, selector_fields, NULL},
    {"remoteDiscoverySelector", IM_T_MAP, 0, 0, selector_fields, NULL},
    {"federatedServiceSelector", IM_T_MAP, 0, 0, selector_fields, NULL},
    {"excludedAnnotations", IM_T_LIST, 0, IM_T_STR, NULL, NULL},
    {"excludedLabels", IM_T_LIST, 0, IM_T_STR, NULL, NULL},
    {NULL, 0, 0, 0, NULL, NULL},
};

/* The table of each kind's spec (NULL: the kind has no spec of its own). */
static const im_field *const spec_of[LK_KINDS] = {
    [LK_SERVER] = server_fields,
    [LK_SERVERAUTHORIZATION] = saz_fields,
    [LK_AUTHORIZATIONPOLICY] = authzpolicy_fields,
    [LK_MESHTLSAUTHENTICATION] = meshtls_fields,
    [LK_NETWORKAUTHENTICATION] = netauthn_fields,
    [LK_HTTPROUTE] = mp_gwapi_httproute_spec, /* the Gateway API's HTTPRoute's */
    [LK_SERVICEPROFILE] = sp_fields,
    [LK_LINK] = link_fields,
};

/* --- checks beyond the schemas: what Linkerd's admission webhook or its parsers refuse --- */

int mp_linkerd_group_is(const char *ref_group, const char *g)
{
	const char *a = ref_group && *ref_group ? ref_group : "core";
	return !strcasecmp(a, *g ? g : "core");
}

static int check_cidr(mp_import *im, idoc *dc, yaml_node_t *n)
{
	mp_ipnet net;
	const char *s = im_scalar(n);
	if (s && mp_ipnet_parse(s, &net, 1) == 0)
		return 0;
	return im_error(im, dc, n, "'%s' is not an IP address or CIDR block", s ? s : "");
}

/* networks[] {cidr, except[]} of a ServerAuthorization's client or a NetworkAuthentication. */
static int check_networks(mp_import *im, idoc *dc, yaml_node_t *seq)
{
	yaml_node_t *net, *ex;
	int bad = 0;
	if (!seq || seq->type != YAML_SEQUENCE_NODE)
		return 0;
	IM_SEQ_FOREACH(dc, seq, net)
	{
		yaml_node_t *cidr = im_get(dc, net, "cidr"), *except = im_get(dc, net, "except");
		if (cidr && check_cidr(im, dc, cidr) < 0)
			bad = -1;
		if (except && except->type == YAML_SEQUENCE_NODE)
			IM_SEQ_FOREACH(dc, except, ex)
			{
				if (check_cidr(im, dc, ex) < 0)
					bad = -1;
			}
	}
	return bad;
}

/* A regular expression of a route's match (Linkerd compiles it; one it cannot is refused). */
static int check_regex(mp_import *im, idoc *dc, yaml_node_t *n)
{
	char why[200];
	const char *s = im_scalar(n);
	if (!s || mp_linkerd_regex(s, why, sizeof(why)) == 0)
		return 0;
	return im_error(im, dc, n, "regular expression '%s': %s", s, why);
}

/* Is the value of a {type, value} (or {type, name, value}) match a regular expression? */
static int is_regex(idoc *dc, yaml_node_t *m)
{
	const char *t = im_scalar(im_get(dc, m, "type"));
	return t && !strcmp(t, "RegularExpression");
}

static int check_route_matches(mp_import *im, idoc *dc)
{
	yaml_node_t *rules = im_get(dc, dc->spec, "rules"), *rule, *m, *hq;
	int bad = 0;
	if (!rules || rules->type != YAML_SEQUENCE_NODE)
		return 0;
	IM_SEQ_FOREACH(dc, rules, rule)
	{
		yaml_node_t *matches = im_get(dc, rule, "matches");
		if (!matches || matches->type != YAML_SEQUENCE_NODE)
			continue;
		IM_SEQ_FOREACH(dc, matches, m)
		{
			yaml_node_t *path = im_get(dc, m, "path");
			if (path && is_regex(dc, path) &&
			    check_regex(im, dc, im_get(dc, path, "value")))
				bad = -1;
			static const char *const lists[] = {"headers", "queryParams"};
			for (size_t l = 0; l < 2; l++) {
				yaml_node_t *seq = im_get(dc, m, lists[l]);
				if (!seq || seq->type != YAML_SEQUENCE_NODE)
					continue;
				IM_SEQ_FOREACH(dc, seq, hq)
				{
					if (is_regex(dc, hq) &&
					    check_regex(im, dc, im_get(dc, hq, "value")) < 0)
						bad = -1;
				}
			}
		}
	}
	return bad;
}

/* The durations of a route's rules (timeouts.request, backendRequest). */
static int check_timeouts(mp_import *im, idoc *dc)
{
	yaml_node_t *rules = im_get(dc, dc->spec, "rules"), *rule;
	uint32_t ms;
	int set, bad = 0;
	if (!rules || rules->type != YAML_SEQUENCE_NODE)
		return 0;
	IM_SEQ_FOREACH(dc, rules, rule)
	{
		yaml_node_t *t = im_get(dc, rule, "timeouts");
		if (t && (im_duration(im, dc, t, "request", &ms, &set) < 0 ||
		          im_duration(im, dc, t, "backendRequest", &ms, &set) < 0))
			bad = -1;
	}
	return bad;
}

/* A ServiceProfile request condition's regular expressions, all the way down. */
static int check_condition(mp_import *im, idoc *dc, yaml_node_t *c)
{
	yaml_node_t *item;
	int bad = 0;
	if (!c || c->type != YAML_MAPPING_NODE)
		return 0;
	if (im_get(dc, c, "pathRegex") && check_regex(im, dc, im_get(dc, c, "pathRegex")) < 0)
		bad = -1;
	static const char *const lists[] = {"all", "any"};
	for (size_t l = 0; l < 2; l++) {
		yaml_node_t *seq = im_get(dc, c, lists[l]);
		if (seq && seq->type == YAML_SEQUENCE_NODE)
			IM_SEQ_FOREACH(dc, seq, item)
			{
				if (check_condition(im, dc, item) < 0)
					bad = -1;
			}
	}
	return check_condition(im, dc, im_get(dc, c, "not")) < 0 ? -1 : bad;
}

static int check_profile(mp_import *im, idoc *dc)
{
	yaml_node_t *routes = im_get(dc, dc->spec, "routes"), *r;
	uint32_t ms;
	int set, bad = 0;
	if (routes && routes->type == YAML_SEQUENCE_NODE)
		IM_SEQ_FOREACH(dc, routes, r)
		{
			if (im_duration(im, dc, r, "timeout", &ms, &set) < 0 ||
			    check_condition(im, dc, im_get(dc, r, "condition")) < 0)
				bad = -1;
		}
	return bad;
}

/* Kubernetes' IntOrString port: 1..65535, or a port name (IANA_SVC_NAME: at most 15 lower case
 * letters, digits and dashes). */
static int check_port(mp_import *im, idoc *dc, yaml_node_t *n)
{
	const char *s = im_scalar(n);
	size_t len = s ? strlen(s) : 0;
	if (!s)
		return 0;
	if (n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE && isdigit((unsigned char)*s)) {
		char *end;
		long p = strtol(s, &end, 10);
		if (*end || p < 1 || p > 65535)
			return im_error(im, dc, n, "spec.port: %s is not a port number (1..65535)",
			                s);
		return 0;
	}
	if (!len || len > 15 || strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789-") != len)
		return im_error(im, dc, n,
		                "spec.port: '%s' is not a port name (1 to 15 lower case letters, "
		                "digits and dashes)",
		                s);
	return 0;
}

/* The version of the document's apiVersion ("v1beta3"). */
static const char *version_of(const mp_import *im, const idoc *dc)
{
	const char *api = im_str_of(im, dc->api), *slash = strrchr(api, '/');
	return slash ? slash + 1 : api;
}

static int check_server(mp_import *im, idoc *dc)
{
	yaml_node_t *pods = im_get(dc, dc->spec, "podSelector");
	yaml_node_t *ext = im_get(dc, dc->spec, "externalWorkloadSelector");
	const char *v = version_of(im, dc);
	int old = !strcmp(v, "v1alpha1") || !strcmp(v, "v1beta1");
	if ((pods != NULL) == (ext != NULL))
		return im_error(
		    im, dc, dc->spec,
		    "spec: needs exactly one of podSelector and externalWorkloadSelector");
	if (ext && old)
		return im_error(im, dc, ext,
		                "spec.externalWorkloadSelector: not a field of Server %s (v1beta2 "
		                "and later have it)",
		                v);
	if (im_get(dc, dc->spec, "accessPolicy") && strcmp(v, "v1beta3"))
		return im_error(im, dc, im_get(dc, dc->spec, "accessPolicy"),
		                "spec.accessPolicy: not a field of Server %s (v1beta3 has it)", v);
	return check_port(im, dc, im_get(dc, dc->spec, "port"));
}

static int check_kind(mp_import *im, idoc *dc)
{
	uint32_t k = (uint32_t)(dc->kind - mp_linkerd_kinds);
	if (!dc->spec)
		return im_error(im, dc, dc->root, "missing required field 'spec'");
	if (im_check(im, dc, dc->spec, spec_of[k], "spec") < 0)
		return -1;
	switch (k) {
	case LK_SERVER:
		return check_server(im, dc);
	case LK_SERVERAUTHORIZATION:
		return check_networks(im, dc,
		                      im_get(dc, im_get(dc, dc->spec, "client"), "networks"));
	case LK_NETWORKAUTHENTICATION:
		return check_networks(im, dc, im_get(dc, dc->spec, "networks"));
	case LK_MESHTLSAUTHENTICATION:
		if (!im_get(dc, dc->spec, "identities") && !im_get(dc, dc->spec, "identityRefs"))
			return im_error(im, dc, dc->spec,
			                "spec: needs identities or identityRefs (Linkerd: \"No "
			                "identities configured\")");
		return 0;
	case LK_HTTPROUTE:
		return check_route_matches(im, dc) < 0 || check_timeouts(im, dc) < 0 ? -1 : 0;
	case LK_SERVICEPROFILE:
		return check_profile(im, dc);
	default:
		return 0;
	}
}

/* --- the cluster settings: linkerd-config's values, the chart's defaults, the options --- */

const lk_cluster *mp_linkerd_cluster(mp_import *im, mp_id cluster)
{
	linkerd_state *st = linkerd_of(im);
	return cluster < st->nclusters ? &st->clusters[cluster] : NULL;
}

/* A value of the values document at a '/'-separated path: a scalar's text, or a list of
 * scalars joined with commas (probeNetworks) into buf. NULL when absent. An error (and NULL)
 * when it is neither. */
static const char *values_get(mp_import *im, idoc *vd, const char *path, char *buf, size_t len,
                              int *bad)
{
	yaml_node_t *n = vd->root, *item;
	char seg[64];
	for (const char *p = path; n && *p;) {
		size_t l = strcspn(p, "/");
		snprintf(seg, sizeof(seg), "%.*s", (int)l, p);
		p += l + (p[l] == '/');
		n = n->type == YAML_MAPPING_NODE ? im_get(vd, n, seg) : NULL;
	}
	if (!n || im_is_null(n))
		return NULL;
	if (n->type == YAML_SCALAR_NODE)
		return snprintf(buf, len, "%s", im_scalar(n)), buf;
	if (n->type == YAML_SEQUENCE_NODE) {
		size_t at = 0;
		buf[0] = '\0';
		IM_SEQ_FOREACH(vd, n, item)
		{
			if (!im_scalar(item))
				goto fail;
			at += (size_t)snprintf(buf + at, at < len ? len - at : 0, "%s%s",
			                       at ? "," : "", im_scalar(item));
		}
		return buf;
	}
fail:
	*bad = im_error(im, vd, n, "values: %s must be a string or a list of strings, not %s", path,
	                im_kind_of(n));
	return NULL;
}

/* Every block of a comma-separated list of CIDRs must parse. */
static int check_cidr_list(const char *list, char *bad, size_t len)
{
	char one[64];
	mp_ipnet net;
	for (const char *p = list; *p;) {
		p = mp_linkerd_item(p, one, sizeof(one));
		if (one[0] && mp_ipnet_parse(one, &net, 1) < 0) {
			snprintf(bad, len, "%s", one);
			return -1;
		}
	}
	return 0;
}

/* The ConfigMap's data.values parsed into the state's document for cluster c, with a
 * document standing for it (for errors at its lines). 0, or -1 after an error. */
static int parse_values(mp_import *im, idoc *dc, uint32_t c)
{
	linkerd_state *st = linkerd_of(im);
	yaml_node_t *data = im_get(dc, dc->root, "data"), *values;
	const char *text;
	mp_yaml_stream ys;
	if (data && data->type != YAML_MAPPING_NODE)
		return im_error(im, dc, data, "'data' must be a mapping, not %s", im_kind_of(data));
	if (im_str(im, dc, data, "values", 0, &text) < 0)
		return -1;
	values = im_get(dc, data, "values");
	if (!text)
		return 0;             /* a ConfigMap without values: the chart's defaults */
	idoc vals = *dc, *vd = &vals; /* the state's only once the text parsed as a mapping */
	/* a block scalar's text starts on the next line, indented (Helm renders `values: |`
	 * with its text two columns right of the key) */
	int block = values->data.scalar.style == YAML_LITERAL_SCALAR_STYLE ||
	            values->data.scalar.style == YAML_FOLDED_SCALAR_STYLE;
	yaml_node_t *key = NULL, *k, *v;
	IM_MAP_FOREACH(dc, data, k, v)
	{
		if (v == values)
			key = k;
	}
	vd->line_base = (uint32_t)values->start_mark.line + (block ? 1 : 0);
	vd->col_base = block && key ? (uint32_t)key->start_mark.column + 2
	                            : (uint32_t)values->start_mark.column;
	if (mp_yaml_open(&ys, im_str_of(im, dc->file), text, strlen(text), im->d) < 0) {
		im->oom = 1;
		return -1;
	}
	/* errors inside the text are reported by the parser at its own lines: those are offset
	 * by where the text starts, which the note after them says */
	uint32_t before = im->d->errors;
	int rc = mp_yaml_next(&ys, &st->values[c]);
	mp_yaml_close(&ys);
	if (rc < 0 || im->d->errors > before) {
		if (rc == 1)
			yaml_document_delete(&st->values[c]);
		memset(&st->values[c], 0, sizeof(st->values[c]));
		return im_error(im, dc, values,
		                "data.values is not a YAML document (the lines above count from "
		                "its first line)");
	}
	if (rc == 0)
		return 0;
	vd->doc = st->values[c];
	vd->root = yaml_document_get_root_node(&vd->doc);
	if (vd->root && vd->root->type != YAML_MAPPING_NODE)
		return im_error(im, vd, vd->root, "data.values must be a mapping, not %s",
		                im_kind_of(vd->root));
	st->values_dc[c] = vals;
	return 0;
}

/* The settings of cluster c from its ConfigMap doc (or none), then the options. */
static int read_settings(mp_import *im, lk_cluster *cl, idoc *dc, uint32_t c)
{
	linkerd_state *st = linkerd_of(im);
	const mp_import_opts *o = im->o;
	char buf[1024], bad_cidr[64];
	int bad = 0;
	snprintf(cl->cp_ns, sizeof(cl->cp_ns), "%s", dc ? im_str_of(im, dc->ns) : "linkerd");
	snprintf(cl->domain, sizeof(cl->domain), "cluster.local");
	snprintf(cl->policy, sizeof(cl->policy), CHART_POLICY);
	snprintf(cl->policy_from, sizeof(cl->policy_from),
	         "Linkerd default (proxy.defaultInboundPolicy: " CHART_POLICY ")");
	snprintf(cl->networks, sizeof(cl->networks), CHART_NETWORKS);
	snprintf(cl->probe_networks, sizeof(cl->probe_networks), CHART_PROBE_NETS);
	snprintf(cl->opaque_ports, sizeof(cl->opaque_ports), CHART_OPAQUE_PORTS);
	cl->td[0] = cl->require_id[0] = '\0';
	if (dc && parse_values(im, dc, c) < 0)
		bad = -1;
	idoc *vd = dc && st->values_dc[c].root ? &st->values_dc[c] : NULL;
	if (vd) {
		static const struct {
			const char *path;
			size_t off, len;
		} keys[] = {
#define KEY(p, f) {p, offsetof(lk_cluster, f), sizeof(((lk_cluster *)0)->f)}
		    KEY("clusterDomain", domain),
		    KEY("identityTrustDomain", td),
		    KEY("proxy/defaultInboundPolicy", policy),
		    KEY("clusterNetworks", networks),
		    KEY("policyController/probeNetworks", probe_networks),
		    KEY("proxy/opaquePorts", opaque_ports),
		    KEY("proxy/requireIdentityOnInboundPorts", require_id),
#undef KEY
		};
		for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
			if (values_get(im, vd, keys[i].path, buf, sizeof(buf), &bad))
				snprintf((char *)cl + keys[i].off, keys[i].len, "%s", buf);
		yaml_node_t *pn = im_path(vd, vd->root, "proxy/defaultInboundPolicy");
		if (pn != vd->root && im_scalar(pn)) {
			if (mp_linkerd_policy(cl->policy) == LK_POLICY_NONE) {
				char hint[300];
				bad = im_error(
				    im, vd, pn,
				    "values: proxy.defaultInboundPolicy: unknown value '%s' "
				    "(%s)",
				    cl->policy,
				    mp_diag_hint(cl->policy, mp_linkerd_policies, hint,
				                 sizeof(hint)));
			}
			snprintf(cl->policy_from, sizeof(cl->policy_from),
			         "ConfigMap %s/linkerd-config (proxy.defaultInboundPolicy: %s)",
			         cl->cp_ns, cl->policy);
			cl->policy_loc = im_loc(vd, pn);
		}
		yaml_node_t *nn = im_path(vd, vd->root, "clusterNetworks");
		if (nn != vd->root && check_cidr_list(cl->networks, bad_cidr, sizeof(bad_cidr)) < 0)
			bad =
			    im_error(im, vd, nn,
			             "values: clusterNetworks: '%s' is not a CIDR block", bad_cidr);
	}
	if (!cl->td[0]) /* the chart renders an empty identityTrustDomain as clusterDomain */
		snprintf(cl->td, sizeof(cl->td), "%s", cl->domain);
	if (o && o->trust_domain)
		snprintf(cl->td, sizeof(cl->td), "%s", o->trust_domain);
	if (st->opt_cp_ns)
		snprintf(cl->cp_ns, sizeof(cl->cp_ns), "%s", st->opt_cp_ns);
	if (st->opt_networks)
		snprintf(cl->networks, sizeof(cl->networks), "%s", st->opt_networks);
	if (st->opt_policy) {
		snprintf(cl->policy, sizeof(cl->policy), "%s", st->opt_policy);
		snprintf(
		    cl->policy_from, sizeof(cl->policy_from),
		    "meshpol compile --default-inbound-policy (proxy.defaultInboundPolicy: %s)",
		    st->opt_policy);
		cl->policy_loc = (mp_loc){0, 0, 0};
	}
	return bad;
}

/* The ConfigMap record of cluster c: its values as Linkerd reads them. */
static void config_record(mp_import *im, uint32_t c)
{
	linkerd_state *st = linkerd_of(im);
	const lk_cluster *cl = &st->clusters[c];
	idoc *dc = cl->doc != UINT32_MAX ? &im->docs[cl->doc] : NULL;
	json_t *j = json_pack("{s:s, s:s, s:s, s:{s:[]}, s:{s:s, s:s, s:s}}", "clusterDomain",
	                      cl->domain, "clusterNetworks", cl->networks, "identityTrustDomain",
	                      cl->td, "policyController", "probeNetworks", "proxy",
	                      "defaultInboundPolicy", cl->policy, "opaquePorts", cl->opaque_ports,
	                      "requireIdentityOnInboundPorts", cl->require_id);
	json_t *probe =
	    j ? json_object_get(json_object_get(j, "policyController"), "probeNetworks") : NULL;
	char item[80];
	for (const char *p = cl->probe_networks; probe && *p;) {
		p = mp_linkerd_item(p, item, sizeof(item));
		if (item[0])
			json_array_append_new(probe, json_string(item));
	}
	if (!j) {
		im->oom = 1;
		return;
	}
	if (dc) {
		im_add_resource(im, dc, j, 0, (mp_span){0, 0});
		return;
	}
	mp_resource r = {.kind = im_intern(im, "ConfigMap"),
	                 .api = im_intern(im, "v1"),
	                 .ns = im_intern(im, cl->cp_ns),
	                 .name = im_intern(im, LK_CONFIG_NAME),
	                 .cluster = im->multi_cluster ? c : MP_NONE,
	                 .loc = {0, 0, 0}};
	im_add_record(im, &r, j);
}

/* The settings of every cluster that holds imported documents (a ConfigMap no provider reads
 * is none: Kubernetes skips it) as records of the model, from which the provider's present
 * answers (provider.h). */
static void config_records(mp_import *im)
{
	linkerd_state *st = linkerd_of(im);
	for (uint32_t c = 0; c < st->nclusters && !im->oom; c++) {
		uint32_t i;
		for (i = 0; i < im->ndocs; i++) {
			idoc *dc = &im->docs[i];
			if (dc->cluster == c && (!k8s_is(dc, K8S_CONFIGMAP) || im_reads(im, dc)))
				break;
		}
		if (i < im->ndocs)
			config_record(im, c);
	}
}

int mp_linkerd_is_config(const mp_import *im, const idoc *dc)
{
	return k8s_is(dc, K8S_CONFIGMAP) && !strcmp(im_str_of(im, dc->name), LK_CONFIG_NAME);
}

/* Kubernetes asks (reads): the ConfigMap linkerd-config is Linkerd's to read. */
static int reads(mp_import *im, idoc *dc)
{
	return mp_linkerd_is_config(im, dc);
}

/* Does the import hold Linkerd's configuration: a document of its own kinds, or a Namespace or
 * pod it injects? Without, Linkerd adds nothing to the model. */
static int is_present(mp_import *im)
{
	for (uint32_t i = 0; i < im->ndocs; i++) {
		idoc *dc = &im->docs[i];
		yaml_node_t *meta, *spec;
		if (!im_live(dc))
			continue;
		if (dc->provider == &mp_provider_linkerd || mp_linkerd_is_config(im, dc))
			return 1;
		if (k8s_is(dc, K8S_NAMESPACE)) {
			meta = dc->meta;
		} else if (dc->provider == &mp_provider_kubernetes && !k8s_is(dc, K8S_SERVICE) &&
		           !k8s_is(dc, K8S_SERVICEACCOUNT) && !k8s_is(dc, K8S_NODE)) {
			mp_k8s_pod(dc, &meta, &spec);
		} else {
			continue;
		}
		if (im_scalar(im_get(dc, im_get(dc, meta, "annotations"), "linkerd.io/inject")))
			return 1;
	}
	return 0;
}

/* The CLUSTERS phase: whether Linkerd is here, every document checked, each cluster's
 * settings (the identities of the WORKLOADS phase need them), which go into the model now: so
 * it tells from here on that Linkerd is here (Istio asks, in its RESOURCES phase). */
static void clusters(mp_import *im)
{
	linkerd_state *st = linkerd_of(im);
	if (!(st->present = is_present(im)))
		return;
	if (!(st->ns_docs = mp_calloc(im->ndocs + 1, sizeof(*st->ns_docs)))) {
		im->oom = 1;
		return;
	}
	for (uint32_t i = 0; i < im->ndocs; i++) {
		idoc *dc = &im->docs[i];
		if (k8s_is(dc, K8S_NAMESPACE) && im_live(dc))
			st->ns_docs[st->nns_docs++] = i;
		if (dc->provider == &mp_provider_linkerd && im_live(dc))
			check_kind(im, dc);
	}
	uint32_t n = mp_model_get_view(im->m).nclusters;
	st->clusters = mp_calloc(n ? n : 1, sizeof(*st->clusters));
	st->values = mp_calloc(n ? n : 1, sizeof(*st->values));
	st->values_dc = mp_calloc(n ? n : 1, sizeof(*st->values_dc));
	if (!st->clusters || !st->values || !st->values_dc) {
		im->oom = 1;
		return;
	}
	st->nclusters = n;
	for (uint32_t c = 0; c < n; c++) {
		idoc *cm = NULL;
		st->clusters[c].doc = UINT32_MAX;
		for (uint32_t i = 0; i < im->ndocs; i++) {
			idoc *dc = &im->docs[i];
			if (!mp_linkerd_is_config(im, dc) || !im_live(dc) || dc->cluster != c)
				continue;
			if (cm) {
				char where[600];
				im_note(
				    im, dc, dc->root,
				    "cluster '%s' has a linkerd-config already, at %s: this one is "
				    "not read",
				    im_str_of(im, mp_model_get_view(im->m).clusters[c].name),
				    mp_model_loc_str(im->m, cm->loc, where, sizeof(where)));
				continue;
			}
			cm = dc;
			st->clusters[c].doc = i;
		}
		if (read_settings(im, &st->clusters[c], cm, c) < 0 && cm)
			cm->bad = 1;
	}
	config_records(im);
}

/* --- identities --- */

/* linkerd/linkerd2 policy-controller/k8s/index/src/cluster_info.rs service_account_identity:
 * SA.NS.serviceaccount.identity.CONTROL-PLANE-NS.TRUST-DOMAIN, for the pods it injects. */
static int identity(mp_import *im, idoc *dc, const char *ns, const char *sa, char *out, size_t len)
{
	linkerd_state *st = linkerd_of(im);
	const lk_cluster *cl = mp_linkerd_cluster(im, dc->cluster);
	if (!st->present || !cl || !mp_linkerd_meshed(im, dc))
		return 0;
	snprintf(out, len, "%s.%s.serviceaccount.identity.%s.%s", sa, ns, cl->cp_ns, cl->td);
	return 1;
}

/* --- resources --- */

/* A Server's metadata.labels as (key, value) string ids in the model's id pool: a
 * ServerAuthorization selects Servers by them. */
static mp_span server_labels(mp_import *im, idoc *dc)
{
	yaml_node_t *labels = im_get(dc, dc->meta, "labels"), *k, *v;
	uint32_t ids[128], n = 0;
	mp_span out = {0, 0};
	if (!labels || labels->type != YAML_MAPPING_NODE)
		return out;
	IM_MAP_FOREACH(dc, labels, k, v)
	{
		if (n + 2 > sizeof(ids) / sizeof(ids[0]) || !im_scalar(k) || !im_scalar(v))
			continue;
		ids[n++] = im_intern(im, im_scalar(k));
		ids[n++] = im_intern(im, im_scalar(v));
	}
	if (n && (out.off = mp_model_push_u32(im->m, ids, n)) == MP_NONE) {
		im->oom = 1;
		return (mp_span){0, 0};
	}
	out.n = n;
	return out;
}

/* The RESOURCES phase: every Linkerd document as it is written (a Server with its labels),
 * and what each meshed pod's proxy knows (the settings are in the model already). */
static void resources(mp_import *im)
{
	linkerd_state *st = linkerd_of(im);
	if (!st->present)
		return;
	for (uint32_t i = 0; i < im->ndocs && !im->oom; i++) {
		idoc *dc = &im->docs[i];
		if (dc->provider != &mp_provider_linkerd || !im_live(dc))
			continue;
		json_t *spec = im_json(dc, dc->spec);
		if (!spec) {
			im->oom = 1;
			return;
		}
		im_add_resource(im, dc, spec, 0,
		                linkerd_is(dc, LK_SERVER) ? server_labels(im, dc)
		                                          : (mp_span){0, 0});
	}
	mp_linkerd_proxy_records(im);
}

/* --- the importer --- */

/* The options, checked once; a bad one is an error of the compile (exit 2), no file named. */
static void *begin(mp_import *im)
{
	linkerd_state *st = mp_calloc(1, sizeof(*st));
	const mp_import_opts *o = im->o;
	const mp_provider_setting *s = o ? o->provider_opts : NULL;
	uint32_t n = o ? o->nprovider_opts : 0;
	char bad[64], hint[300];
	if (!st)
		return NULL;
	st->opt_policy = mp_provider_option_value(s, n, "linkerd", "default-inbound-policy");
	st->opt_networks = mp_provider_option_value(s, n, "linkerd", "cluster-networks");
	st->opt_cp_ns = mp_provider_option_value(s, n, "linkerd", "control-plane-namespace");
	if (st->opt_networks && check_cidr_list(st->opt_networks, bad, sizeof(bad)) < 0)
		mp_diags_add(im->d, MP_DIAG_ERROR, NULL, 0, 0,
		             "--cluster-networks: '%s' is not a CIDR block", bad);
	if (st->opt_policy && mp_linkerd_policy(st->opt_policy) == LK_POLICY_NONE)
		mp_diags_add(im->d, MP_DIAG_ERROR, NULL, 0, 0,
		             "--default-inbound-policy: unknown value '%s' (%s)", st->opt_policy,
		             mp_diag_hint(st->opt_policy, mp_linkerd_policies, hint, sizeof(hint)));
	return st;
}

static void end(void *state)
{
	linkerd_state *st = state;
	for (uint32_t c = 0; st->values && c < st->nclusters; c++)
		yaml_document_delete(&st->values[c]); /* a zeroed one too */
	for (uint32_t i = 0; i < st->nproxies; i++)
		json_decref(st->proxies[i].spec);
	mp_free(st->proxies);
	mp_free(st->ns_docs);
	mp_free(st->values);
	mp_free(st->values_dc);
	mp_free(st->clusters);
	mp_free(st);
}

static int holds(mp_import *im)
{
	return linkerd_of(im)->present;
}

const struct mp_provider_import mp_linkerd_import = {
    .begin = begin,
    .end = end,
    .phase =
        {
            [IM_PHASE_CLUSTERS] = clusters,
            [IM_PHASE_SERVICES] = mp_linkerd_mirrors,
            [IM_PHASE_ELEMENTS] = mp_linkerd_proxies,
            [IM_PHASE_ROUTES] = mp_linkerd_routes,
            [IM_PHASE_RESOURCES] = resources,
        },
    .identity = identity,
    .reads = reads,
    .holds = holds,
};
