/* test_decide.c: engine/decide.c against the bundle in tests/data/bundles/unit: one row per
 * matching form and per step of the combination rule (request, expected effect, deciding rule),
 * then input parsing, explanations, fail-closed `when` functions and the JSON output. */
#include "testutil.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "decide.h"
#include "decide_index.h"
#include "engine.h"
#include "sandbox.h"

#include <lua.h>

#include <stdlib.h>
#include <string.h>

#define DIR "tests/data/bundles/unit"

typedef struct {
	const char *name;
	const char *principal, *dst, *method, *path;
	uint32_t port;
	const char *header, *value; /* one header, or NULL */
	const char *effect;         /* expected effect */
	const char *rule;           /* a rule that must be among the reasons, or NULL */
	const char *src_cluster;    /* source.cluster, or NULL */
} row;

/* Rows leave trailing fields out when they are NULL. */
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

#define P(x) "spiffe://t/ns/" x

static const row rows[] = {
    {"exact principal, method, exact path", P("shop/sa/web"), "billing/pay", "POST", "/v1/charge",
     0, NULL, NULL, "allowed", "web-charges"},
    {"prefix path", P("shop/sa/web"), "billing/pay", "POST", "/v1/refund/42", 0, NULL, NULL,
     "allowed", "web-charges"},
    {"query string ignored", P("shop/sa/web"), "billing/pay", "POST", "/v1/charge?x=1", 0, NULL,
     NULL, "allowed", "web-charges"},
    {"wrong method", P("shop/sa/web"), "billing/pay", "DELETE", "/v1/charge", 0, NULL, NULL,
     "not_permitted", NULL},
    {"wrong principal", P("shop/sa/us-api"), "billing/pay", "POST", "/v1/charge", 0, NULL, NULL,
     "forbidden", "pii-eu"}, /* us-api is outside the EU: residency forbids */
    {"template {*}", P("shop/sa/web"), "billing/pay", "GET", "/v1/charges/ch_1/items", 0, NULL,
     NULL, "allowed", "templates"},
    {"template {*} is one segment", P("shop/sa/web"), "billing/pay", "GET", "/v1/charges/a/b/items",
     0, NULL, NULL, "not_permitted", NULL},
    {"template {**}", P("shop/sa/web"), "billing/pay", "GET", "/files/a/b/c", 0, NULL, NULL,
     "allowed", "templates"},
    {"suffix path and suffix principal", P("monitoring/sa/prom"), "billing/pay", "GET",
     "/stats.json", 0, NULL, NULL, "allowed", "suffix"},
    {"port listed", P("sandbox/sa/echo"), "shop/web", "GET", "/", 8080, NULL, NULL, "allowed",
     "ports"},
    {"port not listed", P("sandbox/sa/echo"), "shop/web", "POST", "/", 9090, NULL, NULL,
     "not_permitted", NULL},
    {"principal * needs a principal", NULL, "shop/web", "GET", "/", 8080, NULL, NULL,
     "not_permitted", NULL},
    {"header prefix, name case-insensitive", NULL, "shop/web", "PUT", "/", 0, "x-tenant", "eu-west",
     "allowed", "headers"},
    {"header mismatch", NULL, "shop/web", "PUT", "/", 0, "x-tenant", "us", "not_permitted", NULL},
    {"labels on both sides", P("shop/sa/web"), "shop/web", "PATCH", "/", 0, NULL, NULL, "allowed",
     "labels"},
    {"deny wins over allow", P("sandbox/sa/echo"), "billing/pay", "GET", "/x.json", 0, NULL, NULL,
     "forbidden", "no-sandbox"},
    {"role via binding", P("sandbox/sa/echo"), "shop/web", "GET", "/r/1", 0, NULL, NULL, "allowed",
     "reader"},
    {"role path mismatch", P("sandbox/sa/echo"), "shop/web", "GET", "/w/1", 0, NULL, NULL,
     "not_permitted", NULL},
    {"when true", NULL, "shop/web", "DELETE", "/", 0, "x-ok", "yes", "allowed", "when-true"},
    {"when false", NULL, "shop/web", "DELETE", "/", 0, "x-ok", "no", "not_permitted", NULL},
    {"when error fails closed", NULL, "shop/web", "OPTIONS", "/", 0, NULL, NULL, "forbidden",
     "when-error"},
    {"when timeout fails closed", NULL, "shop/web", "TRACE", "/", 0, NULL, NULL, "forbidden",
     "when-loop"},
    {"residency: pii to the US by a multi-region caller", P("shop/sa/multi"), "billing/pay", "GET",
     "/x.json", 0, NULL, NULL, "forbidden", "pii-eu"},
    {"residency: pii service to a US external", P("billing/sa/pay"), "api.stripe.com", "POST", "/",
     0, NULL, NULL, "forbidden", "pii-eu"},
    {"egress to an EU external is not a residency leak", P("billing/sa/pay"), "mail.example.eu",
     "POST", "/", 0, NULL, NULL, "allowed", "egress"},
    {"service \"*\" reaches every service", P("shop/sa/web"), "monitoring/prom", "GET", "/healthz",
     0, NULL, NULL, "allowed", "health"},
    {"service \"*\" does not reach externals", P("shop/sa/web"), "mail.example.eu", "GET",
     "/healthz", 0, NULL, NULL, "not_permitted", NULL},
    {"a binding's keys are alternatives", P("monitoring/sa/prom"), "shop/web", "GET", "/r/1", 0,
     NULL, NULL, "allowed", "reader"},
    {"require_mtls: plaintext to STRICT", NULL, "billing/pay", "GET", "/x.json", 0, NULL, NULL,
     "forbidden", "strict"},
    {"unknown destination", P("shop/sa/web"), "nowhere", "GET", "/", 0, NULL, NULL, "not_permitted",
     NULL},
    {"path: dot segments are removed", NULL, "shop/web", "GET", "/pub/../admin/x", 0, NULL, NULL,
     "forbidden", "no-admin"},
    {"path: encoded dots are decoded", NULL, "shop/web", "GET", "/pub/%2e%2E/admin/x", 0, NULL,
     NULL, "forbidden", "no-admin"},
    {"path: slashes are merged", NULL, "shop/web", "GET", "//admin//x", 0, NULL, NULL, "forbidden",
     "no-admin"},
    {"path: dot segment kept inside", NULL, "shop/web", "GET", "/pub/./a/b", 0, NULL, NULL,
     "allowed", "public"},
    {"path: .. above the root stays at the root", NULL, "shop/web", "GET", "/pub/../../../admin", 0,
     NULL, NULL, "forbidden", "no-admin"},
    {"residency: the named cluster narrows a multi-region caller", P("shop/sa/multi"),
     "billing/pay", "GET", "/v1/charges/c/items", 0, NULL, NULL, "allowed", "templates", "eu1"},
    {"residency: a named cluster outside the jurisdiction", P("shop/sa/multi"), "billing/pay",
     "GET", "/v1/charges/c/items", 0, NULL, NULL, "forbidden", "pii-eu", "us1"},
    {"residency: a cluster the caller does not run in", P("shop/sa/multi"), "billing/pay", "GET",
     "/v1/charges/c/items", 0, NULL, NULL, "forbidden", "pii-eu", "nowhere"},
    {"unknown caller namespace from SPIFFE", "spiffe://t/ns/sandbox/sa/ghost", "billing/pay", "GET",
     "/x.json", 0, NULL, NULL, "forbidden", "no-sandbox"},
};

