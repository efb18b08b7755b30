/* head.c: the reply's status line and headers, written by the server on a plain connection that
 * stays open. evhttp_send_reply formats the status line and each header with a printf of its
 * own, and first adds Date and Content-Length to the request's header list (allocations, a
 * gmtime and a strftime-like format per reply): a quarter of an unlogged check's instructions.
 * Here the head is sized, then written once into the connection's output buffer, the body after
 * it; the Date text is made once a second per thread. The bytes are those of libevent 2.1's
 * evhttp_make_header for the same reply (tests/e2e/server_head.sh compares them with the TLS
 * listener's, which evhttp still writes). Design: docs/server.md ("Performance").
 *
 * evhttp is then told the reply is complete as its own writer would leave it: the bufferevent
 * in writing mode (its read callback off, its write callback evhttp's), the request done
 * (evhttp_send_reply_end: with bytes still queued it only sets the write-done callback, which
 * frees the request and reads the next once the output buffer is empty). Everything else, TLS,
 * replies that close the connection, HEAD, a request read chunked, anything unusual, goes
 * through evhttp_send_reply as before. */
#include "head.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/http_struct.h>
#include <event2/keyvalq_struct.h>
#include <event2/util.h>
#include <string.h>
#include <sys/queue.h>
#include <time.h>

/* The phrases of the statuses the server sends; libevent's own words where it has them (its
 * table: 2.1's http.c), so that both paths write the same status line. A status not here goes
 * through evhttp. */
static const struct {
	int code;
	const char *reason;
	int ours; /* libevent has no phrase for it: evhttp_send_reply is given this one */
} phrases[] = {
    {200, "OK", 0},
    {400, "Bad Request", 0},
    {401, "Unauthorized", 0},
    {403, "Forbidden", 0},
    {404, "Not Found", 0},
    {405, "Method Not Allowed", 0},
    {413, "Request Entity Too Large", 0},
    {422, "Unprocessable Entity", 1},
    {431, "Request Header Fields Too Large", 1},
    {500, "Internal Server Error", 0},
    {503, "Service Unavailable", 0},
};

static const char *phrase(int code, int ours_only)
{
	for (size_t i = 0; i < sizeof(phrases) / sizeof(phrases[0]); i++)
		if (phrases[i].code == code)
			return !ours_only || phrases[i].ours ? phrases[i].reason : NULL;
	return NULL;
}

const char *mp_head_reason(int code)
{
	return phrase(code, 1);
}

/* A byte a header line may carry as it is (RFC 9110 5.5: visible, space, tab, obs-text). */
static int header_byte_ok(unsigned char c)
{
	return c >= 0x20 ? c != 0x7f : c == '\t';
}

static char *put_clean(char *o, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		o[i] = header_byte_ok((unsigned char)s[i]) ? s[i] : '?';
	return o + n;
}

void mp_head_clean(struct evkeyvalq *h)
{
	struct evkeyval *kv;
	TAILQ_FOREACH(kv, h, next)
	{
		put_clean(kv->key, kv->key, strlen(kv->key));
		put_clean(kv->value, kv->value, strlen(kv->value));
	}
}

/* "Date: <RFC 1123 date>\r\n" for now, the text made by libevent's own formatter (as evhttp's
 * Date header is) once a second per thread. */
static size_t date_line(const char **line)
{
	static _Thread_local struct {
		time_t sec;
		size_t len;
		char text[64];
	} d = {.sec = -1};
	time_t now = time(NULL);
	if (now != d.sec) {
		struct tm tm;
		char date[50];
		if (!gmtime_r(&now, &tm))
			return 0;
		int n = evutil_date_rfc1123(date, sizeof(date), &tm);
		if (n <= 0 || (size_t)n >= sizeof(date))
			return 0;
		memcpy(d.text, "Date: ", 6);
		memcpy(d.text + 6, date, (size_t)n);
		memcpy(d.text + 6 + n, "\r\n", 2);
		d.len = 6 + (size_t)n + 2;
		d.sec = now;
	}
	*line = d.text;
	return d.len;
}

/* Does the first header name of h say value (evhttp's test: the whole value, or with prefix
 * only its first n bytes, case-insensitive)? */
static int header_is(struct evkeyvalq *h, const char *name, const char *value, int prefix)
{
	const char *v = evhttp_find_header(h, name);
	if (!v)
		return 0;
	return prefix ? !evutil_ascii_strncasecmp(v, value, strlen(value))
	              : !evutil_ascii_strcasecmp(v, value);
}

/* A header of the reply's list that evhttp would look at, or that this writer adds itself. */
static int header_reserved(const char *key)
{
	static const char *const names[] = {"Date",         "Content-Length", "Transfer-Encoding",
	                                    "Content-Type", "Connection",     "Proxy-Connection"};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (!evutil_ascii_strcasecmp(key, names[i]))
			return 1;
	return 0;
}

