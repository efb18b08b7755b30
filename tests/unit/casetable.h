/* casetable.h: the data-driven runner of the mesh providers' semantics tables (cases.json:
 * scenario files, request, expected effect and the policy and rule a reason must name),
 * shared by test_authz.c (Istio: tests/data/import/authz), test_linkerd.c (Linkerd) and
 * test_consul.c (Consul); and of analyzer tables (test_analyze_istio.c: a case's files, the
 * findings Istio's analyzer reports on them, the codes of its domain, nothing else). Each case
 * compiles its scenario's files (plus a bundle directory when it names one), decides its input
 * through mp_decide and checks the effect, the reason (policy and rule) and, when given, an
 * advisory naming `advisory`. Engines are built once per (scenario, bundle); casetable_engine_for
 * gives a program's own tests one of them. A failure prints the decision and its explanation.
 * casetable_main runs a table and a program's other tests as one cmocka group. Include it in one
 * test file; it keeps one table. */
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

/* --- analyzer tables: a case's files compiled as `meshpol audit` analyses them, and its
 * findings against those it expects --- */

/* The case's files: its own "files", else its scenario's, relative to the table's directory. */
static size_t casetable_paths(json_t *c, char bufs[][256], const char **paths, size_t max)
{
	json_t *files = json_object_get(c, "files"), *f;
	size_t n = 0, i;
	if (!files)
		files = json_object_get(json_object_get(casetable, "scenarios"),
		                        json_string_value(json_object_get(c, "scenario")));
	json_array_foreach(files, i, f)
	{
		if (n == max)
			break;
		snprintf(bufs[n], 256, "%s/%s", casetable_dir, json_string_value(f));
		paths[n] = bufs[n];
		n++;
	}
	return n;
}

/* Does finding f answer the expected one e: its code, its subject, its line and a piece of
 * its text when e gives them, and Istio's code ("[ISTxxxx] " before its text) when e gives
 * one? */
static int casetable_finding_is(const mp_model *m, const mp_import_finding *f, json_t *e)
{
	const char *code = json_string_value(json_object_get(e, "code"));
	const char *subject = json_string_value(json_object_get(e, "subject"));
	const char *ist = json_string_value(json_object_get(e, "ist"));
	const char *has = json_string_value(json_object_get(e, "text"));
	json_t *line = json_object_get(e, "line");
	const char *text = mp_model_str(m, f->text);
	char want[32];
	snprintf(want, sizeof(want), "[%s] ", ist ? ist : "");
	return !strcmp(mp_model_str(m, f->code), code) &&
	       !strcmp(mp_model_str(m, f->subject), subject) &&
	       (!line || (json_int_t)f->loc.line == json_integer_value(line)) &&
	       (!ist || !strncmp(text, want, strlen(want))) && (!has || strstr(text, has));
}

/* An analyzer case: the expected findings ("findings") are there, each once, and nothing else
 * of the analyzer's domain ("domain": its codes, "CODE|text" narrowing one to the findings whose
 * text has text); every finding has a file and a line. A case with
 * "skip" is skipped with its reason (pending on a provider, or not implemented). */
