/* routes_kuma.c: Kuma's outbound configuration as routes of the model. A MeshHTTPRoute's to[]
 * items, rules and matches (and a MeshTCPRoute's, for a service no MeshHTTPRoute routes)
 * become routes from the clients its targetRef selects (any caller for Mesh) to its
 * backendRefs with their weights; a Universal Dataplane's outbounds, routes from its services
 * to the services it calls. MeshTimeout and MeshRetry set their timeouts and retries (the
 * most specific to[] item wins: a MeshHTTPRoute over a MeshService over Mesh, then the later
 * policy in Kuma's order); MeshLoadBalancingStrategy's locality awareness keeps traffic in the
 * client's zone, or fails it over to others, which residency sees. Mapping: docs/import.md
 * ("Kuma"). */
#include "kuma_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_TARGETS 64
#define MAX_SOURCES 256

typedef struct {
	mp_import *im;
	idoc *dc;     /* the route's document; NULL for a Dataplane's outbound */
	uint32_t doc; /* its index, UINT32_MAX for an outbound */
	mp_str mesh;
	mp_target t[3][MAX_TARGETS];
	uint32_t n[3];
	yaml_node_t *la; /* the localityAwareness that applies to a target, in la_doc */
	idoc *la_doc;
} rctx;

/* --- which clients: a policy's top-level targetRef --- */

/* The services of the dataplanes a policy's targetRef selects, into out; 1 when it selects
 * every client (Mesh, or none), else 0 with *n of them. */
static int sources_of(mp_import *im, uint32_t doc, mp_id *out, uint32_t *n)
{
	kuma_state *st = kuma_of(im);
	km_policy p = mp_kuma_policy(im, doc);
	const char *kind = json_string_value(json_object_get(p.ref, "kind"));
	km_inbound kin[64];
	*n = 0;
	if (!kind || !strcmp(kind, "Mesh"))
		return 1;
	for (uint32_t i = 0; i < st->ndps; i++) {
		km_dp *d = &st->dps[i];
		km_dataplane kd = {d->labels, im_str_of(im, im->docs[d->doc].name)};
		uint32_t nin = d->nin < 64 ? d->nin : 64;
		for (uint32_t k = 0; k < nin; k++)
			kin[k] = (km_inbound){d->in[k].port, d->in[k].name, d->in[k].tags};
		if (!km_selects_dataplane(&p, &kd, kin, nin))
			continue;
		for (uint32_t k = 0; k < d->nin; k++) {
			uint32_t j;
			mp_id s = d->in[k].svc;
			for (j = 0; j < *n && out[j] != s; j++)
				;
			if (s != MP_NONE && j == *n && *n < MAX_SOURCES)
				out[(*n)++] = s;
		}
	}
	return 0;
}

/* Does a policy apply to a route from source (MP_NONE: any caller)? */
static int applies_to(mp_import *im, uint32_t doc, mp_id source)
{
	mp_id srcs[MAX_SOURCES];
	uint32_t n;
	if (sources_of(im, doc, srcs, &n))
		return 1;
	for (uint32_t i = 0; source != MP_NONE && i < n; i++)
		if (srcs[i] == source)
			return 1;
	return 0;
}

/* --- targets --- */

static mp_id external_ref(mp_import *im, idoc *dc, yaml_node_t *ref)
{
	const char *name = im_scalar(im_get(dc, ref, "name"));
	const char *ns = im_scalar(im_get(dc, ref, "namespace"));
	const char *dn = im_scalar(im_get(dc, im_get(dc, ref, "labels"), KM_LABEL_DISPLAY));
	char buf[600];
	snprintf(buf, sizeof(buf), "%s/%s",
	         ns         ? ns
	         : dc->form ? mp_kuma_mesh_of(im, dc)
	                    : im_str_of(im, dc->ns),
	         name ? name
	         : dn ? dn
	              : "");
	return mp_model_find_external(im->m, buf);
}

