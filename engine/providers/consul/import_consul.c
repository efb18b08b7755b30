/* import_consul.c: Consul's importer: its state and phases (mp_consul_import). Each cluster of
 * the import is a Consul datacenter whose server configuration (the ConfigMaps consul-k8s
 * renders) gives its name and the intention default, and whose connect injector's flags give
 * the namespace mapping. Every Consul document, CRD or config entry, is checked (Consul's own
 * refusals, at the field) and normalised (schema_consul.c); services get Consul's identities
 * and mTLS modes; gateways become services; every entry stays in the model as a resource named
 * by its Consul identity, beside one ConsulConfig resource per datacenter, which the provider's
 * authorization ops compile (intentions.c). Routes: routes_consul.c; analyzers:
 * analyze_consul.c. Mapping: docs/import.md ("Consul"). */
#include "alloc.h"
#include "consul_int.h"
#include "regex.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* --- the datacenters: server configuration and the connect injector --- */

/* Is dc a ConfigMap consul-k8s renders with the servers' configuration files: named
 * <release>-server-config with its server.json, or <release>-server-tmp-extra-config with
 * extra-from-values.json (an application's "api-server-config" is not)? */
static int server_configmap(const mp_import *im, idoc *dc)
{
	static const char *const suffixes[][2] = {
	    {"-server-config", "server.json"},
	    {"-server-tmp-extra-config", "extra-from-values.json"}};
	const char *name = im_str_of(im, dc->name);
	if (strcmp(dc->kind->kind, "ConfigMap") || dc->kind->group[0])
		return 0;
	for (size_t i = 0; i < 2; i++) {
		size_t n = strlen(name), k = strlen(suffixes[i][0]);
		if (n > k && !strcmp(name + n - k, suffixes[i][0]) &&
		    im_get(dc, im_get(dc, dc->root, "data"), suffixes[i][1]))
			return 1;
	}
	return 0;
}

/* Kubernetes asks (reads): the server ConfigMaps are Consul's to read. */
static int reads(mp_import *im, idoc *dc)
{
	return server_configmap(im, dc);
}

/* The line of the first "key" in a ConfigMap value (n, holding JSON), for reasons. */
static uint32_t key_line(const yaml_node_t *n, const char *key)
{
	const char *text = (const char *)n->data.scalar.value;
	char q[128];
	snprintf(q, sizeof(q), "\"%s\"", key);
	const char *at = strstr(text, q);
	uint32_t line = (uint32_t)n->start_mark.line + 1;
	if (n->data.scalar.style == YAML_LITERAL_SCALAR_STYLE ||
	    n->data.scalar.style == YAML_FOLDED_SCALAR_STYLE)
		line++; /* a block scalar starts on the line after its indicator */
	for (const char *p = text; at && p < at; p++)
		line += *p == '\n';
	return line;
}

/* One configuration file of a server ConfigMap, applied over what the earlier ones set. */
static void server_file(mp_import *im, idoc *cm, yaml_node_t *k, yaml_node_t *v, consul_dc *dc,
                        mp_str *dip, mp_loc *dip_loc, mp_str *acl_policy, mp_loc *acl_loc)
{
	json_error_t je;
	const char *text = im_scalar(v);
	if (!text)
		return;
	json_t *j = json_loads(text, 0, &je);
	if (!j || !json_is_object(j)) {
		im_error(im, cm, v, "data %s is not a JSON object: %s (line %d)", im_scalar(k),
		         j ? "a JSON value of another type" : je.text, j ? 1 : je.line);
		json_decref(j);
		return;
	}
	json_t *acl = json_object_get(j, "acl");
	const char *s;
	mp_loc at = im_loc(cm, v);
	if ((s = json_string_value(json_object_get(j, "datacenter"))))
		dc->datacenter = im_intern(im, s);
	if ((s = json_string_value(json_object_get(j, "default_intention_policy")))) {
		*dip = im_intern(im, s);
		*dip_loc = (mp_loc){at.file, key_line(v, "default_intention_policy"), 1};
	}
	if (json_is_object(acl)) {
		json_t *en = json_object_get(acl, "enabled");
		if (json_is_boolean(en))
			dc->acl_enabled = json_is_true(en);
		if ((s = json_string_value(json_object_get(acl, "default_policy")))) {
			*acl_policy = im_intern(im, s);
			*acl_loc = (mp_loc){at.file, key_line(v, "default_policy"), 1};
		}
	}
	json_decref(j);
}

/* The intention default of a datacenter (consul agent.go, agent_endpoint.go
 * AgentConnectAuthorize): the option, else default_intention_policy, else the ACL default policy
 * (which the agent reads whether or not ACLs are enabled), else Consul's built-in "allow". The
 * server's files apply in the order the chart passes them: the config directory's in lexical
 * order, then extra-from-values.json (server.extraConfig, `-config-file` last). */
