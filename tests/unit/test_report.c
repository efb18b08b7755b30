/* test_report.c: engine/report.c: each format of tests/data/audit/sample.json (structure,
 * escaping, the control verdicts), audits of the wrong shape, write errors, out of memory.
 * `test_report --write DIR` writes every format to DIR/report.* for tests/e2e/report.sh. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "alloc.h"
#include "report.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SAMPLE "tests/data/audit/sample.json"

static const char *const formats[] = {"text", "json", "junit", "sarif", "markdown", "html"};
static const char *const extensions[] = {"txt", "json", "xml", "sarif", "md", "html"};
#define NFORMATS (sizeof(formats) / sizeof(formats[0]))

static json_t *load_json(const char *text)
{
	json_error_t e;
	json_t *j = text ? json_loads(text, JSON_REJECT_DUPLICATES, &e)
	                 : json_load_file(SAMPLE, JSON_REJECT_DUPLICATES, &e);
	if (!j)
		fail_msg("%s:%d: %s", text ? "(text)" : SAMPLE, e.line, e.text);
	return j;
}

/* The report as a string (free it), or NULL with the message in err. */
static char *render(json_t *audit, const char *format, int color, char *err, size_t errlen)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	assert_non_null(f);
	int rc = mp_report_write(audit, format, f, color, err, errlen);
	fclose(f);
	if (rc < 0) {
		free(buf);
		return NULL;
	}
	return buf;
}

static char *must_render(json_t *audit, const char *format, int color)
{
	char err[256] = "";
	char *s = render(audit, format, color, err, sizeof(err));
	if (!s)
		fail_msg("%s: %s", format, err);
	return s;
}

static size_t count(const char *hay, const char *needle)
{
	size_t n = 0;
	for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
		n++;
	return n;
}

static void assert_contains(const char *hay, const char *needle)
{
	if (!strstr(hay, needle))
		fail_msg("missing: %s", needle);
}

/* needles appear in this order */
static void assert_order(const char *hay, const char *a, const char *b)
{
	const char *pa = strstr(hay, a), *pb = strstr(hay, b);
	if (!pa || !pb || pa > pb)
		fail_msg("'%s' should come before '%s'", a, b);
}

/* No byte below 0x20 but newlines: no terminal escape, nothing XML 1.0 forbids. */
static void assert_no_controls(const char *s)
{
	for (const char *p = s; *p; p++)
		if ((unsigned char)*p < 0x20 && *p != '\n')
			fail_msg("control byte 0x%02x at offset %td", (unsigned char)*p, p - s);
}

static void test_format_known(void **state)
{
	(void)state;
	for (size_t k = 0; k < NFORMATS; k++)
		assert_true(mp_report_format_known(formats[k]));
	assert_false(mp_report_format_known("xml"));
	assert_false(mp_report_format_known("TEXT"));
	assert_false(mp_report_format_known(""));
	assert_false(mp_report_format_known(NULL));
}

static void test_unknown_format(void **state)
{
	(void)state;
	char err[256];
	json_t *a = load_json(NULL);
	assert_null(render(a, "xml", 0, err, sizeof(err)));
	assert_string_equal(
	    err, "unknown report format 'xml' (use text, json, junit, sarif, markdown or html)");
	assert_null(render(a, "x\033y", 0, err, sizeof(err)));
	assert_contains(err, "'x\\x1by'");
	assert_null(render(a, NULL, 0, err, sizeof(err)));
	assert_contains(err, "'(null)'");
	json_decref(a);
}

#define BASE "\"policies\": [], \"rules\": [], \"findings\": [], \"errors\": [], \"counts\": {}"

