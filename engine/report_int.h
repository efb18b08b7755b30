/* report_int.h: the inside of the report writers, shared by report.c (reading the audit,
 * escaping, the table of formats, json) and one file per other format: report_text.c,
 * report_junit.c, report_sarif.c and report_markdown.c. The formats' decisions:
 * report.h. A writer reads the audit only through an audit_index, which borrows the audit. */
#ifndef MP_REPORT_INT_H
#define MP_REPORT_INT_H

#include "report.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* ---- Reading the audit ---- */

#define RP_NSEV 5 /* severity ranks 0..4; RP_NSEV ranks any other severity */
extern const char *const rp_sev_names[RP_NSEV]; /* "critical" .. "info" */
extern const char *const rp_sev_upper[RP_NSEV]; /* "CRITICAL" .. "INFO" */
extern const char *const rp_sev_title[RP_NSEV]; /* "Critical" .. "Info" */

/* Every rule the report shows: the rules[] entries (a streamed audit's rule records), then the
 * (policy, rule) pairs that only findings or errors name. Slots are grouped by policy, in the
 * order policies first appear. */
typedef struct {
	const char *policy, *rule; /* borrowed from the audit or the records; "" when absent */
	json_t *def;               /* the tree's rules[] entry; NULL when streamed or not listed */
	uint32_t rec;              /* streamed: 1 + the index of its rule record; 0 when none */
	/* its entry's fields ("" when absent, or when only findings or errors name it) */
	const char *type, *status, *severity, *enforcement;
	json_t *controls;  /* its entry's "controls" (borrowed), or NULL */
	size_t pol;        /* its policy: an index in ix->pols */
	size_t f_n, w_n;   /* its listed findings; how many of them a waiver accepts */
	size_t e_off, e_n; /* its errors: ix->e_by_slot[e_off .. e_off + e_n) */
} rule_slot;

typedef struct {
	const char *name;  /* borrowed; "" when absent */
	json_t *def;       /* its policies[] entry, or NULL */
	size_t s_off, s_n; /* its rules: ix->slots[s_off .. s_off + s_n) */
} pol_slot;

/* Borrows the audit (the tree, or a streamed audit's result), which must outlive it; owns the
 * arrays. Holds nothing per finding: the findings are read again, one at a time, by each pass
 * a writer makes (rp_scan). Zero-initialise, index_free. */
typedef struct {
	const mp_report_opts *opts; /* never NULL inside a writer */
	/* the audit object (a streamed one's summary: no "findings", no "rules") and its parts */
	json_t *audit, *policies, *errors, *counts;
	json_t *rules, *findings;    /* the tree's arrays; NULL when streamed */
	struct mp_audit_result *res; /* streamed: the findings' spool and the rule records */
	const char *fail_on, *result;
	pol_slot *pols;
	rule_slot *slots;
	size_t npols, cappols, nslots, capslots;
	uint32_t *slot_hash; /* (policy, rule) -> slot + 1, open addressing */
	size_t hash_cap;
	size_t *e_slot, *e_by_slot; /* per error: its slot; error indices grouped by slot */
	size_t nfindings;           /* listed findings */
	size_t sev_n[RP_NSEV + 1];  /* listed findings by severity rank */
	json_t *finding_controls;   /* the controls findings name: a set (keys) */
	json_t *record_controls;    /* streamed: the records' controls as arrays, by address */
	int spool_failed;           /* a pass could not read the findings back */
} audit_index;

/* Calls fn with each listed finding in audit order (borrowed for the call) and its slot;
 * stops at fn's first non-zero return. 0; -1 when fn failed or the findings cannot be read
 * back (then ix->spool_failed is set). */
int rp_scan(audit_index *ix, int (*fn)(void *ctx, json_t *f, size_t slot), void *ctx);

/* A string field of o, "" when missing or not a string; an integer field, 0 when missing. */
const char *rp_str(json_t *o, const char *key);
long long rp_int(json_t *o, const char *key);
/* Severity rank (critical 0 .. info 4, anything else RP_NSEV); enforcement rank (advisory 0,
 * soft 1, anything else 2: unknown enforcement counts as hard, so it fails closed). */
int rp_sev_rank(const char *s);
int rp_enf_rank(const char *s);
int rp_in_array(json_t *arr, const char *s);   /* does the array hold the string s? */
int rp_in_array_before(json_t *arr, size_t j); /* is arr[j] a string arr holds before j? */
int rp_is_hex(const char *s);
const char *rp_plural(long long n, const char *one, const char *many);

