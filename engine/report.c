/* report.c: the audit report writers: text, json, junit, sarif and markdown. The formats and
 * the decisions behind them are described in report.h. */
#include "report.h"
#include "alloc.h"
#include "diag.h"

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <openssl/evp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* ---- Reading the audit -------------------------------------------------------------------- */

#define NSEV 5 /* severity ranks 0..4; NSEV ranks any other severity */
static const char *const sev_names[NSEV] = {"critical", "high", "medium", "low", "info"};
static const char *const sev_upper[NSEV] = {"CRITICAL", "HIGH", "MEDIUM", "LOW", "INFO"};
static const char *const sev_title[NSEV] = {"Critical", "High", "Medium", "Low", "Info"};

static const char *str_of(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));
	return s ? s : "";
}

static long long int_of(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);
	return json_is_integer(v) ? (long long)json_integer_value(v) : 0;
}

static int sev_rank(const char *s)
{
	for (int i = 0; i < NSEV; i++)
		if (!strcmp(s, sev_names[i]))
			return i;
	return NSEV;
}

/* advisory 0, soft 1, hard 2; anything else counts as hard, so it fails closed. */
static int enf_rank(const char *s)
{
	if (!strcmp(s, "advisory"))
		return 0;
	return strcmp(s, "soft") ? 2 : 1;
}

static int in_array(json_t *arr, const char *s)
{
	size_t i;
	json_t *v;
	json_array_foreach(arr, i, v)
	{
		const char *e = json_string_value(v);
		if (e && !strcmp(e, s))
			return 1;
	}
	return 0;
}

static int is_hex(const char *s)
{
	for (; *s; s++)
		if (!isxdigit((unsigned char)*s))
			return 0;
	return 1;
}

/* Every rule the report shows: the rules[] entries, then the (policy, rule) pairs that only
 * findings or errors name. Slots are grouped by policy, in the order policies first appear. */
typedef struct {
	const char *policy, *rule; /* borrowed from the audit; "" when absent */
	json_t *def;               /* its rules[] entry; NULL if only findings or errors name it */
	size_t pol;                /* its policy: an index in ix->pols */
	size_t f_off, f_n;         /* its findings: ix->f_by_slot[f_off .. f_off + f_n) */
	size_t e_off, e_n;         /* its errors: ix->e_by_slot[e_off .. e_off + e_n) */
} rule_slot;

typedef struct {
	const char *name;  /* borrowed; "" when absent */
	json_t *def;       /* its policies[] entry, or NULL */
	size_t s_off, s_n; /* its rules: ix->slots[s_off .. s_off + s_n) */
} pol_slot;

/* Borrows the audit, which must outlive it; owns the arrays. Zero-initialise, index_free. */
typedef struct {
	json_t *audit, *policies, *rules, *findings, *errors, *counts;
	const char *fail_on, *result;
	pol_slot *pols;
	rule_slot *slots;
	size_t npols, nslots;
	size_t *f_slot, *e_slot; /* per finding / error: its slot */
	size_t *f_by_slot,
	    *e_by_slot;           /* finding / error indices grouped by slot, audit order kept */
	size_t *f_by_sev;         /* finding indices by severity rank, audit order kept */
	size_t sev_off[NSEV + 2]; /* rank r holds f_by_sev[sev_off[r] .. sev_off[r + 1]) */
} audit_index;

static int check_shape(json_t *audit, char *err, size_t errlen)
{
	static const char *const arrays[] = {"policies", "rules", "findings", "errors"};
	char q[80];
	const char *s;
	if (!json_is_object(audit)) {
		snprintf(err, errlen, "audit: not a JSON object");
		goto fail;
	}
	for (size_t k = 0; k < sizeof(arrays) / sizeof(arrays[0]); k++) {
		json_t *a = json_object_get(audit, arrays[k]), *v;
		size_t i;
		if (!json_is_array(a)) {
			snprintf(err, errlen, "audit: '%s' is missing or not an array", arrays[k]);
			goto fail;
		}
		json_array_foreach(a, i, v)
		{
			if (!json_is_object(v)) {
				snprintf(err, errlen, "audit: %s[%zu] is not an object", arrays[k],
				         i);
				goto fail;
			}
		}
	}
	if (!json_is_object(json_object_get(audit, "counts"))) {
		snprintf(err, errlen, "audit: 'counts' is missing or not an object");
		goto fail;
	}
	s = json_string_value(json_object_get(audit, "fail_on"));
	if (!s || (strcmp(s, "advisory") && strcmp(s, "soft") && strcmp(s, "hard"))) {
		snprintf(err, errlen, "audit: 'fail_on' is '%s', not advisory, soft or hard",
		         s ? mp_diag_quote(s, strlen(s), q, sizeof(q)) : "(missing)");
		goto fail;
	}
	s = json_string_value(json_object_get(audit, "result"));
	if (!s || (strcmp(s, "pass") && strcmp(s, "fail"))) {
		snprintf(err, errlen, "audit: 'result' is '%s', not pass or fail",
		         s ? mp_diag_quote(s, strlen(s), q, sizeof(q)) : "(missing)");
		goto fail;
	}
	return 0;
fail:
	return -1;
}

/* The index of name in map, adding it as n (and incrementing *n) when it is new; -1 when out of
 * memory. The map holds the index as a JSON integer. */
static long long map_index(json_t *map, const char *key, size_t *n)
{
	json_t *v = json_object_get(map, key);
	if (v)
		return json_integer_value(v);
	if (json_object_set_new_nocheck(map, key, json_integer((json_int_t)*n)) < 0)
		return -1;
	return (long long)(*n)++;
}

static long long find_pol(audit_index *ix, json_t *pmap, const char *name, json_t *def)
{
	size_t before = ix->npols;
	long long p = map_index(pmap, name, &ix->npols);
	if (p < 0)
		return -1;
	if ((size_t)p == before)
		ix->pols[p] = (pol_slot){.name = name};
	if (def && !ix->pols[p].def)
		ix->pols[p].def = def;
	return p;
}

/* The slot of (policy, rule), added when new. The key is length-prefixed, so it is unambiguous
 * whatever the names hold. */
static long long find_slot(audit_index *ix, json_t *pmap, json_t *smap, json_t *entry, json_t *def)
{
	const char *policy = str_of(entry, "policy"), *rule = str_of(entry, "rule");
	size_t plen = strlen(policy), len = plen + strlen(rule) + 24, before = ix->nslots;
	long long p = find_pol(ix, pmap, policy, NULL), s = -1;
	char *key = mp_malloc(len);
	if (p < 0 || !key)
		goto out;
	snprintf(key, len, "%zu:%s%s", plen, policy, rule);
	s = map_index(smap, key, &ix->nslots);
	if (s >= 0 && (size_t)s == before)
		ix->slots[s] = (rule_slot){.policy = policy, .rule = rule, .pol = (size_t)p};
	if (s >= 0 && def && !ix->slots[s].def)
		ix->slots[s].def = def;
out:
	mp_free(key);
	return s;
}

