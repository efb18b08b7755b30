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

#define BOX_MT "meshpol.jsonbox" /* registry: the metatable of mp_luajson_box's userdata */

static int box_gc(lua_State *L)
{
	json_t **box = luaL_checkudata(L, 1, BOX_MT);
	json_decref(*box);
	*box = NULL;
	return 0;
}

json_t **mp_luajson_box(lua_State *L)
{
	json_t **box = lua_newuserdatauv(L, sizeof(*box), 0);
	*box = NULL;
	if (luaL_newmetatable(L, BOX_MT)) {
		lua_pushcfunction(L, box_gc);
		lua_setfield(L, -2, "__gc");
	}
	lua_setmetatable(L, -2);
	return box;
}

void mp_luajson_push(lua_State *L, json_t *j)
{
	push(L, j, 0);
}

/* One conversion: a table may be reached twice (t[1] = t[2] = u) and each path counts, so the
 * count bounds the work on aliased tables, which depth alone would let grow as 2^32. */
typedef struct {
	size_t values;
} fctx;

static json_t *from(lua_State *L, fctx *c, int idx, int depth)
{
	idx = lua_absindex(L, idx);
	if (++c->values > MP_LUAJSON_MAX_VALUES)
		return NULL;
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
	if (!lua_checkstack(L, 3)) /* each level holds a key and a value */
		return NULL;
	json_t *v = NULL;
	lua_Unsigned n = lua_rawlen(L, idx);
	if (n > 0) {
		json_t *a = json_array();
		for (lua_Unsigned i = 1; a && i <= n; i++) {
			lua_rawgeti(L, idx, (lua_Integer)i);
			if (!(v = from(L, c, -1, depth + 1)) || json_array_append_new(a, v) < 0) {
				json_decref(a);
				a = NULL;
			}
			lua_pop(L, 1);
		}
		return a;
	}
	json_t *o = json_object();
	lua_pushnil(L);
	while (o && lua_next(L, idx)) {
		if (lua_type(L, -2) != LUA_TSTRING) {
			lua_pop(L, 1);
			continue;
		}
		if (!(v = from(L, c, -1, depth + 1))) {
			json_decref(o);
			o = NULL;
			lua_pop(L, 2); /* the key and value: the traversal stops */
			break;
		}
		json_object_set_new(o, lua_tostring(L, -2), v);
		lua_pop(L, 1);
	}
	return o;
}

json_t *mp_luajson_from(lua_State *L, int idx)
{
	fctx c = {0};
	return from(L, &c, idx, 0);
}
