/* test_diff.c: engine/diff.c and engine/strclass.c. The diff's classes against brute force: on
 * the unit mesh, every caller x destination x method x path x header of fixed sets is decided
 * by two bundles, and the requests whose decision changes must be exactly those in the classes
 * the diff reports changed (none missed, none extra), in both directions; strclass's
 * representatives against every short string; the Git and in-memory bundle sources. */
#include "alloc.h"
#include "bundlesrc.h"
#include "changes.h"
#include "diff_int.h"
#include "strclass.h"
#include "testutil.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

/* --- strclass: one representative per combination, checked on every short string --- */

static void vec_of(const mp_pattern *p, uint32_t n, const char *s, char *out)
{
	for (uint32_t i = 0; i < n; i++)
		out[i] = mp_pattern_match(&p[i], s, strlen(s)) ? '1' : '0';
	out[n] = '\0';
}

/* Every string over alphabet up to len bytes (paths: after a '/', in normal form) has the
 * combination of some representative, and no two representatives share one. */
static void check_classes(const char *const *texts, uint32_t n, int path, const char *alphabet,
                          int len)
{
	mp_pattern p[16];
	char err[128], vec[17], seen[64][17];
	for (uint32_t i = 0; i < n; i++)
		assert_int_equal(mp_pattern_compile(&p[i], texts[i], path, err, sizeof(err)), 0);
	mp_strclass c;
	assert_int_equal(mp_strclass_find(p, n, path ? MP_STRCLASS_PATH : 0, &c), 0);
	assert_false(c.truncated);
	assert_true(c.n <= 64);
	for (uint32_t i = 0; i < c.n; i++) {
		vec_of(p, n, c.v[i], seen[i]);
		for (uint32_t j = 0; j < i; j++)
			assert_string_not_equal(seen[i], seen[j]);
		if (path)
			assert_true(c.v[i][0] == '/');
	}
	size_t k = strlen(alphabet);
	char s[16];
	for (int l = path ? 1 : 1; l <= len; l++) {
		size_t total = 1;
		for (int i = 0; i < l - path; i++)
			total *= k;
		for (size_t x = 0; x < total; x++) {
			size_t y = x;
			int at = 0;
			if (path)
				s[at++] = '/';
			for (int i = path; i < l; i++, y /= k)
				s[at++] = alphabet[y % k];
			s[at] = '\0';
			if (path) {
				char norm[32];
				if (mp_path_normalize(s, norm, sizeof(norm), 1) < 0 ||
				    strcmp(norm, s))
					continue;
			}
			vec_of(p, n, s, vec);
			uint32_t i;
			for (i = 0; i < c.n && strcmp(seen[i], vec); i++)
				;
			if (i == c.n)
				fail_msg("'%s' matches %s, a combination with no representative", s,
				         vec);
		}
	}
	mp_strclass_free(&c);
}

static void test_strclass_paths(void **state)
{
	(void)state;
	const char *const pats[] = {"/a/{*}/b", "/a/{**}", "/a/b", "*.j", "/a*", "*", "/b/"};
	check_classes(pats, 7, 1, "ab/.jx", 7);
	const char *const none[] = {"/x"};
	check_classes(none, 1, 1, "x/y", 5);
}

static void test_strclass_strings(void **state)
{
	(void)state;
	const char *const pats[] = {"ab*", "*ba", "aba", "b*", "*"};
	check_classes(pats, 5, 0, "abx", 5);
}

/* --- the diff against brute force --- */

static mp_engine *engine_of(mp_model *m, const char *name, const char *text)
{
	mp_diags d = {0};
	mp_bundle_text t = {name, text, strlen(text)};
	mp_bundle_source src = {.files = &t, .nfiles = 1, .name = "unit", .revision = "1"};
	mp_engine *e = mp_engine_with_source(mp_model_retain(m), &src, &d);
	if (!e) {
		char *msg = diags_text(&d);
		print_error("%s", msg);
		free(msg);
	}
	mp_diags_free(&d);
	return e;
}