/* Stable counting sort: out receives 0..n-1 ordered by key[i] < nkeys; off[k] is where key k
 * starts (off has nkeys + 1 entries). */
static void group_by(const size_t *key, size_t n, size_t nkeys, size_t *off, size_t *out)
{
	memset(off, 0, (nkeys + 1) * sizeof(*off));
	for (size_t i = 0; i < n; i++)
		off[key[i] + 1]++;
	for (size_t k = 0; k < nkeys; k++)
		off[k + 1] += off[k];
	for (size_t i = 0; i < n; i++)
		out[off[key[i]]++] = i;
	for (size_t k = nkeys; k > 0; k--) /* off[k] was advanced to the end of group k */
		off[k] = off[k - 1];
	off[0] = 0;
}

static void index_free(audit_index *ix)
{
	mp_free(ix->pols);
	mp_free(ix->slots);
	mp_free(ix->f_slot);
	mp_free(ix->e_slot);
	mp_free(ix->f_by_slot);
	mp_free(ix->e_by_slot);
	mp_free(ix->f_by_sev);
	memset(ix, 0, sizeof(*ix));
}

/* Builds the index of an audit that passed check_shape. -1 when out of memory. */
static int index_build(audit_index *ix, json_t *audit)
{
	json_t *pmap = json_object(), *smap = json_object(), *v;
	rule_slot *sorted = NULL;
	size_t *key = NULL, *off = NULL, *order = NULL, *remap = NULL, i;
	int rc = -1;
	ix->audit = audit;
	ix->policies = json_object_get(audit, "policies");
	ix->rules = json_object_get(audit, "rules");
	ix->findings = json_object_get(audit, "findings");
	ix->errors = json_object_get(audit, "errors");
	ix->counts = json_object_get(audit, "counts");
	ix->fail_on = str_of(audit, "fail_on");
	ix->result = str_of(audit, "result");
	size_t np = json_array_size(ix->policies), nr = json_array_size(ix->rules);
	size_t nf = json_array_size(ix->findings), ne = json_array_size(ix->errors);
	size_t maxs = nr + nf + ne, maxp = np + maxs;
	if (!pmap || !smap)
		goto fail;
	ix->pols = mp_calloc(maxp, sizeof(*ix->pols));
	ix->slots = mp_calloc(maxs, sizeof(*ix->slots));
	ix->f_slot = mp_calloc(nf, sizeof(size_t));
	ix->e_slot = mp_calloc(ne, sizeof(size_t));
	ix->f_by_slot = mp_calloc(nf, sizeof(size_t));
	ix->e_by_slot = mp_calloc(ne, sizeof(size_t));
	ix->f_by_sev = mp_calloc(nf, sizeof(size_t));
	sorted = mp_calloc(maxs, sizeof(*sorted));
	key = mp_calloc(maxs, sizeof(size_t));
	order = mp_calloc(maxs, sizeof(size_t));
	remap = mp_calloc(maxs, sizeof(size_t));
	off = mp_calloc(maxp + 1, sizeof(size_t));
	if (!ix->pols || !ix->slots || !ix->f_slot || !ix->e_slot || !ix->f_by_slot ||
	    !ix->e_by_slot || !ix->f_by_sev || !sorted || !key || !order || !remap || !off)
		goto fail;

	json_array_foreach(ix->policies, i, v)
	{
		if (find_pol(ix, pmap, str_of(v, "name"), v) < 0)
			goto fail;
	}
	json_array_foreach(ix->rules, i, v)
	{
		if (find_slot(ix, pmap, smap, v, v) < 0)
			goto fail;
	}
	json_array_foreach(ix->findings, i, v)
	{
		long long s = find_slot(ix, pmap, smap, v, NULL);
		if (s < 0)
			goto fail;
		ix->f_slot[i] = (size_t)s;
	}
	json_array_foreach(ix->errors, i, v)
	{
		long long s = find_slot(ix, pmap, smap, v, NULL);
		if (s < 0)
			goto fail;
		ix->e_slot[i] = (size_t)s;
	}

	/* Group the slots by policy, keeping their order within a policy. */
	for (i = 0; i < ix->nslots; i++)
		key[i] = ix->slots[i].pol;
	group_by(key, ix->nslots, ix->npols, off, order);
	for (i = 0; i < ix->nslots; i++) {
		sorted[i] = ix->slots[order[i]];
		remap[order[i]] = i;
	}
	for (size_t p = 0; p < ix->npols; p++) {
		ix->pols[p].s_off = off[p];
		ix->pols[p].s_n = off[p + 1] - off[p];
	}
	memcpy(ix->slots, sorted, ix->nslots * sizeof(*sorted));
	for (i = 0; i < nf; i++)
		ix->f_slot[i] = remap[ix->f_slot[i]];
	for (i = 0; i < ne; i++)
		ix->e_slot[i] = remap[ix->e_slot[i]];

	group_by(ix->f_slot, nf, ix->nslots, off, ix->f_by_slot);
	for (i = 0; i < ix->nslots; i++) {
		ix->slots[i].f_off = off[i];
		ix->slots[i].f_n = off[i + 1] - off[i];
	}
	group_by(ix->e_slot, ne, ix->nslots, off, ix->e_by_slot);
	for (i = 0; i < ix->nslots; i++) {
		ix->slots[i].e_off = off[i];
		ix->slots[i].e_n = off[i + 1] - off[i];
	}
	for (i = 0; i < nf; i++)
		key[i] = (size_t)sev_rank(str_of(json_array_get(ix->findings, i), "severity"));
	group_by(key, nf, NSEV + 1, ix->sev_off, ix->f_by_sev);
	rc = 0;
fail:
	mp_free(sorted);
	mp_free(key);
	mp_free(order);
	mp_free(remap);
	mp_free(off);
	json_decref(pmap);
	json_decref(smap);
	if (rc < 0)
		index_free(ix);
	return rc;
}

static json_t *finding(audit_index *ix, size_t i)
{
	return json_array_get(ix->findings, i);
}

static json_t *error_at(audit_index *ix, size_t i)
{
	return json_array_get(ix->errors, i);
}

/* A field of a rule: its rules[] entry's, else its policy's ("" when neither has it). */
static const char *slot_str(audit_index *ix, const rule_slot *s, const char *key)
{
	const char *v = str_of(s->def, key);
	return *v ? v : str_of(ix->pols[s->pol].def, key);
}

static json_t *slot_controls(audit_index *ix, const rule_slot *s)
{
	json_t *c = json_object_get(s->def, "controls");
	if (json_array_size(c))
		return c;
	return json_object_get(ix->pols[s->pol].def, "controls");
}

static json_t *finding_controls(audit_index *ix, size_t i)
{
	json_t *c = json_object_get(finding(ix, i), "controls");
	return json_is_array(c) ? c : slot_controls(ix, &ix->slots[ix->f_slot[i]]);
}

static int slot_errored(const rule_slot *s)
{
	return s->e_n > 0 || !strcmp(str_of(s->def, "status"), "error");
}

