/* diff_cmd.c: `meshpol diff` (the decisions a bundle or mesh change alters, engine/include/
 * diff.h) and `meshpol replay` (a decision log decided again under a candidate bundle,
 * replay.h), both writing the report of changes.h. Exit 0 when compared (changes or not), 1
 * with --fail-on-change when something changed (or the output could not be written), 2 for a
 * usage or input error. docs/cli.md ("diff", "replay"), docs/bundles-diff.md. */
#include "bundlesrc.h"
#include "changes.h"
#include "cli.h"
#include "compile.h"
#include "diag.h"
#include "diff.h"
#include "files.h"
#include "replay.h"

#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* What both verbs share: the output, its format, the CI switch. */
typedef struct {
	const char *format, *out;
	int fail_on_change;
	unsigned examples;
} report_opts;

/* Writes the report and picks the exit code. */
static int finish(const mp_verb *v, json_t *report, long changed, const report_opts *o)
{
	char err[512];
	mp_out *out = NULL;
	if (o->out && !(out = mp_out_open(o->out, 0666, 0, err, sizeof(err)))) {
		fprintf(stderr, "meshpol %s: %s\n", v->name, err);
		return MP_EXIT_USAGE;
	}
	int rc =
	    mp_changes_write(report, o->format, out ? mp_out_file(out) : stdout, err, sizeof(err));
	if (rc < 0) {
		mp_out_discard(out);
		fprintf(stderr, "meshpol %s: %s\n", v->name, err);
		return MP_EXIT_FAIL;
	}
	if (out && mp_out_commit(out, err, sizeof(err)) < 0) {
		fprintf(stderr, "meshpol %s: %s\n", v->name, err);
		return MP_EXIT_FAIL;
	}
	if (!out && fflush(stdout) != 0)
		return MP_EXIT_FAIL;
	return o->fail_on_change && changed > 0 ? MP_EXIT_FAIL : MP_EXIT_OK;
}

/* The model of a bundle directory's manifest, when no -m was given. */
static const char *model_hint(const char *spec, char *buf, size_t len)
{
	struct stat st;
	if (!spec || stat(spec, &st) < 0 || !S_ISDIR(st.st_mode))
		return NULL;
	return mp_bundle_model_hint(spec, buf, len) == 0 ? buf : NULL;
}

static json_t *side(const char *source, const mp_engine *e, const char *model)
{
	const mp_bundle *b = e->bundle;
	json_t *o = json_pack("{s:s, s:{s:s, s:s}}", "source", source, "model", "source",
	                      model ? model : "", "sha256", mp_model_sha256(e->model));
	if (b)
		json_object_set_new(o, "bundle",
		                    json_pack("{s:s, s:s, s:s}", "name", b->name ? b->name : "",
		                              "revision", b->revision ? b->revision : "", "sha256",
		                              b->sha256));
	return o;
}

/* --- diff --- */

