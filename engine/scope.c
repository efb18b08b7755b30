/* scope.c: what an audit covered, for the reports an auditor hands on: the meshes whose
 * configuration the model holds, its clusters with their jurisdictions, its jurisdictions and
 * the counts of its elements (docs/audit-format.md, "scope"). */
#include "scope.h"
#include "provider.h"

#include <string.h>

/* The providers (meshes, not Kubernetes, which every import has) whose configuration m holds:
 * a resource of theirs, or their `present` answer. "meshpol" when there is none: the model is
 * meshpol's own format. */
static json_t *meshes(const mp_model *m)
{
	mp_model_view v = mp_model_get_view(m);
	json_t *out = json_array();
	for (const mp_provider *const *p = mp_providers; *p && out; p++) {
		int has = *p != &mp_provider_kubernetes && (*p)->present && (*p)->present(m);
		for (uint32_t i = 0; !has && *p != &mp_provider_kubernetes && i < v.nresources; i++)
			has = mp_provider_of(m, &v.resources[i]) == *p;
		if (has)
			json_array_append_new(out, json_string((*p)->name));
	}
	if (out && !json_array_size(out))
		json_array_append_new(out, json_string("meshpol"));
	return out;
}

const char *mp_scope_cluster_jurisdiction(const mp_model *m, mp_id cluster)
{
	mp_model_view v = mp_model_get_view(m);
	mp_id j = cluster < v.nclusters
	              ? mp_model_jurisdiction_of_region(m, v.clusters[cluster].region)
	              : MP_NONE;
	return j == MP_NONE ? NULL : mp_model_str(m, v.jurisdictions[j].name);
}

json_t *mp_scope_json(const mp_model *m)
{
	mp_model_view v = mp_model_get_view(m);
	json_t *clusters = json_array(), *jurisdictions = json_array();
	for (mp_id c = 0; clusters && c < v.nclusters; c++) {
		const char *j = mp_scope_cluster_jurisdiction(m, c);
		json_array_append_new(
		    clusters,
		    json_pack("{s:s, s:s, s:s, s:s?}", "name", mp_model_str(m, v.clusters[c].name),
		              "cloud", mp_model_str(m, v.clusters[c].provider), "region",
		              mp_model_str(m, v.clusters[c].region), "jurisdiction", j));
	}
	for (mp_id j = 0; jurisdictions && j < v.njurisdictions; j++) {
		json_t *regions = json_array();
		for (uint32_t k = 0; regions && k < v.jurisdictions[j].regions.n; k++)
			json_array_append_new(regions,
			                      json_string(mp_model_str(
			                          m, v.u32[v.jurisdictions[j].regions.off + k])));
		json_array_append_new(jurisdictions,
		                      json_pack("{s:s, s:o}", "name",
		                                mp_model_str(m, v.jurisdictions[j].name), "regions",
		                                regions ? regions : json_array()));
	}
	return json_pack("{s:o, s:o, s:o, s:{s:I, s:I, s:I, s:I, s:I, s:I, s:I}}", "meshes",
	                 meshes(m), "clusters", clusters ? clusters : json_array(), "jurisdictions",
	                 jurisdictions ? jurisdictions : json_array(), "counts", "namespaces",
	                 (json_int_t)v.nnamespaces, "services", (json_int_t)v.nservices, "routes",
	                 (json_int_t)v.nroutes, "externals", (json_int_t)v.nexternals,
	                 "certificates", (json_int_t)v.ncerts, "workloads",
	                 (json_int_t)v.nworkloads, "resources", (json_int_t)v.nresources);
}
