/* terraform_appmesh.c: App Mesh's resources in the JSON `terraform show -json` prints for a
 * state or a saved plan (developer.hashicorp.com/terraform/internals/json-format): App Mesh's
 * document form (import_int.h, struct mp_provider_form), whose managed resources the frame
 * keeps each as a document of its aws_appmesh_* row; each one's mesh and name (a plan leaves
 * unknown values out: they are found through the configuration's references), and the resources
 * written into the normalized mesh (record_appmesh.c) as the CRDs are. docs/import.md ("App Mesh",
 * "The Terraform form"). */
#include "appmesh_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* --- the form --- */

/* A state or a plan: format_version and values (or planned_values). */
static int claims(yaml_document_t *doc, const yaml_node_t *root)
{
	return mp_yaml_get(doc, root, "format_version") &&
	       (mp_yaml_get(doc, root, "values") || mp_yaml_get(doc, root, "planned_values"));
}

/* The managed resources of a module and its child modules, in order (data sources are read,
 * never managed). */
static void resources_of(idoc *dc, yaml_node_t *module, void (*keep)(void *, yaml_node_t *),
                         void *ctx)
{
	yaml_node_t *rs = im_get(dc, module, "resources"),
	            *cm = im_get(dc, module, "child_modules");
	yaml_node_t *r, *m;
	if (rs && rs->type == YAML_SEQUENCE_NODE)
		IM_SEQ_FOREACH(dc, rs, r)
		{
			const char *mode = im_scalar(im_get(dc, r, "mode"));
			if (mode && !strcmp(mode, "managed") && im_scalar(im_get(dc, r, "address")))
				keep(ctx, r);
		}
	if (cm && cm->type == YAML_SEQUENCE_NODE)
		IM_SEQ_FOREACH(dc, cm, m)
		{
			resources_of(dc, m, keep, ctx);
		}
}

static int resources(mp_import *im, idoc *dc, void (*keep)(void *, yaml_node_t *), void *ctx)
{
	yaml_node_t *fv = im_get(dc, dc->root, "format_version");
	const char *v = im_scalar(fv);
	if (!v || strtol(v, NULL, 10) != 1) {
		mp_diags_error(
		    im->d, im_str_of(im, dc->file), im_loc(dc, fv).line, im_loc(dc, fv).col,
		    "format_version '%s' of `terraform show -json` is not one meshpol reads "
		    "(major version 1)",
		    v ? v : "?");
		return -1;
	}
	yaml_node_t *values = im_get(dc, dc->root, "planned_values");
	if (!values)
		values = im_get(dc, dc->root, "values");
	resources_of(dc, im_get(dc, values, "root_module"), keep, ctx);
	return 0;
}

/* Each resource: its type, its address (the name, and the title), its values (the spec). */
const struct mp_provider_form mp_appmesh_form = {
    .title = "Terraform resource",
    .kind_key = "type",
    .name_key = "address",
    .spec_key = "values",
    .flags = IM_FORM_SPEC | IM_FORM_NAMED,
    .claims = claims,
    .resources = resources,
};

/* --- names and meshes --- */

/* A string value; Terraform's unset strings are "". */
static const char *sval(idoc *dc, yaml_node_t *map, const char *key)
{
	const char *s = im_scalar(im_get(dc, map, key));
	return s && *s ? s : NULL;
}

#define block mp_appmesh_block

/* Follows blocks: blocks(dc, n, "spec", "backend_defaults", ..., NULL). */
static yaml_node_t *blocks(idoc *dc, yaml_node_t *n, ...)
{
	va_list ap;
	va_start(ap, n);
	for (const char *k; n && (k = va_arg(ap, const char *));)
		n = block(dc, n, k);
	va_end(ap);
	return n;
}
#define B(dc, n, ...) blocks(dc, n, __VA_ARGS__, NULL)

/* The configuration module of a resource address ("module.a.module.b.TYPE.NAME"), its
 * address inside it into local, and the chain of module calls above it. */
