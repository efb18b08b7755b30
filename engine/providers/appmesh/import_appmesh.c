/* import_appmesh.c: App Mesh's importer: its documents checked against the CRDs' schemas
 * (schema_appmesh.c), each object's App Mesh name and mesh (the controller's membership
 * designators), which workloads run App Mesh's Envoy for which node or gateway (its injector),
 * their identity and mTLS mode, the externals its virtual services name, and the phases that
 * write the normalized mesh (record_appmesh.c), its routes and its resources into the model.
 * docs/import.md ("App Mesh"). */
#include "alloc.h"
#include "appmesh_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define INJECT_KEY "appmesh.k8s.aws/sidecarInjectorWebhook"

extern const im_field mp_am_mesh_fields[], mp_am_vnode_fields[], mp_am_vservice_fields[],
    mp_am_vrouter_fields[], mp_am_vgateway_fields[], mp_am_groute_fields[], mp_am_bgroup_fields[];

static void *begin(mp_import *im)
{
	appmesh_state *st = mp_calloc(1, sizeof(*st));
	if (!st)
		return NULL;
	const mp_import_opts *o = im->o;
	const char *v = o ? mp_provider_option_value(o->provider_opts, o->nprovider_opts, "appmesh",
	                                             "allow-all-with-backends")
	                  : NULL;
	st->allow_all_backends = v && !strcmp(v, "allow");
	v = o ? mp_provider_option_value(o->provider_opts, o->nprovider_opts, "appmesh", "import")
	      : NULL;
	st->off = v && !strcmp(v, "off");
	return st;
}

static void end(void *state)
{
	appmesh_state *st = state;
	for (uint32_t i = 0; i < st->nmeshes; i++) {
		mp_free(st->meshes[i].objs);
		mp_free(st->meshes[i].files);
		json_decref(st->meshes[i].record);
	}
	mp_free(st->meshes);
	mp_free(st->objs);
	mp_free(st->pod_owner);
	mp_free(st->pod_injected);
	mp_free(st->pod_refused);
	mp_amstate_free(st->view);
	mp_arena_free(&st->ar);
	mp_free(st);
}

/* --- helpers the other files use --- */

yaml_node_t *mp_appmesh_ns_labels(mp_import *im, mp_str ns, mp_id cluster, idoc **nsdoc)
{
	for (uint32_t i = 0; i < im->ndocs; i++) {
		idoc *dc = &im->docs[i];
		if (im_live(dc) && dc->provider == &mp_provider_kubernetes &&
		    !strcmp(dc->kind->kind, "Namespace") && dc->name == ns &&
		    dc->cluster == cluster) {
			if (nsdoc)
				*nsdoc = dc;
			return im_get(dc, dc->meta, "labels");
		}
	}
	if (nsdoc)
		*nsdoc = NULL;
	return NULL;
}

static const char *label_of(idoc *ldc, yaml_node_t *labels, const char *key)
{
	return im_scalar(im_get(ldc, labels, key));
}

int mp_appmesh_selects(mp_import *im, idoc *dc, yaml_node_t *sel, idoc *ldc, yaml_node_t *labels)
{
	(void)im;
	yaml_node_t *k, *v, *exprs, *e, *item;
	if (!sel || sel->type != YAML_MAPPING_NODE)
		return 0;
	yaml_node_t *ml = im_get(dc, sel, "matchLabels");
	if (ml && ml->type == YAML_MAPPING_NODE)
		IM_MAP_FOREACH(dc, ml, k, v)
		{
			const char *want = im_scalar(v), *got = label_of(ldc, labels, im_scalar(k));
			if (!want || !got || strcmp(want, got))
				return 0;
		}
	exprs = im_get(dc, sel, "matchExpressions");
	if (exprs && exprs->type == YAML_SEQUENCE_NODE)
		IM_SEQ_FOREACH(dc, exprs, e)
		{
			const char *key = im_scalar(im_get(dc, e, "key"));
			const char *op = im_scalar(im_get(dc, e, "operator"));
			const char *got = key ? label_of(ldc, labels, key) : NULL;
			yaml_node_t *vals = im_get(dc, e, "values");
			int in = 0;
			if (!key || !op)
				return 0;
			if (got && vals && vals->type == YAML_SEQUENCE_NODE)
				IM_SEQ_FOREACH(dc, vals, item)
				{
					in |= im_scalar(item) && !strcmp(im_scalar(item), got);
				}
			if ((!strcmp(op, "In") && !in) || (!strcmp(op, "NotIn") && in) ||
			    (!strcmp(op, "Exists") && !got) || (!strcmp(op, "DoesNotExist") && got))
				return 0;
		}
	return 1;
}

