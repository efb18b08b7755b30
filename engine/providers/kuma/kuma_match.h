/* kuma_match.h: which Kuma policies select which dataplane inbound, in which order, and which
 * from[] entries and legacy selectors match a client, as Kuma's control plane decides
 * (kumahq/kuma pkg/plugins/policies/core/matchers/dataplane.go: dppSelectedByZone,
 * dppSelectedByNamespace, dppSelectedByPolicy, SortByTargetRef; pkg/core/policy
 * connection_matcher.go for TrafficPermission). Shared by the importer (a workload's mTLS mode
 * from MeshTLS, the analyzers) and the compiled state (decisions), over the same JSON: a policy's
 * labels with the ones Kuma computes (kuma.io/mesh, kuma.io/policy-role, k8s.kuma.io/namespace,
 * kuma.io/origin, kuma.io/zone, kuma.io/display-name), a dataplane's labels, an inbound's tags.
 * Semantics: docs/import.md ("Kuma"). Nothing here allocates; every pointer is borrowed. */
#ifndef MP_KUMA_MATCH_H
#define MP_KUMA_MATCH_H

#include <jansson.h>
#include <stdint.h>

#define KM_LABEL_MESH      "kuma.io/mesh"
#define KM_LABEL_ROLE      "kuma.io/policy-role"
#define KM_LABEL_NAMESPACE "k8s.kuma.io/namespace"
#define KM_LABEL_ORIGIN    "kuma.io/origin"
#define KM_LABEL_ZONE      "kuma.io/zone"
#define KM_LABEL_DISPLAY   "kuma.io/display-name"
#define KM_LABEL_EFFECT    "kuma.io/effect"
#define KM_TAG_SERVICE     "kuma.io/service"

/* A policy as the matchers see it: its labels (Kuma's computed ones included) and its
 * top-level targetRef (NULL: Mesh, as Kuma reads an omitted one). */
typedef struct {
	json_t *labels;
	json_t *ref;
	uint32_t order; /* its place in the sources, the last tie-break */
} km_policy;

/* A dataplane: its labels (k8s.kuma.io/namespace, kuma.io/zone, kuma.io/origin, kuma.io/mesh
 * among them) and its name (a Kubernetes workload's, or the Dataplane's). */
typedef struct {
	json_t *labels;
	const char *name;
} km_dataplane;

/* One inbound: its port, its name (the container port's or the inbound's; NULL: none) and its
 * tags (kuma.io/service among them). */
typedef struct {
	uint32_t port;
	const char *name;
	json_t *tags;
} km_inbound;

/* The targetRef kinds, least specific first (SortByTargetRef's order); NULL-terminated. */
extern const char *const km_ref_kinds[];

/* A label's value, or NULL. */
const char *km_label(json_t *labels, const char *key);
/* Is the policy labelled kuma.io/effect: shadow (never applied)? */
int km_shadow(const km_policy *p);
/* Does the policy's top-level targetRef select the inbound of the dataplane (mesh, zone and
 * namespace scope, then the targetRef's kind)? Shadow policies select too: callers that apply
 * policies skip them (km_shadow). */
int km_selects(const km_policy *p, const km_dataplane *d, const km_inbound *in);
/* Does it select any inbound of the dataplane (or, when it has none, the dataplane as a whole:
 * Mesh and Dataplane targetRefs)? */
int km_selects_dataplane(const km_policy *p, const km_dataplane *d, const km_inbound *in,
                         uint32_t nin);
/* SortByTargetRef: < 0 when a comes first (has less priority); the last one wins. */
int km_policy_cmp(const km_policy *a, const km_policy *b);
/* Kuma's TagSelector: every key of sel among tags with the same value (wildcard: or "*"). */
int km_tags_match(json_t *sel, json_t *tags, int wildcard);
/* A client as its certificate shows it: its tags (kuma:// SANs; may be NULL) and its service
 * (the spiffe://MESH/SERVICE SAN, which wins over a kuma.io/service tag; NULL: the tag's). */
typedef struct {
	json_t *tags;
	const char *service;
} km_client;
const char *km_client_tag(const km_client *c, const char *key);
/* Does a from[] entry's targetRef match the client (Mesh, MeshSubset, MeshService,
 * MeshServiceSubset; no wildcard: subsetutils.IsSubset)? An unknown kind never matches. */
int km_from_matches(json_t *ref, const km_client *c);
/* Does a legacy TrafficPermission source selector match the client (a "*" value asks for
 * nothing: network_rbac_configurer.go principalFromSelector)? */
int km_source_matches(json_t *sel, const km_client *c);
/* A legacy TrafficPermission destination selector's rank on an inbound (number of tags, then
 * exact values: TagSelectorRank), or -1 when it does not select the inbound. */
long km_selector_rank(json_t *sel, json_t *tags);

#endif
