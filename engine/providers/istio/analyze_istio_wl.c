/* analyze_istio_wl.c: Istio's analyzers of what selects workloads and of the workloads and
 * Services themselves, as istio/istio implements them in pkg/config/analysis/analyzers/:
 * sidecar/selector.go, authz/authorizationpolicies.go, telemetry/ (selector.go,
 * default_selector.go, providers.go, lightstep.go), k8sgateway/workloadselector.go,
 * injection/injection.go and image-auto.go, deployment/services.go and pod.go,
 * service/portname.go, conditions/conditions.go (the Gateway API's kinds too); and meshpol's check
 * of PeerAuthentication selectors, which no Istio analyzer makes. Pods are the analyzers' view
 * (pods_istio.c). Rows: analyze_istio.c; docs/import.md ("Istio's analyzers"). */
#include "alloc.h"
#include "istio_int.h"
#include "providers/gatewayapi/gatewayapi_int.h"
#include "providers/kubernetes/kubernetes_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* The selector of a policy: spec.<key>.<labels> (Sidecar: workloadSelector.labels; the
 * others: selector.matchLabels), its text, the node of its first label (sorted), and whether
 * the selector itself is present. */
typedef struct {
	ist_labels labels;
	char text[1024];
	yaml_node_t *at, *node;
	int present;
} policysel;

static void policy_selector(mp_import *im, idoc *dc, const char *key, const char *labels,
                            policysel *s)
{
	const char *first;
	s->node = im_get(dc, dc->spec, key);
	s->present = s->node && !im_is_null(s->node);
	yaml_node_t *ml = im_get(dc, s->node, labels);
	ist_labels_of(im, dc, ml, &s->labels);
	ist_selector_text(&s->labels, s->text, sizeof(s->text), &first);
	s->at = first ? im_get(dc, ml, first) : s->node;
}

/* "[a b c]": Go's %v of the names of documents. */
static void names_list(mp_import *im, const uint32_t *docs, uint32_t n, char *buf, size_t len)
{
	size_t at = (size_t)snprintf(buf, len, "[");
	for (uint32_t i = 0; i < n && at < len; i++)
		at += (size_t)snprintf(buf + at, len - at, "%s%s", i ? " " : "",
		                       im_str_of(im, im->docs[docs[i]].name));
	if (at < len)
		snprintf(buf + at, len - at, "]");
}

/* --- selectors of Sidecars and Telemetries (sidecar/selector.go, telemetry/selector.go) --- */

typedef struct {
	uint32_t kind;            /* IK_SIDECAR or IK_TELEMETRY */
	const char *key, *labels; /* its selector */
	const char *conflict;     /* the message of a pod several select */
	const char *what;         /* "Sidecars", "Telemetries" */
	int ambient;              /* IneffectivePolicy for ambient pods and namespaces */
} selfamily;

static void selector_family(mp_import *im, const selfamily *f)
{
	istio_state *st = istio_of(im);
	uint32_t *list = mp_malloc((im->ndocs + 1) * sizeof(uint32_t));
	uint8_t *reported = mp_calloc(im->ndocs + 1, 1);
	/* the family's documents and their selectors, once */
	uint32_t *docs = mp_malloc((im->ndocs + 1) * sizeof(uint32_t)), nd = 0;
	policysel *sels = mp_malloc((im->ndocs + 1) * sizeof(*sels));
	char names[4096];
	ist_view(im);
	if (!list || !reported || !docs || !sels) {
		im->oom = 1;
		goto out;
	}
	for (uint32_t i = 0; i < im->ndocs; i++)
		if (istio_is(&im->docs[i], f->kind) && im_live(&im->docs[i])) {
			policy_selector(im, &im->docs[i], f->key, f->labels, &sels[nd]);
			docs[nd++] = i;
		}
	/* selectors that pick no pod of their namespace */
	for (uint32_t d = 0; d < nd; d++) {
		idoc *dc = &im->docs[docs[d]];
		if (!sels[d].labels.n)
			continue;
		uint32_t p;
		for (p = 0; p < st->npods; p++)
			if (!strcmp(st->pods[p].ns, im_str_of(im, dc->ns)) &&
			    ist_same_cluster(st->pods[p].cluster, dc->cluster) &&
			    ist_selects(&sels[d].labels, &st->pods[p].labels))
				break;
		if (p == st->npods)
			ist_report(im, dc, sels[d].at, "ReferencedResourceNotFound",
			           "Referenced selector not found: \"%s\"", sels[d].text);
	}
	/* pods several select (or one, in ambient mode) */
	for (uint32_t p = 0; p < st->npods && !im->oom; p++) {
		const ist_pod *pod = &st->pods[p];
		uint32_t n = 0;
		for (uint32_t d = 0; d < nd; d++) {
			idoc *dc = &im->docs[docs[d]];
			if (sels[d].labels.n && !strcmp(im_str_of(im, dc->ns), pod->ns) &&
			    ist_same_cluster(pod->cluster, dc->cluster) &&
			    ist_selects(&sels[d].labels, &pod->labels))
				list[n++] = docs[d];
		}
		int ambient = f->ambient && pod->ambient;
		if (n == 0 || (n == 1 && !ambient))
			continue;
		names_list(im, list, n, names, sizeof(names));
		for (uint32_t k = 0; k < n; k++) {
			idoc *dc = &im->docs[list[k]];
			if (ambient) {
				if (!reported[list[k]])
					ist_report(
					    im, dc, NULL, "IneffectivePolicy",
					    "The policy has no impact: selected workload is in "
					    "ambient mode, the policy has no impact.");
				reported[list[k]] = 1;
				continue;
			}
			ist_report(
			    im, dc, ist_name_node(dc), f->conflict,
			    "The %s %s in namespace \"%s\" select the same workload pod \"%s\", "
			    "which can lead to undefined behavior.",
			    f->what, names, pod->ns, pod->name);
		}
	}
	/* namespaces with several without a selector (Sidecars: Telemetry's own analyzer) */
	for (uint32_t d = 0; d < nd && f->kind == IK_SIDECAR && !im->oom; d++) {
		idoc *dc = &im->docs[docs[d]];
		if (sels[d].labels.n)
			continue;
		/* the first of its namespace reports for all of them */
		uint32_t n = 0, first = 1;
		for (uint32_t e = 0; e < nd; e++) {
			idoc *o = &im->docs[docs[e]];
			if (sels[e].labels.n || o->ns != dc->ns || o->cluster != dc->cluster)
				continue;
			first &= e >= d;
			list[n++] = docs[e];
		}
		if (!first)
			continue;
		idoc *nsd = ist_namespace(im, im_str_of(im, dc->ns), dc->cluster);
		if (f->ambient && ist_ns_ambient(nsd)) {
			for (uint32_t k = 0; k < n; k++) {
				if (!reported[list[k]])
					ist_report(im, &im->docs[list[k]], NULL,
					           "IneffectivePolicy",
					           "The policy has no impact: namespace is in "
					           "ambient mode, "
					           "the policy has no impact.");
				reported[list[k]] = 1;
			}
			continue;
		}
		if (n < 2)
			continue;
		names_list(im, list, n, names, sizeof(names));
		for (uint32_t k = 0; k < n; k++)
			ist_report(
			    im, &im->docs[list[k]], NULL,
			    "MultipleSidecarsWithoutWorkloadSelectors",
			    "The Sidecars %s in namespace \"%s\" have no workload selector, which "
			    "can lead to undefined behavior.",
			    names, im_str_of(im, dc->ns));
	}
out:
	mp_free(list);
	mp_free(reported);
	mp_free(docs);
	mp_free(sels);
}

