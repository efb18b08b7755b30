/* import_int.h: the inside of the importer, shared by its frame (import.c: documents, YAML
 * helpers, places, phases, findings) and the providers' importers (engine/providers/<mesh>/,
 * which plug in through struct mp_provider_import below). Mapping: docs/import.md; design:
 * docs/architecture.md ("Mesh providers"). */
#ifndef MP_IMPORT_INT_H
#define MP_IMPORT_INT_H

#include "import.h"
#include "provider.h"
#include "yamlload.h"

#include <jansson.h>
#include <stdarg.h>

/* One kept document. Node pointers stay valid while the document lives (libyaml never moves
 * the nodes of a loaded document). */
typedef struct {
	yaml_document_t doc;
	yaml_node_t *root, *meta, *spec; /* spec: NULL when absent */
	const mp_provider *provider;     /* whose kind it is */
	const mp_provider_kind *kind;    /* its row in the provider's kinds */
	mp_str file, api, ns, name;      /* interned; ns is "default" when not given */
	mp_str cluster_name;             /* from --cluster-dir, or 0 */
	mp_id cluster;                   /* set by mp_import_places */
	mp_loc loc;                      /* the document's mapping */
	uint32_t dead; /* replaced by a later document with the same identity, or skipped */
	uint32_t bad;  /* an error was reported for it in pass 2 */
	mp_id ns_id;   /* set by mp_import_elements */
	/* A document parsed from a scalar of another (Linkerd's values in its ConfigMap): where
	 * that text starts in the file, added to its nodes' marks; 0 for a file's documents. */
	uint32_t line_base, col_base;
	/* Read in its provider's document form (struct mp_provider_form below), else NULL: a
	 * Kubernetes object. Then meta is the resource itself (its name, labels at its top). */
	const struct mp_provider_form *form;
	mp_str scope; /* the form's scope (Kuma's mesh), part of its identity; 0: none */
	/* doc belongs to an earlier idoc (resources of one document of a form: the first owns
	 * it) */
	uint32_t borrowed;
} idoc;

/* A workload being imported (before it becomes an mp_workload). */
typedef struct {
	uint32_t doc;
	mp_id ns, cluster;
	mp_str name, kind, identity;
	mp_span labels;            /* in the model's label pool */
	yaml_node_t *annotations;  /* pod template's and object's, for meshpol.io/ keys */
	yaml_node_t *annotations2; /* the object's own (workloads); may be NULL */
	/* Set by a mesh's WORKLOAD_POLICY phase: the mTLS mode its policies give the workload
	 * (mp_mtls; UNSET: inherited, or none), and the document of the policy that decided it,
	 * UINT32_MAX when no policy covers the workload. */
	uint32_t mtls, mtls_doc;
	uint32_t svc[16]; /* services selecting it */
	uint32_t nsvc;
} iworkload;

struct mp_import {
	mp_model *m;
	mp_diags *d;
	const mp_import_opts *o;
	const mp_import_host *host;
	int oom;
	idoc *docs;
	uint32_t ndocs, cap;
	mp_str td;         /* trust domain, of identities (every mesh has one) */
	int multi_cluster; /* documents span several clusters: route names carry @cluster */
	iworkload *wl;     /* every provider's workloads, into the model after ELEMENTS */
	uint32_t nwl;
	void **pstate; /* per row of mp_providers[]: its import state (begin), or NULL */
	/* the findings so far, by content (im_finding keeps one of identical findings): an
	 * open-addressing set of finding index + 1, fcap a power of two */
	uint32_t *fset, fcap, fn;
};

/* --- providers --- */

/* The phases of pass 2, in the order they run; import.h says where each runs against the
 * native compiler. In each phase the frame calls every provider's function for it, in the
 * order of mp_providers[], so a provider sees what those before it made in that phase and
 * everything of the phases before. Steps of the frame's own come between phases. */
