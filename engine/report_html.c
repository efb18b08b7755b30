/* report_html.c: the html audit report (report.h, "html"): one self-contained page an auditor
 * can hand on: summary, scope, the picture of the mesh (meshdot.h), controls, findings by
 * control, waivers, errors. Nothing in it is fetched from anywhere. */
#include "alloc.h"
#include "meshdot.h"
#include "report_int.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define DOT_TIMEOUT_MS 60000

static const char css[] =
    "body{font-family:'DejaVu Sans',Helvetica,Arial,sans-serif;margin:0 auto;max-width:1200px;"
    "padding:1.5em;color:#1d2329;line-height:1.4}"
    "h1{margin:0 0 .2em}h2{border-bottom:2px solid #d7dde3;padding-bottom:.2em;margin-top:1.8em}"
    "table{border-collapse:collapse;margin:.6em 0;width:100%}"
    "th,td{border:1px solid #d7dde3;padding:.3em .5em;text-align:left;vertical-align:top;"
    "font-size:.92em}th{background:#f3f5f7}td.num,th.num{text-align:right}"
    "table.kv th{width:14em}code,.loc{font-family:'DejaVu Sans Mono',monospace;font-size:.88em;"
    "word-break:break-all}"
    ".badge{display:inline-block;padding:.05em .5em;border-radius:.7em;font-weight:bold;"
    "font-size:.85em;color:#fff;background:#6c757d}"
    ".PASS{background:#2e7d32}.FAIL{background:#c62828}.ERROR{background:#e65100}"
    ".NOT-TESTED{background:#6c757d}.WAIVED{background:#1565c0}"
    ".result{font-size:1.3em}nav a{margin-right:1em}"
    "figure{margin:1em 0;overflow:auto;border:1px solid #d7dde3;padding:.5em}"
    "figure svg{max-width:100%;height:auto}"
    ".legend span{display:inline-block;margin-right:1.4em;font-size:.9em}"
    ".legend i{display:inline-block;width:2.2em;height:0;vertical-align:middle;"
    "margin-right:.4em;border-top:3px solid}"
    ".leak{border-color:" MP_MESHDOT_LEAK "!important}"
    ".forbidden{border-color:" MP_MESHDOT_FORBIDDEN "!important}"
    ".not-permitted{border-color:" MP_MESHDOT_NOT_PERMITTED "!important}"
    ".route{border-color:" MP_MESHDOT_ROUTE "!important}"
    ".mirror{border-top-style:dashed!important}.failover{border-top-style:dotted!important}"
    ".note{color:#5b6670}footer{margin-top:3em;color:#5b6670;font-size:.85em}"
    "@media print{nav{display:none}figure{overflow:visible}}";

static void put(FILE *out, const char *s)
{
	rp_put(out, s, ESC_XML_TEXT);
}

static void kv_row(void *ctx, const char *label, const char *value)
{
	FILE *out = ctx;
	fputs("<tr><th>", out);
	put(out, label);
	fputs("</th><td>", out);
	put(out, *value ? value : "-");
	fputs("</td></tr>\n", out);
}

static void badge(FILE *out, const char *status)
{
	fputs("<span class=\"badge ", out);
	for (const char *p = status; *p; p++)
		fputc(*p == ' ' ? '-' : *p, out); /* NOT TESTED -> class NOT-TESTED */
	fprintf(out, "\">%s</span>", status);
}

