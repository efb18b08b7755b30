/* test_diag.c: engine/diag.c: the nearest-name helper every "unknown key" error uses
 * (mp_diag_nearest, mp_diag_hint), one row per kind of misspelling and per refusal. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "diag.h"

#include <string.h>

static const char *const input_keys[] = {"source", "destination", "request", "context", NULL};
static const char *const request_keys[] = {"method", "path", "headers", "host",
                                           "sni",    "auth", NULL};
static const char *const expect_keys[] = {"from", "to",    "method", "path",   "port",   "headers",
                                          "ip",   "input", "rule",   "policy", "effect", NULL};
static const char *const modes[] = {"STRICT", "PERMISSIVE", "DISABLE", NULL};
static const char *const kinds[] = {"Cluster", "Jurisdiction", "Namespace",   "Service",
                                    "Route",   "External",     "Certificate", NULL};
static const char *const retry_keys[] = {"attempts", "per_try_timeout", NULL};
static const char *const ties[] = {"abcd", "abce", NULL};
static const char *const empty[] = {NULL};

static void test_nearest(void **state)
{
	(void)state;
	static const struct {
		const char *s;
		const char *const *names;
		const char *want; /* NULL: no suggestion */
	} cases[] = {
	    {"methd", request_keys, "method"},    /* a deletion */
	    {"requst", input_keys, "request"},    /* a deletion */
	    {"efect", expect_keys, "effect"},     /* a deletion */
	    {"rul", expect_keys, "rule"},         /* short: one edit allowed */
	    {"inptu", expect_keys, "input"},      /* two neighbours swapped */
	    {"mehtod", request_keys, "method"},   /* swapped, in a longer word */
	    {"paht", request_keys, "path"},       /* swapped */
	    {"hedaers", request_keys, "headers"}, /* swapped */
	    {"strict", modes, "STRICT"},          /* case only */
	    {"Permisive", modes, "PERMISSIVE"},   /* case and a deletion */
	    {"Servce", kinds, "Service"},         /* kinds */
	    {"per_try_timout", retry_keys, "per_try_timeout"},
	    {"destinaton", input_keys, "destination"},
	    {"Gateway", kinds, NULL},     /* nothing close */
	    {"verb", request_keys, NULL}, /* nothing close */
	    {"x", expect_keys, NULL},     /* one letter is not enough to guess */
	    {"", expect_keys, NULL},
	    {"method", empty, NULL},            /* no names */
	    {"abcf", ties, "abcd"},             /* a tie goes to the earlier name */
	    {"method", request_keys, "method"}, /* an exact name is its own nearest */
	    {"mthds", request_keys, NULL},      /* two edits on five letters: too far */
	    /* longer than any name can be: never matched */
	    {"methodmethodmethodmethodmethodmethodmethodmethodmethodmethodmethod", request_keys,
	     NULL},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *got = mp_diag_nearest(cases[i].s, cases[i].names);
		if (cases[i].want ? !got || strcmp(got, cases[i].want) : got != NULL)
			fail_msg("'%s': want %s, got %s", cases[i].s,
			         cases[i].want ? cases[i].want : "(none)", got ? got : "(none)");
	}
}

static void test_hint(void **state)
{
	(void)state;
	char buf[200];
	assert_string_equal(mp_diag_hint("methd", request_keys, buf, sizeof(buf)),
	                    "did you mean 'method'?");
	assert_string_equal(mp_diag_hint("verb", request_keys, buf, sizeof(buf)),
	                    "expected method, path, headers, host, sni or auth");
	assert_string_equal(
	    mp_diag_hint("Gateway", kinds, buf, sizeof(buf)),
	    "expected Cluster, Jurisdiction, Namespace, Service, Route, External or "
	    "Certificate");
	static const char *const two[] = {"allow", "deny", NULL};
	static const char *const one[] = {"allowed", NULL};
	assert_string_equal(mp_diag_hint("zzzz", two, buf, sizeof(buf)), "expected allow or deny");
	assert_string_equal(mp_diag_hint("zzzz", one, buf, sizeof(buf)), "expected allowed");
	assert_string_equal(mp_diag_hint("zzzz", empty, buf, sizeof(buf)), "expected ");
	/* a small buffer is cut, never overrun */
	char small[12];
	memset(small, 'x', sizeof(small));
	mp_diag_hint("verb", request_keys, small, sizeof(small));
	assert_int_equal(strlen(small), sizeof(small) - 1);
	assert_string_equal(mp_diag_hint("methd", request_keys, small, 1), "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_nearest),
	    cmocka_unit_test(test_hint),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
