/* grpc.c: Envoy's gRPC ext_authz service on --grpc-listen: HTTP/2 with nghttp2 on libevent
 * bufferevents (cleartext with prior knowledge, or TLS with ALPN h2), gRPC's framing, and the
 * Check call, decided through the same path as the HTTP API (api.h: evaluator, watchdog guard,
 * decision id, log record). The messages: extauthz.h. User guide: docs/server.md ("gRPC
 * ext_authz"); why nghttp2 and protobuf-c: docs/architecture.md.
 *
 * Ownership: a worker's mp_grpc_worker owns its connections (a list); a connection owns its
 * nghttp2 session, bufferevent, timer and streams (a list, oldest first); a stream is freed by
 * nghttp2's stream-close callback or with its connection, never elsewhere. A reply waiting for
 * its log record (no-drop mode) is a pending, owned by the decision log until the writer calls
 * it back, then by the worker's done list; its stream pointer is cleared when the stream goes.
 *
 * Life of a call (stream):
 *   begin_headers: made, on the connection's list -> header: :method, :path, content-type
 *   -> end of headers: refused at once (415, 405, UNIMPLEMENTED, RESOURCE_EXHAUSTED) or
 *   -> data: buffered, up to --max-body (the 5-byte prefix read as soon as it arrives)
 *   -> END_STREAM: unpacked, read, decided, answered (HEADERS, DATA, trailers) or pending
 *   -> stream close (after our END_STREAM, and the client's or our RST_STREAM NO_ERROR).
 * A call whose request does not arrive within --read-timeout gets DEADLINE_EXCEEDED; a
 * connection without a call for --grpc-idle-timeout gets GOAWAY and is closed. */
#include "grpc.h"
#include "alloc.h"
#include "api.h"
#include "conn.h"
#include "decision_json.h"
#include "extauthz.h"
#include "loginput.h"
#include "tls.h"
#include "worker.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <nghttp2/nghttp2.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define V3_PATH   "/envoy.service.auth.v3.Authorization/Check"
#define V2_PATH   "/envoy.service.auth.v2.Authorization/Check"
#define OUT_LIMIT (256u << 10) /* replies queued for a client before its reading stops */

/* gRPC status codes (grpc/doc/statuscodes.md) */
enum {
	ST_OK = 0,
	ST_INVALID_ARGUMENT = 3,
	ST_DEADLINE_EXCEEDED = 4,
	ST_PERMISSION_DENIED = 7,
	ST_RESOURCE_EXHAUSTED = 8,
	ST_UNIMPLEMENTED = 12,
	ST_INTERNAL = 13,
	ST_UNAVAILABLE = 14,
};

typedef struct gconn gconn;
typedef struct gstream gstream;
typedef struct gpending gpending;

struct gstream {
	int32_t id;
	gconn *c;
	gstream *prev, *next;
	uint64_t started_ns;
	size_t header_bytes;
	int post, path_ok,
	    grpc_type;            /* :method POST, a Check path, content-type application/grpc */
	char path[80], ctype[48]; /* as sent (cut), for the error messages */
	int headers_done, remote_ended, replied, timed_out;
	uint8_t *body; /* the request's bytes (mp_malloc) */
	size_t body_len;
	uint32_t body_cap;
	uint8_t *out; /* the reply message (5-byte prefix + CheckResponse), mp_malloc */
	size_t out_len, out_off;
	gpending *pending; /* the reply waits for its log record */
};

struct gconn {
	mp_grpc_worker *g;
	struct bufferevent *bev;
	nghttp2_session *session;
	struct event *timer;
	gconn *prev, *next;
	gstream *head, *tail; /* open streams, oldest first */
	size_t nstreams;
	size_t buffered; /* request bytes of unfinished streams */
	uint64_t accepted_ns, idle_since_ns, blocked_since_ns;
	int fd, trusted, tls;
	int heard;     /* the client sent its first bytes: our SETTINGS may go */
	int got_frame; /* the client's preface and first frame arrived */
	int goaway;    /* idle: GOAWAY sent, closed when written or at the next tick */
	int blocked;   /* reading stopped: the client does not read its replies */
	int counted;   /* in srv->conns_open */
};

struct gpending {
	mp_declog_waiter waiter; /* first: the writer sees only this */
	mp_grpc_worker *g;
	gstream *st; /* NULL once the stream is gone */
	uint32_t effect;
	uint64_t t0;
	int ok;
	char why[200];
	gpending *next;
};

struct mp_grpc_worker {
	mp_worker *w;
	struct evconnlistener *listener;
	gconn *conns;
	size_t nconns;
	mp_extauthz_arena *arena;
	nghttp2_session_callbacks *cbs;
	nghttp2_option *opt;
	pthread_mutex_t done_lock; /* the writer hands back pendings here */
	gpending *done;
	struct event *done_ev;
	int locked;
};

static const mp_server_config *cfg_of(const gconn *c)
{
	return c->g->w->srv->cfg;
}

/* --- replies --- */

/* grpc-message: percent-encoded, as gRPC's HTTP/2 protocol asks (PROTOCOL-HTTP2.md). */
static void pct_encode(const char *in, char *out, size_t outlen)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;
	for (; *in && o + 4 < outlen; in++) {
		unsigned char ch = (unsigned char)*in;
		if (ch >= 0x20 && ch <= 0x7e && ch != '%') {
			out[o++] = (char)ch;
		} else {
			out[o++] = '%';
			out[o++] = hex[ch >> 4];
			out[o++] = hex[ch & 15];
		}
	}
	out[o] = '\0';
}