static int slot_failed(const rule_slot *s)
{
	return !slot_errored(s) && (s->f_n > 0 || !strcmp(str_of(s->def, "status"), "fail"));
}

static int blocking(audit_index *ix, size_t i)
{
	return enf_rank(str_of(finding(ix, i), "enforcement")) >= enf_rank(ix->fail_on);
}

/* ---- Escaping untrusted text --------------------------------------------------------------- */

typedef enum {
	ESC_TERM,       /* one terminal line */
	ESC_TERM_BLOCK, /* terminal text indented by 4: a newline continues the indentation */
	ESC_XML_TEXT,
	ESC_XML_ATTR,
	ESC_MD, /* markdown inline text: a table cell, a heading or a list item */
} esc_mode;

/* Decodes the UTF-8 sequence at s (n > 0 bytes left): its length, and the code point in *cp,
 * or -1 for a byte that does not start a valid sequence (overlong, surrogate, past U+10FFFF). */
static size_t utf8_next(const unsigned char *s, size_t n, long *cp)
{
	size_t len;
	long v, min;
	if (s[0] < 0x80) {
		*cp = s[0];
		return 1;
	}
	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		len = 2, v = s[0] & 0x1f, min = 0x80;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		len = 3, v = s[0] & 0x0f, min = 0x800;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		len = 4, v = s[0] & 0x07, min = 0x10000;
	} else {
		goto fail;
	}
	if (len > n)
		goto fail;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			goto fail;
		v = (v << 6) | (s[i] & 0x3f);
	}
	if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
		goto fail;
	*cp = v;
	return len;
fail:
	*cp = -1;
	return 1;
}

/* What stands for code point cp in mode: a replacement (maybe built in buf), or NULL to copy
 * the character as it is. */
static const char *esc_one(long cp, esc_mode mode, char *buf, size_t buflen)
{
	int xml = mode == ESC_XML_TEXT || mode == ESC_XML_ATTR;
	if (cp < 0 || cp == 0xfffe || cp == 0xffff)
		return "\xef\xbf\xbd"; /* U+FFFD; U+FFFE/U+FFFF are not XML characters */
	if (cp == '\n' && mode == ESC_TERM_BLOCK)
		return "\n    ";
	if (cp == '\n' && mode == ESC_MD)
		return "<br>";
	if ((cp == '\n' || cp == '\t') && mode == ESC_XML_TEXT)
		return NULL;
	if ((cp == '\n' || cp == '\t') && mode == ESC_XML_ATTR)
		return cp == '\n' ? "&#10;" : "&#9;";
	if (cp < 0x20 || (cp >= 0x7f && cp <= 0x9f)) {
		snprintf(buf, buflen, cp < 0x80 ? "\\x%02lx" : "\\u%04lx", cp);
		return buf;
	}
	if (xml) {
		switch (cp) {
		case '&':
			return "&amp;";
		case '<':
			return "&lt;";
		case '>':
			return "&gt;";
		case '"':
			return "&quot;";
		case '\'':
			return "&apos;";
		}
	}
	if (mode == ESC_MD && cp < 0x80 && strchr("\\`*_[]<|~&$", (int)cp)) {
		snprintf(buf, buflen, "\\%c", (char)cp);
		return buf;
	}
	return NULL;
}

static void put(FILE *out, const char *s, esc_mode mode)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n = strlen(s);
	char buf[16];
	for (size_t i = 0; i < n;) {
		long cp;
		size_t len = utf8_next(p + i, n - i, &cp);
		const char *rep = esc_one(cp, mode, buf, sizeof(buf));
		if (rep)
			fputs(rep, out);
		else
			fwrite(p + i, 1, len, out);
		i += len;
	}
}

/* "policy/rule", or "policy" for an error that names no rule. */
static void put_id(FILE *out, const char *policy, const char *rule, esc_mode mode)
{
	put(out, *policy ? policy : "(none)", mode);
	if (*rule) {
		fputc('/', out);
		put(out, rule, mode);
	}
}

/* "file:line" (":line" only when positive); 0 and nothing written when loc names no file. */
static int put_loc(FILE *out, json_t *loc, esc_mode mode)
{
	const char *file = str_of(loc, "file");
	long long line = int_of(loc, "line");
	if (!*file)
		return 0;
	put(out, file, mode);
	if (line > 0)
		fprintf(out, ":%lld", line);
	return 1;
}

/* "at FILE:LINE (rule at FILE:LINE)", either half when the other is missing; 0 if neither. */
static int put_where(FILE *out, json_t *loc, json_t *rule_loc, esc_mode mode)
{
	int any = 0;
	if (*str_of(loc, "file")) {
		fputs("at ", out);
		put_loc(out, loc, mode);
		any = 1;
	}
	if (*str_of(rule_loc, "file")) {
		fputs(any ? " (rule at " : "rule at ", out);
		put_loc(out, rule_loc, mode);
		if (any)
			fputc(')', out);
		any = 1;
	}
	return any;
}

static void put_list(FILE *out, json_t *arr, const char *sep, esc_mode mode)
{
	size_t i, n = 0;
	json_t *v;
	json_array_foreach(arr, i, v)
	{
		if (!json_is_string(v))
			continue;
		fputs(n++ ? sep : "", out);
		put(out, json_string_value(v), mode);
	}
}

/* ---- text ---------------------------------------------------------------------------------- */

static void sgr(FILE *out, int color, const char *code)
{
	if (color)
		fprintf(out, "\033[%sm", code);
}

static const char *sev_color(int rank)
{
	if (rank == 0)
		return "1;31";
	if (rank == 1)
		return "31";
	return rank == 2 ? "33" : "34";
}

static const char *plural(long long n, const char *one, const char *many)
{
	return n == 1 ? one : many;
}

static void text_summary(audit_index *ix, FILE *out, int color)
{
	json_t *sev = json_object_get(ix->counts, "by_severity");
	json_t *enf = json_object_get(ix->counts, "by_enforcement");
	long long nf = int_of(ix->counts, "findings"), ne = int_of(ix->counts, "errors");
	long long at_or_above = 0;
	static const char *const enfs[] = {"advisory", "soft", "hard"};
	for (int k = 0; k < 3; k++)
		if (enf_rank(enfs[k]) >= enf_rank(ix->fail_on))
			at_or_above += int_of(enf, enfs[k]);
	int pass = !strcmp(ix->result, "pass");
	sgr(out, color, pass ? "1;32" : "1;31");
	fputs(pass ? "PASS" : "FAIL", out);
	sgr(out, color, "0");
	fprintf(out, "  %lld %s (", nf, plural(nf, "finding", "findings"));
	for (int r = 0; r < NSEV; r++)
		fprintf(out, "%s%lld %s", r ? ", " : "", int_of(sev, sev_names[r]), sev_names[r]);
	fprintf(out, "), %lld at or above fail-on %s; %lld of %lld rules failed; %lld %s\n",
	        at_or_above, ix->fail_on, int_of(ix->counts, "rules_failed"),
	        int_of(ix->counts, "rules"), ne, plural(ne, "error", "errors"));
}

