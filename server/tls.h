/* tls.h: TLS and mutual TLS for the main listener, and certificates forwarded by nginx (tls.c). */
#ifndef MP_TLS_H
#define MP_TLS_H

#include "server_int.h"

SSL_CTX *mp_tls_ctx_new(const char *cert, const char *key, const char *client_ca, char *err,
                        size_t errlen);
/* The first URI SAN of the verified peer certificate of a TLS bufferevent (mp_malloc), or
 * NULL when there is none. */
char *mp_tls_peer_uri(struct bufferevent *bev);

#define MP_TLS_MAX_ESCAPED_PEM 65536

/* The first URI SAN of a URL-escaped PEM certificate (nginx's $ssl_client_escaped_cert), as
 * mp_malloc'd text, or NULL when it has none; *malformed is 1 (and NULL returned) when the text
 * is no certificate. Trusts the certificate as given: whoever sent it verified it. */
char *mp_tls_escaped_pem_uri(const char *escaped, int *malformed);

#endif
