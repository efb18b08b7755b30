/* attach_gatewayapi.c: Gateways and route attachment. A Gateway's class names the controller
 * that programs it: a mesh whose row answers to that controller (or has that class built in),
 * else none of the sources' meshes, and then its routes are another controller's business. A
 * programmed Gateway gets a data-plane service (its labelled pods' Service, the Service its
 * mesh names after it, else a stand-in) that is the source of its routes; its listeners get the
 * conditions their controller would write (findings); a parentRef attaches a route to the
 * listeners that take it, in Istio's order of checks (port, sectionName, hostname, namespace,
 * kind), and one that attaches nowhere reports the best-ranked reason. Sources:
 * tests/data/import/gatewayapi/SOURCES.md; docs/import.md ("Kubernetes Gateway API"). */
#include "alloc.h"
#include "gatewayapi_int.h"
#include "providers/kubernetes/kubernetes_int.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define NAME_LABEL "gateway.networking.k8s.io/gateway-name"

static uint32_t items_of(const yaml_node_t *seq)
{
	return seq && seq->type == YAML_SEQUENCE_NODE
	           ? (uint32_t)(seq->data.sequence.items.top - seq->data.sequence.items.start)
	           : 0;
}

/* --- hostnames (site-src/concepts/hostnames.md "Hostname Intersection") --- */

/* Does wildcard w ("*.x") cover precise host h: h ends in ".x" after one label or more? */
static int covers(const char *w, const char *h)
{
	size_t lw = strlen(w) - 1, lh = strlen(h);
	return lh > lw && !strcasecmp(h + lh - lw, w + 1);
}

int mp_gwapi_hosts_meet(const char *a, const char *b)
{
	if (!a || !b || !*a || !*b || !strcmp(a, "*") || !strcmp(b, "*"))
		return 1;
	int wa = !strncmp(a, "*.", 2), wb = !strncmp(b, "*.", 2);
	if (!wa && !wb)
		return !strcasecmp(a, b);
	if (wa != wb)
		return wa ? covers(a, b) : covers(b, a);
	/* two wildcards meet when one's suffix lies inside the other's */
	return !strcasecmp(a, b) || covers(a, b + 1) || covers(b, a + 1);
}

/* --- classes and controllers --- */

/* The mesh whose row programs Gateways of class name in cluster: a GatewayClass's controller,
 * else a class a mesh has built in. */
static const mp_provider *mesh_of_class(mp_import *im, const char *name, mp_id cluster)
{
	const char *controller = NULL;
	char word[300];
	for (uint32_t i = 0; i < im->ndocs && !controller; i++) {
		idoc *c = &im->docs[i];
		if (gwapi_is(c, GW_GATEWAYCLASS) && im_live(c) && c->cluster == cluster &&
		    !strcmp(im_str_of(im, c->name), name))
			controller = im_scalar(im_get(c, c->spec, "controllerName"));
	}
	snprintf(word, sizeof(word), " %s ", name);
	for (const mp_provider *const *p = mp_providers; *p; p++) {
		const mp_gateway_impl *g = (*p)->gateway_api;
		if (g && g->controller &&
		    (controller ? !strcmp(controller, g->controller)
		                : g->classes && strstr(g->classes, word)))
			return *p;
	}
	return NULL;
}

/* --- listeners --- */

/* The route kinds a listener protocol takes (Istio conditions.go generateSupportedKinds). */
static uint32_t protocol_kinds(const char *proto, const char *mode)
{
	if (!strcmp(proto, "HTTP") || !strcmp(proto, "HTTPS"))
		return GW_K_HTTP | GW_K_GRPC;
	if (!strcmp(proto, "TCP"))
		return GW_K_TCP;
	if (!strcmp(proto, "TLS"))
		return mode && !strcmp(mode, "Passthrough") ? GW_K_TLS : GW_K_TCP;
	return 0;
}

static const char *const route_kinds[] = {"HTTPRoute", "GRPCRoute", "TLSRoute", "TCPRoute"};

