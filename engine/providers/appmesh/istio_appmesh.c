/* istio_appmesh.c: the way off App Mesh to Istio, beside the AuthorizationPolicies
 * (export_appmesh.c): the requests that check the export (every route of every virtual service
 * from every caller, and undeclared ones), the rest of the configuration that carries over
 * (PeerAuthentication, Sidecar, VirtualService and DestinationRule, Gateway) and the YAML they
 * are written in. docs/import.md ("The way off App Mesh"). */
#include "alloc.h"
#include "appmesh_export.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* --- the requests that check the export --- */

/* A request a match admits: {"method", "path", "headers", "host"} (host: NULL, the caller's). */
static json_t *request_for(const am_match *mt, uint32_t kind)
{
	json_t *r = json_object(), *h = json_object();
	char path[1200];
	const char *m = "GET";
	if (kind == AM_ROUTE_TCP) {
		json_decref(h);
		return r;
	}
	for (size_t i = 0; method_names[i]; i++)
		if (mt->method == mp_method_bit(method_names[i]))
			m = method_names[i];
	if (kind == AM_ROUTE_GRPC)
		snprintf(path, sizeof(path), "/%s/%s", mt->grpc_service ? mt->grpc_service : "svc",
		         mt->grpc_method ? mt->grpc_method : "Method");
	else
		snprintf(path, sizeof(path), "%s",
		         mt->path_exact ? mt->path_exact
		         : mt->prefix   ? mt->prefix
		                        : "/");
	for (uint32_t i = 0; i < mt->nquery; i++) {
		size_t n = strlen(path);
		snprintf(path + n, sizeof(path) - n, "%c%s=%s", i ? '&' : '?', mt->query[i].name,
		         mt->query[i].exact ? mt->query[i].exact : "1");
	}
	for (uint32_t i = 0; i < mt->nheaders; i++) {
		const am_header *x = &mt->headers[i];
		char v[600];
		if (x->invert && x->how == AM_HM_PRESENT)
			continue;
		snprintf(v, sizeof(v), "%s%s%s", x->how == AM_HM_SUFFIX ? "x" : "",
		         x->how == AM_HM_RANGE ? "" : x->value,
		         x->invert                ? "-other"
		         : x->how == AM_HM_PREFIX ? "x"
		                                  : "");
		if (x->how == AM_HM_RANGE)
			snprintf(v, sizeof(v), "%lld", (long long)x->lo);
		if (x->how == AM_HM_PRESENT)
			snprintf(v, sizeof(v), "1");
		json_object_set_new(h, x->name, json_string(v));
	}
	json_object_set_new(r, "method", json_string(m));
	json_object_set_new(r, "path", json_string(path));
	if (json_object_size(h))
		json_object_set_new(r, "headers", h);
	else
		json_decref(h);
	if (mt->host_exact)
		json_object_set_new(r, "host", json_string(mt->host_exact));
	else if (mt->host_suffix)
		json_object_set_new(r, "host", json_pack("s+", "x", mt->host_suffix));
	return r;
}

typedef struct {
	const char *what;
	json_t *from, *to; /* the source objects of either model's input; NULL to: unverified */
	const char *why;
} caller;

