/* diff.h: every decision that changes between two snapshots: a bundle change (the same model,
 * two bundles) or a mesh change (two models, one bundle). The requests are enumerated per
 * destination, per caller and per class of method, path, port and header that the rules of
 * either side (and the routes of either model) tell apart, each class decided by both
 * snapshots through one representative request; see docs/bundles-diff.md ("What is
 * enumerated") for the classes and what they cover. Implemented by engine/diff.c.
 *
 * Ownership: the snapshots are borrowed; the report is the caller's (json_decref). */
#ifndef MP_DIFF_H
#define MP_DIFF_H

#pragma GCC visibility push(default) /* the engine's interface: exported */

#include "diag.h"
#include "engine.h"

#include <jansson.h>

typedef struct {
	json_t *base, *head;   /* borrowed: the report's "base" and "head" ({"source", ...}); NULL:
	                          made from the snapshots */
	unsigned max_examples; /* per group; 0: 3 */
} mp_diff_opts;

/* Decides every class of request by base and head, and makes the report (changes.h): "kind":
 * "diff", "decided" (classes), "changed", "changes" (one per class whose decision changed:
 * "destination", "caller", "request", "class", "input" (a decision input for it), "base",
 * "head", "routes"), "groups", "rules", "routes" (each declared route target whose traffic
 * changes: "route", "target", "changed", "classes"), "dimensions" and "notes". The number of
 * changed classes, or -1 with the error in d (out of memory, a `when` that cannot be read). */
long mp_diff(mp_engine *base, mp_engine *head, const mp_diff_opts *opts, json_t **report,
             mp_diags *d);

#pragma GCC visibility pop

#endif
