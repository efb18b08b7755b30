/* audit_rules.c: the one table of the audit's rule texts (audit_rules.h): kinds of rule first,
 * then the import analyzers' codes, each as docs/rules.md explains it. */
#include "audit_rules.h"

#include <stddef.h>
#include <string.h>

#define FIX_IMPORT_DEFAULT "Correct the resource at the location shown and compile again."

static const mp_rule_doc types[] = {
    {"check", "policy-checks", "Policy check over the whole mesh model",
     "A check function of the policy ran over the compiled mesh model and reported each element "
     "that breaks what the check asserts. The finding's message is the check's own; its location "
     "is the mesh element at fault, and the rule location is the check in the policy file.",
     "Change the mesh configuration at the location shown so that the check holds, or, when the "
     "check is wrong, change the check in the policy file. A finding accepted for a time goes "
     "into the bundle's waivers.yaml with a reason, an owner and an expiry date.",
     "high"},
    {"residency", "residency", "Data stays in its jurisdiction",
     "The audit follows every way data of the rule's classes can leave the rule's "
     "jurisdictions: a service handling the class that runs outside, a route, weighted "
     "destination, mirror or failover target outside, egress to an external outside, a caller "
     "outside, and paths of several hops through services that do not handle the class. Each "
     "hop of a path is listed with its route's location.",
     "Remove or re-target the route, mirror, failover or egress that crosses the border, pin the "
     "target to a cluster inside the jurisdiction, or stop the service outside from handling "
     "the class. Locality failover only reorders endpoints: add distribute (or a deny) to keep "
     "traffic in a region.",
     "high"},
    {"allow", "allow-rules", "Allow rule grants no more than it needs",
     "The audit checks each allow rule for an over-broad grant (any caller, or any method and "
     "path, on a service that handles a data class) and for principals that no service "
     "identity of the model matches (a typo, or a service that is gone).",
     "Name the callers (principals, namespaces or services) and the methods and paths the rule "
     "is for, and correct or remove principals that match no identity.",
     "medium"},
    {"role", "roles", "Role is bound and grants no more than it needs",
     "The audit checks each role for bindings (a role no binding grants is dead policy), and "
     "each of its grants as it checks allow rules: over-broad grants on services that handle a "
     "data class, and bound principals no service identity matches.",
     "Bind the role to the callers that need it, or remove it; narrow its grants and correct "
     "principals that match no identity.",
     "medium"},
    {"deny", "deny-rules", "Declared routes are not forbidden by the deny rule",
     "The audit decides every route the mesh declares against the policies. A route that the "
     "deny rule forbids entirely is reported: the configuration sends traffic the policies will "
     "refuse, so either the route or the rule is wrong.",
     "Remove or change the route at the location shown, or narrow the deny rule if the traffic "
     "is meant to flow.",
     "high"},
    {"traffic", "traffic-rules", "Declared routes meet the traffic rule",
     "The audit decides every route the mesh declares against the policies. A route that the "
     "traffic rule (require_mtls, declared_routes_only) forbids entirely is reported.",
     "Change the route or the workloads it reaches so that the traffic rule holds (mTLS STRICT, "
     "a declared route), or narrow the rule.",
     "high"},
    {"builtin", "route-not-permitted", "Every declared route is allowed by some rule",
     "The audit decides every route the mesh declares against the policies. A route that no "
     "allow rule can permit at all is reported here: the configuration sends traffic that "
     "every request of it would be refused.",
     "Add an allow rule (or a role binding) for the route's caller and destination, or remove "
     "the route.",
     "high"},
    {"import", "import-findings", "Import analyzer finding",
     "The import analyzers validated the Kubernetes and service mesh resources when the model "
     "was compiled and stored what they found in the model.",
     FIX_IMPORT_DEFAULT, "high"},
    {NULL, NULL, NULL, NULL, NULL, NULL},
};

/* One row per code of the import analyzers (docs/import.md, "Findings", and each mesh's
 * findings table); anchors are GitHub's heading slugs of the code. */
