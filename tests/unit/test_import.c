/* test_import.c: engine/import*.c: Kubernetes and Istio resources into the model. The Istio
 * corpus (../shared/corpus/istio: bookinfo and the security samples) compiles with pinned
 * counts, and bookinfo's decisions under the security samples are Istio's (each row says why);
 * then the mapping rules, the findings, the errors and notes, the options, multi-cluster
 * imports with locality, the .mpm round trip and allocation failures. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "alloc.h"
#include "audit.h"
#include "compile.h"
#include "decide.h"
#include "luamodel.h"
#include "provider.h"
#include "sandbox.h"
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define DATA "tests/data/import"

static char corpus[1024];

/* The corpus lives in the shared folder beside the clone; its absence is a failure. */
static const char *istio_corpus(void)
{
	const char *c = shared_corpus("istio", corpus, sizeof(corpus));
	assert_non_null(c);
	return c;
}

/* --- the corpus --- */

typedef struct {
	const char *name;
	const char *paths[6]; /* relative to the corpus */
	uint32_t clusters, namespaces, services, routes, externals, workloads, policies, findings;
	uint32_t replaced, skipped;
} corpus_row;

static const corpus_row corpus_rows[] = {
    {"bookinfo", {"bookinfo"}, 1, 2, 5, 11, 1, 6, 0, 7, 23, 0},
    {"security", {"security"}, 1, 2, 3, 0, 0, 3, 5, 17, 0, 0},
    {"whole corpus", {"bookinfo", "security"}, 1, 3, 8, 11, 1, 9, 5, 24, 23, 0},
};

static void test_corpus(void **state)
{
	(void)state;
	const char *root = istio_corpus();
	for (size_t r = 0; r < sizeof(corpus_rows) / sizeof(corpus_rows[0]); r++) {
		const corpus_row *row = &corpus_rows[r];
		char bufs[6][1100];
		const char *paths[6];
		size_t n = 0;
		for (; n < 6 && row->paths[n]; n++) {
			snprintf(bufs[n], sizeof(bufs[n]), "%s/%s", root, row->paths[n]);
			paths[n] = bufs[n];
		}
		mp_diags d = {0};
		mp_model *m = compile_paths(paths, n, NULL, &d);
		assert_non_null(m);
		mp_model_view v = mp_model_get_view(m);
		uint32_t got[] = {v.nclusters,
		                  v.nnamespaces,
		                  v.nservices,
		                  v.nroutes,
		                  v.nexternals,
		                  v.nworkloads,
		                  count_kind(m, "AuthorizationPolicy"),
		                  v.nfindings,
		                  count_notes(&d, "replaces the one at"),
		                  count_notes(&d, "skipped")};
		uint32_t want[] = {row->clusters,  row->namespaces, row->services, row->routes,
		                   row->externals, row->workloads,  row->policies, row->findings,
		                   row->replaced,  row->skipped};
		for (size_t k = 0; k < sizeof(got) / sizeof(got[0]); k++) {
			if (got[k] != want[k])
				fprintf(stderr, "%s: count %zu is %u, pinned %u\n", row->name, k,
				        got[k], want[k]);
			assert_int_equal(got[k], want[k]);
		}
		assert_int_equal(d.errors, 0);
		mp_model_free(m);
		mp_diags_free(&d);
	}
}

/* What the whole corpus says, element by element. */
static void test_corpus_details(void **state)
{
	(void)state;
	char bi[1100], sec[1100];
	snprintf(bi, sizeof(bi), "%s/bookinfo", istio_corpus());
	snprintf(sec, sizeof(sec), "%s/security", corpus);
	const char *paths[] = {bi, sec};
	mp_diags d = {0};
	mp_model *m = compile_paths(paths, 2, NULL, &d);
	assert_non_null(m);
	mp_model_view v = mp_model_get_view(m);
	mp_id reviews = mp_model_find_service(m, "default/reviews");
	assert_int_not_equal(reviews, MP_NONE);
	assert_string_equal(mp_model_str(m, v.services[reviews].identity),
	                    "spiffe://cluster.local/ns/default/sa/bookinfo-reviews");
	const mp_id *ws;
	assert_int_equal(mp_model_workloads_of_service(m, reviews, &ws), 3); /* v1, v2, v3 */
	/* the last reviews VirtualService wins: virtual-service-reviews-v3.yaml */
	uint32_t k;
	for (k = 0;
	     k < v.nroutes && strcmp(mp_model_str(m, v.routes[k].name), "default/reviews:http[0]");
	     k++)
		;
	assert_true(k < v.nroutes);
	assert_int_equal(v.routes[k].dests.n, 1);
	assert_string_equal(mp_model_str(m, v.targets[v.routes[k].dests.off].subset), "v3");
	/* the ingress gateway stands in for istio-ingressgateway */
	mp_id gw = mp_model_find_service(m, "istio-system/istio-ingressgateway");
	assert_int_not_equal(gw, MP_NONE);
	for (k = 0; k < v.nroutes && v.routes[k].source != gw; k++)
		;
	assert_true(k < v.nroutes);
	/* httpbin is PERMISSIVE (workload-level PeerAuthentication), the rest unset */
	assert_int_equal(v.services[mp_model_find_service(m, "default/httpbin")].mtls,
	                 MP_MTLS_PERMISSIVE);
	assert_int_equal(v.services[reviews].mtls, MP_MTLS_UNSET);
	/* Istio's analyzers: bookinfo's two dangling references, and the security samples'
	 * namespaces no Namespace document declares (istioctl reports even "*" then) */
	assert_int_equal(count_findings(m, "ReferencedResourceNotFound"), 12);
	assert_int_equal(count_findings(m, "NoMatchingWorkloadsFound"), 5); /* no pod in the mesh */
	assert_int_equal(count_findings(m, "UnsupportedCondition"), 1);
	mp_model_free(m);
	mp_diags_free(&d);
}

/* --- bookinfo under the security samples: Istio's decisions --- */

typedef struct {
	const char *name;
	const char *files[5]; /* relative to the corpus; "bookinfo" is the directory */
	const char *input, *effect, *policy, *rule, *why;
} decision_row;

#define FROM(svc) "\"source\": {\"service\": \"" svc "\", \"namespace\": \"default\"}"
#define TO(svc)                                                                                    \
	"\"destination\": {\"service\": \"" svc "\", \"namespace\": \"default\", \"port\": 9080}"
#define GET(path) "\"request\": {\"method\": \"GET\", \"path\": \"" path "\"}"
#define CLAIM     "\"auth\": {\"claims\": {\"iss\": \"https://accounts.google.com\"}}"
#define BI        "bookinfo"
#define AUTHZ_A   "security/authz-a.yaml"
#define AUTHZ_V   "security/authz-valid.yaml"
#define SAMPLE    "security/security-v1-AuthorizationPolicy.yaml"
#define APPS      "security/httpbin.yaml", "security/sleep.yaml", "security/curl.yaml"

