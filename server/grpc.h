/* grpc.h: Envoy's gRPC ext_authz service (envoy.service.auth.v3.Authorization/Check, and v2's)
 * on --grpc-listen: HTTP/2 (nghttp2) on each worker's event base, beside its evhttp, with the
 * same evaluator, metrics, decision log and connection limit (grpc.c). User guide:
 * docs/server.md ("gRPC ext_authz"). */
#ifndef MP_GRPC_H
#define MP_GRPC_H

#include "server_int.h"

/* A worker's gRPC listener, connections and pending replies (mp_worker.grpc). */
typedef struct mp_grpc_worker mp_grpc_worker;

/* The TLS context of the gRPC listener: the main listener's files and options (tls.c), and ALPN
 * that picks h2. NULL and err when the files do not load. */
SSL_CTX *mp_grpc_tls_ctx(const mp_server_config *cfg, char *err, size_t errlen);

/* The worker accepts on srv->grpc_fd (its own dup of it) from now on. */
int mp_grpc_worker_start(mp_worker *w, char *err, size_t errlen);
/* Drain: stop accepting; tell every connection (GOAWAY) that no new call will be taken. */
void mp_grpc_worker_stop(mp_worker *w);
/* Drain: closes every connection with no call in flight; returns how many are still open. */
size_t mp_grpc_close_idle(mp_worker *w);
/* Control thread, the worker being abandoned (worker.c): its connections are shut down and
 * taken off the count. */
void mp_grpc_worker_abandon(mp_worker *w);
/* After the worker's loop: closes what is left and frees everything. NULL state is fine. */
void mp_grpc_worker_free(mp_worker *w);

#endif
