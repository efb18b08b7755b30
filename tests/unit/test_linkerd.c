/* test_linkerd.c: engine/providers/linkerd/, Linkerd's provider. The semantics table is data:
 * tests/data/import/linkerd/cases.json (scenario files + request + expected effect and the
 * resource and rule that decide, each citing Linkerd's source or docs), one cmocka test per
 * case (the runner: casetable.h). Then the corpus (../shared/corpus/linkerd) with pinned counts,
 * the analyzers' findings, malformed and unknown kinds, the mapping (identities, options,
 * mirrored services, outbound routes), the regular expressions, and a crafted model. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "alloc.h"
#include "casetable.h"
#include "providers/linkerd/linkerd_authz.h"
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DIR "tests/data/import/linkerd"

/* --- the corpus: the viz test data, emojivoto's policy, Grafana's --- */

static void test_corpus(void **state)
{
	(void)state;
	mp_diags d = {0};
	mp_model *m = compile_corpus("linkerd", &d);
	assert_non_null(m);
	mp_model_view v = mp_model_get_view(m);
	/* 28 documents: 6 replaced by later ones of the same name (kubectl apply) */
	const pin pins[] = {
	    {"clusters", v.nclusters, 1},
	    {"namespaces", v.nnamespaces, 3},
	    {"services", v.nservices, 0},
	    {"workloads", v.nworkloads, 0},
	    {"Servers", count_kind(m, "Server"), 8},
	    {"ServerAuthorizations", count_kind(m, "ServerAuthorization"), 7},
	    {"AuthorizationPolicies", count_kind(m, "AuthorizationPolicy"), 5},
	    {"MeshTLSAuthentications", count_kind(m, "MeshTLSAuthentication"), 1},
	    {"NetworkAuthentications", count_kind(m, "NetworkAuthentication"), 1},
	    {"the settings record", count_kind(m, "ConfigMap"), 1},
	    {"resources", v.nresources, 23},
	    {"findings", v.nfindings, 19},
	    {"ServerSelectsNoPods", count_findings(m, "ServerSelectsNoPods"), 8},
	    {"DeprecatedServerAuthorization", count_findings(m, "DeprecatedServerAuthorization"),
	     7},
	    {"IllegalAuthorizationPolicy", count_findings(m, "IllegalAuthorizationPolicy"), 2},
	    {"AuthorizationPolicyTargetNotFound",
	     count_findings(m, "AuthorizationPolicyTargetNotFound"), 1},
	    {"IdentityRefNotFound", count_findings(m, "IdentityRefNotFound"), 1},
	    {"replaced", count_notes(&d, "replaces the one at"), 6},
	    {"skipped", count_notes(&d, "skipped"), 0},
	    {"errors", d.errors, 0},
	};
	assert_int_equal(pins_missed("corpus", pins, sizeof(pins) / sizeof(pins[0])), 0);
	mp_model_free(m);
	mp_diags_free(&d);
}

/* --- the analyzers, one instance of each condition (audit.yaml) --- */

static void test_findings(void **state)
{
	(void)state;
	static const want_finding want[] = {
	    {"IllegalAuthorizationPolicy", "AuthorizationPolicy lint/needs-ghost", 93},
	    {"AuthorizationPolicyTargetNotFound", "AuthorizationPolicy lint/orphan-policy", 82},
	    {"ServerSelectsNoPods", "Server lint/no-pods", 65},
	    {"ServerPortNotFound", "Server lint/bad-port", 75},
	    {"ServerPortConflict", "Server lint/dup-b", 51},
	    {"NoMatchingParent", "HTTPRoute lint/lost-route", 101},
	    {"IdentityRefNotFound", "MeshTLSAuthentication lint/refs-missing", 112},
	    {"IdentityRefNotFound", "MeshTLSAuthentication lint/refs-missing", 113},
	    {"DeprecatedServerAuthorization", "ServerAuthorization lint/old-style", 116},
	    {"DefaultAllUnauthenticated", "Deployment lint/ledger", 25},
	    {"PortWithoutServer", "Deployment lint/ledger", 25},
	};
	const char *src = DIR "/audit.yaml";
	mp_diags d = {0};
	mp_model *m = compile_paths(&src, 1, NULL, &d);
	assert_non_null(m);
	mp_model_view v = mp_model_get_view(m);
	assert_int_equal(v.nfindings, sizeof(want) / sizeof(want[0]));
	assert_int_equal(findings_missing(m, want, sizeof(want) / sizeof(want[0])), 0);
	/* the port no Server selects is the metrics one, in the words of the finding */
	for (uint32_t k = 0; k < v.nfindings; k++)
		if (!strcmp(mp_model_str(m, v.findings[k].code), "PortWithoutServer"))
			assert_non_null(
			    strstr(mp_model_str(m, v.findings[k].text), "port 9100 (metrics)"));
	mp_model_free(m);
	mp_diags_free(&d);
}

