/* analyze_linkerd.c: Linkerd's analyzers, rows of the check table (check.h) that Linkerd's
 * provider row names (mp_linkerd_analyzers); the importer runs them after the routes, and
 * `meshpol audit` reports their findings under "meshpol.import". Findings are named in
 * Linkerd's words where Linkerd has words (its policy controller's log lines, its status
 * reasons, its docs). Catalogue: docs/import.md ("Linkerd", "Findings"). */
#include "linkerd_int.h"
#include "providers/kubernetes/kubernetes_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define POLICY_GROUP "policy.linkerd.io"

/* The live document of a kind with that namespace and name in a cluster, or NULL. */
static idoc *find(mp_import *im, uint32_t kind, mp_str ns, const char *name, mp_id cluster)
{
	for (uint32_t i = 0; name && i < im->ndocs; i++) {
		idoc *dc = &im->docs[i];
		if (linkerd_is(dc, kind) && im_live(dc) && dc->ns == ns && dc->cluster == cluster &&
		    !strcmp(im_str_of(im, dc->name), name))
			return dc;
	}
	return NULL;
}

static mp_str ns_of(mp_import *im, idoc *dc, yaml_node_t *ref)
{
	const char *ns = im_scalar(im_get(dc, ref, "namespace"));
	return ns ? im_intern(im, ns) : dc->ns;
}

/* --- AuthorizationPolicy: targets and authentications --- */

/* Why Linkerd's index ignores the policy's authentications, in its words (index.rs
 * policy_client_authz, authorization_policy.rs), into why; 0 when it does not. */
static int illegal_authns(mp_import *im, idoc *dc, char *why, size_t len, yaml_node_t **at)
{
	yaml_node_t *refs = im_get(dc, dc->spec, "requiredAuthenticationRefs"), *ref;
	int ids = 0, nets = 0;
	if (!refs || refs->type != YAML_SEQUENCE_NODE)
		return 0;
	IM_SEQ_FOREACH(dc, refs, ref)
	{
		const char *kind = im_scalar(im_get(dc, ref, "kind"));
		const char *group = im_scalar(im_get(dc, ref, "group"));
		const char *name = im_scalar(im_get(dc, ref, "name"));
		int sa =
		    kind && !strcasecmp(kind, "ServiceAccount") && mp_linkerd_group_is(group, "");
		int mtls = kind && !strcasecmp(kind, "MeshTLSAuthentication");
		int net = kind && !strcasecmp(kind, "NetworkAuthentication");
		*at = ref;
		if (!sa && (!(mtls || net) || !mp_linkerd_group_is(group, POLICY_GROUP))) {
			snprintf(why, len, "unsupported authentication target %s%s%s %s",
			         kind ? kind : "?", group ? "." : "", group ? group : "",
			         name ? name : "");
			return 1;
		}
		if ((sa || mtls) && ids++) {
			snprintf(why, len, "policy must not include multiple %s",
			         sa ? "ServiceAccounts" : "MeshTLSAuthentications");
			return 1;
		}
		if (net && nets++) {
			snprintf(why, len,
			         "policy must not include multiple NetworkAuthentications");
			return 1;
		}
		if (sa)
			continue;
		mp_str ns = ns_of(im, dc, ref);
		idoc *t = find(im, mtls ? LK_MESHTLSAUTHENTICATION : LK_NETWORKAUTHENTICATION, ns,
		               name, dc->cluster);
		if (!t) {
			snprintf(why, len, "could not find %s %s in namespace %s", kind,
			         name ? name : "", im_str_of(im, ns));
			return 1;
		}
		yaml_node_t *irefs = im_get(t, t->spec, "identityRefs"), *ir;
		if (mtls && irefs && irefs->type == YAML_SEQUENCE_NODE)
			IM_SEQ_FOREACH(t, irefs, ir)
			{
				const char *k = im_scalar(im_get(t, ir, "kind"));
				if (!k || (strcasecmp(k, "ServiceAccount") &&
				           strcasecmp(k, "Namespace"))) {
					snprintf(why, len,
					         "MeshTLSAuthentication %s names an identityRef of "
					         "kind %s, "
					         "which Linkerd does not support",
					         name ? name : "", k ? k : "?");
					return 1;
				}
			}
	}
	return 0;
}

