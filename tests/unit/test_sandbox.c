/* test_sandbox.c: unit tests for engine/sandbox.c. Every escape, bomb and runaway loop must fail
 * with a clear error, the process must stay up, and the same sandbox must then run `return 1+1`. */
#ifndef _DEFAULT_SOURCE
#define _DEFAULT_SOURCE /* mkdtemp, setitimer, sigaction: the Makefile sets it too */
#endif
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "alloc.h"
#include "sandbox.h"

#include <lauxlib.h>
#include <lualib.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define CHUNK "policies/t.lua"

/* Budgets: SMALL stops a runaway loop fast; BIG lets a memory bomb reach the memory cap first. */
#define SMALL_BUDGET ((uint64_t)2000000)
#define BIG_BUDGET   ((uint64_t)2000000000)
#define SMALL_MEM    ((size_t)16 << 20)

static mp_sandbox *new_sandbox(size_t mem_limit, uint64_t budget, const char *stdlib_dir)
{
	mp_sandbox_opts o = {
	    .mem_limit = mem_limit, .instr_budget = budget, .stdlib_dir = stdlib_dir};
	char err[256] = "";
	mp_sandbox *sb = mp_sandbox_new(&o, err, sizeof err);

	if (!sb)
		fail_msg("mp_sandbox_new: %s", err);
	return sb;
}

static int run(mp_sandbox *sb, const char *code, int nresults, char *err, size_t errlen)
{
	return mp_sandbox_run(sb, code, strlen(code), CHUNK, nresults, err, errlen);
}

/* The sandbox survived: the stack is clean and the next evaluation works normally. */
static void assert_still_works(mp_sandbox *sb)
{
	lua_State *L = mp_sandbox_lua(sb);
	char err[256] = "";

	assert_int_equal(lua_gettop(L), 0);
	if (run(sb, "return 1+1", 1, err, sizeof err) != MP_SANDBOX_OK)
		fail_msg("follow-up `return 1+1` failed: %s", err);
	assert_int_equal(lua_tointeger(L, -1), 2);
	lua_pop(L, 1);
}

/* Runs code that must fail with `want`, each needle found in the message. */
static void expect_failure(mp_sandbox *sb, const char *code, int want, const char *const *needles)
{
	char err[512] = "";
	int rc = run(sb, code, 0, err, sizeof err);

	if (rc != want)
		fail_msg("%s\n  returned %s, want %s; message: %s", code,
		         mp_sandbox_status_name(rc), mp_sandbox_status_name(want), err);
	for (; *needles; needles++)
		if (!strstr(err, *needles))
			fail_msg("%s\n  message \"%s\" lacks \"%s\"", code, err, *needles);
	assert_still_works(sb);
}

/* Runs code that must succeed and return true. */
static void expect_true(mp_sandbox *sb, const char *code)
{
	lua_State *L = mp_sandbox_lua(sb);
	char err[512] = "";

	if (run(sb, code, 1, err, sizeof err) != MP_SANDBOX_OK)
		fail_msg("%s\n  failed: %s", code, err);
	if (!lua_toboolean(L, -1))
		fail_msg("%s\n  returned %s", code, luaL_typename(L, -1));
	lua_pop(L, 1);
	assert_int_equal(lua_gettop(L), 0);
}

/* --- data-driven: what a policy tries, what it gets --- */

struct refusal {
	const char *name;
	const char *code;
	int want;
	const char *needles[6]; /* NULL-terminated */
	size_t mem_limit;       /* 0: default */
	uint64_t budget;        /* 0: SMALL_BUDGET */
};

/* REFUSE runs with the default memory limit and SMALL_BUDGET; BOMB with SMALL_MEM, BIG_BUDGET;
 * COSTLY (C work the budget must pay for: it times out) with the default memory and a budget. */
/* clang-format off */
#define REFUSE(name, code, want, ...) {name, code, want, {__VA_ARGS__, NULL}, 0, 0}
#define BOMB(name, code, want, ...)   {name, code, want, {__VA_ARGS__, NULL}, SMALL_MEM, BIG_BUDGET}
#define COSTLY(name, code, budget, ...) \
	{name, code, MP_SANDBOX_TIMEOUT, {"instruction budget exceeded", __VA_ARGS__, NULL}, 0, budget}
/* clang-format on */
#define ONE_MILLION ((uint64_t)1000000)

