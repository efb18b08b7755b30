/* import_istio.c: Istio's importer: its state and phases (mp_istio_import). PeerAuthentication
 * sets the mTLS mode of workloads; a Gateway becomes the source of the routes bound to it; a
 * ServiceEntry becomes externals (or services, inside the mesh); every Istio document stays
 * in the model as a resource (AuthorizationPolicies checked first, for authz.c), with the
 * settings the import used as a MeshConfig. Routes: routes_istio.c; the analyzers:
 * analyze_istio.c. Mapping: docs/import.md. */
#include "alloc.h"
#include "istio_int.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

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

static int is_peer_auth(const idoc *dc)
{
	return istio_is(dc, IK_PEERAUTHENTICATION);
}

/* The PeerAuthentication documents, listed once (istio_state.pa_docs). */
static const uint32_t *pa_docs(mp_import *im, uint32_t *n)
{
	return ist_doclist_of(im, &istio_of(im)->pa_docs, is_peer_auth, n);
}

/* The namespace-wide PeerAuthentication of exactly that namespace (the first one: Istio takes
 * the oldest), or -1. In the root namespace it is the mesh-wide one. */
static int namespace_pa(mp_import *im, mp_str ns, mp_id cluster)
{
	uint32_t npa;
	const uint32_t *pa = pa_docs(im, &npa);
	for (uint32_t k = 0; k < npa; k++) {
		uint32_t i = pa[k];
		idoc *dc = &im->docs[i];
		if (istio_is(dc, IK_PEERAUTHENTICATION) && im_live(dc) && dc->cluster == cluster &&
		    dc->ns == ns && !match_labels(dc, "selector") &&
		    !im_get(dc, dc->spec, "targetRef") && !im_get(dc, dc->spec, "targetRefs"))
			return (int)i;
	}
	return -1;
}

/* Kubernetes asks (namespace_mtls): the namespace's mode, else the mesh's. */
static uint32_t namespace_mtls(mp_import *im, mp_id ns, mp_id cluster)
{
	int chain[2] = {namespace_pa(im, mp_model_get_view(im->m).namespaces[ns].name, cluster),
	                namespace_pa(im, im_intern(im, istio_of(im)->rootns), cluster)};
	for (int k = 0; k < 2; k++) {
		int m = chain[k] < 0 ? 0 : pa_mode(im, &im->docs[chain[k]]);
		if (m > 0)
			return (uint32_t)m;
	}
	return MP_MTLS_UNSET;
}