static char *put(char *o, const char *s, size_t n)
{
	memcpy(o, s, n);
	return o + n;
}

#define PUT_LIT(o, lit) put((o), (lit), sizeof(lit) - 1)

static char *put_uint(char *o, size_t v)
{
	char digits[24];
	int n = 0;
	do {
		digits[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	while (n)
		*o++ = digits[--n];
	return o;
}

int mp_head_send(struct evhttp_request *req, int code, const char *content_type, const char *body,
                 size_t len)
{
	struct evhttp_connection *evcon = req->evcon;
	struct bufferevent *bev = evcon ? evhttp_connection_get_bufferevent(evcon) : NULL;
	const char *reason = phrase(code, 0);
	/* evhttp's rules (evhttp_make_header_response, evhttp_send_done): a reply that closes the
	 * connection, has no body, or answers a request it failed to read (no URI) is left to it */
	if (!bev || !reason || bufferevent_openssl_get_ssl(bev) || !req->uri ||
	    (req->flags & EVHTTP_PROXY_REQUEST) || req->chunked || req->major != 1 ||
	    (req->minor != 0 && req->minor != 1) || req->type == EVHTTP_REQ_HEAD)
		return -1;
	int keepalive_10 = header_is(req->input_headers, "Connection", "keep-alive", 1);
	if ((req->minor == 0 && !keepalive_10) ||
	    header_is(req->input_headers, "Connection", "close", 0))
		return -1;
	bufferevent_data_cb rd, wr;
	bufferevent_event_cb ev;
	void *arg;
	bufferevent_getcb(bev, &rd, &wr, &ev, &arg);
	if (!wr || arg != evcon) /* not evhttp's callbacks: this is not the state it left */
		return -1;

	/* size it: the status line, the list, Content-Type, Date or Connection, Content-Length */
	const char *date = NULL;
	size_t date_len = req->minor == 1 ? date_line(&date) : 0;
	if (req->minor == 1 && !date_len)
		return -1;
	size_t reason_len = strlen(reason), ctype_len = strlen(content_type);
	size_t need = sizeof("HTTP/1.1 200 \r\n") - 1 + reason_len;
	struct evkeyval *kv;
	TAILQ_FOREACH(kv, req->output_headers, next)
	{
		if (header_reserved(kv->key))
			return -1;
		need += strlen(kv->key) + 2 + strlen(kv->value) + 2;
	}
	struct evbuffer *out_body = body ? NULL : evhttp_request_get_output_buffer(req);
	size_t body_len = body ? len : evbuffer_get_length(out_body);
	need += sizeof("Content-Type: \r\n") - 1 + ctype_len + date_len +
	        (req->minor == 0 ? sizeof("Connection: keep-alive\r\n") - 1 : 0) +
	        sizeof("Content-Length: \r\n") - 1 + 20 + 2;
	size_t inline_len = body ? len : 0;
	if (need > (size_t)-1 / 2 - inline_len)
		return -1;

	struct evbuffer *out = bufferevent_get_output(bev);
	struct evbuffer_iovec v;
	if (evbuffer_reserve_space(out, (ev_ssize_t)(need + inline_len), &v, 1) != 1 ||
	    v.iov_len < need + inline_len)
		return -1;
	char *o = v.iov_base;
	o = PUT_LIT(o, "HTTP/1.");
	*o++ = req->minor == 1 ? '1' : '0';
	*o++ = ' ';
	o = put_uint(o, (size_t)code);
	*o++ = ' ';
	o = put(o, reason, reason_len);
	o = PUT_LIT(o, "\r\n");
	TAILQ_FOREACH(kv, req->output_headers, next)
	{
		o = put_clean(o, kv->key, strlen(kv->key));
		o = PUT_LIT(o, ": ");
		o = put_clean(o, kv->value, strlen(kv->value));
		o = PUT_LIT(o, "\r\n");
	}
	o = PUT_LIT(o, "Content-Type: ");
	o = put_clean(o, content_type, ctype_len);
	o = PUT_LIT(o, "\r\n");
	if (date_len)
		o = put(o, date, date_len);
	else
		o = PUT_LIT(o, "Connection: keep-alive\r\n");
	o = PUT_LIT(o, "Content-Length: ");
	o = put_uint(o, body_len);
	o = PUT_LIT(o, "\r\n\r\n");
	if (body)
		o = put(o, body, len);
	v.iov_len = (size_t)(o - (char *)v.iov_base);
	if (evbuffer_commit_space(out, &v, 1) < 0)
		return -1;
	if (out_body)
		evbuffer_add_buffer(out, out_body);

	/* as evhttp_write_buffer leaves the connection, then the request done
	 * (evhttp_send_reply_end sets the write-done callback; the output buffer is not empty) */
	bufferevent_setcb(bev, NULL, wr, ev, arg);
	bufferevent_enable(bev, EV_WRITE);
	evhttp_send_reply_end(req);
	return 0;
}