uint32_t mp_appmesh_find(const appmesh_state *st, const char *mesh, uint32_t kind, const char *name)
{
	for (uint32_t i = 0; i < st->nobjs; i++) {
		const am_object *o = &st->objs[i];
		if (!o->dropped && o->kind == kind && o->mesh && o->name &&
		    !strcmp(o->mesh, mesh) && !strcmp(o->name, name))
			return i;
	}
	return AM_NONE;
}

/* The CRD object of kind named ns/name (the controller's references), AM_NONE when none. */
uint32_t mp_appmesh_find_cr(mp_import *im, uint32_t kind, mp_str ns, const char *name)
{
	appmesh_state *st = appmesh_of(im);
	for (uint32_t i = 0; i < st->nobjs; i++) {
		const am_object *o = &st->objs[i];
		idoc *dc = &im->docs[o->doc];
		if (o->kind == kind && !appmesh_tf(dc) && dc->ns == ns &&
		    !strcmp(im_str_of(im, dc->name), name))
			return i;
	}
	return AM_NONE;
}

json_t *mp_appmesh_at(mp_import *im, am_build *b, idoc *dc, yaml_node_t *n)
{
	mp_loc l = im_loc(dc, n);
	uint32_t k;
	for (k = 0; k < b->nfiles && b->files[k] != l.file; k++)
		;
	if (k == b->nfiles) {
		mp_str *nf = mp_realloc(b->files, (b->nfiles + 1) * sizeof(*nf));
		if (!nf) {
			im->oom = 1;
			return json_null();
		}
		b->files = nf;
		b->files[b->nfiles++] = l.file;
	}
	return json_pack("[ii]", (json_int_t)k, (json_int_t)l.line);
}

yaml_node_t *mp_appmesh_get(idoc *dc, yaml_node_t *n, ...)
{
	va_list ap;
	va_start(ap, n);
	for (const char *k; n && (k = va_arg(ap, const char *));)
		n = im_get(dc, n, k);
	va_end(ap);
	return n && !im_is_null(n) ? n : NULL;
}

yaml_node_t *mp_appmesh_block(idoc *dc, yaml_node_t *n, const char *key)
{
	yaml_node_t *v = im_get(dc, n, key);
	if (v && v->type == YAML_SEQUENCE_NODE)
		return v->data.sequence.items.top > v->data.sequence.items.start
		           ? im_node(dc, *v->data.sequence.items.start)
		           : NULL;
	return v && v->type == YAML_MAPPING_NODE ? v : NULL;
}

/* --- objects: schema, names --- */

/* An unknown field of a kind whose CRD keeps them: a note, and a finding for the audit. */
static void unknown_field(mp_import *im, idoc *dc, yaml_node_t *key, const char *path,
                          const char *hint, void *arg)
{
	(void)arg;
	char title[400];
	const char *k = im_scalar(key);
	im_note(im, dc, key,
	        "%s: unknown field '%s' (%s): the controller keeps it and App Mesh never sees it",
	        path, k, hint);
	im_finding(im, "AppMeshUnknownField", MP_FINDING_INFO, im_loc(dc, key),
	           im_title(im, dc, title, sizeof(title)),
	           "%s.%s is not a field of the CRD (%s): the controller keeps it "
	           "(PreserveUnknownFields) and App Mesh never sees it",
	           path, k, hint);
}

static const im_field *fields_of(uint32_t kind, int *preserving)
{
	static const im_field *const tables[AM_K_TF_FIRST] = {
	    [AM_K_MESH] = mp_am_mesh_fields,
	    [AM_K_VIRTUALNODE] = mp_am_vnode_fields,
	    [AM_K_VIRTUALSERVICE] = mp_am_vservice_fields,
	    [AM_K_VIRTUALROUTER] = mp_am_vrouter_fields,
	    [AM_K_VIRTUALGATEWAY] = mp_am_vgateway_fields,
	    [AM_K_GATEWAYROUTE] = mp_am_groute_fields,
	    [AM_K_BACKENDGROUP] = mp_am_bgroup_fields,
	};
	*preserving =
	    kind == AM_K_VIRTUALNODE || kind == AM_K_VIRTUALROUTER || kind == AM_K_GATEWAYROUTE;
	return kind < AM_K_TF_FIRST ? tables[kind] : NULL;
}

/* The App Mesh name the controller gives a CR (webhooks/appmesh/ *_mutator.go
 * defaultingAWSName): awsName, else the Mesh's name, "NAME.NS" for a VirtualService and
 * "NAME_NS" for the others. */
