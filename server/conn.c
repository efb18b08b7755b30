/* conn.c: a worker's open connections: tracking from accept to close, --max-connections,
 * the whole-request deadline of --read-timeout, and closing idle connections on shutdown.
 * Design: docs/server.md ("Limits"); the state lives in mp_conn (server_int.h).
 *
 * libevent 2.1's evhttp says nothing when it accepts a connection, only when it frees one (a
 * connection's close callback), and the callback can only be set with the connection object,
 * which a request handler sees but an idle or half-sent connection never reaches. So:
 *   1. evhttp asks mp_conn_bevcb for each accepted connection's bufferevent; it makes one, takes
 *      an extra reference (so the bufferevent outlives anything that happens next) and queues it
 *      for the worker's gate event;
 *   2. evhttp then makes the connection object and installs its own bufferevent callbacks, whose
 *      argument is that object; the gate (mp_conn_gate, later in the same loop iteration, before
 *      any byte is read) finds it there, counts the connection against --max-connections, sets
 *      the close callback and starts the deadline, then drops its extra reference;
 *   3. the close callback (on_close) is the only place a connection's mp_conn is freed.
 * Step 2 relies on evhttp passing the connection as the bufferevent callbacks' argument, true of
 * every libevent 2.x; the gate checks it (the connection's bufferevent must be this one) and
 * otherwise leaves the connection untracked. */
#include "conn.h"
#include "alloc.h"
#include "api.h"
#include "reload.h"
#include "server_int.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

/* --- the table: open addressing on the connection pointer, backward-shift deletion --- */

static size_t slot_of(const mp_conn_table *t, const void *evcon)
{
	uintptr_t h = (uintptr_t)evcon;
	h ^= h >> 17;
	h *= 0x9e3779b97f4a7c15ull;
	return (size_t)(h >> 20) & (t->cap - 1);
}

static int table_grow(mp_conn_table *t)
{
	size_t cap = t->cap ? t->cap * 2 : 64;
	mp_conn **old = t->slots;
	size_t oldcap = t->cap;
	mp_conn **slots = mp_calloc(cap, sizeof(*slots));
	if (!slots)
		return -1;
	t->slots = slots;
	t->cap = cap;
	for (size_t i = 0; i < oldcap; i++) {
		if (!old[i])
			continue;
		size_t s = slot_of(t, old[i]->evcon);
		while (slots[s])
			s = (s + 1) & (cap - 1);
		slots[s] = old[i];
	}
	mp_free(old);
	return 0;
}

static int table_put(mp_conn_table *t, mp_conn *c)
{
	if ((t->n + 1) * 2 > t->cap && table_grow(t) < 0)
		return -1;
	size_t s = slot_of(t, c->evcon);
	while (t->slots[s])
		s = (s + 1) & (t->cap - 1);
	t->slots[s] = c;
	t->n++;
	return 0;
}

mp_conn *mp_conn_find(mp_worker *w, struct evhttp_connection *evcon)
{
	mp_conn_table *t = &w->conns;
	if (!t->cap)
		return NULL;
	for (size_t s = slot_of(t, evcon); t->slots[s]; s = (s + 1) & (t->cap - 1))
		if (t->slots[s]->evcon == evcon)
			return t->slots[s];
	return NULL;
}

static void table_del(mp_conn_table *t, mp_conn *c)
{
	size_t s = slot_of(t, c->evcon);
	while (t->slots[s] != c) {
		if (!t->slots[s])
			return;
		s = (s + 1) & (t->cap - 1);
	}
	t->slots[s] = NULL;
	t->n--;
	/* shift later entries of the run back so lookups never stop early */
	for (size_t j = (s + 1) & (t->cap - 1); t->slots[j]; j = (j + 1) & (t->cap - 1)) {
		size_t home = slot_of(t, t->slots[j]->evcon);
		/* move j to s when home is not cyclically within (s, j] */
		int between = s <= j ? (home > s && home <= j) : (home > s || home <= j);
		if (!between) {
			t->slots[s] = t->slots[j];
			t->slots[j] = NULL;
			s = j;
		}
	}
}

