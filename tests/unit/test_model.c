/* test_model.c: engine/model.c and engine/mpm.c: lookups, indexes, the .mpm round trip,
 * corrupted files, and out-of-memory at every allocation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "alloc.h"
#include "compile.h"
#include "files.h"
#include "model.h"
#include "model_int.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

static const char small_mesh[] =
    "kind: Cluster\nname: eu1\nprovider: aws\nregion: eu-west-1\n"
    "---\nkind: Cluster\nname: us1\nprovider: gcp\nregion: us-east1\n"
    "---\nkind: Jurisdiction\nname: EU\nregions: [eu-west-1, eu-central-1]\n"
    "---\nkind: Jurisdiction\nname: US\nregions: [us-east1]\n"
    "---\nkind: Namespace\nname: shop\ndata: [telemetry]\n"
    "---\nkind: Service\nname: web\nnamespace: shop\ncluster: eu1\n"
    "identity: spiffe://acme.io/ns/shop/sa/web\n"
    "---\nkind: Service\nname: api\nnamespace: shop\nclusters: [eu1, us1]\n"
    "identity: spiffe://acme.io/ns/shop/sa/api\ndata: [pii]\nmtls: STRICT\n"
    "ports: [{port: 8080, protocol: HTTP, name: http}]\n"
    "---\nkind: Service\nname: api\nnamespace: admin\ncluster: us1\n"
    "---\nkind: External\nname: stripe\nhost: API.Stripe.com\nregion: us-east1\n"
    "---\nkind: Route\nname: web-api\nsource: web\n"
    "destinations: [{service: shop/api, weight: 90}, {service: shop/api, cluster: us1, weight: "
    "10}]\n"
    "failover: [shop/api@us1]\ntimeout: 1.5s\nretries: {attempts: 2, per_try_timeout: 250ms}\n"
    "match: {methods: [GET, POST], path: {prefix: /v1/}, headers: {x-tenant: eu}}\n"
    "---\nkind: Route\nname: any-stripe\ndestination: api.stripe.com\n"
    "---\nkind: Certificate\nname: web-cert\nnot_after: 2027-01-31T12:00:00+01:00\n";

static mp_model *compile_small(void)
{
	mp_diags d = {0};
	mp_model *m = mp_compile_string("small.yaml", small_mesh, sizeof(small_mesh) - 1, &d);
	if (!m)
		mp_diags_print(&d, stderr);
	mp_diags_free(&d);
	return m;
}

static void test_lookups(void **state)
{
	(void)state;
	mp_model *m = compile_small();
	assert_non_null(m);
	mp_model_view v = mp_model_get_view(m);
	assert_int_equal(v.nclusters, 2);
	assert_int_equal(v.nservices, 3);
	assert_int_equal(v.nnamespaces, 2); /* admin is implicit */
	assert_int_equal(v.nroutes, 2);

	const mp_id *ids;
	assert_int_equal(mp_model_services_named(m, "api", &ids), 2);
	assert_int_equal(mp_model_find_service(m, "api"), MP_NONE); /* ambiguous */
	mp_id api = mp_model_find_service(m, "shop/api");
	mp_id web = mp_model_find_service(m, "web");
	assert_int_not_equal(api, MP_NONE);
	assert_int_equal(mp_model_find_service_by_identity(m, "spiffe://acme.io/ns/shop/sa/api"),
	                 api);
	assert_int_equal(mp_model_find_service_by_identity(m, "spiffe://nope"), MP_NONE);
	assert_string_equal(mp_model_str(m, v.services[api].name), "api");
	assert_int_equal(v.services[api].mtls, MP_MTLS_STRICT);
	assert_int_equal(v.ports[v.services[api].ports.off].port, 8080);
	assert_string_equal(mp_model_str(m, v.ports[v.services[api].ports.off].protocol), "http");
	/* data classes: own first, then the namespace's */
	assert_int_equal(v.services[api].data.n, 2);
	assert_string_equal(mp_model_str(m, v.u32[v.services[api].data.off]), "pii");
	assert_string_equal(mp_model_str(m, v.u32[v.services[api].data.off + 1]), "telemetry");

	mp_id shop = mp_model_find_namespace(m, "shop");
	assert_int_equal(mp_model_services_in_namespace(m, shop, &ids), 2);
	mp_id us1 = mp_model_find_cluster(m, "us1");
	assert_int_equal(mp_model_services_in_cluster(m, us1, &ids), 2);

	const mp_edge *e;
	assert_int_equal(mp_model_edges_from(m, web, &e), 3); /* two weighted + one failover */
	assert_int_equal(mp_model_edges_to(m, api, &e), 3);
	assert_int_equal(v.targets[e[1].target].cluster, us1);
	assert_int_equal(v.targets[e[1].target].weight, 10);
	assert_int_equal(mp_model_edges_any(m, &e), 1);
	assert_int_equal(v.targets[e[0].target].kind, MP_TARGET_EXTERNAL);

	const mp_route *r = &v.routes[0];
	assert_int_equal(r->timeout_ms, 1500);
	assert_int_equal(r->retry_attempts, 2);
	assert_int_equal(r->per_try_timeout_ms, 250);
	assert_int_equal(r->match.methods, MP_METHOD_GET | MP_METHOD_POST);
	assert_int_equal(r->match.path_kind, MP_PATH_PREFIX);
	assert_int_equal(r->loc.line, 48);

	mp_id stripe = mp_model_find_external(m, "api.stripe.com");
	assert_int_equal(stripe, 0);
	assert_int_equal(v.externals[stripe].jurisdiction, mp_model_find_jurisdiction(m, "US"));
	mp_str region = mp_model_find_str(m, "eu-central-1", 12);
	assert_int_equal(mp_model_jurisdiction_of_region(m, region),
	                 mp_model_find_jurisdiction(m, "EU"));
	assert_true(v.certs[0].not_after == 1801393200); /* 2027-01-31T11:00:00Z */
	mp_model_free(m);
}

