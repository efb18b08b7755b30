/* report.h: audit report writers (text, json, junit, sarif, markdown, html), shared by `meshpol
 * audit` and the shell's `:audit`. The input is the audit result object of the audit engine; the
 * decisions each format makes are written down below, next to the API. The code: the table of
 * formats, reading, escaping and json (the audit object itself) in report.c, helpers in
 * report_int.h, one file per other format (report_text.c, report_junit.c, report_sarif.c,
 * report_markdown.c, report_html.c).
 *
 * Reading the audit. "policies", "rules", "findings" and "errors" must be arrays of objects,
 * "counts" an object, "fail_on" one of advisory|soft|hard|critical|high|medium|low and "result"
 * pass|fail; anything else
 * is refused with a message (a report that silently shows no findings would be worse). Every
 * other field is read leniently: a missing string prints as empty or "-", a missing number as 0.
 * Ranks: severity critical > high > medium > low > info > anything else (listed last);
 * enforcement hard > soft > advisory, an unknown enforcement counts as hard (fails closed).
 * A rule carries the controls of its rules[] entry, else those of its policy; a finding is
 * attributed to its own "controls", else to its rule's. A finding with a "waiver" is shown as
 * waived in every format and never counts against fail_on; a severity fail_on compares
 * severities, an enforcement one enforcements.
 *
 * Untrusted text (subjects, messages, names, paths) never reaches the output raw: text escapes
 * C0/C1 control characters as \xNN / \u00NN (no terminal escape can pass); XML escapes & < > " '
 * and replaces characters XML 1.0 forbids with the same visible \xNN; markdown backslash-escapes
 * the punctuation that would open inline syntax (\ ` * _ [ ] < | ~ & $) and turns newlines in
 * table cells and list items into <br>. Bytes that are not UTF-8 become U+FFFD. json and sarif
 * keep the text as data: JSON escapes every control character, and readers render it.
 *
 * An audit without a bundle has "bundle": null: text shows "bundle none", markdown "none".
 *
 * text      for a terminal: header (bundle, revision, 12 hex digits of the model hash, time);
 *           findings most severe first (audit order within a severity); errors; one summary
 *           line from "counts", PASS/FAIL as the audit's "result". ANSI colours only if asked.
 * json      the audit object itself, indent 2, keys sorted (byte-stable whatever built it).
 * junit     testsuites > testsuite per policy > testcase per rule, with only the attributes
 *           of the Jenkins xunit junit-10.xsd (no time: nothing was timed). A testcase has at
 *           most one <failure> (every finding no waiver accepts, in its text; the message is
 *           the finding, or the count and the first) and at most one <error> (every error of
 *           the rule), so failures and errors count those elements; waived findings go to
 *           <system-out>. Policies and rules named only by findings or errors get a suite /
 *           testcase too; an error naming no rule is the testcase "(policy)".
 * sarif     2.1.0, one run, for GitHub code scanning (docs/audit-format.md, "SARIF").
 *           driver: name, version = semanticVersion, informationUri. rules: one
 *           reportingDescriptor per rule ("policy/rule") with a Pascal-case name, its
 *           description (shortDescription), description and help (fullDescription), help text
 *           and markdown, helpUri (its help_uri), defaultConfiguration.level from its severity,
 *           properties {severity, enforcement, controls, policy, tags ["security", kind, type,
 *           controls...], precision, problem.severity, security-severity (GitHub's ranking,
 *           omitted for info)}. level: error critical/high, warning medium and unknown, note
 *           low/info. partialFingerprints: "meshpolFinding/v1" (the finding's fingerprint),
 *           and primaryLocationLineHash as GitHub's upload action computes it (linehash.h),
 *           when the file can be read. Paths relative to the audit's "base" carry uriBaseId
 *           %SRCROOT% (run.originalUriBaseIds has the base); absolute ones are file: URIs.
 *           Regions: startLine, startColumn where known (columnKind unicodeCodePoints). A
 *           waived finding has an external, accepted suppression. Errors are execution
 *           notifications (executionSuccessful false); expired and unused waivers are
 *           configuration notifications (error, warning).
 * markdown  a compliance report: summary table, policies, controls, findings by severity,
 *           errors. A control FAILs when a finding attributed to it has an enforcement at or
 *           above fail_on; otherwise ERROR when a rule carrying it errored (not fully
 *           evaluated is not a pass), NOT TESTED when no rule of the audit carries it (a
 *           policy names it but has no rule in the audit), else PASS. Controls sort
 *           naturally (A.9 before A.13). The scope section (meshes, clusters with their
 *           jurisdictions, counts) comes from the audit's "scope", and the trail's run and seal
 *           from its "trail" (docs/audit-format.md); each says "none" when absent.
 * html      the markdown report's content as one self-contained page for an auditor: scope,
 *           policies with versions, the status of each control, findings by control with
 *           their locations (then those no control names), waivers, errors, and the picture
 *           of the mesh (meshdot.h) as inline SVG with its legend. Nothing is fetched: inline
 *           CSS, no script, no font or image from elsewhere, and a Content-Security-Policy
 *           (default-src 'none') that says so to the browser. Text is escaped as for XML.
 *           Waivers: the audit's "waivers" (each with its status and findings), then the
 *           findings that carry a "waiver" object ({reason, owner, expires}), which are also
 *           marked WAIVED where they are listed; "No waivers" when there are none.
 */
