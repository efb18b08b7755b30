/* waiver.c: reading a bundle's waivers.yaml (waiver.h): one YAML document, a mapping with a list
 * `waivers` of entries, each checked field by field against one table. Format:
 * docs/audit-format.md ("Waivers"). */
#include "waiver.h"
#include "alloc.h"
#include "arena.h"
#include "policy_int.h"
#include "yamlload.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_TEXT 4096 /* bytes of one field */

enum { F_FINGERPRINT, F_RULE, F_SUBJECT, F_REASON, F_OWNER, F_EXPIRES, NFIELDS };
static const char *const fields[] = {"fingerprint", "rule",    "subject", "reason",
                                     "owner",       "expires", NULL};
static const char *const top_fields[] = {"waivers", NULL};

typedef struct {
	const char *file;
	yaml_document_t *doc;
	unsigned char *seen; /* per node: reached once already (a second time is an alias) */
	size_t nnodes;
	mp_waivers *w;
	mp_diags *d;
} reader;

static void node_error(reader *r, const yaml_node_t *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void node_error(reader *r, const yaml_node_t *n, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	mp_diags_error(r->d, r->file, (uint32_t)n->start_mark.line + 1,
	               (uint32_t)n->start_mark.column + 1, "%s", msg);
}

/* The node id, once: a node reached twice came through an alias, which is refused, so that
 * each waiver is written out where it is read (and no alias can multiply the entries). */
static yaml_node_t *take(reader *r, int id)
{
	yaml_node_t *n = yaml_document_get_node(r->doc, id);
	size_t k = (size_t)(id - 1);
	if (!n || k >= r->nnodes)
		return NULL;
	if (r->seen[k]) {
		node_error(r, n,
		           "this node is used again through an alias; write each waiver out in "
		           "full (waivers.yaml refuses aliases)");
		return NULL;
	}
	r->seen[k] = 1;
	return n;
}

static int days_in_month(int y, int m)
{
	static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	return m == 2 && leap ? 29 : days[m - 1];
}

/* YYYY-MM-DD, a real calendar day from 1970 on: the first second after it, UTC; or -1. */
static int64_t parse_date(const char *s)
{
	int y, m, dd;
	for (int i = 0; i < 10; i++)
		if (i == 4 || i == 7 ? s[i] != '-' : !isdigit((unsigned char)s[i]))
			return -1;
	if (s[10])
		return -1;
	y = atoi(s), m = atoi(s + 5), dd = atoi(s + 8);
	if (y < 1970 || m < 1 || m > 12 || dd < 1 || dd > days_in_month(y, m))
		return -1;
	struct tm tm = {.tm_year = y - 1900, .tm_mon = m - 1, .tm_mday = dd};
	return (int64_t)timegm(&tm) + 86400;
}

static int is_lower_hex(const char *s)
{
	for (; *s; s++)
		if (!isdigit((unsigned char)*s) && (*s < 'a' || *s > 'f'))
			return 0;
	return 1;
}

/* Reads one entry; 0, or -1 after reporting what is wrong with it. */
static int read_entry(reader *r, const yaml_node_t *n, mp_waiver *out)
{
	const char *val[NFIELDS] = {0};
	const yaml_node_t *at[NFIELDS] = {0};
	uint32_t before = r->d->errors;
	char hint[200], q[96];
	if (n->type != YAML_MAPPING_NODE) {
		node_error(r, n,
		           "a waiver is a mapping (fingerprint or rule and subject, reason, owner, "
		           "expires), not %s",
		           mp_yaml_kind_of(n));
		return -1;
	}
	for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top;
	     p++) {
		yaml_node_t *k = take(r, p->key), *v = take(r, p->value);
		if (!k || !v)
			continue;
		const char *key =
		    k->type == YAML_SCALAR_NODE ? (const char *)k->data.scalar.value : "";
		size_t f;
		for (f = 0; f < NFIELDS && strcmp(key, fields[f]); f++)
			;
		if (f == NFIELDS) {
			node_error(r, k, "unknown field '%s' (%s)",
			           mp_diag_quote(key, strlen(key), q, sizeof(q)),
			           mp_diag_hint(key, fields, hint, sizeof(hint)));
			continue;
		}
		if (at[f]) {
			node_error(r, k, "'%s' given twice in one waiver", fields[f]);
			continue;
		}
		at[f] = v;
		if (v->type != YAML_SCALAR_NODE || mp_yaml_is_null(v)) {
			node_error(r, v, "'%s' must be a string, not %s", fields[f],
			           mp_yaml_kind_of(v));
			continue;
		}
		const char *s = (const char *)v->data.scalar.value;
		size_t len = v->data.scalar.length;
		if (len > MAX_TEXT || strlen(s) != len || !mp_utf8_valid(s, len)) {
			node_error(r, v, "'%s' must be UTF-8 text of at most 4096 bytes",
			           fields[f]);
			continue;
		}
		val[f] = s;
	}
	if (r->d->errors > before)
		return -1;
	for (size_t f = F_REASON; f < NFIELDS; f++)
		if (!val[f])
			node_error(r, n, "missing required field '%s'", fields[f]);
	for (size_t f = F_REASON; f <= F_OWNER; f++)
		if (val[f] && !val[f][strspn(val[f], " \t\n")])
			node_error(r, at[f], "'%s' is empty: %s", fields[f],
			           f == F_REASON ? "say why the finding is accepted"
			                         : "name who answers for the waiver");
	if (val[F_FINGERPRINT] && (val[F_RULE] || val[F_SUBJECT]))
		node_error(r, at[F_FINGERPRINT],
		           "give either 'fingerprint' or 'rule' and 'subject', not both");
	else if (!val[F_FINGERPRINT] && !val[F_RULE] && !val[F_SUBJECT])
		node_error(r, n, "missing 'fingerprint' (or 'rule' and 'subject'): which finding");
	else if (!val[F_FINGERPRINT] && (!val[F_RULE] || !val[F_SUBJECT]))
		node_error(r, n, "missing '%s': 'rule' and 'subject' go together",
		           val[F_RULE] ? "subject" : "rule");
	if (val[F_FINGERPRINT] &&
	    (strlen(val[F_FINGERPRINT]) < 12 || strlen(val[F_FINGERPRINT]) > 64 ||
	     !is_lower_hex(val[F_FINGERPRINT])))
		node_error(
		    r, at[F_FINGERPRINT],
		    "'fingerprint' is '%s': 12 to 64 lower-case hex digits of a finding's "
		    "fingerprint",
		    mp_diag_quote(val[F_FINGERPRINT], strlen(val[F_FINGERPRINT]), q, sizeof(q)));
	if (val[F_RULE] && !strchr(val[F_RULE], '/'))
		node_error(r, at[F_RULE], "'rule' is '%s': write it as policy/rule, as reports do",
		           mp_diag_quote(val[F_RULE], strlen(val[F_RULE]), q, sizeof(q)));
	if (val[F_EXPIRES] && (out->expires_at = parse_date(val[F_EXPIRES])) < 0)
		node_error(r, at[F_EXPIRES],
		           "'expires' is '%s': a date YYYY-MM-DD (the last day the waiver applies)",
		           mp_diag_quote(val[F_EXPIRES], strlen(val[F_EXPIRES]), q, sizeof(q)));
	if (r->d->errors > before)
		return -1;
	mp_arena *a = r->w->arena;
	out->fingerprint = val[F_FINGERPRINT] ? mp_arena_str(a, val[F_FINGERPRINT]) : NULL;
	out->rule = val[F_RULE] ? mp_arena_str(a, val[F_RULE]) : NULL;
	out->subject = val[F_SUBJECT] ? mp_arena_str(a, val[F_SUBJECT]) : NULL;
	out->reason = mp_arena_str(a, val[F_REASON]);
	out->owner = mp_arena_str(a, val[F_OWNER]);
	memcpy(out->expires, val[F_EXPIRES], 11);
	out->line = (uint32_t)n->start_mark.line + 1;
	out->col = (uint32_t)n->start_mark.column + 1;
	return a->oom ? -1 : 0;
}

