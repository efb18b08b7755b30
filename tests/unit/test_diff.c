/* test_diff.c: engine/diff.c and engine/strclass.c. The diff's classes against brute force: on
 * the unit mesh, every caller x destination x method x path x header of fixed sets is decided
 * by two bundles, and the requests whose decision changes must be exactly those in the classes
 * the diff reports changed (none missed, none extra), in both directions; strclass's
 * representatives against every short string; the Git, archive and in-memory bundle sources. */
#include "alloc.h"
#include "barchive.h"
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

/* Many patterns make every search state large (one position per pattern): the search stops at
 * MP_STRCLASS_MAX_BYTES of states and says so, instead of growing to gigabytes (84,000
 * principal patterns would be 20 GB at MP_STRCLASS_MAX_STATES). */
static void test_strclass_byte_bound(void **state)
{
	(void)state;
	enum { N = 8000 };
	mp_pattern *p = mp_calloc(N, sizeof(*p));
	char *texts = mp_malloc((size_t)N * 48);
	assert_non_null(p);
	assert_non_null(texts);
	for (uint32_t i = 0; i < N; i++) {
		char *t = texts + (size_t)i * 48;
		int len = snprintf(t, 48, "spiffe://t/ns/n%u/sa/s%u", i % 97, i);
		p[i] = (mp_pattern){MP_PAT_EXACT, (uint32_t)len, t, UINT32_MAX};
	}
	mp_strclass c;
	assert_int_equal(mp_strclass_find(p, N, 0, &c), 0);
	assert_true(c.truncated);
	assert_true(c.n > 0);
	mp_strclass_free(&c);
	mp_free(p);
	mp_free(texts);
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

/* --- destinations whose rules are the same on both sides --- */

/* The report of a diff of a -> b with the destinations both decide alike skipped equals the one
 * deciding every class; the skipped destinations are counted in *skipped. */
static void pruned_as_exhaustive(mp_engine *a, mp_engine *b, uint32_t *skipped)
{
	mp_diags d = {0};
	json_t *r[2] = {NULL, NULL};
	for (int k = 0; k < 2; k++) {
		diff_space *s = diff_space_new(a, b, &d);
		assert_non_null(s);
		diff_space_exhaustive(s, k);
		assert_true(diff_space_run(s, NULL, &r[k], &d) >= 0);
		if (k)
			assert_int_equal(diff_space_skipped(s), 0);
		else
			*skipped = diff_space_skipped(s);
		diff_space_free(s);
	}
	if (!json_equal(r[0], r[1])) {
		char *x = json_dumps(r[0], JSON_INDENT(1) | JSON_SORT_KEYS),
		     *y = json_dumps(r[1], JSON_INDENT(1) | JSON_SORT_KEYS);
		fail_msg("skipping destinations changed the report:\n%s\nexhaustive:\n%s", x, y);
	}
	json_decref(r[0]);
	json_decref(r[1]);
	mp_diags_free(&d);
}

/* base_rules with its first occurrence of from replaced by to. */
static char *edit(const char *from, const char *to)
{
	const char *at = strstr(base_rules, from);
	assert_non_null(at);
	size_t pre = (size_t)(at - base_rules), n = strlen(base_rules) - strlen(from) + strlen(to);
	char *out = mp_malloc(n + 1);
	assert_non_null(out);
	snprintf(out, n + 1, "%.*s%s%s", (int)pre, base_rules, to, at + strlen(from));
	return out;
}

/* A destination is skipped only when every field a decision reads of its rules (and of their
 * policies) is the same on both sides, there are no `when` functions among them, and the global
 * rules, the default decision and the model are the same: each edit below changes one of those,
 * and the report must be the exhaustive one all the same. How many destinations each skips
 * says the skipping is not vacuous. */
static void test_diff_skips_same_destinations(void **state)
{
	mp_model *m = *state;
	static const struct {
		const char *from, *to;
		int skips; /* 1: some destination is skipped; 0: none may be */
	} edits[] = {
	    {"'1.0.0'", "'9.9.9'", 1},                                    /* nothing decided */
	    {"methods = { 'POST' }", "methods = { 'POST', 'PUT' }", 1},   /* one destination */
	    {"allow 'json'", "allow 'json2'", 1},                         /* a cited name */
	    {"['x-t'] = 'uk*'", "['x-t'] = 'u*'", 1},                     /* a header */
	    {"namespaces = { 'sandbox' }", "namespaces = { 'shop' }", 1}, /* every service's */
	    {"kind = 'rbac' }", "kind = 'rbac', enforcement = 'advisory' }", 1},
	    {"policy 'p'", "policy 'q'", 1}, /* the policy's name */
	    {"'/metrics' }, from", "'/metrics' }, when = function() return false end, from", 1},
	    {"allow 'web-pay' {",
	     "residency 'r' { data = 'pii', stay_in = 'EU' }\nallow 'web-pay' {",
	     0}, /* a global rule */
	};
	uint32_t all = 0;
	for (size_t i = 0; i < sizeof(edits) / sizeof(*edits); i++) {
		char *text = edit(edits[i].from, edits[i].to);
		mp_engine *a = engine_of(m, "p.lua", base_rules), *b = engine_of(m, "p.lua", text);
		assert_non_null(a);
		assert_non_null(b);
		uint32_t ab = 0, ba = 0;
		pruned_as_exhaustive(a, b, &ab);
		pruned_as_exhaustive(b, a, &ba);
		if (!edits[i].skips && (ab || ba))
			fail_msg("edit %zu: %u and %u destinations skipped, none may be", i, ab,
			         ba);
		all += ab;
		mp_engine_release(a);
		mp_engine_release(b);
		mp_free(text);
	}
	assert_true(all > 0);
	/* the brute force's pair, with a `when` on one side */
	mp_engine *a = engine_of(m, "p.lua", base_rules), *b = engine_of(m, "p.lua", head_rules);
	uint32_t n = 0;
	pruned_as_exhaustive(a, b, &n);
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
	assert_non_null(strstr(msg, "REV:unit/bundle.yaml: the bundle has no manifest"));
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
	    strstr(msg, "no such directory or file (a bundle is a directory, a bundle archive "
	                "BUNDLE.tar.gz, or a Git revision REV:PATH)"));
	free(msg);
	mp_bundle_source *s = mp_bundle_source_open("tests/data/bundles/unit", &d);
	assert_non_null(s);
	assert_string_equal(mp_bundle_source_kind(s), "directory");
	mp_bundle_source_close(s);
	mp_diags_free(&d);
}

