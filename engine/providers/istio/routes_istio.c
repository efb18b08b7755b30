/* routes_istio.c: Istio's routes. A VirtualService becomes one route per rule, match and
 * source, with the DestinationRule's subsets and locality settings applied to its targets;
 * DestinationRules are checked here. Mapping: docs/import.md ("VirtualService",
 * "DestinationRule", "Residency from Istio"). */
#include "alloc.h"
#include "istio_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_TARGETS 64

typedef im_hostref hostref;

/* --- DestinationRules --- */

static int tls_mode_check(mp_import *im, idoc *dc, yaml_node_t *tp)
{
	static const char *const modes[] = {"DISABLE", "SIMPLE", "MUTUAL", "ISTIO_MUTUAL", NULL};
	yaml_node_t *tls;
	const char *mode;
	if (im_map(im, dc, tp, "tls", 0, &tls) < 0 ||
	    (tls && im_str(im, dc, tls, "mode", 0, &mode) < 0))
		return -1;
	if (tls && mode) {
		size_t i;
		for (i = 0; modes[i] && strcmp(modes[i], mode); i++)
			;
		if (!modes[i])
			return im_error(
			    im, dc, im_get(dc, tls, "mode"),
			    "tls mode must be DISABLE, SIMPLE, MUTUAL or ISTIO_MUTUAL, not "
			    "'%s'",
			    mode);
	}
	return 0;
}

static int traffic_policy_check(mp_import *im, idoc *dc, yaml_node_t *tp)
{
	static const char *const keys[] = {
	    "loadBalancer",      "connectionPool", "outlierDetection", "tls",
	    "portLevelSettings", "tunnel",         "proxyProtocol",    NULL};
	static const char *const lbkeys[] = {
	    "simple", "consistentHash", "localityLbSetting", "warmupDurationSecs", "warmup", NULL};
	static const char *const lskeys[] = {"distribute", "failover", "failoverPriority",
	                                     "enabled", NULL};
	yaml_node_t *lb, *ls, *seq, *item;
	if (!tp)
		return 0;
	if (im_keys(im, dc, tp, keys, "trafficPolicy") < 0 || tls_mode_check(im, dc, tp) < 0 ||
	    im_map(im, dc, tp, "loadBalancer", 0, &lb) < 0)
		return -1;
	if (!lb)
		return 0;
	if (im_keys(im, dc, lb, lbkeys, "loadBalancer") < 0 ||
	    im_map(im, dc, lb, "localityLbSetting", 0, &ls) < 0)
		return -1;
	if (!ls)
		return 0;
	if (im_keys(im, dc, ls, lskeys, "localityLbSetting") < 0 ||
	    im_seq(im, dc, ls, "distribute", 0, &seq) < 0)
		return -1;
	if (seq)
		IM_SEQ_FOREACH(dc, seq, item)
		{
			const char *from;
			yaml_node_t *to;
			if (item->type != YAML_MAPPING_NODE ||
			    im_str(im, dc, item, "from", 1, &from) < 0 ||
			    im_map(im, dc, item, "to", 1, &to) < 0)
				return im_error(im, dc, item,
				                "distribute entries need 'from' and 'to'");
		}
	if (im_seq(im, dc, ls, "failover", 0, &seq) < 0)
		return -1;
	if (seq)
		IM_SEQ_FOREACH(dc, seq, item)
		{
			const char *from, *to;
			if (item->type != YAML_MAPPING_NODE ||
			    im_str(im, dc, item, "from", 1, &from) < 0 ||
			    im_str(im, dc, item, "to", 1, &to) < 0)
				return im_error(im, dc, item,
				                "failover entries need 'from' and 'to'");
		}
	const char *prio[64];
	uint32_t n;
	return im_strs(im, dc, ls, "failoverPriority", 0, prio, 64, &n);
}

