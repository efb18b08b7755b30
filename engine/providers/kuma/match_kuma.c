/* match_kuma.c: Kuma's policy matchers (kuma_match.h): scope, targetRef selection, the order of
 * the selected policies, from[] entries and legacy tag selectors, over JSON labels and tags.
 * Sources: kumahq/kuma pkg/plugins/policies/core/matchers/dataplane.go, api/common/v1alpha1
 * targetref.go (the kinds' order), api/mesh/v1alpha1 dataplane_helpers.go (ResourceOrigin,
 * TagSelector), pkg/core/resources/model/resource.go (PolicyRole, GetDisplayName),
 * pkg/plugins/policies/core/rules/subsetutils/subset.go. docs/import.md ("Kuma"). */
#include "kuma_match.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *km_label(json_t *labels, const char *key)
{
	return json_string_value(json_object_get(labels, key));
}

static const char *str_or(const char *s, const char *d)
{
	return s ? s : d;
}

int km_shadow(const km_policy *p)
{
	const char *e = km_label(p->labels, KM_LABEL_EFFECT);
	return e && !strcmp(e, "shadow");
}

int km_tags_match(json_t *sel, json_t *tags, int wildcard)
{
	const char *k;
	json_t *v;
	json_object_foreach(sel, k, v)
	{
		const char *want = json_string_value(v), *have = km_label(tags, k);
		if (!want || !have)
			return 0;
		if (strcmp(want, have) && !(wildcard && !strcmp(want, "*")))
			return 0;
	}
	return 1;
}

static const char *ref_kind(json_t *ref)
{
	return str_or(json_string_value(json_object_get(ref, "kind")), "Mesh");
}

/* dppSelectedByZone: a zone's policy (origin zone, kuma.io/zone) reaches only dataplanes of its
 * zone that came from a zone; producer policies, global and unlabelled ones reach every zone. */
static int zone_ok(const km_policy *p, const km_dataplane *d)
{
	const char *role = str_or(km_label(p->labels, KM_LABEL_ROLE), "system");
	const char *dorigin = km_label(d->labels, KM_LABEL_ORIGIN);
	const char *porigin = km_label(p->labels, KM_LABEL_ORIGIN);
	const char *pzone = km_label(p->labels, KM_LABEL_ZONE);
	if (!strcmp(role, "producer") || !dorigin || !strcmp(dorigin, "global"))
		return 1;
	if (!porigin || strcmp(porigin, "zone") || !pzone)
		return 1;
	return !strcmp(str_or(km_label(d->labels, KM_LABEL_ZONE), ""), pzone);
}

/* dppSelectedByNamespace: consumer and workload-owner policies reach only dataplanes of their
 * namespace (k8s.kuma.io/namespace). */
static int namespace_ok(const km_policy *p, const km_dataplane *d)
{
	const char *role = str_or(km_label(p->labels, KM_LABEL_ROLE), "system");
	const char *pns = km_label(p->labels, KM_LABEL_NAMESPACE);
	const char *dns = km_label(d->labels, KM_LABEL_NAMESPACE);
	if (strcmp(role, "consumer") && strcmp(role, "workload-owner"))
		return 1;
	return pns && dns && !strcmp(pns, dns);
}

/* The tags a top-level MeshSubset, MeshService or MeshServiceSubset selects inbounds by
 * (inboundsSelectedByTags: TagSelector, "*" matches any value). */
static int ref_tags_match(json_t *ref, const char *kind, json_t *tags)
{
	const char *name = json_string_value(json_object_get(ref, "name"));
	if (strcmp(kind, "MeshSubset")) {
		const char *svc = km_label(tags, KM_TAG_SERVICE);
		if (!name || !svc || strcmp(name, svc))
			return 0;
		if (!strcmp(kind, "MeshService"))
			return 1;
	}
	return km_tags_match(json_object_get(ref, "tags"), tags, 1);
}

/* A Dataplane targetRef: labels, name and namespace select the dataplane; sectionName one
 * inbound, by its name, else (unnamed) its port number (InboundsSelectedBySectionName). */
static int dataplane_ref(json_t *ref, const km_dataplane *d, const km_inbound *in)
{
	const char *name = json_string_value(json_object_get(ref, "name"));
	const char *ns = json_string_value(json_object_get(ref, "namespace"));
	const char *section = json_string_value(json_object_get(ref, "sectionName"));
	char port[16];
	if (!km_tags_match(json_object_get(ref, "labels"), d->labels, 0))
		return 0;
	if (name && (!d->name || strcmp(name, d->name)))
		return 0;
	if (ns && strcmp(ns, str_or(km_label(d->labels, KM_LABEL_NAMESPACE), "")))
		return 0;
	if (!section)
		return 1;
	if (in->name && *in->name)
		return !strcmp(in->name, section);
	snprintf(port, sizeof(port), "%u", in->port);
	return !strcmp(port, section);
}

/* proxyTypes: a sidecar is selected unless the list leaves Sidecar out. */
static int sidecar_ok(json_t *ref)
{
	json_t *types = json_object_get(ref, "proxyTypes"), *t;
	size_t i;
	if (!json_array_size(types))
		return 1;
	json_array_foreach(types, i, t)
	{
		if (json_string_value(t) && !strcmp(json_string_value(t), "Sidecar"))
			return 1;
	}
	return 0;
}

