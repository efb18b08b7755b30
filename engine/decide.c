/* decide.c: the decision engine. A request resolves against the model once; the candidate
 * rules come from the bundle's index by destination; matching is structural (no Lua) except
 * for a rule's `when`, which runs in the evaluator's sandbox under an instruction budget and
 * fails closed. Semantics: docs/policy-language.md ("Decisions"). */
#include "decide.h"
#include "decide_index.h"
#include "decision_json.h"
#include "diag.h"
#include "luajson.h"
#include "provider.h"
#include "reqin.h"
#include "sandbox.h"

#include <assert.h>
#include <ctype.h>
#include <lauxlib.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define MAX_PATH MP_DINDEX_PATH_MAX /* the path buffer; decide_index.h */

typedef struct {
	const mp_request *r;
	const mp_model *m;
	mp_id src_svc, src_ns, dst_svc, dst_ext;
	mp_id src_cluster, dst_cluster;       /* MP_NONE: any of the service's clusters */
	int src_cluster_bad, dst_cluster_bad; /* a cluster was named that the service is not in */
	const char *path;                     /* normalised; NULL when absent or too long */
	int path_too_long;
	size_t principal_len, path_len;
	mp_str principal_id; /* the principal as a model string, or MP_NONE */
	uint32_t method_bit;
	const mp_dindex_rec *recs; /* the destination's rule records (bundle's index), or NULL */
	uint32_t nrecs;
	const lua_State
	    *req_L;     /* whose registry holds this decision's `req` (req_key); NULL: none */
	int explaining; /* an explanation is asked for: whys may be written into why */
	char path_buf[MAX_PATH]; /* resolve() clears everything before it */
	char why[384];           /* a why made for this rule (explaining only); not cleared */
} resolved;

const char *mp_effect_name(uint32_t effect)
{
	static const char *const names[] = {"allowed", "forbidden", "not_permitted"};
	return effect < 3 ? names[effect] : "?";
}

/* --- reading the input: one table per object of the decision input, checked in one place
 * (read_object). The shape: docs/cli.md ("decide"); an unknown key anywhere but inside the
 * free-form objects (context, request.headers, request.auth.claims, source.labels) is an error
 * that names its path and the nearest valid key. --- */

#define REQ(member) offsetof(mp_request, member)

static const mp_in_key auth_keys[] = {
    {"principal", IN_STRING, IN_NONE, NULL},
    {"audiences", IN_STRINGS, IN_NONE, NULL},
    {"presenter", IN_STRING, IN_NONE, NULL},
    {"claims", IN_ANY, IN_NONE, NULL},
    {NULL, 0, 0, NULL},
};
static const mp_in_key source_keys[] = {
    {"principal", IN_STRING, REQ(principal), NULL},
    {"namespace", IN_STRING, REQ(src_namespace), NULL},
    {"service", IN_STRING, REQ(src_service), NULL},
    {"ip", IN_STRING, REQ(src_ip), NULL},
    {"remote_ip", IN_STRING, REQ(src_remote_ip), NULL},
    {"cluster", IN_STRING, REQ(src_cluster), NULL},
    {"labels", IN_STRMAP, REQ(src_labels), NULL},
    {"peer", IN_STRING, REQ(src_peer), NULL},
    {"partition", IN_STRING, REQ(src_partition), NULL},
    {NULL, 0, 0, NULL},
};
static const mp_in_key destination_keys[] = {
    {"service", IN_STRING, REQ(dst_service), NULL},
    {"namespace", IN_STRING, REQ(dst_namespace), NULL},
    {"port", IN_PORT, REQ(port), NULL},
    {"cluster", IN_STRING, REQ(dst_cluster), NULL},
    {"ip", IN_STRING, REQ(dst_ip), NULL},
    {"workload", IN_STRING, REQ(dst_workload), NULL},
    {"external", IN_BOOL, REQ(dst_external), NULL},
    {NULL, 0, 0, NULL},
};
static const mp_in_key request_keys[] = {
    {"method", IN_STRING, REQ(method), NULL},
    {"path", IN_STRING, REQ(path), NULL},
    {"headers", IN_HEADERS, IN_NONE, NULL},
    {"host", IN_STRING, REQ(host), NULL},
    {"sni", IN_STRING, REQ(sni), NULL},
    {"auth", IN_OBJECT, REQ(auth), auth_keys},
    {NULL, 0, 0, NULL},
};
const mp_in_key mp_in_keys[] = {
    {"source", IN_OBJECT, IN_NONE, source_keys},
    {"destination", IN_OBJECT, IN_NONE, destination_keys},
    {"request", IN_OBJECT, IN_NONE, request_keys},
    {"context", IN_ANY, REQ(context), NULL},
    {NULL, 0, 0, NULL},
};

const mp_in_key *mp_in_find(const mp_in_key *keys, const char *name, size_t len)
{
	for (; keys->name; keys++)
		if (!strncmp(keys->name, name, len) && !keys->name[len])
			return keys;
	return NULL;
}

/* "path: unknown key (did you mean 'x'?)" for a key of the client's (quoted: it is its text). */
static void unknown_key(const mp_in_key *keys, const char *parent, const char *key, char *err,
                        size_t errlen)
{
	const char *names[16];
	size_t n = 0;
	char q[96], hint[256];
	for (; keys->name && n + 1 < sizeof(names) / sizeof(names[0]); keys++)
		names[n++] = keys->name;
	names[n] = NULL;
	snprintf(err, errlen, "%s%s%s: unknown key (%s)", parent, *parent ? "." : "",
	         mp_diag_quote(key, strlen(key), q, sizeof(q)),
	         mp_diag_hint(key, names, hint, sizeof(hint)));
}

/* Every member of the object v must be a string: "path.NAME: must be a string" if not. */
static int check_strings(json_t *v, const char *path, char *err, size_t errlen)
{
	const char *k;
	json_t *m;
	json_object_foreach(v, k, m)
	{
		if (!json_is_string(m))
			goto fail;
	}
	return 0;
fail:;
	char q[96]; /* a name is the client's text: escape it */
	snprintf(err, errlen, "%s.%s: must be a string", path,
	         mp_diag_quote(k, strlen(k), q, sizeof(q)));
	return -1;
}

static int read_headers(json_t *v, mp_request *r, mp_header *hbuf, char *err, size_t errlen)
{
	const char *k;
	json_t *m;
	if (check_strings(v, "request.headers", err, errlen) < 0)
		return -1;
	if (json_object_size(v) > MP_REQUEST_MAX_HEADERS) {
		snprintf(err, errlen, "request.headers: more than %d headers",
		         MP_REQUEST_MAX_HEADERS);
		return -1;
	}
	r->headers = hbuf;
	json_object_foreach(v, k, m)
	{
		hbuf[r->nheaders].name = k;
		hbuf[r->nheaders++].value = json_string_value(m);
	}
	return 0;
}

static int read_object(json_t *obj, const mp_in_key *keys, const char *parent, mp_request *r,
                       mp_header *hbuf, char *err, size_t errlen);

/* One value of the input at path, whose key is key; null counts as absent. */
static int read_value(json_t *v, const mp_in_key *key, const char *path, mp_request *r,
                      mp_header *hbuf, char *err, size_t errlen)
{
	char *field = key->off == IN_NONE ? NULL : (char *)r + key->off;
	const char *want = NULL;
	if (json_is_null(v))
		return 0;
	switch (key->type) {
	case IN_STRING:
		if (!json_is_string(v))
			want = "must be a string";
		else if (field)
			*(const char **)field = json_string_value(v);
		break;
	case IN_PORT:
		if (!json_is_integer(v) || json_integer_value(v) < 1 ||
		    json_integer_value(v) > 65535)
			want = "must be an integer 1..65535";
		else if (field)
			*(uint32_t *)field = (uint32_t)json_integer_value(v);
		break;
	case IN_BOOL:
		if (!json_is_boolean(v))
			want = "must be true or false";
		else if (field)
			*(int *)field = json_is_true(v);
		break;
	case IN_STRINGS: {
		size_t i, n = json_is_array(v) ? json_array_size(v) : 0;
		for (i = 0; i < n && json_is_string(json_array_get(v, i)); i++)
			;
		if (json_is_array(v) ? i < n : !json_is_string(v))
			want = "must be a string or a list of strings";
		break;
	}
	case IN_STRMAP:
		if (!json_is_object(v))
			want = "must be an object of strings";
		else if (check_strings(v, path, err, errlen) < 0)
			goto fail;
		else if (field)
			*(json_t **)field = v;
		break;
	case IN_HEADERS:
		if (!json_is_object(v))
			want = "must be an object";
		else if (read_headers(v, r, hbuf, err, errlen) < 0)
			goto fail;
		break;
	case IN_ANY:
		if (!json_is_object(v))
			want = "must be an object";
		else if (field)
			*(json_t **)field = v;
		break;
	case IN_OBJECT:
		if (!json_is_object(v))
			want = "must be an object";
		else if (read_object(v, key->keys, path, r, hbuf, err, errlen) < 0)
			goto fail;
		else if (field)
			*(json_t **)field = v;
		break;
	}
	if (want) {
		snprintf(err, errlen, "%s: %s", path, want);
		goto fail;
	}
	return 0;
fail:
	return -1;
}

