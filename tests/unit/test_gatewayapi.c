/* test_gatewayapi.c: engine/providers/gatewayapi/, the Kubernetes Gateway API's provider. The
 * semantics table is data: tests/data/import/gatewayapi/cases.json (a fixture and each case's
 * own YAML; the findings, routes and requests it expects; each citing the spec, a conformance
 * test or a mesh's source), one cmocka test per case (the runner: casetable.h). Then the
 * `gateway` answer Istio's analyzers ask (the table's lookups, through an import driven by
 * hand), the hostname intersection, malformed documents, and allocation failures. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "alloc.h"
#include "casetable.h"
#include "import.h"
#include "import_int.h"
#include "providers/gatewayapi/gatewayapi_int.h"
#include "testutil.h"
#include "yamlload.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DIR "tests/data/import/gatewayapi"

/* --- the gateway answer, through an import run by hand (the compiler's host stands in) --- */

/* The names an import declares: (kind, a, b) -> id, as the compiler's table keeps them. */
typedef struct {
	struct {
		int kind;
		uint32_t a, b;
		mp_id id;
	} v[512];
	uint32_t n;
} names;

static mp_id names_lookup(void *ctx, int kind, uint32_t a, uint32_t b)
{
	names *t = ctx;
	for (uint32_t i = 0; i < t->n; i++)
		if (t->v[i].kind == kind && t->v[i].a == a && t->v[i].b == b)
			return t->v[i].id;
	return MP_NONE;
}

static int names_declare(void *ctx, int kind, uint32_t a, uint32_t b, mp_id id, mp_loc loc,
                         const char *what)
{
	names *t = ctx;
	(void)loc, (void)what;
	if (names_lookup(ctx, kind, a, b) != MP_NONE || t->n == 512)
		return -1;
	t->v[t->n].kind = kind, t->v[t->n].a = a, t->v[t->n].b = b, t->v[t->n].id = id;
	t->n++;
	return 0;
}

/* Imports the files up to the routes; the importer (with its model in *m), or NULL. */
static mp_import *import_files(json_t *files, mp_model **m, mp_diags *d, names *t)
{
	static const mp_import_host *host;
	static mp_import_host h;
	h = (mp_import_host){t, names_lookup, names_declare};
	host = &h;
	*m = mp_model_new();
	mp_import *im = *m ? mp_import_new(*m, d, NULL, host) : NULL;
	size_t i;
	json_t *f;
	json_array_foreach(files, i, f)
	{
		char path[256];
		mp_yaml_stream ys;
		yaml_document_t doc;
		snprintf(path, sizeof(path), "%s/%s", DIR, json_string_value(f));
		FILE *fp = fopen(path, "rb");
		static char buf[1 << 16];
		size_t len = fp ? fread(buf, 1, sizeof(buf), fp) : 0;
		if (fp)
			fclose(fp);
		mp_str file = mp_model_intern(*m, path, strlen(path));
		if (!im || mp_yaml_open(&ys, path, buf, len, d) < 0)
			return im;
		while (mp_yaml_next(&ys, &doc) == 1)
			if (!mp_import_document(im, &doc, file, path))
				yaml_document_delete(&doc);
		mp_yaml_close(&ys);
	}
	if (im) {
		mp_import_places(im);
		mp_import_namespaces(im);
		mp_import_elements(im);
	}
	return im;
}

static void test_lookups(void **state)
{
	(void)state;
	json_t *lookups = json_object_get(casetable, "lookups"), *l;
	size_t i;
	assert_true(json_array_size(lookups) > 0);
	json_array_foreach(lookups, i, l)
	{
		mp_diags d = {0};
		mp_model *m = NULL;
		static names t;
		t.n = 0;
		mp_import *im = import_files(json_object_get(l, "files"), &m, &d, &t);
		im_gateway g;
		assert_non_null(im);
		int found = im_gateway_find(
		    im, json_string_value(json_object_get(l, "ns")),
		    json_string_value(json_object_get(l, "name_of_gateway")), 0, &g);
		if (found != json_is_true(json_object_get(l, "exists")))
			fprintf(stderr, "lookup '%s': found %d\n",
			        json_string_value(json_object_get(l, "name")), found);
		assert_int_equal(found, json_is_true(json_object_get(l, "exists")));
		if (found) {
			json_t *hosts = json_object_get(l, "hosts"), *h;
			size_t k;
			char svc[300];
			mp_model_view v = mp_model_get_view(m);
			assert_int_equal(g.any_host, json_is_true(json_object_get(l, "any_host")));
			assert_int_equal(g.nhosts, json_array_size(hosts));
			json_array_foreach(hosts, k, h)
			{
				assert_string_equal(g.hosts[k], json_string_value(h));
			}
			assert_int_not_equal(g.service, MP_NONE);
			snprintf(svc, sizeof(svc), "%s/%s",
			         mp_model_str(m, v.namespaces[v.services[g.service].ns].name),
			         mp_model_str(m, v.services[g.service].name));
			assert_string_equal(svc, json_string_value(json_object_get(l, "service")));
			assert_true(gwapi_is(&im->docs[g.doc], GW_GATEWAY));
		}
		/* another cluster has none */
		assert_int_equal(im_gateway_find(im, "infra", "gw-same", 7, &g), 0);
		mp_import_free(im);
		mp_model_free(m);
		mp_diags_free(&d);
	}
}