/* kinds as "HTTPRoute, GRPCRoute" (or "none") into buf. */
static const char *kinds_text(uint32_t kinds, char *buf, size_t len)
{
	size_t at = 0;
	buf[0] = '\0';
	for (uint32_t k = 0; k < 4; k++)
		if (kinds & (1u << k))
			at += (size_t)snprintf(buf + at, at < len ? len - at : 0, "%s%s",
			                       at ? ", " : "", route_kinds[k]);
	return at ? buf : "none";
}

/* Does the mesh serve protocol proto (its name as the mesh compares it into out)? */
static int served(const mp_gateway_impl *g, const char *proto, char *out, size_t len)
{
	char word[96];
	snprintf(out, len, "%s", proto);
	if (!(g->flags & MP_GWI_PROTOCOL_CASE))
		for (char *p = out; *p; p++)
			*p = (char)toupper((unsigned char)*p);
	snprintf(word, sizeof(word), " %s ", out);
	return g->protocols && strstr(g->protocols, word) != NULL;
}

/* The kinds listener l of Gateway dc takes: its protocol's, narrowed by allowedRoutes.kinds;
 * with report, its refusals as findings (UnsupportedProtocol, InvalidRouteKinds). */
static uint32_t listener_kinds(mp_import *im, idoc *dc, const gw_gateway *g, gw_listener *l,
                               int report)
{
	yaml_node_t *kinds = im_get(dc, im_get(dc, l->node, "allowedRoutes"), "kinds"), *k;
	const char *mode = im_scalar(im_get(dc, im_get(dc, l->node, "tls"), "mode"));
	char proto[80], subject[400], have[200];
	const mp_gateway_impl *impl = g->mesh->gateway_api;
	if (!served(impl, l->protocol, proto, sizeof(proto))) {
		char up[96], word[100], list[200];
		size_t n = 0;
		for (const char *p = impl->protocols + 1; *p && n + 3 < sizeof(list); p++) {
			if (*p != ' ')
				list[n++] = *p;
			else if (p[1])
				list[n++] = ',', list[n++] = ' ';
		}
		list[n] = '\0';
		snprintf(up, sizeof(up), "%s", l->protocol);
		for (char *p = up; *p; p++)
			*p = (char)toupper((unsigned char)*p);
		snprintf(word, sizeof(word), " %s ", up);
		if (report)
			im_finding(im, "UnsupportedProtocol", MP_FINDING_WARNING,
			           im_loc(dc, im_get(dc, l->node, "protocol")),
			           im_title(im, dc, subject, sizeof(subject)),
			           "listener %s: Accepted=False: protocol %s is not one %s serves "
			           "(%s)%s%s",
			           l->name, l->protocol, g->mesh->title, list,
			           strcmp(up, l->protocol) && strstr(impl->protocols, word)
			               ? "; the Gateway API's core protocols are upper case: "
			               : "",
			           strcmp(up, l->protocol) && strstr(impl->protocols, word) ? up
			                                                                    : "");
		return 0;
	}
	uint32_t all = protocol_kinds(proto, mode), out = 0;
	if (!kinds || kinds->type != YAML_SEQUENCE_NODE)
		return all;
	IM_SEQ_FOREACH(dc, kinds, k)
	{
		const char *group = im_scalar(im_get(dc, k, "group"));
		const char *kind = im_scalar(im_get(dc, k, "kind"));
		uint32_t bit = 0;
		for (uint32_t i = 0; kind && i < 4; i++)
			if (!strcmp(kind, route_kinds[i]))
				bit = 1u << i;
		if (group && strcmp(group, GW_GROUP))
			bit = 0;
		if (bit & all) {
			out |= bit;
			continue;
		}
		if (report)
			im_finding(
			    im, "InvalidRouteKinds", MP_FINDING_WARNING, im_loc(dc, k),
			    im_title(im, dc, subject, sizeof(subject)),
			    "listener %s: ResolvedRefs=False: allowedRoutes.kinds %s%s%s is not "
			    "a route kind its protocol %s takes (%s)",
			    l->name, group ? group : "", group ? "/" : "", kind ? kind : "",
			    l->protocol, kinds_text(all, have, sizeof(have)));
	}
	return out;
}

