/* meshdot.c: the picture of the mesh as Graphviz DOT (engine/include/meshdot.h says what is
 * drawn): nodes per service and cluster, grouped by jurisdiction and cluster, an edge per route
 * target, coloured by the policies' verdict on the route and by the audit's residency leaks.
 * Design: docs/architecture.md ("The picture of the mesh"). */
#include "meshdot.h"
#include "alloc.h"
#include "decide.h"
#include "diag.h"
#include "scope.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

enum { V_ROUTE = 0, V_NOT_PERMITTED, V_FORBIDDEN, V_LEAK }; /* later wins */
enum { S_DEST = 0, S_MIRROR, S_FAILOVER };

typedef struct {
	uint32_t from, to; /* node ids */
	mp_id route;
	uint8_t span, verdict;
} dot_edge;

/* The nodes: every service has one per cluster it runs in, numbered service by service
 * (svc_off[s] + k for its k-th cluster); then one per external; then "any caller". Owns its
 * arrays. */
typedef struct {
	const mp_model *m;
	mp_model_view v;
	uint32_t *svc_off; /* nservices + 1 */
	uint32_t ext_off, any, n;
	uint8_t *leak_end;  /* per node: a leak ends there */
	uint32_t *jur;      /* per node: its jurisdiction, or njurisdictions for none */
	uint8_t *inside;    /* per jurisdiction (and none): inside the leak being marked */
	dot_edge *edges;    /* sorted by from once the routes are in */
	uint32_t *from_off; /* n + 1: node x's edges are edges[from_off[x] .. from_off[x + 1]) */
	uint32_t nedges, cap;
} picture;

static int in_range(uint32_t x, uint32_t lo, uint32_t hi)
{
	return x >= lo && x < hi;
}

/* A quoted DOT string: '"' and '\' escaped (so no DOT escape such as \N is read), control bytes
 * as spaces, and every byte past ASCII as '?' when s is not UTF-8 (dot would refuse it). */
static void put_quoted(FILE *out, const char *s)
{
	size_t len = strlen(s);
	int utf8 = mp_utf8_valid(s, len);
	fputc('"', out);
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '"' || c == '\\')
			fputc('\\', out);
		fputc(c < 0x20 || c == 0x7f ? ' ' : (c >= 0x80 && !utf8) ? '?' : (int)c, out);
	}
	fputc('"', out);
}

static uint32_t cluster_index(const picture *p, mp_id s, mp_id cluster)
{
	const mp_service *sv = &p->v.services[s];
	for (uint32_t k = 0; k < sv->clusters.n; k++)
		if (p->v.u32[sv->clusters.off + k] == cluster)
			return k;
	return UINT32_MAX;
}

static int add_edge(picture *p, uint32_t from, uint32_t to, mp_id route, int span, int verdict)
{
	if (p->nedges == p->cap) {
		uint32_t ncap = p->cap ? p->cap * 2 : 256;
		dot_edge *ne = mp_realloc(p->edges, (size_t)ncap * sizeof(*ne));
		if (!ne)
			return -1;
		p->edges = ne;
		p->cap = ncap;
	}
	p->edges[p->nedges++] = (dot_edge){from, to, route, (uint8_t)span, (uint8_t)verdict};
	return 0;
}

/* The nodes a route target reaches: [*lo, *hi). */
static void target_nodes(const picture *p, const mp_target *t, uint32_t *lo, uint32_t *hi)
{
	if (t->kind == MP_TARGET_EXTERNAL) {
		*lo = p->ext_off + t->id;
		*hi = *lo + 1;
		return;
	}
	uint32_t k = t->cluster == MP_NONE ? UINT32_MAX : cluster_index(p, t->id, t->cluster);
	*lo = p->svc_off[t->id] + (k == UINT32_MAX ? 0 : k);
	*hi = k == UINT32_MAX ? p->svc_off[t->id + 1] : *lo + 1;
}

