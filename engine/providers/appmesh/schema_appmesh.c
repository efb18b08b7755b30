/* schema_appmesh.c: the schemas of the App Mesh controller's CRDs (appmesh.k8s.aws/v1beta2,
 * aws/aws-app-mesh-controller-for-k8s apis/appmesh/v1beta2/ *_types.go, with the fields AWS's
 * API added since: SDS certificates, subject alternative names, ports of matches and targets,
 * backend groups) as im_check tables, one per kind. VirtualNode, VirtualRouter and GatewayRoute
 * keep unknown fields (+kubebuilder:pruning:PreserveUnknownFields): theirs are notes, the other
 * kinds' errors (import_appmesh.c). docs/import.md ("App Mesh"). */
#include "appmesh_int.h"

#define END                                                                                        \
	{                                                                                          \
		NULL, 0, 0, 0, NULL, NULL                                                          \
	}

static const char *const expr_ops[] = {"In", "NotIn", "Exists", "DoesNotExist", NULL};
static const char *const protocols[] = {"grpc", "http", "http2", "tcp", NULL};
static const char *const gw_protocols[] = {"grpc", "http", "http2", NULL};
static const char *const tls_modes[] = {"DISABLED", "PERMISSIVE", "STRICT", NULL};
static const char *const egress_types[] = {"ALLOW_ALL", "DROP_ALL", NULL};
static const char *const units[] = {"s", "ms", NULL};
static const char *const methods[] = {"CONNECT", "DELETE", "GET", "HEAD",  "OPTIONS",
                                      "PATCH",   "POST",   "PUT", "TRACE", NULL};
static const char *const schemes[] = {"http", "https", NULL};
static const char *const http_events[] = {"server-error", "gateway-error", "client-error",
                                          "stream-error", NULL};
static const char *const tcp_events[] = {"connection-error", NULL};
static const char *const grpc_events[] = {"cancelled",          "deadline-exceeded", "internal",
                                          "resource-exhausted", "unavailable",       NULL};
static const char *const response_types[] = {"ENDPOINTS", "LOADBALANCER", NULL};
static const char *const ip_prefs[] = {"IPv6_PREFERRED", "IPv4_PREFERRED", "IPv4_ONLY", "IPv6_ONLY",
                                       NULL};
static const char *const on_off[] = {"ENABLED", "DISABLED", NULL};

static const im_field expr[] = {
    {"key", IM_T_STR, 1, 0, NULL, NULL},
    {"operator", IM_T_ENUM, 1, 0, NULL, expr_ops},
    {"values", IM_T_LIST, 0, IM_T_STR, NULL, NULL},
    END,
};
static const im_field selector[] = {
    {"matchLabels", IM_T_STRMAP, 0, 0, NULL, NULL},
    {"matchExpressions", IM_T_LIST, 0, 0, expr, NULL},
    END,
};
static const im_field ref[] = {
    {"name", IM_T_STR, 1, 0, NULL, NULL},
    {"namespace", IM_T_STR, 0, 0, NULL, NULL},
    END,
};
static const im_field system_ref[] = {
    {"name", IM_T_STR, 1, 0, NULL, NULL},
    {"namespace", IM_T_STR, 0, 0, NULL, NULL},
    {"uid", IM_T_STR, 0, 0, NULL, NULL},
    END,
};
static const im_field duration[] = {
    {"unit", IM_T_ENUM, 1, 0, NULL, units},
    {"value", IM_T_INT, 1, 0, NULL, NULL},
    END,
};
static const im_field port_mapping[] = {
    {"port", IM_T_INT, 1, 0, NULL, NULL},
    {"protocol", IM_T_ENUM, 1, 0, NULL, protocols},
    END,
};
static const im_field gw_port_mapping[] = {
    {"port", IM_T_INT, 1, 0, NULL, NULL},
    {"protocol", IM_T_ENUM, 1, 0, NULL, gw_protocols},
    END,
};

/* --- TLS --- */