static int has_rule(const mp_engine *e, const mp_decision *d, const char *rule)
{
	for (uint32_t i = 0; i < d->nreasons; i++)
		if (d->reasons[i].rule != MP_NONE &&
		    !strcmp(e->bundle->rules[d->reasons[i].rule].name, rule))
			return 1;
	return 0;
}

static void test_table(void **state)
{
	unit_fixture *f = *state;
	int failures = 0;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const row *t = &rows[i];
		mp_header h = {t->header, t->value};
		mp_request r = {.principal = t->principal,
		                .src_cluster = t->src_cluster,
		                .dst_service = t->dst,
		                .method = t->method,
		                .path = t->path,
		                .port = t->port,
		                .headers = t->header ? &h : NULL,
		                .nheaders = t->header ? 1 : 0};
		mp_decision d;
		mp_decide(f->ev, &r, &d, NULL);
		const char *got = mp_effect_name(d.effect);
		if (strcmp(got, t->effect) || (t->rule && !has_rule(f->e, &d, t->rule)) ||
		    d.allow != !strcmp(t->effect, "allowed")) {
			json_t *j = mp_decision_json(f->e, &d, "x");
			char *s = json_dumps(j, JSON_COMPACT);
			print_error("row '%s': want %s (%s), got %s: %s\n", t->name, t->effect,
			            t->rule ? t->rule : "-", got, s);
			free(s);
			json_decref(j);
			failures++;
		}
	}
	assert_int_equal(failures, 0);
	/* two failed `when` calls, counted */
	assert_true(mp_evaluator_stats_of(f->ev)->when_errors >= 2);
}

/* A path too long to normalise is refused, not waved through. */
static void test_long_path(void **state)
{
	unit_fixture *f = *state;
	char *path = malloc(5000);
	memset(path, 'a', 4999);
	path[0] = '/';
	path[4999] = '\0';
	mp_request r = {.dst_service = "shop/web", .method = "GET", .path = path};
	mp_decision d;
	mp_decide(f->ev, &r, &d, NULL);
	assert_int_equal(d.effect, MP_EFFECT_FORBIDDEN);
	assert_int_equal(d.reasons[0].rule, MP_NONE);
	free(path);
}

static void test_advisory(void **state)
{
	unit_fixture *f = *state;
	/* web -> web has no declared route: the advisory policy reports it but does not decide */
	mp_request r = {.principal = P("shop/sa/web"), .dst_service = "shop/web", .port = 8080};
	mp_decision d;
	mp_decide(f->ev, &r, &d, NULL);
	assert_string_equal(mp_effect_name(d.effect), "allowed");
	assert_int_equal(d.nadvisories, 1);
	json_t *j = mp_decision_json(f->e, &d, NULL);
	assert_string_equal(json_string_value(json_object_get(
	                        json_array_get(json_object_get(j, "advisories"), 0), "rule")),
	                    "declared");
	assert_int_equal(strlen(json_string_value(json_object_get(j, "decision_id"))), 36);
	json_decref(j);
	/* web -> pay is declared: no advisory */
	r.dst_service = "billing/pay";
	mp_decide(f->ev, &r, &d, NULL);
	assert_int_equal(d.nadvisories, 0);
}

