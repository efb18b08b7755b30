/* report_junit.c: the JUnit XML report (report.h, "junit"): a testsuite per policy, a
 * testcase per rule, a failure per finding, only what the Jenkins xunit junit-10.xsd allows. */
#include "alloc.h"
#include "report_int.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void xml_attr(FILE *out, const char *name, const char *value)
{
	fprintf(out, " %s=\"", name);
	rp_put(out, value, ESC_XML_ATTR);
	fputc('"', out);
}

static void xml_count(FILE *out, const char *name, size_t n)
{
	fprintf(out, " %s=\"%zu\"", name, n);
}

static void xml_property(FILE *out, const char *name, const char *value)
{
	if (!*value)
		return;
	fputs("      <property", out);
	xml_attr(out, "name", name);
	xml_attr(out, "value", value);
	fputs("/>\n", out);
}

static void junit_failure(audit_index *ix, FILE *out, size_t i)
{
	json_t *f = rp_finding(ix, i), *rel, *hop;
	size_t j;
	fputs("      <failure", out);
	xml_attr(out, "message", rp_str(f, "message"));
	xml_attr(out, "type", rp_str(f, "severity"));
	fputs(">subject: ", out);
	rp_put(out, rp_str(f, "subject"), ESC_XML_TEXT);
	fputs("\nmessage: ", out);
	rp_put(out, rp_str(f, "message"), ESC_XML_TEXT);
	fputc('\n', out);
	if (rp_put_where(out, json_object_get(f, "location"), json_object_get(f, "rule_location"),
	                 ESC_XML_TEXT))
		fputc('\n', out);
	json_array_foreach(json_object_get(f, "related"), j, rel)
	{
		fputs("see ", out);
		if (!rp_put_loc(out, rel, ESC_XML_TEXT))
			fputs("(no location)", out);
		fputs(": ", out);
		rp_put(out, rp_str(rel, "message"), ESC_XML_TEXT);
		fputc('\n', out);
	}
	json_array_foreach(json_object_get(f, "path"), j, hop)
	{
		fputs(j ? " -&gt; " : "path: ", out);
		rp_put(out, json_is_string(hop) ? json_string_value(hop) : "?", ESC_XML_TEXT);
	}
	if (json_array_size(json_object_get(f, "path")))
		fputc('\n', out);
	fputs("enforcement: ", out);
	rp_put(out, rp_str(f, "enforcement"), ESC_XML_TEXT);
	fputs("; controls: ", out);
	rp_put_list(out, rp_finding_controls(ix, i), ", ", ESC_XML_TEXT);
	fputs("</failure>\n", out);
}

static void junit_testcase(audit_index *ix, FILE *out, const rule_slot *s)
{
	fputs("    <testcase", out);
	xml_attr(out, "classname", *s->policy ? s->policy : "(none)");
	xml_attr(out, "name", *s->rule ? s->rule : "(policy)");
	if (!rp_slot_errored(s) && s->f_n == 0) {
		fputs("/>\n", out);
		return;
	}
	fputs(">\n", out);
	for (size_t k = 0; k < s->e_n; k++) {
		json_t *e = rp_error_at(ix, ix->e_by_slot[s->e_off + k]);
		fputs("      <error", out);
		xml_attr(out, "message", rp_str(e, "message"));
		xml_attr(out, "type", "error");
		fputc('>', out);
		rp_put(out, rp_str(e, "message"), ESC_XML_TEXT);
		if (*rp_str(json_object_get(e, "location"), "file")) {
			fputs("\nat ", out);
			rp_put_loc(out, json_object_get(e, "location"), ESC_XML_TEXT);
		}
		fputs("</error>\n", out);
	}
	if (rp_slot_errored(s) && s->e_n == 0)
		fputs("      <error message=\"the rule failed to run\" type=\"error\"/>\n", out);
	for (size_t k = 0; k < s->f_n; k++)
		junit_failure(ix, out, ix->f_by_slot[s->f_off + k]);
	fputs("    </testcase>\n", out);
}

int rp_write_junit(audit_index *ix, FILE *out, int color)
{
	json_t *bundle = json_object_get(ix->audit, "bundle");
	json_t *model = json_object_get(ix->audit, "model");
	size_t failures = 0, errors = 0;
	(void)color;
	for (size_t i = 0; i < ix->nslots; i++) {
		failures += (size_t)rp_slot_failed(&ix->slots[i]);
		errors += (size_t)rp_slot_errored(&ix->slots[i]);
	}
	fputs("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites", out);
	xml_attr(out, "name", "meshpol audit");
	xml_count(out, "tests", ix->nslots);
	xml_count(out, "failures", failures);
	xml_count(out, "errors", errors);
	fputs(">\n", out);
	for (size_t p = 0; p < ix->npols; p++) {
		const pol_slot *pol = &ix->pols[p];
		size_t pf = 0, pe = 0;
		for (size_t k = 0; k < pol->s_n; k++) {
			pf += (size_t)rp_slot_failed(&ix->slots[pol->s_off + k]);
			pe += (size_t)rp_slot_errored(&ix->slots[pol->s_off + k]);
		}
		fputs("  <testsuite", out);
		xml_attr(out, "name", *pol->name ? pol->name : "(none)");
		xml_count(out, "tests", pol->s_n);
		xml_count(out, "failures", pf);
		xml_count(out, "errors", pe);
		xml_count(out, "skipped", 0);
		if (*rp_str(ix->audit, "time"))
			xml_attr(out, "timestamp", rp_str(ix->audit, "time"));
		if (*rp_str(pol->def, "file"))
			xml_attr(out, "file", rp_str(pol->def, "file"));
		fputs(">\n    <properties>\n", out);
		xml_property(out, "version", rp_str(pol->def, "version"));
		xml_property(out, "kind", rp_str(pol->def, "kind"));
		xml_property(out, "enforcement", rp_str(pol->def, "enforcement"));
		xml_property(out, "severity", rp_str(pol->def, "severity"));
		if (json_array_size(json_object_get(pol->def, "controls"))) {
			fputs("      <property name=\"controls\" value=\"", out);
			rp_put_list(out, json_object_get(pol->def, "controls"), ", ", ESC_XML_ATTR);
			fputs("\"/>\n", out);
		}
		xml_property(out, "description", rp_str(pol->def, "description"));
		xml_property(out, "bundle.name", rp_str(bundle, "name"));
		xml_property(out, "bundle.revision", rp_str(bundle, "revision"));
		xml_property(out, "bundle.sha256", rp_str(bundle, "sha256"));
		xml_property(out, "model.sha256", rp_str(model, "sha256"));
		fputs("    </properties>\n", out);
		for (size_t k = 0; k < pol->s_n; k++)
			junit_testcase(ix, out, &ix->slots[pol->s_off + k]);
		fputs("  </testsuite>\n", out);
	}
	fputs("</testsuites>\n", out);
	return 0;
}
