/* compile.c: YAML sources -> mesh model: finding the files, reading each as a stream of
 * documents (yamlload.c), handing each document to the native format (compile_native.c) or to
 * the importer of its apiVersion (import.h), and running pass 2 in the order both need. Also
 * the table of names they share. Design: docs/architecture.md ("Compiling"). */
#include "alloc.h"
#include "barchive.h"
#include "compile_int.h"
#include "files.h"
#include "yamlload.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

/* --- the table of names --- */

static uint32_t map_hash(uint32_t kind, uint32_t a, uint32_t b)
{
	uint64_t h = ((uint64_t)kind * 0x9E3779B97F4A7C15ull) ^
	             ((uint64_t)a * 0xC2B2AE3D27D4EB4Full) ^ ((uint64_t)b * 0x165667B19E3779F9ull);
	return (uint32_t)(h ^ (h >> 29));
}

mapent *cc_map_find(const keymap *km, uint32_t kind, uint32_t a, uint32_t b)
{
	if (!km->cap)
		return NULL;
	for (uint32_t i = map_hash(kind, a, b) & (km->cap - 1);; i = (i + 1) & (km->cap - 1)) {
		mapent *e = &km->v[i];
		if (!e->kind)
			return NULL;
		if (e->kind == kind && e->a == a && e->b == b)
			return e;
	}
}

int cc_map_put(keymap *km, uint32_t kind, uint32_t a, uint32_t b, uint32_t id, mp_loc loc)
{
	if ((km->n + 1) * 4 > km->cap * 3) {
		uint32_t ncap = km->cap ? km->cap * 2 : 256;
		mapent *nv = mp_calloc(ncap, sizeof(*nv));
		if (!nv)
			return -1;
		keymap grown = {nv, 0, ncap};
		for (uint32_t i = 0; i < km->cap; i++)
			if (km->v[i].kind)
				cc_map_put(&grown, km->v[i].kind, km->v[i].a, km->v[i].b,
				           km->v[i].id, km->v[i].loc);
		mp_free(km->v);
		*km = grown;
	}
	uint32_t i = map_hash(kind, a, b) & (km->cap - 1);
	while (km->v[i].kind)
		i = (i + 1) & (km->cap - 1);
	km->v[i] = (mapent){kind, a, b, id, loc};
	km->n++;
	return 0;
}

/* --- what both formats use --- */

void cc_errorf(compiler *c, mp_loc loc, const char *fmt, ...)
{
	char msg[900];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	mp_diags_error(c->d, mp_model_str(c->m, loc.file), loc.line, loc.col, "%s", msg);
}

const char *cc_str(compiler *c, mp_str s)
{
	return mp_model_str(c->m, s);
}

mp_str cc_intern(compiler *c, const char *s, size_t len)
{
	mp_str id = mp_model_intern(c->m, s, len);
	if (id == MP_NONE) {
		c->oom = 1;
		return 0;
	}
	return id;
}

int cc_declare(compiler *c, uint32_t kind, uint32_t a, uint32_t b, uint32_t id, mp_loc loc,
               const char *what)
{
	mapent *e = cc_map_find(&c->names, kind, a, b);
	if (e) {
		char where[600];
		cc_errorf(c, loc, "duplicate %s (first at %s)", what,
		          mp_model_loc_str(c->m, e->loc, where, sizeof(where)));
		return -1;
	}
	if (cc_map_put(&c->names, kind, a, b, id, loc) < 0) {
		c->oom = 1;
		return -1;
	}
	return 0;
}

/* --- the importer's view of the compiler (import.h) --- */

static uint32_t host_kind(int kind)
{
	switch (kind) {
	case MP_IMPORT_CLUSTER:
		return K_CLUSTER;
	case MP_IMPORT_NAMESPACE:
		return K_NAMESPACE;
	case MP_IMPORT_SERVICE:
		return K_SERVICE;
	case MP_IMPORT_EXTERNAL:
		return K_EXTERNAL;
	default:
		return K_ROUTE;
	}
}

static mp_id host_lookup(void *ctx, int kind, uint32_t a, uint32_t b)
{
	compiler *c = ctx;
	mapent *e = cc_map_find(&c->names, host_kind(kind), a, b);
	return e ? e->id : MP_NONE;
}

static int host_declare(void *ctx, int kind, uint32_t a, uint32_t b, mp_id id, mp_loc loc,
                        const char *what)
{
	return cc_declare(ctx, host_kind(kind), a, b, id, loc, what);
}

