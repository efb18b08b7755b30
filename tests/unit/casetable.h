/* casetable.h: the data-driven runner of the mesh providers' semantics tables (cases.json:
 * scenario files, request, expected effect and the policy and rule a reason must name),
 * shared by test_authz.c (Istio: tests/data/import/authz), test_linkerd.c (Linkerd) and
 * test_consul.c (Consul). Each case compiles its scenario's files (plus a bundle directory when
 * it names one), decides its input through mp_decide and checks the effect, the reason (policy
 * and rule) and, when given, an advisory naming `advisory`. Engines are built once per
 * (scenario, bundle); casetable_engine_for gives a program's own tests one of them. A failure
 * prints the decision and its explanation. casetable_main runs a table and a program's other
 * tests as one cmocka group. Include it in one test file; it keeps one table.
 *
 * A case with "findings", "routes", "requests", "error" or "skip" is a model case instead
 * (test_gatewayapi.c, and test_analyze_istio.c's analyzer cases): its files compiled (as
 * `meshpol audit` analyses them when the table says "analyze", with the case's "options" as
 * provider options), the import findings it expects (each once) and nothing else of its
 * domain (the case's "domain", else the table's), every finding with a file:line; the model's
 * routes, exactly; and for each request the routes of one caller would serve, the first (in
 * the model's order) whose match admits it; or, with "error", the compile fails with that
 * diagnostic; with "skip", the case is skipped with its reason. casetable_model_case_ok checks
 * one case object outside a table. */
#ifndef MP_CASETABLE_H
#define MP_CASETABLE_H

#include "compile.h"
#include "decide.h"
#include "diag.h"
#include "model.h"
#include "policy.h"
#include "regex.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

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

/* --- model cases: findings, routes and the routes requests take --- */

/* The case's files: its own "files", else its scenario's, relative to the table's directory. */
static size_t casetable_files(json_t *c, char bufs[][256], const char **paths, size_t max)
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

/* "ns/name" of service s into buf. */
static const char *casetable_svc(const mp_model *m, mp_id s, char *buf, size_t len)
{
	mp_model_view v = mp_model_get_view(m);
	if (s == MP_NONE)
		return "*";
	snprintf(buf, len, "%s/%s", mp_model_str(m, v.namespaces[v.services[s].ns].name),
	         mp_model_str(m, v.services[s].name));
	return buf;
}

/* Does finding f answer the expected one e: its code, and its subject, line, a piece of its
 * text and Istio's code ("[ISTxxxx] " before its text) when e gives them? */
static int casetable_finding_matches(const mp_model *m, const mp_import_finding *f, json_t *e)
{
	const char *code = json_string_value(json_object_get(e, "code"));
	const char *subject = json_string_value(json_object_get(e, "subject"));
	const char *has = json_string_value(json_object_get(e, "text"));
	const char *ist = json_string_value(json_object_get(e, "ist"));
	const char *text = mp_model_str(m, f->text);
	json_t *line = json_object_get(e, "line");
	char want[32];
	snprintf(want, sizeof(want), "[%s] ", ist ? ist : "");
	return code && !strcmp(mp_model_str(m, f->code), code) &&
	       (!subject || !strcmp(mp_model_str(m, f->subject), subject)) &&
	       (!line || (json_int_t)f->loc.line == json_integer_value(line)) &&
	       (!ist || !strncmp(text, want, strlen(want))) && (!has || strstr(text, has));
}

/* The compile options of a case: an analysis when the table says "analyze"; its "options"
 * ({"istio.mesh-config": FILE}) as provider options, a file option (mesh-config) naming a file
 * of the table's directory. The strings live in vals. */
