/* api.h: the handlers of the decision API's routes (http.c's table names them). What each
 * takes and answers: docs/server.md ("Endpoints"). */
#ifndef MP_API_H
#define MP_API_H

#include "http.h"

void mp_api_decide(mp_http_ctx *x);  /* POST /v1/decide */
void mp_api_check(mp_http_ctx *x);   /* any /v1/check[/...] */
void mp_api_data(mp_http_ctx *x);    /* POST /v1/data/{path} */
void mp_api_health(mp_http_ctx *x);  /* GET /health */
void mp_api_metrics(mp_http_ctx *x); /* GET /metrics */
void mp_api_reload(mp_http_ctx *x);  /* POST /v1/reload */

#endif
