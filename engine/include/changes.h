/* changes.h: decisions that change between two versions of a bundle or a mesh: how two
 * decisions are compared, and the report `meshpol diff` and `meshpol replay` write (text, json,
 * markdown), grouped by destination and by the rules that change. The report's shape and the
 * comparison: docs/bundles-diff.md ("Reports"). Implemented by engine/changes.c.
 *
 * Ownership: every json_t returned is a new reference the caller releases; arguments are
 * borrowed. */
#ifndef MP_CHANGES_H
#define MP_CHANGES_H

#pragma GCC visibility push(default) /* the engine's interface: exported */

#include "decide.h"

#include <jansson.h>
#include <stdio.h>

/* Do two decisions (each of its own snapshot) say the same? The same effect, and their
 * reasons cite the same rules (policy and rule names; not messages, versions or locations,
 * which a change that alters no decision may touch). Advisories are not compared. No
 * allocation: the server's shadow calls it per request. */
int mp_decision_same(const mp_engine *a, const mp_decision *da, const mp_engine *b,
                     const mp_decision *db);

/* A decision as a report shows it: {"effect", "rules": ["policy/rule", ...]} (sorted, each
 * once); from a decision made now, or from a decision output as a decision log holds it (NULL
 * when it is not one: no effect). */
json_t *mp_decision_summary(const mp_engine *e, const mp_decision *d);
json_t *mp_decision_summary_of_output(json_t *output);

/* The report: {"kind", "base", "head", "decided", "changed", "changes": [...], "notes": [...]}
 * made by the caller, each change {"destination", "caller", "request", "base", "head", ...};
 * mp_changes_group adds "groups" (by destination, effects and the rules that differ: count and
 * up to max_examples indexes into changes) and "rules" (each rule that a change adds or drops,
 * with its count), in a stable order. */
void mp_changes_group(json_t *report, unsigned max_examples);

/* Writes the report in format ("text", "json" or "markdown"). 0, -1 with an unknown format (err
 * says which exist) or a failed write. */
int mp_changes_write(json_t *report, const char *format, FILE *out, char *err, size_t errlen);
/* Is format one mp_changes_write knows? */
int mp_changes_format_known(const char *format);

#pragma GCC visibility pop

#endif
