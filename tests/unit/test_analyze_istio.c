/* test_analyze_istio.c: engine/providers/istio/analyze_istio*.c: Istio's analyzers against the
 * situations of istio/istio's pkg/config/analysis/analyzers/analyzers_test.go, rebuilt as
 * meshpol's own YAML in tests/data/import/istio/cases.json (each case cites the analyzer and
 * the test case it mirrors; the runner is tests/unit/casetable.h's, which fails on a missing
 * finding, on any other finding of the analyzer's domain and on a finding without file:line);
 * then what the analyzers stand on: `kind: List`, the analysis of malformed documents (and a
 * compile's strictness), identical findings as one, the MeshConfig option and ConfigMap, and
 * VirtualService delegation and exportTo in routes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "alloc.h"
#include "casetable.h"
#include "provider.h"
#include "testutil.h"

#include <unistd.h>

/* Compiles yaml (named t.yaml) with opts; the model (NULL on errors) and its diagnostics. */
static mp_model *compile_text(const char *yaml, const mp_compile_opts *o, mp_diags *d)
{
	char dir[] = "/tmp/meshpol-istio-XXXXXX", path[64];
	if (!mkdtemp(dir))
		return NULL;
	snprintf(path, sizeof(path), "%s/t.yaml", dir);
	FILE *f = fopen(path, "w");
	if (!f)
		return NULL;
	fputs(yaml, f);
	fclose(f);
	const char *p = path;
	mp_model *m = mp_compile(&p, 1, o, d);
	unlink(path);
	rmdir(dir);
	return m;
}

static const mp_import_finding *finding(const mp_model *m, const char *code, const char *subject)
{
	mp_model_view v = mp_model_get_view(m);
	for (uint32_t i = 0; i < v.nfindings; i++)
		if (!strcmp(mp_model_str(m, v.findings[i].code), code) &&
		    (!subject || !strcmp(mp_model_str(m, v.findings[i].subject), subject)))
			return &v.findings[i];
	return NULL;
}

/* --- kind: List --- */

static void test_list(void **state)
{
	(void)state;
	static const char yaml[] = "apiVersion: v1\n"
	                           "kind: List\n"
	                           "items:\n"
	                           "- apiVersion: v1\n" /* line 4 */
	                           "  kind: Service\n"
	                           "  metadata: {name: a, namespace: x}\n"
	                           "  spec: {ports: [{port: 80, name: http}]}\n"
	                           "- apiVersion: v1\n" /* line 8: a List in a List */
	                           "  kind: List\n"
	                           "  items:\n"
	                           "  - apiVersion: v1\n"
	                           "    kind: Service\n"
	                           "    metadata: {name: b, namespace: x}\n"
	                           "    spec: {ports: [{port: 80, name: http}]}\n";
	mp_diags d = {0};
	mp_model *m = compile_text(yaml, NULL, &d);
	assert_non_null(m);
	mp_id a = mp_model_find_service(m, "x/a"), b = mp_model_find_service(m, "x/b");
	assert_int_not_equal(a, MP_NONE);
	assert_int_not_equal(b, MP_NONE);
	assert_int_equal(mp_model_get_view(m).services[a].loc.line, 4); /* its own line */
	assert_int_equal(mp_model_get_view(m).services[b].loc.line, 11);
	mp_model_free(m);
	mp_diags_free(&d);

	/* an item that is no object is an error at its line, the others still read */
	static const char bad[] = "apiVersion: v1\nkind: List\nitems:\n- 42\n- {kind: Service}\n"
	                          "- apiVersion: v1\n  kind: Service\n  metadata: {name: c}\n"
	                          "  spec: {ports: [{port: 1, name: http}]}\n";
	mp_diags d2 = {0};
	assert_null(compile_text(bad, NULL, &d2));
	char *t = diags_text(&d2);
	assert_non_null(strstr(t, "t.yaml:4:3: an item of a List must be a mapping with "
	                          "'apiVersion' and 'kind'"));
	assert_non_null(strstr(t, "t.yaml:5:3: an item of a List"));
	assert_int_equal(d2.errors, 2);
	free(t);
	mp_diags_free(&d2);

	/* an empty List, or one without items, is nothing */
	static const char empty[] = "apiVersion: v1\nkind: List\nitems: []\n";
	mp_diags d3 = {0};
	m = compile_text(empty, NULL, &d3);
	assert_non_null(m);
	mp_model_free(m);
	mp_diags_free(&d3);
}

