/* test_consul.c: engine/providers/consul/, Consul's service mesh. The semantics table is data:
 * tests/data/import/consul/cases.json (scenario files + request + expected effect and the
 * deciding entry and rule, each citing the Consul source or docs it checks), run by
 * casetable.h. Then the corpus (../shared/corpus/consul) with pinned counts, the CRD and the
 * config-entry forms of the same entries making one model, Consul's refusals as errors at
 * file:line:col, routes from discovery chains, identities, options and the analyzers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "alloc.h"
#include "casetable.h"
#include "testutil.h"

#define DIR "tests/data/import/consul"

/* --- the corpus: consul-k8s' acceptance fixtures --- */

static void test_corpus(void **state)
{
	(void)state;
	mp_diags d = {0};
	mp_model *m = compile_corpus("consul", &d);
	assert_non_null(m);
	assert_int_equal(d.errors, 0);
	mp_model_view v = mp_model_get_view(m);
	assert_int_equal(v.nclusters, 1);
	assert_int_equal(v.nnamespaces, 1);
	assert_int_equal(v.nservices, 0); /* no Kubernetes objects in the fixtures */
	assert_int_equal(v.nroutes, 0);   /* every chain names services the model lacks */
	assert_int_equal(count_kind(m, "ServiceIntentions"), 12);
	assert_int_equal(count_kind(m, "ServiceDefaults"), 4);
	assert_int_equal(count_kind(m, "ServiceResolver"), 2);
	assert_int_equal(count_kind(m, "ServiceRouter"), 1);
	assert_int_equal(count_kind(m, "ConsulConfig"), 1);
	assert_int_equal(v.nfindings, 31);
	assert_int_equal(count_findings(m, "ConsulIntentionUnknownService"), 28);
	assert_int_equal(count_findings(m, "ConsulRouteUnknownTarget"), 3); /* bar, dc2, ns2 */
	assert_int_equal(count_findings(m, "ConsulL7PermissionsOnTCP"), 0); /* svc1 is http */
	mp_model_free(m);
	mp_diags_free(&d);
}

/* --- the two forms of one entry make one model --- */

static const char *sv(const mp_model *m, mp_str s)
{
	return mp_model_str(m, s);
}

/* Everything but where each element came from (file and line) is the same. */
static void test_forms_agree(void **state)
{
	(void)state;
	const char *crd[] = {DIR "/mesh.yaml", DIR "/acl-deny.yaml", DIR "/equiv-crd.yaml"};
	const char *json[] = {DIR "/mesh.yaml", DIR "/acl-deny.yaml", DIR "/equiv-entries.json",
	                      DIR "/equiv-db.json"};
	mp_diags d1 = {0}, d2 = {0};
	mp_model *a = compile_paths(crd, 3, NULL, &d1), *b = compile_paths(json, 4, NULL, &d2);
	assert_non_null(a);
	assert_non_null(b);
	mp_model_view va = mp_model_get_view(a), vb = mp_model_get_view(b);
	assert_int_equal(va.nservices, vb.nservices);
	assert_int_equal(va.nworkloads, vb.nworkloads);
	assert_int_equal(va.nroutes, vb.nroutes);
	assert_int_equal(va.nfindings, vb.nfindings);
	assert_int_equal(va.nresources, vb.nresources);
	for (uint32_t i = 0; i < va.nresources; i++) {
		const mp_resource *x = &va.resources[i], *y = &vb.resources[i];
		assert_string_equal(sv(a, x->kind), sv(b, y->kind));
		assert_string_equal(sv(a, x->api), sv(b, y->api));
		assert_string_equal(sv(a, x->ns), sv(b, y->ns));
		assert_string_equal(sv(a, x->name), sv(b, y->name));
		assert_string_equal(sv(a, x->version), sv(b, y->version));
		assert_string_equal(sv(a, x->spec), sv(b, y->spec));
		assert_int_equal(x->cluster, y->cluster);
		assert_int_equal(x->aux.n, y->aux.n);
	}
	for (uint32_t i = 0; i < va.nservices; i++) {
		assert_string_equal(sv(a, va.services[i].name), sv(b, vb.services[i].name));
		assert_string_equal(sv(a, va.services[i].identity), sv(b, vb.services[i].identity));
		assert_int_equal(va.services[i].mtls, vb.services[i].mtls);
	}
	mp_model_free(a);
	mp_model_free(b);
	mp_diags_free(&d1);
	mp_diags_free(&d2);
}