static void finding(rctx *x, yaml_node_t *at, const char *code, const char *what, yaml_node_t *ref)
{
	char subject[400];
	const char *name = im_scalar(im_get(x->dc, ref, "name"));
	const char *dn = im_scalar(im_get(x->dc, im_get(x->dc, ref, "labels"), KM_LABEL_DISPLAY));
	im_finding(x->im, code, MP_FINDING_WARNING, im_loc(x->dc, at),
	           mp_kuma_title(x->im, x->dc, subject, sizeof(subject)),
	           "%s %s '%s' names no %s of mesh %s: %s", what,
	           im_scalar(im_get(x->dc, ref, "kind")) ? im_scalar(im_get(x->dc, ref, "kind"))
	                                                 : "?",
	           name ? name
	           : dn ? dn
	                : "",
	           "service", im_str_of(x->im, x->mesh),
	           !strcmp(code, "BackendRefNotFound")
	               ? "Kuma cannot route the requests that would go there (3.0: HTTP 500)"
	               : "the item applies to nothing");
}

/* A target for a MeshService or MeshExternalService reference; 0, or -1 when it names none
 * (reported as code). */
static int target_of(rctx *x, yaml_node_t *ref, uint32_t weight, const char *code, mp_target *out)
{
	const char *kind = im_scalar(im_get(x->dc, ref, "kind"));
	mp_id id = MP_NONE;
	uint32_t tk = MP_TARGET_SERVICE;
	if (kind && !strcmp(kind, "MeshExternalService")) {
		id = external_ref(x->im, x->dc, ref);
		tk = MP_TARGET_EXTERNAL;
	} else if (kind && (!strcmp(kind, "MeshService") || !strcmp(kind, "MeshServiceSubset"))) {
		id = mp_kuma_service_ref(x->im, x->dc, ref);
	} else {
		return -1; /* Mesh, MeshMultiZoneService...: no one destination of the model */
	}
	if (id == MP_NONE) {
		finding(x, ref, code,
		        !strcmp(code, "BackendRefNotFound") ? "backendRef" : "targetRef", ref);
		return -1;
	}
	*out = (mp_target){tk, id, MP_NONE, weight, im_loc(x->dc, ref), 0, 0};
	return 0;
}

/* Relative weights as the model's percentages; the rounding goes to the first target. */
static void percent(mp_target *t, uint32_t n)
{
	uint64_t sum = 0, given = 0;
	for (uint32_t i = 0; i < n; i++)
		sum += t[i].weight;
	for (uint32_t i = 0; i < n; i++) {
		t[i].weight = sum ? (uint32_t)(t[i].weight * 100 / sum) : 0;
		given += t[i].weight;
	}
	if (n && sum)
		t[0].weight += (uint32_t)(100 - given);
}

/* default.backendRefs of a rule (weight 1 when not given), else the to[] item's target. */
static void backends(rctx *x, yaml_node_t *rule, const mp_target *to)
{
	yaml_node_t *refs = im_get(x->dc, im_get(x->dc, rule, "default"), "backendRefs"), *b;
	x->n[0] = x->n[1] = x->n[2] = 0;
	if (refs && refs->type == YAML_SEQUENCE_NODE &&
	    refs->data.sequence.items.top > refs->data.sequence.items.start) {
		IM_SEQ_FOREACH(x->dc, refs, b)
		{
			const char *w = im_scalar(im_get(x->dc, b, "weight"));
			mp_target t;
			if (x->n[0] < MAX_TARGETS &&
			    target_of(x, b, w ? (uint32_t)strtoul(w, NULL, 10) : 1,
			              "BackendRefNotFound", &t) == 0)
				x->t[0][x->n[0]++] = t;
		}
	} else if (to) {
		x->t[0][x->n[0]++] = *to;
	}
	percent(x->t[0], x->n[0]);
}

/* --- timeouts, retries, locality --- */