static void server_config(mp_import *im, consul_dc *dc)
{
	const consul_state *st = consul_of(im);
	mp_str dip = 0, acl_policy = 0;
	mp_loc dip_loc = {0, 0, 0}, acl_loc = {0, 0, 0};
	idoc *dip_cm = NULL, *acl_cm = NULL;
	for (int extra = 0; extra < 2; extra++)
		for (uint32_t i = 0; i < im->ndocs; i++) {
			idoc *cm = &im->docs[i];
			yaml_node_t *data, *k, *v;
			if (!im_live(cm) || cm->cluster != dc->cluster ||
			    !server_configmap(im, cm) || !(data = im_get(cm, cm->root, "data")) ||
			    data->type != YAML_MAPPING_NODE)
				continue;
			/* the files in lexical order, as Consul reads a config directory */
			const char *done = "";
			for (;;) {
				yaml_node_t *bk = NULL, *bv = NULL;
				IM_MAP_FOREACH(cm, data, k, v)
				{
					const char *key = im_scalar(k);
					int is_extra =
					    key && !strcmp(key, "extra-from-values.json");
					if (!key || is_extra != extra || strcmp(key, done) <= 0 ||
					    (bk && strcmp(key, im_scalar(bk)) >= 0))
						continue;
					bk = k;
					bv = v;
				}
				if (!bk)
					break;
				done = im_scalar(bk);
				mp_str before_dip = dip, before_acl = acl_policy;
				server_file(im, cm, bk, bv, dc, &dip, &dip_loc, &acl_policy,
				            &acl_loc);
				if (dip != before_dip)
					dip_cm = cm;
				if (acl_policy != before_acl)
					acl_cm = cm;
			}
		}
	char title[400];
	if (st->opt_default) {
		dc->default_allow = !strcmp(st->opt_default, "allow");
		dc->default_from = im_intern(im, "option consul.default-intention-policy");
		dc->default_rule =
		    im_intern(im, dc->default_allow ? "default_intention_policy:allow"
		                                    : "default_intention_policy:deny");
		return;
	}
	const char *policy = dip          ? im_str_of(im, dip)
	                     : acl_policy ? im_str_of(im, acl_policy)
	                                  : NULL;
	idoc *from = dip ? dip_cm : acl_cm;
	if (!policy) { /* ACLs off and nothing else: Consul's built-in acl default_policy */
		dc->default_allow = 1;
		dc->default_rule = im_intern(im, "acl.default_policy:allow (built-in)");
		return;
	}
	if (strcmp(policy, "allow") && strcmp(policy, "deny")) {
		im_error(im, from, im_get(from, from->root, "data"),
		         "%s must be allow or deny, not '%s'",
		         dip ? "default_intention_policy" : "acl.default_policy", policy);
		return;
	}
	dc->default_allow = !strcmp(policy, "allow");
	dc->default_from = im_intern(im, im_title(im, from, title, sizeof(title)));
	char rule[80];
	snprintf(rule, sizeof(rule), "%s:%s",
	         dip ? "default_intention_policy" : "acl.default_policy", policy);
	dc->default_rule = im_intern(im, rule);
	dc->default_loc = dip ? dip_loc : acl_loc;
}

/* The value of flag name in a connect injector's command ("-name=value", "-name value"), into
 * buf; NULL when absent. */
static const char *injector_flag(const char *cmd, const char *name, char *buf, size_t len)
{
	size_t n = strlen(name);
	for (const char *p = cmd; (p = strstr(p, name)); p += n) {
		int dash = p > cmd && p[-1] == '-';
		int start = dash && (p - 1 == cmd || isspace((unsigned char)p[-2]) || p[-2] == '-');
		if (!start || (p[n] != '=' && !isspace((unsigned char)p[n])))
			continue;
		const char *v = p + n + 1;
		while (isspace((unsigned char)*v) && p[n] != '=')
			v++;
		size_t k = 0;
		char quote = *v == '"' || *v == '\'' ? *v++ : 0;
		while (v[k] &&
		       (quote ? v[k] != quote : !isspace((unsigned char)v[k]) && v[k] != '\\'))
			k++;
		snprintf(buf, len, "%.*s", (int)k, v);
		return buf;
	}
	return NULL;
}

/* The connect injector of the cluster: a Deployment whose container runs `inject-connect`;
 * its flags say how namespaces map (consul-k8s namespaces.go ConsulNamespace) and the admin
 * partition. */
static void injector(mp_import *im, consul_dc *dc)
{
	for (uint32_t i = 0; i < im->ndocs; i++) {
		idoc *d = &im->docs[i];
		yaml_node_t *c, *item, *list;
		if (!im_live(d) || d->cluster != dc->cluster || strcmp(d->kind->kind, "Deployment"))
			continue;
		yaml_node_t *ctrs = im_path(d, d->spec, "template/spec/containers");
		if (!ctrs || ctrs->type != YAML_SEQUENCE_NODE)
			continue;
		char cmd[8192] = "";
		IM_SEQ_FOREACH(d, ctrs, c)
		{
			for (int w = 0; w < 2; w++) {
				list = im_get(d, c, w ? "args" : "command");
				if (!list || list->type != YAML_SEQUENCE_NODE)
					continue;
				IM_SEQ_FOREACH(d, list, item)
				{
					const char *s = im_scalar(item);
					size_t at = strlen(cmd);
					if (s)
						snprintf(cmd + at, sizeof(cmd) - at, " %s", s);
				}
			}
		}
		if (!strstr(cmd, "inject-connect"))
			continue;
		char v[256];
		dc->injector_doc = i;
		const char *ns = injector_flag(cmd, "enable-namespaces", v, sizeof(v));
		if (ns && !strcmp(ns, "true")) {
			const char *mirror =
			    injector_flag(cmd, "enable-k8s-namespace-mirroring", v, sizeof(v));
			dc->ns_mode = mirror && !strcmp(mirror, "true") ? CNS_MIRROR : CNS_SINGLE;
			const char *prefix =
			    injector_flag(cmd, "k8s-namespace-mirroring-prefix", v, sizeof(v));
			dc->ns_prefix = im_intern(im, prefix ? prefix : "");
			const char *dest =
			    injector_flag(cmd, "consul-destination-namespace", v, sizeof(v));
			dc->ns_single = im_intern(im, dest && *dest ? dest : "default");
		}
		const char *part = injector_flag(cmd, "partition", v, sizeof(v));
		if (part && *part)
			dc->partition = im_intern(im, part);
		return;
	}
}

/* The option namespaces: off | mirror | mirror=PREFIX | NS. */
static void namespaces_option(mp_import *im, consul_dc *dc, const char *o)
{
	if (!strcmp(o, "off")) {
		dc->ns_mode = CNS_OFF;
	} else if (!strncmp(o, "mirror", 6) && (!o[6] || o[6] == '=')) {
		dc->ns_mode = CNS_MIRROR;
		dc->ns_prefix = im_intern(im, o[6] ? o + 7 : "");
	} else {
		dc->ns_mode = CNS_SINGLE;
		dc->ns_single = im_intern(im, o);
	}
}

