/* server.c: `meshpol serve`: start-up, the control thread and shutdown. User guide:
 * docs/server.md. The modules: http.c (routes), api.c (handlers), proxyreq.c (the proxies'
 * questions, through their front doors), worker.c (threads), conn.c (connections, limits),
 * reload.c (snapshots), watch.c (--watch), declog.c (decision log), metrics.c, tls.c; grpc.c
 * (Envoy's gRPC ext_authz on --grpc-listen, on the same workers) and extauthz.c (its messages).
 *
 * Threads:
 *   - the main thread runs the control event base: SIGHUP, SIGTERM and SIGINT, --watch, the
 *     watchdog's timer, the admin listener (--admin-listen: /health, /metrics, /v1/reload) and
 *     the commit of reloads; it never runs policy code and never reads the model or bundle, so
 *     nothing a policy or a file does can keep it from a signal;
 *   - N worker threads, each with its own event base, evhttp and evaluator (so its own Lua
 *     state), all accepting on one listening socket (each its own dup of it);
 *   - a reload's build, on a thread of its own while it runs (reload.c);
 *   - with --decision-log, one writer thread owning the trail (declog.c).
 * Shared between them: the current snapshot (mp_server.current, one atomic pointer; see
 * reload.c), the worker slots (atomic pointers), the metrics (per worker, relaxed atomics), the
 * decision log's queue.
 *
 * The watchdog (on_watchdog, every 100 ms): a worker whose guarded section (a decision's Lua, or
 * building a Lua state; worker.h) has run past --request-timeout gets its Lua state interrupted
 * (mp_sandbox_interrupt); one still there WATCHDOG_GRACE_S later (stuck in C, where the
 * interrupt is not seen) is abandoned: its request is answered failed closed, its connections
 * are shut down, and a new worker takes its slot. The old thread is never joined; if it ever
 * returns it leaves its loop without touching anything shared.
 *
 * Invariants:
 *   1. A snapshot is freed only when no worker's evaluator holds it: each evaluator retains
 *      its snapshot, and a worker takes its reference under snap_lock, which the swap takes.
 *   2. No-drop mode: a decision is answered only after its record's write(2) succeeded; when
 *      it cannot be written the request is answered failed closed (never allowed). Drop mode:
 *      a decision is answered once its record is queued, or counted as dropped.
 *   3. On SIGTERM: no new connection is accepted; every request whose bytes arrived is
 *      answered (with Connection: close) unless --drain-timeout passes first; then the log is
 *      drained, an "end" record written and the trail sealed; exit 0. Threads still running
 *      then (a stuck worker, a blocked reload) are left behind: exit (1) without joining them.
 */
#include "alloc.h"
#include "bundlesrc.h"
#include "fetch.h"
#include "grpc.h"
#include "http.h"
#include "httpc.h"
#include "logship.h"
#include "reload.h"
#include "sandbox.h"
#include "server_int.h"
#include "shadow.h"
#include "tls.h"
#include "trail.h"
#include "version.h"
#include "watch.h"
#include "worker.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/event.h>
#include <event2/thread.h>
#include <fcntl.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#define WATCHDOG_TICK_US 100000 /* how often the watchdog looks */
#define WATCHDOG_GRACE_S 1      /* after the interrupt, before a worker is given up on */
#define DRAIN_MARGIN_US  300000 /* after --drain-timeout, for workers to leave their loops */

static const int stop_signals[] = {SIGTERM, SIGINT, SIGHUP};

int mp_server_spawn(pthread_t *t, void *(*fn)(void *), void *arg)
{
	sigset_t block, old;
	sigemptyset(&block);
	for (size_t i = 0; i < sizeof(stop_signals) / sizeof(stop_signals[0]); i++)
		sigaddset(&block, stop_signals[i]);
	/* threads never see the signals: the control thread's loop handles them */
	pthread_sigmask(SIG_BLOCK, &block, &old);
	int rc = pthread_create(t, NULL, fn, arg);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return rc;
}

