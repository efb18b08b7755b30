/* import_int.h: the inside of the importer, shared by import.c (documents, YAML helpers,
 * places, findings), import_k8s.c (Kubernetes) and import_istio.c (Istio). Mapping:
 * docs/import.md. */
#ifndef MP_IMPORT_INT_H
#define MP_IMPORT_INT_H

#include "import.h"
#include "yamlload.h"

#include <jansson.h>
#include <stdarg.h>

/* The kinds the importer reads. */
typedef enum {
	IK_NAMESPACE,
	IK_SERVICE,
	IK_SERVICEACCOUNT,
	IK_NODE,
	IK_DEPLOYMENT,
	IK_STATEFULSET,
	IK_DAEMONSET,
	IK_REPLICASET,
	IK_POD,
	IK_VIRTUALSERVICE,
	IK_DESTINATIONRULE,
	IK_SERVICEENTRY,
	IK_GATEWAY,
	IK_SIDECAR,
	IK_PEERAUTHENTICATION,
	IK_AUTHORIZATIONPOLICY,
	IK_COUNT
} ikind;

extern const char *const mp_import_kind_names[IK_COUNT];

/* One kept document. Node pointers stay valid while the document lives (libyaml never moves
 * the nodes of a loaded document). */
typedef struct {
	yaml_document_t doc;
	yaml_node_t *root, *meta, *spec; /* spec: NULL when absent */
	uint32_t kind;                   /* ikind */
	mp_str file, api, ns, name;      /* interned; ns is "default" when not given */
	mp_str cluster_name;             /* from --cluster-dir, or 0 */
	mp_id cluster;                   /* set by mp_import_places */
	mp_loc loc;                      /* the document's mapping */
	uint32_t dead;                   /* replaced by a later document with the same identity */
	uint32_t bad;                    /* an error was reported for it in pass 2 */
	mp_id ns_id;                     /* set by mp_import_elements */
} idoc;

/* A workload being imported (before it becomes an mp_workload). */
typedef struct {
	uint32_t doc;
	mp_id ns, cluster;
	mp_str name, kind, identity;
	mp_span labels;            /* in the model's label pool */
	yaml_node_t *annotations;  /* pod template's and object's, for meshpol.io/ keys */
	yaml_node_t *annotations2; /* the object's own (workloads); may be NULL */
	uint32_t mtls;             /* from PeerAuthentication */
	uint32_t mtls_doc;         /* the PeerAuthentication that set it, or UINT32_MAX */
	uint32_t svc[16];          /* services selecting it */
	uint32_t nsvc;
} iworkload;

/* A host resolved to a model element. */
typedef struct {
	uint32_t kind; /* mp_target_kind */
	mp_id id;      /* MP_NONE: not found */
} im_hostref;

typedef struct {
	mp_str host; /* lower case; may be a wildcard "*.example.com" */
	im_hostref ref;
} im_sehost;

struct mp_import {
	mp_model *m;
	mp_diags *d;
	const mp_import_opts *o;
	const mp_import_host *host;
	int oom;
	idoc *docs;
	uint32_t ndocs, cap;
	mp_str td;          /* trust domain */
	const char *rootns; /* root namespace */
	int multi_cluster;  /* documents span several clusters: route names carry @cluster */
	iworkload *wl;
	uint32_t nwl;
	mp_id first_service; /* the first service id the importer added (its services follow) */
	mp_id *gw_svc;       /* per document: the service standing for a Gateway, or MP_NONE */
	im_sehost *se_hosts; /* ServiceEntry hosts */
	uint32_t nse_hosts;
};

/* --- YAML --- */
yaml_node_t *im_node(idoc *dc, int id);
yaml_node_t *im_get(idoc *dc, yaml_node_t *map, const char *key); /* NULL when absent */
const char *im_scalar(const yaml_node_t *n);                      /* NULL unless a string */
/* YAML's null, and what a node is for messages ("a list", "null", ...): yamlload.h. */
static inline int im_is_null(const yaml_node_t *n)
{
	return mp_yaml_is_null(n);
}
static inline const char *im_kind_of(const yaml_node_t *n)
{
	return mp_yaml_kind_of(n);
}

