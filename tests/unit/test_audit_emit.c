/* test_audit_emit.c: the streamed audit (engine/audit_emit.c, mp_audit_stream): every report
 * format written from it is byte for byte what the writers make of the audit's tree, its spool
 * gives the same findings back one at a time, waivers apply finding by finding, and a spool that
 * cannot be made, or is truncated or unreadable when a report reads it back, fails the report
 * instead of losing findings. The parallel audit (Lua checks on a worker thread,
 * engine/audit.c) writes every format byte for byte as the serial one. */
#define _GNU_SOURCE /* fopencookie */
#include "testutil.h"

#include "audit.h"
#include "audit_int.h"
#include "engine.h"
#include "report.h"
#include "waiver.h"

#include <fcntl.h>
#include <unistd.h>

#include <errno.h>
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
	uint32_t jobs;        /* mp_audit_opts.jobs */
	int to_file;          /* streamed reports into a file (sendfile), not memory */
	uint32_t by_severity; /* fail on medium severity, not on hard enforcement */
	json_t *trail;        /* added to the audit as "trail" before the report, or NULL */
} fixture;

/* A model and a bundle (NULL: none); waivers: YAML text, or NULL. */
static void open_audit(fixture *f, const char *model, const char *bundle, const char *waivers)
{
	mp_diags d = {0};
	setenv("MESHPOL_STDLIB", "stdlib", 1);
	f->jobs = 0;
	f->to_file = 0;
	f->by_severity = 0;
	f->trail = NULL;
	f->e = mp_engine_open(model, bundle, &d);
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

/* The audit fixture of tests/data/audit: a model with routes and an rbac bundle (findings of
 * several rules and severities, a role without binding). */
static void open_bundle(fixture *f, const char *bundle, const char *waivers)
{
	open_audit(f, "tests/data/audit/rbac", bundle, waivers);
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
	return (mp_audit_opts){.fail_on = f->by_severity ? MP_SEV_MEDIUM : MP_ENF_HARD,
	                       .fail_on_by =
	                           f->by_severity ? MP_FAIL_ON_SEVERITY : MP_FAIL_ON_ENFORCEMENT,
	                       .now = 1700000000,
	                       .waivers = f->w,
	                       .jobs = f->jobs};
}

static const char *const formats[] = {"text", "json", "junit", "sarif", "markdown", "html"};
#define NFORMATS (sizeof(formats) / sizeof(formats[0]))

/* The report of format written from the tree, into *text (malloc'd); html with the picture. */
static size_t tree_report(fixture *f, const char *format, char **text)
{
	mp_audit_opts o = opts_of(f);
	mp_report_opts ro = {.engine = f->e};
	size_t len = 0;
	char err[256];
	json_t *a = mp_audit_run(f->ev, &o);
	assert_non_null(a);
	if (f->trail)
		assert_int_equal(json_object_set(a, "trail", f->trail), 0);
	FILE *out = open_memstream(text, &len);
	if (mp_report_write_opts(a, format, out, &ro, err, sizeof(err)) < 0)
		fail_msg("%s: %s", format, err);
	fclose(out);
	json_decref(a);
	return len;
}

/* The same streamed: json straight from the audit (without a trail), the others from its
 * result. */
static size_t streamed_report(fixture *f, const char *format, char **text)
{
	mp_audit_opts o = opts_of(f);
	mp_report_opts ro = {.engine = f->e};
	mp_audit_result *r = NULL;
	size_t len = 0;
	char err[256];
	FILE *out = f->to_file ? tmpfile() : open_memstream(text, &len);
	assert_non_null(out);
	int direct = !strcmp(format, "json") && !f->trail;
	assert_int_equal(mp_audit_stream(f->ev, &o, direct ? out : NULL, &r), 0);
	if (f->trail)
		assert_int_equal(json_object_set(mp_audit_result_summary(r), "trail", f->trail), 0);
	if (!direct && mp_report_write_result_opts(r, format, out, &ro, err, sizeof(err)) < 0)
		fail_msg("%s streamed: %s", format, err);
	if (f->to_file) { /* read back: the findings went in by sendfile */
		len = (size_t)ftello(out);
		*text = malloc(len + 1);
		assert_non_null(*text);
		rewind(out);
		assert_int_equal(fread(*text, 1, len, out), len);
	}
	fclose(out);
	mp_audit_result_free(r);
	return len;
}

/* Every format of the fixture's audit, tree and streamed, byte for byte. */
static void same_reports(fixture *f, const char *what)
{
	for (size_t k = 0; k < NFORMATS; k++) {
		char *a = NULL, *b = NULL;
		size_t na = tree_report(f, formats[k], &a), nb = streamed_report(f, formats[k], &b);
		if (na != nb || memcmp(a, b, na)) {
			size_t i = 0;
			while (i < na && i < nb && a[i] == b[i])
				i++;
			fail_msg("%s, %s: the streamed report differs from the tree's at byte %zu "
			         "(%zu and %zu bytes): ...%.60s",
			         what, formats[k], i, nb, na, b + (i > 20 ? i - 20 : 0));
		}
		if (na < 100)
			fail_msg("%s, %s: %zu bytes", what, formats[k], na);
		free(a);
		free(b);
	}
}

static void same_bytes(const char *waivers)
{
	fixture f;
	open_fixture(&f, waivers);
	same_reports(&f, waivers ? "rbac, waivers" : "rbac");
	close_fixture(&f);
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
	const char *const waivers[] = {NULL, parallel_waivers};
	for (size_t wi = 0; wi < 2; wi++) {
		fixture f;
		open_bundle(&f, "tests/data/audit/parallel-bundle", waivers[wi]);
		for (size_t k = 0; k < NFORMATS; k++) {
			for (int streamed = 0; streamed < 3; streamed++) {
				char *a = NULL, *b = NULL;
				size_t na, nb;
				f.to_file = streamed == 2;
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
					    formats[k],
					    streamed == 2 ? " streamed to a file"
					    : streamed    ? " streamed"
					                  : "",
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

/* Every format, tree and streamed, over audits that exercise each writer's paths: Lua checks
 * that fail and error (parallel-bundle) with and without waivers, serial and parallel, failing
 * on a severity, the trail's member added after the audit (--trail), residency leak paths and
 * controls (examples/acme: the html picture's leak edges, markdown's controls), and an audit
 * without a bundle. */
static void test_streamed_reports(void **state)
{
	(void)state;
	static const struct {
		const char *model, *bundle, *waivers, *what;
		uint32_t jobs, by_severity, trail;
	} cases[] = {
	    {"tests/data/audit/rbac", "tests/data/audit/parallel-bundle", NULL, "checks", 2, 0, 0},
	    {"tests/data/audit/rbac", "tests/data/audit/parallel-bundle", parallel_waivers,
	     "checks, waivers, serial", 1, 0, 0},
	    {"tests/data/audit/rbac", "tests/data/audit/parallel-bundle", parallel_waivers,
	     "checks, waivers, fail on medium, trail", 2, 1, 1},
	    {"tests/data/audit/rbac", "tests/data/audit/rbac-bundle", waivers_yaml,
	     "rbac, waivers, trail", 0, 0, 1},
	    {"examples/acme", "policies", NULL, "acme", 0, 0, 0},
	    {"examples/acme", "policies", NULL, "acme, fail on medium, trail", 0, 1, 1},
	    {"examples/acme", NULL, NULL, "acme without a bundle", 0, 0, 0},
	};
	json_t *trail = json_pack("{s:s, s:i, s:i, s:s, s:b}", "file", "t.jsonl", "first_seq", 1,
	                          "seal_seq", 9, "head", "ab", "signed", 0);
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		fixture f;
		open_audit(&f, cases[c].model, cases[c].bundle, cases[c].waivers);
		f.jobs = cases[c].jobs;
		f.by_severity = cases[c].by_severity;
		f.trail = cases[c].trail ? trail : NULL;
		same_reports(&f, cases[c].what);
		close_fixture(&f);
	}
	json_decref(trail);
}

/* ---- a spool damaged under the report: the report fails, it is never passed as whole ---- */

typedef enum { CUT_HALF, CUT_BOUNDARY, UNREADABLE } damage;

/* Truncates the spool (to half, or to the end of its first finding: a file that still parses)
 * or makes its descriptor write-only. */
static void damage_spool(mp_audit_result *r, int part, damage how)
{
	FILE *spool = au_result_spool(r, part);
	assert_non_null(spool);
	int fd = fileno(spool);
	off_t size = lseek(fd, 0, SEEK_END);
	assert_true(size > 100);
	if (how == UNREADABLE) {
		char path[] = "/tmp/meshpol-test-spool.XXXXXX";
		int w = mkstemp(path);
		assert_true(w >= 0);
		close(w);
		int wonly = open(path, O_WRONLY);
		unlink(path);
		assert_true(wonly >= 0);
		assert_int_equal(dup2(wonly, fd), fd); /* reads now fail: EBADF */
		close(wonly);
		return;
	}
	off_t cut = size / 2;
	if (how == CUT_BOUNDARY) { /* after the first finding's closing line, before ",\n" */
		char buf[65536];
		ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
		assert_true(n > 0);
		buf[n] = '\0';
		char *end = strstr(buf, "\n    }");
		assert_non_null(end);
		cut = (off_t)(end - buf) + 6;
	}
	assert_int_equal(ftruncate(fd, cut), 0);
}

/* Every format of a damaged spool: -1, a message that says the findings could not be read back,
 * and, for the formats that read the findings before writing (all but json, which copies them
 * in place), nothing written. Part 1: a serial audit's spool; part 0: a parallel audit's first
 * (the Lua checks'), read before the other. The json report also into a file, which the
 * kernel copies the findings into (sendfile), not a buffer. */
static void test_damaged_spool(void **state)
{
	(void)state;
	for (int part = 0; part < 2; part++)
		for (damage how = CUT_HALF; how <= UNREADABLE; how++)
			for (size_t k = 0; k <= NFORMATS; k++) {
				fixture f;
				mp_audit_result *r = NULL;
				char *text = NULL, err[512] = "";
				size_t len = 0;
				const char *format = k < NFORMATS ? formats[k] : "json";
				if (part == 0) {
					open_bundle(&f, "tests/data/audit/parallel-bundle", NULL);
					f.jobs = 2;
				} else {
					open_fixture(&f, waivers_yaml);
				}
				mp_audit_opts o = opts_of(&f);
				assert_int_equal(mp_audit_stream(f.ev, &o, NULL, &r), 0);
				damage_spool(r, part, how);
				FILE *out = k < NFORMATS ? open_memstream(&text, &len) : tmpfile();
				int rc =
				    mp_report_write_result(r, format, out, 0, err, sizeof(err));
				if (k == NFORMATS)
					len = (size_t)ftello(out);
				fclose(out);
				if (rc != -1)
					fail_msg(
					    "%s, part %d, damage %d: the report passed (%zu bytes)",
					    format, part, (int)how, len);
				if (!strstr(err, "findings back"))
					fail_msg("%s, part %d, damage %d: %s", format, part,
					         (int)how, err);
				if (strcmp(format, "json"))
					assert_int_equal(len, 0);
				free(text);
				mp_audit_result_free(r);
				close_fixture(&f);
			}
}

/* A stream that cuts the spool at its first write: the spool fails in a pass made after the
 * report has begun (sarif's results follow its rules), and the report fails. */
typedef struct {
	mp_audit_result *r;
	FILE *text;
	int cut;
} cutter;

static ssize_t cut_write(void *c, const char *buf, size_t n)
{
	cutter *k = c;
	if (!k->cut++)
		assert_int_equal(ftruncate(fileno(au_result_spool(k->r, 1)), 10), 0);
	return (ssize_t)fwrite(buf, 1, n, k->text);
}

static void test_spool_cut_mid_report(void **state)
{
	(void)state;
	fixture f;
	mp_audit_result *r = NULL;
	char *text = NULL, err[512] = "";
	size_t len = 0;
	open_fixture(&f, NULL);
	mp_audit_opts o = opts_of(&f);
	assert_int_equal(mp_audit_stream(f.ev, &o, NULL, &r), 0);
	cutter k = {r, open_memstream(&text, &len), 0};
	FILE *out = fopencookie(&k, "w", (cookie_io_functions_t){.write = cut_write});
	assert_non_null(out);
	setvbuf(out, NULL, _IONBF, 0);
	assert_int_equal(mp_report_write_result(r, "sarif", out, 0, err, sizeof(err)), -1);
	fclose(out);
	fclose(k.text);
	assert_true(k.cut > 0 && len > 0); /* it had begun */
	if (!strstr(err, "findings back") || !strstr(err, "incomplete"))
		fail_msg("%s", err);
	free(text);
	mp_audit_result_free(r);
	close_fixture(&f);
}

static ssize_t full_write(void *c, const char *buf, size_t n)
{
	(void)c;
	(void)buf;
	(void)n;
	errno = ENOSPC;
	return -1;
}

/* A write error on the output is reported, for every format. */
static void test_streamed_write_error(void **state)
{
	(void)state;
	for (size_t k = 0; k < NFORMATS; k++) {
		fixture f;
		mp_audit_result *r = NULL;
		char err[512] = "";
		open_fixture(&f, NULL);
		mp_audit_opts o = opts_of(&f);
		assert_int_equal(mp_audit_stream(f.ev, &o, NULL, &r), 0);
		FILE *out = fopencookie(NULL, "w", (cookie_io_functions_t){.write = full_write});
		assert_non_null(out);
		assert_int_equal(mp_report_write_result(r, formats[k], out, 0, err, sizeof(err)),
		                 -1);
		if (!strstr(err, "cannot write") && !strstr(err, "json report"))
			fail_msg("%s: %s", formats[k], err);
		fclose(out);
		mp_audit_result_free(r);
		close_fixture(&f);
	}
}

/* A check that reports long paths and many related locations: 1 to 200 hops (64 kept) and as
 * many related, each read onto the Lua stack before the finding is built; reading them once
 * wrote past the C function's stack and corrupted the heap (a 10,000-service audit crashed). */
static void test_report_long_path(void **state)
{
	(void)state;
	static const char lua[] =
	    "policy \"t.paths\" { version = \"1.0.0\", kind = \"traffic\", severity = \"low\" }\n"
	    "check \"long-paths\" {\n"
	    "  severity = \"low\", description = \"long paths\",\n"
	    "  run = function(mesh, report)\n"
	    "    for _, n in ipairs({1, 14, 15, 20, 63, 64, 65, 200}) do\n"
	    "      local path, related = {}, {}\n"
	    "      for i = 1, n do\n"
	    "        path[i] = 'hop-' .. i\n"
	    "        related[i] = { loc = 'f.lua:' .. i, message = 'm' .. i }\n"
	    "      end\n"
	    "      report { subject = 'n' .. n, message = 'path of ' .. n, path = path,\n"
	    "               related = related }\n"
	    "    end\n"
	    "  end,\n"
	    "}\n";
	char *dir =
	    write_bundle_dir("name: paths\nrevision: \"1\"\ndefault: deny\n", "p.lua", lua, NULL);
	assert_non_null(dir);
	mp_diags d = {0};
	mp_engine *e = mp_engine_open("tests/data/bundles/unit/mesh.yaml", dir, &d);
	mp_diags_print(&d, stderr);
	assert_non_null(e);
	mp_evaluator *ev = mp_evaluator_new(e, NULL, &d);
	assert_non_null(ev);
	mp_audit_opts o = {.now = 1700000000, .jobs = 1};
	json_t *a = mp_audit_run(ev, &o);
	assert_non_null(a);
	json_t *fs = json_object_get(a, "findings"), *fi;
	size_t i, seen = 0;
	json_array_foreach(fs, i, fi)
	{
		const char *subject = json_string_value(json_object_get(fi, "subject"));
		if (!subject || subject[0] != 'n')
			continue;
		long n = atol(subject + 1);
		size_t want = n > 64 ? 64 : (size_t)n;
		json_t *path = json_object_get(fi, "path");
		assert_int_equal(json_array_size(path), want);
		char last[16];
		snprintf(last, sizeof(last), "hop-%zu", want);
		assert_string_equal(json_string_value(json_array_get(path, want - 1)), last);
		assert_int_equal(json_array_size(json_object_get(fi, "related")), want);
		seen++;
	}
	assert_int_equal(seen, 8);
	json_decref(a);
	mp_evaluator_free(ev);
	mp_engine_release(e);
	mp_diags_free(&d);
	remove_bundle_dir(dir);
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
	    cmocka_unit_test(test_streamed_reports),
	    cmocka_unit_test(test_damaged_spool),
	    cmocka_unit_test(test_spool_cut_mid_report),
	    cmocka_unit_test(test_streamed_write_error),
	    cmocka_unit_test(test_report_long_path),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
