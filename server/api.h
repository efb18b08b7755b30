/* api.h: the handlers of the decision API's routes (http.c's table names them). What each
 * takes and answers: docs/server.md ("Endpoints"). */
#ifndef MP_API_H
#define MP_API_H

#include "decide.h"
#include "declog.h"
#include "http.h"
#include "shadow.h"

/* One decision made (mp_api_decide_one). */
typedef struct {
	mp_decision dec;
	mp_engine *engine; /* the snapshot it was made against (the worker's; borrowed) */
	char id[37];
	char *record; /* its log record's content (mp_malloc; the reply takes it), NULL: none */
	size_t record_len, record_cap; /* record_cap: its allocation (mp_declog_submit_buffer) */
	int record_failed;             /* there is a log, but the record could not be encoded */
	uint64_t eval_ns;              /* time in the engine */
	mp_shadow_result shadow;       /* --shadow-bundle's decision of the same request */
	int refused;                   /* fixed: the front door refused it, no bundle decided */
} mp_api_decided;

/* mp_api_decide_one's results. */
enum { MP_API_DECIDED = 0, MP_API_NO_EVALUATOR = -1, MP_API_ABANDONED = -2 };

/* Writes the decision input arg stands for into a log record, masked by the bundle's mask
 * (loginput.h). */
typedef void (*mp_api_input_writer)(mp_jsonbuf *b, const void *arg, const mp_bundle *mask);

/* Decides r with the worker's evaluator (or takes the forced decision fixed), under the
 * watchdog's guard (fd: the connection it answers), and encodes its log record. input: the
 * decision input to log (borrowed, unchanged); NULL: write_input(arg) writes it, only when
 * there is a log. explain: NULL, or an array that gets mp_decide's explanation. Returns
 * MP_API_DECIDED; MP_API_NO_EVALUATOR when none could be made (out of memory); MP_API_ABANDONED
 * when the watchdog gave up on this worker meanwhile (it dealt with the client: the caller returns
 * at once, touching nothing). Every endpoint's decisions, the HTTP API's and gRPC's (grpc.c), go
 * through it. */
int mp_api_decide_one(mp_worker *w, int fd, const mp_request *r, const mp_decision *fixed,
                      json_t *input, mp_api_input_writer write_input, const void *arg, int endpoint,
                      json_t *explain, mp_api_decided *d);

/* No-drop mode: keeps d's record (taken: d->record is NULL after) to be written with the
 * worker's other records of this turn of its loop (commit_ev, mp_declog_write_records); wt is
 * told once it is written or not, on the thread that writes it (the worker's own, but for a
 * turn that kept MP_WORKER_LOG_RECORDS). */
void mp_api_submit_logged(mp_worker *w, mp_api_decided *d, mp_declog_waiter *wt);
/* The records kept and not written (the worker is being freed): each waiter told no. */
void mp_api_fail_kept(mp_worker *w);

void mp_api_decide(mp_http_ctx *x);           /* POST /v1/decide */
void mp_api_check(mp_http_ctx *x);            /* any /v1/check[/...]: Envoy's ext_authz */
void mp_api_nginx_check(mp_http_ctx *x);      /* any /v1/nginx/check: nginx's auth_request */
void mp_api_data(mp_http_ctx *x);             /* GET, POST /v1/data[/{path}]: OPA's Data API */
void mp_api_default_decision(mp_http_ctx *x); /* POST /: OPA's default decision */
void mp_api_health(mp_http_ctx *x);           /* GET /health */
void mp_api_metrics(mp_http_ctx *x);          /* GET /metrics */
void mp_api_reload(mp_http_ctx *x);           /* POST /v1/reload */

/* A worker's done_ev: sends the replies whose log records the writer has dealt with. */
void mp_api_send_logged(int fd, short what, void *worker);
/* A worker's commit_ev: writes the loop pass's log records together and sends the replies
 * whose records are written. */
void mp_api_commit_logged(int fd, short what, void *worker);
/* Frees the replies handed back after the worker stopped (their requests are gone). */
void mp_api_drop_logged(mp_worker *w);
/* The connection of a pending reply closed: the reply goes nowhere. */
void mp_api_detach_pending(mp_pending *p);
/* The body of a fail-closed reply for endpoint (MP_EP_*) into out: {"allow": false, "error":
 * why} ({"code": "internal_error", "message": why, "result": false} for OPA's), and its status in
 * *code (403 for the proxies' endpoints, 503 otherwise). Returns its length, or -1 when it does not
 * fit. Any thread. */
int mp_api_fail_closed_body(int endpoint, const char *why, char *out, size_t outlen, int *code);

#endif