/* How specific a to[] item's targetRef is for a route to dst made by document rdoc (0: it
 * does not apply): Mesh 1, a MeshService that is dst 2, the MeshHTTPRoute rdoc 3. */
static int to_rank(mp_import *im, idoc *dc, yaml_node_t *ref, mp_id dst, uint32_t rdoc)
{
	const char *kind = im_scalar(im_get(dc, ref, "kind"));
	if (!kind || !strcmp(kind, "Mesh"))
		return 1;
	if (!strcmp(kind, "MeshService") || !strcmp(kind, "MeshServiceSubset"))
		return dst != MP_NONE && mp_kuma_service_ref(im, dc, ref) == dst ? 2 : 0;
	if (!strcmp(kind, "MeshHTTPRoute") && rdoc != UINT32_MAX) {
		const char *name = im_scalar(im_get(dc, ref, "name"));
		yaml_node_t *labels = im_get(dc, ref, "labels");
		json_t *want = labels ? im_json(dc, labels) : NULL;
		int ok = name ? !strcmp(name, im_str_of(im, im->docs[rdoc].name))
		              : want && km_tags_match(want, mp_kuma_labels(im, rdoc), 0);
		json_decref(want);
		return ok ? 3 : 0;
	}
	return 0;
}

/* The to[] items of every live policy of a kind that apply to a route (from source to dst,
 * made by rdoc), in the order Kuma merges them: by specificity, then policy order; the
 * callback reads each item's default, later ones overriding. */
typedef void (*item_fn)(rctx *x, idoc *dc, yaml_node_t *dflt, mp_route *rt, mp_target *t);

static void each_item(rctx *x, uint32_t kind, mp_id source, mp_id dst, uint32_t rdoc, mp_route *rt,
                      mp_target *t, item_fn fn)
{
	mp_import *im = x->im;
	struct {
		int rank;
		km_policy p;
		idoc *dc;
		yaml_node_t *dflt;
	} items[64];
	uint32_t n = 0;
	for (uint32_t i = 0; i < im->ndocs; i++) {
		idoc *dc = &im->docs[i];
		km_policy p = mp_kuma_policy(im, i);
		yaml_node_t *to = im_get(dc, dc->spec, "to"), *item;
		if (!kuma_is(dc, kind) || !im_live(dc) || !p.labels || km_shadow(&p) ||
		    strcmp(km_label(p.labels, KM_LABEL_MESH), im_str_of(im, x->mesh)) || !to ||
		    to->type != YAML_SEQUENCE_NODE || !applies_to(im, i, source))
			continue;
		IM_SEQ_FOREACH(dc, to, item)
		{
			int rank = to_rank(im, dc, im_get(dc, item, "targetRef"), dst, rdoc);
			if (!rank || n == 64)
				continue;
			uint32_t k = n++;
			while (k > 0 && (items[k - 1].rank > rank ||
			                 (items[k - 1].rank == rank &&
			                  km_policy_cmp(&items[k - 1].p, &p) > 0))) {
				items[k] = items[k - 1];
				k--;
			}
			items[k].rank = rank;
			items[k].p = p;
			items[k].dc = dc;
			items[k].dflt = im_get(dc, item, "default");
		}
	}
	for (uint32_t i = 0; i < n; i++)
		fn(x, items[i].dc, items[i].dflt, rt, t);
}

static void timeout_fn(rctx *x, idoc *dc, yaml_node_t *dflt, mp_route *rt, mp_target *t)
{
	const char *v = im_scalar(im_get(dc, im_get(dc, dflt, "http"), "requestTimeout"));
	(void)x;
	(void)t;
	if (v)
		mp_kuma_duration(v, &rt->timeout_ms);
}

