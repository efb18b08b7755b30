/* test_appmesh.c: engine/providers/appmesh/, App Mesh's provider. The semantics table is data:
 * tests/data/import/appmesh/cases.json (scenario files + request + expected effect and the
 * resource and rule that decide, each citing App Mesh's docs or source), one cmocka test per
 * case (the runner: casetable.h). Then the corpus (../shared/corpus/appmesh) with pinned counts,
 * the three forms of one mesh giving the same facts, the analyzers' findings, malformed input,
 * the option, a crafted model and allocation failures. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "alloc.h"
#include "casetable.h"
#include "export.h"
#include "providers/appmesh/appmesh_state.h"
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DIR "tests/data/import/appmesh"

static mp_model *compile_files(const char *const *files, size_t n, const mp_compile_opts *o,
                               mp_diags *d)
{
	char bufs[8][256];
	const char *paths[8];
	for (size_t i = 0; i < n && i < 8; i++) {
		snprintf(bufs[i], sizeof(bufs[i]), "%s/%s", DIR, files[i]);
		paths[i] = bufs[i];
	}
	return compile_paths(paths, n, o, d);
}

/* --- the corpus: three of AWS's examples --- */

static void test_corpus(void **state)
{
	(void)state;
	mp_diags d = {0};
	mp_model *m = compile_corpus("appmesh", &d);
	assert_non_null(m);
	mp_model_view v = mp_model_get_view(m);
	mp_amstate *s = NULL;
	char err[256];
	assert_int_equal(mp_amstate_compile(m, &s, err, sizeof(err)), 0);
	assert_non_null(s);
	uint32_t nodes = 0, vss = 0, routers = 0, gws = 0, groutes = 0;
	for (uint32_t i = 0; i < s->nmeshes; i++) {
		nodes += s->meshes[i].nnodes;
		vss += s->meshes[i].nservices;
		routers += s->meshes[i].nrouters;
		gws += s->meshes[i].ngateways;
		for (uint32_t g = 0; g < s->meshes[i].ngateways; g++)
			groutes += s->meshes[i].gateways[g].nroutes;
	}
	/* 28 App Mesh documents: yelb's appserver file is replaced by yelb-base's three (kubectl
	 * apply order: files sorted by path) */
	const pin pins[] = {
	    {"clusters", v.nclusters, 1},
	    {"namespaces", v.nnamespaces, 3},
	    {"services", v.nservices, 10},
	    {"workloads", v.nworkloads, 6},
	    {"routes", v.nroutes, 7},
	    {"externals", v.nexternals, 0},
	    {"meshes", s->nmeshes, 3},
	    {"Mesh", count_kind(m, "Mesh"), 3},
	    {"VirtualNode", count_kind(m, "VirtualNode"), 8},
	    {"VirtualService", count_kind(m, "VirtualService"), 7},
	    {"VirtualRouter", count_kind(m, "VirtualRouter"), 4},
	    {"VirtualGateway", count_kind(m, "VirtualGateway"), 1},
	    {"GatewayRoute", count_kind(m, "GatewayRoute"), 2},
	    {"AppMesh records", count_kind(m, AM_RECORD_KIND), 3},
	    {"resources", v.nresources, 28},
	    {"nodes", nodes, 8},
	    {"virtual services", vss, 7},
	    {"routers", routers, 4},
	    {"gateways", gws, 1},
	    {"gateway routes", groutes, 2},
	    {"findings", v.nfindings, 3},
	    {"AppMeshNodeSelectsNoPod", count_findings(m, "AppMeshNodeSelectsNoPod"), 3},
	    {"replaced", count_notes(&d, "replaces the one at"), 3},
	    {"skipped", count_notes(&d, "skipped"), 0},
	    {"errors", d.errors, 0},
	};
	assert_int_equal(pins_missed("corpus", pins, sizeof(pins) / sizeof(pins[0])), 0);
	/* every mesh of the corpus leaves egressFilter unset: DROP_ALL */
	for (uint32_t i = 0; i < s->nmeshes; i++)
		assert_int_equal(s->meshes[i].egress, AM_DROP_ALL);
	mp_amstate_free(s);
	mp_model_free(m);
	mp_diags_free(&d);
}

/* --- one mesh, three forms: the CRDs, a Terraform state, a Terraform plan --- */

static void dump_validation(FILE *f, const am_validation *v)
{
	fprintf(f, " validation=%d[", v->set);
	for (uint32_t i = 0; i < v->nsans; i++)
		fprintf(f, "%s,", v->sans[i]);
	fprintf(f, "]");
}

