/* import_kuma.c: Kuma's importer: its state and phases (mp_kuma_import). Kuma's documents come as
 * Kubernetes CRDs (kuma.io/v1alpha1, the mesh a kuma.io/mesh label) or in Universal mode's type
 * form (`type`, `name`, `mesh`); both are checked field by field (schema_kuma.c), given the
 * labels Kuma's control plane computes (mesh, policy role, namespace, origin, zone, display
 * name), and kept in the model as resources, with those labels and the lines reasons cite
 * beside their spec (aux). Meshes and their mTLS, MeshIdentity's workload identities and the
 * Kubernetes pods Kuma injects are read here and in dataplanes_kuma.c; routes in
 * routes_kuma.c; the analyzers in analyze_kuma.c. Mapping: docs/import.md ("Kuma"). */
#include "alloc.h"
#include "kuma_int.h"
#include "providers/kubernetes/kubernetes_int.h"

#include <stdio.h>
#include <string.h>

/* --- documents: mesh, spec, title, labels --- */

static int legacy(const idoc *dc)
{
	return kuma_is(dc, KM_MESH) || kuma_is(dc, KM_TRAFFICPERMISSION) ||
	       kuma_is(dc, KM_DATAPLANE) || kuma_is(dc, KM_ZONE);
}

yaml_node_t *mp_kuma_spec(idoc *dc)
{
	return dc->form && legacy(dc) ? dc->root : dc->spec;
}

const char *mp_kuma_mesh_of(mp_import *im, idoc *dc)
{
	const char *m;
	(void)im; /* the document's own strings, which stay put while the model grows */
	if (kuma_is(dc, KM_MESH))
		return im_scalar(im_get(dc, dc->meta, "name"));
	if (dc->form)
		return dc->scope ? im_scalar(im_get(dc, dc->root, "mesh")) : "default";
	m = im_scalar(im_get(dc, im_get(dc, dc->meta, "labels"), KM_LABEL_MESH));
	if (!m) /* cluster-scoped legacy CRDs put it beside metadata */
		m = im_scalar(im_get(dc, dc->root, "mesh"));
	return m ? m : "default";
}

const char *mp_kuma_title(mp_import *im, idoc *dc, char *buf, size_t len)
{
	return im_title(im, dc, buf, len);
}

/* Kinds with a targetRef whose role Kuma computes (ComputePolicyRole). */
static int targeted(const idoc *dc)
{
	return dc->kind >= &mp_kuma_kinds[KM_MESHTRAFFICPERMISSION] &&
	       dc->kind <= &mp_kuma_kinds[KM_MESHLOADBALANCINGSTRATEGY] &&
	       !kuma_is(dc, KM_MESHSERVICE) && !kuma_is(dc, KM_MESHEXTERNALSERVICE) &&
	       !kuma_is(dc, KM_MESHMULTIZONESERVICE);
}

/* pkg/core/resources/model/resource.go ComputePolicyRole: a policy in the system namespace (or
 * without one) is a system policy; one with from or rules and no to, a workload owner's; one
 * whose to items all name a MeshService or MeshHTTPRoute of its own namespace, a producer's;
 * any other, a consumer's. */
static const char *role_of(mp_import *im, idoc *dc)
{
	const kuma_state *st = kuma_of(im);
	yaml_node_t *to = im_get(dc, dc->spec, "to"), *item;
	if (dc->form || !strcmp(im_str_of(im, dc->ns), st->system_ns))
		return "system";
	if (!to || to->type != YAML_SEQUENCE_NODE)
		return "workload-owner";
	IM_SEQ_FOREACH(dc, to, item)
	{
		yaml_node_t *ref = im_get(dc, item, "targetRef");
		const char *kind = im_scalar(im_get(dc, ref, "kind"));
		const char *ns = im_scalar(im_get(dc, ref, "namespace"));
		if (!kind || (strcmp(kind, "MeshService") && strcmp(kind, "MeshHTTPRoute")) ||
		    !im_scalar(im_get(dc, ref, "name")) ||
		    (ns && strcmp(ns, im_str_of(im, dc->ns))))
			return "consumer";
	}
	return "producer";
}