static void authorization_policies(mp_import *im)
{
	char subject[400], why[600];
	for (uint32_t i = 0; i < im->ndocs; i++) {
		idoc *dc = &im->docs[i];
		yaml_node_t *target, *at = NULL;
		if (!linkerd_is(dc, LK_AUTHORIZATIONPOLICY) || !im_live(dc))
			continue;
		im_title(im, dc, subject, sizeof(subject));
		target = im_get(dc, dc->spec, "targetRef");
		const char *kind = im_scalar(im_get(dc, target, "kind"));
		const char *group = im_scalar(im_get(dc, target, "group"));
		const char *name = im_scalar(im_get(dc, target, "name"));
		if (illegal_authns(im, dc, why, sizeof(why), &at))
			im_finding(im, "IllegalAuthorizationPolicy", MP_FINDING_ERROR,
			           im_loc(dc, at), subject,
			           "Illegal AuthorizationPolicy; ignoring: %s (the whole policy "
			           "authorizes nothing)",
			           why);
		int server =
		    kind && !strcasecmp(kind, "Server") && mp_linkerd_group_is(group, POLICY_GROUP);
		int route =
		    kind && (!strcasecmp(kind, "HTTPRoute") || !strcasecmp(kind, "GRPCRoute"));
		int nsref =
		    kind && !strcasecmp(kind, "Namespace") && mp_linkerd_group_is(group, "");
		if (nsref && name && strcmp(name, im_str_of(im, dc->ns)))
			im_finding(
			    im, "IllegalAuthorizationPolicy", MP_FINDING_ERROR, im_loc(dc, target),
			    subject,
			    "targetRef Namespace %s is not the policy's namespace: Linkerd's "
			    "admission refuses it, and its index applies it to the Servers of "
			    "%s",
			    name, im_str_of(im, dc->ns));
		else if (!server && !route && !nsref)
			im_finding(
			    im, "IllegalAuthorizationPolicy", MP_FINDING_ERROR, im_loc(dc, target),
			    subject,
			    "unsupported authorization target type %s%s%s: Linkerd ignores the "
			    "policy",
			    kind ? kind : "?", group ? "." : "", group ? group : "");
		int found = nsref || (server && find(im, LK_SERVER, dc->ns, name, dc->cluster));
		for (uint32_t k = 0; route && !found && k < im->ndocs; k++) {
			idoc *r = &im->docs[k];
			const char *api = im_str_of(im, r->api);
			found = linkerd_is_route(r) && im_live(r) && r->ns == dc->ns &&
			        r->cluster == dc->cluster && name &&
			        !strcmp(im_str_of(im, r->name), name) &&
			        !strcasecmp(r->kind->kind, kind) &&
			        mp_linkerd_group_is(group, r->kind->group) && strchr(api, '/');
		}
		if ((server || route) && !found)
			im_finding(
			    im, "AuthorizationPolicyTargetNotFound", MP_FINDING_WARNING,
			    im_loc(dc, target), subject,
			    "targetRef %s %s/%s%s%s does not exist: the policy authorizes nothing",
			    kind, im_str_of(im, dc->ns), name ? name : "",
			    group ? " in group " : "", group ? group : "");
	}
}

/* --- Servers --- */

static int expr_matches(mp_import *im, idoc *dc, yaml_node_t *e, const iworkload *w)
{
	const char *key = im_scalar(im_get(dc, e, "key")),
	           *op = im_scalar(im_get(dc, e, "operator"));
	yaml_node_t *vals = im_get(dc, e, "values"), *v;
	mp_model_view mv = mp_model_get_view(im->m);
	const char *have = NULL;
	int in = 0;
	for (uint32_t i = 0; key && i < w->labels.n; i++)
		if (!strcmp(im_str_of(im, mv.labels[w->labels.off + i].key), key))
			have = im_str_of(im, mv.labels[w->labels.off + i].value);
	if (have && vals && vals->type == YAML_SEQUENCE_NODE)
		IM_SEQ_FOREACH(dc, vals, v)
		{
			in |= im_scalar(v) && !strcmp(im_scalar(v), have);
		}
	if (!op)
		return 0;
	return !strcmp(op, "In")       ? in
	       : !strcmp(op, "NotIn")  ? !in
	       : !strcmp(op, "Exists") ? have != NULL
	                               : have == NULL;
}