static const char *const base_rules =
    "policy 'p' { version = '1.0.0', kind = 'rbac' }\n"
    "allow 'web-pay' { service = 'billing/pay', methods = { 'POST' }, paths = { '/v1/{*}/charge' "
    "},\n"
    "  from = { principals = { 'spiffe://t/ns/shop/*' } } }\n"
    "allow 'read' { service = '*', namespace = 'shop', methods = { 'GET' }, paths = { '/api/{**}' "
    "} }\n"
    "deny 'admin' { service = '*', paths = { '/admin*' }, from = { namespaces = { 'sandbox' } } }\n"
    "allow 'json' { service = 'shop/web', paths = { '*.json' }, headers = { ['x-t'] = 'uk*' } }\n"
    "allow 'prom' { service = '*', paths = { '/metrics' }, from = { services = { 'monitoring/prom' "
    "} } }\n";

/* head: the charge template widened, a method added, the admin deny narrowed to an exact path,
 * a header value changed, a `when` on a principal a table holds */
static const char *const head_rules =
    "policy 'p' { version = '1.0.1', kind = 'rbac' }\n"
    "allow 'web-pay' { service = 'billing/pay', methods = { 'POST', 'PUT' }, paths = { '/v1/{**}' "
    "},\n"
    "  from = { principals = { 'spiffe://t/ns/shop/*' } } }\n"
    "allow 'read' { service = '*', namespace = 'shop', methods = { 'GET' }, paths = { '/api/{**}' "
    "} }\n"
    "deny 'admin' { service = '*', paths = { '/admin' }, from = { namespaces = { 'sandbox' } } }\n"
    "allow 'json' { service = 'shop/web', paths = { '*.json' }, headers = { ['x-t'] = 'u*' } }\n"
    "local OK = { ['spiffe://t/ns/monitoring/sa/prom'] = true, ['spiffe://partner/x'] = true }\n"
    "allow 'prom' { service = '*', paths = { '/metrics' },\n"
    "  when = function(req) return OK[req.source.principal] == true end }\n";

/* The changed classes of a report, as a list of keys. */
static json_t *changed_keys(json_t *report)
{
	json_t *keys = json_object(), *c;
	size_t i;
	json_array_foreach(json_object_get(report, "changes"), i, c)
	{
		json_object_set_new(keys, json_string_value(json_object_get(c, "class")),
		                    json_true());
	}
	return keys;
}

