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

/* A DestinationRule by what its host resolves to, for the lookup by target. */
typedef struct {
	uint32_t kind;
	mp_id id;
	uint32_t doc;
} dr_key;

typedef struct {
	mp_import *im;
	hostref *drt; /* per document: what a DestinationRule's host resolves to */
	dr_key *drs;  /* the DestinationRules that resolve, by (kind, id), then document order */
	uint32_t ndrs;
} rctx;

/* The DestinationRule for a target, as Istio picks it: the client's namespace first, then the
 * service's, then the root namespace; the first in document order; same cluster. */
static idoc *find_dr(rctx *rc, hostref t, mp_str client_ns, mp_id cluster)
{
	mp_import *im = rc->im;
	mp_model_view v = mp_model_get_view(im->m);
	mp_str svc_ns = t.kind == MP_TARGET_SERVICE ? v.namespaces[v.services[t.id].ns].name : 0;
	mp_str order[3] = {client_ns, svc_ns, im_intern(im, istio_of(im)->rootns)};
	uint32_t lo = 0, hi = rc->ndrs, end;
	while (lo < hi) { /* the first of the target's rules */
		uint32_t mid = (lo + hi) / 2;
		const dr_key *d = &rc->drs[mid];
		if (d->kind < (uint32_t)t.kind || (d->kind == (uint32_t)t.kind && d->id < t.id))
			lo = mid + 1;
		else
			hi = mid;
	}
	for (end = lo;
	     end < rc->ndrs && rc->drs[end].kind == (uint32_t)t.kind && rc->drs[end].id == t.id;
	     end++)
		;
	for (int k = 0; k < 4; k++) /* k == 3: exported from elsewhere */
		for (uint32_t j = lo; j < end; j++) {
			idoc *dc = &im->docs[rc->drs[j].doc];
			if (im_live(dc) && dc->cluster == cluster && (k == 3 || dc->ns == order[k]))
				return dc;
		}
	return NULL;
}

static int cmp_dr(const void *x, const void *y)
{
	const dr_key *a = x, *b = y;
	if (a->kind != b->kind)
		return a->kind < b->kind ? -1 : 1;
	if (a->id != b->id)
		return a->id < b->id ? -1 : 1;
	return a->doc < b->doc ? -1 : a->doc > b->doc;
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
	idoc *dc; /* whose destinations are read (a delegate's, merged under a root) */
	mp_id source;
	mp_target dests[MAX_TARGETS], mirrors[MAX_TARGETS], failover[MAX_TARGETS];
	uint32_t nd, nm, nf;
} tgtctx;

/* One `destination` (host, subset, port) into targets. What does not resolve makes no target:
 * the analyzers report it (analyze_istio_vs.c). */
