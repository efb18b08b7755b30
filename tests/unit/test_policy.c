/* test_policy.c: engine/policy.c: loading bundles: every load error with its file:line, all
 * errors of a bundle in one run, enabled policies, role expansion, the index, and the hash. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "compile.h"
#include "testutil.h"
#include "policy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static mp_model *model;

static int setup(void **state)
{
	(void)state;
	mp_diags d = {0};
	const char *p = "tests/data/bundles/unit/mesh.yaml";
	setenv("MESHPOL_STDLIB", "stdlib", 1);
	model = mp_compile(&p, 1, NULL, &d);
	mp_diags_free(&d);
	return model ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	mp_model_free(model);
	return 0;
}

static const char default_manifest[] = "name: t\nrevision: r1\n";

/* Writes a bundle (manifest, then NAME, TEXT pairs up to a NULL) into a fresh directory. */
static char *write_bundle(const char *manifest, ...)
{
	static char dir[64];
	snprintf(dir, sizeof(dir), "/tmp/meshpol-policy-XXXXXX");
	assert_non_null(mkdtemp(dir));
	char path[256];
	snprintf(path, sizeof(path), "%s/bundle.yaml", dir);
	FILE *f = fopen(path, "w");
	fputs(manifest, f);
	fclose(f);
	va_list ap;
	va_start(ap, manifest);
	const char *name;
	while ((name = va_arg(ap, const char *))) {
		const char *text = va_arg(ap, const char *);
		snprintf(path, sizeof(path), "%s/%s", dir, name);
		f = fopen(path, "w");
		fputs(text, f);
		fclose(f);
	}
	va_end(ap);
	return dir;
}

static void remove_bundle(const char *dir)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
}

#define HEAD "policy \"p\" { version = \"1.0.0\", kind = \"rbac\" }\n"

typedef struct {
	const char *text; /* the file a.lua */
	const char *want; /* a diagnostic that must be printed, after "DIR/" */
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
		char want[600];
		snprintf(want, sizeof(want), "%s/%s", dir, cases[i].want);
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

static void test_manifest_errors(void **state)
{
	(void)state;
	static const struct {
		const char *manifest, *want;
	} mcases[] = {
	    {"revision: r\n", "bundle.yaml:1:1: missing required field 'name'"},
	    {"name: n\nrevision: r\ndefault: maybe\n",
	     "bundle.yaml:3:10: 'default' must be deny or allow"},
	    {"name: n\nrevision: r\ncolour: blue\n", "bundle.yaml:3:1: unknown field 'colour'"},
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

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_load_errors),
	    cmocka_unit_test(test_manifest_errors),
	    cmocka_unit_test(test_all_errors),
	    cmocka_unit_test(test_compiled),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
