/* report_sarif.c: the SARIF 2.1.0 report (report.h, "sarif"), for code hosts: one run, a
 * reportingDescriptor per rule with the texts of audit_rules.h, a result per finding (waived ones
 * with an external suppression), errors and waivers as invocation notifications. What GitHub
 * code scanning requires and reads: docs/audit-format.md ("SARIF"). */
#include "alloc.h"
#include "audit_rules.h"
#include "diag.h"
#include "files.h"
#include "linehash.h"
#include "pathbase.h"
#include "report_int.h"
#include "version.h"

#include <ctype.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SRCROOT    "%SRCROOT%"
#define MAX_TAGS   20          /* GitHub keeps at most 20 tags a rule */
#define MAX_HASHED (64u << 20) /* source files read for line hashes */

/* Sticky-failure builders: a NULL value or a failed insertion sets *bad (jansson releases the
 * value either way), so a tree is built straight through and checked once. */
static void set(json_t *o, const char *key, json_t *v, int *bad)
{
	if (json_object_set_new(o, key, v) < 0)
		*bad = 1;
}

static void add(json_t *a, json_t *v, int *bad)
{
	if (json_array_append_new(a, v) < 0)
		*bad = 1;
}

/* a + sep + b as a JSON string; just a or b when the other is empty, fallback when both are. */
static json_t *joined(const char *a, const char *sep, const char *b, const char *fallback)
{
	size_t la = strlen(a), ls = strlen(sep), lb = strlen(b);
	json_t *j;
	char *buf;
	if (!la || !lb)
		return json_string(la ? a : lb ? b : fallback);
	if (!(buf = mp_malloc(la + ls + lb + 1)))
		return NULL;
	memcpy(buf, a, la);
	memcpy(buf + la, sep, ls);
	memcpy(buf + la + ls, b, lb + 1);
	j = json_string(buf);
	mp_free(buf);
	return j;
}

static json_t *rule_id(const char *policy, const char *rule)
{
	return joined(*policy ? policy : "(none)", "/", rule, "(none)");
}

/* The rule's friendly name, a Pascal identifier as SARIF asks: the words of the rule's name
 * (split at anything not a letter or digit, and where a lower-case letter meets an upper-case
 * one), each capitalised; a one-letter word joins the next. "pii-stays-in-eu" -> PiiStaysInEu,
 * "MTLSPolicyConflict" -> MtlsPolicyConflict. */
static json_t *friendly_name(const char *rule)
{
	size_t n = strlen(rule), o = 0;
	char *buf = mp_malloc(n + 8);
	int word_start = 1, pending_single = 0;
	json_t *j;
	if (!buf)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)rule[i];
		if (!isalnum(c) || c >= 0x80) {
			word_start = 1;
			continue;
		}
		/* a lower-case letter or digit before an upper-case one ends a word; so does an
		 * upper-case letter before an upper then lower ("MTLSPolicy": MTLS, Policy) */
		if (i > 0 && isupper(c) && isalnum((unsigned char)rule[i - 1]) &&
		    (!isupper((unsigned char)rule[i - 1]) ||
		     (i + 1 < n && islower((unsigned char)rule[i + 1]))))
			word_start = 1;
		if (word_start && pending_single)
			word_start = 0; /* a one-letter word runs into this one */
		if (o == 0 && isdigit(c)) {
			memcpy(buf, "Rule", 4);
			o = 4;
			word_start = 0;
		}
		buf[o++] = (char)(word_start ? toupper(c) : tolower(c));
		pending_single = word_start && (i + 1 >= n || !isalnum((unsigned char)rule[i + 1]));
		word_start = 0;
	}
	if (o == 0) {
		memcpy(buf, "Rule", 4);
		o = 4;
	}
	buf[o] = '\0';
	j = json_string(buf);
	mp_free(buf);
	return j;
}

/* A path as a URI reference: every byte but unreserved ones and '/' percent-encoded (so spaces,
 * '%', '#', '?', ':' and non-ASCII bytes survive any URI parser), after prefix. */