static const struct refusal refusals[] = {
    /* escapes */
    REFUSE("os_execute", "os.execute('echo pwned')", MP_SANDBOX_ERROR,
           CHUNK ":1:", "attempt to call a nil value (field 'execute')"),
    REFUSE("os_getenv", "return os.getenv('HOME')", MP_SANDBOX_ERROR, CHUNK ":1:", "'getenv'"),
    REFUSE("os_exit", "os.exit(1)", MP_SANDBOX_ERROR, CHUNK ":1:", "'exit'"),
    REFUSE("io_open", "local f = io.open('/etc/passwd')", MP_SANDBOX_ERROR,
           CHUNK ":1:", "attempt to index a nil value (global 'io')"),
    REFUSE("io_via_require", "local io = require('io')", MP_SANDBOX_ERROR,
           CHUNK ":1:", "module 'io' not found in stdlib"),
    REFUSE("os_via_require", "local os = require('os')", MP_SANDBOX_ERROR,
           "module 'os' not found in stdlib"),
    REFUSE("require_path", "require('../../etc/passwd')", MP_SANDBOX_ERROR,
           CHUNK ":1:", "module '../../etc/passwd' not found in stdlib"),
    REFUSE("require_absolute", "require('/etc/passwd')", MP_SANDBOX_ERROR,
           "module '/etc/passwd' not found in stdlib"),
    REFUSE("require_debug", "require('debug')", MP_SANDBOX_ERROR, "module 'debug' not found"),
    REFUSE("require_not_string", "require({})", MP_SANDBOX_ERROR, "bad argument #1 to 'require'"),
    REFUSE("package_loadlib", "package.loadlib('libc.so.6', 'system')", MP_SANDBOX_ERROR,
           "global 'package'"),
    REFUSE("debug_library", "debug.sethook()", MP_SANDBOX_ERROR, "global 'debug'"),
    REFUSE("string_dump", "return string.dump(function() end)", MP_SANDBOX_ERROR,
           CHUNK ":1:", "attempt to call a nil value (field 'dump')"),
    REFUSE("string_dump_method", "return ('x').dump(print)", MP_SANDBOX_ERROR, "'dump'"),
    REFUSE("dofile", "dofile('/etc/passwd')", MP_SANDBOX_ERROR, CHUNK ":1:", "global 'dofile'"),
    REFUSE("loadfile", "loadfile('/etc/passwd')", MP_SANDBOX_ERROR,
           CHUNK ":1:", "global 'loadfile'"),
    REFUSE("collectgarbage_collect", "collectgarbage()", MP_SANDBOX_ERROR,
           CHUNK ":1:", "option 'collect' is not allowed"),
    REFUSE("collectgarbage_stop", "collectgarbage('stop')", MP_SANDBOX_ERROR,
           "option 'stop' is not allowed"),
    REFUSE("gc_finalizer", "setmetatable({}, {__gc = function() while true do end end})",
           MP_SANDBOX_ERROR, CHUNK ":1:", "__gc metamethods are not allowed"),
    /* tampering with what other policies share */
    REFUSE("assign_library_field", "string.rep = function() return 'evil' end", MP_SANDBOX_ERROR,
           CHUNK ":1:", "attempt to modify read-only table 'string' (key 'rep')"),
    REFUSE("remove_library_field", "\n\nos.time = nil", MP_SANDBOX_ERROR,
           CHUNK ":3:", "read-only table 'os'"),
    REFUSE("rawset_library_field", "rawset(math, 'floor', print)", MP_SANDBOX_ERROR,
           CHUNK ":1:", "read-only table 'math'"),
    REFUSE("table_insert_library", "table.insert(utf8, 1)", MP_SANDBOX_ERROR,
           "read-only table 'utf8'"),
    REFUSE("replace_library_metatable", "setmetatable(table, {})", MP_SANDBOX_ERROR,
           "cannot change a protected metatable"),
    REFUSE("string_metatable", "getmetatable('').__index.rep = nil", MP_SANDBOX_ERROR,
           CHUNK ":1:", "attempt to index a nil value"),
    /* memory bombs */
    REFUSE("string_rep_bomb", "local s = string.rep('x', 1 << 30)", MP_SANDBOX_NOMEM,
           CHUNK ": not enough memory (limit 67108864 bytes)"),
    REFUSE("string_rep_bomb_in_pcall", "assert(pcall(string.rep, 'x', 1 << 30))", MP_SANDBOX_ERROR,
           CHUNK ":1:", "not enough memory"),
    BOMB("table_growth_bomb", "local t, i = {}, 0\nwhile true do i = i + 1; t[i] = i end",
         MP_SANDBOX_NOMEM, "not enough memory", "16777216 bytes"),
    BOMB("string_doubling_bomb", "local s = 'x'\nwhile true do s = s .. s end", MP_SANDBOX_NOMEM,
         "not enough memory"),
    BOMB("table_of_strings_bomb",
         "local t = {}\nfor i = 1, math.maxinteger do t[#t + 1] = ('x'):rep(100) .. i end",
         MP_SANDBOX_NOMEM, "not enough memory"),
    /* runaway loops */
    REFUSE("infinite_loop", "while true do end", MP_SANDBOX_TIMEOUT,
           CHUNK ":1:", "instruction budget exceeded", "2000000 instructions"),
    REFUSE("infinite_recursion_tail", "local function f() return f() end\nreturn f()",
           MP_SANDBOX_TIMEOUT, CHUNK ":1:", "instruction budget exceeded"),
    REFUSE("loop_inside_pcall", "pcall(function() while true do end end)", MP_SANDBOX_TIMEOUT,
           CHUNK ":1:", "instruction budget exceeded"),
    REFUSE("pcall_swallowing_loop", "while true do pcall(function() while true do end end) end",
           MP_SANDBOX_TIMEOUT, "instruction budget exceeded"),
    REFUSE("pcall_swallowing_loop_checked",
           "local n = 0\nwhile true do\n  local ok = pcall(function() while true do end end)\n"
           "  if not ok then n = n + 1 end\nend",
           MP_SANDBOX_TIMEOUT, CHUNK ":", "instruction budget exceeded"),
    REFUSE("xpcall_looping_handler",
           "while true do xpcall(function() while true do end end, function() while true do end "
           "end) end",
           MP_SANDBOX_TIMEOUT, "instruction budget exceeded"),
    REFUSE("loop_in_loaded_chunk", "while true do pcall(load('while true do end')) end",
           MP_SANDBOX_TIMEOUT, "instruction budget exceeded"),
    REFUSE("loop_in_tostring",
           "return tostring(setmetatable({}, {__tostring = function() while true do end end}))",
           MP_SANDBOX_TIMEOUT, "instruction budget exceeded"),
    REFUSE("loop_in_close",
           "do local x <close> = setmetatable({}, {__close = function() while true do end end})\n"
           "error('first') end",
           MP_SANDBOX_TIMEOUT, CHUNK ":1:", "instruction budget exceeded"),
    /* policy errors, including inside callbacks run by C library functions */
    REFUSE("error_in_sort_callback",
           "local t = {3, 1, 2}\ntable.sort(t, function(a, b)\n  error('bad compare')\nend)",
           MP_SANDBOX_ERROR, CHUNK ":3: bad compare"),
    REFUSE("error_in_gsub_callback",
           "return (string.gsub('abc', '%w', function(c)\n  return c.x.y\nend))", MP_SANDBOX_ERROR,
           CHUNK ":2:", "attempt to index a nil value (field 'x')"),
    REFUSE("syntax_error", "local x = = 1", MP_SANDBOX_ERROR, CHUNK ":1:", "near '='"),
    REFUSE("error_table_object", "error({code = 7})", MP_SANDBOX_ERROR,
           "(error object is a table value)"),
    REFUSE("error_number_object", "error(42)", MP_SANDBOX_ERROR, "42"),
    REFUSE("binary_via_load_mode_b", "assert(load('\\27Lua', 'x', 'b'))", MP_SANDBOX_ERROR,
           CHUNK ":1:", "attempt to load a binary chunk (mode is 't')"),
    /* pattern matching, which runs in C: each of these would run for 40 s or (much) more */
    REFUSE("pattern_find", "return string.find(string.rep('a', 600), '.-.-.-b')", MP_SANDBOX_ERROR,
           CHUNK ":1: string.find: pattern too complex for a subject of 600 bytes", "limit 1e+08"),
    REFUSE("pattern_find_method", "local s = ('a'):rep(600)\nreturn s:find('.-.-.-b')",
           MP_SANDBOX_ERROR, CHUNK ":2: string.find: pattern too complex"),
    REFUSE("pattern_find_init", "return ('a'):rep(1000):find('.-.-.-b', 401)", MP_SANDBOX_ERROR,
           "string.find: pattern too complex for a subject of 600 bytes"),
    REFUSE("pattern_match", "return ('a'):rep(600):match('(.-)(.-)(.-)b')", MP_SANDBOX_ERROR,
           "string.match: pattern too complex for a subject of 600 bytes"),
    REFUSE("pattern_match_anchored", "return ('a'):rep(5000):match('^.-.-.-b')", MP_SANDBOX_ERROR,
           "string.match: pattern too complex for a subject of 5000 bytes"),
    REFUSE("pattern_gmatch", "for x in ('a'):rep(600):gmatch('.-.-.-b') do end", MP_SANDBOX_ERROR,
           CHUNK ":1: string.gmatch: pattern too complex for a subject of 600 bytes"),
    REFUSE("pattern_gsub", "return (('a'):rep(600):gsub('.-.-.-b', ''))", MP_SANDBOX_ERROR,
           CHUNK ":1: string.gsub: pattern too complex for a subject of 600 bytes"),
    REFUSE("pattern_gsub_function",
           "local s = ('a'):rep(600)\nreturn s:gsub('(.-)(.-)(.-)b', function() end)",
           MP_SANDBOX_ERROR, CHUNK ":2: string.gsub: pattern too complex"),
    REFUSE("pattern_classes", "return ('ab'):rep(2000):find('[ab]*[ab]*c')", MP_SANDBOX_ERROR,
           "string.find: pattern too complex for a subject of 4000 bytes"),
    REFUSE("pattern_optionals", "return ('a'):rep(40):find(('a?'):rep(40) .. ('a'):rep(40) .. 'b')",
           MP_SANDBOX_ERROR, "string.find: pattern too complex for a subject of 40 bytes"),
    REFUSE("pattern_balance", "return ('('):rep(1 << 20):find('%b()')", MP_SANDBOX_ERROR,
           "string.find: pattern too complex for a subject of 1048576 bytes"),
    REFUSE("pattern_quadratic_megabyte", "return (('1'):rep(1 << 20) .. 'x'):match('%d+$')",
           MP_SANDBOX_ERROR, "string.match: pattern too complex for a subject of 1048577 bytes"),
    REFUSE("pattern_trim_past_limit",
           "return ('a' .. (' '):rep(20000) .. 'b'):match('^%s*(.-)%s*$')", MP_SANDBOX_ERROR,
           "string.match: pattern too complex for a subject of 20002 bytes"),
    REFUSE("pattern_in_pcall", "assert(pcall(string.find, ('a'):rep(600), '.-.-.-b'))",
           MP_SANDBOX_ERROR, CHUNK ":1: string.find: pattern too complex"),
    /* C work, charged before it runs: each of these ran for days, or 100 to 1000 times past the
     * budget, or (the loops of 100 or 1000 calls) finished well within it */
    COSTLY("rep_empty_1e15", "local s = string.rep('', 1e15)", SMALL_BUDGET,
           CHUNK ":1:", "string.rep would cost 5e+14 units", "2000000 instructions"),
    COSTLY("rep_sep_1e15", "local s = (''):rep(1e15, '')", SMALL_BUDGET, "string.rep"),
    /* under a cap it fits, the budget refuses it before a byte is taken (under a cap it does
     * not fit, it stays a memory error: string_rep_bomb) */
    {"rep_1e9_under_a_big_cap",
     "local s = string.rep('x', 1e9)",
     MP_SANDBOX_TIMEOUT,
     {"instruction budget exceeded", "string.rep would cost", NULL},
     (size_t)2 << 30,
     ONE_MILLION},
    COSTLY("table_move_1e15", "table.move({}, 1, 1e15, 2, {})", SMALL_BUDGET,
           CHUNK ":1:", "table.move would cost 4e+15 units"),
    COSTLY("table_move_maxinteger", "table.move({}, 1, math.maxinteger, 1, {})", SMALL_BUDGET,
           "table.move would cost"),
    COSTLY("table_insert_lying_len",
           "local t = setmetatable({}, {__len = function() return 1e15 end})\n"
           "table.insert(t, 1, 'x')",
           SMALL_BUDGET, CHUNK ":2:", "table.insert would cost"),
    COSTLY("upper_loop", "local s = ('x'):rep(100000)\nfor i = 1, 1000 do local u = s:upper() end",
           ONE_MILLION, CHUNK ":2:"),
    COSTLY("load_loop", "local src = ('x = 1\\n'):rep(100000)\nfor i = 1, 100 do load(src) end",
           ONE_MILLION, CHUNK ":2:", "load would cost 6e+05 units"),
    COSTLY("load_reader_loop",
           "local piece = ('x = 1\\n'):rep(10000)\n"
           "for i = 1, 1000 do\n  local n = 0\n"
           "  load(function() n = n + 1 if n <= 10 then return piece end end)\nend",
           ONE_MILLION, "load would cost"),
    COSTLY("table_concat_loop",
           "local t = {}\nfor i = 1, 100000 do t[i] = '' end\n"
           "for i = 1, 100 do table.concat(t) end",
           SMALL_BUDGET, CHUNK ":3:", "table.concat would cost"),
    COSTLY("table_sort", "local t = {}\nfor i = 1, 100000 do t[i] = -i end\ntable.sort(t)",
           SMALL_BUDGET, CHUNK ":3:", "table.sort would cost"),
    COSTLY("format_loop",
           "local t = {}\nfor i = 1, 100 do t[i] = i end\nlocal f = ('%99d'):rep(100)\n"
           "for i = 1, 10000 do local s = f:format(table.unpack(t)) end",
           SMALL_BUDGET, CHUNK ":4:"),
    COSTLY("string_arithmetic_loop",
           "local s = ('1'):rep(1000000)\nfor i = 1, 100 do local x = s + 0 end", SMALL_BUDGET,
           "string.mt.__add would cost"),
    COSTLY("tonumber_loop", "local s = ('1'):rep(1000000)\nfor i = 1, 100 do tonumber(s) end",
           SMALL_BUDGET, "tonumber would cost"),
    COSTLY("utf8_len_loop", "local s = ('\xc3\xa4'):rep(500000)\nfor i = 1, 100 do utf8.len(s) end",
           SMALL_BUDGET, "utf8.len would cost"),
    COSTLY("byte_unpack_loop",
           "local s = ('x'):rep(100000)\nfor i = 1, 100 do select('#', s:byte(1, -1)) end",
           SMALL_BUDGET, "string.byte would cost"),
    COSTLY("concat_operator_loop",
           "local s = ('x'):rep(1 << 20)\nfor i = 1, 1000 do local t = s .. 'y' end", ONE_MILLION,
           CHUNK ":2:", "memory"),
    /* and no pcall swallows a charge that the budget cannot pay */
    COSTLY("pcall_rep", "local ok = pcall(string.rep, '', 1e15)\nreturn 'swallowed'", SMALL_BUDGET,
           "string.rep would cost"),
    COSTLY("pcall_move_loop", "while true do pcall(table.move, {}, 1, 1e15, 2, {}) end",
           SMALL_BUDGET, "table.move would cost"),
    COSTLY("xpcall_load_loop",
           "local src = ('x = 1\\n'):rep(1000000)\n"
           "while true do xpcall(load, function() return 'handled' end, src) end",
           SMALL_BUDGET, "load would cost"),
    COSTLY("load_reader_in_load",
           "local ok, e = load(function() return ('x'):rep(2500000) end)\nreturn e", SMALL_BUDGET,
           "load would cost"),
};

static void test_refusal(void **state)
{
	const struct refusal *c = *state;
	mp_sandbox *sb = new_sandbox(c->mem_limit, c->budget ? c->budget : SMALL_BUDGET, NULL);

	expect_failure(sb, c->code, c->want, c->needles);
	mp_sandbox_free(sb);
}

/* --- absent and narrowed libraries --- */

static void test_allow_list(void **state)
{
	static const char *const absent[] = {
	    "dofile",    "loadfile",    "io",        "package",    "debug",
	    "coroutine", "string.dump", "('').dump", "os.execute", "os.exit",
	    "os.getenv", "os.remove",   "os.rename", "os.tmpname", "os.setlocale",
	};
	mp_sandbox *sb = new_sandbox(0, SMALL_BUDGET, NULL);
	char code[128];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof absent / sizeof *absent; i++) {
		snprintf(code, sizeof code, "return %s == nil", absent[i]);
		expect_true(sb, code);
	}
	expect_true(sb, "return type(os.time()) == 'number' and type(os.clock()) == 'number'");
	expect_true(sb, "return os.date('!%Y-%m-%d', 0) == '1970-01-01'");
	expect_true(sb, "return type(collectgarbage('count')) == 'number'");
	expect_true(sb, "return math.floor(2.5) == 2 and utf8.char(72, 105) == 'Hi'");
	expect_true(sb, "return table.concat({'a', 'b'}, ',') == 'a,b'");
	expect_true(sb, "return ('%d-%s'):format(7, 'x') == '7-x' and string.upper('a') == 'A'");
	expect_true(sb, "return getmetatable('') == 'string'");
	expect_true(sb, "return _VERSION == 'Lua 5.4'");
	assert_still_works(sb);
	mp_sandbox_free(sb);
}

