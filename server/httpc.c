/* httpc.c: the server's HTTP client over libcurl (see httpc.h). No HTTP of its own: libcurl
 * speaks it; this file only sets the options meshpol wants and collects the reply. */
#include "httpc.h"
#include "dynlib.h"
#include "version.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define CONNECT_TIMEOUT_S 10
#define LOW_SPEED_TIME_S  30 /* a transfer slower than 1 byte/s for this long is abandoned */
#define TOTAL_TIMEOUT_S   300
#define MAX_TOKEN         8192

/* libcurl, loaded by mp_httpc_global_init (dynlib.h: not at every start of every verb); these
 * are the functions this file calls, as sym_NAME. */
#define CURL_FUNCS(X)                                                                              \
	X(curl_global_init)                                                                        \
	X(curl_global_cleanup)                                                                     \
	X(curl_easy_init)                                                                          \
	X(curl_easy_cleanup)                                                                       \
	X(curl_easy_setopt)                                                                        \
	X(curl_easy_perform)                                                                       \
	X(curl_easy_getinfo)                                                                       \
	X(curl_easy_strerror)                                                                      \
	X(curl_slist_append)                                                                       \
	X(curl_slist_free_all)
CURL_FUNCS(MP_DYNLIB_DECLARE)
static const mp_dynlib_sym curl_syms[] = {CURL_FUNCS(MP_DYNLIB_SYM){NULL, NULL}};
static mp_dynlib libcurl = MP_DYNLIB_INIT("libcurl", MP_SONAME_CURL, curl_syms);
_Static_assert(sizeof(MP_SONAME_CURL) > 1,
               "the Makefile found no libcurl.so (libcurl4-openssl-dev)");

int mp_httpc_global_init(char *err, size_t errlen)
{
	if (mp_dynlib_load(&libcurl, err, errlen) < 0)
		return -1;
	CURLcode c = sym_curl_global_init(CURL_GLOBAL_DEFAULT);
	if (c != CURLE_OK) {
		snprintf(err, errlen, "libcurl: %s", sym_curl_easy_strerror(c));
		return -1;
	}
	return 0;
}

void mp_httpc_global_cleanup(void)
{
	if (sym_curl_global_cleanup) /* NULL: libcurl never loaded */
		sym_curl_global_cleanup();
}

mp_httpc *mp_httpc_new(void)
{
	return sym_curl_easy_init();
}

void mp_httpc_free(mp_httpc *h)
{
	if (h)
		sym_curl_easy_cleanup(h);
}

void mp_httpc_reply_free(mp_httpc_reply *r)
{
	free(r->body);
	r->body = NULL;
	r->len = 0;
}

const char *mp_httpc_redact(const char *url, char *buf, size_t len)
{
	const char *scheme = strstr(url, "://"), *host = scheme ? scheme + 3 : url;
	size_t auth = strcspn(host, "/?#");
	const char *at = memchr(host, '@', auth);
	size_t path = strcspn(at ? at + 1 : host, "?#");
	snprintf(buf, len, "%.*s%.*s", (int)(host - url), url, (int)path, at ? at + 1 : host);
	return buf;
}

typedef struct {
	mp_httpc_reply *r;
	size_t max;
	int over;
} sink;

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
	sink *s = arg;
	size_t k = size * n;
	if (s->r->len + k > s->max) {
		s->over = 1;
		return 0; /* aborts the transfer */
	}
	char *b = realloc(s->r->body, s->r->len + k + 1);
	if (!b)
		return 0;
	memcpy(b + s->r->len, p, k);
	s->r->len += k;
	b[s->r->len] = '\0';
	s->r->body = b;
	return k;
}

static size_t on_header(char *p, size_t size, size_t n, void *arg)
{
	sink *s = arg;
	size_t k = size * n;
	if (k > 5 && !strncasecmp(p, "etag:", 5)) {
		const char *v = p + 5;
		size_t vlen = k - 5;
		while (vlen && (*v == ' ' || *v == '\t'))
			v++, vlen--;
		while (vlen && (v[vlen - 1] == '\r' || v[vlen - 1] == '\n' || v[vlen - 1] == ' '))
			vlen--;
		if (vlen < sizeof(s->r->etag)) {
			memcpy(s->r->etag, v, vlen);
			s->r->etag[vlen] = '\0';
		}
	} else if (k >= 5 && !strncmp(p, "HTTP/", 5)) {
		s->r->etag[0] = '\0'; /* a new reply (after a redirect): its own headers count */
	}
	return k;
}

static int on_progress(void *arg, curl_off_t a, curl_off_t b, curl_off_t c, curl_off_t d)
{
	(void)a, (void)b, (void)c, (void)d;
	atomic_int *stop = arg;
	return stop && atomic_load(stop) ? 1 : 0;
}

