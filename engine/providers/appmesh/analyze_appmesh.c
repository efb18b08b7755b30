/* analyze_appmesh.c: App Mesh's analyzers, rows of the table of checks (check.h), run over the
 * normalized meshes once they are written (the importer's view, appmesh_state.h): backends
 * naming missing virtual services, nodes no pod runs, listeners that take plaintext and open
 * egress on nodes that handle a data class, SAN lists that admit no identity of the mesh,
 * route weights, pods the injector refuses, virtual services without provider, tcp backends
 * App Mesh cannot tell apart, and routes that can never be chosen. docs/import.md ("App
 * Mesh", "Findings"). */
#include "appmesh_int.h"

#include <stdio.h>
#include <string.h>

#define MAX_CLASSES 32

static const mp_amstate *view(mp_import *im)
{
	appmesh_state *st = appmesh_of(im);
	return st->present ? st->view : NULL;
}

static void finding(mp_import *im, const char *code, uint32_t level, const am_at *at,
                    const char *subject, const char *fmt, const char *a, const char *b)
{
	im_finding(im, code, level, at->loc, subject, fmt, a, b);
}

/* The data classes a node's pods handle: their workloads' meshpol.io/data-classes (pod
 * template, then the object), their namespace's and their Services'. Their count. */
static uint32_t data_classes(mp_import *im, const am_node *n)
{
	mp_model_view v = mp_model_get_view(im->m);
	mp_str classes[MAX_CLASSES];
	uint32_t nc = 0;
	for (uint32_t p = 0; p < n->npods; p++) {
		mp_id w = n->pods[p].workload;
		if (w >= im->nwl)
			continue;
		iworkload *wl = &im->wl[w];
		idoc *dc = &im->docs[wl->doc];
		const char *val = im_scalar(im_get(dc, wl->annotations, "meshpol.io/data-classes"));
		if (!val)
			val = im_scalar(im_get(dc, wl->annotations2, "meshpol.io/data-classes"));
		if (!val)
			val = im_meta_value(dc, dc->meta, "meshpol.io/data-classes");
		nc = im_data_classes(im, val, classes, nc, MAX_CLASSES);
		nc += wl->ns < v.nnamespaces ? v.namespaces[wl->ns].data.n : 0;
		for (uint32_t s = 0; s < wl->nsvc; s++)
			nc += v.services[wl->svc[s]].data.n;
	}
	return nc;
}

static void backends(mp_import *im)
{
	const mp_amstate *s = view(im);
	for (uint32_t m = 0; s && m < s->nmeshes; m++)
		for (uint32_t i = 0; i < s->meshes[m].nnodes; i++) {
			const am_node *n = &s->meshes[m].nodes[i];
			for (uint32_t b = 0; b < n->nbackends; b++)
				if (n->backends[b].service == AM_NONE)
					finding(
					    im, "AppMeshBackendUnknownService", MP_FINDING_ERROR,
					    &n->backends[b].at, n->o.title,
					    "%s names %s, no virtual service of the mesh: App Mesh "
					    "refuses the node",
					    n->backends[b].rule, n->backends[b].vs);
		}
}

static void selectors(mp_import *im)
{
	const mp_amstate *s = view(im);
	mp_model_view v = mp_model_get_view(im->m);
	for (uint32_t m = 0; s && m < s->nmeshes; m++)
		for (uint32_t i = 0; i < s->meshes[m].nnodes; i++) {
			const am_node *n = &s->meshes[m].nodes[i];
			uint32_t w;
			if (!n->selector.set || !*n->o.ns)
				continue; /* no podSelector: an external, or the Terraform form */
			for (w = 0; w < v.nworkloads; w++)
				if (!strcmp(
				        mp_model_str(im->m, v.namespaces[v.workloads[w].ns].name),
				        n->o.ns) &&
				    mp_am_selects_workload(im->m, &n->selector, w))
					break;
			if (w == v.nworkloads)
				finding(im, "AppMeshNodeSelectsNoPod", MP_FINDING_WARNING, &n->o.at,
				        n->o.title,
				        "the podSelector selects no pod of namespace %s%s: no "
				        "Envoy runs "
				        "for the node",
				        n->o.ns, "");
		}
}

