/* server.h: `meshpol serve`, the decision API over HTTP: its configuration and its one entry
 * point. User guide: docs/server.md; threads, snapshots and shutdown: server.c's header. */
#ifndef MP_SERVER_H
#define MP_SERVER_H

#include <stddef.h>

/* An address range (--trusted-proxy): IPv4 addresses are compared as IPv4 (an IPv4-mapped
 * IPv6 peer included), IPv6 as IPv6. */
typedef struct {
	int family; /* AF_INET or AF_INET6 */
	unsigned char addr[16];
	int bits; /* prefix length */
} mp_server_cidr;

/* Parses "ADDR" or "ADDR/BITS" (IPv4 or IPv6) into out. 0, or -1 when it is not one. */
int mp_server_parse_cidr(const char *text, mp_server_cidr *out);

/* What the front doors do with a path before the engine normalises it (docs/server.md,
 * "Paths"): %2F, %5C and a raw backslash; ';' path parameters. */
enum { MP_SLASHES_REJECT = 0, MP_SLASHES_KEEP, MP_SLASHES_UNESCAPE };
enum { MP_PARAMS_REJECT = 0, MP_PARAMS_STRIP, MP_PARAMS_KEEP };

#define MP_SERVER_MAX_TRUSTED 32

/* What `meshpol serve` was asked to do. Every string is borrowed (argv) for the whole run. */
typedef struct {
	const char *model;  /* -m: .mpm or YAML sources */
	const char *bundle; /* -p: the policy bundle directory */
	const char *listen; /* ADDR:PORT */
	int workers;        /* worker threads, >= 1 */

	const char *decision_log;  /* NULL: no decision log */
	const char *shadow_bundle; /* --shadow-bundle: a candidate deciding beside, or NULL */
	const char *sign_key;      /* Ed25519 key for the log's seals, or NULL */
	int log_drop;              /* 1: drop records when the queue is full; 0: block */
	size_t log_queue;          /* queue capacity in records */

	const char *tls_cert, *tls_key, *client_ca; /* NULL: plain HTTP / no client certs */

	const char *admin_listen; /* ADDR:PORT of the admin listener, or NULL */
	const char *admin_token;  /* Bearer token for /v1/reload, or NULL */
	int watch;                /* reload when the model or bundle changes on disk */
	unsigned watch_debounce_ms;

	const char *destination_header; /* NULL: the destination comes from Host */
	size_t max_body, max_header;    /* bytes */
	int read_timeout;               /* seconds for a whole request to arrive */
	int max_connections;            /* open connections, all workers together */
	int drain_timeout;              /* seconds SIGTERM waits for requests in flight */
	int request_timeout;            /* seconds a decision's Lua may run before the watchdog
	                                   interrupts it (and gives up on its worker 1 s later) */
	unsigned long long when_budget; /* Lua instructions per `when` call; 0: the engine's */

	/* The front doors (docs/server.md, "What a caller can claim") */
	mp_server_cidr trusted[MP_SERVER_MAX_TRUSTED]; /* --trusted-proxy: the peers whose identity
	                                                  headers count; none: every peer */
	int ntrusted;
	int deny_body_full;  /* --deny-body full: a proxy's 403 carries the whole decision */
	int escaped_slashes; /* MP_SLASHES_*: %2F, %5C and '\' in a proxy's path */
	int path_params;     /* MP_PARAMS_*: ';' in a proxy's path */
} mp_server_config;

/* Runs the server until SIGTERM or SIGINT. Returns the process exit code: 0 after a clean
 * shutdown, 1 when the server failed while running, 2 when it could not start (bad model or
 * bundle, address in use, unreadable certificate, ...), with the reason on stderr. */
int mp_server_run(const mp_server_config *cfg);

#endif
