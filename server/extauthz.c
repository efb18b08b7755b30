/* extauthz.c: a CheckRequest (Envoy's gRPC ext_authz) read as a decision input, and the
 * CheckResponse that answers it; see extauthz.h. What is read from where, and why the peer's
 * principal wins over any header: docs/server.md ("gRPC ext_authz"). */
#include "extauthz.h"
#include "alloc.h"
#include "diag.h"
#include "server.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

typedef Envoy__Service__Auth__V3__AttributeContext actx_t;
typedef Envoy__Service__Auth__V3__AttributeContext__Peer peer_t;
typedef Envoy__Service__Auth__V3__AttributeContext__HttpRequest http_t;
typedef Envoy__Service__Auth__V3__HeaderValue hv_t;

/* --- the arena --- */

#define ARENA_HDR   16u /* before each block: its size (keeps blocks 16-byte aligned) */
#define ARENA_CHUNK 16384u

typedef struct chunk {
	struct chunk *next;
	size_t cap, used;
	_Alignas(16) unsigned char data[];
} chunk;

struct mp_extauthz_arena {
	chunk *head; /* the chunk blocks come from; the first one made is kept across resets */
	chunk *first;
};

static chunk *chunk_new(size_t cap)
{
	chunk *c = mp_malloc(sizeof(*c) + cap);
	if (c) {
		c->next = NULL;
		c->cap = cap;
		c->used = 0;
	}
	return c;
}

mp_extauthz_arena *mp_extauthz_arena_new(void)
{
	mp_extauthz_arena *a = mp_calloc(1, sizeof(*a));
	if (a && !(a->first = a->head = chunk_new(ARENA_CHUNK))) {
		mp_free(a);
		a = NULL;
	}
	return a;
}

void mp_extauthz_arena_reset(mp_extauthz_arena *a)
{
	while (a->head != a->first) {
		chunk *next = a->head->next;
		mp_free(a->head);
		a->head = next;
	}
	a->first->used = 0;
}

void mp_extauthz_arena_free(mp_extauthz_arena *a)
{
	if (!a)
		return;
	mp_extauthz_arena_reset(a);
	mp_free(a->first);
	mp_free(a);
}

static void *arena_alloc(void *data, size_t size)
{
	mp_extauthz_arena *a = data;
	size_t need = ARENA_HDR + ((size + 15) & ~(size_t)15);
	if (a->head->cap - a->head->used < need) {
		chunk *c = chunk_new(need > ARENA_CHUNK ? need : ARENA_CHUNK);
		if (!c)
			return NULL;
		c->next = a->head;
		a->head = c;
	}
	unsigned char *p = a->head->data + a->head->used;
	a->head->used += need;
	memcpy(p, &size, sizeof(size));
	return p + ARENA_HDR;
}

static void arena_free(void *data, void *p)
{
	(void)data; /* everything goes at the reset */
	(void)p;
}

mp_extauthz_msg *mp_extauthz_unpack(mp_extauthz_arena *a, const uint8_t *data, size_t len)
{
	ProtobufCAllocator al = {arena_alloc, arena_free, a};
	return envoy__service__auth__v3__check_request__unpack(&al, len, data);
}

/* A string of the message: absent, or exactly the bytes that were sent (no NUL among them:
 * its block is one byte longer than the string) and UTF-8, as proto3 requires. */
static int str_ok(const char *s)
{
	if (!s || s == protobuf_c_empty_string)
		return 1;
	size_t size, n = strlen(s);
	memcpy(&size, s - ARENA_HDR, sizeof(size));
	return size == n + 1 && mp_utf8_valid(s, n);
}

static int present(const char *s)
{
	return s && *s;
}

/* --- reading --- */

/* Checks a string field; MALFORMED with err naming it when it is not one. */
#define CHECK_STR(s, name)                                                                         \
	do {                                                                                       \
		if (!str_ok(s)) {                                                                  \
			snprintf(err, errlen,                                                      \
			         "%s: not a valid string (not UTF-8, or a NUL in it)", name);      \
			return MP_EXTAUTHZ_MALFORMED;                                              \
		}                                                                                  \
	} while (0)

/* Nothing may be decided, for the first reason found (a denial that says why). */
static void refuse(mp_proxyreq *p, const char *fmt, const char *name)
{
	char q[80];
	if (p->refused)
		return;
	snprintf(p->refused_buf, sizeof(p->refused_buf), fmt,
	         name ? mp_diag_quote(name, strlen(name), q, 64) : "");
	p->refused = p->refused_buf;
}

