/* import.c: the importer's frame, which knows no mesh: taking foreign documents in pass 1 (by
 * the kind tables of mp_providers[]), placing them in clusters, dropping replaced duplicates,
 * running the providers' import phases and analyzers in order, and the helpers they share
 * (YAML, findings, namespaces, resources). The providers' importers live in
 * engine/providers/<mesh>/. Mapping: docs/import.md; design: docs/architecture.md ("Mesh
 * providers"). */
#include "alloc.h"
#include "import_int.h"
#include "provider.h"
#include "scalar.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

mp_import *mp_import_new(mp_model *m, mp_diags *d, const mp_import_opts *opts,
                         const mp_import_host *host)
{
	mp_import *im = mp_calloc(1, sizeof(*im));
	if (!im)
		return NULL;
	im->m = m;
	im->d = d;
	im->o = opts;
	im->host = host;
	const char *td = opts && opts->trust_domain ? opts->trust_domain : "cluster.local";
	im->td = im_intern(im, td);
	size_t n = 0;
	while (mp_providers[n])
		n++;
	if (!(im->pstate = mp_calloc(n ? n : 1, sizeof(*im->pstate)))) {
		mp_free(im);
		return NULL;
	}
	for (size_t i = 0; i < n; i++) {
		const struct mp_provider_import *pi = mp_providers[i]->import;
		if (pi && pi->begin && !(im->pstate[i] = pi->begin(im))) {
			mp_import_free(im);
			return NULL;
		}
	}
	return im;
}

void mp_import_free(mp_import *im)
{
	if (!im)
		return;
	for (size_t i = 0; im->pstate && mp_providers[i]; i++) {
		const struct mp_provider_import *pi = mp_providers[i]->import;
		if (im->pstate[i] && pi->end)
			pi->end(im->pstate[i]);
	}
	for (uint32_t i = 0; i < im->ndocs; i++)
		if (!im->docs[i].borrowed)
			yaml_document_delete(&im->docs[i].doc);
	mp_free(im->docs);
	mp_free(im->wl);
	mp_free(im->pstate);
	mp_free(im->fset);
	mp_free(im);
}

void *im_state(const mp_import *im, const mp_provider *p)
{
	for (size_t i = 0; mp_providers[i]; i++)
		if (mp_providers[i] == p)
			return im->pstate[i];
	return NULL;
}

/* Every provider's function for phase ph, in the list's order. */
static void run_phase(mp_import *im, im_phase ph)
{
	for (const mp_provider *const *p = mp_providers; *p; p++)
		if ((*p)->import && (*p)->import->phase[ph])
			(*p)->import->phase[ph](im);
}

/* --- the providers' answers (import_int.h) --- */

void im_identity(mp_import *im, idoc *dc, const char *ns, const char *sa, char *out, size_t len)
{
	for (const mp_provider *const *p = mp_providers; *p; p++)
		if ((*p)->import && (*p)->import->identity &&
		    (*p)->import->identity(im, dc, ns, sa, out, len))
			return;
	snprintf(out, len, "spiffe://%s/ns/%s/sa/%s", im_str_of(im, im->td), ns, sa);
}

uint32_t im_namespace_mtls(mp_import *im, mp_id ns, mp_id cluster)
{
	uint32_t mode;
	for (const mp_provider *const *p = mp_providers; *p; p++)
		if ((*p)->import && (*p)->import->namespace_mtls &&
		    (mode = (*p)->import->namespace_mtls(im, ns, cluster)) != MP_MTLS_UNSET)
			return mode;
	return MP_MTLS_UNSET;
}

int im_reads(mp_import *im, idoc *dc)
{
	for (const mp_provider *const *p = mp_providers; *p; p++)
		if (*p != dc->provider && (*p)->import && (*p)->import->reads &&
		    (*p)->import->reads(im, dc))
			return 1;
	return 0;
}

int im_holds(mp_import *im, const mp_provider *p)
{
	return p->import && p->import->holds && p->import->holds(im);
}

int im_gateway_find(mp_import *im, const char *ns, const char *name, mp_id cluster, im_gateway *out)
{
	for (const mp_provider *const *p = mp_providers; *p; p++)
		if ((*p)->import && (*p)->import->gateway &&
		    (*p)->import->gateway(im, ns, name, cluster, out))
			return 1;
	return 0;
}

const char *im_port_protocol(mp_import *im, idoc *dc, yaml_node_t *at, uint32_t number,
                             const char *name, const char *app)
{
	const char *proto;
	for (const mp_provider *const *p = mp_providers; *p; p++)
		if ((*p)->import && (*p)->import->port_protocol &&
		    (proto = (*p)->import->port_protocol(im, dc, at, number, name, app)))
			return proto;
	return "tcp";
}

int mp_import_failed(const mp_import *im)
{
	return im && im->oom;
}

/* --- YAML helpers --- */

yaml_node_t *im_node(idoc *dc, int id)
{
	return yaml_document_get_node(&dc->doc, id);
}

const char *im_scalar(const yaml_node_t *n)
{
	if (!n || n->type != YAML_SCALAR_NODE || im_is_null(n))
		return NULL;
	return (const char *)n->data.scalar.value;
}

yaml_node_t *im_get(idoc *dc, yaml_node_t *map, const char *key)
{
	yaml_node_t *k, *v;
	if (!map || map->type != YAML_MAPPING_NODE)
		return NULL;
	IM_MAP_FOREACH(dc, map, k, v)
	{
		if (k->type == YAML_SCALAR_NODE && !strcmp((const char *)k->data.scalar.value, key))
			return v;
	}
	return NULL;
}

mp_loc im_loc(const idoc *dc, const yaml_node_t *n)
{
	if (!n)
		return dc->loc;
	return (mp_loc){dc->file, (uint32_t)n->start_mark.line + 1 + dc->line_base,
	                (uint32_t)n->start_mark.column + 1 + dc->col_base};
}

mp_str im_intern(mp_import *im, const char *s)
{
	mp_str id = mp_model_intern(im->m, s, strlen(s));
	if (id == MP_NONE) {
		im->oom = 1;
		return 0;
	}
	return id;
}

const char *im_str_of(const mp_import *im, mp_str s)
{
	return mp_model_str(im->m, s);
}

const char *im_title(const mp_import *im, const idoc *dc, char *buf, size_t len)
{
	if (dc->form && (dc->form->flags & IM_FORM_NAMED))
		snprintf(buf, len, "%s", im_str_of(im, dc->name));
	else if ((dc->kind->flags & MP_KIND_CLUSTER_SCOPED) || !dc->ns)
		snprintf(buf, len, "%s %s", dc->kind->kind, im_str_of(im, dc->name));
	else
		snprintf(buf, len, "%s %s/%s", dc->kind->kind, im_str_of(im, dc->ns),
		         im_str_of(im, dc->name));
	return buf;
}