static void read_listener(mp_import *im, idoc *dc, yaml_node_t *n, gw_listener *l)
{
	yaml_node_t *ns = im_get(dc, im_get(dc, n, "allowedRoutes"), "namespaces");
	const char *from = im_scalar(im_get(dc, ns, "from"));
	const char *port = im_scalar(im_get(dc, n, "port"));
	(void)im;
	memset(l, 0, sizeof(*l));
	l->node = n;
	l->name = im_scalar(im_get(dc, n, "name"));
	l->protocol = im_scalar(im_get(dc, n, "protocol"));
	l->hostname = im_scalar(im_get(dc, n, "hostname"));
	if (l->hostname && !*l->hostname)
		l->hostname = NULL;
	l->port = port ? (uint32_t)strtoul(port, NULL, 10) : 0;
	l->from = !from                       ? GW_FROM_SAME
	          : !strcmp(from, "All")      ? GW_FROM_ALL
	          : !strcmp(from, "Selector") ? GW_FROM_SELECTOR
	          : !strcmp(from, "None")     ? GW_FROM_NONE
	                                      : GW_FROM_SAME;
	l->selector = im_get(dc, ns, "selector");
	if (!l->name)
		l->name = "";
	if (!l->protocol)
		l->protocol = "";
}

/* --- the data plane --- */

/* The port protocol meshpol's model gives a listener's. */
static const char *model_protocol(const char *proto)
{
	return !strcasecmp(proto, "HTTP")    ? "http"
	       : !strcasecmp(proto, "HTTPS") ? "https"
	       : !strcasecmp(proto, "TLS")   ? "tls"
	                                     : "tcp";
}

/* The service Gateway g's routes come from: its pods' (labelled with its name), else the
 * Service its mesh names after it, else a stand-in of that name with its listeners' ports. */
static mp_id data_plane(mp_import *im, gw_gateway *g)
{
	idoc *dc = &im->docs[g->doc];
	mp_model_view v = mp_model_get_view(im->m);
	char gw[300], ns[300]; /* copies: interning below may move the model's strings */
	snprintf(gw, sizeof(gw), "%s", im_str_of(im, dc->name));
	snprintf(ns, sizeof(ns), "%s", im_str_of(im, dc->ns));
	for (uint32_t w = 0; w < im->nwl; w++) {
		const iworkload *wl = &im->wl[w];
		if (wl->cluster != dc->cluster || wl->ns != dc->ns_id || !wl->nsvc)
			continue;
		for (uint32_t i = 0; i < wl->labels.n; i++) {
			const mp_label *l = &v.labels[wl->labels.off + i];
			if (!strcmp(im_str_of(im, l->key), NAME_LABEL) &&
			    !strcmp(im_str_of(im, l->value), gw))
				return wl->svc[0];
		}
	}
	char name[600];
	if (g->mesh->gateway_api->flags & MP_GWI_SERVICE_CLASS)
		snprintf(name, sizeof(name), "%s-%s", gw, g->class_name);
	else
		snprintf(name, sizeof(name), "%s", gw);
	mp_str n = im_intern(im, name);
	mp_id sid = im->host->lookup(im->host->ctx, MP_IMPORT_SERVICE, dc->ns_id, n);
	if (sid != MP_NONE || dc->ns_id == MP_NONE)
		return sid;
	mp_port ports[64];
	uint32_t np = 0;
	for (uint32_t i = 0; i < g->nls && np < 64; i++) {
		uint32_t k;
		for (k = 0; k < np && ports[k].port != g->ls[i].port; k++)
			;
		if (k == np)
			ports[np++] = (mp_port){g->ls[i].port,
			                        im_intern(im, model_protocol(g->ls[i].protocol)),
			                        im_intern(im, g->ls[i].name)};
	}
	mp_span labels = {0, 0};
	if (im_label(im, NAME_LABEL, gw, &labels) < 0)
		return MP_NONE;
	mp_service s = {.name = n, .ns = dc->ns_id, .labels = labels, .loc = dc->loc};
	s.clusters = (mp_span){mp_model_push_u32(im->m, &dc->cluster, 1), 1};
	s.ports = (mp_span){np ? mp_model_push_ports(im->m, ports, np) : 0, np};
	if (s.clusters.off == MP_NONE || s.ports.off == MP_NONE) {
		im->oom = 1;
		return MP_NONE;
	}
	char what[1600];
	snprintf(what, sizeof(what), "Service '%s/%s' (the data plane of Gateway %s/%s)", ns, name,
	         ns, gw);
	sid = mp_model_get_view(im->m).nservices;
	if (im->host->declare(im->host->ctx, MP_IMPORT_SERVICE, dc->ns_id, n, sid, dc->loc, what) <
	    0)
		return MP_NONE;
	if (mp_model_add_service(im->m, &s) == MP_NONE) {
		im->oom = 1;
		return MP_NONE;
	}
	return sid;
}

