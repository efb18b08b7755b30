/* test_audit_emit.c: the streamed audit (engine/audit_emit.c, mp_audit_stream): its json and
 * text reports are byte for byte what the writers make of the audit's tree, its spool gives the
 * same findings back one at a time, waivers apply finding by finding, and a spool that cannot
 * be made fails the audit instead of losing findings. The parallel audit (Lua checks on a
 * worker thread, engine/audit.c) writes every format byte for byte as the serial one. */
#include "audit.h"
#include "engine.h"
#include "report.h"
#include "waiver.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

typedef struct {
	mp_engine *e;
	mp_evaluator *ev;
	mp_waivers *w;
	uint32_t jobs; /* mp_audit_opts.jobs */
} fixture;

/* The audit fixture of tests/data/audit: a model with routes and an rbac bundle (findings of
 * several rules and severities, a role without binding). waivers: YAML text, or NULL. */
static void open_bundle(fixture *f, const char *bundle, const char *waivers)
{
	mp_diags d = {0};
	setenv("MESHPOL_STDLIB", "stdlib", 1);
	f->jobs = 0;
	f->e = mp_engine_open("tests/data/audit/rbac", bundle, &d);
	mp_diags_print(&d, stderr);
	assert_non_null(f->e);
	f->ev = mp_evaluator_new(f->e, NULL, &d);
	assert_non_null(f->ev);
	f->w = NULL;
	if (waivers)
		assert_int_equal(
		    mp_waivers_parse("waivers.yaml", waivers, strlen(waivers), &f->w, &d), 0);
	mp_diags_free(&d);
}

static void open_fixture(fixture *f, const char *waivers)
{
	open_bundle(f, "tests/data/audit/rbac-bundle", waivers);
}

static void close_fixture(fixture *f)
{
	mp_waivers_free(f->w);
	mp_evaluator_free(f->ev);
	mp_engine_release(f->e);
}

static mp_audit_opts opts_of(const fixture *f)
{
	return (mp_audit_opts){
	    .fail_on = MP_ENF_HARD, .now = 1700000000, .waivers = f->w, .jobs = f->jobs};
}

/* The report of format written from the tree, into *text (malloc'd). */
static size_t tree_report(fixture *f, const char *format, char **text)
{
	mp_audit_opts o = opts_of(f);
	size_t len = 0;
	char err[256];
	json_t *a = mp_audit_run(f->ev, &o);
	assert_non_null(a);
	FILE *out = open_memstream(text, &len);
	if (mp_report_write(a, format, out, 0, err, sizeof(err)) < 0)
		fail_msg("%s: %s", format, err);
	fclose(out);
	json_decref(a);
	return len;
}

/* The same streamed: json straight from the audit, text from its result. */
static size_t streamed_report(fixture *f, const char *format, char **text)
{
	mp_audit_opts o = opts_of(f);
	mp_audit_result *r = NULL;
	size_t len = 0;
	char err[256];
	FILE *out = open_memstream(text, &len);
	int json = !strcmp(format, "json");
	assert_int_equal(mp_audit_stream(f->ev, &o, json ? out : NULL, &r), 0);
	if (!json)
		assert_int_equal(mp_report_write_result(r, format, out, 0, err, sizeof(err)), 0);
	fclose(out);
	mp_audit_result_free(r);
	return len;
}

static void same_bytes(const char *waivers)
{
	static const char *const formats[] = {"json", "text"};
	for (size_t k = 0; k < 2; k++) {
		fixture f;
		char *a = NULL, *b = NULL;
		open_fixture(&f, waivers);
		size_t na = tree_report(&f, formats[k], &a),
		       nb = streamed_report(&f, formats[k], &b);
		if (na != nb || memcmp(a, b, na))
			fail_msg(
			    "%s: the streamed report differs from the tree's (%zu and %zu bytes)",
			    formats[k], nb, na);
		assert_true(na > 200);
		free(a);
		free(b);
		close_fixture(&f);
	}
}

static void test_same_bytes(void **state)
{
	(void)state;
	same_bytes(NULL);
}

/* One waiver by rule and subject, one by a fingerprint no finding has, one expired. */
static const char waivers_yaml[] = "waivers:\n"
                                   "  - rule: t.rbac/ghost-role\n"
                                   "    subject: role ghost-role\n"
                                   "    reason: kept for the audit of the old roles\n"
                                   "    owner: security\n"
                                   "    expires: 2999-12-31\n"
                                   "  - fingerprint: 0123456789ab\n"
                                   "    reason: nothing has it\n"
                                   "    owner: nobody\n"
                                   "    expires: 2999-12-31\n"
                                   "  - rule: t.rbac/ghost-role\n"
                                   "    subject: role ghost-role\n"
                                   "    reason: lapsed\n"
                                   "    owner: security\n"
                                   "    expires: 2001-01-01\n";

