/* luacost.c: the cost model of the sandbox's C functions, one row each (the contract: luacost.h;
 * the table explained and its ratios measured: sandbox.h and docs/architecture.md). Each cost
 * follows what the function of Lua 5.4's own library does with its arguments (lstrlib.c,
 * ltablib.c, lutf8lib.c, lbaselib.c), so that the charge is at least its work, whatever the
 * arguments; a charge errs on the side of too much. */
#include "luacost.h"

#include <lauxlib.h>
#include <math.h>
#include <string.h>

/* --- reading arguments without raising --- */

/* The length of argument i if it is a string; a number, converted, is short. */
static double str_len(lua_State *L, int i)
{
	return lua_type(L, i) == LUA_TSTRING ? (double)lua_rawlen(L, i) : 0;
}

/* Argument i as an integer, or dflt if it is absent or not one (the original raises then). */
static double int_arg(lua_State *L, int i, double dflt)
{
	int ok = 0;
	lua_Integer v;

	if (lua_isnoneornil(L, i))
		return dflt;
	v = lua_tointegerx(L, i, &ok);
	return ok ? (double)v : dflt;
}

/* The length the table functions read with luaL_len: __len runs (once more than in stock Lua)
 * only for a table that has one; anything else that is not a table or a string costs nothing
 * here, and the original raises its argument error. */
static double table_len(lua_State *L, int i)
{
	switch (lua_type(L, i)) {
	case LUA_TTABLE:
		if (luaL_getmetafield(L, i, "__len") == LUA_TNIL)
			return (double)lua_rawlen(L, i);
		lua_pop(L, 1);
		return (double)luaL_len(L, i);
	case LUA_TSTRING:
		return (double)lua_rawlen(L, i);
	default:
		return 0;
	}
}

/* lstrlib's posrelatI and getendpos: a start and an end offset (1-based) in a string of len. */
static double start_pos(double pos, double len)
{
	if (pos > 0)
		return pos;
	if (pos == 0 || pos < -len)
		return 1;
	return len + pos + 1;
}

static double end_pos(double pos, double len)
{
	if (pos > len)
		return len;
	if (pos >= 0)
		return pos;
	if (pos < -len)
		return 0;
	return len + pos + 1;
}

/* lutf8lib's u_posrelat. */
static double utf8_pos(double pos, double len)
{
	if (pos >= 0)
		return pos;
	if (-pos > len)
		return 0;
	return len + pos + 1;
}

static double span(double from, double to)
{
	return to >= from ? to - from + 1 : 0;
}

/* Values a function pushes: beyond what a stack can hold (LUAI_MAXSTACK, a million slots) the
 * original refuses at once ("too many results", "string slice too long"), so they cost nothing. */
static double pushed(double n)
{
	return n < 1000000 ? n * MP_LUACOST_VALUE_UNITS : 0;
}

static double args_after(lua_State *L, int first)
{
	int n = lua_gettop(L) - first + 1;

	return n > 0 ? n : 0;
}

/* --- the string library --- */

static double cost_str_byte(lua_State *L)
{
	double l = str_len(L, 1), i = start_pos(int_arg(L, 2, 1), l);

	return pushed(span(i, end_pos(int_arg(L, 3, i), l)));
}

static double cost_values(lua_State *L)
{
	return args_after(L, 1) * MP_LUACOST_VALUE_UNITS;
}

/* string.format: each byte of the format can make a few hundred bytes ("%99d" 99, "%.99f" of
 * 1e308 400); string arguments are copied, or quoted byte by byte with %q. */
static double cost_str_format(lua_State *L)
{
	size_t lf = 0, i;
	const char *f = lua_type(L, 1) == LUA_TSTRING ? lua_tolstring(L, 1, &lf) : "";
	double bytes = 0, per = MP_LUACOST_COPY_BYTES;
	int n = lua_gettop(L), a;

	for (i = 0; i + 1 < lf; i++)
		if (f[i] == '%' && f[i + 1] == 'q')
			per = MP_LUACOST_DECODE_BYTES;
	for (a = 2; a <= n; a++)
		bytes += str_len(L, a);
	return (double)lf * MP_LUACOST_FORMAT_UNITS + bytes / per +
	       (n - 1) * MP_LUACOST_VALUE_UNITS;
}

static double cost_str_scan(lua_State *L)
{
	return str_len(L, 1) / MP_LUACOST_SCAN_BYTES;
}

