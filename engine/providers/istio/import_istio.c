/* import_istio.c: Istio resources -> the model. PeerAuthentication sets the mTLS mode of
 * workloads and services; a Gateway becomes the source of the routes bound to it; a
 * ServiceEntry becomes externals (or services, inside the mesh); a VirtualService becomes one
 * route per rule, match and source, with the DestinationRule's subsets and locality settings
 * applied to its targets; AuthorizationPolicies are checked here and kept as resources for
 * authz.c. Mapping: docs/import.md. The analyzers live in analyze_istio.c. */
#include "alloc.h"
#include "authz.h"
#include "import_int.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_TARGETS 64

static int live(const idoc *dc)
{
	return !dc->dead && !dc->bad && dc->cluster != MP_NONE;
}

static const char *title(mp_import *im, const idoc *dc, char *buf, size_t len)
{
	return im_title(im, dc, buf, len);
}

/* --- PeerAuthentication --- */

/* The PeerAuthentication's mode (mp_mtls; UNSET inherits), or -1 after an error. */
static int pa_mode(mp_import *im, idoc *dc)
{
	static const char *const keys[] = {"selector",  "mtls",       "portLevelMtls",
	                                   "targetRef", "targetRefs", NULL};
	yaml_node_t *mtls, *ports, *k, *v;
	const char *mode = NULL;
	if (dc->bad)
		return -1;
	if (!dc->spec)
		return MP_MTLS_UNSET;
	if (im_keys(im, dc, dc->spec, keys, "spec") < 0 ||
	    im_map(im, dc, dc->spec, "mtls", 0, &mtls) < 0 ||
	    im_map(im, dc, dc->spec, "portLevelMtls", 0, &ports) < 0 ||
	    (mtls && im_str(im, dc, mtls, "mode", 0, &mode) < 0))
		return -1;
	uint32_t m = MP_MTLS_UNSET;
	if (mode && strcmp(mode, "UNSET") && !(m = im_mtls_mode(mode)))
		return im_error(im, dc, im_get(dc, mtls, "mode"),
		                "mtls mode must be UNSET, DISABLE, PERMISSIVE or STRICT, not '%s'",
		                mode);
	if (ports)
		IM_MAP_FOREACH(dc, ports, k, v)
		{
			const char *pm = NULL;
			char *end;
			long port = strtol(im_scalar(k) ? im_scalar(k) : "", &end, 10);
			if (!im_scalar(k) || *end || port < 1 || port > 65535)
				return im_error(im, dc, k,
				                "portLevelMtls keys must be port numbers");
			if (v->type != YAML_MAPPING_NODE || im_str(im, dc, v, "mode", 0, &pm) < 0)
				return im_error(im, dc, v,
				                "portLevelMtls values must be {mode: ...}");
			if (pm && strcmp(pm, "UNSET") && !im_mtls_mode(pm))
				return im_error(im, dc, v, "port %ld: unknown mtls mode '%s'", port,
				                pm);
		}
	return (int)m;
}

/* matchLabels of a workload selector (Istio's `selector` or `workloadSelector`), or NULL. */
static yaml_node_t *match_labels(idoc *dc, const char *key)
{
	yaml_node_t *sel = im_get(dc, dc->spec, key);
	yaml_node_t *ml = sel ? im_get(dc, sel, key[0] == 'w' ? "labels" : "matchLabels") : NULL;
	if (!ml || ml->type != YAML_MAPPING_NODE ||
	    ml->data.mapping.pairs.top == ml->data.mapping.pairs.start)
		return NULL;
	return ml;
}

/* The namespace-wide PeerAuthentication of exactly that namespace (the first one: Istio takes
 * the oldest), or -1. In the root namespace it is the mesh-wide one. */
