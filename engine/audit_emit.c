/* audit_emit.c: the auditor's output side (audit_int.h): the rules table, each finding written
 * to a spool file the moment it is found (as the bytes the json report prints: indent 2, keys
 * sorted, as jansson's json_dumpf writes them), waivers matched finding by finding, and the
 * json report assembled from the spool and the rules. Memory holds the rules and the counts,
 * never the findings. Design: docs/architecture.md ("Reports", streamed findings). */
#include "alloc.h"
#include "audit_int.h"
#include "diag.h"
#include "pathbase.h"
#include "version.h"

#include <assert.h>
#include <limits.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <unistd.h>

static const char *const sev_names[] = {"info", "low", "medium", "high", "critical"};
static const char *const enf_names[] = {"advisory", "soft", "hard"};

static int rank_of(const char *name, const char *const *names, int n)
{
	for (int i = 0; i < n; i++)
		if (!strcmp(names[i], name))
			return i;
	return -1;
}

/* --- locations --- */

const char *au_place(audit *a, const char *file)
{
	char out[PATH_MAX];
	json_t *v;
	if ((v = json_object_get(a->places, file)))
		return json_string_value(v);
	/* kept for every file, base or not: findings point into a->places */
	if (a->o->base && mp_path_relative(a->o->base, file, out, sizeof(out)) < 0)
		snprintf(out, sizeof(out), "%s", file);
	if (json_object_set_new(a->places, file, json_string(a->o->base ? out : file)) < 0)
		return NULL;
	return json_string_value(json_object_get(a->places, file));
}

int au_loc_text(audit *a, const char *s, au_loc *l)
{
	const char *colon = s ? strrchr(s, ':') : NULL;
	char file[PATH_MAX];
	if (!colon || !colon[1] || (size_t)(colon - s) >= sizeof(file))
		return 0;
	char *end;
	long line = strtol(colon + 1, &end, 10);
	if (*end || line <= 0)
		return 0;
	memcpy(file, s, (size_t)(colon - s));
	file[colon - s] = '\0';
	*l = (au_loc){au_place(a, file), line, 0, NULL};
	return l->file != NULL;
}

/* --- the rules table --- */

static uint32_t hash_rule(const char *policy, const char *name)
{
	uint32_t h = 2166136261u;
	for (const unsigned char *p = (const unsigned char *)policy; *p; p++)
		h = (h ^ *p) * 16777619u;
	h = (h ^ '/') * 16777619u;
	for (const unsigned char *p = (const unsigned char *)name; *p; p++)
		h = (h ^ *p) * 16777619u;
	return h;
}

static uint32_t *find_slot(audit *a, const char *policy, const char *name)
{
	uint32_t i = hash_rule(policy, name) & (a->rindex_cap - 1);
	for (;; i = (i + 1) & (a->rindex_cap - 1)) {
		uint32_t r = a->rindex[i];
		if (!r || (!strcmp(a->rules[r - 1].name, name) &&
		           !strcmp(a->rules[r - 1].policy, policy)))
			return &a->rindex[i];
	}
}

/* Room for n rules in all, the index at most half full. */
static int grow_rules(audit *a, uint32_t n)
{
	if (n > a->caprules) {
		uint32_t cap = a->caprules ? 2 * a->caprules : 256;
		while (cap < n)
			cap *= 2;
		au_rule *r = mp_realloc(a->rules, cap * sizeof(*r));
		if (!r)
			return -1;
		a->rules = r;
		a->caprules = cap;
	}
	if (2 * n > a->rindex_cap) {
		uint32_t cap = a->rindex_cap ? 2 * a->rindex_cap : 512;
		uint32_t *old = a->rindex, oldcap = a->rindex_cap;
		while (cap < 2 * n)
			cap *= 2;
		if (!(a->rindex = mp_calloc(cap, sizeof(uint32_t)))) {
			a->rindex = old;
			return -1;
		}
		a->rindex_cap = cap;
		for (uint32_t i = 0; i < oldcap; i++)
			if (old[i])
				*find_slot(a, a->rules[old[i] - 1].policy,
				           a->rules[old[i] - 1].name) = old[i];
		mp_free(old);
	}
	return 0;
}

int au_reserve_rules(audit *a, uint32_t n)
{
	return grow_rules(a, a->nrules + n);
}

/* Adds r (its policy and name not yet in the table); UINT32_MAX when out of memory. */
static uint32_t add_rule(audit *a, const au_rule *r)
{
	if (grow_rules(a, a->nrules + 1) < 0)
		return UINT32_MAX;
	a->rules[a->nrules] = *r;
	*find_slot(a, r->policy, r->name) = a->nrules + 1;
	return a->nrules++;
}

static uint32_t count_list(const char *const *v)
{
	uint32_t n = 0;
	while (v && v[n])
		n++;
	return n;
}

uint32_t au_rule_entry(audit *a, const mp_policy *p, const char *policy, const char *name,
                       const char *type, uint32_t severity, const char *description,
                       const char *loc)
{
	uint32_t *slot = a->rindex_cap ? find_slot(a, policy, name) : NULL;
	if (slot && *slot)
		return *slot - 1;
	au_rule r = {
	    .policy = policy,
	    .version = p && p->version ? p->version : MP_VERSION,
	    .name = name,
	    .type = type,
	    .severity = mp_severity_name(severity),
	    .enforcement = mp_enforcement_name(p ? p->enforcement : MP_ENF_SOFT),
	    .own = description,
	    .doc = mp_rule_doc_type(type),
	};
	if (p) {
		r.controls = (const char *const *)p->controls;
		r.ncontrols = p->ncontrols;
	} else if (a->row) { /* the row's own pseudo-policy */
		r.controls = a->row->controls;
		r.ncontrols = count_list(a->row->controls);
	}
	au_loc l;
	if (au_loc_text(a, loc, &l)) {
		r.loc_file = l.file;
		r.loc_line = l.line;
	}
	r.sev_rank = rank_of(r.severity, sev_names, 5);
	r.enf_rank = rank_of(r.enforcement, enf_names, 3);
	return add_rule(a, &r);
}