/* out = "parent.name" (or name at the top), for messages; our own names, so it fits (a longer
 * one is cut). Without snprintf: it runs for every key of every decision's input. */
static void join_path(char *out, size_t cap, const char *parent, const char *name)
{
	size_t np = strlen(parent), nn = strlen(name), n = 0;
	if (np && np + 1 < cap) {
		memcpy(out, parent, np);
		out[np] = '.';
		n = np + 1;
	}
	if (nn > cap - 1 - n)
		nn = cap - 1 - n;
	memcpy(out + n, name, nn);
	out[n + nn] = '\0';
}

/* Reads every member of obj through keys; parent is obj's path ("" at the top). */
static int read_object(json_t *obj, const mp_in_key *keys, const char *parent, mp_request *r,
                       mp_header *hbuf, char *err, size_t errlen)
{
	const char *k;
	json_t *v;
	json_object_foreach(obj, k, v)
	{
		const mp_in_key *key = mp_in_find(keys, k, strlen(k));
		char path[64];
		if (!key) {
			unknown_key(keys, parent, k, err, errlen);
			goto fail;
		}
		join_path(path, sizeof(path), parent, key->name);
		if (read_value(v, key, path, r, hbuf, err, errlen) < 0)
			goto fail;
	}
	return 0;
fail:
	return -1;
}

int mp_request_from_json(json_t *input, mp_request *r, mp_header *hbuf, char *err, size_t errlen)
{
	memset(r, 0, sizeof(*r));
	if (!json_is_object(input)) {
		snprintf(err, errlen, "the decision input must be a JSON object");
		goto fail;
	}
	if (read_object(input, mp_in_keys, "", r, hbuf, err, errlen) < 0)
		goto fail;
	if (!json_is_object(json_object_get(input, "destination"))) {
		snprintf(err, errlen, "destination: missing (destination.service is required)");
		goto fail;
	}
	if (!r->dst_service || !*r->dst_service) {
		snprintf(err, errlen, "destination.service: missing");
		goto fail;
	}
	return 0;
fail:
	memset(r, 0, sizeof(*r));
	return -1;
}

int mp_request_field_check(const char *path, char *err, size_t errlen)
{
	const mp_in_key *keys = mp_in_keys;
	char parent[64] = "", seg[64];
	const char *p = path;
	size_t len = strlen(path);
	if (!len || path[0] == '.' || path[len - 1] == '.' || strstr(path, "..")) {
		snprintf(err, errlen, "'%s' is not a dotted path into the decision input", path);
		goto fail;
	}
	int depth = 1;
	size_t seglen = 0;
	for (const char *q = path; *q; q++) {
		if (*q == '.') {
			depth++;
			seglen = 0;
		} else if (++seglen > MP_MASK_MAX_SEGMENT) {
			snprintf(err, errlen,
			         "'%.32s...' is longer than a masked key can be (%d bytes)",
			         q + 1 - seglen, MP_MASK_MAX_SEGMENT);
			goto fail;
		}
	}
	if (depth > MP_MASK_MAX_DEPTH) {
		snprintf(err, errlen,
		         "'%.64s%s' is %d fields deep: a mask names fields %d deep at most", path,
		         len > 64 ? "..." : "", depth, MP_MASK_MAX_DEPTH);
		goto fail;
	}
	for (;;) {
		const char *dot = strchr(p, '.');
		size_t n = dot ? (size_t)(dot - p) : strlen(p);
		if (n >= sizeof(seg)) {
			snprintf(err, errlen, "'%.*s...' is longer than any key", 32, p);
			goto fail;
		}
		memcpy(seg, p, n);
		seg[n] = '\0';
		const mp_in_key *key = mp_in_find(keys, seg, strlen(seg));
		if (!key) {
			unknown_key(keys, parent, seg, err, errlen);
			goto fail;
		}
		snprintf(parent + strlen(parent), sizeof(parent) - strlen(parent), "%s%s",
		         parent[0] ? "." : "", key->name);
		if (!dot)
			return 0;
		p = dot + 1;
		if (key->type == IN_OBJECT) {
			keys = key->keys;
		} else if (key->type == IN_ANY) { /* anything below */
			return 0;
		} else if (key->type == IN_STRMAP || key->type == IN_HEADERS) {
			if (!strchr(p, '.')) /* one name below */
				return 0;
			snprintf(err, errlen, "%s: holds names one level deep (%s.NAME)", parent,
			         parent);
			goto fail;
		} else {
			snprintf(err, errlen, "%s: is a value, not an object: nothing is below it",
			         parent);
			goto fail;
		}
	}
fail:
	return -1;
}

/* --- resolving --- */

/* The namespace of a SPIFFE ID of the form spiffe://DOMAIN/ns/NS/sa/SA. */
/* A destination named as a host, the way a proxy's Host header names it (/v1/check): the
 * service svc of namespace ns for "svc.ns", "svc.ns.svc" and "svc.ns.svc.DOMAIN" (Kubernetes'
 * DNS names; a trailing dot and upper case allowed); MP_NONE for anything else. */
static mp_id service_of_host(const mp_model *m, const char *host)
{
	char svc[256], ns[256];
	size_t n = host ? strlen(host) : 0;
	if (n && host[n - 1] == '.')
		n--;
	const char *dot1 = host ? memchr(host, '.', n) : NULL;
	if (!dot1 || dot1 == host || (size_t)(dot1 - host) >= sizeof(svc))
		return MP_NONE;
	const char *rest = dot1 + 1, *end = host + n;
	const char *dot2 = memchr(rest, '.', (size_t)(end - rest));
	size_t nslen = (size_t)((dot2 ? dot2 : end) - rest);
	if (!nslen || nslen >= sizeof(ns))
		return MP_NONE;
	if (dot2) { /* the third label must be "svc": "svc.ns.svc[.DOMAIN]" */
		const char *dot3 = memchr(dot2 + 1, '.', (size_t)(end - dot2 - 1));
		size_t third = (size_t)((dot3 ? dot3 : end) - dot2 - 1);
		if (third != 3 || strncasecmp(dot2 + 1, "svc", 3))
			return MP_NONE;
	}
	for (size_t i = 0; i < (size_t)(dot1 - host); i++)
		svc[i] = (char)tolower((unsigned char)host[i]);
	svc[dot1 - host] = '\0';
	for (size_t i = 0; i < nslen; i++)
		ns[i] = (char)tolower((unsigned char)rest[i]);
	ns[nslen] = '\0';
	return mp_model_find_service_ns(m, ns, svc);
}

static mp_id namespace_of_spiffe(const mp_model *m, const char *p)
{
	const char *ns = p ? strstr(p, "/ns/") : NULL;
	if (!ns)
		return MP_NONE;
	ns += 4;
	const char *end = strchr(ns, '/');
	size_t len = end ? (size_t)(end - ns) : strlen(ns);
	mp_str s = mp_model_find_str(m, ns, len);
	if (s == MP_NONE)
		return MP_NONE;
	char buf[256];
	if (len >= sizeof(buf))
		return MP_NONE;
	memcpy(buf, ns, len);
	buf[len] = '\0';
	return mp_model_find_namespace(m, buf);
}

/* The cluster a request names for a service: its id when the service runs there; *bad when a
 * name was given that is not one of the service's clusters. */
static mp_id resolve_cluster(const mp_model *m, mp_id svc, const char *name, int *bad)
{
	*bad = 0;
	if (!name || svc == MP_NONE)
		return MP_NONE;
	mp_model_view v = mp_model_get_view(m);
	mp_id c = mp_model_find_cluster(m, name);
	const mp_service *s = &v.services[svc];
	for (uint32_t i = 0; c != MP_NONE && i < s->clusters.n; i++)
		if (v.u32[s->clusters.off + i] == c)
			return c;
	*bad = 1;
	return MP_NONE;
}

/* Resolves the request against the model; x (the bundle's index, or NULL) answers for the
 * strings it holds what the model's lookups below would. */