/* Proxies read like the libraries they stand for, and tampering changes nothing. */
static void test_readonly_libraries(void **state)
{
	static const char *const needles[] = {"read-only table 'string'", NULL};
	mp_sandbox *sb = new_sandbox(0, SMALL_BUDGET, NULL);

	(void)state;
	expect_true(sb, "local n = 0\nfor k, v in pairs(math) do n = n + 1 end\n"
	                "return n > 20 and math.pi > 3");
	expect_true(sb, "return type(string) == 'table' and getmetatable(string) == 'read-only'");
	expect_failure(sb, "string.rep = nil", MP_SANDBOX_ERROR, needles);
	expect_failure(sb, "rawset(string, 'rep', print)", MP_SANDBOX_ERROR, needles);
	expect_failure(sb,
	               "pcall(function() string.format = nil end)\n"
	               "string.upper = function() return 'evil' end",
	               MP_SANDBOX_ERROR, needles);
	/* the globals themselves stay writable, and rebinding one does not touch the library
	 * behind the string metatable */
	expect_true(sb, "MY_RULES = {1, 2, 3}\nreturn #MY_RULES == 3");
	expect_true(sb, "return MY_RULES[3] == 3");
	expect_true(sb, "string = {rep = function() return 'evil' end}\n"
	                "return ('x'):rep(3) == 'xxx'");
	mp_sandbox_free(sb);

	/* a read-only proxy made by the host */
	sb = new_sandbox(0, SMALL_BUDGET, NULL);
	lua_State *L = mp_sandbox_lua(sb);
	static const char *const cfg_needles[] = {CHUNK ":1:", "read-only table 'config'", NULL};
	lua_createtable(L, 3, 1);
	for (int i = 1; i <= 3; i++) {
		lua_pushinteger(L, i * 10);
		lua_rawseti(L, -2, i);
	}
	lua_pushliteral(L, "prod");
	lua_setfield(L, -2, "env");
	mp_sandbox_push_readonly(L, -1, "config");
	lua_setglobal(L, "config");
	lua_pop(L, 1);
	expect_true(sb, "local s = 0\nfor _, v in ipairs(config) do s = s + v end\n"
	                "return s == 60 and #config == 3 and config.env == 'prod'");
	expect_true(sb, "local n = 0\nfor k in pairs(config) do n = n + 1 end\nreturn n == 4");
	expect_true(sb, "return next(config) == nil and rawget(config, 'env') == nil");
	expect_true(sb, "return table.concat(config, ',') == '10,20,30'");
	expect_failure(sb, "config.env = 'dev'", MP_SANDBOX_ERROR, cfg_needles);
	expect_failure(sb, "config[1] = 0", MP_SANDBOX_ERROR, cfg_needles);
	expect_failure(sb, "table.remove(config)", MP_SANDBOX_ERROR, cfg_needles + 1);
	expect_true(sb, "return config.env == 'prod' and config[1] == 10");
	/* the proxies share their metamethods: pairs' iterator works from the proxy it is
	 * given, and given anything else refuses (it never reaches another table's contents) */
	static const char *const iter_needles[] = {"read-only table expected", NULL};
	expect_true(sb, "local f, s = pairs(config)\nreturn s == config and f(config, 3) ~= nil");
	expect_failure(sb, "local f = pairs(config)\nreturn f({1, 2}, nil)", MP_SANDBOX_ERROR,
	               iter_needles);
	expect_failure(sb,
	               "local f = pairs(config)\n"
	               "return f(setmetatable({}, {__index = {secret = 1}}), nil)",
	               MP_SANDBOX_ERROR, iter_needles);
	expect_true(sb, "local f = pairs(string)\nreturn f(string, nil) ~= nil");
	mp_sandbox_free(sb);
}

/* A lazy proxy's fields (test_lazy_proxy): "a" the data's integer, "b" a string, "c" absent,
 * "t" a nested lazy proxy of the same data; every make counted in lazy_makes. */
static int lazy_makes;
static int lazy_make(lua_State *L, int data, int i);
static const char *const lazy_fields[] = {"a", "b", "c", "t", NULL};
static const mp_sandbox_lazy lazy_kind = {lazy_make, lazy_fields, 4, 0, 0};
static int lazy_make(lua_State *L, int data, int i)
{
	lazy_makes++;
	switch (i) {
	case 0:
		lua_pushinteger(L, *(const int *)lua_touserdata(L, data));
		return 1;
	case 1:
		lua_pushliteral(L, "bee");
		return 1;
	case 3:
		lua_pushvalue(L, data);
		mp_sandbox_push_lazy(L, &lazy_kind, "lazy");
		return 1;
	}
	return 0;
}

/* mp_sandbox_push_lazy: a field is made once, when first read; pairs and # make the rest and
 * see what a plain read-only proxy of the same table sees, in the same order; writes are
 * refused before and after. */
static void test_lazy_proxy(void **state)
{
	(void)state;
	mp_sandbox *sb = new_sandbox(0, SMALL_BUDGET, NULL);
	lua_State *L = mp_sandbox_lua(sb);
	static const char *const ro[] = {CHUNK ":1:", "read-only table 'lazy' (key 'a')", NULL};
	*(int *)lua_newuserdatauv(L, sizeof(int), 0) = 42;
	mp_sandbox_push_lazy(L, &lazy_kind, "lazy");
	lua_setglobal(L, "lazy");
	lua_createtable(L, 0, 4); /* the plain table the lazy proxy stands for */
	lua_pushinteger(L, 42);
	lua_setfield(L, -2, "a");
	lua_pushliteral(L, "bee");
	lua_setfield(L, -2, "b");
	lua_createtable(L, 0, 0);
	lua_setfield(L, -2, "t");
	mp_sandbox_push_readonly(L, -1, "plain");
	lua_setglobal(L, "plain");
	lua_pop(L, 1);
	assert_int_equal(lazy_makes, 0);
	expect_true(sb, "return lazy.b == 'bee' and lazy.b == 'bee'");
	assert_int_equal(lazy_makes, 2); /* a string is made on each read: no code can tell */
	expect_true(sb, "return lazy.c == nil and lazy.bee == nil and lazy[1] == nil and "
	                "lazy['b\\0'] == nil and lazy[lazy] == nil");
	assert_int_equal(lazy_makes, 3); /* an absent field is asked for each time; others never */
	expect_true(sb, "return lazy.t == lazy.t and lazy.t == lazy.t");
	assert_int_equal(lazy_makes, 4); /* a table is made once and kept: one identity */
	expect_true(sb, "return lazy.t == lazy.t and lazy.t.a == 42 and next(lazy) == nil and "
	                "rawget(lazy, 'b') == nil and getmetatable(lazy) == 'read-only'");
	expect_failure(sb, "lazy.a = 1", MP_SANDBOX_ERROR, ro);
	expect_failure(sb, "rawset(lazy, 'a', 1)", MP_SANDBOX_ERROR, ro);
	expect_failure(sb, "setmetatable(lazy, nil)", MP_SANDBOX_ERROR, ro + 2);
	expect_true(sb,
	            "local t = lazy.t\n"
	            "local a, b = {}, {}\n"
	            "for k, v in pairs(lazy) do a[#a + 1] = k .. '=' .. tostring(v == t or v) end\n"
	            "for k, v in pairs(plain) do b[#b + 1] = k .. '=' .. tostring(type(v) == "
	            "'table' or v) end\n"
	            "return table.concat(a, ',') == table.concat(b, ',') and #a == 3 and "
	            "#lazy == 0 and lazy.t == t");
	expect_failure(sb, "lazy.a = 1", MP_SANDBOX_ERROR, ro);
	expect_failure(sb, "rawset(lazy, 'a', 1)", MP_SANDBOX_ERROR, ro);
	/* pairs' iterator never hands out the table of made fields */
	expect_true(sb, "local f, s = pairs(lazy.t)\nreturn s == lazy.t and f(s, nil) ~= nil");
	mp_sandbox_free(sb);
}

/* Lazy proxies share one metatable per kind and name, and their state lives beside them in
 * weak tables: a proxy kept alone through full collections still reads its own data, two
 * names keep their own messages, and proxies dropped by the thousand leave no memory behind. */
static void test_lazy_proxy_shared(void **state)
{
	(void)state;
	mp_sandbox *sb = new_sandbox(0, SMALL_BUDGET, NULL);
	lua_State *L = mp_sandbox_lua(sb);
	static const char *const ro_lazy[] = {"read-only table 'lazy' (key 'a')", NULL};
	static const char *const ro_other[] = {"read-only table 'other' (key 'a')", NULL};
	for (int i = 0; i < 3; i++) {
		*(int *)lua_newuserdatauv(L, sizeof(int), 0) = 40 + i;
		mp_sandbox_push_lazy(L, &lazy_kind, i == 2 ? "other" : "lazy");
	}
	assert_true(lua_getmetatable(L, -3) && lua_getmetatable(L, -3));
	assert_true(lua_rawequal(L, -1, -2)); /* one metatable for kind and name */
	assert_true(lua_getmetatable(L, -3));
	assert_false(lua_rawequal(L, -1, -2)); /* another for another name */
	lua_pop(L, 3);
	lua_setglobal(L, "other");
	lua_setglobal(L, "lazy2");
	lua_setglobal(L, "lazy");
	lua_gc(L, LUA_GCCOLLECT);
	lua_gc(L, LUA_GCCOLLECT);
	expect_true(sb, "return lazy.a == 40 and lazy2.a == 41 and other.a == 42 and "
	                "lazy.t.a == 40 and other.t.t.a == 42 and lazy.t ~= lazy2.t");
	expect_failure(sb, "lazy.a = 1", MP_SANDBOX_ERROR, ro_lazy);
	expect_failure(sb, "other.a = 1", MP_SANDBOX_ERROR, ro_other);
	expect_failure(sb, "rawset(other.t, 'a', 1)", MP_SANDBOX_ERROR, ro_lazy); /* lazy_make's */
	/* pairs made every field of lazy2: it reads the same after collections */
	expect_true(sb, "local n = 0\nfor k, v in pairs(lazy2) do n = n + 1 end\n"
	                "return n == 3 and #lazy2 == 0");
	lua_gc(L, LUA_GCCOLLECT);
	expect_true(sb, "return lazy2.a == 41 and lazy2.b == 'bee' and lazy2.t.a == 41");
	lua_gc(L, LUA_GCCOLLECT);
	/* the weak tables keep their size (Lua shrinks a table when it grows), not their entries:
	 * a second round of as many proxies takes no more memory than the first left */
	size_t after[2];
	for (int round = 0; round < 2; round++) {
		size_t before = mp_sandbox_mem_used(sb);
		lua_gc(L, LUA_GCSTOP); /* all of them alive at once, then collected */
		for (int i = 0; i < 10000; i++) {
			*(int *)lua_newuserdatauv(L, sizeof(int), 0) = i;
			mp_sandbox_push_lazy(L, &lazy_kind, "lazy");
			lua_getfield(L, -1, "t"); /* a kept field: the made table too */
			lua_pop(L, 2);
		}
		assert_true(mp_sandbox_mem_used(sb) > before + 100000);
		lua_gc(L, LUA_GCRESTART);
		lua_gc(L, LUA_GCCOLLECT);
		lua_gc(L, LUA_GCCOLLECT);
		after[round] = mp_sandbox_mem_used(sb);
	}
	assert_true(after[1] <= after[0] + 1024);
	expect_true(sb, "return lazy.a == 40 and lazy2.t.a == 41");
	mp_sandbox_free(sb);
}