/* A Sidecar's fields as Istio's validation reads them (an error; in an analysis, a
 * SchemaValidationError). */
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

void ist_sidecar_selectors(mp_import *im)
{
	static const selfamily sidecars = {IK_SIDECAR, "workloadSelector",
	                                   "labels",   "ConflictingSidecarWorkloadSelectors",
	                                   "Sidecars", 1};
	for (uint32_t i = 0; i < im->ndocs; i++)
		if (istio_is(&im->docs[i], IK_SIDECAR) && im_live(&im->docs[i]))
			sidecar_check(im, &im->docs[i]);
	selector_family(im, &sidecars);
}

/* --- Telemetry (the telemetry analyzers) --- */

static int has_target_ref(idoc *dc)
{
	yaml_node_t *t = im_get(dc, dc->spec, "targetRef"),
	            *ts = im_get(dc, dc->spec, "targetRefs");
	return (t && !im_is_null(t)) ||
	       (ts && ts->type == YAML_SEQUENCE_NODE &&
	        ts->data.sequence.items.top > ts->data.sequence.items.start);
}

void ist_telemetry(mp_import *im)
{
	static const selfamily telemetries = {
	    IK_TELEMETRY,  "selector", "matchLabels", "ConflictingTelemetryWorkloadSelectors",
	    "Telemetries", 0};
	istio_state *st = istio_of(im);
	char names[4096];
	selector_family(im, &telemetries);
	uint32_t *list = mp_malloc((im->ndocs + 1) * sizeof(uint32_t));
	if (!list) {
		im->oom = 1;
		return;
	}
	for (uint32_t i = 0; i < im->ndocs && !im->oom; i++) {
		idoc *dc = &im->docs[i];
		yaml_node_t *sel, *entries, *e, *tr, *p;
		if (!istio_is(dc, IK_TELEMETRY) || !im_live(dc))
			continue;
		/* DefaultSelectorAnalyzer: several in a namespace select everything */
		sel = im_get(dc, dc->spec, "selector");
		if ((!sel || im_is_null(sel)) && !has_target_ref(dc)) {
			uint32_t n = 0, first = 1;
			for (uint32_t j = 0; j < im->ndocs; j++) {
				idoc *o = &im->docs[j];
				yaml_node_t *os;
				if (!istio_is(o, IK_TELEMETRY) || !im_live(o) || o->ns != dc->ns ||
				    o->cluster != dc->cluster)
					continue;
				os = im_get(o, o->spec, "selector");
				if ((os && !im_is_null(os)) || has_target_ref(o))
					continue;
				first &= j >= i;
				list[n++] = j;
			}
			if (first && n > 1) {
				names_list(im, list, n, names, sizeof(names));
				for (uint32_t k = 0; k < n; k++)
					ist_report(
					    im, &im->docs[list[k]], NULL,
					    "MultipleTelemetriesWithoutWorkloadSelectors",
					    "The Telemetries %s in namespace \"%s\" have no "
					    "workload "
					    "selector, which can lead to undefined behavior.",
					    names, im_str_of(im, dc->ns));
			}
		}
		/* ProviderAnalyzer: an access log without providers, and no mesh default */
		entries = im_get(dc, dc->spec, "accessLogging");
		if (!st->mesh.access_log_providers && entries &&
		    entries->type == YAML_SEQUENCE_NODE)
			IM_SEQ_FOREACH(dc, entries, e)
			{
				const char *disabled = im_scalar(im_get(dc, e, "disabled"));
				yaml_node_t *provs = im_get(dc, e, "providers");
				if ((disabled && !strcmp(disabled, "true")) ||
				    (provs && provs->type == YAML_SEQUENCE_NODE &&
				     provs->data.sequence.items.top >
				         provs->data.sequence.items.start))
					continue;
				ist_report(im, dc, NULL, "InvalidTelemetryProvider",
				           "The Telemetry %s in namespace \"%s\" with empty "
				           "providers will "
				           "be ignored.",
				           im_str_of(im, dc->name), im_str_of(im, dc->ns));
			}
		/* LightstepAnalyzer: tracing to a lightstep extension provider */
		entries = im_get(dc, dc->spec, "tracing");
		if (st->mesh.nlightstep && entries && entries->type == YAML_SEQUENCE_NODE)
			IM_SEQ_FOREACH(dc, entries, tr)
			{
				yaml_node_t *provs = im_get(dc, tr, "providers");
				if (!provs || provs->type != YAML_SEQUENCE_NODE)
					continue;
				IM_SEQ_FOREACH(dc, provs, p)
				{
					const char *name = im_scalar(im_get(dc, p, "name"));
					for (uint32_t k = 0; name && k < st->mesh.nlightstep; k++)
						if (!strcmp(st->mesh.lightstep[k], name))
							ist_report(im, dc, NULL, "Deprecated",
							           "Deprecated: The Lightstep "
							           "provider %s is "
							           "deprecated, please migrate to "
							           "OpenTelemetry provider.",
							           name);
				}
			}
	}
	mp_free(list);
}

