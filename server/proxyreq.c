/* proxyreq.c: reading a proxy's question from the HTTP request it sends, through Envoy's front
 * door (/v1/check) or nginx's (/v1/nginx/check); see proxyreq.h. What each door reads, and from
 * where: docs/server.md ("What a caller can claim", "Paths"). */
#include "proxyreq.h"
#include "alloc.h"
#include "diag.h"
#include "match.h"
#include "server.h"
#include "tls.h"

#include <ctype.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>

/* --- x-forwarded-client-cert --- */

/* Copies one value (bare, or "quoted" with \-escapes) at *pp into out. -1 when it is malformed
 * or does not fit. */
static int xfcc_value(const char **pp, char *out, size_t outlen)
{
	const char *p = *pp;
	size_t n = 0;
	if (*p == '"') {
		for (p++; *p && *p != '"'; p++) {
			if (*p == '\\' && p[1])
				p++;
			if (out && n + 1 >= outlen)
				return -1;
			if (out)
				out[n++] = *p;
		}
		if (*p != '"')
			return -1;
		p++;
	} else {
		for (; *p && *p != ';' && *p != ','; p++) {
			if (out && n + 1 >= outlen)
				return -1;
			if (out)
				out[n++] = *p;
		}
	}
	if (out)
		out[n] = '\0';
	*pp = p;
	return 0;
}

int mp_proxyreq_xfcc(const char *value, char *uri, size_t urilen, char *by, size_t bylen)
{
	char elem_uri[2049], elem_by[2049];
	const char *p = value;
	uri[0] = by[0] = '\0';
	while (*p) {
		int have_uri = 0;
		elem_uri[0] = elem_by[0] = '\0';
		for (;;) {
			while (*p == ' ' || *p == '\t')
				p++;
			const char *key = p;
			while (*p && *p != '=' && *p != ';' && *p != ',')
				p++;
			if (*p != '=' || p == key)
				return -1;
			size_t klen = (size_t)(p - key);
			p++;
			char *dst = NULL;
			size_t dlen = 0;
			if (klen == 3 && !strncasecmp(key, "URI", 3) && !have_uri) {
				dst = elem_uri;
				dlen = sizeof(elem_uri);
				have_uri = 1;
			} else if (klen == 2 && !strncasecmp(key, "By", 2)) {
				dst = elem_by;
				dlen = sizeof(elem_by);
			}
			if (xfcc_value(&p, dst, dlen) < 0)
				return -1;
			if (*p == ';') {
				p++;
				continue;
			}
			if (*p == ',') {
				p++;
				if (!*p)
					return -1; /* a trailing comma: an empty last element */
			} else if (*p) {
				return -1;
			}
			break;
		}
		if (strlen(elem_uri) >= urilen || strlen(elem_by) >= bylen)
			return -1;
		memcpy(uri, elem_uri, strlen(elem_uri) + 1);
		memcpy(by, elem_by, strlen(elem_by) + 1);
	}
	return 0;
}

/* --- the destination --- */

