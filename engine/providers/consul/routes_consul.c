/* routes_consul.c: Consul's discovery chains as routes (consul agent/consul/discoverychain/
 * compile.go): a service's ServiceRouter routes, first match wins, then the catch-all Consul
 * appends; a ServiceSplitter's weighted splits (a split to a service with its own splitter is
 * flattened); a ServiceResolver's default subset, redirect (which bypasses the router and
 * splitter of its target) and failover (other datacenters, or other targets). One set of routes
 * per caller the chain's intentions allow by name (Consul compiles a chain for each upstream;
 * its targets are the caller's datacenter unless a redirect or failover says another), or from
 * any caller when none is named; ingress gateway listeners route from the gateway. Also
 * Consul's checks of these entries. Mapping: docs/import.md ("Consul"). */
#include "consul_int.h"
#include "regex.h"
#include "scalar.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define MAX_TARGETS 64
#define MAX_DEPTH   8

/* A chain being compiled for one caller in one datacenter. */
typedef struct {
	mp_import *im;
	mp_id local; /* the caller's cluster (pins local targets), or MP_NONE */
	mp_target dests[MAX_TARGETS], fails[MAX_TARGETS];
	uint32_t nd, nf;
} chain;

static const char *str(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));
	return s && *s ? s : NULL;
}

static const consul_entry *entry(mp_import *im, uint32_t kind, const char *cns, const char *name)
{
	return consul_find(im, kind, consul_str(im, cns), consul_str(im, name));
}

/* The cluster of datacenter dc, or MP_NONE. */
static mp_id cluster_of_dc(mp_import *im, const char *dc)
{
	const consul_state *st = consul_of(im);
	for (uint32_t i = 0; i < st->ndcs; i++)
		if (!strcmp(im_str_of(im, st->dcs[i].datacenter), dc))
			return st->dcs[i].cluster;
	return MP_NONE;
}

/* Does service id run in cluster c? */
static int runs_in(mp_import *im, mp_id id, mp_id c)
{
	mp_model_view v = mp_model_get_view(im->m);
	for (uint32_t k = 0; k < v.services[id].clusters.n; k++)
		if (v.u32[v.services[id].clusters.off + k] == c)
			return 1;
	return 0;
}

static void add(chain *ch, int fail, mp_id id, mp_id cluster, double weight, const char *subset,
                mp_loc loc)
{
	mp_target *t = fail ? ch->fails : ch->dests;
	uint32_t *n = fail ? &ch->nf : &ch->nd;
	if (*n == MAX_TARGETS)
		return;
	mp_str sub = subset ? im_intern(ch->im, subset) : 0;
	for (uint32_t i = 0; fail && i < *n; i++)
		if (t[i].id == id && t[i].cluster == cluster && t[i].subset == sub)
			return; /* already a failover target */
	t[(*n)++] = (mp_target){
	    MP_TARGET_SERVICE, id, cluster, fail ? 0 : (uint32_t)lround(weight), loc, sub, 0};
}

/* The failover targets of a resolver for a subset (its entry, else "*"). */
static void failover(chain *ch, const consul_entry *r, const char *cns, const char *svc,
                     const char *subset, mp_id primary, mp_loc loc)
{
	json_t *fo = json_object_get(r->spec, "failover"), *f, *t, *d;
	size_t i;
	if (!(f = json_object_get(fo, subset ? subset : "*")) && !(f = json_object_get(fo, "*")))
		return;
	json_array_foreach(json_object_get(f, "datacenters"), i, d)
	{
		mp_id c = cluster_of_dc(ch->im, json_string_value(d));
		mp_id id = consul_service(ch->im, cns, svc, c);
		if (c != MP_NONE && id != MP_NONE && c != primary)
			add(ch, 1, id, c, 0, subset, loc);
	}
	json_array_foreach(json_object_get(f, "targets"), i, t)
	{
		if (str(t, "peer"))
			continue; /* a cluster peer: not in the model */
		const char *dcn = str(t, "datacenter");
		mp_id c = dcn ? cluster_of_dc(ch->im, dcn) : MP_NONE;
		const char *tns = str(t, "namespace") ? str(t, "namespace") : cns;
		const char *tsvc = str(t, "service") ? str(t, "service") : svc;
		mp_id id = consul_service(ch->im, tns, tsvc, c);
		if (id != MP_NONE && (dcn ? c != primary : strcmp(tsvc, svc) || strcmp(tns, cns)))
			add(ch, 1, id, c, 0,
			    str(t, "serviceSubset") ? str(t, "serviceSubset") : subset, loc);
	}
	if (str(f, "service") || str(f, "serviceSubset") || str(f, "namespace")) {
		const char *tns = str(f, "namespace") ? str(f, "namespace") : cns;
		const char *tsvc = str(f, "service") ? str(f, "service") : svc;
		mp_id id = consul_service(ch->im, tns, tsvc, MP_NONE);
		if (id != MP_NONE)
			add(ch, 1, id, MP_NONE, 0, str(f, "serviceSubset"), loc);
	}
}

