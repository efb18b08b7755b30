/* import.h: the documents of the mesh providers (Kubernetes, Istio: provider.h) -> model
 * elements, for the compiler (compile.c). A document whose apiVersion is not meshpol.io/v1 is
 * handed to the importer in pass 1; the importer keeps its YAML until pass 2, when the
 * providers' import phases (import_int.h) turn everything into clusters, namespaces, services,
 * workloads, externals, routes, resources and findings. Mapping and decisions: docs/import.md;
 * the phases: docs/architecture.md ("Importing through providers"). Internal to the engine.
 *
 * Pass 2 runs in four steps, interleaved with the native compiler's own:
 *   mp_import_places      clusters of imported documents; phase CLUSTERS (before native
 *                         services resolve)
 *   mp_import_namespaces  phase NAMESPACES (before native services resolve)
 *   mp_import_elements    phases WORKLOADS, WORKLOAD_POLICY, SERVICES, ELEMENTS: services,
 *                         workloads, externals (after native services and externals; the
 *                         model is finished, so its lookups work)
 *   mp_import_routes      phase ROUTES, the analyzers, phase RESOURCES: routes, findings,
 *                         resources (after native routes)
 */
#ifndef MP_IMPORT_H
#define MP_IMPORT_H

#include "compile.h"
#include "diag.h"
#include "model.h"

#include <stdint.h>
#include <yaml.h>

typedef struct mp_import mp_import;

/* Names the importer declares and looks up in the compiler's table of names (duplicates are
 * reported the same way for native and imported elements). */
enum {
	MP_IMPORT_CLUSTER = 1,
	MP_IMPORT_NAMESPACE,
	MP_IMPORT_SERVICE,
	MP_IMPORT_EXTERNAL,
	MP_IMPORT_ROUTE
};

typedef struct {
	void *ctx;
	/* The id of a declared element (kind, a, b as the compiler keys them: a service is
	 * (namespace id, name)), or MP_NONE. */
	mp_id (*lookup)(void *ctx, int kind, uint32_t a, uint32_t b);
	/* Declares an element; reports a duplicate (and returns -1) when the name is taken. */
	int (*declare)(void *ctx, int kind, uint32_t a, uint32_t b, mp_id id, mp_loc loc,
	               const char *what);
} mp_import_host;

/* A directory whose documents belong to one cluster (--cluster-dir). */
typedef struct {
	const char *name, *dir;
} mp_import_dir;

/* What the importer takes of the compiler's options (mp_compile_opts, compile.h), which fills it
 * in. Every field may be NULL / 0; the strings are borrowed. */
typedef struct {
	const char *trust_domain;          /* of imported identities; NULL: cluster.local */
	const char *cluster;               /* the cluster imported documents belong to */
	const char *cloud, *region, *zone; /* its own, when no Cluster document declares it */
	const mp_import_dir *cluster_dirs; /* one cluster per directory */
	uint32_t ncluster_dirs;
	const mp_provider_setting *provider_opts; /* the mesh providers' options */
	uint32_t nprovider_opts;
	int analyze; /* errors in documents are findings (mp_compile_opts.analyze) */
} mp_import_opts;

/* opts may be NULL; it and host must outlive the importer. */
mp_import *mp_import_new(mp_model *m, mp_diags *d, const mp_import_opts *opts,
                         const mp_import_host *host);
void mp_import_free(mp_import *im); /* NULL is fine; frees every YAML document it kept */

/* Pass 1: a document with a foreign apiVersion, or in a provider's form. Returns 1
 * when the importer kept the document (the caller must not delete it); 0 when it was skipped
 * with a note (unknown kind or group) or refused with an error. file is the interned file name;
 * path the file's path. */
int mp_import_document(mp_import *im, yaml_document_t *doc, mp_str file, const char *path);
/* Is root, a document without apiVersion and kind, in a form a provider reads (import_int.h,
 * struct mp_provider_form: one resource, a list of them, or a document of many)? The native
 * compiler hands such documents to the importer. */
int mp_import_is_form(yaml_document_t *doc, const yaml_node_t *root);

void mp_import_places(mp_import *im);
void mp_import_namespaces(mp_import *im);
void mp_import_elements(mp_import *im);
void mp_import_routes(mp_import *im);
int mp_import_failed(const mp_import *im); /* out of memory */

#endif
