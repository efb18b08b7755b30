/* record_appmesh.c: the normalized mesh, the AppMesh record the model keeps per mesh (its
 * shape: docs/mpm-format.md, "Imported configuration"; read back by state_appmesh.c): the
 * controller's CRDs written into it (references resolved to App Mesh names, defaults applied),
 * the pods and Services in front of each node and gateway, and the model's routes made from
 * its virtual routers and gateway routes. The Terraform form writes the same shape
 * (terraform_appmesh.c). docs/import.md ("App Mesh"). */
#include "alloc.h"
#include "appmesh_int.h"
#include "regex.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GET(dc, n, ...) mp_appmesh_get(dc, n, __VA_ARGS__, NULL)

json_t *mp_am_js(const char *s)
{
	return s ? json_string(s) : json_null();
}

void mp_am_set(json_t *o, const char *key, json_t *v)
{
	if (v && !json_is_null(v))
		json_object_set_new(o, key, v);
	else
		json_decref(v);
}

#define jstr mp_am_js
#define set  mp_am_set

static long long num(const yaml_node_t *n, long long dflt)
{
	const char *s = im_scalar(n);
	return s ? strtoll(s, NULL, 10) : dflt;
}

/* A {unit, value} duration in milliseconds, 0 when absent. */
static uint32_t duration_ms(idoc *dc, yaml_node_t *d)
{
	const char *unit = im_scalar(im_get(dc, d, "unit"));
	long long v = num(im_get(dc, d, "value"), 0);
	if (!d || v < 0)
		return 0;
	v = unit && !strcmp(unit, "s") ? v * 1000 : v;
	return v > UINT32_MAX ? UINT32_MAX : (uint32_t)v;
}

/* A number field checked against its range (the CRDs' and the API's bounds). */
static int ranged(mp_import *im, idoc *dc, yaml_node_t *map, const char *key, uint32_t lo,
                  uint32_t hi, uint32_t *out, int *isset)
{
	return im_u32(im, dc, map, key, lo, hi, out, isset);
}

/* A regular expression of a match (node n), checked as Envoy's safe_regex reads it (RE2):
 * an error at its place when RE2 refuses it. */
void mp_appmesh_regex(mp_import *im, idoc *dc, yaml_node_t *n)
{
	char why[200];
	const char *s = im_scalar(n);
	mp_regex *re = s && *s ? mp_regex_compile(s, strlen(s), why, sizeof(why)) : NULL;
	if (s && *s && !re)
		im_error(im, dc, n, "regular expression '%s': %s (App Mesh's Envoy reads RE2)", s,
		         why);
	mp_regex_free(re);
}

/* --- names: what a virtual service's name stands for --- */

/* The model's service a virtual service's name stands for: NAME.NS.svc[.DOMAIN] and NAME.NS
 * name the Service NS/NAME, a short NAME the one of the namespace ns (the CRD's; 0: none). */
static mp_id name_service(mp_import *im, const char *name, mp_str ns, int *cluster_name)
{
	char p0[256], p1[256], p2[256];
	int n = sscanf(name, "%255[^.].%255[^.].%255[^.]", p0, p1, p2);
	*cluster_name = 0;
	if (n == 1 && !strchr(name, '.')) {
		*cluster_name = 1;
		if (!ns)
			return MP_NONE;
		mp_id nsid = im->host->lookup(im->host->ctx, MP_IMPORT_NAMESPACE, ns, 0);
		return nsid == MP_NONE ? MP_NONE
		                       : im->host->lookup(im->host->ctx, MP_IMPORT_SERVICE, nsid,
		                                          im_intern(im, p0));
	}
	if (n < 2 || (n == 3 && strcmp(p2, "svc")))
		return MP_NONE;
	*cluster_name = n == 3;
	mp_id nsid = im->host->lookup(im->host->ctx, MP_IMPORT_NAMESPACE, im_intern(im, p1), 0);
	mp_id sid = nsid == MP_NONE ? MP_NONE
	                            : im->host->lookup(im->host->ctx, MP_IMPORT_SERVICE, nsid,
	                                               im_intern(im, p0));
	*cluster_name |= sid != MP_NONE;
	return sid;
}

int mp_appmesh_vs_external(mp_import *im, const am_object *o)
{
	idoc *dc = &im->docs[o->doc];
	int cluster;
	name_service(im, o->name, appmesh_tf(dc) ? 0 : dc->ns, &cluster);
	return !cluster && strchr(o->name, '.') != NULL;
}

/* --- the CRD form --- */

/* The App Mesh name a reference names: a {name, namespace} ref to a CR of kind (its namespace
 * defaulting to the referring document's), or an ARN ending in ".../TYPE/NAME"; NULL with
 * *written set to what the reference says when nothing has that name. */
static const char *ref_name(mp_import *im, idoc *dc, yaml_node_t *holder, const char *ref_key,
                            const char *arn_key, uint32_t kind, char *written, size_t len)
{
	appmesh_state *st = appmesh_of(im);
	yaml_node_t *ref = im_get(dc, holder, ref_key);
	const char *arn = im_scalar(im_get(dc, holder, arn_key));
	written[0] = '\0';
	if (arn) {
		const char *slash = strrchr(arn, '/');
		snprintf(written, len, "%s", slash ? slash + 1 : arn);
		return slash ? slash + 1 : arn;
	}
	const char *name = im_scalar(im_get(dc, ref, "name"));
	const char *ns = im_scalar(im_get(dc, ref, "namespace"));
	if (!name)
		return NULL;
	snprintf(written, len, "%s/%s", ns ? ns : im_str_of(im, dc->ns), name);
	uint32_t o = mp_appmesh_find_cr(im, kind, ns ? im_intern(im, ns) : dc->ns, name);
	return o == AM_NONE || st->objs[o].dropped ? NULL : st->objs[o].name;
}

