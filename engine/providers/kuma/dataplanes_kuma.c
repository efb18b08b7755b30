/* dataplanes_kuma.c: Kuma's dataplanes in the model. On Kubernetes Kuma injects a proxy into
 * the pods of namespaces labelled kuma.io/sidecar-injection: enabled and makes each one a
 * Dataplane with an inbound per Service port that selects it (kuma.io/service
 * SERVICE_NAMESPACE_svc_PORT, the pod's labels as tags); in Universal mode the Dataplane is
 * written by hand (networking.address, inbound tags and ports, outbounds), and its inbounds'
 * kuma.io/service values are the services. Each dataplane keeps its identity (a MeshIdentity's
 * SPIFFE ID, else spiffe://MESH/SERVICE), its mTLS mode, and a KumaDataplane record of what
 * its proxy is, which decisions read (kuma_authz.h). MeshServices name services; a
 * MeshExternalService is an external. Mapping: docs/import.md ("Kuma"). */
#include "alloc.h"
#include "kuma_int.h"
#include "providers/kubernetes/kubernetes_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define INJECT     "kuma.io/sidecar-injection"
#define MAX_PORTS  64
#define MAX_DATA   128
#define MAX_INS    64
#define MAX_SVC_CL 64

/* --- Kubernetes pods --- */

/* The live Namespace document of a name in a cluster, or NULL. */
static idoc *namespace_doc(mp_import *im, mp_str ns, mp_id cluster)
{
	for (uint32_t i = 0; i < im->ndocs; i++) {
		idoc *dc = &im->docs[i];
		if (k8s_is(dc, K8S_NAMESPACE) && im_live(dc) && dc->name == ns &&
		    dc->cluster == cluster)
			return dc;
	}
	return NULL;
}

static const char *label_of(idoc *dc, yaml_node_t *meta, const char *key)
{
	return im_scalar(im_get(dc, im_get(dc, meta, "labels"), key));
}

int mp_kuma_meshed(mp_import *im, idoc *dc, const char **mesh)
{
	yaml_node_t *meta, *spec;
	idoc *nsd = namespace_doc(im, dc->ns, dc->cluster);
	mp_k8s_pod(dc, &meta, &spec);
	const char *v = label_of(dc, meta, INJECT);
	if (!v && nsd)
		v = label_of(nsd, nsd->meta, INJECT);
	*mesh = label_of(dc, meta, KM_LABEL_MESH);
	if (!*mesh && nsd)
		*mesh = label_of(nsd, nsd->meta, KM_LABEL_MESH);
	if (!*mesh) /* deprecated since 2.9 (UPGRADE.md), still read */
		*mesh = im_scalar(im_get(dc, im_get(dc, meta, "annotations"), KM_LABEL_MESH));
	if (!*mesh && nsd)
		*mesh =
		    im_scalar(im_get(nsd, im_get(nsd, nsd->meta, "annotations"), KM_LABEL_MESH));
	if (!*mesh)
		*mesh = "default";
	return v && (!strcmp(v, "enabled") || !strcmp(v, "true"));
}

/* The zone labels a dataplane gets in a multi-zone import: its zone (cluster) and origin. */
static int zone_labels(mp_import *im, json_t *o, mp_id cluster)
{
	if (!im->multi_cluster || cluster == MP_NONE || json_object_get(o, KM_LABEL_ORIGIN))
		return 0;
	const char *z = im_str_of(im, mp_model_get_view(im->m).clusters[cluster].name);
	if (!json_object_get(o, KM_LABEL_ZONE) &&
	    json_object_set_new(o, KM_LABEL_ZONE, json_string(z)) < 0)
		return -1;
	return json_object_set_new(o, KM_LABEL_ORIGIN, json_string("zone"));
}

json_t *mp_kuma_pod_labels(mp_import *im, idoc *dc, const char *mesh, const char *sa)
{
	yaml_node_t *meta, *spec, *labels, *k, *v;
	json_t *o = json_object();
	mp_k8s_pod(dc, &meta, &spec);
	labels = im_get(dc, meta, "labels");
	if (!o)
		return NULL;
	if (labels && labels->type == YAML_MAPPING_NODE)
		IM_MAP_FOREACH(dc, labels, k, v)
		{
			if (im_scalar(k) && im_scalar(v))
				json_object_set_new(o, im_scalar(k), json_string(im_scalar(v)));
		}
	if (json_object_set_new(o, KM_LABEL_MESH, json_string(mesh)) < 0 ||
	    json_object_set_new(o, KM_LABEL_NAMESPACE, json_string(im_str_of(im, dc->ns))) < 0 ||
	    json_object_set_new(o, "k8s.kuma.io/service-account", json_string(sa)) < 0 ||
	    zone_labels(im, o, dc->cluster) < 0) {
		json_decref(o);
		return NULL;
	}
	return o;
}

/* A Kubernetes Service document that still describes a service of its cluster (a later
 * document of the same service in another cluster is folded into the first: dead 2). */
static int service_doc(const idoc *dc)
{
	return k8s_is(dc, K8S_SERVICE) && (!dc->dead || dc->dead == 2) && !dc->bad &&
	       dc->cluster != MP_NONE && dc->spec;
}

