/* decl.h: the identity of a policy declaration across Lua states: a key that names it (kind,
 * policy, name; never its position) and a digest of what it declares, so that a `when` or `run`
 * function taken from one state is bound only to the rule that another state compiled from the
 * same declaration. Design: docs/architecture.md ("Policies", "One rule, one when"). */
#ifndef MP_DECL_H
#define MP_DECL_H

#pragma GCC visibility push(default) /* the engine's interface: exported */

#include <lua.h>
#include <stddef.h>

#define MP_DECL_DIGEST_LEN 32
/* Values one digest may visit; a declaration (with everything its functions capture) larger
 * than this cannot be compared, and its rule fails to bind. */
#define MP_DECL_MAX_VALUES 1000000
#define MP_DECL_MAX_DEPTH  64

/* A declaration's identity as the bundle keeps it. key and digest are NULL/zero for a slot no
 * compiled rule or check refers to. key is owned by whoever holds the array (the bundle arena). */
typedef struct {
	const char *key; /* e.g. rule "r" of policy "p" */
	const char *loc; /* file:line of the declaration */
	unsigned char digest[MP_DECL_DIGEST_LEN];
} mp_decl_id;

/* Digest of the value at idx: the same for two values of two states exactly when they hold the
 * same data. Tables are compared by content (their order of iteration does not count), Lua
 * functions by where they are defined and the values they capture (except _ENV), C functions by
 * address and upvalues; metatables, userdata and threads by type alone. Raw access only: no
 * metamethod runs. Raises (lua_error) when the value passes MP_DECL_MAX_VALUES or
 * MP_DECL_MAX_DEPTH, or on a memory error: call it in protected mode. */
void mp_decl_digest(lua_State *L, int idx, unsigned char out[MP_DECL_DIGEST_LEN]);

#pragma GCC visibility pop

#endif