uint64_t mp_server_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int mp_server_parse_cidr(const char *text, mp_server_cidr *out)
{
	char addr[64];
	const char *slash = strchr(text, '/');
	size_t n = slash ? (size_t)(slash - text) : strlen(text);
	if (n == 0 || n >= sizeof(addr))
		return -1;
	memcpy(addr, text, n);
	addr[n] = '\0';
	memset(out, 0, sizeof(*out));
	if (inet_pton(AF_INET, addr, out->addr) == 1)
		out->family = AF_INET;
	else if (inet_pton(AF_INET6, addr, out->addr) == 1)
		out->family = AF_INET6;
	else
		return -1;
	int max = out->family == AF_INET ? 32 : 128;
	out->bits = max;
	if (slash) {
		char *end;
		long bits = strtol(slash + 1, &end, 10);
		if (end == slash + 1 || *end || bits < 0 || bits > max)
			return -1;
		out->bits = (int)bits;
	}
	return 0;
}

/* A listening socket on ADDR:PORT ([v6]:PORT; an empty ADDR is every address). */
static int listen_on(const char *spec, char *err, size_t errlen)
{
	char host[256];
	const char *colon = strrchr(spec, ':');
	if (!colon || !colon[1] || (size_t)(colon - spec) >= sizeof(host)) {
		snprintf(err, errlen, "'%s' is not ADDR:PORT", spec);
		return -1;
	}
	memcpy(host, spec, (size_t)(colon - spec));
	host[colon - spec] = '\0';
	char *h = host;
	if (h[0] == '[' && h[strlen(h) - 1] == ']') {
		h[strlen(h) - 1] = '\0';
		h++;
	}
	struct addrinfo hints = {.ai_family = AF_UNSPEC,
	                         .ai_socktype = SOCK_STREAM,
	                         .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
	struct addrinfo *ai = NULL;
	int rc = getaddrinfo(*h ? h : NULL, colon + 1, &hints, &ai);
	if (rc != 0) {
		snprintf(err, errlen, "%s: %s", spec, gai_strerror(rc));
		return -1;
	}
	int fd = -1, saved = 0;
	for (struct addrinfo *a = ai; a && fd < 0; a = a->ai_next) {
		fd = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
		            a->ai_protocol);
		if (fd < 0)
			continue;
		int on = 1;
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
		if (bind(fd, a->ai_addr, a->ai_addrlen) < 0 || listen(fd, 1024) < 0) {
			saved = errno;
			close(fd);
			fd = -1;
		}
	}
	freeaddrinfo(ai);
	if (fd < 0)
		snprintf(err, errlen, "%s: %s", spec, strerror(saved ? saved : EADDRNOTAVAIL));
	return fd;
}

/* Makes room for the connections asked for; lowers the limit (and says so) if it cannot. */
static void fit_fd_limit(mp_server_config *cfg)
{
	struct rlimit rl;
	rlim_t need = (rlim_t)cfg->max_connections + (rlim_t)cfg->workers * 4 + 64;
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= need)
		return;
	rlim_t want = rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= need ? need : rl.rlim_max;
	rl.rlim_cur = want;
	setrlimit(RLIMIT_NOFILE, &rl);
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < need) {
		int fit = (int)rl.rlim_cur - cfg->workers * 4 - 64;
		fprintf(stderr,
		        "meshpol serve: the file descriptor limit (%llu) allows %d connections, "
		        "not %d: using %d\n",
		        (unsigned long long)rl.rlim_cur, fit > 1 ? fit : 1, cfg->max_connections,
		        fit > 1 ? fit : 1);
		cfg->max_connections = fit > 1 ? fit : 1;
	}
}

