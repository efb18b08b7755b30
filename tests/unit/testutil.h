/* testutil.h: small helpers shared by the cmocka tests. */
#ifndef MP_TESTUTIL_H
#define MP_TESTUTIL_H

#include "diag.h"
#include "engine.h"

#include <stdio.h>
#include <stdlib.h>

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