static void add_check(ex *x, const caller *c, mp_id svc, uint32_t port, json_t *req,
                      const char *host)
{
	mp_model_view v = mp_model_get_view(x->m);
	const mp_service *s = &v.services[svc];
	char dest[600];
	snprintf(dest, sizeof(dest), "%s/%s", mp_model_str(x->m, v.namespaces[s->ns].name),
	         mp_model_str(x->m, s->name));
	if (json_object_size(req) && !json_object_get(req, "host") && host)
		json_object_set_new(req, "host", json_string(host));
	const char *what = astr(x, "%s -> %s:%u %s %s", c->what, dest, port,
	                        json_string_value(json_object_get(req, "method"))
	                            ? json_string_value(json_object_get(req, "method"))
	                            : "(connection)",
	                        json_string_value(json_object_get(req, "path"))
	                            ? json_string_value(json_object_get(req, "path"))
	                            : "");
	json_t *from = json_pack("{s:O,s:{s:s,s:i}}", "source", c->from, "destination", "service",
	                         dest, "port", (json_int_t)port);
	if (json_object_size(req))
		json_object_set(from, "request", req);
	json_t *o = json_pack("{s:s,s:o}", "what", what, "from", from);
	if (c->to) {
		json_t *to =
		    json_pack("{s:O,s:{s:s,s:i}}", "source", c->to, "destination", "service", dest,
		              "port", (json_int_t)target_port(x, svc, port));
		if (json_object_size(req))
			json_object_set(to, "request", req);
		json_object_set_new(o, "to", to);
	} else {
		json_object_set_new(o, "unverified", json_string(c->why));
	}
	json_array_append_new(x->checks, o);
	json_decref(req);
}

/* The requests for one caller to one service: on each port App Mesh listens on for it and
 * one it does not, one per route (router or gateway), and undeclared paths. */
static void service_checks(ex *x, const caller *c, mp_id svc)
{
	mp_model_view v = mp_model_get_view(x->m);
	uint32_t ports[16], np = 0;
	const char *host = mp_model_str(x->m, v.services[svc].name);
#define PORT(p)                                                                                    \
	do {                                                                                       \
		uint32_t k_;                                                                       \
		for (k_ = 0; k_ < np && ports[k_] != (p); k_++)                                    \
			;                                                                          \
		if (k_ == np && np < 16)                                                           \
			ports[np++] = (p);                                                         \
	} while (0)
	for (uint32_t i = 0; i < v.services[svc].ports.n; i++)
		PORT(v.ports[v.services[svc].ports.off + i].port);
	PORT(65001); /* no listener's */
	for (uint32_t p = 0; p < np; p++) {
		add_check(x, c, svc, ports[p], json_pack("{s:s,s:s}", "method", "GET", "path", "/"),
		          host);
		add_check(x, c, svc, ports[p],
		          json_pack("{s:s,s:s}", "method", "GET", "path", "/__meshpol/no-route"),
		          host);
		add_check(x, c, svc, ports[p], json_object(), NULL);
	}
	for (uint32_t mi = 0; mi < x->s->nmeshes; mi++) {
		const am_mesh *m = &x->s->meshes[mi];
		const am_vservice *vs = vs_of(m, svc);
		if (vs && vs->target != AM_NONE && vs->provider == AM_PROVIDER_ROUTER) {
			const am_router *rt = &m->routers[vs->target];
			for (uint32_t l = 0; l < rt->nlisteners; l++)
				for (uint32_t r = 0; r < rt->nroutes; r++)
					add_check(
					    x, c, svc, rt->listeners[l].port,
					    request_for(&rt->routes[r].match, rt->routes[r].kind),
					    vs->o.name);
		} else if (vs && vs->target != AM_NONE && vs->provider == AM_PROVIDER_NODE) {
			const am_node *t = &m->nodes[vs->target];
			for (uint32_t l = 0; l < t->nlisteners; l++)
				add_check(x, c, svc, t->listeners[l].port,
				          json_pack("{s:s,s:s}", "method", "GET", "path", "/"),
				          vs->o.name);
		}
		for (uint32_t gi = 0; gi < m->ngateways; gi++) {
			const am_gateway *g = &m->gateways[gi];
			for (uint32_t f = 0; f < g->nfronts; f++) {
				if (g->fronts[f].service != svc)
					continue;
				for (uint32_t pi = 0; pi < g->fronts[f].nports; pi++)
					for (uint32_t r = 0; r < g->nroutes; r++)
						add_check(x, c, svc, g->fronts[f].ports[pi],
						          request_for(&g->routes[r].match,
						                      g->routes[r].kind),
						          host);
			}
		}
	}
#undef PORT
}

