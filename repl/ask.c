/* ask.c: :decide, :why and :who-can, and the request forms they share with the Lua side's
 * `decide` (see ask.h; output formats in docs/repl.md). */
#include "ask.h"
#include "alloc.h"
#include "policy.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_TAIL_HEADERS 16
#define MAX_PROBES       64

static const char *const method_names[] = {"GET",   "HEAD",    "POST",    "PUT",  "DELETE",
                                           "PATCH", "OPTIONS", "CONNECT", "TRACE"};
#define NMETHODS (sizeof(method_names) / sizeof(method_names[0]))

/* --- the request after SRC -> DST: [METHOD] [PATH] [h:NAME=VALUE]... [:PORT] --- */

typedef struct {
	char method[16];
	const char *path;
	uint32_t port;
	const char *hname[MAX_TAIL_HEADERS]; /* point into the words (names cut at '=') */
	const char *hvalue[MAX_TAIL_HEADERS];
	uint32_t nheaders;
} req_tail;

/* Reads the tail's words (modifies them: header names are cut at '='). 0 or -1 with err. */
static int parse_tail(char **w, int n, req_tail *t, char *err, size_t errlen)
{
	memset(t, 0, sizeof(*t));
	for (int i = 0; i < n; i++) {
		char *s = w[i];
		if (s[0] == '/') {
			if (t->path) {
				snprintf(err, errlen, "two paths ('%s' and '%s')", t->path, s);
				return -1;
			}
			t->path = s;
		} else if (s[0] == ':' && s[1]) {
			char *end;
			long port = strtol(s + 1, &end, 10);
			if (*end || port < 1 || port > 65535) {
				snprintf(err, errlen, "port '%s': give :1..65535", s);
				return -1;
			}
			t->port = (uint32_t)port;
		} else if ((s[0] == 'h' || s[0] == 'H') && s[1] == ':') {
			char *eq = strchr(s + 2, '=');
			if (!eq || eq == s + 2) {
				snprintf(err, errlen, "header '%s': write h:NAME=VALUE", s);
				return -1;
			}
			if (t->nheaders == MAX_TAIL_HEADERS) {
				snprintf(err, errlen, "more than %d headers", MAX_TAIL_HEADERS);
				return -1;
			}
			*eq = '\0';
			t->hname[t->nheaders] = s + 2;
			t->hvalue[t->nheaders++] = eq + 1;
		} else {
			size_t k = 0;
			char up[16];
			for (; s[k] && k + 1 < sizeof(up) && isalpha((unsigned char)s[k]); k++)
				up[k] = (char)toupper((unsigned char)s[k]);
			up[k] = '\0';
			if (s[k] || !k) {
				snprintf(
				    err, errlen,
				    "unexpected '%s' (expected a METHOD, a /PATH, h:NAME=VALUE or "
				    ":PORT)",
				    s);
				return -1;
			}
			if (!mp_method_bit(up)) {
				snprintf(err, errlen, "unknown method '%s'", s);
				return -1;
			}
			if (t->method[0]) {
				snprintf(err, errlen, "two methods ('%s' and '%s')", t->method, s);
				return -1;
			}
			memcpy(t->method, up, k + 1);
		}
	}
	return 0;
}

/* A service by reference, with a message naming the alternatives when a name is ambiguous. */
static mp_id find_service(const mp_model *m, const char *ref, char *err, size_t errlen)
{
	mp_id s = mp_model_find_service(m, ref);
	const mp_id *ids;
	uint32_t n = s == MP_NONE ? mp_model_services_named(m, ref, &ids) : 0;
	if (n > 1) {
		mp_model_view v = mp_model_get_view(m);
		size_t o = (size_t)snprintf(
		    err, errlen, "'%s' names %u services: write namespace/name (", ref, n);
		for (uint32_t i = 0; i < n && o < errlen; i++)
			o += (size_t)snprintf(
			    err + o, errlen - o, "%s%s/%s", i ? ", " : "",
			    mp_model_str(m, v.namespaces[v.services[ids[i]].ns].name), ref);
		if (o < errlen)
			snprintf(err + o, errlen - o, ")");
	}
	return s;
}

static char *trim(char *s)
{
	while (isspace((unsigned char)*s))
		s++;
	size_t n = strlen(s);
	while (n && isspace((unsigned char)s[n - 1]))
		s[--n] = '\0';
	return s;
}

/* Splits "REF@CLUSTER"; returns the cluster or NULL. */
static const char *cut_cluster(char *word)
{
	char *at = strrchr(word, '@');
	if (!at || at == word || strncmp(word, "spiffe://", 9) == 0)
		return NULL;
	*at = '\0';
	return at + 1;
}

static int add_source(const mp_model *m, json_t *src, char *word, char *err, size_t errlen)
{
	const char *cluster = cut_cluster(word);
	if (cluster)
		json_object_set_new(src, "cluster", json_string(cluster));
	if (!strcmp(word, "-"))
		return 0;
	if (!strncmp(word, "spiffe://", 9)) {
		json_object_set_new(src, "principal", json_string(word));
		return 0;
	}
	err[0] = '\0';
	mp_id s = find_service(m, word, err, errlen);
	if (s == MP_NONE) {
		if (!err[0])
			snprintf(err, errlen,
			         "no service '%s' in the model (give a service, namespace/name, a "
			         "SPIFFE "
			         "ID, or - for a caller without identity)",
			         word);
		return -1;
	}
	mp_model_view v = mp_model_get_view(m);
	if (v.services[s].identity)
		json_object_set_new(src, "principal",
		                    json_string(mp_model_str(m, v.services[s].identity)));
	json_object_set_new(src, "service", json_string(mp_model_str(m, v.services[s].name)));
	json_object_set_new(src, "namespace",
	                    json_string(mp_model_str(m, v.namespaces[v.services[s].ns].name)));
	return 0;
}