static int html_summary(audit_index *ix, FILE *out)
{
	json_t *bundle = json_object_get(ix->audit, "bundle");
	json_t *model = json_object_get(ix->audit, "model");
	json_t *tool = json_object_get(ix->audit, "tool");
	json_t *sev = json_object_get(ix->counts, "by_severity");
	const char *result = strcmp(ix->result, "pass") ? "FAIL" : "PASS";
	fputs("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
	      "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
	      "style-src 'unsafe-inline'\">\n"
	      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
	      "<title>meshpol compliance report",
	      out);
	if (!json_is_null(bundle)) {
		fputs(": ", out);
		put(out, rp_str(bundle, "name"));
		fputc(' ', out);
		put(out, rp_str(bundle, "revision"));
	}
	fprintf(out, "</title>\n<style>%s</style>\n</head>\n<body>\n", css);
	fputs("<header><h1>meshpol compliance report</h1>\n<p class=\"result\">Result: ", out);
	badge(out, result);
	fputs("</p></header>\n<nav><a href=\"#scope\">Scope</a><a href=\"#mesh\">Mesh</a>"
	      "<a href=\"#controls\">Controls</a><a href=\"#findings\">Findings</a>"
	      "<a href=\"#waivers\">Waivers</a><a href=\"#errors\">Errors</a></nav>\n",
	      out);
	fputs("<section id=\"summary\"><h2>Summary</h2>\n<table class=\"kv\">\n", out);
	if (json_is_null(bundle)) {
		kv_row(out, "Bundle", "none: built-in and import checks only");
	} else {
		kv_row(out, "Bundle", rp_str(bundle, "name"));
		kv_row(out, "Bundle revision", rp_str(bundle, "revision"));
		kv_row(out, "Bundle SHA-256", rp_str(bundle, "sha256"));
	}
	kv_row(out, "Model SHA-256", rp_str(model, "sha256"));
	fputs("<tr><th>Model sources</th><td>", out);
	rp_put_list(out, json_object_get(model, "sources"), ", ", ESC_XML_TEXT);
	fputs("</td></tr>\n<tr><th>Tool</th><td>", out);
	put(out, *rp_str(tool, "name") ? rp_str(tool, "name") : "meshpol");
	fputc(' ', out);
	put(out, rp_str(tool, "version"));
	fputs("</td></tr>\n", out);
	kv_row(out, "Audit time", rp_str(ix->audit, "time"));
	kv_row(out, "Fail-on level", ix->fail_on);
	fprintf(out, "<tr><th>Findings</th><td>%lld (", rp_int(ix->counts, "findings"));
	for (int r = 0; r < RP_NSEV; r++)
		fprintf(out, "%s%lld %s", r ? ", " : "", rp_int(sev, rp_sev_names[r]),
		        rp_sev_names[r]);
	fprintf(out,
	        ")</td></tr>\n<tr><th>Rules</th><td>%lld evaluated, %lld failed</td></tr>\n"
	        "<tr><th>Errors</th><td>%lld</td></tr>\n</table></section>\n",
	        rp_int(ix->counts, "rules"), rp_int(ix->counts, "rules_failed"),
	        rp_int(ix->counts, "errors"));
	return 0;
}

/* The scope's rows but the clusters', which have a table of their own below when there are any
 * (cloud, region and jurisdiction in columns); "none" stays a row. */
typedef struct {
	FILE *out;
	int cluster_table;
} html_scope_ctx;

static void scope_row(void *ctx, const char *label, const char *value)
{
	html_scope_ctx *sc = ctx;
	if (!(sc->cluster_table && !strcmp(label, "Clusters")))
		kv_row(sc->out, label, value);
}

static int html_scope(audit_index *ix, FILE *out)
{
	json_t *scope = json_object_get(ix->audit, "scope"), *c;
	size_t i;
	html_scope_ctx sc = {out, json_array_size(json_object_get(scope, "clusters")) > 0};
	fputs("<section id=\"scope\"><h2>Scope</h2>\n<table class=\"kv\">\n", out);
	if (rp_scope_rows(ix, scope_row, &sc) < 0)
		return -1;
	fputs("</table>\n", out);
	if (json_array_size(json_object_get(scope, "clusters"))) {
		fputs("<h3>Clusters</h3>\n<table><tr><th>Cluster</th><th>Cloud</th><th>Region</th>"
		      "<th>Jurisdiction</th></tr>\n",
		      out);
		json_array_foreach(json_object_get(scope, "clusters"), i, c)
		{
			static const char *const cols[] = {"name", "cloud", "region",
			                                   "jurisdiction"};
			fputs("<tr>", out);
			for (size_t k = 0; k < 4; k++) {
				fputs("<td>", out);
				put(out, *rp_str(c, cols[k]) ? rp_str(c, cols[k]) : "-");
				fputs("</td>", out);
			}
			fputs("</tr>\n", out);
		}
		fputs("</table>\n", out);
	}
	fputs("<h3>Policies</h3>\n", out);
	if (!ix->npols)
		fputs("<p>No policies.</p>\n", out);
	else
		fputs("<table><tr><th>Policy</th><th>Version</th><th>Kind</th><th>Enforcement</th>"
		      "<th>Severity</th><th>Controls</th><th class=\"num\">Rules</th>"
		      "<th class=\"num\">Findings</th></tr>\n",
		      out);
	for (size_t p = 0; p < ix->npols; p++) {
		const pol_slot *pol = &ix->pols[p];
		static const char *const cols[] = {"version", "kind", "enforcement", "severity"};
		size_t nf = 0;
		for (size_t k = 0; k < pol->s_n; k++)
			nf += ix->slots[pol->s_off + k].f_n;
		fputs("<tr><td>", out);
		put(out, pol->name);
		fputs("</td>", out);
		for (size_t k = 0; k < 4; k++) {
			fputs("<td>", out);
			put(out, *rp_str(pol->def, cols[k]) ? rp_str(pol->def, cols[k]) : "-");
			fputs("</td>", out);
		}
		fputs("<td>", out);
		rp_put_list(out, json_object_get(pol->def, "controls"), ", ", ESC_XML_TEXT);
		fprintf(out, "</td><td class=\"num\">%zu</td><td class=\"num\">%zu</td></tr>\n",
		        pol->s_n, nf);
	}
	if (ix->npols)
		fputs("</table>\n", out);
	fputs("</section>\n", out);
	return 0;
}

