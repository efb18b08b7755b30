/* schema_kuma.c: every Kuma kind's fields, one table per object as its CRD's schema (kumahq/kuma
 * deployments/charts/kuma/crds and the api/ Go types) gives them, checked with im_check; then
 * what Kuma's validators refuse beyond the schema (pkg/plugins/policies/<kind>/api/v1alpha1
 * validator.go: the targetRef kinds each place allows, a from[] without entries, a matcher
 * without its value); and the MeshIdentity templates. Mapping: docs/import.md ("Kuma"). */
#include "kuma_int.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define END                                                                                        \
	{                                                                                          \
		NULL, 0, 0, 0, NULL, NULL                                                          \
	}

static const char *const proxy_types[] = {"Sidecar", "Gateway", NULL};
static const char *const actions[] = {"Allow", "Deny", "AllowWithShadowDeny", NULL};
static const char *const match_types[] = {"Exact", "Prefix", NULL};
static const char *const tls_modes[] = {"Strict", "Permissive", NULL};
static const char *const mesh_modes[] = {"STRICT", "PERMISSIVE", NULL};
static const char *const backend_types[] = {"builtin", "provided",    "vault",
                                            "acmpca",  "certmanager", NULL};
static const char *const path_types[] = {"Exact", "PathPrefix", "RegularExpression", NULL};
static const char *const header_types[] = {"Exact",  "Present", "RegularExpression",
                                           "Absent", "Prefix",  NULL};
static const char *const query_types[] = {"Exact", "RegularExpression", NULL};
static const char *const methods[] = {"CONNECT", "DELETE", "GET", "HEAD",  "OPTIONS",
                                      "PATCH",   "POST",   "PUT", "TRACE", NULL};
static const char *const failover_types[] = {"Any", "Only", "AnyExcept", "None", NULL};
static const char *const protocols[] = {"tcp", "grpc", "http", "http2", "tls", "kafka", NULL};
static const char *const id_providers[] = {"Bundled", "Spire", NULL};

static const im_field target_ref[] = {
    {"kind", IM_T_ENUM, 1, 0, NULL, km_ref_kinds},
    {"name", IM_T_STR, 0, 0, NULL, NULL},
    {"namespace", IM_T_STR, 0, 0, NULL, NULL},
    {"mesh", IM_T_STR, 0, 0, NULL, NULL},
    {"tags", IM_T_STRMAP, 0, 0, NULL, NULL},
    {"labels", IM_T_STRMAP, 0, 0, NULL, NULL},
    {"sectionName", IM_T_STR, 0, 0, NULL, NULL},
    {"proxyTypes", IM_T_LIST, 0, IM_T_ENUM, NULL, proxy_types},
    END,
};

/* --- MeshTrafficPermission --- */

static const im_field action_default[] = {
    {"action", IM_T_ENUM, 1, 0, NULL, actions},
    END,
};
static const im_field from_item[] = {
    {"targetRef", IM_T_MAP, 1, 0, target_ref, NULL},
    {"default", IM_T_MAP, 1, 0, action_default, NULL},
    END,
};
static const im_field string_match[] = {
    {"type", IM_T_ENUM, 1, 0, NULL, match_types},
    {"value", IM_T_STR, 1, 0, NULL, NULL},
    END,
};
static const im_field matcher[] = {
    {"spiffeID", IM_T_MAP, 0, 0, string_match, NULL},
    {"spiffeId", IM_T_MAP, 0, 0, string_match, NULL}, /* 2.12's spelling */
    {"sni", IM_T_MAP, 0, 0, string_match, NULL},
    END,
};
static const im_field rules_default[] = {
    {"deny", IM_T_LIST, 0, 0, matcher, NULL},
    {"allow", IM_T_LIST, 0, 0, matcher, NULL},
    {"allowWithShadowDeny", IM_T_LIST, 0, 0, matcher, NULL},
    END,
};
static const im_field rules_item[] = {
    {"default", IM_T_MAP, 1, 0, rules_default, NULL},
    END,
};
static const im_field mtp_spec[] = {
    {"targetRef", IM_T_MAP, 0, 0, target_ref, NULL},
    {"from", IM_T_LIST, 0, 0, from_item, NULL},
    {"rules", IM_T_LIST, 0, 0, rules_item, NULL},
    END,
};

/* --- MeshTLS, MeshIdentity, Mesh --- */