/* --- AuthorizationPolicy (authz/authorizationpolicies.go) --- */

/* The pods of a namespace the analyzer indexes: in the mesh, or in ambient mode. */
static int indexed(const ist_pod *p)
{
	return p->in_mesh || p->ambient;
}

/* namespaceMatch: "*", "*suffix", "prefix*", else equal ignoring case. */
static int namespace_match(const char *ns, const char *exp)
{
	size_t le = strlen(exp), ln = strlen(ns);
	if (!strcmp(exp, "*"))
		return 1;
	if (exp[0] == '*')
		return ln >= le - 1 && !strcmp(ns + ln - (le - 1), exp + 1);
	if (le && exp[le - 1] == '*')
		return !strncmp(ns, exp, le - 1);
	return !strcasecmp(ns, exp);
}

static void authz_namespaces(mp_import *im, idoc *ap)
{
	static const char *const keys[] = {"namespaces", "notNamespaces"};
	yaml_node_t *rules = im_get(ap, ap->spec, "rules"), *rule, *from, *list, *n;
	if (!rules || rules->type != YAML_SEQUENCE_NODE)
		return;
	IM_SEQ_FOREACH(ap, rules, rule)
	{
		yaml_node_t *froms = im_get(ap, rule, "from");
		if (!froms || froms->type != YAML_SEQUENCE_NODE)
			continue;
		IM_SEQ_FOREACH(ap, froms, from)
		{
			yaml_node_t *src = im_get(ap, from, "source");
			for (int k = 0; k < 2; k++) {
				if (!(list = im_get(ap, src, keys[k])) ||
				    list->type != YAML_SEQUENCE_NODE)
					continue;
				IM_SEQ_FOREACH(ap, list, n)
				{
					const char *exp = im_scalar(n);
					int found = 0;
					for (uint32_t i = 0; exp && i < im->ndocs && !found; i++) {
						idoc *d = &im->docs[i];
						found =
						    k8s_is(d, K8S_NAMESPACE) && im_live(d) &&
						    namespace_match(im_str_of(im, d->name), exp);
					}
					if (exp && !found)
						ist_report(im, ap, n, "ReferencedResourceNotFound",
						           "Referenced namespace not found: \"%s\"",
						           exp);
				}
			}
		}
	}
}

void ist_authorization_policies(mp_import *im)
{
	istio_state *st = istio_of(im);
	ist_view(im);
	for (uint32_t i = 0; i < im->ndocs && !im->oom; i++) {
		idoc *ap = &im->docs[i];
		policysel s;
		if (!istio_is(ap, IK_AUTHORIZATIONPOLICY) || !im_live(ap))
			continue;
		const char *ns = im_str_of(im, ap->ns);
		if (!ap->spec)
			s = (policysel){.present = 0};
		else
			policy_selector(im, ap, "selector", "matchLabels", &s);
		int root = !strcmp(ns, st->mesh.root_ns), found = 0, any = 0;
		for (uint32_t p = 0; p < st->npods && !found; p++) {
			const ist_pod *pod = &st->pods[p];
			if (!indexed(pod) || !ist_same_cluster(pod->cluster, ap->cluster) ||
			    (!root && strcmp(pod->ns, ns)))
				continue;
			any = 1;
			found = ist_selects(&s.labels, &pod->labels);
		}
		if (root ? s.present && !found : s.present ? !found : !any)
			ist_report(
			    im, ap, NULL, "NoMatchingWorkloadsFound",
			    "No matching workloads for this resource with the following labels: %s",
			    s.present ? s.text : "");
		authz_namespaces(im, ap);
	}
}

/* --- PeerAuthentication (meshpol's: no Istio analyzer checks its selector) --- */

