/* provider_gatewayapi.c: the Kubernetes Gateway API (gateway.networking.k8s.io), read once for
 * every mesh that uses it: GatewayClass, Gateway, HTTPRoute, GRPCRoute, TLSRoute, TCPRoute and
 * ReferenceGrant. Which mesh programs a Gateway or a Service parent, and its choices where the
 * spec leaves one, are rows of the meshes (mp_provider.gateway_api, import_int.h). Its importer
 * (import_gatewayapi.c, attach_gatewayapi.c, routes_gatewayapi.c, schema_gatewayapi.c) maps the
 * routes into the model and reports attachment with the Gateway API's condition reasons; it has
 * no say in decisions (Linkerd decides its Server-parent routes). docs/import.md ("Kubernetes
 * Gateway API"). */
#include "gatewayapi_int.h"

#define STATUS_ONLY "a policy attached to backends; it changes no route and no permission"

const mp_provider_kind mp_gwapi_kinds[GW_KINDS + 1] = {
    [GW_GATEWAYCLASS] = {GW_GROUP, " v1alpha2 v1beta1 v1 ", "GatewayClass", MP_KIND_CLUSTER_SCOPED,
                         NULL},
    [GW_GATEWAY] = {GW_GROUP, " v1alpha2 v1beta1 v1 ", "Gateway", 0, NULL},
    /* v1alpha2: what Linkerd has read, and older clusters serve */
    [GW_HTTPROUTE] = {GW_GROUP, " v1alpha2 v1beta1 v1 ", "HTTPRoute", 0, NULL},
    [GW_GRPCROUTE] = {GW_GROUP, " v1alpha2 v1 ", "GRPCRoute", 0, NULL},
    /* v1alpha2 is the released version of most installations */
    [GW_TLSROUTE] = {GW_GROUP, " v1alpha2 v1alpha3 v1 ", "TLSRoute", 0, NULL},
    [GW_TCPROUTE] = {GW_GROUP, " v1alpha2 v1 ", "TCPRoute", 0, NULL},
    [GW_REFERENCEGRANT] = {GW_GROUP, " v1alpha2 v1beta1 v1 ", "ReferenceGrant", 0, NULL},
    [GW_UDPROUTE] = {GW_GROUP, NULL, "UDPRoute", 0, "no mesh meshpol reads programs UDP listeners"},
    [GW_BACKENDTLSPOLICY] = {GW_GROUP, NULL, "BackendTLSPolicy", 0, STATUS_ONLY},
    [GW_BACKENDLBPOLICY] = {GW_GROUP, NULL, "BackendLBPolicy", 0, STATUS_ONLY},
    [GW_LISTENERSET] = {GW_GROUP, NULL, "ListenerSet", 0,
                        "experimental: listeners of ListenerSets are not attached to"},
    [GW_KINDS] = {NULL, NULL, NULL, 0, NULL},
};

/* The findings, made inline while Gateways and routes are mapped (attach_gatewayapi.c,
 * routes_gatewayapi.c): the Gateway API's condition reasons, on the route (its parent status:
 * Accepted, ResolvedRefs) or the Gateway (its listeners' status), and meshpol's own for a
 * Gateway no mesh of the sources programs. */
const mp_check_row mp_gwapi_analyzers[] = {
    {.id = "gatewayapi.attachment",
     .codes = MP_CHECK_CODES("NotAllowedByListeners", "NoMatchingListenerHostname",
                             "NoMatchingParent", "UnsupportedValue"),
     .phase = MP_CHECK_IMPORT},
    {.id = "gatewayapi.references",
     .codes = MP_CHECK_CODES("RefNotPermitted", "InvalidKind", "BackendNotFound"),
     .phase = MP_CHECK_IMPORT},
    {.id = "gatewayapi.listeners",
     .codes = MP_CHECK_CODES("InvalidRouteKinds", "UnsupportedProtocol", "InvalidCertificateRef",
                             "RefNotPermitted", "ProtocolConflict", "UnknownGatewayClass"),
     .phase = MP_CHECK_IMPORT},
    {.id = NULL},
};

const mp_provider mp_provider_gatewayapi = {
    .name = "gatewayapi",
    .title = "Gateway API",
    .kinds = mp_gwapi_kinds,
    .import = &mp_gwapi_import,
    .analyzers = mp_gwapi_analyzers,
};