static int namespace_pa(mp_import *im, mp_str ns, mp_id cluster)
{
	for (uint32_t i = 0; i < im->ndocs; i++) {
		idoc *dc = &im->docs[i];
		if (dc->kind == IK_PEERAUTHENTICATION && live(dc) && dc->cluster == cluster &&
		    dc->ns == ns && !match_labels(dc, "selector") &&
		    !im_get(dc, dc->spec, "targetRef") && !im_get(dc, dc->spec, "targetRefs"))
			return (int)i;
	}
	return -1;
}

uint32_t mp_import_istio_ns_mtls(mp_import *im, mp_id ns, mp_id cluster)
{
	int chain[2] = {namespace_pa(im, mp_model_get_view(im->m).namespaces[ns].name, cluster),
	                namespace_pa(im, im_intern(im, im->rootns), cluster)};
	for (int k = 0; k < 2; k++) {
		int m = chain[k] < 0 ? 0 : pa_mode(im, &im->docs[chain[k]]);
		if (m > 0)
			return (uint32_t)m;
	}
	return MP_MTLS_UNSET;
}

void mp_import_istio_peer_auth(mp_import *im)
{
	for (uint32_t i = 0; i < im->ndocs; i++) /* validate every one once */
		if (im->docs[i].kind == IK_PEERAUTHENTICATION && live(&im->docs[i]))
			pa_mode(im, &im->docs[i]);
	for (uint32_t w = 0; w < im->nwl; w++) {
		iworkload *wl = &im->wl[w];
		idoc *wd = &im->docs[wl->doc];
		int chain[3] = {-1, -1, -1}; /* workload, namespace, mesh */
		for (uint32_t i = 0; i < im->ndocs && chain[0] < 0; i++) {
			idoc *dc = &im->docs[i];
			yaml_node_t *ml;
			if (dc->kind == IK_PEERAUTHENTICATION && live(dc) &&
			    dc->cluster == wl->cluster && dc->ns == wd->ns &&
			    (ml = match_labels(dc, "selector")) &&
			    im_selector_matches(im, dc, ml, wl))
				chain[0] = (int)i;
		}
		chain[1] = namespace_pa(im, wd->ns, wl->cluster);
		chain[2] = namespace_pa(im, im_intern(im, im->rootns), wl->cluster);
		for (int k = 0; k < 3; k++) {
			if (chain[k] < 0)
				continue;
			int m = pa_mode(im, &im->docs[chain[k]]);
			if (wl->mtls_doc == UINT32_MAX)
				wl->mtls_doc = (uint32_t)chain[k];
			if (m > 0) {
				wl->mtls = (uint32_t)m;
				wl->mtls_doc = (uint32_t)chain[k];
				break;
			}
		}
	}
}

/* --- hosts --- */

typedef im_hostref hostref;

void im_lower(const char *in, char *out, size_t len)
{
	size_t i;
	for (i = 0; in[i] && i + 1 < len; i++)
		out[i] = (char)tolower((unsigned char)in[i]);
	out[i] = '\0';
}

int im_host_covers(const char *pattern, const char *host)
{
	if (!strcmp(pattern, "*") || !strcmp(pattern, host))
		return 1;
	if (pattern[0] == '*' && pattern[1] == '.') {
		size_t p = strlen(pattern + 1), h = strlen(host);
		return h > p && !strcmp(host + h - p, pattern + 1);
	}
	return 0;
}

/* Resolves a destination host as Istio does, relative to the namespace of the resource: a
 * short name is a service of that namespace; NAME.NS and NAME.NS.svc[.DOMAIN] a service of NS;
 * anything else a ServiceEntry host, then a native external. fqdn receives the canonical name
 * (NAME.NS.svc.cluster.local for services). */