void ist_peer_authentication_selectors(mp_import *im)
{
	istio_state *st = istio_of(im);
	ist_view(im);
	for (uint32_t i = 0; i < im->ndocs && !im->oom; i++) {
		idoc *pa = &im->docs[i];
		policysel s;
		if (!istio_is(pa, IK_PEERAUTHENTICATION) || !im_live(pa) || !pa->spec)
			continue;
		policy_selector(im, pa, "selector", "matchLabels", &s);
		if (!s.labels.n)
			continue;
		int root = !strcmp(im_str_of(im, pa->ns), st->mesh.root_ns), found = 0;
		for (uint32_t p = 0; p < st->npods && !found; p++)
			found = (root || !strcmp(st->pods[p].ns, im_str_of(im, pa->ns))) &&
			        ist_same_cluster(st->pods[p].cluster, pa->cluster) &&
			        ist_selects(&s.labels, &st->pods[p].labels);
		if (!found)
			ist_report(
			    im, pa, s.at, "PeerAuthenticationNoMatchingWorkloads",
			    "No matching workloads for this resource with the following labels: %s",
			    s.text);
	}
}

/* --- k8sgateway.SelectorAnalyzer: selectors on pods of a Kubernetes Gateway --- */

#define GATEWAY_NAME_LABEL "gateway.networking.k8s.io/gateway-name"

void ist_k8s_gateway_selectors(mp_import *im)
{
	static const uint32_t kinds[] = {IK_AUTHORIZATIONPOLICY, IK_REQUESTAUTHENTICATION,
	                                 IK_TELEMETRY, IK_WASMPLUGIN};
	istio_state *st = istio_of(im);
	ist_view(im);
	for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++)
		for (uint32_t i = 0; i < im->ndocs && !im->oom; i++) {
			idoc *dc = &im->docs[i];
			policysel s;
			yaml_node_t *t;
			if (!istio_is(dc, kinds[k]) || !im_live(dc) || !dc->spec ||
			    ((t = im_get(dc, dc->spec, "targetRef")) && !im_is_null(t)))
				continue;
			policy_selector(im, dc, "selector", "matchLabels", &s);
			if (!s.present)
				continue;
			for (uint32_t p = 0; p < st->npods; p++) {
				const ist_pod *pod = &st->pods[p];
				const char *gw = ist_label_value(&pod->labels, GATEWAY_NAME_LABEL);
				if (!gw || strcmp(pod->ns, im_str_of(im, dc->ns)) ||
				    !ist_same_cluster(pod->cluster, dc->cluster) ||
				    !ist_selects(&s.labels, &pod->labels))
					continue;
				ist_report(im, dc, NULL, "IneffectiveSelector",
				           "Ineffective selector on Kubernetes Gateway %s. Use the "
				           "TargetRef "
				           "field instead.",
				           gw);
			}
		}
}

/* --- injection.Analyzer --- */

/* enableNamespacesByDefault in the values of the injector ConfigMap of a revision. */
static int enabled_by_default(mp_import *im, const char *rev)
{
	char name[300];
	if (!rev || !*rev || !strcmp(rev, "default"))
		snprintf(name, sizeof(name), "istio-sidecar-injector");
	else
		snprintf(name, sizeof(name), "istio-sidecar-injector-%s", rev);
	for (uint32_t i = 0; i < im->ndocs; i++) {
		idoc *dc = &im->docs[i];
		if (!k8s_is(dc, K8S_CONFIGMAP) || dc->dead || strcmp(im_str_of(im, dc->name), name))
			continue;
		const char *values = im_scalar(im_get(dc, im_get(dc, dc->root, "data"), "values"));
		json_t *j = values ? json_loads(values, 0, NULL) : NULL;
		json_t *v = json_object_get(json_object_get(j, "sidecarInjectorWebhook"),
		                            "enableNamespacesByDefault");
		int on = json_is_true(v);
		json_decref(j);
		return on;
	}
	return -1;
}