/* ComputePolicyRole: outside the system namespace a policy may not have both to and from
 * (Kuma refuses it: "it's not allowed to mix 'to' and 'from' arrays in the same policy"). */
static int mixed_lists(mp_import *im, idoc *dc)
{
	yaml_node_t *to = im_get(dc, dc->spec, "to"), *from = im_get(dc, dc->spec, "from");
	if (!targeted(dc) || dc->form || !strcmp(im_str_of(im, dc->ns), kuma_of(im)->system_ns) ||
	    !to || !from || to->type != YAML_SEQUENCE_NODE || from->type != YAML_SEQUENCE_NODE ||
	    to->data.sequence.items.top == to->data.sequence.items.start ||
	    from->data.sequence.items.top == from->data.sequence.items.start)
		return 0;
	return im_error(im, dc, from,
	                "spec: it's not allowed to mix 'to' and 'from' arrays in the same policy "
	                "(outside the system namespace %s)",
	                kuma_of(im)->system_ns);
}

static int set_str(json_t *o, const char *k, const char *v)
{
	return json_object_set_new(o, k, json_string(v));
}

/* The labels Kuma's control plane gives the document (ComputeLabels): as written, with its
 * mesh, display name, policy role, namespace and, in a multi-zone import, the origin and zone
 * of a Kubernetes zone's own documents. */
static json_t *compute_labels(mp_import *im, idoc *dc)
{
	json_t *o = json_object();
	yaml_node_t *labels = im_get(dc, dc->meta, "labels"), *k, *val;
	char cl[256];
	if (!o)
		return NULL;
	if (labels && labels->type == YAML_MAPPING_NODE)
		IM_MAP_FOREACH(dc, labels, k, val)
		{
			if (im_scalar(k) && im_scalar(val) &&
			    set_str(o, im_scalar(k), im_scalar(val)))
				goto fail;
		}
	if (set_str(o, KM_LABEL_MESH, mp_kuma_mesh_of(im, dc)) < 0)
		goto fail;
	if (!json_object_get(o, KM_LABEL_DISPLAY) &&
	    set_str(o, KM_LABEL_DISPLAY, im_str_of(im, dc->name)) < 0)
		goto fail;
	if (targeted(dc) && !json_object_get(o, KM_LABEL_ROLE) &&
	    set_str(o, KM_LABEL_ROLE, role_of(im, dc)) < 0)
		goto fail;
	if (dc->ns && set_str(o, KM_LABEL_NAMESPACE, im_str_of(im, dc->ns)) < 0)
		goto fail;
	if (!dc->form && im->multi_cluster && dc->cluster != MP_NONE &&
	    !json_object_get(o, KM_LABEL_ORIGIN)) {
		snprintf(cl, sizeof(cl), "%s",
		         im_str_of(im, mp_model_get_view(im->m).clusters[dc->cluster].name));
		if (set_str(o, KM_LABEL_ORIGIN, "zone") < 0 ||
		    (!json_object_get(o, KM_LABEL_ZONE) && set_str(o, KM_LABEL_ZONE, cl) < 0))
			goto fail;
	}
	return o;
fail:
	json_decref(o);
	return NULL;
}

json_t *mp_kuma_labels(mp_import *im, uint32_t doc)
{
	kuma_state *st = kuma_of(im);
	return st->labels ? st->labels[doc] : NULL;
}

km_policy mp_kuma_policy(mp_import *im, uint32_t doc)
{
	kuma_state *st = kuma_of(im);
	km_policy p = {mp_kuma_labels(im, doc), st->refs ? st->refs[doc] : NULL, doc};
	return p;
}