hostref im_resolve_host(mp_import *im, const char *host, mp_str ns, char *fqdn, size_t len)
{
	char h[512], name[256], nsb[256];
	hostref r = {MP_TARGET_SERVICE, MP_NONE};
	im_lower(host, h, sizeof(h));
	snprintf(fqdn, len, "%s", h);
	if (strchr(h, '*'))
		return r;
	for (uint32_t i = 0; i < im->nse_hosts; i++)
		if (im_host_covers(im_str_of(im, im->se_hosts[i].host), h))
			return im->se_hosts[i].ref;
	const char *dot = strchr(h, '.');
	const char *dot2 = dot ? strchr(dot + 1, '.') : NULL;
	int k8s = !dot || !dot2 || !strncmp(dot2, ".svc", 4);
	if (k8s) {
		snprintf(name, sizeof(name), "%.*s", dot ? (int)(dot - h) : (int)strlen(h), h);
		if (dot)
			snprintf(nsb, sizeof(nsb), "%.*s",
			         dot2 ? (int)(dot2 - dot - 1) : (int)strlen(dot + 1), dot + 1);
		else
			snprintf(nsb, sizeof(nsb), "%s", im_str_of(im, ns));
		r.id = mp_model_find_service_ns(im->m, nsb, name);
		if (r.id != MP_NONE || !dot || dot2) {
			snprintf(fqdn, len, "%s.%s.svc.cluster.local", name, nsb);
			if (r.id != MP_NONE)
				return r;
		}
	}
	r.kind = MP_TARGET_EXTERNAL;
	r.id = mp_model_find_external(im->m, h);
	return r;
}

/* --- Gateways and ServiceEntries --- */

static const char *server_protocol(const char *p)
{
	static const char *const map[][2] = {{"HTTP", "http"},
	                                     {"HTTPS", "https"},
	                                     {"HTTP2", "http2"},
	                                     {"GRPC", "grpc"},
	                                     {"TLS", "tls"}};
	for (size_t i = 0; p && i < sizeof(map) / sizeof(map[0]); i++)
		if (!strcasecmp(p, map[i][0]))
			return map[i][1];
	return "tcp";
}

/* Reads a list of {number, protocol, name} ports (Gateway servers' `port`, ServiceEntry
 * `ports`) into ports. */
static int read_port(mp_import *im, idoc *dc, yaml_node_t *p, mp_port *ports, uint32_t *n,
                     uint32_t max)
{
	uint32_t number;
	int set;
	const char *proto, *name;
	if (p->type != YAML_MAPPING_NODE)
		return im_error(im, dc, p, "a port must be a mapping, not %s", im_kind_of(p));
	if (im_u32(im, dc, p, "number", 1, 65535, &number, &set) < 0 ||
	    im_str(im, dc, p, "protocol", 0, &proto) < 0 || im_str(im, dc, p, "name", 0, &name) < 0)
		return -1;
	if (!set)
		return im_error(im, dc, p, "missing required field 'number'");
	for (uint32_t k = 0; k < *n; k++)
		if (ports[k].port == number)
			return 0;
	if (*n < max)
		ports[(*n)++] = (mp_port){number, im_intern(im, server_protocol(proto)),
		                          name ? im_intern(im, name) : 0};
	return 0;
}

static int gateway_servers(mp_import *im, idoc *dc, mp_port *ports, uint32_t *nports)
{
	static const char *const keys[] = {"selector", "servers", NULL};
	static const char *const skeys[] = {"port", "hosts", "tls", "bind", "defaultEndpoint",
	                                    "name", NULL};
	yaml_node_t *servers, *s, *port, *sel;
	const char *hosts[256];
	uint32_t nh;
	if (!dc->spec)
		return im_error(im, dc, dc->root, "missing required field 'spec'");
	if (im_keys(im, dc, dc->spec, keys, "spec") < 0 ||
	    im_seq(im, dc, dc->spec, "servers", 1, &servers) < 0 ||
	    im_map(im, dc, dc->spec, "selector", 0, &sel) < 0)
		return -1;
	IM_SEQ_FOREACH(dc, servers, s)
	{
		if (im_keys(im, dc, s, skeys, "server") < 0 ||
		    im_map(im, dc, s, "port", 1, &port) < 0 ||
		    im_strs(im, dc, s, "hosts", 1, hosts, 256, &nh) < 0 ||
		    read_port(im, dc, port, ports, nports, 64) < 0)
			return -1;
		if (!nh)
			return im_error(im, dc, s, "a server needs at least one host");
	}
	return 0;
}

