/* appmesh_state.h: App Mesh's configuration as its Envoys are given it, resolved: one mesh with
 * its egress filter, virtual nodes (pods, listeners and their TLS, backends and client
 * policies), virtual services (providers), virtual routers (routes by priority) and virtual
 * gateways (listeners, gateway routes). Both import forms, the controller's CRDs and Terraform's
 * JSON, give this one shape (the model keeps it as an AppMesh record per mesh,
 * docs/import.md, "App Mesh"); state_appmesh.c reads the records back into it for decisions
 * (decide_appmesh.c), for the analyzers (analyze_appmesh.c) and for the export
 * (export_appmesh.c).
 *
 * Ownership: an mp_amstate owns everything it points at (one arena) and borrows the model it
 * was read from, which must outlive it. Immutable once mp_amstate_compile returns; any number
 * of threads may read it. Indexes are into the arrays of the mesh they are found in. */
#ifndef MP_APPMESH_STATE_H
#define MP_APPMESH_STATE_H

#include "arena.h"
#include "provider.h"

#include <stddef.h>
#include <stdint.h>

#define AM_NONE UINT32_MAX

/* A place a reason cites: "file:line" and the resource title it belongs to. */
typedef struct {
	mp_loc loc;         /* file 0: nowhere */
	const char *source; /* "tests/data/import/appmesh/shop.yaml:42", or "" */
} am_at;

/* Listener TLS modes (api ListenerTls.mode); AM_TLS_NONE: no tls at all. */
enum { AM_TLS_NONE, AM_TLS_DISABLED, AM_TLS_PERMISSIVE, AM_TLS_STRICT };
extern const char *const mp_am_tls_modes[4]; /* "", "DISABLED", "PERMISSIVE", "STRICT" */

/* A TLS validation context: the SANs a certificate must carry (exact), none listed: see the
 * users of it. */
typedef struct {
	int set;
	const char *const *sans;
	uint32_t nsans;
	am_at at, sans_at;
} am_validation;

/* A client policy's TLS (api ClientPolicyTls), as a backend's or the defaults'. */
typedef struct {
	int set;
	const char *path; /* "backends[1].clientPolicy.tls", "backendDefaults.clientPolicy.tls" */
	int enforce;      /* default true */
	const uint32_t *ports;
	uint32_t nports;  /* 0: every port */
	const char *cert; /* the client certificate's SAN (an SDS secret name), "" for a file
	                   * certificate, NULL for none */
	am_validation validation;
	am_at at;
	const char *rule_val, *rule_sans; /* PATH.validation[.subjectAlternativeNames] */
} am_client_tls;

typedef struct {
	uint32_t port;
	const char *protocol; /* http, http2, grpc, tcp */
	uint32_t tls;         /* AM_TLS_* */
	const char *cert;     /* the server certificate's SAN: an SDS secret name, else NULL (its
	                       * SAN is then the node's service discovery name) */
	am_validation validation;
	uint32_t timeout_ms; /* perRequest (http, http2, grpc); 0: the default 15 s */
	am_at at, tls_at;
	/* reasons' rules: "listeners[I].tls:MODE", "listeners[I].tls.validation[...]" */
	const char *rule_mode, *rule_val, *rule_sans;
} am_listener;

typedef struct {
	const char *vs;    /* the virtual service's App Mesh name, as written (a ref resolved) */
	uint32_t service;  /* its index in the mesh's services, AM_NONE: no such virtual service */
	const char *group; /* the BackendGroup it came from, or NULL */
	am_client_tls policy;
	am_at at;
	const char *rule; /* "backends[I]" */
} am_backend;

/* A label selector (matchLabels and matchExpressions). */
enum { AM_OP_IN, AM_OP_NOT_IN, AM_OP_EXISTS, AM_OP_DOES_NOT_EXIST };
typedef struct {
	const char *key;
	uint32_t op;
	const char *const *values;
	uint32_t nvalues;
} am_expr;
typedef struct {
	int set; /* absent selects nothing; present and empty, every pod of the namespace */
	const char *const *keys, *const *values;
	uint32_t nlabels;
	const am_expr *exprs;
	uint32_t nexprs;
} am_selector;

/* A workload bound to a node or gateway (its pods run App Mesh's Envoy for it), or one the
 * selector matches that runs without one (opted out of injection). */
typedef struct {
	mp_id workload; /* in the model */
	int injected;
	const char *service_account;
} am_pod;

/* A Kubernetes Service in front of a node's or gateway's pods: its port -> the target port. */
typedef struct {
	mp_id service;
	const uint32_t *ports, *targets;
	uint32_t nports;
} am_front;

/* Common to every object: its title ("VirtualNode shop/front" or a Terraform address), App
 * Mesh name, the CR's namespace and name ("" in the Terraform form) and where it is. */
