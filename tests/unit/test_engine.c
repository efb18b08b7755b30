/* test_engine.c: engine/engine.c: snapshots that share one model (reference-counted, so a new
 * bundle over the same mesh needs no copy of it) and free it with the last of them; run under
 * `make check`, AddressSanitizer proves it is freed exactly once and never read after. */
#include "testutil.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "alloc.h"
#include "compile.h"
#include "decide.h"

#include <stdlib.h>
#include <string.h>

#define DIR  "tests/data/bundles/unit"
#define MESH DIR "/mesh.yaml"

/* The effect of web's charge against e (the unit bundle allows it). */
static const char *decide_effect(mp_engine *e)
{
	mp_request r = {.principal = "spiffe://t/ns/shop/sa/web",
	                .dst_service = "billing/pay",
	                .method = "POST",
	                .path = "/v1/charge"};
	mp_decision out;
	assert_int_equal(decide_once(e, &r, &out), 0);
	return mp_effect_name(out.effect);
}

/* Two snapshots over one model: the first let go, the second still decides; the model goes with
 * the second (a double free or a leak fails under make check). */
static void test_shared_model(void **state)
{
	(void)state;
	mp_diags d = {0};
	mp_engine *first = mp_engine_open(MESH, DIR, &d);
	assert_non_null(first);
	mp_model *m = first->model;
	mp_bundle *b = mp_bundle_load(DIR, m, NULL, &d);
	assert_non_null(b);
	mp_engine *second = mp_engine_new(mp_model_retain(m), b);
	assert_non_null(second);
	assert_ptr_equal(second->model, m);
	assert_string_equal(mp_model_sha256(second->model), mp_model_sha256(first->model));

	mp_engine_release(first);
	assert_int_not_equal(mp_model_find_service(m, "billing/pay"), MP_NONE);
	assert_string_equal(decide_effect(second), "allowed");
	mp_engine_release(second);
	assert_int_equal(d.errors, 0);
	mp_diags_free(&d);
}

/* A snapshot that cannot be made drops only its own reference: the model stays with the
 * snapshot that shares it. */
static void test_failed_snapshot_keeps_shared_model(void **state)
{
	(void)state;
	mp_diags d = {0};
	mp_engine *e = mp_engine_open(MESH, DIR, &d);
	assert_non_null(e);
	mp_alloc_fail_after(0);
	mp_engine *failed = mp_engine_new(mp_model_retain(e->model), NULL);
	mp_alloc_fail_after(-1);
	assert_null(failed);
	assert_string_equal(decide_effect(e), "allowed");
	mp_engine_release(e);
	mp_diags_free(&d);
}

/* A model nobody shares is freed by its one mp_model_free, as before. */
static void test_unshared_model(void **state)
{
	(void)state;
	mp_diags d = {0};
	mp_model *m = mp_model_open(MESH, &d);
	assert_non_null(m);
	mp_model_free(mp_model_retain(m));
	assert_int_not_equal(mp_model_find_service(m, "billing/pay"), MP_NONE);
	mp_model_free(m);
	mp_diags_free(&d);
}

int main(void)
{
	setenv("MESHPOL_STDLIB", "stdlib", 1);
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_shared_model),
	    cmocka_unit_test(test_failed_snapshot_keeps_shared_model),
	    cmocka_unit_test(test_unshared_model),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
