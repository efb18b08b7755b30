/* engine.h: engine snapshots (one model + one bundle, immutable, reference-counted) and
 * evaluators (one Lua state per thread for a snapshot's `when` and `check` functions).
 * Design: docs/architecture.md ("Snapshots").
 *
 * Lifecycle of a snapshot:
 *   mp_engine_new (refs = 1) --mp_engine_retain--> refs + 1
 *   --mp_engine_release--> refs - 1; at 0 the bundle is freed and the model released.
 * An evaluator retains its snapshot for its whole life, so work in flight on an old snapshot
 * finishes on it after a reload swapped in a new one. Snapshots may share a model (it is
 * reference-counted too, model.h): a new bundle over the same mesh takes
 * mp_model_retain(old->model) instead of a copy, and the model goes with its last snapshot.
 */
#ifndef MP_ENGINE_H
#define MP_ENGINE_H

#pragma GCC visibility push(default) /* the engine's interface: exported */

#include "compile.h"
#include "diag.h"
#include "model.h"
#include "policy.h"

#include <lua.h>
#include <stdatomic.h>

typedef struct mp_engine {
	atomic_int refs;
	mp_model *model;   /* one reference (other snapshots may hold more) */
	mp_bundle *bundle; /* owned; NULL: no bundle (decisions use the default deny) */
	/* owned: one state per mesh provider with something to decide (provider.h) */
	struct mp_provider_state *providers;
	uint32_t nproviders;
} mp_engine;

/* Takes the caller's reference to m and ownership of b (b may be NULL) and compiles every
 * mesh provider's state. NULL when out of memory or when a provider's resource does not
 * compile (b is freed and the reference to m dropped). */
mp_engine *mp_engine_new(mp_model *m, mp_bundle *b);
/* The same, with why it failed in d. */
mp_engine *mp_engine_new_diags(mp_model *m, mp_bundle *b, mp_diags *d);
mp_engine *mp_engine_retain(mp_engine *e);
void mp_engine_release(mp_engine *e); /* NULL is fine */

/* Builds a snapshot from a MODEL argument (.mpm or YAML) and an optional bundle directory.
 * NULL with every error in d. */
mp_engine *mp_engine_open(const char *model_path, const char *bundle_dir, mp_diags *d);
/* Takes the caller's reference to m and builds a snapshot of it with the bundle src names
 * (bundlesrc.h; NULL: no bundle). NULL with every error in d (the reference dropped). */
mp_engine *mp_engine_with_source(mp_model *m, const mp_bundle_source *src, mp_diags *d);
/* The same, compiling YAML sources with opts (NULL: defaults): `meshpol audit` analyses. jobs:
 * the threads of the load (mp_load_jobs): with two, the model loads on a thread of its own
 * while this one loads the bundle, and the diagnostics are the ones one thread gives, in its
 * order (the model's, then the bundle's only when the model loaded); mp_engine_open's is 0. */
mp_engine *mp_engine_open_opts(const char *model_path, const char *bundle_dir,
                               const mp_compile_opts *opts, uint32_t jobs, mp_diags *d);

typedef struct mp_evaluator mp_evaluator;

/* Budget units a `when` call may take unless the front-end says otherwise (serve
 * --when-budget); loading takes MP_BUNDLE_LOAD_BUDGET a file. */
#define MP_WHEN_BUDGET ((uint64_t)1000000u)

typedef struct {
	uint64_t when_budget; /* instructions per `when` call; 0: MP_WHEN_BUDGET */
	size_t mem_limit;     /* bytes for the Lua state; 0: the sandbox default */
} mp_evaluator_opts;

/* An evaluator for one thread. Its Lua state is created on first need (a bundle with no `when`
 * and no `check` never creates one). Retains e. NULL with errors in d. */
mp_evaluator *mp_evaluator_new(mp_engine *e, const mp_evaluator_opts *opts, mp_diags *d);
void mp_evaluator_free(mp_evaluator *ev); /* releases its snapshot */
mp_engine *mp_evaluator_engine(const mp_evaluator *ev);

/* The evaluator's sandbox with the bundle loaded, `mesh` set, and the DSL's state table in the
 * registry; NULL with a message in err if it cannot be built. A failure of the bundle's own (its
 * files fail, the cap is too small for them) stays: every later call says it, until the
 * evaluator is made again (a reload). One for want of the process's memory is tried again
 * once a second has passed (mp_evaluator_retry_after), so a moment of memory pressure does not
 * deny every `when` until a reload. */
struct mp_sandbox *mp_evaluator_sandbox(mp_evaluator *ev, char *err, size_t errlen);
/* The wait before such a failure is tried again, in ns, for every evaluator (1 s; tests). */
void mp_evaluator_retry_after(uint64_t ns);
/* Pushes the function at index i (1-based) of the state's `whens` (which = "whens") or `runs`. */
int mp_evaluator_push_fn(mp_evaluator *ev, const char *which, int32_t i, char *err, size_t errlen);

/* Counters (per evaluator; front-ends add them up). */
typedef struct {
	uint64_t decisions, when_calls, when_errors;
} mp_evaluator_stats;
mp_evaluator_stats *mp_evaluator_stats_of(mp_evaluator *ev);

#pragma GCC visibility pop

#endif
