/* pods_istio.c: the Kubernetes objects as Istio's analyzers see them, and the MeshConfig they
 * read. istioctl analyze matches selectors against Pods (util/in_mesh.go decides which are in
 * the mesh) and Services without Kubernetes' defaulting, and, analysing files, adds a dummy
 * ingress Pod and the istio-ingressgateway Service in istio-system
 * (pkg/config/analysis/local/defaults.go); meshpol does the same, and counts the pod template
 * of a workload controller as a pod too (docs/import.md, "Istio's analyzers"). The MeshConfig
 * is the file of the option mesh-config (istioctl's --meshConfigFile), else the `mesh` key of
 * the `istio` ConfigMap in istio-system, else Istio's defaults; besides what the analyzers
 * read, it names the extension provider that is meshpol (Istio's CUSTOM action). */
#include "alloc.h"
#include "istio_int.h"
#include "providers/kubernetes/kubernetes_int.h"
#include "yamlload.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define ISTIO_NS "istio-system" /* istioctl's --istioNamespace default */

/* --- labels and selectors --- */

void ist_labels_of(mp_import *im, idoc *dc, yaml_node_t *map, ist_labels *out)
{
	istio_state *st = istio_of(im);
	yaml_node_t *k, *v;
	*out = (ist_labels){NULL, 0};
	if (!map || map->type != YAML_MAPPING_NODE)
		return;
	size_t n = (size_t)(map->data.mapping.pairs.top - map->data.mapping.pairs.start);
	ist_label *l = mp_arena_alloc(&st->arena, (n ? n : 1) * sizeof(*l));
	if (!l) {
		im->oom = 1;
		return;
	}
	IM_MAP_FOREACH(dc, map, k, v)
	{
		const char *key = im_scalar(k);
		const char *val =
		    v->type == YAML_SCALAR_NODE ? (const char *)v->data.scalar.value : NULL;
		if (key && val)
			l[out->n++] = (ist_label){key, val};
	}
	out->v = l;
}

const char *ist_label_value(const ist_labels *l, const char *key)
{
	for (uint32_t i = 0; i < l->n; i++)
		if (!strcmp(l->v[i].key, key))
			return l->v[i].value;
	return NULL;
}

int ist_selects(const ist_labels *sel, const ist_labels *labels)
{
	for (uint32_t i = 0; i < sel->n; i++) {
		const char *v = ist_label_value(labels, sel->v[i].key);
		if (!v || strcmp(v, sel->v[i].value))
			return 0;
	}
	return 1;
}

static int by_key(const void *a, const void *b)
{
	return strcmp(((const ist_label *)a)->key, ((const ist_label *)b)->key);
}

const char *ist_selector_text(const ist_labels *sel, char *buf, size_t len, const char **first)
{
	ist_label sorted[64];
	uint32_t n = sel->n < 64 ? sel->n : 64;
	if (n) /* v is NULL without labels */
		memcpy(sorted, sel->v, n * sizeof(*sorted));
	qsort(sorted, n, sizeof(*sorted), by_key);
	size_t at = 0;
	buf[0] = '\0';
	for (uint32_t i = 0; i < n && at < len; i++)
		at += (size_t)snprintf(buf + at, len - at, "%s%s=%s", i ? "," : "", sorted[i].key,
		                       sorted[i].value);
	if (first)
		*first = n ? sorted[0].key : NULL;
	return buf;
}

/* --- namespaces, secrets --- */

const uint32_t *ist_doclist_of(mp_import *im, ist_doclist *l, int (*is)(const idoc *dc),
                               uint32_t *n)
{
	if (!l->listed) {
		uint32_t k = 0;
		for (uint32_t i = 0; i < im->ndocs; i++)
			k += is(&im->docs[i]) != 0;
		if (!(l->v = mp_arena_alloc(&istio_of(im)->arena, (k + 1) * sizeof(uint32_t)))) {
			im->oom = 1;
			*n = 0;
			return NULL;
		}
		for (uint32_t i = 0; i < im->ndocs; i++)
			if (is(&im->docs[i]))
				l->v[l->n++] = i;
		l->listed = 1;
	}
	*n = l->n;
	return l->v;
}

