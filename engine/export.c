/* export.c: the way off a mesh (export.h): the sources compiled, the provider whose mesh they
 * configure asked for the target's resources and the requests that check them, the sources
 * compiled again with those resources in place of its documents, and every request decided by
 * both models, their effects compared. The generation is the provider's (its migrate op); the
 * check is the same for every mesh. docs/import.md ("The way off App Mesh"). */
#include "export.h"
#include "alloc.h"
#include "decide.h"
#include "engine.h"
#include "provider.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A decision as the report shows it: the effect and each reason's policy, rule and source. */
static json_t *summary(mp_evaluator *ev, json_t *input, char *err, size_t errlen)
{
	mp_request r;
	mp_header h[MP_REQUEST_MAX_HEADERS];
	mp_decision d;
	if (mp_request_from_json(input, &r, h, err, errlen) < 0)
		return NULL;
	mp_decide(ev, &r, &d, NULL);
	json_t *out = mp_decision_json(mp_evaluator_engine(ev), &d, "export"), *rs = json_array();
	json_t *reasons = json_object_get(out, "reasons"), *x;
	size_t i;
	json_array_foreach(reasons, i, x)
	{
		json_array_append_new(rs, json_pack("{s:O,s:O,s:O}", "policy",
		                                    json_object_get(x, "policy"), "rule",
		                                    json_object_get(x, "rule"), "source",
		                                    json_object_get(x, "source")));
	}
	json_t *s = json_pack("{s:O,s:O,s:o}", "allow", json_object_get(out, "allow"), "effect",
	                      json_object_get(out, "effect"), "reasons", rs);
	json_decref(out);
	return s;
}

/* Decides every check against both models; the counts and the differences into check. */
static int run_checks(mp_model *a, mp_model *b, json_t *checks, json_t *check, mp_diags *d)
{
	mp_engine *ea = mp_engine_new(a, NULL), *eb = ea ? mp_engine_new(b, NULL) : NULL;
	mp_evaluator *va = ea ? mp_evaluator_new(ea, NULL, d) : NULL;
	mp_evaluator *vb = eb ? mp_evaluator_new(eb, NULL, d) : NULL;
	json_t *differ = json_object_get(check, "differ"),
	       *unverified = json_object_get(check, "unverified");
	json_t *c;
	size_t i, same = 0, n = 0;
	int rc = 0;
	char err[300];
	if (!ea)
		mp_model_free(b);
	if (!va || !vb) {
		mp_diags_error(d, NULL, 0, 0, "export: the models do not compile into snapshots");
		rc = -1;
		goto out;
	}
	json_array_foreach(checks, i, c)
	{
		if (json_object_get(c, "unverified")) {
			json_array_append(unverified, c);
			continue;
		}
		json_t *from = summary(va, json_object_get(c, "from"), err, sizeof(err));
		json_t *to = from ? summary(vb, json_object_get(c, "to"), err, sizeof(err)) : NULL;
		if (!from || !to) {
			mp_diags_error(d, NULL, 0, 0, "export: a check's request does not read: %s",
			               err);
			json_decref(from);
			rc = -1;
			goto out;
		}
		n++;
		if (json_equal(json_object_get(from, "allow"), json_object_get(to, "allow"))) {
			same++;
			json_decref(from);
			json_decref(to);
			continue;
		}
		json_array_append_new(
		    differ, json_pack("{s:O,s:O,s:O,s:o,s:o}", "what", json_object_get(c, "what"),
		                      "request", json_object_get(c, "from"), "target_request",
		                      json_object_get(c, "to"), "source", from, "target", to));
	}
	json_object_set_new(check, "requests", json_integer((json_int_t)n));
	json_object_set_new(check, "same", json_integer((json_int_t)same));
out:
	mp_evaluator_free(va);
	mp_evaluator_free(vb);
	if (ea)
		mp_engine_release(ea); /* frees a */
	else
		mp_model_free(a);
	if (eb)
		mp_engine_release(eb); /* frees b */
	return rc;
}

