/* testutil.h: small helpers shared by the cmocka tests. */
#ifndef MP_TESTUTIL_H
#define MP_TESTUTIL_H

#include "alloc.h"
#include "compile.h"
#include "decide.h"
#include "diag.h"
#include "engine.h"
#include "model.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Diagnostics as `meshpol` prints them, one per line, in memory the caller frees with free(). */
static inline char *diags_text(const mp_diags *d)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	mp_diags_print(d, f);
	fclose(f);
	return buf;
}

/* The unit bundle's mesh (tests/data/bundles/unit/mesh.yaml), compiled, with MESHPOL_STDLIB
 * set for the bundles loaded against it: the group setup of the bundle loading tests. NULL when
 * it does not compile. */
static inline mp_model *unit_mesh(void)
{
	mp_diags d = {0};
	const char *p = "tests/data/bundles/unit/mesh.yaml";
	setenv("MESHPOL_STDLIB", "stdlib", 1);
	mp_model *m = mp_compile(&p, 1, NULL, &d);
	mp_diags_free(&d);
	return m;
}

/* Group setup and teardown of bundle tests: the unit bundle's mesh is the state each test gets
 * (cmocka hands the group's state to a test without a setup of its own). */
static inline int unit_mesh_setup(void **state)
{
	*state = unit_mesh();
	return *state ? 0 : -1;
}

static inline int unit_mesh_teardown(void **state)
{
	mp_model_free(*state);
	return 0;
}

/* Decides r once against e, with an evaluator of its own, into *out; 0, or -1 when the
 * evaluator cannot be made. */
static inline int decide_once(mp_engine *e, const mp_request *r, mp_decision *out)
{
	mp_diags d = {0};
	mp_evaluator *ev = mp_evaluator_new(e, NULL, &d);
	if (ev)
		mp_decide(ev, r, out, NULL);
	mp_evaluator_free(ev);
	mp_diags_free(&d);
	return ev ? 0 : -1;
}

/* Writes a bundle into a fresh directory under /tmp: the manifest, then NAME, TEXT pairs up to
 * a NULL (a NAME may name a subdirectory, "sub/a.lua"). Returns the directory (static storage,
 * until the next call), or NULL when it cannot be written. */
static inline char *write_bundle_dir(const char *manifest, ...)
{
	static char dir[64];
	char path[256];
	snprintf(dir, sizeof(dir), "/tmp/meshpol-policy-XXXXXX");
	if (!mkdtemp(dir))
		return NULL;
	snprintf(path, sizeof(path), "%s/bundle.yaml", dir);
	FILE *f = fopen(path, "w");
	int bad = !f || fputs(manifest, f) < 0;
	bad |= f && fclose(f) != 0;
	va_list ap;
	va_start(ap, manifest);
	for (const char *name; !bad && (name = va_arg(ap, const char *));) {
		const char *text = va_arg(ap, const char *);
		snprintf(path, sizeof(path), "%s/%s", dir, name);
		for (char *s = strchr(path + strlen(dir) + 1, '/'); s; s = strchr(s + 1, '/')) {
			*s = '\0';
			mkdir(path, 0700); /* fopen says when it failed */
			*s = '/';
		}
		f = fopen(path, "w");
		bad |= !f || fputs(text, f) < 0;
		bad |= f && fclose(f) != 0;
	}
	va_end(ap);
	return bad ? NULL : dir;
}

/* Removes a directory write_bundle_dir made; 0 when it is gone. */
static inline int remove_bundle_dir(const char *dir)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd);
}

/* The shared corpus of a mesh (../shared/corpus/NAME beside the clone, or under
 * $MESHPOL_SHARED) into buf; NULL, after saying so, when it is absent (a test fails then). */
