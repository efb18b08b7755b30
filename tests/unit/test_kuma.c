/* test_kuma.c: engine/providers/kuma/, Kuma's provider. The semantics table is data:
 * tests/data/import/kuma/cases.json (scenario files + request + expected effect and the resource
 * and rule that decide, each citing Kuma's source or docs), one cmocka test per case (the
 * runner: casetable.h). Then the corpus (../shared/corpus/kuma) with pinned counts, the two
 * forms (Kubernetes and Universal) deciding alike, the analyzers' findings, malformed and
 * unknown kinds, the mapping (identities, the system namespace, multizone, routes, timeouts,
 * retries, locality, a VM joining a Kubernetes service), the explanation, a crafted model and
 * allocation failures. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "alloc.h"
#include "casetable.h"
#include "providers/kuma/kuma_authz.h"
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DIR "tests/data/import/kuma"

static mp_model *compile_files(const char *const *files, size_t n, const mp_compile_opts *o)
{
	return compile_in(DIR, files, n, o);
}

/* Decides input (JSON) with a fresh evaluator of e into *dec; the output JSON (free it). */
static json_t *decide_on(mp_engine *e, const char *input, mp_decision *dec, json_t *explain)
{
	mp_diags d = {0};
	json_t *in = json_loads(input, 0, NULL);
	mp_request r;
	mp_header h[MP_REQUEST_MAX_HEADERS];
	char err[256];
	assert_non_null(in);
	mp_evaluator *ev = mp_evaluator_new(e, NULL, &d);
	assert_non_null(ev);
	assert_int_equal(mp_request_from_json(in, &r, h, err, sizeof(err)), 0);
	mp_decide(ev, &r, dec, explain);
	json_t *out = mp_decision_json(e, dec, "test");
	mp_evaluator_free(ev);
	json_decref(in);
	mp_diags_free(&d);
	return out;
}

static const char *reason_field(json_t *out, const char *field)
{
	return json_string_value(
	    json_object_get(json_array_get(json_object_get(out, "reasons"), 0), field));
}

/* --- the corpus: Kuma's own test data (matchers, CLI inputs) --- */

static void test_corpus(void **state)
{
	(void)state;
	mp_diags d = {0};
	mp_model *m = compile_corpus("kuma", &d);
	assert_non_null(m);
	mp_model_view v = mp_model_get_view(m);
	/* 9 documents, one MeshHTTPRoute replaced by a later one of the same mesh and name; the
	 * MeshService of mesh-1 is a service of its own (no dataplane), the remaining route its
	 * MeshHTTPRoute's rule to it */
	const pin pins[] = {
	    {"clusters", v.nclusters, 1},
	    {"namespaces", v.nnamespaces, 2},
	    {"services", v.nservices, 1},
	    {"routes", v.nroutes, 1},
	    {"workloads", v.nworkloads, 0},
	    {"MeshTimeouts", count_kind(m, "MeshTimeout"), 3},
	    {"MeshHTTPRoutes", count_kind(m, "MeshHTTPRoute"), 1},
	    {"MeshTrafficPermissions", count_kind(m, "MeshTrafficPermission"), 2},
	    {"MeshServices", count_kind(m, "MeshService"), 1},
	    {"Meshes (mesh-1 and Kuma's default)", count_kind(m, "Mesh"), 2},
	    {"resources", v.nresources, 9},
	    {"findings", v.nfindings, 4},
	    {"MeshNotFound", count_findings(m, "MeshNotFound"), 1},
	    {"BackendRefNotFound", count_findings(m, "BackendRefNotFound"), 1},
	    {"MTLSDisabled", count_findings(m, "MTLSDisabled"), 1},
	    {"ShadowPolicy", count_findings(m, "ShadowPolicy"), 1},
	    {"replaced", count_notes(&d, "replaces the one at"), 1},
	    {"skipped", count_notes(&d, "skipped"), 0},
	    {"errors", d.errors, 0},
	};
	assert_int_equal(pins_missed("corpus", pins, sizeof(pins) / sizeof(pins[0])), 0);
	/* the route keeps the MeshHTTPRoute's weights over the backend that exists */
	const mp_route *rt = &v.routes[0];
	assert_string_equal(mp_model_str(m, rt->name), "mesh-1/http-route-1:to[0].rules[0]");
	assert_int_equal(rt->match.path_kind, MP_PATH_PREFIX);
	assert_int_equal(rt->dests.n, 1);
	assert_int_equal(v.targets[rt->dests.off].weight, 100);
	assert_int_equal(rt->timeout_ms, 19000); /* MeshTimeout matched-for-rules-mt-1 */
	mp_model_free(m);
	mp_diags_free(&d);
}