static void retry_fn(rctx *x, idoc *dc, yaml_node_t *dflt, mp_route *rt, mp_target *t)
{
	yaml_node_t *http = im_get(dc, dflt, "http");
	const char *n = im_scalar(im_get(dc, http, "numRetries"));
	const char *per = im_scalar(im_get(dc, http, "perTryTimeout"));
	const char *tcp = im_scalar(im_get(dc, im_get(dc, dflt, "tcp"), "maxConnectAttempt"));
	(void)x;
	(void)t;
	if (n)
		rt->retry_attempts = (uint32_t)strtoul(n, NULL, 10);
	else if (tcp && !rt->match.methods && !rt->match.path_kind)
		rt->retry_attempts = (uint32_t)strtoul(tcp, NULL, 10);
	if (per)
		mp_kuma_duration(per, &rt->per_try_timeout_ms);
}

/* The last localityAwareness that applies. */
static void locality_fn(rctx *x, idoc *dc, yaml_node_t *dflt, mp_route *rt, mp_target *t)
{
	yaml_node_t *la = im_get(dc, dflt, "localityAwareness");
	(void)rt;
	(void)t;
	if (la)
		x->la = la, x->la_doc = dc;
}

static int in_list(idoc *dc, yaml_node_t *zones, const char *zone)
{
	yaml_node_t *z;
	if (!zones || zones->type != YAML_SEQUENCE_NODE)
		return 0;
	IM_SEQ_FOREACH(dc, zones, z)
	{
		if (im_scalar(z) && !strcmp(im_scalar(z), zone))
			return 1;
	}
	return 0;
}

/* MeshLoadBalancingStrategy's locality awareness on a target (meshloadbalancingstrategy.md):
 * without crossZone "cross zone traffic is disabled", so a client's traffic stays in its zone;
 * crossZone.failover[] lets it fail over to the zones its `to` allows (Any, Only, AnyExcept,
 * None), as failover targets. */
static void apply_locality(rctx *x, mp_id source, mp_target *t)
{
	mp_import *im = x->im;
	mp_model_view v = mp_model_get_view(im->m);
	x->la = NULL;
	if (t->kind != MP_TARGET_SERVICE)
		return;
	each_item(x, KM_MESHLOADBALANCINGSTRATEGY, source, t->id, UINT32_MAX, NULL, t, locality_fn);
	idoc *dc = x->la_doc;
	yaml_node_t *locality = x->la;
	const char *off = locality ? im_scalar(im_get(dc, locality, "disabled")) : NULL;
	if (!locality || (off && !strcmp(off, "true")))
		return;
	const mp_service *s = &v.services[t->id];
	mp_id local = MP_NONE;
	if (source != MP_NONE && v.services[source].clusters.n == 1)
		local = v.u32[v.services[source].clusters.off];
	yaml_node_t *fo = im_get(dc, im_get(dc, locality, "crossZone"), "failover"), *item;
	int in_local = 0;
	for (uint32_t i = 0; i < s->clusters.n; i++)
		in_local |= v.u32[s->clusters.off + i] == local;
	/* a client whose zone runs the service: its traffic stays there, and fails over (if
	 * at all) to the zones crossZone allows; otherwise it goes where the service runs */
	if (!in_local || t->cluster != MP_NONE) {
		if (fo && fo->type == YAML_SEQUENCE_NODE && s->clusters.n > 1)
			t->flags |= MP_TARGET_F_LOCALITY_REORDER;
		return;
	}
	t->cluster = local;
	t->flags |= MP_TARGET_F_LOCALITY_DISTRIBUTE;
	if (!fo || fo->type != YAML_SEQUENCE_NODE)
		return;
	IM_SEQ_FOREACH(dc, fo, item)
	{
		yaml_node_t *from = im_get(dc, item, "from"), *to = im_get(dc, item, "to");
		const char *type = im_scalar(im_get(dc, to, "type"));
		const char *lz = local != MP_NONE ? im_str_of(im, v.clusters[local].name) : NULL;
		if (from && (!lz || !in_list(dc, im_get(dc, from, "zones"), lz)))
			continue;
		for (uint32_t i = 0; type && i < s->clusters.n && x->n[2] < MAX_TARGETS; i++) {
			mp_id c = v.u32[s->clusters.off + i];
			const char *zone = im_str_of(im, v.clusters[c].name);
			int listed = in_list(dc, im_get(dc, to, "zones"), zone);
			uint32_t j;
			if (c == local || !strcmp(type, "None") ||
			    (!strcmp(type, "Only") && !listed) ||
			    (!strcmp(type, "AnyExcept") && listed))
				continue;
			for (j = 0;
			     j < x->n[2] && !(x->t[2][j].id == t->id && x->t[2][j].cluster == c);
			     j++)
				;
			if (j < x->n[2])
				continue;
			mp_target f = *t;
			f.cluster = c;
			f.weight = 0;
			f.flags = MP_TARGET_F_LOCALITY_FAILOVER;
			x->t[2][x->n[2]++] = f;
		}
	}
}