/* The services whose workloads a Gateway's selector picks, else a service standing for the
 * gateway workload: one per distinct selector, in the root namespace. */
static void gateways(mp_import *im)
{
	for (uint32_t i = 0; i < im->ndocs && !im->oom; i++) {
		idoc *dc = &im->docs[i];
		mp_port ports[64];
		uint32_t np = 0;
		if (dc->kind != IK_GATEWAY || !live(dc) || gateway_servers(im, dc, ports, &np) < 0)
			continue;
		yaml_node_t *sel = im_get(dc, dc->spec, "selector");
		for (uint32_t w = 0; w < im->nwl && im->gw_svc[i] == MP_NONE; w++)
			if (im->wl[w].cluster == dc->cluster && im->wl[w].nsvc && sel &&
			    sel->type == YAML_MAPPING_NODE &&
			    sel->data.mapping.pairs.top > sel->data.mapping.pairs.start &&
			    im_selector_matches(im, dc, sel, &im->wl[w]))
				im->gw_svc[i] = im->wl[w].svc[0];
		if (im->gw_svc[i] != MP_NONE)
			continue;
		/* the stand-in: named after the selector, as Istio names its gateways */
		char name[300] = "";
		const char *istio = im_scalar(im_get(dc, sel, "istio"));
		const char *app = im_scalar(im_get(dc, sel, "app"));
		if (istio)
			snprintf(name, sizeof(name), "istio-%s", istio);
		else if (app)
			snprintf(name, sizeof(name), "%s", app);
		else
			snprintf(name, sizeof(name), "gateway-%s", im_str_of(im, dc->name));
		mp_str ns = im_intern(im, im->rootns);
		mp_id nsid = im_namespace(im, ns, dc->loc);
		mp_str n = im_intern(im, name);
		mp_id sid = im->host->lookup(im->host->ctx, MP_IMPORT_SERVICE, nsid, n);
		if (nsid == MP_NONE)
			return;
		if (sid != MP_NONE) { /* shared with an earlier Gateway */
			im->gw_svc[i] = sid;
			continue;
		}
		/* collect every Gateway with the same stand-in: their clusters and ports */
		uint32_t clusters[64], ncl = 0;
		for (uint32_t j = i; j < im->ndocs; j++) {
			idoc *o = &im->docs[j];
			if (o->kind != IK_GATEWAY || !live(o))
				continue;
			yaml_node_t *os = im_get(o, o->spec, "selector");
			const char *oi = im_scalar(im_get(o, os, "istio"));
			const char *oa = im_scalar(im_get(o, os, "app"));
			if (j != i && !((istio && oi && !strcmp(oi, istio)) ||
			                (!istio && !oi && app && oa && !strcmp(oa, app))))
				continue;
			if (j != i && gateway_servers(im, o, ports, &np) < 0)
				continue;
			uint32_t k;
			for (k = 0; k < ncl && clusters[k] != o->cluster; k++)
				;
			if (k == ncl && ncl < 64)
				clusters[ncl++] = o->cluster;
		}
		mp_span labels;
		if (im_labels(im, dc, sel, &labels) < 0)
			continue;
		mp_service s = {.name = n, .ns = nsid, .labels = labels, .loc = dc->loc};
		s.clusters = (mp_span){mp_model_push_u32(im->m, clusters, ncl), ncl};
		s.ports = (mp_span){np ? mp_model_push_ports(im->m, ports, np) : 0, np};
		sid = mp_model_get_view(im->m).nservices;
		char what[400];
		snprintf(what, sizeof(what), "Service '%s/%s' (the workload of Gateway %s/%s)",
		         im->rootns, name, im_str_of(im, dc->ns), im_str_of(im, dc->name));
		if (s.clusters.off == MP_NONE || s.ports.off == MP_NONE) {
			im->oom = 1;
			return;
		}
		if (im->host->declare(im->host->ctx, MP_IMPORT_SERVICE, nsid, n, sid, dc->loc,
		                      what) < 0)
			continue;
		if (mp_model_add_service(im->m, &s) == MP_NONE) {
			im->oom = 1;
			return;
		}
		im->gw_svc[i] = sid;
	}
}