/* A resolver node: its redirect (once per level), default subset, the target, its failover.
 * dcname: a redirect's datacenter, or NULL (the caller's). */
static void resolve(chain *ch, const char *cns, const char *svc, const char *subset,
                    const char *dcname, double weight, mp_loc loc, int depth)
{
	const consul_entry *r = entry(ch->im, CK_SERVICERESOLVER, cns, svc);
	json_t *rd = r ? json_object_get(r->spec, "redirect") : NULL;
	if (rd && depth < MAX_DEPTH && !str(rd, "peer") && !str(rd, "samenessGroup")) {
		resolve(ch, str(rd, "namespace") ? str(rd, "namespace") : cns,
		        str(rd, "service") ? str(rd, "service") : svc, str(rd, "serviceSubset"),
		        str(rd, "datacenter") ? str(rd, "datacenter") : dcname, weight, loc,
		        depth + 1);
		return;
	}
	if (!subset && r)
		subset = str(r->spec, "defaultSubset");
	mp_id pin = dcname ? cluster_of_dc(ch->im, dcname) : ch->local;
	mp_id id = consul_service(ch->im, cns, svc, dcname ? pin : MP_NONE);
	if (id == MP_NONE)
		return; /* an unknown service: ConsulRouteUnknownTarget */
	if (pin != MP_NONE && !runs_in(ch->im, id, pin))
		pin = MP_NONE;
	if (!ch->im->multi_cluster)
		pin = MP_NONE;
	add(ch, 0, id, pin, weight, subset, loc);
	if (r)
		failover(ch, r, cns, svc, subset, pin != MP_NONE ? pin : ch->local, loc);
}

/* A service's splitter (flattening splits to services with splitters of their own), else its
 * resolver. */
static void split(chain *ch, const char *cns, const char *svc, double weight, mp_loc loc, int depth)
{
	const consul_entry *sp = entry(ch->im, CK_SERVICESPLITTER, cns, svc);
	json_t *s;
	size_t i;
	if (!sp || depth >= MAX_DEPTH) {
		resolve(ch, cns, svc, NULL, NULL, weight, loc, depth);
		return;
	}
	json_array_foreach(json_object_get(sp->spec, "splits"), i, s)
	{
		double w = weight * json_number_value(json_object_get(s, "weight")) / 100.0;
		const char *tns = str(s, "namespace") ? str(s, "namespace") : cns;
		const char *tsvc = str(s, "service") ? str(s, "service") : svc;
		const char *subset = str(s, "serviceSubset");
		if (!subset && (strcmp(tsvc, svc) || strcmp(tns, cns)))
			split(ch, tns, tsvc, w, loc, depth + 1);
		else
			resolve(ch, tns, tsvc, subset, NULL, w, loc, depth + 1);
	}
}

/* A router route's match as the model's (exact headers only; the route admits more requests
 * than Consul's when it has other criteria, never fewer). */