int km_selects(const km_policy *p, const km_dataplane *d, const km_inbound *in)
{
	const char *pmesh = str_or(km_label(p->labels, KM_LABEL_MESH), "default");
	const char *dmesh = str_or(km_label(d->labels, KM_LABEL_MESH), "default");
	const char *kind = ref_kind(p->ref);
	if (strcmp(pmesh, dmesh) || !zone_ok(p, d) || !namespace_ok(p, d))
		return 0;
	if (!strcmp(kind, "Mesh"))
		return sidecar_ok(p->ref);
	if (!strcmp(kind, "Dataplane"))
		return dataplane_ref(p->ref, d, in);
	if (!strcmp(kind, "MeshSubset"))
		return sidecar_ok(p->ref) && ref_tags_match(p->ref, kind, in->tags);
	if (!strcmp(kind, "MeshService") || !strcmp(kind, "MeshServiceSubset"))
		return ref_tags_match(p->ref, kind, in->tags);
	return 0; /* MeshGateway, MeshHTTPRoute, ...: no sidecar inbound */
}

int km_selects_dataplane(const km_policy *p, const km_dataplane *d, const km_inbound *in,
                         uint32_t nin)
{
	km_inbound none = {0, NULL, NULL};
	const char *kind = ref_kind(p->ref);
	for (uint32_t i = 0; i < nin; i++)
		if (km_selects(p, d, &in[i]))
			return 1;
	if (nin || json_object_get(p->ref, "sectionName"))
		return 0;
	return (!strcmp(kind, "Mesh") || !strcmp(kind, "Dataplane")) && km_selects(p, d, &none);
}

/* api/common/v1alpha1 targetref.go: the kinds' order, least specific first. */
const char *const km_ref_kinds[] = {
    "Mesh",
    "Dataplane",
    "MeshSubset",
    "MeshGateway",
    "MeshService",
    "MeshExternalService",
    "MeshMultiZoneService",
    "MeshServiceSubset",
    "MeshHTTPRoute",
    NULL,
};

static int kind_rank(const char *kind)
{
	for (int i = 0; km_ref_kinds[i]; i++)
		if (!strcmp(km_ref_kinds[i], kind))
			return i + 1;
	return 0;
}

/* ResourceOrigin.Compare: global < none < zone. */
static int origin_rank(const char *o)
{
	return !o ? 2 : !strcmp(o, "global") ? 1 : !strcmp(o, "zone") ? 3 : 2;
}

/* PolicyRole.Compare: system < producer < consumer < workload-owner. */
static int role_rank(const char *r)
{
	static const char *const order[] = {"system", "producer", "consumer", "workload-owner",
	                                    NULL};
	for (int i = 0; r && order[i]; i++)
		if (!strcmp(order[i], r))
			return i;
	return 0;
}

static int icmp(long a, long b)
{
	return a < b ? -1 : a > b;
}

int km_policy_cmp(const km_policy *a, const km_policy *b)
{
	const char *ka = ref_kind(a->ref), *kb = ref_kind(b->ref);
	int c;
	if ((c = icmp(kind_rank(ka), kind_rank(kb))))
		return c;
	if (!strcmp(ka, "Dataplane") && (c = icmp(json_object_get(a->ref, "sectionName") != NULL,
	                                          json_object_get(b->ref, "sectionName") != NULL)))
		return c;
	if ((c = icmp(origin_rank(km_label(a->labels, KM_LABEL_ORIGIN)),
	              origin_rank(km_label(b->labels, KM_LABEL_ORIGIN)))))
		return c;
	if ((c = icmp(role_rank(km_label(a->labels, KM_LABEL_ROLE)),
	              role_rank(km_label(b->labels, KM_LABEL_ROLE)))))
		return c;
	/* the display name in inverted order: "aaa" comes last and wins over "bbb" */
	c = strcmp(str_or(km_label(b->labels, KM_LABEL_DISPLAY), ""),
	           str_or(km_label(a->labels, KM_LABEL_DISPLAY), ""));
	return c ? (c < 0 ? -1 : 1) : icmp(a->order, b->order);
}

const char *km_client_tag(const km_client *c, const char *key)
{
	if (c->service && !strcmp(key, KM_TAG_SERVICE))
		return c->service;
	return km_label(c->tags, key);
}

/* Every tag of sel the client has, with the same value; "*" (legacy selectors only) asks for
 * nothing. */
static int client_has(json_t *sel, const km_client *c, int star)
{
	const char *k;
	json_t *v;
	json_object_foreach(sel, k, v)
	{
		const char *want = json_string_value(v), *have = km_client_tag(c, k);
		if (star && want && !strcmp(want, "*"))
			continue;
		if (!want || !have || strcmp(want, have))
			return 0;
	}
	return 1;
}

int km_from_matches(json_t *ref, const km_client *c)
{
	const char *kind = ref_kind(ref);
	const char *name = json_string_value(json_object_get(ref, "name"));
	if (!strcmp(kind, "Mesh"))
		return 1;
	if (!strcmp(kind, "MeshService") || !strcmp(kind, "MeshServiceSubset")) {
		const char *svc = km_client_tag(c, KM_TAG_SERVICE);
		if (!name || !svc || strcmp(name, svc))
			return 0;
		if (!strcmp(kind, "MeshService"))
			return 1;
	} else if (strcmp(kind, "MeshSubset")) {
		return 0;
	}
	return client_has(json_object_get(ref, "tags"), c, 0);
}

int km_source_matches(json_t *sel, const km_client *c)
{
	return client_has(sel, c, 1);
}

long km_selector_rank(json_t *sel, json_t *tags)
{
	const char *k;
	json_t *v;
	long n = 0, exact = 0;
	if (!km_tags_match(sel, tags, 1))
		return -1;
	json_object_foreach(sel, k, v)
	{
		n++;
		exact += strcmp(json_string_value(v), "*") != 0;
	}
	return n * 1000 + exact;
}
