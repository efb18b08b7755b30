/* sandbox_bench.c: what the sandbox costs a `when` call, against stock Lua in the same run.
 *
 * Usage: sandbox_bench [CALLS]   (default 200,000 calls a case)
 *
 * Each case is one Lua function of the shape policy authors write in a `when` (a request table
 * in, a boolean out). It runs CALLS times in two states of this process, one after the other,
 * three rounds each, the best round kept:
 *   lua      luaL_newstate + luaL_openlibs, lua_pcall per call: the floor;
 *   hooked   the same with a count hook every 1,000 instructions that does nothing: Lua 5.4
 *            checks a set hook at every instruction, the bulk of the sandbox's price for code
 *            that calls no C function;
 *   sandbox  mp_sandbox_new (allow-listed libraries wrapped by their costs, capped allocator,
 *            count hook, deadline clock), mp_sandbox_pcall per call, the default `when` budget.
 * It prints one line a case, `case=NAME lua_ns=X hooked_ns=H sandbox_ns=Y ratio=Y/X
 * over_hooked=Y/H`, and checks that the states returned the same value on every call. ratio is
 * the sandbox's price per call; over_hooked leaves out the hook's share, so it is the price of
 * the charges costed C functions pay before they run (engine/luacost.c), the allocator's
 * accounting and the deadline clock. Exit 0, or 1 when a case failed.
 */
#define _GNU_SOURCE /* sched_setaffinity */
#include "engine.h"
#include "sandbox.h"

#include <lauxlib.h>
#include <lualib.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The request every case reads, as a `when` sees it. */
static const char request_code[] =
    "return {source = {principal = 'spiffe://acme.io/ns/shop/sa/checkout', namespace = 'shop',"
    " service = 'checkout'}, destination = {service = 'payments', namespace = 'billing', port ="
    " 8080}, request = {method = 'POST', path = '/v1/charge/eu-1234', headers = {['x-tenant'] ="
    " 'uk', authorization = 'Bearer abc.def.ghi'}}}";

static const struct bench_case {
	const char *name;
	const char *code; /* returns the function */
} cases[] = {
    {"fields", /* table reads and comparisons only: the VM, no C function */
     "return function(req) return req.source.namespace == 'shop' and req.request.method == "
     "'POST' and req.destination.port == 8080 end"},
    {"patterns", /* the library calls most `when`s make */
     "return function(req) local p = req.request.path return p:find('^/v1/charge/') ~= nil and "
     "p:match('/(%a+)%-%d+$') == 'eu' and req.request.headers['x-tenant']:lower() == 'uk' end"},
    {"strings", /* building strings: format, concat, sub, rep */
     "return function(req) local s = string.format('%s/%s:%d', req.destination.namespace, "
     "req.destination.service, req.destination.port) local t = {} for i = 1, 8 do t[i] = "
     "s:sub(1, i) end return #table.concat(t, ',') > 0 and #string.rep('ab', 16) == 32 end"},
    {"loop", /* a longer VM loop: the count hook's share */
     "return function(req) local n = 0 for i = 1, 2000 do n = n + (i % 7) end return n > 0 "
     "and req ~= nil end"},
};

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Pushes the case's function and the request table on L (plain Lua: run unprotected code of
 * our own). Returns 0, or -1 with the error printed. */
static int push_plain(lua_State *L, const char *code)
{
	if (luaL_dostring(L, code) || luaL_dostring(L, request_code)) {
		fprintf(stderr, "sandbox_bench: lua: %s\n", lua_tostring(L, -1));
		return -1;
	}
	return 0;
}

static int push_sandboxed(mp_sandbox *sb, const char *code)
{
	char err[512];
	if (mp_sandbox_run(sb, code, strlen(code), "case", 1, err, sizeof(err)) < 0 ||
	    mp_sandbox_run(sb, request_code, sizeof(request_code) - 1, "request", 1, err,
	                   sizeof(err)) < 0) {
		fprintf(stderr, "sandbox_bench: sandbox: %s\n", err);
		return -1;
	}
	return 0;
}

/* Calls the function at fn with the table at fn + 1, calls times; ns a call, or -1. *trues
 * counts the calls that returned true. */