static void match_of(mp_import *im, json_t *http, mp_match *m)
{
	static const char *const kinds[] = {"pathExact", "pathPrefix", "pathRegex"};
	static const uint32_t pk[] = {MP_PATH_EXACT, MP_PATH_PREFIX, MP_PATH_REGEX};
	json_t *x;
	size_t i;
	memset(m, 0, sizeof(*m));
	for (int k = 0; k < 3; k++)
		if (str(http, kinds[k])) {
			m->path_kind = pk[k];
			m->path = im_intern(im, str(http, kinds[k]));
		}
	json_array_foreach(json_object_get(http, "methods"), i, x) m->methods |=
	    mp_method_bit(json_string_value(x));
	json_array_foreach(json_object_get(http, "header"), i, x)
	{
		if (!str(x, "name") || !str(x, "exact") ||
		    json_is_true(json_object_get(x, "invert")))
			continue;
		char name[256];
		size_t k;
		for (k = 0; str(x, "name")[k] && k + 1 < sizeof(name); k++)
			name[k] = (char)tolower((unsigned char)str(x, "name")[k]);
		name[k] = '\0';
		mp_label l = {im_intern(im, name), im_intern(im, str(x, "exact"))};
		uint32_t off = mp_model_push_labels(im->m, &l, 1);
		if (off == MP_NONE) {
			im->oom = 1;
			return;
		}
		if (!m->headers.n)
			m->headers.off = off;
		m->headers.n++;
	}
}

static void emit(chain *ch, const char *name, mp_id source, const mp_match *m, json_t *dest,
                 mp_loc loc)
{
	mp_import *im = ch->im;
	if (!ch->nd)
		return;
	mp_route rt = {.name = im_intern(im, name), .source = source, .loc = loc};
	if (m)
		rt.match = *m;
	uint32_t ms;
	const char *t = str(dest, "requestTimeout");
	if (t && mp_parse_duration(t, &ms) == 0)
		rt.timeout_ms = ms;
	json_int_t retries = json_integer_value(json_object_get(dest, "numRetries"));
	rt.retry_attempts = retries > 0 ? (uint32_t)retries : 0;
	rt.dests = (mp_span){mp_model_push_targets(im->m, ch->dests, ch->nd), ch->nd};
	rt.failover =
	    (mp_span){ch->nf ? mp_model_push_targets(im->m, ch->fails, ch->nf) : 0, ch->nf};
	if (rt.dests.off == MP_NONE || rt.failover.off == MP_NONE) {
		im->oom = 1;
		return;
	}
	char what[700];
	snprintf(what, sizeof(what), "Route '%s'", name);
	mp_id id = mp_model_get_view(im->m).nroutes;
	if (im->host->declare(im->host->ctx, MP_IMPORT_ROUTE, rt.name, 0, id, loc, what) == 0 &&
	    mp_model_add_route(im->m, &rt) == MP_NONE)
		im->oom = 1;
}

/* The suffix of a route's name: "<-NS/CALLER" and, in a multi-cluster import, "@DC". */
static void suffix(mp_import *im, mp_id caller, mp_id local, char *buf, size_t len)
{
	mp_model_view v = mp_model_get_view(im->m);
	size_t at = 0;
	buf[0] = '\0';
	if (caller != MP_NONE)
		at = (size_t)snprintf(buf, len, "<-%s/%s",
		                      im_str_of(im, v.namespaces[v.services[caller].ns].name),
		                      im_str_of(im, v.services[caller].name));
	if (local != MP_NONE && im->multi_cluster && at < len)
		snprintf(buf + at, len - at, "@%s",
		         im_str_of(im, consul_dc_of(im, local)->datacenter));
}