/* Does a Service's selector (non-empty) select pods of these labels? */
static int selects_pod(idoc *svc, json_t *labels)
{
	yaml_node_t *sel = im_get(svc, svc->spec, "selector"), *k, *v;
	if (!sel || sel->type != YAML_MAPPING_NODE ||
	    sel->data.mapping.pairs.top == sel->data.mapping.pairs.start)
		return 0;
	IM_MAP_FOREACH(svc, sel, k, v)
	{
		const char *have = km_label(labels, im_scalar(k) ? im_scalar(k) : "");
		if (!have || !im_scalar(v) || strcmp(have, im_scalar(v)))
			return 0;
	}
	return 1;
}

static const char *service_account(idoc *dc)
{
	yaml_node_t *meta, *spec;
	mp_k8s_pod(dc, &meta, &spec);
	const char *sa = im_scalar(im_get(dc, spec, "serviceAccountName"));
	if (!sa)
		sa = im_scalar(im_get(dc, spec, "serviceAccount"));
	return sa ? sa : "default";
}

/* The kuma.io/service of a pod's first inbound: the first Service that selects it, its first
 * port; a pod no Service selects is NAME_NAMESPACE_svc (dpp-on-kubernetes.md). */
static void first_service(mp_import *im, idoc *dc, json_t *labels, char *out, size_t len)
{
	for (uint32_t i = 0; i < im->ndocs; i++) {
		idoc *s = &im->docs[i];
		yaml_node_t *ports;
		if (!service_doc(s) || s->ns != dc->ns || s->cluster != dc->cluster ||
		    !selects_pod(s, labels))
			continue;
		ports = im_get(s, s->spec, "ports");
		const char *p =
		    ports && ports->type == YAML_SEQUENCE_NODE &&
		            ports->data.sequence.items.top > ports->data.sequence.items.start
		        ? im_scalar(
		              im_get(s, im_node(s, *ports->data.sequence.items.start), "port"))
		        : NULL;
		if (!p)
			continue;
		snprintf(out, len, "%s_%s_svc_%s", im_str_of(im, s->name), im_str_of(im, s->ns), p);
		return;
	}
	snprintf(out, len, "%s_%s_svc", im_str_of(im, dc->name), im_str_of(im, dc->ns));
}

int mp_kuma_k8s_identity(mp_import *im, idoc *dc, const char *ns, const char *sa, char *out,
                         size_t len)
{
	kuma_state *st = kuma_of(im);
	const char *mesh;
	char svc[600];
	(void)ns;
	if (!st->present || !mp_kuma_meshed(im, dc, &mesh))
		return 0;
	json_t *labels = mp_kuma_pod_labels(im, dc, mesh, sa);
	if (!labels) {
		im->oom = 1;
		return 0;
	}
	if (mp_kuma_identity(im, im_intern(im, mesh), labels, dc->cluster, out, len) ==
	    UINT32_MAX) {
		first_service(im, dc, labels, svc, sizeof(svc));
		snprintf(out, len, "spiffe://%s/%s", mesh, svc);
	}
	json_decref(labels);
	return 1;
}

/* --- the dataplanes' list --- */

static km_dp *new_dp(mp_import *im, uint32_t doc, mp_str mesh, json_t *labels)
{
	kuma_state *st = kuma_of(im);
	if (mp_grow((void **)&st->dps, &st->cap, sizeof(*st->dps), st->ndps, 16) < 0) {
		json_decref(labels);
		im->oom = 1;
		return NULL;
	}
	km_dp *d = &st->dps[st->ndps++];
	memset(d, 0, sizeof(*d));
	d->doc = doc;
	d->wl = UINT32_MAX;
	d->mesh = mesh;
	d->cluster = im->docs[doc].cluster;
	d->labels = labels;
	d->id_doc = UINT32_MAX;
	return d;
}

static km_in *new_in(mp_import *im, km_dp *d)
{
	km_in *nv = mp_realloc(d->in, (d->nin + 1) * sizeof(*nv));
	if (!nv) {
		im->oom = 1;
		return NULL;
	}
	d->in = nv;
	km_in *in = &d->in[d->nin++];
	memset(in, 0, sizeof(*in));
	in->svc = MP_NONE;
	return in;
}

static km_dp *dp_of_workload(mp_import *im, uint32_t wl)
{
	kuma_state *st = kuma_of(im);
	for (uint32_t i = 0; i < st->ndps; i++)
		if (st->dps[i].wl == wl)
			return &st->dps[i];
	return NULL;
}

/* --- Universal Dataplanes (the WORKLOADS phase) --- */

static json_t *typed_labels(mp_import *im, idoc *dc, const char *mesh)
{
	json_t *o = json_copy(mp_kuma_labels(im, (uint32_t)(dc - im->docs)));
	if (!o)
		return NULL;
	json_object_del(o, KM_LABEL_DISPLAY);
	if (json_object_set_new(o, KM_LABEL_MESH, json_string(mesh)) < 0 ||
	    zone_labels(im, o, dc->cluster) < 0) {
		json_decref(o);
		return NULL;
	}
	return o;
}

/* The labels of a workload in the model's pool. */
static int model_labels(mp_import *im, json_t *o, mp_span *out)
{
	const char *k;
	json_t *v;
	*out = (mp_span){0, 0};
	json_object_foreach(o, k, v)
	{
		if (im_label(im, k, json_string_value(v), out) < 0)
			return -1;
	}
	return 0;
}

