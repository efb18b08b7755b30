/* httpc.h: the server's HTTP client, for polling bundles (fetch.c) and uploading decision logs
 * (logship.c): libcurl easy handles with meshpol's settings: http and https only (redirects
 * too), a CA file, a bearer token read from a file at each request (so it can rotate), bounded
 * replies, timeouts, and a stop flag that aborts a transfer at shutdown. Each handle belongs to
 * one thread; it keeps its connection between requests. Design: docs/bundles.md. */
#ifndef MP_HTTPC_H
#define MP_HTTPC_H

#include <stdatomic.h>
#include <stddef.h>

typedef void mp_httpc; /* a CURL easy handle */

typedef struct {
	const char *ca;         /* a CA bundle PEM for https; NULL: the system's */
	const char *token_file; /* a file holding a bearer token; NULL: none */
	atomic_int *stop;       /* set: abort the transfer now; NULL: never */
	size_t max_body;        /* the most reply bytes kept; more is an error */
} mp_httpc_opts;

/* What came back. Zero-initialise; mp_httpc_reply_free. */
typedef struct {
	long status; /* the HTTP status; 0 when no reply came */
	char *body;  /* malloc'd, len bytes and a NUL; NULL for none */
	size_t len;
	char etag[256];  /* the reply's ETag, "" when none (or too long to keep) */
	char error[300]; /* why no reply came: libcurl's message, "reply over N bytes", ... */
} mp_httpc_reply;

/* libcurl's global set-up: once, on the main thread, before any other thread uses it. */
int mp_httpc_global_init(char *err, size_t errlen);
void mp_httpc_global_cleanup(void);

mp_httpc *mp_httpc_new(void);    /* NULL when out of memory */
void mp_httpc_free(mp_httpc *h); /* NULL is fine */

/* GET url, with If-None-Match: etag when etag is not empty. 0 when a reply came, whatever its
 * status (r->status, r->body, r->etag); -1 with r->error when none did. */
int mp_httpc_get(mp_httpc *h, const char *url, const char *etag, const mp_httpc_opts *o,
                 mp_httpc_reply *r);
/* POST len bytes of body with the given header lines ("Name: value", NULL-terminated). As
 * mp_httpc_get. */
int mp_httpc_post(mp_httpc *h, const char *url, const void *body, size_t len,
                  const char *const *headers, const mp_httpc_opts *o, mp_httpc_reply *r);
void mp_httpc_reply_free(mp_httpc_reply *r);

/* A URL for messages and status: its userinfo and query string left out (they may hold
 * credentials). */
const char *mp_httpc_redact(const char *url, char *buf, size_t len);

#endif