static int write_text(audit_index *ix, FILE *out, int color)
{
	json_t *bundle = json_object_get(ix->audit, "bundle");
	const char *model = str_of(json_object_get(ix->audit, "model"), "sha256");
	size_t nf = json_array_size(ix->findings), ne = json_array_size(ix->errors);

	sgr(out, color, "1");
	fputs("meshpol audit", out);
	sgr(out, color, "0");
	fputs("  bundle ", out);
	put(out, *str_of(bundle, "name") ? str_of(bundle, "name") : "-", ESC_TERM);
	fputc(' ', out);
	put(out, *str_of(bundle, "revision") ? str_of(bundle, "revision") : "-", ESC_TERM);
	fputs("  model ", out);
	if (strlen(model) >= 12 && is_hex(model))
		fprintf(out, "%.12s", model);
	else
		put(out, *model ? model : "-", ESC_TERM);
	fputs("  ", out);
	put(out, str_of(ix->audit, "time"), ESC_TERM);
	fputs("\n\n", out);

	sgr(out, color, "1");
	if (nf)
		fprintf(out, "Findings (%zu)", nf);
	else
		fputs("No findings", out);
	sgr(out, color, "0");
	fputs("\n\n", out);
	for (size_t k = 0; k < nf; k++) {
		size_t i = ix->f_by_sev[k];
		json_t *f = finding(ix, i), *rel;
		const char *sev = str_of(f, "severity");
		int rank = sev_rank(sev);
		const char *label = rank < NSEV ? sev_upper[rank] : *sev ? sev : "?";
		size_t j;
		sgr(out, color, sev_color(rank));
		put(out, label, ESC_TERM);
		sgr(out, color, "0");
		fprintf(out, "%*s", strlen(label) < 8 ? (int)(8 - strlen(label)) : 0, "");
		fputs("  ", out);
		put_id(out, str_of(f, "policy"), str_of(f, "rule"), ESC_TERM);
		fputs("  ", out);
		put(out, str_of(f, "subject"), ESC_TERM);
		fputs("\n    ", out);
		put(out, str_of(f, "message"), ESC_TERM_BLOCK);
		fputs("\n    ", out);
		if (!put_where(out, json_object_get(f, "location"),
		               json_object_get(f, "rule_location"), ESC_TERM))
			fputs("(no location)", out);
		fputc('\n', out);
		json_array_foreach(json_object_get(f, "related"), j, rel)
		{
			fputs("    see ", out);
			if (!put_loc(out, rel, ESC_TERM))
				fputs("(no location)", out);
			if (*str_of(rel, "message")) {
				fputs(": ", out);
				put(out, str_of(rel, "message"), ESC_TERM);
			}
			fputc('\n', out);
		}
		fputc('\n', out);
	}

	if (ne) {
		sgr(out, color, "1");
		fprintf(out, "Errors (%zu)", ne);
		sgr(out, color, "0");
		fputs("\n\n", out);
	}
	for (size_t i = 0; i < ne; i++) {
		json_t *e = error_at(ix, i);
		sgr(out, color, "1;31");
		fputs("ERROR", out);
		sgr(out, color, "0");
		fputs("     ", out);
		put_id(out, str_of(e, "policy"), str_of(e, "rule"), ESC_TERM);
		fputs("\n    ", out);
		put(out, str_of(e, "message"), ESC_TERM_BLOCK);
		fputc('\n', out);
		if (*str_of(json_object_get(e, "location"), "file")) {
			fputs("    at ", out);
			put_loc(out, json_object_get(e, "location"), ESC_TERM);
			fputc('\n', out);
		}
		fputc('\n', out);
	}
	text_summary(ix, out, color);
	return 0;
}

/* ---- json ---------------------------------------------------------------------------------- */

static int write_json(audit_index *ix, FILE *out, int color)
{
	(void)color;
	if (json_dumpf(ix->audit, out, JSON_INDENT(2) | JSON_SORT_KEYS) < 0)
		return -1;
	fputc('\n', out);
	return 0;
}

/* ---- junit --------------------------------------------------------------------------------- */

static void xml_attr(FILE *out, const char *name, const char *value)
{
	fprintf(out, " %s=\"", name);
	put(out, value, ESC_XML_ATTR);
	fputc('"', out);
}

static void xml_count(FILE *out, const char *name, size_t n)
{
	fprintf(out, " %s=\"%zu\"", name, n);
}

static void xml_property(FILE *out, const char *name, const char *value)
{
	if (!*value)
		return;
	fputs("      <property", out);
	xml_attr(out, "name", name);
	xml_attr(out, "value", value);
	fputs("/>\n", out);
}

static void junit_failure(audit_index *ix, FILE *out, size_t i)
{
	json_t *f = finding(ix, i), *rel, *hop;
	size_t j;
	fputs("      <failure", out);
	xml_attr(out, "message", str_of(f, "message"));
	xml_attr(out, "type", str_of(f, "severity"));
	fputs(">subject: ", out);
	put(out, str_of(f, "subject"), ESC_XML_TEXT);
	fputs("\nmessage: ", out);
	put(out, str_of(f, "message"), ESC_XML_TEXT);
	fputc('\n', out);
	if (put_where(out, json_object_get(f, "location"), json_object_get(f, "rule_location"),
	              ESC_XML_TEXT))
		fputc('\n', out);
	json_array_foreach(json_object_get(f, "related"), j, rel)
	{
		fputs("see ", out);
		if (!put_loc(out, rel, ESC_XML_TEXT))
			fputs("(no location)", out);
		fputs(": ", out);
		put(out, str_of(rel, "message"), ESC_XML_TEXT);
		fputc('\n', out);
	}
	json_array_foreach(json_object_get(f, "path"), j, hop)
	{
		fputs(j ? " -&gt; " : "path: ", out);
		put(out, json_is_string(hop) ? json_string_value(hop) : "?", ESC_XML_TEXT);
	}
	if (json_array_size(json_object_get(f, "path")))
		fputc('\n', out);
	fputs("enforcement: ", out);
	put(out, str_of(f, "enforcement"), ESC_XML_TEXT);
	fputs("; controls: ", out);
	put_list(out, finding_controls(ix, i), ", ", ESC_XML_TEXT);
	fputs("</failure>\n", out);
}

static void junit_testcase(audit_index *ix, FILE *out, const rule_slot *s)
{
	fputs("    <testcase", out);
	xml_attr(out, "classname", *s->policy ? s->policy : "(none)");
	xml_attr(out, "name", *s->rule ? s->rule : "(policy)");
	if (!slot_errored(s) && s->f_n == 0) {
		fputs("/>\n", out);
		return;
	}
	fputs(">\n", out);
	for (size_t k = 0; k < s->e_n; k++) {
		json_t *e = error_at(ix, ix->e_by_slot[s->e_off + k]);
		fputs("      <error", out);
		xml_attr(out, "message", str_of(e, "message"));
		xml_attr(out, "type", "error");
		fputc('>', out);
		put(out, str_of(e, "message"), ESC_XML_TEXT);
		if (*str_of(json_object_get(e, "location"), "file")) {
			fputs("\nat ", out);
			put_loc(out, json_object_get(e, "location"), ESC_XML_TEXT);
		}
		fputs("</error>\n", out);
	}
	if (slot_errored(s) && s->e_n == 0)
		fputs("      <error message=\"the rule failed to run\" type=\"error\"/>\n", out);
	for (size_t k = 0; k < s->f_n; k++)
		junit_failure(ix, out, ix->f_by_slot[s->f_off + k]);
	fputs("    </testcase>\n", out);
}