#define NV(n, v)                                                                                   \
	{                                                                                          \
		(uint8_t *)(n), (uint8_t *)(v), sizeof(n) - 1, strlen(v), NGHTTP2_NV_FLAG_NONE     \
	}

static void count_status(gconn *c, int code)
{
	mp_metrics_add(&c->g->w->metrics.grpc_status[code], 1);
}

/* A trailers-only reply: the call failed with code (and the HTTP status http says, 200 but for
 * a request that is no gRPC call). */
static void reply_status(gstream *st, int http, int code, const char *msg)
{
	char status[8], gs[8], m[600];
	snprintf(status, sizeof(status), "%d", http);
	snprintf(gs, sizeof(gs), "%d", code);
	pct_encode(msg, m, sizeof(m));
	nghttp2_nv nv[] = {NV(":status", status), NV("content-type", "application/grpc"),
	                   NV("grpc-status", gs), NV("grpc-message", m),
	                   NV("grpc-accept-encoding", "identity")};
	size_t n = code == ST_UNIMPLEMENTED ? 5 : 4;
	st->replied = 1;
	count_status(st->c, code);
	if (code == ST_INVALID_ARGUMENT)
		mp_metrics_add(&st->c->g->w->metrics.bad_requests, 1);
	nghttp2_submit_response(st->c->session, st->id, nv, n, NULL);
}

static ssize_t read_reply(nghttp2_session *s, int32_t id, uint8_t *buf, size_t len, uint32_t *flags,
                          nghttp2_data_source *src, void *ud)
{
	gstream *st = src->ptr;
	(void)ud;
	size_t n = st->out_len - st->out_off;
	if (n > len)
		n = len;
	memcpy(buf, st->out + st->out_off, n);
	st->out_off += n;
	if (st->out_off == st->out_len) {
		static const nghttp2_nv ok[] = {NV("grpc-status", "0")};
		*flags |= NGHTTP2_DATA_FLAG_EOF | NGHTTP2_DATA_FLAG_NO_END_STREAM;
		if (nghttp2_submit_trailer(s, id, ok, 1) != 0)
			return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
	}
	return (ssize_t)n;
}

/* The CheckResponse in st->out, with grpc-status 0 in the trailers. */
static void send_reply(gstream *st)
{
	static const nghttp2_nv hdrs[] = {NV(":status", "200"),
	                                  NV("content-type", "application/grpc")};
	nghttp2_data_provider dp = {.source.ptr = st, .read_callback = read_reply};
	st->replied = 1;
	count_status(st->c, ST_OK);
	nghttp2_submit_response(st->c->session, st->id, hdrs, 2, &dp);
}

/* A CheckResponse that denies without a decision (the request cannot be decided, the decision
 * log failed): Envoy denies it whatever failure_mode_allow says, as it would a 403. */
static void reply_denial(gstream *st, int32_t code, const char *why)
{
	char body[512], header[256];
	int http;
	int n = mp_api_fail_closed_body(MP_EP_GRPC, why, body, sizeof(body), &http);
	size_t i = 0;
	for (; why[i] && i + 1 < sizeof(header); i++) /* a header carries printable ASCII */
		header[i] = why[i] >= 0x20 && why[i] < 0x7f ? why[i] : '?';
	header[i] = '\0';
	mp_extauthz_reply r = {.code = code,
	                       .message = why,
	                       .error = header,
	                       .body = n >= 0 ? body : "{\"allow\":false}"};
	mp_free(st->out);
	st->out_off = 0;
	if (!(st->out = mp_extauthz_pack(&r, &st->out_len))) {
		reply_status(st, 200, ST_INTERNAL, "cannot write the reply (out of memory)");
		return;
	}
	send_reply(st);
}

/* --- the call --- */

/* The call's decision input for its log record: Envoy's CheckRequest as extauthz.c reads it. */
static void input_of(mp_jsonbuf *b, const void *q, const mp_bundle *mask)
{
	json_t *in = mp_extauthz_input(q);
	if (!in)
		b->oom = 1;
	mp_loginput_json(b, in, mask);
	json_decref(in);
}

static void pending_done(mp_declog_waiter *wt, int ok, const char *why)
{
	gpending *p = (gpending *)wt;
	mp_grpc_worker *g = p->g;
	p->ok = ok;
	if (!ok)
		snprintf(p->why, sizeof(p->why), "%s", why ? why : "decision log unavailable");
	pthread_mutex_lock(&g->done_lock);
	int first = g->done == NULL;
	p->next = g->done;
	g->done = p;
	pthread_mutex_unlock(&g->done_lock);
	if (first)
		event_active(g->done_ev, EV_READ, 0);
}

static void flush(gconn *c);