static void dump_client(FILE *f, const am_client_tls *p)
{
	fprintf(f, " client=%d enforce=%d cert=%s ports=%u", p->set, p->enforce,
	        p->cert ? p->cert : "-", p->nports);
	dump_validation(f, &p->validation);
}

static void dump_listeners(FILE *f, const am_listener *l, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++) {
		fprintf(f, "  listener %u %s tls=%s cert=%s", l[i].port, l[i].protocol,
		        mp_am_tls_modes[l[i].tls], l[i].cert ? l[i].cert : "-");
		dump_validation(f, &l[i].validation);
		fprintf(f, "\n");
	}
}

/* The index of the k-th of n objects (stride bytes apart, an am_obj first) by name: the
 * forms list them in their own orders. */
static uint32_t by_name(const void *objs, size_t stride, uint32_t n, uint32_t k)
{
	uint32_t rank[64];
	for (uint32_t i = 0; i < n && i < 64; i++) {
		const am_obj *a = (const am_obj *)((const char *)objs + i * stride);
		rank[i] = 0;
		for (uint32_t j = 0; j < n; j++) {
			const am_obj *b = (const am_obj *)((const char *)objs + j * stride);
			rank[i] += strcmp(b->name, a->name) < 0;
		}
		if (rank[i] == k)
			return i;
	}
	return 0;
}
#define BY_NAME(arr, n, k) by_name(&(arr)[0], sizeof((arr)[0]), n, k)

/* The facts App Mesh decides by, without the names of the form (titles, places, rules). */
static char *facts(const mp_model *m)
{
	mp_amstate *s = NULL;
	char err[256], *buf = NULL;
	size_t len = 0;
	if (mp_amstate_compile(m, &s, err, sizeof(err)) < 0 || !s)
		return NULL;
	FILE *f = open_memstream(&buf, &len);
	mp_model_view v = mp_model_get_view(m);
	for (uint32_t i = 0; i < s->nmeshes; i++) {
		const am_mesh *me = &s->meshes[i];
		fprintf(f, "mesh %s egress=%u\n", me->o.name, me->egress);
		for (uint32_t k = 0; k < me->nnodes; k++) {
			const am_node *n = &me->nodes[BY_NAME(me->nodes, me->nnodes, k)];
			fprintf(f, " node %s host=%s ids=%u", n->o.name,
			        n->hostname ? n->hostname : "-", n->nidentities);
			dump_client(f, &n->defaults);
			fprintf(f, "\n");
			dump_listeners(f, n->listeners, n->nlisteners);
			for (uint32_t b = 0; b < n->nbackends; b++) {
				fprintf(f, "  backend %s", n->backends[b].vs);
				dump_client(f, &n->backends[b].policy);
				fprintf(f, "\n");
			}
		}
		for (uint32_t k = 0; k < me->nservices; k++) {
			const am_vservice *vs =
			    &me->services[BY_NAME(me->services, me->nservices, k)];
			fprintf(f, " service %s provider=%u %s model=%s\n", vs->o.name,
			        vs->provider, vs->target_name,
			        vs->service != MP_NONE
			            ? mp_model_str(m, v.services[vs->service].name)
			            : "-");
		}
		for (uint32_t k = 0; k < me->nrouters; k++) {
			const am_router *r = &me->routers[BY_NAME(me->routers, me->nrouters, k)];
			fprintf(f, " router %s\n", r->o.name);
			dump_listeners(f, r->listeners, r->nlisteners);
			for (uint32_t o = 0; o < r->nroutes; o++) {
				const am_route *rt = &r->routes[r->order[o]];
				fprintf(f,
				        "  route %s prio=%d %s prefix=%s headers=%u retries=%u/%u:",
				        rt->name, rt->priority, mp_am_route_kinds[rt->kind],
				        rt->match.prefix ? rt->match.prefix : "-",
				        rt->match.nheaders, rt->retries, rt->per_try_ms);
				for (uint32_t t = 0; t < rt->ntargets; t++)
					fprintf(f, " %s=%u", rt->targets[t].node_name,
					        rt->targets[t].weight);
				fprintf(f, "\n");
			}
		}
	}
	/* and the model's routes */
	for (uint32_t i = 0; i < v.nroutes; i++) {
		const mp_route *r = &v.routes[i];
		fprintf(f, "model route %s path=%s methods=%u headers=%u retries=%u/%u:",
		        mp_model_str(m, r->name), mp_model_str(m, r->match.path), r->match.methods,
		        r->match.headers.n, r->retry_attempts, r->per_try_timeout_ms);
		for (uint32_t t = 0; t < r->dests.n; t++) {
			const mp_target *tg = &v.targets[r->dests.off + t];
			fprintf(f, " %s/%s=%u", mp_model_str(m, v.services[tg->id].name),
			        mp_model_str(m, tg->subset), tg->weight);
		}
		fprintf(f, "\n");
	}
	fclose(f);
	mp_amstate_free(s);
	return buf;
}