uint32_t au_import_rule(audit *a, const char *code, uint32_t level)
{
	static const struct {
		const char *severity, *enforcement;
	} levels[] = {{"high", "hard"}, {"medium", "soft"}, {"info", "advisory"}};
	uint32_t *slot = a->rindex_cap ? find_slot(a, MP_IMPORT_POLICY, code) : NULL;
	if (slot && *slot)
		return *slot - 1;
	uint32_t lvl = level < 3 ? level : 2, n = 0, cap = 0;
	const char **controls = NULL;
	/* the controls of every row that reports the code, each once */
	for (const mp_check_row *row = mp_check_for_code(code, NULL); row;
	     row = mp_check_for_code(code, row))
		for (const char *const *c = row->controls; c && *c; c++) {
			uint32_t k = 0;
			while (k < n && strcmp(controls[k], *c))
				k++;
			if (k < n)
				continue;
			if (n == cap) {
				const char **v = mp_realloc(controls, (cap = cap ? 2 * cap : 8) *
				                                          sizeof(*controls));
				if (!v) {
					mp_free(controls);
					return UINT32_MAX;
				}
				controls = v;
			}
			controls[n++] = *c;
		}
	au_rule r = {
	    .policy = MP_IMPORT_POLICY,
	    .version = MP_VERSION,
	    .name = code,
	    .type = "import",
	    .severity = levels[lvl].severity,
	    .enforcement = levels[lvl].enforcement,
	    .doc = mp_rule_doc_code(code),
	    .controls = controls,
	    .ncontrols = n,
	    .owns_controls = 1,
	};
	r.sev_rank = rank_of(r.severity, sev_names, 5);
	r.enf_rank = rank_of(r.enforcement, enf_names, 3);
	uint32_t i = add_rule(a, &r);
	if (i == UINT32_MAX)
		mp_free(controls);
	return i;
}

/* --- JSON as jansson writes it with JSON_INDENT(2) | JSON_SORT_KEYS --- */

static void indent(mp_jsonbuf *b, int n)
{
	static const char sp[] = "                                ";
	mp_jsonbuf_raw(b, "\n", 1);
	mp_jsonbuf_raw(b, sp, (size_t)n);
}

/* The next key of an object whose keys are indented by n. Keys are this file's own names
 * (letters and '_'), which JSON needs no escape for: copied as they are. */
static void key(mp_jsonbuf *b, int *first, int n, const char *k)
{
	char text[48];
	size_t len = strlen(k);
	assert(len + 4 <= sizeof(text));
	if (!*first)
		mp_jsonbuf_raw(b, ",", 1);
	*first = 0;
	indent(b, n);
	text[0] = '"';
	memcpy(text + 1, k, len);
	memcpy(text + 1 + len, "\": ", 3);
	mp_jsonbuf_raw(b, text, len + 4);
}

/* v in decimal (no snprintf: every finding's locations have two or three numbers). */
static void integer(mp_jsonbuf *b, long long v)
{
	char n[24], *p = n + sizeof(n);
	unsigned long long u = v < 0 ? 0ull - (unsigned long long)v : (unsigned long long)v;
	do
		*--p = (char)('0' + u % 10);
	while ((u /= 10) > 0);
	if (v < 0)
		*--p = '-';
	mp_jsonbuf_raw(b, p, (size_t)(n + sizeof(n) - p));
}

static int valid(const char *s)
{
	return s && mp_utf8_valid(s, strlen(s));
}

/* An array of the valid strings of v, its elements indented by n. */
static void str_array(mp_jsonbuf *b, const char *const *v, uint32_t nv, int n)
{
	int any = 0;
	mp_jsonbuf_raw(b, "[", 1);
	for (uint32_t i = 0; i < nv; i++) {
		if (!valid(v[i]))
			continue;
		if (any)
			mp_jsonbuf_raw(b, ",", 1);
		any = 1;
		indent(b, n);
		mp_jsonbuf_string(b, v[i]);
	}
	if (any)
		indent(b, n - 2);
	mp_jsonbuf_raw(b, "]", 1);
}

/* A location object, its keys indented by n. */
static void location(mp_jsonbuf *b, const au_loc *l, int n)
{
	int first = 1;
	mp_jsonbuf_raw(b, "{", 1);
	if (l->col > 0) {
		key(b, &first, n, "column");
		integer(b, l->col);
	}
	key(b, &first, n, "file");
	mp_jsonbuf_string(b, l->file);
	key(b, &first, n, "line");
	integer(b, l->line);
	if (valid(l->message)) {
		key(b, &first, n, "message");
		mp_jsonbuf_string(b, l->message);
	}
	indent(b, n - 2);
	mp_jsonbuf_raw(b, "}", 1);
}

/* The rule's location (placed), when it has one, as the member name of an object whose keys are
 * indented by 6: a rule's "location", a finding's "rule_location". */
static void rule_location(mp_jsonbuf *b, int *first, const char *name, const au_rule *r)
{
	if (!r->loc_file)
		return;
	au_loc l = {r->loc_file, r->loc_line, 0, NULL};
	key(b, first, 6, name);
	location(b, &l, 8);
}