const consul_dc *consul_dc_of(const mp_import *im, mp_id cluster)
{
	const consul_state *st = consul_of(im);
	for (uint32_t i = 0; st && i < st->ndcs; i++)
		if (st->dcs[i].cluster == cluster)
			return &st->dcs[i];
	return st && st->ndcs ? &st->dcs[0] : NULL;
}

const char *consul_namespace_of(const mp_import *im, const consul_dc *dc, const char *k8s_ns,
                                char *buf, size_t len)
{
	if (!dc || dc->ns_mode == CNS_OFF)
		snprintf(buf, len, "default");
	else if (dc->ns_mode == CNS_MIRROR)
		snprintf(buf, len, "%s%s", im_str_of(im, dc->ns_prefix), k8s_ns);
	else
		snprintf(buf, len, "%s", im_str_of(im, dc->ns_single));
	return buf;
}

/* --- the documents --- */

/* The top-level keys of a config entry that are not its spec. */
static const char *const entry_meta[] = {
    "Kind", "Name", "Namespace", "Partition", "Meta", "CreateIndex", "ModifyIndex", "Hash", NULL};

static int grow_lines(consul_entry *e, uint32_t line, uint32_t *cap)
{
	if (mp_grow((void **)&e->lines, cap, sizeof(*e->lines), e->nlines, 8) < 0)
		return -1;
	e->lines[e->nlines++] = line;
	return 0;
}

static uint32_t line_of(const yaml_node_t *n)
{
	return n ? (uint32_t)n->start_mark.line + 1 : 0;
}

/* The lines a resource keeps (mp_resource.aux), for reasons and findings: a
 * ServiceIntentions' each source and, after it, each of its permissions; a ServiceDefaults'
 * or ProxyDefaults' protocol and mutualTLSMode (0 when absent). */
static int consul_lines(mp_import *im, idoc *dc, yaml_node_t *spec, consul_entry *e)
{
	uint32_t cap = 0;
	yaml_node_t *srcs, *src, *perms, *perm;
	switch (consul_kind(dc)) {
	case CK_SERVICEINTENTIONS:
		srcs = consul_get(dc, spec, "sources");
		if (srcs && srcs->type == YAML_SEQUENCE_NODE)
			IM_SEQ_FOREACH(dc, srcs, src)
			{
				if (grow_lines(e, line_of(src), &cap) < 0)
					goto oom;
				perms = consul_get(dc, src, "permissions");
				if (perms && perms->type == YAML_SEQUENCE_NODE)
					IM_SEQ_FOREACH(dc, perms, perm)
				if (grow_lines(e, line_of(perm), &cap) < 0)
					goto oom;
			}
		return 0;
	case CK_SERVICEDEFAULTS:
	case CK_PROXYDEFAULTS: {
		yaml_node_t *proto =
		    consul_kind(dc) == CK_SERVICEDEFAULTS
		        ? consul_get(dc, spec, "protocol")
		        : consul_get(dc, consul_get(dc, spec, "config"), "protocol");
		if (grow_lines(e, line_of(proto), &cap) < 0 ||
		    grow_lines(e, line_of(consul_get(dc, spec, "mutualTLSMode")), &cap) < 0)
			goto oom;
		return 0;
	}
	default:
		return 0;
	}
oom:
	im->oom = 1;
	return -1;
}

/* --- Consul's checks of a service-intentions entry (agent/structs/config_entry_intentions.go
 * validate and validateIntentionWildcards; consul-k8s serviceintentions_types.go Validate) --- */

static int wildcard_ok(mp_import *im, idoc *dc, yaml_node_t *at, const char *what, const char *v,
                       int allowed)
{
	if (!v || !strchr(v, '*') || (allowed && !strcmp(v, "*")))
		return 0;
	return im_error(im, dc, at,
	                allowed ? "%s '%s': a wildcard cannot be used with partial values"
	                        : "%s '%s': wildcards are not allowed here",
	                what, v);
}

static int check_regex(mp_import *im, idoc *dc, yaml_node_t *at, const char *what, const char *re)
{
	char err[256];
	mp_regex *r = mp_regex_compile(re, strlen(re), err, sizeof(err));
	if (!r)
		return im_error(im, dc, at, "%s '%s' is not an RE2 regular expression: %s", what,
		                re, err);
	mp_regex_free(r);
	return 0;
}

