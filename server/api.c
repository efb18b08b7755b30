/* api.c: the handlers of the decision API: /v1/decide, /v1/check, /v1/data, /health,
 * /metrics, /v1/reload. The dispatcher (http.c) has already checked the route, the method, the
 * token and parsed the JSON body. Every decision, from any endpoint, goes through decide_one:
 * metrics, the decision id and the decision log happen there. Reference: docs/server.md. */
#include "api.h"
#include "alloc.h"
#include "decide.h"
#include "encode.h"
#include "proxyreq.h"
#include "reload.h"
#include "tls.h"
#include "worker.h"

#include <event2/buffer.h>
#include <event2/http.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One decision made. */
typedef struct {
	mp_decision dec;
	mp_engine *engine; /* the snapshot it was made against (the worker's; borrowed) */
	char id[37];
} decided;

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

/* Appends the decision record to the log: {"decision", "endpoint", "input", "latency_ns"},
 * written in the trail's own form (keys sorted, ASCII) without a jansson tree for the
 * decision. in: the input (taken over; masked here). */
static void log_decision(mp_worker *w, const decided *d, json_t *in, int endpoint, uint64_t ns)
{
	static const char *const names[] = {"/v1/decide", "/v1/check", "/v1/data"};
	mp_encode_buf b;
	char num[40];
	mp_encode_init(&b, NULL, 0);
	b.ascii = 1;
	mp_encode_raw(&b, "{\"decision\":", 12);
	if (mp_encode_knows(d->engine, &d->dec)) {
		mp_encode_decision_sorted(&b, d->engine, &d->dec, d->id);
	} else {
		json_t *o = mp_decision_json(d->engine, &d->dec, d->id);
		char *t =
		    o ? json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENSURE_ASCII) : NULL;
		if (t)
			mp_encode_raw(&b, t, strlen(t));
		else
			b.oom = 1;
		free(t);
		json_decref(o);
	}
	mp_encode_raw(&b, ",\"endpoint\":", 12);
	mp_encode_string(&b, names[endpoint]);
	mp_encode_raw(&b, ",\"input\":", 9);
	char *text = NULL;
	if (in) {
		mp_declog_mask(in, d->engine->bundle);
		text = json_dumps(in, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENSURE_ASCII);
		json_decref(in);
	}
	if (text)
		mp_encode_raw(&b, text, strlen(text));
	else
		mp_encode_raw(&b, "null", 4);
	free(text);
	int n = snprintf(num, sizeof(num), ",\"latency_ns\":%llu}", (unsigned long long)ns);
	mp_encode_raw(&b, num, (size_t)n);
	if (b.oom) {
		mp_encode_free(&b);
		mp_declog_submit_text(w->srv->log, "decision", NULL, 0); /* counted as an error */
		return;
	}
	mp_declog_submit_text(w->srv->log, "decision", b.p, b.len);
}

/* Decides r with this worker's evaluator (or takes the forced decision fixed) and logs it.
 * input: the decision input to log (borrowed, masked in place); NULL: build_input(arg) makes
 * it, only when there is a log. Returns 0, or -1 when no evaluator could be made (out of
 * memory): the caller answers 500. */
static int decide_one(mp_http_ctx *x, const mp_request *r, const mp_decision *fixed, json_t *input,
                      json_t *(*build_input)(const void *), const void *arg, int endpoint,
                      decided *d)
{
	mp_worker *w = x->w;
	mp_evaluator *ev = mp_worker_evaluator(w);
	if (!ev)
		return -1;
	uint64_t t0 = mp_server_now_ns();
	if (fixed)
		d->dec = *fixed;
	else
		mp_decide(ev, r, &d->dec, NULL);
	uint64_t t1 = mp_server_now_ns();
	mp_evaluator_stats *st = mp_evaluator_stats_of(ev);
	if (st->when_calls != w->when_calls_seen || st->when_errors != w->when_errors_seen) {
		mp_metrics_add(&w->metrics.when_calls, st->when_calls - w->when_calls_seen);
		mp_metrics_add(&w->metrics.when_errors, st->when_errors - w->when_errors_seen);
		w->when_calls_seen = st->when_calls;
		w->when_errors_seen = st->when_errors;
	}
	d->engine = mp_evaluator_engine(ev);
	new_id(w, d->id);
	if (w->srv->log)
		log_decision(w, d, input ? json_incref(input) : build_input(arg), endpoint,
		             t1 - t0);
	return 0;
}

/* Appends the decision output object: encode.c's writer, or jansson's for the reasons it does
 * not know. */
static void put_decision(mp_encode_buf *b, const decided *d)
{
	if (mp_encode_knows(d->engine, &d->dec)) {
		mp_encode_decision(b, d->engine, &d->dec, d->id);
		return;
	}
	json_t *o = mp_decision_json(d->engine, &d->dec, d->id);
	char *t = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
	if (t)
		mp_encode_raw(b, t, strlen(t));
	else
		b->oom = 1;
	free(t);
	json_decref(o);
}

