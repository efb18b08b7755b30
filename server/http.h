/* http.h: the decision API's routes (one table, checked in one place: DESIGN.md rule 6) and
 * the one way replies and errors are written. Endpoints: docs/server.md ("Endpoints"). */
#ifndef MP_HTTP_H
#define MP_HTTP_H

#include <jansson.h>
#include <stdint.h>

#include "jsonparse.h"
#include "server_int.h"

struct evhttp_request;
struct evbuffer;

/* Where a route is served. */
enum {
	MP_ROUTE_MAIN = 1,   /* the main listener */
	MP_ROUTE_BOTH = 3,   /* the main and the admin listener */
	MP_ROUTE_RELOAD = 4, /* the admin listener; without one, the main listener when a token is
	                        set; else nowhere */
};

/* What the dispatcher does with the body before the handler sees it: nothing; its jansson tree
 * in x->body; or nothing, the handler reading it as a decision input (mp_http_body_input) or,
 * where that cannot serve, as the tree (mp_http_body_json). */
enum { MP_BODY_NONE = 0, MP_BODY_JSON = 1, MP_BODY_INPUT = 2 };

/* How the route's path matches the request's. */
enum {
	MP_MATCH_EXACT = 0,   /* the path itself */
	MP_MATCH_SUBTREE = 1, /* the path, or the path followed by "/" and anything */
	MP_MATCH_UNDER = 2,   /* the path followed by at least one more byte (path ends in "/") */
};

/* How the dispatcher answers a request it refuses (too large, badly framed) before the
 * handler runs. */
enum {
	MP_ERRORS_STATUS = 0, /* the status that says whose fault it was, {"error": ...} */
	MP_ERRORS_DENY = 1,   /* 403 with the reason in x-meshpol-error: nginx's auth_request, which
	                         turns any other status into a 500 for its client */
	MP_ERRORS_OPA = 2,    /* the status that says whose fault it was, {"code", "message"} as OPA
	                         writes errors (opa.h), which OPA's clients parse */
};

typedef struct mp_http_ctx mp_http_ctx;

typedef struct {
	const char *path;
	uint8_t match;    /* MP_MATCH_* */
	uint16_t methods; /* EVHTTP_REQ_* mask; every method when 0 */
	uint8_t where;    /* MP_ROUTE_* */
	uint8_t body;     /* MP_BODY_* */
	uint8_t admin;    /* needs `Authorization: Bearer TOKEN` when --admin-token is set */
	uint8_t errors;   /* MP_ERRORS_* */
	void (*handler)(mp_http_ctx *x);
	const char *summary;
} mp_http_route;

/* What a handler gets. Everything is valid for the handler's call only. */
struct mp_http_ctx {
	mp_worker *w;
	struct evhttp_request *req;
	mp_conn *conn; /* NULL when the connection could not be tracked */
	const mp_http_route *route;
	const char *path; /* the request's path, as sent (no query) */
	const char *rest; /* what follows the route's path (SUBTREE and UNDER routes) */
	json_t *body;     /* MP_BODY_JSON: the parsed body (the dispatcher frees it) */
	json_t *held[MP_REQUEST_HELD]; /* what mp_http_body_input built (the dispatcher frees it) */
	uint64_t t0;                   /* when the handler was entered (mp_server_now_ns) */
	int deferred;  /* the handler left the reply to another thread's hand-back */
	int abandoned; /* the watchdog gave up on this worker during the handler */
};

/* The body read as a decision input without its tree (jsonparse.h's mp_request_parse): 1 with r
 * filled, valid for the handler's call, the document kept for the log record's input
 * (loginput.h's mp_loginput_parsed) until the thread parses again; 0 where only the tree can
 * serve (an error among them): the handler then calls mp_http_body_json and reads the tree. */
int mp_http_body_input(mp_http_ctx *x, mp_request *r, mp_header *hbuf);
/* The body's tree into x->body: 0, or -1 after replying 400 to a body that is not JSON. */
int mp_http_body_json(mp_http_ctx *x);

/* The generic callback of the main and admin evhttp objects; arg is the worker. */
void mp_http_dispatch(struct evhttp_request *req, void *worker);

/* The bytes of a worker's arena for the request bodies' jansson trees (mp_worker.json_arena; a
 * larger body's tree takes the rest from malloc). */
#define MP_HTTP_ARENA_BYTES (64 * 1024)
/* Makes jansson allocate through the dispatcher's arena (http.c): once, before any thread. */
void mp_http_json_arena_install(void);

/* Replies with o as compact JSON (o is borrowed). */
void mp_http_reply_json(mp_worker *w, struct evhttp_request *req, int code, json_t *o);
/* Replies with {"error": message}; message is ours (callers quote untrusted text with
 * mp_diag_quote). */
void mp_http_error(mp_worker *w, struct evhttp_request *req, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Replies with {"code": OPA's code for the status (mp_opa_code), "message": message}: the
 * errors of OPA's routes. message as for mp_http_error. */
void mp_http_opa_error(mp_worker *w, struct evhttp_request *req, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* 400 {"error": message, "field": field} for a missing or mistyped field. */
void mp_http_bad_field(mp_worker *w, struct evhttp_request *req, const char *message);
/* Sets x-meshpol-error: why on the reply (bytes a header cannot carry become '?'). */
void mp_http_set_error_header(struct evhttp_request *req, const char *why);
/* Nothing can be decided, on an endpoint whose every refusal must read as a denial (nginx's):
 * 403, x-meshpol-error: why, and {"allow": false, "error": why}. */
void mp_http_cannot_decide(mp_worker *w, struct evhttp_request *req, const char *why);
/* Replies with len bytes of JSON (copied). */
void mp_http_reply_bytes(mp_worker *w, struct evhttp_request *req, int code, const char *json,
                         size_t len);
/* Replies with the buffer's bytes (emptied) and the content type given. */
void mp_http_reply_buffer(mp_worker *w, struct evhttp_request *req, int code,
                          const char *content_type, struct evbuffer *body);

#endif
