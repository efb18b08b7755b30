/* ptest_report.c: the policy test runner's results in a format (ptest.h, mp_ptest_write): JUnit
 * XML (a testsuite per test file; what the Jenkins xunit junit-10.xsd allows) and JSON.
 * Escaping is the audit reports' (report_int.h). Formats: docs/cli.md ("test"). */
#include "ptest.h"
#include "report_int.h"

#include <string.h>

static const char *str_of(json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));
	return s ? s : "";
}

static void attr(FILE *out, const char *name, const char *value)
{
	fprintf(out, " %s=\"", name);
	rp_put(out, value, ESC_XML_ATTR);
	fputc('"', out);
}

static int is(json_t *c, const char *status)
{
	return !strcmp(str_of(c, "status"), status);
}

/* A test fails with a <failure> when an expectation failed, errs with an <error> when an error
 * stopped it (or its file): one element each at most, so the counts count elements. */
static int failed(json_t *c)
{
	return json_array_size(json_object_get(c, "failures")) > 0;
}

static void write_case(FILE *out, json_t *c)
{
	json_t *f = json_object_get(c, "failures"), *v;
	size_t i;
	fputs("    <testcase", out);
	attr(out, "classname", str_of(c, "file"));
	attr(out, "name", str_of(c, "name"));
	attr(out, "file", str_of(c, "location"));
	if (is(c, "pass")) {
		fputs("/>\n", out);
		return;
	}
	fputs(">\n", out);
	if (failed(c)) {
		fputs("      <failure", out);
		attr(out, "message", json_string_value(json_array_get(f, 0)));
		attr(out, "type", "expectation");
		fputc('>', out);
		json_array_foreach(f, i, v)
		{
			fputs(i ? "\n" : "", out);
			rp_put(out, json_string_value(v), ESC_XML_TEXT);
		}
		fputs("</failure>\n", out);
	}
	if (is(c, "error")) {
		fputs("      <error", out);
		attr(out, "message", str_of(c, "error"));
		attr(out, "type", "error");
		fputc('>', out);
		rp_put(out, str_of(c, "error"), ESC_XML_TEXT);
		fputs("</error>\n", out);
	}
	fputs("    </testcase>\n", out);
}

static void write_junit(const mp_ptest_result *res, const char *dir, FILE *out)
{
	size_t i, j, n = json_array_size(res->cases), nf = 0, ne = 0;
	json_t *c;
	json_array_foreach(res->cases, i, c)
	{
		nf += (size_t)failed(c);
		ne += (size_t)is(c, "error");
	}
	fputs("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites", out);
	attr(out, "name", dir);
	fprintf(out, " tests=\"%zu\" failures=\"%zu\" errors=\"%zu\">\n", n, nf, ne);
	/* a suite per file, in the order files ran (cases of one file are together) */
	for (i = 0; i < n; i = j) {
		const char *file = str_of(json_array_get(res->cases, i), "file");
		size_t sf = 0, se = 0;
		for (j = i; j < n && !strcmp(str_of(json_array_get(res->cases, j), "file"), file);
		     j++) {
			sf += (size_t)failed(json_array_get(res->cases, j));
			se += (size_t)is(json_array_get(res->cases, j), "error");
		}
		fputs("  <testsuite", out);
		attr(out, "name", file);
		fprintf(out, " tests=\"%zu\" failures=\"%zu\" errors=\"%zu\" skipped=\"0\"", j - i,
		        sf, se);
		attr(out, "file", file);
		fputs(">\n", out);
		for (size_t k = i; k < j; k++)
			write_case(out, json_array_get(res->cases, k));
		fputs("  </testsuite>\n", out);
	}
	fputs("</testsuites>\n", out);
}

static const char *const formats[] = {"text", "junit", "json", NULL};

int mp_ptest_format_known(const char *format)
{
	for (size_t k = 0; format && formats[k]; k++)
		if (!strcmp(format, formats[k]))
			return 1;
	return 0;
}

int mp_ptest_write(const mp_ptest_result *res, const char *dir, const char *format, FILE *out)
{
	if (!strcmp(format, "junit")) {
		write_junit(res, dir, out);
	} else if (!strcmp(format, "json")) {
		json_t *j = json_pack("{s:s, s:I, s:I, s:O}", "bundle", dir, "passed",
		                      (json_int_t)res->passed, "failed", (json_int_t)res->failed,
		                      "tests", res->cases);
		int rc = j ? json_dumpf(j, out, JSON_INDENT(2)) : -1;
		json_decref(j);
		if (rc < 0)
			return -1;
		fputc('\n', out);
	} else if (strcmp(format, "text")) {
		return -1;
	}
	/* text: the run printed it as it went (mp_ptest_opts.out) */
	return fflush(out) != 0 || ferror(out) ? -1 : 0;
}