static const im_field tls_version[] = {
    {"min", IM_T_STR, 0, 0, NULL, NULL},
    {"max", IM_T_STR, 0, 0, NULL, NULL},
    END,
};
static const im_field tls_default[] = {
    {"mode", IM_T_ENUM, 0, 0, NULL, tls_modes},
    {"tlsVersion", IM_T_MAP, 0, 0, tls_version, NULL},
    {"tlsCiphers", IM_T_LIST, 0, IM_T_STR, NULL, NULL},
    END,
};
static const im_field tls_from[] = {
    {"targetRef", IM_T_MAP, 1, 0, target_ref, NULL},
    {"default", IM_T_MAP, 1, 0, tls_default, NULL},
    END,
};
static const im_field tls_rule[] = {
    {"default", IM_T_MAP, 1, 0, tls_default, NULL},
    END,
};
static const im_field meshtls_spec[] = {
    {"targetRef", IM_T_MAP, 0, 0, target_ref, NULL},
    {"from", IM_T_LIST, 0, 0, tls_from, NULL},
    {"rules", IM_T_LIST, 0, 0, tls_rule, NULL},
    END,
};
static const im_field dp_selector[] = {
    {"matchLabels", IM_T_STRMAP, 0, 0, NULL, NULL},
    END,
};
static const im_field id_selector[] = {
    {"dataplane", IM_T_MAP, 0, 0, dp_selector, NULL},
    END,
};
static const im_field spiffe_id[] = {
    {"trustDomain", IM_T_STR, 0, 0, NULL, NULL},
    {"path", IM_T_STR, 0, 0, NULL, NULL},
    END,
};
static const im_field id_provider[] = {
    {"type", IM_T_ENUM, 1, 0, NULL, id_providers},
    {"bundled", IM_T_ANY, 0, 0, NULL, NULL},
    {"spire", IM_T_ANY, 0, 0, NULL, NULL},
    END,
};
static const im_field meshidentity_spec[] = {
    {"selector", IM_T_MAP, 0, 0, id_selector, NULL},
    {"spiffeID", IM_T_MAP, 0, 0, spiffe_id, NULL},
    {"provider", IM_T_MAP, 1, 0, id_provider, NULL},
    END,
};
static const im_field backend[] = {
    {"name", IM_T_STR, 1, 0, NULL, NULL},
    {"type", IM_T_ENUM, 1, 0, NULL, backend_types},
    {"mode", IM_T_ENUM, 0, 0, NULL, mesh_modes},
    {"dpCert", IM_T_ANY, 0, 0, NULL, NULL},
    {"conf", IM_T_ANY, 0, 0, NULL, NULL},
    {"rootChain", IM_T_ANY, 0, 0, NULL, NULL},
    END,
};
static const im_field mtls[] = {
    {"enabledBackend", IM_T_STR, 0, 0, NULL, NULL},
    {"backends", IM_T_LIST, 0, 0, backend, NULL},
    {"skipValidation", IM_T_BOOL, 0, 0, NULL, NULL},
    END,
};
#define MESH_FIELDS                                                                                \
	{"mtls", IM_T_MAP, 0, 0, mtls, NULL}, {"tracing", IM_T_ANY, 0, 0, NULL, NULL},             \
	    {"logging", IM_T_ANY, 0, 0, NULL, NULL}, {"metrics", IM_T_ANY, 0, 0, NULL, NULL},      \
	    {"networking", IM_T_ANY, 0, 0, NULL, NULL}, {"routing", IM_T_ANY, 0, 0, NULL, NULL},   \
	    {"constraints", IM_T_ANY, 0, 0, NULL, NULL},                                           \
	    {"meshServices", IM_T_ANY, 0, 0, NULL, NULL},                                          \
	{                                                                                          \
		"skipCreatingInitialPolicies", IM_T_LIST, 0, IM_T_STR, NULL, NULL                  \
	}
#define TYPE_FIELDS                                                                                \
	{"type", IM_T_STR, 1, 0, NULL, NULL}, {"name", IM_T_STR, 1, 0, NULL, NULL},                \
	    {"mesh", IM_T_STR, 0, 0, NULL, NULL},                                                  \
	{                                                                                          \
		"labels", IM_T_STRMAP, 0, 0, NULL, NULL                                            \
	}
static const im_field mesh_spec[] = {MESH_FIELDS, END};
static const im_field mesh_typed[] = {TYPE_FIELDS, MESH_FIELDS, END};

/* --- TrafficPermission, Dataplane, Zone --- */

static const im_field selector[] = {
    {"match", IM_T_STRMAP, 1, 0, NULL, NULL},
    END,
};
#define TP_FIELDS                                                                                  \
	{"sources", IM_T_LIST, 1, 0, selector, NULL},                                              \
	{                                                                                          \
		"destinations", IM_T_LIST, 1, 0, selector, NULL                                    \
	}