static json_t *uri_ref(const char *prefix, const char *path, const char *suffix)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = strlen(path), o = strlen(prefix);
	char *buf = mp_malloc(o + 3 * n + strlen(suffix) + 1);
	json_t *j;
	if (!buf)
		return NULL;
	memcpy(buf, prefix, o);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)path[i];
		if (isalnum(c) || strchr("-._~/", c)) {
			buf[o++] = (char)c;
		} else {
			buf[o++] = '%';
			buf[o++] = hex[c >> 4];
			buf[o++] = hex[c & 15];
		}
	}
	strcpy(buf + o, suffix);
	j = json_string(buf);
	mp_free(buf);
	return j;
}

/* The artifactLocation of a file as the audit names it: relative to the audit's base (then
 * with %SRCROOT%), absolute (a file: URI), or relative to nothing known (an audit without
 * base: a relative reference, as before --base existed). */
static json_t *artifact(audit_index *ix, const char *file, int *bad)
{
	json_t *a = json_object();
	char abs[PATH_MAX], joined[2 * PATH_MAX];
	const char *base = rp_str(ix->audit, "base");
	/* beside the base ("../x"): outside the checkout GitHub maps %SRCROOT% to, so absolute */
	snprintf(joined, sizeof(joined), "%s/%s", base, file);
	if (*base && !strncmp(file, "../", 3) && mp_path_absolute(joined, abs, sizeof(abs)) == 0)
		file = abs;
	if (file[0] == '/') {
		set(a, "uri", uri_ref("file://", file, ""), bad);
	} else {
		set(a, "uri", uri_ref("", file, ""), bad);
		if (*rp_str(ix->audit, "base"))
			set(a, "uriBaseId", json_string(SRCROOT), bad);
	}
	if (!a)
		*bad = 1;
	return a;
}

/* A SARIF location for an audit location {file, line, column}, with an optional message; NULL
 * when loc names no file (and when out of memory: then *bad is set). */
static json_t *sarif_location(audit_index *ix, json_t *loc, const char *message, int *bad)
{
	json_t *l, *phys, *region;
	long long line = rp_int(loc, "line"), col = rp_int(loc, "column");
	if (!*rp_str(loc, "file"))
		return NULL;
	l = json_object();
	phys = json_object();
	set(phys, "artifactLocation", artifact(ix, rp_str(loc, "file"), bad), bad);
	if (line > 0) {
		region = json_pack("{s:I}", "startLine", (json_int_t)line);
		if (region && col > 0)
			set(region, "startColumn", json_integer((json_int_t)col), bad);
		set(phys, "region", region, bad);
	}
	set(l, "physicalLocation", phys, bad);
	if (message && *message)
		set(l, "message", json_pack("{s:s}", "text", message), bad);
	if (!l)
		*bad = 1;
	return l;
}

static const char *sarif_level(const char *severity)
{
	int r = rp_sev_rank(severity);
	if (r <= 1)
		return "error";
	return r == 2 || r == RP_NSEV ? "warning" : "note";
}

/* ---- rules ---- */

/* A rule's texts, from its rules[] entry (audit_rules.h wrote them), with fallbacks for
 * audits that lack them (an entry only findings name): never the bare id. */
typedef struct {
	const char *description, *help, *uri, *precision;
	char fallback[400];
} rule_texts;

static void texts_of(audit_index *ix, const rule_slot *s, rule_texts *t)
{
	t->description = rp_str(s->def, "description");
	t->help = rp_str(s->def, "help");
	t->uri = rp_str(s->def, "help_uri");
	t->precision = rp_str(s->def, "precision");
	if (!*t->description) {
		snprintf(t->fallback, sizeof(t->fallback), "Findings of rule %s of policy %s",
		         *s->rule ? s->rule : "(none)", *s->policy ? s->policy : "(none)");
		t->description = t->fallback;
	}
	if (!*t->help)
		t->help = *rp_str(ix->pols[s->pol].def, "description")
		              ? rp_str(ix->pols[s->pol].def, "description")
		              : "See the finding's message and the rule in its policy file.";
	if (!*t->uri)
		t->uri = MP_DOCS_URL MP_RULES_PAGE;
	if (strcmp(t->precision, "very-high") && strcmp(t->precision, "high") &&
	    strcmp(t->precision, "medium") && strcmp(t->precision, "low"))
		t->precision = "high";
}