#define CODE(code, slug, title, fix)                                                               \
	{                                                                                          \
		code, slug, title, title ".", fix, "high"                                          \
	}
static const mp_rule_doc codes[] = {
    /* Istio */
    CODE("ReferencedResourceNotFound", "referencedresourcenotfound",
         "A VirtualService destination, mirror, subset or gateway, or a DestinationRule host, "
         "names a resource that does not exist",
         "Create the missing resource or correct the reference."),
    CODE("ConflictingMeshGatewayVirtualServiceHosts", "conflictingmeshgatewayvirtualservicehosts",
         "VirtualServices for the mesh in one cluster define the same host",
         "Merge the VirtualServices or give each its own host."),
    CODE("VirtualServiceUnreachableRule", "virtualserviceunreachablerule",
         "A VirtualService rule can never match: an earlier rule matches all it matches",
         "Reorder the rules or remove the unreachable one."),
    CODE("VirtualServiceIneffectiveMatch", "virtualserviceineffectivematch",
         "A VirtualService match repeats an earlier rule's match", "Remove the repeated match."),
    CODE("VirtualServiceHostNotFoundInGateway", "virtualservicehostnotfoundingateway",
         "A VirtualService host is served by no server of its Gateway",
         "Add the host to a server of the Gateway or correct the VirtualService's hosts."),
    CODE("NoMatchingWorkloadsFound", "nomatchingworkloadsfound",
         "An AuthorizationPolicy, PeerAuthentication or Sidecar selector selects no workload",
         "Correct the selector's labels or remove the resource."),
    CODE("MTLSPolicyConflict", "mtlspolicyconflict",
         "A DestinationRule's TLS mode contradicts the PeerAuthentication of the workloads it "
         "reaches",
         "Make the DestinationRule's tls.mode agree with the workloads' PeerAuthentication."),
    CODE("MultipleSidecarsWithoutWorkloadSelectors", "multiplesidecarswithoutworkloadselectors",
         "More than one Sidecar without a selector in a namespace",
         "Keep one Sidecar without a selector per namespace."),
    CODE("ConflictingSidecarWorkloadSelectors", "conflictingsidecarworkloadselectors",
         "Sidecars whose selectors pick the same workload",
         "Make the Sidecars' selectors disjoint."),
    CODE("PortNameIsNotUnderNamingConvention", "portnameisnotundernamingconvention",
         "A Service port's protocol cannot be told from its name or appProtocol",
         "Name the port with its protocol prefix (http-, grpc-, tcp-) or set appProtocol."),
    CODE("LocalityFailoverLeak", "localityfailoverleak",
         "Locality failover on a service that runs in several regions, without distribute",
         "Add localityLbSetting.distribute (or a deny) to keep traffic in its region."),
    CODE("CustomActionNotSupported", "customactionnotsupported",
         "A CUSTOM AuthorizationPolicy: meshpol denies the requests it matches",
         "Decide the requests with ALLOW and DENY policies, or accept that meshpol denies them."),
    CODE("UnsupportedCondition", "unsupportedcondition",
         "An AuthorizationPolicy condition meshpol cannot evaluate (it fails closed)",
         "Express the condition with keys meshpol evaluates (docs/import.md)."),
    /* Kubernetes */
    CODE("MultipleServiceAccounts", "multipleserviceaccounts",
         "A Service's workloads run as several service accounts",
         "Run the Service's workloads as one service account."),
    /* the Kubernetes Gateway API */
    CODE("NotAllowedByListeners", "notallowedbylisteners",
         "A Gateway's listeners take no route of this namespace or kind",
         "Attach the route to a listener whose allowedRoutes take its namespace and kind, or widen "
         "the listener's allowedRoutes."),
    CODE("NoMatchingListenerHostname", "nomatchinglistenerhostname",
         "No hostname of the route intersects a hostname of the Gateway's listeners",
         "Give the route a hostname one of the listeners serves, or the listener the route's."),
    CODE("UnsupportedValue", "unsupportedvalue",
         "A route of a kind the listener's protocol does not carry (a TLSRoute on a listener that "
         "is not TLS)",
         "Attach the route to a listener of the protocol its kind needs."),
    CODE("RefNotPermitted", "refnotpermitted",
         "A reference to another namespace that no ReferenceGrant there admits",
         "Add a ReferenceGrant in the referenced namespace from the referring kind and namespace, "
         "or move the reference into the route's or Gateway's own namespace."),
    CODE("InvalidKind", "invalidkind", "A route backend of a kind no mesh routes to",
         "Point the backendRef at a Service."),
    CODE("InvalidRouteKinds", "invalidroutekinds",
         "A listener's allowedRoutes.kinds names a kind its protocol does not take",
         "Remove the kind from allowedRoutes.kinds, or change the listener's protocol."),
    CODE("UnsupportedProtocol", "unsupportedprotocol",
         "A listener's protocol is not one the Gateway's mesh serves",
         "Use a protocol the Gateway's controller serves (upper case, as the Gateway API defines "
         "them)."),
    CODE("InvalidCertificateRef", "invalidcertificateref",
         "A listener's certificateRef is no Secret, or the Secret does not exist",
         "Point the certificateRef at an existing Secret of type kubernetes.io/tls."),
    CODE("ProtocolConflict", "protocolconflict",
         "Two listeners of one port whose protocols cannot share it",
         "Give the listeners different ports, or distinct hostnames for HTTPS beside TLS."),
    CODE("UnknownGatewayClass", "unknowngatewayclass",
         "A Gateway whose class no mesh of the sources programs",
         "Compile the sources of the mesh that programs the class with it, or correct "
         "gatewayClassName."),
    /* Linkerd */
    CODE("IllegalAuthorizationPolicy", "illegalauthorizationpolicy",
         "Linkerd ignores an AuthorizationPolicy it cannot accept",
         "Correct the policy's target and authentications as the message says."),
    CODE("AuthorizationPolicyTargetNotFound", "authorizationpolicytargetnotfound",
         "The Server or route an AuthorizationPolicy targets does not exist",
         "Create the target or correct the targetRef."),
    CODE("ServerSelectsNoPods", "serverselectsnopods",
         "A Server's podSelector selects no pod of its namespace",
         "Correct the podSelector or remove the Server."),
    CODE("ServerPortNotFound", "serverportnotfound",
         "No container of the pods a Server selects has a TCP port of that name",
         "Name the container port or correct the Server's port."),
    CODE("ServerPortConflict", "serverportconflict", "Two Servers select the same pod port",
         "Make the Servers' selectors or ports disjoint."),
    CODE("NoMatchingParent", "nomatchingparent",
         "A route's parent (a Gateway, a listener of it, a Service or a Linkerd Server) does not "
         "exist",
         "Create the parent or correct the parentRefs."),
    CODE("BackendNotFound", "backendnotfound", "A route's backend Service does not exist",
         "Create the Service or correct the backendRefs."),
    CODE("IdentityRefNotFound", "identityrefnotfound",
         "An identityRef names a ServiceAccount or Namespace the sources do not declare",
         "Correct the reference or declare the account."),
    CODE("LiteralWildcardIdentity", "literalwildcardidentity",
         "A '*' inside an identity is a literal character, not a wildcard",
         "Use '*' alone or as a leading '*.' label."),
    CODE("DeprecatedServerAuthorization", "deprecatedserverauthorization",
         "A ServerAuthorization, which AuthorizationPolicy replaces",
         "Move the authorization to an AuthorizationPolicy."),
    CODE("DefaultAllUnauthenticated", "defaultallunauthenticated",
         "A meshed workload that handles a data class keeps the all-unauthenticated default",
         "Set a default inbound policy that denies, and authorize callers explicitly."),
    CODE("PortWithoutServer", "portwithoutserver",
         "A port of a workload that handles a data class has no Server: its default decides",
         "Declare a Server for the port and authorize its callers."),
    CODE("InvalidAnnotation", "invalidannotation",
         "A config.linkerd.io setting Linkerd cannot parse, and so ignores",
         "Correct the annotation's value."),
    /* Consul */
    CODE("ConsulIntentionUnknownService", "consulintentionunknownservice",
         "An intention names a service the model does not have",
         "Correct the intention's source or destination."),
    CODE("ConsulL7PermissionsOnTCP", "consull7permissionsontcp",
         "Intention permissions on a destination whose protocol is not HTTP-like",
         "Set the destination's protocol to http, http2 or grpc, or drop the permissions."),
    CODE("ConsulShadowedIntention", "consulshadowedintention",
         "A wildcard intention that can never decide: higher intentions match every caller "
         "first",
         "Remove the shadowed intention or narrow the higher ones."),
    CODE("ConsulPrecedenceRBACConflict", "consulprecedencerbacconflict",
         "consul intention check and Envoy's RBAC disagree on a pair of intentions",
         "Make the higher intention's source as narrow as the lower one's, or align actions."),
    CODE("ConsulRouteUnknownTarget", "consulrouteunknowntarget",
         "A router, splitter, redirect or failover names a service, subset or datacenter that "
         "does not exist",
         "Correct the target or declare it."),
    CODE("ConsulSplitWeights", "consulsplitweights", "Splitter weights that do not add up to 100",
         "Make the weights add up to 100."),
    CODE("ConsulDefaultAllow", "consuldefaultallow",
         "A datacenter whose intention default allows, on a mesh with data classes",
         "Set default_intention_policy to deny (with ACLs on) and add intentions."),
    /* App Mesh */
    CODE("AppMeshBackendUnknownService", "appmeshbackendunknownservice",
         "A backend names no virtual service of the mesh",
         "Correct the backend or create the virtual service."),
    CODE("AppMeshNodeSelectsNoPod", "appmeshnodeselectsnopod",
         "A virtual node's podSelector selects no workload of its namespace",
         "Correct the podSelector."),
    CODE("AppMeshListenerNotStrict", "appmeshlistenernotstrict",
         "A listener without STRICT TLS on a node whose pods handle a data class",
         "Set the listener's tls.mode to STRICT."),
    CODE("AppMeshOpenEgress", "appmeshopenegress",
         "ALLOW_ALL egress lets a node that handles a data class send anywhere",
         "Set egressFilter to DROP_ALL and declare backends."),
    CODE("AppMeshSANAdmitsNoIdentity", "appmeshsanadmitsnoidentity",
         "A listener's or client's SAN list names no identity of the mesh",
         "List the SANs of the peers' certificates."),
    CODE("AppMeshRouteWeights", "appmeshrouteweights",
         "A route's target weights add up to 0, or to other than 100",
         "Make the weights add up to 100."),
    CODE("AppMeshPodRefused", "appmeshpodrefused",
         "The injector refuses a pod: no node, or several, select it",
         "Make exactly one virtual node select the pod."),
    CODE("AppMeshServiceWithoutProvider", "appmeshservicewithoutprovider",
         "A virtual service without a provider answers 503",
         "Give the virtual service a router or node provider."),
    CODE("AppMeshTCPPortCollision", "appmeshtcpportcollision",
         "A node's two TCP backends on one port, which App Mesh cannot tell apart",
         "Move one backend to another port."),
    CODE("AppMeshShadowedRoute", "appmeshshadowedroute",
         "A route an earlier one (by priority) always matches first",
         "Reorder the routes' priorities or narrow the earlier match."),
    CODE("AppMeshNoMesh", "appmeshnomesh", "An App Mesh object no Mesh selects",
         "Label the namespace or object so that a Mesh selects it."),
    CODE("AppMeshNoGateway", "appmeshnogateway", "A gateway route no virtual gateway selects",
         "Correct the gateway route's selector or its namespace."),
    CODE("AppMeshUnknownField", "appmeshunknownfield",
         "A field of an App Mesh CRD that App Mesh never sees", "Correct or remove the field."),
    /* Istio, as istioctl analyze names them */
    CODE("InternalError", "internalerror", "An Istio analyzer could not finish (IST0001)",
         "Report the input that caused it; the other analyzers' findings stand."),
    CODE("Deprecated", "deprecated", "An Istio field or setting that is deprecated (IST0002)",
         "Move to the replacement the message names before the field is removed."),
    CODE("NamespaceNotInjected", "namespacenotinjected",
         "A namespace not enabled for Istio sidecar injection (IST0102)",
         "Label the namespace istio-injection=enabled, or istio-injection=disabled to say it stays "
         "outside the mesh."),
    CODE("PodMissingProxy", "podmissingproxy",
         "A pod in an injected namespace without the Istio proxy (IST0103)",
         "Restart or redeploy the workload so that the injector adds the proxy."),
    CODE("SchemaValidationError", "schemavalidationerror",
         "A resource Istio's schema refuses (IST0106)",
         "Correct the field the message names; the resource is not applied until it validates."),
    CODE("VirtualServiceDestinationPortSelectorRequired",
         "virtualservicedestinationportselectorrequired",
         "A VirtualService routes to a service with several ports without naming one (IST0112)",
         "Set destination.port in the route."),
    CODE("DeploymentAssociatedToMultipleServices", "deploymentassociatedtomultipleservices",
         "A deployment behind several services on one port with different protocols (IST0116)",
         "Give the services' ports on that target one protocol."),
    CODE("NamespaceMultipleInjectionLabels", "namespacemultipleinjectionlabels",
         "A namespace with more than one kind of injection label (IST0123)",
         "Keep one injection label on the namespace."),
    CODE("NoServerCertificateVerificationDestinationLevel",
         "noservercertificateverificationdestinationlevel",
         "A DestinationRule with TLS to its host but no CA certificate to verify the server "
         "(IST0128)",
         "Set caCertificates (or a credentialName) in the DestinationRule's tls."),
    CODE("NoServerCertificateVerificationPortLevel", "noservercertificateverificationportlevel",
         "A DestinationRule port with TLS but no CA certificate to verify the server (IST0129)",
         "Set caCertificates (or a credentialName) in the port's tls."),
    CODE("ServiceEntryAddressesRequired", "serviceentryaddressesrequired",
         "A ServiceEntry whose protocol needs addresses has none (IST0134)",
         "Add addresses to the ServiceEntry, or use an HTTP-family protocol."),
    CODE("DeploymentConflictingPorts", "deploymentconflictingports",
         "A deployment behind several services on one targetPort with different ports (IST0137)",
         "Use one port for the target port across the services."),
    CODE("GatewayDuplicateCertificate", "gatewayduplicatecertificate",
         "One certificate on several gateways, which may cause 404s when clients reuse HTTP/2 "
         "connections (IST0138)",
         "Give each gateway its own certificate, or merge the gateways."),
    CODE("IngressRouteRulesNotAffected", "ingressrouterulesnotaffected",
         "A VirtualService subset that has no effect on ingress gateway requests (IST0140)",
         "Bind the VirtualService to the gateway, or move the subset routing to a VirtualService "
         "of the gateway."),
    CODE("InvalidApplicationUID", "invalidapplicationuid",
         "A workload running as UID 1337, which is reserved for the sidecar proxy (IST0144)",
         "Run the application under another user id."),
    CODE("ConflictingGateways", "conflictinggateways",
         "Gateways on one workload and port with conflicting hosts (IST0145)",
         "Merge the gateways, or give them different ports or hosts."),
    CODE("ImageAutoWithoutInjectionWarning", "imageautowithoutinjectionwarning",
         "A deployment with image: auto that no injection webhook selects (IST0146)",
         "Enable injection for the workload, or set a real image."),
    CODE("ImageAutoWithoutInjectionError", "imageautowithoutinjectionerror",
         "A pod with image: auto that no injection webhook selects (IST0147)",
         "Enable injection for the pod, or set a real image."),
    CODE("NamespaceInjectionEnabledByDefault", "namespaceinjectionenabledbydefault",
         "A namespace enabled for injection by default (IST0148)",
         "Nothing to do if intended; label the namespace to state it."),
    CODE("JwtClaimBasedRoutingWithoutRequestAuthN", "jwtclaimbasedroutingwithoutrequestauthn",
         "A VirtualService routes on a JWT claim but no RequestAuthentication covers the gateway "
         "(IST0149)",
         "Add a RequestAuthentication for the gateway's pods."),
    CODE("ExternalNameServiceTypeInvalidPortName", "externalnameservicetypeinvalidportname",
         "An ExternalName service's port name the proxy may not forward TCP for (IST0150)",
         "Name the port with its protocol (tcp-, http-, ...)."),
    CODE("EnvoyFilterUsesRelativeOperation", "envoyfilterusesrelativeoperation",
         "An EnvoyFilter with a relative patch operation and no priority (IST0151)",
         "Set a priority, or use an absolute operation."),
    CODE("EnvoyFilterUsesReplaceOperationIncorrectly", "envoyfilterusesreplaceoperationincorrectly",
         "An EnvoyFilter REPLACE outside HTTP_FILTER and NETWORK_FILTER (IST0152)",
         "Apply REPLACE to an HTTP or network filter, or use another operation."),
    CODE("EnvoyFilterUsesAddOperationIncorrectly", "envoyfilterusesaddoperationincorrectly",
         "An EnvoyFilter ADD that is ignored for ROUTE_CONFIGURATION or HTTP_ROUTE (IST0153)",
         "Use MERGE, or apply ADD where it is valid."),
    CODE("EnvoyFilterUsesRemoveOperationIncorrectly", "envoyfilterusesremoveoperationincorrectly",
         "An EnvoyFilter REMOVE that is ignored for ROUTE_CONFIGURATION or HTTP_ROUTE (IST0154)",
         "Use MERGE, or apply REMOVE where it is valid."),
    CODE("EnvoyFilterUsesRelativeOperationWithProxyVersion",
         "envoyfilterusesrelativeoperationwithproxyversion",
         "An EnvoyFilter with a relative operation and a proxyVersion but no priority (IST0155)",
         "Set a priority, or use an absolute operation."),
    CODE("InvalidTelemetryProvider", "invalidtelemetryprovider",
         "A Telemetry with empty providers, which Istio ignores (IST0157)",
         "Name the providers, or remove the Telemetry."),
    CODE("ConflictingTelemetryWorkloadSelectors", "conflictingtelemetryworkloadselectors",
         "Telemetries that select the same workload pod (IST0159)",
         "Make the Telemetries' selectors disjoint, or merge them."),
    CODE("MultipleTelemetriesWithoutWorkloadSelectors",
         "multipletelemetrieswithoutworkloadselectors",
         "Several Telemetries in a namespace without a workload selector (IST0160)",
         "Keep one Telemetry without a selector per namespace."),
    CODE(
        "InvalidGatewayCredential", "invalidgatewaycredential",
        "A gateway's credentialName names a Secret that is missing or of the wrong shape (IST0161)",
        "Create the Secret in the gateway's namespace with the keys TLS needs."),
    CODE("GatewayPortNotDefinedOnService", "gatewayportnotdefinedonservice",
         "A gateway listens on a port its workload's Service does not define (IST0162)",
         "Add the port to the gateway's Service, or change the gateway's port."),
    CODE("ReferencedInternalGateway", "referencedinternalgateway",
         "A VirtualService names an implementation-generated internal gateway (IST0165)",
         "Name the Gateway you declared instead of the generated one."),
    CODE("IneffectiveSelector", "ineffectiveselector",
         "A selector on a Kubernetes Gateway that has no effect (IST0166)",
         "Use targetRef instead of selector."),
    CODE("IneffectivePolicy", "ineffectivepolicy", "A policy that has no impact (IST0167)",
         "Correct what the message names so that the policy applies, or remove it."),
    CODE("NegativeConditionStatus", "negativeconditionstatus",
         "A resource's status holds a condition with a negative status (IST0171)",
         "Resolve the condition's reason, as its message says."),
    CODE("DestinationRuleSubsetNotSelectPods", "destinationrulesubsetnotselectpods",
         "A DestinationRule subset that selects no pods: 503 NoHealthyUpstream (IST0173)",
         "Correct the subset's labels, or deploy the pods."),
    CODE("UnknownDestinationRuleHost", "unknowndestinationrulehost",
         "A DestinationRule host that matches no service of the mesh (IST0174)",
         "Correct the host, or declare the service (a ServiceEntry for an external one)."),
    CODE("PeerAuthenticationNoMatchingWorkloads", "peerauthenticationnomatchingworkloads",
         "A PeerAuthentication whose selector matches no workload (meshpol's own; Istio checks "
         "AuthorizationPolicies only)",
         "Correct the selector, or remove the policy."),
    CODE("ConflictingServiceEntryProtocol", "conflictingserviceentryprotocol",
         "ServiceEntries that declare one host and port with different protocols (IST0177)",
         "Give the port one protocol across the ServiceEntries."),
    /* Kuma */
    CODE("MeshNotFound", "meshnotfound", "A Kuma resource of a mesh that no Mesh document declares",
         "Declare the Mesh, or correct the resource's mesh (the label kuma.io/mesh, or mesh: in "
         "Universal form)."),
    CODE("MTLSDisabled", "mtlsdisabled",
         "A Kuma mesh without mTLS whose traffic permissions never apply",
         "Enable mTLS on the Mesh (mtls.enabledBackend) or add a MeshIdentity, so that the "
         "permissions are enforced."),
    CODE("NoTrafficPermission", "notrafficpermission",
         "A Kuma mesh with mTLS and dataplanes but no traffic permission: every request is denied",
         "Add MeshTrafficPermission policies for the traffic the mesh is meant to carry."),
    CODE("TargetRefSelectsNothing", "targetrefselectsnothing",
         "A Kuma policy whose top-level targetRef selects no dataplane of its mesh",
         "Correct the targetRef, or remove the policy."),
    CODE("ShadowPolicy", "shadowpolicy",
         "A Kuma policy labelled kuma.io/effect: shadow, computed but never applied",
         "Remove the label when the policy is meant to apply, or remove the policy."),
    CODE("AllowWithShadowDeny", "allowwithshadowdeny",
         "A Kuma permission that lets clients in and logs them as denied",
         "Change the action to Allow or Deny once the shadow period is over."),
    CODE("AllowOverriddenByDeny", "allowoverriddenbydeny",
         "A Kuma allow that a deny always overrides",
         "Remove the allow, or narrow the deny that covers it."),
    CODE("TargetRefNotFound", "targetrefnotfound",
         "A Kuma route's or policy's to[] targetRef names no service or route",
         "Correct the targetRef, or create the service or route it names."),
    CODE("BackendRefNotFound", "backendrefnotfound",
         "A Kuma route backend or Dataplane outbound names no service",
         "Correct the backendRef or outbound, or create the service."),
    CODE("CrossZoneFailover", "crosszonefailover",
         "Kuma cross-zone failover for a service that handles a data class",
         "Keep failover inside the zones of the data's jurisdiction, or turn cross-zone failover "
         "off for the service."),
    CODE("DataplaneWithoutIdentity", "dataplanewithoutidentity",
         "A Kuma dataplane of a service that handles a data class has no identity",
         "Enable mTLS on the mesh or select the dataplane with a MeshIdentity."),
    {NULL, NULL, NULL, NULL, NULL, NULL},
};

const mp_rule_doc *mp_rule_doc_type(const char *type)
{
	for (const mp_rule_doc *r = types; type && r->key; r++)
		if (!strcmp(r->key, type))
			return r;
	return NULL;
}

const mp_rule_doc *mp_rule_doc_code(const char *code)
{
	for (const mp_rule_doc *r = codes; code && r->key; r++)
		if (!strcmp(r->key, code))
			return r;
	return mp_rule_doc_type("import");
}

const mp_rule_doc *mp_rule_doc_at(unsigned i)
{
	size_t nt = sizeof(types) / sizeof(types[0]) - 1, nc = sizeof(codes) / sizeof(codes[0]) - 1;
	if (i < nt)
		return &types[i];
	return i - nt < nc ? &codes[i - nt] : NULL;
}