static void destination(tgtctx *x, yaml_node_t *dest, uint32_t weight, int mirror)
{
	static const char *const keys[] = {"host", "subset", "port", NULL};
	mp_import *im = x->rc->im;
	idoc *dc = x->dc;
	const char *host, *subset;
	yaml_node_t *port;
	char fqdn[600];
	if (dest->type != YAML_MAPPING_NODE || im_keys(im, dc, dest, keys, "destination") < 0 ||
	    im_str(im, dc, dest, "host", 1, &host) < 0 ||
	    im_str(im, dc, dest, "subset", 0, &subset) < 0 ||
	    im_map(im, dc, dest, "port", 0, &port) < 0)
		return;
	hostref r = im_resolve_host(im, host, dc->ns, fqdn, sizeof(fqdn));
	if (r.id == MP_NONE)
		return;
	mp_target t = {r.kind, r.id, MP_NONE, weight, im_loc(dc, dest), 0, 0};
	idoc *dr = find_dr(x->rc, r, dc->ns, dc->cluster);
	yaml_node_t *sub = NULL;
	if (subset) {
		t.subset = im_intern(im, subset);
		sub = dr ? dr_subset(dr, subset) : NULL;
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

/* A rule's mirrors (`mirror`, `mirrors`), read from document dc. */
static void rule_mirrors(tgtctx *x, idoc *dc, yaml_node_t *rule)
{
	yaml_node_t *dest, *mirrors, *item;
	idoc *keep = x->dc;
	x->dc = dc;
	if ((dest = im_get(dc, rule, "mirror")) != NULL && dest->type == YAML_MAPPING_NODE)
		destination(x, dest, 0, 1);
	mirrors = im_get(dc, rule, "mirrors");
	if (mirrors && mirrors->type == YAML_SEQUENCE_NODE)
		IM_SEQ_FOREACH(dc, mirrors, item)
		{
			if (im_map(x->rc->im, dc, item, "destination", 1, &dest) < 0)
				break;
			destination(x, dest, 0, 1);
		}
	x->dc = keep;
}

/* A rule's `route` (weighted destinations) and mirrors; a delegate's rule (x->dc's) takes
 * its root rule's mirrors when it has none (pilot's mergeHTTPRoute). */
static void rule_targets(tgtctx *x, yaml_node_t *rule, idoc *rootdc, yaml_node_t *root)
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
	if (root && !im_get(dc, rule, "mirror") && !im_get(dc, rule, "mirrors"))
		rule_mirrors(x, rootdc, root);
	else
		rule_mirrors(x, dc, rule);
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

/* The parts of an HTTP rule every route made from it shares: those the rule has set (a
 * delegate's rule is read after its root's, so what it sets wins, as in pilot's merge). */
static int http_fields(mp_import *im, idoc *dc, yaml_node_t *rule, mp_route *rt)
{
	yaml_node_t *retries, *fault, *delay, *abort_;
	uint32_t ms, n;
	int set;
	if (im_duration(im, dc, rule, "timeout", &ms, &set) < 0)
		return -1;
	if (set)
		rt->timeout_ms = ms;
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
		rt->fault_delay_ms = rt->fault_delay_permille = 0;
		rt->fault_abort_status = rt->fault_abort_permille = 0;
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

/* A match as pilot merges a delegate's under its root's (mergeHTTPMatchRequest): the leaf's
 * field where it sets one, else the root's; maps (headers, sourceLabels) are the union, the
 * leaf's winning. Either part may be absent (rdc NULL: no root). */
typedef struct {
	idoc *rdc, *ldc;
	yaml_node_t *r, *l;
} matchpair;

/* The value of a key: the leaf's, else the root's (and the document it is in). */
static yaml_node_t *mget(const matchpair *p, const char *key, idoc **dc)
{
	yaml_node_t *v = p->l ? im_get(p->ldc, p->l, key) : NULL;
	if (v && !im_is_null(v)) {
		*dc = p->ldc;
		return v;
	}
	v = p->r ? im_get(p->rdc, p->r, key) : NULL;
	*dc = p->rdc;
	return v && !im_is_null(v) ? v : NULL;
}

/* Does the workload carry the labels of the union of both sourceLabels (a NULL: none)? */
static int source_labels_match(mp_import *im, const matchpair *p, const iworkload *wl)
{
	yaml_node_t *ll = p->l ? im_get(p->ldc, p->l, "sourceLabels") : NULL;
	yaml_node_t *rl = p->r ? im_get(p->rdc, p->r, "sourceLabels") : NULL, *k, *v;
	mp_model_view mv = mp_model_get_view(im->m);
	if (ll && !im_selector_matches(im, p->ldc, ll, wl))
		return 0;
	if (!rl || rl->type != YAML_MAPPING_NODE)
		return 1;
	IM_MAP_FOREACH(p->rdc, rl, k, v)
	{
		const char *key = im_scalar(k), *val = im_scalar(v);
		if (key && ll && im_get(p->ldc, ll, key))
			continue; /* the leaf's value for it */
		uint32_t i;
		for (i = 0; key && val && i < wl->labels.n; i++) {
			const mp_label *l = &mv.labels[wl->labels.off + i];
			if (!strcmp(im_str_of(im, l->key), key) &&
			    !strcmp(im_str_of(im, l->value), val))
				break;
		}
		if (!key || !val || i == wl->labels.n)
			return 0;
	}
	return 1;
}

/* The services whose workloads carry the match's sourceLabels, in namespace ns (NULL: any). */
static uint32_t label_sources(mp_import *im, idoc *dc, const matchpair *p, const char *ns,
                              mp_id *out, uint32_t max)
{
	uint32_t n = 0;
	mp_model_view v = mp_model_get_view(im->m);
	for (uint32_t w = 0; w < im->nwl; w++) {
		const iworkload *wl = &im->wl[w];
		if (wl->cluster != dc->cluster ||
		    (ns && strcmp(im_str_of(im, v.namespaces[wl->ns].name), ns)) ||
		    !source_labels_match(im, p, wl))
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

/* The namespaces a VirtualService is exported to (`.` its own), or 0 for every one. */
static uint32_t exported(mp_import *im, idoc *vs, const char **out, uint32_t max)
{
	uint32_t n;
	if (ist_export_all(vs, im_get(vs, vs->spec, "exportTo")) ||
	    im_strs(im, vs, vs->spec, "exportTo", 0, out, max, &n) < 0)
		return 0;
	for (uint32_t i = 0; i < n; i++)
		if (!strcmp(out[i], "."))
			out[i] = im_str_of(im, vs->ns);
	return n;
}

/* The callers a match applies to: MP_NONE (any caller in the mesh) or services. For the mesh,
 * a VirtualService exported to some namespaces applies to the callers there only. */
static uint32_t match_sources(tgtctx *x, idoc *vs, const matchpair *p, const char **vsgw,
                              uint32_t nvsgw, mp_id *out, uint32_t max)
{
	mp_import *im = x->rc->im;
	const char *gws[64], *sns = NULL, *ens[64];
	uint32_t ngw = 0, n = 0, ne = exported(im, vs, ens, 64);
	idoc *at;
	yaml_node_t *g = mget(p, "gateways", &at), *sn = mget(p, "sourceNamespace", &at), *item;
	int labels = (p->l && im_get(p->ldc, p->l, "sourceLabels")) ||
	             (p->r && im_get(p->rdc, p->r, "sourceLabels"));
	sns = im_scalar(sn);
	if (g && g->type == YAML_SEQUENCE_NODE)
		IM_SEQ_FOREACH(at, g, item)
		{
			if (im_scalar(item) && ngw < 64)
				gws[ngw++] = im_scalar(item);
		}
	if (!ngw) {
		for (uint32_t i = 0; i < nvsgw && i < 64; i++)
			gws[ngw++] = vsgw[i];
		if (!ngw)
			gws[ngw++] = "mesh";
	}
	for (uint32_t i = 0; i < ngw; i++) {
		if (!strcmp(gws[i], "mesh")) {
			if (ne) {
				for (uint32_t k = 0; k < ne; k++)
					if (!sns || !strcmp(sns, ens[k]))
						n += label_sources(im, vs, p, ens[k], out + n,
						                   max - n);
			} else if (labels || sns) {
				n += label_sources(im, vs, p, sns, out + n, max - n);
			} else if (n < max) {
				out[n++] = MP_NONE;
			}
			continue;
		}
		uint32_t gi, k;
		if (!find_gateway(im, vs, gws[i], &gi) || istio_of(im)->gw_svc[gi] == MP_NONE)
			continue;
		/* gateways of one workload share its service: one route from it */
		for (k = 0; k < n && out[k] != istio_of(im)->gw_svc[gi]; k++)
			;
		if (k == n && n < max)
			out[n++] = istio_of(im)->gw_svc[gi];
	}
	return n;
}

/* A match's request part (HTTP): uri, method, exact headers, as merged. */
static int http_match(mp_import *im, const matchpair *p, mp_match *out)
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
	idoc *dc;
	yaml_node_t *uri, *method, *k, *v;
	const char *s;
	memset(out, 0, sizeof(*out));
	if ((p->r && im_keys(im, p->rdc, p->r, keys, "match") < 0) ||
	    (p->l && im_keys(im, p->ldc, p->l, keys, "match") < 0))
		return -1;
	if ((uri = mget(p, "uri", &dc)) != NULL) {
		static const char *const kinds[] = {"exact", "prefix", "regex"};
		if (uri->type != YAML_MAPPING_NODE)
			return im_error(im, dc, uri, "'uri' must be a mapping, not %s",
			                im_kind_of(uri));
		for (uint32_t i = 0; i < 3; i++) {
			if (im_str(im, dc, uri, kinds[i], 0, &s) < 0)
				return -1;
			if (s && !out->path_kind) {
				out->path_kind = MP_PATH_EXACT + i;
				out->path = im_intern(im, s);
			}
		}
	}
	if ((method = mget(p, "method", &dc)) != NULL) {
		if (method->type != YAML_MAPPING_NODE || im_str(im, dc, method, "exact", 0, &s) < 0)
			return im_error(im, dc, method, "'method' must be a mapping");
		if (s && !(out->methods = mp_method_bit(s)))
			return im_error(im, dc, method, "unknown HTTP method '%s'", s);
	}
	/* headers: the root's the leaf does not set, then the leaf's */
	for (int part = 0; part < 2; part++) {
		idoc *hd = part ? p->ldc : p->rdc;
		yaml_node_t *m = part ? p->l : p->r;
		yaml_node_t *headers = m ? im_get(hd, m, "headers") : NULL;
		yaml_node_t *leaf = !part && p->l ? im_get(p->ldc, p->l, "headers") : NULL;
		if (!headers || im_is_null(headers))
			continue;
		if (headers->type != YAML_MAPPING_NODE)
			return im_error(im, hd, headers, "'headers' must be a mapping, not %s",
			                im_kind_of(headers));
		IM_MAP_FOREACH(hd, headers, k, v)
		{
			const char *exact = NULL;
			if (v->type != YAML_MAPPING_NODE ||
			    im_str(im, hd, v, "exact", 0, &exact) < 0)
				return im_error(im, hd, v, "a header match must be a mapping");
			if (!exact || !im_scalar(k) || (leaf && im_get(p->ldc, leaf, im_scalar(k))))
				continue; /* prefix and regex header matches: the route admits more
				           */
			if (im_match_header(im, im_scalar(k), exact, out) < 0)
				return -1;
		}
	}
	return 0;
}

/* A route's name after its rule: `.match[J]` (match >= 0), `<-NS/SOURCE` and `@CLUSTER` in a
 * multi-cluster import. */
static void route_name_tail(mp_import *im, char *name, size_t cap, int match, mp_id source,
                            mp_id cluster)
{
	mp_model_view v = mp_model_get_view(im->m);
	size_t n = strlen(name);
	if (match >= 0 && n < cap)
		n += (size_t)snprintf(name + n, cap - n, ".match[%d]", match);
	if (source != MP_NONE && n < cap)
		n += (size_t)snprintf(name + n, cap - n, "<-%s/%s",
		                      im_str_of(im, v.namespaces[v.services[source].ns].name),
		                      im_str_of(im, v.services[source].name));
	if (im->multi_cluster && n < cap)
		snprintf(name + n, cap - n, "@%s", im_str_of(im, v.clusters[cluster].name));
}

static void emit(tgtctx *x, idoc *dc, const char *name, const mp_route *tmpl, yaml_node_t *at)
{
	mp_route rt = *tmpl;
	if (!x->nd)
		return; /* nothing to route to (missing hosts are the analyzers' findings) */
	rt.source = x->source;
	rt.loc = im_loc(dc, at);
	const mp_target *t[3] = {x->dests, x->mirrors, x->failover};
	const uint32_t n[3] = {x->nd, x->nm, x->nf};
	im_add_route(x->rc->im, name, &rt, t, n);
}

/* --- delegation (pilot/pkg/model/virtualservice.go, mergeVirtualServicesIfNeeded) --- */

static const char *sm_get(idoc *dc, yaml_node_t *sm, const char *kind)
{
	const char *s = im_scalar(im_get(dc, sm, kind));
	return s && *s ? s : NULL;
}

/* stringMatchConflict: can the leaf's string match ask more than the root's? */
static int string_conflict(idoc *rd, yaml_node_t *r, idoc *ld, yaml_node_t *l)
{
	if (!r || !l || im_is_null(r) || im_is_null(l))
		return 0;
	const char *re = sm_get(rd, r, "exact"), *rp = sm_get(rd, r, "prefix"),
	           *rr = sm_get(rd, r, "regex");
	const char *le = sm_get(ld, l, "exact"), *lp = sm_get(ld, l, "prefix"),
	           *lr = sm_get(ld, l, "regex");
	if ((rr && (lr || lp || le)) || (lr && (rr || rp || re)))
		return 1;
	if (re)
		return lp || !le || strcmp(le, re);
	if (rp) {
		if (lp)
			return strncmp(lp, rp, strlen(rp)) != 0;
		if (le)
			return strncmp(le, rp, strlen(rp)) != 0;
	}
	return 1;
}

/* The leaf's entries of a string-match map against the root's same keys. */
static int map_conflict(idoc *rd, yaml_node_t *r, idoc *ld, yaml_node_t *l, const char *key)
{
	yaml_node_t *rm = im_get(rd, r, key), *lm = im_get(ld, l, key), *k, *v;
	if (!lm || lm->type != YAML_MAPPING_NODE)
		return 0;
	IM_MAP_FOREACH(ld, lm, k, v)
	{
		const char *name = im_scalar(k);
		if (name && string_conflict(rd, im_get(rd, rm, name), ld, v))
			return 1;
	}
	return 0;
}

/* hasConflict: the leaf match asks what the root match never lets through. */
static int has_conflict(idoc *rd, yaml_node_t *r, idoc *ld, yaml_node_t *l)
{
	static const char *const sms[] = {"uri", "scheme", "method", "authority"};
	static const char *const maps[] = {"headers", "withoutHeaders", "queryParams"};
	yaml_node_t *k, *v;
	for (int i = 0; i < 4; i++)
		if (string_conflict(rd, im_get(rd, r, sms[i]), ld, im_get(ld, l, sms[i])))
			return 1;
	for (int i = 0; i < 3; i++)
		if (map_conflict(rd, r, ld, l, maps[i]))
			return 1;
	const char *ri = im_scalar(im_get(rd, r, "ignoreUriCase"));
	const char *li = im_scalar(im_get(ld, l, "ignoreUriCase"));
	if ((ri && !strcmp(ri, "true")) != (li && !strcmp(li, "true")))
		return 1;
	const char *rport = im_scalar(im_get(rd, r, "port")),
	           *lport = im_scalar(im_get(ld, l, "port"));
	if (rport && lport && strtoul(rport, NULL, 10) && strtoul(lport, NULL, 10) &&
	    strtoul(rport, NULL, 10) != strtoul(lport, NULL, 10))
		return 1;
	const char *rns = im_scalar(im_get(rd, r, "sourceNamespace"));
	const char *lns = im_scalar(im_get(ld, l, "sourceNamespace"));
	if (rns && *rns && (!lns || strcmp(rns, lns)))
		return 1;
	yaml_node_t *rl = im_get(rd, r, "sourceLabels"), *ll = im_get(ld, l, "sourceLabels");
	if (ll && ll->type == YAML_MAPPING_NODE)
		IM_MAP_FOREACH(ld, ll, k, v)
		{
			const char *rv =
			    im_scalar(k) ? im_scalar(im_get(rd, rl, im_scalar(k))) : NULL;
			if (rv && im_scalar(v) && strcmp(rv, im_scalar(v)))
				return 1;
		}
	yaml_node_t *rg = im_get(rd, r, "gateways"), *lg = im_get(ld, l, "gateways"), *x, *y;
	if (rg && lg && rg->type == YAML_SEQUENCE_NODE && lg->type == YAML_SEQUENCE_NODE &&
	    rg->data.sequence.items.top > rg->data.sequence.items.start)
		IM_SEQ_FOREACH(ld, lg, x)
		{
			int in = 0;
			IM_SEQ_FOREACH(rd, rg, y)
			{
				in |= im_scalar(x) && im_scalar(y) &&
				      !strcmp(im_scalar(x), im_scalar(y));
			}
			if (!in)
				return 1;
		}
	return 0;
}

static uint32_t seq_len(yaml_node_t *n)
{
	return n && n->type == YAML_SEQUENCE_NODE
	           ? (uint32_t)(n->data.sequence.items.top - n->data.sequence.items.start)
	           : 0;
}

/* The merged matches of a rule (mergeHTTPMatchRequests) into out: the root's alone (no leaf),
 * the leaf's alone (a root without matches), or each leaf match with each root match it does
 * not conflict with. -1: a leaf match fits no root match, so pilot drops the delegate's rule. */
static int merged_matches(idoc *rd, yaml_node_t *r, idoc *ld, yaml_node_t *l, matchpair *out,
                          uint32_t max)
{
	yaml_node_t *rm = r ? im_get(rd, r, "match") : NULL,
	            *lm = l ? im_get(ld, l, "match") : NULL;
	uint32_t nr = seq_len(rm), nl = seq_len(lm), n = 0;
	if (!nl && !nr) {
		out[0] = (matchpair){r ? rd : NULL, l ? ld : NULL, NULL, NULL};
		return 1;
	}
	if (!nl || !nr) {
		for (uint32_t i = 0; i < (nl ? nl : nr) && n < max; i++) {
			yaml_node_t *m =
			    im_node(nl ? ld : rd, (nl ? lm : rm)->data.sequence.items.start[i]);
			out[n++] =
			    nl ? (matchpair){NULL, ld, NULL, m} : (matchpair){rd, NULL, m, NULL};
		}
		return (int)n;
	}
	for (uint32_t j = 0; j < nl; j++) {
		yaml_node_t *leaf = im_node(ld, lm->data.sequence.items.start[j]);
		int found = 0;
		for (uint32_t i = 0; i < nr && n < max; i++) {
			yaml_node_t *root = im_node(rd, rm->data.sequence.items.start[i]);
			if (has_conflict(rd, root, ld, leaf))
				continue;
			out[n++] = (matchpair){rd, ld, root, leaf};
			found = 1;
		}
		if (!found)
			return -1;
	}
	return n ? (int)n : -1;
}

/* The delegate a rule names: a VirtualService without hosts, exported to the root's
 * namespace; NULL with a note when there is none (pilot drops the rule). */
static idoc *find_delegate(mp_import *im, idoc *root, yaml_node_t *ref)
{
	const char *name = im_scalar(im_get(root, ref, "name"));
	const char *ns = im_scalar(im_get(root, ref, "namespace"));
	const char *rootns = im_str_of(im, root->ns), *et[64];
	if (!ns || !*ns)
		ns = rootns;
	for (uint32_t i = 0; name && i < im->ndocs; i++) {
		idoc *d = &im->docs[i];
		uint32_t n;
		if (!istio_is(d, IK_VIRTUALSERVICE) || !im_live(d) || !d->spec ||
		    d->cluster != root->cluster || strcmp(im_str_of(im, d->ns), ns) ||
		    strcmp(im_str_of(im, d->name), name) || seq_len(im_get(d, d->spec, "hosts")))
			continue;
		if (ist_export_all(d, im_get(d, d->spec, "exportTo")))
			return d;
		if (im_strs(im, d, d->spec, "exportTo", 0, et, 64, &n) < 0)
			return NULL;
		for (uint32_t k = 0; k < n; k++)
			if (!strcmp(et[k], ".") ? !strcmp(ns, rootns) : !strcmp(et[k], rootns))
				return d;
		im_note(im, root, ref,
		        "delegate VirtualService %s/%s is not exported to namespace %s: the rule "
		        "routes nothing, as in Istio",
		        ns, name, rootns);
		return NULL;
	}
	im_note(im, root, ref,
	        "delegate VirtualService %s/%s not found: the rule routes nothing, as in Istio", ns,
	        name ? name : "?");
	return NULL;
}

/* --- rules into routes --- */

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

/* One rule (a VirtualService's, or a delegate's under its root's: r, rd) into routes named
 * base, one per merged match and source. */
static void http_rule(tgtctx *x, idoc *vs, idoc *rd, yaml_node_t *r, idoc *ld, yaml_node_t *l,
                      const char *base, const char **gw, uint32_t ngw)
{
	mp_import *im = x->rc->im;
	mp_route tmpl;
	matchpair pairs[64];
	memset(&tmpl, 0, sizeof(tmpl));
	if ((r && http_fields(im, rd, r, &tmpl) < 0) || (l && http_fields(im, ld, l, &tmpl) < 0))
		return;
	int np = merged_matches(rd, r, ld, l, pairs, 64);
	if (np < 0)
		return;          /* the delegate's rule conflicts with its root's: pilot drops it */
	idoc *tdc = l ? ld : rd; /* whose route the targets are */
	yaml_node_t *trule = l ? l : r;
	for (int j = 0; j < np && !im->oom; j++) {
		mp_match req;
		mp_id sources[64];
		if (http_match(im, &pairs[j], &req) < 0)
			continue;
		tmpl.match = req;
		uint32_t ns = match_sources(x, vs, &pairs[j], gw, ngw, sources, 64);
		for (uint32_t k = 0; k < ns && !im->oom; k++) {
			char name[1400];
			x->source = sources[k];
			x->dc = tdc;
			rule_targets(x, trule, l ? rd : NULL, l ? r : NULL);
			snprintf(name, sizeof(name), "%s", base);
			route_name_tail(im, name, sizeof(name), np > 1 ? (int)j : -1, sources[k],
			                vs->cluster);
			yaml_node_t *at = pairs[j].l ? pairs[j].l : pairs[j].r ? pairs[j].r : trule;
			emit(x,
			     pairs[j].l   ? pairs[j].ldc
			     : pairs[j].r ? pairs[j].rdc
			                  : tdc,
			     name, &tmpl, at);
		}
	}
}

static void http_rules(tgtctx *x, idoc *dc, const char **gw, uint32_t ngw)
{
	mp_import *im = x->rc->im;
	yaml_node_t *rules, *rule, *sub, *d, *drules;
	if (im_seq(im, dc, dc->spec, "http", 0, &rules) < 0 || !rules)
		return;
	uint32_t i = 0;
	IM_SEQ_FOREACH(dc, rules, rule)
	{
		char base[1000];
		snprintf(base, sizeof(base), "%s/%s:http[%u]", im_str_of(im, dc->ns),
		         im_str_of(im, dc->name), i++);
		if (im_keys(im, dc, rule, http_keys, "route rule") < 0 ||
		    im_seq(im, dc, rule, "match", 0, &sub) < 0 ||
		    im_map(im, dc, rule, "delegate", 0, &d) < 0)
			continue;
		if (!d) {
			http_rule(x, dc, dc, rule, NULL, NULL, base, gw, ngw);
			continue;
		}
		if (im_get(dc, rule, "route") || im_get(dc, rule, "redirect")) {
			im_error(im, dc, d, "root HTTP route %s must not specify redirect or route",
			         base + strlen(im_str_of(im, dc->ns)) + 1);
			continue;
		}
		idoc *del = find_delegate(im, dc, d);
		if (!del || im_seq(im, del, del->spec, "http", 0, &drules) < 0 || !drules)
			continue;
		uint32_t j = 0;
		IM_SEQ_FOREACH(del, drules, sub)
		{
			char name[1400];
			snprintf(name, sizeof(name), "%s+%s/%s:http[%u]", base,
			         im_str_of(im, del->ns), im_str_of(im, del->name), j++);
			if (im_keys(im, del, sub, http_keys, "route rule") < 0)
				continue;
			if (im_get(del, sub, "delegate")) {
				im_error(im, del, im_get(del, sub, "delegate"),
				         "delegate HTTP route cannot contain delegate");
				continue;
			}
			http_rule(x, dc, dc, rule, del, sub, name, gw, ngw);
		}
	}
}

/* tcp and tls rules: one route per match and source. */
static void l4_rules(tgtctx *x, idoc *dc, const char *proto, const char **gw, uint32_t ngw)
{
	static const char *const l4_keys[] = {"match", "route", NULL};
	static const char *const tcp_match[] = {
	    "destinationSubnets", "port", "sourceLabels", "gateways", "sourceNamespace",
	    "sourceSubnet",       NULL};
	static const char *const tls_match[] = {
	    "sniHosts", "destinationSubnets", "port", "sourceLabels",
	    "gateways", "sourceNamespace",    NULL};
	mp_import *im = x->rc->im;
	yaml_node_t *rules, *rule, *matches, *m;
	if (im_seq(im, dc, dc->spec, proto, 0, &rules) < 0 || !rules)
		return;
	uint32_t i = 0;
	IM_SEQ_FOREACH(dc, rules, rule)
	{
		mp_route tmpl;
		uint32_t idx = i++;
		memset(&tmpl, 0, sizeof(tmpl));
		if (im_keys(im, dc, rule, l4_keys, "route rule") < 0 ||
		    im_seq(im, dc, rule, "match", 0, &matches) < 0)
			continue;
		uint32_t nmatch = seq_len(matches);
		for (uint32_t j = 0; j < (nmatch ? nmatch : 1); j++) {
			m = nmatch ? im_node(dc, matches->data.sequence.items.start[j]) : NULL;
			if (m && im_keys(im, dc, m, !strcmp(proto, "tls") ? tls_match : tcp_match,
			                 "match") < 0)
				continue;
			if (m && !strcmp(proto, "tls")) {
				const char *sni[64];
				uint32_t nsni;
				if (im_strs(im, dc, m, "sniHosts", 1, sni, 64, &nsni) < 0)
					continue;
			}
			matchpair p = {dc, NULL, m, NULL};
			mp_id sources[64];
			uint32_t ns = match_sources(x, dc, &p, gw, ngw, sources, 64);
			for (uint32_t k = 0; k < ns && !im->oom; k++) {
				char name[1200];
				x->source = sources[k];
				x->dc = dc;
				rule_targets(x, rule, NULL, NULL);
				snprintf(name, sizeof(name), "%s/%s:%s[%u]", im_str_of(im, dc->ns),
				         im_str_of(im, dc->name), proto, idx);
				route_name_tail(im, name, sizeof(name), nmatch > 1 ? (int)j : -1,
				                sources[k], dc->cluster);
				emit(x, dc, name, &tmpl, m ? m : rule);
			}
		}
	}
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
	    im_strs(im, dc, dc->spec, "hosts", 0, hosts, 256, &nh) < 0 ||
	    im_strs(im, dc, dc->spec, "gateways", 0, gw, 64, &ngw) < 0)
		return;
	if (!nh) {
		/* a delegate: its rules route under a root's (http_rules); Istio's validation */
		if (ngw)
			im_error(im, dc, im_get(dc, dc->spec, "gateways"),
			         "delegate virtual service must have no gateways specified");
		if (seq_len(im_get(dc, dc->spec, "tls")))
			im_error(im, dc, im_get(dc, dc->spec, "tls"),
			         "delegate virtual service must have no tls route specified");
		if (seq_len(im_get(dc, dc->spec, "tcp")))
			im_error(im, dc, im_get(dc, dc->spec, "tcp"),
			         "delegate virtual service must have no tcp route specified");
		return;
	}
	tgtctx *x = mp_calloc(1, sizeof(*x));
	if (!x) {
		im->oom = 1;
		return;
	}
	x->rc = rc;
	x->dc = dc;
	http_rules(x, dc, gw, ngw);
	l4_rules(x, dc, "tls", gw, ngw);
	l4_rules(x, dc, "tcp", gw, ngw);
	mp_free(x);
}

void mp_import_istio_routes(mp_import *im)
{
	rctx rc = {im, mp_calloc(im->ndocs + 1, sizeof(hostref)),
	           mp_malloc((im->ndocs + 1) * sizeof(dr_key)), 0};
	char fqdn[600];
	if (!rc.drt || !rc.drs) {
		im->oom = 1;
		goto out;
	}
	for (uint32_t i = 0; i < im->ndocs; i++) {
		idoc *dc = &im->docs[i];
		rc.drt[i].id = MP_NONE;
		if (!istio_is(dc, IK_DESTINATIONRULE) || !im_live(dc) || dr_check(im, dc) < 0)
			continue;
		rc.drt[i] = im_resolve_host(im, im_scalar(im_get(dc, dc->spec, "host")), dc->ns,
		                            fqdn, sizeof(fqdn));
		if (rc.drt[i].id != MP_NONE)
			rc.drs[rc.ndrs++] = (dr_key){(uint32_t)rc.drt[i].kind, rc.drt[i].id, i};
	}
	qsort(rc.drs, rc.ndrs, sizeof(dr_key), cmp_dr);
	for (uint32_t i = 0; i < im->ndocs && !im->oom; i++)
		if (istio_is(&im->docs[i], IK_VIRTUALSERVICE) && im_live(&im->docs[i]))
			virtual_service(&rc, &im->docs[i]);
out:
	mp_free(rc.drt);
	mp_free(rc.drs);
}
