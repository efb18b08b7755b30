/* analyze_istio_vs.c: Istio's VirtualService analyzers, as istio/istio implements them:
 * schema validation's reachability of rules (pkg/config/validation/validation.go,
 * analyzeUnreachableHTTPRules and genMatchHTTPRoutes), and
 * pkg/config/analysis/analyzers/virtualservice/: conflictingmeshgatewayhosts.go,
 * destinationhosts.go, destinationrules.go, gateways.go, jwtclaimroute.go; with the host helpers
 * of analyzers/util (hosts.go, service_lookup.go, exportto.go) the other files share. Rows:
 * analyze_istio.c; docs/import.md ("Istio's analyzers"). */
#include "alloc.h"
#include "istio_int.h"
#include "providers/kubernetes/kubernetes_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* --- hosts (util/hosts.go, pkg/config/host) --- */

int ist_host_matches(const char *a, const char *b)
{
	int wa = a[0] == '*', wb = b[0] == '*';
	size_t la = strlen(a), lb = strlen(b);
	if (wa && wb) {
		const char *longer = la < lb ? b : a, *shorter = la < lb ? a : b;
		size_t ll = strlen(longer + 1), ls = strlen(shorter + 1);
		return ll >= ls && !strcmp(longer + 1 + ll - ls, shorter + 1);
	}
	if (wa || wb) {
		const char *w = wa ? a : b, *h = wa ? b : a;
		size_t lw = strlen(w + 1), lh = strlen(h);
		return lh >= lw && !strcmp(h + lh - lw, w + 1);
	}
	return !strcmp(a, b);
}

const char *ist_fqdn(mp_import *im, const char *ns, const char *host, char *buf, size_t len)
{
	ist_view(im);
	if (host[0] != '*' && !strchr(host, '.') && ns && *ns)
		snprintf(buf, len, "%s.%s.svc.%s", host, ns, istio_of(im)->mesh.cluster_domain);
	else
		snprintf(buf, len, "%s", host);
	return buf;
}

/* The strings of a list node (a single scalar counts as one), at most max. */
static uint32_t strings_of(idoc *dc, yaml_node_t *n, const char **out, uint32_t max)
{
	yaml_node_t *item;
	uint32_t k = 0;
	if (im_scalar(n) && max)
		out[k++] = im_scalar(n);
	else if (n && n->type == YAML_SEQUENCE_NODE)
		IM_SEQ_FOREACH(dc, n, item)
		{
			if (im_scalar(item) && k < max)
				out[k++] = im_scalar(item);
		}
	return k;
}

int ist_export_all(idoc *dc, yaml_node_t *export_to)
{
	const char *e[64];
	uint32_t n = strings_of(dc, export_to, e, 64);
	for (uint32_t i = 0; i < n; i++)
		if (!strcmp(e[i], "*"))
			return 1;
	return n == 0;
}

/* --- the service registry of the analyzers (util/service_lookup.go) --- */

typedef struct {
	const char *scope, *fqdn;
	idoc *se;               /* a ServiceEntry, or NULL */
	const ist_service *svc; /* a Service, or NULL */
} hostent;

typedef struct {
	hostent *v;
	uint32_t n, cap;
	uint32_t *slot; /* open addressing on (scope, fqdn): the last entry's index + 1, or 0 */
	uint32_t nslot; /* a power of two */
	uint32_t *wild; /* the entries whose fqdn starts with '*', in order */
	uint32_t nwild;
} hostmap;

static uint32_t host_hash(const char *scope, const char *fqdn)
{
	uint32_t h = 2166136261u;
	for (const unsigned char *p = (const unsigned char *)scope; *p; p++)
		h = (h ^ *p) * 16777619u;
	h = (h ^ 0xff) * 16777619u;
	for (const unsigned char *p = (const unsigned char *)fqdn; *p; p++)
		h = (h ^ *p) * 16777619u;
	return h;
}

/* The index of hostmap_get and of the wildcard walk of destination_host, built once: a mesh of
 * 10,000 Services asks it for every VirtualService host. */
static void hostmap_index(mp_import *im, hostmap *m)
{
	istio_state *st = istio_of(im);
	uint32_t nslot = 64;
	while (nslot < 2 * m->n + 2)
		nslot *= 2;
	m->slot = mp_arena_alloc(&st->arena, nslot * sizeof(uint32_t));
	m->wild = mp_arena_alloc(&st->arena, (m->n + 1) * sizeof(uint32_t));
	if (!m->slot || !m->wild) {
		im->oom = 1;
		m->slot = NULL;
		return;
	}
	m->nslot = nslot;
	for (uint32_t i = 0; i < m->n; i++) {
		const hostent *e = &m->v[i];
		uint32_t k = host_hash(e->scope, e->fqdn) & (nslot - 1);
		while (m->slot[k] && (strcmp(m->v[m->slot[k] - 1].scope, e->scope) ||
		                      strcmp(m->v[m->slot[k] - 1].fqdn, e->fqdn)))
			k = (k + 1) & (nslot - 1);
		m->slot[k] = i + 1; /* the last write wins */
		if (e->fqdn[0] == '*')
			m->wild[m->nwild++] = i;
	}
}

static void hostmap_add(mp_import *im, hostmap *m, const char *scope, const char *fqdn, idoc *se,
                        const ist_service *svc)
{
	istio_state *st = istio_of(im);
	if (m->n == m->cap) {
		uint32_t cap = m->cap ? 2 * m->cap : 64;
		hostent *nv = mp_arena_alloc(&st->arena, cap * sizeof(*nv));
		if (!nv) {
			im->oom = 1;
			return;
		}
		if (m->n)
			memcpy(nv, m->v, m->n * sizeof(*nv));
		m->v = nv;
		m->cap = cap;
	}
	char *s = mp_arena_str(&st->arena, scope), *f = mp_arena_str(&st->arena, fqdn);
	if (!s || !f) {
		im->oom = 1;
		return;
	}
	m->v[m->n++] = (hostent){s, f, se, svc};
}

/* util.InitServiceEntryHostMap: ServiceEntry hosts by exportTo scope, and each Service as an
 * entry of its own host, by its networking.istio.io/exportTo annotation. */
