/* replay.c: a decision log decided again under a candidate snapshot (replay.h). Lines are read
 * whole (at most MP_TRAIL_MAX_LINE bytes), each one a JSON object; a line that is not is an
 * error at its line, never skipped: a replay that silently left records out would report
 * fewer changes than the candidate makes. docs/bundles-diff.md ("Replaying a decision log"). */
#include "replay.h"
#include "alloc.h"
#include "changes.h"
#include "decide.h"
#include "trail.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *jstr(json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

/* "ns/name", or the service alone, of the input's destination. */
static char *dest_label(json_t *in)
{
	json_t *dst = json_object_get(in, "destination");
	const char *s = jstr(dst, "service"), *ns = jstr(dst, "namespace");
	char buf[512];
	snprintf(buf, sizeof(buf), "%s%s%s", ns ? ns : "", ns ? "/" : "", s ? s : "?");
	return mp_strdup(buf);
}

static char *caller_label(json_t *in)
{
	json_t *src = json_object_get(in, "source");
	const char *p = jstr(src, "principal"), *s = jstr(src, "service"),
	           *ns = jstr(src, "namespace");
	char buf[512];
	if (p)
		snprintf(buf, sizeof(buf), "%s", p);
	else if (s)
		snprintf(buf, sizeof(buf), "%s%s%s (no principal)", ns ? ns : "", ns ? "/" : "", s);
	else if (ns)
		snprintf(buf, sizeof(buf), "a caller in %s (no principal)", ns);
	else
		snprintf(buf, sizeof(buf), "anonymous");
	return mp_strdup(buf);
}

static char *request_label(json_t *in)
{
	json_t *req = json_object_get(in, "request");
	const char *m = jstr(req, "method"), *p = jstr(req, "path");
	json_int_t port =
	    json_integer_value(json_object_get(json_object_get(in, "destination"), "port"));
	char buf[2300];
	int n = snprintf(buf, sizeof(buf), "%s %s",
	                 m   ? m
	                 : p ? "(no method)"
	                     : "TCP",
	                 p   ? p
	                 : m ? "(no path)"
	                     : "");
	if (n > 0 && (size_t)n < sizeof(buf) && buf[n - 1] == ' ')
		buf[n - 1] = '\0';
	if (port)
		snprintf(buf + strlen(buf), sizeof(buf) - strlen(buf), " port %lld",
		         (long long)port);
	return mp_strdup(buf);
}

/* Does the input hold a value the log masked ("[masked]")? */
static int masked(json_t *v)
{
	const char *k;
	json_t *x;
	size_t i;
	if (json_is_string(v))
		return !strcmp(json_string_value(v), "[masked]");
	if (json_is_object(v)) {
		json_object_foreach(v, k, x)
		{
			if (masked(x))
				return 1;
		}
	}
	if (json_is_array(v)) {
		json_array_foreach(v, i, x)
		{
			if (masked(x))
				return 1;
		}
	}
	return 0;
}

typedef struct {
	const char *path;
	mp_evaluator *ev;
	mp_diags *d;
	json_t *changes, *base_bundle, *models;
	uint64_t decided, changed, skipped, masked;
	mp_decision dec;
} replay;

/* One decision record at line: decided again, a change appended. 0, or -1 after an error. */
static int replay_decision(replay *rp, json_t *rec, uint64_t line)
{
	json_t *in = json_object_get(rec, "input"), *out = json_object_get(rec, "decision");
	mp_request r;
	mp_header h[MP_REQUEST_MAX_HEADERS];
	char err[512];
	if ((json_is_null(in) && json_is_object(out)) ||     /* the server could not encode it */
	    json_is_true(json_object_get(rec, "refused"))) { /* nor did a bundle decide it */
		rp->skipped++;
		return 0;
	}
	if (!json_is_object(in) || !json_is_object(out)) {
		mp_diags_error(rp->d, rp->path, (unsigned)line, 0,
		               "a decision record needs \"input\" and \"decision\" objects");
		return -1;
	}
	json_t *base = mp_decision_summary_of_output(out);
	if (!base) {
		mp_diags_error(
		    rp->d, rp->path, (unsigned)line, 0,
		    "decision: not a decision output (no effect, or reasons not a list)");
		return -1;
	}
	if (mp_request_from_json(in, &r, h, err, sizeof(err)) < 0) {
		mp_diags_error(rp->d, rp->path, (unsigned)line, 0, "input: %s", err);
		json_decref(base);
		return -1;
	}
	json_t *model = json_object_get(out, "model");
	if (json_is_object(model) && jstr(model, "sha256"))
		json_object_set(rp->models, jstr(model, "sha256"), json_true());
	rp->masked += masked(in);
	mp_decide(rp->ev, &r, &rp->dec, NULL);
	rp->decided++;
	json_t *head = mp_decision_summary(mp_evaluator_engine(rp->ev), &rp->dec);
	if (json_equal(base, head)) {
		json_decref(base);
		json_decref(head);
		return 0;
	}
	rp->changed++;
	char *dl = dest_label(in), *cl = caller_label(in), *rl = request_label(in);
	json_t *c = json_pack("{s:I, s:s?, s:s, s:s, s:s, s:O, s:o, s:o}", "line", (json_int_t)line,
	                      "decision_id", jstr(out, "decision_id"), "destination", dl ? dl : "?",
	                      "caller", cl ? cl : "?", "request", rl ? rl : "?", "input", in,
	                      "base", base, "head", head);
	mp_free(dl);
	mp_free(cl);
	mp_free(rl);
	if (!c || json_array_append_new(rp->changes, c) < 0) {
		mp_diags_error(rp->d, rp->path, (unsigned)line, 0, "out of memory");
		return -1;
	}
	return 0;
}

