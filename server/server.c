/* server.c: `meshpol serve`: start-up, the control thread and shutdown. User guide:
 * docs/server.md. The modules: http.c (routes), api.c (handlers), proxyreq.c (/v1/check
 * input), worker.c (threads), conn.c (connections, limits), reload.c (snapshots), watch.c
 * (--watch), declog.c (decision log), metrics.c, tls.c.
 *
 * Threads:
 *   - the main thread runs the control event base: SIGHUP, SIGTERM and SIGINT, --watch, and
 *     the reloads /v1/reload asks for; every reload runs here, never on a request path;
 *   - N worker threads, each with its own event base, evhttp and evaluator (so its own Lua
 *     state), all accepting on one listening socket (each its own dup of it); worker 0 also
 *     serves the admin listener;
 *   - with --decision-log, one writer thread owning the trail (declog.c).
 * Shared between them: the current snapshot (mp_server.current, one atomic pointer; see
 * reload.c), the metrics (per worker, relaxed atomics), the decision log's queue.
 *
 * Invariants:
 *   1. A snapshot is freed only when no worker's evaluator holds it: each evaluator retains
 *      its snapshot, and a worker takes its reference under snap_lock, which the swap takes.
 *   2. Every decision made is in the decision log before its reply is sent (no-drop mode), or
 *      counted as dropped (drop mode).
 *   3. On SIGTERM: no new connection is accepted; every request whose bytes arrived is
 *      answered (with Connection: close) unless --drain-timeout passes first; then the log is
 *      drained, an "end" record written and the trail sealed; exit 0.
 */
#include "alloc.h"
#include "reload.h"
#include "server_int.h"
#include "tls.h"
#include "trail.h"
#include "version.h"
#include "watch.h"
#include "worker.h"

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

uint64_t mp_server_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
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

static void on_signal(int sig, short what, void *arg)
{
	mp_server *srv = arg;
	(void)what;
	if (sig == SIGHUP) {
		json_decref(mp_reload_run(srv, "signal"));
		return;
	}
	if (atomic_exchange(&srv->stopping, 1))
		return;
	fprintf(stderr, "meshpol serve: %s: draining\n", sig == SIGTERM ? "SIGTERM" : "SIGINT");
	mp_reload_cancel_jobs(srv);
	for (int i = 0; i < srv->nworkers; i++)
		mp_worker_stop(&srv->workers[i]);
	event_base_loopbreak(srv->control);
}

static void on_watch(void *arg)
{
	json_decref(mp_reload_run(arg, "watch"));
}

