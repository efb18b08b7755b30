/* consul_int.h: what Consul's files share: its kinds (by index into its kinds table), its state
 * for one import, the schema reader, and the functions one file calls in another:
 * provider_consul.c (the row and its authorization ops), import_consul.c (the server
 * configuration, the documents, services and resources), schema_consul.c (the field tables:
 * checking and normalising both forms), routes_consul.c (discovery chains -> routes),
 * analyze_consul.c (the analyzers), intentions.c (intentions compiled and decided: intentions.h).
 * Mapping and semantics: docs/import.md ("Consul"). */
#ifndef MP_CONSUL_INT_H
#define MP_CONSUL_INT_H

#include "import_int.h"

#include <string.h>

/* The rows of mp_consul_kinds (a document's kind points at one). */
enum {
	CK_SERVICEINTENTIONS,
	CK_SERVICEDEFAULTS,
	CK_PROXYDEFAULTS,
	CK_SERVICEROUTER,
	CK_SERVICESPLITTER,
	CK_SERVICERESOLVER,
	CK_MESH,
	CK_EXPORTEDSERVICES,
	CK_TERMINATINGGATEWAY,
	CK_INGRESSGATEWAY,
	CK_KINDS
};

#define CONSUL_API "consul.hashicorp.com/v1alpha1"

extern const mp_provider_kind mp_consul_kinds[CK_KINDS + 1];
extern const struct mp_provider_import mp_consul_import; /* import_consul.c */
extern const mp_check_row mp_consul_analyzers[];         /* analyze_consul.c */

static inline int consul_is(const idoc *dc, uint32_t kind)
{
	return dc->kind == &mp_consul_kinds[kind];
}

static inline uint32_t consul_kind(const idoc *dc)
{
	return (uint32_t)(dc->kind - mp_consul_kinds);
}

/* How a Kubernetes namespace maps to a Consul namespace (consul-k8s namespaces.go
 * ConsulNamespace): namespaces off (Consul CE: every namespace is `default`), mirrored (with a
 * prefix), or every namespace into one. */
enum { CNS_OFF = 0, CNS_MIRROR, CNS_SINGLE };

/* One datacenter: a cluster of the import, with the server configuration consul-k8s rendered
 * for it (ConfigMap <release>-server-config and -server-tmp-extra-config) and the connect
 * injector's flags. */
typedef struct {
	mp_id cluster;
	mp_str datacenter, partition;
	uint32_t ns_mode; /* CNS_* */
	mp_str ns_prefix, ns_single;
	uint32_t acl_enabled;
	uint32_t default_allow; /* the intention default */
	/* where the default comes from: a ConfigMap (its title, the key that decided and its
	 * location), the option, or Consul's built-in default (ACLs off) */
	mp_str default_from, default_rule;
	mp_loc default_loc;
	uint32_t injector_doc; /* the connect injector's Deployment, or UINT32_MAX */
} consul_dc;

/* A Consul document, checked and normalised: the same for its CRD and its config entry. */
typedef struct {
	uint32_t doc; /* index into im->docs */
	mp_str cns,
	    cname;        /* its Consul namespace and name (a ServiceIntentions: the destination) */
	mp_str partition; /* its admin partition */
	json_t *spec;     /* the normalised spec (owned); NULL when it did not check */
	uint32_t *lines;  /* see consul_lines() in import_consul.c; owned */
	uint32_t nlines;
} consul_entry;

/* Consul's state for one import (im_state), owned by the importer: begin and end in
 * import_consul.c. */
typedef struct {
	const char *opt_default;    /* option default-intention-policy, or NULL */
	const char *opt_namespaces; /* option namespaces, or NULL */
	int present;                /* the import holds Consul's configuration */
	consul_dc *dcs;             /* one per cluster of the import (after CLUSTERS) */
	uint32_t ndcs;
	consul_entry *ents; /* the Consul documents that checked, in document order */
	uint32_t nents, cap;
	struct consul_authz *authz; /* the analyzers' (analyze_consul.c), compiled on first use */
} consul_state;