/* Checks a DestinationRule once; -1 when it is malformed (and then ignored). */
static int dr_check(mp_import *im, idoc *dc)
{
	static const char *const keys[] = {"host",     "trafficPolicy",    "subsets",
	                                   "exportTo", "workloadSelector", NULL};
	static const char *const skeys[] = {"name", "labels", "trafficPolicy", NULL};
	yaml_node_t *tp, *subsets, *sub, *labels;
	const char *host, *name;
	if (dc->bad)
		return -1;
	if (!dc->spec)
		return im_error(im, dc, dc->root, "missing required field 'spec'");
	if (im_keys(im, dc, dc->spec, keys, "spec") < 0 ||
	    im_str(im, dc, dc->spec, "host", 1, &host) < 0 ||
	    im_map(im, dc, dc->spec, "trafficPolicy", 0, &tp) < 0 ||
	    traffic_policy_check(im, dc, tp) < 0 ||
	    im_seq(im, dc, dc->spec, "subsets", 0, &subsets) < 0)
		return -1;
	if (subsets)
		IM_SEQ_FOREACH(dc, subsets, sub)
		{
			if (im_keys(im, dc, sub, skeys, "subset") < 0 ||
			    im_str(im, dc, sub, "name", 1, &name) < 0 ||
			    im_map(im, dc, sub, "labels", 0, &labels) < 0 ||
			    im_map(im, dc, sub, "trafficPolicy", 0, &tp) < 0 ||
			    traffic_policy_check(im, dc, tp) < 0)
				return -1;
		}
	return 0;
}

typedef struct {
	mp_import *im;
	hostref *drt; /* per document: what a DestinationRule's host resolves to */
} rctx;

/* The DestinationRule for a target, as Istio picks it: the client's namespace first, then the
 * service's, then the root namespace; the first in document order; same cluster. */
static idoc *find_dr(rctx *rc, hostref t, mp_str client_ns, mp_id cluster)
{
	mp_import *im = rc->im;
	mp_model_view v = mp_model_get_view(im->m);
	mp_str svc_ns = t.kind == MP_TARGET_SERVICE ? v.namespaces[v.services[t.id].ns].name : 0;
	mp_str order[3] = {client_ns, svc_ns, im_intern(im, istio_of(im)->rootns)};
	for (int k = 0; k < 3; k++)
		for (uint32_t i = 0; i < im->ndocs; i++) {
			idoc *dc = &im->docs[i];
			if (istio_is(dc, IK_DESTINATIONRULE) && im_live(dc) &&
			    dc->cluster == cluster && rc->drt[i].id == t.id &&
			    rc->drt[i].kind == t.kind && dc->ns == order[k])
				return dc;
		}
	for (uint32_t i = 0; i < im->ndocs; i++) /* exported from elsewhere */
		if (istio_is(&im->docs[i], IK_DESTINATIONRULE) && im_live(&im->docs[i]) &&
		    im->docs[i].cluster == cluster && rc->drt[i].id == t.id &&
		    rc->drt[i].kind == t.kind)
			return &im->docs[i];
	return NULL;
}

static yaml_node_t *dr_subset(idoc *dr, const char *name)
{
	yaml_node_t *subsets = im_get(dr, dr->spec, "subsets"), *sub;
	if (!subsets || subsets->type != YAML_SEQUENCE_NODE)
		return NULL;
	IM_SEQ_FOREACH(dr, subsets, sub)
	{
		const char *n = im_scalar(im_get(dr, sub, "name"));
		if (n && !strcmp(n, name))
			return sub;
	}
	return NULL;
}

/* The localityLbSetting in force for a subset (its own trafficPolicy first). */
static yaml_node_t *locality_setting(idoc *dr, yaml_node_t *subset)
{
	yaml_node_t *tps[2] = {subset ? im_get(dr, subset, "trafficPolicy") : NULL,
	                       im_get(dr, dr->spec, "trafficPolicy")};
	for (int k = 0; k < 2; k++) {
		yaml_node_t *ls =
		    im_get(dr, im_get(dr, tps[k], "loadBalancer"), "localityLbSetting");
		if (ls && ls->type == YAML_MAPPING_NODE)
			return ls;
	}
	return NULL;
}

/* Does a locality ("region/zone/subzone", "*", "region" followed by "/" and "*") name the
 * region? */
static int locality_has_region(const char *loc, const char *region)
{
	size_t n = strcspn(loc, "/");
	return (n == 1 && loc[0] == '*') || (strlen(region) == n && !strncmp(loc, region, n));
}

static const char *cluster_region(mp_import *im, mp_id c)
{
	return im_str_of(im, mp_model_get_view(im->m).clusters[c].region);
}

/* Applies a DestinationRule's locality settings to one destination target of a route from
 * source (MP_NONE: any caller): `distribute` that keeps every possible caller inside some
 * regions pins the target to the clusters there; `failover` and `failoverPriority` only
 * reorder endpoints, so the target stays whole and is flagged, and failover targets are added
 * for the regions traffic fails over to. */