static void brute_force(mp_engine *a, mp_engine *b)
{
	mp_diags d = {0};
	diff_space *s = diff_space_new(a, b, &d);
	assert_non_null(s);
	json_t *report = NULL;
	long changed = diff_space_run(s, NULL, &report, &d);
	assert_true(changed > 0);
	json_t *keys = changed_keys(report), *hit = json_object();

	const mp_model *m = a->model;
	mp_model_view v = mp_model_get_view(m);
	/* callers: every identity, every service without one, principals outside the model, none */
	const char *principals[] = {"spiffe://t/ns/shop/sa/other",
	                            "spiffe://partner/x",
	                            "spiffe://t/ns/sandbox/sa/x",
	                            "spiffe://elsewhere/y",
	                            "spiffe://t/ns/billing/sa/z",
	                            "spiffe://t/ns/monitoring/sa/z",
	                            NULL};
	const uint32_t nprincipals = sizeof(principals) / sizeof(*principals);
	const char *methods[] = {"GET", "POST", "PUT", "DELETE", "HEAD", NULL, "PROPFIND"};
	const char *paths[] = {"/",           "/api",         "/api/",          "/api/x",
	                       "/api/x/y",    "/admin",       "/admin/x",       "/administer",
	                       "/admin.json", "/v1/a/charge", "/v1/a/b/charge", "/v1",
	                       "/v1/",        "/x.json",      "/api/a.json",    "/.json",
	                       "/api/.json",  "/metrics",     "/other",         NULL};
	const char *tvals[] = {NULL, "uk", "ukx", "u", "us", "x"};
	uint64_t n = 0, nchanged = 0;
	mp_decision da, db;
	mp_evaluator *eva = mp_evaluator_new(a, NULL, &d), *evb = mp_evaluator_new(b, NULL, &d);
	assert_non_null(eva);
	assert_non_null(evb);
	uint32_t ncallers = v.nservices * 2 + nprincipals + v.nnamespaces;
	for (uint32_t ci = 0; ci < ncallers; ci++) {
		mp_request r = {0};
		if (ci < v.nservices) {
			r.principal = mp_model_str(m, v.services[ci].identity);
		} else if (ci < 2 * v.nservices) {
			const mp_service *sv = &v.services[ci - v.nservices];
			r.src_service = mp_model_str(m, sv->name);
			r.src_namespace = mp_model_str(m, v.namespaces[sv->ns].name);
		} else if (ci < 2 * v.nservices + nprincipals) {
			r.principal = principals[ci - 2 * v.nservices];
		} else { /* a caller the model does not know, in a namespace */
			r.src_namespace =
			    mp_model_str(m, v.namespaces[ci - 2 * v.nservices - nprincipals].name);
		}
		for (uint32_t di = 0; di < v.nservices + v.nexternals; di++) {
			if (di < v.nservices) {
				r.dst_service = mp_model_str(m, v.services[di].name);
				r.dst_namespace =
				    mp_model_str(m, v.namespaces[v.services[di].ns].name);
			} else {
				r.dst_service = mp_model_str(m, v.externals[di - v.nservices].name);
				r.dst_namespace = NULL;
			}
			for (size_t mi = 0; mi < sizeof(methods) / sizeof(*methods); mi++)
				for (size_t pi = 0; pi < sizeof(paths) / sizeof(*paths); pi++)
					for (size_t ti = 0; ti < sizeof(tvals) / sizeof(*tvals);
					     ti++) {
						mp_header h = {"X-T", tvals[ti]};
						char key[2048];
						r.method = methods[mi];
						r.path = paths[pi];
						r.headers = &h;
						r.nheaders = tvals[ti] ? 1 : 0;
						mp_decide(eva, &r, &da, NULL);
						mp_decide(evb, &r, &db, NULL);
						int same = mp_decision_same(a, &da, b, &db);
						if (diff_space_classify(s, &r, key, sizeof(key)) <
						    0)
							fail_msg("no class for %s -> %s %s %s",
							         r.principal ? r.principal
							                     : r.src_service,
							         r.dst_service,
							         r.method ? r.method : "-",
							         r.path ? r.path : "-");
						int in = json_object_get(keys, key) != NULL;
						if (in == same)
							fail_msg("%s %s -> %s %s %s x-t=%s: %s, "
							         "its class %s %s",
							         r.principal ? r.principal : "",
							         r.src_service ? r.src_service : "",
							         r.dst_service,
							         r.method ? r.method : "-",
							         r.path ? r.path : "-",
							         tvals[ti] ? tvals[ti] : "-",
							         same ? "unchanged" : "changed",
							         key, in ? "changed" : "unchanged");
						if (!same) {
							json_object_set_new(hit, key, json_true());
							nchanged++;
						}
						n++;
					}
		}
	}
	/* every class the diff reports changed holds a changed request of the brute force */
	const char *key;
	json_t *x;
	json_object_foreach(keys, key, x)
	{
		if (!json_object_get(hit, key))
			print_message("changed class without a brute-force request: %s\n", key);
	}
	assert_int_equal(json_object_size(hit), json_object_size(keys));
	assert_true(nchanged > 0 && n > nchanged);
	mp_evaluator_free(eva);
	mp_evaluator_free(evb);
	json_decref(keys);
	json_decref(hit);
	json_decref(report);
	diff_space_free(s);
	mp_diags_free(&d);
}

static void test_diff_brute_force(void **state)
{
	mp_model *m = *state;
	mp_engine *a = engine_of(m, "p.lua", base_rules), *b = engine_of(m, "p.lua", head_rules);
	assert_non_null(a);
	assert_non_null(b);
	brute_force(a, b);
	brute_force(b, a); /* and back */
	mp_engine_release(a);
	mp_engine_release(b);
}