static const im_field acm_cert[] = {{"certificateARN", IM_T_STR, 1, 0, NULL, NULL}, END};
static const im_field file_cert[] = {
    {"certificateChain", IM_T_STR, 1, 0, NULL, NULL},
    {"privateKey", IM_T_STR, 1, 0, NULL, NULL},
    END,
};
static const im_field sds[] = {{"secretName", IM_T_STR, 1, 0, NULL, NULL}, END};
static const im_field listener_cert[] = {
    {"acm", IM_T_MAP, 0, 0, acm_cert, NULL},
    {"file", IM_T_MAP, 0, 0, file_cert, NULL},
    {"sds", IM_T_MAP, 0, 0, sds, NULL},
    END,
};
static const im_field client_cert[] = {
    {"file", IM_T_MAP, 0, 0, file_cert, NULL},
    {"sds", IM_T_MAP, 0, 0, sds, NULL},
    END,
};
static const im_field san_match[] = {{"exact", IM_T_LIST, 0, IM_T_STR, NULL, NULL}, END};
static const im_field sans[] = {{"match", IM_T_MAP, 1, 0, san_match, NULL}, END};
static const im_field acm_trust[] = {
    {"certificateAuthorityARNs", IM_T_LIST, 1, IM_T_STR, NULL, NULL},
    END,
};
static const im_field file_trust[] = {{"certificateChain", IM_T_STR, 1, 0, NULL, NULL}, END};
static const im_field client_trust[] = {
    {"acm", IM_T_MAP, 0, 0, acm_trust, NULL},
    {"file", IM_T_MAP, 0, 0, file_trust, NULL},
    {"sds", IM_T_MAP, 0, 0, sds, NULL},
    END,
};
static const im_field listener_trust[] = {
    {"file", IM_T_MAP, 0, 0, file_trust, NULL},
    {"sds", IM_T_MAP, 0, 0, sds, NULL},
    END,
};
static const im_field client_validation[] = {
    {"trust", IM_T_MAP, 1, 0, client_trust, NULL},
    {"subjectAlternativeNames", IM_T_MAP, 0, 0, sans, NULL},
    END,
};
static const im_field listener_validation[] = {
    {"trust", IM_T_MAP, 1, 0, listener_trust, NULL},
    {"subjectAlternativeNames", IM_T_MAP, 0, 0, sans, NULL},
    END,
};
static const im_field listener_tls[] = {
    {"certificate", IM_T_MAP, 1, 0, listener_cert, NULL},
    {"mode", IM_T_ENUM, 1, 0, NULL, tls_modes},
    {"validation", IM_T_MAP, 0, 0, listener_validation, NULL},
    END,
};
static const im_field client_tls[] = {
    {"enforce", IM_T_BOOL, 0, 0, NULL, NULL},
    {"ports", IM_T_LIST, 0, IM_T_INT, NULL, NULL},
    {"certificate", IM_T_MAP, 0, 0, client_cert, NULL},
    {"validation", IM_T_MAP, 1, 0, client_validation, NULL},
    END,
};
static const im_field client_policy[] = {{"tls", IM_T_MAP, 0, 0, client_tls, NULL}, END};
static const im_field backend_defaults[] = {
    {"clientPolicy", IM_T_MAP, 0, 0, client_policy, NULL},
    END,
};

/* --- listeners --- */