/* --- an analysis keeps going; a compile stays strict --- */

static const char malformed[] =
    "apiVersion: networking.istio.io/v1\n"
    "kind: Gateway\n"
    "metadata: {name: g}\n"
    "spec:\n"
    "  selector: {istio: ingressgateway}\n" /* no servers */
    "---\n"
    "apiVersion: networking.istio.io/v1\n"
    "kind: VirtualService\n"
    "metadata: {name: v}\n"
    "spec:\n"
    "  hosts: [a.example.com]\n"
    "  gateways: [g]\n"
    "  http: [{route: [{destination: {host: a}}]}]\n"
    "---\n"
    "apiVersion: v1\n"
    "kind: Service\n"
    "metadata: {name: nospec}\n" /* line 17: istioctl reads it as it is */
    "---\n"
    "apiVersion: apps/v1\n"
    "kind: Deployment\n"
    "metadata: {name: nodeploy}\n" /* no spec: Kubernetes' own error */
    "---\n"
    "apiVersion: v1\n"
    "kind: Service\n"
    "metadata: {name: ok}\n"
    "spec: {ports: [{port: 80, name: http}]}\n";

static void test_analysis(void **state)
{
	(void)state;
	/* compile: every problem is an error, no model */
	mp_diags d = {0};
	assert_null(compile_text(malformed, NULL, &d));
	char *t = diags_text(&d);
	assert_non_null(strstr(t, "Gateway default/g: missing required field 'servers'"));
	assert_non_null(strstr(t, "Service default/nospec: missing required field 'spec'"));
	assert_int_equal(d.errors, 3);
	free(t);
	mp_diags_free(&d);

	/* analysis: findings at file:line, and the rest analysed */
	mp_compile_opts o = {.analyze = 1};
	mp_diags d2 = {0};
	mp_model *m = compile_text(malformed, &o, &d2);
	assert_non_null(m);
	assert_int_equal(d2.errors, 0);
	const mp_import_finding *f = finding(m, "SchemaValidationError", "Gateway default/g");
	assert_non_null(f);
	assert_int_equal(f->loc.line, 5);
	assert_non_null(
	    strstr(mp_model_str(m, f->text),
	           "[IST0106] Schema validation error: missing required field 'servers'"));
	/* the Gateway stayed for the analyzers: it serves no host of the VirtualService */
	assert_non_null(
	    finding(m, "VirtualServiceHostNotFoundInGateway", "VirtualService default/v"));
	/* Kubernetes' own: no Istio code, and the object is left out */
	f = finding(m, "SchemaValidationError", "Deployment default/nodeploy");
	assert_non_null(f);
	assert_null(strstr(mp_model_str(m, f->text), "[IST"));
	assert_null(finding(m, "SchemaValidationError", "Service default/nospec"));
	assert_int_equal(mp_model_find_service(m, "default/nospec"), MP_NONE);
	assert_int_not_equal(mp_model_find_service(m, "default/ok"), MP_NONE);
	mp_model_free(m);
	mp_diags_free(&d2);
}

/* Identical findings are one (istioctl's SortedDedupedCopy); an error repeated by each read of
 * a document is one finding too. */
static void test_identical_findings(void **state)
{
	(void)state;
	static const char yaml[] =
	    "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec:\n"
	    "  template:\n    spec:\n      securityContext: {runAsUser: 1337}\n"
	    "      containers:\n      - {name: a, image: a, securityContext: {runAsUser: 1337}}\n"
	    "      - {name: b, image: b, securityContext: {runAsUser: 1337}}\n"
	    "---\n"
	    "apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: {name: p}\n"
	    "spec: {mtls: {mode: STRICTER}}\n";
	mp_compile_opts o = {.analyze = 1};
	mp_diags d = {0};
	mp_model *m = compile_text(yaml, &o, &d);
	assert_non_null(m);
	assert_int_equal(count_findings(m, "InvalidApplicationUID"), 1);
	assert_int_equal(count_findings(m, "SchemaValidationError"), 1);
	mp_model_free(m);
	mp_diags_free(&d);
}

