/* shadow.c: the candidate bundle of `meshpol serve --shadow-bundle` (shadow.h). The candidate
 * is a snapshot of its own (the serving model, the candidate bundle), swapped like the serving
 * one: one atomic pointer, retained under a lock, rebuilt by every reload on the reload's
 * thread. Each worker keeps an evaluator of it and its own counters (summed when /metrics is
 * scraped). A request is decided by the candidate only when both snapshots are of the same
 * model (by hash: during a reload they may briefly not be). docs/server.md ("Shadow bundle"). */
#include "shadow.h"
#include "alloc.h"
#include "bundlesrc.h"
#include "changes.h"
#include "decision_json.h"

#include <event2/buffer.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

typedef struct mp_shadow mp_shadow;

struct mp_shadow {
	mp_bundle_source *src;        /* the candidate, as --shadow-bundle names it */
	_Atomic(mp_engine *) current; /* NULL: the last build failed */
	pthread_mutex_t lock;         /* a worker retains current under it; the swap takes it */
	_Atomic uint64_t build_failures;
};

/* A worker's: written by its thread only. */
struct mp_shadow_worker {
	mp_engine *engine; /* the candidate its evaluator is of (retained by ev) */
	mp_evaluator *ev;
	const mp_engine *served; /* the serving snapshot same_model was worked out for */
	int same_model;
	_Atomic uint64_t decisions, skipped, errors, disagree[3][3];
};

static mp_engine *build(mp_shadow *sh, mp_model *m, mp_diags *d)
{
	mp_engine *e = mp_engine_with_source(mp_model_retain(m), sh->src, d);
	mp_evaluator *ev = e ? mp_evaluator_new(e, NULL, d) : NULL;
	char err[512];
	if (ev && e->bundle && (e->bundle->nwhens || e->bundle->nruns) &&
	    !mp_evaluator_sandbox(ev, err, sizeof(err)))
		mp_diags_error(d, e->bundle->dir, 0, 0,
		               "the shadow bundle does not load in an evaluator: %s", err);
	mp_evaluator_free(ev);
	if (e && d->errors) {
		mp_engine_release(e);
		e = NULL;
	}
	return e;
}

int mp_shadow_start(mp_server *srv, const mp_engine *e)
{
	mp_diags d = {0};
	mp_shadow *sh = mp_calloc(1, sizeof(*sh));
	if (!sh || !(sh->src = mp_bundle_source_open(srv->cfg->shadow_bundle, &d)))
		goto fail;
	pthread_mutex_init(&sh->lock, NULL);
	mp_engine *c = build(sh, e->model, &d);
	if (!c) {
		pthread_mutex_destroy(&sh->lock);
		goto fail;
	}
	atomic_store(&sh->current, c);
	srv->shadow = sh;
	const mp_bundle *b = c->bundle;
	fprintf(stderr, "meshpol serve: shadow bundle %s revision %s sha256 %.12s\n",
	        b ? b->name : "-", b ? b->revision : "-", b ? b->sha256 : "-");
	mp_diags_free(&d);
	return 0;
fail:
	mp_diags_print(&d, stderr);
	fprintf(stderr, "meshpol serve: cannot load the shadow bundle: %u error%s\n", d.errors,
	        d.errors == 1 ? "" : "s");
	mp_diags_free(&d);
	if (sh)
		mp_bundle_source_close(sh->src);
	mp_free(sh);
	return -1;
}

void mp_shadow_free(mp_server *srv)
{
	mp_shadow *sh = srv->shadow;
	if (!sh)
		return;
	mp_engine_release(atomic_load(&sh->current));
	mp_bundle_source_close(sh->src);
	pthread_mutex_destroy(&sh->lock);
	mp_free(sh);
	srv->shadow = NULL;
}

void mp_shadow_rebuild(mp_server *srv, mp_model *m, mp_shadow_build *out)
{
	memset(out, 0, sizeof(*out));
	if (!srv->shadow || !m)
		return;
	out->built = 1;
	out->e = build(srv->shadow, m, &out->d);
}