static int add_destination(const mp_model *m, json_t *dst, char *word, char *err, size_t errlen)
{
	const char *cluster = cut_cluster(word);
	if (cluster)
		json_object_set_new(dst, "cluster", json_string(cluster));
	err[0] = '\0';
	mp_id s = find_service(m, word, err, errlen);
	if (s != MP_NONE) {
		mp_model_view v = mp_model_get_view(m);
		json_object_set_new(dst, "service",
		                    json_string(mp_model_str(m, v.services[s].name)));
		json_object_set_new(
		    dst, "namespace",
		    json_string(mp_model_str(m, v.namespaces[v.services[s].ns].name)));
		return 0;
	}
	if (mp_model_find_external(m, word) != MP_NONE) {
		json_object_set_new(dst, "service", json_string(word));
		return 0;
	}
	if (!err[0])
		snprintf(err, errlen, "no service or external '%s' in the model", word);
	return -1;
}

json_t *mp_ask_parse(const mp_model *m, const char *text, char *err, size_t errlen)
{
	char *copy = mp_strdup(text), **w = NULL;
	json_t *in = NULL;
	int n = 0;
	if (!copy) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	char *s = trim(copy);
	if (s[0] == '{') {
		json_error_t je;
		in = json_loads(s, JSON_REJECT_DUPLICATES, &je);
		if (!in)
			snprintf(err, errlen, "invalid JSON at column %d: %s", je.column, je.text);
		goto out;
	}
	char *arrow = strstr(s, "->");
	if (!arrow) {
		snprintf(err, errlen,
		         "expected SRC -> DST [METHOD] [PATH] [h:NAME=VALUE]... [:PORT], or a JSON "
		         "decision input");
		goto out;
	}
	*arrow = '\0';
	char *src = trim(s);
	if (!*src || strpbrk(src, " \t")) {
		snprintf(err, errlen, "the source must be one word: a service, a SPIFFE ID or -");
		goto out;
	}
	n = mp_shell_split(arrow + 2, &w);
	if (n < 0) {
		snprintf(err, errlen, "unbalanced quotes");
		goto out;
	}
	if (n == 0) {
		snprintf(err, errlen, "missing the destination after '->'");
		goto out;
	}
	req_tail t;
	if (parse_tail(w + 1, n - 1, &t, err, errlen) < 0)
		goto out;
	json_t *jsrc = json_object(), *jdst = json_object(), *jreq = json_object();
	in = json_object();
	json_object_set_new(in, "source", jsrc);
	json_object_set_new(in, "destination", jdst);
	json_object_set_new(in, "request", jreq);
	if (!in || !jsrc || !jdst || !jreq) {
		snprintf(err, errlen, "out of memory");
		json_decref(in);
		in = NULL;
		goto out;
	}
	if (add_source(m, jsrc, src, err, errlen) < 0 ||
	    add_destination(m, jdst, w[0], err, errlen) < 0) {
		json_decref(in);
		in = NULL;
		goto out;
	}
	if (t.port)
		json_object_set_new(jdst, "port", json_integer(t.port));
	if (t.method[0])
		json_object_set_new(jreq, "method", json_string(t.method));
	if (t.path)
		json_object_set_new(jreq, "path", json_string(t.path));
	if (t.nheaders) {
		json_t *h = json_object();
		for (uint32_t i = 0; i < t.nheaders; i++)
			json_object_set_new(h, t.hname[i], json_string(t.hvalue[i]));
		json_object_set_new(jreq, "headers", h);
	}
out:
	mp_shell_free_words(w, n);
	mp_free(copy);
	return in;
}

/* --- deciding --- */

void mp_ask_forget(mp_shell *sh)
{
	mp_shell_decision *d = sh->last;
	if (!d)
		return;
	mp_engine_release(d->engine);
	json_decref(d->input);
	json_decref(d->explain);
	mp_free(d);
	sh->last = NULL;
}

/* Lets Ctrl-C reach the `when` functions of the evaluator. */
static void busy_evaluator(mp_shell *sh)
{
	const mp_bundle *b = sh->engine->bundle;
	if (b && (b->nwhens || b->nruns))
		mp_shell_busy(mp_shell_ev_sandbox(sh));
}