/* --- accept, close, deadline --- */

static struct bufferevent *new_bev(mp_worker *w, struct event_base *base, SSL_CTX *tls)
{
	struct bufferevent *bev;
	if (tls) {
		SSL *ssl = SSL_new(tls);
		if (!ssl) /* evhttp makes a plain one: the TLS client fails its handshake */
			return NULL;
		bev = bufferevent_openssl_socket_new(base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING,
		                                     BEV_OPT_CLOSE_ON_FREE);
	} else {
		bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
	}
	if (!bev)
		return NULL;
	if (mp_grow((void **)&w->accepted, &w->accepted_cap, sizeof(*w->accepted), w->naccepted,
	            16) < 0)
		return bev; /* untracked, but served */
	bufferevent_incref(bev);
	w->accepted[w->naccepted++] = bev;
	event_active(w->gate_ev, EV_READ, 0);
	return bev;
}

struct bufferevent *mp_conn_bevcb(struct event_base *base, void *arg)
{
	mp_worker *w = arg;
	return new_bev(w, base, w->srv->tls);
}

struct bufferevent *mp_conn_bevcb_plain(struct event_base *base, void *arg)
{
	return new_bev(arg, base, NULL);
}

static void on_close(struct evhttp_connection *evcon, void *arg)
{
	mp_conn *c = arg;
	mp_worker *w = c->w;
	(void)evcon;
	table_del(&w->conns, c);
	if (c->job)
		mp_reload_detach(c->job);
	if (c->pending)
		mp_api_detach_pending(c->pending);
	event_free(c->deadline);
	mp_free(c->peer_uri);
	mp_free(c);
	atomic_fetch_sub(&w->conns_mine, 1);
	if (!w->abandoned) /* the watchdog took an abandoned worker's connections off the count */
		atomic_fetch_sub(&w->srv->conns_open, 1);
}

static void on_deadline(int fd, short what, void *arg)
{
	mp_conn *c = arg;
	(void)fd;
	(void)what;
	if (c->job || c->pending) { /* a reload or the decision log is answering it: wait */
		event_add(c->deadline, c->w->deadline_tv);
		return;
	}
	if (c->busy)
		mp_metrics_add(&c->w->metrics.conns_timed_out, 1);
	evhttp_connection_free(c->evcon); /* calls on_close */
}

/* The most a connection's input buffer holds: one request of the largest size allowed (the
 * parser's header limit and --max-body: libevent needs a whole Content-Length body in this
 * buffer) and one read more. Reading stops there until the requests are answered. */
static size_t read_limit(const mp_server_config *cfg)
{
	return cfg->max_header * 2 + 8192 + cfg->max_body + 4096;
}

static void on_input(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
	mp_conn *c = arg;
	(void)buf;
	if (info->n_added)
		c->busy = 1;
	if (info->n_deleted && c->held) { /* evhttp took up the next request: read on */
		c->held = 0;
		bufferevent_setwatermark(c->bev, EV_READ, 0, read_limit(c->w->srv->cfg));
	}
}

void mp_conn_hold_reads(mp_conn *c, struct bufferevent *bev)
{
	bufferevent_disable(bev, EV_READ);
	size_t left = c ? evbuffer_get_length(bufferevent_get_input(bev)) : 0;
	if (left == 0)
		return;
	/* Requests already read wait behind this one. evhttp reads again once this reply is
	 * written and takes them up a loop iteration later; a read in between could see the
	 * client's half-close, which evhttp takes for the end of the connection, dropping them
	 * unanswered. So reading stays suspended (a read watermark at what is buffered) until
	 * evhttp has started on the next one (on_input). */
	c->held = 1;
	bufferevent_setwatermark(bev, EV_READ, 0, left);
}

