/* audit.h: whole-model checks -> findings. Runs the audit rows of the check table (check.h):
 * every policy's `check` functions in the sandbox, the engine's own analyses of the compiled
 * rules (residency paths, over-broad grants, bindings to unknown identities, unbound roles,
 * declared routes the policies deny) and the findings the import analyzers stored in the model,
 * and returns the audit as one JSON object (docs/audit-format.md), which the report writers
 * (report.h) and the trail consume. */
#ifndef MP_AUDIT_H
#define MP_AUDIT_H

#pragma GCC visibility push(default) /* the engine's interface: exported */

#include "engine.h"

#include <jansson.h>
#include <stdint.h>

typedef struct {
	uint32_t fail_on; /* mp_enforcement: findings at or above it make the result "fail" */
	int64_t now;      /* Unix seconds for the report's time; 0: the clock */
	const char *const *sources; /* the model's sources as given, for the report */
	uint32_t nsources;
	const char *only_policy; /* audit one policy only; NULL: all */
	/* Called between steps (never from inside Lua). total is fixed for the run: the sum of the
	 * weights of the rows that run (check.h); done only grows, and reaches total at the end.
	 * The last call of each row names the row's id as its step. */
	void (*progress)(void *ctx, const char *step, uint64_t done, uint64_t total);
	void *progress_ctx;
} mp_audit_opts;

/* Runs the audit on the evaluator's snapshot. Without a bundle, only the rows that need none run
 * (the import analyzers' findings) and the audit's "bundle" is null. Never stops at a failing
 * check: its error goes to "errors" and the rest still runs. NULL only when out of memory. */
json_t *mp_audit_run(mp_evaluator *ev, const mp_audit_opts *o);

/* The name of a built-in analysis's pseudo-policy in findings ("meshpol.audit"). */
#define MP_AUDIT_POLICY "meshpol.audit"
/* The pseudo-policy of the importer's validation findings; their rule is the Istio analyzer
 * code (docs/import.md, "Findings"). */
#define MP_IMPORT_POLICY "meshpol.import"

#pragma GCC visibility pop

#endif