static const im_field health_check[] = {
    {"healthyThreshold", IM_T_INT, 1, 0, NULL, NULL},
    {"intervalMillis", IM_T_INT, 1, 0, NULL, NULL},
    {"path", IM_T_STR, 0, 0, NULL, NULL},
    {"port", IM_T_INT, 0, 0, NULL, NULL},
    {"protocol", IM_T_ENUM, 1, 0, NULL, protocols},
    {"timeoutMillis", IM_T_INT, 1, 0, NULL, NULL},
    {"unhealthyThreshold", IM_T_INT, 1, 0, NULL, NULL},
    END,
};
static const im_field outlier[] = {
    {"maxServerErrors", IM_T_INT, 1, 0, NULL, NULL},
    {"interval", IM_T_MAP, 1, 0, duration, NULL},
    {"baseEjectionDuration", IM_T_MAP, 1, 0, duration, NULL},
    {"maxEjectionPercent", IM_T_INT, 1, 0, NULL, NULL},
    END,
};
static const im_field pool_tcp[] = {{"maxConnections", IM_T_INT, 1, 0, NULL, NULL}, END};
static const im_field pool_http[] = {
    {"maxConnections", IM_T_INT, 1, 0, NULL, NULL},
    {"maxPendingRequests", IM_T_INT, 0, 0, NULL, NULL},
    END,
};
static const im_field pool_requests[] = {{"maxRequests", IM_T_INT, 1, 0, NULL, NULL}, END};
static const im_field pool[] = {
    {"tcp", IM_T_MAP, 0, 0, pool_tcp, NULL},
    {"http", IM_T_MAP, 0, 0, pool_http, NULL},
    {"http2", IM_T_MAP, 0, 0, pool_requests, NULL},
    {"grpc", IM_T_MAP, 0, 0, pool_requests, NULL},
    END,
};
static const im_field http_timeout[] = {
    {"perRequest", IM_T_MAP, 0, 0, duration, NULL},
    {"idle", IM_T_MAP, 0, 0, duration, NULL},
    END,
};
static const im_field tcp_timeout[] = {{"idle", IM_T_MAP, 0, 0, duration, NULL}, END};
static const im_field listener_timeout[] = {
    {"tcp", IM_T_MAP, 0, 0, tcp_timeout, NULL},
    {"http", IM_T_MAP, 0, 0, http_timeout, NULL},
    {"http2", IM_T_MAP, 0, 0, http_timeout, NULL},
    {"grpc", IM_T_MAP, 0, 0, http_timeout, NULL},
    END,
};
static const im_field listener[] = {
    {"portMapping", IM_T_MAP, 1, 0, port_mapping, NULL},
    {"healthCheck", IM_T_MAP, 0, 0, health_check, NULL},
    {"outlierDetection", IM_T_MAP, 0, 0, outlier, NULL},
    {"connectionPool", IM_T_MAP, 0, 0, pool, NULL},
    {"tls", IM_T_MAP, 0, 0, listener_tls, NULL},
    {"timeout", IM_T_MAP, 0, 0, listener_timeout, NULL},
    END,
};
static const im_field gw_listener[] = {
    {"portMapping", IM_T_MAP, 1, 0, gw_port_mapping, NULL},
    {"healthCheck", IM_T_MAP, 0, 0, health_check, NULL},
    {"connectionPool", IM_T_MAP, 0, 0, pool, NULL},
    {"tls", IM_T_MAP, 0, 0, listener_tls, NULL},
    END,
};

/* --- the kinds --- */

static const im_field egress[] = {{"type", IM_T_ENUM, 1, 0, NULL, egress_types}, END};
static const im_field mesh_sd[] = {{"ipPreference", IM_T_ENUM, 0, 0, NULL, ip_prefs}, END};
const im_field mp_am_mesh_fields[] = {
    {"awsName", IM_T_STR, 0, 0, NULL, NULL},
    {"namespaceSelector", IM_T_MAP, 0, 0, selector, NULL},
    {"egressFilter", IM_T_MAP, 0, 0, egress, NULL},
    {"meshOwner", IM_T_STR, 0, 0, NULL, NULL},
    {"serviceDiscovery", IM_T_MAP, 0, 0, mesh_sd, NULL},
    END,
};

static const im_field vs_node[] = {
    {"virtualNodeRef", IM_T_MAP, 0, 0, ref, NULL},
    {"virtualNodeARN", IM_T_STR, 0, 0, NULL, NULL},
    END,
};
static const im_field vs_router[] = {
    {"virtualRouterRef", IM_T_MAP, 0, 0, ref, NULL},
    {"virtualRouterARN", IM_T_STR, 0, 0, NULL, NULL},
    END,
};
static const im_field vs_provider[] = {
    {"virtualNode", IM_T_MAP, 0, 0, vs_node, NULL},
    {"virtualRouter", IM_T_MAP, 0, 0, vs_router, NULL},
    END,
};
const im_field mp_am_vservice_fields[] = {
    {"awsName", IM_T_STR, 0, 0, NULL, NULL},
    {"provider", IM_T_MAP, 0, 0, vs_provider, NULL},
    {"meshRef", IM_T_MAP, 0, 0, system_ref, NULL},
    END,
};

