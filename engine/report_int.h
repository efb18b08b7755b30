/* report_int.h: the inside of the report writers, shared by report.c (reading the audit,
 * escaping, the table of formats, json) and one file per other format: report_text.c,
 * report_junit.c, report_sarif.c and report_markdown.c. The formats' decisions:
 * report.h. A writer reads the audit only through an audit_index, which borrows the audit. */
#ifndef MP_REPORT_INT_H
#define MP_REPORT_INT_H

#include "report.h"

#include <jansson.h>
#include <stddef.h>
#include <stdio.h>

/* ---- Reading the audit ---- */

#define RP_NSEV 5 /* severity ranks 0..4; RP_NSEV ranks any other severity */
extern const char *const rp_sev_names[RP_NSEV]; /* "critical" .. "info" */
extern const char *const rp_sev_upper[RP_NSEV]; /* "CRITICAL" .. "INFO" */
extern const char *const rp_sev_title[RP_NSEV]; /* "Critical" .. "Info" */

/* Every rule the report shows: the rules[] entries, then the (policy, rule) pairs that only
 * findings or errors name. Slots are grouped by policy, in the order policies first appear. */
typedef struct {
	const char *policy, *rule; /* borrowed from the audit; "" when absent */
	json_t *def;               /* its rules[] entry; NULL if only findings or errors name it */
	size_t pol;                /* its policy: an index in ix->pols */
	size_t f_off, f_n;         /* its findings: ix->f_by_slot[f_off .. f_off + f_n) */
	size_t e_off, e_n;         /* its errors: ix->e_by_slot[e_off .. e_off + e_n) */
	size_t w_n;                /* how many of its findings a waiver accepts */
} rule_slot;

typedef struct {
	const char *name;  /* borrowed; "" when absent */
	json_t *def;       /* its policies[] entry, or NULL */
	size_t s_off, s_n; /* its rules: ix->slots[s_off .. s_off + s_n) */
} pol_slot;

/* Borrows the audit, which must outlive it; owns the arrays. Zero-initialise, index_free. */
typedef struct {
	const mp_report_opts *opts; /* never NULL inside a writer */
	json_t *audit, *policies, *rules, *findings, *errors, *counts;
	const char *fail_on, *result;
	pol_slot *pols;
	rule_slot *slots;
	size_t npols, nslots;
	size_t *f_slot, *e_slot; /* per finding / error: its slot */
	size_t *f_by_slot,
	    *e_by_slot;              /* finding / error indices grouped by slot, audit order kept */
	size_t *f_by_sev;            /* finding indices by severity rank, audit order kept */
	size_t sev_off[RP_NSEV + 2]; /* rank r holds f_by_sev[sev_off[r] .. sev_off[r + 1]) */
} audit_index;

/* A string field of o, "" when missing or not a string; an integer field, 0 when missing. */
const char *rp_str(json_t *o, const char *key);
long long rp_int(json_t *o, const char *key);
/* Severity rank (critical 0 .. info 4, anything else RP_NSEV); enforcement rank (advisory 0,
 * soft 1, anything else 2: unknown enforcement counts as hard, so it fails closed). */
int rp_sev_rank(const char *s);
int rp_enf_rank(const char *s);
int rp_in_array(json_t *arr, const char *s); /* does the array hold the string s? */
int rp_is_hex(const char *s);
const char *rp_plural(long long n, const char *one, const char *many);