static json_t *snapshot_record(mp_server *srv)
{
	char host[256] = "?";
	gethostname(host, sizeof(host) - 1);
	mp_engine *e = mp_reload_acquire(srv);
	const mp_bundle *b = e->bundle;
	json_t *o = json_pack(
	    "{s:{s:s, s:s}, s:{s:s, s:s, s:s}, s:{s:s}, s:I, s:s, s:s, s:s}", "tool", "name",
	    "meshpol", "version", MP_VERSION, "bundle", "name", b && b->name ? b->name : "",
	    "revision", b && b->revision ? b->revision : "", "sha256", b ? b->sha256 : "", "model",
	    "sha256", mp_model_sha256(e->model), "pid", (json_int_t)getpid(), "host", host,
	    "listen", srv->cfg->listen, "mode", srv->cfg->log_drop ? "drop" : "no-drop");
	mp_engine_release(e);
	return o;
}

void mp_server_worker_exited(mp_server *srv)
{
	if (srv->exited_ev)
		event_active(srv->exited_ev, EV_READ, 0);
}

/* Draining: the control loop ends when every worker and the admin set are done (or at the
 * drain deadline, on_drain_deadline). */
static void on_exited(int fd, short what, void *arg)
{
	mp_server *srv = arg;
	(void)fd;
	(void)what;
	if (!atomic_load(&srv->stopping))
		return; /* an abandoned worker that came back: nothing waits for it */
	for (int i = 0; i < srv->nworkers; i++)
		if (!atomic_load(&mp_server_worker(srv, i)->exited))
			return;
	if (srv->admin && !atomic_load(&srv->admin->exited))
		return;
	event_base_loopbreak(srv->control);
}

static void on_drain_deadline(int fd, short what, void *arg)
{
	mp_server *srv = arg;
	(void)fd;
	(void)what;
	fprintf(stderr, "meshpol serve: --drain-timeout passed with work still running\n");
	event_base_loopbreak(srv->control);
}

/* Gives up on the worker in slot i, whose guard still reads guard, and starts another there. */
static void replace_worker(mp_server *srv, int i, uint64_t guard, double busy_s)
{
	char why[200], err[256];
	mp_worker *old = mp_server_worker(srv, i), *w = mp_calloc(1, sizeof(*w));
	if (!w)
		return; /* try again at the next tick */
	snprintf(why, sizeof(why),
	         "the decision did not finish within --request-timeout (%ds) and its worker was "
	         "replaced",
	         srv->cfg->request_timeout);
	if (mp_worker_abandon(old, guard, why) < 0) {
		mp_free(w);
		return;
	}
	/* the counts go on in the replacement: a counter never goes backwards */
	const _Atomic uint64_t *from = (const _Atomic uint64_t *)&old->metrics;
	_Atomic uint64_t *to = (_Atomic uint64_t *)&w->metrics;
	for (size_t k = 0; k < sizeof(mp_metrics) / sizeof(uint64_t); k++)
		atomic_store(&to[k], atomic_load(&from[k]));
	w->srv = srv;
	w->id = i;
	if (mp_worker_start(w, err, sizeof(err)) < 0) {
		fprintf(stderr,
		        "meshpol serve: worker %d: stuck for %.1f s, given up on; no "
		        "replacement: %s\n",
		        i, busy_s, err);
		/* the slot keeps the abandoned worker: one worker fewer from now on */
		mp_worker_free(w);
		mp_free(w);
		return;
	}
	atomic_store(&srv->workers[i], w);
	old->next_abandoned = srv->abandoned; /* freed at exit, if its thread ever returns */
	srv->abandoned = old;
	atomic_fetch_add(&srv->watchdog_replaced, 1);
	fprintf(stderr,
	        "meshpol serve: worker %d: stuck for %.1f s (not even the interrupt stopped it): "
	        "its request was answered failed closed, its connections closed, and a new "
	        "worker serves in its place\n",
	        i, busy_s);
}