json_t *mp_am_strings(idoc *dc, yaml_node_t *seq)
{
	json_t *a = json_array();
	yaml_node_t *item;
	if (seq && seq->type == YAML_SEQUENCE_NODE)
		IM_SEQ_FOREACH(dc, seq, item)
		{
			if (im_scalar(item))
				json_array_append_new(a, json_string(im_scalar(item)));
		}
	return a;
}

json_t *mp_am_validation(mp_import *im, am_build *b, idoc *dc, yaml_node_t *v, const char *sans_key)
{
	if (!v)
		return NULL;
	yaml_node_t *sans = mp_appmesh_block(dc, v, sans_key);
	json_t *j = json_pack("{s:o}", "at", mp_appmesh_at(im, b, dc, v));
	if (sans) {
		set(j, "sans",
		    mp_am_strings(dc, im_get(dc, mp_appmesh_block(dc, sans, "match"), "exact")));
		set(j, "sansAt", mp_appmesh_at(im, b, dc, sans));
	}
	return j;
}

#define validation(im, b, dc, v) mp_am_validation(im, b, dc, v, "subjectAlternativeNames")

/* A client policy's tls (backendDefaults.clientPolicy or a backend's), path naming it. */
static json_t *client_policy(mp_import *im, am_build *b, idoc *dc, yaml_node_t *cp,
                             const char *path)
{
	yaml_node_t *tls = im_get(dc, cp, "tls");
	if (!tls)
		return NULL;
	yaml_node_t *cert = im_get(dc, tls, "certificate"), *enforce = im_get(dc, tls, "enforce");
	json_t *j =
	    json_pack("{s:s,s:o,s:b}", "path", path, "at", mp_appmesh_at(im, b, dc, tls), "enforce",
	              !im_scalar(enforce) || strcmp(im_scalar(enforce), "false"));
	json_t *ports = json_array();
	yaml_node_t *pl = im_get(dc, tls, "ports"), *p;
	if (pl && pl->type == YAML_SEQUENCE_NODE)
		IM_SEQ_FOREACH(dc, pl, p)
		{
			json_array_append_new(ports, json_integer(num(p, 0)));
		}
	json_object_set_new(j, "ports", ports);
	if (cert)
		set(j, "cert",
		    json_string(im_scalar(GET(dc, cert, "sds", "secretName"))
		                    ? im_scalar(GET(dc, cert, "sds", "secretName"))
		                    : ""));
	set(j, "validation", validation(im, b, dc, im_get(dc, tls, "validation")));
	return j;
}

static json_t *listener(mp_import *im, am_build *b, idoc *dc, yaml_node_t *l)
{
	yaml_node_t *pm = im_get(dc, l, "portMapping"), *tls = im_get(dc, l, "tls");
	uint32_t port;
	int isset;
	if (ranged(im, dc, pm, "port", 1, 65535, &port, &isset) < 0)
		return NULL;
	json_t *j =
	    json_pack("{s:i,s:s,s:o}", "port", (json_int_t)port, "protocol",
	              im_scalar(im_get(dc, pm, "protocol")), "at", mp_appmesh_at(im, b, dc, l));
	const char *proto = im_scalar(im_get(dc, pm, "protocol"));
	yaml_node_t *to = proto ? GET(dc, l, "timeout", proto, "perRequest") : NULL;
	if (to)
		json_object_set_new(j, "timeoutMs", json_integer(duration_ms(dc, to)));
	if (tls) {
		json_t *t = json_pack("{s:s,s:o}", "mode", im_scalar(im_get(dc, tls, "mode")), "at",
		                      mp_appmesh_at(im, b, dc, tls));
		set(t, "cert", jstr(im_scalar(GET(dc, tls, "certificate", "sds", "secretName"))));
		set(t, "validation", validation(im, b, dc, im_get(dc, tls, "validation")));
		json_object_set_new(j, "tls", t);
	}
	return j;
}

static json_t *listeners(mp_import *im, am_build *b, idoc *dc, yaml_node_t *seq)
{
	json_t *a = json_array();
	yaml_node_t *l;
	if (seq && seq->type == YAML_SEQUENCE_NODE)
		IM_SEQ_FOREACH(dc, seq, l)
		{
			json_t *j = listener(im, b, dc, l);
			if (j)
				json_array_append_new(a, j);
		}
	return a;
}

static json_t *selector(idoc *dc, yaml_node_t *sel)
{
	if (!sel)
		return NULL;
	json_t *j = json_object();
	yaml_node_t *ml = im_get(dc, sel, "matchLabels"), *me = im_get(dc, sel, "matchExpressions");
	if (ml)
		json_object_set_new(j, "labels", im_json(dc, ml));
	if (me)
		json_object_set_new(j, "exprs", im_json(dc, me));
	return j;
}

/* Title, names, version and place of an object. */
static json_t *base(mp_import *im, am_build *b, am_object *o)
{
	idoc *dc = &im->docs[o->doc];
	char title[400], ver[64] = "";
	yaml_node_t *gen = im_get(dc, dc->meta, "generation");
	const char *rv = im_scalar(im_get(dc, dc->meta, "resourceVersion"));
	snprintf(ver, sizeof(ver), "%s", im_scalar(gen) ? im_scalar(gen) : rv ? rv : "");
	return json_pack("{s:s,s:s,s:s,s:s,s:s,s:o}", "title",
	                 appmesh_tf(dc) ? im_str_of(im, dc->name)
	                                : im_title(im, dc, title, sizeof(title)),
	                 "name", o->name, "ns", appmesh_tf(dc) ? "" : im_str_of(im, dc->ns),
	                 "kname", appmesh_tf(dc) ? "" : im_str_of(im, dc->name), "version", ver,
	                 "at", mp_appmesh_at(im, b, dc, dc->root));
}