/* --- Consul's refusals: errors at the field, naming the nearest valid one --- */

typedef struct {
	const char *doc, *error;
} bad_doc;

#define SI(dest, body)                                                                             \
	"apiVersion: consul.hashicorp.com/v1alpha1\nkind: ServiceIntentions\nmetadata: {name: "    \
	"x}\n"                                                                                     \
	"spec:\n  destination: {name: " dest "}\n  sources:\n" body

#define SI2(dest, body)                                                                            \
	"apiVersion: consul.hashicorp.com/v1alpha1\nkind: ServiceIntentions\nmetadata: {name: "    \
	"y}\n"                                                                                     \
	"spec:\n  destination: {name: " dest "}\n  sources:\n" body

static const bad_doc bad_docs[] = {
    {SI("api",
        "  - name: web\n    permissions:\n    - action: allow\n      http: {pathExcat: /x}\n"),
     "b.yaml:10:14: ServiceIntentions default/x: spec.sources[0].permissions[0].http: unknown "
     "field 'pathExcat' (did you mean 'pathExact'?)"},
    {SI("api", "  - {name: \"we*\", action: allow}\n"),
     "b.yaml:7:12: ServiceIntentions default/x: name 'we*': a wildcard cannot be used with "
     "partial values"},
    {SI("api", "  - {name: web, namespace: \"*\", action: allow}\n"),
     "b.yaml:7:12: ServiceIntentions default/x: sources[0]: exact value cannot follow "
     "wildcard namespace"},
    {SI("api",
        "  - {name: web, action: allow, permissions: [{action: deny, http: {pathPrefix: /a}}]}\n"),
     "b.yaml:7:5: ServiceIntentions default/x: sources[0]: action and permissions are "
     "mutually exclusive"},
    {SI("api", "  - {name: web, permissions: [{action: allow, http: {pathPrefix: admin}}]}\n"),
     "b.yaml:7:66: ServiceIntentions default/x: sources[0].permissions[0].http.pathPrefix "
     "'admin' must begin with a '/'"},
    {SI("api", "  - {name: web, permissions: [{action: allow, http: {header: [{name: x, exact: a, "
               "prefix: b}]}}]}\n"),
     "b.yaml:7:63: ServiceIntentions default/x: sources[0].permissions[0].http.header[0] should "
     "only contain one of present, exact, prefix, suffix, contains or regex"},
    {SI("api", "  - {name: web, permissions: [{action: allow, http: {methods: [FETCH]}}]}\n"),
     "ServiceIntentions default/x: sources[0].permissions[0].http.methods[0]: invalid method "
     "'FETCH'"},
    {SI("api", "  - {name: web, permissions: [{action: allow, http: {pathRegex: \"/(a\"}}]}\n"),
     "b.yaml:7:65: ServiceIntentions default/x: pathRegex '/(a' is not an RE2 regular "
     "expression: missing ): /(a"},
    {SI("api", "  - {name: web, action: allow}\n  - {name: web, action: deny}\n"),
     "b.yaml:8:5: ServiceIntentions default/x: sources[1] defines 'web' more than once"},
    {SI("\"*\"", "  - {name: web, permissions: [{action: allow, http: {pathPrefix: /a}}]}\n"),
     "b.yaml:7:30: ServiceIntentions default/x: sources[0]: permissions cannot be specified on "
     "intentions with wildcarded destinations"},
    {SI("api", "  - {name: web, action: permit}\n"),
     "b.yaml:7:25: ServiceIntentions default/x: sources[0].action must be allow or deny, not "
     "'permit'"},
    {SI("api", "  - {name: web, peer: p, partition: q, action: allow}\n"),
     "ServiceIntentions default/x: sources[0]: peer cannot be set with partition"},
    {"apiVersion: consul.hashicorp.com/v1alpha1\nkind: ServiceDefaults\nmetadata: {name: x}\n"
     "spec: {protocl: http}\n",
     "b.yaml:4:8: ServiceDefaults default/x: spec: unknown field 'protocl' (did you mean "
     "'protocol'?)"},
    {"apiVersion: consul.hashicorp.com/v1alpha1\nkind: ServiceDefaults\nmetadata: {name: x}\n"
     "spec: {protocol: udp}\n",
     "b.yaml:4:18: ServiceDefaults default/x: protocol must be tcp, http, http2 or grpc, not "
     "'udp'"},
    {"apiVersion: consul.hashicorp.com/v1alpha1\nkind: ServiceSplitter\nmetadata: {name: x}\n"
     "spec: {splits: [{weight: 150}]}\n",
     "b.yaml:4:26: ServiceSplitter default/x: splits[0].weight is 150, outside 0..100"},
    {"apiVersion: consul.hashicorp.com/v1alpha1\nkind: ServiceResolver\nmetadata: {name: x}\n"
     "spec: {connectTimeout: soon}\n",
     "b.yaml:4:24: ServiceResolver default/x: spec.connectTimeout must be a duration such as "
     "15s, 1m30s or 250ms, not 'soon'"},
    {"apiVersion: consul.hashicorp.com/v1alpha1\nkind: ServiceResolver\nmetadata: {name: x}\n"
     "spec: {defaultSubset: v9}\n",
     "b.yaml:4:23: ServiceResolver default/x: defaultSubset 'v9' is not a valid subset"},
    {"apiVersion: consul.hashicorp.com/v1alpha1\nkind: ProxyDefaults\nmetadata: {name: mine}\n"
     "spec: {}\n",
     "b.yaml:3:18: ProxyDefaults default/mine: a ProxyDefaults must be named 'global', not "
     "'mine'"},
    {"apiVersion: consul.hashicorp.com/v1alpha1\nkind: ServiceRouter\nmetadata: {name: x}\n"
     "spec: {routes: [{match: {http: {pathPrefix: /a, pathExact: /b}}}]}\n",
     "ServiceRouter default/x: routes[0].match.http: at most one of pathExact, pathPrefix and "
     "pathRegex"},
    /* the config-entry form: Consul's CamelCase names in the messages */
    {"[{\"Kind\": \"service-intentions\", \"Name\": \"api\", \"Sources\": [{\"Name\": \"web\", "
     "\"Action\": \"allow\", \"Permisions\": []}]}]\n",
     "b.yaml:1:95: ServiceIntentions default/api: Sources[0]: unknown field 'Permisions' (did "
     "you mean 'Permissions'?)"},
    {"{\"Kind\": \"service-intentions\", \"Name\": \"api\", \"Destination\": {\"Name\": \"x\"}, "
     "\"Sources\": "
     "[{\"Name\": \"web\", \"Action\": \"allow\"}]}\n",
     "ServiceIntentions default/api: unknown field 'Destination'"},
    {"[{\"Kind\": \"service-defaults\"}]\n", "b.yaml:1:2: missing required field 'Name'"},
    {"[{\"Kind\": \"service-defaults\", \"Name\": \"a\"}, 7]\n",
     "b.yaml:1:45: a config entry must be a mapping with a 'Kind', not a scalar"},
    /* two entries for one destination: Consul keeps one */
    {SI("api", "  - {name: web, action: allow}\n") "---\n" SI2("api",
                                                               "  - {name: db, action: allow}\n"),
     "b.yaml:9:1: ServiceIntentions default/y: ServiceIntentions default/api is also defined by "
     "ServiceIntentions default/x at b.yaml:1: Consul keeps one ServiceIntentions entry per name"},
};