/* One request header: a name given twice, or more than the engine reads, leaves nothing to
 * decide on, as on the HTTP door. */
static void push_header(mp_proxyreq *p, const char *name, const char *value)
{
	mp_request *r = &p->r;
	for (uint32_t i = 0; i < r->nheaders; i++)
		if (!strcasecmp(r->headers[i].name, name))
			refuse(p,
			       "the request has the header %s more than once: nothing was decided",
			       name);
	if (r->nheaders == MP_REQUEST_MAX_HEADERS) {
		refuse(p,
		       "the request has more headers than the engine reads (64)%s: nothing was "
		       "decided",
		       NULL);
		return;
	}
	p->headers[r->nheaders].name = name;
	p->headers[r->nheaders++].value = value;
}

/* Pseudo-headers and host are not pushed: their values are the method, path and host. */
static void add_header(mp_proxyreq *p, const char *name, const char *value)
{
	if (name[0] != ':' && strcasecmp(name, "host") != 0)
		push_header(p, name, value);
}

static const char *find_header(const mp_request *r, const char *name)
{
	for (uint32_t i = 0; i < r->nheaders; i++)
		if (!strcasecmp(r->headers[i].name, name))
			return r->headers[i].value;
	return NULL;
}

/* headers (a map) or header_map (encode_raw_headers: raw values, names not merged). The host
 * header is the request's host (Envoy's :authority). */
static int read_headers(mp_extauthz *q, const http_t *h, char *err, size_t errlen)
{
	mp_proxyreq *p = &q->p;
	const char *host = present(h->host) ? h->host : NULL;
	CHECK_STR(h->host, "attributes.request.http.host");
	p->r.headers = p->headers;
	for (size_t i = 0; i < h->n_headers; i++) {
		const char *k = h->headers[i]->key, *v = h->headers[i]->value;
		CHECK_STR(k, "attributes.request.http.headers");
		CHECK_STR(v, "attributes.request.http.headers");
		if (!host && (!strcmp(k, ":authority") || !strcasecmp(k, "host")))
			host = v;
	}
	const Envoy__Service__Auth__V3__HeaderMap *hm = h->header_map;
	size_t raw = 0, used = 0;
	for (size_t i = 0; hm && i < hm->n_headers; i++)
		raw += hm->headers[i]->raw_value.len + 1;
	if (raw && !(q->raw = mp_malloc(raw))) {
		snprintf(err, errlen, "attributes.request.http.header_map: out of memory");
		return MP_EXTAUTHZ_UNDECIDABLE;
	}
	/* the raw values, NUL-terminated, before any pointer to them is taken */
	for (size_t i = 0; hm && i < hm->n_headers; i++) {
		const hv_t *v = hm->headers[i];
		CHECK_STR(v->key, "attributes.request.http.header_map.key");
		CHECK_STR(v->value, "attributes.request.http.header_map.value");
		if (v->raw_value.len) {
			memcpy(q->raw + used, v->raw_value.data, v->raw_value.len);
			if (memchr(v->raw_value.data, 0, v->raw_value.len))
				refuse(p, "the header %s has a NUL byte: nothing was decided",
				       v->key);
			used += v->raw_value.len;
			q->raw[used++] = '\0';
		}
	}
	if (host)
		push_header(p, "host", host);
	for (size_t i = 0; i < h->n_headers; i++)
		add_header(p, h->headers[i]->key, h->headers[i]->value);
	used = 0;
	for (size_t i = 0; hm && i < hm->n_headers; i++) {
		const hv_t *v = hm->headers[i];
		const char *value = v->value;
		if (v->raw_value.len) {
			value = q->raw + used;
			used += v->raw_value.len + 1;
		}
		if (!host && (!strcmp(v->key, ":authority") || !strcasecmp(v->key, "host"))) {
			host = value;
			push_header(p, "host", host);
		}
		add_header(p, v->key, value);
	}
	return MP_EXTAUTHZ_OK;
}

/* An IP address of a peer (a socket address; a pipe has none) into out, or "". */
static int read_ip(const peer_t *peer, char *out, size_t outlen, uint32_t *port, const char *name,
                   char *err, size_t errlen)
{
	unsigned char buf[16];
	const Envoy__Service__Auth__V3__SocketAddress *sa =
	    peer && peer->address ? peer->address->socket_address : NULL;
	out[0] = '\0';
	if (!sa)
		return MP_EXTAUTHZ_OK;
	CHECK_STR(sa->address, name);
	if (strlen(sa->address) < outlen && (inet_pton(AF_INET, sa->address, buf) == 1 ||
	                                     inet_pton(AF_INET6, sa->address, buf) == 1))
		snprintf(out, outlen, "%s", sa->address);
	if (port)
		*port = sa->port_value <= 65535 ? sa->port_value : 0;
	return MP_EXTAUTHZ_OK;
}

