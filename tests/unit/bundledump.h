/* bundledump.h: a compiled bundle as text, for the tests that load one bundle two ways
 * (test_policy_decls.c: from an archive's declarations; test_policy_split.c: on two threads)
 * and compare what they got, line by line. */
#ifndef MP_BUNDLEDUMP_H
#define MP_BUNDLEDUMP_H

#include "model.h"
#include "policy.h"

#include <stdio.h>

static inline void put_pats(FILE *f, const char *what, const mp_pattern *p, uint32_t n)
{
	fprintf(f, " %s[", what);
	for (uint32_t i = 0; i < n; i++)
		fprintf(f, "%u:%.*s:%u ", p[i].kind, (int)p[i].len, p[i].text, p[i].id);
	fprintf(f, "]");
}

static inline void put_source(FILE *f, const mp_source *s)
{
	fprintf(f, " from(any=%u auth=%u", s->any, s->authenticated);
	put_pats(f, "principals", s->principals, s->nprincipals);
	for (uint32_t i = 0; i < s->nnamespaces; i++)
		fprintf(f, " ns%u", s->namespaces[i]);
	for (uint32_t i = 0; i < s->nservices; i++)
		fprintf(f, " svc%u", s->services[i]);
	for (uint32_t i = 0; i < s->nlabels; i++)
		fprintf(f, " %s=%s", s->labels[i].key, s->labels[i].value);
	fprintf(f, ")");
}

/* Everything a compiled bundle holds that decisions, audits and explanations read, as text. */
static inline char *bundle_dump(const mp_bundle *b, const mp_model *m)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	mp_model_view v = mp_model_get_view(m);
	for (uint32_t i = 0; i < b->npolicies; i++) {
		const mp_policy *p = &b->policies[i];
		fprintf(f, "policy %s %s %s %s %s %u %u %u [%s] %s\n", p->name, p->version, p->kind,
		        p->loc, p->file, p->enforcement, p->severity, p->enabled,
		        p->ncontrols ? p->controls[p->ncontrols - 1] : "",
		        p->description ? p->description : "-");
	}
	for (uint32_t i = 0; i < b->nrules; i++) {
		const mp_rule *r = &b->rules[i];
		fprintf(f, "rule %u %u %s %s %s %s methods=%u when=%d via=%s dest_any=%u", r->type,
		        r->policy, r->name, r->loc, r->dest_text ? r->dest_text : "-",
		        r->message ? r->message : "-", r->methods, r->when, r->via ? r->via : "-",
		        r->dest_any);
		put_pats(f, "paths", r->paths, r->npaths);
		for (uint32_t k = 0; k < r->nports; k++)
			fprintf(f, " port%u", r->ports[k]);
		for (uint32_t k = 0; k < r->nheaders; k++)
			fprintf(f, " h:%s=%.*s", r->headers[k].name, (int)r->headers[k].value.len,
			        r->headers[k].value.text);
		put_source(f, &r->from);
		for (uint32_t k = 0; k < r->ndata; k++)
			fprintf(f, " data=%s/%u", r->data[k], r->data_ids[k]);
		for (uint32_t k = 0; k < r->njurisdictions; k++)
			fprintf(f, " j%u", r->jurisdictions[k]);
		fprintf(f, "\n");
	}
	for (uint32_t s = 0; s <= v.nservices; s++)
		fprintf(f, "%u ", b->svc_off[s]);
	for (uint32_t i = 0; i < b->svc_off[v.nservices]; i++)
		fprintf(f, "s%u ", b->svc_rules[i]);
	for (uint32_t i = 0; i < b->ext_off[v.nexternals]; i++)
		fprintf(f, "e%u ", b->ext_rules[i]);
	for (uint32_t i = 0; i < b->nglobal; i++)
		fprintf(f, "g%u ", b->global_rules[i]);
	for (uint32_t i = 0; i < b->nfiles; i++)
		fprintf(f, "\nfile %s units=%llu no_fns=%u", b->files[i].rel,
		        (unsigned long long)b->files[i].load_units, b->files[i].no_fns);
	fprintf(f, "\n%s %s %s %u %u\n", b->sha256, b->name, b->revision, b->nwhens, b->nchecks);
	fclose(f);
	return buf;
}

/* got and want equal; else the first line that differs, whole (cmocka cuts long strings). */
static inline void same_text(const char *got, const char *want)
{
	size_t i = 0, line = 0;
	for (; got[i] && got[i] == want[i]; i++)
		line = got[i] == '\n' ? i + 1 : line;
	if (!got[i] && !want[i])
		return;
	print_error("at line starting %zu:\n  got:  %.300s\n  want: %.300s\n", line, got + line,
	            want + line);
	fail();
}

#endif