typedef enum {
	IM_PHASE_CLUSTERS,        /* after the frame placed documents in clusters: cluster facts */
	IM_PHASE_NAMESPACES,      /* namespaces, before native services resolve */
	IM_PHASE_WORKLOADS,       /* workloads into im->wl (then the frame gives every document
	                           * its namespace id) */
	IM_PHASE_WORKLOAD_POLICY, /* a mesh's policies on workloads: iworkload.mtls */
	IM_PHASE_SERVICES,        /* services; the services selecting each workload */
	IM_PHASE_ELEMENTS,        /* what needs the services: gateways, externals (then the frame
	                           * adds the workloads to the model) */
	IM_PHASE_ROUTES,          /* routes, after native routes (then the frame runs every
	                           * provider's analyzers, check.h) */
	IM_PHASE_RESOURCES,       /* resources the model keeps */
	IM_PHASES
} im_phase;

struct im_gateway; /* below */

/* A provider's importer (mp_provider.import). Every member may be NULL. */
struct mp_provider_import {
	/* Its state for one import: begin makes it when the importer is created (NULL: out of
	 * memory), im_state finds it, end frees it with the importer. */
	void *(*begin)(mp_import *im);
	void (*end)(void *state);
	void (*phase[IM_PHASES])(mp_import *im);
	/* Answers for another provider's mapping, as Kubernetes' workloads run under some mesh
	 * whose rules it does not know: the frame's im_identity, im_namespace_mtls and
	 * im_port_protocol ask every provider in list order and take the first answer.
	 *
	 * identity: the identity of the workload of document dc (a Pod or a controller of pods)
	 * in namespace ns running as service account sa, into out; 1, or 0 when the mesh claims
	 * none for it. */
	int (*identity)(mp_import *im, idoc *dc, const char *ns, const char *sa, char *out,
	                size_t len);
	/* namespace_mtls: the mode its namespace-wide (else mesh-wide) policy gives a namespace
	 * in a cluster, MP_MTLS_UNSET for none. */
	uint32_t (*namespace_mtls)(mp_import *im, mp_id ns, mp_id cluster);
	/* port_protocol: the protocol (meshpol's http, http2, grpc, https, tls or tcp) of
	 * Service port number (node at, in dc) from its name and appProtocol (either NULL), or
	 * NULL: no say. It reports its own findings about the port. */
	const char *(*port_protocol)(mp_import *im, idoc *dc, yaml_node_t *at, uint32_t number,
	                             const char *name, const char *app);
	/* reads: does the provider read this document of another provider's kind (a ConfigMap
	 * that holds the mesh's own configuration: Consul's server ConfigMaps, Linkerd's
	 * linkerd-config)? 1 or 0. Kubernetes keeps the ConfigMaps some provider reads and skips
	 * the others, in its NAMESPACES phase; the answer must not need the import's phases. */
	int (*reads)(mp_import *im, idoc *dc);
	/* invalid: in an analysis (mp_import_opts.analyze), an error found in one of the
	 * provider's documents (dc, at node n, saying msg): reports it as a finding and answers
	 * 1 to keep the document for the analyzers (as istioctl analyses what its schema refuses)
	 * or 0 to leave it out. NULL: the frame reports SchemaValidationError and leaves it out. */
	int (*invalid)(mp_import *im, idoc *dc, const yaml_node_t *n, const char *msg);
	/* holds: does the import hold this mesh's configuration (its documents, or pods it
	 * injects)? Asked from the WORKLOADS phase on, once every provider's CLUSTERS phase has
	 * looked; a mesh's `present` (provider.h) answers the same of the finished model. */
	int (*holds)(mp_import *im);
	/* gateway: a Gateway of another API that a mesh's own resources may name (an Istio
	 * VirtualService's gateways naming a Kubernetes Gateway API Gateway): 1 when the
	 * provider reads a Gateway ns/name in cluster, with *out filled in; 0 when it has none. */
	int (*gateway)(mp_import *im, const char *ns, const char *name, mp_id cluster,
	               struct im_gateway *out);
};

