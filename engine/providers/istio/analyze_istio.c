/* analyze_istio.c: Istio's analyzers as rows of the check table (check.h), in the order they
 * run, and Istio's messages: the catalogue of names, codes and levels of istioctl analyze
 * (istio/istio pkg/config/analysis/msg/messages.yaml) through which every Istio finding is
 * reported, "[ISTxxxx] " before its text, plus the few meshpol adds where Istio has none. The
 * analyzers themselves live by family in analyze_istio_vs.c (VirtualServices),
 * analyze_istio_gw.c (Gateways), analyze_istio_wl.c (what selects workloads, the workloads and
 * Services themselves) and analyze_istio_cfg.c (DestinationRules, ServiceEntries,
 * EnvoyFilters, deprecations). The importer runs them after the routes, while the model is
 * compiled; `meshpol audit` reports their findings under the policy "meshpol.import" with the
 * name as the rule. Catalogue: docs/import.md ("Findings", "Istio's analyzers"); why they run
 * at compile time: docs/architecture.md ("Audit checks"). */
#include "alloc.h"
#include "authz.h"
#include "check.h"
#include "istio_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* --- the messages --- */

#define E MP_FINDING_ERROR
#define W MP_FINDING_WARNING
#define I MP_FINDING_INFO

/* Istio's messages meshpol reports (name, code, level), and meshpol's own (no code). */
static const struct {
	const char *name, *code;
	uint32_t level;
} messages[] = {
    {"Deprecated", "IST0002", W},
    {"ReferencedResourceNotFound", "IST0101", E},
    {"NamespaceNotInjected", "IST0102", I},
    {"PodMissingProxy", "IST0103", W},
    {"SchemaValidationError", "IST0106", E},
    {"ConflictingMeshGatewayVirtualServiceHosts", "IST0109", E},
    {"ConflictingSidecarWorkloadSelectors", "IST0110", E},
    {"MultipleSidecarsWithoutWorkloadSelectors", "IST0111", E},
    {"VirtualServiceDestinationPortSelectorRequired", "IST0112", E},
    {"DeploymentAssociatedToMultipleServices", "IST0116", W},
    {"PortNameIsNotUnderNamingConvention", "IST0118", I},
    {"NamespaceMultipleInjectionLabels", "IST0123", W},
    {"NoMatchingWorkloadsFound", "IST0127", W},
    {"NoServerCertificateVerificationDestinationLevel", "IST0128", W},
    {"NoServerCertificateVerificationPortLevel", "IST0129", W},
    {"VirtualServiceUnreachableRule", "IST0130", W},
    {"VirtualServiceIneffectiveMatch", "IST0131", I},
    {"VirtualServiceHostNotFoundInGateway", "IST0132", W},
    {"ServiceEntryAddressesRequired", "IST0134", W},
    {"DeploymentConflictingPorts", "IST0137", W},
    {"GatewayDuplicateCertificate", "IST0138", W},
    {"IngressRouteRulesNotAffected", "IST0140", W},
    {"InvalidApplicationUID", "IST0144", W},
    {"ConflictingGateways", "IST0145", E},
    {"ImageAutoWithoutInjectionWarning", "IST0146", W},
    {"ImageAutoWithoutInjectionError", "IST0147", E},
    {"NamespaceInjectionEnabledByDefault", "IST0148", I},
    {"JwtClaimBasedRoutingWithoutRequestAuthN", "IST0149", E},
    {"ExternalNameServiceTypeInvalidPortName", "IST0150", W},
    {"EnvoyFilterUsesRelativeOperation", "IST0151", W},
    {"EnvoyFilterUsesReplaceOperationIncorrectly", "IST0152", E},
    {"EnvoyFilterUsesAddOperationIncorrectly", "IST0153", E},
    {"EnvoyFilterUsesRemoveOperationIncorrectly", "IST0154", E},
    {"EnvoyFilterUsesRelativeOperationWithProxyVersion", "IST0155", W},
    {"InvalidTelemetryProvider", "IST0157", W},
    {"ConflictingTelemetryWorkloadSelectors", "IST0159", E},
    {"MultipleTelemetriesWithoutWorkloadSelectors", "IST0160", E},
    {"InvalidGatewayCredential", "IST0161", E},
    {"GatewayPortNotDefinedOnService", "IST0162", W},
    {"ReferencedInternalGateway", "IST0165", W},
    {"IneffectiveSelector", "IST0166", W},
    {"IneffectivePolicy", "IST0167", W},
    {"NegativeConditionStatus", "IST0171", W},
    {"DestinationRuleSubsetNotSelectPods", "IST0173", E},
    {"UnknownDestinationRuleHost", "IST0174", W},
    {"ConflictingServiceEntryProtocol", "IST0177", W},
    /* meshpol's own; MTLSPolicyConflict was Istio's IST0113, which Istio retired */
    {"MTLSPolicyConflict", NULL, E},
    {"LocalityFailoverLeak", NULL, W},
    {"CustomActionNotSupported", NULL, W},
    {"UnsupportedCondition", NULL, W},
    {"PeerAuthenticationNoMatchingWorkloads", NULL, W},
};

