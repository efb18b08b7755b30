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
#include <unistd.h>

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

/* --- the model loaded beside the bundle (mp_engine_open_opts, jobs 2) --- */

/* Temporary inputs of the cases below: a mesh that does not compile, one .mpm cut short, a bundle
 * whose Lua does not load and one that loads but names what the mesh lacks (an error of the
 * compile, the step that waits for the model). */
static char bad_mesh[64], cut_mpm[64], *bad_lua, *bad_ref, bad_lua_dir[64], bad_ref_dir[64];

static int write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	int bad = !f || fputs(text, f) < 0;
	bad |= f && fclose(f) != 0;
	return bad ? -1 : 0;
}

static int inputs_setup(void **state)
{
	(void)state;
	int fd = mkstemps(strcpy(bad_mesh, "/tmp/meshpol-engine-XXXXXX.yaml"), 5);
	int fd2 = mkstemps(strcpy(cut_mpm, "/tmp/meshpol-engine-XXXXXX.mpm"), 4);
	if (fd < 0 || fd2 < 0)
		return -1;
	close(fd);
	close(fd2);
	const char *manifest = "name: b\nrevision: \"1\"\n";
	if (write_text(bad_mesh, "services:\n  - name: [\n") < 0 ||
	    write_text(cut_mpm, "MPM") < 0 ||
	    !(bad_lua = write_bundle_dir(manifest, "p.lua", "policy \"p\" {\n", NULL)))
		return -1;
	snprintf(bad_lua_dir, sizeof(bad_lua_dir), "%s", bad_lua);
	bad_ref =
	    write_bundle_dir(manifest, "p.lua",
	                     "policy \"p\" { version = \"1.0.0\", kind = \"rbac\" }\n"
	                     "allow \"x\" { service = \"nowhere/none\", methods = { \"GET\" } }\n",
	                     NULL);
	if (!bad_ref)
		return -1;
	snprintf(bad_ref_dir, sizeof(bad_ref_dir), "%s", bad_ref);
	return 0;
}

static int inputs_teardown(void **state)
{
	(void)state;
	unlink(bad_mesh);
	unlink(cut_mpm);
	return remove_bundle_dir(bad_lua_dir) | remove_bundle_dir(bad_ref_dir);
}

/* The snapshot and the diagnostics of one open with these jobs; *text: the diagnostics, printed
 * (free). */
static mp_engine *open_jobs(const char *model, const char *bundle, uint32_t jobs, char **text)
{
	mp_diags d = {0};
	mp_engine *e = mp_engine_open_opts(model, bundle, NULL, jobs, &d);
	*text = diags_text(&d);
	assert_true(e ? d.errors == 0 : d.errors > 0);
	mp_diags_free(&d);
	return e;
}

/* Each pair of inputs opened on one thread and on two: the same snapshot (model and bundle
 * hashes, rules, a decision) or the same failure, with byte for byte the same diagnostics, in
 * the order one thread gives them: a bad model's alone (one thread never loads the bundle after
 * it), then the bundle's. Each runs a few times, as the threads' race differs between runs. */
static void test_overlap_same_as_one_thread(void **state)
{
	(void)state;
	const struct {
		const char *model, *bundle; /* a bundle NULL: the model alone */
		int ok;
		const char *says; /* in the diagnostics, or NULL */
	} rows[] = {
	    {MESH, DIR, 1, NULL},
	    {MESH, "tests/data/bundles/archives/unit.tar.gz", 1, NULL},
	    {MESH, NULL, 1, NULL},
	    {"tests/data/no-such-mesh.yaml", DIR, 0, "no-such-mesh.yaml"},
	    {bad_mesh, DIR, 0, bad_mesh},
	    {cut_mpm, DIR, 0, NULL},
	    {MESH, "tests/data/no-such-bundle", 0, "no-such-bundle"},
	    {MESH, bad_lua_dir, 0, "p.lua"},
	    {MESH, bad_ref_dir, 0, "nowhere/none"},
	    {bad_mesh, bad_lua_dir, 0, bad_mesh},
	    {cut_mpm, bad_ref_dir, 0, NULL},
	    {bad_mesh, "tests/data/bundles/archives/tampered.tar.gz", 0, bad_mesh},
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		char *one_text, *two_text;
		mp_engine *one = open_jobs(rows[i].model, rows[i].bundle, 1, &one_text);
		assert_int_equal(!!one, rows[i].ok);
		if (rows[i].says && !strstr(one_text, rows[i].says))
			fail_msg("row %zu: '%s' not in:\n%s", i, rows[i].says, one_text);
		for (int run = 0; run < 5; run++) {
			mp_engine *two = open_jobs(rows[i].model, rows[i].bundle, 2, &two_text);
			assert_int_equal(!!two, rows[i].ok);
			assert_string_equal(two_text, one_text);
			if (two) {
				assert_string_equal(mp_model_sha256(two->model),
				                    mp_model_sha256(one->model));
				assert_int_equal(!two->bundle, !one->bundle);
				if (two->bundle) {
					assert_string_equal(two->bundle->sha256,
					                    one->bundle->sha256);
					assert_int_equal(two->bundle->nrules, one->bundle->nrules);
					assert_string_equal(decide_effect(two), "allowed");
				}
			}
			mp_engine_release(two);
			free(two_text);
		}
		mp_engine_release(one);
		free(one_text);
	}
}

/* Every allocation failing in turn from the k-th on, on either thread (the countdown is the
 * process's), while the model loads beside an archive refused before any of its Lua runs (the
 * loader's Lua is not written to survive a failing malloc: its sandbox's cap comes first): each
 * open gives NULL with an error and frees what either thread made (make check's
 * AddressSanitizer finds a leak or a double free), until the open gives the archive's own
 * errors, after the model's load succeeded. */
static void test_overlap_allocation_failures(void **state)
{
	(void)state;
	char mpm[64], err[256];
	int fd = mkstemps(strcpy(mpm, "/tmp/meshpol-engine-XXXXXX.mpm"), 4);
	assert_true(fd >= 0);
	close(fd);
	mp_diags md = {0};
	mp_model *m = mp_model_open(MESH, &md);
	assert_non_null(m);
	assert_int_equal(mp_model_save(m, mpm, err, sizeof(err)), 0);
	mp_model_free(m);
	mp_diags_free(&md);
	const char *models[] = {MESH, mpm},
	           *tampered = "tests/data/bundles/archives/tampered.tar.gz";
	for (size_t i = 0; i < 2; i++) {
		char *want;
		assert_null(open_jobs(models[i], tampered, 1, &want));
		int done = 0;
		for (long k = 0; !done; k++) {
			mp_diags d = {0};
			mp_alloc_fail_after(k);
			mp_engine *e = mp_engine_open_opts(models[i], tampered, NULL, 2, &d);
			mp_alloc_fail_after(-1);
			char *got = diags_text(&d);
			assert_null(e);
			assert_true(d.errors > 0 || d.dropped > 0);
			done = !strcmp(got, want);
			free(got);
			mp_diags_free(&d);
			assert_true(k < 1000000);
		}
		free(want);
	}
	unlink(mpm);
}

int main(void)
{
	setenv("MESHPOL_STDLIB", "stdlib", 1);
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_shared_model),
	    cmocka_unit_test(test_failed_snapshot_keeps_shared_model),
	    cmocka_unit_test(test_unshared_model),
	    cmocka_unit_test_setup_teardown(test_overlap_same_as_one_thread, inputs_setup,
	                                    inputs_teardown),
	    cmocka_unit_test(test_overlap_allocation_failures),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
