/* worker.c: a worker thread: its event base, its evhttp (accepting on the shared listening
 * socket), its evaluator, the watchdog's guard around its Lua, and its part of a graceful
 * shutdown; also the control thread's listener set for --admin-listen, which is a worker
 * without a thread. Design: server.c's header.
 *
 * Lifecycle of a worker (control thread -> worker thread):
 *   mp_worker_start: base, evhttp, evaluator, thread running event_base_dispatch (which first
 *       builds the Lua state, on_refresh)
 *   --event_active(refresh_ev)--> on_refresh: switch to the new snapshot now (after a reload)
 *   --mp_worker_stop--> on_stop: stop accepting, answer what is in flight with
 *       "Connection: close", close idle connections every 20 ms (on_sweep) until none is left
 *       or --drain-timeout passed, then leave the loop
 *   --mp_worker_abandon (watchdog: a guarded section overran)--> abandoned: the control thread
 *       answered its stuck request, shut its connections down and started a replacement; if
 *       the section ever returns, the thread leaves its loop at once and touches nothing shared
 *   mp_worker_free (after the thread is joined): close what is left, free everything. */
#include "worker.h"
#include "alloc.h"
#include "api.h"
#include "conn.h"
#include "grpc.h"
#include "http.h"
#include "reload.h"
#include "sandbox.h"
#include "server_int.h"
#include "shadow.h"

#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define GUARD(seq, state) ((uint64_t)(seq) << 2 | (uint64_t)(state))

/* Says which Lua state the watchdog may interrupt. */
static void set_sandbox(mp_worker *w, struct mp_sandbox *sb, mp_evaluator *of)
{
	pthread_mutex_lock(&w->sb_lock);
	w->sb = sb;
	pthread_mutex_unlock(&w->sb_lock);
	w->sb_ev = of;
}

mp_evaluator *mp_worker_evaluator(mp_worker *w)
{
	mp_server *srv = w->srv;
	if (atomic_load_explicit(&srv->current, memory_order_acquire) == w->engine && w->ev)
		return w->ev; /* the common case: one atomic load */
	/* w->engine is retained by w->ev, so its address cannot have been reused: a different
	 * pointer really is a different snapshot */
	mp_engine *e = mp_reload_acquire(srv);
	mp_diags d = {0};
	mp_evaluator_opts opts = {.when_budget = srv->cfg->when_budget};
	mp_evaluator *ev = mp_evaluator_new(e, &opts, &d);
	mp_diags_free(&d);
	if (!ev) {
		mp_engine_release(e);
		mp_metrics_add(&w->metrics.evaluator_errors, 1);
		return w->ev; /* keep deciding on the previous snapshot; retry next request */
	}
	set_sandbox(w, NULL, NULL); /* before the state it names is freed */
	mp_evaluator_free(w->ev);   /* releases the previous snapshot */
	mp_engine_release(e);       /* ev holds its own reference */
	w->ev = ev;
	w->engine = e;
	w->when_calls_seen = w->when_errors_seen = 0;
	return ev;
}

void mp_worker_publish_sandbox(mp_worker *w, mp_evaluator *ev)
{
	char err[256];
	const mp_bundle *b = w->engine ? w->engine->bundle : NULL;
	if (w->sb_ev == ev || !b || !(b->nwhens || b->nruns))
		return;
	/* builds it if need be (running the bundle: inside the caller's guard) */
	set_sandbox(w, mp_evaluator_sandbox(ev, err, sizeof(err)), ev);
}

int mp_worker_guard_enter(mp_worker *w, int fd, int endpoint)
{
	uint64_t idle = GUARD(w->guard_seq, MP_GUARD_IDLE);
	w->guard_fd = fd;
	w->guard_endpoint = endpoint;
	w->guard_tls = w->srv->tls != NULL;
	atomic_store(&w->guard_since_ns, mp_server_now_ns());
	w->guard_seq++;
	return atomic_compare_exchange_strong(&w->guard, &idle, GUARD(w->guard_seq, MP_GUARD_BUSY))
	           ? 0
	           : -1;
}

int mp_worker_guard_leave(mp_worker *w)
{
	uint64_t busy = GUARD(w->guard_seq, MP_GUARD_BUSY);
	if (atomic_compare_exchange_strong(&w->guard, &busy, GUARD(w->guard_seq, MP_GUARD_IDLE)))
		return 0;
	/* abandoned: wait until the control thread is done with our connections */
	pthread_mutex_lock(&w->abandon_lock);
	pthread_mutex_unlock(&w->abandon_lock);
	return -1;
}

/* After a reload: switch now, and build the Lua state for `when` functions before the first
 * request needs it. */
