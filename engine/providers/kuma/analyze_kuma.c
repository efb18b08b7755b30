/* analyze_kuma.c: Kuma's analyzers, rows of the check table (check.h) that Kuma's provider row
 * names (mp_kuma_analyzers); the importer runs them after the routes, and `meshpol audit`
 * reports their findings under "meshpol.import". Findings quote Kuma where Kuma has words (its
 * control plane's log lines, its validators, its docs). Catalogue: docs/import.md ("Kuma",
 * "Findings"). */
#include "kuma_int.h"

#include <stdio.h>
#include <string.h>

#define MAX_INS 64

static int policy_kind(const idoc *dc)
{
	return kuma_is(dc, KM_MESHTRAFFICPERMISSION) || kuma_is(dc, KM_MESHTLS) ||
	       kuma_is(dc, KM_MESHHTTPROUTE) || kuma_is(dc, KM_MESHTCPROUTE) ||
	       kuma_is(dc, KM_MESHTIMEOUT) || kuma_is(dc, KM_MESHRETRY) ||
	       kuma_is(dc, KM_MESHCIRCUITBREAKER) || kuma_is(dc, KM_MESHLOADBALANCINGSTRATEGY);
}

/* A live document of Kuma's, with its labels (NULL otherwise). */
static json_t *live(mp_import *im, uint32_t i)
{
	return kuma_doc(&im->docs[i]) && im_live(&im->docs[i]) ? mp_kuma_labels(im, i) : NULL;
}

static const char *subject(mp_import *im, idoc *dc, char *buf, size_t len)
{
	return mp_kuma_title(im, dc, buf, len);
}

/* --- targetRefs that select nothing --- */

static int dataplane_selected(mp_import *im, const km_policy *p, const km_dp *d)
{
	km_inbound kin[MAX_INS];
	km_dataplane kd = {d->labels, im_str_of(im, im->docs[d->doc].name)};
	uint32_t n = d->nin < MAX_INS ? d->nin : MAX_INS;
	for (uint32_t k = 0; k < n; k++)
		kin[k] = (km_inbound){d->in[k].port, d->in[k].name, d->in[k].tags};
	return km_selects_dataplane(p, &kd, kin, n);
}

/* A policy whose top-level targetRef selects no dataplane of a mesh that has some: Kuma
 * applies it nowhere ("DPP is not matched by the policy", dataplane.go). */
static void targets(mp_import *im)
{
	kuma_state *st = kuma_of(im);
	char subj[400];
	for (uint32_t i = 0; st->present && i < im->ndocs; i++) {
		idoc *dc = &im->docs[i];
		json_t *labels = live(im, i);
		km_policy p = mp_kuma_policy(im, i);
		const char *kind = json_string_value(json_object_get(p.ref, "kind"));
		uint32_t in_mesh = 0, hit = 0;
		if (!labels || !policy_kind(dc) || km_shadow(&p) || !kind || !strcmp(kind, "Mesh"))
			continue;
		for (uint32_t d = 0; d < st->ndps && !hit; d++) {
			if (strcmp(im_str_of(im, st->dps[d].mesh), km_label(labels, KM_LABEL_MESH)))
				continue;
			in_mesh++;
			hit = dataplane_selected(im, &p, &st->dps[d]);
		}
		if (!in_mesh || hit)
			continue;
		im_finding(
		    im, "TargetRefSelectsNothing", MP_FINDING_WARNING,
		    im_loc(dc, im_get(dc, dc->spec, "targetRef")),
		    subject(im, dc, subj, sizeof(subj)),
		    "its targetRef (%s) selects none of the %u dataplanes of mesh %s%s: Kuma "
		    "applies it nowhere",
		    kind, in_mesh, km_label(labels, KM_LABEL_MESH),
		    strcmp(km_label(labels, KM_LABEL_ROLE) ? km_label(labels, KM_LABEL_ROLE)
		                                           : "system",
		           "workload-owner")
		        ? ""
		        : " in its namespace");
	}
}

/* --- shadow mode --- */