/* The chain of cns/svc for one caller (or any) in one datacenter. */
static void chain_routes(mp_import *im, const char *cns, const char *svc, mp_id caller, mp_id local,
                         mp_loc loc)
{
	const consul_entry *rt = entry(im, CK_SERVICEROUTER, cns, svc);
	char sfx[600], name[1200];
	json_t *r;
	size_t i;
	chain ch = {.im = im, .local = local};
	suffix(im, caller, local, sfx, sizeof(sfx));
	json_array_foreach(rt ? json_object_get(rt->spec, "routes") : NULL, i, r)
	{
		json_t *d = json_object_get(r, "destination");
		const char *tns = str(d, "namespace") ? str(d, "namespace") : cns;
		const char *tsvc = str(d, "service") ? str(d, "service") : svc;
		mp_match m;
		idoc *dc = &im->docs[rt->doc];
		char idx[24];
		snprintf(idx, sizeof(idx), "%zu", i);
		yaml_node_t *node = im_path(dc, consul_get(dc, dc->spec, "routes"), idx);
		mp_loc rl = im_loc(dc, node);
		ch.nd = ch.nf = 0;
		match_of(im, json_object_get(json_object_get(r, "match"), "http"), &m);
		if (str(d, "serviceSubset"))
			resolve(&ch, tns, tsvc, str(d, "serviceSubset"), NULL, 100, rl, 0);
		else
			split(&ch, tns, tsvc, 100, rl, 0);
		snprintf(name, sizeof(name), "%s/%s:routes[%zu]%s", cns, svc, i, sfx);
		emit(&ch, name, caller, &m, d, rl);
	}
	ch.nd = ch.nf = 0;
	split(&ch, cns, svc, 100, loc, 0);
	snprintf(name, sizeof(name), "%s/%s:default%s", cns, svc, sfx);
	emit(&ch, name, caller, NULL, NULL, loc);
}

/* The callers a service's intentions allow by name (local, exact sources whose action or some
 * permission allows), as model services; *n of them. */
static uint32_t callers(mp_import *im, const char *cns, const char *svc, mp_id *out, uint32_t max)
{
	const consul_entry *ix = entry(im, CK_SERVICEINTENTIONS, cns, svc);
	json_t *s, *p;
	size_t i, k;
	uint32_t n = 0;
	json_array_foreach(ix ? json_object_get(ix->spec, "sources") : NULL, i, s)
	{
		const char *name = str(s, "name"), *ns = str(s, "namespace");
		int allows = str(s, "action") && !strcmp(str(s, "action"), "allow");
		json_array_foreach(json_object_get(s, "permissions"), k, p) allows |=
		    str(p, "action") && !strcmp(str(p, "action"), "allow");
		if (!allows || !name || !strcmp(name, "*") || (ns && !strcmp(ns, "*")) ||
		    str(s, "peer") || str(s, "samenessGroup"))
			continue;
		mp_id id = consul_service(im, ns ? ns : cns, name, MP_NONE);
		uint32_t j;
		for (j = 0; j < n && out[j] != id; j++)
			;
		if (id != MP_NONE && j == n && n < max)
			out[n++] = id;
	}
	return n;
}

/* The ROUTES phase (import_consul.c runs it): every service with a router, a splitter or a
 * resolver that routes (redirect, failover, default subset), and every ingress listener. */