/* --- malformed known kinds are errors at their field; unknown kinds are notes --- */

#define NS "apiVersion: v1\nkind: Namespace\nmetadata: {name: shop}\n---\n"
#define SERVER3                                                                                    \
	"apiVersion: policy.linkerd.io/v1beta3\nkind: Server\nmetadata: {name: s, namespace: "     \
	"shop}\n"

static const bad_row bad_rows[] = {
    {"unknown field, nearest name", NS SERVER3 "spec:\n  podSelector: {}\n  prot: 80\n",
     "bad.yaml:10:3: Server shop/s: spec: unknown field 'prot' (did you mean 'port'?)", 1},
    {"unknown enum value, nearest",
     NS SERVER3 "spec:\n  podSelector: {}\n  port: 80\n  proxyProtocol: HTTP1\n",
     "bad.yaml:11:18: Server shop/s: spec.proxyProtocol: unknown value 'HTTP1' (did you mean "
     "'HTTP/1'?)",
     1},
    {"missing field", NS SERVER3 "spec:\n  podSelector: {}\n",
     "bad.yaml:9:3: Server shop/s: spec: missing required field 'port'", 1},
    {"port out of range", NS SERVER3 "spec:\n  podSelector: {}\n  port: 70000\n",
     "bad.yaml:10:9: Server shop/s: spec.port: 70000 is not a port number (1..65535)", 1},
    {"both selectors",
     NS SERVER3 "spec:\n  podSelector: {}\n  externalWorkloadSelector: {}\n  port: 80\n",
     "bad.yaml:9:3: Server shop/s: spec: needs exactly one of podSelector and "
     "externalWorkloadSelector",
     1},
    {"a field of a later version",
     NS "apiVersion: policy.linkerd.io/v1beta1\nkind: Server\nmetadata: {name: s, namespace: "
        "shop}\nspec:\n  podSelector: {}\n  port: 80\n  accessPolicy: deny\n",
     "bad.yaml:11:17: Server shop/s: spec.accessPolicy: not a field of Server v1beta1", 1},
    {"accessPolicy value",
     NS SERVER3 "spec:\n  podSelector: {}\n  port: 80\n  accessPolicy: al-unauthenticated\n",
     "spec.accessPolicy: unknown value 'al-unauthenticated' (did you mean "
     "'all-unauthenticated'?)",
     1},
    {"a list item's field",
     NS "apiVersion: policy.linkerd.io/v1alpha1\nkind: AuthorizationPolicy\nmetadata: {name: p, "
        "namespace: shop}\nspec:\n  targetRef: {kind: Namespace, name: shop}\n  "
        "requiredAuthenticationRefs:\n  - {name: x, knd: ServiceAccount}\n",
     "bad.yaml:11:15: AuthorizationPolicy shop/p: spec.requiredAuthenticationRefs[0]: unknown "
     "field 'knd' (did you mean 'kind'?)",
     1},
    {"a CIDR",
     NS "apiVersion: policy.linkerd.io/v1alpha1\nkind: NetworkAuthentication\nmetadata: {name: "
        "n, namespace: shop}\nspec:\n  networks:\n  - cidr: 10.0.0.0/33\n",
     "bad.yaml:10:11: NetworkAuthentication shop/n: '10.0.0.0/33' is not an IP address or CIDR "
     "block",
     1},
    {"no identities",
     NS "apiVersion: policy.linkerd.io/v1alpha1\nkind: MeshTLSAuthentication\nmetadata: {name: "
        "m, namespace: shop}\nspec: {}\n",
     "MeshTLSAuthentication shop/m: spec: needs identities or identityRefs", 1},
    {"a path type",
     NS "apiVersion: policy.linkerd.io/v1beta3\nkind: HTTPRoute\nmetadata: {name: r, "
        "namespace: shop}\nspec:\n  rules:\n  - matches:\n    - path: {type: Prefix, value: /}\n",
     "bad.yaml:11:20: HTTPRoute shop/r: spec.rules[0].matches[0].path.type: unknown value "
     "'Prefix' (expected Exact, PathPrefix or RegularExpression)",
     1},
    {"a regular expression Linkerd refuses (a lookahead)",
     NS "apiVersion: policy.linkerd.io/v1beta3\nkind: HTTPRoute\nmetadata: {name: r, "
        "namespace: shop}\nspec:\n  rules:\n  - matches:\n    - path: {type: RegularExpression, "
        "value: \"/a(?=b)\"}\n",
     "HTTPRoute shop/r: regular expression '/a(?=b)': invalid perl operator: (?=", 1},
    {"a nested ServiceProfile condition",
     NS "apiVersion: linkerd.io/v1alpha2\nkind: ServiceProfile\nmetadata: {name: "
        "web.shop.svc.cluster.local, namespace: shop}\nspec:\n  routes:\n  - name: r\n    "
        "condition:\n      all:\n      - pathregex: /x\n",
     "spec.routes[0].condition.all[0]: unknown field 'pathregex' (did you mean 'pathRegex'?)", 1},
    {"the cluster's default policy",
     "kind: ConfigMap\napiVersion: v1\nmetadata: {name: linkerd-config, namespace: linkerd}\n"
     "data:\n  values: |\n    proxy:\n      defaultInboundPolicy: allow-all\n",
     "bad.yaml:7:29: ConfigMap linkerd/linkerd-config: values: proxy.defaultInboundPolicy: "
     "unknown value 'allow-all'",
     1},
    {"a kind Linkerd leaves out",
     NS "apiVersion: policy.linkerd.io/v1alpha1\nkind: HTTPLocalRateLimitPolicy\nmetadata: {name: "
        "l, namespace: shop}\nspec: {}\n",
     "bad.yaml:6:7: note: skipped kind 'HTTPLocalRateLimitPolicy' (apiVersion "
     "policy.linkerd.io/v1alpha1): Linkerd's rate limits allow or deny no client",
     0},
    {"an unknown kind of the group",
     NS "apiVersion: policy.linkerd.io/v1beta3\nkind: Widget\nmetadata: {name: w}\n",
     "bad.yaml:6:7: note: skipped kind 'Widget' (apiVersion policy.linkerd.io/v1beta3): meshpol "
     "does not import this kind",
     0},
    /* the Gateway API's provider reads it, whatever the mesh (test_gatewayapi.c) */
    {"a Gateway API route without Linkerd",
     NS "apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: {name: r, "
        "namespace: shop}\nspec: {}\n",
     NULL, 0},
    {"another ConfigMap", NS "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: other}\n",
     "bad.yaml:6:7: note: skipped kind 'ConfigMap' (apiVersion v1): meshpol does not import "
     "this kind",
     0},
};

