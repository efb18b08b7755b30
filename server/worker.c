/* worker.c: a worker thread: its event base, its evhttp (accepting on the shared listening
 * socket), its evaluator, and its part of a graceful shutdown. Design: server.c's header.
 *
 * Lifecycle of a worker (control thread -> worker thread):
 *   mp_worker_start: base, evhttp, evaluator, thread running event_base_dispatch
 *   --event_active(refresh_ev)--> on_refresh: switch to the new snapshot now (after a reload)
 *   --mp_worker_stop--> on_stop: stop accepting, answer what is in flight with
 *       "Connection: close", close idle connections every 20 ms (on_sweep) until none is left
 *       or --drain-timeout passed, then leave the loop
 *   mp_worker_free (after the thread is joined): close what is left, free everything. */
#include "worker.h"
#include "alloc.h"
#include "conn.h"
#include "http.h"
#include "reload.h"
#include "server_int.h"

#include <event2/event.h>
#include <event2/http.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

mp_evaluator *mp_worker_evaluator(mp_worker *w)
{
	mp_server *srv = w->srv;
	if (atomic_load_explicit(&srv->current, memory_order_acquire) == w->engine && w->ev)
		return w->ev; /* the common case: one atomic load */
	/* w->engine is retained by w->ev, so its address cannot have been reused: a different
	 * pointer really is a different snapshot */
	mp_engine *e = mp_reload_acquire(srv);
	mp_diags d = {0};
	mp_evaluator *ev = mp_evaluator_new(e, NULL, &d);
	mp_diags_free(&d);
	if (!ev) {
		mp_engine_release(e);
		mp_metrics_add(&w->metrics.evaluator_errors, 1);
		return w->ev; /* keep deciding on the previous snapshot; retry next request */
	}
	mp_evaluator_free(w->ev); /* releases the previous snapshot */
	mp_engine_release(e);     /* ev holds its own reference */
	w->ev = ev;
	w->engine = e;
	w->when_calls_seen = w->when_errors_seen = 0;
	return ev;
}

/* After a reload: switch now, and build the Lua state for `when` functions before the first
 * request needs it. */
static void on_refresh(int fd, short what, void *arg)
{
	mp_worker *w = arg;
	char err[256];
	(void)fd;
	(void)what;
	mp_evaluator *ev = mp_worker_evaluator(w);
	if (ev && w->engine->bundle && w->engine->bundle->nwhens)
		mp_evaluator_sandbox(ev, err, sizeof(err)); /* a failure is reported per `when` */
}

static void on_sweep(int fd, short what, void *arg)
{
	mp_worker *w = arg;
	struct timespec now;
	(void)fd;
	(void)what;
	size_t left = mp_conn_close_idle(w);
	clock_gettime(CLOCK_MONOTONIC, &now);
	if (left == 0 || now.tv_sec > w->drain_until.tv_sec ||
	    (now.tv_sec == w->drain_until.tv_sec && now.tv_nsec >= w->drain_until.tv_nsec))
		event_base_loopbreak(w->base);
}

static void on_stop(int fd, short what, void *arg)
{
	static const struct timeval every = {0, 20000};
	mp_worker *w = arg;
	(void)fd;
	(void)what;
	if (w->draining)
		return;
	w->draining = 1;
	if (w->bound)
		evhttp_del_accept_socket(w->http, w->bound);
	if (w->admin_bound)
		evhttp_del_accept_socket(w->admin_http, w->admin_bound);
	w->bound = w->admin_bound = NULL;
	clock_gettime(CLOCK_MONOTONIC, &w->drain_until);
	w->drain_until.tv_sec += w->srv->cfg->drain_timeout;
	event_add(w->sweep_ev, &every);
	on_sweep(-1, 0, w);
}

static void *worker_main(void *arg)
{
	mp_worker *w = arg;
	event_base_dispatch(w->base);
	return NULL;
}