/* The help of a rule as text or markdown: its description, its help paragraphs, then what the
 * rule is (policy, version, file:line, severity, enforcement, controls) and the docs link. A
 * string to free with free() (a memstream's), NULL when out of memory. */
static char *help_of(audit_index *ix, const rule_slot *s, const rule_texts *t, int md)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	esc_mode esc = md ? ESC_MD : ESC_TERM_BLOCK;
	json_t *pol = ix->pols[s->pol].def, *loc = json_object_get(s->def, "location");
	if (!f)
		return NULL;
	fputs(md ? "**" : "", f);
	rp_put(f, t->description, md ? ESC_MD : ESC_TERM);
	fputs(md ? "**\n\n" : "\n\n", f);
	for (const char *p = t->help; *p;) { /* paragraph by paragraph: markdown keeps breaks */
		const char *end = strstr(p, "\n\n");
		size_t n = end ? (size_t)(end - p) : strlen(p);
		char *para = mp_malloc(n + 1);
		if (!para)
			break;
		memcpy(para, p, n);
		para[n] = '\0';
		if (md && !strncmp(para, "To resolve: ", 12)) {
			fputs("**To resolve:** ", f);
			rp_put(f, para + 12, esc);
		} else {
			rp_put(f, para, esc);
		}
		fputs("\n\n", f);
		mp_free(para);
		p += n;
		while (*p == '\n')
			p++;
	}
	fputs(md ? "- Policy: " : "Policy: ", f);
	rp_put(f, *s->policy ? s->policy : "(none)", md ? ESC_MD : ESC_TERM);
	if (*rp_str(pol, "version")) {
		fputc(' ', f);
		rp_put(f, rp_str(pol, "version"), md ? ESC_MD : ESC_TERM);
	}
	if (*rp_str(pol, "description")) {
		fputs(": ", f);
		rp_put(f, rp_str(pol, "description"), md ? ESC_MD : ESC_TERM);
	}
	if (*rp_str(loc, "file")) {
		fputs(md ? "\n- Rule: " : "\nRule: ", f);
		rp_put_loc(f, loc, md ? ESC_MD : ESC_TERM);
	}
	fputs(md ? "\n- Severity: " : "\nSeverity: ", f);
	rp_put(f, *rp_slot_str(ix, s, "severity") ? rp_slot_str(ix, s, "severity") : "-",
	       md ? ESC_MD : ESC_TERM);
	fputs(", enforcement: ", f);
	rp_put(f, *rp_slot_str(ix, s, "enforcement") ? rp_slot_str(ix, s, "enforcement") : "-",
	       md ? ESC_MD : ESC_TERM);
	if (json_array_size(rp_slot_controls(ix, s))) {
		fputs(md ? "\n- Controls: " : "\nControls: ", f);
		rp_put_list(f, rp_slot_controls(ix, s), ", ", md ? ESC_MD : ESC_TERM);
	}
	fprintf(f, md ? "\n\n[Documentation](%s)\n" : "\n\nDocumentation: %s\n", t->uri);
	if (fclose(f) != 0) {
		free(buf);
		return NULL;
	}
	return buf;
}

static json_t *text_of(char *s)
{
	json_t *j = s ? json_pack("{s:s}", "text", s) : NULL;
	free(s);
	return j;
}

static void add_tag(json_t *tags, const char *tag, int *bad)
{
	if (!*tag || json_array_size(tags) >= MAX_TAGS || rp_in_array(tags, tag))
		return;
	add(tags, json_string(tag), bad);
}