static void test_bad_input(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(bad_rows) / sizeof(bad_rows[0]); i++)
		assert_true(bad_row_ok(&bad_rows[i]));
}

/* --- the mapping --- */

static mp_model *compile_files(const char *const *files, size_t n, const mp_compile_opts *o)
{
	return compile_in(DIR, files, n, o);
}

static const char *identity_of(const mp_model *m, const char *svc)
{
	mp_model_view v = mp_model_get_view(m);
	mp_id s = mp_model_find_service(m, svc);
	assert_int_not_equal(s, MP_NONE);
	return mp_model_str(m, v.services[s].identity);
}

/* Pods Linkerd injects run as SA.NS.serviceaccount.identity.CONTROL-PLANE-NS.TRUST-DOMAIN; the
 * options set the last two; pods it does not inject keep the default form. */
static void test_identities(void **state)
{
	(void)state;
	const char *files[] = {"defaults.yaml"};
	mp_model *m = compile_files(files, 1, NULL);
	assert_non_null(m);
	assert_string_equal(identity_of(m, "d-none/app"),
	                    "app.d-none.serviceaccount.identity.linkerd.cluster.local");
	assert_string_equal(identity_of(m, "legacy/app"),
	                    "spiffe://cluster.local/ns/legacy/sa/app");
	mp_model_free(m);
	const mp_provider_setting opts[] = {{"linkerd", "control-plane-namespace", "l5d"}};
	mp_compile_opts o = {
	    .trust_domain = "example.org", .provider_opts = opts, .nprovider_opts = 1};
	assert_non_null(m = compile_files(files, 1, &o));
	assert_string_equal(identity_of(m, "d-none/app"),
	                    "app.d-none.serviceaccount.identity.l5d.example.org");
	mp_model_free(m);
}

