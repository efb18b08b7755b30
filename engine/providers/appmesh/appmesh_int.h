/* appmesh_int.h: what App Mesh's importer files share: its kinds (by index into its kinds
 * table), its state for one import, and the functions one file calls in another:
 * provider_appmesh.c (the row), import_appmesh.c (phases, membership, the controller's CRDs),
 * terraform_appmesh.c (`terraform show -json`), record_appmesh.c (the normalized mesh: the
 * AppMesh record both forms write), analyze_appmesh.c (the analyzers). The normalized mesh
 * read back for decisions: appmesh_state.h. Mapping and semantics: docs/import.md ("App
 * Mesh"). */
#ifndef MP_APPMESH_INT_H
#define MP_APPMESH_INT_H

#include "appmesh_state.h"
#include "import_int.h"

/* The rows of mp_appmesh_kinds (a document's kind points at one). */
enum {
	AM_K_MESH,
	AM_K_VIRTUALNODE,
	AM_K_VIRTUALSERVICE,
	AM_K_VIRTUALROUTER,
	AM_K_VIRTUALGATEWAY,
	AM_K_GATEWAYROUTE,
	AM_K_BACKENDGROUP,
	/* the Terraform form: a resource of `terraform show -json` (terraform_appmesh.c) */
	AM_K_TF_MESH,
	AM_K_TF_VIRTUALNODE,
	AM_K_TF_VIRTUALSERVICE,
	AM_K_TF_VIRTUALROUTER,
	AM_K_TF_ROUTE,
	AM_K_TF_VIRTUALGATEWAY,
	AM_K_TF_GATEWAYROUTE,
	AM_K_KINDS
};
#define AM_K_TF_FIRST AM_K_TF_MESH

extern const mp_provider_kind mp_appmesh_kinds[AM_K_KINDS + 1];
extern const struct mp_provider_import mp_appmesh_import; /* import_appmesh.c */
extern const mp_check_row mp_appmesh_analyzers[];         /* analyze_appmesh.c */
extern const struct mp_provider_form mp_appmesh_form;     /* terraform_appmesh.c */

static inline uint32_t appmesh_kind(const idoc *dc)
{
	return (uint32_t)(dc->kind - mp_appmesh_kinds);
}
static inline int appmesh_is(const idoc *dc, uint32_t kind)
{
	return dc->kind == &mp_appmesh_kinds[kind];
}
static inline int appmesh_tf(const idoc *dc)
{
	return appmesh_kind(dc) >= AM_K_TF_FIRST && appmesh_kind(dc) < AM_K_KINDS;
}

/* The App Mesh objects one import holds, form aside: each a document (or a Terraform
 * resource), the mesh it belongs to and its App Mesh name. */
typedef struct {
	uint32_t doc;  /* im->docs */
	uint32_t kind; /* AM_K_MESH ... AM_K_GATEWAYROUTE (the CRD kind, for both forms) */
	const char *mesh, *name;
	const char *router; /* a Terraform route's virtual router, a gateway route's gateway */
	uint32_t gateway;   /* a CRD GatewayRoute's gateway (its object), AM_NONE: none */
	int dropped;        /* left out (no mesh, no gateway): reported */
} am_object;

/* A mesh under construction: its objects (indexes into the state's objects) by kind. */
typedef struct {
	const char *name;
	uint32_t self; /* its Mesh object, AM_NONE: only referred to (Terraform, no resource) */
	uint32_t *objs;
	uint32_t nobjs;
	json_t *record; /* the normalized mesh (record_appmesh.c), NULL until the ROUTES phase */
	mp_str *files;  /* the record's file table ("at": [k, line] -> files[k]) */
	uint32_t nfiles;
} am_build;

/* App Mesh's state for one import (im_state), owned by the importer. */
typedef struct {
	int present;            /* the sources hold App Mesh objects */
	int off;                /* option import=off: its documents are left unread */
	int allow_all_backends; /* option allow-all-with-backends: allow (the user guide's
	                         * reading) instead of refuse (the API reference's) */
	am_object *objs;
	uint32_t nobjs, capobjs;
	am_build *meshes;
	uint32_t nmeshes;
	/* per document of im->docs: the node or gateway object that a workload document's pods
	 * belong to (AM_NONE: none), whether they are injected; filled in the CLUSTERS phase */
	uint32_t *pod_owner;
	uint8_t *pod_injected;
	uint8_t *pod_refused; /* the webhook would refuse the pod (1: no node, 2: several) */
	mp_amstate *view;     /* the records read back, for the analyzers */
	mp_arena ar;          /* the objects' names (model strings move as the model grows) */
	uint32_t ndocs;
} appmesh_state;