/* A Gateway of another provider's API, as its provider's `gateway` answer describes it. */
#define IM_GATEWAY_HOSTS 64 /* the Gateway API's limit of listeners */
typedef struct im_gateway {
	uint32_t doc;                        /* its document, im->docs[doc] */
	const char *hosts[IM_GATEWAY_HOSTS]; /* its listeners' hostnames (borrowed from it) */
	uint32_t nhosts;
	int any_host;  /* a listener without a hostname: it serves every host */
	mp_id service; /* the service of its data plane (the routes' source), or MP_NONE */
} im_gateway;

/* How a mesh implements the Kubernetes Gateway API, whose kinds its own provider reads
 * (providers/gatewayapi/): which Gateways it programs and what it does where the spec leaves a
 * choice. A row of data (mp_provider.gateway_api); the two functions are the answers that need
 * the mesh's own documents. docs/import.md ("Kubernetes Gateway API"). */
typedef struct mp_gateway_impl {
	/* the GatewayClass spec.controllerName it answers to; NULL: it programs no Gateway */
	const char *controller;
	/* classes it has without a GatewayClass document (istiod creates "istio"), and the
	 * listener protocols it serves, each with a space either side; NULL: none */
	const char *classes, *protocols;
	uint32_t flags; /* MP_GWI_* */
	/* Service parents: does the mesh's own configuration stand for Gateway API routes to
	 * service svc (Linkerd's ServiceProfile)? NULL: never */
	int (*replaced)(mp_import *im, mp_id svc);
	/* its settings of a route written as annotations (Linkerd's timeouts and retries) into
	 * rt; NULL: none */
	void (*annotations)(mp_import *im, idoc *route, mp_route *rt);
} mp_gateway_impl;

enum {
	MP_GWI_MESH = 1u << 0,         /* it programs Service parents (GAMMA) */
	MP_GWI_DEFAULT_MESH = 1u << 1, /* ... also in an import that holds no mesh (Istio) */
	/* a Gateway's data plane is the Service GATEWAY-CLASS (Istio), else GATEWAY */
	MP_GWI_SERVICE_CLASS = 1u << 2,
	MP_GWI_PROTOCOL_CASE = 1u << 3, /* listener protocols are case-sensitive (Istio) */
	/* a route kind the listener's protocol does not take: NotAllowedByListeners (Istio),
	 * else the spec's UnsupportedValue for a TLSRoute */
	MP_GWI_KIND_NOT_ALLOWED = 1u << 4,
	MP_GWI_ANY_CERT = 1u << 5, /* one valid certificate of a listener suffices (Istio) */
	/* a mesh rule without backendRefs goes to its parent Service (Linkerd), else nowhere
	 * (Istio answers 500) */
	MP_GWI_EMPTY_TO_PARENT = 1u << 6,
	MP_GWI_CLUSTER_IP = 1u << 7,   /* a Service parent needs a cluster IP (Linkerd) */
	MP_GWI_PATH_LENGTH = 1u << 8,  /* rules ranked by path length alone (Linkerd's proxy) */
	MP_GWI_NO_HOSTNAMES = 1u << 9, /* attachment ignores hostnames (Kuma) */
};

/* A provider's form of documents besides Kubernetes objects (mp_provider.form): documents
 * without apiVersion or kind, each one resource or a list of them, or (with `resources`) a
 * document that holds many. The frame reads every form alike (import.c, pass 1): a resource
 * is a mapping; its kind is its field kind_key, the provider's row flagged MP_KIND_FORM of
 * that form_kind (else kind), a note when there is none or the row is skipped; its name,
 * namespace and scope are its fields name_key, ns_key and scope_key; its spec is its field
 * spec_key (a mapping), or the resource itself. It is kept as a document of the row
 * (idoc.form set, meta the resource). The three forms: Consul's config entries, as `consul
 * config read -format json` prints them (`Kind: service-intentions`, `Name`, `Namespace`,
 * CamelCase fields at the top); Kuma's Universal resources, as kumactl applies them (`type`,
 * `name`, `mesh`, `labels`, `spec` or a legacy kind's fields); the App Mesh resources of the
 * JSON `terraform show -json` prints. */
