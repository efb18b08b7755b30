/* report_sarif.c: the SARIF 2.1.0 report (report.h, "sarif"), for code hosts: one run, a
 * reportingDescriptor per rule, a result per finding, errors as notifications. */
#include "alloc.h"
#include "report_int.h"

#include <ctype.h>
#include <openssl/evp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Sticky-failure builders: a NULL value or a failed insertion sets *bad (jansson releases the
 * value either way), so a tree is built straight through and checked once. */
static void set(json_t *o, const char *key, json_t *v, int *bad)
{
	if (json_object_set_new(o, key, v) < 0)
		*bad = 1;
}

static void add(json_t *a, json_t *v, int *bad)
{
	if (json_array_append_new(a, v) < 0)
		*bad = 1;
}

/* a + sep + b as a JSON string; just a or b when the other is empty, fallback when both are. */
static json_t *joined(const char *a, const char *sep, const char *b, const char *fallback)
{
	size_t la = strlen(a), ls = strlen(sep), lb = strlen(b);
	json_t *j;
	char *buf;
	if (!la || !lb)
		return json_string(la ? a : lb ? b : fallback);
	if (!(buf = mp_malloc(la + ls + lb + 1)))
		return NULL;
	memcpy(buf, a, la);
	memcpy(buf + la, sep, ls);
	memcpy(buf + la + ls, b, lb + 1);
	j = json_string(buf);
	mp_free(buf);
	return j;
}

static json_t *rule_id(const char *policy, const char *rule)
{
	return joined(*policy ? policy : "(none)", "/", rule, "(none)");
}

/* A path as a relative URI reference: every byte but unreserved ones and '/' percent-encoded
 * (so spaces, '%', '#', '?', ':' and non-ASCII bytes survive any URI parser). */
static json_t *uri_ref(const char *path)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = strlen(path), o = 0;
	char *buf = mp_malloc(3 * n + 1);
	json_t *j;
	if (!buf)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)path[i];
		if (isalnum(c) || strchr("-._~/", c)) {
			buf[o++] = (char)c;
		} else {
			buf[o++] = '%';
			buf[o++] = hex[c >> 4];
			buf[o++] = hex[c & 15];
		}
	}
	buf[o] = '\0';
	j = json_string(buf);
	mp_free(buf);
	return j;
}

/* A SARIF location for an audit location {file, line}, with an optional message; NULL when loc
 * names no file (and when out of memory: then *bad is set). */
static json_t *sarif_location(json_t *loc, const char *message, int *bad)
{
	json_t *l, *phys;
	long long line = rp_int(loc, "line");
	if (!*rp_str(loc, "file"))
		return NULL;
	l = json_object();
	phys = json_object();
	set(phys, "artifactLocation", json_pack("{s:o}", "uri", uri_ref(rp_str(loc, "file"))), bad);
	if (line > 0)
		set(phys, "region", json_pack("{s:I}", "startLine", (json_int_t)line), bad);
	set(l, "physicalLocation", phys, bad);
	if (message && *message)
		set(l, "message", json_pack("{s:s}", "text", message), bad);
	if (!l)
		*bad = 1;
	return l;
}

static const char *sarif_level(const char *severity)
{
	int r = rp_sev_rank(severity);
	if (r <= 1)
		return "error";
	return r == 2 || r == RP_NSEV ? "warning" : "note";
}

/* SHA-256 of policy, rule and subject, each prefixed by its length; NULL when out of memory. */
static json_t *fingerprint(const char *policy, const char *rule, const char *subject)
{
	const char *parts[3] = {policy, rule, subject};
	unsigned char md[EVP_MAX_MD_SIZE];
	char hex[2 * EVP_MAX_MD_SIZE + 1];
	unsigned mdlen = 0;
	json_t *j = NULL;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	if (!ctx || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1)
		goto out;
	for (int k = 0; k < 3; k++) {
		char len[32];
		int n = snprintf(len, sizeof(len), "%zu:", strlen(parts[k]));
		if (EVP_DigestUpdate(ctx, len, (size_t)n) != 1 ||
		    EVP_DigestUpdate(ctx, parts[k], strlen(parts[k])) != 1)
			goto out;
	}
	if (EVP_DigestFinal_ex(ctx, md, &mdlen) != 1)
		goto out;
	for (unsigned k = 0; k < mdlen; k++)
		snprintf(hex + 2 * k, 3, "%02x", md[k]);
	j = json_string(hex);
out:
	EVP_MD_CTX_free(ctx);
	return j;
}

