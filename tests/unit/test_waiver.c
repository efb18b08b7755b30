/* test_waiver.c: engine/waiver.c: reading waivers.yaml (every field, both ways of naming a
 * finding, dates), its errors with file:line:col and the nearest field, hostile YAML (aliases,
 * billion laughs, wrong types, deep nesting, huge files, too many entries), and applying
 * waivers to findings (active, expired, unused, fingerprint prefixes). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "alloc.h"
#include "waiver.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FP "ae4d48295d7633d2bbe86ee384f6ff205fdd0722fff56b4e0dab97b084d1b031"

/* Parses text; returns the waivers (or NULL) and the diagnostics printed into err. */
static mp_waivers *parse(const char *text, char *err, size_t errlen, int *rc)
{
	mp_diags d = {0};
	mp_waivers *w = NULL;
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	*rc = mp_waivers_parse("w.yaml", text, strlen(text), &w, &d);
	mp_diags_print(&d, f);
	fclose(f);
	snprintf(err, errlen, "%s", buf ? buf : "");
	free(buf);
	mp_diags_free(&d);
	return w;
}

static void test_good(void **state)
{
	(void)state;
	char err[2048];
	int rc;
	mp_waivers *w = parse("waivers:\n"
	                      "  - fingerprint: " FP "\n"
	                      "    reason: accepted for the migration\n"
	                      "    owner: team@acme.example\n"
	                      "    expires: 2027-02-28\n"
	                      "  - rule: residency.gdpr/pii-stays-in-eu\n"
	                      "    subject: \"eu/a -> us/b\"\n"
	                      "    reason: |\n      two lines\n      of reason\n"
	                      "    owner: dpo\n"
	                      "    expires: '2028-02-29'\n",
	                      err, sizeof(err), &rc);
	assert_int_equal(rc, 0);
	assert_string_equal(err, "");
	assert_non_null(w);
	assert_int_equal(w->n, 2);
	assert_string_equal(w->v[0].fingerprint, FP);
	assert_null(w->v[0].rule);
	assert_int_equal(w->v[0].expires_at, 1803859200); /* 2027-03-01T00:00:00Z */
	assert_int_equal(w->v[0].line, 2);
	assert_int_equal(w->v[0].col, 5);
	assert_string_equal(w->v[1].rule, "residency.gdpr/pii-stays-in-eu");
	assert_string_equal(w->v[1].subject, "eu/a -> us/b");
	assert_string_equal(w->v[1].reason, "two lines\nof reason\n");
	assert_string_equal(w->v[1].expires, "2028-02-29");
	mp_waivers_free(w);
	/* nothing to waive: an empty file, no list, an empty list */
	const char *empty[] = {"", "# none\n", "waivers:\n", "waivers: []\n"};
	for (size_t k = 0; k < 4; k++) {
		w = parse(empty[k], err, sizeof(err), &rc);
		assert_int_equal(rc, 0);
		assert_string_equal(err, "");
		assert_true(!w || w->n == 0);
		mp_waivers_free(w);
	}
}

#define ENTRY "  - fingerprint: " FP "\n    reason: r\n    owner: o\n    expires: 2027-01-01\n"