/* string.rep(s, n, sep): a piece is a memcpy however short, so string.rep("", 1e15) costs its
 * repetitions, not its (empty) result. */
static double cost_str_rep(lua_State *L)
{
	double l = str_len(L, 1), n = int_arg(L, 2, 0), lsep = str_len(L, 3);

	if (n <= 0)
		return 0;
	return n * (lsep > 0 ? 2 : 1) / MP_LUACOST_REP_PIECES +
	       (n * l + (n - 1) * lsep) / MP_LUACOST_COPY_BYTES;
}

static double result_str_rep(lua_State *L)
{
	double l = str_len(L, 1), n = int_arg(L, 2, 0), lsep = str_len(L, 3);

	return n > 0 ? n * l + (n - 1) * lsep : 0;
}

static double cost_str_sub(lua_State *L)
{
	double l = str_len(L, 1);

	return span(start_pos(int_arg(L, 2, 1), l), end_pos(int_arg(L, 3, -1), l)) /
	       MP_LUACOST_COPY_BYTES;
}

/* The sizes in a pack format: "c1000000" pads a million bytes, "i16" writes 16. Every digit run
 * counts as that many bytes, every other option as 16, conservatively. */
static double pack_format_bytes(lua_State *L, int i)
{
	size_t lf = 0, k;
	const char *f = lua_type(L, i) == LUA_TSTRING ? lua_tolstring(L, i, &lf) : "";
	double bytes = 0, num = 0;

	for (k = 0; k < lf; k++) {
		if (f[k] >= '0' && f[k] <= '9') {
			num = num * 10 + (f[k] - '0');
			continue;
		}
		bytes += num + 16;
		num = 0;
	}
	return bytes + num;
}

static double cost_str_pack(lua_State *L)
{
	double strings = 0;
	int n = lua_gettop(L), a;

	for (a = 2; a <= n; a++)
		strings += str_len(L, a);
	return pack_format_bytes(L, 1) / MP_LUACOST_DECODE_BYTES + strings / MP_LUACOST_COPY_BYTES +
	       (n - 1) * MP_LUACOST_VALUE_UNITS;
}

static double cost_str_packsize(lua_State *L)
{
	return str_len(L, 1) / MP_LUACOST_SCAN_BYTES;
}

/* string.unpack(fmt, s [, pos]): the data it reads is in s ("z" scans it for a zero); a value
 * per option of the format. */
static double cost_str_unpack(lua_State *L)
{
	return str_len(L, 1) * MP_LUACOST_VALUE_UNITS + str_len(L, 2) / MP_LUACOST_DECODE_BYTES;
}

/* --- the table library --- */

/* concat(t, sep, i, j): an element read and appended, and a separator, for each of i..j. */
static double cost_tab_concat(lua_State *L)
{
	double last = lua_isnoneornil(L, 4) ? table_len(L, 1) : int_arg(L, 4, 0);
	double n = span(int_arg(L, 3, 1), last);

	return n * (MP_LUACOST_ELEM_UNITS + str_len(L, 2) / MP_LUACOST_COPY_BYTES);
}

/* insert(t, [pos,] v): the elements from pos up move one place. */
static double cost_tab_insert(lua_State *L)
{
	double e = table_len(L, 1) + 1;

	if (lua_gettop(L) != 3)
		return MP_LUACOST_ELEM_UNITS;
	return (span(int_arg(L, 2, e), e)) * MP_LUACOST_ELEM_UNITS;
}

/* remove(t [, pos]): the elements after pos move down one place. */
static double cost_tab_remove(lua_State *L)
{
	double size = table_len(L, 1);

	return (span(int_arg(L, 2, size), size) + 1) * MP_LUACOST_ELEM_UNITS;
}

/* move(a1, f, e, t [, a2]): e - f + 1 elements, charged before the first moves: a range of
 * 1e15 is refused at once instead of running for days. The ranges the original refuses (with
 * its overflow checks) cost nothing. */
static double cost_tab_move(lua_State *L)
{
	int okf = 0, oke = 0, okt = 0;
	lua_Integer f = lua_tointegerx(L, 2, &okf), e = lua_tointegerx(L, 3, &oke),
	            t = lua_tointegerx(L, 4, &okt);

	if (!okf || !oke || !okt || e < f || (f <= 0 && e >= LUA_MAXINTEGER + f))
		return 0;
	if (t > LUA_MAXINTEGER - (e - f)) /* the destination wraps around */
		return 0;
	return ((double)e - (double)f + 1) * MP_LUACOST_ELEM_UNITS;
}