/* Does the Server's podSelector select the workload's pods? */
static int selects(mp_import *im, idoc *dc, const iworkload *w)
{
	yaml_node_t *sel = im_get(dc, dc->spec, "podSelector"), *exprs, *e;
	if (!sel || w->ns == MP_NONE || im->docs[w->doc].ns != dc->ns ||
	    w->cluster != dc->cluster ||
	    !im_selector_matches(im, dc, im_get(dc, sel, "matchLabels"), w))
		return 0;
	exprs = im_get(dc, sel, "matchExpressions");
	if (exprs && exprs->type == YAML_SEQUENCE_NODE)
		IM_SEQ_FOREACH(dc, exprs, e)
		{
			if (!expr_matches(im, dc, e, w))
				return 0;
		}
	return 1;
}

/* The container ports of a workload's pods (the proxy's among them) that a Server's port
 * names: its number, or every TCP port of that name; into out (max), their count. */
static uint32_t selected_ports(mp_import *im, idoc *s, const iworkload *w, uint32_t *out,
                               uint32_t max)
{
	static const char *const lists[] = {"containers", "initContainers"};
	yaml_node_t *port = im_get(s, s->spec, "port"), *meta, *spec, *cs, *c, *ports, *p;
	const char *name = im_scalar(port);
	uint32_t n = 0;
	idoc *dc = &im->docs[w->doc];
	if (!name)
		return 0;
	if (port->data.scalar.style == YAML_PLAIN_SCALAR_STYLE && name[0] >= '0' &&
	    name[0] <= '9') {
		out[n++] = (uint32_t)strtoul(name, NULL, 10);
		return n;
	}
	if (!strcmp(name, "linkerd-proxy") || !strcmp(name, "linkerd-admin")) {
		out[n++] = name[8] == 'p' ? 4143 : 4191;
		return n;
	}
	mp_k8s_pod(dc, &meta, &spec);
	for (size_t l = 0; l < 2; l++) {
		cs = im_get(dc, spec, lists[l]);
		if (!cs || cs->type != YAML_SEQUENCE_NODE)
			continue;
		IM_SEQ_FOREACH(dc, cs, c)
		{
			ports = im_get(dc, c, "ports");
			if (!ports || ports->type != YAML_SEQUENCE_NODE)
				continue;
			IM_SEQ_FOREACH(dc, ports, p)
			{
				const char *pn = im_scalar(im_get(dc, p, "name"));
				const char *num = im_scalar(im_get(dc, p, "containerPort"));
				const char *proto = im_scalar(im_get(dc, p, "protocol"));
				if (pn && num && !strcmp(pn, name) &&
				    (!proto || !strcasecmp(proto, "TCP")) && n < max)
					out[n++] = (uint32_t)strtoul(num, NULL, 10);
			}
		}
	}
	return n;
}

