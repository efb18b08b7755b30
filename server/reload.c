/* reload.c: the current snapshot, reloading it, and what /health says about it. Design:
 * docs/server.md ("Reload"); the snapshot's lifecycle: engine/include/engine.h.
 *
 * A reload is built off every request path and off the control thread, on a thread of its own
 * (build_main): it reads the model and bundle from disk (mp_engine_open), which may block (a
 * FIFO, a hung network file system) and checks that an evaluator can run its `when` and `check`
 * functions, which may run long. The control thread keeps serving signals, the watchdog and the
 * admin listener meanwhile; when the build is done it commits (mp_reload_built_cb): swaps the
 * current pointer, or records the failure. One build runs at a time; triggers meanwhile ask for one
 * more after it. Workers notice the change with one atomic load per request (and are nudged to
 * switch at once); requests already deciding finish on the old snapshot, which is freed when its
 * last evaluator lets go. A failed reload changes nothing but /health, the metrics and stderr. A
 * build still running at shutdown is left behind (server.c exits without waiting for it).
 *
 * /v1/reload is answered asynchronously: the worker queues a job and returns to its loop; the
 * next build serves every job queued before it started, and each job is handed back to its
 * worker's event base, which sends the reply. The job keeps its connection open (see
 * mp_conn.job); a request whose reply is pending is a POST, so evhttp has stopped reading it
 * and cannot free it under us. */
#include "reload.h"
#include "alloc.h"
#include "conn.h"
#include "http.h"
#include "server_int.h"
#include "shadow.h"
#include "trail.h"

#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One build: made and committed by the control thread, run by its own thread, which touches
 * only the fields marked so. */
struct mp_reload_run {
	mp_server *srv;
	pthread_t thread;
	char trigger[16];
	mp_reload_job *jobs; /* the /v1/reload requests it answers */
	/* the build thread's */
	mp_engine *e; /* NULL: refused, errors in d */
	mp_diags d;
	mp_shadow_build shadow; /* --shadow-bundle, rebuilt against the new model */
	uint64_t took_us;
	atomic_int done;
};

struct mp_reload_job {
	mp_worker *w;
	mp_conn *conn; /* NULL once the connection closed */
	struct evhttp_request *req;
	json_t *result;
	int code;
	mp_reload_job *next;
};

mp_engine *mp_reload_acquire(mp_server *srv)
{
	pthread_mutex_lock(&srv->snap_lock);
	mp_engine *e = mp_engine_retain(atomic_load(&srv->current));
	pthread_mutex_unlock(&srv->snap_lock);
	return e;
}