static double cost_tab_pack(lua_State *L)
{
	return args_after(L, 1) * MP_LUACOST_ELEM_UNITS;
}

static double cost_tab_unpack(lua_State *L)
{
	double e = lua_isnoneornil(L, 3) ? table_len(L, 1) : int_arg(L, 3, 0);

	return pushed(span(int_arg(L, 2, 1), e));
}

/* sort: about n*log2(n) comparisons and swaps in C; a comparator written in Lua is counted by
 * the instruction hook besides. */
static double cost_tab_sort(lua_State *L)
{
	double n = table_len(L, 1);

	return n > 1 && n < 2147483647.0 ? n * log2(n) * MP_LUACOST_SORT_UNITS : 0;
}

/* --- the base library --- */

/* print: every argument converted and written. */
static double cost_print(lua_State *L)
{
	double bytes = 0;
	int n = lua_gettop(L), a;

	for (a = 1; a <= n; a++)
		bytes += str_len(L, a);
	return bytes / MP_LUACOST_COPY_BYTES + n * MP_LUACOST_VALUE_UNITS;
}

/* rawequal of two long strings of one length compares their bytes. */
static double cost_rawequal(lua_State *L)
{
	double a = str_len(L, 1);

	return a == str_len(L, 2) ? a / MP_LUACOST_COPY_BYTES : 0;
}

/* select(n, ...): the values it returns ('#' returns a count). */
static double cost_select(lua_State *L)
{
	double n = int_arg(L, 1, 0), args = args_after(L, 2);

	if (lua_type(L, 1) == LUA_TSTRING && *lua_tostring(L, 1) == '#')
		return 0; /* a count (or an error) */
	if (n < 0)
		return -n < args ? -n : args;
	return n <= args ? args - n + 1 : 0;
}

/* tonumber(s [, base]): the digits, scanned (strtod) or decoded one by one in a base. */
static double cost_tonumber(lua_State *L)
{
	return str_len(L, 1) /
	       (lua_isnoneornil(L, 2) ? MP_LUACOST_SCAN_BYTES : MP_LUACOST_DECODE_BYTES);
}

/* --- utf8 --- */

static double cost_utf8_len(lua_State *L)
{
	double l = str_len(L, 1);

	return span(utf8_pos(int_arg(L, 2, 1), l), utf8_pos(int_arg(L, 3, -1), l)) /
	       MP_LUACOST_DECODE_BYTES;
}

static double cost_utf8_codepoint(lua_State *L)
{
	double l = str_len(L, 1), i = utf8_pos(int_arg(L, 2, 1), l);

	double n = span(i, utf8_pos(int_arg(L, 3, i), l));

	return pushed(n) + n / MP_LUACOST_DECODE_BYTES;
}

/* --- os --- */

static double cost_os_date(lua_State *L)
{
	return str_len(L, 1) * MP_LUACOST_FORMAT_UNITS;
}

