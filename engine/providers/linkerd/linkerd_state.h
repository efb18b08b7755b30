/* linkerd_state.h: the inside of an mp_lkauthz, shared by state_linkerd.c (compiling the
 * model's Linkerd resources, as Linkerd's policy controller indexes them) and decide_linkerd.c
 * (deciding, as linkerd2-proxy does). Semantics: docs/import.md ("Linkerd").
 *
 * Everything is in the state's arena; strings are the state's own copies (titles, rules and
 * sources are what reasons point at, so they live as long as the snapshot). Indexes are into
 * the state's arrays. */
#ifndef MP_LINKERD_STATE_H
#define MP_LINKERD_STATE_H

#include "arena.h"
#include "ipnet.h"
#include "linkerd_authz.h"

#include "regex.h"

/* --- networks and authorizations --- */

/* A network: a block, minus the blocks of except. */
typedef struct {
	mp_ipnet net;
	const mp_ipnet *except;
	uint32_t nexcept;
} lk_net;

typedef struct {
	const lk_net *v;
	uint32_t n;
} lk_nets;

/* The identity an authorization requires (linkerd2-proxy's ClientAuthentication). */
enum {
	LK_ID_NONE,   /* none: unmeshed clients too (Unauthenticated) */
	LK_ID_ANY,    /* any meshed client (a lone "*", unauthenticatedTLS) */
	LK_ID_LISTED, /* one of the exact identities or suffixes */
};

/* The kinds of authorization, for reasons. */
enum {
	LK_AZ_POLICY,  /* an AuthorizationPolicy */
	LK_AZ_SAZ,     /* a ServerAuthorization */
	LK_AZ_ACCESS,  /* a Server's accessPolicy */
	LK_AZ_DEFAULT, /* a default policy's (no Server selects the port) */
	LK_AZ_PROBE,   /* the probe route's: unauthenticated, from the probe networks */
};

/* One authorization: a client is admitted when its address is in one of the networks and,
 * unless identity is LK_ID_NONE, it presents a matching identity. */
typedef struct {
	uint32_t kind;                        /* LK_AZ_* */
	uint32_t audit;                       /* admits, but only to report it (audit mode) */
	uint32_t identity;                    /* LK_ID_* */
	const char *title, *version, *source; /* the resource it came from, for reasons */
	const char *rule;                     /* accessPolicy's "accessPolicy:VALUE", else NULL */
	const char *const *exact;             /* identities, exact */
	uint32_t nexact;
	const char *const *suffix; /* "*.a.b" as "a.b": a client identity ending in ".a.b" */
	uint32_t nsuffix;
	lk_nets nets;
} lk_authz;

/* --- routes --- */

enum { LK_VAL_PREFIX, LK_VAL_EXACT, LK_VAL_REGEX };

typedef struct {
	uint32_t kind; /* LK_VAL_*; paths are prefixes unless said, values exact */
	const char *text;
	uint32_t len;
	const mp_regex *re; /* LK_VAL_REGEX */
} lk_value;

typedef struct {
	const char *name; /* lower case for headers */
	lk_value value;
} lk_param;

/* One match of a route's rule (linkerd2-proxy http/route RequestMatch, grpc MatchRoute). */
typedef struct {
	lk_value path;   /* HTTP */
	uint32_t method; /* MP_METHOD_* bit; 0: any */
	const lk_param *headers, *query;
	uint32_t nheaders, nquery;
	const char *service, *rpc; /* gRPC; NULL: any */
} lk_match;

typedef struct {
	const lk_match *m;
	uint32_t n; /* 0: the implicit default match (anything) */
} lk_rule;

/* An inbound route: an HTTPRoute or GRPCRoute with a Server as its parent, or a server's own
 * default and probe routes (those made per decision, not stored). */