/* --- the Kubernetes and Universal forms decide alike --- */

/* Every input of a scenario of the table decided on two models: the same effect, and the same
 * rule in the first reason. */
static void same_decisions(const char *scenario, mp_model *a, mp_model *b)
{
	mp_engine *ea = mp_engine_new(a, NULL), *eb = mp_engine_new(b, NULL);
	json_t *cases = json_object_get(casetable, "cases"), *c;
	size_t i, n = 0;
	assert_non_null(ea);
	assert_non_null(eb);
	json_array_foreach(cases, i, c)
	{
		if (strcmp(json_string_value(json_object_get(c, "scenario")), scenario))
			continue;
		char *input = json_dumps(json_object_get(c, "input"), 0);
		mp_decision da, db;
		json_t *oa = decide_on(ea, input, &da, NULL), *ob = decide_on(eb, input, &db, NULL);
		const char *ra = reason_field(oa, "rule"), *rb = reason_field(ob, "rule");
		if (da.effect != db.effect || (ra && rb && strcmp(ra, rb)))
			fprintf(stderr, "%s: %s / %s, %s / %s\n", input, mp_effect_name(da.effect),
			        mp_effect_name(db.effect), ra ? ra : "-", rb ? rb : "-");
		assert_int_equal(da.effect, db.effect);
		assert_true(!ra == !rb && (!ra || !strcmp(ra, rb)));
		json_decref(oa);
		json_decref(ob);
		free(input);
		n++;
	}
	assert_true(n >= 3);
	mp_engine_release(ea);
	mp_engine_release(eb);
}

static void test_forms(void **state)
{
	(void)state;
	const char *k8s[] = {"k8s-apps.yaml", "mesh-mtls.yaml", "from-kind.yaml"};
	const char *uni[] = {"k8s-apps.yaml", "uni-mesh.yaml", "from-kind-uni.yaml"};
	same_decisions("from-kind", compile_files(k8s, 3, NULL), compile_files(uni, 3, NULL));
	const char *rk[] = {"k8s-apps.yaml", "mesh-nomtls.yaml", "rules-identity.yaml",
	                    "rules-k8s.yaml"};
	const char *ru[] = {"k8s-apps.yaml", "mesh-nomtls.yaml", "rules-identity.yaml",
	                    "rules-uni.yaml"};
	same_decisions("rules-k8s", compile_files(rk, 4, NULL), compile_files(ru, 4, NULL));
}

/* --- the analyzers, one instance of each condition (audit.yaml) --- */

static void test_findings(void **state)
{
	(void)state;
	static const want_finding want[] = {
	    {"MeshNotFound", "MeshTrafficPermission kuma-system/lost", 159},
	    {"MTLSDisabled", "Mesh open", 77},
	    {"NoTrafficPermission", "Mesh default", 65},
	    {"TargetRefSelectsNothing", "MeshTrafficPermission kuma-system/nobody", 92},
	    {"ShadowPolicy", "MeshTrafficPermission kuma-system/trial", 104},
	    {"AllowWithShadowDeny", "MeshTrafficPermission kuma-system/ledger-perms", 128},
	    {"AllowOverriddenByDeny", "MeshTrafficPermission kuma-system/ledger-perms", 122},
	    {"AllowOverriddenByDeny", "MeshTrafficPermission open/allow-old", 156},
	    {"TargetRefNotFound", "MeshTimeout kuma-system/slow", 179},
	    {"BackendRefNotFound", "MeshHTTPRoute kuma-system/split", 203},
	    {"CrossZoneFailover", "MeshLoadBalancingStrategy kuma-system/accounts-failover", 223},
	    {"DataplaneWithoutIdentity", "Deployment open/ledger", 48},
	};
	const char *files[] = {"audit.yaml"};
	mp_model *m = compile_files(files, 1, NULL);
	assert_non_null(m);
	mp_model_view v = mp_model_get_view(m);
	assert_int_equal(v.nfindings, sizeof(want) / sizeof(want[0]));
	assert_int_equal(findings_missing(m, want, sizeof(want) / sizeof(want[0])), 0);
	mp_model_free(m);
}