static int add_routes(picture *p, const mp_engine *e)
{
	for (mp_id ri = 0; ri < p->v.nroutes; ri++) {
		const mp_route *r = &p->v.routes[ri];
		const mp_span spans[3] = {r->dests, r->mirrors, r->failover};
		uint32_t slo = r->source == MP_NONE ? p->any : p->svc_off[r->source];
		uint32_t shi = r->source == MP_NONE ? p->any + 1 : p->svc_off[r->source + 1];
		for (int sp = 0; sp < 3; sp++)
			for (uint32_t t = spans[sp].off; t < spans[sp].off + spans[sp].n; t++) {
				int verdict = V_ROUTE;
				uint32_t rule, lo, hi;
				if (e->bundle && r->source != MP_NONE) {
					mp_route_verdict rv = mp_decide_route(e, ri, t, &rule);
					verdict = rv == MP_ROUTE_FORBIDDEN       ? V_FORBIDDEN
					          : rv == MP_ROUTE_NOT_PERMITTED ? V_NOT_PERMITTED
					                                         : V_ROUTE;
				}
				target_nodes(p, &p->v.targets[t], &lo, &hi);
				for (uint32_t a = slo; a < shi; a++)
					for (uint32_t b = lo; b < hi; b++)
						if (add_edge(p, a, b, ri, sp, verdict) < 0)
							return -1;
			}
	}
	return 0;
}

/* The nodes a leak path's element names: "ns/name", "ns/name@cluster" or an external's host.
 * 0 when it names none. */
static int element_nodes(const picture *p, const char *s, uint32_t *lo, uint32_t *hi)
{
	char ref[512];
	const char *at = strrchr(s, '@');
	size_t n = at ? (size_t)(at - s) : strlen(s);
	if (n >= sizeof(ref))
		return 0;
	memcpy(ref, s, n);
	ref[n] = '\0';
	mp_id svc = mp_model_find_service(p->m, ref);
	if (svc != MP_NONE) {
		mp_target t = {.kind = MP_TARGET_SERVICE, .id = svc, .cluster = MP_NONE};
		if (at && (t.cluster = mp_model_find_cluster(p->m, at + 1)) != MP_NONE &&
		    cluster_index(p, svc, t.cluster) == UINT32_MAX)
			t.cluster = MP_NONE;
		target_nodes(p, &t, lo, hi);
		return 1;
	}
	mp_id x = mp_model_find_external(p->m, s);
	if (x == MP_NONE)
		return 0;
	*lo = p->ext_off + x;
	*hi = *lo + 1;
	return 1;
}

static int cmp_edge(const void *x, const void *y)
{
	const dot_edge *a = x, *b = y;
	if (a->from != b->from)
		return a->from < b->from ? -1 : 1;
	if (a->route != b->route)
		return a->route < b->route ? -1 : 1;
	return a->to < b->to ? -1 : a->to > b->to;
}

/* Sorts the edges by their first node and indexes them so. -1 when out of memory. */
static int index_edges(picture *p)
{
	if (p->nedges)
		qsort(p->edges, p->nedges, sizeof(*p->edges), cmp_edge);
	if (!(p->from_off = mp_calloc((size_t)p->n + 2, sizeof(*p->from_off))))
		return -1;
	for (uint32_t i = 0; i < p->nedges; i++)
		p->from_off[p->edges[i].from + 1]++;
	for (uint32_t x = 0; x < p->n; x++)
		p->from_off[x + 1] += p->from_off[x];
	return 0;
}

/* Which nodes of a leak path's element are on the path: those inside the jurisdiction for the
 * hops before the last, those outside it for the last (the service or host the data reaches);
 * every node of the element when none is (the audit names an element, not its cluster). */
enum { ON_ANY = 0, ON_INSIDE, ON_OUTSIDE };

static int on_side(const picture *p, uint32_t node, int side)
{
	return side == ON_ANY || p->inside[p->jur[node]] == (side == ON_INSIDE);
}

static int side_of(const picture *p, uint32_t lo, uint32_t hi, int side)
{
	for (uint32_t x = lo; x < hi; x++)
		if (on_side(p, x, side))
			return side;
	return ON_ANY;
}

/* Marks the edges from a node of [alo, ahi) on side as to one of [blo, bhi) on bside. */
static void mark_between(picture *p, uint32_t alo, uint32_t ahi, int aside, uint32_t blo,
                         uint32_t bhi, int bside)
{
	for (uint32_t a = alo; a < ahi; a++)
		for (uint32_t i = p->from_off[a]; on_side(p, a, aside) && i < p->from_off[a + 1];
		     i++)
			if (in_range(p->edges[i].to, blo, bhi) && on_side(p, p->edges[i].to, bside))
				p->edges[i].verdict = V_LEAK;
}

/* "policy\nrule" of a rules[] entry or a finding. */
static void rule_key(json_t *o, char *key, size_t len)
{
	const char *p = json_string_value(json_object_get(o, "policy"));
	const char *r = json_string_value(json_object_get(o, "rule"));
	snprintf(key, len, "%s\n%s", p ? p : "", r ? r : "");
}

