/* kuma_int.h: what Kuma's importer files share: its kinds (by index into its kinds table), its
 * state for one import (meshes, dataplanes, each document's labels as Kuma computes them), and
 * the functions one file calls in another: provider_kuma.c (the row), import_kuma.c (state,
 * meshes, identities, resources), schema_kuma.c (every kind's fields), dataplanes_kuma.c
 * (Kubernetes pods and Universal Dataplanes as dataplanes, services, workloads),
 * routes_kuma.c (routes, timeouts, retries, locality), analyze_kuma.c (the analyzers). The
 * matchers both halves share: kuma_match.h; the compiled state for decisions: kuma_authz.h.
 * Mapping and semantics: docs/import.md ("Kuma"). */
#ifndef MP_KUMA_INT_H
#define MP_KUMA_INT_H

#include "import_int.h"
#include "kuma_match.h"

/* The rows of mp_kuma_kinds that are read (a document's kind points at one); the kinds Kuma
 * has and meshpol leaves out follow them in the table. */
enum {
	KM_MESH,
	KM_MESHIDENTITY,
	KM_MESHTRAFFICPERMISSION,
	KM_MESHTLS,
	KM_MESHSERVICE,
	KM_MESHEXTERNALSERVICE,
	KM_MESHMULTIZONESERVICE,
	KM_MESHHTTPROUTE,
	KM_MESHTCPROUTE,
	KM_MESHTIMEOUT,
	KM_MESHRETRY,
	KM_MESHCIRCUITBREAKER,
	KM_MESHLOADBALANCINGSTRATEGY,
	KM_TRAFFICPERMISSION,
	KM_DATAPLANE_K8S, /* a Kubernetes zone's Dataplane: Kuma makes it from the pod (skipped) */
	KM_DATAPLANE,     /* Universal */
	KM_ZONE,
	KM_READ
};
#define KM_SKIPPED 31 /* the rows of kinds left out, after KM_READ */
#define KM_KINDS   (KM_READ + KM_SKIPPED)

extern const mp_provider_kind mp_kuma_kinds[KM_KINDS + 1];
extern const struct mp_provider_import mp_kuma_import; /* import_kuma.c */
extern const mp_check_row mp_kuma_analyzers[];         /* analyze_kuma.c */

static inline int kuma_is(const idoc *dc, uint32_t kind)
{
	return dc->kind == &mp_kuma_kinds[kind];
}

/* Is the document one of Kuma's that meshpol reads (live or not)? */
static inline int kuma_doc(const idoc *dc)
{
	return dc->provider == &mp_provider_kuma && !dc->kind->skip;
}

/* The records Kuma keeps in the model beside its documents: per dataplane what its proxy is
 * (KumaDataplane), and a Mesh record for a mesh no document declares (Kuma's default mesh). */
#define KM_DATAPLANE_KIND "KumaDataplane"
#define KM_RECORD_API     "meshpol.io/v1"
#define KM_API            "kuma.io/v1alpha1"

/* A mesh: its Mesh document (UINT32_MAX: none, Kuma's default mesh without mTLS), whether
 * mTLS is on (Mesh.mtls.enabledBackend) and the enabled backend's mode. */
typedef struct {
	mp_str name;
	uint32_t doc;
	int mtls, permissive;
} km_mesh;

/* A dataplane inbound at import. */
typedef struct {
	uint32_t port;
	const char *name; /* the inbound's (Universal) or container port's name; NULL: none */
	mp_str service;   /* kuma.io/service */
	mp_id svc;        /* the model's service */
	json_t *tags;     /* owned */
	yaml_node_t *at;  /* where it is written (the Service port, the inbound) */
	idoc *at_doc;
} km_in;

/* A dataplane (a meshed Kubernetes workload, or a Universal Dataplane) at import. */
typedef struct {
	uint32_t doc;   /* its document */
	uint32_t wl;    /* its workload in im->wl */
	mp_str mesh;    /* interned */
	mp_id cluster;  /* its zone's cluster */
	json_t *labels; /* Dataplane labels (computed ones included); owned */
	km_in *in;      /* owned */
	uint32_t nin;
	uint32_t id_doc; /* the MeshIdentity that gives it a workload identity; UINT32_MAX: none */
	mp_str identity;
	json_t *outbounds; /* Universal: [{service, port, line}], owned; NULL: none */
} km_dp;

/* Kuma's state for one import (im_state), owned by the importer: begin and end in
 * import_kuma.c. */
typedef struct {
	const char *system_ns; /* the option; borrowed */
	int present;           /* the import holds Kuma documents or pods it injects */
	json_t **labels;       /* per document: its labels as Kuma computes them (CLUSTERS) */
	json_t **refs;         /* per document: its spec's targetRef, or NULL */
	uint32_t nlabels;
	km_mesh *meshes;
	uint32_t nmeshes;
	km_dp *dps;
	uint32_t ndps, cap;
	mp_id *ms_svc; /* per document: a MeshService's model service (SERVICES), else MP_NONE */
} kuma_state;