static const decision_row decision_rows[] = {
    {"no AuthorizationPolicy: Istio allows",
     {BI},
     "{" FROM("productpage") ", " TO("reviews") ", " GET("/reviews/0") "}",
     "allowed",
     NULL,
     NULL,
     "with no policy on a workload Istio's authorization allows every request"},
    {"no policy, plaintext caller",
     {BI},
     "{" TO("ratings") ", " GET("/ratings/0") "}",
     "allowed",
     NULL,
     NULL,
     "no PeerAuthentication: PERMISSIVE accepts plaintext, and nothing authorizes"},
    {"authz-a: deny-policy denies every HTTP request in default",
     {BI, AUTHZ_A},
     "{" FROM("productpage") ", " TO("reviews") ", " GET("/reviews/0") "}",
     "forbidden",
     "AuthorizationPolicy default/deny-policy",
     "rules[0]",
     "deny-policy has no selector, so it applies to every workload of default; methods [*] "
     "matches any method; DENY is evaluated before allow-policy's ALLOW"},
    {"authz-a: TCP is denied too",
     {BI, AUTHZ_A},
     "{" FROM("reviews") ", " TO("ratings") "}",
     "forbidden",
     "AuthorizationPolicy default/deny-policy",
     "rules[0]",
     "methods is HTTP-only: on TCP Istio drops it from a DENY rule, which then matches all"},
    {"authz-a: the ingress gateway is in istio-system, out of reach",
     {BI, AUTHZ_A},
     "{\"destination\": {\"service\": \"istio-system/istio-ingressgateway\"}, " GET("/") "}",
     "allowed",
     NULL,
     NULL,
     "default is not the root namespace: its policies stay in default"},
    {"authz-valid: the namespace-wide ALLOW governs bookinfo",
     {BI, AUTHZ_V},
     "{" FROM("productpage") ", " TO("reviews") ", " GET("/reviews/0") "}",
     "not_permitted",
     "AuthorizationPolicy default/service-account-and-namespace-principal-split",
     "no-rule-matched",
     "the ALLOW policy without selector applies to all of default; productpage is neither "
     "baz/sa nor default/sa, its principal is not 'bar' and its namespace not 'bar'"},
    {"authz-valid: from namespace bar",
     {BI, AUTHZ_V},
     "{\"source\": {\"principal\": \"spiffe://cluster.local/ns/bar/sa/client\"}, " TO(
         "reviews") ", " GET("/") "}",
     "allowed",
     "AuthorizationPolicy default/service-account-and-namespace-principal-split",
     "rules[0]",
     "namespaces [bar] matches the namespace of the peer identity"},
    {"authz-valid: principal 'bar'",
     {BI, AUTHZ_V},
     "{\"source\": {\"principal\": \"bar\"}, " TO("details") ", " GET("/") "}",
     "allowed",
     "AuthorizationPolicy default/service-account-and-namespace-principal-split",
     "rules[0]",
     "principals [bar] is an exact match on the peer identity"},
    {"authz-valid: service account sa of the policy's namespace",
     {BI, AUTHZ_V},
     "{\"source\": {\"principal\": \"spiffe://cluster.local/ns/default/sa/sa\"}, " TO(
         "ratings") ", " GET("/") "}",
     "allowed",
     "AuthorizationPolicy default/service-account-and-namespace-principal-split",
     "rules[0]",
     "serviceAccounts [sa] means default/sa: the policy's namespace"},
    {"authz-valid: service account baz/sa",
     {BI, AUTHZ_V},
     "{\"source\": {\"principal\": \"spiffe://cluster.local/ns/baz/sa/sa\"}, " TO(
         "ratings") ", " GET("/") "}",
     "allowed",
     "AuthorizationPolicy default/service-account-and-namespace-principal-split",
     "rules[0]",
     "serviceAccounts [baz/sa]"},
    {"sample policy selects httpbin only",
     {BI, SAMPLE, APPS},
     "{" FROM("productpage") ", " TO("reviews") ", " GET("/reviews/0") "}",
     "allowed",
     NULL,
     NULL,
     "authorization-policy selects app=httpbin,version=v1; reviews has no policy"},
    {"sample policy: sleep, GET /info*, a Google JWT",
     {BI, SAMPLE, APPS},
     "{" FROM("sleep") ", \"destination\": {\"service\": \"default/httpbin\"}, \"request\": "
                       "{\"method\": \"GET\", \"path\": \"/info/x\", " CLAIM "}}",
     "allowed",
     "AuthorizationPolicy default/authorization-policy",
     "rules[0]",
     "principal cluster.local/ns/default/sa/sleep, GET on a /info prefix, iss matches"},
    {"sample policy: no JWT",
     {BI, SAMPLE, APPS},
     "{" FROM("sleep") ", \"destination\": {\"service\": \"default/httpbin\"}, " GET("/info") "}",
     "not_permitted",
     "AuthorizationPolicy default/authorization-policy",
     "no-rule-matched",
     "the when condition needs request.auth.claims[iss]"},
    {"sample policy: curl is not sleep and not in namespace test",
     {BI, SAMPLE, APPS},
     "{" FROM("curl") ", \"destination\": {\"service\": \"default/httpbin\"}, \"request\": "
                      "{\"method\": \"GET\", \"path\": \"/info\", " CLAIM "}}",
     "not_permitted",
     "AuthorizationPolicy default/authorization-policy",
     "no-rule-matched",
     "neither source matches curl"},
    {"sample policy: POST /data",
     {BI, SAMPLE, APPS},
     "{" FROM("sleep") ", \"destination\": {\"service\": \"default/httpbin\"}, \"request\": "
                       "{\"method\": \"POST\", \"path\": \"/data\", " CLAIM "}}",
     "allowed",
     "AuthorizationPolicy default/authorization-policy",
     "rules[0]",
     "the second operation: POST /data"},
    {"sample policy: DELETE /data",
     {BI, SAMPLE, APPS},
     "{" FROM("sleep") ", \"destination\": {\"service\": \"default/httpbin\"}, \"request\": "
                       "{\"method\": \"DELETE\", \"path\": \"/data\", " CLAIM "}}",
     "not_permitted",
     "AuthorizationPolicy default/authorization-policy",
     "no-rule-matched",
     "no operation allows DELETE"},
    {"every security sample at once: DENY wins",
     {BI, "security"},
     "{" FROM("productpage") ", " TO("reviews") ", " GET("/reviews/0") "}",
     "forbidden",
     "AuthorizationPolicy default/deny-policy",
     "rules[0]",
     "deny-policy applies to all of default and is evaluated before any ALLOW"},
    {"every security sample at once: even the sample's allowed request",
     {BI, "security"},
     "{" FROM("sleep") ", \"destination\": {\"service\": \"default/httpbin\"}, \"request\": "
                       "{\"method\": \"GET\", \"path\": \"/info\", " CLAIM "}}",
     "forbidden",
     "AuthorizationPolicy default/deny-policy",
     "rules[0]",
     "DENY before ALLOW"},
};