static inline const char *shared_corpus(const char *name, char *buf, size_t len)
{
	struct stat st;
	const char *shared = getenv("MESHPOL_SHARED");
	snprintf(buf, len, "%s/corpus/%s", shared && *shared ? shared : "../shared", name);
	if (stat(buf, &st) < 0 || !S_ISDIR(st.st_mode)) {
		fprintf(stderr,
		        "the %s corpus is missing: expected the directory %s (the shared folder "
		        "beside the repository; set MESHPOL_SHARED to point elsewhere)\n",
		        name, buf);
		return NULL;
	}
	return buf;
}

/* mp_compile, printing the diagnostics when it fails or reports errors. */
static inline mp_model *compile_paths(const char *const *paths, size_t n, const mp_compile_opts *o,
                                      mp_diags *d)
{
	mp_model *m = mp_compile(paths, n, o, d);
	if (!m || d->errors) {
		char *t = diags_text(d);
		fprintf(stderr, "%s", t);
		free(t);
	}
	return m;
}

/* A mesh's shared corpus compiled (compile_paths, diagnostics into d); NULL when it is missing
 * or does not compile. */
static inline mp_model *compile_corpus(const char *name, mp_diags *d)
{
	char root[1024];
	const char *c = shared_corpus(name, root, sizeof(root));
	return c ? compile_paths(&c, 1, NULL, d) : NULL;
}

/* A count a test pins: what is counted, the count, the pinned value. */
typedef struct {
	const char *what;
	uint32_t got, want;
} pin;

/* How many of the n pins do not hold, each said on stderr ("corpus: routes is 2, pinned 1"). */
static inline size_t pins_missed(const char *where, const pin *p, size_t n)
{
	size_t missed = 0;
	for (size_t i = 0; i < n; i++)
		if (p[i].got != p[i].want) {
			fprintf(stderr, "%s: %s is %u, pinned %u\n", where, p[i].what, p[i].got,
			        p[i].want);
			missed++;
		}
	return missed;
}

/* How many resources of a kind the model holds, findings of a code, notes saying text. */
static inline uint32_t count_kind(const mp_model *m, const char *kind)
{
	mp_model_view v = mp_model_get_view(m);
	uint32_t n = 0;
	for (uint32_t i = 0; i < v.nresources; i++)
		n += !strcmp(mp_model_str(m, v.resources[i].kind), kind);
	return n;
}

static inline uint32_t count_findings(const mp_model *m, const char *code)
{
	mp_model_view v = mp_model_get_view(m);
	uint32_t n = 0;
	for (uint32_t i = 0; i < v.nfindings; i++)
		n += !strcmp(mp_model_str(m, v.findings[i].code), code);
	return n;
}

/* An import finding a test expects: its code, its subject and the line it points at. */
typedef struct {
	const char *code, *subject;
	uint32_t line;
} want_finding;

/* How many of the n findings want m does not hold, each missing one said on stderr. */
static inline size_t findings_missing(const mp_model *m, const want_finding *want, size_t n)
{
	mp_model_view v = mp_model_get_view(m);
	size_t missing = 0;
	for (size_t i = 0; i < n; i++) {
		uint32_t k;
		for (k = 0; k < v.nfindings; k++) {
			const mp_import_finding *f = &v.findings[k];
			if (!strcmp(mp_model_str(m, f->code), want[i].code) &&
			    !strcmp(mp_model_str(m, f->subject), want[i].subject) &&
			    f->loc.line == want[i].line)
				break;
		}
		if (k == v.nfindings) {
			fprintf(stderr, "no finding %s of %s at line %u\n", want[i].code,
			        want[i].subject, want[i].line);
			missing++;
		}
	}
	return missing;
}

static inline uint32_t count_notes(const mp_diags *d, const char *text)
{
	uint32_t n = 0;
	for (uint32_t i = 0; i < d->n; i++)
		n += d->v[i].level == MP_DIAG_NOTE && strstr(d->v[i].msg, text) != NULL;
	return n;
}

/* The mesh providers' tests (test_linkerd.c, test_kuma.c): files named relative to a
 * directory of scenarios, compiled (at most 8; NULL and the diagnostics printed when they do
 * not compile). */
