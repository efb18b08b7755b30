/* test_policy.c: engine/policy.c: loading bundles: every load error with its file:line, all
 * errors of a bundle in one run, enabled policies, role expansion, the index, and the hash. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "compile.h"
#include "policy.h"
#include "ptest.h"
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static mp_model *model;

static int setup(void **state)
{
	(void)state;
	model = unit_mesh();
	return model ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	mp_model_free(model);
	return 0;
}

static const char default_manifest[] = "name: t\nrevision: r1\n";

/* Writes a bundle into a fresh directory (testutil.h); the test fails when it cannot. */
#define write_bundle(...) must_write(write_bundle_dir(__VA_ARGS__))

static char *must_write(char *dir)
{
	assert_non_null(dir);
	return dir;
}

static void remove_bundle(const char *dir)
{
	assert_int_equal(remove_bundle_dir(dir), 0);
}

#define HEAD "policy \"p\" { version = \"1.0.0\", kind = \"rbac\" }\n"

typedef struct {
	const char *text; /* the file a.lua */
	const char *want; /* diagnostics printed in this order: the first after "DIR/", later
	                   * ones with "DIR/" written out */
} load_case;

static const load_case cases[] = {
    {HEAD "allow \"x\" {\n", "a.lua:3: unexpected symbol near <eof>"},
    {HEAD "local t = nil\nprint(t.x)\n", "a.lua:3: attempt to index a nil value (local 't')"},
    {"policy \"p\" { version = \"1.0\", kind = \"rbac\" }\n",
     "a.lua:1: policy 'p': version '1.0' is not a semantic version (MAJOR.MINOR.PATCH)"},
    {"policy \"p\" { kind = \"rbac\" }\n", "a.lua:1: policy 'p': missing required field 'version'"},
    {"policy \"p\" { version = \"1.0.0\", kind = \"authz\" }\n",
     "a.lua:1: policy 'p': kind 'authz' is not rbac, traffic, residency or custom"},
    {"policy \"p\" { version = \"1.0.0\", kind = \"rbac\", enforcement = \"strict\" }\n",
     "a.lua:1: policy 'p': enforcement 'strict' is not advisory, soft or hard"},
    {"policy \"p\" { version = \"1.0.0\", kind = \"rbac\", owner = \"x\" }\n",
     "a.lua:1: policy 'p': unknown field 'owner'"},
    {"allow \"x\" { service = \"shop/web\" }\n",
     "a.lua:1: allow 'x': declare the policy first (policy \"name\" { ... })"},
    {HEAD "policy \"q\" { version = \"1.0.0\", kind = \"rbac\" }\n",
     "a.lua:2: policy 'q': a file declares one policy (already 'p')"},
    {HEAD "allow \"x\" { service = \"shop/wbe\" }\n",
     "a.lua:2: allow 'x': 'service' names 'shop/wbe', which is not a service of the model"},
    {HEAD "deny \"x\" { namespace = \"shopp\" }\n",
     "a.lua:2: deny 'x': 'namespace' names namespace 'shopp', which the model does not have"},
    {HEAD "allow \"x\" { service = \"shop/web\", from = { services = { \"ghost\" } } }\n",
     "a.lua:2: allow 'x': 'services' names 'ghost', which is not a service of the model"},
    {HEAD "allow \"x\" { methods = { \"GET\" } }\n",
     "a.lua:2: allow 'x': needs a destination: 'service', 'namespace', 'labels' or 'external'"},
    {HEAD "allow \"x\" { service = \"*\", methods = { \"FETCH\" } }\n",
     "a.lua:2: allow 'x': unknown HTTP method 'FETCH'"},
    {HEAD "allow \"x\" { service = \"*\", paths = { \"/a/{**}/b\" } }\n",
     "a.lua:2: allow 'x': path template '/a/{**}/b': {**} must be the last segment"},
    {HEAD "allow \"x\" { service = \"*\", when = true }\n",
     "a.lua:2: allow 'x': 'when' must be a function"},
    {HEAD "allow \"x\" { service = \"*\", form = {} }\n",
     "a.lua:2: allow 'x': unknown field 'form'"},
    {HEAD "allow \"x\" { service = \"*\" }\nallow \"x\" { service = \"*\" }\n",
     "a.lua:3: allow 'x': policy 'p' already has a rule named 'x'"},
    {HEAD "allow \"x\" { external = \"api.strype.com\" }\n",
     "a.lua:2: allow 'x': 'external' names 'api.strype.com', which is not an external of the "
     "model"},
    {HEAD "bind \"ghost\" { principals = { \"spiffe://a\" } }\n",
     "a.lua:2: bind 'ghost': no role named 'ghost' in the bundle"},
    {HEAD "role \"r\" { allow { service = \"*\" } }\nbind \"r\" {}\n",
     "a.lua:3: bind 'r': binds nobody"},
    {HEAD "role \"r\" { allow { service = \"*\" }, zz = 1, aa = 2 }\n",
     "a.lua:2: role 'r': unknown field 'aa' (a role holds allow { ... } entries)\n"
     "DIR/a.lua:2: role 'r': unknown field 'zz' (a role holds allow { ... } entries)\n"},
    {HEAD "role \"r\" { deny { service = \"*\" } }\n",
     "a.lua:2: role 'r': entry 1 must be allow { ... }"},
    {HEAD "residency \"x\" { data = \"pii\", stay_in = \"Mars\" }\n",
     "a.lua:2: residency 'x': the model has no jurisdiction 'Mars'"},
    {HEAD "residency \"x\" { data = \"pii\" }\n",
     "a.lua:2: residency 'x': needs 'data' and 'stay_in'"},
    {HEAD "check \"c\" { severity = \"high\" }\n",
     "a.lua:2: check 'c': needs 'run = function(mesh, report) ... end'"},
    {HEAD "allow(42)\n", "a.lua:2: allow: expected a name in quotes"},
    {HEAD "while true do end\n", "a.lua:2: instruction budget exceeded"},
    /* strict declarations (issue 11): misspelt fields name the nearest one, every declaration */
    {HEAD "allow \"x\" { service = \"*\", methds = { \"GET\" } }\n",
     "a.lua:2: allow 'x': unknown field 'methds' (did you mean 'methods'?)"},
    {HEAD "deny \"x\" { service = \"*\", form = { namespaces = { \"sandbox\" } } }\n",
     "a.lua:2: deny 'x': unknown field 'form' (did you mean 'from'?)"},
    {HEAD "deny \"x\" { service = \"*\", from = { namespace = { \"sandbox\" } } }\n",
     "a.lua:2: deny 'x': from: unknown field 'namespace' (did you mean 'namespaces'?)"},
    {HEAD "deny \"x\" { service = \"*\", colour = \"red\" }\n",
     "a.lua:2: deny 'x': unknown field 'colour' (expected service, namespace, labels, external, "
     "from, methods, paths, ports, headers, when or message)"},
    {"policy \"p\" { version = \"1.0.0\", kind = \"rbac\", enforcment = \"soft\" }\n",
     "a.lua:1: policy 'p': unknown field 'enforcment' (did you mean 'enforcement'?)"},
    {HEAD "role \"r\" { allow { service = \"*\", mesage = \"m\" } }\nbind \"r\" { "
          "namespaces = { \"shop\" } }\n",
     "a.lua:2: role 'r' entry 1: unknown field 'mesage' (did you mean 'message'?)"},
    {HEAD "role \"r\" { allow { service = \"*\" } }\nbind \"r\" { principal = { \"x\" } }\n",
     "a.lua:3: bind 'r': unknown field 'principal' (did you mean 'principals'?)"},
    {HEAD "residency \"x\" { data = \"pii\", stay_inn = \"EU\" }\n",
     "a.lua:2: residency 'x': unknown field 'stay_inn' (did you mean 'stay_in'?)"},
    {HEAD "require_mtls \"x\" { mesage = \"m\" }\n",
     "a.lua:2: require_mtls 'x': unknown field 'mesage' (did you mean 'message'?)"},
    {HEAD "declared_routes_only \"x\" { frm = {} }\n",
     "a.lua:2: declared_routes_only 'x': unknown field 'frm' (did you mean 'from'?)"},
    {HEAD "check \"c\" { run = function() end, severty = \"high\" }\n",
     "a.lua:2: check 'c': unknown field 'severty' (did you mean 'severity'?)"},
    /* a string where a list is expected */
    {HEAD "allow \"x\" { service = \"*\", methods = \"GET\" }\n",
     "a.lua:2: allow 'x': 'methods' must be a list of strings, not a string (write methods = { "
     "\"GET\" })"},
    {"policy \"p\" { version = \"1.0.0\", kind = \"rbac\", controls = \"SOC2\" }\n",
     "a.lua:1: policy 'p': 'controls' must be a list of strings, not a string"},
    {HEAD "allow \"x\" { service = \"*\", paths = \"/v1\" }\n",
     "a.lua:2: allow 'x': 'paths' must be a list of strings, not a string"},
    {HEAD "allow \"x\" { service = \"*\", ports = 8080 }\n",
     "a.lua:2: allow 'x': 'ports' must be a list of ports ({ 8080 }), not a number"},
    {HEAD "allow \"x\" { service = \"*\", from = { principals = \"spiffe://x\" } }\n",
     "a.lua:2: allow 'x': 'principals' must be a list of strings, not a string"},
    {HEAD "role \"r\" { allow { service = \"*\" } }\nbind \"r\" { namespaces = \"shop\" }\n",
     "a.lua:3: bind 'r': 'namespaces' must be a list of strings, not a string"},
    {HEAD "allow \"x\" { service = \"*\", methods = { get = \"GET\" } }\n",
     "a.lua:2: allow 'x': 'methods' must be a list { ... }, not a table with other keys"},
    {HEAD "allow \"x\" { service = \"*\", ports = { http = 80 } }\n",
     "a.lua:2: allow 'x': 'ports' must be a list { ... }, not a table with other keys"},
    /* wrong types and enum values */
    {HEAD "allow \"x\" { service = \"*\", from = { authenticated = \"yes\" } }\n",
     "a.lua:2: allow 'x': 'authenticated' must be true or false, not a string"},
    {"policy \"p\" { version = 1, kind = \"rbac\" }\n",
     "a.lua:1: policy 'p': 'version' must be a string, not a number"},
    {"policy \"p\" { version = \"1.0.0\", kind = \"rbac\", description = 5 }\n",
     "a.lua:1: policy 'p': 'description' must be a string, not a number"},
    {"policy \"p\" { version = \"1.0.0\", kind = \"rbca\" }\n",
     "a.lua:1: policy 'p': kind 'rbca' is not rbac, traffic, residency or custom (did you mean "
     "'rbac'?)"},
    {"policy \"p\" { version = \"1.0.0\", kind = \"rbac\", severity = \"hihg\" }\n",
     "a.lua:1: policy 'p': severity 'hihg' is not info, low, medium, high or critical (did you "
     "mean 'high'?)"},
    {HEAD "allow \"x\" { service = \"*\", zz = 1, methds = {}, aa = 2 }\n",
     "a.lua:2: allow 'x': unknown field 'aa' (expected service, namespace, labels, external, from, "
     "methods, paths, ports, headers, when or message)\n"
     "DIR/a.lua:2: allow 'x': unknown field 'methds' (did you mean 'methods'?)\n"
     "DIR/a.lua:2: allow 'x': unknown field 'zz' (expected"},
    {HEAD "check \"c\" { run = function() end, severity = \"urgent\" }\n",
     "a.lua:2: check 'c': severity 'urgent' is not info, low, medium, high or critical\n"},
};

