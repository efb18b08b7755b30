/* conn.h: a worker's connections: tracking, --max-connections, the whole-request deadline
 * and closing idle ones on shutdown (conn.c). */
#ifndef MP_CONN_H
#define MP_CONN_H

#include "server_int.h"

/* evhttp's bufferevent callbacks: the main listener's (TLS when configured), the admin's. */
struct bufferevent *mp_conn_bevcb(struct event_base *base, void *worker);
struct bufferevent *mp_conn_bevcb_plain(struct event_base *base, void *worker);
void mp_conn_gate(int fd, short what, void *worker);
mp_conn *mp_conn_find(mp_worker *w, struct evhttp_connection *evcon);
/* A request of c (NULL: untracked) is being answered: read nothing more until its reply is
 * written (backpressure: a client that never reads holds one reply), nor, when requests are
 * already buffered behind it, until evhttp takes up the next (see conn.c). */
void mp_conn_hold_reads(mp_conn *c, struct bufferevent *bev);
/* After a reply: the connection is idle unless bytes of the next request already arrived;
 * the deadline starts again. */
void mp_conn_replied(mp_conn *c);

/* Writes the reply evhttp has queued for req on a plain connection that stays open at once and
 * tells evhttp it is written, as its write event would a loop iteration later. The call may free
 * req, and the connection with it: call it last. */
void mp_conn_flush(struct evhttp_request *req);
/* Is the peer of bev inside one of the n ranges (an IPv4-mapped IPv6 peer compared as IPv4)?
 * 0 when its address cannot be read. */
int mp_conn_peer_in(struct bufferevent *bev, const mp_server_cidr *ranges, int n);
/* Closes every idle connection (drain); returns how many are still open. */
size_t mp_conn_close_idle(mp_worker *w);
void mp_conn_table_free(mp_worker *w);

#endif