int mp_export(const char *const *sources, size_t nsources, const mp_compile_opts *opts,
              const char *target, FILE *out, json_t **report, mp_diags *d)
{
	mp_compile_opts none = {0};
	const mp_compile_opts *o = opts ? opts : &none;
	const mp_provider *p = NULL;
	char *buf = NULL, err[512], tmp[] = "/tmp/meshpol-export-XXXXXX.yaml";
	size_t len = 0;
	int fd = -1, rc = -1;
	json_t *checks = json_array(), *left = json_array();
	mp_model *b = NULL;
	*report = NULL;
	mp_model *a = mp_compile(sources, nsources, o, d);
	if (!a)
		goto out;
	for (const mp_provider *const *q = mp_providers; *q && !p; q++)
		if ((*q)->migrate && (*q)->present && (*q)->present(a))
			p = *q;
	if (!p) {
		mp_diags_error(d, NULL, 0, 0,
		               "export: the sources configure no mesh meshpol exports from "
		               "(App Mesh)");
		goto out;
	}
	FILE *mem = open_memstream(&buf, &len);
	if (!mem || p->migrate(a, target, o, mem, checks, left, err, sizeof(err)) < 0) {
		if (mem)
			fclose(mem);
		mp_diags_error(d, NULL, 0, 0, "export: %s", mem ? err : strerror(errno));
		goto out;
	}
	fclose(mem);
	if (fwrite(buf, 1, len, out) != len || fflush(out) != 0) {
		mp_diags_error(d, NULL, 0, 0, "export: writing the resources: %s", strerror(errno));
		goto out;
	}
	/* the target's model: the sources without the old mesh's documents, and the resources */
	if ((fd = mkstemps(tmp, 5)) < 0 || write(fd, buf, len) != (ssize_t)len) {
		mp_diags_error(d, NULL, 0, 0, "export: %s: %s", tmp, strerror(errno));
		goto out;
	}
	const char **paths = mp_calloc(nsources + 1, sizeof(*paths));
	mp_provider_setting *settings = mp_calloc(o->nprovider_opts + 1, sizeof(*settings));
	if (!paths || !settings) {
		mp_free(paths);
		mp_free(settings);
		mp_diags_error(d, NULL, 0, 0, "out of memory");
		goto out;
	}
	memcpy(paths, sources, nsources * sizeof(*paths));
	paths[nsources] = tmp;
	if (o->nprovider_opts)
		memcpy(settings, o->provider_opts, o->nprovider_opts * sizeof(*settings));
	settings[o->nprovider_opts] = (mp_provider_setting){p->name, p->migrate_off, "off"};
	mp_compile_opts o2 = *o;
	o2.provider_opts = settings;
	o2.nprovider_opts = o->nprovider_opts + 1;
	mp_diags d2 = {0};
	b = mp_compile(paths, nsources + 1, &o2, &d2);
	mp_free(paths);
	mp_free(settings);
	if (!b) {
		char *text = NULL;
		size_t tl = 0;
		FILE *f = open_memstream(&text, &tl);
		mp_diags_print(&d2, f);
		fclose(f);
		mp_diags_error(
		    d, NULL, 0, 0,
		    "export: the exported resources do not compile beside the sources:\n%s",
		    text ? text : "");
		free(text);
		mp_diags_free(&d2);
		goto out;
	}
	mp_diags_free(&d2);
	json_t *check =
	    json_pack("{s:i,s:i,s:[],s:[]}", "requests", 0, "same", 0, "differ", "unverified");
	*report = json_pack("{s:s,s:s,s:o,s:o}", "from", p->name, "to", target, "left_out",
	                    json_incref(left), "check", check);
	mp_model *ma = a;
	a = NULL;
	mp_model *mb = b;
	b = NULL;
	if (run_checks(ma, mb, checks, check, d) < 0)
		goto out;
	rc = json_array_size(json_object_get(check, "differ")) ? 1 : 0;
out:
	if (fd >= 0) {
		close(fd);
		unlink(tmp);
	}
	if (rc < 0) {
		json_decref(*report);
		*report = NULL;
	}
	mp_model_free(a);
	mp_model_free(b);
	free(buf);
	json_decref(checks);
	json_decref(left);
	return rc;
}