/* --- malformed known kinds are errors at their field; unknown kinds are notes --- */

#define MTP_K8S                                                                                    \
	"apiVersion: kuma.io/v1alpha1\nkind: MeshTrafficPermission\nmetadata: {name: p, "          \
	"namespace: "                                                                              \
	"kuma-system}\n"

static const bad_row bad_rows[] = {
    {"unknown field, nearest name",
     MTP_K8S "spec:\n  targetRef:\n    kind: Dataplane\n    lables: {app: x}\n  from:\n  - "
             "targetRef: {kind: Mesh}\n    default: {action: Allow}\n",
     "bad.yaml:7:5: MeshTrafficPermission kuma-system/p: spec.targetRef: unknown field 'lables' "
     "(did you mean 'labels'?)",
     1},
    {"an action, nearest value",
     MTP_K8S "spec:\n  from:\n  - targetRef: {kind: Mesh}\n    default: {action: Alow}\n",
     "bad.yaml:7:23: MeshTrafficPermission kuma-system/p: spec.from[0].default.action: unknown "
     "value 'Alow' (did you mean 'Allow'?)",
     1},
    {"a matcher type",
     "type: MeshTrafficPermission\nname: r\nmesh: default\nspec:\n  rules:\n  - default:\n    "
     "  allow:\n      - spiffeID: {type: Prefx, value: spiffe://x}\n",
     "bad.yaml:8:26: MeshTrafficPermission r: spec.rules[0].default.allow[0].spiffeID.type: "
     "unknown value 'Prefx' (did you mean 'Prefix'?)",
     1},
    {"the type form's top level",
     "type: MeshTrafficPermission\nname: q\nmesh: default\nspecc: {}\n",
     "bad.yaml:4:1: MeshTrafficPermission q: unknown field 'specc' (did you mean 'spec'?)", 1},
    {"a legacy kind's top level",
     "type: Mesh\nname: m\nmtls:\n  enabledBackend: ca-1\n  backends:\n  - {name: ca-1, type: "
     "builtin, mode: STRCT}\n",
     "bad.yaml:6:39: Mesh m: mtls.backends[0].mode: unknown value 'STRCT' (did you mean "
     "'STRICT'?)",
     1},
    {"an enabled backend that is none",
     "type: Mesh\nname: m\nmtls:\n  enabledBackend: ca-2\n  backends:\n  - {name: ca-1, type: "
     "builtin}\n",
     "bad.yaml:4:19: Mesh m: mtls.enabledBackend: 'ca-2' has to be set to one of the backends", 1},
    {"a targetRef kind the permission does not take",
     MTP_K8S "spec:\n  targetRef: {kind: MeshGateway, name: gw}\n  from:\n  - targetRef: "
             "{kind: Mesh}\n    default: {action: Allow}\n",
     "bad.yaml:5:21: MeshTrafficPermission kuma-system/p: spec.targetRef.kind: value "
     "'MeshGateway' is not supported here (expected Mesh, MeshSubset, MeshService, "
     "MeshServiceSubset or Dataplane)",
     1},
    {"to and from outside the system namespace",
     "apiVersion: kuma.io/v1alpha1\nkind: MeshTimeout\nmetadata: {name: t, namespace: shop}\n"
     "spec:\n  to:\n  - targetRef: {kind: Mesh}\n    default: {idleTimeout: 1s}\n  from:\n  - "
     "targetRef: {kind: Mesh}\n    default: {idleTimeout: 1s}\n",
     "bad.yaml:9:3: MeshTimeout shop/t: spec: it's not allowed to mix 'to' and 'from' arrays in "
     "the same policy",
     1},
    {"neither from nor rules", MTP_K8S "spec:\n  targetRef: {kind: Mesh}\n",
     "MeshTrafficPermission kuma-system/p: spec: needs from or rules", 1},
    {"a duration",
     "type: MeshTimeout\nname: t\nspec:\n  to:\n  - targetRef: {kind: Mesh}\n    default: "
     "{http: {requestTimeout: 5 seconds}}\n",
     "bad.yaml:6:38: MeshTimeout t: spec.to[0].default.http.requestTimeout: '5 seconds' is not "
     "a duration",
     1},
    {"an inbound without its service",
     "type: Dataplane\nname: vm\nnetworking:\n  address: 10.0.0.1\n  inbound:\n  - port: 80\n "
     "   tags: {app: x}\n",
     "bad.yaml:7:11: Dataplane vm: networking.inbound[0].tags: missing required tag "
     "'kuma.io/service'",
     1},
    {"a MeshIdentity template",
     "type: MeshIdentity\nname: mi\nspec:\n  provider: {type: Bundled}\n  spiffeID: {path: "
     "\"/x/{{ .Foo }}\"}\n",
     "bad.yaml:5:20: MeshIdentity mi: spec.spiffeID.path: unknown field '.Foo'", 1},
    {"a kind Kuma has and meshpol leaves out",
     "type: MeshAccessLog\nname: logs\nmesh: default\nspec: {}\n",
     "bad.yaml:1:7: note: skipped document of type 'MeshAccessLog': Kuma's observability "
     "policies (logs, traces, metrics) admit or refuse no client",
     0},
    {"an unknown type", "type: FooBar\nname: x\n",
     "bad.yaml:1:7: note: skipped document of type 'FooBar': meshpol does not import this kind", 0},
    {"an unknown kind of the group",
     "apiVersion: kuma.io/v1alpha1\nkind: MeshFooBar\nmetadata: {name: z}\n",
     "bad.yaml:2:7: note: skipped kind 'MeshFooBar' (apiVersion kuma.io/v1alpha1): meshpol does "
     "not import this kind",
     0},
    {"a Kubernetes zone's Dataplane",
     "apiVersion: kuma.io/v1alpha1\nkind: Dataplane\nmetadata: {name: dp, namespace: x}\nspec: "
     "{}\n",
     "bad.yaml:2:7: note: skipped kind 'Dataplane' (apiVersion kuma.io/v1alpha1): Kuma makes a "
     "Kubernetes zone's Dataplanes from its pods",
     0},
    {"a native kind written as a type", "type: Service\nname: x\n",
     "bad.yaml:1:1: document has no 'kind'", 1},
};

