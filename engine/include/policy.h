/* policy.h: a policy bundle, loaded and compiled against a model: metadata, versions, and the
 * rules as C data with indexes by destination. Language: docs/policy-language.md; design:
 * docs/architecture.md ("Policies"). Implemented by policy.c (loading), policy_compile.c
 * (compiling declarations) and policy_bind.c (binding another state's functions).
 *
 * Ownership: an mp_bundle owns everything it points at (one arena), copies of its files
 * included, and borrows the model it was compiled against, which must outlive it (the engine
 * snapshot holds both). Immutable after mp_bundle_load returns; any number of threads may read
 * it.
 */
#ifndef MP_POLICY_H
#define MP_POLICY_H

#pragma GCC visibility push(default) /* the engine's interface: exported */

#include "decl.h"
#include "diag.h"
#include "match.h"
#include "model.h"

#include <lua.h>
#include <stdint.h>

/* Budget units each policy file's top-level code may take when a bundle loads, in every
 * front-end (`check` reports each file's share); a `when` call has its own, smaller budget. */
#define MP_BUNDLE_LOAD_BUDGET ((uint64_t)100000000u)
/* Bytes the state that loads a bundle may hold: every file's declarations at once (84,000
 * generated rules hold about 60 MB) and the file running; a `when` call's state has its own
 * cap (the evaluator's). */
#define MP_BUNDLE_LOAD_MEM_LIMIT ((size_t)128 << 20)

typedef enum { MP_ENF_ADVISORY = 0, MP_ENF_SOFT, MP_ENF_HARD } mp_enforcement;
typedef enum {
	MP_SEV_INFO = 0,
	MP_SEV_LOW,
	MP_SEV_MEDIUM,
	MP_SEV_HIGH,
	MP_SEV_CRITICAL
} mp_severity;

typedef struct {
	const char *name, *version, *kind, *description, *file, *loc;
	uint32_t enforcement; /* mp_enforcement */
	uint32_t severity;    /* mp_severity */
	const char **controls;
	uint32_t ncontrols;
	uint32_t enabled; /* listed by the manifest (or the manifest lists none) */
} mp_policy;

typedef enum {
	MP_RULE_ALLOW = 0,
	MP_RULE_DENY,
	MP_RULE_RESIDENCY,
	MP_RULE_REQUIRE_MTLS,
	MP_RULE_DECLARED_ROUTES,
} mp_rule_type;

typedef struct {
	const char *name; /* lower case */
	mp_pattern value;
} mp_header_match;

typedef struct {
	const char *key, *value;
} mp_kv;

/* Who a rule applies to on the calling side. Every non-empty list must match (any element).
 * Counts first: a decision usually reads only them and the first pointer it needs. */
typedef struct {
	uint8_t any;           /* no constraint at all */
	uint8_t authenticated; /* a principal is required */
	uint32_t nprincipals, nnamespaces, nservices, nlabels;

	mp_pattern *principals; /* exact ones carry the model string id of their text */
	mp_id *namespaces;      /* model namespace ids */
	mp_id *services;        /* model service ids */
	mp_kv *labels;
} mp_source;

/* A compiled rule. The fields a decision reads come first (about one cache line with `from`);
 * names and texts for reasons, explanations and the auditor follow. */
typedef struct {
	uint8_t type;     /* mp_rule_type */
	uint8_t dest_any; /* "*" with no namespace or label constraint */
	uint16_t nheaders;
	uint32_t policy;  /* index into bundle->policies */
	uint32_t methods; /* MP_METHOD_* mask; 0 = any */
	int32_t when;     /* index (1-based) into the Lua state's `whens`, or 0 */
	uint32_t npaths, nports;
	mp_source from;
	mp_pattern *paths;
	uint32_t *ports;
	mp_header_match *headers;
	/* residency */
	uint32_t ndata, njurisdictions;
	const char **data;
	mp_str *data_ids; /* the classes as model strings; MP_NONE when no service has the class */
	mp_id *jurisdictions;
	/* cold: for reasons, explanations and the auditor */
	const char *name, *message, *loc;
	const char *via;       /* for role grants: "role R (bind at FILE:LINE)"; else NULL */
	const char *bind_loc;  /* for role grants: the binding's FILE:LINE */
	const char *dest_text; /* the destination as written */
} mp_rule;

