/* test_decide_index.c: engine/decide_index.c, the decision layout. The index must change what
 * a decision costs, never what it says: every decision (output and explanation) of thousands of
 * requests over the unit and the reference bundles is compared with the same decision made
 * through a plain index (every rule matched on its mp_rule, every string through the model's
 * own lookups, as before the index). Then the key table against the model's lookups, keys at
 * the edge of the bytes a slot keeps, and the paths used without normalising against
 * mp_path_normalize. */
#include "testutil.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "decide.h"
#include "decide_index.h"
#include "match.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* --- a plain index, allocated with calloc and freed by the test --- */

typedef struct {
	void *p[64];
	size_t n;
} allocs;

static void *test_alloc(void *ctx, size_t n)
{
	allocs *a = ctx;
	void *p = calloc(1, n ? n : 1);
	assert_non_null(p);
	assert_true(a->n < sizeof(a->p) / sizeof(a->p[0]));
	a->p[a->n++] = p;
	return p;
}

static void free_allocs(allocs *a)
{
	for (size_t i = 0; i < a->n; i++)
		free(a->p[i]);
	a->n = 0;
}

/* --- the requests: strings the model and the bundle know, near misses, and shapes the
 * decision reads apart (no principal, ns/name, a named namespace, paths to normalise) --- */

typedef struct {
	const char **v;
	size_t n, cap;
	char **owned;
	size_t nowned;
} strs;

static void add(strs *s, const char *v)
{
	if (s->n == s->cap) {
		s->cap = s->cap ? 2 * s->cap : 32;
		s->v = realloc(s->v, s->cap * sizeof(*s->v));
		assert_non_null(s->v);
	}
	s->v[s->n++] = v;
}

static void add_owned(strs *s, char *v)
{
	assert_non_null(v);
	s->owned = realloc(s->owned, (s->nowned + 1) * sizeof(*s->owned));
	assert_non_null(s->owned);
	s->owned[s->nowned++] = v;
	add(s, v);
}

static void add_fmt(strs *s, const char *fmt, const char *a, const char *b)
{
	size_t n = strlen(fmt) + strlen(a) + strlen(b) + 1;
	char *buf = malloc(n);
	assert_non_null(buf);
	snprintf(buf, n, fmt, a, b);
	add_owned(s, buf);
}

static void strs_free(strs *s)
{
	for (size_t i = 0; i < s->nowned; i++)
		free(s->owned[i]);
	free(s->owned);
	free(s->v);
	memset(s, 0, sizeof(*s));
}

/* One decision as text: the output (fixed id), the advisories and, when asked, the
 * explanation; the resolved ids too. Freed by the caller. */
static char *decision_text(mp_evaluator *ev, const mp_engine *e, const mp_request *r, int explain)
{
	mp_decision d;
	json_t *x = explain ? json_array() : NULL;
	mp_decide(ev, r, &d, x);
	json_t *j = mp_decision_json(e, &d, "id");
	assert_non_null(j);
	json_object_set_new(j, "ids",
	                    json_pack("[i,i,i]", (json_int_t)d.src_svc, (json_int_t)d.dst_svc,
	                              (json_int_t)d.dst_ext));
	if (x)
		json_object_set_new(j, "explain", x);
	char *s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(j);
	return s;
}

/* Decides n requests drawn from the products of the lists (a fixed LCG) through e's index and
 * through a plain one; returns how many differed (each printed). */