static void hostmap_build(mp_import *im, hostmap *m)
{
	istio_state *st = istio_of(im);
	char fqdn[600];
	memset(m, 0, sizeof(*m));
	ist_view(im);
	for (uint32_t i = 0; i < im->ndocs && !im->oom; i++) {
		idoc *dc = &im->docs[i];
		if (!istio_is(dc, IK_SERVICEENTRY) || !im_live(dc) || !dc->spec)
			continue;
		const char *hosts[256], *et[64];
		const char *ns = im_str_of(im, dc->ns);
		uint32_t nh = strings_of(dc, im_get(dc, dc->spec, "hosts"), hosts, 256);
		uint32_t ne = strings_of(dc, im_get(dc, dc->spec, "exportTo"), et, 64);
		for (uint32_t h = 0; h < nh; h++) {
			ist_fqdn(im, ns, hosts[h], fqdn, sizeof(fqdn));
			int all = ne == 0;
			for (uint32_t e = 0; e < ne && !all; e++) {
				if (!strcmp(et[e], "*"))
					all = 1;
				else
					hostmap_add(im, m, !strcmp(et[e], ".") ? ns : et[e], fqdn,
					            dc, NULL);
			}
			if (all)
				hostmap_add(im, m, "*", fqdn, dc, NULL);
		}
	}
	for (uint32_t i = 0; i < st->nsvcs && !im->oom; i++) {
		const ist_service *s = &st->svcs[i];
		ist_fqdn(im, s->ns, s->name, fqdn, sizeof(fqdn));
		if (!s->export_to || !*s->export_to) {
			hostmap_add(im, m, "*", fqdn, NULL, s);
			continue;
		}
		char scope[256];
		for (const char *p = s->export_to; *p;) {
			size_t n = strcspn(p, ",");
			snprintf(scope, sizeof(scope), "%.*s", (int)n, p);
			hostmap_add(im, m, !strcmp(scope, ".") ? s->ns : scope, fqdn, NULL, s);
			p += n + (p[n] == ',');
		}
	}
	if (!im->oom)
		hostmap_index(im, m);
}

/* The entry at scope/fqdn: the last one added, as a map keeps the last write. */
static const hostent *hostmap_get(const hostmap *m, const char *scope, const char *fqdn)
{
	if (!m->slot) /* out of memory building the index */
		return NULL;
	for (uint32_t k = host_hash(scope, fqdn) & (m->nslot - 1); m->slot[k];
	     k = (k + 1) & (m->nslot - 1)) {
		const hostent *e = &m->v[m->slot[k] - 1];
		if (!strcmp(e->scope, scope) && !strcmp(e->fqdn, fqdn))
			return e;
	}
	return NULL;
}

/* util.GetDestinationHost: what host names from a resource in namespace ns with exportTo. */
static const hostent *destination_host(mp_import *im, const hostmap *m, const char *ns, idoc *dc,
                                       yaml_node_t *export_to, const char *host)
{
	char fqdn[600];
	const hostent *e;
	const char *et[64];
	ist_fqdn(im, ns, host, fqdn, sizeof(fqdn));
	if ((e = hostmap_get(m, "*", fqdn)) != NULL)
		return e;
	uint32_t ne = strings_of(dc, export_to, et, 64);
	if (!ne && (e = hostmap_get(m, ns, fqdn)) != NULL)
		return e;
	for (uint32_t i = 0; i < ne; i++)
		if ((e = hostmap_get(m, !strcmp(et[i], ".") ? ns : et[i], fqdn)) != NULL)
			return e;
	const char *h = host[0] == '*' ? host + 1 : host;
	for (uint32_t i = 0; m->slot && i < m->nwild; i++) {
		const hostent *x = &m->v[m->wild[i]];
		if (strcmp(x->scope, "*") && strcmp(x->scope, ns))
			continue;
		size_t lh = strlen(h), ls = strlen(x->fqdn + 1);
		if (lh >= ls && !strcmp(h + lh - ls, x->fqdn + 1))
			return x;
	}
	return NULL;
}

/* The port numbers of an entry. */
static uint32_t hostent_ports(const hostent *e, uint32_t *out, uint32_t max)
{
	uint32_t n = 0;
	if (e->svc) {
		for (uint32_t i = 0; i < e->svc->nports && n < max; i++)
			out[n++] = e->svc->ports[i].port;
		return n;
	}
	yaml_node_t *ports = im_get(e->se, e->se->spec, "ports"), *p;
	if (ports && ports->type == YAML_SEQUENCE_NODE)
		IM_SEQ_FOREACH(e->se, ports, p)
		{
			const char *num = im_scalar(im_get(e->se, p, "number"));
			if (n < max)
				out[n++] = num ? (uint32_t)strtoul(num, NULL, 10) : 0;
		}
	return n;
}

/* --- VirtualServices' destinations (util: getRouteDestinations, getHTTPMirrorDestinations) --- */

typedef struct {
	yaml_node_t *dest; /* the destination mapping */
	int mirror;
} vsdest;

/* Every destination of a VirtualService: tcp, tls and http routes, then http mirrors. */
static uint32_t destinations(idoc *dc, vsdest *out, uint32_t max)
{
	static const char *const protos[] = {"tcp", "tls", "http"};
	uint32_t n = 0;
	yaml_node_t *rules, *rule, *route, *item, *d;
	for (int p = 0; p < 3; p++) {
		rules = im_get(dc, dc->spec, protos[p]);
		if (!rules || rules->type != YAML_SEQUENCE_NODE)
			continue;
		IM_SEQ_FOREACH(dc, rules, rule)
		{
			route = im_get(dc, rule, "route");
			if (!route || route->type != YAML_SEQUENCE_NODE)
				continue;
			IM_SEQ_FOREACH(dc, route, item)
			{
				d = im_get(dc, item, "destination");
				if (d && d->type == YAML_MAPPING_NODE && n < max)
					out[n++] = (vsdest){d, 0};
			}
		}
	}
	rules = im_get(dc, dc->spec, "http");
	if (rules && rules->type == YAML_SEQUENCE_NODE)
		IM_SEQ_FOREACH(dc, rules, rule)
		{
			d = im_get(dc, rule, "mirror");
			if (d && d->type == YAML_MAPPING_NODE && n < max)
				out[n++] = (vsdest){d, 1};
			yaml_node_t *mirrors = im_get(dc, rule, "mirrors");
			if (mirrors && mirrors->type == YAML_SEQUENCE_NODE)
				IM_SEQ_FOREACH(dc, mirrors, item)
				{
					d = im_get(dc, item, "destination");
					if (d && d->type == YAML_MAPPING_NODE && n < max)
						out[n++] = (vsdest){d, 1};
				}
		}
	return n;
}

static int live_vs(const idoc *dc)
{
	return istio_is(dc, IK_VIRTUALSERVICE) && im_live(dc) && dc->spec;
}

#define MAX_DESTS 512

/* DestinationHostAnalyzer: destinations and mirrors that name no host of the registry, ports
 * a host does not have or must be chosen among; and subsets an ingress route cannot reach. */