static void add_se_host(mp_import *im, mp_str host, hostref ref)
{
	if (im->nse_hosts % 32 == 0) {
		im_sehost *nv = mp_realloc(im->se_hosts, (im->nse_hosts + 32) * sizeof(*nv));
		if (!nv) {
			im->oom = 1;
			return;
		}
		im->se_hosts = nv;
	}
	im->se_hosts[im->nse_hosts++] = (im_sehost){host, ref};
}

static void service_entry(mp_import *im, idoc *dc)
{
	static const char *const keys[] = {
	    "hosts",     "addresses",        "ports",    "location",        "resolution",
	    "endpoints", "workloadSelector", "exportTo", "subjectAltNames", NULL};
	const char *hosts[256], *location, *resolution;
	uint32_t nh, np = 0;
	mp_port ports[64];
	yaml_node_t *seq, *item;
	if (!dc->spec) {
		im_error(im, dc, dc->root, "missing required field 'spec'");
		return;
	}
	if (im_keys(im, dc, dc->spec, keys, "spec") < 0 ||
	    im_strs(im, dc, dc->spec, "hosts", 1, hosts, 256, &nh) < 0 ||
	    im_str(im, dc, dc->spec, "location", 0, &location) < 0 ||
	    im_str(im, dc, dc->spec, "resolution", 0, &resolution) < 0)
		return;
	if (!nh) {
		im_error(im, dc, im_get(dc, dc->spec, "hosts"), "'hosts' must not be empty");
		return;
	}
	if (location && strcmp(location, "MESH_EXTERNAL") && strcmp(location, "MESH_INTERNAL")) {
		im_error(im, dc, im_get(dc, dc->spec, "location"),
		         "location must be MESH_EXTERNAL or MESH_INTERNAL, not '%s'", location);
		return;
	}
	if (resolution && strcmp(resolution, "NONE") && strcmp(resolution, "STATIC") &&
	    strcmp(resolution, "DNS") && strcmp(resolution, "DNS_ROUND_ROBIN")) {
		im_error(im, dc, im_get(dc, dc->spec, "resolution"),
		         "resolution must be NONE, STATIC, DNS or DNS_ROUND_ROBIN, not '%s'",
		         resolution);
		return;
	}
	if (im_seq(im, dc, dc->spec, "ports", 0, &seq) < 0)
		return;
	if (seq)
		IM_SEQ_FOREACH(dc, seq, item)
		{
			if (read_port(im, dc, item, ports, &np, 64) < 0)
				return;
		}
	/* where it is served from: endpoint localities, or meshpol.io/region */
	const char *region = im_meta_value(dc, dc->meta, "meshpol.io/region");
	char first[256] = "";
	int mixed = 0;
	if (im_seq(im, dc, dc->spec, "endpoints", 0, &seq) < 0)
		return;
	if (seq && !region)
		IM_SEQ_FOREACH(dc, seq, item)
		{
			const char *loc;
			if (item->type != YAML_MAPPING_NODE ||
			    im_str(im, dc, item, "locality", 0, &loc) < 0)
				return;
			if (!loc)
				continue;
			char r[256];
			snprintf(r, sizeof(r), "%.*s", (int)strcspn(loc, "/"), loc);
			if (first[0] && strcmp(first, r))
				mixed = 1;
			if (!first[0])
				snprintf(first, sizeof(first), "%s", r);
		}
	if (!region && first[0] && !mixed)
		region = first;
	const char *jur = im_meta_value(dc, dc->meta, "meshpol.io/jurisdiction");
	mp_id jid = MP_NONE;
	if (jur && (jid = mp_model_find_jurisdiction(im->m, jur)) == MP_NONE) {
		im_error(im, dc, dc->meta, "meshpol.io/jurisdiction: no Jurisdiction '%s'", jur);
		return;
	}
	mp_str rid = region ? im_intern(im, region) : 0;
	if (jid == MP_NONE && rid)
		jid = mp_model_jurisdiction_of_region(im->m, rid);
	int internal = location && !strcmp(location, "MESH_INTERNAL");
	for (uint32_t h = 0; h < nh && !im->oom; h++) {
		char host[512], what[700];
		im_lower(hosts[h], host, sizeof(host));
		mp_str hs = im_intern(im, host);
		uint32_t k;
		for (k = 0; k < im->nse_hosts && im->se_hosts[k].host != hs; k++)
			;
		if (k < im->nse_hosts)
			continue; /* the same host in another ServiceEntry (or cluster): merged */
		if (internal) {
			mp_id sid = mp_model_get_view(im->m).nservices;
			mp_service s = {.name = hs, .ns = dc->ns_id, .loc = dc->loc};
			uint32_t cl = dc->cluster;
			mp_str data[64];
			uint32_t nd = im_data_classes(
			    im, im_meta_value(dc, dc->meta, "meshpol.io/data-classes"), data, 0,
			    64);
			s.clusters = (mp_span){mp_model_push_u32(im->m, &cl, 1), 1};
			s.ports = (mp_span){np ? mp_model_push_ports(im->m, ports, np) : 0, np};
			s.data = (mp_span){nd ? mp_model_push_u32(im->m, data, nd) : 0, nd};
			snprintf(what, sizeof(what), "Service '%s/%s' (ServiceEntry %s)",
			         im_str_of(im, dc->ns), host, im_str_of(im, dc->name));
			if (s.clusters.off == MP_NONE || s.ports.off == MP_NONE ||
			    s.data.off == MP_NONE) {
				im->oom = 1;
				return;
			}
			if (im->host->declare(im->host->ctx, MP_IMPORT_SERVICE, dc->ns_id, hs, sid,
			                      dc->loc, what) < 0)
				continue;
			if (mp_model_add_service(im->m, &s) == MP_NONE) {
				im->oom = 1;
				return;
			}
			add_se_host(im, hs, (hostref){MP_TARGET_SERVICE, sid});
			continue;
		}
		mp_id eid = mp_model_get_view(im->m).nexternals;
		mp_external e = {hs, hs, rid, jid, {0, np}, dc->loc};
		if (np && (e.ports.off = mp_model_push_ports(im->m, ports, np)) == MP_NONE) {
			im->oom = 1;
			return;
		}
		snprintf(what, sizeof(what), "External '%s' (ServiceEntry %s/%s)", host,
		         im_str_of(im, dc->ns), im_str_of(im, dc->name));
		if (im->host->declare(im->host->ctx, MP_IMPORT_EXTERNAL, hs, 0, eid, dc->loc,
		                      what) < 0)
			continue;
		if (mp_model_add_external(im->m, &e) == MP_NONE) {
			im->oom = 1;
			return;
		}
		add_se_host(im, hs, (hostref){MP_TARGET_EXTERNAL, eid});
	}
}