void ist_injection(mp_import *im)
{
	istio_state *st = istio_of(im);
	int by_default = 0; /* sticky across namespaces, as in Istio's loop */
	ist_view(im);
	for (uint32_t i = 0; i < im->ndocs && !im->oom; i++) {
		idoc *ns = &im->docs[i];
		if (!k8s_is(ns, K8S_NAMESPACE) || !im_live(ns) ||
		    !strcmp(im_str_of(im, ns->name), "istio-system"))
			continue;
		const char *inj = ist_ns_label(ns, "istio-injection");
		const char *rev = ist_ns_label(ns, "istio.io/rev");
		const char *mode = ist_ns_label(ns, "istio.io/dataplane-mode");
		yaml_node_t *labels = im_get(ns, ns->meta, "labels");
		char list[1024] = "[";
		int nl = 0;
		if (inj || im_get(ns, labels, "istio-injection")) {
			snprintf(list + 1, sizeof(list) - 1, "istio-injection=%s", inj ? inj : "");
			nl++;
		}
		int others =
		    !im_get(ns, labels, "istio-injection") || (inj && !strcmp(inj, "enabled"));
		const char *keys[2] = {"istio.io/rev", "istio.io/dataplane-mode"};
		for (int k = 0; k < 2 && others; k++) {
			if (!im_get(ns, labels, keys[k]))
				continue;
			const char *v = ist_ns_label(ns, keys[k]);
			size_t at = strlen(list);
			snprintf(list + at, sizeof(list) - at, "%s%s=%s", nl ? " " : "", keys[k],
			         v ? v : "");
			nl++;
		}
		strncat(list, "]", sizeof(list) - strlen(list) - 1);
		if (nl > 1)
			ist_report(
			    im, ns, NULL, "NamespaceMultipleInjectionLabels",
			    "The namespace has more than one type of injection labels %s, which "
			    "may lead to undefined behavior. Make sure only one injection label "
			    "exists.",
			    list);
		if (mode && !strcmp(mode, "ambient"))
			continue;
		int d = enabled_by_default(im, rev);
		if (d >= 0)
			by_default = d;
		if ((!inj || !*inj) && !im_get(ns, labels, "istio.io/rev")) {
			const char *name = im_str_of(im, ns->name);
			if (by_default)
				ist_report(
				    im, ns, NULL, "NamespaceInjectionEnabledByDefault",
				    "is enabled for Istio injection, as Istio is installed with "
				    "enableNamespacesByDefault as true.");
			else
				ist_report(
				    im, ns, ist_name_node(ns), "NamespaceNotInjected",
				    "The namespace is not enabled for Istio injection. Run "
				    "'kubectl "
				    "label namespace %s istio-injection=enabled' to enable it, or "
				    "'kubectl label namespace %s istio-injection=disabled' to "
				    "explicitly mark it as not needing injection.",
				    name, name);
		}
	}
	for (uint32_t p = 0; p < st->npods && !im->oom; p++) {
		const ist_pod *pod = &st->pods[p];
		if (!pod->dc || !pod->is_pod)
			continue;
		idoc *ns = ist_namespace(im, pod->ns, pod->cluster);
		const char *inj = ist_ns_label(ns, "istio-injection");
		const char *mode = ist_ns_label(ns, "istio.io/dataplane-mode");
		if (!ns || !strcmp(pod->ns, "istio-system") || !inj || strcmp(inj, "enabled") ||
		    (mode && !strcmp(mode, "ambient")))
			continue;
		idoc *dc = pod->dc;
		const char *v = ist_label_value(&pod->labels, "sidecar.istio.io/inject");
		if (!v && !ist_label_value(&pod->labels, "sidecar.istio.io/inject"))
			v = im_scalar(im_get(dc, im_get(dc, pod->meta, "annotations"),
			                     "sidecar.istio.io/inject"));
		const char *hostnet = im_scalar(im_get(dc, pod->spec, "hostNetwork"));
		if ((v && !strcasecmp(v, "false")) || (hostnet && !strcmp(hostnet, "true")))
			continue;
		int proxy = 0;
		static const char *const lists[] = {"containers", "initContainers"};
		for (int k = 0; k < 2 && !proxy; k++) {
			yaml_node_t *cs = im_get(dc, pod->spec, lists[k]), *c;
			if (cs && cs->type == YAML_SEQUENCE_NODE)
				IM_SEQ_FOREACH(dc, cs, c)
				{
					const char *name = im_scalar(im_get(dc, c, "name"));
					const char *image = im_scalar(im_get(dc, c, "image"));
					if (name && !strcmp(name, "istio-proxy")) {
						proxy = image && *image;
						break;
					}
				}
		}
		if (!proxy)
			ist_report(
			    im, dc, NULL, "PodMissingProxy",
			    "The pod %s/%s is missing the Istio proxy. This can often be resolved "
			    "by restarting or redeploying the workload.",
			    pod->ns, pod->name);
	}
}

/* --- injection.ImageAutoAnalyzer --- */

static int auto_image(idoc *dc, yaml_node_t *spec)
{
	yaml_node_t *cs = im_get(dc, spec, "containers"), *c;
	if (cs && cs->type == YAML_SEQUENCE_NODE)
		IM_SEQ_FOREACH(dc, cs, c)
		{
			const char *name = im_scalar(im_get(dc, c, "name"));
			const char *image = im_scalar(im_get(dc, c, "image"));
			if (name && !strcmp(name, "istio-proxy") && image && !strcmp(image, "auto"))
				return 1;
		}
	return 0;
}

/* metav1.LabelSelectorAsSelector(sel).Matches(labels); an absent selector matches all. */
static int label_selector(idoc *dc, yaml_node_t *sel, const ist_labels *labels)
{
	yaml_node_t *ml, *exprs, *k, *v, *e, *vals, *x;
	if (!sel || im_is_null(sel))
		return 1;
	if ((ml = im_get(dc, sel, "matchLabels")) && ml->type == YAML_MAPPING_NODE)
		IM_MAP_FOREACH(dc, ml, k, v)
		{
			const char *have =
			    im_scalar(k) ? ist_label_value(labels, im_scalar(k)) : NULL;
			if (!have || !im_scalar(v) || strcmp(have, im_scalar(v)))
				return 0;
		}
	if ((exprs = im_get(dc, sel, "matchExpressions")) && exprs->type == YAML_SEQUENCE_NODE)
		IM_SEQ_FOREACH(dc, exprs, e)
		{
			const char *key = im_scalar(im_get(dc, e, "key"));
			const char *op = im_scalar(im_get(dc, e, "operator"));
			const char *have = key ? ist_label_value(labels, key) : NULL;
			int in = 0;
			if (!key || !op)
				return 0;
			if ((vals = im_get(dc, e, "values")) && vals->type == YAML_SEQUENCE_NODE)
				IM_SEQ_FOREACH(dc, vals, x)
				{
					in |= have && im_scalar(x) && !strcmp(have, im_scalar(x));
				}
			if (!strcmp(op, "In")             ? !in
			    : !strcmp(op, "NotIn")        ? in
			    : !strcmp(op, "Exists")       ? !have
			    : !strcmp(op, "DoesNotExist") ? have != NULL
			                                  : 1)
				return 0;
		}
	return 1;
}

