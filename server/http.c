/* http.c: the route table of the decision API and its dispatcher: every check a route's row
 * asks for (listener, method, admin token, header size, JSON body) is made here, once, so the
 * handlers in api.c never repeat them. Replies and errors are written here too: every error
 * is {"error": "..."} JSON with a status that says whose fault it was. Reference:
 * docs/server.md ("Endpoints", "Limits"). */
#include "http.h"
#include "api.h"
#include "conn.h"
#include "diag.h"

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

static const mp_http_route routes[] = {
    {"/v1/decide", MP_MATCH_EXACT, POST, MP_ROUTE_MAIN, MP_BODY_JSON, 0, mp_api_decide,
     "a decision for the input in the body"},
    {"/v1/check", MP_MATCH_SUBTREE, 0, MP_ROUTE_MAIN, MP_BODY_NONE, 0, mp_api_check,
     "Envoy ext_authz / nginx auth_request: 200 allow, 403 deny"},
    {"/v1/data/", MP_MATCH_UNDER, POST, MP_ROUTE_MAIN, MP_BODY_JSON, 0, mp_api_data,
     "OPA's data API: {\"input\": ...} -> {\"result\": ...}"},
    {"/health", MP_MATCH_EXACT, GET, MP_ROUTE_BOTH, MP_BODY_NONE, 0, mp_api_health,
     "ready (200) when a snapshot is loaded; reload status"},
    {"/metrics", MP_MATCH_EXACT, GET, MP_ROUTE_BOTH, MP_BODY_NONE, 0, mp_api_metrics,
     "Prometheus text format"},
    {"/v1/reload", MP_MATCH_EXACT, POST, MP_ROUTE_RELOAD, MP_BODY_NONE, 1, mp_api_reload,
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

/* --- replies --- */

static const char *reason_of(int code)
{
	switch (code) {
	case 422:
		return "Unprocessable Entity";
	case 431:
		return "Request Header Fields Too Large";
	default:
		return NULL; /* libevent knows the rest */
	}
}

void mp_http_reply_buffer(mp_worker *w, struct evhttp_request *req, int code,
                          const char *content_type, struct evbuffer *body)
{
	struct evkeyvalq *out = evhttp_request_get_output_headers(req);
	evhttp_add_header(out, "Content-Type", content_type);
	if (w->draining)
		evhttp_add_header(out, "Connection", "close");
	mp_metrics_status(&w->metrics, code);
	evhttp_send_reply(req, code, reason_of(code), body);
}

void mp_http_reply_bytes(mp_worker *w, struct evhttp_request *req, int code, const char *json,
                         size_t len)
{
	evbuffer_add(evhttp_request_get_output_buffer(req), json, len);
	mp_http_reply_buffer(w, req, code, "application/json", NULL);
}

void mp_http_reply_json(mp_worker *w, struct evhttp_request *req, int code, json_t *o)
{
	char *text = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
	struct evbuffer *buf = evhttp_request_get_output_buffer(req);
	if (text) {
		evbuffer_add(buf, text, strlen(text));
		free(text);
	} else {
		code = 500;
		evbuffer_add_printf(buf, "{\"error\": \"out of memory\"}");
	}
	mp_http_reply_buffer(w, req, code, "application/json", NULL);
}

void mp_http_error(mp_worker *w, struct evhttp_request *req, int code, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	json_t *o = json_pack("{s:s}", "error", msg);
	if (!o) /* not UTF-8: a caller forgot to quote; never send it */
		o = json_pack("{s:s}", "error", "(unprintable error message)");
	if (code == 400)
		mp_metrics_add(&w->metrics.bad_requests, 1);
	mp_http_reply_json(w, req, code, o);
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
	mp_http_error(w, req, 405, "%s takes %s", r->path, allow);
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

	if (header_bytes(req) > srv->cfg->max_header) {
		evhttp_add_header(evhttp_request_get_output_headers(req), "Connection", "close");
		mp_http_error(w, req, 431, "the request's headers are larger than %zu bytes",
		              srv->cfg->max_header);
		goto done;
	}
	for (size_t i = 0; i < NROUTES && !x.route; i++)
		if (route_matches(&routes[i], x.path, &x.rest) &&
		    route_available(&routes[i], srv, listener))
			x.route = &routes[i];
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
	if (x.route->body == MP_BODY_JSON) {
		struct evbuffer *in = evhttp_request_get_input_buffer(req);
		size_t len = evbuffer_get_length(in);
		const char *text = (const char *)evbuffer_pullup(in, -1);
		json_error_t e;
		x.body = json_loadb(text ? text : "", len, JSON_REJECT_DUPLICATES, &e);
		if (!x.body) {
			char q[200], msg[260];
			snprintf(msg, sizeof(msg), "invalid JSON: %s",
			         mp_diag_quote(e.text, strlen(e.text), q, 160));
			json_t *o = json_pack("{s:s, s:i, s:i}", "error", msg, "line", e.line,
			                      "column", e.column);
			mp_metrics_add(&w->metrics.bad_requests, 1);
			mp_http_reply_json(w, req, 400, o);
			json_decref(o);
			goto done;
		}
	}
	x.route->handler(&x);
	if (x.abandoned) {
		/* the control thread answered this request and has a replacement serving: leave
		 * everything as it is and stop (worker.c) */
		json_decref(x.body);
		event_base_loopbreak(w->base);
		return;
	}
done:
	json_decref(x.body);
	if (x.conn && !x.conn->job && !x.deferred)
		mp_conn_replied(x.conn);
}