/* The writer dealt with the records of pending replies: send them (worker thread). */
static void on_logged(int fd, short what, void *arg)
{
	mp_grpc_worker *g = arg;
	(void)fd;
	(void)what;
	pthread_mutex_lock(&g->done_lock);
	gpending *p = g->done, *fifo = NULL;
	g->done = NULL;
	pthread_mutex_unlock(&g->done_lock);
	while (p) { /* oldest first */
		gpending *next = p->next;
		p->next = fifo;
		fifo = p;
		p = next;
	}
	for (p = fifo; p; p = fifo) {
		fifo = p->next;
		gstream *st = p->st;
		if (st) {
			st->pending = NULL;
			if (p->ok) {
				send_reply(st);
				mp_metrics_decision(&g->w->metrics, MP_EP_GRPC, p->effect,
				                    mp_server_now_ns() - p->t0);
			} else {
				mp_metrics_add(&g->w->metrics.failed_closed, 1);
				reply_denial(st, ST_UNAVAILABLE, p->why);
			}
			flush(st->c);
		}
		mp_free(p);
	}
}

/* Sends the decision's reply (in st->out): at once without a log or in drop mode, once its
 * record is written in no-drop mode, or failed closed when it cannot be. */
static void answer(gstream *st, mp_api_decided *d, uint64_t t0)
{
	mp_grpc_worker *g = st->c->g;
	mp_worker *w = g->w;
	mp_declog *log = w->srv->log;
	if (log && !w->srv->cfg->log_drop) {
		gpending *p = mp_calloc(1, sizeof(*p));
		if (!p) {
			mp_free(d->record);
			mp_metrics_add(&w->metrics.failed_closed, 1);
			reply_denial(st, ST_UNAVAILABLE,
			             "decision log unavailable: cannot wait for the record (out of "
			             "memory)");
			return;
		}
		*p = (gpending){.waiter.done = pending_done,
		                .g = g,
		                .st = st,
		                .effect = d->dec.effect,
		                .t0 = t0};
		st->pending = p;
		mp_api_submit_logged(w, d, &p->waiter); /* p is the log's now */
		return;
	}
	if (log)
		mp_declog_submit_buffer(log, "decision", d->record, d->record_len, d->record_cap,
		                        NULL, NULL, 0);
	d->record = NULL;
	send_reply(st);
	mp_metrics_decision(&w->metrics, MP_EP_GRPC, d->dec.effect, mp_server_now_ns() - t0);
}

/* The reply to a decision: allowed, or a 403 whose body is minimal unless --deny-body full. */
static int pack_decision(gstream *st, const mp_api_decided *d)
{
	char storage[4096], body[96];
	mp_jsonbuf b;
	mp_jsonbuf_init(&b, storage, sizeof(storage));
	mp_extauthz_reply r = {.allow = d->dec.allow,
	                       .code = d->dec.allow ? ST_OK : ST_PERMISSION_DENIED,
	                       .message = d->dec.allow ? NULL : mp_effect_name(d->dec.effect),
	                       .id = d->id};
	if (!d->dec.allow && cfg_of(st->c)->deny_body_full) {
		mp_decision_json_write(&b, d->engine, &d->dec, d->id, MP_DECISION_JSON_OUTPUT);
		mp_jsonbuf_raw(&b, "", 1); /* the NUL protobuf-c's string wants */
		r.body = b.oom ? NULL : b.p;
	} else if (!d->dec.allow) {
		snprintf(body, sizeof(body), "{\"allow\":false,\"decision_id\":\"%s\"}", d->id);
		r.body = body;
	}
	st->out = r.body || d->dec.allow ? mp_extauthz_pack(&r, &st->out_len) : NULL;
	st->out_off = 0;
	mp_jsonbuf_free(&b);
	return st->out ? 0 : -1;
}

/* The whole request arrived: unpack, read, decide, answer. */
static void call(gstream *st)
{
	gconn *c = st->c;
	mp_grpc_worker *g = c->g;
	mp_worker *w = g->w;
	const mp_server_config *cfg = w->srv->cfg;
	char err[512];
	uint64_t t0 = mp_server_now_ns();
	if (st->body_len < 5) {
		reply_status(st, 200, ST_INTERNAL, "no request message: a unary call carries one");
		return;
	}
	size_t len = (size_t)st->body[1] << 24 | (size_t)st->body[2] << 16 |
	             (size_t)st->body[3] << 8 | st->body[4];
	if (st->body_len != len + 5) {
		snprintf(err, sizeof(err),
		         "a unary call carries one message: %zu bytes arrived for a message of %zu",
		         st->body_len - 5, len);
		reply_status(st, 200, ST_INTERNAL, err);
		return;
	}
	mp_engine *e = mp_worker_evaluator(w) ? w->engine : NULL;
	if (!e) {
		reply_denial(st, ST_INTERNAL, "no evaluator (out of memory)");
		return;
	}
	mp_extauthz_msg *m = mp_extauthz_unpack(g->arena, st->body + 5, len);
	if (!m) {
		reply_status(st, 200, ST_INVALID_ARGUMENT,
		             "the message is not a CheckRequest (malformed protobuf)");
		mp_extauthz_arena_reset(g->arena);
		return;
	}
	mp_extauthz q;
	mp_extauthz_in in = {.destination_header = cfg->destination_header,
	                     .peer_trusted = c->trusted,
	                     .escaped_slashes = cfg->escaped_slashes,
	                     .path_params = cfg->path_params,
	                     .model = e->model};
	int rc = mp_extauthz_read(&q, g->arena, m, &in, err, sizeof(err));
	if (rc == MP_EXTAUTHZ_MALFORMED) {
		reply_status(st, 200, ST_INVALID_ARGUMENT, err);
	} else if (rc != MP_EXTAUTHZ_OK) {
		mp_metrics_add(&w->metrics.bad_requests, 1);
		reply_denial(st, ST_INVALID_ARGUMENT, err);
	} else {
		mp_decision fixed;
		if (q.p.refused) { /* decided as a denial that says why, and logged */
			memset(&fixed, 0, sizeof(fixed));
			fixed.effect = MP_EFFECT_FORBIDDEN;
			fixed.src_svc = fixed.dst_svc = fixed.dst_ext = MP_NONE;
			fixed.reasons[0] = (mp_reason){MP_NONE, MP_REASON_DENY, q.p.refused, {0}};
			fixed.nreasons = 1;
		}
		mp_api_decided d;
		rc = mp_api_decide_one(w, c->fd, &q.p.r, q.p.refused ? &fixed : NULL, NULL,
		                       input_of, &q, MP_EP_GRPC, NULL, &d);
		if (rc == MP_API_ABANDONED) {
			st->replied = 1; /* the watchdog shut the connection down: nothing more */
		} else if (rc != MP_API_DECIDED) {
			reply_denial(st, ST_INTERNAL, "no evaluator (out of memory)");
		} else if (pack_decision(st, &d) < 0) {
			mp_free(d.record); /* not answered: not logged */
			reply_status(st, 200, ST_INTERNAL,
			             "cannot write the reply (out of memory)");
		} else {
			answer(st, &d, t0);
		}
	}
	mp_extauthz_free(&q);
	mp_extauthz_arena_reset(g->arena);
}