/* lazy_kind with "a" and "b" declared plain (never a value with an identity). */
static const mp_sandbox_lazy plain_kind = {lazy_make, lazy_fields, 4, 0x3, 0};

/* The sandbox keeps the metatables of a few kinds and names by registry ref: more kinds and
 * names than it keeps, and a name too long to keep, still get one metatable each, shared by
 * their proxies, and their own name in errors; plain fields are made on each read and never
 * kept, the others as before. */
static void test_lazy_proxy_many_names(void **state)
{
	(void)state;
	mp_sandbox *sb = new_sandbox(0, SMALL_BUDGET, NULL);
	lua_State *L = mp_sandbox_lua(sb);
	static const char *const names[] = {
	    "n0", "n1", "n2", "n3", "n4", "n5", "a-name-longer-than-the-sandbox-keeps-0123456789"};
	char code[256], needle[128];
	for (int round = 0; round < 2; round++) {
		for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
			for (int k = 0; k < 2; k++) {
				*(int *)lua_newuserdatauv(L, sizeof(int), 0) = (int)i;
				mp_sandbox_push_lazy(L, k ? &plain_kind : &lazy_kind, names[i]);
				*(int *)lua_newuserdatauv(L, sizeof(int), 0) = (int)i + 100;
				mp_sandbox_push_lazy(L, k ? &plain_kind : &lazy_kind, names[i]);
				assert_true(lua_getmetatable(L, -1) && lua_getmetatable(L, -3));
				assert_true(
				    lua_rawequal(L, -1, -2)); /* one for the kind and name */
				lua_pop(L, 2);
				snprintf(code, sizeof code, "q%zu_%d_%d", i, k, round);
				lua_setglobal(L, code); /* the second, data i + 100 */
				snprintf(code, sizeof code, "p%zu_%d_%d", i, k, round);
				lua_setglobal(L, code);
				static const char *ro[] = {NULL, NULL};
				snprintf(needle, sizeof needle, "read-only table '%s' (key 'a')",
				         names[i]);
				ro[0] = needle;
				snprintf(code, sizeof code, "p%zu_%d_%d.a = 1", i, k, round);
				expect_failure(sb, code, MP_SANDBOX_ERROR, ro);
				snprintf(code, sizeof code,
				         "local p, q = p%zu_%d_%d, q%zu_%d_%d\n"
				         "return p.a == %zu and q.a == %zu and p.t == p.t and "
				         "p.t ~= q.t and p.t.a == p.a and p.b == 'bee'",
				         i, k, round, i, k, round, i, i + 100);
				expect_true(sb, code);
			}
			lua_gc(L, LUA_GCCOLLECT);
		}
	}
	/* another kind's metatable for the same name */
	lua_getglobal(L, "p0_0_0");
	lua_getglobal(L, "p0_1_0");
	assert_true(lua_getmetatable(L, -1) && lua_getmetatable(L, -3));
	assert_false(lua_rawequal(L, -1, -2));
	lua_settop(L, 0);
	/* plain fields: made on each read; a kept field once */
	lazy_makes = 0;
	expect_true(sb, "local p = p1_1_0\nreturn p.a == 1 and p.a == 1 and p.b == 'bee' and "
	                "p.t == p.t");
	assert_int_equal(lazy_makes, 3); /* a twice, b once; t was made before */
	expect_true(sb, "local n = 0\nfor k, v in pairs(p2_1_1) do n = n + 1 end\n"
	                "return n == 3 and p2_1_1.a == 2 and #p2_1_1 == 0");
	mp_sandbox_free(sb);
}

/* mp_sandbox_gc_headroom: garbage gathers longer between collections, and the memory cap holds
 * as before: a bomb is refused (a refused growth makes Lua collect and retry first), the
 * state works after, and what it dropped is collected. */
static void test_gc_headroom(void **state)
{
	(void)state;
	static const char *const nomem[] = {"not enough memory", NULL};
	mp_sandbox *sb = new_sandbox((size_t)4 << 20, BIG_BUDGET, NULL);
	lua_State *L = mp_sandbox_lua(sb);
	mp_sandbox_gc_headroom(sb, 0);          /* Lua's default: twice the live heap */
	mp_sandbox_gc_headroom(sb, (size_t)-1); /* at most ten times: no overflow */
	mp_sandbox_gc_headroom(sb, (size_t)1 << 20);
	lua_gc(L, LUA_GCCOLLECT);
	size_t base = mp_sandbox_mem_used(sb);
	for (int i = 0; i < 3; i++)
		expect_true(sb, "for i = 1, 100000 do local t = {i, tostring(i)} end\nreturn true");
	assert_true(mp_sandbox_mem_peak(sb) < base + ((size_t)3 << 20));
	for (int i = 0; i < 3; i++) {
		expect_failure(
		    sb, "local t = {}\nfor i = 1, 1e9 do t[i] = string.rep('x', 1000) .. i end",
		    MP_SANDBOX_NOMEM, nomem);
		expect_true(sb,
		            "local t = {}\nfor i = 1, 1000 do t[i] = string.rep('y', 1000) .. i "
		            "end\nreturn #t == 1000");
	}
	lua_gc(L, LUA_GCCOLLECT);
	assert_true(mp_sandbox_mem_used(sb) < base + 65536);
	mp_sandbox_free(sb);
}

/* load: text only whatever the mode argument says; the env is explicit. */
static void test_load(void **state)
{
	mp_sandbox *sb = new_sandbox(0, SMALL_BUDGET, NULL);

	(void)state;
	expect_true(sb, "return load('return 6 * 7', 'c', 'b')() == 42");
	expect_true(sb, "load('X_FROM_LOAD = 5')()\nreturn X_FROM_LOAD == 5");
	expect_true(sb, "local env = {}\nload('y = 6', 'c', 't', env)()\n"
	                "return env.y == 6 and y == nil");
	expect_true(sb, "local parts, i = {'return ', '1 + ', '2'}, 0\n"
	                "local f = load(function() i = i + 1; return parts[i] end)\n"
	                "return f() == 3");
	expect_true(sb, "local f, e = load('return +')\nreturn f == nil and e:find('near') ~= nil");
	mp_sandbox_free(sb);
}

/* --- binary chunks --- */

struct bytes {
	char data[4096];
	size_t len;
};

static int collect_bytes(lua_State *L, const void *p, size_t n, void *ud)
{
	struct bytes *b = ud;

	(void)L;
	if (n > sizeof b->data - b->len)
		return 1;
	memcpy(b->data + b->len, p, n);
	b->len += n;
	return 0;
}

/* Compiles src in a plain, unsandboxed state and dumps it. */
static void dump_chunk(const char *src, struct bytes *out)
{
	lua_State *P = luaL_newstate();

	assert_non_null(P);
	out->len = 0;
	assert_int_equal(luaL_loadstring(P, src), LUA_OK);
	assert_int_equal(lua_dump(P, collect_bytes, out, 0), 0);
	lua_close(P);
	assert_true(out->len > 4 && memcmp(out->data, LUA_SIGNATURE, 4) == 0);
}

static void test_binary_chunk(void **state)
{
	static const char *const via_load[] = {CHUNK ":", "binary chunk", "mode is 't'", NULL};
	static const char *const via_reader[] = {"binary chunk", NULL};
	mp_sandbox *sb = new_sandbox(0, SMALL_BUDGET, NULL);
	lua_State *L = mp_sandbox_lua(sb);
	struct bytes bin;
	char err[256] = "";

	(void)state;
	dump_chunk("return 'escaped'", &bin);
	lua_pushlstring(L, bin.data, bin.len);
	lua_setglobal(L, "BIN");

	expect_failure(sb, "local f, e = load(BIN)\nassert(f, e)", MP_SANDBOX_ERROR, via_load);
	expect_failure(sb, "assert(load(BIN, 'bin', 'b'))", MP_SANDBOX_ERROR, via_load);
	expect_failure(sb, "assert(load(BIN, 'bin', 'bt', {}))", MP_SANDBOX_ERROR, via_load);
	expect_failure(sb,
	               "local done\n"
	               "assert(load(function() if done then return nil end done = true "
	               "return BIN end))",
	               MP_SANDBOX_ERROR, via_reader);

	/* the host API refuses binary chunks too */
	assert_int_equal(
	    mp_sandbox_run(sb, bin.data, bin.len, "policies/bin.lua", 0, err, sizeof err),
	    MP_SANDBOX_ERROR);
	assert_non_null(strstr(err, "policies/bin.lua"));
	assert_non_null(strstr(err, "binary chunk"));
	assert_still_works(sb);
	mp_sandbox_free(sb);
}

/* --- require --- */

struct stdlib_file {
	const char *path;
	const char *text;
};

static const struct stdlib_file stdlib_files[] = {
    {"mylib.lua", "LOADS = (LOADS or 0) + 1\nlocal M = {answer = 42}\n"
                  "function M.twice(x) return 2 * x end\nreturn M\n"},
    {"net/ip.lua", "return {family = function() return 'inet' end}\n"},
    {"broken.lua", "local M = {}\nerror('broken on purpose')\nreturn M\n"},
    {"selfreq.lua", "return require('selfreq')\n"},
    {"bad_syntax.lua", "return {\n"},
    {"nothing.lua", "NOTHING_LOADED = true\n"},
    {"uses_string.lua", "return {shout = function(s) return s:upper() .. '!' end}\n"},
};

static void write_file(const char *dir, const char *rel, const char *data, size_t len)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof path, "%s/%s", dir, rel);
	f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

static void remove_file(const char *dir, const char *rel)
{
	char path[512];

	snprintf(path, sizeof path, "%s/%s", dir, rel);
	unlink(path);
}