static yaml_node_t *config_module(idoc *dc, const char *address, char *local, size_t len,
                                  yaml_node_t **calls, size_t *ends, uint32_t *ncalls)
{
	yaml_node_t *root = yaml_document_get_root_node(&dc->doc);
	yaml_node_t *m = im_get(dc, im_get(dc, root, "configuration"), "root_module");
	const char *p = address;
	*ncalls = 0;
	while (m && !strncmp(p, "module.", 7)) {
		char name[256];
		size_t n = strcspn(p + 7, ".[");
		snprintf(name, sizeof(name), "%.*s", (int)n, p + 7);
		p += 7 + n;
		if (*p == '[') /* count or for_each instance */
			p += strcspn(p, "]") + (p[strcspn(p, "]")] == ']');
		p += *p == '.';
		yaml_node_t *call = im_get(dc, im_get(dc, m, "module_calls"), name);
		if (*ncalls == 8)
			return NULL;
		ends[*ncalls] = (size_t)(p - address);
		calls[(*ncalls)++] = call;
		m = im_get(dc, call, "module");
	}
	snprintf(local, len, "%s", p);
	return m;
}

/* The planned (or state) values of the resource at address, or NULL. */
static yaml_node_t *values_at(idoc *dc, yaml_node_t *module, const char *address)
{
	yaml_node_t *rs = im_get(dc, module, "resources"),
	            *cm = im_get(dc, module, "child_modules");
	yaml_node_t *r, *m, *found = NULL;
	if (rs && rs->type == YAML_SEQUENCE_NODE)
		IM_SEQ_FOREACH(dc, rs, r)
		{
			const char *a = im_scalar(im_get(dc, r, "address"));
			if (a && !strcmp(a, address))
				return im_get(dc, r, "values");
		}
	if (cm && cm->type == YAML_SEQUENCE_NODE)
		IM_SEQ_FOREACH(dc, cm, m)
		{
			if ((found = values_at(dc, m, address)))
				return found;
		}
	return NULL;
}

/* An attribute the values leave out (a plan's unknown value): its expression in the
 * configuration, a constant or a reference to another resource (whose name it takes: a mesh's,
 * router's or gateway's id and name are its name), through module inputs (var.X) up to the
 * module that sets them. NULL when it cannot be told. */
static const char *configured(idoc *dc, const char *address, const char *attr)
{
	char local[512];
	yaml_node_t *calls[8];
	size_t ends[8];
	uint32_t ncalls;
	yaml_node_t *root = yaml_document_get_root_node(&dc->doc);
	yaml_node_t *values = im_get(dc, root, "planned_values");
	if (!values)
		values = im_get(dc, root, "values");
	yaml_node_t *m = config_module(dc, address, local, sizeof(local), calls, ends, &ncalls);
	yaml_node_t *rs = im_get(dc, m, "resources"), *r, *expr = NULL;
	if (rs && rs->type == YAML_SEQUENCE_NODE)
		IM_SEQ_FOREACH(dc, rs, r)
		{
			const char *a = im_scalar(im_get(dc, r, "address"));
			if (a && !strcmp(a, local))
				expr = im_get(dc, im_get(dc, r, "expressions"), attr);
		}
	/* depth: how many module calls the expression's module is below the root */
	for (uint32_t depth = ncalls; expr;) {
		const char *cv = sval(dc, expr, "constant_value");
		yaml_node_t *refs = im_get(dc, expr, "references");
		const char *ref =
		    refs && refs->type == YAML_SEQUENCE_NODE &&
		            refs->data.sequence.items.top > refs->data.sequence.items.start
		        ? im_scalar(im_node(dc, *refs->data.sequence.items.start))
		        : NULL;
		if (cv)
			return cv;
		if (!ref)
			return NULL;
		if (!strncmp(ref, "var.", 4)) { /* the calling module's expression */
			if (!depth)
				return NULL;
			expr = im_get(dc, im_get(dc, calls[--depth], "expressions"), ref + 4);
			continue;
		}
		char target[1100], t[256], n[256];
		if (sscanf(ref, "%255[^.].%255[^.]", t, n) != 2)
			return NULL;
		snprintf(target, sizeof(target), "%.*s%s.%s", (int)(depth ? ends[depth - 1] : 0),
		         address, t, n);
		return sval(dc, values_at(dc, im_get(dc, values, "root_module"), target), "name");
	}
	return NULL;
}

static const char *named(mp_import *im, idoc *dc, const char *attr)
{
	const char *v = sval(dc, dc->spec, attr);
	return v ? v : configured(dc, im_str_of(im, dc->name), attr);
}

