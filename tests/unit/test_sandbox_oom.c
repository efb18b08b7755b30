/* test_sandbox_oom.c: engine/sandbox.c's invariant 10, no error outside a protected call. The
 * process can really run out of memory while the host sets a Lua state up or calls into it; each
 * scenario runs again and again with every allocation failing from the k-th on, k = 0, 1, 2, ...
 * until it succeeds, once for the process's allocations (mp_alloc_fail_after) and once for the
 * Lua states' blocks (mp_sandbox_fail_after: the pool serves most without an allocation). The
 * scenarios: opening an engine (a bundle directory, an archive with stored declarations),
 * recording declarations, building an evaluator's state and deciding with a `when`, deciding on
 * a state built already, an audit's `check`, `meshpol test`'s runner. Each failure is an error
 * (NULL, -1, a deny with its reason, a failed test), never the panic function, whose hook fails
 * the test instead of letting Lua abort the process; under make check, never a leak.
 *
 * And what comes after such a failure: an evaluator whose state could not be built because the
 * process had no memory builds it again once mp_evaluator_retry_after's wait has passed (not
 * before), at whichever allocation the build failed; one the cap refuses stays failed; and a
 * memory error says which of the two it was. */
#include "testutil.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "alloc.h"
#include "audit.h"
#include "decide.h"
#include "engine.h"
#include "policy.h"
#include "ptest.h"
#include "sandbox.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DIR     "tests/data/bundles/unit"
#define MESH    DIR "/mesh.yaml"
#define ARCHIVE "tests/data/bundles/archives/unit.tar.gz"

/* The sweeps' bound: no scenario here makes as many allocations (a few thousand at most). */
#define MAX_K 100000L

/* A bundle with one `check` that reports every service of the unit mesh. */
static const char check_manifest[] = "name: oom\nrevision: \"1\"\ndefault: deny\n";
static const char check_lua[] =
    "policy \"t.checks\" { version = \"1.0.0\", kind = \"traffic\", severity = \"low\" }\n"
    "check \"every-service\" {\n"
    "  severity = \"low\", description = \"names each service\",\n"
    "  run = function(mesh, report)\n"
    "    for _, s in ipairs(mesh.services) do\n"
    "      report { subject = s.ref, message = 'seen ' .. s.ref, loc = s.loc,\n"
    "               path = { s.ref, s.ref } }\n"
    "    end\n"
    "  end,\n"
    "}\n";

typedef struct {
	mp_engine *unit;   /* the unit bundle over its mesh */
	mp_engine *checks; /* check_lua over the same mesh */
	char *check_dir;   /* check_lua's bundle directory */
} fixture;

/* One try of a scenario with allocations failing from some k on: 1 when it succeeded, 0 when it
 * failed with an error; an assertion fails when it failed in any other way. */
typedef int (*scenario)(fixture *f);

/* Opens bundle (a directory or an archive) over the unit mesh, on this thread. */
static int open_bundle(const char *bundle)
{
	mp_diags d = {0};
	mp_engine *e = mp_engine_open_opts(MESH, bundle, NULL, 1, &d);
	if (!e)
		assert_true(d.errors > 0 || d.dropped > 0);
	mp_engine_release(e);
	mp_diags_free(&d);
	return e != NULL;
}

/* (a) Opens the unit bundle's directory. */
static int open_engine(fixture *f)
{
	(void)f;
	return open_bundle(DIR);
}

/* (a') Opens the unit bundle's archive, whose stored declarations are put in the state instead
 * of running the files they stand for. */
static int open_archive(fixture *f)
{
	(void)f;
	return open_bundle(ARCHIVE);
}

/* (a'') Records the unit bundle's declarations for an archive (its files run again). */
static int record_declarations(fixture *f)
{
	mp_diags d = {0};
	void *out = NULL;
	size_t len = 0;
	int rc = mp_bundle_declarations(f->unit->bundle, NULL, &out, &len, &d);
	if (rc < 0)
		assert_true(d.errors > 0 || d.dropped > 0);
	mp_free(out);
	mp_diags_free(&d);
	return rc == 0;
}