static void vdiag(mp_import *im, mp_diag_level lvl, idoc *dc, const yaml_node_t *n, const char *fmt,
                  va_list ap)
{
	char msg[900], title[400];
	mp_loc l = im_loc(dc, n);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (dc->name)
		mp_diags_add(im->d, lvl, im_str_of(im, l.file), l.line, l.col, "%s: %s",
		             im_title(im, dc, title, sizeof(title)), msg);
	else
		mp_diags_add(im->d, lvl, im_str_of(im, l.file), l.line, l.col, "%s", msg);
}

/* An error in an analysis: the provider's finding (and it keeps the document), else the
 * frame's SchemaValidationError and the document is left out. */
static void invalid(mp_import *im, idoc *dc, const yaml_node_t *n, const char *msg)
{
	const struct mp_provider_import *pi = dc->provider ? dc->provider->import : NULL;
	char subject[400];
	if (pi && pi->invalid && pi->invalid(im, dc, n, msg))
		return;
	if (dc->name)
		im_title(im, dc, subject, sizeof(subject));
	else
		snprintf(subject, sizeof(subject), "%s", dc->kind ? dc->kind->kind : "document");
	im_finding(im, "SchemaValidationError", MP_FINDING_ERROR, im_loc(dc, n), subject,
	           "Schema validation error: %s", msg);
	dc->bad = 1;
}

int im_error(mp_import *im, idoc *dc, const yaml_node_t *n, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	if (im->o && im->o->analyze) {
		char msg[900];
		vsnprintf(msg, sizeof(msg), fmt, ap);
		va_end(ap);
		invalid(im, dc, n, msg);
		return -1;
	}
	vdiag(im, MP_DIAG_ERROR, dc, n, fmt, ap);
	va_end(ap);
	dc->bad = 1;
	return -1;
}

void im_note(mp_import *im, idoc *dc, const yaml_node_t *n, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vdiag(im, MP_DIAG_NOTE, dc, n, fmt, ap);
	va_end(ap);
}

int im_str(mp_import *im, idoc *dc, yaml_node_t *map, const char *key, int required,
           const char **out)
{
	yaml_node_t *v = im_get(dc, map, key);
	*out = NULL;
	if (!v || im_is_null(v)) {
		if (required)
			return im_error(im, dc, map, "missing required field '%s'", key);
		return 0;
	}
	if (v->type != YAML_SCALAR_NODE)
		return im_error(im, dc, v, "'%s' must be a string, not %s", key, im_kind_of(v));
	*out = (const char *)v->data.scalar.value;
	return 0;
}

int im_u32(mp_import *im, idoc *dc, yaml_node_t *map, const char *key, uint32_t lo, uint32_t hi,
           uint32_t *out, int *set)
{
	yaml_node_t *v = im_get(dc, map, key);
	*set = 0;
	if (!v || im_is_null(v))
		return 0;
	const char *s = v->type == YAML_SCALAR_NODE ? (const char *)v->data.scalar.value : "";
	char *end;
	errno = 0;
	unsigned long long n = strtoull(s, &end, 10);
	if (v->type != YAML_SCALAR_NODE || !isdigit((unsigned char)*s) || *end || errno)
		return im_error(im, dc, v, "'%s' must be an integer, not %s%s%s", key,
		                v->type == YAML_SCALAR_NODE ? "'" : im_kind_of(v),
		                v->type == YAML_SCALAR_NODE ? s : "",
		                v->type == YAML_SCALAR_NODE ? "'" : "");
	if (n < lo || n > hi)
		return im_error(im, dc, v, "'%s' is %llu, outside %u..%u", key, n, lo, hi);
	*out = (uint32_t)n;
	*set = 1;
	return 0;
}

static int typed(mp_import *im, idoc *dc, yaml_node_t *map, const char *key, int required,
                 yaml_node_t **out, yaml_node_type_t type, const char *what)
{
	yaml_node_t *v = im_get(dc, map, key);
	*out = NULL;
	if (!v || im_is_null(v)) {
		if (required)
			return im_error(im, dc, map, "missing required field '%s'", key);
		return 0;
	}
	if (v->type != type)
		return im_error(im, dc, v, "'%s' must be %s, not %s", key, what, im_kind_of(v));
	*out = v;
	return 0;
}

int im_seq(mp_import *im, idoc *dc, yaml_node_t *map, const char *key, int required,
           yaml_node_t **out)
{
	return typed(im, dc, map, key, required, out, YAML_SEQUENCE_NODE, "a list");
}

int im_map(mp_import *im, idoc *dc, yaml_node_t *map, const char *key, int required,
           yaml_node_t **out)
{
	return typed(im, dc, map, key, required, out, YAML_MAPPING_NODE, "a mapping");
}

int im_strs(mp_import *im, idoc *dc, yaml_node_t *map, const char *key, int required,
            const char **out, uint32_t max, uint32_t *n)
{
	yaml_node_t *v = im_get(dc, map, key), *item;
	*n = 0;
	if (!v || im_is_null(v)) {
		if (required)
			return im_error(im, dc, map, "missing required field '%s'", key);
		return 0;
	}
	if (v->type == YAML_SCALAR_NODE) {
		out[(*n)++] = (const char *)v->data.scalar.value;
		return 0;
	}
	if (v->type != YAML_SEQUENCE_NODE)
		return im_error(im, dc, v, "'%s' must be a list of strings, not %s", key,
		                im_kind_of(v));
	IM_SEQ_FOREACH(dc, v, item)
	{
		if (item->type != YAML_SCALAR_NODE || im_is_null(item))
			return im_error(im, dc, item, "items of '%s' must be strings, not %s", key,
			                im_kind_of(item));
		if (*n == max)
			return im_error(im, dc, item, "'%s' has more than %u items", key, max);
		out[(*n)++] = (const char *)item->data.scalar.value;
	}
	return 0;
}

int im_keys(mp_import *im, idoc *dc, yaml_node_t *map, const char *const *allowed, const char *what)
{
	yaml_node_t *k, *v;
	int bad = 0;
	if (!map)
		return 0;
	if (map->type != YAML_MAPPING_NODE)
		return im_error(im, dc, map, "%s must be a mapping, not %s", what, im_kind_of(map));
	IM_MAP_FOREACH(dc, map, k, v)
	{
		const char *key = im_scalar(k);
		size_t i;
		for (i = 0; key && allowed[i] && strcmp(allowed[i], key); i++)
			;
		if (!key || !allowed[i]) {
			char q[80];
			const char *near = key ? mp_diag_nearest(key, allowed) : NULL;
			bad = im_error(im, dc, k, "%s: unknown field '%s'%s%s%s", what,
			               key ? mp_diag_quote(key, strlen(key), q, sizeof(q)) : "?",
			               near ? " (did you mean '" : "", near ? near : "",
			               near ? "'?)" : "");
		}
	}
	return bad;
}