/* Colours the hops of every residency finding's path: each edge between two consecutive
 * elements, either way (a path goes against a route where a caller outside calls in). */
typedef struct {
	picture *p;
	json_t *types; /* "policy\nrule" of every residency rule */
} leak_marker;

static int mark_leak(void *ctx, json_t *f)
{
	leak_marker *lm = ctx;
	picture *p = lm->p;
	json_t *path = json_object_get(f, "path");
	char key[600];
	rule_key(f, key, sizeof(key));
	size_t n = json_array_size(path);
	uint32_t lo, hi;
	if (!json_object_get(lm->types, key) || n < 2 ||
	    !element_nodes(p, json_string_value(json_array_get(path, 0)), &lo, &hi))
		return 0;
	/* inside: the jurisdictions where the data is handled, the origin's */
	memset(p->inside, 0, (size_t)p->v.njurisdictions + 1);
	for (uint32_t x = lo; x < hi; x++)
		p->inside[p->jur[x]] = 1;
	for (size_t k = 0; k + 1 < n; k++) {
		const char *a = json_string_value(json_array_get(path, k));
		const char *b = json_string_value(json_array_get(path, k + 1));
		uint32_t alo, ahi, blo, bhi;
		if (!a || !b || !element_nodes(p, a, &alo, &ahi) ||
		    !element_nodes(p, b, &blo, &bhi))
			continue;
		int aside = side_of(p, alo, ahi, ON_INSIDE);
		int bside = side_of(p, blo, bhi, k + 2 == n ? ON_OUTSIDE : ON_INSIDE);
		mark_between(p, alo, ahi, aside, blo, bhi, bside);
		mark_between(p, blo, bhi, bside, alo, ahi, aside);
		for (uint32_t x = blo; k + 2 == n && x < bhi; x++)
			p->leak_end[x] = on_side(p, x, bside);
	}
	return 0;
}

/* -1 when the findings cannot all be given. */
static int mark_leaks(picture *p, const mp_meshdot_audit *a)
{
	leak_marker lm = {p, json_object()};
	json_t *r;
	size_t i;
	int rc = 0;
	if (!lm.types)
		return 0;
	json_array_foreach(a->rules, i, r)
	{
		const char *type = json_string_value(json_object_get(r, "type"));
		char key[600];
		if (!type || strcmp(type, "residency"))
			continue;
		rule_key(r, key, sizeof(key));
		json_object_set_new(lm.types, key, json_true());
	}
	if (json_object_size(lm.types))
		rc = a->each(a->ctx, mark_leak, &lm) ? -1 : 0;
	json_decref(lm.types);
	return rc;
}

static int tree_each(void *ctx, int (*fn)(void *fctx, json_t *finding), void *fctx)
{
	size_t i;
	json_t *f;
	json_array_foreach(json_object_get(ctx, "findings"), i, f) fn(fctx, f);
	return 0;
}

/* A node: label, and under it sub (NULL: none), then extra attributes. */
static void put_node(const picture *p, FILE *out, uint32_t node, const char *label, const char *sub,
                     const char *extra)
{
	fprintf(out, "    n%u [label=", node);
	put_quoted(out, label);
	if (sub) { /* DOT's "\n" between the two quoted halves: a line break */
		fputs(" + \"\\n\" + ", out);
		put_quoted(out, sub);
	}
	fprintf(out, "%s%s];\n",
	        p->leak_end[node] ? ", color=\"" MP_MESHDOT_LEAK "\", penwidth=2.5" : "", extra);
}

/* The service nodes in cluster c (MP_NONE: none of the model's clusters; never happens for a
 * compiled service, kept for the count). */