void ist_destination_hosts(mp_import *im)
{
	hostmap m;
	vsdest *ds = mp_malloc(MAX_DESTS * sizeof(*ds));
	if (!ds) {
		im->oom = 1;
		return;
	}
	hostmap_build(im, &m);
	for (uint32_t i = 0; i < im->ndocs && !im->oom; i++) {
		idoc *vs = &im->docs[i];
		if (!live_vs(vs))
			continue;
		const char *ns = im_str_of(im, vs->ns);
		yaml_node_t *et = im_get(vs, vs->spec, "exportTo");
		uint32_t nd = destinations(vs, ds, MAX_DESTS);
		for (uint32_t k = 0; k < nd; k++) {
			yaml_node_t *hn = im_get(vs, ds[k].dest, "host");
			const char *host = im_scalar(hn);
			if (!host)
				continue;
			const hostent *e = destination_host(im, &m, ns, vs, et, host);
			if (!e) {
				ist_report(im, vs, hn, "ReferencedResourceNotFound",
				           "Referenced %s not found: \"%s\"",
				           ds[k].mirror ? "mirror host" : "host", host);
				continue;
			}
			uint32_t ports[64], np = hostent_ports(e, ports, 64);
			yaml_node_t *port = im_get(vs, ds[k].dest, "port");
			if (!port || im_is_null(port)) {
				if (np < 2)
					continue;
				char list[512];
				ist_go_list(list, sizeof(list), NULL, ports, np);
				ist_report(
				    im, vs, hn, "VirtualServiceDestinationPortSelectorRequired",
				    "This VirtualService routes to a service \"%s\" that exposes "
				    "multiple ports %s. Specifying a port in the destination is "
				    "required to disambiguate.",
				    host, list);
				continue;
			}
			const char *num = im_scalar(im_get(vs, port, "number"));
			uint32_t want = num ? (uint32_t)strtoul(num, NULL, 10) : 0, p;
			for (p = 0; p < np && ports[p] != want; p++)
				;
			if (p == np)
				ist_report(im, vs, hn, "ReferencedResourceNotFound",
				           "Referenced host:port not found: \"%s:%u\"", host, want);
		}
	}
	/* IngressRouteRulesNotAffected: a gateway's route without subset to a host another
	 * VirtualService splits by subset for its own host */
	for (uint32_t i = 0; i < im->ndocs && !im->oom; i++) {
		idoc *vs = &im->docs[i];
		yaml_node_t *gws, *rules, *rule, *route, *item;
		if (!live_vs(vs) || !(gws = im_get(vs, vs->spec, "gateways")) ||
		    gws->type != YAML_SEQUENCE_NODE ||
		    gws->data.sequence.items.top == gws->data.sequence.items.start ||
		    !(rules = im_get(vs, vs->spec, "http")) || rules->type != YAML_SEQUENCE_NODE)
			continue;
		IM_SEQ_FOREACH(vs, rules, rule)
		{
			if (!(route = im_get(vs, rule, "route")) ||
			    route->type != YAML_SEQUENCE_NODE)
				continue;
			IM_SEQ_FOREACH(vs, route, item)
			{
				yaml_node_t *d = im_get(vs, item, "destination");
				yaml_node_t *hn = im_get(vs, d, "host");
				const char *host = im_scalar(hn);
				if (!host || im_scalar(im_get(vs, d, "subset")))
					continue;
				for (uint32_t j = 0; j < im->ndocs; j++) {
					idoc *o = &im->docs[j];
					const char *oh[256];
					if (!live_vs(o))
						continue;
					uint32_t no =
					    strings_of(o, im_get(o, o->spec, "hosts"), oh, 256);
					uint32_t nd = destinations(o, ds, MAX_DESTS);
					for (uint32_t k = 0; k < nd; k++) {
						const char *dh =
						    im_scalar(im_get(o, ds[k].dest, "host"));
						if (ds[k].mirror || !dh || strcmp(dh, host) ||
						    !im_scalar(im_get(o, ds[k].dest, "subset")))
							continue;
						for (uint32_t x = 0; x < no; x++)
							if (!strcmp(oh[x], dh))
								ist_report(
								    im, vs, hn,
								    "IngressRouteRulesNotAffected",
								    "Subset in virtual service "
								    "%s/%s has "
								    "no effect on ingress gateway "
								    "%s/%s "
								    "requests",
								    im_str_of(im, o->ns),
								    im_str_of(im, o->name),
								    im_str_of(im, vs->ns),
								    im_str_of(im, vs->name));
					}
				}
			}
		}
	}
	mp_free(ds);
}

/* util.GetResourceNameFromHost: (namespace, name) of NAME.NS.svc.cluster.local, else
 * (ns, host). Into "ns/name". */
static void resource_name(const char *ns, const char *host, char *buf, size_t len)
{
	static const char suffix[] = ".svc.cluster.local";
	size_t lh = strlen(host), ls = sizeof(suffix) - 1;
	if (lh > ls && !strcmp(host + lh - ls, suffix)) {
		size_t body = lh - ls;
		const char *dot = NULL;
		for (size_t i = body; i-- > 0;)
			if (host[i] == '.') {
				dot = host + i;
				break;
			}
		if (dot && dot > host && (size_t)(dot - host) + 1 < body) {
			snprintf(buf, len, "%.*s/%.*s", (int)(body - (size_t)(dot - host) - 1),
			         dot + 1, (int)(dot - host), host);
			return;
		}
	}
	snprintf(buf, len, "%s/%s", ns, host);
}

/* DestinationRuleAnalyzer: a subset no DestinationRule of the host defines (any namespace,
 * any exportTo). */
/* A live DestinationRule by its host's resource name (ns/name), for the subset lookups. */
typedef struct {
	const char *name;
	uint32_t doc;
} drname;

static int cmp_drname(const void *x, const void *y)
{
	const drname *a = x, *b = y;
	int c = strcmp(a->name, b->name);
	return c ? c : (a->doc > b->doc) - (a->doc < b->doc);
}

/* The live DestinationRules with a host, sorted by its resource name (in the arena); NULL and
 * im->oom when out of memory. */
static drname *dr_names(mp_import *im, uint32_t *n)
{
	istio_state *st = istio_of(im);
	char have[600], fqdn[600];
	drname *v = mp_arena_alloc(&st->arena, (im->ndocs + 1) * sizeof(*v));
	*n = 0;
	if (!v) {
		im->oom = 1;
		return NULL;
	}
	for (uint32_t j = 0; j < im->ndocs; j++) {
		idoc *dr = &im->docs[j];
		const char *dh;
		if (!istio_is(dr, IK_DESTINATIONRULE) || !im_live(dr) ||
		    !(dh = im_scalar(im_get(dr, dr->spec, "host"))))
			continue;
		const char *dns = im_str_of(im, dr->ns);
		resource_name(dns, ist_fqdn(im, dns, dh, fqdn, sizeof(fqdn)), have, sizeof(have));
		if (!(v[*n].name = mp_arena_str(&st->arena, have))) {
			im->oom = 1;
			return NULL;
		}
		v[(*n)++].doc = j;
	}
	qsort(v, *n, sizeof(*v), cmp_drname);
	return v;
}