static void test_same_bytes_with_waivers(void **state)
{
	(void)state;
	same_bytes(waivers_yaml);
}

static int count_finding(void *ctx, json_t *f)
{
	(void)f;
	++*(size_t *)ctx;
	return 0;
}

/* meshpol audit --trail --format json: streamed to the spool only, the trail reads the findings
 * back, adds "trail" to the summary, and the report is written after it (the spool read again):
 * the tree's json with the same member added, byte for byte, however often it is written. */
static void test_json_after_the_trail(void **state)
{
	(void)state;
	fixture f;
	mp_audit_result *r = NULL;
	char *a = NULL, *b = NULL, err[256];
	size_t na = 0, nb = 0, seen = 0;
	open_fixture(&f, waivers_yaml);
	mp_audit_opts o = opts_of(&f);
	json_t *tree = mp_audit_run(f.ev, &o),
	       *trail = json_pack("{s:s, s:i}", "file", "t.jsonl", "first_seq", 1);
	assert_non_null(tree);
	assert_int_equal(json_object_set(tree, "trail", trail), 0);
	FILE *out = open_memstream(&a, &na);
	assert_int_equal(mp_report_write(tree, "json", out, 0, err, sizeof(err)), 0);
	fclose(out);
	assert_int_equal(mp_audit_stream(f.ev, &o, NULL, &r), 0);
	assert_int_equal(mp_audit_result_findings(r, count_finding, &seen), 0);
	assert_int_equal(seen, json_array_size(json_object_get(tree, "findings")));
	assert_true(seen > 0);
	assert_int_equal(json_object_set(mp_audit_result_summary(r), "trail", trail), 0);
	for (int round = 0; round < 2; round++) {
		out = open_memstream(&b, &nb);
		assert_int_equal(mp_audit_result_write_json(r, out), 0);
		fclose(out);
		if (na != nb || memcmp(a, b, na))
			fail_msg(
			    "round %d: the json after the trail differs from the tree's (%zu and "
			    "%zu bytes)",
			    round, nb, na);
		free(b);
		b = NULL;
	}
	mp_audit_result_free(r);
	json_decref(trail);
	json_decref(tree);
	free(a);
	close_fixture(&f);
}

/* Waivers apply finding by finding as mp_waivers_apply applies them to the whole list: the first
 * in force wins, every match counts, an expired one waives nothing and fails the audit. */
static void test_waivers(void **state)
{
	(void)state;
	fixture f;
	open_fixture(&f, waivers_yaml);
	mp_audit_opts o = opts_of(&f);
	json_t *a = mp_audit_run(f.ev, &o), *fi;
	assert_non_null(a);
	json_t *w = json_object_get(a, "waivers");
	assert_int_equal(json_array_size(w), 3);
	assert_string_equal(json_string_value(json_object_get(json_array_get(w, 0), "status")),
	                    "active");
	assert_int_equal(json_integer_value(json_object_get(json_array_get(w, 0), "findings")), 1);
	assert_string_equal(json_string_value(json_object_get(json_array_get(w, 1), "status")),
	                    "unused");
	assert_string_equal(json_string_value(json_object_get(json_array_get(w, 2), "status")),
	                    "expired");
	assert_int_equal(json_integer_value(json_object_get(json_array_get(w, 2), "findings")), 1);
	size_t i, waived = 0;
	json_array_foreach(json_object_get(a, "findings"), i, fi)
	{
		json_t *wv = json_object_get(fi, "waiver");
		if (!wv)
			continue;
		waived++;
		assert_string_equal(json_string_value(json_object_get(wv, "reason")),
		                    "kept for the audit of the old roles");
	}
	assert_int_equal(waived, 1);
	assert_int_equal(
	    json_integer_value(json_object_get(json_object_get(a, "counts"), "waived")), 1);
	assert_string_equal(json_string_value(json_object_get(a, "result")), "fail");
	json_decref(a);
	close_fixture(&f);
}

typedef struct {
	json_t *want; /* the tree's findings */
	size_t n;
} walk;

static int check_one(void *ctx, json_t *finding)
{
	walk *w = ctx;
	json_t *want = json_array_get(w->want, w->n++);
	if (!json_equal(want, finding))
		fail_msg("finding %zu read back from the spool differs from the tree's", w->n - 1);
	return 0;
}

