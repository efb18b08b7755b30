/* report_markdown.c: the markdown compliance report (report.h, "markdown"): summary, policies,
 * controls with their status, findings by severity, errors. */
#include "alloc.h"
#include "report_int.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void md_cell(FILE *out, const char *s)
{
	fputc(' ', out);
	rp_put(out, *s ? s : "-", ESC_MD);
	fputs(" |", out);
}

static void md_row(FILE *out, const char *label, const char *value)
{
	fprintf(out, "| %s |", label);
	md_cell(out, value);
	fputc('\n', out);
}

static void md_where_cell(FILE *out, json_t *loc, json_t *rule_loc)
{
	fputc(' ', out);
	if (!rp_put_where(out, loc, rule_loc, ESC_MD))
		fputc('-', out);
	fputs(" |", out);
}

static void md_scope_row(void *ctx, const char *label, const char *value)
{
	md_row(ctx, label, value);
}

static int md_summary(audit_index *ix, FILE *out)
{
	json_t *bundle = json_object_get(ix->audit, "bundle");
	json_t *model = json_object_get(ix->audit, "model");
	json_t *tool = json_object_get(ix->audit, "tool");
	json_t *sev = json_object_get(ix->counts, "by_severity");
	fputs("# meshpol compliance report\n\n| Item | Value |\n|---|---|\n", out);
	if (json_is_null(bundle)) { /* an audit without a bundle: its built-in checks only */
		md_row(out, "Bundle", "none: built-in and import checks only");
	} else {
		md_row(out, "Bundle", rp_str(bundle, "name"));
		md_row(out, "Bundle revision", rp_str(bundle, "revision"));
		md_row(out, "Bundle SHA-256", rp_str(bundle, "sha256"));
	}
	md_row(out, "Model SHA-256", rp_str(model, "sha256"));
	fputs("| Model sources | ", out);
	if (json_array_size(json_object_get(model, "sources")))
		rp_put_list(out, json_object_get(model, "sources"), ", ", ESC_MD);
	else
		fputc('-', out);
	fputs(" |\n", out);
	if (rp_scope_rows(ix, md_scope_row, out) < 0)
		return -1;
	fputs("| Tool | ", out);
	rp_put(out, *rp_str(tool, "name") ? rp_str(tool, "name") : "meshpol", ESC_MD);
	fputc(' ', out);
	rp_put(out, rp_str(tool, "version"), ESC_MD);
	fputs(" |\n", out);
	md_row(out, "Audit time", rp_str(ix->audit, "time"));
	md_row(out, "Fail-on level", ix->fail_on);
	fprintf(out, "| Result | **%s** |\n", strcmp(ix->result, "pass") ? "FAIL" : "PASS");
	fprintf(out, "| Findings | %lld (", rp_int(ix->counts, "findings"));
	for (int r = 0; r < RP_NSEV; r++)
		fprintf(out, "%s%lld %s", r ? ", " : "", rp_int(sev, rp_sev_names[r]),
		        rp_sev_names[r]);
	fprintf(out,
	        "; %lld waived) |\n| Rules | %lld evaluated, %lld failed |\n| Errors | %lld |\n"
	        "| Waivers | %lld (%lld expired, %lld unused) |\n\n",
	        rp_int(ix->counts, "waived"), rp_int(ix->counts, "rules"),
	        rp_int(ix->counts, "rules_failed"), rp_int(ix->counts, "errors"),
	        rp_int(ix->counts, "waivers"), rp_int(ix->counts, "waivers_expired"),
	        rp_int(ix->counts, "waivers_unused"));
	return 0;
}

static void md_policies(audit_index *ix, FILE *out)
{
	fputs("## Policies\n\n", out);
	if (!ix->npols) {
		fputs("No policies.\n\n", out);
		return;
	}
	fputs("| Policy | Version | Kind | Enforcement | Severity | Controls | Rules | Findings |\n"
	      "|---|---|---|---|---|---|---:|---:|\n",
	      out);
	for (size_t p = 0; p < ix->npols; p++) {
		const pol_slot *pol = &ix->pols[p];
		json_t *controls = json_object_get(pol->def, "controls");
		size_t nf = 0;
		for (size_t k = 0; k < pol->s_n; k++)
			nf += ix->slots[pol->s_off + k].f_n;
		fputc('|', out);
		md_cell(out, pol->name);
		md_cell(out, rp_str(pol->def, "version"));
		md_cell(out, rp_str(pol->def, "kind"));
		md_cell(out, rp_str(pol->def, "enforcement"));
		md_cell(out, rp_str(pol->def, "severity"));
		fputc(' ', out);
		if (json_array_size(controls))
			rp_put_list(out, controls, ", ", ESC_MD);
		else
			fputc('-', out);
		fprintf(out, " | %zu | %zu |\n", pol->s_n, nf);
	}
	fputc('\n', out);
}