static void on_watchdog(int fd, short what, void *arg)
{
	mp_server *srv = arg;
	(void)fd;
	(void)what;
	uint64_t now = mp_server_now_ns(),
	         limit = (uint64_t)srv->cfg->request_timeout * 1000000000u,
	         grace = (uint64_t)WATCHDOG_GRACE_S * 1000000000u;
	for (int i = 0; i < srv->nworkers; i++) {
		mp_worker *w = mp_server_worker(srv, i);
		uint64_t g = atomic_load(&w->guard);
		if ((g & 3) != MP_GUARD_BUSY)
			continue;
		uint64_t since = atomic_load(&w->guard_since_ns);
		uint64_t age = now > since ? now - since : 0;
		if (age <= limit)
			continue;
		if (w->interrupted_seq != g >> 2) {
			w->interrupted_seq = g >> 2;
			pthread_mutex_lock(&w->sb_lock);
			if (w->sb)
				mp_sandbox_interrupt(w->sb);
			pthread_mutex_unlock(&w->sb_lock);
			atomic_fetch_add(&srv->watchdog_interrupts, 1);
			fprintf(stderr,
			        "meshpol serve: worker %d: a request ran past --request-timeout "
			        "(%ds): interrupting its Lua\n",
			        i, srv->cfg->request_timeout);
		} else if (age > limit + grace && !atomic_load(&srv->stopping)) {
			replace_worker(srv, i, g, (double)age / 1e9);
		}
	}
}

static void on_signal(int sig, short what, void *arg)
{
	mp_server *srv = arg;
	(void)what;
	if (sig == SIGHUP) {
		mp_reload_start(srv, "signal");
		return;
	}
	if (atomic_exchange(&srv->stopping, 1))
		return;
	fprintf(stderr, "meshpol serve: %s: draining\n", sig == SIGTERM ? "SIGTERM" : "SIGINT");
	mp_reload_cancel_jobs(srv);
	for (int i = 0; i < srv->nworkers; i++)
		mp_worker_stop(mp_server_worker(srv, i));
	if (srv->admin)
		mp_worker_stop(srv->admin);
	/* no replacement will need them: close them, so new connections are refused */
	if (srv->listen_fd >= 0)
		close(srv->listen_fd);
	if (srv->admin_fd >= 0)
		close(srv->admin_fd);
	if (srv->grpc_fd >= 0)
		close(srv->grpc_fd);
	srv->listen_fd = srv->admin_fd = srv->grpc_fd = -1;
	struct timeval tv = {srv->cfg->drain_timeout, DRAIN_MARGIN_US};
	if (!srv->drain_ev || event_add(srv->drain_ev, &tv) < 0)
		event_base_loopbreak(srv->control);
	on_exited(-1, 0, srv);
}

static void on_watch(void *arg)
{
	mp_reload_start(arg, "watch");
}

/* The first snapshot: like a reload, but there is nothing to fall back on. 0, -1 (said why),
 * or 1: stopped by a signal while waiting for a bundle to arrive (--bundle-url). */
static int first_snapshot(mp_server *srv)
{
	mp_diags d = {0};
	mp_engine *e = srv->fetch ? mp_fetch_first(srv->fetch, &d)
	                          : mp_engine_open(srv->cfg->model, srv->cfg->bundle, &d);
	mp_evaluator *ev = e ? mp_evaluator_new(e, NULL, &d) : NULL;
	char err[512];
	if (ev && e->bundle && (e->bundle->nwhens || e->bundle->nruns) &&
	    !mp_evaluator_sandbox(ev, err, sizeof(err)))
		mp_diags_error(&d, e->bundle->dir, 0, 0,
		               "the bundle does not load in an evaluator: %s", err);
	mp_evaluator_free(ev);
	if (!e && srv->fetch && mp_fetch_stopped(srv->fetch)) {
		mp_diags_free(&d);
		return 1; /* stopped while waiting for a bundle: nothing was served */
	}
	mp_diags_print(&d, stderr);
	if (!e || d.errors) {
		fprintf(stderr, "meshpol serve: cannot load the model and bundle: %u error%s\n",
		        d.errors, d.errors == 1 ? "" : "s");
		mp_engine_release(e);
		mp_diags_free(&d);
		return -1;
	}
	mp_diags_free(&d);
	atomic_store(&srv->current, e);
	srv->status.loaded_at = time(NULL);
	return 0;
}

