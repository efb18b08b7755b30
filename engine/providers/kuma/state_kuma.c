/* state_kuma.c: the model's Kuma resources compiled for decisions, as Kuma's control plane
 * builds each inbound's RBAC (kumahq/kuma pkg/plugins/policies/meshtrafficpermission
 * plugin/v1alpha1/plugin.go): the meshes and their mTLS, the MeshTrafficPermissions (both
 * forms), MeshTLS policies and legacy TrafficPermissions, and for each dataplane inbound of a
 * KumaDataplane record the permissions that select it in Kuma's order, the TrafficPermission
 * Kuma would pick, and how it treats plaintext. Deciding: decide_kuma.c. Semantics:
 * docs/import.md ("Kuma"). */
#include "alloc.h"
#include "kuma_int.h"
#include "kuma_state.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
	mp_kmauthz *a;
	char *err;
	size_t errlen;
} cctx;

static int fail(cctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(cctx *c, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(c->err, c->errlen, fmt, ap);
	va_end(ap);
	return -1;
}

static const char *astr(cctx *c, const char *s)
{
	return s ? mp_arena_str(&c->a->ar, s) : NULL;
}

/* JSON the state keeps: held until the state is freed. */
static json_t *hold(cctx *c, json_t *j)
{
	if (j && json_array_append_new(c->a->held, j) < 0)
		return NULL;
	return j;
}

static const char *title_of(cctx *c, const mp_resource *r)
{
	const mp_model *m = c->a->m;
	if (r->ns)
		return mp_arena_printf(&c->a->ar, "%s %s/%s", mp_model_str(m, r->kind),
		                       mp_model_str(m, r->ns), mp_model_str(m, r->name));
	return mp_arena_printf(&c->a->ar, "%s %s", mp_model_str(m, r->kind),
	                       mp_model_str(m, r->name));
}

/* "file:line" of a line of the resource's file ("" for a record of no file). */
static const char *source_at(cctx *c, mp_str file, uint32_t line)
{
	char buf[600];
	if (!file && !line)
		return "";
	mp_loc l = {file, line, 1};
	return astr(c, mp_model_loc_str(c->a->m, l, buf, sizeof(buf)));
}

/* The resource's aux (import_kuma.c): its labels as string-id pairs, then the lines its
 * reasons cite. */
typedef struct {
	json_t *labels;
	const uint32_t *lines;
	uint32_t nlines, next;
} aux_t;

static int read_aux(cctx *c, const mp_resource *r, const char *title, aux_t *out)
{
	const mp_model *m = c->a->m;
	mp_model_view v = mp_model_get_view(m);
	const uint32_t *u = v.u32 + r->aux.off;
	uint32_t n = r->aux.n, ns = mp_model_nstrings(m);
	memset(out, 0, sizeof(*out));
	if (!(out->labels = hold(c, json_object())))
		return fail(c, "out of memory");
	if (!n)
		return 0;
	if (u[0] > (n - 1) / 2)
		return fail(c, "%s: its labels run past its data", title);
	for (uint32_t i = 0; i < u[0]; i++) {
		uint32_t k = u[1 + 2 * i], val = u[2 + 2 * i];
		if (k >= ns || val >= ns)
			return fail(c, "%s: a label that is not a string of the model", title);
		if (json_object_set_new(out->labels, mp_model_str(m, k),
		                        json_string(mp_model_str(m, val))) < 0)
			return fail(c, "out of memory");
	}
	uint32_t at = 1 + 2 * u[0];
	if (at < n && u[at] <= n - at - 1) {
		out->nlines = u[at];
		out->lines = u + at + 1;
	}
	return 0;
}

static const char *next_source(cctx *c, const mp_resource *r, aux_t *x)
{
	uint32_t line = x->next < x->nlines ? x->lines[x->next] : r->loc.line;
	x->next++;
	return source_at(c, r->loc.file, line);
}

/* --- meshes --- */

static int add_mesh(cctx *c, const mp_resource *r, json_t *spec, aux_t *x)
{
	mp_kmauthz *a = c->a;
	const mp_model *m = a->m;
	for (uint32_t i = 0; i < a->nmeshes; i++)
		if (!strcmp(a->meshes[i].name, mp_model_str(m, r->name)))
			return 0; /* the first one is Kuma's */
	ks_mesh *mesh = &a->meshes[a->nmeshes++];
	json_t *mtls = json_object_get(spec, "mtls"), *b;
	const char *enabled = json_string_value(json_object_get(mtls, "enabledBackend"));
	size_t i;
	mesh->name = astr(c, mp_model_str(m, r->name));
	mesh->title = title_of(c, r);
	mesh->version = astr(c, mp_model_str(m, r->version));
	mesh->source = next_source(c, r, x);
	if (a->ar.oom) { /* later meshes compare its name */
		a->nmeshes--;
		return fail(c, "out of memory");
	}
	mesh->mtls = enabled && *enabled;
	json_array_foreach(json_object_get(mtls, "backends"), i, b)
	{
		const char *name = json_string_value(json_object_get(b, "name"));
		const char *mode = json_string_value(json_object_get(b, "mode"));
		if (mesh->mtls && name && !strcmp(name, enabled))
			mesh->permissive = mode && !strcmp(mode, "PERMISSIVE");
	}
	return 0;
}

/* --- policies --- */

static const char *const acts[] = {"deny", "allow", "allowWithShadowDeny"};

static int add_mtp(cctx *c, const mp_resource *r, ks_policy *p, json_t *spec, aux_t *x)
{
	json_t *from = json_object_get(spec, "from"), *rules = json_object_get(spec, "rules"), *e;
	size_t i, n = json_array_size(from), nm = 0, k;
	json_t *rule;
	p->from = mp_arena_alloc(&c->a->ar, (n ? n : 1) * sizeof(*p->from));
	json_array_foreach(rules, i, rule)
	{
		for (size_t a = 0; a < 3; a++)
			nm += json_array_size(
			    json_object_get(json_object_get(rule, "default"), acts[a]));
	}
	p->m = mp_arena_alloc(&c->a->ar, (nm ? nm : 1) * sizeof(*p->m));
	if (!p->from || !p->m)
		return fail(c, "out of memory");
	json_array_foreach(from, i, e)
	{
		const char *act =
		    json_string_value(json_object_get(json_object_get(e, "default"), "action"));
		ks_from *f = &p->from[p->nfrom++];
		f->ref = json_object_get(e, "targetRef");
		f->action = !act || !strcmp(act, "Deny") ? KS_DENY
		            : !strcmp(act, "Allow")      ? KS_ALLOW
		                                         : KS_SHADOW;
		f->rule = mp_arena_printf(&c->a->ar, "from[%zu]", i);
		f->source = next_source(c, r, x);
	}
	p->rules = rules != NULL;
	json_array_foreach(rules, i, rule)
	{
		next_source(c, r, x); /* rules[i] itself */
		for (uint32_t a = 0; a < 3; a++) {
			json_t *ms = json_object_get(json_object_get(rule, "default"), acts[a]),
			       *mm;
			json_array_foreach(ms, k, mm)
			{
				json_t *sid = json_object_get(mm, "spiffeID");
				ks_matcher *t = &p->m[p->nm++];
				if (!sid)
					sid = json_object_get(mm, "spiffeId");
				t->action = a == 0 ? KS_DENY : a == 1 ? KS_ALLOW : KS_SHADOW;
				t->prefix =
				    !strcmp(json_string_value(json_object_get(sid, "type"))
				                ? json_string_value(json_object_get(sid, "type"))
				                : "",
				            "Prefix");
				t->value = json_string_value(json_object_get(sid, "value"));
				t->rule =
				    mp_arena_printf(&c->a->ar, "rules[%zu].%s[%zu]", i, acts[a], k);
				t->source = next_source(c, r, x);
			}
		}
	}
	return c->a->ar.oom ? fail(c, "out of memory") : 0;
}

static int add_meshtls(cctx *c, const mp_resource *r, ks_policy *p, json_t *spec, aux_t *x)
{
	json_t *lists[2] = {json_object_get(spec, "from"), json_object_get(spec, "rules")}, *e;
	size_t i;
	for (int l = 0; l < 2; l++)
		json_array_foreach(lists[l], i, e)
		{
			const char *src = next_source(c, r, x);
			const char *mode = json_string_value(
			    json_object_get(json_object_get(e, "default"), "mode"));
			const char *kind = json_string_value(
			    json_object_get(json_object_get(e, "targetRef"), "kind"));
			if (!mode || (l == 0 && kind && strcmp(kind, "Mesh")))
				continue; /* 2.9's from[]: only an entry for every client sets the
				             mode */
			p->tls_mode = strcmp(mode, "Permissive") ? 1 : 2;
			p->tls_rule =
			    mp_arena_printf(&c->a->ar, "%s[%zu]", l ? "rules" : "from", i);
			p->tls_source = src;
		}
	return c->a->ar.oom ? fail(c, "out of memory") : 0;
}

static int add_tp(cctx *c, const mp_resource *r, ks_policy *p, json_t *spec, aux_t *x)
{
	size_t n;
	p->sources = json_object_get(spec, "sources");
	p->dests = json_object_get(spec, "destinations");
	n = json_array_size(p->sources);
	p->src_rule = mp_arena_alloc(&c->a->ar, (n ? n : 1) * sizeof(*p->src_rule));
	p->src_source = mp_arena_alloc(&c->a->ar, (n ? n : 1) * sizeof(*p->src_source));
	if (!p->src_rule || !p->src_source)
		return fail(c, "out of memory");
	for (size_t i = 0; i < n; i++) {
		p->src_rule[i] = mp_arena_printf(&c->a->ar, "sources[%zu]", i);
		p->src_source[i] = next_source(c, r, x);
	}
	return c->a->ar.oom ? fail(c, "out of memory") : 0;
}

static int add_policy(cctx *c, const mp_resource *r, uint32_t kind, json_t *spec, aux_t *x,
                      const char *title)
{
	mp_kmauthz *a = c->a;
	ks_policy *p = &a->pol[a->npol];
	memset(p, 0, sizeof(*p));
	p->kind = kind;
	p->p = (km_policy){x->labels, json_object_get(spec, "targetRef"), a->npol};
	p->title = title;
	p->version = astr(c, mp_model_str(a->m, r->version));
	p->source = source_at(c, r->loc.file, r->loc.line);
	p->mesh =
	    km_label(x->labels, KM_LABEL_MESH) ? km_label(x->labels, KM_LABEL_MESH) : "default";
	int rc = kind == KS_MTP       ? add_mtp(c, r, p, spec, x)
	         : kind == KS_MESHTLS ? add_meshtls(c, r, p, spec, x)
	                              : add_tp(c, r, p, spec, x);
	if (rc == 0)
		a->npol++;
	return rc;
}

/* --- dataplanes --- */

static const ks_mesh *mesh_named(const mp_kmauthz *a, const char *name)
{
	for (uint32_t i = 0; i < a->nmeshes; i++)
		if (!strcmp(a->meshes[i].name, name))
			return &a->meshes[i];
	return NULL;
}

static int cmp_policy(const mp_kmauthz *a, uint32_t i, uint32_t j)
{
	return km_policy_cmp(&a->pol[i].p, &a->pol[j].p);
}

/* The inbound's mode for plaintext: strict with a workload identity or a strict mesh, then
 * the MeshTLS policies that select it (the last one with a mode wins). */
static void inbound_mode(cctx *c, ks_dp *dp, ks_in *in)
{
	const mp_kmauthz *a = c->a;
	const ks_policy *best = NULL;
	if (dp->identity)
		in->mode = (ks_mode){1, dp->id_title, "", "mtls-required", dp->id_source};
	else if (dp->mesh)
		in->mode = (ks_mode){!dp->mesh->permissive, dp->mesh->title, dp->mesh->version,
		                     dp->mesh->permissive ? "mtls:PERMISSIVE" : "mtls-required",
		                     dp->mesh->source};
	for (uint32_t i = 0; i < a->npol; i++) {
		const ks_policy *p = &a->pol[i];
		if (p->kind != KS_MESHTLS || !p->tls_mode || km_shadow(&p->p) ||
		    !km_selects(&p->p, &dp->d, &in->k))
			continue;
		if (!best || km_policy_cmp(&best->p, &p->p) < 0)
			best = p;
	}
	if (best)
		in->mode = (ks_mode){best->tls_mode == 1, best->title, best->version,
		                     best->tls_rule, best->tls_source};
}

/* The permissions that select the inbound, in Kuma's order (SortByTargetRef), and the one
 * TrafficPermission Kuma picks for it (connection_matcher.go: the best rank; a tie goes to the
 * later, as the later-created wins). */
static int inbound_policies(cctx *c, ks_dp *dp, ks_in *in)
{
	mp_kmauthz *a = c->a;
	long best = -1;
	in->tp = UINT32_MAX;
	in->mtp = mp_arena_alloc(&a->ar, (a->npol ? a->npol : 1) * sizeof(*in->mtp));
	if (!in->mtp)
		return fail(c, "out of memory");
	for (uint32_t i = 0; i < a->npol; i++) {
		ks_policy *p = &a->pol[i];
		if (p->kind == KS_MTP && !km_shadow(&p->p) && km_selects(&p->p, &dp->d, &in->k)) {
			uint32_t k = in->nmtp++;
			while (k > 0 && cmp_policy(a, in->mtp[k - 1], i) > 0) {
				in->mtp[k] = in->mtp[k - 1];
				k--;
			}
			in->mtp[k] = i;
		}
		if (p->kind != KS_TP || strcmp(p->mesh, dp->mesh_name))
			continue;
		json_t *d;
		size_t j;
		json_array_foreach(p->dests, j, d)
		{
			long rank = km_selector_rank(json_object_get(d, "match"), in->k.tags);
			if (rank >= 0 && rank >= best)
				best = rank, in->tp = i;
		}
	}
	return 0;
}

static int add_dataplane(cctx *c, const mp_resource *r, json_t *spec)
{
	mp_kmauthz *a = c->a;
	const mp_model *m = a->m;
	mp_model_view v = mp_model_get_view(m);
	const uint32_t *aux = v.u32 + r->aux.off;
	const char *title = title_of(c, r);
	ks_dp *dp = &a->dps[a->ndps];
	json_t *ins = json_object_get(spec, "inbounds"), *in;
	size_t i;
	memset(dp, 0, sizeof(*dp));
	if (r->aux.n < 3 || aux[0] >= v.nworkloads || aux[1] >= mp_model_nstrings(m))
		return fail(c, "%s: its workload is not one of the model", title);
	dp->workload = aux[0];
	dp->mesh_name = astr(c, json_string_value(json_object_get(spec, "mesh"))
	                            ? json_string_value(json_object_get(spec, "mesh"))
	                            : "default");
	if (!dp->mesh_name)
		return fail(c, "out of memory");
	dp->mesh = mesh_named(a, dp->mesh_name);
	dp->title = mp_arena_printf(&a->ar, "Dataplane %s%s%s", r->ns ? mp_model_str(m, r->ns) : "",
	                            r->ns ? "/" : "", mp_model_str(m, r->name));
	dp->source = source_at(c, r->loc.file, r->loc.line);
	dp->d.labels = json_object_get(spec, "labels");
	dp->d.name = astr(c, mp_model_str(m, r->name));
	if (!json_is_object(dp->d.labels))
		return fail(c, "%s: its labels are not an object", title);
	if ((dp->identity = json_object_get(spec, "identitySource") != NULL)) {
		dp->id_title = astr(c, json_string_value(json_object_get(spec, "identitySource")));
		dp->id_source = source_at(c, aux[1], aux[2]);
	}
	dp->in = mp_arena_alloc(&a->ar, (json_array_size(ins) + 1) * sizeof(*dp->in));
	if (!dp->in || a->ar.oom)
		return fail(c, "out of memory");
	json_array_foreach(ins, i, in)
	{
		ks_in *x = &dp->in[dp->nin++];
		const char *svc = json_string_value(json_object_get(in, "service"));
		const char *slash = svc ? strchr(svc, '/') : NULL;
		const char *sp;
		char ns[256];
		x->k.port = (uint32_t)json_integer_value(json_object_get(in, "port"));
		x->k.name = astr(c, json_string_value(json_object_get(in, "name")));
		x->k.tags = json_object_get(in, "tags");
		if (!json_is_object(x->k.tags))
			return fail(c, "%s: inbound %zu has no tags", title, i);
		snprintf(ns, sizeof(ns), "%.*s", slash ? (int)(slash - svc) : 0, svc ? svc : "");
		x->svc = slash ? mp_model_find_service_ns(m, ns, slash + 1) : MP_NONE;
		if ((sp = km_label(x->k.tags, "k8s.kuma.io/service-port")))
			x->service_port = (uint32_t)strtoul(sp, NULL, 10);
		inbound_mode(c, dp, x);
		if (inbound_policies(c, dp, x) < 0)
			return -1;
		const char *tag = km_label(x->k.tags, KM_TAG_SERVICE);
		if (tag) {
			if (mp_grow((void **)&a->clients, &a->cap_clients, sizeof(*a->clients),
			            a->nclients, 16) < 0)
				return fail(c, "out of memory");
			a->clients[a->nclients++] = (ks_client){dp->mesh_name, tag, x->k.tags};
		}
	}
	if (dp->workload < v.nworkloads)
		a->dp_of[dp->workload] = a->ndps;
	a->ndps++;
	return a->ar.oom ? fail(c, "out of memory") : 0;
}

/* --- the whole --- */

static int kind_is(const mp_model *m, const mp_resource *r, const char *kind)
{
	return !strcmp(mp_model_str(m, r->kind), kind);
}

/* A dataplane's record (KumaDataplane), which no kind row names. */
static int dp_record(const mp_model *m, const mp_resource *r)
{
	return kind_is(m, r, KM_DATAPLANE_KIND) && !strcmp(mp_model_str(m, r->api), KM_RECORD_API);
}

int mp_kmauthz_present(const mp_model *m)
{
	mp_model_view v = mp_model_get_view(m);
	for (uint32_t i = 0; i < v.nresources; i++)
		if (mp_provider_of(m, &v.resources[i]) == &mp_provider_kuma ||
		    dp_record(m, &v.resources[i]))
			return 1;
	return 0;
}

void mp_kmauthz_free(mp_kmauthz *a)
{
	if (!a)
		return;
	json_decref(a->held);
	mp_free(a->meshes);
	mp_free(a->pol);
	mp_free(a->dps);
	mp_free(a->dp_of);
	mp_free(a->clients);
	mp_arena_free(&a->ar);
	mp_free(a);
}

int mp_kmauthz_compile(const mp_model *m, mp_kmauthz **out, char *err, size_t errlen)
{
	mp_model_view v = mp_model_get_view(m);
	uint32_t n = 0, nrec = 0;
	*out = NULL;
	for (uint32_t i = 0; i < v.nresources; i++) {
		const mp_resource *r = &v.resources[i];
		n += mp_provider_of(m, r) == &mp_provider_kuma;
		nrec += dp_record(m, r);
	}
	if (!n && !nrec)
		return 0;
	mp_kmauthz *a = mp_calloc(1, sizeof(*a));
	cctx c = {a, err, errlen};
	if (!a || !(a->held = json_array()))
		goto oom;
	a->m = m;
	a->meshes = mp_calloc(n + 1, sizeof(*a->meshes));
	a->pol = mp_calloc(n + 1, sizeof(*a->pol));
	a->dps = mp_calloc(nrec + 1, sizeof(*a->dps));
	a->dp_of = mp_calloc(v.nworkloads + 1, sizeof(*a->dp_of));
	if (!a->meshes || !a->pol || !a->dps || !a->dp_of)
		goto oom;
	for (uint32_t w = 0; w < v.nworkloads; w++)
		a->dp_of[w] = UINT32_MAX;
	for (int pass = 0; pass < 3; pass++) /* meshes, then policies, then dataplanes */
		for (uint32_t i = 0; i < v.nresources; i++) {
			const mp_resource *r = &v.resources[i];
			int rec = dp_record(m, r);
			int mesh = kind_is(m, r, "Mesh");
			int pol = kind_is(m, r, "MeshTrafficPermission") ||
			          kind_is(m, r, "MeshTLS") || kind_is(m, r, "TrafficPermission");
			if ((!rec && mp_provider_of(m, r) != &mp_provider_kuma) ||
			    (pass == 0 && !mesh) || (pass == 1 && !pol) || (pass == 2 && !rec))
				continue;
			const char *title = title_of(&c, r);
			json_error_t je;
			json_t *spec = hold(&c, json_loads(mp_model_str(m, r->spec), 0, &je));
			aux_t x;
			if (!spec || !json_is_object(spec)) {
				fail(&c, "%s: its stored spec is not a JSON object",
				     title ? title : "?");
				goto fail;
			}
			if (pass == 2) {
				if (add_dataplane(&c, r, spec) < 0)
					goto fail;
				continue;
			}
			if (read_aux(&c, r, title, &x) < 0)
				goto fail;
			if (mesh && add_mesh(&c, r, spec, &x) < 0)
				goto fail;
			if (pol && add_policy(&c, r,
			                      kind_is(m, r, "MeshTrafficPermission") ? KS_MTP
			                      : kind_is(m, r, "MeshTLS")             ? KS_MESHTLS
			                                                             : KS_TP,
			                      spec, &x, title) < 0)
				goto fail;
		}
	if (a->ar.oom)
		goto oom;
	*out = a;
	return 0;
oom:
	fail(&c, "out of memory");
fail:
	mp_kmauthz_free(a);
	return -1;
}