/* The workloads whose pods run for object k, with whether they are injected and their
 * service account. */
json_t *mp_appmesh_pods(mp_import *im, uint32_t k)
{
	appmesh_state *st = appmesh_of(im);
	json_t *a = json_array();
	for (uint32_t w = 0; w < im->nwl; w++) {
		uint32_t d = im->wl[w].doc;
		if (d >= st->ndocs || st->pod_owner[d] != k)
			continue;
		idoc *dc = &im->docs[d];
		yaml_node_t *spec = !strcmp(dc->kind->kind, "Pod")
		                        ? dc->spec
		                        : GET(dc, dc->spec, "template", "spec");
		const char *sa = im_scalar(im_get(dc, spec, "serviceAccountName"));
		if (!sa)
			sa = im_scalar(im_get(dc, spec, "serviceAccount"));
		json_array_append_new(a, json_pack("[i,b,s]", (json_int_t)w, st->pod_injected[d],
		                                   sa ? sa : "default"));
	}
	return a;
}

/* The target port of a Service's port (targetPort: a number, or a container port's name in
 * the pods of workload w; absent: the port). */
static uint32_t target_port(mp_import *im, idoc *sdc, yaml_node_t *p, uint32_t w)
{
	yaml_node_t *tp = im_get(sdc, p, "targetPort");
	uint32_t port = (uint32_t)num(im_get(sdc, p, "port"), 0);
	const char *s = im_scalar(tp);
	if (!s)
		return port;
	if (isdigit((unsigned char)*s))
		return (uint32_t)strtoul(s, NULL, 10);
	idoc *dc = &im->docs[im->wl[w].doc];
	yaml_node_t *spec =
	    !strcmp(dc->kind->kind, "Pod") ? dc->spec : GET(dc, dc->spec, "template", "spec");
	yaml_node_t *cs = im_get(dc, spec, "containers"), *c, *ps, *cp;
	if (cs && cs->type == YAML_SEQUENCE_NODE)
		IM_SEQ_FOREACH(dc, cs, c)
		{
			if (!(ps = im_get(dc, c, "ports")) || ps->type != YAML_SEQUENCE_NODE)
				continue;
			IM_SEQ_FOREACH(dc, ps, cp)
			{
				const char *n = im_scalar(im_get(dc, cp, "name"));
				if (n && !strcmp(n, s))
					return (uint32_t)num(im_get(dc, cp, "containerPort"), port);
			}
		}
	return port;
}

/* The Services in front of the pods of pods (a JSON list from pods()): [service, [[port,
 * target], ...]]. */
json_t *mp_appmesh_fronts(mp_import *im, json_t *podlist)
{
	json_t *a = json_array(), *p;
	size_t i;
	mp_model_view v = mp_model_get_view(im->m);
	json_array_foreach(podlist, i, p)
	{
		uint32_t w = (uint32_t)json_integer_value(json_array_get(p, 0));
		const iworkload *wl = &im->wl[w];
		for (uint32_t k = 0; k < wl->nsvc; k++) {
			mp_id sid = wl->svc[k];
			size_t j;
			json_t *f;
			int seen = 0;
			json_array_foreach(a, j, f)
			{
				seen |= json_integer_value(json_array_get(f, 0)) == sid;
			}
			if (seen || sid >= v.nservices)
				continue;
			const mp_service *s = &v.services[sid];
			json_t *ports = json_array();
			for (uint32_t d = 0; d < im->ndocs; d++) {
				idoc *sdc = &im->docs[d];
				yaml_node_t *pl, *pt;
				if (sdc->provider != &mp_provider_kubernetes ||
				    strcmp(sdc->kind->kind, "Service") || sdc->name != s->name ||
				    sdc->ns_id != s->ns || sdc->cluster != wl->cluster ||
				    !(pl = im_get(sdc, sdc->spec, "ports")) ||
				    pl->type != YAML_SEQUENCE_NODE)
					continue;
				IM_SEQ_FOREACH(sdc, pl, pt)
				{
					json_array_append_new(
					    ports,
					    json_pack("[ii]",
					              (json_int_t)num(im_get(sdc, pt, "port"), 0),
					              (json_int_t)target_port(im, sdc, pt, w)));
				}
				break;
			}
			json_array_append_new(a, json_pack("[io]", (json_int_t)sid, ports));
		}
	}
	return a;
}

static void backend(mp_import *im, am_build *b, idoc *dc, json_t *out, yaml_node_t *at,
                    const char *vs, const char *written, const char *group, yaml_node_t *cp,
                    uint32_t index)
{
	char path[64];
	snprintf(path, sizeof(path), "backends[%u].clientPolicy.tls", index);
	json_t *j = json_pack("{s:o,s:o,s:s}", "vs", jstr(vs), "at", mp_appmesh_at(im, b, dc, at),
	                      "written", written);
	set(j, "group", jstr(group));
	set(j, "policy", cp ? client_policy(im, b, dc, cp, path) : NULL);
	json_array_append_new(out, j);
}

/* The members of a BackendGroup (a name `*`: every VirtualService of its namespace;
 * docs/reference/backend_groups.md). */
