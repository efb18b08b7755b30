/* import_k8s.c: Kubernetes resources -> namespaces, workloads and services. A Service in
 * namespace ns becomes the meshpol service ns/name, in every cluster that has it; its identity
 * is that of the service account its selected workloads run as. Data classes, owner and mTLS
 * facts come from meshpol.io/ labels and annotations. What only the mesh can tell (identity
 * format, mTLS policy, protocol from a port's name) it asks the providers through the frame
 * (im_identity, im_namespace_mtls, im_port_protocol) or finds set by their phases
 * (iworkload.mtls). Mapping: docs/import.md. */
#include "alloc.h"
#include "kubernetes_int.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#define MAX_DATA 128

/* --- cluster regions from Nodes --- */

/* Node topology labels: the region and zone of clusters that do not declare them. */
static void node_topology(mp_import *im)
{
	mp_model_view v = mp_model_get_view(im->m);
	for (mp_id c = 0; c < v.nclusters; c++) {
		const char *region = NULL, *zone = NULL;
		int mixed_region = 0, mixed_zone = 0;
		idoc *first = NULL;
		for (uint32_t i = 0; i < im->ndocs; i++) {
			idoc *dc = &im->docs[i];
			if (!k8s_is(dc, K8S_NODE) || dc->cluster != c || dc->dead)
				continue;
			const char *r =
			    im_meta_value(dc, dc->meta, "topology.kubernetes.io/region");
			const char *z = im_meta_value(dc, dc->meta, "topology.kubernetes.io/zone");
			if (!r)
				r = im_meta_value(dc, dc->meta,
				                  "failure-domain.beta.kubernetes.io/region");
			if (!z)
				z = im_meta_value(dc, dc->meta,
				                  "failure-domain.beta.kubernetes.io/zone");
			if (!first)
				first = dc;
			if (r && region && strcmp(r, region))
				mixed_region = 1;
			if (z && zone && strcmp(z, zone))
				mixed_zone = 1;
			if (r && !region)
				region = r;
			if (z && !zone)
				zone = z;
		}
		if (!first)
			continue;
		mp_cluster *cl = mp_model_cluster_mut(im->m, c);
		const char *have = im_str_of(im, cl->region);
		if (mixed_region) {
			im_note(
			    im, first, first->meta,
			    "the Nodes of cluster '%s' are in several regions; the cluster keeps "
			    "region '%s'",
			    im_str_of(im, cl->name), *have ? have : "(unknown)");
		} else if (region && !*have) {
			cl->region = im_intern(im, region);
		} else if (region && strcmp(have, region)) {
			im_note(im, first, first->meta,
			        "Node region '%s' differs from cluster '%s' region '%s' (the "
			        "Cluster wins)",
			        region, im_str_of(im, cl->name), have);
		}
		if (zone && !mixed_zone && !*im_str_of(im, cl->zone))
			cl->zone = im_intern(im, zone);
	}
}

/* --- namespaces --- */

/* A ConfigMap no mesh reads is skipped, as every kind meshpol does not import (the note of
 * mp_import_document, in its words). */
static void configmaps(mp_import *im)
{
	for (uint32_t i = 0; i < im->ndocs; i++) {
		idoc *dc = &im->docs[i];
		if (!k8s_is(dc, K8S_CONFIGMAP) || dc->dead || im_reads(im, dc))
			continue;
		mp_loc l = im_loc(dc, im_get(dc, dc->root, "kind"));
		mp_diags_add(
		    im->d, MP_DIAG_NOTE, im_str_of(im, l.file), l.line, l.col,
		    "skipped kind 'ConfigMap' (apiVersion %s): meshpol does not import this "
		    "kind",
		    im_str_of(im, dc->api));
		dc->dead = 1;
	}
}

