/* decide.h: one request -> one decision with reasons. Combination rule, effects and the JSON
 * shapes: docs/policy-language.md ("Decisions"), docs/cli.md ("decide") and docs/server.md. */
#ifndef MP_DECIDE_H
#define MP_DECIDE_H

#pragma GCC visibility push(default) /* the engine's interface: exported */

#include "engine.h"
#include "request.h"

#include <jansson.h>
#include <stdint.h>

/* Reads a decision input object. Strings point into input, which must outlive r; headers go
 * into hbuf (MP_REQUEST_MAX_HEADERS entries). 0, or -1 with the offending field named first in
 * err ("destination.service: missing", "request.headers.x: must be a string", "request.methd:
 * unknown key (did you mean 'method'?)"): every key is checked against the input's tables,
 * except inside context, request.headers, request.auth.claims and source.labels. */
int mp_request_from_json(json_t *input, mp_request *r, mp_header *hbuf, char *err, size_t errlen);

/* The deepest field a mask names, and its longest segment: the decision log's writers
 * (server/loginput.c) follow masks this far and no further, so a longer mask is refused at
 * load rather than left to mask nothing. */
#define MP_MASK_MAX_DEPTH   16
#define MP_MASK_MAX_SEGMENT 255

/* Is path (dotted, as bundle.yaml's `mask` gives it: "request.headers.authorization") a field
 * the decision input can hold, and one a mask can name (MP_MASK_MAX_DEPTH, MP_MASK_MAX_SEGMENT)?
 * 0, or -1 with why in err, in mp_request_from_json's words. */
int mp_request_field_check(const char *path, char *err, size_t errlen);

typedef enum { MP_EFFECT_ALLOWED = 0, MP_EFFECT_FORBIDDEN, MP_EFFECT_NOT_PERMITTED } mp_effect;
typedef enum {
	MP_REASON_ALLOW = 0,
	MP_REASON_DENY,
	MP_REASON_ERROR,
	MP_REASON_AUDIT, /* a provider's audit rule matched (advisories only) */
} mp_reason_kind;

/* Where a reason comes from when a mesh provider made it (provider.h): the provider's name, the
 * resource as "Kind ns/name", its version, the rule (index, or -1 for the resource as a whole,
 * and name) and the source location ("file:line"). Strings are borrowed from the snapshot.
 * All zero (provider NULL) for reasons of the bundle or the engine. */
typedef struct {
	const char *provider, *resource, *version;
	int32_t rule;
	const char *rule_name, *source;
} mp_reason_origin;

typedef struct {
	uint32_t rule; /* index into the bundle's rules, or MP_NONE for the engine's own reasons */
	uint32_t kind; /* mp_reason_kind */
	const char *message; /* borrowed from the bundle, or from the decision's text buffer */
	mp_reason_origin origin;
} mp_reason;

#define MP_MAX_REASONS 32

/* A decision. Self-contained: messages point into the bundle or into `text`. */
typedef struct {
	uint32_t effect; /* mp_effect */
	int allow;
	mp_reason reasons[MP_MAX_REASONS];
	uint32_t nreasons, dropped;
	mp_reason advisories[8]; /* deny rules of advisory policies that matched */
	uint32_t nadvisories;
	mp_id src_svc, dst_svc, dst_ext; /* what the request resolved to, MP_NONE when unknown */
	char text[512];                  /* messages made at decision time (errors) */
	size_t text_used;
} mp_decision;

/* A reason as the decision output shows it, whoever made it (a bundle rule, a mesh provider's
 * resource, the engine): front-ends that print reasons their own way read them
 * here. Strings are borrowed from the engine or d, or written into buf; via may be NULL. */
typedef struct {
	const char *policy, *version, *rule, *effect, *message, *source, *via;
} mp_reason_text;
void mp_decision_reason(const mp_engine *e, const mp_decision *d, int advisory, uint32_t i,
                        mp_reason_text *out, char *buf, size_t len);

/* Decides r against the evaluator's snapshot. Never fails: problems (an unknown destination, a
 * `when` that errors) become deny reasons. When explain is a JSON array, one object per rule
 * considered is appended: {policy, version, rule, type, loc, matched, why}. */
void mp_decide(mp_evaluator *ev, const mp_request *r, mp_decision *out, json_t *explain);

const char *mp_effect_name(uint32_t effect);

/* What the policies say about a declared route as a whole (for the auditor), from the route's
 * source service to one of its targets, for every request the route's match admits:
 * MP_ROUTE_ALLOWED when some allow rule can permit some of them, MP_ROUTE_FORBIDDEN when a deny
 * or traffic rule forbids all of them (*rule is set), MP_ROUTE_NOT_PERMITTED when no allow rule
 * can permit any. Rules with a `when` count as possibly matching, so they never make a route
 * forbidden; residency is left to the auditor's path analysis. */
typedef enum { MP_ROUTE_ALLOWED = 0, MP_ROUTE_FORBIDDEN, MP_ROUTE_NOT_PERMITTED } mp_route_verdict;
mp_route_verdict mp_decide_route(const mp_engine *e, mp_id route, uint32_t target, uint32_t *rule);

/* The decision output object of DESIGN.md (decision_id, allow, effect, reasons, advisories,
 * bundle {name, revision, sha256}, model {sha256}) as a jansson tree, for front-ends that add to
 * it or read it: the bytes of the one encoder (decision_json.h) parsed, so json_dumps with
 * JSON_COMPACT | JSON_PRESERVE_ORDER gives back those bytes. id may be NULL (a fresh UUID is
 * made). A new reference, or NULL when out of memory. */
json_t *mp_decision_json(const mp_engine *e, const mp_decision *d, const char *id);

/* A random UUID (version 4) as 36 characters and a NUL. */
void mp_uuid(char out[37]);

#pragma GCC visibility pop

#endif