static int stop_at_two(void *ctx, json_t *finding)
{
	(void)finding;
	return ++*(int *)ctx == 2 ? 7 : 0;
}

/* The spool gives back every listed finding, in order, as the tree holds it; a callback's
 * non-zero return stops the walk and is returned; the walk can be repeated. */
static void test_findings_read_back(void **state)
{
	(void)state;
	fixture f;
	open_fixture(&f, NULL);
	mp_audit_opts o = opts_of(&f);
	json_t *tree = mp_audit_run(f.ev, &o);
	mp_audit_result *r = NULL;
	assert_int_equal(mp_audit_stream(f.ev, &o, NULL, &r), 0);
	walk w = {json_object_get(tree, "findings"), 0};
	assert_true(json_array_size(w.want) >= 3);
	assert_int_equal(mp_audit_result_findings(r, check_one, &w), 0);
	assert_int_equal(w.n, json_array_size(w.want));
	int calls = 0;
	assert_int_equal(mp_audit_result_findings(r, stop_at_two, &calls), 7);
	assert_int_equal(calls, 2);
	w.n = 0;
	assert_int_equal(mp_audit_result_findings(r, check_one, &w), 0);
	/* the summary is the audit without its findings and rules */
	json_t *s = mp_audit_result_summary(r);
	assert_null(json_object_get(s, "findings"));
	assert_null(json_object_get(s, "rules"));
	assert_true(json_equal(json_object_get(s, "counts"), json_object_get(tree, "counts")));
	mp_audit_result_free(r);
	json_decref(tree);
	close_fixture(&f);
}

/* No spool, no audit: findings are never dropped silently. */
static void test_no_spool(void **state)
{
	(void)state;
	fixture f;
	open_fixture(&f, NULL);
	mp_audit_opts o = opts_of(&f);
	mp_audit_result *r = (mp_audit_result *)&f; /* must be reset */
	char *old = getenv("TMPDIR") ? strdup(getenv("TMPDIR")) : NULL;
	setenv("TMPDIR", "/nonexistent/meshpol-test", 1);
	assert_int_equal(mp_audit_stream(f.ev, &o, NULL, &r), -1);
	assert_null(r);
	assert_null(mp_audit_run(f.ev, &o));
	if (old)
		setenv("TMPDIR", old, 1);
	else
		unsetenv("TMPDIR");
	free(old);
	close_fixture(&f);
}

/* A bundle with Lua checks (on the worker) beside rbac rules (on the caller's thread): findings
 * on both sides, an error on the worker's, waivers matching on both. */
static const char parallel_waivers[] = "waivers:\n"
                                       "  - rule: t.checks/every-service\n"
                                       "    subject: shop/web\n"
                                       "    reason: seen\n"
                                       "    owner: security\n"
                                       "    expires: 2999-12-31\n"
                                       "  - rule: t.grants/unbound\n"
                                       "    subject: role unbound\n"
                                       "    reason: old\n"
                                       "    owner: security\n"
                                       "    expires: 2999-12-31\n";

/* Every format, from the tree and streamed, with and without waivers: the audit on two threads
 * is the serial one, byte for byte. */
static void test_parallel_same_bytes(void **state)
{
	(void)state;
	static const char *const formats[] = {"text", "json", "junit", "sarif", "markdown", "html"};
	const char *const waivers[] = {NULL, parallel_waivers};
	for (size_t wi = 0; wi < 2; wi++) {
		fixture f;
		open_bundle(&f, "tests/data/audit/parallel-bundle", waivers[wi]);
		for (size_t k = 0; k < sizeof(formats) / sizeof(formats[0]); k++) {
			for (int streamed = 0; streamed < 2; streamed++) {
				char *a = NULL, *b = NULL;
				size_t na, nb;
				if (streamed && k > 1)
					continue; /* json and text stream */
				f.jobs = 1;
				na = streamed ? streamed_report(&f, formats[k], &a)
				              : tree_report(&f, formats[k], &a);
				f.jobs = 2;
				nb = streamed ? streamed_report(&f, formats[k], &b)
				              : tree_report(&f, formats[k], &b);
				if (na != nb || memcmp(a, b, na))
					fail_msg(
					    "%s%s%s: the parallel audit differs from the serial "
					    "(%zu and %zu bytes)",
					    formats[k], streamed ? " streamed" : "",
					    waivers[wi] ? " with waivers" : "", nb, na);
				free(a);
				free(b);
			}
		}
		/* both sides found something: the worker's checks, an error, the rbac rules */
		f.jobs = 2;
		mp_audit_opts o = opts_of(&f);
		json_t *a = mp_audit_run(f.ev, &o), *fi;
		assert_non_null(a);
		size_t i, checks = 0, rbac = 0;
		json_array_foreach(json_object_get(a, "findings"), i, fi)
		{
			const char *p = json_string_value(json_object_get(fi, "policy"));
			checks += !strcmp(p, "t.checks");
			rbac += !strcmp(p, "t.grants");
		}
		assert_true(checks >= 6 && rbac >= 2);
		assert_int_equal(json_array_size(json_object_get(a, "errors")), 1);
		if (waivers[wi])
			assert_int_equal(json_integer_value(json_object_get(
			                     json_object_get(a, "counts"), "waived")),
			                 2);
		json_decref(a);
		close_fixture(&f);
	}
}