static void group_members(mp_import *im, am_build *b, idoc *dc, json_t *out, yaml_node_t *at,
                          mp_str gns, const char *gname)
{
	appmesh_state *st = appmesh_of(im);
	uint32_t g = mp_appmesh_find_cr(im, AM_K_BACKENDGROUP, gns, gname);
	char written[600];
	if (g == AM_NONE) {
		snprintf(written, sizeof(written), "BackendGroup %s/%s", im_str_of(im, gns), gname);
		backend(im, b, dc, out, at, NULL, written, gname, NULL,
		        (uint32_t)json_array_size(out));
		return;
	}
	idoc *gdc = &im->docs[st->objs[g].doc];
	yaml_node_t *vss = im_get(gdc, gdc->spec, "virtualservices"), *r;
	if (!vss || vss->type != YAML_SEQUENCE_NODE)
		return;
	IM_SEQ_FOREACH(gdc, vss, r)
	{
		const char *name = im_scalar(im_get(gdc, r, "name"));
		const char *ns = im_scalar(im_get(gdc, r, "namespace"));
		mp_str nss = ns ? im_intern(im, ns) : gdc->ns;
		for (uint32_t k = 0; name && k < st->nobjs; k++) {
			am_object *o = &st->objs[k];
			idoc *odc = &im->docs[o->doc];
			if (o->kind != AM_K_VIRTUALSERVICE || o->dropped || appmesh_tf(odc) ||
			    odc->ns != nss ||
			    (strcmp(name, "*") && strcmp(name, im_str_of(im, odc->name))))
				continue;
			snprintf(written, sizeof(written), "%s/%s", im_str_of(im, nss),
			         im_str_of(im, odc->name));
			backend(im, b, dc, out, at, o->name, written, gname, NULL,
			        (uint32_t)json_array_size(out));
		}
	}
}

static json_t *crd_node(mp_import *im, am_build *b, uint32_t k)
{
	am_object *o = &appmesh_of(im)->objs[k];
	idoc *dc = &im->docs[o->doc];
	yaml_node_t *s = dc->spec, *seq, *item;
	json_t *j = base(im, b, o), *bl = json_array(), *pl = mp_appmesh_pods(im, k);
	const char *host = im_scalar(GET(dc, s, "serviceDiscovery", "dns", "hostname"));
	char buf[600], written[600];
	if (!host && GET(dc, s, "serviceDiscovery", "awsCloudMap")) {
		snprintf(buf, sizeof(buf), "%s.%s",
		         im_scalar(GET(dc, s, "serviceDiscovery", "awsCloudMap", "serviceName")),
		         im_scalar(GET(dc, s, "serviceDiscovery", "awsCloudMap", "namespaceName")));
		host = buf;
	}
	set(j, "selector", selector(dc, im_get(dc, s, "podSelector")));
	json_object_set_new(j, "fronts", mp_appmesh_fronts(im, pl));
	json_object_set_new(j, "pods", pl);
	set(j, "hostname", jstr(host));
	json_object_set_new(j, "listeners", listeners(im, b, dc, im_get(dc, s, "listeners")));
	if ((seq = im_get(dc, s, "backends")) && seq->type == YAML_SEQUENCE_NODE)
		IM_SEQ_FOREACH(dc, seq, item)
		{
			yaml_node_t *vs = im_get(dc, item, "virtualService");
			const char *name =
			    ref_name(im, dc, vs, "virtualServiceRef", "virtualServiceARN",
			             AM_K_VIRTUALSERVICE, written, sizeof(written));
			backend(im, b, dc, bl, item, name, written, NULL,
			        im_get(dc, vs, "clientPolicy"), (uint32_t)json_array_size(bl));
		}
	if ((seq = im_get(dc, s, "backendGroups")) && seq->type == YAML_SEQUENCE_NODE)
		IM_SEQ_FOREACH(dc, seq, item)
		{
			const char *ns = im_scalar(im_get(dc, item, "namespace"));
			group_members(im, b, dc, bl, item, ns ? im_intern(im, ns) : dc->ns,
			              im_scalar(im_get(dc, item, "name")));
		}
	json_object_set_new(j, "backends", bl);
	set(j, "defaults",
	    client_policy(im, b, dc, GET(dc, s, "backendDefaults", "clientPolicy"),
	                  "backendDefaults.clientPolicy.tls"));
	return j;
}

static json_t *crd_service(mp_import *im, am_build *b, uint32_t k)
{
	am_object *o = &appmesh_of(im)->objs[k];
	idoc *dc = &im->docs[o->doc];
	json_t *j = base(im, b, o);
	yaml_node_t *p = im_get(dc, dc->spec, "provider"), *vn = im_get(dc, p, "virtualNode"),
	            *vr = im_get(dc, p, "virtualRouter");
	char written[600];
	if (vn || vr) {
		const char *t = vn ? ref_name(im, dc, vn, "virtualNodeRef", "virtualNodeARN",
		                              AM_K_VIRTUALNODE, written, sizeof(written))
		                   : ref_name(im, dc, vr, "virtualRouterRef", "virtualRouterARN",
		                              AM_K_VIRTUALROUTER, written, sizeof(written));
		json_object_set_new(j, "provider", json_string(vn ? "node" : "router"));
		json_object_set_new(j, "target", jstr(t));
		json_object_set_new(j, "written", json_string(written));
		json_object_set_new(j, "providerAt", mp_appmesh_at(im, b, dc, vn ? vn : vr));
	}
	return j;
}