int im_duration(mp_import *im, idoc *dc, yaml_node_t *map, const char *key, uint32_t *ms, int *set)
{
	const char *s;
	*set = 0;
	if (im_str(im, dc, map, key, 0, &s) < 0)
		return -1;
	if (!s)
		return 0;
	if (mp_parse_duration(s, ms) < 0)
		return im_error(im, dc, im_get(dc, map, key),
		                "'%s' must be a duration such as 250ms, 1.5s or 1m, not '%s'", key,
		                s);
	*set = 1;
	return 0;
}

int im_label(mp_import *im, const char *key, const char *value, mp_span *out)
{
	mp_label l = {im_intern(im, key), im_intern(im, value)};
	uint32_t off = mp_model_push_labels(im->m, &l, 1);
	if (off == MP_NONE) {
		im->oom = 1;
		return -1;
	}
	if (!out->n)
		out->off = off;
	out->n++;
	return 0;
}

int im_labels(mp_import *im, idoc *dc, yaml_node_t *labels, mp_span *out)
{
	yaml_node_t *k, *v;
	*out = (mp_span){0, 0};
	if (!labels || im_is_null(labels))
		return 0;
	if (labels->type != YAML_MAPPING_NODE)
		return im_error(im, dc, labels, "labels must be a mapping of strings, not %s",
		                im_kind_of(labels));
	IM_MAP_FOREACH(dc, labels, k, v)
	{
		if (k->type != YAML_SCALAR_NODE || v->type != YAML_SCALAR_NODE)
			return im_error(im, dc, k, "labels must map strings to strings");
		if (im_label(im, (const char *)k->data.scalar.value,
		             (const char *)v->data.scalar.value, out) < 0)
			return -1;
	}
	return 0;
}

const char *im_meta_value(idoc *dc, yaml_node_t *meta, const char *key)
{
	const char *v = im_scalar(im_get(dc, im_get(dc, meta, "labels"), key));
	if (!v)
		v = im_scalar(im_get(dc, im_get(dc, meta, "annotations"), key));
	return v;
}