static void test_bad_documents(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(bad_docs) / sizeof(bad_docs[0]); i++) {
		mp_diags d = {0};
		mp_model *m =
		    mp_compile_string("b.yaml", bad_docs[i].doc, strlen(bad_docs[i].doc), &d);
		char *t = diags_text(&d);
		if (m || !strstr(t, bad_docs[i].error))
			fprintf(stderr, "document %zu: want '%s'\ngot:\n%s", i, bad_docs[i].error,
			        t);
		assert_null(m);
		assert_non_null(strstr(t, bad_docs[i].error));
		free(t);
		mp_diags_free(&d);
	}
}

/* Unknown kinds of the group, and unknown config entry kinds, are notes. */
static void test_unknown_kinds(void **state)
{
	(void)state;
	static const char yaml[] =
	    "apiVersion: consul.hashicorp.com/v1alpha1\nkind: JWTProvider\nmetadata: {name: j}\n"
	    "spec: {}\n---\n"
	    "[{\"Kind\": \"jwt-provider\", \"Name\": \"okta\"}, {\"Kind\": \"service-defaults\", "
	    "\"Name\": \"api\", \"Protocol\": \"http\"}]\n"
	    /* named as the chart names them, but no server.json: an application's */
	    "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: app-server-config}\ndata: "
	    "{app.conf: x}\n";
	mp_diags d = {0};
	mp_model *m = mp_compile_string("n.yaml", yaml, strlen(yaml), &d);
	char *t = diags_text(&d);
	assert_non_null(m);
	assert_non_null(
	    strstr(t, "n.yaml:2:7: note: skipped kind 'JWTProvider' (apiVersion "
	              "consul.hashicorp.com/v1alpha1): meshpol does not import this kind"));
	assert_non_null(
	    strstr(t, "n.yaml:6:11: note: skipped config entry of Kind 'jwt-provider'"));
	assert_non_null(strstr(t, "n.yaml:9:7: note: skipped kind 'ConfigMap' (apiVersion v1)"));
	assert_int_equal(count_kind(m, "ServiceDefaults"), 1);
	free(t);
	mp_model_free(m);
	mp_diags_free(&d);
}