/* The importer's options, from the compiler's. 0, or -1 when out of memory. */
static int import_opts(compiler *c)
{
	const mp_compile_opts *o = c->opts;
	if (o->ncluster_dirs &&
	    !(c->import_dirs = mp_calloc(o->ncluster_dirs, sizeof(*c->import_dirs))))
		return -1;
	for (uint32_t i = 0; i < o->ncluster_dirs; i++)
		c->import_dirs[i] =
		    (mp_import_dir){o->cluster_dirs[i].name, o->cluster_dirs[i].dir};
	c->import_opts = (mp_import_opts){.trust_domain = o->trust_domain,
	                                  .cluster = o->cluster,
	                                  .cloud = o->cloud,
	                                  .region = o->region,
	                                  .zone = o->zone,
	                                  .cluster_dirs = c->import_dirs,
	                                  .ncluster_dirs = o->ncluster_dirs,
	                                  .provider_opts = o->provider_opts,
	                                  .nprovider_opts = o->nprovider_opts,
	                                  .analyze = o->analyze};
	return 0;
}

/* The importer, created on the first document of another apiVersion. */
static mp_import *importer(compiler *c)
{
	if (!c->im && !c->oom) {
		c->host = (mp_import_host){c, host_lookup, host_declare};
		if ((c->opts && import_opts(c) < 0) ||
		    !(c->im =
		          mp_import_new(c->m, c->d, c->opts ? &c->import_opts : NULL, &c->host)))
			c->oom = 1;
	}
	return c->im;
}

/* --- sources and passes --- */

/* Pass 1 over one file: each document goes to the native decoder or, when its apiVersion is
 * another's, to the importer. */
static void compile_buffer(compiler *c, const char *name, const char *buf, size_t len)
{
	mp_yaml_stream ys;
	c->path = name;
	c->file_id = cc_intern(c, name, strlen(name));
	/* cc_intern answers 0 (not MP_NONE) when out of memory, with c->oom set */
	if (c->root_len && !c->oom && mp_model_add_source(c->m, c->file_id, c->root_len) < 0)
		c->oom = 1;
	const char *slash = strrchr(name, '/');
	snprintf(c->dir, sizeof(c->dir), "%.*s", slash ? (int)(slash - name) : 0, name);
	if (mp_yaml_open(&ys, name, buf, len, c->d) < 0) {
		c->oom = 1;
		return;
	}
	yaml_document_t doc;
	while (!c->oom && mp_yaml_next(&ys, &doc) == 1) {
		yaml_node_t *root = yaml_document_get_root_node(&doc);
		int kept = 0;
		c->doc = &doc;
		if (root && cc_native_document(c, root)) {
			mp_import *im = importer(c);
			kept = im ? mp_import_document(im, &doc, c->file_id, c->path) : 0;
		}
		c->doc = NULL;
		if (!kept)
			yaml_document_delete(&doc);
	}
	c->oom |= ys.oom;
	mp_yaml_close(&ys);
}

static void compile_file(compiler *c, const char *path, size_t max)
{
	char *buf;
	size_t len;
	if (mp_files_read(path, max, &buf, &len, c->d) < 0)
		return;
	compile_buffer(c, path, buf, len);
	mp_free(buf);
}

static void compiler_free(compiler *c)
{
	mp_free(c->names.v);
	cc_native_free(c);
	mp_import_free(c->im);
	mp_free(c->import_dirs);
}

/* Pass 2 and the finished model; NULL if anything was reported. Imported documents join in
 * four steps (import.h): their clusters and namespaces before native services resolve (so
 * native services may use them), their services after (so duplicates are found either way),
 * their routes last (so they see every service and external). */
static mp_model *finish(compiler *c)
{
	if (c->im && !c->oom) {
		mp_import_places(c->im);
		mp_import_namespaces(c->im);
	}
	if (!c->oom) {
		cc_native_services(c);
		cc_native_externals(c);
	}
	/* Routes resolve through the model's own lookups, so index what exists so far. */
	if (!c->oom && mp_model_finish(c->m) < 0)
		c->oom = 1;
	if (c->im && !c->oom) {
		mp_import_elements(c->im);
		c->oom |= mp_import_failed(c->im) || mp_model_finish(c->m) < 0;
	}
	if (!c->oom)
		cc_native_routes(c);
	if (c->im && !c->oom) {
		mp_import_routes(c->im);
		c->oom |= mp_import_failed(c->im);
	}
	if (!c->oom && mp_model_finish(c->m) < 0)
		c->oom = 1;
	if (c->oom)
		mp_diags_error(c->d, NULL, 0, 0, "out of memory while compiling the model");
	mp_model *m = c->m;
	if (c->d->errors || c->oom) {
		mp_model_free(m);
		m = NULL;
	}
	compiler_free(c);
	return m;
}