static struct evhttp *new_http(mp_worker *w, int fd, int admin, struct evhttp_bound_socket **bound,
                               char *err, size_t errlen)
{
	const mp_server_config *cfg = w->srv->cfg;
	struct evhttp *http = evhttp_new(w->base);
	if (!http) {
		snprintf(err, errlen, "cannot make an HTTP server (out of memory)");
		return NULL;
	}
	evhttp_set_allowed_methods(http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
	                                     EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |
	                                     EVHTTP_REQ_OPTIONS | EVHTTP_REQ_TRACE |
	                                     EVHTTP_REQ_CONNECT | EVHTTP_REQ_PATCH);
	evhttp_set_max_body_size(http, (ev_ssize_t)cfg->max_body);
	/* the parser's own cut-off, beyond which it answers 400 and closes without reading more;
	 * requests between --max-header and it get a proper 431 from the dispatcher */
	evhttp_set_max_headers_size(http, (ev_ssize_t)(cfg->max_header * 2 + 8192));
	evhttp_set_timeout(http, cfg->read_timeout);
	evhttp_set_flags(http, EVHTTP_SERVER_LINGERING_CLOSE);
	evhttp_set_gencb(http, mp_http_dispatch, w);
	evhttp_set_bevcb(http, admin ? mp_conn_bevcb_plain : mp_conn_bevcb, w);
	int mine = dup(fd); /* each worker closes its own copy when it stops accepting */
	if (mine < 0 || !(*bound = evhttp_accept_socket_with_handle(http, mine))) {
		snprintf(err, errlen, "cannot accept on the listening socket");
		if (mine >= 0)
			close(mine);
		evhttp_free(http);
		return NULL;
	}
	return http;
}

int mp_worker_start(mp_worker *w, char *err, size_t errlen)
{
	mp_server *srv = w->srv;
	const struct timeval read_tv = {srv->cfg->read_timeout, 0};
	/* evhttp enables and disables a connection's events several times per request: batch
	 * those epoll_ctl calls into one per loop iteration */
	struct event_config *ec = event_config_new();
	if (ec)
		event_config_set_flag(ec, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
	w->base = ec ? event_base_new_with_config(ec) : NULL;
	if (ec)
		event_config_free(ec);
	if (!w->base) {
		snprintf(err, errlen, "cannot make an event base");
		return -1;
	}
	w->gate_ev = event_new(w->base, -1, 0, mp_conn_gate, w);
	w->stop_ev = event_new(w->base, -1, 0, on_stop, w);
	w->refresh_ev = event_new(w->base, -1, 0, on_refresh, w);
	w->sweep_ev = event_new(w->base, -1, EV_PERSIST, on_sweep, w);
	w->deadline_tv = event_base_init_common_timeout(w->base, &read_tv);
	if (!w->gate_ev || !w->stop_ev || !w->refresh_ev || !w->sweep_ev || !w->deadline_tv) {
		snprintf(err, errlen, "cannot make the worker's events (out of memory)");
		return -1;
	}
	if (!(w->http = new_http(w, srv->listen_fd, 0, &w->bound, err, errlen)))
		return -1;
	if (w->id == 0 && srv->admin_fd >= 0 &&
	    !(w->admin_http = new_http(w, srv->admin_fd, 1, &w->admin_bound, err, errlen)))
		return -1;
	if (!mp_worker_evaluator(w)) {
		snprintf(err, errlen, "cannot make an evaluator (out of memory)");
		return -1;
	}
	on_refresh(-1, 0, w);
	if (pthread_create(&w->thread, NULL, worker_main, w) != 0) {
		snprintf(err, errlen, "cannot start a worker thread");
		return -1;
	}
	w->started = 1;
	return 0;
}

void mp_worker_stop(mp_worker *w)
{
	if (w->stop_ev)
		event_active(w->stop_ev, EV_READ, 0);
}

void mp_worker_free(mp_worker *w)
{
	/* closing the connections left calls their close callbacks, which need the base */
	if (w->http)
		evhttp_free(w->http);
	if (w->admin_http)
		evhttp_free(w->admin_http);
	mp_conn_table_free(w);
	if (w->gate_ev)
		event_free(w->gate_ev);
	if (w->stop_ev)
		event_free(w->stop_ev);
	if (w->refresh_ev)
		event_free(w->refresh_ev);
	if (w->sweep_ev)
		event_free(w->sweep_ev);
	mp_evaluator_free(w->ev);
	if (w->base)
		event_base_free(w->base);
	memset(w, 0, sizeof(*w));
}