json_t *rp_finding(audit_index *ix, size_t i);  /* findings[i], borrowed */
json_t *rp_error_at(audit_index *ix, size_t i); /* errors[i], borrowed */
/* A field of a rule: its rules[] entry's, else its policy's ("" when neither has it). */
const char *rp_slot_str(audit_index *ix, const rule_slot *s, const char *key);
/* A rule's controls (its entry's, else its policy's); a finding's (its own, else its rule's). */
json_t *rp_slot_controls(audit_index *ix, const rule_slot *s);
json_t *rp_finding_controls(audit_index *ix, size_t i);
int rp_slot_errored(const rule_slot *s);
int rp_slot_failed(const rule_slot *s); /* failed (findings not all waived), no error */
/* Finding i is not waived and at or above fail_on (an enforcement level or a severity). */
int rp_blocking(audit_index *ix, size_t i);
int rp_blocking_finding(audit_index *ix, json_t *f); /* the same for a finding given */
json_t *rp_waiver(audit_index *ix, size_t i);        /* finding i's "waiver", or NULL */
/* Does fail_on name a severity (critical .. low) rather than an enforcement level? */
int rp_fail_on_severity(const audit_index *ix);

/* ---- Controls: what markdown and html say of each (report.h, "markdown") ---- */

typedef struct {
	size_t rules, findings, blocking; /* rules carrying it; findings and blocking attributed */
	int errored;
} rp_control_state;

/* Every control a policy, a rule or a finding names, in natural order (A.9 before A.13),
 * borrowed from the audit; *n of them, in an array the caller frees with mp_free. NULL when
 * there are none, and when out of memory (then *bad is set). */
const char **rp_collect_controls(audit_index *ix, size_t *n, int *bad);
rp_control_state rp_control_of(audit_index *ix, const char *control);
const char *rp_control_status(const rp_control_state *st); /* FAIL, ERROR, NOT TESTED, PASS */
/* The k-th finding of slot s if it is attributed to control c, else SIZE_MAX. */
size_t rp_attributed(audit_index *ix, const rule_slot *s, const char *c, size_t k);

/* ---- Escaping untrusted text (report.h says what each mode escapes) ---- */

typedef enum {
	ESC_TERM,       /* one terminal line */
	ESC_TERM_BLOCK, /* terminal text indented by 4: a newline continues the indentation */
	ESC_XML_TEXT,
	ESC_XML_ATTR,
	ESC_MD, /* markdown inline text: a table cell, a heading or a list item */
} esc_mode;

void rp_put(FILE *out, const char *s, esc_mode mode);
/* "policy/rule", or "policy" for an error that names no rule. */
void rp_put_id(FILE *out, const char *policy, const char *rule, esc_mode mode);
/* "file:line" (":line" only when positive); 0 and nothing written when loc names no file. */
int rp_put_loc(FILE *out, json_t *loc, esc_mode mode);
/* "at FILE:LINE (rule at FILE:LINE)", either half when the other is missing; 0 if neither. */
int rp_put_where(FILE *out, json_t *loc, json_t *rule_loc, esc_mode mode);
void rp_put_list(FILE *out, json_t *arr, const char *sep, esc_mode mode); /* strings, joined */

/* ---- The writers: one per format, each in its own file; -1 when out of memory ---- */

int rp_write_text(audit_index *ix, FILE *out, int color); /* report_text.c */
/* The text report of a streamed audit (mp_report_write_result): ix indexes its summary (no
 * findings, no rules); the findings are read once from r's spool, each printed into the file
 * of its severity, and the files copied out in order. -1 when out of memory or the spool or a
 * temporary file fails. */
struct mp_audit_result;
int rp_write_text_stream(audit_index *ix, struct mp_audit_result *r, FILE *out, int color);
int rp_write_junit(audit_index *ix, FILE *out, int color);    /* report_junit.c */
int rp_write_sarif(audit_index *ix, FILE *out, int color);    /* report_sarif.c */
int rp_write_markdown(audit_index *ix, FILE *out, int color); /* report_markdown.c */
int rp_write_html(audit_index *ix, FILE *out, int color);     /* report_html.c */

/* The scope rows markdown and html share: one (label, value) pair at a time, the value already
 * joined from the audit's "scope" and "trail" (unescaped; the callback escapes it, and must not
 * keep value, which is freed after the call). -1 when out of memory. */
int rp_scope_rows(audit_index *ix, void (*row)(void *ctx, const char *label, const char *value),
                  void *ctx);

#endif