/* A fetch for the tests: the archive file named by the URL's path, as a download would give it. */
static mp_barchive *fetch_file(void *ctx, const char *url, mp_diags *d)
{
	(void)ctx;
	const char *path = strstr(url, "//") ? strchr(strstr(url, "//") + 2, '/') + 1 : url;
	return mp_barchive_open(path, NULL, d);
}

/* An archive named as a BUNDLE is the directory it was built from: one kind more of source,
 * the same bundle (hash, rules), the manifest's revision; a URL needs a fetch, and with a key
 * the archive must be signed by it. */
static void test_source_archive(void **state)
{
	mp_model *m = *state;
	mp_diags d = {0};
	const char *arch = "tests/data/bundles/archives/unit.tar.gz";
	mp_bundle *from_dir = mp_bundle_load("tests/data/bundles/unit", m, NULL, &d);
	mp_bundle_source *s = mp_bundle_source_open(arch, &d);
	assert_non_null(from_dir);
	assert_non_null(s);
	assert_string_equal(mp_bundle_source_kind(s), "archive");
	assert_string_equal(s->dir, arch);
	mp_bundle *a = mp_bundle_load_source(s, m, NULL, &d);
	mp_bundle *again = mp_bundle_load_source(s, m, NULL, &d); /* a source loads many times */
	assert_non_null(a);
	assert_non_null(again);
	assert_string_equal(a->sha256, from_dir->sha256);
	assert_string_equal(again->sha256, from_dir->sha256);
	assert_int_equal(a->nrules, from_dir->nrules);
	assert_string_equal(a->revision, "7");
	assert_true(!strncmp(a->rules[0].loc, arch, strlen(arch)));
	mp_bundle_free(a);
	mp_bundle_free(again);
	mp_bundle_source_close(s);

	/* tampered: refused when opened, naming the file */
	assert_null(mp_bundle_source_open("tests/data/bundles/archives/tampered.tar.gz", &d));
	char *msg = diags_text(&d);
	assert_non_null(strstr(msg, "'rbac.lua': 1947 bytes"));
	free(msg);
	mp_diags_free(&d);

	/* a URL: refused without a fetch; with one, read as the file is */
	const char *url = "https://bundles.example/tests/data/bundles/archives/unit.tar.gz";
	assert_true(mp_bundle_spec_is_url(url));
	assert_false(mp_bundle_spec_is_url(arch));
	assert_null(mp_bundle_source_open(url, &d));
	msg = diags_text(&d);
	assert_non_null(strstr(msg, "a URL names a bundle only for serve --shadow-bundle"));
	free(msg);
	mp_diags_free(&d);
	mp_bundle_source_opts o = {fetch_file, NULL, "tests/data/bundles/archives/signing.pub.pem"};
	s = mp_bundle_source_open_opts(url, &o, &d);
	assert_non_null(s);
	assert_string_equal(mp_bundle_source_kind(s), "archive");
	a = mp_bundle_load_source(s, m, NULL, &d);
	assert_non_null(a);
	assert_string_equal(a->sha256, from_dir->sha256);
	mp_bundle_free(a);
	mp_bundle_source_close(s);
	/* signed, but by another key than the one required */
	o.pubkey = "tests/data/trail/key.pub.pem";
	assert_null(mp_bundle_source_open_opts(url, &o, &d));
	msg = diags_text(&d);
	assert_non_null(strstr(msg, "signed by another key"));
	free(msg);
	mp_diags_free(&d);
	mp_bundle_free(from_dir);
}

