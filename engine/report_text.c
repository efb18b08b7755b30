/* report_text.c: the text report, for a terminal (report.h, "text"): findings most severe
 * first, errors, one summary line; ANSI colours only when asked. */
#include "alloc.h"
#include "report_int.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void sgr(FILE *out, int color, const char *code)
{
	if (color)
		fprintf(out, "\033[%sm", code);
}

static const char *sev_color(int rank)
{
	if (rank == 0)
		return "1;31";
	if (rank == 1)
		return "31";
	return rank == 2 ? "33" : "34";
}

/* The summary line; at_or_above: the findings that block (rp_blocking). */
static void text_summary(audit_index *ix, FILE *out, int color, long long at_or_above)
{
	json_t *sev = json_object_get(ix->counts, "by_severity");
	long long nf = rp_int(ix->counts, "findings"), ne = rp_int(ix->counts, "errors");
	long long waived = rp_int(ix->counts, "waived");
	long long expired = rp_int(ix->counts, "waivers_expired");
	int pass = !strcmp(ix->result, "pass");
	sgr(out, color, pass ? "1;32" : "1;31");
	fputs(pass ? "PASS" : "FAIL", out);
	sgr(out, color, "0");
	fprintf(out, "  %lld %s (", nf, rp_plural(nf, "finding", "findings"));
	for (int r = 0; r < RP_NSEV; r++)
		fprintf(out, "%s%lld %s", r ? ", " : "", rp_int(sev, rp_sev_names[r]),
		        rp_sev_names[r]);
	fputc(')', out);
	if (waived)
		fprintf(out, ", %lld waived", waived);
	fprintf(out, ", %lld at or above fail-on %s; %lld of %lld rules failed; %lld %s",
	        at_or_above, ix->fail_on, rp_int(ix->counts, "rules_failed"),
	        rp_int(ix->counts, "rules"), ne, rp_plural(ne, "error", "errors"));
	if (expired)
		fprintf(out, "; %lld %s expired", expired, rp_plural(expired, "waiver", "waivers"));
	fputc('\n', out);
}

/* The waivers that need a person: expired (they fail the audit) and unused. */
static void text_waivers(audit_index *ix, FILE *out, int color)
{
	json_t *w;
	size_t i, n = 0;
	json_array_foreach(json_object_get(ix->audit, "waivers"), i, w)
	{
		const char *status = rp_str(w, "status");
		int expired = !strcmp(status, "expired");
		if (!expired && strcmp(status, "unused"))
			continue;
		if (!n++) {
			sgr(out, color, "1");
			fputs("Waivers", out);
			sgr(out, color, "0");
			fputs("\n\n", out);
		}
		sgr(out, color, expired ? "1;31" : "33");
		fputs(expired ? "EXPIRED" : "UNUSED ", out);
		sgr(out, color, "0");
		fputs("   ", out);
		rp_put(out,
		       *rp_str(w, "fingerprint") ? rp_str(w, "fingerprint") : rp_str(w, "rule"),
		       ESC_TERM);
		if (*rp_str(w, "subject")) {
			fputs("  ", out);
			rp_put(out, rp_str(w, "subject"), ESC_TERM);
		}
		fputs(expired ? "\n    expired on " : "\n    matches no finding; until ", out);
		rp_put(out, rp_str(w, "expires"), ESC_TERM);
		fputs(" (", out);
		rp_put(out, rp_str(w, "owner"), ESC_TERM);
		fputs(expired ? "): the audit fails until it is renewed or removed\n    at "
		              : ")\n    at ",
		      out);
		rp_put_loc(out, json_object_get(w, "location"), ESC_TERM);
		fputs("\n\n", out);
	}
}

/* The header and the findings' heading; nf: how many findings the report lists. */
static void text_head(audit_index *ix, FILE *out, int color, size_t nf)
{
	json_t *bundle = json_object_get(ix->audit, "bundle");
	const char *model = rp_str(json_object_get(ix->audit, "model"), "sha256");
	sgr(out, color, "1");
	fputs("meshpol audit", out);
	sgr(out, color, "0");
	fputs("  bundle ", out);
	if (json_is_null(bundle)) { /* an audit without a bundle */
		fputs("none", out);
	} else {
		rp_put(out, *rp_str(bundle, "name") ? rp_str(bundle, "name") : "-", ESC_TERM);
		fputc(' ', out);
		rp_put(out, *rp_str(bundle, "revision") ? rp_str(bundle, "revision") : "-",
		       ESC_TERM);
	}
	fputs("  model ", out);
	if (strlen(model) >= 12 && rp_is_hex(model))
		fprintf(out, "%.12s", model);
	else
		rp_put(out, *model ? model : "-", ESC_TERM);
	fputs("  ", out);
	rp_put(out, rp_str(ix->audit, "time"), ESC_TERM);
	fputs("\n\n", out);

	sgr(out, color, "1");
	if (nf)
		fprintf(out, "Findings (%zu)", nf);
	else
		fputs("No findings", out);
	sgr(out, color, "0");
	fputs("\n\n", out);
}