void ist_destination_subsets(mp_import *im)
{
	char want[600];
	uint32_t ndr;
	drname *drs = dr_names(im, &ndr);
	vsdest *ds = mp_malloc(MAX_DESTS * sizeof(*ds));
	if (!ds || !drs) {
		im->oom = 1;
		mp_free(ds);
		return;
	}
	for (uint32_t i = 0; i < im->ndocs && !im->oom; i++) {
		idoc *vs = &im->docs[i];
		if (!live_vs(vs))
			continue;
		uint32_t nd = destinations(vs, ds, MAX_DESTS);
		for (uint32_t k = 0; k < nd; k++) {
			yaml_node_t *hn = im_get(vs, ds[k].dest, "host");
			const char *host = im_scalar(hn);
			const char *subset = im_scalar(im_get(vs, ds[k].dest, "subset"));
			if (!host || !subset || !*subset)
				continue;
			resource_name(im_str_of(im, vs->ns), host, want, sizeof(want));
			int found = 0;
			uint32_t lo = 0, hi = ndr;
			while (lo < hi) { /* the first DestinationRule of that name */
				uint32_t mid = (lo + hi) / 2;
				if (strcmp(drs[mid].name, want) < 0)
					lo = mid + 1;
				else
					hi = mid;
			}
			for (uint32_t j = lo; j < ndr && !found && !strcmp(drs[j].name, want);
			     j++) {
				idoc *dr = &im->docs[drs[j].doc];
				yaml_node_t *subs, *sub;
				if (!(subs = im_get(dr, dr->spec, "subsets")) ||
				    subs->type != YAML_SEQUENCE_NODE)
					continue;
				IM_SEQ_FOREACH(dr, subs, sub)
				{
					const char *n = im_scalar(im_get(dr, sub, "name"));
					found |= n && !strcmp(n, subset);
				}
			}
			if (!found)
				ist_report(
				    im, vs, hn, "ReferencedResourceNotFound",
				    "Referenced %s+subset in destinationrule not found: \"%s+%s\"",
				    ds[k].mirror ? "mirror" : "host", host, subset);
		}
	}
	mp_free(ds);
}

/* --- GatewayAnalyzer: gateways named, and their servers' hosts --- */

/* Does the name point at a gateway Istio generates for a Kubernetes Gateway? */
static int internal_gateway(const char *ref)
{
	const char *slash = strchr(ref, '/');
	const char *name = slash ? slash + 1 : ref;
	return strstr(name, "-istio-autogenerated-k8s-gateway-") != NULL ||
	       strstr(name, "~istio-autogenerated-k8s-gateway~") != NULL;
}

static idoc *find_gateway(mp_import *im, const char *ns, const char *name, mp_id cluster)
{
	for (uint32_t i = 0; i < im->ndocs; i++) {
		idoc *g = &im->docs[i];
		if (istio_is(g, IK_GATEWAY) && im_live(g) && g->cluster == cluster &&
		    !strcmp(im_str_of(im, g->ns), ns) && !strcmp(im_str_of(im, g->name), name))
			return g;
	}
	return NULL;
}

/* A gateway.networking.k8s.io Gateway named ns/name in cluster (gateways.go,
 * vsHostInKubernetesGateway), as the Gateway API's provider reads it: 1 when one exists, with
 * *match set when a listener without a hostname, or one whose hostname matches one of the n
 * VirtualService hosts, accepts them. */
static int kubernetes_gateway(mp_import *im, const char *ns, const char *name, mp_id cluster,
                              const char *const *hosts, uint32_t n, int *match)
{
	im_gateway g;
	*match = 0;
	if (!im_gateway_find(im, ns, name, cluster, &g))
		return 0;
	*match = g.any_host;
	for (uint32_t i = 0; i < g.nhosts && !*match; i++)
		for (uint32_t k = 0; k < n && !*match; k++)
			*match = ist_host_matches(g.hosts[i], hosts[k]);
	return 1;
}

/* Does some server host of Gateway gw, as a VirtualService of namespace vsns sees it
 * (sanitizeServerHostNamespace, then host.NamesForNamespace), match one of the hosts? */
static int hosts_in_gateway(mp_import *im, idoc *gw, const char *vsns, const char *const *hosts,
                            uint32_t nh)
{
	yaml_node_t *servers = im_get(gw, gw->spec, "servers"), *s, *list, *h;
	const char *gwns = im_str_of(im, gw->ns);
	if (!servers || servers->type != YAML_SEQUENCE_NODE)
		return 0;
	IM_SEQ_FOREACH(gw, servers, s)
	{
		if (!(list = im_get(gw, s, "hosts")) || list->type != YAML_SEQUENCE_NODE)
			continue;
		int all = 0;
		IM_SEQ_FOREACH(gw, list, h)
		{
			const char *x = im_scalar(h);
			all |= x && !strcmp(x, "*/*");
		}
		IM_SEQ_FOREACH(gw, list, h)
		{
			const char *x = im_scalar(h), *slash;
			char ns[256];
			if (!x)
				continue;
			if (all)
				x = "*";
			else if ((slash = strchr(x, '/')) != NULL) {
				snprintf(ns, sizeof(ns), "%.*s", (int)(slash - x), x);
				/* "./h": the gateway's namespace; "*" before the slash: every one
				 */
				if (!strcmp(ns, ".") ? strcmp(gwns, vsns)
				                     : strcmp(ns, "*") && strcmp(ns, vsns))
					continue;
				x = slash + 1;
			}
			for (uint32_t k = 0; k < nh; k++)
				if (ist_host_matches(x, hosts[k]))
					return 1;
			if (all)
				break;
		}
	}
	return 0;
}

void ist_vs_gateways(mp_import *im)
{
	for (uint32_t i = 0; i < im->ndocs && !im->oom; i++) {
		idoc *vs = &im->docs[i];
		yaml_node_t *gws, *g;
		if (!live_vs(vs) || !(gws = im_get(vs, vs->spec, "gateways")) ||
		    gws->type != YAML_SEQUENCE_NODE)
			continue;
		const char *hosts[256], *vsns = im_str_of(im, vs->ns);
		uint32_t nh = strings_of(vs, im_get(vs, vs->spec, "hosts"), hosts, 256);
		char hostlist[2048];
		ist_go_list(hostlist, sizeof(hostlist), hosts, NULL, nh);
		IM_SEQ_FOREACH(vs, gws, g)
		{
			const char *ref = im_scalar(g), *slash;
			char ns[256], name[256];
			if (!ref || !strcmp(ref, "mesh"))
				continue;
			if (internal_gateway(ref)) {
				ist_report(im, vs, g, "ReferencedInternalGateway",
				           "Gateway reference in VirtualService %s/%s is to an "
				           "implementation-generated internal Gateway: %s.",
				           vsns, im_str_of(im, vs->name), ref);
				continue;
			}
			slash = strchr(ref, '/');
			snprintf(ns, sizeof(ns), "%.*s",
			         slash ? (int)(slash - ref) : (int)strlen(vsns),
			         slash ? ref : vsns);
			snprintf(name, sizeof(name), "%s", slash ? slash + 1 : ref);
			idoc *gw = find_gateway(im, ns, name, vs->cluster);
			int match = 0;
			if (gw)
				match = hosts_in_gateway(im, gw, vsns, hosts, nh);
			else if (!kubernetes_gateway(im, ns, name, vs->cluster, hosts, nh, &match))
				ist_report(im, vs, g, "ReferencedResourceNotFound",
				           "Referenced gateway not found: \"%s\"", ref);
			if (!match)
				ist_report(
				    im, vs, g, "VirtualServiceHostNotFoundInGateway",
				    "one or more host %s defined in VirtualService %s/%s not found "
				    "in Gateway %s/%s.",
				    hostlist, vsns, im_str_of(im, vs->name), ns, name);
		}
	}
}

