/* pods_linkerd.c: what Linkerd's proxy injector puts into a pod and its policy controller reads
 * back (linkerd/linkerd2 pkg/inject, policy-controller/k8s/index/src/inbound/workload.rs):
 * whether a pod is meshed, its TCP container ports by name (the proxy's own among them), the
 * HTTP probes of each port, and its settings: the default inbound policy, the opaque ports and
 * the ports that require an identity, each from the pod's annotation, else its namespace's
 * (the injector copies them), else the cluster's. Kept in the model as one LinkerdProxy record
 * per meshed workload. docs/import.md ("Linkerd"). */
#include "alloc.h"
#include "linkerd_authz.h"
#include "linkerd_int.h"
#include "providers/kubernetes/kubernetes_int.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_PORTS  128
#define MAX_RANGES 64

#define ANN_INJECT  "linkerd.io/inject"
#define ANN_POLICY  "config.linkerd.io/default-inbound-policy"
#define ANN_OPAQUE  "config.linkerd.io/opaque-ports"
#define ANN_REQUIRE "config.linkerd.io/proxy-require-identity-inbound-ports"

/* The proxy container the injector adds (charts/partials/templates/_proxy.tpl): its inbound
 * port, its admin port and the admin port's probes. */
#define PROXY_PORT 4143
#define ADMIN_PORT 4191

const char *mp_linkerd_ns_annotation(mp_import *im, mp_str ns, mp_id cluster, const char *key,
                                     idoc **nsdoc, yaml_node_t **node)
{
	const linkerd_state *st = linkerd_of(im);
	for (uint32_t k = 0; k < st->nns_docs; k++) {
		idoc *dc = &im->docs[st->ns_docs[k]];
		yaml_node_t *n;
		if (dc->name != ns || dc->cluster != cluster)
			continue;
		n = im_get(dc, im_get(dc, dc->meta, "annotations"), key);
		if (!im_scalar(n))
			continue;
		if (nsdoc)
			*nsdoc = dc;
		if (node)
			*node = n;
		return im_scalar(n);
	}
	return NULL;
}

/* linkerd.io/inject: "enabled" (or "ingress") on the pod, else on its namespace; a pod's
 * "disabled" wins over its namespace (pkg/inject/report.go). Host-network pods are never
 * injected. */
int mp_linkerd_meshed(mp_import *im, idoc *dc)
{
	yaml_node_t *meta, *spec;
	mp_k8s_pod(dc, &meta, &spec);
	const char *host = im_scalar(im_get(dc, spec, "hostNetwork"));
	if (host && !strcmp(host, "true"))
		return 0;
	const char *v = im_scalar(im_get(dc, im_get(dc, meta, "annotations"), ANN_INJECT));
	if (!v)
		v = mp_linkerd_ns_annotation(im, dc->ns, dc->cluster, ANN_INJECT, NULL, NULL);
	return v && (!strcmp(v, "enabled") || !strcmp(v, "ingress"));
}

/* --- ports and probes --- */

typedef struct {
	const char *name; /* NULL: unnamed */
	uint32_t port;
} cport;

typedef struct {
	cport ports[MAX_PORTS];
	uint32_t nports;
	json_t *probes; /* [{port, path}] */
} podinfo;

/* Every container's (and init container's) ports; TCP only (Linkerd authorizes TCP). */
static void container_ports(mp_import *im, idoc *dc, yaml_node_t *spec, podinfo *pi)
{
	static const char *const lists[] = {"containers", "initContainers"};
	yaml_node_t *cs, *c, *ports, *p;
	for (size_t l = 0; l < 2; l++) {
		if (im_seq(im, dc, spec, lists[l], 0, &cs) < 0 || !cs)
			continue;
		IM_SEQ_FOREACH(dc, cs, c)
		{
			if (c->type != YAML_MAPPING_NODE ||
			    im_seq(im, dc, c, "ports", 0, &ports) < 0 || !ports)
				continue;
			IM_SEQ_FOREACH(dc, ports, p)
			{
				uint32_t n;
				int set;
				const char *name = NULL, *proto = NULL;
				if (p->type != YAML_MAPPING_NODE ||
				    im_u32(im, dc, p, "containerPort", 1, 65535, &n, &set) < 0 ||
				    !set || im_str(im, dc, p, "name", 0, &name) < 0 ||
				    im_str(im, dc, p, "protocol", 0, &proto) < 0)
					continue;
				if ((proto && strcasecmp(proto, "TCP")) || pi->nports == MAX_PORTS)
					continue;
				pi->ports[pi->nports++] = (cport){name, n};
			}
		}
	}
}