/* (d) Runs the unit bundle's policy tests (`meshpol test`): a failure is a failed test. */
static int policy_tests(fixture *f)
{
	(void)f;
	mp_diags d = {0};
	mp_ptest_opts o = {0};
	mp_ptest_result res = {0};
	int rc = mp_ptest_run(DIR, &o, &res, &d);
	int passed = rc == 0 && res.failed == 0 && res.passed > 0;
	if (rc < 0)
		assert_true(d.errors > 0 || d.dropped > 0);
	mp_ptest_result_free(&res);
	mp_diags_free(&d);
	return passed;
}

/* web's DELETE with x-ok: yes, which only the unit bundle's "when-true" allows; its context
 * makes the `req` convert JSON too. */
static const mp_header ok_header = {"X-OK", "yes"};

/* The decision on r with a fresh evaluator (whose state is built for its `when`): allowed, or a
 * deny that says why. 1 when allowed. */
static int decide_with(mp_engine *e, mp_evaluator *given)
{
	json_t *ctx = json_pack("{s:{s:i}}", "tenant", "id", 7);
	mp_request r = {.principal = "spiffe://t/ns/shop/sa/web",
	                .dst_service = "shop/web",
	                .method = "DELETE",
	                .path = "/",
	                .headers = &ok_header,
	                .nheaders = 1,
	                .context = ctx};
	mp_diags d = {0};
	mp_evaluator *ev = given ? given : mp_evaluator_new(e, NULL, &d);
	int allowed = 0;
	if (!ev) {
		assert_true(d.errors > 0);
	} else {
		mp_decision out;
		mp_decide(ev, &r, &out, NULL);
		allowed = out.allow;
		if (!allowed) {
			assert_true(out.nreasons > 0);
			assert_non_null(strstr(out.reasons[0].message, "when failed"));
		}
	}
	if (!given)
		mp_evaluator_free(ev);
	mp_diags_free(&d);
	json_decref(ctx); /* NULL when jansson's allocation failed: no context then */
	return allowed;
}

/* (b) An evaluator made, its state built for the `when`, the decision. */
static int decide_when(fixture *f)
{
	return decide_with(f->unit, NULL);
}

/* (b') The same decision on an evaluator whose state is built already: the per-request path. */
static mp_evaluator *ready; /* made by test_decide_ready, over f->unit */
static int decide_ready(fixture *f)
{
	return decide_with(f->unit, ready);
}

/* (c) An evaluator made, the audit of check_lua run on this thread: -1, or its result with the
 * check's findings or its error. */
static int audit_check(fixture *f)
{
	mp_diags d = {0};
	mp_evaluator *ev = mp_evaluator_new(f->checks, NULL, &d);
	int done = 0;
	if (!ev) {
		assert_true(d.errors > 0);
	} else {
		mp_audit_opts o = {.now = 1700000000, .jobs = 1};
		mp_audit_result *res = NULL;
		if (mp_audit_stream(ev, &o, NULL, &res) == 0) {
			json_t *sum = mp_audit_result_summary(res);
			json_t *errors = json_object_get(sum, "errors");
			json_int_t findings = json_integer_value(
			    json_object_get(json_object_get(sum, "counts"), "findings"));
			assert_true(json_array_size(errors) > 0 || findings > 0);
			done = json_array_size(errors) == 0;
		}
		mp_audit_result_free(res);
	}
	mp_evaluator_free(ev);
	mp_diags_free(&d);
	return done;
}

/* The panic function's hook: an error escaped every protected call. Counts it and reports it as
 * this test's failure (fail_msg longjmps back to cmocka) instead of letting Lua abort. */
static unsigned panics;
static const char *failing; /* which allocations fail ... */
static long failing_k;      /* ... from which on */
static void on_panic(const char *msg)
{
	panics++;
	mp_alloc_fail_after(-1);
	mp_sandbox_fail_after(-1);
	fail_msg("an unprotected Lua error reached the panic function (%s from k = %ld on): %s",
	         failing, failing_k, msg);
}