static void peer_auth(mp_import *im)
{
	uint32_t npa;
	const uint32_t *pa = pa_docs(im, &npa);
	for (uint32_t k = 0; k < npa; k++) /* validate every one once */
		if (im_live(&im->docs[pa[k]]))
			pa_mode(im, &im->docs[pa[k]]);
	for (uint32_t w = 0; w < im->nwl; w++) {
		iworkload *wl = &im->wl[w];
		idoc *wd = &im->docs[wl->doc];
		int chain[3] = {-1, -1, -1}; /* workload, namespace, mesh */
		for (uint32_t k = 0; k < npa && chain[0] < 0; k++) {
			uint32_t i = pa[k];
			idoc *dc = &im->docs[i];
			yaml_node_t *ml;
			if (istio_is(dc, IK_PEERAUTHENTICATION) && im_live(dc) &&
			    dc->cluster == wl->cluster && dc->ns == wd->ns &&
			    (ml = match_labels(dc, "selector")) &&
			    im_selector_matches(im, dc, ml, wl))
				chain[0] = (int)i;
		}
		chain[1] = namespace_pa(im, wd->ns, wl->cluster);
		chain[2] = namespace_pa(im, im_intern(im, istio_of(im)->rootns), wl->cluster);
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
	const istio_state *st = istio_of(im);
	for (uint32_t i = 0; i < st->nse_hosts; i++)
		if (im_host_covers(im_str_of(im, st->se_hosts[i].host), h))
			return st->se_hosts[i].ref;
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

/* --- Service ports --- */

/* Kubernetes asks (port_protocol): Istio's protocol selection from a Service port's
 * appProtocol or name prefix, in meshpol's terms; a name that follows no convention is tcp
 * (the analyzer reports it, analyze_istio_wl.c ist_port_names). */
static const char *port_protocol(mp_import *im, idoc *dc, yaml_node_t *at, uint32_t number,
                                 const char *name, const char *app)
{
	static const struct {
		const char *prefix, *proto;
	} table[] = {
	    {"http2", "http2"}, {"https", "https"}, {"http", "http"}, {"grpc-web", "grpc"},
	    {"grpc", "grpc"},   {"tls", "tls"},     {"tcp", "tcp"},   {"mongo", "tcp"},
	    {"mysql", "tcp"},   {"redis", "tcp"},   {"udp", "tcp"},   {"h2c", "http2"},
	};
	const char *s = app ? app : name;
	(void)im, (void)dc, (void)at, (void)number;
	for (size_t i = 0; s && i < sizeof(table) / sizeof(table[0]); i++) {
		size_t n = strlen(table[i].prefix);
		if (!strncasecmp(s, table[i].prefix, n) && (!s[n] || s[n] == '-'))
			return table[i].proto;
	}
	if (app && !strncasecmp(app, "kubernetes.io/h2c", 17))
		return "http2";
	return "tcp";
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

/* The identity of the gateway workload a Gateway's selector picks in its cluster, when the
 * import has it without a Service (the Deployment of istio-ingressgateway, say): its service
 * account's, so that policies naming the gateway's principal match its requests. 0 when no
 * workload matches, or the matching ones run as different service accounts. */
static mp_str gateway_identity(mp_import *im, idoc *dc, yaml_node_t *sel)
{
	mp_str id = 0;
	if (!sel || sel->type != YAML_MAPPING_NODE ||
	    sel->data.mapping.pairs.top == sel->data.mapping.pairs.start)
		return 0;
	for (uint32_t w = 0; w < im->nwl; w++) {
		const iworkload *wl = &im->wl[w];
		if (wl->cluster != dc->cluster || !wl->identity ||
		    !im_selector_matches(im, dc, sel, wl))
			continue;
		if (id && id != wl->identity)
			return 0;
		id = wl->identity;
	}
	return id;
}

/* The services whose workloads a Gateway's selector picks, else a service standing for the
 * gateway workload: one per distinct selector, in the root namespace. */
static void gateways(mp_import *im)
{
	istio_state *st = istio_of(im);
	for (uint32_t i = 0; i < im->ndocs && !im->oom; i++) {
		idoc *dc = &im->docs[i];
		mp_port ports[64];
		uint32_t np = 0;
		if (!istio_is(dc, IK_GATEWAY) || !im_live(dc) ||
		    gateway_servers(im, dc, ports, &np) < 0)
			continue;
		yaml_node_t *sel = im_get(dc, dc->spec, "selector");
		for (uint32_t w = 0; w < im->nwl && st->gw_svc[i] == MP_NONE; w++)
			if (im->wl[w].cluster == dc->cluster && im->wl[w].nsvc && sel &&
			    sel->type == YAML_MAPPING_NODE &&
			    sel->data.mapping.pairs.top > sel->data.mapping.pairs.start &&
			    im_selector_matches(im, dc, sel, &im->wl[w]))
				st->gw_svc[i] = im->wl[w].svc[0];
		if (st->gw_svc[i] != MP_NONE)
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
		mp_str ns = im_intern(im, st->rootns);
		mp_id nsid = im_namespace(im, ns, dc->loc);
		mp_str n = im_intern(im, name);
		mp_id sid = im->host->lookup(im->host->ctx, MP_IMPORT_SERVICE, nsid, n);
		if (nsid == MP_NONE)
			return;
		if (sid != MP_NONE) { /* shared with an earlier Gateway */
			st->gw_svc[i] = sid;
			continue;
		}
		/* collect every Gateway with the same stand-in: their clusters and ports */
		uint32_t clusters[64], ncl = 0;
		for (uint32_t j = i; j < im->ndocs; j++) {
			idoc *o = &im->docs[j];
			if (!istio_is(o, IK_GATEWAY) || !im_live(o))
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
		mp_service s = {.name = n,
		                .ns = nsid,
		                .identity = gateway_identity(im, dc, sel),
		                .labels = labels,
		                .loc = dc->loc};
		s.clusters = (mp_span){mp_model_push_u32(im->m, clusters, ncl), ncl};
		s.ports = (mp_span){np ? mp_model_push_ports(im->m, ports, np) : 0, np};
		sid = mp_model_get_view(im->m).nservices;
		char what[400];
		snprintf(what, sizeof(what), "Service '%s/%s' (the workload of Gateway %s/%s)",
		         st->rootns, name, im_str_of(im, dc->ns), im_str_of(im, dc->name));
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
		st->gw_svc[i] = sid;
	}
}

static void add_se_host(mp_import *im, mp_str host, hostref ref)
{
	istio_state *st = istio_of(im);
	if (st->nse_hosts % 32 == 0) {
		im_sehost *nv = mp_realloc(st->se_hosts, (st->nse_hosts + 32) * sizeof(*nv));
		if (!nv) {
			im->oom = 1;
			return;
		}
		st->se_hosts = nv;
	}
	st->se_hosts[st->nse_hosts++] = (im_sehost){host, ref};
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
		const istio_state *st = istio_of(im);
		for (k = 0; k < st->nse_hosts && st->se_hosts[k].host != hs; k++)
			;
		if (k < st->nse_hosts)
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

/* The ELEMENTS phase: Gateways' services, then ServiceEntries (a route's host may be either). */
static void elements(mp_import *im)
{
	istio_state *st = istio_of(im);
	if (!(st->gw_svc = mp_malloc((im->ndocs + 1) * sizeof(mp_id)))) {
		im->oom = 1;
		return;
	}
	for (uint32_t i = 0; i < im->ndocs; i++)
		st->gw_svc[i] = MP_NONE;
	gateways(im);
	for (uint32_t i = 0; i < im->ndocs && !im->oom; i++)
		if (istio_is(&im->docs[i], IK_SERVICEENTRY) && im_live(&im->docs[i]) &&
		    im->docs[i].ns_id != MP_NONE)
			service_entry(im, &im->docs[i]);
}

/* --- resources --- */

/* The settings the import used, as a resource: authz.c reads the root namespace and which
 * extension provider is meshpol from it. */
static void mesh_config(mp_import *im)
{
	istio_state *st = istio_of(im);
	const char *rootns = st->rootns;
	json_t *j =
	    json_pack("{s:s, s:s}", "rootNamespace", rootns, "trustDomain", im_str_of(im, im->td));
	if (j && st->mesh.meshpol)
		json_object_set_new(j, "meshpolProvider", json_string(st->mesh.meshpol));
	if (!j) {
		im->oom = 1;
		return;
	}
	mp_resource r = {.kind = im_intern(im, "MeshConfig"),
	                 .api = im_intern(im, "meshpol.io/v1"),
	                 .ns = im_intern(im, rootns),
	                 .name = im_intern(im, "mesh"),
	                 .cluster = MP_NONE,
	                 .loc = im->ndocs ? im->docs[0].loc : (mp_loc){0, 0, 0}};
	im_add_record(im, &r, j);
}

/* The RESOURCES phase: every Istio document stays in the model (AuthorizationPolicies only
 * once their spec passed the check; istio.io/dry-run ones flagged so), and the settings the
 * import used, unless the import is another mesh's and holds nothing of Istio's. */
static void resources(mp_import *im)
{
	uint32_t mine = 0;
	for (uint32_t i = 0; i < im->ndocs && !mine; i++)
		mine = im->docs[i].provider == &mp_provider_istio && im_live(&im->docs[i]);
	if (mine || !mp_providers_other_mesh(im->m, &mp_provider_istio))
		mesh_config(im);
	for (uint32_t i = 0; i < im->ndocs && !im->oom; i++) {
		idoc *dc = &im->docs[i];
		if (dc->provider != &mp_provider_istio || dc->dead || dc->cluster == MP_NONE)
			continue;
		json_t *spec = dc->spec ? im_json(dc, dc->spec) : json_object();
		mp_span lines = {0, 0};
		if (!spec) {
			im->oom = 1;
			return;
		}
		if (istio_is(dc, IK_AUTHORIZATIONPOLICY) &&
		    mp_import_istio_check_authz(im, dc, spec, &lines) < 0) {
			json_decref(spec);
			continue;
		}
		const char *dry =
		    im_scalar(im_get(dc, im_get(dc, dc->meta, "annotations"), "istio.io/dry-run"));
		im_add_resource(im, dc, spec,
		                dry && !strcasecmp(dry, "true") ? MP_RESOURCE_DRY_RUN : 0, lines);
	}
}

/* --- the importer --- */

static void *begin(mp_import *im)
{
	istio_state *st = mp_calloc(1, sizeof(*st));
	const mp_import_opts *o = im->o;
	if (!st)
		return NULL;
	st->rootns =
	    mp_provider_option_value(o ? o->provider_opts : NULL, o ? o->nprovider_opts : 0,
	                             mp_provider_istio.name, "root-namespace");
	st->mesh.root_ns = st->rootns;
	st->mesh.cluster_domain = "cluster.local";
	st->arena.chunk = 64u << 10;
	st->meshpol_option =
	    mp_provider_option_value(o ? o->provider_opts : NULL, o ? o->nprovider_opts : 0,
	                             mp_provider_istio.name, "meshpol-provider");
	ist_mesh_load(im, st); /* a bad file is an error of its own */
	return st;
}

static void end(void *state)
{
	istio_state *st = state;
	mp_free(st->gw_svc);
	mp_free(st->se_hosts);
	mp_free(st->pods);
	mp_free(st->svcs);
	mp_free(st->pending);
	ist_mesh_free(st);
	mp_arena_free(&st->arena);
	mp_free(st);
}

/* An analysis's error in an Istio document: Istio's SchemaValidationError, and the document
 * stays for the analyzers, as istioctl analyses what its schema refuses. */
static int invalid(mp_import *im, idoc *dc, const yaml_node_t *n, const char *msg)
{
	ist_report(im, dc, n, "SchemaValidationError", "Schema validation error: %s", msg);
	return 1;
}

/* Does the import hold Istio's documents? (A Kubernetes-only import is Istio's by default:
 * the Gateway API's rows say so, MP_GWI_DEFAULT_MESH.) */
static int holds(mp_import *im)
{
	for (uint32_t i = 0; i < im->ndocs; i++)
		if (im->docs[i].provider == &mp_provider_istio && im_live(&im->docs[i]))
			return 1;
	return 0;
}

const struct mp_provider_import mp_istio_import = {
    .begin = begin,
    .end = end,
    .phase =
        {
            [IM_PHASE_CLUSTERS] = ist_mesh_read,
            [IM_PHASE_WORKLOAD_POLICY] = peer_auth,
            [IM_PHASE_ELEMENTS] = elements,
            [IM_PHASE_ROUTES] = mp_import_istio_routes,
            [IM_PHASE_RESOURCES] = resources,
        },
    .namespace_mtls = namespace_mtls,
    .port_protocol = port_protocol,
    .reads = ist_reads,
    .invalid = invalid,
    .holds = holds,
};