static void test_output_json(void **state)
{
	unit_fixture *f = *state;
	mp_request r = {.principal = P("sandbox/sa/echo"),
	                .dst_service = "billing/pay",
	                .method = "POST",
	                .path = "/v1/charge"};
	mp_decision d;
	json_t *explain = json_array();
	mp_decide(f->ev, &r, &d, explain);
	json_t *j = mp_decision_json(f->e, &d, "id-1");
	assert_false(json_is_true(json_object_get(j, "allow")));
	assert_string_equal(json_string_value(json_object_get(j, "effect")), "forbidden");
	json_t *r0 = json_array_get(json_object_get(j, "reasons"), 0);
	assert_string_equal(json_string_value(json_object_get(r0, "policy")), "t.rbac");
	assert_string_equal(json_string_value(json_object_get(r0, "version")), "1.0.0");
	assert_string_equal(json_string_value(json_object_get(r0, "rule")), "no-sandbox");
	assert_string_equal(json_string_value(json_object_get(r0, "effect")), "deny");
	assert_string_equal(json_string_value(json_object_get(r0, "message")),
	                    "sandbox may not call billing");
	assert_string_equal(json_string_value(json_object_get(r0, "source")), DIR "/rbac.lua:17");
	assert_string_equal(
	    json_string_value(json_object_get(json_object_get(j, "bundle"), "revision")), "7");
	assert_int_equal(
	    strlen(json_string_value(json_object_get(json_object_get(j, "model"), "sha256"))), 64);
	/* the explanation lists every rule considered, with why it did not match */
	size_t i;
	json_t *x;
	int saw_web = 0;
	json_array_foreach(explain, i, x)
	{
		if (!strcmp(json_string_value(json_object_get(x, "rule")), "web-charges")) {
			saw_web = 1;
			assert_false(json_is_true(json_object_get(x, "matched")));
			assert_non_null(
			    strstr(json_string_value(json_object_get(x, "why")), "principal"));
		}
	}
	assert_true(saw_web);
	assert_true(json_array_size(explain) >= 5);
	json_decref(explain);
	json_decref(j);
}

typedef struct {
	const char *json, *err;
} input_case;

static void test_input_errors(void **state)
{
	(void)state;
	static const input_case cases[] = {
	    {"[]", "must be a JSON object"},
	    {"{}", "destination: missing"},
	    {"{\"destination\": {}}", "destination.service: missing"},
	    {"{\"destination\": {\"service\": 5}}", "destination.service: must be a string"},
	    {"{\"destination\": {\"service\": \"a\", \"port\": 70000}}", "destination.port"},
	    {"{\"destination\": {\"service\": \"a\"}, \"source\": 1}", "source: must be an object"},
	    {"{\"destination\": {\"service\": \"a\"}, \"request\": {\"headers\": {\"x\": 1}}}",
	     "request.headers.x: must be a string"},
	    {"{\"destination\": {\"service\": \"a\"}, \"source\": {\"principal\": []}}",
	     "source.principal: must be a string"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		json_error_t je;
		json_t *j = json_loads(cases[i].json, 0, &je);
		assert_non_null(j);
		mp_request r;
		mp_header h[MP_REQUEST_MAX_HEADERS];
		char err[256] = "";
		int rc = mp_request_from_json(j, &r, h, err, sizeof(err));
		if (rc == 0 || !strstr(err, cases[i].err))
			fail_msg("%s: want '%s', got rc %d '%s'", cases[i].json, cases[i].err, rc,
			         err);
		json_decref(j);
	}
	json_error_t je;
	json_t *j = json_loads(
	    "{\"source\": {\"principal\": \"p\", \"namespace\": \"n\"}, \"destination\": "
	    "{\"service\": \"s\", \"port\": 80}, \"request\": {\"method\": \"GET\", "
	    "\"path\": \"/\", \"headers\": {\"a\": \"b\"}}, \"context\": {\"k\": 1}}",
	    0, &je);
	mp_request r;
	mp_header h[MP_REQUEST_MAX_HEADERS];
	char err[256];
	assert_int_equal(mp_request_from_json(j, &r, h, err, sizeof(err)), 0);
	assert_string_equal(r.principal, "p");
	assert_int_equal(r.port, 80);
	assert_int_equal(r.nheaders, 1);
	assert_non_null(r.context);
	json_decref(j);
}

/* Strict input (issue 11): an unknown key at any level is refused with its path and the
 * nearest valid key; each row is one input and the start of the error it must give. */
static void test_input_unknown_keys(void **state)
{
	(void)state;
#define D "\"destination\": {\"service\": \"a\"}"
	static const input_case cases[] = {
	    {"{" D ", \"request\": {\"methd\": \"DELETE\"}}",
	     "request.methd: unknown key (did you mean 'method'?)"},
	    {"{" D ", \"requst\": {\"method\": \"DELETE\"}}",
	     "requst: unknown key (did you mean 'request'?)"},
	    {"{\"destination\": {\"servce\": \"a\"}}",
	     "destination.servce: unknown key (did you mean 'service'?)"},
	    {"{" D ", \"source\": {\"principle\": \"spiffe://x\"}}",
	     "source.principle: unknown key (did you mean 'principal'?)"},
	    {"{" D ", \"request\": {\"auth\": {\"claim\": {}}}}",
	     "request.auth.claim: unknown key (did you mean 'claims'?)"},
	    {"{" D ", \"request\": {\"verb\": \"GET\"}}",
	     "request.verb: unknown key (expected method, path, headers, host, sni or auth)"},
	    {"{" D ", \"xyzzy\": 1}",
	     "xyzzy: unknown key (expected source, destination, request or context)"},
	    /* the client's text is quoted */
	    {"{" D ", \"request\": {\"m\\u0001\": 1}}", "request.m\\x01: unknown key"},
	    /* types of the reserved keys */
	    {"{\"destination\": {\"service\": \"a\", \"external\": \"yes\"}}",
	     "destination.external: must be true or false"},
	    {"{" D ", \"source\": {\"labels\": {\"app\": 1}}}",
	     "source.labels.app: must be a string"},
	    {"{" D ", \"source\": {\"labels\": [\"app\"]}}",
	     "source.labels: must be an object of strings"},
	    {"{" D ", \"source\": {\"cluster\": 1}}", "source.cluster: must be a string"},
	    {"{" D ", \"request\": {\"auth\": {\"audiences\": [1]}}}",
	     "request.auth.audiences: must be a string or a list of strings"},
	    {"{" D ", \"request\": {\"auth\": {\"principal\": 5}}}",
	     "request.auth.principal: must be a string"},
	    {"{" D ", \"context\": []}", "context: must be an object"},
	    {"{\"destination\": {\"service\": \"a\", \"port\": \"http\"}}",
	     "destination.port: must be an integer 1..65535"},
	};
#undef D
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		json_error_t je;
		json_t *j = json_loads(cases[i].json, 0, &je);
		assert_non_null(j);
		mp_request r;
		mp_header h[MP_REQUEST_MAX_HEADERS];
		char err[256] = "";
		int rc = mp_request_from_json(j, &r, h, err, sizeof(err));
		if (rc == 0 || strncmp(err, cases[i].err, strlen(cases[i].err)))
			fail_msg("%s: want '%s', got rc %d '%s'", cases[i].json, cases[i].err, rc,
			         err);
		json_decref(j);
	}
}

