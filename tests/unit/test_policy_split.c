/* test_policy_split.c: engine/policy_split.c, a directory's policy files loaded on two threads:
 * for every kind of bundle (the reference bundle, the test bundles, generated ones with errors
 * in both halves, a nondeterministic call, functions, modules, duplicates, in-memory files and
 * skips) the two-thread load gives what one thread gives: the same compiled bundle field by
 * field, the same units per file, the same diagnostics in the same order; and the split did
 * happen (files were injected) where it can. Hostile: the instruction budget, memory on the
 * second thread, a second thread that cannot start, an oversized or dangling file. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "bundledump.h"
#include "policy_int.h"
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* One load: the bundle (or NULL), its dump, its diagnostics as text, the injected files. */
typedef struct {
	char *dump, *diags;
	uint32_t injected;
	int loaded;
} outcome;

static outcome load_with(const mp_bundle_source *src0, const mp_model *m, uint32_t jobs)
{
	mp_bundle_source src = *src0;
	mp_diags d = {0};
	pol_given g = {0};
	outcome o = {0};
	src.jobs = jobs;
	mp_bundle *b = pol_load_source(&src, &g, m, NULL, &d);
	o.loaded = b != NULL;
	o.dump = b ? bundle_dump(b, m) : strdup("(not loaded)\n");
	o.diags = diags_text(&d);
	o.injected = g.injected;
	mp_bundle_free(b);
	mp_diags_free(&d);
	return o;
}

static void outcome_free(outcome *o)
{
	free(o->dump);
	free(o->diags);
}

/* src loaded on one thread and on two gives the same; returns how many files two injected. */
static uint32_t same_both_ways(const mp_bundle_source *src, const mp_model *m, int want_loaded)
{
	outcome one = load_with(src, m, 1), two = load_with(src, m, 2);
	if (want_loaded >= 0 && one.loaded != want_loaded)
		print_error("%s: %s", src->dir ? src->dir : "(memory)", one.diags);
	if (want_loaded >= 0)
		assert_int_equal(one.loaded, want_loaded);
	assert_int_equal(one.injected, 0);
	assert_int_equal(one.loaded, two.loaded);
	same_text(two.diags, one.diags);
	same_text(two.dump, one.dump);
	uint32_t n = two.injected;
	outcome_free(&one);
	outcome_free(&two);
	return n;
}

static mp_model *model_of(const char *bundle)
{
	char path[4096];
	mp_diags d = {0};
	assert_int_equal(mp_bundle_model_hint(bundle, path, sizeof(path)), 0);
	const char *p = path;
	mp_model *m = mp_compile(&p, 1, NULL, &d);
	mp_diags_free(&d);
	assert_non_null(m);
	return m;
}

/* The bundles of the repository: the reference bundle (whose files declare functions, roles
 * and checks), the unit bundle, and the integrity bundles (shared requests, counters, load
 * costs, advisory errors; not pairs/, whose rule names follow pairs() order, which differs from
 * one state to the next on one thread too). */
static void test_repository_bundles(void **state)
{
	(void)state;
	static const struct {
		const char *dir;
		int loads;
		uint32_t min_injected;
	} rows[] = {
	    {"policies", 1, 1},
	    {"tests/data/bundles/unit", 1, 1},
	    {"tests/data/bundles/guide-mistakes", 0, 0},
	    {"tests/data/integrity/sharedreq", 1, 0},
	    {"tests/data/integrity/counter", -1, 0},
	    {"tests/data/integrity/loadcost", -1, 0},
	    {"tests/data/integrity/adverr", -1, 0},
	    {"tests/data/integrity/lazyreq", -1, 0},
	};
	setenv("MESHPOL_STDLIB", "stdlib", 1);
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		mp_model *m = model_of(rows[i].dir);
		mp_bundle_source src = {.dir = rows[i].dir};
		uint32_t n = same_both_ways(&src, m, rows[i].loads);
		if (n < rows[i].min_injected)
			print_error("%s: %u injected\n", rows[i].dir, n);
		assert_true(n >= rows[i].min_injected);
		mp_model_free(m);
	}
}