int mp_cmd_diff(int argc, char **argv)
{
	const mp_verb *v = mp_cli_verb("diff");
	static const struct option opts[] = {
	    {"model", required_argument, NULL, 'm'},
	    {"policies", required_argument, NULL, 'p'},
	    {"base", required_argument, NULL, 'b'},
	    {"head", required_argument, NULL, 'h'},
	    {"base-rev", required_argument, NULL, 'r'},
	    {"base-model", required_argument, NULL, 'B'},
	    {"head-model", required_argument, NULL, 'H'},
	    {"format", required_argument, NULL, 'f'},
	    {"output", required_argument, NULL, 'o'},
	    {"examples", required_argument, NULL, 'e'},
	    {"fail-on-change", no_argument, NULL, 'F'},
	    {NULL, 0, NULL, 0},
	};
	static const char shortopts[] = "m:p:o:";
	const char *model = NULL, *bundle = NULL, *base = NULL, *head = NULL, *base_rev = NULL;
	const char *base_model = NULL, *head_model = NULL;
	report_opts ro = {"text", NULL, 0, 3};
	mp_cli_seen seen = {0};
	char hint[PATH_MAX];
	int c, rc;
	optind = 1;
	while ((c = getopt_long(argc, argv, shortopts, opts, NULL)) != -1) {
		if (mp_cli_once(v, &seen, c, shortopts, opts) != MP_EXIT_OK)
			return MP_EXIT_USAGE;
		switch (c) {
		case 'm':
			model = optarg;
			break;
		case 'p':
			bundle = optarg;
			break;
		case 'b':
			base = optarg;
			break;
		case 'h':
			head = optarg;
			break;
		case 'r':
			base_rev = optarg;
			break;
		case 'B':
			base_model = optarg;
			break;
		case 'H':
			head_model = optarg;
			break;
		case 'f':
			ro.format = optarg;
			break;
		case 'o':
			ro.out = optarg;
			break;
		case 'F':
			ro.fail_on_change = 1;
			break;
		case 'e': {
			char *end;
			long n = strtol(optarg, &end, 10);
			if (*end || n < 1 || n > 1000)
				return mp_cli_usage_error(v, "--examples takes 1..1000, not '%s'",
				                          optarg);
			ro.examples = (unsigned)n;
			break;
		}
		default:
			return mp_cli_usage_error(v, "unknown option");
		}
	}
	if ((rc = mp_cli_check_arity(v, argc - optind)) != MP_EXIT_OK)
		return rc;
	if (!mp_changes_format_known(ro.format))
		return mp_cli_usage_error(v, "--format is text, json or markdown, not '%s'",
		                          ro.format);
	int bundles = base || head || base_rev, models = base_model || head_model;
	if (bundles == models)
		return mp_cli_usage_error(
		    v, "compare two bundles (--base and --head, or --base-rev with --head) or two "
		       "models (-p with --base-model and --head-model)");
	if (bundles && (!head || (!base == !base_rev)))
		return mp_cli_usage_error(v, "a bundle change needs --head and one of --base or "
		                             "--base-rev");
	if (bundles && bundle)
		return mp_cli_usage_error(v, "-p is for a mesh change; a bundle change names "
		                             "--base and --head");
	if (models && (!base_model || !head_model || !bundle || model))
		return mp_cli_usage_error(v, "a mesh change needs -p BUNDLE, --base-model and "
		                             "--head-model (and no -m)");
	if (bundles && !model && !(model = model_hint(head, hint, sizeof(hint))))
		return mp_cli_usage_error(v, "-m MODEL is required (the head bundle's manifest "
		                             "names none)");

	mp_diags d = {0};
	mp_bundle_source *sa = NULL, *sb = NULL;
	mp_engine *ea = NULL, *eb = NULL;
	json_t *report = NULL, *sidea = NULL, *sideb = NULL;
	long changed = -1;
	rc = MP_EXIT_USAGE;
	if (bundles) {
		sb = mp_bundle_source_open(head, &d);
		sa = !sb        ? NULL
		     : base_rev ? mp_bundle_source_open_rev(base_rev, head, &d)
		                : mp_bundle_source_open(base, &d);
		mp_model *m = sa && sb ? mp_model_open(model, &d) : NULL;
		if (m && (ea = mp_engine_with_source(mp_model_retain(m), sa, &d)))
			eb = mp_engine_with_source(m, sb, &d);
		else if (m)
			mp_model_free(m);
		if (ea && eb) {
			sidea = side(sa->dir, ea, model);
			sideb = side(sb->dir, eb, model);
		}
	} else {
		sa = mp_bundle_source_open(bundle, &d);
		mp_model *ma = sa ? mp_model_open(base_model, &d) : NULL;
		mp_model *mb = ma ? mp_model_open(head_model, &d) : NULL;
		if (ma && mb) {
			if ((ea = mp_engine_with_source(ma, sa, &d)))
				eb = mp_engine_with_source(mb, sa, &d);
			else
				mp_model_free(mb);
		} else {
			mp_model_free(ma);
		}
		if (ea && eb) {
			sidea = side(base_model, ea, base_model);
			sideb = side(head_model, eb, head_model);
		}
	}
	if (ea && eb) {
		mp_diff_opts o = {sidea, sideb, ro.examples};
		changed = mp_diff(ea, eb, &o, &report, &d);
	}
	mp_diags_print(&d, stderr);
	if (changed >= 0)
		rc = finish(v, report, changed, &ro);
	mp_diags_free(&d);
	json_decref(report);
	json_decref(sidea);
	json_decref(sideb);
	mp_engine_release(ea);
	mp_engine_release(eb);
	mp_bundle_source_close(sa);
	mp_bundle_source_close(sb);
	return rc;
}