/* --- the MeshConfig --- */

static void test_mesh_config(void **state)
{
	(void)state;
	static const char se[] = "apiVersion: networking.istio.io/v1\nkind: ServiceEntry\n"
	                         "metadata: {name: db}\nspec:\n  hosts: [db.example.com]\n"
	                         "  ports: [{number: 5432, name: tcp, protocol: TCP}]\n";
	/* no MeshConfig: Istio's defaults, no allocation */
	mp_diags d = {0};
	mp_model *m = compile_text(se, NULL, &d);
	assert_non_null(m);
	assert_int_equal(count_findings(m, "ServiceEntryAddressesRequired"), 1);
	mp_model_free(m);
	mp_diags_free(&d);

	/* the `istio` ConfigMap of istio-system says the mesh allocates addresses */
	char yaml[2048];
	snprintf(yaml, sizeof(yaml),
	         "%s---\napiVersion: v1\nkind: ConfigMap\n"
	         "metadata: {name: istio, namespace: istio-system}\ndata:\n  mesh: |-\n"
	         "    rootNamespace: mesh-root\n    defaultConfig:\n      proxyMetadata:\n"
	         "        ISTIO_META_DNS_CAPTURE: \"true\"\n"
	         "        ISTIO_META_DNS_AUTO_ALLOCATE: \"true\"\n",
	         se);
	mp_diags d2 = {0};
	m = compile_text(yaml, NULL, &d2);
	assert_non_null(m);
	assert_int_equal(count_findings(m, "ServiceEntryAddressesRequired"), 0);
	assert_int_equal(count_notes(&d2, "skipped kind 'ConfigMap'"), 0); /* Istio reads it */
	/* its rootNamespace is the import's */
	mp_model_view v = mp_model_get_view(m);
	int root = 0;
	for (uint32_t i = 0; i < v.nresources; i++)
		if (!strcmp(mp_model_str(m, v.resources[i].kind), "MeshConfig"))
			root =
			    strstr(mp_model_str(m, v.resources[i].spec), "\"mesh-root\"") != NULL;
	assert_true(root);
	mp_model_free(m);
	mp_diags_free(&d2);

	/* the option: a file that is not there is an error naming it */
	mp_provider_setting s = {"istio", "mesh-config", "/nonexistent/mesh.yaml"};
	mp_compile_opts o = {.provider_opts = &s, .nprovider_opts = 1};
	mp_diags d3 = {0};
	assert_null(compile_text(se, &o, &d3));
	char *t = diags_text(&d3);
	assert_non_null(strstr(t, "/nonexistent/mesh.yaml"));
	free(t);
	mp_diags_free(&d3);
}

/* --- delegation and exportTo in routes --- */

static const char delegation[] =
    "apiVersion: v1\nkind: Service\nmetadata: {name: api, namespace: shop}\n"
    "spec: {selector: {app: api}, ports: [{port: 80, name: http}]}\n"
    "---\n"
    "apiVersion: v1\nkind: Service\nmetadata: {name: api-v2, namespace: shop}\n"
    "spec: {selector: {app: api-v2}, ports: [{port: 80, name: http}]}\n"
    "---\n"
    "apiVersion: networking.istio.io/v1\nkind: VirtualService\n"
    "metadata: {name: root, namespace: shop}\n"
    "spec:\n"
    "  hosts: [api.shop.svc.cluster.local]\n"
    "  http:\n"
    "  - match: [{uri: {prefix: /v1}}]\n"
    "    timeout: 3s\n"
    "    delegate: {name: api-routes}\n"
    "  - match: [{uri: {prefix: /v9}}]\n"
    "    delegate: {name: nowhere}\n"
    "  - match: [{uri: {prefix: /v8}}]\n"
    "    delegate: {name: private-routes, namespace: other}\n"
    "  - route: [{destination: {host: api}}]\n"
    "---\n"
    "apiVersion: networking.istio.io/v1\nkind: VirtualService\n"
    "metadata: {name: api-routes, namespace: shop}\n"
    "spec:\n"
    "  http:\n"
    "  - match: [{uri: {prefix: /v1/orders}, headers: {x-tier: {exact: gold}}}]\n"
    "    route: [{destination: {host: api-v2}}]\n"
    "  - match: [{uri: {prefix: /v2}}]\n" /* outside /v1: pilot drops it */
    "    route: [{destination: {host: api-v2}}]\n"
    "  - route: [{destination: {host: api}}]\n"
    "    timeout: 1s\n"
    "---\n"
    "apiVersion: networking.istio.io/v1\nkind: VirtualService\n"
    "metadata: {name: private-routes, namespace: other}\n"
    "spec:\n"
    "  exportTo: [\".\"]\n"
    "  http: [{route: [{destination: {host: api.shop.svc.cluster.local}}]}]\n";