static const im_field tp_spec[] = {TP_FIELDS, END};
static const im_field tp_typed[] = {TYPE_FIELDS, TP_FIELDS, END};
static const im_field inbound[] = {
    {"port", IM_T_INT, 1, 0, NULL, NULL},           {"servicePort", IM_T_INT, 0, 0, NULL, NULL},
    {"serviceAddress", IM_T_STR, 0, 0, NULL, NULL}, {"address", IM_T_STR, 0, 0, NULL, NULL},
    {"name", IM_T_STR, 0, 0, NULL, NULL},           {"tags", IM_T_STRMAP, 1, 0, NULL, NULL},
    {"health", IM_T_ANY, 0, 0, NULL, NULL},         {"serviceProbe", IM_T_ANY, 0, 0, NULL, NULL},
    {"state", IM_T_STR, 0, 0, NULL, NULL},          END,
};
static const im_field backend_ref[] = {
    {"kind", IM_T_ENUM, 1, 0, NULL, km_ref_kinds}, {"name", IM_T_STR, 0, 0, NULL, NULL},
    {"namespace", IM_T_STR, 0, 0, NULL, NULL},     {"labels", IM_T_STRMAP, 0, 0, NULL, NULL},
    {"tags", IM_T_STRMAP, 0, 0, NULL, NULL},       {"port", IM_T_INT, 0, 0, NULL, NULL},
    {"weight", IM_T_INT, 0, 0, NULL, NULL},        END,
};
static const im_field outbound[] = {
    {"port", IM_T_INT, 1, 0, NULL, NULL},
    {"address", IM_T_STR, 0, 0, NULL, NULL},
    {"tags", IM_T_STRMAP, 0, 0, NULL, NULL},
    {"backendRef", IM_T_MAP, 0, 0, backend_ref, NULL},
    END,
};
static const im_field networking[] = {
    {"address", IM_T_STR, 1, 0, NULL, NULL},
    {"advertisedAddress", IM_T_STR, 0, 0, NULL, NULL},
    {"inbound", IM_T_LIST, 0, 0, inbound, NULL},
    {"outbound", IM_T_LIST, 0, 0, outbound, NULL},
    {"gateway", IM_T_ANY, 0, 0, NULL, NULL},
    {"transparentProxying", IM_T_ANY, 0, 0, NULL, NULL},
    {"admin", IM_T_ANY, 0, 0, NULL, NULL},
    END,
};
static const im_field dataplane_typed[] = {
    TYPE_FIELDS,
    {"networking", IM_T_MAP, 1, 0, networking, NULL},
    {"metrics", IM_T_ANY, 0, 0, NULL, NULL},
    {"probes", IM_T_ANY, 0, 0, NULL, NULL},
    END,
};
static const im_field zone_typed[] = {
    TYPE_FIELDS,
    {"enabled", IM_T_BOOL, 0, 0, NULL, NULL},
    END,
};
static const im_field zone_spec[] = {
    {"enabled", IM_T_BOOL, 0, 0, NULL, NULL},
    END,
};

/* --- MeshService, MeshExternalService, MeshMultiZoneService --- */

static const im_field ms_selector[] = {
    {"dataplaneTags", IM_T_STRMAP, 0, 0, NULL, NULL},
    {"dataplaneLabels", IM_T_MAP, 0, 0, dp_selector, NULL},
    {"dataplaneRef", IM_T_ANY, 0, 0, NULL, NULL},
    END,
};
static const im_field ms_port[] = {
    {"name", IM_T_STR, 0, 0, NULL, NULL},
    {"port", IM_T_INT, 1, 0, NULL, NULL},
    {"targetPort", IM_T_INTSTR, 0, 0, NULL, NULL},
    {"appProtocol", IM_T_STR, 0, 0, NULL, NULL},
    END,
};
static const im_field meshservice_spec[] = {
    {"selector", IM_T_MAP, 0, 0, ms_selector, NULL},
    {"ports", IM_T_LIST, 0, 0, ms_port, NULL},
    {"state", IM_T_STR, 0, 0, NULL, NULL},
    {"identities", IM_T_ANY, 0, 0, NULL, NULL},
    END,
};
static const im_field mes_match[] = {
    {"type", IM_T_STR, 0, 0, NULL, NULL},
    {"port", IM_T_INT, 1, 0, NULL, NULL},
    {"protocol", IM_T_ENUM, 0, 0, NULL, protocols},
    END,
};
static const im_field mes_endpoint[] = {
    {"address", IM_T_STR, 1, 0, NULL, NULL},
    {"port", IM_T_INT, 0, 0, NULL, NULL},
    END,
};
static const im_field mes_spec[] = {
    {"match", IM_T_MAP, 1, 0, mes_match, NULL},
    {"endpoints", IM_T_LIST, 0, 0, mes_endpoint, NULL},
    {"extension", IM_T_ANY, 0, 0, NULL, NULL},
    {"tls", IM_T_ANY, 0, 0, NULL, NULL},
    END,
};
static const im_field mmzs_ms[] = {
    {"matchLabels", IM_T_STRMAP, 0, 0, NULL, NULL},
    END,
};
static const im_field mmzs_selector[] = {
    {"meshService", IM_T_MAP, 0, 0, mmzs_ms, NULL},
    END,
};
static const im_field mmzs_spec[] = {
    {"selector", IM_T_MAP, 1, 0, mmzs_selector, NULL},
    {"ports", IM_T_LIST, 0, 0, ms_port, NULL},
    END,
};