static void test_errors(void **state)
{
	(void)state;
	static const struct {
		const char *yaml, *want;
	} cases[] = {
	    {"waiver:\n" ENTRY, "w.yaml:1:1: unknown field 'waiver' (did you mean 'waivers'?)"},
	    {"- a\n", "w.yaml:1:1: waivers.yaml is a mapping with a list 'waivers', not a list"},
	    {"waivers: {a: 1}\n",
	     "w.yaml:1:10: 'waivers' must be a list of waivers, not a mapping"},
	    {"waivers:\n  - just a string\n", "w.yaml:2:5: a waiver is a mapping"},
	    {"waivers:\n  - fingerprint: " FP
	     "\n    reasn: r\n    owner: o\n    expires: 2027-01-01\n",
	     "w.yaml:3:5: unknown field 'reasn' (did you mean 'reason'?)"},
	    {"waivers:\n  - fingerprint: " FP "\n    owner: o\n    expires: 2027-01-01\n",
	     "w.yaml:2:5: missing required field 'reason'"},
	    {"waivers:\n  - fingerprint: " FP
	     "\n    reason: [a, b]\n    owner: o\n    expires: 2027-01-01\n",
	     "w.yaml:3:13: 'reason' must be a string, not a list"},
	    {"waivers:\n  - fingerprint: " FP
	     "\n    reason: r\n    owner: ~\n    expires: 2027-01-01\n",
	     "w.yaml:4:12: 'owner' must be a string, not null"},
	    {"waivers:\n  - fingerprint: " FP
	     "\n    reason: '  '\n    owner: o\n    expires: 2027-01-01\n",
	     "w.yaml:3:13: 'reason' is empty: say why the finding is accepted"},
	    {"waivers:\n  - fingerprint: " FP
	     "\n    reason: r\n    owner: o\n    expires: 2027-02-30\n",
	     "w.yaml:5:14: 'expires' is '2027-02-30': a date YYYY-MM-DD"},
	    {"waivers:\n  - fingerprint: " FP
	     "\n    reason: r\n    owner: o\n    expires: 20270101\n",
	     "'expires' is '20270101'"},
	    {"waivers:\n  - fingerprint: AE4D48295D76\n    reason: r\n    owner: o\n    expires: "
	     "2027-01-01\n",
	     "w.yaml:2:18: 'fingerprint' is 'AE4D48295D76': 12 to 64 lower-case hex digits"},
	    {"waivers:\n  - fingerprint: ae4d\n    reason: r\n    owner: o\n    expires: "
	     "2027-01-01\n",
	     "'fingerprint' is 'ae4d'"},
	    {"waivers:\n  - rule: a/b\n    reason: r\n    owner: o\n    expires: 2027-01-01\n",
	     "w.yaml:2:5: missing 'subject': 'rule' and 'subject' go together"},
	    {"waivers:\n  - rule: ab\n    subject: s\n    reason: r\n    owner: o\n    expires: "
	     "2027-01-01\n",
	     "w.yaml:2:11: 'rule' is 'ab': write it as policy/rule"},
	    {"waivers:\n  - fingerprint: " FP "\n    rule: a/b\n    subject: s\n    reason: r\n    "
	                                      "owner: o\n    expires: 2027-01-01\n",
	     "give either 'fingerprint' or 'rule' and 'subject', not both"},
	    {"waivers:\n  - reason: r\n    owner: o\n    expires: 2027-01-01\n",
	     "missing 'fingerprint' (or 'rule' and 'subject')"},
	    {"waivers:\n  - fingerprint: " FP "\n    fingerprint: " FP
	     "\n    reason: r\n    owner: o\n    expires: 2027-01-01\n",
	     "w.yaml:3:5: 'fingerprint' given twice in one waiver"},
	    /* aliases: refused wherever they are, so nothing is multiplied or shared */
	    {"waivers:\n  - &w\n    fingerprint: " FP
	     "\n    reason: r\n    owner: o\n    expires: 2027-01-01\n  - *w\n",
	     "w.yaml:2:5: this node is used again through an alias"},
	    {"x: &o team\nwaivers:\n  - fingerprint: " FP
	     "\n    reason: r\n    owner: *o\n    expires: 2027-01-01\n",
	     "unknown field 'x'"},
	    {"waivers:\n  - fingerprint: " FP
	     "\n    reason: &r r\n    owner: *r\n    expires: 2027-01-01\n",
	     "w.yaml:3:13: this node is used again through an alias"},
	    {"waivers: [unclosed\n", "w.yaml:2:1: YAML:"},
	    {"waivers:\n  - fingerprint: " FP
	     "\n    reason: \"a\\0b\"\n    owner: o\n    expires: 2027-01-01\n",
	     "'reason' must be UTF-8 text of at most 4096 bytes"},
	};
	for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		char err[4096];
		int rc;
		mp_waivers *w = parse(cases[k].yaml, err, sizeof(err), &rc);
		if (rc != -1 || w || !strstr(err, cases[k].want))
			fail_msg("case %zu: rc %d, got '%s', want '%s'", k, rc, err, cases[k].want);
	}
}