static const char *lower(const char *s, char *buf, size_t len)
{
	size_t i;
	for (i = 0; s && s[i] && i + 1 < len; i++)
		buf[i] = (char)tolower((unsigned char)s[i]);
	buf[i] = '\0';
	return buf;
}

/* Header (or gRPC metadata) matches: [{name, how, value, lo, hi, invert}]. */
static json_t *headers(mp_import *im, idoc *dc, yaml_node_t *seq)
{
	static const char *const hows[] = {"exact", "prefix", "suffix", "regex", "range", NULL};
	json_t *a = json_array();
	yaml_node_t *h;
	if (!seq || seq->type != YAML_SEQUENCE_NODE)
		return a;
	IM_SEQ_FOREACH(dc, seq, h)
	{
		char name[256];
		yaml_node_t *m = im_get(dc, h, "match");
		const char *inv = im_scalar(im_get(dc, h, "invert"));
		json_t *j = json_pack("{s:s,s:s,s:b}", "name",
		                      lower(im_scalar(im_get(dc, h, "name")), name, sizeof(name)),
		                      "how", "present", "invert", inv && !strcmp(inv, "true"));
		for (size_t i = 0; m && hows[i]; i++) {
			yaml_node_t *v = im_get(dc, m, hows[i]);
			if (!v)
				continue;
			json_object_set_new(j, "how", json_string(hows[i]));
			if (i == 3)
				mp_appmesh_regex(im, dc, v);
			if (i == 4) {
				json_object_set_new(j, "lo",
				                    json_integer(num(im_get(dc, v, "start"), 0)));
				json_object_set_new(j, "hi",
				                    json_integer(num(im_get(dc, v, "end"), 0)));
			} else {
				json_object_set_new(j, "value",
				                    json_string(im_scalar(v) ? im_scalar(v) : ""));
			}
			break;
		}
		json_array_append_new(a, j);
	}
	return a;
}

/* A match (httpRoute, http2Route, grpcRoute or tcpRoute's; gateway routes' too). */
static json_t *match(mp_import *im, idoc *dc, yaml_node_t *m, uint32_t kind)
{
	json_t *j = json_object();
	yaml_node_t *q, *item;
	uint32_t port;
	int isset;
	if (!m)
		return j;
	if (ranged(im, dc, m, "port", 1, 65535, &port, &isset) == 0 && isset)
		json_object_set_new(j, "port", json_integer(port));
	if (kind == AM_ROUTE_TCP)
		return j;
	if (kind == AM_ROUTE_GRPC) {
		set(j, "grpcService", jstr(im_scalar(im_get(dc, m, "serviceName"))));
		set(j, "grpcMethod", jstr(im_scalar(im_get(dc, m, "methodName"))));
		json_object_set_new(j, "headers", headers(im, dc, im_get(dc, m, "metadata")));
	} else {
		set(j, "prefix", jstr(im_scalar(im_get(dc, m, "prefix"))));
		set(j, "pathExact", jstr(im_scalar(GET(dc, m, "path", "exact"))));
		set(j, "pathRegex", jstr(im_scalar(GET(dc, m, "path", "regex"))));
		mp_appmesh_regex(im, dc, GET(dc, m, "path", "regex"));
		set(j, "method", jstr(im_scalar(im_get(dc, m, "method"))));
		set(j, "scheme", jstr(im_scalar(im_get(dc, m, "scheme"))));
		json_object_set_new(j, "headers", headers(im, dc, im_get(dc, m, "headers")));
		json_t *qa = json_array();
		if ((q = im_get(dc, m, "queryParameters")) && q->type == YAML_SEQUENCE_NODE)
			IM_SEQ_FOREACH(dc, q, item)
			{
				json_t *e =
				    json_pack("{s:s}", "name", im_scalar(im_get(dc, item, "name")));
				set(e, "exact", jstr(im_scalar(GET(dc, item, "match", "exact"))));
				json_array_append_new(qa, e);
			}
		json_object_set_new(j, "query", qa);
	}
	set(j, "hostExact", jstr(im_scalar(GET(dc, m, "hostname", "exact"))));
	set(j, "hostSuffix", jstr(im_scalar(GET(dc, m, "hostname", "suffix"))));
	return j;
}

static const char *const route_keys[] = {"httpRoute", "http2Route", "grpcRoute", "tcpRoute"};

