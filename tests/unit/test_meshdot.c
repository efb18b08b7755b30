/* test_meshdot.c: engine/meshdot.c and engine/graphviz.c: the picture's nodes and groups, the
 * leak paths of residency findings coloured hop by hop (only the nodes on the path's side of the
 * jurisdiction), the route verdicts with a bundle, out of memory, and the dot program's failures
 * (missing, failing, too slow: killed at the deadline). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "alloc.h"
#include "engine.h"
#include "meshdot.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define ACME "examples/acme"

static char *dot_of(const mp_engine *e, json_t *audit, mp_meshdot_stats *st)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	assert_non_null(f);
	int rc = mp_meshdot_write(e, audit, f, st);
	fclose(f);
	if (rc < 0) {
		free(buf);
		return NULL;
	}
	return buf;
}

static size_t count(const char *hay, const char *needle)
{
	size_t n = 0;
	for (const char *p = hay; (p = strstr(p, needle)); p++)
		n++;
	return n;
}

static mp_engine *acme(const char *bundle)
{
	mp_diags d = {0};
	mp_engine *e = mp_engine_open(ACME, bundle, &d);
	mp_diags_print(&d, stderr);
	mp_diags_free(&d);
	assert_non_null(e);
	return e;
}

/* Without a bundle or an audit: every service in each of its clusters, every external, grouped
 * by jurisdiction and cluster; routes grey. */
static void test_structure(void **state)
{
	(void)state;
	mp_engine *e = acme(NULL);
	mp_meshdot_stats st;
	char *dot = dot_of(e, NULL, &st);
	assert_non_null(dot);
	assert_int_equal(st.nodes, 47); /* services x clusters, the externals, "any caller" */
	assert_int_equal(st.leak_edges + st.forbidden_edges + st.not_permitted_edges, 0);
	assert_int_equal(count(dot, "subgraph cluster_"), 3 + 5); /* jurisdictions, clusters */
	assert_non_null(strstr(dot, "label=\"jurisdiction UK\""));
	assert_non_null(strstr(dot, "label=\"cluster uk-dr-1 (azure uksouth)\""));
	assert_non_null(strstr(dot, "[label=\"billing/payments\" + \"\\n\" + \"pii, pci\""));
	assert_non_null(strstr(dot, "label=\"any caller\""));
	assert_null(strstr(dot, "penwidth"));
	free(dot);
	mp_engine_release(e);
}

/* A residency finding's path, "identity/auth -> identity/accounts@us-prod-1": the hop's edges
 * from auth's nodes (inside) to accounts' us-prod-1 node only, which gets the leak's border. */
static void test_leak_path(void **state)
{
	(void)state;
	mp_engine *e = acme(NULL);
	json_t *audit =
	    json_pack("{s:[{s:s, s:s, s:s}], s:[{s:s, s:s, s:[s, s]}, {s:s, s:s, s:[s, s]}]}",
	              "rules", "policy", "residency.gdpr", "rule", "pii-stays-in-eu", "type",
	              "residency", "findings", "policy", "residency.gdpr", "rule",
	              "pii-stays-in-eu", "path", "identity/auth", "identity/accounts@us-prod-1",
	              /* not a residency rule: its path is not coloured */
	              "policy", "traffic.baseline", "rule", "routing-loop", "path",
	              "catalog/products", "catalog/inventory");
	mp_meshdot_stats st;
	char *dot = dot_of(e, audit, &st);
	assert_non_null(dot);
	assert_int_equal(st.leak_edges, 2); /* from auth in eu-prod-1 and eu-prod-2 */
	assert_int_equal(count(dot, "color=\"" MP_MESHDOT_LEAK "\", penwidth=2.5"), 1);
	assert_int_equal(count(dot, "part of a residency leak path"), 2);
	free(dot);
	/* elements that name nothing of the model are left alone */
	json_array_set_new(
	    json_object_get(json_array_get(json_object_get(audit, "findings"), 0), "path"), 1,
	    json_string("nowhere/x@nope"));
	dot = dot_of(e, audit, &st);
	assert_int_equal(st.leak_edges, 0);
	free(dot);
	json_decref(audit);
	mp_engine_release(e);
}

/* With the bundle: routes its rules forbid or no rule permits are coloured. */
static void test_verdicts(void **state)
{
	(void)state;
	mp_engine *e = acme("policies");
	mp_meshdot_stats st;
	char *dot = dot_of(e, NULL, &st);
	assert_non_null(dot);
	assert_int_equal(st.not_permitted_edges, 2); /* the audit's two route-not-permitted */
	assert_non_null(
	    strstr(dot, "no allow rule permits it\", color=\"" MP_MESHDOT_NOT_PERMITTED));
	free(dot);
	mp_engine_release(e);
}

static void test_out_of_memory(void **state)
{
	(void)state;
	mp_engine *e = acme(NULL);
	char *want = dot_of(e, NULL, NULL), *got = NULL;
	int failures = 0;
	for (long n = 0; !got; n++) {
		mp_alloc_fail_after(n);
		got = dot_of(e, NULL, NULL);
		mp_alloc_fail_after(-1);
		failures += !got;
		assert_true(n < 1000);
	}
	assert_true(failures > 0);
	assert_string_equal(got, want);
	free(got);
	free(want);
	mp_engine_release(e);
}

/* A program standing in for dot, written to a temporary file. */
static char *fake_dot(const char *body)
{
	char *path = strdup("/tmp/meshpol-fakedot-XXXXXX");
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	FILE *f = fdopen(fd, "w");
	fprintf(f, "#!/bin/sh\n%s\n", body);
	fclose(f);
	chmod(path, 0700);
	return path;
}

static void test_render(void **state)
{
	(void)state;
	char *out = NULL, err[600];
	size_t len = 0;
	const char dot[] = "digraph { a -> b }";
	/* the real one */
	unsetenv("MESHPOL_DOT");
	assert_int_equal(
	    mp_graphviz_render(dot, strlen(dot), "svg", 30000, &out, &len, err, sizeof(err)), 0);
	assert_non_null(strstr(out, "<svg"));
	assert_int_equal(strlen(out), len);
	mp_free(out);
	/* missing */
	setenv("MESHPOL_DOT", "/nonexistent/dot", 1);
	assert_int_equal(
	    mp_graphviz_render(dot, strlen(dot), "svg", 30000, &out, &len, err, sizeof(err)), -1);
	assert_null(out);
	assert_string_equal(err,
	                    "cannot run /nonexistent/dot (Graphviz): No such file or directory");
	/* failing, with its words quoted on one line */
	char *p = fake_dot("printf 'Error: bad\\nline 2\\n' >&2; exit 3");
	setenv("MESHPOL_DOT", p, 1);
	assert_int_equal(
	    mp_graphviz_render(dot, strlen(dot), "svg", 30000, &out, &len, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "failed (exit 3): Error: bad line 2"));
	unlink(p);
	free(p);
	/* too slow: killed at the deadline */
	p = fake_dot("exec sleep 30");
	setenv("MESHPOL_DOT", p, 1);
	time_t t0 = time(NULL);
	assert_int_equal(
	    mp_graphviz_render(dot, strlen(dot), "svg", 300, &out, &len, err, sizeof(err)), -1);
	assert_true(time(NULL) - t0 < 10);
	assert_non_null(strstr(err, "did not finish within 0 s"));
	unlink(p);
	free(p);
	unsetenv("MESHPOL_DOT");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_structure), cmocka_unit_test(test_leak_path),
	    cmocka_unit_test(test_verdicts),  cmocka_unit_test(test_out_of_memory),
	    cmocka_unit_test(test_render),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