static int check_permission(mp_import *im, idoc *dc, yaml_node_t *perm, json_t *p,
                            const char *where)
{
	static const char *const methods[] = {"GET",    "HEAD",    "POST",    "PUT",   "PATCH",
	                                      "DELETE", "CONNECT", "OPTIONS", "TRACE", NULL};
	const char *action = json_string_value(json_object_get(p, "action"));
	json_t *http = json_object_get(p, "http");
	yaml_node_t *hn = consul_get(dc, perm, "http");
	if (!action || (strcmp(action, "allow") && strcmp(action, "deny")))
		return im_error(im, dc, action ? consul_get(dc, perm, "action") : perm,
		                "%s.action must be allow or deny%s%s%s", where,
		                action ? ", not '" : "", action ? action : "", action ? "'" : "");
	if (!http || !json_object_size(http))
		return im_error(im, dc, hn ? hn : perm, "%s.http %s", where,
		                http ? "should not be empty" : "is required");
	int paths = 0;
	static const char *const pk[] = {"pathExact", "pathPrefix", "pathRegex"};
	for (int i = 0; i < 3; i++) {
		const char *v = json_string_value(json_object_get(http, pk[i]));
		yaml_node_t *vn = consul_get(dc, hn, pk[i]);
		if (!v || !*v)
			continue;
		paths++;
		if (i < 2 && v[0] != '/')
			return im_error(im, dc, vn, "%s.http.%s '%s' must begin with a '/'", where,
			                pk[i], v);
		if (i == 2 && check_regex(im, dc, vn, "pathRegex", v) < 0)
			return -1;
	}
	if (paths > 1)
		return im_error(im, dc, hn,
		                "%s.http: at most one of pathExact, pathPrefix and pathRegex",
		                where);
	json_t *ms = json_object_get(http, "methods"), *m, *h;
	size_t i, j;
	json_array_foreach(ms, i, m)
	{
		yaml_node_t *mn = im_path(dc, consul_get(dc, hn, "methods"), "");
		char idx[24];
		snprintf(idx, sizeof(idx), "%zu", i);
		mn = im_path(dc, mn, idx);
		const char *name = json_string_value(m);
		size_t k;
		for (k = 0; methods[k] && strcasecmp(methods[k], name); k++)
			;
		if (!methods[k])
			return im_error(im, dc, mn, "%s.http.methods[%zu]: invalid method '%s'",
			                where, i, name);
		for (j = 0; j < i; j++)
			if (!strcasecmp(json_string_value(json_array_get(ms, j)), name))
				return im_error(im, dc, mn,
				                "%s.http.methods[%zu]: method '%s' is listed twice",
				                where, i, name);
	}
	json_array_foreach(json_object_get(http, "header"), i, h)
	{
		char idx[24];
		snprintf(idx, sizeof(idx), "%zu", i);
		yaml_node_t *node = im_path(dc, consul_get(dc, hn, "header"), idx);
		static const char *const crit[] = {"exact", "prefix", "suffix", "contains",
		                                   "regex"};
		int n = json_is_true(json_object_get(h, "present"));
		if (!json_string_value(json_object_get(h, "name")))
			return im_error(im, dc, node,
			                "%s.http.header[%zu]: missing required field 'name'", where,
			                i);
		for (int c = 0; c < 5; c++)
			n += json_object_get(h, crit[c]) != NULL;
		if (n != 1)
			return im_error(
			    im, dc, node,
			    "%s.http.header[%zu] should only contain one of present, exact, "
			    "prefix, suffix, contains or regex",
			    where, i);
		const char *re = json_string_value(json_object_get(h, "regex"));
		if (re && check_regex(im, dc, consul_get(dc, node, "regex"), "regex", re) < 0)
			return -1;
	}
	return 0;
}

int consul_check_intentions(mp_import *im, idoc *dc, yaml_node_t *spec, json_t *norm)
{
	json_t *srcs = json_object_get(norm, "sources"), *s;
	yaml_node_t *srcn = consul_get(dc, spec, "sources");
	const char *dname =
	    json_string_value(json_object_get(json_object_get(norm, "destination"), "name"));
	size_t i;
	if (!json_array_size(srcs))
		return im_error(im, dc, srcn ? srcn : spec,
		                "at least one source must be specified");
	json_array_foreach(srcs, i, s)
	{
		char where[96], idx[24];
		snprintf(idx, sizeof(idx), "%zu", i);
		snprintf(where, sizeof(where), "sources[%zu]", i);
		yaml_node_t *sn = im_path(dc, srcn, idx);
		const char *name = json_string_value(json_object_get(s, "name"));
		const char *ns = json_string_value(json_object_get(s, "namespace"));
		const char *peer = json_string_value(json_object_get(s, "peer"));
		const char *part = json_string_value(json_object_get(s, "partition"));
		const char *same = json_string_value(json_object_get(s, "samenessGroup"));
		const char *action = json_string_value(json_object_get(s, "action"));
		json_t *perms = json_object_get(s, "permissions"), *p;
		if (!name || !*name)
			return im_error(im, dc, sn, "%s: missing required field 'name'", where);
		if (wildcard_ok(im, dc, consul_get(dc, sn, "name"), "name", name, 1) < 0 ||
		    wildcard_ok(im, dc, consul_get(dc, sn, "namespace"), "namespace", ns, 1) < 0 ||
		    wildcard_ok(im, dc, consul_get(dc, sn, "peer"), "peer", peer, 0) < 0 ||
		    wildcard_ok(im, dc, consul_get(dc, sn, "partition"), "partition", part, 0) <
		        0 ||
		    wildcard_ok(im, dc, consul_get(dc, sn, "samenessGroup"), "samenessGroup", same,
		                0) < 0)
			return -1;
		if (ns && !strcmp(ns, "*") && strcmp(name, "*"))
			return im_error(im, dc, consul_get(dc, sn, "name"),
			                "%s: exact value cannot follow wildcard namespace", where);
		if (peer && *peer && ((part && *part) || (same && *same)))
			return im_error(im, dc, sn, "%s: peer cannot be set with %s", where,
			                part && *part ? "partition" : "samenessGroup");
		if (same && *same && part && *part)
			return im_error(im, dc, sn,
			                "%s: samenessGroup cannot be set with partition", where);
		if (json_array_size(perms) && action)
			return im_error(
			    im, dc, sn,
			    "%s: action and permissions are mutually exclusive and only one "
			    "of them can be specified",
			    where);
		if (!json_array_size(perms)) {
			if (!action || (strcmp(action, "allow") && strcmp(action, "deny")))
				return im_error(im, dc, action ? consul_get(dc, sn, "action") : sn,
				                "%s.action must be allow or deny%s%s%s", where,
				                action ? ", not '" : "", action ? action : "",
				                action ? "'" : "");
		} else if (dname && !strcmp(dname, "*")) {
			return im_error(im, dc, consul_get(dc, sn, "permissions"),
			                "%s: permissions cannot be specified on intentions with "
			                "wildcarded destinations",
			                where);
		}
		size_t k;
		json_array_foreach(perms, k, p)
		{
			char pw[160];
			snprintf(pw, sizeof(pw), "%s.permissions[%zu]", where, k);
			snprintf(idx, sizeof(idx), "%zu", k);
			if (check_permission(im, dc,
			                     im_path(dc, consul_get(dc, sn, "permissions"), idx), p,
			                     pw) < 0)
				return -1;
		}
		/* a source defined twice (Consul keys it by name, namespace, partition, peer and
		 * sameness group; a missing namespace is the destination's) */
		for (size_t j = 0; j < i; j++) {
			json_t *o = json_array_get(srcs, j);
			static const char *const keys[] = {"name", "namespace", "partition", "peer",
			                                   "samenessGroup"};
			int same_key = 1;
			for (int q = 0; q < 5 && same_key; q++) {
				const char *a = json_string_value(json_object_get(s, keys[q]));
				const char *b = json_string_value(json_object_get(o, keys[q]));
				same_key = !strcmp(a ? a : "", b ? b : "");
			}
			if (same_key)
				return im_error(im, dc, sn,
				                "%s defines '%s' more than once (sources[%zu])",
				                where, name, j);
		}
	}
	return 0;
}