void mp_gwapi_gateways(mp_import *im)
{
	gwapi_state *st = gwapi_of(im);
	uint32_t n = 0;
	for (uint32_t i = 0; i < im->ndocs; i++)
		n += gwapi_is(&im->docs[i], GW_GATEWAY) && im_live(&im->docs[i]);
	if (!n)
		return;
	st->gws = mp_calloc(n, sizeof(*st->gws));
	st->gw_of = mp_malloc(im->ndocs * sizeof(*st->gw_of));
	if (!st->gws || !st->gw_of) {
		im->oom = 1;
		return;
	}
	memset(st->gw_of, 0xff, im->ndocs * sizeof(*st->gw_of)); /* UINT32_MAX: none */
	for (uint32_t i = 0; i < im->ndocs && !im->oom; i++) {
		idoc *dc = &im->docs[i];
		yaml_node_t *ls = im_get(dc, dc->spec, "listeners"), *l;
		if (!gwapi_is(dc, GW_GATEWAY) || !im_live(dc))
			continue;
		gw_gateway *g = &st->gws[st->ngws];
		g->doc = i;
		g->svc = MP_NONE;
		g->class_name = im_scalar(im_get(dc, dc->spec, "gatewayClassName"));
		g->mesh = g->class_name ? mesh_of_class(im, g->class_name, dc->cluster) : NULL;
		if (!(g->ls = mp_calloc(items_of(ls) + 1, sizeof(*g->ls)))) {
			im->oom = 1;
			return;
		}
		st->gw_of[i] = st->ngws++;
		if (ls && ls->type == YAML_SEQUENCE_NODE)
			IM_SEQ_FOREACH(dc, ls, l)
			{
				read_listener(im, dc, l, &g->ls[g->nls]);
				if (g->mesh)
					g->ls[g->nls].kinds =
					    listener_kinds(im, dc, g, &g->ls[g->nls], 0);
				g->nls++;
			}
		if (g->mesh)
			g->svc = data_plane(im, g);
	}
}

/* --- the listeners' conditions (gw gateway_types.go ListenerConditionReason) --- */

/* Does a Secret ns/name exist in cluster (its name and type are all meshpol reads of it)? */
static int secret_exists(mp_import *im, const char *ns, const char *name, mp_id cluster)
{
	for (uint32_t i = 0; i < im->ndocs; i++) {
		idoc *s = &im->docs[i];
		if (k8s_is(s, K8S_SECRET) && im_live(s) && s->cluster == cluster &&
		    !strcmp(im_str_of(im, s->ns), ns) && !strcmp(im_str_of(im, s->name), name))
			return 1;
	}
	return 0;
}

/* A refused certificateRef: its reason and message, reported unless the mesh takes a listener
 * with one valid certificate (Istio) and one is. */