static void test_bad_audits(void **state)
{
	(void)state;
	static const struct {
		const char *json, *err;
	} cases[] = {
	    {"[]", "audit: not a JSON object"},
	    {"{\"rules\": [], \"findings\": [], \"errors\": [], \"counts\": {}, \"fail_on\": "
	     "\"hard\", \"result\": \"pass\"}",
	     "audit: 'policies' is missing or not an array"},
	    {"{\"policies\": [], \"rules\": {}, \"findings\": [], \"errors\": [], \"counts\": {}, "
	     "\"fail_on\": \"hard\", \"result\": \"pass\"}",
	     "audit: 'rules' is missing or not an array"},
	    {"{\"policies\": [], \"rules\": [], \"findings\": [{}, 1], \"errors\": [], \"counts\": "
	     "{}, \"fail_on\": \"hard\", \"result\": \"pass\"}",
	     "audit: findings[1] is not an object"},
	    {"{\"policies\": [], \"rules\": [], \"findings\": [], \"errors\": [], \"fail_on\": "
	     "\"hard\", \"result\": \"pass\"}",
	     "audit: 'counts' is missing or not an object"},
	    {"{" BASE ", \"fail_on\": \"sometimes\\u001b\", \"result\": \"pass\"}",
	     "audit: 'fail_on' is 'sometimes\\x1b', not advisory, soft, hard, critical, high, "
	     "medium or low"},
	    {"{" BASE ", \"result\": \"pass\"}",
	     "audit: 'fail_on' is '(missing)', not advisory, soft, hard, critical, high, "
	     "medium or low"},
	    {"{" BASE ", \"fail_on\": \"soft\", \"result\": \"ok\"}",
	     "audit: 'result' is 'ok', not pass or fail"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		json_t *a = load_json(cases[i].json);
		for (size_t k = 0; k < 5; k++) {
			char err[256] = "";
			char *out = render(a, formats[k], 0, err, sizeof(err));
			if (out)
				fail_msg("case %zu, %s: accepted", i, formats[k]);
			assert_string_equal(err, cases[i].err);
		}
		json_decref(a);
	}
}

static void test_json(void **state)
{
	(void)state;
	json_t *a = load_json(NULL);
	char *out = must_render(a, "json", 0);
	json_t *back = load_json(out);
	assert_true(json_equal(a, back));
	assert_int_equal(strncmp(out, "{\n  \"bundle\": {", 15), 0); /* keys sorted, indent 2 */
	assert_order(out, "\"bundle\"", "\"counts\"");
	assert_order(out, "\"time\"", "\"tool\"");
	assert_contains(out, "\\u001B[31m"); /* escaped by jansson */
	assert_no_controls(out);
	assert_int_equal(out[strlen(out) - 1], '\n');
	json_decref(back);
	free(out);
	json_decref(a);
}

static void test_junit(void **state)
{
	(void)state;
	json_t *a = load_json(NULL);
	char *out = must_render(a, "junit", 0);
	assert_int_equal(strncmp(out, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n", 39), 0);
	assert_contains(out, "<testsuites name=\"meshpol audit\" tests=\"8\" failures=\"4\" "
	                     "errors=\"1\">");
	assert_int_equal(count(out, "<testsuite "), 5);
	assert_int_equal(count(out, "</testsuite>"), 5);
	assert_int_equal(count(out, "<testcase "), 8);
	assert_int_equal(count(out, "<failure "), 4); /* one a failed testcase: failures="4" */
	assert_int_equal(count(out, "<error "), 1);
	assert_contains(out, "<testsuite name=\"traffic.baseline\" tests=\"3\" failures=\"1\" "
	                     "errors=\"0\" skipped=\"0\" timestamp=\"2026-11-25T23:59:59Z\" "
	                     "file=\"policies/traffic/baseline.lua\">");
	assert_contains(out, "<testsuite name=\"pci.cardholder\" tests=\"1\" failures=\"0\" "
	                     "errors=\"1\"");
	assert_contains(out, "<testcase classname=\"traffic.baseline\" name=\"weights\"/>");
	assert_contains(out,
	                "<failure message=\"2 findings; the first: catalog/products -&gt; "
	                "catalog/inventory -&gt; catalog/search -&gt; catalog/products: routing "
	                "loop through 3 routes\" type=\"high\">");
	assert_contains(out, "see examples/acme/routes.yaml:238: hop 2\n");
	/* escaping: text, attributes (where a newline must survive), replaced control chars */
	assert_contains(out, "subject: billing/payments &lt;admin&gt; &amp; &quot;ops&quot; | "
	                     "&apos;all&apos;\n");
	assert_contains(out, "&apos;all&apos;: allow rule &apos;any&apos; admits principal "
	                     "&quot;*&quot;\\x1b[31m (terminal escape)\\x1b[0m\"");
	assert_contains(out,
	                "shop/api@us1: pii flows to us-east1 (US)&#10;via route web-api | weight "
	                "10\"");
	assert_contains(out, "message: pii flows to us-east1 (US)\nvia route web-api");
	assert_contains(out, "subject: Shop/Checkout\\x07\\u0085\n");
	assert_contains(out, "<error message=\"policies/pci/cardholder.lua:88: attempt to index a "
	                     "nil value (field &apos;zone&apos;)\" type=\"error\">");
	assert_no_controls(out);
	free(out);
	json_decref(a);
}

static json_t *at(json_t *j, const char *path)
{
	/* "runs.0.results.1.level": object keys and array indexes, dot-separated */
	char buf[256], *save = NULL;
	snprintf(buf, sizeof(buf), "%s", path);
	for (char *t = strtok_r(buf, ".", &save); t && j; t = strtok_r(NULL, ".", &save))
		j = json_is_array(j) ? json_array_get(j, strtoul(t, NULL, 10))
		                     : json_object_get(j, t);
	return j;
}

static const char *str_at(json_t *j, const char *path)
{
	const char *s = json_string_value(at(j, path));
	if (!s)
		fail_msg("no string at %s", path);
	return s;
}

static void sha256_hex(const char *s, char hex[65])
{
	unsigned char md[32];
	unsigned n = 0;
	assert_int_equal(EVP_Digest(s, strlen(s), md, &n, EVP_sha256(), NULL), 1);
	for (unsigned k = 0; k < n; k++)
		snprintf(hex + 2 * k, 3, "%02x", md[k]);
}

static void test_sarif(void **state)
{
	(void)state;
	static const char *const levels[] = {"error",   "error",   "error",
	                                     "warning", "warning", "note"};
	json_t *a = load_json(NULL);
	char *out = must_render(a, "sarif", 0), *again = must_render(a, "sarif", 0);
	json_t *s = load_json(out), *rules = at(s, "runs.0.tool.driver.rules");
	json_t *results = at(s, "runs.0.results");
	char path[128], hex[65];
	assert_string_equal(out, again); /* deterministic */
	assert_string_equal(str_at(s, "$schema"), "https://json.schemastore.org/sarif-2.1.0.json");
	assert_string_equal(str_at(s, "version"), "2.1.0");
	assert_int_equal(json_array_size(json_object_get(s, "runs")), 1);
	assert_string_equal(str_at(s, "runs.0.tool.driver.name"), "meshpol");
	assert_string_equal(str_at(s, "runs.0.tool.driver.version"), "0.1.0");
	assert_string_equal(str_at(s, "runs.0.tool.driver.semanticVersion"), "0.1.0");
	assert_string_equal(str_at(s, "runs.0.tool.driver.informationUri"),
	                    "https://github.com/meshpol/meshpol/blob/v0.1.0/docs/audit-format.md");
	assert_int_equal(json_array_size(rules), 8);
	assert_int_equal(json_array_size(results), 6);
	for (size_t i = 0; i < 6; i++) {
		json_t *f = json_array_get(json_object_get(a, "findings"), i), *r;
		char id[128];
		r = json_array_get(results, i);
		snprintf(id, sizeof(id), "%s/%s", str_at(f, "policy"), str_at(f, "rule"));
		assert_string_equal(str_at(r, "ruleId"), id);
		json_int_t idx = json_integer_value(json_object_get(r, "ruleIndex"));
		snprintf(path, sizeof(path), "%lld.id", (long long)idx);
		assert_string_equal(str_at(rules, path), id);
		assert_string_equal(str_at(r, "level"), levels[i]);
		assert_int_equal(strlen(str_at(r, "partialFingerprints.meshpolFinding/v1")), 64);
	}
	/* the fingerprint's definition is pinned: changing it re-opens every alert */
	char pre[512];
	const char *subject = str_at(a, "findings.0.subject");
	snprintf(pre, sizeof(pre), "16:traffic.baseline13:routing-loops%zu:%s", strlen(subject),
	         subject);
	sha256_hex(pre, hex);
	assert_string_equal(str_at(results, "0.partialFingerprints.meshpolFinding/v1"), hex);
	assert_string_not_equal(str_at(results, "0.partialFingerprints.meshpolFinding/v1"),
	                        str_at(results, "2.partialFingerprints.meshpolFinding/v1"));
	assert_string_equal(str_at(results, "0.message.text"),
	                    "catalog/products -> catalog/inventory -> catalog/search -> "
	                    "catalog/products: routing loop through 3 routes");
	assert_string_equal(str_at(results, "0.locations.0.physicalLocation.artifactLocation.uri"),
	                    "examples/acme/routes.yaml");
	assert_int_equal(
	    json_integer_value(at(results, "0.locations.0.physicalLocation.region.startLine")),
	    229);
	assert_int_equal(json_array_size(at(results, "0.relatedLocations")), 2);
	assert_int_equal(json_integer_value(
	                     at(results, "0.relatedLocations.0.physicalLocation.region.startLine")),
	                 238);
	assert_string_equal(str_at(results, "0.relatedLocations.1.message.text"), "hop 3");
	assert_int_equal(json_array_size(at(results, "0.properties.path")), 4);
	assert_string_equal(str_at(results, "1.locations.0.physicalLocation.artifactLocation.uri"),
	                    "examples/acme/rbac%20policies/billing%20%231.yaml");
	assert_null(at(results, "4.locations")); /* that finding has no location */
	assert_null(at(results, "2.relatedLocations"));
	/* rules: severity and its GitHub ranking, controls, tags */
	assert_string_equal(str_at(rules, "3.id"), "rbac.zero-trust/no-wildcard-principals");
	assert_string_equal(str_at(rules, "3.properties.severity"), "critical");
	assert_string_equal(str_at(rules, "3.properties.security-severity"), "9.5");
	assert_string_equal(str_at(rules, "3.defaultConfiguration.level"), "error");
	assert_string_equal(str_at(rules, "3.properties.controls.2"), "NIST-800-53-AC-3");
	assert_string_equal(str_at(rules, "3.properties.tags.0"), "security");
	assert_string_equal(str_at(rules, "3.properties.tags.1"), "rbac");
	assert_string_equal(str_at(rules, "3.shortDescription.text"),
	                    "No allow rule admits any principal.");
	assert_null(at(rules, "7.properties.security-severity")); /* info */
	/* the policy error is a notification tied to its rule */
	assert_true(json_is_false(at(s, "runs.0.invocations.0.executionSuccessful")));
	assert_string_equal(
	    str_at(s, "runs.0.invocations.0.toolExecutionNotifications.0.associatedRule.id"),
	    "pci.cardholder/segmentation");
	assert_string_equal(str_at(s, "runs.0.properties.bundle.revision"), "2026.11.25-1");
	assert_string_equal(str_at(s, "runs.0.properties.result"), "fail");
	json_decref(s);
	free(again);
	free(out);
	json_decref(a);
}

/* Every table row has as many unescaped pipes as its header row. */
static void assert_tables_well_formed(const char *md)
{
	size_t want = 0;
	for (const char *line = md; *line;) {
		const char *end = strchr(line, '\n');
		size_t len = end ? (size_t)(end - line) : strlen(line), pipes = 0;
		for (size_t i = 0; i < len; i++)
			if (line[i] == '\\')
				i++;
			else if (line[i] == '|')
				pipes++;
		if (len && line[0] == '|') {
			if (!want)
				want = pipes;
			else if (pipes != want)
				fail_msg("table row with %zu cells, want %zu: %.*s", pipes, want,
				         (int)len, line);
		} else {
			want = 0;
		}
		line = end ? end + 1 : line + len;
	}
}

static void test_markdown(void **state)
{
	(void)state;
	static const struct {
		const char *fail_on, *rows[9];
	} cases[] = {
	    {"hard",
	     {"| GDPR-Art.44 | PASS | 1 | 2 | 0 |", "| ISO27001-A.9.4.1 | FAIL | 2 | 1 | 1 |",
	      "| ISO27001-A.12.1.2 | PASS | 1 | 1 | 0 |", "| ISO27001-A.13.1 | FAIL | 3 | 2 | 2 |",
	      "| NIST-800-53-AC-3 | FAIL | 2 | 1 | 1 |", "| PCI-DSS-1.2.1 | ERROR | 1 | 0 | 0 |",
	      "| PCI-DSS-10.2.1 | NOT TESTED | 0 | 0 | 0 |", "| SOC2-CC6.1 | FAIL | 2 | 1 | 1 |",
	      "| SOC2-CC7.1 | FAIL | 3 | 2 | 2 |"}},
	    {"soft",
	     {"| GDPR-Art.44 | FAIL | 1 | 2 | 2 |", "| ISO27001-A.9.4.1 | FAIL | 2 | 1 | 1 |",
	      "| ISO27001-A.12.1.2 | PASS | 1 | 1 | 0 |", "| ISO27001-A.13.1 | FAIL | 3 | 2 | 2 |",
	      "| NIST-800-53-AC-3 | FAIL | 2 | 1 | 1 |", "| PCI-DSS-1.2.1 | ERROR | 1 | 0 | 0 |",
	      "| PCI-DSS-10.2.1 | NOT TESTED | 0 | 0 | 0 |", "| SOC2-CC6.1 | FAIL | 2 | 1 | 1 |",
	      "| SOC2-CC7.1 | FAIL | 3 | 2 | 2 |"}},
	    {"advisory",
	     {"| GDPR-Art.44 | FAIL | 1 | 2 | 2 |", "| ISO27001-A.9.4.1 | FAIL | 2 | 1 | 1 |",
	      "| ISO27001-A.12.1.2 | FAIL | 1 | 1 | 1 |", "| ISO27001-A.13.1 | FAIL | 3 | 2 | 2 |",
	      "| NIST-800-53-AC-3 | FAIL | 2 | 1 | 1 |", "| PCI-DSS-1.2.1 | ERROR | 1 | 0 | 0 |",
	      "| PCI-DSS-10.2.1 | NOT TESTED | 0 | 0 | 0 |", "| SOC2-CC6.1 | FAIL | 2 | 1 | 1 |",
	      "| SOC2-CC7.1 | FAIL | 3 | 2 | 2 |"}},
	};
	json_t *a = load_json(NULL);
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		json_object_set_new(a, "fail_on", json_string(cases[c].fail_on));
		char *out = must_render(a, "markdown", 0);
		for (size_t r = 0; r < 9; r++)
			assert_contains(out, cases[c].rows[r]);
		for (size_t r = 0; r + 1 < 9; r++) /* natural order: A.9 before A.12 before A.13 */
			assert_order(out, cases[c].rows[r], cases[c].rows[r + 1]);
		assert_tables_well_formed(out);
		assert_no_controls(out);
		free(out);
	}
	json_object_set_new(a, "fail_on", json_string("hard"));
	char *out = must_render(a, "markdown", 0);
	assert_contains(out, "# meshpol compliance report\n");
	assert_contains(out, "| Bundle revision | 2026.11.25-1 |\n");
	assert_contains(out,
	                "| Model SHA-256 | 4b1e0c9d2f6a8e3b5c7d9f1a3b5c7d9e1f3a5b7c9d1e3f5a7b9c1d3e"
	                "5f7a9b1c |\n");
	assert_contains(out, "| Tool | meshpol 0.1.0 |\n");
	assert_contains(out, "| Result | **FAIL** |\n");
	assert_contains(out, "| rbac.zero-trust | 2.0.1 | rbac | hard | critical | SOC2-CC6.1, "
	                     "ISO27001-A.9.4.1, NIST-800-53-AC-3 | 2 | 1 |\n");
	assert_contains(out, "### PCI-DSS-1.2.1: ERROR\n\n- pci.cardholder/segmentation (high, "
	                     "hard): error, 0 findings\n");
	assert_contains(out, "### PCI-DSS-10.2.1: NOT TESTED\n\nNo rule of this audit checks this "
	                     "control.\n");
	assert_contains(out, "- residency.gdpr/pii-stays-in-eu (medium, soft): fail, 2 findings\n"
	                     "  - medium, soft: shop/api@us1: pii flows to us-east1 (US)<br>via "
	                     "route web-api \\| weight 10 (examples/acme/routes.yaml:88)\n");
	/* escaping in cells */
	assert_contains(out, "| billing/payments \\<admin> \\& \"ops\" \\| 'all' |");
	assert_contains(out, "name has uppercase letters; use \\`shop/checkout\\` \\*not\\* "
	                     "\\_Shop\\_ \\[link\\](x) \\~x\\~ \\$y\\$ \\\\ ok");
	assert_contains(out, "| Shop/Checkout\\x07\\u0085 |");
	assert_order(out, "### Critical (1)", "### High (2)");
	assert_order(out, "### High (2)", "### Medium (2)");
	assert_order(out, "### Medium (2)", "### Info (1)");
	assert_contains(out, "| analytics/warehouse | replicates pii to a region outside any "
	                     "jurisdiction | rule at policies/residency/gdpr.lua:14 |");
	assert_contains(out,
	                "## Errors\n\n| Rule | Message | Location |\n|---|---|---|\n| "
	                "pci.cardholder/segmentation | policies/pci/cardholder.lua:88: attempt "
	                "to index a nil value (field 'zone') | at "
	                "policies/pci/cardholder.lua:88 |\n");
	free(out);
	json_decref(a);
}

/* html without the model (no picture, and it says why), escaping, sections, waivers. */
static void test_html(void **state)
{
	(void)state;
	json_t *a = load_json(NULL);
	char note[200] = "x";
	mp_report_opts o = {.note = note, .notelen = sizeof(note)};
	char *buf = NULL, err[256];
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	assert_int_equal(mp_report_write_opts(a, "html", f, &o, err, sizeof(err)), 0);
	fclose(f);
	assert_string_equal(note, "no picture: the report was written without the model");
	assert_contains(buf,
	                "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">");
	assert_contains(buf, "content=\"default-src 'none'; style-src 'unsafe-inline'\"");
	assert_order(buf, "<section id=\"summary\">", "<section id=\"scope\">");
	assert_order(buf, "<section id=\"scope\">", "<section id=\"mesh\">");
	assert_order(buf, "<section id=\"mesh\">", "<section id=\"controls\">");
	assert_order(buf, "<section id=\"controls\">", "<section id=\"findings\">");
	assert_order(buf, "<section id=\"findings\">", "<section id=\"waivers\">");
	assert_order(buf, "<section id=\"waivers\">", "<section id=\"errors\">");
	assert_contains(buf, "<p class=\"note\">no picture: the report was written without the "
	                     "model</p>");
	assert_contains(buf, "<td>billing/payments &lt;admin&gt; &amp; &quot;ops&quot; | &apos;all"
	                     "&apos;</td>");
	assert_true(strstr(buf, "<admin>") == NULL);
	assert_contains(buf, "<tr><td>PCI-DSS-1.2.1</td><td><span class=\"badge ERROR\">ERROR"
	                     "</span>");
	assert_contains(buf, "<span class=\"badge NOT-TESTED\">NOT TESTED</span>");
	assert_contains(buf, "<h3>ISO27001-A.13.1 <span class=\"badge FAIL\">FAIL</span></h3>");
	assert_contains(buf, "<th>Trail</th><td>none written</td>");
	assert_contains(buf, "No waivers: every finding above counts.");
	assert_contains(buf, "</footer>\n</body>\n</html>\n");
	free(buf);

	/* a waived finding (the waivers' shape) is listed and marked; a scope and a trail */
	json_t *w = json_pack("{s:s, s:s, s:s}", "reason", "accepted <risk>", "owner", "sec-team",
	                      "expires", "2027-01-31");
	json_object_set_new(json_array_get(json_object_get(a, "findings"), 0), "waiver", w);
	json_object_set_new(a, "scope",
	                    json_pack("{s:[s], s:[{s:s, s:s, s:s, s:s}], s:[], s:{s:i, s:i}}",
	                              "meshes", "istio", "clusters", "name", "eu", "cloud", "aws",
	                              "region", "eu-west-1", "jurisdiction", "EU", "jurisdictions",
	                              "counts", "namespaces", 2, "services", 3));
	json_object_set_new(a, "trail",
	                    json_pack("{s:s, s:i, s:i, s:s, s:b}", "file", "t.jsonl", "first_seq",
	                              4, "seal_seq", 9, "head", "ab", "signed", 0));
	json_object_set_new(a, "waivers",
	                    json_pack("[{s:s, s:s, s:s, s:s, s:s, s:s, s:i, s:{s:s, s:i}}]", "rule",
	                              "p/r", "subject", "s <x>", "reason", "ok", "owner", "me",
	                              "expires", "2027-01-31", "status", "active", "findings", 1,
	                              "location", "file", "policies/waivers.yaml", "line", 2));
	buf = must_render(a, "html", 0);
	assert_contains(buf, "<tr><td>p/r</td><td>s &lt;x&gt;</td><td>ok</td><td>me</td><td>2027-01-"
	                     "31</td><td>active</td><td class=\"num\">1</td><td class=\"loc\">policies/"
	                     "waivers.yaml:2</td></tr>");
	assert_contains(buf, "<h3>Findings waived</h3>");
	assert_contains(buf, "<th>Rule</th><th>Subject</th><th>Reason</th><th>Owner</th>"
	                     "<th>Expires</th>");
	assert_contains(buf, "<td>accepted &lt;risk&gt;</td><td>sec-team</td><td>2027-01-31</td>");
	assert_contains(buf, "<span class=\"badge WAIVED\">WAIVED</span>");
	assert_contains(buf, "<tr><td>eu</td><td>aws</td><td>eu-west-1</td><td>EU</td></tr>");
	assert_contains(buf, "<th>Meshes</th><td>istio</td>");
	assert_contains(buf, "<th>Trail</th><td>t.jsonl: records 4-9, sealed at 9 (unsigned), head "
	                     "ab</td>");
	free(buf);
	buf = must_render(a, "markdown", 0);
	assert_contains(buf, "| Meshes | istio |\n| Clusters | eu (aws eu-west-1, EU) |\n");
	assert_contains(buf, "| Trail | t.jsonl: records 4-9, sealed at 9 (unsigned), head ab |\n");
	assert_tables_well_formed(buf);
	free(buf);
	json_decref(a);
}

static void test_text(void **state)
{
	(void)state;
	json_t *a = load_json(NULL);
	char *plain = must_render(a, "text", 0), *color = must_render(a, "text", 1);
	assert_null(strchr(plain, '\033'));
	assert_no_controls(plain);
	assert_int_equal(strncmp(plain,
	                         "meshpol audit  bundle acme-reference 2026.11.25-1  model "
	                         "4b1e0c9d2f6a  2026-11-25T23:59:59Z\n\nFindings (6)\n\n",
	                         104),
	                 0);
	assert_contains(plain,
	                "CRITICAL  rbac.zero-trust/no-wildcard-principals  billing/payments "
	                "<admin> & \"ops\" | 'all'\n    allow rule 'any' admits principal "
	                "\"*\"\\x1b[31m (terminal escape)\\x1b[0m\n    at examples/acme/rbac "
	                "policies/billing #1.yaml:12 (rule at "
	                "policies/rbac/zero-trust.lua:12)\n");
	assert_contains(plain, "HIGH      traffic.baseline/routing-loops  catalog/products");
	assert_contains(plain, "    see examples/acme/routes.yaml:247: hop 3\n");
	assert_contains(plain,
	                "    pii flows to us-east1 (US)\n    via route web-api | weight 10\n");
	assert_contains(plain, "analytics/warehouse\n    replicates pii to a region outside any "
	                       "jurisdiction\n    rule at policies/residency/gdpr.lua:14\n");
	assert_contains(plain, "Shop/Checkout\\x07\\u0085\n");
	/* most severe first; audit order within a severity */
	assert_order(plain, "CRITICAL", "HIGH      traffic.baseline/routing-loops  catalog");
	assert_order(plain, "catalog/products -> catalog/inventory", "shop/web -> shop/api");
	assert_order(plain, "shop/web -> shop/api", "MEDIUM");
	assert_order(plain, "MEDIUM", "INFO");
	assert_order(plain, "INFO", "Errors (1)");
	assert_contains(plain,
	                "Errors (1)\n\nERROR     pci.cardholder/segmentation\n    "
	                "policies/pci/cardholder.lua:88: attempt to index a nil value (field "
	                "'zone')\n    at policies/pci/cardholder.lua:88\n");
	const char *summary =
	    "FAIL  6 findings (1 critical, 2 high, 2 medium, 0 low, 1 info), 3 at "
	    "or above fail-on hard; 4 of 8 rules failed; 1 error\n";
	assert_string_equal(plain + strlen(plain) - strlen(summary), summary);

	assert_contains(color, "\033[1mFindings (6)\033[0m");
	assert_contains(color, "\033[1;31mCRITICAL\033[0m  rbac.zero-trust");
	assert_contains(color, "\033[31mHIGH\033[0m      traffic.baseline");
	assert_contains(color, "\033[33mMEDIUM\033[0m");
	assert_contains(color, "\033[34mINFO\033[0m");
	assert_contains(color, "\033[1;31mFAIL\033[0m  6 findings");
	assert_contains(color, "\"*\"\\x1b[31m (terminal escape)"); /* still escaped */

	json_object_set_new(a, "result", json_string("pass"));
	free(color);
	color = must_render(a, "text", 1);
	assert_contains(color, "\033[1;32mPASS\033[0m  6 findings");
	free(color);
	free(plain);
	json_decref(a);
}

static void test_empty_audit(void **state)
{
	(void)state;
	json_t *a = load_json("{" BASE ", \"fail_on\": \"hard\", \"result\": \"pass\"}");
	char *out = must_render(a, "text", 0);
	assert_contains(out, "No findings\n");
	assert_contains(out, "PASS  0 findings (0 critical, 0 high, 0 medium, 0 low, 0 info), 0 at "
	                     "or above fail-on hard; 0 of 0 rules failed; 0 errors\n");
	free(out);
	out = must_render(a, "junit", 0);
	assert_string_equal(out, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites "
	                         "name=\"meshpol audit\" tests=\"0\" failures=\"0\" "
	                         "errors=\"0\">\n</testsuites>\n");
	free(out);
	out = must_render(a, "sarif", 0);
	json_t *s = load_json(out);
	assert_true(json_is_array(at(s, "runs.0.results")));
	assert_int_equal(json_array_size(at(s, "runs.0.results")), 0);
	assert_int_equal(json_array_size(at(s, "runs.0.tool.driver.rules")), 0);
	assert_true(json_is_true(at(s, "runs.0.invocations.0.executionSuccessful")));
	assert_null(at(s, "runs.0.invocations.0.toolExecutionNotifications"));
	json_decref(s);
	free(out);
	out = must_render(a, "markdown", 0);
	assert_contains(out, "No policies.\n");
	assert_contains(out, "No policy names a control.\n");
	assert_contains(out, "No findings.\n");
	assert_contains(out, "No errors.\n");
	assert_contains(out, "| Result | **PASS** |\n");
	free(out);
	json_decref(a);
}

/* Findings and errors that name policies and rules the audit does not list, an error naming no
 * rule, an unknown severity and an unknown enforcement (which counts as hard). */
static void test_unlisted_names(void **state)
{
	(void)state;
	json_t *a = load_json(
	    "{\"policies\": [{\"name\": \"p\", \"controls\": [\"C-1\"]}], \"rules\": [], "
	    "\"findings\": [{\"policy\": \"p\", \"rule\": \"r\", \"severity\": \"urgent\", "
	    "\"enforcement\": \"mandatory\", \"subject\": \"s\", \"message\": \"m\"}, "
	    "{\"policy\": \"ghost\", \"rule\": \"g\", \"severity\": \"low\", \"enforcement\": "
	    "\"soft\", \"subject\": \"t\", \"message\": \"n\", \"controls\": [\"C-2\"]}], "
	    "\"errors\": [{\"policy\": \"p\", \"message\": \"load failed\"}, {\"message\": "
	    "\"engine\"}], \"counts\": {}, \"fail_on\": \"hard\", \"result\": \"fail\"}");
	char *out = must_render(a, "junit", 0);
	assert_int_equal(count(out, "<testsuite "), 3);
	assert_contains(out, "<testsuite name=\"p\" tests=\"2\" failures=\"1\" errors=\"1\"");
	assert_contains(out, "<testcase classname=\"p\" name=\"(policy)\">\n      <error "
	                     "message=\"load failed\" type=\"error\">load failed</error>\n");
	assert_contains(out, "<testsuite name=\"ghost\" tests=\"1\" failures=\"1\" errors=\"0\"");
	assert_contains(out, "<testsuite name=\"(none)\" tests=\"1\" failures=\"0\" errors=\"1\"");
	free(out);

	out = must_render(a, "sarif", 0);
	json_t *s = load_json(out);
	assert_int_equal(json_array_size(at(s, "runs.0.tool.driver.rules")), 2); /* p/r, ghost/g */
	assert_string_equal(str_at(s, "runs.0.results.0.level"), "warning");
	assert_string_equal(str_at(s, "runs.0.results.1.ruleId"), "ghost/g");
	assert_int_equal(json_integer_value(at(s, "runs.0.results.1.ruleIndex")), 1);
	assert_int_equal(json_array_size(at(s, "runs.0.invocations.0.toolExecutionNotifications")),
	                 2);
	assert_null(at(s, "runs.0.invocations.0.toolExecutionNotifications.0.associatedRule"));
	json_decref(s);
	free(out);

	out = must_render(a, "markdown", 0);
	assert_contains(out, "| C-1 | FAIL | 2 | 1 | 1 |"); /* "mandatory" fails closed */
	assert_contains(out, "| C-2 | PASS | 1 | 1 | 0 |");
	assert_contains(out, "### Other severity (1)");
	assert_order(out, "### Low (1)", "### Other severity (1)");
	assert_tables_well_formed(out);
	free(out);

	out = must_render(a, "text", 0);
	assert_order(out, "LOW", "urgent    p/r  s");
	assert_contains(out, "ERROR     p\n    load failed\n");
	assert_contains(out, "ERROR     (none)\n    engine\n");
	free(out);
	json_decref(a);
}

static void test_write_error(void **state)
{
	(void)state;
	FILE *f = fopen("/dev/full", "w");
	if (!f)
		skip();
	json_t *a = load_json(NULL);
	char err[256] = "";
	assert_int_equal(mp_report_write(a, "markdown", f, 0, err, sizeof(err)), -1);
	assert_string_equal(err, "cannot write the markdown report: No space left on device");
	fclose(f);
	json_decref(a);
}

/* Every allocation, the engine's and jansson's (main routes jansson through mp_malloc), fails
 * in turn: each failure is an "out of memory" error without a leak, then the report is whole. */
static void test_out_of_memory(void **state)
{
	(void)state;
	json_t *a = load_json(NULL);
	for (size_t k = 0; k < NFORMATS; k++) {
		char *want = must_render(a, formats[k], 0), *got = NULL;
		int failures = 0;
		for (long n = 0; !got; n++) {
			char err[256] = "";
			mp_alloc_fail_after(n);
			got = render(a, formats[k], 0, err, sizeof(err));
			mp_alloc_fail_after(-1);
			if (!got) {
				assert_true(strstr(err, "out of memory") != NULL);
				failures++;
			}
			assert_true(n < 100000);
		}
		assert_true(failures > 0);
		assert_string_equal(got, want);
		free(got);
		free(want);
	}
	json_decref(a);
}

/* --write DIR: the sample in every format, as DIR/report.EXT, for tests/e2e/report.sh. */
static int write_all(const char *dir)
{
	json_error_t e;
	json_t *a = json_load_file(SAMPLE, JSON_REJECT_DUPLICATES, &e);
	int rc = 0;
	if (!a) {
		fprintf(stderr, "%s:%d: %s\n", SAMPLE, e.line, e.text);
		return 1;
	}
	for (size_t k = 0; k < NFORMATS && rc == 0; k++) {
		char path[4096], err[256];
		snprintf(path, sizeof(path), "%s/report.%s", dir, extensions[k]);
		FILE *f = fopen(path, "w");
		if (!f || mp_report_write(a, formats[k], f, 0, err, sizeof(err)) < 0) {
			fprintf(stderr, "%s: %s\n", path, f ? err : "cannot open");
			rc = 1;
		}
		if (f)
			fclose(f);
	}
	json_decref(a);
	return rc;
}

int main(int argc, char **argv)
{
	json_set_alloc_funcs(mp_malloc, mp_free);
	if (argc == 3 && !strcmp(argv[1], "--write"))
		return write_all(argv[2]);
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_format_known),   cmocka_unit_test(test_unknown_format),
	    cmocka_unit_test(test_bad_audits),     cmocka_unit_test(test_json),
	    cmocka_unit_test(test_junit),          cmocka_unit_test(test_sarif),
	    cmocka_unit_test(test_markdown),       cmocka_unit_test(test_html),
	    cmocka_unit_test(test_text),           cmocka_unit_test(test_empty_audit),
	    cmocka_unit_test(test_unlisted_names), cmocka_unit_test(test_write_error),
	    cmocka_unit_test(test_out_of_memory),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