/* --- each Consul document --- */

static int check_defaults(mp_import *im, idoc *dc, yaml_node_t *spec, json_t *norm)
{
	static const char *const protocols[] = {"tcp", "http", "http2", "grpc", NULL};
	const char *proto = json_string_value(json_object_get(norm, "protocol"));
	const char *mode = json_string_value(json_object_get(norm, "mutualTLSMode"));
	if (consul_is(dc, CK_PROXYDEFAULTS))
		proto =
		    json_string_value(json_object_get(json_object_get(norm, "config"), "protocol"));
	size_t i;
	for (i = 0; proto && *proto && protocols[i] && strcasecmp(protocols[i], proto); i++)
		;
	if (proto && *proto && !protocols[i])
		return im_error(im, dc,
		                consul_is(dc, CK_PROXYDEFAULTS)
		                    ? consul_get(dc, consul_get(dc, spec, "config"), "protocol")
		                    : consul_get(dc, spec, "protocol"),
		                "protocol must be tcp, http, http2 or grpc, not '%s'", proto);
	if (mode && *mode && strcmp(mode, "strict") && strcmp(mode, "permissive"))
		return im_error(im, dc, consul_get(dc, spec, "mutualTLSMode"),
		                "mutualTLSMode must be strict or permissive, not '%s'", mode);
	return 0;
}

/* The Consul identity of dc (its namespace and name): a ServiceIntentions' destination, the
 * global entries' fixed names, every other kind's metadata.name (or Name). */
static int identity_of(mp_import *im, idoc *dc, json_t *norm, consul_entry *e)
{
	const consul_dc *cdc = consul_dc_of(im, dc->cluster);
	char buf[256];
	const char *name = im_str_of(im, dc->name);
	const char *ns = im_str_of(im, dc->ns);
	if (!dc->form)
		ns = consul_namespace_of(im, cdc, ns, buf, sizeof(buf));
	if (consul_is(dc, CK_SERVICEINTENTIONS) && !dc->form) {
		json_t *d = json_object_get(norm, "destination");
		const char *dn = json_string_value(json_object_get(d, "name"));
		const char *dns = json_string_value(json_object_get(d, "namespace"));
		if (!dn || !*dn)
			return im_error(im, dc, dc->spec ? dc->spec : dc->root,
			                "missing required field 'spec.destination.name'");
		name = dn;
		if (dns && *dns)
			ns = dns;
	}
	/* interned now: the destination below replaces the JSON they may point into */
	e->cns = im_intern(im, ns);
	e->cname = im_intern(im, name);
	ns = im_str_of(im, e->cns);
	name = im_str_of(im, e->cname);
	if (consul_is(dc, CK_SERVICEINTENTIONS)) {
		if (wildcard_ok(im, dc, dc->root, "destination name", name, 1) < 0 ||
		    wildcard_ok(im, dc, dc->root, "destination namespace", ns, 1) < 0)
			return -1;
		if (!strcmp(ns, "*") && strcmp(name, "*"))
			return im_error(
			    im, dc, dc->root,
			    "destination: exact value cannot follow wildcard namespace");
		/* kept resolved, so the two forms agree */
		json_t *d = json_pack("{s:s, s:s}", "name", name, "namespace", ns);
		if (!d || json_object_set_new(norm, "destination", d) < 0)
			return im->oom = 1, -1;
	}
	static const char *const fixed[CK_KINDS] = {
	    [CK_PROXYDEFAULTS] = "global", [CK_MESH] = "mesh"};
	if (fixed[consul_kind(dc)] && strcmp(name, fixed[consul_kind(dc)]))
		return im_error(
		    im, dc, dc->form ? im_get(dc, dc->root, "Name") : im_get(dc, dc->meta, "name"),
		    "a %s must be named '%s', not '%s'", dc->kind->kind, fixed[consul_kind(dc)],
		    name);
	if (fixed[consul_kind(dc)] || consul_is(dc, CK_EXPORTEDSERVICES))
		e->cns = im_intern(im, "default"); /* global entries */
	const char *part = dc->form ? im_scalar(im_get(dc, dc->root, "Partition")) : NULL;
	e->partition = part && *part           ? im_intern(im, part)
	               : cdc && cdc->partition ? cdc->partition
	                                       : im_intern(im, "default");
	if (strcmp(im_str_of(im, e->partition), "default") &&
	    json_object_set_new(norm, "partition", json_string(im_str_of(im, e->partition))) < 0)
		return im->oom = 1, -1;
	return 0;
}

const consul_entry *consul_find(const mp_import *im, uint32_t kind, mp_str cns, mp_str cname)
{
	const consul_state *st = consul_of(im);
	for (uint32_t i = 0; st && i < st->nents; i++) {
		const consul_entry *e = &st->ents[i];
		if (consul_kind(&im->docs[e->doc]) == kind && e->cns == cns && e->cname == cname)
			return e;
	}
	return NULL;
}