json_t *rp_error_at(audit_index *ix, size_t i); /* errors[i], borrowed */
/* A rule's severity or enforcement: its entry's, else its policy's ("" when neither has it). */
const char *rp_slot_severity(audit_index *ix, const rule_slot *s);
const char *rp_slot_enforcement(audit_index *ix, const rule_slot *s);
/* A rule's controls (its entry's, else its policy's); a finding's (its own, else its rule's). */
json_t *rp_slot_controls(audit_index *ix, const rule_slot *s);
json_t *rp_finding_controls(audit_index *ix, json_t *f, size_t slot);
/* The rule's rules[] entry: the tree's (borrowed), or made from its record (a new reference);
 * either way the caller json_decref's it. NULL when it has none, or out of memory (*bad). */
json_t *rp_slot_def(audit_index *ix, const rule_slot *s, int *bad);
/* The first rules[] entry's help_uri ("" when there is none), into buf. */
void rp_first_help_uri(audit_index *ix, char *buf, size_t len);
int rp_slot_errored(const rule_slot *s);
int rp_slot_failed(const rule_slot *s); /* failed (findings not all waived), no error */
/* Finding f is not waived and at or above fail_on (an enforcement level or a severity). */
int rp_blocking(audit_index *ix, json_t *f);
json_t *rp_waiver(json_t *f); /* f's "waiver", or NULL */
/* Does fail_on name a severity (critical .. low) rather than an enforcement level? */
int rp_fail_on_severity(const audit_index *ix);

/* ---- Controls: what markdown and html say of each (report.h, "markdown") ---- */

typedef struct {
	size_t rules, findings, blocking; /* rules carrying it; findings and blocking attributed */
	int errored;
} rp_control_state;

/* The controls of an audit and which findings each is attributed: per (control, rule) pair
 * with findings, their count and a key for the writer's spill. Built over one pass. */
typedef struct {
	const char **ids; /* every control a policy, a rule or a finding names, in natural
	                     order (A.9 before A.13); borrowed from the audit or the index */
	size_t n;
	rp_control_state *st;  /* per control, final after rp_controls_finish */
	json_t *map;           /* control -> its index */
	struct rp_pair *pairs; /* (control, slot) with attributed findings */
	size_t npairs, cappairs;
	uint32_t *pair_hash;
	size_t pair_cap;
} rp_controls;

/* -1 when out of memory. */
int rp_controls_init(audit_index *ix, rp_controls *c);
/* During a pass: finding f of slot is attributed to each control of its own (deduplicated);
 * counts it, and returns the pairs' keys (0 .. npairs) in keys[0 .. *n) (a buffer of the
 * controls' count). -1 when out of memory. */
int rp_controls_attribute(audit_index *ix, rp_controls *c, json_t *f, size_t slot, size_t *keys,
                          size_t *n);
/* After the pass: each control's rules and errored. */
void rp_controls_finish(audit_index *ix, rp_controls *c);
/* The attributed findings of control k in slot s, and their key (SIZE_MAX when none). */
size_t rp_controls_count(const rp_controls *c, size_t k, size_t slot, size_t *key);
void rp_controls_free(rp_controls *c);
const char *rp_control_status(const rp_control_state *st); /* FAIL, ERROR, NOT TESTED, PASS */

/* ---- Spills: fragments written in any order, read back grouped by key ---- */

/* A temporary file (au_tempfile) of fragments, each under a key, copied out key by key in the
 * order they were written; memory holds a size per key, never the fragments. */
typedef struct rp_spill rp_spill;
rp_spill *rp_spill_new(void); /* NULL when out of memory or no temporary file */
/* The fragment's stream: what is written to it until rp_spill_put. */
FILE *rp_spill_begin(rp_spill *sp);
/* Files the fragment under key; again: the same fragment under another key too. -1 on
 * failure. */
int rp_spill_put(rp_spill *sp, size_t key);
/* After the last put: keys are 0 .. nkeys - 1. -1 on failure. */
int rp_spill_sort(rp_spill *sp, size_t nkeys);
/* Copies key's fragments to out (a write error shows in ferror(out)); -1 when the spill
 * cannot be read. */
int rp_spill_copy(rp_spill *sp, size_t key, FILE *out);
int rp_spill_empty(const rp_spill *sp, size_t key);
void rp_spill_free(rp_spill *sp);

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

/* Each writes from ix, the findings read again by rp_scan as often as the format needs (never
 * held); -1 when out of memory, a temporary file fails or the findings cannot be read back. */
int rp_write_text(audit_index *ix, FILE *out, int color);     /* report_text.c */
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