static void test_load_errors(void **state)
{
	(void)state;
	int failures = 0;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *dir = write_bundle(default_manifest, "a.lua", cases[i].text, NULL);
		mp_diags d = {0};
		mp_bundle *b = mp_bundle_load(dir, model, NULL, &d);
		char *got = diags_text(&d);
		char want[1200];
		/* the first diagnostic's directory is implied; later ones write it as DIR */
		size_t n = (size_t)snprintf(want, sizeof(want), "%s/", dir);
		for (const char *p = cases[i].want; *p && n + 64 < sizeof(want); p++) {
			if (!strncmp(p, "DIR/", 4)) {
				n += (size_t)snprintf(want + n, sizeof(want) - n, "%s", dir);
				p += 2;
			} else {
				want[n++] = *p;
			}
		}
		want[n] = '\0';
		if (b || !strstr(got, want)) {
			print_error("case %zu: want '%s' in:\n%s\n", i, want, got);
			failures++;
		}
		free(got);
		mp_bundle_free(b);
		mp_diags_free(&d);
		remove_bundle(dir);
	}
	assert_int_equal(failures, 0);
}

/* 256 bytes of a key under context: one more than a mask's segment can be */
#define X16      "xxxxxxxxxxxxxxxx"
#define LONG_SEG X16 X16 X16 X16 X16 X16 X16 X16 X16 X16 X16 X16 X16 X16 X16 X16 "x"