/* After the control loop: joins every worker thread that left its loop, and marks those that
 * did not (stuck, or abandoned and still stuck) so they never touch the log. Returns how many
 * threads are left behind, the reload's build included. */
static int join_threads(mp_server *srv)
{
	int left = 0;
	for (int i = 0; i < srv->nworkers; i++) {
		mp_worker *w = mp_server_worker(srv, i);
		if (!w->started)
			continue;
		if (atomic_load(&w->exited)) {
			pthread_join(w->thread, NULL);
			w->started = 0;
		} else {
			mp_worker_abandon(w, UINT64_MAX, NULL);
			left++;
		}
	}
	for (mp_worker *w = srv->abandoned; w; w = w->next_abandoned) {
		if (w->started && atomic_load(&w->exited)) {
			pthread_join(w->thread, NULL);
			w->started = 0;
		}
		left += w->started;
	}
	if (mp_reload_finish_at_exit(srv) < 0)
		left++;
	return left;
}

/* The "end" record: what this run decided and what of it the log holds (docs/server.md). */
static json_t *end_record(mp_server *srv)
{
	uint64_t decisions = 0, failed_closed = atomic_load(&srv->watchdog_failed_closed);
	for (int i = 0; i < srv->nworkers; i++) {
		mp_worker *w = mp_server_worker(srv, i);
		for (int e = 0; e < MP_EP_COUNT; e++)
			for (int f = 0; f < 3; f++)
				decisions += atomic_load(&w->metrics.decisions[e][f]);
		failed_closed += atomic_load(&w->metrics.failed_closed);
	}
	mp_declog_stats s;
	mp_declog_get_stats(srv->log, &s);
	return json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "decisions",
	                 (json_int_t)decisions, "decision_records", (json_int_t)s.written_decisions,
	                 "records", (json_int_t)s.written, "failed", (json_int_t)s.failed,
	                 "refused", (json_int_t)s.refused, "dropped", (json_int_t)s.dropped,
	                 "errors", (json_int_t)s.errors, "failed_closed",
	                 (json_int_t)failed_closed);
}