typedef struct {
	uint64_t done, total, calls, named;
	int backwards;
} progress_log;

static void on_progress(void *ctx, const char *step, uint64_t done, uint64_t total)
{
	progress_log *p = ctx;
	if ((p->calls && (done < p->done || total != p->total)) || done > total)
		p->backwards = 1;
	p->named +=
	    !strcmp(step, "policy-checks") || !strcmp(step, "rbac") || !strcmp(step, "routes");
	p->done = done;
	p->total = total;
	p->calls++;
}

/* Progress on two threads: reported on the caller's only, never backwards, every row named,
 * ending at the total. */
static void test_parallel_progress(void **state)
{
	(void)state;
	fixture f;
	progress_log p = {0};
	open_bundle(&f, "tests/data/audit/parallel-bundle", NULL);
	f.jobs = 2;
	mp_audit_opts o = opts_of(&f);
	o.progress = on_progress;
	o.progress_ctx = &p;
	json_t *a = mp_audit_run(f.ev, &o);
	assert_non_null(a);
	assert_false(p.backwards);
	assert_int_equal(p.done, p.total);
	assert_true(p.named >= 3);
	json_decref(a);
	close_fixture(&f);
}

/* A stop request (mp_audit_opts.interrupt) made at the first progress step, as meshpol audit's
 * SIGINT handler makes it: on one thread and on two, the audit ends with no result and writes
 * nothing; the evaluator's state is left usable, and the next audit is whole. */
static atomic_int stop_flag;

static void stop_at_first_step(void *ctx, const char *step, uint64_t done, uint64_t total)
{
	(void)step, (void)done, (void)total;
	(*(int *)ctx)++;
	atomic_store(&stop_flag, 1);
}

static void test_interrupted(void **state)
{
	(void)state;
	for (uint32_t jobs = 1; jobs <= 2; jobs++) {
		fixture f;
		int steps = 0;
		char *text = NULL;
		size_t len = 0;
		open_bundle(&f, "tests/data/audit/parallel-bundle", NULL);
		f.jobs = jobs;
		mp_audit_opts o = opts_of(&f);
		o.interrupt = &stop_flag;
		o.progress = stop_at_first_step;
		o.progress_ctx = &steps;
		atomic_store(&stop_flag, 0);
		FILE *out = open_memstream(&text, &len);
		mp_audit_result *res = (mp_audit_result *)&steps;
		assert_int_equal(mp_audit_stream(f.ev, &o, out, &res), MP_AUDIT_INTERRUPTED);
		assert_null(res);
		fclose(out);
		assert_int_equal(len, 0); /* no report, not even its first bytes */
		free(text);
		assert_true(steps >= 1);
		assert_null(mp_audit_run(f.ev, &o)); /* the flag stays set: stopped again */
		/* cleared: the same evaluator audits in full */
		atomic_store(&stop_flag, 0);
		o.progress = NULL;
		json_t *a = mp_audit_run(f.ev, &o);
		assert_non_null(a);
		assert_true(json_array_size(json_object_get(a, "findings")) > 0);
		assert_int_equal(json_array_size(json_object_get(a, "errors")),
		                 1); /* the failing check's own */
		json_decref(a);
		close_fixture(&f);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_same_bytes),
	    cmocka_unit_test(test_same_bytes_with_waivers),
	    cmocka_unit_test(test_json_after_the_trail),
	    cmocka_unit_test(test_waivers),
	    cmocka_unit_test(test_findings_read_back),
	    cmocka_unit_test(test_no_spool),
	    cmocka_unit_test(test_parallel_same_bytes),
	    cmocka_unit_test(test_parallel_progress),
	    cmocka_unit_test(test_interrupted),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
