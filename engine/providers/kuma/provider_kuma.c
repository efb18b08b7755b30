/* provider_kuma.c: Kuma (kuma.io/v1alpha1, as Kubernetes CRDs and in Universal mode's type form:
 * `type:`, `name:`, `mesh:`). Its importer (import_kuma.c, schema_kuma.c, dataplanes_kuma.c,
 * routes_kuma.c) and analyzers (analyze_kuma.c) map its resources into the model; its
 * authorization ops compile the model's meshes, permissions and dataplanes (kuma_authz.h) and
 * decide a request as Kuma's MeshTrafficPermission (and legacy TrafficPermission) does. With
 * nothing of it deciding (a mesh without mTLS, a proxy without a workload identity, plaintext
 * to a permissive inbound), Kuma allows. docs/import.md ("Kuma"). */
#include "kuma_authz.h"
#include "kuma_int.h"

#define KUMA    " v1alpha1 "
#define BOTH    MP_KIND_TYPE_FORM
#define OBSERVE "Kuma's observability policies (logs, traces, metrics) admit or refuse no client"
#define PATCH   "patches of the proxies' Envoy configuration are not modelled"
#define GATEWAYS                                                                                   \
	"Kuma's gateways, zone ingresses and egresses are not modelled: permissions apply to "     \
	"sidecar inbounds"
#define LEGACY                                                                                     \
	"Kuma's legacy routing policies (removed in 3.0) are not mapped; MeshHTTPRoute, "          \
	"MeshTCPRoute, MeshTimeout and MeshRetry are"

const mp_provider_kind mp_kuma_kinds[KM_KINDS + 1] = {
    [KM_MESH] = {"kuma.io", KUMA, "Mesh", MP_KIND_CLUSTER_SCOPED | BOTH, NULL, NULL},
    [KM_MESHIDENTITY] = {"kuma.io", KUMA, "MeshIdentity", BOTH, NULL, NULL},
    [KM_MESHTRAFFICPERMISSION] = {"kuma.io", KUMA, "MeshTrafficPermission", BOTH, NULL, NULL},
    [KM_MESHTLS] = {"kuma.io", KUMA, "MeshTLS", BOTH, NULL, NULL},
    [KM_MESHSERVICE] = {"kuma.io", KUMA, "MeshService", BOTH, NULL, NULL},
    [KM_MESHEXTERNALSERVICE] = {"kuma.io", KUMA, "MeshExternalService", BOTH, NULL, NULL},
    [KM_MESHMULTIZONESERVICE] = {"kuma.io", KUMA, "MeshMultiZoneService", BOTH, NULL, NULL},
    [KM_MESHHTTPROUTE] = {"kuma.io", KUMA, "MeshHTTPRoute", BOTH, NULL, NULL},
    [KM_MESHTCPROUTE] = {"kuma.io", KUMA, "MeshTCPRoute", BOTH, NULL, NULL},
    [KM_MESHTIMEOUT] = {"kuma.io", KUMA, "MeshTimeout", BOTH, NULL, NULL},
    [KM_MESHRETRY] = {"kuma.io", KUMA, "MeshRetry", BOTH, NULL, NULL},
    [KM_MESHCIRCUITBREAKER] = {"kuma.io", KUMA, "MeshCircuitBreaker", BOTH, NULL, NULL},
    [KM_MESHLOADBALANCINGSTRATEGY] = {"kuma.io", KUMA, "MeshLoadBalancingStrategy", BOTH, NULL,
                                      NULL},
    [KM_TRAFFICPERMISSION] = {"kuma.io", KUMA, "TrafficPermission", MP_KIND_CLUSTER_SCOPED | BOTH,
                              NULL, NULL},
    /* a Kubernetes zone's Dataplanes are the control plane's, made from the pods: the rows
     * are tried in order, so this one takes the Kubernetes form and the next the type form */
    [KM_DATAPLANE_K8S] = {"kuma.io", KUMA, "Dataplane", 0, NULL,
                          "Kuma makes a Kubernetes zone's Dataplanes from its pods, which "
                          "meshpol reads"},
    [KM_DATAPLANE] = {"kuma.io", KUMA, "Dataplane", BOTH, NULL, NULL},
    [KM_ZONE] = {"kuma.io", KUMA, "Zone", MP_KIND_CLUSTER_SCOPED | BOTH, NULL, NULL},
    /* known, left out (KM_SKIPPED rows) */
    {"kuma.io", NULL, "MeshAccessLog", BOTH, NULL, OBSERVE},
    {"kuma.io", NULL, "MeshTrace", BOTH, NULL, OBSERVE},
    {"kuma.io", NULL, "MeshMetric", BOTH, NULL, OBSERVE},
    {"kuma.io", NULL, "TrafficLog", BOTH, NULL, OBSERVE},
    {"kuma.io", NULL, "TrafficTrace", BOTH, NULL, OBSERVE},
    {"kuma.io", NULL, "MeshProxyPatch", BOTH, NULL, PATCH},
    {"kuma.io", NULL, "ProxyTemplate", BOTH, NULL, PATCH},
    {"kuma.io", NULL, "ContainerPatch", BOTH, NULL, PATCH},
    {"kuma.io", NULL, "MeshRateLimit", BOTH, NULL,
     "Kuma's rate limits refuse no client by its identity"},
    {"kuma.io", NULL, "RateLimit", BOTH, NULL,
     "Kuma's rate limits refuse no client by its identity"},
    {"kuma.io", NULL, "MeshFaultInjection", BOTH, NULL,
     "fault injection changes no route and no permission"},
    {"kuma.io", NULL, "FaultInjection", BOTH, NULL,
     "fault injection changes no route and no permission"},
    {"kuma.io", NULL, "MeshHealthCheck", BOTH, NULL,
     "health checks change no route and no permission"},
    {"kuma.io", NULL, "HealthCheck", BOTH, NULL, "health checks change no route and no permission"},
    {"kuma.io", NULL, "CircuitBreaker", BOTH, NULL, LEGACY},
    {"kuma.io", NULL, "TrafficRoute", BOTH, NULL, LEGACY},
    {"kuma.io", NULL, "Retry", BOTH, NULL, LEGACY},
    {"kuma.io", NULL, "Timeout", BOTH, NULL, LEGACY},
    {"kuma.io", NULL, "VirtualOutbound", BOTH, NULL, LEGACY},
    {"kuma.io", NULL, "ExternalService", BOTH, NULL,
     "the legacy ExternalService is not mapped; MeshExternalService is"},
    {"kuma.io", NULL, "MeshGateway", BOTH, NULL, GATEWAYS},
    {"kuma.io", NULL, "MeshGatewayInstance", BOTH, NULL, GATEWAYS},
    {"kuma.io", NULL, "MeshGatewayConfig", BOTH, NULL, GATEWAYS},
    {"kuma.io", NULL, "MeshGatewayRoute", BOTH, NULL, GATEWAYS},
    {"kuma.io", NULL, "ZoneIngress", BOTH, NULL, GATEWAYS},
    {"kuma.io", NULL, "ZoneEgress", BOTH, NULL, GATEWAYS},
    {"kuma.io", NULL, "MeshZoneAddress", BOTH, NULL, GATEWAYS},
    {"kuma.io", NULL, "MeshPassthrough", BOTH, NULL,
     "passthrough to addresses outside the mesh is not modelled"},
    {"kuma.io", NULL, "MeshTrust", BOTH, NULL,
     "trust bundles are not modelled: a client's identity is taken as given"},
    {"kuma.io", NULL, "HostnameGenerator", BOTH, NULL,
     "hostnames are not modelled: services are named by their resources"},
    {"kuma.io", NULL, "Workload", BOTH, NULL,
     "Kuma's Workload groups dataplanes for their identity; meshpol reads the pods"},
    [KM_KINDS] = {NULL, NULL, NULL, 0, NULL, NULL},
};