static void servers(mp_import *im)
{
	char subject[400], other[400], where[600];
	uint32_t a[32], b[32];
	for (uint32_t i = 0; i < im->ndocs; i++) {
		idoc *dc = &im->docs[i];
		uint32_t nsel = 0, nports = 0;
		if (!linkerd_is(dc, LK_SERVER) || !im_live(dc) ||
		    !im_get(dc, dc->spec, "podSelector"))
			continue;
		im_title(im, dc, subject, sizeof(subject));
		for (uint32_t w = 0; w < im->nwl; w++) {
			if (!selects(im, dc, &im->wl[w]))
				continue;
			nsel++;
			nports += selected_ports(im, dc, &im->wl[w], a, 32);
		}
		if (!nsel)
			im_finding(
			    im, "ServerSelectsNoPods", MP_FINDING_WARNING,
			    im_loc(dc, im_get(dc, dc->spec, "podSelector")), subject,
			    "the podSelector selects no pod of namespace %s: the Server applies to "
			    "nothing",
			    im_str_of(im, dc->ns));
		else if (!nports)
			im_finding(
			    im, "ServerPortNotFound", MP_FINDING_WARNING,
			    im_loc(dc, im_get(dc, dc->spec, "port")), subject,
			    "no container of the pods it selects has a TCP port named %s (\"Only "
			    "ports in a pod spec's ports are considered\"): the Server applies "
			    "to nothing",
			    im_scalar(im_get(dc, dc->spec, "port")));
		/* two Servers on one pod port: Linkerd keeps whichever it indexes first ("Port
		 * already matched by another server; skipping"); meshpol the first by name */
		for (uint32_t k = 0; k < i; k++) {
			idoc *o = &im->docs[k];
			int clash = 0;
			const iworkload *wl = NULL;
			if (!linkerd_is(o, LK_SERVER) || !im_live(o) || o->ns != dc->ns ||
			    o->cluster != dc->cluster || !im_get(o, o->spec, "podSelector"))
				continue;
			for (uint32_t w = 0; w < im->nwl && !clash; w++) {
				wl = &im->wl[w];
				if (!selects(im, dc, wl) || !selects(im, o, wl))
					continue;
				uint32_t na = selected_ports(im, dc, wl, a, 32),
				         nb = selected_ports(im, o, wl, b, 32);
				for (uint32_t x = 0; x < na && !clash; x++)
					for (uint32_t y = 0; y < nb && !clash; y++)
						clash = a[x] == b[y];
			}
			if (clash)
				im_finding(im, "ServerPortConflict", MP_FINDING_ERROR, dc->loc,
				           subject,
				           "%s (at %s) already selects the same port of %s %s: "
				           "Linkerd keeps "
				           "one of them (\"Port already matched by another server; "
				           "skipping\"), which one is not defined; meshpol decides "
				           "with the "
				           "first by name",
				           im_title(im, o, other, sizeof(other)),
				           mp_model_loc_str(im->m, o->loc, where, sizeof(where)),
				           im->docs[wl->doc].kind->kind, im_str_of(im, wl->name));
		}
	}
}

/* --- routes, identity refs, ServerAuthorizations --- */

static void route_parents(mp_import *im)
{
	char subject[400];
	for (uint32_t i = 0; i < im->ndocs; i++) {
		idoc *dc = &im->docs[i];
		yaml_node_t *parents, *p;
		if (!linkerd_is_route(dc) || !im_live(dc) ||
		    !(parents = im_get(dc, dc->spec, "parentRefs")) ||
		    parents->type != YAML_SEQUENCE_NODE)
			continue;
		IM_SEQ_FOREACH(dc, parents, p)
		{
			const char *kind = im_scalar(im_get(dc, p, "kind"));
			const char *group = im_scalar(im_get(dc, p, "group"));
			const char *name = im_scalar(im_get(dc, p, "name"));
			if (!kind || strcasecmp(kind, "Server") || !group ||
			    strcasecmp(group, POLICY_GROUP))
				continue;
			if (!find(im, LK_SERVER, ns_of(im, dc, p), name, dc->cluster))
				im_finding(
				    im, "NoMatchingParent", MP_FINDING_WARNING, im_loc(dc, p),
				    im_title(im, dc, subject, sizeof(subject)),
				    "parentRef Server %s/%s does not exist: the route is not "
				    "accepted and applies to nothing",
				    im_str_of(im, ns_of(im, dc, p)), name ? name : "");
		}
	}
}

/* Does a ServiceAccount exist: a document of it, a workload running as it, or "default"? */
static int service_account(mp_import *im, mp_str ns, const char *name, mp_id cluster)
{
	if (!strcmp(name, "default"))
		return 1;
	for (uint32_t i = 0; i < im->ndocs; i++) {
		idoc *dc = &im->docs[i];
		yaml_node_t *meta, *spec;
		const char *sa;
		if (!im_live(dc) || dc->cluster != cluster || dc->ns != ns)
			continue;
		if (k8s_is(dc, K8S_SERVICEACCOUNT) && !strcmp(im_str_of(im, dc->name), name))
			return 1;
		mp_k8s_pod(dc, &meta, &spec);
		sa = im_scalar(im_get(dc, spec, "serviceAccountName"));
		if (dc->provider == &mp_provider_kubernetes && sa && !strcmp(sa, name))
			return 1;
	}
	return 0;
}

