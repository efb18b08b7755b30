/* provider_kuma.c: Kuma (kuma.io/v1alpha1, as Kubernetes CRDs and as Universal mode writes them:
 * `type:`, `name:`, `mesh:`, the form below). Its importer (import_kuma.c, schema_kuma.c,
 * dataplanes_kuma.c, routes_kuma.c) and analyzers (analyze_kuma.c) map its resources into the
 * model; its authorization ops compile the model's meshes, permissions and dataplanes
 * (kuma_authz.h) and decide a request as Kuma's MeshTrafficPermission (and legacy
 * TrafficPermission) does. With nothing of it deciding (a mesh without mTLS, a proxy without a
 * workload identity, plaintext to a permissive inbound), Kuma allows. docs/import.md ("Kuma"). */
#include "kuma_authz.h"
#include "kuma_int.h"

#define KUMA    " v1alpha1 "
#define BOTH    MP_KIND_FORM /* a CRD, and in the Universal form (form, below) */
#define OBSERVE "Kuma's observability policies (logs, traces, metrics) admit or refuse no client"
#define PATCH   "patches of the proxies' Envoy configuration are not modelled"
#define GATEWAYS                                                                                   \
	"Kuma's gateways, zone ingresses and egresses are not modelled: permissions apply to "     \
	"sidecar inbounds"
#define LEGACY                                                                                     \
	"Kuma's legacy routing policies (removed in 3.0) are not mapped; MeshHTTPRoute, "          \
	"MeshTCPRoute, MeshTimeout and MeshRetry are"

const mp_provider_kind mp_kuma_kinds[KM_KINDS + 1] = {
    [KM_MESH] = {"kuma.io", KUMA, "Mesh", MP_KIND_CLUSTER_SCOPED | BOTH, NULL},
    [KM_MESHIDENTITY] = {"kuma.io", KUMA, "MeshIdentity", BOTH, NULL},
    [KM_MESHTRAFFICPERMISSION] = {"kuma.io", KUMA, "MeshTrafficPermission", BOTH, NULL},
    [KM_MESHTLS] = {"kuma.io", KUMA, "MeshTLS", BOTH, NULL},
    [KM_MESHSERVICE] = {"kuma.io", KUMA, "MeshService", BOTH, NULL},
    [KM_MESHEXTERNALSERVICE] = {"kuma.io", KUMA, "MeshExternalService", BOTH, NULL},
    [KM_MESHMULTIZONESERVICE] = {"kuma.io", KUMA, "MeshMultiZoneService", BOTH, NULL},
    [KM_MESHHTTPROUTE] = {"kuma.io", KUMA, "MeshHTTPRoute", BOTH, NULL},
    [KM_MESHTCPROUTE] = {"kuma.io", KUMA, "MeshTCPRoute", BOTH, NULL},
    [KM_MESHTIMEOUT] = {"kuma.io", KUMA, "MeshTimeout", BOTH, NULL},
    [KM_MESHRETRY] = {"kuma.io", KUMA, "MeshRetry", BOTH, NULL},
    [KM_MESHCIRCUITBREAKER] = {"kuma.io", KUMA, "MeshCircuitBreaker", BOTH, NULL},
    [KM_MESHLOADBALANCINGSTRATEGY] = {"kuma.io", KUMA, "MeshLoadBalancingStrategy", BOTH, NULL},
    [KM_TRAFFICPERMISSION] = {"kuma.io", KUMA, "TrafficPermission", MP_KIND_CLUSTER_SCOPED | BOTH,
                              NULL},
    /* a Kubernetes zone's Dataplanes are the control plane's, made from the pods: only a
     * Universal zone's are read */
    [KM_DATAPLANE_K8S] = {"kuma.io", KUMA, "Dataplane", 0,
                          "Kuma makes a Kubernetes zone's Dataplanes from its pods, which "
                          "meshpol reads"},
    [KM_DATAPLANE] = {"kuma.io", KUMA, "Dataplane", MP_KIND_FORM_ONLY, NULL},
    [KM_ZONE] = {"kuma.io", KUMA, "Zone", MP_KIND_CLUSTER_SCOPED | BOTH, NULL},
    /* known, left out (KM_SKIPPED rows) */
    {"kuma.io", NULL, "MeshAccessLog", BOTH, OBSERVE},
    {"kuma.io", NULL, "MeshTrace", BOTH, OBSERVE},
    {"kuma.io", NULL, "MeshMetric", BOTH, OBSERVE},
    {"kuma.io", NULL, "TrafficLog", BOTH, OBSERVE},
    {"kuma.io", NULL, "TrafficTrace", BOTH, OBSERVE},
    {"kuma.io", NULL, "MeshProxyPatch", BOTH, PATCH},
    {"kuma.io", NULL, "ProxyTemplate", BOTH, PATCH},
    {"kuma.io", NULL, "ContainerPatch", BOTH, PATCH},
    {"kuma.io", NULL, "MeshRateLimit", BOTH, "Kuma's rate limits refuse no client by its identity"},
    {"kuma.io", NULL, "RateLimit", BOTH, "Kuma's rate limits refuse no client by its identity"},
    {"kuma.io", NULL, "MeshFaultInjection", BOTH,
     "fault injection changes no route and no permission"},
    {"kuma.io", NULL, "FaultInjection", BOTH, "fault injection changes no route and no permission"},
    {"kuma.io", NULL, "MeshHealthCheck", BOTH, "health checks change no route and no permission"},
    {"kuma.io", NULL, "HealthCheck", BOTH, "health checks change no route and no permission"},
    {"kuma.io", NULL, "CircuitBreaker", BOTH, LEGACY},
    {"kuma.io", NULL, "TrafficRoute", BOTH, LEGACY},
    {"kuma.io", NULL, "Retry", BOTH, LEGACY},
    {"kuma.io", NULL, "Timeout", BOTH, LEGACY},
    {"kuma.io", NULL, "VirtualOutbound", BOTH, LEGACY},
    {"kuma.io", NULL, "ExternalService", BOTH,
     "the legacy ExternalService is not mapped; MeshExternalService is"},
    {"kuma.io", NULL, "MeshGateway", BOTH, GATEWAYS},
    {"kuma.io", NULL, "MeshGatewayInstance", BOTH, GATEWAYS},
    {"kuma.io", NULL, "MeshGatewayConfig", BOTH, GATEWAYS},
    {"kuma.io", NULL, "MeshGatewayRoute", BOTH, GATEWAYS},
    {"kuma.io", NULL, "ZoneIngress", BOTH, GATEWAYS},
    {"kuma.io", NULL, "ZoneEgress", BOTH, GATEWAYS},
    {"kuma.io", NULL, "MeshZoneAddress", BOTH, GATEWAYS},
    {"kuma.io", NULL, "MeshPassthrough", BOTH,
     "passthrough to addresses outside the mesh is not modelled"},
    {"kuma.io", NULL, "MeshTrust", BOTH,
     "trust bundles are not modelled: a client's identity is taken as given"},
    {"kuma.io", NULL, "HostnameGenerator", BOTH,
     "hostnames are not modelled: services are named by their resources"},
    {"kuma.io", NULL, "Workload", BOTH,
     "Kuma's Workload groups dataplanes for their identity; meshpol reads the pods"},
    [KM_KINDS] = {NULL, NULL, NULL, 0, NULL},
};