static void legend_item(FILE *out, const char *cls, const char *text)
{
	fprintf(out, "<span><i class=\"%s\"></i>%s</span>", cls, text);
}

/* The findings for the picture, read again (rp_scan). */
typedef struct {
	int (*fn)(void *fctx, json_t *finding);
	void *fctx;
} picture_pass;

static int picture_one(void *ctx, json_t *f, size_t slot)
{
	picture_pass *p = ctx;
	(void)slot;
	return p->fn(p->fctx, f);
}

static int picture_each(void *ctx, int (*fn)(void *fctx, json_t *finding), void *fctx)
{
	picture_pass p = {fn, fctx};
	return rp_scan(ctx, picture_one, &p);
}

/* The picture's DOT; the rules it reads: the tree's, or the records' residency rules. */
static int html_meshdot(audit_index *ix, FILE *mem, mp_meshdot_stats *st)
{
	mp_meshdot_audit a = {ix->rules, picture_each, ix};
	json_t *own = NULL;
	int rc;
	if (!ix->rules) {
		if (!(a.rules = own = json_array()))
			return -1;
		for (size_t i = 0; i < ix->nslots; i++)
			if (!strcmp(ix->slots[i].type, "residency") &&
			    json_array_append_new(
			        own, json_pack("{s:s, s:s, s:s}", "policy", ix->slots[i].policy,
			                       "rule", ix->slots[i].rule, "type", "residency")) <
			        0) {
				json_decref(own);
				return -1;
			}
	}
	rc = mp_meshdot_write_parts(ix->opts->engine, &a, mem, st);
	json_decref(own);
	return rc;
}

/* The picture: DOT from meshdot, laid out by Graphviz, inlined from its <svg> on (no XML
 * declaration or DOCTYPE inside HTML). Anything that keeps it from being drawn is said on the
 * page and in opts->note; the report is written either way. -1 only when out of memory. */