static void test_delegation(void **state)
{
	(void)state;
	mp_diags d = {0};
	mp_model *m = compile_text(delegation, NULL, &d);
	mp_diags_print(&d, stderr);
	assert_non_null(m);
	/* the delegate's first rule under the root's match: the longer prefix, and its header */
	const mp_route *r = route_named(m, "shop/root:http[0]+shop/api-routes:http[0]");
	assert_non_null(r);
	assert_int_equal(r->match.path_kind, MP_PATH_PREFIX);
	assert_string_equal(mp_model_str(m, r->match.path), "/v1/orders");
	assert_int_equal(r->match.headers.n, 1);
	assert_int_equal(r->timeout_ms, 3000); /* the root's, the delegate's rule sets none */
	mp_model_view v = mp_model_get_view(m);
	assert_int_equal(v.targets[r->dests.off].id, mp_model_find_service(m, "shop/api-v2"));
	/* its second conflicts with the root's match: dropped */
	assert_null(route_named(m, "shop/root:http[0]+shop/api-routes:http[1]"));
	/* its third has no match: the root's, and its own timeout */
	r = route_named(m, "shop/root:http[0]+shop/api-routes:http[2]");
	assert_non_null(r);
	assert_string_equal(mp_model_str(m, r->match.path), "/v1");
	assert_int_equal(r->timeout_ms, 1000);
	/* a delegate that is not there, or not exported to the root's namespace: notes */
	assert_int_equal(count_notes(&d, "delegate VirtualService shop/nowhere not found"), 1);
	assert_int_equal(
	    count_notes(&d, "delegate VirtualService other/private-routes is not exported to "
	                    "namespace shop"),
	    1);
	/* the delegates route nothing of their own */
	for (uint32_t i = 0; i < v.nroutes; i++)
		assert_null(strstr(mp_model_str(m, v.routes[i].name), "shop/api-routes:http[0]<"));
	assert_non_null(route_named(m, "shop/root:http[3]"));
	mp_model_free(m);
	mp_diags_free(&d);

	/* Istio's validation of delegation */
	static const char bad[] = "apiVersion: networking.istio.io/v1\nkind: VirtualService\n"
	                          "metadata: {name: d}\nspec:\n  gateways: [g]\n  tcp: [{route: "
	                          "[{destination: {host: a}}]}]\n"
	                          "---\n"
	                          "apiVersion: networking.istio.io/v1\nkind: VirtualService\n"
	                          "metadata: {name: r}\nspec:\n  hosts: [r]\n  http:\n"
	                          "  - delegate: {name: e}\n    route: [{destination: {host: a}}]\n"
	                          "  - delegate: {name: e}\n"
	                          "---\n"
	                          "apiVersion: networking.istio.io/v1\nkind: VirtualService\n"
	                          "metadata: {name: e}\nspec:\n  http:\n  - delegate: {name: d}\n";
	mp_diags d2 = {0};
	assert_null(compile_text(bad, NULL, &d2));
	char *t = diags_text(&d2);
	assert_non_null(strstr(t, "delegate virtual service must have no gateways specified"));
	assert_non_null(strstr(t, "delegate virtual service must have no tcp route specified"));
	assert_non_null(strstr(t, "root HTTP route r:http[0] must not specify redirect or route"));
	assert_non_null(strstr(t, "delegate HTTP route cannot contain delegate"));
	free(t);
	mp_diags_free(&d2);
}