static json_t *crd_route(mp_import *im, am_build *b, idoc *dc, yaml_node_t *r, const char *title)
{
	uint32_t kind, prio, weight, port;
	int has_prio, isset;
	yaml_node_t *spec = NULL, *t, *ts;
	char written[600];
	for (kind = 0; kind < 4 && !(spec = im_get(dc, r, route_keys[kind])); kind++)
		;
	if (!spec) {
		im_error(im, dc, r,
		         "a route needs one of httpRoute, http2Route, grpcRoute or "
		         "tcpRoute");
		return NULL;
	}
	if (ranged(im, dc, r, "priority", 0, 1000, &prio, &has_prio) < 0)
		return NULL;
	json_t *j =
	    json_pack("{s:s,s:s,s:s,s:o,s:o}", "name", im_scalar(im_get(dc, r, "name")), "title",
	              title, "kind", route_keys[kind], "at", mp_appmesh_at(im, b, dc, r), "match",
	              match(im, dc, im_get(dc, spec, "match"), kind));
	if (has_prio)
		json_object_set_new(j, "priority", json_integer(prio));
	json_t *targets = json_array();
	if ((ts = GET(dc, spec, "action", "weightedTargets")) && ts->type == YAML_SEQUENCE_NODE)
		IM_SEQ_FOREACH(dc, ts, t)
		{
			if (ranged(im, dc, t, "weight", 0, 100, &weight, &isset) < 0 ||
			    ranged(im, dc, t, "port", 1, 65535, &port, &isset) < 0)
				continue;
			const char *node = ref_name(im, dc, t, "virtualNodeRef", "virtualNodeARN",
			                            AM_K_VIRTUALNODE, written, sizeof(written));
			json_t *e = json_pack("{s:o,s:s,s:i,s:o}", "node", jstr(node), "written",
			                      written, "weight", (json_int_t)weight, "at",
			                      mp_appmesh_at(im, b, dc, t));
			if (isset)
				json_object_set_new(e, "port", json_integer(port));
			json_array_append_new(targets, e);
		}
	json_object_set_new(j, "targets", targets);
	yaml_node_t *rp = im_get(dc, spec, "retryPolicy");
	if (rp) {
		json_object_set_new(j, "retries",
		                    json_integer(num(im_get(dc, rp, "maxRetries"), 0)));
		json_object_set_new(
		    j, "perTryMs",
		    json_integer(duration_ms(dc, im_get(dc, rp, "perRetryTimeout"))));
	}
	yaml_node_t *to = GET(dc, spec, "timeout", kind == AM_ROUTE_TCP ? "idle" : "perRequest");
	if (to && kind != AM_ROUTE_TCP)
		json_object_set_new(j, "timeoutMs", json_integer(duration_ms(dc, to)));
	return j;
}

static json_t *crd_router(mp_import *im, am_build *b, uint32_t k)
{
	am_object *o = &appmesh_of(im)->objs[k];
	idoc *dc = &im->docs[o->doc];
	json_t *j = base(im, b, o), *routes = json_array();
	yaml_node_t *seq = im_get(dc, dc->spec, "routes"), *r;
	json_object_set_new(j, "listeners",
	                    listeners(im, b, dc, im_get(dc, dc->spec, "listeners")));
	if (seq && seq->type == YAML_SEQUENCE_NODE)
		IM_SEQ_FOREACH(dc, seq, r)
		{
			json_t *rj =
			    crd_route(im, b, dc, r, json_string_value(json_object_get(j, "title")));
			if (rj)
				json_array_append_new(routes, rj);
		}
	json_object_set_new(j, "routes", routes);
	return j;
}

static json_t *crd_groute(mp_import *im, am_build *b, uint32_t k)
{
	am_object *o = &appmesh_of(im)->objs[k];
	idoc *dc = &im->docs[o->doc];
	yaml_node_t *spec = NULL, *rw;
	uint32_t kind, prio, port;
	int has_prio, isset;
	char written[600];
	static const uint32_t kinds[] = {AM_ROUTE_HTTP, AM_ROUTE_HTTP2, AM_ROUTE_GRPC};
	size_t i;
	for (i = 0; i < 3 && !(spec = im_get(dc, dc->spec, route_keys[kinds[i]])); i++)
		;
	if (!spec) {
		im_error(im, dc, dc->spec ? dc->spec : dc->root,
		         "spec: needs one of httpRoute, http2Route or grpcRoute");
		return NULL;
	}
	kind = kinds[i];
	if (ranged(im, dc, dc->spec, "priority", 0, 1000, &prio, &has_prio) < 0)
		return NULL;
	yaml_node_t *target = GET(dc, spec, "action", "target");
	if (ranged(im, dc, target, "port", 1, 65535, &port, &isset) < 0)
		return NULL;
	json_t *j = base(im, b, o);
	json_object_set_new(j, "priority", json_integer(has_prio ? prio : 1000));
	json_object_set_new(j, "kind", json_string(route_keys[kind]));
	json_object_set_new(j, "match", match(im, dc, im_get(dc, spec, "match"), kind));
	json_object_set_new(
	    j, "service",
	    jstr(ref_name(im, dc, im_get(dc, target, "virtualService"), "virtualServiceRef",
	                  "virtualServiceARN", AM_K_VIRTUALSERVICE, written, sizeof(written))));
	json_object_set_new(j, "written", json_string(written));
	if (isset)
		json_object_set_new(j, "port", json_integer(port));
	rw = GET(dc, spec, "action", "rewrite");
	const char *dp = im_scalar(GET(dc, rw, "prefix", "defaultPrefix"));
	const char *dh = im_scalar(GET(dc, rw, "hostname", "defaultTargetHostname"));
	json_object_set_new(j, "rewritePrefix", json_boolean(!dp || strcmp(dp, "DISABLED")));
	json_object_set_new(j, "rewriteHost", json_boolean(!dh || strcmp(dh, "DISABLED")));
	set(j, "prefixTo", jstr(im_scalar(GET(dc, rw, "prefix", "value"))));
	set(j, "pathTo", jstr(im_scalar(GET(dc, rw, "path", "exact"))));
	return j;
}

static json_t *crd_gateway(mp_import *im, am_build *b, uint32_t k)
{
	appmesh_state *st = appmesh_of(im);
	am_object *o = &st->objs[k];
	idoc *dc = &im->docs[o->doc];
	json_t *j = base(im, b, o), *pl = mp_appmesh_pods(im, k), *routes = json_array();
	set(j, "selector", selector(dc, im_get(dc, dc->spec, "podSelector")));
	json_object_set_new(j, "fronts", mp_appmesh_fronts(im, pl));
	json_object_set_new(j, "pods", pl);
	json_object_set_new(j, "listeners",
	                    listeners(im, b, dc, im_get(dc, dc->spec, "listeners")));
	set(j, "defaults",
	    client_policy(im, b, dc, GET(dc, dc->spec, "backendDefaults", "clientPolicy"),
	                  "backendDefaults.clientPolicy.tls"));
	for (uint32_t i = 0; i < b->nobjs; i++) {
		am_object *r = &st->objs[b->objs[i]];
		if (r->kind != AM_K_GATEWAYROUTE || r->gateway != k)
			continue;
		json_t *rj = crd_groute(im, b, b->objs[i]);
		if (rj)
			json_array_append_new(routes, rj);
	}
	json_object_set_new(j, "routes", routes);
	return j;
}

