/* luaeval.c: the shell's Lua side: evaluating chunks, printing values as indented tables, the
 * DSL recorder, `decide`, `bundle`, and completion of globals and fields (see luaeval.h). */
#include "luaeval.h"
#include "alloc.h"
#include "ask.h"
#include "luajson.h"
#include "luamodel.h"
#include "policy.h"
#include "ptest.h"

#include <ctype.h>
#include <lauxlib.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define DECLARED_KEY "meshpol.repl.declared" /* registry: what the running chunk declared */
#define MESH_KEY     "meshpol.repl.mesh"     /* registry: the `mesh` object, for completion */
#define CHUNKNAME    "stdin"

#define INLINE_WIDTH 76  /* a table prints on one line when it fits */
#define MAX_ITEMS    200 /* entries printed per table */
#define MAX_DEPTH    12  /* nesting printed */
#define MAX_COMPLETE 5000

struct mp_rlua {
	mp_shell *sh;
	mp_engine *engine; /* retained: the model `mesh` shows */
	mp_sandbox *sb;
	mp_snap_decl *decls; /* what the last chunk declared */
	uint32_t ndecls;
};

/* The DSL's words as the shell runs them: they check the form (a name, then a table) and
 * record what was declared; the shell then adds the chunk to the session, whose rebuild runs
 * the real DSL (stdlib/meshpol/dsl.lua) and validates every field. */
static const char recorder[] =
    "local declared = ...\n"
    "local function declare(word)\n"
    "  return function(name)\n"
    "    if type(name) ~= 'string' then\n"
    "      error(word .. ': expected a name in quotes, as in ' .. word .. ' \"name\" { ... }', 2)\n"
    "    end\n"
    "    local d = { word, name, false }\n"
    "    declared[#declared + 1] = d\n"
    "    return function(spec)\n"
    "      if type(spec) ~= 'table' then\n"
    "        error(word .. \" '\" .. name .. \"': expected a table of fields after the name\", 2)\n"
    "      end\n"
    "      d[3] = true\n"
    "    end\n"
    "  end\n"
    "end\n"
    "for _, w in ipairs { 'policy', 'deny', 'residency', 'require_mtls', 'declared_routes_only',\n"
    "                    'role', 'bind', 'check' } do\n"
    "  _ENV[w] = declare(w)\n"
    "end\n"
    "local allow_rule = declare('allow')\n"
    "function allow(x)\n"
    "  if type(x) == 'table' then return { role_entry = true, spec = x } end\n"
    "  return allow_rule(x)\n"
    "end\n";

/* --- printing values --- */

static int is_identifier(const char *s)
{
	static const char *const keywords[] = {
	    "and",      "break",  "do",   "else", "elseif", "end",   "false", "for",
	    "function", "goto",   "if",   "in",   "local",  "nil",   "not",   "or",
	    "repeat",   "return", "then", "true", "until",  "while", NULL,
	};
	if (!(isalpha((unsigned char)*s) || *s == '_'))
		return 0;
	for (const char *p = s; *p; p++)
		if (!(isalnum((unsigned char)*p) || *p == '_'))
			return 0;
	for (const char *const *k = keywords; *k; k++)
		if (!strcmp(*k, s))
			return 0;
	return 1;
}

static void add_quoted(luaL_Buffer *b, const char *s, size_t len)
{
	luaL_addchar(b, '"');
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		char esc[8];
		switch (c) {
		case '"':
			luaL_addstring(b, "\\\"");
			break;
		case '\\':
			luaL_addstring(b, "\\\\");
			break;
		case '\n':
			luaL_addstring(b, "\\n");
			break;
		case '\t':
			luaL_addstring(b, "\\t");
			break;
		case '\r':
			luaL_addstring(b, "\\r");
			break;
		default:
			if (c < 32 || c == 127) {
				snprintf(esc, sizeof(esc), "\\%u", c);
				luaL_addstring(b, esc);
			} else {
				luaL_addchar(b, (char)c);
			}
		}
	}
	luaL_addchar(b, '"');
}

static void push_quoted(lua_State *L, int idx)
{
	size_t len;
	const char *s = lua_tolstring(L, idx, &len);
	luaL_Buffer b;
	luaL_buffinit(L, &b);
	add_quoted(&b, s, len);
	luaL_pushresult(&b);
}

typedef struct {
	int rank; /* numbers, strings, booleans, the rest */
	lua_Number num;
	const char *str;
	int pos; /* the key's position in the entries table */
} sortkey;

static int cmp_keys(const void *a, const void *b)
{
	const sortkey *x = a, *y = b;
	if (x->rank != y->rank)
		return x->rank - y->rank;
	if (x->rank == 0)
		return x->num < y->num ? -1 : x->num > y->num;
	if (x->str && y->str)
		return strcmp(x->str, y->str);
	return x->pos - y->pos;
}

static void render(lua_State *L, int idx, int indent, int depth, int seen);