#undef E
#undef W
#undef I

/* A finding an analyzer reported, until it returns: its strings in the state's arena. */
struct ist_pending {
	const char *name, *subject, *text;
	uint32_t level;
	mp_loc loc;
};

static void flush(mp_import *im)
{
	istio_state *st = istio_of(im);
	for (uint32_t i = 0; i < st->npending && !im->oom; i++) {
		const struct ist_pending *p = &st->pending[i];
		im_finding(im, p->name, p->level, p->loc, p->subject, "%s", p->text);
	}
	st->npending = 0;
}

void ist_report(mp_import *im, idoc *dc, const yaml_node_t *at, const char *name, const char *fmt,
                ...)
{
	istio_state *st = istio_of(im);
	char text[1100], full[1200], subject[400];
	const char *code = "IST0001";
	uint32_t level = MP_FINDING_ERROR;
	size_t i;
	va_list ap;
	for (i = 0; i < sizeof(messages) / sizeof(messages[0]) && strcmp(messages[i].name, name);
	     i++)
		;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	if (i < sizeof(messages) / sizeof(messages[0])) {
		code = messages[i].code;
		level = messages[i].level;
	} else { /* a programming error: a name missing from the catalogue */
		char why[1300];
		snprintf(why, sizeof(why), "Internal error: unknown message %s: %s", name, text);
		snprintf(text, sizeof(text), "%.1000s", why);
		name = "InternalError";
	}
	if (code)
		snprintf(full, sizeof(full), "[%s] %s", code, text);
	else
		snprintf(full, sizeof(full), "%s", text);
	im_title(im, dc, subject, sizeof(subject));
	if (!st->deferring) {
		im_finding(im, name, level, im_loc(dc, at), subject, "%s", full);
		return;
	}
	if (mp_grow((void **)&st->pending, &st->cap_pending, sizeof(*st->pending), st->npending,
	            32) < 0) {
		im->oom = 1;
		return;
	}
	struct ist_pending *p = &st->pending[st->npending];
	p->name = name; /* a static string: the catalogue's */
	p->level = level;
	p->loc = im_loc(dc, at);
	p->subject = mp_arena_str(&st->arena, subject);
	p->text = mp_arena_str(&st->arena, full);
	if (!p->subject || !p->text) {
		im->oom = 1;
		return;
	}
	st->npending++;
}

yaml_node_t *ist_name_node(idoc *dc)
{
	yaml_node_t *n = im_get(dc, dc->meta, "name");
	return n ? n : dc->root;
}

void ist_go_list(char *buf, size_t len, const char *const *vs, const uint32_t *u, uint32_t n)
{
	size_t at = (size_t)snprintf(buf, len, "[");
	for (uint32_t i = 0; i < n && at < len; i++)
		at += vs ? (size_t)snprintf(buf + at, len - at, "%s%s", i ? " " : "", vs[i])
		         : (size_t)snprintf(buf + at, len - at, "%s%u", i ? " " : "", u[i]);
	if (at < len)
		snprintf(buf + at, len - at, "]");
}

/* --- the analyzers as rows of the check table (check.h) --- */