/* The port a probe names: a number, or a port name of the same container. 0: none. */
static uint32_t probe_port(idoc *dc, yaml_node_t *container, yaml_node_t *port)
{
	const char *s = im_scalar(port);
	yaml_node_t *ports = im_get(dc, container, "ports"), *p;
	if (!s)
		return 0;
	if (isdigit((unsigned char)*s))
		return (uint32_t)strtoul(s, NULL, 10);
	if (ports && ports->type == YAML_SEQUENCE_NODE)
		IM_SEQ_FOREACH(dc, ports, p)
		{
			const char *name = im_scalar(im_get(dc, p, "name"));
			const char *num = im_scalar(im_get(dc, p, "containerPort"));
			if (name && num && !strcasecmp(name, s))
				return (uint32_t)strtoul(num, NULL, 10);
		}
	return 0;
}

static int add_probe(json_t *probes, uint32_t port, const char *path, size_t len)
{
	return json_array_append_new(
	    probes, json_pack("{s:i, s:s%}", "port", (json_int_t)port, "path", path, len));
}

/* HTTP GET probes of containers and init containers (inbound/workload.rs pod_http_probes):
 * liveness, readiness and startup; the path without its query ("/" when absent). */
static void container_probes(idoc *dc, yaml_node_t *spec, podinfo *pi)
{
	static const char *const lists[] = {"containers", "initContainers"};
	static const char *const kinds[] = {"livenessProbe", "readinessProbe", "startupProbe"};
	yaml_node_t *cs, *c;
	for (size_t l = 0; l < 2; l++) {
		cs = im_get(dc, spec, lists[l]);
		if (!cs || cs->type != YAML_SEQUENCE_NODE)
			continue;
		IM_SEQ_FOREACH(dc, cs, c)
		{
			for (size_t k = 0; k < 3; k++) {
				yaml_node_t *get = im_get(dc, im_get(dc, c, kinds[k]), "httpGet");
				const char *path = im_scalar(im_get(dc, get, "path"));
				uint32_t port = probe_port(dc, c, im_get(dc, get, "port"));
				if (!get || !port)
					continue;
				if (!path || !*path)
					path = "/";
				add_probe(pi->probes, port, path, strcspn(path, "?"));
			}
		}
	}
}

/* --- port lists: "25,587,3306-3310,mysql" --- */

/* Ranges of a port list into out ([lo, hi] pairs); port names resolve among the pod's ports.
 * -1 with the bad item in bad when an item is neither. */
static int parse_ports(const char *list, const podinfo *pi, json_t *out, char *bad, size_t len)
{
	char item[64];
	for (const char *p = list; p && *p;) {
		p = mp_linkerd_item(p, item, sizeof(item));
		if (!item[0])
			continue;
		char *dash = strchr(item, '-'), *end1, *end2;
		unsigned long lo = strtoul(item, &end1, 10), hi = lo;
		if (isdigit((unsigned char)item[0]) && dash && end1 == dash)
			hi = strtoul(dash + 1, &end2, 10), end1 = end2;
		if (isdigit((unsigned char)item[0])) {
			if (*end1 || !lo || hi < lo || hi > 65535)
				goto fail;
			json_array_append_new(out,
			                      json_pack("[i, i]", (json_int_t)lo, (json_int_t)hi));
			continue;
		}
		uint32_t found = 0;
		for (uint32_t i = 0; i < pi->nports; i++)
			if (pi->ports[i].name && !strcasecmp(pi->ports[i].name, item) && ++found)
				json_array_append_new(
				    out, json_pack("[i, i]", (json_int_t)pi->ports[i].port,
				                   (json_int_t)pi->ports[i].port));
		if (!found)
			goto fail;
	}
	return 0;
fail:
	snprintf(bad, len, "%s", item);
	return -1;
}

/* Is port among the ranges? */
static int in_ranges(json_t *ranges, uint32_t port)
{
	size_t i;
	json_t *r;
	json_array_foreach(ranges, i, r)
	{
		if (port >= (uint32_t)json_integer_value(json_array_get(r, 0)) &&
		    port <= (uint32_t)json_integer_value(json_array_get(r, 1)))
			return 1;
	}
	return 0;
}