/* The bearer token in path: its first line, without the newline. -1 with r->error. */
static int read_token(const char *path, char *tok, size_t len, mp_httpc_reply *r)
{
	FILE *f = fopen(path, "r");
	if (!f || !fgets(tok, (int)len, f)) {
		snprintf(r->error, sizeof(r->error), "%s: cannot read the bearer token", path);
		if (f)
			fclose(f);
		return -1;
	}
	fclose(f);
	tok[strcspn(tok, "\r\n")] = '\0';
	if (!*tok) {
		snprintf(r->error, sizeof(r->error), "%s: the bearer token is empty", path);
		return -1;
	}
	return 0;
}

/* Sets everything but the method, runs the transfer, fills r. */
static int perform(CURL *h, const char *url, struct curl_slist *headers, const mp_httpc_opts *o,
                   mp_httpc_reply *r)
{
	char token[MAX_TOKEN] = "", ua[64];
	sink s = {.r = r, .max = o->max_body};
	memset(r, 0, sizeof(*r));
	if (o->token_file && read_token(o->token_file, token, sizeof(token), r) < 0)
		return -1;
	snprintf(ua, sizeof(ua), "meshpol/%s", MP_VERSION);
	sym_curl_easy_setopt(h, CURLOPT_URL, url);
	sym_curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	sym_curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	sym_curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L);
	sym_curl_easy_setopt(h, CURLOPT_MAXREDIRS, 5L);
	sym_curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	sym_curl_easy_setopt(h, CURLOPT_USERAGENT, ua);
	sym_curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, (long)CONNECT_TIMEOUT_S);
	sym_curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
	sym_curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, (long)LOW_SPEED_TIME_S);
	sym_curl_easy_setopt(h, CURLOPT_TIMEOUT, (long)TOTAL_TIMEOUT_S);
	sym_curl_easy_setopt(h, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)o->max_body);
	sym_curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	sym_curl_easy_setopt(h, CURLOPT_WRITEDATA, &s);
	sym_curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
	sym_curl_easy_setopt(h, CURLOPT_HEADERDATA, &s);
	sym_curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
	sym_curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
	sym_curl_easy_setopt(h, CURLOPT_XFERINFODATA, o->stop);
	sym_curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
	sym_curl_easy_setopt(h, CURLOPT_CAINFO, o->ca);
	if (*token) { /* libcurl never sends it on to another host on a redirect */
		sym_curl_easy_setopt(h, CURLOPT_HTTPAUTH, CURLAUTH_BEARER);
		sym_curl_easy_setopt(h, CURLOPT_XOAUTH2_BEARER, token);
	} else {
		sym_curl_easy_setopt(h, CURLOPT_HTTPAUTH, CURLAUTH_NONE);
		sym_curl_easy_setopt(h, CURLOPT_XOAUTH2_BEARER, NULL);
	}
	CURLcode c = sym_curl_easy_perform(h);
	memset(token, 0, sizeof(token));
	sym_curl_easy_setopt(h, CURLOPT_XOAUTH2_BEARER, NULL);
	sym_curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
	if (c != CURLE_OK) {
		char safe[512];
		snprintf(r->error, sizeof(r->error), "%s: %s",
		         mp_httpc_redact(url, safe, sizeof(safe)),
		         s.over || c == CURLE_FILESIZE_EXCEEDED ? "the reply is over the size limit"
		         : c == CURLE_ABORTED_BY_CALLBACK       ? "stopped (shutting down)"
		                                                : sym_curl_easy_strerror(c));
		mp_httpc_reply_free(r);
		return -1;
	}
	sym_curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r->status);
	return 0;
}

int mp_httpc_get(mp_httpc *h, const char *url, const char *etag, const mp_httpc_opts *o,
                 mp_httpc_reply *r)
{
	char line[300];
	struct curl_slist *headers = NULL;
	if (etag && *etag) {
		snprintf(line, sizeof(line), "If-None-Match: %s", etag);
		headers = sym_curl_slist_append(headers, line);
	}
	sym_curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
	int rc = perform(h, url, headers, o, r);
	sym_curl_slist_free_all(headers);
	return rc;
}

int mp_httpc_post(mp_httpc *h, const char *url, const void *body, size_t len,
                  const char *const *headers, const mp_httpc_opts *o, mp_httpc_reply *r)
{
	struct curl_slist *list = NULL;
	for (const char *const *p = headers; p && *p; p++)
		list = sym_curl_slist_append(list, *p);
	list = sym_curl_slist_append(list, "Expect:"); /* no 100-continue round trip */
	sym_curl_easy_setopt(h, CURLOPT_POST, 1L);
	sym_curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
	sym_curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	int rc = perform(h, url, list, o, r);
	sym_curl_easy_setopt(h, CURLOPT_POSTFIELDS, NULL);
	sym_curl_slist_free_all(list);
	return rc;
}