static json_t *sarif_descriptor(audit_index *ix, const rule_slot *s, int *bad)
{
	static const char *const security_severity[RP_NSEV] = {"9.5", "8.0", "5.5", "2.0", NULL};
	const char *sev = rp_slot_str(ix, s, "severity"),
	           *kind = rp_str(ix->pols[s->pol].def, "kind");
	json_t *d = json_object(), *props = json_object(), *tags = json_array(), *controls;
	int rank = rp_sev_rank(sev);
	set(d, "id", rule_id(s->policy, s->rule), bad);
	set(d, "shortDescription",
	    json_pack("{s:o}", "text",
	              *rp_str(s->def, "description") ? json_string(rp_str(s->def, "description"))
	                                             : rule_id(s->policy, s->rule)),
	    bad);
	set(d, "defaultConfiguration", json_pack("{s:s}", "level", sarif_level(sev)), bad);
	set(props, "policy", json_string(s->policy), bad);
	if (*rp_str(ix->pols[s->pol].def, "version"))
		set(props, "policyVersion", json_string(rp_str(ix->pols[s->pol].def, "version")),
		    bad);
	if (*rp_str(s->def, "type"))
		set(props, "type", json_string(rp_str(s->def, "type")), bad);
	if (*sev)
		set(props, "severity", json_string(sev), bad);
	if (*rp_slot_str(ix, s, "enforcement"))
		set(props, "enforcement", json_string(rp_slot_str(ix, s, "enforcement")), bad);
	if ((controls = rp_slot_controls(ix, s)))
		set(props, "controls", json_incref(controls), bad);
	if (json_is_object(json_object_get(s->def, "location")))
		set(props, "location", json_incref(json_object_get(s->def, "location")), bad);
	add(tags, json_string("security"), bad);
	if (*kind)
		add(tags, json_string(kind), bad);
	set(props, "tags", tags, bad);
	if (rank < RP_NSEV && security_severity[rank])
		set(props, "security-severity", json_string(security_severity[rank]), bad);
	set(d, "properties", props, bad);
	if (!d)
		*bad = 1;
	return d;
}

static json_t *sarif_result(audit_index *ix, size_t i, const size_t *sarif_index, int *bad)
{
	json_t *f = rp_finding(ix, i), *r = json_object(), *props = json_object(), *loc, *rel, *v;
	const rule_slot *s = &ix->slots[ix->f_slot[i]];
	const char *sev = rp_str(f, "severity");
	size_t j;
	set(r, "ruleId", rule_id(s->policy, s->rule), bad);
	set(r, "ruleIndex", json_integer((json_int_t)sarif_index[ix->f_slot[i]]), bad);
	set(r, "level", json_string(sarif_level(sev)), bad);
	set(r, "message",
	    json_pack("{s:o}", "text",
	              joined(rp_str(f, "subject"), ": ", rp_str(f, "message"), s->policy)),
	    bad);
	if ((loc = sarif_location(json_object_get(f, "location"), NULL, bad)))
		set(r, "locations", json_pack("[o]", loc), bad);
	if (json_array_size(json_object_get(f, "related"))) {
		json_t *related = json_array();
		json_array_foreach(json_object_get(f, "related"), j, rel)
		{
			json_t *l = sarif_location(rel, rp_str(rel, "message"), bad);
			if (!l)
				continue;
			set(l, "id", json_integer((json_int_t)j + 1), bad);
			add(related, l, bad);
		}
		if (json_array_size(related))
			set(r, "relatedLocations", related, bad);
		else
			json_decref(related);
	}
	set(r, "partialFingerprints",
	    json_pack("{s:o}", "meshpolFinding/v1",
	              fingerprint(s->policy, s->rule, rp_str(f, "subject"))),
	    bad);
	set(props, "subject", json_string(rp_str(f, "subject")), bad);
	if (*sev)
		set(props, "severity", json_string(sev), bad);
	if (*rp_str(f, "enforcement"))
		set(props, "enforcement", json_string(rp_str(f, "enforcement")), bad);
	if ((v = rp_finding_controls(ix, i)))
		set(props, "controls", json_incref(v), bad);
	if (*rp_str(f, "version"))
		set(props, "policyVersion", json_string(rp_str(f, "version")), bad);
	if ((v = json_object_get(f, "rule_location")))
		set(props, "ruleLocation", json_incref(v), bad);
	if ((v = json_object_get(f, "path")))
		set(props, "path", json_incref(v), bad);
	set(r, "properties", props, bad);
	if (!r)
		*bad = 1;
	return r;
}