static json_t *sarif_descriptor(audit_index *ix, const rule_slot *s, int *bad)
{
	/* GitHub's ranges: critical over 9.0, high 7.0-8.9, medium 4.0-6.9, low 0.1-3.9 */
	static const char *const security_severity[RP_NSEV] = {"9.5", "8.0", "5.5", "2.0", NULL};
	static const char *const problem_severity[RP_NSEV] = {"error", "error", "warning",
	                                                      "recommendation", "recommendation"};
	const char *sev = rp_slot_str(ix, s, "severity"),
	           *kind = rp_str(ix->pols[s->pol].def, "kind");
	json_t *d = json_object(), *props = json_object(), *tags = json_array(), *controls, *v;
	int rank = rp_sev_rank(sev);
	rule_texts t;
	size_t i;
	texts_of(ix, s, &t);
	set(d, "id", rule_id(s->policy, s->rule), bad);
	set(d, "name", friendly_name(*s->rule ? s->rule : s->policy), bad);
	set(d, "shortDescription", json_pack("{s:s}", "text", t.description), bad);
	set(d, "fullDescription",
	    json_pack("{s:o}", "text", joined(t.description, "\n\n", t.help, "")), bad);
	json_t *help = text_of(help_of(ix, s, &t, 0));
	if (help) {
		char *md = help_of(ix, s, &t, 1);
		set(help, "markdown", md ? json_string(md) : NULL, bad);
		free(md);
	}
	set(d, "help", help, bad);
	set(d, "helpUri", json_string(t.uri), bad);
	set(d, "defaultConfiguration", json_pack("{s:s}", "level", sarif_level(sev)), bad);
	set(props, "policy", json_string(s->policy), bad);
	if (*rp_str(ix->pols[s->pol].def, "version"))
		set(props, "policyVersion", json_string(rp_str(ix->pols[s->pol].def, "version")),
		    bad);
	if (*rp_str(s->def, "type"))
		set(props, "type", json_string(rp_str(s->def, "type")), bad);
	if (*sev)
		set(props, "severity", json_string(sev), bad);
	if (*rp_slot_str(ix, s, "enforcement"))
		set(props, "enforcement", json_string(rp_slot_str(ix, s, "enforcement")), bad);
	if ((controls = rp_slot_controls(ix, s)))
		set(props, "controls", json_incref(controls), bad);
	if (json_is_object(json_object_get(s->def, "location")))
		set(props, "location", json_incref(json_object_get(s->def, "location")), bad);
	add_tag(tags, "security", bad);
	add_tag(tags, kind, bad);
	add_tag(tags, rp_str(s->def, "type"), bad);
	json_array_foreach(controls, i, v)
	{
		if (json_is_string(v))
			add_tag(tags, json_string_value(v), bad);
	}
	set(props, "tags", tags, bad);
	set(props, "precision", json_string(t.precision), bad);
	set(props, "problem.severity",
	    json_string(rank < RP_NSEV ? problem_severity[rank] : "warning"), bad);
	if (rank < RP_NSEV && security_severity[rank])
		set(props, "security-severity", json_string(security_severity[rank]), bad);
	set(d, "properties", props, bad);
	if (!d)
		*bad = 1;
	return d;
}

/* ---- results ---- */

static json_t *sarif_suppression(audit_index *ix, json_t *w, int *bad)
{
	char just[5000];
	json_t *s = json_object(), *loc;
	snprintf(just, sizeof(just), "%s (waiver of %s, until %s)", rp_str(w, "reason"),
	         rp_str(w, "owner"), rp_str(w, "expires"));
	set(s, "kind", json_string("external"), bad);
	set(s, "status", json_string("accepted"), bad);
	set(s, "justification", json_string(just), bad);
	if ((loc = sarif_location(ix, json_object_get(w, "location"), NULL, bad)))
		set(s, "location", loc, bad);
	set(s, "properties",
	    json_pack("{s:s, s:s}", "owner", rp_str(w, "owner"), "expires", rp_str(w, "expires")),
	    bad);
	if (!s)
		*bad = 1;
	return s;
}