/* --- hostname intersection (site-src/concepts/hostnames.md, its table) --- */

static void test_hostnames(void **state)
{
	(void)state;
	static const struct {
		const char *a, *b;
		int meet;
	} rows[] = {
	    {"www.example.com", "www.example.com", 1},
	    {"www.example.com", "*.example.com", 1},
	    {"*.example.com", "a.b.example.com", 1},
	    {"*.example.com", "example.com", 0},
	    {"*.com", "*.example.com", 1},
	    {"*.example.com", "*.com", 1},
	    {"*.example.com", "*.example.net", 0},
	    {"*.example.com", "*.example.com", 1},
	    {"foo.example.com", "bar.example.com", 0},
	    {NULL, "anything.io", 1},
	    {"*.wildcard.io", "wildcard.io", 0},
	    {"*.specific.com", "very.specific.com", 1},
	    {"*.ample.com", "example.com", 0},
	    {"WWW.Example.com", "www.example.com", 1},
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		if (mp_gwapi_hosts_meet(rows[i].a, rows[i].b) != rows[i].meet)
			fprintf(stderr, "%s / %s\n", rows[i].a ? rows[i].a : "(none)", rows[i].b);
		assert_int_equal(mp_gwapi_hosts_meet(rows[i].a, rows[i].b), rows[i].meet);
		assert_int_equal(mp_gwapi_hosts_meet(rows[i].b, rows[i].a), rows[i].meet);
	}
}

/* --- malformed documents: errors at their node, as the CRDs' schemas and CEL rules refuse
 * them; kinds left out are notes --- */

#define ROUTE                                                                                      \
	"apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: {name: r, "          \
	"namespace: shop}\nspec:\n"
#define GATEWAY                                                                                    \
	"apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata: {name: g, "            \
	"namespace: shop}\nspec:\n  gatewayClassName: istio\n  listeners:\n"

