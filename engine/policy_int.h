/* policy_int.h: the inside of bundle loading, shared by policy.c (manifest, files and hash,
 * running the policy files, the bundle's arena), policy_compile.c (declarations -> rules,
 * checks, roles and indexes) and policy_bind.c (another state's functions -> the compiled
 * rules). Internal prefix pol_. Design: docs/architecture.md ("Policies"). */
#ifndef MP_POLICY_INT_H
#define MP_POLICY_INT_H

#include "policy.h"

#include <lua.h>
#include <stddef.h>
#include <stdint.h>

struct mp_sandbox;

/* --- policy.c --- */

/* n zeroed bytes (16-aligned) or a copy of s in the bundle's arena, freed with the bundle; NULL
 * when out of memory. */
void *pol_arena_alloc(mp_bundle *b, size_t n);
char *pol_arena_str(mp_bundle *b, const char *s);
/* An error at loc, a "file:line" as the DSL records it (or anything else: then it is the file). */
void pol_loc_error(mp_diags *d, const char *loc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* --- policy_compile.c --- */

/* Compiles the DSL's state table on top of sb's stack (which it pops) into b's policies, rules,
 * roles, checks and indexes, in a protected call that allocates only in b's arena. enabled:
 * the policies the manifest lists (nenabled 0: every policy). Problems with the declarations go
 * to d; returns -1 with err when the call itself failed (out of memory), else 0. */
int pol_compile(struct mp_sandbox *sb, mp_bundle *b, const char **enabled, uint32_t nenabled,
                mp_diags *d, char *err, size_t errlen);

/* --- policy_bind.c --- */

/* Pushes the key of a declaration: what it is and its names, never its position in the
 * declaration order (which, for rules declared in a loop over pairs(), differs between states).
 * state is the stack index of the DSL's state table; kind is "rule", "entry" (of a role) or
 * "check"; decl is the DSL's record at that index; entry is the entry's position in its role
 * (for "entry"). Raw reads only. */
void pol_push_decl_key(lua_State *L, int state, const char *kind, int decl, lua_Integer entry);

#endif
