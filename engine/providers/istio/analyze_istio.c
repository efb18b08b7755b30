/* analyze_istio.c: validation on import, reported as findings named after Istio's analyzer
 * messages (istioctl analyze), plus the few meshpol adds where Istio has none. The analyzers
 * are rows of the check table (check.h), mp_istio_analyzers, which Istio's provider row names;
 * the importer runs them after the routes, while the model is compiled. Each finding is stored
 * in the model, and `meshpol audit` reports them under the policy "meshpol.import" with the
 * code as the rule. Catalogue: docs/import.md ("Findings"); why they run at compile time:
 * docs/architecture.md ("Audit checks"). */
#include "alloc.h"
#include "authz.h"
#include "check.h"
#include "istio_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static char *as_json(idoc *dc, yaml_node_t *n)
{
	json_t *j = im_json(dc, n);
	char *s = j ? json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	json_decref(j);
	return s;
}

/* Istio's names for rules and matches in messages: "#N", or the quoted name. */
static void rule_name(idoc *dc, yaml_node_t *n, uint32_t i, char *buf, size_t len)
{
	const char *name = im_scalar(im_get(dc, n, "name"));
	if (name)
		snprintf(buf, len, "\"%s\"", name);
	else
		snprintf(buf, len, "#%u", i);
}

/* --- VirtualServiceUnreachableRule, VirtualServiceIneffectiveMatch (Istio's algorithm:
 * identical match JSON is a duplicate; a rule without matches hides every later rule) --- */

static void unreachable(mp_import *im, idoc *dc, const char *proto)
{
	yaml_node_t *rules = im_get(dc, dc->spec, proto), *rule, *matches, *m;
	char subject[400], rn[300], mn[300], dn[300];
	char **seen = NULL;
	uint32_t *seen_rule = NULL, nseen = 0, rulen = 0;
	int empty = -1;
	if (!rules || rules->type != YAML_SEQUENCE_NODE)
		return;
	im_title(im, dc, subject, sizeof(subject));
	size_t cap = 0;
	IM_SEQ_FOREACH(dc, rules, rule)
	{
		matches = im_get(dc, rule, "match");
		cap += matches && matches->type == YAML_SEQUENCE_NODE
		           ? (size_t)(matches->data.sequence.items.top -
		                      matches->data.sequence.items.start)
		           : 0;
	}
	seen = mp_calloc(cap + 1, sizeof(char *));
	seen_rule = mp_calloc(cap + 1, sizeof(uint32_t));
	if (!seen || !seen_rule) {
		im->oom = 1;
		goto out;
	}
	IM_SEQ_FOREACH(dc, rules, rule)
	{
		uint32_t n = 0, dups = 0, matchn = 0;
		matches = im_get(dc, rule, "match");
		if (matches && matches->type == YAML_SEQUENCE_NODE)
			n = (uint32_t)(matches->data.sequence.items.top -
			               matches->data.sequence.items.start);
		rule_name(dc, rule, rulen, rn, sizeof(rn));
		if (!n) {
			if (empty >= 0)
				im_finding(im, "VirtualServiceUnreachableRule", MP_FINDING_WARNING,
				           im_loc(dc, rule), subject,
				           "VirtualService rule %s not used (only the last rule "
				           "can have no "
				           "matches).",
				           rn);
			empty = (int)rulen;
			rulen++;
			continue;
		}
		if (empty >= 0) {
			im_finding(im, "VirtualServiceUnreachableRule", MP_FINDING_WARNING,
			           im_loc(dc, rule), subject,
			           "VirtualService rule %s not used (route without matches defined "
			           "before).",
			           rn);
			rulen++;
			continue;
		}
		IM_SEQ_FOREACH(dc, matches, m)
		{
			char *key = as_json(dc, m);
			uint32_t k;
			if (!key) {
				im->oom = 1;
				goto out;
			}
			for (k = 0; k < nseen && strcmp(seen[k], key); k++)
				;
			if (k < nseen) {
				uint32_t d = seen_rule[k];
				rule_name(dc, m, matchn, mn, sizeof(mn));
				rule_name(dc, im_node(dc, rules->data.sequence.items.start[d]), d,
				          dn, sizeof(dn));
				im_finding(im, "VirtualServiceIneffectiveMatch", MP_FINDING_INFO,
				           im_loc(dc, m), subject,
				           "VirtualService rule %s match %s is not used (duplicate/"
				           "overlapping match in rule %s).",
				           rn, mn, dn);
				dups++;
				free(key);
			} else {
				seen[nseen] = key;
				seen_rule[nseen++] = rulen;
			}
			matchn++;
		}
		if (dups == n)
			im_finding(
			    im, "VirtualServiceUnreachableRule", MP_FINDING_WARNING,
			    im_loc(dc, rule), subject,
			    "VirtualService rule %s not used (all matches used by prior rules).",
			    rn);
		rulen++;
	}
out:
	for (uint32_t i = 0; seen && i < nseen; i++)
		free(seen[i]);
	mp_free(seen);
	mp_free(seen_rule);
}

