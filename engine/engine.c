/* engine.c: snapshots and per-thread evaluators (see engine.h). */
#include "engine.h"
#include "alloc.h"
#include "compile.h"
#include "luamodel.h"
#include "provider.h"
#include "sandbox.h"

#include <lauxlib.h>
#include <stdio.h>
#include <string.h>

#define STATE_KEY "meshpol.bundle.state" /* registry: the DSL state table of the bundle */

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
	mp_model *m = mp_model_open(model_path, d);
	if (!m)
		return NULL;
	mp_bundle *b = NULL;
	if (bundle_dir && !(b = mp_bundle_load(bundle_dir, m, NULL, d))) {
		mp_model_free(m);
		return NULL;
	}
	return engine_new(m, b, d);
}

struct mp_evaluator {
	mp_engine *engine; /* retained */
	mp_sandbox *sb;    /* NULL until first needed */
	mp_evaluator_opts opts;
	mp_evaluator_stats stats;
	char failed[512]; /* why the sandbox could not be built, once it failed */
};

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

mp_sandbox *mp_evaluator_sandbox(mp_evaluator *ev, char *err, size_t errlen)
{
	if (ev->sb)
		return ev->sb;
	if (ev->failed[0]) {
		snprintf(err, errlen, "%s", ev->failed);
		return NULL;
	}
	mp_diags d = {0};
	/* The files load under the load budget, as in mp_bundle_load, so that every front-end
	 * accepts the same bundles; the `when` and `run` calls get theirs after. */
	mp_sandbox_opts o = {.mem_limit = ev->opts.mem_limit,
	                     .instr_budget = MP_BUNDLE_LOAD_BUDGET,
	                     .stdlib_dir = mp_stdlib_dir()};
	mp_sandbox *sb = mp_sandbox_new(&o, ev->failed, sizeof(ev->failed));
	if (!sb)
		goto fail;
	lua_State *L = mp_sandbox_lua(sb);
	mp_lmodel_push(L, ev->engine->model);
	lua_setglobal(L, "mesh");
	if (ev->engine->bundle) {
		mp_bundle_prepare_state(sb);
		if (mp_bundle_run_files(sb, ev->engine->bundle, NULL, &d) < 0 ||
		    !lua_istable(L, -1)) {
			snprintf(ev->failed, sizeof(ev->failed), "%s",
			         d.n ? d.v[0].msg : "the bundle did not load in the evaluator");
			goto fail;
		}
		/* Keep only the functions decisions and audits call, bound to the compiled rules by
		 * their declarations' identity: the declarations themselves were compiled into C
		 * once, and a smaller heap makes every collection cheaper. */
		if (mp_bundle_bind(sb, ev->engine->bundle, ev->failed, sizeof(ev->failed)) < 0)
			goto fail;
		lua_setfield(L, LUA_REGISTRYINDEX, STATE_KEY);
		mp_bundle_release_declarations(sb);
	}
	mp_sandbox_set_budget(sb, ev->opts.when_budget);
	mp_diags_free(&d);
	ev->sb = sb;
	return sb;
fail:
	mp_diags_free(&d);
	mp_sandbox_free(sb);
	snprintf(err, errlen, "%s", ev->failed);
	return NULL;
}

int mp_evaluator_push_fn(mp_evaluator *ev, const char *which, int32_t i, char *err, size_t errlen)
{
	mp_sandbox *sb = mp_evaluator_sandbox(ev, err, errlen);
	if (!sb)
		return -1;
	lua_State *L = mp_sandbox_lua(sb);
	lua_getfield(L, LUA_REGISTRYINDEX, STATE_KEY);
	if (!lua_istable(L, -1) || lua_getfield(L, -1, which) != LUA_TTABLE ||
	    lua_rawgeti(L, -1, i) != LUA_TFUNCTION) {
		lua_settop(L, lua_gettop(L) - 3);
		snprintf(err, errlen, "internal error: no %s[%d] in the evaluator", which, (int)i);
		return -1;
	}
	lua_replace(L, -3);
	lua_pop(L, 1);
	return 0;
}