static void test_forms(void **state)
{
	(void)state;
	static const char *const forms[][2] = {
	    {"equiv-k8s.yaml", "equiv-crd.yaml"},
	    {"equiv-k8s.yaml", "equiv-tfstate.json"},
	    {"equiv-k8s.yaml", "equiv-tfplan.json"},
	};
	char *want = NULL;
	for (size_t i = 0; i < 3; i++) {
		mp_diags d = {0};
		mp_model *m = compile_files(forms[i], 2, NULL, &d);
		assert_non_null(m);
		assert_int_equal(d.errors, 0);
		char *got = facts(m);
		assert_non_null(got);
		if (!want) {
			want = got;
			/* what the forms must agree on is there */
			assert_non_null(
			    strstr(want, "route canary prio=0 httpRoute prefix=/ headers=1"));
			assert_non_null(strstr(want,
			                       "route main prio=10 httpRoute prefix=/ headers=0 "
			                       "retries=2/1000: api-v1=90 api-v2=10"));
			assert_non_null(strstr(want,
			                       "model route eq/api:main path= methods=0 headers=0 "
			                       "retries=2/1000: api/api-v1=90 api/api-v2=10"));
		} else {
			if (strcmp(want, got))
				fprintf(stderr, "%s gives\n%s\nthe CRDs\n%s\n", forms[i][1], got,
				        want);
			assert_string_equal(want, got);
			free(got);
		}
		mp_model_free(m);
		mp_diags_free(&d);
	}
	free(want);
}

/* A plan's deleted resource is absent (planned_values), its unknown mesh_name found through
 * the configuration, the other resource types skipped with one note. */
static void test_plan(void **state)
{
	(void)state;
	const char *files[] = {"equiv-k8s.yaml", "equiv-tfplan.json"};
	mp_diags d = {0};
	mp_model *m = compile_files(files, 2, NULL, &d);
	assert_non_null(m);
	char *text = diags_text(&d);
	assert_non_null(strstr(text, "equiv-tfplan.json:1:1: note: skipped 1 Terraform resource "
	                             "that App Mesh's provider does not read (aws_iam_role)"));
	free(text);
	assert_int_equal(count_kind(m, "aws_appmesh_virtual_node"), 4); /* legacy is deleted */
	assert_int_equal(count_kind(m, "aws_appmesh_route"), 2);
	mp_model_free(m);
	mp_diags_free(&d);
}

/* --- the analyzers, one instance of each condition (audit.yaml) --- */

static void test_findings(void **state)
{
	(void)state;
	static const want_finding want[] = {
	    {"AppMeshUnknownField", "VirtualNode lint/etl", 230},
	    {"AppMeshBackendUnknownService", "VirtualNode lint/orphan", 31},
	    {"AppMeshNodeSelectsNoPod", "VirtualNode lint/idle", 37},
	    {"AppMeshListenerNotStrict", "VirtualNode lint/ledger", 59},
	    {"AppMeshListenerNotStrict", "VirtualNode lint/notls", 76},
	    {"AppMeshOpenEgress", "VirtualNode lint/exporter", 21},
	    {"AppMeshSANAdmitsNoIdentity", "VirtualNode lint/vault", 110},
	    {"AppMeshRouteWeights", "VirtualRouter lint/split", 142},
	    {"AppMeshRouteWeights", "VirtualRouter lint/split", 152},
	    {"AppMeshPodRefused", "Deployment lint/stray", 166},
	    {"AppMeshPodRefused", "Deployment lint/dup", 192},
	    {"AppMeshServiceWithoutProvider", "VirtualService lint/limbo", 204},
	    {"AppMeshTCPPortCollision", "VirtualNode lint/etl", 225},
	};
	const char *files[] = {"audit.yaml"};
	mp_diags d = {0};
	mp_model *m = compile_files(files, 1, NULL, &d);
	assert_non_null(m);
	mp_model_view v = mp_model_get_view(m);
	assert_int_equal(v.nfindings, sizeof(want) / sizeof(want[0]));
	assert_int_equal(findings_missing(m, want, sizeof(want) / sizeof(want[0])), 0);
	/* routes.yaml: the two routes an earlier one shadows */
	const char *rf[] = {"routes.yaml"};
	mp_model *r = compile_files(rf, 1, NULL, &d);
	assert_non_null(r);
	assert_int_equal(count_findings(r, "AppMeshShadowedRoute"), 2);
	mp_model_free(r);
	mp_model_free(m);
	mp_diags_free(&d);
}