/* Does the VirtualService apply to sidecars (the "mesh" gateway)? */
static int applies_to_mesh(idoc *dc)
{
	yaml_node_t *gw = im_get(dc, dc->spec, "gateways"), *g;
	if (!gw || gw->type != YAML_SEQUENCE_NODE ||
	    gw->data.sequence.items.top == gw->data.sequence.items.start)
		return 1;
	IM_SEQ_FOREACH(dc, gw, g)
	{
		const char *s = im_scalar(g);
		if (s && !strcmp(s, "mesh"))
			return 1;
	}
	return 0;
}

/* --- ConflictingMeshGatewayVirtualServiceHosts --- */

static void conflicting_hosts(mp_import *im)
{
	char fqdn[600], other[600], names[2048], subject[400];
	for (uint32_t i = 0; i < im->ndocs; i++) {
		idoc *a = &im->docs[i];
		yaml_node_t *hosts, *h;
		if (!istio_is(a, IK_VIRTUALSERVICE) || !im_live(a) || !a->spec ||
		    !applies_to_mesh(a) || !(hosts = im_get(a, a->spec, "hosts")) ||
		    hosts->type != YAML_SEQUENCE_NODE)
			continue;
		IM_SEQ_FOREACH(a, hosts, h)
		{
			if (!im_scalar(h) || !strcmp(im_scalar(h), "*"))
				continue;
			im_resolve_host(im, im_scalar(h), a->ns, fqdn, sizeof(fqdn));
			snprintf(names, sizeof(names), "%s/%s", im_str_of(im, a->ns),
			         im_str_of(im, a->name));
			int conflict = 0, reported_before = 0;
			for (uint32_t j = 0; j < im->ndocs; j++) {
				idoc *b = &im->docs[j];
				yaml_node_t *bh, *x;
				if (j == i || !istio_is(b, IK_VIRTUALSERVICE) || !im_live(b) ||
				    !b->spec || b->cluster != a->cluster || !applies_to_mesh(b) ||
				    !(bh = im_get(b, b->spec, "hosts")) ||
				    bh->type != YAML_SEQUENCE_NODE)
					continue;
				IM_SEQ_FOREACH(b, bh, x)
				{
					if (!im_scalar(x))
						continue;
					im_resolve_host(im, im_scalar(x), b->ns, other,
					                sizeof(other));
					if (strcmp(fqdn, other))
						continue;
					conflict = 1;
					reported_before |= j < i;
					size_t len = strlen(names);
					snprintf(names + len, sizeof(names) - len, ",%s/%s",
					         im_str_of(im, b->ns), im_str_of(im, b->name));
					break;
				}
			}
			if (conflict)
				im_finding(im, "ConflictingMeshGatewayVirtualServiceHosts",
				           MP_FINDING_ERROR, im_loc(a, h),
				           im_title(im, a, subject, sizeof(subject)),
				           "The VirtualServices %s associated with mesh gateway "
				           "define the "
				           "same host %s which can lead to undefined behavior. "
				           "This can be "
				           "fixed by merging the conflicting VirtualServices into "
				           "a single "
				           "resource.",
				           names, fqdn);
			(void)reported_before;
		}
	}
}

/* --- VirtualServiceHostNotFoundInGateway --- */