static json_t *crd_mesh(mp_import *im, am_build *b, uint32_t k)
{
	appmesh_state *st = appmesh_of(im);
	am_object *o = &st->objs[k];
	idoc *dc = &im->docs[o->doc];
	json_t *j = base(im, b, o), *nss = json_array();
	yaml_node_t *eg = im_get(dc, dc->spec, "egressFilter");
	const char *type = im_scalar(im_get(dc, eg, "type"));
	json_object_set_new(j, "egress", json_string(type ? type : "DROP_ALL"));
	json_object_set_new(j, "egressAt", mp_appmesh_at(im, b, dc, eg ? eg : dc->root));
	/* the namespaces its selector selects */
	for (uint32_t i = 0; i < im->ndocs; i++) {
		idoc *nd = &im->docs[i];
		if (!im_live(nd) || nd->provider != &mp_provider_kubernetes ||
		    strcmp(nd->kind->kind, "Namespace") || nd->cluster != dc->cluster ||
		    !mp_appmesh_selects(im, dc, im_get(dc, dc->spec, "namespaceSelector"), nd,
		                        im_get(nd, nd->meta, "labels")))
			continue;
		json_array_append_new(nss, json_string(im_str_of(im, nd->name)));
	}
	json_object_set_new(j, "namespaces", nss);
	return j;
}

/* --- the record --- */

/* Appends the object's JSON to the record's list of its kind. */
static void put(json_t *rec, const char *list, json_t *j)
{
	if (j)
		json_array_append_new(json_object_get(rec, list), j);
}

static void build(mp_import *im, appmesh_state *st, am_build *b)
{
	json_t *rec =
	    json_pack("{s:s,s:[],s:[],s:[],s:[],s:s}", "name", b->name, "nodes", "services",
	              "routers", "gateways", "rule", st->allow_all_backends ? "allow" : "refuse");
	b->record = rec;
	for (uint32_t i = 0; i < b->nobjs; i++) {
		uint32_t k = b->objs[i];
		am_object *o = &st->objs[k];
		idoc *dc = &im->docs[o->doc];
		if (appmesh_tf(dc)) {
			mp_appmesh_tf_put(im, b, k);
			continue;
		}
		switch (o->kind) {
		case AM_K_MESH:
			json_object_set_new(rec, "mesh", crd_mesh(im, b, k));
			break;
		case AM_K_VIRTUALNODE:
			put(rec, "nodes", crd_node(im, b, k));
			break;
		case AM_K_VIRTUALSERVICE:
			put(rec, "services", crd_service(im, b, k));
			break;
		case AM_K_VIRTUALROUTER:
			put(rec, "routers", crd_router(im, b, k));
			break;
		case AM_K_VIRTUALGATEWAY:
			put(rec, "gateways", crd_gateway(im, b, k));
			break;
		default: /* gateway routes go with their gateway, backend groups with nodes */
			break;
		}
	}
	/* what each virtual service's name stands for in the model */
	json_t *svcs = json_object_get(rec, "services"), *s;
	size_t i;
	json_array_foreach(svcs, i, s)
	{
		const char *name = json_string_value(json_object_get(s, "name"));
		const char *ns = json_string_value(json_object_get(s, "ns"));
		int cluster;
		mp_id sid = name_service(im, name, ns && *ns ? im_intern(im, ns) : 0, &cluster);
		mp_id eid = !cluster && strchr(name, '.')
		                ? im->host->lookup(im->host->ctx, MP_IMPORT_EXTERNAL,
		                                   im_intern(im, name), 0)
		                : MP_NONE;
		if (sid != MP_NONE)
			json_object_set_new(s, "service", json_integer(sid));
		if (eid != MP_NONE)
			json_object_set_new(s, "external", json_integer(eid));
	}
	if (!json_object_get(rec, "mesh")) /* a mesh only referred to (Terraform) */
		json_object_set_new(rec, "mesh",
		                    json_pack("{s:s,s:s,s:s,s:[]}", "title", b->name, "name",
		                              b->name, "egress", "DROP_ALL", "namespaces"));
}

/* The model's routes: each router route of a virtual service the model has, from any caller
 * to its targets (a node whose DNS name is a Service of the model: that Service; else the
 * virtual service's, the node's name as the subset), and each gateway route from the
 * gateway's Service to its virtual service. */