static int add_wl(mp_import *im, km_dp *d, idoc *dc, mp_id ns, const char *identity)
{
	if (im->nwl % 64 == 0) {
		iworkload *nv = mp_realloc(im->wl, (im->nwl + 64) * sizeof(*nv));
		if (!nv) {
			im->oom = 1;
			return -1;
		}
		im->wl = nv;
	}
	iworkload *w = &im->wl[im->nwl];
	memset(w, 0, sizeof(*w));
	w->doc = d->doc;
	w->ns = ns;
	w->cluster = dc->cluster;
	w->name = dc->name;
	w->kind = im_intern(im, "Dataplane");
	w->identity = d->identity = im_intern(im, identity);
	w->mtls_doc = UINT32_MAX;
	if (model_labels(im, d->labels, &w->labels) < 0)
		return -1;
	d->wl = im->nwl++;
	return 0;
}

static void universal_dataplane(mp_import *im, uint32_t doc)
{
	idoc *dc = &im->docs[doc];
	const char *mesh = mp_kuma_mesh_of(im, dc);
	yaml_node_t *net = im_get(dc, dc->root, "networking"), *in, *item, *tags, *k, *v;
	char ident[600];
	json_t *labels = typed_labels(im, dc, mesh);
	km_dp *d = labels ? new_dp(im, doc, im_intern(im, mesh), labels) : NULL;
	if (!d) {
		im->oom = 1;
		return;
	}
	if ((in = im_get(dc, net, "inbound")) && in->type == YAML_SEQUENCE_NODE)
		IM_SEQ_FOREACH(dc, in, item)
		{
			km_in *x = new_in(im, d);
			if (!x || !(x->tags = json_object()))
				return;
			x->port = (uint32_t)strtoul(im_scalar(im_get(dc, item, "port")), NULL, 10);
			x->name = im_scalar(im_get(dc, item, "name"));
			x->at = item;
			x->at_doc = dc;
			tags = im_get(dc, item, "tags");
			IM_MAP_FOREACH(dc, tags, k, v)
			{
				json_object_set_new(x->tags, im_scalar(k),
				                    json_string(im_scalar(v)));
			}
			x->service = im_intern(im, km_label(x->tags, KM_TAG_SERVICE));
		}
	json_t *outs = json_array();
	yaml_node_t *out = im_get(dc, net, "outbound");
	if (!outs) {
		im->oom = 1;
		return;
	}
	d->outbounds = outs;
	if (out && out->type == YAML_SEQUENCE_NODE)
		IM_SEQ_FOREACH(dc, out, item)
		{
			const char *svc =
			    im_scalar(im_get(dc, im_get(dc, item, "tags"), KM_TAG_SERVICE));
			yaml_node_t *ref = im_get(dc, item, "backendRef");
			json_t *o = json_pack("{s:s?, s:i, s:i}", "service", svc, "index",
			                      (json_int_t)json_array_size(outs), "line",
			                      (json_int_t)im_loc(dc, item).line);
			if (!o || json_array_append_new(outs, o) < 0) {
				im->oom = 1;
				return;
			}
			if (ref)
				json_object_set_new(o, "ref", json_integer(1));
		}
	d->id_doc = mp_kuma_identity(im, d->mesh, d->labels, d->cluster, ident, sizeof(ident));
	if (d->id_doc == UINT32_MAX)
		snprintf(ident, sizeof(ident), "spiffe://%s/%s", mesh,
		         d->nin ? im_str_of(im, d->in[0].service) : im_str_of(im, dc->name));
	mp_id ns = im_namespace(im, d->mesh, dc->loc);
	if (ns != MP_NONE)
		add_wl(im, d, dc, ns, ident);
}

void mp_kuma_workloads(mp_import *im)
{
	kuma_state *st = kuma_of(im);
	if (!st->present)
		return;
	for (uint32_t i = 0; i < im->ndocs && !im->oom; i++)
		if (kuma_is(&im->docs[i], KM_DATAPLANE) && im_live(&im->docs[i]) && st->labels[i])
			universal_dataplane(im, i);
}

/* --- mTLS modes (the WORKLOAD_POLICY phase) --- */

/* A dataplane's inbound mode: strict with a workload identity (UPGRADE.md 3.0.0: "a mesh
 * using MeshIdentity already resolved to Strict"), else its mesh's backend mode, else no mTLS;
 * the MeshTLS policies that select it, in Kuma's order, override (the last with a mode). The
 * document that decided into *doc. */
static uint32_t mode_of(mp_import *im, mp_str mesh, json_t *labels, const char *name,
                        const km_in *ins, uint32_t nin, mp_id cluster, uint32_t *doc)
{
	char id[600];
	const km_mesh *m = mp_kuma_mesh(im, mesh);
	uint32_t mode = MP_MTLS_DISABLE,
	         idd = mp_kuma_identity(im, mesh, labels, cluster, id, sizeof(id));
	km_inbound kin[MAX_INS];
	km_dataplane kd = {labels, name};
	km_policy best = {NULL, NULL, 0};
	*doc = UINT32_MAX;
	if (idd != UINT32_MAX)
		mode = MP_MTLS_STRICT, *doc = idd;
	else if (m && m->mtls)
		mode = m->permissive ? MP_MTLS_PERMISSIVE : MP_MTLS_STRICT, *doc = m->doc;
	if (mode == MP_MTLS_DISABLE)
		return mode;
	for (uint32_t i = 0; i < nin && i < MAX_INS; i++)
		kin[i] = (km_inbound){ins[i].port, ins[i].name, ins[i].tags};
	for (uint32_t i = 0; i < im->ndocs; i++) {
		idoc *dc = &im->docs[i];
		km_policy p = mp_kuma_policy(im, i);
		if (!kuma_is(dc, KM_MESHTLS) || !im_live(dc) || !p.labels || km_shadow(&p) ||
		    !km_selects_dataplane(&p, &kd, kin, nin < MAX_INS ? nin : MAX_INS))
			continue;
		if (!best.labels || km_policy_cmp(&best, &p) < 0)
			best = p;
	}
	if (best.labels) {
		idoc *dc = &im->docs[best.order];
		yaml_node_t *rules = im_get(dc, dc->spec, "rules"), *r;
		if (rules && rules->type == YAML_SEQUENCE_NODE)
			IM_SEQ_FOREACH(dc, rules, r)
			{
				const char *v =
				    im_scalar(im_get(dc, im_get(dc, r, "default"), "mode"));
				if (v)
					mode = strcmp(v, "Permissive") ? MP_MTLS_STRICT
					                               : MP_MTLS_PERMISSIVE,
					*doc = best.order;
			}
	}
	return mode;
}

