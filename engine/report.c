/* report.c: the audit report writers' shared half: reading the audit into an index, escaping
 * untrusted text, json (the audit object itself), and the table of formats behind
 * mp_report_write. Every other format lives in its own file (report_text.c, report_junit.c,
 * report_sarif.c, report_markdown.c); the formats and the decisions behind them are described
 * in report.h, the shared helpers in report_int.h. */
#include "report.h"
#include "alloc.h"
#include "audit.h"
#include "diag.h"
#include "report_int.h"

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* ---- Reading the audit -------------------------------------------------------------------- */

const char *const rp_sev_names[RP_NSEV] = {"critical", "high", "medium", "low", "info"};
const char *const rp_sev_upper[RP_NSEV] = {"CRITICAL", "HIGH", "MEDIUM", "LOW", "INFO"};
const char *const rp_sev_title[RP_NSEV] = {"Critical", "High", "Medium", "Low", "Info"};

const char *rp_str(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));
	return s ? s : "";
}

long long rp_int(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);
	return json_is_integer(v) ? (long long)json_integer_value(v) : 0;
}

int rp_sev_rank(const char *s)
{
	for (int i = 0; i < RP_NSEV; i++)
		if (!strcmp(s, rp_sev_names[i]))
			return i;
	return RP_NSEV;
}

/* advisory 0, soft 1, hard 2; anything else counts as hard, so it fails closed. */
int rp_enf_rank(const char *s)
{
	if (!strcmp(s, "advisory"))
		return 0;
	return strcmp(s, "soft") ? 2 : 1;
}

int rp_in_array(json_t *arr, const char *s)
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