/* Every key the input may hold is accepted, the reserved ones included, and the free-form
 * objects take any key. */
static void test_input_every_key(void **state)
{
	(void)state;
	json_error_t je;
	json_t *j = json_loads(
	    "{\"source\": {\"principal\": \"p\", \"namespace\": \"n\", \"service\": \"s\", \"ip\": "
	    "\"10.0.0.1\", \"remote_ip\": \"203.0.113.7\", \"cluster\": \"eu1\", \"labels\": "
	    "{\"app\": \"web\"}},"
	    " \"destination\": {\"service\": \"d\", \"namespace\": \"m\", \"port\": 80, "
	    "\"cluster\": "
	    "\"us1\", \"ip\": \"10.0.0.2\", \"workload\": \"w\", \"external\": true},"
	    " \"request\": {\"method\": \"GET\", \"path\": \"/\", \"headers\": {\"X-Any\": \"b\"}, "
	    "\"host\": \"h\", \"sni\": \"s\", \"auth\": {\"principal\": \"a\", \"audiences\": "
	    "\"x\", "
	    "\"presenter\": \"p\", \"claims\": {\"any\": {\"deep\": [1]}}}},"
	    " \"context\": {\"whatever\": {\"nested\": true}}}",
	    0, &je);
	assert_non_null(j);
	mp_request r;
	mp_header h[MP_REQUEST_MAX_HEADERS];
	char err[256] = "";
	if (mp_request_from_json(j, &r, h, err, sizeof(err)) < 0)
		fail_msg("%s", err);
	assert_string_equal(r.src_cluster, "eu1");
	assert_string_equal(r.dst_cluster, "us1");
	assert_string_equal(r.src_remote_ip, "203.0.113.7");
	assert_string_equal(r.dst_workload, "w");
	assert_string_equal(r.host, "h");
	assert_int_equal(r.dst_external, 1);
	assert_non_null(r.src_labels);
	assert_non_null(r.auth);
	assert_non_null(r.context);
	assert_int_equal(r.nheaders, 1);
	json_decref(j);
	/* null counts as absent, everywhere */
	j = json_loads("{\"source\": null, \"destination\": {\"service\": \"d\", \"port\": null, "
	               "\"external\": null}, \"request\": {\"auth\": null}}",
	               0, &je);
	assert_int_equal(mp_request_from_json(j, &r, h, err, sizeof(err)), 0);
	assert_int_equal(r.port, 0);
	assert_int_equal(r.dst_external, 0);
	json_decref(j);
}

/* The reproduction: a misspelt key used to be ignored, so the deny it was meant to meet did not
 * apply and the request was allowed. Now the input is refused. */
static void test_typo_no_longer_allows(void **state)
{
	unit_fixture *f = *state;
	static const char *const inputs[] = {
	    "{\"source\": {\"principal\": \"spiffe://t/ns/shop/sa/web\"}, \"destination\": "
	    "{\"service\": \"shop/web\", \"port\": 8080}, \"request\": {\"pth\": \"/admin\"}}",
	    "{\"source\": {\"principal\": \"spiffe://t/ns/shop/sa/web\"}, \"destination\": "
	    "{\"service\": \"shop/web\", \"port\": 8080}, \"requst\": {\"path\": \"/admin\"}}",
	};
	for (size_t i = 0; i < sizeof(inputs) / sizeof(inputs[0]); i++) {
		json_error_t je;
		json_t *j = json_loads(inputs[i], 0, &je);
		mp_request r;
		mp_header h[MP_REQUEST_MAX_HEADERS];
		char err[256] = "";
		int rc = mp_request_from_json(j, &r, h, err, sizeof(err));
		if (rc == 0) {
			mp_decision dec;
			mp_decide(f->ev, &r, &dec, NULL);
			fail_msg("%s: accepted, and decided %s", inputs[i],
			         mp_effect_name(dec.effect));
		}
		assert_non_null(strstr(err, "unknown key (did you mean '"));
		json_decref(j);
	}
	/* spelt right, the deny applies */
	json_error_t je;
	json_t *j = json_loads(
	    "{\"source\": {\"principal\": \"spiffe://t/ns/shop/sa/web\"}, \"destination\": "
	    "{\"service\": \"shop/web\", \"port\": 8080}, \"request\": {\"path\": \"/admin\"}}",
	    0, &je);
	mp_request r;
	mp_header h[MP_REQUEST_MAX_HEADERS];
	char err[256];
	assert_int_equal(mp_request_from_json(j, &r, h, err, sizeof(err)), 0);
	mp_decision dec;
	mp_decide(f->ev, &r, &dec, NULL);
	assert_string_equal(mp_effect_name(dec.effect), "forbidden");
	json_decref(j);
}