int mp_appmesh_tf_object(mp_import *im, uint32_t doc, am_object *o)
{
	static const uint32_t kinds[] = {
	    [AM_K_TF_MESH - AM_K_TF_FIRST] = AM_K_MESH,
	    [AM_K_TF_VIRTUALNODE - AM_K_TF_FIRST] = AM_K_VIRTUALNODE,
	    [AM_K_TF_VIRTUALSERVICE - AM_K_TF_FIRST] = AM_K_VIRTUALSERVICE,
	    [AM_K_TF_VIRTUALROUTER - AM_K_TF_FIRST] = AM_K_VIRTUALROUTER,
	    [AM_K_TF_ROUTE - AM_K_TF_FIRST] = AM_K_TF_ROUTE,
	    [AM_K_TF_VIRTUALGATEWAY - AM_K_TF_FIRST] = AM_K_VIRTUALGATEWAY,
	    [AM_K_TF_GATEWAYROUTE - AM_K_TF_FIRST] = AM_K_GATEWAYROUTE,
	};
	appmesh_state *st = appmesh_of(im);
	idoc *dc = &im->docs[doc];
	uint32_t k = appmesh_kind(dc);
	o->kind = kinds[k - AM_K_TF_FIRST];
	const char *name = named(im, dc, "name");
	const char *mesh = k == AM_K_TF_MESH ? name : named(im, dc, "mesh_name");
	const char *router = k == AM_K_TF_ROUTE          ? named(im, dc, "virtual_router_name")
	                     : k == AM_K_TF_GATEWAYROUTE ? named(im, dc, "virtual_gateway_name")
	                                                 : NULL;
	if (!name || !mesh || ((k == AM_K_TF_ROUTE || k == AM_K_TF_GATEWAYROUTE) && !router))
		return im_error(im, dc, dc->root,
		                "its %s is unknown (a plan's value computed on apply) and the "
		                "configuration does not tell it",
		                !name   ? "name"
		                : !mesh ? "mesh_name"
		                        : "router or gateway name");
	o->name = mp_arena_str(&st->ar, name);
	o->mesh = mp_arena_str(&st->ar, mesh);
	o->router = router ? mp_arena_str(&st->ar, router) : NULL;
	if (st->ar.oom) {
		im->oom = 1;
		return -1;
	}
	return 0;
}

/* --- into the record --- */

#define js  mp_am_js
#define set mp_am_set

static long long num(idoc *dc, yaml_node_t *map, const char *key)
{
	const char *s = im_scalar(im_get(dc, map, key));
	return s ? strtoll(s, NULL, 10) : 0;
}

static uint32_t duration_ms(idoc *dc, yaml_node_t *d)
{
	const char *unit = sval(dc, d, "unit");
	long long v = num(dc, d, "value");
	if (!d || v <= 0)
		return 0;
	return (uint32_t)(unit && !strcmp(unit, "s") ? v * 1000 : v);
}

#define validation(im, b, dc, v) mp_am_validation(im, b, dc, v, "subject_alternative_names")

static json_t *client_policy(mp_import *im, am_build *b, idoc *dc, yaml_node_t *tls,
                             const char *path)
{
	if (!tls)
		return NULL;
	yaml_node_t *cert = block(dc, tls, "certificate"), *pl = im_get(dc, tls, "ports"), *p;
	const char *enforce = im_scalar(im_get(dc, tls, "enforce"));
	json_t *ports = json_array();
	json_t *j = json_pack("{s:s,s:o,s:b}", "path", path, "at", mp_appmesh_at(im, b, dc, tls),
	                      "enforce", !enforce || strcmp(enforce, "false"));
	if (pl && pl->type == YAML_SEQUENCE_NODE)
		IM_SEQ_FOREACH(dc, pl, p)
		{
			json_array_append_new(
			    ports,
			    json_integer(strtoll(im_scalar(p) ? im_scalar(p) : "0", NULL, 10)));
		}
	json_object_set_new(j, "ports", ports);
	if (cert && (B(dc, cert, "sds") || B(dc, cert, "file")))
		json_object_set_new(j, "cert",
		                    json_string(sval(dc, B(dc, cert, "sds"), "secret_name")
		                                    ? sval(dc, B(dc, cert, "sds"), "secret_name")
		                                    : ""));
	set(j, "validation", validation(im, b, dc, block(dc, tls, "validation")));
	return j;
}