/* Does Istio govern the import's Kubernetes objects: it holds Istio's documents, or no other
 * mesh's, documents or configuration (Istio is the mesh meshpol assumes for Kubernetes input,
 * as its defaults do: provider_istio.c)? Istio's analyzers of Pods, Services, Namespaces and
 * Deployments stand down for another mesh's import. Some meshes put what their present()
 * finds into the model after the analyzers run, hence their documents. */
static int governs(mp_import *im)
{
	int other = 0;
	for (uint32_t i = 0; i < im->ndocs; i++) {
		const mp_provider *p = im->docs[i].provider;
		if (!p || !im_live(&im->docs[i]))
			continue;
		if (p == &mp_provider_istio)
			return 1;
		other |= p != &mp_provider_kubernetes;
	}
	return !other && !mp_providers_other_mesh(im->m, &mp_provider_istio);
}

/* Each row runs its analyzer with its findings held until it returns (ist_report); ROW_K8S's
 * analyzers read Kubernetes objects alone and run where Istio governs them. */
#define ROW_RUN(fn, gate)                                                                          \
	static void row_##fn(mp_import *im)                                                        \
	{                                                                                          \
		istio_state *st = istio_of(im);                                                    \
		if (gate && !governs(im))                                                          \
			return;                                                                    \
		st->deferring = 1;                                                                 \
		fn(im);                                                                            \
		st->deferring = 0;                                                                 \
		flush(im);                                                                         \
	}
#define ROW(fn)     ROW_RUN(fn, 0)
#define ROW_K8S(fn) ROW_RUN(fn, 1)
ROW(ist_virtualservice_rules)
ROW(ist_deprecations)
ROW(ist_gateway_ports)
ROW(ist_gateway_secrets)
ROW(ist_conflicting_gateways)
ROW(ist_gateway_certificates)
ROW_K8S(ist_injection)
ROW_K8S(ist_image_auto)
ROW_K8S(ist_port_names)
ROW(ist_sidecar_selectors)
ROW(ist_mesh_gateway_hosts)
ROW(ist_destination_hosts)
ROW(ist_destination_subsets)
ROW(ist_vs_gateways)
ROW(ist_jwt_claim_routes)
ROW_K8S(ist_service_association)
ROW_K8S(ist_application_uid)
ROW(ist_authorization_policies)
ROW(ist_peer_authentication_selectors)
ROW(ist_destination_rule_tls)
ROW(ist_destination_rule_hosts)
ROW(ist_mtls_conflicts)
ROW(ist_service_entry_addresses)
ROW(ist_service_entry_protocols)
ROW(ist_envoy_filters)
ROW(ist_telemetry)
ROW(ist_k8s_gateway_selectors)
ROW_K8S(ist_conditions)

/* Istio's analyzers, in the order they run (their findings keep this order in the model), each
 * named after Istio's (docs/import.md, "Istio's analyzers"). Rows without a function are
 * checks the importer makes while it maps the documents. */