static double time_plain(lua_State *L, int fn, long calls, long *trues)
{
	uint64_t t0 = now_ns();
	for (long i = 0; i < calls; i++) {
		lua_pushvalue(L, fn);
		lua_pushvalue(L, fn + 1);
		if (lua_pcall(L, 1, 1, 0) != LUA_OK)
			return -1;
		*trues += lua_toboolean(L, -1);
		lua_pop(L, 1);
	}
	return (double)(now_ns() - t0) / (double)calls;
}

static double time_sandboxed(mp_sandbox *sb, int fn, long calls, long *trues)
{
	lua_State *L = mp_sandbox_lua(sb);
	char err[512];
	uint64_t t0 = now_ns();
	for (long i = 0; i < calls; i++) {
		lua_pushvalue(L, fn);
		lua_pushvalue(L, fn + 1);
		if (mp_sandbox_pcall(sb, 1, 1, err, sizeof(err)) < 0) {
			fprintf(stderr, "sandbox_bench: %s\n", err);
			return -1;
		}
		*trues += lua_toboolean(L, -1);
		lua_pop(L, 1);
	}
	return (double)(now_ns() - t0) / (double)calls;
}

static void noop_hook(lua_State *L, lua_Debug *ar)
{
	(void)L;
	(void)ar;
}

static int run_case(const struct bench_case *c, long calls)
{
	lua_State *L = luaL_newstate(), *H = luaL_newstate();
	mp_sandbox_opts o = {.instr_budget = MP_WHEN_BUDGET};
	char err[512];
	mp_sandbox *sb = mp_sandbox_new(&o, err, sizeof(err));
	double best_plain = 0, best_hooked = 0, best_sb = 0;
	long plain_trues = 0, hooked_trues = 0, sb_trues = 0;
	int rc = -1;
	if (!L || !H || !sb) {
		fprintf(stderr, "sandbox_bench: cannot make the states: %s\n", sb ? "" : err);
		goto out;
	}
	luaL_openlibs(L);
	luaL_openlibs(H);
	lua_sethook(H, noop_hook, LUA_MASKCOUNT, 1000);
	if (push_plain(L, c->code) < 0 || push_plain(H, c->code) < 0 ||
	    push_sandboxed(sb, c->code) < 0)
		goto out;
	for (int round = 0; round < 3; round++) {
		double p = time_plain(L, 1, calls, &plain_trues);
		double h = time_plain(H, 1, calls, &hooked_trues);
		double s = time_sandboxed(sb, 1, calls, &sb_trues);
		if (p < 0 || h < 0 || s < 0)
			goto out;
		if (!round || p < best_plain)
			best_plain = p;
		if (!round || h < best_hooked)
			best_hooked = h;
		if (!round || s < best_sb)
			best_sb = s;
	}
	if (plain_trues != sb_trues || hooked_trues != sb_trues || plain_trues != 3 * calls) {
		fprintf(stderr, "sandbox_bench: %s: results differ (lua %ld, sandbox %ld true)\n",
		        c->name, plain_trues, sb_trues);
		goto out;
	}
	printf("case=%s lua_ns=%.0f hooked_ns=%.0f sandbox_ns=%.0f ratio=%.2f over_hooked=%.2f\n",
	       c->name, best_plain, best_hooked, best_sb, best_sb / best_plain,
	       best_sb / best_hooked);
	rc = 0;
out:
	if (L)
		lua_close(L);
	if (H)
		lua_close(H);
	mp_sandbox_free(sb);
	return rc;
}

int main(int argc, char **argv)
{
	long calls = argc > 1 ? strtol(argv[1], NULL, 10) : 200000;
	cpu_set_t one;
	int rc = 0;
	if (calls < 1) {
		fprintf(stderr, "usage: sandbox_bench [CALLS]\n");
		return 1;
	}
	CPU_ZERO(&one);
	CPU_SET(0, &one);
	(void)sched_setaffinity(0, sizeof(one), &one); /* best effort: fewer migrations */
	printf("# %ld calls a case, best of 3 rounds; lua: stock Lua 5.4, sandbox: mp_sandbox "
	       "with the `when` budget\n",
	       calls);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		rc |= run_case(&cases[i], calls) < 0;
	return rc;
}