/* --- ConflictingMeshGatewayHostsAnalyzer --- */

typedef struct {
	const char *key;  /* scope/fqdn */
	const char *host; /* its fqdn part */
	int all;          /* scope "*" */
	uint32_t *vs;     /* documents */
	uint32_t nvs;
} meshkey;

/* The key's index in keys (by the open-addressing slots: index + 1, 0 empty), or the number of
 * keys when it is not there; *at gets the slot it is in or would go to. */
static uint32_t key_find(const meshkey *keys, const uint32_t *slots, uint32_t nslots,
                         const char *key, uint32_t *at)
{
	uint32_t h = 2166136261u;
	if (!nslots) {
		if (at)
			*at = 0;
		return UINT32_MAX;
	}
	for (const unsigned char *p = (const unsigned char *)key; *p; p++)
		h = (h ^ *p) * 16777619u;
	for (uint32_t k = h & (nslots - 1);; k = (k + 1) & (nslots - 1)) {
		if (!slots[k] || !strcmp(keys[slots[k] - 1].key, key)) {
			if (at)
				*at = k;
			return slots[k] ? slots[k] - 1 : UINT32_MAX;
		}
	}
}

/* Room for twice the keys, every key placed again. -1 when out of memory. */
static int key_rehash(const meshkey *keys, uint32_t nkeys, uint32_t **slots, uint32_t *nslots)
{
	uint32_t n = *nslots ? *nslots : 64;
	while (n < 4 * nkeys)
		n *= 2;
	uint32_t *s = mp_calloc(n, sizeof(uint32_t));
	if (!s)
		return -1;
	for (uint32_t i = 0; i + 1 < nkeys; i++) { /* the newest is placed by the caller */
		uint32_t at;
		key_find(keys, s, n, keys[i].key, &at);
		s[at] = i + 1;
	}
	mp_free(*slots);
	*slots = s;
	*nslots = n;
	return 0;
}

static int applies_to_mesh(idoc *dc)
{
	const char *gws[64];
	uint32_t n = strings_of(dc, im_get(dc, dc->spec, "gateways"), gws, 64);
	for (uint32_t i = 0; i < n; i++)
		if (!strcmp(gws[i], "mesh"))
			return 1;
	return n == 0;
}

void ist_mesh_gateway_hosts(mp_import *im)
{
	istio_state *st = istio_of(im);
	meshkey *keys = NULL;
	uint32_t nkeys = 0, cap = 0, *slots = NULL, nslots = 0, *alls = NULL, nall = 0;
	char fqdn[600], key[900];
	uint8_t *reported = mp_calloc(im->ndocs + 1, 1);
	if (!reported) {
		im->oom = 1;
		return;
	}
	for (uint32_t i = 0; i < im->ndocs && !im->oom; i++) {
		idoc *vs = &im->docs[i];
		if (!live_vs(vs) || !applies_to_mesh(vs))
			continue;
		const char *hosts[256], *et[64], *ns = im_str_of(im, vs->ns);
		uint32_t nh = strings_of(vs, im_get(vs, vs->spec, "hosts"), hosts, 256);
		yaml_node_t *etn = im_get(vs, vs->spec, "exportTo");
		uint32_t ne = ist_export_all(vs, etn) ? 0 : strings_of(vs, etn, et, 64);
		for (uint32_t s = 0; s < (ne ? ne : 1); s++) {
			const char *scope = !ne ? "*" : !strcmp(et[s], ".") ? ns : et[s];
			for (uint32_t h = 0; h < nh && !im->oom; h++) {
				snprintf(key, sizeof(key), "%s/%s", scope,
				         ist_fqdn(im, ns, hosts[h], fqdn, sizeof(fqdn)));
				uint32_t k = key_find(keys, slots, nslots, key, NULL);
				if (k == UINT32_MAX) {
					k = nkeys;
					if (mp_grow((void **)&keys, &cap, sizeof(*keys), nkeys,
					            16) < 0) {
						im->oom = 1;
						break;
					}
					char *copy = mp_arena_str(&st->arena, key);
					if (!copy) {
						im->oom = 1;
						break;
					}
					keys[nkeys++] = (meshkey){copy, copy + strlen(scope) + 1,
					                          !strcmp(scope, "*"), NULL, 0};
					if (2 * nkeys > nslots &&
					    key_rehash(keys, nkeys, &slots, &nslots) < 0) {
						im->oom = 1;
						break;
					}
					uint32_t at;
					key_find(keys, slots, nslots, key, &at);
					slots[at] = nkeys;
				}
				uint32_t *nv = mp_arena_alloc(&st->arena,
				                              (keys[k].nvs + 1) * sizeof(uint32_t));
				if (!nv) {
					im->oom = 1;
					break;
				}
				if (keys[k].nvs)
					memcpy(nv, keys[k].vs, keys[k].nvs * sizeof(uint32_t));
				nv[keys[k].nvs++] = i;
				keys[k].vs = nv;
			}
		}
	}
	/* each key in the order first seen (Istio walks a map: its order is random) */
	uint32_t *list = mp_malloc((im->ndocs * 4 + 1) * sizeof(uint32_t));
	if ((alls = mp_malloc((nkeys + 1) * sizeof(uint32_t))))
		for (uint32_t k = 0; k < nkeys; k++)
			if (keys[k].all)
				alls[nall++] = k;
	for (uint32_t k = 0; k < nkeys && list && alls && !im->oom; k++) {
		uint32_t n = 0;
		for (uint32_t x = 0; x < keys[k].nvs && n < im->ndocs * 4; x++)
			list[n++] = keys[k].vs[x];
		if (!keys[k].all)
			for (uint32_t ai = 0, o; ai < nall && (o = alls[ai], 1); ai++)
				if (ist_host_matches(keys[k].host, keys[o].host))
					for (uint32_t x = 0; x < keys[o].nvs && n < im->ndocs * 4;
					     x++)
						list[n++] = keys[o].vs[x];
		if (n < 2)
			continue;
		char names[4096] = "";
		for (uint32_t x = 0; x < n; x++) {
			size_t at = strlen(names);
			snprintf(names + at, sizeof(names) - at, "%s%s/%s", x ? "," : "",
			         im_str_of(im, im->docs[list[x]].ns),
			         im_str_of(im, im->docs[list[x]].name));
		}
		for (uint32_t x = 0; x < n; x++) {
			idoc *vs = &im->docs[list[x]];
			if (reported[list[x]])
				continue;
			reported[list[x]] = 1;
			ist_report(
			    im, vs, ist_name_node(vs), "ConflictingMeshGatewayVirtualServiceHosts",
			    "The VirtualServices %s associated with mesh gateway define the same "
			    "host %s which can lead to undefined behavior. This can be fixed by "
			    "merging the conflicting VirtualServices into a single resource.",
			    names, keys[k].key);
		}
	}
	if (!list || !alls)
		im->oom = 1;
	mp_free(list);
	mp_free(alls);
	mp_free(keys);
	mp_free(slots);
	mp_free(reported);
}

/* --- JWTClaimRouteAnalyzer --- */