static void locality(rctx *rc, idoc *dr, yaml_node_t *ls, mp_id source, const mp_target *t,
                     mp_target *out, uint32_t *nout, mp_target *fo, uint32_t *nfo)
{
	mp_import *im = rc->im;
	mp_model_view v = mp_model_get_view(im->m);
	const mp_service *s = &v.services[t->id];
	yaml_node_t *dist = im_get(dr, ls, "distribute"), *fail = im_get(dr, ls, "failover"),
	            *prio = im_get(dr, ls, "failoverPriority"), *item, *k, *val;
	const char *enabled = im_scalar(im_get(dr, ls, "enabled"));
	if (enabled && !strcmp(enabled, "false")) {
		out[(*nout)++] = *t;
		return;
	}
	if (dist && dist->type == YAML_SEQUENCE_NODE) {
		/* the regions callers may be in */
		const mp_span cl =
		    source != MP_NONE ? v.services[source].clusters : (mp_span){0, 0};
		uint32_t ncallers = source != MP_NONE ? cl.n : v.nclusters;
		int covered = 1, any = 0;
		for (uint32_t i = 0; i < ncallers && covered; i++) {
			const char *r =
			    cluster_region(im, source != MP_NONE ? v.u32[cl.off + i] : (mp_id)i);
			int hit = 0;
			IM_SEQ_FOREACH(dr, dist, item)
			{
				const char *from = im_scalar(im_get(dr, item, "from"));
				hit |= from && locality_has_region(from, r);
			}
			covered = hit;
		}
		/* the regions they are sent to */
		uint32_t keep[64], nkeep = 0;
		IM_SEQ_FOREACH(dr, dist, item)
		{
			yaml_node_t *to = im_get(dr, item, "to");
			if (to && to->type == YAML_MAPPING_NODE)
				IM_MAP_FOREACH(dr, to, k, val)
				{
					const char *loc = im_scalar(k);
					any |= loc && loc[0] == '*';
				}
		}
		for (uint32_t i = 0; covered && !any && i < s->clusters.n && nkeep < 64; i++) {
			mp_id c = v.u32[s->clusters.off + i];
			int in = 0;
			IM_SEQ_FOREACH(dr, dist, item)
			{
				yaml_node_t *to = im_get(dr, item, "to");
				if (to && to->type == YAML_MAPPING_NODE)
					IM_MAP_FOREACH(dr, to, k, val)
					{
						in |= im_scalar(k) &&
						      locality_has_region(im_scalar(k),
						                          cluster_region(im, c));
					}
			}
			if (in && (t->cluster == MP_NONE || t->cluster == c))
				keep[nkeep++] = c;
		}
		if (covered && !any && nkeep && nkeep < s->clusters.n && t->cluster == MP_NONE) {
			for (uint32_t i = 0; i < nkeep && *nout < MAX_TARGETS; i++) {
				mp_target p = *t;
				p.cluster = keep[i];
				p.weight = t->weight / nkeep + (i == 0 ? t->weight % nkeep : 0);
				p.flags |= MP_TARGET_F_LOCALITY_DISTRIBUTE;
				out[(*nout)++] = p;
			}
			return;
		}
	}
	mp_target d = *t;
	int multi = 0;
	for (uint32_t i = 1; i < s->clusters.n; i++)
		multi |= strcmp(cluster_region(im, v.u32[s->clusters.off + i]),
		                cluster_region(im, v.u32[s->clusters.off]));
	if ((fail || prio) && multi && t->cluster == MP_NONE)
		d.flags |= MP_TARGET_F_LOCALITY_REORDER;
	out[(*nout)++] = d;
	if (!fail || fail->type != YAML_SEQUENCE_NODE)
		return;
	IM_SEQ_FOREACH(dr, fail, item)
	{
		const char *to = im_scalar(im_get(dr, item, "to"));
		for (uint32_t i = 0; to && i < s->clusters.n && *nfo < MAX_TARGETS; i++) {
			mp_id c = v.u32[s->clusters.off + i];
			uint32_t j;
			if (!locality_has_region(to, cluster_region(im, c)))
				continue;
			for (j = 0; j < *nfo && !(fo[j].id == t->id && fo[j].cluster == c); j++)
				;
			if (j < *nfo)
				continue;
			mp_target f = *t;
			f.cluster = c;
			f.weight = 0;
			f.flags = MP_TARGET_F_LOCALITY_FAILOVER;
			fo[(*nfo)++] = f;
		}
	}
}