static json_t *sarif_notification(audit_index *ix, size_t i, const size_t *sarif_index, int *bad)
{
	json_t *e = rp_error_at(ix, i), *n = json_object(), *loc;
	const rule_slot *s = &ix->slots[ix->e_slot[i]];
	set(n, "level", json_string("error"), bad);
	set(n, "message",
	    json_pack("{s:s}", "text", *rp_str(e, "message") ? rp_str(e, "message") : "error"),
	    bad);
	if ((loc = sarif_location(json_object_get(e, "location"), NULL, bad)))
		set(n, "locations", json_pack("[o]", loc), bad);
	if (sarif_index[ix->e_slot[i]] != SIZE_MAX)
		set(n, "associatedRule",
		    json_pack("{s:o,s:I}", "id", rule_id(s->policy, s->rule), "index",
		              (json_int_t)sarif_index[ix->e_slot[i]]),
		    bad);
	if (!n)
		*bad = 1;
	return n;
}

int rp_write_sarif(audit_index *ix, FILE *out, int color)
{
	json_t *log = json_object(), *run = json_object(), *driver = json_object();
	json_t *rules = json_array(), *results = json_array(), *inv = json_object();
	json_t *tool = json_object_get(ix->audit, "tool"), *props = json_object(), *v;
	size_t *sarif_index = mp_calloc(ix->nslots, sizeof(size_t)), n = 0;
	int bad = !sarif_index, rc = -1;
	(void)color;
	if (bad)
		goto fail;
	/* Rules: every rules[] entry and every rule a finding names; not the pseudo-rules of
	 * errors that name none. */
	for (size_t s = 0; s < ix->nslots; s++) {
		sarif_index[s] = SIZE_MAX;
		if (!ix->slots[s].def && !ix->slots[s].f_n)
			continue;
		sarif_index[s] = n++;
		add(rules, sarif_descriptor(ix, &ix->slots[s], &bad), &bad);
	}
	for (size_t i = 0; i < json_array_size(ix->findings); i++)
		add(results, sarif_result(ix, i, sarif_index, &bad), &bad);

	set(log, "$schema", json_string("https://json.schemastore.org/sarif-2.1.0.json"), &bad);
	set(log, "version", json_string("2.1.0"), &bad);
	set(driver, "name", json_string(*rp_str(tool, "name") ? rp_str(tool, "name") : "meshpol"),
	    &bad);
	if (*rp_str(tool, "version"))
		set(driver, "version", json_string(rp_str(tool, "version")), &bad);
	set(driver, "rules", rules, &bad);
	rules = NULL;
	set(run, "tool", json_pack("{s:o}", "driver", driver), &bad);
	driver = NULL;
	set(inv, "executionSuccessful", json_boolean(json_array_size(ix->errors) == 0), &bad);
	if (json_array_size(ix->errors)) {
		json_t *notes = json_array();
		for (size_t i = 0; i < json_array_size(ix->errors); i++)
			add(notes, sarif_notification(ix, i, sarif_index, &bad), &bad);
		set(inv, "toolExecutionNotifications", notes, &bad);
	}
	set(run, "invocations", json_pack("[o]", inv), &bad);
	inv = NULL;
	set(run, "results", results, &bad);
	results = NULL;
	if ((v = json_object_get(ix->audit, "bundle")))
		set(props, "bundle", json_incref(v), &bad);
	if ((v = json_object_get(ix->audit, "model")))
		set(props, "model", json_incref(v), &bad);
	if (*rp_str(ix->audit, "time"))
		set(props, "time", json_string(rp_str(ix->audit, "time")), &bad);
	set(props, "failOn", json_string(ix->fail_on), &bad);
	set(props, "result", json_string(ix->result), &bad);
	set(props, "counts", json_incref(ix->counts), &bad);
	set(run, "properties", props, &bad);
	props = NULL;
	set(log, "runs", json_pack("[o]", run), &bad);
	run = NULL;
	if (bad || json_dumpf(log, out, JSON_INDENT(2)) < 0)
		goto fail;
	fputc('\n', out);
	rc = 0;
fail:
	json_decref(log);
	json_decref(run);
	json_decref(driver);
	json_decref(rules);
	json_decref(results);
	json_decref(inv);
	json_decref(props);
	mp_free(sarif_index);
	return rc;
}