static void namespaces(mp_import *im)
{
	configmaps(im);
	for (uint32_t i = 0; i < im->ndocs && !im->oom; i++) {
		idoc *dc = &im->docs[i];
		if (!k8s_is(dc, K8S_NAMESPACE) || !im_live(dc))
			continue;
		mp_id have = im->host->lookup(im->host->ctx, MP_IMPORT_NAMESPACE, dc->name, 0);
		int ours = 0;
		for (uint32_t k = 0; k < i && have != MP_NONE && !ours; k++)
			ours = k8s_is(&im->docs[k], K8S_NAMESPACE) &&
			       im->docs[k].name == dc->name && !im->docs[k].dead;
		if (ours) /* the same namespace in another cluster: the first one describes it */
			continue;
		mp_span labels;
		yaml_node_t *ann;
		if (im_labels(im, dc, im_get(dc, dc->meta, "labels"), &labels) < 0 ||
		    im_map(im, dc, dc->meta, "annotations", 0, &ann) < 0)
			continue;
		mp_str data[MAX_DATA];
		uint32_t nd = im_data_classes(
		    im, im_meta_value(dc, dc->meta, "meshpol.io/data-classes"), data, 0, MAX_DATA);
		mp_namespace n = {dc->name, labels, {0, 0}, dc->loc};
		if (nd && (n.data.off = mp_model_push_u32(im->m, data, nd)) == MP_NONE) {
			im->oom = 1;
			return;
		}
		n.data.n = nd;
		mp_id id = mp_model_get_view(im->m).nnamespaces;
		char what[300];
		snprintf(what, sizeof(what), "Namespace '%s'", im_str_of(im, dc->name));
		if (im->host->declare(im->host->ctx, MP_IMPORT_NAMESPACE, dc->name, 0, id, dc->loc,
		                      what) < 0)
			continue;
		if (mp_model_add_namespace(im->m, &n) == MP_NONE)
			im->oom = 1;
	}
}

/* --- workloads --- */

static int owned(idoc *dc, yaml_node_t *meta)
{
	yaml_node_t *refs = im_get(dc, meta, "ownerReferences");
	return refs && refs->type == YAML_SEQUENCE_NODE &&
	       refs->data.sequence.items.top > refs->data.sequence.items.start;
}

static int is_workload(const idoc *dc)
{
	return k8s_is(dc, K8S_DEPLOYMENT) || k8s_is(dc, K8S_STATEFULSET) ||
	       k8s_is(dc, K8S_DAEMONSET) || k8s_is(dc, K8S_REPLICASET) || k8s_is(dc, K8S_POD);
}

static void add_workload(mp_import *im, uint32_t doc)
{
	idoc *dc = &im->docs[doc];
	yaml_node_t *tmeta = dc->meta, *podspec = dc->spec, *tmpl = NULL, *ann;
	if (!k8s_is(dc, K8S_POD)) {
		if (!dc->spec) {
			im_error(im, dc, dc->root, "missing required field 'spec'");
			return;
		}
		if (im_map(im, dc, dc->spec, "template", 1, &tmpl) < 0 ||
		    im_map(im, dc, tmpl, "metadata", 0, &tmeta) < 0 ||
		    im_map(im, dc, tmpl, "spec", 0, &podspec) < 0)
			return;
	}
	const char *sa = NULL, *sa2 = NULL;
	mp_span labels = {0, 0};
	if (podspec && (im_str(im, dc, podspec, "serviceAccountName", 0, &sa) < 0 ||
	                im_str(im, dc, podspec, "serviceAccount", 0, &sa2) < 0))
		return;
	if (tmeta && (im_labels(im, dc, im_get(dc, tmeta, "labels"), &labels) < 0 ||
	              im_map(im, dc, tmeta, "annotations", 0, &ann) < 0))
		return;
	if (im_map(im, dc, dc->meta, "annotations", 0, &ann) < 0)
		return;
	mp_id ns = im_namespace(im, dc->ns, dc->loc);
	if (ns == MP_NONE)
		return;
	char ident[1024];
	im_identity(im, dc, im_str_of(im, dc->ns),
	            sa    ? sa
	            : sa2 ? sa2
	                  : "default",
	            ident, sizeof(ident));
	if (im->nwl % 64 == 0) {
		iworkload *nv = mp_realloc(im->wl, (im->nwl + 64) * sizeof(*nv));
		if (!nv) {
			im->oom = 1;
			return;
		}
		im->wl = nv;
	}
	iworkload *w = &im->wl[im->nwl++];
	memset(w, 0, sizeof(*w));
	w->doc = doc;
	w->ns = ns;
	w->cluster = dc->cluster;
	w->name = dc->name;
	w->kind = im_intern(im, dc->kind->kind);
	w->identity = im_intern(im, ident);
	w->labels = labels;
	w->annotations = tmeta ? im_get(dc, tmeta, "annotations") : NULL;
	w->annotations2 = tmeta != dc->meta ? im_get(dc, dc->meta, "annotations") : NULL;
	w->mtls_doc = UINT32_MAX;
}