/* A plain scalar's JSON type: YAML 1.2 core schema (null, booleans, decimal numbers). */
static json_t *scalar_json(const yaml_node_t *n)
{
	const char *s = (const char *)n->data.scalar.value;
	size_t len = n->data.scalar.length;
	if (n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return json_stringn(s, len);
	if (im_is_null(n))
		return json_null();
	if (!strcmp(s, "true") || !strcmp(s, "True") || !strcmp(s, "TRUE"))
		return json_true();
	if (!strcmp(s, "false") || !strcmp(s, "False") || !strcmp(s, "FALSE"))
		return json_false();
	const char *p = s + (*s == '-' || *s == '+');
	if (isdigit((unsigned char)*p)) {
		char *end;
		errno = 0;
		long long i = strtoll(s, &end, 10);
		if (!*end && !errno)
			return json_integer(i);
		double d = strtod(s, &end);
		if (!*end && strspn(p, "0123456789.eE+-") == strlen(p))
			return json_real(d);
	}
	return json_stringn(s, len);
}

json_t *im_json(idoc *dc, yaml_node_t *n)
{
	yaml_node_t *k, *v, *item;
	switch (n->type) {
	case YAML_SCALAR_NODE:
		return scalar_json(n);
	case YAML_SEQUENCE_NODE: {
		json_t *a = json_array();
		IM_SEQ_FOREACH(dc, n, item)
		{
			json_array_append_new(a, im_json(dc, item));
		}
		return a;
	}
	case YAML_MAPPING_NODE: {
		json_t *o = json_object();
		IM_MAP_FOREACH(dc, n, k, v)
		{
			if (k->type == YAML_SCALAR_NODE)
				json_object_setn_new(o, (const char *)k->data.scalar.value,
				                     k->data.scalar.length, im_json(dc, v));
		}
		return o;
	}
	default:
		return json_null();
	}
}

yaml_node_t *im_path(idoc *dc, yaml_node_t *n, const char *path)
{
	char seg[256];
	while (n && *path) {
		size_t len = strcspn(path, "/");
		snprintf(seg, sizeof(seg), "%.*s", (int)len, path);
		path += len + (path[len] == '/');
		yaml_node_t *next = NULL;
		if (n->type == YAML_MAPPING_NODE) {
			next = im_get(dc, n, seg);
		} else if (n->type == YAML_SEQUENCE_NODE) {
			long i = strtol(seg, NULL, 10);
			yaml_node_item_t *items = n->data.sequence.items.start;
			if (i >= 0 && i < n->data.sequence.items.top - items)
				next = im_node(dc, items[i]);
		}
		if (!next)
			break;
		n = next;
	}
	return n;
}

/* --- model helpers --- */

static uint32_t finding_hash(const mp_import_finding *f)
{
	uint32_t v[] = {f->code, f->level, f->subject, f->text, f->loc.file, f->loc.line};
	uint32_t h = 2166136261u;
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
		h = (h ^ v[i]) * 16777619u;
	return h;
}

static int same_finding(const mp_import_finding *a, const mp_import_finding *b)
{
	return a->code == b->code && a->level == b->level && a->subject == b->subject &&
	       a->text == b->text && a->loc.file == b->loc.file && a->loc.line == b->loc.line;
}

/* Is f already among the findings? If not, index (its index in the model) joins the set. */
static int seen_finding(mp_import *im, const mp_import_finding *f, uint32_t index)
{
	const mp_import_finding *all = mp_model_get_view(im->m).findings;
	if (2 * (im->fn + 1) > im->fcap) {
		uint32_t cap = im->fcap ? 2 * im->fcap : 64, *set = mp_calloc(cap, sizeof(*set));
		if (!set) {
			im->oom = 1;
			return 0;
		}
		for (uint32_t i = 0; i < im->fcap; i++)
			if (im->fset[i]) {
				uint32_t k = finding_hash(&all[im->fset[i] - 1]) & (cap - 1);
				while (set[k])
					k = (k + 1) & (cap - 1);
				set[k] = im->fset[i];
			}
		mp_free(im->fset);
		im->fset = set;
		im->fcap = cap;
	}
	uint32_t k = finding_hash(f) & (im->fcap - 1);
	for (; im->fset[k]; k = (k + 1) & (im->fcap - 1))
		if (same_finding(&all[im->fset[k] - 1], f))
			return 1;
	if (index != MP_NONE) {
		im->fset[k] = index + 1;
		im->fn++;
	}
	return 0;
}

void im_finding(mp_import *im, const char *code, uint32_t level, mp_loc loc, const char *subject,
                const char *fmt, ...)
{
	char text[1200];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	mp_import_finding f = {im_intern(im, code), level, im_intern(im, subject),
	                       im_intern(im, text), loc};
	if (im->oom || seen_finding(im, &f, MP_NONE))
		return;
	mp_id id = mp_model_add_finding(im->m, &f);
	if (id == MP_NONE)
		im->oom = 1;
	else
		seen_finding(im, &f, id);
}

mp_id im_namespace(mp_import *im, mp_str name, mp_loc loc)
{
	mp_id ns = im->host->lookup(im->host->ctx, MP_IMPORT_NAMESPACE, name, 0);
	if (ns != MP_NONE)
		return ns;
	mp_namespace n = {name, {0, 0}, {0, 0}, loc};
	ns = mp_model_add_namespace(im->m, &n);
	if (ns == MP_NONE || im->host->declare(im->host->ctx, MP_IMPORT_NAMESPACE, name, 0, ns, loc,
	                                       "Namespace") < 0) {
		im->oom |= ns == MP_NONE;
		return MP_NONE;
	}
	return ns;
}

int im_selector_matches(mp_import *im, idoc *dc, yaml_node_t *sel, const iworkload *w)
{
	yaml_node_t *k, *v;
	mp_model_view mv = mp_model_get_view(im->m);
	if (!sel || sel->type != YAML_MAPPING_NODE)
		return 1;
	IM_MAP_FOREACH(dc, sel, k, v)
	{
		const char *key = im_scalar(k), *val = im_scalar(v);
		uint32_t i;
		for (i = 0; key && val && i < w->labels.n; i++) {
			const mp_label *l = &mv.labels[w->labels.off + i];
			if (!strcmp(im_str_of(im, l->key), key) &&
			    !strcmp(im_str_of(im, l->value), val))
				break;
		}
		if (!key || !val || i == w->labels.n)
			return 0;
	}
	return 1;
}

uint32_t im_mtls_mode(const char *s)
{
	static const char *const modes[] = {"", "STRICT", "PERMISSIVE", "DISABLE"};
	for (uint32_t i = 1; s && i < 4; i++)
		if (!strcasecmp(s, modes[i]))
			return i;
	return MP_MTLS_UNSET;
}

uint32_t im_data_classes(mp_import *im, const char *value, mp_str *out, uint32_t n, uint32_t max)
{
	char buf[256];
	while (value && *value) {
		size_t len = strcspn(value, ",.; ");
		if (len && len < sizeof(buf) && n < max) {
			snprintf(buf, sizeof(buf), "%.*s", (int)len, value);
			mp_str s = im_intern(im, buf);
			uint32_t i;
			for (i = 0; i < n && out[i] != s; i++)
				;
			if (i == n)
				out[n++] = s;
		}
		value += len + (value[len] != '\0');
	}
	return n;
}

/* --- pass 1 --- */

static const char *api_group(const char *api, char *group, size_t len, const char **version)
{
	const char *slash = strrchr(api, '/');
	if (!slash) {
		snprintf(group, len, "%s", "");
		*version = api;
	} else {
		snprintf(group, len, "%.*s", (int)(slash - api), api);
		*version = slash + 1;
	}
	return group;
}

/* The cluster a file belongs to by --cluster-dir: the longest matching directory. */
static const char *cluster_of_path(const mp_import_opts *o, const char *path)
{
	const char *best = NULL;
	size_t bestlen = 0;
	for (uint32_t i = 0; o && i < o->ncluster_dirs; i++) {
		const char *dir = o->cluster_dirs[i].dir;
		size_t n = strlen(dir);
		while (n > 1 && dir[n - 1] == '/')
			n--;
		if (!strncmp(path, dir, n) && (path[n] == '/' || !path[n]) && n >= bestlen) {
			best = o->cluster_dirs[i].name;
			bestlen = n;
		}
	}
	return best;
}

/* A row read only in its provider's form, never by apiVersion (provider.h)? */
static int form_only(const mp_provider_kind *k)
{
	return (k->flags & MP_KIND_FORM_ONLY) == MP_KIND_FORM_ONLY;
}

/* What the providers read, for a note on a group none reads: "Kubernetes (v1, apps/v1) and
 * Istio (networking.istio.io, security.istio.io)". A group with one version is named by its
 * apiVersion, else by its name. */
static const char *known_groups(char *buf, size_t len)
{
	size_t n = 0, nprov = 0, at = 0;
	for (const mp_provider *const *p = mp_providers; *p; p++)
		nprov += (*p)->kinds && (*p)->kinds->kind;
	buf[0] = '\0';
	for (const mp_provider *const *p = mp_providers; *p && at < len; p++) {
		const mp_provider_kind *ks = (*p)->kinds;
		if (!ks || !ks->kind)
			continue;
		at += (size_t)snprintf(buf + at, len - at, "%s%s (",
		                       !n               ? ""
		                       : n + 1 == nprov ? " and "
		                                        : ", ",
		                       (*p)->title);
		n++;
		for (const mp_provider_kind *k = ks; k->kind && at < len; k++) {
			const mp_provider_kind *e;
			if (k->skip || form_only(k))
				continue; /* a kind left out, or a form's alone */
			for (e = ks; e < k && (e->skip || strcmp(e->group, k->group)); e++)
				;
			if (e < k)
				continue; /* named already */
			size_t vl = strlen(k->versions + 1) - 1;
			int one = !memchr(k->versions + 1, ' ', vl);
			at += (size_t)snprintf(buf + at, len - at, "%s%s%s%.*s",
			                       buf[at - 1] == '(' ? "" : ", ", k->group,
			                       one && *k->group ? "/" : "", one ? (int)vl : 0,
			                       k->versions + 1);
		}
		if (at < len)
			at += (size_t)snprintf(buf + at, len - at, ")");
	}
	return buf;
}

static int keep(mp_import *im, idoc *dc, const char *path)
{
	const char *cl = cluster_of_path(im->o, path);
	dc->cluster_name = cl ? im_intern(im, cl) : 0;
	if (mp_grow((void **)&im->docs, &im->cap, sizeof(*im->docs), im->ndocs, 32) < 0) {
		im->oom = 1;
		return 0;
	}
	im->docs[im->ndocs++] = *dc;
	return 1;
}

/* --- pass 1: documents in a provider's form (import_int.h, struct mp_provider_form) --- */

/* Is n one resource of form f: a mapping with f's kind_key and neither apiVersion nor kind? */
static int form_resource(yaml_document_t *doc, const yaml_node_t *n,
                         const struct mp_provider_form *f)
{
	return mp_yaml_get(doc, n, f->kind_key) && !mp_yaml_get(doc, n, "apiVersion") &&
	       !mp_yaml_get(doc, n, "kind");
}

/* The provider whose form root is in (one resource, a list whose first item is one, or what
 * the form's claims says of a document without apiVersion and kind), or NULL. */
static const mp_provider *form_of(yaml_document_t *doc, const yaml_node_t *root)
{
	const yaml_node_t *first =
	    root && root->type == YAML_SEQUENCE_NODE &&
	            root->data.sequence.items.top > root->data.sequence.items.start
	        ? yaml_document_get_node(doc, *root->data.sequence.items.start)
	        : root;
	if (mp_yaml_get(doc, first, "apiVersion") || mp_yaml_get(doc, first, "kind"))
		return NULL;
	for (const mp_provider *const *p = mp_providers; *p; p++) {
		const struct mp_provider_form *f = (*p)->form;
		if (f && (f->claims ? f->claims(doc, root) : form_resource(doc, first, f)))
			return *p;
	}
	return NULL;
}

int mp_import_is_form(yaml_document_t *doc, const yaml_node_t *root)
{
	return form_of(doc, root) != NULL;
}

/* Reading one document of a form: its provider, the document as a base for its resources, the
 * kinds it skipped (a document of many resources says them in one note). */
typedef struct {
	mp_import *im;
	const mp_provider *p;
	idoc base;
	const char *path;
	uint32_t kept, skipped;
	char others[300];
} form_read;

/* The row of p flagged MP_KIND_FORM that the form calls kind, or NULL. */
static const mp_provider_kind *form_row(const mp_provider *p, const char *kind)
{
	for (const mp_provider_kind *k = p->kinds; kind && k->kind; k++)
		if ((k->flags & MP_KIND_FORM) &&
		    !strcmp(k->form_kind ? k->form_kind : k->kind, kind))
			return k;
	return NULL;
}

/* One resource (node n) of the document: kept as a document of its row, or skipped. */
static void form_keep(void *ctx, yaml_node_t *n)
{
	form_read *r = ctx;
	mp_import *im = r->im;
	const struct mp_provider_form *f = r->p->form;
	idoc dc = r->base;
	char q[80], api[300];
	dc.root = dc.meta = n;
	dc.loc = im_loc(&dc, n);
	dc.borrowed = r->kept > 0;
	if (!form_resource(&dc.doc, n, f)) {
		if (n->type != YAML_MAPPING_NODE)
			im_error(im, &dc, n, "a %s must be a mapping with a '%s', not %s", f->title,
			         f->kind_key, im_kind_of(n));
		else
			im_error(im, &dc, n,
			         "a %s must have a '%s' and neither 'apiVersion' nor 'kind'",
			         f->title, f->kind_key);
		return;
	}
	yaml_node_t *kn = im_get(&dc, n, f->kind_key);
	const char *kind = im_scalar(kn);
	dc.kind = form_row(r->p, kind);
	if (f->resources && (!dc.kind || dc.kind->skip)) {
		size_t at = strlen(r->others);
		if (kind && !strstr(r->others, kind) && at + strlen(kind) + 3 < sizeof(r->others))
			snprintf(r->others + at, sizeof(r->others) - at, "%s%s", at ? ", " : "",
			         kind);
		r->skipped++;
		return;
	}
	if (!dc.kind || dc.kind->skip) {
		im_note(im, &dc, kn, "skipped %s of %s %s%s%s: %s", f->title, f->kind_key,
		        kind ? "'" : "",
		        kind ? mp_diag_quote(kind, strlen(kind), q, sizeof(q)) : im_kind_of(kn),
		        kind ? "'" : "",
		        dc.kind ? dc.kind->skip : "meshpol does not import this kind");
		return;
	}
	const char *v = dc.kind->versions ? dc.kind->versions + 1 : "";
	snprintf(api, sizeof(api), "%s/%.*s", dc.kind->group, (int)strcspn(v, " "), v);
	dc.provider = r->p;
	dc.api = im_intern(im, api);
	const char *name, *ns = NULL, *scope = NULL;
	yaml_node_t *spec = f->spec_key ? im_get(&dc, n, f->spec_key) : n;
	if (im_str(im, &dc, n, f->name_key, 1, &name) < 0 ||
	    (f->ns_key && im_str(im, &dc, n, f->ns_key, 0, &ns) < 0) ||
	    (f->scope_key && im_str(im, &dc, n, f->scope_key, 0, &scope) < 0))
		return;
	dc.name = im_intern(im, name);
	dc.ns = f->ns_key ? im_intern(im, ns && *ns ? ns : "default") : 0;
	dc.scope = scope ? im_intern(im, scope) : 0;
	int none = !spec || im_is_null(spec);
	if ((!none && spec->type != YAML_MAPPING_NODE) || (none && (f->flags & IM_FORM_SPEC))) {
		im_error(im, &dc, spec ? spec : n, "'%s' must be a mapping, not %s", f->spec_key,
		         spec ? im_kind_of(spec) : "missing");
		return;
	}
	dc.spec = none ? NULL : spec;
	r->kept += (uint32_t)keep(im, &dc, r->path);
}

/* A document of p's form: its resources kept; 1 when any was (the first owns doc). */
static int form_document(mp_import *im, const mp_provider *p, yaml_document_t *doc, mp_str file,
                         const char *path)
{
	const struct mp_provider_form *f = p->form;
	form_read r = {.im = im, .p = p, .path = path};
	yaml_node_t *item;
	r.base.doc = *doc;
	r.base.file = file;
	r.base.root = yaml_document_get_root_node(doc);
	r.base.loc = im_loc(&r.base, r.base.root);
	r.base.ns_id = MP_NONE;
	r.base.cluster = MP_NONE;
	r.base.form = f;
	if (f->resources) {
		if (f->resources(im, &r.base, form_keep, &r) < 0)
			return r.kept > 0;
		if (r.skipped)
			mp_diags_add(
			    im->d, MP_DIAG_NOTE, im_str_of(im, file), r.base.loc.line,
			    r.base.loc.col, "skipped %u %s%s that %s's provider does not read (%s)",
			    r.skipped, f->title, r.skipped == 1 ? "" : "s", p->title, r.others);
		if (!r.kept)
			mp_diags_add(im->d, MP_DIAG_NOTE, im_str_of(im, file), r.base.loc.line,
			             r.base.loc.col, "no %s resources in this document", p->title);
	} else if (r.base.root->type == YAML_SEQUENCE_NODE) {
		IM_SEQ_FOREACH(&r.base, r.base.root, item)
		{
			form_keep(&r, item);
		}
	} else {
		form_keep(&r, r.base.root);
	}
	return r.kept > 0;
}

static int object_document(mp_import *im, yaml_document_t *doc, yaml_node_t *root, mp_str file,
                           const char *path, int owner);

/* A `kind: List` (any apiVersion, as kubectl and istioctl read one): each of its `items` as a
 * document of its own, at its own line (a List among them, its items). 1 when any was kept,
 * now or before (kept: the first kept owns doc). Nesting is bounded by the YAML's depth. */
static int is_list(idoc *dc, yaml_node_t *root);

static int list_items(mp_import *im, yaml_document_t *doc, yaml_node_t *root, mp_str file,
                      const char *path, int kept)
{
	idoc dc;
	yaml_node_t *items, *item;
	memset(&dc, 0, sizeof(dc));
	dc.doc = *doc;
	dc.file = file;
	dc.root = root;
	dc.loc = im_loc(&dc, root);
	if (im_seq(im, &dc, root, "items", 0, &items) < 0 || !items)
		return kept;
	IM_SEQ_FOREACH(&dc, items, item)
	{
		if (item->type != YAML_MAPPING_NODE ||
		    !im_scalar(im_get(&dc, item, "apiVersion")) ||
		    !im_scalar(im_get(&dc, item, "kind"))) {
			dc.loc = im_loc(&dc, item);
			im_error(im, &dc, item,
			         "an item of a List must be a mapping with 'apiVersion' "
			         "and 'kind'");
			continue;
		}
		if (is_list(&dc, item)) /* a List of Lists */
			kept |= list_items(im, doc, item, file, path, kept);
		else
			kept |= object_document(im, doc, item, file, path, !kept);
	}
	return kept;
}

static int is_list(idoc *dc, yaml_node_t *root)
{
	const char *kind = im_scalar(im_get(dc, root, "kind"));
	return kind && !strcmp(kind, "List") && im_get(dc, root, "items");
}

int mp_import_document(mp_import *im, yaml_document_t *doc, mp_str file, const char *path)
{
	idoc dc;
	const mp_provider *fp = form_of(doc, yaml_document_get_root_node(doc));
	if (fp)
		return form_document(im, fp, doc, file, path);
	memset(&dc, 0, sizeof(dc));
	dc.doc = *doc; /* borrowed until kept: the caller deletes it when we return 0 */
	dc.file = file;
	dc.root = yaml_document_get_root_node(&dc.doc);
	if (dc.root && is_list(&dc, dc.root))
		return list_items(im, doc, dc.root, file, path, 0);
	return object_document(im, doc, dc.root, file, path, 1);
}

/* One Kubernetes-style object (root, a node of doc: the document's root or an item of a List):
 * kept as its provider's kind, or skipped with a note. owner: whether the idoc owns doc. */
static int object_document(mp_import *im, yaml_document_t *doc, yaml_node_t *root, mp_str file,
                           const char *path, int owner)
{
	idoc dc;
	memset(&dc, 0, sizeof(dc));
	dc.doc = *doc; /* borrowed until kept: the caller deletes it when we return 0 */
	dc.borrowed = !owner;
	dc.file = file;
	dc.root = root;
	dc.loc = im_loc(&dc, dc.root);
	dc.ns_id = MP_NONE;
	dc.cluster = MP_NONE;
	const char *api = im_scalar(im_get(&dc, dc.root, "apiVersion"));
	const char *kind = im_scalar(im_get(&dc, dc.root, "kind"));
	char group[256];
	const char *version;
	if (!api || !kind)
		return 0; /* compile_native.c checked both (list_items, an item's) */
	api_group(api, group, sizeof(group), &version);
	int known_group = 0;
	const char *versions = NULL; /* of a known group whose version is not */
	char v[64];
	snprintf(v, sizeof(v), " %s ", version);
	for (const mp_provider *const *p = mp_providers; *p && !dc.kind; p++)
		for (const mp_provider_kind *k = (*p)->kinds; k && k->kind && !dc.kind; k++) {
			if (strcmp(k->group, group) || form_only(k))
				continue;
			if (k->versions && !strstr(k->versions, v)) {
				versions = k->versions;
				continue;
			}
			known_group = 1;
			if (!strcmp(k->kind, kind)) {
				dc.provider = *p;
				dc.kind = k;
			}
		}
	if (dc.kind && dc.kind->skip) {
		char q1[80], q2[80];
		im_note(im, &dc, im_get(&dc, dc.root, "kind"),
		        "skipped kind '%s' (apiVersion %s): %s",
		        mp_diag_quote(kind, strlen(kind), q1, sizeof(q1)),
		        mp_diag_quote(api, strlen(api), q2, sizeof(q2)), dc.kind->skip);
		return 0;
	}
	if (!dc.kind && versions && !known_group) {
		char q[80];
		im_note(im, &dc, im_get(&dc, dc.root, "apiVersion"),
		        "skipped %s (apiVersion %s): meshpol imports versions%sof this group",
		        mp_diag_quote(kind, strlen(kind), q, sizeof(q)), api, versions);
		return 0;
	}
	if (!dc.kind) {
		char q1[80], q2[80], known[600];
		im_note(im, &dc, im_get(&dc, dc.root, "kind"),
		        "skipped %s '%s' (apiVersion %s): %s%s%s",
		        known_group ? "kind" : "document of kind",
		        mp_diag_quote(kind, strlen(kind), q1, sizeof(q1)),
		        mp_diag_quote(api, strlen(api), q2, sizeof(q2)),
		        known_group ? "meshpol does not import this kind" : "meshpol imports ",
		        known_group ? "" : known_groups(known, sizeof(known)),
		        known_group ? "" : " resources");
		return 0;
	}
	dc.api = im_intern(im, api);
	yaml_node_t *meta = im_get(&dc, dc.root, "metadata");
	if (!meta || meta->type != YAML_MAPPING_NODE) {
		im_error(im, &dc, meta ? meta : dc.root, "%s: 'metadata' must be a mapping%s", kind,
		         meta ? "" : " (it is missing)");
		return 0;
	}
	dc.meta = meta;
	const char *name, *ns;
	if (im_str(im, &dc, meta, "name", 1, &name) < 0 ||
	    im_str(im, &dc, meta, "namespace", 0, &ns) < 0)
		return 0;
	dc.name = im_intern(im, name);
	dc.ns = dc.kind->flags & MP_KIND_CLUSTER_SCOPED ? 0 : im_intern(im, ns ? ns : "default");
	yaml_node_t *spec = im_get(&dc, dc.root, "spec");
	if (spec && !im_is_null(spec) && spec->type != YAML_MAPPING_NODE) {
		im_error(im, &dc, spec, "'spec' must be a mapping, not %s", im_kind_of(spec));
		return 0;
	}
	dc.spec = spec && !im_is_null(spec) ? spec : NULL;
	return keep(im, &dc, path);
}

/* --- pass 2: places --- */

static mp_id implicit_cluster(mp_import *im, const char *name, const char *provider,
                              const char *region, const char *zone, mp_loc loc);

mp_id im_cluster(mp_import *im, const char *name, mp_loc loc)
{
	return implicit_cluster(im, name, NULL, NULL, NULL, loc);
}

static mp_id implicit_cluster(mp_import *im, const char *name, const char *provider,
                              const char *region, const char *zone, mp_loc loc)
{
	mp_str n = im_intern(im, name);
	mp_id id = im->host->lookup(im->host->ctx, MP_IMPORT_CLUSTER, n, 0);
	if (id != MP_NONE)
		return id;
	mp_cluster c = {n,
	                im_intern(im, provider ? provider : "unknown"),
	                im_intern(im, region ? region : ""),
	                im_intern(im, zone ? zone : ""),
	                0,
	                loc};
	id = mp_model_add_cluster(im->m, &c);
	if (id == MP_NONE) {
		im->oom = 1;
		return MP_NONE;
	}
	im->host->declare(im->host->ctx, MP_IMPORT_CLUSTER, n, 0, id, loc, "Cluster");
	return id;
}

/* The directory part of a path ("" for none). */
static size_t dir_len(const char *path)
{
	const char *slash = strrchr(path, '/');
	return slash ? (size_t)(slash - path) : 0;
}

/* The native Cluster declared alone in the document's directory or the nearest parent. */
static mp_id cluster_by_directory(mp_import *im, const char *path)
{
	mp_model_view v = mp_model_get_view(im->m);
	size_t best = 0;
	mp_id found = MP_NONE;
	int ambiguous = 0;
	for (uint32_t c = 0; c < v.nclusters; c++) {
		const char *cf = im_str_of(im, v.clusters[c].loc.file);
		size_t n = dir_len(cf);
		if (!n || strncmp(path, cf, n) || path[n] != '/')
			continue;
		if (n > best) {
			best = n;
			found = c;
			ambiguous = 0;
		} else if (n == best && strcmp(im_str_of(im, v.clusters[found].name),
		                               im_str_of(im, v.clusters[c].name))) {
			ambiguous = 1;
		}
	}
	return ambiguous ? MP_NONE : found;
}

static void place(mp_import *im)
{
	const mp_import_opts *o = im->o;
	mp_model_view v = mp_model_get_view(im->m);
	uint32_t native = v.nclusters;
	mp_id fallback = MP_NONE, last = MP_NONE;
	for (uint32_t i = 0; i < im->ndocs && !im->oom; i++) {
		idoc *dc = &im->docs[i];
		const char *path = im_str_of(im, dc->file);
		mp_id c = MP_NONE;
		if (dc->cluster_name) {
			c = implicit_cluster(im, im_str_of(im, dc->cluster_name), NULL, NULL, NULL,
			                     dc->loc);
		} else if ((c = cluster_by_directory(im, path)) != MP_NONE) {
		} else if (o && o->cluster) {
			c = implicit_cluster(im, o->cluster, o->cloud, o->region, o->zone, dc->loc);
		} else if (native == 1) {
			c = 0;
		} else if (native == 0) {
			if (fallback == MP_NONE)
				fallback = implicit_cluster(im, "kubernetes", o ? o->cloud : NULL,
				                            o ? o->region : NULL,
				                            o ? o->zone : NULL, dc->loc);
			c = fallback;
		} else {
			im_error(
			    im, dc, dc->root,
			    "which cluster is this in? The sources declare %u Clusters: give "
			    "--cluster NAME, --cluster-dir NAME=DIR, or put a Cluster document in "
			    "its directory",
			    native);
			continue;
		}
		dc->cluster = c;
		if (last != MP_NONE && c != last)
			im->multi_cluster = 1;
		last = c;
	}
	if (o && o->cluster && (o->cloud || o->region)) {
		mp_id c = im->host->lookup(im->host->ctx, MP_IMPORT_CLUSTER,
		                           im_intern(im, o->cluster), 0);
		if (c != MP_NONE && c < native)
			mp_diags_add(im->d, MP_DIAG_NOTE, NULL, 0, 0,
			             "--cloud/--region ignored: a Cluster document declares '%s'",
			             o->cluster);
	}
}

/* A document's identity (kind, namespace, name, cluster, scope) and its position. */
typedef struct {
	uintptr_t kind;
	mp_str ns, name;
	mp_id cluster;
	mp_str scope;
	uint32_t doc;
} doc_key;

static int cmp_identity(const void *x, const void *y)
{
	const doc_key *a = x, *b = y;
	if (a->kind != b->kind)
		return a->kind < b->kind ? -1 : 1;
	if (a->ns != b->ns)
		return a->ns < b->ns ? -1 : 1;
	if (a->name != b->name)
		return a->name < b->name ? -1 : 1;
	if (a->cluster != b->cluster)
		return a->cluster < b->cluster ? -1 : 1;
	if (a->scope != b->scope)
		return a->scope < b->scope ? -1 : 1;
	return a->doc < b->doc ? -1 : a->doc > b->doc;
}

static int cmp_u32(const void *x, const void *y)
{
	uint32_t i = *(const uint32_t *)x, j = *(const uint32_t *)y;
	return i < j ? -1 : i > j;
}

/* kubectl apply semantics: a later document with the same cluster, kind, namespace and name
 * replaces an earlier one. Each live document is replaced by the next of its identity (which
 * notes it), in document order; sorted by identity so that a mesh of 20,000 documents is not
 * 200 million comparisons. */
static void drop_replaced(mp_import *im)
{
	uint32_t n = im->ndocs, nrep = 0;
	doc_key *order = mp_malloc((n + 1) * sizeof(doc_key));
	uint32_t *next = mp_malloc((n + 1) * sizeof(uint32_t)); /* replaced doc -> replacing */
	uint32_t *replaced = mp_malloc((n + 1) * sizeof(uint32_t));
	if (!order || !next || !replaced) {
		im->oom = 1;
		goto out;
	}
	for (uint32_t i = 0; i < n; i++) {
		const idoc *d = &im->docs[i];
		order[i] = (doc_key){(uintptr_t)d->kind, d->ns, d->name, d->cluster, d->scope, i};
	}
	qsort(order, n, sizeof(doc_key), cmp_identity);
	for (uint32_t k = 0; k + 1 < n; k++) {
		doc_key a = order[k], b = order[k + 1];
		if (im->docs[a.doc].dead || a.kind != b.kind || a.ns != b.ns || a.name != b.name ||
		    a.cluster != b.cluster || a.scope != b.scope)
			continue;
		next[a.doc] = b.doc;
		replaced[nrep++] = a.doc;
	}
	qsort(replaced, nrep, sizeof(uint32_t), cmp_u32); /* notes in document order */
	for (uint32_t k = 0; k < nrep; k++) {
		idoc *a = &im->docs[replaced[k]], *b = &im->docs[next[replaced[k]]];
		char where[600];
		a->dead = 1;
		im_note(im, b, b->root,
		        "replaces the one at %s (a later document wins, as with "
		        "kubectl apply)",
		        mp_model_loc_str(im->m, a->loc, where, sizeof(where)));
	}
out:
	mp_free(order);
	mp_free(next);
	mp_free(replaced);
}

void mp_import_places(mp_import *im)
{
	place(im);
	drop_replaced(im);
	run_phase(im, IM_PHASE_CLUSTERS);
}

void mp_import_namespaces(mp_import *im)
{
	run_phase(im, IM_PHASE_NAMESPACES);
}

/* The namespace of every live document, created when no Namespace declared it (after the
 * workloads', whose order the model keeps). */
static void document_namespaces(mp_import *im)
{
	for (uint32_t i = 0; i < im->ndocs && !im->oom; i++)
		if (im_live(&im->docs[i]) && im->docs[i].ns)
			im->docs[i].ns_id = im_namespace(im, im->docs[i].ns, im->docs[i].loc);
}

/* The workloads every provider collected into the model (every service exists by now). */
static void add_workloads(mp_import *im)
{
	for (uint32_t i = 0; i < im->nwl && !im->oom; i++) {
		iworkload *w = &im->wl[i];
		mp_workload out = {.name = w->name,
		                   .kind = w->kind,
		                   .ns = w->ns,
		                   .cluster = w->cluster,
		                   .identity = w->identity,
		                   .labels = w->labels,
		                   .services = {0, w->nsvc},
		                   .mtls = w->mtls,
		                   .loc = im->docs[w->doc].loc};
		if (w->nsvc &&
		    (out.services.off = mp_model_push_u32(im->m, w->svc, w->nsvc)) == MP_NONE) {
			im->oom = 1;
			return;
		}
		if (mp_model_add_workload(im->m, &out) == MP_NONE)
			im->oom = 1;
	}
}

void mp_import_elements(mp_import *im)
{
	run_phase(im, IM_PHASE_WORKLOADS);
	document_namespaces(im);
	run_phase(im, IM_PHASE_WORKLOAD_POLICY);
	run_phase(im, IM_PHASE_SERVICES);
	run_phase(im, IM_PHASE_ELEMENTS);
	add_workloads(im);
}

/* --- resources --- */

void im_add_record(mp_import *im, const mp_resource *r, json_t *spec)
{
	char *text = json_dumps(spec, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(spec);
	if (!text) {
		im->oom = 1;
		return;
	}
	mp_resource out = *r;
	out.spec = im_intern(im, text);
	free(text);
	if (mp_model_add_resource(im->m, &out) == MP_NONE)
		im->oom = 1;
}

void im_add_resource(mp_import *im, idoc *dc, json_t *spec, uint32_t flags, mp_span aux)
{
	char ver[64] = "";
	yaml_node_t *gen = im_get(dc, dc->meta, "generation");
	const char *rv = im_scalar(im_get(dc, dc->meta, "resourceVersion"));
	if (im_scalar(gen))
		snprintf(ver, sizeof(ver), "%s", im_scalar(gen));
	else if (rv)
		snprintf(ver, sizeof(ver), "%s", rv);
	mp_resource r = {.kind = im_intern(im, dc->kind->kind),
	                 .api = dc->api,
	                 .ns = dc->ns,
	                 .name = dc->name,
	                 .version = im_intern(im, ver),
	                 .cluster = im->multi_cluster ? dc->cluster : MP_NONE,
	                 .flags = flags,
	                 .aux = aux,
	                 .loc = dc->loc};
	im_add_record(im, &r, spec);
}

/* --- routes --- */

int im_match_header(mp_import *im, const char *name, const char *value, mp_match *out)
{
	char lower[256];
	size_t i;
	for (i = 0; name[i] && i + 1 < sizeof(lower); i++)
		lower[i] = (char)tolower((unsigned char)name[i]);
	lower[i] = '\0';
	mp_label l = {im_intern(im, lower), im_intern(im, value)};
	uint32_t off = mp_model_push_labels(im->m, &l, 1);
	if (off == MP_NONE) {
		im->oom = 1;
		return -1;
	}
	if (!out->headers.n)
		out->headers.off = off;
	out->headers.n++;
	return 0;
}

static uint32_t push_targets(mp_import *im, const mp_target *t, uint32_t n)
{
	if (!n)
		return 0;
	uint32_t off = mp_model_push_targets(im->m, t, n);
	if (off == MP_NONE) {
		im->oom = 1;
		return 0;
	}
	return off;
}

void im_add_route(mp_import *im, const char *name, const mp_route *tmpl, const mp_target *t[3],
                  const uint32_t n[3])
{
	mp_route rt = *tmpl;
	char what[1300];
	rt.name = im_intern(im, name);
	rt.dests = (mp_span){push_targets(im, t[0], n[0]), n[0]};
	rt.mirrors = (mp_span){push_targets(im, t[1], n[1]), n[1]};
	rt.failover = (mp_span){push_targets(im, t[2], n[2]), n[2]};
	snprintf(what, sizeof(what), "Route '%s'", name);
	mp_id id = mp_model_get_view(im->m).nroutes;
	if (im->oom ||
	    im->host->declare(im->host->ctx, MP_IMPORT_ROUTE, rt.name, 0, id, rt.loc, what) < 0)
		return;
	if (mp_model_add_route(im->m, &rt) == MP_NONE)
		im->oom = 1;
}

/* Every provider's analyzers (check.h), in the list's order: their findings keep it. */
static void run_analyzers(mp_import *im)
{
	for (const mp_provider *const *p = mp_providers; *p; p++)
		for (const mp_check_row *r = (*p)->analyzers; r && r->id && !im->oom; r++)
			if (r->phase == MP_CHECK_IMPORT && r->import)
				r->import(im);
}

void mp_import_routes(mp_import *im)
{
	run_phase(im, IM_PHASE_ROUTES);
	run_analyzers(im);
	run_phase(im, IM_PHASE_RESOURCES);
}