const mp_check_row mp_istio_analyzers[] = {
    /* schema.ValidationAnalyzer: inline, an analysis's errors in Istio documents (invalid,
     * import_istio.c), and the VirtualService rules' reachability */
    {.id = "istio.schema",
     .codes = MP_CHECK_CODES("SchemaValidationError", "InternalError"),
     .phase = MP_CHECK_IMPORT},
    {.id = "istio.virtualservice-rules",
     .codes = MP_CHECK_CODES("VirtualServiceUnreachableRule", "VirtualServiceIneffectiveMatch"),
     .phase = MP_CHECK_IMPORT,
     .import = row_ist_virtualservice_rules},
    {.id = "istio.deprecation",
     .codes = MP_CHECK_CODES("Deprecated"),
     .phase = MP_CHECK_IMPORT,
     .import = row_ist_deprecations},
    {.id = "istio.gateway-ports",
     .codes = MP_CHECK_CODES("ReferencedResourceNotFound", "GatewayPortNotDefinedOnService"),
     .phase = MP_CHECK_IMPORT,
     .import = row_ist_gateway_ports},
    {.id = "istio.gateway-secrets",
     .codes = MP_CHECK_CODES("ReferencedResourceNotFound", "InvalidGatewayCredential"),
     .phase = MP_CHECK_IMPORT,
     .import = row_ist_gateway_secrets},
    {.id = "istio.conflicting-gateways",
     .codes = MP_CHECK_CODES("ReferencedResourceNotFound", "ConflictingGateways"),
     .phase = MP_CHECK_IMPORT,
     .import = row_ist_conflicting_gateways},
    {.id = "istio.gateway-certificates",
     .codes = MP_CHECK_CODES("GatewayDuplicateCertificate"),
     .phase = MP_CHECK_IMPORT,
     .import = row_ist_gateway_certificates},
    {.id = "istio.injection",
     .codes =
         MP_CHECK_CODES("NamespaceNotInjected", "PodMissingProxy",
                        "NamespaceMultipleInjectionLabels", "NamespaceInjectionEnabledByDefault"),
     .phase = MP_CHECK_IMPORT,
     .import = row_ist_injection},
    {.id = "istio.image-auto",
     .codes = MP_CHECK_CODES("ImageAutoWithoutInjectionWarning", "ImageAutoWithoutInjectionError"),
     .phase = MP_CHECK_IMPORT,
     .import = row_ist_image_auto},
    {.id = "istio.port-names",
     .codes = MP_CHECK_CODES("PortNameIsNotUnderNamingConvention",
                             "ExternalNameServiceTypeInvalidPortName"),
     .phase = MP_CHECK_IMPORT,
     .import = row_ist_port_names},
    {.id = "istio.sidecars",
     .codes = MP_CHECK_CODES("ReferencedResourceNotFound", "ConflictingSidecarWorkloadSelectors",
                             "MultipleSidecarsWithoutWorkloadSelectors", "IneffectivePolicy"),
     .phase = MP_CHECK_IMPORT,
     .import = row_ist_sidecar_selectors},
    {.id = "istio.mesh-gateway-hosts",
     .codes = MP_CHECK_CODES("ConflictingMeshGatewayVirtualServiceHosts"),
     .phase = MP_CHECK_IMPORT,
     .import = row_ist_mesh_gateway_hosts},
    {.id = "istio.destination-hosts",
     .codes = MP_CHECK_CODES("ReferencedResourceNotFound",
                             "VirtualServiceDestinationPortSelectorRequired",
                             "IngressRouteRulesNotAffected"),
     .phase = MP_CHECK_IMPORT,
     .import = row_ist_destination_hosts},
    {.id = "istio.destination-subsets",
     .codes = MP_CHECK_CODES("ReferencedResourceNotFound"),
     .phase = MP_CHECK_IMPORT,
     .import = row_ist_destination_subsets},
    {.id = "istio.gateway-hosts",
     .codes = MP_CHECK_CODES("ReferencedResourceNotFound", "VirtualServiceHostNotFoundInGateway",
                             "ReferencedInternalGateway"),
     .phase = MP_CHECK_IMPORT,
     .import = row_ist_vs_gateways},
    {.id = "istio.jwt-claim-routes",
     .codes = MP_CHECK_CODES("JwtClaimBasedRoutingWithoutRequestAuthN"),
     .phase = MP_CHECK_IMPORT,
     .import = row_ist_jwt_claim_routes},
    {.id = "istio.service-association",
     .codes =
         MP_CHECK_CODES("DeploymentAssociatedToMultipleServices", "DeploymentConflictingPorts"),
     .phase = MP_CHECK_IMPORT,
     .import = row_ist_service_association},
    {.id = "istio.application-uid",
     .codes = MP_CHECK_CODES("InvalidApplicationUID"),
     .phase = MP_CHECK_IMPORT,
     .import = row_ist_application_uid},
    /* Istio's analyzer, and inline (mp_import_istio_check_authz, below, while the resource is
     * kept) meshpol's checks of what it cannot evaluate */
    {.id = "istio.authorization-policies",
     .codes = MP_CHECK_CODES("NoMatchingWorkloadsFound", "ReferencedResourceNotFound",
                             "CustomActionNotSupported", "UnsupportedCondition"),
     .phase = MP_CHECK_IMPORT,
     .import = row_ist_authorization_policies},
    {.id = "istio.peer-authentication-selectors",
     .codes = MP_CHECK_CODES("PeerAuthenticationNoMatchingWorkloads"),
     .phase = MP_CHECK_IMPORT,
     .import = row_ist_peer_authentication_selectors},
    {.id = "istio.destination-rule-tls",
     .codes = MP_CHECK_CODES("NoServerCertificateVerificationDestinationLevel",
                             "NoServerCertificateVerificationPortLevel"),
     .phase = MP_CHECK_IMPORT,
     .import = row_ist_destination_rule_tls},
    {.id = "istio.destination-rule-hosts",
     .codes = MP_CHECK_CODES("UnknownDestinationRuleHost", "DestinationRuleSubsetNotSelectPods"),
     .phase = MP_CHECK_IMPORT,
     .import = row_ist_destination_rule_hosts},
    {.id = "istio.destination-rules",
     .codes = MP_CHECK_CODES("MTLSPolicyConflict", "LocalityFailoverLeak"),
     .phase = MP_CHECK_IMPORT,
     .import = row_ist_mtls_conflicts},
    {.id = "istio.service-entry-addresses",
     .codes = MP_CHECK_CODES("ServiceEntryAddressesRequired"),
     .phase = MP_CHECK_IMPORT,
     .import = row_ist_service_entry_addresses},
    {.id = "istio.service-entry-protocols",
     .codes = MP_CHECK_CODES("ConflictingServiceEntryProtocol"),
     .phase = MP_CHECK_IMPORT,
     .import = row_ist_service_entry_protocols},
    {.id = "istio.envoy-filters",
     .codes = MP_CHECK_CODES(
         "EnvoyFilterUsesRelativeOperation", "EnvoyFilterUsesReplaceOperationIncorrectly",
         "EnvoyFilterUsesAddOperationIncorrectly", "EnvoyFilterUsesRemoveOperationIncorrectly",
         "EnvoyFilterUsesRelativeOperationWithProxyVersion"),
     .phase = MP_CHECK_IMPORT,
     .import = row_ist_envoy_filters},
    {.id = "istio.telemetry",
     .codes = MP_CHECK_CODES("ReferencedResourceNotFound", "ConflictingTelemetryWorkloadSelectors",
                             "MultipleTelemetriesWithoutWorkloadSelectors",
                             "InvalidTelemetryProvider", "Deprecated"),
     .phase = MP_CHECK_IMPORT,
     .import = row_ist_telemetry},
    {.id = "istio.k8s-gateway-selectors",
     .codes = MP_CHECK_CODES("IneffectiveSelector"),
     .phase = MP_CHECK_IMPORT,
     .import = row_ist_k8s_gateway_selectors},
    {.id = "istio.conditions",
     .codes = MP_CHECK_CODES("NegativeConditionStatus"),
     .phase = MP_CHECK_IMPORT,
     .import = row_ist_conditions},
    {.id = NULL},
};