static void casetable_opts(json_t *c, mp_compile_opts *o, mp_provider_setting *settings,
                           char vals[][2][256], size_t max)
{
	const char *key;
	json_t *opt;
	*o = (mp_compile_opts){.analyze = json_is_true(json_object_get(casetable, "analyze")),
	                       .provider_opts = settings};
	json_object_foreach(json_object_get(c, "options"), key, opt)
	{
		const char *dot = strchr(key, '.');
		if (!dot || o->nprovider_opts == max)
			continue;
		char *prov = vals[o->nprovider_opts][0], *val = vals[o->nprovider_opts][1];
		snprintf(prov, 256, "%.*s", (int)(dot - key), key);
		if (strstr(key, "mesh-config"))
			snprintf(val, 256, "%s/%s", casetable_dir, json_string_value(opt));
		else
			snprintf(val, 256, "%s", json_string_value(opt));
		settings[o->nprovider_opts++] = (mp_provider_setting){prov, dot + 1, val};
	}
}

/* A route's targets against {"ns/svc": weight}: 1 when they are those, in any order. */
static int casetable_targets_are(const mp_model *m, mp_span span, json_t *want)
{
	mp_model_view v = mp_model_get_view(m);
	char buf[300];
	if (!want)
		return 1;
	if (json_object_size(want) != span.n)
		return 0;
	for (uint32_t i = 0; i < span.n; i++) {
		const mp_target *t = &v.targets[span.off + i];
		json_t *w = json_object_get(want, casetable_svc(m, t->id, buf, sizeof(buf)));
		if (t->kind != MP_TARGET_SERVICE || !w || json_integer_value(w) != t->weight)
			return 0;
	}
	return 1;
}

/* The match as "exact /x", "prefix /x", "regex /x" or "any". */
static const char *casetable_match_text(const mp_model *m, const mp_match *mt, char *buf,
                                        size_t len)
{
	static const char *const kinds[] = {"any", "exact", "prefix", "regex"};
	if (mt->path_kind == MP_PATH_ANY)
		return "any";
	snprintf(buf, len, "%s %s", kinds[mt->path_kind & 3], mp_model_str(m, mt->path));
	return buf;
}

/* Does route r match the expected {"from", "to", "mirrors", "match", "methods", "headers",
 * "timeout_ms", "retries"}? */
static int casetable_route_is(const mp_model *m, const mp_route *r, json_t *e)
{
	mp_model_view v = mp_model_get_view(m);
	char buf[300], mbuf[600];
	const char *from = json_string_value(json_object_get(e, "from"));
	const char *match = json_string_value(json_object_get(e, "match"));
	const char *method = json_string_value(json_object_get(e, "methods"));
	json_t *headers = json_object_get(e, "headers"),
	       *timeout = json_object_get(e, "timeout_ms");
	json_t *retries = json_object_get(e, "retries");
	if ((from && strcmp(from, casetable_svc(m, r->source, buf, sizeof(buf)))) ||
	    !casetable_targets_are(m, r->dests, json_object_get(e, "to")) ||
	    !casetable_targets_are(m, r->mirrors, json_object_get(e, "mirrors")) ||
	    (match && strcmp(match, casetable_match_text(m, &r->match, mbuf, sizeof(mbuf)))) ||
	    (method && r->match.methods != mp_method_bit(method)) ||
	    (timeout && json_integer_value(timeout) != r->timeout_ms) ||
	    (retries && json_integer_value(retries) != r->retry_attempts))
		return 0;
	if (headers && json_object_size(headers) != r->match.headers.n)
		return 0;
	for (uint32_t i = 0; headers && i < r->match.headers.n; i++) {
		const mp_label *l = &v.labels[r->match.headers.off + i];
		json_t *hv = json_object_get(headers, mp_model_str(m, l->key));
		if (!hv || strcmp(json_string_value(hv), mp_model_str(m, l->value)))
			return 0;
	}
	return 1;
}

/* Does route r admit the request (method, path, headers: the model's match read with the
 * Gateway API's semantics, a prefix by whole segments)? */