typedef struct {
	yaml_node_t *at;
	const char *code;
	char text[600];
} cert_problem;

/* The certificateRefs of a listener that terminates TLS (gw ListenerTLSConfig; Istio
 * buildSecretReference): a Secret, in the Gateway's namespace or granted from another. */
static void certificates(mp_import *im, idoc *dc, const gw_gateway *g, const gw_listener *l)
{
	yaml_node_t *tls = im_get(dc, l->node, "tls"), *refs = im_get(dc, tls, "certificateRefs"),
	            *r;
	const char *mode = im_scalar(im_get(dc, tls, "mode"));
	const char *gwns = im_str_of(im, dc->ns);
	cert_problem bad[64];
	uint32_t nbad = 0, valid = 0;
	char subject[400];
	if (!refs || refs->type != YAML_SEQUENCE_NODE || (mode && strcmp(mode, "Terminate")))
		return;
	IM_SEQ_FOREACH(dc, refs, r)
	{
		const char *group = im_scalar(im_get(dc, r, "group"));
		const char *kind = im_scalar(im_get(dc, r, "kind"));
		const char *name = im_scalar(im_get(dc, r, "name"));
		const char *ns = im_scalar(im_get(dc, r, "namespace"));
		cert_problem *p = nbad < 64 ? &bad[nbad] : NULL;
		if (!ns)
			ns = gwns;
		if (!name)
			name = "";
		if (!mp_gwapi_core(group) || (kind && strcmp(kind, "Secret"))) {
			if (p)
				snprintf(p->text, sizeof(p->text),
				         "certificateRef %s%s%s %s: only a Secret is allowed",
				         group ? group : "", group && *group ? "/" : "",
				         kind ? kind : "Secret", name);
			if (p)
				p->code = "InvalidCertificateRef";
		} else if (strcmp(ns, gwns) && !mp_gwapi_granted(im, dc->cluster, "Gateway", gwns,
		                                                 "", "Secret", ns, name)) {
			if (p)
				snprintf(
				    p->text, sizeof(p->text),
				    "certificateRef Secret %s/%s is in another namespace, and no "
				    "ReferenceGrant in %s lets Gateways of %s refer to it",
				    ns, name, ns, gwns);
			if (p)
				p->code = "RefNotPermitted";
		} else if (!secret_exists(im, ns, name, dc->cluster)) {
			if (p)
				snprintf(p->text, sizeof(p->text),
				         "certificateRef Secret %s/%s does not exist", ns, name);
			if (p)
				p->code = "InvalidCertificateRef";
		} else {
			valid++;
			continue;
		}
		if (p)
			p->at = r, nbad++;
	}
	if (valid && (g->mesh->gateway_api->flags & MP_GWI_ANY_CERT))
		return;
	for (uint32_t i = 0; i < nbad; i++)
		im_finding(im, bad[i].code, MP_FINDING_WARNING, im_loc(dc, bad[i].at),
		           im_title(im, dc, subject, sizeof(subject)),
		           "listener %s: ResolvedRefs=False: %s; the listener %s", l->name,
		           bad[i].text,
		           valid ? "serves with its other certificates"
		                 : "has no certificate to terminate TLS with");
}

/* Listeners on one port must be distinct (gw GatewaySpec.Listeners "Distinct Listeners"): one
 * protocol, except HTTPS beside TLS where both have hostnames that differ. Both of a
 * conflicting pair are refused. */