static inline mp_model *compile_in(const char *dir, const char *const *files, size_t n,
                                   const mp_compile_opts *o)
{
	char bufs[8][256];
	const char *paths[8];
	for (size_t i = 0; i < n && i < 8; i++) {
		snprintf(bufs[i], sizeof(bufs[i]), "%s/%s", dir, files[i]);
		paths[i] = bufs[i];
	}
	mp_diags d = {0};
	mp_model *m = compile_paths(paths, n < 8 ? n : 8, o, &d);
	mp_diags_free(&d);
	return m;
}

/* The route of that name, or NULL (said on stderr). */
static inline const mp_route *route_named(const mp_model *m, const char *name)
{
	mp_model_view v = mp_model_get_view(m);
	for (uint32_t i = 0; i < v.nroutes; i++)
		if (!strcmp(mp_model_str(m, v.routes[i].name), name))
			return &v.routes[i];
	fprintf(stderr, "no route %s\n", name);
	return NULL;
}

/* A malformed or unknown document: its text (compiled as bad.yaml), the diagnostic it must
 * give ("file:line:col: ...", NULL: any), and whether that is an error (the compile fails) or
 * a note. */
typedef struct {
	const char *name, *yaml, *message;
	int error;
} bad_row;

/* 1 when the row's text gives its diagnostic, else 0 after saying what it gave. */
static inline int bad_row_ok(const bad_row *b)
{
	mp_diags d = {0};
	mp_model *m = mp_compile_string("bad.yaml", b->yaml, strlen(b->yaml), &d);
	char *text = diags_text(&d);
	int ok = (!b->message || strstr(text, b->message)) &&
	         (b->error ? !m && d.errors : m && !d.errors);
	if (!ok)
		fprintf(stderr, "%s: want %s\n  %s\ngot\n%s\n", b->name,
		        b->error ? "the error" : "the note", b->message ? b->message : "-", text);
	free(text);
	mp_model_free(m);
	mp_diags_free(&d);
	return ok;
}

/* Compiles the sources and builds a snapshot with every engine allocation failing in turn,
 * until one succeeds: 1 when each failure gave NULL with an error (never a crash, and under
 * make check no leak), 0 otherwise. */
static inline int allocation_failures_ok(const char *const *src, size_t n)
{
	for (long k = 0; k < 1000000; k++) {
		mp_diags d = {0};
		mp_alloc_fail_after(k);
		mp_model *m = mp_compile(src, n, NULL, &d);
		mp_engine *e = m ? mp_engine_new(m, NULL) : NULL;
		mp_alloc_fail_after(-1);
		int said = m || d.errors > 0 || d.dropped > 0;
		mp_engine_release(e);
		mp_diags_free(&d);
		if (!said)
			return 0;
		if (e)
			return 1;
	}
	return 0;
}

/* A snapshot of the unit test bundle (tests/data/bundles/unit) and one evaluator for it: the
 * cmocka group setup and teardown of the decision tests; state points at a unit_fixture. */
typedef struct {
	mp_engine *e;
	mp_evaluator *ev;
} unit_fixture;

static inline int unit_bundle_setup(void **state)
{
	static unit_fixture f;
	mp_diags d = {0};
	setenv("MESHPOL_STDLIB", "stdlib", 1);
	f.e = mp_engine_open("tests/data/bundles/unit/mesh.yaml", "tests/data/bundles/unit", &d);
	mp_diags_print(&d, stderr);
	mp_diags_free(&d);
	if (!f.e)
		return -1;
	f.ev = mp_evaluator_new(f.e, NULL, &d);
	*state = &f;
	return f.ev ? 0 : -1;
}

static inline int unit_bundle_teardown(void **state)
{
	unit_fixture *f = *state;
	if (!f)
		return 0;
	mp_evaluator_free(f->ev);
	mp_engine_release(f->e);
	return 0;
}

#endif
