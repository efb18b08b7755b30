/* diff_cmd.c: `meshpol diff` (the decisions a bundle or mesh change alters, engine/include/
 * diff.h) and `meshpol replay` (a decision log decided again under a candidate bundle,
 * replay.h), both writing the report of changes.h. Exit 0 when compared (changes or not), 1
 * with --fail-on-change when something changed (or the output could not be written), 2 for a
 * usage or input error. docs/cli.md ("diff", "replay"), docs/bundles.md. */
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
/* The report's options diff and replay share, as rows of both tables and parsed by one
 * report_option. */
enum {
	O_FAIL_ON_CHANGE = 256,
	O_EXAMPLES,
	O_BASE,
	O_HEAD,
	O_BASE_REV,
	O_BASE_MODEL,
	O_HEAD_MODEL,
	O_DECISION_LOG
};
static const char *const change_formats[] = {"text", "json", "markdown", NULL};
#define REPORT_OPTIONS                                                                             \
	{'f', 'f', "format", "FORMAT", "the report's format (default text)", change_formats, 0},   \
	    {'o',                                                                                  \
	     'o',                                                                                  \
	     "output",                                                                             \
	     "FILE",                                                                               \
	     "write the report to FILE, replaced whole (default stdout)",                          \
	     NULL,                                                                                 \
	     MP_OPT_FILE},                                                                         \
	    {O_EXAMPLES,                                                                           \
	     0,                                                                                    \
	     "examples",                                                                           \
	     "N",                                                                                  \
	     "example requests shown per change, 1..1000 (default 3)",                             \
	     NULL,                                                                                 \
	     0},                                                                                   \
	{                                                                                          \
		O_FAIL_ON_CHANGE, 0, "fail-on-change", NULL, "exit 1 when any decision changed",   \
		    NULL, 0                                                                        \
	}

/* Acts on one of REPORT_OPTIONS (the table checked the format's word): MP_EXIT_OK, or the usage
 * error's exit code; any other option is left alone. */
static int report_option(const mp_verb *v, int c, const char *arg, report_opts *ro)
{
	char *end;
	long n;
	switch (c) {
	case 'f':
		ro->format = arg;
		return MP_EXIT_OK;
	case 'o':
		ro->out = arg;
		return MP_EXIT_OK;
	case O_FAIL_ON_CHANGE:
		ro->fail_on_change = 1;
		return MP_EXIT_OK;
	case O_EXAMPLES:
		n = strtol(arg, &end, 10);
		if (*end || n < 1 || n > 1000)
			return mp_cli_usage_error(v, "--examples takes 1..1000, not '%s'", arg);
		ro->examples = (unsigned)n;
		return MP_EXIT_OK;
	}
	return MP_EXIT_OK;
}

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

/* The model of a bundle directory's manifest, or the one an archive holds, when no -m was given. */
static const char *model_hint(const char *spec, char *buf, size_t len)
{
	struct stat st;
	if (!spec || stat(spec, &st) < 0 || !(S_ISDIR(st.st_mode) || S_ISREG(st.st_mode)))
		return NULL; /* a directory, or an archive (its model); not a revision */
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

const mp_option mp_diff_options[] = {
    {'m', 'm', "model", "MODEL",
     "the mesh both bundles decide on (default: the one the head bundle's manifest names)", NULL,
     MP_OPT_FILE},
    {O_BASE, 0, "base", "BUNDLE", "the bundle before the change: a directory or REV:PATH", NULL,
     MP_OPT_DIR},
    {O_BASE_REV, 0, "base-rev", "REV",
     "the bundle before the change: --head as of Git revision REV", NULL, 0},
    {O_HEAD, 0, "head", "BUNDLE", "the bundle after the change", NULL, MP_OPT_DIR},
    {'p', 'p', "policies", "BUNDLE", "a mesh change: the bundle deciding on both models", NULL,
     MP_OPT_DIR},
    {O_BASE_MODEL, 0, "base-model", "MODEL", "a mesh change: the mesh before it", NULL,
     MP_OPT_FILE},
    {O_HEAD_MODEL, 0, "head-model", "MODEL", "a mesh change: the mesh after it", NULL, MP_OPT_FILE},
    REPORT_OPTIONS,
    {0},
};

const mp_option mp_replay_options[] = {
    {O_DECISION_LOG, 0, "decision-log", "FILE", "the decision log whose requests are decided again",
     NULL, MP_OPT_FILE},
    {'p', 'p', "policies", "BUNDLE", "the candidate bundle", NULL, MP_OPT_DIR},
    {'m', 'm', "model", "MODEL", "the mesh (default: the one the bundle's manifest names)", NULL,
     MP_OPT_FILE},
    REPORT_OPTIONS,
    {0},
};

/* --- diff --- */

int mp_cmd_diff(int argc, char **argv)
{
	const mp_verb *v = mp_cli_verb("diff");
	const char *model = NULL, *bundle = NULL, *base = NULL, *head = NULL, *base_rev = NULL;
	const char *base_model = NULL, *head_model = NULL;
	report_opts ro = {"text", NULL, 0, 3};
	mp_cli_parser p = {0};
	char hint[PATH_MAX];
	int c, rc;
	while ((c = mp_cli_next(v, &p, argc, argv)) != MP_CLI_DONE) {
		switch (c) {
		case MP_CLI_ERROR:
			return MP_EXIT_USAGE;
		case 'm':
			model = optarg;
			break;
		case 'p':
			bundle = optarg;
			break;
		case O_BASE:
			base = optarg;
			break;
		case O_HEAD:
			head = optarg;
			break;
		case O_BASE_REV:
			base_rev = optarg;
			break;
		case O_BASE_MODEL:
			base_model = optarg;
			break;
		case O_HEAD_MODEL:
			head_model = optarg;
			break;
		default:
			if ((rc = report_option(v, c, optarg, &ro)) != MP_EXIT_OK)
				return rc;
		}
	}
	if ((rc = mp_cli_check_arity(v, argc - optind)) != MP_EXIT_OK)
		return rc;
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
	const char *model = NULL, *bundle = NULL, *log = NULL;
	report_opts ro = {"text", NULL, 0, 3};
	mp_cli_parser p = {0};
	char hint[PATH_MAX];
	int c, rc;
	while ((c = mp_cli_next(v, &p, argc, argv)) != MP_CLI_DONE) {
		switch (c) {
		case MP_CLI_ERROR:
			return MP_EXIT_USAGE;
		case 'm':
			model = optarg;
			break;
		case 'p':
			bundle = optarg;
			break;
		case O_DECISION_LOG:
			log = optarg;
			break;
		default:
			if ((rc = report_option(v, c, optarg, &ro)) != MP_EXIT_OK)
				return rc;
		}
	}
	if ((rc = mp_cli_check_arity(v, argc - optind)) != MP_EXIT_OK)
		return rc;
	if (!log || !bundle)
		return mp_cli_usage_error(v, "--decision-log FILE and -p BUNDLE are required");
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