/* clang-format off */
const mp_luacost_row mp_luacost_rows[] = {
    /* base: assert, error, getmetatable, ipairs, next, pairs, pcall, rawget, rawlen, rawset,
     * setmetatable, tostring, type, xpcall, collectgarbage: O(1), no row; load and require:
     * charged by the sandbox per byte of source */
    {"_G", "print", ".*", cost_print, NULL},
    {"_G", "rawequal", "..", cost_rawequal, NULL},
    {"_G", "select", "n.*", cost_select, NULL},
    {"_G", "tonumber", ".n", cost_tonumber, NULL},
    {"_G", "warn", ".*", cost_values, NULL},
    {"_G", "assert", ".*", cost_values, NULL},
    /* string: find, match, gmatch, gsub are the sandbox's pattern wrappers, charged there */
    {"string", "byte", ".nn", cost_str_byte, NULL},
    {"string", "char", "n*", cost_values, NULL},
    {"string", "format", ".*", cost_str_format, NULL},
    {"string", "len", ".", NULL, NULL},
    {"string", "lower", ".", cost_str_scan, NULL},
    {"string", "upper", ".", cost_str_scan, NULL},
    {"string", "reverse", ".", cost_str_scan, NULL},
    {"string", "rep", ".n.", cost_str_rep, result_str_rep},
    {"string", "sub", ".nn", cost_str_sub, NULL},
    {"string", "pack", ".*", cost_str_pack, NULL},
    {"string", "packsize", ".", cost_str_packsize, NULL},
    {"string", "unpack", "..n", cost_str_unpack, NULL},
    /* arithmetic on strings ("10" + 1) converts them */
    {"string.mt", "__add", "nn", NULL, NULL},
    {"string.mt", "__sub", "nn", NULL, NULL},
    {"string.mt", "__mul", "nn", NULL, NULL},
    {"string.mt", "__div", "nn", NULL, NULL},
    {"string.mt", "__mod", "nn", NULL, NULL},
    {"string.mt", "__pow", "nn", NULL, NULL},
    {"string.mt", "__idiv", "nn", NULL, NULL},
    {"string.mt", "__unm", "nn", NULL, NULL},
    {"table", "concat", "..nn", cost_tab_concat, NULL},
    {"table", "insert", ".n.", cost_tab_insert, NULL},
    {"table", "remove", ".n", cost_tab_remove, NULL},
    {"table", "move", ".nnn.", cost_tab_move, NULL},
    {"table", "pack", ".*", cost_tab_pack, NULL},
    {"table", "unpack", ".nn", cost_tab_unpack, NULL},
    {"table", "sort", "..", cost_tab_sort, NULL},
    {"utf8", "char", "n*", cost_values, NULL},
    {"utf8", "codepoint", ".nn", cost_utf8_codepoint, NULL},
    {"utf8", "len", ".nn.", cost_utf8_len, NULL},
    {"utf8", "offset", ".nn", cost_str_scan, NULL},
    {"utf8", "codes", ".", NULL, NULL},
    /* math: all O(1) but for the conversion of string arguments; max and min take any number;
     * random and randomseed (closures over the generator) convert short numbers only */
    {"math", "abs", "n", NULL, NULL},      {"math", "ceil", "n", NULL, NULL},
    {"math", "floor", "n", NULL, NULL},    {"math", "sqrt", "n", NULL, NULL},
    {"math", "sin", "n", NULL, NULL},      {"math", "cos", "n", NULL, NULL},
    {"math", "tan", "n", NULL, NULL},      {"math", "asin", "n", NULL, NULL},
    {"math", "acos", "n", NULL, NULL},     {"math", "atan", "nn", NULL, NULL},
    {"math", "exp", "n", NULL, NULL},      {"math", "log", "nn", NULL, NULL},
    {"math", "deg", "n", NULL, NULL},      {"math", "rad", "n", NULL, NULL},
    {"math", "fmod", "nn", NULL, NULL},    {"math", "modf", "n", NULL, NULL},
    {"math", "ult", "nn", NULL, NULL},     {"math", "tointeger", "n", NULL, NULL},
    {"math", "max", "n*", cost_values, NULL}, {"math", "min", "n*", cost_values, NULL},
    {"os", "date", ".n", cost_os_date, NULL},
    {"os", "time", ".", NULL, NULL},
    {NULL, NULL, NULL, NULL, NULL},
};
/* clang-format on */

double mp_luacost_of(lua_State *L, const mp_luacost_row *row)
{
	const char *a = row->args;
	char letter = '.';
	double cost = 0;
	int top = lua_gettop(L), i;

	for (i = 1; i <= top; i++) {
		if (*a && *a != '*')
			letter = *a++;
		else if (!*a)
			letter = '.';
		if (letter == 'n' && lua_type(L, i) == LUA_TSTRING)
			cost += (double)lua_rawlen(L, i) / MP_LUACOST_SCAN_BYTES;
	}
	return row->cost ? cost + row->cost(L) : cost;
}

double mp_luacost_load(size_t len)
{
	return (double)len * MP_LUACOST_LOAD_UNITS;
}

double mp_luacost_scan(size_t len)
{
	return (double)len / MP_LUACOST_SCAN_BYTES;
}

double mp_luacost_alloc(size_t grow, int new_block)
{
	return (double)grow / MP_LUACOST_ALLOC_BYTES + (new_block ? MP_LUACOST_ALLOC_BLOCK : 0);
}

uint64_t mp_luacost_units(double cost)
{
	if (!(cost < 18446744073709551615.0)) /* NaN too */
		return UINT64_MAX;
	return cost > 0 ? (uint64_t)cost : 0;
}
