/* istio_int.h: what Istio's files share: its kinds (by index into its kinds table), its state
 * for one import, host resolution, the analyzers' view of the Kubernetes objects and the
 * MeshConfig (pods_istio.c), Istio's messages (analyze_istio.c), and the functions one file
 * calls in another: provider_istio.c (the row), import_istio.c (PeerAuthentication, Gateways,
 * ServiceEntries, resources), routes_istio.c (DestinationRules, VirtualServices and their
 * delegates), analyze_istio*.c (the analyzers, as istioctl analyze runs them). Mapping and the
 * analyzers: docs/import.md ("Istio", "Findings"). */
#ifndef MP_ISTIO_INT_H
#define MP_ISTIO_INT_H

#include "arena.h"
#include "import_int.h"

/* The rows of mp_istio_kinds (a document's kind points at one). */
enum {
	IK_VIRTUALSERVICE,
	IK_DESTINATIONRULE,
	IK_SERVICEENTRY,
	IK_GATEWAY,
	IK_SIDECAR,
	IK_ENVOYFILTER,
	IK_PEERAUTHENTICATION,
	IK_AUTHORIZATIONPOLICY,
	IK_REQUESTAUTHENTICATION,
	IK_TELEMETRY,
	IK_WASMPLUGIN,
	IK_KINDS
};

extern const mp_provider_kind mp_istio_kinds[IK_KINDS + 1];
extern const struct mp_provider_import mp_istio_import; /* import_istio.c */
extern const mp_check_row mp_istio_analyzers[];         /* analyze_istio.c */

static inline int istio_is(const idoc *dc, uint32_t kind)
{
	return dc->kind == &mp_istio_kinds[kind];
}

/* A host resolved to a model element. */
typedef struct {
	uint32_t kind; /* mp_target_kind */
	mp_id id;      /* MP_NONE: not found */
} im_hostref;

typedef struct {
	mp_str host; /* lower case; may be a wildcard "*.example.com" */
	im_hostref ref;
} im_sehost;

/* --- the analyzers' view (pods_istio.c) --- */

/* Labels (or a selector's matchLabels): strings of the YAML documents, or static ones. */
typedef struct {
	const char *key, *value;
} ist_label;

typedef struct {
	const ist_label *v;
	uint32_t n;
} ist_labels;

/* A pod as Istio's analyzers see one: a Pod document, the pod template of a workload
 * controller (Deployment, StatefulSet, DaemonSet, ReplicaSet no controller owns), or the
 * dummy ingress pod istioctl adds when it analyses files. */
typedef struct {
	idoc *dc;                 /* NULL: istioctl's dummy ingress pod */
	const char *ns, *name;    /* the controller's name for a template */
	ist_labels labels;        /* the pod's (template's) labels */
	yaml_node_t *meta, *spec; /* the pod's (template's) metadata and spec; NULL for the dummy */
	mp_id cluster;            /* MP_NONE: any (the dummy) */
	uint8_t in_mesh;          /* util.PodInMesh: a proxy, an inject label, the namespace's */
	uint8_t ambient;          /* ambient.istio.io/redirection: enabled */
	uint8_t is_pod;           /* a Pod document or the dummy, not a template */
} ist_pod;

/* A Service port as the analyzers read it (no Kubernetes defaulting: an absent protocol is
 * NULL, as istioctl reads files). */
typedef struct {
	uint32_t port;           /* 0 when absent or not a number */
	uint32_t target;         /* the numeric targetPort; 0 when absent or a name */
	const char *target_text; /* targetPort as written, NULL when absent */
	const char *name, *protocol, *app;
	yaml_node_t *node; /* NULL for the default Service */
} ist_port;

typedef struct {
	idoc *dc;              /* NULL: istioctl's default ingress Service */
	const char *ns, *name; /* the Service's */
	const char *type;      /* spec.type, NULL when absent */
	ist_labels selector;
	int has_selector; /* spec.selector present (even empty) */
	ist_port *ports;
	uint32_t nports;
	const char *export_to; /* the networking.istio.io/exportTo annotation, or NULL */
	mp_id cluster;         /* MP_NONE: any (the default) */
} ist_service;

/* What the analyzers read of the MeshConfig (option mesh-config, else the `istio` ConfigMap's
 * `mesh` key in istio-system), with Istio's defaults for what neither says. */