static const bad_row bad_rows[] = {
    {"unknown field, nearest name", ROUTE "  parentRef: []\n",
     "bad.yaml:5:3: HTTPRoute shop/r: spec: unknown field 'parentRef' (did you mean "
     "'parentRefs'?)",
     1},
    {"a path type", ROUTE "  rules:\n  - matches:\n    - path: {type: Prefix, value: /}\n",
     "bad.yaml:7:20: HTTPRoute shop/r: spec.rules[0].matches[0].path.type: unknown value "
     "'Prefix' (expected Exact, PathPrefix or RegularExpression)",
     1},
    {"a relative path", ROUTE "  rules:\n  - matches:\n    - path: {value: api}\n",
     "bad.yaml:7:21: HTTPRoute shop/r: path 'api' must be an absolute path", 1},
    {"a path with //", ROUTE "  rules:\n  - matches:\n    - path: {value: /a//b}\n",
     "path '/a//b' must not contain '//'", 1},
    {"a regular expression RE2 refuses",
     ROUTE "  rules:\n  - matches:\n    - path: {type: RegularExpression, value: \"/a(?=b)\"}\n",
     "HTTPRoute shop/r: regular expression '/a(?=b)': invalid perl operator: (?=", 1},
    {"a hostname in upper case", ROUTE "  hostnames: [Example.com]\n",
     "bad.yaml:5:15: HTTPRoute shop/r: hostname 'Example.com' is not a lower-case DNS name", 1},
    {"an IP address as hostname", ROUTE "  hostnames: [\"10.0.0.1\"]\n",
     "hostname '10.0.0.1' is not a lower-case DNS name", 1},
    {"a wildcard inside a hostname", ROUTE "  hostnames: [\"a.*.com\"]\n",
     "hostname 'a.*.com' is not", 1},
    {"a weight out of range",
     ROUTE "  rules:\n  - backendRefs:\n    - {name: a, port: 80, weight: 1000001}\n",
     "'weight' is 1000001, outside 0..1000000", 1},
    {"a redirect with backends",
     ROUTE "  rules:\n  - filters:\n    - {type: RequestRedirect, requestRedirect: {}}\n    "
           "backendRefs:\n    - {name: a, port: 80}\n",
     "RequestRedirect filter must not be used together with backendRefs", 1},
    {"a filter without its field", ROUTE "  rules:\n  - filters:\n    - {type: URLRewrite}\n",
     "filter URLRewrite needs its field 'urlRewrite'", 1},
    {"a filter of another type's field",
     ROUTE "  rules:\n  - filters:\n    - {type: URLRewrite, urlRewrite: {}, requestRedirect: "
           "{}}\n",
     "'requestRedirect' is not a field of a URLRewrite filter", 1},
    {"two references to one parent without sectionName",
     ROUTE "  parentRefs:\n  - {name: g}\n  - {name: g}\n",
     "sectionName or port must be specified when parentRefs includes 2 or more references", 1},
    {"a timeout that is no duration",
     ROUTE "  rules:\n  - timeouts: {request: soon}\n    backendRefs:\n    - {name: a, port: "
           "80}\n",
     "'request' must be a duration", 1},
    {"seventeen rules",
     ROUTE "  rules: [{}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}]\n",
     "spec.rules has 17 items; the Gateway API allows 1 to 16", 1},
    {"a gRPC method match with neither part",
     "apiVersion: gateway.networking.k8s.io/v1\nkind: GRPCRoute\nmetadata: {name: g, namespace: "
     "shop}\nspec:\n  rules:\n  - matches:\n    - method: {type: Exact}\n",
     "One or both of 'service' or 'method' must be specified", 1},
    {"a TCPRoute without backends",
     "apiVersion: gateway.networking.k8s.io/v1alpha2\nkind: TCPRoute\nmetadata: {name: t, "
     "namespace: shop}\nspec:\n  rules:\n  - {}\n",
     "spec.rules[0]: missing required field 'backendRefs'", 1},
    {"a Gateway without listeners",
     "apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata: {name: g, namespace: "
     "shop}\nspec:\n  gatewayClassName: istio\n",
     "spec: missing required field 'listeners'", 1},
    {"two listeners of one name",
     GATEWAY "  - {name: a, port: 80, protocol: HTTP}\n  - {name: a, port: 81, protocol: HTTP}\n",
     "Listener name must be unique within the Gateway", 1},
    {"the same port, protocol and hostname twice",
     GATEWAY "  - {name: a, port: 80, protocol: HTTP}\n  - {name: b, port: 80, protocol: HTTP}\n",
     "Combination of port, protocol and hostname must be unique", 1},
    {"tls on an HTTP listener",
     GATEWAY "  - {name: a, port: 80, protocol: HTTP, tls: {certificateRefs: [{name: c}]}}\n",
     "tls must not be specified for protocols ['HTTP', 'TCP', 'UDP']", 1},
    {"a hostname on a TCP listener",
     GATEWAY "  - {name: a, port: 80, protocol: TCP, hostname: a.example.com}\n",
     "hostname must not be specified for protocols ['TCP', 'UDP']", 1},
    {"HTTPS passthrough",
     GATEWAY "  - {name: a, port: 443, protocol: HTTPS, tls: {mode: Passthrough}}\n",
     "tls mode must be Terminate for protocol HTTPS", 1},
    {"terminating without certificates",
     GATEWAY "  - {name: a, port: 443, protocol: HTTPS, tls: {mode: Terminate}}\n",
     "certificateRefs or options must be specified when mode is Terminate", 1},
    {"a listener port out of range", GATEWAY "  - {name: a, port: 0, protocol: HTTP}\n",
     "'port' is 0, outside 1..65535", 1},
    {"a ReferenceGrant without to",
     "apiVersion: gateway.networking.k8s.io/v1beta1\nkind: ReferenceGrant\nmetadata: {name: g, "
     "namespace: shop}\nspec:\n  from:\n  - {group: '', kind: Service, namespace: a}\n",
     "spec: missing required field 'to'", 1},
    {"a GatewayClass without controller",
     "apiVersion: gateway.networking.k8s.io/v1\nkind: GatewayClass\nmetadata: {name: c}\nspec: "
     "{}\n",
     "GatewayClass c: spec: missing required field 'controllerName'", 1},
    /* hostile: oversized, mistyped, nested where the schema has no room */
    {"thirty-three parentRefs",
     ROUTE "  parentRefs: [{name: a}, {name: b}, {name: c}, {name: d}, {name: e}, {name: f}, "
           "{name: g}, {name: h}, {name: i}, {name: j}, {name: k}, {name: l}, {name: m}, "
           "{name: n}, {name: o}, {name: p}, {name: q}, {name: r}, {name: s}, {name: t}, "
           "{name: u}, {name: v}, {name: w}, {name: x}, {name: y}, {name: z}, {name: aa}, "
           "{name: ab}, {name: ac}, {name: ad}, {name: ae}, {name: af}, {name: ag}]\n",
     "spec.parentRefs has 33 items; the Gateway API allows 0 to 32", 1},
    {"a hostname of 64-character labels",
     ROUTE "  hostnames: [aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.com]\n",
     "is not a lower-case DNS name", 1},
    {"listeners that are no list", GATEWAY "    nope\n",
     "bad.yaml:7:5: Gateway shop/g: spec.listeners: must be a list, not a scalar", 1},
    {"a spec that is a list",
     "apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: {name: r, namespace: "
     "shop}\nspec: [1]\n",
     "bad.yaml:4:7: HTTPRoute shop/r: 'spec' must be a mapping, not a list", 1},
    {"a field nested inside a mirror's backendRef",
     ROUTE "  rules:\n  - filters:\n    - type: RequestMirror\n      requestMirror:\n        "
           "backendRef: {name: a, port: 80, deep: {deeper: {deepest: 1}}}\n",
     "unknown field 'deep'", 1},
    {"a kind left out",
     "apiVersion: gateway.networking.k8s.io/v1alpha2\nkind: UDPRoute\nmetadata: {name: u, "
     "namespace: shop}\nspec: {}\n",
     "bad.yaml:2:7: note: skipped kind 'UDPRoute' (apiVersion "
     "gateway.networking.k8s.io/v1alpha2): no mesh meshpol reads programs UDP listeners",
     0},
    {"a version of the group meshpol does not read",
     "apiVersion: gateway.networking.k8s.io/v9\nkind: HTTPRoute\nmetadata: {name: r}\nspec: "
     "{}\n",
     "bad.yaml:2:7: note: skipped kind 'HTTPRoute' (apiVersion gateway.networking.k8s.io/v9): "
     "meshpol does not import this kind",
     0},
};