static int is_namespace(const idoc *dc)
{
	return k8s_is(dc, K8S_NAMESPACE);
}

idoc *ist_namespace(mp_import *im, const char *ns, mp_id c)
{
	uint32_t n; /* every pod asks: the Namespaces are listed once */
	const uint32_t *v = ist_doclist_of(im, &istio_of(im)->ns_docs, is_namespace, &n);
	for (uint32_t k = 0; k < n; k++) {
		idoc *dc = &im->docs[v[k]];
		if (im_live(dc) && ist_same_cluster(dc->cluster, c) &&
		    !strcmp(im_str_of(im, dc->name), ns))
			return dc;
	}
	return NULL;
}

const char *ist_ns_label(idoc *nsdoc, const char *key)
{
	return nsdoc ? im_scalar(im_get(nsdoc, im_get(nsdoc, nsdoc->meta, "labels"), key)) : NULL;
}

int ist_ns_ambient(idoc *nsdoc)
{
	const char *inj = ist_ns_label(nsdoc, "istio-injection");
	const char *rev = ist_ns_label(nsdoc, "istio.io/rev");
	const char *mode = ist_ns_label(nsdoc, "istio.io/dataplane-mode");
	if (!nsdoc || (inj && !strcmp(inj, "enabled")) || (rev && *rev))
		return 0;
	return mode && !strcmp(mode, "ambient");
}

idoc *ist_secret(mp_import *im, const char *ns, const char *name, mp_id c)
{
	for (uint32_t i = 0; i < im->ndocs; i++) {
		idoc *dc = &im->docs[i];
		if (k8s_is(dc, K8S_SECRET) && im_live(dc) && ist_same_cluster(dc->cluster, c) &&
		    !strcmp(im_str_of(im, dc->ns), ns) && !strcmp(im_str_of(im, dc->name), name))
			return dc;
	}
	return NULL;
}

/* --- pods --- */

/* Copies of dc's namespace and name in the state's arena (the model's strings move as findings
 * are interned); -1 out of memory. */
static int copy_names(mp_import *im, idoc *dc, const char **ns, const char **name)
{
	istio_state *st = istio_of(im);
	*ns = mp_arena_str(&st->arena, im_str_of(im, dc->ns));
	*name = mp_arena_str(&st->arena, im_str_of(im, dc->name));
	if (*ns && *name)
		return 0;
	im->oom = 1;
	return -1;
}

static int owned(idoc *dc)
{
	yaml_node_t *refs = im_get(dc, dc->meta, "ownerReferences");
	return refs && refs->type == YAML_SEQUENCE_NODE &&
	       refs->data.sequence.items.top > refs->data.sequence.items.start;
}

/* A container named istio-proxy with an image among the list (hasIstioProxy). */
static int has_proxy(idoc *dc, yaml_node_t *containers)
{
	yaml_node_t *c;
	if (!containers || containers->type != YAML_SEQUENCE_NODE)
		return 0;
	IM_SEQ_FOREACH(dc, containers, c)
	{
		const char *name = im_scalar(im_get(dc, c, "name"));
		if (name && !strcmp(name, "istio-proxy")) {
			const char *image = im_scalar(im_get(dc, c, "image"));
			return image && *image;
		}
	}
	return 0;
}

/* util.inMesh: a proxy container; else the inject label, else the inject annotation; else
 * the Namespace document's istio-injection label (a namespace without a document: no). */