static inline appmesh_state *appmesh_of(const mp_import *im)
{
	return im_state(im, &mp_provider_appmesh);
}

/* --- import_appmesh.c --- */

/* The namespace's labels of dc's cluster (its Namespace document), or NULL. */
yaml_node_t *mp_appmesh_ns_labels(mp_import *im, mp_str ns, mp_id cluster, idoc **nsdoc);
/* Does a Kubernetes label selector node (matchLabels, matchExpressions) of document dc
 * select the labels (a mapping node of document ldc)? An absent selector selects nothing. */
int mp_appmesh_selects(mp_import *im, idoc *dc, yaml_node_t *sel, idoc *ldc, yaml_node_t *labels);
/* The node at the keys after n (NULL-terminated), each a mapping's; NULL when one is absent
 * or the last is null. */
yaml_node_t *mp_appmesh_get(idoc *dc, yaml_node_t *n, ...);
/* n's mapping at key, or the first item of the list there (Terraform writes every nested
 * block as a list); NULL when there is neither. */
yaml_node_t *mp_appmesh_block(idoc *dc, yaml_node_t *n, const char *key);
/* The CRD object of kind named ns/name (the controller's references), AM_NONE when none. */
uint32_t mp_appmesh_find_cr(mp_import *im, uint32_t kind, mp_str ns, const char *name);
/* The first SDS certificate's SAN of a CRD VirtualNode (its identity), or NULL. */
const char *mp_appmesh_node_identity(mp_import *im, idoc *dc);
/* Does a virtual service's name stand for a host outside the cluster (an external)? */
int mp_appmesh_vs_external(mp_import *im, const am_object *o);
/* The records of every mesh (record_appmesh.c): st->meshes[].record, the model's routes. */
void mp_appmesh_records(mp_import *im, appmesh_state *st);
/* Checks a match's regular expression (node n) as App Mesh's Envoy reads it (RE2): an error
 * at n when RE2 refuses it. */
void mp_appmesh_regex(mp_import *im, idoc *dc, yaml_node_t *n);
/* JSON helpers of the record: a string or null; a key set unless the value is null (then
 * freed); the strings of a list; a TLS validation context with its SAN list at sans_key
 * (subjectAlternativeNames or subject_alternative_names) .match.exact. */
json_t *mp_am_js(const char *s);
void mp_am_set(json_t *o, const char *key, json_t *v);
json_t *mp_am_strings(idoc *dc, yaml_node_t *seq);
json_t *mp_am_validation(mp_import *im, am_build *b, idoc *dc, yaml_node_t *v,
                         const char *sans_key);
/* The workloads whose pods run for object k: [[workload, injected, service account]]; and
 * the Services in front of them: [[service, [[port, target], ...]]]. */
json_t *mp_appmesh_pods(mp_import *im, uint32_t k);
json_t *mp_appmesh_fronts(mp_import *im, json_t *pods);

/* The object of kind named name (App Mesh name) in mesh, AM_NONE when none. */
uint32_t mp_appmesh_find(const appmesh_state *st, const char *mesh, uint32_t kind,
                         const char *name);
/* "at": [k, line] of node n of document dc in the record of b (the file added to b's table). */
json_t *mp_appmesh_at(mp_import *im, am_build *b, idoc *dc, yaml_node_t *n);

/* --- terraform_appmesh.c --- */

/* The Terraform resources' objects (mesh and App Mesh name), from their values, else
 * the configuration's references (a plan's unknown values). 0, or -1 after an error. */
int mp_appmesh_tf_object(mp_import *im, uint32_t doc, am_object *o);
/* Terraform resource object k of mesh b into its record (b->record). */
void mp_appmesh_tf_put(mp_import *im, am_build *b, uint32_t k);

#endif