struct mp_provider_form {
	const char *title;               /* what one resource is in messages ("config entry") */
	const char *kind_key, *name_key; /* required */
	const char *ns_key;              /* "default" when absent or empty; NULL: no namespace */
	const char *scope_key; /* part of its identity beside the name (Kuma's mesh); or NULL */
	const char *spec_key;  /* NULL: the resource itself */
	uint32_t flags;        /* IM_FORM_* */
	/* A form whose documents hold many resources: is root one (claims; the frame asks only
	 * of a document without apiVersion and kind), and its resources, each handed to keep in
	 * order (0, or -1 after an error about the document, dc: its root). The kinds its provider
	 * does not read are one note for the document. NULL: one resource, or a list, recognised by
	 * kind_key. */
	int (*claims)(yaml_document_t *doc, const yaml_node_t *root);
	int (*resources)(mp_import *im, idoc *dc, void (*keep)(void *ctx, yaml_node_t *resource),
	                 void *ctx);
};

enum {
	IM_FORM_SPEC = 1u << 0,  /* the spec is required (Terraform writes every resource's) */
	IM_FORM_NAMED = 1u << 1, /* a resource's name is its title (a Terraform address) */
};

/* The state provider p's begin made for this import (NULL when p has none). */
void *im_state(const mp_import *im, const mp_provider *p);

/* The providers' answers (struct mp_provider_import). A workload's identity (its document
 * dc), from its namespace and service account: the first provider's that claims it, else
 * SPIFFE's spiffe://TRUST-DOMAIN/ns/NS/sa/SA (the form of Istio, Consul and Kuma). */
void im_identity(mp_import *im, idoc *dc, const char *ns, const char *sa, char *out, size_t len);
/* A namespace's mTLS mode in a cluster, by its mesh's policy; MP_MTLS_UNSET when none. */
uint32_t im_namespace_mtls(mp_import *im, mp_id ns, mp_id cluster);
/* A Service port's protocol; tcp when no provider can tell. */
const char *im_port_protocol(mp_import *im, idoc *dc, yaml_node_t *at, uint32_t number,
                             const char *name, const char *app);

/* Does some provider read dc, a document of another provider's kind (its `reads` answer)? */
int im_reads(mp_import *im, idoc *dc);
/* Does the import hold provider p's configuration (its `holds` answer; 0 without one)? */
int im_holds(mp_import *im, const mp_provider *p);
/* A Gateway of another API named ns/name in cluster (the first provider's `gateway` answer):
 * 1 with *out, or 0. */
int im_gateway_find(mp_import *im, const char *ns, const char *name, mp_id cluster,
                    im_gateway *out);

/* Is the document alive: not replaced, no error, placed in a cluster? */
static inline int im_live(const idoc *dc)
{
	return !dc->dead && !dc->bad && dc->cluster != MP_NONE;
}

/* --- YAML --- */
yaml_node_t *im_node(idoc *dc, int id);
yaml_node_t *im_get(idoc *dc, yaml_node_t *map, const char *key); /* NULL when absent */
const char *im_scalar(const yaml_node_t *n);                      /* NULL unless a string */
/* YAML's null, and what a node is for messages ("a list", "null", ...): yamlload.h. */
static inline int im_is_null(const yaml_node_t *n)
{
	return mp_yaml_is_null(n);
}
static inline const char *im_kind_of(const yaml_node_t *n)
{
	return mp_yaml_kind_of(n);
}

