/* replay.h: a decision log (`meshpol serve --decision-log`, docs/server.md) decided again under
 * another snapshot (a candidate bundle): which logged decisions it would change. The report is
 * that of changes.h, with each change's log line. docs/bundles-diff.md ("Replaying a decision
 * log"). Implemented by engine/replay.c.
 *
 * Ownership: ev is borrowed; the report is the caller's (json_decref). */
#ifndef MP_REPLAY_H
#define MP_REPLAY_H

#pragma GCC visibility push(default) /* the engine's interface: exported */

#include "diag.h"
#include "engine.h"

#include <jansson.h>

typedef struct {
	json_t *head;          /* borrowed: the report's "head" ({"source", ...}); NULL: made */
	unsigned max_examples; /* per group; 0: 3 */
} mp_replay_opts;

/* Reads every record of the log at path (JSON Lines, the trail's framing) and decides the
 * input of each `decision` record with ev; a decision that differs from the logged one (its
 * effect, or the rules its reasons cite: mp_decision_same) is a change. Other record types are
 * skipped; the chain is not checked (`meshpol verify` does that). The number of changes, or -1
 * with the error in d at PATH:LINE (a line that is not JSON, with its column; a torn last line;
 * a decision record without its input or decision; an input that does not read as a decision
 * input; a file that cannot be read). */
long mp_replay(const char *path, mp_evaluator *ev, const mp_replay_opts *opts, json_t **report,
               mp_diags *d);

#pragma GCC visibility pop

#endif
