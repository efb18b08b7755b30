/* provider_istio.c: Istio (networking.istio.io, security.istio.io). Its importer
 * (import_istio.c, routes_istio.c) and analyzers (analyze_istio.c) map its resources into the
 * model; its authorization ops compile the model's AuthorizationPolicies (authz.h) and decide
 * a request with Istio's semantics; with nothing of it applying, Istio allows. docs/import.md
 * ("AuthorizationPolicy", "Combining with a bundle"). */
#include "authz.h"
#include "istio_int.h"

#define NETWORKING "networking.istio.io", " v1 v1beta1 v1alpha3 "
#define SECURITY   "security.istio.io", " v1 v1beta1 v1alpha3 "

/* RequestAuthentication, EnvoyFilter, Telemetry and WasmPlugin are read for the analyzers and
 * kept as resources; decisions do not use them (docs/import.md, "Istio"). */
const mp_provider_kind mp_istio_kinds[IK_KINDS + 1] = {
    [IK_VIRTUALSERVICE] = {NETWORKING, "VirtualService", 0},
    [IK_DESTINATIONRULE] = {NETWORKING, "DestinationRule", 0},
    [IK_SERVICEENTRY] = {NETWORKING, "ServiceEntry", 0},
    [IK_GATEWAY] = {NETWORKING, "Gateway", 0},
    [IK_SIDECAR] = {NETWORKING, "Sidecar", 0},
    [IK_ENVOYFILTER] = {NETWORKING, "EnvoyFilter", 0},
    [IK_PEERAUTHENTICATION] = {SECURITY, "PeerAuthentication", 0},
    [IK_AUTHORIZATIONPOLICY] = {SECURITY, "AuthorizationPolicy", 0},
    [IK_REQUESTAUTHENTICATION] = {SECURITY, "RequestAuthentication", 0},
    [IK_TELEMETRY] = {"telemetry.istio.io", " v1 v1alpha1 ", "Telemetry", 0},
    [IK_WASMPLUGIN] = {"extensions.istio.io", " v1alpha1 ", "WasmPlugin", 0},
    [IK_KINDS] = {NULL, NULL, NULL, 0},
};

static const mp_provider_option options[] = {
    {"root-namespace", "Istio's root namespace (its policies apply to every namespace)",
     "istio-system"},
    {"mesh-config",
     "a MeshConfig file for the analyzers, as istioctl analyze --meshConfigFile (default: the "
     "`istio` ConfigMap's, else Istio's defaults)",
     ""},
    {"meshpol-provider",
     "the name of the mesh config's extensionProviders entry that is meshpol (its CUSTOM "
     "AuthorizationPolicies are decided with the bundle)",
     "meshpol"},
    {NULL, NULL, NULL},
};

/* Does m hold Istio's configuration: resources of its kinds? */
static int present(const mp_model *m)
{
	mp_model_view v = mp_model_get_view(m);
	for (uint32_t i = 0; i < v.nresources; i++)
		if (mp_provider_of(m, &v.resources[i]) == &mp_provider_istio)
			return 1;
	return 0;
}

/* Does Istio govern the model, so that its defaults apply: it holds Istio's resources, or
 * imported Kubernetes workloads and no other mesh's configuration (Istio is the mesh meshpol
 * assumes for Kubernetes input, docs/import.md)? */
static int imported(const mp_model *m)
{
	mp_model_view v = mp_model_get_view(m);
	return present(m) ||
	       ((v.nworkloads || v.nresources) && !mp_providers_other_mesh(m, &mp_provider_istio));
}

static int compile(const mp_model *m, void **state, char *err, size_t errlen)
{
	mp_authz *a = mp_authz_compile(m, err, errlen);
	*state = NULL;
	if (!a)
		return -1;
	if (!mp_authz_count(a) && !imported(m)) { /* nothing to decide, no default to apply */
		mp_authz_free(a);
		return 0;
	}
	*state = a;
	return 0;
}