static const char *aws_name(mp_import *im, idoc *dc, uint32_t kind, char *buf, size_t len)
{
	const char *n = im_scalar(im_get(dc, dc->spec, "awsName"));
	if (n && *n)
		return n;
	if (kind == AM_K_MESH)
		return im_str_of(im, dc->name);
	snprintf(buf, len, "%s%s%s", im_str_of(im, dc->name),
	         kind == AM_K_VIRTUALSERVICE ? "." : "_", im_str_of(im, dc->ns));
	return buf;
}

static int add_object(mp_import *im, appmesh_state *st, const am_object *o)
{
	if (mp_grow((void **)&st->objs, &st->capobjs, sizeof(*st->objs), st->nobjs, 16) < 0) {
		im->oom = 1;
		return -1;
	}
	st->objs[st->nobjs++] = *o;
	return 0;
}

/* Controller validation the CRD schema cannot say (webhooks/appmesh/ *_validator.go). */
static void validate(mp_import *im, idoc *dc, uint32_t kind)
{
	yaml_node_t *s = dc->spec, *l, *item, *seen[64];
	uint32_t n = 0;
	if (kind == AM_K_VIRTUALNODE && (l = im_get(dc, s, "listeners")) &&
	    l->type == YAML_SEQUENCE_NODE &&
	    l->data.sequence.items.top > l->data.sequence.items.start &&
	    !im_get(dc, s, "serviceDiscovery"))
		im_error(im, dc, l,
		         "spec.listeners: ServiceDiscovery must be specified when a listener "
		         "is specified");
	if (kind == AM_K_VIRTUALNODE && (l = im_get(dc, s, "backends")) &&
	    l->type == YAML_SEQUENCE_NODE)
		IM_SEQ_FOREACH(dc, l, item)
		{
			yaml_node_t *vs =
			    im_get(dc, im_get(dc, item, "virtualService"), "virtualServiceRef");
			const char *name = im_scalar(im_get(dc, vs, "name"));
			const char *ns = im_scalar(im_get(dc, vs, "namespace"));
			for (uint32_t k = 0; name && k < n; k++) {
				yaml_node_t *o = seen[k];
				const char *on = im_scalar(im_get(dc, o, "namespace"));
				if (!strcmp(im_scalar(im_get(dc, o, "name")), name) &&
				    !strcmp(on ? on : "", ns ? ns : ""))
					im_error(
					    im, dc, item,
					    "spec.backends: has duplicate VirtualServiceReferences "
					    "'%s'",
					    name);
			}
			if (name && n < 64)
				seen[n++] = vs;
		}
	if (kind == AM_K_VIRTUALROUTER && (l = im_get(dc, s, "routes")) &&
	    l->type == YAML_SEQUENCE_NODE)
		IM_SEQ_FOREACH(dc, l, item)
		{
			const char *name = im_scalar(im_get(dc, item, "name"));
			for (uint32_t k = 0; name && k < n; k++)
				if (!strcmp(im_scalar(im_get(dc, seen[k], "name")), name))
					im_error(
					    im, dc, item,
					    "spec.routes: has duplicate route entries for '%s'",
					    name);
			if (name && n < 64)
				seen[n++] = item;
		}
}

/* Every App Mesh document checked and made an object. */
static void collect(mp_import *im, appmesh_state *st)
{
	for (uint32_t i = 0; i < im->ndocs && !im->oom; i++) {
		idoc *dc = &im->docs[i];
		if (dc->provider != &mp_provider_appmesh || !im_live(dc))
			continue;
		st->present = 1;
		uint32_t kind = appmesh_kind(dc);
		am_object o = {.doc = i, .kind = kind, .gateway = AM_NONE};
		if (appmesh_tf(dc)) {
			if (mp_appmesh_tf_object(im, i, &o) < 0)
				continue;
		} else {
			int preserving;
			const im_field *f = fields_of(kind, &preserving);
			if (im_check_preserving(im, dc, dc->spec, f, "spec",
			                        preserving ? unknown_field : NULL, NULL) < 0)
				continue;
			validate(im, dc, kind);
			if (dc->bad)
				continue;
			char buf[600];
			o.name =
			    mp_arena_str(&st->ar, kind == AM_K_BACKENDGROUP
			                              ? im_str_of(im, dc->name)
			                              : aws_name(im, dc, kind, buf, sizeof(buf)));
			if (kind == AM_K_MESH)
				o.mesh = o.name;
			if (st->ar.oom) {
				im->oom = 1;
				return;
			}
		}
		add_object(im, st, &o);
	}
}