int mp_proxyreq_parse_host(mp_proxyreq *p, const char *value, const mp_model *m)
{
	const char *v = value, *end;
	while (*v == ' ' || *v == '\t')
		v++;
	end = v + strlen(v);
	while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	const char *host = v, *host_end = end, *port = NULL;
	if (*v == '[') { /* an IPv6 literal: never a service, maybe an external */
		const char *close = memchr(v, ']', (size_t)(end - v));
		if (!close)
			return -1;
		host_end = close + 1;
		if (host_end < end) {
			if (*host_end != ':')
				return -1;
			port = host_end + 1;
		}
	} else {
		const char *colon = memchr(v, ':', (size_t)(end - v));
		if (colon) {
			host_end = colon;
			port = colon + 1;
		}
	}
	p->r.port = 0;
	if (port) {
		unsigned long n = 0;
		if (port == end || end - port > 5)
			return -1;
		for (const char *q = port; q < end; q++) {
			if (!isdigit((unsigned char)*q))
				return -1;
			n = n * 10 + (unsigned long)(*q - '0');
		}
		if (n < 1 || n > 65535)
			return -1;
		p->r.port = (uint32_t)n;
	}
	if (host_end > host && host_end[-1] == '.')
		host_end--;
	size_t n = (size_t)(host_end - host);
	if (n == 0 || n >= sizeof(p->host))
		return -1;
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)host[i];
		if (ch <= ' ' || ch >= 0x7f)
			return -1;
		p->host[i] = (char)tolower(ch);
	}
	p->host[n] = '\0';

	p->r.dst_service = p->host;
	p->r.dst_namespace = NULL;
	if (mp_model_find_external(m, p->host) != MP_NONE)
		return 0;
	/* svc | svc.ns | svc.ns.svc | svc.ns.svc.<domain> */
	const char *dot1 = strchr(p->host, '.');
	if (!dot1) {
		p->r.dst_service = p->host;
		return 0;
	}
	const char *dot2 = strchr(dot1 + 1, '.');
	if (dot2) {
		const char *dot3 = strchr(dot2 + 1, '.');
		size_t third = dot3 ? (size_t)(dot3 - dot2 - 1) : strlen(dot2 + 1);
		if (third != 3 || strncmp(dot2 + 1, "svc", 3) != 0)
			return 0; /* not a service form: the whole host, unknown */
	}
	size_t slen = (size_t)(dot1 - p->host);
	size_t nlen = dot2 ? (size_t)(dot2 - dot1 - 1) : strlen(dot1 + 1);
	if (slen == 0 || nlen == 0)
		return 0;
	memcpy(p->svc, p->host, slen);
	p->svc[slen] = '\0';
	memcpy(p->ns, dot1 + 1, nlen);
	p->ns[nlen] = '\0';
	if (mp_model_find_service_ns(m, p->ns, p->svc) == MP_NONE)
		return 0; /* name the host as given in the reason */
	p->r.dst_service = p->svc;
	p->r.dst_namespace = p->ns;
	return 0;
}

/* --- the path --- */

int mp_proxyreq_path(const char *target, int escaped_slashes, int params, char *out, size_t outlen,
                     char *why, size_t whylen)
{
	static const char *const slashes_word[] = {"reject", "keep", "unescape"};
	size_t o = 0, rest;
	const char *p = target;
	int in_params = 0; /* stripping a ';' parameter up to the next '/' */
	for (; *p && *p != '?'; p++) {
		char ch = *p;
		int slash = 0, nul = 0; /* an escaped slash or backslash: %2F, %5C or '\' */
		int d = mp_percent_byte(p);
		if (d >= 0) {
			nul = d == 0;
			slash = d == '/' || d == '\\';
		} else {
			slash = ch == '\\';
		}
		if (nul) {
			snprintf(why, whylen, "the path has an encoded NUL (%%00)");
			goto fail;
		}
		if (ch == '#') {
			snprintf(why, whylen,
			         "the path has a '#' (a request target carries no fragment)");
			goto fail;
		}
		if (slash && escaped_slashes == MP_SLASHES_REJECT) {
			snprintf(
			    why, whylen,
			    "the path has an escaped slash or a backslash (%.*s), which backends "
			    "read differently: refused (--escaped-slashes %s)",
			    ch == '%' ? 3 : 1, p, slashes_word[escaped_slashes]);
			goto fail;
		}
		if (ch == ';' && params == MP_PARAMS_REJECT) {
			snprintf(why, whylen,
			         "the path has a ';' parameter, which some backends strip before "
			         "routing: "
			         "refused (--path-params reject)");
			goto fail;
		}
		if (ch == ';' && params == MP_PARAMS_STRIP) {
			in_params = 1;
			continue;
		}
		if (slash && escaped_slashes == MP_SLASHES_UNESCAPE) {
			ch = '/';
			if (*p == '%')
				p += 2;
		}
		if (in_params && ch != '/')
			continue; /* an escape's other two bytes are skipped the same way */
		in_params = 0;
		if (o + 1 >= outlen)
			goto too_long;
		out[o++] = ch;
	}
	rest = strlen(p); /* the query, as it is */
	if (o + rest + 1 > outlen)
		goto too_long;
	memcpy(out + o, p, rest + 1);
	return 0;
too_long:
	snprintf(why, whylen, "the request target is longer than %zu bytes", outlen - 1);
fail:
	return -1;
}