/* --- VirtualServices --- */

/* The clusters the workloads of a service in a subset run in: the one cluster, or MP_NONE. */
static mp_id subset_cluster(mp_import *im, idoc *dr, yaml_node_t *subset, mp_id svc)
{
	yaml_node_t *labels = im_get(dr, subset, "labels");
	mp_id found = MP_NONE;
	const mp_service *s = &mp_model_get_view(im->m).services[svc];
	if (s->clusters.n < 2)
		return MP_NONE;
	for (uint32_t w = 0; w < im->nwl; w++) {
		const iworkload *wl = &im->wl[w];
		uint32_t k;
		for (k = 0; k < wl->nsvc && wl->svc[k] != svc; k++)
			;
		if (k == wl->nsvc || !im_selector_matches(im, dr, labels, wl))
			continue;
		if (found != MP_NONE && found != wl->cluster)
			return MP_NONE;
		found = wl->cluster;
	}
	return found;
}

typedef struct {
	rctx *rc;
	idoc *dc;
	mp_id source;
	int report; /* report missing references (once per rule, not per source) */
	mp_target dests[MAX_TARGETS], mirrors[MAX_TARGETS], failover[MAX_TARGETS];
	uint32_t nd, nm, nf;
} tgtctx;

/* One `destination` (host, subset, port) into targets. */
static void destination(tgtctx *x, yaml_node_t *dest, uint32_t weight, int mirror)
{
	static const char *const keys[] = {"host", "subset", "port", NULL};
	mp_import *im = x->rc->im;
	idoc *dc = x->dc;
	const char *host, *subset;
	yaml_node_t *port;
	char fqdn[600], title_buf[400], ref[700];
	if (dest->type != YAML_MAPPING_NODE || im_keys(im, dc, dest, keys, "destination") < 0 ||
	    im_str(im, dc, dest, "host", 1, &host) < 0 ||
	    im_str(im, dc, dest, "subset", 0, &subset) < 0 ||
	    im_map(im, dc, dest, "port", 0, &port) < 0)
		return;
	hostref r = im_resolve_host(im, host, dc->ns, fqdn, sizeof(fqdn));
	if (r.id == MP_NONE) {
		if (x->report)
			im_finding(im, "ReferencedResourceNotFound", MP_FINDING_ERROR,
			           im_loc(dc, im_get(dc, dest, "host")),
			           im_title(im, dc, title_buf, sizeof(title_buf)),
			           "Referenced host not found: \"%s\"", host);
		return;
	}
	mp_target t = {r.kind, r.id, MP_NONE, weight, im_loc(dc, dest), 0, 0};
	idoc *dr = find_dr(x->rc, r, dc->ns, dc->cluster);
	yaml_node_t *sub = NULL;
	if (subset) {
		t.subset = im_intern(im, subset);
		sub = dr ? dr_subset(dr, subset) : NULL;
		if (!sub && x->report) {
			snprintf(ref, sizeof(ref), "%s+%s", host, subset);
			im_finding(im, "ReferencedResourceNotFound", MP_FINDING_ERROR,
			           im_loc(dc, im_get(dc, dest, "subset")),
			           im_title(im, dc, title_buf, sizeof(title_buf)),
			           "Referenced host+subset in destinationrule not found: \"%s\"",
			           ref);
		}
		if (sub && r.kind == MP_TARGET_SERVICE)
			t.cluster = subset_cluster(im, dr, sub, r.id);
	}
	if (mirror) {
		if (x->nm < MAX_TARGETS)
			x->mirrors[x->nm++] = t;
		return;
	}
	yaml_node_t *ls = dr && r.kind == MP_TARGET_SERVICE ? locality_setting(dr, sub) : NULL;
	if (ls)
		locality(x->rc, dr, ls, x->source, &t, x->dests, &x->nd, x->failover, &x->nf);
	else if (x->nd < MAX_TARGETS)
		x->dests[x->nd++] = t;
}