const km_mesh *mp_kuma_mesh(mp_import *im, mp_str name)
{
	const kuma_state *st = kuma_of(im);
	for (uint32_t i = 0; i < st->nmeshes; i++)
		if (st->meshes[i].name == name)
			return &st->meshes[i];
	return NULL;
}

/* --- the CLUSTERS phase: presence, checks, labels, meshes, zones --- */

static int injected(mp_import *im, idoc *dc)
{
	yaml_node_t *meta = dc->meta, *spec;
	if (k8s_is(dc, K8S_NAMESPACE))
		meta = dc->meta;
	else if (dc->provider == &mp_provider_kubernetes && !k8s_is(dc, K8S_SERVICE) &&
	         !k8s_is(dc, K8S_SERVICEACCOUNT) && !k8s_is(dc, K8S_NODE))
		mp_k8s_pod(dc, &meta, &spec);
	else
		return 0;
	(void)im;
	const char *v =
	    im_scalar(im_get(dc, im_get(dc, meta, "labels"), "kuma.io/sidecar-injection"));
	return v && (!strcmp(v, "enabled") || !strcmp(v, "true"));
}

static int is_present(mp_import *im)
{
	for (uint32_t i = 0; i < im->ndocs; i++) {
		idoc *dc = &im->docs[i];
		if (im_live(dc) && (kuma_doc(dc) || injected(im, dc)))
			return 1;
	}
	return 0;
}

/* Mesh.mtls: enabled when enabledBackend names a backend; its mode (STRICT by default). */
static void read_mesh(mp_import *im, idoc *dc)
{
	kuma_state *st = kuma_of(im);
	yaml_node_t *mtls = im_get(dc, mp_kuma_spec(dc), "mtls"), *b;
	const char *enabled = im_scalar(im_get(dc, mtls, "enabledBackend"));
	const km_mesh *have = mp_kuma_mesh(im, dc->name);
	char where[600];
	if (have) {
		im_note(im, dc, dc->root,
		        "mesh '%s' is declared already at %s: this one is not read",
		        im_str_of(im, dc->name),
		        mp_model_loc_str(im->m, im->docs[have->doc].loc, where, sizeof(where)));
		return;
	}
	km_mesh *m = &st->meshes[st->nmeshes++];
	*m = (km_mesh){dc->name, (uint32_t)(dc - im->docs), enabled && *enabled, 0};
	yaml_node_t *backends = im_get(dc, mtls, "backends");
	if (m->mtls && backends && backends->type == YAML_SEQUENCE_NODE)
		IM_SEQ_FOREACH(dc, backends, b)
		{
			const char *name = im_scalar(im_get(dc, b, "name"));
			const char *mode = im_scalar(im_get(dc, b, "mode"));
			if (name && !strcmp(name, enabled))
				m->permissive = mode && !strcmp(mode, "PERMISSIVE");
		}
}

static void clusters(mp_import *im)
{
	kuma_state *st = kuma_of(im);
	if (!(st->present = is_present(im)))
		return;
	st->labels = mp_calloc(im->ndocs + 1, sizeof(*st->labels));
	st->refs = mp_calloc(im->ndocs + 1, sizeof(*st->refs));
	st->meshes = mp_calloc(im->ndocs + 1, sizeof(*st->meshes));
	st->ms_svc = mp_calloc(im->ndocs + 1, sizeof(*st->ms_svc));
	if (!st->labels || !st->refs || !st->meshes || !st->ms_svc) {
		im->oom = 1;
		return;
	}
	st->nlabels = im->ndocs;
	for (uint32_t i = 0; i < im->ndocs; i++) {
		idoc *dc = &im->docs[i];
		st->ms_svc[i] = MP_NONE;
		if (!kuma_doc(dc) || !im_live(dc))
			continue;
		if (mp_kuma_check(im, dc) < 0 || mixed_lists(im, dc) < 0)
			continue;
		yaml_node_t *ref = im_get(dc, dc->spec, "targetRef");
		if (!(st->labels[i] = compute_labels(im, dc)) ||
		    (ref && !(st->refs[i] = im_json(dc, ref)))) {
			im->oom = 1;
			return;
		}
		if (kuma_is(dc, KM_ZONE) &&
		    im_cluster(im, im_str_of(im, dc->name), dc->loc) == MP_NONE)
			return;
	}
	for (uint32_t i = 0; i < im->ndocs; i++)
		if (kuma_is(&im->docs[i], KM_MESH) && im_live(&im->docs[i]))
			read_mesh(im, &im->docs[i]);
}