/* --- the whole request --- */

/* The last value of a header (names compared without case), or NULL. */
static const char *find(struct evkeyvalq *h, const char *name)
{
	const char *last = NULL;
	struct evkeyval *kv;
	TAILQ_FOREACH(kv, h, next)
	{
		if (!strcasecmp(kv->key, name))
			last = kv->value;
	}
	return last;
}

void mp_proxyreq_copy_ip(char *out, size_t outlen, const char *v)
{
	size_t n = 0;
	out[0] = '\0';
	while (*v == ' ')
		v++;
	while (v[n] && v[n] != ' ' && v[n] != ',')
		n++;
	if (n == 0 || n >= outlen)
		return;
	for (size_t i = 0; i < n; i++)
		if (!isxdigit((unsigned char)v[i]) && v[i] != '.' && v[i] != ':')
			return;
	memcpy(out, v, n);
	out[n] = '\0';
}

/* The headers nginx's door reads into fields of their own: not request headers of the
 * decision (the caller's certificate alone is a kilobyte per log record). */
static int nginx_plumbing(const char *name)
{
	static const char *const names[] = {"x-original-method", "x-original-uri", "x-real-ip",
	                                    "x-client-cert", "x-client-verify"};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (!strcasecmp(name, names[i]))
			return 1;
	return 0;
}

int mp_proxyreq_method(mp_proxyreq *p, const char *m)
{
	size_t mlen = strlen(m);
	int ok = mlen > 0 && mlen < sizeof(p->method);
	for (size_t i = 0; ok && i < mlen; i++) {
		ok = isalpha((unsigned char)m[i]) || m[i] == '-' || m[i] == '_';
		p->method[i] = (char)toupper((unsigned char)m[i]);
	}
	if (!ok)
		return -1;
	p->method[mlen] = '\0';
	p->r.method = p->method;
	return 0;
}

static int read_method(mp_proxyreq *p, const mp_proxyreq_in *in, char *err, size_t errlen)
{
	const char *m = in->method;
	if (in->door == MP_DOOR_NGINX && !(m = find(in->headers, "X-Original-Method"))) {
		snprintf(err, errlen,
		         "request.method: missing (no X-Original-Method header: see the nginx "
		         "configuration in docs/server.md)");
		goto fail;
	}
	if (mp_proxyreq_method(p, m) < 0) {
		snprintf(err, errlen, "request.method: the %s is not an HTTP method",
		         in->door == MP_DOOR_NGINX ? "X-Original-Method header"
		                                   : "request's method");
		goto fail;
	}
	return 0;
fail:
	return -1;
}

/* The request target: Envoy's what follows /v1/check, nginx's X-Original-URI ($request_uri,
 * which is the absolute form when the client sent one). The front door's options apply. */
static int read_path(mp_proxyreq *p, const mp_proxyreq_in *in, char *err, size_t errlen)
{
	const char *t = in->path;
	if (in->door == MP_DOOR_NGINX) {
		if (!(t = find(in->headers, "X-Original-URI")) || !*t) {
			snprintf(err, errlen,
			         "request.path: missing (no X-Original-URI header: see the nginx "
			         "configuration in docs/server.md)");
			goto fail;
		}
		if (!strncasecmp(t, "http://", 7) || !strncasecmp(t, "https://", 8)) {
			t = strstr(t, "://") + 3;
			t += strcspn(t, "/?");
		}
		if (*t != '/') {
			snprintf(err, errlen,
			         "request.path: the X-Original-URI header is not a path");
			goto fail;
		}
	}
	if (mp_proxyreq_path(t, in->escaped_slashes, in->path_params, p->target, sizeof(p->target),
	                     p->refused_buf, sizeof(p->refused_buf)) < 0) {
		p->refused = p->refused_buf;
		snprintf(p->target, sizeof(p->target), "%s", t); /* as asked, for the log */
	}
	p->r.path = p->target;
	return 0;
fail:
	return -1;
}

