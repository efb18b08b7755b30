/* tls.h: TLS and mutual TLS for the main listener (tls.c). */
#ifndef MP_TLS_H
#define MP_TLS_H

#include "server_int.h"

SSL_CTX *mp_tls_ctx_new(const char *cert, const char *key, const char *client_ca, char *err,
                        size_t errlen);
/* The first URI SAN of the verified peer certificate of a TLS bufferevent (mp_malloc), or
 * NULL when there is none. */
char *mp_tls_peer_uri(struct bufferevent *bev);

#endif
