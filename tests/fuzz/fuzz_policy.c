/* fuzz_policy.c: libFuzzer harness: any bytes as the one policy file (fuzz.lua) of a bundle
 * beside the unit bundle's manifest, loaded with mp_bundle_load against the unit mesh. Loading
 * must end (the sandbox's budget) with a bundle or with at least one error; a bundle that loads
 * then decides a few fixed requests. Slow (a Lua state per input): run it less. docs/testing.md. */
#include "compile.h"
#include "decide.h"
#include "engine.h"
#include "fuzzutil.h"

static char bundle_dir[1024], policy_path[1024], stdlib_dir[1024];
static char *mesh_yaml;
static size_t mesh_len;
static FILE *devnull;

static const mp_header tenant[] = {{"x-tenant", "eu-1"}, {"x-ok", "yes"}};
static const mp_request requests[] = {
    {.principal = "spiffe://t/ns/shop/sa/web",
     .dst_service = "pay",
     .dst_namespace = "billing",
     .port = 8080,
     .method = "POST",
     .path = "/v1/charge",
     .headers = tenant,
     .nheaders = 2},
    {.src_service = "echo",
     .src_namespace = "sandbox",
     .dst_service = "billing/pay",
     .method = "GET",
     .path = "/files/a/b.json"},
    {.principal = "spiffe://t/ns/monitoring/sa/prom",
     .dst_service = "shop/web",
     .method = "PUT",
     .path = "/admin/x",
     .headers = tenant,
     .nheaders = 1},
    {.src_service = "pay",
     .src_namespace = "billing",
     .dst_service = "api.stripe.com",
     .port = 443,
     .method = "GET",
     .path = "/"},
    {.src_service = "web",
     .dst_service = "web",
     .method = "DELETE",
     .path = "/pub/a",
     .headers = tenant,
     .nheaders = 2},
    {.principal = "spiffe://t/ns/shop/sa/us-api",
     .dst_service = "multi",
     .method = "PATCH",
     .path = "/v1/../x"},
};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	char src[1024], manifest[1024];
	size_t len;
	fuzz_path(stdlib_dir, sizeof(stdlib_dir), "stdlib");
	setenv("MESHPOL_STDLIB", stdlib_dir, 0);
	if (!(mesh_yaml = fuzz_read_file(
	          fuzz_path(src, sizeof(src), "tests/data/bundles/unit/mesh.yaml"), &mesh_len)))
		fuzz_die(src);
	char *text = fuzz_read_file(
	    fuzz_path(src, sizeof(src), "tests/data/bundles/unit/bundle.yaml"), &len);
	if (!text)
		fuzz_die(src);
	fuzz_write_file(fuzz_tmp_path(manifest, sizeof(manifest), "bundle.yaml"), text, len);
	free(text);
	fuzz_tmp_path(policy_path, sizeof(policy_path), "fuzz.lua");
	snprintf(bundle_dir, sizeof(bundle_dir), "%s", fuzz_tmp_dir);
	if (!(devnull = fopen("/dev/null", "w")))
		fuzz_die("/dev/null");
	return 0;
}

static void decide_all(mp_engine *e)
{
	mp_diags d = {0};
	mp_evaluator_opts o = {.when_budget = 100000, .mem_limit = 16u << 20};
	mp_evaluator *ev = mp_evaluator_new(e, &o, &d);
	mp_diags_free(&d);
	if (!ev)
		return;
	for (size_t i = 0; i < sizeof(requests) / sizeof(*requests); i++) {
		mp_decision dec;
		json_t *why = json_array();
		mp_decide(ev, &requests[i], &dec, why);
		json_t *out = mp_decision_json(e, &dec, "00000000-0000-4000-8000-000000000000");
		if (!out || json_array_size(json_object_get(out, "reasons")) != dec.nreasons) {
			fprintf(stderr, "request %zu: the decision's JSON lost reasons\n", i);
			abort();
		}
		json_decref(out);
		json_decref(why);
	}
	mp_evaluator_free(ev);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	mp_diags d = {0};
	fuzz_write_file(policy_path, data, size);
	mp_model *m = mp_compile_string("mesh.yaml", mesh_yaml, mesh_len, &d);
	if (!m)
		fuzz_die("the unit mesh does not compile");
	mp_bundle *b = mp_bundle_load(bundle_dir, m, stdlib_dir, &d);
	mp_diags_print(&d, devnull);
	if (!b && d.errors == 0) {
		fprintf(stderr, "the bundle was refused without an error\n");
		abort();
	}
	if (b) {
		mp_engine *e = mp_engine_new(m, b); /* owns m and b from here */
		if (!e)
			fuzz_die("out of memory");
		decide_all(e);
		mp_engine_release(e);
	} else {
		mp_model_free(m);
	}
	mp_diags_free(&d);
	return 0;
}
