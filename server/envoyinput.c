/* envoyinput.c: OPA-Envoy's input read through Envoy's front door (see envoyinput.h). The shape
 * is what OPA-Envoy builds in envoyauth/request.go: the CheckRequest in protojson, whose names
 * are lowerCamelCase (socketAddress); protojson reads the proto names too (socket_address), so
 * both are accepted. What each field becomes: docs/server.md ("OPA-Envoy's input"). */
#include "envoyinput.h"
#include "alloc.h"
#include "diag.h"

#include <ctype.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>

int mp_envoyinput_is(json_t *input)
{
	return json_is_object(input) && json_object_get(input, "attributes") != NULL;
}

/* o's member under its protojson name or its proto name. */
static json_t *member(json_t *o, const char *json_name, const char *proto_name)
{
	json_t *v = json_object_get(o, json_name);
	return v ? v : json_object_get(o, proto_name);
}

/* The object at o.key, NULL when absent; -1 with err (where.key) when it is not an object. */
static int get_object(json_t *o, const char *key, const char *proto_key, const char *where,
                      json_t **out, char *err, size_t errlen)
{
	json_t *v = json_is_object(o) ? member(o, key, proto_key ? proto_key : key) : NULL;
	*out = NULL;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_object(v)) {
		snprintf(err, errlen, "%s.%s: must be an object", where, key);
		return -1;
	}
	*out = v;
	return 0;
}

/* The string at o.key, NULL when absent or empty (protojson leaves empty strings out); -1 with
 * err when it is not a string. */
static int get_string(json_t *o, const char *key, const char *where, const char **out, char *err,
                      size_t errlen)
{
	json_t *v = json_is_object(o) ? json_object_get(o, key) : NULL;
	*out = NULL;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_string(v)) {
		snprintf(err, errlen, "%s.%s: must be a string", where, key);
		return -1;
	}
	*out = *json_string_value(v) ? json_string_value(v) : NULL;
	return 0;
}

/* An HTTP field name (RFC 9110 token)? */
static int is_token(const char *s)
{
	if (!*s)
		return 0;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && !strchr("!#$%&'*+-.^_`|~", *s))
			return 0;
	return 1;
}

/* http.headers into e->headers, as the HTTP request Envoy's door reads: pseudo-headers
 * (:authority, :path, ...) are not headers of the request and are left out; the destination
 * goes in as Host unless a host header is there. */
static int read_headers(mp_envoyinput *e, json_t *hdrs, const char *host, char *err, size_t errlen)
{
	static const char where[] = "input.attributes.request.http.headers";
	const char *name;
	json_t *v;
	char q[80];
	int have_host = 0;
	if (!(e->headers = mp_malloc(sizeof(*e->headers)))) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	TAILQ_INIT(e->headers);
	json_object_foreach(hdrs, name, v)
	{
		if (!json_is_string(v)) {
			snprintf(err, errlen, "%s.%s: must be a string", where,
			         mp_diag_quote(name, strlen(name), q, 64));
			return -1;
		}
		if (name[0] == ':')
			continue;
		if (!is_token(name)) {
			snprintf(err, errlen, "%s: %s is not a header name", where,
			         mp_diag_quote(name, strlen(name), q, 64));
			return -1;
		}
		if (evhttp_add_header(e->headers, name, json_string_value(v)) < 0) {
			snprintf(err, errlen, "%s.%s: a header value cannot hold CR or LF", where,
			         mp_diag_quote(name, strlen(name), q, 64));
			return -1;
		}
		have_host |= !strcasecmp(name, "host");
	}
	if (host && !have_host && evhttp_add_header(e->headers, "Host", host) < 0) {
		snprintf(err, errlen, "input.attributes.request.http.host: cannot hold CR or LF");
		return -1;
	}
	return 0;
}

int mp_envoyinput_read(mp_envoyinput *e, json_t *input, const mp_proxyreq_in *door, char *err,
                       size_t errlen)
{
	static const char where[] = "input.attributes.request.http";
	json_t *attrs, *req, *http, *hdrs, *src, *addr, *sock;
	const char *method, *path, *host, *principal, *ip;
	char perr[400];
	e->headers = NULL;
	if (get_object(input, "attributes", NULL, "input", &attrs, err, errlen) < 0 ||
	    get_object(attrs, "request", NULL, "input.attributes", &req, err, errlen) < 0 ||
	    get_object(req, "http", NULL, "input.attributes.request", &http, err, errlen) < 0 ||
	    get_object(http, "headers", NULL, where, &hdrs, err, errlen) < 0 ||
	    get_object(attrs, "source", NULL, "input.attributes", &src, err, errlen) < 0 ||
	    get_object(src, "address", NULL, "input.attributes.source", &addr, err, errlen) < 0 ||
	    get_object(addr, "socketAddress", "socket_address", "input.attributes.source.address",
	               &sock, err, errlen) < 0)
		return -1;
	if (!http) {
		snprintf(err, errlen, "%s: missing (OPA-Envoy's input describes an HTTP request)",
		         where);
		return -1;
	}
	/* the fields, else the pseudo-headers Envoy also puts in the header map */
	if (get_string(http, "method", where, &method, err, errlen) < 0 ||
	    (!method && get_string(hdrs, ":method", where, &method, err, errlen) < 0) ||
	    get_string(http, "path", where, &path, err, errlen) < 0 ||
	    (!path && get_string(hdrs, ":path", where, &path, err, errlen) < 0) ||
	    get_string(http, "host", where, &host, err, errlen) < 0 ||
	    (!host && get_string(hdrs, ":authority", where, &host, err, errlen) < 0) ||
	    get_string(src, "principal", "input.attributes.source", &principal, err, errlen) < 0 ||
	    get_string(sock, "address", "input.attributes.source.address.socketAddress", &ip, err,
	               errlen) < 0)
		return -1;
	if (!method || !path) {
		snprintf(err, errlen, "%s.%s: missing", where, method ? "path" : "method");
		return -1;
	}
	if (path[0] != '/') {
		snprintf(err, errlen, "%s.path: must start with '/'", where);
		return -1;
	}
	if (!host && !door->destination_header) {
		snprintf(err, errlen, "%s.host: missing (the destination)", where);
		return -1;
	}
	if (read_headers(e, hdrs, host, err, errlen) < 0)
		return -1;
	mp_proxyreq_in in = *door;
	in.door = MP_DOOR_ENVOY;
	in.headers = e->headers;
	in.method = method;
	in.path = path;
	in.peer_uri = principal; /* the peer certificate Envoy verified: as a TLS peer's */
	in.peer_trusted = 1;     /* the caller states the whole input, as on /v1/decide */
	if (mp_proxyreq_read(&e->p, &in, perr, sizeof(perr)) < 0) {
		snprintf(err, errlen, "%s: %s", where, perr);
		return -1;
	}
	if (ip) { /* the address Envoy accepted the connection from, over x-forwarded-for */
		mp_proxyreq_copy_ip(e->p.ip, sizeof(e->p.ip), ip);
		if (!e->p.ip[0] || strlen(e->p.ip) != strlen(ip)) {
			snprintf(err, errlen,
			         "input.attributes.source.address.socketAddress.address: not an IP "
			         "address");
			return -1;
		}
		e->p.r.src_ip = e->p.ip;
	}
	return 0;
}

void mp_envoyinput_free(mp_envoyinput *e)
{
	if (e->headers)
		evhttp_clear_headers(e->headers);
	mp_free(e->headers);
	e->headers = NULL;
}