/* --- one workload's record --- */

/* Where a setting came from, for reasons: its words and its place. */
typedef struct {
	char from[1200];
	mp_loc loc;
} origin;

/* A pod setting: the pod's annotation, else its namespace's; NULL (and origin untouched)
 * when neither has it. */
static const char *annotation(mp_import *im, iworkload *w, const char *key, origin *o)
{
	idoc *dc = &im->docs[w->doc], *nsdoc = NULL;
	yaml_node_t *n = im_get(dc, w->annotations, key);
	char title[400];
	if (im_scalar(n)) {
		snprintf(o->from, sizeof(o->from), "%s (%s: %s)",
		         im_title(im, dc, title, sizeof(title)), key, im_scalar(n));
		o->loc = im_loc(dc, n);
		return im_scalar(n);
	}
	const char *v = mp_linkerd_ns_annotation(im, dc->ns, dc->cluster, key, &nsdoc, &n);
	if (v) {
		snprintf(o->from, sizeof(o->from), "Namespace %s (%s: %s)", im_str_of(im, dc->ns),
		         key, v);
		o->loc = im_loc(nsdoc, n);
	}
	return v;
}

static void bad_annotation(mp_import *im, iworkload *w, const origin *o, const char *what,
                           const char *bad)
{
	char subject[400];
	im_finding(im, "InvalidAnnotation", MP_FINDING_WARNING, o->loc,
	           im_title(im, &im->docs[w->doc], subject, sizeof(subject)),
	           "%s: '%s' is not %s: Linkerd ignores the setting", o->from, bad, what);
}

/* The default inbound policy of the workload's pods and where it came from (policy-controller
 * inbound/workload.rs Settings::from_metadata: an unparsable value is ignored). */
static const char *default_policy(mp_import *im, iworkload *w, const lk_cluster *cl, origin *o)
{
	origin at;
	const char *v = annotation(im, w, ANN_POLICY, &at);
	if (v && mp_linkerd_policy(v) == LK_POLICY_NONE) {
		char hint[300], what[400];
		snprintf(what, sizeof(what), "a default inbound policy (%s)",
		         mp_diag_hint(v, mp_linkerd_policies, hint, sizeof(hint)));
		bad_annotation(im, w, &at, what, v);
		v = NULL;
	}
	if (v) {
		*o = at;
		return v;
	}
	snprintf(o->from, sizeof(o->from), "%s", cl->policy_from);
	o->loc = cl->policy_loc;
	return cl->policy;
}

