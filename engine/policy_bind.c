/* policy_bind.c: binding the `when` and `run` functions of another Lua state that ran a
 * bundle's files to the rules and checks the loading state compiled, by each declaration's key
 * and digest (decl.h), so that a function never lands on another rule. Design:
 * docs/architecture.md ("Policies", "One rule, one when"). */
#include "decl.h"
#include "policy_int.h"
#include "sandbox.h"

#include <assert.h>
#include <lauxlib.h>
#include <string.h>

/* --- declaration keys (decl.h): names, never positions --- */

/* The key of a declaration (policy_int.h); the compiler records it, the binder looks it up. */
void pol_push_decl_key(lua_State *L, int state, const char *kind, int decl, lua_Integer entry)
{
	int top = lua_gettop(L);
	lua_pushstring(L, "name");
	lua_rawget(L, decl);
	const char *name = lua_tostring(L, -1);
	if (!strcmp(kind, "entry")) {
		lua_pushfstring(L, "entry %I of role \"%s\"", entry, name ? name : "?");
	} else {
		const char *pname = NULL;
		lua_pushstring(L, "policies");
		lua_rawget(L, state);
		lua_pushstring(L, "policy");
		lua_rawget(L, decl);
		if (lua_istable(L, -2) && lua_isinteger(L, -1) &&
		    lua_rawgeti(L, -2, lua_tointeger(L, -1)) == LUA_TTABLE) {
			lua_pushstring(L, "name");
			lua_rawget(L, -2);
			pname = lua_tostring(L, -1);
		}
		lua_pushfstring(L, "%s \"%s\" of policy \"%s\"", kind, name ? name : "?",
		                pname ? pname : "?");
	}
	lua_replace(L, top + 1);
	lua_settop(L, top + 1);
}

/* --- binding another state's functions to the compiled rules (mp_bundle_bind) --- */

/* map[key] = {spec, fns[i]} for a declaration (decl: the record that names it) with a function. */
static void collect_decl(lua_State *L, int state, int map, int decl, int spec, int fns,
                         lua_Integer i, const char *kind, lua_Integer entry)
{
	if (i <= 0)
		return;
	pol_push_decl_key(L, state, kind, decl, entry);
	lua_pushvalue(L, -1);
	if (lua_rawget(L, map) != LUA_TNIL)
		luaL_error(L, "%s is declared twice", lua_tostring(L, -2));
	lua_pop(L, 1);
	lua_createtable(L, 2, 0);
	lua_pushvalue(L, spec);
	lua_rawseti(L, -2, 1);
	lua_rawgeti(L, fns, i);
	lua_rawseti(L, -2, 2);
	lua_rawset(L, map);
}

/* Every declaration with a function, by key. Leaves the map on the stack. */
static void collect_decls(lua_State *L, int state)
{
	lua_newtable(L);
	int map = lua_gettop(L);
	static const struct {
		const char *list, *fns, *index, *kind;
	} lists[] = {{"rules", "whens", "when_index", "rule"},
	             {"checks", "runs", "run_index", "check"}};
	for (size_t l = 0; l < sizeof(lists) / sizeof(lists[0]); l++) {
		lua_pushstring(L, lists[l].list);
		lua_rawget(L, state);
		int list = lua_gettop(L);
		lua_pushstring(L, lists[l].fns);
		lua_rawget(L, state);
		int fns = lua_gettop(L);
		for (lua_Integer i = 1; lua_rawgeti(L, list, i) == LUA_TTABLE; i++) {
			int decl = lua_gettop(L);
			lua_pushstring(L, "spec");
			lua_rawget(L, decl);
			lua_pushstring(L, lists[l].index);
			lua_rawget(L, decl);
			collect_decl(L, state, map, decl, decl + 1, fns, lua_tointeger(L, -1),
			             lists[l].kind, 0);
			lua_settop(L, fns);
		}
		lua_settop(L, map);
	}
	lua_pushstring(L, "roles");
	lua_rawget(L, state);
	int roles = lua_gettop(L);
	lua_pushstring(L, "whens");
	lua_rawget(L, state);
	int whens = lua_gettop(L);
	for (lua_Integer i = 1; lua_rawgeti(L, roles, i) == LUA_TTABLE; i++) {
		int role = lua_gettop(L);
		lua_pushstring(L, "entries");
		lua_rawget(L, role);
		int entries = lua_gettop(L);
		for (lua_Integer e = 1; lua_rawgeti(L, entries, e) == LUA_TTABLE; e++) {
			int ent = lua_gettop(L);
			lua_pushstring(L, "spec");
			lua_rawget(L, ent);
			lua_pushstring(L, "when_index");
			lua_rawget(L, ent);
			/* an entry's key names its role and its place in it */
			collect_decl(L, state, map, role, ent + 1, whens, lua_tointeger(L, -1),
			             "entry", e);
			lua_settop(L, entries);
		}
		lua_settop(L, whens);
	}
	lua_settop(L, map);
}

/* Runs protected: upvalue 1 is the bundle, argument 1 the DSL's state table. */
static int bind_state(lua_State *L)
{
	const mp_bundle *b = lua_touserdata(L, lua_upvalueindex(1));
	static const char *const names[] = {"whens", "runs"};
	collect_decls(L, 1);
	int map = lua_gettop(L);
	lua_createtable(L, 0, 2);
	for (int w = 0; w < 2; w++) {
		const mp_decl_id *ids = w == 0 ? b->when_ids : b->run_ids;
		uint32_t n = w == 0 ? b->nwhens : b->nruns;
		lua_createtable(L, (int)n, 0);
		for (uint32_t i = 1; ids && i <= n; i++) {
			unsigned char d[MP_DECL_DIGEST_LEN];
			if (!ids[i].key)
				continue;
			if (lua_getfield(L, map, ids[i].key) != LUA_TTABLE)
				luaL_error(L,
				           "%s: %s is not declared when the bundle runs again: its "
				           "declarations "
				           "depend on something that changes between runs",
				           ids[i].loc ? ids[i].loc : "?", ids[i].key);
			mp_decl_digest(L, -1, d);
			if (memcmp(d, ids[i].digest, sizeof(d)))
				luaL_error(L,
				           "%s: %s declares something else when the bundle runs "
				           "again (its "
				           "declaration depends on the order of pairs(), the time "
				           "or another "
				           "value that changes between runs)",
				           ids[i].loc ? ids[i].loc : "?", ids[i].key);
			lua_rawgeti(L, -1, 2);
			lua_rawseti(L, -3, (lua_Integer)i);
			lua_pop(L, 1);
		}
		lua_setfield(L, -2, names[w]);
	}
	return 1;
}

int mp_bundle_bind(mp_sandbox *sb, const mp_bundle *b, char *err, size_t errlen)
{
	lua_State *L = mp_sandbox_lua(sb);
	assert(lua_istable(L, -1));
	lua_pushlightuserdata(L, (void *)b);
	lua_pushcclosure(L, bind_state, 1);
	lua_insert(L, -2);
	return mp_sandbox_pcall(sb, 1, 1, err, errlen) < 0 ? -1 : 0;
}