/* --- nghttp2's callbacks (user data: the connection) --- */

static gstream *stream_of(gconn *c, int32_t id)
{
	return nghttp2_session_get_stream_user_data(c->session, id);
}

static void arm(gconn *c, uint64_t at_ns);

static int on_begin_headers(nghttp2_session *s, const nghttp2_frame *f, void *ud)
{
	gconn *c = ud;
	if (f->hd.type != NGHTTP2_HEADERS || f->headers.cat != NGHTTP2_HCAT_REQUEST)
		return 0;
	gstream *st = mp_calloc(1, sizeof(*st));
	if (!st) /* refused: the client may try again */
		return nghttp2_submit_rst_stream(s, NGHTTP2_FLAG_NONE, f->hd.stream_id,
		                                 NGHTTP2_REFUSED_STREAM) == 0
		           ? 0
		           : NGHTTP2_ERR_CALLBACK_FAILURE;
	st->id = f->hd.stream_id;
	st->c = c;
	st->started_ns = mp_server_now_ns();
	st->prev = c->tail;
	if (c->tail)
		c->tail->next = st;
	else
		c->head = st;
	c->tail = st;
	if (c->nstreams++ == 0) /* busy again: the timer now guards this call */
		arm(c, st->started_ns + (uint64_t)cfg_of(c)->read_timeout * 1000000000u);
	nghttp2_session_set_stream_user_data(s, st->id, st);
	return 0;
}

static void copy_cut(char *out, size_t outlen, const uint8_t *v, size_t len)
{
	size_t n = len < outlen - 1 ? len : outlen - 1;
	memcpy(out, v, n);
	out[n] = '\0';
}

static int on_header(nghttp2_session *s, const nghttp2_frame *f, const uint8_t *name,
                     size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags, void *ud)
{
	gconn *c = ud;
	gstream *st = stream_of(c, f->hd.stream_id);
	(void)s;
	(void)flags;
	if (!st)
		return 0;
	st->header_bytes += namelen + valuelen + 32; /* as SETTINGS_MAX_HEADER_LIST_SIZE counts */
	if (namelen == 7 && !memcmp(name, ":method", 7)) {
		st->post = valuelen == 4 && !memcmp(value, "POST", 4);
	} else if (namelen == 5 && !memcmp(name, ":path", 5)) {
		st->path_ok =
		    (valuelen == sizeof(V3_PATH) - 1 && !memcmp(value, V3_PATH, valuelen)) ||
		    (valuelen == sizeof(V2_PATH) - 1 && !memcmp(value, V2_PATH, valuelen));
		copy_cut(st->path, sizeof(st->path), value, valuelen);
	} else if (namelen == 12 && !memcmp(name, "content-type", 12)) {
		/* application/grpc, +proto, and parameters after ';' */
		copy_cut(st->ctype, sizeof(st->ctype), value, valuelen);
		st->grpc_type = valuelen >= 16 && !memcmp(value, "application/grpc", 16) &&
		                (valuelen == 16 || value[16] == ';' ||
		                 (valuelen >= 22 && !memcmp(value + 16, "+proto", 6) &&
		                  (valuelen == 22 || value[22] == ';')));
	}
	return 0;
}