/* Listeners that take plaintext and open egress, on nodes whose pods handle a data class. */
static void exposure(mp_import *im)
{
	const mp_amstate *s = view(im);
	for (uint32_t m = 0; s && m < s->nmeshes; m++) {
		const am_mesh *mesh = &s->meshes[m];
		for (uint32_t i = 0; i < mesh->nnodes; i++) {
			const am_node *n = &mesh->nodes[i];
			if (!data_classes(im, n))
				continue;
			for (uint32_t l = 0; l < n->nlisteners; l++) {
				const am_listener *ls = &n->listeners[l];
				if (ls->tls == AM_TLS_STRICT)
					continue;
				finding(im, "AppMeshListenerNotStrict", MP_FINDING_WARNING,
				        ls->tls ? &ls->tls_at : &ls->at, n->o.title,
				        "%s: the node handles a data class and its listener admits "
				        "plaintext (%s)",
				        ls->rule_mode,
				        ls->tls == AM_TLS_NONE         ? "no TLS"
				        : ls->tls == AM_TLS_PERMISSIVE ? "PERMISSIVE"
				                                       : "DISABLED");
			}
			if (mesh->egress == AM_ALLOW_ALL &&
			    (!n->nbackends || mesh->allow_all_backends))
				finding(im, "AppMeshOpenEgress", MP_FINDING_WARNING,
				        &mesh->egress_at, n->o.title,
				        "mesh %s is ALLOW_ALL and the node, which handles a data "
				        "class, "
				        "%s: it may send anywhere",
				        mesh->o.name,
				        n->nbackends ? "may send past its backends"
				                     : "declares no backend");
		}
	}
}

/* Is name an identity of the mesh: an SDS certificate's SAN of a node, or a node's service
 * discovery name (the SAN of its file or ACM certificate)? */
static int mesh_identity(const am_mesh *m, const char *name)
{
	for (uint32_t i = 0; i < m->nnodes; i++) {
		const am_node *n = &m->nodes[i];
		if (n->hostname && !strcmp(n->hostname, name))
			return 1;
		for (uint32_t k = 0; k < n->nidentities; k++)
			if (!strcmp(n->identities[k], name))
				return 1;
	}
	for (uint32_t i = 0; i < m->ngateways; i++)
		if (m->gateways[i].defaults.cert && !strcmp(m->gateways[i].defaults.cert, name))
			return 1;
	return 0;
}

static void san_list(mp_import *im, const am_mesh *m, const am_obj *o, const am_validation *v,
                     const char *rule)
{
	if (!v->set || !v->sans)
		return;
	for (uint32_t i = 0; i < v->nsans; i++)
		if (mesh_identity(m, v->sans[i]))
			return;
	finding(im, "AppMeshSANAdmitsNoIdentity", MP_FINDING_WARNING, &v->sans_at, o->title,
	        "%s lists no identity of mesh %s: no node's certificate can pass it", rule,
	        m->o.name);
}

static void sans(mp_import *im)
{
	const mp_amstate *s = view(im);
	for (uint32_t m = 0; s && m < s->nmeshes; m++) {
		const am_mesh *mesh = &s->meshes[m];
		for (uint32_t i = 0; i < mesh->nnodes; i++) {
			const am_node *n = &mesh->nodes[i];
			for (uint32_t l = 0; l < n->nlisteners; l++)
				san_list(im, mesh, &n->o, &n->listeners[l].validation,
				         n->listeners[l].rule_sans);
			san_list(im, mesh, &n->o, &n->defaults.validation, n->defaults.rule_sans);
			for (uint32_t b = 0; b < n->nbackends; b++)
				san_list(im, mesh, &n->o, &n->backends[b].policy.validation,
				         n->backends[b].policy.rule_sans);
		}
		for (uint32_t g = 0; g < mesh->ngateways; g++)
			san_list(im, mesh, &mesh->gateways[g].o,
			         &mesh->gateways[g].defaults.validation,
			         mesh->gateways[g].defaults.rule_sans);
	}
}

static void weights(mp_import *im)
{
	const mp_amstate *s = view(im);
	for (uint32_t m = 0; s && m < s->nmeshes; m++)
		for (uint32_t i = 0; i < s->meshes[m].nrouters; i++) {
			const am_router *rt = &s->meshes[m].routers[i];
			for (uint32_t k = 0; k < rt->nroutes; k++) {
				const am_route *r = &rt->routes[k];
				uint32_t sum = 0;
				char total[32];
				for (uint32_t t = 0; t < r->ntargets; t++)
					sum += r->targets[t].weight;
				/* one target takes everything whatever its weight (relative
				 * weights, api WeightedTarget); several should add up to 100 (the
				 * console's rule, routes.md), and over 100 the API refuses them */
				if (sum && (sum == 100 || (r->ntargets == 1 && sum < 100)))
					continue;
				snprintf(total, sizeof(total), "%u", sum);
				finding(im, "AppMeshRouteWeights", MP_FINDING_WARNING, &r->at,
				        r->title,
				        sum ? "%s: the weights of its targets add up to %s, not 100"
				            : "%s: every target has weight %s: the route forwards "
				              "nothing",
				        r->rule, total);
			}
		}
}

