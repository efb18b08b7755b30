/* analyze_consul.c: Consul's analyzers, rows of the check table (check.h) its provider row
 * names: intentions naming services the model does not have, L7 permissions on a service that
 * is not HTTP, intentions that can never decide (shadowed), intentions whose effect Envoy's
 * RBAC and `consul intention check` disagree on, discovery chains naming unknown services,
 * subsets or datacenters, splitter weights that do not add up to 100, and default allow on a
 * mesh that handles data classes. Where Consul refuses an entry, the message is Consul's own.
 * They run while the model is compiled, over the intentions compiled as a snapshot compiles
 * them (intentions.h). Catalogue: docs/import.md ("Consul"). */
#include "alloc.h"
#include "check.h"
#include "consul_int.h"
#include "intentions.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

struct consul_authz *consul_analyzer_authz(mp_import *im)
{
	consul_state *st = consul_of(im);
	char err[512];
	if (!st->present)
		return NULL;
	if (!st->authz && !(st->authz = consul_authz_compile(im->m, err, sizeof(err))))
		im->oom = 1; /* the entries checked on import: only memory can fail */
	return st->authz;
}

/* Each service of the model as a Consul destination: (namespace, name, partition). */
typedef struct {
	char ns[256], name[256];
	const char *partition; /* the authz's */
	mp_id svc;
} destination;

static uint32_t destinations(mp_import *im, const consul_authz *a, destination **out)
{
	mp_model_view v = mp_model_get_view(im->m);
	destination *d = mp_calloc(v.nservices + 1, sizeof(*d));
	if (!d) {
		im->oom = 1;
		return 0;
	}
	for (mp_id s = 0; s < v.nservices; s++) {
		const mp_service *sv = &v.services[s];
		const cx_dc *dc = cx_dc_of(a, sv->clusters.n ? v.u32[sv->clusters.off] : MP_NONE);
		cx_namespace(dc, im_str_of(im, v.namespaces[sv->ns].name), d[s].ns,
		             sizeof(d[s].ns));
		snprintf(d[s].name, sizeof(d[s].name), "%s", im_str_of(im, sv->name));
		d[s].partition = dc ? dc->partition : "default";
		d[s].svc = s;
	}
	*out = d;
	return v.nservices;
}

/* Does the entry's destination pattern cover the destination? */
static int covers(const cx_entry *e, const destination *d)
{
	return !strcmp(e->partition, d->partition) &&
	       (!strcmp(e->ns, "*") || !strcmp(e->ns, d->ns)) &&
	       (!strcmp(e->name, "*") || !strcmp(e->name, d->name));
}

static void finding(mp_import *im, const char *code, uint32_t level, mp_loc loc,
                    const char *subject, const char *text)
{
	im_finding(im, code, level, loc, subject, "%s", text);
}

/* --- ConsulIntentionUnknownService --- */

/* Is a Consul service known: a model service, or a name some entry configures? */
static int known_service(mp_import *im, const char *ns, const char *name)
{
	if (consul_service(im, ns, name, MP_NONE) != MP_NONE)
		return 1;
	mp_str nsid = consul_str(im, ns), nid = consul_str(im, name);
	for (uint32_t k = 0; k < CK_KINDS; k++)
		if (k != CK_SERVICEINTENTIONS && consul_find(im, k, nsid, nid))
			return 1;
	return 0;
}

static void unknown_services(mp_import *im)
{
	const consul_authz *a = consul_analyzer_authz(im);
	char text[900];
	for (uint32_t i = 0; a && i < a->ne; i++) {
		const cx_entry *e = &a->e[i];
		if (strcmp(e->name, "*") && strcmp(e->ns, "*") &&
		    !known_service(im, e->ns, e->name)) {
			snprintf(text, sizeof(text),
			         "%s: the destination service %s/%s is not in the model: no "
			         "request to it "
			         "can be decided",
			         e->title, e->ns, e->name);
			finding(im, "ConsulIntentionUnknownService", MP_FINDING_WARNING, e->mloc,
			        e->title, text);
		}
		for (uint32_t k = 0; k < e->nsrc; k++) {
			const cx_source *s = &e->src[k];
			if (!strcmp(s->name, "*") || !strcmp(s->ns, "*") || *s->peer ||
			    *s->sameness || known_service(im, s->ns, s->name))
				continue;
			snprintf(text, sizeof(text),
			         "%s %s names the service %s/%s, which is not in the model",
			         e->title, s->rule, s->ns, s->name);
			finding(im, "ConsulIntentionUnknownService", MP_FINDING_WARNING, s->mloc,
			        e->title, text);
		}
	}
}