void mp_import_consul_routes(mp_import *im)
{
	const consul_state *st = consul_of(im);
	mp_model_view v = mp_model_get_view(im->m);
	for (uint32_t i = 0; i < st->nents && !im->oom; i++) {
		const consul_entry *e = &st->ents[i];
		idoc *dc = &im->docs[e->doc];
		char cns[256], svc[256]; /* copies: compiling the routes interns strings */
		snprintf(cns, sizeof(cns), "%s", im_str_of(im, e->cns));
		snprintf(svc, sizeof(svc), "%s", im_str_of(im, e->cname));
		uint32_t k = consul_kind(dc);
		if (k == CK_INGRESSGATEWAY) {
			json_t *l, *s;
			size_t li, si;
			mp_id gw = im->host->lookup(im->host->ctx, MP_IMPORT_SERVICE, dc->ns_id,
			                            consul_str(im, svc));
			json_array_foreach(json_object_get(e->spec, "listeners"), li, l)
			    json_array_foreach(json_object_get(l, "services"), si, s)
			{
				const char *name = str(s, "name");
				char rn[800];
				chain ch = {.im = im,
				            .local = im->multi_cluster ? dc->cluster : MP_NONE};
				if (gw == MP_NONE || !name || !strcmp(name, "*"))
					continue;
				split(&ch, str(s, "namespace") ? str(s, "namespace") : cns, name,
				      100, dc->loc, 0);
				snprintf(rn, sizeof(rn), "%s/%s:listeners[%zu].services[%zu]", cns,
				         svc, li, si);
				emit(&ch, rn, gw, NULL, NULL, dc->loc);
			}
			continue;
		}
		json_t *rs = k == CK_SERVICERESOLVER ? e->spec : NULL;
		int routes =
		    k == CK_SERVICEROUTER || k == CK_SERVICESPLITTER ||
		    (rs && (json_object_get(rs, "redirect") || json_object_get(rs, "failover") ||
		            json_object_get(rs, "defaultSubset")));
		/* one chain per service: made at its first entry that routes */
		int first = 1;
		for (uint32_t j = 0; j < i && first; j++) {
			const consul_entry *o = &st->ents[j];
			uint32_t ok = consul_kind(&im->docs[o->doc]);
			json_t *ors = ok == CK_SERVICERESOLVER ? o->spec : NULL;
			first = !(o->cns == e->cns && o->cname == e->cname &&
			          (ok == CK_SERVICEROUTER || ok == CK_SERVICESPLITTER ||
			           (ors && (json_object_get(ors, "redirect") ||
			                    json_object_get(ors, "failover") ||
			                    json_object_get(ors, "defaultSubset")))));
		}
		if (!routes || !first)
			continue;
		mp_id who[64];
		uint32_t n = callers(im, cns, svc, who, 64);
		for (uint32_t c = 0; c < (n ? n : 1); c++) {
			mp_id caller = n ? who[c] : MP_NONE;
			const mp_service *cs = n ? &v.services[caller] : NULL;
			uint32_t ncl = im->multi_cluster ? (cs ? cs->clusters.n : st->ndcs) : 1;
			for (uint32_t l = 0; l < ncl && !im->oom; l++) {
				mp_id local = !im->multi_cluster ? MP_NONE
				              : cs               ? v.u32[cs->clusters.off + l]
				                                 : st->dcs[l].cluster;
				chain_routes(im, cns, svc, caller, local, dc->loc);
				v = mp_model_get_view(im->m);
			}
		}
	}
}

/* --- Consul's checks (agent/structs/config_entry_discoverychain.go Validate) --- */

static int check_match(mp_import *im, idoc *dc, yaml_node_t *node, json_t *http, json_t *dest,
                       const char *where)
{
	static const char *const pk[] = {"pathExact", "pathPrefix", "pathRegex"};
	yaml_node_t *hn = consul_get(dc, consul_get(dc, node, "match"), "http");
	json_t *h;
	size_t i;
	int paths = 0;
	for (int k = 0; k < 3; k++) {
		const char *p = str(http, pk[k]);
		yaml_node_t *pn = consul_get(dc, hn, pk[k]);
		if (!p)
			continue;
		paths++;
		if (k < 2 && p[0] != '/')
			return im_error(im, dc, pn, "%s.match.http.%s '%s' must begin with a '/'",
			                where, pk[k], p);
		char err[256];
		mp_regex *re = k == 2 ? mp_regex_compile(p, strlen(p), err, sizeof(err)) : NULL;
		if (k == 2 && !re)
			return im_error(im, dc, pn,
			                "%s.match.http.pathRegex '%s' is not an RE2 regular "
			                "expression: %s",
			                where, p, err);
		mp_regex_free(re);
	}
	if (paths > 1)
		return im_error(im, dc, hn,
		                "%s.match.http: at most one of pathExact, pathPrefix and "
		                "pathRegex",
		                where);
	if (str(dest, "prefixRewrite") && !str(http, "pathExact") && !str(http, "pathPrefix"))
		return im_error(
		    im, dc, consul_get(dc, consul_get(dc, node, "destination"), "prefixRewrite"),
		    "%s.destination.prefixRewrite needs a pathExact or pathPrefix match", where);
	json_array_foreach(json_object_get(http, "header"), i, h)
	{
		static const char *const crit[] = {"exact", "prefix", "suffix", "regex"};
		int n = json_is_true(json_object_get(h, "present"));
		for (int c = 0; c < 4; c++)
			n += json_object_get(h, crit[c]) != NULL;
		if (!str(h, "name") || n != 1) {
			char idx[24];
			snprintf(idx, sizeof(idx), "%zu", i);
			return im_error(im, dc, im_path(dc, consul_get(dc, hn, "header"), idx),
			                "%s.match.http.header[%zu]: %s", where, i,
			                !str(h, "name")
			                    ? "missing required field 'name'"
			                    : "should only contain one of present, exact, "
			                      "prefix, suffix or regex");
		}
	}
	json_array_foreach(json_object_get(http, "methods"), i, h) if (
	    !mp_method_bit(json_string_value(
	        h))) return im_error(im, dc, hn, "%s.match.http.methods[%zu]: invalid method '%s'",
	                             where, i, json_string_value(h));
	return 0;
}

