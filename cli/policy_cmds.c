/* policy_cmds.c: `meshpol decide` (one decision as JSON) and `meshpol check` (lint a bundle).
 * Reference: docs/cli.md. */
#include "cli.h"
#include "decide.h"
#include "waiver.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

/* Reads the decision input: a file, or stdin for "-" or no argument. JSON errors name
 * file:line:col. A pipe is read (`<(...)`); a directory is named as one. */
static json_t *read_input(const char *path)
{
	json_error_t e;
	struct stat st;
	int stdin_input = !path || !strcmp(path, "-");
	if (!stdin_input && stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
		fprintf(stderr, "%s: is a directory, not a JSON file\n", path);
		return NULL;
	}
	FILE *f = stdin_input ? stdin : fopen(path, "r");
	if (!f) {
		fprintf(stderr, "meshpol decide: cannot open %s: %s\n", path, strerror(errno));
		return NULL;
	}
	json_t *j = json_loadf(f, JSON_REJECT_DUPLICATES, &e);
	if (f != stdin)
		fclose(f);
	if (!j)
		fprintf(stderr, "%s:%d:%d: invalid JSON: %s\n", stdin_input ? "<stdin>" : path,
		        e.line, e.column, e.text);
	return j;
}

const mp_option mp_decide_options[] = {
    MP_CLI_MODEL_OPTION,
    {'p', 'p', "policies", "POLICY_DIR",
     "the policy bundle; without it only the meshes' own rules decide", NULL, MP_OPT_DIR},
    {'e', 0, "explain", NULL, "add every rule considered, and why it matched or not", NULL, 0},
    MP_CLI_QUIET_OPTION,
    {0},
};

