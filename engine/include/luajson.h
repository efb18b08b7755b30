/* luajson.h: JSON values (jansson) to Lua values and back, for decision inputs, decisions and
 * test expectations. Both directions cap nesting at 32 levels. */
#ifndef MP_LUAJSON_H
#define MP_LUAJSON_H

#pragma GCC visibility push(default) /* the engine's interface: exported */

#include <jansson.h>
#include <lua.h>

/* Pushes j as a Lua value (objects and arrays become tables; null becomes nil). [-0,+1,m] */
void mp_luajson_push(lua_State *L, json_t *j);
/* Pushes a userdata that owns a json_t: *box (NULL at first) is json_decref'd when the userdata
 * is collected, so that a Lua error raised while C code holds JSON cannot leak it. Keep the
 * userdata on the stack for as long as the JSON is used. [-0,+1,m] */
json_t **mp_luajson_box(lua_State *L);
/* Values one conversion from Lua visits at most, each path to a shared table counted. */
#define MP_LUAJSON_MAX_VALUES 100000

/* The Lua value at idx as new JSON: tables with keys 1..n become arrays, other tables objects
 * (non-string keys are skipped); functions and userdata become null. Raw reads only: no
 * metamethod runs. NULL when out of memory or past MP_LUAJSON_MAX_VALUES. */
json_t *mp_luajson_from(lua_State *L, int idx);

#pragma GCC visibility pop

#endif