static void put_cluster(const picture *p, FILE *out, mp_id c, uint32_t *box)
{
	const mp_cluster *cl = &p->v.clusters[c];
	char label[600];
	const mp_id *ids;
	uint32_t n = mp_model_services_in_cluster(p->m, c, &ids);
	snprintf(label, sizeof(label), "cluster %s%s%s%s%s", mp_model_str(p->m, cl->name),
	         cl->provider || cl->region ? " (" : "", mp_model_str(p->m, cl->provider),
	         cl->provider && cl->region ? " " : "", mp_model_str(p->m, cl->region));
	if (cl->provider || cl->region)
		strncat(label, ")", sizeof(label) - strlen(label) - 1);
	fprintf(out, "  subgraph cluster_%u {\n    label=", (*box)++);
	put_quoted(out, label);
	fputs(";\n    style=\"rounded,filled\"; fillcolor=\"#ffffff\"; color=\"#9aa5b1\";\n", out);
	for (uint32_t i = 0; i < n; i++) {
		const mp_service *sv = &p->v.services[ids[i]];
		char name[700], data[700] = "";
		size_t at = 0;
		snprintf(name, sizeof(name), "%s/%s",
		         mp_model_str(p->m, p->v.namespaces[sv->ns].name),
		         mp_model_str(p->m, sv->name));
		for (uint32_t d = 0; d < sv->data.n && at < sizeof(data); d++)
			at += (size_t)snprintf(data + at, sizeof(data) - at, "%s%s", d ? ", " : "",
			                       mp_model_str(p->m, p->v.u32[sv->data.off + d]));
		put_node(p, out, p->svc_off[ids[i]] + cluster_index(p, ids[i], c), name,
		         sv->data.n ? data : NULL, sv->data.n ? ", fillcolor=\"#fff4d6\"" : "");
	}
	fputs("  }\n", out);
}

static mp_id external_jurisdiction(const picture *p, mp_id x)
{
	const mp_external *ex = &p->v.externals[x];
	if (ex->jurisdiction != MP_NONE)
		return ex->jurisdiction;
	return ex->region ? mp_model_jurisdiction_of_region(p->m, ex->region) : MP_NONE;
}

static void put_externals(const picture *p, FILE *out, mp_id j)
{
	for (mp_id x = 0; x < p->v.nexternals; x++) {
		if (external_jurisdiction(p, x) != j)
			continue;
		put_node(p, out, p->ext_off + x, mp_model_str(p->m, p->v.externals[x].host), NULL,
		         ", shape=ellipse, style=\"dashed,filled\", fillcolor=\"#f2f2f2\"");
	}
}

static const char *const jur_fill[] = {"#e8f1fb", "#eaf6ea", "#fbeeee", "#f3ecfa", "#fdf5e6"};

static void put_graph(const picture *p, FILE *out)
{
	uint32_t box = 0;
	fputs("digraph mesh {\n"
	      "  graph [rankdir=LR, fontname=\"DejaVu Sans\", fontsize=12, bgcolor=\"white\", "
	      "nodesep=0.25, ranksep=0.9, newrank=true];\n"
	      "  node [shape=box, style=\"rounded,filled\", fillcolor=\"#ffffff\", "
	      "color=\"#4a5560\", fontname=\"DejaVu Sans\", fontsize=10];\n"
	      "  edge [color=\"" MP_MESHDOT_ROUTE "\", arrowsize=0.6];\n",
	      out);
	/* jurisdictions, then the clusters and externals of none */
	for (uint32_t j = 0; j <= p->v.njurisdictions; j++) {
		int any = 0;
		const char *jname =
		    j < p->v.njurisdictions ? mp_model_str(p->m, p->v.jurisdictions[j].name) : NULL;
		for (mp_id c = 0; c < p->v.nclusters && !any; c++) {
			const char *cj = mp_scope_cluster_jurisdiction(p->m, c);
			any = jname ? cj && !strcmp(cj, jname) : !cj;
		}
		if (j < p->v.njurisdictions || any) {
			char label[300];
			snprintf(label, sizeof(label), "%s%s",
			         jname ? "jurisdiction " : "no jurisdiction", jname ? jname : "");
			fprintf(out, " subgraph cluster_%u {\n  label=", box++);
			put_quoted(out, label);
			fprintf(out,
			        ";\n  style=\"rounded,filled\"; fillcolor=\"%s\"; "
			        "color=\"#5b7083\"; fontsize=13;\n",
			        jur_fill[j % (sizeof(jur_fill) / sizeof(jur_fill[0]))]);
		}
		for (mp_id c = 0; c < p->v.nclusters; c++) {
			const char *cj = mp_scope_cluster_jurisdiction(p->m, c);
			if (jname ? cj && !strcmp(cj, jname) : !cj)
				put_cluster(p, out, c, &box);
		}
		put_externals(p, out, j < p->v.njurisdictions ? j : MP_NONE);
		if (j < p->v.njurisdictions || any)
			fputs(" }\n", out);
	}
	if (p->any < p->n)
		fprintf(out, "  n%u [label=\"any caller\", shape=plaintext, style=\"\"];\n",
		        p->any);
	static const char *const span_style[] = {"", ", style=dashed", ", style=dotted"};
	static const char *const colour[] = {"",
	                                     ", color=\"" MP_MESHDOT_NOT_PERMITTED "\", penwidth=2",
	                                     ", color=\"" MP_MESHDOT_FORBIDDEN "\", penwidth=2",
	                                     ", color=\"" MP_MESHDOT_LEAK "\", penwidth=3"};
	static const char *const kind[] = {"destination", "mirror", "failover"};
	static const char *const verdict[] = {"", ": no allow rule permits it",
	                                      ": the policies forbid it",
	                                      ": part of a residency leak path"};
	for (uint32_t i = 0; i < p->nedges; i++) {
		const dot_edge *d = &p->edges[i];
		char tip[600];
		snprintf(tip, sizeof(tip), "route %s (%s)%s",
		         mp_model_str(p->m, p->v.routes[d->route].name), kind[d->span],
		         verdict[d->verdict]);
		fprintf(out, "  n%u -> n%u [tooltip=", d->from, d->to);
		put_quoted(out, tip);
		fprintf(out, "%s%s];\n", span_style[d->span], colour[d->verdict]);
	}
	fputs("}\n", out);
}