static int html_picture(audit_index *ix, FILE *out)
{
	const mp_report_opts *o = ix->opts;
	char *dot = NULL, *svg = NULL, why[600] = "";
	size_t dotlen = 0, svglen = 0;
	mp_meshdot_stats st = {0};
	int rc = -1;
	fputs("<section id=\"mesh\"><h2>The mesh</h2>\n", out);
	if (!o->engine) {
		snprintf(why, sizeof(why), "no picture: the report was written without the model");
	} else {
		FILE *mem = open_memstream(&dot, &dotlen);
		if (!mem)
			goto out;
		int bad = html_meshdot(ix, mem, &st);
		if (fclose(mem) != 0 || bad < 0)
			goto out;
		if (st.nodes > MP_MESHDOT_MAX_NODES)
			snprintf(why, sizeof(why),
			         "no picture: the mesh has %u nodes, more than the %u a readable "
			         "picture holds (meshpol graph writes it whole)",
			         st.nodes, MP_MESHDOT_MAX_NODES);
		else /* on failure, why says it */
			mp_graphviz_render(dot, dotlen, "svg", DOT_TIMEOUT_MS, &svg, &svglen, why,
			                   sizeof(why));
	}
	const char *start = svg ? strstr(svg, "<svg") : NULL;
	if (svg && !start)
		snprintf(why, sizeof(why), "no picture: %s wrote no <svg> element",
		         mp_graphviz_program());
	if (start) {
		fprintf(
		    out,
		    "<p>Services grouped by jurisdiction and cluster; an arrow is a route, from "
		    "its caller to a target (%u nodes, %u routes drawn; %u on residency leak "
		    "paths, %u forbidden, %u not permitted).</p>\n",
		    st.nodes, st.edges, st.leak_edges, st.forbidden_edges, st.not_permitted_edges);
		fputs("<p class=\"legend\">", out);
		legend_item(out, "leak", "residency leak path");
		legend_item(out, "forbidden", "a deny or traffic rule forbids the route");
		legend_item(out, "not-permitted", "no allow rule permits the route");
		legend_item(out, "route", "route (destination)");
		legend_item(out, "route mirror", "mirror");
		legend_item(out, "route failover", "failover");
		fputs("</p>\n<figure id=\"mesh-picture\">\n", out);
		fwrite(start, 1, svglen - (size_t)(start - svg), out);
		fputs("</figure>\n", out);
	} else {
		fputs("<p class=\"note\">", out);
		put(out, why);
		fputs("</p>\n", out);
		if (o->note && o->notelen)
			snprintf(o->note, o->notelen, "%s", why);
	}
	fputs("</section>\n", out);
	rc = 0;
out:
	free(dot);
	mp_free(svg);
	return rc;
}

static void html_controls(audit_index *ix, FILE *out, const rp_controls *c)
{
	fputs("<section id=\"controls\"><h2>Controls</h2>\n", out);
	if (!c->n) {
		fputs("<p>No policy names a control.</p></section>\n", out);
		return;
	}
	fprintf(out,
	        "<p>A control FAILs when a finding attributed to it has an enforcement of %s or "
	        "higher (the audit's fail-on level); otherwise it is in ERROR when a rule carrying "
	        "it failed to run, NOT TESTED when no rule of this audit carries it, and "
	        "PASS.</p>\n<table><tr><th>Control</th><th>Status</th><th class=\"num\">Rules</th>"
	        "<th class=\"num\">Findings</th><th class=\"num\">At or above fail-on</th></tr>\n",
	        ix->fail_on);
	for (size_t k = 0; k < c->n; k++) {
		const rp_control_state *st = &c->st[k];
		fputs("<tr><td>", out);
		put(out, c->ids[k]);
		fputs("</td><td>", out);
		badge(out, rp_control_status(st));
		fprintf(out,
		        "</td><td class=\"num\">%zu</td><td class=\"num\">%zu</td>"
		        "<td class=\"num\">%zu</td></tr>\n",
		        st->rules, st->findings, st->blocking);
	}
	fputs("</table></section>\n", out);
}

static void finding_row(audit_index *ix, FILE *out, json_t *f)
{
	fputs("<tr><td>", out);
	rp_put_id(out, rp_str(f, "policy"), rp_str(f, "rule"), ESC_XML_TEXT);
	fputs("</td><td>", out);
	put(out, rp_str(f, "severity"));
	fputs("</td><td>", out);
	put(out, rp_str(f, "enforcement"));
	if (rp_blocking(ix, f))
		fputs(" (at or above fail-on)", out);
	if (json_is_object(json_object_get(f, "waiver"))) {
		fputc(' ', out);
		badge(out, "WAIVED");
	}
	fputs("</td><td>", out);
	put(out, rp_str(f, "subject"));
	fputs("</td><td>", out);
	put(out, rp_str(f, "message"));
	fputs("</td><td class=\"loc\">", out);
	if (!rp_put_loc(out, json_object_get(f, "location"), ESC_XML_TEXT))
		fputc('-', out);
	if (*rp_str(json_object_get(f, "rule_location"), "file")) {
		fputs("<br>rule: ", out);
		rp_put_loc(out, json_object_get(f, "rule_location"), ESC_XML_TEXT);
	}
	json_t *rel;
	size_t k;
	json_array_foreach(json_object_get(f, "related"), k, rel)
	{
		fputs("<br>see ", out);
		rp_put_loc(out, rel, ESC_XML_TEXT);
		if (*rp_str(rel, "message")) {
			fputs(": ", out);
			put(out, rp_str(rel, "message"));
		}
	}
	fputs("</td></tr>\n", out);
}