static void test_bad_input(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(bad_rows) / sizeof(bad_rows[0]); i++)
		assert_true(bad_row_ok(&bad_rows[i]));
}

/* Every document is a resource of the model, policies see them (mesh:resources). */
static void test_resources(void **state)
{
	(void)state;
	const char *files[] = {"fixture.yaml", "cases/d3b.yaml"};
	mp_model *m = compile_in(DIR, files, 2, NULL);
	assert_non_null(m);
	assert_int_equal(count_kind(m, "GatewayClass"), 1);
	assert_int_equal(count_kind(m, "Gateway"), 3);
	assert_int_equal(count_kind(m, "HTTPRoute"), 1);
	assert_int_equal(count_kind(m, "ReferenceGrant"), 1);
	mp_model_free(m);
}

/* Every allocation of a Gateway API import failing in turn: NULL and an error, never a crash
 * or (under make check) a leak. */
static void test_allocation_failures(void **state)
{
	(void)state;
	const char *src[] = {DIR "/fixture.yaml", DIR "/cases/i3.yaml", DIR "/cases/c9.yaml",
	                     DIR "/cases/d4.yaml", DIR "/cases/f5.yaml"};
	assert_true(allocation_failures_ok(src, sizeof(src) / sizeof(src[0])));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_lookups),
	    cmocka_unit_test(test_hostnames),
	    cmocka_unit_test(test_bad_input),
	    cmocka_unit_test(test_resources),
	    cmocka_unit_test(test_allocation_failures),
	};
	return casetable_main("gatewayapi", DIR, tests, sizeof(tests) / sizeof(tests[0]));
}