/* Runs s with allocations failing from k = 0, 1, 2, ... on until it succeeds: each failure must
 * be an error (s's assertions), never the panic. fail_after is mp_alloc_fail_after or
 * mp_sandbox_fail_after. Returns the k's tried. */
static long sweep_with(fixture *f, scenario s, void (*fail_after)(long))
{
	long k = 0;
	panics = 0;
	failing = fail_after == mp_alloc_fail_after ? "process allocations" : "Lua blocks";
	for (;; k++) {
		failing_k = k;
		fail_after(k);
		int ok = s(f);
		fail_after(-1);
		if (ok)
			break;
		assert_true(k < MAX_K);
	}
	assert_int_equal(panics, 0);
	return k + 1;
}

/* Both sweeps of s, which must succeed first when nothing fails. */
static void sweep(fixture *f, scenario s)
{
	assert_true(s(f));
	long a = sweep_with(f, s, mp_alloc_fail_after);
	long l = sweep_with(f, s, mp_sandbox_fail_after);
	print_message("%ld process allocations failed in turn, %ld Lua blocks\n", a, l);
}

static int setup(void **state)
{
	static fixture f;
	mp_diags d = {0};
	setenv("MESHPOL_STDLIB", "stdlib", 1);
	mp_sandbox_on_panic(on_panic);
	f.unit = mp_engine_open(MESH, DIR, &d);
	f.check_dir = write_bundle_dir(check_manifest, "checks.lua", check_lua, NULL);
	f.checks = f.check_dir ? mp_engine_open(MESH, f.check_dir, &d) : NULL;
	mp_diags_print(&d, stderr);
	mp_diags_free(&d);
	*state = &f;
	return f.unit && f.checks ? 0 : -1;
}

static int teardown(void **state)
{
	fixture *f = *state;
	mp_engine_release(f->unit);
	mp_engine_release(f->checks);
	if (f->check_dir)
		remove_bundle_dir(f->check_dir);
	return 0;
}

/* The message of the decision r gets from ev (a deny's first reason), into out. */
static int decide_message(mp_evaluator *ev, char *out, size_t n)
{
	mp_request r = {.principal = "spiffe://t/ns/shop/sa/web",
	                .dst_service = "shop/web",
	                .method = "DELETE",
	                .path = "/",
	                .headers = &ok_header,
	                .nheaders = 1};
	mp_decision dec;
	mp_decide(ev, &r, &dec, NULL);
	snprintf(out, n, "%s", dec.nreasons ? dec.reasons[0].message : "");
	return dec.allow;
}

/* A state that could not be built for want of the process's memory (every Lua block failing
 * from the k-th on, for every k until it builds) is not built again before the wait has passed,
 * and is once it has; the decision then runs its `when`. */
static void test_state_built_again(void **state)
{
	fixture *f = *state;
	char msg[512];
	long k, failures = 0;
	for (k = 0; k < MAX_K; k++) {
		mp_diags d = {0};
		mp_evaluator *ev = mp_evaluator_new(f->unit, NULL, &d);
		assert_non_null(ev);
		mp_evaluator_retry_after(UINT64_C(3600) * 1000000000u); /* not within this test */
		mp_sandbox_fail_after(k);
		int allowed = decide_message(ev, msg, sizeof(msg));
		mp_sandbox_fail_after(-1);
		if (allowed) { /* built with every block it needed: done */
			mp_evaluator_free(ev);
			mp_diags_free(&d);
			break;
		}
		assert_non_null(strstr(msg, "when failed"));
		char again[512], err[512];
		if (mp_evaluator_sandbox(ev, err, sizeof(err))) {
			/* built: the `when` itself met the failure; the next one runs */
			assert_true(decide_message(ev, again, sizeof(again)));
			mp_evaluator_free(ev);
			mp_diags_free(&d);
			continue;
		}
		failures++;
		/* the memory is back, but the wait has not passed: the same failure */
		assert_non_null(strstr(msg, err));
		assert_false(decide_message(ev, again, sizeof(again)));
		assert_string_equal(again, msg);
		/* once it has, the state is built and the `when` runs */
		mp_evaluator_retry_after(0);
		assert_true(decide_message(ev, again, sizeof(again)));
		mp_evaluator_free(ev);
		mp_diags_free(&d);
	}
	mp_evaluator_retry_after(1000000000u);
	assert_true(k < MAX_K);
	assert_true(failures > 10);
	print_message("%ld failed builds, each built again once the wait passed\n", failures);
}

