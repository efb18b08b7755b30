/* proxyreq.c: reading a /v1/check call's decision input from the headers a proxy sends (see
 * proxyreq.h; rules in docs/server.md, "/v1/check"). */
#include "proxyreq.h"

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

/* --- the whole request --- */

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

static void copy_ip(char *out, size_t outlen, const char *v)
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

int mp_proxyreq_read(mp_proxyreq *p, const mp_proxyreq_in *in, char *err, size_t errlen)
{
	mp_request *r = &p->r;
	memset(r, 0, sizeof(*r));
	p->too_many_headers = 0;
	p->principal_source = NULL;
	p->svc[0] = p->ns[0] = p->host[0] = p->principal[0] = p->ip[0] = '\0';

	/* method and path */
	const char *m = find(in->headers, "X-Original-Method");
	if (!m)
		m = in->method;
	size_t mlen = strlen(m);
	if (mlen == 0 || mlen >= sizeof(p->method)) {
		snprintf(err, errlen, "X-Original-Method: not an HTTP method");
		return -1;
	}
	for (size_t i = 0; i < mlen; i++) {
		if (!isalpha((unsigned char)m[i]) && m[i] != '-' && m[i] != '_') {
			snprintf(err, errlen, "X-Original-Method: not an HTTP method");
			return -1;
		}
		p->method[i] = (char)toupper((unsigned char)m[i]);
	}
	p->method[mlen] = '\0';
	r->method = p->method;
	const char *uri = find(in->headers, "X-Original-URI");
	r->path = uri && *uri ? uri : in->path;

	/* destination */
	const char *dname = in->destination_header ? in->destination_header : "Host";
	const char *dest = find(in->headers, dname);
	if (!dest && in->destination_header) {
		dname = "Host";
		dest = find(in->headers, "Host");
	}
	if (!dest) {
		snprintf(err, errlen, "destination.service: missing (no %s header)",
		         in->destination_header ? in->destination_header : "Host");
		return -1;
	}
	if (mp_proxyreq_parse_host(p, dest, in->model) < 0) {
		snprintf(err, errlen, "destination.service: the %s header is not a host[:port]",
		         dname);
		return -1;
	}

	/* the caller: the verified TLS peer; through a proxy that peer, XFCC's last element */
	char xuri[2049], xby[2049];
	const char *xfcc = find(in->headers, "x-forwarded-client-cert");
	xuri[0] = xby[0] = '\0';
	if (xfcc && mp_proxyreq_xfcc(xfcc, xuri, sizeof(xuri), xby, sizeof(xby)) < 0) {
		snprintf(err, errlen, "source.principal: x-forwarded-client-cert is malformed");
		return -1;
	}
	const char *principal = NULL;
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
		r->principal = p->principal;
	}
	const char *ip = find(in->headers, "X-Real-IP");
	if (ip) {
		copy_ip(p->ip, sizeof(p->ip), ip);
	} else if ((ip = find(in->headers, "X-Forwarded-For"))) {
		const char *last = strrchr(ip, ',');
		copy_ip(p->ip, sizeof(p->ip), last ? last + 1 : ip);
	}
	if (p->ip[0])
		r->src_ip = p->ip;

	/* every header, for rules that match headers and for `when` */
	struct evkeyval *kv;
	r->headers = p->headers;
	TAILQ_FOREACH(kv, in->headers, next)
	{
		if (r->nheaders == MP_REQUEST_MAX_HEADERS) {
			p->too_many_headers = 1;
			break;
		}
		p->headers[r->nheaders].name = kv->key;
		p->headers[r->nheaders++].value = kv->value;
	}
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
