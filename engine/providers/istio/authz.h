/* authz.h: Istio AuthorizationPolicy with Istio's own semantics, compiled into C at snapshot load
 * and evaluated per request without Lua. Semantics, the request attributes and how the result
 * combines with a policy bundle: docs/import.md ("AuthorizationPolicy").
 *
 * Ownership: an mp_authz owns everything it points at (one arena) and borrows the model it was
 * compiled from, which must outlive it (the engine snapshot owns both). Immutable after
 * mp_authz_compile returns; any number of threads may read it.
 *
 * Evaluation order for one workload (Istio's):
 *  1. a CUSTOM policy whose rules match sends the request to its extension provider. When the
 *     provider is meshpol (the mesh config's entry named by option meshpol-provider), the
 *     bundle answers: its denial (or no bundle) denies, its allow goes on to step 2. Any other
 *     provider meshpol cannot ask: denied with a reason naming CUSTOM as unsupported (never
 *     silently allowed);
 *  2. a DENY policy whose rules match: denied (forbidden);
 *  3. no ALLOW policy applies to the workload: Istio's implicit allow (the verdict ABSTAIN);
 *  4. an ALLOW policy whose rules match: allowed;
 *  5. otherwise denied (not permitted).
 * AUDIT policies never change the verdict; dry-run policies (istio.io/dry-run) are reported the
 * same way. A request to a service is decided on every workload behind it (it may land on any
 * of them) unless the request names one; the most restrictive verdict wins.
 */
#ifndef MP_AUTHZ_H
#define MP_AUTHZ_H

#include "decide.h"
#include "model.h"
#include "provider.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

typedef struct mp_authz mp_authz;

/* Checks one AuthorizationPolicy spec (as the importer converted it to JSON). Returns 0 when it
 * is valid; else -1 with a message in err and, in path, where the offending value is, as keys
 * and indexes separated by '/' ("rules/0/from/1/source/ipBlocks/2"; "" for the spec itself), so
 * the importer can point at its YAML node. */
int mp_authz_check_spec(json_t *spec, char *err, size_t errlen, char *path, size_t pathlen);

/* Compiles every AuthorizationPolicy resource of m and the index of which policies apply to
 * which workload. Returns NULL with a message in err when out of memory or when a stored policy
 * does not compile (a model file crafted by hand). A model without policies compiles to an
 * authz that applies nothing. */
mp_authz *mp_authz_compile(const mp_model *m, char *err, size_t errlen);
void mp_authz_free(mp_authz *a); /* NULL is fine */
uint32_t mp_authz_count(const mp_authz *a);

/* What mp_authz_decide needs besides the model: the request as the decision engine resolved
 * it. Strings are borrowed and may be NULL (absent). */
typedef struct {
	const mp_request *r;
	mp_id dst_svc;       /* the destination service (required; externals are never governed) */
	mp_id dst_cluster;   /* MP_NONE: any cluster of the service */
	mp_str src_identity; /* the caller's identity from the model when the request names its
	                      * service but no principal (automatic mTLS), or 0 */
	uint32_t bundle;     /* mp_provider_bundle: the bundle's own answer, for meshpol's CUSTOM */
} mp_authz_request;

typedef enum {
	MP_AUTHZ_ABSTAIN = 0,   /* no ALLOW policy applies and nothing denied: Istio allows */
	MP_AUTHZ_ALLOW,         /* an ALLOW policy matched on every workload that has one */
	MP_AUTHZ_NOT_PERMITTED, /* ALLOW policies apply and none matched */
	MP_AUTHZ_DENY,          /* a DENY (or unsupported CUSTOM) policy matched */
} mp_authz_verdict;

typedef enum {
	MP_AUTHZ_HIT_ALLOW = 0, /* an ALLOW policy's rule matched */
	MP_AUTHZ_HIT_DENY,      /* a DENY policy's rule matched */
	MP_AUTHZ_HIT_CUSTOM,    /* a CUSTOM policy's rule matched: unsupported (or meshpol's
	                         * bundle denies), denied */
	MP_AUTHZ_HIT_NO_MATCH, /* an ALLOW policy that matched nothing (reason for not permitted) */
	MP_AUTHZ_HIT_AUDIT,    /* an AUDIT (or dry-run) policy's rule matched: reported only */
	MP_AUTHZ_HIT_CUSTOM_NO_BUNDLE, /* meshpol's CUSTOM matched and no bundle answers: denied */
} mp_authz_hit_kind;

#define MP_AUTHZ_RULE_NONE (-1) /* a hit about the policy as a whole (no rule, none matched) */

typedef struct {
	uint32_t policy; /* index into the authz's policies */
	int32_t rule;    /* index of the matching rule, or MP_AUTHZ_RULE_NONE */
	uint32_t kind;   /* mp_authz_hit_kind */
	mp_id workload;  /* the workload it was decided on, or MP_NONE (the service itself) */
} mp_authz_hit;

#define MP_AUTHZ_MAX_HITS 16

typedef struct {
	uint32_t verdict;  /* mp_authz_verdict */
	uint32_t governed; /* some policy (of any action) applies to a workload of the service */
	uint32_t mixed;    /* the service's workloads were decided differently */
	mp_authz_hit hits[MP_AUTHZ_MAX_HITS]; /* reasons for the verdict */
	uint32_t nhits;
	mp_authz_hit audits[8]; /* AUDIT and dry-run matches */
	uint32_t naudits;
} mp_authz_result;

/* Decides q against the policies. Never allocates; never fails. When explain is a JSON array,
 * one object per policy considered is appended (policy, version, rule, type, source, matched,
 * why, workload). */
void mp_authz_decide(const mp_authz *a, const mp_authz_request *q, mp_authz_result *out,
                     json_t *explain);

/* About a hit, for reasons: "AuthorizationPolicy ns/name"; the policy's version (its
 * generation or resourceVersion, or ""); the rule ("rules[N]", "allow-nothing",
 * "no-rule-matched", "deny-all", "custom"); the location ("file:line" of the rule, or of the
 * policy); and a message. Pointers are valid for the authz's life. */
const char *mp_authz_policy_title(const mp_authz *a, uint32_t policy);
const char *mp_authz_policy_version(const mp_authz *a, uint32_t policy);
const char *mp_authz_hit_rule(const mp_authz *a, const mp_authz_hit *h);
const char *mp_authz_hit_loc(const mp_authz *a, const mp_authz_hit *h);
const char *mp_authz_hit_message(const mp_authz *a, const mp_authz_hit *h);

#endif
