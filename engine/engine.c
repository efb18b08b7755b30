/* engine.c: snapshots and per-thread evaluators (see engine.h). */
#include "engine.h"
#include "alloc.h"
#include "compile.h"
#include "luamodel.h"
#include "provider.h"
#include "sandbox.h"

#include <lauxlib.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define STATE_KEY "meshpol.bundle.state" /* registry: the DSL state table of the bundle */

/* Garbage a decision state may gather between collections (mp_sandbox_gc_headroom): a
 * decision leaves its `req` behind, and the state's live heap is small (77 KB for the
 * reference bundle), so collecting every 77 KB cost a decide more than 1,600 instructions. */
#define MP_EVALUATOR_GC_HEADROOM ((size_t)1 << 20)

/* Does any compiled rule or check call a Lua function? */
static int uses_lua(const mp_bundle *b)
{
	for (uint32_t i = 1; i <= b->nwhens; i++)
		if (b->when_ids[i].key)
			return 1;
	for (uint32_t i = 1; i <= b->nruns; i++)
		if (b->run_ids[i].key)
			return 1;
	return 0;
}

/* Runs the bundle again in a state of its own and binds its functions, as every evaluator will:
 * a bundle whose declarations differ between runs is refused here, at load, rather than failing
 * (closed) at its first `when`. */
static int verify_binding(mp_engine *e, char *err, size_t errlen)
{
	mp_diags d = {0};
	mp_evaluator *ev = mp_evaluator_new(e, NULL, &d);
	int rc = ev && mp_evaluator_sandbox(ev, err, errlen) ? 0 : -1;
	if (!ev)
		snprintf(err, errlen, "out of memory");
	mp_evaluator_free(ev);
	mp_diags_free(&d);
	return rc;
}

/* The snapshot; the policies' compile error (or "out of memory") into d when d is given. */
static mp_engine *engine_new(mp_model *m, mp_bundle *b, mp_diags *d)
{
	char err[1024] = "out of memory";
	mp_engine *e = mp_calloc(1, sizeof(*e));
	mp_provider_state *ps = NULL;
	uint32_t nps = 0;
	if (!e || mp_providers_compile(m, &ps, &nps, err, sizeof(err)) < 0) {
		if (d)
			mp_diags_error(d, NULL, 0, 0, "%s", err);
		mp_free(e);
		mp_bundle_free(b);
		mp_model_free(m);
		return NULL;
	}
	atomic_init(&e->refs, 1);
	e->model = m;
	e->bundle = b;
	e->providers = ps;
	e->nproviders = nps;
	if (b && uses_lua(b) && verify_binding(e, err, sizeof(err)) < 0) {
		if (d)
			mp_diags_error(d, b->dir, 0, 0, "%s", err);
		mp_engine_release(e);
		return NULL;
	}
	return e;
}

mp_engine *mp_engine_new(mp_model *m, mp_bundle *b)
{
	return engine_new(m, b, NULL);
}

mp_engine *mp_engine_new_diags(mp_model *m, mp_bundle *b, mp_diags *d)
{
	return engine_new(m, b, d);
}

mp_engine *mp_engine_retain(mp_engine *e)
{
	atomic_fetch_add_explicit(&e->refs, 1, memory_order_relaxed);
	return e;
}

void mp_engine_release(mp_engine *e)
{
	if (!e || atomic_fetch_sub_explicit(&e->refs, 1, memory_order_acq_rel) != 1)
		return;
	mp_bundle_free(e->bundle);                      /* borrows the model: free it first */
	mp_providers_free(e->providers, e->nproviders); /* so do these */
	mp_model_free(e->model);                        /* this snapshot's reference */
	mp_free(e);
}

mp_engine *mp_engine_with_source(mp_model *m, const mp_bundle_source *src, mp_diags *d)
{
	mp_bundle *b = NULL;
	if (src && !(b = mp_bundle_load_source(src, m, NULL, d))) {
		mp_model_free(m);
		return NULL;
	}
	return engine_new(m, b, d);
}

mp_engine *mp_engine_open(const char *model_path, const char *bundle_dir, mp_diags *d)
{
	return mp_engine_open_opts(model_path, bundle_dir, NULL, 0, d);
}

/* The model loading on a thread of its own while the caller loads the bundle: the two are
 * independent until the policies are compiled against the model (docs/architecture.md,
 * "Loading the model beside the bundle"). */
typedef struct {
	const char *path;            /* borrowed */
	const mp_compile_opts *opts; /* borrowed; may be NULL */
	mp_model *m;                 /* the load's: the thread's until joined, then the caller's */
	mp_diags d;                  /* the model's diagnostics, the same way */
	pthread_t thread;
	int running; /* started and not joined yet */
} model_load;

static void *model_main(void *arg)
{
	model_load *ml = arg;
	ml->m = mp_model_open_opts(ml->path, ml->opts, &ml->d);
	return NULL;
}