/* Pushes "key = " for the key at idx (empty for array items). */
static void push_key(lua_State *L, int idx)
{
	if (lua_type(L, idx) == LUA_TSTRING && is_identifier(lua_tostring(L, idx))) {
		lua_pushfstring(L, "%s = ", lua_tostring(L, idx));
	} else if (lua_type(L, idx) == LUA_TSTRING) {
		push_quoted(L, idx);
		lua_pushfstring(L, "[%s] = ", lua_tostring(L, -1));
		lua_remove(L, -2);
	} else if (lua_type(L, idx) == LUA_TNUMBER || lua_type(L, idx) == LUA_TBOOLEAN) {
		lua_pushfstring(L, "[%s] = ", luaL_tolstring(L, idx, NULL));
		lua_remove(L, -2);
	} else {
		lua_pushfstring(L, "[<%s>] = ", luaL_typename(L, idx));
	}
}

/* Collects the entries of the table or collection at idx into a new table {k1, v1, k2, v2, ...}
 * (through __pairs when it has one: read-only tables and the model's collections do). */
static int collect(lua_State *L, int idx)
{
	int n = 0;
	lua_newtable(L);
	int out = lua_gettop(L);
	if (luaL_getmetafield(L, idx, "__pairs") != LUA_TNIL) {
		lua_pushvalue(L, idx);
		lua_call(L, 1, 3);
		for (;;) {
			lua_pushvalue(L, -3);
			lua_pushvalue(L, -3);
			lua_pushvalue(L, -3);
			lua_call(L, 2, 2);
			if (lua_isnil(L, -2)) {
				lua_pop(L, 2);
				break;
			}
			lua_pushvalue(L, -2);
			lua_rawseti(L, out, ++n);
			lua_rawseti(L, out, ++n);
			lua_replace(L, -2); /* the control variable */
		}
		lua_pop(L, 3);
	} else if (lua_type(L, idx) == LUA_TTABLE) {
		lua_pushnil(L);
		while (lua_next(L, idx)) {
			lua_pushvalue(L, -2);
			lua_rawseti(L, out, ++n);
			lua_rawseti(L, out, ++n);
		}
	}
	return n / 2;
}

/* Pushes the rendering of the table (or collection) at idx. */
static void render_table(lua_State *L, int idx, int indent, int depth, int seen)
{
	lua_pushvalue(L, idx);
	if (lua_rawget(L, seen) != LUA_TNIL) {
		lua_pop(L, 1);
		lua_pushliteral(L, "<cycle>");
		return;
	}
	lua_pop(L, 1);
	if (depth >= MAX_DEPTH) {
		lua_pushliteral(L, "{...}");
		return;
	}
	lua_pushvalue(L, idx);
	lua_pushboolean(L, 1);
	lua_rawset(L, seen);

	int n = collect(L, idx);
	int entries = lua_gettop(L);
	/* the array part: keys 1..m, whatever order they came in */
	lua_newtable(L);
	int bykey = lua_gettop(L);
	for (int i = 1; i <= n; i++) {
		lua_rawgeti(L, entries, 2 * i - 1);
		lua_pushinteger(L, i);
		lua_rawset(L, bykey);
	}
	int m = 0;
	while (m < n) {
		int t = lua_rawgeti(L, bykey, m + 1);
		lua_pop(L, 1);
		if (t == LUA_TNIL)
			break;
		m++;
	}
	/* the other keys, sorted */
	sortkey *keys = lua_newuserdatauv(L, sizeof(sortkey) * (size_t)(n + 1), 0);
	int nkeys = 0;
	for (int i = 1; i <= n; i++) {
		lua_rawgeti(L, entries, 2 * i - 1);
		int t = lua_type(L, -1);
		if (t == LUA_TNUMBER && lua_isinteger(L, -1) && lua_tointeger(L, -1) >= 1 &&
		    lua_tointeger(L, -1) <= m) {
			lua_pop(L, 1);
			continue;
		}
		sortkey *k = &keys[nkeys++];
		k->rank = t == LUA_TNUMBER ? 0 : t == LUA_TSTRING ? 1 : t == LUA_TBOOLEAN ? 2 : 3;
		k->num = t == LUA_TNUMBER    ? lua_tonumber(L, -1)
		         : t == LUA_TBOOLEAN ? lua_toboolean(L, -1)
		                             : 0;
		k->str =
		    t == LUA_TSTRING ? lua_tostring(L, -1) : NULL; /* the entries table keeps it */
		k->pos = i;
		lua_pop(L, 1);
	}
	qsort(keys, (size_t)nkeys, sizeof(sortkey), cmp_keys);

	lua_newtable(L);
	int items = lua_gettop(L), nitems = 0;
	size_t width = 0;
	int multiline = 0;
	for (int i = 0; i < m + nkeys && nitems < MAX_ITEMS; i++) {
		int pos;
		if (i < m) {
			lua_rawgeti(L, bykey, i + 1);
			pos = (int)lua_tointeger(L, -1);
			lua_pop(L, 1);
			lua_pushliteral(L, "");
		} else {
			pos = keys[i - m].pos;
			lua_rawgeti(L, entries, 2 * pos - 1);
			push_key(L, lua_gettop(L));
			lua_remove(L, -2);
		}
		lua_rawgeti(L, entries, 2 * pos);
		render(L, lua_gettop(L), indent + 2, depth + 1, seen);
		lua_remove(L, -2);
		lua_concat(L, 2);
		size_t len;
		const char *s = lua_tolstring(L, -1, &len);
		multiline |= strchr(s, '\n') != NULL;
		width += len + 2;
		lua_rawseti(L, items, ++nitems);
	}
	if (m + nkeys > nitems) {
		lua_pushfstring(L, "-- %d more", m + nkeys - nitems);
		lua_rawseti(L, items, ++nitems);
		multiline = 1;
	}
	luaL_Buffer b;
	if (!nitems) {
		lua_pushliteral(L, "{}");
	} else if (!multiline && (size_t)indent + width + 4 <= INLINE_WIDTH) {
		luaL_buffinit(L, &b);
		luaL_addstring(&b, "{ ");
		for (int i = 1; i <= nitems; i++) {
			lua_rawgeti(L, items, i);
			luaL_addvalue(&b);
			luaL_addstring(&b, i < nitems ? ", " : " }");
		}
		luaL_pushresult(&b);
	} else {
		luaL_buffinit(L, &b);
		luaL_addstring(&b, "{\n");
		for (int i = 1; i <= nitems; i++) {
			for (int k = 0; k < indent + 2; k++)
				luaL_addchar(&b, ' ');
			lua_rawgeti(L, items, i);
			int comment = !strncmp(lua_tostring(L, -1), "--", 2);
			luaL_addvalue(&b);
			luaL_addstring(&b, comment ? "\n" : ",\n");
		}
		for (int k = 0; k < indent; k++)
			luaL_addchar(&b, ' ');
		luaL_addchar(&b, '}');
		luaL_pushresult(&b);
	}
	lua_replace(L, entries); /* the result takes the place of the scratch values */
	lua_settop(L, entries);
	lua_pushvalue(L, idx);
	lua_pushnil(L);
	lua_rawset(L, seen);
}