/* --- membership --- */

/* The mesh of each CRD object: the one Mesh whose namespaceSelector selects its namespace
 * (pkg/mesh/membership_designator.go); none or several: the controller refuses it. */
static void designate_meshes(mp_import *im, appmesh_state *st)
{
	for (uint32_t i = 0; i < st->nobjs; i++) {
		am_object *o = &st->objs[i];
		idoc *dc = &im->docs[o->doc];
		if (appmesh_tf(dc) || o->kind == AM_K_MESH)
			continue;
		idoc *nsdoc;
		yaml_node_t *labels = mp_appmesh_ns_labels(im, dc->ns, dc->cluster, &nsdoc);
		uint32_t found = 0;
		const char *mesh = NULL;
		for (uint32_t k = 0; k < st->nobjs; k++) {
			am_object *m = &st->objs[k];
			idoc *mdc = &im->docs[m->doc];
			if (m->kind != AM_K_MESH || appmesh_tf(mdc) ||
			    mdc->cluster != dc->cluster ||
			    !mp_appmesh_selects(im, mdc,
			                        im_get(mdc, mdc->spec, "namespaceSelector"),
			                        nsdoc ? nsdoc : dc, labels))
				continue;
			found++;
			mesh = m->name;
		}
		if (found == 1) {
			o->mesh = mesh;
			continue;
		}
		char title[400];
		o->dropped = 1;
		im_finding(im, "AppMeshNoMesh", MP_FINDING_ERROR, dc->loc,
		           im_title(im, dc, title, sizeof(title)),
		           found
		               ? "namespace %s is selected by %u Meshes: the controller refuses "
		                 "the object (\"found multiple matching meshes\")"
		               : "no Mesh's namespaceSelector selects namespace %s: the controller "
		                 "refuses the object (\"failed to find matching mesh\")",
		           im_str_of(im, dc->ns), found);
	}
}

/* The gateway of each CRD GatewayRoute: the one VirtualGateway of its mesh whose
 * namespaceSelector selects the route's namespace and whose gatewayRouteSelector (absent: all)
 * its labels (pkg/virtualgateway/membership_designator.go). */
static void designate_gateways(mp_import *im, appmesh_state *st)
{
	for (uint32_t i = 0; i < st->nobjs; i++) {
		am_object *o = &st->objs[i];
		idoc *dc = &im->docs[o->doc];
		if (o->kind != AM_K_GATEWAYROUTE || appmesh_tf(dc) || o->dropped)
			continue;
		idoc *nsdoc;
		yaml_node_t *labels = mp_appmesh_ns_labels(im, dc->ns, dc->cluster, &nsdoc);
		uint32_t found = 0;
		for (uint32_t k = 0; k < st->nobjs; k++) {
			am_object *g = &st->objs[k];
			idoc *gdc = &im->docs[g->doc];
			if (g->kind != AM_K_VIRTUALGATEWAY || g->dropped || appmesh_tf(gdc) ||
			    strcmp(g->mesh, o->mesh) ||
			    !mp_appmesh_selects(im, gdc,
			                        im_get(gdc, gdc->spec, "namespaceSelector"),
			                        nsdoc ? nsdoc : dc, labels))
				continue;
			yaml_node_t *rs = im_get(gdc, gdc->spec, "gatewayRouteSelector");
			if (rs &&
			    !mp_appmesh_selects(im, gdc, rs, dc, im_get(dc, dc->meta, "labels")))
				continue;
			found++;
			o->gateway = k;
		}
		if (found == 1) {
			o->router = st->objs[o->gateway].name;
			continue;
		}
		char title[400];
		o->dropped = 1;
		o->gateway = AM_NONE;
		if (found)
			im_finding(im, "AppMeshNoGateway", MP_FINDING_WARNING, dc->loc,
			           im_title(im, dc, title, sizeof(title)),
			           "%u VirtualGateways select namespace %s: the controller refuses "
			           "the route (\"found multiple matching virtualGateways\")",
			           found, im_str_of(im, dc->ns));
		else
			im_finding(im, "AppMeshNoGateway", MP_FINDING_WARNING, dc->loc,
			           im_title(im, dc, title, sizeof(title)),
			           "no VirtualGateway selects namespace %s: the route serves no "
			           "gateway (\"failed to find matching virtualGateway\")",
			           im_str_of(im, dc->ns));
	}
}

/* --- pods: which run App Mesh's Envoy, for which node or gateway --- */