static void model_routes(mp_import *im, const am_mesh *mesh)
{
	for (uint32_t si = 0; si < mesh->nservices; si++) {
		const am_vservice *vs = &mesh->services[si];
		if (vs->provider != AM_PROVIDER_ROUTER || vs->target == AM_NONE ||
		    vs->service == MP_NONE)
			continue;
		const am_router *rt = &mesh->routers[vs->target];
		uint32_t shared = 0; /* the router is the provider of other virtual services too */
		for (uint32_t k = 0; k < mesh->nservices; k++)
			shared += k != si && mesh->services[k].provider == AM_PROVIDER_ROUTER &&
			          mesh->services[k].target == vs->target;
		for (uint32_t ri = 0; ri < rt->nroutes; ri++) {
			const am_route *r = &rt->routes[ri];
			mp_target t[10];
			uint32_t nt = 0, n[3] = {0, 0, 0};
			for (uint32_t k = 0; k < r->ntargets && nt < 10; k++) {
				const am_target *tg = &r->targets[k];
				if (tg->node == AM_NONE)
					continue;
				const am_node *node = &mesh->nodes[tg->node];
				int c;
				mp_id own = node->hostname ? name_service(im, node->hostname, 0, &c)
				                           : MP_NONE;
				t[nt++] = (mp_target){
				    .kind = MP_TARGET_SERVICE,
				    .id = own != MP_NONE ? own : vs->service,
				    .cluster = MP_NONE,
				    .weight = tg->weight,
				    .loc = {0, 0, 0},
				    .subset = own != MP_NONE ? 0 : im_intern(im, node->o.name),
				    .flags = 0};
			}
			if (!nt)
				continue;
			mp_route tmpl = {.source = MP_NONE,
			                 .timeout_ms = r->timeout_ms,
			                 .retry_attempts = r->retries,
			                 .per_try_timeout_ms = r->per_try_ms,
			                 .match = {.methods = r->match.method}};
			if (r->match.prefix && strcmp(r->match.prefix, "/")) {
				tmpl.match.path_kind = MP_PATH_PREFIX;
				tmpl.match.path = im_intern(im, r->match.prefix);
			} else if (r->match.path_exact) {
				tmpl.match.path_kind = MP_PATH_EXACT;
				tmpl.match.path = im_intern(im, r->match.path_exact);
			}
			for (uint32_t h = 0; h < r->match.nheaders; h++)
				if (r->match.headers[h].how == AM_HM_EXACT &&
				    !r->match.headers[h].invert)
					im_match_header(im, r->match.headers[h].name,
					                r->match.headers[h].value, &tmpl.match);
			tmpl.loc = r->at.loc;
			for (uint32_t k = 0; k < nt; k++)
				t[k].loc = tmpl.loc;
			n[0] = nt;
			const mp_target *tp[3] = {t, NULL, NULL};
			char name[800];
			snprintf(name, sizeof(name), "%s/%s:%s%s%s", mesh->o.name, rt->o.name,
			         r->name, shared ? "@" : "", shared ? vs->o.name : "");
			im_add_route(im, name, &tmpl, tp, n);
		}
	}
	for (uint32_t gi = 0; gi < mesh->ngateways; gi++) {
		const am_gateway *g = &mesh->gateways[gi];
		if (!g->nfronts)
			continue;
		for (uint32_t ri = 0; ri < g->nroutes; ri++) {
			const am_groute *r = &g->routes[ri];
			if (r->service == AM_NONE)
				continue;
			const am_vservice *vs = &mesh->services[r->service];
			if (vs->service == MP_NONE && vs->external == MP_NONE)
				continue;
			mp_target t = {.kind = vs->service != MP_NONE ? MP_TARGET_SERVICE
			                                              : MP_TARGET_EXTERNAL,
			               .id = vs->service != MP_NONE ? vs->service : vs->external,
			               .cluster = MP_NONE,
			               .weight = 100,
			               .loc = r->o.at.loc};
			mp_route tmpl = {.source = g->fronts[0].service,
			                 .match = {.methods = r->match.method},
			                 .loc = t.loc};
			if (r->match.prefix && strcmp(r->match.prefix, "/")) {
				tmpl.match.path_kind = MP_PATH_PREFIX;
				tmpl.match.path = im_intern(im, r->match.prefix);
			} else if (r->match.path_exact) {
				tmpl.match.path_kind = MP_PATH_EXACT;
				tmpl.match.path = im_intern(im, r->match.path_exact);
			}
			const mp_target *tp[3] = {&t, NULL, NULL};
			uint32_t n[3] = {1, 0, 0};
			char name[800];
			snprintf(name, sizeof(name), "%s/%s:%s", mesh->o.name, g->o.name,
			         r->o.name);
			im_add_route(im, name, &tmpl, tp, n);
		}
	}
}

void mp_appmesh_records(mp_import *im, appmesh_state *st)
{
	for (uint32_t k = 0; k < st->nmeshes && !im->oom; k++)
		build(im, st, &st->meshes[k]);
	if (im->oom || !st->nmeshes)
		return;
	json_t **specs = mp_calloc(st->nmeshes, sizeof(*specs));
	const mp_str **files = mp_calloc(st->nmeshes, sizeof(*files));
	uint32_t *nfiles = mp_calloc(st->nmeshes, sizeof(*nfiles));
	char err[512];
	if (!specs || !files || !nfiles) {
		im->oom = 1;
		goto out;
	}
	for (uint32_t k = 0; k < st->nmeshes; k++) {
		specs[k] = st->meshes[k].record;
		files[k] = st->meshes[k].files;
		nfiles[k] = st->meshes[k].nfiles;
	}
	if (mp_amstate_from_json(im->m, specs, files, nfiles, st->nmeshes, &st->view, err,
	                         sizeof(err)) < 0) {
		mp_diags_error(im->d, NULL, 0, 0, "App Mesh: %s", err);
		im->oom |= !strcmp(err, "out of memory");
		goto out;
	}
	for (uint32_t k = 0; st->view && k < st->view->nmeshes && !im->oom; k++)
		model_routes(im, &st->view->meshes[k]);
out:
	mp_free(specs);
	mp_free(files);
	mp_free(nfiles);
}