static void hosts_in_gateways(mp_import *im)
{
	char subject[400];
	for (uint32_t i = 0; i < im->ndocs; i++) {
		idoc *vs = &im->docs[i];
		yaml_node_t *gws, *g, *hosts, *h;
		if (!istio_is(vs, IK_VIRTUALSERVICE) || !im_live(vs) || !vs->spec ||
		    !(gws = im_get(vs, vs->spec, "gateways")) || gws->type != YAML_SEQUENCE_NODE ||
		    !(hosts = im_get(vs, vs->spec, "hosts")) || hosts->type != YAML_SEQUENCE_NODE)
			continue;
		IM_SEQ_FOREACH(vs, gws, g)
		{
			const char *ref = im_scalar(g);
			if (!ref || !strcmp(ref, "mesh"))
				continue;
			const char *slash = strchr(ref, '/');
			idoc *gw = NULL;
			for (uint32_t k = 0; k < im->ndocs && !gw; k++) {
				idoc *o = &im->docs[k];
				if (istio_is(o, IK_GATEWAY) && im_live(o) &&
				    o->cluster == vs->cluster &&
				    !strcmp(im_str_of(im, o->name), slash ? slash + 1 : ref) &&
				    (slash ? !strncmp(im_str_of(im, o->ns), ref,
				                      (size_t)(slash - ref)) &&
				                 !im_str_of(im, o->ns)[slash - ref]
				           : o->ns == vs->ns))
					gw = o;
			}
			if (!gw)
				continue; /* ReferencedResourceNotFound, from the routes */
			char missing[1024] = "";
			IM_SEQ_FOREACH(vs, hosts, h)
			{
				char vh[512];
				int found = 0;
				yaml_node_t *servers = im_get(gw, gw->spec, "servers"), *s, *sh;
				if (!im_scalar(h))
					continue;
				im_lower(im_scalar(h), vh, sizeof(vh));
				if (servers && servers->type == YAML_SEQUENCE_NODE)
					IM_SEQ_FOREACH(gw, servers, s)
					{
						yaml_node_t *list = im_get(gw, s, "hosts");
						if (!list || list->type != YAML_SEQUENCE_NODE)
							continue;
						IM_SEQ_FOREACH(gw, list, sh)
						{
							char gh[512];
							const char *x = im_scalar(sh);
							if (!x)
								continue;
							const char *part = strchr(x, '/');
							im_lower(part ? part + 1 : x, gh,
							         sizeof(gh));
							found |= im_host_covers(gh, vh) ||
							         im_host_covers(vh, gh);
						}
					}
				if (!found) {
					size_t len = strlen(missing);
					snprintf(missing + len, sizeof(missing) - len, "%s%s",
					         len ? "," : "", vh);
				}
			}
			if (missing[0])
				im_finding(im, "VirtualServiceHostNotFoundInGateway",
				           MP_FINDING_WARNING, im_loc(vs, g),
				           im_title(im, vs, subject, sizeof(subject)),
				           "one or more host [%s] defined in VirtualService %s/%s "
				           "not found "
				           "in Gateway %s/%s.",
				           missing, im_str_of(im, vs->ns), im_str_of(im, vs->name),
				           im_str_of(im, gw->ns), im_str_of(im, gw->name));
		}
	}
}

/* --- selectors that select nothing: NoMatchingWorkloadsFound --- */

static void labels_text(idoc *dc, yaml_node_t *sel, char *buf, size_t len)
{
	yaml_node_t *k, *v;
	buf[0] = '\0';
	IM_MAP_FOREACH(dc, sel, k, v)
	{
		size_t n = strlen(buf);
		snprintf(buf + n, len - n, "%s%s=%s", n ? "," : "",
		         im_scalar(k) ? im_scalar(k) : "", im_scalar(v) ? im_scalar(v) : "");
	}
}

/* Does the selector (a mapping of labels) pick some workload, or a service that stands for
 * its own workload, in the namespace (any namespace from the root one)? */
static int selects_something(mp_import *im, idoc *dc, yaml_node_t *sel)
{
	int any_ns = !strcmp(im_str_of(im, dc->ns), istio_of(im)->rootns);
	mp_model_view v = mp_model_get_view(im->m);
	for (uint32_t w = 0; w < im->nwl; w++) {
		const iworkload *wl = &im->wl[w];
		if (wl->cluster == dc->cluster && (any_ns || wl->ns == dc->ns_id) &&
		    im_selector_matches(im, dc, sel, wl))
			return 1;
	}
	for (mp_id s = 0; s < v.nservices; s++) {
		const mp_id *ws;
		if (mp_model_workloads_of_service(im->m, s, &ws) ||
		    (!any_ns && v.services[s].ns != dc->ns_id))
			continue;
		iworkload fake;
		memset(&fake, 0, sizeof(fake));
		fake.labels = v.services[s].labels;
		if (im_selector_matches(im, dc, sel, &fake))
			return 1;
	}
	return 0;
}