static void resolve(resolved *q, const mp_model *m, const mp_dindex *x, const mp_request *r)
{
	const mp_dindex_key *k = NULL, *dk = NULL;
	/* every field but path_buf (2 KiB, written only when there is a path) and why */
	memset(q, 0, offsetof(resolved, path_buf));
	q->r = r;
	q->m = m;
	q->src_svc = q->src_ns = q->dst_svc = q->dst_ext = MP_NONE;
	q->src_cluster = q->dst_cluster = q->principal_id = MP_NONE;
	if (r->principal)
		q->principal_len = strlen(r->principal);
	if (x) { /* both keys' slots asked for at once; the destination's records as soon as known
		  */
		size_t dlen = r->dst_namespace ? 0 : strlen(r->dst_service);
		uint64_t ph = r->principal ? mp_dindex_hash(r->principal, q->principal_len) : 0,
		         dh = r->dst_namespace ? 0 : mp_dindex_hash(r->dst_service, dlen);
		if (r->principal)
			mp_dindex_prefetch(x, ph);
		if (!r->dst_namespace)
			mp_dindex_prefetch(x, dh);
		if (!r->dst_namespace && (dk = mp_dindex_find(x, r->dst_service, dlen, dh))) {
			q->recs = x->svc_recs + dk->rec_off;
			q->nrecs = dk->rec_n;
			for (uint32_t i = 0; i < q->nrecs; i += 64 / sizeof(*q->recs))
				__builtin_prefetch(q->recs + i);
		}
		if (r->principal)
			k = mp_dindex_find(x, r->principal, q->principal_len, ph);
	}
	if (k) {
		q->principal_id = k->str;
		q->src_svc = k->ident_svc;
	} else if (r->principal) {
		q->principal_id = mp_model_find_str(m, r->principal, q->principal_len);
		if (q->principal_id != MP_NONE)
			q->src_svc = mp_model_find_service_by_identity_id(m, q->principal_id);
	}
	if (q->src_svc == MP_NONE && r->src_service)
		q->src_svc = r->src_namespace
		                 ? mp_model_find_service_ns(m, r->src_namespace, r->src_service)
		                 : mp_model_find_service(m, r->src_service);
	if (q->src_svc != MP_NONE)
		q->src_ns = k && k->ident_svc == q->src_svc
		                ? k->ident_ns
		                : mp_model_get_view(m).services[q->src_svc].ns;
	else if (r->src_namespace)
		q->src_ns = mp_model_find_namespace(m, r->src_namespace);
	else
		q->src_ns = namespace_of_spiffe(m, r->principal);
	if (dk)
		q->dst_svc = dk->named_svc;
	else
		q->dst_svc = r->dst_namespace
		                 ? mp_model_find_service_ns(m, r->dst_namespace, r->dst_service)
		                 : mp_model_find_service(m, r->dst_service);
	if (q->dst_svc == MP_NONE) {
		q->recs = NULL; /* decide_rules finds the external's row */
		q->dst_ext = mp_model_find_external(m, r->dst_service);
	}
	if (q->dst_svc == MP_NONE && q->dst_ext == MP_NONE && !r->dst_namespace)
		q->dst_svc = service_of_host(m, r->dst_service);
	if (r->src_cluster)
		q->src_cluster =
		    resolve_cluster(m, q->src_svc, r->src_cluster, &q->src_cluster_bad);
	if (r->dst_cluster)
		q->dst_cluster =
		    resolve_cluster(m, q->dst_svc, r->dst_cluster, &q->dst_cluster_bad);
	q->method_bit = r->method ? mp_method_bit(r->method) : 0;
	if (r->path) {
		long n;
		if (mp_dindex_path_normal(r->path, &q->path_len)) {
			q->path = r->path;
		} else if ((n = mp_path_normalize(r->path, q->path_buf, sizeof(q->path_buf), 1)) <
		           0) {
			q->path_too_long = 1;
			q->path_len = 0;
		} else {
			q->path = q->path_buf;
			q->path_len = (size_t)n;
		}
	}
}

/* --- structural matching: NULL when the rule matches, else why not --- */

static int has_label(const mp_model *m, mp_id svc, const mp_kv *kv)
{
	mp_model_view v = mp_model_get_view(m);
	const mp_service *s = &v.services[svc];
	for (uint32_t i = 0; i < s->labels.n; i++) {
		const mp_label *l = &v.labels[s->labels.off + i];
		if (!strcmp(mp_model_str(m, l->key), kv->key) &&
		    !strcmp(mp_model_str(m, l->value), kv->value))
			return 1;
	}
	return 0;
}

/* The keys of `from` and what failing each means, in the order match_source checks them. */
enum { FROM_AUTH, FROM_PRINCIPALS, FROM_NAMESPACES, FROM_SERVICES, FROM_LABELS, NFROM };

/* When `from` has several keys (each must match), an explanation says which one failed and
 * which matched before it: "the caller is not one of the rule's services; its namespace
 * matched (every key of the rule's `from` must)". fail: the key that failed; why: its words. */
static const char *source_why(const mp_source *s, resolved *q, int fail, const char *why)
{
	static const char *const names[NFROM] = {"it has a principal", "its principal",
	                                         "its namespace", "it is one of the services",
	                                         "its labels"};
	if (!q->explaining) /* deciding, not explaining: every declared route in an audit */
		return why;
	const int present[NFROM] = {s->authenticated, s->nprincipals > 0, s->nnamespaces > 0,
	                            s->nservices > 0, s->nlabels > 0};
	int keys = 0, matched = 0;
	for (int k = 0; k < NFROM; k++)
		keys += present[k];
	if (keys < 2)
		return why;
	size_t at = (size_t)snprintf(q->why, sizeof(q->why), "%s", why);
	for (int k = 0; k < fail && at < sizeof(q->why); k++)
		if (present[k])
			at += (size_t)snprintf(q->why + at, sizeof(q->why) - at, "%s%s",
			                       matched++ ? " and " : "; ", names[k]);
	if (at < sizeof(q->why))
		snprintf(q->why + at, sizeof(q->why) - at,
		         "%s (every key of the rule's `from` must "
		         "match: %d here)",
		         matched ? " matched" : "", keys);
	return q->why;
}

static const char *match_source(const mp_source *s, resolved *q)
{
	const mp_request *r = q->r;
	if (s->any)
		return NULL;
	if (s->authenticated && !r->principal)
		return source_why(s, q, FROM_AUTH, "the caller has no principal");
	if (s->nprincipals) {
		uint32_t i;
		for (i = 0; i < s->nprincipals; i++) {
			const mp_pattern *p = &s->principals[i];
			if (p->id != MP_NONE) { /* exact, interned: the ids decide */
				if (p->id == q->principal_id)
					break;
			} else if (mp_pattern_match(p, r->principal, q->principal_len)) {
				break;
			}
		}
		if (i == s->nprincipals)
			return source_why(s, q, FROM_PRINCIPALS,
			                  r->principal
			                      ? "the caller's principal matches none of the "
			                        "rule's"
			                      : "the caller has no principal");
	}
	if (s->nnamespaces) {
		uint32_t i;
		for (i = 0; i < s->nnamespaces && s->namespaces[i] != q->src_ns; i++)
			;
		if (i == s->nnamespaces)
			return source_why(s, q, FROM_NAMESPACES,
			                  "the caller's namespace is not one of the rule's");
	}
	if (s->nservices) {
		uint32_t i;
		for (i = 0; i < s->nservices && s->services[i] != q->src_svc; i++)
			;
		if (i == s->nservices)
			return source_why(s, q, FROM_SERVICES,
			                  "the caller is not one of the rule's services");
	}
	for (uint32_t i = 0; i < s->nlabels; i++)
		if (q->src_svc == MP_NONE || !has_label(q->m, q->src_svc, &s->labels[i]))
			return source_why(s, q, FROM_LABELS,
			                  "the caller lacks a label the rule requires");
	return NULL;
}

static const char *match_request(const mp_rule *rule, resolved *q)
{
	const mp_request *r = q->r;
	const char *why = match_source(&rule->from, q);
	if (why)
		return why;
	if (rule->methods && !(rule->methods & q->method_bit))
		return r->method ? "the method is not one of the rule's"
		                 : "the request has no method";
	if (rule->npaths) {
		uint32_t i;
		for (i = 0; i < rule->npaths; i++)
			if (mp_pattern_match(&rule->paths[i], q->path, q->path_len))
				break;
		if (i == rule->npaths)
			return q->path ? "the path matches none of the rule's patterns"
			               : "the request has no path";
	}
	if (rule->nports) {
		uint32_t i;
		for (i = 0; i < rule->nports && rule->ports[i] != r->port; i++)
			;
		if (i == rule->nports)
			return "the port is not one of the rule's";
	}
	for (uint32_t i = 0; i < rule->nheaders; i++) {
		const mp_header_match *h = &rule->headers[i];
		uint32_t k;
		for (k = 0; k < r->nheaders; k++)
			if (!strcasecmp(r->headers[k].name, h->name) &&
			    mp_pattern_match(&h->value, r->headers[k].value,
			                     strlen(r->headers[k].value)))
				break;
		if (k == r->nheaders)
			return "a header the rule requires is missing or different";
	}
	return NULL;
}