static int casetable_admits(const mp_model *m, const mp_route *r, json_t *req)
{
	mp_model_view v = mp_model_get_view(m);
	const char *method = json_string_value(json_object_get(req, "method"));
	const char *path = json_string_value(json_object_get(req, "path"));
	json_t *headers = json_object_get(req, "headers");
	const char *p = mp_model_str(m, r->match.path);
	size_t n = strlen(p);
	if (r->match.methods && (!method || !(r->match.methods & mp_method_bit(method))))
		return 0;
	if (!path)
		path = "/";
	switch (r->match.path_kind) {
	case MP_PATH_EXACT:
		if (strcmp(path, p))
			return 0;
		break;
	case MP_PATH_PREFIX:
		if (strncmp(path, p, n) || (path[n] && path[n] != '/' && (!n || p[n - 1] != '/')))
			return 0;
		break;
	case MP_PATH_REGEX: {
		char err[200];
		mp_regex *re = mp_regex_compile(p, n, err, sizeof(err));
		int ok = re && mp_regex_full_match(re, path, strlen(path)) == 1;
		mp_regex_free(re);
		if (!ok)
			return 0;
		break;
	}
	default:
		break;
	}
	for (uint32_t i = 0; i < r->match.headers.n; i++) {
		const mp_label *l = &v.labels[r->match.headers.off + i];
		const char *key, *want = mp_model_str(m, l->value);
		json_t *hv, *found = NULL;
		json_object_foreach(headers, key, hv)
		{
			if (!strcasecmp(key, mp_model_str(m, l->key)))
				found = hv;
		}
		if (!found || strcmp(json_string_value(found), want))
			return 0;
	}
	return 1;
}