/* Every caller (each node with pods, plaintext, a foreign certificate) to every service App
 * Mesh has a say on; hosts outside the cluster are listed as not verified. */
void mp_amx_checks(ex *x)
{
	mp_model_view v = mp_model_get_view(x->m);
	uint8_t *svcs = mp_calloc(v.nservices ? v.nservices : 1, 1);
	if (!svcs)
		return;
	for (uint32_t mi = 0; mi < x->s->nmeshes; mi++) {
		const am_mesh *m = &x->s->meshes[mi];
		for (uint32_t i = 0; i < m->nservices; i++)
			if (m->services[i].service != MP_NONE)
				svcs[m->services[i].service] = 1;
		for (uint32_t i = 0; i < m->nnodes; i++)
			for (uint32_t p = 0; p < m->nodes[i].nfronts; p++)
				svcs[m->nodes[i].fronts[p].service] = 1;
		for (uint32_t i = 0; i < m->ngateways; i++)
			for (uint32_t p = 0; p < m->gateways[i].nfronts; p++)
				svcs[m->gateways[i].fronts[p].service] = 1;
	}
	caller plain = {"plaintext caller", json_pack("{s:s}", "principal", ""),
	                json_pack("{s:s}", "principal", ""), NULL};
	caller foreign = {"foreign certificate",
	                  json_pack("{s:s}", "principal", "spiffe://foreign.example/ns/x/sa/y"),
	                  json_pack("{s:s}", "principal", "spiffe://foreign.example/ns/x/sa/y"),
	                  NULL};
	for (uint32_t s = 0; s < v.nservices; s++)
		if (svcs[s]) {
			service_checks(x, &plain, s);
			service_checks(x, &foreign, s);
		}
	for (uint32_t mi = 0; mi < x->s->nmeshes; mi++) {
		const am_mesh *m = &x->s->meshes[mi];
		for (uint32_t i = 0; i < m->nnodes; i++) {
			const am_node *n = &m->nodes[i];
			caller c = {astr(x, "%s", n->o.title), NULL, NULL, NULL};
			c.from = *n->o.ns ? json_pack("{s:s}", "service",
			                              astr(x, "%s/%s", n->o.ns, n->o.kname))
			                  : json_pack("{s:s}", "service", n->o.name);
			for (uint32_t p = 0; p < n->npods && !c.to; p++)
				if (n->pods[p].injected)
					c.to = json_pack(
					    "{s:s}", "principal",
					    astr(x, "spiffe://%s", principal(x, n, &n->pods[p])));
			if (!c.to)
				c.why = "the node runs no pod: it has no identity the target mesh "
				        "knows";
			for (uint32_t s = 0; s < v.nservices; s++)
				if (svcs[s])
					service_checks(x, &c, s);
			/* egress to hosts outside the cluster: client-side in every target */
			caller out = {
			    c.what, c.from, NULL,
			    "egress to a host outside the cluster: Istio decides it in the "
			    "caller's Sidecar (egress hosts, outboundTrafficPolicy), which meshpol "
			    "does not decide"};
			static const char *const hosts[] = {"example.com",
			                                    "sts.us-east-1.amazonaws.com"};
			for (size_t h = 0; h < 2; h++) {
				json_t *from = json_pack("{s:O,s:{s:s,s:i,s:b}}", "source", c.from,
				                         "destination", "service", hosts[h], "port",
				                         443, "external", 1);
				json_array_append_new(
				    x->checks, json_pack("{s:s,s:o,s:s}", "what",
				                         astr(x, "%s -> %s:443", c.what, hosts[h]),
				                         "from", from, "unverified", out.why));
			}
			json_decref(c.from);
			json_decref(c.to);
		}
	}
	json_decref(plain.from);
	json_decref(plain.to);
	json_decref(foreign.from);
	json_decref(foreign.to);
	mp_free(svcs);
}

/* --- the resources --- */

