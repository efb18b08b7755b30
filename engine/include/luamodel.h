/* luamodel.h: the compiled model as Lua sees it: a read-only view (`mesh`), built lazily from
 * the C arrays, never copied whole into Lua tables. Reference: docs/policy-guide.md ("mesh"). */
#ifndef MP_LUAMODEL_H
#define MP_LUAMODEL_H

#pragma GCC visibility push(default) /* the engine's interface: exported */

#include "model.h"

#include <lua.h>

/* Element kinds as Lua sees them. */
typedef enum {
	MP_LK_CLUSTER = 0,
	MP_LK_JURISDICTION,
	MP_LK_NAMESPACE,
	MP_LK_SERVICE,
	MP_LK_ROUTE,
	MP_LK_EXTERNAL,
	MP_LK_CERT,
	MP_LK_COUNT
} mp_lkind;

/* Pushes the `mesh` object for m. m is borrowed: it must outlive every Lua value that refers to
 * it (the engine snapshot owns both the model and the Lua states that see it). */
void mp_lmodel_push(lua_State *L, const mp_model *m);
/* Pushes one element (a service, a route, ...) as the view's userdata. */
void mp_lmodel_push_element(lua_State *L, const mp_model *m, mp_lkind kind, mp_id id);
/* If the value at idx is an element of kind, returns its id; otherwise MP_NONE. */
mp_id mp_lmodel_to_element(lua_State *L, int idx, mp_lkind kind);

#pragma GCC visibility pop

#endif
