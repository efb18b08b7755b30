/* provider_linkerd.c: Linkerd (policy.linkerd.io, linkerd.io ServiceProfile,
 * multicluster.linkerd.io Link, and the ConfigMap linkerd-config, which is Kubernetes' kind: the
 * importer claims it by its reads answer; the Gateway API's HTTPRoute and GRPCRoute are their
 * provider's, whose Server-parent routes Linkerd reads as its inbound routes). Its
 * importer (import_linkerd.c, pods_linkerd.c, routes_linkerd.c) and analyzers
 * (analyze_linkerd.c) map them into the model; its authorization ops compile the model's
 * Linkerd resources (linkerd_authz.h) and decide a request as linkerd2-proxy would. With
 * nothing of it deciding, the default inbound policy's allow (or no proxy at all) allows.
 * docs/import.md ("Linkerd"). */
#include "linkerd_authz.h"
#include "linkerd_int.h"

#include <string.h>

#define POLICY "policy.linkerd.io"

const mp_provider_kind mp_linkerd_kinds[LK_KINDS + 1] = {
    [LK_SERVER] = {POLICY, " v1alpha1 v1beta1 v1beta2 v1beta3 ", "Server", 0, NULL},
    [LK_SERVERAUTHORIZATION] = {POLICY, " v1alpha1 v1beta1 ", "ServerAuthorization", 0, NULL},
    [LK_AUTHORIZATIONPOLICY] = {POLICY, " v1alpha1 ", "AuthorizationPolicy", 0, NULL},
    [LK_MESHTLSAUTHENTICATION] = {POLICY, " v1alpha1 ", "MeshTLSAuthentication", 0, NULL},
    [LK_NETWORKAUTHENTICATION] = {POLICY, " v1alpha1 ", "NetworkAuthentication", 0, NULL},
    [LK_HTTPROUTE] = {POLICY, " v1alpha1 v1beta1 v1beta2 v1beta3 ", "HTTPRoute", 0, NULL},
    [LK_SERVICEPROFILE] = {"linkerd.io", " v1alpha1 v1alpha2 ", "ServiceProfile", 0, NULL},
    [LK_LINK] = {"multicluster.linkerd.io", " v1alpha1 v1alpha2 v1alpha3 ", "Link", 0, NULL},
    [LK_RATELIMIT] = {POLICY, NULL, "HTTPLocalRateLimitPolicy", 0,
                      "Linkerd's rate limits allow or deny no client"},
    [LK_EGRESSNETWORK] = {POLICY, NULL, "EgressNetwork", 0,
                          "egress policy applies to traffic leaving the cluster, not to "
                          "inbound authorization"},
    [LK_UNMESHEDNETWORK] = {POLICY, NULL, "UnmeshedNetwork", 0,
                            "egress policy applies to traffic leaving the cluster, not to "
                            "inbound authorization"},
    [LK_EXTERNALWORKLOAD] = {"workload.linkerd.io", NULL, "ExternalWorkload", 0,
                             "workloads outside Kubernetes are not modelled; Servers with an "
                             "externalWorkloadSelector select no pod"},
    [LK_KINDS] = {NULL, NULL, NULL, 0, NULL},
};

const char *const mp_linkerd_policies[LK_POLICIES + 1] = {
    [LK_DENY] = "deny",
    [LK_AUDIT] = "audit",
    [LK_ALL_UNAUTHENTICATED] = "all-unauthenticated",
    [LK_ALL_AUTHENTICATED] = "all-authenticated",
    [LK_CLUSTER_AUTHENTICATED] = "cluster-authenticated",
    [LK_CLUSTER_UNAUTHENTICATED] = "cluster-unauthenticated",
    [LK_POLICIES] = NULL,
};

uint32_t mp_linkerd_policy(const char *s)
{
	uint32_t i;
	for (i = 0; s && i < LK_POLICIES && strcmp(mp_linkerd_policies[i], s); i++)
		;
	return s ? i : LK_POLICY_NONE;
}

/* The cluster settings a user may give on the command line over the linkerd-config ConfigMap
 * (meshpol compile --default-inbound-policy, --cluster-networks, --control-plane-namespace;
 * the trust domain is every mesh's --trust-domain). NULL defaults: the ConfigMap's value, else
 * the chart's. */
static const mp_provider_option options[] = {
    {"default-inbound-policy",
     "Linkerd's cluster default inbound policy (proxy.defaultInboundPolicy)", NULL},
    {"cluster-networks", "Linkerd's cluster networks, comma-separated CIDRs (clusterNetworks)",
     NULL},
    {"control-plane-namespace",
     "the namespace Linkerd's control plane runs in (its identities'"
     " part)",
     NULL},
    {NULL, NULL, NULL},
};

static int compile(const mp_model *m, void **state, char *err, size_t errlen)
{
	*state = NULL;
	return mp_lkauthz_compile(m, (mp_lkauthz **)state, err, errlen);
}

static uint32_t decide(const void *state, const mp_provider_request *q, mp_decision *d,
                       json_t *explain)
{
	return mp_lkauthz_decide(state, q, d, explain, 0);
}

/* No bundle and nothing decided: the default policy's allow, or no proxy to enforce any. */
static uint32_t fallback(const void *state, const mp_provider_request *q, mp_decision *d)
{
	return mp_lkauthz_decide(state, q, d, NULL, 1);
}

static void free_state(void *state)
{
	mp_lkauthz_free(state);
}

/* Linkerd programs Service parents (its outbound routes), never a Gateway (l2
 * policy-controller/k8s/status/src/index.rs: Server and Service parents only): a rule without
 * backendRefs goes to the parent, which must have a cluster IP; its proxy ranks rules by path
 * length alone. */
static const mp_gateway_impl gateway_api = {
    .flags = MP_GWI_MESH | MP_GWI_EMPTY_TO_PARENT | MP_GWI_CLUSTER_IP | MP_GWI_PATH_LENGTH,
    .replaced = mp_linkerd_profiled,
    .annotations = mp_linkerd_route_annotations,
};

const mp_provider mp_provider_linkerd = {
    .name = "linkerd",
    .title = "Linkerd",
    .kinds = mp_linkerd_kinds,
    .options = options,
    .import = &mp_linkerd_import,
    .analyzers = mp_linkerd_analyzers,
    .compile = compile,
    .decide = decide,
    .fallback = fallback,
    .free = free_state,
    .bundle_disagrees = "a Linkerd authorization admits the request but the bundle, which has "
                        "allow rules for this destination, allows none of it",
    .present = mp_lkauthz_present,
    .gateway_api = &gateway_api,
};