/* Replies with the decision (as /v1/decide and /v1/check answer it) and counts it. */
static void reply_decision(mp_http_ctx *x, int code, int endpoint, const decided *d)
{
	char storage[4096];
	mp_encode_buf b;
	mp_encode_init(&b, storage, sizeof(storage));
	put_decision(&b, d);
	mp_http_reply_bytes(x->w, x->req, b.oom ? 500 : code, b.p, b.len);
	mp_encode_free(&b);
	mp_metrics_decision(&x->w->metrics, endpoint, d->dec.effect, mp_server_now_ns() - x->t0);
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

void mp_api_decide(mp_http_ctx *x)
{
	mp_request r;
	mp_header hbuf[MP_REQUEST_MAX_HEADERS];
	char err[512];
	decided d;
	set_peer_context(x, x->body);
	if (mp_request_from_json(x->body, &r, hbuf, err, sizeof(err)) < 0) {
		mp_http_bad_field(x->w, x->req, err);
		return;
	}
	if (decide_one(x, &r, NULL, x->body, NULL, NULL, MP_EP_DECIDE, &d) < 0) {
		mp_http_error(x->w, x->req, 500, "no evaluator (out of memory)");
		return;
	}
	reply_decision(x, 200, MP_EP_DECIDE, &d);
}

void mp_api_data(mp_http_ctx *x)
{
	mp_request r;
	mp_header hbuf[MP_REQUEST_MAX_HEADERS];
	char err[512], msg[560];
	decided d;
	json_t *input = json_object_get(x->body, "input");
	if (!json_is_object(x->body) || !input) {
		mp_http_bad_field(x->w, x->req, "input: missing (the body is {\"input\": {...}})");
		return;
	}
	set_peer_context(x, input);
	if (mp_request_from_json(input, &r, hbuf, err, sizeof(err)) < 0) {
		if (!json_is_object(input))
			snprintf(msg, sizeof(msg), "input: must be a JSON object");
		else
			snprintf(msg, sizeof(msg), "input.%s", err);
		mp_http_bad_field(x->w, x->req, msg);
		return;
	}
	if (decide_one(x, &r, NULL, input, NULL, NULL, MP_EP_DATA, &d) < 0) {
		mp_http_error(x->w, x->req, 500, "no evaluator (out of memory)");
		return;
	}
	/* the document asked for: .../decision is the whole decision, anything else allow */
	size_t n = strlen(x->rest);
	int whole =
	    (n >= 8 && !strcmp(x->rest + n - 8, "decision") && (n == 8 || x->rest[n - 9] == '/'));
	char storage[4096];
	mp_encode_buf b;
	mp_encode_init(&b, storage, sizeof(storage));
	mp_encode_raw(&b, "{\"decision_id\":", 15);
	mp_encode_string(&b, d.id);
	mp_encode_raw(&b, ",\"result\":", 10);
	if (whole)
		put_decision(&b, &d);
	else if (d.dec.allow)
		mp_encode_raw(&b, "true", 4);
	else
		mp_encode_raw(&b, "false", 5);
	mp_encode_raw(&b, "}", 1);
	mp_http_reply_bytes(x->w, x->req, b.oom ? 500 : 200, b.p, b.len);
	mp_encode_free(&b);
	mp_metrics_decision(&x->w->metrics, MP_EP_DATA, d.dec.effect, mp_server_now_ns() - x->t0);
}

static json_t *proxy_input(const void *p)
{
	return mp_proxyreq_input(p);
}

void mp_api_check(mp_http_ctx *x)
{
	static const char *const method_names[] = {"GET",     "POST",  "HEAD",    "PUT",  "DELETE",
	                                           "OPTIONS", "TRACE", "CONNECT", "PATCH"};
	mp_worker *w = x->w;
	mp_proxyreq p;
	char err[512];
	decided d;
	int cmd = (int)evhttp_request_get_command(x->req), bit = 0;
	while (bit < 9 && !(cmd & (1 << bit)))
		bit++;
	/* the original path: what follows /v1/check in the request target, query included */
	const char *target = evhttp_request_get_uri(x->req);
	const char *at = strstr(target, "/v1/check");
	const char *path = at ? at + strlen("/v1/check") : x->rest;
	char root[2048];
	if (*path != '/') { /* "" or "?query" */
		snprintf(root, sizeof(root), "/%s", path);
		path = root;
	}
	mp_engine *e = mp_worker_evaluator(w) ? w->engine : NULL;
	if (!e) {
		mp_http_error(w, x->req, 500, "no evaluator (out of memory)");
		return;
	}
	mp_proxyreq_in in = {
	    .headers = evhttp_request_get_input_headers(x->req),
	    .method = bit < 9 ? method_names[bit] : "GET",
	    .path = path,
	    .destination_header = w->srv->cfg->destination_header,
	    .peer_uri = peer_uri(x),
	    .model = e->model,
	};
	if (mp_proxyreq_read(&p, &in, err, sizeof(err)) < 0) {
		mp_http_bad_field(w, x->req, err);
		return;
	}
	mp_decision fixed;
	if (p.too_many_headers) { /* a header past the limit could be one a deny rule needs */
		memset(&fixed, 0, sizeof(fixed));
		fixed.effect = MP_EFFECT_FORBIDDEN;
		fixed.src_svc = fixed.dst_svc = fixed.dst_ext = MP_NONE;
		fixed.reasons[0] = (mp_reason){MP_NONE, MP_REASON_DENY,
		                               "the request has more headers than the engine reads "
		                               "(64): nothing was decided"};
		fixed.nreasons = 1;
	}
	if (decide_one(x, &p.r, p.too_many_headers ? &fixed : NULL, NULL, proxy_input, &p,
	               MP_EP_CHECK, &d) < 0) {
		mp_http_error(w, x->req, 500, "no evaluator (out of memory)");
		return;
	}
	evhttp_add_header(evhttp_request_get_output_headers(x->req), "x-meshpol-decision-id", d.id);
	reply_decision(x, d.dec.allow ? 200 : 403, MP_EP_CHECK, &d);
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
