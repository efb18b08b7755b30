/* provider.h: mesh providers, one interface every mesh plugs into (DESIGN.md, "Mesh
 * providers"). A provider is one folder, engine/providers/<mesh>/, and one row of
 * mp_providers[] (provider.c), as Lua's linit.c lists libraries: its name, the API groups and
 * kinds it reads, its import phases (import_int.h), its options, its analyzers (check.h) and
 * its authorization ops. The importer's frame (import.c) and the decision core (decide.c) know
 * no mesh: the frame recognises documents by the kind tables and runs every provider's
 * function of each import phase in this list's order; the snapshot holds one state per
 * provider that has something to decide, and mp_decide combines their verdicts with the
 * bundle's by one rule, docs/import.md ("Combining with a bundle"). Adding a provider:
 * docs/architecture.md ("Adding a mesh provider").
 */
#ifndef MP_PROVIDER_H
#define MP_PROVIDER_H

#include "check.h"
#include "compile.h"
#include "decide.h"
#include "model.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* A provider's verdict on one request; ordered, so the most restrictive is the largest. */
typedef enum {
	MP_PROVIDER_ABSTAIN = 0,   /* nothing of it applies to the request */
	MP_PROVIDER_ALLOW,         /* it allows the request */
	MP_PROVIDER_NOT_PERMITTED, /* it governs the request and permits none of it */
	MP_PROVIDER_DENY,          /* it forbids the request */
} mp_provider_verdict;

/* An API group, its versions (space-separated, with a space either side) and one kind. A
 * kind belongs to one provider; the importer keeps a pointer to its row for each document.
 * A row with skip (any version when versions is NULL) is a kind the provider knows and leaves
 * out: its documents are skipped with that reason in the note. A mesh whose configuration is
 * one document of another provider's kind (a ConfigMap: Kubernetes') does not list the kind:
 * it claims the document by its `reads` answer (import_int.h). */
typedef struct {
	const char *group, *versions, *kind;
	uint32_t flags;   /* MP_KIND_* */
	const char *skip; /* NULL: read; else why it is left out */
	/* MP_KIND_FORM: its name in the provider's document form (Consul's `Kind:
	 * service-intentions`); NULL: kind */
	const char *form_kind;
} mp_provider_kind;

enum {
	MP_KIND_CLUSTER_SCOPED = 1u << 0, /* no namespace (Namespace, Node) */
	/* also read in its provider's document form (mp_provider.form, import_int.h): documents
	 * without apiVersion, as Consul's config entries, Kuma's Universal resources and
	 * Terraform's JSON write them. Its apiVersion there is the row's group and first version.
	 */
	MP_KIND_FORM = 1u << 1,
	/* only there, never by a document's apiVersion (App Mesh's Terraform resources) */
	MP_KIND_FORM_ONLY = MP_KIND_FORM | 1u << 2,
};

/* How the importer reads a provider's kinds: its state, phases and answers; and the one form
 * of documents besides Kubernetes objects it reads, if any (import_int.h, which is internal to
 * the importer). */
struct mp_provider_import;
struct mp_provider_form;
struct mp_gateway_impl;

/* The bundle's own answer to a request, as meshpol's ext_authz service gives it to a mesh that
 * consults meshpol (Istio's CUSTOM action with meshpol as its extension provider). */
typedef enum {
	MP_PROVIDER_BUNDLE_NONE = 0, /* no bundle */
	MP_PROVIDER_BUNDLE_ALLOW, /* an allow rule matched, or nothing did and its default allows */
	MP_PROVIDER_BUNDLE_DENY,  /* a deny rule matched, or nothing did and its default denies */
} mp_provider_bundle;

/* The request as the decision core resolved it. Borrowed; MP_NONE when unknown. */
typedef struct {
	const mp_request *r;
	const mp_model *m;
	mp_id src_svc, dst_svc, dst_ext;
	mp_id dst_cluster; /* MP_NONE: any cluster of the service */
	uint32_t bundle;   /* mp_provider_bundle */
} mp_provider_request;

/* An option a provider takes (mp_compile_opts.provider_opts set it): its name, what it is, and
 * its value when not given. */
typedef struct {
	const char *name, *help, *fallback;
} mp_provider_option;

