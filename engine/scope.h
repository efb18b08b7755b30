/* scope.h: the scope of an audit (engine/scope.c): what the model covers, as the audit's
 * "scope" object (docs/audit-format.md), and the jurisdiction a cluster is in, which the
 * picture of the mesh (meshdot.c) groups by. Private to the engine. */
#ifndef MP_SCOPE_H
#define MP_SCOPE_H

#include "model.h"

#include <jansson.h>

/* {"meshes": [...], "clusters": [{name, cloud, region, jurisdiction?}], "jurisdictions":
 * [{name, regions}], "counts": {...}}: a new reference, NULL when out of memory. */
json_t *mp_scope_json(const mp_model *m);
/* The name of the jurisdiction whose regions hold the cluster's region; NULL when none does.
 * Borrowed from the model. */
const char *mp_scope_cluster_jurisdiction(const mp_model *m, mp_id cluster);

#endif
