/* api.c: the handlers of the decision API: /v1/decide, /v1/check, /v1/nginx/check, OPA's
 * /v1/data and POST /, /health, /metrics, /v1/reload. The dispatcher (http.c) has already checked
 * the route, the method, the token and parsed the JSON body (OPA's routes read their own: gzip,
 * ?input=). Every decision, from any endpoint, goes through decide_one (the decision id, its log
 * record, the watchdog's guard) and answer (the reply: at once, or in no-drop mode once the
 * record is written, or failed closed). Reference: docs/server.md. */
#include "api.h"
#include "alloc.h"
#include "conn.h"
#include "decide.h"
#include "decision_json.h"
#include "envoyinput.h"
#include "jsonparse.h"
#include "loginput.h"
#include "opa.h"
#include "proxyreq.h"
#include "reload.h"
#include "shadow.h"
#include "tls.h"
#include "worker.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>

typedef mp_api_decided decided;

enum { DECIDED = MP_API_DECIDED, NO_EVALUATOR = MP_API_NO_EVALUATOR, ABANDONED = MP_API_ABANDONED };

/* A random (version 4) UUID, as mp_uuid makes, from the worker's pool of random bytes. */
static void new_id(mp_worker *w, char out[37])
{
	static const char hex[] = "0123456789abcdef";
	if (w->rand_left < 16) {
		if (RAND_bytes(w->rand_pool, sizeof(w->rand_pool)) != 1) {
			mp_uuid(out); /* let the engine's fallback decide */
			return;
		}
		w->rand_left = sizeof(w->rand_pool);
	}
	unsigned char *b = w->rand_pool + (sizeof(w->rand_pool) - w->rand_left);
	w->rand_left -= 16;
	b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
	b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
	char *o = out;
	for (int i = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			*o++ = '-';
		*o++ = hex[b[i] >> 4];
		*o++ = hex[b[i] & 15];
	}
	*o = '\0';
	memset(b, 0, 16); /* an id is never drawn twice */
}

/* The decision's log record: {"decision", "endpoint", "input", "latency_ns"}, written in the
 * trail's own form (keys sorted, ASCII) straight into d->record, the input too (masked on the
 * way, loginput.h): no jansson tree is built or dumped. in: the input (borrowed), or NULL and
 * write_input(arg) writes it. */
static void encode_record(decided *d, json_t *in, mp_api_input_writer write_input, const void *arg,
                          int endpoint, uint64_t ns)
{
	static const char *const names[MP_EP_COUNT] = {
	    "/v1/decide", "/v1/check", "/v1/data", "/v1/nginx/check",
	    "/envoy.service.auth.v3.Authorization/Check"};
	mp_jsonbuf b;
	/* a buffer big enough for most records, kept by this thread from the last record it wrote
	 */
	mp_jsonbuf_init_heap(&b, mp_declog_buffer(), MP_DECLOG_BUFFER);
	b.ascii = 1;
	mp_jsonbuf_raw(&b, "{\"decision\":", 12);
	mp_decision_json_write(&b, d->engine, &d->dec, d->id, MP_DECISION_JSON_SORTED);
	mp_jsonbuf_raw(&b, ",\"endpoint\":", 12);
	mp_jsonbuf_string(&b, names[endpoint]);
	mp_jsonbuf_raw(&b, ",\"input\":", 9);
	if (in || !write_input)
		mp_loginput_json(&b, in, d->engine->bundle);
	else
		write_input(&b, arg, d->engine->bundle);
	MP_JSONBUF_LIT(&b, ",\"latency_ns\":");
	mp_jsonbuf_uint(&b, ns);
	if (d->refused) /* the front door's refusal, not a decision: a replay leaves it out */
		mp_jsonbuf_raw(&b, ",\"refused\":true", 15);
	mp_shadow_record(&b, &d->shadow, d->id); /* keys sorted: shadow is last */
	mp_jsonbuf_raw(&b, "}", 1);
	if (b.oom || !b.heap) {
		mp_jsonbuf_free(&b);
		d->record_failed = 1; /* submitted as NULL: refused, counted as an error */
		return;
	}
	d->record = b.p;
	d->record_len = b.len;
	d->record_cap = b.cap;
}

/* The fd of the request's connection, for the watchdog's fail-closed reply. */
static int request_fd(struct evhttp_request *req)
{
	struct evhttp_connection *evcon = evhttp_request_get_connection(req);
	struct bufferevent *bev = evcon ? evhttp_connection_get_bufferevent(evcon) : NULL;
	return bev ? (int)bufferevent_getfd(bev) : -1;
}

