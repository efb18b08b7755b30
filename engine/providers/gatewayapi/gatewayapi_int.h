/* gatewayapi_int.h: what the Kubernetes Gateway API's provider files share: its kinds (by index
 * into its kinds table), its state for one import and the functions one file calls in another:
 * provider_gatewayapi.c (the row), schema_gatewayapi.c (every kind's CRD schema and CEL rules),
 * import_gatewayapi.c (state, phases, resources, the `gateway` answer), attach_gatewayapi.c
 * (Gateways, listeners and their conditions, attachment), routes_gatewayapi.c (backendRefs,
 * ReferenceGrants, routes into the model, Service parents). The meshes read this header too:
 * Linkerd's inbound routes are the Gateway API's with a Server parent. Mapping and decisions:
 * docs/import.md ("Kubernetes Gateway API"); the facts they follow, with sources:
 * tests/data/import/gatewayapi/SOURCES.md. */
#ifndef MP_GATEWAYAPI_INT_H
#define MP_GATEWAYAPI_INT_H

#include "import_int.h"

#define GW_GROUP "gateway.networking.k8s.io"

/* The rows of mp_gwapi_kinds (a document's kind points at one); the read kinds first. */
enum {
	GW_GATEWAYCLASS,
	GW_GATEWAY,
	GW_HTTPROUTE,
	GW_GRPCROUTE,
	GW_TLSROUTE,
	GW_TCPROUTE,
	GW_REFERENCEGRANT,
	GW_UDPROUTE, /* skipped, with why, from here on */
	GW_BACKENDTLSPOLICY,
	GW_BACKENDLBPOLICY,
	GW_LISTENERSET,
	GW_KINDS
};

extern const mp_provider_kind mp_gwapi_kinds[GW_KINDS + 1];
extern const struct mp_provider_import mp_gwapi_import; /* import_gatewayapi.c */
extern const mp_check_row mp_gwapi_analyzers[];         /* provider_gatewayapi.c */

static inline int gwapi_is(const idoc *dc, uint32_t kind)
{
	return dc->kind == &mp_gwapi_kinds[kind];
}

/* Route kinds as bits (a listener's allowed kinds); 0 for a document that is no route. */
enum { GW_K_HTTP = 1u << 0, GW_K_GRPC = 1u << 1, GW_K_TLS = 1u << 2, GW_K_TCP = 1u << 3 };
static inline uint32_t gwapi_route_kind(const idoc *dc)
{
	return gwapi_is(dc, GW_HTTPROUTE)   ? GW_K_HTTP
	       : gwapi_is(dc, GW_GRPCROUTE) ? GW_K_GRPC
	       : gwapi_is(dc, GW_TLSROUTE)  ? GW_K_TLS
	       : gwapi_is(dc, GW_TCPROUTE)  ? GW_K_TCP
	                                    : 0;
}

/* The HTTPRoute's spec (Linkerd's policy.linkerd.io HTTPRoute has the same schema). */
extern const im_field mp_gwapi_httproute_spec[];

/* A Gateway's listener, as read (attach_gatewayapi.c). Strings are borrowed from the document. */
enum { GW_FROM_SAME, GW_FROM_ALL, GW_FROM_SELECTOR, GW_FROM_NONE };
typedef struct {
	yaml_node_t *node;
	const char *name, *protocol, *hostname; /* hostname NULL: every host */
	uint32_t port;
	uint32_t kinds; /* GW_K_* of routes it takes; 0 when it is refused (its conditions) */
	uint32_t from;  /* GW_FROM_* */
	yaml_node_t *selector;
} gw_listener;

/* A Gateway document and what meshpol makes of it. Owned by the state (listeners too). */
typedef struct {
	uint32_t doc;
	const mp_provider *mesh; /* the mesh whose controller programs it; NULL: none of ours */
	const char *class_name;
	mp_id svc; /* the service of its data plane (the source of its routes), or MP_NONE */
	gw_listener *ls;
	uint32_t nls;
} gw_gateway;

/* The Gateway API's state for one import (im_state), owned by the importer. */
typedef struct {
	gw_gateway *gws;
	uint32_t ngws;
	uint32_t *gw_of; /* per document: its index in gws, or UINT32_MAX */
	/* the mesh that programs Service parents (GAMMA), from the ROUTES phase; NULL: none */
	const mp_provider *mesh;
	/* per Service parent (service id), the namespaces with consumer routes to it: pairs
	 * (service, namespace id), from the ROUTES phase */
	uint32_t *consumers;
	uint32_t nconsumers;
} gwapi_state;

static inline gwapi_state *gwapi_of(const mp_import *im)
{
	return im_state(im, &mp_provider_gatewayapi);
}

/* --- schema_gatewayapi.c --- */

/* Every Gateway API document against its CRD's schema and CEL rules (errors at the node). */
void mp_gwapi_check(mp_import *im, idoc *dc);

/* --- attach_gatewayapi.c --- */

/* Do two hostnames intersect (the Gateway API's wildcard rules; NULL: every host)? */
int mp_gwapi_hosts_meet(const char *a, const char *b);
/* The Gateways: their mesh, listeners and data-plane services (the ELEMENTS phase). */
void mp_gwapi_gateways(mp_import *im);
/* The listeners' conditions as findings (the ROUTES phase, before the routes). */
void mp_gwapi_listener_findings(mp_import *im);

/* One parentRef to a Gateway, resolved: the Gateway when one of ours (a mesh of the sources
 * programs it) and the listeners the route attached to (bits, at most 64); none when it did
 * not attach, its finding reported. */
typedef struct {
	const gw_gateway *gw; /* NULL: no Gateway of ours (another controller's, or none) */
	uint64_t listeners;   /* the listeners it attached to */
} gw_attachment;
void mp_gwapi_attach(mp_import *im, idoc *route, yaml_node_t *ref, gw_attachment *out);

/* --- routes_gatewayapi.c --- */

/* A service's id from a namespace and name (MP_NONE when there is none). */
mp_id mp_gwapi_service(mp_import *im, const char *ns, const char *name);
/* Is a ReferenceGrant in to_ns (cluster's) letting from_kind (of the Gateway API's group) in
 * from_ns refer to to_group/to_kind to_name? */
int mp_gwapi_granted(mp_import *im, mp_id cluster, const char *from_kind, const char *from_ns,
                     const char *to_group, const char *to_kind, const char *to_ns,
                     const char *to_name);
/* Every Gateway API route into the model (the ROUTES phase). */
void mp_gwapi_routes(mp_import *im);
/* A route document of the HTTPRoute's schema whose Service parents mesh programs (Linkerd's
 * policy.linkerd.io HTTPRoutes): its routes into the model, with its findings. */
void mp_gwapi_mesh_route(mp_import *im, idoc *dc, const mp_provider *mesh);

/* A group that is the core group: "" or "core" (as Linkerd and the GEP's examples write it). */
int mp_gwapi_core(const char *group);

#endif