static void no_matching_workloads(mp_import *im, idoc *dc, yaml_node_t *sel)
{
	char subject[400], labels[1024];
	if (!sel || sel->type != YAML_MAPPING_NODE ||
	    sel->data.mapping.pairs.top == sel->data.mapping.pairs.start ||
	    selects_something(im, dc, sel))
		return;
	labels_text(dc, sel, labels, sizeof(labels));
	im_finding(im, "NoMatchingWorkloadsFound", MP_FINDING_WARNING, im_loc(dc, sel),
	           im_title(im, dc, subject, sizeof(subject)),
	           "No matching workloads for this resource with the following labels: %s", labels);
}

/* --- Sidecars --- */

static int sidecar_check(mp_import *im, idoc *dc)
{
	static const char *const keys[] = {
	    "workloadSelector",      "ingress", "egress", "outboundTrafficPolicy",
	    "inboundConnectionPool", NULL};
	yaml_node_t *egress, *e, *otp, *ws;
	const char *hosts[256], *mode;
	uint32_t n;
	if (!dc->spec)
		return 0;
	if (im_keys(im, dc, dc->spec, keys, "spec") < 0 ||
	    im_seq(im, dc, dc->spec, "egress", 0, &egress) < 0 ||
	    im_map(im, dc, dc->spec, "outboundTrafficPolicy", 0, &otp) < 0 ||
	    im_map(im, dc, dc->spec, "workloadSelector", 0, &ws) < 0)
		return -1;
	if (egress)
		IM_SEQ_FOREACH(dc, egress, e)
		{
			if (im_strs(im, dc, e, "hosts", 1, hosts, 256, &n) < 0)
				return -1;
			for (uint32_t i = 0; i < n; i++)
				if (!strchr(hosts[i], '/'))
					return im_error(im, dc, im_get(dc, e, "hosts"),
					                "egress host '%s' must be NAMESPACE/HOST",
					                hosts[i]);
		}
	if (otp && im_str(im, dc, otp, "mode", 0, &mode) < 0)
		return -1;
	if (otp && mode && strcmp(mode, "REGISTRY_ONLY") && strcmp(mode, "ALLOW_ANY"))
		return im_error(
		    im, dc, im_get(dc, otp, "mode"),
		    "outboundTrafficPolicy mode must be REGISTRY_ONLY or ALLOW_ANY, not '%s'",
		    mode);
	return 0;
}

static yaml_node_t *sidecar_selector(idoc *dc)
{
	yaml_node_t *ml = im_get(dc, im_get(dc, dc->spec, "workloadSelector"), "labels");
	return ml && ml->type == YAML_MAPPING_NODE &&
	               ml->data.mapping.pairs.top > ml->data.mapping.pairs.start
	           ? ml
	           : NULL;
}