/* --- what the import makes --- */

static const char *cluster_of(const mp_model *m, const mp_target *t)
{
	mp_model_view v = mp_model_get_view(m);
	return t->cluster == MP_NONE ? "-" : mp_model_str(m, v.clusters[t->cluster].name);
}

/* payments' chain (scenario routing): the router's route, then the catch-all through the
 * splitter and the resolver's failover to dc2; a redirect-only resolver. */
static void test_routes(void **state)
{
	(void)state;
	const char *paths[] = {DIR "/routing"};
	mp_diags d = {0};
	mp_model *m = compile_paths(paths, 1, NULL, &d);
	assert_non_null(m);
	mp_model_view v = mp_model_get_view(m);
	const mp_route *r = route_named(m, "default/payments:routes[0]<-default/checkout@dc1");
	assert_non_null(r);
	assert_int_equal(r->match.path_kind, MP_PATH_PREFIX);
	assert_string_equal(mp_model_str(m, r->match.path), "/refunds");
	assert_int_equal(r->dests.n, 1);
	assert_string_equal(mp_model_str(m, v.services[v.targets[r->dests.off].id].name),
	                    "refunds");
	r = route_named(m, "default/payments:default<-default/checkout@dc1");
	assert_non_null(r);
	assert_int_equal(r->dests.n, 2);
	const mp_target *t = &v.targets[r->dests.off];
	assert_int_equal(t[0].weight, 90);
	assert_string_equal(mp_model_str(m, t[0].subset), "v1");
	assert_string_equal(cluster_of(m, &t[0]), "dc1");
	assert_int_equal(t[1].weight, 10);
	assert_string_equal(mp_model_str(m, t[1].subset), "v2");
	assert_int_equal(r->failover.n, 2);
	t = &v.targets[r->failover.off];
	assert_string_equal(cluster_of(m, &t[0]), "dc2");
	assert_string_equal(mp_model_str(m, t[0].subset), "v1");
	assert_string_equal(cluster_of(m, &t[1]), "dc2");
	r = route_named(m, "default/legacy-payments:default@dc1");
	assert_non_null(r);
	assert_int_equal(r->source, MP_NONE);
	assert_int_equal(r->dests.n, 1);
	t = &v.targets[r->dests.off];
	assert_string_equal(mp_model_str(m, v.services[t->id].name), "payments");
	assert_string_equal(mp_model_str(m, t->subset), "v1"); /* payments' default subset */
	assert_int_equal(r->failover.n, 1);
	assert_int_equal(v.nroutes, 4);
	mp_model_free(m);
	mp_diags_free(&d);
}

