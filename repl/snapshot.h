/* snapshot.h: how the shell builds engine snapshots: a model (opened, or shared with the
 * current snapshot), a bundle read from its directory, and the session: declarations typed in
 * the shell, kept as Lua text and compiled with the bundle as one more policy file (shell.lua),
 * given to the engine in memory. Design: docs/repl.md ("Declarations typed in the shell").
 *
 * Ownership: an mp_snap owns the session's chunks and what it keeps of the bundle last read
 * from disk (its declarations, for "replaces ..."). Snapshots it builds belong to the caller;
 * one built without a model path takes a reference to the current snapshot's model
 * (mp_model_retain), so every snapshot of a session shares one model, freed with the last.
 * Nothing here prints.
 *
 * How a session snapshot is loaded (engine/policy.h, mp_bundle_source): the bundle directory's
 * files as last read (the current snapshot's bundle, so a session rebuild never picks up edits
 * on disk silently; :load and :reload read them again), plus the session file in memory under
 * its own name ("shell.lua", or "shell-session.lua" when the bundle has a shell.lua), so every
 * location is a real path or shell.lua:LINE and nothing needs mapping back.
 *
 * Replacing a rule: a session declaration with the type and name of a bundle declaration
 * (allow, deny, residency, require_mtls, declared_routes_only, role, check) replaces it. Each
 * is an mp_bundle_skip from the first line of its chunk: the engine's loader leaves out every
 * declaration of that type and name in the bundle's files and in the session's earlier lines.
 * A later chunk of the session replaces an earlier one's declarations the same way.
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
void mp_snap_free(mp_snap *s); /* NULL is fine */

typedef struct {
	const char *model_path;   /* open this model (.mpm or YAML); NULL: share current's */
	const mp_engine *current; /* the snapshot being replaced, or NULL */
	const char *bundle_dir;   /* NULL: no bundle (only the session, if any) */
	int reread; /* read bundle_dir again; 0: with a session, take its files from current */
} mp_snap_spec;

/* Builds a snapshot: the model, then the bundle (with the session, if any) compiled against it.
 * When the session is empty the bundle directory itself is loaded; with a session, the
 * directory (read again, or as current read it) plus the session file. NULL with every error
 * in d; what the shell keeps of the bundle is replaced only on success. */
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

#endif
