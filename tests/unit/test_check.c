/* test_check.c: engine/check.c, the table of audit checks: the rows' invariants, every import
 * finding code listed by a row, and the audit's progress as the sum of the weights of the rows
 * that run, with and without a bundle and with --policy meshpol.import. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "audit.h"
#include "check.h"
#include "compile.h"

#include <stdlib.h>
#include <string.h>

static void test_rows(void **state)
{
	(void)state;
	const mp_check_row *r;
	uint32_t n = 0, naudit = 0, weights = 0;
	for (uint32_t i = 0; (r = mp_check_at(i)); i++, n++) {
		assert_non_null(r->id);
		assert_true(r->id[0] != '\0');
		assert_ptr_equal(mp_check_find(r->id), r); /* ids are unique */
		if (r->phase == MP_CHECK_AUDIT) {
			naudit++;
			assert_non_null(r->audit);
			assert_null(r->import);
			assert_null(r->codes);
			assert_true(r->weight > 0);
			weights += r->weight;
		} else {
			assert_int_equal(r->phase, MP_CHECK_IMPORT);
			assert_null(r->audit);
			assert_null(r->applies);
			assert_non_null(r->codes);
			assert_non_null(r->codes[0]);
			assert_int_equal(r->weight, 0);
		}
	}
	assert_true(naudit >= 5);
	/* shares of the bar (engine/audit.c, above mp_audit_checks): an audit running every row
	 * shows percents */
	assert_int_equal(weights, 100);
	assert_true(n > naudit);
	assert_null(mp_check_at(n));
	assert_null(mp_check_find("no-such-check"));
	assert_null(mp_check_find(NULL));
	/* the auditor's rows run first, in their documented order */
	static const char *const order[] = {"policy-checks", "residency", "rbac", "routes",
	                                    "import-findings"};
	for (uint32_t i = 0; i < 5; i++)
		assert_string_equal(mp_check_at(i)->id, order[i]);
	/* a code reported by two rows is found twice, then no more */
	const mp_check_row *a = mp_check_for_code("Deprecated", NULL);
	assert_non_null(a);
	const mp_check_row *b = mp_check_for_code("Deprecated", a);
	assert_non_null(b);
	assert_ptr_not_equal(a, b);
	assert_null(mp_check_for_code("Deprecated", b));
	assert_null(mp_check_for_code("NoSuchCode", NULL));
}

/* Every finding the importer stores has a row that lists its code. */
static void test_codes_listed(void **state)
{
	(void)state;
	static const char *const dirs[] = {"tests/data/import/findings",
	                                   "tests/data/import/mesh",
	                                   "tests/data/import/multi",
	                                   "tests/data/import/linkerd/audit.yaml",
	                                   "tests/data/import/linkerd/annotations.yaml",
	                                   "tests/data/import/linkerd/outbound.yaml",
	                                   "tests/data/import/linkerd/identity-literal.yaml"};
	uint32_t seen = 0;
	for (size_t k = 0; k < sizeof(dirs) / sizeof(dirs[0]); k++) {
		mp_diags d = {0};
		mp_model *m = mp_model_open(dirs[k], &d);
		mp_diags_free(&d);
		assert_non_null(m);
		mp_model_view v = mp_model_get_view(m);
		for (uint32_t i = 0; i < v.nfindings; i++, seen++) {
			const char *code = mp_model_str(m, v.findings[i].code);
			if (!mp_check_for_code(code, NULL))
				fail_msg("finding code %s is listed by no row of the check table",
				         code);
		}
		mp_model_free(m);
	}
	/* Istio's analyzer table, as `meshpol audit` analyses it */
	static const char *const istio[] = {
	    "authz",        "conditions", "deployment", "deprecation",   "destinationrule",
	    "envoyfilter",  "gateway",    "injection",  "k8sgateway",    "service",
	    "serviceentry", "sidecar",    "telemetry",  "virtualservice"};
	mp_compile_opts o = {.analyze = 1};
	for (size_t k = 0; k < sizeof(istio) / sizeof(istio[0]); k++) {
		char path[256];
		mp_diags d = {0};
		snprintf(path, sizeof(path), "tests/data/import/istio/%s", istio[k]);
		mp_model *m = mp_model_open_opts(path, &o, &d);
		mp_diags_free(&d);
		assert_non_null(m);
		mp_model_view v = mp_model_get_view(m);
		for (uint32_t i = 0; i < v.nfindings; i++, seen++)
			if (!mp_check_for_code(mp_model_str(m, v.findings[i].code), NULL))
				fail_msg("finding code %s is listed by no row of the check table",
				         mp_model_str(m, v.findings[i].code));
		mp_model_free(m);
	}
	assert_true(seen >= 300);
}