/* Identities name the Consul service; --trust-domain sets their trust domain. */
static void test_identities(void **state)
{
	(void)state;
	const char *paths[] = {DIR "/mesh.yaml", DIR "/acl-deny.yaml", DIR "/permissive.yaml"};
	mp_compile_opts o = {.trust_domain = "c0ffee00-0000-4000-8000-000000000001.consul"};
	mp_diags d = {0};
	mp_model *m = compile_paths(paths, 3, &o, &d);
	assert_non_null(m);
	mp_model_view v = mp_model_get_view(m);
	mp_id api = mp_model_find_service(m, "default/api");
	assert_string_equal(mp_model_str(m, v.services[api].identity),
	                    "spiffe://c0ffee00-0000-4000-8000-000000000001.consul/ns/default/dc/"
	                    "dc1/svc/api");
	assert_int_equal(v.services[api].mtls, MP_MTLS_STRICT);
	mp_id legacy = mp_model_find_service(m, "default/legacy");
	assert_int_equal(v.services[legacy].mtls, MP_MTLS_PERMISSIVE);
	assert_string_equal(
	    mp_model_str(m,
	                 v.services[api].ports.n ? v.ports[v.services[api].ports.off].protocol : 0),
	    "tcp"); /* no ServiceDefaults here: Consul's default, whatever the port's name */
	/* a principal resolves to its service */
	assert_int_equal(
	    mp_model_find_service_by_identity(
	        m,
	        "spiffe://c0ffee00-0000-4000-8000-000000000001.consul/ns/default/dc/dc1/svc/web"),
	    mp_model_find_service(m, "default/web"));
	mp_model_free(m);
	mp_diags_free(&d);
}

/* Decides r: the effect is effect and the first reason names rule (and policy, unless NULL). */
static void expect_decision(mp_engine *e, mp_evaluator *ev, const mp_request *r, uint32_t effect,
                            const char *policy, const char *rule)
{
	mp_decision dec;
	mp_reason_text t;
	char buf[600];
	mp_decide(ev, r, &dec, NULL);
	mp_decision_reason(e, &dec, 0, 0, &t, buf, sizeof(buf));
	if (dec.effect != effect || (rule && strcmp(t.rule, rule)) ||
	    (policy && strcmp(t.policy, policy)))
		fprintf(stderr, "%s -> %s: effect %u, %s %s\n", r->src_service, r->dst_service,
		        dec.effect, t.policy, t.rule);
	assert_int_equal(dec.effect, effect);
	if (rule)
		assert_string_equal(t.rule, rule);
	if (policy)
		assert_string_equal(t.policy, policy);
}

/* The provider's options: the intention default and the namespace mapping. */
static void test_options(void **state)
{
	(void)state;
	const char *paths[] = {DIR "/mesh.yaml", DIR "/acl-off.yaml"};
	const mp_provider_setting set[] = {{"consul", "default-intention-policy", "deny"}};
	mp_compile_opts o = {.provider_opts = set, .nprovider_opts = 1};
	mp_diags d = {0};
	mp_model *m = compile_paths(paths, 2, &o, &d);
	assert_non_null(m);
	mp_engine *e = mp_engine_new(m, NULL);
	assert_non_null(e);
	mp_evaluator *ev = mp_evaluator_new(e, NULL, &d);
	mp_request r = {.src_service = "web", .dst_service = "default/catalog"};
	/* ACLs off, but the option denies */
	expect_decision(e, ev, &r, MP_EFFECT_NOT_PERMITTED,
	                "option consul.default-intention-policy", "default_intention_policy:deny");
	mp_evaluator_free(ev);
	mp_engine_release(e);
	mp_diags_free(&d);
}

/* A destination whose intentions require a JWT refuses HTTP requests without one; a peer
 * reaches only what ExportedServices exports to it. */