/* mp_bundle_model_fn: the model once its thread is done; NULL when it failed. */
static const mp_model *model_wait(void *arg)
{
	model_load *ml = arg;
	if (ml->running)
		pthread_join(ml->thread, NULL);
	ml->running = 0;
	return ml->m;
}

/* Starts the model's thread when two threads are allowed (jobs as mp_load_jobs takes them, and
 * as the audit decides: two on a machine with two cores). 0 when it runs. */
static int model_start(model_load *ml, uint32_t jobs)
{
	jobs = mp_load_jobs(jobs);
	if (jobs == 1 || (jobs == 0 && sysconf(_SC_NPROCESSORS_ONLN) < 2))
		return -1;
	(void)mp_stdlib_dir(); /* its first call fills a static: not on two threads at once */
	/* signals are the caller's threads' to take (the audit's Ctrl-C, the server's loop) */
	sigset_t all, before;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &before);
	ml->running = pthread_create(&ml->thread, NULL, model_main, ml) == 0;
	pthread_sigmask(SIG_SETMASK, &before, NULL);
	return ml->running ? 0 : -1;
}

mp_engine *mp_engine_open_opts(const char *model_path, const char *bundle_dir,
                               const mp_compile_opts *opts, uint32_t jobs, mp_diags *d)
{
	model_load ml = {.path = model_path, .opts = opts};
	mp_diags bd = {0}; /* the bundle's diagnostics, after the model's */
	mp_bundle *b = NULL;
	if (!bundle_dir || model_start(&ml, jobs) < 0)
		model_main(&ml); /* first, on this thread */
	/* the directory's split keeps its own rule for two threads (a bundle big enough to pay);
	 * one thread is one thread for both */
	if (bundle_dir && (ml.running || ml.m))
		b = mp_bundle_load_late(bundle_dir, model_wait, &ml, jobs == 1 ? 1 : 0, NULL, &bd);
	model_wait(&ml);
	/* as one thread reports them: the model's; the bundle's only when there is a model (one
	 * thread would not have loaded the bundle) */
	mp_diags_append(d, &ml.d);
	if (ml.m)
		mp_diags_append(d, &bd);
	mp_diags_free(&bd);
	if (!ml.m || (bundle_dir && !b)) {
		mp_bundle_free(b); /* borrows the model: first */
		mp_model_free(ml.m);
		return NULL;
	}
	return engine_new(ml.m, b, d);
}

struct mp_evaluator {
	mp_engine *engine; /* retained */
	mp_sandbox *sb;    /* NULL until first needed */
	mp_evaluator_opts opts;
	mp_evaluator_stats stats;
	int fn_refs[2]; /* registry refs of the state's "whens" and "runs" (0: none), set with sb */
	char failed[512];   /* why the sandbox could not be built, once it failed */
	uint64_t failed_at; /* failed for want of memory: monotonic ns it did (else 0) */
};

/* How long an evaluator whose state could not be built for want of memory (the process's, not
 * the cap's) waits before building it again; mp_evaluator_retry_after sets it (tests). */
static atomic_uint_least64_t retry_ns = 1000000000u;

void mp_evaluator_retry_after(uint64_t ns)
{
	atomic_store(&retry_ns, ns);
}

static uint64_t now_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

/* The names mp_evaluator_push_fn finds through fn_refs, in its order. */
static const char *const fn_lists[] = {"whens", "runs"};

mp_evaluator *mp_evaluator_new(mp_engine *e, const mp_evaluator_opts *opts, mp_diags *d)
{
	mp_evaluator *ev = mp_calloc(1, sizeof(*ev));
	if (!ev) {
		mp_diags_error(d, NULL, 0, 0, "out of memory");
		return NULL;
	}
	ev->engine = mp_engine_retain(e);
	if (opts)
		ev->opts = *opts;
	if (!ev->opts.when_budget)
		ev->opts.when_budget = MP_WHEN_BUDGET;
	return ev;
}

void mp_evaluator_free(mp_evaluator *ev)
{
	if (!ev)
		return;
	mp_sandbox_free(ev->sb);
	mp_engine_release(ev->engine);
	mp_free(ev);
}

mp_engine *mp_evaluator_engine(const mp_evaluator *ev)
{
	return ev->engine;
}
mp_evaluator_stats *mp_evaluator_stats_of(mp_evaluator *ev)
{
	return &ev->stats;
}

/* mp_evaluator_sandbox's part in the state (run protected: mp_sandbox_protect): the model as
 * `mesh`, then the bundle's files run and the functions decisions and audits call bound. */
typedef struct {
	mp_evaluator *ev;
	mp_sandbox *sb;
	mp_diags d; /* the files' errors: the caller frees them */
	int failed; /* ev->failed says why */
} state_build;