/* A change that alters no decision (a version, a comment) has no changed class. */
static void test_diff_no_change(void **state)
{
	mp_model *m = *state;
	char *text = mp_strdup(base_rules);
	char *v = strstr(text, "1.0.0");
	memcpy(v, "9.9.9", 5);
	mp_engine *a = engine_of(m, "p.lua", base_rules), *b = engine_of(m, "p.lua", text);
	mp_diags d = {0};
	json_t *report = NULL;
	assert_int_equal(mp_diff(a, b, NULL, &report, &d), 0);
	assert_int_equal(json_array_size(json_object_get(report, "changes")), 0);
	assert_true(json_integer_value(json_object_get(report, "decided")) > 1000);
	json_decref(report);
	mp_diags_free(&d);
	mp_engine_release(a);
	mp_engine_release(b);
	mp_free(text);
}

/* The same request, decided by a bundle read from a directory and from memory as a tree, has
 * the same hash: what `diff` reads from a Git revision is the bundle the directory holds. */
static void test_tree_source_hash(void **state)
{
	mp_model *m = *state;
	mp_diags d = {0};
	const char *dir = "tests/data/bundles/unit";
	mp_bundle *from_dir = mp_bundle_load(dir, m, NULL, &d);
	assert_non_null(from_dir);
	mp_bundle_text *tree = calloc(from_dir->nfiles, sizeof(*tree));
	uint32_t n = 0;
	/* in the walk's order: policy files first in b->files, so sort them back by path */
	for (uint32_t i = 0; i < from_dir->nfiles; i++)
		tree[n++] = (mp_bundle_text){from_dir->files[i].rel, from_dir->files[i].text,
		                             from_dir->files[i].len};
	for (uint32_t i = 1; i < n; i++)
		for (uint32_t j = i; j > 0 && strcmp(tree[j - 1].name, tree[j].name) > 0; j--) {
			mp_bundle_text t = tree[j];
			tree[j] = tree[j - 1];
			tree[j - 1] = t;
		}
	mp_bundle_source src = {.dir = "REV:unit", .tree = tree, .ntree = n};
	mp_bundle *from_tree = mp_bundle_load_source(&src, m, NULL, &d);
	if (!from_tree) {
		char *msg = diags_text(&d);
		fail_msg("%s", msg);
	}
	assert_string_equal(from_dir->sha256, from_tree->sha256);
	assert_int_equal(from_dir->nrules, from_tree->nrules);
	assert_true(!strncmp(from_tree->rules[0].loc, "REV:unit/", 9));
	mp_bundle_free(from_tree);
	/* a tree without its manifest is refused, naming it */
	src.tree = tree + 1; /* bundle.yaml sorts first? find it instead */
	for (uint32_t i = 0; i < n; i++)
		if (!strcmp(tree[i].name, "bundle.yaml"))
			tree[i].name = "other.yaml";
	src.tree = tree;
	assert_null(mp_bundle_load_source(&src, m, NULL, &d));
	char *msg = diags_text(&d);
	assert_non_null(strstr(msg, "REV:unit/bundle.yaml: no manifest"));
	free(msg);
	free(tree);
	mp_bundle_free(from_dir);
	mp_diags_free(&d);
}

/* A spec that names nothing is refused, saying what a bundle is. */
static void test_source_errors(void **state)
{
	(void)state;
	mp_diags d = {0};
	assert_null(mp_bundle_source_open("/nonexistent-dir", &d));
	assert_null(mp_bundle_source_open("", &d));
	char *msg = diags_text(&d);
	assert_non_null(
	    strstr(msg, "no such directory (a bundle is a directory, or a Git revision"));
	free(msg);
	mp_bundle_source *s = mp_bundle_source_open("tests/data/bundles/unit", &d);
	assert_non_null(s);
	assert_string_equal(mp_bundle_source_kind(s), "directory");
	mp_bundle_source_close(s);
	mp_diags_free(&d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_strclass_paths),   cmocka_unit_test(test_strclass_strings),
	    cmocka_unit_test(test_diff_brute_force), cmocka_unit_test(test_diff_no_change),
	    cmocka_unit_test(test_tree_source_hash), cmocka_unit_test(test_source_errors),
	};
	return cmocka_run_group_tests(tests, unit_mesh_setup, unit_mesh_teardown);
}
