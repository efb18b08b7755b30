/* httpc.c: the server's HTTP client over libcurl (see httpc.h). No HTTP of its own: libcurl
 * speaks it; this file only sets the options meshpol wants and collects the reply. */
#include "httpc.h"
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

int mp_httpc_global_init(char *err, size_t errlen)
{
	CURLcode c = curl_global_init(CURL_GLOBAL_DEFAULT);
	if (c != CURLE_OK) {
		snprintf(err, errlen, "libcurl: %s", curl_easy_strerror(c));
		return -1;
	}
	return 0;
}

void mp_httpc_global_cleanup(void)
{
	curl_global_cleanup();
}

mp_httpc *mp_httpc_new(void)
{
	return curl_easy_init();
}

void mp_httpc_free(mp_httpc *h)
{
	if (h)
		curl_easy_cleanup(h);
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
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L);
	curl_easy_setopt(h, CURLOPT_MAXREDIRS, 5L);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_USERAGENT, ua);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, (long)CONNECT_TIMEOUT_S);
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, (long)LOW_SPEED_TIME_S);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, (long)TOTAL_TIMEOUT_S);
	curl_easy_setopt(h, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)o->max_body);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &s);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, &s);
	curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(h, CURLOPT_XFERINFODATA, o->stop);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(h, CURLOPT_CAINFO, o->ca);
	if (*token) { /* libcurl never sends it on to another host on a redirect */
		curl_easy_setopt(h, CURLOPT_HTTPAUTH, CURLAUTH_BEARER);
		curl_easy_setopt(h, CURLOPT_XOAUTH2_BEARER, token);
	} else {
		curl_easy_setopt(h, CURLOPT_HTTPAUTH, CURLAUTH_NONE);
		curl_easy_setopt(h, CURLOPT_XOAUTH2_BEARER, NULL);
	}
	CURLcode c = curl_easy_perform(h);
	memset(token, 0, sizeof(token));
	curl_easy_setopt(h, CURLOPT_XOAUTH2_BEARER, NULL);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
	if (c != CURLE_OK) {
		char safe[512];
		snprintf(r->error, sizeof(r->error), "%s: %s",
		         mp_httpc_redact(url, safe, sizeof(safe)),
		         s.over || c == CURLE_FILESIZE_EXCEEDED ? "the reply is over the size limit"
		         : c == CURLE_ABORTED_BY_CALLBACK       ? "stopped (shutting down)"
		                                                : curl_easy_strerror(c));
		mp_httpc_reply_free(r);
		return -1;
	}
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r->status);
	return 0;
}

int mp_httpc_get(mp_httpc *h, const char *url, const char *etag, const mp_httpc_opts *o,
                 mp_httpc_reply *r)
{
	char line[300];
	struct curl_slist *headers = NULL;
	if (etag && *etag) {
		snprintf(line, sizeof(line), "If-None-Match: %s", etag);
		headers = curl_slist_append(headers, line);
	}
	curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
	int rc = perform(h, url, headers, o, r);
	curl_slist_free_all(headers);
	return rc;
}

int mp_httpc_post(mp_httpc *h, const char *url, const void *body, size_t len,
                  const char *const *headers, const mp_httpc_opts *o, mp_httpc_reply *r)
{
	struct curl_slist *list = NULL;
	for (const char *const *p = headers; p && *p; p++)
		list = curl_slist_append(list, *p);
	list = curl_slist_append(list, "Expect:"); /* no 100-continue round trip */
	curl_easy_setopt(h, CURLOPT_POST, 1L);
	curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	int rc = perform(h, url, list, o, r);
	curl_easy_setopt(h, CURLOPT_POSTFIELDS, NULL);
	curl_slist_free_all(list);
	return rc;
}
