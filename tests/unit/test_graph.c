/* test_graph.c: engine/graph.c: cycles (none, self-loop, several, one through 20,000 services
 * without recursion), shortest paths and reachability. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "compile.h"
#include "graph.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A mesh of n services s0..s(n-1) in one cluster, with routes given as "a>b" pairs. */
static mp_model *mesh(int n, const char *const *routes, int nroutes)
{
	size_t cap = 256 + (size_t)n * 96 + (size_t)nroutes * 96;
	char *y = malloc(cap);
	size_t o = (size_t)snprintf(y, cap, "kind: Cluster\nname: c\nprovider: p\nregion: r\n");
	for (int i = 0; i < n; i++)
		o += (size_t)snprintf(
		    y + o, cap - o, "---\nkind: Service\nname: s%d\nnamespace: n\ncluster: c\n", i);
	for (int i = 0; i < nroutes; i++) {
		int a, b;
		sscanf(routes[i], "%d>%d", &a, &b);
		o += (size_t)snprintf(
		    y + o, cap - o, "---\nkind: Route\nname: r%d\nsource: s%d\ndestination: s%d\n",
		    i, a, b);
	}
	mp_diags d = {0};
	mp_model *m = mp_compile_string("g.yaml", y, o, &d);
	mp_diags_print(&d, stderr);
	mp_diags_free(&d);
	free(y);
	return m;
}

typedef struct {
	int n;
	uint32_t lens[16];
} seen_cycles;

static int record(void *ctx, const mp_id *svcs, const mp_edge *edges, uint32_t n)
{
	(void)svcs;
	(void)edges;
	seen_cycles *s = ctx;
	if (s->n < 16)
		s->lens[s->n] = n;
	s->n++;
	return 0;
}

static void test_cycles(void **state)
{
	(void)state;
	static const char *const dag[] = {"0>1", "1>2", "0>2"};
	mp_model *m = mesh(3, dag, 3);
	seen_cycles s = {0};
	assert_int_equal(mp_graph_cycles(m, record, &s), 0);
	mp_model_free(m);

	static const char *const two[] = {"0>0", "1>2", "2>3", "3>1", "3>4"};
	m = mesh(5, two, 5);
	memset(&s, 0, sizeof(s));
	assert_int_equal(mp_graph_cycles(m, record, &s), 2);
	assert_int_equal(s.lens[0] + s.lens[1], 4); /* the self-loop and the 3-cycle */
	mp_model_free(m);
}

static void test_long_cycle(void **state)
{
	(void)state;
	int n = 20000;
	char **r = malloc(sizeof(char *) * (size_t)n);
	for (int i = 0; i < n; i++) {
		r[i] = malloc(24);
		snprintf(r[i], 24, "%d>%d", i, (i + 1) % n);
	}
	mp_model *m = mesh(n, (const char *const *)r, n);
	seen_cycles s = {0};
	assert_int_equal(mp_graph_cycles(m, record, &s), 1);
	assert_int_equal(s.lens[0], n);
	mp_edge *path = malloc(sizeof(mp_edge) * (size_t)n);
	assert_int_equal(mp_graph_path(m, 0, n - 1, path, (uint32_t)n), n - 1);
	assert_int_equal(mp_graph_path(m, 0, n - 1, path, 10), -2);
	unsigned char *seen = calloc((size_t)n, 1);
	assert_int_equal(mp_graph_reachable(m, 5, seen), n);
	free(seen);
	free(path);
	for (int i = 0; i < n; i++)
		free(r[i]);
	free(r);
	mp_model_free(m);
}

static void test_paths(void **state)
{
	(void)state;
	static const char *const g[] = {"0>1", "1>2", "2>3", "0>3", "4>0"};
	mp_model *m = mesh(5, g, 5);
	mp_edge e[8];
	assert_int_equal(mp_graph_path(m, 0, 3, e, 8), 1); /* the direct route */
	assert_int_equal(mp_graph_path(m, 4, 2, e, 8), 3);
	assert_int_equal(mp_graph_path(m, 3, 0, e, 8), -1);
	assert_int_equal(mp_graph_path(m, 2, 2, e, 8), 0);
	unsigned char seen[5] = {0};
	assert_int_equal(mp_graph_reachable(m, 1, seen), 3);
	assert_false(seen[0]);
	assert_true(seen[3]);
	mp_model_free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_cycles),
	    cmocka_unit_test(test_long_cycle),
	    cmocka_unit_test(test_paths),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