static void test_bookinfo_decisions(void **state)
{
	(void)state;
	const char *root = istio_corpus();
	for (size_t r = 0; r < sizeof(decision_rows) / sizeof(decision_rows[0]); r++) {
		const decision_row *row = &decision_rows[r];
		char bufs[5][1100];
		const char *paths[5];
		size_t n = 0;
		for (; n < 5 && row->files[n]; n++) {
			snprintf(bufs[n], sizeof(bufs[n]), "%s/%s", root, row->files[n]);
			paths[n] = bufs[n];
		}
		mp_diags d = {0};
		mp_model *m = compile_paths(paths, n, NULL, &d);
		assert_non_null(m);
		mp_engine *e = mp_engine_new(m, NULL);
		mp_evaluator *ev = mp_evaluator_new(e, NULL, &d);
		json_error_t je;
		json_t *in = json_loads(row->input, 0, &je);
		if (!in)
			fprintf(stderr, "%s: %s\n", row->name, je.text);
		assert_non_null(in);
		mp_request req;
		mp_header h[MP_REQUEST_MAX_HEADERS];
		char err[256];
		assert_int_equal(mp_request_from_json(in, &req, h, err, sizeof(err)), 0);
		mp_decision dec;
		mp_decide(ev, &req, &dec, NULL);
		json_t *out = mp_decision_json(e, &dec, "t");
		int ok = !strcmp(mp_effect_name(dec.effect), row->effect);
		if (row->policy) {
			size_t i;
			json_t *rs;
			int found = 0;
			json_array_foreach(json_object_get(out, "reasons"), i, rs)
			{
				found |= !strcmp(json_string_value(json_object_get(rs, "policy")),
				                 row->policy) &&
				         !strcmp(json_string_value(json_object_get(rs, "rule")),
				                 row->rule);
			}
			ok &= found;
		}
		if (!ok) {
			char *t = json_dumps(out, JSON_INDENT(1));
			fprintf(stderr, "'%s' (%s): want %s\n%s\n", row->name, row->why,
			        row->effect, t);
			free(t);
		}
		json_decref(out);
		json_decref(in);
		mp_evaluator_free(ev);
		mp_engine_release(e);
		mp_diags_free(&d);
		assert_true(ok);
	}
}

/* --- the mapping --- */

static mp_model *mesh(mp_diags *d)
{
	const char *p = DATA "/mesh";
	return compile_paths(&p, 1, NULL, d);
}

static const mp_service *svc(const mp_model *m, const char *ref)
{
	mp_id id = mp_model_find_service(m, ref);
	if (id == MP_NONE)
		fprintf(stderr, "no service %s\n", ref);
	assert_int_not_equal(id, MP_NONE);
	return &mp_model_get_view(m).services[id];
}

static int has_data(const mp_model *m, const mp_service *s, const char *cls)
{
	mp_model_view v = mp_model_get_view(m);
	for (uint32_t i = 0; i < s->data.n; i++)
		if (!strcmp(mp_model_str(m, v.u32[s->data.off + i]), cls))
			return 1;
	return 0;
}

static const mp_route *route(const mp_model *m, const char *name)
{
	mp_model_view v = mp_model_get_view(m);
	for (uint32_t i = 0; i < v.nroutes; i++)
		if (!strcmp(mp_model_str(m, v.routes[i].name), name))
			return &v.routes[i];
	fprintf(stderr, "no route %s\n", name);
	fail();
	return NULL;
}

static void test_kubernetes(void **state)
{
	(void)state;
	mp_diags d = {0};
	mp_model *m = mesh(&d);
	assert_non_null(m);
	mp_model_view v = mp_model_get_view(m);
	/* the implicit cluster takes its region and zone from the Nodes */
	assert_int_equal(v.nclusters, 1);
	assert_string_equal(mp_model_str(m, v.clusters[0].name), "kubernetes");
	assert_string_equal(mp_model_str(m, v.clusters[0].region), "eu-west-1");
	assert_string_equal(mp_model_str(m, v.clusters[0].zone), ""); /* two zones */
	const mp_service *web = svc(m, "shop/web");
	assert_string_equal(mp_model_str(m, web->identity),
	                    "spiffe://cluster.local/ns/shop/sa/web");
	assert_string_equal(mp_model_str(m, web->owner), "web-team"); /* the pod's annotation */
	assert_true(has_data(m, web, "pii"));                         /* the namespace's */
	assert_int_equal(web->ports.n, 4);
	static const char *const protos[] = {"http", "grpc", "tcp", "https"};
	for (uint32_t i = 0; i < 4; i++)
		assert_string_equal(mp_model_str(m, v.ports[web->ports.off + i].protocol),
		                    protos[i]);
	const mp_service *api = svc(m, "shop/api");
	assert_int_equal(api->identity, 0); /* two service accounts */
	assert_int_equal(
	    mp_model_find_service_by_identity(m, "spiffe://cluster.local/ns/shop/sa/api-canary"),
	    mp_model_find_service(m, "shop/api")); /* through its workload */
	const mp_service *cards = svc(m, "billing/cards");
	assert_string_equal(mp_model_str(m, cards->identity),
	                    "spiffe://cluster.local/ns/billing/sa/default");
	assert_true(has_data(m, cards, "pci") && has_data(m, cards, "cardholder") &&
	            has_data(m, cards, "pan"));
	assert_int_equal(cards->mtls, MP_MTLS_STRICT);   /* namespace-level PeerAuthentication */
	assert_int_equal(web->mtls, MP_MTLS_PERMISSIVE); /* mesh-level */
	assert_int_equal(api->mtls, MP_MTLS_PERMISSIVE); /* v2's UNSET inherits the mesh's */
	assert_int_equal(svc(m, "shop/manual")->mtls,
	                 MP_MTLS_PERMISSIVE); /* PeerAuthentication wins */
	const mp_id *ws;
	assert_int_equal(
	    mp_model_workloads_of_service(m, mp_model_find_service(m, "billing/cards"), &ws), 1);
	assert_string_equal(mp_model_str(m, v.workloads[ws[0]].kind), "StatefulSet");
	assert_int_equal(v.nworkloads, 5); /* web, api-v1, api-v2, cards, debug; not cards-0 */
	assert_int_not_equal(mp_model_find_namespace(m, "default"), MP_NONE);
	mp_id legacy = mp_model_find_external(m, "shop/legacy");
	assert_int_not_equal(legacy, MP_NONE);
	assert_string_equal(mp_model_str(m, v.externals[legacy].host), "legacy.example.com");
	assert_int_equal(count_findings(m, "MultipleServiceAccounts"), 1);
	assert_int_equal(count_findings(m, "PortNameIsNotUnderNamingConvention"), 1);
	/* notes: WorkloadEntry (known group, unknown kind) and cert-manager (unknown group) */
	assert_int_equal(count_notes(&d, "meshpol does not import this kind"), 1);
	assert_int_equal(count_notes(&d, "meshpol imports Kubernetes"), 1);
	assert_int_equal(d.errors, 0);
	mp_model_free(m);
	mp_diags_free(&d);
}

