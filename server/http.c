/* http.c: the route table of the decision API and its dispatcher: every check a route's row
 * asks for (listener, method, admin token, header size, JSON body) is made here, once, so the
 * handlers in api.c never repeat them. Replies and errors are written here too: every error
 * is {"error": "..."} JSON with a status that says whose fault it was, except on OPA's routes,
 * where it is OPA's {"code", "message"} (opa.h). Reference:
 * docs/server.md ("Endpoints", "Limits"). */
#include "http.h"
#include "api.h"
#include "conn.h"
#include "diag.h"
#include "head.h"
#include "jsonparse.h"
#include "opa.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <openssl/crypto.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#define POST EVHTTP_REQ_POST
#define GET  (EVHTTP_REQ_GET | EVHTTP_REQ_HEAD)

#define STATUS MP_ERRORS_STATUS
#define DENY   MP_ERRORS_DENY
#define OPA    MP_ERRORS_OPA

static const mp_http_route routes[] = {
    {"/v1/decide", MP_MATCH_EXACT, POST, MP_ROUTE_MAIN, MP_BODY_INPUT, 0, STATUS, mp_api_decide,
     "a decision for the input in the body"},
    {"/v1/check", MP_MATCH_SUBTREE, 0, MP_ROUTE_MAIN, MP_BODY_NONE, 0, STATUS, mp_api_check,
     "Envoy ext_authz (HTTP service): 200 allow, 403 deny"},
    {"/v1/nginx/check", MP_MATCH_EXACT, 0, MP_ROUTE_MAIN, MP_BODY_NONE, 0, DENY, mp_api_nginx_check,
     "nginx auth_request: 200 allow, 403 deny or cannot decide"},
    {"/v1/data", MP_MATCH_SUBTREE, GET | POST, MP_ROUTE_MAIN, MP_BODY_NONE, 0, OPA, mp_api_data,
     "OPA's Data API: a document of the tree for the input -> {\"result\": ...}"},
    {"/", MP_MATCH_EXACT, POST, MP_ROUTE_MAIN, MP_BODY_NONE, 0, OPA, mp_api_default_decision,
     "OPA's default decision: meshpol/allow for the input in the body"},
    {"/health", MP_MATCH_EXACT, GET, MP_ROUTE_BOTH, MP_BODY_NONE, 0, STATUS, mp_api_health,
     "ready (200) when a snapshot is loaded; reload status"},
    {"/metrics", MP_MATCH_EXACT, GET, MP_ROUTE_BOTH, MP_BODY_NONE, 0, STATUS, mp_api_metrics,
     "Prometheus text format"},
    {"/v1/reload", MP_MATCH_EXACT, POST, MP_ROUTE_RELOAD, MP_BODY_NONE, 1, STATUS, mp_api_reload,
     "reload the model and bundle from disk"},
};
#define NROUTES (sizeof(routes) / sizeof(routes[0]))

static const struct {
	int type;
	const char *name;
} methods[] = {
    {EVHTTP_REQ_GET, "GET"},     {EVHTTP_REQ_HEAD, "HEAD"},       {EVHTTP_REQ_POST, "POST"},
    {EVHTTP_REQ_PUT, "PUT"},     {EVHTTP_REQ_DELETE, "DELETE"},   {EVHTTP_REQ_OPTIONS, "OPTIONS"},
    {EVHTTP_REQ_TRACE, "TRACE"}, {EVHTTP_REQ_CONNECT, "CONNECT"}, {EVHTTP_REQ_PATCH, "PATCH"},
};

/* --- the request body's jansson tree, from a per-thread arena ---
 * A body's tree is built and freed within one dispatch on the worker's thread, and its values,
 * keys, hash tables and string tokens are about fifty small allocations (a /v1/decide body).
 * While the dispatcher parses, they come from the worker's arena (mp_worker.json_arena) and
 * freeing them costs nothing; the arena is emptied, and let go of, once the body is freed. What
 * does not fit, and every other jansson allocation (other threads, other times), is malloc's:
 * json_free tells them apart by address. Nothing keeps a part of the body past its dispatch
 * (the decision log's record is written from it before the reply); a part freed after would
 * reach free() and fail loudly rather than corrupt the next body. */
typedef struct {
	char *base; /* the worker's arena while its dispatch holds a body, else NULL */
	size_t used;
	int on; /* allocations come from it (the parse) */
} body_arena;
static _Thread_local body_arena arena;

static void *json_alloc(size_t n)
{
	size_t need = (n + 15) & ~(size_t)15;
	if (arena.on && need >= n && need <= MP_HTTP_ARENA_BYTES - arena.used) {
		void *p = arena.base + arena.used;
		arena.used += need;
		return p;
	}
	return malloc(n);
}