/* --- ConsulL7PermissionsOnTCP (state/config_entry.go validateProposedConfigEntryInServiceGraph)
 * --- */

static void l7_on_tcp(mp_import *im)
{
	const consul_authz *a = consul_analyzer_authz(im);
	char text[900];
	for (uint32_t i = 0; a && i < a->ne; i++) {
		const cx_entry *e = &a->e[i];
		const char *proto = cx_protocol(a, e->ns, e->name);
		if (cx_http_like(proto))
			continue;
		for (uint32_t k = 0; k < e->nsrc; k++) {
			const cx_source *s = &e->src[k];
			if (s->action != CX_L7)
				continue;
			snprintf(
			    text, sizeof(text),
			    "service \"%s\" has protocol \"%s\", which is incompatible with L7 "
			    "intentions permissions (%s %s): Consul refuses the entry, and its "
			    "RBAC "
			    "treats the intention as a deny",
			    e->name, proto, e->title, s->rule);
			finding(im, "ConsulL7PermissionsOnTCP", MP_FINDING_ERROR, s->mloc, e->title,
			        text);
		}
	}
}

/* --- ConsulShadowedIntention, ConsulPrecedenceRBACConflict --- */

/* Does every caller that s matches also match t (same peer and partition)? */
static int superset(const cx_source *t, const cx_source *s)
{
	if (strcmp(t->peer, s->peer) || strcmp(t->partition, s->partition) || *t->sameness ||
	    *s->sameness)
		return 0;
	return (!strcmp(t->ns, "*") || (strcmp(s->ns, "*") && !strcmp(t->ns, s->ns))) &&
	       (!strcmp(t->name, "*") || (strcmp(s->name, "*") && !strcmp(t->name, s->name)));
}

#define MAX_APPLICABLE 256

/* Can s decide for destination d: is it applicable (not deduplicated) with no higher
 * intention matching every caller it matches? */
static int can_decide(const consul_authz *a, const cx_source *s, const destination *d)
{
	const cx_source *l[MAX_APPLICABLE];
	uint32_t n = cx_applicable(a, d->ns, d->name, d->partition, l, MAX_APPLICABLE);
	for (uint32_t i = 0; i < n; i++) {
		if (l[i] == s)
			return 1;
		if (superset(l[i], s))
			return 0;
	}
	return 0; /* a source of the same key ranks higher (removeSameSourceIntentions) */
}

static void shadowed(mp_import *im)
{
	const consul_authz *a = consul_analyzer_authz(im);
	destination *d = NULL;
	uint32_t nd = a ? destinations(im, a, &d) : 0;
	char text[1200];
	for (uint32_t i = 0; a && i < a->ne && !im->oom; i++) {
		const cx_entry *e = &a->e[i];
		for (uint32_t k = 0; k < e->nsrc; k++) {
			const cx_source *s = &e->src[k];
			uint32_t covered = 0, decides = 0;
			if (!s->wild && strcmp(e->name, "*"))
				continue; /* not a wildcard intention */
			for (uint32_t j = 0; j < nd && !decides; j++)
				if (covers(e, &d[j]) && ++covered)
					decides = can_decide(a, s, &d[j]);
			if (!covered || decides)
				continue;
			snprintf(
			    text, sizeof(text),
			    "%s of %s can never decide: for each of the %u services it covers, an "
			    "intention of higher precedence matches every caller it matches "
			    "(Envoy's "
			    "RBAC drops it: agent/xds/rbac.go removeSameSourceIntentions, "
			    "removeSourcePrecedence)",
			    s->what, e->title, covered);
			finding(im, "ConsulShadowedIntention", MP_FINDING_WARNING, s->mloc,
			        e->title, text);
		}
	}
	mp_free(d);
}