static void test_require(void **state)
{
	static const char *const ro[] = {CHUNK ":1:", "read-only table 'mylib'", NULL};
	static const char *const broken[] = {"broken.lua:2: broken on purpose", NULL};
	static const char *const self[] = {"module 'selfreq' requires itself", NULL};
	static const char *const syntax[] = {"error loading module 'bad_syntax'",
	                                     "bad_syntax.lua:", NULL};
	static const char *const missing[] = {CHUNK ":1:", "module 'missing' not found in stdlib",
	                                      NULL};
	static const char *const binary[] = {"error loading module 'bin'", "binary chunk", NULL};
	static const char *const bad_names[] = {
	    "../../etc/passwd",
	    "os",
	    "io",
	    "debug",
	    "string",
	    "net..ip",
	    "net.",
	    ".net",
	    "Mylib",
	    "9x",
	    "a-b",
	    "mylib.lua",
	    "",
	    "net/ip",
	};
	char dir[] = "/tmp/meshpol-test-sandbox-XXXXXX", sub[600], code[256], msg[256];
	const char *needles[2] = {msg, NULL};
	struct bytes bin;
	mp_sandbox *sb;
	lua_State *L;
	size_t i;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(sub, sizeof sub, "%s/net", dir);
	assert_int_equal(mkdir(sub, 0700), 0);
	for (i = 0; i < sizeof stdlib_files / sizeof *stdlib_files; i++)
		write_file(dir, stdlib_files[i].path, stdlib_files[i].text,
		           strlen(stdlib_files[i].text));
	dump_chunk("return {}", &bin);
	write_file(dir, "bin.lua", bin.data, bin.len);

	sb = new_sandbox(0, SMALL_BUDGET, dir);
	L = mp_sandbox_lua(sb);
	expect_true(sb, "local m = require('mylib')\n"
	                "return m.answer == 42 and m.twice(21) == 42\n"
	                "  and rawequal(m, require('mylib')) and LOADS == 1");
	expect_true(sb, "return require('net.ip').family() == 'inet'");
	expect_true(sb, "return require('nothing') == true and NOTHING_LOADED == true");
	expect_true(sb, "return require('uses_string').shout('deny') == 'DENY!'");
	expect_failure(sb, "require('mylib').answer = 0", MP_SANDBOX_ERROR, ro);
	expect_true(sb, "return require('mylib').answer == 42 and LOADS == 1");
	/* a module that fails is not cached as loaded, and fails the same way again */
	expect_failure(sb, "require('broken')", MP_SANDBOX_ERROR, broken);
	expect_failure(sb, "require('broken')", MP_SANDBOX_ERROR, broken);
	expect_failure(sb, "require('selfreq')", MP_SANDBOX_ERROR, self);
	expect_failure(sb, "require('bad_syntax')", MP_SANDBOX_ERROR, syntax);
	expect_failure(sb, "require('bin')", MP_SANDBOX_ERROR, binary);
	expect_failure(sb, "require('missing')", MP_SANDBOX_ERROR, missing);
	for (i = 0; i < sizeof bad_names / sizeof *bad_names; i++) {
		snprintf(code, sizeof code, "require('%s')", bad_names[i]);
		snprintf(msg, sizeof msg, "module '%s' not found in stdlib", bad_names[i]);
		expect_failure(sb, code, MP_SANDBOX_ERROR, needles);
	}
	/* a module the host preloads */
	lua_getfield(L, LUA_REGISTRYINDEX, MP_SANDBOX_LOADED_KEY);
	lua_pushinteger(L, 7);
	lua_setfield(L, -2, "host.answer");
	lua_pop(L, 1);
	expect_true(sb, "return require('host.answer') == 7");
	mp_sandbox_free(sb);

	/* no stdlib directory: nothing resolves */
	sb = new_sandbox(0, SMALL_BUDGET, NULL);
	snprintf(msg, sizeof msg, "module 'mylib' not found in stdlib");
	expect_failure(sb, "require('mylib')", MP_SANDBOX_ERROR, needles);
	mp_sandbox_free(sb);

	for (i = 0; i < sizeof stdlib_files / sizeof *stdlib_files; i++)
		remove_file(dir, stdlib_files[i].path);
	remove_file(dir, "bin.lua");
	assert_int_equal(rmdir(sub), 0);
	assert_int_equal(rmdir(dir), 0);
}

/* --- the budget --- */

/* Each top-level call gets the whole budget again. */
static void test_budget_resets_per_call(void **state)
{
	mp_sandbox *sb = new_sandbox(0, 1000000, NULL);
	int i;

	(void)state;
	for (i = 0; i < 10; i++) /* 10 x ~300k instructions, each call within 1M */
		expect_true(sb, "for i = 1, 300000 do end\nreturn true");
	mp_sandbox_free(sb);
}

static int last_nested_rc;

/* host_call(f): runs f through mp_sandbox_pcall and swallows any failure, as careless host code
 * might. Upvalue 1: the sandbox. */
static int host_call(lua_State *L)
{
	mp_sandbox *sb = lua_touserdata(L, lua_upvalueindex(1));
	char err[256];

	luaL_checktype(L, 1, LUA_TFUNCTION);
	lua_pushvalue(L, 1);
	last_nested_rc = mp_sandbox_pcall(sb, 0, 0, err, sizeof err);
	lua_pushboolean(L, last_nested_rc == MP_SANDBOX_OK);
	return 1;
}

static void test_nested_calls(void **state)
{
	static const char *const timeout[] = {"instruction budget exceeded", NULL};
	mp_sandbox *sb = new_sandbox(0, 1000000, NULL);
	lua_State *L = mp_sandbox_lua(sb);

	(void)state;
	lua_pushlightuserdata(L, sb);
	lua_pushcclosure(L, host_call, 1);
	lua_setglobal(L, "host_call");
	expect_true(sb, "return host_call(function() return 1 end)");
	/* a timeout in a nested call still ends the top-level call */
	last_nested_rc = MP_SANDBOX_OK;
	expect_failure(sb, "while true do host_call(function() while true do end end) end",
	               MP_SANDBOX_TIMEOUT, timeout);
	assert_int_equal(last_nested_rc, MP_SANDBOX_TIMEOUT);
	/* nested calls share the budget of the top-level call: 10 x 300k > 1M */
	expect_failure(sb,
	               "for i = 1, 10 do host_call(function() for j = 1, 300000 do end end) end",
	               MP_SANDBOX_TIMEOUT, timeout);
	mp_sandbox_free(sb);
}

/* mp_sandbox_pcall on a function the host holds, as the decision path will call `when`. */
static void test_pcall_function(void **state)
{
	mp_sandbox *sb = new_sandbox(0, SMALL_BUDGET, NULL);
	lua_State *L = mp_sandbox_lua(sb);
	char err[256] = "";

	(void)state;
	assert_int_equal(run(sb,
	                     "function when(req) return req.method == 'GET' end\n"
	                     "function spin() while true do end end\n"
	                     "function fail(x)\n  return x.missing.field\nend",
	                     0, err, sizeof err),
	                 MP_SANDBOX_OK);
	lua_getglobal(L, "when");
	lua_createtable(L, 0, 1);
	lua_pushliteral(L, "GET");
	lua_setfield(L, -2, "method");
	assert_int_equal(mp_sandbox_pcall(sb, 1, 1, err, sizeof err), MP_SANDBOX_OK);
	assert_true(lua_toboolean(L, -1));
	lua_pop(L, 1);

	lua_getglobal(L, "spin");
	assert_int_equal(mp_sandbox_pcall(sb, 0, 1, err, sizeof err), MP_SANDBOX_TIMEOUT);
	assert_non_null(strstr(err, CHUNK ":2: instruction budget exceeded"));
	assert_int_equal(lua_gettop(L), 0);

	lua_getglobal(L, "fail");
	lua_newtable(L);
	assert_int_equal(mp_sandbox_pcall(sb, 1, 1, err, sizeof err), MP_SANDBOX_ERROR);
	assert_non_null(strstr(err, CHUNK ":4: attempt to index a nil value (field 'missing')"));
	assert_still_works(sb);
	mp_sandbox_free(sb);
}

/* --- interrupts --- */

static mp_sandbox *volatile alarm_target;

static void on_alarm(int sig)
{
	(void)sig;
	mp_sandbox_interrupt(alarm_target);
}

/* Interrupts sb from a SIGALRM handler after usec microseconds, as the REPL does on Ctrl-C. */
static void interrupt_after(mp_sandbox *sb, long usec)
{
	struct sigaction sa;
	struct itimerval it = {.it_value = {.tv_sec = 0, .tv_usec = usec}};

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_alarm;
	sigemptyset(&sa.sa_mask);
	alarm_target = sb;
	assert_int_equal(sigaction(SIGALRM, &sa, NULL), 0);
	assert_int_equal(setitimer(ITIMER_REAL, &it, NULL), 0);
}

static void test_interrupt_from_signal(void **state)
{
	static const char *const where[] = {CHUNK ":1: interrupted", NULL};
	static const char *const any[] = {"interrupted", NULL};
	/* the budget is a safety net only: TIMEOUT instead of INTERRUPTED fails the test */
	mp_sandbox *sb = new_sandbox(0, BIG_BUDGET * 5, NULL);

	(void)state;
	interrupt_after(sb, 50000);
	expect_failure(sb, "while true do end", MP_SANDBOX_INTERRUPTED, where);
	interrupt_after(sb, 50000);
	expect_failure(sb, "while true do pcall(function() while true do end end) end",
	               MP_SANDBOX_INTERRUPTED, any);
	signal(SIGALRM, SIG_DFL);
	mp_sandbox_free(sb);
}

/* A watched flag (mp_sandbox_watch), set from a signal handler as meshpol audit's SIGINT
 * handler sets its own: it stops the running call, and every later one while it stays set
 * (one flag stops every sandbox of an audit, so it is never consumed); cleared or unwatched, calls
 * run again. */
static atomic_int watch_flag;

static void on_alarm_flag(int sig)
{
	(void)sig;
	atomic_store(&watch_flag, 1);
}

static void test_interrupt_watched_flag(void **state)
{
	mp_sandbox *sb = new_sandbox(0, BIG_BUDGET * 5, NULL);
	struct sigaction sa;
	struct itimerval it = {.it_value = {.tv_sec = 0, .tv_usec = 50000}};
	char err[512] = "";

	(void)state;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_alarm_flag;
	sigemptyset(&sa.sa_mask);
	atomic_store(&watch_flag, 0);
	mp_sandbox_watch(sb, &watch_flag);
	expect_true(sb, "return true"); /* not set: runs */
	assert_int_equal(sigaction(SIGALRM, &sa, NULL), 0);
	assert_int_equal(setitimer(ITIMER_REAL, &it, NULL), 0);
	assert_int_equal(run(sb, "while true do pcall(function() while true do end end) end", 0,
	                     err, sizeof err),
	                 MP_SANDBOX_INTERRUPTED);
	assert_non_null(strstr(err, "interrupted"));
	signal(SIGALRM, SIG_DFL);
	assert_int_equal(atomic_load(&watch_flag), 1); /* read, never reset */
	for (int k = 0; k < 2; k++)                    /* every later call, at once */
		assert_int_equal(run(sb, "return 1", 0, err, sizeof err), MP_SANDBOX_INTERRUPTED);
	mp_sandbox_watch(sb, NULL);
	expect_true(sb, "return true");
	mp_sandbox_watch(sb, &watch_flag);
	atomic_store(&watch_flag, 0);
	expect_true(sb, "return true");
	mp_sandbox_watch(sb, NULL);
	mp_sandbox_free(sb);
}