/* The request's headers are in: what no request body can change is refused now. */
static void headers_done(gstream *st)
{
	char msg[200];
	const mp_server_config *cfg = cfg_of(st->c);
	st->headers_done = 1;
	if (st->header_bytes > cfg->max_header) {
		snprintf(msg, sizeof(msg),
		         "the request's headers are larger than --max-header (%zu)",
		         cfg->max_header);
		reply_status(st, 200, ST_RESOURCE_EXHAUSTED, msg);
	} else if (!st->post) {
		reply_status(st, 405, ST_INTERNAL, "a gRPC call's method is POST");
	} else if (!st->grpc_type) {
		snprintf(msg, sizeof(msg), "content-type '%s' is not application/grpc", st->ctype);
		reply_status(st, 415, ST_INVALID_ARGUMENT, msg);
	} else if (!st->path_ok) {
		snprintf(msg, sizeof(msg), "unknown method %s (served: " V3_PATH ", " V2_PATH ")",
		         st->path);
		reply_status(st, 200, ST_UNIMPLEMENTED, msg);
	}
}

static int on_frame_recv(nghttp2_session *s, const nghttp2_frame *f, void *ud)
{
	gconn *c = ud;
	(void)s;
	if (!c->got_frame) { /* the preface's deadline is over: idle from now on */
		c->got_frame = 1;
		if (c->nstreams == 0)
			arm(c, c->idle_since_ns +
			           (uint64_t)cfg_of(c)->grpc_idle_timeout * 1000000000u);
	}
	if (f->hd.type != NGHTTP2_HEADERS && f->hd.type != NGHTTP2_DATA)
		return 0;
	gstream *st = stream_of(c, f->hd.stream_id);
	if (!st)
		return 0;
	if (f->hd.type == NGHTTP2_HEADERS && !st->headers_done)
		headers_done(st);
	if (f->hd.flags & NGHTTP2_FLAG_END_STREAM) {
		st->remote_ended = 1;
		if (!st->replied)
			call(st);
	}
	return 0;
}

static int on_data(nghttp2_session *s, uint8_t flags, int32_t id, const uint8_t *data, size_t len,
                   void *ud)
{
	gconn *c = ud;
	gstream *st = stream_of(c, id);
	const mp_server_config *cfg = cfg_of(c);
	char msg[200];
	(void)s;
	(void)flags;
	if (!st || st->replied)
		return 0; /* answered already: the rest is read and dropped */
	size_t limit = cfg->max_body + 5, budget = cfg->max_body * 2 + (256u << 10);
	if (st->body_len + len > limit || c->buffered + len > budget) {
		snprintf(msg, sizeof(msg),
		         st->body_len + len > limit
		             ? "the request message is larger than --max-body (%zu bytes)"
		             : "the connection's unfinished calls hold more than twice --max-body "
		               "(%zu bytes)",
		         cfg->max_body);
		reply_status(st, 200, ST_RESOURCE_EXHAUSTED, msg);
		return 0;
	}
	if (mp_reserve((void **)&st->body, &st->body_cap, 1, st->body_len + len, 256) < 0) {
		reply_status(st, 200, ST_RESOURCE_EXHAUSTED, "out of memory for the request");
		return 0;
	}
	int had_prefix = st->body_len >= 5;
	memcpy(st->body + st->body_len, data, len);
	st->body_len += len;
	c->buffered += len;
	if (!had_prefix && st->body_len >= 5) { /* the message's prefix: refuse early */
		size_t mlen = (size_t)st->body[1] << 24 | (size_t)st->body[2] << 16 |
		              (size_t)st->body[3] << 8 | st->body[4];
		if (st->body[0] & 1)
			reply_status(
			    st, 200, ST_UNIMPLEMENTED,
			    "compressed messages are not supported: send them uncompressed "
			    "(grpc-encoding identity)");
		else if (st->body[0])
			reply_status(st, 200, ST_INTERNAL, "the message's flags are not 0 or 1");
		else if (mlen > cfg->max_body) {
			snprintf(msg, sizeof(msg),
			         "the request message (%zu bytes) is larger than --max-body (%zu "
			         "bytes)",
			         mlen, cfg->max_body);
			reply_status(st, 200, ST_RESOURCE_EXHAUSTED, msg);
		}
	}
	return 0;
}

/* Our END_STREAM went before the client's: the rest of its request is not wanted (RFC 9113,
 * 8.1: a complete response, then RST_STREAM NO_ERROR). */
static int on_frame_send(nghttp2_session *s, const nghttp2_frame *f, void *ud)
{
	gconn *c = ud;
	if (f->hd.type != NGHTTP2_HEADERS || !(f->hd.flags & NGHTTP2_FLAG_END_STREAM))
		return 0;
	gstream *st = stream_of(c, f->hd.stream_id);
	if (st && !st->remote_ended)
		nghttp2_submit_rst_stream(s, NGHTTP2_FLAG_NONE, st->id, NGHTTP2_NO_ERROR);
	return 0;
}

static void stream_free(gconn *c, gstream *st)
{
	if (st->prev)
		st->prev->next = st->next;
	else
		c->head = st->next;
	if (st->next)
		st->next->prev = st->prev;
	else
		c->tail = st->prev;
	c->buffered -= st->body_len;
	if (st->pending)
		st->pending->st = NULL;
	if (--c->nstreams == 0)
		c->idle_since_ns = mp_server_now_ns();
	mp_free(st->body);
	mp_free(st->out);
	mp_free(st);
}