static void test_istio(void **state)
{
	(void)state;
	mp_diags d = {0};
	mp_model *m = mesh(&d);
	assert_non_null(m);
	mp_model_view v = mp_model_get_view(m);
	mp_id gw = mp_model_find_service(m, "istio-system/istio-ingressgateway");
	const mp_route *r =
	    route(m, "shop/shop-ingress:http[0]<-istio-system/istio-ingressgateway");
	assert_int_equal(r->source, gw);
	assert_int_equal(r->match.path_kind, MP_PATH_PREFIX);
	assert_string_equal(mp_model_str(m, r->match.path), "/api/");
	r = route(m, "shop/api:http[0]");
	assert_int_equal(r->source, MP_NONE);
	assert_int_equal(r->match.methods, MP_METHOD_POST);
	assert_int_equal(r->match.path_kind, MP_PATH_EXACT);
	assert_int_equal(r->match.headers.n, 1); /* the exact one; the prefix one is not kept */
	assert_string_equal(mp_model_str(m, v.labels[r->match.headers.off].key), "x-canary");
	assert_int_equal(r->fault_abort_status, 503);
	assert_int_equal(r->fault_abort_permille, 125);
	r = route(m, "shop/api:http[1]");
	assert_int_equal(r->dests.n, 2);
	assert_int_equal(v.targets[r->dests.off].weight, 90);
	assert_string_equal(mp_model_str(m, v.targets[r->dests.off + 1].subset), "v2");
	assert_int_equal(r->timeout_ms, 2000);
	assert_int_equal(r->retry_attempts, 3);
	assert_int_equal(r->per_try_timeout_ms, 500);
	assert_int_equal(r->mirrors.n, 1);
	assert_int_equal(v.targets[r->mirrors.off].id, mp_model_find_service(m, "shop/web"));
	r = route(m, "billing/cards-tcp:tcp[0]<-shop/api");
	assert_int_equal(r->source, mp_model_find_service(m, "shop/api"));
	route(m, "billing/cards-tcp:tls[0]");
	r = route(m, "billing/payments-out:http[0]<-billing/cards");
	assert_int_equal(v.targets[r->dests.off].kind, MP_TARGET_EXTERNAL);
	mp_id stripe = mp_model_find_external(m, "api.stripe.com");
	assert_string_equal(mp_model_str(m, v.externals[stripe].region), "eu-central-1");
	assert_int_equal(v.externals[stripe].jurisdiction, mp_model_find_jurisdiction(m, "EU"));
	mp_id mail = mp_model_find_external(m, "smtp.mail.example");
	assert_string_equal(mp_model_str(m, v.externals[mail].region), "us-east-1");
	assert_int_equal(v.externals[mail].jurisdiction, MP_NONE);
	assert_int_not_equal(mp_model_find_service(m, "billing/db.internal"), MP_NONE);
	/* every Istio document stays as a resource; the settings too */
	assert_int_equal(count_kind(m, "VirtualService"), 4);
	assert_int_equal(count_kind(m, "Sidecar"), 1);
	assert_int_equal(count_kind(m, "MeshConfig"), 1);
	mp_model_free(m);
	mp_diags_free(&d);
}

/* Every finding of findings/all.yaml, in order: code, line, subject. */
static void test_findings(void **state)
{
	(void)state;
	static const struct {
		const char *code;
		uint32_t line;
		const char *subject, *text;
	} want[] = {
	    {"VirtualServiceIneffectiveMatch", 86, "VirtualService lab/unreachable",
	     "[IST0131] VirtualService rule #1 match #0 is not used"},
	    {"VirtualServiceUnreachableRule", 86, "VirtualService lab/unreachable",
	     "rule #1 not used (all matches used by prior rules)"},
	    {"VirtualServiceIneffectiveMatch", 89, "VirtualService lab/unreachable",
	     "rule \"mixed\" match #0"},
	    {"VirtualServiceUnreachableRule", 92, "VirtualService lab/unreachable",
	     "rule #4 not used (only the last rule can have no matches)"},
	    {"ReferencedResourceNotFound", 135, "Sidecar lab/nobody",
	     "[IST0101] Referenced selector not found: \"app=ghost\""},
	    {"ConflictingSidecarWorkloadSelectors", 153, "Sidecar lab/a-one",
	     "[a-one a-two] in namespace \"lab\" select the same workload pod \"a\""},
	    {"ConflictingSidecarWorkloadSelectors", 159, "Sidecar lab/a-two",
	     "[a-one a-two] in namespace \"lab\" select the same workload pod \"a\""},
	    {"MultipleSidecarsWithoutWorkloadSelectors", 139, "Sidecar lab/first",
	     "[first second]"},
	    {"MultipleSidecarsWithoutWorkloadSelectors", 145, "Sidecar lab/second",
	     "[first second]"},
	    {"ConflictingMeshGatewayVirtualServiceHosts", 63, "VirtualService lab/a-one",
	     "The VirtualServices lab/a-one,lab/a-two associated with mesh gateway define the same "
	     "host */svc-a.lab.svc.cluster.local"},
	    {"ConflictingMeshGatewayVirtualServiceHosts", 71, "VirtualService lab/a-two",
	     "The VirtualServices lab/a-one,lab/a-two"},
	    {"ReferencedResourceNotFound", 41, "VirtualService lab/dangling",
	     "Referenced host not found: \"no-such-host\""},
	    {"ReferencedResourceNotFound", 42, "VirtualService lab/dangling",
	     "Referenced host+subset in destinationrule not found: \"svc-a+no-such-subset\""},
	    {"ReferencedResourceNotFound", 38, "VirtualService lab/dangling",
	     "Referenced gateway not found: \"no-such-gateway\""},
	    {"VirtualServiceHostNotFoundInGateway", 38, "VirtualService lab/dangling",
	     "host [dangling.lab.svc.cluster.local] defined in VirtualService lab/dangling not "
	     "found "
	     "in Gateway lab/no-such-gateway"},
	    {"VirtualServiceHostNotFoundInGateway", 111, "VirtualService lab/wrong-host",
	     "host [b.example.com]"},
	    {"NoMatchingWorkloadsFound", 117, "AuthorizationPolicy lab/nobody",
	     "labels: app=ghost"},
	    {"PeerAuthenticationNoMatchingWorkloads", 128, "PeerAuthentication lab/nobody",
	     "app=ghost,tier=x"},
	    {"UnknownDestinationRuleHost", 45, "DestinationRule lab/ghost",
	     "[IST0174] The host ghost defined in the DestinationRule"},
	    {"MTLSPolicyConflict", 52, "DestinationRule lab/plaintext-a",
	     "mTLS must be false but the Policy object \"lab/strict-a\" specifies STRICT"},
	    {"CustomActionNotSupported", 164, "AuthorizationPolicy lab/ext", "provider opa"},
	    {"UnsupportedCondition", 174, "AuthorizationPolicy lab/ext",
	     "experimental.envoy.filters.http.opa[result]"},
	};
	const char *p = DATA "/findings/all.yaml";
	mp_diags d = {0};
	mp_model *m = compile_paths(&p, 1, NULL, &d);
	assert_non_null(m);
	mp_model_view v = mp_model_get_view(m);
	for (uint32_t i = 0; v.nfindings != sizeof(want) / sizeof(want[0]) && i < v.nfindings; i++)
		fprintf(stderr, "finding %s %u %s: %s\n", mp_model_str(m, v.findings[i].code),
		        v.findings[i].loc.line, mp_model_str(m, v.findings[i].subject),
		        mp_model_str(m, v.findings[i].text));
	assert_int_equal(v.nfindings, sizeof(want) / sizeof(want[0]));
	for (uint32_t i = 0; i < v.nfindings; i++) {
		const mp_import_finding *f = &v.findings[i];
		assert_string_equal(mp_model_str(m, f->code), want[i].code);
		assert_int_equal(f->loc.line, want[i].line);
		assert_string_equal(mp_model_str(m, f->subject), want[i].subject);
		assert_non_null(strstr(mp_model_str(m, f->text), want[i].text));
	}
	mp_model_free(m);
	mp_diags_free(&d);
}