/* Into the caller's buffer: two paths may be in use at once. */
static char *tmpfile_path(char path[static 256], const char *tag)
{
	snprintf(path, 256, "/tmp/meshpol-test-%d-%s.mpm", (int)getpid(), tag);
	return path;
}

static unsigned char *read_all(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	*len = (size_t)ftell(f);
	rewind(f);
	unsigned char *buf = malloc(*len + 1);
	assert_int_equal(fread(buf, 1, *len, f), *len);
	fclose(f);
	return buf;
}

static void test_roundtrip_example(void **state)
{
	(void)state;
	mp_diags d = {0};
	const char *src = "examples/acme";
	mp_model *m = mp_compile(&src, 1, NULL, &d);
	mp_diags_print(&d, stderr);
	mp_diags_free(&d);
	assert_non_null(m);
	char err[512];
	char pathbuf[256], *path = tmpfile_path(pathbuf, "rt");
	assert_int_equal(mp_model_save(m, path, err, sizeof(err)), 0);
	assert_true(mp_model_is_mpm_file(path));
	mp_model *l = mp_model_load(path, err, sizeof(err));
	assert_non_null(l);
	assert_string_equal(mp_model_sha256(m), mp_model_sha256(l));
	mp_model_view a = mp_model_get_view(m), b = mp_model_get_view(l);
	assert_int_equal(a.nservices, b.nservices);
	assert_int_equal(a.nroutes, b.nroutes);
	for (uint32_t i = 0; i < a.nservices; i++) {
		const char *id = mp_model_str(m, a.services[i].identity);
		if (*id)
			assert_int_equal(mp_model_find_service_by_identity(l, id), i);
		const mp_edge *e1, *e2;
		uint32_t n1 = mp_model_edges_from(m, i, &e1), n2 = mp_model_edges_from(l, i, &e2);
		assert_int_equal(n1, n2);
		if (n1)
			assert_memory_equal(e1, e2, n1 * sizeof(*e1));
		n1 = mp_model_edges_to(m, i, &e1);
		n2 = mp_model_edges_to(l, i, &e2);
		assert_int_equal(n1, n2);
	}
	/* saving the loaded model gives the same bytes */
	char path2buf[256], *path2 = tmpfile_path(path2buf, "rt2");
	assert_int_equal(mp_model_save(l, path2, err, sizeof(err)), 0);
	size_t l1, l2;
	unsigned char *b1 = read_all(path, &l1), *b2 = read_all(path2, &l2);
	assert_int_equal(l1, l2);
	assert_memory_equal(b1, b2, l1);
	free(b1);
	free(b2);
	unlink(path);
	unlink(path2);
	mp_model_free(m);
	mp_model_free(l);
}

/* Loads bytes and expects failure with msg in the error. */
static void expect_load_error(const unsigned char *buf, size_t len, const char *msg)
{
	char err[512] = "";
	mp_model *m = mp_model_load_mem(buf, len, err, sizeof(err));
	if (m || !strstr(err, msg))
		fail_msg("want error containing '%s', got %s '%s'", msg, m ? "a model" : "error",
		         err);
}

static void rehash(unsigned char *buf, size_t len)
{
	unsigned int n;
	EVP_Digest(buf + 56, len - 56, buf + 24, &n, EVP_sha256(), NULL);
}

