/* fuzz_mpm.c: libFuzzer harness: any bytes as a compiled model (.mpm) through mp_model_load_mem,
 * twice: as they are, and with the header repaired (magic, version and byte order of this build,
 * the content length and the content's SHA-256 recomputed), so that mutations get past the hash
 * check into the validation of every id and span (docs/mpm-format.md, "What loading checks").
 * Every model that loads is then read the way its consumers read it: lookups, the graph, the Lua
 * view that policies see (luamodel.c), every field of every element, and a snapshot (which
 * compiles the imported AuthorizationPolicies) deciding a request to each service. docs/testing.md.
 */
#include "compile.h"
#include "decide.h"
#include "engine.h"
#include "fuzzutil.h"
#include "graph.h"
#include "luamodel.h"
#include "sandbox.h"

#include <lua.h>
#include <openssl/evp.h>

#define MPM_HEADER 56 /* docs/mpm-format.md: magic, version, byte order, length, SHA-256 */

static unsigned char good_header[16]; /* magic, version and byte order as this build writes */

/* Reads every field of every element through the `mesh` object, and every mesh method. */
static const char walker[] =
    "local fields = {\n"
    "  clusters = {'loc','name','provider','region','zone','network','jurisdiction'},\n"
    "  jurisdictions = {'loc','name','regions'},\n"
    "  namespaces = {'loc','name','labels','data'},\n"
    "  services = {'loc','name','namespace','ref','identity','owner','mtls','labels','ports',\n"
    "              'data','regions','jurisdictions','clusters'},\n"
    "  routes = {'loc','name','source','destinations','mirrors','failover','timeout_ms',\n"
    "            'retries','match'},\n"
    "  externals = {'loc','name','host','region','jurisdiction','ports'},\n"
    "  certificates = {'loc','name','subject','identity','pem','not_after'},\n"
    "}\n"
    "local order = {'clusters','jurisdictions','namespaces','services','routes','externals',\n"
    "               'certificates'}\n"
    "local seen = 0\n"
    "local function touch(v, depth)\n"
    "  if type(v) == 'table' and depth < 4 then\n"
    "    for _, x in pairs(v) do touch(x, depth + 1) end\n"
    "  elseif type(v) == 'userdata' then\n"
    "    seen = seen + #tostring(v)\n"
    "  end\n"
    "end\n"
    "for _, coll in ipairs(order) do\n"
    "  local c = mesh[coll]\n"
    "  for i, e in pairs(c) do\n"
    "    touch(e.kind, 0); touch(e.id, 0)\n"
    "    for _, f in ipairs(fields[coll]) do touch(e[f], 0) end\n"
    "    touch(e, 0)\n"
    "    local _ = c[e.name], c[i]\n"
    "  end\n"
    "  local _ = c[0], c[#c + 1], c['']\n"
    "end\n"
    "for _, x in pairs(mesh.externals) do local _ = mesh.externals[x.host] end\n"
    "for _, s in pairs(mesh.services) do\n"
    "  touch(mesh:routes_from(s), 0); touch(mesh:routes_to(s), 0)\n"
    "  touch(mesh:reachable(s), 0); s:has_data('pii')\n"
    "  touch(mesh:service(s.ref), 0)\n"
    "  if s.identity then touch(mesh:service(s.identity), 0) end\n"
    "  for _, r in ipairs(s.regions) do touch(mesh:jurisdiction_of(r), 0) end\n"
    "end\n"
    "local n = #mesh.services\n"
    "if n > 0 then touch(mesh:path(mesh.services[1], mesh.services[n]), 0) end\n"
    "touch(mesh:cycles(), 0)\n"
    "touch(mesh:workloads(), 0); touch(mesh:resources(), 0); touch(mesh:import_findings(), 0)\n"
    "for _, s in pairs(mesh.services) do touch(mesh:workloads(s), 0) end\n"
    "return tostring(mesh), mesh.sha256, seen\n";

static int count_cycle(void *ctx, const mp_id *svcs, const mp_edge *edges, uint32_t n)
{
	(void)svcs;
	(void)edges;
	*(uint32_t *)ctx += n;
	return 0;
}