/* Refuses a connection over --max-connections: a 503 on a plain connection (TLS has not even
 * started, so a TLS client just sees the connection close). */
static void refuse(mp_worker *w, struct bufferevent *bev, struct evhttp_connection *evcon)
{
	static const char reply[] = "HTTP/1.1 503 Service Unavailable\r\n"
	                            "Content-Type: application/json\r\n"
	                            "Content-Length: 38\r\n"
	                            "Connection: close\r\n\r\n"
	                            "{\"error\": \"too many open connections\"}";
	if (!w->srv->tls || evhttp_connection_get_server(evcon) == w->admin_http) {
		int fd = bufferevent_getfd(bev);
		if (fd >= 0) /* a failure means the client is gone already: nothing to tell it */
			(void)send(fd, reply, sizeof(reply) - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
	}
	mp_metrics_add(&w->metrics.conns_rejected, 1);
	mp_metrics_status(&w->metrics, 503);
	evhttp_connection_free(evcon);
}

static void track(mp_worker *w, struct bufferevent *bev)
{
	bufferevent_data_cb rd;
	bufferevent_event_cb ev;
	void *arg = NULL;
	bufferevent_getcb(bev, &rd, NULL, &ev, &arg);
	struct evhttp_connection *evcon = arg;
	if (!rd || !evcon || evhttp_connection_get_bufferevent(evcon) != bev)
		return; /* evhttp freed it already (out of memory), or libevent changed */
	mp_metrics_add(&w->metrics.conns_accepted, 1);
	int open = atomic_fetch_add(&w->srv->conns_open, 1) + 1;
	mp_conn *c = NULL;
	if (open > w->srv->cfg->max_connections || w->draining)
		goto refused;
	if (!(c = mp_calloc(1, sizeof(*c))))
		goto refused;
	c->evcon = evcon;
	c->bev = bev;
	c->w = w;
	c->listener = evhttp_connection_get_server(evcon) == w->admin_http ? MP_LISTENER_ADMIN
	                                                                   : MP_LISTENER_MAIN;
	if (!(c->deadline = evtimer_new(w->base, on_deadline, c)) || table_put(&w->conns, c) < 0)
		goto refused;
	evbuffer_add_cb(bufferevent_get_input(bev), on_input, c);
	bufferevent_setwatermark(bev, EV_READ, 0, read_limit(w->srv->cfg));
	evhttp_connection_set_closecb(evcon, on_close, c);
	event_add(c->deadline, w->deadline_tv);
	atomic_fetch_add(&w->conns_mine, 1);
	return;
refused:
	if (c) {
		if (c->deadline)
			event_free(c->deadline);
		mp_free(c);
	}
	atomic_fetch_sub(&w->srv->conns_open, 1);
	refuse(w, bev, evcon);
}

void mp_conn_gate(int fd, short what, void *arg)
{
	mp_worker *w = arg;
	(void)fd;
	(void)what;
	for (size_t i = 0; i < w->naccepted; i++) {
		struct bufferevent *bev = w->accepted[i];
		track(w, bev);
		bufferevent_decref(bev);
	}
	w->naccepted = 0;
}

int mp_conn_peer_in(struct bufferevent *bev, const mp_server_cidr *ranges, int n)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	int fd = (int)bufferevent_getfd(bev), family;
	const unsigned char *a;
	if (fd < 0 || getpeername(fd, (struct sockaddr *)&ss, &len) < 0)
		return 0;
	if (ss.ss_family == AF_INET) {
		family = AF_INET;
		a = (const unsigned char *)&((struct sockaddr_in *)&ss)->sin_addr;
	} else if (ss.ss_family == AF_INET6) {
		const struct in6_addr *a6 = &((struct sockaddr_in6 *)&ss)->sin6_addr;
		family = IN6_IS_ADDR_V4MAPPED(a6) ? AF_INET : AF_INET6;
		a = family == AF_INET ? a6->s6_addr + 12 : a6->s6_addr;
	} else {
		return 0; /* a Unix socket: no address to compare */
	}
	for (int i = 0; i < n; i++) {
		const mp_server_cidr *r = &ranges[i];
		int bits = r->bits, k = 0;
		if (r->family != family)
			continue;
		for (; bits >= 8 && a[k] == r->addr[k]; k++, bits -= 8)
			;
		if (bits < 8 && (bits == 0 || ((a[k] ^ r->addr[k]) & (0xff00 >> bits) & 0xff) == 0))
			return 1;
	}
	return 0;
}