static void test_corrupted(void **state)
{
	(void)state;
	mp_model *m = compile_small();
	char err[512];
	char pathbuf[256], *path = tmpfile_path(pathbuf, "bad");
	assert_int_equal(mp_model_save(m, path, err, sizeof(err)), 0);
	mp_model_free(m);
	size_t len;
	unsigned char *good = read_all(path, &len);
	unlink(path);
	unsigned char *buf = malloc(len);

	expect_load_error(good, 0, "is empty (a compiled model is at least its 56-byte header)");
	expect_load_error(good, 40, "truncated at byte 40, inside the 56-byte header");
	char want[200];
	snprintf(want, sizeof(want),
	         "truncated at byte %zu: the header says the file has %zu bytes", len - 1, len);
	expect_load_error(good, len - 1, want);
	memcpy(buf, good, len);
	buf[0] = 'X';
	expect_load_error(buf, len, "bad magic");
	memcpy(buf, good, len);
	buf[8] = 99;
	expect_load_error(buf, len, "version 99");
	memcpy(buf, good, len);
	buf[len / 2] ^= 0x40;
	expect_load_error(buf, len, "SHA-256");
	/* a hash that matches but a section header that lies about its size */
	memcpy(buf, good, len);
	uint32_t huge = 0x7fffffff;
	memcpy(buf + 56 + 8, &huge, 4);
	rehash(buf, len);
	expect_load_error(buf, len, "runs past the end");
	/* a crafted file with a valid hash and an out-of-range id must be refused, not read */
	memcpy(buf, good, len);
	unsigned char *p = buf + 56;
	uint32_t head[4];
	for (int sec = 1; sec < 6; sec++) { /* skip to the services section */
		memcpy(head, p, 16);
		p += 16 + (size_t)head[1] * head[2];
	}
	memcpy(head, p, 16);
	assert_int_equal(head[0], 6);
	uint32_t bad_ns = 12345;
	memcpy(p + 16 + offsetof(mp_service, ns), &bad_ns, 4);
	rehash(buf, len);
	expect_load_error(buf, len, "service 0: reference out of range");

	char msg[600];
	assert_null(mp_model_load("/nonexistent/x.mpm", msg, sizeof(msg)));
	assert_string_equal(msg, "/nonexistent/x.mpm: cannot read: No such file or directory");
	free(buf);
	free(good);
}

static void write_bytes(const char *path, const void *p, size_t n)
{
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(p, 1, n, f), n);
	fclose(f);
}

/* MODEL as the CLI opens it: an empty or cut .mpm is an error, never an empty model read as
 * YAML; a FIFO or a directory named .mpm is refused without blocking. */
static void test_mpm_files(void **state)
{
	(void)state;
	char dir[] = "/tmp/meshpol-mpm-XXXXXX", path[512], want[700];
	assert_non_null(mkdtemp(dir));
	mp_model *m = compile_small();
	char err[512];
	snprintf(path, sizeof(path), "%s/good.mpm", dir);
	assert_int_equal(mp_model_save(m, path, err, sizeof(err)), 0);
	mp_model_free(m);
	size_t len;
	unsigned char *good = read_all(path, &len);
	static const struct {
		const char *name;
		size_t keep; /* bytes of the good file; SIZE_MAX: all but one */
		const char *msg;
	} cut[] = {
	    {"empty.mpm", 0, "is empty (a compiled model is at least its 56-byte header)"},
	    {"five.mpm", 5, "truncated at byte 5, inside the 56-byte header"},
	    {"cut.mpm", SIZE_MAX, NULL},
	};
	for (size_t i = 0; i < sizeof(cut) / sizeof(cut[0]); i++) {
		size_t keep = cut[i].keep == SIZE_MAX ? len - 1 : cut[i].keep;
		snprintf(path, sizeof(path), "%s/%s", dir, cut[i].name);
		write_bytes(path, good, keep);
		if (cut[i].msg)
			snprintf(want, sizeof(want), "%s: %s", path, cut[i].msg);
		else
			snprintf(
			    want, sizeof(want),
			    "%s: truncated at byte %zu: the header says the file has %zu bytes",
			    path, keep, len);
		mp_diags d = {0};
		assert_null(mp_model_open(path, &d));
		assert_int_equal(d.errors, 1);
		assert_string_equal(d.v[0].msg, want);
		mp_diags_free(&d);
	}
	snprintf(path, sizeof(path), "%s/pipe.mpm", dir);
	assert_int_equal(mkfifo(path, 0600), 0);
	mp_diags d = {0};
	assert_null(mp_model_open(path, &d));
	snprintf(want, sizeof(want), "%s: is a FIFO, not a regular file", path);
	assert_string_equal(d.v[0].msg, want);
	mp_diags_free(&d);
	assert_false(mp_model_is_mpm_file(path));
	snprintf(path, sizeof(path), "%s/dir.mpm", dir);
	assert_int_equal(mkdir(path, 0700), 0);
	assert_null(mp_model_load(path, err, sizeof(err)));
	snprintf(want, sizeof(want), "%s: is a directory, not a regular file", path);
	assert_string_equal(err, want);
	free(good);
	char cmd[600];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
}

/* Every allocation of a compile, failing in turn: NULL and a message, never a crash or leak. */
/* mp_reserve / mp_grow (alloc.c), which every growing array of the model uses: doubling from
 * the first capacity, a refused size or failed allocation leaves the array as it was. */
static void test_reserve(void **state)
{
	(void)state;
	uint32_t *v = NULL, cap = 0;
	assert_int_equal(mp_grow((void **)&v, &cap, sizeof(*v), 0, 4), 0);
	assert_int_equal(cap, 4);
	assert_int_equal(mp_grow((void **)&v, &cap, sizeof(*v), 3, 4), 0); /* fits: unchanged */
	assert_int_equal(cap, 4);
	assert_int_equal(mp_grow((void **)&v, &cap, sizeof(*v), 4, 4), 0);
	assert_int_equal(cap, 8);
	assert_int_equal(mp_reserve((void **)&v, &cap, sizeof(*v), 100, 4), 0);
	assert_int_equal(cap, 128);
	v[127] = 7;
	uint32_t *before = v;
	assert_int_equal(mp_reserve((void **)&v, &cap, sizeof(*v), (uint64_t)UINT32_MAX + 5, 4),
	                 -1);
	assert_ptr_equal(v, before);
	assert_int_equal(cap, 128);
	mp_alloc_fail_after(0);
	assert_int_equal(mp_reserve((void **)&v, &cap, sizeof(*v), 129, 4), -1);
	mp_alloc_fail_after(-1);
	assert_ptr_equal(v, before);
	assert_int_equal(cap, 128);
	assert_int_equal(v[127], 7);
	mp_free(v);
}