static void read_root(reader *r, yaml_node_t *root)
{
	yaml_node_t *list = NULL;
	char hint[200], q[96];
	if (root->type != YAML_MAPPING_NODE) {
		node_error(r, root, "waivers.yaml is a mapping with a list 'waivers', not %s",
		           mp_yaml_kind_of(root));
		return;
	}
	r->seen[0] = 1;
	for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top;
	     p++) {
		yaml_node_t *k = take(r, p->key), *v = take(r, p->value);
		if (!k || !v)
			continue;
		const char *key =
		    k->type == YAML_SCALAR_NODE ? (const char *)k->data.scalar.value : "";
		if (strcmp(key, "waivers")) {
			node_error(r, k, "unknown field '%s' (%s)",
			           mp_diag_quote(key, strlen(key), q, sizeof(q)),
			           mp_diag_hint(key, top_fields, hint, sizeof(hint)));
		} else if (list) {
			node_error(r, k, "'waivers' given twice");
		} else if (mp_yaml_is_null(v)) {
			list = v; /* `waivers:` with nothing: none */
		} else if (v->type != YAML_SEQUENCE_NODE) {
			node_error(r, v, "'waivers' must be a list of waivers, not %s",
			           mp_yaml_kind_of(v));
		} else {
			list = v;
		}
	}
	if (!list || list->type != YAML_SEQUENCE_NODE)
		return;
	size_t n = (size_t)(list->data.sequence.items.top - list->data.sequence.items.start);
	if (n > MP_WAIVERS_MAX) {
		node_error(r, list, "too many waivers: more than %d in one file", MP_WAIVERS_MAX);
		return;
	}
	r->w->v = mp_arena_alloc(r->w->arena, (n + 1) * sizeof(mp_waiver));
	if (!r->w->v)
		return;
	for (yaml_node_item_t *it = list->data.sequence.items.start;
	     it < list->data.sequence.items.top; it++) {
		yaml_node_t *e = take(r, *it);
		if (e && read_entry(r, e, &r->w->v[r->w->n]) == 0)
			r->w->n++;
	}
}