typedef struct {
	const char *title, *name, *ns, *kname, *version;
	am_at at;
} am_obj;

typedef struct {
	am_obj o;
	am_selector selector;
	const am_pod *pods;
	uint32_t npods;
	const am_front *fronts;
	uint32_t nfronts;
	const char *hostname; /* its service discovery name (DNS hostname, or service.namespace
	                       * for Cloud Map), or NULL */
	const am_listener *listeners;
	uint32_t nlisteners;
	const am_backend *backends;
	uint32_t nbackends;
	am_client_tls defaults;
	const char *const *identities; /* the SANs of its certificates (SDS secret names) */
	uint32_t nidentities;
} am_node;

enum { AM_PROVIDER_NONE, AM_PROVIDER_NODE, AM_PROVIDER_ROUTER };

typedef struct {
	am_obj o;
	uint32_t provider; /* AM_PROVIDER_* */
	uint32_t target;   /* the node or router index, AM_NONE: missing */
	const char *target_name;
	mp_id service;  /* the model's service its name stands for, or MP_NONE */
	mp_id external; /* the model's external its name stands for, or MP_NONE */
	am_at provider_at;
} am_vservice;

/* Matches of a route (router routes and gateway routes alike). */
enum { AM_ROUTE_HTTP, AM_ROUTE_HTTP2, AM_ROUTE_GRPC, AM_ROUTE_TCP };
extern const char *const mp_am_route_kinds[4]; /* "httpRoute", "http2Route", ... */
enum { AM_HM_PRESENT, AM_HM_EXACT, AM_HM_PREFIX, AM_HM_SUFFIX, AM_HM_REGEX, AM_HM_RANGE };
struct mp_regex;
typedef struct {
	const char *name; /* lower case */
	uint32_t how;     /* AM_HM_* */
	const char *value;
	const struct mp_regex *re; /* AM_HM_REGEX: value compiled (RE2, Envoy's safe_regex) */
	int64_t lo, hi;            /* range: [lo, hi) */
	int invert;
} am_header;
typedef struct {
	const char *name, *exact; /* exact NULL: present */
} am_query;

typedef struct {
	const char *prefix;                  /* NULL: none */
	const char *path_exact, *path_regex; /* NULL: none */
	const struct mp_regex *path_re;      /* path_regex compiled */
	uint32_t method;                     /* MP_METHOD_* bit, 0: any */
	const char *scheme;
	const am_header *headers;
	uint32_t nheaders;
	const am_query *query;
	uint32_t nquery;
	uint32_t port; /* 0: any */
	const char *grpc_service, *grpc_method;
	const char *host_exact, *host_suffix; /* gateway routes */
} am_match;

typedef struct {
	uint32_t node; /* AM_NONE: unresolved */
	const char *node_name;
	uint32_t weight, port;
	am_at at;
} am_target;

typedef struct {
	const char *name, *title; /* route name; the title of what holds it */
	int32_t priority;         /* -1: none */
	uint32_t kind;            /* AM_ROUTE_* */
	am_match match;
	const am_target *targets;
	uint32_t ntargets;
	uint32_t retries, per_try_ms, timeout_ms;
	am_at at;
	const char *rule; /* "route:NAME" */
} am_route;

typedef struct {
	am_obj o;
	const am_listener *listeners; /* port and protocol */
	uint32_t nlisteners;
	const am_route *routes; /* as written */
	uint32_t nroutes;
	const uint32_t *order; /* the routes in the order App Mesh tries them */
} am_router;

typedef struct {
	am_obj o;
	int32_t priority;
	uint32_t kind;
	am_match match;
	uint32_t service; /* target virtual service, AM_NONE: unresolved */
	const char *service_name;
	uint32_t port;         /* target port, 0: none */
	int rewrite_prefix;    /* the default prefix rewrite (to "/"), on unless DISABLED */
	const char *prefix_to; /* rewrite.prefix.value, or NULL */
	const char *path_to;   /* rewrite.path.exact, or NULL */
	int rewrite_host;      /* the default target host rewrite, on unless DISABLED */
} am_groute;

typedef struct {
	am_obj o;
	am_selector selector;
	const am_pod *pods;
	uint32_t npods;
	const am_front *fronts;
	uint32_t nfronts;
	const am_listener *listeners;
	uint32_t nlisteners;
	am_client_tls defaults;
	const am_groute *routes;
	uint32_t nroutes;
	const uint32_t *order;
} am_gateway;

enum { AM_DROP_ALL, AM_ALLOW_ALL };