static json_t *sarif_result(audit_index *ix, size_t i, const size_t *sarif_index, int *bad)
{
	json_t *f = rp_finding(ix, i), *r = json_object(), *props = json_object(), *loc, *rel, *v;
	const rule_slot *s = &ix->slots[ix->f_slot[i]];
	const char *sev = rp_str(f, "severity");
	size_t j;
	set(r, "ruleId", rule_id(s->policy, s->rule), bad);
	set(r, "ruleIndex", json_integer((json_int_t)sarif_index[ix->f_slot[i]]), bad);
	set(r, "level", json_string(sarif_level(sev)), bad);
	set(r, "message",
	    json_pack("{s:o}", "text",
	              joined(rp_str(f, "subject"), ": ", rp_str(f, "message"), s->policy)),
	    bad);
	if ((loc = sarif_location(ix, json_object_get(f, "location"), NULL, bad)))
		set(r, "locations", json_pack("[o]", loc), bad);
	if (json_array_size(json_object_get(f, "related"))) {
		json_t *related = json_array();
		json_array_foreach(json_object_get(f, "related"), j, rel)
		{
			json_t *l = sarif_location(ix, rel, rp_str(rel, "message"), bad);
			if (!l)
				continue;
			set(l, "id", json_integer((json_int_t)j + 1), bad);
			add(related, l, bad);
		}
		if (json_array_size(related))
			set(r, "relatedLocations", related, bad);
		else
			json_decref(related);
	}
	set(r, "partialFingerprints",
	    json_pack("{s:o}", "meshpolFinding/v1",
	              *rp_str(f, "fingerprint")
	                  ? json_string(rp_str(f, "fingerprint"))
	                  : mp_finding_fingerprint(s->policy, s->rule, rp_str(f, "subject"))),
	    bad);
	if ((v = rp_waiver(ix, i)))
		set(r, "suppressions", json_pack("[o]", sarif_suppression(ix, v, bad)), bad);
	set(props, "subject", json_string(rp_str(f, "subject")), bad);
	if (*sev)
		set(props, "severity", json_string(sev), bad);
	if (*rp_str(f, "enforcement"))
		set(props, "enforcement", json_string(rp_str(f, "enforcement")), bad);
	if ((v = rp_finding_controls(ix, i)))
		set(props, "controls", json_incref(v), bad);
	if (*rp_str(f, "version"))
		set(props, "policyVersion", json_string(rp_str(f, "version")), bad);
	if ((v = json_object_get(f, "rule_location")))
		set(props, "ruleLocation", json_incref(v), bad);
	if ((v = json_object_get(f, "path")))
		set(props, "path", json_incref(v), bad);
	set(r, "properties", props, bad);
	if (!r)
		*bad = 1;
	return r;
}

/* ---- line hashes (linehash.h) ---- */

typedef struct {
	char *path;  /* the file on disk (mp_malloc'd) */
	json_t *fps; /* {"fps": the result's partialFingerprints, "line": its line} (owned) */
} hash_want;

static int by_path(const void *a, const void *b)
{
	return strcmp(((const hash_want *)a)->path, ((const hash_want *)b)->path);
}

/* The file on disk that a location names: under the audit's base when it is relative. */
static char *disk_path(audit_index *ix, const char *file)
{
	const char *base = rp_str(ix->audit, "base");
	size_t n = strlen(base) + strlen(file) + 2;
	char *p = mp_malloc(n);
	if (p)
		snprintf(p, n, "%s%s%s", file[0] != '/' && *base ? base : "",
		         file[0] != '/' && *base ? "/" : "", file);
	return p;
}

/* Adds primaryLocationLineHash to each result whose first location's file can be read. A file
 * that cannot (an .mpm compiled elsewhere, a file since removed) leaves its results without
 * one, as GitHub's upload action would. -1 when out of memory. */
