/* check.h: the table of audit checks. One row per built-in analysis of the auditor and per
 * analyzer of a mesh provider: its id, the compliance controls it maps to, its cost weight for
 * the progress bar and its function. Design: docs/architecture.md ("Audit checks").
 *
 * A check runs in one of two phases. Audit rows run in mp_audit_run, in table order, over the
 * model and (when they need one) the bundle; the progress total is the sum of the weights of
 * the audit rows that run. Import rows run while a model is compiled, over the documents the
 * importer keeps (after the routes, import.h): their findings are stored in the model (and the
 * .mpm) and the audit row "import-findings" reports them under the policy "meshpol.import". A
 * row with no function is a check its provider's importer makes inline while it maps the
 * documents; it is listed for its codes and controls.
 *
 * The tables are constant data with static storage; nothing here allocates or is freed. */
#ifndef MP_CHECK_H
#define MP_CHECK_H

#include <stdint.h>

typedef struct mp_audit_ctx mp_audit_ctx; /* an audit in progress (audit.c) */
typedef struct mp_import mp_import;       /* an import in progress (import.h) */

typedef enum {
	MP_CHECK_AUDIT = 0, /* runs in mp_audit_run */
	MP_CHECK_IMPORT,    /* runs while a model is compiled; findings kept in the model */
} mp_check_phase;

enum {
	MP_CHECK_NEEDS_BUNDLE = 1u << 0, /* audit rows: skipped by an audit without a bundle */
};

typedef struct mp_check_row mp_check_row;
struct mp_check_row {
	const char
	    *id; /* unique across every table ("residency", "istio.sidecars"); NULL ends one */
	/* The compliance controls of the findings the row reports under a pseudo-policy of its own
	 * ("meshpol.audit", "meshpol.import"), NULL-terminated, or NULL for none. Rows that
	 * evaluate a bundle's rules report under those rules' policies, with their controls. */
	const char *const *controls;
	/* Import rows: the finding codes it reports (NULL-terminated); an import finding's rule
	 * ("meshpol.import/CODE") carries the controls of every row that lists its code. */
	const char *const *codes;
	/* Audit rows: its share of the progress bar, relative to the others' (an estimate of its
	 * cost). Import rows: 0, as compiling shows no progress. */
	uint32_t weight;
	uint32_t phase; /* mp_check_phase */
	uint32_t flags; /* MP_CHECK_* */
	/* Audit rows: does it run in this audit (it has work selected)? NULL: whenever its flags
	 * allow. Never called without a bundle for a row that needs one. */
	int (*applies)(const mp_audit_ctx *a);
	void (*audit)(mp_audit_ctx *a); /* the audit row's function */
	void (*import)(mp_import *im);  /* the import row's function; NULL: made inline */
};

/* A row's codes: MP_CHECK_CODES("A", "B"), a NULL-terminated list (static at file scope). */
#define MP_CHECK_CODES(...) ((const char *const[]){__VA_ARGS__, NULL})

/* The tables, each ended by a row whose id is NULL: the auditor's own, and each mesh
 * provider's analyzers, which its row names (mp_provider.analyzers, provider.h). */
extern const mp_check_row mp_audit_checks[]; /* audit.c */

/* Every row of every table, in run order: the auditor's, then each provider's in the order of
 * mp_providers[]; i from 0 while the result is not NULL. */
const mp_check_row *mp_check_at(uint32_t i);
/* The row named id, or NULL. */
const mp_check_row *mp_check_find(const char *id);
/* Does an import row list code? Then the first such row (later ones via after), else NULL. */
const mp_check_row *mp_check_for_code(const char *code, const mp_check_row *after);

#endif
