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
typedef struct mp_pending mp_pending;
typedef struct mp_reload_run mp_reload_run;

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
	int held;               /* reading is suspended until evhttp takes up a buffered request
	                           (mp_conn_hold_reads) */
	mp_reload_job *job;     /* a reply another thread will send; the conn is never closed
	                           by the server while this is set */
	mp_pending *pending;    /* a decision whose reply waits for its log record; likewise */
	int peer_checked;       /* peer_uri was looked up */
	char *peer_uri;         /* the TLS peer's URI SAN (mp_malloc), or NULL */
	int trust_checked;      /* trusted was looked up */
	int trusted;            /* the peer is inside --trusted-proxy (or there is none) */
	uint64_t requests;
};

typedef struct {
	mp_conn **slots; /* open addressing by evcon pointer; NULL: empty */
	size_t cap, n;
} mp_conn_table;

/* A decision reply that waits for its record to be written (no-drop decision log): made by
 * the worker that decided, owned by the decision log from mp_declog_submit_text until the
 * writer calls waiter.done, then by the worker again (its done list), which sends the reply
 * prepared in req (or a fail-closed one) and frees it. */
struct mp_pending {
	mp_declog_waiter waiter; /* first: the writer sees only this */
	mp_worker *w;
	mp_conn *conn;              /* NULL: untracked, or the connection closed (on_close) */
	struct evhttp_request *req; /* NULL once the connection closed: the reply goes nowhere */
	int code, endpoint;         /* the reply when the record is written */
	uint32_t effect;
	uint64_t t0;
	int ok;        /* set by the writer: the record was written */
	char why[200]; /* set by the writer when it was not */
	mp_pending *next;
};

/* The watchdog's view of a worker's guarded sections (a decision's Lua, building a Lua state):
 * mp_worker.guard holds seq << 2 | one of these. The worker moves IDLE -> BUSY -> IDLE with
 * compare-and-swap; the control thread moves BUSY -> ABANDONED (same seq) when a section ran
 * past --request-timeout plus the grace period, or at the end of a drain. */
enum { MP_GUARD_IDLE = 0, MP_GUARD_BUSY = 1, MP_GUARD_ABANDONED = 2 };

/* The most log records a worker keeps for one write (mp_worker.log_records). */
#define MP_WORKER_LOG_RECORDS 32

struct mp_worker {
	mp_server *srv;
	int id; /* -1: the control thread's listener set (--admin-listen) */
	pthread_t thread;
	int started;       /* a thread runs the loop (0 for the control thread's set) */
	int on_control;    /* runs on the control thread's base, which it does not own */
	atomic_int exited; /* the thread left its loop; set last, before it returns */
	struct event_base *base;
	struct evhttp *http, *admin_http; /* admin_http: the control thread's set only */
	struct evhttp_bound_socket *bound, *admin_bound;
	/* The evaluator this thread decides with, and the snapshot it was made for (retained by
	 * the evaluator). Replaced when the server's current snapshot changes. */
	mp_engine *engine;
	mp_evaluator *ev;
	uint64_t when_calls_seen, when_errors_seen;
	mp_metrics metrics;
	char *json_arena; /* MP_HTTP_ARENA_BYTES for the request bodies' trees (http.c), or NULL */
	mp_conn_table conns;
	struct bufferevent **accepted; /* accepted, not yet tracked (conn.c's gate) */
	uint32_t naccepted, accepted_cap;
	struct event *gate_ev, *stop_ev, *refresh_ev, *sweep_ev;
	const struct timeval *deadline_tv; /* common timeout of --read-timeout */
	int draining;
	struct timespec drain_until;
	/* random bytes for decision ids, drawn from OpenSSL 1 KiB at a time: one RAND_bytes call
	 * (which costs a getpid system call for its fork check, and the DRBG's lock) per 64 ids.
	 * The ids stay unpredictable: the pool is the CSPRNG's output, private to this worker, each
	 * 16 bytes used once and wiped (api.c's new_id); knowing ids that were handed out tells
	 * nothing of the rest, as with one RAND_bytes call per id. A forked child never inherits a
	 * pool (the server does not fork). */
	unsigned char rand_pool[1024];
	size_t rand_left;

	/* Replies whose log records the writer has dealt with (mp_pending.next list, newest
	 * first), under done_lock; done_ev (made active by the writer) sends them. */
	pthread_mutex_t done_lock;
	mp_pending *done;
	struct event *done_ev;
	/* No-drop mode: the records of one turn of the loop, kept (api.c's mp_api_submit_logged)
	 * and written together when the turn's other callbacks have run: commit_ev, made active
	 * by the turn's first record, is behind them in libevent's queue. commit_due: it is
	 * active. A turn with more writes every MP_WORKER_LOG_RECORDS. */
	struct event *commit_ev;
	int commit_due;
	mp_declog_record log_records[MP_WORKER_LOG_RECORDS];
	size_t nlog_records;

