/* audit_int.h: the inside of the auditor, shared by audit.c (the analyses) and audit_emit.c (the
 * rules table, the findings spool and the JSON report written from them). Findings are not kept:
 * each is written to a spool file as the bytes the json report prints, the moment it is found,
 * and only its counts stay in memory; the rules are C records until the report is written.
 * Internal prefix au_. Design: docs/architecture.md ("Reports", streamed findings). */
#ifndef MP_AUDIT_INT_H
#define MP_AUDIT_INT_H

#include "audit.h"
#include "audit_rules.h"
#include "check.h"
#include "jsonbuf.h"

#include <stdio.h>

#define MAX_FINDINGS_PER_RULE 10000 /* listed; the rest only counted */
/* Bytes of findings (or rules) gathered before one write: a write per finding was 32,000
 * system calls for the 10,000-service audit. */
#define SPOOL_BATCH (256 * 1024)

/* One rule of the report. Strings are borrowed from the bundle, the model, the check table or
 * static text, except controls when owns_controls (mp_malloc'd array of borrowed strings). */
typedef struct {
	const char *policy, *version, *name, *type, *severity, *enforcement;
	const char *own;        /* the description the rule was declared with, or NULL */
	const mp_rule_doc *doc; /* its texts (audit_rules.h) */
	const char *const *controls;
	uint32_t ncontrols, owns_controls;
	const char *loc_file; /* its location (placed), or NULL */
	long loc_line;
	int sev_rank, enf_rank; /* index in info..critical / advisory..hard, -1 if unknown */
	uint32_t status;        /* au_status */
	uint64_t findings;      /* every finding, listed or not */
	uint64_t waived;        /* listed findings a waiver accepts */
	/* owned: the bytes of its findings that are the rule's own, the same in each (au_finding),
	 * made at its first finding; frag_end[k] ends part k (controls to enforcement, policy, rule
	 * to severity, version) */
	char *frag;
	uint32_t frag_end[4];
} au_rule;

enum { AU_PASS = 0, AU_FAIL, AU_ERROR, AU_WAIVED };

/* A location of a finding: file NULL means none; col 0 none; message NULL none. */
typedef struct {
	const char *file;
	long line, col;
	const char *message;
} au_loc;

/* Text kept in a temporary file until a report copies it: f (owned; NULL: none), the findings
 * or rules it holds, and its size as written, which the copy checks (a file that gives fewer or
 * more bytes was changed underneath). */
typedef struct {
	FILE *f;
	uint64_t n, bytes;
} au_text;

typedef struct mp_audit_ctx audit;
struct mp_audit_ctx {
	mp_evaluator *ev;
	const mp_engine *e;
	const mp_model *m;
	const mp_bundle *b; /* NULL: an audit without a bundle (only rows that need none run) */
	const mp_audit_opts *o;
	/* the rules: an array and an open-addressing index on "policy/rule" */
	au_rule *rules;
	uint32_t nrules, caprules;
	uint32_t *rindex; /* slot -> rule + 1 (0: empty) */
	uint32_t rindex_cap;
	json_t *errors;
	json_t *places;      /* file as given -> file as reported (relative to o->base) */
	json_t *places_more; /* a merged audit's other places (au_merge), which rules point into */
	const mp_check_row *row; /* the row running */
	uint64_t base;           /* progress before the row: the weights of the rows done */
	uint64_t total;          /* the weights of every row that runs */
	/* the findings spool: the json report's bytes of each listed finding */
	FILE *spool;
	mp_jsonbuf buf;  /* findings not yet in the spool (au_spool_flush) */
	uint64_t listed; /* in both spools */
	/* after au_merge: the first audit's spool (moved, not copied), whose findings come before
	 * the ones of spool; none before */
	au_text first;
	/* a parallel audit that streams the json report (write_ahead): its rules, written out by
	 * au_rules_ahead while the other thread's run (the tail of au_rules) */
	int write_ahead;
	au_text ahead;
	uint64_t by_sev[5], by_enf[3], waived;
	int fail, spool_bad;
	/* waivers (o->waivers): per waiver, how many findings it matches; sorted lookups */
	uint64_t *w_matched;
	uint32_t *w_fp, *w_pair; /* waiver indices sorted by fingerprint / by rule and subject */
	uint32_t nw_fp, nw_pair;
	const char *w_file; /* the waivers file as reported */
	int64_t now;
	struct evp_md_ctx_st *md; /* the findings' fingerprints (OpenSSL's EVP_MD_CTX) */
	struct evp_md_st *sha256; /* their digest, fetched once (EVP_MD) */
	struct au_par *par;       /* a parallel audit's shared progress (audit.c), or NULL */
};