static void sidecars(mp_import *im)
{
	char subject[400], names[2048];
	for (uint32_t i = 0; i < im->ndocs; i++)
		if (istio_is(&im->docs[i], IK_SIDECAR) && im_live(&im->docs[i]))
			sidecar_check(im, &im->docs[i]);
	for (uint32_t i = 0; i < im->ndocs; i++) {
		idoc *a = &im->docs[i];
		if (!istio_is(a, IK_SIDECAR) || !im_live(a))
			continue;
		yaml_node_t *sel = sidecar_selector(a);
		no_matching_workloads(im, a, sel);
		/* more than one without a selector in a namespace: report at the first */
		int first = 1, others = 0;
		snprintf(names, sizeof(names), "%s", im_str_of(im, a->name));
		for (uint32_t j = 0; j < im->ndocs; j++) {
			idoc *b = &im->docs[j];
			if (j == i || !istio_is(b, IK_SIDECAR) || !im_live(b) || b->ns != a->ns ||
			    b->cluster != a->cluster || sidecar_selector(b) || sel)
				continue;
			first &= j > i;
			others++;
			size_t len = strlen(names);
			snprintf(names + len, sizeof(names) - len, " %s", im_str_of(im, b->name));
		}
		if (!sel && others && first)
			im_finding(
			    im, "MultipleSidecarsWithoutWorkloadSelectors", MP_FINDING_ERROR,
			    a->loc, im_title(im, a, subject, sizeof(subject)),
			    "The Sidecars [%s] in namespace \"%s\" have no workload selector, "
			    "which can lead to undefined behavior.",
			    names, im_str_of(im, a->ns));
		/* one workload picked by several selectors */
		for (uint32_t w = 0; sel && w < im->nwl; w++) {
			const iworkload *wl = &im->wl[w];
			if (wl->cluster != a->cluster || wl->ns != a->ns_id ||
			    !im_selector_matches(im, a, sel, wl))
				continue;
			for (uint32_t j = i + 1; j < im->ndocs; j++) {
				idoc *b = &im->docs[j];
				yaml_node_t *bs;
				if (!istio_is(b, IK_SIDECAR) || !im_live(b) || b->ns != a->ns ||
				    b->cluster != a->cluster || !(bs = sidecar_selector(b)) ||
				    !im_selector_matches(im, b, bs, wl))
					continue;
				im_finding(
				    im, "ConflictingSidecarWorkloadSelectors", MP_FINDING_ERROR,
				    a->loc, im_title(im, a, subject, sizeof(subject)),
				    "The Sidecars [%s %s] in namespace \"%s\" select the same "
				    "workload pod \"%s\", which can lead to undefined behavior.",
				    im_str_of(im, a->name), im_str_of(im, b->name),
				    im_str_of(im, a->ns), im_str_of(im, wl->name));
			}
		}
	}
}

/* --- DestinationRules: hosts, mTLS, locality --- */

/* The DestinationRule's view on mTLS for its host: 1 (ISTIO_MUTUAL), 0 (DISABLE or SIMPLE),
 * -1 (not said). */
static int dr_mtls(idoc *dc)
{
	const char *mode =
	    im_scalar(im_get(dc, im_get(dc, im_get(dc, dc->spec, "trafficPolicy"), "tls"), "mode"));
	if (!mode)
		return -1;
	return !strcmp(mode, "ISTIO_MUTUAL") ? 1 : !strcmp(mode, "DISABLE") ? 0 : -1;
}