static int in_mesh(mp_import *im, idoc *dc, const ist_pod *p, int init_containers)
{
	const char *v;
	if (has_proxy(dc, im_get(dc, p->spec, "containers")) ||
	    (init_containers && has_proxy(dc, im_get(dc, p->spec, "initContainers"))))
		return 1;
	if ((v = ist_label_value(&p->labels, "sidecar.istio.io/inject")) != NULL)
		return !strcmp(v, "true");
	yaml_node_t *ann = im_get(dc, p->meta, "annotations");
	if ((v = im_scalar(im_get(dc, ann, "sidecar.istio.io/inject"))) != NULL ||
	    (ann && im_get(dc, ann, "sidecar.istio.io/inject")))
		return v && !strcmp(v, "true");
	idoc *nsd = ist_namespace(im, p->ns, p->cluster);
	const char *inj = ist_ns_label(nsd, "istio-injection");
	return inj && !strcmp(inj, "enabled");
}

static ist_pod *push_pod(mp_import *im, istio_state *st, uint32_t *cap)
{
	if (st->npods == *cap) {
		uint32_t n = *cap ? 2 * *cap : 32;
		ist_pod *nv = mp_realloc(st->pods, n * sizeof(*nv));
		if (!nv) {
			im->oom = 1;
			return NULL;
		}
		st->pods = nv;
		*cap = n;
	}
	ist_pod *p = &st->pods[st->npods++];
	memset(p, 0, sizeof(*p));
	return p;
}

static void pods(mp_import *im, istio_state *st)
{
	static const ist_label dummy_labels[] = {{"istio", "ingressgateway"}};
	uint32_t cap = 0;
	int have_dummy = 0;
	for (uint32_t i = 0; i < im->ndocs && !im->oom; i++) {
		idoc *dc = &im->docs[i];
		int pod = k8s_is(dc, K8S_POD);
		if (!im_live(dc) ||
		    !(pod || ((k8s_is(dc, K8S_DEPLOYMENT) || k8s_is(dc, K8S_STATEFULSET) ||
		               k8s_is(dc, K8S_DAEMONSET) || k8s_is(dc, K8S_REPLICASET)) &&
		              !owned(dc))))
			continue;
		yaml_node_t *tmpl = pod ? NULL : im_get(dc, dc->spec, "template");
		ist_pod *p = push_pod(im, st, &cap);
		if (!p)
			return;
		p->dc = dc;
		if (copy_names(im, dc, &p->ns, &p->name) < 0) {
			st->npods--;
			return;
		}
		p->meta = pod ? dc->meta : im_get(dc, tmpl, "metadata");
		p->spec = pod ? dc->spec : im_get(dc, tmpl, "spec");
		p->cluster = dc->cluster;
		p->is_pod = (uint8_t)pod;
		ist_labels_of(im, dc, im_get(dc, p->meta, "labels"), &p->labels);
		p->in_mesh = (uint8_t)in_mesh(im, dc, p, pod);
		const char *redir = im_scalar(
		    im_get(dc, im_get(dc, p->meta, "annotations"), "ambient.istio.io/redirection"));
		p->ambient = redir && !strcmp(redir, "enabled");
		have_dummy |= pod && !strcmp(p->ns, ISTIO_NS) &&
		              !strcmp(p->name, "istio-ingressgateway-dummypod");
	}
	if (have_dummy || im->oom || st->arena.oom) {
		im->oom |= st->arena.oom;
		return;
	}
	ist_pod *p = push_pod(im, st, &cap);
	if (!p)
		return;
	p->ns = ISTIO_NS;
	p->name = "istio-ingressgateway-dummypod";
	p->labels = (ist_labels){dummy_labels, 1};
	p->cluster = MP_NONE;
	p->is_pod = 1; /* its istio-proxy container has no image: not in the mesh */
}

/* --- Services --- */

