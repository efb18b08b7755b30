/* analyze_istio_cfg.c: Istio's analyzers of DestinationRules' TLS, ServiceEntries, EnvoyFilters
 * and deprecated fields, as istio/istio implements them in pkg/config/analysis/analyzers/:
 * destinationrule/ca-certificates.go, serviceentry/protocoladdresses.go and
 * conflictingserviceentries.go, envoyfilter/envoyfilter.go, deprecation/deprecation.go; and
 * meshpol's own about DestinationRules: MTLSPolicyConflict (Istio's retired IST0113) and
 * LocalityFailoverLeak. Rows: analyze_istio.c; docs/import.md ("Istio's analyzers"). */
#include "alloc.h"
#include "istio_int.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* --- destinationrule.CaCertificateAnalyzer --- */

/* SIMPLE or MUTUAL TLS without caCertificates, unless a credentialName on a rule with a
 * workloadSelector; the mode into mode. */
static int unverified(idoc *dr, yaml_node_t *tls, const char **mode)
{
	*mode = im_scalar(im_get(dr, tls, "mode"));
	if (!*mode || (strcmp(*mode, "SIMPLE") && strcmp(*mode, "MUTUAL")))
		return 0;
	const char *ca = im_scalar(im_get(dr, tls, "caCertificates"));
	const char *cn = im_scalar(im_get(dr, tls, "credentialName"));
	yaml_node_t *ws = im_get(dr, dr->spec, "workloadSelector");
	return (!ca || !*ca) && !(cn && *cn && ws && !im_is_null(ws));
}

void ist_destination_rule_tls(mp_import *im)
{
	for (uint32_t i = 0; i < im->ndocs && !im->oom; i++) {
		idoc *dr = &im->docs[i];
		yaml_node_t *tp, *tls, *pls, *pl;
		const char *mode;
		if (!istio_is(dr, IK_DESTINATIONRULE) || !im_live(dr) || !dr->spec)
			continue;
		const char *host = im_scalar(im_get(dr, dr->spec, "host"));
		tp = im_get(dr, dr->spec, "trafficPolicy");
		tls = im_get(dr, tp, "tls");
		if (unverified(dr, tls, &mode))
			ist_report(
			    im, dr, tls, "NoServerCertificateVerificationDestinationLevel",
			    "DestinationRule %s/%s in namespace %s has TLS mode set to %s but no "
			    "caCertificates are set to validate server identity for host: %s",
			    im_str_of(im, dr->ns), im_str_of(im, dr->name), im_str_of(im, dr->ns),
			    mode, host ? host : "");
		if (!(pls = im_get(dr, tp, "portLevelSettings")) || pls->type != YAML_SEQUENCE_NODE)
			continue;
		IM_SEQ_FOREACH(dr, pls, pl)
		{
			tls = im_get(dr, pl, "tls");
			if (!unverified(dr, tls, &mode))
				continue;
			/* the PortSelector as proto text: "number:443" */
			const char *num = im_scalar(im_get(dr, im_get(dr, pl, "port"), "number"));
			ist_report(
			    im, dr, tls, "NoServerCertificateVerificationPortLevel",
			    "DestinationRule %s/%s in namespace %s has TLS mode set to %s but no "
			    "caCertificates are set to validate server identity for host: %s at "
			    "port number:%s",
			    im_str_of(im, dr->ns), im_str_of(im, dr->name), im_str_of(im, dr->ns),
			    mode, host ? host : "", num ? num : "0");
		}
	}
}

/* --- meshpol's: MTLSPolicyConflict, LocalityFailoverLeak --- */

/* The DestinationRule's view on mTLS for its host: 1 (ISTIO_MUTUAL), 0 (DISABLE), -1 (not
 * said). */