/* A rule's `route` (weighted destinations), `mirror`, `mirrors`. */
static void rule_targets(tgtctx *x, yaml_node_t *rule)
{
	static const char *const keys[] = {"destination", "weight", "headers", NULL};
	mp_import *im = x->rc->im;
	idoc *dc = x->dc;
	yaml_node_t *route = im_get(dc, rule, "route"), *item, *dest;
	uint32_t n =
	    route && route->type == YAML_SEQUENCE_NODE
	        ? (uint32_t)(route->data.sequence.items.top - route->data.sequence.items.start)
	        : 0;
	x->nd = x->nm = x->nf = 0;
	if (route && route->type == YAML_SEQUENCE_NODE)
		IM_SEQ_FOREACH(dc, route, item)
		{
			uint32_t w = 0;
			int set;
			if (im_keys(im, dc, item, keys, "route destination") < 0 ||
			    im_u32(im, dc, item, "weight", 0, 100, &w, &set) < 0 ||
			    im_map(im, dc, item, "destination", 1, &dest) < 0)
				return;
			destination(x, dest, set ? w : n == 1 ? 100 : 0, 0);
		}
	if ((dest = im_get(dc, rule, "mirror")) != NULL && dest->type == YAML_MAPPING_NODE)
		destination(x, dest, 0, 1);
	yaml_node_t *mirrors = im_get(dc, rule, "mirrors");
	if (mirrors && mirrors->type == YAML_SEQUENCE_NODE)
		IM_SEQ_FOREACH(dc, mirrors, item)
		{
			if (im_map(im, dc, item, "destination", 1, &dest) < 0)
				return;
			destination(x, dest, 0, 1);
		}
}

/* Percent (a {value: double} or an integer `percent`) in tenths; 100% when absent. */
static uint32_t permille(idoc *dc, yaml_node_t *f)
{
	const char *v = im_scalar(im_get(dc, im_get(dc, f, "percentage"), "value"));
	const char *p = im_scalar(im_get(dc, f, "percent"));
	double pct = v ? strtod(v, NULL) : p ? strtod(p, NULL) : 100.0;
	if (pct < 0)
		pct = 0;
	if (pct > 100)
		pct = 100;
	return (uint32_t)(pct * 10 + 0.5);
}

/* The parts of an HTTP rule every route made from it shares. */
static int http_fields(mp_import *im, idoc *dc, yaml_node_t *rule, mp_route *rt)
{
	yaml_node_t *retries, *fault, *delay, *abort_;
	uint32_t ms, n;
	int set;
	if (im_duration(im, dc, rule, "timeout", &ms, &set) < 0)
		return -1;
	rt->timeout_ms = set ? ms : 0;
	if (im_map(im, dc, rule, "retries", 0, &retries) < 0 ||
	    im_map(im, dc, rule, "fault", 0, &fault) < 0)
		return -1;
	if (retries) {
		if (im_u32(im, dc, retries, "attempts", 0, 1000, &n, &set) < 0 ||
		    im_duration(im, dc, retries, "perTryTimeout", &ms, &set) < 0)
			return -1;
		rt->retry_attempts = im_get(dc, retries, "attempts") ? n : 0;
		rt->per_try_timeout_ms = set ? ms : 0;
	}
	if (fault) {
		if (im_map(im, dc, fault, "delay", 0, &delay) < 0 ||
		    im_map(im, dc, fault, "abort", 0, &abort_) < 0)
			return -1;
		if (delay) {
			if (im_duration(im, dc, delay, "fixedDelay", &ms, &set) < 0)
				return -1;
			rt->fault_delay_ms = set ? ms : 0;
			rt->fault_delay_permille = permille(dc, delay);
		}
		if (abort_) {
			if (im_u32(im, dc, abort_, "httpStatus", 0, 999, &n, &set) < 0)
				return -1;
			rt->fault_abort_status = set ? n : 0;
			rt->fault_abort_permille = permille(dc, abort_);
		}
	}
	return 0;
}

/* The services whose workloads carry sourceLabels (in sourceNamespace when given). */
static uint32_t label_sources(mp_import *im, idoc *dc, yaml_node_t *labels, const char *ns,
                              mp_id *out, uint32_t max)
{
	uint32_t n = 0;
	mp_model_view v = mp_model_get_view(im->m);
	for (uint32_t w = 0; w < im->nwl; w++) {
		const iworkload *wl = &im->wl[w];
		if (wl->cluster != dc->cluster ||
		    (ns && strcmp(im_str_of(im, v.namespaces[wl->ns].name), ns)))
			continue;
		if (labels && !im_selector_matches(im, dc, labels, wl))
			continue;
		for (uint32_t k = 0; k < wl->nsvc; k++) {
			uint32_t j;
			for (j = 0; j < n && out[j] != wl->svc[k]; j++)
				;
			if (j == n && n < max)
				out[n++] = wl->svc[k];
		}
	}
	return n;
}