/* --- identities --- */

/* The SPIFFE ID a MeshIdentity gives (helpers.go GetTrustDomain, GetSpiffeID): its
 * trustDomain (default {{ .Mesh }}.{{ .Zone }}.mesh.local) and path (default
 * /ns/{{ .Namespace }}/sa/{{ .ServiceAccount }} on Kubernetes, /workload/{{ .Workload }} in
 * Universal mode), rendered with the dataplane's labels. */
static int spiffe_of(mp_import *im, idoc *mi, json_t *labels, const char *mesh, const char *zone,
                     char *out, size_t len)
{
	yaml_node_t *sid = im_get(mi, mi->spec, "spiffeID");
	const char *td = im_scalar(im_get(mi, sid, "trustDomain"));
	const char *path = im_scalar(im_get(mi, sid, "path"));
	int k8s = km_label(labels, KM_LABEL_NAMESPACE) != NULL;
	char tdout[512], pout[512];
	json_t *vars = json_pack(
	    "{s:s, s:s, s:s, s:s, s:s}", "Mesh", mesh, "Zone", zone, "Namespace",
	    km_label(labels, KM_LABEL_NAMESPACE) ? km_label(labels, KM_LABEL_NAMESPACE) : "",
	    "ServiceAccount",
	    km_label(labels, "k8s.kuma.io/service-account")
	        ? km_label(labels, "k8s.kuma.io/service-account")
	        : "",
	    "Workload",
	    km_label(labels, "kuma.io/workload") ? km_label(labels, "kuma.io/workload") : "");
	int rc = -1;
	if (!vars) {
		im->oom = 1;
		return -1;
	}
	if (mp_kuma_render(td ? td : "{{ .Mesh }}.{{ .Zone }}.mesh.local", vars, labels, tdout,
	                   sizeof(tdout)) < 0) {
		im_note(im, mi, sid ? sid : mi->root, "spiffeID.trustDomain: %s: no identity",
		        tdout);
	} else if (mp_kuma_render(path  ? path
	                          : k8s ? "/ns/{{ .Namespace }}/sa/{{ .ServiceAccount }}"
	                                : "/workload/{{ .Workload }}",
	                          vars, labels, pout, sizeof(pout)) < 0) {
		im_note(im, mi, sid ? sid : mi->root, "spiffeID.path: %s: no identity", pout);
	} else {
		snprintf(out, len, "spiffe://%s%s", tdout, pout);
		rc = 0;
	}
	json_decref(vars);
	return rc;
}