#define IM_SEQ_FOREACH(dc, seq, item)                                                              \
	for (yaml_node_item_t *it_##item = (seq)->data.sequence.items.start;                       \
	     it_##item < (seq)->data.sequence.items.top &&                                         \
	     ((item) = im_node(dc, *it_##item)) != NULL;                                           \
	     it_##item++)
#define IM_MAP_FOREACH(dc, map, k, v)                                                              \
	for (yaml_node_pair_t *pr_##k = (map)->data.mapping.pairs.start;                           \
	     pr_##k < (map)->data.mapping.pairs.top && ((k) = im_node(dc, pr_##k->key)) != NULL && \
	     ((v) = im_node(dc, pr_##k->value)) != NULL;                                           \
	     pr_##k++)

mp_loc im_loc(const idoc *dc, const yaml_node_t *n);
mp_str im_intern(mp_import *im, const char *s);

/* Errors at a node ("file:line:col: KIND ns/name: message"); each returns -1. In an analysis
 * (mp_import_opts.analyze) an error is a finding instead (struct mp_provider_import,
 * invalid). */
int im_error(mp_import *im, idoc *dc, const yaml_node_t *n, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void im_note(mp_import *im, idoc *dc, const yaml_node_t *n, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Typed reads: 0 with the value (or "absent": NULL / *set = 0), -1 after an error. */
int im_str(mp_import *im, idoc *dc, yaml_node_t *map, const char *key, int required,
           const char **out);
int im_u32(mp_import *im, idoc *dc, yaml_node_t *map, const char *key, uint32_t lo, uint32_t hi,
           uint32_t *out, int *set);
int im_seq(mp_import *im, idoc *dc, yaml_node_t *map, const char *key, int required,
           yaml_node_t **out);
int im_map(mp_import *im, idoc *dc, yaml_node_t *map, const char *key, int required,
           yaml_node_t **out);
/* A list of strings (a single string counts as one). n strings into out (at most max). */
int im_strs(mp_import *im, idoc *dc, yaml_node_t *map, const char *key, int required,
            const char **out, uint32_t max, uint32_t *n);
/* Keys of map must be among allowed (NULL-terminated); an unknown one is an error. */
int im_keys(mp_import *im, idoc *dc, yaml_node_t *map, const char *const *allowed,
            const char *what);
/* A mapping's fields against a table, as a CRD's schema checks them (import_schema.c): one
 * row per field (the table ends with a row whose name is NULL), its type, whether it is
 * required, and for mappings and lists of mappings the table of their fields. Unknown fields
 * (with the nearest valid name), wrong types, missing fields and values outside an enum are
 * errors at their node naming the path from path ("spec"; "" for a document's top) down. 0,
 * or -1 after errors. */
typedef enum {
	IM_T_STR,    /* any scalar but null */
	IM_T_INT,    /* a plain integer */
	IM_T_BOOL,   /* true or false */
	IM_T_INTSTR, /* a scalar: an integer or a name (Kubernetes' IntOrString) */
	IM_T_ENUM,   /* one of values */
	IM_T_MAP,    /* a mapping with the fields of fields */
	IM_T_STRMAP, /* a mapping of strings (labels) */
	IM_T_LIST,   /* a list of mappings with fields, or of scalars of type item */
	IM_T_ANY,    /* not checked */
} im_type;

typedef struct im_field {
	const char *name;
	uint8_t type;     /* im_type */
	uint8_t required; /* absent or null is an error */
	uint8_t item;     /* IM_T_LIST without fields: the items' type */
	const struct im_field *fields;
	const char *const *values; /* IM_T_ENUM, NULL-terminated */
} im_field;

int im_check(mp_import *im, idoc *dc, yaml_node_t *map, const im_field *fields, const char *path);
/* The same for a kind whose CRD keeps unknown fields (x-kubernetes-preserve-unknown-fields, as
 * App Mesh's controller marks some): each unknown field goes to unknown (its key node, the
 * path of the mapping it is in, and "did you mean 'X'?" or the valid names) instead of being
 * an error; wrong types and values stay errors. */
typedef void (*im_unknown_fn)(mp_import *im, idoc *dc, yaml_node_t *key, const char *path,
                              const char *hint, void *arg);
int im_check_preserving(mp_import *im, idoc *dc, yaml_node_t *map, const im_field *fields,
                        const char *path, im_unknown_fn unknown, void *arg);

/* A duration ("5s", "250ms", "1.5s", "1m"): milliseconds. */
int im_duration(mp_import *im, idoc *dc, yaml_node_t *map, const char *key, uint32_t *ms, int *set);
/* A mapping of strings into the model's label pool. */
int im_labels(mp_import *im, idoc *dc, yaml_node_t *labels, mp_span *out);
/* One label (key, value) appended to the model's label pool, extending out (a span of labels
 * pushed one after the other). 0, or -1 when out of memory. */
int im_label(mp_import *im, const char *key, const char *value, mp_span *out);
/* A label or annotation value of metadata (labels first, then annotations), or NULL. */
const char *im_meta_value(idoc *dc, yaml_node_t *meta_or_annotations, const char *key);

/* The YAML node as JSON (plain scalars typed: integers, reals, booleans, null). */
json_t *im_json(idoc *dc, yaml_node_t *n);
/* Follows a '/'-separated path of keys and indexes from n; the deepest node reached. */
yaml_node_t *im_path(idoc *dc, yaml_node_t *n, const char *path);

/* --- the model --- */
/* Adds a finding to the model; one identical to an earlier one (code, level, subject, text,
 * file and line) is dropped, as istioctl collapses identical messages. */
void im_finding(mp_import *im, const char *code, uint32_t level, mp_loc loc, const char *subject,
                const char *fmt, ...) __attribute__((format(printf, 6, 7)));
/* "VirtualService default/reviews" into buf. */
const char *im_title(const mp_import *im, const idoc *dc, char *buf, size_t len);
const char *im_str_of(const mp_import *im, mp_str s);
/* The cluster named name, created (provider and region unknown) when no Cluster declares it
 * and no option names it. MP_NONE when out of memory. */
mp_id im_cluster(mp_import *im, const char *name, mp_loc loc);
/* The namespace id of name, created (implicitly) when missing. MP_NONE when out of memory. */
mp_id im_namespace(mp_import *im, mp_str name, mp_loc loc);
/* Are all labels of sel (a mapping node of doc dc) among the workload's? Empty: yes. */
int im_selector_matches(mp_import *im, idoc *dc, yaml_node_t *sel, const iworkload *w);
/* A `meshpol.io/mtls` style mode name -> mp_mtls, or 0. */
uint32_t im_mtls_mode(const char *s);
/* Data classes from meshpol.io/data-classes (comma- or dot-separated) appended to out. */
uint32_t im_data_classes(mp_import *im, const char *value, mp_str *out, uint32_t n, uint32_t max);

/* Appends an exact header match (the name in lower case) to a route's match. 0, or -1 when out
 * of memory. */
int im_match_header(mp_import *im, const char *name, const char *value, mp_match *out);
/* Adds a route named name (interned here) from tmpl (every field but name and the spans set)
 * with its destinations, mirrors and failover targets (t[0..2], n[0..2] of each), declared in
 * the compiler's table of names (a duplicate is reported and the route left out). */
void im_add_route(mp_import *im, const char *name, const mp_route *tmpl, const mp_target *t[3],
                  const uint32_t n[3]);

/* Adds the document to the model as a resource (kind, apiVersion, namespace, name, version,
 * its spec as JSON: spec, which it takes and frees) with flags (MP_RESOURCE_*) and aux (its
 * provider's data beside the spec, mp_resource). */
void im_add_resource(mp_import *im, idoc *dc, json_t *spec, uint32_t flags, mp_span aux);
/* Adds r with the spec JSON (which it takes and frees): a record a provider keeps of what it
 * read elsewhere (Istio's MeshConfig, Linkerd's LinkerdProxy), every field but spec set. */
void im_add_record(mp_import *im, const mp_resource *r, json_t *spec);

#endif