static int on_stream_close(nghttp2_session *s, int32_t id, uint32_t error, void *ud)
{
	gconn *c = ud;
	gstream *st = stream_of(c, id);
	if (!st)
		return 0;
	nghttp2_session_set_stream_user_data(s, id, NULL);
	if (error != NGHTTP2_NO_ERROR && (!st->replied || st->pending) && !c->g->w->abandoned)
		mp_metrics_add(&c->g->w->metrics.grpc_resets, 1);
	stream_free(c, st);
	return 0;
}

/* --- connections --- */

static void conn_free(gconn *c)
{
	mp_grpc_worker *g = c->g;
	if (c->prev)
		c->prev->next = c->next;
	else
		g->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	g->nconns--;
	while (c->head) /* nghttp2 says nothing of the streams it frees */
		stream_free(c, c->head);
	nghttp2_session_del(c->session);
	if (c->bev)
		bufferevent_free(c->bev);
	if (c->timer)
		event_free(c->timer);
	if (c->counted && !g->w->abandoned)
		atomic_fetch_sub(&g->w->srv->conns_open, 1);
	atomic_fetch_sub(&g->w->conns_mine, 1);
	mp_free(c);
}

/* Hands nghttp2's output to the socket; closes the connection when neither side has anything
 * more to say, and stops reading while the client leaves its replies unread. On a plain
 * connection with nothing queued, the bytes (a reply is a few hundred) are sent at once: no
 * write event to arm and disarm, no loop iteration before the reply leaves. */
