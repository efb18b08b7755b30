/* head.h: a reply's status line and headers written by the server itself on a plain keep-alive
 * connection, byte for byte what evhttp writes (head.c); the reason phrases of both paths. */
#ifndef MP_HEAD_H
#define MP_HEAD_H

#include <stddef.h>

struct evhttp_request;
struct evbuffer;
struct evkeyvalq;

/* The reason phrase the server gives code: ours where libevent's is missing, else NULL (libevent
 * knows it). */
const char *mp_head_reason(int code);

/* Sends req's reply: the status line, req's output headers, Content-Type, and what evhttp adds
 * (Date, Connection: keep-alive for HTTP/1.0, Content-Length), then the body: len bytes at body,
 * or, when body is NULL, req's output buffer. Only on a plain connection that stays open after
 * it, for a reply with a body; 0 when sent (req is evhttp's again, written and freed once the
 * socket takes the bytes: see mp_conn_flush), -1 when it is not one of those replies, or cannot
 * be written, and nothing was changed: the caller sends it through evhttp_send_reply. */
int mp_head_send(struct evhttp_request *req, int code, const char *content_type, const char *body,
                 size_t len);

/* Replaces, in every header of h, each byte a header line cannot carry (a control byte other
 * than tab, DEL) with '?': a value never ends the line it is on, whichever path writes it. */
void mp_head_clean(struct evkeyvalq *h);

#endif