uint32_t mp_kuma_identity(mp_import *im, mp_str mesh, json_t *labels, mp_id cluster, char *out,
                          size_t len)
{
	uint32_t best = UINT32_MAX;
	size_t best_n = 0;
	for (uint32_t i = 0; i < im->ndocs; i++) {
		idoc *dc = &im->docs[i];
		json_t *pl = mp_kuma_labels(im, i);
		if (!kuma_is(dc, KM_MESHIDENTITY) || !im_live(dc) || !pl ||
		    strcmp(km_label(pl, KM_LABEL_MESH), im_str_of(im, mesh)))
			continue;
		yaml_node_t *sel = im_get(dc, im_get(dc, dc->spec, "selector"), "dataplane");
		if (!sel || sel->type != YAML_MAPPING_NODE)
			continue;
		json_t *ml = im_json(
		    dc, im_get(dc, sel, "matchLabels") ? im_get(dc, sel, "matchLabels") : sel);
		int ok = ml && (!im_get(dc, sel, "matchLabels") || km_tags_match(ml, labels, 0));
		size_t n = im_get(dc, sel, "matchLabels") ? json_object_size(ml) : 0;
		json_decref(ml);
		if (!ok)
			continue;
		if (best == UINT32_MAX || n > best_n ||
		    (n == best_n &&
		     strcmp(im_str_of(im, dc->name), im_str_of(im, im->docs[best].name)) < 0))
			best = i, best_n = n;
	}
	if (best == UINT32_MAX)
		return best;
	const char *zone = km_label(labels, KM_LABEL_ZONE);
	const char *local = cluster != MP_NONE
	                        ? im_str_of(im, mp_model_get_view(im->m).clusters[cluster].name)
	                        : "";
	if (spiffe_of(im, &im->docs[best], labels, im_str_of(im, mesh), zone ? zone : local, out,
	              len) < 0)
		return UINT32_MAX;
	return best;
}

/* --- resources --- */

/* The lines reasons cite, in the order the compiled state reads the spec (kuma_state.h):
 * a MeshTrafficPermission's from[i], then per rules[i] its own line and its deny, allow and
 * allowWithShadowDeny matchers; a MeshTLS's rules[i] and from[i]; a TrafficPermission's
 * sources[i]; a Mesh's mtls. */
static uint32_t lines_of(idoc *dc, uint32_t *out, uint32_t max)
{
	yaml_node_t *spec = mp_kuma_spec(dc), *item, *m;
	uint32_t n = 0;
	static const char *const lists[] = {"from", "rules", "sources"};
	static const char *const acts[] = {"deny", "allow", "allowWithShadowDeny"};
#define LINE(node)                                                                                 \
	do {                                                                                       \
		if (n < max)                                                                       \
			out[n++] = im_loc(dc, node).line;                                          \
	} while (0)
	if (kuma_is(dc, KM_MESH)) {
		yaml_node_t *mtls = im_get(dc, spec, "mtls");
		LINE(mtls ? mtls : dc->root);
		return n;
	}
	for (size_t l = 0; l < 3; l++) {
		yaml_node_t *seq = im_get(dc, spec, lists[l]);
		if (!seq || seq->type != YAML_SEQUENCE_NODE)
			continue;
		IM_SEQ_FOREACH(dc, seq, item)
		{
			LINE(item);
			if (l != 1 || !kuma_is(dc, KM_MESHTRAFFICPERMISSION))
				continue;
			yaml_node_t *def = im_get(dc, item, "default");
			for (size_t a = 0; a < 3; a++) {
				yaml_node_t *ms = im_get(dc, def, acts[a]);
				if (ms && ms->type == YAML_SEQUENCE_NODE)
					IM_SEQ_FOREACH(dc, ms, m)
					{
						LINE(m);
					}
			}
		}
	}
#undef LINE
	return n;
}

/* A document's spec as the resource keeps it: `spec`, or a legacy kind's top level in the type
 * form (without type, name, mesh and labels, which the resource and its labels hold). */
static json_t *spec_json(idoc *dc)
{
	yaml_node_t *spec = mp_kuma_spec(dc);
	json_t *j = spec ? im_json(dc, spec) : json_object();
	if (j && dc->form && legacy(dc)) {
		json_object_del(j, "type");
		json_object_del(j, "name");
		json_object_del(j, "mesh");
		json_object_del(j, "labels");
	}
	return j;
}

#define MAX_AUX 4096