/* The findings, read once (rp_scan) into the spill: the waived ones' rows (key K_WAIVED), the
 * rows of those no control names by rule (K_UNNAMED + slot), and the rows by control and rule
 * (K_UNNAMED + nslots + the pair's key). */
enum { K_WAIVED, K_UNNAMED };

typedef struct {
	audit_index *ix;
	rp_controls *c;
	rp_spill *sp;
	size_t *keys;
	size_t unnamed, waived;
} html_pass;

static int html_one(void *vctx, json_t *f, size_t slot)
{
	html_pass *h = vctx;
	json_t *w = json_object_get(f, "waiver");
	size_t n;
	FILE *out;
	if (rp_controls_attribute(h->ix, h->c, f, slot, h->keys, &n) < 0)
		return -1;
	out = rp_spill_begin(h->sp);
	finding_row(h->ix, out, f);
	for (size_t k = 0; k < n; k++)
		if (rp_spill_put(h->sp, K_UNNAMED + h->ix->nslots + h->keys[k]) < 0)
			return -1;
	if (!json_array_size(rp_finding_controls(h->ix, f, slot))) {
		h->unnamed++;
		if (rp_spill_put(h->sp, K_UNNAMED + slot) < 0)
			return -1;
	}
	if (!json_is_object(w))
		return 0;
	static const char *const cols[] = {"reason", "owner", "expires"};
	out = rp_spill_begin(h->sp);
	if (!h->waived++)
		fputs("<table><tr><th>Rule</th><th>Subject</th><th>Reason</th><th>Owner</th>"
		      "<th>Expires</th></tr>\n",
		      out);
	fputs("<tr><td>", out);
	rp_put_id(out, rp_str(f, "policy"), rp_str(f, "rule"), ESC_XML_TEXT);
	fputs("</td><td>", out);
	put(out, rp_str(f, "subject"));
	fputs("</td>", out);
	for (size_t k = 0; k < 3; k++) {
		fputs("<td>", out);
		put(out, *rp_str(w, cols[k]) ? rp_str(w, cols[k]) : "-");
		fputs("</td>", out);
	}
	fputs("</tr>\n", out);
	return rp_spill_put(h->sp, K_WAIVED);
}

static const char findings_head[] =
    "<table><tr><th>Rule</th><th>Severity</th><th>Enforcement</th><th>Subject</th>"
    "<th>Message</th><th>Location</th></tr>\n";

static int html_findings(html_pass *h, FILE *out)
{
	audit_index *ix = h->ix;
	const rp_controls *c = h->c;
	fputs("<section id=\"findings\"><h2>Findings by control</h2>\n", out);
	if (!ix->nfindings)
		fputs("<p>No findings.</p>\n", out);
	for (size_t k = 0; k < c->n; k++) {
		if (!c->st[k].findings)
			continue;
		fputs("<h3>", out);
		put(out, c->ids[k]);
		fputc(' ', out);
		badge(out, rp_control_status(&c->st[k]));
		fprintf(out, "</h3>\n%s", findings_head);
		for (size_t si = 0; si < ix->nslots; si++) {
			size_t key;
			if (rp_controls_count(c, k, si, &key) &&
			    rp_spill_copy(h->sp, K_UNNAMED + ix->nslots + key, out) < 0)
				return -1;
		}
		fputs("</table>\n", out);
	}
	if (h->unnamed) {
		fprintf(out, "<h3>Findings no control names (%zu)</h3>\n%s", h->unnamed,
		        findings_head);
		for (size_t si = 0; si < ix->nslots; si++)
			if (rp_spill_copy(h->sp, K_UNNAMED + si, out) < 0)
				return -1;
		fputs("</table>\n", out);
	}
	fputs("</section>\n", out);
	return 0;
}