static void json_free(void *p)
{
	if (arena.base && (char *)p >= arena.base && (char *)p < arena.base + MP_HTTP_ARENA_BYTES)
		return;
	free(p);
}

void mp_http_json_arena_install(void)
{
	json_set_alloc_funcs(json_alloc, json_free);
}

/* The one way a reply leaves: the head written by hand on a plain keep-alive connection
 * (head.c), else by evhttp; the body is len bytes at bytes, or (bytes NULL) req's output buffer. */
static void send_reply(mp_worker *w, struct evhttp_request *req, int code, const char *content_type,
                       const char *bytes, size_t len)
{
	struct evkeyvalq *out = evhttp_request_get_output_headers(req);
	mp_metrics_status(&w->metrics, code);
	if (!(w->draining && !evhttp_find_header(out, "Connection")) &&
	    mp_head_send(req, code, content_type, bytes, len) == 0)
		return;
	if (bytes)
		evbuffer_add(evhttp_request_get_output_buffer(req), bytes, len);
	evhttp_add_header(out, "Content-Type", content_type);
	if (w->draining && !evhttp_find_header(out, "Connection"))
		evhttp_add_header(out, "Connection", "close");
	mp_head_clean(out);
	evhttp_send_reply(req, code, mp_head_reason(code), NULL);
}

void mp_http_reply_buffer(mp_worker *w, struct evhttp_request *req, int code,
                          const char *content_type, struct evbuffer *body)
{
	if (body)
		evbuffer_add_buffer(evhttp_request_get_output_buffer(req), body);
	send_reply(w, req, code, content_type, NULL, 0);
}

void mp_http_reply_bytes(mp_worker *w, struct evhttp_request *req, int code, const char *json,
                         size_t len)
{
	send_reply(w, req, code, "application/json", json, len);
}

void mp_http_reply_json(mp_worker *w, struct evhttp_request *req, int code, json_t *o)
{
	char *text = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
	if (text) {
		send_reply(w, req, code, "application/json", text, strlen(text));
		free(text);
	} else {
		static const char oom[] = "{\"error\": \"out of memory\"}";
		send_reply(w, req, 500, "application/json", oom, sizeof(oom) - 1);
	}
}

/* The one error emitter: {"error": msg}, or with opa OPA's {"code", "message"}. */
static void send_error(mp_worker *w, struct evhttp_request *req, int code, int opa, const char *msg)
{
	json_t *o;
	for (int i = 0; i < 2; i++) { /* msg not UTF-8: a caller forgot to quote; never send it */
		const char *m = i ? "(unprintable error message)" : msg;
		o = opa ? json_pack("{s:s, s:s}", "code", mp_opa_code(code), "message", m)
		        : json_pack("{s:s}", "error", m);
		if (o)
			break;
	}
	if (code == 400)
		mp_metrics_add(&w->metrics.bad_requests, 1);
	mp_http_reply_json(w, req, code, o);
	json_decref(o);
}

void mp_http_error(mp_worker *w, struct evhttp_request *req, int code, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	send_error(w, req, code, 0, msg);
}

void mp_http_opa_error(mp_worker *w, struct evhttp_request *req, int code, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	send_error(w, req, code, 1, msg);
}

void mp_http_set_error_header(struct evhttp_request *req, const char *why)
{
	char clean[512];
	size_t n = 0;
	for (; why[n] && n < sizeof(clean) - 1; n++)
		clean[n] = why[n] >= 0x20 && why[n] < 0x7f ? why[n] : '?';
	clean[n] = '\0';
	evhttp_add_header(evhttp_request_get_output_headers(req), "x-meshpol-error", clean);
}

void mp_http_cannot_decide(mp_worker *w, struct evhttp_request *req, const char *why)
{
	json_t *o = json_pack("{s:b, s:s}", "allow", 0, "error", why);
	if (!o)
		o = json_pack("{s:b, s:s}", "allow", 0, "error", "(unprintable error message)");
	mp_http_set_error_header(req, why);
	mp_metrics_add(&w->metrics.bad_requests, 1);
	mp_http_reply_json(w, req, 403, o);
	json_decref(o);
}

void mp_http_bad_field(mp_worker *w, struct evhttp_request *req, const char *message)
{
	char field[256];
	const char *colon = strchr(message, ':'), *space = strchr(message, ' ');
	size_t n = colon ? (size_t)(colon - message) : 0;
	if (n >= sizeof(field) || (space && space < colon))
		n = 0; /* not "field: what", e.g. "the decision input must be ..." */
	memcpy(field, message, n);
	field[n] = '\0';
	json_t *o = json_pack("{s:s}", "error", message);
	if (o && n)
		json_object_set_new(o, "field", json_string(field));
	if (!o)
		o = json_pack("{s:s}", "error", "(unprintable error message)");
	mp_metrics_add(&w->metrics.bad_requests, 1);
	mp_http_reply_json(w, req, 400, o);
	json_decref(o);
}