static void iso_time(time_t t, char out[32])
{
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static json_t *diags_json(const mp_diags *d)
{
	json_t *a = json_array();
	for (uint32_t i = 0; a && i < d->n && i < 50; i++) {
		const mp_diag *g = &d->v[i];
		json_t *o =
		    json_pack("{s:s, s:s}", "level", g->level == MP_DIAG_ERROR ? "error" : "note",
		              "message", g->msg ? g->msg : "");
		if (o && g->file) {
			json_t *f = json_string(g->file);
			json_object_set_new(o, "file", f ? f : json_string("(not UTF-8)"));
			json_object_set_new(o, "line", json_integer(g->line));
			json_object_set_new(o, "column", json_integer(g->col));
		}
		json_array_append_new(a, o);
	}
	if (a && d->n > 50)
		json_array_append_new(a, json_pack("{s:s, s:s}", "level", "note", "message",
		                                   "more errors: see the server's log"));
	return a;
}

static json_t *snapshot_json(const mp_engine *e)
{
	const mp_bundle *b = e->bundle;
	return json_pack("{s:{s:s, s:s, s:s}, s:{s:s}}", "bundle", "name",
	                 b && b->name ? b->name : "", "revision",
	                 b && b->revision ? b->revision : "", "sha256", b ? b->sha256 : "", "model",
	                 "sha256", mp_model_sha256(e->model));
}

static int same_snapshot(const mp_engine *a, const mp_engine *b)
{
	return !strcmp(mp_model_sha256(a->model), mp_model_sha256(b->model)) &&
	       (a->bundle == NULL) == (b->bundle == NULL) &&
	       (!a->bundle || !strcmp(a->bundle->sha256, b->bundle->sha256));
}

/* Everything an evaluator will need, built once here so a broken `when` is refused now. */
static int validate(mp_engine *e, mp_diags *d)
{
	mp_evaluator *ev = mp_evaluator_new(e, NULL, d);
	if (!ev)
		return -1;
	int rc = 0;
	char err[512];
	if (e->bundle && (e->bundle->nwhens || e->bundle->nruns) &&
	    !mp_evaluator_sandbox(ev, err, sizeof(err))) {
		mp_diags_error(d, e->bundle->dir, 0, 0,
		               "the bundle does not load in an evaluator: %s", err);
		rc = -1;
	}
	mp_evaluator_free(ev);
	return rc;
}

static void *build_main(void *arg)
{
	mp_reload_run *run = arg;
	const mp_server_config *cfg = run->srv->cfg;
	uint64_t t0 = mp_server_now_ns();
	run->e = mp_engine_open(cfg->model, cfg->bundle, &run->d);
	if (run->e && validate(run->e, &run->d) < 0) {
		mp_engine_release(run->e);
		run->e = NULL;
	}
	if (run->e)
		mp_shadow_rebuild(run->srv, run->e->model, &run->shadow);
	run->took_us = (mp_server_now_ns() - t0) / 1000;
	atomic_store(&run->done, 1);
	event_active(run->srv->reload_done_ev, EV_READ, 0);
	return NULL;
}

/* The build's outcome, made the server's: the swap, or the failure recorded. Returns what
 * /v1/reload answers (a new reference). */
static json_t *commit(mp_server *srv, mp_reload_run *run)
{
	const char *trigger = run->trigger;
	json_int_t us = (json_int_t)run->took_us;
	time_t now = time(NULL);
	json_t *out;
	mp_engine *e = run->e;
	run->e = NULL;
	if (!e) {
		mp_diags *d = &run->d;
		if (!d->errors)
			mp_diags_error(d, NULL, 0, 0, "the snapshot could not be built");
		fprintf(stderr,
		        "meshpol serve: reload (%s) refused, still serving the previous "
		        "snapshot:\n",
		        trigger);
		mp_diags_print(d, stderr);
		json_t *errors = diags_json(d);
		char *text = json_dumps(errors, JSON_COMPACT);
		pthread_mutex_lock(&srv->status_lock);
		srv->status.failed++;
		srv->status.last_attempt = srv->status.last_failure = now;
		snprintf(srv->status.last_trigger, sizeof(srv->status.last_trigger), "%s", trigger);
		free(srv->status.last_errors);
		srv->status.last_errors = text;
		pthread_mutex_unlock(&srv->status_lock);
		return json_pack("{s:s, s:o, s:I}", "status", "failed", "errors", errors, "took_us",
		                 us);
	}

	mp_shadow_commit(srv, &run->shadow);
	mp_engine *old = mp_reload_acquire(srv);
	int same = same_snapshot(old, e);
	mp_engine_release(old);
	if (same) {
		mp_engine_release(e);
		pthread_mutex_lock(&srv->status_lock);
		srv->status.unchanged++;
		srv->status.last_attempt = now;
		snprintf(srv->status.last_trigger, sizeof(srv->status.last_trigger), "%s", trigger);
		pthread_mutex_unlock(&srv->status_lock);
		e = mp_reload_acquire(srv);
		out = snapshot_json(e);
		mp_engine_release(e);
		json_object_set_new(out, "status", json_string("unchanged"));
		json_object_set_new(out, "took_us", json_integer(us));
		return out;
	}

	out = snapshot_json(e);
	pthread_mutex_lock(&srv->snap_lock);
	old = atomic_exchange(&srv->current, e);
	pthread_mutex_unlock(&srv->snap_lock);
	mp_engine_release(old); /* freed when the last worker moves off it */
	for (int i = 0; i < srv->nworkers; i++) {
		mp_worker *w = mp_server_worker(srv, i);
		if (w && w->refresh_ev)
			event_active(w->refresh_ev, EV_READ, 0);
	}
	pthread_mutex_lock(&srv->status_lock);
	srv->status.ok++;
	srv->status.last_attempt = srv->status.loaded_at = now;
	snprintf(srv->status.last_trigger, sizeof(srv->status.last_trigger), "%s", trigger);
	pthread_mutex_unlock(&srv->status_lock);
	if (srv->log) {
		json_t *rec = json_deep_copy(out);
		json_object_set_new(rec, "trigger", json_string(trigger));
		mp_declog_submit(srv->log, "reload", rec);
		json_decref(rec);
	}
	const mp_bundle *b = e->bundle;
	fprintf(stderr,
	        "meshpol serve: reloaded (%s): bundle %s revision %s sha256 %.12s, model "
	        "sha256 %.12s (%.1f ms)\n",
	        trigger, b ? b->name : "-", b ? b->revision : "-", b ? b->sha256 : "-",
	        mp_model_sha256(e->model), (double)us / 1000.0);
	json_object_set_new(out, "status", json_string("reloaded"));
	json_object_set_new(out, "took_us", json_integer(us));
	return out;
}

static mp_reload_job *take_jobs(mp_server *srv);
static void finish(mp_reload_job *jobs, json_t *result, int code);

static void free_run(mp_reload_run *run)
{
	mp_engine_release(run->e);
	mp_diags_free(&run->d);
	mp_shadow_build_free(&run->shadow);
	mp_free(run);
}

void mp_reload_start(mp_server *srv, const char *trigger)
{
	if (atomic_load(&srv->stopping))
		return;
	/* every reload also retries a decision log that a write error made unavailable */
	if (srv->log)
		mp_declog_retry(srv->log);
	if (srv->reload_running) {
		srv->reload_again = 1;
		snprintf(srv->reload_again_trigger, sizeof(srv->reload_again_trigger), "%s",
		         trigger);
		return;
	}
	mp_reload_run *run = mp_calloc(1, sizeof(*run));
	if (!run) {
		json_t *r = json_pack("{s:s}", "error", "cannot reload (out of memory)");
		finish(take_jobs(srv), r, 500);
		json_decref(r);
		return;
	}
	run->srv = srv;
	snprintf(run->trigger, sizeof(run->trigger), "%s", trigger);
	run->jobs = take_jobs(srv); /* queued before the files are read: this build answers them */
	/* joined by mp_reload_built_cb, or left behind at exit when it never finishes */
	if (mp_server_spawn(&run->thread, build_main, run) != 0) {
		json_t *r = json_pack("{s:s}", "error", "cannot start a reload thread");
		finish(run->jobs, r, 500);
		json_decref(r);
		free_run(run);
		return;
	}
	srv->reload_running = run;
}

void mp_reload_built_cb(int fd, short what, void *arg)
{
	mp_server *srv = arg;
	mp_reload_run *run = srv->reload_running;
	(void)fd;
	(void)what;
	if (!run || !atomic_load(&run->done))
		return;
	pthread_join(run->thread, NULL);
	srv->reload_running = NULL;
	if (!atomic_load(&srv->stopping)) {
		json_t *result = commit(srv, run);
		const char *status = json_string_value(json_object_get(result, "status"));
		finish(run->jobs, result, status && !strcmp(status, "failed") ? 422 : 200);
		json_decref(result);
	}
	free_run(run);
	if (srv->reload_again) { /* a trigger (or a /v1/reload job) came during the build */
		srv->reload_again = 0;
		mp_reload_start(srv,
		                srv->reload_again_trigger[0] ? srv->reload_again_trigger : "api");
		srv->reload_again_trigger[0] = '\0';
	}
}

int mp_reload_finish_at_exit(mp_server *srv)
{
	mp_reload_run *run = srv->reload_running;
	if (!run)
		return 0;
	if (!atomic_load(&run->done))
		return -1; /* still reading: leave it */
	pthread_join(run->thread, NULL);
	srv->reload_running = NULL;
	free_run(run);
	return 0;
}

json_t *mp_reload_health(mp_server *srv, int *ready)
{
	char at[32];
	mp_engine *e = mp_reload_acquire(srv);
	*ready = e && e->model && e->bundle;
	json_t *o = json_pack("{s:s}", "status", *ready ? "ok" : "unavailable");
	json_t *snap = snapshot_json(e);
	json_object_update(o, snap);
	json_decref(snap);
	mp_engine_release(e);
	pthread_mutex_lock(&srv->status_lock);
	mp_reload_status st = srv->status;
	json_t *errors = st.last_errors ? json_loads(st.last_errors, 0, NULL) : NULL;
	pthread_mutex_unlock(&srv->status_lock);
	iso_time(st.loaded_at, at);
	json_object_set_new(o, "loaded_at", json_string(at));
	json_object_set_new(o, "uptime_seconds",
	                    json_integer((json_int_t)(time(NULL) - srv->started)));
	json_object_set_new(o, "workers", json_integer(srv->nworkers));
	json_t *r = json_pack("{s:I, s:I, s:I}", "ok", (json_int_t)st.ok, "failed",
	                      (json_int_t)st.failed, "unchanged", (json_int_t)st.unchanged);
	if (st.last_attempt) {
		iso_time(st.last_attempt, at);
		json_object_set_new(
		    r, "last",
		    json_pack("{s:s, s:s, s:s}", "at", at, "trigger", st.last_trigger, "status",
		              st.last_failure == st.last_attempt && errors ? "failed" : "ok"));
	}
	if (st.last_failure) {
		iso_time(st.last_failure, at);
		json_object_set_new(
		    r, "last_failure",
		    json_pack("{s:s, s:o}", "at", at, "errors", errors ? errors : json_array()));
	} else {
		json_decref(errors);
		json_object_set_new(r, "last_failure", json_null());
	}
	json_object_set_new(o, "reloads", r);

	/* what stops the server from answering as it should: the reasons for a status that is
	 * not "ok" */
	json_t *problems = json_array();
	int unavailable = !*ready, degraded = 0;
	if (srv->log) {
		mp_declog_stats ls;
		mp_declog_get_stats(srv->log, &ls);
		json_t *dl = json_pack("{s:s, s:s, s:I, s:I, s:I, s:I, s:I}", "status",
		                       ls.unavailable ? "unavailable"
		                       : ls.failing   ? "failing"
		                                      : "ok",
		                       "mode", ls.drop_mode ? "drop" : "no-drop", "written",
		                       (json_int_t)ls.written, "failed", (json_int_t)ls.failed,
		                       "refused", (json_int_t)ls.refused, "dropped",
		                       (json_int_t)ls.dropped, "errors", (json_int_t)ls.errors);
		if (ls.error[0]) {
			json_t *err = json_string(ls.error);
			json_object_set_new(dl, "last_error",
			                    err ? err : json_string("(not UTF-8)"));
			iso_time(ls.failed_at, at);
			json_object_set_new(dl, "failed_at", json_string(at));
		}
		json_object_set_new(o, "decision_log", dl);
		if (ls.unavailable || ls.failing) {
			char msg[320];
			snprintf(msg, sizeof(msg), "decision log %s: %s",
			         ls.unavailable ? "unavailable (decisions fail closed)"
			                        : "failing (drop mode: decisions unlogged)",
			         ls.error);
			json_t *m = json_string(msg);
			json_array_append_new(problems,
			                      m ? m : json_string("decision log failing"));
			unavailable |= ls.unavailable;
			degraded |= !ls.unavailable;
		}
	}
	uint64_t now = mp_server_now_ns(),
	         limit = (uint64_t)srv->cfg->request_timeout * 1000000000u;
	json_t *stuck = json_array();
	for (int i = 0; i < srv->nworkers; i++) {
		mp_worker *w = mp_server_worker(srv, i);
		uint64_t g = atomic_load(&w->guard), since = atomic_load(&w->guard_since_ns);
		if ((g & 3) == MP_GUARD_BUSY && now > since && now - since > limit)
			json_array_append_new(stuck,
			                      json_pack("{s:i, s:f}", "worker", i, "busy_seconds",
			                                (double)(now - since) / 1e9));
	}
	size_t nstuck = json_array_size(stuck);
	json_object_set_new(o, "watchdog",
	                    json_pack("{s:i, s:o, s:I, s:I, s:I}", "request_timeout",
	                              srv->cfg->request_timeout, "stuck", stuck, "interrupted",
	                              (json_int_t)atomic_load(&srv->watchdog_interrupts),
	                              "replaced", (json_int_t)atomic_load(&srv->watchdog_replaced),
	                              "failed_closed",
	                              (json_int_t)atomic_load(&srv->watchdog_failed_closed)));
	if (nstuck) {
		char msg[160];
		snprintf(msg, sizeof(msg), "%zu of %d workers stuck past --request-timeout", nstuck,
		         srv->nworkers);
		json_array_append_new(problems, json_string(msg));
		if ((int)nstuck == srv->nworkers)
			unavailable = 1;
		else
			degraded = 1;
	}
	if (*ready && (unavailable || degraded))
		json_object_set_new(o, "status",
		                    json_string(unavailable ? "unavailable" : "degraded"));
	if (json_array_size(problems))
		json_object_set_new(o, "problems", problems);
	else
		json_decref(problems);
	*ready = *ready && !unavailable;
	return o;
}

void mp_reload_free_status(mp_server *srv)
{
	free(srv->status.last_errors);
	srv->status.last_errors = NULL;
}

/* --- /v1/reload jobs --- */

static void reply_cb(int fd, short what, void *arg)
{
	mp_reload_job *job = arg;
	(void)fd;
	(void)what;
	if (job->conn) {
		job->conn->job = NULL;
		mp_http_reply_json(job->w, job->req, job->code, job->result);
		mp_conn_replied(job->conn);
	} else {
		/* the connection is gone; evhttp_send_reply frees a detached request */
		evhttp_send_reply(job->req, job->code, NULL, NULL);
	}
	json_decref(job->result);
	mp_free(job);
}

void mp_reload_request(mp_server *srv, mp_worker *w, mp_conn *c, struct evhttp_request *req)
{
	mp_reload_job *job = mp_calloc(1, sizeof(*job));
	if (!job) {
		mp_http_error(w, req, 500, "cannot queue the reload (out of memory)");
		return;
	}
	pthread_mutex_lock(&srv->jobs_lock);
	if (srv->jobs_closed) {
		pthread_mutex_unlock(&srv->jobs_lock);
		mp_free(job);
		mp_http_error(w, req, 503, "the server is shutting down");
		return;
	}
	/* stop reading: nothing the client sends now can reach evhttp's parser (which would
	 * abort on bytes in its WRITING state) or free the connection (EOF) under the job */
	bufferevent_disable(c->bev, EV_READ);
	job->w = w;
	job->conn = c;
	job->req = req;
	c->job = job;
	job->next = srv->jobs;
	srv->jobs = job;
	pthread_mutex_unlock(&srv->jobs_lock);
	event_active(srv->jobs_ev, EV_READ, 0);
}

static mp_reload_job *take_jobs(mp_server *srv)
{
	pthread_mutex_lock(&srv->jobs_lock);
	mp_reload_job *jobs = srv->jobs;
	srv->jobs = NULL;
	pthread_mutex_unlock(&srv->jobs_lock);
	return jobs;
}

static void finish(mp_reload_job *jobs, json_t *result, int code)
{
	static const struct timeval now = {0, 0};
	while (jobs) {
		mp_reload_job *next = jobs->next;
		jobs->result = json_incref(result);
		jobs->code = code;
		if (event_base_once(jobs->w->base, -1, EV_TIMEOUT, reply_cb, jobs, &now) < 0) {
			json_decref(jobs->result); /* cannot happen but out of memory: the
			                              connection stays until shutdown */
			jobs->result = NULL;
		}
		jobs = next;
	}
}

void mp_reload_jobs_cb(int fd, short what, void *arg)
{
	mp_server *srv = arg;
	(void)fd;
	(void)what;
	pthread_mutex_lock(&srv->jobs_lock);
	int any = srv->jobs != NULL;
	pthread_mutex_unlock(&srv->jobs_lock);
	if (any)
		mp_reload_start(srv, "api");
}

void mp_reload_cancel_jobs(mp_server *srv)
{
	pthread_mutex_lock(&srv->jobs_lock);
	srv->jobs_closed = 1;
	pthread_mutex_unlock(&srv->jobs_lock);
	json_t *result = json_pack("{s:s}", "error", "the server is shutting down");
	finish(take_jobs(srv), result, 503);
	if (srv->reload_running) {
		finish(srv->reload_running->jobs, result, 503);
		srv->reload_running->jobs = NULL;
	}
	json_decref(result);
}

void mp_reload_drop_jobs(mp_server *srv)
{
	/* only jobs whose replies could not be scheduled: their requests went with their
	 * connections when the workers closed them */
	mp_reload_job *j = take_jobs(srv);
	while (j) {
		mp_reload_job *next = j->next;
		json_decref(j->result);
		mp_free(j);
		j = next;
	}
}

void mp_reload_detach(mp_reload_job *job)
{
	job->conn = NULL;
}