/* --- routes and the policies of outbound traffic --- */

static const im_field path_match[] = {
    {"type", IM_T_ENUM, 1, 0, NULL, path_types},
    {"value", IM_T_STR, 1, 0, NULL, NULL},
    END,
};
static const im_field header_match[] = {
    {"type", IM_T_ENUM, 0, 0, NULL, header_types},
    {"name", IM_T_STR, 1, 0, NULL, NULL},
    {"value", IM_T_STR, 0, 0, NULL, NULL},
    END,
};
static const im_field query_match[] = {
    {"type", IM_T_ENUM, 1, 0, NULL, query_types},
    {"name", IM_T_STR, 1, 0, NULL, NULL},
    {"value", IM_T_STR, 1, 0, NULL, NULL},
    END,
};
static const im_field http_match[] = {
    {"path", IM_T_MAP, 0, 0, path_match, NULL},
    {"method", IM_T_ENUM, 0, 0, NULL, methods},
    {"queryParams", IM_T_LIST, 0, 0, query_match, NULL},
    {"headers", IM_T_LIST, 0, 0, header_match, NULL},
    END,
};
static const im_field route_default[] = {
    {"filters", IM_T_LIST, 0, IM_T_ANY, NULL, NULL},
    {"backendRefs", IM_T_LIST, 0, 0, backend_ref, NULL},
    END,
};
static const im_field http_rule[] = {
    {"matches", IM_T_LIST, 1, 0, http_match, NULL},
    {"default", IM_T_MAP, 0, 0, route_default, NULL},
    END,
};
static const im_field http_to[] = {
    {"targetRef", IM_T_MAP, 1, 0, target_ref, NULL},
    {"hostnames", IM_T_LIST, 0, IM_T_STR, NULL, NULL},
    {"rules", IM_T_LIST, 0, 0, http_rule, NULL},
    END,
};
static const im_field httproute_spec[] = {
    {"targetRef", IM_T_MAP, 0, 0, target_ref, NULL},
    {"to", IM_T_LIST, 0, 0, http_to, NULL},
    END,
};
static const im_field tcp_rule[] = {
    {"default", IM_T_MAP, 1, 0, route_default, NULL},
    END,
};
static const im_field tcp_to[] = {
    {"targetRef", IM_T_MAP, 1, 0, target_ref, NULL},
    {"rules", IM_T_LIST, 0, 0, tcp_rule, NULL},
    END,
};
static const im_field tcproute_spec[] = {
    {"targetRef", IM_T_MAP, 0, 0, target_ref, NULL},
    {"to", IM_T_LIST, 0, 0, tcp_to, NULL},
    END,
};
static const im_field http_timeouts[] = {
    {"requestTimeout", IM_T_STR, 0, 0, NULL, NULL},
    {"streamIdleTimeout", IM_T_STR, 0, 0, NULL, NULL},
    {"maxStreamDuration", IM_T_STR, 0, 0, NULL, NULL},
    {"maxConnectionDuration", IM_T_STR, 0, 0, NULL, NULL},
    {"requestHeadersTimeout", IM_T_STR, 0, 0, NULL, NULL},
    {"maxConnectionDuration", IM_T_STR, 0, 0, NULL, NULL},
    END,
};
static const im_field timeout_default[] = {
    {"connectionTimeout", IM_T_STR, 0, 0, NULL, NULL},
    {"idleTimeout", IM_T_STR, 0, 0, NULL, NULL},
    {"http", IM_T_MAP, 0, 0, http_timeouts, NULL},
    END,
};
static const im_field http_retry[] = {
    {"numRetries", IM_T_INT, 0, 0, NULL, NULL},
    {"perTryTimeout", IM_T_STR, 0, 0, NULL, NULL},
    {"backOff", IM_T_ANY, 0, 0, NULL, NULL},
    {"rateLimitedBackOff", IM_T_ANY, 0, 0, NULL, NULL},
    {"retryOn", IM_T_LIST, 0, IM_T_STR, NULL, NULL},
    {"retriableResponseHeaders", IM_T_ANY, 0, 0, NULL, NULL},
    {"retriableRequestHeaders", IM_T_ANY, 0, 0, NULL, NULL},
    {"hostSelection", IM_T_ANY, 0, 0, NULL, NULL},
    {"hostSelectionRetryMaxAttempts", IM_T_INT, 0, 0, NULL, NULL},
    END,
};
static const im_field tcp_retry[] = {
    {"maxConnectAttempt", IM_T_INT, 0, 0, NULL, NULL},
    END,
};
static const im_field retry_default[] = {
    {"http", IM_T_MAP, 0, 0, http_retry, NULL},
    {"grpc", IM_T_MAP, 0, 0, http_retry, NULL},
    {"tcp", IM_T_MAP, 0, 0, tcp_retry, NULL},
    END,
};
static const im_field failover_from[] = {
    {"zones", IM_T_LIST, 0, IM_T_STR, NULL, NULL},
    END,
};
static const im_field failover_to[] = {
    {"type", IM_T_ENUM, 1, 0, NULL, failover_types},
    {"zones", IM_T_LIST, 0, IM_T_STR, NULL, NULL},
    END,
};
static const im_field failover[] = {
    {"from", IM_T_MAP, 0, 0, failover_from, NULL},
    {"to", IM_T_MAP, 1, 0, failover_to, NULL},
    END,
};
static const im_field threshold[] = {
    {"percentage", IM_T_INTSTR, 1, 0, NULL, NULL},
    END,
};
static const im_field cross_zone[] = {
    {"failover", IM_T_LIST, 0, 0, failover, NULL},
    {"failoverThreshold", IM_T_MAP, 0, 0, threshold, NULL},
    END,
};
static const im_field locality[] = {
    {"disabled", IM_T_BOOL, 0, 0, NULL, NULL},
    {"localZone", IM_T_ANY, 0, 0, NULL, NULL},
    {"crossZone", IM_T_MAP, 0, 0, cross_zone, NULL},
    END,
};
static const im_field lb_default[] = {
    {"localityAwareness", IM_T_MAP, 0, 0, locality, NULL},
    {"loadBalancer", IM_T_ANY, 0, 0, NULL, NULL},
    {"hashPolicies", IM_T_ANY, 0, 0, NULL, NULL},
    END,
};