static const im_field cloudmap_attr[] = {
    {"key", IM_T_STR, 1, 0, NULL, NULL},
    {"value", IM_T_STR, 1, 0, NULL, NULL},
    END,
};
static const im_field cloudmap[] = {
    {"namespaceName", IM_T_STR, 1, 0, NULL, NULL},
    {"serviceName", IM_T_STR, 1, 0, NULL, NULL},
    {"attributes", IM_T_LIST, 0, 0, cloudmap_attr, NULL},
    {"ipPreference", IM_T_ENUM, 0, 0, NULL, ip_prefs},
    END,
};
static const im_field dns[] = {
    {"hostname", IM_T_STR, 1, 0, NULL, NULL},
    {"responseType", IM_T_ENUM, 0, 0, NULL, response_types},
    {"ipPreference", IM_T_ENUM, 0, 0, NULL, ip_prefs},
    END,
};
static const im_field service_discovery[] = {
    {"awsCloudMap", IM_T_MAP, 0, 0, cloudmap, NULL},
    {"dns", IM_T_MAP, 0, 0, dns, NULL},
    END,
};
static const im_field vs_backend[] = {
    {"virtualServiceRef", IM_T_MAP, 0, 0, ref, NULL},
    {"virtualServiceARN", IM_T_STR, 0, 0, NULL, NULL},
    {"clientPolicy", IM_T_MAP, 0, 0, client_policy, NULL},
    END,
};
static const im_field backend[] = {{"virtualService", IM_T_MAP, 1, 0, vs_backend, NULL}, END};
static const im_field json_format[] = {
    {"key", IM_T_STR, 1, 0, NULL, NULL},
    {"value", IM_T_STR, 1, 0, NULL, NULL},
    END,
};
static const im_field log_format[] = {
    {"json", IM_T_LIST, 0, 0, json_format, NULL},
    {"text", IM_T_STR, 0, 0, NULL, NULL},
    END,
};
static const im_field file_log[] = {
    {"path", IM_T_STR, 1, 0, NULL, NULL},
    {"format", IM_T_MAP, 0, 0, log_format, NULL},
    END,
};
static const im_field access_log[] = {{"file", IM_T_MAP, 0, 0, file_log, NULL}, END};
static const im_field logging[] = {{"accessLog", IM_T_MAP, 0, 0, access_log, NULL}, END};
const im_field mp_am_vnode_fields[] = {
    {"awsName", IM_T_STR, 0, 0, NULL, NULL},
    {"podSelector", IM_T_MAP, 0, 0, selector, NULL},
    {"listeners", IM_T_LIST, 0, 0, listener, NULL},
    {"serviceDiscovery", IM_T_MAP, 0, 0, service_discovery, NULL},
    {"backends", IM_T_LIST, 0, 0, backend, NULL},
    {"backendDefaults", IM_T_MAP, 0, 0, backend_defaults, NULL},
    {"backendGroups", IM_T_LIST, 0, 0, ref, NULL},
    {"logging", IM_T_MAP, 0, 0, logging, NULL},
    {"meshRef", IM_T_MAP, 0, 0, system_ref, NULL},
    END,
};

/* --- routes --- */