static void conflicts(mp_import *im, idoc *dc, gw_gateway *g)
{
	char subject[400];
	for (uint32_t i = 0; i < g->nls; i++) {
		gw_listener *a = &g->ls[i];
		for (uint32_t j = 0; j < g->nls; j++) {
			gw_listener *b = &g->ls[j];
			if (i == j || a->port != b->port || !strcasecmp(a->protocol, b->protocol))
				continue;
			int tls_pair =
			    (!strcasecmp(a->protocol, "HTTPS") ||
			     !strcasecmp(a->protocol, "TLS")) &&
			    (!strcasecmp(b->protocol, "HTTPS") || !strcasecmp(b->protocol, "TLS"));
			if (tls_pair && a->hostname && b->hostname &&
			    strcasecmp(a->hostname, b->hostname))
				continue;
			im_finding(
			    im, "ProtocolConflict", MP_FINDING_WARNING, im_loc(dc, a->node),
			    im_title(im, dc, subject, sizeof(subject)),
			    "listener %s: Conflicted=True: port %u is also listener %s's, with "
			    "protocol %s%s; Accepted=False, it takes no route",
			    a->name, a->port, b->name, b->protocol,
			    tls_pair ? " (HTTPS and TLS share a port only with distinct hostnames)"
			             : "");
			a->kinds = 0;
			break;
		}
	}
}

void mp_gwapi_listener_findings(mp_import *im)
{
	gwapi_state *st = gwapi_of(im);
	char subject[400];
	for (uint32_t i = 0; i < st->ngws && !im->oom; i++) {
		gw_gateway *g = &st->gws[i];
		idoc *dc = &im->docs[g->doc];
		if (!g->mesh) {
			im_finding(
			    im, "UnknownGatewayClass", MP_FINDING_INFO,
			    im_loc(dc, im_get(dc, dc->spec, "gatewayClassName")),
			    im_title(im, dc, subject, sizeof(subject)),
			    "GatewayClass %s is programmed by none of the meshes of the sources "
			    "(no GatewayClass names a controller of theirs, and none of them "
			    "creates the class itself): its routes are another controller's, and "
			    "meshpol neither checks nor maps them",
			    g->class_name ? g->class_name : "");
			continue;
		}
		for (uint32_t k = 0; k < g->nls; k++) {
			g->ls[k].kinds = listener_kinds(im, dc, g, &g->ls[k], 1);
			certificates(im, dc, g, &g->ls[k]);
		}
		conflicts(im, dc, g);
	}
}

/* --- attachment (gw shared_types.go ParentReference; Istio conversion.go referenceAllowed,
 * conditions.go createRouteStatus) --- */

/* Why a listener refuses a route, best ranked last (Istio's reasonRanking, with the spec's
 * UnsupportedValue for a TLSRoute over it). */
enum { R_OK, R_PARENT, R_HOST, R_NOT_ALLOWED, R_UNSUPPORTED, R_REASONS };
static const char *const reason_codes[R_REASONS] = {"", "NoMatchingParent",
                                                    "NoMatchingListenerHostname",
                                                    "NotAllowedByListeners", "UnsupportedValue"};

/* Do the labels of namespace ns (its Namespace document's, and the implicit
 * kubernetes.io/metadata.name) satisfy selector sel of Gateway document dc? */
static const char *ns_label(mp_import *im, const char *ns, const char *key)
{
	if (!strcmp(key, "kubernetes.io/metadata.name"))
		return ns;
	mp_str n = mp_model_find_str(im->m, ns, strlen(ns)); /* not interned: ns stays valid */
	mp_id id =
	    n == MP_NONE ? MP_NONE : im->host->lookup(im->host->ctx, MP_IMPORT_NAMESPACE, n, 0);
	mp_model_view v = mp_model_get_view(im->m);
	if (id == MP_NONE)
		return NULL;
	for (uint32_t i = 0; i < v.namespaces[id].labels.n; i++) {
		const mp_label *l = &v.labels[v.namespaces[id].labels.off + i];
		if (!strcmp(im_str_of(im, l->key), key))
			return im_str_of(im, l->value);
	}
	return NULL;
}