int mp_api_decide_one(mp_worker *w, int fd, const mp_request *r, const mp_decision *fixed,
                      json_t *input, mp_api_input_writer write_input, const void *arg, int endpoint,
                      json_t *explain, mp_api_decided *d)
{
	mp_evaluator *ev = mp_worker_evaluator(w);
	d->record = NULL;
	d->record_len = d->record_cap = 0;
	d->record_failed = 0;
	d->shadow.state = MP_SHADOW_NONE;
	d->refused = fixed != NULL;
	if (!ev)
		return NO_EVALUATOR;
	uint64_t t0 = mp_server_now_ns();
	if (fixed) {
		d->dec = *fixed;
	} else {
		if (mp_worker_guard_enter(w, fd, endpoint) < 0)
			return ABANDONED;
		mp_worker_publish_sandbox(w, ev);
		mp_decide(ev, r, &d->dec, explain);
		mp_shadow_decide(w, r, mp_evaluator_engine(ev), &d->dec, &d->shadow);
		if (mp_worker_guard_leave(w) < 0)
			return ABANDONED;
	}
	uint64_t t1 = mp_server_now_ns();
	mp_evaluator_stats *st = mp_evaluator_stats_of(ev);
	if (st->when_calls != w->when_calls_seen || st->when_errors != w->when_errors_seen) {
		mp_metrics_add(&w->metrics.when_calls, st->when_calls - w->when_calls_seen);
		mp_metrics_add(&w->metrics.when_errors, st->when_errors - w->when_errors_seen);
		w->when_calls_seen = st->when_calls;
		w->when_errors_seen = st->when_errors;
	}
	d->engine = mp_evaluator_engine(ev);
	d->eval_ns = t1 - t0;
	new_id(w, d->id);
	if (w->srv->log)
		encode_record(d, input, write_input, arg, endpoint, t1 - t0);
	return DECIDED;
}

/* mp_api_decide_one for a request of the HTTP API. */
static int decide_one(mp_http_ctx *x, const mp_request *r, const mp_decision *fixed, json_t *input,
                      mp_api_input_writer write_input, const void *arg, int endpoint,
                      json_t *explain, decided *d)
{
	return mp_api_decide_one(x->w, request_fd(x->req), r, fixed, input, write_input, arg,
	                         endpoint, explain, d);
}

/* The reply to a decision that was not decided or not logged: never an allow, whatever the
 * client reads (the status, `allow`, `result`; OPA's clients read `code` and `message`). The
 * proxies' endpoints say 403, which every
 * proxy takes as a denial (Envoy even with failure_mode_allow; nginx turns a 5xx into a 500);
 * the others 503, which says it was not a decision. */
int mp_api_fail_closed_body(int endpoint, const char *why, char *out, size_t outlen, int *code)
{
	mp_jsonbuf b;
	mp_jsonbuf_init(&b, out, outlen);
	if (endpoint == MP_EP_DATA) /* OPA's error, and a result that is no allow */
		MP_JSONBUF_LIT(&b, "{\"code\":\"" MP_OPA_INTERNAL "\",\"message\":");
	else
		MP_JSONBUF_LIT(&b, "{\"allow\":false,\"error\":");
	mp_jsonbuf_string(&b, why);
	if (endpoint == MP_EP_DATA)
		MP_JSONBUF_LIT(&b, ",\"result\":false");
	mp_jsonbuf_raw(&b, "}", 1);
	*code = endpoint == MP_EP_CHECK || endpoint == MP_EP_NGINX || endpoint == MP_EP_GRPC ? 403
	                                                                                     : 503;
	int n = b.heap || b.oom ? -1 : (int)b.len;
	mp_jsonbuf_free(&b);
	return n;
}

static void reply_fail_closed(mp_worker *w, struct evhttp_request *req, int endpoint,
                              const char *why)
{
	char body[512];
	int code;
	struct evbuffer *out = evhttp_request_get_output_buffer(req);
	evbuffer_drain(out, evbuffer_get_length(out));
	evhttp_remove_header(evhttp_request_get_output_headers(req), "x-meshpol-decision-id");
	int n = mp_api_fail_closed_body(endpoint, why, body, sizeof(body), &code);
	if (n < 0)
		n = mp_api_fail_closed_body(endpoint, "decision log unavailable", body,
		                            sizeof(body), &code);
	mp_metrics_add(&w->metrics.failed_closed, 1);
	if (endpoint == MP_EP_NGINX) /* nginx passes no body on: the reason goes in a header */
		mp_http_set_error_header(req, why);
	mp_http_reply_bytes(w, req, code, body, (size_t)n);
}

/* The worker whose commit_ev runs on this thread: the replies its own write told are sent
 * right after it, without done_ev. */
static _Thread_local mp_worker *committing;

/* A pending reply's record was written or refused (by the thread that wrote it): hand it to its
 * worker. */
static void pending_done(mp_declog_waiter *wt, int ok, const char *why)
{
	mp_pending *p = (mp_pending *)wt;
	mp_worker *w = p->w;
	p->ok = ok;
	if (!ok)
		snprintf(p->why, sizeof(p->why), "%s", why ? why : "decision log unavailable");
	pthread_mutex_lock(&w->done_lock);
	int first = w->done == NULL;
	p->next = w->done;
	w->done = p;
	pthread_mutex_unlock(&w->done_lock);
	if (first && committing != w)
		event_active(w->done_ev, EV_READ, 0);
}

static void send_done(mp_worker *w);

/* Writes the records the worker kept (their waiters told before it returns). */
static void write_turn(mp_worker *w)
{
	size_t n = w->nlog_records;
	w->nlog_records = 0;
	mp_declog_write_records(w->srv->log, w->log_records, n);
}

void mp_api_commit_logged(int fd, short what, void *arg)
{
	mp_worker *w = arg;
	(void)fd;
	(void)what;
	w->commit_due = 0;
	committing = w;
	write_turn(w);
	committing = NULL;
	send_done(w);
}