static void test_manifest_errors(void **state)
{
	(void)state;
	static const struct {
		const char *manifest, *want;
	} mcases[] = {
	    {"revision: r\n", "bundle.yaml:1:1: missing required field 'name'"},
	    {"name: n\nrevision: r\ndefault: maybe\n",
	     "bundle.yaml:3:10: 'default' must be deny or allow"},
	    {"name: n\nrevision: r\ncolour: blue\n",
	     "bundle.yaml:3:1: unknown field 'colour' (expected name, revision, default, model, "
	     "policies or mask)"},
	    {"name: n\nrevison: r\n", "bundle.yaml:2:1: unknown field 'revison' (did you mean "
	                              "'revision'?)"},
	    /* a misspelt mask would log what it was meant to hide */
	    {"name: n\nrevision: r\nmask: [request.headers.cookie, request.header.authorization]\n",
	     "bundle.yaml:3:32: 'mask': request.header: unknown key (did you mean 'headers'?)"},
	    {"name: n\nrevision: r\nmask: [request.method.x]\n",
	     "bundle.yaml:3:8: 'mask': request.method: is a value, not an object"},
	    /* deeper or longer than the log's writers follow: refused, never left unmasked */
	    {"name: n\nrevision: r\nmask: [context.a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p]\n",
	     "bundle.yaml:3:8: 'mask': 'context.a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p' is 17 fields "
	     "deep: a "
	     "mask names fields 16 deep at most"},
	    {"name: n\nrevision: r\nmask: [context.a.b.c.d.e.f.g.h.i.j.k.l.m.n, context.x" LONG_SEG
	     "]\n",
	     "bundle.yaml:3:45: 'mask': 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx...' is longer than a "
	     "masked key can be (255 bytes)"},
	    {"name: n\nrevision: r\npolicies: [ghost]\n",
	     "'policies' lists 'ghost', which no file declares"},
	    {"name: [n\n", "bundle.yaml:2:1: YAML:"},
	};
	for (size_t i = 0; i < sizeof(mcases) / sizeof(mcases[0]); i++) {
		char *dir = write_bundle(mcases[i].manifest, "a.lua", HEAD, NULL);
		mp_diags d = {0};
		mp_bundle *b = mp_bundle_load(dir, model, NULL, &d);
		char *got = diags_text(&d);
		if (b || !strstr(got, mcases[i].want))
			fail_msg("manifest %zu: want '%s' in:\n%s", i, mcases[i].want, got);
		free(got);
		mp_diags_free(&d);
		remove_bundle(dir);
	}
}