/* --- adding routes --- */

static void add(rctx *x, const char *name, mp_id source, const mp_match *match, mp_loc loc,
                mp_id dst)
{
	mp_route rt;
	const mp_target *t[3] = {x->t[0], x->t[1], x->t[2]};
	memset(&rt, 0, sizeof(rt));
	if (!x->n[0])
		return;
	rt.source = source;
	rt.match = *match;
	rt.loc = loc;
	x->n[2] = 0;
	each_item(x, KM_MESHTIMEOUT, source, dst, x->doc, &rt, NULL, timeout_fn);
	each_item(x, KM_MESHRETRY, source, dst, x->doc, &rt, NULL, retry_fn);
	mp_target keep[MAX_TARGETS];
	memcpy(keep, x->t[0], x->n[0] * sizeof(*keep));
	for (uint32_t i = 0; i < x->n[0]; i++)
		apply_locality(x, source, &x->t[0][i]);
	const uint32_t n[3] = {x->n[0], 0, x->n[2]};
	im_add_route(x->im, name, &rt, t, n);
	memcpy(x->t[0], keep, x->n[0] * sizeof(*keep));
}

/* A route's name: NS/NAME (MESH/NAME in Universal mode), the item, and for a route from one
 * client <-NS/SERVICE; @CLUSTER for a Kubernetes zone's own document in a multi-zone import. */
static void route_name(rctx *x, const char *item, mp_id source, char *out, size_t len)
{
	mp_import *im = x->im;
	mp_model_view v = mp_model_get_view(im->m);
	int n = snprintf(out, len, "%s/%s:%s",
	                 x->dc->form ? im_str_of(im, x->mesh) : im_str_of(im, x->dc->ns),
	                 im_str_of(im, x->dc->name), item);
	if (source != MP_NONE && n > 0 && (size_t)n < len)
		n += snprintf(out + n, len - (size_t)n, "<-%s/%s",
		              im_str_of(im, v.namespaces[v.services[source].ns].name),
		              im_str_of(im, v.services[source].name));
	if (!x->dc->form && im->multi_cluster && n > 0 && (size_t)n < len)
		snprintf(out + n, len - (size_t)n, "@%s",
		         im_str_of(im, v.clusters[x->dc->cluster].name));
}

/* A MeshHTTPRoute match as the model's: path (Exact, PathPrefix, RegularExpression), method,
 * exact headers. Other header and query matches are left out: the route admits more. */