/* What engine code does with a model, through the public API. */
static void read_model(const mp_model *m)
{
	mp_model_view v = mp_model_get_view(m);
	char buf[256];
	const mp_id *ids;
	const mp_edge *edges;
	for (uint32_t i = 0; i < v.nclusters; i++) {
		mp_model_loc_str(m, v.clusters[i].loc, buf, sizeof(buf));
		mp_model_find_cluster(m, mp_model_str(m, v.clusters[i].name));
		mp_model_services_in_cluster(m, i, &ids);
		mp_model_jurisdiction_of_region(m, v.clusters[i].region);
	}
	for (uint32_t i = 0; i < v.njurisdictions; i++)
		mp_model_find_jurisdiction(m, mp_model_str(m, v.jurisdictions[i].name));
	for (uint32_t i = 0; i < v.nnamespaces; i++) {
		mp_model_find_namespace(m, mp_model_str(m, v.namespaces[i].name));
		mp_model_services_in_namespace(m, i, &ids);
	}
	for (uint32_t i = 0; i < v.nservices; i++) {
		const mp_service *s = &v.services[i];
		const char *name = mp_model_str(m, s->name);
		mp_model_loc_str(m, s->loc, buf, sizeof(buf));
		mp_model_find_service(m, name);
		mp_model_find_service_ns(m, mp_model_str(m, v.namespaces[s->ns].name), name);
		mp_model_find_service_by_identity(m, mp_model_str(m, s->identity));
		mp_model_services_named(m, name, &ids);
		mp_model_edges_from(m, i, &edges);
		mp_model_edges_to(m, i, &edges);
		mp_model_workloads_of_service(m, i, &ids);
	}
	for (uint32_t i = 0; i < v.nexternals; i++) {
		mp_model_find_external(m, mp_model_str(m, v.externals[i].name));
		mp_model_find_external(m, mp_model_str(m, v.externals[i].host));
	}
	mp_model_edges_any(m, &edges);
	for (uint32_t i = 0; i < mp_model_nstrings(m); i++)
		mp_model_find_str(m, mp_model_str(m, i), mp_model_str_len(m, i));

	uint32_t total = 0;
	mp_graph_cycles(m, count_cycle, &total);
	if (v.nservices) {
		unsigned char *seen = calloc(v.nservices, 1);
		mp_edge *path = malloc(v.nservices * sizeof(*path));
		if (!seen || !path)
			fuzz_die("out of memory");
		mp_graph_reachable(m, 0, seen);
		mp_graph_path(m, 0, v.nservices - 1, path, v.nservices);
		free(seen);
		free(path);
	}

	char err[256];
	mp_sandbox_opts o = {.mem_limit = 32u << 20, .instr_budget = 20000000};
	mp_sandbox *sb = mp_sandbox_new(&o, err, sizeof(err));
	if (!sb)
		fuzz_die(err);
	lua_State *L = mp_sandbox_lua(sb);
	mp_lmodel_push(L, m);
	lua_setglobal(L, "mesh");
	/* A Lua error here (the budget, the memory cap) is not a finding; a crash is. */
	mp_sandbox_run(sb, walker, sizeof(walker) - 1, "=walker", 0, err, sizeof(err));
	mp_sandbox_free(sb);
}

/* A snapshot of the model without a bundle: the default deny, and the imported authorization
 * policies, which mp_engine_new compiles from the stored specs. Takes m. */
static void decide_on(mp_model *m)
{
	mp_model_view v = mp_model_get_view(m);
	uint32_t nsvc = v.nservices < 8 ? v.nservices : 8;
	mp_engine *e = mp_engine_new(m, NULL);
	if (!e)
		return; /* a stored policy that does not compile: refused, with a message */
	mp_diags d = {0};
	mp_evaluator *ev = mp_evaluator_new(e, NULL, &d);
	mp_diags_free(&d);
	for (uint32_t i = 0; ev && i < nsvc; i++) {
		char dst[512];
		const mp_service *s = &v.services[i], *from = &v.services[(i + 1) % v.nservices];
		snprintf(dst, sizeof(dst), "%s/%s", mp_model_str(m, v.namespaces[s->ns].name),
		         mp_model_str(m, s->name));
		mp_request r = {.principal =
		                    from->identity ? mp_model_str(m, from->identity) : NULL,
		                .src_service = mp_model_str(m, from->name),
		                .dst_service = dst,
		                .port = v.ports && s->ports.n ? v.ports[s->ports.off].port : 0,
		                .method = "GET",
		                .path = "/"};
		mp_decision dec;
		mp_decide(ev, &r, &dec, NULL);
	}
	mp_evaluator_free(ev);
	mp_engine_release(e);
}

static void load(const uint8_t *data, size_t size)
{
	char err[512] = "";
	mp_model *m = mp_model_load_mem(data, size, err, sizeof(err));
	if (!m && !err[0]) {
		fprintf(stderr, "load failed without a message\n");
		abort();
	}
	if (m) {
		read_model(m);
		decide_on(m);
	}
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	char path[1024], out[1024], err[512];
	mp_diags d = {0};
	const char *src = fuzz_path(path, sizeof(path), "tests/data/bundles/unit/mesh.yaml");
	mp_model *m = mp_compile(&src, 1, NULL, &d);
	if (!m)
		fuzz_die("tests/data/bundles/unit/mesh.yaml does not compile");
	if (mp_model_save(m, fuzz_tmp_path(out, sizeof(out), "unit.mpm"), err, sizeof(err)) < 0)
		fuzz_die(err);
	size_t len;
	char *bytes = fuzz_read_file(out, &len);
	if (!bytes || len < MPM_HEADER)
		fuzz_die("cannot read the saved model");
	memcpy(good_header, bytes, sizeof(good_header));
	free(bytes);
	mp_model_free(m);
	mp_diags_free(&d);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	load(data, size);
	if (size < MPM_HEADER)
		return 0;
	/* The same content behind a header that loading accepts. */
	uint8_t *fixed = malloc(size);
	if (!fixed)
		return 0;
	memcpy(fixed, data, size);
	memcpy(fixed, good_header, sizeof(good_header));
	uint64_t content = size - MPM_HEADER;
	memcpy(fixed + 16, &content, 8);
	if (EVP_Digest(fixed + MPM_HEADER, content, fixed + 24, NULL, EVP_sha256(), NULL) != 1)
		fuzz_die("SHA-256");
	load(fixed, size);
	free(fixed);
	return 0;
}
