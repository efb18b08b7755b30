/* snapshot.h: how the shell builds engine snapshots: a model (opened, or cloned from the current
 * one), a bundle read from its directory, and the session: declarations typed in the shell,
 * kept as Lua text and compiled as one more policy file (shell.lua) together with a copy of the
 * bundle's files. Design: docs/repl.md ("Declarations typed in the shell").
 *
 * Ownership: an mp_snap owns a temporary directory (removed by mp_snap_free), a copy of the
 * last bundle read from disk (its policy files, manifest and declarations), and the session's
 * chunks. Snapshots it builds belong to the caller. Nothing here prints.
 *
 * Why a temporary directory: the engine loads bundles from directories only, and an engine
 * owns its model. So a session snapshot is the bundle's policy files plus shell.lua written to
 * TMP/bundle and loaded from there (locations then read TMP/bundle/...: mp_snap_show maps them
 * back), and a model is cloned by saving it once to TMP/model.mpm and loading that.
 *
 * Replacing a rule: a session declaration with the type and name of a bundle declaration
 * (allow, deny, residency, require_mtls, declared_routes_only, role, check) replaces it. The
 * copy of each policy file starts, on its first line (line numbers do not move), with a prologue
 * that wraps the DSL's functions so that the replaced names are skipped; the wrappers make a
 * tail call, so the DSL still records the policy file's own file:line. A later chunk of the
 * session replaces an earlier one's declarations the same way.
 */
#ifndef MP_SNAPSHOT_H
#define MP_SNAPSHOT_H

#include "diag.h"
#include "engine.h"

#include <stdint.h>
#include <stdio.h>

typedef struct {
	char *type, *name; /* a DSL word ("allow", "policy", ...) and the name it was given */
} mp_snap_decl;

/* One chunk of Lua typed in the shell that declared something. */
typedef struct {
	char *text;
	size_t len;
	mp_snap_decl *decls;
	uint32_t ndecls;
} mp_snap_chunk;

/* A declaration of the bundle as last read from disk (for "replaces ..."). */
typedef struct {
	char *type, *name, *policy, *loc;
} mp_snap_base_decl;

typedef struct mp_snap mp_snap;

mp_snap *mp_snap_new(void);
void mp_snap_free(mp_snap *s); /* NULL is fine; removes the temporary directory */

typedef struct {
	const char *model_path;  /* open this model (.mpm or YAML); NULL: clone `current` */
	const mp_model *current; /* the model to clone when model_path is NULL */
	const char *bundle_dir;  /* NULL: no bundle (only the session, if any) */
	int reread;              /* read bundle_dir again; 0: use the copy of the last read */
} mp_snap_spec;

/* Builds a snapshot: the model, then the bundle (with the session, if any) compiled against it.
 * When the session is empty the bundle directory itself is loaded (real paths, real hash); with
 * a session, the copy. NULL with every error in d; the copy of the bundle is replaced only on
 * success. */
mp_engine *mp_snap_build(mp_snap *s, const mp_snap_spec *spec, mp_diags *d);

/* --- the session --- */

/* Appends a chunk (text is copied). -1 when out of memory. */
int mp_snap_push(mp_snap *s, const char *text, size_t len, const mp_snap_decl *decls,
                 uint32_t ndecls);
/* Removes the last chunk and hands it to the caller (NULL when there is none). */
mp_snap_chunk *mp_snap_pop(mp_snap *s);
/* Appends a chunk taken with mp_snap_pop (takes ownership). */
void mp_snap_unpop(mp_snap *s, mp_snap_chunk *c);
void mp_snap_chunk_free(mp_snap_chunk *c);
/* Moves every chunk out (into *saved) / back in; for a :session clear that may fail. */
typedef struct {
	mp_snap_chunk **v;
	uint32_t n, cap;
} mp_snap_chunks;
void mp_snap_take_all(mp_snap *s, mp_snap_chunks *saved);
void mp_snap_give_back(mp_snap *s, mp_snap_chunks *saved); /* discards the current chunks */
void mp_snap_chunks_free(mp_snap_chunks *c);

uint32_t mp_snap_nchunks(const mp_snap *s);
const mp_snap_chunk *mp_snap_chunk_at(const mp_snap *s, uint32_t i); /* i < mp_snap_nchunks */
const mp_snap_chunk *mp_snap_last(const mp_snap *s);
/* The session's policy name: the last `policy "NAME"` typed, else "shell". */
const char *mp_snap_policy(const mp_snap *s);
/* The session file's name as shown ("shell.lua") and the first line of chunk c in it (0 when
 * c is not part of it: an earlier policy declaration that a later one replaced). */
const char *mp_snap_file(const mp_snap *s);
uint32_t mp_snap_line(const mp_snap *s, const mp_snap_chunk *c);
/* Writes the session as a policy file (what :session shows and saves); with numbered, each
 * line starts with its number. -1 on a write error. */
int mp_snap_write(const mp_snap *s, FILE *f, int numbered);

/* The declarations of the bundle (as last read) with this type and name. */
uint32_t mp_snap_base_find(const mp_snap *s, const char *type, const char *name,
                           const mp_snap_base_decl **out, uint32_t max);

/* Copies text into buf with the temporary bundle's paths shown as the user's: TMP/bundle/FILE
 * becomes bundle_dir/FILE, and the session file just shell.lua. Returns buf. */
const char *mp_snap_show(const mp_snap *s, const char *bundle_dir, const char *text, char *buf,
                         size_t len);

#endif