/* Pushes a readable rendering of the value at idx: strings quoted, tables indented, elements
 * of the model (and anything with __tostring) through tostring. */
static void render(lua_State *L, int idx, int indent, int depth, int seen)
{
	luaL_checkstack(L, 16, "nested too deep to print");
	switch (lua_type(L, idx)) {
	case LUA_TSTRING:
		push_quoted(L, idx);
		return;
	case LUA_TNIL:
	case LUA_TBOOLEAN:
	case LUA_TNUMBER:
		luaL_tolstring(L, idx, NULL);
		return;
	case LUA_TFUNCTION: {
		lua_Debug ar;
		lua_pushvalue(L, idx);
		lua_getinfo(L, ">S", &ar);
		if (ar.what[0] == 'C')
			lua_pushliteral(L, "<builtin function>");
		else
			lua_pushfstring(L, "<function %s:%d>", ar.short_src, ar.linedefined);
		return;
	}
	case LUA_TTABLE:
	case LUA_TUSERDATA:
		if (luaL_getmetafield(L, idx, "__tostring") != LUA_TNIL) {
			lua_pop(L, 1);
			luaL_tolstring(L, idx, NULL);
			return;
		}
		if (lua_type(L, idx) == LUA_TTABLE ||
		    luaL_getmetafield(L, idx, "__pairs") != LUA_TNIL) {
			if (lua_type(L, idx) != LUA_TTABLE)
				lua_pop(L, 1);
			render_table(L, idx, indent, depth, seen);
			return;
		}
		lua_pushliteral(L, "<userdata>");
		return;
	default:
		lua_pushfstring(L, "<%s>", luaL_typename(L, idx));
	}
}

/* render_all(v1, ..., vn): the values as lua.c would show them, tables indented: one string. */
static int render_all(lua_State *L)
{
	int n = lua_gettop(L), multiline = 0;
	lua_newtable(L);
	int seen = lua_gettop(L);
	for (int i = 1; i <= n; i++) {
		if (lua_type(L, i) == LUA_TSTRING)
			lua_pushvalue(L, i); /* a string prints as itself, as print() would */
		else
			render(L, i, 0, 0, seen);
		multiline |= strchr(lua_tostring(L, -1), '\n') != NULL;
	}
	luaL_Buffer b;
	luaL_buffinit(L, &b);
	for (int i = 1; i <= n; i++) {
		lua_pushvalue(L, seen + i);
		luaL_addvalue(&b);
		if (i < n)
			luaL_addchar(&b, multiline ? '\n' : '\t');
	}
	luaL_pushresult(&b);
	return 1;
}

/* --- `bundle`: what the loaded bundle declares --- */

static void set_str(lua_State *L, const char *k, const char *v)
{
	if (!v)
		return;
	lua_pushstring(L, v);
	lua_setfield(L, -2, k);
}