void mp_shadow_commit(mp_server *srv, mp_shadow_build *b)
{
	mp_shadow *sh = srv->shadow;
	if (!sh || !b->built)
		return;
	if (!b->e) {
		atomic_fetch_add(&sh->build_failures, 1);
		fprintf(stderr,
		        "meshpol serve: the shadow bundle did not load; no shadow decisions "
		        "until a reload loads it:\n");
		mp_diags_print(&b->d, stderr);
	}
	pthread_mutex_lock(&sh->lock);
	mp_engine *old = atomic_exchange(&sh->current, b->e);
	pthread_mutex_unlock(&sh->lock);
	mp_engine_release(old);
	b->e = NULL;
	b->built = 0;
}

void mp_shadow_build_free(mp_shadow_build *b)
{
	mp_engine_release(b->e);
	mp_diags_free(&b->d);
	memset(b, 0, sizeof(*b));
}

/* The worker's evaluator of the current candidate; NULL when there is none. */
static mp_evaluator *evaluator(mp_worker *w, mp_shadow *sh, struct mp_shadow_worker *sw)
{
	mp_engine *cur = atomic_load_explicit(&sh->current, memory_order_acquire);
	if (cur == sw->engine)
		return sw->ev;
	pthread_mutex_lock(&sh->lock);
	cur = atomic_load(&sh->current);
	if (cur)
		mp_engine_retain(cur);
	pthread_mutex_unlock(&sh->lock);
	mp_diags d = {0};
	mp_evaluator_opts opts = {.when_budget = w->srv->cfg->when_budget};
	mp_evaluator *ev = cur ? mp_evaluator_new(cur, &opts, &d) : NULL;
	mp_diags_free(&d);
	mp_engine_release(cur); /* ev holds its own */
	if (cur && !ev) {
		mp_metrics_add(&sw->errors, 1);
		return sw->ev; /* keep the previous one; retry next request */
	}
	mp_evaluator_free(sw->ev);
	sw->ev = ev;
	sw->engine = cur;
	sw->served = NULL;
	return ev;
}

void mp_shadow_decide(mp_worker *w, const mp_request *r, const mp_engine *served,
                      const mp_decision *d, mp_shadow_result *out)
{
	mp_shadow *sh = w->srv->shadow;
	out->state = MP_SHADOW_NONE;
	if (!sh)
		return;
	struct mp_shadow_worker *sw = atomic_load_explicit(&w->shadow, memory_order_relaxed);
	if (!sw) {
		if (!(sw = mp_calloc(1, sizeof(*sw))))
			return;
		atomic_store_explicit(&w->shadow, sw, memory_order_release);
	}
	mp_evaluator *ev = evaluator(w, sh, sw);
	if (ev && served != sw->served) {
		sw->served = served;
		sw->same_model =
		    !strcmp(mp_model_sha256(served->model), mp_model_sha256(sw->engine->model));
	}
	if (!ev || !sw->same_model) {
		mp_metrics_add(&sw->skipped, 1);
		return;
	}
	mp_decide(ev, r, &out->dec, NULL);
	mp_metrics_add(&sw->decisions, 1);
	out->engine = sw->engine;
	if (mp_decision_same(served, d, sw->engine, &out->dec)) {
		out->state = MP_SHADOW_AGREE;
		return;
	}
	out->state = MP_SHADOW_DISAGREE;
	mp_metrics_add(
	    &sw->disagree[d->effect < 3 ? d->effect : 2][out->dec.effect < 3 ? out->dec.effect : 2],
	    1);
}

void mp_shadow_record(mp_jsonbuf *b, const mp_shadow_result *s, const char *id)
{
	if (s->state != MP_SHADOW_DISAGREE)
		return;
	mp_jsonbuf_raw(b, ",\"shadow\":{\"decision\":", 22);
	mp_decision_json_write(b, s->engine, &s->dec, id, MP_DECISION_JSON_SORTED);
	mp_jsonbuf_raw(b, "}", 1);
}