/* --- errors and notes --- */

static const struct {
	const char *yaml, *message;
} errors[] = {
    {"apiVersion: v1\nkind: Service\nmetadata: {namespace: x}\n",
     "t.yaml:3:11: missing required field 'name'"},
    {"apiVersion: v1\nkind: Service\nmetadata: [a]\n",
     "t.yaml:3:11: Service: 'metadata' must be a mapping"},
    {"apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec: [1]\n",
     "t.yaml:4:7: Service default/s: 'spec' must be a mapping, not a list"},
    {"apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec:\n  ports:\n  - port: 70000\n",
     "t.yaml:6:11: Service default/s: 'port' is 70000, outside 1..65535"},
    {"apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec:\n  template:\n    "
     "spec: {serviceAccountName: [x]}\n",
     "t.yaml:6:32: Deployment default/d: 'serviceAccountName' must be a string, not a list"},
    {"apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: v}\nspec:\n  "
     "hosts: [a]\n  htp: []\n",
     "t.yaml:6:3: VirtualService default/v: spec: unknown field 'htp' (did you mean 'http'?)"},
    {"apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: v}\nspec:\n  "
     "hosts: [a]\n  zzz: []\n",
     "t.yaml:6:3: VirtualService default/v: spec: unknown field 'zzz'\n"},
    {"apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: v}\nspec:\n  "
     "hosts: [a]\n  http:\n  - timeout: soon\n    route: [{destination: {host: a}}]\n",
     "t.yaml:7:14: VirtualService default/v: 'timeout' must be a duration"},
    {"apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: v}\nspec:\n  "
     "hosts: [a]\n  http:\n  - route: [{destination: {host: a}, weight: 101}]\n",
     "t.yaml:7:46: VirtualService default/v: 'weight' is 101, outside 0..100"},
    {"apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: r}\nspec:\n  "
     "host: a\n  trafficPolicy: {tls: {mode: MUTUALLY}}\n",
     "t.yaml:6:31: DestinationRule default/r: tls mode must be DISABLE, SIMPLE, MUTUAL or "
     "ISTIO_MUTUAL"},
    {"apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {name: e}\nspec:\n  "
     "hosts: [a.example]\n  location: OUTSIDE\n",
     "t.yaml:6:13: ServiceEntry default/e: location must be MESH_EXTERNAL or MESH_INTERNAL"},
    {"apiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata: {name: g}\nspec:\n  "
     "servers:\n  - port: {name: http}\n    hosts: [a]\n",
     "t.yaml:6:11: Gateway default/g: missing required field 'number'"},
    {"apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: {name: p}\nspec:\n  "
     "mtls: {mode: STRICTER}\n",
     "t.yaml:5:16: PeerAuthentication default/p: mtls mode must be UNSET, DISABLE, PERMISSIVE "
     "or STRICT"},
    {"apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: a}\nspec:\n  "
     "rules:\n  - from:\n    - source:\n        ipBlocks: [\"10.0.0.0/33\"]\n",
     "t.yaml:8:20: AuthorizationPolicy default/a: '10.0.0.0/33' is not an IP address or CIDR "
     "block"},
    {"apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: a}\nspec:\n  "
     "action: ALLOW\n  rules:\n  - when:\n    - key: request.magic\n      values: [x]\n",
     "t.yaml:8:12: AuthorizationPolicy default/a: unknown condition key 'request.magic'"},
    {"apiVersion: networking.istio.io/v1\nkind: Sidecar\nmetadata: {name: s}\nspec:\n  egress:\n  "
     "- hosts: [\"everything\"]\n",
     "t.yaml:6:12: Sidecar default/s: egress host 'everything' must be NAMESPACE/HOST"},
};

static void test_errors(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(errors) / sizeof(errors[0]); i++) {
		mp_diags d = {0};
		mp_model *m =
		    mp_compile_string("t.yaml", errors[i].yaml, strlen(errors[i].yaml), &d);
		char *t = diags_text(&d);
		if (m || !strstr(t, errors[i].message))
			fprintf(stderr, "want '%s', got:\n%s", errors[i].message, t);
		assert_null(m);
		assert_non_null(strstr(t, errors[i].message));
		free(t);
		mp_diags_free(&d);
	}
}

/* The importer turns specs into JSON, walking every alias: anchors that people reuse import as
 * written out, and billion laughs is refused at the alias that passes the expansion limit
 * (compile.c), before any JSON is made. */
static void test_aliases(void **state)
{
	(void)state;
	mp_diags d = {0};
	const char *p = DATA "/aliases/reuse.yaml";
	mp_model *m = compile_paths(&p, 1, NULL, &d);
	assert_non_null(m);
	mp_model_view v = mp_model_get_view(m);
	assert_int_equal(v.nworkloads, 1);
	assert_int_equal(v.workloads[0].labels.n, 2); /* the anchored labels */
	assert_int_equal(v.nroutes, 3);               /* three rules, one aliased destination */
	assert_int_equal(count_kind(m, "VirtualService"), 1);
	for (uint32_t i = 0; i < v.nresources; i++) /* aliases expanded in the stored spec */
		if (!strcmp(mp_model_str(m, v.resources[i].kind), "VirtualService"))
			assert_non_null(strstr(mp_model_str(m, v.resources[i].spec),
			                       "{\"x-region\":{\"exact\":\"eu\"}}"));
	mp_model_free(m);
	mp_diags_free(&d);

	p = DATA "/aliases/billion-laughs.yaml";
	assert_null(mp_compile(&p, 1, NULL, &d));
	assert_int_equal(d.errors, 1);
	char *t = diags_text(&d);
	assert_string_equal(t, DATA
	                    "/aliases/billion-laughs.yaml:16:16: YAML: alias '*e' passes "
	                    "the alias expansion limit: the aliases of this file may add at "
	                    "most 1048576 bytes to it (10 times its size, or 1 MiB if more)\n");
	free(t);
	mp_diags_free(&d);
}

/* One presence mechanism (provider.h): a mesh's `present` answers on the model, from what its
 * importer put there (Linkerd's ConfigMap record, Consul's ConsulConfig), and Istio, the mesh
 * of a Kubernetes-only import, stands down where another mesh is: no MeshConfig record, no
 * defaults. Linkerd and Consul each claim their ConfigMaps (`reads`); others are skipped. */