/* x + y + z as one JSON string. */
static void string3(mp_jsonbuf *b, const char *x, const char *y, const char *z)
{
	size_t nx = strlen(x), ny = strlen(y), nz = strlen(z);
	char stack[2048], *s = nx + ny + nz < sizeof(stack) ? stack : mp_malloc(nx + ny + nz + 1);
	if (!s) {
		b->oom = 1;
		return;
	}
	memcpy(s, x, nx);
	memcpy(s + nx, y, ny);
	memcpy(s + nx + ny, z, nz + 1);
	mp_jsonbuf_string(b, s);
	if (s != stack)
		mp_free(s);
}

static const char *const status_names[] = {"pass", "fail", "error", "waived"};

const char *au_status_name(uint32_t status)
{
	return status < 4 ? status_names[status] : "";
}

/* One entry of the report's rules, as an element of the top object's array (indent 4). */
/* The JSON text of the help and help_uri of the last doc written: the same for every rule of a
 * kind (84,000 grants), escaped once. */
typedef struct {
	const mp_rule_doc *doc;
	mp_jsonbuf help, uri;
} doc_cache;

static void emit_rule(const char *docs_url, mp_jsonbuf *b, const au_rule *r, doc_cache *c)
{
	const mp_rule_doc *doc = r->doc;
	const char *docs = docs_url ? docs_url : MP_DOCS_URL;
	int slash = *docs && docs[strlen(docs) - 1] == '/';
	if (c->doc != doc) {
		c->help.len = c->uri.len = 0;
		string3(&c->help, doc->checks, "\n\nTo resolve: ", doc->fix);
		string3(&c->uri, docs, slash ? MP_RULES_PAGE "#" : "/" MP_RULES_PAGE "#",
		        doc->anchor);
		b->oom |= c->help.oom | c->uri.oom;
		c->doc = c->help.oom || c->uri.oom ? NULL : doc;
	}
	int grant = !strcmp(r->type, "allow") || !strcmp(r->type, "role");
	int first = 1;
	mp_jsonbuf_raw(b, "    {", 5);
	key(b, &first, 6, "controls");
	str_array(b, r->controls, r->ncontrols, 8);
	/* its own text, else the row's title; a grant's own text is its purpose: after the title */
	if (!r->own || !*r->own || valid(r->own)) {
		key(b, &first, 6, "description");
		if (r->own && *r->own && grant)
			string3(b, doc->title, ": ", r->own);
		else
			mp_jsonbuf_string(b, r->own && *r->own ? r->own : doc->title);
	}
	key(b, &first, 6, "enforcement");
	mp_jsonbuf_string(b, r->enforcement);
	key(b, &first, 6, "findings");
	integer(b, (long long)r->findings);
	key(b, &first, 6, "help");
	mp_jsonbuf_raw(b, c->help.p, c->help.len);
	key(b, &first, 6, "help_uri");
	mp_jsonbuf_raw(b, c->uri.p, c->uri.len);
	rule_location(b, &first, "location", r);
	key(b, &first, 6, "policy");
	mp_jsonbuf_string(b, r->policy);
	key(b, &first, 6, "precision");
	mp_jsonbuf_string(b, doc->precision);
	key(b, &first, 6, "rule");
	mp_jsonbuf_string(b, r->name);
	key(b, &first, 6, "severity");
	mp_jsonbuf_string(b, r->severity);
	key(b, &first, 6, "status");
	mp_jsonbuf_string(b, status_names[r->status]);
	key(b, &first, 6, "type");
	mp_jsonbuf_string(b, r->type);
	key(b, &first, 6, "version");
	mp_jsonbuf_string(b, r->version);
	if (r->waived) {
		key(b, &first, 6, "waived");
		integer(b, (long long)r->waived);
	}
	indent(b, 4);
	mp_jsonbuf_raw(b, "}", 1);
}

/* --- findings --- */

/* Appends n in decimal and ':' at p; returns the end. */
static char *put_len(char *p, size_t n)
{
	char d[24];
	int k = 0;
	do
		d[k++] = (char)('0' + n % 10);
	while ((n /= 10) > 0);
	while (k > 0)
		*p++ = d[--k];
	*p++ = ':';
	return p;
}

/* The fingerprint of a finding (audit_rules.h) as 64 hex digits into hex; -1 on failure. One
 * digest of the three length-prefixed parts, in one update, hex by table: this runs for every
 * finding. A context that digested before is reset, not set up again (no provider lookup). */
static int fingerprint_hex(EVP_MD_CTX *ctx, const EVP_MD *sha256, const char *policy,
                           const char *rule, const char *subject, char hex[65])
{
	static const char digits[] = "0123456789abcdef";
	const char *parts[3] = {policy, rule, subject};
	size_t lens[3], total = 0;
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned mdlen = 0;
	char stack[1024], *buf = stack, *p;
	int rc = -1;
	for (int k = 0; k < 3; k++)
		total += (lens[k] = strlen(parts[k])) + 24;
	if (!ctx || !sha256 || (total > sizeof(stack) && !(buf = mp_malloc(total))))
		return -1;
	p = buf;
	for (int k = 0; k < 3; k++) {
		p = put_len(p, lens[k]);
		memcpy(p, parts[k], lens[k]);
		p += lens[k];
	}
	if (EVP_DigestInit_ex2(ctx, EVP_MD_CTX_get0_md(ctx) ? NULL : sha256, NULL) != 1 ||
	    EVP_DigestUpdate(ctx, buf, (size_t)(p - buf)) != 1 ||
	    EVP_DigestFinal_ex(ctx, md, &mdlen) != 1 || mdlen != 32)
		goto out;
	for (unsigned k = 0; k < mdlen; k++) {
		hex[2 * k] = digits[md[k] >> 4];
		hex[2 * k + 1] = digits[md[k] & 15];
	}
	hex[64] = '\0';
	rc = 0;
out:
	if (buf != stack)
		mp_free(buf);
	return rc;
}