void ist_image_auto(mp_import *im)
{
	istio_state *st = istio_of(im);
	ist_view(im);
	for (uint32_t p = 0; p < st->npods && !im->oom; p++) {
		const ist_pod *pod = &st->pods[p];
		if (pod->dc && k8s_is(pod->dc, K8S_POD) && auto_image(pod->dc, pod->spec))
			ist_report(
			    im, pod->dc, NULL, "ImageAutoWithoutInjectionError",
			    "Pod %s contains `image: auto` but does not match any Istio injection "
			    "webhook selectors.",
			    pod->name);
	}
	for (uint32_t i = 0; i < im->ndocs && !im->oom; i++) {
		idoc *d = &im->docs[i];
		yaml_node_t *tmpl = im_get(d, d->spec, "template");
		if (!k8s_is(d, K8S_DEPLOYMENT) || !im_live(d) ||
		    !auto_image(d, im_get(d, tmpl, "spec")))
			continue;
		ist_labels tl, nl = {NULL, 0};
		ist_labels_of(im, d, im_get(d, im_get(d, tmpl, "metadata"), "labels"), &tl);
		idoc *ns = ist_namespace(im, im_str_of(im, d->ns), d->cluster);
		if (ns)
			ist_labels_of(im, ns, im_get(ns, ns->meta, "labels"), &nl);
		int matched = 0;
		for (uint32_t w = 0; w < im->ndocs && !matched; w++) {
			idoc *mw = &im->docs[w];
			yaml_node_t *hooks, *h;
			if (!k8s_is(mw, K8S_MUTATINGWEBHOOK) || !im_live(mw) ||
			    !(hooks = im_get(mw, mw->root, "webhooks")) ||
			    hooks->type != YAML_SEQUENCE_NODE)
				continue;
			IM_SEQ_FOREACH(mw, hooks, h)
			{
				const char *name = im_scalar(im_get(mw, h, "name"));
				size_t n = name ? strlen(name) : 0;
				if (n < 8 || strcmp(name + n - 8, "istio.io"))
					continue;
				matched |=
				    label_selector(mw, im_get(mw, h, "namespaceSelector"), &nl) &&
				    label_selector(mw, im_get(mw, h, "objectSelector"), &tl);
			}
		}
		if (!matched)
			ist_report(
			    im, d, NULL, "ImageAutoWithoutInjectionWarning",
			    "Deployment %s contains `image: auto` but does not match any Istio "
			    "injection webhook selectors.",
			    im_str_of(im, d->name));
	}
}

/* --- deployment.ServiceAssociationAnalyzer --- */

static int by_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int by_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

#define MAX_SP 256

static const istio_state *sort_st;

static int cmp_svc_ns(const void *x, const void *y)
{
	uint32_t a = *(const uint32_t *)x, b = *(const uint32_t *)y;
	int c = strcmp(sort_st->svcs[a].ns, sort_st->svcs[b].ns);
	return c ? c : (a > b) - (a < b);
}

/* The view's Services sorted by namespace, then order (istio_state.svc_by_ns); -1 when out of
 * memory. Each pod looks at its namespace's Services only. */
static int services_by_ns(istio_state *st)
{
	if (st->svc_by_ns)
		return 0;
	if (!(st->svc_by_ns = mp_arena_alloc(&st->arena, (st->nsvcs + 1) * sizeof(uint32_t))))
		return -1;
	for (uint32_t k = 0; k < st->nsvcs; k++)
		st->svc_by_ns[k] = k;
	sort_st = st;
	qsort(st->svc_by_ns, st->nsvcs, sizeof(uint32_t), cmp_svc_ns);
	sort_st = NULL;
	return 0;
}

