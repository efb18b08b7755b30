/* reload.h: the current snapshot, reloading it (SIGHUP, /v1/reload, --watch) and what /health
 * says about it (reload.c). */
#ifndef MP_RELOAD_H
#define MP_RELOAD_H

#include "server_int.h"

/* Builds what every evaluator will need once, so that a bundle whose `when` or `check` cannot
 * be bound is refused before it serves. 0, or -1 with the reason in d. */
int mp_reload_validate(mp_engine *e, mp_diags *d);
/* A retained reference to the current snapshot (never NULL once the server started). */
mp_engine *mp_reload_acquire(mp_server *srv);
/* Starts building a snapshot from the configured model and bundle on a thread of its own; the
 * control thread swaps it in when it is done and valid (mp_reload_built_cb). trigger: "signal",
 * "api", "watch". A build already running: one more runs after it. Also retries an unavailable
 * decision log. Control thread only. */
void mp_reload_start(mp_server *srv, const char *trigger);
/* reload_done_ev's callback (control thread): commits the finished build and answers its
 * /v1/reload requests with {"status": "reloaded"|"unchanged"|"failed", ...}. */
void mp_reload_built_cb(int fd, short what, void *srv);
/* At exit: frees a finished build; -1 when one is still running (left behind). */
int mp_reload_finish_at_exit(mp_server *srv);
/* The /health reply: status, snapshot, reloads, the last failure with its errors. */
json_t *mp_reload_health(mp_server *srv, int *ready);
/* /v1/reload: queue a reload for the control thread; it answers req on the worker's thread. */
void mp_reload_request(mp_server *srv, mp_worker *w, mp_conn *c, struct evhttp_request *req);
/* Control thread: runs queued reload requests (jobs_ev's callback). */
void mp_reload_jobs_cb(int fd, short what, void *srv);
/* Answers every queued request with 503 (shutdown); control thread. */
void mp_reload_cancel_jobs(mp_server *srv);
/* Frees jobs left after the workers stopped (their requests are gone). */
void mp_reload_drop_jobs(mp_server *srv);
/* A connection with a pending reply closed: the reply goes nowhere. */
void mp_reload_detach(mp_reload_job *job);
void mp_reload_free_status(mp_server *srv);

#endif