static void test_presence(void **state)
{
	(void)state;
	static const char k8s[] =
	    "apiVersion: v1\nkind: Service\nmetadata: {name: api}\nspec: {selector: {app: api}, "
	    "ports: [{port: 80}]}\n---\n"
	    "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: api}\nspec: {template: "
	    "{metadata: {labels: {app: api}}, spec: {containers: [{name: a}]}}}\n---\n"
	    "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: app-settings}\n";
	static const char linkerd[] =
	    "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: linkerd-config, namespace: "
	    "linkerd}\ndata: {values: 'proxy: {defaultInboundPolicy: deny}'}\n";
	static const char consul[] =
	    "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: consul-server-config, "
	    "namespace: consul}\ndata:\n  server.json: '{\"datacenter\": \"dc1\"}'\n";
	static const struct {
		const char *name;
		int linkerd, consul;
	} cases[] = {
	    {"Kubernetes alone: Istio's", 0, 0},
	    {"Linkerd's ConfigMap", 1, 0},
	    {"Consul's server ConfigMap", 0, 1},
	    {"both", 1, 1},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char yaml[2048];
		snprintf(yaml, sizeof(yaml), "%s%s%s", k8s, cases[i].linkerd ? linkerd : "",
		         cases[i].consul ? consul : "");
		mp_diags d = {0};
		mp_model *m = mp_compile_string("p.yaml", yaml, strlen(yaml), &d);
		assert_non_null(m);
		char *t = diags_text(&d);
		int other = cases[i].linkerd || cases[i].consul;
		if (!mp_provider_linkerd.present(m) != !cases[i].linkerd ||
		    !mp_provider_consul.present(m) != !cases[i].consul ||
		    mp_providers_other_mesh(m, &mp_provider_istio) != other ||
		    count_kind(m, "MeshConfig") != (uint32_t)!other)
			fprintf(stderr, "%s:\n%s", cases[i].name, t);
		assert_int_equal(!!mp_provider_linkerd.present(m), cases[i].linkerd);
		assert_int_equal(!!mp_provider_consul.present(m), cases[i].consul);
		assert_int_equal(mp_providers_other_mesh(m, &mp_provider_istio), other);
		assert_int_equal(count_kind(m, "MeshConfig"), !other);
		assert_int_equal(count_kind(m, "ConsulConfig"), cases[i].consul);
		/* the settings record: one per cluster, even from the ConfigMap alone */
		assert_int_equal(count_kind(m, "ConfigMap"), cases[i].linkerd);
		assert_int_equal(count_notes(&d, "skipped kind 'ConfigMap'"), 1); /* app-settings */
		assert_false(mp_provider_istio.present(m)); /* no Istio resources */
		free(t);
		mp_model_free(m);
		mp_diags_free(&d);
	}
}

static void test_notes_and_duplicates(void **state)
{
	(void)state;
	static const char yaml[] =
	    "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n---\n"
	    "apiVersion: example.com/v2\nkind: Widget\nmetadata: {name: w}\n---\n"
	    "apiVersion: networking.istio.io/v2\nkind: VirtualService\nmetadata: {name: v}\n---\n"
	    "apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec: {ports: [{port: 1, name: "
	    "a}]}\n---\n"
	    "apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec: {ports: [{port: 2, name: "
	    "http}]}\n";
	mp_diags d = {0};
	mp_model *m = mp_compile_string("n.yaml", yaml, strlen(yaml), &d);
	assert_non_null(m);
	char *t = diags_text(&d);
	assert_non_null(strstr(t, "n.yaml:2:7: note: skipped kind 'ConfigMap' (apiVersion v1)"));
	assert_non_null(strstr(t, "n.yaml:6:7: note: skipped document of kind 'Widget' (apiVersion "
	                          "example.com/v2)"));
	assert_non_null(strstr(t, "n.yaml:9:13: note: skipped VirtualService (apiVersion "
	                          "networking.istio.io/v2): meshpol imports versions v1 v1beta1 "
	                          "v1alpha3 of this group"));
	assert_non_null(
	    strstr(t, "n.yaml:18:1: note: Service default/s: replaces the one at n.yaml:13"));
	free(t);
	/* the later one won */
	const mp_service *s = svc(m, "default/s");
	assert_int_equal(s->ports.n, 1);
	assert_int_equal(mp_model_get_view(m).ports[s->ports.off].port, 2);
	mp_model_free(m);
	mp_diags_free(&d);

	/* a native and an imported Service of the same name */
	static const char clash[] = "kind: Cluster\nname: c\nprovider: x\nregion: r\n---\n"
	                            "kind: Service\nname: s\nnamespace: default\ncluster: c\n---\n"
	                            "apiVersion: v1\nkind: Service\nmetadata: {name: s}\n"
	                            "spec: {ports: [{port: 80, name: http}]}\n";
	mp_diags d2 = {0};
	assert_null(mp_compile_string("c.yaml", clash, strlen(clash), &d2));
	t = diags_text(&d2);
	assert_non_null(
	    strstr(t, "c.yaml:11:1: duplicate Service 'default/s' (first at c.yaml:7)"));
	free(t);
	mp_diags_free(&d2);
}

/* --- documents without apiVersion: one mechanism for the three forms (import_int.h) --- */

static const bad_row form_rows[] = {
    {"a list item that is not a config entry",
     "[{\"Kind\": \"mesh\", \"Name\": \"mesh\"}, {\"apiVersion\": \"v1\", \"Kind\": "
     "\"x\"}]\n",
     "bad.yaml:1:36: a config entry must have a 'Kind' and neither 'apiVersion' nor 'kind'", 1},
    {"a list item that is a scalar", "- {type: Mesh, name: a}\n- 7\n",
     "bad.yaml:2:3: a document must be a mapping with a 'type', not a scalar", 1},
    {"a Universal resource without its name", "type: MeshTrafficPermission\nspec: {}\n",
     "bad.yaml:1:1: missing required field 'name'", 1},
    {"a spec that is not a mapping", "type: MeshTrafficPermission\nname: p\nspec: [1]\n",
     "bad.yaml:3:7: MeshTrafficPermission p: 'spec' must be a mapping, not a list", 1},
    {"a Terraform resource without values",
     "{\"format_version\": \"1.2\", \"values\": {\"root_module\": {\"resources\": "
     "[{\"address\": \"aws_appmesh_mesh.m\", \"mode\": \"managed\", \"type\": "
     "\"aws_appmesh_mesh\", \"name\": \"m\"}]}}}\n",
     "bad.yaml:1:68: aws_appmesh_mesh.m: 'values' must be a mapping, not missing", 1},
    {"a Terraform resource whose values are null",
     "{\"format_version\": \"1.2\", \"values\": {\"root_module\": {\"resources\": "
     "[{\"address\": \"aws_appmesh_mesh.m\", \"mode\": \"managed\", \"type\": "
     "\"aws_appmesh_mesh\", \"values\": null}]}}}\n",
     "aws_appmesh_mesh.m: 'values' must be a mapping, not null", 1},
    {"a data source is never a managed resource",
     "{\"format_version\": \"1.2\", \"values\": {\"root_module\": {\"resources\": "
     "[{\"address\": \"data.aws_appmesh_mesh.m\", \"mode\": \"data\", \"type\": "
     "\"aws_appmesh_mesh\"}]}}}\n",
     "bad.yaml:1:1: note: no App Mesh resources in this document", 0},
    {"a kind of the form only, by apiVersion",
     "apiVersion: terraform/1\nkind: aws_appmesh_mesh\nmetadata: {name: m}\n",
     "bad.yaml:2:7: note: skipped document of kind 'aws_appmesh_mesh' (apiVersion terraform/1)", 0},
    {"a native kind written as a type", "type: Service\nname: x\n",
     "bad.yaml:1:1: document has no 'kind'", 1},
};