/* Decides input (JSON) against m and returns the decision as JSON (the caller frees it). */
static json_t *decide_json(mp_model *m, const char *input, mp_engine **e)
{
	mp_diags d = {0};
	json_error_t je;
	json_t *in = json_loads(input, 0, &je);
	mp_request r;
	mp_header h[MP_REQUEST_MAX_HEADERS];
	char err[256];
	mp_decision dec;
	assert_non_null(in);
	assert_non_null(*e = mp_engine_new(m, NULL));
	mp_evaluator *ev = mp_evaluator_new(*e, NULL, &d);
	assert_non_null(ev);
	assert_int_equal(mp_request_from_json(in, &r, h, err, sizeof(err)), 0);
	mp_decide(ev, &r, &dec, NULL);
	json_t *out = mp_decision_json(*e, &dec, "test");
	mp_evaluator_free(ev);
	json_decref(in);
	mp_diags_free(&d);
	return out;
}

/* The cluster settings on the command line win over the ConfigMap and the chart. */
static void test_options(void **state)
{
	(void)state;
	const char *files[] = {"cluster-base.yaml", "config-all-unauthenticated.yaml"};
	const mp_provider_setting opts[] = {
	    {"linkerd", "default-inbound-policy", "cluster-authenticated"},
	    {"linkerd", "cluster-networks", "10.20.0.0/16"}};
	mp_compile_opts o = {.provider_opts = opts, .nprovider_opts = 2};
	mp_engine *e;
	mp_model *m = compile_files(files, 2, &o);
	assert_non_null(m);
	json_t *out =
	    decide_json(m,
	                "{\"destination\": {\"service\": \"shop/cart\", \"port\": 8080}, "
	                "\"source\": {\"principal\": \"a.b.serviceaccount.identity.linkerd."
	                "cluster.local\", \"ip\": \"10.1.2.3\"}}",
	                &e);
	json_t *r = json_array_get(json_object_get(out, "reasons"), 0);
	assert_string_equal(json_string_value(json_object_get(out, "effect")), "not_permitted");
	assert_string_equal(json_string_value(json_object_get(r, "policy")),
	                    "meshpol compile --default-inbound-policy (proxy.defaultInboundPolicy: "
	                    "cluster-authenticated)");
	assert_string_equal(json_string_value(json_object_get(r, "rule")),
	                    "default:cluster-authenticated");
	json_decref(out);
	mp_engine_release(e); /* frees m */
	/* a bad option is an error of the compile */
	const mp_provider_setting bad[] = {{"linkerd", "default-inbound-policy", "dny"}};
	mp_compile_opts ob = {.provider_opts = bad, .nprovider_opts = 1};
	mp_diags d = {0};
	char path[256];
	snprintf(path, sizeof(path), "%s/%s", DIR, files[0]);
	const char *p = path;
	assert_null(mp_compile(&p, 1, &ob, &d));
	char *text = diags_text(&d);
	assert_non_null(strstr(text, "--default-inbound-policy: unknown value 'dny' (did you mean "
	                             "'deny'?)"));
	free(text);
	mp_diags_free(&d);
}

/* A mirrored service is the remote cluster's: its cluster, its pods, its identity. */
static void test_mirror(void **state)
{
	(void)state;
	const char *files[] = {"mc/west/cluster.yaml", "mc/west/mesh.yaml", "mc/east/cluster.yaml",
	                       "mc/east/mesh.yaml"};
	mp_model *m = compile_files(files, 4, NULL);
	assert_non_null(m);
	mp_model_view v = mp_model_get_view(m);
	mp_id mirror = mp_model_find_service(m, "mc-demo/bb-east");
	mp_id east = mp_model_find_cluster(m, "east");
	const mp_id *ws;
	assert_int_not_equal(mirror, MP_NONE);
	assert_int_equal(v.services[mirror].clusters.n, 1);
	assert_int_equal(v.u32[v.services[mirror].clusters.off], east);
	assert_int_equal(mp_model_workloads_of_service(m, mirror, &ws), 1);
	assert_int_equal(v.workloads[ws[0]].cluster, east);
	assert_string_equal(mp_model_str(m, v.workloads[ws[0]].name), "bb");
	assert_string_equal(identity_of(m, "mc-demo/bb-east"),
	                    "bb.mc-demo.serviceaccount.identity.linkerd.cluster.local");
	mp_model_free(m);
}