static void shadows(mp_import *im)
{
	char subj[400];
	for (uint32_t i = 0; kuma_of(im)->present && i < im->ndocs; i++) {
		idoc *dc = &im->docs[i];
		km_policy p = mp_kuma_policy(im, i);
		yaml_node_t *from = im_get(dc, dc->spec, "from"),
		            *rules = im_get(dc, dc->spec, "rules");
		yaml_node_t *e;
		if (!live(im, i))
			continue;
		if (km_shadow(&p)) {
			im_finding(
			    im, "ShadowPolicy", MP_FINDING_INFO,
			    im_loc(dc, im_get(dc, im_get(dc, dc->meta, "labels"), KM_LABEL_EFFECT)),
			    subject(im, dc, subj, sizeof(subj)),
			    "labelled kuma.io/effect: shadow: Kuma computes it for the inspect "
			    "API (?shadow=true) but never applies it");
			continue;
		}
		if (!kuma_is(dc, KM_MESHTRAFFICPERMISSION))
			continue;
		if (from && from->type == YAML_SEQUENCE_NODE)
			IM_SEQ_FOREACH(dc, from, e)
			{
				const char *a =
				    im_scalar(im_get(dc, im_get(dc, e, "default"), "action"));
				if (a && !strcmp(a, "AllowWithShadowDeny"))
					im_finding(im, "AllowWithShadowDeny", MP_FINDING_INFO,
					           im_loc(dc, e),
					           subject(im, dc, subj, sizeof(subj)),
					           "AllowWithShadowDeny lets the clients in and "
					           "logs them as "
					           "denied: a deny in waiting");
			}
		if (rules && rules->type == YAML_SEQUENCE_NODE)
			IM_SEQ_FOREACH(dc, rules, e)
			{
				yaml_node_t *ms =
				    im_get(dc, im_get(dc, e, "default"), "allowWithShadowDeny");
				if (ms && ms->type == YAML_SEQUENCE_NODE &&
				    ms->data.sequence.items.top > ms->data.sequence.items.start)
					im_finding(im, "AllowWithShadowDeny", MP_FINDING_INFO,
					           im_loc(dc, ms),
					           subject(im, dc, subj, sizeof(subj)),
					           "allowWithShadowDeny lets the clients in and "
					           "logs them as "
					           "denied: a deny in waiting");
			}
	}
}

/* --- an allow that a deny always overrides --- */

static yaml_node_t *spiffe(idoc *dc, yaml_node_t *m)
{
	yaml_node_t *s = im_get(dc, m, "spiffeID");
	return s ? s : im_get(dc, m, "spiffeId");
}

/* Does deny matcher d match every identity allow matcher a matches? */
static int covers(idoc *dd, yaml_node_t *d, idoc *ad, yaml_node_t *a)
{
	const char *dt = im_scalar(im_get(dd, spiffe(dd, d), "type"));
	const char *dv = im_scalar(im_get(dd, spiffe(dd, d), "value"));
	const char *at = im_scalar(im_get(ad, spiffe(ad, a), "type"));
	const char *av = im_scalar(im_get(ad, spiffe(ad, a), "value"));
	if (!dt || !dv || !at || !av)
		return 0;
	if (!strcmp(dt, "Exact"))
		return !strcmp(at, "Exact") && !strcmp(av, dv);
	return !strncmp(av, dv, strlen(dv)); /* a Prefix deny covers what starts with it */
}

static yaml_node_t *matchers(idoc *dc, yaml_node_t *rule, const char *act)
{
	yaml_node_t *ms = im_get(dc, im_get(dc, rule, "default"), act);
	return ms && ms->type == YAML_SEQUENCE_NODE ? ms : NULL;
}

/* The rules form: a deny matcher of the same policy, or of a mesh-wide system policy of the
 * mesh, covers an allow matcher ("even one Deny must take precedence over multiple Allows",
 * 078-special-mtp-algo.md). */