static int compare_engine(mp_engine *e, unsigned n)
{
	mp_bundle *b = e->bundle;
	const mp_model *m = e->model;
	mp_model_view v = mp_model_get_view(m);
	strs principals = {0}, dsts = {0}, dst_nss = {0}, paths = {0}, methods = {0};
	add(&principals, NULL);
	add(&principals, "spiffe://t/ns/sandbox/sa/ghost"); /* namespace from the SPIFFE ID */
	add(&principals, "");
	for (uint32_t i = 0; i < v.nservices; i++) {
		const mp_service *s = &v.services[i];
		const char *name = mp_model_str(m, s->name),
		           *ns = mp_model_str(m, v.namespaces[s->ns].name);
		add(&dsts, name);
		add_fmt(&dsts, "%s/%s", ns, name);
		add_fmt(&dsts, "%s%s", name, "x");
		add(&dst_nss, ns);
		if (s->identity) {
			const char *id = mp_model_str(m, s->identity);
			add(&principals, id);
			add_fmt(&principals, "%s%s", id, "x");
			add_fmt(&principals, "%s%s", id, ""); /* a copy: compared by bytes */
		}
	}
	for (uint32_t i = 0; i < v.nexternals; i++) {
		add(&dsts, mp_model_str(m, v.externals[i].host));
		add(&dsts, mp_model_str(m, v.externals[i].name));
	}
	add(&dsts, "nope");
	add(&dst_nss, NULL);
	add(&dst_nss, "nope");
	const char *fixed_paths[] = {NULL,
	                             "",
	                             "/",
	                             "/v1/charge",
	                             "//admin//x",
	                             "/a/./b",
	                             "/pub/../../../admin",
	                             "/%2e%2E/x",
	                             "/v1/charge?x=1",
	                             "\\admin",
	                             "/r/1",
	                             "/files/a/b/c",
	                             "/stats.json",
	                             "/x.json",
	                             "/.well-known"};
	for (size_t i = 0; i < sizeof(fixed_paths) / sizeof(fixed_paths[0]); i++)
		add(&paths, fixed_paths[i]);
	for (uint32_t i = 0; i < b->nrules; i++) {
		const mp_rule *r = &b->rules[i];
		for (uint32_t k = 0; k < r->from.nprincipals; k++)
			add(&principals, r->from.principals[k].text);
		for (uint32_t k = 0; k < r->npaths; k++) {
			char buf[512];
			snprintf(buf, sizeof(buf), "%s", r->paths[k].text);
			for (char *c = buf; *c; c++)
				if (*c == '*' || *c == '{' || *c == '}')
					*c = 'x';
			add_owned(&paths, strdup(buf));
			add_fmt(&paths, "%s%s", buf, "/more");
		}
	}
	const char *fixed_methods[] = {NULL,     "GET",   "POST", "PUT",
	                               "DELETE", "PATCH", "get",  "BREW"};
	for (size_t i = 0; i < sizeof(fixed_methods) / sizeof(fixed_methods[0]); i++)
		add(&methods, fixed_methods[i]);
	mp_header hdrs[] = {{"x-tenant", "eu-west"}, {"x-ok", "yes"}, {"X-Tenant", "us"}};

	allocs a = {0};
	const mp_dindex *built = b->dindex, *plain = mp_dindex_build(b, test_alloc, &a, 1);
	mp_diags dg = {0};
	mp_evaluator *ev = mp_evaluator_new(e, NULL, &dg);
	assert_non_null(ev);
	uint64_t seed = 42;
	int diffs = 0;
#define PICK(list) (list).v[(seed = seed * 6364136223846793005u + 1442695040888963407u) % (list).n]
	for (unsigned i = 0; i < n; i++) {
		mp_request r = {0};
		r.principal = PICK(principals);
		r.dst_service = PICK(dsts);
		r.method = PICK(methods);
		r.path = PICK(paths);
		if (seed % 4 == 0)
			r.dst_namespace = PICK(dst_nss);
		if (seed % 5 == 0) {
			r.headers = &hdrs[seed % 3];
			r.nheaders = 1;
		}
		if (seed % 3 == 0)
			r.port = seed % 2 ? 8080 : 9090;
		for (int explain = 0; explain < 2; explain++) {
			b->dindex = built;
			char *x = decision_text(ev, e, &r, explain);
			b->dindex = plain;
			char *y = decision_text(ev, e, &r, explain);
			b->dindex = built;
			if (strcmp(x, y)) {
				print_error(
				    "request %u (%s -> %s%s%s %s %s): indexed %s\nplain %s\n", i,
				    r.principal ? r.principal : "-",
				    r.dst_namespace ? r.dst_namespace : "",
				    r.dst_namespace ? ":" : "", r.dst_service,
				    r.method ? r.method : "-", r.path ? r.path : "-", x, y);
				diffs++;
			}
			free(x);
			free(y);
		}
	}
#undef PICK
	/* and for each rule of each destination, requests its source and method pass, over every
	 * path: the path patterns decide these */
	static const char *const bit_names[] = {"GET",   "HEAD",    "POST",    "PUT",  "DELETE",
	                                        "PATCH", "OPTIONS", "CONNECT", "TRACE"};
	for (uint32_t sv = 0; sv < v.nservices; sv++)
		for (uint32_t k = b->svc_off[sv]; k < b->svc_off[sv + 1]; k++) {
			const mp_rule *rule = &b->rules[b->svc_rules[k]];
			mp_request r = {0};
			char dst[512];
			snprintf(dst, sizeof(dst), "%s/%s",
			         mp_model_str(m, v.namespaces[v.services[sv].ns].name),
			         mp_model_str(m, v.services[sv].name));
			r.dst_service = dst;
			if (rule->from.nprincipals)
				r.principal = rule->from.principals[0].text;
			for (uint32_t i = 0;
			     !r.principal && rule->from.nnamespaces && i < v.nservices; i++)
				if (v.services[i].ns == rule->from.namespaces[0] &&
				    v.services[i].identity)
					r.principal = mp_model_str(m, v.services[i].identity);
			for (uint32_t bit = 0; bit < 9; bit++)
				if (rule->methods & (1u << bit)) {
					r.method = bit_names[bit];
					break;
				}
			for (size_t p = 0; p < paths.n; p++) {
				r.path = paths.v[p];
				b->dindex = built;
				char *x = decision_text(ev, e, &r, 1);
				b->dindex = plain;
				char *y = decision_text(ev, e, &r, 1);
				b->dindex = built;
				if (strcmp(x, y)) {
					print_error("rule %s, path %s: indexed %s\nplain %s\n",
					            rule->name, r.path ? r.path : "-", x, y);
					diffs++;
				}
				free(x);
				free(y);
			}
		}
	mp_evaluator_free(ev);
	mp_diags_free(&dg);
	free_allocs(&a);
	strs_free(&principals);
	strs_free(&dsts);
	strs_free(&dst_nss);
	strs_free(&paths);
	strs_free(&methods);
	return diffs;
}

