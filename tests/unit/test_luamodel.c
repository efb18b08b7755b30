/* test_luamodel.c: engine/luamodel.c: the read-only `mesh` view inside the sandbox, over the
 * example mesh: lookups, fields, routes in and out, iteration, and writes that must raise. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "compile.h"
#include "luamodel.h"
#include "sandbox.h"

#include <string.h>

typedef struct {
	mp_model *m;
	mp_sandbox *sb;
} fixture;

/* Compiles src into f->m and gives it to a fresh sandbox as `mesh`; -1 when either fails. */
static int open_fixture(fixture *f, const char *src)
{
	mp_diags d = {0};
	char err[256];
	f->m = mp_compile(&src, 1, NULL, &d);
	mp_diags_print(&d, stderr);
	mp_diags_free(&d);
	f->sb = mp_sandbox_new(NULL, err, sizeof(err));
	if (!f->m || !f->sb)
		return -1;
	lua_State *L = mp_sandbox_lua(f->sb);
	mp_lmodel_push(L, f->m);
	lua_setglobal(L, "mesh");
	return 0;
}

static void close_fixture(fixture *f)
{
	mp_sandbox_free(f->sb);
	mp_model_free(f->m);
}

static int setup(void **state)
{
	static fixture f;
	*state = &f;
	return open_fixture(&f, "examples/acme");
}

static int teardown(void **state)
{
	close_fixture(*state);
	return 0;
}

/* Runs code that must return true. */
static void check(fixture *f, const char *code)
{
	char err[512];
	lua_State *L = mp_sandbox_lua(f->sb);
	int rc = mp_sandbox_run(f->sb, code, strlen(code), "=check", 1, err, sizeof(err));
	if (rc < 0)
		fail_msg("%s\n  -> %s", code, err);
	if (!lua_toboolean(L, -1))
		fail_msg("%s\n  -> false", code);
	lua_pop(L, 1);
}

/* Runs code that must fail with msg in its error. */
static void check_error(fixture *f, const char *code, const char *msg)
{
	char err[512] = "";
	int rc = mp_sandbox_run(f->sb, code, strlen(code), "=check", 0, err, sizeof(err));
	if (rc >= 0 || !strstr(err, msg))
		fail_msg("%s\n  -> rc %d, '%s' (want '%s')", code, rc, err, msg);
}

static void test_services(void **state)
{
	fixture *f = *state;
	check(f, "return #mesh.services == 26");
	check(f, "local p = mesh.services['billing/payments'] return p.name == 'payments' and "
	         "p.namespace == 'billing' and p.ref == 'billing/payments'");
	check(f, "return mesh.services['spiffe://acme.io/ns/billing/sa/payments'] == "
	         "mesh.services['billing/payments']");
	check(f, "return mesh:service('billing/payments'):has_data('pci')");
	check(f, "return mesh.services['no-such-service'] == nil");
	check(f, "return mesh.services.storefront == nil -- ambiguous: two namespaces");
	check(f,
	      "local p = mesh.services['billing/payments'] return p.mtls == 'STRICT' and "
	      "p.ports[1].port > 0 and type(p.labels) == 'table' and p.loc:match('^examples/acme/"
	      "services/billing.yaml:%d+$') ~= nil");
	check(f,
	      "local p = mesh.services['billing/payments'] return p.clusters[1].kind == 'Cluster' "
	      "and #p.regions >= 1 and p.jurisdictions[1] == 'EU'");
	check(f, "local n = 0 for i, s in pairs(mesh.services) do n = n + 1 assert(s.kind == "
	         "'Service') end return n == 26");
	check(f,
	      "return tostring(mesh.services['billing/payments']) == 'Service billing/payments'");
}