/* The findings, read once (rp_scan) into the spill: each one's row of its severity's table
 * (key: its rank) and its line under each control it is attributed to (key: K_PAIR + the
 * (control, rule) pair's). */
enum { K_PAIR = RP_NSEV + 1 };

typedef struct {
	audit_index *ix;
	rp_controls *c;
	rp_spill *sp;
	size_t *keys;
} md_pass;

static int md_one(void *vctx, json_t *f, size_t slot)
{
	md_pass *m = vctx;
	size_t n;
	FILE *out = rp_spill_begin(m->sp);
	fputs("| ", out);
	rp_put_id(out, rp_str(f, "policy"), rp_str(f, "rule"), ESC_MD);
	fputs(" |", out);
	md_cell(out, rp_str(f, "severity"));
	md_cell(out, rp_str(f, "enforcement"));
	if (json_object_get(f, "waiver"))
		fputs(" waived:", out);
	md_cell(out, rp_str(f, "subject"));
	md_cell(out, rp_str(f, "message"));
	md_where_cell(out, json_object_get(f, "location"), json_object_get(f, "rule_location"));
	fputc('\n', out);
	if (rp_spill_put(m->sp, (size_t)rp_sev_rank(rp_str(f, "severity"))) < 0 ||
	    rp_controls_attribute(m->ix, m->c, f, slot, m->keys, &n) < 0)
		return -1;
	if (!n)
		return 0;
	out = rp_spill_begin(m->sp);
	fputs("  - ", out);
	rp_put(out, rp_str(f, "severity"), ESC_MD);
	fputs(", ", out);
	rp_put(out, rp_str(f, "enforcement"), ESC_MD);
	fputs(rp_blocking(m->ix, f) ? " (at or above fail-on): "
	      : rp_waiver(f)        ? " (waived): "
	                            : ": ",
	      out);
	rp_put(out, rp_str(f, "subject"), ESC_MD);
	fputs(": ", out);
	rp_put(out, rp_str(f, "message"), ESC_MD);
	if (*rp_str(json_object_get(f, "location"), "file")) {
		fputs(" (", out);
		rp_put_loc(out, json_object_get(f, "location"), ESC_MD);
		fputc(')', out);
	}
	fputc('\n', out);
	for (size_t k = 0; k < n; k++)
		if (rp_spill_put(m->sp, K_PAIR + m->keys[k]) < 0)
			return -1;
	return 0;
}

static int md_control_detail(md_pass *m, FILE *out, size_t k)
{
	audit_index *ix = m->ix;
	const char *c = m->c->ids[k];
	const rp_control_state *st = &m->c->st[k];
	fputs("### ", out);
	rp_put(out, c, ESC_MD);
	fprintf(out, ": %s\n\n", rp_control_status(st));
	if (!st->rules)
		fputs("No rule of this audit checks this control.\n", out);
	for (size_t si = 0; si < ix->nslots; si++) {
		const rule_slot *s = &ix->slots[si];
		size_t key, nattr = rp_controls_count(m->c, k, si, &key);
		if (!nattr && !rp_in_array(rp_slot_controls(ix, s), c))
			continue;
		fputs("- ", out);
		rp_put_id(out, s->policy, s->rule, ESC_MD);
		fputs(" (", out);
		rp_put(out, *rp_slot_severity(ix, s) ? rp_slot_severity(ix, s) : "-", ESC_MD);
		fputs(", ", out);
		rp_put(out, *rp_slot_enforcement(ix, s) ? rp_slot_enforcement(ix, s) : "-", ESC_MD);
		fprintf(out, "): %s, %zu %s\n",
		        rp_slot_errored(s)  ? "error"
		        : rp_slot_failed(s) ? "fail"
		                            : "pass",
		        nattr, rp_plural((long long)nattr, "finding", "findings"));
		if (nattr && rp_spill_copy(m->sp, K_PAIR + key, out) < 0)
			return -1;
	}
	fputc('\n', out);
	return 0;
}