static void rbac_conflicts(mp_import *im)
{
	const consul_authz *a = consul_analyzer_authz(im);
	destination *d = NULL;
	uint32_t nd = a ? destinations(im, a, &d) : 0;
	const cx_source *l[MAX_APPLICABLE];
	const cx_source *seen[64][2];
	uint32_t nseen = 0;
	char text[1600], caller[300];
	for (uint32_t j = 0; a && j < nd && !im->oom; j++) {
		uint32_t n =
		    cx_applicable(a, d[j].ns, d[j].name, d[j].partition, l, MAX_APPLICABLE);
		const cx_dc *dc = cx_dc_of(a, MP_NONE);
		uint32_t want = dc && dc->default_allow ? CX_DENY : CX_ALLOW;
		for (uint32_t lo = 1; lo < n; lo++) {
			if (l[lo]->action != want)
				continue;
			for (uint32_t hi = 0; hi < lo; hi++) {
				/* hi wins `consul intention check` for lo's callers, but Envoy
				 * subtracts hi from lo only when hi's source is inside lo's */
				if (!superset(l[hi], l[lo]) || l[hi]->wild <= l[lo]->wild ||
				    l[hi]->action == CX_L7 || l[hi]->action == want)
					continue;
				uint32_t k;
				for (k = 0;
				     k < nseen && (seen[k][0] != l[hi] || seen[k][1] != l[lo]); k++)
					;
				if (k < nseen)
					break;
				if (nseen < 64) {
					seen[nseen][0] = l[hi];
					seen[nseen++][1] = l[lo];
				}
				snprintf(caller, sizeof(caller), "%s%s%s", l[lo]->ns, "/",
				         l[lo]->name);
				snprintf(text, sizeof(text),
				         "for callers %s to %s/%s, `consul intention check` "
				         "decides by %s of "
				         "%s (%s, precedence %u) but the RBAC Envoy enforces lets "
				         "%s of %s "
				         "(%s, precedence %u) decide: %s "
				         "(agent/consul/state/intention.go "
				         "IntentionDecision against agent/xds/rbac.go "
				         "removeSourcePrecedence); "
				         "meshpol decides as Envoy",
				         caller, d[j].ns, d[j].name, l[hi]->what,
				         l[hi]->entry->title,
				         l[hi]->action == CX_ALLOW ? "allow" : "deny", l[hi]->prec,
				         l[lo]->what, l[lo]->entry->title,
				         l[lo]->action == CX_ALLOW ? "allow" : "deny", l[lo]->prec,
				         want == CX_ALLOW ? "allowed" : "denied");
				finding(im, "ConsulPrecedenceRBACConflict", MP_FINDING_WARNING,
				        l[lo]->mloc, l[lo]->entry->title, text);
				break;
			}
		}
	}
	mp_free(d);
}

/* --- ConsulRouteUnknownTarget, ConsulSplitWeights (discoverychain/compile.go,
 * config_entry_discoverychain.go) --- */

static const char *str(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));
	return s && *s ? s : NULL;
}

/* Reports a target naming an unknown service, subset or datacenter, at node. */
static void check_target(mp_import *im, idoc *dc, yaml_node_t *node, const char *subject,
                         const char *what, const char *ns, const char *svc, const char *subset,
                         const char *datacenter)
{
	const consul_state *st = consul_of(im);
	char text[900];
	mp_loc loc = im_loc(dc, node);
	if (datacenter) {
		uint32_t k;
		for (k = 0;
		     k < st->ndcs && strcmp(im_str_of(im, st->dcs[k].datacenter), datacenter); k++)
			;
		if (k == st->ndcs) {
			snprintf(text, sizeof(text),
			         "%s names datacenter \"%s\", which no cluster of the import is",
			         what, datacenter);
			finding(im, "ConsulRouteUnknownTarget", MP_FINDING_ERROR, loc, subject,
			        text);
			return;
		}
	}
	if (!known_service(im, ns, svc)) {
		snprintf(text, sizeof(text),
		         "%s names the service %s/%s, which is not in the model", what, ns, svc);
		finding(im, "ConsulRouteUnknownTarget", MP_FINDING_ERROR, loc, subject, text);
		return;
	}
	if (!subset)
		return;
	const consul_entry *r =
	    consul_find(im, CK_SERVICERESOLVER, consul_str(im, ns), consul_str(im, svc));
	if (!r || !json_object_get(json_object_get(r->spec, "subsets"), subset)) {
		snprintf(text, sizeof(text),
		         "%s: service \"%s\" does not have a subset named \"%s\"", what, svc,
		         subset);
		finding(im, "ConsulRouteUnknownTarget", MP_FINDING_ERROR, loc, subject, text);
	}
}