static void test_routes(void **state)
{
	fixture *f = *state;
	check(f, "local out = mesh:routes_from('shop/checkout') return #out >= 1 and "
	         "out[1].source == mesh.services['shop/checkout']");
	check(f, "local r = mesh.routes['auth-accounts'] return r.failover[2].cluster.name == "
	         "'us-prod-1' and r.failover[1].service.name == 'accounts'");
	check(
	    f,
	    "local into = mesh:routes_to('billing/payments') for _, r in ipairs(into) do "
	    "local hit = false for _, d in ipairs(r.destinations) do hit = hit or d.service == "
	    "mesh.services['billing/payments'] end for _, d in ipairs(r.failover) do hit = hit or "
	    "d.service == mesh.services['billing/payments'] end for _, d in ipairs(r.mirrors) do "
	    "hit = hit or d.service == mesh.services['billing/payments'] end if not hit then "
	    "return false end end return #into >= 1");
	check(f, "local r = mesh.routes['web-storefront-eu'] local sum = 0 for _, d in "
	         "ipairs(r.destinations) do sum = sum + d.weight end return sum == 90");
	check(f, "return mesh.routes['invoicing-ledger'].retries.per_try_timeout_ms == nil");
	check(f, "return mesh.externals['api.verifid.eu'].jurisdiction == 'EU'");
	check(f, "return mesh:jurisdiction_of('europe-west2').name == 'UK'");
	check(f, "return mesh.certificates['open-banking-qwac'].not_after < os.time()");
	check(f, "return #mesh.clusters == 5 and mesh.clusters[1].kind == 'Cluster'");
	check(f, "return #mesh.sha256 == 64");
}

static void test_graph(void **state)
{
	fixture *f = *state;
	/* the planted loop of examples/acme: products -> inventory -> search -> products */
	check(f, "local cs = mesh:cycles() return #cs == 1 and #cs[1].services == 3 and "
	         "#cs[1].routes == 3 and cs[1].routes[1].source == cs[1].services[1]");
	check(f,
	      "local seen = {} for _, s in ipairs(mesh:cycles()[1].services) do seen[s.ref] = true "
	      "end return seen['catalog/products'] and seen['catalog/inventory'] and "
	      "seen['catalog/search']");
	check(f, "local p = mesh:path('catalog/products', 'catalog/search') return #p == 2 and "
	         "p[1].name == 'products-inventory'");
	check(f, "return mesh:path('catalog/search', 'billing/payments') == nil");
	check(f, "local r = mesh:reachable('catalog/products') return #r == 3 and r[1].ref == "
	         "'catalog/products'");
}

static void test_read_only(void **state)
{
	fixture *f = *state;
	check_error(f, "mesh.services = {}", "read-only");
	check_error(f, "mesh.services['billing/payments'] = 1", "read-only");
	check_error(f, "mesh.services['billing/payments'].name = 'x'", "read-only");
	check_error(f, "mesh.routes[1].timeout_ms = 1", "read-only");
	check_error(f, "setmetatable(mesh, {})", "");
	check(f, "return getmetatable(mesh) == 'locked'");
	/* the tables a field returns are copies: changing one changes nothing in the model */
	check(f, "local s = mesh.services['billing/payments'] s.labels.team = 'evil' return "
	         "s.labels.team ~= 'evil'");
	check_error(f, "mesh:routes_from(42)", "expected a service");
	/* the sandbox still works afterwards */
	check(f, "return 1 + 1 == 2");
}

/* A service's regions and jurisdictions, each once, in the order of its clusters: past the
 * 16 values kept aside for the comparison too (tests/data/luamodel/regions.yaml). */
static void test_service_regions(void **state)
{
	(void)state;
	fixture f;
	assert_int_equal(open_fixture(&f, "tests/data/luamodel/regions.yaml"), 0);
	check(&f,
	      "local r = mesh.services['n/wide'].regions "
	      "if #r ~= 18 then return false end "
	      "for i = 1, 18 do if r[i] ~= string.format('r%02d', i - 1) then return false end end "
	      "return true");
	check(&f, "local j = mesh.services['n/wide'].jurisdictions "
	          "return #j == 2 and j[1] == 'EU' and j[2] == 'US'");
	close_fixture(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_services),  cmocka_unit_test(test_routes),
	    cmocka_unit_test(test_graph),

	    cmocka_unit_test(test_read_only), cmocka_unit_test(test_service_regions),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