static void add_document(mp_import *im, uint32_t i)
{
	idoc *dc = &im->docs[i];
	json_t *labels = mp_kuma_labels(im, i), *v;
	const char *k;
	uint32_t aux[MAX_AUX], n = 1;
	json_object_foreach(labels, k, v)
	{
		if (n + 2 >= MAX_AUX / 2)
			break;
		aux[n++] = im_intern(im, k);
		aux[n++] = im_intern(im, json_string_value(v));
	}
	aux[0] = (n - 1) / 2;
	uint32_t nl = lines_of(dc, aux + n + 1, MAX_AUX - n - 1);
	aux[n] = nl;
	n += 1 + nl;
	json_t *spec = spec_json(dc);
	mp_span span = {mp_model_push_u32(im->m, aux, n), n};
	if (!spec || span.off == MP_NONE) {
		json_decref(spec);
		im->oom = 1;
		return;
	}
	im_add_resource(im, dc, spec, 0, span);
}

/* The RESOURCES phase: every Kuma document as written, a Mesh record for Kuma's default mesh
 * when no document declares it but something of it is there, and each dataplane's record. */
static void resources(mp_import *im)
{
	kuma_state *st = kuma_of(im);
	if (!st->present)
		return;
	mp_str dflt = im_intern(im, "default");
	int uses_default = 0;
	for (uint32_t i = 0; i < im->ndocs && !im->oom; i++) {
		idoc *dc = &im->docs[i];
		if (!kuma_doc(dc) || !im_live(dc) || !st->labels[i])
			continue;
		add_document(im, i);
		uses_default |= !kuma_is(dc, KM_MESH) && !kuma_is(dc, KM_ZONE) &&
		                !strcmp(km_label(st->labels[i], KM_LABEL_MESH), "default");
	}
	for (uint32_t i = 0; i < st->ndps; i++)
		uses_default |= st->dps[i].mesh == dflt;
	if (uses_default && !mp_kuma_mesh(im, dflt) && !im->oom) {
		/* Kuma creates mesh "default", without mTLS, when its control plane starts */
		mp_resource r = {.kind = im_intern(im, "Mesh"),
		                 .api = im_intern(im, KM_API),
		                 .name = dflt,
		                 .cluster = MP_NONE,
		                 .loc = {0, 0, 0}};
		json_t *spec = json_object();
		if (!spec) {
			im->oom = 1;
			return;
		}
		im_add_record(im, &r, spec);
	}
	mp_kuma_dataplane_records(im);
}

/* --- the importer --- */

static void *begin(mp_import *im)
{
	kuma_state *st = mp_calloc(1, sizeof(*st));
	const mp_import_opts *o = im->o;
	if (!st)
		return NULL;
	st->system_ns = mp_provider_option_value(
	    o ? o->provider_opts : NULL, o ? o->nprovider_opts : 0, "kuma", "system-namespace");
	return st;
}

static void end(void *state)
{
	kuma_state *st = state;
	for (uint32_t i = 0; i < st->nlabels; i++) {
		json_decref(st->labels[i]);
		json_decref(st->refs[i]);
	}
	for (uint32_t i = 0; i < st->ndps; i++) {
		km_dp *d = &st->dps[i];
		for (uint32_t k = 0; k < d->nin; k++)
			json_decref(d->in[k].tags);
		mp_free(d->in);
		json_decref(d->labels);
		json_decref(d->outbounds);
	}
	mp_free(st->dps);
	mp_free(st->labels);
	mp_free(st->refs);
	mp_free(st->meshes);
	mp_free(st->ms_svc);
	mp_free(st);
}

static int holds(mp_import *im)
{
	return kuma_of(im)->present;
}

const struct mp_provider_import mp_kuma_import = {
    .begin = begin,
    .end = end,
    .phase =
        {
            [IM_PHASE_CLUSTERS] = clusters,
            [IM_PHASE_WORKLOADS] = mp_kuma_workloads,
            [IM_PHASE_WORKLOAD_POLICY] = mp_kuma_workload_policy,
            [IM_PHASE_SERVICES] = mp_kuma_services,
            [IM_PHASE_ELEMENTS] = mp_kuma_elements,
            [IM_PHASE_ROUTES] = mp_kuma_routes,
            [IM_PHASE_RESOURCES] = resources,
        },
    .identity = mp_kuma_k8s_identity,
    .holds = holds,
};
