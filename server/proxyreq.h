/* proxyreq.h: the decision input of a proxy's question, read from the HTTP request the proxy
 * sends, through one of two front doors: Envoy's ext_authz HTTP service (/v1/check/...: method
 * and path from the request line) and nginx's auth_request (/v1/nginx/check: method, URI and
 * the verified client certificate from headers the nginx configuration sets). What each door
 * lets a caller claim: docs/server.md ("What a caller can claim"). */
#ifndef MP_PROXYREQ_H
#define MP_PROXYREQ_H

#include "decide.h"

struct evkeyvalq;

/* The front doors. */
enum { MP_DOOR_ENVOY = 0, MP_DOOR_NGINX = 1 };

#define MP_PROXYREQ_MAX_TARGET 8192 /* the longest request target (path and query) decided */

/* A request read from what a proxy sends. r's strings point into this struct or into the HTTP
 * request's headers, which must outlive it. */
typedef struct {
	mp_request r;
	mp_header headers[MP_REQUEST_MAX_HEADERS];
	/* Why nothing may be decided (the request is then denied with this as the reason), or
	 * NULL: more headers than the engine reads, a header given twice, a path the front door's
	 * options refuse. Points into refused_buf or at a constant. */
	const char *refused;
	char refused_buf[320];
	const char *principal_source; /* "tls", "xfcc", "client-cert" or NULL: where the principal
	                                 came from */
	char method[16];
	char host[256]; /* the destination as given, lower case, port and final dot removed */
	char svc[256], ns[256];
	char principal[2049];
	char ip[64];
	char target[MP_PROXYREQ_MAX_TARGET]; /* the path (and query) decided, after the options */
} mp_proxyreq;

/* The inputs of mp_proxyreq_read. */
typedef struct {
	int door;                       /* MP_DOOR_* */
	struct evkeyvalq *headers;      /* the HTTP request's */
	const char *method;             /* the HTTP request's method (Envoy's door) */
	const char *path;               /* Envoy's door: what follows /v1/check in the target */
	const char *destination_header; /* Envoy's door: --destination-header, or NULL (Host) */
	const char *peer_uri;           /* Envoy's door: the verified TLS peer's URI SAN, or NULL */
	int peer_trusted;               /* the peer may forward identities (--trusted-proxy) */
	int escaped_slashes;            /* MP_SLASHES_* */
	int path_params;                /* MP_PARAMS_* */
	const mp_model *model;          /* to tell services from known external hosts */
} mp_proxyreq_in;

/* 0, or -1 with err naming the header at fault ("destination.service: missing (no Host
 * header)", "source.principal: x-forwarded-client-cert is malformed"): nothing can be decided,
 * and the caller answers so (Envoy's door 400, nginx's 403). A request that can be read but
 * must not be decided returns 0 with p->refused set. */
int mp_proxyreq_read(mp_proxyreq *p, const mp_proxyreq_in *in, char *err, size_t errlen);

/* The decision input p stands for, as /v1/decide would take it (for the decision log). */
json_t *mp_proxyreq_input(const mp_proxyreq *p);

/* Parses a Host value: svc, svc.ns, svc.ns.svc, svc.ns.svc.<domain>, each with an optional
 * :port, or a host the model knows as an external (whole, into svc). A name that fits none of
 * the forms, or names no service of the model, goes whole into svc (the decision then says the
 * destination is unknown). 0, or -1 when the value is empty, too long or its port is bad. */
int mp_proxyreq_parse_host(mp_proxyreq *p, const char *value, const mp_model *m);

/* Reads an x-forwarded-client-cert value (Envoy's format: elements separated by ',', key=value
 * pairs by ';', values optionally double-quoted with \-escapes). Copies the first URI= and the
 * By= of the LAST element into uri and by ("" when absent). 0, or -1 when it is malformed or a
 * value does not fit. */
int mp_proxyreq_xfcc(const char *value, char *uri, size_t urilen, char *by, size_t bylen);

/* Sets p's method from m, upper-cased: 0, or -1 when m is not a method (letters, '-', '_';
 * 1 to 15 bytes). */
int mp_proxyreq_method(mp_proxyreq *p, const char *m);

/* Copies the address at the start of v (up to a space or ',': hex digits, '.' and ':' only, as
 * IPv4 and IPv6 text are) into out; out is "" when there is none or it does not fit. */
void mp_proxyreq_copy_ip(char *out, size_t outlen, const char *v);

/* What a front door does with a request target before the engine normalises its path
 * (docs/server.md, "Paths"): %2F, %5C and '\' as escaped_slashes says (MP_SLASHES_*), ';'
 * parameters as params says (MP_PARAMS_*); %00 and '#' are always refused. The query is copied
 * as it is. 0 with the result in out, or -1 with why (a deny reason naming the option) in why;
 * -1 with why too when out is too small. */
int mp_proxyreq_path(const char *target, int escaped_slashes, int params, char *out, size_t outlen,
                     char *why, size_t whylen);

#endif
