/* test_policy_decls.c: engine/policy_decls.c, the declarations an archive keeps of its policy
 * files (docs/bundles.md, "Compiled declarations"): a bundle loaded with them compiles to the
 * same rules, index and policies, field by field, as loaded from its source; files with a
 * function, a role, a check or a nondeterministic call are not kept and still run; another
 * format version or DSL falls back to the source; a key that matches no file leaves that file
 * to run; and every truncation and every flipped byte of the container is refused or falls
 * back, never crashes (under make check: never reads out of bounds). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "alloc.h"
#include "bundledump.h"
#include "policy.h"
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Every field of the declarative rules, a function, a role, a check and a clock. */
static const char *const MANIFEST = "name: decls\nrevision: \"3\"\ndefault: deny\n";
static const char *const RBAC =
    "policy \"d.rbac\" { version = \"1.2.0\", kind = \"rbac\", severity = \"high\",\n"
    "  controls = { \"C-1\", \"C-2\" }, description = \"every field\" }\n"
    "allow \"charges\" {\n"
    "  service = \"billing/pay\", methods = { \"POST\", \"GET\" },\n"
    "  paths = { \"/v1/charge\", \"/v1/refund/*\", \"/f/{**}\" }, ports = { 8080, 9090 },\n"
    "  headers = { [\"X-Tenant\"] = \"eu-*\", [\"x-b\"] = \"b\", [\"X-C\"] = \"*\" },\n"
    "  from = { principals = { \"spiffe://t/ns/shop/sa/web\", \"*/sa/prom\" },\n"
    "           namespaces = { \"shop\" }, services = { \"sandbox/echo\" },\n"
    "           labels = { tier = \"front\", zone = \"a\" }, authenticated = true },\n"
    "  message = \"web charges cards\",\n"
    "}\n"
    "allow \"labels\" { labels = { tier = \"front\" }, methods = { \"PATCH\" } }\n"
    "allow \"egress\" { external = { \"api.stripe.com\" }, from = \"*\" }\n"
    "allow \"any-egress\" { external = \"*\", from = { namespaces = { \"billing\" } } }\n"
    "allow \"ns\" { namespace = \"shop\", service = { \"web\" } }\n"
    "deny \"no-sandbox\" { service = \"*\", namespace = \"billing\",\n"
    "  from = { namespaces = { \"sandbox\" } } }\n"
    "for i = 1, 3 do allow (\"loop-\" .. i) { service = \"shop/web\", paths = { \"/l/\" .. i } } "
    "end\n";
static const char *const OTHER =
    "policy \"d.other\" { version = \"0.1.0\", kind = \"traffic\" }\n"
    "require_mtls \"strict\" { message = \"mTLS\" }\n"
    "declared_routes_only \"routes\" { from = { namespaces = { \"shop\" } } }\n"
    "residency \"pii-eu\" { data = \"pii\", stay_in = { \"EU\" } }\n";
static const char *const WITH_WHEN =
    "policy \"d.when\" { version = \"1.0.0\", kind = \"custom\" }\n"
    "allow \"ok\" { service = \"shop/web\", when = function(req) return true end }\n";
static const char *const WITH_ROLE =
    "policy \"d.role\" { version = \"1.0.0\", kind = \"rbac\" }\n"
    "role \"reader\" { allow { service = \"shop/web\", methods = { \"GET\" } } }\n"
    "bind \"reader\" { principals = { \"*/sa/prom\" } }\n";
static const char *const WITH_CLOCK =
    "policy \"d.clock\" { version = \"1.0.0\", kind = \"custom\" }\n"
    "allow \"clock\" { service = \"shop/web\", message = \"year \" .. os.date(\"!%Y\", 0) }\n";

static char dir[64];

static int setup(void **state)
{
	const char *d =
	    write_bundle_dir(MANIFEST, "a_rbac.lua", RBAC, "b_other.lua", OTHER, "c_when.lua",
	                     WITH_WHEN, "d_role.lua", WITH_ROLE, "e_clock.lua", WITH_CLOCK, NULL);
	if (!d)
		return -1;
	snprintf(dir, sizeof(dir), "%s", d);
	return unit_mesh_setup(state);
}

static int teardown(void **state)
{
	remove_bundle_dir(dir);
	return unit_mesh_teardown(state);
}

/* The bundle in dir loaded with decls (NULL: from its source alone); NULL with errors in d. */
static mp_bundle *load(const mp_model *m, const void *decls, size_t len, mp_diags *d)
{
	mp_bundle_source src = {.dir = dir,
	                        .decls = decls,
	                        .decls_len = len,
	                        .decls_label = "t/.meshpol/declarations.bin"};
	return mp_bundle_load_source(&src, m, NULL, d);
}