static int read_destination(mp_proxyreq *p, const mp_proxyreq_in *in, char *err, size_t errlen)
{
	const char *dname =
	    in->door == MP_DOOR_ENVOY && in->destination_header ? in->destination_header : "Host";
	const char *dest = find(in->headers, dname);
	if (!dest) {
		snprintf(err, errlen, "destination.service: missing (no %s header)", dname);
		goto fail;
	}
	if (mp_proxyreq_parse_host(p, dest, in->model) < 0) {
		snprintf(err, errlen, "destination.service: the %s header is not a host[:port]",
		         dname);
		goto fail;
	}
	return 0;
fail:
	return -1;
}

/* The caller, through Envoy's door: the verified TLS peer; through a proxy that is that peer,
 * the last element of x-forwarded-client-cert (which Envoy sets). */
static int envoy_caller(mp_proxyreq *p, const mp_proxyreq_in *in, char *err, size_t errlen)
{
	char xuri[2049], xby[2049];
	const char *xfcc = in->peer_trusted ? find(in->headers, "x-forwarded-client-cert") : NULL;
	const char *principal = NULL;
	xuri[0] = xby[0] = '\0';
	if (xfcc && mp_proxyreq_xfcc(xfcc, xuri, sizeof(xuri), xby, sizeof(xby)) < 0) {
		snprintf(err, errlen, "source.principal: x-forwarded-client-cert is malformed");
		return -1;
	}
	if (in->peer_uri) {
		/* a forwarded identity counts only when the peer is the proxy that wrote it */
		if (xuri[0] && !strcmp(xby, in->peer_uri)) {
			principal = xuri;
			p->principal_source = "xfcc";
		} else {
			principal = in->peer_uri;
			p->principal_source = "tls";
		}
	} else if (xuri[0]) {
		principal = xuri;
		p->principal_source = "xfcc";
	}
	if (principal) {
		snprintf(p->principal, sizeof(p->principal), "%s", principal);
		p->r.principal = p->principal;
	}
	const char *xff = in->peer_trusted ? find(in->headers, "X-Forwarded-For") : NULL;
	if (xff) { /* the last address: the one Envoy appended (use_remote_address) */
		const char *last = strrchr(xff, ',');
		mp_proxyreq_copy_ip(p->ip, sizeof(p->ip), last ? last + 1 : xff);
	}
	return 0;
}

/* The caller, through nginx's door: the client certificate nginx verified, which the
 * configuration passes as X-Client-Cert ($ssl_client_escaped_cert) with X-Client-Verify
 * ($ssl_client_verify). Never x-forwarded-client-cert: nginx passes the client's own. */
static int nginx_caller(mp_proxyreq *p, const mp_proxyreq_in *in, char *err, size_t errlen)
{
	const char *cert = in->peer_trusted ? find(in->headers, "X-Client-Cert") : NULL;
	const char *verify = in->peer_trusted ? find(in->headers, "X-Client-Verify") : NULL;
	if (cert && *cert && verify && !strcmp(verify, "SUCCESS")) {
		int malformed = 0;
		char *uri = mp_tls_escaped_pem_uri(cert, &malformed);
		if (malformed) {
			snprintf(
			    err, errlen,
			    "source.principal: the X-Client-Cert header is not a URL-escaped PEM "
			    "certificate");
			return -1;
		}
		if (uri) {
			snprintf(p->principal, sizeof(p->principal), "%s", uri);
			p->r.principal = p->principal;
			p->principal_source = "client-cert";
		}
		mp_free(uri);
	}
	const char *ip = in->peer_trusted ? find(in->headers, "X-Real-IP") : NULL;
	if (ip)
		mp_proxyreq_copy_ip(p->ip, sizeof(p->ip), ip);
	return 0;
}

