/* model.h: the compiled mesh model: interned strings, dense ids, indexes, source locations.
 * Design notes: docs/architecture.md ("The model"); file format: docs/mpm-format.md.
 *
 * Ownership: an mp_model owns every array it points at. It is built by mp_compile (compile.h)
 * or read by mp_model_load, and is immutable once mp_model_finish has run; after that any
 * number of threads may read it. It is reference-counted (atomically), so that snapshots can
 * share it: whoever made or loaded it holds one reference, mp_model_retain takes another, and
 * mp_model_free drops one; the last frees the model and everything in it. Pointers returned by
 * the accessors below are valid until then.
 *
 * Invariants:
 *  1. String id 0 is the empty string; MP_NONE (UINT32_MAX) marks "no element".
 *  2. Every id stored in an element is < the count of its kind, or MP_NONE where allowed.
 *  3. Every (off, n) pair lies inside its pool.
 *  4. Indexes (by name, identity, namespace, cluster; edges) are derived data: they are rebuilt
 *     by mp_model_finish and never saved.
 */
#ifndef MP_MODEL_H
#define MP_MODEL_H

#pragma GCC visibility push(default) /* the engine's interface: exported */

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define MP_NONE UINT32_MAX

typedef uint32_t mp_id;  /* dense element id, per kind */
typedef uint32_t mp_str; /* interned string id */

/* Where an element came from: interned file name, 1-based line and column. */
typedef struct {
	mp_str file;
	uint32_t line, col;
} mp_loc;

/* A file name the model holds (a location's file, a certificate's PEM) and how much of it is
 * the source root it was found under: the SOURCE argument of a directory (its path and a '/'),
 * or a single file's directory. The model's hash covers the name without that prefix, so the
 * same sources hash the same from any working directory or copy (docs/mpm-format.md, "The
 * model's hash"); messages show the whole name, a path the user can open. */
typedef struct {
	mp_str name;
	uint32_t root_len; /* bytes of name that are the root; at most its length */
} mp_source_name;

/* A slice of one of the model's pools. */
typedef struct {
	uint32_t off, n;
} mp_span;

typedef struct {
	mp_str key, value;
} mp_label;

typedef struct {
	uint32_t port;
	mp_str protocol; /* lower case: http, http2, grpc, tcp, tls, https */
	mp_str name;
} mp_port;

typedef enum { MP_MTLS_UNSET = 0, MP_MTLS_STRICT, MP_MTLS_PERMISSIVE, MP_MTLS_DISABLE } mp_mtls;

typedef struct {
	mp_str name, provider, region, zone, network;
	mp_loc loc;
} mp_cluster;

typedef struct {
	mp_str name;
	mp_span regions; /* u32 pool: string ids of region names */
	mp_loc loc;
} mp_jurisdiction;

typedef struct {
	mp_str name;
	mp_span labels; /* label pool */
	mp_span data;   /* u32 pool: data classes handled by every service in the namespace */
	mp_loc loc;
} mp_namespace;

typedef struct {
	mp_str name;
	mp_id ns;        /* namespace id */
	mp_str identity; /* SPIFFE ID, or 0 */
	mp_str owner;
	uint32_t mtls;    /* mp_mtls */
	mp_span clusters; /* u32 pool: cluster ids (at least one) */
	mp_span labels;   /* label pool */
	mp_span ports;    /* port pool */
	mp_span data; /* u32 pool: data-class string ids (own and the namespace's, deduplicated) */
	mp_loc loc;
} mp_service;

typedef struct {
	mp_str name;
	mp_str host;
	mp_str region;      /* 0 when only a jurisdiction is known */
	mp_id jurisdiction; /* MP_NONE when not given */
	mp_span ports;
	mp_loc loc;
} mp_external;

typedef enum { MP_TARGET_SERVICE = 0, MP_TARGET_EXTERNAL = 1 } mp_target_kind;

/* One end of a route: a service (optionally pinned to one of its clusters) or an external host.
 * Unresolved references never reach a model: compile reports them as errors. */
typedef struct {
	uint32_t kind;   /* mp_target_kind */
	mp_id id;        /* service or external id */
	mp_id cluster;   /* MP_NONE: any cluster of the service */
	uint32_t weight; /* percent; 0 for mirrors and failover targets */
	mp_loc loc;
	mp_str subset;  /* imported routes: the DestinationRule subset, or 0 */
	uint32_t flags; /* MP_TARGET_F_* */
} mp_target;