void mp_api_send_logged(int fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	send_done(arg);
}

/* Sends the replies on the done list, oldest first. */
static void send_done(mp_worker *w)
{
	pthread_mutex_lock(&w->done_lock);
	mp_pending *p = w->done, *fifo = NULL;
	w->done = NULL;
	pthread_mutex_unlock(&w->done_lock);
	while (p) { /* oldest first */
		mp_pending *next = p->next;
		p->next = fifo;
		fifo = p;
		p = next;
	}
	for (p = fifo; p; p = fifo) {
		fifo = p->next;
		if (p->req) {
			if (p->conn)
				p->conn->pending = NULL;
			if (p->ok) {
				mp_http_reply_buffer(w, p->req, p->code, "application/json", NULL);
				mp_metrics_decision(&w->metrics, p->endpoint, p->effect,
				                    mp_server_now_ns() - p->t0);
			} else {
				reply_fail_closed(w, p->req, p->endpoint, p->why);
			}
			if (p->conn) {
				mp_conn_replied(p->conn);
				mp_conn_flush(p->req); /* last: it may free req */
			}
		}
		mp_free(p);
	}
}

void mp_api_drop_logged(mp_worker *w)
{
	pthread_mutex_lock(&w->done_lock);
	mp_pending *p = w->done;
	w->done = NULL;
	pthread_mutex_unlock(&w->done_lock);
	while (p) {
		mp_pending *next = p->next;
		mp_free(p);
		p = next;
	}
}

void mp_api_detach_pending(mp_pending *p)
{
	p->conn = NULL;
	p->req = NULL; /* evhttp frees it with the connection */
}

void mp_api_submit_logged(mp_worker *w, mp_api_decided *d, mp_declog_waiter *wt)
{
	/* written with the turn's other records (commit_ev), or now when the turn has kept
	 * many: a turn on a busy worker handles one request per ready connection */
	w->log_records[w->nlog_records++] =
	    (mp_declog_record){"decision", d->record, d->record_len, d->record_cap, wt};
	d->record = NULL;
	if (w->nlog_records == MP_WORKER_LOG_RECORDS)
		write_turn(w); /* the replies follow through their done events */
	if (!w->commit_due) {
		w->commit_due = 1;
		event_active(w->commit_ev, EV_READ, 0);
	}
}

void mp_api_fail_kept(mp_worker *w)
{
	for (size_t i = 0; i < w->nlog_records; i++) {
		mp_declog_record *r = &w->log_records[i];
		mp_free(r->text);
		if (r->wt)
			r->wt->done(r->wt, 0,
			            "decision log unavailable: the server is shutting down");
	}
	w->nlog_records = 0;
}

/* Sends the decision's reply, whose body is in body (len bytes) and whose headers are set:
 * without a log or in drop mode at once (the record queued or dropped); in no-drop mode once its
 * record is written (x->deferred), or failed closed when it cannot be. */
static void answer(mp_http_ctx *x, int code, int endpoint, decided *d, const char *body, size_t len)
{
	mp_worker *w = x->w;
	mp_declog *log = w->srv->log;
	if (!log) {
		mp_http_reply_bytes(w, x->req, code, body, len);
		mp_metrics_decision(&w->metrics, endpoint, d->dec.effect,
		                    mp_server_now_ns() - x->t0);
		return;
	}
	if (w->srv->cfg->log_drop) {
		mp_declog_submit_buffer(log, "decision", d->record, d->record_len, d->record_cap,
		                        NULL, NULL, 0);
		d->record = NULL;
		mp_http_reply_bytes(w, x->req, code, body, len);
		mp_metrics_decision(&w->metrics, endpoint, d->dec.effect,
		                    mp_server_now_ns() - x->t0);
		return;
	}
	struct evhttp_connection *evcon = evhttp_request_get_connection(x->req);
	struct bufferevent *bev = evcon ? evhttp_connection_get_bufferevent(evcon) : NULL;
	mp_pending *p = bev ? mp_calloc(1, sizeof(*p)) : NULL;
	if (!p) {
		mp_free(d->record);
		d->record = NULL;
		reply_fail_closed(w, x->req, endpoint,
		                  "decision log unavailable: cannot wait for the record (out of "
		                  "memory)");
		return;
	}
	*p = (mp_pending){.waiter.done = pending_done,
	                  .w = w,
	                  .conn = x->conn,
	                  .req = x->req,
	                  .code = code,
	                  .endpoint = endpoint,
	                  .effect = d->dec.effect,
	                  .t0 = x->t0};
	evbuffer_add(evhttp_request_get_output_buffer(x->req), body, len);
	/* stop reading until the reply is sent: nothing the client sends can reach evhttp's
	 * parser or free the connection under the pending reply (as reload.c does) */
	bufferevent_disable(bev, EV_READ);
	if (x->conn)
		x->conn->pending = p;
	x->deferred = 1;
	mp_api_submit_logged(w, d, &p->waiter); /* p is the log's now: touch nothing of it */
}

/* Appends the decision output object, written by the engine's one encoder: the bytes `meshpol
 * decide` prints in compact form. */
static void put_decision(mp_jsonbuf *b, const decided *d)
{
	mp_decision_json_write(b, d->engine, &d->dec, d->id, MP_DECISION_JSON_OUTPUT);
}