/* Hostile sizes: a billion laughs, deep nesting, a huge reason, more entries than allowed. */
static void test_hostile(void **state)
{
	(void)state;
	char err[4096], *big;
	int rc;
	size_t n;
	mp_waivers *w;
	/* billion laughs: the loader's alias expansion limit refuses it */
	static const char laughs[] =
	    "a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
	    "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, "
	    "*c]\n"
	    "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: &f [*e, *e, *e, *e, *e, *e, *e, "
	    "*e]\n"
	    "g: [*f, *f, *f, *f, *f, *f, *f, *f, *f, *f, *f, *f, *f, *f, *f, *f, *f, *f, *f, *f]\n";
	w = parse(laughs, err, sizeof(err), &rc);
	assert_int_equal(rc, -1);
	assert_null(w);
	/* nesting deeper than the loader allows */
	big = malloc(20000);
	n = (size_t)snprintf(big, 20000, "waivers: ");
	for (int i = 0; i < 200; i++)
		big[n++] = '[';
	big[n] = '\0';
	w = parse(big, err, sizeof(err), &rc);
	assert_int_equal(rc, -1);
	assert_non_null(strstr(err, "w.yaml:1:"));
	free(big);
	/* a reason of 5,000 bytes */
	big = malloc(8000);
	n = (size_t)snprintf(big, 8000, "waivers:\n  - fingerprint: " FP "\n    reason: ");
	memset(big + n, 'r', 5000);
	snprintf(big + n + 5000, 8000 - n - 5000, "\n    owner: o\n    expires: 2027-01-01\n");
	w = parse(big, err, sizeof(err), &rc);
	assert_int_equal(rc, -1);
	assert_non_null(strstr(err, "w.yaml:3:13: 'reason' must be UTF-8 text of at most 4096"));
	free(big);
	/* 10,001 entries */
	size_t one = strlen(ENTRY), cap = 16 + (MP_WAIVERS_MAX + 1) * one;
	big = malloc(cap);
	n = (size_t)snprintf(big, cap, "waivers:\n");
	for (int i = 0; i <= MP_WAIVERS_MAX; i++, n += one)
		memcpy(big + n, ENTRY, one);
	big[n] = '\0';
	w = parse(big, err, sizeof(err), &rc);
	assert_int_equal(rc, -1);
	assert_non_null(strstr(err, "too many waivers: more than 10000 in one file"));
	free(big);
}

static json_t *finding(const char *policy, const char *rule, const char *subject, const char *fp)
{
	return json_pack("{s:s, s:s, s:s, s:s}", "policy", policy, "rule", rule, "subject", subject,
	                 "fingerprint", fp);
}

static void test_apply(void **state)
{
	(void)state;
	char err[2048];
	int rc;
	mp_waivers *w =
	    parse("waivers:\n"
	          "  - fingerprint: ae4d48295d76\n    reason: prefix\n    owner: a\n"
	          "    expires: 2027-01-01\n"
	          "  - rule: p/r\n    subject: s2\n    reason: pair\n    owner: b\n"
	          "    expires: 2026-12-31\n"
	          "  - rule: p/r\n    subject: nothing\n    reason: stale\n    owner: c\n"
	          "    expires: 2027-01-01\n",
	          err, sizeof(err), &rc);
	assert_non_null(w);
	json_t *fs =
	    json_pack("[o, o, o]", finding("p", "r", "s1", FP),
	              finding("p", "r", "s2", "0123456789abcdef"), finding("q", "r", "s2", "11"));
	/* 2027-01-01T12:00:00Z: the first applies all that day, the second lapsed at midnight */
	json_t *out = mp_waivers_apply(w, "pol/waivers.yaml", fs, 1798804800);
	assert_non_null(out);
	assert_string_equal(json_string_value(json_object_get(
	                        json_object_get(json_array_get(fs, 0), "waiver"), "reason")),
	                    "prefix");
	assert_null(json_object_get(json_array_get(fs, 1), "waiver")); /* expired: not waived */
	assert_null(json_object_get(json_array_get(fs, 2), "waiver")); /* other policy */
	const char *status[] = {"active", "expired", "unused"};
	for (size_t k = 0; k < 3; k++)
		assert_string_equal(
		    json_string_value(json_object_get(json_array_get(out, k), "status")),
		    status[k]);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(out, 1), "findings")),
	                 1);
	assert_string_equal(json_string_value(json_object_get(
	                        json_object_get(json_array_get(out, 0), "location"), "file")),
	                    "pol/waivers.yaml");
	json_decref(out);
	json_decref(fs);
	mp_waivers_free(w);
}

static void test_out_of_memory(void **state)
{
	(void)state;
	for (int n = 0; n < 200; n++) {
		char err[2048];
		int rc;
		mp_alloc_fail_after(n);
		mp_waivers *w = parse("waivers:\n" ENTRY ENTRY, err, sizeof(err), &rc);
		mp_alloc_fail_after(-1);
		if (rc == 0) {
			assert_int_equal(w->n, 2);
			mp_waivers_free(w);
			return;
		}
		assert_null(w);
	}
	fail_msg("never succeeded");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_good),          cmocka_unit_test(test_errors),
	    cmocka_unit_test(test_hostile),       cmocka_unit_test(test_apply),
	    cmocka_unit_test(test_out_of_memory),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