/* The imported AuthorizationPolicies' verdict, their reasons added to d. */
static uint32_t decide(const void *state, const mp_provider_request *q, mp_decision *d,
                       json_t *explain)
{
	const mp_authz *a = state;
	mp_authz_result az;
	if (!mp_authz_count(a) || q->dst_svc == MP_NONE)
		return MP_PROVIDER_ABSTAIN;
	mp_model_view v = mp_model_get_view(q->m);
	mp_authz_request aq = {q->r, q->dst_svc, q->dst_cluster, 0, q->bundle};
	/* a caller named by service presents its identity, as Istio's automatic mTLS does,
	 * unless the destination does not accept mTLS */
	if (!q->r->principal && q->src_svc != MP_NONE &&
	    v.services[q->dst_svc].mtls != MP_MTLS_DISABLE)
		aq.src_identity = v.services[q->src_svc].identity;
	mp_authz_decide(a, &aq, &az, explain);
	for (uint32_t i = 0; i < az.nhits + az.naudits; i++) {
		const mp_authz_hit *h = i < az.nhits ? &az.hits[i] : &az.audits[i - az.nhits];
		uint32_t kind = h->kind == MP_AUTHZ_HIT_ALLOW   ? MP_REASON_ALLOW
		                : h->kind == MP_AUTHZ_HIT_AUDIT ? MP_REASON_AUDIT
		                                                : MP_REASON_DENY;
		const char *msg = mp_authz_hit_message(a, h);
		if (az.mixed && h->workload != MP_NONE) /* only some workloads decided so */
			msg = mp_decision_text(d, "%s (workload %s)", msg,
			                       mp_model_str(q->m, v.workloads[h->workload].name));
		mp_reason_origin o = {
		    .provider = mp_provider_istio.name,
		    .resource = mp_authz_policy_title(a, h->policy),
		    .version = mp_authz_policy_version(a, h->policy),
		    .rule = h->rule,
		    .rule_name = mp_authz_hit_rule(a, h),
		    .source = mp_authz_hit_loc(a, h),
		};
		mp_decision_add(d, kind, msg, kind == MP_REASON_AUDIT, &o);
	}
	/* the verdicts are in the same order (authz.h) */
	return az.verdict == MP_AUTHZ_DENY            ? MP_PROVIDER_DENY
	       : az.verdict == MP_AUTHZ_NOT_PERMITTED ? MP_PROVIDER_NOT_PERMITTED
	       : az.verdict == MP_AUTHZ_ALLOW         ? MP_PROVIDER_ALLOW
	                                              : MP_PROVIDER_ABSTAIN;
}

/* No bundle and no ALLOW policy applies: Istio's implicit allow, for an imported model. */
static uint32_t fallback(const void *state, const mp_provider_request *q, mp_decision *d)
{
	(void)state;
	if (!imported(q->m))
		return MP_PROVIDER_ABSTAIN;
	mp_decision_add(d, MP_REASON_ALLOW,
	                "no ALLOW AuthorizationPolicy applies to the destination: Istio allows "
	                "the request",
	                0, NULL);
	return MP_PROVIDER_ALLOW;
}

static void free_state(void *state)
{
	mp_authz_free(state);
}

/* Istio's Gateway API controller (pilot/pkg/config/kube/gateway: gatewayclass.go Classes,
 * conversion.go listenerProtocolToIstio and getDefaultName, conditions.go
 * generateSupportedKinds): the classes istiod creates, its protocols (TLS and TCP need
 * PILOT_ENABLE_ALPHA_GATEWAY_API, assumed on where TLSRoutes and TCPRoutes are written), a
 * Gateway's Service GATEWAY-CLASS, upper-case protocols only, a kind a listener does not take
 * NotAllowedByListeners, one valid certificate enough; Service parents (GAMMA), also in a
 * Kubernetes-only import, whose mesh meshpol takes to be Istio. */
static const mp_gateway_impl gateway_api = {
    .controller = "istio.io/gateway-controller",
    .classes = " istio istio-remote istio-waypoint ",
    .protocols = " HTTP HTTPS TLS TCP HBONE ",
    .flags = MP_GWI_MESH | MP_GWI_DEFAULT_MESH | MP_GWI_SERVICE_CLASS | MP_GWI_PROTOCOL_CASE |
             MP_GWI_KIND_NOT_ALLOWED | MP_GWI_ANY_CERT,
};

const mp_provider mp_provider_istio = {
    .name = "istio",
    .title = "Istio",
    .kinds = mp_istio_kinds,
    .options = options,
    .import = &mp_istio_import,
    .analyzers = mp_istio_analyzers,
    .compile = compile,
    .decide = decide,
    .fallback = fallback,
    .free = free_state,
    .bundle_disagrees = "an AuthorizationPolicy allows the request but the bundle, which has "
                        "allow rules for this destination, allows none of it",
    .present = present,
    .gateway_api = &gateway_api,
};