static void workloads(mp_import *im)
{
	for (uint32_t i = 0; i < im->ndocs && !im->oom; i++) {
		idoc *dc = &im->docs[i];
		if (!is_workload(dc) || !im_live(dc))
			continue;
		/* a Pod or ReplicaSet a controller owns: its owner is the workload */
		if ((k8s_is(dc, K8S_POD) || k8s_is(dc, K8S_REPLICASET)) && owned(dc, dc->meta))
			continue;
		add_workload(im, i);
	}
}

void mp_k8s_pod(idoc *dc, yaml_node_t **meta, yaml_node_t **spec)
{
	yaml_node_t *tmpl = NULL;
	*meta = *spec = NULL;
	if (k8s_is(dc, K8S_POD)) {
		*meta = dc->meta;
		*spec = dc->spec;
	} else if ((tmpl = im_get(dc, dc->spec, "template")) && tmpl->type == YAML_MAPPING_NODE) {
		*meta = im_get(dc, tmpl, "metadata");
		*spec = im_get(dc, tmpl, "spec");
	}
	if (*meta && (*meta)->type != YAML_MAPPING_NODE)
		*meta = NULL;
	if (*spec && (*spec)->type != YAML_MAPPING_NODE)
		*spec = NULL;
}

/* A meshpol.io/ value from a workload: the pod template's annotations, labels, then the
 * object's annotations. */
static const char *wl_value(mp_import *im, const iworkload *w, const char *key)
{
	idoc *dc = &im->docs[w->doc];
	const char *v = im_scalar(im_get(dc, w->annotations, key));
	mp_model_view mv = mp_model_get_view(im->m);
	for (uint32_t i = 0; !v && i < w->labels.n; i++)
		if (!strcmp(im_str_of(im, mv.labels[w->labels.off + i].key), key))
			v = im_str_of(im, mv.labels[w->labels.off + i].value);
	if (!v)
		v = im_scalar(im_get(dc, w->annotations2, key));
	return v;
}

/* --- services --- */

static int add_ports(mp_import *im, idoc *dc, mp_port *ports, uint32_t *n, uint32_t max)
{
	yaml_node_t *seq, *item;
	if (im_seq(im, dc, dc->spec, "ports", 0, &seq) < 0)
		return -1;
	if (!seq)
		return 0;
	IM_SEQ_FOREACH(dc, seq, item)
	{
		uint32_t port;
		int set;
		const char *name, *app, *proto;
		if (item->type != YAML_MAPPING_NODE)
			return im_error(im, dc, item, "a port must be a mapping, not %s",
			                im_kind_of(item));
		if (im_u32(im, dc, item, "port", 1, 65535, &port, &set) < 0 ||
		    im_str(im, dc, item, "name", 0, &name) < 0 ||
		    im_str(im, dc, item, "appProtocol", 0, &app) < 0 ||
		    im_str(im, dc, item, "protocol", 0, &proto) < 0)
			return -1;
		if (!set)
			return im_error(im, dc, item, "missing required field 'port'");
		uint32_t k;
		for (k = 0; k < *n && ports[k].port != port; k++)
			;
		if (k < *n || *n == max)
			continue;
		const char *p = im_port_protocol(im, dc, item, port, name, app);
		if (proto && !strcasecmp(proto, "UDP"))
			p = "tcp";
		ports[(*n)++] = (mp_port){port, im_intern(im, p), name ? im_intern(im, name) : 0};
	}
	return 0;
}

/* The mTLS mode a service gets from its workloads' (their mesh's policies set them): the
 * weakest, as a caller may reach any of them. A workload whose mode no policy set (UNSET) may
 * take plaintext, so it ranks as PERMISSIVE. */