const mp_shell_decision *mp_ask_decide(mp_shell *sh, json_t *input, char *err, size_t errlen)
{
	if (!sh->engine) {
		json_decref(input);
		snprintf(err, errlen, "no model is loaded (load one with :mesh MODEL)");
		return NULL;
	}
	mp_shell_decision *d = mp_calloc(1, sizeof(*d));
	if (!d) {
		json_decref(input);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	d->input = input;
	if (mp_request_from_json(input, &d->req, d->hbuf, err, errlen) < 0) {
		json_decref(input);
		mp_free(d);
		return NULL;
	}
	d->engine = mp_engine_retain(sh->engine);
	busy_evaluator(sh);
	double t0 = mp_shell_now();
	mp_decide(sh->ev, &d->req, &d->dec, NULL);
	d->seconds = mp_shell_now() - t0;
	d->explain = json_array();
	mp_decide(sh->ev, &d->req, &d->dec, d->explain);
	snprintf(d->id, sizeof(d->id), "repl-%llu", (unsigned long long)++sh->ndecisions);
	mp_ask_forget(sh);
	sh->last = d;
	return d;
}

json_t *mp_ask_json(const mp_shell_decision *d, int explain)
{
	json_t *o = mp_decision_json(d->engine, &d->dec, d->id);
	if (!o)
		return NULL;
	if (explain && d->explain)
		json_object_set(o, "explain", d->explain);
	return o;
}

static void print_json(const mp_shell *sh, json_t *o)
{
	(void)sh;
	char *s = o ? json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
	if (s)
		printf("%s\n", s);
	free(s);
}

/* --- describing --- */

static const char *svc_ref(const mp_model *m, mp_id s, char *buf, size_t len)
{
	mp_model_view v = mp_model_get_view(m);
	snprintf(buf, len, "%s/%s", mp_model_str(m, v.namespaces[v.services[s].ns].name),
	         mp_model_str(m, v.services[s].name));
	return buf;
}

/* "SRC -> DST METHOD PATH :PORT h:NAME=VALUE". */
static void describe_request(const mp_shell_decision *d, char *buf, size_t len)
{
	const mp_model *m = d->engine->model;
	const mp_request *r = &d->req;
	char ref[512];
	size_t o = 0;
#define ADD(...)                                                                                   \
	do {                                                                                       \
		if (o < len)                                                                       \
			o += (size_t)snprintf(buf + o, len - o, __VA_ARGS__);                      \
	} while (0)
	if (d->dec.src_svc != MP_NONE)
		ADD("%s", svc_ref(m, d->dec.src_svc, ref, sizeof(ref)));
	else if (r->principal)
		ADD("%s", r->principal);
	else if (r->src_service)
		ADD("%s%s%s", r->src_namespace ? r->src_namespace : "", r->src_namespace ? "/" : "",
		    r->src_service);
	else
		ADD("-");
	if (r->src_cluster)
		ADD("@%s", r->src_cluster);
	if (d->dec.dst_svc != MP_NONE)
		ADD(" -> %s", svc_ref(m, d->dec.dst_svc, ref, sizeof(ref)));
	else
		ADD(" -> %s", r->dst_service);
	if (r->dst_cluster)
		ADD("@%s", r->dst_cluster);
	if (r->method)
		ADD(" %s", r->method);
	if (r->path)
		ADD(" %s", r->path);
	if (r->port)
		ADD(" :%u", r->port);
	for (uint32_t i = 0; i < r->nheaders; i++)
		ADD(" h:%s=%s", r->headers[i].name, r->headers[i].value);
#undef ADD
	if (o >= len && len > 4)
		memcpy(buf + len - 4, "...", 4);
}

static void print_verdict(mp_shell *sh, const mp_shell_decision *d, const char *lead)
{
	char req[2048];
	describe_request(d, req, sizeof(req));
	printf("%s%s%s%s %s: %s\n", lead, mp_shell_color(sh, d->dec.allow ? MP_C_ALLOW : MP_C_DENY),
	       d->dec.allow ? "ALLOW" : "DENY", mp_shell_color(sh, MP_C_RESET),
	       mp_effect_name(d->dec.effect), req);
}

/* Prints one reason of the decision output ({policy, version, rule, effect, message, source,
 * via}): reasons are read from mp_decision_json, so whoever made one (a bundle rule, the engine)
 * it prints the same way as the decision API shows it. */
static void print_reason(mp_shell *sh, json_t *r, const char *label)
{
	const char *effect = json_string_value(json_object_get(r, "effect"));
	const char *policy = json_string_value(json_object_get(r, "policy"));
	const char *version = json_string_value(json_object_get(r, "version"));
	const char *rule = json_string_value(json_object_get(r, "rule"));
	const char *message = json_string_value(json_object_get(r, "message"));
	const char *source = json_string_value(json_object_get(r, "source"));
	const char *via = json_string_value(json_object_get(r, "via"));
	int allow = effect && !strcmp(effect, "allow");
	printf("  %s%s%s ", mp_shell_color(sh, allow ? MP_C_ALLOW : MP_C_DENY),
	       label    ? label
	       : effect ? effect
	                : "?",
	       mp_shell_color(sh, MP_C_RESET));
	if (!source) { /* the engine's own reason */
		printf("%s: %s\n", policy ? policy : "meshpol", message ? message : "");
		return;
	}
	printf("%s %s rule '%s'", policy ? policy : "?", version ? version : "", rule ? rule : "?");
	if (via)
		printf(" via %s", via);
	printf(" at %s", source);
	if (message && *message)
		printf(": %s", message);
	putchar('\n');
}

static void print_decision(mp_shell *sh, const mp_shell_decision *d)
{
	json_t *o = mp_ask_json(d, 0);
	if (sh->json || !o) {
		print_json(sh, o);
		json_decref(o);
		return;
	}
	json_t *r;
	size_t i;
	print_verdict(sh, d, "");
	json_array_foreach(json_object_get(o, "reasons"), i, r) print_reason(sh, r, NULL);
	if (d->dec.dropped)
		printf("  (%u more reasons not kept)\n", d->dec.dropped);
	json_array_foreach(json_object_get(o, "advisories"), i, r) print_reason(sh, r, "advisory");
	if (!d->dec.nreasons) {
		size_t n = json_array_size(d->explain);
		const mp_bundle *b = d->engine->bundle;
		printf("  %s; :why lists the %zu rule%s considered\n",
		       !b             ? "no bundle is loaded, so nothing allows it"
		       : d->dec.allow ? "no rule matched; the bundle's default is allow"
		                      : "no rule allows it; the bundle's default is deny",
		       n, n == 1 ? "" : "s");
	}
	json_decref(o);
	mp_shell_timing(sh, "decided", d->seconds);
}

int mp_ask_cmd_decide(mp_shell *sh, const char *rest)
{
	char err[1024];
	if (mp_shell_need_model(sh, "decide") < 0)
		return -1;
	json_t *in = mp_ask_parse(sh->engine->model, rest, err, sizeof(err));
	const mp_shell_decision *d = in ? mp_ask_decide(sh, in, err, sizeof(err)) : NULL;
	if (!d) {
		mp_shell_error(sh, ":decide: %s", err);
		return -1;
	}
	print_decision(sh, d);
	return 0;
}

/* --- :why --- */

static void add_list(char *buf, size_t len, size_t *o, const char *sep, const char *item)
{
	if (*o < len)
		*o += (size_t)snprintf(buf + *o, len - *o, "%s%s", sep, item);
}

static void describe_pattern(const mp_pattern *p, char *buf, size_t len)
{
	if (p->kind == MP_PAT_SUFFIX)
		snprintf(buf, len, "*%.*s", (int)p->len, p->text);
	else
		snprintf(buf, len, "%s", p->text);
}

static void describe_source(const mp_model *m, const mp_source *s, char *buf, size_t len, size_t *o)
{
	char item[512];
	mp_model_view v = mp_model_get_view(m);
	if (s->any || (!s->authenticated && !s->nprincipals && !s->nnamespaces && !s->nservices &&
	               !s->nlabels)) {
		add_list(buf, len, o, "", "any caller");
		return;
	}
	const char *sep = "";
	if (s->authenticated) {
		add_list(buf, len, o, sep, "authenticated callers");
		sep = "; ";
	}
	for (uint32_t i = 0; i < s->nprincipals; i++) {
		describe_pattern(&s->principals[i], item, sizeof(item));
		add_list(buf, len, o, i ? ", " : sep, i ? item : "principals ");
		if (!i)
			add_list(buf, len, o, "", item);
		sep = "; ";
	}
	for (uint32_t i = 0; i < s->nnamespaces; i++) {
		add_list(buf, len, o, i ? ", " : sep, i ? "" : "namespaces ");
		add_list(buf, len, o, "", mp_model_str(m, v.namespaces[s->namespaces[i]].name));
		sep = "; ";
	}
	for (uint32_t i = 0; i < s->nservices; i++) {
		add_list(buf, len, o, i ? ", " : sep, i ? "" : "services ");
		add_list(buf, len, o, "", svc_ref(m, s->services[i], item, sizeof(item)));
		sep = "; ";
	}
	for (uint32_t i = 0; i < s->nlabels; i++) {
		snprintf(item, sizeof(item), "%s=%s", s->labels[i].key, s->labels[i].value);
		add_list(buf, len, o, i ? ", " : sep, i ? "" : "labels ");
		add_list(buf, len, o, "", item);
		sep = "; ";
	}
}

/* The destination as the rule wrote it (policy.c's dest_text: "a,b,namespace x,external y",
 * or "labels" when only labels select it), grouped: "to a, b in namespaces x; externals y". */
static void describe_destination(const char *text, char *buf, size_t len, size_t *o)
{
	char copy[1024], svcs[512] = "", nss[512] = "", exts[512] = "";
	size_t ns = 0, nn = 0, ne = 0;
	snprintf(copy, sizeof(copy), "%s", text && strcmp(text, "labels") ? text : "");
	for (char *save = NULL, *t = strtok_r(copy, ",", &save); t;
	     t = strtok_r(NULL, ",", &save)) {
		if (!strncmp(t, "namespace ", 10))
			add_list(nss, sizeof(nss), &nn, nn ? ", " : "", t + 10);
		else if (!strncmp(t, "external ", 9))
			add_list(exts, sizeof(exts), &ne, ne ? ", " : "", t + 9);
		else
			add_list(svcs, sizeof(svcs), &ns, ns ? ", " : "",
			         strcmp(t, "*") ? t : "every service");
	}
	if (!ns && !nn && !ne) {
		add_list(buf, len, o, "", "to the services its labels select");
		return;
	}
	add_list(buf, len, o, "", "to ");
	add_list(buf, len, o, "", svcs);
	if (nn) {
		add_list(buf, len, o, "", ns ? " in namespaces " : "services in namespaces ");
		add_list(buf, len, o, "", nss);
	}
	if (ne) {
		add_list(buf, len, o, "", ns || nn ? "; externals " : "externals ");
		add_list(buf, len, o, "", exts);
	}
}

/* What a rule asks for, in one line. */
static void describe_rule(const mp_model *m, const mp_rule *r, char *buf, size_t len)
{
	mp_model_view v = mp_model_get_view(m);
	char item[512];
	size_t o = 0;
	buf[0] = '\0';
	switch (r->type) {
	case MP_RULE_RESIDENCY:
		add_list(buf, len, &o, "", "data ");
		for (uint32_t i = 0; i < r->ndata; i++)
			add_list(buf, len, &o, i ? ", " : "", r->data[i]);
		add_list(buf, len, &o, "", " stays in ");
		for (uint32_t i = 0; i < r->njurisdictions; i++)
			add_list(buf, len, &o, i ? ", " : "",
			         mp_model_str(m, v.jurisdictions[r->jurisdictions[i]].name));
		add_list(buf, len, &o, "", " (in either direction)");
		return;
	case MP_RULE_REQUIRE_MTLS:
		add_list(buf, len, &o, "", "a caller of a STRICT service needs a principal");
		return;
	case MP_RULE_DECLARED_ROUTES:
		add_list(buf, len, &o, "", "only routes the model declares; from ");
		describe_source(m, &r->from, buf, len, &o);
		return;
	}
	describe_destination(r->dest_text, buf, len, &o);
	add_list(buf, len, &o, "", "; from ");
	describe_source(m, &r->from, buf, len, &o);
	if (r->methods) {
		int first = 1;
		add_list(buf, len, &o, "", "; methods ");
		for (size_t i = 0; i < NMETHODS; i++)
			if (r->methods & (1u << i)) {
				add_list(buf, len, &o, first ? "" : ", ", method_names[i]);
				first = 0;
			}
	}
	for (uint32_t i = 0; i < r->npaths; i++) {
		describe_pattern(&r->paths[i], item, sizeof(item));
		add_list(buf, len, &o, i ? ", " : "; paths ", item);
	}
	for (uint32_t i = 0; i < r->nports; i++) {
		snprintf(item, sizeof(item), "%u", r->ports[i]);
		add_list(buf, len, &o, i ? ", " : "; ports ", item);
	}
	for (uint32_t i = 0; i < r->nheaders; i++) {
		char pat[400];
		describe_pattern(&r->headers[i].value, pat, sizeof(pat));
		snprintf(item, sizeof(item), "%s=%s", r->headers[i].name, pat);
		add_list(buf, len, &o, i ? ", " : "; headers ", item);
	}
	if (r->when)
		add_list(buf, len, &o, "", "; and its when function");
}

/* The rules mp_decide considered, in its order: the destination's index row, then the global
 * rules. Returns the count (0 when the destination did not resolve); *row points at the row. */
static uint32_t considered(const mp_bundle *b, const mp_decision *dec, const uint32_t **row,
                           uint32_t *nrow)
{
	*row = NULL;
	*nrow = 0;
	if (!b || (dec->dst_svc == MP_NONE && dec->dst_ext == MP_NONE))
		return 0;
	if (dec->dst_svc != MP_NONE) {
		*row = b->svc_rules + b->svc_off[dec->dst_svc];
		*nrow = b->svc_off[dec->dst_svc + 1] - b->svc_off[dec->dst_svc];
	} else {
		*row = b->ext_rules + b->ext_off[dec->dst_ext];
		*nrow = b->ext_off[dec->dst_ext + 1] - b->ext_off[dec->dst_ext];
	}
	return *nrow + b->nglobal;
}

static void print_party(const mp_shell_decision *d)
{
	const mp_model *m = d->engine->model;
	mp_model_view v = mp_model_get_view(m);
	const mp_request *r = &d->req;
	char ref[512];
	printf("  caller       ");
	if (d->dec.src_svc != MP_NONE) {
		const mp_service *s = &v.services[d->dec.src_svc];
		printf("%s", svc_ref(m, d->dec.src_svc, ref, sizeof(ref)));
		if (r->principal)
			printf(" (%s)", r->principal);
		else
			printf(" (no principal)");
		for (uint32_t i = 0; i < s->labels.n; i++) {
			const mp_label *l = &v.labels[s->labels.off + i];
			printf("%s%s=%s", i ? ", " : ", labels ", mp_model_str(m, l->key),
			       mp_model_str(m, l->value));
		}
	} else if (r->principal) {
		printf("%s (not a service of the model)", r->principal);
	} else {
		printf("- (no principal)");
	}
	if (r->src_cluster)
		printf(", cluster %s", r->src_cluster);
	printf("\n  destination  ");
	if (d->dec.dst_svc != MP_NONE)
		printf("%s", svc_ref(m, d->dec.dst_svc, ref, sizeof(ref)));
	else if (d->dec.dst_ext != MP_NONE)
		printf("external %s (%s)", mp_model_str(m, v.externals[d->dec.dst_ext].name),
		       mp_model_str(m, v.externals[d->dec.dst_ext].host));
	else
		printf("%s (not in the model)", r->dst_service);
	if (r->dst_cluster)
		printf(", cluster %s", r->dst_cluster);
	printf("\n  request      %s %s", r->method ? r->method : "(no method)",
	       r->path ? r->path : "(no path)");
	if (r->port)
		printf(", port %u", r->port);
	for (uint32_t i = 0; i < r->nheaders; i++)
		printf("%s%s: %s", i ? ", " : ", headers ", r->headers[i].name,
		       r->headers[i].value);
	putchar('\n');
}

int mp_ask_cmd_why(mp_shell *sh)
{
	const mp_shell_decision *d = sh->last;
	if (!d) {
		mp_shell_error(sh, ":why: no decision yet (ask one with :decide SRC -> DST ...)");
		return -1;
	}
	if (sh->json) {
		json_t *o = mp_ask_json(d, 1);
		print_json(sh, o);
		json_decref(o);
		return 0;
	}
	const mp_bundle *b = d->engine->bundle;
	const mp_model *m = d->engine->model;
	print_verdict(sh, d, "why: ");
	print_party(d);
	const uint32_t *row;
	uint32_t nrow, n = considered(b, &d->dec, &row, &nrow);
	size_t nex = json_array_size(d->explain);
	if (nex)
		printf("%zu rule%s considered, in the order the engine checked them:\n", nex,
		       nex == 1 ? "" : "s");
	else
		printf("no rule was considered\n");
	for (size_t i = 0; i < nex; i++) {
		json_t *e = json_array_get(d->explain, i);
		int matched = json_is_true(json_object_get(e, "matched"));
		const char *type = json_string_value(json_object_get(e, "type"));
		const char *why = json_string_value(json_object_get(e, "why"));
		const char *via = json_string_value(json_object_get(e, "via"));
		const char *src = json_string_value(json_object_get(e, "source"));
		int is_allow = type && !strcmp(type, "allow");
		int error = matched && why; /* a `when` that failed: its message is the why */
		char rule[2048];
		printf("  %s%-5s%s %-5s %s %s '%s'",
		       mp_shell_color(sh, !matched             ? MP_C_DIM
		                          : is_allow && !error ? MP_C_ALLOW
		                                               : MP_C_DENY),
		       !matched ? "no"
		       : error  ? "ERROR"
		                : "MATCH",
		       mp_shell_color(sh, MP_C_RESET), type ? type : "?",
		       json_string_value(json_object_get(e, "policy")),
		       json_string_value(json_object_get(e, "version")),
		       json_string_value(json_object_get(e, "rule")));
		if (via)
			printf(" via %s", via);
		printf("  %s\n", src ? src : "?");
		if (why)
			printf("        %s %s\n", error ? "error:" : "why not:", why);
		if (n == nex) {
			uint32_t ri = i < nrow ? row[i] : b->global_rules[i - nrow];
			describe_rule(m, &b->rules[ri], rule, sizeof(rule));
			printf("        rule: %s\n", rule);
			if (b->policies[b->rules[ri].policy].enforcement == MP_ENF_ADVISORY)
				printf("        (advisory policy: reported, does not decide)\n");
		}
	}
	const char *outcome;
	char buf[256];
	uint32_t nallow = 0;
	for (uint32_t i = 0; i < d->dec.nreasons; i++)
		nallow += d->dec.reasons[i].kind == MP_REASON_ALLOW;
	/* the first reason is the engine's own (no rule, no mesh), or a mesh provider's */
	const mp_reason *first = d->dec.nreasons ? &d->dec.reasons[0] : NULL;
	int engine = first && first->rule == MP_NONE && !first->origin.provider;
	if (engine)
		outcome = "the engine denied it before any rule (see the reason above)";
	else if (first && first->origin.provider) {
		snprintf(buf, sizeof(buf),
		         "%s: the mesh's own policy (%s) decided, as its reason above "
		         "says",
		         mp_effect_name(d->dec.effect), first->origin.provider);
		outcome = buf;
	} else if (d->dec.effect == MP_EFFECT_FORBIDDEN) {
		snprintf(buf, sizeof(buf),
		         "forbidden: %u rule%s it, and a deny, residency or traffic rule wins "
		         "over any allow",
		         d->dec.nreasons, d->dec.nreasons == 1 ? " forbids" : "s forbid");
		outcome = buf;
	} else if (d->dec.effect == MP_EFFECT_ALLOWED && nallow) {
		snprintf(buf, sizeof(buf),
		         "allowed: %u allow rule%s matched and nothing forbids it", nallow,
		         nallow == 1 ? "" : "s");
		outcome = buf;
	} else if (d->dec.effect == MP_EFFECT_ALLOWED)
		outcome = "allowed: no rule matched and the bundle's default is allow";
	else if (!b)
		outcome = "not permitted: no bundle is loaded, so nothing allows it";
	else
		outcome = "not permitted: no allow rule matched, and the bundle's default is deny";
	if (engine) {
		json_t *o = mp_ask_json(d, 0);
		print_reason(sh, json_array_get(json_object_get(o, "reasons"), 0), NULL);
		json_decref(o);
	}
	printf("outcome: %s\n", outcome);
	return 0;
}

/* --- :who-can --- */

typedef struct {
	char method[16];
	char path[512];
	uint32_t port;
	mp_header headers[MAX_TAIL_HEADERS];
	char hname[MAX_TAIL_HEADERS][128], hvalue[MAX_TAIL_HEADERS][128];
	uint32_t nheaders;
} probe;

static void probe_text(const probe *p, char *buf, size_t len)
{
	size_t o = 0;
	add_list(buf, len, &o, "", p->method[0] ? p->method : "");
	if (p->path[0])
		add_list(buf, len, &o, o ? " " : "", p->path);
	if (p->port && o < len)
		o += (size_t)snprintf(buf + o, len - o, "%s:%u", o ? " " : "", p->port);
	for (uint32_t i = 0; i < p->nheaders && o < len; i++)
		o += (size_t)snprintf(buf + o, len - o, "%sh:%s=%s", o ? " " : "", p->hname[i],
		                      p->hvalue[i]);
	if (!o)
		snprintf(buf, len, "(any request)");
}

/* A concrete value a pattern accepts: the literal, with "x" for what it leaves open. */
static void instantiate(const mp_pattern *p, char *buf, size_t len)
{
	size_t o = 0;
	switch (p->kind) {
	case MP_PAT_ANY:
		snprintf(buf, len, "x");
		return;
	case MP_PAT_PREFIX:
		snprintf(buf, len, "%.*s", (int)p->len, p->text);
		return;
	case MP_PAT_SUFFIX:
		snprintf(buf, len, "x%.*s", (int)p->len, p->text);
		return;
	case MP_PAT_TEMPLATE:
		for (const char *s = p->text; *s && o + 2 < len;) {
			if (!strncmp(s, "{**}", 4)) {
				buf[o++] = 'x';
				s += 4;
			} else if (!strncmp(s, "{*}", 3)) {
				buf[o++] = 'x';
				s += 3;
			} else {
				buf[o++] = *s++;
			}
		}
		buf[o] = '\0';
		return;
	default:
		snprintf(buf, len, "%s", p->text);
	}
}

static void probe_from_rule(const mp_rule *r, probe *p)
{
	memset(p, 0, sizeof(*p));
	for (size_t i = 0; i < NMETHODS; i++)
		if (r->methods & (1u << i)) {
			snprintf(p->method, sizeof(p->method), "%s", method_names[i]);
			break;
		}
	if (!r->methods)
		snprintf(p->method, sizeof(p->method), "GET");
	if (r->npaths)
		instantiate(&r->paths[0], p->path, sizeof(p->path));
	else
		snprintf(p->path, sizeof(p->path), "/");
	if (p->path[0] != '/') { /* "*" or a suffix: any path; give one */
		memmove(p->path + 1, p->path, sizeof(p->path) - 1);
		p->path[0] = '/';
		p->path[sizeof(p->path) - 1] = '\0';
	}
	p->port = r->nports ? r->ports[0] : 0;
	for (uint32_t i = 0; i < r->nheaders && i < MAX_TAIL_HEADERS; i++) {
		snprintf(p->hname[i], sizeof(p->hname[i]), "%s", r->headers[i].name);
		instantiate(&r->headers[i].value, p->hvalue[i], sizeof(p->hvalue[i]));
		p->nheaders++;
	}
}

static void add_unique(char *buf, size_t len, const char *item)
{
	size_t n = strlen(item);
	for (const char *p = buf; (p = strstr(p, item)); p++)
		if ((p == buf || (p - buf >= 2 && p[-2] == ',')) && (p[n] == ',' || p[n] == '\0'))
			return;
	size_t o = strlen(buf);
	add_list(buf, len, &o, o ? ", " : "", item);
}

typedef struct {
	mp_id svc; /* MP_NONE: the caller without identity */
	char requests[1024];
	char rules[2048];
	/* requests an allow rule admits that a deny, residency or traffic rule forbids */
	char blocked[1024];
	char blocked_by[2048];
} caller_row;

/* Did an allow rule match the request (its explanation says so), though the decision is no? */
static int allow_matched(mp_shell *sh, const mp_request *r, char *rules, size_t len)
{
	mp_decision dec;
	json_t *why = json_array(), *x;
	size_t i;
	int any = 0;
	if (!why)
		return 0;
	mp_decide(sh->ev, r, &dec, why);
	json_array_foreach(why, i, x)
	{
		const char *type = json_string_value(json_object_get(x, "type"));
		any |=
		    type && !strcmp(type, "allow") && json_is_true(json_object_get(x, "matched"));
	}
	json_decref(why);
	if (!any)
		return 0;
	json_t *o = mp_decision_json(sh->engine, &dec, "who-can"), *re;
	json_array_foreach(json_object_get(o, "reasons"), i, re)
	{
		char text[600];
		snprintf(text, sizeof(text), "%s %s '%s'",
		         json_string_value(json_object_get(re, "effect")),
		         json_string_value(json_object_get(re, "policy")),
		         json_string_value(json_object_get(re, "rule")));
		add_unique(rules, len, text);
	}
	json_decref(o);
	return 1;
}

int mp_ask_cmd_who_can(mp_shell *sh, const char *rest)
{
	char err[1024], **w = NULL;
	int rc = -1, n;
	probe *probes = NULL;
	caller_row *rows = NULL;
	json_t *out = NULL;
	if (mp_shell_need_model(sh, "who-can") < 0)
		return -1;
	const mp_model *m = sh->engine->model;
	const mp_bundle *b = sh->engine->bundle;
	mp_model_view v = mp_model_get_view(m);
	if ((n = mp_shell_split(rest, &w)) < 1) {
		mp_shell_error(sh, ":who-can: give a SERVICE, then optionally METHOD /PATH ...");
		goto out;
	}
	err[0] = '\0';
	mp_id dst = find_service(m, w[0], err, sizeof(err));
	mp_id ext = dst == MP_NONE ? mp_model_find_external(m, w[0]) : MP_NONE;
	if (dst == MP_NONE && ext == MP_NONE) {
		if (!err[0])
			snprintf(err, sizeof(err), "no service or external '%s' in the model",
			         w[0]);
		mp_shell_error(sh, ":who-can: %s", err);
		goto out;
	}
	req_tail t;
	if (parse_tail(w + 1, n - 1, &t, err, sizeof(err)) < 0) {
		mp_shell_error(sh, ":who-can: %s", err);
		goto out;
	}
	/* the requests to try: the one given, else one per allow rule of the destination */
	probes = mp_calloc(MAX_PROBES, sizeof(*probes));
	rows = mp_calloc(v.nservices + 1, sizeof(*rows));
	if (!probes || !rows) {
		mp_shell_error(sh, ":who-can: out of memory");
		goto out;
	}
	int nprobes = 0, explicit_req = n > 1;
	if (explicit_req) {
		probe *p = &probes[nprobes++];
		snprintf(p->method, sizeof(p->method), "%s", t.method);
		snprintf(p->path, sizeof(p->path), "%s", t.path ? t.path : "");
		p->port = t.port;
		for (uint32_t i = 0; i < t.nheaders; i++) {
			snprintf(p->hname[i], sizeof(p->hname[i]), "%s", t.hname[i]);
			snprintf(p->hvalue[i], sizeof(p->hvalue[i]), "%s", t.hvalue[i]);
		}
		p->nheaders = t.nheaders;
	} else if (b) {
		const uint32_t *row = dst != MP_NONE ? b->svc_rules + b->svc_off[dst]
		                                     : b->ext_rules + b->ext_off[ext];
		uint32_t nrow = dst != MP_NONE ? b->svc_off[dst + 1] - b->svc_off[dst]
		                               : b->ext_off[ext + 1] - b->ext_off[ext];
		for (uint32_t i = 0; i < nrow && nprobes < MAX_PROBES; i++) {
			if (b->rules[row[i]].type != MP_RULE_ALLOW)
				continue;
			probe_from_rule(&b->rules[row[i]], &probes[nprobes]);
			char a[1024], c[1024];
			probe_text(&probes[nprobes], a, sizeof(a));
			int dup = 0;
			for (int k = 0; k < nprobes && !dup; k++) {
				probe_text(&probes[k], c, sizeof(c));
				dup = !strcmp(a, c);
			}
			nprobes += !dup;
		}
	}
	char dref[512];
	if (dst != MP_NONE)
		svc_ref(m, dst, dref, sizeof(dref));
	else
		snprintf(dref, sizeof(dref), "%s", mp_model_str(m, v.externals[ext].name));
	busy_evaluator(sh);
	uint32_t nrows = 0, ncallers = v.nservices + 1;
	for (uint32_t s = 0; s <= v.nservices && !mp_shell_interrupted(); s++) {
		mp_id svc = s < v.nservices ? s : MP_NONE;
		caller_row *row = &rows[nrows];
		memset(row, 0, sizeof(*row));
		row->svc = svc;
		for (int k = 0; k < nprobes; k++) {
			probe *p = &probes[k];
			mp_request r = {0};
			if (svc != MP_NONE) {
				const mp_service *sv = &v.services[svc];
				r.principal = sv->identity ? mp_model_str(m, sv->identity) : NULL;
				r.src_service = mp_model_str(m, sv->name);
				r.src_namespace = mp_model_str(m, v.namespaces[sv->ns].name);
			}
			r.dst_service = dst != MP_NONE ? mp_model_str(m, v.services[dst].name)
			                               : mp_model_str(m, v.externals[ext].name);
			r.dst_namespace =
			    dst != MP_NONE ? mp_model_str(m, v.namespaces[v.services[dst].ns].name)
			                   : NULL;
			r.method = p->method[0] ? p->method : NULL;
			r.path = p->path[0] ? p->path : NULL;
			r.port = p->port;
			for (uint32_t i = 0; i < p->nheaders; i++)
				p->headers[i] = (mp_header){p->hname[i], p->hvalue[i]};
			r.headers = p->headers;
			r.nheaders = p->nheaders;
			mp_decision dec;
			mp_decide(sh->ev, &r, &dec, NULL);
			if (!dec.allow) {
				char text[1024];
				if (dec.effect == MP_EFFECT_FORBIDDEN &&
				    allow_matched(sh, &r, row->blocked_by,
				                  sizeof(row->blocked_by))) {
					probe_text(p, text, sizeof(text));
					add_unique(row->blocked, sizeof(row->blocked), text);
				}
				continue;
			}
			char text[1024];
			probe_text(p, text, sizeof(text));
			add_unique(row->requests, sizeof(row->requests), text);
			json_t *o = mp_decision_json(sh->engine, &dec, "who-can"), *re;
			size_t i;
			json_array_foreach(json_object_get(o, "reasons"), i, re)
			{
				snprintf(text, sizeof(text), "%s '%s'",
				         json_string_value(json_object_get(re, "policy")),
				         json_string_value(json_object_get(re, "rule")));
				add_unique(row->rules, sizeof(row->rules), text);
			}
			json_decref(o);
			if (!dec.nreasons)
				add_unique(row->rules, sizeof(row->rules), "the bundle's default");
		}
		nrows += row->requests[0] != '\0' || row->blocked[0] != '\0';
	}
	if (mp_shell_interrupted()) {
		mp_shell_error(sh, ":who-can: interrupted");
		goto out;
	}
	char what[1200];
	uint32_t nallowed = 0, nblocked = 0;
	for (uint32_t i = 0; i < nrows; i++) {
		nallowed += rows[i].requests[0] != '\0';
		nblocked += rows[i].blocked[0] != '\0';
	}
	if (explicit_req)
		probe_text(&probes[0], what, sizeof(what));
	if (sh->json) {
		out = json_pack("{s:s, s:s?, s:I, s:[], s:[]}", "destination", dref, "request",
		                explicit_req ? what : NULL, "callers_checked", (json_int_t)ncallers,
		                "allowed", "blocked");
		json_t *arr = json_object_get(out, "allowed"),
		       *blk = json_object_get(out, "blocked");
		for (uint32_t i = 0; arr && blk && i < nrows; i++) {
			const caller_row *row = &rows[i];
			char ref[512];
			const mp_service *sv = row->svc != MP_NONE ? &v.services[row->svc] : NULL;
			for (int pass = 0; pass < 2; pass++) { /* allowed, then blocked */
				const char *reqs = pass ? row->blocked : row->requests;
				if (!reqs[0])
					continue;
				json_array_append_new(
				    pass ? blk : arr,
				    json_pack("{s:s?, s:s?, s:s, s:s}", "service",
				              sv ? svc_ref(m, row->svc, ref, sizeof(ref)) : NULL,
				              "identity",
				              sv && sv->identity ? mp_model_str(m, sv->identity)
				                                 : NULL,
				              "requests", reqs, pass ? "forbidden_by" : "rules",
				              pass ? row->blocked_by : row->rules));
			}
		}
		print_json(sh, out);
		rc = 0;
		goto out;
	}
	if (explicit_req)
		printf("who can reach %s with %s: %u of %u callers\n", dref, what, nallowed,
		       ncallers);
	else if (nprobes)
		printf("who can reach %s, with the requests its allow rules describe: %u of %u "
		       "callers\n",
		       dref, nallowed, ncallers);
	else
		printf("who can reach %s: no allow rule names it, so nobody (give METHOD /PATH to "
		       "try a request)\n",
		       dref);
	size_t wref = 0, wid = 0, wreq = 0;
	for (uint32_t i = 0; i < nrows; i++) {
		char ref[512];
		const mp_service *sv = rows[i].svc != MP_NONE ? &v.services[rows[i].svc] : NULL;
		size_t a = sv ? strlen(svc_ref(m, rows[i].svc, ref, sizeof(ref))) : 1;
		size_t c = sv && sv->identity ? strlen(mp_model_str(m, sv->identity)) : 13;
		wref = a > wref ? a : wref;
		wid = c > wid ? c : wid;
		size_t q = strlen(rows[i].requests);
		wreq = q > wreq ? q : wreq;
	}
	for (int pass = 0; pass < 2; pass++) {
		if (pass && nblocked)
			printf(
			    "an allow rule admits %u more, but a deny, residency or traffic rule "
			    "forbids them:\n",
			    nblocked);
		for (uint32_t i = 0; i < nrows; i++) {
			char ref[512];
			const caller_row *row = &rows[i];
			const char *reqs = pass ? row->blocked : row->requests;
			const mp_service *sv = row->svc != MP_NONE ? &v.services[row->svc] : NULL;
			if (!reqs[0])
				continue;
			printf("  %-*s  %-*s  ", (int)wref,
			       sv ? svc_ref(m, row->svc, ref, sizeof(ref)) : "-", (int)wid,
			       sv && sv->identity ? mp_model_str(m, sv->identity)
			                          : "(no identity)");
			if (!explicit_req)
				printf("%-*s  ", (int)wreq, reqs);
			printf("%s\n", pass ? row->blocked_by : row->rules);
		}
	}
	rc = 0;
out:
	json_decref(out);
	mp_free(probes);
	mp_free(rows);
	mp_shell_free_words(w, n);
	return rc;
}