static int selected(mp_import *im, idoc *dc, yaml_node_t *sel, const char *ns)
{
	yaml_node_t *ml = im_get(dc, sel, "matchLabels"), *me = im_get(dc, sel, "matchExpressions");
	yaml_node_t *k, *v, *e, *x;
	if (ml && ml->type == YAML_MAPPING_NODE)
		IM_MAP_FOREACH(dc, ml, k, v)
		{
			const char *have = im_scalar(k) ? ns_label(im, ns, im_scalar(k)) : NULL;
			if (!have || !im_scalar(v) || strcmp(have, im_scalar(v)))
				return 0;
		}
	if (me && me->type == YAML_SEQUENCE_NODE)
		IM_SEQ_FOREACH(dc, me, e)
		{
			const char *key = im_scalar(im_get(dc, e, "key"));
			const char *op = im_scalar(im_get(dc, e, "operator"));
			const char *have = key ? ns_label(im, ns, key) : NULL;
			yaml_node_t *vals = im_get(dc, e, "values");
			int in = 0;
			if (have && vals && vals->type == YAML_SEQUENCE_NODE)
				IM_SEQ_FOREACH(dc, vals, x)
				{
					in |= im_scalar(x) && !strcmp(im_scalar(x), have);
				}
			if (!op || (!strcmp(op, "In") && !in) || (!strcmp(op, "NotIn") && in) ||
			    (!strcmp(op, "Exists") && !have) ||
			    (!strcmp(op, "DoesNotExist") && have))
				return 0;
		}
	return 1;
}

/* The Gateway ns/name of cluster, or NULL. */
static gw_gateway *gateway_named(mp_import *im, const char *ns, const char *name, mp_id cluster)
{
	gwapi_state *st = gwapi_of(im);
	for (uint32_t i = 0; i < st->ngws; i++) {
		idoc *dc = &im->docs[st->gws[i].doc];
		if (dc->cluster == cluster && !strcmp(im_str_of(im, dc->ns), ns) &&
		    !strcmp(im_str_of(im, dc->name), name))
			return &st->gws[i];
	}
	return NULL;
}