static void test_out_of_memory(void **state)
{
	(void)state;
	int failures = 0;
	for (long n = 0;; n++) {
		mp_diags d = {0};
		mp_alloc_fail_after(n);
		mp_model *m =
		    mp_compile_string("small.yaml", small_mesh, sizeof(small_mesh) - 1, &d);
		mp_alloc_fail_after(-1);
		mp_diags_free(&d);
		if (m) {
			mp_model_free(m);
			break;
		}
		failures++;
		assert_true(n < 100000);
	}
	assert_true(failures > 50);
}

static void test_empty_model(void **state)
{
	(void)state;
	mp_diags d = {0};
	mp_model *m = mp_compile_string("empty.yaml", "", 0, &d);
	assert_non_null(m);
	assert_int_equal(mp_model_get_view(m).nservices, 0);
	assert_int_equal(mp_model_find_service(m, "x"), MP_NONE);
	const mp_edge *e;
	assert_int_equal(mp_model_edges_from(m, 0, &e), 0);
	mp_model_free(m);
	mp_diags_free(&d);
}

/* The model's hash leaves out the source root of every file name (model.h, mp_source_name):
 * the same sources hash the same however their paths are spelled, from any working directory;
 * the names kept for messages are the paths as given. */
static void write_text(const char *path, const char *text)
{
	write_bytes(path, text, strlen(text));
}

static char *hash_of_dir(const char *dir, char *out)
{
	mp_diags d = {0};
	mp_model *m = mp_compile(&dir, 1, NULL, &d);
	if (!m)
		mp_diags_print(&d, stderr);
	mp_diags_free(&d);
	assert_non_null(m);
	strcpy(out, mp_model_sha256(m));
	mp_model_free(m);
	return out;
}

static void test_hash_ignores_path_spelling(void **state)
{
	(void)state;
	char dir[] = "/tmp/meshpol-hash-XXXXXX", path[600], cwd[4096], want[65], got[65];
	assert_non_null(mkdtemp(dir));
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	snprintf(path, sizeof(path), "%s/mesh", dir);
	assert_int_equal(mkdir(path, 0700), 0);
	snprintf(path, sizeof(path), "%s/mesh/sub", dir);
	assert_int_equal(mkdir(path, 0700), 0);
	snprintf(path, sizeof(path), "%s/mesh/a.yaml", dir);
	write_text(path, "kind: Namespace\nname: shop\n");
	snprintf(path, sizeof(path), "%s/mesh/sub/b.yaml", dir);
	write_text(path, "kind: Cluster\nname: eu1\nprovider: aws\nregion: eu-west-1\n");

	snprintf(path, sizeof(path), "%s/mesh", dir);
	hash_of_dir(path, want);
	snprintf(path, sizeof(path), "%s/mesh/", dir);
	assert_string_equal(hash_of_dir(path, got), want);
	snprintf(path, sizeof(path), "%s/./mesh", dir);
	assert_string_equal(hash_of_dir(path, got), want);
	assert_int_equal(chdir(dir), 0);
	assert_string_equal(hash_of_dir("mesh", got), want);
	assert_string_equal(hash_of_dir("./mesh//", got), want);
	assert_int_equal(chdir("mesh"), 0);
	assert_string_equal(hash_of_dir(".", got), want);
	assert_int_equal(chdir(cwd), 0);

	/* the names relative to the root are covered: a file moved in the tree is another model */
	char from[600], to[600];
	snprintf(from, sizeof(from), "%s/mesh/sub/b.yaml", dir);
	snprintf(to, sizeof(to), "%s/mesh/b.yaml", dir);
	assert_int_equal(rename(from, to), 0);
	snprintf(path, sizeof(path), "%s/mesh", dir);
	assert_string_not_equal(hash_of_dir(path, got), want);

	/* a single file by its base name; what messages show is the path as given */
	mp_diags d = {0};
	mp_model *a = mp_compile_string("small.yaml", small_mesh, sizeof(small_mesh) - 1, &d);
	mp_model *b =
	    mp_compile_string("/somewhere/else/small.yaml", small_mesh, sizeof(small_mesh) - 1, &d);
	mp_model *c = mp_compile_string("other.yaml", small_mesh, sizeof(small_mesh) - 1, &d);
	assert_non_null(a);
	assert_non_null(b);
	assert_non_null(c);
	assert_string_equal(mp_model_sha256(a), mp_model_sha256(b));
	assert_string_not_equal(mp_model_sha256(a), mp_model_sha256(c));
	char loc[300];
	mp_model_view v = mp_model_get_view(b);
	assert_string_equal(mp_model_loc_str(b, v.services[0].loc, loc, sizeof(loc)),
	                    "/somewhere/else/small.yaml:23");
	mp_model_free(a);
	mp_model_free(b);
	mp_model_free(c);
	mp_diags_free(&d);
	char cmd[600];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
}