/* Is the service (or external) outside the jurisdictions? A service counts as outside when any
 * of its clusters is, unless the request named the cluster. Unknown counts as outside. */
static int outside(const mp_model *m, mp_id svc, mp_id cluster, int cluster_bad, mp_id ext,
                   const mp_rule *rule)
{
	mp_model_view v = mp_model_get_view(m);
	if (cluster_bad)
		return 1;
	if (svc != MP_NONE) {
		const mp_service *s = &v.services[svc];
		for (uint32_t i = 0; i < s->clusters.n; i++) {
			mp_id cl = v.u32[s->clusters.off + i];
			if (cluster != MP_NONE && cl != cluster)
				continue;
			mp_id j = mp_model_jurisdiction_of_region(m, v.clusters[cl].region);
			uint32_t k;
			for (k = 0; k < rule->njurisdictions && rule->jurisdictions[k] != j; k++)
				;
			if (j == MP_NONE || k == rule->njurisdictions)
				return 1;
		}
		return 0;
	}
	if (ext != MP_NONE) {
		mp_id j = v.externals[ext].jurisdiction;
		for (uint32_t k = 0; k < rule->njurisdictions; k++)
			if (rule->jurisdictions[k] == j)
				return 0;
	}
	return 1;
}

static int handles(const mp_model *m, mp_id svc, mp_str cls)
{
	if (svc == MP_NONE || cls == MP_NONE)
		return 0;
	mp_model_view v = mp_model_get_view(m);
	const mp_service *s = &v.services[svc];
	for (uint32_t i = 0; i < s->data.n; i++)
		if (v.u32[s->data.off + i] == cls)
			return 1;
	return 0;
}

static const char *add_text(mp_decision *d, const char *fmt, const char *a, const char *b);

/* Where a peer of a residency rule is: "cluster C, region R, jurisdiction J" for the cluster
 * of svc (the one asked for, else the first outside the rule's jurisdictions), or an
 * external's region and jurisdiction. */
static void peer_place(const mp_model *m, mp_id svc, mp_id cluster, mp_id ext, const mp_rule *rule,
                       char *buf, size_t len)
{
	mp_model_view v = mp_model_get_view(m);
	mp_id j = MP_NONE;
	mp_str region = 0;
	const char *cname = NULL;
	if (svc != MP_NONE) {
		const mp_service *s = &v.services[svc];
		for (uint32_t i = 0; i < s->clusters.n && !cname; i++) {
			mp_id cl = v.u32[s->clusters.off + i];
			mp_id cj = mp_model_jurisdiction_of_region(m, v.clusters[cl].region);
			uint32_t k;
			for (k = 0; k < rule->njurisdictions && rule->jurisdictions[k] != cj; k++)
				;
			if (cluster != MP_NONE ? cl != cluster
			                       : k < rule->njurisdictions && cj != MP_NONE)
				continue;
			cname = mp_model_str(m, v.clusters[cl].name);
			region = v.clusters[cl].region;
			j = cj;
		}
	} else if (ext != MP_NONE) {
		region = v.externals[ext].region;
		j = v.externals[ext].jurisdiction;
	}
	snprintf(buf, len, "%s%s%sregion %s, %s%s", cname ? "cluster " : "", cname ? cname : "",
	         cname ? ", " : "", region ? mp_model_str(m, region) : "unknown",
	         j != MP_NONE ? "jurisdiction " : "no jurisdiction",
	         j != MP_NONE ? mp_model_str(m, v.jurisdictions[j].name) : "");
}

/* The message of a residency rule that forbids a request, naming the peer outside: "MESSAGE
 * (the caller identity/auth is in cluster us-prod-1, region us-east-1, jurisdiction US)". */
static const char *residency_message(const mp_rule *rule, const resolved *q, mp_decision *d)
{
	const mp_model *m = q->m;
	mp_model_view v = mp_model_get_view(m);
	char place[300], peer[600];
	int caller = 0;
	for (uint32_t i = 0; i < rule->ndata && !caller; i++)
		caller = handles(m, q->dst_svc, rule->data_ids[i]) &&
		         outside(m, q->src_svc, q->src_cluster, q->src_cluster_bad, MP_NONE, rule);
	mp_id svc = caller ? q->src_svc : q->dst_svc;
	mp_id ext = caller ? MP_NONE : q->dst_ext;
	const char *name = svc != MP_NONE   ? mp_model_str(m, v.services[svc].name)
	                   : ext != MP_NONE ? mp_model_str(m, v.externals[ext].host)
	                                    : NULL;
	if (!name) {
		snprintf(peer, sizeof(peer),
		         "the %s is no service of the model, so it counts as outside",
		         caller ? "caller" : "destination");
	} else {
		peer_place(m, svc, caller ? q->src_cluster : q->dst_cluster, ext, rule, place,
		           sizeof(place));
		snprintf(
		    peer, sizeof(peer), "the %s %s%s%s is in %s", caller ? "caller" : "destination",
		    svc != MP_NONE ? mp_model_str(m, v.namespaces[v.services[svc].ns].name) : "",
		    svc != MP_NONE ? "/" : "", name, place);
	}
	return add_text(d, "%s (%s)",
	                rule->message ? rule->message : "data leaves its jurisdiction", peer);
}

/* Residency and traffic rules: NULL when the rule forbids the request (it "matches"). */
static const char *match_global(const mp_rule *rule, resolved *q)
{
	const mp_model *m = q->m;
	mp_model_view v = mp_model_get_view(m);
	switch (rule->type) {
	case MP_RULE_RESIDENCY:
		for (uint32_t i = 0; i < rule->ndata; i++) {
			mp_str cls = rule->data_ids[i];
			if (handles(m, q->dst_svc, cls) &&
			    outside(m, q->src_svc, q->src_cluster, q->src_cluster_bad, MP_NONE,
			            rule))
				return NULL;
			if (handles(m, q->src_svc, cls) &&
			    outside(m, q->dst_svc, q->dst_cluster, q->dst_cluster_bad, q->dst_ext,
			            rule))
				return NULL;
		}
		return "no side handles the data class with the other side outside the "
		       "jurisdiction";
	case MP_RULE_REQUIRE_MTLS:
		if (q->dst_svc != MP_NONE && v.services[q->dst_svc].mtls == MP_MTLS_STRICT &&
		    !q->r->principal)
			return NULL;
		return "the destination is not STRICT or the caller has a principal";
	case MP_RULE_DECLARED_ROUTES: {
		if (q->src_svc == MP_NONE || q->dst_svc == MP_NONE)
			return "the caller or the destination is not a service of the model";
		const char *why = match_source(&rule->from, q);
		if (why)
			return why;
		const mp_edge *e;
		uint32_t n = mp_model_edges_from(m, q->src_svc, &e);
		for (int pass = 0; pass < 2; pass++) {
			for (uint32_t i = 0; i < n; i++) {
				const mp_target *t = &v.targets[e[i].target];
				if (t->kind == MP_TARGET_SERVICE && t->id == q->dst_svc)
					return "the model declares a route for it";
			}
			n = mp_model_edges_any(m, &e);
		}
		return NULL;
	}
	}
	return "not a request rule";
}

/* --- `when` functions --- */

/* Replaces the table at idx, and every table it holds, by read-only proxies (sandbox.h), so
 * that no `when` can change what the next one sees. The tables are fresh, built for this decision:
 * rawset on them is safe. */
static void freeze(lua_State *L, int idx, const char *name)
{
	idx = lua_absindex(L, idx);
	luaL_checkstack(L, 6, "req");
	lua_pushnil(L);
	while (lua_next(L, idx)) {
		if (lua_istable(L, -1)) {
			lua_pushvalue(L, -2);
			lua_insert(L, -2);
			freeze(L, -1, name);
			lua_rawset(L, idx);
		} else {
			lua_pop(L, 1);
		}
	}
	mp_sandbox_push_readonly(L, idx, name);
	lua_replace(L, idx);
}

/* The registry key of the decision state of a Lua state: a table whose [1] is the last
 * decision's `req` and whose [2 + RQ_*] is the last string pushed for each field of the request
 * (see push_field). */
static const char req_key;
enum { RQ_SLOT_REQ = 1, RQ_SLOT_STR };

/* What a decision's `req` reads, copied into one userdata (its user values: RQ_UV_*), so that
 * a `req` a policy kept past its decision still reads its own request. Strings: pointers into
 * the block after the header, NULL when absent. */
enum {
	RQ_PRINCIPAL,
	RQ_SRC_NS,
	RQ_SRC_SVC,
	RQ_IP,
	RQ_DST_SVC,
	RQ_DST_NS,
	RQ_METHOD,
	RQ_PATH,
	RQ_N
};
/* The user values of a decision's userdata: the frozen context (or nil), the state's string
 * cache (push_field), then the fields req keeps (source, destination, request, context: the
 * lazy kind's keep_uv) and req.request.headers. */