int mp_waivers_parse(const char *file, const char *text, size_t len, mp_waivers **out, mp_diags *d)
{
	yaml_document_t doc;
	uint32_t before = d->errors;
	mp_waivers *w = NULL;
	unsigned char *seen = NULL;
	int rc = mp_yaml_load_buf(file, text, len, &doc, d), loaded = rc == 1;
	*out = NULL;
	if (rc <= 0)
		return rc; /* 0: an empty file waives nothing */
	yaml_node_t *root = yaml_document_get_root_node(&doc);
	size_t nnodes = (size_t)(doc.nodes.top - doc.nodes.start);
	w = mp_calloc(1, sizeof(*w));
	seen = mp_calloc(nnodes + 1, 1);
	if (w)
		w->arena = mp_calloc(1, sizeof(*w->arena));
	if (!w || !seen || !w->arena) {
		mp_diags_error(d, file, 0, 0, "out of memory");
		goto out;
	}
	w->file = mp_arena_str(w->arena, file);
	reader r = {file, &doc, seen, nnodes, w, d};
	if (root && !mp_yaml_is_null(root))
		read_root(&r, root);
	if (w->arena->oom)
		mp_diags_error(d, file, 0, 0, "out of memory");
out:
	if (loaded)
		yaml_document_delete(&doc);
	mp_free(seen);
	if (d->errors > before) {
		mp_waivers_free(w);
		return -1;
	}
	*out = w;
	return 0;
}

int mp_waivers_load(const mp_bundle *b, mp_waivers **out, mp_diags *d)
{
	const mp_bundle_file *f = pol_find_file(b, MP_WAIVERS_FILE);
	*out = NULL;
	if (!f)
		return 0;
	return mp_waivers_parse(f->path, f->text, f->len, out, d);
}

void mp_waivers_free(mp_waivers *w)
{
	if (!w)
		return;
	if (w->arena) {
		mp_arena_free(w->arena);
		mp_free(w->arena);
	}
	mp_free(w);
}