typedef struct {
	const char *root_ns;        /* rootNamespace; else the option root-namespace */
	int dns_capture, dns_alloc; /* defaultConfig.proxyMetadata ISTIO_META_DNS_* are "true" */
	int access_log_providers;   /* defaultProviders.accessLogging is not empty */
	const char *lightstep[32];  /* names of extensionProviders of type lightstep */
	uint32_t nlightstep;
	const char *cluster_domain; /* clusterDomain: "cluster.local" */
	/* the extensionProviders entry that is meshpol: named as option meshpol-provider, an
	 * Envoy ext_authz provider; NULL when the MeshConfig declares none */
	const char *meshpol;
} ist_mesh;

/* Indices of the documents of one kind, in document order (in the state's arena). */
typedef struct {
	uint32_t *v;
	uint32_t n;
	int listed;
} ist_doclist;

/* Istio's state for one import (im_state), owned by the importer: begin and end in
 * import_istio.c; the view and the MeshConfig are built on first use by the analyzers. */
typedef struct {
	const char *rootns; /* the root namespace (option root-namespace, or the MeshConfig's) */
	const char
	    *meshpol_option; /* option meshpol-provider: the name meshpol goes by; borrowed */
	mp_id *gw_svc;       /* per document, from ELEMENTS: the service standing for a Gateway */
	im_sehost *se_hosts; /* ServiceEntry hosts */
	uint32_t nse_hosts;
	/* the PeerAuthentication and Namespace documents, listed on first use (ist_doclist): the
	 * per-namespace, per-workload and per-pod lookups scan these, not every document */
	ist_doclist pa_docs, ns_docs;
	uint32_t *svc_by_ns; /* the view's Services by namespace, then order (ist_view) */
	mp_arena arena;      /* the view's and the MeshConfig's memory */
	int viewed;          /* the view below is built */
	ist_pod *pods;
	uint32_t npods;
	ist_service *svcs;
	uint32_t nsvcs;
	ist_mesh mesh;
	yaml_document_t meshdoc; /* the MeshConfig file's, when given */
	const char *meshfile;    /* that file (option mesh-config) once loaded; borrowed */
	int has_meshdoc;
	/* An analyzer's findings wait here until it returns (ist_report): interning them would
	 * move the model's strings, which the analyzers hold (im_str_of) while they work. */
	struct ist_pending *pending;
	uint32_t npending, cap_pending;
	int deferring;
} istio_state;

static inline istio_state *istio_of(const mp_import *im)
{
	return im_state(im, &mp_provider_istio);
}

/* The documents is() picks, listed into l on first use; NULL (and im->oom) when out of memory. */
const uint32_t *ist_doclist_of(mp_import *im, ist_doclist *l, int (*is)(const idoc *dc),
                               uint32_t *n);

/* Builds the view once (pods, Services, MeshConfig); the arrays live with the state. */
void ist_view(mp_import *im);
/* The MeshConfig file (option mesh-config), loaded at begin (pods_istio.c): 0, or -1 after an
 * error about the file; then, in the CLUSTERS phase, the MeshConfig read from it or from the
 * `istio` ConfigMap, whose rootNamespace becomes the import's unless the option gave one. */
int ist_mesh_load(mp_import *im, istio_state *st);
void ist_mesh_read(mp_import *im);
void ist_mesh_free(istio_state *st);
/* Does Istio read dc, a document of Kubernetes' (the `istio` and `istio-sidecar-injector*`
 * ConfigMaps of istio-system)? */
int ist_reads(mp_import *im, idoc *dc);
/* The scalar labels of a mapping node into out (arena memory); empty for NULL or non-maps. */
void ist_labels_of(mp_import *im, idoc *dc, yaml_node_t *map, ist_labels *out);
const char *ist_label_value(const ist_labels *l, const char *key);
/* Kubernetes' SelectorFromSet(sel).Matches(labels): every label of sel in labels. */
int ist_selects(const ist_labels *sel, const ist_labels *labels);
/* The selector as Kubernetes prints it: "k1=v1,k2=v2", keys sorted; "" when empty. The key of
 * its first label (sorted) into *first (NULL when empty). */
const char *ist_selector_text(const ist_labels *sel, char *buf, size_t len, const char **first);
/* The live Namespace document named ns (in cluster c, any cluster for MP_NONE), or NULL. */
idoc *ist_namespace(mp_import *im, const char *ns, mp_id c);
/* A label of a Namespace document, or NULL. */
const char *ist_ns_label(idoc *nsdoc, const char *key);
/* util.NamespaceInAmbientMode. */
int ist_ns_ambient(idoc *nsdoc);
/* Does a pod of cluster pc belong with a resource of cluster c (the dummy: everywhere)? */
static inline int ist_same_cluster(mp_id pc, mp_id c)
{
	return pc == MP_NONE || c == MP_NONE || pc == c;
}
/* A live Secret named ns/name in cluster c, or NULL. */
idoc *ist_secret(mp_import *im, const char *ns, const char *name, mp_id c);