void mp_kuma_workload_policy(mp_import *im)
{
	kuma_state *st = kuma_of(im);
	const char *mesh;
	if (!st->present)
		return;
	for (uint32_t w = 0; w < im->nwl && !im->oom; w++) {
		iworkload *wl = &im->wl[w];
		idoc *dc = &im->docs[wl->doc];
		km_dp *d = dp_of_workload(im, w);
		uint32_t doc;
		if (d) {
			wl->mtls = mode_of(im, d->mesh, d->labels, im_str_of(im, dc->name), d->in,
			                   d->nin, d->cluster, &doc);
		} else if (dc->provider == &mp_provider_kubernetes &&
		           mp_kuma_meshed(im, dc, &mesh)) {
			json_t *labels = mp_kuma_pod_labels(im, dc, mesh, service_account(dc));
			mp_str m = im_intern(im, mesh);
			if (!labels) {
				im->oom = 1;
				return;
			}
			wl->mtls = mode_of(im, m, labels, im_str_of(im, dc->name), NULL, 0,
			                   dc->cluster, &doc);
			json_decref(labels);
		} else {
			continue;
		}
		/* a mesh no document declares (Kuma's default) stands for itself: the workload's
		 * own document carries the mode */
		wl->mtls_doc = doc != UINT32_MAX ? doc : wl->doc;
	}
}

/* --- services (the SERVICES phase) --- */

static mp_id lookup_service(mp_import *im, mp_str ns, mp_str name)
{
	mp_id nsid = im->host->lookup(im->host->ctx, MP_IMPORT_NAMESPACE, ns, 0);
	return nsid == MP_NONE ? MP_NONE
	                       : im->host->lookup(im->host->ctx, MP_IMPORT_SERVICE, nsid, name);
}

/* The workload runs the service (once). */
static void wl_service(iworkload *w, mp_id sid)
{
	uint32_t k;
	for (k = 0; k < w->nsvc && w->svc[k] != sid; k++)
		;
	if (k == w->nsvc && w->nsvc < 16)
		w->svc[w->nsvc++] = sid;
}

static const char *protocol_of(const char *p)
{
	static const char *const known[] = {"http", "http2", "grpc", "tcp", "tls", NULL};
	for (size_t i = 0; p && known[i]; i++)
		if (!strcmp(p, known[i]))
			return known[i];
	return "tcp"; /* kafka and anything else Kuma proxies as TCP */
}

/* A Universal service: every inbound of the mesh's dataplanes with its kuma.io/service. */
static mp_id universal_service(mp_import *im, mp_str mesh, mp_str name, mp_loc loc, mp_id cluster)
{
	kuma_state *st = kuma_of(im);
	mp_id sid = mp_model_get_view(im->m).nservices, ns = im_namespace(im, mesh, loc);
	mp_port ports[MAX_PORTS];
	uint32_t np = 0, clusters[MAX_SVC_CL], ncl = 0, nd = 0, mtls = MP_NONE;
	mp_str data[MAX_DATA], identity = 0;
	const char *owner = NULL;
	json_t *first = NULL;
	int several = 0;
	if (ns == MP_NONE)
		return MP_NONE;
	for (uint32_t i = 0; i < st->ndps; i++) {
		km_dp *d = &st->dps[i];
		int has = 0;
		for (uint32_t k = 0; k < d->nin; k++) {
			km_in *x = &d->in[k];
			uint32_t j;
			if (d->mesh != mesh || x->service != name)
				continue;
			has = 1;
			x->svc = sid;
			first = first ? first : x->tags;
			for (j = 0; j < np && ports[j].port != x->port; j++)
				;
			if (j == np && np < MAX_PORTS)
				ports[np++] = (mp_port){
				    x->port,
				    im_intern(im,
				              protocol_of(km_label(x->tags, "kuma.io/protocol"))),
				    x->name ? im_intern(im, x->name) : 0};
		}
		if (!has)
			continue;
		uint32_t j;
		for (j = 0; j < ncl && clusters[j] != d->cluster; j++)
			;
		if (j == ncl && ncl < MAX_SVC_CL)
			clusters[ncl++] = d->cluster;
		nd = im_data_classes(im, km_label(d->labels, "meshpol.io/data-classes"), data, nd,
		                     MAX_DATA);
		owner = owner ? owner : km_label(d->labels, "meshpol.io/owner");
		several |= identity && identity != d->identity;
		identity = d->identity;
		if (d->wl != UINT32_MAX) {
			iworkload *w = &im->wl[d->wl];
			static const int rank[] = {2, 3, 2, 1};
			wl_service(w, sid);
			if (mtls == MP_NONE || rank[w->mtls] < rank[mtls])
				mtls = w->mtls;
		}
	}
	mp_span labels = {0, 0};
	if (first && model_labels(im, first, &labels) < 0)
		return MP_NONE;
	mp_service s = {.name = name,
	                .ns = ns,
	                .identity = several ? 0 : identity,
	                .owner = owner ? im_intern(im, owner) : 0,
	                .mtls = mtls == MP_NONE ? MP_MTLS_UNSET : mtls,
	                .labels = labels,
	                .loc = loc};
	if (!ncl) /* a MeshService without dataplanes: its document's cluster */
		clusters[ncl++] = cluster;
	s.clusters = (mp_span){mp_model_push_u32(im->m, clusters, ncl), ncl};
	s.ports = (mp_span){np ? mp_model_push_ports(im->m, ports, np) : 0, np};
	s.data = (mp_span){nd ? mp_model_push_u32(im->m, data, nd) : 0, nd};
	if (s.clusters.off == MP_NONE || s.ports.off == MP_NONE || s.data.off == MP_NONE) {
		im->oom = 1;
		return MP_NONE;
	}
	char what[600];
	snprintf(what, sizeof(what), "Service '%s/%s'", im_str_of(im, mesh), im_str_of(im, name));
	if (im->host->declare(im->host->ctx, MP_IMPORT_SERVICE, ns, name, sid, loc, what) < 0)
		return MP_NONE;
	if (mp_model_add_service(im->m, &s) == MP_NONE) {
		im->oom = 1;
		return MP_NONE;
	}
	return sid;
}