static int build_bundle(lua_State *L)
{
	const mp_shell *sh = lua_touserdata(L, 1);
	const mp_bundle *b = sh->engine ? sh->engine->bundle : NULL;
	static const char *const types[] = {"allow", "deny", "residency", "require_mtls",
	                                    "declared_routes_only"};
	if (!b) {
		lua_pushnil(L);
		lua_setglobal(L, "bundle");
		return 0;
	}
	lua_createtable(L, 0, 8);
	set_str(L, "name", b->name);
	set_str(L, "revision", b->revision);
	set_str(L, "sha256", b->sha256);
	set_str(L, "dir", sh->bundle_dir);
	set_str(L, "default", b->default_decision == MP_DEFAULT_ALLOW ? "allow" : "deny");
	lua_createtable(L, (int)b->npolicies, 0);
	for (uint32_t i = 0; i < b->npolicies; i++) {
		const mp_policy *p = &b->policies[i];
		lua_createtable(L, 0, 8);
		set_str(L, "name", p->name);
		set_str(L, "version", p->version);
		set_str(L, "kind", p->kind);
		set_str(L, "enforcement", mp_enforcement_name(p->enforcement));
		set_str(L, "severity", mp_severity_name(p->severity));
		set_str(L, "description", p->description);
		set_str(L, "loc", p->loc);
		lua_pushboolean(L, (int)p->enabled);
		lua_setfield(L, -2, "enabled");
		lua_rawseti(L, -2, (lua_Integer)i + 1);
	}
	lua_setfield(L, -2, "policies");
	lua_createtable(L, (int)b->nrules, 0);
	for (uint32_t i = 0; i < b->nrules; i++) {
		const mp_rule *r = &b->rules[i];
		lua_createtable(L, 0, 8);
		set_str(L, "policy", b->policies[r->policy].name);
		set_str(L, "name", r->name);
		set_str(L, "type", r->type < 5 ? types[r->type] : "?");
		set_str(L, "message", r->message);
		set_str(L, "loc", r->loc);
		set_str(L, "via", r->via);
		lua_rawseti(L, -2, (lua_Integer)i + 1);
	}
	lua_setfield(L, -2, "rules");
	lua_setglobal(L, "bundle");
	return 0;
}

void mp_rlua_refresh(mp_rlua *lu)
{
	lua_State *L = mp_sandbox_lua(lu->sb);
	char err[512];
	lua_pushcfunction(L, build_bundle);
	lua_pushlightuserdata(L, lu->sh);
	mp_sandbox_pcall(lu->sb, 1, 0, err, sizeof(err)); /* sets the global `bundle` */
}

/* --- decide { from = ..., to = ..., method = ..., path = ... } or decide "SRC -> DST ..." --- */

static void copy_field(lua_State *L, int t, const char *from, json_t *obj, const char *to)
{
	if (lua_getfield(L, t, from) == LUA_TSTRING)
		json_object_set_new(obj, to, json_string(lua_tostring(L, -1)));
	else if (!lua_isnil(L, -1))
		luaL_error(L, "decide: '%s' must be a string", from);
	lua_pop(L, 1);
}

/* The keys of decide's table (docs/repl.md): the test runner's request keys (from .. ip), input
 * (a whole decision input, which replaces them) and explain. */
static const char *const decide_keys[] = {"from",    "to", "method", "path",    "port",
                                          "headers", "ip", "input",  "explain", NULL};
#define REQUEST_KEYS 0x7fu /* the bits of from .. ip */
#define INPUT_KEY    0x80u

/* Raises for a key of the table at idx that decide does not take, naming the nearest one. */
static void check_decide_keys(lua_State *L, int idx)
{
	uint32_t seen = mp_ptest_check_keys(L, idx, decide_keys, "decide");
	if ((seen & INPUT_KEY) && (seen & REQUEST_KEYS))
		luaL_error(L, "decide: 'input' is a whole decision input: give either it or from, "
		              "to, method, path, port, headers and ip");
}

