/* reload.c: the current snapshot, reloading it, and what /health says about it. Design:
 * docs/server.md ("Reload"); the snapshot's lifecycle: engine/engine.h.
 *
 * A reload runs on the control thread, off every request path: it builds a whole new snapshot
 * from the model and bundle on disk (mp_engine_open), checks that an evaluator can run its
 * `when` and `check` functions, and only then swaps the current pointer. Workers notice the
 * change with one atomic load per request (and are nudged to switch at once); requests already
 * deciding finish on the old snapshot, which is freed when its last evaluator lets go. A failed
 * reload changes nothing but /health, the metrics and stderr.
 *
 * /v1/reload is answered asynchronously: the worker queues a job and returns to its loop; the
 * control thread reloads (one reload serves every job queued meanwhile) and hands each job back
 * to its worker's event base, which sends the reply. The job keeps its connection open (see
 * mp_conn.job); a request whose reply is pending is a POST, so evhttp has stopped reading it
 * and cannot free it under us. */
#include "reload.h"
#include "alloc.h"
#include "conn.h"
#include "http.h"
#include "server_int.h"
#include "trail.h"

#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

json_t *mp_reload_run(mp_server *srv, const char *trigger)
{
	const mp_server_config *cfg = srv->cfg;
	mp_diags d = {0};
	uint64_t t0 = mp_server_now_ns();
	json_t *out;
	mp_engine *e = mp_engine_open(cfg->model, cfg->bundle, &d);
	if (e && validate(e, &d) < 0) {
		mp_engine_release(e);
		e = NULL;
	}
	json_int_t us = (json_int_t)((mp_server_now_ns() - t0) / 1000);
	time_t now = time(NULL);
	if (!e) {
		if (!d.errors)
			mp_diags_error(&d, NULL, 0, 0, "the snapshot could not be built");
		fprintf(stderr,
		        "meshpol serve: reload (%s) refused, still serving the previous "
		        "snapshot:\n",
		        trigger);
		mp_diags_print(&d, stderr);
		json_t *errors = diags_json(&d);
		char *text = json_dumps(errors, JSON_COMPACT);
		pthread_mutex_lock(&srv->status_lock);
		srv->status.failed++;
		srv->status.last_attempt = srv->status.last_failure = now;
		snprintf(srv->status.last_trigger, sizeof(srv->status.last_trigger), "%s", trigger);
		free(srv->status.last_errors);
		srv->status.last_errors = text;
		pthread_mutex_unlock(&srv->status_lock);
		out = json_pack("{s:s, s:o, s:I}", "status", "failed", "errors", errors, "took_us",
		                us);
		mp_diags_free(&d);
		return out;
	}
	mp_diags_free(&d);

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
	for (int i = 0; i < srv->nworkers; i++)
		if (srv->workers[i].refresh_ev)
			event_active(srv->workers[i].refresh_ev, EV_READ, 0);
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
	mp_reload_job *jobs = take_jobs(srv);
	if (!jobs)
		return;
	json_t *result = mp_reload_run(srv, "api");
	const char *status = json_string_value(json_object_get(result, "status"));
	finish(jobs, result, status && !strcmp(status, "failed") ? 422 : 200);
	json_decref(result);
}

void mp_reload_cancel_jobs(mp_server *srv)
{
	pthread_mutex_lock(&srv->jobs_lock);
	srv->jobs_closed = 1;
	pthread_mutex_unlock(&srv->jobs_lock);
	json_t *result = json_pack("{s:s}", "error", "the server is shutting down");
	finish(take_jobs(srv), result, 503);
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