#define CLAIM_PREFIX "@request.auth.claims."

/* The first header or withoutHeaders key of an http match that routes on a JWT claim. */
static const char *claim_key(idoc *dc)
{
	yaml_node_t *rules = im_get(dc, dc->spec, "http"), *rule, *m, *k, *v;
	static const char *const maps[] = {"headers", "withoutHeaders"};
	if (!rules || rules->type != YAML_SEQUENCE_NODE)
		return NULL;
	IM_SEQ_FOREACH(dc, rules, rule)
	{
		yaml_node_t *matches = im_get(dc, rule, "match");
		if (!matches || matches->type != YAML_SEQUENCE_NODE)
			continue;
		IM_SEQ_FOREACH(dc, matches, m)
		{
			for (int i = 0; i < 2; i++) {
				yaml_node_t *h = im_get(dc, m, maps[i]);
				if (!h || h->type != YAML_MAPPING_NODE)
					continue;
				IM_MAP_FOREACH(dc, h, k, v)
				{
					const char *key = im_scalar(k);
					if (key &&
					    !strncmp(key, CLAIM_PREFIX, sizeof(CLAIM_PREFIX) - 1))
						return key;
				}
			}
		}
	}
	return NULL;
}

/* Does a RequestAuthentication of istio-system or the pod's namespace select the pod? */
static int has_request_authn(mp_import *im, const ist_pod *p)
{
	for (uint32_t i = 0; i < im->ndocs; i++) {
		idoc *ra = &im->docs[i];
		const char *ns = im_str_of(im, ra->ns);
		if (!istio_is(ra, IK_REQUESTAUTHENTICATION) || !im_live(ra) ||
		    !ist_same_cluster(p->cluster, ra->cluster) ||
		    (strcmp(ns, "istio-system") && strcmp(ns, p->ns)))
			continue;
		ist_labels sel;
		ist_labels_of(im, ra, im_get(ra, im_get(ra, ra->spec, "selector"), "matchLabels"),
		              &sel);
		if (ist_selects(&sel, &p->labels))
			return 1;
	}
	return 0;
}

void ist_jwt_claim_routes(mp_import *im)
{
	istio_state *st = istio_of(im);
	ist_view(im);
	for (uint32_t i = 0; i < im->ndocs && !im->oom; i++) {
		idoc *vs = &im->docs[i];
		const char *key, *gws[64];
		if (!live_vs(vs) || !(key = claim_key(vs)))
			continue;
		uint32_t ng = strings_of(vs, im_get(vs, vs->spec, "gateways"), gws, 64);
		for (uint32_t g = 0; g < ng; g++) {
			const char *slash = strchr(gws[g], '/');
			char ns[256], name[256];
			if (!strcmp(gws[g], "mesh"))
				continue;
			snprintf(ns, sizeof(ns), "%.*s",
			         slash ? (int)(slash - gws[g]) : (int)strlen(im_str_of(im, vs->ns)),
			         slash ? gws[g] : im_str_of(im, vs->ns));
			snprintf(name, sizeof(name), "%s", slash ? slash + 1 : gws[g]);
			idoc *gw = find_gateway(im, ns, name, vs->cluster);
			if (!gw)
				continue; /* the gateway analyzer reports it */
			ist_labels sel;
			ist_labels_of(im, gw, im_get(gw, gw->spec, "selector"), &sel);
			for (uint32_t p = 0; p < st->npods; p++) {
				const ist_pod *pod = &st->pods[p];
				if (!ist_same_cluster(pod->cluster, gw->cluster) ||
				    !ist_selects(&sel, &pod->labels) || has_request_authn(im, pod))
					continue;
				ist_report(
				    im, vs, NULL, "JwtClaimBasedRoutingWithoutRequestAuthN",
				    "The virtual service uses the JWT claim based routing (key: "
				    "%s) "
				    "but found no request authentication for the gateway (%s/%s) "
				    "pod "
				    "(%s). The request authentication must first be applied for "
				    "the "
				    "gateway pods to validate the JWT token and make the claims "
				    "available for routing.",
				    key, ns, name, pod->name);
			}
		}
	}
}

/* --- schema validation: rules no request reaches (validation.go) --- */

/* Istio's names in these messages: "#N", or the quoted name of an HTTP rule or match. */
static void rule_name(idoc *dc, yaml_node_t *n, uint32_t i, int http, char *buf, size_t len)
{
	const char *name = http ? im_scalar(im_get(dc, n, "name")) : NULL;
	if (name && *name)
		snprintf(buf, len, "\"%s\"", name);
	else
		snprintf(buf, len, "#%u", i);
}

/* Go's zero values, which encoding/json leaves out of a proto message (omitempty). */
static int zero_json(const json_t *j)
{
	return json_is_null(j) || json_is_false(j) ||
	       (json_is_integer(j) && !json_integer_value(j)) ||
	       (json_is_real(j) && json_real_value(j) == 0.0) ||
	       (json_is_string(j) && !json_string_length(j)) ||
	       (json_is_object(j) && !json_object_size(j)) ||
	       (json_is_array(j) && !json_array_size(j));
}

/* The match as asJSON sees it: zero values dropped, keys sorted, an HTTP match's name left out. */
static void normalize(json_t *j)
{
	const char *k;
	json_t *v;
	void *tmp;
	size_t i;
	if (json_is_object(j)) {
		json_object_foreach_safe(j, tmp, k, v)
		{
			normalize(v);
			if (zero_json(v))
				json_object_del(j, k);
		}
	} else if (json_is_array(j)) {
		json_array_foreach(j, i, v) normalize(v);
	}
}

static char *match_key(idoc *dc, yaml_node_t *m, int http)
{
	json_t *j = im_json(dc, m);
	if (!j)
		return NULL;
	if (http && json_is_object(j))
		json_object_del(j, "name");
	normalize(j);
	char *s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
	json_decref(j);
	return s;
}

/* genMatchHTTPRoutes: a match with a uri prefix, for the overlap check. */
typedef struct {
	char route[300], match[300];
	const char *prefix;
	uint32_t port;
	char method[300], authority[300];
	yaml_node_t *headers, *query, *without; /* string-match maps */
	idoc *dc;
	yaml_node_t *node;
} prefixmatch;

/* assignExactOrPrefix of a StringMatch node. */
static void exact_or_prefix(idoc *dc, yaml_node_t *sm, char *buf, size_t len)
{
	const char *e = im_scalar(im_get(dc, sm, "exact")),
	           *p = im_scalar(im_get(dc, sm, "prefix"));
	if (e && *e)
		snprintf(buf, len, "exact:%s", e);
	else if (p && *p)
		snprintf(buf, len, "prefix:%s", p);
	else
		buf[0] = '\0';
}