static void node_jurisdictions(picture *p)
{
	uint32_t none = p->v.njurisdictions;
	for (uint32_t x = 0; x < p->n; x++)
		p->jur[x] = none;
	for (mp_id s = 0; s < p->v.nservices; s++)
		for (uint32_t k = 0; k < p->v.services[s].clusters.n; k++) {
			mp_id c = p->v.u32[p->v.services[s].clusters.off + k];
			mp_id j = mp_model_jurisdiction_of_region(p->m, p->v.clusters[c].region);
			p->jur[p->svc_off[s] + k] = j == MP_NONE ? none : j;
		}
	for (mp_id x = 0; x < p->v.nexternals; x++) {
		mp_id j = external_jurisdiction(p, x);
		p->jur[p->ext_off + x] = j == MP_NONE ? none : j;
	}
}

int mp_meshdot_write(const mp_engine *e, json_t *audit, FILE *out, mp_meshdot_stats *stats)
{
	mp_meshdot_audit a = {json_object_get(audit, "rules"), tree_each, audit};
	return mp_meshdot_write_parts(e, audit ? &a : NULL, out, stats);
}

int mp_meshdot_write_parts(const mp_engine *e, const mp_meshdot_audit *audit, FILE *out,
                           mp_meshdot_stats *stats)
{
	picture p = {.m = e->model, .v = mp_model_get_view(e->model)};
	int rc = -1;
	int any_source = 0;
	if (!(p.svc_off = mp_malloc(((size_t)p.v.nservices + 1) * sizeof(*p.svc_off))))
		goto out;
	for (mp_id s = 0; s < p.v.nservices; s++) {
		p.svc_off[s] = p.n;
		p.n += p.v.services[s].clusters.n;
	}
	p.svc_off[p.v.nservices] = p.n;
	p.ext_off = p.n;
	p.n += p.v.nexternals;
	for (mp_id r = 0; r < p.v.nroutes && !any_source; r++)
		any_source = p.v.routes[r].source == MP_NONE;
	p.any = any_source ? p.n++ : UINT32_MAX;
	if (!(p.leak_end = mp_calloc((size_t)p.n + 1, 1)) ||
	    !(p.jur = mp_calloc((size_t)p.n + 1, sizeof(*p.jur))) ||
	    !(p.inside = mp_calloc((size_t)p.v.njurisdictions + 1, 1)) || add_routes(&p, e) < 0 ||
	    index_edges(&p) < 0)
		goto out;
	node_jurisdictions(&p);
	if (audit && mark_leaks(&p, audit) < 0)
		goto out;
	put_graph(&p, out);
	if (stats) {
		*stats = (mp_meshdot_stats){.nodes = p.n, .edges = p.nedges};
		for (uint32_t i = 0; i < p.nedges; i++) {
			stats->leak_edges += p.edges[i].verdict == V_LEAK;
			stats->forbidden_edges += p.edges[i].verdict == V_FORBIDDEN;
			stats->not_permitted_edges += p.edges[i].verdict == V_NOT_PERMITTED;
		}
	}
	rc = fflush(out) == 0 && !ferror(out) ? 0 : -1;
out:
	mp_free(p.svc_off);
	mp_free(p.leak_end);
	mp_free(p.jur);
	mp_free(p.inside);
	mp_free(p.edges);
	mp_free(p.from_off);
	return rc;
}
