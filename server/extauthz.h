/* extauthz.h: Envoy's gRPC ext_authz messages and the decision input: a CheckRequest's bytes
 * -> the request the engine decides (through the same checks as the HTTP front doors,
 * proxyreq.h), and a decision -> the CheckResponse's bytes. No sockets, no HTTP/2 (grpc.c).
 * The messages: server/proto/ext_authz.proto; which field is read from where and why:
 * docs/server.md ("gRPC ext_authz"). */
#ifndef MP_EXTAUTHZ_H
#define MP_EXTAUTHZ_H

#include "ext_authz.pb-c.h"
#include "proxyreq.h"

typedef Envoy__Service__Auth__V3__CheckRequest mp_extauthz_msg;

/* Where an unpacked CheckRequest lives: a bump allocator that remembers each block's size,
 * which is how an embedded NUL in a string is seen (protobuf-c copies a string of n bytes into
 * a block of n + 1 and says nothing when one of them is a NUL). Owned by one thread; reset
 * after each request. */
typedef struct mp_extauthz_arena mp_extauthz_arena;
mp_extauthz_arena *mp_extauthz_arena_new(void);
void mp_extauthz_arena_reset(mp_extauthz_arena *a); /* invalidates every message unpacked */
void mp_extauthz_arena_free(mp_extauthz_arena *a);

/* The CheckRequest in len bytes (the gRPC message, without its 5-byte prefix), unpacked into
 * the arena; NULL when it is not a valid protobuf message of that type. */
mp_extauthz_msg *mp_extauthz_unpack(mp_extauthz_arena *a, const uint8_t *data, size_t len);

/* What the gRPC door knows besides the message. */
typedef struct {
	const char *destination_header; /* --destination-header, or NULL */
	int peer_trusted;               /* the gRPC peer may forward identities (--trusted-proxy) */
	int escaped_slashes;            /* MP_SLASHES_* */
	int path_params;                /* MP_PARAMS_* */
	const mp_model *model;
} mp_extauthz_in;

/* A CheckRequest read as a decision input. p.r's strings point into the message (which must
 * outlive it), into p, or into raw. */
typedef struct {
	mp_proxyreq p;
	char dst_ip[64];
	const char *dst_cluster; /* context_extensions["destination_cluster"], or NULL */
	const char *dst_from;    /* where the destination came from (for errors and the log) */
	json_t *context;         /* {"context_extensions": {...}} or NULL; owned */
	char *raw;               /* header_map's raw values, each with a NUL (mp_malloc) */
} mp_extauthz;

/* mp_extauthz_read's results. */
enum {
	MP_EXTAUTHZ_OK = 0,
	MP_EXTAUTHZ_UNDECIDABLE = -1, /* read, but nothing can be decided: err names the field */
	MP_EXTAUTHZ_MALFORMED = -2,   /* a string is not UTF-8 or holds a NUL: no valid message */
};

/* Reads m (unpacked into a) into q. MP_EXTAUTHZ_OK (q->p.refused may be set: decided as a
 * denial that says why), or one of the errors above with err naming the field
 * ("attributes.request.http.method: ..."). Whatever it returns, mp_extauthz_free(q) after. */
int mp_extauthz_read(mp_extauthz *q, const mp_extauthz_arena *a, const mp_extauthz_msg *m,
                     const mp_extauthz_in *in, char *err, size_t errlen);
void mp_extauthz_free(mp_extauthz *q);

/* The decision input q stands for, as /v1/decide would take it (for the decision log). */
json_t *mp_extauthz_input(const mp_extauthz *q);

/* The reply to a CheckRequest. */
typedef struct {
	int allow;
	int32_t code;        /* CheckResponse.status.code: 0 OK, 7 PERMISSION_DENIED, 3, 13 */
	const char *message; /* its message, or NULL */
	const char *id;      /* the decision id (x-meshpol-decision-id), or NULL */
	const char *error;   /* x-meshpol-error on a denial that is no decision, or NULL */
	const char *body;    /* the denial's body (JSON), or NULL */
	size_t body_len;
} mp_extauthz_reply;

/* Packs the CheckResponse of r as a gRPC message (the 5-byte prefix and the protobuf) into a
 * new mp_malloc'd buffer; NULL when out of memory. */
uint8_t *mp_extauthz_pack(const mp_extauthz_reply *r, size_t *len);

#endif