static void casetable_run_findings(void **state)
{
	json_t *c = *state, *e, *opt;
	const char *skip = json_string_value(json_object_get(c, "skip"));
	const char *name = json_string_value(json_object_get(c, "name"));
	if (skip) {
		fprintf(stderr, "case '%s' skipped: %s\n", name, skip);
		skip();
		return;
	}
	char bufs[16][256];
	const char *paths[16];
	size_t npaths = casetable_paths(c, bufs, paths, 16), i;
	mp_provider_setting settings[8];
	char optpaths[8][256];
	mp_compile_opts o = {.analyze = 1, .provider_opts = settings};
	const char *key;
	json_object_foreach(json_object_get(c, "options"), key, opt)
	{
		if (o.nprovider_opts == 8)
			break;
		/* "istio.mesh-config": a file of the table's directory */
		const char *dot = strchr(key, '.');
		if (!dot)
			continue;
		/* a file option (mesh-config) names a file of the table's directory */
		if (strstr(key, "mesh-config"))
			snprintf(optpaths[o.nprovider_opts], sizeof(optpaths[0]), "%s/%s",
			         casetable_dir, json_string_value(opt));
		else
			snprintf(optpaths[o.nprovider_opts], sizeof(optpaths[0]), "%s",
			         json_string_value(opt));
		static char provs[8][64];
		snprintf(provs[o.nprovider_opts], sizeof(provs[0]), "%.*s", (int)(dot - key), key);
		settings[o.nprovider_opts] = (mp_provider_setting){provs[o.nprovider_opts], dot + 1,
		                                                   optpaths[o.nprovider_opts]};
		o.nprovider_opts++;
	}
	mp_diags d = {0};
	mp_model *m = mp_compile(paths, npaths, &o, &d);
	if (!m || d.errors)
		mp_diags_print(&d, stderr);
	assert_non_null(m);
	assert_int_equal(d.errors, 0);
	mp_model_view v = mp_model_get_view(m);
	json_t *want = json_object_get(c, "findings"), *domain = json_object_get(c, "domain");
	uint8_t *used = calloc(v.nfindings + 1, 1);
	int bad = 0;
	assert_non_null(used);
	json_array_foreach(want, i, e)
	{
		uint32_t k;
		for (k = 0; k < v.nfindings; k++)
			if (!used[k] && casetable_finding_is(m, &v.findings[k], e))
				break;
		if (k == v.nfindings) {
			char *t = json_dumps(e, JSON_COMPACT);
			fprintf(stderr, "case '%s': missing %s\n", name, t);
			free(t);
			bad = 1;
			continue;
		}
		used[k] = 1;
	}
	for (uint32_t k = 0; k < v.nfindings; k++) {
		const mp_import_finding *f = &v.findings[k];
		const char *code = mp_model_str(m, f->code);
		int in_domain = 0;
		json_array_foreach(domain, i, e)
		{
			/* "CODE", or "CODE|text" for the findings of that code whose text has it
			 * (an analyzer's reference types: "Referenced gateway", ...) */
			const char *d = json_string_value(e), *bar = strchr(d, '|');
			size_t n = bar ? (size_t)(bar - d) : strlen(d);
			in_domain |= strlen(code) == n && !strncmp(d, code, n) &&
			             (!bar || strstr(mp_model_str(m, f->text), bar + 1));
		}
		if (!f->loc.file || !f->loc.line) {
			fprintf(stderr, "case '%s': %s of %s has no file:line\n", name, code,
			        mp_model_str(m, f->subject));
			bad = 1;
		}
		if (in_domain && !used[k]) {
			fprintf(stderr, "case '%s': extra %s %s line %u: %s\n", name, code,
			        mp_model_str(m, f->subject), f->loc.line, mp_model_str(m, f->text));
			bad = 1;
		}
	}
	if (bad)
		for (uint32_t k = 0; k < v.nfindings; k++)
			fprintf(stderr, "  have %s %s:%u %s: %s\n",
			        mp_model_str(m, v.findings[k].code),
			        mp_model_str(m, v.findings[k].loc.file), v.findings[k].loc.line,
			        mp_model_str(m, v.findings[k].subject),
			        mp_model_str(m, v.findings[k].text));
	free(used);
	mp_model_free(m);
	mp_diags_free(&d);
	assert_false(bad);
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
		tests[i].test_func = json_object_get(c, "findings") || json_object_get(c, "skip")
		                         ? casetable_run_findings
		                         : casetable_run;
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
	json_decref(casetable); /* after the run: cmocka's summary prints the cases' names */
	return rc;
}

static int casetable_teardown(void **state)
{
	(void)state;
	for (int i = 0; i < casetable_nengines; i++) {
		mp_evaluator_free(casetable_engines[i].ev);
		mp_engine_release(casetable_engines[i].e);
	}
	return 0;
}

#endif