static void flush(gconn *c)
{
	struct evbuffer *out = bufferevent_get_output(c->bev);
	uint8_t direct[16384];
	size_t used = 0;
	if (c->g->w->abandoned)
		return;
	for (;;) {
		const uint8_t *data;
		ssize_t n = nghttp2_session_mem_send(c->session, &data);
		if (n < 0)
			goto fail;
		if (n == 0)
			break;
		if (!c->tls && evbuffer_get_length(out) == 0 &&
		    used + (size_t)n <= sizeof(direct)) {
			memcpy(direct + used, data, (size_t)n);
			used += (size_t)n;
			continue;
		}
		if ((used && evbuffer_add(out, direct, used) < 0) ||
		    evbuffer_add(out, data, (size_t)n) < 0)
			goto fail;
		used = 0;
	}
	if (used) {
		ssize_t sent = send(c->fd, direct, used, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (sent < 0) /* EAGAIN, or an error the bufferevent's write will report */
			sent = 0;
		if ((size_t)sent < used &&
		    evbuffer_add(out, direct + sent, used - (size_t)sent) < 0)
			goto fail;
	}
	size_t queued = evbuffer_get_length(out);
	if (!nghttp2_session_want_read(c->session) && !nghttp2_session_want_write(c->session) &&
	    queued == 0) {
		conn_free(c);
		return;
	}
	if (queued > OUT_LIMIT && !c->blocked) {
		c->blocked = 1;
		c->blocked_since_ns = mp_server_now_ns();
		bufferevent_disable(c->bev, EV_READ);
		arm(c, c->blocked_since_ns + (uint64_t)cfg_of(c)->read_timeout * 1000000000u);
	}
	return;
fail:
	conn_free(c);
}

/* A client that speaks HTTP/1 to this port learns what it is. */
static void refuse_http1(gconn *c)
{
	static const char reply[] =
	    "HTTP/1.1 505 HTTP Version Not Supported\r\nContent-Type: text/plain\r\n"
	    "Content-Length: 79\r\nConnection: close\r\n\r\n"
	    "this port serves gRPC: HTTP/2 with prior knowledge, or over TLS with ALPN h2\r\n";
	if (!c->tls && c->fd >= 0) /* best effort: the connection closes right after */
		(void)send(c->fd, reply, sizeof(reply) - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
}

static void on_read(struct bufferevent *bev, void *arg)
{
	gconn *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	size_t len = evbuffer_get_length(in);
	unsigned char *data = evbuffer_pullup(in, -1);
	c->heard = 1;
	ssize_t rv = nghttp2_session_mem_recv(c->session, data, len);
	if (c->g->w->abandoned)
		return;
	if (rv < 0) {
		if (rv == NGHTTP2_ERR_BAD_CLIENT_MAGIC)
			refuse_http1(c);
		conn_free(c);
		return;
	}
	evbuffer_drain(in, (size_t)rv);
	flush(c);
}

static void on_write(struct bufferevent *bev, void *arg)
{
	gconn *c = arg;
	(void)bev;
	if (!c->heard) /* libevent calls this once the new socket is writable: nothing yet */
		return;
	if (c->blocked && evbuffer_get_length(bufferevent_get_output(c->bev)) < OUT_LIMIT / 2) {
		c->blocked = 0;
		bufferevent_enable(c->bev, EV_READ);
	}
	flush(c);
}

static void on_event(struct bufferevent *bev, short events, void *arg)
{
	gconn *c = arg;
	(void)bev;
	if (events & BEV_EVENT_CONNECTED) /* the TLS handshake: ALPN chose h2 or nothing */
		return;
	if (events & (BEV_EVENT_EOF | BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT))
		conn_free(c);
}

/* The connection's one timer: the oldest unfinished call's deadline (--read-timeout), the
 * client's preface (the same), a blocked reply queue, or idleness (--grpc-idle-timeout). */
static void arm(gconn *c, uint64_t at_ns)
{
	uint64_t now = mp_server_now_ns(), d = at_ns > now ? at_ns - now : 0;
	struct timeval tv = {(time_t)(d / 1000000000u), (suseconds_t)(d % 1000000000u / 1000)};
	event_add(c->timer, &tv);
}

static void on_timer(int fd, short what, void *arg)
{
	gconn *c = arg;
	const mp_server_config *cfg = cfg_of(c);
	uint64_t now = mp_server_now_ns(), rt = (uint64_t)cfg->read_timeout * 1000000000u;
	uint64_t next = UINT64_MAX;
	char msg[160];
	(void)fd;
	(void)what;
	if ((c->blocked && now >= c->blocked_since_ns + rt) ||
	    (!c->got_frame && now >= c->accepted_ns + rt)) {
		mp_metrics_add(&c->g->w->metrics.conns_timed_out, 1);
		conn_free(c);
		return;
	}
	for (gstream *st = c->head; st; st = st->next) {
		uint64_t due = st->started_ns + rt * (st->replied ? 2 : 1);
		if (st->pending || st->timed_out)
			continue; /* the decision log is answering it; or reset already */
		if (due > now) {
			next = due < next ? due : next;
			continue;
		}
		st->timed_out = 1;
		if (!st->replied) {
			snprintf(msg, sizeof(msg),
			         "the request did not arrive within --read-timeout (%ds)",
			         cfg->read_timeout);
			reply_status(st, 200, ST_DEADLINE_EXCEEDED, msg);
		} else { /* its reply is stuck: the client keeps its window shut */
			nghttp2_submit_rst_stream(c->session, NGHTTP2_FLAG_NONE, st->id,
			                          NGHTTP2_CANCEL);
		}
	}
	if (next == UINT64_MAX && c->nstreams)
		next = now + rt; /* calls the log or the client holds up: look again later */
	if (!c->got_frame)
		next = c->accepted_ns + rt;
	else if (c->blocked)
		next = next < c->blocked_since_ns + rt ? next : c->blocked_since_ns + rt;
	if (c->nstreams == 0 && c->got_frame) {
		uint64_t idle = c->idle_since_ns + (uint64_t)cfg->grpc_idle_timeout * 1000000000u;
		if (c->goaway) { /* its GOAWAY could not be written within --read-timeout */
			conn_free(c);
			return;
		}
		if (now >= idle) { /* GOAWAY; closed once it is written (flush) */
			nghttp2_session_terminate_session(c->session, NGHTTP2_NO_ERROR);
			c->goaway = 1;
			next = now + rt;
		} else {
			next = idle < next ? idle : next;
		}
	}
	if (next != UINT64_MAX)
		arm(c, next);
	flush(c);
}

static void on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int len,
                      void *arg)
{
	mp_grpc_worker *g = arg;
	mp_worker *w = g->w;
	mp_server *srv = w->srv;
	const mp_server_config *cfg = srv->cfg;
	gconn *c = NULL;
	(void)l;
	(void)sa;
	(void)len;
	mp_metrics_add(&w->metrics.conns_accepted, 1);
	int open = atomic_fetch_add(&srv->conns_open, 1) + 1;
	if (open > cfg->max_connections || w->draining || !(c = mp_calloc(1, sizeof(*c))))
		goto refused;
	c->g = g;
	c->fd = (int)fd;
	c->counted = 1;
	c->tls = srv->grpc_tls != NULL;
	c->accepted_ns = c->idle_since_ns = mp_server_now_ns();
	int one = 1;
	setsockopt((int)fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (c->tls) {
		SSL *ssl = SSL_new(srv->grpc_tls);
		c->bev = ssl ? bufferevent_openssl_socket_new(w->base, fd, ssl,
		                                              BUFFEREVENT_SSL_ACCEPTING,
		                                              BEV_OPT_CLOSE_ON_FREE)
		             : NULL;
		if (ssl && !c->bev)
			SSL_free(ssl);
	} else {
		c->bev = bufferevent_socket_new(w->base, fd, BEV_OPT_CLOSE_ON_FREE);
	}
	if (c->bev)
		fd = -1; /* the bufferevent's now */
	nghttp2_settings_entry iv[] = {
	    {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, (uint32_t)cfg->grpc_max_streams},
	    {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, (uint32_t)cfg->max_header},
	    {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
	};
	if (!c->bev || !(c->timer = evtimer_new(w->base, on_timer, c)) ||
	    nghttp2_session_server_new2(&c->session, g->cbs, c, g->opt) != 0 ||
	    nghttp2_submit_settings(c->session, NGHTTP2_FLAG_NONE, iv, 3) != 0)
		goto refused;
	c->trusted = cfg->ntrusted == 0 || mp_conn_peer_in(c->bev, cfg->trusted, cfg->ntrusted);
	c->next = g->conns;
	if (g->conns)
		g->conns->prev = c;
	g->conns = c;
	g->nconns++;
	atomic_fetch_add(&w->conns_mine, 1);
	bufferevent_setcb(c->bev, on_read, on_write, on_event, c);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	/* our SETTINGS go with the first reply to the client's preface: an HTTP/1 client gets
	 * its 505 in plain text */
	arm(c, c->accepted_ns + (uint64_t)cfg->read_timeout * 1000000000u);
	return;
refused:
	/* over --max-connections (or out of memory): closed before a byte is read */
	mp_metrics_add(&w->metrics.conns_rejected, 1);
	atomic_fetch_sub(&srv->conns_open, 1);
	if (c) {
		if (c->session)
			nghttp2_session_del(c->session);
		if (c->timer)
			event_free(c->timer);
		if (c->bev)
			bufferevent_free(c->bev);
		mp_free(c);
	}
	if (fd >= 0)
		close((int)fd);
}

/* --- the worker's part --- */

/* ALPN: h2 when the client offers it; a client that offers only other protocols is refused
 * (no_application_protocol); one that offers none gets HTTP/2 anyway. */
static int alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                       const unsigned char *in, unsigned int inlen, void *arg)
{
	(void)ssl;
	(void)arg;
	for (unsigned int i = 0; i < inlen; i += 1u + in[i]) {
		if (in[i] == 2 && i + 2 < inlen && in[i + 1] == 'h' && in[i + 2] == '2') {
			*out = in + i + 1;
			*outlen = 2;
			return SSL_TLSEXT_ERR_OK;
		}
	}
	return SSL_TLSEXT_ERR_ALERT_FATAL;
}

SSL_CTX *mp_grpc_tls_ctx(const mp_server_config *cfg, char *err, size_t errlen)
{
	SSL_CTX *ctx = mp_tls_ctx_new(cfg->tls_cert, cfg->tls_key, cfg->client_ca, err, errlen);
	if (ctx)
		SSL_CTX_set_alpn_select_cb(ctx, alpn_select, NULL);
	return ctx;
}

int mp_grpc_worker_start(mp_worker *w, char *err, size_t errlen)
{
	mp_grpc_worker *g = mp_calloc(1, sizeof(*g));
	int fd = -1;
	if (!g)
		goto oom;
	w->grpc = g;
	g->w = w;
	pthread_mutex_init(&g->done_lock, NULL);
	g->locked = 1;
	if (!(g->arena = mp_extauthz_arena_new()) || nghttp2_session_callbacks_new(&g->cbs) != 0 ||
	    nghttp2_option_new(&g->opt) != 0 ||
	    !(g->done_ev = event_new(w->base, -1, 0, on_logged, g)))
		goto oom;
	nghttp2_session_callbacks_set_on_begin_headers_callback(g->cbs, on_begin_headers);
	nghttp2_session_callbacks_set_on_header_callback(g->cbs, on_header);
	nghttp2_session_callbacks_set_on_frame_recv_callback(g->cbs, on_frame_recv);
	nghttp2_session_callbacks_set_on_data_chunk_recv_callback(g->cbs, on_data);
	nghttp2_session_callbacks_set_on_frame_send_callback(g->cbs, on_frame_send);
	nghttp2_session_callbacks_set_on_stream_close_callback(g->cbs, on_stream_close);
	if ((fd = dup(w->srv->grpc_fd)) < 0 ||
	    !(g->listener = evconnlistener_new(
	          w->base, on_accept, g, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, -1, fd))) {
		if (fd >= 0)
			close(fd);
		snprintf(err, errlen, "cannot accept on the gRPC listening socket");
		return -1;
	}
	return 0;
oom:
	snprintf(err, errlen, "cannot make the gRPC listener (out of memory)");
	return -1;
}

void mp_grpc_worker_stop(mp_worker *w)
{
	mp_grpc_worker *g = w->grpc;
	if (!g)
		return;
	if (g->listener)
		evconnlistener_free(g->listener);
	g->listener = NULL;
	for (gconn *c = g->conns, *next; c; c = next) {
		next = c->next;
		nghttp2_submit_goaway(c->session, NGHTTP2_FLAG_NONE,
		                      nghttp2_session_get_last_proc_stream_id(c->session),
		                      NGHTTP2_NO_ERROR, NULL, 0);
		flush(c);
	}
}

size_t mp_grpc_close_idle(mp_worker *w)
{
	mp_grpc_worker *g = w->grpc;
	if (!g)
		return 0;
	for (gconn *c = g->conns, *next; c; c = next) {
		next = c->next;
		if (c->nstreams == 0 && evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
			conn_free(c);
	}
	return g->nconns;
}

void mp_grpc_worker_abandon(mp_worker *w)
{
	mp_grpc_worker *g = w->grpc;
	if (!g)
		return;
	for (gconn *c = g->conns; c; c = c->next)
		shutdown(c->fd, SHUT_RDWR);
	atomic_fetch_sub(&w->srv->conns_open, (int)g->nconns);
}

void mp_grpc_worker_free(mp_worker *w)
{
	mp_grpc_worker *g = w->grpc;
	if (!g)
		return;
	if (g->listener)
		evconnlistener_free(g->listener);
	while (g->conns)
		conn_free(g->conns);
	if (g->locked) {
		on_logged(-1, 0, g); /* the log is finished: every pending came back; no stream */
		pthread_mutex_destroy(&g->done_lock);
	}
	if (g->done_ev)
		event_free(g->done_ev);
	mp_extauthz_arena_free(g->arena);
	if (g->cbs)
		nghttp2_session_callbacks_del(g->cbs);
	if (g->opt)
		nghttp2_option_del(g->opt);
	mp_free(g);
	w->grpc = NULL;
}