/* One model case; 1 when it holds, else 0 after saying what did not, on stderr. */
static int casetable_model_case_ok(json_t *c)
{
	const char *name = json_string_value(json_object_get(c, "name"));
	const char *error = json_string_value(json_object_get(c, "error"));
	json_t *want = json_object_get(c, "findings"), *domain = json_object_get(c, "domain");
	json_t *routes = json_object_get(c, "routes"), *reqs = json_object_get(c, "requests"), *e;
	char bufs[16][256], buf[300], mbuf[600];
	const char *paths[16];
	size_t npaths = casetable_files(c, bufs, paths, 16), i;
	mp_diags d = {0};
	mp_compile_opts o;
	mp_provider_setting settings[8];
	char vals[8][2][256];
	int bad = 0;
	if (!domain)
		domain = json_object_get(casetable, "domain");
	casetable_opts(c, &o, settings, vals, 8);
	mp_model *m = mp_compile(paths, npaths, &o, &d);
	if (error) {
		char *text = NULL;
		size_t tlen = 0;
		FILE *f = open_memstream(&text, &tlen);
		mp_diags_print(&d, f);
		fclose(f);
		bad = m || !strstr(text, error);
		if (bad)
			fprintf(stderr, "case '%s': want the error\n  %s\ngot\n%s\n", name, error,
			        text);
		free(text);
		mp_model_free(m);
		mp_diags_free(&d);
		return !bad;
	}
	if (!m || d.errors) {
		mp_diags_print(&d, stderr);
		mp_model_free(m);
		mp_diags_free(&d);
		return 0;
	}
	mp_model_view v = mp_model_get_view(m);
	uint8_t *used = calloc(v.nfindings + v.nroutes + 1, 1);
	json_array_foreach(want, i, e)
	{
		uint32_t k;
		for (k = 0; k < v.nfindings; k++)
			if (!used[k] && casetable_finding_matches(m, &v.findings[k], e))
				break;
		if (k == v.nfindings) {
			char *t = json_dumps(e, JSON_COMPACT);
			fprintf(stderr, "case '%s': missing finding %s\n", name, t);
			free(t);
			bad = 1;
			continue;
		}
		used[k] = 1;
	}
	for (uint32_t k = 0; k < v.nfindings; k++) {
		const mp_import_finding *f = &v.findings[k];
		const char *code = mp_model_str(m, f->code);
		int in = 0;
		json_array_foreach(domain, i, e)
		{
			/* "CODE", or "CODE|text" for the findings of that code whose text has it
			 * (an analyzer's reference types: "Referenced gateway", ...) */
			const char *dm = json_string_value(e), *bar = strchr(dm, '|');
			size_t n = bar ? (size_t)(bar - dm) : strlen(dm);
			in |= strlen(code) == n && !strncmp(dm, code, n) &&
			      (!bar || strstr(mp_model_str(m, f->text), bar + 1));
		}
		if (!f->loc.file || !f->loc.line) {
			fprintf(stderr, "case '%s': %s of %s has no file:line\n", name, code,
			        mp_model_str(m, f->subject));
			bad = 1;
		}
		if (in && !used[k]) {
			fprintf(stderr, "case '%s': extra finding %s %s line %u: %s\n", name, code,
			        mp_model_str(m, f->subject), f->loc.line, mp_model_str(m, f->text));
			bad = 1;
		}
	}
	if (routes) {
		const char *rname;
		json_object_foreach(routes, rname, e)
		{
			uint32_t k;
			for (k = 0;
			     k < v.nroutes && strcmp(mp_model_str(m, v.routes[k].name), rname); k++)
				;
			if (k == v.nroutes || !casetable_route_is(m, &v.routes[k], e)) {
				char *t = json_dumps(e, JSON_COMPACT);
				fprintf(stderr, "case '%s': %s route %s %s\n", name,
				        k == v.nroutes ? "no" : "another", rname, t);
				free(t);
				bad = 1;
			}
		}
		if (json_object_size(routes) != v.nroutes) {
			fprintf(stderr, "case '%s': %u routes, want %zu\n", name, v.nroutes,
			        json_object_size(routes));
			bad = 1;
		}
	}
	json_array_foreach(reqs, i, e)
	{
		const char *from = json_string_value(json_object_get(e, "from"));
		json_t *to = json_object_get(e, "to");
		uint32_t k;
		for (k = 0; k < v.nroutes; k++)
			if ((!from || !strcmp(from, casetable_svc(m, v.routes[k].source, buf,
			                                          sizeof(buf)))) &&
			    casetable_admits(m, &v.routes[k], e))
				break;
		int ok = k == v.nroutes
		             ? json_is_null(to)
		             : !json_is_null(to) && casetable_targets_are(m, v.routes[k].dests, to);
		if (!ok) {
			char *t = json_dumps(e, JSON_COMPACT);
			fprintf(stderr, "case '%s': request %s took %s\n", name, t,
			        k == v.nroutes ? "no route" : mp_model_str(m, v.routes[k].name));
			free(t);
			bad = 1;
		}
	}
	if (bad) {
		for (uint32_t k = 0; k < v.nfindings; k++)
			fprintf(stderr, "  have %s %s:%u %s: %s\n",
			        mp_model_str(m, v.findings[k].code),
			        mp_model_str(m, v.findings[k].loc.file), v.findings[k].loc.line,
			        mp_model_str(m, v.findings[k].subject),
			        mp_model_str(m, v.findings[k].text));
		for (uint32_t k = 0; k < v.nroutes; k++) {
			const mp_route *r = &v.routes[k];
			fprintf(stderr, "  have route %s from %s, %s, %u dests\n",
			        mp_model_str(m, r->name),
			        casetable_svc(m, r->source, buf, sizeof(buf)),
			        casetable_match_text(m, &r->match, mbuf, sizeof(mbuf)), r->dests.n);
		}
	}
	free(used);
	mp_model_free(m);
	mp_diags_free(&d);
	return !bad;
}

/* A model case; one with "skip" is skipped with its reason (pending on a provider, or not
 * implemented). */
static void casetable_run_model(void **state)
{
	const char *why = json_string_value(json_object_get(*state, "skip"));
	if (why) {
		fprintf(stderr, "case '%s' skipped: %s\n",
		        json_string_value(json_object_get(*state, "name")), why);
		skip();
		return;
	}
	assert_true(casetable_model_case_ok(*state));
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
		tests[i].test_func =
		    json_object_get(c, "findings") || json_object_get(c, "routes") ||
		            json_object_get(c, "requests") || json_object_get(c, "error") ||
		            json_object_get(c, "skip")
		        ? casetable_run_model
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