/* The gateway named by a VirtualService ("name" or "ns/name"): its document, or NULL. */
static idoc *find_gateway(mp_import *im, idoc *vs, const char *ref, uint32_t *index)
{
	const char *slash = strchr(ref, '/');
	char ns[256], name[256];
	if (slash)
		snprintf(ns, sizeof(ns), "%.*s", (int)(slash - ref), ref);
	else
		snprintf(ns, sizeof(ns), "%s", im_str_of(im, vs->ns));
	snprintf(name, sizeof(name), "%s", slash ? slash + 1 : ref);
	for (uint32_t i = 0; i < im->ndocs; i++) {
		idoc *g = &im->docs[i];
		if (istio_is(g, IK_GATEWAY) && im_live(g) && g->cluster == vs->cluster &&
		    !strcmp(im_str_of(im, g->ns), ns) && !strcmp(im_str_of(im, g->name), name)) {
			*index = i;
			return g;
		}
	}
	return NULL;
}

/* The callers a match applies to: MP_NONE (any caller in the mesh) or services. */
static uint32_t match_sources(tgtctx *x, yaml_node_t *match, const char **vsgw, uint32_t nvsgw,
                              mp_id *out, uint32_t max)
{
	mp_import *im = x->rc->im;
	idoc *dc = x->dc;
	const char *gws[64], *sns = NULL;
	uint32_t ngw = 0, n = 0;
	yaml_node_t *sl = NULL;
	char title_buf[400], ref[600];
	if (match && (im_strs(im, dc, match, "gateways", 0, gws, 64, &ngw) < 0 ||
	              im_map(im, dc, match, "sourceLabels", 0, &sl) < 0 ||
	              im_str(im, dc, match, "sourceNamespace", 0, &sns) < 0))
		return 0;
	if (!ngw) {
		for (uint32_t i = 0; i < nvsgw && i < 64; i++)
			gws[ngw++] = vsgw[i];
		if (!ngw)
			gws[ngw++] = "mesh";
	}
	for (uint32_t g = 0; g < ngw; g++) {
		if (!strcmp(gws[g], "mesh")) {
			if (sl || sns)
				n += label_sources(im, dc, sl, sns, out + n, max - n);
			else if (n < max)
				out[n++] = MP_NONE;
			continue;
		}
		uint32_t gi;
		idoc *gw = find_gateway(im, dc, gws[g], &gi);
		if (!gw) {
			if (x->report) {
				snprintf(ref, sizeof(ref), "%s%s%s",
				         strchr(gws[g], '/') ? "" : im_str_of(im, dc->ns),
				         strchr(gws[g], '/') ? "" : "/", gws[g]);
				im_finding(im, "ReferencedResourceNotFound", MP_FINDING_ERROR,
				           im_loc(dc, match ? im_get(dc, match, "gateways")
				                            : im_get(dc, dc->spec, "gateways")),
				           im_title(im, dc, title_buf, sizeof(title_buf)),
				           "Referenced gateway not found: \"%s\"", ref);
			}
			continue;
		}
		if (istio_of(im)->gw_svc[gi] != MP_NONE && n < max)
			out[n++] = istio_of(im)->gw_svc[gi];
	}
	return n;
}