static int is_workload_doc(const idoc *dc)
{
	static const char *const kinds[] = {"Deployment", "StatefulSet", "DaemonSet",
	                                    "ReplicaSet", "Pod",         NULL};
	if (dc->provider != &mp_provider_kubernetes)
		return 0;
	for (size_t i = 0; kinds[i]; i++)
		if (!strcmp(dc->kind->kind, kinds[i]))
			return 1;
	return 0;
}

/* The pod template's metadata and spec of a workload document (the object's own for a Pod). */
static void pod_of(idoc *dc, yaml_node_t **meta, yaml_node_t **spec)
{
	yaml_node_t *tmpl;
	*meta = *spec = NULL;
	if (!strcmp(dc->kind->kind, "Pod")) {
		*meta = dc->meta;
		*spec = dc->spec;
	} else if ((tmpl = im_get(dc, dc->spec, "template"))) {
		*meta = im_get(dc, tmpl, "metadata");
		*spec = im_get(dc, tmpl, "spec");
	}
}

/* The node a container's APPMESH_RESOURCE_ARN (or APPMESH_VIRTUAL_NODE_NAME) names:
 * "mesh/M/virtualNode/N" or "mesh/M/virtualGateway/N", at the end of an ARN or alone
 * (virtual_nodes.md; virtual_gateways.md, "Deploy virtual gateway"). */
static uint32_t env_binding(mp_import *im, appmesh_state *st, idoc *dc, yaml_node_t *spec)
{
	yaml_node_t *cs = im_get(dc, spec, "containers"), *c, *env, *e;
	if (!cs || cs->type != YAML_SEQUENCE_NODE)
		return AM_NONE;
	IM_SEQ_FOREACH(dc, cs, c)
	{
		if (!(env = im_get(dc, c, "env")) || env->type != YAML_SEQUENCE_NODE)
			continue;
		IM_SEQ_FOREACH(dc, env, e)
		{
			const char *n = im_scalar(im_get(dc, e, "name"));
			const char *v = im_scalar(im_get(dc, e, "value"));
			char mesh[256], kind[64], name[256];
			const char *p;
			if (!n || !v ||
			    (strcmp(n, "APPMESH_RESOURCE_ARN") &&
			     strcmp(n, "APPMESH_VIRTUAL_NODE_NAME")))
				continue;
			p = strstr(v, "mesh/");
			if (!p || sscanf(p, "mesh/%255[^/]/%63[^/]/%255s", mesh, kind, name) != 3)
				continue;
			uint32_t k = !strcmp(kind, "virtualNode")      ? AM_K_VIRTUALNODE
			             : !strcmp(kind, "virtualGateway") ? AM_K_VIRTUALGATEWAY
			                                               : AM_NONE;
			if (k != AM_NONE)
				return mp_appmesh_find(st, mesh, k, name);
		}
	}
	(void)im;
	return AM_NONE;
}

/* For each workload document: its node or gateway (pkg/virtualnode, pkg/virtualgateway
 * membership_designator.go), whether App Mesh's injector gives its pods an Envoy
 * (pkg/inject/inject.go: the pod's annotation, else the namespace's label, enabled or
 * disabled; neither: the webhook does not run), and whether it would refuse them. */
