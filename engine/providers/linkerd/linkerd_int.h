/* linkerd_int.h: what Linkerd's importer files share: its kinds (by index into its kinds
 * table), the vocabulary both halves use (default inbound policies, the records it keeps in
 * the model), its state for one import, and the functions one file calls in another:
 * provider_linkerd.c (the row), import_linkerd.c (settings, identities, checks, resources),
 * pods_linkerd.c (what the proxy injected into each meshed pod knows), routes_linkerd.c
 * (mirrored services, routes), analyze_linkerd.c (the analyzers). The compiled state for
 * decisions: linkerd_authz.h. Mapping and semantics: docs/import.md ("Linkerd"). */
#ifndef MP_LINKERD_INT_H
#define MP_LINKERD_INT_H

#include "import_int.h"
#include "providers/gatewayapi/gatewayapi_int.h"

/* The rows of mp_linkerd_kinds (a document's kind points at one). */
enum {
	LK_SERVER,
	LK_SERVERAUTHORIZATION,
	LK_AUTHORIZATIONPOLICY,
	LK_MESHTLSAUTHENTICATION,
	LK_NETWORKAUTHENTICATION,
	LK_HTTPROUTE, /* policy.linkerd.io; the Gateway API's are its provider's */
	LK_SERVICEPROFILE,
	LK_LINK,
	LK_RATELIMIT,
	LK_EGRESSNETWORK,
	LK_UNMESHEDNETWORK,
	LK_EXTERNALWORKLOAD,
	LK_KINDS
};

extern const mp_provider_kind mp_linkerd_kinds[LK_KINDS + 1];
extern const struct mp_provider_import mp_linkerd_import; /* import_linkerd.c */
extern const mp_check_row mp_linkerd_analyzers[];         /* analyze_linkerd.c */

static inline int linkerd_is(const idoc *dc, uint32_t kind)
{
	return dc->kind == &mp_linkerd_kinds[kind];
}

/* A route Linkerd reads: its own HTTPRoute, or the Gateway API's HTTPRoute and GRPCRoute (a
 * Server parent makes one Linkerd's inbound route). */
static inline int linkerd_is_route(const idoc *dc)
{
	return linkerd_is(dc, LK_HTTPROUTE) || gwapi_is(dc, GW_HTTPROUTE) ||
	       gwapi_is(dc, GW_GRPCROUTE);
}

/* The default inbound policies (config.linkerd.io/default-inbound-policy, a Server's
 * accessPolicy), in Linkerd's words; LK_POLICY_NONE: not one of them. */
enum {
	LK_DENY,
	LK_AUDIT,
	LK_ALL_UNAUTHENTICATED,
	LK_ALL_AUTHENTICATED,
	LK_CLUSTER_AUTHENTICATED,
	LK_CLUSTER_UNAUTHENTICATED,
	LK_POLICIES,
	LK_POLICY_NONE = LK_POLICIES
};
extern const char *const mp_linkerd_policies[LK_POLICIES + 1]; /* NULL-terminated */
uint32_t mp_linkerd_policy(const char *s);                     /* LK_POLICY_NONE if none */

/* The records Linkerd keeps in the model beside its documents (docs/import.md, "Linkerd"):
 * the cluster's settings as the ConfigMap linkerd-config would give them (LK_CONFIG_NAME:
 * Kubernetes' kind, in the control plane's namespace), and for each meshed workload what its
 * proxy knows (LinkerdProxy). */
#define LK_CONFIG_NAME "linkerd-config"
#define LK_PROXY_KIND  "LinkerdProxy"
#define LK_PROXY_API   "meshpol.io/v1"

/* Is dc the ConfigMap linkerd-config? Kubernetes' kind: Linkerd claims it (its reads answer),
 * in whatever namespace, as the one document of the kind it reads. */
int mp_linkerd_is_config(const mp_import *im, const idoc *dc);

/* One cluster's settings: the linkerd-config values the import read (or the chart's
 * defaults), with the options over them. Strings are owned by the state. */