enum {
	RQ_UV_CONTEXT = 1,
	RQ_UV_CACHE,
	RQ_UV_REQ,
	RQ_UV_HEADERS = RQ_UV_REQ + 4,
	RQ_NUV = RQ_UV_HEADERS
};
typedef struct {
	const char *s;
	size_t len;
} rq_str;
typedef struct {
	rq_str str[RQ_N];
	uint32_t port, nheaders;
	rq_str headers[]; /* nheaders pairs: the name in lower case, the value */
} rq_data;

static void push_rq(lua_State *L, const rq_str *s)
{
	if (s->s)
		lua_pushlstring(L, s->s, s->len);
	else
		lua_pushnil(L);
}

enum { RQ_CACHE_MIN = 16 }; /* bytes from which a string is worth looking up in the cache */

/* Pushes field f of the data d at stack index data (present). A string of RQ_CACHE_MIN bytes or
 * more is taken from the state's cache (the data's RQ_UV_CACHE, req_key's table) when the last
 * one pushed for f has the same bytes, else made and cached: Lua hashes every byte of a string
 * it makes, and the same principal is read by every `when` of a decision and by the next
 * decisions. A string is a value (two of the same bytes cannot be told apart), so nothing of one
 * request reaches another through the cache. */
static void push_field(lua_State *L, int data, const rq_data *d, int f)
{
	const rq_str *s = &d->str[f];
	size_t len;
	if (s->len < RQ_CACHE_MIN || lua_getiuservalue(L, data, RQ_UV_CACHE) != LUA_TTABLE) {
		if (s->len >= RQ_CACHE_MIN)
			lua_pop(L, 1);
		lua_pushlstring(L, s->s, s->len);
		return;
	}
	if (lua_rawgeti(L, -1, RQ_SLOT_STR + f) == LUA_TSTRING) {
		const char *c = lua_tolstring(L, -1, &len);
		if (len == s->len && memcmp(c, s->s, len) == 0) {
			lua_remove(L, -2);
			return;
		}
	}
	lua_pop(L, 1);
	lua_pushlstring(L, s->s, s->len);
	lua_pushvalue(L, -1);
	lua_rawseti(L, -3, RQ_SLOT_STR + f); /* the array part is made whole: no growth */
	lua_remove(L, -2);
}

/* req.source's fields (principal, namespace, service, ip), made from d's strings on each read. */
static int make_source(lua_State *L, int data, int i)
{
	const rq_data *d = lua_touserdata(L, data);
	if (!d->str[RQ_PRINCIPAL + i].s)
		return 0;
	push_field(L, data, d, RQ_PRINCIPAL + i);
	return 1;
}
static const char *const rq_source[] = {"principal", "namespace", "service", "ip", NULL};
static const mp_sandbox_lazy source_kind = {make_source, rq_source, 4, 0xf, 0};

/* req.destination's fields: service, namespace, port (absent when 0). */
static int make_destination(lua_State *L, int data, int i)
{
	const rq_data *d = lua_touserdata(L, data);
	if (i == 2) {
		if (!d->port)
			return 0;
		lua_pushinteger(L, d->port);
		return 1;
	}
	if (!d->str[RQ_DST_SVC + i].s)
		return 0;
	push_field(L, data, d, RQ_DST_SVC + i);
	return 1;
}
static const char *const rq_destination[] = {"service", "namespace", "port", NULL};
static const mp_sandbox_lazy destination_kind = {make_destination, rq_destination, 3, 0x7, 0};

static int make_request(lua_State *L, int data, int i);
static const char *const request_fields[] = {"method", "path", "headers", NULL};
static const mp_sandbox_lazy request_kind = {make_request, request_fields, 3, 0x3,
                                             RQ_UV_HEADERS - 2};

/* req.request's fields: method, path, headers (a plain read-only table, made whole). */
static int make_request(lua_State *L, int data, int i)
{
	const rq_data *d = lua_touserdata(L, data);
	if (i < 2) {
		if (!d->str[RQ_METHOD + i].s)
			return 0;
		push_field(L, data, d, RQ_METHOD + i);
		return 1;
	}
	lua_createtable(L, 0, (int)d->nheaders);
	for (uint32_t h = 0; h < d->nheaders; h++) {
		push_rq(L, &d->headers[2 * h]);
		push_rq(L, &d->headers[2 * h + 1]);
		lua_rawset(L, -3);
	}
	mp_sandbox_push_readonly(L, -1, "req");
	lua_remove(L, -2);
	return 1;
}

/* req's fields: source, destination, request (lazy, like req: views of the same data), context. */
static int make_req(lua_State *L, int data, int i)
{
	static const mp_sandbox_lazy *const views[] = {&source_kind, &destination_kind,
	                                               &request_kind};
	switch (i) {
	case 0:
	case 1:
	case 2:
		lua_pushvalue(L, data);
		mp_sandbox_push_lazy(L, views[i], "req");
		break;
	default:
		if (lua_getiuservalue(L, data, RQ_UV_CONTEXT) != LUA_TTABLE) {
			lua_pop(L, 1);
			lua_createtable(L, 0, 0);
			mp_sandbox_push_readonly(L, -1, "req");
			lua_remove(L, -2);
		}
	}
	return 1;
}
static const char *const req_fields[] = {"source", "destination", "request", "context", NULL};
static const mp_sandbox_lazy req_kind = {make_req, req_fields, 4, 0, RQ_UV_REQ};

/* Pushes a fresh, read-only `req` for one decision's `when` calls, whose fields are made when
 * first read, and keeps it at req_key (runs protected, in the first `when`'s call: it allocates
 * in the capped state). */
static void push_new_req(lua_State *L, resolved *q)
{
	const mp_request *r = q->r;
	mp_model_view v = mp_model_get_view(q->m);
	const char *str[RQ_N] = {
	    [RQ_PRINCIPAL] = r->principal,
	    [RQ_SRC_NS] = q->src_ns != MP_NONE ? mp_model_str(q->m, v.namespaces[q->src_ns].name)
	                                       : r->src_namespace,
	    [RQ_SRC_SVC] = q->src_svc != MP_NONE ? mp_model_str(q->m, v.services[q->src_svc].name)
	                                         : r->src_service,
	    [RQ_IP] = r->src_ip,
	    [RQ_DST_SVC] = r->dst_service,
	    [RQ_DST_NS] = q->dst_svc != MP_NONE
	                      ? mp_model_str(q->m, v.namespaces[v.services[q->dst_svc].ns].name)
	                      : r->dst_namespace,
	    [RQ_METHOD] = r->method,
	    [RQ_PATH] = q->path};
	size_t lens[RQ_N], bytes = 0;
	for (int i = 0; i < RQ_N; i++)
		bytes += (lens[i] = str[i] ? strlen(str[i]) : 0);
	for (uint32_t h = 0; h < r->nheaders; h++)
		bytes += strlen(r->headers[h].name) +
		         (r->headers[h].value ? strlen(r->headers[h].value) : 0);
	size_t head = sizeof(rq_data) + 2 * (size_t)r->nheaders * sizeof(rq_str);
	rq_data *d = lua_newuserdatauv(L, head + bytes, RQ_NUV);
	char *p = (char *)d + head;
	for (int i = 0; i < RQ_N; i++) {
		d->str[i] = (rq_str){str[i] ? p : NULL, lens[i]};
		if (str[i])
			p = (char *)memcpy(p, str[i], lens[i]) + lens[i];
	}
	d->port = r->port;
	d->nheaders = r->nheaders;
	for (uint32_t h = 0; h < r->nheaders; h++) {
		rq_str *n = &d->headers[2 * h];
		n->s = p;
		for (const char *c = r->headers[h].name; *c; c++)
			*p++ = (char)(*c >= 'A' && *c <= 'Z' ? *c + 32 : *c);
		n->len = (size_t)(p - n->s);
		const char *val = r->headers[h].value;
		n[1] = (rq_str){val ? p : NULL, val ? strlen(val) : 0};
		if (val)
			p = (char *)memcpy(p, val, n[1].len) + n[1].len;
	}
	/* the context is the client's to shape: converted now, while the input lives */
	if (r->context && !(json_is_object(r->context) && json_object_size(r->context) == 0)) {
		mp_luajson_push(L, r->context);
		if (lua_istable(L, -1))
			freeze(L, -1, "req");
		lua_setiuservalue(L, -2, RQ_UV_CONTEXT);
	}
	if (lua_rawgetp(L, LUA_REGISTRYINDEX, &req_key) != LUA_TTABLE) {
		lua_pop(L, 1);
		lua_createtable(L, RQ_SLOT_STR - 1 + RQ_N, 0);
		lua_pushvalue(L, -1);
		lua_rawsetp(L, LUA_REGISTRYINDEX, &req_key);
	}
	lua_pushvalue(L, -1);
	lua_setiuservalue(L, -3, RQ_UV_CACHE);
	lua_insert(L, -2);
	mp_sandbox_push_lazy(L, &req_kind, "req");
	lua_pushvalue(L, -1);
	lua_rawseti(L, -3, RQ_SLOT_REQ);
	lua_remove(L, -2);
	q->req_L = L;
}