static void service_ports(mp_import *im, idoc *dc, ist_service *s)
{
	istio_state *st = istio_of(im);
	yaml_node_t *seq = im_get(dc, dc->spec, "ports"), *p;
	if (!seq || seq->type != YAML_SEQUENCE_NODE)
		return;
	size_t n = (size_t)(seq->data.sequence.items.top - seq->data.sequence.items.start);
	if (!(s->ports = mp_arena_alloc(&st->arena, (n ? n : 1) * sizeof(*s->ports)))) {
		im->oom = 1;
		return;
	}
	IM_SEQ_FOREACH(dc, seq, p)
	{
		if (p->type != YAML_MAPPING_NODE)
			continue;
		ist_port *o = &s->ports[s->nports++];
		const char *port = im_scalar(im_get(dc, p, "port"));
		o->port = port ? (uint32_t)strtoul(port, NULL, 10) : 0;
		o->target_text = im_scalar(im_get(dc, p, "targetPort"));
		char *end;
		unsigned long t = o->target_text ? strtoul(o->target_text, &end, 10) : 0;
		o->target = o->target_text && !*end ? (uint32_t)t : 0;
		o->name = im_scalar(im_get(dc, p, "name"));
		o->protocol = im_scalar(im_get(dc, p, "protocol"));
		o->app = im_scalar(im_get(dc, p, "appProtocol"));
		o->node = p;
	}
}

static void services(mp_import *im, istio_state *st)
{
	static ist_port dflt_ports[] = {
	    {80, 80, "80", "http2", "TCP", NULL, NULL},
	    {443, 443, "443", "https", "TCP", NULL, NULL},
	    {31400, 31400, "31400", "tcp", "TCP", NULL, NULL},
	    {15443, 15443, "15443", "tls", "TCP", NULL, NULL},
	};
	static const ist_label dflt_selector[] = {{"istio", "ingressgateway"}};
	uint32_t n = 1;
	for (uint32_t i = 0; i < im->ndocs; i++)
		n += k8s_is(&im->docs[i], K8S_SERVICE);
	if (!(st->svcs = mp_calloc(n, sizeof(*st->svcs)))) {
		im->oom = 1;
		return;
	}
	int have_default = 0;
	for (uint32_t i = 0; i < im->ndocs && !im->oom; i++) {
		idoc *dc = &im->docs[i];
		/* dead == 2: the same Service in another cluster, folded into one service */
		if (!k8s_is(dc, K8S_SERVICE) || dc->bad || dc->dead == 1 || dc->cluster == MP_NONE)
			continue;
		ist_service *s = &st->svcs[st->nsvcs++];
		s->dc = dc;
		if (copy_names(im, dc, &s->ns, &s->name) < 0) {
			st->nsvcs--;
			return;
		}
		s->type = im_scalar(im_get(dc, dc->spec, "type"));
		yaml_node_t *sel = im_get(dc, dc->spec, "selector");
		s->has_selector = sel && !im_is_null(sel);
		ist_labels_of(im, dc, sel, &s->selector);
		s->export_to = im_scalar(im_get(dc, im_get(dc, dc->meta, "annotations"),
		                                "networking.istio.io/exportTo"));
		s->cluster = dc->cluster;
		service_ports(im, dc, s);
		have_default |=
		    !strcmp(s->ns, ISTIO_NS) && !strcmp(s->name, "istio-ingressgateway");
	}
	if (have_default || im->oom || st->arena.oom) {
		im->oom |= st->arena.oom;
		return;
	}
	ist_service *s = &st->svcs[st->nsvcs++];
	s->ns = ISTIO_NS;
	s->name = "istio-ingressgateway";
	s->selector = (ist_labels){dflt_selector, 1};
	s->has_selector = 1;
	s->ports = dflt_ports;
	s->nports = 4;
	s->cluster = MP_NONE;
}

/* --- the MeshConfig --- */

/* Where the MeshConfig was read from, for its errors: the `istio` ConfigMap, whose key `mesh`
 * holds it as text (a block scalar's lines counted from the one after base), or the file. */
typedef struct {
	mp_import *im;
	idoc *cm;               /* the ConfigMap, or NULL: the file */
	const yaml_node_t *key; /* its data.mesh */
	uint32_t base;
	const char *file; /* the file of option mesh-config */
} mesh_src;

/* An error in the MeshConfig at line (its own, 1-based) of what src read; what follows
 * "data.mesh" (or "the MeshConfig file") in the message. */