/* A generated bundle: n files named f00.lua ... of rules, with files[k] replaced where given. */
static char *gen_bundle(uint32_t n, const char *const *special, const uint32_t *at, size_t nspecial)
{
	char *dir = write_bundle_dir("name: gen\nrevision: \"1\"\ndefault: deny\n", NULL);
	assert_non_null(dir);
	dir = strdup(dir);
	for (uint32_t i = 0; i < n; i++) {
		char path[256];
		snprintf(path, sizeof(path), "%s/f%02u.lua", dir, i);
		FILE *f = fopen(path, "w");
		assert_non_null(f);
		const char *text = NULL;
		for (size_t k = 0; k < nspecial; k++)
			if (at[k] == i)
				text = special[k];
		if (text) {
			fputs(text, f);
		} else {
			fprintf(f,
			        "policy \"gen.f%02u\" { version = \"1.0.0\", kind = \"rbac\" }\n",
			        i);
			for (int r = 0; r < 20; r++)
				fprintf(f,
				        "allow \"r%02d\" { service = \"billing/pay\", methods = { "
				        "\"GET\" "
				        "}, paths = { \"/v1/%u/%d\" },\n  from = { principals = { "
				        "\"spiffe://t/ns/shop/sa/web\" } } }\n",
				        r, i, r);
		}
		fclose(f);
	}
	return dir;
}

static void ungen(char *dir)
{
	remove_bundle_dir(dir);
	free(dir);
}

/* Every kind of file in the second half, none of which may be injected, beside plain files in
 * both halves; the same rule names in both halves (in their own policies). */
static void test_every_kind_of_file(void **state)
{
	mp_model *m = *state;
	static const char *const special[] = {
	    /* a clock: the file runs (its message the same in every load: a second may pass
	     * between the loads compared) */
	    "policy \"gen.clock\" { version = \"1.0.0\", kind = \"custom\" }\n"
	    "allow \"r00\" { service = \"billing/pay\",\n"
	    "  message = \"at \" .. tostring(os.time() > 0) }\n",
	    /* a function */
	    "policy \"gen.when\" { version = \"1.0.0\", kind = \"custom\" }\n"
	    "allow \"r00\" { service = \"billing/pay\", when = function(req) return true end }\n",
	    /* a role and its binding, a check */
	    "policy \"gen.role\" { version = \"1.0.0\", kind = \"rbac\" }\n"
	    "role \"reader\" { allow { service = \"billing/pay\", methods = { \"GET\" } } }\n"
	    "bind \"reader\" { principals = { \"spiffe://t/ns/shop/sa/web\" } }\n"
	    "check \"c\" { description = \"d\", run = function() return {} end }\n",
	    /* a module another file may have changed: a file before it writes, this one reads */
	    "local s = require(\"meshpol.dsl\").state\n"
	    "policy \"gen.mod\" { version = \"1.0.0\", kind = \"rbac\" }\n"
	    "allow (\"seen-\" .. tostring(s.mark)) { service = \"billing/pay\" }\n",
	    "require(\"meshpol.dsl\").state.mark = \"first-half\"\n"
	    "policy \"gen.writer\" { version = \"1.0.0\", kind = \"rbac\" }\n"
	    "allow \"w\" { service = \"billing/pay\" }\n",
	    /* no policy, nothing declared */
	    "local x = 1\n",
	};
	static const uint32_t at[] = {20, 22, 24, 26, 3, 28};
	char *dir = gen_bundle(30, special, at, sizeof(at) / sizeof(at[0]));
	mp_bundle_source src = {.dir = dir};
	uint32_t n = same_both_ways(&src, m, 1);
	/* the plain files of the second half and the empty one, at least */
	assert_true(n >= 5);
	/* the module file saw what the first half wrote */
	outcome two = load_with(&src, m, 2);
	assert_non_null(strstr(two.dump, "seen-first-half"));
	outcome_free(&two);
	ungen(dir);
}