static void test_bad_input(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(bad_rows) / sizeof(bad_rows[0]); i++)
		assert_true(bad_row_ok(&bad_rows[i]));
}

/* --- the mapping --- */

static const mp_workload *workload_named(const mp_model *m, const char *name)
{
	mp_model_view v = mp_model_get_view(m);
	for (uint32_t i = 0; i < v.nworkloads; i++)
		if (!strcmp(mp_model_str(m, v.workloads[i].name), name))
			return &v.workloads[i];
	fprintf(stderr, "no workload %s\n", name);
	return NULL;
}

/* Injected pods run as spiffe://MESH/SERVICE (2.x) or as their MeshIdentity's SPIFFE ID; VMs
 * too; pods Kuma does not inject keep the default form. */
static void test_identities(void **state)
{
	(void)state;
	const char *a[] = {"k8s-apps.yaml", "mesh-mtls.yaml"};
	mp_model *m = compile_files(a, 2, NULL);
	assert_non_null(m);
	assert_string_equal(mp_model_str(m, workload_named(m, "payments")->identity),
	                    "spiffe://default/payments_pay_svc_8080");
	assert_int_equal(workload_named(m, "payments")->mtls, MP_MTLS_STRICT);
	mp_model_free(m);
	const char *b[] = {"k8s-apps.yaml", "mesh-nomtls.yaml", "rules-identity.yaml",
	                   "rules-vms.yaml"};
	assert_non_null(m = compile_files(b, 4, NULL));
	assert_string_equal(mp_model_str(m, workload_named(m, "orders")->identity),
	                    "spiffe://default.zone-1.mesh.local/ns/shop/sa/orders");
	assert_string_equal(mp_model_str(m, workload_named(m, "billing-vm-1")->identity),
	                    "spiffe://default.zone-1.mesh.local/workload/billing");
	/* metrics has no mesh-identity label: the 2.x form, and no mTLS on its mesh */
	assert_string_equal(mp_model_str(m, workload_named(m, "metrics")->identity),
	                    "spiffe://default/metrics_ops_svc_8080");
	assert_int_equal(workload_named(m, "metrics")->mtls, MP_MTLS_DISABLE);
	assert_int_equal(workload_named(m, "orders")->mtls, MP_MTLS_STRICT);
	mp_model_free(m);
	/* the default templates: {{ .Mesh }}.{{ .Zone }}.mesh.local, the zone being the cluster */
	const char *yaml =
	    "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n  labels: "
	    "{kuma.io/sidecar-injection: enabled}\n---\napiVersion: v1\nkind: Pod\nmetadata: "
	    "{name: "
	    "web, namespace: shop, labels: {app: web}}\nspec:\n  serviceAccountName: web-sa\n  "
	    "containers: [{name: a, image: a}]\n---\ntype: MeshIdentity\nname: id\nmesh: "
	    "default\nspec:\n  selector: {dataplane: {matchLabels: {}}}\n  provider: {type: "
	    "Bundled}\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: plain, namespace: other}\n"
	    "spec:\n  containers: [{name: a, image: a}]\n";
	mp_diags d = {0};
	assert_non_null(m = mp_compile_string("ids.yaml", yaml, strlen(yaml), &d));
	assert_string_equal(mp_model_str(m, workload_named(m, "web")->identity),
	                    "spiffe://default.kubernetes.mesh.local/ns/shop/sa/web-sa");
	assert_string_equal(mp_model_str(m, workload_named(m, "plain")->identity),
	                    "spiffe://cluster.local/ns/other/sa/default");
	mp_model_free(m);
	mp_diags_free(&d);
}