static void mesh_error(const mesh_src *src, uint32_t line, const char *fmt, ...)
{
	char msg[512], at[96];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (!src->cm) {
		mp_diags_add(src->im->d, MP_DIAG_ERROR, src->file, line, 0, "the MeshConfig file%s",
		             msg);
		return;
	}
	if (src->base)
		snprintf(at, sizeof(at), "its line %u, line %u of the file", line,
		         src->base + line);
	else
		snprintf(at, sizeof(at), "its line %u", line);
	im_error(src->im, src->cm, src->key, "data.mesh%s (%s)", msg, at);
}

/* The MeshConfig fields the analyzers and the authorization read, from the mapping root of
 * document dc. meshpol is the extensionProviders entry named as option meshpol-provider; it
 * must be one of the Envoy ext_authz kinds istiod builds a CUSTOM filter for
 * (pilot/pkg/security/authz/builder/extauthz.go: envoyExtAuthzGrpc, envoyExtAuthzHttp). */
static void mesh_read(const mesh_src *src, idoc *dc, yaml_node_t *root, ist_mesh *m)
{
	mp_import *im = src->im;
	const char *meshpol = istio_of(im)->meshpol_option;
	yaml_node_t *md = im_get(dc, im_get(dc, root, "defaultConfig"), "proxyMetadata"), *x;
	const char *v;
	v = im_scalar(im_get(dc, md, "ISTIO_META_DNS_CAPTURE"));
	m->dns_capture = v && !strcmp(v, "true");
	v = im_scalar(im_get(dc, md, "ISTIO_META_DNS_AUTO_ALLOCATE"));
	m->dns_alloc = v && !strcmp(v, "true");
	v = im_scalar(im_get(dc, md, "PILOT_ENABLE_IP_AUTOALLOCATE"));
	m->dns_alloc |= v && !strcmp(v, "true");
	yaml_node_t *al = im_get(dc, im_get(dc, root, "defaultProviders"), "accessLogging");
	m->access_log_providers = al && al->type == YAML_SEQUENCE_NODE &&
	                          al->data.sequence.items.top > al->data.sequence.items.start;
	yaml_node_t *ep = im_get(dc, root, "extensionProviders");
	if (ep && ep->type != YAML_SEQUENCE_NODE)
		mesh_error(src, (uint32_t)ep->start_mark.line + 1,
		           ": extensionProviders must be a list");
	else if (ep)
		IM_SEQ_FOREACH(dc, ep, x)
		{
			const char *name = im_scalar(im_get(dc, x, "name"));
			if (name && im_get(dc, x, "lightstep") && m->nlightstep < 32)
				m->lightstep[m->nlightstep++] = name;
			if (!name || !meshpol || strcmp(name, meshpol))
				continue;
			if (im_get(dc, x, "envoyExtAuthzGrpc") ||
			    im_get(dc, x, "envoyExtAuthzHttp"))
				m->meshpol = name;
			else
				mesh_error(src, (uint32_t)x->start_mark.line + 1,
				           ": extension provider '%s' is meshpol's name (option "
				           "meshpol-provider) but not an envoyExtAuthzGrpc or "
				           "envoyExtAuthzHttp provider",
				           name);
		}
	if ((v = im_scalar(im_get(dc, root, "rootNamespace"))) != NULL)
		m->root_ns = v;
	if ((v = im_scalar(im_get(dc, root, "clusterDomain"))) != NULL)
		m->cluster_domain = v;
}

/* Was option name given (not its default)? */
static int option_given(mp_import *im, const char *name)
{
	const mp_import_opts *o = im->o;
	for (uint32_t i = 0; o && i < o->nprovider_opts; i++)
		if (!strcmp(o->provider_opts[i].provider, mp_provider_istio.name) &&
		    !strcmp(o->provider_opts[i].name, name))
			return 1;
	return 0;
}

