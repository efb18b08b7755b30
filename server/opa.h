/* opa.h: the parts of OPA's REST API (the Data API under /v1/data, the default decision at POST /)
 * that are not HTTP plumbing: query parameters, gzip request bodies, the document tree meshpol
 * serves, and the extras a reply can carry (provenance, metrics, explanation). The handlers are
 * in api.c. Reference: docs/server.md ("OPA's REST API"). */
#ifndef MP_OPA_H
#define MP_OPA_H

#include "decide.h"
#include "jsonbuf.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* OPA's error codes (its server/types), the `code` of every error on the OPA routes. */
#define MP_OPA_INVALID_PARAMETER  "invalid_parameter"
#define MP_OPA_INVALID_OPERATION  "invalid_operation"
#define MP_OPA_RESOURCE_NOT_FOUND "resource_not_found"
#define MP_OPA_INTERNAL           "internal_error"

/* The code OPA writes with an HTTP status: 400 and the other 4xx invalid_parameter, 404
 * resource_not_found, 405 invalid_operation, 5xx internal_error. */
const char *mp_opa_code(int status);

/* ?explain=: which of the rules considered the explanation lists. */
enum {
	MP_OPA_EXPLAIN_OFF = 0,
	MP_OPA_EXPLAIN_NOTES, /* the rules that matched: those that made the decision */
	MP_OPA_EXPLAIN_FAILS, /* the rules that did not match, each with why */
	MP_OPA_EXPLAIN_FULL,  /* every rule considered (debug is the same) */
};

/* The query parameters OPA's Data API reads; others are ignored, as OPA ignores them. */
typedef struct {
	int pretty, metrics, provenance, explain; /* explain: MP_OPA_EXPLAIN_* */
	char *input;      /* the last ?input= value, decoded (mp_malloc; may hold NUL), or NULL */
	size_t input_len; /* its length */
} mp_opa_params;

/* Reads a request's query string (NULL: none) into p, as OPA does: a flag is on when given
 * without a value or as "true" (any case); ?explain= takes notes, fails, full or debug; '+' is
 * a space. 0, or -1 with why in err (a malformed %-escape: OPA would drop the pair silently,
 * meshpol refuses the request). p is all zero on -1. mp_opa_params_free releases it. */
int mp_opa_params_read(mp_opa_params *p, const char *query, char *err, size_t errlen);
void mp_opa_params_free(mp_opa_params *p);

/* gunzip: decompresses the gzip stream in (n bytes, one member or several in a row) into *out
 * (mp_malloc, NUL-terminated; *outlen bytes before the NUL). Never holds more than max + 1
 * bytes of output: a bomb stops there. 0; -1 when the result is longer than max; -2 when in is
 * not gzip or ends early (why in err); -3 out of memory. *out is NULL unless 0. */
enum { MP_OPA_GZ_OK = 0, MP_OPA_GZ_TOO_LARGE = -1, MP_OPA_GZ_BAD = -2, MP_OPA_GZ_NOMEM = -3 };
int mp_opa_gunzip(const unsigned char *in, size_t n, size_t max, char **out, size_t *outlen,
                  char *err, size_t errlen);

/* A path under /v1/data: its segments, %-decoded, at most MP_OPA_MAX_SEGMENTS (a longer path
 * names nothing in the tree). */
#define MP_OPA_MAX_SEGMENTS 16
typedef struct {
	char buf[1024];
	const char *seg[MP_OPA_MAX_SEGMENTS];
	uint32_t n;
	int too_deep; /* more segments than seg holds: undefined */
} mp_opa_path;

/* What a path names in the tree (docs/server.md, "The document tree"). */
enum {
	MP_OPA_DOC_UNDEFINED = 0, /* nothing: the reply has no result, and nothing is decided */
	MP_OPA_DOC_ALLOW,         /* meshpol/allow: true or false */
	MP_OPA_DOC_DECISION,      /* meshpol/decision: the decision object */
	MP_OPA_DOC_WALK,          /* anything else of the tree: mp_opa_tree, then mp_opa_walk */
};

/* Splits what follows /v1/data ("", "/", "/meshpol/allow") into segments as OPA does: empty
 * segments skipped, each %-decoded. 0 with the kind of document it names in *doc, or -1 with
 * why in err (a malformed escape, NUL or '"' in a segment, a path longer than buf). */
int mp_opa_path_read(mp_opa_path *p, const char *rest, int *doc, char *err, size_t errlen);

/* The tree for one decision: {"meshpol": {"allow", "effect", "reasons", "decision"}}, the
 * decision object being the decision output (as /v1/decide answers it) with its id. A new
 * reference, or NULL when out of memory. */
json_t *mp_opa_tree(const mp_engine *e, const mp_decision *d, const char *id);

/* The value at p's segments in tree (borrowed), or NULL when undefined. A segment that is an
 * integer indexes an array, as OPA's paths do. */
json_t *mp_opa_walk(json_t *tree, const mp_opa_path *p);

/* Appends "provenance":{"version", "bundles": {NAME: {"revision", "sha256"}},
 * "model": {"sha256"}} for snapshot e. */
void mp_opa_put_provenance(mp_jsonbuf *b, const mp_engine *e);

/* Appends "metrics":{...} with OPA's timer names: timer_rego_input_parse_ns (reading the
 * input: query, gunzip, JSON, fields), timer_rego_query_eval_ns (the engine's decision; 0 when
 * nothing was decided) and timer_server_handler_ns (the whole handler, up to the reply). */
void mp_opa_put_metrics(mp_jsonbuf *b, uint64_t parse_ns, uint64_t eval_ns, uint64_t handler_ns);

/* Keeps the entries of mp_decide's explanation (an array) that mode (MP_OPA_EXPLAIN_*) asks
 * for; arr is changed in place. */
void mp_opa_explain_filter(json_t *arr, int mode);

/* ?pretty: the compact JSON text in (len bytes) re-indented by two spaces, ending in a newline,
 * as OPA's writer prints it; *outlen its length. NULL when out of memory (or in is not JSON,
 * which the callers never give). free() it. */
char *mp_opa_pretty(const char *in, size_t len, size_t *outlen);

#endif