typedef struct {
	const char *name, *description, *loc;
	uint32_t policy;
	uint32_t severity;
	int32_t run; /* index (1-based) into the Lua state's `runs` */
} mp_check;

/* A role as declared, for the auditor (its grants are rules with `via` set). */
typedef struct {
	const char *name, *loc;
	uint32_t policy;
	uint32_t nbinds; /* bindings naming it */
} mp_role;

typedef enum { MP_DEFAULT_DENY = 0, MP_DEFAULT_ALLOW = 1 } mp_default;

/* One file of the bundle, kept so that every Lua state runs exactly what was hashed. */
typedef struct {
	const char *path; /* as found: DIR/relative; an in-memory file's name */
	const char *rel;  /* relative to the bundle directory; an in-memory file's name */
	const char *text;
	size_t len;
	uint32_t is_test;
	int32_t in_memory; /* -1: read from the directory; else its mp_bundle_source.files index */
	uint64_t load_units; /* budget units its top-level code took at load (policy files) */
	/* 1: at load it declared no `when` or `run` function, so a state that is only there for
	 * the bundle's functions (an evaluator's) need not run it; 0: run it (the default). */
	uint32_t no_fns;
} mp_bundle_file;

/* A policy file given in memory rather than read from the bundle directory (the shell's
 * session). It loads as if it were a file of that name at the top of the directory: in path
 * order among the directory's policy files, covered by the bundle's hash, its locations
 * "NAME:LINE", and the policy it declares enabled whatever the manifest's `policies` list. */
typedef struct {
	const char *name; /* a file name: 1 to 255 bytes of UTF-8, no control character, '/' or
	                   * ':', not starting with '.', ending in ".lua" but not "_test.lua", and
	                   * neither a file nor a directory at the top of the bundle directory */
	const char *text; /* len bytes of Lua, at most 16 MiB, no NUL byte among them */
	size_t len;
} mp_bundle_text;

/* A declaration that replaces others: the one of this type and name made from `line` on in the
 * in-memory file `file`. Every other declaration of that type and name, in the directory's
 * files, in the in-memory files listed before `file` and above `line` in `file`, is left out as
 * if it were not written: its DSL word returns at once and records nothing (the check is the
 * engine's, in C, and every state that runs the bundle makes it). Later in-memory files and
 * later lines of `file` are not affected, so two declarations of a name in one chunk of lines
 * are still a duplicate. */
typedef struct {
	const char *type; /* a word mp_bundle_replaceable accepts */
	const char *name;
	uint32_t file; /* index into mp_bundle_source.files */
	uint32_t line; /* 1-based */
} mp_bundle_skip;

/* Is word a DSL word whose declarations an mp_bundle_skip can leave out (allow, deny,
 * residency, require_mtls, declared_routes_only, role, check; not policy or bind)? */
int mp_bundle_replaceable(const char *word);

typedef struct mp_bundle mp_bundle;
struct mp_bundle {
	const mp_model *model; /* borrowed */
	const char *dir;       /* NULL: none (the bundle is in-memory files alone) */
	const char *name, *revision;
	const char
	    *revision_override; /* as given in its mp_bundle_source (or files_of's); or NULL */
	const char *model_hint; /* the manifest's `model`, resolved against dir; or NULL */
	char sha256[65];
	uint32_t default_decision; /* mp_default */
	const char **mask;
	uint32_t nmask;

	mp_policy *policies;
	uint32_t npolicies;
	mp_rule *rules;
	uint32_t nrules;
	mp_check *checks;
	uint32_t nchecks;
	mp_role *roles;
	uint32_t nroles;

	mp_bundle_file *files; /* policy files first (in load order), then tests */
	uint32_t nfiles, npolicy_files;
	mp_bundle_skip *skips; /* as given in its mp_bundle_source */
	uint32_t nskips;
	uint32_t nwhens, nruns;
	/* [1..nwhens], [1..nruns]: who declared each function a compiled rule or check calls, as
	 * the loading state saw it; every other state binds its functions by these (decl.h) */
	mp_decl_id *when_ids, *run_ids;

	/* Indexes: the allow/deny rules that can apply to a destination, in rule order. */
	uint32_t *svc_off; /* nservices + 1 */
	uint32_t *svc_rules;
	uint32_t *ext_off; /* nexternals + 1 */
	uint32_t *ext_rules;
	uint32_t *global_rules; /* residency and traffic rules: checked on every request */
	uint32_t nglobal;
	/* The same rows laid out for the cache (the engine's own: engine/decide_index.h); NULL
	 * only in a bundle that is not compiled yet. */
	const struct mp_dindex *dindex;

