/* routes_linkerd.c: Linkerd's outbound configuration in the model. A mirrored service (the
 * service mirror's copy of another cluster's exported Service) is that cluster's: its traffic
 * lands on the remote pods, so routes to it cross clusters and residency sees where. HTTPRoutes
 * and GRPCRoutes whose parent is a Service, and ServiceProfiles (which win over them), become
 * routes from any caller. Inbound HTTPRoutes (a Server parent) are authorization, not routes
 * (linkerd_authz.h). Mapping: docs/import.md ("Linkerd"). */
#include "linkerd_int.h"
#include "providers/kubernetes/kubernetes_int.h"
#include "scalar.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_TARGETS 64

/* --- mirrored services (linkerd/linkerd2 multicluster/service-mirror/cluster_watcher.go) --- */

#define MIRRORED    "mirror.linkerd.io/mirrored-service"
#define MIRROR_FROM "mirror.linkerd.io/cluster-name"
#define MIRROR_OF   "mirror.linkerd.io/remote-svc-fq-name"

static mp_id service_id(mp_import *im, const char *ns, const char *name)
{
	mp_id nsid = im->host->lookup(im->host->ctx, MP_IMPORT_NAMESPACE, im_intern(im, ns), 0);
	if (nsid == MP_NONE)
		return MP_NONE;
	return im->host->lookup(im->host->ctx, MP_IMPORT_SERVICE, nsid, im_intern(im, name));
}

/* The remote service a mirror stands for: its FQDN annotation (NAME.NS.svc.DOMAIN), else its
 * own name without "-CLUSTER" in its own namespace. */
static mp_id remote_of(mp_import *im, idoc *dc, const char *cluster)
{
	const char *fq = im_scalar(im_get(dc, im_get(dc, dc->meta, "annotations"), MIRROR_OF));
	char name[256], ns[256];
	if (fq && sscanf(fq, "%255[^.].%255[^.].svc", name, ns) == 2)
		return service_id(im, ns, name);
	const char *self = im_str_of(im, dc->name);
	size_t n = strlen(self), c = strlen(cluster);
	if (n <= c + 1 || self[n - c - 1] != '-' || strcmp(self + n - c, cluster))
		return MP_NONE;
	snprintf(name, sizeof(name), "%.*s", (int)(n - c - 1), self);
	return service_id(im, im_str_of(im, dc->ns), name);
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
	mp_route tmpl; /* timeouts and retries of the whole route */
	mp_target dests[MAX_TARGETS];
	uint32_t nd;
	mp_id parent; /* the first Service parent */
} rctx;

/* Does a ServiceProfile describe service sid? It wins over HTTPRoutes for the service's
 * outbound traffic (linkerd.io reference/httproute.md). */
static int has_profile(mp_import *im, mp_id sid)
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

static void add_target(rctx *x, mp_id sid, uint32_t weight, yaml_node_t *at)
{
	if (x->nd < MAX_TARGETS)
		x->dests[x->nd++] =
		    (mp_target){MP_TARGET_SERVICE, sid, MP_NONE, weight, im_loc(x->dc, at), 0, 0};
}

/* Relative weights (the Gateway API's) as the model's percentages; the rounding goes to the
 * first target. */
static void percent(rctx *x)
{
	uint64_t sum = 0, given = 0;
	for (uint32_t i = 0; i < x->nd; i++)
		sum += x->dests[i].weight;
	for (uint32_t i = 0; i < x->nd; i++) {
		x->dests[i].weight = sum ? (uint32_t)(x->dests[i].weight * 100 / sum) : 0;
		given += x->dests[i].weight;
	}
	if (x->nd && sum)
		x->dests[0].weight += (uint32_t)(100 - given);
}

static void backends(rctx *x, yaml_node_t *rule)
{
	yaml_node_t *refs = im_get(x->dc, rule, "backendRefs"), *b;
	char subject[400];
	x->nd = 0;
	if (refs && refs->type == YAML_SEQUENCE_NODE)
		IM_SEQ_FOREACH(x->dc, refs, b)
		{
			const char *kind = im_scalar(im_get(x->dc, b, "kind"));
			const char *group = im_scalar(im_get(x->dc, b, "group"));
			const char *ns = im_scalar(im_get(x->dc, b, "namespace"));
			const char *name = im_scalar(im_get(x->dc, b, "name"));
			const char *w = im_scalar(im_get(x->dc, b, "weight"));
			if ((kind && strcasecmp(kind, "Service")) ||
			    !mp_linkerd_group_is(group, ""))
				continue; /* egress networks and other backends: outside the model
				           */
			mp_id sid = service_id(x->im, ns ? ns : im_str_of(x->im, x->dc->ns),
			                       name ? name : "");
			if (sid == MP_NONE) {
				im_finding(
				    x->im, "BackendNotFound", MP_FINDING_WARNING, im_loc(x->dc, b),
				    im_title(x->im, x->dc, subject, sizeof(subject)),
				    "backendRef Service %s/%s does not exist: requests it would "
				    "take fail",
				    ns ? ns : im_str_of(x->im, x->dc->ns), name ? name : "");
				continue;
			}
			add_target(x, sid, w ? (uint32_t)strtoul(w, NULL, 10) : 1, b);
		}
	else if (x->parent != MP_NONE)
		add_target(x, x->parent, 1, rule);
	percent(x);
}