/* A cap the bundle cannot load under fails every time: never built again. */
static void test_cap_failure_stays(void **state)
{
	fixture *f = *state;
	mp_diags d = {0};
	mp_evaluator_opts o = {.mem_limit = 16 * 1024};
	mp_evaluator *ev = mp_evaluator_new(f->unit, &o, &d);
	assert_non_null(ev);
	mp_evaluator_retry_after(0);
	char msg[512], err[512];
	assert_false(decide_message(ev, msg, sizeof(msg)));
	assert_null(mp_evaluator_sandbox(ev, err, sizeof(err)));
	assert_null(strstr(err, "the process could not allocate"));
	for (int i = 0; i < 3; i++) {
		char again[512];
		assert_false(decide_message(ev, again, sizeof(again)));
		assert_string_equal(again, msg);
	}
	mp_evaluator_retry_after(1000000000u);
	mp_evaluator_free(ev);
	mp_diags_free(&d);
}

/* A memory error names what ran out: the cap ("limit N bytes") or the process. */
static void test_nomem_says_which(void **state)
{
	(void)state;
	mp_sandbox_opts o = {.mem_limit = 1 << 20};
	char err[512];
	mp_sandbox *sb = mp_sandbox_new(&o, err, sizeof(err));
	assert_non_null(sb);
	static const char hog[] = "local t = {} for i = 1, 1e7 do t[i] = i end";
	assert_int_equal(mp_sandbox_run(sb, hog, strlen(hog), "hog", 0, err, sizeof(err)),
	                 MP_SANDBOX_NOMEM);
	assert_string_equal(err, "hog: not enough memory (limit 1048576 bytes)");
	assert_int_equal(mp_sandbox_mem_exhausted(sb), 0);
	static const char small[] = "local t = {} for i = 1, 1000 do t[i] = {i} end";
	mp_sandbox_fail_after(0);
	assert_int_equal(mp_sandbox_run(sb, small, strlen(small), "small", 0, err, sizeof(err)),
	                 MP_SANDBOX_NOMEM);
	mp_sandbox_fail_after(-1);
	assert_non_null(strstr(err, "small: not enough memory: the process could not allocate"));
	assert_null(strstr(err, "limit"));
	assert_true(mp_sandbox_mem_exhausted(sb) > 0);
	/* and the state works on */
	assert_int_equal(mp_sandbox_run(sb, small, strlen(small), "small", 0, err, sizeof(err)),
	                 MP_SANDBOX_OK);
	mp_sandbox_free(sb);
}

static void test_open_engine(void **state)
{
	sweep(*state, open_engine);
}

static void test_open_archive(void **state)
{
	sweep(*state, open_archive);
}

static void test_record_declarations(void **state)
{
	sweep(*state, record_declarations);
}

static void test_policy_tests(void **state)
{
	sweep(*state, policy_tests);
}

static void test_decide_when(void **state)
{
	sweep(*state, decide_when);
}

static void test_decide_ready(void **state)
{
	fixture *f = *state;
	mp_diags d = {0};
	ready = mp_evaluator_new(f->unit, NULL, &d);
	assert_non_null(ready);
	sweep(f, decide_ready);
	mp_evaluator_free(ready);
	mp_diags_free(&d);
}

static void test_audit_check(void **state)
{
	sweep(*state, audit_check);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_open_engine),         cmocka_unit_test(test_open_archive),
	    cmocka_unit_test(test_record_declarations), cmocka_unit_test(test_decide_when),
	    cmocka_unit_test(test_decide_ready),        cmocka_unit_test(test_audit_check),
	    cmocka_unit_test(test_policy_tests),        cmocka_unit_test(test_state_built_again),
	    cmocka_unit_test(test_cap_failure_stays),   cmocka_unit_test(test_nomem_says_which),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
