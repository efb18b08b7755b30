/* analyze_istio_gw.c: Istio's Gateway analyzers, as istio/istio implements them in
 * pkg/config/analysis/analyzers/gateway/: gateway.go (IngressGatewayPortAnalyzer), secret.go
 * (SecretAnalyzer: a Secret's name and key names only, never its data), conflictinggateway.go
 * and certificate.go. Pods and Services are the analyzers' view (pods_istio.c), istioctl's
 * default ingress pod and Service among them. Rows: analyze_istio.c; docs/import.md ("Istio's
 * analyzers"). */
#include "alloc.h"
#include "istio_int.h"
#include "providers/kubernetes/kubernetes_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int live_gateway(const idoc *dc)
{
	return istio_is(dc, IK_GATEWAY) && im_live(dc);
}

/* A Gateway's selector: its labels, as Kubernetes prints them, and the node Istio's messages
 * point at (the value of its first label, sorted; the document when it has none). */
typedef struct {
	ist_labels labels;
	char text[1024];
	yaml_node_t *at;
} gwsel;

static void gateway_selector(mp_import *im, idoc *gw, gwsel *s)
{
	const char *first;
	yaml_node_t *sel = im_get(gw, gw->spec, "selector");
	ist_labels_of(im, gw, sel, &s->labels);
	ist_selector_text(&s->labels, s->text, sizeof(s->text), &first);
	s->at = first ? im_get(gw, sel, first) : NULL;
}

/* The next live Gateway from docs[*i] on, its selector in s; NULL after the last. */
static idoc *next_gateway(mp_import *im, uint32_t *i, gwsel *s)
{
	for (; *i < im->ndocs && !im->oom; (*i)++)
		if (live_gateway(&im->docs[*i])) {
			gateway_selector(im, &im->docs[*i], s);
			return &im->docs[*i];
		}
	return NULL;
}

/* A Gateway's servers, a sequence, or NULL. */
static yaml_node_t *servers_of(idoc *gw)
{
	yaml_node_t *s = im_get(gw, gw->spec, "servers");
	return s && s->type == YAML_SEQUENCE_NODE ? s : NULL;
}

/* The number of a server's port; 0 when it has none. */
static uint32_t server_port(idoc *gw, yaml_node_t *server, int *has)
{
	yaml_node_t *port = im_get(gw, server, "port");
	const char *num = im_scalar(im_get(gw, port, "number"));
	*has = port && port->type == YAML_MAPPING_NODE;
	return num ? (uint32_t)strtoul(num, NULL, 10) : 0;
}

static void selector_not_found(mp_import *im, idoc *gw, const gwsel *s)
{
	ist_report(im, gw, s->at, "ReferencedResourceNotFound",
	           "Referenced selector not found: \"%s\"", s->text);
}

/* The servers of a Gateway whose selector found its pods; else NULL, and the selector is
 * reported not found. */
static yaml_node_t *selected_servers(mp_import *im, idoc *gw, const gwsel *s, int found)
{
	if (found)
		return servers_of(gw);
	selector_not_found(im, gw, s);
	return NULL;
}

/* --- IngressGatewayPortAnalyzer --- */

void ist_gateway_ports(mp_import *im)
{
	istio_state *st = istio_of(im);
	ist_view(im);
	gwsel s;
	idoc *gw;
	for (uint32_t i = 0; (gw = next_gateway(im, &i, &s)); i++) {
		/* the TCP ports (and numeric target ports) of the Services selecting its pods */
		uint32_t ports[256], np = 0, matched = 0;
		for (uint32_t p = 0; p < st->npods; p++) {
			const ist_pod *pod = &st->pods[p];
			if (!ist_same_cluster(pod->cluster, gw->cluster) ||
			    !ist_selects(&s.labels, &pod->labels))
				continue;
			matched++;
			for (uint32_t k = 0; k < st->nsvcs; k++) {
				const ist_service *svc = &st->svcs[k];
				if (strcmp(svc->ns, pod->ns) ||
				    !ist_same_cluster(svc->cluster, pod->cluster) ||
				    !ist_selects(&svc->selector, &pod->labels))
					continue;
				for (uint32_t x = 0; x < svc->nports && np + 2 <= 256; x++) {
					const ist_port *sp = &svc->ports[x];
					if (!sp->protocol || strcmp(sp->protocol, "TCP"))
						continue;
					ports[np++] = sp->port;
					if (sp->target)
						ports[np++] = sp->target;
				}
			}
		}
		yaml_node_t *servers = selected_servers(im, gw, &s, matched != 0), *server;
		if (!servers)
			continue;
		IM_SEQ_FOREACH(gw, servers, server)
		{
			int has;
			uint32_t port = server_port(gw, server, &has), k;
			if (!has)
				continue;
			for (k = 0; k < np && ports[k] != port; k++)
				;
			if (k == np)
				ist_report(
				    im, gw, s.at, "GatewayPortNotDefinedOnService",
				    "The gateway is listening on a target port (port %u) that is "
				    "not "
				    "defined in the Service associated with its workload instances "
				    "(Pod selector %s). If you need to access the gateway port "
				    "through the gateway Service, it will not be available.",
				    port, s.text);
		}
	}
}