static void read_document(mp_import *im, uint32_t i)
{
	consul_state *st = consul_of(im);
	idoc *dc = &im->docs[i];
	consul_entry e = {.doc = i};
	yaml_node_t *spec = dc->spec;
	const consul_field *fields = consul_spec_fields(consul_kind(dc));
	char path[16];
	snprintf(path, sizeof(path), "%s", dc->form ? "" : "spec");
	e.spec = spec ? consul_normalize(im, dc, spec, fields, path, dc->form ? entry_meta : NULL)
	              : json_object();
	if (!e.spec) {
		if (!spec)
			im->oom = 1;
		return;
	}
	if (dc->form && consul_is(dc, CK_SERVICEINTENTIONS) &&
	    json_object_get(e.spec, "destination")) {
		im_error(
		    im, dc, consul_get(dc, spec, "destination"),
		    "unknown field 'Destination' (a service-intentions entry's destination is its "
		    "Name and Namespace)");
		goto fail;
	}
	if (identity_of(im, dc, e.spec, &e) < 0)
		goto fail;
	int bad = 0;
	switch (consul_kind(dc)) {
	case CK_SERVICEINTENTIONS:
		bad = consul_check_intentions(im, dc, spec ? spec : dc->root, e.spec);
		break;
	case CK_SERVICEDEFAULTS:
	case CK_PROXYDEFAULTS:
		bad = check_defaults(im, dc, spec, e.spec);
		break;
	case CK_SERVICEROUTER:
	case CK_SERVICESPLITTER:
	case CK_SERVICERESOLVER:
		bad = consul_check_chain(im, dc, &e);
		break;
	default:
		break;
	}
	if (bad < 0)
		goto fail;
	/* one entry per kind and Consul name (a service-intentions entry holds every intention
	 * of its destination): a second one is refused, as consul-k8s refuses to sync it */
	for (uint32_t k = 0; k < st->nents; k++) {
		const consul_entry *o = &st->ents[k];
		if (im->docs[o->doc].kind != dc->kind || o->cns != e.cns || o->cname != e.cname ||
		    o->partition != e.partition)
			continue;
		char where[600], title[400];
		im_error(im, dc, dc->root,
		         "%s %s/%s is also defined by %s at %s: Consul keeps one %s entry per name",
		         dc->kind->kind, im_str_of(im, e.cns), im_str_of(im, e.cname),
		         im_title(im, &im->docs[o->doc], title, sizeof(title)),
		         mp_model_loc_str(im->m, im->docs[o->doc].loc, where, sizeof(where)),
		         dc->kind->kind);
		goto fail;
	}
	if (consul_lines(im, dc, spec ? spec : dc->root, &e) < 0)
		goto fail;
	if (mp_grow((void **)&st->ents, &st->cap, sizeof(*st->ents), st->nents, 16) < 0) {
		im->oom = 1;
		goto fail;
	}
	st->ents[st->nents++] = e;
	return;
fail:
	json_decref(e.spec);
	mp_free(e.lines);
}

/* The CLUSTERS phase: is Consul here; each cluster's datacenter; every Consul document. */
static void clusters(mp_import *im)
{
	consul_state *st = consul_of(im);
	for (uint32_t i = 0; i < im->ndocs && !st->present; i++)
		st->present = im->docs[i].provider == &mp_provider_consul ||
		              server_configmap(im, &im->docs[i]);
	if (!st->present)
		return;
	mp_model_view v = mp_model_get_view(im->m);
	if (!(st->dcs = mp_calloc(v.nclusters + 1, sizeof(*st->dcs)))) {
		im->oom = 1;
		return;
	}
	for (mp_id c = 0; c < v.nclusters; c++) {
		consul_dc *dc = &st->dcs[st->ndcs++];
		const char *name = im_str_of(im, v.clusters[c].name);
		dc->cluster = c;
		/* the chart's global.datacenter default for the implicit cluster */
		dc->datacenter = im_intern(im, strcmp(name, "kubernetes") ? name : "dc1");
		dc->partition = im_intern(im, "default");
		dc->ns_single = im_intern(im, "default");
		dc->injector_doc = UINT32_MAX;
		injector(im, dc);
		if (st->opt_namespaces)
			namespaces_option(im, dc, st->opt_namespaces);
		server_config(im, dc);
	}
	for (uint32_t i = 0; i < im->ndocs && !im->oom; i++)
		if (im->docs[i].provider == &mp_provider_consul && im_live(&im->docs[i]))
			read_document(im, i);
}

/* --- services: identities, mTLS modes, gateways --- */

/* ServiceDefaults, else ProxyDefaults: a string field of the service's resolved config. */
static const char *resolved(mp_import *im, const char *cns, const char *cname, const char *field)
{
	const consul_entry *sd =
	    consul_find(im, CK_SERVICEDEFAULTS, consul_str(im, cns), consul_str(im, cname));
	const char *v = sd ? json_string_value(json_object_get(sd->spec, field)) : NULL;
	if (v && *v)
		return v;
	const consul_entry *pd =
	    consul_find(im, CK_PROXYDEFAULTS, consul_str(im, "default"), consul_str(im, "global"));
	json_t *from = pd ? json_object_get(pd->spec, field) : NULL;
	if (pd && !strcmp(field, "protocol"))
		from = json_object_get(json_object_get(pd->spec, "config"), "protocol");
	v = json_string_value(from);
	return v && *v ? v : NULL;
}

/* Kubernetes asks (port_protocol): with Consul, a port speaks its service's protocol
 * (ServiceDefaults, else ProxyDefaults, else tcp: consul configentry/resolve.go), whatever its
 * name says. */
static const char *port_protocol(mp_import *im, idoc *dc, yaml_node_t *at, uint32_t number,
                                 const char *name, const char *app)
{
	(void)at, (void)number, (void)name, (void)app;
	if (!consul_of(im)->present)
		return NULL;
	char buf[256];
	const char *cns = consul_namespace_of(im, consul_dc_of(im, dc->cluster),
	                                      im_str_of(im, dc->ns), buf, sizeof(buf));
	const char *p = resolved(im, cns, im_str_of(im, dc->name), "protocol");
	if (!p)
		return "tcp";
	static const char *const known[] = {"http", "http2", "grpc", "tcp"};
	for (size_t i = 0; i < 4; i++)
		if (!strcasecmp(p, known[i]))
			return known[i];
	return "tcp";
}

/* spiffe://TD[/ap/PARTITION]/ns/NS/dc/DC/svc/NAME (consul connect/uri_service.go). */
static mp_str consul_identity(mp_import *im, const consul_dc *dc, const char *cns, const char *name)
{
	char id[1024];
	const char *td = im->o && im->o->trust_domain ? im->o->trust_domain : "consul";
	const char *part = im_str_of(im, dc->partition);
	int ap = strcmp(part, "default") != 0;
	snprintf(id, sizeof(id), "spiffe://%s%s%s/ns/%s/dc/%s/svc/%s", td, ap ? "/ap/" : "",
	         ap ? part : "", cns, im_str_of(im, dc->datacenter), name);
	return im_intern(im, id);
}