static json_t *listeners(mp_import *im, am_build *b, idoc *dc, yaml_node_t *spec)
{
	json_t *a = json_array();
	yaml_node_t *ls = im_get(dc, spec, "listener"), *l;
	uint32_t i = 0;
	if (!ls || ls->type != YAML_SEQUENCE_NODE)
		return a;
	IM_SEQ_FOREACH(dc, ls, l)
	{
		yaml_node_t *pm = block(dc, l, "port_mapping"), *tls = block(dc, l, "tls");
		const char *proto = sval(dc, pm, "protocol");
		char path[32];
		snprintf(path, sizeof(path), "listener[%u]", i++);
		json_t *j = json_pack("{s:I,s:s,s:o,s:s}", "port", (json_int_t)num(dc, pm, "port"),
		                      "protocol", proto ? proto : "tcp", "at",
		                      mp_appmesh_at(im, b, dc, l), "path", path);
		yaml_node_t *to = proto ? B(dc, l, "timeout", proto, "per_request") : NULL;
		if (to)
			json_object_set_new(j, "timeoutMs", json_integer(duration_ms(dc, to)));
		if (tls && sval(dc, tls, "mode")) {
			json_t *t = json_pack("{s:s,s:o}", "mode", sval(dc, tls, "mode"), "at",
			                      mp_appmesh_at(im, b, dc, tls));
			set(t, "cert",
			    js(sval(dc, B(dc, tls, "certificate", "sds"), "secret_name")));
			set(t, "validation", validation(im, b, dc, block(dc, tls, "validation")));
			json_object_set_new(j, "tls", t);
		}
		json_array_append_new(a, j);
	}
	return a;
}

static json_t *base(mp_import *im, am_build *b, am_object *o)
{
	idoc *dc = &im->docs[o->doc];
	return json_pack("{s:s,s:s,s:s,s:s,s:s,s:o}", "title", im_str_of(im, dc->name), "name",
	                 o->name, "ns", "", "kname", "", "version", "", "at",
	                 mp_appmesh_at(im, b, dc, dc->root));
}

static json_t *tf_node(mp_import *im, am_build *b, uint32_t k)
{
	am_object *o = &appmesh_of(im)->objs[k];
	idoc *dc = &im->docs[o->doc];
	yaml_node_t *spec = block(dc, dc->spec, "spec"), *bs = im_get(dc, spec, "backend"), *be;
	json_t *j = base(im, b, o), *bl = json_array(), *pl = mp_appmesh_pods(im, k);
	yaml_node_t *sd = block(dc, spec, "service_discovery");
	const char *host = sval(dc, block(dc, sd, "dns"), "hostname");
	char buf[600];
	if (!host && block(dc, sd, "aws_cloud_map")) {
		snprintf(buf, sizeof(buf), "%s.%s",
		         sval(dc, block(dc, sd, "aws_cloud_map"), "service_name"),
		         sval(dc, block(dc, sd, "aws_cloud_map"), "namespace_name"));
		host = buf;
	}
	json_object_set_new(j, "fronts", mp_appmesh_fronts(im, pl));
	json_object_set_new(j, "pods", pl);
	set(j, "hostname", js(host));
	json_object_set_new(j, "listeners", listeners(im, b, dc, spec));
	if (bs && bs->type == YAML_SEQUENCE_NODE)
		IM_SEQ_FOREACH(dc, bs, be)
		{
			yaml_node_t *vs = block(dc, be, "virtual_service");
			const char *name = sval(dc, vs, "virtual_service_name");
			char rule[600], path[700];
			/* a set: no order to cite, the virtual service names the backend */
			snprintf(rule, sizeof(rule), "backend[%s]", name ? name : "?");
			snprintf(path, sizeof(path), "%s.client_policy.tls", rule);
			json_t *e = json_pack("{s:o,s:o,s:s,s:s}", "vs", js(name), "at",
			                      mp_appmesh_at(im, b, dc, be), "written",
			                      name ? name : "", "rule", rule);
			set(e, "policy",
			    client_policy(im, b, dc, B(dc, vs, "client_policy", "tls"), path));
			json_array_append_new(bl, e);
		}
	json_object_set_new(j, "backends", bl);
	set(j, "defaults",
	    client_policy(im, b, dc, B(dc, spec, "backend_defaults", "client_policy", "tls"),
	                  "backend_defaults.client_policy.tls"));
	return j;
}