static yaml_node_t *item_at(idoc *dc, yaml_node_t *map, const char *key, size_t i)
{
	char idx[24];
	snprintf(idx, sizeof(idx), "%zu", i);
	yaml_node_t *seq = consul_get(dc, map, key);
	return seq ? im_path(dc, seq, idx) : NULL;
}

static void chains(mp_import *im)
{
	const consul_state *st = consul_of(im);
	for (uint32_t i = 0; st->present && i < st->nents; i++) {
		const consul_entry *e = &st->ents[i];
		idoc *dc = &im->docs[e->doc];
		yaml_node_t *spec = dc->spec;
		const char *ns = im_str_of(im, e->cns), *svc = im_str_of(im, e->cname);
		char subject[400], what[200];
		json_t *x, *t;
		size_t k, j;
		const char *key;
		im_title(im, dc, subject, sizeof(subject));
		switch (consul_kind(dc)) {
		case CK_SERVICEROUTER:
			json_array_foreach(json_object_get(e->spec, "routes"), k, x)
			{
				json_t *d = json_object_get(x, "destination");
				snprintf(what, sizeof(what), "routes[%zu].destination", k);
				if (d)
					check_target(im, dc, item_at(dc, spec, "routes", k),
					             subject, what,
					             str(d, "namespace") ? str(d, "namespace") : ns,
					             str(d, "service") ? str(d, "service") : svc,
					             str(d, "serviceSubset"), NULL);
			}
			break;
		case CK_SERVICESPLITTER: {
			double sum = 0;
			json_array_foreach(json_object_get(e->spec, "splits"), k, x)
			{
				sum += json_number_value(json_object_get(x, "weight"));
				snprintf(what, sizeof(what), "splits[%zu]", k);
				check_target(im, dc, item_at(dc, spec, "splits", k), subject, what,
				             str(x, "namespace") ? str(x, "namespace") : ns,
				             str(x, "service") ? str(x, "service") : svc,
				             str(x, "serviceSubset"), NULL);
			}
			if (lround(sum * 100) != 10000) {
				char text[300];
				snprintf(text, sizeof(text),
				         "the sum of all split weights must be 100, not %f", sum);
				finding(im, "ConsulSplitWeights", MP_FINDING_ERROR,
				        im_loc(dc, consul_get(dc, spec, "splits")), subject, text);
			}
			break;
		}
		case CK_SERVICERESOLVER: {
			json_t *rd = json_object_get(e->spec, "redirect");
			if (rd && !str(rd, "peer") && !str(rd, "samenessGroup"))
				check_target(im, dc, consul_get(dc, spec, "redirect"), subject,
				             "redirect",
				             str(rd, "namespace") ? str(rd, "namespace") : ns,
				             str(rd, "service") ? str(rd, "service") : svc,
				             str(rd, "serviceSubset"), str(rd, "datacenter"));
			json_object_foreach(json_object_get(e->spec, "failover"), key, x)
			{
				yaml_node_t *fn =
				    consul_get(dc, consul_get(dc, spec, "failover"), key);
				json_array_foreach(json_object_get(x, "datacenters"), j, t)
				{
					snprintf(what, sizeof(what),
					         "failover[%s].datacenters[%zu]", key, j);
					check_target(im, dc, fn, subject, what, ns, svc, NULL,
					             json_string_value(t));
				}
				json_array_foreach(json_object_get(x, "targets"), j, t)
				{
					if (str(t, "peer"))
						continue;
					snprintf(what, sizeof(what), "failover[%s].targets[%zu]",
					         key, j);
					check_target(im, dc, item_at(dc, fn, "targets", j), subject,
					             what,
					             str(t, "namespace") ? str(t, "namespace") : ns,
					             str(t, "service") ? str(t, "service") : svc,
					             str(t, "serviceSubset"), str(t, "datacenter"));
				}
				if (str(x, "service") || str(x, "serviceSubset") ||
				    str(x, "namespace")) {
					snprintf(what, sizeof(what), "failover[%s]", key);
					check_target(im, dc, fn, subject, what,
					             str(x, "namespace") ? str(x, "namespace") : ns,
					             str(x, "service") ? str(x, "service") : svc,
					             str(x, "serviceSubset"), NULL);
				}
			}
			break;
		}
		default:
			break;
		}
	}
}

