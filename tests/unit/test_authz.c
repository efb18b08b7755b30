/* test_authz.c: engine/providers/istio/authz.c, Istio AuthorizationPolicy semantics, through
 * mp_decide. The table is data: tests/data/import/authz/cases.json (scenario files + request +
 * expected effect and deciding policy and rule, with why Istio decides so), one cmocka test per
 * case (the runner: casetable.h). Then the spec checker's errors and where they point, and path
 * normalisation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "casetable.h"
#include "match.h"
#include "providers/istio/authz.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DIR "tests/data/import/authz"

/* --- the spec checker: each bad spec, its message and where it points --- */

typedef struct {
	const char *spec, *path, *message;
} bad_spec;

static const bad_spec bad_specs[] = {
    {"{\"action\": \"PERMIT\"}", "action", "action must be ALLOW, DENY, AUDIT or CUSTOM"},
    {"{\"rules\": [{\"from\": [{\"source\": {\"ipBlocks\": [\"1.2.3.4/40\"]}}]}]}",
     "rules/0/from/0/source/ipBlocks/0", "is not an IP address or CIDR block"},
    {"{\"rules\": [{\"to\": [{\"operation\": {\"ports\": [\"http\"]}}]}]}",
     "rules/0/to/0/operation/ports/0", "is not a port number"},
    {"{\"rules\": [{\"to\": [{\"operation\": {\"paths\": [\"/{**}/a/{*}\"]}}]}]}",
     "rules/0/to/0/operation/paths/0", "{**} must be the last operator"},
    {"{\"rules\": [{\"to\": [{\"operation\": {\"paths\": [\"/a/{*}.txt\"]}}]}]}",
     "rules/0/to/0/operation/paths/0", "no other characters are allowed"},
    {"{\"rules\": [{\"to\": [{\"operation\": {\"paths\": [\"/*/a/{*}\"]}}]}]}",
     "rules/0/to/0/operation/paths/0", "outside of a {*} or {**} operator"},
    {"{\"rules\": [{\"to\": [{\"operation\": {\"verbs\": [\"GET\"]}}]}]}",
     "rules/0/to/0/operation/verbs", "unknown field 'verbs'"},
    {"{\"rules\": [{\"when\": [{\"key\": \"request.cookie\", \"values\": [\"x\"]}]}]}",
     "rules/0/when/0/key", "unknown condition key 'request.cookie'"},
    {"{\"rules\": [{\"when\": [{\"key\": \"source.ip\"}]}]}", "rules/0/when/0",
     "at least one of values or notValues"},
    {"{\"rules\": [{\"from\": [{}]}]}", "rules/0/from/0", "'source' is required"},
    {"{\"action\": \"CUSTOM\", \"rules\": [{}]}", "action", "needs 'provider'"},
    {"{\"provider\": {\"name\": \"x\"}}", "provider", "only valid with action CUSTOM"},
    {"{\"selector\": {\"matchLabels\": {}}, \"targetRef\": {\"kind\": \"Gateway\", \"name\": "
     "\"g\"}}",
     "selector", "at most one of selector and targetRef"},
    {"{\"rules\": [{\"from\": [{\"source\": {\"serviceAccounts\": [\"a/b/c\"]}}]}]}",
     "rules/0/from/0/source/serviceAccounts/0", "is not a service account"},
    {"{\"rules\": [{\"from\": [{\"source\": {\"principals\": \"x\"}}]}]}",
     "rules/0/from/0/source/principals", "must be a list of strings"},
};