/* HTTPRoutes with a Service parent and ServiceProfiles are the model's routes. */
static void test_outbound_routes(void **state)
{
	(void)state;
	const char *files[] = {"outbound.yaml"};
	mp_model *m = compile_files(files, 1, NULL);
	assert_non_null(m);
	mp_model_view v = mp_model_get_view(m);
	assert_int_equal(v.nroutes, 4); /* orders-route: the ServiceProfile wins */
	const mp_route *canary = route_named(m, "shop/api-split:rules[0]");
	assert_non_null(canary);
	assert_int_equal(canary->match.path_kind, MP_PATH_PREFIX);
	assert_string_equal(mp_model_str(m, canary->match.path), "/v2");
	assert_int_equal(canary->match.headers.n, 1);
	assert_string_equal(mp_model_str(m, v.labels[canary->match.headers.off].key), "x-canary");
	assert_int_equal(canary->retry_attempts, 3);
	const mp_route *split = route_named(m, "shop/api-split:rules[1]");
	assert_non_null(split);
	assert_int_equal(split->dests.n, 2);
	assert_int_equal(v.targets[split->dests.off].weight, 90);
	assert_int_equal(v.targets[split->dests.off + 1].weight, 10);
	assert_int_equal(split->timeout_ms, 2000);
	const mp_route *get = route_named(m, "shop/orders.shop.svc.cluster.local:routes[0]");
	assert_non_null(get);
	assert_int_equal(get->match.path_kind, MP_PATH_REGEX);
	assert_int_equal(get->match.methods, MP_METHOD_GET);
	const mp_route *post = route_named(m, "shop/orders.shop.svc.cluster.local:routes[1]");
	assert_non_null(post);
	assert_int_equal(post->match.methods, MP_METHOD_POST);
	assert_int_equal(post->timeout_ms, 300);
	assert_int_equal(post->retry_attempts, 1);
	assert_int_equal(count_findings(m, "BackendNotFound"), 1);
	mp_model_free(m);
}

/* Linkerd's regular expressions: RE2's syntax, as the regex crate reads it (RE2 evaluates them,
 * engine/regex.h); what either refuses, or RE2 would read otherwise, is refused. */
static void test_regex(void **state)
{
	(void)state;
	static const char *const good[] = {
	    "/files/[0-9]+", "\\d+",    "[\\d_]x",     "(?:a|b)c", "a\\.b\\/c", "\\S+\\W",
	    "prod|staging",  "a*?",     "(?i)x",       "\\bword",  "[\\D]",     "[[:alpha:]]+",
	    "[]a]",          "[a-z-]+", "(?P<v>v\\d)", "\\pL+",
	};
	static const char *const bad[][2] = {
	    {"[a-", "missing ]"},
	    {"(a)\\1", "invalid escape sequence: \\1"},
	    {"a(?=b)", "invalid perl operator"},
	    {"(?x) a b", "invalid perl operator"},
	    {"[a[bc]]", "a class inside a class"},
	    {"[a-z&&[^aeiou]]", "class set operations"},
	    {"[0-9--5]", "class set operations"},
	    {"\\<word\\>", "word boundaries"},
	    {"\\b{start}x", "word boundaries"},
	    {"\\Q.\\E", "which the regex crate refuses"},
	};
	char err[256];
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		if (mp_linkerd_regex(good[i], err, sizeof(err)) != 0)
			fprintf(stderr, "%s: %s\n", good[i], err);
		assert_int_equal(mp_linkerd_regex(good[i], err, sizeof(err)), 0);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(mp_linkerd_regex(bad[i][0], err, sizeof(err)), -1);
		if (!strstr(err, bad[i][1]))
			fprintf(stderr, "%s: %s\n", bad[i][0], err);
		assert_non_null(strstr(err, bad[i][1]));
	}
}