/* A resource's mesh (Kuma's scope) is part of its identity: the same name in two meshes is two
 * resources, twice in one mesh the later replaces the earlier. */
static void test_forms(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(form_rows) / sizeof(form_rows[0]); i++)
		assert_true(bad_row_ok(&form_rows[i]));
	static const char yaml[] =
	    "- {type: Mesh, name: a}\n- {type: Mesh, name: b}\n"
	    "- {type: MeshTrafficPermission, name: p, mesh: a, spec: {targetRef: {kind: Mesh}, "
	    "from: [{targetRef: {kind: Mesh}, default: {action: Allow}}]}}\n"
	    "- {type: MeshTrafficPermission, name: p, mesh: b, spec: {targetRef: {kind: Mesh}, "
	    "from: [{targetRef: {kind: Mesh}, default: {action: Allow}}]}}\n"
	    "- {type: MeshTrafficPermission, name: p, mesh: b, spec: {targetRef: {kind: Mesh}, "
	    "from: [{targetRef: {kind: Mesh}, default: {action: Deny}}]}}\n";
	mp_diags d = {0};
	mp_model *m = mp_compile_string("f.yaml", yaml, strlen(yaml), &d);
	assert_non_null(m);
	assert_int_equal(count_kind(m, "Mesh"), 2);
	assert_int_equal(count_kind(m, "MeshTrafficPermission"), 2);
	assert_int_equal(count_notes(&d, "MeshTrafficPermission p: replaces the one at f.yaml:4"),
	                 1);
	mp_model_free(m);
	mp_diags_free(&d);
}

/* --- options and clusters --- */

static void test_options(void **state)
{
	(void)state;
	const char *p = DATA "/authz/base.yaml";
	const mp_provider_setting rootns = {"istio", "root-namespace", "mesh-root"};
	mp_compile_opts o = {.trust_domain = "acme.io",
	                     .provider_opts = &rootns,
	                     .nprovider_opts = 1,
	                     .cluster = "prod-eu",
	                     .cloud = "gcp",
	                     .region = "europe-west1",
	                     .zone = "europe-west1-b"};
	mp_diags d = {0};
	mp_model *m = compile_paths(&p, 1, &o, &d);
	assert_non_null(m);
	mp_model_view v = mp_model_get_view(m);
	assert_int_equal(v.nclusters, 1);
	assert_string_equal(mp_model_str(m, v.clusters[0].name), "prod-eu");
	assert_string_equal(mp_model_str(m, v.clusters[0].provider), "gcp");
	assert_string_equal(mp_model_str(m, v.clusters[0].region), "europe-west1");
	assert_string_equal(mp_model_str(m, v.clusters[0].zone), "europe-west1-b");
	assert_string_equal(mp_model_str(m, svc(m, "foo/httpbin")->identity),
	                    "spiffe://acme.io/ns/foo/sa/httpbin");
	uint32_t k;
	for (k = 0; k < v.nresources && strcmp(mp_model_str(m, v.resources[k].kind), "MeshConfig");
	     k++)
		;
	assert_true(k < v.nresources);
	assert_non_null(
	    strstr(mp_model_str(m, v.resources[k].spec), "\"rootNamespace\":\"mesh-root\""));
	mp_model_free(m);
	mp_diags_free(&d);

	/* several native Clusters and no way to tell which: an error at the document */
	static const char two[] = "kind: Cluster\nname: a\nprovider: x\nregion: r\n---\n"
	                          "kind: Cluster\nname: b\nprovider: x\nregion: r\n---\n"
	                          "apiVersion: v1\nkind: Namespace\nmetadata: {name: n}\n";
	mp_diags d2 = {0};
	assert_null(mp_compile_string("two.yaml", two, strlen(two), &d2));
	char *t = diags_text(&d2);
	assert_non_null(strstr(t, "two.yaml:11:1: Namespace n: which cluster is this in?"));
	free(t);
	mp_diags_free(&d2);
}

static void test_multi_cluster(void **state)
{
	(void)state;
	mp_diags d = {0};
	const char *p = DATA "/multi";
	mp_model *m = compile_paths(&p, 1, NULL, &d);
	assert_non_null(m);
	mp_model_view v = mp_model_get_view(m);
	/* the Cluster document of each directory places its documents */
	assert_int_equal(v.nclusters, 2);
	const mp_service *pay = svc(m, "shop/payments");
	assert_int_equal(pay->clusters.n, 2);
	assert_int_equal(svc(m, "shop/checkout")->clusters.n, 1);
	assert_int_equal(v.nworkloads, 5);
	const mp_route *r = route(m, "shop/payments:http[0]<-shop/checkout@eu");
	assert_int_equal(v.targets[r->dests.off].cluster, MP_NONE);
	assert_true(v.targets[r->dests.off].flags & MP_TARGET_F_LOCALITY_REORDER);
	assert_int_equal(r->failover.n, 1);
	assert_int_equal(v.targets[r->failover.off].cluster, mp_model_find_cluster(m, "us"));
	r = route(m, "shop/ledger:http[0]<-shop/checkout@eu");
	assert_int_equal(r->dests.n, 1);
	assert_int_equal(v.targets[r->dests.off].cluster, mp_model_find_cluster(m, "eu"));
	assert_true(v.targets[r->dests.off].flags & MP_TARGET_F_LOCALITY_DISTRIBUTE);
	assert_int_equal(count_findings(m, "LocalityFailoverLeak"), 1);

	/* the auditor says that failover only reorders endpoints */
	mp_bundle *b = mp_bundle_load(DATA "/bundle", m, "stdlib", &d);
	assert_non_null(b);
	mp_engine *e = mp_engine_new(m, b);
	mp_evaluator *ev = mp_evaluator_new(e, NULL, &d);
	mp_audit_opts o = {.fail_on = MP_ENF_HARD, .now = 1};
	json_t *audit = mp_audit_run(ev, &o);
	assert_non_null(audit);
	size_t i;
	json_t *f;
	int leak = 0, import = 0;
	json_array_foreach(json_object_get(audit, "findings"), i, f)
	{
		const char *msg = json_string_value(json_object_get(f, "message"));
		const char *pol = json_string_value(json_object_get(f, "policy"));
		if (!strcmp(pol, "gdpr") && strstr(msg, "shop/payments") &&
		    strstr(msg, "only reorder endpoints"))
			leak++;
		if (!strcmp(pol, "meshpol.import") &&
		    !strcmp(json_string_value(json_object_get(f, "rule")), "LocalityFailoverLeak"))
			import++;
		assert_true(!strstr(msg, "shop/ledger") || strcmp(pol, "gdpr")); /* distribute */
	}
	assert_int_equal(leak, 1);
	assert_int_equal(import, 1);
	json_decref(audit);
	mp_evaluator_free(ev);
	mp_engine_release(e);
	mp_diags_free(&d);

	/* --cluster-dir names the clusters of directories without a Cluster document */
	mp_cluster_dir dirs[] = {{"west", DATA "/authz"}};
	const char *src[] = {DATA "/authz/base.yaml"};
	mp_compile_opts opts = {.cluster_dirs = dirs, .ncluster_dirs = 1};
	mp_diags d2 = {0};
	m = compile_paths(src, 1, &opts, &d2);
	assert_non_null(m);
	assert_int_not_equal(mp_model_find_cluster(m, "west"), MP_NONE);
	mp_model_free(m);
	mp_diags_free(&d2);
}