mp_id consul_service(mp_import *im, const char *cns, const char *cname, mp_id cluster)
{
	mp_model_view v = mp_model_get_view(im->m);
	for (mp_id s = 0; s < v.nservices; s++) {
		const mp_service *sv = &v.services[s];
		if (strcmp(im_str_of(im, sv->name), cname))
			continue;
		for (uint32_t k = 0; k < sv->clusters.n; k++) {
			mp_id c = v.u32[sv->clusters.off + k];
			char buf[256];
			if (cluster != MP_NONE && c != cluster)
				continue;
			if (!strcmp(consul_namespace_of(im, consul_dc_of(im, c),
			                                im_str_of(im, v.namespaces[sv->ns].name),
			                                buf, sizeof(buf)),
			            cns))
				return s;
		}
	}
	return MP_NONE;
}

/* A service standing for a gateway or a terminating gateway's linked service, when the model
 * has none of that name in the document's namespace. */
static mp_id stand_in(mp_import *im, idoc *dc, const char *name, const mp_port *ports, uint32_t np,
                      const char *what)
{
	mp_str n = im_intern(im, name);
	mp_id sid = im->host->lookup(im->host->ctx, MP_IMPORT_SERVICE, dc->ns_id, n);
	if (sid != MP_NONE || dc->ns_id == MP_NONE)
		return sid;
	mp_service s = {.name = n, .ns = dc->ns_id, .loc = dc->loc};
	uint32_t cl = dc->cluster;
	sid = mp_model_get_view(im->m).nservices;
	s.clusters = (mp_span){mp_model_push_u32(im->m, &cl, 1), 1};
	s.ports = (mp_span){np ? mp_model_push_ports(im->m, ports, np) : 0, np};
	if (s.clusters.off == MP_NONE || s.ports.off == MP_NONE) {
		im->oom = 1;
		return MP_NONE;
	}
	char title[400], msg[700];
	snprintf(msg, sizeof(msg), "Service '%s/%s' (%s of %s)", im_str_of(im, dc->ns), name, what,
	         im_title(im, dc, title, sizeof(title)));
	if (im->host->declare(im->host->ctx, MP_IMPORT_SERVICE, dc->ns_id, n, sid, dc->loc, msg) <
	    0)
		return MP_NONE;
	if (mp_model_add_service(im->m, &s) == MP_NONE) {
		im->oom = 1;
		return MP_NONE;
	}
	return sid;
}

/* Gateways are Consul services: an IngressGateway (its listeners' ports), a TerminatingGateway
 * and each service linked to it (its intentions are enforced at the gateway). */
static void gateways(mp_import *im)
{
	const consul_state *st = consul_of(im);
	for (uint32_t i = 0; i < st->nents && !im->oom; i++) {
		const consul_entry *e = &st->ents[i];
		idoc *dc = &im->docs[e->doc];
		json_t *item, *svcs;
		size_t k;
		mp_port ports[64];
		uint32_t np = 0;
		if (consul_is(dc, CK_INGRESSGATEWAY)) {
			json_array_foreach(json_object_get(e->spec, "listeners"), k, item)
			{
				const char *proto =
				    json_string_value(json_object_get(item, "protocol"));
				json_int_t port = json_integer_value(json_object_get(item, "port"));
				if (port > 0 && port < 65536 && np < 64)
					ports[np++] =
					    (mp_port){(uint32_t)port,
					              im_intern(im, proto ? proto : "tcp"), 0};
			}
			stand_in(im, dc, im_str_of(im, e->cname), ports, np, "the gateway");
		} else if (consul_is(dc, CK_TERMINATINGGATEWAY)) {
			stand_in(im, dc, im_str_of(im, e->cname), NULL, 0, "the gateway");
			svcs = json_object_get(e->spec, "services");
			json_array_foreach(svcs, k, item)
			{
				const char *name = json_string_value(json_object_get(item, "name"));
				if (name && strcmp(name, "*"))
					stand_in(im, dc, name, NULL, 0, "a service linked to");
			}
		}
	}
}

/* The mTLS mode of a Consul service: strict, unless ServiceDefaults or ProxyDefaults say
 * permissive (Consul 1.16+: plaintext then reaches the application, unchecked). */
static uint32_t mtls_of(mp_import *im, const char *cns, const char *name)
{
	const char *m = resolved(im, cns, name, "mutualTLSMode");
	return m && !strcmp(m, "permissive") ? MP_MTLS_PERMISSIVE : MP_MTLS_STRICT;
}

/* The ELEMENTS phase: gateways, then Consul's identities (the service, not the service
 * account: consul-k8s registers a pod under the Kubernetes Service that selects it, or its
 * consul.hashicorp.com/connect-service annotation) and mTLS modes of services and workloads. */