static uint32_t weakest(uint32_t a, uint32_t b)
{
	static const int rank[] = {2, 3, 2, 1}; /* UNSET, STRICT, PERMISSIVE, DISABLE */
	if (a == MP_NONE)
		return b;
	return rank[b] < rank[a] ? b : a;
}

static void external_name(mp_import *im, idoc *dc)
{
	const char *host;
	char name[600], what[700];
	if (im_str(im, dc, dc->spec, "externalName", 1, &host) < 0)
		return;
	snprintf(name, sizeof(name), "%s/%s", im_str_of(im, dc->ns), im_str_of(im, dc->name));
	snprintf(what, sizeof(what), "External '%s'", name);
	mp_str n = im_intern(im, name);
	mp_external e = {n, im_intern(im, host), 0, MP_NONE, {0, 0}, dc->loc};
	mp_id id = mp_model_get_view(im->m).nexternals;
	if (im->host->declare(im->host->ctx, MP_IMPORT_EXTERNAL, n, 0, id, dc->loc, what) == 0 &&
	    mp_model_add_external(im->m, &e) == MP_NONE)
		im->oom = 1;
}

/* What the services phase looks up per Service, built once: the next Service document of the
 * same namespace and name, and the workloads of each namespace (a mesh of 10,000 Services would
 * otherwise scan every document and every workload for each). */
typedef struct {
	uint32_t *next_same; /* per document: the next Service of its ns/name, or UINT32_MAX */
	uint32_t *wl_off;    /* workloads of namespace n: wl_by_ns[wl_off[n] .. wl_off[n + 1]) */
	uint32_t *wl_by_ns;  /* workload indices, grouped by namespace, in order */
	uint32_t nns;
} svc_index;

typedef struct {
	mp_str ns, name;
	uint32_t doc;
} svc_key;

static int cmp_svc_key(const void *x, const void *y)
{
	const svc_key *a = x, *b = y;
	if (a->ns != b->ns)
		return a->ns < b->ns ? -1 : 1;
	if (a->name != b->name)
		return a->name < b->name ? -1 : 1;
	return a->doc < b->doc ? -1 : a->doc > b->doc;
}

static int svc_index_build(mp_import *im, svc_index *x)
{
	uint32_t n = 0, nns = mp_model_get_view(im->m).nnamespaces;
	svc_key *keys = mp_malloc((im->ndocs + 1) * sizeof(svc_key));
	x->next_same = mp_malloc((im->ndocs + 1) * sizeof(uint32_t));
	x->wl_off = mp_calloc(nns + 2, sizeof(uint32_t));
	x->wl_by_ns = mp_malloc((im->nwl + 1) * sizeof(uint32_t));
	x->nns = nns;
	if (!keys || !x->next_same || !x->wl_off || !x->wl_by_ns) {
		mp_free(keys);
		return -1;
	}
	for (uint32_t i = 0; i < im->ndocs; i++) {
		x->next_same[i] = UINT32_MAX;
		if (k8s_is(&im->docs[i], K8S_SERVICE))
			keys[n++] = (svc_key){im->docs[i].ns, im->docs[i].name, i};
	}
	qsort(keys, n, sizeof(svc_key), cmp_svc_key);
	for (uint32_t k = 0; k + 1 < n; k++)
		if (keys[k].ns == keys[k + 1].ns && keys[k].name == keys[k + 1].name)
			x->next_same[keys[k].doc] = keys[k + 1].doc;
	mp_free(keys);
	for (uint32_t w = 0; w < im->nwl; w++)
		if (im->wl[w].ns < nns)
			x->wl_off[im->wl[w].ns + 1]++;
	for (uint32_t k = 0; k < nns; k++)
		x->wl_off[k + 1] += x->wl_off[k];
	uint32_t *fill = mp_malloc((nns + 1) * sizeof(uint32_t));
	if (!fill)
		return -1;
	memcpy(fill, x->wl_off, (nns + 1) * sizeof(uint32_t));
	for (uint32_t w = 0; w < im->nwl; w++)
		if (im->wl[w].ns < nns)
			x->wl_by_ns[fill[im->wl[w].ns]++] = w;
	mp_free(fill);
	return 0;
}