/* Appends "; "-joined text to a reason's message. */
static void say(char *buf, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void say(char *buf, size_t len, const char *fmt, ...)
{
	size_t at = strlen(buf);
	va_list ap;
	if (at + 3 >= len)
		return;
	if (at)
		at += (size_t)snprintf(buf + at, len - at, "; ");
	va_start(ap, fmt);
	vsnprintf(buf + at, len - at, fmt, ap);
	va_end(ap);
}

/* Why listener l of Gateway dc refuses route (kind bit kind, hostnames hosts), its words added
 * to msg; R_OK when it takes it. */
static uint32_t refusal(mp_import *im, idoc *route, uint32_t kind, const char *const *hosts,
                        uint32_t nh, const gw_gateway *g, const gw_listener *l, char *msg,
                        size_t len)
{
	idoc *dc = &im->docs[g->doc];
	const char *rns = im_str_of(im, route->ns), *gns = im_str_of(im, dc->ns);
	uint32_t flags = g->mesh->gateway_api->flags;
	char have[200];
	if (!(flags & MP_GWI_NO_HOSTNAMES) && l->hostname && nh) {
		uint32_t k;
		for (k = 0; k < nh && !mp_gwapi_hosts_meet(l->hostname, hosts[k]); k++)
			;
		if (k == nh) {
			say(msg, len,
			    "listener %s serves %s, which none of the route's hostnames "
			    "meets",
			    l->name, l->hostname);
			return R_HOST;
		}
	}
	int allowed = l->from == GW_FROM_ALL || (l->from == GW_FROM_SAME && !strcmp(rns, gns)) ||
	              (l->from == GW_FROM_SELECTOR && selected(im, dc, l->selector, rns));
	if (!allowed) {
		if (l->from == GW_FROM_SAME)
			say(msg, len,
			    "listener %s takes routes from %s alone (allowedRoutes from: Same), "
			    "not from "
			    "%s",
			    l->name, gns, rns);
		else if (l->from == GW_FROM_NONE)
			say(msg, len, "listener %s takes routes from no namespace (from: None)",
			    l->name);
		else
			say(msg, len,
			    "listener %s takes routes from the namespaces its selector picks, and "
			    "%s "
			    "is not one",
			    l->name, rns);
		return R_NOT_ALLOWED;
	}
	if (!(l->kinds & kind)) {
		const char *name = route->kind->kind;
		if (kind == GW_K_TLS && !(flags & MP_GWI_KIND_NOT_ALLOWED) &&
		    strcasecmp(l->protocol, "TLS")) {
			say(msg, len,
			    "a TLSRoute attaches to TLS listeners only; listener %s is %s", l->name,
			    l->protocol);
			return R_UNSUPPORTED;
		}
		say(msg, len, "listener %s takes no %s (it takes %s)", l->name, name,
		    kinds_text(l->kinds, have, sizeof(have)));
		return R_NOT_ALLOWED;
	}
	return R_OK;
}

void mp_gwapi_attach(mp_import *im, idoc *route, yaml_node_t *ref, gw_attachment *out)
{
	const char *ns = im_scalar(im_get(route, ref, "namespace"));
	const char *name = im_scalar(im_get(route, ref, "name"));
	const char *section = im_scalar(im_get(route, ref, "sectionName"));
	const char *port = im_scalar(im_get(route, ref, "port"));
	const char *hosts[1024];
	uint32_t nh = 0, best = R_OK, kind = gwapi_route_kind(route);
	char msg[R_REASONS][1000], subject[400], what[700];
	memset(out, 0, sizeof(*out));
	memset(msg, 0, sizeof(msg));
	if (!ns)
		ns = im_str_of(im, route->ns);
	if (!name)
		name = "";
	snprintf(what, sizeof(what), "parentRef Gateway %s/%s%s%s%s%s", ns, name,
	         section ? " sectionName " : "", section ? section : "", port ? " port " : "",
	         port ? port : "");
	gw_gateway *g = gateway_named(im, ns, name, route->cluster);
	if (!g) {
		im_finding(im, "NoMatchingParent", MP_FINDING_WARNING, im_loc(route, ref),
		           im_title(im, route, subject, sizeof(subject)),
		           "%s: Accepted=False: Gateway %s/%s does not exist; the route attaches "
		           "to nothing there",
		           what, ns, name);
		return;
	}
	if (!g->mesh)
		return; /* another controller's Gateway: its status is not ours to write */
	out->gw = g;
	yaml_node_t *hn = kind == GW_K_TCP ? NULL : im_get(route, route->spec, "hostnames"), *h;
	if (hn && hn->type == YAML_SEQUENCE_NODE)
		IM_SEQ_FOREACH(route, hn, h)
		{
			if (im_scalar(h) && nh < 1024)
				hosts[nh++] = im_scalar(h);
		}
	uint32_t relevant = 0;
	for (uint32_t i = 0; i < g->nls && i < 64; i++) {
		const gw_listener *l = &g->ls[i];
		if ((port && l->port != (uint32_t)strtoul(port, NULL, 10)) ||
		    (section && strcmp(section, l->name)))
			continue;
		relevant++;
		uint32_t r = refusal(im, route, kind, hosts, nh, g, l, msg[0], sizeof(msg[0]));
		if (r == R_OK) {
			out->listeners |= 1ull << i;
			continue;
		}
		/* the message went to msg[0]; keep it under its reason */
		say(msg[r], sizeof(msg[r]), "%s", msg[0]);
		msg[0][0] = '\0';
		if (r > best)
			best = r;
	}
	if (out->listeners)
		return;
	if (!relevant) {
		best = R_PARENT;
		snprintf(msg[R_PARENT], sizeof(msg[R_PARENT]),
		         "Gateway %s/%s has no listener%s%s%s%s", ns, name,
		         section ? " named " : "", section ? section : "", port ? " on port " : "",
		         port ? port : "");
	}
	im_finding(im, reason_codes[best], MP_FINDING_WARNING, im_loc(route, ref),
	           im_title(im, route, subject, sizeof(subject)), "%s: Accepted=False: %s", what,
	           msg[best]);
}