/* The destination: context_extensions' destination, else --destination-header, else the
 * request's host, else the destination peer's principal (a TCP connection has no host). */
static int read_destination(mp_extauthz *q, const actx_t *ac, const mp_extauthz_in *in,
                            const char *ext_dest, int http, char *err, size_t errlen)
{
	mp_proxyreq *p = &q->p;
	const peer_t *dst = ac->destination;
	const char *value = NULL, *what = NULL;
	uint32_t port = 0;
	int rc = read_ip(dst, q->dst_ip, sizeof(q->dst_ip), &port, "attributes.destination.address",
	                 err, errlen);
	if (rc != MP_EXTAUTHZ_OK)
		return rc;
	CHECK_STR(dst ? dst->principal : NULL, "attributes.destination.principal");
	if (ext_dest) {
		value = ext_dest;
		what = "context_extensions destination";
	} else if (http && in->destination_header) {
		if (!(value = find_header(&p->r, in->destination_header))) {
			snprintf(err, errlen, "destination.service: missing (no %s header)",
			         in->destination_header);
			return MP_EXTAUTHZ_UNDECIDABLE;
		}
		what = "header";
	} else if ((value = find_header(&p->r, "host"))) {
		what = "host";
	}
	if (value) {
		q->dst_from = what;
		if (mp_proxyreq_parse_host(p, value, in->model) < 0) {
			snprintf(err, errlen,
			         "destination.service: the %s%s%s is not a host[:port]", what,
			         !strcmp(what, "header") ? " " : "",
			         !strcmp(what, "header") ? in->destination_header : "");
			return MP_EXTAUTHZ_UNDECIDABLE;
		}
	} else if (dst && present(dst->principal)) {
		q->dst_from = "destination principal";
		mp_id s = mp_model_find_service_by_identity(in->model, dst->principal);
		p->r.dst_service = dst->principal; /* unknown: named as given */
		if (s != MP_NONE) {
			mp_model_view v = mp_model_get_view(in->model);
			snprintf(p->svc, sizeof(p->svc), "%s",
			         mp_model_str(in->model, v.services[s].name));
			snprintf(p->ns, sizeof(p->ns), "%s",
			         mp_model_str(in->model, v.namespaces[v.services[s].ns].name));
			p->r.dst_service = p->svc;
			p->r.dst_namespace = p->ns;
		}
	} else {
		snprintf(err, errlen,
		         "destination.service: missing (no attributes.request.http.host, no "
		         "context_extensions destination, no attributes.destination.principal)");
		return MP_EXTAUTHZ_UNDECIDABLE;
	}
	if (!p->r.port && port)
		p->r.port = port;
	if (q->dst_ip[0])
		p->r.dst_ip = q->dst_ip;
	return MP_EXTAUTHZ_OK;
}

/* The caller: the principal Envoy reports for the downstream peer (from its certificate), else
 * the last URI= of x-forwarded-client-cert (which Envoy sets, SANITIZE_SET); nothing of it from
 * a peer outside --trusted-proxy. */
static int read_source(mp_extauthz *q, const actx_t *ac, const mp_extauthz_in *in, char *err,
                       size_t errlen)
{
	mp_proxyreq *p = &q->p;
	const peer_t *src = ac->source;
	char xuri[2049], xby[2049];
	CHECK_STR(src ? src->principal : NULL, "attributes.source.principal");
	int rc = read_ip(src, p->ip, sizeof(p->ip), NULL, "attributes.source.address", err, errlen);
	if (rc != MP_EXTAUTHZ_OK || !in->peer_trusted) {
		p->ip[0] = '\0';
		return rc;
	}
	if (p->ip[0])
		p->r.src_ip = p->ip;
	if (src && present(src->principal)) {
		snprintf(p->principal, sizeof(p->principal), "%s", src->principal);
		p->principal_source = "peer";
	} else {
		const char *xfcc = find_header(&p->r, "x-forwarded-client-cert");
		if (xfcc && mp_proxyreq_xfcc(xfcc, xuri, sizeof(xuri), xby, sizeof(xby)) < 0) {
			snprintf(err, errlen,
			         "source.principal: x-forwarded-client-cert is malformed");
			return MP_EXTAUTHZ_UNDECIDABLE;
		}
		if (!xfcc || !xuri[0])
			return MP_EXTAUTHZ_OK;
		snprintf(p->principal, sizeof(p->principal), "%s", xuri);
		p->principal_source = "xfcc";
	}
	p->r.principal = p->principal;
	return MP_EXTAUTHZ_OK;
}

