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

#include <assert.h>
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

static void texts_of(audit_index *ix, const rule_slot *s, json_t *def, rule_texts *t)
{
	t->description = rp_str(def, "description");
	t->help = rp_str(def, "help");
	t->uri = rp_str(def, "help_uri");
	t->precision = rp_str(def, "precision");
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
static char *help_of(audit_index *ix, const rule_slot *s, json_t *def, const rule_texts *t, int md)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	esc_mode esc = md ? ESC_MD : ESC_TERM_BLOCK;
	json_t *pol = ix->pols[s->pol].def, *loc = json_object_get(def, "location");
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
	rp_put(f, *rp_slot_severity(ix, s) ? rp_slot_severity(ix, s) : "-", md ? ESC_MD : ESC_TERM);
	fputs(", enforcement: ", f);
	rp_put(f, *rp_slot_enforcement(ix, s) ? rp_slot_enforcement(ix, s) : "-",
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

static json_t *sarif_descriptor(audit_index *ix, const rule_slot *s, json_t *def, int *bad)
{
	/* GitHub's ranges: critical over 9.0, high 7.0-8.9, medium 4.0-6.9, low 0.1-3.9 */
	static const char *const security_severity[RP_NSEV] = {"9.5", "8.0", "5.5", "2.0", NULL};
	static const char *const problem_severity[RP_NSEV] = {"error", "error", "warning",
	                                                      "recommendation", "recommendation"};
	const char *sev = rp_slot_severity(ix, s), *kind = rp_str(ix->pols[s->pol].def, "kind");
	json_t *d = json_object(), *props = json_object(), *tags = json_array(), *controls, *v;
	int rank = rp_sev_rank(sev);
	rule_texts t;
	size_t i;
	texts_of(ix, s, def, &t);
	set(d, "id", rule_id(s->policy, s->rule), bad);
	set(d, "name", friendly_name(*s->rule ? s->rule : s->policy), bad);
	set(d, "shortDescription", json_pack("{s:s}", "text", t.description), bad);
	set(d, "fullDescription",
	    json_pack("{s:o}", "text", joined(t.description, "\n\n", t.help, "")), bad);
	json_t *help = text_of(help_of(ix, s, def, &t, 0));
	if (help) {
		char *md = help_of(ix, s, def, &t, 1);
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
	if (*rp_str(def, "type"))
		set(props, "type", json_string(rp_str(def, "type")), bad);
	if (*sev)
		set(props, "severity", json_string(sev), bad);
	if (*rp_slot_enforcement(ix, s))
		set(props, "enforcement", json_string(rp_slot_enforcement(ix, s)), bad);
	if ((controls = rp_slot_controls(ix, s)))
		set(props, "controls", json_incref(controls), bad);
	if (json_is_object(json_object_get(def, "location")))
		set(props, "location", json_incref(json_object_get(def, "location")), bad);
	add_tag(tags, "security", bad);
	add_tag(tags, kind, bad);
	add_tag(tags, rp_str(def, "type"), bad);
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

static json_t *sarif_result(audit_index *ix, json_t *f, size_t slot, const size_t *sarif_index,
                            int *bad)
{
	json_t *r = json_object(), *props = json_object(), *loc, *rel, *v;
	const rule_slot *s = &ix->slots[slot];
	const char *sev = rp_str(f, "severity");
	size_t j;
	set(r, "ruleId", rule_id(s->policy, s->rule), bad);
	set(r, "ruleIndex", json_integer((json_int_t)sarif_index[slot]), bad);
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
	if ((v = rp_waiver(f)))
		set(r, "suppressions", json_pack("[o]", sarif_suppression(ix, v, bad)), bad);
	set(props, "subject", json_string(rp_str(f, "subject")), bad);
	if (*sev)
		set(props, "severity", json_string(sev), bad);
	if (*rp_str(f, "enforcement"))
		set(props, "enforcement", json_string(rp_str(f, "enforcement")), bad);
	if ((v = rp_finding_controls(ix, f, slot)))
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

/* The line hashes of each file a result names, made once per file (one read, one pass) and kept
 * while the results are written: what the report holds grows with the files, not the findings.
 * Past MAX_CACHED bytes the cache is emptied and files are hashed again as results name them. */
#define MAX_CACHED (128u << 20)

typedef struct {
	char *hashes;  /* line L's hash at hashes + off[L - 1]; NULL: the file cannot be read */
	uint32_t *off; /* nlines + 1 offsets */
	uint32_t nlines;
} file_hashes;

typedef struct {
	json_t *index; /* the file on disk -> its entry's index */
	file_hashes *v;
	size_t n, cap, bytes;
} hash_cache;

static void cache_clear(hash_cache *c)
{
	for (size_t i = 0; i < c->n; i++) {
		mp_free(c->v[i].hashes);
		mp_free(c->v[i].off);
	}
	c->n = c->bytes = 0;
	json_object_clear(c->index);
}

static void cache_free(hash_cache *c)
{
	cache_clear(c);
	mp_free(c->v);
	json_decref(c->index);
}

/* Hashes every line of the file at path into h; h->hashes NULL when it cannot be read (an .mpm
 * compiled elsewhere, a file since removed: no hash, as GitHub's upload action would leave
 * none). -1 when out of memory. */
static int hash_file(const char *path, file_hashes *h)
{
	char *text = NULL;
	size_t len, total = 0;
	mp_diags d = {0};
	mp_linehash_req *req = NULL;
	int rc = -1;
	*h = (file_hashes){0};
	if (mp_files_read(path, MAX_HASHED, &text, &len, &d) != 0) {
		mp_diags_free(&d);
		return 0;
	}
	mp_diags_free(&d);
	uint32_t n = 1;
	for (size_t i = 0; i < len; i++)
		n += text[i] == '\n';
	if (!(req = mp_calloc(n, sizeof(*req))) || !(h->off = mp_calloc((size_t)n + 1, 4)))
		goto out;
	for (uint32_t l = 0; l < n; l++)
		req[l].line = l + 1;
	if (mp_linehash(text, len, req, n) < 0)
		goto out;
	for (uint32_t l = 0; l < n; l++)
		total += strlen(req[l].hash) + 1;
	if (!(h->hashes = mp_malloc(total ? total : 1)))
		goto out;
	total = 0;
	for (uint32_t l = 0; l < n; l++) {
		size_t k = strlen(req[l].hash) + 1;
		h->off[l] = (uint32_t)total;
		memcpy(h->hashes + total, req[l].hash, k);
		total += k;
	}
	h->off[n] = (uint32_t)total;
	h->nlines = n;
	rc = 0;
out:
	mp_free(text);
	mp_free(req);
	if (rc < 0) {
		mp_free(h->hashes);
		mp_free(h->off);
		*h = (file_hashes){0};
	}
	return rc;
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

/* Adds primaryLocationLineHash to the result r of finding f when its location's file can be
 * read. -1 when out of memory. */
static int add_line_hash(audit_index *ix, hash_cache *c, json_t *f, json_t *r)
{
	json_t *loc = json_object_get(f, "location"),
	       *fps = json_object_get(r, "partialFingerprints");
	json_t *at;
	file_hashes *h;
	char *path;
	if (!*rp_str(loc, "file") || rp_int(loc, "line") <= 0 || !fps)
		return 0;
	uint32_t line = (uint32_t)rp_int(loc, "line");
	if (!(path = disk_path(ix, rp_str(loc, "file"))))
		return -1;
	if ((at = json_object_get(c->index, path))) {
		h = &c->v[json_integer_value(at)];
	} else {
		file_hashes fresh;
		if (hash_file(path, &fresh) < 0)
			goto fail;
		size_t size = fresh.hashes ? fresh.off[fresh.nlines] + 4 * (fresh.nlines + 1) : 0;
		if (c->bytes + size > MAX_CACHED)
			cache_clear(c);
		if (c->n == c->cap) {
			size_t cap = c->cap ? 2 * c->cap : 16;
			file_hashes *v = mp_realloc(c->v, cap * sizeof(*v));
			if (!v) {
				mp_free(fresh.hashes);
				mp_free(fresh.off);
				goto fail;
			}
			c->v = v;
			c->cap = cap;
		}
		c->v[c->n] = fresh;
		if (json_object_set_new(c->index, path, json_integer((json_int_t)c->n)) < 0) {
			mp_free(fresh.hashes);
			mp_free(fresh.off);
			goto fail;
		}
		h = &c->v[c->n++];
		c->bytes += size;
	}
	mp_free(path);
	if (!h->hashes || line < 1 || line > h->nlines || !h->hashes[h->off[line - 1]])
		return 0;
	return json_object_set_new(fps, "primaryLocationLineHash",
	                           json_string(h->hashes + h->off[line - 1]));
fail:
	mp_free(path);
	return -1;
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

/* ---- writing: jansson's JSON_INDENT(2) text, a member or an element at a time ---- */

/* One open object or array of the document being written. */
typedef struct {
	FILE *out;
	int depth;    /* of the innermost open value */
	int first[8]; /* per depth: nothing written in it yet */
} jw;

static void jw_indent(jw *w, int depth)
{
	fputc('\n', w->out);
	for (int i = 0; i < depth; i++)
		fputs("  ", w->out);
}

/* The next member (key, a constant needing no escape) or element (key NULL) of the innermost
 * value. */
static void jw_next(jw *w, const char *key)
{
	if (!w->first[w->depth])
		fputc(',', w->out);
	w->first[w->depth] = 0;
	jw_indent(w, w->depth);
	if (key)
		fprintf(w->out, "\"%s\": ", key);
}

static void jw_open(jw *w, char bracket)
{
	fputc(bracket, w->out);
	w->first[++w->depth] = 1;
	assert(w->depth < 8);
}

static void jw_close(jw *w, char bracket)
{
	if (!w->first[w->depth])
		jw_indent(w, w->depth - 1);
	fputc(bracket, w->out);
	w->depth--;
}

/* v (consumed) as the value just opened by jw_next: jansson's text, each line after the first
 * indented to the depth. -1 when v is NULL or out of memory. */
static int jw_value(jw *w, json_t *v)
{
	char *s = v ? json_dumps(v, JSON_INDENT(2) | JSON_ENCODE_ANY) : NULL;
	json_decref(v);
	if (!s)
		return -1;
	for (const char *p = s; *p;) {
		const char *nl = strchr(p, '\n');
		size_t n = nl ? (size_t)(nl - p) : strlen(p);
		fwrite(p, 1, n, w->out);
		if (nl)
			jw_indent(w, w->depth);
		p += n + (nl != NULL);
	}
	free(s);
	return 0;
}

static int jw_member(jw *w, const char *key, json_t *v)
{
	jw_next(w, key);
	return jw_value(w, v);
}

typedef struct {
	audit_index *ix;
	jw *w;
	const size_t *sarif_index;
	hash_cache hashes;
} result_pass;

static int result_one(void *vctx, json_t *f, size_t slot)
{
	result_pass *p = vctx;
	int bad = 0;
	json_t *r = sarif_result(p->ix, f, slot, p->sarif_index, &bad);
	if (bad || add_line_hash(p->ix, &p->hashes, f, r) < 0) {
		json_decref(r);
		return -1;
	}
	jw_next(p->w, NULL);
	return jw_value(p->w, r);
}

/* The driver's members: the tool and every rule's reportingDescriptor, one at a time. */
static int write_driver(audit_index *ix, jw *w, const size_t *sarif_index)
{
	json_t *tool = json_object_get(ix->audit, "tool");
	const char *version = *rp_str(tool, "version") ? rp_str(tool, "version") : MP_VERSION;
	char uri[2048];
	int bad = 0;
	bad |= jw_member(w, "name",
	                 json_string(*rp_str(tool, "name") ? rp_str(tool, "name") : "meshpol"));
	bad |= jw_member(w, "version", json_string(version));
	bad |= jw_member(w, "semanticVersion", json_string(version));
	/* the tool's page: the audit format, under the docs the rules' help points into */
	rp_first_help_uri(ix, uri, sizeof(uri));
	const char *page = strstr(uri, MP_RULES_PAGE "#");
	if (page)
		bad |= jw_member(w, "informationUri",
		                 json_pack("s#+", uri, (int)(page - uri), "audit-format.md"));
	else
		bad |= jw_member(w, "informationUri", json_string(MP_DOCS_URL "audit-format.md"));
	jw_next(w, "rules");
	jw_open(w, '[');
	for (size_t s = 0; s < ix->nslots && !bad; s++) {
		if (sarif_index[s] == SIZE_MAX)
			continue;
		json_t *def = rp_slot_def(ix, &ix->slots[s], &bad);
		json_t *d = bad ? NULL : sarif_descriptor(ix, &ix->slots[s], def, &bad);
		json_decref(def);
		if (bad) {
			json_decref(d);
			break;
		}
		jw_next(w, NULL);
		bad |= jw_value(w, d);
	}
	jw_close(w, ']');
	return bad ? -1 : 0;
}

int rp_write_sarif(audit_index *ix, FILE *out, int color)
{
	jw w = {.out = out};
	json_t *inv = json_object(), *props = json_object(), *v;
	size_t *sarif_index = mp_calloc(ix->nslots + 1, sizeof(size_t)), n = 0;
	result_pass rp = {.ix = ix, .w = &w, .sarif_index = sarif_index};
	int bad = !sarif_index || !inv || !props || !(rp.hashes.index = json_object()), rc = -1;
	(void)color;
	if (bad)
		goto fail;
	/* Rules: every rules[] entry and every rule a finding names; not the pseudo-rules of
	 * errors that name none. */
	for (size_t s = 0; s < ix->nslots; s++) {
		const rule_slot *sl = &ix->slots[s];
		sarif_index[s] = !sl->def && !sl->rec && !sl->f_n ? SIZE_MAX : n++;
	}
	set(inv, "executionSuccessful", json_boolean(json_array_size(ix->errors) == 0), &bad);
	if (json_array_size(ix->errors)) {
		json_t *notes = json_array();
		for (size_t i = 0; i < json_array_size(ix->errors); i++)
			add(notes, sarif_notification(ix, i, sarif_index, &bad), &bad);
		set(inv, "toolExecutionNotifications", notes, &bad);
	}
	if ((v = waiver_notes(ix, &bad)))
		set(inv, "toolConfigurationNotifications", v, &bad);
	if ((v = json_object_get(ix->audit, "bundle")))
		set(props, "bundle", json_incref(v), &bad);
	if ((v = json_object_get(ix->audit, "model")))
		set(props, "model", json_incref(v), &bad);
	if (*rp_str(ix->audit, "time"))
		set(props, "time", json_string(rp_str(ix->audit, "time")), &bad);
	set(props, "failOn", json_string(ix->fail_on), &bad);
	set(props, "result", json_string(ix->result), &bad);
	set(props, "counts", json_incref(ix->counts), &bad);
	if (bad)
		goto fail;

	jw_open(&w, '{');
	bad |=
	    jw_member(&w, "$schema", json_string("https://json.schemastore.org/sarif-2.1.0.json"));
	bad |= jw_member(&w, "version", json_string("2.1.0"));
	jw_next(&w, "runs");
	jw_open(&w, '[');
	jw_next(&w, NULL);
	jw_open(&w, '{'); /* the run */
	jw_next(&w, "tool");
	jw_open(&w, '{');
	jw_next(&w, "driver");
	jw_open(&w, '{');
	if (bad || write_driver(ix, &w, sarif_index) < 0)
		goto fail;
	jw_close(&w, '}');
	jw_close(&w, '}');
	if (*rp_str(ix->audit, "base"))
		bad |= jw_member(
		    &w, "originalUriBaseIds",
		    json_pack("{s:{s:o}}", SRCROOT, "uri",
		              uri_ref("file://", rp_str(ix->audit, "base"),
		                      strcmp(rp_str(ix->audit, "base"), "/") ? "/" : "")));
	bad |= jw_member(&w, "invocations", json_pack("[O]", inv));
	jw_next(&w, "results");
	jw_open(&w, '[');
	if (bad || rp_scan(ix, result_one, &rp) < 0)
		goto fail;
	jw_close(&w, ']');
	/* libyaml counts a column in characters: code points */
	bad |= jw_member(&w, "columnKind", json_string("unicodeCodePoints"));
	bad |= jw_member(&w, "properties", json_incref(props));
	jw_close(&w, '}');
	jw_close(&w, ']');
	jw_close(&w, '}');
	if (bad)
		goto fail;
	fputc('\n', out);
	rc = 0;
fail:
	json_decref(inv);
	json_decref(props);
	if (rp.hashes.index)
		cache_free(&rp.hashes);
	mp_free(sarif_index);
	return rc;
}