/* --- malformed known kinds are errors at their field; unknown kinds and fields the
 * controller keeps are notes --- */

#define NS                                                                                         \
	"apiVersion: v1\nkind: Namespace\nmetadata: {name: shop, labels: {mesh: shop}}\n---\n"     \
	"apiVersion: appmesh.k8s.aws/v1beta2\nkind: Mesh\nmetadata: {name: shop}\nspec:\n  "       \
	"namespaceSelector: {matchLabels: {mesh: shop}}\n---\n"
#define AM "apiVersion: appmesh.k8s.aws/v1beta2\n"

static const bad_row bad_rows[] = {
    {"unknown field, nearest name",
     NS AM "kind: Mesh\nmetadata: {name: m2}\nspec:\n  "
           "egresFilter: {type: DROP_ALL}\n",
     "bad.yaml:15:3: Mesh m2: spec: unknown field 'egresFilter' (did you mean 'egressFilter'?)", 1},
    {"unknown enum value",
     NS AM "kind: Mesh\nmetadata: {name: m2}\nspec:\n  egressFilter: "
           "{type: DROP}\n",
     "bad.yaml:15:24: Mesh m2: spec.egressFilter.type: unknown value 'DROP' (expected "
     "ALLOW_ALL or DROP_ALL)",
     1},
    {"a nested field",
     NS AM "kind: VirtualService\nmetadata: {name: s, namespace: shop}\n"
           "spec:\n  provider:\n    virtualNode: {virtualNodeRf: {name: n}}\n",
     "bad.yaml:16:19: VirtualService shop/s: spec.provider.virtualNode: unknown field "
     "'virtualNodeRf' (did you mean 'virtualNodeRef'?)",
     1},
    {"a field the controller keeps",
     NS AM "kind: VirtualNode\nmetadata: {name: n, namespace: "
           "shop}\nspec:\n  backend:\n  - virtualService: "
           "{virtualServiceRef: {name: x}}\n",
     "bad.yaml:15:3: note: VirtualNode shop/n: spec: unknown field 'backend' (did you mean "
     "'backends'?): the controller keeps it and App Mesh never sees it",
     0},
    {"a port out of range",
     NS AM "kind: VirtualNode\nmetadata: {name: n, namespace: shop}\n"
           "spec:\n  listeners:\n  - portMapping: {port: 70000, "
           "protocol: http}\n  serviceDiscovery: {dns: {hostname: n}}\n",
     "bad.yaml:16:25: VirtualNode shop/n: 'port' is 70000, outside 1..65535", 1},
    {"a listener without service discovery",
     NS AM "kind: VirtualNode\nmetadata: {name: n, namespace: shop}\nspec:\n  listeners:\n  - "
           "portMapping: {port: 80, protocol: http}\n",
     "bad.yaml:16:3: VirtualNode shop/n: spec.listeners: ServiceDiscovery must be specified "
     "when a listener is specified",
     1},
    {"duplicate route names",
     NS AM "kind: VirtualRouter\nmetadata: {name: r, namespace: shop}\nspec:\n  routes:\n  - "
           "{name: a, tcpRoute: {action: {weightedTargets: [{virtualNodeRef: {name: n}, "
           "weight: 1}]}}}\n  - {name: a, tcpRoute: {action: {weightedTargets: "
           "[{virtualNodeRef: {name: n}, weight: 1}]}}}\n",
     "bad.yaml:17:5: VirtualRouter shop/r: spec.routes: has duplicate route entries "
     "for 'a'",
     1},
    {"a regular expression RE2 refuses",
     NS AM "kind: VirtualRouter\nmetadata: {name: r, namespace: shop}\nspec:\n  routes:\n  - "
           "name: a\n    httpRoute:\n      match: {path: {regex: \"/a(b\"}}\n      action: "
           "{weightedTargets: [{virtualNodeRef: {name: n}, weight: 1}]}\n",
     "VirtualRouter shop/r: regular expression '/a(b': missing )", 1},
    {"an older version",
     NS AM "kind: VirtualNode\nmetadata: {name: n, namespace: shop}\nspec: "
           "{}\n",
     NULL, 0},
    {"an unknown kind of the group",
     NS "apiVersion: appmesh.k8s.aws/v1beta2\nkind: Sidecar\nmetadata: {name: n, namespace: "
        "shop}\nspec: {}\n",
     "bad.yaml:12:7: note: skipped kind 'Sidecar' (apiVersion appmesh.k8s.aws/v1beta2): "
     "meshpol does not import this kind",
     0},
    {"no mesh selects the namespace",
     AM "kind: VirtualNode\nmetadata: {name: n, namespace: "
        "elsewhere}\nspec: {}\n",
     NULL, 0},
    {"a Terraform format version",
     "{\"format_version\": \"2.0\", \"values\": {\"root_module\": {}}}\n",
     "bad.yaml:1:20: format_version '2.0' of `terraform show -json` is not one meshpol reads "
     "(major version 1)",
     1},
    {"a Terraform plan's unknown mesh",
     "{\"format_version\": \"1.2\", \"planned_values\": {\"root_module\": {\"resources\": "
     "[{\"address\": \"aws_appmesh_virtual_node.w\", \"mode\": \"managed\", \"type\": "
     "\"aws_appmesh_virtual_node\", \"name\": \"w\", \"values\": {\"name\": \"w\", \"spec\": "
     "[]}}]}}}\n",
     "bad.yaml:1:76: aws_appmesh_virtual_node.w: its mesh_name is unknown (a plan's value "
     "computed on apply) and the configuration does not tell it",
     1},
};