static mp_engine *open_engine(const char *model, const char *bundle)
{
	mp_diags d = {0};
	setenv("MESHPOL_STDLIB", "stdlib", 1);
	mp_engine *e = mp_engine_open(model, bundle, &d);
	if (!e) {
		char *t = diags_text(&d);
		fprintf(stderr, "%s", t);
		free(t);
	}
	mp_diags_free(&d);
	return e;
}

/* The unit bundle (every matching form, `when` functions, an advisory policy) and the
 * reference bundle on its mesh. */
static void test_same_decisions(void **state)
{
	static const struct {
		const char *model, *bundle;
	} engines[] = {
	    {"tests/data/bundles/unit/mesh.yaml", "tests/data/bundles/unit"},
	    {"examples/acme", "policies"},
	};
	(void)state;
	for (size_t i = 0; i < sizeof(engines) / sizeof(engines[0]); i++) {
		mp_engine *e = open_engine(engines[i].model, engines[i].bundle);
		assert_non_null(e);
		assert_non_null(e->bundle->dindex);
		assert_int_equal(compare_engine(e, 3000), 0);
		mp_engine_release(e);
	}
}

/* Every key answers what the model's lookups answer; strings that are no key find nothing. */
static void test_keys_match_the_model(void **state)
{
	(void)state;
	mp_engine *e = open_engine("examples/acme", "policies");
	assert_non_null(e);
	const mp_dindex *x = e->bundle->dindex;
	const mp_model *m = e->model;
	mp_model_view v = mp_model_get_view(m);
	uint32_t found = 0;
	for (uint32_t i = 0; i < v.nservices; i++) {
		mp_str ids[] = {v.services[i].name, v.services[i].identity};
		for (int k = 0; k < 2; k++) {
			if (!ids[k])
				continue;
			const char *s = mp_model_str(m, ids[k]);
			const mp_dindex_key *key =
			    mp_dindex_find(x, s, strlen(s), mp_dindex_hash(s, strlen(s)));
			assert_non_null(key);
			found++;
			assert_int_equal(key->str, ids[k]);
			assert_int_equal(key->ident_svc,
			                 mp_model_find_service_by_identity_id(m, ids[k]));
			assert_int_equal(key->named_svc, mp_model_find_service(m, s));
			if (key->named_svc != MP_NONE) {
				assert_int_equal(key->rec_off, e->bundle->svc_off[key->named_svc]);
				assert_int_equal(key->rec_n,
				                 e->bundle->svc_off[key->named_svc + 1] -
				                     key->rec_off);
			}
			char longer[300];
			snprintf(longer, sizeof(longer), "%sx", s);
			assert_null(mp_dindex_find(x, longer, strlen(longer),
			                           mp_dindex_hash(longer, strlen(longer))));
			assert_null(
			    mp_dindex_find(x, s, strlen(s) - 1, mp_dindex_hash(s, strlen(s) - 1)));
		}
	}
	assert_true(found > 0 && x->nkeys > 0); /* a name in two namespaces is one key */
	assert_true(x->nkeys <= x->mask + 1);
	mp_engine_release(e);
}

/* Keys of 19, 20, 21 and 40 bytes (a slot keeps 20) that differ only in their last byte, and a
 * hash forced equal: the bytes decide. */