static void proxy_of(mp_import *im, iworkload *w, const lk_cluster *cl, lk_proxy *out)
{
	idoc *dc = &im->docs[w->doc];
	yaml_node_t *meta, *spec;
	podinfo pi = {.nports = 0};
	origin pol, opq = {"", {0, 0, 0}}, req = {"", {0, 0, 0}};
	char bad[64];
	mp_k8s_pod(dc, &meta, &spec);
	json_t *j = json_object(), *ports = json_array(), *opaque = json_array(),
	       *require = json_array();
	pi.probes = json_array();
	if (!j || !ports || !opaque || !require || !pi.probes)
		goto oom;
	container_ports(im, dc, spec, &pi);
	container_probes(dc, spec, &pi);
	if (pi.nports + 2 <= MAX_PORTS) {
		pi.ports[pi.nports++] = (cport){"linkerd-proxy", PROXY_PORT};
		pi.ports[pi.nports++] = (cport){"linkerd-admin", ADMIN_PORT};
	}
	add_probe(pi.probes, ADMIN_PORT, "/live", 5);
	add_probe(pi.probes, ADMIN_PORT, "/ready", 6);
	for (uint32_t i = 0; i < pi.nports; i++) {
		json_t *p = json_pack("{s:i}", "port", (json_int_t)pi.ports[i].port);
		if (p && pi.ports[i].name)
			json_object_set_new(p, "name", json_string(pi.ports[i].name));
		json_array_append_new(ports, p);
	}
	const char *policy = default_policy(im, w, cl, &pol);
	/* opaque ports: the annotation; without one, the injector adds the chart's opaquePorts
	 * that the pod's containers expose (controller/proxy-injector/webhook.go) */
	const char *ol = annotation(im, w, ANN_OPAQUE, &opq);
	if (ol && parse_ports(ol, &pi, opaque, bad, sizeof(bad)) < 0) {
		bad_annotation(im, w, &opq, "a port, a range or a port name of the pod", bad);
		json_array_clear(opaque);
	} else if (!ol) {
		json_t *chart = json_array();
		if (chart && parse_ports(cl->opaque_ports, &pi, chart, bad, sizeof(bad)) == 0)
			for (uint32_t i = 0; i < pi.nports; i++)
				if (in_ranges(chart, pi.ports[i].port) &&
				    !in_ranges(opaque, pi.ports[i].port))
					json_array_append_new(
					    opaque,
					    json_pack("[i, i]", (json_int_t)pi.ports[i].port,
					              (json_int_t)pi.ports[i].port));
		json_decref(chart);
	}
	const char *rl = annotation(im, w, ANN_REQUIRE, &req);
	if (!rl && cl->require_id[0]) {
		rl = cl->require_id;
		snprintf(req.from, sizeof(req.from),
		         "ConfigMap %s/linkerd-config (proxy.requireIdentityOnInboundPorts: %s)",
		         cl->cp_ns, rl);
		req.loc = cl->doc != UINT32_MAX ? im->docs[cl->doc].loc : (mp_loc){0, 0, 0};
	}
	if (rl && parse_ports(rl, &pi, require, bad, sizeof(bad)) < 0) {
		bad_annotation(im, w, &req, "a port, a range or a port name of the pod", bad);
		json_array_clear(require);
	}
	/* each set takes its value, even when it fails */
	int fail = json_object_set_new(j, "kind", json_string(dc->kind->kind));
	fail |= json_object_set_new(j, "ports", ports);
	fail |= json_object_set_new(j, "probes", pi.probes);
	fail |= json_object_set_new(j, "defaultInboundPolicy", json_string(policy));
	fail |= json_object_set_new(j, "defaultInboundPolicyFrom", json_string(pol.from));
	fail |= json_object_set_new(j, "opaquePorts", opaque);
	if (json_array_size(require))
		fail |= json_object_set_new(j, "requireIdentityFrom", json_string(req.from));
	fail |= json_object_set_new(j, "requireIdentityPorts", require);
	if (fail)
		goto oom_set;
	*out = (lk_proxy){j, {pol.loc.file, pol.loc.line, req.loc.file, req.loc.line}};
	return;
oom:
	json_decref(ports);
	json_decref(opaque);
	json_decref(require);
	json_decref(pi.probes);
oom_set:
	json_decref(j);
	im->oom = 1;
}

void mp_linkerd_proxies(mp_import *im)
{
	linkerd_state *st = linkerd_of(im);
	if (!st->present)
		return;
	if (!(st->proxies = mp_calloc(im->nwl + 1, sizeof(*st->proxies)))) {
		im->oom = 1;
		return;
	}
	st->nproxies = im->nwl;
	for (uint32_t i = 0; i < im->nwl && !im->oom; i++) {
		iworkload *w = &im->wl[i];
		idoc *dc = &im->docs[w->doc];
		const lk_cluster *cl = mp_linkerd_cluster(im, dc->cluster);
		if (cl && mp_linkerd_meshed(im, dc))
			proxy_of(im, w, cl, &st->proxies[i]);
	}
}

void mp_linkerd_proxy_records(mp_import *im)
{
	linkerd_state *st = linkerd_of(im);
	for (uint32_t i = 0; i < st->nproxies && !im->oom; i++) {
		lk_proxy *p = &st->proxies[i];
		idoc *dc = &im->docs[im->wl[i].doc];
		if (!p->spec)
			continue;
		mp_resource r = {.kind = im_intern(im, LK_PROXY_KIND),
		                 .api = im_intern(im, LK_PROXY_API),
		                 .ns = dc->ns,
		                 .name = dc->name,
		                 .cluster = im->multi_cluster ? dc->cluster : MP_NONE,
		                 .aux = {mp_model_push_u32(im->m, p->aux, 4), 4},
		                 .loc = dc->loc};
		json_t *spec = p->spec;
		p->spec = NULL; /* the record takes it */
		if (r.aux.off == MP_NONE) {
			json_decref(spec);
			im->oom = 1;
			return;
		}
		im_add_record(im, &r, spec);
	}
}