json_t *mp_finding_fingerprint(const char *policy, const char *rule, const char *subject)
{
	char hex[65];
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	int rc = fingerprint_hex(ctx, EVP_sha256(), policy, rule, subject, hex);
	EVP_MD_CTX_free(ctx);
	return rc < 0 ? NULL : json_string(hex);
}

/* Waivers: sorted lookups by the first 12 digits of a fingerprint and by rule and subject. */
static const mp_waivers *sort_w;

static int cmp_fp(const void *x, const void *y)
{
	const mp_waiver *a = &sort_w->v[*(const uint32_t *)x],
	                *b = &sort_w->v[*(const uint32_t *)y];
	int c = strncmp(a->fingerprint, b->fingerprint, 12);
	return c ? c
	         : (*(const uint32_t *)x > *(const uint32_t *)y) -
	               (*(const uint32_t *)x < *(const uint32_t *)y);
}

static int cmp_pair(const void *x, const void *y)
{
	const mp_waiver *a = &sort_w->v[*(const uint32_t *)x],
	                *b = &sort_w->v[*(const uint32_t *)y];
	int c = strcmp(a->rule, b->rule);
	if (!c)
		c = strcmp(a->subject, b->subject);
	return c ? c
	         : (*(const uint32_t *)x > *(const uint32_t *)y) -
	               (*(const uint32_t *)x < *(const uint32_t *)y);
}

static int index_waivers(audit *a)
{
	const mp_waivers *w = a->o->waivers;
	if (!w || !w->n)
		return 0;
	a->w_matched = mp_calloc(w->n, sizeof(*a->w_matched));
	a->w_fp = mp_malloc(w->n * sizeof(uint32_t));
	a->w_pair = mp_malloc(w->n * sizeof(uint32_t));
	if (!a->w_matched || !a->w_fp || !a->w_pair)
		return -1;
	for (uint32_t k = 0; k < w->n; k++)
		if (w->v[k].fingerprint)
			a->w_fp[a->nw_fp++] = k;
		else
			a->w_pair[a->nw_pair++] = k;
	sort_w = w;
	qsort(a->w_fp, a->nw_fp, sizeof(uint32_t), cmp_fp);
	qsort(a->w_pair, a->nw_pair, sizeof(uint32_t), cmp_pair);
	sort_w = NULL;
	a->w_file = au_place(a, w->file);
	return 0;
}

/* The waiver in force that accepts the finding (the first in the file), or -1; counts every
 * waiver that matches it, in force or not (mp_waivers_apply's rules, one finding at a time). */