/* Replies with the decision (as /v1/decide and /v1/check answer it) and counts it. */
static void reply_decision(mp_http_ctx *x, int code, int endpoint, decided *d)
{
	char storage[4096];
	mp_jsonbuf b;
	mp_jsonbuf_init(&b, storage, sizeof(storage));
	put_decision(&b, d);
	if (b.oom) {
		mp_free(d->record); /* not answered: not logged */
		mp_http_error(x->w, x->req, 500, "cannot write the reply (out of memory)");
	} else {
		answer(x, code, endpoint, d, b.p, b.len);
	}
	mp_jsonbuf_free(&b);
}

/* decide_one failed: answers (or, abandoned, leaves the request to the watchdog's reply). */
static void not_decided(mp_http_ctx *x, int rc)
{
	if (rc == NO_EVALUATOR)
		mp_http_error(x->w, x->req, 500, "no evaluator (out of memory)");
	else
		x->abandoned = 1;
}

/* The TLS peer's URI SAN, looked up once per connection (NULL without mTLS). */
static const char *peer_uri(mp_http_ctx *x)
{
	mp_server *srv = x->w->srv;
	if (!srv->tls || !srv->cfg->client_ca || !x->conn)
		return NULL;
	if (!x->conn->peer_checked) {
		x->conn->peer_uri = mp_tls_peer_uri(x->conn->bev);
		x->conn->peer_checked = 1;
	}
	return x->conn->peer_uri;
}

/* The verified TLS identity goes to context.peer; a client never sets context.peer itself. */
static void set_peer_context(mp_http_ctx *x, json_t *input)
{
	const char *uri = peer_uri(x);
	json_t *ctx = json_object_get(input, "context");
	if (json_is_object(ctx))
		json_object_del(ctx, "peer");
	if (!uri || !json_is_object(input))
		return;
	if (!ctx || json_is_null(ctx)) {
		ctx = json_object();
		json_object_set_new(input, "context", ctx);
	}
	if (json_is_object(ctx))
		json_object_set_new(ctx, "peer", json_pack("{s:s}", "principal", uri));
}

/* The log record's input of a body read without its tree: written from the parser's document,
 * which holds r's strings too. Nothing between mp_http_body_input and the record parses with
 * this thread's parser (mp_decide, the shadow bundle and Lua never do; only the body readers of
 * http.c and the OPA routes here do), and if something ever did, the record is refused, never
 * written from another text (loginput.h). */
static void parsed_input(mp_jsonbuf *b, const void *arg, const mp_bundle *mask)
{
	(void)arg;
	mp_loginput_parsed(b, mask);
}

void mp_api_decide(mp_http_ctx *x)
{
	mp_request r;
	mp_header hbuf[MP_REQUEST_MAX_HEADERS];
	char err[512];
	decided d;
	/* without the tree unless a TLS peer goes into its context: the log record's input is
	 * written from simdjson's document, as the tree's path writes it (parsed_input) */
	int parsed = !peer_uri(x) && mp_http_body_input(x, &r, hbuf);
	if (parsed) {
		if (json_is_object(r.context)) /* a client never sets context.peer itself */
			json_object_del(r.context, "peer");
	} else {
		if (mp_http_body_json(x) < 0)
			return;
		set_peer_context(x, x->body);
		if (mp_request_from_json(x->body, &r, hbuf, err, sizeof(err)) < 0) {
			mp_http_bad_field(x->w, x->req, err);
			return;
		}
	}
	int rc = decide_one(x, &r, NULL, x->body, parsed ? parsed_input : NULL, NULL, MP_EP_DECIDE,
	                    NULL, &d);
	if (rc != DECIDED) {
		not_decided(x, rc);
		return;
	}
	reply_decision(x, 200, MP_EP_DECIDE, &d);
}

static void proxy_input(mp_jsonbuf *b, const void *p, const mp_bundle *mask)
{
	mp_loginput_proxy(b, p, mask);
}

/* A request a front door refused to decide (proxyreq.h's `refused`): decided as a denial that
 * says why, and logged. */
static void refused_decision(mp_decision *fixed, const char *why)
{
	memset(fixed, 0, sizeof(*fixed));
	fixed->effect = MP_EFFECT_FORBIDDEN;
	fixed->src_svc = fixed->dst_svc = fixed->dst_ext = MP_NONE;
	fixed->reasons[0] = (mp_reason){MP_NONE, MP_REASON_DENY, why, {0}};
	fixed->nreasons = 1;
}

/* May this peer forward identities (--trusted-proxy)? Looked up once per connection. */
static int peer_trusted(mp_http_ctx *x)
{
	const mp_server_config *cfg = x->w->srv->cfg;
	if (cfg->ntrusted == 0)
		return 1;
	if (x->conn) {
		if (!x->conn->trust_checked) {
			x->conn->trusted =
			    mp_conn_peer_in(x->conn->bev, cfg->trusted, cfg->ntrusted);
			x->conn->trust_checked = 1;
		}
		return x->conn->trusted;
	}
	struct evhttp_connection *evcon = evhttp_request_get_connection(x->req);
	struct bufferevent *bev = evcon ? evhttp_connection_get_bufferevent(evcon) : NULL;
	return bev && mp_conn_peer_in(bev, cfg->trusted, cfg->ntrusted);
}