/* --- SecretAnalyzer --- */

/* kube.ExtractCertInfo, by key names alone: a Secret's data has cert and key, or tls.crt and
 * tls.key. Whether they hold a valid, unexpired certificate needs the data, which meshpol
 * never reads. */
static int secret_has_keys(idoc *sec)
{
	yaml_node_t *data = im_get(sec, sec->root, "data");
	return (im_get(sec, data, "cert") && im_get(sec, data, "key")) ||
	       (im_get(sec, data, "tls.crt") && im_get(sec, data, "tls.key"));
}

void ist_gateway_secrets(mp_import *im)
{
	istio_state *st = istio_of(im);
	ist_view(im);
	gwsel s;
	idoc *gw;
	for (uint32_t i = 0; (gw = next_gateway(im, &i, &s)); i++) {
		/* the namespace of the first pod it selects: where its Secrets are */
		const char *gwns = NULL;
		for (uint32_t p = 0; p < st->npods && !gwns; p++)
			if (ist_same_cluster(st->pods[p].cluster, gw->cluster) &&
			    ist_selects(&s.labels, &st->pods[p].labels))
				gwns = st->pods[p].ns;
		yaml_node_t *servers = selected_servers(im, gw, &s, gwns != NULL), *server;
		if (!servers)
			continue;
		IM_SEQ_FOREACH(gw, servers, server)
		{
			yaml_node_t *cn = im_get(gw, im_get(gw, server, "tls"), "credentialName");
			const char *name = im_scalar(cn), *slash;
			char ns[256];
			if (!name || !*name)
				continue;
			slash = strchr(name, '/');
			snprintf(ns, sizeof(ns), "%.*s",
			         slash ? (int)(slash - name) : (int)strlen(gwns),
			         slash ? name : gwns);
			idoc *sec = ist_secret(im, ns, slash ? slash + 1 : name, gw->cluster);
			if (!sec)
				ist_report(im, gw, cn, "ReferencedResourceNotFound",
				           "Referenced credentialName not found: \"%s\"", name);
			else if (!secret_has_keys(sec))
				ist_report(
				    im, gw, cn, "InvalidGatewayCredential",
				    "The credential referenced by the Gateway %s in namespace %s "
				    "is "
				    "invalid, which can cause the traffic not to work as expected.",
				    im_str_of(im, gw->name), gwns);
		}
	}
}

/* --- ConflictingGatewayAnalyzer --- */

/* One server of a gateway under the key selector~port: its hosts and bind. The hosts grow as
 * Istio's model.CheckDuplicates adds a server's hosts to the map it found no duplicate in. */
typedef struct {
	char key[1100];
	uint32_t gw;      /* document */
	ist_label *hosts; /* host -> bind ("" for none) */
	uint32_t nhosts, cap;
} gwentry;

static void add_host(mp_import *im, gwentry *e, const char *h, const char *bind)
{
	istio_state *st = istio_of(im);
	for (uint32_t i = 0; i < e->nhosts; i++)
		if (!strcmp(e->hosts[i].key, h)) {
			e->hosts[i].value = bind;
			return;
		}
	if (e->nhosts == e->cap) {
		uint32_t cap = e->cap ? 2 * e->cap : 8;
		ist_label *nv = mp_arena_alloc(&st->arena, cap * sizeof(*nv));
		if (!nv) {
			im->oom = 1;
			return;
		}
		if (e->nhosts)
			memcpy(nv, e->hosts, e->nhosts * sizeof(*nv));
		e->hosts = nv;
		e->cap = cap;
	}
	e->hosts[e->nhosts++] = (ist_label){h, bind};
}