void ist_service_association(mp_import *im)
{
	istio_state *st = istio_of(im);
	ist_view(im);
	if (services_by_ns(st) < 0) {
		im->oom = 1;
		return;
	}
	for (uint32_t p = 0; p < st->npods && !im->oom; p++) {
		const ist_pod *pod = &st->pods[p];
		idoc *d = pod->dc;
		if (!d || !k8s_is(d, K8S_DEPLOYMENT) || !pod->in_mesh)
			continue;
		const char *managed =
		    im_scalar(im_get(d, im_get(d, d->meta, "labels"), "gateway.istio.io/managed"));
		if (managed && !strcmp(managed, "istio.io-mesh-controller"))
			continue;
		/* (port, protocol, service) and (targetPort, port, service) of the Services with
		 * a selector that select the template, in its namespace */
		struct {
			uint32_t port;
			const char *proto, *svc, *target;
		} sp[MAX_SP];
		uint32_t n = 0;
		char full[MAX_SP][300];
		uint32_t lo = 0, hi = st->nsvcs;
		while (lo < hi) { /* the first Service of the pod's namespace */
			uint32_t mid = (lo + hi) / 2;
			if (strcmp(st->svcs[st->svc_by_ns[mid]].ns, pod->ns) < 0)
				lo = mid + 1;
			else
				hi = mid;
		}
		for (uint32_t at = lo; at < st->nsvcs; at++) {
			const ist_service *s = &st->svcs[st->svc_by_ns[at]];
			if (strcmp(s->ns, pod->ns))
				break;
			if (!s->selector.n || strcmp(s->ns, pod->ns) ||
			    !ist_same_cluster(s->cluster, pod->cluster) ||
			    !ist_selects(&s->selector, &pod->labels))
				continue;
			for (uint32_t x = 0; x < s->nports && n < MAX_SP; x++) {
				snprintf(full[n], sizeof(full[n]), "%s/%s", s->ns, s->name);
				sp[n].port = s->ports[x].port;
				sp[n].proto = s->ports[x].protocol && *s->ports[x].protocol
				                  ? s->ports[x].protocol
				                  : "TCP";
				sp[n].svc = full[n];
				sp[n].target = s->ports[x].target_text;
				n++;
			}
		}
		/* a port with several protocols */
		for (uint32_t a = 0; a < n; a++) {
			uint32_t b, first = 1, protos = 0;
			for (b = 0; b < a && first; b++)
				first = sp[b].port != sp[a].port;
			if (!first)
				continue;
			const char *names[MAX_SP];
			uint32_t nn = 0;
			for (b = 0; b < n; b++) {
				if (sp[b].port != sp[a].port)
					continue;
				names[nn++] = sp[b].svc;
				uint32_t c;
				for (c = 0; c < b && !(sp[c].port == sp[a].port &&
				                       !strcmp(sp[c].proto, sp[b].proto));
				     c++)
					;
				protos += c == b;
			}
			if (protos < 2)
				continue;
			qsort(names, nn, sizeof(*names), by_str);
			char list[4096];
			ist_go_list(list, sizeof(list), names, NULL, nn);
			ist_report(
			    im, d, ist_name_node(d), "DeploymentAssociatedToMultipleServices",
			    "This deployment %s is associated with multiple services using port %u "
			    "but different protocols: %s",
			    pod->name, sp[a].port, list);
		}
		/* a targetPort several ports reach */
		char tp[MAX_SP][32];
		for (uint32_t a = 0; a < n; a++) {
			const char *t = sp[a].target;
			if (!t || !*t || !strcmp(t, "0"))
				snprintf(tp[a], sizeof(tp[a]), "%u", sp[a].port);
			else
				snprintf(tp[a], sizeof(tp[a]), "%s", t);
		}
		for (uint32_t a = 0; a < n; a++) {
			uint32_t b, first = 1;
			for (b = 0; b < a && first; b++)
				first = strcmp(tp[b], tp[a]) != 0;
			if (!first)
				continue;
			/* port -> service, the last one written */
			uint32_t ports[MAX_SP], np = 0;
			const char *svcs[MAX_SP];
			for (b = 0; b < n; b++) {
				if (strcmp(tp[b], tp[a]))
					continue;
				uint32_t c;
				for (c = 0; c < np && ports[c] != sp[b].port; c++)
					;
				if (c == np)
					ports[np++] = sp[b].port;
				svcs[c] = sp[b].svc;
			}
			if (np < 2)
				continue;
			qsort(svcs, np, sizeof(*svcs), by_str);
			qsort(ports, np, sizeof(*ports), by_u32);
			char sl[4096], pl[1024];
			ist_go_list(sl, sizeof(sl), svcs, NULL, np);
			ist_go_list(pl, sizeof(pl), NULL, ports, np);
			ist_report(
			    im, d, ist_name_node(d), "DeploymentConflictingPorts",
			    "This deployment %s is associated with multiple services %s using "
			    "targetPort \"%s\" but different ports: %s.",
			    pod->name, sl, tp[a], pl);
		}
	}
}

/* --- deployment.ApplicationUIDAnalyzer --- */

/* util.IsIstioControlPlane: a label named istio, or release: istio. */
static int control_plane(idoc *dc)
{
	yaml_node_t *labels = im_get(dc, dc->meta, "labels");
	const char *release = im_scalar(im_get(dc, labels, "release"));
	return im_get(dc, labels, "istio") != NULL || (release && !strcmp(release, "istio"));
}

static int run_as_1337(idoc *dc, yaml_node_t *owner)
{
	const char *uid = im_scalar(im_get(dc, im_get(dc, owner, "securityContext"), "runAsUser"));
	return uid && !strcmp(uid, "1337");
}

void ist_application_uid(mp_import *im)
{
	for (uint32_t i = 0; i < im->ndocs && !im->oom; i++) {
		idoc *dc = &im->docs[i];
		yaml_node_t *spec, *cs, *c;
		if (k8s_is(dc, K8S_POD))
			spec = dc->spec;
		else if (k8s_is(dc, K8S_DEPLOYMENT))
			spec = im_get(dc, im_get(dc, dc->spec, "template"), "spec");
		else
			continue;
		if (!im_live(dc) || control_plane(dc))
			continue;
		int bad = run_as_1337(dc, spec);
		if ((cs = im_get(dc, spec, "containers")) && cs->type == YAML_SEQUENCE_NODE)
			IM_SEQ_FOREACH(dc, cs, c)
			{
				const char *name = im_scalar(im_get(dc, c, "name"));
				if (name && (!strcmp(name, "istio-proxy") ||
				             !strcmp(name, "istio-operator")))
					continue;
				bad |= run_as_1337(dc, c);
			}
		if (bad) /* Istio reports each; identical messages are one */
			ist_report(im, dc, NULL, "InvalidApplicationUID",
			           "User ID (UID) 1337 is reserved for the sidecar proxy.");
	}
}

/* --- service.PortNameAnalyzer --- */

/* kube.ConvertProtocol: is the port's protocol one Istio can tell (UDP, a known appProtocol or
 * name prefix, a well-known port)? */