/* An HTTPRoute match (or a GRPCRoute's) as the model's: path, method, exact headers. Regular
 * expression headers and query parameters are left out: the route admits more. */
static int route_match(rctx *x, yaml_node_t *m, int grpc, mp_match *out)
{
	idoc *dc = x->dc;
	yaml_node_t *headers = im_get(dc, m, "headers"), *h;
	char buf[600];
	memset(out, 0, sizeof(*out));
	if (grpc) {
		yaml_node_t *method = im_get(dc, m, "method");
		const char *svc = im_scalar(im_get(dc, method, "service"));
		const char *meth = im_scalar(im_get(dc, method, "method"));
		out->methods = MP_METHOD_POST;
		if (svc && meth) {
			snprintf(buf, sizeof(buf), "/%s/%s", svc, meth);
			out->path_kind = MP_PATH_EXACT;
		} else if (svc) {
			snprintf(buf, sizeof(buf), "/%s/", svc);
			out->path_kind = MP_PATH_PREFIX;
		}
		if (out->path_kind)
			out->path = im_intern(x->im, buf);
	} else {
		yaml_node_t *path = im_get(dc, m, "path");
		const char *type = im_scalar(im_get(dc, path, "type"));
		const char *value = im_scalar(im_get(dc, path, "value"));
		const char *method = im_scalar(im_get(dc, m, "method"));
		if (value && strcmp(value, "/")) {
			out->path_kind = !type || !strcmp(type, "PathPrefix") ? MP_PATH_PREFIX
			                 : !strcmp(type, "Exact")             ? MP_PATH_EXACT
			                                                      : MP_PATH_REGEX;
			out->path = im_intern(x->im, value);
		} else if (value && type && !strcmp(type, "Exact")) {
			out->path_kind = MP_PATH_EXACT;
			out->path = im_intern(x->im, value);
		}
		out->methods = method ? mp_method_bit(method) : 0;
	}
	if (headers && headers->type == YAML_SEQUENCE_NODE)
		IM_SEQ_FOREACH(dc, headers, h)
		{
			const char *type = im_scalar(im_get(dc, h, "type"));
			const char *name = im_scalar(im_get(dc, h, "name"));
			const char *value = im_scalar(im_get(dc, h, "value"));
			if ((type && strcmp(type, "Exact")) || !name || !value)
				continue;
			if (im_match_header(x->im, name, value, out) < 0)
				return -1;
		}
	return 0;
}

static void add(rctx *x, const char *name, const mp_match *match, yaml_node_t *at)
{
	const mp_target *t[3] = {x->dests, NULL, NULL};
	const uint32_t n[3] = {x->nd, 0, 0};
	mp_route rt = x->tmpl;
	if (!x->nd)
		return;
	rt.source = MP_NONE;
	rt.match = *match;
	rt.loc = im_loc(x->dc, at);
	im_add_route(x->im, name, &rt, t, n);
}

/* Timeouts and retries from Linkerd's annotations on the route (reference/timeouts.md,
 * reference/retries.md); a rule's timeouts.request wins over the annotation. */
static void annotations(rctx *x)
{
	yaml_node_t *ann = im_get(x->dc, x->dc->meta, "annotations");
	const char *t = im_scalar(im_get(x->dc, ann, "timeout.linkerd.io/request"));
	const char *retry = im_scalar(im_get(x->dc, ann, "retry.linkerd.io/http"));
	const char *limit = im_scalar(im_get(x->dc, ann, "retry.linkerd.io/limit"));
	const char *per_try = im_scalar(im_get(x->dc, ann, "retry.linkerd.io/timeout"));
	if (!retry)
		retry = im_scalar(im_get(x->dc, ann, "retry.linkerd.io/grpc"));
	if (t)
		mp_parse_duration(t, &x->tmpl.timeout_ms);
	if (retry) {
		x->tmpl.retry_attempts = limit ? (uint32_t)strtoul(limit, NULL, 10) : 1;
		if (per_try)
			mp_parse_duration(per_try, &x->tmpl.per_try_timeout_ms);
	}
}

