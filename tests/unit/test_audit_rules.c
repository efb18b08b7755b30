/* test_audit_rules.c: engine/audit_rules.c: every code an import row of the check table lists
 * has its text; every row's text and anchor are in docs/rules.md (a heading whose GitHub slug
 * is the anchor, the title and the fix word for word); anchors are unique; fingerprints. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "audit_rules.h"
#include "check.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RULES_DOC "docs/rules.md"

static char *read_doc(void)
{
	FILE *f = fopen(RULES_DOC, "rb");
	char *buf;
	long n;
	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	buf = malloc((size_t)n + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

/* GitHub's anchor of a heading: lower case, spaces to '-', other punctuation dropped. */
static void slug(const char *heading, char *out, size_t len)
{
	size_t o = 0;
	for (const char *p = heading; *p && *p != '\n' && o + 1 < len; p++) {
		unsigned char c = (unsigned char)*p;
		if (isalnum(c) || c == '-' || c == '_')
			out[o++] = (char)tolower(c);
		else if (c == ' ')
			out[o++] = '-';
	}
	out[o] = '\0';
}

static int has_anchor(const char *doc, const char *anchor)
{
	for (const char *p = doc; (p = strstr(p, "\n#")); p++) {
		const char *h = p + 1;
		char s[200];
		while (*h == '#')
			h++;
		slug(h + 1, s, sizeof(s));
		if (!strcmp(s, anchor))
			return 1;
	}
	return 0;
}

static void test_every_code_has_a_text(void **state)
{
	(void)state;
	const mp_check_row *r;
	for (uint32_t i = 0; (r = mp_check_at(i)); i++)
		for (const char *const *c = r->codes; r->phase == MP_CHECK_IMPORT && c && *c; c++)
			if (strcmp(mp_rule_doc_code(*c)->key, *c))
				fail_msg(
				    "import code %s (row %s) has no text in engine/audit_rules.c",
				    *c, r->id);
	assert_string_equal(mp_rule_doc_code("NoSuchCode")->key, "import");
	assert_null(mp_rule_doc_type("nope"));
	assert_string_equal(mp_rule_doc_type("residency")->anchor, "residency");
}

static void test_docs_hold_every_row(void **state)
{
	(void)state;
	char *doc = read_doc();
	const mp_rule_doc *d;
	for (unsigned i = 0; (d = mp_rule_doc_at(i)); i++) {
		if (!has_anchor(doc, d->anchor))
			fail_msg("%s: no heading with anchor #%s in %s", d->key, d->anchor,
			         RULES_DOC);
		if (!strstr(doc, d->title) || !strstr(doc, d->fix))
			fail_msg("%s: its title or fix is not in %s word for word", d->key,
			         RULES_DOC);
		assert_true(!strcmp(d->precision, "very-high") || !strcmp(d->precision, "high") ||
		            !strcmp(d->precision, "medium") || !strcmp(d->precision, "low"));
		for (unsigned k = 0; k < i; k++)
			if (!strcmp(mp_rule_doc_at(k)->anchor, d->anchor))
				fail_msg("anchor #%s twice", d->anchor);
	}
	free(doc);
}

static void test_fingerprint(void **state)
{
	(void)state;
	json_t *a = mp_finding_fingerprint("p", "r", "s"),
	       *b = mp_finding_fingerprint("p", "rs", "");
	assert_int_equal(strlen(json_string_value(a)), 64);
	/* length prefixes: moving bytes between parts changes the fingerprint */
	assert_string_not_equal(json_string_value(a), json_string_value(b));
	json_decref(a);
	json_decref(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_every_code_has_a_text),
	    cmocka_unit_test(test_docs_hold_every_row),
	    cmocka_unit_test(test_fingerprint),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
