/* compile.h: YAML sources -> compiled mesh model. Native format: docs/mesh-format.md; design:
 * docs/architecture.md ("Compiling"). Every problem is collected as a diagnostic with
 * file:line:col; see diag.h. YAML loading is yamlload.h's, durations and times scalar.h's. */
#ifndef MP_COMPILE_H
#define MP_COMPILE_H

#pragma GCC visibility push(default) /* the engine's interface: exported */

#include "diag.h"
#include "model.h"

#include <stddef.h>
#include <stdint.h>

#define MP_COMPILE_MAX_FILE (64u << 20) /* default cap on one YAML file's size */

/* A directory whose Kubernetes and Istio documents belong to one cluster (--cluster-dir). */
typedef struct {
	const char *name, *dir;
} mp_cluster_dir;

/* One mesh provider's option (provider.h: its row lists them), as name = value: {"istio",
 * "root-namespace", "mesh-root"}. Strings are borrowed. */
typedef struct mp_provider_setting {
	const char *provider, *name, *value;
} mp_provider_setting;

typedef struct {
	size_t max_file_bytes; /* 0: MP_COMPILE_MAX_FILE */
	int follow_symlinks;   /* read symbolic links out of a source directory (files.h) */
	/* Imports (docs/import.md). Every field may be NULL / 0. */
	const char *trust_domain; /* of imported identities; NULL: cluster.local */
	const char *cluster;      /* the cluster imported documents belong to (--cluster) */
	const char *cloud, *region,
	    *zone; /* that cluster's, when no Cluster document declares it */
	const mp_cluster_dir *cluster_dirs; /* one cluster per directory; the directories must
	                                     * also be among the sources */
	uint32_t ncluster_dirs;
	/* the mesh providers' options; one not given takes its row's default */
	const mp_provider_setting *provider_opts;
	uint32_t nprovider_opts;
	/* An analysis (`meshpol audit`): a document a provider's importer finds malformed is a
	 * finding (SchemaValidationError) instead of an error, and the rest is analysed; a
	 * compile stays strict (docs/import.md, "Which documents are imported"). */
	int analyze;
} mp_compile_opts;

/* Compiles files and directories (recursively: *.yaml and *.yml, in sorted order, skipping
 * names that start with '.'). Returns a finished model, or NULL when any error was reported
 * into d (all of them, not just the first). opts may be NULL. The caller owns the model. */
mp_model *mp_compile(const char *const *paths, size_t npaths, const mp_compile_opts *opts,
                     mp_diags *d);

/* MODEL as the CLI takes it: a compiled .mpm file (recognised by its magic) or YAML sources (a
 * file or a directory). NULL with diagnostics in d. */
mp_model *mp_model_open(const char *path, mp_diags *d);
/* The same with options for YAML sources (opts may be NULL; an .mpm file ignores them). */
mp_model *mp_model_open_opts(const char *path, const mp_compile_opts *opts, mp_diags *d);

/* As mp_compile, for one in-memory document stream named name (used by tests and importers). */
mp_model *mp_compile_string(const char *name, const char *yaml, size_t len, mp_diags *d);

#pragma GCC visibility pop

#endif