static inline kuma_state *kuma_of(const mp_import *im)
{
	return im_state(im, &mp_provider_kuma);
}

/* --- import_kuma.c --- */

/* A document's labels as Kuma computes them (NULL for documents not Kuma's). */
json_t *mp_kuma_labels(mp_import *im, uint32_t doc);
/* The mesh a document belongs to (its kuma.io/mesh label, `mesh` field, its own name for a
 * Mesh; default "default"): a string of the document's, valid while it lives. */
const char *mp_kuma_mesh_of(mp_import *im, idoc *dc);
/* A mesh by name, or NULL (one no document declares but "default"). */
const km_mesh *mp_kuma_mesh(mp_import *im, mp_str name);
/* The document's policy as the matchers see it (its spec's targetRef). */
km_policy mp_kuma_policy(mp_import *im, uint32_t doc);
/* The spec of a document: `spec`, or for a legacy kind in the Universal form its top level. */
yaml_node_t *mp_kuma_spec(idoc *dc);
/* "MeshTrafficPermission kuma-system/x", "Mesh default", as reasons and findings name it. */
const char *mp_kuma_title(mp_import *im, idoc *dc, char *buf, size_t len);
/* The MeshIdentity document that gives a dataplane of these labels in this mesh a workload
 * identity (the most matchLabels, then the smallest name: helpers.go BestMatched), or
 * UINT32_MAX; with its SPIFFE ID for the given namespace, service account and workload into
 * out. */
uint32_t mp_kuma_identity(mp_import *im, mp_str mesh, json_t *labels, mp_id cluster, char *out,
                          size_t len);

/* --- schema_kuma.c --- */

/* Every field of a Kuma document against its kind's table, and what Kuma's validators refuse
 * beyond the schema. 0, or -1 after errors (the document is bad). */
int mp_kuma_check(mp_import *im, idoc *dc);
/* A duration as Kuma reads one (Go's time.ParseDuration: "300ms", "1.5s", "1h30m", "0"):
 * milliseconds, rounded. 0, or -1 when it is none. */
int mp_kuma_duration(const char *s, uint32_t *ms);
/* A MeshIdentity template rendered ({{ .Mesh }}, {{ .Zone }}, {{ .Namespace }},
 * {{ .ServiceAccount }}, {{ .Workload }}, {{ label "k" }}), vars as a JSON object of those
 * names, labels the dataplane's (NULL: any label, to check a template); 0, or -1 with why in
 * out. */
int mp_kuma_render(const char *tmpl, json_t *vars, json_t *labels, char *out, size_t len);

/* --- dataplanes_kuma.c --- */

/* Is a Kubernetes workload document injected (kuma.io/sidecar-injection on the pod, else its
 * namespace)? Its mesh into *mesh. */
int mp_kuma_meshed(mp_import *im, idoc *dc, const char **mesh);
/* The pod labels of a Kubernetes workload with what Kuma adds to a Dataplane's (namespace,
 * service account, zone, origin, mesh); a new reference. */
json_t *mp_kuma_pod_labels(mp_import *im, idoc *dc, const char *mesh, const char *sa);
/* The identity answer (mp_provider_import.identity): a pod Kuma injects runs as its
 * MeshIdentity's SPIFFE ID, else as spiffe://MESH/SERVICE (its first kuma.io/service). */
int mp_kuma_k8s_identity(mp_import *im, idoc *dc, const char *ns, const char *sa, char *out,
                         size_t len);
/* The phases: WORKLOADS (Universal Dataplanes), WORKLOAD_POLICY (mTLS modes), SERVICES
 * (Universal services, MeshServices), ELEMENTS (Kubernetes dataplanes, MeshExternalServices),
 * RESOURCES (KumaDataplane records). */
void mp_kuma_workloads(mp_import *im);
void mp_kuma_workload_policy(mp_import *im);
void mp_kuma_services(mp_import *im);
void mp_kuma_elements(mp_import *im);
void mp_kuma_dataplane_records(mp_import *im);
/* The model service of the inbounds of a mesh with that kuma.io/service tag, or MP_NONE. */
mp_id mp_kuma_service_tag(mp_import *im, mp_str mesh, const char *tag);
/* The model service a MeshService-style reference names ({kind, name, namespace, labels},
 * as a targetRef or backendRef), seen from document dc; MP_NONE when none does. */
mp_id mp_kuma_service_ref(mp_import *im, idoc *dc, yaml_node_t *ref);

/* --- routes_kuma.c --- */

void mp_kuma_routes(mp_import *im); /* ROUTES */

#endif