/* The namespace Kuma's control plane runs in: its policies are system policies, applied
 * mesh-wide (meshpol compile --system-namespace). */
static const mp_provider_option options[] = {
    {"system-namespace",
     "the namespace of Kuma's control plane (its policies apply mesh-wide; others only in "
     "their namespace)",
     "kuma-system"},
    {NULL, NULL, NULL},
};

static int compile(const mp_model *m, void **state, char *err, size_t errlen)
{
	*state = NULL;
	return mp_kmauthz_compile(m, (mp_kmauthz **)state, err, errlen);
}

static uint32_t decide(const void *state, const mp_provider_request *q, mp_decision *d,
                       json_t *explain)
{
	return mp_kmauthz_decide(state, q, d, explain, 0);
}

/* No bundle and nothing of Kuma decided: its implicit allow, or no proxy at all. */
static uint32_t fallback(const void *state, const mp_provider_request *q, mp_decision *d)
{
	return mp_kmauthz_decide(state, q, d, NULL, 1);
}

static void free_state(void *state)
{
	mp_kmauthz_free(state);
}

const mp_provider mp_provider_kuma = {
    .name = "kuma",
    .title = "Kuma",
    .kinds = mp_kuma_kinds,
    .options = options,
    .import = &mp_kuma_import,
    .analyzers = mp_kuma_analyzers,
    .compile = compile,
    .decide = decide,
    .fallback = fallback,
    .free = free_state,
    .bundle_disagrees = "a MeshTrafficPermission admits the request but the bundle, which has "
                        "allow rules for this destination, allows none of it",
};