#define IM_SEQ_FOREACH(dc, seq, item)                                                              \
	for (yaml_node_item_t *it_##item = (seq)->data.sequence.items.start;                       \
	     it_##item < (seq)->data.sequence.items.top &&                                         \
	     ((item) = im_node(dc, *it_##item)) != NULL;                                           \
	     it_##item++)
#define IM_MAP_FOREACH(dc, map, k, v)                                                              \
	for (yaml_node_pair_t *pr_##k = (map)->data.mapping.pairs.start;                           \
	     pr_##k < (map)->data.mapping.pairs.top && ((k) = im_node(dc, pr_##k->key)) != NULL && \
	     ((v) = im_node(dc, pr_##k->value)) != NULL;                                           \
	     pr_##k++)

mp_loc im_loc(const idoc *dc, const yaml_node_t *n);
mp_str im_intern(mp_import *im, const char *s);

/* Errors at a node ("file:line:col: KIND ns/name: message"); each returns -1. */
int im_error(mp_import *im, idoc *dc, const yaml_node_t *n, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void im_note(mp_import *im, idoc *dc, const yaml_node_t *n, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Typed reads: 0 with the value (or "absent": NULL / *set = 0), -1 after an error. */
int im_str(mp_import *im, idoc *dc, yaml_node_t *map, const char *key, int required,
           const char **out);
int im_u32(mp_import *im, idoc *dc, yaml_node_t *map, const char *key, uint32_t lo, uint32_t hi,
           uint32_t *out, int *set);
int im_seq(mp_import *im, idoc *dc, yaml_node_t *map, const char *key, int required,
           yaml_node_t **out);
int im_map(mp_import *im, idoc *dc, yaml_node_t *map, const char *key, int required,
           yaml_node_t **out);
/* A list of strings (a single string counts as one). n strings into out (at most max). */
int im_strs(mp_import *im, idoc *dc, yaml_node_t *map, const char *key, int required,
            const char **out, uint32_t max, uint32_t *n);
/* Keys of map must be among allowed (NULL-terminated); an unknown one is an error. */
int im_keys(mp_import *im, idoc *dc, yaml_node_t *map, const char *const *allowed,
            const char *what);
/* A duration ("5s", "250ms", "1.5s", "1m"): milliseconds. */
int im_duration(mp_import *im, idoc *dc, yaml_node_t *map, const char *key, uint32_t *ms, int *set);
/* A mapping of strings into the model's label pool. */
int im_labels(mp_import *im, idoc *dc, yaml_node_t *labels, mp_span *out);
/* A label or annotation value of metadata (labels first, then annotations), or NULL. */
const char *im_meta_value(idoc *dc, yaml_node_t *meta_or_annotations, const char *key);

/* The YAML node as JSON (plain scalars typed: integers, reals, booleans, null). */
json_t *im_json(idoc *dc, yaml_node_t *n);
/* Follows a '/'-separated path of keys and indexes from n; the deepest node reached. */
yaml_node_t *im_path(idoc *dc, yaml_node_t *n, const char *path);

/* --- the model --- */
void im_finding(mp_import *im, const char *code, uint32_t level, mp_loc loc, const char *subject,
                const char *fmt, ...) __attribute__((format(printf, 6, 7)));
/* "VirtualService default/reviews" into buf. */
const char *im_title(const mp_import *im, const idoc *dc, char *buf, size_t len);
const char *im_str_of(const mp_import *im, mp_str s);
/* The namespace id of name, created (implicitly) when missing. MP_NONE when out of memory. */
mp_id im_namespace(mp_import *im, mp_str name, mp_loc loc);
/* Are all labels of sel (a mapping node of doc dc) among the workload's? Empty: yes. */
int im_selector_matches(mp_import *im, idoc *dc, yaml_node_t *sel, const iworkload *w);
/* A `meshpol.io/mtls` style mode name -> mp_mtls, or 0. */
uint32_t im_mtls_mode(const char *s);
/* Data classes from meshpol.io/data-classes (comma- or dot-separated) appended to out. */
uint32_t im_data_classes(mp_import *im, const char *value, mp_str *out, uint32_t n, uint32_t max);

/* --- hosts (import_istio.c) --- */
/* Resolves a destination host as Istio does, relative to the namespace ns of the resource;
 * fqdn receives its canonical form. id MP_NONE when nothing in the model answers to it. */
im_hostref im_resolve_host(mp_import *im, const char *host, mp_str ns, char *fqdn, size_t len);
int im_host_covers(const char *pattern, const char *host); /* "*", "*.x.com" or exact */
void im_lower(const char *in, char *out, size_t len);

/* --- the kinds, in the order mp_import_elements and mp_import_routes call them --- */
void mp_import_k8s_namespaces(mp_import *im);
void mp_import_k8s_workloads(mp_import *im);   /* collects workloads (not in the model yet) */
void mp_import_istio_peer_auth(mp_import *im); /* PeerAuthentication -> workload mtls */
/* The namespace-wide (else mesh-wide) PeerAuthentication mode in a cluster, or UNSET. */
uint32_t mp_import_istio_ns_mtls(mp_import *im, mp_id ns, mp_id cluster);
void mp_import_k8s_services(mp_import *im);   /* Services -> model services */
void mp_import_istio_elements(mp_import *im); /* Gateways, ServiceEntries */
void mp_import_k8s_finish(mp_import *im);     /* workloads -> model (every service exists) */
void mp_import_istio_routes(mp_import *im);   /* VirtualServices -> routes */
void mp_import_istio_findings(mp_import *im); /* the analyzers */
/* Validates an AuthorizationPolicy; fills the lines of its rules. -1 after an error. */
int mp_import_istio_check_authz(mp_import *im, idoc *dc, json_t *spec, mp_span *lines);

#endif