/* Universal mode's resources, as kumactl applies them: `type`, `name`, `mesh` (a resource of
 * another mesh is another object), `labels`, and `spec` (a legacy kind's fields at the top). */
static const struct mp_provider_form form = {
    .title = "document",
    .kind_key = "type",
    .name_key = "name",
    .scope_key = "mesh",
    .spec_key = "spec",
};

/* The namespace Kuma's control plane runs in: its policies are system policies, applied
 * mesh-wide (meshpol compile --kuma-system-namespace). */
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

/* Kuma's Gateway API controller (kumahq/kuma pkg/plugins/runtime/k8s/controllers/gatewayapi:
 * common.ControllerName; attachment.go, which checks namespaces and not hostnames); HTTPRoutes
 * with Service parents become MeshHTTPRoutes (mesh_http_route_conversion.go). */
static const mp_gateway_impl gateway_api = {
    .controller = "gateways.kuma.io/controller",
    .protocols = " HTTP HTTPS TCP TLS ",
    .flags = MP_GWI_MESH | MP_GWI_NO_HOSTNAMES,
};

const mp_provider mp_provider_kuma = {
    .name = "kuma",
    .title = "Kuma",
    .kinds = mp_kuma_kinds,
    .form = &form,
    .options = options,
    .import = &mp_kuma_import,
    .analyzers = mp_kuma_analyzers,
    .compile = compile,
    .decide = decide,
    .fallback = fallback,
    .free = free_state,
    .bundle_disagrees = "a MeshTrafficPermission admits the request but the bundle, which has "
                        "allow rules for this destination, allows none of it",
    .present = mp_kmauthz_present,
    .gateway_api = &gateway_api,
};
