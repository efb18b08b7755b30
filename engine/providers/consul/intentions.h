/* intentions.h: Consul's intentions compiled from the model's resources (the ServiceIntentions,
 * ServiceDefaults, ProxyDefaults and Mesh entries and each datacenter's ConsulConfig, as
 * import_consul.c stores them) and decided as the Envoy RBAC filters Consul generates enforce
 * them (consul agent/xds/rbac.go). Used by the provider's authorization ops (provider_consul.c)
 * and, over the model being compiled, by its analyzers (analyze_consul.c). Semantics:
 * docs/import.md ("Consul").
 *
 * Ownership: a consul_authz owns what it allocated and borrows the model, which must outlive it
 * (the engine snapshot owns both). Immutable once compiled: any number of threads may decide
 * with it; deciding allocates nothing (RE2 aside: regex.h).
 *
 * Deciding one request for a destination (Consul namespace, name, partition):
 *  1. the intentions that apply: the destination's entry, its namespace's `*` entry and the
 *     `*`/`*` entry, each source once (the highest precedence wins: removeSameSourceIntentions),
 *     in precedence order (9 down to 1; ties as Consul's sorter breaks them);
 *  2. M: those whose source matches the caller (peer, partition, namespace, name);
 *  3. A: M[0] and every later one with fewer wildcards than all before it (removeSourcePrecedence
 *     subtracts a higher intention only from lower ones whose source contains its own, so
 *     normally A = {M[0]}: exactly one intention decides);
 *  4. each intention yields its action (L4), the first matching permission's (L7 on an HTTP-like
 *     destination), deny (L7 on any other: Consul's RBAC treats it so), or nothing;
 *  5. default deny: allowed when some intention of A allows, forbidden when A[0] denies, else
 *     the default; default allow: forbidden when some intention of A denies, else allowed.
 * A caller without a client certificate is refused (strict mTLS) or passed unchecked
 * (permissive mTLS). */
#ifndef MP_CONSUL_INTENTIONS_H
#define MP_CONSUL_INTENTIONS_H

#include "decide.h"
#include "model.h"
#include "regex.h"

#include <stddef.h>
#include <stdint.h>

enum { CX_NONE = 0, CX_ALLOW, CX_DENY, CX_L7 };
enum { CH_PRESENT = 0, CH_EXACT, CH_PREFIX, CH_SUFFIX, CH_CONTAINS, CH_REGEX };
enum { CP_NONE = 0, CP_EXACT, CP_PREFIX, CP_REGEX };

typedef struct {
	const char *name; /* lower case */
	uint8_t kind, invert, nocase;
	const char *value;
	size_t len;
	mp_regex *re;
} cx_header;

typedef struct {
	uint8_t action; /* CX_ALLOW or CX_DENY */
	uint8_t jwt;    /* it has a jwt requirement: an allow then needs request.auth */
	uint8_t path_kind;
	const char *path;
	size_t path_len;
	mp_regex *re;
	uint32_t methods; /* MP_METHOD_* bits; 0: every method */
	cx_header *h;
	uint32_t nh;
	const char *rule, *loc; /* "sources[N].permissions[M]", "file:line" */
} cx_perm;

struct cx_entry;

typedef struct {
	const char *name, *ns, *partition, *peer, *sameness; /* defaults applied; "" when none */
	uint8_t wild;   /* wildcards: 0 exact, 1 name `*`, 2 namespace and name `*` */
	uint8_t action; /* CX_ALLOW, CX_DENY or CX_L7 */
	uint8_t prec;   /* Consul's precedence, 9..1 */
	cx_perm *perms;
	uint32_t nperms;
	uint32_t index;                               /* N of sources[N], as written */
	const char *rule, *rule_nomatch, *what, *loc; /* "sources[N]", "...no-permission-matched",
	                                               * "sources[N] (web)", "file:line" */
	mp_loc mloc;
	const struct cx_entry *entry;
} cx_source;

typedef struct cx_entry {
	mp_str ns_id, name_id, part_id; /* the destination, as model strings */
	const char *ns, *name, *partition;
	const char *title, *version, *loc; /* "ServiceIntentions ns/name" */
	mp_loc mloc;
	uint32_t jwt;   /* JWT.Providers: every HTTP request needs a token */
	cx_source *src; /* in precedence order */
	uint32_t nsrc;
} cx_entry;

typedef struct {
	const char *ns, *name; /* ProxyDefaults: "default", "global" */
	const char *protocol;  /* lower case, or NULL */
	uint32_t permissive;   /* mutualTLSMode: 1 permissive, 0 strict or unset */
	uint32_t has_mode;
	const char *title, *mtls_loc;
} cx_defaults;