int rp_is_hex(const char *s)
{
	for (; *s; s++)
		if (!isxdigit((unsigned char)*s))
			return 0;
	return 1;
}

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
	if (!s || (strcmp(s, "advisory") && strcmp(s, "soft") && strcmp(s, "hard") &&
	           rp_sev_rank(s) > 3)) {
		snprintf(
		    err, errlen,
		    "audit: 'fail_on' is '%s', not advisory, soft, hard, critical, high, medium "
		    "or low",
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
	const char *policy = rp_str(entry, "policy"), *rule = rp_str(entry, "rule");
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
	ix->fail_on = rp_str(audit, "fail_on");
	ix->result = rp_str(audit, "result");
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
		if (find_pol(ix, pmap, rp_str(v, "name"), v) < 0)
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
	for (i = 0; i < nf; i++)
		ix->slots[ix->f_slot[i]].w_n += rp_waiver(ix, i) != NULL;
	group_by(ix->e_slot, ne, ix->nslots, off, ix->e_by_slot);
	for (i = 0; i < ix->nslots; i++) {
		ix->slots[i].e_off = off[i];
		ix->slots[i].e_n = off[i + 1] - off[i];
	}
	for (i = 0; i < nf; i++)
		key[i] = (size_t)rp_sev_rank(rp_str(json_array_get(ix->findings, i), "severity"));
	group_by(key, nf, RP_NSEV + 1, ix->sev_off, ix->f_by_sev);
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

json_t *rp_finding(audit_index *ix, size_t i)
{
	return json_array_get(ix->findings, i);
}

json_t *rp_error_at(audit_index *ix, size_t i)
{
	return json_array_get(ix->errors, i);
}

/* A field of a rule: its rules[] entry's, else its policy's ("" when neither has it). */
const char *rp_slot_str(audit_index *ix, const rule_slot *s, const char *key)
{
	const char *v = rp_str(s->def, key);
	return *v ? v : rp_str(ix->pols[s->pol].def, key);
}

json_t *rp_slot_controls(audit_index *ix, const rule_slot *s)
{
	json_t *c = json_object_get(s->def, "controls");
	if (json_array_size(c))
		return c;
	return json_object_get(ix->pols[s->pol].def, "controls");
}

json_t *rp_finding_controls(audit_index *ix, size_t i)
{
	json_t *c = json_object_get(rp_finding(ix, i), "controls");
	return json_is_array(c) ? c : rp_slot_controls(ix, &ix->slots[ix->f_slot[i]]);
}

int rp_slot_errored(const rule_slot *s)
{
	return s->e_n > 0 || !strcmp(rp_str(s->def, "status"), "error");
}

int rp_slot_failed(const rule_slot *s)
{
	return !rp_slot_errored(s) &&
	       (s->f_n > s->w_n || (!s->f_n && !strcmp(rp_str(s->def, "status"), "fail")));
}

json_t *rp_waiver(audit_index *ix, size_t i)
{
	json_t *w = json_object_get(rp_finding(ix, i), "waiver");
	return json_is_object(w) ? w : NULL;
}

int rp_fail_on_severity(const audit_index *ix)
{
	return rp_sev_rank(ix->fail_on) < RP_NSEV;
}

int rp_blocking(audit_index *ix, size_t i)
{
	return rp_blocking_finding(ix, rp_finding(ix, i));
}

int rp_blocking_finding(audit_index *ix, json_t *f)
{
	if (json_is_object(json_object_get(f, "waiver")))
		return 0;
	/* by severity: critical is rank 0, so at or above is a rank no greater */
	if (rp_fail_on_severity(ix)) {
		int r = rp_sev_rank(rp_str(f, "severity"));
		return (r == RP_NSEV ? 0 : r) <=
		       rp_sev_rank(ix->fail_on); /* unknown: fails closed */
	}
	return rp_enf_rank(rp_str(f, "enforcement")) >= rp_enf_rank(ix->fail_on);
}

/* ---- Controls (report.h, "markdown": the status of a control) ---------------------------- */

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

const char *rp_control_status(const rp_control_state *st)
{
	if (st->blocking)
		return "FAIL";
	if (st->errored)
		return "ERROR";
	return st->rules ? "PASS" : "NOT TESTED";
}

/* Every control a policy, a rule or a finding names, in natural order, borrowed from the audit;
 * *n of them. NULL when there are none, and when out of memory (then *bad is set). */
const char **rp_collect_controls(audit_index *ix, size_t *n, int *bad)
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
size_t rp_attributed(audit_index *ix, const rule_slot *s, const char *c, size_t k)
{
	size_t i = ix->f_by_slot[s->f_off + k];
	return rp_in_array(rp_finding_controls(ix, i), c) ? i : SIZE_MAX;
}

rp_control_state rp_control_of(audit_index *ix, const char *c)
{
	rp_control_state st = {0};
	for (size_t si = 0; si < ix->nslots; si++) {
		const rule_slot *s = &ix->slots[si];
		size_t nattr = 0, i;
		for (size_t k = 0; k < s->f_n; k++) {
			if ((i = rp_attributed(ix, s, c, k)) == SIZE_MAX)
				continue;
			nattr++;
			st.blocking += (size_t)rp_blocking(ix, i);
		}
		if (nattr || rp_in_array(rp_slot_controls(ix, s), c)) {
			st.rules++;
			st.findings += nattr;
			st.errored |= rp_slot_errored(s);
		}
	}
	return st;
}

/* ---- Scope (report.h, "markdown") ---------------------------------------------------------- */

/* Joins the strings field of every object of arr (or the strings of arr, field NULL). */
static void put_joined(FILE *f, json_t *arr, const char *field, const char *sep)
{
	size_t i;
	json_t *v;
	json_array_foreach(arr, i, v)
	{
		fprintf(f, "%s%s", i ? sep : "", field ? rp_str(v, field) : json_string_value(v));
	}
}

int rp_scope_rows(audit_index *ix, void (*row)(void *ctx, const char *label, const char *value),
                  void *ctx)
{
	json_t *scope = json_object_get(ix->audit, "scope"), *trail;
	json_t *counts = json_object_get(scope, "counts"), *v;
	static const char *const labels[] = {"Meshes", "Clusters", "Jurisdictions", "Elements",
	                                     "Trail"};
	size_t i, j;
	for (size_t k = 0; k < sizeof(labels) / sizeof(labels[0]); k++) {
		char *text = NULL;
		size_t len = 0;
		FILE *f = open_memstream(&text, &len);
		if (!f)
			return -1;
		if (k == 0)
			put_joined(f, json_object_get(scope, "meshes"), NULL, ", ");
		if (k == 1)
			json_array_foreach(json_object_get(scope, "clusters"), i, v)
			{
				const char *j = rp_str(v, "jurisdiction");
				fprintf(f, "%s%s (%s%s%s%s%s)", i ? ", " : "", rp_str(v, "name"),
				        rp_str(v, "cloud"), *rp_str(v, "cloud") ? " " : "",
				        *rp_str(v, "region") ? rp_str(v, "region") : "no region",
				        ", ", *j ? j : "no jurisdiction");
			}
		if (k == 2)
			json_array_foreach(json_object_get(scope, "jurisdictions"), i, v)
			{
				fprintf(f, "%s%s: ", i ? "; " : "", rp_str(v, "name"));
				json_t *r;
				json_array_foreach(json_object_get(v, "regions"), j, r)
				{
					fprintf(f, "%s%s", j ? ", " : "", json_string_value(r));
				}
			}
		if (k == 3 && counts)
			fprintf(f,
			        "%lld namespaces, %lld services, %lld routes, %lld externals, %lld "
			        "certificates, %lld workloads, %lld imported resources",
			        rp_int(counts, "namespaces"), rp_int(counts, "services"),
			        rp_int(counts, "routes"), rp_int(counts, "externals"),
			        rp_int(counts, "certificates"), rp_int(counts, "workloads"),
			        rp_int(counts, "resources"));
		if (k == 4 && json_is_object(trail = json_object_get(ix->audit, "trail")))
			fprintf(f, "%s: records %lld-%lld, sealed at %lld (%s%s), head %s",
			        rp_str(trail, "file"), rp_int(trail, "first_seq"),
			        rp_int(trail, "seal_seq"), rp_int(trail, "seal_seq"),
			        json_is_true(json_object_get(trail, "signed")) ? "signed, key_id "
			                                                       : "unsigned",
			        rp_str(trail, "key_id"), rp_str(trail, "head"));
		if (fclose(f) != 0 || !text) {
			free(text);
			return -1;
		}
		row(ctx, labels[k], *text ? text : k == 4 ? "none written" : "none");
		free(text);
	}
	return 0;
}

/* ---- Escaping untrusted text --------------------------------------------------------------- */

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

void rp_put(FILE *out, const char *s, esc_mode mode)
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
void rp_put_id(FILE *out, const char *policy, const char *rule, esc_mode mode)
{
	rp_put(out, *policy ? policy : "(none)", mode);
	if (*rule) {
		fputc('/', out);
		rp_put(out, rule, mode);
	}
}

/* "file:line" (":line" only when positive); 0 and nothing written when loc names no file. */
int rp_put_loc(FILE *out, json_t *loc, esc_mode mode)
{
	const char *file = rp_str(loc, "file");
	long long line = rp_int(loc, "line");
	if (!*file)
		return 0;
	rp_put(out, file, mode);
	if (line > 0)
		fprintf(out, ":%lld", line);
	return 1;
}

/* "at FILE:LINE (rule at FILE:LINE)", either half when the other is missing; 0 if neither. */
int rp_put_where(FILE *out, json_t *loc, json_t *rule_loc, esc_mode mode)
{
	int any = 0;
	if (*rp_str(loc, "file")) {
		fputs("at ", out);
		rp_put_loc(out, loc, mode);
		any = 1;
	}
	if (*rp_str(rule_loc, "file")) {
		fputs(any ? " (rule at " : "rule at ", out);
		rp_put_loc(out, rule_loc, mode);
		if (any)
			fputc(')', out);
		any = 1;
	}
	return any;
}

void rp_put_list(FILE *out, json_t *arr, const char *sep, esc_mode mode)
{
	size_t i, n = 0;
	json_t *v;
	json_array_foreach(arr, i, v)
	{
		if (!json_is_string(v))
			continue;
		fputs(n++ ? sep : "", out);
		rp_put(out, json_string_value(v), mode);
	}
}

const char *rp_plural(long long n, const char *one, const char *many)
{
	return n == 1 ? one : many;
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

/* ---- The writers --------------------------------------------------------------------------- */

static const struct {
	const char *name;
	int (*write)(audit_index *ix, FILE *out, int color); /* -1: out of memory */
	int needs_index;
} writers[] = {
    {"text", rp_write_text, 1},         {"json", write_json, 0},
    {"junit", rp_write_junit, 1},       {"sarif", rp_write_sarif, 1},
    {"markdown", rp_write_markdown, 1}, {"html", rp_write_html, 1},
};
#define NWRITERS (sizeof(writers) / sizeof(writers[0]))

int mp_report_format_known(const char *format)
{
	for (size_t k = 0; format && k < NWRITERS; k++)
		if (!strcmp(format, writers[k].name))
			return 1;
	return 0;
}

int mp_report_streams(const char *format)
{
	return format && (!strcmp(format, "json") || !strcmp(format, "text"));
}

int mp_report_write_result(mp_audit_result *r, const char *format, FILE *out, int color, char *err,
                           size_t errlen)
{
	const mp_report_opts ro = {.color = color};
	audit_index ix = {.opts = &ro};
	json_t *audit = NULL;
	assert(out && err && errlen > 0);
	if (!format || strcmp(format, "text")) {
		snprintf(err, errlen, "the %s report is not written from a streamed audit",
		         format ? format : "(null)");
		return -1;
	}
	/* the summary as an audit with no findings and no rules: what the index reads */
	if (!(audit = json_copy(mp_audit_result_summary(r))) ||
	    json_object_set_new(audit, "findings", json_array()) < 0 ||
	    json_object_set_new(audit, "rules", json_array()) < 0)
		goto oom;
	if (check_shape(audit, err, errlen) < 0)
		goto fail;
	errno = 0;
	if (index_build(&ix, audit) < 0 ||
	    (rp_write_text_stream(&ix, r, out, color) < 0 && !ferror(out)))
		goto oom;
	if (fflush(out) != 0 || ferror(out)) {
		snprintf(err, errlen, "cannot write the %s report: %s", format,
		         strerror(errno ? errno : EIO));
		goto fail;
	}
	index_free(&ix);
	json_decref(audit);
	return 0;
oom:
	snprintf(err, errlen, "out of memory, or the findings spool failed, writing the %s report",
	         format);
fail:
	index_free(&ix);
	json_decref(audit);
	return -1;
}

int mp_report_write(json_t *audit, const char *format, FILE *out, int color, char *err,
                    size_t errlen)
{
	mp_report_opts o = {.color = color};
	return mp_report_write_opts(audit, format, out, &o, err, errlen);
}

int mp_report_write_opts(json_t *audit, const char *format, FILE *out, const mp_report_opts *o,
                         char *err, size_t errlen)
{
	static const mp_report_opts none = {0};
	audit_index ix = {.opts = o ? o : &none};
	int color = ix.opts->color;
	size_t k = 0;
	char q[80];
	assert(out && err && errlen > 0);
	while (k < NWRITERS && (!format || strcmp(format, writers[k].name)))
		k++;
	if (k == NWRITERS) {
		snprintf(
		    err, errlen,
		    "unknown report format '%s' (use text, json, junit, sarif, markdown or html)",
		    format ? mp_diag_quote(format, strlen(format), q, sizeof(q)) : "(null)");
		goto fail;
	}
	if (check_shape(audit, err, errlen) < 0)
		goto fail;
	ix.audit = audit;
	if (ix.opts->note && ix.opts->notelen)
		ix.opts->note[0] = '\0';
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