void mp_shadow_worker_free(mp_worker *w)
{
	struct mp_shadow_worker *sw = atomic_load(&w->shadow);
	if (!sw)
		return;
	mp_evaluator_free(sw->ev);
	mp_free(sw);
	atomic_store(&w->shadow, NULL);
}

/* A counter of every worker's, added up (any thread). */
static uint64_t sum(mp_server *srv, size_t off)
{
	uint64_t n = 0;
	for (int i = 0; i < srv->nworkers; i++) {
		mp_worker *w = mp_server_worker(srv, i);
		struct mp_shadow_worker *sw = w ? atomic_load(&w->shadow) : NULL;
		if (sw)
			n += atomic_load_explicit((_Atomic uint64_t *)((char *)sw + off),
			                          memory_order_relaxed);
	}
	return n;
}
#define SUM(srv, field) sum(srv, offsetof(struct mp_shadow_worker, field))

void mp_shadow_metrics(mp_server *srv, struct evbuffer *o)
{
	mp_shadow *sh = srv->shadow;
	if (!sh)
		return;
	pthread_mutex_lock(&sh->lock);
	mp_engine *cur = atomic_load(&sh->current);
	if (cur)
		mp_engine_retain(cur);
	pthread_mutex_unlock(&sh->lock);
	const mp_bundle *b = cur ? cur->bundle : NULL;
	evbuffer_add_printf(o,
	                    "# HELP meshpol_shadow_loaded 1 while a shadow bundle decides beside "
	                    "the serving one.\n# TYPE meshpol_shadow_loaded gauge\n"
	                    "meshpol_shadow_loaded %d\n",
	                    cur != NULL);
	if (b)
		evbuffer_add_printf(
		    o,
		    "# HELP meshpol_shadow_info The shadow bundle.\n"
		    "# TYPE meshpol_shadow_info gauge\n"
		    "meshpol_shadow_info{bundle_revision=\"%s\",bundle_sha256=\"%s\"} 1\n",
		    b->revision ? b->revision : "", b->sha256);
	mp_engine_release(cur);
	evbuffer_add_printf(o,
	                    "# HELP meshpol_shadow_decisions_total Requests the shadow bundle "
	                    "decided too.\n# TYPE meshpol_shadow_decisions_total counter\n"
	                    "meshpol_shadow_decisions_total %" PRIu64 "\n",
	                    SUM(srv, decisions));
	evbuffer_add_printf(o, "# HELP meshpol_shadow_disagreements_total Requests the shadow "
	                       "bundle decided otherwise (another effect, or other rules), by "
	                       "the served effect and the shadow's.\n"
	                       "# TYPE meshpol_shadow_disagreements_total counter\n");
	for (int s = 0; s < 3; s++)
		for (int c = 0; c < 3; c++)
			evbuffer_add_printf(
			    o,
			    "meshpol_shadow_disagreements_total{served=\"%s\",shadow=\"%s\"} "
			    "%" PRIu64 "\n",
			    mp_effect_name((uint32_t)s), mp_effect_name((uint32_t)c),
			    SUM(srv, disagree[s][c]));
	evbuffer_add_printf(o,
	                    "# HELP meshpol_shadow_skipped_total Requests the shadow bundle could "
	                    "not decide: none loaded, or another model than the serving one "
	                    "during a reload.\n# TYPE meshpol_shadow_skipped_total counter\n"
	                    "meshpol_shadow_skipped_total %" PRIu64 "\n",
	                    SUM(srv, skipped));
	evbuffer_add_printf(o,
	                    "# HELP meshpol_shadow_build_failures_total Reloads whose shadow "
	                    "bundle did not load.\n# TYPE meshpol_shadow_build_failures_total "
	                    "counter\nmeshpol_shadow_build_failures_total %" PRIu64 "\n",
	                    (uint64_t)atomic_load(&sh->build_failures));
}