/* A DNS label from a name (subset names): lower case, [a-z0-9-]. */
const char *label(ex *x, const char *s)
{
	char buf[64];
	size_t n = 0;
	for (; *s && n + 1 < sizeof(buf); s++)
		buf[n++] = (char)((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') ? *s
		                  : (*s >= 'A' && *s <= 'Z')                           ? *s + 32
		                                                                       : '-');
	buf[n] = '\0';
	return astr(x, "%s", buf);
}

json_t *workload_labels(ex *x, mp_id w)
{
	mp_model_view v = mp_model_get_view(x->m);
	const mp_workload *wl = &v.workloads[w];
	json_t *o = json_object();
	for (uint32_t i = 0; i < wl->labels.n; i++)
		json_object_set_new(
		    o, mp_model_str(x->m, v.labels[wl->labels.off + i].key),
		    json_string(mp_model_str(x->m, v.labels[wl->labels.off + i].value)));
	return o;
}

void doc(ex *x, const char *api, const char *kind, const char *ns, const char *name, json_t *spec)
{
	json_t *meta = json_pack("{s:s}", "name", name);
	if (ns)
		json_object_set_new(meta, "namespace", json_string(ns));
	json_array_append_new(x->docs, json_pack("{s:s,s:s,s:o,s:o}", "apiVersion", api, "kind",
	                                         kind, "metadata", meta, "spec", spec));
}

const char *wl_ns(ex *x, mp_id w)
{
	mp_model_view v = mp_model_get_view(x->m);
	return mp_model_str(x->m, v.namespaces[v.workloads[w].ns].name);
}

static const char *const pa_modes[] = {"DISABLE", "DISABLE", "PERMISSIVE", "STRICT"};

/* Per node: its listeners' TLS as PeerAuthentication, its egress as a Sidecar. */
void node_resources(ex *x, const am_mesh *m, const am_node *n)
{
	for (uint32_t p = 0; p < n->npods; p++) {
		if (!n->pods[p].injected)
			continue;
		mp_id w = n->pods[p].workload;
		mp_model_view v = mp_model_get_view(x->m);
		const char *name = label(x, mp_model_str(x->m, v.workloads[w].name));
		const char *sa = node_account(x, n, &n->pods[p]);
		if (strcmp(sa, n->pods[p].service_account)) {
			json_array_append_new(x->docs,
			                      json_pack("{s:s,s:s,s:{s:s,s:s}}", "apiVersion", "v1",
			                                "kind", "ServiceAccount", "metadata",
			                                "name", sa, "namespace", wl_ns(x, w)));
			left_out(
			    x,
			    astr(x, "%s %s/%s", mp_model_str(x->m, v.workloads[w].kind),
			         wl_ns(x, w), mp_model_str(x->m, v.workloads[w].name)),
			    astr(x,
			         "a step of the migration: run its pods as the service account %s "
			         "(spec.template.spec.serviceAccountName; the export writes it): "
			         "they "
			         "run as %s, which other workloads of the namespace share, and "
			         "Istio tells callers apart by service account where App Mesh told "
			         "them by %s",
			         sa, n->pods[p].service_account, n->o.title));
		}
		json_t *levels = json_object();
		for (uint32_t l = 0; l < n->nlisteners; l++) {
			char port[16];
			snprintf(port, sizeof(port), "%u", n->listeners[l].port);
			json_object_set_new(
			    levels, port,
			    json_pack("{s:s}", "mode", pa_modes[n->listeners[l].tls]));
		}
		json_t *pa = json_pack("{s:{s:o},s:{s:s}}", "selector", "matchLabels",
		                       workload_labels(x, w), "mtls", "mode", "PERMISSIVE");
		if (json_object_size(levels))
			json_object_set_new(pa, "portLevelMtls", levels);
		else
			json_decref(levels);
		doc(x, "security.istio.io/v1", "PeerAuthentication", wl_ns(x, w),
		    astr(x, "appmesh-%s", name), pa);
		json_t *hosts = json_array();
		for (uint32_t b = 0; b < n->nbackends; b++)
			json_array_append_new(hosts, json_pack("s+", "*/", n->backends[b].vs));
		json_array_append_new(hosts, json_string("*/*.amazonaws.com"));
		int open = m->egress == AM_ALLOW_ALL && (!n->nbackends || m->allow_all_backends);
		doc(x, "networking.istio.io/v1", "Sidecar", wl_ns(x, w),
		    astr(x, "appmesh-%s", name),
		    json_pack("{s:{s:o},s:[{s:o}],s:{s:s}}", "workloadSelector", "labels",
		              workload_labels(x, w), "egress", "hosts", hosts,
		              "outboundTrafficPolicy", "mode",
		              open ? "ALLOW_ANY" : "REGISTRY_ONLY"));
	}
}

static json_t *istio_match(const am_match *mt, uint32_t kind)
{
	json_t *j = json_object(), *h = json_object(), *wh = json_object();
	if (kind != AM_ROUTE_TCP) {
		if (mt->prefix)
			json_object_set_new(j, "uri", json_pack("{s:s}", "prefix", mt->prefix));
		if (mt->path_exact)
			json_object_set_new(j, "uri", json_pack("{s:s}", "exact", mt->path_exact));
		if (mt->path_regex)
			json_object_set_new(j, "uri", json_pack("{s:s}", "regex", mt->path_regex));
		for (size_t i = 0; mt->method && method_names[i]; i++)
			if (mt->method == mp_method_bit(method_names[i]))
				json_object_set_new(j, "method",
				                    json_pack("{s:s}", "exact", method_names[i]));
		for (uint32_t i = 0; i < mt->nheaders; i++) {
			const am_header *x = &mt->headers[i];
			static const char *const how[] = {"regex",  "exact", "prefix",
			                                  "suffix", "regex", "regex"};
			json_object_set_new(x->invert ? wh : h, x->name,
			                    json_pack("{s:s}", how[x->how],
			                              x->how == AM_HM_PRESENT ? ".*" : x->value));
		}
	}
	if (json_object_size(h))
		json_object_set(j, "headers", h);
	if (json_object_size(wh))
		json_object_set(j, "withoutHeaders", wh);
	json_decref(h);
	json_decref(wh);
	if (mt->port)
		json_object_set_new(j, "port", json_integer(mt->port));
	return j;
}

/* Routes as an Istio VirtualService (in App Mesh's order) with a DestinationRule whose
 * subsets are the target nodes' pods. */
void mp_amx_routes(ex *x, const am_mesh *m, const am_vservice *vs)
{
	mp_model_view v = mp_model_get_view(x->m);
	const am_router *rt = &m->routers[vs->target];
	const char *ns = mp_model_str(x->m, v.namespaces[v.services[vs->service].ns].name);
	json_t *http = json_array(), *tcp = json_array(), *subsets = json_array();
	for (uint32_t i = 0; i < rt->nroutes; i++) {
		const am_route *r = &rt->routes[rt->order[i]];
		json_t *dests = json_array();
		uint32_t sum = 0, given = 0, live = 0;
		for (uint32_t t = 0; t < r->ntargets; t++)
			sum += r->targets[t].weight;
		for (uint32_t t = 0; t < r->ntargets; t++) {
			const am_target *tg = &r->targets[t];
			if (!tg->weight || tg->node == AM_NONE || !sum)
				continue;
			uint32_t wgt = tg->weight * 100 / sum;
			live++;
			given += wgt;
			json_array_append_new(dests, json_pack("{s:{s:s,s:s},s:i}", "destination",
			                                       "host", vs->o.name, "subset",
			                                       label(x, tg->node_name), "weight",
			                                       (json_int_t)wgt));
			const am_node *n = &m->nodes[tg->node];
			json_t *labels = json_object();
			for (uint32_t k = 0; k < n->selector.nlabels; k++)
				json_object_set_new(labels, n->selector.keys[k],
				                    json_string(n->selector.values[k]));
			json_t *sub = json_pack("{s:s,s:o}", "name", label(x, tg->node_name),
			                        "labels", labels);
			size_t k;
			json_t *o;
			int seen = 0;
			json_array_foreach(subsets, k, o)
			{
				seen |= json_equal(o, sub);
			}
			if (!seen)
				json_array_append(subsets, sub);
			json_decref(sub);
		}
		if (!live) {
			json_decref(dests);
			continue;
		}
		json_t *first = json_array_get(dests, 0);
		json_object_set_new(
		    first, "weight",
		    json_integer(json_integer_value(json_object_get(first, "weight")) + 100 -
		                 given));
		json_t *ro = json_pack("{s:s,s:[o],s:o}", "name", r->name, "match",
		                       istio_match(&r->match, r->kind), "route", dests);
		if (r->kind == AM_ROUTE_TCP) {
			json_object_del(ro, "name");
			json_array_append_new(tcp, ro);
			continue;
		}
		if (r->retries)
			json_object_set_new(
			    ro, "retries",
			    json_pack("{s:i,s:s}", "attempts", (json_int_t)r->retries,
			              "perTryTimeout",
			              astr(x, "%ums", r->per_try_ms ? r->per_try_ms : 15000)));
		json_object_set_new(
		    ro, "timeout",
		    json_string(astr(x, "%ums", r->timeout_ms ? r->timeout_ms : 15000)));
		json_array_append_new(http, ro);
	}
	json_t *spec = json_pack("{s:[s]}", "hosts", vs->o.name);
	if (json_array_size(http))
		json_object_set(spec, "http", http);
	if (json_array_size(tcp))
		json_object_set(spec, "tcp", tcp);
	json_decref(http);
	json_decref(tcp);
	doc(x, "networking.istio.io/v1", "VirtualService", ns,
	    astr(x, "appmesh-%s", label(x, vs->o.name)), spec);
	if (json_array_size(subsets))
		doc(x, "networking.istio.io/v1", "DestinationRule", ns,
		    astr(x, "appmesh-%s", label(x, vs->o.name)),
		    json_pack("{s:s,s:O}", "host", vs->o.name, "subsets", subsets));
	json_decref(subsets);
}

/* A virtual gateway as an Istio Gateway on its pods and a VirtualService of its routes, with
 * App Mesh's rewrites. */
void gateway_resources(ex *x, const am_mesh *m, const am_gateway *g)
{
	static const char *const protos[] = {"HTTP", "HTTP2", "GRPC"};
	if (!g->npods) {
		left_out(x, g->o.title,
		         "no pod runs the gateway: nothing for an Istio Gateway to select");
		return;
	}
	mp_id w = g->pods[0].workload;
	json_t *servers = json_array(), *http = json_array();
	for (uint32_t l = 0; l < g->nlisteners; l++) {
		const char *p = g->listeners[l].protocol;
		json_array_append_new(
		    servers, json_pack("{s:{s:i,s:s,s:s},s:[s]}", "port", "number",
		                       (json_int_t)g->listeners[l].port, "name",
		                       astr(x, "%s-%u", p, g->listeners[l].port), "protocol",
		                       !strcmp(p, "http2")  ? protos[1]
		                       : !strcmp(p, "grpc") ? protos[2]
		                                            : protos[0],
		                       "hosts", "*"));
	}
	for (uint32_t i = 0; i < g->nroutes; i++) {
		const am_groute *r = &g->routes[g->order[i]];
		if (r->service == AM_NONE)
			continue;
		const am_vservice *vs = &m->services[r->service];
		json_t *ro = json_pack("{s:s,s:[o],s:[{s:{s:s}}]}", "name", label(x, r->o.name),
		                       "match", istio_match(&r->match, r->kind), "route",
		                       "destination", "host", vs->o.name);
		if (r->port)
			json_object_set_new(
			    json_object_get(json_array_get(json_object_get(ro, "route"), 0),
			                    "destination"),
			    "port", json_pack("{s:i}", "number", (json_int_t)r->port));
		json_t *rw = json_object();
		if (r->path_to)
			json_object_set_new(rw, "uri", json_string(r->path_to));
		else if (r->match.prefix && (r->prefix_to || r->rewrite_prefix))
			json_object_set_new(rw, "uri",
			                    json_string(r->prefix_to ? r->prefix_to : "/"));
		if (r->rewrite_host)
			json_object_set_new(rw, "authority", json_string(vs->o.name));
		if (json_object_size(rw))
			json_object_set_new(ro, "rewrite", rw);
		else
			json_decref(rw);
		json_array_append_new(http, ro);
	}
	const char *name = astr(x, "appmesh-%s", label(x, g->o.name));
	doc(x, "networking.istio.io/v1", "Gateway", wl_ns(x, w), name,
	    json_pack("{s:o,s:o}", "selector", workload_labels(x, w), "servers", servers));
	doc(x, "networking.istio.io/v1", "VirtualService", wl_ns(x, w), name,
	    json_pack("{s:[s],s:[s],s:o}", "hosts", "*", "gateways", name, "http", http));
}

/* --- YAML --- */

/* Can a string be written plain (unquoted) and read back as the same string, in YAML 1.1 and
 * 1.2 alike: a name, a path, a host, not a number, boolean or null? */
static int plain_ok(const char *s)
{
	static const char *const words[] = {"y",   "n",    "yes",   "no",   "on",
	                                    "off", "true", "false", "null", NULL};
	if (!*s || !((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || *s == '/'))
		return 0;
	for (const char *p = s; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || strchr("_./-", *p)))
			return 0;
	for (size_t i = 0; words[i]; i++)
		if (!strcasecmp(s, words[i]))
			return 0;
	return 1;
}

static void yaml_scalar(FILE *f, json_t *v)
{
	if (json_is_string(v) && plain_ok(json_string_value(v))) {
		fputs(json_string_value(v), f);
		return;
	}
	char *s = json_dumps(v, JSON_ENCODE_ANY);
	fputs(s ? s : "null", f);
	free(s);
}

void yaml_value(FILE *f, json_t *v, int indent);

static int yaml_inline(json_t *v)
{
	return !(json_is_object(v) && json_object_size(v)) &&
	       !(json_is_array(v) && json_array_size(v));
}

static void yaml_object(FILE *f, json_t *o, int indent, int first_inline)
{
	const char *k;
	json_t *v;
	int first = 1;
	json_object_foreach(o, k, v)
	{
		if (!(first && first_inline))
			fprintf(f, "%*s", indent, "");
		first = 0;
		json_t *key = json_string(k);
		yaml_scalar(f, key);
		json_decref(key);
		fputc(':', f);
		if (yaml_inline(v)) {
			fputc(' ', f);
			yaml_value(f, v, indent);
			fputc('\n', f);
		} else {
			fputc('\n', f);
			yaml_value(f, v, indent + 2);
		}
	}
}

/* Block YAML of a JSON value (strings double-quoted, as JSON writes them, which YAML reads). */
void yaml_value(FILE *f, json_t *v, int indent)
{
	size_t i;
	json_t *item;
	if (json_is_object(v) && json_object_size(v)) {
		yaml_object(f, v, indent, 0);
	} else if (json_is_array(v) && json_array_size(v)) {
		json_array_foreach(v, i, item)
		{
			fprintf(f, "%*s- ", indent, "");
			if (json_is_object(item) && json_object_size(item)) {
				yaml_object(f, item, indent + 2, 1);
			} else if (yaml_inline(item)) {
				yaml_value(f, item, indent + 2);
				fputc('\n', f);
			} else {
				fputc('\n', f);
				yaml_value(f, item, indent + 2);
			}
		}
	} else if (json_is_object(v)) {
		fputs("{}", f);
	} else if (json_is_array(v)) {
		fputs("[]", f);
	} else {
		yaml_scalar(f, v);
	}
}