	struct mp_arena *arena;
};

/* Where a bundle comes from: a directory, in-memory policy files, or both. Zero-initialise,
 * then set what applies; the loader copies what it keeps, so all of it may go once it returns. */
typedef struct {
	/* The bundle directory: its manifest (bundle.yaml) and files. NULL: none; the bundle is the
	 * in-memory files alone, named by name and revision, with the default deny. */
	const char *dir;
	/* NULL, or a bundle loaded from dir before: its manifest and the files it read from dir
	 * are used again, as they were then, and dir is not read (a rebuild that must not pick up
	 * edits made on disk since). Its in-memory files are not taken. dir must be its dir. */
	const mp_bundle *files_of;
	const mp_bundle_text *files; /* in-memory policy files */
	uint32_t nfiles;
	const mp_bundle_skip *skips; /* declarations the in-memory files replace */
	uint32_t nskips;
	const char *revision_suffix; /* appended to the manifest's revision ("+shell"); or NULL */
	const char *name, *revision; /* without a directory: the bundle's name and revision */
	/* The directory's files given in memory instead of read from disk (a Git revision's tree,
	 * bundlesrc.h; an archive's files, barchive.h): each name a path relative to dir
	 * ("rbac/billing.lua", "bundle.yaml"). The loader takes them in the order a walk of the
	 * directory finds them (each directory's names sorted, bytewise), whatever order they are
	 * given in, and refuses a name a walk could not find (a component starting with '.', "..",
	 * an empty one, a leading '/'), a name given twice, a file over 16 MiB. dir then only
	 * names them, in paths and locations ("HEAD~1:policies/rbac/billing.lua:12",
	 * "b.tar.gz/rbac/billing.lua:12"), and is not read; the bundle hash is the one the
	 * directory's walk gives. ntree 0: read dir. Not with files_of. */
	const mp_bundle_text *tree;
	uint32_t ntree;
	/* NULL, or the revision to report instead of the manifest's (an archive's manifest sets
	 * it: `meshpol bundle build --revision`); kept by a rebuild from files_of. */
	const char *revision_override;
	/* NULL, or what an archive's manifest says the loaded bundle is: its name and bundle
	 * SHA-256; a bundle that is not is refused, naming both. */
	const char *expect_name, *expect_sha256;
	/* NULL, or the declarations an archive keeps of its policy files (.meshpol/
	 * declarations.bin, mp_bundle_declarations; checked against the manifest already): a file
	 * with stored declarations is not run, they go into the DSL's state as its run would have
	 * put them. Borrowed for the load only; a rebuild from files_of runs every file.
	 * decls_label names them in errors. */
	const void *decls;
	size_t decls_len;
	const char *decls_label;
	/* Threads for a directory's policy files (docs/architecture.md, "Loading a directory on
	 * two threads"): 1 runs them all on the calling thread; 2 records the second part of them
	 * on a second thread whatever their size; 0: $MESHPOL_LOAD_JOBS (1 or 2) when set, else
	 * two threads when the machine has two cores and the files are big enough to pay. The
	 * bundle is the same either way. */
	uint32_t jobs;
	/* mp_bundle_source_open's storage (bundlesrc.h); NULL for a source set up by hand */
	void *owned;
} mp_bundle_source;

/* Loads a bundle from src and compiles it against m. stdlib_dir is where `require` finds the
 * DSL (mp_stdlib_dir() by default). NULL with every error in d: an in-memory file that breaks
 * a rule of mp_bundle_text, a skip that names no in-memory file or a word that cannot be
 * replaced, and every error of the files themselves, located in them (NAME:LINE). */
mp_bundle *mp_bundle_load_source(const mp_bundle_source *src, const mp_model *m,
                                 const char *stdlib_dir, mp_diags *d);
/* mp_bundle_load_source of the directory dir alone; when dir is a file, the bundle archive
 * there (barchive.h: read and checked in memory, never extracted). */
mp_bundle *mp_bundle_load(const char *dir, const mp_model *m, const char *stdlib_dir, mp_diags *d);
/* The model of mp_bundle_load_late, delivered late: may block (it is loading on another thread);
 * NULL when there is none. */