static int http_match(rctx *x, yaml_node_t *m, mp_match *out)
{
	idoc *dc = x->dc;
	yaml_node_t *path = im_get(dc, m, "path"), *headers = im_get(dc, m, "headers"), *h;
	const char *type = im_scalar(im_get(dc, path, "type"));
	const char *value = im_scalar(im_get(dc, path, "value"));
	const char *method = im_scalar(im_get(dc, m, "method"));
	memset(out, 0, sizeof(*out));
	if (value && type && !(!strcmp(type, "PathPrefix") && !strcmp(value, "/"))) {
		out->path_kind = !strcmp(type, "Exact")        ? MP_PATH_EXACT
		                 : !strcmp(type, "PathPrefix") ? MP_PATH_PREFIX
		                                               : MP_PATH_REGEX;
		out->path = im_intern(x->im, value);
	}
	out->methods = method ? mp_method_bit(method) : 0;
	if (headers && headers->type == YAML_SEQUENCE_NODE)
		IM_SEQ_FOREACH(dc, headers, h)
		{
			const char *t = im_scalar(im_get(dc, h, "type"));
			const char *name = im_scalar(im_get(dc, h, "name"));
			const char *val = im_scalar(im_get(dc, h, "value"));
			if ((t && strcmp(t, "Exact")) || !name || !val)
				continue;
			if (im_match_header(x->im, name, val, out) < 0)
				return -1;
		}
	return 0;
}

/* Does a MeshHTTPRoute of the mesh route to dst (a MeshTCPRoute for it is then not used)? */
static int http_routed(mp_import *im, mp_str mesh, mp_id dst)
{
	for (uint32_t i = 0; i < im->ndocs; i++) {
		idoc *dc = &im->docs[i];
		yaml_node_t *to = im_get(dc, dc->spec, "to"), *item;
		json_t *l = mp_kuma_labels(im, i);
		if (!kuma_is(dc, KM_MESHHTTPROUTE) || !im_live(dc) || !l || !to ||
		    to->type != YAML_SEQUENCE_NODE ||
		    strcmp(km_label(l, KM_LABEL_MESH), im_str_of(im, mesh)))
			continue;
		IM_SEQ_FOREACH(dc, to, item)
		{
			if (mp_kuma_service_ref(im, dc, im_get(dc, item, "targetRef")) == dst)
				return 1;
		}
	}
	return 0;
}

static void route_doc(mp_import *im, uint32_t doc)
{
	idoc *dc = &im->docs[doc];
	int http = kuma_is(dc, KM_MESHHTTPROUTE);
	yaml_node_t *to = im_get(dc, dc->spec, "to"), *item, *rules, *rule, *m;
	rctx x = {.im = im, .dc = dc, .doc = doc, .mesh = im_intern(im, mp_kuma_mesh_of(im, dc))};
	mp_id srcs[MAX_SOURCES];
	uint32_t nsrc = 0, ti = 0;
	char name[1200], itemname[200];
	if (sources_of(im, doc, srcs, &nsrc))
		srcs[nsrc++] = MP_NONE;
	if (!to || to->type != YAML_SEQUENCE_NODE)
		return;
	IM_SEQ_FOREACH(dc, to, item)
	{
		mp_target dst;
		uint32_t ri = 0;
		int resolved = target_of(&x, im_get(dc, item, "targetRef"), 100,
		                         "TargetRefNotFound", &dst) == 0;
		if (!resolved ||
		    (!http && dst.kind == MP_TARGET_SERVICE && http_routed(im, x.mesh, dst.id))) {
			ti++;
			continue;
		}
		rules = im_get(dc, item, "rules");
		if (rules && rules->type == YAML_SEQUENCE_NODE)
			IM_SEQ_FOREACH(dc, rules, rule)
			{
				yaml_node_t *matches = im_get(dc, rule, "matches");
				uint32_t nm = matches && matches->type == YAML_SEQUENCE_NODE
				                  ? (uint32_t)(matches->data.sequence.items.top -
				                               matches->data.sequence.items.start)
				                  : 0,
				         mi = 0;
				backends(&x, rule, &dst);
				mp_match match;
				memset(&match, 0, sizeof(match));
				if (!nm) {
					snprintf(itemname, sizeof(itemname), "to[%u].rules[%u]", ti,
					         ri);
					for (uint32_t s = 0; s < nsrc; s++) {
						route_name(&x, itemname, srcs[s], name,
						           sizeof(name));
						add(&x, name, srcs[s], &match, im_loc(dc, rule),
						    dst.kind == MP_TARGET_SERVICE ? dst.id
						                                  : MP_NONE);
					}
				} else {
					IM_SEQ_FOREACH(dc, matches, m)
					{
						if (http_match(&x, m, &match) < 0) {
							im->oom = 1;
							return;
						}
						snprintf(itemname, sizeof(itemname),
						         nm > 1 ? "to[%u].rules[%u].matches[%u]"
						                : "to[%u].rules[%u]",
						         ti, ri, mi++);
						for (uint32_t s = 0; s < nsrc; s++) {
							route_name(&x, itemname, srcs[s], name,
							           sizeof(name));
							add(&x, name, srcs[s], &match,
							    im_loc(dc, m),
							    dst.kind == MP_TARGET_SERVICE
							        ? dst.id
							        : MP_NONE);
						}
					}
				}
				ri++;
			}
		ti++;
	}
}