static void on_refresh(int fd, short what, void *arg)
{
	mp_worker *w = arg;
	(void)fd;
	(void)what;
	mp_evaluator *ev = mp_worker_evaluator(w);
	if (!ev)
		return;
	if (mp_worker_guard_enter(w, -1, -1) < 0) {
		event_base_loopbreak(w->base);
		return;
	}
	mp_worker_publish_sandbox(w, ev); /* a failure is reported per `when` */
	if (mp_worker_guard_leave(w) < 0)
		event_base_loopbreak(w->base);
}

/* The drain is over: a worker thread leaves its loop; the control thread's set tells it. */
static void drained(mp_worker *w)
{
	if (w->on_control) {
		event_del(w->sweep_ev);
		atomic_store(&w->exited, 1);
		mp_server_worker_exited(w->srv);
	} else {
		event_base_loopbreak(w->base);
	}
}

static void on_sweep(int fd, short what, void *arg)
{
	mp_worker *w = arg;
	struct timespec now;
	(void)fd;
	(void)what;
	size_t left = mp_conn_close_idle(w) + mp_grpc_close_idle(w);
	clock_gettime(CLOCK_MONOTONIC, &now);
	if (left == 0 || now.tv_sec > w->drain_until.tv_sec ||
	    (now.tv_sec == w->drain_until.tv_sec && now.tv_nsec >= w->drain_until.tv_nsec))
		drained(w);
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
	mp_grpc_worker_stop(w);
	clock_gettime(CLOCK_MONOTONIC, &w->drain_until);
	w->drain_until.tv_sec += w->srv->cfg->drain_timeout;
	event_add(w->sweep_ev, &every);
	on_sweep(-1, 0, w);
}