void mp_conn_replied(mp_conn *c)
{
	c->requests++;
	c->busy = evbuffer_get_length(bufferevent_get_input(c->bev)) > 0;
	event_add(c->deadline, c->w->deadline_tv);
}

/* The reply goes out from the request's own loop iteration, before the changes to the
 * connection's events are applied (the base batches them: worker.c): evhttp's switch from
 * reading to writing and back then cancels out, two epoll_ctl calls and a wakeup per request
 * fewer. What cannot be written at once (a full socket buffer, an error) stays queued for
 * evhttp's own write event, as before. The output buffer's start is frozen while the
 * bufferevent owns it, so it is thawed for the write. A reply that closes the connection (and
 * TLS, whose bytes only the bufferevent can write) is left to evhttp. */
void mp_conn_flush(struct evhttp_request *req)
{
	struct evhttp_connection *evcon = evhttp_request_get_connection(req);
	struct bufferevent *bev = evcon ? evhttp_connection_get_bufferevent(evcon) : NULL;
	if (!bev || bufferevent_openssl_get_ssl(bev))
		return;
	const char *conn = evhttp_find_header(evhttp_request_get_output_headers(req), "Connection");
	struct evbuffer *out = bufferevent_get_output(bev);
	int fd = bufferevent_getfd(bev);
	if ((conn && !evutil_ascii_strcasecmp(conn, "close")) || fd < 0 ||
	    evbuffer_get_length(out) == 0)
		return;
	evbuffer_unfreeze(out, 1);
	int n = evbuffer_write(out, fd);
	evbuffer_freeze(out, 1);
	if (n > 0 && evbuffer_get_length(out) == 0)
		bufferevent_trigger(bev, EV_WRITE,
		                    0); /* evhttp's write callback: the reply is done */
}

/* Idle: no request in progress, nothing left to send, and nothing waiting in the socket. */
static int idle(mp_conn *c)
{
	if (c->busy || c->job || c->pending ||
	    evbuffer_get_length(bufferevent_get_output(c->bev)) > 0)
		return 0;
	int fd = bufferevent_getfd(c->bev), pending = 0;
	if (fd >= 0 && ioctl(fd, FIONREAD, &pending) == 0 && pending > 0)
		return 0;
	return 1;
}

size_t mp_conn_close_idle(mp_worker *w)
{
	mp_conn_table *t = &w->conns;
	/* collect first: closing edits the table */
	mp_conn **close = t->n ? mp_malloc(t->n * sizeof(*close)) : NULL;
	size_t n = 0;
	for (size_t i = 0; close && i < t->cap; i++)
		if (t->slots[i] && idle(t->slots[i]))
			close[n++] = t->slots[i];
	for (size_t i = 0; i < n; i++)
		evhttp_connection_free(close[i]->evcon);
	mp_free(close);
	return t->n;
}

void mp_conn_table_free(mp_worker *w)
{
	/* evhttp_free has closed every connection (their close callbacks emptied the table) */
	for (size_t i = 0; i < w->naccepted; i++)
		bufferevent_decref(w->accepted[i]);
	w->naccepted = 0;
	mp_free(w->accepted);
	w->accepted = NULL;
	mp_free(w->conns.slots);
	w->conns.slots = NULL;
	w->conns.cap = w->conns.n = 0;
}