static void test_interrupt_pending(void **state)
{
	static const char *const any[] = {"interrupted", NULL};
	mp_sandbox *sb = new_sandbox(0, SMALL_BUDGET, NULL);

	(void)state;
	/* requested while idle: the next call stops at once, and the request is consumed */
	mp_sandbox_interrupt(sb);
	expect_failure(sb, "return 1", MP_SANDBOX_INTERRUPTED, any);
	mp_sandbox_interrupt(NULL); /* harmless */
	mp_sandbox_free(sb);
}

/* --- memory --- */

static void test_memory_accounting(void **state)
{
	mp_sandbox *sb = new_sandbox(SMALL_MEM, BIG_BUDGET, NULL);
	lua_State *L = mp_sandbox_lua(sb);
	size_t before = mp_sandbox_mem_used(sb);
	char err[256] = "";

	(void)state;
	assert_true(before > 0 && before < SMALL_MEM);
	expect_true(sb, "KEEP = ('x'):rep(1 << 20)\nreturn #KEEP == 1 << 20");
	assert_true(mp_sandbox_mem_used(sb) > before + (1 << 20));
	/* a bomb stopped at the cap leaves the state under it */
	assert_int_equal(
	    run(sb, "local t = {} while true do t[#t + 1] = {} end", 0, err, sizeof err),
	    MP_SANDBOX_NOMEM);
	assert_true(mp_sandbox_mem_used(sb) <= SMALL_MEM);
	assert_int_equal(lua_gettop(L), 0);
	expect_true(sb, "KEEP = nil\nreturn collectgarbage('count') < 16 * 1024");
	mp_sandbox_free(sb);
}

static void test_new_limits(void **state)
{
	mp_sandbox_opts tiny = {.mem_limit = 4096};
	char err[256] = "";
	mp_sandbox *sb;

	(void)state;
	assert_null(mp_sandbox_new(&tiny, err, sizeof err));
	assert_non_null(strstr(err, "memory"));
	sb = mp_sandbox_new(NULL, NULL, 0); /* all defaults, no error buffer */
	assert_non_null(sb);
	assert_still_works(sb);
	mp_sandbox_free(sb);
	mp_sandbox_free(NULL);
}

/* Injected allocation failures: creation fails cleanly at every step (ASan checks for leaks),
 * and a call hit by one reports NOMEM and leaves the sandbox usable. */
static void test_allocation_failures(void **state)
{
	mp_sandbox *sb = NULL;
	char err[256];
	long n;
	int rc;

	(void)state;
	for (n = 0; !sb; n++) {
		err[0] = '\0';
		mp_alloc_fail_after(n);
		sb = mp_sandbox_new(NULL, err, sizeof err);
		mp_alloc_fail_after(-1);
		if (!sb)
			assert_true(strlen(err) > 0);
		assert_true(n < 100000);
	}
	for (n = 0; n < 200; n += 7) {
		mp_alloc_fail_after(n);
		rc = run(sb,
		         "local t = {}\nfor i = 1, 100 do t[i] = tostring(i) .. 'x' end\n"
		         "return #t",
		         0, err, sizeof err);
		mp_alloc_fail_after(-1);
		assert_true(rc == MP_SANDBOX_OK || rc == MP_SANDBOX_NOMEM);
		if (rc == MP_SANDBOX_NOMEM)
			assert_non_null(strstr(err, "not enough memory"));
		assert_still_works(sb);
	}
	mp_sandbox_free(sb);
}

/* --- environments --- */

static void test_push_env(void **state)
{
	mp_sandbox *sb = new_sandbox(0, SMALL_BUDGET, NULL);
	lua_State *L = mp_sandbox_lua(sb);
	const char *code = "LOCAL_RULE = 1\nstring = nil\nreturn math.max(1, 2)";
	char err[256] = "";

	(void)state;
	assert_int_equal(mp_sandbox_load(sb, code, strlen(code), CHUNK, err, sizeof err),
	                 MP_SANDBOX_OK);
	mp_sandbox_push_env(L);
	assert_non_null(lua_setupvalue(L, -2, 1));
	assert_int_equal(mp_sandbox_pcall(sb, 0, 1, err, sizeof err), MP_SANDBOX_OK);
	assert_int_equal(lua_tointeger(L, -1), 2);
	lua_pop(L, 1);
	/* what the policy wrote stayed in its environment */
	expect_true(sb, "return LOCAL_RULE == nil and type(string) == 'table'");
	mp_sandbox_free(sb);
}

/* --- pattern matching --- */

/* Serializes the results of pcall(f): "boolean:true|integer:5|string:x" (in both states). */
#define PACK_PRELUDE                                                                               \
	"local function pack(...)\n"                                                               \
	"  local t = {}\n"                                                                         \
	"  for i = 1, select('#', ...) do local v = select(i, ...)\n"                              \
	"    t[i] = (math.type(v) or type(v)) .. ':' .. tostring(v) end\n"                         \
	"  return table.concat(t, '|')\n"                                                          \
	"end\n"

/* Code run both in the sandbox and in a plain Lua state; the results, errors included, must be
 * the same: the wrappers change nothing but the refusals. */
static const char *const pattern_cases[] = {
    /* find: plain, captures, init, limits */
    "return string.find('hello world', 'o w')",
    "return string.find('hello world', '(o)(r)')",
    "return string.find('hello world', 'o', 6)",
    "return ('hello world'):find('l+', -4)",
    "return ('hello world'):find('l', -100)",
    "return string.find('a.b*c', '.b*', 1, true)",
    "return string.find('a+b', '+', 1, true), ('x^y'):find('^', 1, true)",
    "return string.find('a.b*c', '.b*', 1, false)",
    "return string.find('abc', 'b', 10)",
    "return string.find('abc', '', 4), string.find('abc', '', 5), string.find('', '')",
    "return string.find('a\\0b', '\\0', 1, true), string.find('a\\0b', '%z')",
    "return string.find('abc', 'c', 3, nil, 'extra')",
    /* match: anchors, captures, classes, %b, %f */
    "return string.match('  key = value  ', '^%s*(%S+)%s*=%s*(.-)%s*$')",
    "return string.match('2024-01-15', '^(%d+)-(%d+)-(%d+)$')",
    "return string.match('x2024-01-15', '^(%d+)')",
    "return string.match('hello', '()ll()')",
    "return string.match('hello', 'x')",
    "return ('  trim me  '):match('^%s*(.-)%s*$')",
    "return string.match('THE (quick) fox', '%((%a+)%)')",
    "return string.match('f(a(b)c)d', '%b()')",
    "return string.match('THE (quick) fox', '%f[%a]%a+', 5)",
    "return string.match('key=val', '(%w+)=(%w+)$')",
    "return string.match('abcabc', '(abc)%1')",
    "return string.match('/v1/orders/42', '^/v1/(%w+)/(%d+)$')",
    /* gsub: string, function, table, count, empty matches, anchor */
    "return string.gsub('hello world', 'o', '0')",
    "return string.gsub('hello world', '(%w+)', '<%1>')",
    "return string.gsub('hello world', '%w+', function(w) return w:upper() end)",
    "return string.gsub('$name is $age', '%$(%w+)', {name = 'bob', age = 42})",
    "return string.gsub('abc', '%w', '%0%0', 2)",
    "return string.gsub('abc', '', '-')",
    "return string.gsub('hello', '^h', 'H'), string.gsub('hhh', '^h', 'H')",
    "return string.gsub('a,b,,c', '[^,]*', '[%0]')",
    /* gmatch: loops, init, '^' is no anchor, the iterator after the end */
    "local t = {}\n"
    "for k, v in string.gmatch('a=1, b=2, c=3', '(%w+)=(%w+)') do t[#t + 1] = k .. v end\n"
    "return table.concat(t, ' ')",
    "local t = {}\nfor w in ('one two three'):gmatch('%a+', 5) do t[#t + 1] = w end\n"
    "return table.concat(t, ',')",
    "local t = {}\nfor w in ('a^b^c'):gmatch('^%a') do t[#t + 1] = w end\n"
    "return table.concat(t, ',')",
    "local it = ('ab'):gmatch('.')\nreturn it(), it(), it(), it()",
    "local n = 0\nfor a, b in ('x1y22z'):gmatch('()%d+()') do n = n + a * b end\nreturn n",
    /* numbers are coerced, as by the originals */
    "return string.find(123456, 34), string.find('x1.5y', 1.5), string.gsub(1000, 0, 1)",
    "return string.match(3.25, '%d+$'), (7):rep(3)",
    /* argument errors and malformed patterns: the same messages */
    "return string.find(nil, 'x')",
    "return ('x'):find({})",
    "return ('x'):match()",
    "return string.find('x', 'x', 'bad')",
    "return string.gmatch('x', 'x', {})",
    "return string.gsub('x', 'x')",
    "return string.gsub('x', 'x', true)",
    "return string.gsub('x', 'x', 'y', 'z')",
    "return string.match('x', '[a')",
    "return string.find('x', 'x%')",
    "return string.match('x', '%f')",
    "return string.match('x', '%b(')",
    "return string.match('x', '(x')",
    "return string.match('x', 'x)')",
    "return string.gsub('x', 'x', '%2')",
    "return string.gsub('x', 'x', {x = {}})",
    "return string.find('x', '%1')",
    /* large subjects with linear patterns */
    "local s = ('x'):rep(1 << 20) .. '12345'\nreturn s:find('%d+'), s:match('(%d+)')",
    "local s = ('ab1 '):rep(1 << 18)\nreturn #s, select(2, s:gsub('%d+', '')), "
    "select(2, s:gsub('%s+', ' '))",
    "local s = ('k=v,'):rep(1 << 16)\nlocal n = 0\n"
    "for k, v in s:gmatch('([^,=]+)=?([^,]*)') do n = n + 1 end\nreturn n",
    /* quadratic patterns on a few KB */
    "local s = ('key=value&'):rep(300)\nlocal n = 0\n"
    "for k, v in s:gmatch('([^&=]+)=([^&]*)') do n = n + #k + #v end\nreturn n",
    "local s = ('a.b*c'):rep(1 << 18) .. '[x]'\nreturn s:find('[x]', 1, true)",
    "local s = ('a'):rep(1 << 15)\nreturn s:find(('a'):rep(1 << 14) .. 'b', 1, true), "
    "s:find(('a'):rep(1 << 14)), s:find(('a'):rep(1 << 15), 2, true)",
    "local s = ' ' .. ('a'):rep(4000) .. ' '\nreturn #s:match('^%s*(.-)%s*$')",
    "local s = ('a'):rep(4000)\nlocal n = 0\nfor k, v in s:gmatch('(%w+)=(%w+)') do n = n + 1 end\n"
    "return n",
    "local s = ('a'):rep(4000) .. 'b'\nreturn s:find('a*b'), s:find('[^/]+$')",
};