/* A to/from/rules policy of one default's table: targetRef, to[], from[], rules[]. */
#define CONF_POLICY(prefix, dflt)                                                                  \
	static const im_field prefix##_item[] = {                                                  \
	    {"targetRef", IM_T_MAP, 1, 0, target_ref, NULL},                                       \
	    {"default", IM_T_MAP, 1, 0, dflt, NULL},                                               \
	    END,                                                                                   \
	};                                                                                         \
	static const im_field prefix##_rule[] = {                                                  \
	    {"default", IM_T_MAP, 1, 0, dflt, NULL},                                               \
	    END,                                                                                   \
	};                                                                                         \
	static const im_field prefix##_spec[] = {                                                  \
	    {"targetRef", IM_T_MAP, 0, 0, target_ref, NULL},                                       \
	    {"to", IM_T_LIST, 0, 0, prefix##_item, NULL},                                          \
	    {"from", IM_T_LIST, 0, 0, prefix##_item, NULL},                                        \
	    {"rules", IM_T_LIST, 0, 0, prefix##_rule, NULL},                                       \
	    END,                                                                                   \
	}

CONF_POLICY(timeout, timeout_default);
CONF_POLICY(retry, retry_default);
CONF_POLICY(lb, lb_default);

/* MeshCircuitBreaker's defaults are not read: any fields. */
static const im_field cb_item[] = {
    {"targetRef", IM_T_MAP, 1, 0, target_ref, NULL},
    {"default", IM_T_ANY, 1, 0, NULL, NULL},
    END,
};
static const im_field cb_rule[] = {
    {"default", IM_T_ANY, 1, 0, NULL, NULL},
    END,
};
static const im_field cb_spec[] = {
    {"targetRef", IM_T_MAP, 0, 0, target_ref, NULL},
    {"to", IM_T_LIST, 0, 0, cb_item, NULL},
    {"from", IM_T_LIST, 0, 0, cb_item, NULL},
    {"rules", IM_T_LIST, 0, 0, cb_rule, NULL},
    END,
};

/* The table of each read kind's spec; the Universal form of a legacy kind checks its top level. */
static const im_field *const spec_of[KM_READ] = {
    [KM_MESH] = mesh_spec,
    [KM_MESHIDENTITY] = meshidentity_spec,
    [KM_MESHTRAFFICPERMISSION] = mtp_spec,
    [KM_MESHTLS] = meshtls_spec,
    [KM_MESHSERVICE] = meshservice_spec,
    [KM_MESHEXTERNALSERVICE] = mes_spec,
    [KM_MESHMULTIZONESERVICE] = mmzs_spec,
    [KM_MESHHTTPROUTE] = httproute_spec,
    [KM_MESHTCPROUTE] = tcproute_spec,
    [KM_MESHTIMEOUT] = timeout_spec,
    [KM_MESHRETRY] = retry_spec,
    [KM_MESHCIRCUITBREAKER] = cb_spec,
    [KM_MESHLOADBALANCINGSTRATEGY] = lb_spec,
    [KM_TRAFFICPERMISSION] = tp_spec,
    [KM_ZONE] = zone_spec,
};
static const im_field *const typed_of[KM_READ] = {
    [KM_MESH] = mesh_typed,
    [KM_TRAFFICPERMISSION] = tp_typed,
    [KM_DATAPLANE] = dataplane_typed,
    [KM_ZONE] = zone_typed,
};

/* The Universal form of a policy: type, name, mesh, labels and spec. */
static const im_field policy_typed[] = {
    TYPE_FIELDS,
    {"spec", IM_T_ANY, 1, 0, NULL, NULL}, /* checked with its kind's table */
    END,
};

/* --- what Kuma's validators refuse beyond the schemas --- */

/* A targetRef's kind must be one of allowed (validator.go of each policy). */
static int check_ref_kind(mp_import *im, idoc *dc, yaml_node_t *ref, const char *path,
                          const char *const *allowed)
{
	yaml_node_t *k = im_get(dc, ref, "kind");
	const char *kind = im_scalar(k);
	char hint[300];
	for (size_t i = 0; kind && allowed[i]; i++)
		if (!strcmp(allowed[i], kind))
			return 0;
	if (!kind)
		return 0; /* the schema reported it */
	return im_error(im, dc, k, "%s.kind: value '%s' is not supported here (%s)", path, kind,
	                mp_diag_hint(kind, allowed, hint, sizeof(hint)));
}

static const char *const mtp_top[] = {"Mesh",      "MeshSubset", "MeshService", "MeshServiceSubset",
                                      "Dataplane", NULL};
static const char *const mtp_from[] = {"Mesh", "MeshSubset", "MeshService", "MeshServiceSubset",
                                       NULL};

/* pkg/plugins/policies/meshtrafficpermission/api/v1alpha1/validator.go: the targetRef kinds, a
 * non-empty from or rules, one matcher per item. */
static int check_mtp(mp_import *im, idoc *dc)
{
	yaml_node_t *from = im_get(dc, dc->spec, "from"), *rules = im_get(dc, dc->spec, "rules");
	yaml_node_t *ref = im_get(dc, dc->spec, "targetRef"), *item, *m;
	static const char *const acts[] = {"deny", "allow", "allowWithShadowDeny"};
	char path[128];
	int bad = 0, i = 0;
	if (ref && check_ref_kind(im, dc, ref, "spec.targetRef", mtp_top) < 0)
		bad = -1;
	if (!from && !rules)
		return im_error(im, dc, dc->spec,
		                "spec: needs from or rules (Kuma: \"at least one "
		                "of from or rules has to be defined\")");
	if (from && from->type == YAML_SEQUENCE_NODE) {
		if (from->data.sequence.items.top == from->data.sequence.items.start)
			bad = im_error(im, dc, from, "spec.from: must have at least one item");
		IM_SEQ_FOREACH(dc, from, item)
		{
			snprintf(path, sizeof(path), "spec.from[%d].targetRef", i++);
			if (check_ref_kind(im, dc, im_get(dc, item, "targetRef"), path, mtp_from) <
			    0)
				bad = -1;
		}
	}
	i = 0;
	if (rules && rules->type == YAML_SEQUENCE_NODE)
		IM_SEQ_FOREACH(dc, rules, item)
		{
			yaml_node_t *def = im_get(dc, item, "default");
			for (size_t a = 0; a < 3; a++) {
				yaml_node_t *ms = im_get(dc, def, acts[a]);
				int j = 0;
				if (ms && ms->type == YAML_SEQUENCE_NODE)
					IM_SEQ_FOREACH(dc, ms, m)
					{
						int n = (im_get(dc, m, "spiffeID") != NULL) +
						        (im_get(dc, m, "spiffeId") != NULL) +
						        (im_get(dc, m, "sni") != NULL);
						if (n != 1 && m->type == YAML_MAPPING_NODE)
							bad = im_error(
							    im, dc, m,
							    "spec.rules[%d].default.%s[%d]: needs "
							    "exactly one of spiffeID and sni",
							    i, acts[a], j);
						j++;
					}
			}
			i++;
		}
	return bad;
}

/* Mesh.mtls.enabledBackend must name one of the backends (Kuma: "has to be set to one of the
 * backends in the mesh"). */
static int check_mesh(mp_import *im, idoc *dc)
{
	yaml_node_t *mtls = im_get(dc, mp_kuma_spec(dc), "mtls"), *b;
	yaml_node_t *en = im_get(dc, mtls, "enabledBackend"), *bs = im_get(dc, mtls, "backends");
	const char *enabled = im_scalar(en);
	if (!enabled || !*enabled)
		return 0;
	if (bs && bs->type == YAML_SEQUENCE_NODE)
		IM_SEQ_FOREACH(dc, bs, b)
		{
			const char *name = im_scalar(im_get(dc, b, "name"));
			if (name && !strcmp(name, enabled))
				return 0;
		}
	return im_error(im, dc, en,
	                "mtls.enabledBackend: '%s' has to be set to one of the backends in the "
	                "mesh",
	                enabled);
}

int mp_kuma_duration(const char *s, uint32_t *ms)
{
	static const struct {
		const char *unit;
		double ms;
	} units[] = {{"ns", 1e-6}, {"us", 1e-3}, {"\xc2\xb5s", 1e-3}, {"ms", 1},
	             {"s", 1000},  {"m", 60000}, {"h", 3600000}};
	double total = 0;
	const char *p = s;
	if (!strcmp(s, "0")) {
		*ms = 0;
		return 0;
	}
	if (!*p)
		return -1;
	while (*p) {
		char *end;
		size_t best = 0, u = 0;
		if (!isdigit((unsigned char)*p) && *p != '.')
			return -1;
		double v = strtod(p, &end);
		if (end == p)
			return -1;
		for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
			size_t l = strlen(units[i].unit);
			if (!strncmp(end, units[i].unit, l) && l > best &&
			    !isalpha((unsigned char)end[l]))
				best = l, u = i;
		}
		if (!best)
			return -1;
		total += v * units[u].ms;
		p = end + best;
	}
	if (total > (double)UINT32_MAX - 1)
		return -1;
	*ms = (uint32_t)(total + 0.5);
	return 0;
}

/* Durations Kuma parses (MeshTimeout, MeshRetry: Go's time.ParseDuration), wherever a key
 * ends in Timeout, Duration, Interval or Time, named by their path. */
static int check_durations(mp_import *im, idoc *dc, yaml_node_t *n, const char *path)
{
	yaml_node_t *k, *v, *item;
	char sub[512];
	int bad = 0, i = 0;
	static const char *const ends[] = {"Timeout", "Duration", "Interval", NULL};
	if (!n)
		return 0;
	if (n->type == YAML_SEQUENCE_NODE) {
		IM_SEQ_FOREACH(dc, n, item)
		{
			snprintf(sub, sizeof(sub), "%s[%d]", path, i++);
			if (check_durations(im, dc, item, sub) < 0)
				bad = -1;
		}
		return bad;
	}
	if (n->type != YAML_MAPPING_NODE)
		return 0;
	IM_MAP_FOREACH(dc, n, k, v)
	{
		const char *key = im_scalar(k), *val = im_scalar(v);
		size_t l = key ? strlen(key) : 0;
		uint32_t ms;
		int dur = 0;
		for (size_t e = 0; key && ends[e]; e++)
			dur |= l >= strlen(ends[e]) && !strcmp(key + l - strlen(ends[e]), ends[e]);
		snprintf(sub, sizeof(sub), "%s.%s", path, key ? key : "?");
		if (dur && v->type == YAML_SCALAR_NODE) {
			if (val && mp_kuma_duration(val, &ms) < 0)
				bad = im_error(
				    im, dc, v,
				    "%s: '%s' is not a duration (Go's form: 300ms, 1.5s, 1h30m)",
				    sub, val);
		} else if (check_durations(im, dc, v, sub) < 0) {
			bad = -1;
		}
	}
	return bad;
}

/* A Universal inbound names its service (kuma.io/service: Kuma's Dataplane validator). */
static int check_dataplane(mp_import *im, idoc *dc)
{
	yaml_node_t *in = im_get(dc, im_get(dc, dc->root, "networking"), "inbound"), *item;
	int bad = 0, i = 0;
	if (in && in->type == YAML_SEQUENCE_NODE)
		IM_SEQ_FOREACH(dc, in, item)
		{
			yaml_node_t *tags = im_get(dc, item, "tags");
			if (tags && !im_scalar(im_get(dc, tags, KM_TAG_SERVICE)))
				bad = im_error(
				    im, dc, tags,
				    "networking.inbound[%d].tags: missing required tag '%s'", i,
				    KM_TAG_SERVICE);
			i++;
		}
	return bad;
}

/* MeshIdentity's templates use the fields and the label function its renderer offers. */
static int check_identity(mp_import *im, idoc *dc)
{
	static const char *const keys[] = {"trustDomain", "path"};
	yaml_node_t *sid = im_get(dc, dc->spec, "spiffeID");
	char out[512];
	int bad = 0;
	json_t *vars = json_pack("{s:s, s:s, s:s, s:s, s:s}", "Mesh", "m", "Zone", "z", "Namespace",
	                         "n", "ServiceAccount", "s", "Workload", "w");
	if (!vars) {
		im->oom = 1;
		return -1;
	}
	for (size_t i = 0; i < 2; i++) {
		yaml_node_t *t = im_get(dc, sid, keys[i]);
		if (im_scalar(t) && mp_kuma_render(im_scalar(t), vars, NULL, out, sizeof(out)) < 0)
			bad = im_error(im, dc, t, "spec.spiffeID.%s: %s", keys[i], out);
	}
	json_decref(vars);
	return bad;
}

int mp_kuma_check(mp_import *im, idoc *dc)
{
	uint32_t k = (uint32_t)(dc->kind - mp_kuma_kinds);
	const im_field *typed = typed_of[k];
	if (dc->form && im_check(im, dc, dc->root, typed ? typed : policy_typed, "") < 0)
		return -1;
	if (!typed || !dc->form) {
		if (!dc->spec && !kuma_is(dc, KM_MESH) && !kuma_is(dc, KM_ZONE))
			return im_error(im, dc, dc->root, "missing required field 'spec'");
		if (spec_of[k] && im_check(im, dc, dc->spec, spec_of[k], "spec") < 0)
			return -1;
	}
	switch (k) {
	case KM_MESHTRAFFICPERMISSION:
		return check_mtp(im, dc);
	case KM_MESH:
		return check_mesh(im, dc);
	case KM_MESHTIMEOUT:
	case KM_MESHRETRY:
	case KM_MESHCIRCUITBREAKER:
	case KM_MESHLOADBALANCINGSTRATEGY:
		return check_durations(im, dc, dc->spec, "spec");
	case KM_DATAPLANE:
		return check_dataplane(im, dc);
	case KM_MESHIDENTITY:
		return check_identity(im, dc);
	default:
		return 0;
	}
}

/* --- MeshIdentity's templates (Go text/template, the subset MeshIdentity uses) --- */

int mp_kuma_render(const char *tmpl, json_t *vars, json_t *labels, char *out, size_t len)
{
	size_t o = 0;
	const char *p = tmpl;
	out[0] = '\0';
	while (*p) {
		const char *open = strstr(p, "{{"), *close;
		char expr[256], key[200];
		size_t lit = open ? (size_t)(open - p) : strlen(p);
		if (o + lit >= len)
			goto too_long;
		memcpy(out + o, p, lit);
		o += lit;
		out[o] = '\0';
		if (!open)
			break;
		if (!(close = strstr(open + 2, "}}"))) {
			snprintf(out, len, "unclosed '{{' in '%s'", tmpl);
			return -1;
		}
		const char *s = open + 2, *e = close;
		while (s < e && isspace((unsigned char)*s))
			s++;
		while (e > s && isspace((unsigned char)e[-1]))
			e--;
		snprintf(expr, sizeof(expr), "%.*s", (int)(e - s), s);
		const char *val = NULL;
		if (expr[0] == '.') {
			val = json_string_value(json_object_get(vars, expr + 1));
			if (!val) {
				snprintf(out, len, "unknown field '%s' in '%s'", expr, tmpl);
				return -1;
			}
		} else if (sscanf(expr, "label \"%199[^\"]\"", key) == 1) {
			if (!labels) {
				val = key; /* checking the template only */
			} else if (!(val = km_label(labels, key))) {
				snprintf(out, len, "label %s not found", key);
				return -1;
			}
		} else {
			snprintf(out, len, "'{{ %s }}' is not a field or label of the template",
			         expr);
			return -1;
		}
		if (o + strlen(val) >= len)
			goto too_long;
		o += (size_t)snprintf(out + o, len - o, "%s", val);
		p = close + 2;
	}
	return 0;
too_long:
	snprintf(out, len, "longer than %zu bytes", len - 1);
	return -1;
}