typedef struct {
	mp_id cluster;
	const char *datacenter, *partition;
	uint32_t ns_mode; /* CNS_*: off, mirror, single */
	const char *prefix, *single;
	uint32_t default_allow;
	const char *default_from, *default_rule, *default_loc; /* from: "" for Consul's built-in */
} cx_dc;

typedef struct consul_authz {
	const mp_model *m;
	cx_entry *e; /* sorted by (name_id, ns_id, part_id) */
	uint32_t ne;
	cx_defaults *sd; /* ServiceDefaults */
	uint32_t nsd;
	cx_defaults pd; /* ProxyDefaults global; title NULL when none */
	cx_dc *dc;
	uint32_t ndc;
	const char *trust_domain;             /* --trust-domain, or NULL: any *.consul is local */
	uint32_t merge_slashes, no_normalize; /* Mesh http.incoming.requestNormalization */
	char **strs;                          /* strings it allocated */
	uint32_t nstrs, capstrs;
	json_t *exports; /* the ExportedServices spec (one of specs), or NULL */
	json_t **specs;  /* the stored specs, whose strings the entries borrow */
	uint32_t nspecs, capspecs;
	uint32_t nintentions; /* sources of every entry */
} consul_authz;

/* Compiles the Consul resources of m: NULL with a message in err when out of memory or when a
 * stored entry does not compile (a model crafted by hand); a model without Consul compiles to
 * one with no datacenter (ndc 0). */
consul_authz *consul_authz_compile(const mp_model *m, char *err, size_t errlen);
void consul_authz_free(consul_authz *a); /* NULL is fine */

/* The datacenter of a cluster (the first one when cluster has none); NULL when no Consul. */
const cx_dc *cx_dc_of(const consul_authz *a, mp_id cluster);
/* A Kubernetes namespace as the datacenter's Consul namespace, into buf. */
const char *cx_namespace(const cx_dc *dc, const char *k8s_ns, char *buf, size_t len);
/* The entry for a destination pattern, or NULL. */
const cx_entry *cx_entry_of(const consul_authz *a, const char *ns, const char *name,
                            const char *partition);
/* The protocol of a service (ServiceDefaults, else ProxyDefaults, else "tcp") and whether it
 * is HTTP-like (http, http2, grpc: L7 intentions apply). */
const char *cx_protocol(const consul_authz *a, const char *ns, const char *name);
int cx_http_like(const char *protocol);
/* Where a service's permissive mTLS comes from (its ServiceDefaults, else the ProxyDefaults),
 * or NULL when it is strict. */
const cx_defaults *cx_permissive(const consul_authz *a, const char *ns, const char *name);

/* The intentions that apply to a destination: each source once, in precedence order, into out
 * (at most max); their number. */
uint32_t cx_applicable(const consul_authz *a, const char *ns, const char *name,
                       const char *partition, const cx_source **out, uint32_t max);

/* Is service ns/name exported to the peer (ExportedServices consumers)? */
int cx_exported(const consul_authz *a, const char *ns, const char *name, const char *peer);

/* A caller as Consul identifies it. */
typedef struct {
	const char *ns, *name, *partition, *peer; /* peer "" for a local caller */
} cx_caller;

/* Does source s match the caller? */
int cx_source_matches(const cx_source *s, const cx_caller *c);
/* Is the source of hi contained in the source of lo, with fewer wildcards (consul xds/rbac.go
 * ixnSourceMatches)? */
int cx_source_contains(const cx_source *hi, const cx_source *lo);

/* A request's HTTP part, as the intentions read it. */
typedef struct {
	int http;         /* a method, path, header or host was given */
	const char *path; /* normalised, without query and fragment; NULL when none */
	size_t path_len;
	const char *method;
	const mp_header *headers;
	uint32_t nheaders;
	int has_auth; /* request.auth: a token the caller asserts Consul's jwt_authn validated */
} cx_http;

/* What an intention yields for a request: CX_ALLOW, CX_DENY or CX_NONE, and the permission
 * that decided (NULL for an L4 intention or none). */
uint32_t cx_yield(const cx_source *s, int http_like, const cx_http *h, const cx_perm **perm);

/* The outcome for one destination and caller. */
enum { CO_DEFAULT = 0, CO_ALLOW, CO_DENY };
typedef struct {
	uint32_t outcome;
	const cx_source *src; /* the deciding intention, or, for CO_DEFAULT, an L7 intention none
	                       * of whose permissions matched (NULL otherwise) */
	const cx_perm *perm;  /* the deciding permission, or NULL */
	uint32_t nmatched;    /* |M| */
	const cx_source *top; /* M[0]: what `consul intention check` decides by, or NULL */
} cx_outcome;

void cx_decide(const consul_authz *a, const char *ns, const char *name, const char *partition,
               int http_like, int default_allow, const cx_caller *c, const cx_http *h,
               cx_outcome *out, json_t *explain);

#endif