static void destination_rules(mp_import *im)
{
	char subject[400], fqdn[600];
	mp_model_view v = mp_model_get_view(im->m);
	for (uint32_t i = 0; i < im->ndocs; i++) {
		idoc *dc = &im->docs[i];
		if (!istio_is(dc, IK_DESTINATIONRULE) || !im_live(dc) || !dc->spec)
			continue;
		const char *host = im_scalar(im_get(dc, dc->spec, "host"));
		if (!host)
			continue;
		im_title(im, dc, subject, sizeof(subject));
		im_hostref r = im_resolve_host(im, host, dc->ns, fqdn, sizeof(fqdn));
		if (r.id == MP_NONE && !strchr(host, '*')) {
			im_finding(im, "ReferencedResourceNotFound", MP_FINDING_ERROR,
			           im_loc(dc, im_get(dc, dc->spec, "host")), subject,
			           "Referenced host not found: \"%s\"", host);
			continue;
		}
		if (r.id == MP_NONE || r.kind != MP_TARGET_SERVICE)
			continue;
		/* MTLSPolicyConflict: the client side (DestinationRule) against the server side
		 * (PeerAuthentication) of the host's workloads */
		int want = dr_mtls(dc);
		for (uint32_t w = 0; want >= 0 && w < im->nwl; w++) {
			const iworkload *wl = &im->wl[w];
			uint32_t k;
			for (k = 0; k < wl->nsvc && wl->svc[k] != r.id; k++)
				;
			if (k == wl->nsvc || wl->mtls_doc == UINT32_MAX ||
			    wl->cluster != dc->cluster)
				continue;
			int conflict = (want == 1 && wl->mtls == MP_MTLS_DISABLE) ||
			               (want == 0 && wl->mtls == MP_MTLS_STRICT);
			if (!conflict)
				continue;
			idoc *pa = &im->docs[wl->mtls_doc];
			im_finding(
			    im, "MTLSPolicyConflict", MP_FINDING_ERROR, dc->loc, subject,
			    "A DestinationRule and Policy are in conflict with regards to mTLS "
			    "for host %s. The DestinationRule \"%s/%s\" specifies that mTLS must "
			    "be %s but the Policy object \"%s/%s\" specifies %s.",
			    fqdn, im_str_of(im, dc->ns), im_str_of(im, dc->name),
			    want ? "true" : "false", im_str_of(im, pa->ns), im_str_of(im, pa->name),
			    wl->mtls == MP_MTLS_STRICT ? "STRICT" : "DISABLE");
			break;
		}
		/* LocalityFailoverLeak: failover only reorders endpoints */
		yaml_node_t *ls =
		    im_get(dc, im_get(dc, im_get(dc, dc->spec, "trafficPolicy"), "loadBalancer"),
		           "localityLbSetting");
		if (!ls || (!im_get(dc, ls, "failover") && !im_get(dc, ls, "failoverPriority")) ||
		    im_get(dc, ls, "distribute"))
			continue;
		const mp_service *s = &v.services[r.id];
		char regions[1024] = "";
		int several = 0;
		for (uint32_t c = 0; c < s->clusters.n; c++) {
			const char *reg =
			    im_str_of(im, v.clusters[v.u32[s->clusters.off + c]].region);
			if (strstr(regions, reg) && *reg)
				continue;
			size_t len = strlen(regions);
			several |= len > 0;
			snprintf(regions + len, sizeof(regions) - len, "%s%s", len ? ", " : "",
			         *reg ? reg : "(unknown region)");
		}
		if (!several)
			continue;
		im_finding(im, "LocalityFailoverLeak", MP_FINDING_WARNING, im_loc(dc, ls), subject,
		           "locality failover%s for host %s only reorders endpoints: traffic still "
		           "reaches every region the service runs in (%s), preferring the nearest; "
		           "it keeps no data in a region. Use localityLbSetting.distribute (or a "
		           "deny) to exclude the other regions.",
		           im_get(dc, ls, "failoverPriority") ? " and failoverPriority" : "", fqdn,
		           regions);
	}
}

/* --- PeerAuthentication and AuthorizationPolicy selectors --- */

static void selectors(mp_import *im)
{
	for (uint32_t i = 0; i < im->ndocs; i++) {
		idoc *dc = &im->docs[i];
		if ((istio_is(dc, IK_PEERAUTHENTICATION) || istio_is(dc, IK_AUTHORIZATIONPOLICY)) &&
		    im_live(dc) && dc->spec)
			no_matching_workloads(
			    im, dc, im_get(dc, im_get(dc, dc->spec, "selector"), "matchLabels"));
	}
}

/* --- the analyzers as rows of the check table (check.h) --- */

static void virtualservice_rules(mp_import *im)
{
	for (uint32_t i = 0; i < im->ndocs && !im->oom; i++) {
		idoc *dc = &im->docs[i];
		if (!istio_is(dc, IK_VIRTUALSERVICE) || !im_live(dc) || !dc->spec)
			continue;
		unreachable(im, dc, "http");
		unreachable(im, dc, "tls");
		unreachable(im, dc, "tcp");
	}
}

/* Istio's analyzers, in the order they run (their findings keep this order in the model). The
 * rows without a function are checks the importer makes while it maps the documents. */