/* Builds the decision input from the test-style table at idx into *box (see docs/repl.md). */
static void input_from_table(lua_State *L, int idx, const mp_model *m, json_t **box)
{
	check_decide_keys(L, idx);
	if (lua_getfield(L, idx, "input") == LUA_TTABLE) {
		*box = mp_luajson_from(L, -1);
		lua_pop(L, 1);
		return;
	}
	lua_pop(L, 1);
	json_t *in = *box = json_object(), *src = json_object(), *dst = json_object(),
	       *req = json_object(), *hdrs = json_object();
	json_object_set_new(in, "source", src);
	json_object_set_new(in, "destination", dst);
	json_object_set_new(in, "request", req);
	json_object_set_new(req, "headers", hdrs);
	if (!in || !src || !dst || !req || !hdrs)
		luaL_error(L, "decide: out of memory");
	if (lua_getfield(L, idx, "from") == LUA_TSTRING) {
		const char *from = lua_tostring(L, -1);
		mp_model_view v = mp_model_get_view(m);
		mp_id s = strncmp(from, "spiffe://", 9) ? mp_model_find_service(m, from) : MP_NONE;
		if (!strncmp(from, "spiffe://", 9)) {
			json_object_set_new(src, "principal", json_string(from));
		} else if (s == MP_NONE) {
			luaL_error(L,
			           "decide: from: no service '%s' in the model (give a SPIFFE ID "
			           "or a service)",
			           from);
		} else {
			if (v.services[s].identity)
				json_object_set_new(
				    src, "principal",
				    json_string(mp_model_str(m, v.services[s].identity)));
			json_object_set_new(src, "service",
			                    json_string(mp_model_str(m, v.services[s].name)));
			json_object_set_new(
			    src, "namespace",
			    json_string(mp_model_str(m, v.namespaces[v.services[s].ns].name)));
		}
	} else if (!lua_isnil(L, -1)) {
		luaL_error(L, "decide: 'from' must be a string");
	}
	lua_pop(L, 1);
	copy_field(L, idx, "ip", src, "ip");
	if (lua_getfield(L, idx, "to") != LUA_TSTRING)
		luaL_error(L, "decide: 'to' is required (a service reference or an external host)");
	const char *to = lua_tostring(L, -1);
	mp_id d = mp_model_find_service(m, to);
	if (d != MP_NONE) {
		mp_model_view v = mp_model_get_view(m);
		json_object_set_new(dst, "service",
		                    json_string(mp_model_str(m, v.services[d].name)));
		json_object_set_new(
		    dst, "namespace",
		    json_string(mp_model_str(m, v.namespaces[v.services[d].ns].name)));
	} else {
		json_object_set_new(dst, "service", json_string(to));
	}
	lua_pop(L, 1);
	copy_field(L, idx, "method", req, "method");
	copy_field(L, idx, "path", req, "path");
	if (lua_getfield(L, idx, "port") != LUA_TNIL) {
		if (!lua_isinteger(L, -1))
			luaL_error(L, "decide: 'port' must be an integer");
		json_object_set_new(dst, "port", json_integer(lua_tointeger(L, -1)));
	}
	lua_pop(L, 1);
	int type = lua_getfield(L, idx, "headers");
	if (type == LUA_TTABLE) {
		lua_pushnil(L);
		while (lua_next(L, -2)) {
			if (lua_type(L, -2) != LUA_TSTRING || lua_type(L, -1) != LUA_TSTRING)
				luaL_error(L, "decide: 'headers' must map header names to strings");
			json_object_set_new(hdrs, lua_tostring(L, -2),
			                    json_string(lua_tostring(L, -1)));
			lua_pop(L, 1);
		}
	} else if (type != LUA_TNIL) {
		luaL_error(L, "decide: 'headers' must be a table");
	}
	lua_pop(L, 1);
}

static int l_decide(lua_State *L)
{
	mp_rlua *lu = lua_touserdata(L, lua_upvalueindex(1));
	mp_shell *sh = lu->sh;
	char err[512];
	if (!sh->engine)
		return luaL_error(L, "decide: no model is loaded (load one with :mesh MODEL)");
	json_t **in = mp_luajson_box(L);
	if (lua_type(L, 1) == LUA_TSTRING) {
		*in = mp_ask_parse(sh->engine->model, lua_tostring(L, 1), err, sizeof(err));
		if (!*in)
			return luaL_error(L, "decide: %s", err);
	} else {
		luaL_checktype(L, 1, LUA_TTABLE);
		input_from_table(L, 1, sh->engine->model, in);
	}
	lua_getfield(L, 1, "explain"); /* a string's field: nil */
	int explain = lua_type(L, 1) == LUA_TTABLE && lua_toboolean(L, -1);
	lua_pop(L, 1);
	json_t *input = *in;
	*in = NULL; /* mp_ask_decide consumes it */
	const mp_shell_decision *d = mp_ask_decide(sh, input, err, sizeof(err));
	if (!d)
		return luaL_error(L, "decide: %s", err);
	json_t **out = mp_luajson_box(L);
	*out = mp_ask_json(d, explain);
	if (!*out)
		return luaL_error(L, "decide: out of memory");
	mp_luajson_push(L, *out);
	return 1;
}

/* --- the state --- */

static int setup(lua_State *L)
{
	mp_rlua *lu = lua_touserdata(L, 1);
	mp_bundle_prepare_state(lu->sb); /* so that require "meshpol.dsl" works as in policies */
	if (lu->engine) {
		mp_lmodel_push(L, lu->engine->model);
		lua_pushvalue(L, -1);
		lua_setfield(L, LUA_REGISTRYINDEX, MESH_KEY);
		lua_setglobal(L, "mesh");
	}
	lua_pushlightuserdata(L, lu);
	lua_pushcclosure(L, l_decide, 1);
	lua_setglobal(L, "decide");
	lua_newtable(L);
	lua_pushvalue(L, -1);
	lua_setfield(L, LUA_REGISTRYINDEX, DECLARED_KEY);
	if (luaL_loadbufferx(L, recorder, sizeof(recorder) - 1, "=(meshpol)", "t") != LUA_OK)
		return lua_error(L);
	lua_insert(L, -2);
	lua_call(L, 1, 0);
	return 0;
}