static int add_line_hashes(audit_index *ix, json_t *results)
{
	size_t n = json_array_size(results), k = 0;
	hash_want *w = mp_calloc(n + 1, sizeof(*w));
	mp_linehash_req *req = mp_calloc(n + 1, sizeof(*req));
	int rc = -1;
	if (!w || !req)
		goto out;
	for (size_t i = 0; i < n; i++) {
		json_t *f = rp_finding(ix, i), *loc = json_object_get(f, "location");
		json_t *fps = json_object_get(json_array_get(results, i), "partialFingerprints");
		if (!*rp_str(loc, "file") || rp_int(loc, "line") <= 0 || !fps)
			continue;
		/* the line travels with its fingerprints through the sort by path */
		w[k].fps = json_pack("{s:O, s:I}", "fps", fps, "line", rp_int(loc, "line"));
		w[k].path = disk_path(ix, rp_str(loc, "file"));
		k++;
		if (!w[k - 1].fps || !w[k - 1].path)
			goto out;
	}
	/* one read and one pass per file */
	qsort(w, k, sizeof(*w), by_path);
	for (size_t a = 0, b; a < k; a = b) {
		char *text;
		size_t len;
		mp_diags d = {0};
		for (b = a; b < k && !strcmp(w[b].path, w[a].path); b++)
			req[b - a].line =
			    (uint32_t)json_integer_value(json_object_get(w[b].fps, "line"));
		if (mp_files_read(w[a].path, MAX_HASHED, &text, &len, &d) == 0) {
			int hashed = mp_linehash(text, len, req, b - a);
			mp_free(text);
			if (hashed < 0) {
				mp_diags_free(&d);
				goto out;
			}
			for (size_t j = a; j < b; j++)
				if (req[j - a].hash[0] &&
				    json_object_set_new(json_object_get(w[j].fps, "fps"),
				                        "primaryLocationLineHash",
				                        json_string(req[j - a].hash)) < 0) {
					mp_diags_free(&d);
					goto out;
				}
		}
		mp_diags_free(&d);
	}
	rc = 0;
out:
	for (size_t i = 0; w && i < k; i++) {
		mp_free(w[i].path);
		json_decref(w[i].fps);
	}
	mp_free(w);
	mp_free(req);
	return rc;
}

/* ---- notifications ---- */

static json_t *sarif_notification(audit_index *ix, size_t i, const size_t *sarif_index, int *bad)
{
	json_t *e = rp_error_at(ix, i), *n = json_object(), *loc;
	const rule_slot *s = &ix->slots[ix->e_slot[i]];
	set(n, "level", json_string("error"), bad);
	set(n, "message",
	    json_pack("{s:s}", "text", *rp_str(e, "message") ? rp_str(e, "message") : "error"),
	    bad);
	if ((loc = sarif_location(ix, json_object_get(e, "location"), NULL, bad)))
		set(n, "locations", json_pack("[o]", loc), bad);
	if (sarif_index[ix->e_slot[i]] != SIZE_MAX)
		set(n, "associatedRule",
		    json_pack("{s:o,s:I}", "id", rule_id(s->policy, s->rule), "index",
		              (json_int_t)sarif_index[ix->e_slot[i]]),
		    bad);
	if (!n)
		*bad = 1;
	return n;
}

/* Waivers that need a person, as configuration notifications: expired (an error: it fails the
 * audit) and unused (a warning). NULL when there are none. */
static json_t *waiver_notes(audit_index *ix, int *bad)
{
	json_t *notes = json_array(), *w;
	size_t i;
	json_array_foreach(json_object_get(ix->audit, "waivers"), i, w)
	{
		const char *status = rp_str(w, "status");
		int expired = !strcmp(status, "expired");
		char msg[5000];
		json_t *n, *loc;
		if (!expired && strcmp(status, "unused"))
			continue;
		snprintf(msg, sizeof(msg),
		         expired
		             ? "Waiver for %s expired on %s (owner %s): the audit fails until it "
		               "is renewed or removed."
		             : "Waiver for %s matches no finding (owner %s, until %s).",
		         *rp_str(w, "fingerprint") ? rp_str(w, "fingerprint") : rp_str(w, "rule"),
		         expired ? rp_str(w, "expires") : rp_str(w, "owner"),
		         expired ? rp_str(w, "owner") : rp_str(w, "expires"));
		n = json_pack("{s:s, s:{s:s}}", "level", expired ? "error" : "warning", "message",
		              "text", msg);
		if (n && (loc = sarif_location(ix, json_object_get(w, "location"), NULL, bad)))
			set(n, "locations", json_pack("[o]", loc), bad);
		add(notes, n, bad);
	}
	if (!json_array_size(notes)) {
		json_decref(notes);
		return NULL;
	}
	return notes;
}