/* A Universal Dataplane's outbounds: routes from each of its services to the service an
 * outbound's kuma.io/service names. */
static void outbounds(mp_import *im, km_dp *d)
{
	mp_model_view v;
	idoc *dc = &im->docs[d->doc];
	rctx x = {.im = im, .dc = dc, .doc = UINT32_MAX, .mesh = d->mesh};
	json_t *o;
	size_t i;
	char name[1200], item[64];
	json_array_foreach(d->outbounds, i, o)
	{
		const char *svc = json_string_value(json_object_get(o, "service"));
		mp_id dst = svc ? mp_kuma_service_tag(im, d->mesh, svc) : MP_NONE;
		mp_loc loc = {dc->file, (uint32_t)json_integer_value(json_object_get(o, "line")),
		              1};
		if (dst == MP_NONE) {
			char subject[400];
			if (svc)
				im_finding(
				    im, "BackendRefNotFound", MP_FINDING_WARNING, loc,
				    mp_kuma_title(im, dc, subject, sizeof(subject)),
				    "outbound[%zu] names kuma.io/service '%s', which no dataplane "
				    "of mesh %s has: its requests go nowhere",
				    i, svc, im_str_of(im, d->mesh));
			continue;
		}
		snprintf(item, sizeof(item), "outbound[%zu]", i);
		v = mp_model_get_view(im->m);
		for (uint32_t k = 0; k < d->nin; k++) {
			mp_id src = d->in[k].svc;
			uint32_t j;
			for (j = 0; j < k && d->in[j].svc != src; j++)
				;
			if (src == MP_NONE || j < k)
				continue;
			mp_match match;
			memset(&match, 0, sizeof(match));
			x.n[0] = 1;
			x.t[0][0] = (mp_target){MP_TARGET_SERVICE, dst, MP_NONE, 100, loc, 0, 0};
			snprintf(name, sizeof(name), "%s/%s:%s<-%s/%s", im_str_of(im, d->mesh),
			         im_str_of(im, dc->name), item,
			         im_str_of(im, v.namespaces[v.services[src].ns].name),
			         im_str_of(im, v.services[src].name));
			add(&x, name, src, &match, loc, dst);
		}
	}
}

void mp_kuma_routes(mp_import *im)
{
	kuma_state *st = kuma_of(im);
	if (!st->present)
		return;
	for (uint32_t i = 0; i < im->ndocs && !im->oom; i++) {
		idoc *dc = &im->docs[i];
		if ((kuma_is(dc, KM_MESHHTTPROUTE) || kuma_is(dc, KM_MESHTCPROUTE)) &&
		    im_live(dc) && st->labels[i])
			route_doc(im, i);
	}
	for (uint32_t i = 0; i < st->ndps && !im->oom; i++)
		if (st->dps[i].outbounds)
			outbounds(im, &st->dps[i]);
}