static void *worker_main(void *arg)
{
	mp_worker *w = arg;
	event_base_dispatch(w->base);
	if (w->abandoned) {
		/* nobody serves our connections any more; what else we hold is freed at exit */
		set_sandbox(w, NULL, NULL);
		mp_evaluator_free(w->ev);
		w->ev = NULL;
		w->engine = NULL;
	}
	atomic_store(&w->exited, 1);
	mp_server_worker_exited(w->srv);
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

/* What every worker has, thread or not: events, locks and the deadline's common timeout. */
static int worker_events(mp_worker *w, char *err, size_t errlen)
{
	const struct timeval read_tv = {w->srv->cfg->read_timeout, 0};
	pthread_mutex_init(&w->done_lock, NULL);
	pthread_mutex_init(&w->sb_lock, NULL);
	pthread_mutex_init(&w->abandon_lock, NULL);
	w->locks = 1;
	w->guard_fd = -1;
	w->gate_ev = event_new(w->base, -1, 0, mp_conn_gate, w);
	w->stop_ev = event_new(w->base, -1, 0, on_stop, w);
	w->refresh_ev = event_new(w->base, -1, 0, on_refresh, w);
	w->sweep_ev = event_new(w->base, -1, EV_PERSIST, on_sweep, w);
	w->done_ev = event_new(w->base, -1, 0, mp_api_send_logged, w);
	w->commit_ev = event_new(w->base, -1, 0, mp_api_commit_logged, w);
	w->deadline_tv = event_base_init_common_timeout(w->base, &read_tv);
	if (!w->gate_ev || !w->stop_ev || !w->refresh_ev || !w->sweep_ev || !w->done_ev ||
	    !w->commit_ev || !w->deadline_tv) {
		snprintf(err, errlen, "cannot make the worker's events (out of memory)");
		return -1;
	}
	return 0;
}

int mp_worker_start(mp_worker *w, char *err, size_t errlen)
{
	mp_server *srv = w->srv;
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
	if (worker_events(w, err, errlen) < 0)
		return -1;
	w->json_arena = mp_malloc(MP_HTTP_ARENA_BYTES); /* none: the bodies' trees from malloc */
	if (!(w->http = new_http(w, srv->listen_fd, 0, &w->bound, err, errlen)))
		return -1;
	if (srv->grpc_fd >= 0 && mp_grpc_worker_start(w, err, errlen) < 0)
		return -1;
	if (!mp_worker_evaluator(w)) {
		snprintf(err, errlen, "cannot make an evaluator (out of memory)");
		return -1;
	}
	/* the Lua state is built on the worker's thread, under its guard, as the loop starts */
	event_active(w->refresh_ev, EV_READ, 0);
	if (mp_server_spawn(&w->thread, worker_main, w) != 0) {
		snprintf(err, errlen, "cannot start a worker thread");
		return -1;
	}
	w->started = 1;
	return 0;
}

int mp_worker_start_admin(mp_worker *w, char *err, size_t errlen)
{
	w->base = w->srv->control;
	w->on_control = 1;
	if (worker_events(w, err, errlen) < 0)
		return -1;
	if (!(w->admin_http = new_http(w, w->srv->admin_fd, 1, &w->admin_bound, err, errlen)))
		return -1;
	return 0;
}

void mp_worker_stop(mp_worker *w)
{
	if (w->stop_ev)
		event_active(w->stop_ev, EV_READ, 0);
}

/* The answer to a request the watchdog gave up on: fail closed (api.c's body), and the
 * connection shut down. Over TLS no plain bytes can be written: the client sees the close. */
static void answer_stuck(mp_worker *w, const char *why)
{
	char body[512], reply[1024];
	int code;
	if (w->guard_fd < 0)
		return;
	/* a gRPC call gets no HTTP/1.1 bytes: its connection is shut down (the proxy denies) */
	int n = w->guard_endpoint >= 0 && w->guard_endpoint != MP_EP_GRPC && !w->guard_tls
	            ? mp_api_fail_closed_body(w->guard_endpoint, why, body, sizeof(body), &code)
	            : -1;
	if (n >= 0) {
		/* nginx passes no body on: its endpoint gets the reason in a header too */
		int len = snprintf(reply, sizeof(reply),
		                   "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\n%s%s%s"
		                   "Content-Length: %d\r\nConnection: close\r\n\r\n%s",
		                   code, code == 403 ? "Forbidden" : "Service Unavailable",
		                   w->guard_endpoint == MP_EP_NGINX ? "x-meshpol-error: " : "",
		                   w->guard_endpoint == MP_EP_NGINX ? why : "",
		                   w->guard_endpoint == MP_EP_NGINX ? "\r\n" : "", n, body);
		if (len > 0 && (size_t)len < sizeof(reply))
			/* a failure: the client is gone, nothing to tell it */
			(void)send(w->guard_fd, reply, (size_t)len, MSG_NOSIGNAL | MSG_DONTWAIT);
	}
	atomic_fetch_add(&w->srv->watchdog_failed_closed, 1);
}

int mp_worker_abandon(mp_worker *w, uint64_t guard, const char *why)
{
	if (guard == UINT64_MAX) {
		/* at exit: it must never touch the log or a metric again, wherever it is; its
		 * connections go with the process */
		atomic_store(&w->guard, GUARD(0, MP_GUARD_ABANDONED));
		return 0;
	}
	pthread_mutex_lock(&w->abandon_lock);
	if (!atomic_compare_exchange_strong(&w->guard, &guard,
	                                    (guard & ~(uint64_t)3) | MP_GUARD_ABANDONED)) {
		pthread_mutex_unlock(&w->abandon_lock); /* it finished meanwhile */
		return -1;
	}
	/* The worker is inside a guarded section and waits for this lock before it touches
	 * anything: its connections are ours to end. shutdown, not close: the fds stay its own,
	 * so none is reused under it. */
	answer_stuck(w, why);
	for (size_t i = 0; i < w->conns.cap; i++) {
		mp_conn *c = w->conns.slots[i];
		int fd = c ? (int)bufferevent_getfd(c->bev) : -1;
		if (fd >= 0)
			shutdown(fd, SHUT_RDWR);
	}
	if (w->guard_fd >= 0)
		shutdown(w->guard_fd, SHUT_RDWR); /* in case it is untracked */
	atomic_fetch_sub(&w->srv->conns_open, (int)w->conns.n);
	mp_grpc_worker_abandon(w);
	w->abandoned = 1;
	pthread_mutex_unlock(&w->abandon_lock);
	event_base_loopbreak(w->base); /* if it ever gets back to its loop */
	return 0;
}

void mp_worker_free(mp_worker *w)
{
	if (w->locks) /* their replies go nowhere: on the done lists, freed below */
		mp_api_fail_kept(w);
	/* closing the connections left calls their close callbacks, which need the base */
	if (w->http)
		evhttp_free(w->http);
	if (w->admin_http)
		evhttp_free(w->admin_http);
	mp_conn_table_free(w);
	mp_grpc_worker_free(w);
	mp_free(w->json_arena);
	if (w->gate_ev)
		event_free(w->gate_ev);
	if (w->stop_ev)
		event_free(w->stop_ev);
	if (w->refresh_ev)
		event_free(w->refresh_ev);
	if (w->sweep_ev)
		event_free(w->sweep_ev);
	if (w->done_ev)
		event_free(w->done_ev);
	if (w->commit_ev)
		event_free(w->commit_ev);
	mp_api_drop_logged(w);
	mp_shadow_worker_free(w);
	set_sandbox(w, NULL, NULL);
	mp_evaluator_free(w->ev);
	if (w->base && !w->on_control)
		event_base_free(w->base);
	if (w->locks) {
		pthread_mutex_destroy(&w->done_lock);
		pthread_mutex_destroy(&w->sb_lock);
		pthread_mutex_destroy(&w->abandon_lock);
	}
	memset(w, 0, sizeof(*w));
}
