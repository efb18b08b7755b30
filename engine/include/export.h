/* export.h: the way off a mesh: the rules of the mesh the sources configure, written as another
 * mesh's resources, and the proof, by meshpol itself, that they allow the same: the sources
 * compiled again with the exported resources in place of the old mesh's, and every declared
 * route and a generated sample of undeclared requests decided by both. Design and the targets:
 * docs/import.md ("App Mesh", "The way off App Mesh").
 *
 * Ownership: the report is the caller's (json_decref). Nothing else outlives the call. */
#ifndef MP_EXPORT_H
#define MP_EXPORT_H

#pragma GCC visibility push(default) /* the engine's interface: exported */

#include "compile.h"
#include "diag.h"

#include <jansson.h>
#include <stdio.h>

/* Compiles sources (with opts, which may be NULL), writes the resources of target ("istio")
 * that carry over the rules of the mesh they configure to out (YAML), and checks them: *report
 * gets {"from", "to", "resources", "left_out": [{what, why}], "check": {"requests", "same",
 * "differ": [...], "unverified": [...]}}. 0 when the check found no difference, 1 when it found
 * some, -1 after an error in d (the sources do not compile, no provider of theirs exports, an
 * unknown target, out could not be written). */
int mp_export(const char *const *sources, size_t nsources, const mp_compile_opts *opts,
              const char *target, FILE *out, json_t **report, mp_diags *d);

#pragma GCC visibility pop

#endif