typedef struct {
	char cp_ns[254], domain[254], td[254];
	char policy[32];          /* proxy.defaultInboundPolicy, as given */
	char policy_from[400];    /* the setting, for reasons: "ConfigMap linkerd/linkerd-config
	                           * (proxy.defaultInboundPolicy: deny)" */
	mp_loc policy_loc;        /* where (file 0: Linkerd's own default) */
	char networks[1024];      /* clusterNetworks, comma-separated */
	char probe_networks[512]; /* policyController.probeNetworks, comma-separated */
	char opaque_ports[512];   /* proxy.opaquePorts */
	char require_id[512];     /* proxy.requireIdentityOnInboundPorts */
	uint32_t doc;             /* the ConfigMap's document, UINT32_MAX: none */
} lk_cluster;

/* A meshed workload's LinkerdProxy record before it joins the model (the analyzers read it):
 * its spec, and the (file, line) of the settings its reasons cite. */
typedef struct {
	json_t *spec; /* NULL: the workload is not meshed */
	uint32_t aux[4];
} lk_proxy;

/* Linkerd's state for one import (im_state), owned by the importer: begin and end in
 * import_linkerd.c. */
typedef struct {
	const char *opt_policy, *opt_networks, *opt_cp_ns; /* options; borrowed; NULL: not given */
	int present;          /* the import holds Linkerd documents or pods it injects */
	lk_cluster *clusters; /* per cluster id, from the CLUSTERS phase */
	uint32_t nclusters;
	yaml_document_t *values; /* per cluster: the ConfigMap's values, parsed (or empty) */
	idoc *values_dc;         /* per cluster: a document standing for them, for errors */
	lk_proxy *proxies;       /* per workload of im->wl, from the ELEMENTS phase */
	uint32_t nproxies;
	uint32_t *ns_docs; /* the live Namespace documents (their annotations are pods'
	                    * settings), from the CLUSTERS phase */
	uint32_t nns_docs;
} linkerd_state;

static inline linkerd_state *linkerd_of(const mp_import *im)
{
	return im_state(im, &mp_provider_linkerd);
}

/* The cluster's settings (cluster is a document's, set by the frame). */
const lk_cluster *mp_linkerd_cluster(mp_import *im, mp_id cluster);

/* --- pods (pods_linkerd.c) --- */

/* Does Linkerd inject a proxy into the pods of workload document dc (linkerd.io/inject on the
 * pod, else on its namespace)? */
int mp_linkerd_meshed(mp_import *im, idoc *dc);
/* A Namespace document's annotation in dc's cluster, with the document; NULL when none. */
const char *mp_linkerd_ns_annotation(mp_import *im, mp_str ns, mp_id cluster, const char *key,
                                     idoc **nsdoc, yaml_node_t **node);
/* What the proxy of every meshed workload knows (the ELEMENTS phase: st->proxies), and those
 * as LinkerdProxy records of the model (the RESOURCES phase). */
void mp_linkerd_proxies(mp_import *im);
void mp_linkerd_proxy_records(mp_import *im);

/* --- routes and services (routes_linkerd.c) --- */

void mp_linkerd_mirrors(mp_import *im); /* SERVICES: mirrored services are the remote ones */
void mp_linkerd_routes(mp_import *im);  /* ROUTES: outbound HTTPRoutes, ServiceProfiles */
/* How Linkerd reads the Gateway API's routes with a Service parent (mp_gateway_impl): a
 * ServiceProfile for the service wins over them; a route's timeout and retry annotations. */
int mp_linkerd_profiled(mp_import *im, mp_id svc);
void mp_linkerd_route_annotations(mp_import *im, idoc *route, mp_route *rt);

/* --- checks (import_linkerd.c) --- */

/* Does a ref's group (NULL or empty: the core group, as Linkerd reads refs) name group g? */
int mp_linkerd_group_is(const char *ref_group, const char *g);

#endif