/* --- the Lua view of imported configuration --- */

static void test_lua_view(void **state)
{
	(void)state;
	static const char *const checks[] = {
	    "return #mesh:workloads() == 5",
	    "local w = mesh:workloads('billing/cards') return #w == 1 and w[1].kind == "
	    "'StatefulSet' and w[1].identity == 'spiffe://cluster.local/ns/billing/sa/default' and "
	    "w[1].mtls == 'STRICT' and w[1].services[1] == mesh.services['billing/cards']",
	    "local ap = mesh:resources('AuthorizationPolicy') return #ap == 1 and ap[1].name == "
	    "'cards' and ap[1].spec.rules[1].from[1].source.principals[1] == "
	    "'cluster.local/ns/shop/sa/api'",
	    "return #mesh:resources() == 15 and mesh:resources('MeshConfig')[1].spec.trustDomain "
	    "== "
	    "'cluster.local'",
	    "local f, n = mesh:import_findings(), 0 for _, x in ipairs(f) do if x.code == "
	    "'PortNameIsNotUnderNamingConvention' and x.level == 'info' and x.message:sub(1, 10) "
	    "== "
	    "'[IST0118] ' then n = n + 1 end end return #f == 11 and n == 1",
	    "local r = mesh.routes['shop/api:http[0]'] return r.fault.abort_status == 503 and "
	    "r.fault.abort_percent == 12.5 and r.destinations[1].subset == 'v2'",
	};
	mp_diags d = {0};
	mp_model *m = mesh(&d);
	char err[512];
	mp_sandbox *sb = mp_sandbox_new(NULL, err, sizeof(err));
	assert_non_null(m);
	assert_non_null(sb);
	lua_State *L = mp_sandbox_lua(sb);
	mp_lmodel_push(L, m);
	lua_setglobal(L, "mesh");
	for (size_t i = 0; i < sizeof(checks) / sizeof(checks[0]); i++) {
		int rc =
		    mp_sandbox_run(sb, checks[i], strlen(checks[i]), "=check", 1, err, sizeof(err));
		if (rc < 0)
			fail_msg("%s\n  -> %s", checks[i], err);
		if (!lua_toboolean(L, -1))
			fail_msg("%s\n  -> false", checks[i]);
		lua_pop(L, 1);
	}
	mp_sandbox_free(sb);
	mp_model_free(m);
	mp_diags_free(&d);
}

/* --- files --- */

static void test_mpm_round_trip(void **state)
{
	(void)state;
	mp_diags d = {0};
	mp_model *m = mesh(&d);
	assert_non_null(m);
	char path[] = "/tmp/meshpol-import-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
	char err[512];
	assert_int_equal(mp_model_save(m, path, err, sizeof(err)), 0);
	mp_model *l = mp_model_load(path, err, sizeof(err));
	unlink(path);
	if (!l)
		fprintf(stderr, "%s\n", err);
	assert_non_null(l);
	assert_string_equal(mp_model_sha256(m), mp_model_sha256(l));
	mp_model_view a = mp_model_get_view(m), b = mp_model_get_view(l);
	assert_int_equal(a.nworkloads, b.nworkloads);
	assert_int_equal(a.nresources, b.nresources);
	assert_int_equal(a.nfindings, b.nfindings);
	assert_int_equal(
	    mp_model_find_service_by_identity(l, "spiffe://cluster.local/ns/shop/sa/api"),
	    mp_model_find_service(l, "shop/api"));
	/* the policies compile from the loaded model as from the compiled one */
	mp_engine *e = mp_engine_new(l, NULL);
	assert_non_null(e);
	mp_evaluator *ev = mp_evaluator_new(e, NULL, &d);
	json_t *in = json_loads("{\"source\": {\"service\": \"shop/web\"}, \"destination\": "
	                        "{\"service\": \"billing/cards\"}}",
	                        0, NULL);
	mp_request req;
	mp_header h[MP_REQUEST_MAX_HEADERS];
	assert_int_equal(mp_request_from_json(in, &req, h, err, sizeof(err)), 0);
	mp_decision dec;
	mp_decide(ev, &req, &dec, NULL);
	assert_int_equal(dec.effect, MP_EFFECT_NOT_PERMITTED); /* cards allows shop/sa/api only */
	json_decref(in);
	mp_evaluator_free(ev);
	mp_engine_release(e);
	mp_model_free(m);
	mp_diags_free(&d);
}

/* Every allocation of an import failing in turn: NULL and an error, never a crash or a leak. */
static void test_allocation_failures(void **state)
{
	(void)state;
	const char *src[] = {DATA "/mesh", DATA "/findings/all.yaml"};
	for (long n = 0;; n += 7) {
		mp_diags d = {0};
		mp_alloc_fail_after(n);
		mp_model *m = mp_compile(src, 2, NULL, &d);
		mp_engine *e = m ? mp_engine_new(m, NULL) : NULL;
		mp_alloc_fail_after(-1);
		if (!m)
			assert_true(d.errors > 0 || d.dropped > 0);
		mp_engine_release(e);
		mp_diags_free(&d);
		if (e)
			break;
	}
}

int main(void)
{
	setenv("MESHPOL_STDLIB", "stdlib", 1);
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_corpus),
	    cmocka_unit_test(test_corpus_details),
	    cmocka_unit_test(test_bookinfo_decisions),
	    cmocka_unit_test(test_kubernetes),
	    cmocka_unit_test(test_istio),
	    cmocka_unit_test(test_findings),
	    cmocka_unit_test(test_errors),
	    cmocka_unit_test(test_aliases),
	    cmocka_unit_test(test_notes_and_duplicates),
	    cmocka_unit_test(test_forms),
	    cmocka_unit_test(test_presence),
	    cmocka_unit_test(test_options),
	    cmocka_unit_test(test_multi_cluster),
	    cmocka_unit_test(test_lua_view),
	    cmocka_unit_test(test_mpm_round_trip),
	    cmocka_unit_test(test_allocation_failures),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