typedef const mp_model *(*mp_bundle_model_fn)(void *arg);
/* mp_bundle_load with the model given late, so that it may load meanwhile (mp_engine_open):
 * model(arg) is called once, just before the policies are compiled against it (nothing before
 * needs a model), and not at all when the load fails earlier; NULL from it stops the load with
 * nothing more reported (the caller reports why). jobs as mp_bundle_source's. */
mp_bundle *mp_bundle_load_late(const char *dir, mp_bundle_model_fn model, void *arg, uint32_t jobs,
                               const char *stdlib_dir, mp_diags *d);
/* The threads a load may use: jobs when 1 or 2, else $MESHPOL_LOAD_JOBS when "1" or "2", else 0
 * (as the machine allows). */
uint32_t mp_load_jobs(uint32_t jobs);
void mp_bundle_free(mp_bundle *b); /* NULL is fine */
/* The declarations b's policy files make, recorded for an archive (.meshpol/declarations.bin,
 * docs/bundles.md "Compiled declarations"): b's files are run again, and each that declared no
 * function, made no error and called nothing nondeterministic is kept, keyed by its SHA-256.
 * 0 and *out (mp_free), or -1 with errors in d. */
int mp_bundle_declarations(const mp_bundle *b, const char *stdlib_dir, void **out, size_t *len,
                           mp_diags *d);
/* How many policy files declarations (mp_bundle_declarations's bytes) hold; -1 when they are
 * not in a format this meshpol writes. */
int64_t mp_bundle_declarations_count(const void *data, size_t len);

/* The manifest's `model` of the bundle in dir (the mesh its tests and `check` use when no model
 * is given), resolved against dir, into buf; for a bundle archive, the archive's own path
 * (mp_model_open reads the model in it, or says why it cannot). 0, or -1 when there is none. */
int mp_bundle_model_hint(const char *dir, char *buf, size_t len);

/* The stdlib directory: $MESHPOL_STDLIB, else ../stdlib beside the executable, else "stdlib". */
const char *mp_stdlib_dir(void);

const char *mp_enforcement_name(uint32_t e);
const char *mp_severity_name(uint32_t s);

/* Runs the bundle's policy files in a fresh environment of the sandbox's state L (which must
 * have the host module preloaded, see mp_bundle_prepare_state) and leaves the DSL's state table
 * (policies, rules, whens, runs, ...) on the stack. Errors go to d with file:line. Used by
 * mp_bundle_load and by every evaluator (which then binds its functions with mp_bundle_bind).
 * Each file is one top-level call under the sandbox's budget (the load budget,
 * MP_BUNDLE_LOAD_BUDGET, wherever a bundle is loaded); when units is not NULL, units[i] gets
 * what the i-th policy file took. units NULL means the state is there for the bundle's functions
 * (an evaluator's): files marked no_fns are not run, as their declarations were compiled into C
 * at load and nothing of them is bound (a mesh's generated grants are most of a big bundle).
 * Returns 0, or -1 when a file failed. */
struct mp_sandbox;
int mp_bundle_run_files(struct mp_sandbox *sb, const mp_bundle *b, uint64_t *units, mp_diags *d);
/* Binds the functions of a state that ran the files (the DSL's state table on top of its stack,
 * as mp_bundle_run_files leaves it) to the bundle's rules and checks: each `when` and `run` is
 * found by its declaration's key and must have the digest the loading state recorded, or the
 * state is refused (a declaration that depends on pairs() order, the time or anything else that
 * varies between runs). On success replaces the state table with {whens = ..., runs = ...}
 * indexed as the compiled rules' `when` and checks' `run`, and returns 0; else pops it, writes
 * why into err and returns -1. */
int mp_bundle_bind(struct mp_sandbox *sb, const mp_bundle *b, char *err, size_t errlen);
/* Drops the DSL's record of the declarations in a state that ran the files (the caller has kept
 * what it needs) and collects the garbage. */
void mp_bundle_release_declarations(struct mp_sandbox *sb);
/* Preloads the host module
 (meshpol.host: where(level)) into a sandbox. */
void mp_bundle_prepare_state(struct mp_sandbox *sb);
/* The four functions above can raise a memory error: call them where an error is caught, inside
 * mp_sandbox_protect (sandbox.h) or a C function that mp_sandbox_pcall runs. */

#pragma GCC visibility pop

#endif