/* Target flags (imported routes; docs/import.md, "Residency"). */
enum {
	/* Istio locality load balancing only reorders endpoints for this target (failover or
	 * failoverPriority without a distribute that excludes other regions): every region the
	 * service runs in stays reachable */
	MP_TARGET_F_LOCALITY_REORDER = 1u << 0,
	/* a failover target made from a DestinationRule's localityLbSetting.failover */
	MP_TARGET_F_LOCALITY_FAILOVER = 1u << 1,
	/* pinned to a cluster by localityLbSetting.distribute */
	MP_TARGET_F_LOCALITY_DISTRIBUTE = 1u << 2,
};

typedef enum {
	MP_PATH_ANY = 0,
	MP_PATH_EXACT,
	MP_PATH_PREFIX,
	MP_PATH_REGEX,
} mp_path_kind;

typedef struct {
	uint32_t methods; /* MP_METHOD_* bitmask; 0 = any */
	uint32_t path_kind;
	mp_str path;
	mp_span headers; /* label pool: header name (lower case) -> exact value */
} mp_match;

typedef struct {
	mp_str name;
	mp_id source; /* service id; MP_NONE: any caller */
	mp_match match;
	mp_span dests;           /* target pool: weighted destinations */
	mp_span mirrors;         /* target pool */
	mp_span failover;        /* target pool, in priority order */
	uint32_t timeout_ms;     /* 0: none */
	uint32_t retry_attempts; /* 0: none */
	uint32_t per_try_timeout_ms;
	mp_loc loc;
	/* fault injection (imported VirtualServices); percentages in tenths of a percent */
	uint32_t fault_delay_ms, fault_delay_permille;
	uint32_t fault_abort_status, fault_abort_permille;
} mp_route;

/* A Kubernetes workload (Deployment, StatefulSet, DaemonSet, ReplicaSet or Pod) from an import.
 * Services without workloads (native ones) act as their own workload for authorization. */
typedef struct {
	mp_str name;
	mp_str kind;      /* "Deployment", ... */
	mp_id ns;         /* namespace id */
	mp_id cluster;    /* cluster id */
	mp_str identity;  /* SPIFFE ID of its service account */
	mp_span labels;   /* label pool: the pod labels */
	mp_span services; /* u32 pool: ids of the services whose selector matches it */
	uint32_t mtls;    /* mp_mtls: its PeerAuthentication mode, MP_MTLS_UNSET when none */
	mp_loc loc;
} mp_workload;

/* An imported mesh resource, kept as written: its spec as compact JSON with sorted keys; also
 * the records a provider keeps of what it read elsewhere (Istio's MeshConfig, Linkerd's
 * LinkerdProxy). Each provider's authorization state is compiled from these (provider.h);
 * policies see every kind. */
typedef struct {
	mp_str kind; /* "AuthorizationPolicy", "VirtualService", ..., "MeshConfig" */
	mp_str api;  /* apiVersion as written */
	mp_str ns, name;
	mp_str version; /* metadata.generation or resourceVersion, or 0 */
	mp_str spec;    /* compact JSON */
	mp_id cluster;  /* the cluster whose configuration it is, or MP_NONE (mesh-wide) */
	uint32_t flags; /* MP_RESOURCE_* */
	/* u32 pool: what its provider compiles with beside the spec, by kind (docs/mpm-format.md,
	 * "Imported configuration"): Istio's AuthorizationPolicy, the line of each rules[i];
	 * Linkerd's Server, its metadata.labels as pairs of string ids (key, value); a
	 * LinkerdProxy, the (file, line) of each setting its reasons cite; Kuma's documents, their
	 * computed labels (a count, then string-id pairs) and the lines their reasons cite (a
	 * count, then lines); a KumaDataplane, its workload and its MeshIdentity's (file, line).
	 * String ids there are not checked when a model loads: whoever reads them must. */
	mp_span aux;
	mp_loc loc;
} mp_resource;

enum { MP_RESOURCE_DRY_RUN = 1u << 0 }; /* annotation istio.io/dry-run: "true" */

/* A problem the importer found, named after Istio's analyzer message (docs/import.md). */
typedef enum { MP_FINDING_ERROR = 0, MP_FINDING_WARNING, MP_FINDING_INFO } mp_finding_level;
typedef struct {
	mp_str code;    /* e.g. "ReferencedResourceNotFound" */
	uint32_t level; /* mp_finding_level */
	mp_str subject; /* e.g. "VirtualService default/reviews" */
	mp_str text;
	mp_loc loc;
} mp_import_finding;