/* Every header, for rules that match headers and for `when`: a name given twice (which
 * value would the backend read?) or more headers than the engine reads leave nothing to
 * decide on. */
static void read_headers(mp_proxyreq *p, const mp_proxyreq_in *in)
{
	mp_request *r = &p->r;
	struct evkeyval *kv;
	r->headers = p->headers;
	TAILQ_FOREACH(kv, in->headers, next)
	{
		if (in->door == MP_DOOR_NGINX && nginx_plumbing(kv->key))
			continue;
		for (uint32_t i = 0; i < r->nheaders && !p->refused; i++) {
			if (strcasecmp(r->headers[i].name, kv->key) != 0)
				continue;
			char q[80];
			snprintf(
			    p->refused_buf, sizeof(p->refused_buf),
			    "the request has the header %s more than once: nothing was decided",
			    mp_diag_quote(kv->key, strlen(kv->key), q, 64));
			p->refused = p->refused_buf;
		}
		if (r->nheaders == MP_REQUEST_MAX_HEADERS) {
			if (!p->refused)
				p->refused =
				    "the request has more headers than the engine reads (64): "
				    "nothing was decided";
			break;
		}
		p->headers[r->nheaders].name = kv->key;
		p->headers[r->nheaders++].value = kv->value;
	}
}

int mp_proxyreq_read(mp_proxyreq *p, const mp_proxyreq_in *in, char *err, size_t errlen)
{
	memset(&p->r, 0, sizeof(p->r));
	p->refused = NULL;
	p->principal_source = NULL;
	p->svc[0] = p->ns[0] = p->host[0] = p->principal[0] = p->ip[0] = '\0';
	int (*read_caller)(mp_proxyreq *, const mp_proxyreq_in *, char *, size_t) =
	    in->door == MP_DOOR_NGINX ? nginx_caller : envoy_caller;
	if (read_method(p, in, err, errlen) < 0 || read_path(p, in, err, errlen) < 0 ||
	    read_destination(p, in, err, errlen) < 0 || read_caller(p, in, err, errlen) < 0)
		return -1;
	if (p->ip[0])
		p->r.src_ip = p->ip;
	read_headers(p, in);
	return 0;
}

json_t *mp_proxyreq_input(const mp_proxyreq *p)
{
	const mp_request *r = &p->r;
	json_t *hdrs = json_object();
	for (uint32_t i = 0; hdrs && i < r->nheaders; i++) {
		char name[256];
		size_t n = strlen(r->headers[i].name);
		if (n >= sizeof(name))
			continue;
		for (size_t k = 0; k <= n; k++)
			name[k] = (char)tolower((unsigned char)r->headers[i].name[k]);
		/* header bytes need not be UTF-8: keep what JSON can carry */
		json_t *v = json_string(r->headers[i].value);
		if (v)
			json_object_set_new(hdrs, name, v);
	}
	json_t *src = json_object(), *dst = json_object(), *req = json_object();
	if (r->principal)
		json_object_set_new(src, "principal", json_string(r->principal));
	if (r->src_ip)
		json_object_set_new(src, "ip", json_string(r->src_ip));
	json_object_set_new(dst, "service", json_string(r->dst_service));
	if (r->dst_namespace)
		json_object_set_new(dst, "namespace", json_string(r->dst_namespace));
	if (r->port)
		json_object_set_new(dst, "port", json_integer(r->port));
	json_object_set_new(req, "method", json_string(r->method));
	json_t *path = json_string(r->path);
	json_object_set_new(req, "path", path ? path : json_string("(not UTF-8)"));
	json_object_set_new(req, "headers", hdrs);
	return json_pack("{s:o, s:o, s:o}", "source", src, "destination", dst, "request", req);
}