void mp_import_istio_elements(mp_import *im)
{
	gateways(im);
	for (uint32_t i = 0; i < im->ndocs && !im->oom; i++)
		if (im->docs[i].kind == IK_SERVICEENTRY && live(&im->docs[i]) &&
		    im->docs[i].ns_id != MP_NONE)
			service_entry(im, &im->docs[i]);
}

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
	mp_str order[3] = {client_ns, svc_ns, im_intern(im, im->rootns)};
	for (int k = 0; k < 3; k++)
		for (uint32_t i = 0; i < im->ndocs; i++) {
			idoc *dc = &im->docs[i];
			if (dc->kind == IK_DESTINATIONRULE && live(dc) && dc->cluster == cluster &&
			    rc->drt[i].id == t.id && rc->drt[i].kind == t.kind &&
			    dc->ns == order[k])
				return dc;
		}
	for (uint32_t i = 0; i < im->ndocs; i++) /* exported from elsewhere */
		if (im->docs[i].kind == IK_DESTINATIONRULE && live(&im->docs[i]) &&
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
			           title(im, dc, title_buf, sizeof(title_buf)),
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
			           title(im, dc, title_buf, sizeof(title_buf)),
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
		if (g->kind == IK_GATEWAY && live(g) && g->cluster == vs->cluster &&
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
				           title(im, dc, title_buf, sizeof(title_buf)),
				           "Referenced gateway not found: \"%s\"", ref);
			}
			continue;
		}
		if (im->gw_svc[gi] != MP_NONE && n < max)
			out[n++] = im->gw_svc[gi];
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
			char name[256];
			if (v->type != YAML_MAPPING_NODE ||
			    im_str(im, dc, v, "exact", 0, &exact) < 0)
				return im_error(im, dc, v, "a header match must be a mapping");
			if (!exact || !im_scalar(k))
				continue; /* prefix and regex header matches: the route admits more
				           */
			im_lower(im_scalar(k), name, sizeof(name));
			mp_label l = {im_intern(im, name), im_intern(im, exact)};
			uint32_t off = mp_model_push_labels(im->m, &l, 1);
			if (off == MP_NONE) {
				im->oom = 1;
				return -1;
			}
			if (!out->headers.n)
				out->headers.off = off;
			out->headers.n++;
		}
	return 0;
}