/* Do the string-match maps a (earlier) and b (later) cover alike (coveredValidation)? */
static int maps_covered(idoc *dc, yaml_node_t *a, yaml_node_t *b)
{
	yaml_node_t *k, *v;
	size_t na = a && a->type == YAML_MAPPING_NODE
	                ? (size_t)(a->data.mapping.pairs.top - a->data.mapping.pairs.start)
	                : 0;
	size_t nb = b && b->type == YAML_MAPPING_NODE
	                ? (size_t)(b->data.mapping.pairs.top - b->data.mapping.pairs.start)
	                : 0;
	if (na != nb)
		return 0;
	if (!na)
		return 1;
	IM_MAP_FOREACH(dc, a, k, v)
	{
		const char *key = im_scalar(k);
		yaml_node_t *bv = key ? im_get(dc, b, key) : NULL;
		char va[300], vb[300];
		if (!bv)
			return 0;
		exact_or_prefix(dc, v, va, sizeof(va));
		exact_or_prefix(dc, bv, vb, sizeof(vb));
		if (strcmp(va, vb) && strncmp(va, vb, strlen(vb)))
			return 0;
	}
	return 1;
}

static int covered(const prefixmatch *a, const prefixmatch *b)
{
	if (strncmp(b->prefix, a->prefix, strlen(a->prefix)) || a->port != b->port)
		return 0;
	if (strcmp(a->method, b->method) && strncmp(a->method, b->method, strlen(b->method)))
		return 0;
	if (strcmp(a->authority, b->authority) &&
	    strncmp(a->authority, b->authority, strlen(b->authority)))
		return 0;
	return maps_covered(a->dc, a->headers, b->headers) &&
	       maps_covered(a->dc, a->query, b->query) &&
	       maps_covered(a->dc, a->without, b->without);
}

static void unreachable(mp_import *im, idoc *dc, const char *proto)
{
	yaml_node_t *rules = im_get(dc, dc->spec, proto), *rule, *matches, *m;
	int http = !strcmp(proto, "http");
	char rn[300], mn[300], dn[300];
	if (!rules || rules->type != YAML_SEQUENCE_NODE)
		return;
	size_t cap = 1;
	IM_SEQ_FOREACH(dc, rules, rule)
	{
		matches = im_get(dc, rule, "match");
		cap += matches && matches->type == YAML_SEQUENCE_NODE
		           ? (size_t)(matches->data.sequence.items.top -
		                      matches->data.sequence.items.start)
		           : 0;
	}
	char **seen = mp_calloc(cap, sizeof(char *));
	uint32_t *seen_rule = mp_calloc(cap, sizeof(uint32_t)), nseen = 0, rulen = 0;
	prefixmatch *pm = http ? mp_calloc(cap, sizeof(*pm)) : NULL;
	uint32_t npm = 0;
	int empty = -1;
	if (!seen || !seen_rule || (http && !pm)) {
		im->oom = 1;
		goto out;
	}
	IM_SEQ_FOREACH(dc, rules, rule)
	{
		uint32_t n = 0, dups = 0, matchn = 0;
		matches = im_get(dc, rule, "match");
		if (matches && matches->type == YAML_SEQUENCE_NODE)
			n = (uint32_t)(matches->data.sequence.items.top -
			               matches->data.sequence.items.start);
		rule_name(dc, rule, rulen, http, rn, sizeof(rn));
		if (!n) {
			if (empty >= 0)
				ist_report(
				    im, dc, rule, "VirtualServiceUnreachableRule",
				    "VirtualService rule %s not used (only the last rule can have "
				    "no matches).",
				    rn);
			empty = (int)rulen++;
			continue;
		}
		IM_SEQ_FOREACH(dc, matches, m)
		{
			char *key = match_key(dc, m, http);
			uint32_t k;
			if (!key) {
				im->oom = 1;
				goto out;
			}
			for (k = 0; k < nseen && strcmp(seen[k], key); k++)
				;
			rule_name(dc, m, matchn, http, mn, sizeof(mn));
			if (k < nseen) {
				uint32_t d = seen_rule[k];
				rule_name(dc, im_node(dc, rules->data.sequence.items.start[d]), d,
				          http, dn, sizeof(dn));
				ist_report(im, dc, m, "VirtualServiceIneffectiveMatch",
				           "VirtualService rule %s match %s is not used (duplicate/"
				           "overlapping match in rule %s).",
				           rn, mn, dn);
				dups++;
				free(key);
			} else {
				seen[nseen] = key;
				seen_rule[nseen++] = rulen;
				const char *prefix =
				    http ? im_scalar(im_get(dc, im_get(dc, m, "uri"), "prefix"))
				         : NULL;
				if (prefix && *prefix) {
					prefixmatch *p = &pm[npm++];
					snprintf(p->route, sizeof(p->route), "%s", rn);
					snprintf(p->match, sizeof(p->match), "%s", mn);
					p->prefix = prefix;
					const char *port = im_scalar(im_get(dc, m, "port"));
					p->port = port ? (uint32_t)strtoul(port, NULL, 10) : 0;
					exact_or_prefix(dc, im_get(dc, m, "method"), p->method,
					                sizeof(p->method));
					if (!p->method[0])
						snprintf(p->method, sizeof(p->method), "exact:GET");
					exact_or_prefix(dc, im_get(dc, m, "authority"),
					                p->authority, sizeof(p->authority));
					p->headers = im_get(dc, m, "headers");
					p->query = im_get(dc, m, "queryParams");
					p->without = im_get(dc, m, "withoutHeaders");
					p->dc = dc;
					p->node = m;
				}
			}
			matchn++;
		}
		if (dups == n)
			ist_report(
			    im, dc, rule, "VirtualServiceUnreachableRule",
			    "VirtualService rule %s not used (all matches used by prior rules).",
			    rn);
		rulen++;
	}
	/* overlapping prefixes: an earlier match's prefix (and the rest) covers a later one */
	for (uint32_t a = 0; npm > 1 && a < npm; a++)
		for (uint32_t b = a + 1; b < npm; b++) {
			if (!strcmp(pm[a].prefix, pm[b].prefix) || !covered(&pm[a], &pm[b]))
				continue;
			ist_report(
			    im, dc, pm[b].node, "VirtualServiceIneffectiveMatch",
			    "VirtualService rule %s match %s of prefix %s is not used (duplicate/"
			    "overlapping match in rule %s of prefix %s on %s).",
			    pm[b].route, pm[b].match, pm[b].prefix, pm[a].match, pm[a].prefix,
			    pm[a].route);
		}
out:
	for (uint32_t i = 0; seen && i < nseen; i++)
		free(seen[i]);
	mp_free(seen);
	mp_free(seen_rule);
	mp_free(pm);
}

void ist_virtualservice_rules(mp_import *im)
{
	for (uint32_t i = 0; i < im->ndocs && !im->oom; i++) {
		idoc *dc = &im->docs[i];
		if (!live_vs(dc))
			continue;
		unreachable(im, dc, "http");
		unreachable(im, dc, "tls");
		unreachable(im, dc, "tcp");
	}
}

/* --- destinationrule.PodNotSelectedAnalyzer (subset.go) --- */

/* pilot's label.AugmentLabels: the pod's labels with its Node's locality (its non-empty
 * region, zone, subzone) and kubernetes.io/hostname. */