int consul_check_chain(mp_import *im, idoc *dc, const consul_entry *e)
{
	yaml_node_t *spec = dc->spec;
	json_t *x, *y;
	const char *key;
	size_t i;
	char where[64], idx[24];
	switch (consul_kind(dc)) {
	case CK_SERVICEROUTER:
		json_array_foreach(json_object_get(e->spec, "routes"), i, x)
		{
			snprintf(where, sizeof(where), "routes[%zu]", i);
			snprintf(idx, sizeof(idx), "%zu", i);
			yaml_node_t *node = im_path(dc, consul_get(dc, spec, "routes"), idx);
			if (check_match(im, dc, node,
			                json_object_get(json_object_get(x, "match"), "http"),
			                json_object_get(x, "destination"), where) < 0)
				return -1;
		}
		return 0;
	case CK_SERVICESPLITTER:
		if (!json_array_size(json_object_get(e->spec, "splits")))
			return im_error(im, dc, spec ? spec : dc->root,
			                "a splitter needs at least one split");
		json_array_foreach(json_object_get(e->spec, "splits"), i, x)
		{
			double w = json_number_value(json_object_get(x, "weight"));
			snprintf(idx, sizeof(idx), "%zu", i);
			yaml_node_t *node = im_path(dc, consul_get(dc, spec, "splits"), idx);
			if (w < 0 || w > 100)
				return im_error(im, dc, consul_get(dc, node, "weight"),
				                "splits[%zu].weight is %g, outside 0..100", i, w);
			for (size_t j = 0; j < i; j++) {
				json_t *o = json_array_get(json_object_get(e->spec, "splits"), j);
				static const char *const keys[] = {"service", "serviceSubset",
				                                   "namespace", "partition"};
				int same = 1;
				for (int k = 0; k < 4 && same; k++) {
					const char *a = str(x, keys[k]), *b = str(o, keys[k]);
					same = !strcmp(a ? a : "", b ? b : "");
				}
				if (same)
					return im_error(
					    im, dc, node,
					    "splits[%zu] repeats the destination of splits[%zu]", i,
					    j);
			}
		}
		return 0;
	case CK_SERVICERESOLVER: {
		json_t *subsets = json_object_get(e->spec, "subsets");
		const char *def = str(e->spec, "defaultSubset");
		if (json_object_get(e->spec, "redirect") && json_object_get(e->spec, "failover"))
			return im_error(im, dc, consul_get(dc, spec, "failover"),
			                "redirect and failover cannot both be set");
		if (def && !json_object_get(subsets, def))
			return im_error(im, dc, consul_get(dc, spec, "defaultSubset"),
			                "defaultSubset '%s' is not a valid subset", def);
		json_object_foreach(json_object_get(e->spec, "failover"), key, y)
		{
			if (strcmp(key, "*") && !json_object_get(subsets, key))
				return im_error(im, dc, consul_get(dc, spec, "failover"),
				                "failover['%s']: not a valid subset (nor '*')",
				                key);
			if (json_array_size(json_object_get(y, "datacenters")) &&
			    json_array_size(json_object_get(y, "targets")))
				return im_error(
				    im, dc, consul_get(dc, spec, "failover"),
				    "failover['%s']: datacenters and targets cannot both be set",
				    key);
		}
		return 0;
	}
	default:
		return 0;
	}
}