/* Runs code in the sandbox and in plain Lua and compares what pcall returns. */
static void test_pattern_results(void **state)
{
	mp_sandbox *sb = new_sandbox(0, BIG_BUDGET, NULL);
	lua_State *L = mp_sandbox_lua(sb), *plain = luaL_newstate();
	char code[2048], err[512] = "";
	size_t i;

	(void)state;
	assert_non_null(plain);
	luaL_openlibs(plain);
	for (i = 0; i < sizeof pattern_cases / sizeof *pattern_cases; i++) {
		snprintf(code, sizeof code, PACK_PRELUDE "return pack(pcall(function()\n%s\nend))",
		         pattern_cases[i]);
		if (run(sb, code, 1, err, sizeof err) != MP_SANDBOX_OK)
			fail_msg("%s\n  failed in the sandbox: %s", pattern_cases[i], err);
		if (luaL_loadbuffer(plain, code, strlen(code), "@" CHUNK) != LUA_OK ||
		    lua_pcall(plain, 0, 1, 0) != LUA_OK)
			fail_msg("%s\n  failed in plain Lua: %s", pattern_cases[i],
			         lua_tostring(plain, -1));
		if (strcmp(lua_tostring(L, -1), lua_tostring(plain, -1)) != 0)
			fail_msg("%s\n  sandbox:   %s\n  plain Lua: %s", pattern_cases[i],
			         lua_tostring(L, -1), lua_tostring(plain, -1));
		lua_pop(L, 1);
		lua_pop(plain, 1);
	}
	lua_close(plain);
	assert_still_works(sb);
	mp_sandbox_free(sb);
}

/* A refused pattern costs the analysis, not the matching: far below a second, and an ordinary
 * error that pcall catches, after which the same sandbox matches normally. Plain finds are
 * linear (stock Lua's take O(n * m): minutes for the one below). */
static void test_pattern_refusal_is_fast(void **state)
{
	/* the strings of megabytes below cost millions of units (string.rep, plain finds) */
	mp_sandbox *sb = new_sandbox(0, BIG_BUDGET, NULL);
	clock_t start = clock();

	(void)state;
	expect_true(sb, "local s = ('a'):rep(1 << 22)\n"
	                "return s:find(('a'):rep(1 << 21) .. 'b', 1, true) == nil and\n"
	                "  s:find(('a'):rep(1 << 21) .. 'b') == nil and s:find(s, 1, true) == 1");
	expect_true(sb, "local s = ('a'):rep(600)\n"
	                "local ok, err = pcall(s.find, s, '.-.-.-b')\n"
	                "local ok2, err2 = pcall(string.gsub, s:rep(1000), '(.-)(.-)%1', '')\n"
	                "return not ok and err:find('pattern too complex', 1, true) ~= nil and\n"
	                "  not ok2 and err2:find('600000 bytes', 1, true) ~= nil and\n"
	                "  s:find('a-b') == nil and #s:match('^(.-)a$') == 599");
	assert_true((double)(clock() - start) / CLOCKS_PER_SEC < 0.5);
	/* the string metatable reaches the same wrappers as the string table */
	expect_true(sb, "return string.find == ('').find and string.gsub == ('').gsub and\n"
	                "  string.match == ('').match and string.gmatch == ('').gmatch");
	assert_still_works(sb);
	mp_sandbox_free(sb);
}

/* --- C functions and memory under the budget --- */

/* Library calls that the cost model wraps: the same results and errors as in plain Lua. */
static const char *const library_cases[] = {
    "return string.byte('hello', 1, -1)",
    "return ('abc'):byte(10), string.byte('abc', -1), string.byte('')",
    "return string.char(72, 105), utf8.char(72, 228, 8364), string.char()",
    "return string.format('%5.2f|%-5d|%s|%q|%x', 3.14159, 42, 'x', 'a\\nb', 255)",
    "return string.format('%99d', 1):len(), string.format('%s %s', 1, true)",
    "return string.format('%99999d', 1)",
    "return string.format('%d', 'x')",
    "return ('Hello'):upper(), ('Hello'):lower(), ('Hello'):reverse(), ('Hello'):len()",
    "return ('ab'):rep(3, ','), ('ab'):rep(0), ('ab'):rep(-1), (''):rep(5), ('x'):rep(2, '')",
    "return string.rep('x', 'y')",
    "return string.rep('x', 1e10, 'y')",
    "return ('hello'):sub(2, -2), ('hello'):sub(-3), ('hello'):sub(10), ('hello'):sub(0), "
    "('hello'):sub(2, 1), ('hello'):sub(-100, 100)",
    "return ('hello'):sub('2', '3'), ('hello'):sub(1.0)",
    "return string.pack('i4s1', 7, 'ab'):byte(1, -1)",
    "return string.unpack('i4', string.pack('i4', 7)), string.packsize('i4i8')",
    "return string.pack('c3', 'abcd')",
    "return #string.pack('c100', 'x'), string.unpack('z', 'ab\\0c')",
    "return table.concat({1, 2, 3}, ', ', 2, 3), table.concat({}, 'x'), table.concat({'a'}, 'x', "
    "1, 1)",
    "local t = {1, 2, 3}\ntable.insert(t, 1, 0)\ntable.insert(t, 9)\nreturn table.concat(t, ',')",
    "local t = {1, 2, 3}\nreturn table.remove(t, 1), table.remove(t), #t, table.remove({})",
    "return table.concat(table.move({1, 2, 3}, 1, 3, 2), ',')",
    "return table.concat(table.move({1, 2, 3}, 2, 3, 1, {9, 9, 9}), ',')",
    "return table.unpack({1, 2, 3}, 2), table.unpack({1, 2}, 3)",
    "local t = table.pack(1, nil, 3)\nreturn t.n, t[3]",
    "local t = {5, 2, 8, 1}\ntable.sort(t)\nlocal a = table.concat(t, ',')\n"
    "table.sort(t, function(x, y) return x > y end)\nreturn a, table.concat(t, ',')",
    "local t = setmetatable({}, {__len = function() return 3 end, __index = function(_, i) "
    "return i * 10 end})\nreturn table.concat(t, ','), table.unpack(t)",
    "return table.insert({}, 1, 2, 3)",
    "return table.insert({}, 5, 2)",
    "return table.concat({{}})",
    "return table.move({}, 1, math.maxinteger, 2)",
    "return table.sort({3, 1, 2}, 7)",
    "return table.concat(7)",
    "return utf8.len('h\\xc3\\xa4ll\\xe2\\x82\\xac'), utf8.codepoint('h\\xc3\\xa4', 1, -1)",
    "return utf8.offset('h\\xc3\\xa4ll', 3), utf8.len('\\xff'), utf8.len('abc', 5)",
    "local n = 0\nfor p, c in utf8.codes('h\\xc3\\xa4') do n = n + p * c end\nreturn n",
    "return select('#', 1, 2, 3), select(2, 'a', 'b', 'c'), select(-1, 'a', 'b')",
    "return select(0, 1)",
    "return select('2', 'a', 'b'), select('#')",
    "return tonumber('0x10'), tonumber('10', 2), tonumber('z', 36), tonumber(' 12 '), "
    "tonumber('x'), tonumber('8', 8)",
    "return tonumber(), tonumber('1', 99)",
    "return tostring(12), tostring(nil), tostring(1.5), type(tostring({}))",
    "return math.max(3, '7', 1), math.floor('2.5'), math.abs(-3), math.type(1), "
    "math.tointeger('8'), math.fmod(7, '3'), math.min(2)",
    "return math.max()",
    "return math.floor({})",
    "return '10' + 1, '3' * '4', -'2', '7' // 2, '2' ^ 2, '7' % 3, '1' - 1, '9' / 3",
    "return 'x' + 1",
    "return rawequal('abc', 'abc'), rawequal('a', 'b'), rawlen({1, 2}), rawget({5}, 1)",
    "return os.date('!%Y-%m', 0), type(os.time()), os.time({year = 2020, month = 1, day = 1, "
    "hour = 12}) > 0",
    "return assert(1, 'm', 3)",
    "return assert(false, 'my message')",
    "return load('return 1 + 1')(), load(function() return nil end) ~= nil",
    "local p, i = {'return ', '40 ', '+ 2'}, 0\n"
    "return load(function() i = i + 1 return p[i] end)()",
    "return load(function() return {} end)",
    "return load(function() error('reader failed') end)",
    "return #string.rep('ab', 1000, ',')",
};

/* Runs each case in the sandbox and in plain Lua and compares what pcall returns. */
static void compare_with_plain_lua(const char *const *cases, size_t n)
{
	mp_sandbox *sb = new_sandbox(0, BIG_BUDGET, NULL);
	lua_State *L = mp_sandbox_lua(sb), *plain = luaL_newstate();
	char code[2048], err[512] = "";
	size_t i;

	assert_non_null(plain);
	luaL_openlibs(plain);
	for (i = 0; i < n; i++) {
		snprintf(code, sizeof code, PACK_PRELUDE "return pack(pcall(function()\n%s\nend))",
		         cases[i]);
		if (run(sb, code, 1, err, sizeof err) != MP_SANDBOX_OK)
			fail_msg("%s\n  failed in the sandbox: %s", cases[i], err);
		if (luaL_loadbuffer(plain, code, strlen(code), "@" CHUNK) != LUA_OK ||
		    lua_pcall(plain, 0, 1, 0) != LUA_OK)
			fail_msg("%s\n  failed in plain Lua: %s", cases[i],
			         lua_tostring(plain, -1));
		if (strcmp(lua_tostring(L, -1), lua_tostring(plain, -1)) != 0)
			fail_msg("%s\n  sandbox:   %s\n  plain Lua: %s", cases[i],
			         lua_tostring(L, -1), lua_tostring(plain, -1));
		lua_pop(L, 1);
		lua_pop(plain, 1);
	}
	lua_close(plain);
	assert_still_works(sb);
	mp_sandbox_free(sb);
}

static void test_library_results(void **state)
{
	(void)state;
	compare_with_plain_lua(library_cases, sizeof library_cases / sizeof *library_cases);
}

/* Runs code that must time out, then returns the global N (how far it got). */
static lua_Integer iterations_before_timeout(uint64_t budget, const char *code)
{
	mp_sandbox *sb = new_sandbox(0, budget, NULL);
	lua_State *L = mp_sandbox_lua(sb);
	char err[512] = "";
	lua_Integer n;
	int rc = run(sb, code, 0, err, sizeof err);

	if (rc != MP_SANDBOX_TIMEOUT)
		fail_msg("%s\n  returned %s: %s", code, mp_sandbox_status_name(rc), err);
	lua_getglobal(L, "N");
	n = lua_tointeger(L, -1);
	lua_pop(L, 1);
	mp_sandbox_free(sb);
	return n;
}

/* The budget counts what C functions and the VM's copies do: the iterations a 1M budget allows
 * match the cost model (stock Lua ran each loop about 250,000 times). */