int ist_mesh_load(mp_import *im, istio_state *st)
{
	const mp_import_opts *o = im->o;
	const char *file =
	    mp_provider_option_value(o ? o->provider_opts : NULL, o ? o->nprovider_opts : 0,
	                             mp_provider_istio.name, "mesh-config");
	if (!file || !*file)
		return 0;
	int r = mp_yaml_load_file(file, 1u << 20, &st->meshdoc, im->d);
	if (r < 0)
		return -1;
	if (r == 0) {
		mp_diags_add(im->d, MP_DIAG_ERROR, file, 0, 0, "the MeshConfig file is empty");
		return -1;
	}
	st->has_meshdoc = 1;
	st->meshfile = file;
	return 0;
}

void ist_mesh_free(istio_state *st)
{
	if (st->has_meshdoc)
		yaml_document_delete(&st->meshdoc);
	st->has_meshdoc = 0;
}

/* The `istio` ConfigMap of istio-system, or NULL. */
static idoc *mesh_configmap(mp_import *im)
{
	for (uint32_t i = 0; i < im->ndocs; i++) {
		idoc *dc = &im->docs[i];
		if (k8s_is(dc, K8S_CONFIGMAP) && !dc->dead && !dc->bad &&
		    !strcmp(im_str_of(im, dc->ns), ISTIO_NS) &&
		    !strcmp(im_str_of(im, dc->name), "istio"))
			return dc;
	}
	return NULL;
}

/* The ConfigMap's data.mesh into st->meshdoc (kept: the MeshConfig's strings are its). */
static void mesh_parse(mesh_src *src, istio_state *st)
{
	idoc *cm = src->cm;
	yaml_node_t *key = im_get(cm, im_get(cm, cm->root, "data"), "mesh");
	const char *text = im_scalar(key);
	mp_diags d = {0};
	if (!key)
		return; /* no MeshConfig: Istio's defaults */
	src->key = key;
	if (!text) {
		im_error(src->im, cm, key, "data.mesh must be a string holding MeshConfig as YAML");
		return;
	}
	/* a block scalar's first line is the one after its key */
	if (key->data.scalar.style == YAML_LITERAL_SCALAR_STYLE ||
	    key->data.scalar.style == YAML_FOLDED_SCALAR_STYLE)
		src->base = im_loc(cm, key).line;
	int rc = mp_yaml_load_buf("data.mesh", text, strlen(text), &st->meshdoc, &d);
	if (rc < 0)
		mesh_error(src, d.n ? d.v[0].line : 0, " is not valid YAML: %s",
		           d.n ? d.v[0].msg : "unreadable");
	st->has_meshdoc = rc == 1;
	mp_diags_free(&d);
}

void ist_mesh_read(mp_import *im)
{
	istio_state *st = istio_of(im);
	ist_mesh *m = &st->mesh;
	mesh_src src = {.im = im, .file = st->meshfile};
	memset(m, 0, sizeof(*m));
	m->root_ns = st->rootns;
	m->cluster_domain = "cluster.local";
	if (!st->meshfile && (src.cm = mesh_configmap(im)) != NULL)
		mesh_parse(&src, st);
	if (st->has_meshdoc) {
		idoc fake;
		memset(&fake, 0, sizeof(fake));
		fake.doc = st->meshdoc;
		yaml_node_t *root = yaml_document_get_root_node(&st->meshdoc);
		if (root && root->type == YAML_MAPPING_NODE)
			mesh_read(&src, &fake, root, m);
		else if (root)
			mesh_error(&src, (uint32_t)root->start_mark.line + 1,
			           " must be a mapping (MeshConfig)");
	}
	if (option_given(im, "root-namespace"))
		m->root_ns = st->rootns;
	st->rootns = m->root_ns;
}

int ist_reads(mp_import *im, idoc *dc)
{
	const char *name = im_str_of(im, dc->name);
	return k8s_is(dc, K8S_CONFIGMAP) && !strcmp(im_str_of(im, dc->ns), ISTIO_NS) &&
	       (!strcmp(name, "istio") || !strncmp(name, "istio-sidecar-injector", 22));
}

void ist_view(mp_import *im)
{
	istio_state *st = istio_of(im);
	if (st->viewed)
		return;
	st->viewed = 1;
	pods(im, st);
	services(im, st);
}
