/* routes_linkerd.c: Linkerd's outbound configuration in the model. A mirrored service (the
 * service mirror's copy of another cluster's exported Service) is that cluster's: its traffic
 * lands on the remote pods, so routes to it cross clusters and residency sees where.
 * ServiceProfiles become routes from any caller, and win over HTTPRoutes whose parent is a
 * Service, which the Gateway API's provider maps as Linkerd reads them (its row in
 * provider_linkerd.c; Linkerd's own policy.linkerd.io HTTPRoutes go through the same code).
 * Inbound HTTPRoutes (a Server parent) are authorization, not routes (linkerd_authz.h). Mapping:
 * docs/import.md ("Linkerd"). */
#include "linkerd_int.h"
#include "providers/kubernetes/kubernetes_int.h"
#include "scalar.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* --- mirrored services (linkerd/linkerd2 multicluster/service-mirror/cluster_watcher.go) --- */

#define MIRRORED    "mirror.linkerd.io/mirrored-service"
#define MIRROR_FROM "mirror.linkerd.io/cluster-name"
#define MIRROR_OF   "mirror.linkerd.io/remote-svc-fq-name"

/* The remote service a mirror stands for: its FQDN annotation (NAME.NS.svc.DOMAIN), else its
 * own name without "-CLUSTER" in its own namespace. */
static mp_id remote_of(mp_import *im, idoc *dc, const char *cluster)
{
	const char *fq = im_scalar(im_get(dc, im_get(dc, dc->meta, "annotations"), MIRROR_OF));
	char name[256], ns[256];
	if (fq && sscanf(fq, "%255[^.].%255[^.].svc", name, ns) == 2)
		return mp_gwapi_service(im, ns, name);
	const char *self = im_str_of(im, dc->name);
	size_t n = strlen(self), c = strlen(cluster);
	if (n <= c + 1 || self[n - c - 1] != '-' || strcmp(self + n - c, cluster))
		return MP_NONE;
	snprintf(name, sizeof(name), "%.*s", (int)(n - c - 1), self);
	return mp_gwapi_service(im, im_str_of(im, dc->ns), name);
}

static void mirror(mp_import *im, idoc *dc)
{
	const char *from = im_scalar(im_get(dc, im_get(dc, dc->meta, "labels"), MIRROR_FROM));
	mp_id sid = dc->ns_id == MP_NONE
	                ? MP_NONE
	                : im->host->lookup(im->host->ctx, MP_IMPORT_SERVICE, dc->ns_id, dc->name);
	if (!from || sid == MP_NONE)
		return;
	mp_id cluster = im_cluster(im, from, dc->loc), remote = remote_of(im, dc, from);
	if (cluster == MP_NONE)
		return;
	mp_model_view v = mp_model_get_view(im->m);
	mp_service s = v.services[sid];
	s.clusters = (mp_span){mp_model_push_u32(im->m, &cluster, 1), 1};
	if (remote != MP_NONE) {
		v = mp_model_get_view(im->m); /* the push may have moved the pool */
		const mp_service *r = &v.services[remote];
		mp_str data[128];
		uint32_t nd = 0;
		for (uint32_t i = 0; i < s.data.n && nd < 128; i++)
			data[nd++] = v.u32[s.data.off + i];
		for (uint32_t i = 0; i < r->data.n && nd < 128; i++) {
			uint32_t k;
			for (k = 0; k < nd && data[k] != v.u32[r->data.off + i]; k++)
				;
			if (k == nd)
				data[nd++] = v.u32[r->data.off + i];
		}
		if (nd > s.data.n)
			s.data = (mp_span){mp_model_push_u32(im->m, data, nd), nd};
		s.identity = r->identity;
		s.owner = s.owner ? s.owner : r->owner;
		for (uint32_t w = 0; w < im->nwl; w++) {
			iworkload *wl = &im->wl[w];
			uint32_t k;
			for (k = 0; k < wl->nsvc && wl->svc[k] != remote; k++)
				;
			if (wl->cluster == cluster && k < wl->nsvc && wl->nsvc < 16)
				wl->svc[wl->nsvc++] = sid;
		}
	}
	if (s.clusters.off == MP_NONE || s.data.off == MP_NONE) {
		im->oom = 1;
		return;
	}
	*mp_model_service_mut(im->m, sid) = s;
}

void mp_linkerd_mirrors(mp_import *im)
{
	if (!linkerd_of(im)->present)
		return;
	for (uint32_t i = 0; i < im->ndocs && !im->oom; i++) {
		idoc *dc = &im->docs[i];
		const char *m = im_scalar(im_get(dc, im_get(dc, dc->meta, "labels"), MIRRORED));
		if (k8s_is(dc, K8S_SERVICE) && im_live(dc) && dc->dead != 2 && m &&
		    !strcmp(m, "true"))
			mirror(im, dc);
	}
}

/* --- routes --- */

typedef struct {
	mp_import *im;
	idoc *dc;
	mp_id parent; /* the service a ServiceProfile describes */
} rctx;

/* Does a ServiceProfile describe service sid? It wins over HTTPRoutes for the service's
 * outbound traffic (linkerd.io reference/httproute.md). */