typedef struct {
	const char *title, *rule, *source, *version; /* "HTTPRoute ns/n", "route:n" */
	const char *group, *name;
	mp_str ns;
	mp_id cluster;
	uint32_t grpc;
	const char *const *hosts;
	uint32_t nhosts;
	const lk_rule *rules;
	uint32_t nrules;
	uint32_t *authz; /* its own authorizations (AuthorizationPolicies targeting it) */
	uint32_t nauthz;
	uint32_t inbound; /* a valid inbound route (Server parents, none with port or section) */
} lk_route;

/* --- servers and pods --- */

enum { LK_OP_IN, LK_OP_NOT_IN, LK_OP_EXISTS, LK_OP_DOES_NOT_EXIST };

typedef struct {
	const char *key;
	uint32_t op;
	const char *const *values;
	uint32_t nvalues;
} lk_expr;

typedef struct {
	const char *key, *value;
} lk_kv;

enum { LK_P_DETECT, LK_P_HTTP1, LK_P_HTTP2, LK_P_GRPC, LK_P_OPAQUE, LK_P_TLS };

typedef struct {
	const char *title, *name, *source, *version; /* "Server ns/name" */
	mp_str ns;
	mp_id cluster;      /* MP_NONE: the model's only one */
	const lk_kv *match; /* podSelector.matchLabels */
	uint32_t nmatch;
	const lk_expr *exprs;
	uint32_t nexprs;
	uint32_t external; /* externalWorkloadSelector: selects no pod */
	uint32_t port;     /* by number, else port_name */
	const char *port_name;
	uint32_t proto;  /* LK_P_* */
	uint32_t access; /* accessPolicy, LK_POLICY_NONE for deny (it adds nothing) */
	const lk_kv *labels;
	uint32_t nlabels;
	uint32_t *authz; /* server-level, in order: ServerAuthorizations, AuthorizationPolicies
	                  * (of it and of its Namespace), its accessPolicy's */
	uint32_t nauthz;
	uint32_t *routes; /* the accepted routes of its protocol, in Linkerd's order */
	uint32_t nroutes;
} lk_server;

typedef struct {
	const char *name; /* NULL: unnamed */
	uint32_t port;
} lk_port;

typedef struct {
	uint32_t port;
	const char *path;
} lk_probe;

typedef struct {
	uint32_t lo, hi;
} lk_range;

/* One cluster's settings (its ConfigMap linkerd-config record). */
typedef struct {
	mp_id cluster; /* MP_NONE: the model's only one */
	const char *cp_ns, *td;
	lk_nets networks, probe;
	lk_authz defaults[LK_POLICIES]; /* a default server's authorization, per policy */
	lk_authz probe_authz;
} lk_cluster_state;

/* A meshed workload (its LinkerdProxy record). */
typedef struct {
	mp_id workload;
	const lk_cluster_state *cl;
	const lk_port *ports;
	uint32_t nports;
	const lk_probe *probes;
	uint32_t nprobes;
	uint32_t policy; /* the default inbound policy */
	const char *policy_from, *policy_source;
	const char *default_rule; /* "default:VALUE" */
	const lk_range *opaque, *require;
	uint32_t nopaque, nrequire;
	const char *require_from, *require_source;
} lk_pod;

struct mp_lkauthz {
	const mp_model *m;
	mp_arena ar;
	lk_authz *az;
	uint32_t naz;
	lk_server *servers;
	uint32_t nservers;
	lk_route *routes;
	uint32_t nroutes;
	lk_pod *pods;
	uint32_t npods;
	uint32_t *pod_of; /* per workload of the model: its pod, or UINT32_MAX (not meshed) */
	lk_cluster_state *cls;
	uint32_t ncls;
	mp_regex **res; /* every compiled expression, for mp_regex_free */
	uint32_t nres;
	lk_net all[2]; /* 0.0.0.0/0, ::/0 */
	lk_nets anywhere;
};

/* The default policy names as rules of reasons: "default:deny", ... (state_linkerd.c). */
extern const char *const mp_lk_default_rules[LK_POLICIES];

#endif