static int dr_mtls(idoc *dc)
{
	const char *mode =
	    im_scalar(im_get(dc, im_get(dc, im_get(dc, dc->spec, "trafficPolicy"), "tls"), "mode"));
	if (!mode)
		return -1;
	return !strcmp(mode, "ISTIO_MUTUAL") ? 1 : !strcmp(mode, "DISABLE") ? 0 : -1;
}

void ist_mtls_conflicts(mp_import *im)
{
	char fqdn[600];
	mp_model_view v = mp_model_get_view(im->m);
	for (uint32_t i = 0; i < im->ndocs && !im->oom; i++) {
		idoc *dc = &im->docs[i];
		if (!istio_is(dc, IK_DESTINATIONRULE) || !im_live(dc) || !dc->spec)
			continue;
		const char *host = im_scalar(im_get(dc, dc->spec, "host"));
		if (!host)
			continue;
		im_hostref r = im_resolve_host(im, host, dc->ns, fqdn, sizeof(fqdn));
		if (r.id == MP_NONE || r.kind != MP_TARGET_SERVICE)
			continue;
		/* the client side (DestinationRule) against the server side (PeerAuthentication)
		 * of the host's workloads */
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
			ist_report(im, dc, NULL, "MTLSPolicyConflict",
			           "A DestinationRule and Policy are in conflict with regards to "
			           "mTLS for host "
			           "%s. The DestinationRule \"%s/%s\" specifies that mTLS must be "
			           "%s but the "
			           "Policy object \"%s/%s\" specifies %s.",
			           fqdn, im_str_of(im, dc->ns), im_str_of(im, dc->name),
			           want ? "true" : "false", im_str_of(im, pa->ns),
			           im_str_of(im, pa->name),
			           wl->mtls == MP_MTLS_STRICT ? "STRICT" : "DISABLE");
			break;
		}
		/* failover only reorders endpoints */
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
		ist_report(
		    im, dc, ls, "LocalityFailoverLeak",
		    "locality failover%s for host %s only reorders endpoints: traffic still "
		    "reaches every region the service runs in (%s), preferring the nearest; it "
		    "keeps no data in a region. Use localityLbSetting.distribute (or a deny) to "
		    "exclude the other regions.",
		    im_get(dc, ls, "failoverPriority") ? " and failoverPriority" : "", fqdn,
		    regions);
	}
}

/* --- ServiceEntries --- */

static int seq_len(yaml_node_t *n)
{
	return n && n->type == YAML_SEQUENCE_NODE
	           ? (int)(n->data.sequence.items.top - n->data.sequence.items.start)
	           : 0;
}

/* ProtocolAddressesAnalyzer: a TCP (or unset) port of an entry without addresses, unless the
 * mesh allocates them (DNS capture and auto allocation) or its status holds some. */
void ist_service_entry_addresses(mp_import *im)
{
	istio_state *st = istio_of(im);
	ist_view(im);
	if (st->mesh.dns_capture && st->mesh.dns_alloc)
		return;
	for (uint32_t i = 0; i < im->ndocs && !im->oom; i++) {
		idoc *se = &im->docs[i];
		yaml_node_t *ports, *p;
		if (!istio_is(se, IK_SERVICEENTRY) || !im_live(se) || !se->spec ||
		    seq_len(im_get(se, se->spec, "addresses")) ||
		    seq_len(im_get(se, im_get(se, se->root, "status"), "addresses")) ||
		    !(ports = im_get(se, se->spec, "ports")) || ports->type != YAML_SEQUENCE_NODE)
			continue;
		IM_SEQ_FOREACH(se, ports, p)
		{
			const char *proto = im_scalar(im_get(se, p, "protocol"));
			if (!proto || !*proto || !strcasecmp(proto, "TCP"))
				ist_report(
				    im, se, p, "ServiceEntryAddressesRequired",
				    "ServiceEntry addresses are required for this protocol.");
		}
	}
}

/* ConflictingServiceEntryProtocolAnalyzer: the same host and port with several protocols in
 * one exportTo scope (or with an entry exported everywhere). */
typedef struct {
	const char *scope, *host, *proto;
	uint32_t port, doc;
} seport;