/* meshpol compile --kuma-system-namespace: the namespace whose policies are Kuma's system policies
 * (mesh-wide); elsewhere a from policy is a workload owner's, reaching its namespace only. */
static void test_system_namespace(void **state)
{
	(void)state;
	const char *files[] = {"k8s-apps.yaml", "mesh-mtls.yaml", "from-role.yaml"};
	const char *in =
	    "{\"destination\": {\"service\": \"shop/web\", \"port\": 8080}, \"source\": "
	    "{\"principal\": \"spiffe://default/orders_shop_svc_8080\"}}";
	mp_decision dec;
	mp_model *m = compile_files(files, 3, NULL);
	mp_engine *e = mp_engine_new(m, NULL);
	json_t *out = decide_on(e, in, &dec, NULL);
	assert_int_equal(dec.effect, MP_EFFECT_FORBIDDEN); /* kuma-system/a-sys-deny-orders */
	json_decref(out);
	mp_engine_release(e);
	/* with pay as the system namespace, pay/z-owner-allow-all applies everywhere and, a Mesh
	 * policy of the same kind and origin named "z-", sorts before "a-sys-deny-orders" (now a
	 * workload owner's of kuma-system, which shop/web is not in) */
	const mp_provider_setting opts[] = {{"kuma", "system-namespace", "pay"}};
	mp_compile_opts o = {.provider_opts = opts, .nprovider_opts = 1};
	assert_non_null(m = compile_files(files, 3, &o));
	assert_non_null(e = mp_engine_new(m, NULL));
	out = decide_on(e, in, &dec, NULL);
	assert_int_equal(dec.effect, MP_EFFECT_ALLOWED);
	assert_string_equal(reason_field(out, "policy"),
	                    "MeshTrafficPermission pay/z-owner-allow-all");
	json_decref(out);
	mp_engine_release(e);
}

/* Multizone: zones are clusters; a MeshHTTPRoute from the clients its targetRef selects, with
 * MeshTimeout and MeshRetry, and MeshLoadBalancingStrategy's locality; Universal outbounds. */