static int write_junit(audit_index *ix, FILE *out, int color)
{
	json_t *bundle = json_object_get(ix->audit, "bundle");
	json_t *model = json_object_get(ix->audit, "model");
	size_t failures = 0, errors = 0;
	(void)color;
	for (size_t i = 0; i < ix->nslots; i++) {
		failures += (size_t)slot_failed(&ix->slots[i]);
		errors += (size_t)slot_errored(&ix->slots[i]);
	}
	fputs("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites", out);
	xml_attr(out, "name", "meshpol audit");
	xml_count(out, "tests", ix->nslots);
	xml_count(out, "failures", failures);
	xml_count(out, "errors", errors);
	fputs(">\n", out);
	for (size_t p = 0; p < ix->npols; p++) {
		const pol_slot *pol = &ix->pols[p];
		size_t pf = 0, pe = 0;
		for (size_t k = 0; k < pol->s_n; k++) {
			pf += (size_t)slot_failed(&ix->slots[pol->s_off + k]);
			pe += (size_t)slot_errored(&ix->slots[pol->s_off + k]);
		}
		fputs("  <testsuite", out);
		xml_attr(out, "name", *pol->name ? pol->name : "(none)");
		xml_count(out, "tests", pol->s_n);
		xml_count(out, "failures", pf);
		xml_count(out, "errors", pe);
		xml_count(out, "skipped", 0);
		if (*str_of(ix->audit, "time"))
			xml_attr(out, "timestamp", str_of(ix->audit, "time"));
		if (*str_of(pol->def, "file"))
			xml_attr(out, "file", str_of(pol->def, "file"));
		fputs(">\n    <properties>\n", out);
		xml_property(out, "version", str_of(pol->def, "version"));
		xml_property(out, "kind", str_of(pol->def, "kind"));
		xml_property(out, "enforcement", str_of(pol->def, "enforcement"));
		xml_property(out, "severity", str_of(pol->def, "severity"));
		if (json_array_size(json_object_get(pol->def, "controls"))) {
			fputs("      <property name=\"controls\" value=\"", out);
			put_list(out, json_object_get(pol->def, "controls"), ", ", ESC_XML_ATTR);
			fputs("\"/>\n", out);
		}
		xml_property(out, "description", str_of(pol->def, "description"));
		xml_property(out, "bundle.name", str_of(bundle, "name"));
		xml_property(out, "bundle.revision", str_of(bundle, "revision"));
		xml_property(out, "bundle.sha256", str_of(bundle, "sha256"));
		xml_property(out, "model.sha256", str_of(model, "sha256"));
		fputs("    </properties>\n", out);
		for (size_t k = 0; k < pol->s_n; k++)
			junit_testcase(ix, out, &ix->slots[pol->s_off + k]);
		fputs("  </testsuite>\n", out);
	}
	fputs("</testsuites>\n", out);
	return 0;
}

/* ---- sarif --------------------------------------------------------------------------------- */

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

/* A path as a relative URI reference: every byte but unreserved ones and '/' percent-encoded
 * (so spaces, '%', '#', '?', ':' and non-ASCII bytes survive any URI parser). */
static json_t *uri_ref(const char *path)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = strlen(path), o = 0;
	char *buf = mp_malloc(3 * n + 1);
	json_t *j;
	if (!buf)
		return NULL;
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
	buf[o] = '\0';
	j = json_string(buf);
	mp_free(buf);
	return j;
}

/* A SARIF location for an audit location {file, line}, with an optional message; NULL when loc
 * names no file (and when out of memory: then *bad is set). */
static json_t *sarif_location(json_t *loc, const char *message, int *bad)
{
	json_t *l, *phys;
	long long line = int_of(loc, "line");
	if (!*str_of(loc, "file"))
		return NULL;
	l = json_object();
	phys = json_object();
	set(phys, "artifactLocation", json_pack("{s:o}", "uri", uri_ref(str_of(loc, "file"))), bad);
	if (line > 0)
		set(phys, "region", json_pack("{s:I}", "startLine", (json_int_t)line), bad);
	set(l, "physicalLocation", phys, bad);
	if (message && *message)
		set(l, "message", json_pack("{s:s}", "text", message), bad);
	if (!l)
		*bad = 1;
	return l;
}

static const char *sarif_level(const char *severity)
{
	int r = sev_rank(severity);
	if (r <= 1)
		return "error";
	return r == 2 || r == NSEV ? "warning" : "note";
}

/* SHA-256 of policy, rule and subject, each prefixed by its length; NULL when out of memory. */
static json_t *fingerprint(const char *policy, const char *rule, const char *subject)
{
	const char *parts[3] = {policy, rule, subject};
	unsigned char md[EVP_MAX_MD_SIZE];
	char hex[2 * EVP_MAX_MD_SIZE + 1];
	unsigned mdlen = 0;
	json_t *j = NULL;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	if (!ctx || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1)
		goto out;
	for (int k = 0; k < 3; k++) {
		char len[32];
		int n = snprintf(len, sizeof(len), "%zu:", strlen(parts[k]));
		if (EVP_DigestUpdate(ctx, len, (size_t)n) != 1 ||
		    EVP_DigestUpdate(ctx, parts[k], strlen(parts[k])) != 1)
			goto out;
	}
	if (EVP_DigestFinal_ex(ctx, md, &mdlen) != 1)
		goto out;
	for (unsigned k = 0; k < mdlen; k++)
		snprintf(hex + 2 * k, 3, "%02x", md[k]);
	j = json_string(hex);
out:
	EVP_MD_CTX_free(ctx);
	return j;
}