/* The audit's "waivers" (waivers.yaml: each with its status and the findings it accepts). */
static void html_waiver_list(FILE *out, json_t *waivers)
{
	static const char *const cols[] = {"rule",  "subject", "reason",
	                                   "owner", "expires", "status"};
	size_t i;
	json_t *w;
	fputs("<table><tr><th>Rule</th><th>Subject</th><th>Reason</th><th>Owner</th>"
	      "<th>Expires</th><th>Status</th><th class=\"num\">Findings</th>"
	      "<th>Where</th></tr>\n",
	      out);
	json_array_foreach(waivers, i, w)
	{
		fputs("<tr>", out);
		for (size_t k = 0; k < sizeof(cols) / sizeof(cols[0]); k++) {
			fputs("<td>", out);
			put(out, *rp_str(w, cols[k]) ? rp_str(w, cols[k]) : "-");
			fputs("</td>", out);
		}
		fprintf(out, "<td class=\"num\">%lld</td><td class=\"loc\">",
		        rp_int(w, "findings"));
		if (!rp_put_loc(out, json_object_get(w, "location"), ESC_XML_TEXT))
			fputc('-', out);
		fputs("</td></tr>\n", out);
	}
	fputs("</table>\n", out);
}

static int html_waivers(html_pass *h, FILE *out)
{
	json_t *list = json_object_get(h->ix->audit, "waivers");
	fputs("<section id=\"waivers\"><h2>Waivers</h2>\n", out);
	if (json_array_size(list)) {
		html_waiver_list(out, list);
		fputs("<h3>Findings waived</h3>\n", out);
	}
	if (rp_spill_copy(h->sp, K_WAIVED, out) < 0)
		return -1;
	fputs(h->waived ? "</table>\n" : "<p>No waivers: every finding above counts.</p>\n", out);
	fputs("</section>\n", out);
	return 0;
}

static void html_errors(audit_index *ix, FILE *out)
{
	fputs("<section id=\"errors\"><h2>Errors</h2>\n", out);
	if (!json_array_size(ix->errors)) {
		fputs("<p>No errors.</p></section>\n", out);
		return;
	}
	fputs("<table><tr><th>Rule</th><th>Message</th><th>Location</th></tr>\n", out);
	for (size_t i = 0; i < json_array_size(ix->errors); i++) {
		json_t *e = rp_error_at(ix, i);
		fputs("<tr><td>", out);
		rp_put_id(out, rp_str(e, "policy"), rp_str(e, "rule"), ESC_XML_TEXT);
		fputs("</td><td>", out);
		put(out, rp_str(e, "message"));
		fputs("</td><td class=\"loc\">", out);
		if (!rp_put_loc(out, json_object_get(e, "location"), ESC_XML_TEXT))
			fputc('-', out);
		fputs("</td></tr>\n", out);
	}
	fputs("</table></section>\n", out);
}

int rp_write_html(audit_index *ix, FILE *out, int color)
{
	rp_controls c;
	html_pass h = {.ix = ix, .c = &c};
	int rc = -1;
	json_t *tool = json_object_get(ix->audit, "tool");
	(void)color;
	if (rp_controls_init(ix, &c) < 0)
		return -1;
	if (!(h.sp = rp_spill_new()) || !(h.keys = mp_calloc(c.n + 1, sizeof(size_t))) ||
	    rp_scan(ix, html_one, &h) < 0 ||
	    rp_spill_sort(h.sp, K_UNNAMED + ix->nslots + c.npairs) < 0)
		goto out;
	rp_controls_finish(ix, &c);
	if (html_summary(ix, out) < 0 || html_scope(ix, out) < 0 || html_picture(ix, out) < 0)
		goto out;
	html_controls(ix, out, &c);
	if (html_findings(&h, out) < 0 || html_waivers(&h, out) < 0)
		goto out;
	html_errors(ix, out);
	fputs("<footer>Written by ", out);
	put(out, *rp_str(tool, "name") ? rp_str(tool, "name") : "meshpol");
	fputc(' ', out);
	put(out, rp_str(tool, "version"));
	fputs(" from the audit of ", out);
	put(out, rp_str(ix->audit, "time"));
	fputs(".</footer>\n</body>\n</html>\n", out);
	rc = 0;
out:
	rp_spill_free(h.sp);
	mp_free(h.keys);
	rp_controls_free(&c);
	return rc;
}