/* --- dispatching --- */

static int route_matches(const mp_http_route *r, const char *path, const char **rest)
{
	size_t n = strlen(r->path);
	if (strncmp(path, r->path, n) != 0)
		return 0;
	*rest = path + n;
	switch (r->match) {
	case MP_MATCH_EXACT:
		return path[n] == '\0';
	case MP_MATCH_SUBTREE:
		return path[n] == '\0' || path[n] == '/';
	default:
		return path[n] != '\0';
	}
}

static int route_available(const mp_http_route *r, const mp_server *srv, int listener)
{
	if (r->where == MP_ROUTE_RELOAD)
		return listener == MP_LISTENER_ADMIN ||
		       (listener == MP_LISTENER_MAIN && srv->reload_on_main);
	return (r->where & (listener == MP_LISTENER_ADMIN ? 2 : 1)) != 0;
}

static void method_not_allowed(mp_worker *w, struct evhttp_request *req, const mp_http_route *r)
{
	char allow[96] = "";
	for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
		if (!(r->methods & methods[i].type))
			continue;
		if (allow[0])
			strcat(allow, ", ");
		strcat(allow, methods[i].name);
	}
	evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", allow);
	char msg[160];
	snprintf(msg, sizeof(msg), "%s takes %s", r->path, allow);
	send_error(w, req, 405, r->errors == MP_ERRORS_OPA, msg);
}

static int token_ok(const char *header, const char *token)
{
	static const char prefix[] = "Bearer ";
	size_t n = strlen(token);
	if (!header || strncmp(header, prefix, sizeof(prefix) - 1) != 0)
		return 0;
	header += sizeof(prefix) - 1;
	return strlen(header) == n && CRYPTO_memcmp(header, token, n) == 0;
}

/* How a request's body is delimited, which libevent leaves partly to us: it reads the first
 * Content-Length and ignores the others, and from 2.2 on reads no body at all for a method other
 * than POST, PUT and PATCH, whose body bytes would then be parsed as the next request. NULL when
 * the framing is unambiguous, else why the request is a 400 (after which the connection closes:
 * whatever follows cannot be told apart from a smuggled request). *close_after is set when the
 * request may be answered but the connection must close after it (a body libevent did not
 * read). */
static const char *framing_problem(struct evhttp_request *req, int *close_after)
{
	const char *cl = NULL, *te = NULL;
	int ncl = 0, nte = 0;
	struct evkeyval *kv;
	TAILQ_FOREACH(kv, evhttp_request_get_input_headers(req), next)
	{
		if (!strcasecmp(kv->key, "Content-Length")) {
			char *end;
			if (cl && (strtoull(cl, NULL, 10) != strtoull(kv->value, &end, 10) ||
			           end == kv->value || *end))
				return "Content-Length: given twice with different values";
			cl = kv->value;
			ncl++;
		} else if (!strcasecmp(kv->key, "Transfer-Encoding")) {
			te = kv->value;
			nte++;
		}
	}
	if (te && (nte > 1 || strcasecmp(te, "chunked") != 0))
		return "Transfer-Encoding: only one, and only chunked, is accepted";
	if (te && ncl)
		return "Content-Length: not allowed with Transfer-Encoding";
	enum evhttp_cmd_type m = evhttp_request_get_command(req);
	int has_body = te || (cl && strtoull(cl, NULL, 10) > 0);
	if (has_body && m != EVHTTP_REQ_POST && m != EVHTTP_REQ_PUT && m != EVHTTP_REQ_PATCH)
		*close_after = 1;
	return NULL;
}

/* The dispatcher refuses a request before its handler runs: with the status that says why, or
 * on a route whose refusals must read as denials (nginx's), 403 with x-meshpol-error. */
static void refuse(mp_worker *w, struct evhttp_request *req, const mp_http_route *r, int code,
                   const char *why)
{
	if (r && r->errors == MP_ERRORS_DENY)
		mp_http_cannot_decide(w, req, why);
	else
		send_error(w, req, code, r && r->errors == MP_ERRORS_OPA, why);
}

/* The request line and headers, as evhttp counts them. */
static size_t header_bytes(struct evhttp_request *req)
{
	size_t n = strlen(evhttp_request_get_uri(req)) + 16;
	struct evkeyval *kv;
	TAILQ_FOREACH(kv, evhttp_request_get_input_headers(req), next)
	{
		n += strlen(kv->key) + strlen(kv->value) + 2;
	}
	return n;
}

static const char *body_text(mp_http_ctx *x, size_t *len)
{
	struct evbuffer *in = evhttp_request_get_input_buffer(x->req);
	const char *text = (const char *)evbuffer_pullup(in, -1);
	*len = evbuffer_get_length(in);
	return text ? text : "";
}