/* One line (without its newline). */
static int replay_line(replay *rp, const char *text, size_t len, uint64_t line)
{
	json_error_t je;
	json_t *rec = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
	int rc = -1;
	if (!rec) {
		mp_diags_error(rp->d, rp->path, (unsigned)line, (unsigned)je.column,
		               "not a JSON record: %s", je.text);
		return -1;
	}
	const char *type = jstr(rec, "type");
	if (!json_is_object(rec) || !type) {
		mp_diags_error(rp->d, rp->path, (unsigned)line, 0,
		               "not a decision log record (an object with a \"type\")");
		goto out;
	}
	if (!strcmp(type, "decision")) {
		rc = replay_decision(rp, rec, line);
		goto out;
	}
	if ((!strcmp(type, "start") || !strcmp(type, "reload")) && !rp->base_bundle &&
	    json_is_object(json_object_get(rec, "bundle")))
		rp->base_bundle = json_incref(json_object_get(rec, "bundle"));
	rc = 0;
out:
	json_decref(rec);
	return rc;
}

static json_t *head_side(mp_evaluator *ev)
{
	const mp_engine *e = mp_evaluator_engine(ev);
	const mp_bundle *b = e->bundle;
	json_t *o = json_pack("{s:s, s:{s:s}}", "source", b && b->dir ? b->dir : "", "model",
	                      "sha256", mp_model_sha256(e->model));
	if (b)
		json_object_set_new(o, "bundle",
		                    json_pack("{s:s, s:s, s:s}", "name", b->name ? b->name : "",
		                              "revision", b->revision ? b->revision : "", "sha256",
		                              b->sha256));
	return o;
}

long mp_replay(const char *path, mp_evaluator *ev, const mp_replay_opts *opts, json_t **report,
               mp_diags *d)
{
	replay rp = {.path = path, .ev = ev, .d = d};
	FILE *f = fopen(path, "re");
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	uint64_t lineno = 0;
	long rc = -1;
	*report = NULL;
	if (!f) {
		mp_diags_error(d, path, 0, 0, "cannot read: %s", strerror(errno));
		return -1;
	}
	rp.changes = json_array();
	rp.models = json_object();
	while ((n = getline(&line, &cap, f)) > 0) {
		lineno++;
		if ((size_t)n > MP_TRAIL_MAX_LINE) {
			mp_diags_error(d, path, (unsigned)lineno, 0,
			               "a line of %zd bytes, over the %u-byte limit of a record", n,
			               MP_TRAIL_MAX_LINE);
			goto out;
		}
		if (line[n - 1] != '\n') {
			mp_diags_error(
			    d, path, (unsigned)lineno, 0,
			    "the last line is torn (no newline at its end): the log was cut "
			    "short; replay the records before it by cutting it off");
			goto out;
		}
		if (replay_line(&rp, line, (size_t)n - 1, lineno) < 0)
			goto out;
	}
	if (ferror(f)) {
		mp_diags_error(d, path, (unsigned)lineno + 1, 0, "cannot read: %s",
		               strerror(errno));
		goto out;
	}
	json_t *notes = json_array();
	char note[256];
	if (!rp.decided)
		json_array_append_new(notes, json_string("the log holds no decision record"));
	if (rp.skipped) {
		snprintf(note, sizeof(note),
		         "%llu decision records the server's front door refused, or without an "
		         "input (the server could not encode it), were left out",
		         (unsigned long long)rp.skipped);
		json_array_append_new(notes, json_string(note));
	}
	if (rp.masked) {
		snprintf(note, sizeof(note),
		         "%llu records had fields masked by the bundle's `mask`: they were decided "
		         "with \"[masked]\" as the value",
		         (unsigned long long)rp.masked);
		json_array_append_new(notes, json_string(note));
	}
	const char *msha = mp_model_sha256(mp_evaluator_engine(ev)->model);
	if (json_object_size(rp.models) > 1 ||
	    (json_object_size(rp.models) == 1 && !json_object_get(rp.models, msha))) {
		snprintf(
		    note, sizeof(note),
		    "the log's decisions were made with another model than the replay's (%.12s)",
		    msha);
		json_array_append_new(notes, json_string(note));
	}
	json_t *base = json_pack("{s:s}", "source", path);
	if (rp.base_bundle)
		json_object_set(base, "bundle", rp.base_bundle);
	*report = json_pack("{s:s, s:o, s:o, s:I, s:I, s:o, s:o}", "kind", "replay", "base", base,
	                    "head", opts && opts->head ? json_incref(opts->head) : head_side(ev),
	                    "decided", (json_int_t)rp.decided, "changed", (json_int_t)rp.changed,
	                    "notes", notes, "changes", rp.changes);
	rp.changes = NULL;
	if (!*report) {
		mp_diags_error(d, path, 0, 0, "out of memory");
		goto out;
	}
	mp_changes_group(*report, opts && opts->max_examples ? opts->max_examples : 3);
	rc = (long)rp.changed;
out:
	free(line);
	fclose(f);
	json_decref(rp.changes);
	json_decref(rp.models);
	json_decref(rp.base_bundle);
	return rc;
}
