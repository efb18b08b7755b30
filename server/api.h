/* api.h: the handlers of the decision API's routes (http.c's table names them). What each
 * takes and answers: docs/server.md ("Endpoints"). */
#ifndef MP_API_H
#define MP_API_H

#include "http.h"

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
