/* policy_int.h: the inside of bundle loading, shared by policy.c (manifest, running the policy
 * files, the bundle's arena), policy_files.c (the files: from the directory, a bundle read
 * before or memory; their order and hash), policy_compile.c (declarations -> rules, checks,
 * roles and indexes) and policy_bind.c (another state's functions -> the compiled rules).
 * Internal prefix pol_. Design: docs/architecture.md ("Policies"). */
#ifndef MP_POLICY_INT_H
#define MP_POLICY_INT_H

#include "policy.h"

#include <lua.h>
#include <stddef.h>
#include <stdint.h>

struct mp_sandbox;
typedef struct pol_decls pol_decls;

/* --- policy.c --- */

/* n zeroed bytes (16-aligned) or a copy of s in the bundle's arena, freed with the bundle; NULL
 * when out of memory. */
void *pol_arena_alloc(mp_bundle *b, size_t n);
char *pol_arena_str(mp_bundle *b, const char *s);
char *pol_arena_strn(mp_bundle *b, const char *s, size_t len); /* len bytes and a NUL */
/* The SHA-256 of the DSL the state L ran its files with (32 bytes; zeros before it was
 * loaded). */
void pol_dsl_sha256(lua_State *L, unsigned char out[32]);
/* An error at loc, a "file:line" as the DSL records it (or anything else: then it is the file). */
void pol_loc_error(mp_diags *d, const char *loc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* --- policy_files.c --- */

/* The most bytes one file of a bundle may have, read from disk or given in memory. */
#define POL_FILE_MAX (16u << 20)

/* What the reader of an archive (barchive.c) hands the loader beside a source with a tree: what
 * it made of the tree's files from the very bytes it gives, so that the loader neither hashes
 * them again nor copies them. Every field may be NULL. */
typedef struct {
	const unsigned char *const *sha256; /* [src->ntree]: SHA-256 of src->tree[i]'s text */
	const char *bundle_sha256;          /* pol_hash_files of the tree */
	/* the arena holding the tree's texts, each NUL-terminated: the bundle takes its chunks
	 * over (mp_arena_adopt) and keeps the texts as they are */
	struct mp_arena *texts;
	/* out: how many policy files were not run but had declarations recorded before (an
	 * archive's, or the second thread's: policy_split.c) injected */
	uint32_t injected;
	/* NULL, or the model delivered late (mp_bundle_load_late): called once, before the compile,
	 * in place of the m given */
	mp_bundle_model_fn model;
	void *model_arg;
} pol_given;
/* mp_barchive_load_bundle (barchive.c) with the model late's (pol_given.model), not given. */
mp_bundle *pol_barchive_load(const char *path, const pol_given *late, const char *stdlib_dir,
                             mp_diags *d);
/* mp_bundle_load_source with what g gives (NULL: nothing). */
mp_bundle *pol_load_source(const mp_bundle_source *src, pol_given *g, const mp_model *m,
                           const char *stdlib_dir, mp_diags *d);

/* Fills b->files from src (b->dir set already, NULL without a directory): the directory's
 * policy files, read or taken from src->files_of, with the in-memory files among them in load
 * order, then its other files; copies src's skips into b->skips and computes b->sha256 (taken
 * from g when the files are g's tree alone). *sha: NULL, or (with g's digests) mp_malloc'd,
 * the SHA-256 of b->files[i] where known (else NULL). A file that cannot be read, and every
 * broken rule of mp_bundle_text or mp_bundle_skip, is reported into d; -1 when the bundle
 * cannot be had (the caller then stops), else 0. */
int pol_read_files(mp_bundle *b, const mp_bundle_source *src, pol_given *g,
                   const unsigned char ***sha, mp_diags *d);
/* The bundle hash over files (any order): SHA-256 over each file in strcmp order of rel, as
 * "rel\0length\0content" (length in decimal). out: 64 hex digits. -1 when out of memory. */
int pol_hash_files(const mp_bundle_file *files, uint32_t nfiles, char out[65]);
/* The file of b at this path relative to its directory, or NULL. */
const mp_bundle_file *pol_find_file(const mp_bundle *b, const char *rel);
/* Is path (as the DSL records a policy's file) one of b's in-memory files? */
int pol_in_memory(const mp_bundle *b, const char *path);

/* --- policy_compile.c --- */

/* Compiles the DSL's state table on top of sb's stack (which it pops) into b's policies, rules,
 * roles, checks and indexes, in a protected call that allocates only in b's arena. enabled:
 * the policies the manifest lists (nenabled 0: every policy). Problems with the declarations go
 * to d; returns -1 with err when the call itself failed (out of memory), else 0. */
struct pol_decls_block_list; /* policy_decls.c's stored rules (below), or NULL */
int pol_compile(struct mp_sandbox *sb, mp_bundle *b, const char **enabled, uint32_t nenabled,
                const struct pol_decls_block_list *blocks, mp_diags *d, char *err, size_t errlen);

/* --- policy_decls.c: declarations kept in an archive (docs/bundles.md, "Compiled
 * declarations") --- */

#define POL_DECLS_NLISTS 8
/* The lengths of the DSL state's lists (policies, rules, roles, binds, checks, errors, whens,
 * runs) at one point of a run, and whether the file that ended there may be stored (it ran
 * without calling anything nondeterministic). */
typedef struct {
	lua_Unsigned n[POL_DECLS_NLISTS];
	int storable;
} pol_decls_marks;
void pol_decls_mark(lua_State *L, int state, pol_decls_marks *m);
/* .meshpol/declarations.bin for b, whose policy files a run left in the DSL state on top of
 * sb's stack (popped): marks[i] before file i, marks[i + 1] after it. Each file that may be
 * stored (no function, no DSL error, no check, nothing nondeterministic, every location its
 * own) is, keyed by its SHA-256 (sha[i] when given, else hashed) with its load units
 * (units[i] when given, else b->files[i].load_units). 0 and *out (mp_free), or -1 and err. */
int pol_decls_build(struct mp_sandbox *sb, const mp_bundle *b, const pol_decls_marks *marks,
                    const uint64_t *units, const unsigned char *const *sha,
                    const unsigned char dsl_sha256[32], void **out, size_t *len, char *err,
                    size_t errlen);

/* What a recording of policy files gives (pol_record_files). */
typedef struct {
	const unsigned char *const *sha; /* in: the files' SHA-256, or NULL (then hashed) */
	size_t mem_limit; /* in: the recording state's cap (0: MP_BUNDLE_LOAD_MEM_LIMIT) */
	void *out;        /* out: pol_decls_build's bytes (mp_free) ... */
	size_t len;
	unsigned char dsl_sha256[32]; /* ... for this DSL */
	size_t mem_peak;              /* the most bytes the recording's state held ... */
	uint64_t mem_refused;         /* ... and the growths it refused */
	uint64_t max_units;           /* the most units (memory's charge included) a file took */
} pol_record;
/* b's policy files run in a fresh sandbox, as the loader runs them, and recorded as
 * mp_bundle_declarations records them, except that a file that fails is just not stored (the
 * loader will run it) and each file's units are this run's. -1 after reporting when no
 * recording could be made (the sandbox, the DSL, out of memory). Thread-safe for distinct b. */
int pol_record_files(const mp_bundle *b, const char *stdlib_dir, pol_record *rec, mp_diags *d);

/* What a stored rule holds: its fields as read from its spec, before anything is resolved
 * against the model (pol_compile resolves them as it resolves what it reads from the DSL).
 * Strings are in the bundle's arena. */
typedef struct {
	const char **v;
	uint32_t n;
} pol_strs;
typedef struct {
	mp_kv *v;
	uint32_t n;
} pol_kvs;
typedef struct {
	uint32_t any; /* `from` absent or "*" */
	pol_strs principals, namespaces, services;
	pol_kvs labels;
	uint32_t authenticated;
} pol_raw_from;
typedef struct {
	uint32_t type; /* MP_RULE_* */
	const char *name, *loc, *message;
	pol_strs service, namespace, external; /* allow, deny */
	pol_kvs labels;
	pol_raw_from from; /* allow, deny, declared_routes_only */
	pol_strs methods, paths;
	uint32_t *ports, nports;
	pol_kvs headers;
	pol_strs data, stay_in; /* residency */
} pol_raw_rule;

/* One file's stored declarations; payload points into the data given to pol_decls_open. */
typedef struct {
	unsigned char sha256[32];
	uint64_t units;
	const unsigned char *payload;
	size_t len;
} pol_decls_entry;
struct pol_decls {
	pol_decls_entry *entries; /* owned; pol_decls_close */
	uint32_t n;
	/* the strings the rules name by index: strs_len bytes of NUL-terminated strings in the
	 * data given to pol_decls_open, offs[i] where the i-th starts (owned) */
	const char *strs;
	size_t strs_len;
	uint32_t *offs, nstrs;
	const char *copy; /* strs copied into the bundle's arena once a rule needs one */
};
/* Reads the container's index (every length checked; payloads are checked when injected).
 * 1: usable; 0: made by another version of meshpol or for another DSL (every file runs);
 * -1 and err: corrupt. */
int pol_decls_open(const void *data, size_t len, const unsigned char dsl_sha256[32], pol_decls *out,
                   char *err, size_t errlen);
void pol_decls_close(pol_decls *d);
/* The entry of the file with this text (by its SHA-256: sha256 when known, else hashed), or
 * NULL. */
const pol_decls_entry *pol_decls_find(const pol_decls *d, const char *text, size_t len,
                                      const unsigned char *sha256);
/* A file whose stored declarations stand in for its run: its policy is in the DSL's state as
 * the run would have put it, and its rules are one record {block = k} in the state's rules,
 * read by pol_compile from the k-th block (1-based). */
typedef struct {
	const pol_decls_entry *e;
	pol_decls *d;      /* what e is of */
	const char *path;  /* the file's, as its locations start */
	const char *label; /* where the declarations are, for errors */
	size_t rules_at;   /* offset of its rules in e->payload */
	uint32_t nrules;
	uint32_t policy; /* its policy's index in the state's policies (0-based) */
} pol_decls_block;
struct pol_decls_block_list {
	pol_decls_block *v;
	uint32_t n;
};
/* Puts blk's policy, located in blk->path, in the DSL state on top of sb's stack (popped), with
 * the marker of block k for its rules (sets rules_at and nrules). 0, or -1 and err (a corrupt
 * payload, out of memory). */
int pol_decls_inject(struct mp_sandbox *sb, pol_decls_block *blk, uint32_t k, char *err,
                     size_t errlen);
/* Reading a block's rules, one after the other, into the bundle's arena: the strings and loc;
 * the arrays (pol_strs, pol_kvs, ports) into tmp when it is set (the caller copies what it
 * keeps), else into the bundle's arena too. */
typedef struct {
	const pol_decls_block *blk;
	size_t at;
	uint32_t left;
	struct mp_arena *tmp;
} pol_decls_reader;
/* The next rule: 1 and *out; 0 after the last (all bytes read); -1 and err when corrupt. */
int pol_decls_rule(pol_decls_reader *rd, mp_bundle *b, pol_raw_rule *out, char *err, size_t errlen);

/* --- policy_split.c: a directory's policy files loaded on two threads (docs/architecture.md,
 * "Loading a directory on two threads") --- */

typedef struct pol_split pol_split;
/* Starts recording the second part of b's policy files on a second thread (pol_record_files),
 * when src asks for it or the bundle is big enough and the machine has two cores; NULL: one
 * thread (also when the thread cannot start). b must not change until pol_split_free. */
pol_split *pol_split_start(const mp_bundle *b, const mp_bundle_source *src, const char *stdlib_dir);
/* The first file the second thread recorded. */
uint32_t pol_split_from(const pol_split *s);
/* The SHA-256 of b->files[i] for the files it recorded (NULL before them), for pol_decls_find. */
const unsigned char *const *pol_split_sha(const pol_split *s);
/* Waits for the recording. Its declarations, to inject in the loader's state sb (which has run
 * the files before pol_split_from, and nothing else), or NULL: run every file, as one thread
 * would (the thread failed, the DSL differs, or memory is too near the cap to tell that
 * running them in one state would not have run out). Owned by s. */
const pol_decls *pol_split_join(pol_split *s, struct mp_sandbox *sb);
/* Tests: the cap of the second thread's state from now on (0: the loader's). */
void pol_split_test_mem_limit(size_t bytes);
/* Joins the thread if it still runs, and frees s (NULL is fine). */
void pol_split_free(pol_split *s);

/* --- policy_bind.c --- */

/* Pushes the key of a declaration: what it is and its names, never its position in the
 * declaration order (which, for rules declared in a loop over pairs(), differs between states).
 * state is the stack index of the DSL's state table; kind is "rule", "entry" (of a role) or
 * "check"; decl is the DSL's record at that index; entry is the entry's position in its role
 * (for "entry"). Raw reads only. */
void pol_push_decl_key(lua_State *L, int state, const char *kind, int decl, lua_Integer entry);

#endif