/* A match's request part (HTTP): uri, method, exact headers. */
static int http_match(mp_import *im, idoc *dc, yaml_node_t *match, mp_match *out)
{
	static const char *const keys[] = {"name",
	                                   "uri",
	                                   "scheme",
	                                   "method",
	                                   "authority",
	                                   "headers",
	                                   "port",
	                                   "sourceLabels",
	                                   "gateways",
	                                   "queryParams",
	                                   "ignoreUriCase",
	                                   "withoutHeaders",
	                                   "sourceNamespace",
	                                   "statPrefix",
	                                   NULL};
	yaml_node_t *uri, *method, *headers, *k, *v;
	memset(out, 0, sizeof(*out));
	if (!match)
		return 0;
	if (im_keys(im, dc, match, keys, "match") < 0 ||
	    im_map(im, dc, match, "uri", 0, &uri) < 0 ||
	    im_map(im, dc, match, "method", 0, &method) < 0 ||
	    im_map(im, dc, match, "headers", 0, &headers) < 0)
		return -1;
	const char *s;
	if (uri) {
		static const char *const kinds[] = {"exact", "prefix", "regex"};
		for (uint32_t i = 0; i < 3; i++) {
			if (im_str(im, dc, uri, kinds[i], 0, &s) < 0)
				return -1;
			if (s && !out->path_kind) {
				out->path_kind = MP_PATH_EXACT + i;
				out->path = im_intern(im, s);
			}
		}
	}
	if (method) {
		if (im_str(im, dc, method, "exact", 0, &s) < 0)
			return -1;
		if (s && !(out->methods = mp_method_bit(s)))
			return im_error(im, dc, method, "unknown HTTP method '%s'", s);
	}
	if (headers)
		IM_MAP_FOREACH(dc, headers, k, v)
		{
			const char *exact = NULL;
			if (v->type != YAML_MAPPING_NODE ||
			    im_str(im, dc, v, "exact", 0, &exact) < 0)
				return im_error(im, dc, v, "a header match must be a mapping");
			if (!exact || !im_scalar(k))
				continue; /* prefix and regex header matches: the route admits more
				           */
			if (im_match_header(im, im_scalar(k), exact, out) < 0)
				return -1;
		}
	return 0;
}

static void emit(tgtctx *x, const char *name, const mp_route *tmpl, yaml_node_t *at)
{
	mp_route rt = *tmpl;
	if (!x->nd)
		return; /* nothing to route to (missing hosts are findings) */
	rt.source = x->source;
	rt.loc = im_loc(x->dc, at);
	const mp_target *t[3] = {x->dests, x->mirrors, x->failover};
	const uint32_t n[3] = {x->nd, x->nm, x->nf};
	im_add_route(x->rc->im, name, &rt, t, n);
}