static void test_keys_at_the_slot_edge(void **state)
{
	(void)state;
	char dir[] = "/tmp/meshpol-dindex-XXXXXX", mesh[64];
	assert_non_null(mkdtemp(dir));
	snprintf(mesh, sizeof(mesh), "%s/mesh.yaml", dir);
	FILE *f = fopen(mesh, "w");
	assert_non_null(f);
	const char *names[] = {"a234567890123456789", "a2345678901234567890",
	                       "a23456789012345678901", "a234567890123456789012345678901234567890"};
	fprintf(f, "kind: Cluster\nname: c\nprovider: aws\nregion: r\n");
	for (size_t i = 0; i < 4; i++)
		for (char last = 'a'; last <= 'b'; last++)
			fprintf(f, "---\nkind: Service\nname: %.*s%c\nnamespace: n\ncluster: c\n",
			        (int)strlen(names[i]) - 1, names[i], last);
	fclose(f);
	char *bdir = write_bundle_dir("name: b\nrevision: \"1\"\n", "p.lua",
	                              "policy \"p\" { version = \"1.0.0\", kind = \"rbac\" }\n"
	                              "allow \"r\" { service = \"*\", from = \"*\" }\n",
	                              NULL);
	assert_non_null(bdir);
	mp_engine *e = open_engine(mesh, bdir);
	assert_non_null(e);
	const mp_dindex *x = e->bundle->dindex;
	for (size_t i = 0; i < 4; i++) {
		char s[64];
		size_t len = strlen(names[i]);
		snprintf(s, sizeof(s), "%s", names[i]);
		for (char last = 'a'; last <= 'c'; last++) {
			s[len - 1] = last;
			const mp_dindex_key *k = mp_dindex_find(x, s, len, mp_dindex_hash(s, len));
			if (last == 'c') {
				assert_null(k);
				continue;
			}
			assert_non_null(k);
			assert_string_equal(k->text, s);
			assert_int_equal(k->named_svc, mp_model_find_service(e->model, s));
			/* the same hash with other bytes: no key */
			char other[64];
			snprintf(other, sizeof(other), "%s", s);
			other[len - 1] = 'c';
			assert_null(mp_dindex_find(x, other, len, k->hash));
		}
	}
	mp_engine_release(e);
	assert_int_equal(remove_bundle_dir(bdir), 0);
	unlink(mesh);
	assert_int_equal(rmdir(dir), 0);
}

/* A path used as it is must be what normalising would have made of it: every path of up to 7
 * bytes over the bytes that matter, and the length limit. */
static void test_path_normal(void **state)
{
	(void)state;
	const char alphabet[] = "/.a%2e\\?#";
	const size_t na = sizeof(alphabet) - 1;
	char p[16], out[MP_DINDEX_PATH_MAX];
	unsigned used = 0;
	for (size_t len = 0; len <= 7; len++) {
		size_t total = 1;
		for (size_t i = 0; i < len; i++)
			total *= na;
		for (size_t code = 0; code < total; code++) {
			size_t c = code, got;
			for (size_t i = 0; i < len; i++, c /= na)
				p[i] = alphabet[c % na];
			p[len] = '\0';
			if (!mp_dindex_path_normal(p, &got))
				continue;
			used++;
			assert_int_equal(got, len);
			assert_int_equal(mp_path_normalize(p, out, sizeof(out), 1), (long)len);
			assert_string_equal(out, p);
		}
	}
	assert_true(used > 1000);
	char *big = malloc(MP_DINDEX_PATH_MAX + 1);
	assert_non_null(big);
	memset(big, 'a', MP_DINDEX_PATH_MAX);
	big[0] = '/';
	size_t got;
	big[MP_DINDEX_PATH_MAX - 1] = '\0'; /* 2047 bytes: fits */
	assert_true(mp_dindex_path_normal(big, &got));
	assert_int_equal(mp_path_normalize(big, out, sizeof(out), 1), (long)got);
	big[MP_DINDEX_PATH_MAX - 1] = 'a';
	big[MP_DINDEX_PATH_MAX] = '\0'; /* 2048: does not, nor does it normalise */
	assert_false(mp_dindex_path_normal(big, &got));
	assert_true(mp_path_normalize(big, out, sizeof(out), 1) < 0);
	free(big);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_same_decisions),
	    cmocka_unit_test(test_keys_match_the_model),
	    cmocka_unit_test(test_keys_at_the_slot_edge),
	    cmocka_unit_test(test_path_normal),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