static void test_bad_specs(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(bad_specs) / sizeof(bad_specs[0]); i++) {
		json_t *spec = json_loads(bad_specs[i].spec, 0, NULL);
		char err[256], path[256];
		assert_non_null(spec);
		int rc = mp_authz_check_spec(spec, err, sizeof(err), path, sizeof(path));
		if (rc == 0 || strcmp(path, bad_specs[i].path) ||
		    !strstr(err, bad_specs[i].message))
			fprintf(stderr, "spec %s: rc %d, path '%s', error '%s'\n",
			        bad_specs[i].spec, rc, path, err);
		assert_int_equal(rc, -1);
		assert_string_equal(path, bad_specs[i].path);
		assert_non_null(strstr(err, bad_specs[i].message));
		json_decref(spec);
	}
}

static void test_good_specs(void **state)
{
	(void)state;
	static const char *const good[] = {
	    "{}",
	    "{\"rules\": [{}]}",
	    "{\"action\": \"AUDIT\", \"rules\": [{\"to\": [{\"operation\": {\"ports\": [80]}}]}]}",
	    "{\"rules\": [{\"to\": [{\"operation\": {\"paths\": [\"/{**}/path/template\", "
	    "\"/a/{*}/b/{**}\", \"/x/{*}\"]}}]}]}",
	    "{\"targetRefs\": [{\"kind\": \"Service\", \"group\": \"\", \"name\": \"s\"}]}",
	};
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		json_t *spec = json_loads(good[i], 0, NULL);
		char err[256], path[256];
		int rc = mp_authz_check_spec(spec, err, sizeof(err), path, sizeof(path));
		if (rc)
			fprintf(stderr, "spec %s: %s at %s\n", good[i], err, path);
		assert_int_equal(rc, 0);
		json_decref(spec);
	}
}

static void test_normalize(void **state)
{
	(void)state;
	static const char *const rows[][2] = {
	    {"/a/b", "/a/b"},      {"/a/./b", "/a/b"}, {"/a/../b", "/b"},
	    {"/%61/b", "/a/b"},    {"/a//b", "/a//b"}, {"/a/b?x=/..", "/a/b"},
	    {"/a/%2e%2e/b", "/b"}, {"/..", "/"},       {"/a/%2F", "/a/%2F"},
	    {"/a/b/..", "/a/"},    {"/a/.", "/a/"},    {"/../c", "/c"},
	    {"/a/b/../c", "/a/c"}, {"/.", "/"},        {"/a/..?q", "/"},
	};
	char out[64];
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		assert_true(mp_path_normalize(rows[i][0], out, sizeof(out), 0) >= 0);
		assert_string_equal(out, rows[i][1]);
	}
	assert_int_equal(mp_path_normalize("/aaaaaaaaaa", out, 4, 0), -1);
}

/* A model whose stored policy was altered after the fact is refused at snapshot load. */
static void test_crafted_policy(void **state)
{
	(void)state;
	mp_diags d = {0};
	const char *src = DIR "/base.yaml";
	mp_model *m = mp_compile(&src, 1, NULL, &d);
	assert_non_null(m);
	mp_resource r = {.kind = mp_model_intern(m, "AuthorizationPolicy", 19),
	                 .api = mp_model_intern(m, "security.istio.io/v1", 20),
	                 .ns = mp_model_intern(m, "foo", 3),
	                 .name = mp_model_intern(m, "x", 1),
	                 .spec = mp_model_intern(m, "{\"action\": 7}", 13),
	                 .cluster = MP_NONE};
	assert_int_not_equal(mp_model_add_resource(m, &r), MP_NONE);
	assert_int_equal(mp_model_finish(m), 0);
	char err[512];
	mp_authz *a = mp_authz_compile(m, err, sizeof(err));
	assert_null(a);
	assert_non_null(strstr(err, "AuthorizationPolicy foo/x: action must be"));
	assert_null(mp_engine_new(m, NULL)); /* frees m */
	mp_diags_free(&d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_bad_specs),
	    cmocka_unit_test(test_good_specs),
	    cmocka_unit_test(test_normalize),
	    cmocka_unit_test(test_crafted_policy),
	};
	return casetable_main("authz", DIR, tests, sizeof(tests) / sizeof(tests[0]));
}