static void rules_overridden(mp_import *im, uint32_t i)
{
	idoc *dc = &im->docs[i];
	yaml_node_t *rules = im_get(dc, dc->spec, "rules"), *rule, *a;
	char subj[400], by_title[400], at[600];
	static const char *const allows[] = {"allow", "allowWithShadowDeny"};
	if (!rules || rules->type != YAML_SEQUENCE_NODE)
		return;
	IM_SEQ_FOREACH(dc, rules, rule)
	{
		for (size_t k = 0; k < 2; k++) {
			yaml_node_t *ms = matchers(dc, rule, allows[k]);
			if (!ms)
				continue;
			IM_SEQ_FOREACH(dc, ms, a)
			{
				idoc *by = NULL;
				yaml_node_t *byn = NULL;
				for (uint32_t j = 0; j < im->ndocs && !by; j++) {
					idoc *dd = &im->docs[j];
					km_policy q = mp_kuma_policy(im, j);
					const char *kind =
					    json_string_value(json_object_get(q.ref, "kind"));
					const char *role = km_label(q.labels, KM_LABEL_ROLE);
					yaml_node_t *drules = im_get(dd, dd->spec, "rules"), *dr,
					            *d;
					if (!kuma_is(dd, KM_MESHTRAFFICPERMISSION) ||
					    !live(im, j) || km_shadow(&q) ||
					    strcmp(
					        km_label(q.labels, KM_LABEL_MESH),
					        km_label(mp_kuma_labels(im, i), KM_LABEL_MESH)) ||
					    (j != i && ((kind && strcmp(kind, "Mesh")) ||
					                (role && strcmp(role, "system")))) ||
					    !drules || drules->type != YAML_SEQUENCE_NODE)
						continue;
					IM_SEQ_FOREACH(dd, drules, dr)
					{
						yaml_node_t *dms = matchers(dd, dr, "deny");
						if (dms && !by)
							IM_SEQ_FOREACH(dd, dms, d)
							{
								if (!by && covers(dd, d, dc, a))
									by = dd, byn = d;
							}
					}
				}
				if (by)
					im_finding(
					    im, "AllowOverriddenByDeny", MP_FINDING_WARNING,
					    im_loc(dc, a), subject(im, dc, subj, sizeof(subj)),
					    "this %s matcher admits no one: a deny matcher that "
					    "matches every identity it does (%s, at %s) wins over "
					    "any allow",
					    allows[k],
					    mp_kuma_title(im, by, by_title, sizeof(by_title)),
					    mp_model_loc_str(im->m, im_loc(by, byn), at,
					                     sizeof(at)));
			}
		}
	}
}

/* What a from[] entry requires of a client: its kind's tags, kuma.io/service for a
 * MeshService, nothing for Mesh; 0 for a kind meshpol does not read. */
static json_t *requires(idoc *dc, yaml_node_t *ref)
{
	const char *kind = im_scalar(im_get(dc, ref, "kind"));
	const char *name = im_scalar(im_get(dc, ref, "name"));
	yaml_node_t *tags = im_get(dc, ref, "tags");
	json_t *o =
	    tags && strcmp(kind ? kind : "", "MeshService") ? im_json(dc, tags) : json_object();
	if (o && name && kind && strstr(kind, "MeshService"))
		json_object_set_new(o, KM_TAG_SERVICE, json_string(name));
	return o;
}

/* The from form: in one policy's from[], an Allow entry that a later Deny entry requiring no
 * more of the client always follows: the last matching entry is that Deny (the docs' tip:
 * "Order of rules inside the from array matters"). */
static void from_overridden(mp_import *im, uint32_t i)
{
	idoc *dc = &im->docs[i];
	yaml_node_t *from = im_get(dc, dc->spec, "from"), *e, *f;
	char subj[400];
	uint32_t ei = 0;
	if (!from || from->type != YAML_SEQUENCE_NODE)
		return;
	IM_SEQ_FOREACH(dc, from, e)
	{
		const char *a = im_scalar(im_get(dc, im_get(dc, e, "default"), "action"));
		uint32_t fi = 0, found = UINT32_MAX;
		json_t *ra =
		    a && strcmp(a, "Deny") ? requires(dc, im_get(dc, e, "targetRef")) : NULL;
		IM_SEQ_FOREACH(dc, from, f)
		{
			const char *b = im_scalar(im_get(dc, im_get(dc, f, "default"), "action"));
			if (ra && fi > ei && b && !strcmp(b, "Deny") && found == UINT32_MAX) {
				json_t *rb = requires(dc, im_get(dc, f, "targetRef"));
				if (rb && km_tags_match(rb, ra, 0))
					found = fi;
				json_decref(rb);
			}
			fi++;
		}
		json_decref(ra);
		if (found != UINT32_MAX)
			im_finding(
			    im, "AllowOverriddenByDeny", MP_FINDING_WARNING, im_loc(dc, e),
			    subject(im, dc, subj, sizeof(subj)),
			    "from[%u] (%s) admits no one: from[%u], later in the array, denies "
			    "every client it matches, and the last matching entry wins",
			    ei, a, found);
		ei++;
	}
}