/* --- applying them to an audit --- */

static const char *str_of(json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));
	return s ? s : "";
}

/* A key for rule and subject that no other pair gives: the rule's length first. */
static char *pair_key(const char *rule, const char *subject)
{
	size_t n = strlen(rule) + strlen(subject) + 24;
	char *k = mp_malloc(n);
	if (k)
		snprintf(k, n, "%zu:%s%s", strlen(rule), rule, subject);
	return k;
}

/* Adds finding i under key in map (key -> array of indices). -1 when out of memory. */
static int index_add(json_t *map, const char *key, size_t i)
{
	json_t *arr = json_object_get(map, key);
	if (!arr &&
	    (json_object_set_new(map, key, json_array()) < 0 || !(arr = json_object_get(map, key))))
		return -1;
	return json_array_append_new(arr, json_integer((json_int_t)i));
}

json_t *mp_waivers_apply(const mp_waivers *w, const char *file_as_shown, json_t *findings,
                         int64_t now)
{
	json_t *by_fp = json_object(), *by_pair = json_object(), *out = json_array(), *f;
	size_t i;
	int bad = !by_fp || !by_pair || !out;
	/* indexes: the first 12 hex digits of each fingerprint, and "policy/rule" + subject */
	json_array_foreach(findings, i, f)
	{
		char fp[13], rule[1024];
		snprintf(fp, sizeof(fp), "%s", str_of(f, "fingerprint"));
		snprintf(rule, sizeof(rule), "%s/%s", str_of(f, "policy"), str_of(f, "rule"));
		char *k = pair_key(rule, str_of(f, "subject"));
		bad |= !k || index_add(by_fp, fp, i) < 0 || index_add(by_pair, k, i) < 0;
		mp_free(k);
		if (bad)
			goto out;
	}
	for (uint32_t k = 0; k < w->n; k++) {
		const mp_waiver *v = &w->v[k];
		int expired = now >= v->expires_at;
		char fp[13], *key = NULL;
		json_t *hits, *e, *loc, *h;
		size_t j, matched = 0;
		if (v->fingerprint) {
			snprintf(fp, sizeof(fp), "%s", v->fingerprint);
			hits = json_object_get(by_fp, fp);
		} else {
			bad |= !(key = pair_key(v->rule, v->subject));
			hits = key ? json_object_get(by_pair, key) : NULL;
			mp_free(key);
		}
		loc = json_pack("{s:s, s:I, s:I}", "file", file_as_shown, "line",
		                (json_int_t)v->line, "column", (json_int_t)v->col);
		json_array_foreach(hits, j, h)
		{
			f = json_array_get(findings, (size_t)json_integer_value(h));
			if (v->fingerprint && strncmp(str_of(f, "fingerprint"), v->fingerprint,
			                              strlen(v->fingerprint)))
				continue;
			matched++;
			if (!expired && !json_object_get(f, "waiver"))
				bad |= json_object_set_new(
				           f, "waiver",
				           json_pack("{s:s, s:s, s:s, s:O}", "reason", v->reason,
				                     "owner", v->owner, "expires", v->expires,
				                     "location", loc)) < 0;
		}
		e = json_pack("{s:s, s:s, s:s, s:o, s:s, s:I}", "reason", v->reason, "owner",
		              v->owner, "expires", v->expires, "location", loc, "status",
		              expired   ? "expired"
		              : matched ? "active"
		                        : "unused",
		              "findings", (json_int_t)matched);
		if (e && v->fingerprint)
			json_object_set_new(e, "fingerprint", json_string(v->fingerprint));
		if (e && !v->fingerprint) {
			json_object_set_new(e, "rule", json_string(v->rule));
			json_object_set_new(e, "subject", json_string(v->subject));
		}
		bad |= json_array_append_new(out, e) < 0;
	}
out:
	json_decref(by_fp);
	json_decref(by_pair);
	if (bad) {
		json_decref(out);
		return NULL;
	}
	return out;
}