static json_t *sarif_descriptor(audit_index *ix, const rule_slot *s, int *bad)
{
	static const char *const security_severity[NSEV] = {"9.5", "8.0", "5.5", "2.0", NULL};
	const char *sev = slot_str(ix, s, "severity"), *kind = str_of(ix->pols[s->pol].def, "kind");
	json_t *d = json_object(), *props = json_object(), *tags = json_array(), *controls;
	int rank = sev_rank(sev);
	set(d, "id", rule_id(s->policy, s->rule), bad);
	set(d, "shortDescription",
	    json_pack("{s:o}", "text",
	              *str_of(s->def, "description") ? json_string(str_of(s->def, "description"))
	                                             : rule_id(s->policy, s->rule)),
	    bad);
	set(d, "defaultConfiguration", json_pack("{s:s}", "level", sarif_level(sev)), bad);
	set(props, "policy", json_string(s->policy), bad);
	if (*str_of(ix->pols[s->pol].def, "version"))
		set(props, "policyVersion", json_string(str_of(ix->pols[s->pol].def, "version")),
		    bad);
	if (*str_of(s->def, "type"))
		set(props, "type", json_string(str_of(s->def, "type")), bad);
	if (*sev)
		set(props, "severity", json_string(sev), bad);
	if (*slot_str(ix, s, "enforcement"))
		set(props, "enforcement", json_string(slot_str(ix, s, "enforcement")), bad);
	if ((controls = slot_controls(ix, s)))
		set(props, "controls", json_incref(controls), bad);
	if (json_is_object(json_object_get(s->def, "location")))
		set(props, "location", json_incref(json_object_get(s->def, "location")), bad);
	add(tags, json_string("security"), bad);
	if (*kind)
		add(tags, json_string(kind), bad);
	set(props, "tags", tags, bad);
	if (rank < NSEV && security_severity[rank])
		set(props, "security-severity", json_string(security_severity[rank]), bad);
	set(d, "properties", props, bad);
	if (!d)
		*bad = 1;
	return d;
}

static json_t *sarif_result(audit_index *ix, size_t i, const size_t *sarif_index, int *bad)
{
	json_t *f = finding(ix, i), *r = json_object(), *props = json_object(), *loc, *rel, *v;
	const rule_slot *s = &ix->slots[ix->f_slot[i]];
	const char *sev = str_of(f, "severity");
	size_t j;
	set(r, "ruleId", rule_id(s->policy, s->rule), bad);
	set(r, "ruleIndex", json_integer((json_int_t)sarif_index[ix->f_slot[i]]), bad);
	set(r, "level", json_string(sarif_level(sev)), bad);
	set(r, "message",
	    json_pack("{s:o}", "text",
	              joined(str_of(f, "subject"), ": ", str_of(f, "message"), s->policy)),
	    bad);
	if ((loc = sarif_location(json_object_get(f, "location"), NULL, bad)))
		set(r, "locations", json_pack("[o]", loc), bad);
	if (json_array_size(json_object_get(f, "related"))) {
		json_t *related = json_array();
		json_array_foreach(json_object_get(f, "related"), j, rel)
		{
			json_t *l = sarif_location(rel, str_of(rel, "message"), bad);
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
	              fingerprint(s->policy, s->rule, str_of(f, "subject"))),
	    bad);
	set(props, "subject", json_string(str_of(f, "subject")), bad);
	if (*sev)
		set(props, "severity", json_string(sev), bad);
	if (*str_of(f, "enforcement"))
		set(props, "enforcement", json_string(str_of(f, "enforcement")), bad);
	if ((v = finding_controls(ix, i)))
		set(props, "controls", json_incref(v), bad);
	if (*str_of(f, "version"))
		set(props, "policyVersion", json_string(str_of(f, "version")), bad);
	if ((v = json_object_get(f, "rule_location")))
		set(props, "ruleLocation", json_incref(v), bad);
	if ((v = json_object_get(f, "path")))
		set(props, "path", json_incref(v), bad);
	set(r, "properties", props, bad);
	if (!r)
		*bad = 1;
	return r;
}