mp_rlua *mp_rlua_new(mp_shell *sh, mp_engine *e, char *err, size_t errlen)
{
	mp_rlua *lu = mp_calloc(1, sizeof(*lu));
	if (!lu) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	lu->sh = sh;
	lu->engine = e ? mp_engine_retain(e) : NULL;
	/* no instruction budget: a loop runs until it ends or Ctrl-C interrupts it */
	mp_sandbox_opts o = {.instr_budget = UINT64_MAX, .stdlib_dir = mp_stdlib_dir()};
	if (!(lu->sb = mp_sandbox_new(&o, err, errlen)))
		goto fail;
	lua_State *L = mp_sandbox_lua(lu->sb);
	lua_pushcfunction(L, setup);
	lua_pushlightuserdata(L, lu);
	if (mp_sandbox_pcall(lu->sb, 1, 0, err, errlen) < 0)
		goto fail;
	mp_rlua_refresh(lu);
	return lu;
fail:
	mp_rlua_free(lu);
	return NULL;
}

static void free_decls(mp_rlua *lu)
{
	for (uint32_t i = 0; i < lu->ndecls; i++) {
		mp_free(lu->decls[i].type);
		mp_free(lu->decls[i].name);
	}
	mp_free(lu->decls);
	lu->decls = NULL;
	lu->ndecls = 0;
}

void mp_rlua_free(mp_rlua *lu)
{
	if (!lu)
		return;
	free_decls(lu);
	mp_sandbox_free(lu->sb);
	mp_engine_release(lu->engine);
	mp_free(lu);
}

mp_engine *mp_rlua_engine(const mp_rlua *lu)
{
	return lu->engine;
}

mp_sandbox *mp_rlua_sandbox(mp_rlua *lu)
{
	return lu->sb;
}

/* --- evaluating --- */

static int ends_at_eof(const char *msg)
{
	size_t n = strlen(msg), k = strlen("<eof>");
	return n >= k && !strcmp(msg + n - k, "<eof>");
}

/* take_decls' part in the state (run protected: a name that is a number becomes a string). */
typedef struct {
	mp_rlua *lu;
	char *err;
	size_t errlen;
	int rc;
} taking;

static int take_decls_in(lua_State *L, void *ud)
{
	taking *t = ud;
	mp_rlua *lu = t->lu;
	char *err = t->err;
	size_t errlen = t->errlen;
	int rc = 0;
	free_decls(lu);
	lua_getfield(L, LUA_REGISTRYINDEX, DECLARED_KEY);
	lua_Unsigned n = lua_rawlen(L, -1);
	lu->decls = mp_calloc(n + 1, sizeof(*lu->decls));
	for (lua_Unsigned i = 1; i <= n; i++) {
		lua_rawgeti(L, -1, (lua_Integer)i);
		lua_rawgeti(L, -1, 1);
		lua_rawgeti(L, -2, 2);
		lua_rawgeti(L, -3, 3);
		const char *type = lua_tostring(L, -3), *name = lua_tostring(L, -2);
		if (!lua_toboolean(L, -1) && rc == 0) {
			snprintf(
			    err, errlen,
			    "%s '%s': expected a table of fields after the name, as in %s \"%s\" "
			    "{ ... }",
			    type, name, type, name);
			rc = -1;
		}
		if (lu->decls && type && name) {
			mp_snap_decl *d = &lu->decls[lu->ndecls];
			d->type = mp_strdup(type);
			d->name = mp_strdup(name);
			if (d->type && d->name)
				lu->ndecls++;
			else {
				mp_free(d->type);
				mp_free(d->name);
			}
		}
		lua_pop(L, 4);
		lua_pushnil(L);
		lua_rawseti(L, -2, (lua_Integer)i);
	}
	lua_pop(L, 1);
	if (!lu->decls && n) {
		snprintf(err, errlen, "out of memory");
		rc = -1;
	}
	t->rc = rc;
	return 0;
}

/* Reads what the chunk declared (raw reads of the recorder's own tables) and empties the
 * list. 0; -1 with the message in err when a declaration has no table of fields. */
static int take_decls(mp_rlua *lu, char *err, size_t errlen)
{
	taking t = {.lu = lu, .err = err, .errlen = errlen};
	if (mp_sandbox_protect(lu->sb, take_decls_in, &t, 0, 0, err, errlen) < 0)
		return -1;
	return t.rc;
}

static void print_values(mp_rlua *lu, int base, int n)
{
	lua_State *L = mp_sandbox_lua(lu->sb);
	char err[1024];
	if (lu->sh->json) {
		for (int i = base + 1; i <= base + n; i++) {
			json_t *j = mp_luajson_from(L, i); /* raw reads only: no Lua runs */
			char *s =
			    j ? json_dumps(j, JSON_INDENT(2) | JSON_ENCODE_ANY | JSON_SORT_KEYS)
			      : NULL;
			if (s)
				printf("%s\n", s);
			free(s);
			json_decref(j);
		}
		lua_settop(L, base);
		return;
	}
	lua_pushcfunction(L, render_all);
	lua_insert(L, base + 1);
	mp_shell_busy(lu->sb);
	if (mp_sandbox_pcall(lu->sb, n, 1, err, sizeof(err)) < 0) {
		mp_shell_error(lu->sh, "%s", err);
		return;
	}
	fputs(lua_tostring(L, -1), stdout);
	fputc('\n', stdout);
	lua_pop(L, 1);
}