/* Does a MeshService select the inbound (selector.dataplaneTags on its tags,
 * dataplaneLabels.matchLabels on the dataplane's, a port whose targetPort is the inbound's)? */
static int ms_selects(mp_import *im, idoc *ms, json_t *sel_tags, json_t *sel_labels, const km_dp *d,
                      const km_in *x)
{
	yaml_node_t *ports = im_get(ms, ms->spec, "ports"), *p;
	if (d->mesh != im_intern(im, mp_kuma_mesh_of(im, ms)) || (!sel_tags && !sel_labels) ||
	    (sel_tags && !km_tags_match(sel_tags, x->tags, 0)) ||
	    (sel_labels && !km_tags_match(sel_labels, d->labels, 0)))
		return 0;
	if (!ports || ports->type != YAML_SEQUENCE_NODE)
		return 1;
	IM_SEQ_FOREACH(ms, ports, p)
	{
		const char *t = im_scalar(im_get(ms, p, "targetPort"));
		const char *n = im_scalar(im_get(ms, p, "port"));
		if (t ? (x->name && !strcmp(t, x->name)) || strtoul(t, NULL, 10) == x->port
		      : n && strtoul(n, NULL, 10) == x->port)
			return 1;
	}
	return 0;
}

/* A MeshService's model service: the service of the inbounds it selects, else (Kubernetes)
 * the Service of its name, else one of its own without workloads. */
static void mesh_service(mp_import *im, uint32_t doc)
{
	kuma_state *st = kuma_of(im);
	idoc *dc = &im->docs[doc];
	yaml_node_t *sel = im_get(dc, dc->spec, "selector");
	yaml_node_t *tags = im_get(dc, sel, "dataplaneTags");
	yaml_node_t *labels = im_get(dc, im_get(dc, sel, "dataplaneLabels"), "matchLabels");
	json_t *jt = tags ? im_json(dc, tags) : NULL, *jl = labels ? im_json(dc, labels) : NULL;
	for (uint32_t i = 0; i < st->ndps && st->ms_svc[doc] == MP_NONE; i++)
		for (uint32_t k = 0; k < st->dps[i].nin; k++)
			if (st->dps[i].in[k].svc != MP_NONE &&
			    ms_selects(im, dc, jt, jl, &st->dps[i], &st->dps[i].in[k])) {
				st->ms_svc[doc] = st->dps[i].in[k].svc;
				break;
			}
	json_decref(jt);
	json_decref(jl);
	if (st->ms_svc[doc] != MP_NONE)
		return;
	mp_str ns = dc->form ? im_intern(im, mp_kuma_mesh_of(im, dc)) : dc->ns;
	if ((st->ms_svc[doc] = lookup_service(im, ns, dc->name)) == MP_NONE)
		st->ms_svc[doc] = universal_service(im, ns, dc->name, dc->loc, dc->cluster);
}

/* A Universal inbound whose kuma.io/service is a Kubernetes Service's
 * (NAME_NAMESPACE_svc_PORT) joins that service, as a VM joins a Kubernetes service in a
 * multi-zone mesh: the service then runs in the VM's zone too. */