static void test_routes(void **state)
{
	(void)state;
	const char *mz[] = {"mz"};
	mp_model *m = compile_files(mz, 1, NULL);
	assert_non_null(m);
	mp_model_view v = mp_model_get_view(m);
	assert_int_equal(v.nclusters, 3);
	mp_id inv = mp_model_find_service(m, "default/invoices");
	assert_int_not_equal(inv, MP_NONE);
	assert_int_equal(v.u32[v.services[inv].clusters.off], mp_model_find_cluster(m, "zone-2"));
	/* orders runs in zone-1 (Kubernetes) and as orders-legacy in zone-2 (a VM): one route
	 * from each; invoices-canary does not exist, so invoices takes it all */
	const mp_route *k8s =
	    route_named(m, "default/orders-to-invoices:to[0].rules[0]<-shop/orders");
	const mp_route *vm =
	    route_named(m, "default/orders-to-invoices:to[0].rules[0]<-default/orders-legacy");
	assert_non_null(k8s);
	assert_non_null(vm);
	assert_int_equal(k8s->dests.n, 1);
	assert_int_equal(v.targets[k8s->dests.off].id, inv);
	assert_int_equal(v.targets[k8s->dests.off].weight, 100);
	assert_int_equal(k8s->timeout_ms, 5000);  /* MeshTimeout to the MeshHTTPRoute */
	assert_int_equal(k8s->retry_attempts, 3); /* MeshRetry to the MeshService */
	/* locality: the VM's zone runs invoices, so its traffic stays there */
	assert_int_equal(v.targets[vm->dests.off].cluster, mp_model_find_cluster(m, "zone-2"));
	assert_true(v.targets[vm->dests.off].flags & MP_TARGET_F_LOCALITY_DISTRIBUTE);
	assert_int_equal(v.nexternals, 1);
	mp_model_free(m);
	/* Universal outbounds: orders calls payments and ledger, web calls payments */
	const char *uni[] = {"uni-mesh.yaml", "uni-dataplanes.yaml"};
	assert_non_null(m = compile_files(uni, 2, NULL));
	v = mp_model_get_view(m);
	assert_int_equal(v.nroutes, 3);
	const mp_route *o = route_named(m, "default/orders-vm-1:outbound[1]<-default/orders");
	assert_non_null(o);
	assert_int_equal(v.targets[o->dests.off].id, mp_model_find_service(m, "default/ledger"));
	assert_int_equal(o->source, mp_model_find_service(m, "default/orders"));
	mp_model_free(m);
}

/* A VM whose kuma.io/service is a Kubernetes Service's joins it: the service runs in both
 * zones, and a request to it is decided on the pod and on the VM. */
static void test_join(void **state)
{
	(void)state;
	const char *files[] = {"k8s-apps.yaml", "mesh-mtls.yaml", "from-kind.yaml"};
	char vm[] = "type: Dataplane\nmesh: default\nname: payments-vm\nlabels: {app: payments}\n"
	            "networking:\n  address: 10.0.9.9\n  inbound:\n  - port: 8080\n    tags: "
	            "{kuma.io/service: payments_pay_svc_8080, app: payments}\n";
	mp_model *m = compile_files(files, 3, NULL);
	mp_model_view v = mp_model_get_view(m);
	uint32_t before = v.nservices;
	mp_model_free(m);
	FILE *f = fopen("/tmp/meshpol-kuma-vm.yaml", "w");
	assert_non_null(f);
	fputs(vm, f);
	fclose(f);
	char paths[4][256];
	const char *p[4];
	for (int i = 0; i < 3; i++) {
		snprintf(paths[i], sizeof(paths[i]), "%s/%s", DIR, files[i]);
		p[i] = paths[i];
	}
	p[3] = "/tmp/meshpol-kuma-vm.yaml";
	mp_diags d = {0};
	assert_non_null(m = compile_paths(p, 4, NULL, &d));
	v = mp_model_get_view(m);
	assert_int_equal(v.nservices, before);
	const mp_id *ids;
	assert_int_equal(
	    mp_model_workloads_of_service(m, mp_model_find_service(m, "pay/payments"), &ids), 2);
	mp_engine *e = mp_engine_new(m, NULL);
	mp_decision dec;
	json_t *out =
	    decide_on(e,
	              "{\"destination\": {\"service\": \"pay/payments\", \"port\": 8080}, "
	              "\"source\": {\"principal\": \"spiffe://default/web_shop_svc_8080\"}}",
	              &dec, NULL);
	assert_int_equal(dec.effect, MP_EFFECT_ALLOWED); /* both dataplanes: mesh-allow-all */
	json_decref(out);
	mp_engine_release(e);
	mp_diags_free(&d);
	remove("/tmp/meshpol-kuma-vm.yaml");
}