static void identity_refs(mp_import *im)
{
	char subject[400];
	for (uint32_t i = 0; i < im->ndocs; i++) {
		idoc *dc = &im->docs[i];
		yaml_node_t *refs, *ref, *ids, *id;
		if (!linkerd_is(dc, LK_MESHTLSAUTHENTICATION) || !im_live(dc))
			continue;
		im_title(im, dc, subject, sizeof(subject));
		if ((refs = im_get(dc, dc->spec, "identityRefs")) &&
		    refs->type == YAML_SEQUENCE_NODE)
			IM_SEQ_FOREACH(dc, refs, ref)
			{
				const char *kind = im_scalar(im_get(dc, ref, "kind"));
				const char *name = im_scalar(im_get(dc, ref, "name"));
				mp_str ns = ns_of(im, dc, ref);
				int nsref = kind && !strcasecmp(kind, "Namespace");
				if (!name || !kind ||
				    (!nsref && strcasecmp(kind, "ServiceAccount")))
					continue;
				int exists =
				    nsref ? im->host->lookup(im->host->ctx, MP_IMPORT_NAMESPACE,
				                             im_intern(im, name), 0) != MP_NONE
				          : service_account(im, ns, name, dc->cluster);
				if (!exists)
					im_finding(im, "IdentityRefNotFound", MP_FINDING_WARNING,
					           im_loc(dc, ref), subject,
					           "identityRef %s %s%s%s is declared nowhere in "
					           "the sources: "
					           "Linkerd does not check, it admits the identity "
					           "the name "
					           "makes",
					           kind, nsref ? "" : im_str_of(im, ns),
					           nsref ? "" : "/", name);
			}
		/* a '*' that is not the whole identity nor a leading "*." label is a literal
		 * character to Linkerd's controller (its CRD and admission refuse it) */
		if ((ids = im_get(dc, dc->spec, "identities")) && ids->type == YAML_SEQUENCE_NODE)
			IM_SEQ_FOREACH(dc, ids, id)
			{
				const char *s = im_scalar(id);
				if (s && strcmp(s, "*") &&
				    strchr(s + (strncmp(s, "*.", 2) ? 0 : 2), '*'))
					im_finding(im, "LiteralWildcardIdentity",
					           MP_FINDING_WARNING, im_loc(dc, id), subject,
					           "identity '%s': a '*' that is not the whole "
					           "identity nor a "
					           "leading \"*.\" is a literal character: it "
					           "matches only "
					           "that exact string",
					           s);
			}
	}
}

static void server_authorizations(mp_import *im)
{
	char subject[400];
	for (uint32_t i = 0; i < im->ndocs; i++) {
		idoc *dc = &im->docs[i];
		if (linkerd_is(dc, LK_SERVERAUTHORIZATION) && im_live(dc))
			im_finding(
			    im, "DeprecatedServerAuthorization", MP_FINDING_INFO, dc->loc,
			    im_title(im, dc, subject, sizeof(subject)),
			    "ServerAuthorization is deprecated in favour of AuthorizationPolicy "
			    "(still honoured)");
	}
}

/* --- defaults on workloads that handle data classes --- */

/* The data classes the workload's services handle (their own, their namespace's), listed in
 * buf ("pii, pci"); 0 when none. */
static int handles_data(mp_import *im, const iworkload *w, char *buf, size_t len)
{
	mp_model_view v = mp_model_get_view(im->m);
	size_t at = 0;
	buf[0] = '\0';
	for (uint32_t k = 0; k <= w->nsvc; k++) {
		mp_span d = k < w->nsvc        ? v.services[w->svc[k]].data
		            : w->ns != MP_NONE ? v.namespaces[w->ns].data
		                               : (mp_span){0, 0};
		for (uint32_t i = 0; i < d.n && at < len; i++) {
			const char *c = mp_model_str(im->m, v.u32[d.off + i]);
			size_t cl = strlen(c);
			int seen = 0;
			for (const char *p = buf; !seen && (p = strstr(p, c)); p += cl)
				seen = (p == buf || p[-1] == ' ') && (p[cl] == ',' || !p[cl]);
			if (!seen)
				at +=
				    (size_t)snprintf(buf + at, len - at, "%s%s", at ? ", " : "", c);
		}
	}
	return at > 0;
}