static int protocol_known(const ist_port *p)
{
	static const char *const known[] = {"tcp",  "udp",        "grpc",  "grpc-web",
	                                    "http", "http_proxy", "http2", "https",
	                                    "tls",  "mongo",      "redis", "mysql"};
	if (p->protocol && !strcmp(p->protocol, "UDP"))
		return 1;
	const char *name = p->app ? p->app : p->name ? p->name : "";
	if (!strncasecmp(name, "grpc-web", 8))
		return 1;
	char prefix[128];
	snprintf(prefix, sizeof(prefix), "%.*s", (int)strcspn(name, "-"), name);
	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		if (!strcasecmp(prefix, known[i]))
			return 1;
	return p->port == 25 || p->port == 53 || p->port == 3306 || p->port == 27017;
}

void ist_port_names(mp_import *im)
{
	istio_state *st = istio_of(im);
	ist_view(im);
	for (uint32_t k = 0; k < st->nsvcs && !im->oom; k++) {
		const ist_service *s = &st->svcs[k];
		idoc *dc = s->dc;
		if (!dc || control_plane(dc))
			continue;
		const char *managed = im_scalar(
		    im_get(dc, im_get(dc, dc->meta, "labels"), "gateway.istio.io/managed"));
		if (managed && (!strcmp(managed, "istio.io-gateway-controller") ||
		                !strcmp(managed, "istio.io-mesh-controller") ||
		                !strcmp(managed, "istio.io-eastwest-controller")))
			continue;
		int external = s->type && !strcmp(s->type, "ExternalName");
		for (uint32_t x = 0; x < s->nports; x++) {
			const ist_port *p = &s->ports[x];
			if (protocol_known(p) && !(external && p->name && !strcmp(p->name, "tcp")))
				continue;
			if (external)
				ist_report(
				    im, dc, p->node, "ExternalNameServiceTypeInvalidPortName",
				    "Port name for ExternalName service is invalid. Proxy may "
				    "prevent "
				    "tcp named ports and unmatched traffic for ports serving TCP "
				    "protocol from being forwarded correctly");
			else
				ist_report(
				    im, dc, p->node, "PortNameIsNotUnderNamingConvention",
				    "Port name %s (port: %u, targetPort: %s) doesn't follow the "
				    "naming convention of Istio port.",
				    p->name ? p->name : "", p->port,
				    p->target_text ? p->target_text : "0");
		}
	}
}

/* --- conditions.ConditionAnalyzer --- */

/* The conditions Istio reports negative, per kind (conditions.go, negativeConditionsToReport):
 * a Service's or ServiceEntry's waypoint not bound; an AuthorizationPolicy ztunnel or a waypoint
 * did not accept, or accepted in part; the Gateway API's Gateway, HTTPRoute and GRPCRoute not
 * Accepted, Programmed or ResolvedRefs. */
enum { COND_SERVICE, COND_AUTHZ, COND_GATEWAY_API };

static int negative(int kind, const char *type, const char *status, const char *reason)
{
	int no = status && !strcmp(status, "False");
	switch (kind) {
	case COND_SERVICE:
		return no && !strcmp(type, "istio.io/WaypointBound");
	case COND_AUTHZ:
		return (no &&
		        (!strcmp(type, "ZtunnelAccepted") || !strcmp(type, "WaypointAccepted"))) ||
		       (!strcmp(type, "WaypointAccepted") && reason &&
		        !strcmp(reason, "PartiallyInvalid"));
	default:
		return no && (!strcmp(type, "Accepted") || !strcmp(type, "Programmed") ||
		              !strcmp(type, "ResolvedRefs"));
	}
}

/* NegativeConditionStatus for each negative condition of the list conds of dc. */
static void report_conditions(mp_import *im, idoc *dc, yaml_node_t *conds, int kind)
{
	yaml_node_t *c;
	if (!conds || conds->type != YAML_SEQUENCE_NODE)
		return;
	IM_SEQ_FOREACH(dc, conds, c)
	{
		const char *type = im_scalar(im_get(dc, c, "type"));
		const char *status = im_scalar(im_get(dc, c, "status"));
		const char *reason = im_scalar(im_get(dc, c, "reason"));
		const char *message = im_scalar(im_get(dc, c, "message"));
		if (type && negative(kind, type, status, reason))
			ist_report(im, dc, NULL, "NegativeConditionStatus",
			           "A condition with a negative status is present: type=%s, "
			           "reason=%s, message=%s.",
			           type, reason ? reason : "", message ? message : "");
	}
}

void ist_conditions(mp_import *im)
{
	for (uint32_t i = 0; i < im->ndocs && !im->oom; i++) {
		idoc *dc = &im->docs[i];
		yaml_node_t *status = im_get(dc, dc->root, "status"), *p, *parent;
		if (dc->dead == 1 || dc->cluster == MP_NONE || !status)
			continue;
		if (k8s_is(dc, K8S_SERVICE) || istio_is(dc, IK_SERVICEENTRY))
			report_conditions(im, dc, im_get(dc, status, "conditions"), COND_SERVICE);
		else if (istio_is(dc, IK_AUTHORIZATIONPOLICY))
			report_conditions(im, dc, im_get(dc, status, "conditions"), COND_AUTHZ);
		else if (gwapi_is(dc, GW_GATEWAY)) /* not its listeners' (Istio's TODO) */
			report_conditions(im, dc, im_get(dc, status, "conditions"),
			                  COND_GATEWAY_API);
		else if ((gwapi_is(dc, GW_HTTPROUTE) || gwapi_is(dc, GW_GRPCROUTE)) &&
		         (p = im_get(dc, status, "parents")) && p->type == YAML_SEQUENCE_NODE)
			IM_SEQ_FOREACH(dc, p, parent)
		report_conditions(im, dc, im_get(dc, parent, "conditions"), COND_GATEWAY_API);
	}
}