/* Errors in several files are all reported in one load. */
static void test_all_errors(void **state)
{
	(void)state;
	char *dir = write_bundle(
	    default_manifest, "a.lua", HEAD "allow \"x\" { service = \"nope\" }\n", "b.lua",
	    "policy \"p\" { version = \"1.0.0\", kind = \"rbac\" }\n", "c.lua",
	    "policy \"c\" { version = \"x\", kind = \"rbac\" }\nthis is not lua\n", NULL);
	mp_diags d = {0};
	mp_bundle *b = mp_bundle_load(dir, model, NULL, &d);
	assert_null(b);
	char *got = diags_text(&d);
	assert_non_null(strstr(got, "c.lua:2:")); /* syntax error */
	assert_non_null(strstr(got, "a.lua:2: allow 'x'"));
	assert_non_null(strstr(got, "b.lua:1: duplicate policy 'p' (first at"));
	free(got);
	mp_diags_free(&d);
	remove_bundle(dir);
}

static void test_compiled(void **state)
{
	(void)state;
	char *dir = write_bundle(
	    "name: t\nrevision: r2\ndefault: allow\npolicies: [p]\n", "a.lua",
	    HEAD
	    "role \"r\" {\n allow { service = \"shop/web\", methods = { \"GET\" } },\n allow { "
	    "service = \"billing/pay\" },\n}\nbind \"r\" { namespaces = { \"sandbox\" } }\nbind "
	    "\"r\" "
	    "{ principals = { \"spiffe://x\" } }\ndeny \"d\" { service = \"*\" }\n",
	    "z.lua",
	    "policy \"off\" { version = \"1.0.0\", kind = \"rbac\" }\ndeny \"all\" { service = "
	    "\"*\" }\n",
	    NULL);
	mp_diags d = {0};
	mp_bundle *b = mp_bundle_load(dir, model, NULL, &d);
	mp_diags_print(&d, stderr);
	assert_non_null(b);
	assert_string_equal(b->name, "t");
	assert_string_equal(b->revision, "r2");
	assert_int_equal(b->default_decision, MP_DEFAULT_ALLOW);
	assert_int_equal(b->npolicies, 2);
	assert_false(b->policies[1].enabled); /* not listed in `policies` */
	/* 2 entries x 2 bindings + the deny; the disabled policy's rule is not compiled */
	assert_int_equal(b->nrules, 5);
	assert_null(b->rules[0].via); /* direct rules first, then role grants */
	assert_non_null(b->rules[1].via);
	assert_non_null(strstr(b->rules[1].via, "role r (bind at "));
	/* the index: web gets both of its grants and the deny; pay gets its two and the deny */
	mp_id web = mp_model_find_service(model, "shop/web");
	assert_int_equal(b->svc_off[web + 1] - b->svc_off[web], 3);
	/* service = "*" selects services only; externals are selected with `external` */
	mp_id stripe = mp_model_find_external(model, "api.stripe.com");
	assert_int_equal(b->ext_off[stripe + 1] - b->ext_off[stripe], 0);
	char sha[65];
	memcpy(sha, b->sha256, 65);
	mp_bundle_free(b);

	/* the same files give the same hash; a changed test file changes it */
	b = mp_bundle_load(dir, model, NULL, &d);
	assert_string_equal(b->sha256, sha);
	mp_bundle_free(b);
	char path[128];
	snprintf(path, sizeof(path), "%s/a_test.lua", dir);
	FILE *f = fopen(path, "w");
	fputs("-- a test\n", f);
	fclose(f);
	b = mp_bundle_load(dir, model, NULL, &d);
	assert_string_not_equal(b->sha256, sha);
	assert_int_equal(b->npolicy_files, 2);
	mp_bundle_free(b);
	mp_diags_free(&d);
	remove_bundle(dir);
}

