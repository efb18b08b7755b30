/* report_junit.c: the JUnit XML report (report.h, "junit"): a testsuite per policy, a
 * testcase per rule with one failure holding its findings, only what the Jenkins xunit
 * junit-10.xsd allows (tests/data/junit-10.xsd). */
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

/* One finding in a failure's (or system-out's) text. */
static void junit_finding(audit_index *ix, FILE *out, size_t i)
{
	json_t *f = rp_finding(ix, i), *rel, *hop, *w = rp_waiver(ix, i);
	size_t j;
	fputs("subject: ", out);
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
	fputs("severity: ", out);
	rp_put(out, rp_str(f, "severity"), ESC_XML_TEXT);
	fputs("; enforcement: ", out);
	rp_put(out, rp_str(f, "enforcement"), ESC_XML_TEXT);
	fputs("; controls: ", out);
	rp_put_list(out, rp_finding_controls(ix, i), ", ", ESC_XML_TEXT);
	fputs("\nfingerprint: ", out);
	rp_put(out, rp_str(f, "fingerprint"), ESC_XML_TEXT);
	if (w) {
		fputs("\nwaived by ", out);
		if (!rp_put_loc(out, json_object_get(w, "location"), ESC_XML_TEXT))
			fputs("a waiver", out);
		fputs(" (", out);
		rp_put(out, rp_str(w, "owner"), ESC_XML_TEXT);
		fputs(", until ", out);
		rp_put(out, rp_str(w, "expires"), ESC_XML_TEXT);
		fputs("): ", out);
		rp_put(out, rp_str(w, "reason"), ESC_XML_TEXT);
	}
	fputc('\n', out);
}

/* Does the testcase of slot s carry a failure? Findings no waiver accepts, or a rule the audit
 * says failed without listing its findings. Each such testcase has exactly one <failure>, so
 * the failures attributes count the failure elements. */
static int has_failure(const rule_slot *s)
{
	return s->f_n > s->w_n || (!s->f_n && !strcmp(rp_str(s->def, "status"), "fail"));
}

static void junit_failure(audit_index *ix, FILE *out, const rule_slot *s)
{
	size_t open = s->f_n - s->w_n, first = SIZE_MAX;
	int worst = RP_NSEV;
	char msg[64];
	for (size_t k = 0; k < s->f_n; k++) {
		size_t i = ix->f_by_slot[s->f_off + k];
		int r = rp_sev_rank(rp_str(rp_finding(ix, i), "severity"));
		if (rp_waiver(ix, i))
			continue;
		first = first == SIZE_MAX ? i : first;
		worst = r < worst ? r : worst;
	}
	/* the message CI servers show: the finding, or the count and the first */
	fputs("      <failure", out);
	if (open) {
		json_t *f = rp_finding(ix, first);
		snprintf(msg, sizeof(msg), "%zu findings; the first: ", open);
		fputs(" message=\"", out);
		fputs(open > 1 ? msg : "", out);
		rp_put(out, rp_str(f, "subject"), ESC_XML_ATTR);
		fputs(": ", out);
		rp_put(out, rp_str(f, "message"), ESC_XML_ATTR);
		fputc('"', out);
	} else {
		xml_attr(out, "message", "the rule failed");
	}
	xml_attr(out, "type", worst < RP_NSEV ? rp_sev_names[worst] : "failure");
	fputc('>', out);
	for (size_t k = 0, n = 0; k < s->f_n; k++) {
		size_t i = ix->f_by_slot[s->f_off + k];
		if (rp_waiver(ix, i))
			continue;
		fputs(n++ ? "\n" : "", out);
		junit_finding(ix, out, i);
	}
	if (!s->f_n)
		fputs("the audit reports this rule failed; its findings are not listed\n", out);
	fputs("</failure>\n", out);
}

static void junit_testcase(audit_index *ix, FILE *out, const rule_slot *s)
{
	fputs("    <testcase", out);
	xml_attr(out, "classname", *s->policy ? s->policy : "(none)");
	xml_attr(out, "name", *s->rule ? s->rule : "(policy)");
	if (!rp_slot_errored(s) && !has_failure(s) && !s->w_n) {
		fputs("/>\n", out);
		return;
	}
	fputs(">\n", out);
	/* one <error> a testcase, holding each of its errors, as errors counts testcases */
	if (s->e_n) {
		fputs("      <error", out);
		xml_attr(out, "message",
		         rp_str(rp_error_at(ix, ix->e_by_slot[s->e_off]), "message"));
		xml_attr(out, "type", "error");
		fputc('>', out);
	}
	for (size_t k = 0; k < s->e_n; k++) {
		json_t *e = rp_error_at(ix, ix->e_by_slot[s->e_off + k]);
		fputs(k ? "\n" : "", out);
		rp_put(out, rp_str(e, "message"), ESC_XML_TEXT);
		if (*rp_str(json_object_get(e, "location"), "file")) {
			fputs("\nat ", out);
			rp_put_loc(out, json_object_get(e, "location"), ESC_XML_TEXT);
		}
	}
	if (s->e_n)
		fputs("</error>\n", out);
	if (rp_slot_errored(s) && s->e_n == 0)
		fputs("      <error message=\"the rule failed to run\" type=\"error\"/>\n", out);
	if (has_failure(s))
		junit_failure(ix, out, s);
	if (s->w_n) { /* accepted findings: shown, never failing */
		fputs("      <system-out>", out);
		for (size_t k = 0, n = 0; k < s->f_n; k++) {
			size_t i = ix->f_by_slot[s->f_off + k];
			if (!rp_waiver(ix, i))
				continue;
			fputs(n++ ? "\n" : "", out);
			junit_finding(ix, out, i);
		}
		fputs("</system-out>\n", out);
	}
	fputs("    </testcase>\n", out);
}

int rp_write_junit(audit_index *ix, FILE *out, int color)
{
	json_t *bundle = json_object_get(ix->audit, "bundle");
	json_t *model = json_object_get(ix->audit, "model");
	size_t failures = 0, errors = 0;
	(void)color;
	for (size_t i = 0; i < ix->nslots; i++) {
		failures += (size_t)has_failure(&ix->slots[i]);
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
			pf += (size_t)has_failure(&ix->slots[pol->s_off + k]);
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
