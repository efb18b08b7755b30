/* luaeval.h: the shell's Lua side. Its own sandbox (the engine's allow-list and memory cap, no
 * instruction budget: Ctrl-C stops a runaway loop) with `mesh` (the model's read-only view),
 * `bundle` (what the loaded bundle declares), `decide` (a decision, like `meshpol test`'s) and
 * the policy DSL's words, which here only record what a chunk declares: the shell then adds the
 * chunk to the session (snapshot.h). Reading input follows lua.c: "return " .. chunk first, a
 * chunk is incomplete while its syntax error ends at <eof>. Design: docs/repl.md.
 *
 * Lifetime: the state lives as long as the model it shows. It retains the snapshot it was made
 * on, so `mesh` and every element a user keeps in a global stay valid; the shell makes a new
 * Lua side only when the model changes (the bundle can change under it: `bundle` is rebuilt).
 */
#ifndef MP_LUAEVAL_H
#define MP_LUAEVAL_H

#include "shell.h"
#include "snapshot.h"

#include <stddef.h>

typedef struct mp_rlua mp_rlua;

/* A Lua side on snapshot e (retained; NULL: no model, so no `mesh`). NULL with err set. */
mp_rlua *mp_rlua_new(mp_shell *sh, mp_engine *e, char *err, size_t errlen);
void mp_rlua_free(mp_rlua *lu); /* NULL is fine */
/* The snapshot whose model `mesh` shows (NULL: none). */
mp_engine *mp_rlua_engine(const mp_rlua *lu);
mp_sandbox *mp_rlua_sandbox(mp_rlua *lu);
/* Rebuilds the `bundle` global from the shell's current snapshot. */
void mp_rlua_refresh(mp_rlua *lu);

typedef enum {
	MP_RLUA_DONE = 0, /* ran; its values (if any) were printed */
	MP_RLUA_MORE,     /* incomplete: read another line (nothing ran) */
	MP_RLUA_FAILED,   /* a syntax or run-time error, printed */
	MP_RLUA_DECLARED, /* ran and declared something: *decls (valid until the next eval) */
} mp_rlua_status;

/* Evaluates a chunk typed in the shell (code need not end in a newline). */
mp_rlua_status mp_rlua_eval(mp_rlua *lu, const char *code, size_t len, const mp_snap_decl **decls,
                            uint32_t *ndecls);

/* Completes a Lua expression such as "mesh.services.pay" or "string.fo": calls add for each
 * full candidate ("mesh.services.payments"). Runs Lua (field reads) under Ctrl-C. */
void mp_rlua_complete(mp_rlua *lu, const char *word, void (*add)(void *ctx, const char *s),
                      void *ctx);

#endif