/* --- the test runner (engine/ptest.c): strict expectation tables --- */

/* Runs `meshpol test` on a bundle of one policy file and one test file; returns the output and
 * the result. */
static char *run_bundle_tests(const char *tests, mp_ptest_result *res)
{
	char cwd[512], manifest[700];
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	snprintf(manifest, sizeof(manifest),
	         "name: t\nrevision: r1\nmodel: %s/tests/data/bundles/unit/mesh.yaml\n", cwd);
	char *dir =
	    write_bundle(manifest, "a.lua",
	                 HEAD "deny \"no-delete\" { service = \"*\", methods = { \"DELETE\" "
	                      "} }\nallow \"any\" { service = \"*\" }\n",
	                 "a_test.lua", tests, NULL);
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);
	mp_ptest_opts o = {.out = f};
	mp_diags d = {0};
	assert_int_equal(mp_ptest_run(dir, &o, res, &d), 0);
	mp_ptest_result_free(res); /* the counts stay; the cases are not read here */
	fclose(f);
	mp_diags_free(&d);
	remove_bundle(dir);
	return out;
}

/* Each expectation below passed before issue 11 (the misspelt or mistyped key was ignored);
 * now each is an error naming the key, the test's file:line and the nearest valid key. */
static void test_expectations_strict(void **state)
{
	(void)state;
	static const struct {
		const char *test, *want;
	} cases[] = {
	    {"expect_allow { from = \"shop/web\", to = \"shop/web\", methd = \"DELETE\" }",
	     "a_test.lua:2: expect_allow: unknown key 'methd' (did you mean 'method'?)"},
	    {"expect_deny { from = \"shop/web\", to = \"shop/web\", method = \"DELETE\", rul = "
	     "\"no-delete\" }",
	     "a_test.lua:2: expect_deny: unknown key 'rul' (did you mean 'rule'?)"},
	    {"expect_deny { from = \"shop/web\", to = \"shop/web\", method = \"DELETE\", efect = "
	     "\"not_permitted\" }",
	     "a_test.lua:2: expect_deny: unknown key 'efect' (did you mean 'effect'?)"},
	    {"expect_allow { from = \"shop/web\", to = \"shop/web\", port = \"http\" }",
	     "a_test.lua:2: 'port' must be an integer 1..65535, not a string"},
	    {"expect_allow { from = \"shop/web\", to = \"shop/web\", port = 70000 }",
	     "a_test.lua:2: 'port' must be an integer 1..65535, not 70000"},
	    {"expect_allow { from = \"shop/web\", to = \"shop/web\", method = 5 }",
	     "a_test.lua:2: 'method' must be a string, not a number"},
	    {"expect_allow { from = \"shop/web\", to = \"shop/web\", headers = { a = 1 } }",
	     "a_test.lua:2: 'headers' must map header names to strings"},
	    {"expect_deny { from = \"shop/web\", to = \"shop/web\", method = \"DELETE\", effect = "
	     "\"forbiden\" }",
	     "a_test.lua:2: expect_deny: effect 'forbiden' is not forbidden or not_permitted (did "
	     "you mean 'forbidden'?)"},
	    {"expect_allow { from = \"shop/web\", to = \"shop/web\", effect = \"forbidden\" }",
	     "a_test.lua:2: expect_allow: effect 'forbidden' is not allowed (expected allowed)"},
	    {"expect_allow { input = { destination = { service = \"shop/web\" }, request = { methd "
	     "= \"DELETE\" } } }",
	     "a_test.lua:2: input: request.methd: unknown key (did you mean 'method'?)"},
	    {"expect_allow { input = { destination = { service = \"shop/web\" } }, method = "
	     "\"DELETE\" }",
	     "a_test.lua:2: expect_allow: 'input' is a whole decision input: give either it or "
	     "from"},
	    {"local d = decide { from = \"shop/web\", to = \"shop/web\", rule = \"any\" }",
	     "a_test.lua:2: decide: unknown key 'rule' (expected from, to, method, path, port, "
	     "headers, ip or input)"},
	    {"expect_allow { \"shop/web\" }",
	     "a_test.lua:2: expect_allow: fields must be named, not a number key"},
	    /* several: every one, in sorted order (the order of pairs() varies between states) */
	    {"expect_deny { to = \"shop/web\", zz = 1, rul = \"x\", efect = \"forbidden\", mthod = "
	     "\"DELETE\" }",
	     "a_test.lua:2: expect_deny: unknown keys 'efect' (did you mean 'effect'?), 'mthod' "
	     "(did "
	     "you mean 'method'?), 'rul' (did you mean 'rule'?), 'zz' (expected from, to, method, "
	     "path, port, headers, ip, input, rule, policy or effect)"},
	};
	int failures = 0;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char text[600];
		snprintf(text, sizeof(text), "test \"t\" (function()\n  %s\nend)\n", cases[i].test);
		mp_ptest_result res;
		char *out = run_bundle_tests(text, &res);
		if (res.failed != 1 || res.passed != 0 || !strstr(out, cases[i].want)) {
			print_error("case %zu: %u passed, %u failed; want '%s' in:\n%s\n", i,
			            res.passed, res.failed, cases[i].want, out);
			failures++;
		}
		free(out);
	}
	assert_int_equal(failures, 0);
}