static void overridden(mp_import *im)
{
	for (uint32_t i = 0; kuma_of(im)->present && i < im->ndocs; i++) {
		km_policy p = mp_kuma_policy(im, i);
		if (!kuma_is(&im->docs[i], KM_MESHTRAFFICPERMISSION) || !live(im, i) ||
		    km_shadow(&p))
			continue;
		rules_overridden(im, i);
		from_overridden(im, i);
	}
}

/* --- meshes: missing, without mTLS, denying everything --- */

static void meshes(mp_import *im)
{
	kuma_state *st = kuma_of(im);
	char subj[400];
	mp_str reported[256];
	uint32_t nrep = 0;
	if (!st->present)
		return;
	for (uint32_t i = 0; i < im->ndocs; i++) {
		idoc *dc = &im->docs[i];
		json_t *labels = live(im, i);
		if (!labels || kuma_is(dc, KM_MESH) || kuma_is(dc, KM_ZONE))
			continue;
		mp_str mesh = im_intern(im, km_label(labels, KM_LABEL_MESH));
		uint32_t k;
		for (k = 0; k < nrep && reported[k] != mesh; k++)
			;
		if (k < nrep || mp_kuma_mesh(im, mesh) || !strcmp(im_str_of(im, mesh), "default"))
			continue;
		if (nrep < 256)
			reported[nrep++] = mesh;
		im_finding(im, "MeshNotFound", MP_FINDING_ERROR, dc->loc,
		           subject(im, dc, subj, sizeof(subj)),
		           "mesh '%s' is declared by no Mesh document: Kuma refuses resources of a "
		           "mesh that does not exist (\"mesh not found\")",
		           im_str_of(im, mesh));
	}
	/* a mesh without mTLS: its permissions apply to no proxy without a workload identity */
	mp_str names[256];
	uint32_t nn = 0;
	for (uint32_t i = 0; i < st->nmeshes && nn < 256; i++)
		names[nn++] = st->meshes[i].name;
	if (nn < 256)
		names[nn++] = im_intern(im, "default");
	for (uint32_t m = 0; m < nn; m++) {
		const km_mesh *mesh = mp_kuma_mesh(im, names[m]);
		uint32_t nperm = 0, nid = 0, ndp = 0;
		idoc *first = NULL;
		if (m == nn - 1 && mesh)
			continue; /* "default" is declared: seen above */
		for (uint32_t i = 0; i < im->ndocs; i++) {
			json_t *labels = live(im, i);
			km_policy p = mp_kuma_policy(im, i);
			idoc *dc = &im->docs[i];
			if (!labels || km_shadow(&p) ||
			    strcmp(km_label(labels, KM_LABEL_MESH), im_str_of(im, names[m])))
				continue;
			if (kuma_is(dc, KM_MESHTRAFFICPERMISSION) ||
			    kuma_is(dc, KM_TRAFFICPERMISSION)) {
				nperm++;
				first = first ? first : dc;
			}
			nid += kuma_is(dc, KM_MESHIDENTITY);
		}
		for (uint32_t d = 0; d < st->ndps; d++)
			ndp += st->dps[d].mesh == names[m];
		idoc *md = mesh && mesh->doc != UINT32_MAX ? &im->docs[mesh->doc] : first;
		if ((!mesh || !mesh->mtls) && !nid && nperm) {
			snprintf(subj, sizeof(subj), "Mesh %s", im_str_of(im, names[m]));
			im_finding(
			    im, "MTLSDisabled", MP_FINDING_WARNING, md->loc, subj,
			    "mesh %s has no mTLS%s: Kuma applies none of its %u "
			    "MeshTrafficPermissions and TrafficPermissions (\"skip applying "
			    "MeshTrafficPermission, MTLS is disabled\") and lets every client in",
			    im_str_of(im, names[m]),
			    mesh ? " (mtls.enabledBackend is not set)" : " (Kuma's default mesh)",
			    nperm);
		} else if (mesh && mesh->mtls && !nperm && ndp) {
			snprintf(subj, sizeof(subj), "Mesh %s", im_str_of(im, names[m]));
			im_finding(
			    im, "NoTrafficPermission", MP_FINDING_INFO, md->loc, subj,
			    "mesh %s has mTLS and no MeshTrafficPermission or TrafficPermission: "
			    "every request to its %u dataplanes is denied (since 2.6.0 Kuma "
			    "creates no default permission)",
			    im_str_of(im, names[m]), ndp);
		}
	}
}

/* --- references of the policies that configure outbound traffic --- */