	/* its part of --shadow-bundle (shadow.c): made by the worker at its first request */
	_Atomic(struct mp_shadow_worker *) shadow;

	/* The watchdog (server.c): the guarded section running now, its start, and the fd of the
	 * connection it answers (-1: none) with the endpoint it was for. The worker writes
	 * guard_fd and guard_endpoint before it publishes BUSY; the control thread reads them after
	 * it sees BUSY. */
	_Atomic uint64_t guard;
	_Atomic uint64_t guard_since_ns;
	int guard_fd, guard_endpoint, guard_tls;
	uint64_t guard_seq;       /* the worker's own copy of guard's seq */
	uint64_t interrupted_seq; /* control thread: the section it last interrupted */
	/* The Lua state the watchdog interrupts: set by the worker when its evaluator or state
	 * changes, read by the control thread, both under sb_lock. */
	pthread_mutex_t sb_lock;
	struct mp_sandbox *sb;
	mp_evaluator *sb_ev; /* the evaluator sb belongs to (worker thread) */
	int locks;           /* the mutexes were initialised */
	/* Set by the control thread when it gives up on this worker (under abandon_lock, which
	 * the worker takes before looking): its connections are no longer its to count. */
	pthread_mutex_t abandon_lock;
	int abandoned;
	mp_worker *next_abandoned; /* mp_server.abandoned list */

	struct mp_grpc_worker *grpc; /* its gRPC listener and connections (grpc.c), or NULL */
	/* its open client connections, HTTP and gRPC (written by its thread, read by /metrics):
	 * which worker accepts a connection is a race, and this shows how it went */
	atomic_int conns_mine;
};

/* What /health shows about reloads; under mp_server.status_lock. */
typedef struct {
	uint64_t ok, failed, unchanged;
	time_t loaded_at;      /* when the current snapshot was swapped in */
	time_t last_attempt;   /* the last reload, whatever its outcome */
	time_t last_failure;   /* 0: never */
	char *last_errors;     /* JSON array text of the last failure's errors (json_dumps: free) */
	char last_trigger[16]; /* "signal", "api", "watch", "fetch" */
} mp_reload_status;

struct mp_server {
	const mp_server_config *cfg;
	struct event_base *control; /* the main thread's: signals, reloads, --watch, admin */
	/* The worker threads. A slot changes only on the control thread (the watchdog replaces a
	 * stuck worker); other threads read it atomically. A replaced worker goes on the abandoned
	 * list and is freed at exit, never before (other threads may still hold it). */
	_Atomic(mp_worker *) *workers;
	int nworkers;
	mp_worker *admin;        /* the --admin-listen set, on the control thread; NULL without */
	mp_worker *abandoned;    /* control thread only */
	int listen_fd, admin_fd; /* kept open until the drain starts, for replacement workers */
	int grpc_fd;             /* --grpc-listen's socket, likewise; -1 without */
	SSL_CTX *tls;
	SSL_CTX *grpc_tls; /* the same files, with ALPN h2 (grpc.c); NULL without TLS */
	mp_declog *log;
	struct mp_shadow *shadow;   /* --shadow-bundle (shadow.h); NULL without */
	struct mp_fetch *fetch;     /* --bundle-url; NULL without */
	struct mp_logship *logship; /* --decision-log-url; NULL without */
	int reload_on_main;         /* /v1/reload is served on the main listener (token only) */

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
	/* The reload being built on its own thread (reload.c), and whether another was asked for
	 * meanwhile. Control thread only; the build thread touches only its mp_reload_run. */
	mp_reload_run *reload_running;
	int reload_again;
	char reload_again_trigger[16];
	struct event *reload_done_ev;

	struct event *exited_ev;   /* a worker left its loop (made active from its thread) */
	struct event *drain_ev;    /* the drain's deadline */
	struct event *watchdog_ev; /* the watchdog's tick */
	/* the watchdog's counters (control thread writes, any thread reads) */
	_Atomic uint64_t watchdog_interrupts, watchdog_replaced, watchdog_failed_closed;

	atomic_int conns_open;
	atomic_int stopping;
	time_t started;
};

/* The worker in slot i (any thread). */
static inline mp_worker *mp_server_worker(mp_server *srv, int i)
{
	return atomic_load(&srv->workers[i]);
}

/* The modules' functions over this state: worker.h, conn.h, reload.h, tls.h. */

/* Monotonic nanoseconds (server.c). */
uint64_t mp_server_now_ns(void);
/* pthread_create with SIGTERM, SIGINT and SIGHUP blocked in the new thread (server.c). */
int mp_server_spawn(pthread_t *t, void *(*fn)(void *), void *arg);
/* A worker thread left its loop, or the control thread's set finished its drain (any thread;
 * server.c). */
void mp_server_worker_exited(mp_server *srv);

#endif