/* An archive's manifest that names another bundle, or another hash, than its files make is
 * refused before any of the bundle's Lua runs (mp_bundle_source.expect_*). */
static void test_source_expectations(void **state)
{
	mp_model *m = *state;
	mp_diags d = {0};
	mp_barchive *a = mp_barchive_open("tests/data/bundles/archives/unit.tar.gz", NULL, &d);
	assert_non_null(a);
	mp_bundle_source src = {0};
	mp_bundle_text *tree = mp_barchive_source(a, &src);
	assert_non_null(tree);
	assert_string_equal(src.revision_override, "7");
	src.expect_sha256 = "00000000000000000000000000000000000000000000000000000000000000ff";
	assert_null(mp_bundle_load_source(&src, m, NULL, &d));
	char *msg = diags_text(&d);
	assert_non_null(strstr(msg, "the manifest says 0000000000000000..."));
	free(msg);
	mp_diags_free(&d);
	src.expect_sha256 = a->bundle_sha256;
	src.expect_name = "other";
	assert_null(mp_bundle_load_source(&src, m, NULL, &d));
	msg = diags_text(&d);
	assert_non_null(strstr(msg, "the bundle is 'unit', the manifest says 'other'"));
	free(msg);
	mp_diags_free(&d);
	mp_free(tree);
	mp_barchive_free(a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_strclass_paths),
	    cmocka_unit_test(test_strclass_strings),
	    cmocka_unit_test(test_strclass_byte_bound),
	    cmocka_unit_test(test_diff_brute_force),
	    cmocka_unit_test(test_diff_no_change),
	    cmocka_unit_test(test_diff_skips_same_destinations),
	    cmocka_unit_test(test_tree_source_hash),
	    cmocka_unit_test(test_source_errors),
	    cmocka_unit_test(test_source_archive),
	    cmocka_unit_test(test_source_expectations),
	};
	return cmocka_run_group_tests(tests, unit_mesh_setup, unit_mesh_teardown);
}