static json_t *sarif_notification(audit_index *ix, size_t i, const size_t *sarif_index, int *bad)
{
	json_t *e = error_at(ix, i), *n = json_object(), *loc;
	const rule_slot *s = &ix->slots[ix->e_slot[i]];
	set(n, "level", json_string("error"), bad);
	set(n, "message",
	    json_pack("{s:s}", "text", *str_of(e, "message") ? str_of(e, "message") : "error"),
	    bad);
	if ((loc = sarif_location(json_object_get(e, "location"), NULL, bad)))
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

static int write_sarif(audit_index *ix, FILE *out, int color)
{
	json_t *log = json_object(), *run = json_object(), *driver = json_object();
	json_t *rules = json_array(), *results = json_array(), *inv = json_object();
	json_t *tool = json_object_get(ix->audit, "tool"), *props = json_object(), *v;
	size_t *sarif_index = mp_calloc(ix->nslots, sizeof(size_t)), n = 0;
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

	set(log, "$schema", json_string("https://json.schemastore.org/sarif-2.1.0.json"), &bad);
	set(log, "version", json_string("2.1.0"), &bad);
	set(driver, "name", json_string(*str_of(tool, "name") ? str_of(tool, "name") : "meshpol"),
	    &bad);
	if (*str_of(tool, "version"))
		set(driver, "version", json_string(str_of(tool, "version")), &bad);
	set(driver, "rules", rules, &bad);
	rules = NULL;
	set(run, "tool", json_pack("{s:o}", "driver", driver), &bad);
	driver = NULL;
	set(inv, "executionSuccessful", json_boolean(json_array_size(ix->errors) == 0), &bad);
	if (json_array_size(ix->errors)) {
		json_t *notes = json_array();
		for (size_t i = 0; i < json_array_size(ix->errors); i++)
			add(notes, sarif_notification(ix, i, sarif_index, &bad), &bad);
		set(inv, "toolExecutionNotifications", notes, &bad);
	}
	set(run, "invocations", json_pack("[o]", inv), &bad);
	inv = NULL;
	set(run, "results", results, &bad);
	results = NULL;
	if ((v = json_object_get(ix->audit, "bundle")))
		set(props, "bundle", json_incref(v), &bad);
	if ((v = json_object_get(ix->audit, "model")))
		set(props, "model", json_incref(v), &bad);
	if (*str_of(ix->audit, "time"))
		set(props, "time", json_string(str_of(ix->audit, "time")), &bad);
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

/* ---- markdown ------------------------------------------------------------------------------ */

/* Natural order: digit runs compare as numbers, so "A.9.4" comes before "A.13.1". */
static int natural_cmp(const char *a, const char *b)
{
	while (*a && *b) {
		if (isdigit((unsigned char)*a) && isdigit((unsigned char)*b)) {
			size_t na = 0, nb = 0;
			while (*a == '0' && isdigit((unsigned char)a[1]))
				a++;
			while (*b == '0' && isdigit((unsigned char)b[1]))
				b++;
			while (isdigit((unsigned char)a[na]))
				na++;
			while (isdigit((unsigned char)b[nb]))
				nb++;
			if (na != nb)
				return na < nb ? -1 : 1;
			int c = memcmp(a, b, na);
			if (c)
				return c;
			a += na;
			b += nb;
		} else {
			if (*a != *b)
				return (unsigned char)*a < (unsigned char)*b ? -1 : 1;
			a++;
			b++;
		}
	}
	return *a ? 1 : *b ? -1 : 0;
}

static int cmp_control(const void *x, const void *y)
{
	const char *a = *(const char *const *)x, *b = *(const char *const *)y;
	int c = natural_cmp(a, b);
	return c ? c : strcmp(a, b);
}

/* What the report says about one control (see report.h for the rule). */
typedef struct {
	size_t rules, findings, blocking;
	int errored;
} control_state;

static const char *control_status(const control_state *st)
{
	if (st->blocking)
		return "FAIL";
	if (st->errored)
		return "ERROR";
	return st->rules ? "PASS" : "NOT TESTED";
}

/* Every control a policy, a rule or a finding names, in natural order, borrowed from the audit;
 * *n of them. NULL when there are none, and when out of memory (then *bad is set). */
static const char **collect_controls(audit_index *ix, size_t *n, int *bad)
{
	json_t *seen = json_object(), *lists[3] = {ix->policies, ix->rules, ix->findings}, *v, *c;
	const char **ids = NULL, *key;
	size_t i, j, k = 0;
	*n = 0;
	if (!seen)
		goto fail;
	for (int l = 0; l < 3; l++)
		json_array_foreach(lists[l], i, v)
		{
			json_array_foreach(json_object_get(v, "controls"), j, c)
			{
				if (json_is_string(c) &&
				    json_object_set_nocheck(seen, json_string_value(c), c) < 0)
					goto fail;
			}
		}
	if (!json_object_size(seen)) {
		json_decref(seen);
		return NULL;
	}
	if (!(ids = mp_calloc(json_object_size(seen), sizeof(*ids))))
		goto fail;
	json_object_foreach(seen, key, v)
	{
		ids[k++] = json_string_value(v); /* the audit's own string: it outlives seen */
	}
	qsort(ids, k, sizeof(*ids), cmp_control);
	*n = k;
	json_decref(seen);
	return ids;
fail:
	*bad = 1;
	mp_free(ids);
	json_decref(seen);
	return NULL;
}

/* The k-th finding of slot s if it is attributed to control c, else SIZE_MAX. */
static size_t attributed(audit_index *ix, const rule_slot *s, const char *c, size_t k)
{
	size_t i = ix->f_by_slot[s->f_off + k];
	return in_array(finding_controls(ix, i), c) ? i : SIZE_MAX;
}

static control_state control_of(audit_index *ix, const char *c)
{
	control_state st = {0};
	for (size_t si = 0; si < ix->nslots; si++) {
		const rule_slot *s = &ix->slots[si];
		size_t nattr = 0, i;
		for (size_t k = 0; k < s->f_n; k++) {
			if ((i = attributed(ix, s, c, k)) == SIZE_MAX)
				continue;
			nattr++;
			st.blocking += (size_t)blocking(ix, i);
		}
		if (nattr || in_array(slot_controls(ix, s), c)) {
			st.rules++;
			st.findings += nattr;
			st.errored |= slot_errored(s);
		}
	}
	return st;
}

static void md_cell(FILE *out, const char *s)
{
	fputc(' ', out);
	put(out, *s ? s : "-", ESC_MD);
	fputs(" |", out);
}

static void md_row(FILE *out, const char *label, const char *value)
{
	fprintf(out, "| %s |", label);
	md_cell(out, value);
	fputc('\n', out);
}

static void md_where_cell(FILE *out, json_t *loc, json_t *rule_loc)
{
	fputc(' ', out);
	if (!put_where(out, loc, rule_loc, ESC_MD))
		fputc('-', out);
	fputs(" |", out);
}

static void md_summary(audit_index *ix, FILE *out)
{
	json_t *bundle = json_object_get(ix->audit, "bundle");
	json_t *model = json_object_get(ix->audit, "model");
	json_t *tool = json_object_get(ix->audit, "tool");
	json_t *sev = json_object_get(ix->counts, "by_severity");
	fputs("# meshpol compliance report\n\n| Item | Value |\n|---|---|\n", out);
	md_row(out, "Bundle", str_of(bundle, "name"));
	md_row(out, "Bundle revision", str_of(bundle, "revision"));
	md_row(out, "Bundle SHA-256", str_of(bundle, "sha256"));
	md_row(out, "Model SHA-256", str_of(model, "sha256"));
	fputs("| Model sources | ", out);
	if (json_array_size(json_object_get(model, "sources")))
		put_list(out, json_object_get(model, "sources"), ", ", ESC_MD);
	else
		fputc('-', out);
	fputs(" |\n| Tool | ", out);
	put(out, *str_of(tool, "name") ? str_of(tool, "name") : "meshpol", ESC_MD);
	fputc(' ', out);
	put(out, str_of(tool, "version"), ESC_MD);
	fputs(" |\n", out);
	md_row(out, "Audit time", str_of(ix->audit, "time"));
	md_row(out, "Fail-on level", ix->fail_on);
	fprintf(out, "| Result | **%s** |\n", strcmp(ix->result, "pass") ? "FAIL" : "PASS");
	fprintf(out, "| Findings | %lld (", int_of(ix->counts, "findings"));
	for (int r = 0; r < NSEV; r++)
		fprintf(out, "%s%lld %s", r ? ", " : "", int_of(sev, sev_names[r]), sev_names[r]);
	fprintf(out, ") |\n| Rules | %lld evaluated, %lld failed |\n| Errors | %lld |\n\n",
	        int_of(ix->counts, "rules"), int_of(ix->counts, "rules_failed"),
	        int_of(ix->counts, "errors"));
}

static void md_policies(audit_index *ix, FILE *out)
{
	fputs("## Policies\n\n", out);
	if (!ix->npols) {
		fputs("No policies.\n\n", out);
		return;
	}
	fputs("| Policy | Version | Kind | Enforcement | Severity | Controls | Rules | Findings |\n"
	      "|---|---|---|---|---|---|---:|---:|\n",
	      out);
	for (size_t p = 0; p < ix->npols; p++) {
		const pol_slot *pol = &ix->pols[p];
		json_t *controls = json_object_get(pol->def, "controls");
		size_t nf = 0;
		for (size_t k = 0; k < pol->s_n; k++)
			nf += ix->slots[pol->s_off + k].f_n;
		fputc('|', out);
		md_cell(out, pol->name);
		md_cell(out, str_of(pol->def, "version"));
		md_cell(out, str_of(pol->def, "kind"));
		md_cell(out, str_of(pol->def, "enforcement"));
		md_cell(out, str_of(pol->def, "severity"));
		fputc(' ', out);
		if (json_array_size(controls))
			put_list(out, controls, ", ", ESC_MD);
		else
			fputc('-', out);
		fprintf(out, " | %zu | %zu |\n", pol->s_n, nf);
	}
	fputc('\n', out);
}

static void md_control_detail(audit_index *ix, FILE *out, const char *c)
{
	control_state st = control_of(ix, c);
	fputs("### ", out);
	put(out, c, ESC_MD);
	fprintf(out, ": %s\n\n", control_status(&st));
	if (!st.rules)
		fputs("No rule of this audit checks this control.\n", out);
	for (size_t si = 0; si < ix->nslots; si++) {
		const rule_slot *s = &ix->slots[si];
		size_t nattr = 0, i;
		for (size_t k = 0; k < s->f_n; k++)
			nattr += attributed(ix, s, c, k) != SIZE_MAX;
		if (!nattr && !in_array(slot_controls(ix, s), c))
			continue;
		fputs("- ", out);
		put_id(out, s->policy, s->rule, ESC_MD);
		fputs(" (", out);
		put(out, *slot_str(ix, s, "severity") ? slot_str(ix, s, "severity") : "-", ESC_MD);
		fputs(", ", out);
		put(out, *slot_str(ix, s, "enforcement") ? slot_str(ix, s, "enforcement") : "-",
		    ESC_MD);
		fprintf(out, "): %s, %zu %s\n",
		        slot_errored(s)  ? "error"
		        : slot_failed(s) ? "fail"
		                         : "pass",
		        nattr, plural((long long)nattr, "finding", "findings"));
		for (size_t k = 0; k < s->f_n; k++) {
			json_t *f;
			if ((i = attributed(ix, s, c, k)) == SIZE_MAX)
				continue;
			f = finding(ix, i);
			fputs("  - ", out);
			put(out, str_of(f, "severity"), ESC_MD);
			fputs(", ", out);
			put(out, str_of(f, "enforcement"), ESC_MD);
			fputs(blocking(ix, i) ? " (at or above fail-on): " : ": ", out);
			put(out, str_of(f, "subject"), ESC_MD);
			fputs(": ", out);
			put(out, str_of(f, "message"), ESC_MD);
			if (*str_of(json_object_get(f, "location"), "file")) {
				fputs(" (", out);
				put_loc(out, json_object_get(f, "location"), ESC_MD);
				fputc(')', out);
			}
			fputc('\n', out);
		}
	}
	fputc('\n', out);
}

static void md_controls(audit_index *ix, FILE *out, const char **controls, size_t n)
{
	fputs("## Controls\n\n", out);
	if (!n) {
		fputs("No policy names a control.\n\n", out);
		return;
	}
	fprintf(
	    out,
	    "A control FAILs when a finding attributed to it has an enforcement of %s or "
	    "higher (the audit's fail-on level); otherwise it is in ERROR when a rule carrying it "
	    "failed to run (it was not fully evaluated), NOT TESTED when no rule of this audit "
	    "carries it, and PASS.\n\n"
	    "| Control | Status | Rules | Findings | At or above fail-on |\n"
	    "|---|---|---:|---:|---:|\n",
	    ix->fail_on);
	for (size_t k = 0; k < n; k++) {
		control_state st = control_of(ix, controls[k]);
		fputc('|', out);
		md_cell(out, controls[k]);
		fprintf(out, " %s | %zu | %zu | %zu |\n", control_status(&st), st.rules,
		        st.findings, st.blocking);
	}
	fputc('\n', out);
	for (size_t k = 0; k < n; k++)
		md_control_detail(ix, out, controls[k]);
}

static void md_findings(audit_index *ix, FILE *out)
{
	fputs("## Findings\n\n", out);
	if (!json_array_size(ix->findings))
		fputs("No findings.\n\n", out);
	for (int r = 0; r <= NSEV; r++) {
		size_t from = ix->sev_off[r], to = ix->sev_off[r + 1];
		if (from == to)
			continue;
		fprintf(out,
		        "### %s (%zu)\n\n"
		        "| Rule | Severity | Enforcement | Subject | Message | Location |\n"
		        "|---|---|---|---|---|---|\n",
		        r < NSEV ? sev_title[r] : "Other severity", to - from);
		for (size_t k = from; k < to; k++) {
			json_t *f = finding(ix, ix->f_by_sev[k]);
			fputs("| ", out);
			put_id(out, str_of(f, "policy"), str_of(f, "rule"), ESC_MD);
			fputs(" |", out);
			md_cell(out, str_of(f, "severity"));
			md_cell(out, str_of(f, "enforcement"));
			md_cell(out, str_of(f, "subject"));
			md_cell(out, str_of(f, "message"));
			md_where_cell(out, json_object_get(f, "location"),
			              json_object_get(f, "rule_location"));
			fputc('\n', out);
		}
		fputc('\n', out);
	}
}

static void md_errors(audit_index *ix, FILE *out)
{
	fputs("## Errors\n\n", out);
	if (!json_array_size(ix->errors)) {
		fputs("No errors.\n", out);
		return;
	}
	fputs("| Rule | Message | Location |\n|---|---|---|\n", out);
	for (size_t i = 0; i < json_array_size(ix->errors); i++) {
		json_t *e = error_at(ix, i);
		fputs("| ", out);
		put_id(out, str_of(e, "policy"), str_of(e, "rule"), ESC_MD);
		fputs(" |", out);
		md_cell(out, str_of(e, "message"));
		md_where_cell(out, json_object_get(e, "location"), NULL);
		fputc('\n', out);
	}
}

static int write_markdown(audit_index *ix, FILE *out, int color)
{
	size_t ncontrols;
	int bad = 0;
	const char **controls = collect_controls(ix, &ncontrols, &bad);
	(void)color;
	if (bad)
		return -1;
	md_summary(ix, out);
	md_policies(ix, out);
	md_controls(ix, out, controls, ncontrols);
	md_findings(ix, out);
	md_errors(ix, out);
	mp_free(controls);
	return 0;
}

/* ---- The writers --------------------------------------------------------------------------- */

static const struct {
	const char *name;
	int (*write)(audit_index *ix, FILE *out, int color); /* -1: out of memory */
	int needs_index;
} writers[] = {
    {"text", write_text, 1},   {"json", write_json, 0},         {"junit", write_junit, 1},
    {"sarif", write_sarif, 1}, {"markdown", write_markdown, 1},
};
#define NWRITERS (sizeof(writers) / sizeof(writers[0]))

int mp_report_format_known(const char *format)
{
	for (size_t k = 0; format && k < NWRITERS; k++)
		if (!strcmp(format, writers[k].name))
			return 1;
	return 0;
}

int mp_report_write(json_t *audit, const char *format, FILE *out, int color, char *err,
                    size_t errlen)
{
	audit_index ix = {0};
	size_t k = 0;
	char q[80];
	assert(out && err && errlen > 0);
	while (k < NWRITERS && (!format || strcmp(format, writers[k].name)))
		k++;
	if (k == NWRITERS) {
		snprintf(err, errlen,
		         "unknown report format '%s' (use text, json, junit, sarif or markdown)",
		         format ? mp_diag_quote(format, strlen(format), q, sizeof(q)) : "(null)");
		goto fail;
	}
	if (check_shape(audit, err, errlen) < 0)
		goto fail;
	ix.audit = audit;
	errno = 0;
	if (writers[k].needs_index && index_build(&ix, audit) < 0) {
		snprintf(err, errlen, "out of memory writing the %s report", format);
		goto fail;
	}
	if (writers[k].write(&ix, out, color) < 0 && !ferror(out)) {
		snprintf(err, errlen, "out of memory writing the %s report", format);
		goto fail;
	}
	if (fflush(out) != 0 || ferror(out)) {
		snprintf(err, errlen, "cannot write the %s report: %s", format,
		         strerror(errno ? errno : EIO));
		goto fail;
	}
	index_free(&ix);
	return 0;
fail:
	index_free(&ix);
	return -1;
}