/* A proxy's reply body: {"allow", "decision_id"}, or with --deny-body full a denial's whole
 * decision. Reasons name policies, rules, files and hashes: a proxy hands a denial's body to
 * the client (Envoy does), and the decision log has them. */
static void reply_to_proxy(mp_http_ctx *x, int endpoint, decided *d)
{
	if (!d->dec.allow && x->w->srv->cfg->deny_body_full) {
		reply_decision(x, 403, endpoint, d);
		return;
	}
	char body[96];
	int n = snprintf(body, sizeof(body), "{\"allow\":%s,\"decision_id\":\"%s\"}",
	                 d->dec.allow ? "true" : "false", d->id);
	answer(x, d->dec.allow ? 200 : 403, endpoint, d, body, (size_t)n);
}

/* Nothing can be decided: on Envoy's door the status that says why (400 naming the field for
 * what the proxy sent, 500 for a fault; Envoy denies either), on nginx's 403 with the reason in
 * x-meshpol-error (nginx passes no body on, and turns anything but 2xx, 401 and 403 into a 500
 * for its client). */
static void cannot_decide(mp_http_ctx *x, int door, int code, const char *why)
{
	if (door == MP_DOOR_NGINX)
		mp_http_cannot_decide(x->w, x->req, why);
	else if (code == 400)
		mp_http_bad_field(x->w, x->req, why);
	else
		mp_http_error(x->w, x->req, code, "%s", why);
}

/* A proxy's question through one of the front doors (proxyreq.h): read, decide, reply. */
static void proxy_check(mp_http_ctx *x, int door)
{
	static const char *const method_names[] = {"GET",     "POST",  "HEAD",    "PUT",  "DELETE",
	                                           "OPTIONS", "TRACE", "CONNECT", "PATCH"};
	mp_worker *w = x->w;
	const mp_server_config *cfg = w->srv->cfg;
	int endpoint = door == MP_DOOR_NGINX ? MP_EP_NGINX : MP_EP_CHECK;
	mp_proxyreq p;
	char err[512];
	decided d;
	int cmd = (int)evhttp_request_get_command(x->req), bit = 0;
	while (bit < 9 && !(cmd & (1 << bit)))
		bit++;
	/* Envoy's path: what follows /v1/check in the request target (an absolute-form target:
	 * in its path), query included */
	const char *target = evhttp_request_get_uri(x->req), *path = NULL;
	char root[2048];
	if (door == MP_DOOR_ENVOY) {
		path = target[0] == '/' ? target + strlen("/v1/check") : x->rest;
		if (*path != '/') { /* "" or "?query" */
			snprintf(root, sizeof(root), "/%s", path);
			path = root;
		}
	}
	mp_engine *e = mp_worker_evaluator(w) ? w->engine : NULL;
	if (!e) {
		cannot_decide(x, door, 500, "no evaluator (out of memory)");
		return;
	}
	mp_proxyreq_in in = {
	    .door = door,
	    .headers = evhttp_request_get_input_headers(x->req),
	    .method = bit < 9 ? method_names[bit] : "GET",
	    .path = path,
	    .destination_header = cfg->destination_header,
	    .peer_uri = door == MP_DOOR_ENVOY ? peer_uri(x) : NULL,
	    .peer_trusted = peer_trusted(x),
	    .escaped_slashes = cfg->escaped_slashes,
	    .path_params = cfg->path_params,
	    .model = e->model,
	};
	if (mp_proxyreq_read(&p, &in, err, sizeof(err)) < 0) {
		cannot_decide(x, door, 400, err);
		return;
	}
	mp_decision fixed;
	if (p.refused)
		refused_decision(&fixed, p.refused);
	int rc = decide_one(x, &p.r, p.refused ? &fixed : NULL, NULL, proxy_input, &p, endpoint,
	                    NULL, &d);
	if (rc == NO_EVALUATOR) {
		cannot_decide(x, door, 500, "no evaluator (out of memory)");
		return;
	}
	if (rc != DECIDED) {
		not_decided(x, rc);
		return;
	}
	evhttp_add_header(evhttp_request_get_output_headers(x->req), "x-meshpol-decision-id", d.id);
	reply_to_proxy(x, endpoint, &d);
}

void mp_api_check(mp_http_ctx *x)
{
	proxy_check(x, MP_DOOR_ENVOY);
}

void mp_api_nginx_check(mp_http_ctx *x)
{
	proxy_check(x, MP_DOOR_NGINX);
}

/* --- OPA's REST API: the Data API and the default decision (docs/server.md, "OPA's REST API").
 * Every error here is OPA's {"code", "message"} (mp_http_opa_error). --- */

/* A question in OPA's shape: a decision input, or OPA-Envoy's input read through Envoy's door. */
typedef struct {
	mp_request r;
	mp_header hbuf[MP_REQUEST_MAX_HEADERS];
	mp_envoyinput env; /* env.headers: owned, opa_done frees them */
	int envoy;
	const mp_request *req; /* &r or &env.p.r */
} opa_question;

/* The Content-Encoding of a request: 0 none or identity, 1 gzip; -1 anything else (a coding
 * meshpol does not decode, or gzip twice), with the offending value in *bad. */