int mp_cmd_decide(int argc, char **argv)
{
	const mp_verb *v = mp_cli_verb("decide");
	const char *model = NULL, *policies = NULL;
	mp_cli_parser p = {0};
	int explain = 0, quiet = 0, c, rc = MP_EXIT_USAGE;
	while ((c = mp_cli_next(v, &p, argc, argv)) != MP_CLI_DONE) {
		if (c == MP_CLI_ERROR)
			return MP_EXIT_USAGE;
		if (c == 'm')
			model = optarg;
		else if (c == 'p')
			policies = optarg;
		else if (c == 'e')
			explain = 1;
		else if (c == 'q')
			quiet = 1;
	}
	if ((rc = mp_cli_check_arity(v, argc - optind)) != MP_EXIT_OK)
		return rc;
	if (!model)
		return mp_cli_usage_error(v, "-m MODEL is required");
	rc = MP_EXIT_USAGE;

	mp_diags d = {.quiet = quiet};
	mp_evaluator *ev = NULL;
	json_t *out = NULL, *why = explain ? json_array() : NULL;
	json_t *input = read_input(optind < argc ? argv[optind] : NULL);
	mp_engine *e = input ? mp_engine_open(model, policies, &d) : NULL;
	mp_diags_print(&d, stderr);
	if (!e || !(ev = mp_evaluator_new(e, NULL, &d)))
		goto out;
	mp_request req;
	mp_header headers[MP_REQUEST_MAX_HEADERS];
	char err[512];
	if (mp_request_from_json(input, &req, headers, err, sizeof(err)) < 0) {
		fprintf(stderr, "meshpol decide: %s: %s\n",
		        optind < argc ? argv[optind] : "<stdin>", err);
		goto out;
	}
	mp_decision dec;
	mp_decide(ev, &req, &dec, why);
	out = mp_decision_json(e, &dec, NULL);
	if (why)
		json_object_set(out, "explain", why);
	json_dumpf(out, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	putchar('\n');
	rc = dec.allow ? MP_EXIT_OK : MP_EXIT_FAIL;
out:
	json_decref(out);
	json_decref(why);
	json_decref(input);
	mp_evaluator_free(ev);
	mp_engine_release(e);
	mp_diags_free(&d);
	return rc;
}

/* The model for a bundle: -m, else the manifest's `model`. */
static const char *bundle_model(const char *model, const char *dir, char *buf, size_t len)
{
	if (model)
		return model;
	return mp_bundle_model_hint(dir, buf, len) == 0 ? buf : NULL;
}

/* Budget units for people: 950, 12.5k, 3.1M, 100M. */
static const char *units_text(uint64_t u, char *buf, size_t len)
{
	double v = (double)u;
	const char *unit = u >= 1000000 ? "M" : u >= 10000 ? "k" : "";
	double scaled = *unit == 'M' ? v / 1e6 : *unit == 'k' ? v / 1e3 : v;
	if (!*unit || scaled == (double)(uint64_t)scaled)
		snprintf(buf, len, "%.0f%s", scaled, unit);
	else
		snprintf(buf, len, "%.1f%s", scaled, unit);
	return buf;
}

const mp_option mp_check_options[] = {
    {'m', 'm', "model", "MODEL",
     "the mesh the bundle's references are checked against (default: the manifest's model)", NULL,
     MP_OPT_FILE},
    MP_CLI_QUIET_OPTION,
    {0},
};

int mp_cmd_check(int argc, char **argv)
{
	const mp_verb *v = mp_cli_verb("check");
	const char *model = NULL;
	char hint[PATH_MAX];
	mp_cli_parser p = {0};
	int c, rc, quiet = 0;
	while ((c = mp_cli_next(v, &p, argc, argv)) != MP_CLI_DONE) {
		if (c == MP_CLI_ERROR)
			return MP_EXIT_USAGE;
		if (c == 'm')
			model = optarg;
		else if (c == 'q')
			quiet = 1;
	}
	if ((rc = mp_cli_check_arity(v, argc - optind)) != MP_EXIT_OK)
		return rc;
	const char *dir = argv[optind];
	model = bundle_model(model, dir, hint, sizeof(hint));
	if (!model)
		return mp_cli_usage_error(
		    v, "no model: give -m MODEL or set 'model' in %s/bundle.yaml", dir);
	mp_diags d = {.quiet = quiet};
	mp_engine *e = mp_engine_open(model, dir, &d);
	mp_diags_print(&d, stderr);
	if (!e) {
		fprintf(stderr, "meshpol check: %s: %u error%s\n", dir, d.errors,
		        d.errors == 1 ? "" : "s");
		mp_diags_free(&d);
		return MP_EXIT_USAGE;
	}
	const mp_bundle *b = e->bundle;
	/* the waivers too: an audit refuses a malformed waivers.yaml, so check says so first */
	mp_waivers *waivers = NULL;
	mp_diags wd = {0};
	int bad_waivers = mp_waivers_load(b, &waivers, &wd) < 0;
	mp_diags_print(&wd, stderr);
	if (bad_waivers)
		fprintf(stderr, "meshpol check: %s: %u error%s in %s\n", dir, wd.errors,
		        wd.errors == 1 ? "" : "s", MP_WAIVERS_FILE);
	mp_diags_free(&wd);
	mp_waivers_free(waivers);
	if (bad_waivers) {
		mp_engine_release(e);
		mp_diags_free(&d);
		return MP_EXIT_USAGE;
	}
	printf("%s: ok: %u policies, %u rules, %u checks; revision %s; sha256 %s\n", dir,
	       b->npolicies, b->nrules, b->nchecks, b->revision, b->sha256);
	const mp_bundle_file *heaviest = NULL;
	for (uint32_t i = 0; i < b->npolicy_files; i++)
		if (!heaviest || b->files[i].load_units > heaviest->load_units)
			heaviest = &b->files[i];
	if (heaviest) {
		char used[32], load[32], when[32];
		printf("%s: load: %s of %s instructions (the heaviest of %u files; a `when` call "
		       "may use %s)\n",
		       heaviest->path, units_text(heaviest->load_units, used, sizeof(used)),
		       units_text(MP_BUNDLE_LOAD_BUDGET, load, sizeof(load)), b->npolicy_files,
		       units_text(MP_WHEN_BUDGET, when, sizeof(when)));
	}
	mp_engine_release(e);
	mp_diags_free(&d);
	return MP_EXIT_OK;
}