static void svc_index_free(svc_index *x)
{
	mp_free(x->next_same);
	mp_free(x->wl_off);
	mp_free(x->wl_by_ns);
}

static void add_service(mp_import *im, const svc_index *x, uint32_t first)
{
	idoc *dc0 = &im->docs[first];
	mp_model_view mv = mp_model_get_view(im->m);
	mp_port ports[64];
	uint32_t nports = 0, clusters[64], ncl = 0, nwl = 0;
	mp_str data[MAX_DATA], identity = 0;
	uint32_t nd = 0, policy_mtls = MP_NONE;
	int several_ids = 0, any_policy = 0;
	const char *owner = NULL, *mtls_fact = NULL;
	mp_id sid = mv.nservices, ns = dc0->ns_id;
	if (ns == MP_NONE)
		return;
	for (uint32_t i = first; i != UINT32_MAX; i = x->next_same[i]) {
		idoc *dc = &im->docs[i];
		if (!im_live(dc))
			continue;
		if (i > first)
			dc->dead = 2; /* folded into this service */
		const char *type;
		yaml_node_t *sel;
		if (!dc->spec) {
			/* an analysis reads it as istioctl does: a Service with no ports and no
			 * selector (Kubernetes objects are not schema-checked); it serves nothing
			 */
			if (!im->o || !im->o->analyze)
				im_error(im, dc, dc->root, "missing required field 'spec'");
			continue;
		}
		if (im_str(im, dc, dc->spec, "type", 0, &type) < 0 ||
		    im_map(im, dc, dc->spec, "selector", 0, &sel) < 0 ||
		    add_ports(im, dc, ports, &nports, 64) < 0)
			continue;
		uint32_t k;
		for (k = 0; k < ncl && clusters[k] != dc->cluster; k++)
			;
		if (k == ncl && ncl < 64)
			clusters[ncl++] = dc->cluster;
		nd = im_data_classes(im, im_meta_value(dc, dc->meta, "meshpol.io/data-classes"),
		                     data, nd, MAX_DATA);
		if (!owner)
			owner = im_meta_value(dc, dc->meta, "meshpol.io/owner");
		if (!mtls_fact)
			mtls_fact = im_meta_value(dc, dc->meta, "meshpol.io/mtls");
		if (!sel || sel->type != YAML_MAPPING_NODE ||
		    sel->data.mapping.pairs.top == sel->data.mapping.pairs.start)
			continue; /* no selector: endpoints are managed by hand; no workloads */
		for (uint32_t k = ns < x->nns ? x->wl_off[ns] : 0;
		     ns < x->nns && k < x->wl_off[ns + 1]; k++) {
			iworkload *wl = &im->wl[x->wl_by_ns[k]];
			if (wl->ns != ns || wl->cluster != dc->cluster ||
			    !im_selector_matches(im, dc, sel, wl))
				continue;
			if (wl->nsvc < 16)
				wl->svc[wl->nsvc++] = sid;
			nwl++;
			if (identity && wl->identity != identity)
				several_ids = 1;
			identity = wl->identity;
			nd = im_data_classes(im, wl_value(im, wl, "meshpol.io/data-classes"), data,
			                     nd, MAX_DATA);
			if (!owner)
				owner = wl_value(im, wl, "meshpol.io/owner");
			if (!mtls_fact)
				mtls_fact = wl_value(im, wl, "meshpol.io/mtls");
			policy_mtls = weakest(policy_mtls, wl->mtls);
			any_policy |= wl->mtls_doc != UINT32_MAX;
		}
	}
	if (!ncl)
		return;
	char title[400];
	if (several_ids) {
		im_finding(im, "MultipleServiceAccounts", MP_FINDING_INFO, dc0->loc,
		           im_title(im, dc0, title, sizeof(title)),
		           "the workloads of Service %s/%s run as several service accounts: the "
		           "service has no single identity; each caller principal resolves to it "
		           "through its workload",
		           im_str_of(im, dc0->ns), im_str_of(im, dc0->name));
		identity = 0;
	}
	/* the namespace's data classes, as for native services */
	const mp_namespace *nsp = &mp_model_get_view(im->m).namespaces[ns];
	for (uint32_t k = 0; k < nsp->data.n && nd < MAX_DATA; k++) {
		mp_str d = mp_model_get_view(im->m).u32[nsp->data.off + k];
		uint32_t j;
		for (j = 0; j < nd && data[j] != d; j++)
			;
		if (j == nd)
			data[nd++] = d;
	}
	/* a mesh's policies first: its workloads'; without workloads, the namespace's (or the
	 * mesh's); then the meshpol.io/mtls fact (meshes with no such policies) */
	uint32_t mtls = MP_MTLS_UNSET;
	if (any_policy)
		mtls = policy_mtls;
	else if (!nwl && (mtls = im_namespace_mtls(im, ns, clusters[0])) != MP_MTLS_UNSET)
		;
	else if (mtls_fact)
		mtls = im_mtls_mode(mtls_fact);
	mp_span labels;
	if (im_labels(im, dc0, im_get(dc0, dc0->meta, "labels"), &labels) < 0)
		return;
	mp_service s = {.name = dc0->name,
	                .ns = ns,
	                .identity = identity,
	                .owner = owner ? im_intern(im, owner) : 0,
	                .mtls = mtls,
	                .labels = labels,
	                .loc = dc0->loc};
	s.clusters = (mp_span){mp_model_push_u32(im->m, clusters, ncl), ncl};
	s.ports = (mp_span){nports ? mp_model_push_ports(im->m, ports, nports) : 0, nports};
	s.data = (mp_span){nd ? mp_model_push_u32(im->m, data, nd) : 0, nd};
	if (s.clusters.off == MP_NONE || s.ports.off == MP_NONE || s.data.off == MP_NONE) {
		im->oom = 1;
		return;
	}
	char what[600];
	snprintf(what, sizeof(what), "Service '%s/%s'", im_str_of(im, dc0->ns),
	         im_str_of(im, dc0->name));
	if (im->host->declare(im->host->ctx, MP_IMPORT_SERVICE, ns, dc0->name, sid, dc0->loc,
	                      what) < 0) {
		for (uint32_t w = 0; w < im->nwl; w++) /* forget the matches made above */
			if (im->wl[w].nsvc && im->wl[w].svc[im->wl[w].nsvc - 1] == sid)
				im->wl[w].nsvc--;
		return;
	}
	if (mp_model_add_service(im->m, &s) == MP_NONE)
		im->oom = 1;
}

