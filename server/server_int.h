/* server_int.h: the state the modules of server/ share: the server, its worker threads and
 * their connections. Threads, snapshots and shutdown: the header comment of server.c. */
#ifndef MP_SERVER_INT_H
#define MP_SERVER_INT_H

#include "declog.h"
#include "engine.h"
#include "metrics.h"
#include "server.h"

#include <openssl/ssl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>

struct event;
struct event_base;
struct evhttp;
struct evhttp_bound_socket;
struct evhttp_connection;
struct evhttp_request;
struct bufferevent;
struct timeval;

typedef struct mp_server mp_server;
typedef struct mp_worker mp_worker;
typedef struct mp_conn mp_conn;
typedef struct mp_reload_job mp_reload_job;

/* Which listener a request came in on. */
enum { MP_LISTENER_MAIN = 0, MP_LISTENER_ADMIN = 1 };

/* One open client connection of a worker, from accept to close. Owned by the worker's
 * connection table; freed by the connection's close callback (conn.c), never elsewhere. */
struct mp_conn {
	struct evhttp_connection *evcon; /* libevent's; valid until the close callback */
	struct bufferevent *bev;
	mp_worker *w;
	struct event *deadline; /* the whole-request deadline (--read-timeout) */
	int listener;           /* MP_LISTENER_* */
	int busy;               /* bytes of a request arrived and no reply was sent since */
	mp_reload_job *job;     /* a reply another thread will send; the conn is never closed
	                           by the server while this is set */
	int peer_checked;       /* peer_uri was looked up */
	char *peer_uri;         /* the TLS peer's URI SAN (mp_malloc), or NULL */
	uint64_t requests;
};

typedef struct {
	mp_conn **slots; /* open addressing by evcon pointer; NULL: empty */
	size_t cap, n;
} mp_conn_table;

struct mp_worker {
	mp_server *srv;
	int id;
	pthread_t thread;
	int started;
	struct event_base *base;
	struct evhttp *http, *admin_http; /* admin_http: worker 0 only, with --admin-listen */
	struct evhttp_bound_socket *bound, *admin_bound;
	/* The evaluator this thread decides with, and the snapshot it was made for (retained by
	 * the evaluator). Replaced when the server's current snapshot changes. */
	mp_engine *engine;
	mp_evaluator *ev;
	uint64_t when_calls_seen, when_errors_seen;
	mp_metrics metrics;
	mp_conn_table conns;
	struct bufferevent **accepted; /* accepted, not yet tracked (conn.c's gate) */
	size_t naccepted, accepted_cap;
	struct event *gate_ev, *stop_ev, *refresh_ev, *sweep_ev;
	const struct timeval *deadline_tv; /* common timeout of --read-timeout */
	int draining;
	struct timespec drain_until;
	/* random bytes for decision ids, drawn from OpenSSL 1 KiB at a time (each RAND_bytes call
	 * costs a getpid system call for its fork check) */
	unsigned char rand_pool[1024];
	size_t rand_left;
};

/* What /health shows about reloads; under mp_server.status_lock. */
typedef struct {
	uint64_t ok, failed, unchanged;
	time_t loaded_at;      /* when the current snapshot was swapped in */
	time_t last_attempt;   /* the last reload, whatever its outcome */
	time_t last_failure;   /* 0: never */
	char *last_errors;     /* JSON array text of the last failure's errors (json_dumps: free) */
	char last_trigger[16]; /* "signal", "api", "watch" */
} mp_reload_status;

struct mp_server {
	const mp_server_config *cfg;
	struct event_base *control; /* the main thread's: signals, reloads, --watch */
	mp_worker *workers;
	int nworkers;
	int listen_fd, admin_fd;
	SSL_CTX *tls;
	mp_declog *log;
	int reload_on_main; /* /v1/reload is served on the main listener (token only) */

	/* The current snapshot: holds one reference. Readers compare it with one atomic load; a
	 * worker takes its own reference under snap_lock, which the swap also takes, so a
	 * snapshot is never freed between the load and the retain. */
	_Atomic(mp_engine *) current;
	pthread_mutex_t snap_lock;

	pthread_mutex_t status_lock;
	mp_reload_status status;

	/* reload requests from /v1/reload, served by the control thread */
	pthread_mutex_t jobs_lock;
	mp_reload_job *jobs;
	int jobs_closed; /* shutting down: new jobs are refused */
	struct event *jobs_ev;

	atomic_int conns_open;
	atomic_int stopping;
	time_t started;
};

/* The modules' functions over this state: worker.h, conn.h, reload.h, tls.h. */

/* Monotonic nanoseconds (server.c). */
uint64_t mp_server_now_ns(void);

#endif
