/* audit_rules.h: the texts of the audit's rules, in one table: one row per kind of rule the
 * audit reports (a policy's check, a residency rule, an allow rule, ...) and one per code the
 * import analyzers report. audit.c puts them into each rule of the audit object (description,
 * help, help_uri, precision), and every report format reads them from there, so the text, json,
 * junit, sarif and markdown reports say the same. docs/rules.md has a section per row, at the
 * anchor the row names (tests/unit/test_audit_rules.c holds the two together).
 *
 * The tables are constant data with static storage; nothing here allocates. */
#ifndef MP_AUDIT_RULES_H
#define MP_AUDIT_RULES_H

#include <jansson.h>

typedef struct {
	const char *key;       /* a rules[] "type" ("check", "residency", ...) or an import code */
	const char *anchor;    /* the heading's anchor in docs/rules.md */
	const char *title;     /* the short description when the rule brings none of its own */
	const char *checks;    /* what the audit checks, for this kind of rule: one paragraph */
	const char *fix;       /* how a finding is resolved: one paragraph */
	const char *precision; /* GitHub's: very-high, high, medium or low */
} mp_rule_doc;

/* The row of a rules[] type, or NULL for a type no row has. */
const mp_rule_doc *mp_rule_doc_type(const char *type);
/* The row of an import code; the generic "import" row for a code no row has. */
const mp_rule_doc *mp_rule_doc_code(const char *code);
/* Every row, types first, then codes; i from 0 while the result is not NULL. */
const mp_rule_doc *mp_rule_doc_at(unsigned i);

/* A finding's fingerprint (audit.c): SHA-256 of its policy, rule and subject, each prefixed by
 * its length in decimal and ':', as 64 lower-case hex digits; NULL when out of memory. It does
 * not change when lines move: waivers and SARIF's partialFingerprints name findings by it. */
json_t *mp_finding_fingerprint(const char *policy, const char *rule, const char *subject);

/* The default base of help URIs: docs/ of this version's sources. */
#define MP_DOCS_URL "https://github.com/meshpol/meshpol/blob/v" MP_VERSION "/docs/"
/* The page of docs/ holding the rows' sections. */
#define MP_RULES_PAGE "rules.md"

#endif