const mp_check_row mp_istio_analyzers[] = {
    {.id = "istio.virtualservice-rules",
     .codes = MP_CHECK_CODES("VirtualServiceUnreachableRule", "VirtualServiceIneffectiveMatch"),
     .phase = MP_CHECK_IMPORT,
     .import = virtualservice_rules},
    {.id = "istio.mesh-gateway-hosts",
     .codes = MP_CHECK_CODES("ConflictingMeshGatewayVirtualServiceHosts"),
     .phase = MP_CHECK_IMPORT,
     .import = conflicting_hosts},
    {.id = "istio.gateway-hosts",
     .codes = MP_CHECK_CODES("VirtualServiceHostNotFoundInGateway"),
     .phase = MP_CHECK_IMPORT,
     .import = hosts_in_gateways},
    {.id = "istio.destination-rules",
     .codes =
         MP_CHECK_CODES("ReferencedResourceNotFound", "MTLSPolicyConflict", "LocalityFailoverLeak"),
     .phase = MP_CHECK_IMPORT,
     .import = destination_rules},
    {.id = "istio.sidecars",
     .codes = MP_CHECK_CODES("NoMatchingWorkloadsFound", "MultipleSidecarsWithoutWorkloadSelectors",
                             "ConflictingSidecarWorkloadSelectors"),
     .phase = MP_CHECK_IMPORT,
     .import = sidecars},
    {.id = "istio.selectors",
     .codes = MP_CHECK_CODES("NoMatchingWorkloadsFound"),
     .phase = MP_CHECK_IMPORT,
     .import = selectors},
    /* inline: routes_istio.c, while it maps VirtualServices to routes (destinations, mirrors,
     * subsets, gateways) */
    {.id = "istio.route-references",
     .codes = MP_CHECK_CODES("ReferencedResourceNotFound"),
     .phase = MP_CHECK_IMPORT},
    /* inline: import_istio.c, when Kubernetes asks for a Service port's protocol */
    {.id = "istio.port-names",
     .codes = MP_CHECK_CODES("PortNameIsNotUnderNamingConvention"),
     .phase = MP_CHECK_IMPORT},
    /* inline: mp_import_istio_check_authz, below, while the resource is kept */
    {.id = "istio.authorization-policies",
     .codes = MP_CHECK_CODES("CustomActionNotSupported", "UnsupportedCondition"),
     .phase = MP_CHECK_IMPORT},
    {.id = NULL},
};

/* --- AuthorizationPolicy --- */

/* Conditions on keys meshpol cannot evaluate. */
static void unsupported_conditions(mp_import *im, idoc *dc, json_t *spec, const char *subject)
{
	json_t *rules = json_object_get(spec, "rules"), *rule, *cond;
	size_t i, k;
	json_array_foreach(rules, i, rule)
	{
		json_array_foreach(json_object_get(rule, "when"), k, cond)
		{
			const char *key = json_string_value(json_object_get(cond, "key"));
			char path[64];
			if (!key || strncmp(key, "experimental.", 13))
				continue;
			snprintf(path, sizeof(path), "rules/%zu/when/%zu/key", i, k);
			im_finding(
			    im, "UnsupportedCondition", MP_FINDING_WARNING,
			    im_loc(dc, im_path(dc, dc->spec, path)), subject,
			    "condition key %s cannot be evaluated by meshpol: a DENY rule using "
			    "it counts as matching and an ALLOW rule as not matching (fail "
			    "closed)",
			    key);
		}
	}
}

int mp_import_istio_check_authz(mp_import *im, idoc *dc, json_t *spec, mp_span *lines)
{
	char err[512], path[512], subject[400];
	if (mp_authz_check_spec(spec, err, sizeof(err), path, sizeof(path)) < 0)
		return im_error(im, dc, dc->spec ? im_path(dc, dc->spec, path) : dc->root, "%s",
		                err);
	im_title(im, dc, subject, sizeof(subject));
	yaml_node_t *rules = im_get(dc, dc->spec, "rules"), *rule;
	*lines = (mp_span){0, 0};
	if (rules && rules->type == YAML_SEQUENCE_NODE)
		IM_SEQ_FOREACH(dc, rules, rule)
		{
			uint32_t line = (uint32_t)rule->start_mark.line + 1;
			uint32_t off = mp_model_push_u32(im->m, &line, 1);
			if (off == MP_NONE) {
				im->oom = 1;
				return -1;
			}
			if (!lines->n)
				lines->off = off;
			lines->n++;
		}
	const char *action = json_string_value(json_object_get(spec, "action"));
	const char *provider =
	    json_string_value(json_object_get(json_object_get(spec, "provider"), "name"));
	if (action && !strcmp(action, "CUSTOM") &&
	    (!provider || !istio_of(im)->meshpol[0] || strcmp(provider, istio_of(im)->meshpol)))
		im_finding(
		    im, "CustomActionNotSupported", MP_FINDING_WARNING, dc->loc, subject,
		    "CUSTOM authorization (provider %s) delegates to an extension meshpol "
		    "cannot consult: requests its rules match are denied in decisions, never "
		    "allowed unchecked",
		    provider);
	unsupported_conditions(im, dc, spec, subject);
	return 0;
}