static mp_id join_kubernetes(mp_import *im, km_dp *d, km_in *x)
{
	char name[254], ns[254];
	unsigned port;
	int end = 0;
	if (sscanf(im_str_of(im, x->service), "%253[^_]_%253[^_]_svc_%u%n", name, ns, &port,
	           &end) != 3 ||
	    im_str_of(im, x->service)[end])
		return MP_NONE;
	mp_id sid = lookup_service(im, im_intern(im, ns), im_intern(im, name));
	if (sid == MP_NONE)
		return MP_NONE;
	mp_model_view v = mp_model_get_view(im->m);
	mp_service s = v.services[sid];
	uint32_t cl[MAX_SVC_CL], n = 0, k;
	for (k = 0; k < s.ports.n && v.ports[s.ports.off + k].port != port; k++)
		;
	if (k == s.ports.n)
		return MP_NONE; /* no such port: another service */
	for (k = 0; k < s.clusters.n && n < MAX_SVC_CL; k++)
		cl[n++] = v.u32[s.clusters.off + k];
	for (k = 0; k < n && cl[k] != d->cluster; k++)
		;
	if (k == n && n < MAX_SVC_CL) {
		cl[n++] = d->cluster;
		if ((s.clusters.off = mp_model_push_u32(im->m, cl, n)) == MP_NONE) {
			im->oom = 1;
			return MP_NONE;
		}
		s.clusters.n = n;
		*mp_model_service_mut(im->m, sid) = s;
	}
	if (d->wl != UINT32_MAX)
		wl_service(&im->wl[d->wl], sid);
	return x->svc = sid;
}

void mp_kuma_services(mp_import *im)
{
	kuma_state *st = kuma_of(im);
	if (!st->present)
		return;
	for (uint32_t i = 0; i < st->ndps && !im->oom; i++)
		for (uint32_t k = 0; k < st->dps[i].nin && !im->oom; k++) {
			km_in *x = &st->dps[i].in[k];
			if (x->svc == MP_NONE && x->service &&
			    join_kubernetes(im, &st->dps[i], x) == MP_NONE && !im->oom)
				universal_service(im, st->dps[i].mesh, x->service,
				                  im->docs[st->dps[i].doc].loc, st->dps[i].cluster);
		}
	for (uint32_t i = 0; i < im->ndocs && !im->oom; i++)
		if (kuma_is(&im->docs[i], KM_MESHSERVICE) && im_live(&im->docs[i]) && st->labels[i])
			mesh_service(im, i);
}

/* --- Kubernetes dataplanes and externals (the ELEMENTS phase) --- */

typedef struct {
	const char *name;
	uint32_t port;
} cport;

static uint32_t container_ports(idoc *dc, cport *out, uint32_t max)
{
	yaml_node_t *meta, *spec, *cs, *c, *ps, *p;
	uint32_t n = 0;
	mp_k8s_pod(dc, &meta, &spec);
	if (!(cs = im_get(dc, spec, "containers")) || cs->type != YAML_SEQUENCE_NODE)
		return 0;
	IM_SEQ_FOREACH(dc, cs, c)
	{
		if (!(ps = im_get(dc, c, "ports")) || ps->type != YAML_SEQUENCE_NODE)
			continue;
		IM_SEQ_FOREACH(dc, ps, p)
		{
			const char *num = im_scalar(im_get(dc, p, "containerPort"));
			if (num && n < max)
				out[n++] = (cport){im_scalar(im_get(dc, p, "name")),
				                   (uint32_t)strtoul(num, NULL, 10)};
		}
	}
	return n;
}

/* One inbound per port of each Service that selects the pod (dpp-on-kubernetes.md, "Tag
 * generation"): the container port its targetPort names, the pod's labels (not kuma.io/ ones)
 * and kuma.io/service SERVICE_NAMESPACE_svc_PORT, kuma.io/protocol (appProtocol, else tcp),
 * k8s.kuma.io/namespace, k8s.kuma.io/service-name and -port, and the zone. */
static void pod_inbounds(mp_import *im, km_dp *d, idoc *dc)
{
	cport cps[MAX_PORTS];
	uint32_t ncp = container_ports(dc, cps, MAX_PORTS);
	char buf[700];
	for (uint32_t i = 0; i < im->ndocs && !im->oom; i++) {
		idoc *s = &im->docs[i];
		yaml_node_t *ports, *p;
		if (!service_doc(s) || s->ns != dc->ns || s->cluster != dc->cluster ||
		    !selects_pod(s, d->labels) || !(ports = im_get(s, s->spec, "ports")) ||
		    ports->type != YAML_SEQUENCE_NODE)
			continue;
		mp_id sid = lookup_service(im, s->ns, s->name);
		IM_SEQ_FOREACH(s, ports, p)
		{
			const char *sp = im_scalar(im_get(s, p, "port"));
			const char *tp = im_scalar(im_get(s, p, "targetPort"));
			const char *app = im_scalar(im_get(s, p, "appProtocol"));
			uint32_t port = sp ? (uint32_t)strtoul(sp, NULL, 10) : 0, k;
			const char *name = NULL;
			if (tp && (*tp < '0' || *tp > '9')) { /* a container port's name */
				for (k = 0; k < ncp && (!cps[k].name || strcmp(cps[k].name, tp));
				     k++)
					;
				if (k == ncp)
					continue; /* no such port: Kuma makes no inbound */
				port = cps[k].port;
			} else if (tp) {
				port = (uint32_t)strtoul(tp, NULL, 10);
			}
			for (k = 0; k < ncp && cps[k].port != port; k++)
				;
			name = k < ncp ? cps[k].name : NULL;
			km_in *x = new_in(im, d);
			json_t *tags = x ? json_object() : NULL;
			const char *key;
			json_t *v;
			if (!tags) {
				im->oom = 1;
				return;
			}
			x->tags = tags;
			json_object_foreach(d->labels, key, v)
			{
				if (strncmp(key, "kuma.io/", 8) &&
				    strcmp(key, KM_LABEL_NAMESPACE) &&
				    strcmp(key, "k8s.kuma.io/service-account"))
					json_object_set(tags, key, v);
			}
			snprintf(buf, sizeof(buf), "%s_%s_svc_%s", im_str_of(im, s->name),
			         im_str_of(im, s->ns), sp ? sp : "0");
			json_object_set_new(tags, KM_TAG_SERVICE, json_string(buf));
			json_object_set_new(tags, "kuma.io/protocol",
			                    json_string(app ? app : "tcp"));
			json_object_set_new(tags, KM_LABEL_NAMESPACE,
			                    json_string(im_str_of(im, s->ns)));
			json_object_set_new(tags, "k8s.kuma.io/service-name",
			                    json_string(im_str_of(im, s->name)));
			json_object_set_new(tags, "k8s.kuma.io/service-port",
			                    json_string(sp ? sp : "0"));
			if (km_label(d->labels, KM_LABEL_ZONE))
				json_object_set_new(
				    tags, KM_LABEL_ZONE,
				    json_string(km_label(d->labels, KM_LABEL_ZONE)));
			x->port = port;
			x->name = name;
			x->service = im_intern(im, buf);
			x->svc = sid;
			x->at = p;
			x->at_doc = s;
		}
	}
}