/* DSL misuse, a syntax error and a runtime error in both halves, and the same policy name in
 * both: the diagnostics of one thread, in its order. */
static void test_errors_in_both_halves(void **state)
{
	mp_model *m = *state;
	static const char *const special[] = {
	    "policy \"gen.e1\" { version = \"1.0.0\", kind = \"rbac\" }\nallow (42) { }\n",
	    "policy \"gen.e2\" { version = \"1.0.0\", kind = \"rbac\" \n",
	    "policy \"gen.e3\" { version = \"1.0.0\", kind = \"rbac\" }\nerror(\"boom\")\n",
	    "policy \"gen.e4\" { version = \"1.0.0\", kind = \"rbac\" }\nallow \"x\" (1)\n",
	    "policy \"gen.e5\" { version = \"1.0.0\", kind = \"rbac\" \n",
	    "policy \"gen.e6\" { version = \"1.0.0\", kind = \"rbac\" }\nlocal t = nil; t.x = 1\n",
	    "policy \"gen.f01\" { version = \"1.0.0\", kind = \"rbac\" }\n"
	    "allow \"bad-method\" { service = \"billing/pay\", methods = { \"FETCH\" } }\n"
	    "allow \"nowhere\" { service = \"nope/none\" }\n",
	};
	static const uint32_t at[] = {2, 4, 6, 20, 22, 24, 26};
	char *dir = gen_bundle(30, special, at, sizeof(at) / sizeof(at[0]));
	mp_bundle_source src = {.dir = dir};
	same_both_ways(&src, m, 0);
	ungen(dir);
}

/* In-memory files among the directory's split too; with skips nothing is injected. */
static void test_in_memory_files(void **state)
{
	mp_model *m = *state;
	char *dir = gen_bundle(24, NULL, NULL, 0);
	static const char mem[] = "policy \"mem\" { version = \"1.0.0\", kind = \"rbac\" }\n"
	                          "allow \"r00\" { service = \"billing/pay\" }\n";
	mp_bundle_text files[] = {{"f10z.lua", mem, sizeof(mem) - 1},
	                          {"zz.lua", mem, sizeof(mem) - 1}};
	mp_bundle_source src = {.dir = dir, .files = files, .nfiles = 1};
	assert_true(same_both_ways(&src, m, 1) > 0);
	mp_bundle_skip skip = {"allow", "r00", 0, 1};
	src.skips = &skip;
	src.nskips = 1;
	assert_int_equal(same_both_ways(&src, m, 1), 0);
	/* the same policy name twice, one from memory in the second half */
	files[1].text = "policy \"gen.f01\" { version = \"1.0.0\", kind = \"rbac\" }\n";
	files[1].len = strlen(files[1].text);
	src.skips = NULL;
	src.nskips = 0;
	src.files = &files[1];
	same_both_ways(&src, m, 0);
	ungen(dir);
}

/* A file that runs out of its instruction budget, and one that asks for more memory than the
 * cap, in the second half: the loader runs them and reports what one thread reports. */
static void test_budget_and_memory(void **state)
{
	mp_model *m = *state;
	static const char *const special[] = {
	    "policy \"gen.loop\" { version = \"1.0.0\", kind = \"rbac\" }\nwhile true do end\n",
	    "policy \"gen.big\" { version = \"1.0.0\", kind = \"rbac\" }\n"
	    "local s = string.rep(\"x\", 1 << 30)\n",
	};
	static const uint32_t at[] = {20, 22};
	char *dir = gen_bundle(24, special, at, 2);
	mp_bundle_source src = {.dir = dir};
	assert_int_equal(same_both_ways(&src, m, 0), 0);
	ungen(dir);
}

/* Two files that each keep 70 MB: one thread runs out of memory at the second (the cap is
 * 128 MiB), two threads each could hold theirs; the loader sees that the two together pass
 * the cap and runs every file, as one thread. */