static void services(mp_import *im)
{
	svc_index x = {0};
	if (svc_index_build(im, &x) < 0) {
		im->oom = 1;
		svc_index_free(&x);
		return;
	}
	for (uint32_t i = 0; i < im->ndocs && !im->oom; i++) {
		idoc *dc = &im->docs[i];
		if (!k8s_is(dc, K8S_SERVICE) || !im_live(dc))
			continue;
		const char *type = NULL;
		if (dc->spec && im_str(im, dc, dc->spec, "type", 0, &type) < 0)
			continue;
		if (type && !strcmp(type, "ExternalName"))
			external_name(im, dc);
		else
			add_service(im, &x, i);
	}
	svc_index_free(&x);
}

/* --- the provider's importer and checks --- */

const struct mp_provider_import mp_k8s_import = {
    .phase =
        {
            [IM_PHASE_CLUSTERS] = node_topology,
            [IM_PHASE_NAMESPACES] = namespaces,
            [IM_PHASE_WORKLOADS] = workloads,
            [IM_PHASE_SERVICES] = services,
        },
};

/* Kubernetes' checks (check.h), made inline while it maps Services. */
const mp_check_row mp_k8s_analyzers[] = {
    {.id = "k8s.service-accounts",
     .codes = MP_CHECK_CODES("MultipleServiceAccounts"),
     .phase = MP_CHECK_IMPORT},
    /* the frame's, in an analysis: a malformed document of a provider that does not keep it
     * (import.c, im_error) */
    {.id = "k8s.schema",
     .codes = MP_CHECK_CODES("SchemaValidationError"),
     .phase = MP_CHECK_IMPORT},
    {.id = NULL},
};