static void pod_dataplane(mp_import *im, uint32_t w)
{
	iworkload *wl = &im->wl[w];
	idoc *dc = &im->docs[wl->doc];
	const char *mesh;
	char id[600];
	if (!mp_kuma_meshed(im, dc, &mesh))
		return;
	json_t *labels = mp_kuma_pod_labels(im, dc, mesh, service_account(dc));
	km_dp *d = labels ? new_dp(im, wl->doc, im_intern(im, mesh), labels) : NULL;
	if (!d) {
		im->oom = 1;
		return;
	}
	d->wl = w;
	d->identity = wl->identity;
	d->id_doc = mp_kuma_identity(im, d->mesh, d->labels, d->cluster, id, sizeof(id));
	pod_inbounds(im, d, dc);
}

/* A MeshExternalService: an external named NAMESPACE/NAME (MESH/NAME in Universal mode), its
 * host the first endpoint's address. */
static void external(mp_import *im, idoc *dc)
{
	yaml_node_t *eps = im_get(dc, dc->spec, "endpoints");
	const char *host = NULL, *region = label_of(dc, dc->meta, "meshpol.io/region");
	char name[600], what[700];
	if (eps && eps->type == YAML_SEQUENCE_NODE &&
	    eps->data.sequence.items.top > eps->data.sequence.items.start)
		host =
		    im_scalar(im_get(dc, im_node(dc, *eps->data.sequence.items.start), "address"));
	snprintf(name, sizeof(name), "%s/%s",
	         dc->form ? mp_kuma_mesh_of(im, dc) : im_str_of(im, dc->ns),
	         im_str_of(im, dc->name));
	snprintf(what, sizeof(what), "External '%s'", name);
	mp_str n = im_intern(im, name);
	mp_external e = {n,
	                 im_intern(im, host ? host : im_str_of(im, dc->name)),
	                 region ? im_intern(im, region) : 0,
	                 MP_NONE,
	                 {0, 0},
	                 dc->loc};
	mp_id id = mp_model_get_view(im->m).nexternals;
	if (im->host->declare(im->host->ctx, MP_IMPORT_EXTERNAL, n, 0, id, dc->loc, what) == 0 &&
	    mp_model_add_external(im->m, &e) == MP_NONE)
		im->oom = 1;
}

void mp_kuma_elements(mp_import *im)
{
	kuma_state *st = kuma_of(im);
	if (!st->present)
		return;
	for (uint32_t w = 0; w < im->nwl && !im->oom; w++)
		if (im->docs[im->wl[w].doc].provider == &mp_provider_kubernetes)
			pod_dataplane(im, w);
	for (uint32_t i = 0; i < im->ndocs && !im->oom; i++)
		if (kuma_is(&im->docs[i], KM_MESHEXTERNALSERVICE) && im_live(&im->docs[i]) &&
		    st->labels[i])
			external(im, &im->docs[i]);
}

/* --- references to services --- */

/* The labels a service answers to in a targetRef or backendRef: its display name (the
 * Service's, the kuma.io/service of a Universal one), namespace and mesh, and its own. */
static int service_has(mp_import *im, mp_id sid, json_t *want, mp_str mesh)
{
	mp_model_view v = mp_model_get_view(im->m);
	const mp_service *s = &v.services[sid];
	const char *k;
	json_t *val;
	json_object_foreach(want, k, val)
	{
		const char *w = json_string_value(val), *have = NULL;
		if (!strcmp(k, KM_LABEL_DISPLAY))
			have = im_str_of(im, s->name);
		else if (!strcmp(k, KM_LABEL_NAMESPACE) || !strcmp(k, KM_LABEL_MESH))
			have = im_str_of(im, v.namespaces[s->ns].name);
		for (uint32_t i = 0; !have && i < s->labels.n; i++)
			if (!strcmp(im_str_of(im, v.labels[s->labels.off + i].key), k))
				have = im_str_of(im, v.labels[s->labels.off + i].value);
		if (!strcmp(k, KM_LABEL_MESH) && !have)
			have = im_str_of(im, mesh);
		if (!w || !have || strcmp(w, have))
			return 0;
	}
	return 1;
}