typedef struct {
	int64_t not_after; /* Unix seconds; INT64_MIN when unknown */
	mp_str name, subject, identity;
	mp_str pem_path;   /* resolved against the YAML file's directory; or 0 */
	uint32_t from_pem; /* 1 when not_after, subject or identity were read from pem_path */
	mp_loc loc;
} mp_certificate;

/* HTTP methods as bits; mp_method_bit("GET") -> MP_METHOD_GET, 0 for an unknown name. */
enum {
	MP_METHOD_GET = 1u << 0,
	MP_METHOD_HEAD = 1u << 1,
	MP_METHOD_POST = 1u << 2,
	MP_METHOD_PUT = 1u << 3,
	MP_METHOD_DELETE = 1u << 4,
	MP_METHOD_PATCH = 1u << 5,
	MP_METHOD_OPTIONS = 1u << 6,
	MP_METHOD_CONNECT = 1u << 7,
	MP_METHOD_TRACE = 1u << 8,
};
uint32_t mp_method_bit(const char *name);

/* An edge of the service graph: route r's target t (t indexes m->targets). */
typedef struct {
	mp_id route;
	uint32_t target;
} mp_edge;

typedef struct mp_model mp_model;

/* Element counts and arrays: read-only views for engine code. */
typedef struct {
	uint32_t nclusters, njurisdictions, nnamespaces, nservices, nroutes, nexternals, ncerts;
	uint32_t nworkloads, nresources, nfindings;
	const mp_cluster *clusters;
	const mp_jurisdiction *jurisdictions;
	const mp_namespace *namespaces;
	const mp_service *services;
	const mp_route *routes;
	const mp_external *externals;
	const mp_certificate *certs;
	const uint32_t *u32;      /* pool of ids and string ids */
	const mp_label *labels;   /* pool */
	const mp_port *ports;     /* pool */
	const mp_target *targets; /* pool */
	const mp_workload *workloads;
	const mp_resource *resources;
	const mp_import_finding *findings;
} mp_model_view;

/* --- building (used by compile.c and importers) --- */
mp_model *mp_model_new(void);
/* Interns s (len bytes); returns its id, or MP_NONE when out of memory. */
mp_str mp_model_intern(mp_model *m, const char *s, size_t len);
/* Appends to a kind's array; returns the new element's id or MP_NONE when out of memory.
 * The element is copied. */
mp_id mp_model_add_cluster(mp_model *m, const mp_cluster *c);
mp_id mp_model_add_jurisdiction(mp_model *m, const mp_jurisdiction *j);
mp_id mp_model_add_namespace(mp_model *m, const mp_namespace *n);
mp_id mp_model_add_service(mp_model *m, const mp_service *s);
mp_id mp_model_add_route(mp_model *m, const mp_route *r);
mp_id mp_model_add_external(mp_model *m, const mp_external *e);
mp_id mp_model_add_cert(mp_model *m, const mp_certificate *c);
mp_id mp_model_add_workload(mp_model *m, const mp_workload *w);
mp_id mp_model_add_resource(mp_model *m, const mp_resource *r);
mp_id mp_model_add_finding(mp_model *m, const mp_import_finding *f);
/* Pool appends: return the offset of the first appended item, or MP_NONE when out of memory. */
uint32_t mp_model_push_u32(mp_model *m, const uint32_t *v, uint32_t n);
uint32_t mp_model_push_labels(mp_model *m, const mp_label *v, uint32_t n);
uint32_t mp_model_push_ports(mp_model *m, const mp_port *v, uint32_t n);
uint32_t mp_model_push_targets(mp_model *m, const mp_target *v, uint32_t n);
/* Mutable access while building (invalid after the next add of the same kind). */
mp_service *mp_model_service_mut(mp_model *m, mp_id id);
mp_route *mp_model_route_mut(mp_model *m, mp_id id);
mp_namespace *mp_model_namespace_mut(mp_model *m, mp_id id);
mp_cluster *mp_model_cluster_mut(mp_model *m, mp_id id);
/* Records that the string name (a path) begins with root_len bytes of source root, which the
 * model's hash leaves out; a name recorded twice keeps its first root. 0 or -1 (OOM). */