static int content_encoding(struct evkeyvalq *h, const char **bad)
{
	struct evkeyval *kv;
	int gzip = 0;
	TAILQ_FOREACH(kv, h, next)
	{
		if (strcasecmp(kv->key, "Content-Encoding") != 0)
			continue;
		for (const char *s = kv->value; *s;) {
			s += strspn(s, " \t,");
			size_t n = strcspn(s, " \t,");
			if (n == 0)
				break;
			if ((n == 4 && !strncasecmp(s, "gzip", 4)) ||
			    (n == 6 && !strncasecmp(s, "x-gzip", 6)))
				gzip++;
			else if (!(n == 8 && !strncasecmp(s, "identity", 8)))
				gzip = 2;
			s += n;
		}
		*bad = kv->value;
	}
	return gzip > 1 ? -1 : gzip;
}

/* Does a Content-Type name YAML (application/yaml, application/x-yaml, text/yaml)? */
static int yaml_type(const char *ct)
{
	for (; ct && *ct; ct++)
		if (!strncasecmp(ct, "yaml", 4))
			return 1;
	return 0;
}

/* The body of an OPA request, decompressed as its Content-Encoding says (never beyond
 * --max-body) and parsed: *out NULL for an empty body. 0, or -1 when it answered. */
static int opa_read_body(mp_http_ctx *x, json_t **out)
{
	struct evkeyvalq *h = evhttp_request_get_input_headers(x->req);
	struct evbuffer *in = evhttp_request_get_input_buffer(x->req);
	size_t len = evbuffer_get_length(in), max = x->w->srv->cfg->max_body;
	const char *ct = evhttp_find_header(h, "Content-Type"), *bad = NULL;
	const char *text = len ? (const char *)evbuffer_pullup(in, -1) : "";
	char *plain = NULL, err[200], q[100];
	json_error_t je;
	int gzip = content_encoding(h, &bad), rc = -1;
	*out = NULL;
	if (yaml_type(ct)) {
		mp_http_opa_error(x->w, x->req, 415,
		                  "Content-Type: YAML bodies are not accepted; "
		                  "send JSON");
		goto done;
	}
	if (gzip < 0) {
		mp_http_opa_error(
		    x->w, x->req, 415,
		    "Content-Encoding: only gzip (once) or identity is accepted, not %s",
		    mp_diag_quote(bad, strlen(bad), q, 64));
		goto done;
	}
	if (gzip && len) {
		size_t plen;
		switch (mp_opa_gunzip((const unsigned char *)text, len, max, &plain, &plen, err,
		                      sizeof(err))) {
		case MP_OPA_GZ_OK:
			text = plain;
			len = plen;
			break;
		case MP_OPA_GZ_TOO_LARGE:
			mp_http_opa_error(
			    x->w, x->req, 400,
			    "could not decompress the body: gzip payload too large: more "
			    "than %zu bytes (--max-body) once decompressed",
			    max);
			goto done;
		case MP_OPA_GZ_BAD:
			mp_http_opa_error(x->w, x->req, 400, "could not decompress the body: %s",
			                  mp_diag_quote(err, strlen(err), q, 80));
			goto done;
		default:
			mp_http_opa_error(x->w, x->req, 500, "could not decompress the body: %s",
			                  err);
			goto done;
		}
	}
	size_t ws = 0; /* the body's leading white space, within len: the buffer has no NUL */
	while (ws < len &&
	       (text[ws] == ' ' || text[ws] == '\t' || text[ws] == '\r' || text[ws] == '\n'))
		ws++;
	if (ws < len) { /* only white space: no body, as OPA reads it */
		*out = mp_json_parse(text, len, JSON_REJECT_DUPLICATES, &je);
		if (!*out) {
			mp_http_opa_error(
			    x->w, x->req, 400, "body contains malformed input document: %d:%d: %s",
			    je.line, je.column, mp_diag_quote(je.text, strlen(je.text), q, 80));
			goto done;
		}
	}
	rc = 0;
done:
	mp_free(plain);
	return rc;
}

/* Reads input (borrowed) into q: OPA-Envoy's shape through Envoy's door, else a decision input
 * (with context.peer from mTLS, as /v1/decide). 0, or -1 when it answered (400 naming the field
 * from input). */
static int opa_read_question(mp_http_ctx *x, json_t *input, opa_question *q)
{
	const mp_server_config *cfg = x->w->srv->cfg;
	char err[512];
	q->envoy = mp_envoyinput_is(input);
	if (q->envoy) {
		mp_engine *e = mp_worker_evaluator(x->w) ? x->w->engine : NULL;
		mp_proxyreq_in door = {.destination_header = cfg->destination_header,
		                       .escaped_slashes = cfg->escaped_slashes,
		                       .path_params = cfg->path_params,
		                       .model = e ? e->model : NULL};
		if (!e) {
			mp_http_opa_error(x->w, x->req, 500, "no evaluator (out of memory)");
			return -1;
		}
		if (mp_envoyinput_read(&q->env, input, &door, err, sizeof(err)) < 0) {
			mp_http_opa_error(x->w, x->req, 400, "%s", err);
			return -1;
		}
		q->req = &q->env.p.r;
		return 0;
	}
	if (!json_is_object(input)) {
		mp_http_opa_error(x->w, x->req, 400, "input: must be a JSON object");
		return -1;
	}
	set_peer_context(x, input);
	if (mp_request_from_json(input, &q->r, q->hbuf, err, sizeof(err)) < 0) {
		mp_http_opa_error(x->w, x->req, 400, "input.%s", err);
		return -1;
	}
	q->req = &q->r;
	return 0;
}