static json_t *tf_service(mp_import *im, am_build *b, uint32_t k)
{
	am_object *o = &appmesh_of(im)->objs[k];
	idoc *dc = &im->docs[o->doc];
	json_t *j = base(im, b, o);
	yaml_node_t *p = B(dc, dc->spec, "spec", "provider");
	yaml_node_t *vn = block(dc, p, "virtual_node"), *vr = block(dc, p, "virtual_router");
	const char *t =
	    vn ? sval(dc, vn, "virtual_node_name") : sval(dc, vr, "virtual_router_name");
	if (vn || vr) {
		json_object_set_new(j, "provider", json_string(vn ? "node" : "router"));
		json_object_set_new(j, "target", js(t));
		json_object_set_new(j, "written", json_string(t ? t : ""));
		json_object_set_new(j, "providerAt", mp_appmesh_at(im, b, dc, vn ? vn : vr));
	}
	return j;
}

static json_t *headers(mp_import *im, idoc *dc, yaml_node_t *seq)
{
	static const char *const hows[] = {"exact", "prefix", "suffix", "regex", NULL};
	json_t *a = json_array();
	yaml_node_t *h;
	if (!seq || seq->type != YAML_SEQUENCE_NODE)
		return a;
	IM_SEQ_FOREACH(dc, seq, h)
	{
		char name[256];
		const char *n = sval(dc, h, "name"), *inv = im_scalar(im_get(dc, h, "invert"));
		yaml_node_t *m = block(dc, h, "match"), *range = block(dc, m, "range");
		size_t i;
		for (i = 0; n && n[i] && i + 1 < sizeof(name); i++)
			name[i] = (char)(n[i] >= 'A' && n[i] <= 'Z' ? n[i] + 32 : n[i]);
		name[i] = '\0';
		json_t *j = json_pack("{s:s,s:s,s:b}", "name", name, "how", "present", "invert",
		                      inv && !strcmp(inv, "true"));
		for (i = 0; m && hows[i]; i++)
			if (sval(dc, m, hows[i])) {
				if (i == 3)
					mp_appmesh_regex(im, dc, im_get(dc, m, hows[i]));
				json_object_set_new(j, "how", json_string(hows[i]));
				json_object_set_new(j, "value", json_string(sval(dc, m, hows[i])));
				break;
			}
		if (range) {
			json_object_set_new(j, "how", json_string("range"));
			json_object_set_new(j, "lo", json_integer(num(dc, range, "start")));
			json_object_set_new(j, "hi", json_integer(num(dc, range, "end")));
		}
		json_array_append_new(a, j);
	}
	return a;
}

static json_t *match(mp_import *im, idoc *dc, yaml_node_t *m, uint32_t kind)
{
	json_t *j = json_object();
	yaml_node_t *q = im_get(dc, m, "query_parameter"), *item;
	if (num(dc, m, "port"))
		json_object_set_new(j, "port", json_integer(num(dc, m, "port")));
	if (!m || kind == AM_ROUTE_TCP)
		return j;
	if (kind == AM_ROUTE_GRPC) {
		set(j, "grpcService", js(sval(dc, m, "service_name")));
		set(j, "grpcMethod", js(sval(dc, m, "method_name")));
		json_object_set_new(j, "headers", headers(im, dc, im_get(dc, m, "metadata")));
	} else {
		set(j, "prefix", js(sval(dc, m, "prefix")));
		set(j, "pathExact", js(sval(dc, block(dc, m, "path"), "exact")));
		set(j, "pathRegex", js(sval(dc, block(dc, m, "path"), "regex")));
		if (sval(dc, block(dc, m, "path"), "regex"))
			mp_appmesh_regex(im, dc, im_get(dc, block(dc, m, "path"), "regex"));
		set(j, "method", js(sval(dc, m, "method")));
		set(j, "scheme", js(sval(dc, m, "scheme")));
		json_object_set_new(j, "headers", headers(im, dc, im_get(dc, m, "header")));
		json_t *qa = json_array();
		if (q && q->type == YAML_SEQUENCE_NODE)
			IM_SEQ_FOREACH(dc, q, item)
			{
				json_t *e =
				    json_pack("{s:s}", "name",
				              sval(dc, item, "name") ? sval(dc, item, "name") : "");
				set(e, "exact", js(sval(dc, block(dc, item, "match"), "exact")));
				json_array_append_new(qa, e);
			}
		json_object_set_new(j, "query", qa);
	}
	set(j, "hostExact", js(sval(dc, block(dc, m, "hostname"), "exact")));
	set(j, "hostSuffix", js(sval(dc, block(dc, m, "hostname"), "suffix")));
	return j;
}