/* The source root of the files a SOURCE argument gives (model.h, mp_source_name): all of a
 * directory's path and the '/' the walk adds after it, or a single file's directory. */
static uint32_t source_root_len(const char *source, int is_dir)
{
	size_t n = strlen(source);
	const char *slash = strrchr(source, '/');
	if (is_dir)
		return (uint32_t)(n && source[n - 1] == '/' ? n : n + 1);
	return slash ? (uint32_t)(slash - source + 1) : 0;
}

mp_model *mp_compile(const char *const *paths, size_t npaths, const mp_compile_opts *opts,
                     mp_diags *d)
{
	static const char *const yaml_suffixes[] = {".yaml", ".yml", NULL};
	size_t max = opts && opts->max_file_bytes ? opts->max_file_bytes : MP_COMPILE_MAX_FILE;
	mp_walk_opts wo = {opts && opts->follow_symlinks,
	                   "meshpol compile --follow-symlinks reads it"};
	compiler c = {.d = d, .opts = opts};
	mp_pathlist files = {0};
	/* per SOURCE argument: the files it gave end at ends[i], under a root of roots[i] bytes */
	uint32_t *ends = mp_calloc(npaths ? npaths : 1, sizeof(*ends));
	uint32_t *roots = mp_calloc(npaths ? npaths : 1, sizeof(*roots));
	if (!(c.m = mp_model_new()) || !ends || !roots) {
		mp_diags_error(d, NULL, 0, 0, "out of memory");
		mp_model_free(c.m);
		mp_free(ends);
		mp_free(roots);
		return NULL;
	}
	if (!npaths)
		mp_diags_error(d, NULL, 0, 0, "no sources given");
	for (size_t i = 0; i < npaths && !c.oom; i++) {
		struct stat st;
		int found = stat(paths[i], &st) == 0;
		roots[i] = source_root_len(paths[i], found && S_ISDIR(st.st_mode));
		if (!found) {
			mp_diags_error(d, paths[i], 0, 0, "%s", strerror(errno));
		} else if (S_ISDIR(st.st_mode)) {
			uint32_t before = files.n;
			c.oom |= mp_files_walk_opts(paths[i], yaml_suffixes, &wo, &files, d) < 0;
			if (files.n == before)
				mp_diags_error(d, paths[i], 0, 0,
				               "no .yaml or .yml files in this directory");
		} else {
			c.oom |= mp_pathlist_add(&files, paths[i]) < 0;
		}
		ends[i] = files.n;
	}
	for (uint32_t i = 0, arg = 0; i < files.n && !c.oom; i++) {
		while (arg < npaths && i >= ends[arg])
			arg++;
		c.root_len = arg < npaths ? roots[arg] : 0;
		compile_file(&c, files.v[i], max);
	}
	mp_pathlist_free(&files);
	mp_free(ends);
	mp_free(roots);
	return finish(&c);
}

mp_model *mp_compile_string(const char *name, const char *yaml, size_t len, mp_diags *d)
{
	compiler c = {.d = d, .root_len = source_root_len(name, 0)};
	if (!(c.m = mp_model_new())) {
		mp_diags_error(d, NULL, 0, 0, "out of memory");
		return NULL;
	}
	compile_buffer(&c, name, yaml, len);
	return finish(&c);
}

mp_model *mp_model_open(const char *path, mp_diags *d)
{
	return mp_model_open_opts(path, NULL, d);
}

mp_model *mp_model_open_opts(const char *path, const mp_compile_opts *opts, mp_diags *d)
{
	if (mp_barchive_is_file(path)) /* the model a bundle archive holds */
		return mp_barchive_load_model(path, d);
	/* by name as well as by magic, so that an empty or cut .mpm is an error, not YAML */
	if (mp_has_suffix(path, ".mpm") || mp_model_is_mpm_file(path)) {
		char err[1024];
		mp_model *m = mp_model_load(path, err, sizeof(err));
		if (!m)
			mp_diags_error(d, NULL, 0, 0, "%s", err);
		return m;
	}
	return mp_compile(&path, 1, opts, d);
}