static void test_bad_input(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(bad_rows) / sizeof(bad_rows[0]); i++)
		assert_true(bad_row_ok(&bad_rows[i]));
	/* no mesh selects the namespace: the controller refuses the object, a finding */
	const bad_row *b = &bad_rows[10];
	mp_diags d = {0};
	mp_model *m = mp_compile_string("bad.yaml", b->yaml, strlen(b->yaml), &d);
	assert_int_equal(count_findings(m, "AppMeshNoMesh"), 1);
	mp_model_free(m);
	mp_diags_free(&d);
}

/* --- the option: ALLOW_ALL for a node that declares backends --- */

static uint32_t effect_of(mp_model *m, const char *input)
{
	json_t *in = json_loads(input, 0, NULL);
	mp_request r;
	mp_header h[MP_REQUEST_MAX_HEADERS];
	char err[256];
	mp_decision d;
	mp_engine *e = mp_engine_new(m, NULL);
	assert_non_null(e);
	assert_int_equal(mp_request_from_json(in, &r, h, err, sizeof(err)), 0);
	assert_int_equal(decide_once(e, &r, &d), 0);
	mp_engine_release(e);
	json_decref(in);
	return d.effect;
}

static void test_option(void **state)
{
	(void)state;
	const char *files[] = {"open.yaml"},
	           *in = "{\"source\": {\"service\": \"open/declared\"}, "
	                 "\"destination\": {\"service\": \"api.example.com\", "
	                 "\"port\": 443, \"external\": true}}";
	mp_diags d = {0};
	mp_model *m = compile_files(files, 1, NULL, &d);
	assert_non_null(m);
	assert_int_equal(effect_of(m, in), MP_EFFECT_NOT_PERMITTED); /* the API reference */
	const mp_provider_setting allow[] = {{"appmesh", "allow-all-with-backends", "allow"}};
	mp_compile_opts o = {.provider_opts = allow, .nprovider_opts = 1};
	assert_non_null(m = compile_files(files, 1, &o, &d));
	assert_int_equal(effect_of(m, in), MP_EFFECT_ALLOWED); /* the user guide */
	mp_diags_free(&d);
}

/* --- the export to Istio: meshpol decides both alike --- */