int mp_server_run(const mp_server_config *given)
{
	mp_server_config cfg = *given;
	mp_server srv = {.cfg = &cfg, .listen_fd = -1, .admin_fd = -1, .grpc_fd = -1};
	struct event *sig_term = NULL, *sig_int = NULL, *sig_hup = NULL;
	mp_watch *watch = NULL;
	char err[512];
	int rc = 2, left = 0;
	sigset_t block;

	sigemptyset(&block);
	for (size_t i = 0; i < sizeof(stop_signals) / sizeof(stop_signals[0]); i++)
		sigaddset(&block, stop_signals[i]);
	signal(SIGPIPE, SIG_IGN);
	/* a file size limit (ulimit -f) must make the decision log's write fail with EFBIG, which
	 * the log handles, not kill the server */
	signal(SIGXFSZ, SIG_IGN);
	signal(SIGHUP,
	       SIG_IGN); /* a reload asked for before the control loop runs: nothing to do */
	evthread_use_pthreads();
	mp_http_json_arena_install();
	json_object_seed(0);
	mp_stdlib_dir(); /* fills its cache before threads read it */
	pthread_mutex_init(&srv.snap_lock, NULL);
	pthread_mutex_init(&srv.status_lock, NULL);
	pthread_mutex_init(&srv.jobs_lock, NULL);
	srv.started = time(NULL);
	fit_fd_limit(&cfg);

	/* libcurl: once, before any thread uses it */
	int curl = cfg.bundle_url || cfg.log_url || mp_bundle_spec_is_url(cfg.shadow_bundle);
	if (curl && mp_httpc_global_init(err, sizeof(err)) < 0) {
		fprintf(stderr, "meshpol serve: %s\n", err);
		goto out;
	}
	if (cfg.bundle_url && !(srv.fetch = mp_fetch_new(&srv, err, sizeof(err)))) {
		fprintf(stderr, "meshpol serve: %s\n", err);
		goto out;
	}
	if ((rc = first_snapshot(&srv)) != 0) {
		rc = rc > 0 ? 0 : 2;
		goto out;
	}
	rc = 2;
	if (cfg.shadow_bundle && mp_shadow_start(&srv, atomic_load(&srv.current)) < 0)
		goto out;
	if (cfg.tls_cert && !(srv.tls = mp_tls_ctx_new(cfg.tls_cert, cfg.tls_key, cfg.client_ca,
	                                               err, sizeof(err)))) {
		fprintf(stderr, "meshpol serve: %s\n", err);
		goto out;
	}
	if (cfg.tls_cert && cfg.grpc_listen &&
	    !(srv.grpc_tls = mp_grpc_tls_ctx(&cfg, err, sizeof(err)))) {
		fprintf(stderr, "meshpol serve: %s\n", err);
		goto out;
	}
	if ((srv.listen_fd = listen_on(cfg.listen, err, sizeof(err))) < 0 ||
	    (cfg.admin_listen &&
	     (srv.admin_fd = listen_on(cfg.admin_listen, err, sizeof(err))) < 0) ||
	    (cfg.grpc_listen && (srv.grpc_fd = listen_on(cfg.grpc_listen, err, sizeof(err))) < 0)) {
		fprintf(stderr, "meshpol serve: cannot listen: %s\n", err);
		goto out;
	}
	srv.reload_on_main = !cfg.admin_listen && cfg.admin_token;
	if (cfg.log_url && !(srv.logship = mp_logship_new(&cfg, err, sizeof(err)))) {
		fprintf(stderr, "meshpol serve: %s\n", err);
		goto out;
	}
	if (cfg.decision_log || cfg.log_url) {
		json_t *start = snapshot_record(&srv);
		srv.log = mp_declog_open(cfg.decision_log, cfg.sign_key, cfg.log_queue,
		                         cfg.log_drop, start, srv.logship, err, sizeof(err));
		json_decref(start);
		if (!srv.log) {
			fprintf(stderr, "meshpol serve: --decision-log: %s\n", err);
			goto out;
		}
	}

	static const struct timeval tick = {0, WATCHDOG_TICK_US};
	if (!(srv.control = event_base_new()) ||
	    !(srv.jobs_ev = event_new(srv.control, -1, 0, mp_reload_jobs_cb, &srv)) ||
	    !(srv.reload_done_ev = event_new(srv.control, -1, 0, mp_reload_built_cb, &srv)) ||
	    !(srv.exited_ev = event_new(srv.control, -1, 0, on_exited, &srv)) ||
	    !(srv.drain_ev = evtimer_new(srv.control, on_drain_deadline, &srv)) ||
	    !(srv.watchdog_ev = event_new(srv.control, -1, EV_PERSIST, on_watchdog, &srv)) ||
	    event_add(srv.watchdog_ev, &tick) < 0 ||
	    !(sig_term = evsignal_new(srv.control, SIGTERM, on_signal, &srv)) ||
	    !(sig_int = evsignal_new(srv.control, SIGINT, on_signal, &srv)) ||
	    !(sig_hup = evsignal_new(srv.control, SIGHUP, on_signal, &srv)) ||
	    event_add(sig_term, NULL) < 0 || event_add(sig_int, NULL) < 0 ||
	    event_add(sig_hup, NULL) < 0) {
		fprintf(stderr, "meshpol serve: cannot set up the control loop\n");
		goto out;
	}
	if (srv.fetch && mp_fetch_start(srv.fetch, srv.control, err, sizeof(err)) < 0) {
		fprintf(stderr, "meshpol serve: %s\n", err);
		goto out;
	}
	if (cfg.watch) {
		watch = mp_watch_new(srv.control, cfg.model, cfg.bundle, cfg.watch_debounce_ms,
		                     on_watch, &srv, err, sizeof(err));
		if (!watch) {
			fprintf(stderr, "meshpol serve: %s\n", err);
			goto out;
		}
	}

	/* every slot filled before the first worker runs: a worker's /metrics reads them all */
	srv.workers = mp_calloc((size_t)cfg.workers, sizeof(*srv.workers));
	int started = srv.workers != NULL;
	for (int i = 0; started && i < cfg.workers; i++) {
		mp_worker *w = mp_calloc(1, sizeof(*w));
		if (!w) {
			started = 0;
			break;
		}
		w->srv = &srv;
		w->id = i;
		atomic_store(&srv.workers[i], w);
		srv.nworkers = i + 1;
	}
	for (int i = 0; started && i < srv.nworkers; i++) {
		if (mp_worker_start(mp_server_worker(&srv, i), err, sizeof(err)) < 0) {
			fprintf(stderr, "meshpol serve: worker %d: %s\n", i, err);
			started = 0;
		}
	}
	if (started && srv.admin_fd >= 0) {
		/* the admin listener on the control thread: /health, /metrics and /v1/reload
		 * answer whatever the workers are doing */
		if (!(srv.admin = mp_calloc(1, sizeof(*srv.admin)))) {
			started = 0;
		} else {
			srv.admin->srv = &srv;
			srv.admin->id = -1;
			if (mp_worker_start_admin(srv.admin, err, sizeof(err)) < 0) {
				fprintf(stderr, "meshpol serve: admin listener: %s\n", err);
				started = 0;
			}
		}
	}

	if (started) {
		mp_engine *e = mp_reload_acquire(&srv);
		fprintf(
		    stderr,
		    "meshpol serve: %s://%s%s, %d worker%s; bundle %s revision %s; model sha256 "
		    "%.12s%s%s%s%s%s\n",
		    srv.tls ? "https" : "http", cfg.listen, cfg.client_ca ? " (mutual TLS)" : "",
		    cfg.workers, cfg.workers == 1 ? "" : "s", e->bundle ? e->bundle->name : "-",
		    e->bundle ? e->bundle->revision : "-", mp_model_sha256(e->model),
		    cfg.admin_listen ? "; admin http://" : "",
		    cfg.admin_listen ? cfg.admin_listen : "",
		    cfg.grpc_listen ? (srv.grpc_tls ? "; gRPC h2 (TLS) " : "; gRPC h2c ") : "",
		    cfg.grpc_listen ? cfg.grpc_listen : "",
		    cfg.decision_log ? "; decision log on" : "");
		mp_engine_release(e);
		event_base_dispatch(srv.control);
		rc = 0;
	} else {
		/* could not start: nothing is in flight, so the workers leave their loops at once
		 */
		atomic_store(&srv.stopping, 1);
		mp_reload_cancel_jobs(&srv);
		for (int i = 0; i < srv.nworkers; i++)
			mp_worker_stop(mp_server_worker(&srv, i));
		for (int i = 0; i < srv.nworkers; i++) {
			mp_worker *w = mp_server_worker(&srv, i);
			if (w->started)
				pthread_join(w->thread, NULL);
			w->started = 0;
		}
	}

	left = join_threads(&srv);
	mp_reload_drop_jobs(&srv);
out:
	if (srv.log) {
		/* the queue drained first: a record queued in drop mode is then written or failed,
		 * and the end record counts it so (else a log holding it would not verify) */
		mp_declog_stop(srv.log);
		json_t *end = srv.workers ? end_record(&srv) : NULL;
		/* the writer answers every reply still waiting for its record before it stops */
		if (mp_declog_finish(srv.log, end, err, sizeof(err)) < 0) {
			fprintf(stderr, "meshpol serve: decision log: %s\n", err);
			if (rc == 0)
				rc = 1;
		}
		json_decref(end);
	}
	/* the log's last records (end, seal) are in the upload buffer now */
	if (srv.logship &&
	    mp_logship_finish(srv.logship, (cfg.drain_timeout > 2 ? cfg.drain_timeout : 2) * 1000,
	                      err, sizeof(err)) < 0) {
		fprintf(stderr, "meshpol serve: %s\n", err);
		if (rc == 0)
			rc = 1;
	}
	if (left) {
		/* a thread that never returns holds what it was using: nothing can be freed, so
		 * exit without waiting (the log is sealed, stderr flushed) */
		fprintf(
		    stderr,
		    "meshpol serve: %d thread%s still running (a worker stuck in a decision, or a "
		    "reload blocked reading a file): exiting without %s\n",
		    left, left == 1 ? "" : "s", left == 1 ? "it" : "them");
		fflush(stderr);
		_exit(1);
	}
	mp_watch_free(watch);
	/* already stopping: a second SIGTERM or SIGINT must not kill the process halfway through
	 * its cleanup. Freeing libevent's signal events restores the default actions, so block the
	 * signals meanwhile and ignore them from then on (a pending one is discarded). */
	pthread_sigmask(SIG_BLOCK, &block, NULL);
	if (sig_term)
		event_free(sig_term);
	if (sig_int)
		event_free(sig_int);
	if (sig_hup)
		event_free(sig_hup);
	signal(SIGTERM, SIG_IGN);
	signal(SIGINT, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	pthread_sigmask(SIG_UNBLOCK, &block, NULL);
	/* after the log: a reply waiting for its record points into its worker */
	for (int i = 0; i < srv.nworkers; i++) {
		mp_worker *w = mp_server_worker(&srv, i);
		mp_worker_free(w);
		mp_free(w);
	}
	while (srv.abandoned) {
		mp_worker *w = srv.abandoned;
		srv.abandoned = w->next_abandoned;
		mp_worker_free(w);
		mp_free(w);
	}
	if (srv.admin) {
		mp_worker_free(srv.admin);
		mp_free(srv.admin);
	}
	mp_declog_free(srv.log);
	mp_shadow_free(&srv);
	mp_logship_free(srv.logship);
	mp_fetch_free(srv.fetch); /* before the control base: it holds an event of it */
	if (curl)
		mp_httpc_global_cleanup();
	if (srv.jobs_ev)
		event_free(srv.jobs_ev);
	if (srv.reload_done_ev)
		event_free(srv.reload_done_ev);
	if (srv.exited_ev)
		event_free(srv.exited_ev);
	if (srv.drain_ev)
		event_free(srv.drain_ev);
	if (srv.watchdog_ev)
		event_free(srv.watchdog_ev);
	if (srv.control)
		event_base_free(srv.control);
	mp_free(srv.workers);
	if (srv.listen_fd >= 0)
		close(srv.listen_fd);
	if (srv.admin_fd >= 0)
		close(srv.admin_fd);
	if (srv.grpc_fd >= 0)
		close(srv.grpc_fd);
	SSL_CTX_free(srv.tls);
	SSL_CTX_free(srv.grpc_tls);
	mp_engine_release(atomic_load(&srv.current));
	mp_reload_free_status(&srv);
	pthread_mutex_destroy(&srv.snap_lock);
	pthread_mutex_destroy(&srv.status_lock);
	pthread_mutex_destroy(&srv.jobs_lock);
	libevent_global_shutdown();
	if (rc == 0)
		fprintf(stderr, "meshpol serve: stopped\n");
	return rc;
}