static void defaults(mp_import *im)
{
	linkerd_state *st = linkerd_of(im);
	char subject[400], data[300];
	uint32_t ports[32];
	for (uint32_t w = 0; w < st->nproxies; w++) {
		json_t *spec = st->proxies[w].spec, *p;
		const iworkload *wl = &im->wl[w];
		idoc *dc = &im->docs[wl->doc];
		size_t i;
		if (!spec || !handles_data(im, wl, data, sizeof(data)))
			continue;
		const char *policy =
		    json_string_value(json_object_get(spec, "defaultInboundPolicy"));
		im_title(im, dc, subject, sizeof(subject));
		if (policy && !strcmp(policy, "all-unauthenticated"))
			im_finding(
			    im, "DefaultAllUnauthenticated", MP_FINDING_WARNING, dc->loc, subject,
			    "the workload handles %s data and its default inbound policy is "
			    "all-unauthenticated (\"allow all traffic. This is the default.\"), "
			    "from %s: any client, meshed or not, reaches a port no Server selects",
			    data,
			    json_string_value(json_object_get(spec, "defaultInboundPolicyFrom")));
		json_array_foreach(json_object_get(spec, "ports"), i, p)
		{
			const char *name = json_string_value(json_object_get(p, "name"));
			uint32_t port = (uint32_t)json_integer_value(json_object_get(p, "port")),
			         covered = 0;
			if (port == 4143 || port == 4191)
				continue;
			for (uint32_t k = 0; k < im->ndocs && !covered; k++) {
				idoc *s = &im->docs[k];
				if (!linkerd_is(s, LK_SERVER) || !im_live(s) || !selects(im, s, wl))
					continue;
				uint32_t n = selected_ports(im, s, wl, ports, 32);
				for (uint32_t x = 0; x < n && !covered; x++)
					covered = ports[x] == port;
			}
			if (!covered)
				im_finding(im, "PortWithoutServer", MP_FINDING_WARNING, dc->loc,
				           subject,
				           "port %u%s%s%s of a meshed workload that handles %s "
				           "data has no "
				           "Server: its default inbound policy (%s) decides it",
				           port, name ? " (" : "", name ? name : "",
				           name ? ")" : "", data, policy);
		}
	}
}

const mp_check_row mp_linkerd_analyzers[] = {
    {.id = "linkerd.authorization-policies",
     .codes = MP_CHECK_CODES("IllegalAuthorizationPolicy", "AuthorizationPolicyTargetNotFound"),
     .phase = MP_CHECK_IMPORT,
     .import = authorization_policies},
    {.id = "linkerd.servers",
     .codes = MP_CHECK_CODES("ServerSelectsNoPods", "ServerPortNotFound", "ServerPortConflict"),
     .phase = MP_CHECK_IMPORT,
     .import = servers},
    {.id = "linkerd.route-parents",
     .codes = MP_CHECK_CODES("NoMatchingParent"),
     .phase = MP_CHECK_IMPORT,
     .import = route_parents},
    {.id = "linkerd.identities",
     .codes = MP_CHECK_CODES("IdentityRefNotFound", "LiteralWildcardIdentity"),
     .phase = MP_CHECK_IMPORT,
     .import = identity_refs},
    {.id = "linkerd.server-authorizations",
     .codes = MP_CHECK_CODES("DeprecatedServerAuthorization"),
     .phase = MP_CHECK_IMPORT,
     .import = server_authorizations},
    {.id = "linkerd.defaults",
     .codes = MP_CHECK_CODES("DefaultAllUnauthenticated", "PortWithoutServer"),
     .phase = MP_CHECK_IMPORT,
     .import = defaults},
    /* inline: routes_linkerd.c, while outbound routes are mapped */
    {.id = "linkerd.outbound-routes",
     .codes = MP_CHECK_CODES("NoMatchingParent", "BackendNotFound"),
     .phase = MP_CHECK_IMPORT},
    /* inline: pods_linkerd.c, while a meshed workload's settings are read */
    {.id = "linkerd.annotations",
     .codes = MP_CHECK_CODES("InvalidAnnotation"),
     .phase = MP_CHECK_IMPORT},
    {.id = NULL},
};