/* --- ConsulDefaultAllow --- */

static void default_allow(mp_import *im)
{
	const consul_state *st = consul_of(im);
	mp_model_view v = mp_model_get_view(im->m);
	uint32_t classes = 0;
	const char *example = NULL;
	for (mp_id s = 0; s < v.nservices; s++)
		if (v.services[s].data.n && !classes++)
			example = im_str_of(im, v.services[s].name);
	for (uint32_t i = 0; st->present && classes && i < st->ndcs; i++) {
		const consul_dc *dc = &st->dcs[i];
		char text[900];
		if (!dc->default_allow)
			continue;
		const char *from = dc->default_from ? im_str_of(im, dc->default_from) : "";
		snprintf(text, sizeof(text),
		         "datacenter %s allows every connection no intention denies (%s%s%s), on a "
		         "mesh where %u service%s handle data classes (%s, ...): turn ACLs on with "
		         "default_policy deny, or set default_intention_policy deny",
		         im_str_of(im, dc->datacenter), im_str_of(im, dc->default_rule),
		         *from ? ", " : "", from, classes, classes == 1 ? "" : "s", example);
		mp_loc loc = dc->default_loc.file ? dc->default_loc : im->docs[0].loc;
		for (uint32_t k = 0; !dc->default_loc.file && k < im->ndocs; k++)
			if (im->docs[k].cluster == dc->cluster &&
			    (im->docs[k].provider == &mp_provider_consul ||
			     !strcmp(im->docs[k].kind->kind, "ConfigMap"))) {
				loc = im->docs[k].loc;
				break;
			}
		finding(im, "ConsulDefaultAllow", MP_FINDING_WARNING, loc, *from ? from : "Consul",
		        text);
	}
}

const mp_check_row mp_consul_analyzers[] = {
    {.id = "consul.unknown-services",
     .codes = MP_CHECK_CODES("ConsulIntentionUnknownService"),
     .phase = MP_CHECK_IMPORT,
     .import = unknown_services},
    {.id = "consul.l7-on-tcp",
     .codes = MP_CHECK_CODES("ConsulL7PermissionsOnTCP"),
     .phase = MP_CHECK_IMPORT,
     .import = l7_on_tcp},
    {.id = "consul.shadowed-intentions",
     .codes = MP_CHECK_CODES("ConsulShadowedIntention"),
     .phase = MP_CHECK_IMPORT,
     .import = shadowed},
    {.id = "consul.precedence-rbac",
     .codes = MP_CHECK_CODES("ConsulPrecedenceRBACConflict"),
     .phase = MP_CHECK_IMPORT,
     .import = rbac_conflicts},
    {.id = "consul.discovery-chains",
     .codes = MP_CHECK_CODES("ConsulRouteUnknownTarget", "ConsulSplitWeights"),
     .phase = MP_CHECK_IMPORT,
     .import = chains},
    {.id = "consul.default-allow",
     .codes = MP_CHECK_CODES("ConsulDefaultAllow"),
     .phase = MP_CHECK_IMPORT,
     .import = default_allow},
    {.id = NULL},
};