static void designate_pods(mp_import *im, appmesh_state *st)
{
	int controller = 0; /* the controller's CRDs are in use: its webhook admits pods */
	for (uint32_t k = 0; k < st->nobjs; k++)
		controller |= !appmesh_tf(&im->docs[st->objs[k].doc]);
	st->ndocs = im->ndocs;
	st->pod_owner = mp_calloc(im->ndocs ? im->ndocs : 1, sizeof(*st->pod_owner));
	st->pod_injected = mp_calloc(im->ndocs ? im->ndocs : 1, 1);
	st->pod_refused = mp_calloc(im->ndocs ? im->ndocs : 1, 1);
	if (!st->pod_owner || !st->pod_injected || !st->pod_refused) {
		im->oom = 1;
		return;
	}
	for (uint32_t i = 0; i < im->ndocs; i++) {
		idoc *dc = &im->docs[i];
		yaml_node_t *meta, *spec, *labels, *refs;
		st->pod_owner[i] = AM_NONE;
		if (!is_workload_doc(dc) || !im_live(dc))
			continue;
		refs = im_get(dc, dc->meta, "ownerReferences");
		if (refs && refs->type == YAML_SEQUENCE_NODE &&
		    refs->data.sequence.items.top > refs->data.sequence.items.start)
			continue;
		pod_of(dc, &meta, &spec);
		labels = im_get(dc, meta, "labels");
		uint32_t owner = AM_NONE, nowners = 0;
		for (uint32_t k = 0; k < st->nobjs; k++) {
			am_object *o = &st->objs[k];
			idoc *odc = &im->docs[o->doc];
			if (o->dropped || appmesh_tf(odc) || odc->cluster != dc->cluster ||
			    (o->kind != AM_K_VIRTUALNODE && o->kind != AM_K_VIRTUALGATEWAY) ||
			    (o->kind == AM_K_VIRTUALNODE && odc->ns != dc->ns) ||
			    !mp_appmesh_selects(im, odc, im_get(odc, odc->spec, "podSelector"), dc,
			                        labels))
				continue;
			owner = k;
			nowners++;
		}
		if (!nowners && (owner = env_binding(im, st, dc, spec)) != AM_NONE)
			nowners = 1;
		idoc *nsdoc;
		yaml_node_t *nslabels = mp_appmesh_ns_labels(im, dc->ns, dc->cluster, &nsdoc);
		const char *mode =
		    im_scalar(im_get(dc, im_get(dc, meta, "annotations"), INJECT_KEY));
		if (!mode && nsdoc)
			mode = im_scalar(im_get(nsdoc, nslabels, INJECT_KEY));
		int enabled = mode && !strcmp(mode, "enabled");
		st->pod_owner[i] = nowners == 1 ? owner : AM_NONE;
		st->pod_injected[i] = enabled && nowners == 1;
		if (enabled && nowners != 1 && controller)
			st->pod_refused[i] = nowners ? 2 : 1;
		/* the Terraform form binds pods by the Envoy's variable alone */
		if (!enabled && nowners == 1 && env_binding(im, st, dc, spec) == owner)
			st->pod_injected[i] = 1;
	}
}

static void clusters_phase(mp_import *im)
{
	appmesh_state *st = appmesh_of(im);
	if (st->off)
		return; /* its documents stay unread (meshpol export's check) */
	collect(im, st);
	if (!st->present || im->oom)
		return;
	designate_meshes(im, st);
	designate_gateways(im, st);
	designate_pods(im, st);
}

/* --- answers and the phases that follow --- */

/* The SAN of the first SDS certificate of a node: its backend defaults' client certificate,
 * else a backend's, else a listener's (the identity source.principal names it by). */
const char *mp_appmesh_node_identity(mp_import *im, idoc *dc)
{
	yaml_node_t *s = dc->spec, *l, *item;
	const char *id = im_scalar(mp_appmesh_get(dc, s, "backendDefaults", "clientPolicy", "tls",
	                                          "certificate", "sds", "secretName", NULL));
	(void)im;
	if (id)
		return id;
	if ((l = im_get(dc, s, "backends")) && l->type == YAML_SEQUENCE_NODE)
		IM_SEQ_FOREACH(dc, l, item)
		{
			if ((id = im_scalar(mp_appmesh_get(dc, item, "virtualService",
			                                   "clientPolicy", "tls", "certificate",
			                                   "sds", "secretName", NULL))))
				return id;
		}
	if ((l = im_get(dc, s, "listeners")) && l->type == YAML_SEQUENCE_NODE)
		IM_SEQ_FOREACH(dc, l, item)
		{
			if ((id = im_scalar(mp_appmesh_get(dc, item, "tls", "certificate", "sds",
			                                   "secretName", NULL))))
				return id;
		}
	return NULL;
}

/* A workload injected for a node with an SDS certificate runs as that certificate's SAN. */
static int identity(mp_import *im, idoc *dc, const char *ns, const char *sa, char *out, size_t len)
{
	(void)ns;
	(void)sa;
	appmesh_state *st = appmesh_of(im);
	uint32_t i = (uint32_t)(dc - im->docs);
	if (!st->present || !st->pod_owner || i >= st->ndocs || st->pod_owner[i] == AM_NONE ||
	    !st->pod_injected[i])
		return 0;
	idoc *odc = &im->docs[st->objs[st->pod_owner[i]].doc];
	const char *id = appmesh_tf(odc) ? NULL : mp_appmesh_node_identity(im, odc);
	if (!id)
		return 0;
	snprintf(out, len, "%s", id);
	return 1;
}

/* The protocol of a listener on port of node or gateway object o, or NULL. */
static const char *listener_protocol(mp_import *im, am_object *o, uint32_t port)
{
	idoc *dc = &im->docs[o->doc];
	int tf = appmesh_tf(dc);
	yaml_node_t *ls = tf ? im_get(dc, mp_appmesh_block(dc, dc->spec, "spec"), "listener")
	                     : im_get(dc, dc->spec, "listeners"),
	            *l;
	if (!ls || ls->type != YAML_SEQUENCE_NODE)
		return NULL;
	IM_SEQ_FOREACH(dc, ls, l)
	{
		yaml_node_t *pm = mp_appmesh_block(dc, l, tf ? "port_mapping" : "portMapping");
		const char *p = im_scalar(im_get(dc, pm, "port"));
		if (p && strtoul(p, NULL, 10) == port)
			return im_scalar(im_get(dc, pm, "protocol"));
	}
	return NULL;
}