static long match_waivers(audit *a, const au_rule *r, const char *subject, const char *fp)
{
	const mp_waivers *w = a->o->waivers;
	long best = -1;
	if (!w || !w->n)
		return -1;
	/* fingerprint waivers: the run whose first 12 digits are the finding's */
	uint32_t lo = 0, hi = a->nw_fp;
	while (lo < hi) {
		uint32_t mid = (lo + hi) / 2;
		if (strncmp(w->v[a->w_fp[mid]].fingerprint, fp, 12) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (; lo < a->nw_fp && !strncmp(w->v[a->w_fp[lo]].fingerprint, fp, 12); lo++) {
		uint32_t k = a->w_fp[lo];
		if (strncmp(fp, w->v[k].fingerprint, strlen(w->v[k].fingerprint)))
			continue;
		a->w_matched[k]++;
		if (a->now < w->v[k].expires_at && (best < 0 || k < (uint32_t)best))
			best = k;
	}
	char rule[1024];
	snprintf(rule, sizeof(rule), "%s/%s", r->policy, r->name);
	lo = 0, hi = a->nw_pair;
	while (lo < hi) {
		uint32_t mid = (lo + hi) / 2;
		const mp_waiver *v = &w->v[a->w_pair[mid]];
		int c = strcmp(v->rule, rule);
		if ((c ? c : strcmp(v->subject, subject)) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (; lo < a->nw_pair && !strcmp(w->v[a->w_pair[lo]].rule, rule) &&
	       !strcmp(w->v[a->w_pair[lo]].subject, subject);
	     lo++) {
		uint32_t k = a->w_pair[lo];
		a->w_matched[k]++;
		if (a->now < w->v[k].expires_at && (best < 0 || k < (uint32_t)best))
			best = k;
	}
	return best;
}

/* Renders r's parts of a finding (au_rule.frag): they are the same bytes in each of its
 * findings, and a rule may have thousands. -1 when out of memory. */
static int rule_frags(au_rule *r, int ascii)
{
	mp_jsonbuf f;
	int first = 1;
	mp_jsonbuf_init(&f, NULL, 0);
	f.ascii = ascii;
	key(&f, &first, 6, "controls");
	str_array(&f, r->controls, r->ncontrols, 8);
	key(&f, &first, 6, "enforcement");
	mp_jsonbuf_string(&f, r->enforcement);
	r->frag_end[0] = (uint32_t)f.len;
	key(&f, &first, 6, "policy");
	mp_jsonbuf_string(&f, r->policy);
	r->frag_end[1] = (uint32_t)f.len;
	key(&f, &first, 6, "rule");
	mp_jsonbuf_string(&f, r->name);
	rule_location(&f, &first, "rule_location", r);
	key(&f, &first, 6, "severity");
	mp_jsonbuf_string(&f, r->severity);
	r->frag_end[2] = (uint32_t)f.len;
	key(&f, &first, 6, "version");
	mp_jsonbuf_string(&f, r->version);
	r->frag_end[3] = (uint32_t)f.len;
	if (f.oom || !f.heap || f.len > UINT32_MAX) {
		mp_jsonbuf_free(&f);
		return -1;
	}
	r->frag = f.p;
	return 0;
}

void au_finding(audit *a, uint32_t ri, const char *subject, const char *message, const au_loc *loc,
                const char *const *path, uint32_t npath, const au_loc *related, uint32_t nrel)
{
	if (ri == UINT32_MAX)
		return;
	au_rule *r = &a->rules[ri];
	mp_jsonbuf *b = &a->buf;
	char fp[65];
	r->status = AU_FAIL;
	if (r->findings++ >= MAX_FINDINGS_PER_RULE)
		return; /* counted, not listed */
	/* jansson refuses a string that is not UTF-8: such a finding was never listed */
	if (!valid(subject) || !valid(message) || !valid(r->policy) || !valid(r->name))
		return;
	if (fingerprint_hex(a->md, a->sha256, r->policy, r->name, subject, fp) < 0) {
		a->spool_bad = 1;
		return;
	}
	if (!r->frag && rule_frags(r, b->ascii) < 0) {
		a->spool_bad = 1;
		return;
	}
	long wv = match_waivers(a, r, subject, fp);
	int first = 0; /* the rule's first part has the first key */
	if (a->listed)
		mp_jsonbuf_raw(b, ",\n", 2);
	mp_jsonbuf_raw(b, "    {", 5);
	mp_jsonbuf_raw(b, r->frag, r->frag_end[0]);
	key(b, &first, 6, "fingerprint");
	mp_jsonbuf_string(b, fp);
	if (loc && loc->file) {
		key(b, &first, 6, "location");
		location(b, loc, 8);
	}
	key(b, &first, 6, "message");
	mp_jsonbuf_string(b, message);
	if (npath) {
		key(b, &first, 6, "path");
		str_array(b, path, npath, 8);
	}
	mp_jsonbuf_raw(b, r->frag + r->frag_end[0], r->frag_end[1] - r->frag_end[0]);
	if (nrel) {
		int any = 0;
		key(b, &first, 6, "related");
		mp_jsonbuf_raw(b, "[", 1);
		for (uint32_t i = 0; i < nrel; i++) {
			if (!related[i].file)
				continue;
			if (any)
				mp_jsonbuf_raw(b, ",", 1);
			any = 1;
			indent(b, 8);
			location(b, &related[i], 10);
		}
		if (any)
			indent(b, 6);
		mp_jsonbuf_raw(b, "]", 1);
	}
	mp_jsonbuf_raw(b, r->frag + r->frag_end[1], r->frag_end[2] - r->frag_end[1]);
	key(b, &first, 6, "subject");
	mp_jsonbuf_string(b, subject);
	mp_jsonbuf_raw(b, r->frag + r->frag_end[2], r->frag_end[3] - r->frag_end[2]);
	if (wv >= 0) {
		const mp_waiver *v = &a->o->waivers->v[wv];
		au_loc l = {a->w_file, v->line, v->col, NULL};
		int wfirst = 1;
		key(b, &first, 6, "waiver");
		mp_jsonbuf_raw(b, "{", 1);
		key(b, &wfirst, 8, "expires");
		mp_jsonbuf_string(b, v->expires);
		key(b, &wfirst, 8, "location");
		/* a waiver's location always has its column, 0 included */
		int lfirst = 1;
		mp_jsonbuf_raw(b, "{", 1);
		key(b, &lfirst, 10, "column");
		integer(b, l.col);
		key(b, &lfirst, 10, "file");
		mp_jsonbuf_string(b, l.file);
		key(b, &lfirst, 10, "line");
		integer(b, l.line);
		indent(b, 8);
		mp_jsonbuf_raw(b, "}", 1);
		key(b, &wfirst, 8, "owner");
		mp_jsonbuf_string(b, v->owner);
		key(b, &wfirst, 8, "reason");
		mp_jsonbuf_string(b, v->reason);
		indent(b, 6);
		mp_jsonbuf_raw(b, "}", 1);
	}
	indent(b, 4);
	mp_jsonbuf_raw(b, "}", 1);
	if (b->oom || (b->len >= SPOOL_BATCH && au_spool_flush(a) < 0)) {
		a->spool_bad = 1;
		return;
	}
	a->listed++;
	if (wv >= 0) { /* accepted: counted apart, never blocking */
		a->waived++;
		r->waived++;
		return;
	}
	if (r->sev_rank >= 0)
		a->by_sev[r->sev_rank]++;
	if (r->enf_rank >= 0)
		a->by_enf[r->enf_rank]++;
	/* an unknown enforcement or severity (-1) never comes from the engine */
	if (a->o->fail_on_by == MP_FAIL_ON_SEVERITY ? r->sev_rank >= (int)a->o->fail_on
	                                            : r->enf_rank >= (int)a->o->fail_on)
		a->fail = 1;
}

void au_error(audit *a, uint32_t ri, const char *message)
{
	if (ri == UINT32_MAX)
		return;
	au_rule *r = &a->rules[ri];
	r->status = AU_ERROR;
	json_t *e =
	    json_pack("{s:s, s:s, s:s}", "policy", r->policy, "rule", r->name, "message", message);
	au_loc l;
	if (e && au_loc_text(a, message, &l))
		json_object_set_new(
		    e, "location",
		    json_pack("{s:s, s:i}", "file", l.file, "line", (json_int_t)l.line));
	if (e)
		json_array_append_new(a->errors, e);
}

/* --- the spool and the report --- */

int au_spool_flush(audit *a)
{
	mp_jsonbuf *b = &a->buf;
	int rc = b->len && fwrite(b->p, 1, b->len, a->spool) != b->len ? -1 : 0;
	b->len = 0;
	return rc;
}

FILE *au_tempfile(void)
{
	char path[PATH_MAX];
	const char *dir = getenv("TMPDIR");
	snprintf(path, sizeof(path), "%s/meshpol-audit.XXXXXX", dir && *dir ? dir : "/tmp");
	int fd = mkstemp(path);
	if (fd < 0)
		return NULL;
	unlink(path); /* gone when closed, whatever happens */
	FILE *f = fdopen(fd, "w+");
	if (!f)
		close(fd);
	return f;
}

int au_open(audit *a)
{
	a->errors = json_array();
	a->places = json_object();
	a->now = a->o->now ? a->o->now : (int64_t)time(NULL);
	mp_jsonbuf_init(&a->buf, NULL, 0);
	a->md = EVP_MD_CTX_new();
	/* fetched once: EVP_sha256() in EVP_DigestInit_ex looks the algorithm up on every call */
	a->sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
	if (!a->errors || !a->places || !a->md || !a->sha256 || index_waivers(a) < 0)
		return -1;
	return (a->spool = au_tempfile()) ? 0 : -1;
}

/* Ends the writing of t: flushed, its size read (bytes); -1 when it failed. */
static int text_end(au_text *t)
{
	off_t end = fflush(t->f) == 0 && !ferror(t->f) && fseeko(t->f, 0, SEEK_END) == 0
	                ? ftello(t->f)
	                : -1;
	t->bytes = end < 0 ? 0 : (uint64_t)end;
	return end < 0 ? -1 : 0;
}

static void text_close(au_text *t)
{
	if (t->f)
		fclose(t->f);
	*t = (au_text){0};
}

/* Frees n rules (the controls they own) and their array. */
static void free_rules(au_rule *v, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++) {
		if (v[i].owns_controls)
			mp_free((void *)v[i].controls);
		mp_free(v[i].frag);
	}
	mp_free(v);
}

void au_close(audit *a)
{
	free_rules(a->rules, a->nrules);
	mp_free(a->rindex);
	mp_free(a->w_matched);
	mp_free(a->w_fp);
	mp_free(a->w_pair);
	mp_jsonbuf_free(&a->buf);
	EVP_MD_CTX_free(a->md);
	EVP_MD_free(a->sha256);
	json_decref(a->errors);
	json_decref(a->places);
	json_decref(a->places_more);
	if (a->spool)
		fclose(a->spool);
	text_close(&a->first);
	text_close(&a->ahead);
}

/* Writes v as a value of the top object: jansson's text, each line after the first indented by
 * two more spaces. -1 when out of memory. */
static int dump_nested(FILE *out, json_t *v)
{
	char *s = json_dumps(v, JSON_INDENT(2) | JSON_SORT_KEYS | JSON_ENCODE_ANY);
	if (!s)
		return -1;
	for (const char *p = s; *p;) {
		const char *nl = strchr(p, '\n');
		size_t n = nl ? (size_t)(nl - p + 1) : strlen(p);
		fwrite(p, 1, n, out);
		if (nl)
			fputs("  ", out);
		p += n;
	}
	free(s);
	return 0;
}

static int cmp_str(const void *x, const void *y)
{
	return strcmp(*(const char *const *)x, *(const char *const *)y);
}

/* The spool's findings, as the elements of the top object's "findings" array. The kernel
 * copies what it can (sendfile, when out has a descriptor); the rest, if any, goes through a
 * buffer, whose reads and writes report their errors as stdio does: a write error shows in
 * ferror(out), as the report's other writes do. want: the spool's size as written; a spool
 * that gives fewer or more bytes was truncated or changed underneath: -1, never a report
 * missing findings. */
static int copy_spool(FILE *spool, FILE *out, uint64_t want)
{
	char buf[65536];
	size_t n;
	uint64_t got = 0;
	off_t at = 0;
	ssize_t k;
	if (fflush(spool) != 0 || fseek(spool, 0, SEEK_SET) != 0)
		return -1;
	if (fileno(out) >= 0 && fflush(out) == 0)
		while (got < want &&
		       (k = sendfile(fileno(out), fileno(spool), &at, want - got)) > 0)
			got += (uint64_t)k;
	if (got && fseeko(spool, at, SEEK_SET) != 0)
		return -1;
	while ((n = fread(buf, 1, sizeof(buf), spool)) > 0) {
		fwrite(buf, 1, n, out);
		got += n;
	}
	return ferror(spool) || got != want ? -1 : 0;
}

int au_take_rules(audit *a, au_rules *r)
{
	char *docs = a->o->docs_url ? mp_strdup(a->o->docs_url) : NULL;
	json_t *places = a->places;
	if (a->o->docs_url && !docs)
		return -1;
	if (a->places_more) { /* both stay alive: the rules point into each */
		if (!(places = json_pack("[OO]", a->places, a->places_more))) {
			mp_free(docs);
			return -1;
		}
		json_decref(a->places);
	}
	*r = (au_rules){a->rules, a->nrules, places, docs, a->ahead};
	a->rules = NULL;
	a->nrules = a->caprules = 0;
	a->places = NULL;
	a->ahead = (au_text){0};
	return 0;
}

int au_merge(audit *a, audit *first)
{
	int rc = -1;
	uint32_t n = first->nrules;
	assert(!a->places_more && !first->places_more && !a->first.f);
	/* first's rules before a's, in place: a's table is the large one (every grant's rule) */
	if (n) {
		if (a->nrules + n > a->caprules) {
			au_rule *v = mp_realloc(a->rules, (a->nrules + n) * sizeof(*v));
			if (!v)
				goto out;
			a->rules = v;
			a->caprules = a->nrules + n;
		}
		memmove(a->rules + n, a->rules, a->nrules * sizeof(*a->rules));
		memcpy(a->rules, first->rules, n * sizeof(*a->rules));
		first->nrules = 0; /* a's now, controls included */
		a->nrules += n;
		/* a's entries move up by n (no name hashed again: 84,000 of them at 10,000
		 * services); first's few are added, or everything when the index must grow */
		uint32_t cap = a->rindex_cap, from = n;
		if (2 * a->nrules > cap) {
			for (cap = 512; cap < 2 * a->nrules;)
				cap *= 2;
			uint32_t *index = mp_calloc(cap, sizeof(uint32_t));
			if (!index)
				goto out;
			mp_free(a->rindex);
			a->rindex = index;
			a->rindex_cap = cap;
			from = a->nrules;
		} else {
			for (uint32_t i = 0; i < cap; i++)
				a->rindex[i] += a->rindex[i] ? n : 0;
		}
		for (uint32_t i = 0; i < from; i++) {
			uint32_t *slot = find_slot(a, a->rules[i].policy, a->rules[i].name);
			assert(!*slot); /* no rule in both: parallel_row (audit.c) made sure */
			*slot = i + 1;
		}
	}
	/* first's findings, then a's: first's spool is read before a's (au_spools), not copied */
	if (au_spool_flush(first) < 0)
		goto out;
	a->first = (au_text){.f = first->spool, .n = first->listed};
	first->spool = NULL;
	json_t *errors = a->errors;
	if (json_array_extend(first->errors, errors) < 0)
		goto out;
	a->errors = json_incref(first->errors);
	json_decref(errors);
	a->listed += first->listed;
	for (int k = 0; k < 5; k++)
		a->by_sev[k] += first->by_sev[k];
	for (int k = 0; k < 3; k++)
		a->by_enf[k] += first->by_enf[k];
	a->waived += first->waived;
	a->fail |= first->fail;
	a->spool_bad |= first->spool_bad;
	for (uint32_t k = 0; a->o->waivers && k < a->o->waivers->n; k++)
		a->w_matched[k] += first->w_matched[k];
	a->places_more = first->places; /* the moved rules point into it */
	first->places = NULL;
	rc = 0;
out:
	if (rc < 0)
		a->spool_bad = 1;
	au_close(first);
	return rc;
}

void au_rules_free(au_rules *r)
{
	text_close(&r->tail);
	free_rules(r->v, r->n);
	json_decref(r->places);
	mp_free(r->docs_url);
	memset(r, 0, sizeof(*r));
}

/* Writes rules v[0..n) as au_write_rules does. */
static int write_rules(const char *docs_url, const au_rule *v, uint32_t n, FILE *out)
{
	mp_jsonbuf b;
	doc_cache c = {NULL};
	int rc = 0;
	mp_jsonbuf_init(&b, NULL, 0);
	mp_jsonbuf_init(&c.help, NULL, 0);
	mp_jsonbuf_init(&c.uri, NULL, 0);
	for (uint32_t i = 0; i < n && !rc; i++) {
		if (i)
			mp_jsonbuf_raw(&b, ",\n", 2);
		emit_rule(docs_url, &b, &v[i], &c);
		if (b.oom)
			rc = -1;
		else if (b.len >= SPOOL_BATCH || i + 1 == n) {
			fwrite(b.p, 1, b.len, out);
			b.len = 0;
		}
	}
	mp_jsonbuf_free(&b);
	mp_jsonbuf_free(&c.help);
	mp_jsonbuf_free(&c.uri);
	return rc;
}

int au_write_rules(const au_rules *r, FILE *out)
{
	uint32_t head = r->n - (r->tail.f ? (uint32_t)r->tail.n : 0);
	if (write_rules(r->docs_url, r->v, head, out) < 0)
		return -1;
	if (!r->tail.f || !r->tail.n)
		return 0;
	if (head)
		fputs(",\n", out);
	return copy_spool(r->tail.f, out, r->tail.bytes);
}

void au_rules_ahead(audit *a)
{
	au_text t = {.f = a->nrules ? au_tempfile() : NULL, .n = a->nrules};
	if (!t.f)
		return;
	au_settle(a);
	if (write_rules(a->o->docs_url, a->rules, a->nrules, t.f) < 0 || text_end(&t) < 0)
		text_close(&t);
	else
		a->ahead = t;
}

json_t *au_rule_json(const au_rules *r, uint32_t i)
{
	mp_jsonbuf b;
	doc_cache c = {NULL};
	json_t *j = NULL;
	mp_jsonbuf_init(&b, NULL, 0);
	mp_jsonbuf_init(&c.help, NULL, 0);
	mp_jsonbuf_init(&c.uri, NULL, 0);
	emit_rule(r->docs_url, &b, &r->v[i], &c);
	if (!b.oom)
		j = json_loadb(b.p, b.len, 0, NULL);
	mp_jsonbuf_free(&b);
	mp_jsonbuf_free(&c.help);
	mp_jsonbuf_free(&c.uri);
	return j;
}

void au_settle(audit *a)
{
	for (uint32_t i = 0; i < a->nrules; i++) {
		au_rule *r = &a->rules[i];
		if (r->waived && r->waived == r->findings)
			r->status = AU_WAIVED; /* every finding accepted: it passes as waived */
	}
}

json_t *au_waivers(audit *a)
{
	const mp_waivers *w = a->o->waivers;
	json_t *out = json_array();
	for (uint32_t k = 0; out && w && k < w->n; k++) {
		const mp_waiver *v = &w->v[k];
		int expired = a->now >= v->expires_at;
		json_t *e = json_pack("{s:s, s:s, s:s, s:{s:s, s:I, s:I}, s:s, s:I}", "reason",
		                      v->reason, "owner", v->owner, "expires", v->expires,
		                      "location", "file", a->w_file, "line", (json_int_t)v->line,
		                      "column", (json_int_t)v->col, "status",
		                      expired           ? "expired"
		                      : a->w_matched[k] ? "active"
		                                        : "unused",
		                      "findings", (json_int_t)a->w_matched[k]);
		if (e && v->fingerprint)
			json_object_set_new(e, "fingerprint", json_string(v->fingerprint));
		if (e && !v->fingerprint) {
			json_object_set_new(e, "rule", json_string(v->rule));
			json_object_set_new(e, "subject", json_string(v->subject));
		}
		if (!e || json_array_append_new(out, e) < 0) {
			json_decref(out);
			return NULL;
		}
	}
	return out;
}

/* The spools' findings, ",\n" between the parts' as between a part's own. */
static int copy_spools(const au_spools *s, FILE *out)
{
	for (int i = 0, sep = 0; i < 2; i++) {
		const au_text *t = &s->part[i];
		if (!t->n)
			continue;
		if (sep++)
			fputs(",\n", out);
		if (!t->f || copy_spool(t->f, out, t->bytes) < 0)
			return -1;
	}
	return 0;
}

int au_take_spools(audit *a, au_spools *s)
{
	int rc = a->spool_bad || au_spool_flush(a) < 0 ? -1 : 0;
	*s = (au_spools){{a->first, {.f = a->spool, .n = a->listed - a->first.n}}};
	for (int i = 0; i < 2; i++)
		if (s->part[i].f && text_end(&s->part[i]) < 0)
			rc = -1;
	a->spool = NULL;
	a->first = (au_text){0};
	if (rc < 0)
		au_spools_close(s);
	return rc;
}

void au_spools_close(au_spools *s)
{
	for (int i = 0; i < 2; i++)
		text_close(&s->part[i]);
}

int au_write_json(json_t *top, const au_spools *s, const au_rules *r, FILE *out)
{
	size_t n = json_object_size(top) + 2, k = 0;
	const char **keys = mp_malloc(n * sizeof(*keys));
	const char *kname;
	json_t *v;
	int rc = -1;
	if (!keys)
		return -1;
	json_object_foreach(top, kname, v) keys[k++] = kname;
	keys[k++] = "findings";
	keys[k++] = "rules";
	qsort(keys, k, sizeof(*keys), cmp_str);
	fputc('{', out);
	for (size_t i = 0; i < k; i++) {
		fprintf(out, "%s\n  \"%s\": ", i ? "," : "", keys[i]);
		if (!strcmp(keys[i], "findings")) {
			if (!s->part[0].n && !s->part[1].n)
				fputs("[]", out);
			else if (fputs("[\n", out), copy_spools(s, out) < 0)
				goto out;
			else
				fputs("\n  ]", out);
		} else if (!strcmp(keys[i], "rules")) {
			if (!r->n) {
				fputs("[]", out);
			} else {
				fputs("[\n", out);
				if (au_write_rules(r, out) < 0)
					goto out;
				fputs("\n  ]", out);
			}
		} else if (dump_nested(out, json_object_get(top, keys[i])) < 0) {
			goto out;
		}
	}
	fputs("\n}\n", out);
	rc = 0;
out:
	mp_free(keys);
	return rc;
}

/* Each finding of a spool is "    {" ... "\n    }" (the json report's element at indent 4),
 * the next one after ",\n": read line by line up to the closing line, then parsed. */
static int spool_each(FILE *spool, uint64_t n, int (*fn)(void *ctx, json_t *finding), void *ctx)
{
	char *line = NULL, *text = NULL;
	size_t cap = 0, len = 0, tcap = 0;
	ssize_t got;
	int rc = 0;
	if (fflush(spool) != 0 || fseek(spool, 0, SEEK_SET) != 0)
		return -1;
	for (uint64_t i = 0; i < n && rc == 0; i++) {
		len = 0;
		for (;;) {
			if ((got = getline(&line, &cap, spool)) <= 0) {
				rc = -1;
				break;
			}
			if (len + (size_t)got + 1 > tcap) {
				size_t ncap = 2 * (len + (size_t)got + 1);
				char *t = mp_realloc(text, ncap);
				if (!t) {
					rc = -1;
					break;
				}
				text = t;
				tcap = ncap;
			}
			memcpy(text + len, line, (size_t)got);
			len += (size_t)got;
			/* the closing line: "    }", then ",\n" or nothing */
			if (!strncmp(line, "    }", 5))
				break;
		}
		if (rc)
			break;
		if (len && text[len - 1] == '\n')
			len--;
		if (len && text[len - 1] == ',')
			len--;
		json_t *f = json_loadb(text, len, 0, NULL);
		if (!f) {
			rc = -1;
			break;
		}
		rc = fn(ctx, f);
		json_decref(f);
	}
	free(line);
	mp_free(text);
	return rc;
}

int au_spool_each(const au_spools *s, int (*fn)(void *ctx, json_t *finding), void *ctx)
{
	int rc = 0;
	for (int i = 0; i < 2 && rc == 0; i++)
		if (s->part[i].n)
			rc = s->part[i].f ? spool_each(s->part[i].f, s->part[i].n, fn, ctx) : -1;
	return rc;
}