static uint32_t stored(const void *decls, size_t len)
{
	const unsigned char *p = decls;
	assert_true(len >= 44);
	return (uint32_t)p[40] | (uint32_t)p[41] << 8 | (uint32_t)p[42] << 16 |
	       (uint32_t)p[43] << 24;
}

/* The source and the stored declarations give the same bundle, field by field. */
static void test_same_as_source(void **state)
{
	mp_model *m = *state;
	mp_diags d = {0};
	void *decls;
	size_t len;
	mp_bundle *src = load(m, NULL, 0, &d);
	if (!src) {
		char *t = diags_text(&d);
		print_error("%s", t);
		free(t);
	}
	assert_non_null(src);
	assert_int_equal(mp_bundle_declarations(src, NULL, &decls, &len, &d), 0);
	/* a_rbac and b_other are kept; the `when`, the role and the clock are not */
	assert_int_equal(stored(decls, len), 2);
	void *again;
	size_t len2;
	assert_int_equal(mp_bundle_declarations(src, NULL, &again, &len2, &d), 0);
	assert_int_equal(len, len2); /* the same bytes whatever the hash seed */
	assert_memory_equal(decls, again, len);
	mp_free(again);
	mp_bundle *b = load(m, decls, len, &d);
	assert_non_null(b);
	char *want = bundle_dump(src, m), *got = bundle_dump(b, m);
	same_text(got, want);
	assert_true(b->files[0].no_fns && b->files[1].no_fns && !b->files[2].no_fns);
	free(want);
	free(got);
	mp_bundle_free(b);
	mp_bundle_free(src);
	mp_free(decls);
	mp_diags_free(&d);
}

/* Another format version, another DSL, keys of no file: every file runs, the same bundle. */
static void test_falls_back(void **state)
{
	mp_model *m = *state;
	mp_diags d = {0};
	void *decls;
	size_t len;
	mp_bundle *src = load(m, NULL, 0, &d);
	assert_non_null(src);
	assert_int_equal(mp_bundle_declarations(src, NULL, &decls, &len, &d), 0);
	char *want = bundle_dump(src, m);
	unsigned char *p = decls;
	size_t key = 52 + ((size_t)p[48] | (size_t)p[49] << 8 | (size_t)p[50] << 16); /* strings */
	const size_t at[] = {7, 8, 39, key, key + 31};
	for (size_t i = 0; i < sizeof(at) / sizeof(at[0]); i++) {
		p[at[i]] ^= 0x01; /* the version; the DSL's hash; the first file's key */
		mp_bundle *b = load(m, decls, len, &d);
		assert_non_null(b);
		char *got = bundle_dump(b, m);
		same_text(got, want);
		free(got);
		mp_bundle_free(b);
		p[at[i]] ^= 0x01;
	}
	free(want);
	mp_bundle_free(src);
	mp_free(decls);
	mp_diags_free(&d);
}

/* Every prefix and every flipped byte: refused with an error that names the declarations, or
 * loaded; never a crash. What a flipped byte inside a name does is the manifest's to refuse
 * (test_barchive.c, tests/e2e/bundle_decls.sh): here only the container's own checks count. */
static void test_hostile(void **state)
{
	mp_model *m = *state;
	mp_diags d0 = {0};
	void *decls;
	size_t len;
	mp_bundle *src = load(m, NULL, 0, &d0);
	assert_non_null(src);
	assert_int_equal(mp_bundle_declarations(src, NULL, &decls, &len, &d0), 0);
	unsigned char *copy = mp_malloc(len);
	uint32_t refused = 0;
	for (size_t n = 0; n < len; n += n < 64 ? 1 : 7) { /* truncated */
		mp_diags d = {0};
		memcpy(copy, decls, n);
		mp_bundle *b = load(m, copy, n, &d);
		if (!b) {
			char *t = diags_text(&d);
			assert_non_null(strstr(t, "declarations"));
			free(t);
			refused++;
		}
		mp_bundle_free(b);
		mp_diags_free(&d);
	}
	assert_true(refused > 0);
	for (size_t i = 0; i < len; i += i < 200 ? 1 : 5) { /* one byte flipped */
		mp_diags d = {0};
		memcpy(copy, decls, len);
		copy[i] ^= 0xa5;
		mp_bundle_free(load(m, copy, len, &d));
		mp_diags_free(&d);
	}
	mp_free(copy);
	mp_bundle_free(src);
	mp_free(decls);
	mp_diags_free(&d0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_same_as_source),
	    cmocka_unit_test(test_falls_back),
	    cmocka_unit_test(test_hostile),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