static int build_state(lua_State *L, void *ud)
{
	state_build *s = ud;
	mp_evaluator *ev = s->ev;
	mp_lmodel_push(L, ev->engine->model);
	lua_setglobal(L, "mesh");
	if (!ev->engine->bundle)
		return 0;
	mp_bundle_prepare_state(s->sb);
	if (mp_bundle_run_files(s->sb, ev->engine->bundle, NULL, &s->d) < 0 ||
	    !lua_istable(L, -1)) {
		snprintf(ev->failed, sizeof(ev->failed), "%s",
		         s->d.n ? s->d.v[0].msg : "the bundle did not load in the evaluator");
		s->failed = 1;
		return 0;
	}
	/* Keep only the functions decisions and audits call, bound to the compiled rules by their
	 * declarations' identity: the declarations themselves were compiled into C once, and a
	 * smaller heap makes every collection cheaper. */
	if (mp_bundle_bind(s->sb, ev->engine->bundle, ev->failed, sizeof(ev->failed)) < 0) {
		s->failed = 1;
		return 0;
	}
	/* the function lists by registry ref too: a decision finds its `when` with two array
	 * reads, not two string-keyed lookups */
	for (int w = 0; w < 2; w++) {
		if (lua_getfield(L, -1, fn_lists[w]) == LUA_TTABLE)
			ev->fn_refs[w] = luaL_ref(L, LUA_REGISTRYINDEX);
		else
			lua_pop(L, 1);
	}
	lua_setfield(L, LUA_REGISTRYINDEX, STATE_KEY);
	mp_bundle_release_declarations(s->sb);
	return 0;
}

mp_sandbox *mp_evaluator_sandbox(mp_evaluator *ev, char *err, size_t errlen)
{
	if (ev->sb)
		return ev->sb;
	if (ev->failed[0]) {
		/* what the bundle does fails every time; the process's memory may come back, so
		 * that failure is tried again, once a while (each try loads the bundle) */
		if (!ev->failed_at || now_ns() - ev->failed_at < atomic_load(&retry_ns)) {
			snprintf(err, errlen, "%s", ev->failed);
			return NULL;
		}
		ev->failed[0] = '\0';
		ev->failed_at = 0;
	}
	/* The files load under the load budget, as in mp_bundle_load, so that every front-end
	 * accepts the same bundles; the `when` and `run` calls get theirs after. */
	mp_sandbox_opts o = {.mem_limit = ev->opts.mem_limit,
	                     .instr_budget = MP_BUNDLE_LOAD_BUDGET,
	                     .stdlib_dir = mp_stdlib_dir()};
	state_build s = {.ev = ev};
	char why[256];
	if (!(s.sb = mp_sandbox_new(&o, ev->failed, sizeof(ev->failed))))
		goto fail;
	if (mp_sandbox_protect(s.sb, build_state, &s, 0, 0, why, sizeof(why)) < 0) {
		snprintf(ev->failed, sizeof(ev->failed), "cannot build the evaluator's state: %s",
		         why);
		goto fail;
	}
	if (s.failed)
		goto fail;
	mp_sandbox_set_budget(s.sb, ev->opts.when_budget);
	mp_sandbox_gc_headroom(s.sb, MP_EVALUATOR_GC_HEADROOM);
	mp_diags_free(&s.d);
	ev->sb = s.sb;
	return s.sb;
fail:
	/* no state at all, or the allocator (not the cap) had no memory: it may pass */
	if (!s.sb || mp_sandbox_mem_exhausted(s.sb))
		ev->failed_at = now_ns();
	mp_diags_free(&s.d);
	mp_sandbox_free(s.sb);
	ev->fn_refs[0] = ev->fn_refs[1] = 0; /* refs of the state just freed */
	snprintf(err, errlen, "%s", ev->failed);
	return NULL;
}

int mp_evaluator_push_fn(mp_evaluator *ev, const char *which, int32_t i, char *err, size_t errlen)
{
	mp_sandbox *sb = mp_evaluator_sandbox(ev, err, errlen);
	if (!sb)
		return -1;
	lua_State *L = mp_sandbox_lua(sb);
	/* the lists by the registry refs build_state took (none: the bundle has no such function);
	 * reading the registry's array and a table's cannot raise */
	for (int w = 0; w < 2; w++) {
		if (ev->fn_refs[w] <= 0 || strcmp(which, fn_lists[w]) != 0)
			continue;
		lua_rawgeti(L, LUA_REGISTRYINDEX, ev->fn_refs[w]);
		if (lua_rawgeti(L, -1, i) == LUA_TFUNCTION) {
			lua_replace(L, -2);
			return 0;
		}
		lua_pop(L, 2);
		break;
	}
	snprintf(err, errlen, "internal error: no %s[%d] in the evaluator", which, (int)i);
	return -1;
}