/* --- replay --- */

int mp_cmd_replay(int argc, char **argv)
{
	const mp_verb *v = mp_cli_verb("replay");
	static const struct option opts[] = {
	    {"model", required_argument, NULL, 'm'},
	    {"policies", required_argument, NULL, 'p'},
	    {"decision-log", required_argument, NULL, 'l'},
	    {"format", required_argument, NULL, 'f'},
	    {"output", required_argument, NULL, 'o'},
	    {"examples", required_argument, NULL, 'e'},
	    {"fail-on-change", no_argument, NULL, 'F'},
	    {NULL, 0, NULL, 0},
	};
	static const char shortopts[] = "m:p:o:";
	const char *model = NULL, *bundle = NULL, *log = NULL;
	report_opts ro = {"text", NULL, 0, 3};
	mp_cli_seen seen = {0};
	char hint[PATH_MAX];
	int c, rc;
	optind = 1;
	while ((c = getopt_long(argc, argv, shortopts, opts, NULL)) != -1) {
		if (mp_cli_once(v, &seen, c, shortopts, opts) != MP_EXIT_OK)
			return MP_EXIT_USAGE;
		switch (c) {
		case 'm':
			model = optarg;
			break;
		case 'p':
			bundle = optarg;
			break;
		case 'l':
			log = optarg;
			break;
		case 'f':
			ro.format = optarg;
			break;
		case 'o':
			ro.out = optarg;
			break;
		case 'F':
			ro.fail_on_change = 1;
			break;
		case 'e': {
			char *end;
			long n = strtol(optarg, &end, 10);
			if (*end || n < 1 || n > 1000)
				return mp_cli_usage_error(v, "--examples takes 1..1000, not '%s'",
				                          optarg);
			ro.examples = (unsigned)n;
			break;
		}
		default:
			return mp_cli_usage_error(v, "unknown option");
		}
	}
	if ((rc = mp_cli_check_arity(v, argc - optind)) != MP_EXIT_OK)
		return rc;
	if (!log || !bundle)
		return mp_cli_usage_error(v, "--decision-log FILE and -p BUNDLE are required");
	if (!mp_changes_format_known(ro.format))
		return mp_cli_usage_error(v, "--format is text, json or markdown, not '%s'",
		                          ro.format);
	if (!model && !(model = model_hint(bundle, hint, sizeof(hint))))
		return mp_cli_usage_error(
		    v, "-m MODEL is required (the bundle's manifest names none)");
	mp_diags d = {0};
	mp_bundle_source *src = mp_bundle_source_open(bundle, &d);
	mp_model *m = src ? mp_model_open(model, &d) : NULL;
	mp_engine *e = m ? mp_engine_with_source(m, src, &d) : NULL;
	mp_evaluator *ev = e ? mp_evaluator_new(e, NULL, &d) : NULL;
	json_t *report = NULL, *head = e ? side(src->dir, e, model) : NULL;
	long changed = -1;
	if (ev) {
		mp_replay_opts o = {head, ro.examples};
		changed = mp_replay(log, ev, &o, &report, &d);
	}
	mp_diags_print(&d, stderr);
	rc = changed >= 0 ? finish(v, report, changed, &ro) : MP_EXIT_USAGE;
	mp_diags_free(&d);
	json_decref(report);
	json_decref(head);
	mp_evaluator_free(ev);
	mp_engine_release(e);
	mp_bundle_source_close(src);
	return rc;
}