typedef struct {
	uint64_t done, total, calls;
	uint64_t by_rows; /* the weights of the rows whose id was reported as a step */
	int backwards;    /* done went down, or total changed */
} progress_log;

static void on_progress(void *ctx, const char *step, uint64_t done, uint64_t total)
{
	progress_log *p = ctx;
	if ((p->calls && (done < p->done || total != p->total)) || done > total)
		p->backwards = 1;
	const mp_check_row *r = mp_check_find(step);
	if (r && r->phase == MP_CHECK_AUDIT && done == p->by_rows + r->weight)
		p->by_rows += r->weight; /* a row's last step names it */
	p->done = done;
	p->total = total;
	p->calls++;
}

/* Runs the audit of model with bundle (NULL: none); the result in *out, the progress in *p. */
static void audit_of(const char *model, const char *bundle, const char *only, json_t **out,
                     progress_log *p)
{
	mp_diags d = {0};
	setenv("MESHPOL_STDLIB", "stdlib", 1);
	mp_engine *e = mp_engine_open(model, bundle, &d);
	mp_diags_print(&d, stderr);
	assert_non_null(e);
	mp_evaluator *ev = mp_evaluator_new(e, NULL, &d);
	assert_non_null(ev);
	memset(p, 0, sizeof(*p));
	mp_audit_opts o = {.fail_on = MP_ENF_HARD,
	                   .now = 1,
	                   .only_policy = only,
	                   .progress = on_progress,
	                   .progress_ctx = p};
	*out = mp_audit_run(ev, &o);
	assert_non_null(*out);
	mp_evaluator_free(ev);
	mp_engine_release(e);
	mp_diags_free(&d);
}

static void test_progress_with_bundle(void **state)
{
	(void)state;
	json_t *a;
	progress_log p;
	audit_of("tests/data/audit/rbac", "tests/data/audit/rbac-bundle", NULL, &a, &p);
	assert_false(p.backwards);
	assert_true(p.calls > 1);
	assert_int_equal(p.done, p.total);
	assert_int_equal(p.by_rows, p.total); /* the total is the sum of the rows that ran */
	/* rbac and routes run here (the bundle has allow rules and roles; the model routes) */
	assert_true(p.total >= mp_check_find("rbac")->weight + mp_check_find("routes")->weight);
	assert_false(json_is_null(json_object_get(a, "bundle")));
	json_decref(a);
}

static void test_progress_without_bundle(void **state)
{
	(void)state;
	json_t *a;
	progress_log p;
	audit_of("tests/data/import/findings", NULL, NULL, &a, &p);
	assert_false(p.backwards);
	assert_int_equal(p.total, mp_check_find("import-findings")->weight);
	assert_int_equal(p.done, p.total);
	assert_true(json_is_null(json_object_get(a, "bundle")));
	assert_int_equal(json_array_size(json_object_get(a, "policies")), 0);
	size_t i;
	json_t *f;
	assert_true(json_array_size(json_object_get(a, "findings")) >= 20);
	json_array_foreach(json_object_get(a, "findings"), i, f)
	    assert_string_equal(json_string_value(json_object_get(f, "policy")), MP_IMPORT_POLICY);
	json_array_foreach(json_object_get(a, "rules"), i, f)
	    assert_string_equal(json_string_value(json_object_get(f, "policy")), MP_IMPORT_POLICY);
	assert_string_equal(json_string_value(json_object_get(a, "result")), "fail");
	json_decref(a);

	/* a model without import findings and no bundle: nothing runs, nothing is found */
	audit_of("tests/data/audit/clean", NULL, NULL, &a, &p);
	assert_int_equal(p.total, 0);
	assert_int_equal(p.calls, 0);
	assert_int_equal(json_array_size(json_object_get(a, "rules")), 0);
	assert_string_equal(json_string_value(json_object_get(a, "result")), "pass");
	json_decref(a);
}

static void test_progress_only_import(void **state)
{
	(void)state;
	json_t *a;
	progress_log p;
	audit_of("tests/data/import/multi", "tests/data/import/bundle", MP_IMPORT_POLICY, &a, &p);
	assert_int_equal(p.total, mp_check_find("import-findings")->weight);
	assert_int_equal(p.done, p.total);
	assert_true(json_array_size(json_object_get(a, "findings")) > 0);
	json_decref(a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_rows),
	    cmocka_unit_test(test_codes_listed),
	    cmocka_unit_test(test_progress_with_bundle),
	    cmocka_unit_test(test_progress_without_bundle),
	    cmocka_unit_test(test_progress_only_import),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
