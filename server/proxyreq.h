/* proxyreq.h: the decision input of a /v1/check call (Envoy ext_authz HTTP service, nginx
 * auth_request), read from the HTTP request a proxy sends: method and path, the caller's identity
 * (x-forwarded-client-cert, or the TLS peer), the destination (Host or a configured header).
 * Rules: docs/server.md ("/v1/check"). */
#ifndef MP_PROXYREQ_H
#define MP_PROXYREQ_H

#include "decide.h"

struct evkeyvalq;

/* A request read from proxy headers. r's strings point into this struct or into the HTTP
 * request's headers, which must outlive it. */
typedef struct {
	mp_request r;
	mp_header headers[MP_REQUEST_MAX_HEADERS];
	int too_many_headers;         /* more than MP_REQUEST_MAX_HEADERS: decide nothing, deny */
	const char *principal_source; /* "tls", "xfcc" or NULL: where the principal came from */
	char method[16];
	char host[256]; /* the destination as given, lower case, port and final dot removed */
	char svc[256], ns[256];
	char principal[2049];
	char ip[64];
} mp_proxyreq;

/* The inputs of mp_proxyreq_read. */
typedef struct {
	struct evkeyvalq *headers;      /* the HTTP request's */
	const char *method;             /* the HTTP request's method */
	const char *path;               /* the original path: what follows /v1/check */
	const char *destination_header; /* --destination-header, or NULL */
	const char *peer_uri;           /* the verified TLS peer's URI SAN, or NULL */
	const mp_model *model;          /* to tell services from known external hosts */
} mp_proxyreq_in;

/* 0, or -1 with err naming the header at fault (a missing destination, a malformed
 * x-forwarded-client-cert, a bad X-Original-Method): the caller answers 400. */
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

#endif
