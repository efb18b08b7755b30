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
	char root[1024];
	const char *c = shared_corpus("appmesh", root, sizeof(root));
	assert_non_null(c);
	mp_diags d = {0};
	mp_model *m = compile_paths(&c, 1, NULL, &d);
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
	const struct {
		const char *what;
		uint32_t got, want;
	} pins[] = {
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
	for (size_t i = 0; i < sizeof(pins) / sizeof(pins[0]); i++) {
		if (pins[i].got != pins[i].want)
			fprintf(stderr, "corpus: %s is %u, pinned %u\n", pins[i].what, pins[i].got,
			        pins[i].want);
		assert_int_equal(pins[i].got, pins[i].want);
	}
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
	static const struct {
		const char *code, *subject;
		uint32_t line;
	} want[] = {
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
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		uint32_t k;
		for (k = 0; k < v.nfindings; k++) {
			const mp_import_finding *f = &v.findings[k];
			if (!strcmp(mp_model_str(m, f->code), want[i].code) &&
			    !strcmp(mp_model_str(m, f->subject), want[i].subject) &&
			    f->loc.line == want[i].line)
				break;
		}
		if (k == v.nfindings)
			fprintf(stderr, "no finding %s of %s at line %u\n", want[i].code,
			        want[i].subject, want[i].line);
		assert_true(k < v.nfindings);
	}
	/* routes.yaml: the two routes an earlier one shadows */
	const char *rf[] = {"routes.yaml"};
	mp_model *r = compile_files(rf, 1, NULL, &d);
	assert_non_null(r);
	assert_int_equal(count_findings(r, "AppMeshShadowedRoute"), 2);
	mp_model_free(r);
	mp_model_free(m);
	mp_diags_free(&d);
}

int main(void)
{
	static const struct CMUnitTest more[] = {
	    cmocka_unit_test(test_corpus),
	    cmocka_unit_test(test_forms),
	    cmocka_unit_test(test_plan),
	    cmocka_unit_test(test_findings),
	};
	return casetable_main("appmesh", DIR, more, sizeof(more) / sizeof(more[0]));
}