/* The explanation shows Kuma's steps: the dataplane inbound, each entry in Kuma's order. */
static void test_explain(void **state)
{
	(void)state;
	mp_evaluator *ev = casetable_engine_for("from-kind", NULL);
	assert_non_null(ev);
	json_t *in =
	    json_loads("{\"destination\": {\"service\": \"pay/payments\", \"port\": 8080}, "
	               "\"source\": {\"principal\": \"spiffe://default/orders_shop_svc_8080\"}}",
	               0, NULL);
	mp_request r;
	mp_header h[MP_REQUEST_MAX_HEADERS];
	char err[256];
	mp_decision d;
	json_t *ex = json_array();
	assert_int_equal(mp_request_from_json(in, &r, h, err, sizeof(err)), 0);
	mp_decide(ev, &r, &d, ex);
	static const char *const steps[][3] = {
	    {"kuma.dataplane", "Dataplane pay/payments", "port 8080"},
	    {"kuma.policy", "MeshTrafficPermission kuma-system/mesh-allow-all", "from[0]"},
	    {"kuma.policy", "MeshTrafficPermission kuma-system/payments-deny-orders", "from[0]"},
	};
	assert_int_equal(json_array_size(ex), 3);
	for (size_t i = 0; i < 3; i++) {
		json_t *o = json_array_get(ex, i);
		assert_string_equal(json_string_value(json_object_get(o, "type")), steps[i][0]);
		assert_string_equal(json_string_value(json_object_get(o, "policy")), steps[i][1]);
		assert_string_equal(json_string_value(json_object_get(o, "rule")), steps[i][2]);
	}
	assert_int_equal(d.effect, MP_EFFECT_FORBIDDEN);
	json_decref(ex);
	json_decref(in);
}

/* A model whose stored Kuma record was altered by hand is refused at snapshot load. */
static void test_crafted(void **state)
{
	(void)state;
	const char *files[] = {"k8s-apps.yaml", "mesh-mtls.yaml"};
	mp_model *m = compile_files(files, 2, NULL);
	assert_non_null(m);
	uint32_t aux[3] = {0x7fffffff, 0, 0}; /* a workload the model does not have */
	const char *spec = "{\"mesh\": \"default\", \"labels\": {}, \"inbounds\": []}";
	mp_resource r = {.kind = mp_model_intern(m, "KumaDataplane", 13),
	                 .api = mp_model_intern(m, "meshpol.io/v1", 13),
	                 .ns = mp_model_intern(m, "pay", 3),
	                 .name = mp_model_intern(m, "crafted", 7),
	                 .spec = mp_model_intern(m, spec, strlen(spec)),
	                 .cluster = MP_NONE,
	                 .aux = {mp_model_push_u32(m, aux, 3), 3}};
	assert_int_not_equal(mp_model_add_resource(m, &r), MP_NONE);
	assert_int_equal(mp_model_finish(m), 0);
	char err[512];
	mp_kmauthz *a = NULL;
	assert_int_equal(mp_kmauthz_compile(m, &a, err, sizeof(err)), -1);
	assert_null(a);
	assert_non_null(
	    strstr(err, "KumaDataplane pay/crafted: its workload is not one of the model"));
	assert_null(mp_engine_new(m, NULL)); /* frees m */
}

/* Every allocation of a Kuma import and of its compiled state failing in turn: NULL and an
 * error, never a crash or (under make check) a leak. */
/* Without failures the sources compile; then every allocation fails in turn. */
static void allocation_failures(const char *const *src, size_t n)
{
	mp_diags d = {0};
	mp_model *m = compile_paths(src, n, NULL, &d);
	assert_non_null(m);
	mp_model_free(m);
	mp_diags_free(&d);
	assert_true(allocation_failures_ok(src, n));
}

static void test_allocation_failures(void **state)
{
	(void)state;
	const char *src[] = {DIR "/k8s-apps.yaml",   DIR "/mesh-mtls.yaml",  DIR "/legacy-mtp.yaml",
	                     DIR "/from-kinds.yaml", DIR "/permissive.yaml", DIR "/audit.yaml"};
	const char *rules[] = {DIR "/k8s-apps.yaml", DIR "/mesh-nomtls.yaml",
	                       DIR "/rules-identity.yaml", DIR "/rules-uni.yaml",
	                       DIR "/rules-vms.yaml"};
	const char *mz[] = {DIR "/mz"};
	allocation_failures(src, sizeof(src) / sizeof(src[0]));
	allocation_failures(rules, sizeof(rules) / sizeof(rules[0]));
	allocation_failures(mz, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_corpus),
	    cmocka_unit_test(test_forms),
	    cmocka_unit_test(test_findings),
	    cmocka_unit_test(test_bad_input),
	    cmocka_unit_test(test_identities),
	    cmocka_unit_test(test_system_namespace),
	    cmocka_unit_test(test_routes),
	    cmocka_unit_test(test_join),
	    cmocka_unit_test(test_explain),
	    cmocka_unit_test(test_crafted),
	    cmocka_unit_test(test_allocation_failures),
	};
	return casetable_main("kuma", DIR, tests, sizeof(tests) / sizeof(tests[0]));
}