static void outbound_route(mp_import *im, idoc *dc)
{
	yaml_node_t *parents = im_get(dc, dc->spec, "parentRefs"), *p, *rules, *rule, *m;
	int grpc = linkerd_is(dc, LK_GRPCROUTE);
	char subject[400], name[900];
	rctx x = {.im = im, .dc = dc, .parent = MP_NONE};
	uint32_t nparents = 0;
	if (!parents || parents->type != YAML_SEQUENCE_NODE)
		return;
	IM_SEQ_FOREACH(dc, parents, p)
	{
		const char *kind = im_scalar(im_get(dc, p, "kind"));
		const char *group = im_scalar(im_get(dc, p, "group"));
		const char *ns = im_scalar(im_get(dc, p, "namespace"));
		const char *pname = im_scalar(im_get(dc, p, "name"));
		if (!kind || strcasecmp(kind, "Service") || !group ||
		    !mp_linkerd_group_is(group, ""))
			continue; /* a Server (inbound), a Gateway, an egress network */
		nparents++;
		mp_id sid = service_id(im, ns ? ns : im_str_of(im, dc->ns), pname ? pname : "");
		if (sid == MP_NONE) {
			im_finding(im, "NoMatchingParent", MP_FINDING_WARNING, im_loc(dc, p),
			           im_title(im, dc, subject, sizeof(subject)),
			           "parentRef Service %s/%s does not exist: the route applies to "
			           "nothing",
			           ns ? ns : im_str_of(im, dc->ns), pname ? pname : "");
			continue;
		}
		if (has_profile(im, sid))
			continue; /* the ServiceProfile's routes stand for it */
		if (x.parent == MP_NONE)
			x.parent = sid;
	}
	if (!nparents || x.parent == MP_NONE || !(rules = im_get(dc, dc->spec, "rules")) ||
	    rules->type != YAML_SEQUENCE_NODE)
		return;
	annotations(&x);
	uint32_t ri = 0;
	IM_SEQ_FOREACH(dc, rules, rule)
	{
		yaml_node_t *matches = im_get(dc, rule, "matches");
		const char *t = im_scalar(im_get(dc, im_get(dc, rule, "timeouts"), "request"));
		mp_route keep = x.tmpl;
		mp_match match;
		if (t)
			mp_parse_duration(t, &x.tmpl.timeout_ms);
		backends(&x, rule);
		uint32_t nm = matches && matches->type == YAML_SEQUENCE_NODE
		                  ? (uint32_t)(matches->data.sequence.items.top -
		                               matches->data.sequence.items.start)
		                  : 0,
		         mi = 0;
		if (!nm) {
			memset(&match, 0, sizeof(match));
			match.methods = grpc ? MP_METHOD_POST : 0;
			snprintf(name, sizeof(name), "%s/%s:rules[%u]", im_str_of(im, dc->ns),
			         im_str_of(im, dc->name), ri);
			add(&x, name, &match, rule);
		} else {
			IM_SEQ_FOREACH(dc, matches, m)
			{
				if (route_match(&x, m, grpc, &match) < 0) {
					im->oom = 1;
					return;
				}
				snprintf(name, sizeof(name),
				         nm > 1 ? "%s/%s:rules[%u].matches[%u]" : "%s/%s:rules[%u]",
				         im_str_of(im, dc->ns), im_str_of(im, dc->name), ri, mi);
				add(&x, name, &match, m);
				mi++;
			}
		}
		x.tmpl = keep;
		ri++;
	}
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
	    (x.parent = service_id(im, ns, svc)) == MP_NONE || !routes ||
	    routes->type != YAML_SEQUENCE_NODE)
		return;
	uint32_t i = 0;
	IM_SEQ_FOREACH(dc, routes, r)
	{
		const char *t = im_scalar(im_get(dc, r, "timeout"));
		const char *retry = im_scalar(im_get(dc, r, "isRetryable"));
		mp_match match;
		memset(&match, 0, sizeof(match));
		memset(&x.tmpl, 0, sizeof(x.tmpl));
		if (t)
			mp_parse_duration(t, &x.tmpl.timeout_ms);
		x.tmpl.retry_attempts = retry && !strcmp(retry, "true");
		condition(&x, im_get(dc, r, "condition"), &match);
		x.nd = 0;
		add_target(&x, x.parent, 100, r);
		snprintf(name, sizeof(name), "%s/%s:routes[%u]", im_str_of(im, dc->ns),
		         im_str_of(im, dc->name), i++);
		add(&x, name, &match, r);
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
		else if (linkerd_is_route(dc))
			outbound_route(im, dc);
	}
}