/* The call of a decision's first `when`: (fn, q) -> fn(req), req built first. Building it in
 * the same protected call as the `when` saves a call; what it allocates (a few hundred bytes,
 * some 30 units) is paid from that `when`'s budget. */
static int call_first_when(lua_State *L)
{
	resolved *q = lua_touserdata(L, 2);
	lua_settop(L, 1);
	push_new_req(L, q);
	lua_call(L, 1, 1);
	return 1;
}

/* Formats a message made at decision time into the decision's text buffer. The arguments can
 * carry a client's text (a destination name, a `when` error quoting the request), so control
 * characters are escaped, and a cut never splits a UTF-8 sequence (JSON needs it whole). */
static const char *add_text(mp_decision *d, const char *fmt, const char *a, const char *b)
{
	char raw[512], clean[sizeof(d->text)];
	char *p = d->text + d->text_used;
	size_t left = sizeof(d->text) - d->text_used;
	if (left < 2)
		return "(message dropped)";
	int n = snprintf(raw, sizeof(raw), fmt, a, b);
	mp_diag_quote(raw,
	              n < 0                     ? 0
	              : (size_t)n < sizeof(raw) ? (size_t)n
	                                        : sizeof(raw) - 1,
	              clean, left < sizeof(clean) ? left : sizeof(clean));
	size_t len = strlen(clean);
	if (len > 0) {
		size_t i = len - 1;
		while (i > 0 && ((unsigned char)clean[i] & 0xc0) == 0x80)
			i--;
		unsigned char lead = (unsigned char)clean[i];
		size_t need = lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : lead >= 0xc0 ? 2 : 1;
		if (len - i < need)
			len = i;
	}
	memcpy(p, clean, len);
	p[len] = '\0';
	d->text_used += len + 1;
	return p;
}

/* Pushes the `req` built for this decision in L and returns 1; 0, pushing nothing, when none
 * was (reads only: cannot raise). */
static int push_built_req(lua_State *L, const resolved *q)
{
	int top = lua_gettop(L);
	if (q->req_L != L)
		return 0;
	if (lua_rawgetp(L, LUA_REGISTRYINDEX, &req_key) == LUA_TTABLE &&
	    lua_rawgeti(L, -1, RQ_SLOT_REQ) == LUA_TTABLE) {
		lua_remove(L, -2);
		return 1;
	}
	lua_settop(L, top);
	return 0;
}

/* 1: the `when` holds, 0: it does not, -1: it failed (message in *msg). */
static int run_when(mp_evaluator *ev, const mp_rule *rule, resolved *q, mp_decision *d,
                    const char **msg)
{
	char err[400];
	mp_sandbox *sb = mp_evaluator_sandbox(ev, err, sizeof(err));
	mp_evaluator_stats_of(ev)->when_calls++;
	if (!sb)
		goto fail;
	lua_State *L = mp_sandbox_lua(sb);
	if (mp_evaluator_push_fn(ev, "whens", rule->when, err, sizeof(err)) < 0)
		goto fail;
	/* one `req` per decision, built for its first `when`: read-only all the way down, so
	 * what one `when` does cannot reach another's */
	int nargs = 1;
	if (!push_built_req(L, q)) { /* the decision's first `when` builds it */
		lua_pushcfunction(L, call_first_when);
		lua_insert(L, -2);
		lua_pushlightuserdata(L, q);
		nargs = 2;
	}
	if (mp_sandbox_pcall(sb, nargs, 1, err, sizeof(err)) < 0)
		goto fail;
	int ok = lua_toboolean(L, -1);
	lua_pop(L, 1);
	return ok;
fail:
	mp_evaluator_stats_of(ev)->when_errors++;
	*msg = add_text(d, "when failed: %s%s", err, "");
	return -1;
}

/* --- deciding --- */

static void push_reason(mp_decision *d, mp_reason r, int advisory)
{
	if (advisory) {
		if (d->nadvisories < sizeof(d->advisories) / sizeof(d->advisories[0]))
			d->advisories[d->nadvisories++] = r;
		return;
	}
	if (d->nreasons == MP_MAX_REASONS) {
		d->dropped++;
		return;
	}
	d->reasons[d->nreasons++] = r;
}

void mp_decision_add(mp_decision *d, uint32_t kind, const char *message, int advisory,
                     const mp_reason_origin *origin)
{
	mp_reason r = {MP_NONE, kind, message, {0}};
	if (origin)
		r.origin = *origin;
	push_reason(d, r, advisory);
}

const char *mp_decision_text(mp_decision *d, const char *fmt, const char *a, const char *b)
{
	return add_text(d, fmt, a, b);
}

static void add_reason(mp_decision *d, uint32_t rule, uint32_t kind, const char *message,
                       int advisory)
{
	push_reason(d, (mp_reason){rule, kind, message, {0}}, advisory);
}

static const char *type_name(uint32_t t)
{
	static const char *const names[] = {"allow", "deny", "residency", "require_mtls",
	                                    "declared_routes_only"};
	return t < 5 ? names[t] : "?";
}

static void explain_rule(json_t *explain, const mp_bundle *b, const mp_rule *rule, int matched,
                         const char *why)
{
	if (!explain)
		return;
	const mp_policy *p = &b->policies[rule->policy];
	json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:b}", "policy", p->name, "version",
	                      p->version ? p->version : "", "rule", rule->name, "type",
	                      type_name(rule->type), "source", rule->loc ? rule->loc : "",
	                      "matched", matched);
	if (o && rule->via)
		json_object_set_new(o, "via", json_string(rule->via));
	if (o && why)
		json_object_set_new(o, "why", json_string(why));
	if (o)
		json_array_append_new(explain, o);
}

/* What the enforcing rules said. */
typedef struct {
	int any_allow, any_deny, governs;
} verdict;

/* match_request for a rule its record describes (no MP_DREC_FULL): the same checks in the
 * same order, with the same reasons, from the 16 bytes of the record. */
static const char *match_record(const mp_dindex *x, const mp_dindex_rec *c, const resolved *q)
{
	const mp_request *r = q->r;
	if ((c->flags & MP_DREC_PRINCIPAL) && c->who != q->principal_id)
		return r->principal ? "the caller's principal matches none of the rule's"
		                    : "the caller has no principal";
	if ((c->flags & MP_DREC_NS) && c->who != q->src_ns)
		return "the caller's namespace is not one of the rule's";
	if (c->methods && !(c->methods & q->method_bit))
		return r->method ? "the method is not one of the rule's"
		                 : "the request has no method";
	if ((c->flags & MP_DREC_PATH) &&
	    !mp_pattern_match(&x->paths[c->path], q->path, q->path_len))
		return q->path ? "the path matches none of the rule's patterns"
		               : "the request has no path";
	return NULL;
}

/* One rule that can apply, matched (why NULL) or not: runs its `when`, explains it and records
 * what it says. rule is b->rules[index], or NULL when not read yet: a decision reads the
 * mp_rule only to explain, to run a `when` or to cite a message (flags: MP_DREC_*). */
static void consider(mp_evaluator *ev, const mp_bundle *b, resolved *q, mp_decision *d,
                     json_t *explain, int advisory, verdict *v, uint32_t index, const mp_rule *rule,
                     uint32_t flags, const char *why)
{
	uint32_t kind = flags & MP_DREC_DENY ? MP_REASON_DENY : MP_REASON_ALLOW;
	const char *msg = NULL;
	if (!rule && (explain || (flags & (MP_DREC_WHEN | MP_DREC_MESSAGE))))
		rule = &b->rules[index];
	if (rule)
		msg = rule->message;
	if (!why && rule && rule->type == MP_RULE_RESIDENCY) /* global rules: rule is given */
		msg = residency_message(rule, q, d);
	if (!why && (flags & MP_DREC_WHEN)) {
		int w = run_when(ev, rule, q, d, &msg);
		if (w == 0)
			why = "its when function returned false";
		else if (w < 0)
			kind = MP_REASON_ERROR; /* fail closed, when it enforces */
	}
	explain_rule(explain, b, rule, !why, why ? why : kind == MP_REASON_ERROR ? msg : NULL);
	if (why || (advisory && kind == MP_REASON_ALLOW))
		return;
	if (!advisory && kind == MP_REASON_ALLOW)
		v->any_allow = 1;
	else if (!advisory)
		v->any_deny = 1;
	add_reason(d, index, kind, msg, advisory);
}