mp_rlua_status mp_rlua_eval(mp_rlua *lu, const char *code, size_t len, const mp_snap_decl **decls,
                            uint32_t *ndecls)
{
	lua_State *L = mp_sandbox_lua(lu->sb);
	char err[4096], err2[4096];
	int base = lua_gettop(L);
	*decls = NULL;
	*ndecls = 0;
	char *ret = mp_malloc(len + 8);
	if (!ret) {
		mp_shell_error(lu->sh, "out of memory");
		return MP_RLUA_FAILED;
	}
	memcpy(ret, "return ", 7);
	memcpy(ret + 7, code, len);
	int rc = mp_sandbox_load(lu->sb, ret, len + 7, CHUNKNAME, err, sizeof(err));
	mp_free(ret);
	if (rc != MP_SANDBOX_OK &&
	    mp_sandbox_load(lu->sb, code, len, CHUNKNAME, err2, sizeof(err2)) != MP_SANDBOX_OK) {
		if (ends_at_eof(err) || ends_at_eof(err2))
			return MP_RLUA_MORE;
		mp_shell_error(lu->sh, "%s", err2);
		return MP_RLUA_FAILED;
	}
	char derr[512];
	take_decls(lu, derr, sizeof(derr)); /* an interrupted chunk may have left some */
	mp_shell_busy(lu->sb);
	if ((rc = mp_sandbox_pcall(lu->sb, 0, LUA_MULTRET, err, sizeof(err))) < 0) {
		take_decls(lu, derr, sizeof(derr));
		if (rc == MP_SANDBOX_INTERRUPTED && lu->sh->interactive)
			putchar('\n'); /* after the terminal's ^C */
		mp_shell_error(lu->sh, "%s", err);
		return MP_RLUA_FAILED;
	}
	int n = lua_gettop(L) - base;
	if (take_decls(lu, derr, sizeof(derr)) < 0) {
		lua_settop(L, base);
		mp_shell_error(lu->sh, "%s", derr);
		return MP_RLUA_FAILED;
	}
	if (lu->ndecls) {
		lua_settop(L, base);
		*decls = lu->decls;
		*ndecls = lu->ndecls;
		return MP_RLUA_DECLARED;
	}
	if (n > 0)
		print_values(lu, base, n);
	lua_settop(L, base);
	return MP_RLUA_DONE;
}

/* --- completion --- */

typedef struct {
	void (*add)(void *ctx, const char *s);
	void *ctx;
	const char *base; /* the expression before the separator, "" for globals */
	char sep;         /* '.', ':' or 0 */
	const char *partial;
	size_t plen;
	int count;
} completing;

static void offer(completing *c, const char *key)
{
	char buf[1024];
	if (strncmp(key, c->partial, c->plen) || c->count >= MAX_COMPLETE)
		return;
	if (is_identifier(key))
		snprintf(buf, sizeof(buf), "%s%.1s%s", c->base, c->sep ? &c->sep : "", key);
	else if (c->sep == '.') /* mesh.services.fr -> mesh.services["fraud-check"] */
		snprintf(buf, sizeof(buf), "%s[\"%s\"]", c->base, key);
	else
		return;
	c->add(c->ctx, buf);
	c->count++;
}

static const char *const mesh_keys[] = {
    "clusters",  "jurisdictions", "namespaces", "services", "routes",
    "externals", "certificates",  "sha256",     NULL,
};
static const char *const mesh_methods[] = {"service", "routes_from", "routes_to", "jurisdiction_of",
                                           "cycles",  "path",        "reachable", NULL};
static const char *const element_keys[MP_LK_COUNT][16] = {
    [MP_LK_CLUSTER] = {"name", "provider", "region", "zone", "network", "jurisdiction"},
    [MP_LK_JURISDICTION] = {"name", "regions"},
    [MP_LK_NAMESPACE] = {"name", "labels", "data"},
    [MP_LK_SERVICE] = {"name", "namespace", "ref", "identity", "owner", "mtls", "labels", "ports",
                       "data", "clusters", "regions", "jurisdictions"},
    [MP_LK_ROUTE] = {"name", "source", "destinations", "mirrors", "failover", "timeout_ms",
                     "retries", "match"},
    [MP_LK_EXTERNAL] = {"name", "host", "region", "jurisdiction", "ports"},
    [MP_LK_CERT] = {"name", "subject", "identity", "not_after", "pem"},
};

/* Offers the keys of the table at idx, and of its __index tables (proxies, environments). */
static void offer_table_keys(lua_State *L, int idx, completing *c, int methods_only)
{
	idx = lua_absindex(L, idx);
	for (int hop = 0; hop < 4 && lua_type(L, idx) == LUA_TTABLE; hop++) {
		lua_pushnil(L);
		while (lua_next(L, idx)) {
			if (lua_type(L, -2) == LUA_TSTRING &&
			    (!methods_only || lua_type(L, -1) == LUA_TFUNCTION))
				offer(c, lua_tostring(L, -2));
			lua_pop(L, 1);
		}
		if (!lua_getmetatable(L, idx))
			break;
		lua_getfield(L, -1, "__index"); /* raw enough: metatables are plain tables */
		lua_remove(L, -2);
		idx = lua_gettop(L);
	}
}

