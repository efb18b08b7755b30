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
static void junit_finding(audit_index *ix, FILE *out, json_t *f, size_t slot)
{
	json_t *rel, *hop, *w = rp_waiver(f);
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
	rp_put_list(out, rp_finding_controls(ix, f, slot), ", ", ESC_XML_TEXT);
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
	return s->f_n > s->w_n || (!s->f_n && !strcmp(s->status, "fail"));
}

/* The findings, read once (rp_scan) into the spill: per slot, the first open finding's message
 * (key 3s), the failure's text (3s + 1) and system-out's (3s + 2). */
enum { K_FIRST, K_FAILURE, K_OUT, K_PER_SLOT };

typedef struct {
	int worst;        /* the most severe rank of its open findings */
	size_t open, out; /* open and waived findings written so far */
} slot_pass;

typedef struct {
	audit_index *ix;
	rp_spill *sp;
	slot_pass *slots;
} junit_pass;

static int junit_one(void *vctx, json_t *f, size_t slot)
{
	junit_pass *j = vctx;
	slot_pass *s = &j->slots[slot];
	FILE *out;
	if (rp_waiver(f)) {
		out = rp_spill_begin(j->sp);
		fputs(s->out++ ? "\n" : "", out);
		junit_finding(j->ix, out, f, slot);
		return rp_spill_put(j->sp, K_PER_SLOT * slot + K_OUT);
	}
	int r = rp_sev_rank(rp_str(f, "severity"));
	s->worst = r < s->worst ? r : s->worst;
	if (!s->open) {
		out = rp_spill_begin(j->sp);
		rp_put(out, rp_str(f, "subject"), ESC_XML_ATTR);
		fputs(": ", out);
		rp_put(out, rp_str(f, "message"), ESC_XML_ATTR);
		if (rp_spill_put(j->sp, K_PER_SLOT * slot + K_FIRST) < 0)
			return -1;
	}
	out = rp_spill_begin(j->sp);
	fputs(s->open++ ? "\n" : "", out);
	junit_finding(j->ix, out, f, slot);
	return rp_spill_put(j->sp, K_PER_SLOT * slot + K_FAILURE);
}

static int junit_failure(junit_pass *j, FILE *out, size_t si)
{
	const rule_slot *s = &j->ix->slots[si];
	size_t open = s->f_n - s->w_n;
	int worst = j->slots[si].worst;
	char msg[64];
	/* the message CI servers show: the finding, or the count and the first */
	fputs("      <failure", out);
	if (open) {
		snprintf(msg, sizeof(msg), "%zu findings; the first: ", open);
		fputs(" message=\"", out);
		fputs(open > 1 ? msg : "", out);
		if (rp_spill_copy(j->sp, K_PER_SLOT * si + K_FIRST, out) < 0)
			return -1;
		fputc('"', out);
	} else {
		xml_attr(out, "message", "the rule failed");
	}
	xml_attr(out, "type", worst < RP_NSEV ? rp_sev_names[worst] : "failure");
	fputc('>', out);
	if (rp_spill_copy(j->sp, K_PER_SLOT * si + K_FAILURE, out) < 0)
		return -1;
	if (!s->f_n)
		fputs("the audit reports this rule failed; its findings are not listed\n", out);
	fputs("</failure>\n", out);
	return 0;
}

static int junit_testcase(junit_pass *j, FILE *out, size_t si)
{
	audit_index *ix = j->ix;
	const rule_slot *s = &ix->slots[si];
	fputs("    <testcase", out);
	xml_attr(out, "classname", *s->policy ? s->policy : "(none)");
	xml_attr(out, "name", *s->rule ? s->rule : "(policy)");
	if (!rp_slot_errored(s) && !has_failure(s) && !s->w_n) {
		fputs("/>\n", out);
		return 0;
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
	if (has_failure(s) && junit_failure(j, out, si) < 0)
		return -1;
	if (s->w_n) { /* accepted findings: shown, never failing */
		fputs("      <system-out>", out);
		if (rp_spill_copy(j->sp, K_PER_SLOT * si + K_OUT, out) < 0)
			return -1;
		fputs("</system-out>\n", out);
	}
	fputs("    </testcase>\n", out);
	return 0;
}

int rp_write_junit(audit_index *ix, FILE *out, int color)
{
	json_t *bundle = json_object_get(ix->audit, "bundle");
	json_t *model = json_object_get(ix->audit, "model");
	size_t failures = 0, errors = 0;
	junit_pass j = {
	    .ix = ix, .sp = rp_spill_new(), .slots = mp_calloc(ix->nslots + 1, sizeof(slot_pass))};
	int rc = -1;
	(void)color;
	if (!j.sp || !j.slots)
		goto out;
	for (size_t i = 0; i < ix->nslots; i++)
		j.slots[i].worst = RP_NSEV;
	if (rp_scan(ix, junit_one, &j) < 0 || rp_spill_sort(j.sp, K_PER_SLOT * ix->nslots) < 0)
		goto out;
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
			if (junit_testcase(&j, out, pol->s_off + k) < 0)
				goto out;
		fputs("  </testsuite>\n", out);
	}
	fputs("</testsuites>\n", out);
	rc = 0;
out:
	rp_spill_free(j.sp);
	mp_free(j.slots);
	return rc;
}