static void test_memory_of_both_parts(void **state)
{
	mp_model *m = *state;
	static const char *const special[] = {
	    "policy \"gen.m1\" { version = \"1.0.0\", kind = \"rbac\",\n"
	    "  description = string.rep(\"a\", 70 << 20) }\n",
	    "policy \"gen.m2\" { version = \"1.0.0\", kind = \"rbac\",\n"
	    "  description = string.rep(\"b\", 70 << 20) }\n",
	};
	static const uint32_t at[] = {0, 5};
	char *dir = gen_bundle(6, special, at, 2);
	mp_bundle_source src = {.dir = dir};
	outcome one = load_with(&src, m, 1);
	assert_false(one.loaded);
	assert_non_null(strstr(one.diags, "not enough memory"));
	outcome_free(&one);
	assert_int_equal(same_both_ways(&src, m, 0), 0);
	ungen(dir);
}

/* The second thread's state cannot start, or meets a memory error (the files of the second half
 * fit the loader's cap, not the thread's): the loader runs every file itself. */
static void test_second_thread_fails(void **state)
{
	mp_model *m = *state;
	static const char *const special[] = {
	    "policy \"gen.wide\" { version = \"1.0.0\", kind = \"rbac\",\n"
	    "  description = string.rep(\"w\", 200000) }\n",
	};
	static const uint32_t at[] = {22};
	char *dir = gen_bundle(24, special, at, 1);
	mp_bundle_source src = {.dir = dir};
	pol_split_test_mem_limit(1024); /* no state starts in 1 KiB */
	assert_int_equal(same_both_ways(&src, m, 1), 0);
	pol_split_test_mem_limit(320 << 10); /* the DSL loads, the wide file does not fit */
	assert_int_equal(same_both_ways(&src, m, 1), 0);
	pol_split_test_mem_limit(0);
	assert_true(same_both_ways(&src, m, 1) > 0);
	ungen(dir);
}

/* A file over the 16 MiB limit and a dangling link among the files: reported before any runs,
 * the same way. */
static void test_unreadable_files(void **state)
{
	mp_model *m = *state;
	char *dir = gen_bundle(24, NULL, NULL, 0), path[256];
	snprintf(path, sizeof(path), "%s/f21.lua", dir);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	for (int i = 0; i < (17 << 10); i++)
		fprintf(f, "-- %1020d\n", i);
	fclose(f);
	snprintf(path, sizeof(path), "%s/f22.lua", dir);
	unlink(path);
	assert_int_equal(symlink("/nonexistent/meshpol", path), 0);
	mp_bundle_source src = {.dir = dir};
	same_both_ways(&src, m, 0);
	ungen(dir);
}

/* $MESHPOL_LOAD_JOBS: 1 keeps one thread whatever the size; 2 splits a bundle of any size. */
static void test_environment(void **state)
{
	mp_model *m = *state;
	char *dir = gen_bundle(4, NULL, NULL, 0);
	mp_bundle_source src = {.dir = dir};
	setenv("MESHPOL_LOAD_JOBS", "2", 1);
	outcome two = load_with(&src, m, 0);
	setenv("MESHPOL_LOAD_JOBS", "1", 1);
	outcome one = load_with(&src, m, 0);
	unsetenv("MESHPOL_LOAD_JOBS");
	outcome small = load_with(&src, m, 0); /* too small to pay */
	assert_true(two.injected > 0);
	assert_int_equal(one.injected, 0);
	assert_int_equal(small.injected, 0);
	same_text(two.dump, one.dump);
	outcome_free(&one);
	outcome_free(&two);
	outcome_free(&small);
	ungen(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_repository_bundles),
	    cmocka_unit_test(test_every_kind_of_file),
	    cmocka_unit_test(test_errors_in_both_halves),
	    cmocka_unit_test(test_in_memory_files),
	    cmocka_unit_test(test_budget_and_memory),
	    cmocka_unit_test(test_memory_of_both_parts),
	    cmocka_unit_test(test_second_thread_fails),
	    cmocka_unit_test(test_unreadable_files),
	    cmocka_unit_test(test_environment),
	};
	return cmocka_run_group_tests(tests, unit_mesh_setup, unit_mesh_teardown);
}