/* audit_emit.c */
/* A temporary file in $TMPDIR (else /tmp), unlinked at once; NULL when none can be made. */
FILE *au_tempfile(void);
int au_open(audit *a); /* -1 when out of memory or no spool can be made */
/* Writes the findings gathered in a->buf to the spool: before anything reads or moves it. */
int au_spool_flush(audit *a);
void au_close(audit *a);
/* A file as the report names it (borrowed from a->places). */
const char *au_place(audit *a, const char *file);
/* The rule (policy, name), added on first use with the other arguments; UINT32_MAX when out of
 * memory. policy NULL is MP_AUDIT_POLICY (the running row's controls). */
uint32_t au_rule_entry(audit *a, const mp_policy *p, const char *policy, const char *name,
                       const char *type, uint32_t severity, const char *description,
                       const char *loc);
/* Room for n more rules, so that a row adding many (one per grant) grows the table once; -1
 * when out of memory (the rules are then added one at a time, as without it). */
int au_reserve_rules(audit *a, uint32_t n);
/* The rule of an import finding's code (meshpol.import/CODE). */
uint32_t au_import_rule(audit *a, const char *code, uint32_t level);
/* Counts a finding of rule r and, under the cap per rule, writes it to the spool. */
void au_finding(audit *a, uint32_t r, const char *subject, const char *message, const au_loc *loc,
                const char *const *path, uint32_t npath, const au_loc *related, uint32_t nrel);
void au_error(audit *a, uint32_t r, const char *message);
/* "file:line" -> an au_loc (file placed); 0 when s names no line. */
int au_loc_text(audit *a, const char *s, au_loc *l);
/* Moves what first found into a, as if first's rows had run before a's in one audit: its rules
 * before a's (none may be in both), its spool as a's first, its errors first, counts and
 * waiver matches added; then closes first. -1 when out of memory or the spool fails
 * (a->spool_bad is set too). */
int au_merge(audit *a, audit *first);
/* A finished audit's findings as spooled, in the report's order: a merged audit's first part,
 * then its own; a part may have no file (none made) or list none. */
typedef struct {
	au_text part[2];
} au_spools;
/* Moves a's spools into s (a keeps none), their sizes read; -1 when a spool failed. */
int au_take_spools(audit *a, au_spools *s);
void au_spools_close(au_spools *s);
/* After the last finding: a rule whose every finding a waiver accepts passes as "waived". */
void au_settle(audit *a);
/* The audit's "waivers" (mp_waivers_apply's shape, waiver.h), from the matches counted. */
json_t *au_waivers(audit *a);
/* The rules of a finished audit, moved out of it for the report (au_take_rules): C records,
 * written as JSON one at a time when a report is written, never held as text (84,000 rules are
 * 80 MB of it). Owns v (and each rule's controls when owns_controls), places (the rules' files
 * point into it) and docs_url; the rest is borrowed from the engine snapshot, which must
 * outlive it. */
typedef struct au_rules {
	au_rule *v;
	uint32_t n;
	json_t *places;
	char *docs_url; /* NULL: MP_DOCS_URL */
	/* the last tail.n rules already written as au_write_rules writes them (au_rules_ahead);
	 * no file: none */
	au_text tail;
} au_rules;
/* Settles a's rules and writes them to a temporary file as au_write_rules would, to be copied
 * as the tail of the report's rules: what the calling thread of a parallel audit does while the
 * other thread's checks run, when their rules (which come first) are all that remains to write.
 * Nothing is kept when it fails (the rules are written the usual way). */
void au_rules_ahead(audit *a);
/* Moves a's rules into r (a keeps none); -1 when out of memory (a keeps them). */
int au_take_rules(audit *a, au_rules *r);
void au_rules_free(au_rules *r);
/* Writes the rules as the elements of the json report's "rules" (",\n" between them); -1 when
 * out of memory. */
int au_write_rules(const au_rules *r, FILE *out);
/* Rule i as the json report's rules[] entry holds it (a new object; NULL when out of memory):
 * what the report writers read of a streamed audit's rule, one at a time. */
json_t *au_rule_json(const au_rules *r, uint32_t i);
/* "pass", "fail", "error" or "waived" (au_status). */
const char *au_status_name(uint32_t status);
/* A streamed audit's rule records (audit.c), borrowed from r. */
const au_rules *au_result_rules(const mp_audit_result *r);
/* Its spool part i (au_spools; borrowed, may be NULL), for tests that damage it. */
FILE *au_result_spool(const mp_audit_result *r, int i);
/* Writes the json report (report.h: indent 2, keys sorted) to out: top's members (borrowed),
 * with "findings" the listed ones of the spools and "rules" from r. -1 when out of memory or a
 * spool cannot be read back whole; a write error shows in ferror(out). */
int au_write_json(json_t *top, const au_spools *s, const au_rules *r, FILE *out);
/* Reads the findings of the spools back, in order, calling fn with each
 * (mp_audit_result_findings). */
int au_spool_each(const au_spools *s, int (*fn)(void *ctx, json_t *finding), void *ctx);

#endif