typedef struct {
	am_obj o;
	uint32_t egress; /* AM_DROP_ALL (also when unset) or AM_ALLOW_ALL */
	/* ALLOW_ALL on a node with backends: refused (the API reference's note) or allowed (the
	 * user guide's reading), the option allow-all-with-backends */
	int allow_all_backends;
	am_at egress_at; /* the egressFilter, else the Mesh */
	const char *const *namespaces;
	uint32_t nnamespaces;
	const am_node *nodes;
	uint32_t nnodes;
	const am_vservice *services;
	uint32_t nservices;
	const am_router *routers;
	uint32_t nrouters;
	const am_gateway *gateways;
	uint32_t ngateways;
} am_mesh;

typedef struct mp_amstate {
	const mp_model *m;
	mp_arena ar;
	struct mp_regex **res; /* every compiled expression, to free */
	uint32_t nres;
	const am_mesh *meshes;
	uint32_t nmeshes;
} mp_amstate;

/* The record kind the model keeps per mesh. */
#define AM_RECORD_KIND "AppMesh"
#define AM_RECORD_API  "meshpol.io/v1"

/* Reads the model's AppMesh records: 0 with *out (NULL when there are none), or -1 with a
 * message in err (out of memory, or a record that does not read: a model made by hand). */
int mp_amstate_compile(const mp_model *m, mp_amstate **out, char *err, size_t errlen);
/* The same from records not yet in a model (the importer's analyzers): specs[i] with the
 * file names files[i] of their "at" references. */
int mp_amstate_from_json(const mp_model *m, json_t *const *specs, const mp_str *const *files,
                         const uint32_t *nfiles, uint32_t n, mp_amstate **out, char *err,
                         size_t errlen);
void mp_amstate_free(mp_amstate *s); /* NULL is fine */

/* Does the selector select pod labels (keys[i] = values[i], n of them)? */
int mp_am_selects(const am_selector *s, const char *const *keys, const char *const *values,
                  uint32_t n);
/* The same for a model workload's labels. */
int mp_am_selects_workload(const mp_model *m, const am_selector *s, mp_id w);

/* Does a route's match admit the request (path, method, headers, host, port as given)? */
int mp_am_route_matches(const am_match *mt, uint32_t kind, const mp_request *r, const char *path,
                        const char *host, uint32_t port);

/* --- the steps of a decision (decide_appmesh.c), for the export too --- */

/* Callers, as TLS sees them. */
enum {
	AM_CALLER_PLAIN, /* plaintext: no App Mesh Envoy, or a node's ALLOW_ALL passthrough */
	AM_CALLER_CERT,  /* no App Mesh Envoy, presenting a certificate (its SAN: principal) */
	AM_CALLER_MESH,  /* an App Mesh Envoy: its client policy p, if one applies */
};
/* One check TLS made: passed or not, the client's (its policy) or the listener's, the rule,
 * where, why. */
typedef struct {
	int ok, client;
	const char *rule;
	const am_at *at;
	const char *msg;
} am_tls_step;
/* TLS from a caller to listener l of a node whose service discovery name is hostname: 1 when
 * it admits the caller, 0 when not; the checks made (at most two) into steps. */
int mp_am_tls(uint32_t caller, const char *principal, const am_client_tls *p, const char *hostname,
              const am_listener *l, am_tls_step steps[2], uint32_t *n);
/* The client policy that applies at the server's port: a backend's own, else the defaults,
 * when enforced and the port is among its ports (or it lists none); NULL: none applies. */
const am_client_tls *mp_am_client_policy(const am_client_tls *own, const am_client_tls *defaults,
                                         uint32_t port);
/* The listener on port, or NULL. */
const am_listener *mp_am_listener_on(const am_listener *ls, uint32_t n, uint32_t port);
/* The port behind Service svc's port of a node's or gateway's pods (its targetPort). */
uint32_t mp_am_behind(const am_front *f, uint32_t nf, mp_id svc, uint32_t port);
/* The port a gateway route sends to its virtual service: its target's, else the provider's
 * first listener's. */
uint32_t mp_am_groute_port(const am_mesh *m, const am_groute *gr, const am_vservice *vs);
/* The node listener port a router route's target reaches from the router's port. */
uint32_t mp_am_target_port(const am_target *t, const am_node *n, uint32_t router_port);

/* The way off App Mesh (provider.h, migrate; export_appmesh.c). */
int mp_appmesh_migrate(const mp_model *m, const char *target, const mp_compile_opts *opts,
                       FILE *out, json_t *checks, json_t *left, char *err, size_t errlen);

/* The verdict on q with App Mesh's semantics (provider.h), reasons added to d; explain, when a
 * JSON array, gets one object per stage. fallback: the answer with nothing to decide. */
uint32_t mp_amstate_decide(const mp_amstate *s, const mp_provider_request *q, mp_decision *d,
                           json_t *explain, int fallback);

#endif
