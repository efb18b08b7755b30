/* test_match.c: engine/match.c: every pattern form, as a table of pattern, value, expected. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "match.h"

#include <string.h>

typedef struct {
	const char *pattern, *value;
	int path, want;
} row;

static const row rows[] = {
    {"spiffe://a/ns/x/sa/y", "spiffe://a/ns/x/sa/y", 0, 1},
    {"spiffe://a/ns/x/sa/y", "spiffe://a/ns/x/sa/yy", 0, 0},
    {"spiffe://a/ns/x/*", "spiffe://a/ns/x/sa/y", 0, 1},
    {"spiffe://a/ns/x/*", "spiffe://a/ns/z/sa/y", 0, 0},
    {"*/sa/y", "spiffe://a/ns/x/sa/y", 0, 1},
    {"*/sa/y", "spiffe://a/ns/x/sa/yz", 0, 0},
    {"*", "", 0, 1},
    {"*", "anything", 0, 1},
    {"/v1/charge", "/v1/charge", 1, 1},
    {"/v1/charge", "/v1/charge/", 1, 0},
    {"/v1/*", "/v1/", 1, 1},
    {"/v1/*", "/v2/", 1, 0},
    {"*.json", "/a/b.json", 1, 1},
    {"/a/{*}/c", "/a/b/c", 1, 1},
    {"/a/{*}/c", "/a//c", 1, 0},
    {"/a/{*}/c", "/a/b/x/c", 1, 0},
    {"/a/{*}", "/a/b", 1, 1},
    {"/a/{*}", "/a/b/", 1, 0},
    {"/a/{**}", "/a/", 1, 1},
    {"/a/{**}", "/a/b/c/d", 1, 1},
    {"/a/{**}", "/b/c", 1, 0},
    {"/{*}/x/{**}", "/v1/x/y/z", 1, 1},
    {"/{*}/x/{**}", "/v1/y/z", 1, 0},
    {"/a/{*}", "/a/{*}", 0, 1}, /* not a path: braces are literal */
};

static void test_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		mp_pattern p;
		char err[128];
		assert_int_equal(
		    mp_pattern_compile(&p, rows[i].pattern, rows[i].path, err, sizeof(err)), 0);
		int got = mp_pattern_match(&p, rows[i].value, strlen(rows[i].value));
		if (got != rows[i].want)
			fail_msg("'%s' vs '%s': got %d", rows[i].pattern, rows[i].value, got);
	}
}

static void test_absent_and_case(void **state)
{
	(void)state;
	mp_pattern p;
	char err[128];
	mp_pattern_compile(&p, "*", 0, err, sizeof(err));
	assert_false(mp_pattern_match(&p, NULL, 0)); /* "*" needs a value */
	mp_pattern_compile(&p, "API.Stripe.com", 0, err, sizeof(err));
	assert_true(mp_pattern_match_nocase(&p, "api.stripe.COM", 14));
	assert_false(mp_pattern_match(&p, "api.stripe.COM", 14));
	mp_pattern_compile(&p, "*.EU", 0, err, sizeof(err));
	assert_true(mp_pattern_match_nocase(&p, "mail.eu", 7));
}

static void test_bad_templates(void **state)
{
	(void)state;
	static const char *const bad[] = {"/a/{**}/b", "/a/{x}", "/a/b{*}", "/a/{*}b", "/a/{**"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		mp_pattern p;
		char err[128] = "";
		if (mp_pattern_compile(&p, bad[i], 1, err, sizeof(err)) == 0)
			fail_msg("'%s' accepted", bad[i]);
		assert_non_null(strstr(err, bad[i]));
	}
}

/* Normalisation, with and without merging slashes (the engine merges; Istio's BASE does not). */
static void test_normalize(void **state)
{
	(void)state;
	static const char *const rows[][3] = {
	    /* input, merged, not merged */
	    {"/a/b", "/a/b", "/a/b"},
	    {"/a/../b", "/b", "/b"},
	    {"/a/./b/", "/a/b/", "/a/b/"},
	    {"/a/%2e%2E/b", "/b", "/b"},
	    {"//admin//x", "/admin/x", "//admin//x"},
	    {"/a/..", "/", "/"},
	    {"/a/.", "/a/", "/a/"},
	    {"/../../x", "/x", "/x"},
	    {"/%41%7e%2F?q=1", "/A~%2F", "/A~%2F"},
	    {"/x#frag", "/x", "/x"},
	    /* Istio's own table, tests/integration/security/normalization_test.go (istio/istio,
	     * TestNormalization): the "MergeSlashes" outputs (MERGE_SLASHES: Envoy's
	     * normalize_path, then merge_slashes), then the "Base" ones (BASE, Istio's default) */
	    {"/", "/", "/"},
	    {"/app#foo", "/app", "/app"},
	    {"/app/", "/app/", "/app/"},
	    {"/app/../admin", "/admin", "/admin"},
	    {"/app", "/app", "/app"},
	    {"/app//", "/app/", "/app//"},
	    {"/app/%2f", "/app/%2f", "/app/%2f"},
	    {"/app%2f/", "/app%2f/", "/app%2f/"},
	    {"/xyz%30..//abc", "/xyz0../abc", "/xyz0..//abc"},
	    {"/app/%2E./admin", "/admin", "/admin"},
	    {"/app\\admin", "/app/admin", "/app/admin"},
	    {"/app/\\/\\/\\admin", "/app/admin", "/app//////admin"},
	    {"/%2Fapp%5cadmin%5Cabc", "/%2Fapp%5cadmin%5Cabc", "/%2Fapp%5cadmin%5Cabc"},
	    {"/%5Capp%2f%5c%2F%2e%2e%2fadmin%5c\\abc", "/%5Capp%2f%5c%2F..%2fadmin%5c/abc",
	     "/%5Capp%2f%5c%2F..%2fadmin%5c/abc"},
	    {"/app//../admin", "/app/admin", "/app/admin"},
	    {"/app//../../admin", "/admin", "/admin"},
	};
	char out[64];
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		for (int merge = 1; merge >= 0; merge--) {
			assert_true(mp_path_normalize(rows[i][0], out, sizeof(out), merge) >= 0);
			if (strcmp(out, rows[i][merge ? 1 : 2]))
				fail_msg("'%s' (merge %d): got '%s', want '%s'", rows[i][0], merge,
				         out, rows[i][merge ? 1 : 2]);
		}
	}
	assert_int_equal(mp_path_normalize("/aaaaaaaaaa", out, 4, 1), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_table),
	    cmocka_unit_test(test_absent_and_case),
	    cmocka_unit_test(test_bad_templates),
	    cmocka_unit_test(test_normalize),

	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
