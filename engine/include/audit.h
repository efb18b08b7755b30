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
#include "waiver.h"

#include <jansson.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>

/* What --fail-on names: an enforcement level or a severity. */
enum { MP_FAIL_ON_ENFORCEMENT = 0, MP_FAIL_ON_SEVERITY = 1 };

typedef struct {
	/* Findings at or above it, not waived, make the result "fail": an mp_enforcement, or an
	 * mp_severity when fail_on_by is MP_FAIL_ON_SEVERITY. An expired waiver fails it too. */
	uint32_t fail_on;
	uint32_t fail_on_by;
	int64_t now;                /* Unix seconds for the report's time; 0: the clock */
	const char *const *sources; /* the model's sources as given, for the report */
	uint32_t nsources;
	const char *only_policy; /* audit one policy only; NULL: all */
	/* The directory report locations are relative to: absolute and normalised, as
	 * mp_path_work_tree gives (pathbase.h). Files outside it are named absolutely. NULL: files
	 * as the model and the bundle name them, and no "base" in the audit. */
	const char *base;
	/* Where docs/ is published: the base of each rule's help_uri (docs/rules.md#ANCHOR). NULL:
	 * MP_DOCS_URL (audit_rules.h), this version's sources. */
	const char *docs_url;
	const mp_waivers *waivers; /* the bundle's waivers (waiver.h); NULL: none */
	/* Threads: 1 runs every row on the calling thread; otherwise the bundle's Lua checks run
	 * on a second thread beside the other rows when both have work (0: when the machine has
	 * two cores or more). The audit is the same either way, byte for byte. */
	uint32_t jobs;
	/* Called between steps (never from inside Lua), always on the calling thread, also when
	 * the Lua checks run on a second one (jobs). total is fixed for the run: the sum of the
	 * weights of the rows that run (check.h); done only grows, and reaches total at the end.
	 * The last call of each row names the row's id as its step (rows on two threads end in
	 * any order). */
	void (*progress)(void *ctx, const char *step, uint64_t done, uint64_t total);
	void *progress_ctx;
	/* The caller's stop request (NULL: none): once non-zero (a signal handler sets it) every
	 * row stops at its next step and the Lua checks at their next hook, on both threads, and
	 * the audit ends with no result (MP_AUDIT_INTERRUPTED). Read only; it must outlive the
	 * call. */
	const atomic_int *interrupt;
} mp_audit_opts;

/* mp_audit_stream's result when o->interrupt stopped the audit. */
#define MP_AUDIT_INTERRUPTED (-2)

/* Runs the audit on the evaluator's snapshot. Without a bundle, only the rows that need none run
 * (the import analyzers' findings) and the audit's "bundle" is null. Never stops at a failing
 * check: its error goes to "errors" and the rest still runs. NULL when out of memory or
 * interrupted (o->interrupt). */
json_t *mp_audit_run(mp_evaluator *ev, const mp_audit_opts *o);

/* A streamed audit's outcome (mp_audit_stream): the audit object without "findings" and
 * "rules", and the listed findings in a spool file (in $TMPDIR, else /tmp; unlinked at once),
 * to be read again one at a time. Owned by the caller: mp_audit_result_free. */
typedef struct mp_audit_result mp_audit_result;

/* Runs the audit and writes it to out as the json report (report.h: what mp_report_write writes
 * for mp_audit_run's object, byte for byte), findings streamed: each is written to the spool as
 * it is found, so memory holds the rules and the counts, never the findings. out NULL: no
 * report (the findings only go to the spool). 0 with *res set; -1 when out of memory or the
 * spool fails; MP_AUDIT_INTERRUPTED when o->interrupt stopped it (nothing written to out). A
 * write error shows in ferror(out). */
int mp_audit_stream(mp_evaluator *ev, const mp_audit_opts *o, FILE *out, mp_audit_result **res);
/* The audit object without "findings" and "rules" (borrowed from r). A caller may add members
 * to it (the trail's "trail", written before the report: docs/audit-format.md), which
 * mp_audit_result_write_json then writes. */
json_t *mp_audit_result_summary(const mp_audit_result *r);
/* Writes r as the json report, as mp_audit_stream writes it to out, the findings read back from
 * the spool (which can be read any number of times). -1 when out of memory or the spool cannot
 * be read back; a write error shows in ferror(out). */
int mp_audit_result_write_json(mp_audit_result *r, FILE *out);
/* Calls fn with each listed finding, in order (a new object, freed after the call); stops at
 * fn's first non-zero return and returns it; -1 when the spool cannot be read back. */
int mp_audit_result_findings(mp_audit_result *r, int (*fn)(void *ctx, json_t *finding), void *ctx);
void mp_audit_result_free(mp_audit_result *r); /* NULL is fine */

/* The name of a built-in analysis's pseudo-policy in findings ("meshpol.audit"). */
#define MP_AUDIT_POLICY "meshpol.audit"
/* The pseudo-policy of the importer's validation findings; their rule is the Istio analyzer
 * code (docs/import.md, "Findings"). */
#define MP_IMPORT_POLICY "meshpol.import"

#pragma GCC visibility pop

#endif
