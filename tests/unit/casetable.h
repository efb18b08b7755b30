/* casetable.h: the data-driven runner of the mesh providers' semantics tables (cases.json:
 * scenario files, request, expected effect and the policy and rule a reason must name),
 * shared by test_authz.c (Istio: tests/data/import/authz), test_linkerd.c (Linkerd) and
 * test_consul.c (Consul). Each case compiles its scenario's files (plus a bundle directory when
 * it names one), decides its input through mp_decide and checks the effect, the reason (policy
 * and rule) and, when given, an advisory naming `advisory`. Engines are built once per
 * (scenario, bundle); casetable_engine_for gives a program's own tests one of them. A failure
 * prints the decision and its explanation. casetable_main runs a table and a program's other
 * tests as one cmocka group. Include it in one test file; it keeps one table. */
#ifndef MP_CASETABLE_H
#define MP_CASETABLE_H

#include "compile.h"
#include "decide.h"
#include "policy.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static json_t *casetable;
static const char *casetable_dir; /* the table's directory: scenario paths are relative to it */

/* One engine per (scenario, bundle), built on first use. */
typedef struct {
	char key[128];
	mp_engine *e;
	mp_evaluator *ev;
} casetable_engine;

static casetable_engine casetable_engines[32];
static int casetable_nengines;

static mp_evaluator *casetable_engine_for(const char *scenario, const char *bundle)
{
	char key[128];
	snprintf(key, sizeof(key), "%s+%s", scenario, bundle ? bundle : "");
	for (int i = 0; i < casetable_nengines; i++)
		if (!strcmp(casetable_engines[i].key, key))
			return casetable_engines[i].ev;
	if (casetable_nengines == 32)
		return NULL;
	json_t *files = json_object_get(json_object_get(casetable, "scenarios"), scenario);
	const char *paths[16];
	char bufs[16][256];
	size_t n = 0, i;
	json_t *f;
	json_array_foreach(files, i, f)
	{
		if (n == 16)
			break;
		snprintf(bufs[n], sizeof(bufs[n]), "%s/%s", casetable_dir, json_string_value(f));
		paths[n] = bufs[n];
		n++;
	}
	mp_diags d = {0};
	mp_model *m = mp_compile(paths, n, NULL, &d);
	mp_diags_print(&d, stderr);
	if (!m) {
		mp_diags_free(&d);
		return NULL;
	}
	mp_bundle *b = NULL;
	char bdir[256];
	if (bundle) {
		snprintf(bdir, sizeof(bdir), "%s/%s", casetable_dir, bundle);
		b = mp_bundle_load(bdir, m, "stdlib", &d);
		mp_diags_print(&d, stderr);
		if (!b) {
			mp_model_free(m);
			mp_diags_free(&d);
			return NULL;
		}
	}
	casetable_engine *c = &casetable_engines[casetable_nengines++];
	snprintf(c->key, sizeof(c->key), "%s", key);
	c->e = mp_engine_new(m, b);
	c->ev = c->e ? mp_evaluator_new(c->e, NULL, &d) : NULL;
	mp_diags_free(&d);
	return c->ev;
}

static int casetable_has_reason(json_t *list, const char *policy, const char *rule)
{
	size_t i;
	json_t *r;
	json_array_foreach(list, i, r)
	{
		if (!strcmp(json_string_value(json_object_get(r, "policy")), policy) &&
		    (!rule || !strcmp(json_string_value(json_object_get(r, "rule")), rule)))
			return 1;
	}
	return 0;
}

static void casetable_run(void **state)
{
	json_t *c = *state;
	const char *scenario = json_string_value(json_object_get(c, "scenario"));
	const char *bundle = json_string_value(json_object_get(c, "bundle"));
	const char *expect = json_string_value(json_object_get(c, "expect"));
	const char *policy = json_string_value(json_object_get(c, "policy"));
	const char *rule = json_string_value(json_object_get(c, "rule"));
	const char *advisory = json_string_value(json_object_get(c, "advisory"));
	mp_evaluator *ev = casetable_engine_for(scenario, bundle);
	assert_non_null(ev);
	mp_request req;
	mp_header hbuf[MP_REQUEST_MAX_HEADERS];
	char err[256];
	assert_int_equal(
	    mp_request_from_json(json_object_get(c, "input"), &req, hbuf, err, sizeof(err)), 0);
	mp_decision d;
	json_t *explain = json_array();
	mp_decide(ev, &req, &d, explain);
	json_t *out = mp_decision_json(mp_evaluator_engine(ev), &d, "test");
	int ok =
	    !strcmp(mp_effect_name(d.effect), expect) &&
	    (!policy || casetable_has_reason(json_object_get(out, "reasons"), policy, rule)) &&
	    (!advisory || casetable_has_reason(json_object_get(out, "advisories"), advisory, NULL));
	if (!ok) {
		char *text = json_dumps(out, JSON_INDENT(1));
		char *why = json_dumps(explain, JSON_INDENT(1));
		fprintf(stderr, "case '%s': want %s by %s %s%s%s\ngot %s\nexplain %s\n",
		        json_string_value(json_object_get(c, "name")), expect,
		        policy ? policy : "-", rule ? rule : "", advisory ? " with advisory " : "",
		        advisory ? advisory : "", text, why);
		free(text);
		free(why);
	}
	json_decref(out);
	json_decref(explain);
	assert_true(ok);
}

/* Loads dir/cases.json: 0, or -1 with the error printed. */
static int casetable_load(const char *dir)
{
	char path[256];
	json_error_t je;
	casetable_dir = dir;
	snprintf(path, sizeof(path), "%s/cases.json", dir);
	casetable = json_load_file(path, 0, &je);
	if (!casetable)
		fprintf(stderr, "%s:%d:%d: %s\n", path, je.line, je.column, je.text);
	return casetable ? 0 : -1;
}

/* The table's cases as cmocka tests, into tests (room for every case); their number. */
static size_t casetable_tests(struct CMUnitTest *tests)
{
	json_t *cases = json_object_get(casetable, "cases"), *c;
	size_t i;
	json_array_foreach(cases, i, c)
	{
		tests[i] = (struct CMUnitTest){0};
		tests[i].name = json_string_value(json_object_get(c, "name"));
		tests[i].test_func = casetable_run;
		tests[i].initial_state = c;
	}
	return json_array_size(cases);
}

static size_t casetable_size(void)
{
	return json_array_size(json_object_get(casetable, "cases"));
}

static int casetable_teardown(void **state);

/* A test program's main: dir's table, then the n other tests, as one cmocka group. */
static int casetable_main(const char *group, const char *dir, const struct CMUnitTest *more,
                          size_t nmore)
{
	setenv("MESHPOL_STDLIB", "stdlib", 1);
	if (casetable_load(dir) < 0)
		return 1;
	struct CMUnitTest *tests = calloc(casetable_size() + nmore + 1, sizeof(*tests));
	if (!tests)
		return 1;
	size_t n = casetable_tests(tests);
	for (size_t i = 0; i < nmore; i++)
		tests[n++] = more[i];
	int rc = _cmocka_run_group_tests(group, tests, n, NULL, casetable_teardown);
	free(tests);
	return rc;
}

static int casetable_teardown(void **state)
{
	(void)state;
	for (int i = 0; i < casetable_nengines; i++) {
		mp_evaluator_free(casetable_engines[i].ev);
		mp_engine_release(casetable_engines[i].e);
	}
	json_decref(casetable);
	return 0;
}

#endif