/* Evaluates the rules that can apply to the request: the enforcing ones (advisory = 0) into v,
 * or the advisory ones (advisory = 1), which only add advisories, their failures included.
 * The destination's rules come as records (decide_index.h), in the index's order; the global
 * rules after them. */
static void decide_rules(mp_evaluator *ev, const mp_bundle *b, resolved *q, mp_decision *d,
                         json_t *explain, int advisory, verdict *v)
{
	const mp_dindex *x = b->dindex;
	const mp_dindex_rec *recs = q->recs;
	uint32_t n = q->nrecs;
	assert(x);
	if (!recs && q->dst_svc != MP_NONE) {
		recs = x->svc_recs + b->svc_off[q->dst_svc];
		n = b->svc_off[q->dst_svc + 1] - b->svc_off[q->dst_svc];
	} else if (!recs) {
		recs = x->ext_recs + b->ext_off[q->dst_ext];
		n = b->ext_off[q->dst_ext + 1] - b->ext_off[q->dst_ext];
	}
	for (uint32_t i = 0; i < n; i++) {
		const mp_dindex_rec *c = &recs[i];
		const mp_rule *rule = NULL;
		const char *why;
		if (!(c->flags & MP_DREC_ADVISORY) != !advisory)
			continue;
		if (c->flags & MP_DREC_FULL) {
			rule = &b->rules[c->rule];
			why = match_request(rule, q);
		} else {
			why = match_record(x, c, q);
		}
		v->governs |= !(c->flags & MP_DREC_DENY) && !advisory;
		if (!why || explain)
			consider(ev, b, q, d, explain, advisory, v, c->rule, rule, c->flags, why);
	}
	for (uint32_t i = 0; i < b->nglobal; i++) {
		const mp_rule *rule = &b->rules[b->global_rules[i]];
		if ((b->policies[rule->policy].enforcement == MP_ENF_ADVISORY) != advisory)
			continue;
		uint32_t flags = (rule->type == MP_RULE_ALLOW ? 0 : MP_DREC_DENY) |
		                 (rule->when ? MP_DREC_WHEN : 0);
		v->governs |= rule->type == MP_RULE_ALLOW && !advisory;
		consider(ev, b, q, d, explain, advisory, v, b->global_rules[i], rule, flags,
		         match_global(rule, q));
	}
}

/* A request to a DNS host the model does not declare: the providers' verdicts alone (no
 * bundle rule can name the host, and no provider's default applies to what it does not know).
 * 1 when some provider decided (d->effect set), 0 when every one abstained. */
static int undeclared_host(const mp_engine *e, const mp_request *r, const resolved *q,
                           mp_decision *d, json_t *explain)
{
	mp_provider_request pq = {r, e->model, q->src_svc, MP_NONE, MP_NONE, MP_NONE, 0};
	uint32_t mesh = MP_PROVIDER_ABSTAIN;
	for (uint32_t i = 0; i < e->nproviders; i++) {
		const mp_provider_state *s = &e->providers[i];
		uint32_t pv = s->p->decide(s->state, &pq, d, explain);
		if (pv > mesh)
			mesh = pv;
	}
	if (mesh == MP_PROVIDER_ABSTAIN) {
		d->nreasons = 0;
		return 0;
	}
	if (mesh != MP_PROVIDER_ALLOW) { /* a denied request cites its denials only */
		uint32_t k = 0;
		for (uint32_t i = 0; i < d->nreasons; i++)
			if (d->reasons[i].kind != MP_REASON_ALLOW)
				d->reasons[k++] = d->reasons[i];
		d->nreasons = k;
	}
	d->effect = mesh == MP_PROVIDER_ALLOW  ? MP_EFFECT_ALLOWED
	            : mesh == MP_PROVIDER_DENY ? MP_EFFECT_FORBIDDEN
	                                       : MP_EFFECT_NOT_PERMITTED;
	return 1;
}

void mp_decide(mp_evaluator *ev, const mp_request *r, mp_decision *d, json_t *explain)
{
	const mp_engine *e = mp_evaluator_engine(ev);
	const mp_bundle *b = e->bundle;
	resolved q;
	verdict v = {0};
	d->nreasons = d->dropped = d->nadvisories = 0; /* the arrays are written before read */
	d->text_used = 0;

	resolve(&q, e->model, b ? b->dindex : NULL, r);
	q.explaining = explain != NULL;
	d->src_svc = q.src_svc;
	d->dst_svc = q.dst_svc;
	d->dst_ext = q.dst_ext;
	mp_evaluator_stats_of(ev)->decisions++;

	if (q.dst_svc == MP_NONE && q.dst_ext == MP_NONE) {
		/* a DNS host the model does not declare (destination.external): a mesh that
		 * filters egress may still say something of it; else nothing is known of it */
		if (r->dst_external && !q.path_too_long && undeclared_host(e, r, &q, d, explain))
			goto out;
		add_reason(d, MP_NONE, MP_REASON_DENY,
		           add_text(d,
		                    "destination '%s' is not a service or external of the model%s",
		                    r->dst_service, ""),
		           0);
		d->effect = MP_EFFECT_NOT_PERMITTED;
		goto out;
	}
	if (q.path_too_long) { /* fail closed: no rule can be checked against it */
		add_reason(d, MP_NONE, MP_REASON_DENY, "the request path is longer than 2047 bytes",
		           0);
		d->effect = MP_EFFECT_FORBIDDEN;
		goto out;
	}
	if (b)
		decide_rules(ev, b, &q, d, explain, 0, &v);
	/* the mesh providers, in mp_providers' order; the most restrictive verdict wins */
	mp_provider_request pq = {r, e->model, q.src_svc, q.dst_svc, q.dst_ext, q.dst_cluster, 0};
	/* what meshpol's ext_authz service would answer, for a mesh that consults meshpol */
	pq.bundle = !b           ? MP_PROVIDER_BUNDLE_NONE
	            : v.any_deny ? MP_PROVIDER_BUNDLE_DENY
	            : v.any_allow || b->default_decision == MP_DEFAULT_ALLOW
	                ? MP_PROVIDER_BUNDLE_ALLOW
	                : MP_PROVIDER_BUNDLE_DENY;
	uint32_t mesh = MP_PROVIDER_ABSTAIN;
	const char *disagrees = NULL; /* the first allowing provider's */
	for (uint32_t i = 0; i < e->nproviders; i++) {
		const mp_provider_state *s = &e->providers[i];
		uint32_t pv = s->p->decide(s->state, &pq, d, explain);
		if (pv == MP_PROVIDER_ALLOW && !disagrees)
			disagrees = s->p->bundle_disagrees;
		if (pv > mesh)
			mesh = pv;
	}
	int any_allow = v.any_allow, any_deny = v.any_deny, governs = v.governs;
	if (any_deny || mesh == MP_PROVIDER_DENY || mesh == MP_PROVIDER_NOT_PERMITTED) {
		/* a denied request cites its denials only */
		uint32_t k = 0;
		for (uint32_t i = 0; i < d->nreasons; i++)
			if (d->reasons[i].kind != MP_REASON_ALLOW)
				d->reasons[k++] = d->reasons[i];
		d->nreasons = k;
		d->effect = any_deny || mesh == MP_PROVIDER_DENY ? MP_EFFECT_FORBIDDEN
		                                                 : MP_EFFECT_NOT_PERMITTED;
	} else if (any_allow) {
		d->effect = MP_EFFECT_ALLOWED;
	} else if (mesh == MP_PROVIDER_ALLOW && governs &&
	           b->default_decision != MP_DEFAULT_ALLOW) {
		/* both have a say: the bundle's allow rules for the destination must allow it too
		 */
		d->nreasons = 0;
		add_reason(d, MP_NONE, MP_REASON_DENY,
		           disagrees
		               ? disagrees
		               : "a mesh provider allows the request but the bundle, which has "
		                 "allow rules for this destination, allows none of it",
		           0);
		d->effect = MP_EFFECT_NOT_PERMITTED;
	} else if (mesh == MP_PROVIDER_ALLOW) {
		d->effect = MP_EFFECT_ALLOWED;
	} else if (b && b->default_decision == MP_DEFAULT_ALLOW) {
		d->effect = MP_EFFECT_ALLOWED;
	} else {
		/* no bundle and every provider abstained: the providers' defaults */
		uint32_t fb = MP_PROVIDER_ABSTAIN;
		for (uint32_t i = 0; !b && i < e->nproviders; i++) {
			const mp_provider_state *s = &e->providers[i];
			uint32_t pv = s->p->fallback ? s->p->fallback(s->state, &pq, d) : 0;
			if (pv > fb)
				fb = pv;
		}
		d->effect = fb == MP_PROVIDER_ALLOW  ? MP_EFFECT_ALLOWED
		            : fb == MP_PROVIDER_DENY ? MP_EFFECT_FORBIDDEN
		                                     : MP_EFFECT_NOT_PERMITTED;
	}
	/* advisory policies run once the decision is made, so nothing they do (fail included)
	 * can change it */
	if (b && b->dindex->any_advisory)
		decide_rules(ev, b, &q, d, explain, 1, &v);
out:
	d->allow = d->effect == MP_EFFECT_ALLOWED;
}