mp_id mp_kuma_service_tag(mp_import *im, mp_str mesh, const char *tag)
{
	kuma_state *st = kuma_of(im);
	for (uint32_t i = 0; i < st->ndps; i++)
		for (uint32_t k = 0; k < st->dps[i].nin; k++)
			if (st->dps[i].mesh == mesh && st->dps[i].in[k].svc != MP_NONE &&
			    !strcmp(im_str_of(im, st->dps[i].in[k].service), tag))
				return st->dps[i].in[k].svc;
	return MP_NONE;
}

mp_id mp_kuma_service_ref(mp_import *im, idoc *dc, yaml_node_t *ref)
{
	kuma_state *st = kuma_of(im);
	const char *kind = im_scalar(im_get(dc, ref, "kind"));
	const char *name = im_scalar(im_get(dc, ref, "name"));
	const char *ns = im_scalar(im_get(dc, ref, "namespace"));
	yaml_node_t *labels = im_get(dc, ref, "labels");
	mp_str mesh = im_intern(im, mp_kuma_mesh_of(im, dc));
	mp_id sid = MP_NONE;
	if (!kind || (strcmp(kind, "MeshService") && strcmp(kind, "MeshServiceSubset")))
		return MP_NONE;
	if (labels && labels->type == YAML_MAPPING_NODE) {
		json_t *want = im_json(dc, labels);
		if (!want) {
			im->oom = 1;
			return MP_NONE;
		}
		/* a MeshService document first (its labels as Kuma computes them), then the
		 * services of the model */
		for (uint32_t i = 0; i < im->ndocs && sid == MP_NONE; i++)
			if (kuma_is(&im->docs[i], KM_MESHSERVICE) && st->ms_svc[i] != MP_NONE &&
			    !strcmp(km_label(st->labels[i], KM_LABEL_MESH), im_str_of(im, mesh)) &&
			    km_tags_match(want, st->labels[i], 0))
				sid = st->ms_svc[i];
		for (uint32_t i = 0; sid == MP_NONE && i < mp_model_get_view(im->m).nservices; i++)
			if (service_has(im, i, want, mesh))
				sid = i;
		json_decref(want);
		return sid;
	}
	if (!name)
		return MP_NONE;
	/* 2.x: the name is a kuma.io/service tag */
	sid = mp_kuma_service_tag(im, mesh, name);
	if (sid == MP_NONE)
		sid = lookup_service(im,
		                     ns         ? im_intern(im, ns)
		                     : dc->form ? mesh
		                                : dc->ns,
		                     im_intern(im, name));
	return sid;
}

/* --- the records (the RESOURCES phase) --- */

static json_t *record_of(mp_import *im, const km_dp *d)
{
	mp_model_view v = mp_model_get_view(im->m);
	json_t *ins = json_array();
	json_t *o =
	    ins ? json_pack("{s:s, s:O, s:s, s:s, s:o}", "mesh", im_str_of(im, d->mesh), "labels",
	                    d->labels, "workload", im_str_of(im, im->docs[d->doc].name), "identity",
	                    im_str_of(im, d->identity), "inbounds", ins)
	        : NULL;
	if (!o)
		return NULL;
	if (d->id_doc != UINT32_MAX) {
		char title[400];
		json_object_set_new(
		    o, "identitySource",
		    json_string(mp_kuma_title(im, &im->docs[d->id_doc], title, sizeof(title))));
	}
	for (uint32_t k = 0; k < d->nin; k++) {
		const km_in *x = &d->in[k];
		char svc[600] = "";
		if (x->svc != MP_NONE)
			snprintf(svc, sizeof(svc), "%s/%s",
			         im_str_of(im, v.namespaces[v.services[x->svc].ns].name),
			         im_str_of(im, v.services[x->svc].name));
		json_t *in = json_pack("{s:i, s:s?, s:s, s:O}", "port", (json_int_t)x->port, "name",
		                       x->name, "service", svc, "tags", x->tags);
		if (!in || json_array_append_new(ins, in) < 0) {
			json_decref(o);
			return NULL;
		}
	}
	return o;
}

void mp_kuma_dataplane_records(mp_import *im)
{
	kuma_state *st = kuma_of(im);
	for (uint32_t i = 0; i < st->ndps && !im->oom; i++) {
		const km_dp *d = &st->dps[i];
		idoc *dc = &im->docs[d->doc];
		json_t *spec = record_of(im, d);
		uint32_t aux[3] = {d->wl, 0, 0};
		if (d->id_doc != UINT32_MAX) {
			aux[1] = im->docs[d->id_doc].loc.file;
			aux[2] = im->docs[d->id_doc].loc.line;
		}
		mp_resource r = {.kind = im_intern(im, KM_DATAPLANE_KIND),
		                 .api = im_intern(im, KM_RECORD_API),
		                 .ns = dc->form ? 0 : dc->ns,
		                 .name = dc->name,
		                 .cluster = im->multi_cluster ? d->cluster : MP_NONE,
		                 .aux = {mp_model_push_u32(im->m, aux, 3), 3},
		                 .loc = dc->loc};
		if (!spec || r.aux.off == MP_NONE) {
			json_decref(spec);
			im->oom = 1;
			return;
		}
		im_add_record(im, &r, spec);
	}
}
