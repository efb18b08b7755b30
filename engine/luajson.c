/* luajson.c: JSON <-> Lua conversion (see luajson.h). */
#include "luajson.h"

#include <lauxlib.h>

#define MAX_DEPTH 32

static void push(lua_State *L, json_t *j, int depth)
{
	luaL_checkstack(L, 4, "JSON value");
	if (!j || depth > MAX_DEPTH) {
		lua_pushnil(L);
		return;
	}
	switch (json_typeof(j)) {
	case JSON_OBJECT: {
		const char *k;
		json_t *v;
		lua_createtable(L, 0, (int)json_object_size(j));
		json_object_foreach(j, k, v)
		{
			push(L, v, depth + 1);
			lua_setfield(L, -2, k);
		}
		break;
	}
	case JSON_ARRAY: {
		size_t i;
		json_t *v;
		lua_createtable(L, (int)json_array_size(j), 0);
		json_array_foreach(j, i, v)
		{
			push(L, v, depth + 1);
			lua_rawseti(L, -2, (lua_Integer)i + 1);
		}
		break;
	}
	case JSON_STRING:
		lua_pushlstring(L, json_string_value(j), json_string_length(j));
		break;
	case JSON_INTEGER:
		lua_pushinteger(L, (lua_Integer)json_integer_value(j));
		break;
	case JSON_REAL:
		lua_pushnumber(L, json_real_value(j));
		break;
	case JSON_TRUE:
	case JSON_FALSE:
		lua_pushboolean(L, json_is_true(j));
		break;
	default:
		lua_pushnil(L);
	}
}

void mp_luajson_push(lua_State *L, json_t *j)
{
	push(L, j, 0);
}

static json_t *from(lua_State *L, int idx, int depth)
{
	idx = lua_absindex(L, idx);
	switch (lua_type(L, idx)) {
	case LUA_TSTRING: {
		size_t len;
		const char *s = lua_tolstring(L, idx, &len);
		return json_stringn(s, len);
	}
	case LUA_TNUMBER:
		return lua_isinteger(L, idx) ? json_integer(lua_tointeger(L, idx))
		                             : json_real(lua_tonumber(L, idx));
	case LUA_TBOOLEAN:
		return json_boolean(lua_toboolean(L, idx));
	case LUA_TTABLE:
		break;
	default:
		return json_null();
	}
	if (depth >= MAX_DEPTH)
		return json_null();
	lua_Unsigned n = lua_rawlen(L, idx);
	if (n > 0) {
		json_t *a = json_array();
		for (lua_Unsigned i = 1; a && i <= n; i++) {
			lua_rawgeti(L, idx, (lua_Integer)i);
			json_array_append_new(a, from(L, -1, depth + 1));
			lua_pop(L, 1);
		}
		return a;
	}
	json_t *o = json_object();
	lua_pushnil(L);
	while (o && lua_next(L, idx)) {
		if (lua_type(L, -2) == LUA_TSTRING)
			json_object_set_new(o, lua_tostring(L, -2), from(L, -1, depth + 1));
		lua_pop(L, 1);
	}
	return o;
}

json_t *mp_luajson_from(lua_State *L, int idx)
{
	return from(L, idx, 0);
}