/* The first snapshot: like a reload, but there is nothing to fall back on. */
static int first_snapshot(mp_server *srv)
{
	mp_diags d = {0};
	mp_engine *e = mp_engine_open(srv->cfg->model, srv->cfg->bundle, &d);
	mp_evaluator *ev = e ? mp_evaluator_new(e, NULL, &d) : NULL;
	char err[512];
	if (ev && e->bundle && (e->bundle->nwhens || e->bundle->nruns) &&
	    !mp_evaluator_sandbox(ev, err, sizeof(err)))
		mp_diags_error(&d, e->bundle->dir, 0, 0,
		               "the bundle does not load in an evaluator: %s", err);
	mp_evaluator_free(ev);
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

int mp_server_run(const mp_server_config *given)
{
	mp_server_config cfg = *given;
	mp_server srv = {.cfg = &cfg, .listen_fd = -1, .admin_fd = -1};
	struct event *sig_term = NULL, *sig_int = NULL, *sig_hup = NULL;
	mp_watch *watch = NULL;
	char err[512];
	int rc = 2;
	uint64_t decisions = 0;
	sigset_t block, old;

	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGHUP);
	signal(SIGPIPE, SIG_IGN);
	signal(SIGHUP,
	       SIG_IGN); /* a reload asked for before the control loop runs: nothing to do */
	evthread_use_pthreads();
	json_object_seed(0);
	mp_stdlib_dir(); /* fills its cache before threads read it */
	pthread_mutex_init(&srv.snap_lock, NULL);
	pthread_mutex_init(&srv.status_lock, NULL);
	pthread_mutex_init(&srv.jobs_lock, NULL);
	srv.started = time(NULL);
	fit_fd_limit(&cfg);

	if (first_snapshot(&srv) < 0)
		goto out;
	if (cfg.tls_cert && !(srv.tls = mp_tls_ctx_new(cfg.tls_cert, cfg.tls_key, cfg.client_ca,
	                                               err, sizeof(err)))) {
		fprintf(stderr, "meshpol serve: %s\n", err);
		goto out;
	}
	if ((srv.listen_fd = listen_on(cfg.listen, err, sizeof(err))) < 0 ||
	    (cfg.admin_listen &&
	     (srv.admin_fd = listen_on(cfg.admin_listen, err, sizeof(err))) < 0)) {
		fprintf(stderr, "meshpol serve: cannot listen: %s\n", err);
		goto out;
	}
	srv.reload_on_main = !cfg.admin_listen && cfg.admin_token;
	if (cfg.decision_log) {
		json_t *start = snapshot_record(&srv);
		srv.log = mp_declog_open(cfg.decision_log, cfg.sign_key, cfg.log_queue,
		                         cfg.log_drop, start, err, sizeof(err));
		json_decref(start);
		if (!srv.log) {
			fprintf(stderr, "meshpol serve: --decision-log: %s\n", err);
			goto out;
		}
	}

	if (!(srv.control = event_base_new()) ||
	    !(srv.jobs_ev = event_new(srv.control, -1, 0, mp_reload_jobs_cb, &srv)) ||
	    !(sig_term = evsignal_new(srv.control, SIGTERM, on_signal, &srv)) ||
	    !(sig_int = evsignal_new(srv.control, SIGINT, on_signal, &srv)) ||
	    !(sig_hup = evsignal_new(srv.control, SIGHUP, on_signal, &srv)) ||
	    event_add(sig_term, NULL) < 0 || event_add(sig_int, NULL) < 0 ||
	    event_add(sig_hup, NULL) < 0) {
		fprintf(stderr, "meshpol serve: cannot set up the control loop\n");
		goto out;
	}
	if (cfg.watch) {
		const char *paths[2] = {cfg.model, cfg.bundle};
		if (!(watch = mp_watch_new(srv.control, paths, 2, cfg.watch_debounce_ms, on_watch,
		                           &srv, err, sizeof(err)))) {
			fprintf(stderr, "meshpol serve: %s\n", err);
			goto out;
		}
	}

	/* workers never see the signals: the control thread's loop handles them */
	pthread_sigmask(SIG_BLOCK, &block, &old);
	srv.workers = mp_calloc((size_t)cfg.workers, sizeof(mp_worker));
	srv.nworkers = srv.workers ? cfg.workers : 0;
	int started = srv.workers != NULL;
	for (int i = 0; started && i < srv.nworkers; i++) {
		srv.workers[i].srv = &srv;
		srv.workers[i].id = i;
		if (mp_worker_start(&srv.workers[i], err, sizeof(err)) < 0) {
			fprintf(stderr, "meshpol serve: worker %d: %s\n", i, err);
			started = 0;
		}
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	/* the workers hold their own copies of the listening sockets */
	close(srv.listen_fd);
	srv.listen_fd = -1;
	if (srv.admin_fd >= 0) {
		close(srv.admin_fd);
		srv.admin_fd = -1;
	}

	if (started) {
		mp_engine *e = mp_reload_acquire(&srv);
		fprintf(
		    stderr,
		    "meshpol serve: %s://%s%s, %d worker%s; bundle %s revision %s; model sha256 "
		    "%.12s%s%s%s\n",
		    srv.tls ? "https" : "http", cfg.listen, cfg.client_ca ? " (mutual TLS)" : "",
		    cfg.workers, cfg.workers == 1 ? "" : "s", e->bundle->name, e->bundle->revision,
		    mp_model_sha256(e->model), cfg.admin_listen ? "; admin http://" : "",
		    cfg.admin_listen ? cfg.admin_listen : "",
		    cfg.decision_log ? "; decision log on" : "");
		mp_engine_release(e);
		event_base_dispatch(srv.control);
		rc = 0;
	} else {
		rc = 2; /* could not start */
		atomic_store(&srv.stopping, 1);
		mp_reload_cancel_jobs(&srv);
		for (int i = 0; i < srv.nworkers; i++)
			mp_worker_stop(&srv.workers[i]);
	}

	for (int i = 0; i < srv.nworkers; i++)
		if (srv.workers[i].started)
			pthread_join(srv.workers[i].thread, NULL);
	mp_reload_drop_jobs(&srv);
	for (int i = 0; i < srv.nworkers; i++)
		for (int e = 0; e < MP_EP_COUNT; e++)
			for (int f = 0; f < 3; f++)
				decisions += atomic_load(&srv.workers[i].metrics.decisions[e][f]);
	for (int i = 0; i < srv.nworkers; i++)
		mp_worker_free(&srv.workers[i]);
out:
	if (srv.log) {
		mp_declog_stats s;
		mp_declog_get_stats(srv.log, &s);
		json_t *end = json_pack("{s:I, s:I, s:I, s:I}", "decisions", (json_int_t)decisions,
		                        "records", (json_int_t)s.queued, "dropped",
		                        (json_int_t)s.dropped, "errors", (json_int_t)s.errors);
		if (mp_declog_close(srv.log, end, err, sizeof(err)) < 0) {
			fprintf(stderr, "meshpol serve: decision log: %s\n", err);
			if (rc == 0)
				rc = 1;
		}
		json_decref(end);
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
	if (srv.jobs_ev)
		event_free(srv.jobs_ev);
	if (srv.control)
		event_base_free(srv.control);
	mp_free(srv.workers);
	if (srv.listen_fd >= 0)
		close(srv.listen_fd);
	if (srv.admin_fd >= 0)
		close(srv.admin_fd);
	SSL_CTX_free(srv.tls);
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
