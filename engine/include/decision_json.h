/* decision_json.h: the decision output (DESIGN.md, "Decision output") as JSON bytes: the one
 * encoder of a decision. The server writes it straight into its replies and log records;
 * mp_decision_json (decide.h), which `meshpol decide`, the shell and the test runner use, parses
 * its bytes. Design: docs/architecture.md ("Decisions"). */
#ifndef MP_DECISION_JSON_H
#define MP_DECISION_JSON_H

#pragma GCC visibility push(default) /* the engine's interface: exported */

#include "decide.h"
#include "jsonbuf.h"

typedef enum {
	/* the decision output's own key order: decision_id, allow, effect, reasons,
	 * reasons_dropped (when some were), advisories (when any), bundle, model; each reason
	 * policy, version, rule, effect, message, source, via (when set), the engine's own
	 * policy, rule, effect, message. Compact: json_dumps(..., JSON_COMPACT |
	 * JSON_PRESERVE_ORDER) of the same values gives the same bytes. */
	MP_DECISION_JSON_OUTPUT = 0,
	/* every object's keys sorted: the trail's canonical content (the decision log), as
	 * JSON_COMPACT | JSON_SORT_KEYS gives it; set b->ascii for JSON_ENSURE_ASCII. */
	MP_DECISION_JSON_SORTED = 1,
} mp_decision_json_form;

/* Appends the decision output object of d, decided against e, with the decision id given
 * (NULL is written as ""), in the form given. Every reason kind is written: a bundle rule's, an
 * imported AuthorizationPolicy's, the engine's own (mp_decision_reason says what each shows).
 * Allocates only when b must grow; check b->oom once afterwards. */
void mp_decision_json_write(mp_jsonbuf *b, const mp_engine *e, const mp_decision *d, const char *id,
                            mp_decision_json_form form);

#pragma GCC visibility pop

#endif