static void text_finding(FILE *out, int color, json_t *f)
{
	json_t *rel, *w = json_object_get(f, "waiver");
	const char *sev = rp_str(f, "severity");
	int rank = rp_sev_rank(sev);
	const char *label = rank < RP_NSEV ? rp_sev_upper[rank] : *sev ? sev : "?";
	size_t j;
	sgr(out, color, sev_color(rank));
	rp_put(out, label, ESC_TERM);
	sgr(out, color, "0");
	fprintf(out, "%*s", strlen(label) < 8 ? (int)(8 - strlen(label)) : 0, "");
	fputs("  ", out);
	rp_put_id(out, rp_str(f, "policy"), rp_str(f, "rule"), ESC_TERM);
	fputs("  ", out);
	rp_put(out, rp_str(f, "subject"), ESC_TERM);
	fputs("\n    ", out);
	rp_put(out, rp_str(f, "message"), ESC_TERM_BLOCK);
	fputs("\n    ", out);
	if (!rp_put_where(out, json_object_get(f, "location"), json_object_get(f, "rule_location"),
	                  ESC_TERM))
		fputs("(no location)", out);
	fputc('\n', out);
	if (json_is_object(w)) {
		fputs("    waived: ", out);
		rp_put(out, rp_str(w, "reason"), ESC_TERM);
		fputs(" (", out);
		rp_put(out, rp_str(w, "owner"), ESC_TERM);
		fputs(", until ", out);
		rp_put(out, rp_str(w, "expires"), ESC_TERM);
		fputs("; ", out);
		if (!rp_put_loc(out, json_object_get(w, "location"), ESC_TERM))
			fputs("waivers.yaml", out);
		fputs(")\n", out);
	}
	json_array_foreach(json_object_get(f, "related"), j, rel)
	{
		fputs("    see ", out);
		if (!rp_put_loc(out, rel, ESC_TERM))
			fputs("(no location)", out);
		if (*rp_str(rel, "message")) {
			fputs(": ", out);
			rp_put(out, rp_str(rel, "message"), ESC_TERM);
		}
		fputc('\n', out);
	}
	fputc('\n', out);
}

/* Errors, waivers that need a person, the summary line. */
static void text_tail(audit_index *ix, FILE *out, int color, long long at_or_above)
{
	size_t ne = json_array_size(ix->errors);
	if (ne) {
		sgr(out, color, "1");
		fprintf(out, "Errors (%zu)", ne);
		sgr(out, color, "0");
		fputs("\n\n", out);
	}
	for (size_t i = 0; i < ne; i++) {
		json_t *e = rp_error_at(ix, i);
		sgr(out, color, "1;31");
		fputs("ERROR", out);
		sgr(out, color, "0");
		fputs("     ", out);
		rp_put_id(out, rp_str(e, "policy"), rp_str(e, "rule"), ESC_TERM);
		fputs("\n    ", out);
		rp_put(out, rp_str(e, "message"), ESC_TERM_BLOCK);
		fputc('\n', out);
		if (*rp_str(json_object_get(e, "location"), "file")) {
			fputs("    at ", out);
			rp_put_loc(out, json_object_get(e, "location"), ESC_TERM);
			fputc('\n', out);
		}
		fputc('\n', out);
	}
	text_waivers(ix, out, color);
	text_summary(ix, out, color, at_or_above);
}

/* The findings, read once: each printed into the spill under its severity rank, then copied
 * out most severe first. */
typedef struct {
	audit_index *ix;
	rp_spill *sp;
	int color;
	long long at_or_above;
} text_pass;

static int text_one(void *vctx, json_t *f, size_t slot)
{
	text_pass *t = vctx;
	(void)slot;
	text_finding(rp_spill_begin(t->sp), t->color, f);
	t->at_or_above += rp_blocking(t->ix, f);
	return rp_spill_put(t->sp, (size_t)rp_sev_rank(rp_str(f, "severity")));
}

int rp_write_text(audit_index *ix, FILE *out, int color)
{
	text_pass t = {.ix = ix, .color = color, .sp = rp_spill_new()};
	int rc = -1;
	if (!t.sp || rp_scan(ix, text_one, &t) < 0 || rp_spill_sort(t.sp, RP_NSEV + 1) < 0)
		goto out;
	text_head(ix, out, color, ix->nfindings);
	for (int k = 0; k <= RP_NSEV; k++)
		if (rp_spill_copy(t.sp, (size_t)k, out) < 0)
			goto out;
	text_tail(ix, out, color, t.at_or_above);
	rc = 0;
out:
	rp_spill_free(t.sp);
	return rc;
}