/* The .mpm keeps the source names (outside the hash): a loaded model has the hash and the
 * messages' paths of the compiled one; a root longer than its name is refused. */
static void test_mpm_source_names(void **state)
{
	(void)state;
	mp_diags d = {0};
	mp_model *m =
	    mp_compile_string("some/dir/small.yaml", small_mesh, sizeof(small_mesh) - 1, &d);
	mp_model *plain = mp_compile_string("small.yaml", small_mesh, sizeof(small_mesh) - 1, &d);
	assert_non_null(m);
	assert_non_null(plain);
	assert_string_equal(mp_model_sha256(m), mp_model_sha256(plain));
	char err[512], loc[300];
	char pathbuf[256], *path = tmpfile_path(pathbuf, "src");
	assert_int_equal(mp_model_save(m, path, err, sizeof(err)), 0);
	size_t len;
	unsigned char *good = read_all(path, &len);
	mp_model *l = mp_model_load_mem(good, len, err, sizeof(err));
	assert_non_null(l);
	assert_string_equal(mp_model_sha256(l), mp_model_sha256(m));
	mp_model_view v = mp_model_get_view(l);
	assert_string_equal(mp_model_loc_str(l, v.services[0].loc, loc, sizeof(loc)),
	                    "some/dir/small.yaml:23");
	mp_model_free(l);

	/* the last section holds one source name: {name, root_len = strlen("some/dir/")} */
	uint32_t head[4], rec[2];
	memcpy(head, good + len - 24, 16);
	memcpy(rec, good + len - 8, 8);
	assert_int_equal(head[0], 17);
	assert_int_equal(head[2], 1);
	assert_int_equal(rec[1], 9);
	unsigned char *buf = malloc(len);
	memcpy(buf, good, len);
	rec[1] = 200;
	memcpy(buf + len - 8, rec, 8);
	rehash(buf, len);
	expect_load_error(buf, len, "source name 0: its root is longer than the name");
	/* the root is what the hash leaves out: another root, another hash */
	rec[1] = 0;
	memcpy(buf + len - 8, rec, 8);
	rehash(buf, len);
	l = mp_model_load_mem(buf, len, err, sizeof(err));
	assert_non_null(l);
	assert_string_not_equal(mp_model_sha256(l), mp_model_sha256(m));
	mp_model_free(l);
	/* a file of the previous format is refused with a request to recompile */
	memcpy(buf, good, len);
	buf[8] = 2;
	expect_load_error(buf, len,
	                  "unsupported model format version 2 (this meshpol reads "
	                  "version 3; recompile the model)");
	free(buf);
	free(good);
	unlink(path);
	mp_model_free(m);
	mp_model_free(plain);
	mp_diags_free(&d);

	/* every allocation of a compile with roots, failing in turn */
	for (long n = 0;; n++) {
		mp_diags dd = {0};
		mp_alloc_fail_after(n);
		mp_model *x =
		    mp_compile_string("a/small.yaml", small_mesh, sizeof(small_mesh) - 1, &dd);
		mp_alloc_fail_after(-1);
		mp_diags_free(&dd);
		if (x) {
			mp_model_free(x);
			break;
		}
		assert_true(n < 100000);
	}
}

/* mp_model_save writes as every output does (files.h): a symbolic link's target is replaced
 * and the link kept, an existing file keeps its mode, a directory is refused by name. */