static const char *const route_keys[] = {"http_route", "http2_route", "grpc_route", "tcp_route"};

static json_t *tf_route(mp_import *im, am_build *b, uint32_t k)
{
	am_object *o = &appmesh_of(im)->objs[k];
	idoc *dc = &im->docs[o->doc];
	yaml_node_t *spec = block(dc, dc->spec, "spec"), *r = NULL, *ts, *t;
	uint32_t kind;
	for (kind = 0; kind < 4 && !(r = block(dc, spec, route_keys[kind])); kind++)
		;
	if (!r) {
		im_error(im, dc, dc->root,
		         "spec: needs one of http_route, http2_route, grpc_route or "
		         "tcp_route");
		return NULL;
	}
	json_t *j =
	    json_pack("{s:s,s:s,s:s,s:o,s:o}", "name", o->name, "title", im_str_of(im, dc->name),
	              "kind", mp_am_route_kinds[kind], "at", mp_appmesh_at(im, b, dc, dc->root),
	              "match", match(im, dc, block(dc, r, "match"), kind));
	const char *prio = im_scalar(im_get(dc, spec, "priority"));
	if (prio)
		json_object_set_new(j, "priority", json_integer(strtoll(prio, NULL, 10)));
	json_t *targets = json_array();
	if ((ts = im_get(dc, block(dc, r, "action"), "weighted_target")) &&
	    ts->type == YAML_SEQUENCE_NODE)
		IM_SEQ_FOREACH(dc, ts, t)
		{
			const char *node = sval(dc, t, "virtual_node");
			json_t *e =
			    json_pack("{s:o,s:s,s:I,s:o}", "node", js(node), "written",
			              node ? node : "", "weight", (json_int_t)num(dc, t, "weight"),
			              "at", mp_appmesh_at(im, b, dc, t));
			if (num(dc, t, "port"))
				json_object_set_new(e, "port", json_integer(num(dc, t, "port")));
			json_array_append_new(targets, e);
		}
	json_object_set_new(j, "targets", targets);
	yaml_node_t *rp = block(dc, r, "retry_policy");
	if (rp) {
		json_object_set_new(j, "retries", json_integer(num(dc, rp, "max_retries")));
		json_object_set_new(
		    j, "perTryMs",
		    json_integer(duration_ms(dc, block(dc, rp, "per_retry_timeout"))));
	}
	yaml_node_t *to = B(dc, r, "timeout", "per_request");
	if (to && kind != AM_ROUTE_TCP)
		json_object_set_new(j, "timeoutMs", json_integer(duration_ms(dc, to)));
	return j;
}

static json_t *tf_router(mp_import *im, am_build *b, uint32_t k)
{
	appmesh_state *st = appmesh_of(im);
	am_object *o = &st->objs[k];
	idoc *dc = &im->docs[o->doc];
	json_t *j = base(im, b, o), *routes = json_array();
	json_object_set_new(j, "listeners", listeners(im, b, dc, block(dc, dc->spec, "spec")));
	for (uint32_t i = 0; i < b->nobjs; i++) {
		am_object *r = &st->objs[b->objs[i]];
		if (r->kind != AM_K_TF_ROUTE || strcmp(r->router, o->name))
			continue;
		json_t *rj = tf_route(im, b, b->objs[i]);
		if (rj)
			json_array_append_new(routes, rj);
	}
	json_object_set_new(j, "routes", routes);
	return j;
}