int rp_write_sarif(audit_index *ix, FILE *out, int color)
{
	json_t *log = json_object(), *run = json_object(), *driver = json_object();
	json_t *rules = json_array(), *results = json_array(), *inv = json_object();
	json_t *tool = json_object_get(ix->audit, "tool"), *props = json_object(), *v;
	size_t *sarif_index = mp_calloc(ix->nslots + 1, sizeof(size_t)), n = 0;
	const char *version = *rp_str(tool, "version") ? rp_str(tool, "version") : MP_VERSION;
	int bad = !sarif_index, rc = -1;
	(void)color;
	if (bad)
		goto fail;
	/* Rules: every rules[] entry and every rule a finding names; not the pseudo-rules of
	 * errors that name none. */
	for (size_t s = 0; s < ix->nslots; s++) {
		sarif_index[s] = SIZE_MAX;
		if (!ix->slots[s].def && !ix->slots[s].f_n)
			continue;
		sarif_index[s] = n++;
		add(rules, sarif_descriptor(ix, &ix->slots[s], &bad), &bad);
	}
	for (size_t i = 0; i < json_array_size(ix->findings); i++)
		add(results, sarif_result(ix, i, sarif_index, &bad), &bad);
	if (!bad && add_line_hashes(ix, results) < 0)
		bad = 1;

	set(log, "$schema", json_string("https://json.schemastore.org/sarif-2.1.0.json"), &bad);
	set(log, "version", json_string("2.1.0"), &bad);
	set(driver, "name", json_string(*rp_str(tool, "name") ? rp_str(tool, "name") : "meshpol"),
	    &bad);
	set(driver, "version", json_string(version), &bad);
	set(driver, "semanticVersion", json_string(version), &bad);
	{
		/* the tool's page: the audit format, under the docs the rules' help points into */
		const char *uri = json_array_size(ix->rules)
		                      ? rp_str(json_array_get(ix->rules, 0), "help_uri")
		                      : "";
		const char *page = strstr(uri, MP_RULES_PAGE "#");
		if (page)
			set(driver, "informationUri",
			    json_pack("s#+", uri, (int)(page - uri), "audit-format.md"), &bad);
		else
			set(driver, "informationUri", json_string(MP_DOCS_URL "audit-format.md"),
			    &bad);
	}
	set(driver, "rules", rules, &bad);
	rules = NULL;
	set(run, "tool", json_pack("{s:o}", "driver", driver), &bad);
	driver = NULL;
	if (*rp_str(ix->audit, "base"))
		set(run, "originalUriBaseIds",
		    json_pack("{s:{s:o}}", SRCROOT, "uri",
		              uri_ref("file://", rp_str(ix->audit, "base"),
		                      strcmp(rp_str(ix->audit, "base"), "/") ? "/" : "")),
		    &bad);
	set(inv, "executionSuccessful", json_boolean(json_array_size(ix->errors) == 0), &bad);
	if (json_array_size(ix->errors)) {
		json_t *notes = json_array();
		for (size_t i = 0; i < json_array_size(ix->errors); i++)
			add(notes, sarif_notification(ix, i, sarif_index, &bad), &bad);
		set(inv, "toolExecutionNotifications", notes, &bad);
	}
	if ((v = waiver_notes(ix, &bad)))
		set(inv, "toolConfigurationNotifications", v, &bad);
	set(run, "invocations", json_pack("[o]", inv), &bad);
	inv = NULL;
	set(run, "results", results, &bad);
	results = NULL;
	/* libyaml counts a column in characters: code points */
	set(run, "columnKind", json_string("unicodeCodePoints"), &bad);
	if ((v = json_object_get(ix->audit, "bundle")))
		set(props, "bundle", json_incref(v), &bad);
	if ((v = json_object_get(ix->audit, "model")))
		set(props, "model", json_incref(v), &bad);
	if (*rp_str(ix->audit, "time"))
		set(props, "time", json_string(rp_str(ix->audit, "time")), &bad);
	set(props, "failOn", json_string(ix->fail_on), &bad);
	set(props, "result", json_string(ix->result), &bad);
	set(props, "counts", json_incref(ix->counts), &bad);
	set(run, "properties", props, &bad);
	props = NULL;
	set(log, "runs", json_pack("[o]", run), &bad);
	run = NULL;
	if (bad || json_dumpf(log, out, JSON_INDENT(2)) < 0)
		goto fail;
	fputc('\n', out);
	rc = 0;
fail:
	json_decref(log);
	json_decref(run);
	json_decref(driver);
	json_decref(rules);
	json_decref(results);
	json_decref(inv);
	json_decref(props);
	mp_free(sarif_index);
	return rc;
}