/* Kubernetes asks (port_protocol): a Service port in front of pods that run App Mesh's Envoy
 * takes the protocol of the listener behind it (targetPort, else the port), as App Mesh's
 * Envoy reads the traffic; NULL (another mesh's conventions) otherwise. */
static const char *port_protocol(mp_import *im, idoc *dc, yaml_node_t *at, uint32_t number,
                                 const char *name, const char *app)
{
	appmesh_state *st = appmesh_of(im);
	(void)name;
	(void)app;
	yaml_node_t *sel = im_get(dc, dc->spec, "selector");
	const char *tp = im_scalar(im_get(dc, at, "targetPort"));
	uint32_t target = tp && *tp >= '0' && *tp <= '9' ? (uint32_t)strtoul(tp, NULL, 10) : number;
	if (!st->present || !st->pod_owner || !sel || sel->type != YAML_MAPPING_NODE ||
	    sel->data.mapping.pairs.top == sel->data.mapping.pairs.start)
		return NULL;
	for (uint32_t i = 0; i < st->ndocs; i++) {
		idoc *wd = &im->docs[i];
		yaml_node_t *meta, *spec, *k, *v;
		int all = 1;
		if (st->pod_owner[i] == AM_NONE || !st->pod_injected[i] || wd->ns != dc->ns ||
		    wd->cluster != dc->cluster)
			continue;
		pod_of(wd, &meta, &spec);
		IM_MAP_FOREACH(dc, sel, k, v)
		{
			const char *got =
			    im_scalar(im_get(wd, im_get(wd, meta, "labels"), im_scalar(k)));
			all &= got && im_scalar(v) && !strcmp(got, im_scalar(v));
		}
		const char *p =
		    all ? listener_protocol(im, &st->objs[st->pod_owner[i]], target) : NULL;
		if (p)
			return p;
	}
	return NULL;
}

/* The mTLS mode of a workload's pods: the weakest of their node's listeners (a listener
 * without TLS or DISABLED takes plaintext). */
static void workload_policy(mp_import *im)
{
	appmesh_state *st = appmesh_of(im);
	if (!st->present)
		return;
	for (uint32_t w = 0; w < im->nwl; w++) {
		iworkload *wl = &im->wl[w];
		if (wl->doc >= st->ndocs || st->pod_owner[wl->doc] == AM_NONE ||
		    !st->pod_injected[wl->doc] || wl->mtls != MP_MTLS_UNSET)
			continue;
		am_object *o = &st->objs[st->pod_owner[wl->doc]];
		idoc *odc = &im->docs[o->doc];
		yaml_node_t *ls = appmesh_tf(odc) ? NULL : im_get(odc, odc->spec, "listeners"), *l;
		uint32_t mode = MP_MTLS_UNSET;
		if (!ls || ls->type != YAML_SEQUENCE_NODE)
			continue;
		IM_SEQ_FOREACH(odc, ls, l)
		{
			const char *m = im_scalar(mp_appmesh_get(odc, l, "tls", "mode", NULL));
			uint32_t lm = m && !strcmp(m, "STRICT")       ? MP_MTLS_STRICT
			              : m && !strcmp(m, "PERMISSIVE") ? MP_MTLS_PERMISSIVE
			                                              : MP_MTLS_DISABLE;
			if (mode == MP_MTLS_UNSET || lm == MP_MTLS_DISABLE ||
			    (lm == MP_MTLS_PERMISSIVE && mode == MP_MTLS_STRICT))
				mode = lm;
		}
		if (mode != MP_MTLS_UNSET) {
			wl->mtls = mode;
			wl->mtls_doc = o->doc;
		}
	}
}

