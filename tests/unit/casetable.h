/* casetable.h: the runner of the mesh providers' semantics tables (tests/data/import/authz,
 * tests/data/import/linkerd: cases.json), shared by their tests. A table names scenarios (the
 * files each compiles, in order) and cases: a scenario, an optional bundle, a decision input,
 * and what mp_decide must say: the effect, a reason naming `policy` with `rule`, and an
 * advisory naming `advisory`. One cmocka test per case; a failure prints the decision and its
 * explanation. Include it in one test file; it keeps one table. */
#ifndef MP_CASETABLE_H
#define MP_CASETABLE_H

#include "compile.h"
#include "decide.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *case_dir; /* the table's directory */
static json_t *case_table;

/* One engine per (scenario, bundle), built on first use. */
typedef struct {
	char key[128];
	mp_engine *e;
	mp_evaluator *ev;
} case_engine;

static case_engine case_engines[32];
static int case_nengines;

static mp_evaluator *case_engine_for(const char *scenario, const char *bundle)
{
	char key[128];
	snprintf(key, sizeof(key), "%s+%s", scenario, bundle ? bundle : "");
	for (int i = 0; i < case_nengines; i++)
		if (!strcmp(case_engines[i].key, key))
			return case_engines[i].ev;
	json_t *files = json_object_get(json_object_get(case_table, "scenarios"), scenario);
	const char *paths[8];
	char bufs[8][256];
	size_t n = 0, i;
	json_t *f;
	json_array_foreach(files, i, f)
	{
		if (n == 8)
			break;
		snprintf(bufs[n], sizeof(bufs[n]), "%s/%s", case_dir, json_string_value(f));
		paths[n] = bufs[n];
		n++;
	}
	mp_diags d = {0};
	mp_model *m = mp_compile(paths, n, NULL, &d);
	mp_diags_print(&d, stderr);
	if (!m || case_nengines == (int)(sizeof(case_engines) / sizeof(case_engines[0]))) {
		mp_model_free(m);
		mp_diags_free(&d);
		return NULL;
	}
	mp_bundle *b = NULL;
	char bdir[256];
	if (bundle) {
		snprintf(bdir, sizeof(bdir), "%s/%s", case_dir, bundle);
		b = mp_bundle_load(bdir, m, "stdlib", &d);
		mp_diags_print(&d, stderr);
		if (!b) {
			mp_model_free(m);
			mp_diags_free(&d);
			return NULL;
		}
	}
	case_engine *c = &case_engines[case_nengines++];
	snprintf(c->key, sizeof(c->key), "%s", key);
	c->e = mp_engine_new(m, b);
	c->ev = c->e ? mp_evaluator_new(c->e, NULL, &d) : NULL;
	mp_diags_free(&d);
	return c->ev;
}

static int case_has_reason(json_t *list, const char *policy, const char *rule)
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

static void case_run(void **state)
{
	json_t *c = *state;
	const char *scenario = json_string_value(json_object_get(c, "scenario"));
	const char *bundle = json_string_value(json_object_get(c, "bundle"));
	const char *expect = json_string_value(json_object_get(c, "expect"));
	const char *policy = json_string_value(json_object_get(c, "policy"));
	const char *rule = json_string_value(json_object_get(c, "rule"));
	const char *advisory = json_string_value(json_object_get(c, "advisory"));
	mp_evaluator *ev = case_engine_for(scenario, bundle);
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
	int ok = !strcmp(mp_effect_name(d.effect), expect) &&
	         (!policy || case_has_reason(json_object_get(out, "reasons"), policy, rule)) &&
	         (!advisory || case_has_reason(json_object_get(out, "advisories"), advisory, NULL));
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

/* Loads DIR/cases.json; *tests gets one test per case and room for extra more (free it).
 * The count of case tests, or -1 after printing why. */
static int case_tests(const char *dir, struct CMUnitTest **tests, size_t extra)
{
	char path[512];
	json_error_t je;
	case_dir = dir;
	snprintf(path, sizeof(path), "%s/cases.json", dir);
	case_table = json_load_file(path, 0, &je);
	if (!case_table) {
		fprintf(stderr, "%s:%d:%d: %s\n", path, je.line, je.column, je.text);
		return -1;
	}
	json_t *cases = json_object_get(case_table, "cases"), *c;
	size_t n = json_array_size(cases), i;
	*tests = calloc(n + extra, sizeof(**tests));
	if (!*tests)
		return -1;
	json_array_foreach(cases, i, c)
	{
		(*tests)[i].name = json_string_value(json_object_get(c, "name"));
		(*tests)[i].test_func = case_run;
		(*tests)[i].initial_state = c;
	}
	return (int)n;
}

/* The group teardown: every engine, then the table. */
static int case_teardown(void **state)
{
	(void)state;
	for (int i = 0; i < case_nengines; i++) {
		mp_evaluator_free(case_engines[i].ev);
		mp_engine_release(case_engines[i].e);
	}
	json_decref(case_table);
	return 0;
}

#endif