static void refused_pods(mp_import *im)
{
	appmesh_state *st = appmesh_of(im);
	if (!st->present)
		return;
	for (uint32_t i = 0; i < st->ndocs; i++) {
		char title[400];
		idoc *dc = &im->docs[i];
		if (!st->pod_refused[i])
			continue;
		im_finding(
		    im, "AppMeshPodRefused", MP_FINDING_ERROR, dc->loc,
		    im_title(im, dc, title, sizeof(title)),
		    st->pod_refused[i] == 1
		        ? "namespace %s enables App Mesh's injector and no VirtualNode or "
		          "VirtualGateway selects the pods: the webhook refuses them "
		          "(\"sidecarInject enabled but no matching VirtualNode or "
		          "VirtualGateway found\")"
		        : "namespace %s enables App Mesh's injector and several VirtualNodes "
		          "or VirtualGateways select the pods: the webhook refuses them",
		    im_str_of(im, dc->ns));
	}
}

static void providers(mp_import *im)
{
	const mp_amstate *s = view(im);
	for (uint32_t m = 0; s && m < s->nmeshes; m++)
		for (uint32_t i = 0; i < s->meshes[m].nservices; i++) {
			const am_vservice *vs = &s->meshes[m].services[i];
			if (vs->provider == AM_PROVIDER_NONE)
				finding(
				    im, "AppMeshServiceWithoutProvider", MP_FINDING_WARNING,
				    &vs->o.at, vs->o.title,
				    "virtual service %s has no provider: requests to it fail with "
				    "503%s",
				    vs->o.name, "");
		}
}

/* The tcp ports a backend's provider listens on. */
static uint32_t tcp_ports(const am_mesh *m, uint32_t vs, uint32_t *out, uint32_t max)
{
	const am_vservice *v = &m->services[vs];
	const am_listener *ls = NULL;
	uint32_t nl = 0, n = 0;
	if (v->target == AM_NONE)
		return 0;
	if (v->provider == AM_PROVIDER_NODE) {
		ls = m->nodes[v->target].listeners;
		nl = m->nodes[v->target].nlisteners;
	} else if (v->provider == AM_PROVIDER_ROUTER) {
		ls = m->routers[v->target].listeners;
		nl = m->routers[v->target].nlisteners;
	}
	for (uint32_t i = 0; i < nl && n < max; i++)
		if (!strcmp(ls[i].protocol, "tcp"))
			out[n++] = ls[i].port;
	return n;
}

static void tcp_collisions(mp_import *im)
{
	const mp_amstate *s = view(im);
	for (uint32_t m = 0; s && m < s->nmeshes; m++) {
		const am_mesh *mesh = &s->meshes[m];
		for (uint32_t i = 0; i < mesh->nnodes; i++) {
			const am_node *n = &mesh->nodes[i];
			for (uint32_t a = 0; a < n->nbackends; a++)
				for (uint32_t b = a + 1; b < n->nbackends; b++) {
					uint32_t pa[8], pb[8], na, nb;
					if (n->backends[a].service == AM_NONE ||
					    n->backends[b].service == AM_NONE)
						continue;
					na = tcp_ports(mesh, n->backends[a].service, pa, 8);
					nb = tcp_ports(mesh, n->backends[b].service, pb, 8);
					for (uint32_t x = 0; x < na; x++)
						for (uint32_t y = 0; y < nb; y++) {
							char what[600];
							if (pa[x] != pb[y])
								continue;
							snprintf(what, sizeof(what), "%s and %s",
							         n->backends[a].vs,
							         n->backends[b].vs);
							char port[16];
							snprintf(port, sizeof(port), "%u", pa[x]);
							finding(im, "AppMeshTCPPortCollision",
							        MP_FINDING_WARNING,
							        &n->backends[b].at, n->o.title,
							        "backends %s are tcp on port %s: "
							        "App Mesh cannot "
							        "tell them apart",
							        what, port);
							x = na;
							break;
						}
				}
		}
	}
}