static void vs_rules(rctx *rc, idoc *dc, const char *proto, const char **gw, uint32_t ngw)
{
	static const char *const http_keys[] = {"name",
	                                        "match",
	                                        "route",
	                                        "redirect",
	                                        "directResponse",
	                                        "delegate",
	                                        "rewrite",
	                                        "timeout",
	                                        "retries",
	                                        "fault",
	                                        "mirror",
	                                        "mirrors",
	                                        "mirrorPercentage",
	                                        "mirror_percent",
	                                        "mirrorPercent",
	                                        "corsPolicy",
	                                        "headers",
	                                        NULL};
	static const char *const l4_keys[] = {"match", "route", NULL};
	static const char *const tcp_match[] = {
	    "destinationSubnets", "port", "sourceLabels", "gateways", "sourceNamespace",
	    "sourceSubnet",       NULL};
	static const char *const tls_match[] = {
	    "sniHosts", "destinationSubnets", "port", "sourceLabels",
	    "gateways", "sourceNamespace",    NULL};
	mp_import *im = rc->im;
	int http = !strcmp(proto, "http");
	yaml_node_t *rules, *rule, *matches, *m;
	if (im_seq(im, dc, dc->spec, proto, 0, &rules) < 0 || !rules)
		return;
	tgtctx *x = mp_calloc(1, sizeof(*x));
	if (!x) {
		im->oom = 1;
		return;
	}
	x->rc = rc;
	x->dc = dc;
	uint32_t i = 0;
	IM_SEQ_FOREACH(dc, rules, rule)
	{
		mp_route tmpl;
		memset(&tmpl, 0, sizeof(tmpl));
		if (im_keys(im, dc, rule, http ? http_keys : l4_keys, "route rule") < 0 ||
		    im_seq(im, dc, rule, "match", 0, &matches) < 0 ||
		    (http && http_fields(im, dc, rule, &tmpl) < 0))
			goto next;
		uint32_t nmatch = matches ? (uint32_t)(matches->data.sequence.items.top -
		                                       matches->data.sequence.items.start)
		                          : 0;
		for (uint32_t j = 0; j < (nmatch ? nmatch : 1); j++) {
			m = nmatch ? im_node(dc, matches->data.sequence.items.start[j]) : NULL;
			if (m && !http &&
			    im_keys(im, dc, m, !strcmp(proto, "tls") ? tls_match : tcp_match,
			            "match") < 0)
				continue;
			if (m && !strcmp(proto, "tls")) {
				const char *sni[64];
				uint32_t nsni;
				if (im_strs(im, dc, m, "sniHosts", 1, sni, 64, &nsni) < 0)
					continue;
			}
			mp_match req;
			if (http && http_match(im, dc, m, &req) < 0)
				continue;
			if (!http)
				memset(&req, 0, sizeof(req));
			tmpl.match = req;
			mp_id sources[64];
			x->report = j == 0;
			uint32_t ns = match_sources(x, m, gw, ngw, sources, 64);
			if (!ns && j == 0) { /* no caller: still report missing destinations */
				x->source = MP_NONE;
				x->report = 1;
				rule_targets(x, rule);
			}
			for (uint32_t k = 0; k < ns && !im->oom; k++) {
				char name[1200], part[600];
				x->source = sources[k];
				x->report = j == 0 && k == 0;
				rule_targets(x, rule);
				snprintf(name, sizeof(name), "%s/%s:%s[%u]", im_str_of(im, dc->ns),
				         im_str_of(im, dc->name), proto, i);
				if (nmatch > 1) {
					snprintf(part, sizeof(part), ".match[%u]", j);
					strncat(name, part, sizeof(name) - strlen(name) - 1);
				}
				if (sources[k] != MP_NONE) {
					mp_model_view v = mp_model_get_view(im->m);
					const mp_service *s = &v.services[sources[k]];
					snprintf(part, sizeof(part), "<-%s/%s",
					         im_str_of(im, v.namespaces[s->ns].name),
					         im_str_of(im, s->name));
					strncat(name, part, sizeof(name) - strlen(name) - 1);
				}
				if (im->multi_cluster) {
					snprintf(part, sizeof(part), "@%s",
					         im_str_of(im, mp_model_get_view(im->m)
					                           .clusters[dc->cluster]
					                           .name));
					strncat(name, part, sizeof(name) - strlen(name) - 1);
				}
				emit(x, name, &tmpl, m ? m : rule);
			}
		}
	next:
		i++;
	}
	mp_free(x);
}

static void virtual_service(rctx *rc, idoc *dc)
{
	static const char *const keys[] = {"hosts", "gateways", "http", "tls",
	                                   "tcp",   "exportTo", NULL};
	mp_import *im = rc->im;
	const char *hosts[256], *gw[64];
	uint32_t nh, ngw;
	if (!dc->spec) {
		im_error(im, dc, dc->root, "missing required field 'spec'");
		return;
	}
	if (im_keys(im, dc, dc->spec, keys, "spec") < 0 ||
	    im_strs(im, dc, dc->spec, "hosts", 1, hosts, 256, &nh) < 0 ||
	    im_strs(im, dc, dc->spec, "gateways", 0, gw, 64, &ngw) < 0)
		return;
	if (!nh) {
		im_error(im, dc, im_get(dc, dc->spec, "hosts"), "'hosts' must not be empty");
		return;
	}
	vs_rules(rc, dc, "http", gw, ngw);
	vs_rules(rc, dc, "tls", gw, ngw);
	vs_rules(rc, dc, "tcp", gw, ngw);
}

void mp_import_istio_routes(mp_import *im)
{
	rctx rc = {im, mp_calloc(im->ndocs + 1, sizeof(hostref))};
	char fqdn[600];
	if (!rc.drt) {
		im->oom = 1;
		return;
	}
	for (uint32_t i = 0; i < im->ndocs; i++) {
		idoc *dc = &im->docs[i];
		rc.drt[i].id = MP_NONE;
		if (!istio_is(dc, IK_DESTINATIONRULE) || !im_live(dc) || dr_check(im, dc) < 0)
			continue;
		rc.drt[i] = im_resolve_host(im, im_scalar(im_get(dc, dc->spec, "host")), dc->ns,
		                            fqdn, sizeof(fqdn));
	}
	for (uint32_t i = 0; i < im->ndocs && !im->oom; i++)
		if (istio_is(&im->docs[i], IK_VIRTUALSERVICE) && im_live(&im->docs[i]))
			virtual_service(&rc, &im->docs[i]);
	mp_free(rc.drt);
}