static void elements(mp_import *im)
{
	if (!consul_of(im)->present)
		return;
	gateways(im);
	mp_model_view v = mp_model_get_view(im->m);
	char buf[256];
	for (uint32_t w = 0; w < im->nwl && !im->oom; w++) {
		iworkload *wl = &im->wl[w];
		const consul_dc *dc = consul_dc_of(im, wl->cluster);
		const char *k8s_ns = im_str_of(im, v.namespaces[wl->ns].name);
		const char *cns = consul_namespace_of(im, dc, k8s_ns, buf, sizeof(buf));
		const char *name = im_scalar(im_get(&im->docs[wl->doc], wl->annotations,
		                                    "consul.hashicorp.com/connect-service"));
		if (!name && wl->nsvc)
			name = im_str_of(im, mp_model_get_view(im->m).services[wl->svc[0]].name);
		if (!name || strchr(name, ','))
			continue; /* no service (or a multi-port pod): its identity stays */
		wl->mtls = mtls_of(im, cns, name); /* before interning, which may move name */
		wl->identity = consul_identity(im, dc, cns, name);
	}
	v = mp_model_get_view(im->m);
	for (mp_id s = 0; s < v.nservices && !im->oom; s++) {
		const mp_service *sv = &v.services[s];
		uint32_t ours = 0;
		for (uint32_t w = 0; w < im->nwl && !ours; w++)
			for (uint32_t k = 0; k < im->wl[w].nsvc; k++)
				ours |= im->wl[w].svc[k] == s;
		if (!ours || !sv->clusters.n)
			continue;
		const consul_dc *dc = consul_dc_of(im, v.u32[sv->clusters.off]);
		const char *cns = consul_namespace_of(
		    im, dc, im_str_of(im, v.namespaces[sv->ns].name), buf, sizeof(buf));
		mp_str id = consul_identity(im, dc, cns, im_str_of(im, sv->name));
		uint32_t mtls = mtls_of(im, cns, im_str_of(im, sv->name));
		mp_service *mut = mp_model_service_mut(im->m, s);
		mut->identity = id;
		mut->mtls = mtls;
		v = mp_model_get_view(im->m);
	}
}

/* --- resources --- */

/* Every Consul entry as a resource named by its Consul identity (its CRD kind and apiVersion,
 * whichever form it came in, so both forms make one model), and each datacenter's settings as
 * a ConsulConfig resource; added before the analyzers run, which compile them as a snapshot
 * does (intentions.h). */
static void resources(mp_import *im)
{
	const consul_state *st = consul_of(im);
	if (!st->present)
		return;
	for (uint32_t i = 0; i < st->nents && !im->oom; i++) {
		const consul_entry *e = &st->ents[i];
		idoc *dc = &im->docs[e->doc];
		char ver[64] = "";
		const char *gen = im_scalar(im_get(dc, dc->meta, "generation"));
		const char *rv = im_scalar(im_get(dc, dc->meta, "resourceVersion"));
		snprintf(ver, sizeof(ver), "%s", gen ? gen : rv ? rv : "");
		uint32_t off = e->nlines ? mp_model_push_u32(im->m, e->lines, e->nlines) : 0;
		mp_resource r = {.kind = im_intern(im, dc->kind->kind),
		                 .api = im_intern(im, CONSUL_API),
		                 .ns = e->cns,
		                 .name = e->cname,
		                 .version = im_intern(im, ver),
		                 .cluster = MP_NONE,
		                 .aux = {off, e->nlines},
		                 .loc = dc->loc};
		if (off == MP_NONE)
			im->oom = 1;
		else
			im_add_record(im, &r, json_incref(e->spec));
	}
	static const char *const modes[] = {"off", "mirror", "single"};
	for (uint32_t i = 0; i < st->ndcs && !im->oom; i++) {
		const consul_dc *dc = &st->dcs[i];
		json_t *j = json_pack("{s:s, s:s, s:s, s:s, s:s, s:b, s:s, s:s, s:s}", "datacenter",
		                      im_str_of(im, dc->datacenter), "partition",
		                      im_str_of(im, dc->partition), "namespaces",
		                      modes[dc->ns_mode], "namespacePrefix",
		                      im_str_of(im, dc->ns_prefix), "destinationNamespace",
		                      im_str_of(im, dc->ns_single), "aclEnabled", dc->acl_enabled,
		                      "defaultPolicy", dc->default_allow ? "allow" : "deny",
		                      "defaultFrom", im_str_of(im, dc->default_from), "defaultRule",
		                      im_str_of(im, dc->default_rule));
		if (j && im->o && im->o->trust_domain)
			json_object_set_new(j, "trustDomain", json_string(im->o->trust_domain));
		uint32_t line = dc->default_loc.line;
		uint32_t off = line ? mp_model_push_u32(im->m, &line, 1) : 0;
		mp_loc loc = dc->default_loc.file ? dc->default_loc : im->docs[0].loc;
		mp_resource r = {.kind = im_intern(im, "ConsulConfig"),
		                 .api = im_intern(im, "meshpol.io/v1"),
		                 .ns = 0,
		                 .name = dc->datacenter,
		                 .version = 0,
		                 .cluster = dc->cluster,
		                 .aux = {off, line ? 1 : 0},
		                 .loc = loc};
		if (off == MP_NONE) {
			json_decref(j);
			im->oom = 1;
		} else {
			im_add_record(im, &r, j);
		}
	}
}

/* The ROUTES phase: discovery chains and ingress listeners, then the resources. */
static void routes(mp_import *im)
{
	if (!consul_of(im)->present)
		return;
	mp_import_consul_routes(im);
	resources(im);
}

/* --- the importer --- */

static void *begin(mp_import *im)
{
	consul_state *st = mp_calloc(1, sizeof(*st));
	const mp_import_opts *o = im->o;
	const mp_provider_setting *s = o ? o->provider_opts : NULL;
	uint32_t n = o ? o->nprovider_opts : 0;
	if (st) {
		st->opt_default = mp_provider_option_value(s, n, mp_provider_consul.name,
		                                           "default-intention-policy");
		st->opt_namespaces =
		    mp_provider_option_value(s, n, mp_provider_consul.name, "namespaces");
	}
	return st;
}

static void end(void *state)
{
	consul_state *st = state;
	for (uint32_t i = 0; i < st->nents; i++) {
		json_decref(st->ents[i].spec);
		mp_free(st->ents[i].lines);
	}
	mp_free(st->ents);
	mp_free(st->dcs);
	consul_authz_free(st->authz);
	mp_free(st);
}

static int holds(mp_import *im)
{
	return consul_of(im)->present;
}

const struct mp_provider_import mp_consul_import = {
    .begin = begin,
    .end = end,
    .phase =
        {
            [IM_PHASE_CLUSTERS] = clusters,
            [IM_PHASE_ELEMENTS] = elements,
            [IM_PHASE_ROUTES] = routes,
        },
    .port_protocol = port_protocol,
    .reads = reads,
    .holds = holds,
};