static void augmented(mp_import *im, const ist_pod *pod, ist_label *out, uint32_t max,
                      ist_labels *l)
{
	static const char *const topo[] = {"topology.kubernetes.io/region",
	                                   "topology.kubernetes.io/zone",
	                                   "topology.istio.io/subzone"};
	const char *node = pod->dc ? im_scalar(im_get(pod->dc, pod->spec, "nodeName")) : NULL;
	uint32_t n = 0;
	const char *add[4][2] = {{NULL, NULL}};
	uint32_t na = 0;
	for (uint32_t i = 0; node && *node && i < im->ndocs; i++) {
		idoc *nd = &im->docs[i];
		if (!k8s_is(nd, K8S_NODE) || !im_live(nd) || strcmp(im_str_of(im, nd->name), node))
			continue;
		yaml_node_t *labels = im_get(nd, nd->meta, "labels");
		for (int k = 0; k < 3; k++) {
			const char *v = im_scalar(im_get(nd, labels, topo[k]));
			if (v && *v) {
				add[na][0] = topo[k];
				add[na++][1] = v;
			}
		}
		break;
	}
	if (node && *node) {
		add[na][0] = "kubernetes.io/hostname";
		add[na++][1] = node;
	}
	for (uint32_t i = 0; i < pod->labels.n && n < max; i++) {
		uint32_t k;
		for (k = 0; k < na && strcmp(add[k][0], pod->labels.v[i].key); k++)
			;
		if (k == na)
			out[n++] = pod->labels.v[i];
	}
	for (uint32_t k = 0; k < na && n < max; k++)
		out[n++] = (ist_label){add[k][0], add[k][1]};
	*l = (ist_labels){out, n};
}

/* Every pod's augmented labels, and the pods by label (key, value), built once: a subset's
 * selector is tried on the pods that carry its first label, not on every pod. */
typedef struct {
	const char *key, *value;
	uint32_t pod;
} podlabel;

typedef struct {
	ist_labels *aug; /* per pod */
	podlabel *by;    /* sorted by key, value, pod */
	uint32_t nby;
} podindex;

static int cmp_podlabel(const void *x, const void *y)
{
	const podlabel *a = x, *b = y;
	int c = strcmp(a->key, b->key);
	if (!c)
		c = strcmp(a->value, b->value);
	return c ? c : (a->pod > b->pod) - (a->pod < b->pod);
}

static int podindex_build(mp_import *im, podindex *x)
{
	istio_state *st = istio_of(im);
	uint32_t total = 0;
	x->aug = mp_arena_alloc(&st->arena, (st->npods + 1) * sizeof(ist_labels));
	if (!x->aug)
		return -1;
	for (uint32_t p = 0; p < st->npods; p++) {
		ist_label buf[128];
		ist_labels pl;
		augmented(im, &st->pods[p], buf, 128, &pl);
		ist_label *copy = mp_arena_alloc(&st->arena, (pl.n + 1) * sizeof(ist_label));
		if (!copy)
			return -1;
		if (pl.n)
			memcpy(copy, pl.v, pl.n * sizeof(ist_label));
		x->aug[p] = (ist_labels){copy, pl.n};
		total += pl.n;
	}
	if (!(x->by = mp_arena_alloc(&st->arena, (total + 1) * sizeof(podlabel))))
		return -1;
	for (uint32_t p = 0; p < st->npods; p++)
		for (uint32_t k = 0; k < x->aug[p].n; k++)
			x->by[x->nby++] = (podlabel){x->aug[p].v[k].key, x->aug[p].v[k].value, p};
	qsort(x->by, x->nby, sizeof(podlabel), cmp_podlabel);
	return 0;
}

/* Does the selector select a pod of the cluster (ist_selects on its augmented labels)? */
static int podindex_selects(const istio_state *st, const podindex *x, const ist_labels *sel,
                            mp_id cluster)
{
	if (!sel->n) { /* selects everything: any pod of the cluster */
		for (uint32_t p = 0; p < st->npods; p++)
			if (ist_same_cluster(st->pods[p].cluster, cluster))
				return 1;
		return 0;
	}
	podlabel want = {sel->v[0].key, sel->v[0].value, 0};
	uint32_t lo = 0, hi = x->nby;
	while (lo < hi) {
		uint32_t mid = (lo + hi) / 2;
		if (cmp_podlabel(&x->by[mid], &want) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (; lo < x->nby && !strcmp(x->by[lo].key, want.key) &&
	       !strcmp(x->by[lo].value, want.value);
	     lo++) {
		uint32_t p = x->by[lo].pod;
		if (ist_same_cluster(st->pods[p].cluster, cluster) && ist_selects(sel, &x->aug[p]))
			return 1;
	}
	return 0;
}

void ist_destination_rule_hosts(mp_import *im)
{
	istio_state *st = istio_of(im);
	hostmap m;
	podindex px = {0};
	hostmap_build(im, &m);
	if (!im->oom && podindex_build(im, &px) < 0)
		im->oom = 1;
	for (uint32_t i = 0; i < im->ndocs && !im->oom; i++) {
		idoc *dr = &im->docs[i];
		yaml_node_t *hn, *subs, *sub;
		const char *host;
		if (!istio_is(dr, IK_DESTINATIONRULE) || !im_live(dr) ||
		    !(host = im_scalar(hn = im_get(dr, dr->spec, "host"))))
			continue;
		const hostent *e = destination_host(im, &m, im_str_of(im, dr->ns), dr,
		                                    im_get(dr, dr->spec, "exportTo"), host);
		if (!e) {
			ist_report(im, dr, NULL, "UnknownDestinationRuleHost",
			           "The host %s defined in the DestinationRule does not match any "
			           "services "
			           "in the mesh.",
			           host);
			continue;
		}
		if (!(subs = im_get(dr, dr->spec, "subsets")) || subs->type != YAML_SEQUENCE_NODE)
			continue;
		ist_labels ws = {NULL, 0};
		if (e->se)
			ist_labels_of(
			    im, e->se,
			    im_get(e->se, im_get(e->se, e->se->spec, "workloadSelector"), "labels"),
			    &ws);
		IM_SEQ_FOREACH(dr, subs, sub)
		{
			const char *name = im_scalar(im_get(dr, sub, "name"));
			ist_labels sl;
			ist_label merged[128];
			uint32_t n = 0;
			ist_labels_of(im, dr, im_get(dr, sub, "labels"), &sl);
			/* labels.Merge(workloadSelector, subset): the subset's win */
			for (uint32_t k = 0; k < ws.n && n < 128; k++)
				if (!ist_label_value(&sl, ws.v[k].key))
					merged[n++] = ws.v[k];
			for (uint32_t k = 0; k < sl.n && n < 128; k++)
				merged[n++] = sl.v[k];
			ist_labels sel = {merged, n};
			int found = podindex_selects(st, &px, &sel, dr->cluster);
			if (!found)
				ist_report(im, dr, NULL, "DestinationRuleSubsetNotSelectPods",
				           "The Subset %s defined in the DestinationRule does not "
				           "select any "
				           "pods. Which may lead to 503 UH (NoHealthyUpstream).",
				           name ? name : "");
		}
	}
}