/* What the tables may hold still works: every key, a table whose fields come from __index. */
static void test_expectations_valid(void **state)
{
	(void)state;
	mp_ptest_result res;
	char *out = run_bundle_tests(
	    "test \"all keys\" (function()\n"
	    "  expect_deny { from = \"shop/web\", to = \"shop/web\", method = \"DELETE\", path = "
	    "\"/x\", port = 8080, headers = { [\"x-a\"] = \"b\" }, ip = \"10.0.0.1\", rule = "
	    "\"no-delete\", policy = \"p\", effect = \"forbidden\" }\n"
	    "  expect_allow { from = \"shop/web\", to = \"shop/web\", effect = \"allowed\" }\n"
	    "  expect_deny { input = { destination = { service = \"shop/web\" }, request = { "
	    "method = "
	    "\"DELETE\" } }, rule = \"no-delete\" }\n"
	    "  local d = decide { from = \"shop/web\", to = \"shop/web\", method = \"GET\" }\n"
	    "  assert(d.effect == \"allowed\")\n"
	    "  expect_deny(setmetatable({}, { __index = { from = \"shop/web\", to = \"shop/web\", "
	    "method = \"DELETE\" } }))\n"
	    "end)\n",
	    &res);
	if (res.passed != 1 || res.failed != 0)
		fail_msg("%u passed, %u failed:\n%s", res.passed, res.failed, out);
	free(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_load_errors),         cmocka_unit_test(test_manifest_errors),
	    cmocka_unit_test(test_all_errors),          cmocka_unit_test(test_compiled),
	    cmocka_unit_test(test_expectations_strict), cmocka_unit_test(test_expectations_valid),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