#ifndef MP_REPORT_H
#define MP_REPORT_H

#pragma GCC visibility push(default) /* the engine's interface: exported */

#include <jansson.h>
#include <stddef.h>
#include <stdio.h>

struct mp_engine;

/* What a writer may need beside the audit. Zero-initialise. */
typedef struct {
	int color; /* text: ANSI colours */
	/* html: the snapshot the audit ran on, for the picture of the mesh (meshdot.h); NULL: the
	 * report says there is no picture */
	const struct mp_engine *engine;
	/* html: when the picture could not be made (Graphviz missing, failed, too large), why, for
	 * the front-end to warn; "" otherwise. NULL: not wanted. */
	char *note;
	size_t notelen;
} mp_report_opts;

/* 1 if format names a writer (text, json, junit, sarif, markdown, html), else 0 (NULL: 0). */
int mp_report_format_known(const char *format);

/* Writes audit (borrowed, not modified) to out in format; color != 0 adds ANSI colours to the
 * text format (ignored by the others). 0 on success; -1 with a message in err for an unknown
 * format, an audit not of the contract's shape, out of memory, or a write error (out is flushed
 * and checked). After -1, out may hold part of a report. */
int mp_report_write(json_t *audit, const char *format, FILE *out, int color, char *err,
                    size_t errlen);
/* mp_report_write with the options o (NULL: all zero). */
int mp_report_write_opts(json_t *audit, const char *format, FILE *out, const mp_report_opts *o,
                         char *err, size_t errlen);

/* Writes the report of a streamed audit r (audit.h) to out, byte for byte what mp_report_write
 * writes for the same audit's tree: the findings read back from r's spool one at a time, as
 * many passes as the format needs, the rules from r's records. What each format holds in
 * memory: docs/audit-format.md ("Streamed reports"). -1 with a message in err also when the
 * spool cannot be read back whole (the report written so far is incomplete and must not be
 * used). The rest as mp_report_write. */
struct mp_audit_result;
int mp_report_write_result(struct mp_audit_result *r, const char *format, FILE *out, int color,
                           char *err, size_t errlen);
/* mp_report_write_result with the options o (NULL: all zero). */
int mp_report_write_result_opts(struct mp_audit_result *r, const char *format, FILE *out,
                                const mp_report_opts *o, char *err, size_t errlen);

#pragma GCC visibility pop

#endif