static void test_c_work_is_counted(void **state)
{
	static const struct {
		const char *code;
		lua_Integer least, most;
	} loops[] = {
	    /* 100 KB upper: 12.5k units of scan, 6.3k of memory */
	    {"local s = ('x'):rep(100000)\nN = 0\nwhile true do local u = s:upper(); N = N + 1 end",
	     30, 60},
	    /* 1 MB `..`: 65.5k units of memory */
	    {"local s = ('x'):rep(1 << 20)\nN = 0\nwhile true do local t = s .. 'y'; N = N + 1 end",
	     3, 8},
	    /* 60 KB of source: 60k units */
	    {"local src = ('x = 1\\n'):rep(10000)\nN = 0\nwhile true do load(src); N = N + 1 end",
	     8, 17},
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof loops / sizeof *loops; i++) {
		lua_Integer n = iterations_before_timeout(ONE_MILLION, loops[i].code);
		if (n < loops[i].least || n > loops[i].most)
			fail_msg("%s\n  ran %lld times, want %lld to %lld", loops[i].code,
			         (long long)n, (long long)loops[i].least, (long long)loops[i].most);
	}
}

/* --- the deadline --- */

static mp_sandbox *new_sandbox_deadline(uint64_t budget, uint32_t deadline_ms)
{
	mp_sandbox_opts o = {.instr_budget = budget, .deadline_ms = deadline_ms};
	char err[256] = "";
	mp_sandbox *sb = mp_sandbox_new(&o, err, sizeof err);

	if (!sb)
		fail_msg("mp_sandbox_new: %s", err);
	return sb;
}

/* Under a budget that cannot run out, only the deadline stops these, and no pcall catches it. */
static void test_deadline(void **state)
{
	static const char *const where[] = {CHUNK ":1: deadline exceeded", "(deadline 1 ms)", NULL};
	static const char *const any[] = {"deadline exceeded", NULL};
	mp_sandbox *sb = new_sandbox_deadline(UINT64_MAX / 4, 1);

	(void)state;
	assert_int_equal(mp_sandbox_deadline_ms(sb), 1);
	expect_failure(sb, "while true do end", MP_SANDBOX_DEADLINE, where);
	expect_failure(sb, "while true do pcall(function() while true do end end) end",
	               MP_SANDBOX_DEADLINE, any);
	expect_failure(sb,
	               "while true do xpcall(function() while true do end end, "
	               "function() while true do end end) end",
	               MP_SANDBOX_DEADLINE, any);
	/* the budget still counts: a short call is not stopped */
	expect_true(sb, "for i = 1, 1000 do end\nreturn true");
	assert_string_equal(mp_sandbox_status_name(MP_SANDBOX_DEADLINE), "deadline");
	/* the per-call setting: the previous one comes back to be restored */
	assert_int_equal(mp_sandbox_set_deadline(sb, 20), 1);
	assert_int_equal(mp_sandbox_deadline_ms(sb), 20);
	/* what the cost model does not see (the VM compares long strings of one length byte by
	 * byte, in one instruction): the deadline stops it */
	expect_failure(sb,
	               "local a, b = ('x'):rep(1 << 22), ('x'):rep((1 << 22) - 1) .. 'x'\n"
	               "while true do local same = a == b end",
	               MP_SANDBOX_DEADLINE, any);
	assert_int_equal(mp_sandbox_set_deadline(sb, MP_SANDBOX_NO_DEADLINE), 20);
	assert_int_equal(mp_sandbox_deadline_ms(sb), MP_SANDBOX_NO_DEADLINE);
	mp_sandbox_free(sb);
}

/* The default deadline follows the budget, from a floor of MP_SANDBOX_MIN_DEADLINE_MS, and a
 * budget that cannot run out has none. */
static void test_deadline_defaults(void **state)
{
	static const struct {
		uint64_t budget;
		uint32_t deadline_ms, want;
	} cases[] = {
	    {0, 0, 5000}, /* the default budget, 1e8 units at 50 ns */
	    {ONE_MILLION, 0, MP_SANDBOX_MIN_DEADLINE_MS},
	    {(uint64_t)1e9, 0, 50000},
	    {UINT64_MAX, 0, MP_SANDBOX_NO_DEADLINE},
	    {ONE_MILLION, 250, 250},
	    {ONE_MILLION, MP_SANDBOX_NO_DEADLINE, MP_SANDBOX_NO_DEADLINE},
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof cases / sizeof *cases; i++) {
		mp_sandbox *sb = new_sandbox_deadline(cases[i].budget, cases[i].deadline_ms);
		assert_int_equal(mp_sandbox_deadline_ms(sb), cases[i].want);
		mp_sandbox_free(sb);
	}
}

/* --- accounting --- */

static void test_accounting(void **state)
{
	mp_sandbox *sb = new_sandbox(0, SMALL_BUDGET, NULL);
	lua_State *L = mp_sandbox_lua(sb);
	char err[256] = "";
	uint64_t loop, total;

	(void)state;
	assert_int_equal(mp_sandbox_instr_budget(sb), SMALL_BUDGET);
	assert_int_equal(mp_sandbox_instructions_used(sb), 0);
	assert_int_equal(mp_sandbox_instructions_total(sb), 0);
	/* a loop of 300,000 iterations: 300,001 FORLOOPs and a few more, in steps of 1,000 */
	expect_true(sb, "for i = 1, 300000 do end\nreturn true");
	loop = mp_sandbox_instructions_used(sb);
	assert_true(loop >= 300000 && loop <= 302000);
	/* C work counts: 1e6 pieces of string.rep at 2 a unit, and nothing else to speak of */
	expect_true(sb, "return #string.rep('', 1000000) == 0");
	assert_true(mp_sandbox_instructions_used(sb) >= 500000);
	assert_true(mp_sandbox_instructions_used(sb) <= 502000);
	total = mp_sandbox_instructions_total(sb);
	assert_true(total >= loop + 500000);
	/* a refused charge is not spent; the call fails with its cost in the message, at once */
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(run(sb, "return string.rep('', 1e15)", 0, err, sizeof err),
	                 MP_SANDBOX_TIMEOUT);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	assert_non_null(strstr(err, "string.rep would cost 5e+14 units"));
	assert_true(mp_sandbox_instructions_used(sb) < 2000);
	assert_true(t1.tv_sec - t0.tv_sec < 10);
	/* outside any call, host code calls library functions without budget */
	lua_getglobal(L, "string");
	lua_getfield(L, -1, "rep");
	lua_pushliteral(L, "x");
	lua_pushinteger(L, 10);
	lua_call(L, 2, 1);
	assert_int_equal(lua_rawlen(L, -1), 10);
	lua_pop(L, 2);
	assert_still_works(sb);
	mp_sandbox_free(sb);
}

/* A bundle's files load under one budget and its `when` functions run under another, in the
 * same state: the budget changes between calls, and what the last call used stays readable. */
static void test_set_budget(void **state)
{
	mp_sandbox *sb = new_sandbox(0, 0, NULL);
	char err[256] = "";
	uint64_t used;

	(void)state;
	assert_int_equal(mp_sandbox_instr_budget(sb), MP_SANDBOX_DEFAULT_INSTR_BUDGET);
	expect_true(sb, "for i = 1, 1500000 do end\nreturn true"); /* past 1M, well under 100M */
	used = mp_sandbox_instructions_used(sb);
	assert_true(used >= 1500000 && used <= 1502000);
	assert_int_equal(mp_sandbox_set_budget(sb, 1000000), MP_SANDBOX_DEFAULT_INSTR_BUDGET);
	assert_int_equal(mp_sandbox_instructions_used(sb), used); /* the last call's, unchanged */
	assert_int_equal(mp_sandbox_instr_budget(sb), 1000000);
	assert_int_equal(run(sb, "for i = 1, 1500000 do end", 0, err, sizeof err),
	                 MP_SANDBOX_TIMEOUT);
	assert_non_null(strstr(err, "budget 1000000 instructions"));
	assert_int_equal(mp_sandbox_set_budget(sb, 0), 1000000); /* 0: the default again */
	expect_true(sb, "for i = 1, 1500000 do end\nreturn true");
	assert_still_works(sb);
	mp_sandbox_free(sb);
}

/* If a stop mechanism breaks, the runaway loops above really are infinite: fail instead of
 * hanging once the binary has used WATCHDOG_SECONDS of CPU (the suite needs well under one). */
#define WATCHDOG_SECONDS 30

static void on_watchdog(int sig)
{
	static const char msg[] = "test_sandbox: watchdog: a runaway loop was not stopped (see the "
	                          "last [ RUN ] line)\n";
	(void)sig;
	(void)!write(2, msg, sizeof msg - 1);
	_exit(1);
}

static void arm_watchdog(void)
{
	struct itimerval it = {.it_value = {.tv_sec = WATCHDOG_SECONDS}};

	signal(SIGVTALRM, on_watchdog);
	setitimer(ITIMER_VIRTUAL, &it, NULL);
}

int main(void)
{
	static const struct CMUnitTest fixed[] = {
	    cmocka_unit_test(test_set_budget),
	    cmocka_unit_test(test_allow_list),
	    cmocka_unit_test(test_readonly_libraries),
	    cmocka_unit_test(test_lazy_proxy),
	    cmocka_unit_test(test_lazy_proxy_shared),
	    cmocka_unit_test(test_lazy_proxy_many_names),
	    cmocka_unit_test(test_gc_headroom),
	    cmocka_unit_test(test_load),
	    cmocka_unit_test(test_binary_chunk),
	    cmocka_unit_test(test_require),
	    cmocka_unit_test(test_budget_resets_per_call),
	    cmocka_unit_test(test_nested_calls),
	    cmocka_unit_test(test_pcall_function),
	    cmocka_unit_test(test_interrupt_from_signal),
	    cmocka_unit_test(test_interrupt_watched_flag),
	    cmocka_unit_test(test_interrupt_pending),
	    cmocka_unit_test(test_memory_accounting),
	    cmocka_unit_test(test_new_limits),
	    cmocka_unit_test(test_allocation_failures),
	    cmocka_unit_test(test_push_env),
	    cmocka_unit_test(test_pattern_results),
	    cmocka_unit_test(test_pattern_refusal_is_fast),
	    cmocka_unit_test(test_library_results),
	    cmocka_unit_test(test_c_work_is_counted),
	    cmocka_unit_test(test_deadline),
	    cmocka_unit_test(test_deadline_defaults),
	    cmocka_unit_test(test_accounting),
	};
	enum { NFIXED = sizeof fixed / sizeof *fixed, NREF = sizeof refusals / sizeof *refusals };
	struct CMUnitTest tests[NFIXED + NREF];
	size_t i;

	setvbuf(stdout, NULL, _IONBF, 0); /* progress survives the watchdog's _exit */
	arm_watchdog();
	memcpy(tests, fixed, sizeof fixed);
	for (i = 0; i < NREF; i++)
		tests[NFIXED + i] = (struct CMUnitTest){.name = refusals[i].name,
		                                        .test_func = test_refusal,
		                                        .initial_state = (void *)&refusals[i]};
	return _cmocka_run_group_tests("sandbox", tests, NFIXED + NREF, NULL, NULL);
}
