/* report.c: the audit report writers' shared half: reading the audit into an index, escaping
 * untrusted text, json (the audit object itself), and the table of formats behind
 * mp_report_write. Every other format lives in its own file (report_text.c, report_junit.c,
 * report_sarif.c, report_markdown.c); the formats and the decisions behind them are described
 * in report.h, the shared helpers in report_int.h. */
#include "report.h"
#include "alloc.h"
#include "audit.h"
#include "audit_int.h"
#include "diag.h"
#include "report_int.h"

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

int rp_in_array_before(json_t *arr, size_t j)
{
	const char *s = json_string_value(json_array_get(arr, j));
	for (size_t i = 0; s && i < j; i++) {
		const char *e = json_string_value(json_array_get(arr, i));
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

/* Room for n policies. */
static int grow_pols(audit_index *ix, size_t n)
{
	size_t cap = ix->cappols ? ix->cappols : 16;
	if (n <= ix->cappols)
		return 0;
	while (cap < n)
		cap *= 2;
	pol_slot *p = mp_realloc(ix->pols, cap * sizeof(*p));
	if (!p)
		return -1;
	ix->pols = p;
	ix->cappols = cap;
	return 0;
}

static long long find_pol(audit_index *ix, json_t *pmap, const char *name, json_t *def)
{
	size_t before = ix->npols;
	long long p;
	if (grow_pols(ix, ix->npols + 1) < 0 || (p = map_index(pmap, name, &ix->npols)) < 0)
		return -1;
	if ((size_t)p == before)
		ix->pols[p] = (pol_slot){.name = name};
	if (def && !ix->pols[p].def)
		ix->pols[p].def = def;
	return p;
}

/* The slots' hash: FNV-1a of "policy\0rule" (C strings: what the slot key compares). */
static size_t hash_pair(const char *policy, const char *rule)
{
	uint64_t h = 14695981039346656037ull;
	for (const unsigned char *p = (const unsigned char *)policy; *p; p++)
		h = (h ^ *p) * 1099511628211ull;
	h = (h ^ 0xff) * 1099511628211ull;
	for (const unsigned char *p = (const unsigned char *)rule; *p; p++)
		h = (h ^ *p) * 1099511628211ull;
	return (size_t)h;
}

static uint32_t *hash_at(audit_index *ix, const char *policy, const char *rule)
{
	size_t i = hash_pair(policy, rule) & (ix->hash_cap - 1);
	for (;; i = (i + 1) & (ix->hash_cap - 1)) {
		uint32_t v = ix->slot_hash[i];
		if (!v || (!strcmp(ix->slots[v - 1].rule, rule) &&
		           !strcmp(ix->slots[v - 1].policy, policy)))
			return &ix->slot_hash[i];
	}
}

/* Indexes slots 0 .. nslots afresh, the hash at most half full. -1 when out of memory. */
static int rehash(audit_index *ix, size_t want)
{
	size_t cap = 64;
	while (cap < 2 * want)
		cap *= 2;
	uint32_t *h = mp_calloc(cap, sizeof(*h));
	if (!h)
		return -1;
	mp_free(ix->slot_hash);
	ix->slot_hash = h;
	ix->hash_cap = cap;
	for (size_t i = 0; i < ix->nslots; i++)
		*hash_at(ix, ix->slots[i].policy, ix->slots[i].rule) = (uint32_t)i + 1;
	return 0;
}

/* The slot of (policy, rule); added when new and pmap is given (while the index is built),
 * else SIZE_MAX. SIZE_MAX when out of memory too. */
static size_t find_slot(audit_index *ix, json_t *pmap, const char *policy, const char *rule)
{
	uint32_t *h = ix->hash_cap ? hash_at(ix, policy, rule) : NULL;
	long long p;
	if (h && *h)
		return *h - 1;
	if (!pmap || (p = find_pol(ix, pmap, policy, NULL)) < 0)
		return SIZE_MAX;
	if (ix->nslots == ix->capslots) {
		size_t cap = ix->capslots ? 2 * ix->capslots : 64;
		rule_slot *v = mp_realloc(ix->slots, cap * sizeof(*v));
		if (!v)
			return SIZE_MAX;
		ix->slots = v;
		ix->capslots = cap;
	}
	ix->slots[ix->nslots++] = (rule_slot){.policy = policy,
	                                      .rule = rule,
	                                      .pol = (size_t)p,
	                                      .type = "",
	                                      .status = "",
	                                      .severity = "",
	                                      .enforcement = ""};
	if (2 * ix->nslots > ix->hash_cap) {
		if (rehash(ix, ix->nslots) < 0)
			return SIZE_MAX;
	} else {
		*hash_at(ix, policy, rule) = (uint32_t)ix->nslots;
	}
	return ix->nslots - 1;
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
	mp_free(ix->slot_hash);
	mp_free(ix->e_slot);
	mp_free(ix->e_by_slot);
	json_decref(ix->finding_controls);
	json_decref(ix->record_controls);
	memset(ix, 0, sizeof(*ix));
}

/* A record's controls as a JSON array of its valid strings (as the json report writes them),
 * made once per array: records share their policy's. NULL when out of memory. */
static json_t *record_controls(audit_index *ix, const au_rule *r)
{
	char key[32];
	json_t *a;
	snprintf(key, sizeof(key), "%p", (const void *)r->controls);
	if ((a = json_object_get(ix->record_controls, key)))
		return a;
	if (!(a = json_array()))
		return NULL;
	for (uint32_t k = 0; k < r->ncontrols; k++) {
		json_t *v = json_string(r->controls[k]); /* NULL: not UTF-8, never written */
		if (v && json_array_append_new(a, v) < 0) {
			json_decref(a);
			return NULL;
		}
	}
	if (json_object_set_new(ix->record_controls, key, a) < 0)
		return NULL;
	return a;
}

/* The slots of the rules: the tree's rules[], or a streamed audit's records. */
static int add_rules(audit_index *ix, json_t *pmap)
{
	size_t i, s;
	json_t *v;
	if (ix->res) {
		const au_rules *rr = au_result_rules(ix->res);
		for (uint32_t k = 0; k < rr->n; k++) {
			const au_rule *r = &rr->v[k];
			if ((s = find_slot(ix, pmap, r->policy, r->name)) == SIZE_MAX)
				return -1;
			if (ix->slots[s].rec)
				continue;
			ix->slots[s].rec = k + 1;
			ix->slots[s].type = r->type;
			ix->slots[s].status = au_status_name(r->status);
			ix->slots[s].severity = r->severity;
			ix->slots[s].enforcement = r->enforcement;
			if (!(ix->slots[s].controls = record_controls(ix, r)))
				return -1;
		}
		return 0;
	}
	json_array_foreach(ix->rules, i, v)
	{
		if ((s = find_slot(ix, pmap, rp_str(v, "policy"), rp_str(v, "rule"))) == SIZE_MAX)
			return -1;
		if (ix->slots[s].def)
			continue;
		ix->slots[s].def = v;
		ix->slots[s].type = rp_str(v, "type");
		ix->slots[s].status = rp_str(v, "status");
		ix->slots[s].severity = rp_str(v, "severity");
		ix->slots[s].enforcement = rp_str(v, "enforcement");
		ix->slots[s].controls = json_object_get(v, "controls");
	}
	return 0;
}

/* The counting pass (while the index is built): each finding's slot, added when only findings
 * name it, its counts, and the controls findings name. */
typedef struct {
	audit_index *ix;
	json_t *pmap;
	int (*fn)(void *ctx, json_t *f, size_t slot);
	void *ctx;
	int failed; /* fn failed, not the spool */
} scan_ctx;

static int count_finding(void *vctx, json_t *f, size_t s)
{
	audit_index *ix = vctx;
	json_t *c;
	size_t j;
	ix->slots[s].f_n++;
	ix->slots[s].w_n += rp_waiver(f) != NULL;
	ix->nfindings++;
	ix->sev_n[rp_sev_rank(rp_str(f, "severity"))]++;
	json_array_foreach(json_object_get(f, "controls"), j, c)
	{
		if (json_is_string(c) &&
		    !json_object_get(ix->finding_controls, json_string_value(c)) &&
		    json_object_set_new_nocheck(ix->finding_controls, json_string_value(c),
		                                json_null()) < 0)
			return -1;
	}
	return 0;
}

static int scan_one(void *vctx, json_t *f)
{
	scan_ctx *c = vctx;
	size_t s = find_slot(c->ix, c->pmap, rp_str(f, "policy"), rp_str(f, "rule"));
	if (s == SIZE_MAX || c->fn(c->ctx, f, s) != 0) {
		c->failed = 1;
		return 1;
	}
	return 0;
}

static int scan(audit_index *ix, json_t *pmap, int (*fn)(void *ctx, json_t *f, size_t slot),
                void *ctx)
{
	scan_ctx c = {ix, pmap, fn, ctx, 0};
	size_t i;
	json_t *f;
	if (!ix->res) {
		json_array_foreach(ix->findings, i, f)
		{
			if (scan_one(&c, f))
				return -1;
		}
		return 0;
	}
	if (mp_audit_result_findings(ix->res, scan_one, &c) == 0)
		return 0;
	if (!c.failed)
		ix->spool_failed = 1;
	return -1;
}

int rp_scan(audit_index *ix, int (*fn)(void *ctx, json_t *f, size_t slot), void *ctx)
{
	return scan(ix, NULL, fn, ctx);
}

/* Builds the index of an audit that passed check_shape (the tree), or of a streamed audit's
 * result (ix->res set, audit its summary): one pass over the findings. -1 when out of memory or
 * the findings cannot be read back. */
static int index_build(audit_index *ix, json_t *audit)
{
	json_t *pmap = json_object(), *v;
	rule_slot *sorted = NULL;
	size_t *key = NULL, *off = NULL, *order = NULL, *remap = NULL, i;
	int rc = -1;
	ix->audit = audit;
	ix->policies = json_object_get(audit, "policies");
	ix->rules = ix->res ? NULL : json_object_get(audit, "rules");
	ix->findings = ix->res ? NULL : json_object_get(audit, "findings");
	ix->errors = json_object_get(audit, "errors");
	ix->counts = json_object_get(audit, "counts");
	ix->fail_on = rp_str(audit, "fail_on");
	ix->result = rp_str(audit, "result");
	size_t ne = json_array_size(ix->errors);
	ix->finding_controls = json_object();
	ix->record_controls = json_object();
	ix->e_slot = mp_calloc(ne + 1, sizeof(size_t));
	ix->e_by_slot = mp_calloc(ne + 1, sizeof(size_t));
	if (!pmap || !ix->finding_controls || !ix->record_controls || !ix->e_slot ||
	    !ix->e_by_slot || grow_pols(ix, json_array_size(ix->policies)) < 0)
		goto fail;
	json_array_foreach(ix->policies, i, v)
	{
		if (find_pol(ix, pmap, rp_str(v, "name"), v) < 0)
			goto fail;
	}
	if (add_rules(ix, pmap) < 0 || scan(ix, pmap, count_finding, ix) < 0)
		goto fail;
	json_array_foreach(ix->errors, i, v)
	{
		size_t s = find_slot(ix, pmap, rp_str(v, "policy"), rp_str(v, "rule"));
		if (s == SIZE_MAX)
			goto fail;
		ix->e_slot[i] = s;
	}

	/* Group the slots by policy, keeping their order within a policy. */
	size_t ns = ix->nslots;
	sorted = mp_calloc(ns + 1, sizeof(*sorted));
	key = mp_calloc(ns + ne + 1, sizeof(size_t));
	order = mp_calloc(ns + 1, sizeof(size_t));
	remap = mp_calloc(ns + 1, sizeof(size_t));
	off = mp_calloc((ix->npols > ns ? ix->npols : ns) + 2, sizeof(size_t));
	if (!sorted || !key || !order || !remap || !off)
		goto fail;
	for (i = 0; i < ns; i++)
		key[i] = ix->slots[i].pol;
	group_by(key, ns, ix->npols, off, order);
	for (i = 0; i < ns; i++) {
		sorted[i] = ix->slots[order[i]];
		remap[order[i]] = i;
	}
	for (size_t p = 0; p < ix->npols; p++) {
		ix->pols[p].s_off = off[p];
		ix->pols[p].s_n = off[p + 1] - off[p];
	}
	if (ns) /* slots is NULL when there are none */
		memcpy(ix->slots, sorted, ns * sizeof(*sorted));
	if (rehash(ix, ns) < 0)
		goto fail;
	for (i = 0; i < ne; i++)
		ix->e_slot[i] = remap[ix->e_slot[i]];
	group_by(ix->e_slot, ne, ns, off, ix->e_by_slot);
	for (i = 0; i < ns; i++) {
		ix->slots[i].e_off = off[i];
		ix->slots[i].e_n = off[i + 1] - off[i];
	}
	rc = 0;
fail:
	mp_free(sorted);
	mp_free(key);
	mp_free(order);
	mp_free(remap);
	mp_free(off);
	json_decref(pmap);
	return rc;
}

json_t *rp_error_at(audit_index *ix, size_t i)
{
	return json_array_get(ix->errors, i);
}

const char *rp_slot_severity(audit_index *ix, const rule_slot *s)
{
	return *s->severity ? s->severity : rp_str(ix->pols[s->pol].def, "severity");
}

const char *rp_slot_enforcement(audit_index *ix, const rule_slot *s)
{
	return *s->enforcement ? s->enforcement : rp_str(ix->pols[s->pol].def, "enforcement");
}

json_t *rp_slot_controls(audit_index *ix, const rule_slot *s)
{
	if (json_array_size(s->controls))
		return s->controls;
	return json_object_get(ix->pols[s->pol].def, "controls");
}

json_t *rp_finding_controls(audit_index *ix, json_t *f, size_t slot)
{
	json_t *c = json_object_get(f, "controls");
	return json_is_array(c) ? c : rp_slot_controls(ix, &ix->slots[slot]);
}

json_t *rp_slot_def(audit_index *ix, const rule_slot *s, int *bad)
{
	json_t *d = NULL;
	if (s->def)
		return json_incref(s->def);
	if (s->rec && !(d = au_rule_json(au_result_rules(ix->res), s->rec - 1)))
		*bad = 1;
	return d;
}

void rp_first_help_uri(audit_index *ix, char *buf, size_t len)
{
	json_t *d = NULL;
	if (ix->res && au_result_rules(ix->res)->n)
		d = au_rule_json(au_result_rules(ix->res), 0);
	else if (!ix->res)
		d = json_incref(json_array_get(ix->rules, 0));
	snprintf(buf, len, "%s", rp_str(d, "help_uri"));
	json_decref(d);
}

int rp_slot_errored(const rule_slot *s)
{
	return s->e_n > 0 || !strcmp(s->status, "error");
}

int rp_slot_failed(const rule_slot *s)
{
	return !rp_slot_errored(s) && (s->f_n > s->w_n || (!s->f_n && !strcmp(s->status, "fail")));
}

json_t *rp_waiver(json_t *f)
{
	json_t *w = json_object_get(f, "waiver");
	return json_is_object(w) ? w : NULL;
}

int rp_fail_on_severity(const audit_index *ix)
{
	return rp_sev_rank(ix->fail_on) < RP_NSEV;
}

int rp_blocking(audit_index *ix, json_t *f)
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

struct rp_pair {
	uint32_t control, slot; /* slot + 1: 0 marks a free hash entry's pair */
	size_t n;               /* attributed findings */
};

static int add_controls(json_t *map, json_t *arr)
{
	size_t j;
	json_t *c;
	json_array_foreach(arr, j, c)
	{
		if (json_is_string(c) && !json_object_get(map, json_string_value(c)) &&
		    json_object_set_new_nocheck(map, json_string_value(c), json_null()) < 0)
			return -1;
	}
	return 0;
}

/* Every control a policy, a rule (its entry) or a finding names, in natural order. */
int rp_controls_init(audit_index *ix, rp_controls *c)
{
	json_t *v;
	const char *key;
	size_t i;
	memset(c, 0, sizeof(*c));
	if (!(c->map = json_object()))
		goto fail;
	json_array_foreach(ix->policies, i, v)
	{
		if (add_controls(c->map, json_object_get(v, "controls")) < 0)
			goto fail;
	}
	json_array_foreach(ix->rules, i, v)
	{
		if (add_controls(c->map, json_object_get(v, "controls")) < 0)
			goto fail;
	}
	for (i = 0; ix->res && i < ix->nslots; i++)
		if (add_controls(c->map, ix->slots[i].controls) < 0)
			goto fail;
	json_object_foreach(ix->finding_controls, key, v)
	{
		if (!json_object_get(c->map, key) &&
		    json_object_set_new_nocheck(c->map, key, json_null()) < 0)
			goto fail;
	}
	size_t n = json_object_size(c->map);
	c->ids = mp_calloc(n + 1, sizeof(*c->ids));
	c->st = mp_calloc(n + 1, sizeof(*c->st));
	if (!c->ids || !c->st)
		goto fail;
	json_object_foreach(c->map, key, v) c->ids[c->n++] = key; /* the map's keys: it outlives */
	qsort(c->ids, c->n, sizeof(*c->ids), cmp_control);
	for (i = 0; i < c->n; i++)
		if (json_object_set_new_nocheck(c->map, c->ids[i], json_integer((json_int_t)i)) < 0)
			goto fail;
	/* the keys moved? jansson keeps a key's storage when its value is replaced */
	return 0;
fail:
	rp_controls_free(c);
	return -1;
}

static size_t hash_cs(uint32_t control, size_t slot)
{
	uint64_t h = ((uint64_t)control << 32 | (uint64_t)slot) * 0x9e3779b97f4a7c15ull;
	return (size_t)(h >> 17);
}

static uint32_t *pair_at(rp_controls *c, uint32_t control, size_t slot)
{
	size_t i = hash_cs(control, slot) & (c->pair_cap - 1);
	for (;; i = (i + 1) & (c->pair_cap - 1)) {
		uint32_t v = c->pair_hash[i];
		if (!v || (c->pairs[v - 1].control == control && c->pairs[v - 1].slot == slot))
			return &c->pair_hash[i];
	}
}

/* The pair (control, slot), added when new; NULL when out of memory. */
static struct rp_pair *find_pair(rp_controls *c, uint32_t control, size_t slot)
{
	uint32_t *h = c->pair_cap ? pair_at(c, control, slot) : NULL;
	if (h && *h)
		return &c->pairs[*h - 1];
	if (c->npairs == c->cappairs) {
		size_t cap = c->cappairs ? 2 * c->cappairs : 64;
		struct rp_pair *v = mp_realloc(c->pairs, cap * sizeof(*v));
		if (!v)
			return NULL;
		c->pairs = v;
		c->cappairs = cap;
	}
	c->pairs[c->npairs++] = (struct rp_pair){control, (uint32_t)slot, 0};
	if (2 * c->npairs > c->pair_cap) {
		size_t cap = c->pair_cap ? 2 * c->pair_cap : 128;
		uint32_t *nh = mp_calloc(cap, sizeof(*nh));
		if (!nh)
			return NULL;
		mp_free(c->pair_hash);
		c->pair_hash = nh;
		c->pair_cap = cap;
		for (size_t i = 0; i < c->npairs; i++)
			*pair_at(c, c->pairs[i].control, c->pairs[i].slot) = (uint32_t)i + 1;
	} else {
		*pair_at(c, control, (uint32_t)slot) = (uint32_t)c->npairs;
	}
	return &c->pairs[c->npairs - 1];
}

int rp_controls_attribute(audit_index *ix, rp_controls *c, json_t *f, size_t slot, size_t *keys,
                          size_t *n)
{
	json_t *fc = rp_finding_controls(ix, f, slot), *v;
	int blocking = rp_blocking(ix, f);
	size_t j;
	*n = 0;
	json_array_foreach(fc, j, v)
	{
		json_t *k =
		    json_is_string(v) ? json_object_get(c->map, json_string_value(v)) : NULL;
		struct rp_pair *p;
		if (!k || rp_in_array_before(fc, j))
			continue; /* named twice: attributed once */
		uint32_t ki = (uint32_t)json_integer_value(k);
		if (!(p = find_pair(c, ki, slot)))
			return -1;
		p->n++;
		c->st[ki].findings++;
		c->st[ki].blocking += (size_t)blocking;
		keys[(*n)++] = (size_t)(p - c->pairs);
	}
	return 0;
}

size_t rp_controls_count(const rp_controls *c, size_t k, size_t slot, size_t *key)
{
	uint32_t *h = c->pair_cap ? pair_at((rp_controls *)c, (uint32_t)k, slot) : NULL;
	*key = h && *h ? *h - 1 : SIZE_MAX;
	return h && *h ? c->pairs[*h - 1].n : 0;
}

void rp_controls_finish(audit_index *ix, rp_controls *c)
{
	/* a rule counts for a control it carries or that findings of it are attributed to */
	for (size_t s = 0; s < ix->nslots; s++) {
		json_t *sc = rp_slot_controls(ix, &ix->slots[s]), *v;
		size_t j;
		json_array_foreach(sc, j, v)
		{
			json_t *k = json_is_string(v)
			                ? json_object_get(c->map, json_string_value(v))
			                : NULL;
			if (!k || rp_in_array_before(sc, j))
				continue;
			c->st[json_integer_value(k)].rules++;
			c->st[json_integer_value(k)].errored |= rp_slot_errored(&ix->slots[s]);
		}
	}
	for (size_t i = 0; i < c->npairs; i++) {
		const struct rp_pair *p = &c->pairs[i];
		if (rp_in_array(rp_slot_controls(ix, &ix->slots[p->slot]), c->ids[p->control]))
			continue; /* counted above */
		c->st[p->control].rules++;
		c->st[p->control].errored |= rp_slot_errored(&ix->slots[p->slot]);
	}
}

void rp_controls_free(rp_controls *c)
{
	mp_free(c->ids);
	mp_free(c->st);
	mp_free(c->pairs);
	mp_free(c->pair_hash);
	json_decref(c->map);
	memset(c, 0, sizeof(*c));
}

/* ---- Spills --------------------------------------------------------------------------------- */

struct rp_spill {
	FILE *frags;  /* as written: key, length, bytes */
	FILE *sorted; /* grouped by key */
	FILE *cur;    /* the fragment being written (a memstream) */
	char *buf;
	size_t bufsize;
	size_t *pos; /* per key: its bytes while writing; then where it starts */
	size_t npos, cappos, nkeys;
	int bad;
};

rp_spill *rp_spill_new(void)
{
	rp_spill *sp = mp_calloc(1, sizeof(*sp));
	if (!sp)
		return NULL;
	if (!(sp->frags = au_tempfile()) || !(sp->cur = open_memstream(&sp->buf, &sp->bufsize))) {
		rp_spill_free(sp);
		return NULL;
	}
	return sp;
}

FILE *rp_spill_begin(rp_spill *sp)
{
	rewind(sp->cur);
	return sp->cur;
}

int rp_spill_put(rp_spill *sp, size_t key)
{
	long len;
	uint64_t head[2];
	if (sp->bad || fflush(sp->cur) != 0 || (len = ftell(sp->cur)) < 0)
		goto fail;
	if (key >= sp->cappos) {
		size_t cap = sp->cappos ? 2 * sp->cappos : 64;
		while (cap <= key)
			cap *= 2;
		size_t *v = mp_realloc(sp->pos, (cap + 1) * sizeof(*v));
		if (!v)
			goto fail;
		memset(v + sp->cappos, 0, (cap + 1 - sp->cappos) * sizeof(*v));
		sp->pos = v;
		sp->cappos = cap;
	}
	if (key >= sp->npos)
		sp->npos = key + 1;
	head[0] = key;
	head[1] = (uint64_t)len;
	if (!len)
		return 0;
	sp->pos[key] += (size_t)len;
	if (fwrite(head, sizeof(head), 1, sp->frags) != 1 ||
	    fwrite(sp->buf, 1, (size_t)len, sp->frags) != (size_t)len)
		goto fail;
	return 0;
fail:
	sp->bad = 1;
	return -1;
}

int rp_spill_sort(rp_spill *sp, size_t nkeys)
{
	uint64_t head[2];
	char *buf = NULL;
	size_t cap = 0, total = 0;
	if (sp->bad || nkeys < sp->npos || !(sp->sorted = au_tempfile()))
		goto fail;
	if (!sp->pos || nkeys > sp->cappos) { /* pos has cappos + 1 entries, zero past npos */
		size_t had = sp->pos ? sp->cappos + 1 : 0;
		size_t *v = mp_realloc(sp->pos, (nkeys + 1) * sizeof(*v));
		if (!v)
			goto fail;
		memset(v + had, 0, (nkeys + 1 - had) * sizeof(*v));
		sp->pos = v;
		sp->cappos = nkeys;
	}
	sp->nkeys = nkeys;
	for (size_t k = 0; k < nkeys; k++) { /* sizes -> starts */
		size_t n = sp->pos[k];
		sp->pos[k] = total;
		total += n;
	}
	sp->pos[nkeys] = total;
	if (fflush(sp->frags) != 0 || fseek(sp->frags, 0, SEEK_SET) != 0)
		goto fail;
	while (fread(head, sizeof(head), 1, sp->frags) == 1) {
		if (head[0] >= nkeys || head[1] > total)
			goto fail;
		if (head[1] > cap) {
			char *b = mp_realloc(buf, (size_t)head[1]);
			if (!b)
				goto fail;
			buf = b;
			cap = (size_t)head[1];
		}
		if (fread(buf, 1, (size_t)head[1], sp->frags) != head[1] ||
		    pwrite(fileno(sp->sorted), buf, (size_t)head[1], (off_t)sp->pos[head[0]]) !=
		        (ssize_t)head[1])
			goto fail;
		sp->pos[head[0]] += (size_t)head[1];
	}
	if (ferror(sp->frags))
		goto fail;
	for (size_t k = nkeys; k > 0; k--) /* pos[k] was advanced to the end of key k */
		sp->pos[k] = sp->pos[k - 1];
	sp->pos[0] = 0;
	sp->pos[nkeys] = total;
	mp_free(buf);
	return 0;
fail:
	mp_free(buf);
	sp->bad = 1;
	return -1;
}

int rp_spill_empty(const rp_spill *sp, size_t key)
{
	return key >= sp->nkeys || sp->pos[key] == sp->pos[key + 1];
}

int rp_spill_copy(rp_spill *sp, size_t key, FILE *out)
{
	char buf[65536];
	if (sp->bad || !sp->sorted)
		return -1;
	if (key >= sp->nkeys)
		return 0;
	for (size_t at = sp->pos[key], end = sp->pos[key + 1]; at < end;) {
		size_t want = end - at < sizeof(buf) ? end - at : sizeof(buf);
		ssize_t got = pread(fileno(sp->sorted), buf, want, (off_t)at);
		if (got <= 0) {
			sp->bad = 1;
			return -1;
		}
		fwrite(buf, 1, (size_t)got, out);
		at += (size_t)got;
	}
	return 0;
}

void rp_spill_free(rp_spill *sp)
{
	if (!sp)
		return;
	if (sp->frags)
		fclose(sp->frags);
	if (sp->sorted)
		fclose(sp->sorted);
	if (sp->cur)
		fclose(sp->cur);
	free(sp->buf);
	mp_free(sp->pos);
	mp_free(sp);
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

/* Writes ix (built) in writers[k], checking out: the one ending of both entry points. */
static int write_indexed(audit_index *ix, size_t k, FILE *out, char *err, size_t errlen)
{
	const char *format = writers[k].name;
	errno = 0;
	if (writers[k].write(ix, out, ix->opts->color) < 0 && !ferror(out)) {
		if (ix->spool_failed)
			snprintf(err, errlen,
			         "cannot read the audit's findings back from its temporary file "
			         "(unreadable or truncated): the %s report is incomplete",
			         format);
		else
			snprintf(err, errlen,
			         "out of memory, or no temporary file (in $TMPDIR, else /tmp), "
			         "writing the %s report",
			         format);
		return -1;
	}
	if (fflush(out) != 0 || ferror(out)) {
		snprintf(err, errlen, "cannot write the %s report: %s", format,
		         strerror(errno ? errno : EIO));
		return -1;
	}
	return 0;
}

/* The writer of format, or NWRITERS with a message in err. */
static size_t writer_of(const char *format, char *err, size_t errlen)
{
	size_t k = 0;
	char q[80];
	while (k < NWRITERS && (!format || strcmp(format, writers[k].name)))
		k++;
	if (k == NWRITERS)
		snprintf(
		    err, errlen,
		    "unknown report format '%s' (use text, json, junit, sarif, markdown or html)",
		    format ? mp_diag_quote(format, strlen(format), q, sizeof(q)) : "(null)");
	return k;
}

int mp_report_write_result(mp_audit_result *r, const char *format, FILE *out, int color, char *err,
                           size_t errlen)
{
	mp_report_opts o = {.color = color};
	return mp_report_write_result_opts(r, format, out, &o, err, errlen);
}

int mp_report_write_result_opts(mp_audit_result *r, const char *format, FILE *out,
                                const mp_report_opts *o, char *err, size_t errlen)
{
	static const mp_report_opts none = {0};
	audit_index ix = {.opts = o ? o : &none, .res = r};
	json_t *audit = mp_audit_result_summary(r);
	size_t k = writer_of(format, err, errlen);
	assert(r && out && err && errlen > 0);
	if (k == NWRITERS)
		return -1;
	if (ix.opts->note && ix.opts->notelen)
		ix.opts->note[0] = '\0';
	if (!writers[k].needs_index) { /* json: the summary, the records and the spool */
		errno = 0;
		if (mp_audit_result_write_json(r, out) < 0 && !ferror(out)) {
			snprintf(err, errlen,
			         "cannot read the audit's findings back from its temporary file "
			         "(unreadable or truncated), or out of memory: the json report is "
			         "incomplete");
			return -1;
		}
		if (fflush(out) != 0 || ferror(out)) {
			snprintf(err, errlen, "cannot write the json report: %s",
			         strerror(errno ? errno : EIO));
			return -1;
		}
		return 0;
	}
	int rc = -1;
	if (index_build(&ix, audit) < 0) {
		if (ix.spool_failed)
			snprintf(err, errlen,
			         "cannot read the audit's findings back from its temporary file "
			         "(unreadable or truncated): no %s report written",
			         format);
		else
			snprintf(err, errlen, "out of memory writing the %s report", format);
		goto out;
	}
	rc = write_indexed(&ix, k, out, err, errlen);
out:
	index_free(&ix);
	return rc;
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
	size_t k = writer_of(format, err, errlen);
	int rc = -1;
	assert(out && err && errlen > 0);
	if (k == NWRITERS || check_shape(audit, err, errlen) < 0)
		return -1;
	ix.audit = audit;
	if (ix.opts->note && ix.opts->notelen)
		ix.opts->note[0] = '\0';
	if (writers[k].needs_index && index_build(&ix, audit) < 0) {
		snprintf(err, errlen, "out of memory writing the %s report", format);
		goto out;
	}
	rc = write_indexed(&ix, k, out, err, errlen);
out:
	index_free(&ix);
	return rc;
}