/* Decides q (input: the decision input, logged as it is; OPA-Envoy's is logged as Envoy's door
 * read it). DECIDED, or -1 when it answered (or left the request to the watchdog). */
static int opa_decide(mp_http_ctx *x, opa_question *q, json_t *input, json_t *explain, decided *d)
{
	mp_decision fixed;
	const char *refused = q->envoy ? q->env.p.refused : NULL;
	if (refused)
		refused_decision(&fixed, refused);
	int rc = decide_one(x, q->req, refused ? &fixed : NULL, q->envoy ? NULL : input,
	                    proxy_input, &q->env.p, MP_EP_DATA, explain, d);
	if (rc == NO_EVALUATOR)
		mp_http_opa_error(x->w, x->req, 500, "no evaluator (out of memory)");
	else if (rc != DECIDED)
		x->abandoned = 1;
	return rc == DECIDED ? DECIDED : -1;
}

/* Sends an OPA reply (len bytes of compact JSON in b), indented with ?pretty: as a decision's
 * (answer) when d is set, else at once. */
static void opa_send(mp_http_ctx *x, int pretty, decided *d, mp_jsonbuf *b)
{
	size_t plen = b->len;
	char *pbody = pretty && !b->oom ? mp_opa_pretty(b->p, b->len, &plen) : NULL;
	if (b->oom || (pretty && !pbody)) {
		if (d)
			mp_free(d->record); /* not answered: not logged */
		mp_http_opa_error(x->w, x->req, 500, "cannot write the reply (out of memory)");
	} else if (d) {
		answer(x, 200, MP_EP_DATA, d, pbody ? pbody : b->p, plen);
	} else {
		mp_http_reply_bytes(x->w, x->req, 200, pbody ? pbody : b->p, plen);
	}
	free(pbody);
}

/* Starts a member of a reply object: a comma unless it is the first. */
static void member_sep(mp_jsonbuf *b)
{
	if (b->len && b->p[b->len - 1] != '{')
		MP_JSONBUF_LIT(b, ",");
}

/* The document asked for, of decision d, as ,"result":...; nothing when it is undefined. */
static int put_result(mp_jsonbuf *b, int doc, const mp_opa_path *path, const decided *d)
{
	if (doc == MP_OPA_DOC_ALLOW) {
		MP_JSONBUF_LIT(b, ",\"result\":");
		if (d->dec.allow)
			MP_JSONBUF_LIT(b, "true");
		else
			MP_JSONBUF_LIT(b, "false");
		return 0;
	}
	if (doc == MP_OPA_DOC_DECISION) {
		MP_JSONBUF_LIT(b, ",\"result\":");
		put_decision(b, d);
		return 0;
	}
	json_t *tree = mp_opa_tree(d->engine, &d->dec, d->id);
	json_t *v = tree ? mp_opa_walk(tree, path) : NULL;
	char *text = v ? json_dumps(v, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY) : NULL;
	if (text) {
		MP_JSONBUF_LIT(b, ",\"result\":");
		mp_jsonbuf_raw(b, text, strlen(text));
	}
	free(text);
	json_decref(tree);
	return tree && (!v || text) ? 0 : -1;
}

