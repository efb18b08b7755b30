/* kuma_state.h: the inside of an mp_kmauthz, shared by state_kuma.c (compiling the model's Kuma
 * resources and KumaDataplane records: for each dataplane inbound, the permissions Kuma's
 * control plane would select for it, in its order, and its mTLS mode) and decide_kuma.c
 * (deciding, as the inbound's RBAC filter does). Semantics: docs/import.md ("Kuma").
 *
 * Everything is in the state's arena, or JSON the state holds a reference to (json, freed
 * with it); strings are the state's own copies (titles, rules and sources are what reasons
 * point at, so they live as long as the snapshot). Indexes are into the state's arrays. */
#ifndef MP_KUMA_STATE_H
#define MP_KUMA_STATE_H

#include "arena.h"
#include "kuma_authz.h"
#include "kuma_match.h"

/* A mesh: its mTLS (Mesh.mtls.enabledBackend) and mode. */
typedef struct {
	const char *name, *title, *version, *source; /* "Mesh default", "file:line" or "" */
	int mtls, permissive;
} ks_mesh;

enum { KS_DENY, KS_ALLOW, KS_SHADOW }; /* the rules form's actions */
enum { KS_MTP, KS_MESHTLS, KS_TP };    /* the kinds of ks_policy */

/* A matcher of the rules form: spiffeID Exact or Prefix. */
typedef struct {
	uint32_t action; /* KS_* */
	int prefix;
	const char *value;
	const char *rule, *source; /* "rules[0].deny[1]", "file:line" */
} ks_matcher;

/* An entry of the from form. */
typedef struct {
	json_t *ref;
	uint32_t action; /* KS_DENY, KS_ALLOW, KS_SHADOW (AllowWithShadowDeny) */
	const char *rule, *source;
} ks_from;

/* A MeshTrafficPermission, MeshTLS or TrafficPermission. */
typedef struct {
	uint32_t kind; /* KS_* */
	km_policy p;   /* labels and targetRef (the state's JSON) */
	const char *title, *version, *source, *mesh;
	ks_from *from;
	uint32_t nfrom;
	ks_matcher *m;
	uint32_t nm, rules; /* rules: the policy has a rules form */
	/* MeshTLS: the mode of its last rule that sets one, that rule's name and line */
	int tls_mode; /* 0 none, 1 Strict, 2 Permissive */
	const char *tls_rule, *tls_source;
	/* TrafficPermission */
	json_t *sources, *dests; /* arrays of {match} */
	const char **src_rule, **src_source;
} ks_policy;

/* How an inbound treats a plaintext client: refused (strict) or let in unchecked, and the
 * resource and rule that made it so. */
typedef struct {
	int strict;
	const char *title, *version, *rule, *source;
} ks_mode;

typedef struct {
	km_inbound k;          /* port, name, tags */
	mp_id svc;             /* the model's service */
	uint32_t service_port; /* k8s.kuma.io/service-port, 0: none */
	uint32_t *mtp;         /* the permissions that select it, Kuma's order (shadow ones out) */
	uint32_t nmtp;
	uint32_t tp; /* the TrafficPermission Kuma picks for it; UINT32_MAX: none */
	ks_mode mode;
} ks_in;

typedef struct {
	mp_id workload;
	const ks_mesh *mesh; /* NULL: a mesh that does not exist */
	const char *mesh_name, *title, *source;
	km_dataplane d; /* labels (the state's JSON), name */
	int identity;   /* a MeshIdentity gives it a workload identity: the rules form */
	const char *id_title, *id_source;
	ks_in *in;
	uint32_t nin;
} ks_dp;

/* The tags of each service's inbounds, for a client named only by its principal. */
typedef struct {
	const char *mesh, *service;
	json_t *tags;
} ks_client;

struct mp_kmauthz {
	const mp_model *m;
	mp_arena ar;
	json_t *held; /* every JSON value the state parsed, released with it */
	ks_mesh *meshes;
	uint32_t nmeshes;
	ks_policy *pol;
	uint32_t npol;
	ks_dp *dps;
	uint32_t ndps;
	uint32_t *dp_of; /* per workload of the model: its dataplane, or UINT32_MAX */
	ks_client *clients;
	uint32_t nclients, cap_clients;
};

#endif