/* --- AuthorizationPolicy --- */

/* Conditions on keys meshpol cannot evaluate. */
static void unsupported_conditions(mp_import *im, idoc *dc, json_t *spec)
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
			ist_report(im, dc, im_path(dc, dc->spec, path), "UnsupportedCondition",
			           "condition key %s cannot be evaluated by meshpol: a DENY rule "
			           "using it counts as matching and an ALLOW rule as not matching "
			           "(fail closed)",
			           key);
		}
	}
}

int mp_import_istio_check_authz(mp_import *im, idoc *dc, json_t *spec, mp_span *lines)
{
	char err[512], path[512];
	if (mp_authz_check_spec(spec, err, sizeof(err), path, sizeof(path)) < 0)
		return im_error(im, dc, dc->spec ? im_path(dc, dc->spec, path) : dc->root, "%s",
		                err);
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
	const char *meshpol = istio_of(im)->mesh.meshpol;
	if (action && !strcmp(action, "CUSTOM") &&
	    (!provider || !meshpol || strcmp(provider, meshpol)))
		ist_report(
		    im, dc, NULL, "CustomActionNotSupported",
		    "CUSTOM authorization (provider %s) delegates to an extension meshpol "
		    "cannot consult: requests its rules match are denied in decisions, never "
		    "allowed unchecked",
		    provider);
	unsupported_conditions(im, dc, spec);
	return 0;
}