static void test_jwt_and_peers(void **state)
{
	(void)state;
	static const char yaml[] =
	    "apiVersion: v1\nkind: Service\nmetadata: {name: api}\nspec: {ports: [{port: "
	    "80}]}\n---\n"
	    "apiVersion: consul.hashicorp.com/v1alpha1\nkind: ServiceDefaults\nmetadata: {name: "
	    "api}\n"
	    "spec: {protocol: http}\n---\n"
	    "apiVersion: consul.hashicorp.com/v1alpha1\nkind: ServiceIntentions\nmetadata: {name: "
	    "a}\n"
	    "spec:\n  destination: {name: api}\n  jwt: {providers: [{name: okta}]}\n  sources:\n"
	    "  - {name: web, action: allow}\n  - {name: web, peer: partner, action: allow}\n---\n"
	    "apiVersion: consul.hashicorp.com/v1alpha1\nkind: ExportedServices\n"
	    "metadata: {name: default}\nspec: {services: [{name: api, consumers: [{peer: "
	    "partner}]}]}\n";
	mp_diags d = {0};
	mp_model *m = mp_compile_string("j.yaml", yaml, strlen(yaml), &d);
	assert_non_null(m);
	mp_engine *e = mp_engine_new(m, NULL);
	mp_evaluator *ev = mp_evaluator_new(e, NULL, &d);
	json_t *auth = json_object();
	static const struct {
		const char *peer;
		int auth;
		uint32_t effect;
		const char *rule;
	} rows[] = {
	    {NULL, 0, MP_EFFECT_NOT_PERMITTED, "jwt"},
	    {NULL, 1, MP_EFFECT_ALLOWED, NULL}, /* no ConfigMap: ACLs off, the default allows */
	    {"partner", 1, MP_EFFECT_ALLOWED, "sources[1]"},
	    {"stranger", 1, MP_EFFECT_NOT_PERMITTED, "not-exported"},
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		mp_request r = {.src_service = "web",
		                .src_peer = rows[i].peer,
		                .dst_service = "api",
		                .method = "GET",
		                .path = "/",
		                .auth = rows[i].auth ? auth : NULL};
		expect_decision(e, ev, &r, rows[i].effect, NULL, rows[i].rule);
	}
	json_decref(auth);
	mp_evaluator_free(ev);
	mp_engine_release(e);
	mp_diags_free(&d);
}

/* Every analyzer of the audit scenario, at its entry's line. */
static void test_findings(void **state)
{
	(void)state;
	const char *paths[] = {DIR "/audit-mesh.yaml", DIR "/acl-off.yaml", DIR "/audit.yaml"};
	mp_diags d = {0};
	mp_model *m = compile_paths(paths, 3, NULL, &d);
	assert_non_null(m);
	static const struct {
		const char *code;
		uint32_t n;
	} want[] = {
	    {"ConsulIntentionUnknownService", 2},
	    {"ConsulL7PermissionsOnTCP", 1},
	    {"ConsulShadowedIntention", 1},
	    {"ConsulRouteUnknownTarget", 3},
	    {"ConsulSplitWeights", 1},
	    {"ConsulDefaultAllow", 1},
	    {"ConsulPrecedenceRBACConflict", 0},
	};
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		if (count_findings(m, want[i].code) != want[i].n)
			fprintf(stderr, "%s: %u, want %u\n", want[i].code,
			        count_findings(m, want[i].code), want[i].n);
		assert_int_equal(count_findings(m, want[i].code), want[i].n);
	}
	mp_model_view v = mp_model_get_view(m);
	for (uint32_t i = 0; i < v.nfindings; i++) {
		const mp_import_finding *f = &v.findings[i];
		char where[600];
		mp_model_loc_str(m, f->loc, where, sizeof(where));
		if (!strcmp(mp_model_str(m, f->code), "ConsulShadowedIntention"))
			assert_string_equal(where, DIR "/audit.yaml:74");
		if (!strcmp(mp_model_str(m, f->code), "ConsulSplitWeights"))
			assert_non_null(
			    strstr(mp_model_str(m, f->text),
			           "the sum of all split weights must be 100, not 95.000000"));
	}
	mp_model_free(m);
	mp_diags_free(&d);
	/* the two conflict scenarios */
	const char *conflict[] = {DIR "/mesh.yaml", DIR "/acl-deny.yaml",
	                          DIR "/conflict-deny.yaml"};
	m = compile_paths(conflict, 3, NULL, &d);
	assert_non_null(m);
	assert_int_equal(count_findings(m, "ConsulPrecedenceRBACConflict"), 1);
	mp_model_free(m);
	mp_diags_free(&d);
}