static void test_export_to(void **state)
{
	(void)state;
	static const char yaml[] =
	    "apiVersion: v1\nkind: Service\nmetadata: {name: api, namespace: shop}\n"
	    "spec: {selector: {app: api}, ports: [{port: 80, name: http}]}\n"
	    "---\n"
	    "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: shop}\n"
	    "spec: {template: {metadata: {labels: {app: web}}}}\n"
	    "---\n"
	    "apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: shop}\n"
	    "spec: {selector: {app: web}, ports: [{port: 80, name: http}]}\n"
	    "---\n"
	    "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: job, namespace: batch}\n"
	    "spec: {template: {metadata: {labels: {app: job}}}}\n"
	    "---\n"
	    "apiVersion: v1\nkind: Service\nmetadata: {name: job, namespace: batch}\n"
	    "spec: {selector: {app: job}, ports: [{port: 80, name: http}]}\n"
	    "---\n"
	    "apiVersion: networking.istio.io/v1\nkind: VirtualService\n"
	    "metadata: {name: api, namespace: shop}\n"
	    "spec:\n  hosts: [api]\n  exportTo: [\".\"]\n"
	    "  http: [{route: [{destination: {host: api}}]}]\n";
	mp_diags d = {0};
	mp_model *m = compile_text(yaml, NULL, &d);
	assert_non_null(m);
	/* exported to its own namespace: the callers there, not every caller of the mesh */
	assert_non_null(route_named(m, "shop/api:http[0]<-shop/web"));
	assert_null(route_named(m, "shop/api:http[0]"));
	assert_null(route_named(m, "shop/api:http[0]<-batch/job"));
	mp_model_free(m);
	mp_diags_free(&d);
}

/* Every analyzer, failing each allocation in turn: NULL and an error, never a crash (under
 * `make check`, no leak either). */
static void test_allocation_failures(void **state)
{
	(void)state;
	static const char *const src[] = {
	    "tests/data/import/istio/gateway/secrets.yaml",
	    "tests/data/import/istio/gateway/list.yaml",
	    "tests/data/import/istio/virtualservice/destination-hosts.yaml",
	    "tests/data/import/istio/virtualservice/dupmatches.yaml",
	    "tests/data/import/istio/virtualservice/mesh-hosts-export.yaml",
	    "tests/data/import/istio/virtualservice/hosts-in-gateways-ns.yaml",
	    "tests/data/import/istio/sidecar/default-selector.yaml",
	    "tests/data/import/istio/authz/policies.yaml",
	    "tests/data/import/istio/deployment/multiple-services.yaml",
	    "tests/data/import/istio/envoyfilter/relative.yaml",
	    "tests/data/import/istio/telemetry/selectors.yaml",
	    "tests/data/import/istio/destinationrule/subset-topology.yaml",
	    "tests/data/import/istio/serviceentry/conflicting-protocol.yaml",
	    "tests/data/import/istio/injection/image-auto.yaml",
	    "tests/data/import/istio/conditions/istio-kinds.yaml",
	};
	mp_compile_opts o = {.analyze = 1};
	for (long n = 0;; n++) {
		mp_diags d = {0};
		mp_alloc_fail_after(n);
		mp_model *m = mp_compile(src, sizeof(src) / sizeof(src[0]), &o, &d);
		mp_alloc_fail_after(-1);
		if (!m)
			assert_true(d.errors > 0 || d.dropped > 0);
		mp_diags_free(&d);
		if (m) {
			mp_model_free(m);
			break;
		}
		assert_true(n < 1000000);
	}
}

int main(void)
{
	static const struct CMUnitTest more[] = {
	    cmocka_unit_test(test_list),
	    cmocka_unit_test(test_analysis),
	    cmocka_unit_test(test_identical_findings),
	    cmocka_unit_test(test_mesh_config),
	    cmocka_unit_test(test_delegation),
	    cmocka_unit_test(test_export_to),
	    cmocka_unit_test(test_allocation_failures),
	};
	return casetable_main("istio analyzers", "tests/data/import/istio", more,
	                      sizeof(more) / sizeof(more[0]));
}