static uint32_t push_targets(mp_import *im, const mp_target *t, uint32_t n)
{
	if (!n)
		return 0;
	uint32_t off = mp_model_push_targets(im->m, t, n);
	if (off == MP_NONE) {
		im->oom = 1;
		return 0;
	}
	return off;
}

static void emit(tgtctx *x, const char *name, const mp_route *tmpl, yaml_node_t *at)
{
	mp_import *im = x->rc->im;
	mp_route rt = *tmpl;
	char what[1300];
	if (!x->nd)
		return; /* nothing to route to (missing hosts are findings) */
	rt.name = im_intern(im, name);
	rt.source = x->source;
	rt.loc = im_loc(x->dc, at);
	rt.dests = (mp_span){push_targets(im, x->dests, x->nd), x->nd};
	rt.mirrors = (mp_span){push_targets(im, x->mirrors, x->nm), x->nm};
	rt.failover = (mp_span){push_targets(im, x->failover, x->nf), x->nf};
	snprintf(what, sizeof(what), "Route '%s'", name);
	mp_id id = mp_model_get_view(im->m).nroutes;
	if (im->oom ||
	    im->host->declare(im->host->ctx, MP_IMPORT_ROUTE, rt.name, 0, id, rt.loc, what) < 0)
		return;
	if (mp_model_add_route(im->m, &rt) == MP_NONE)
		im->oom = 1;
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
		if (dc->kind != IK_DESTINATIONRULE || !live(dc) || dr_check(im, dc) < 0)
			continue;
		rc.drt[i] = im_resolve_host(im, im_scalar(im_get(dc, dc->spec, "host")), dc->ns,
		                            fqdn, sizeof(fqdn));
	}
	for (uint32_t i = 0; i < im->ndocs && !im->oom; i++)
		if (im->docs[i].kind == IK_VIRTUALSERVICE && live(&im->docs[i]))
			virtual_service(&rc, &im->docs[i]);
	mp_free(rc.drt);
}