/* The selector part of a key, parsed back (parseSelectorFromString). */
static void parse_selector(mp_import *im, const char *text, ist_labels *out)
{
	istio_state *st = istio_of(im);
	size_t n = 1;
	for (const char *p = text; *p; p++)
		n += *p == ',';
	ist_label *l = mp_arena_alloc(&st->arena, n * sizeof(*l));
	*out = (ist_labels){l, 0};
	if (!l) {
		im->oom = 1;
		return;
	}
	for (const char *p = text; *p;) {
		size_t len = strcspn(p, ",");
		const char *eq = memchr(p, '=', len);
		if (eq && !memchr(eq + 1, '=', len - (size_t)(eq - p) - 1)) {
			l[out->n].key = mp_arena_strn(&st->arena, p, (size_t)(eq - p));
			l[out->n].value =
			    mp_arena_strn(&st->arena, eq + 1, len - (size_t)(eq - p) - 1);
			out->n++;
		}
		p += len + (p[len] == ',');
	}
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

void ist_conflicting_gateways(mp_import *im)
{
	istio_state *st = istio_of(im);
	gwentry *es = NULL;
	uint32_t ne = 0, cap = 0;
	ist_view(im);
	/* initGatewaysMap: selector~port -> gateway -> hosts (a later server of the same gateway
	 * on the same port replaces the earlier) */
	gwsel s;
	idoc *gw;
	for (uint32_t i = 0; (gw = next_gateway(im, &i, &s)); i++) {
		yaml_node_t *servers = servers_of(gw), *server, *h;
		if (!servers)
			continue;
		IM_SEQ_FOREACH(gw, servers, server)
		{
			int has;
			char key[1100];
			snprintf(key, sizeof(key), "%s~%u", s.text, server_port(gw, server, &has));
			uint32_t k;
			for (k = 0; k < ne && (es[k].gw != i || strcmp(es[k].key, key)); k++)
				;
			if (k == ne) {
				if (mp_grow((void **)&es, &cap, sizeof(*es), ne, 16) < 0) {
					im->oom = 1;
					break;
				}
				memset(&es[ne], 0, sizeof(es[ne]));
				snprintf(es[ne].key, sizeof(es[ne].key), "%s", key);
				es[ne].gw = i;
				ne++;
			}
			es[k].nhosts = 0;
			const char *bind = im_scalar(im_get(gw, server, "bind"));
			yaml_node_t *hosts = im_get(gw, server, "hosts");
			if (hosts && hosts->type == YAML_SEQUENCE_NODE)
				IM_SEQ_FOREACH(gw, hosts, h)
				{
					if (im_scalar(h))
						add_host(im, &es[k], im_scalar(h),
						         bind ? bind : "");
				}
		}
	}
	for (uint32_t i = 0; (gw = next_gateway(im, &i, &s)); i++) {
		/* the keys it hits: the same selector, or one containing the other with a pod both
		 * select */
		uint8_t *hit = mp_calloc(ne + 1, 1);
		int exists = 0;
		if (!hit) {
			im->oom = 1;
			break;
		}
		for (uint32_t k = 0; k < ne; k++) {
			char sel[1100];
			snprintf(sel, sizeof(sel), "%.*s", (int)strcspn(es[k].key, "~"), es[k].key);
			int matched = !strcmp(sel, s.text);
			if (!matched && (strstr(sel, s.text) || strstr(s.text, sel))) {
				ist_labels x;
				parse_selector(im, sel, &x);
				for (uint32_t p = 0; p < st->npods && !matched; p++)
					matched =
					    ist_same_cluster(st->pods[p].cluster, gw->cluster) &&
					    ist_selects(&s.labels, &st->pods[p].labels) &&
					    ist_selects(&x, &st->pods[p].labels);
			}
			hit[k] = (uint8_t)matched;
			exists |= matched;
		}
		if (s.text[0] && !exists) {
			selector_not_found(im, gw, &s);
			mp_free(hit);
			continue;
		}
		yaml_node_t *servers = servers_of(gw), *server, *h;
		if (servers)
			IM_SEQ_FOREACH(gw, servers, server)
			{
				int has;
				char port[16];
				const char *names[256];
				uint32_t nn = 0;
				const char *bind = im_scalar(im_get(gw, server, "bind"));
				yaml_node_t *hosts = im_get(gw, server, "hosts");
				snprintf(port, sizeof(port), "%u", server_port(gw, server, &has));
				for (uint32_t k = 0; k < ne; k++) {
					const char *tilde = strrchr(es[k].key, '~');
					if (!hit[k] || es[k].gw == i || strcmp(tilde + 1, port))
						continue;
					/* model.CheckDuplicates: hosts already known with the same
					 * bind */
					int dup = 0;
					if (hosts && hosts->type == YAML_SEQUENCE_NODE)
						IM_SEQ_FOREACH(gw, hosts, h)
						{
							const char *x = im_scalar(h);
							for (uint32_t y = 0; x && y < es[k].nhosts;
							     y++)
								dup |= !strcmp(es[k].hosts[y].key,
								               x) &&
								       !strcmp(es[k].hosts[y].value,
								               bind ? bind : "");
						}
					if (!dup && hosts && hosts->type == YAML_SEQUENCE_NODE) {
						IM_SEQ_FOREACH(gw, hosts, h)
						{
							if (im_scalar(h))
								add_host(im, &es[k], im_scalar(h),
								         bind ? bind : "");
						}
						continue;
					}
					if (!dup || nn == 256)
						continue;
					char full[600];
					snprintf(full, sizeof(full), "%s/%s",
					         im_str_of(im, im->docs[es[k].gw].ns),
					         im_str_of(im, im->docs[es[k].gw].name));
					names[nn] = mp_arena_str(&st->arena, full);
					nn += names[nn] != NULL;
				}
				if (!nn)
					continue;
				qsort(names, nn, sizeof(*names), by_name);
				char list[2048] = "", hl[2048] = "";
				for (uint32_t k = 0; k < nn; k++) {
					size_t at = strlen(list);
					snprintf(list + at, sizeof(list) - at, "%s%s", k ? "," : "",
					         names[k]);
				}
				if (hosts && hosts->type == YAML_SEQUENCE_NODE)
					IM_SEQ_FOREACH(gw, hosts, h)
					{
						size_t at = strlen(hl);
						snprintf(hl + at, sizeof(hl) - at, "%s%s",
						         at ? "," : "",
						         im_scalar(h) ? im_scalar(h) : "");
					}
				ist_report(im, gw, NULL, "ConflictingGateways",
				           "Conflict with gateways %s (workload selector %s, port "
				           "%s, hosts "
				           "%s).",
				           list, s.text, port, hl);
			}
		mp_free(hit);
	}
	mp_free(es);
}

/* --- CertificateAnalyzer --- */

static int same_certificate(idoc *a, yaml_node_t *ta, idoc *b, yaml_node_t *tb)
{
	const char *ca = im_scalar(im_get(a, ta, "credentialName"));
	const char *cb = im_scalar(im_get(b, tb, "credentialName"));
	if (ca && *ca && cb && *cb)
		return !strcmp(ca, cb);
	if ((ca && *ca) || (cb && *cb))
		return 0;
	const char *sa = im_scalar(im_get(a, ta, "serverCertificate"));
	const char *sb = im_scalar(im_get(b, tb, "serverCertificate"));
	const char *ka = im_scalar(im_get(a, ta, "privateKey"));
	const char *kb = im_scalar(im_get(b, tb, "privateKey"));
	return sa && *sa && sb && *sb && !strcmp(sa, sb) && ka && *ka && kb && *kb &&
	       !strcmp(ka, kb);
}

void ist_gateway_certificates(mp_import *im)
{
	for (uint32_t i = 0; i < im->ndocs && !im->oom; i++) {
		idoc *a = &im->docs[i];
		ist_labels sa;
		if (!live_gateway(a))
			continue;
		ist_labels_of(im, a, im_get(a, a->spec, "selector"), &sa);
		yaml_node_t *servers = servers_of(a), *s1, *s2;
		for (uint32_t j = 0; j < im->ndocs && servers; j++) {
			idoc *b = &im->docs[j];
			ist_labels sb;
			yaml_node_t *other;
			if (j == i || !live_gateway(b) || b->cluster != a->cluster)
				continue;
			/* b's selector is a superset of a's (ScopeGatewayToNamespace is off) */
			ist_labels_of(im, b, im_get(b, b->spec, "selector"), &sb);
			if (!ist_selects(&sa, &sb) || !(other = servers_of(b)))
				continue;
			IM_SEQ_FOREACH(a, servers, s1)
			{
				yaml_node_t *ta = im_get(a, s1, "tls");
				if (!ta || ta->type != YAML_MAPPING_NODE)
					continue;
				IM_SEQ_FOREACH(b, other, s2)
				{
					yaml_node_t *tb = im_get(b, s2, "tls");
					if (!tb || tb->type != YAML_MAPPING_NODE ||
					    !same_certificate(a, ta, b, tb))
						continue;
					ist_report(
					    im, a, ist_name_node(a), "GatewayDuplicateCertificate",
					    "Duplicate certificate in multiple gateways [%s/%s "
					    "%s/%s] "
					    "may cause 404s if clients re-use HTTP2 connections.",
					    im_str_of(im, a->ns), im_str_of(im, a->name),
					    im_str_of(im, b->ns), im_str_of(im, b->name));
				}
			}
		}
	}
}