static json_t *tf_groute(mp_import *im, am_build *b, uint32_t k)
{
	am_object *o = &appmesh_of(im)->objs[k];
	idoc *dc = &im->docs[o->doc];
	static const uint32_t kinds[] = {AM_ROUTE_HTTP, AM_ROUTE_HTTP2, AM_ROUTE_GRPC};
	yaml_node_t *spec = block(dc, dc->spec, "spec"), *r = NULL;
	size_t i;
	for (i = 0; i < 3 && !(r = block(dc, spec, route_keys[kinds[i]])); i++)
		;
	if (!r) {
		im_error(im, dc, dc->root,
		         "spec: needs one of http_route, http2_route or grpc_route");
		return NULL;
	}
	yaml_node_t *action = block(dc, r, "action"), *target = block(dc, action, "target");
	yaml_node_t *rw = block(dc, action, "rewrite");
	const char *vs = sval(dc, block(dc, target, "virtual_service"), "virtual_service_name");
	const char *prio = im_scalar(im_get(dc, spec, "priority"));
	const char *dp = sval(dc, block(dc, rw, "prefix"), "default_prefix");
	const char *dh = sval(dc, block(dc, rw, "hostname"), "default_target_hostname");
	json_t *j = base(im, b, o);
	json_object_set_new(j, "priority", json_integer(prio ? strtoll(prio, NULL, 10) : 1000));
	json_object_set_new(j, "kind", json_string(mp_am_route_kinds[kinds[i]]));
	json_object_set_new(j, "match", match(im, dc, block(dc, r, "match"), kinds[i]));
	json_object_set_new(j, "service", js(vs));
	json_object_set_new(j, "written", json_string(vs ? vs : ""));
	if (num(dc, target, "port"))
		json_object_set_new(j, "port", json_integer(num(dc, target, "port")));
	json_object_set_new(j, "rewritePrefix", json_boolean(!dp || strcmp(dp, "DISABLED")));
	json_object_set_new(j, "rewriteHost", json_boolean(!dh || strcmp(dh, "DISABLED")));
	set(j, "prefixTo", js(sval(dc, block(dc, rw, "prefix"), "value")));
	set(j, "pathTo", js(sval(dc, block(dc, rw, "path"), "exact")));
	return j;
}

static json_t *tf_gateway(mp_import *im, am_build *b, uint32_t k)
{
	appmesh_state *st = appmesh_of(im);
	am_object *o = &st->objs[k];
	idoc *dc = &im->docs[o->doc];
	yaml_node_t *spec = block(dc, dc->spec, "spec");
	json_t *j = base(im, b, o), *pl = mp_appmesh_pods(im, k), *routes = json_array();
	json_object_set_new(j, "fronts", mp_appmesh_fronts(im, pl));
	json_object_set_new(j, "pods", pl);
	json_object_set_new(j, "listeners", listeners(im, b, dc, spec));
	set(j, "defaults",
	    client_policy(im, b, dc, B(dc, spec, "backend_defaults", "client_policy", "tls"),
	                  "backend_defaults.client_policy.tls"));
	for (uint32_t i = 0; i < b->nobjs; i++) {
		am_object *r = &st->objs[b->objs[i]];
		if (r->kind != AM_K_GATEWAYROUTE || !appmesh_tf(&im->docs[r->doc]) ||
		    strcmp(r->router, o->name))
			continue;
		json_t *rj = tf_groute(im, b, b->objs[i]);
		if (rj)
			json_array_append_new(routes, rj);
	}
	json_object_set_new(j, "routes", routes);
	return j;
}

static json_t *tf_mesh(mp_import *im, am_build *b, uint32_t k)
{
	am_object *o = &appmesh_of(im)->objs[k];
	idoc *dc = &im->docs[o->doc];
	yaml_node_t *eg = B(dc, dc->spec, "spec", "egress_filter");
	const char *type = sval(dc, eg, "type");
	json_t *j = base(im, b, o);
	json_object_set_new(j, "egress", json_string(type ? type : "DROP_ALL"));
	json_object_set_new(j, "egressAt", mp_appmesh_at(im, b, dc, eg ? eg : dc->root));
	json_object_set_new(j, "namespaces", json_array());
	return j;
}

void mp_appmesh_tf_put(mp_import *im, am_build *b, uint32_t k)
{
	am_object *o = &appmesh_of(im)->objs[k];
	json_t *rec = b->record, *j = NULL;
	const char *list = NULL;
	switch (o->kind) {
	case AM_K_MESH:
		json_object_set_new(rec, "mesh", tf_mesh(im, b, k));
		return;
	case AM_K_VIRTUALNODE:
		list = "nodes";
		j = tf_node(im, b, k);
		break;
	case AM_K_VIRTUALSERVICE:
		list = "services";
		j = tf_service(im, b, k);
		break;
	case AM_K_VIRTUALROUTER:
		list = "routers";
		j = tf_router(im, b, k);
		break;
	case AM_K_VIRTUALGATEWAY:
		list = "gateways";
		j = tf_gateway(im, b, k);
		break;
	default: /* routes go with their router, gateway routes with their gateway */
		return;
	}
	if (j)
		json_array_append_new(json_object_get(rec, list), j);
}