int mp_linkerd_profiled(mp_import *im, mp_id sid)
{
	char fq[600];
	mp_model_view v = mp_model_get_view(im->m);
	for (uint32_t i = 0; i < im->ndocs; i++) {
		idoc *dc = &im->docs[i];
		if (!linkerd_is(dc, LK_SERVICEPROFILE) || !im_live(dc))
			continue;
		snprintf(fq, sizeof(fq), "%s.%s.svc.", im_str_of(im, v.services[sid].name),
		         mp_model_str(im->m, v.namespaces[v.services[sid].ns].name));
		if (!strncmp(im_str_of(im, dc->name), fq, strlen(fq)))
			return 1;
	}
	return 0;
}

/* Timeouts and retries from Linkerd's annotations on the route (reference/timeouts.md,
 * reference/retries.md); a rule's timeouts.request wins over the annotation. */
void mp_linkerd_route_annotations(mp_import *im, idoc *dc, mp_route *rt)
{
	yaml_node_t *ann = im_get(dc, dc->meta, "annotations");
	const char *t = im_scalar(im_get(dc, ann, "timeout.linkerd.io/request"));
	const char *retry = im_scalar(im_get(dc, ann, "retry.linkerd.io/http"));
	const char *limit = im_scalar(im_get(dc, ann, "retry.linkerd.io/limit"));
	const char *per_try = im_scalar(im_get(dc, ann, "retry.linkerd.io/timeout"));
	(void)im;
	if (!retry)
		retry = im_scalar(im_get(dc, ann, "retry.linkerd.io/grpc"));
	if (t)
		mp_parse_duration(t, &rt->timeout_ms);
	if (retry) {
		rt->retry_attempts = limit ? (uint32_t)strtoul(limit, NULL, 10) : 1;
		if (per_try)
			mp_parse_duration(per_try, &rt->per_try_timeout_ms);
	}
}

/* One route from any caller to the profiled service. */
static void add(rctx *x, const char *name, const mp_route *tmpl, yaml_node_t *at)
{
	mp_target dest = {MP_TARGET_SERVICE, x->parent, MP_NONE, 100, im_loc(x->dc, at), 0, 0};
	const mp_target *t[3] = {&dest, NULL, NULL};
	const uint32_t n[3] = {1, 0, 0};
	mp_route rt = *tmpl;
	rt.source = MP_NONE;
	rt.loc = im_loc(x->dc, at);
	im_add_route(x->im, name, &rt, t, n);
}

/* A ServiceProfile request condition's path and method (an `all` contributes its members';
 * `any` and `not` cannot narrow the route: it admits more). */
static void condition(rctx *x, yaml_node_t *c, mp_match *out)
{
	yaml_node_t *all = im_get(x->dc, c, "all"), *item;
	const char *re = im_scalar(im_get(x->dc, c, "pathRegex"));
	const char *method = im_scalar(im_get(x->dc, c, "method"));
	if (re && !out->path_kind) {
		out->path_kind = MP_PATH_REGEX;
		out->path = im_intern(x->im, re);
	}
	if (method && !out->methods)
		out->methods = mp_method_bit(method);
	if (all && all->type == YAML_SEQUENCE_NODE)
		IM_SEQ_FOREACH(x->dc, all, item)
		{
			condition(x, item, out);
		}
}

/* A ServiceProfile, named SERVICE.NS.svc.DOMAIN: one route per route of it to that service
 * (linkerd.io 2.17 reference/service-profiles.md). A retryable route's retries are bounded by
 * the budget's ratio, not a count: it counts as one attempt. */
static void profile(mp_import *im, idoc *dc)
{
	char svc[256], ns[256], name[900];
	yaml_node_t *routes = im_get(dc, dc->spec, "routes"), *r;
	rctx x = {.im = im, .dc = dc};
	if (sscanf(im_str_of(im, dc->name), "%255[^.].%255[^.].svc.", svc, ns) != 2 ||
	    (x.parent = mp_gwapi_service(im, ns, svc)) == MP_NONE || !routes ||
	    routes->type != YAML_SEQUENCE_NODE)
		return;
	uint32_t i = 0;
	IM_SEQ_FOREACH(dc, routes, r)
	{
		const char *t = im_scalar(im_get(dc, r, "timeout"));
		const char *retry = im_scalar(im_get(dc, r, "isRetryable"));
		mp_route tmpl;
		memset(&tmpl, 0, sizeof(tmpl));
		if (t)
			mp_parse_duration(t, &tmpl.timeout_ms);
		tmpl.retry_attempts = retry && !strcmp(retry, "true");
		condition(&x, im_get(dc, r, "condition"), &tmpl.match);
		snprintf(name, sizeof(name), "%s/%s:routes[%u]", im_str_of(im, dc->ns),
		         im_str_of(im, dc->name), i++);
		add(&x, name, &tmpl, r);
	}
}

void mp_linkerd_routes(mp_import *im)
{
	if (!linkerd_of(im)->present)
		return;
	for (uint32_t i = 0; i < im->ndocs && !im->oom; i++) {
		idoc *dc = &im->docs[i];
		if (!im_live(dc) || dc->ns_id == MP_NONE)
			continue;
		if (linkerd_is(dc, LK_SERVICEPROFILE))
			profile(im, dc);
		else if (linkerd_is(dc, LK_HTTPROUTE)) /* the Gateway API's: their provider's */
			mp_gwapi_mesh_route(im, dc, &mp_provider_linkerd);
	}
}