int mp_model_add_source(mp_model *m, mp_str name, uint32_t root_len);
/* Builds the indexes and the content hash; the model is read-only afterwards. 0 or -1 (OOM). */
int mp_model_finish(mp_model *m);

/* --- reading --- */
/* Another reference to a finished model (for one more snapshot); returns m. */
mp_model *mp_model_retain(mp_model *m);
/* Drops one reference; the last frees the model. NULL is fine. */
void mp_model_free(mp_model *m);
mp_model_view mp_model_get_view(const mp_model *m);
const char *mp_model_str(const mp_model *m, mp_str id); /* NUL-terminated; "" for 0 */
uint32_t mp_model_str_len(const mp_model *m, mp_str id);
uint32_t mp_model_nstrings(const mp_model *m);
/* Looks a string up without interning it: its id, or MP_NONE if the model never saw it. */
mp_str mp_model_find_str(const mp_model *m, const char *s, size_t len);
/* "sha256 hex" of the model content (64 chars + NUL), set by mp_model_finish or load: the
 * model's hash, independent of how the sources' paths were spelled (mp_source_name). */
const char *mp_model_sha256(const mp_model *m);

/* Lookups. Each returns the number of matches and points *ids at them (valid until free). */
uint32_t mp_model_services_named(const mp_model *m, const char *name, const mp_id **ids);
uint32_t mp_model_services_in_namespace(const mp_model *m, mp_id ns, const mp_id **ids);
uint32_t mp_model_services_in_cluster(const mp_model *m, mp_id cluster, const mp_id **ids);
/* Edges out of a service (routes whose source it is, every target) and into it (targets naming
 * it). Routes with no source are "from any caller" and appear in mp_model_edges_any. */
uint32_t mp_model_edges_from(const mp_model *m, mp_id svc, const mp_edge **edges);
uint32_t mp_model_edges_to(const mp_model *m, mp_id svc, const mp_edge **edges);
uint32_t mp_model_edges_any(const mp_model *m, const mp_edge **edges);
/* The workloads behind a service (imported models), in workload order. */
uint32_t mp_model_workloads_of_service(const mp_model *m, mp_id svc, const mp_id **ids);

/* The service with that SPIFFE identity; in imported models also the first service of a
 * workload running as it (a service whose workloads use several service accounts has no
 * identity of its own). */
mp_id mp_model_find_service_by_identity(const mp_model *m, const char *spiffe_id);
/* The same for an identity already looked up as a string id (mp_model_find_str). */
mp_id mp_model_find_service_by_identity_id(const mp_model *m, mp_str id);

/* "name" (unique across namespaces) or "namespace/name"; MP_NONE when absent or ambiguous. */
mp_id mp_model_find_service(const mp_model *m, const char *ref);
mp_id mp_model_find_service_ns(const mp_model *m, const char *ns, const char *name);
mp_id mp_model_find_namespace(const mp_model *m, const char *name);
mp_id mp_model_find_cluster(const mp_model *m, const char *name);
mp_id mp_model_find_jurisdiction(const mp_model *m, const char *name);
mp_id mp_model_find_external(const mp_model *m, const char *name_or_host);
/* The jurisdiction whose regions include region, or MP_NONE. */
mp_id mp_model_jurisdiction_of_region(const mp_model *m, mp_str region);

/* --- files (.mpm) --- */
/* Writes the model to path as an output (files.h: a file is replaced atomically, a device or
 * FIFO written in place). 0, or -1 with a message in err. */
int mp_model_save(const mp_model *m, const char *path, char *err, size_t errlen);
/* Writes the model's .mpm bytes to f (an mp_out's stream, for callers that open the output
 * themselves). 0, or -1 with errno. */
int mp_model_write(const mp_model *m, FILE *f);
/* Reads a model; NULL with a message in err (truncated, corrupted, wrong version, ...). */
mp_model *mp_model_load(const char *path, char *err, size_t errlen);
/* As mp_model_load, from memory (the bytes are copied). */
mp_model *mp_model_load_mem(const void *data, size_t len, char *err, size_t errlen);
/* Does the file start with the .mpm magic? */
int mp_model_is_mpm_file(const char *path);

/* Locations as "file:line" into buf; returns buf. */
const char *mp_model_loc_str(const mp_model *m, mp_loc loc, char *buf, size_t len);

#pragma GCC visibility pop

#endif