static int complete_in_lua(lua_State *L)
{
	completing *c = lua_touserdata(L, 1);
	lua_rawgeti(L, LUA_REGISTRYINDEX, LUA_RIDX_GLOBALS);
	if (!c->sep) {
		static const char *const keywords[] = {
		    "and",      "break", "do",   "else",  "elseif", "end", "false", "for",
		    "function", "if",    "in",   "local", "nil",    "not", "or",    "repeat",
		    "return",   "then",  "true", "until", "while",  NULL};
		for (const char *const *k = keywords; *k; k++)
			offer(c, *k);
		offer_table_keys(L, -1, c, 0);
		return 0;
	}
	/* walk the base expression: names separated by dots, and string subscripts
	 * (mesh.services["fraud-check"]) */
	const char *p = c->base;
	while (*p) {
		size_t n;
		if (*p == '[' && (p[1] == '"' || p[1] == '\'')) {
			const char *close = strchr(p + 2, p[1]);
			if (!close || close[1] != ']')
				return 0;
			lua_pushlstring(L, p + 2, (size_t)(close - p - 2));
			n = (size_t)(close + 2 - p);
		} else {
			n = strcspn(p, ".[");
			lua_pushlstring(L, p, n);
			if (!is_identifier(lua_tostring(L, -1)))
				return 0;
		}
		if (lua_type(L, -2) != LUA_TTABLE && lua_type(L, -2) != LUA_TUSERDATA)
			return 0;
		lua_gettable(L, -2);
		lua_remove(L, -2);
		p += n;
		p += *p == '.';
	}
	int v = lua_gettop(L);
	lua_getfield(L, LUA_REGISTRYINDEX, MESH_KEY);
	int is_mesh = lua_rawequal(L, v, -1);
	lua_pop(L, 1);
	int methods = c->sep == ':';
	if (is_mesh) {
		for (const char *const *k = methods ? mesh_methods : mesh_keys; *k; k++)
			offer(c, *k);
		return 0;
	}
	if (lua_type(L, v) == LUA_TSTRING && methods) {
		lua_getglobal(L, "string");
		offer_table_keys(L, -1, c, 1);
		return 0;
	}
	if (lua_type(L, v) == LUA_TTABLE) {
		offer_table_keys(L, v, c, methods);
		return 0;
	}
	if (lua_type(L, v) != LUA_TUSERDATA)
		return 0;
	for (int k = 0; k < MP_LK_COUNT; k++) {
		if (mp_lmodel_to_element(L, v, (mp_lkind)k) == MP_NONE)
			continue;
		if (methods) {
			if (k == MP_LK_SERVICE)
				offer(c, "has_data");
			return 0;
		}
		offer(c, "kind");
		offer(c, "id");
		offer(c, "loc");
		for (int i = 0; element_keys[k][i]; i++)
			offer(c, element_keys[k][i]);
		return 0;
	}
	/* a collection of the model: its elements by name */
	if (!methods && luaL_getmetafield(L, v, "__pairs") != LUA_TNIL) {
		lua_pushvalue(L, v);
		lua_call(L, 1, 3);
		for (int i = 0; i < MAX_COMPLETE; i++) {
			lua_pushvalue(L, -3);
			lua_pushvalue(L, -3);
			lua_pushvalue(L, -3);
			lua_call(L, 2, 2);
			if (lua_isnil(L, -2))
				break;
			if (lua_type(L, -1) == LUA_TUSERDATA &&
			    lua_getfield(L, -1, "name") == LUA_TSTRING)
				offer(c, lua_tostring(L, -1));
			lua_pop(L, 1);
			lua_pop(L, 1);
			lua_replace(L, -2);
		}
	}
	return 0;
}

void mp_rlua_complete(mp_rlua *lu, const char *word, void (*add)(void *ctx, const char *s),
                      void *ctx)
{
	char base[512], err[512];
	const char *sep = NULL;
	char quote = 0;
	for (const char *p = word; *p; p++) {
		if (quote)
			quote = *p == quote ? 0 : quote;
		else if (*p == '"' || *p == '\'')
			quote = *p;
		else if (*p == '.' || *p == ':')
			sep = p;
	}
	completing c = {.add = add, .ctx = ctx, .base = "", .partial = word};
	if (sep) {
		if ((size_t)(sep - word) >= sizeof(base))
			return;
		memcpy(base, word, (size_t)(sep - word));
		base[sep - word] = '\0';
		if (strchr(base, ':'))
			return; /* a method call in the middle: nothing to offer */
		c.base = base;
		c.sep = *sep;
		c.partial = sep + 1;
	}
	c.plen = strlen(c.partial);
	lua_State *L = mp_sandbox_lua(lu->sb);
	lua_pushcfunction(L, complete_in_lua);
	lua_pushlightuserdata(L, &c);
	mp_shell_busy(lu->sb); /* a field read may run a Lua __index: Ctrl-C stops it */
	mp_sandbox_pcall(lu->sb, 1, 0, err, sizeof(err)); /* an error just offers nothing */
	mp_shell_unbusy(lu->sb);
}