/* --- Istio's messages (analyze_istio.c) --- */

/* Reports Istio's message `name` (its code and level from Istio's catalogue, its text prefixed
 * "[ISTxxxx] ") on document dc at node at (NULL: the document). meshpol's own codes report
 * through it too, without an Istio code. Inside an analyzer's row the finding waits until the
 * analyzer returns (istio_state.pending); elsewhere it is added at once. */
void ist_report(mp_import *im, idoc *dc, const yaml_node_t *at, const char *name, const char *fmt,
                ...) __attribute__((format(printf, 5, 6)));
/* The node of metadata.name (Istio's line for most messages), else the document. */
yaml_node_t *ist_name_node(idoc *dc);
/* "[a b c]", Go's %v of a slice, into buf: strings v (vs NULL) or numbers u. */
void ist_go_list(char *buf, size_t len, const char *const *vs, const uint32_t *u, uint32_t n);

/* --- hosts (import_istio.c, analyze_istio_vs.c) --- */
/* Resolves a destination host as Istio does, relative to the namespace ns of the resource;
 * fqdn receives its canonical form. id MP_NONE when nothing in the model answers to it. */
im_hostref im_resolve_host(mp_import *im, const char *host, mp_str ns, char *fqdn, size_t len);
int im_host_covers(const char *pattern, const char *host); /* "*", "*.x.com" or exact */
void im_lower(const char *in, char *out, size_t len);
/* Istio's host.Name.Matches: equal, or a wildcard ("*" or "*.suffix") on either side whose
 * suffix the other ends with (two wildcards: one suffix ends with the other). */
int ist_host_matches(const char *a, const char *b);
/* util.ConvertHostToFQDN: a host without a dot, not a wildcard, becomes
 * host.ns.svc.<domain>; any other stays as it is. */
const char *ist_fqdn(mp_import *im, const char *ns, const char *host, char *buf, size_t len);
/* util.IsExportToAllNamespaces over a spec's exportTo list node: absent, empty or with "*". */
int ist_export_all(idoc *dc, yaml_node_t *export_to);

/* The ROUTES phase (routes_istio.c): VirtualServices (and their delegates) -> routes. */
void mp_import_istio_routes(mp_import *im);
/* Validates an AuthorizationPolicy; fills the lines of its rules. -1 after an error
 * (analyze_istio.c). */
int mp_import_istio_check_authz(mp_import *im, idoc *dc, json_t *spec, mp_span *lines);

/* The analyzers, one file per family (their rows: analyze_istio.c). */
void ist_virtualservice_rules(mp_import *im); /* analyze_istio_vs.c */
void ist_mesh_gateway_hosts(mp_import *im);
void ist_destination_hosts(mp_import *im);
void ist_destination_subsets(mp_import *im);
void ist_vs_gateways(mp_import *im);
void ist_jwt_claim_routes(mp_import *im);
void ist_gateway_ports(mp_import *im); /* analyze_istio_gw.c */
void ist_gateway_secrets(mp_import *im);
void ist_conflicting_gateways(mp_import *im);
void ist_gateway_certificates(mp_import *im);
void ist_sidecar_selectors(mp_import *im); /* analyze_istio_wl.c */
void ist_authorization_policies(mp_import *im);
void ist_peer_authentication_selectors(mp_import *im);
void ist_telemetry(mp_import *im);
void ist_k8s_gateway_selectors(mp_import *im);
void ist_injection(mp_import *im);
void ist_image_auto(mp_import *im);
void ist_service_association(mp_import *im);
void ist_application_uid(mp_import *im);
void ist_port_names(mp_import *im);
void ist_conditions(mp_import *im);
void ist_destination_rule_tls(mp_import *im); /* analyze_istio_cfg.c */
void ist_destination_rule_hosts(mp_import *im);
void ist_mtls_conflicts(mp_import *im);
void ist_service_entry_addresses(mp_import *im);
void ist_service_entry_protocols(mp_import *im);
void ist_envoy_filters(mp_import *im);
void ist_deprecations(mp_import *im);

#endif
