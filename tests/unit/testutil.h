/* testutil.h: small helpers shared by the cmocka tests. */
#ifndef MP_TESTUTIL_H
#define MP_TESTUTIL_H

#include "compile.h"
#include "diag.h"
#include "engine.h"
#include "model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* How many imported resources of a kind, and import findings of a code, the model holds. */
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