/* Every allocation of a Consul compile, and of the snapshot that compiles its intentions,
 * failing in turn: NULL and an error each time, never a crash or (under make check) a leak. */
static const char oom_mesh[] =
    "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: consul-server-config, namespace: consul}\n"
    "data:\n  server.json: '{\"datacenter\": \"dc1\"}'\n"
    "  acl-config.json: '{\"acl\": {\"enabled\": true, \"default_policy\": \"deny\"}}'\n---\n"
    "apiVersion: v1\nkind: Service\nmetadata: {name: api}\nspec: {selector: {app: api}, ports: "
    "[{port: 80}]}\n---\n"
    "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: api}\nspec: {template: {metadata: "
    "{labels: {app: api}}, spec: {serviceAccountName: api}}}\n---\n"
    "apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec: {selector: {app: web}, ports: "
    "[{port: 80}]}\n---\n"
    "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec: {template: {metadata: "
    "{labels: {app: web}}, spec: {serviceAccountName: web}}}\n---\n"
    "apiVersion: consul.hashicorp.com/v1alpha1\nkind: ServiceIntentions\nmetadata: {name: a}\n"
    "spec:\n  destination: {name: api}\n  sources:\n  - name: web\n    permissions:\n"
    "    - {action: allow, http: {pathRegex: \"/v[0-9]+\", header: [{name: x, regex: \"a.*\"}]}}\n"
    "  - {name: \"*\", action: deny}\n---\n"
    "apiVersion: consul.hashicorp.com/v1alpha1\nkind: ServiceRouter\nmetadata: {name: api}\n"
    "spec: {routes: [{match: {http: {pathPrefix: /a}}, destination: {service: web}}]}\n---\n"
    "apiVersion: consul.hashicorp.com/v1alpha1\nkind: ServiceResolver\nmetadata: {name: api}\n"
    "spec: {defaultSubset: v1, subsets: {v1: {filter: x}}, failover: {'*': {datacenters: "
    "[dc2]}}}\n---\n"
    "[{\"Kind\": \"service-defaults\", \"Name\": \"api\", \"Protocol\": \"http\"}, "
    "{\"Kind\": \"service-splitter\", \"Name\": \"web\", \"Splits\": [{\"Weight\": 100}]}]\n";

static void test_out_of_memory(void **state)
{
	(void)state;
	int failures = 0;
	for (long n = 0;; n++) {
		mp_diags d = {0};
		mp_alloc_fail_after(n);
		mp_model *m = mp_compile_string("oom.yaml", oom_mesh, sizeof(oom_mesh) - 1, &d);
		mp_alloc_fail_after(-1);
		if (!m)
			assert_true(d.errors > 0);
		mp_diags_free(&d);
		if (m) {
			mp_model_free(m);
			break;
		}
		failures++;
		assert_true(n < 100000);
	}
	assert_true(failures > 50);
	mp_diags d = {0};
	mp_model *m = mp_compile_string("oom.yaml", oom_mesh, sizeof(oom_mesh) - 1, &d);
	assert_non_null(m);
	assert_int_equal(count_kind(m, "ServiceIntentions"), 1);
	mp_model_free(m);
	for (long n = 0;; n++) {
		m = mp_compile_string("oom.yaml", oom_mesh, sizeof(oom_mesh) - 1, &d);
		assert_non_null(m);
		mp_alloc_fail_after(n);
		mp_engine *e = mp_engine_new(m, NULL); /* frees m when it fails */
		mp_alloc_fail_after(-1);
		if (e) {
			mp_engine_release(e);
			break;
		}
		assert_true(n < 100000);
	}
	mp_diags_free(&d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_corpus),        cmocka_unit_test(test_forms_agree),
	    cmocka_unit_test(test_bad_documents), cmocka_unit_test(test_unknown_kinds),
	    cmocka_unit_test(test_routes),        cmocka_unit_test(test_identities),
	    cmocka_unit_test(test_options),       cmocka_unit_test(test_findings),
	    cmocka_unit_test(test_jwt_and_peers), cmocka_unit_test(test_out_of_memory),
	};
	return casetable_main("consul", DIR, tests, sizeof(tests) / sizeof(tests[0]));
}