static int md_controls(md_pass *m, FILE *out)
{
	const rp_controls *c = m->c;
	fputs("## Controls\n\n", out);
	if (!c->n) {
		fputs("No policy names a control.\n\n", out);
		return 0;
	}
	fprintf(
	    out,
	    "A control FAILs when a finding attributed to it, and not waived, is at or above the "
	    "audit's fail-on level (%s); otherwise it is in ERROR when a rule carrying it "
	    "failed to run (it was not fully evaluated), NOT TESTED when no rule of this audit "
	    "carries it, and PASS.\n\n"
	    "| Control | Status | Rules | Findings | At or above fail-on |\n"
	    "|---|---|---:|---:|---:|\n",
	    m->ix->fail_on);
	for (size_t k = 0; k < c->n; k++) {
		const rp_control_state *st = &c->st[k];
		fputc('|', out);
		md_cell(out, c->ids[k]);
		fprintf(out, " %s | %zu | %zu | %zu |\n", rp_control_status(st), st->rules,
		        st->findings, st->blocking);
	}
	fputc('\n', out);
	for (size_t k = 0; k < c->n; k++)
		if (md_control_detail(m, out, k) < 0)
			return -1;
	return 0;
}

static int md_findings(md_pass *m, FILE *out)
{
	audit_index *ix = m->ix;
	fputs("## Findings\n\n", out);
	if (!ix->nfindings)
		fputs("No findings.\n\n", out);
	for (int r = 0; r <= RP_NSEV; r++) {
		if (!ix->sev_n[r])
			continue;
		fprintf(out,
		        "### %s (%zu)\n\n"
		        "| Rule | Severity | Enforcement | Subject | Message | Location |\n"
		        "|---|---|---|---|---|---|\n",
		        r < RP_NSEV ? rp_sev_title[r] : "Other severity", ix->sev_n[r]);
		if (rp_spill_copy(m->sp, (size_t)r, out) < 0)
			return -1;
		fputc('\n', out);
	}
	return 0;
}

static void md_waivers(audit_index *ix, FILE *out)
{
	json_t *w;
	size_t i;
	fputs("## Waivers\n\n", out);
	if (!json_array_size(json_object_get(ix->audit, "waivers"))) {
		fputs("No waivers.\n\n", out);
		return;
	}
	fputs("| Waiver | Status | Findings | Owner | Expires | Reason | Location |\n"
	      "|---|---|---:|---|---|---|---|\n",
	      out);
	json_array_foreach(json_object_get(ix->audit, "waivers"), i, w)
	{
		fputc('|', out);
		if (*rp_str(w, "fingerprint")) {
			md_cell(out, rp_str(w, "fingerprint"));
		} else {
			fputc(' ', out);
			rp_put(out, rp_str(w, "rule"), ESC_MD);
			fputs(": ", out);
			rp_put(out, rp_str(w, "subject"), ESC_MD);
			fputs(" |", out);
		}
		md_cell(out, rp_str(w, "status"));
		fprintf(out, " %lld |", rp_int(w, "findings"));
		md_cell(out, rp_str(w, "owner"));
		md_cell(out, rp_str(w, "expires"));
		md_cell(out, rp_str(w, "reason"));
		md_where_cell(out, json_object_get(w, "location"), NULL);
		fputc('\n', out);
	}
	fputc('\n', out);
}

static void md_errors(audit_index *ix, FILE *out)
{
	fputs("## Errors\n\n", out);
	if (!json_array_size(ix->errors)) {
		fputs("No errors.\n", out);
		return;
	}
	fputs("| Rule | Message | Location |\n|---|---|---|\n", out);
	for (size_t i = 0; i < json_array_size(ix->errors); i++) {
		json_t *e = rp_error_at(ix, i);
		fputs("| ", out);
		rp_put_id(out, rp_str(e, "policy"), rp_str(e, "rule"), ESC_MD);
		fputs(" |", out);
		md_cell(out, rp_str(e, "message"));
		md_where_cell(out, json_object_get(e, "location"), NULL);
		fputc('\n', out);
	}
}

int rp_write_markdown(audit_index *ix, FILE *out, int color)
{
	rp_controls c;
	md_pass m = {.ix = ix, .c = &c};
	int rc = -1;
	(void)color;
	if (rp_controls_init(ix, &c) < 0)
		return -1;
	if (!(m.sp = rp_spill_new()) || !(m.keys = mp_calloc(c.n + 1, sizeof(size_t))) ||
	    rp_scan(ix, md_one, &m) < 0 || rp_spill_sort(m.sp, K_PAIR + c.npairs) < 0)
		goto out;
	rp_controls_finish(ix, &c);
	if (md_summary(ix, out) < 0)
		goto out;
	md_policies(ix, out);
	if (md_controls(&m, out) < 0 || md_findings(&m, out) < 0)
		goto out;
	md_waivers(ix, out);
	md_errors(ix, out);
	rc = 0;
out:
	rp_spill_free(m.sp);
	mp_free(m.keys);
	rp_controls_free(&c);
	return rc;
}