/* Does every request route b matches also match a (an earlier route): a's conditions are
 * b's, or looser? */
static int covers(const am_route *a, const am_route *b)
{
	const am_match *x = &a->match, *y = &b->match;
	if (a->kind != b->kind || (x->port && x->port != y->port))
		return 0;
	if (x->method && x->method != y->method)
		return 0;
	if (x->path_regex || x->scheme || x->grpc_method || x->grpc_service || x->nquery)
		return 0;
	if (x->path_exact && (!y->path_exact || strcmp(x->path_exact, y->path_exact)))
		return 0;
	if (x->prefix) {
		const char *yp = y->prefix ? y->prefix : y->path_exact;
		if (!yp || strncmp(yp, x->prefix, strlen(x->prefix)))
			return 0;
	}
	for (uint32_t i = 0; i < x->nheaders; i++) {
		uint32_t k;
		for (k = 0; k < y->nheaders; k++)
			if (!strcmp(x->headers[i].name, y->headers[k].name) &&
			    x->headers[i].how == y->headers[k].how &&
			    x->headers[i].invert == y->headers[k].invert &&
			    !strcmp(x->headers[i].value, y->headers[k].value))
				break;
		if (k == y->nheaders)
			return 0;
	}
	return 1;
}

static void shadowed(mp_import *im)
{
	const mp_amstate *s = view(im);
	for (uint32_t m = 0; s && m < s->nmeshes; m++)
		for (uint32_t i = 0; i < s->meshes[m].nrouters; i++) {
			const am_router *rt = &s->meshes[m].routers[i];
			for (uint32_t k = 1; k < rt->nroutes; k++) {
				const am_route *b = &rt->routes[rt->order[k]];
				for (uint32_t j = 0; j < k; j++) {
					const am_route *a = &rt->routes[rt->order[j]];
					if (!covers(a, b))
						continue;
					finding(im, "AppMeshShadowedRoute", MP_FINDING_WARNING,
					        &b->at, b->title,
					        "%s can never be chosen: %s, tried before it, "
					        "matches every "
					        "request it matches",
					        b->rule, a->rule);
					break;
				}
			}
		}
}

const mp_check_row mp_appmesh_analyzers[] = {
    {.id = "appmesh.backends",
     .codes = MP_CHECK_CODES("AppMeshBackendUnknownService"),
     .phase = MP_CHECK_IMPORT,
     .import = backends},
    {.id = "appmesh.selectors",
     .codes = MP_CHECK_CODES("AppMeshNodeSelectsNoPod"),
     .phase = MP_CHECK_IMPORT,
     .import = selectors},
    {.id = "appmesh.exposure",
     .codes = MP_CHECK_CODES("AppMeshListenerNotStrict", "AppMeshOpenEgress"),
     .phase = MP_CHECK_IMPORT,
     .import = exposure},
    {.id = "appmesh.sans",
     .codes = MP_CHECK_CODES("AppMeshSANAdmitsNoIdentity"),
     .phase = MP_CHECK_IMPORT,
     .import = sans},
    {.id = "appmesh.weights",
     .codes = MP_CHECK_CODES("AppMeshRouteWeights"),
     .phase = MP_CHECK_IMPORT,
     .import = weights},
    {.id = "appmesh.pods",
     .codes = MP_CHECK_CODES("AppMeshPodRefused"),
     .phase = MP_CHECK_IMPORT,
     .import = refused_pods},
    {.id = "appmesh.providers",
     .codes = MP_CHECK_CODES("AppMeshServiceWithoutProvider"),
     .phase = MP_CHECK_IMPORT,
     .import = providers},
    {.id = "appmesh.tcp",
     .codes = MP_CHECK_CODES("AppMeshTCPPortCollision"),
     .phase = MP_CHECK_IMPORT,
     .import = tcp_collisions},
    {.id = "appmesh.shadowed-routes",
     .codes = MP_CHECK_CODES("AppMeshShadowedRoute"),
     .phase = MP_CHECK_IMPORT,
     .import = shadowed},
    /* inline: import_appmesh.c, while the documents are read and placed */
    {.id = "appmesh.membership",
     .codes = MP_CHECK_CODES("AppMeshUnknownField", "AppMeshNoMesh", "AppMeshNoGateway"),
     .phase = MP_CHECK_IMPORT},
    {.id = NULL},
};