/* --- output --- */

void mp_uuid(char out[37])
{
	unsigned char b[16];
	if (RAND_bytes(b, sizeof(b)) != 1)
		memset(b, 0, sizeof(b));
	b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
	b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
	snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
	         b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12],
	         b[13], b[14], b[15]);
}

void mp_decision_reason(const mp_engine *e, const mp_decision *d, int advisory, uint32_t i,
                        mp_reason_text *out, char *buf, size_t len)
{
	static const char *const kinds[] = {"allow", "deny", "error", "audit"};
	const mp_reason *r = advisory ? &d->advisories[i] : &d->reasons[i];
	const mp_bundle *b = e->bundle;
	memset(out, 0, sizeof(*out));
	out->effect = r->kind < 4 ? kinds[r->kind] : "?";
	out->message = r->message ? r->message : "";
	if (r->origin.provider) { /* a mesh provider's resource */
		out->policy = r->origin.resource;
		out->version = r->origin.version;
		out->rule = r->origin.rule_name;
		out->source = r->origin.source;
		return;
	}
	if (r->rule == MP_NONE || !b) {
		out->policy = "meshpol";
		out->rule = "engine";
		return;
	}
	const mp_rule *rule = &b->rules[r->rule];
	const mp_policy *p = &b->policies[rule->policy];
	if (!r->message) {
		snprintf(buf, len, "%s by %s '%s'",
		         r->kind == MP_REASON_ALLOW ? "allowed" : "denied", type_name(rule->type),
		         rule->name);
		out->message = buf;
	}
	out->policy = p->name;
	out->version = p->version ? p->version : "";
	out->rule = rule->name;
	out->source = rule->loc ? rule->loc : "";
	out->via = rule->via;
}

json_t *mp_decision_json(const mp_engine *e, const mp_decision *d, const char *id)
{
	/* the one encoder's bytes, parsed: whatever it writes, every front-end shows */
	char storage[4096], uuid[37];
	mp_jsonbuf b;
	if (!id) {
		mp_uuid(uuid);
		id = uuid;
	}
	mp_jsonbuf_init(&b, storage, sizeof(storage));
	mp_decision_json_write(&b, e, d, id, MP_DECISION_JSON_OUTPUT);
	json_t *o = b.oom ? NULL : json_loadb(b.p, b.len, JSON_REJECT_DUPLICATES, NULL);
	mp_jsonbuf_free(&b);
	return o;
}

/* --- routes as a whole --- */

/* Can a path the route admits match the pattern? The route's path is exact, a prefix, or any
 * (regex routes count as any: too wide to reason about). */
static int path_compatible(const mp_pattern *p, uint32_t kind, const char *path, size_t len)
{
	if (p->kind == MP_PAT_ANY || kind == MP_PATH_ANY || kind == MP_PATH_REGEX)
		return 1;
	if (kind == MP_PATH_EXACT)
		return mp_pattern_match(p, path, len);
	/* a prefix route: some path under it matches when the pattern accepts the prefix, or the
	 * pattern's literal part starts with the prefix */
	if (mp_pattern_match(p, path, len))
		return 1;
	size_t lit = p->kind == MP_PAT_TEMPLATE ? strcspn(p->text, "{") : p->len;
	return p->kind != MP_PAT_SUFFIX && lit >= len && !memcmp(p->text, path, len);
}

/* Does the rule's request matching cover every request of the route? */
static int covers_route(const mp_rule *r, const mp_route *rt)
{
	if (r->when || r->nports || r->nheaders)
		return 0;
	if (r->methods && (!rt->match.methods || (rt->match.methods & ~r->methods)))
		return 0;
	for (uint32_t i = 0; i < r->npaths; i++)
		if (r->paths[i].kind == MP_PAT_ANY)
			return 1;
	return r->npaths == 0;
}

/* Can the rule match some request of the route? */
static int overlaps_route(const mp_model *m, const mp_rule *r, const mp_route *rt)
{
	if (r->methods && rt->match.methods && !(r->methods & rt->match.methods))
		return 0;
	if (!r->npaths)
		return 1;
	const char *path = mp_model_str(m, rt->match.path);
	for (uint32_t i = 0; i < r->npaths; i++)
		if (path_compatible(&r->paths[i], rt->match.path_kind, path, strlen(path)))
			return 1;
	return 0;
}

mp_route_verdict mp_decide_route(const mp_engine *e, mp_id route, uint32_t target, uint32_t *rule)
{
	const mp_model *m = e->model;
	const mp_bundle *b = e->bundle;
	mp_model_view v = mp_model_get_view(m);
	const mp_route *rt = &v.routes[route];
	const mp_target *t = &v.targets[target];
	const mp_service *src = &v.services[rt->source];
	mp_request r = {.principal = src->identity ? mp_model_str(m, src->identity) : NULL,
	                .dst_service = ""};
	resolved q;
	/* what resolve() would find, from the ids the route already has: no lookup by name (the
	 * audit decides every target of every declared route: 100,000 routes and more) */
	memset(&q, 0, offsetof(resolved, path_buf));
	q.r = &r;
	q.m = m;
	q.src_cluster = q.dst_cluster = MP_NONE;
	q.principal_len = r.principal ? mp_model_str_len(m, src->identity) : 0;
	q.principal_id = r.principal ? src->identity : MP_NONE;
	q.src_svc = rt->source;
	q.src_ns = src->ns;
	q.dst_svc = t->kind == MP_TARGET_SERVICE ? t->id : MP_NONE;
	q.dst_ext = t->kind == MP_TARGET_EXTERNAL ? t->id : MP_NONE;
	*rule = MP_NONE;
	if (!b)
		return MP_ROUTE_NOT_PERMITTED;
	const uint32_t *cand = q.dst_svc != MP_NONE ? b->svc_rules + b->svc_off[q.dst_svc]
	                                            : b->ext_rules + b->ext_off[q.dst_ext];
	uint32_t n = q.dst_svc != MP_NONE ? b->svc_off[q.dst_svc + 1] - b->svc_off[q.dst_svc]
	                                  : b->ext_off[q.dst_ext + 1] - b->ext_off[q.dst_ext];
	/* the destination's rule records (decide_index.h): most rules name one other caller, and
	 * their 16 bytes say so without reading the mp_rule */
	const mp_dindex *dx = b->dindex;
	const mp_dindex_rec *recs = !dx                    ? NULL
	                            : q.dst_svc != MP_NONE ? dx->svc_recs + b->svc_off[q.dst_svc]
	                                                   : dx->ext_recs + b->ext_off[q.dst_ext];
	int allowed = b->default_decision == MP_DEFAULT_ALLOW;
	for (uint32_t i = 0; i < n; i++) {
		const mp_dindex_rec *c = recs ? &recs[i] : NULL;
		assert(!c || c->rule == cand[i]);
		if (c && !(c->flags & MP_DREC_FULL) &&
		    ((c->flags & MP_DREC_ADVISORY) ||
		     ((c->flags & MP_DREC_PRINCIPAL) && c->who != q.principal_id) ||
		     ((c->flags & MP_DREC_NS) && c->who != q.src_ns)))
			continue; /* match_source's answer, from the record */
		const mp_rule *x = &b->rules[cand[i]];
		if ((!c || (c->flags & MP_DREC_FULL)) &&
		    (b->policies[x->policy].enforcement == MP_ENF_ADVISORY ||
		     match_source(&x->from, &q)))
			continue;
		if (x->type == MP_RULE_DENY && covers_route(x, rt)) {
			*rule = cand[i];
			return MP_ROUTE_FORBIDDEN;
		}
		if (x->type == MP_RULE_ALLOW && overlaps_route(m, x, rt))
			allowed = 1;
	}
	for (uint32_t i = 0; i < b->nglobal; i++) {
		const mp_rule *x = &b->rules[b->global_rules[i]];
		if (b->policies[x->policy].enforcement == MP_ENF_ADVISORY ||
		    x->type == MP_RULE_RESIDENCY || x->type == MP_RULE_DECLARED_ROUTES)
			continue;
		if (!match_global(x, &q)) { /* require_mtls: a caller without identity */
			*rule = b->global_rules[i];
			return MP_ROUTE_FORBIDDEN;
		}
	}
	return allowed ? MP_ROUTE_ALLOWED : MP_ROUTE_NOT_PERMITTED;
}