int mp_http_body_input(mp_http_ctx *x, mp_request *r, mp_header *hbuf)
{
	size_t len;
	const char *text = body_text(x, &len);
	arena = (body_arena){.base = x->w->json_arena, .on = x->w->json_arena != NULL};
	int ok = mp_request_parse(text, len, r, hbuf, x->held);
	arena.on = 0;
	return ok;
}

int mp_http_body_json(mp_http_ctx *x)
{
	size_t len;
	const char *text = body_text(x, &len);
	json_error_t e;
	arena = (body_arena){.base = x->w->json_arena, .on = x->w->json_arena != NULL};
	x->body = mp_json_parse(text, len, JSON_REJECT_DUPLICATES, &e);
	arena.on = 0;
	if (x->body)
		return 0;
	char q[200], msg[260];
	snprintf(msg, sizeof(msg), "invalid JSON: %s",
	         mp_diag_quote(e.text, strlen(e.text), q, 160));
	json_t *o = json_pack("{s:s, s:i, s:i}", "error", msg, "line", e.line, "column", e.column);
	mp_metrics_add(&x->w->metrics.bad_requests, 1);
	mp_http_reply_json(x->w, x->req, 400, o);
	json_decref(o);
	return -1;
}

/* Frees what the body's readers built and empties the arena. */
static void free_body(mp_http_ctx *x)
{
	json_decref(x->body);
	for (size_t i = 0; i < MP_REQUEST_HELD; i++)
		json_decref(x->held[i]);
	arena = (body_arena){0};
}

void mp_http_dispatch(struct evhttp_request *req, void *arg)
{
	mp_worker *w = arg;
	mp_server *srv = w->srv;
	struct evhttp_connection *evcon = evhttp_request_get_connection(req);
	int listener = evhttp_connection_get_server(evcon) == w->admin_http ? MP_LISTENER_ADMIN
	                                                                    : MP_LISTENER_MAIN;
	mp_http_ctx x = {.w = w, .req = req, .conn = mp_conn_find(w, evcon)};
	x.t0 = mp_server_now_ns();
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	x.path = uri ? evhttp_uri_get_path(uri) : NULL;
	if (!x.path || !*x.path)
		x.path = "/";
	struct evkeyvalq *out = evhttp_request_get_output_headers(req);
	char why[160];
	int close_after = 0;
	const char *problem = framing_problem(req, &close_after);

	/* Backpressure: read nothing more from this connection until this request's reply has
	 * been written out (evhttp reads again once it has), so a client that sends and never
	 * reads holds one reply, and a half-close is not seen before the requests already read
	 * are answered. */
	mp_conn_hold_reads(x.conn, evhttp_connection_get_bufferevent(evcon));
	for (size_t i = 0; i < NROUTES && !x.route; i++)
		if (route_matches(&routes[i], x.path, &x.rest) &&
		    route_available(&routes[i], srv, listener))
			x.route = &routes[i];
	int too_big = header_bytes(req) > srv->cfg->max_header;
	if (close_after || problem || too_big)
		evhttp_add_header(out, "Connection", "close");
	if (too_big) {
		snprintf(why, sizeof(why), "the request's headers are larger than %zu bytes",
		         srv->cfg->max_header);
		refuse(w, req, x.route, 431, why);
		goto done;
	}
	if (problem) {
		refuse(w, req, x.route, 400, problem);
		goto done;
	}
	if (!x.route) {
		char q[160];
		mp_http_error(w, req, 404, "no endpoint %s (see docs/server.md)",
		              mp_diag_quote(x.path, strlen(x.path), q, 120));
		goto done;
	}
	if (x.route->methods && !(x.route->methods & (int)evhttp_request_get_command(req))) {
		method_not_allowed(w, req, x.route);
		goto done;
	}
	if (x.route->admin && srv->cfg->admin_token &&
	    !token_ok(evhttp_find_header(evhttp_request_get_input_headers(req), "Authorization"),
	              srv->cfg->admin_token)) {
		evhttp_add_header(evhttp_request_get_output_headers(req), "WWW-Authenticate",
		                  "Bearer realm=\"meshpol admin\"");
		mp_http_error(w, req, 401, "%s needs Authorization: Bearer <the admin token>",
		              x.route->path);
		goto done;
	}
	if (x.route->body == MP_BODY_JSON && mp_http_body_json(&x) < 0)
		goto done;
	x.route->handler(&x);
	if (x.abandoned) {
		/* the control thread answered this request and has a replacement serving: leave
		 * everything as it is and stop (worker.c) */
		free_body(&x);
		event_base_loopbreak(w->base);
		return;
	}
done:
	free_body(&x);
	if (x.conn && !x.conn->job && !x.deferred) {
		mp_conn_replied(x.conn);
		mp_conn_flush(req); /* last: it may free req */
	}
}