/* context_extensions: every key for `when` functions (req.context.context_extensions), and the
 * keys meshpol reads: destination, destination_cluster. */
static int read_extensions(mp_extauthz *q, const actx_t *ac, const char **dest, char *err,
                           size_t errlen)
{
	json_t *ext = NULL;
	*dest = NULL;
	for (size_t i = 0; i < ac->n_context_extensions; i++) {
		const char *k = ac->context_extensions[i]->key,
		           *v = ac->context_extensions[i]->value;
		CHECK_STR(k, "attributes.context_extensions");
		CHECK_STR(v, "attributes.context_extensions");
		if (!strcmp(k, "destination"))
			*dest = v;
		else if (!strcmp(k, "destination_cluster") && *v)
			q->dst_cluster = v;
		if (!ext && !(ext = json_object()))
			continue;
		json_object_set_new(ext, k, json_string(v));
	}
	if (ext) {
		q->context = json_pack("{s:o}", "context_extensions", ext);
		q->p.r.context = q->context;
	}
	q->p.r.dst_cluster = q->dst_cluster;
	return MP_EXTAUTHZ_OK;
}

int mp_extauthz_read(mp_extauthz *q, const mp_extauthz_arena *a, const mp_extauthz_msg *m,
                     const mp_extauthz_in *in, char *err, size_t errlen)
{
	mp_proxyreq *p = &q->p;
	const char *ext_dest;
	int rc;
	(void)a; /* the strings' blocks are read through str_ok */
	memset(&p->r, 0, sizeof(p->r));
	p->refused = p->principal_source = NULL;
	p->svc[0] = p->ns[0] = p->host[0] = p->principal[0] = p->ip[0] = '\0';
	q->dst_ip[0] = '\0';
	q->dst_cluster = q->dst_from = NULL;
	q->context = NULL;
	q->raw = NULL;
	const actx_t *ac = m ? m->attributes : NULL;
	if (!ac) {
		snprintf(err, errlen, "attributes: missing");
		return MP_EXTAUTHZ_UNDECIDABLE;
	}
	const http_t *h = ac->request ? ac->request->http : NULL;
	if (h) {
		CHECK_STR(h->method, "attributes.request.http.method");
		CHECK_STR(h->path, "attributes.request.http.path");
		if (mp_proxyreq_method(p, h->method) < 0) {
			snprintf(err, errlen, "attributes.request.http.method: %s",
			         present(h->method) ? "not an HTTP method" : "missing");
			return MP_EXTAUTHZ_UNDECIDABLE;
		}
		if (h->path[0] != '/') {
			snprintf(err, errlen, "attributes.request.http.path: %s",
			         present(h->path) ? "not a path" : "missing");
			return MP_EXTAUTHZ_UNDECIDABLE;
		}
		if (mp_proxyreq_path(h->path, in->escaped_slashes, in->path_params, p->target,
		                     sizeof(p->target), p->refused_buf,
		                     sizeof(p->refused_buf)) < 0) {
			p->refused = p->refused_buf;
			snprintf(p->target, sizeof(p->target), "%s", h->path); /* for the log */
		}
		p->r.path = p->target;
		if ((rc = read_headers(q, h, err, errlen)) != MP_EXTAUTHZ_OK)
			return rc;
	}
	if ((rc = read_extensions(q, ac, &ext_dest, err, errlen)) != MP_EXTAUTHZ_OK ||
	    (rc = read_destination(q, ac, in, ext_dest, h != NULL, err, errlen)) !=
	        MP_EXTAUTHZ_OK ||
	    (rc = read_source(q, ac, in, err, errlen)) != MP_EXTAUTHZ_OK)
		return rc;
	const Envoy__Service__Auth__V3__AttributeContext__TLSSession *tls = ac->tls_session;
	if (tls) {
		CHECK_STR(tls->sni, "attributes.tls_session.sni");
		if (present(tls->sni))
			p->r.sni = tls->sni;
	}
	return MP_EXTAUTHZ_OK;
}