static int route_exists(mp_import *im, idoc *dc, yaml_node_t *ref)
{
	const char *name = im_scalar(im_get(dc, ref, "name"));
	yaml_node_t *labels = im_get(dc, ref, "labels");
	json_t *want = labels ? im_json(dc, labels) : NULL;
	const char *mesh = mp_kuma_mesh_of(im, dc);
	int found = 0;
	for (uint32_t i = 0; i < im->ndocs && !found; i++) {
		json_t *l = live(im, i);
		if (!l || !kuma_is(&im->docs[i], KM_MESHHTTPROUTE) ||
		    strcmp(km_label(l, KM_LABEL_MESH), mesh))
			continue;
		found = name ? !strcmp(name, im_str_of(im, im->docs[i].name))
		             : want && km_tags_match(want, l, 0);
	}
	json_decref(want);
	return found;
}

static void references(mp_import *im)
{
	char subj[400];
	for (uint32_t i = 0; kuma_of(im)->present && i < im->ndocs; i++) {
		idoc *dc = &im->docs[i];
		yaml_node_t *to = im_get(dc, dc->spec, "to"), *item;
		if (!live(im, i) ||
		    !(kuma_is(dc, KM_MESHTIMEOUT) || kuma_is(dc, KM_MESHRETRY) ||
		      kuma_is(dc, KM_MESHCIRCUITBREAKER) ||
		      kuma_is(dc, KM_MESHLOADBALANCINGSTRATEGY)) ||
		    !to || to->type != YAML_SEQUENCE_NODE)
			continue;
		IM_SEQ_FOREACH(dc, to, item)
		{
			yaml_node_t *ref = im_get(dc, item, "targetRef");
			const char *kind = im_scalar(im_get(dc, ref, "kind"));
			const char *name = im_scalar(im_get(dc, ref, "name"));
			const char *dn =
			    im_scalar(im_get(dc, im_get(dc, ref, "labels"), KM_LABEL_DISPLAY));
			int missing =
			    kind && (!strcmp(kind, "MeshService")
			                 ? mp_kuma_service_ref(im, dc, ref) == MP_NONE
			             : !strcmp(kind, "MeshHTTPRoute") ? !route_exists(im, dc, ref)
			                                              : 0);
			if (missing)
				im_finding(
				    im, "TargetRefNotFound", MP_FINDING_WARNING, im_loc(dc, ref),
				    subject(im, dc, subj, sizeof(subj)),
				    "to[].targetRef %s '%s' names nothing of mesh %s: the item "
				    "applies to nothing",
				    kind,
				    name ? name
				    : dn ? dn
				         : "",
				    mp_kuma_mesh_of(im, dc));
		}
	}
}

/* --- residency and identity --- */

static const char *data_of(mp_import *im, mp_id svc, char *buf, size_t len)
{
	mp_model_view v = mp_model_get_view(im->m);
	const mp_service *s = &v.services[svc];
	size_t at = 0;
	buf[0] = '\0';
	for (uint32_t i = 0; i < s->data.n && at < len; i++)
		at += (size_t)snprintf(buf + at, len - at, "%s%s", i ? ", " : "",
		                       im_str_of(im, v.u32[s->data.off + i]));
	return s->data.n ? buf : NULL;
}

/* MeshLoadBalancingStrategy cross-zone failover to a service that handles a data class: its
 * requests may be served in another zone (meshloadbalancingstrategy.md). */