void mp_api_data(mp_http_ctx *x)
{
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(x->req);
	int post = evhttp_request_get_command(x->req) == EVHTTP_REQ_POST, doc;
	mp_opa_params prm;
	mp_opa_path path;
	opa_question q;
	decided d;
	json_t *body = NULL, *input = NULL, *explain = NULL;
	json_error_t je;
	char err[512], qbuf[100], storage[4096];
	mp_jsonbuf b;
	mp_jsonbuf_init(&b, storage, sizeof(storage));
	q.env.headers = NULL;
	if (mp_opa_params_read(&prm, uri ? evhttp_uri_get_query(uri) : NULL, err, sizeof(err)) <
	    0) {
		mp_http_opa_error(x->w, x->req, 400, "%s", err);
		return;
	}
	if (mp_opa_path_read(&path, x->rest, &doc, err, sizeof(err)) < 0) {
		mp_http_opa_error(x->w, x->req, 400, "%s", err);
		goto done;
	}
	if (post) { /* OPA's DataRequestV1: {"input": ...}; other keys are not read */
		if (opa_read_body(x, &body) < 0)
			goto done;
		if (body && !json_is_object(body)) {
			mp_http_opa_error(x->w, x->req, 400,
			                  "body contains malformed input document: the body is "
			                  "{\"input\": ...}");
			goto done;
		}
		input = json_object_get(body, "input");
	} else if (prm.input) {
		body = mp_json_parse(prm.input, prm.input_len,
		                     JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je);
		if (!(input = body)) {
			mp_http_opa_error(x->w, x->req, 400,
			                  "parameter contains malformed input document: %d:%d: %s",
			                  je.line, je.column,
			                  mp_diag_quote(je.text, strlen(je.text), qbuf, 80));
			goto done;
		}
	}
	if (json_is_null(input))
		input = NULL;
	if (doc == MP_OPA_DOC_UNDEFINED) { /* nothing to decide: no result, and no decision */
		uint64_t parse_ns = mp_server_now_ns() - x->t0;
		MP_JSONBUF_LIT(&b, "{");
		if (prm.provenance && mp_worker_evaluator(x->w)) {
			member_sep(&b);
			mp_opa_put_provenance(&b, x->w->engine);
		}
		if (prm.metrics) {
			member_sep(&b);
			mp_opa_put_metrics(&b, parse_ns, 0, mp_server_now_ns() - x->t0);
		}
		if (post && !input) {
			member_sep(&b);
			MP_JSONBUF_LIT(&b, "\"warning\":{\"code\":\"api_usage_warning\","
			                   "\"message\":\"'input' key missing from the request\"}");
		}
		MP_JSONBUF_LIT(&b, "}");
		opa_send(x, prm.pretty, NULL, &b);
		goto done;
	}
	if (!input) {
		mp_http_opa_error(x->w, x->req, 400,
		                  "input: missing: data.meshpol is decided for an input (%s)",
		                  post ? "a body {\"input\": {...}}" : "?input={...}, URL-encoded");
		goto done;
	}
	if (opa_read_question(x, input, &q) < 0)
		goto done;
	uint64_t parse_ns = mp_server_now_ns() - x->t0;
	if (prm.explain && !(explain = json_array())) {
		mp_http_opa_error(x->w, x->req, 500, "out of memory");
		goto done;
	}
	if (opa_decide(x, &q, input, explain, &d) != DECIDED)
		goto done;
	MP_JSONBUF_LIT(&b, "{\"decision_id\":");
	mp_jsonbuf_string(&b, d.id);
	if (put_result(&b, doc, &path, &d) < 0)
		b.oom = 1;
	if (prm.provenance) {
		member_sep(&b);
		mp_opa_put_provenance(&b, d.engine);
	}
	if (prm.metrics) {
		member_sep(&b);
		mp_opa_put_metrics(&b, parse_ns, d.eval_ns, mp_server_now_ns() - x->t0);
	}
	if (explain) {
		mp_opa_explain_filter(explain, prm.explain);
		char *text = json_dumps(explain, JSON_COMPACT | JSON_PRESERVE_ORDER);
		b.oom |= !text;
		MP_JSONBUF_LIT(&b, ",\"explanation\":");
		if (text)
			mp_jsonbuf_raw(&b, text, strlen(text));
		free(text);
	}
	MP_JSONBUF_LIT(&b, "}");
	opa_send(x, prm.pretty, &d, &b);
done:
	mp_jsonbuf_free(&b);
	mp_envoyinput_free(&q.env);
	json_decref(explain);
	json_decref(body);
	mp_opa_params_free(&prm);
}

void mp_api_default_decision(mp_http_ctx *x)
{
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(x->req);
	mp_opa_params prm;
	opa_question q;
	decided d;
	json_t *body = NULL;
	char err[200], storage[16];
	mp_jsonbuf b;
	mp_jsonbuf_init(&b, storage, sizeof(storage));
	q.env.headers = NULL;
	if (mp_opa_params_read(&prm, uri ? evhttp_uri_get_query(uri) : NULL, err, sizeof(err)) <
	    0) {
		mp_http_opa_error(x->w, x->req, 400, "%s", err);
		return;
	}
	if (opa_read_body(x, &body) < 0) /* the whole body is the input, as OPA's POST / */
		goto done;
	if (!body) {
		mp_http_opa_error(x->w, x->req, 400,
		                  "input: missing: POST / decides data.meshpol.allow for the input "
		                  "in the body");
		goto done;
	}
	if (opa_read_question(x, body, &q) < 0 || opa_decide(x, &q, body, NULL, &d) != DECIDED)
		goto done;
	if (d.dec.allow)
		MP_JSONBUF_LIT(&b, "true");
	else
		MP_JSONBUF_LIT(&b, "false");
	evhttp_add_header(evhttp_request_get_output_headers(x->req), "x-meshpol-decision-id", d.id);
	opa_send(x, prm.pretty, &d, &b);
done:
	mp_jsonbuf_free(&b);
	mp_envoyinput_free(&q.env);
	json_decref(body);
	mp_opa_params_free(&prm);
}

void mp_api_health(mp_http_ctx *x)
{
	int ready;
	json_t *o = mp_reload_health(x->w->srv, &ready);
	mp_http_reply_json(x->w, x->req, ready ? 200 : 503, o);
	json_decref(o);
}

void mp_api_metrics(mp_http_ctx *x)
{
	struct evbuffer *buf = evhttp_request_get_output_buffer(x->req);
	mp_metrics_render(x->w->srv, buf);
	mp_http_reply_buffer(x->w, x->req, 200, "text/plain; version=0.0.4; charset=utf-8", NULL);
}

void mp_api_reload(mp_http_ctx *x)
{
	if (!x->conn) {
		mp_http_error(x->w, x->req, 500, "cannot reload from an untracked connection");
		return;
	}
	if (atomic_load(&x->w->srv->stopping)) {
		mp_http_error(x->w, x->req, 503, "the server is shutting down");
		return;
	}
	mp_reload_request(x->w->srv, x->w, x->conn, x->req);
}