static const im_field range[] = {
    {"start", IM_T_INT, 1, 0, NULL, NULL},
    {"end", IM_T_INT, 1, 0, NULL, NULL},
    END,
};
static const im_field header_match[] = {
    {"exact", IM_T_STR, 0, 0, NULL, NULL},  {"prefix", IM_T_STR, 0, 0, NULL, NULL},
    {"suffix", IM_T_STR, 0, 0, NULL, NULL}, {"regex", IM_T_STR, 0, 0, NULL, NULL},
    {"range", IM_T_MAP, 0, 0, range, NULL}, END,
};
static const im_field header[] = {
    {"name", IM_T_STR, 1, 0, NULL, NULL},
    {"match", IM_T_MAP, 0, 0, header_match, NULL},
    {"invert", IM_T_BOOL, 0, 0, NULL, NULL},
    END,
};
static const im_field path_match[] = {
    {"exact", IM_T_STR, 0, 0, NULL, NULL},
    {"regex", IM_T_STR, 0, 0, NULL, NULL},
    END,
};
static const im_field query_match[] = {{"exact", IM_T_STR, 0, 0, NULL, NULL}, END};
static const im_field query[] = {
    {"name", IM_T_STR, 1, 0, NULL, NULL},
    {"match", IM_T_MAP, 0, 0, query_match, NULL},
    END,
};
static const im_field http_match[] = {
    {"headers", IM_T_LIST, 0, 0, header, NULL}, {"method", IM_T_ENUM, 0, 0, NULL, methods},
    {"prefix", IM_T_STR, 0, 0, NULL, NULL},     {"scheme", IM_T_ENUM, 0, 0, NULL, schemes},
    {"path", IM_T_MAP, 0, 0, path_match, NULL}, {"queryParameters", IM_T_LIST, 0, 0, query, NULL},
    {"port", IM_T_INT, 0, 0, NULL, NULL},       END,
};
static const im_field target[] = {
    {"virtualNodeRef", IM_T_MAP, 0, 0, ref, NULL},
    {"virtualNodeARN", IM_T_STR, 0, 0, NULL, NULL},
    {"weight", IM_T_INT, 1, 0, NULL, NULL},
    {"port", IM_T_INT, 0, 0, NULL, NULL},
    END,
};
static const im_field action[] = {{"weightedTargets", IM_T_LIST, 1, 0, target, NULL}, END};
static const im_field http_retry[] = {
    {"httpRetryEvents", IM_T_LIST, 0, IM_T_ENUM, NULL, http_events},
    {"tcpRetryEvents", IM_T_LIST, 0, IM_T_ENUM, NULL, tcp_events},
    {"maxRetries", IM_T_INT, 1, 0, NULL, NULL},
    {"perRetryTimeout", IM_T_MAP, 1, 0, duration, NULL},
    END,
};
static const im_field grpc_retry[] = {
    {"grpcRetryEvents", IM_T_LIST, 0, IM_T_ENUM, NULL, grpc_events},
    {"httpRetryEvents", IM_T_LIST, 0, IM_T_ENUM, NULL, http_events},
    {"tcpRetryEvents", IM_T_LIST, 0, IM_T_ENUM, NULL, tcp_events},
    {"maxRetries", IM_T_INT, 1, 0, NULL, NULL},
    {"perRetryTimeout", IM_T_MAP, 1, 0, duration, NULL},
    END,
};
static const im_field http_route[] = {
    {"match", IM_T_MAP, 1, 0, http_match, NULL},
    {"action", IM_T_MAP, 1, 0, action, NULL},
    {"retryPolicy", IM_T_MAP, 0, 0, http_retry, NULL},
    {"timeout", IM_T_MAP, 0, 0, http_timeout, NULL},
    END,
};
static const im_field tcp_match[] = {{"port", IM_T_INT, 0, 0, NULL, NULL}, END};
static const im_field tcp_route[] = {
    {"action", IM_T_MAP, 1, 0, action, NULL},
    {"timeout", IM_T_MAP, 0, 0, tcp_timeout, NULL},
    {"match", IM_T_MAP, 0, 0, tcp_match, NULL},
    END,
};
static const im_field metadata[] = {
    {"name", IM_T_STR, 1, 0, NULL, NULL},
    {"match", IM_T_MAP, 0, 0, header_match, NULL},
    {"invert", IM_T_BOOL, 0, 0, NULL, NULL},
    END,
};
static const im_field grpc_match[] = {
    {"methodName", IM_T_STR, 0, 0, NULL, NULL},
    {"serviceName", IM_T_STR, 0, 0, NULL, NULL},
    {"metadata", IM_T_LIST, 0, 0, metadata, NULL},
    {"port", IM_T_INT, 0, 0, NULL, NULL},
    END,
};
static const im_field grpc_route[] = {
    {"match", IM_T_MAP, 1, 0, grpc_match, NULL},
    {"action", IM_T_MAP, 1, 0, action, NULL},
    {"retryPolicy", IM_T_MAP, 0, 0, grpc_retry, NULL},
    {"timeout", IM_T_MAP, 0, 0, http_timeout, NULL},
    END,
};
static const im_field route[] = {
    {"name", IM_T_STR, 1, 0, NULL, NULL},
    {"grpcRoute", IM_T_MAP, 0, 0, grpc_route, NULL},
    {"httpRoute", IM_T_MAP, 0, 0, http_route, NULL},
    {"http2Route", IM_T_MAP, 0, 0, http_route, NULL},
    {"tcpRoute", IM_T_MAP, 0, 0, tcp_route, NULL},
    {"priority", IM_T_INT, 0, 0, NULL, NULL},
    END,
};
static const im_field router_listener[] = {
    {"portMapping", IM_T_MAP, 1, 0, port_mapping, NULL},
    END,
};
const im_field mp_am_vrouter_fields[] = {
    {"awsName", IM_T_STR, 0, 0, NULL, NULL},
    {"listeners", IM_T_LIST, 0, 0, router_listener, NULL},
    {"routes", IM_T_LIST, 0, 0, route, NULL},
    {"meshRef", IM_T_MAP, 0, 0, system_ref, NULL},
    END,
};

/* --- gateways --- */

const im_field mp_am_vgateway_fields[] = {
    {"awsName", IM_T_STR, 0, 0, NULL, NULL},
    {"namespaceSelector", IM_T_MAP, 0, 0, selector, NULL},
    {"podSelector", IM_T_MAP, 0, 0, selector, NULL},
    {"gatewayRouteSelector", IM_T_MAP, 0, 0, selector, NULL},
    {"listeners", IM_T_LIST, 0, 0, gw_listener, NULL},
    {"backendDefaults", IM_T_MAP, 0, 0, backend_defaults, NULL},
    {"logging", IM_T_MAP, 0, 0, logging, NULL},
    {"meshRef", IM_T_MAP, 0, 0, system_ref, NULL},
    END,
};