/* bundle.yaml's mask paths are checked against the same tables. */
static void test_field_check(void **state)
{
	(void)state;
	static const struct {
		const char *path, *err; /* err NULL: valid */
	} cases[] = {
	    {"request.headers.authorization", NULL},
	    {"request.headers.Cookie", NULL},
	    {"request", NULL},
	    {"context.token", NULL},
	    {"context.a.b.c", NULL},
	    {"source.labels.app", NULL},
	    {"request.auth.claims.sub", NULL},
	    {"destination.external", NULL},
	    {"request.header.authorization",
	     "request.header: unknown key (did you mean 'headers'?)"},
	    {"reqest.path", "reqest: unknown key (did you mean 'request'?)"},
	    {"request.method.x", "request.method: is a value"},
	    {"request.headers.a.b", "request.headers: holds names one level deep"},
	    {"request.headers.", "'request.headers.' is not a dotted path"},
	    {"context.", "'context.' is not a dotted path"},
	    {"", "'' is not a dotted path"},
	    {"request..path", "'request..path' is not a dotted path"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char err[256] = "";
		int rc = mp_request_field_check(cases[i].path, err, sizeof(err));
		if (cases[i].err ? rc == 0 || strncmp(err, cases[i].err, strlen(cases[i].err))
		                 : rc != 0)
			fail_msg("'%s': want %s, got rc %d '%s'", cases[i].path,
			         cases[i].err ? cases[i].err : "valid", rc, err);
	}
}

/* --- evaluation integrity: the bundles of tests/data/integrity (tests/e2e/integrity.sh runs
 * them through every front-end) --- */

#define INTEGRITY "tests/data/integrity/"

static mp_engine *open_integrity(const char *bundle, mp_diags *d)
{
	return mp_engine_open(DIR "/mesh.yaml", bundle, d);
}

static const char *first_rule(const mp_engine *e, const mp_decision *d)
{
	return d->nreasons && d->reasons[0].rule != MP_NONE
	           ? e->bundle->rules[d->reasons[0].rule].name
	           : "";
}

/* Rules declared over pairs(): each evaluator's state visits the keys in another order, and
 * every one binds the deny's `when` to the deny. */
static void test_pairs_binding(void **state)
{
	(void)state;
	mp_diags d = {0};
	mp_engine *e = open_integrity(INTEGRITY "pairs", &d);
	mp_diags_print(&d, stderr);
	assert_non_null(e);
	mp_request r = {.src_service = "web",
	                .src_namespace = "shop",
	                .dst_service = "shop/web",
	                .method = "GET",
	                .path = "/"};
	for (int i = 0; i < 16; i++) {
		mp_evaluator *ev = mp_evaluator_new(e, NULL, &d);
		assert_non_null(ev);
		mp_decision dec;
		mp_decide(ev, &r, &dec, NULL);
		assert_string_equal(mp_effect_name(dec.effect), "forbidden");
		assert_string_equal(first_rule(e, &dec), "deny-k17");
		mp_evaluator_free(ev);
	}
	mp_engine_release(e);
	mp_diags_free(&d);
}

/* A declaration whose content depends on the iteration order is refused at load. */
static void test_varying_declaration_refused(void **state)
{
	(void)state;
	mp_diags d = {0};
	mp_engine *e = open_integrity(INTEGRITY "counter", &d);
	assert_null(e);
	assert_true(d.n >= 1);
	assert_non_null(strstr(d.v[0].msg, "declares something else when the bundle runs again"));
	mp_diags_free(&d);
}

/* What one `when` does to its req reaches no other; advisory failures never deny. */
static void test_req_isolation_and_advisory_errors(void **state)
{
	(void)state;
	mp_diags d = {0};
	mp_engine *e = open_integrity(INTEGRITY "sharedreq", &d);
	mp_diags_print(&d, stderr);
	assert_non_null(e);
	mp_evaluator *ev = mp_evaluator_new(e, NULL, &d);
	mp_request r = {.src_service = "web",
	                .src_namespace = "shop",
	                .dst_service = "billing/pay",
	                .method = "GET",
	                .path = "/"};
	mp_decision dec;
	for (int i = 0; i < 3; i++) { /* and again: nothing stays behind in the state */
		mp_decide(ev, &r, &dec, NULL);
		assert_string_equal(mp_effect_name(dec.effect), "forbidden");
		assert_string_equal(first_rule(e, &dec), "no-shop-to-billing");
	}
	mp_evaluator_free(ev);
	mp_engine_release(e);

	e = open_integrity(INTEGRITY "adverr", &d);
	assert_non_null(e);
	ev = mp_evaluator_new(e, NULL, &d);
	r.dst_service = "shop/web";
	mp_decide(ev, &r, &dec, NULL);
	assert_string_equal(mp_effect_name(dec.effect), "allowed");
	assert_int_equal(dec.nadvisories, 2);
	assert_int_equal(dec.advisories[0].kind, MP_REASON_ERROR);
	assert_int_equal(dec.advisories[1].kind, MP_REASON_ERROR);
	mp_evaluator_free(ev);
	mp_engine_release(e);
	mp_diags_free(&d);
}

/* The message of the reason rule gives (its `when` reports by raising: "when failed: ..."). */
static const char *probe(const mp_engine *e, const mp_decision *dec, const char *rule)
{
	for (uint32_t i = 0; i < dec->nreasons; i++)
		if (dec->reasons[i].rule != MP_NONE &&
		    !strcmp(e->bundle->rules[dec->reasons[i].rule].name, rule))
			return dec->reasons[i].message;
	return "";
}

/* Decides r and requires the message of rule's reason to be want. */
static void expect_probe(mp_evaluator *ev, const mp_engine *e, const mp_request *r,
                         const char *rule, const char *want)
{
	mp_decision dec;
	mp_decide(ev, r, &dec, NULL);
	assert_string_equal(probe(e, &dec, rule), want);
}

/* The `req` a `when` gets has its fields made when first read (engine/decide.c, the sandbox's
 * lazy proxies): every field reads as the input says in any order, pairs and # see the whole
 * table, rawget and next an empty one, every level refuses writes, and a req kept past its
 * decision still reads its own request. Probes: tests/data/integrity/lazyreq/probe.lua. */
static void test_lazy_req(void **state)
{
	(void)state;
	mp_diags d = {0};
	mp_engine *e = open_integrity(INTEGRITY "lazyreq", &d);
	mp_diags_print(&d, stderr);
	assert_non_null(e);
	mp_evaluator *ev = mp_evaluator_new(e, NULL, &d);
	assert_non_null(ev);
	json_t *ctx = json_loads("{\"k\":\"v\",\"list\":[1,\"two\",3],\"obj\":{\"n\":1}}", 0, NULL);
	const mp_header hdrs[] = {
	    {"X-A", "1"}, {"x-dup", "first"}, {"X-Dup", "second"}, {"Content-Type", "json"}};
	mp_request r = {.principal = P("shop/sa/web"),
	                .src_ip = "10.0.0.1",
	                .dst_service = "billing/pay",
	                .port = 8080,
	                .method = "POST",
	                .path = "/v1/./charge//x",
	                .headers = hdrs,
	                .nheaders = 4,
	                .context = ctx};
	mp_decision dec;
	mp_decide(ev, &r, &dec, NULL);
	assert_string_equal(mp_effect_name(dec.effect), "forbidden");
	assert_string_equal(probe(e, &dec, "reads"),
	                    "when failed: 1|nil|second|json|v|3|two|1|billing/pay|billing|8080|"
	                    "integer|spiffe://t/ns/shop/sa/web|shop|web|10.0.0.1|POST|/v1/charge/"
	                    "x|nil|nil|nil|nil|nil|nil|true|true|true|table|table|nil|nil|nil|"
	                    "read-only|read-only");

	/* absent fields: no principal, port, method, path, headers or context; a namespace and
	 * service from the input, not the model */
	mp_request bare = {
	    .src_namespace = "ns1", .src_service = "svc1", .dst_service = "shop/web"};
	expect_probe(ev, e, &bare, "pairs",
	             "when failed: nil|true|{context={}#0,destination={namespace=shop,"
	             "service=shop/web}#0,request={headers={}#0}#0,source={namespace=ns1,"
	             "service=svc1}#0}#0|0|0|nil|nil");
	mp_request one = {.principal = P("shop/sa/web"),
	                  .dst_service = "shop/web",
	                  .port = 80,
	                  .method = "GET",
	                  .path = "/a",
	                  .headers = hdrs,
	                  .nheaders = 1,
	                  .context = ctx};
	expect_probe(ev, e, &one, "pairs",
	             "when failed: GET|true|{context={k=v,list={1=1,2=two,3=3}#3,obj={n=1}#0}#"
	             "0,destination={namespace=shop,port=80,service=shop/web}#0,request={"
	             "headers={x-a=1}#0,method=GET,path=/a}#0,source={namespace=shop,"
	             "principal=spiffe://t/ns/shop/sa/web,service=web}#0}#0|0|0|nil|nil");

	one.dst_service = "shop/us-api";
	expect_probe(ev, e, &one, "writes",
	             "when failed: req:ro source|req.x:ro x|rawset:ro source|request:ro "
	             "method|request.rawset:ro path|source:ro principal|destination:ro port|"
	             "headers:ro x-a|context:ro k|context.obj:ro n|setmetatable:cannot change "
	             "a protected metatable|req after pairs:ro request|request after pairs:ro "
	             "method|spiffe://t/ns/shop/sa/web|GET");

	/* a req kept by the policy: the next decision's `when` reads the first one's request */
	one.dst_service = "shop/multi";
	expect_probe(ev, e, &one, "kept", "");
	mp_request other = one;
	other.principal = P("billing/sa/pay");
	other.path = "/b";
	other.headers = NULL;
	other.nheaders = 0;
	other.context = NULL;
	expect_probe(ev, e, &other, "kept",
	             "when failed: spiffe://t/ns/shop/sa/web|/a|1|v|spiffe://t/ns/billing/sa/pay");
	json_decref(ctx);
	mp_evaluator_free(ev);
	mp_engine_release(e);
	mp_diags_free(&d);
}

/* Decides a request to sandbox/echo of tests/data/integrity/whenstate (principal p, path, the
 * x-mode and x-id headers) and returns the message of rule's reason. */
static const char *whenstate(mp_evaluator *ev, const mp_engine *e, mp_decision *dec, const char *p,
                             const char *path, const char *mode, const char *id, const char *rule)
{
	const mp_header hdrs[] = {{"X-Mode", mode}, {"X-Id", id}};
	mp_request r = {.principal = p,
	                .dst_service = "sandbox/echo",
	                .method = "GET",
	                .path = path,
	                .headers = hdrs,
	                .nheaders = 2};
	mp_decide(ev, &r, dec, NULL);
	assert_string_equal(mp_effect_name(dec->effect), "forbidden"); /* reader always raises */
	return probe(e, dec, rule);
}

/* What a `when` may leave behind for the next decision (engine/decide.c: one `req` a decision,
 * built in the call of its first `when`, and a cache of the request's strings; the evaluator's
 * state collects seldom, sandbox.h mp_sandbox_gc_headroom): a `when` that keeps req, req.source,
 * req.request, the headers and the principal reads its own request in every later decision,
 * while each later decision reads its own, before and after reading the kept one; a `when` that
 * raises (before or after reading req), runs out of budget (pcall cannot swallow it) or out of
 * memory (with or without pcall) leaves the next `when` of its decision this decision's req and
 * the next decision its own. Probes: tests/data/integrity/whenstate/probe.lua. */
static void test_when_state(void **state)
{
	(void)state;
	mp_diags d = {0};
	mp_engine *e = open_integrity(INTEGRITY "whenstate", &d);
	mp_diags_print(&d, stderr);
	assert_non_null(e);
	mp_evaluator_opts o = {.mem_limit = 1u << 20}; /* memory runs out before the budget */
	mp_evaluator *ev = mp_evaluator_new(e, &o, &d);
	assert_non_null(ev);
	mp_decision dec;
	const char *a = P("shop/sa/web"), *b = P("billing/sa/pay"), *c = P("monitoring/sa/prom");
#define KEPT_A                                                                                     \
	"spiffe://t/ns/shop/sa/web,spiffe://t/ns/shop/sa/web,spiffe://t/ns/shop/sa/web,/a,/"       \
	"a,1,true,true"

	/* nothing kept yet, then req and its parts kept: the same decision's reader sees them */
	assert_string_equal(whenstate(ev, e, &dec, b, "/z", "read", "0", "reader"),
	                    "when failed: read|spiffe://t/ns/billing/sa/pay|/z|0|true|true|"
	                    "spiffe://t/ns/billing/sa/pay|sandbox/echo");
	assert_string_equal(whenstate(ev, e, &dec, a, "/a", "stash", "1", "reader"),
	                    "when failed: stash|spiffe://t/ns/shop/sa/web|/a|1|true|true|" KEPT_A
	                    ",true,true|"
	                    "spiffe://t/ns/shop/sa/web|sandbox/echo");
	/* later decisions: their own request, the kept one still the first's */
	assert_string_equal(whenstate(ev, e, &dec, b, "/b", "read", "2", "reader"),
	                    "when failed: read|spiffe://t/ns/billing/sa/pay|/b|2|true|true|" KEPT_A
	                    ",false,false|spiffe://t/ns/billing/sa/pay|sandbox/echo");
	assert_string_equal(whenstate(ev, e, &dec, NULL, "/n", "read", "3", "reader"),
	                    "when failed: read|nil|/n|3|true|true|" KEPT_A
	                    ",false,false|nil|sandbox/echo");
	/* a `when` that fails: raising, after reading req or before, out of budget, out of memory
	 */
	assert_string_equal(whenstate(ev, e, &dec, c, "/c", "error", "4", "hostile"),
	                    "when failed: hostile after reading spiffe://t/ns/monitoring/sa/prom");
	assert_string_equal(
	    probe(e, &dec, "reader"),
	    "when failed: error|spiffe://t/ns/monitoring/sa/prom|/c|4|true|true|" KEPT_A
	    ",false,false|spiffe://t/ns/monitoring/sa/prom|sandbox/echo");
	assert_string_equal(whenstate(ev, e, &dec, b, "/e", "early", "5", "hostile"),
	                    "when failed: early, before reading req");
	assert_string_equal(probe(e, &dec, "reader"),
	                    "when failed: early|spiffe://t/ns/billing/sa/pay|/e|5|true|true|" KEPT_A
	                    ",false,false|spiffe://t/ns/billing/sa/pay|sandbox/echo");
	static const char *const modes[][2] = {{"loop", "instruction budget exceeded"},
	                                       {"pcall-loop", "instruction budget exceeded"},
	                                       {"hog", "not enough memory"}};
	for (size_t m = 0; m < sizeof(modes) / sizeof(modes[0]); m++) {
		const char *who = m % 2 ? a : c;
		char want[512];
		const char *got = whenstate(ev, e, &dec, who, "/l", modes[m][0], "6", "hostile");
		if (!strstr(got, modes[m][1]))
			print_error("%s: %s\n", modes[m][0], got);
		assert_non_null(strstr(got, modes[m][1]));
		snprintf(want, sizeof(want),
		         "when failed: %s|%s|/l|6|true|true|" KEPT_A ",false,false|%s|sandbox/echo",
		         modes[m][0], who, who);
		assert_string_equal(probe(e, &dec, "reader"), want);
	}
	/* memory refused inside the `when`'s own pcall: it returns, the reader runs after */
	whenstate(ev, e, &dec, b, "/h", "pcall-hog", "7", "hostile");
	assert_non_null(strstr(probe(e, &dec, "reader"), "pcall-hog: "));
	assert_non_null(strstr(probe(e, &dec, "reader"),
	                       "|spiffe://t/ns/billing/sa/pay|/h|7|true|true|" KEPT_A
	                       ",false,false|"
	                       "spiffe://t/ns/billing/sa/pay|sandbox/echo"));
	/* every allocation of the state failing in turn, from the first: each decision fails closed
	 * or reads its own request, and the next one reads its own */
	for (long n = 0; n < 60; n++) {
		mp_sandbox_fail_after(n);
		whenstate(ev, e, &dec, n % 2 ? a : c, "/f", "read", "8", "reader");
		mp_sandbox_fail_after(-1);
		const char *msg = probe(e, &dec, "reader");
		/* "when failed: read|..." as the reader raised it, or what the state raised */
		assert_int_equal(strncmp(msg, "when failed: ", 13), 0);
		if (strncmp(msg, "when failed: read|", 18) == 0)
			assert_non_null(
			    strstr(msg, n % 2 ? "|spiffe://t/ns/shop/sa/web|/f|8|"
			                      : "|spiffe://t/ns/monitoring/sa/prom|/f|8|"));
		assert_string_equal(
		    whenstate(ev, e, &dec, b, "/g", "read", "9", "reader"),
		    "when failed: read|spiffe://t/ns/billing/sa/pay|/g|9|true|true|" KEPT_A
		    ",false,false|spiffe://t/ns/billing/sa/pay|sandbox/echo");
	}
	/* what decisions leave is collected: a second round of as many takes no more memory than
	 * the first left (the weak tables keep their size, not their entries: each round runs with
	 * the collector stopped, so that they reach the same size; under the default memory cap) */
	mp_evaluator_free(ev);
	ev = mp_evaluator_new(e, NULL, &d);
	assert_non_null(ev);
	char err[256];
	mp_sandbox *sb = mp_evaluator_sandbox(ev, err, sizeof(err));
	assert_non_null(sb);
	lua_State *L = mp_sandbox_lua(sb);
	size_t after[2];
	for (int round = 0; round < 2; round++) {
		lua_gc(L, LUA_GCSTOP);
		for (int i = 0; i < 3000; i++)
			whenstate(ev, e, &dec, i % 2 ? a : c, "/r", "read", "10", "reader");
		lua_gc(L, LUA_GCRESTART);
		lua_gc(L, LUA_GCCOLLECT);
		lua_gc(L, LUA_GCCOLLECT);
		after[round] = mp_sandbox_mem_used(sb);
	}
	assert_true(after[1] <= after[0] + 1024);
	assert_string_equal(whenstate(ev, e, &dec, b, "/g", "read", "9", "reader"),
	                    "when failed: read|spiffe://t/ns/billing/sa/pay|/g|9|true|true|"
	                    "spiffe://t/ns/billing/sa/pay|sandbox/echo");
#undef KEPT_A
	mp_evaluator_free(ev);
	mp_engine_release(e);
	mp_diags_free(&d);
}

/* mp_decide_route reads a destination's rule records (decide_index.h) to skip the rules whose
 * source cannot match: every declared route's every target must get the verdict and deciding
 * rule it gets from the mp_rules alone (the bundle's index set aside), on bundles with exact
 * principals, namespaces, patterns, services, labels, deny rules and advisory policies. */
static void test_route_verdicts_from_records(void **state)
{
	(void)state;
	static const char *const pairs[][2] = {
	    {"tests/data/bundles/routes/mesh.yaml", "tests/data/bundles/routes"},
	    {"tests/data/bundles/unit/mesh.yaml", "tests/data/bundles/unit"},
	    {"examples/acme", "policies"},
	    {"tests/data/audit/rbac", "tests/data/audit/rbac-bundle"},
	};
	uint32_t seen[3] = {0}, skipped = 0;
	for (size_t k = 0; k < sizeof(pairs) / sizeof(pairs[0]); k++) {
		mp_diags d = {0};
		mp_engine *e = mp_engine_open(pairs[k][0], pairs[k][1], &d);
		assert_non_null(e);
		mp_bundle *b = e->bundle;
		const struct mp_dindex *x = b->dindex;
		mp_model_view v = mp_model_get_view(e->model);
		for (mp_id ri = 0; ri < v.nroutes; ri++) {
			const mp_route *r = &v.routes[ri];
			const mp_span spans[3] = {r->dests, r->mirrors, r->failover};
			if (r->source == MP_NONE)
				continue;
			for (int sp = 0; sp < 3; sp++)
				for (uint32_t t = spans[sp].off; t < spans[sp].off + spans[sp].n;
				     t++) {
					uint32_t with, without;
					mp_route_verdict a = mp_decide_route(e, ri, t, &with);
					b->dindex = NULL;
					mp_route_verdict c = mp_decide_route(e, ri, t, &without);
					b->dindex = x;
					if (a != c || with != without)
						print_error(
						    "%s: route %s target %u: %d (rule %u) with the "
						    "records, %d (rule %u) without\n",
						    pairs[k][1], mp_model_str(e->model, r->name), t,
						    (int)a, with, (int)c, without);
					assert_int_equal(a, c);
					assert_int_equal(with, without);
					seen[a]++;
				}
		}
		/* the records skip something here: the test is not vacuous */
		const mp_dindex_rec *recs = x->svc_recs;
		for (uint32_t i = 0; i < b->svc_off[v.nservices]; i++)
			skipped +=
			    !(recs[i].flags & MP_DREC_FULL) &&
			    (recs[i].flags & (MP_DREC_PRINCIPAL | MP_DREC_NS | MP_DREC_ADVISORY));
		mp_engine_release(e);
		mp_diags_free(&d);
	}
	assert_true(seen[MP_ROUTE_ALLOWED] > 0);
	assert_true(seen[MP_ROUTE_FORBIDDEN] > 0);
	assert_true(seen[MP_ROUTE_NOT_PERMITTED] > 0);
	assert_true(skipped > 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_table),
	    cmocka_unit_test(test_long_path),

	    cmocka_unit_test(test_advisory),
	    cmocka_unit_test(test_output_json),
	    cmocka_unit_test(test_input_errors),
	    cmocka_unit_test(test_input_unknown_keys),
	    cmocka_unit_test(test_input_every_key),
	    cmocka_unit_test(test_typo_no_longer_allows),
	    cmocka_unit_test(test_field_check),
	    cmocka_unit_test(test_pairs_binding),
	    cmocka_unit_test(test_varying_declaration_refused),
	    cmocka_unit_test(test_req_isolation_and_advisory_errors),
	    cmocka_unit_test(test_lazy_req),
	    cmocka_unit_test(test_when_state),
	    cmocka_unit_test(test_route_verdicts_from_records),
	};
	return cmocka_run_group_tests(tests, unit_bundle_setup, unit_bundle_teardown);
}