static void failover(mp_import *im)
{
	char subj[400], data[300];
	mp_model_view v = mp_model_get_view(im->m);
	for (uint32_t i = 0; kuma_of(im)->present && i < im->ndocs; i++) {
		idoc *dc = &im->docs[i];
		km_policy p = mp_kuma_policy(im, i);
		yaml_node_t *to = im_get(dc, dc->spec, "to"), *item, *f;
		if (!kuma_is(dc, KM_MESHLOADBALANCINGSTRATEGY) || !live(im, i) || km_shadow(&p) ||
		    !to || to->type != YAML_SEQUENCE_NODE)
			continue;
		IM_SEQ_FOREACH(dc, to, item)
		{
			yaml_node_t *la =
			    im_get(dc, im_get(dc, item, "default"), "localityAwareness");
			yaml_node_t *fo = im_get(dc, im_get(dc, la, "crossZone"), "failover");
			yaml_node_t *ref = im_get(dc, item, "targetRef");
			const char *kind = im_scalar(im_get(dc, ref, "kind"));
			int cross = 0;
			if (fo && fo->type == YAML_SEQUENCE_NODE)
				IM_SEQ_FOREACH(dc, fo, f)
				{
					const char *t =
					    im_scalar(im_get(dc, im_get(dc, f, "to"), "type"));
					cross |= t && strcmp(t, "None");
				}
			if (!cross)
				continue;
			mp_id one = kind && !strcmp(kind, "MeshService")
			                ? mp_kuma_service_ref(im, dc, ref)
			                : MP_NONE;
			for (mp_id s = 0; s < v.nservices; s++) {
				if ((one != MP_NONE && s != one) ||
				    (one == MP_NONE && (!kind || strcmp(kind, "Mesh"))) ||
				    !data_of(im, s, data, sizeof(data)))
					continue;
				im_finding(
				    im, "CrossZoneFailover", MP_FINDING_WARNING, im_loc(dc, fo),
				    subject(im, dc, subj, sizeof(subj)),
				    "requests to %s/%s, which handles %s data, fail over to other "
				    "zones: residency holds only if every zone they may reach is "
				    "allowed",
				    im_str_of(im, v.namespaces[v.services[s].ns].name),
				    im_str_of(im, v.services[s].name), data);
			}
		}
	}
}

/* A dataplane of a service that handles a data class with no identity: neither mTLS on its
 * mesh nor a MeshIdentity, so no client is authenticated and no permission applies. */
static void identities(mp_import *im)
{
	kuma_state *st = kuma_of(im);
	mp_model_view v = mp_model_get_view(im->m);
	char subj[400], data[300];
	for (uint32_t i = 0; st->present && i < st->ndps; i++) {
		const km_dp *d = &st->dps[i];
		const km_mesh *m = mp_kuma_mesh(im, d->mesh);
		if (d->id_doc != UINT32_MAX || (m && m->mtls))
			continue;
		for (uint32_t k = 0; k < d->nin; k++) {
			mp_id s = d->in[k].svc;
			uint32_t j;
			for (j = 0; j < k && d->in[j].svc != s; j++)
				;
			if (s == MP_NONE || j < k || !data_of(im, s, data, sizeof(data)))
				continue;
			im_finding(
			    im, "DataplaneWithoutIdentity", MP_FINDING_WARNING,
			    im->docs[d->doc].loc,
			    mp_kuma_title(im, &im->docs[d->doc], subj, sizeof(subj)),
			    "a dataplane of %s/%s, which handles %s data, has no identity (mesh "
			    "%s has no mTLS and no MeshIdentity selects it): its clients are not "
			    "authenticated and no MeshTrafficPermission applies",
			    im_str_of(im, v.namespaces[v.services[s].ns].name),
			    im_str_of(im, v.services[s].name), data, im_str_of(im, d->mesh));
		}
	}
}

const mp_check_row mp_kuma_analyzers[] = {
    {.id = "kuma.meshes",
     .codes = MP_CHECK_CODES("MeshNotFound", "MTLSDisabled", "NoTrafficPermission"),
     .phase = MP_CHECK_IMPORT,
     .import = meshes},
    {.id = "kuma.targets",
     .codes = MP_CHECK_CODES("TargetRefSelectsNothing"),
     .phase = MP_CHECK_IMPORT,
     .import = targets},
    {.id = "kuma.shadow",
     .codes = MP_CHECK_CODES("ShadowPolicy", "AllowWithShadowDeny"),
     .phase = MP_CHECK_IMPORT,
     .import = shadows},
    {.id = "kuma.permissions",
     .codes = MP_CHECK_CODES("AllowOverriddenByDeny"),
     .phase = MP_CHECK_IMPORT,
     .import = overridden},
    {.id = "kuma.references",
     .codes = MP_CHECK_CODES("TargetRefNotFound"),
     .phase = MP_CHECK_IMPORT,
     .import = references},
    {.id = "kuma.residency",
     .codes = MP_CHECK_CODES("CrossZoneFailover"),
     .phase = MP_CHECK_IMPORT,
     .import = failover},
    {.id = "kuma.identities",
     .codes = MP_CHECK_CODES("DataplaneWithoutIdentity"),
     .phase = MP_CHECK_IMPORT,
     .import = identities},
    /* inline: routes_kuma.c, while routes are mapped */
    {.id = "kuma.routes",
     .codes = MP_CHECK_CODES("TargetRefNotFound", "BackendRefNotFound"),
     .phase = MP_CHECK_IMPORT},
    {.id = NULL},
};