static void test_export(void **state)
{
	(void)state;
	static const char *const sets[][2] = {
	    {"shop.yaml", NULL},
	    {"open.yaml", NULL},
	    {"tls.yaml", NULL},
	    {"routes.yaml", NULL},
	    {"gateway.yaml", NULL},
	    {"equiv-k8s.yaml", "equiv-crd.yaml"},
	    {"equiv-k8s.yaml", "equiv-tfstate.json"},
	};
	for (size_t i = 0; i < sizeof(sets) / sizeof(sets[0]); i++) {
		char a[256], b[256];
		const char *paths[2] = {a, b};
		snprintf(a, sizeof(a), "%s/%s", DIR, sets[i][0]);
		snprintf(b, sizeof(b), "%s/%s", DIR, sets[i][1] ? sets[i][1] : "");
		mp_diags d = {0};
		json_t *report = NULL;
		FILE *out = tmpfile();
		int rc = mp_export(paths, sets[i][1] ? 2 : 1, NULL, "istio", out, &report, &d);
		fclose(out);
		json_t *check = json_object_get(report, "check");
		if (rc != 0)
			fprintf(stderr, "%s: rc %d, %zu differ\n", sets[i][0], rc,
			        json_array_size(json_object_get(check, "differ")));
		assert_int_equal(rc, 0);
		assert_true(json_integer_value(json_object_get(check, "requests")) > 0);
		assert_int_equal(json_integer_value(json_object_get(check, "same")),
		                 json_integer_value(json_object_get(check, "requests")));
		json_decref(report);
		mp_diags_free(&d);
	}
	/* the corpus */
	char root[1024];
	const char *c = shared_corpus("appmesh", root, sizeof(root));
	mp_diags d = {0};
	json_t *report = NULL;
	FILE *out = tmpfile();
	assert_int_equal(mp_export(&c, 1, NULL, "istio", out, &report, &d), 0);
	fclose(out);
	json_decref(report);
	mp_diags_free(&d);
	/* another target; sources of no App Mesh */
	const char *shop = DIR "/shop.yaml", *other = "tests/data/import/mesh";
	const struct {
		const char **src;
		const char *target, *message;
	} bad[] = {
	    {&shop, "consul", "unknown target 'consul'"},
	    {&other, "istio", "the sources configure no mesh meshpol exports from"},
	};
	for (size_t i = 0; i < 2; i++) {
		mp_diags bd = {0};
		out = tmpfile();
		assert_int_equal(mp_export(bad[i].src, 1, NULL, bad[i].target, out, &report, &bd),
		                 -1);
		assert_null(report);
		fclose(out);
		char *text = diags_text(&bd);
		assert_non_null(strstr(text, bad[i].message));
		free(text);
		mp_diags_free(&bd);
	}
}

/* --- a model whose record was made by hand is refused when a snapshot loads it --- */

static void test_crafted(void **state)
{
	(void)state;
	const char *files[] = {"shop.yaml"};
	mp_diags d = {0};
	mp_model *m = compile_files(files, 1, NULL, &d);
	assert_non_null(m);
	mp_diags_free(&d);
	const char *spec = "{\"name\": \"x\", \"mesh\": {\"name\": \"x\"}, \"nodes\": [{\"name\": "
	                   "\"n\", \"pods\": [[99999, true, \"default\"]]}]}";
	mp_resource r = {.kind = mp_model_intern(m, AM_RECORD_KIND, strlen(AM_RECORD_KIND)),
	                 .api = mp_model_intern(m, AM_RECORD_API, strlen(AM_RECORD_API)),
	                 .name = mp_model_intern(m, "x", 1),
	                 .spec = mp_model_intern(m, spec, strlen(spec)),
	                 .cluster = MP_NONE};
	assert_int_not_equal(mp_model_add_resource(m, &r), MP_NONE);
	assert_int_equal(mp_model_finish(m), 0);
	mp_amstate *s = NULL;
	char err[512];
	assert_int_equal(mp_amstate_compile(m, &s, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "AppMesh record x: a workload that is not the model's"));
	assert_null(mp_engine_new(m, NULL)); /* frees m */
}

/* Every allocation of an App Mesh import and of its state failing in turn: NULL and an error,
 * never a crash or (under make check) a leak. */
static void test_allocation_failures(void **state)
{
	(void)state;
	const char *src[] = {DIR "/tls.yaml", DIR "/gateway.yaml", DIR "/audit.yaml",
	                     DIR "/equiv-k8s.yaml", DIR "/equiv-tfplan.json"};
	assert_true(allocation_failures_ok(src, sizeof(src) / sizeof(src[0])));
}

int main(void)
{
	static const struct CMUnitTest more[] = {
	    cmocka_unit_test(test_corpus),
	    cmocka_unit_test(test_forms),
	    cmocka_unit_test(test_plan),
	    cmocka_unit_test(test_findings),
	    cmocka_unit_test(test_bad_input),
	    cmocka_unit_test(test_option),
	    cmocka_unit_test(test_export),
	    cmocka_unit_test(test_crafted),
	    cmocka_unit_test(test_allocation_failures),
	};
	return casetable_main("appmesh", DIR, more, sizeof(more) / sizeof(more[0]));
}