static void test_mpm_save_outputs(void **state)
{
	(void)state;
	char dir[] = "/tmp/meshpol-out-XXXXXX", path[600], link[600], want[700], err[700];
	struct stat st;
	assert_non_null(mkdtemp(dir));
	mp_model *m = compile_small();
	snprintf(path, sizeof(path), "%s/target.mpm", dir);
	snprintf(link, sizeof(link), "%s/link.mpm", dir);
	write_text(path, "old");
	assert_int_equal(chmod(path, 0600), 0);
	assert_int_equal(symlink("target.mpm", link), 0);
	assert_int_equal(mp_model_save(m, link, err, sizeof(err)), 0);
	assert_int_equal(lstat(link, &st), 0);
	assert_true(S_ISLNK(st.st_mode));
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_true(mp_model_is_mpm_file(path));
	assert_int_equal(mp_model_save(m, dir, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "%s: is a directory", dir);
	assert_string_equal(err, want);
	snprintf(path, sizeof(path), "%s/no/such/dir.mpm", dir);
	assert_int_equal(mp_model_save(m, path, err, sizeof(err)), -1);
	snprintf(want, sizeof(want),
	         "%s: cannot create a file in %s/no/such: No such file or directory", path, dir);
	assert_string_equal(err, want);
	mp_model_free(m);
	char cmd[600];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
}

/* --- the file path of the loader (mpm.c): the same checks as from memory, read section by
 * section from the file --- */

/* The sections' names in file order, as the messages give them (docs/mpm-format.md). */
static const char *const section_names[] = {
    "string data", "string offsets", "clusters",     "jurisdictions",   "namespaces",   "services",
    "routes",      "externals",      "certificates", "id pool",         "label pool",   "port pool",
    "target pool", "workloads",      "resources",    "import findings", "source names",
};
#define NSECTIONS (sizeof(section_names) / sizeof(section_names[0]))

/* Writes bytes to dir/name, loads it with mp_model_load and from memory: both must fail, the
 * file's message being "PATH: " and msg exactly, the memory's msg. */
static void expect_file_error(const char *dir, const char *name, const unsigned char *bytes,
                              size_t len, const char *msg)
{
	char path[512], want[1200], err[1200] = "", inner[1000] = "";
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	write_bytes(path, bytes, len);
	mp_model *m = mp_model_load(path, err, sizeof(err));
	snprintf(want, sizeof(want), "%s: %s", path, msg);
	if (m || strcmp(err, want) != 0)
		fail_msg("%s: want '%s', got %s '%s'", name, want, m ? "a model" : "error", err);
	m = mp_model_load_mem(bytes, len, inner, sizeof(inner));
	if (m || strcmp(inner, msg) != 0)
		fail_msg("%s from memory: want '%s', got %s '%s'", name, msg,
		         m ? "a model" : "error", inner);
	unlink(path);
}

/* The offset of each section's header in a good file, and of the end. */
static void section_offsets(const unsigned char *good, size_t off[NSECTIONS + 1])
{
	size_t pos = 56;
	for (size_t i = 0; i < NSECTIONS; i++) {
		uint32_t head[4];
		off[i] = pos;
		memcpy(head, good + pos, 16);
		assert_int_equal(head[0], i + 1);
		pos += 16 + (size_t)head[1] * head[2];
	}
	off[NSECTIONS] = pos;
}

/* The first len bytes of good, with the header's content length and checksum made to fit:
 * such a file passes the header's checks and fails on the section it cuts. */
static unsigned char *cut_consistent(const unsigned char *good, size_t len)
{
	unsigned char *b = malloc(len);
	memcpy(b, good, len);
	uint64_t plen = len - 56;
	memcpy(b + 16, &plen, 8);
	rehash(b, len);
	return b;
}

static int serialize_sink(void *ctx, const void *p, size_t n)
{
	FILE *f = ctx;
	return fwrite(p, 1, n, f) == n ? 0 : -1;
}

/* The content a model would be saved with, for comparing two models section by section. */
static char *content_of(const mp_model *m, size_t *len)
{
	char *buf = NULL;
	FILE *f = open_memstream(&buf, len);
	assert_non_null(f);
	assert_int_equal(mp_model_serialize(m, serialize_sink, f), 0);
	fclose(f);
	return buf;
}

/* A model read from a file is the one read from memory and the one compiled: same hash, same
 * sections, same indexes. */
static void test_mpm_file_equals_memory(void **state)
{
	(void)state;
	mp_diags d = {0};
	const char *src = "examples/acme";
	mp_model *m = mp_compile(&src, 1, NULL, &d);
	mp_diags_free(&d);
	assert_non_null(m);
	char err[512], pathbuf[256], *path = tmpfile_path(pathbuf, "fm");
	assert_int_equal(mp_model_save(m, path, err, sizeof(err)), 0);
	size_t len;
	unsigned char *bytes = read_all(path, &len);
	mp_model *f = mp_model_load(path, err, sizeof(err));
	mp_model *mem = mp_model_load_mem(bytes, len, err, sizeof(err));
	assert_non_null(f);
	assert_non_null(mem);
	assert_string_equal(mp_model_sha256(f), mp_model_sha256(m));
	assert_string_equal(mp_model_sha256(mem), mp_model_sha256(m));
	size_t la, lb, lc;
	char *a = content_of(m, &la), *b = content_of(f, &lb), *c = content_of(mem, &lc);
	assert_int_equal(la, len - 56);
	assert_int_equal(lb, la);
	assert_int_equal(lc, la);
	assert_memory_equal(a, bytes + 56, la);
	assert_memory_equal(b, a, la);
	assert_memory_equal(c, a, la);
	mp_model_view v = mp_model_get_view(f);
	for (uint32_t i = 0; i < v.nservices; i++) {
		const mp_edge *e1, *e2;
		uint32_t n1 = mp_model_edges_from(m, i, &e1), n2 = mp_model_edges_from(f, i, &e2);
		assert_int_equal(n1, n2);
		if (n1)
			assert_memory_equal(e1, e2, n1 * sizeof(*e1));
		const mp_id *ids;
		assert_int_equal(
		    mp_model_services_named(f, mp_model_str(f, v.services[i].name), &ids),
		    mp_model_services_named(m, mp_model_str(m, v.services[i].name), &ids));
	}
	free(a);
	free(b);
	free(c);
	free(bytes);
	unlink(path);
	mp_model_free(m);
	mp_model_free(f);
	mp_model_free(mem);
}

/* Cut, padded and damaged files, read from a file: the messages of mp_model_load_mem, with the
 * path in front. Every section boundary and the middle of every section's header and data. */
static void test_mpm_file_hostile(void **state)
{
	(void)state;
	char dir[] = "/tmp/meshpol-mpmf-XXXXXX", msg[600], path[512], err[1200];
	assert_non_null(mkdtemp(dir));
	mp_model *m = compile_small();
	snprintf(path, sizeof(path), "%s/good.mpm", dir);
	assert_int_equal(mp_model_save(m, path, err, sizeof(err)), 0);
	mp_model_free(m);
	size_t len, off[NSECTIONS + 1];
	unsigned char *good = read_all(path, &len);
	section_offsets(good, off);
	assert_int_equal(off[NSECTIONS], len);

	for (size_t i = 0; i < NSECTIONS; i++) {
		uint32_t head[4];
		memcpy(head, good + off[i], 16);
		size_t data = (size_t)head[1] * head[2];
		const struct {
			size_t at;       /* bytes kept */
			const char *why; /* the message after "corrupted: section NAME " */
		} cuts[] = {
		    {off[i], "is cut short"},
		    {off[i] + 8, "is cut short"},
		    {off[i] + 16, data ? "runs past the end of the file" : NULL},
		    {off[i] + 16 + data / 2, data > 1 ? "runs past the end of the file" : NULL},
		};
		for (size_t k = 0; k < sizeof(cuts) / sizeof(cuts[0]); k++) {
			if (!cuts[k].why)
				continue;
			size_t at = cuts[k].at;
			/* as cut: the header's length no longer fits */
			snprintf(msg, sizeof(msg),
			         "truncated at byte %zu: the header says the file has %zu bytes",
			         at, len);
			expect_file_error(dir, "cut.mpm", good, at, msg);
			/* cut with a header made to fit it: the section's own check */
			unsigned char *b = cut_consistent(good, at);
			snprintf(msg, sizeof(msg), "corrupted: section %s %s", section_names[i],
			         cuts[k].why);
			expect_file_error(dir, "cutfit.mpm", b, at, msg);
			free(b);
		}
	}
	/* the header itself, cut */
	expect_file_error(dir, "empty.mpm", good, 0,
	                  "is empty (a compiled model is at least its 56-byte header)");
	expect_file_error(dir, "head.mpm", good, 55,
	                  "truncated at byte 55, inside the 56-byte header");
	snprintf(msg, sizeof(msg), "truncated at byte 56: the header says the file has %zu bytes",
	         len);
	expect_file_error(dir, "head56.mpm", good, 56, msg);
	/* padded, as it is and with a header that counts the padding */
	unsigned char *b = malloc(len + 1);
	memcpy(b, good, len);
	b[len] = 0;
	snprintf(msg, sizeof(msg), "padded: %zu bytes, but the header says the file has %zu",
	         len + 1, len);
	expect_file_error(dir, "padded.mpm", b, len + 1, msg);
	uint64_t plen = len + 1 - 56;
	memcpy(b + 16, &plen, 8);
	rehash(b, len + 1);
	expect_file_error(dir, "padfit.mpm", b, len + 1,
	                  "corrupted: 1 bytes after the last section");
	/* section headers: tag, element size, the zero word */
	for (size_t w = 0; w < 4; w++) {
		if (w == 2)
			continue; /* the count: "runs past the end" above */
		memcpy(b, good, len);
		uint32_t bad = 77;
		memcpy(b + off[5] + 4 * w, &bad, 4);
		rehash(b, len);
		expect_file_error(dir, "badhead.mpm", b, len,
		                  "corrupted: bad header for section services");
	}
	/* the content's checksum, the version, the byte order, the magic */
	memcpy(b, good, len);
	b[off[6] + 20] ^= 1;
	expect_file_error(dir, "sum.mpm", b, len,
	                  "corrupted: content SHA-256 does not match the header");
	memcpy(b, good, len);
	b[8] = 4;
	expect_file_error(dir, "version.mpm", b, len,
	                  "unsupported model format version 4 (this meshpol reads version 3; "
	                  "recompile the model)");
	memcpy(b, good, len);
	uint32_t other = 0x04030201u;
	memcpy(b + 12, &other, 4);
	expect_file_error(dir, "endian.mpm", b, len,
	                  "model was written on a machine of the other byte order; recompile it");
	memcpy(b, good, len);
	b[1] = 'm';
	expect_file_error(dir, "magic.mpm", b, len, "not a compiled meshpol model (bad magic)");
	free(b);

	/* what is not a regular file is refused before it is read, never opened if a device */
	snprintf(path, sizeof(path), "%s/fifo.mpm", dir);
	assert_int_equal(mkfifo(path, 0600), 0);
	assert_null(mp_model_load(path, err, sizeof(err)));
	snprintf(msg, sizeof(msg), "%s: is a FIFO, not a regular file", path);
	assert_string_equal(err, msg);
	snprintf(path, sizeof(path), "%s/dev.mpm", dir);
	if (mknod(path, S_IFCHR | 0600, makedev(1, 3)) == 0) { /* needs root: skipped without */
		assert_null(mp_model_load(path, err, sizeof(err)));
		snprintf(msg, sizeof(msg), "%s: is a device, not a regular file", path);
		assert_string_equal(err, msg);
	}
	snprintf(path, sizeof(path), "%s/dir.mpm", dir);
	assert_int_equal(mkdir(path, 0700), 0);
	assert_null(mp_model_load(path, err, sizeof(err)));
	snprintf(msg, sizeof(msg), "%s: is a directory, not a regular file", path);
	assert_string_equal(err, msg);
	/* mp_files_read's size limit, shared with the loader's opening */
	struct stat st;
	snprintf(path, sizeof(path), "%s/good.mpm", dir);
	assert_int_equal(mp_files_open_max(path, 100, &st, msg, sizeof(msg)), -1);
	snprintf(err, sizeof(err),
	         "file is %zu bytes, over the 100-byte limit for one file (split it, or raise "
	         "--max-file-size)",
	         len);
	assert_string_equal(msg, err);
	free(good);
	char cmd[600];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
}

/* A file that changes size while it is read (the hook runs between two reads): refused with
 * what happened, never a model from a mix of two files, never a crash. */
static const char *changing_path;
static uint32_t changing_at;
static off_t changing_to; /* -1: append a byte */

static void change_file(uint32_t section)
{
	if (section != changing_at)
		return;
	if (changing_to >= 0) {
		assert_int_equal(truncate(changing_path, changing_to), 0);
	} else {
		FILE *f = fopen(changing_path, "ab");
		assert_non_null(f);
		fputc('x', f);
		fclose(f);
	}
}

static void test_mpm_file_changes(void **state)
{
	(void)state;
	char pathbuf[256], *path = tmpfile_path(pathbuf, "chg"), err[1200], want[1200];
	mp_model *m = compile_small();
	size_t len, off[NSECTIONS + 1];
	assert_int_equal(mp_model_save(m, path, err, sizeof(err)), 0);
	mp_model_free(m);
	unsigned char *good = read_all(path, &len);
	section_offsets(good, off);
	changing_path = path;
	mp_model_load_hook = change_file;
	/* shrinks: in the middle of the routes, and to where the string data begins */
	const struct {
		uint32_t at;
		off_t to;
	} shrink[] = {{6, (off_t)off[6] + 16 + 10}, {0, (off_t)off[0] + 16}};
	for (size_t i = 0; i < sizeof(shrink) / sizeof(shrink[0]); i++) {
		write_bytes(path, good, len);
		changing_at = shrink[i].at;
		changing_to = shrink[i].to;
		assert_null(mp_model_load(path, err, sizeof(err)));
		snprintf(want, sizeof(want),
		         "%s: changed while being read: it had %zu bytes when opened, but ended at "
		         "byte %lld",
		         path, len, (long long)shrink[i].to);
		assert_string_equal(err, want);
	}
	/* grows before the last section is read */
	write_bytes(path, good, len);
	changing_at = NSECTIONS - 1;
	changing_to = -1;
	assert_null(mp_model_load(path, err, sizeof(err)));
	snprintf(want, sizeof(want),
	         "%s: changed while being read: it had %zu bytes when opened, and has more now",
	         path, len);
	assert_string_equal(err, want);
	/* the memory path is not a file: the hook changes nothing it reads */
	write_bytes(path, good, len);
	changing_at = 3;
	changing_to = 0;
	m = mp_model_load_mem(good, len, err, sizeof(err));
	assert_non_null(m);
	mp_model_free(m);
	mp_model_load_hook = NULL;
	/* and a file left alone loads */
	write_bytes(path, good, len);
	m = mp_model_load(path, err, sizeof(err));
	assert_non_null(m);
	mp_model_free(m);
	free(good);
	unlink(path);
}

/* Every allocation of a load from a file, failing in turn: NULL and "out of memory", never a
 * crash or a leak (make check). */
static void test_mpm_file_out_of_memory(void **state)
{
	(void)state;
	char pathbuf[256], *path = tmpfile_path(pathbuf, "oom"), err[1200], want[1200];
	mp_model *m = compile_small();
	assert_int_equal(mp_model_save(m, path, err, sizeof(err)), 0);
	mp_model_free(m);
	snprintf(want, sizeof(want), "%s: out of memory", path);
	int failures = 0;
	for (long n = 0;; n++) {
		mp_alloc_fail_after(n);
		m = mp_model_load(path, err, sizeof(err));
		mp_alloc_fail_after(-1);
		if (m) {
			mp_model_free(m);
			break;
		}
		assert_string_equal(err, want);
		failures++;
		assert_true(n < 10000);
	}
	assert_true(failures > 20);
	unlink(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_lookups),
	    cmocka_unit_test(test_reserve),
	    cmocka_unit_test(test_roundtrip_example),
	    cmocka_unit_test(test_corrupted),
	    cmocka_unit_test(test_out_of_memory),
	    cmocka_unit_test(test_empty_model),
	    cmocka_unit_test(test_mpm_files),
	    cmocka_unit_test(test_hash_ignores_path_spelling),
	    cmocka_unit_test(test_mpm_source_names),
	    cmocka_unit_test(test_mpm_save_outputs),
	    cmocka_unit_test(test_mpm_file_equals_memory),
	    cmocka_unit_test(test_mpm_file_hostile),
	    cmocka_unit_test(test_mpm_file_changes),
	    cmocka_unit_test(test_mpm_file_out_of_memory),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