void mp_extauthz_free(mp_extauthz *q)
{
	json_decref(q->context);
	q->context = NULL;
	mp_free(q->raw);
	q->raw = NULL;
}

json_t *mp_extauthz_input(const mp_extauthz *q)
{
	const mp_request *r = &q->p.r;
	json_t *in = mp_proxyreq_input(&q->p);
	json_t *dst = json_object_get(in, "destination"), *req = json_object_get(in, "request");
	if (r->dst_ip)
		json_object_set_new(dst, "ip", json_string(r->dst_ip));
	if (r->dst_cluster)
		json_object_set_new(dst, "cluster", json_string(r->dst_cluster));
	if (!r->method && !r->path) /* a TCP connection */
		json_object_del(req, "path");
	if (r->sni)
		json_object_set_new(req, "sni", json_string(r->sni));
	if (q->context)
		json_object_set(in, "context", q->context);
	return in;
}

/* --- the reply --- */

#define INIT_HV  ENVOY__SERVICE__AUTH__V3__HEADER_VALUE__INIT
#define INIT_HVO ENVOY__SERVICE__AUTH__V3__HEADER_VALUE_OPTION__INIT

uint8_t *mp_extauthz_pack(const mp_extauthz_reply *r, size_t *len)
{
	Envoy__Service__Auth__V3__Status st = ENVOY__SERVICE__AUTH__V3__STATUS__INIT;
	Envoy__Service__Auth__V3__BoolValue replace = ENVOY__SERVICE__AUTH__V3__BOOL_VALUE__INIT;
	Envoy__Service__Auth__V3__HeaderValue hv[3] = {INIT_HV, INIT_HV, INIT_HV};
	Envoy__Service__Auth__V3__HeaderValueOption hvo[3] = {INIT_HVO, INIT_HVO, INIT_HVO};
	Envoy__Service__Auth__V3__HeaderValueOption *hvp[3];
	Envoy__Service__Auth__V3__HttpStatus forbidden =
	    ENVOY__SERVICE__AUTH__V3__HTTP_STATUS__INIT;
	Envoy__Service__Auth__V3__OkHttpResponse ok =
	    ENVOY__SERVICE__AUTH__V3__OK_HTTP_RESPONSE__INIT;
	Envoy__Service__Auth__V3__DeniedHttpResponse denied =
	    ENVOY__SERVICE__AUTH__V3__DENIED_HTTP_RESPONSE__INIT;
	Envoy__Service__Auth__V3__CheckResponse resp =
	    ENVOY__SERVICE__AUTH__V3__CHECK_RESPONSE__INIT;
	const char *names[3], *values[3];
	size_t n = 0;
	if (r->id) {
		names[n] = "x-meshpol-decision-id";
		values[n++] = r->id;
	}
	if (r->error) {
		names[n] = "x-meshpol-error";
		values[n++] = r->error;
	}
	if (!r->allow && r->body) {
		names[n] = "content-type";
		values[n++] = "application/json";
	}
	for (size_t i = 0; i < n; i++) {
		hv[i].key = (char *)names[i];
		hv[i].value = (char *)values[i];
		hvo[i].header = &hv[i];
		hvo[i].append = &replace;
		hvp[i] = &hvo[i];
	}
	st.code = r->code;
	st.message = (char *)(r->message ? r->message : "");
	resp.status = &st;
	if (r->allow) {
		ok.n_headers = n;
		ok.headers = hvp;
		resp.http_response_case =
		    ENVOY__SERVICE__AUTH__V3__CHECK_RESPONSE__HTTP_RESPONSE_OK_RESPONSE;
		resp.ok_response = &ok;
	} else {
		forbidden.code = 403;
		denied.status = &forbidden;
		denied.n_headers = n;
		denied.headers = hvp;
		denied.body = (char *)(r->body ? r->body : "");
		resp.http_response_case =
		    ENVOY__SERVICE__AUTH__V3__CHECK_RESPONSE__HTTP_RESPONSE_DENIED_RESPONSE;
		resp.denied_response = &denied;
	}
	size_t size = envoy__service__auth__v3__check_response__get_packed_size(&resp);
	uint8_t *out = mp_malloc(size + 5);
	if (!out)
		return NULL;
	out[0] = 0; /* not compressed */
	out[1] = (uint8_t)(size >> 24);
	out[2] = (uint8_t)(size >> 16);
	out[3] = (uint8_t)(size >> 8);
	out[4] = (uint8_t)size;
	envoy__service__auth__v3__check_response__pack(&resp, out + 5);
	*len = size + 5;
	return out;
}