static int by_text(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

void ist_service_entry_protocols(mp_import *im)
{
	seport *v = NULL;
	uint32_t n = 0, cap = 0;
	uint8_t *reported = mp_calloc(im->ndocs + 1, 1);
	if (!reported) {
		im->oom = 1;
		return;
	}
	for (uint32_t i = 0; i < im->ndocs && !im->oom; i++) {
		idoc *se = &im->docs[i];
		yaml_node_t *hosts, *h, *ports, *p, *et, *e;
		if (!istio_is(se, IK_SERVICEENTRY) || !im_live(se) || !se->spec ||
		    !(hosts = im_get(se, se->spec, "hosts")) || hosts->type != YAML_SEQUENCE_NODE ||
		    !(ports = im_get(se, se->spec, "ports")) || ports->type != YAML_SEQUENCE_NODE)
			continue;
		et = im_get(se, se->spec, "exportTo");
		int all = ist_export_all(se, et);
		int nscopes = all ? 1 : seq_len(et);
		for (int s = 0; s < nscopes; s++) {
			const char *scope = "*";
			if (!all) {
				e = im_node(se, et->data.sequence.items.start[s]);
				scope = im_scalar(e) ? im_scalar(e) : "";
				if (!strcmp(scope, "."))
					scope = im_str_of(im, se->ns);
				int dup = 0; /* a set of scopes */
				for (int t = 0; t < s; t++) {
					const char *o = im_scalar(
					    im_node(se, et->data.sequence.items.start[t]));
					dup |= o &&
					       !strcmp(!strcmp(o, ".") ? im_str_of(im, se->ns) : o,
					               scope);
				}
				if (dup)
					continue;
			}
			IM_SEQ_FOREACH(se, hosts, h)
			{
				IM_SEQ_FOREACH(se, ports, p)
				{
					const char *num = im_scalar(im_get(se, p, "number"));
					const char *proto = im_scalar(im_get(se, p, "protocol"));
					if (!im_scalar(h) ||
					    mp_grow((void **)&v, &cap, sizeof(*v), n, 32) < 0) {
						im->oom |= im_scalar(h) != NULL;
						continue;
					}
					v[n++] =
					    (seport){scope, im_scalar(h), proto ? proto : "",
					             num ? (uint32_t)strtoul(num, NULL, 10) : 0, i};
				}
			}
		}
	}
	/* each key (scope, host, port) in the order first seen */
	for (uint32_t a = 0; a < n && !im->oom; a++) {
		uint32_t b, first = 1;
		for (b = 0; b < a && first; b++)
			first = strcmp(v[b].scope, v[a].scope) || strcmp(v[b].host, v[a].host) ||
			        v[b].port != v[a].port;
		if (!first)
			continue;
		uint32_t entries[256], ne = 0;
		for (b = 0; b < n && ne < 256; b++)
			if (v[b].port == v[a].port && !strcmp(v[b].host, v[a].host) &&
			    (!strcmp(v[b].scope, v[a].scope) ||
			     (strcmp(v[a].scope, "*") && !strcmp(v[b].scope, "*"))))
				entries[ne++] = b;
		const char *protos[256], *names[256];
		uint32_t np = 0, nn = 0;
		char upper[256][32], full[256][300];
		for (uint32_t k = 0; k < ne; k++) {
			const seport *x = &v[entries[k]];
			size_t l;
			for (l = 0; x->proto[l] && l + 1 < sizeof(upper[k]); l++)
				upper[k][l] = (char)toupper((unsigned char)x->proto[l]);
			upper[k][l] = '\0';
			uint32_t y;
			for (y = 0; y < np && strcmp(protos[y], upper[k]); y++)
				;
			if (y == np)
				protos[np++] = upper[k];
			snprintf(full[k], sizeof(full[k]), "%s/%s",
			         im_str_of(im, im->docs[x->doc].ns),
			         im_str_of(im, im->docs[x->doc].name));
			for (y = 0; y < nn && strcmp(names[y], full[k]); y++)
				;
			if (y == nn)
				names[nn++] = full[k];
		}
		if (np < 2)
			continue;
		qsort(protos, np, sizeof(*protos), by_text);
		qsort(names, nn, sizeof(*names), by_text);
		char pl[1024] = "", nl[4096] = "";
		for (uint32_t k = 0; k < np; k++) {
			size_t at = strlen(pl);
			snprintf(pl + at, sizeof(pl) - at, "%s%s", k ? ", " : "", protos[k]);
		}
		for (uint32_t k = 0; k < nn; k++) {
			size_t at = strlen(nl);
			snprintf(nl + at, sizeof(nl) - at, "%s%s", k ? ", " : "", names[k]);
		}
		for (uint32_t k = 0; k < ne; k++) {
			uint32_t doc = v[entries[k]].doc;
			if (reported[doc])
				continue;
			reported[doc] = 1;
			ist_report(im, &im->docs[doc], ist_name_node(&im->docs[doc]),
			           "ConflictingServiceEntryProtocol",
			           "The ServiceEntries %s define host %s port %u with different "
			           "protocols: %s.",
			           nl, v[a].host, v[a].port, pl);
		}
	}
	mp_free(v);
	mp_free(reported);
}

/* --- envoyfilter.EnvoyPatchAnalyzer --- */

/* The filter a patch names: patch.value.name, else the listener match's filter name. */
static const char *patch_filter(idoc *ef, yaml_node_t *patch)
{
	yaml_node_t *value = im_get(ef, im_get(ef, patch, "patch"), "value");
	if (!value || value->type != YAML_MAPPING_NODE)
		return "";
	yaml_node_t *name = im_get(ef, value, "name");
	if (name)
		return im_scalar(name) ? im_scalar(name) : "";
	const char *f = im_scalar(im_get(
	    ef,
	    im_get(ef,
	           im_get(ef, im_get(ef, im_get(ef, patch, "match"), "listener"), "filterChain"),
	           "filter"),
	    "name"));
	return f ? f : "";
}

void ist_envoy_filters(mp_import *im)
{
	/* the filter names of earlier patches that set match.proxy.proxyVersion */
	const char **versioned = NULL;
	uint32_t nv = 0, cap = 0;
	for (uint32_t i = 0; i < im->ndocs && !im->oom; i++) {
		idoc *ef = &im->docs[i];
		yaml_node_t *patches, *p;
		if (!istio_is(ef, IK_ENVOYFILTER) || !im_live(ef) || !ef->spec ||
		    !(patches = im_get(ef, ef->spec, "configPatches")) ||
		    patches->type != YAML_SEQUENCE_NODE)
			continue;
		const char *prio = im_scalar(im_get(ef, ef->spec, "priority"));
		int priority = prio && strtol(prio, NULL, 10) != 0;
		IM_SEQ_FOREACH(ef, patches, p)
		{
			yaml_node_t *patch = im_get(ef, p, "patch");
			if (!patch || im_is_null(patch))
				break;
			const char *name = patch_filter(ef, p);
			const char *op = im_scalar(im_get(ef, patch, "operation"));
			const char *apply = im_scalar(im_get(ef, p, "applyTo"));
			int route = apply && (!strcmp(apply, "ROUTE_CONFIGURATION") ||
			                      !strcmp(apply, "HTTP_ROUTE"));
			int relative = 0;
			op = op ? op : "";
			if (!strcmp(op, "ADD")) {
				if (route)
					ist_report(im, ef, p,
					           "EnvoyFilterUsesAddOperationIncorrectly",
					           "The ADD operation will be ignored when applyTo "
					           "is set to "
					           "ROUTE_CONFIGURATION, or HTTP_ROUTE.");
			} else if (!strcmp(op, "REMOVE")) {
				if (route)
					ist_report(im, ef, p,
					           "EnvoyFilterUsesRemoveOperationIncorrectly",
					           "The REMOVE operation will be ignored when "
					           "applyTo is set to "
					           "ROUTE_CONFIGURATION, or HTTP_ROUTE.");
				relative = !route;
			} else if (!strcmp(op, "REPLACE")) {
				int filter = apply && (!strcmp(apply, "HTTP_FILTER") ||
				                       !strcmp(apply, "NETWORK_FILTER"));
				if (!filter)
					ist_report(im, ef, p,
					           "EnvoyFilterUsesReplaceOperationIncorrectly",
					           "The REPLACE operation is only valid for "
					           "HTTP_FILTER and "
					           "NETWORK_FILTER.");
				relative = filter;
			} else {
				relative =
				    !strcmp(op, "INSERT_BEFORE") || !strcmp(op, "INSERT_AFTER");
			}
			if (relative && !priority) {
				uint32_t k;
				for (k = 0; k < nv && strcmp(versioned[k], name); k++)
					;
				if (k < nv)
					ist_report(
					    im, ef, p,
					    "EnvoyFilterUsesRelativeOperationWithProxyVersion",
					    "This EnvoyFilter does not have a priority and has a "
					    "relative patch "
					    "operation (NSTERT_BEFORE/AFTER, REPLACE, MERGE, "
					    "DELETE) and "
					    "proxyVersion set which can cause the EnvoyFilter not "
					    "to be applied "
					    "during an upgrade. Using the INSERT_FIRST or ADD "
					    "option or setting "
					    "the priority may help in ensuring the EnvoyFilter is "
					    "applied "
					    "correctly.");
				else
					ist_report(im, ef, p, "EnvoyFilterUsesRelativeOperation",
					           "This EnvoyFilter does not have a priority and "
					           "has a relative "
					           "patch operation set which can cause the "
					           "EnvoyFilter not to be "
					           "applied. Using the INSERT_FIRST of ADD option "
					           "or setting the "
					           "priority may help in ensuring the EnvoyFilter "
					           "is applied "
					           "correctly.");
			}
			const char *version = im_scalar(im_get(
			    ef, im_get(ef, im_get(ef, p, "match"), "proxy"), "proxyVersion"));
			if (version && *version) {
				if (mp_grow((void **)&versioned, &cap, sizeof(*versioned), nv, 16) <
				    0) {
					im->oom = 1;
					break;
				}
				versioned[nv++] = name;
			}
		}
	}
	mp_free(versioned);
}

/* --- deprecation.FieldAnalyzer --- */

void ist_deprecations(mp_import *im)
{
	for (uint32_t i = 0; i < im->ndocs && !im->oom; i++) {
		idoc *dc = &im->docs[i];
		yaml_node_t *rules, *rule;
		if (!im_live(dc) || !dc->spec)
			continue;
		if (istio_is(dc, IK_VIRTUALSERVICE) && (rules = im_get(dc, dc->spec, "http")) &&
		    rules->type == YAML_SEQUENCE_NODE)
			IM_SEQ_FOREACH(dc, rules, rule)
			{
				const char *pct = im_scalar(im_get(
				    dc, im_get(dc, im_get(dc, rule, "fault"), "delay"), "percent"));
				if (pct && strtol(pct, NULL, 10) > 0)
					ist_report(im, dc, NULL, "Deprecated",
					           "Deprecated: HTTPRoute.fault.delay.percent is "
					           "deprecated; use "
					           "HTTPRoute.fault.delay.percentage");
			}
		if (istio_is(dc, IK_SIDECAR)) {
			yaml_node_t *ep = im_get(dc, im_get(dc, dc->spec, "outboundTrafficPolicy"),
			                         "egressProxy");
			if (ep && !im_is_null(ep))
				ist_report(im, dc, NULL, "Deprecated",
				           "Deprecated: OutboundTrafficPolicy.EgressProxy ignored");
		}
	}
}