typedef struct mp_provider {
	const char *name;                        /* "istio"; a reason's origin names it */
	const char *title;                       /* "Istio", as messages name it */
	const mp_provider_kind *kinds;           /* what it reads; ends with a row of NULLs */
	const struct mp_provider_form *form;     /* its documents without apiVersion; NULL: none */
	const mp_provider_option *options;       /* ends with a row of NULLs; NULL: none */
	const struct mp_provider_import *import; /* NULL: it imports nothing */
	/* Its analyzers: rows of the check table (check.h), ended by a row whose id is NULL;
	 * NULL: none. check.c lists them after the auditor's own, in this list's order. */
	const mp_check_row *analyzers;
	/* Authorization ops, all NULL for a provider with no say in decisions. compile builds the
	 * provider's state for a snapshot from the model: 0 with *state set (NULL: nothing to
	 * decide, the provider sits out), or -1 with a message in err. */
	int (*compile)(const mp_model *m, void **state, char *err, size_t errlen);
	/* decide: the verdict on q, its reasons added to d with mp_decision_add (advisories
	 * included); when explain is a JSON array, one object per resource considered. */
	uint32_t (*decide)(const void *state, const mp_provider_request *q, mp_decision *d,
	                   json_t *explain);
	/* fallback: the verdict when there is no bundle and every provider abstained (its default
	 * when nothing of it applies), reasons added to d; NULL: abstain. */
	uint32_t (*fallback)(const void *state, const mp_provider_request *q, mp_decision *d);
	void (*free)(void *state);
	/* The deny reason when it allows a request that the bundle, which has allow rules for the
	 * destination, allows none of. */
	const char *bundle_disagrees;
	/* present: does m hold this mesh's configuration (so that its defaults, not another
	 * mesh's, govern the workloads)? NULL: never. It answers from what the provider's importer
	 * puts in the model (Consul's ConsulConfig, Linkerd's ConfigMap linkerd-config): during an
	 * import, every importer that has a present puts it there before IM_PHASE_RESOURCES,
	 * where Istio asks (import_int.h), so the answer holds for the import and its model. */
	int (*present)(const mp_model *m);
	/* migrate: the way off this mesh (export.h): its rules in m written as the resources of
	 * target to out (YAML), the requests that check them appended to checks (objects:
	 * {"what", "from": a decision input for m, "to": the same request for the target's model}
	 * or {"what", "unverified": why}), what does not carry over to left_out ({"what", "why"}).
	 * opts: those the sources were compiled with. 0, or -1 with err. NULL: none. */
	int (*migrate)(const mp_model *m, const char *target, const mp_compile_opts *opts,
	               FILE *out, json_t *checks, json_t *left_out, char *err, size_t errlen);
	/* The option of its that, set to "off", leaves its documents unread (the target's model is
	 * the sources compiled without them, with the exported resources). */
	const char *migrate_off;
	/* How it implements the Kubernetes Gateway API (import_int.h); NULL: it does not. */
	const struct mp_gateway_impl *gateway_api;
} mp_provider;

/* Every provider, in the order their verdicts and reasons come; ends with NULL. */
extern const mp_provider *const mp_providers[];

/* One provider's state in a snapshot (engine.h). */
typedef struct mp_provider_state {
	const mp_provider *p;
	void *state;
} mp_provider_state;

/* The value of provider's option name: the last of the n settings s that sets it, else the
 * default of the provider's row, else NULL (no such provider or option). */
const char *mp_provider_option_value(const mp_provider_setting *s, uint32_t n, const char *provider,
                                     const char *name);

/* The provider whose kinds table has the resource's API group and kind, or NULL (a record of
 * meshpol's, such as Istio's MeshConfig). A provider compiles only its own resources: Istio's
 * and Linkerd's AuthorizationPolicy share a kind. (Linkerd's ConfigMap linkerd-config is
 * Kubernetes' kind: Linkerd tells its own by the name.) */
const mp_provider *mp_provider_of(const mp_model *m, const mp_resource *r);

/* Does m hold the configuration of a mesh provider other than self (its `present`)? A mesh
 * whose defaults apply to every imported workload (Istio's implicit allow) stands down then. */
int mp_providers_other_mesh(const mp_model *m, const mp_provider *self);

/* Compiles every provider with authorization ops for m: 0 with *out (the states of those that
 * have something to decide, *n of them; free with mp_providers_free), or -1 with err. */
int mp_providers_compile(const mp_model *m, mp_provider_state **out, uint32_t *n, char *err,
                         size_t errlen);
void mp_providers_free(mp_provider_state *s, uint32_t n);

/* For providers: adds a reason (advisory: to the advisories) with its origin, which must live
 * as long as the snapshot; and formats a message into the decision's text buffer (fmt takes
 * two strings). */
void mp_decision_add(mp_decision *d, uint32_t kind, const char *message, int advisory,
                     const mp_reason_origin *origin);
const char *mp_decision_text(mp_decision *d, const char *fmt, const char *a, const char *b);

/* The providers' rows (one folder each). */
extern const mp_provider mp_provider_kubernetes, mp_provider_gatewayapi, mp_provider_consul,
    mp_provider_istio, mp_provider_linkerd, mp_provider_appmesh, mp_provider_kuma;

#endif