static const im_field host_match[] = {
    {"exact", IM_T_STR, 0, 0, NULL, NULL},
    {"suffix", IM_T_STR, 0, 0, NULL, NULL},
    END,
};
static const im_field gr_vs[] = {
    {"virtualServiceRef", IM_T_MAP, 0, 0, ref, NULL},
    {"virtualServiceARN", IM_T_STR, 0, 0, NULL, NULL},
    END,
};
static const im_field gr_target[] = {
    {"virtualService", IM_T_MAP, 1, 0, gr_vs, NULL},
    {"port", IM_T_INT, 0, 0, NULL, NULL},
    END,
};
static const im_field prefix_rewrite[] = {
    {"defaultPrefix", IM_T_ENUM, 0, 0, NULL, on_off},
    {"value", IM_T_STR, 0, 0, NULL, NULL},
    END,
};
static const im_field path_rewrite[] = {{"exact", IM_T_STR, 0, 0, NULL, NULL}, END};
static const im_field host_rewrite[] = {
    {"defaultTargetHostname", IM_T_ENUM, 0, 0, NULL, on_off},
    END,
};
static const im_field http_rewrite[] = {
    {"prefix", IM_T_MAP, 0, 0, prefix_rewrite, NULL},
    {"path", IM_T_MAP, 0, 0, path_rewrite, NULL},
    {"hostname", IM_T_MAP, 0, 0, host_rewrite, NULL},
    END,
};
static const im_field grpc_rewrite[] = {{"hostname", IM_T_MAP, 0, 0, host_rewrite, NULL}, END};
static const im_field gr_http_action[] = {
    {"target", IM_T_MAP, 1, 0, gr_target, NULL},
    {"rewrite", IM_T_MAP, 0, 0, http_rewrite, NULL},
    END,
};
static const im_field gr_grpc_action[] = {
    {"target", IM_T_MAP, 1, 0, gr_target, NULL},
    {"rewrite", IM_T_MAP, 0, 0, grpc_rewrite, NULL},
    END,
};
static const im_field gr_http_match[] = {
    {"prefix", IM_T_STR, 0, 0, NULL, NULL},
    {"path", IM_T_MAP, 0, 0, path_match, NULL},
    {"queryParameters", IM_T_LIST, 0, 0, query, NULL},
    {"method", IM_T_ENUM, 0, 0, NULL, methods},
    {"hostname", IM_T_MAP, 0, 0, host_match, NULL},
    {"headers", IM_T_LIST, 0, 0, header, NULL},
    {"port", IM_T_INT, 0, 0, NULL, NULL},
    END,
};
static const im_field gr_grpc_match[] = {
    {"serviceName", IM_T_STR, 0, 0, NULL, NULL},
    {"hostname", IM_T_MAP, 0, 0, host_match, NULL},
    {"metadata", IM_T_LIST, 0, 0, metadata, NULL},
    {"port", IM_T_INT, 0, 0, NULL, NULL},
    END,
};
static const im_field gr_http[] = {
    {"match", IM_T_MAP, 1, 0, gr_http_match, NULL},
    {"action", IM_T_MAP, 1, 0, gr_http_action, NULL},
    END,
};
static const im_field gr_grpc[] = {
    {"match", IM_T_MAP, 1, 0, gr_grpc_match, NULL},
    {"action", IM_T_MAP, 1, 0, gr_grpc_action, NULL},
    END,
};
const im_field mp_am_groute_fields[] = {
    {"awsName", IM_T_STR, 0, 0, NULL, NULL},
    {"priority", IM_T_INT, 0, 0, NULL, NULL},
    {"grpcRoute", IM_T_MAP, 0, 0, gr_grpc, NULL},
    {"httpRoute", IM_T_MAP, 0, 0, gr_http, NULL},
    {"http2Route", IM_T_MAP, 0, 0, gr_http, NULL},
    {"virtualGatewayRef", IM_T_MAP, 0, 0, system_ref, NULL},
    {"meshRef", IM_T_MAP, 0, 0, system_ref, NULL},
    END,
};

const im_field mp_am_bgroup_fields[] = {
    {"virtualservices", IM_T_LIST, 0, 0, ref, NULL},
    {"meshRef", IM_T_MAP, 0, 0, system_ref, NULL},
    END,
};