static inline consul_state *consul_of(const mp_import *im)
{
	return im_state(im, &mp_provider_consul);
}

/* The datacenter of a cluster (NULL when the import has no Consul). */
const consul_dc *consul_dc_of(const mp_import *im, mp_id cluster);
/* A Kubernetes namespace as a Consul namespace, by the datacenter's mapping; into buf. */
const char *consul_namespace_of(const mp_import *im, const consul_dc *dc, const char *k8s_ns,
                                char *buf, size_t len);
/* A string as the model holds it, without interning it (a lookup must not grow the string
 * table: pointers into it would move); MP_NONE when the model never saw it. */
static inline mp_str consul_str(const mp_import *im, const char *s)
{
	return mp_model_find_str(im->m, s, strlen(s));
}

/* The entry of kind (CK_*) named cns/cname, or NULL. */
const consul_entry *consul_find(const mp_import *im, uint32_t kind, mp_str cns, mp_str cname);
/* The model service a Consul service (namespace and name) stands for in cluster (MP_NONE: any
 * cluster), or MP_NONE. */
mp_id consul_service(mp_import *im, const char *cns, const char *cname, mp_id cluster);

/* --- the schema (schema_consul.c) --- */

/* What a field holds. */
typedef enum {
	CT_STRING,   /* any scalar */
	CT_BOOL,     /* true or false */
	CT_INT,      /* an integer */
	CT_NUMBER,   /* a number (splitter weights) */
	CT_DURATION, /* a Go duration: "15s", "1m30s", "250ms" */
	CT_STRINGS,  /* a list of strings */
	CT_OBJECT,   /* a mapping with fields sub */
	CT_LIST,     /* a list of mappings with fields sub */
	CT_MAP,      /* a mapping of any keys to mappings with fields sub */
	CT_ANY,      /* anything: kept as written, not read */
	CT_IGNORE,   /* read-only output of `consul config read` (Precedence, ...): left out */
} consul_type;

typedef struct consul_field consul_field;
struct consul_field {
	const char *name; /* as the CRD spells it (camelCase); NULL ends a table */
	consul_type type;
	const consul_field *sub;
};

/* The fields of kind's spec, as the CRD spells them. */
const consul_field *consul_spec_fields(uint32_t kind);
/* The value of field name (the CRD's spelling) in map: in a CRD by its exact name, in a config
 * entry as Consul's decoder finds it (any case, underscores ignored: PathExact, path_exact).
 * NULL when absent. */
yaml_node_t *consul_get(idoc *dc, yaml_node_t *map, const char *name);
/* Checks map against fields (path names it in messages: "spec.sources[0]") and returns it as
 * JSON with the CRD's field names; NULL after an error at the offending node (an unknown field
 * names the nearest valid one). skip: keys of a config entry's top level to leave out (Kind,
 * Name, read-only fields), or NULL. */
json_t *consul_normalize(mp_import *im, idoc *dc, yaml_node_t *map, const consul_field *fields,
                         const char *path, const char *const *skip);
/* Is s a Go duration ("300ms", "1m30s")? */
int consul_is_duration(const char *s);

/* --- routes (routes_consul.c) --- */
void mp_import_consul_routes(mp_import *im);
/* Checks what Consul checks of a router, splitter or resolver entry (and refuses): -1 after
 * an error. */
int consul_check_chain(mp_import *im, idoc *dc, const consul_entry *e);

/* The model's intentions compiled for the analyzers, once; NULL when out of memory. */
struct consul_authz *consul_analyzer_authz(mp_import *im);
void consul_authz_free(struct consul_authz *a);

/* --- intentions (import_consul.c): Consul's own checks of a service-intentions entry --- */
int consul_check_intentions(mp_import *im, idoc *dc, yaml_node_t *spec, json_t *norm);

#endif