/* The meshes, each with its objects. */
static void group_meshes(mp_import *im, appmesh_state *st)
{
	for (uint32_t i = 0; i < st->nobjs && !im->oom; i++) {
		am_object *o = &st->objs[i];
		if (o->dropped || !o->mesh)
			continue;
		uint32_t k;
		for (k = 0; k < st->nmeshes && strcmp(st->meshes[k].name, o->mesh); k++)
			;
		if (k == st->nmeshes) {
			am_build *nb = mp_realloc(st->meshes, (k + 1) * sizeof(*nb));
			if (!nb) {
				im->oom = 1;
				return;
			}
			st->meshes = nb;
			memset(&nb[k], 0, sizeof(nb[k]));
			nb[k].name = o->mesh;
			nb[k].self = AM_NONE;
			st->nmeshes++;
		}
		am_build *b = &st->meshes[k];
		uint32_t *no = mp_realloc(b->objs, (b->nobjs + 1) * sizeof(*no));
		if (!no) {
			im->oom = 1;
			return;
		}
		b->objs = no;
		b->objs[b->nobjs++] = i;
		if (o->kind == AM_K_MESH)
			b->self = i;
	}
}

/* The external a virtual service's name stands for, when it is no cluster name: a host
 * outside the cluster (walkthroughs/howto-external-traffic models one so). */
static void externals(mp_import *im)
{
	appmesh_state *st = appmesh_of(im);
	if (!st->present)
		return;
	group_meshes(im, st);
	for (uint32_t i = 0; i < st->nobjs && !im->oom; i++) {
		am_object *o = &st->objs[i];
		idoc *dc = &im->docs[o->doc];
		if (o->dropped || o->kind != AM_K_VIRTUALSERVICE || !mp_appmesh_vs_external(im, o))
			continue;
		mp_str hs = im_intern(im, o->name);
		if (im->host->lookup(im->host->ctx, MP_IMPORT_EXTERNAL, hs, 0) != MP_NONE)
			continue;
		char what[700];
		mp_external e = {hs, hs, 0, MP_NONE, {0, 0}, dc->loc};
		mp_id id = mp_model_get_view(im->m).nexternals;
		snprintf(what, sizeof(what), "External '%s' (%s)", o->name,
		         appmesh_tf(dc) ? im_str_of(im, dc->name) : "VirtualService");
		if (im->host->declare(im->host->ctx, MP_IMPORT_EXTERNAL, hs, 0, id, dc->loc,
		                      what) == 0 &&
		    mp_model_add_external(im->m, &e) == MP_NONE)
			im->oom = 1;
	}
}

/* The records of the meshes (the AppMesh kind): in the ROUTES phase, so that the model says
 * App Mesh is present (mp_provider.present) before Istio asks, in its RESOURCES phase. */
static void records(mp_import *im, appmesh_state *st)
{
	for (uint32_t k = 0; k < st->nmeshes && !im->oom; k++) {
		am_build *b = &st->meshes[k];
		if (!b->record)
			continue;
		uint32_t off = b->nfiles ? mp_model_push_u32(im->m, b->files, b->nfiles) : 0;
		if (off == MP_NONE) {
			im->oom = 1;
			return;
		}
		idoc *md = b->self != AM_NONE ? &im->docs[st->objs[b->self].doc] : NULL;
		mp_resource r = {.kind = im_intern(im, AM_RECORD_KIND),
		                 .api = im_intern(im, AM_RECORD_API),
		                 .ns = 0,
		                 .name = im_intern(im, b->name),
		                 .version = 0,
		                 .cluster = MP_NONE,
		                 .aux = {off, b->nfiles},
		                 .loc = md ? md->loc : im->docs[st->objs[b->objs[0]].doc].loc};
		im_add_record(im, &r, json_incref(b->record));
	}
}

static void routes_phase(mp_import *im)
{
	appmesh_state *st = appmesh_of(im);
	if (!st->present)
		return;
	mp_appmesh_records(im, st);
	records(im, st);
}

/* Every App Mesh document as written. */
static void resources(mp_import *im)
{
	appmesh_state *st = appmesh_of(im);
	if (!st->present)
		return;
	for (uint32_t i = 0; i < im->ndocs && !im->oom; i++) {
		idoc *dc = &im->docs[i];
		if (dc->provider != &mp_provider_appmesh || !im_live(dc))
			continue;
		im_add_resource(im, dc, dc->spec ? im_json(dc, dc->spec) : json_object(), 0,
		                (mp_span){0, 0});
	}
}

static int holds(mp_import *im)
{
	return appmesh_of(im)->present;
}

const struct mp_provider_import mp_appmesh_import = {
    .begin = begin,
    .end = end,
    .phase =
        {
            [IM_PHASE_CLUSTERS] = clusters_phase,
            [IM_PHASE_WORKLOAD_POLICY] = workload_policy,
            [IM_PHASE_ELEMENTS] = externals,
            [IM_PHASE_ROUTES] = routes_phase,
            [IM_PHASE_RESOURCES] = resources,
        },
    .identity = identity,
    .port_protocol = port_protocol,
    .holds = holds,
};