/* The explanation shows Linkerd's steps: the server, the route, each authorization. */
static void test_explain(void **state)
{
	(void)state;
	mp_evaluator *ev = casetable_engine_for("booksapp", NULL);
	assert_non_null(ev);
	json_t *in = json_loads("{\"destination\": {\"service\": \"booksapp/authors\", \"port\": "
	                        "7001}, \"source\": {\"ip\": \"10.42.0.7\"}, \"request\": "
	                        "{\"method\": \"GET\", \"path\": \"/authors.json\"}}",
	                        0, NULL);
	mp_request r;
	mp_header h[MP_REQUEST_MAX_HEADERS];
	char err[256];
	mp_decision d;
	json_t *ex = json_array();
	assert_int_equal(mp_request_from_json(in, &r, h, err, sizeof(err)), 0);
	mp_decide(ev, &r, &d, ex);
	static const char *const steps[][3] = {
	    {"linkerd.server", "Server booksapp/authors-server", "port 7001"},
	    {"linkerd.route", "HTTPRoute booksapp/authors-get-route", "route:authors-get-route"},
	    {"linkerd.authorization", "AuthorizationPolicy booksapp/authors-get-policy",
	     "route:authors-get-route"},
	    {"linkerd.authorization", "AuthorizationPolicy booksapp/ns-monitoring",
	     "route:authors-get-route"},
	};
	assert_int_equal(json_array_size(ex), 4);
	for (size_t i = 0; i < 4; i++) {
		json_t *o = json_array_get(ex, i);
		assert_string_equal(json_string_value(json_object_get(o, "type")), steps[i][0]);
		assert_string_equal(json_string_value(json_object_get(o, "policy")), steps[i][1]);
		assert_string_equal(json_string_value(json_object_get(o, "rule")), steps[i][2]);
	}
	/* the route's own policy wants a MeshTLS identity: why it did not admit */
	assert_non_null(strstr(json_string_value(json_object_get(json_array_get(ex, 2), "why")),
	                       "requires an identity"));
	assert_true(json_is_true(json_object_get(json_array_get(ex, 3), "matched")));
	json_decref(ex);
	json_decref(in);
}

/* A model whose stored Linkerd resource was altered by hand is refused at snapshot load. */
static void test_crafted(void **state)
{
	(void)state;
	const char *files[] = {"booksapp/apps.yaml", "booksapp/policy.yaml"};
	mp_model *m = compile_files(files, 2, NULL);
	assert_non_null(m);
	uint32_t ids[2] = {0x7fffffff, 1}; /* a label key that is no string of the model */
	mp_resource r = {.kind = mp_model_intern(m, "Server", 6),
	                 .api = mp_model_intern(m, "policy.linkerd.io/v1beta3", 25),
	                 .ns = mp_model_intern(m, "booksapp", 8),
	                 .name = mp_model_intern(m, "crafted", 7),
	                 .spec = mp_model_intern(m, "{\"podSelector\": {}, \"port\": 80}", 31),
	                 .cluster = MP_NONE,
	                 .aux = {mp_model_push_u32(m, ids, 2), 2}};
	assert_int_not_equal(mp_model_add_resource(m, &r), MP_NONE);
	assert_int_equal(mp_model_finish(m), 0);
	char err[512];
	mp_lkauthz *a = NULL;
	assert_int_equal(mp_lkauthz_compile(m, &a, err, sizeof(err)), -1);
	assert_null(a);
	assert_non_null(strstr(err, "Server booksapp/crafted: a label that is not a string"));
	assert_null(mp_engine_new(m, NULL)); /* frees m */
}

/* Every allocation of a Linkerd import and of its compiled state failing in turn: NULL and an
 * error, never a crash or (under make check) a leak. */
static void test_allocation_failures(void **state)
{
	(void)state;
	const char *src[] = {DIR "/booksapp",          DIR "/grpc.yaml",
	                     DIR "/outbound.yaml",     DIR "/audit.yaml",
	                     DIR "/cluster-base.yaml", DIR "/config-audit.yaml",
	                     DIR "/annotations.yaml"};
	assert_true(allocation_failures_ok(src, sizeof(src) / sizeof(src[0])));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_corpus),
	    cmocka_unit_test(test_findings),
	    cmocka_unit_test(test_bad_input),
	    cmocka_unit_test(test_identities),
	    cmocka_unit_test(test_options),
	    cmocka_unit_test(test_mirror),
	    cmocka_unit_test(test_outbound_routes),
	    cmocka_unit_test(test_regex),
	    cmocka_unit_test(test_explain),
	    cmocka_unit_test(test_crafted),
	    cmocka_unit_test(test_allocation_failures),
	};
	return casetable_main("linkerd", DIR, tests, sizeof(tests) / sizeof(tests[0]));
}
