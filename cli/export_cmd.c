/* export_cmd.c: `meshpol export --to TARGET SOURCE...`: the way off a mesh (engine/include/
 * export.h): the target mesh's resources for the rules of the mesh the sources configure, to
 * -o (stdout by default), and the check that meshpol decides both the same: a summary on
 * stderr, or the whole report as JSON to --report. Exit 0 when the check found no difference,
 * 1 when it found some, 2 for a usage or input error. docs/cli.md ("export"). */
#include "cli.h"
#include "diag.h"
#include "export.h"
#include "files.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The summary a person reads: the counts, each difference, what does not carry over. */
static void summary(FILE *f, json_t *report)
{
	json_t *check = json_object_get(report, "check"), *x;
	json_t *differ = json_object_get(check, "differ"),
	       *unv = json_object_get(check, "unverified");
	size_t i;
	fprintf(f,
	        "meshpol export: %s -> %s: %lld requests checked, %lld decided the same, %zu "
	        "differ, %zu not verified\n",
	        json_string_value(json_object_get(report, "from")),
	        json_string_value(json_object_get(report, "to")),
	        json_integer_value(json_object_get(check, "requests")),
	        json_integer_value(json_object_get(check, "same")), json_array_size(differ),
	        json_array_size(unv));
	json_array_foreach(differ, i, x)
	{
		fprintf(f, "differs: %s: %s %s, %s %s\n",
		        json_string_value(json_object_get(x, "what")),
		        json_string_value(json_object_get(report, "from")),
		        json_string_value(json_object_get(json_object_get(x, "source"), "effect")),
		        json_string_value(json_object_get(report, "to")),
		        json_string_value(json_object_get(json_object_get(x, "target"), "effect")));
	}
	json_array_foreach(json_object_get(report, "left_out"), i, x)
	{
		fprintf(f, "left out: %s: %s\n", json_string_value(json_object_get(x, "what")),
		        json_string_value(json_object_get(x, "why")));
	}
}

const mp_option mp_export_options[] = {
    {'t', 0, "to", "TARGET", "the mesh to write resources for: istio", NULL, 0},
    {'o', 'o', "output", "OUT.yaml", "write the resources to OUT.yaml (default stdout)", NULL,
     MP_OPT_FILE},
    {'r', 0, "report", "REPORT.json", "write the whole check as JSON to REPORT.json", NULL,
     MP_OPT_FILE},
    {'T', 0, "trust-domain", "TD", "the trust domain of the identities (default cluster.local)",
     NULL, 0},
    {0},
};

int mp_cmd_export(int argc, char **argv)
{
	const mp_verb *v = mp_cli_verb("export");
	const char *to = NULL, *out = NULL, *report_path = NULL;
	mp_compile_opts copts = {0};
	mp_cli_parser p = {0};
	char err[1024];
	int c, rc;
	while ((c = mp_cli_next(v, &p, argc, argv)) != MP_CLI_DONE) {
		switch (c) {
		case MP_CLI_ERROR:
			return MP_EXIT_USAGE;
		case 't':
			to = optarg;
			break;
		case 'o':
			out = optarg;
			break;
		case 'r':
			report_path = optarg;
			break;
		case 'T':
			copts.trust_domain = optarg;
			break;
		}
	}
	if (!to)
		return mp_cli_usage_error(v, "--to TARGET is required (istio)");
	if ((rc = mp_cli_check_arity(v, argc - optind)) != MP_EXIT_OK)
		return rc;
	mp_out *o = NULL, *ro = NULL;
	if (out && !(o = mp_out_open(out, 0666, 0, err, sizeof(err)))) {
		fprintf(stderr, "meshpol export: %s\n", err);
		return MP_EXIT_USAGE;
	}
	if (report_path && !(ro = mp_out_open(report_path, 0666, 0, err, sizeof(err)))) {
		fprintf(stderr, "meshpol export: %s\n", err);
		mp_out_discard(o);
		return MP_EXIT_USAGE;
	}
	mp_diags d = {0};
	json_t *report = NULL;
	rc = mp_export((const char *const *)argv + optind, (size_t)(argc - optind), &copts, to,
	               o ? mp_out_file(o) : stdout, &report, &d);
	mp_diags_print(&d, stderr);
	mp_diags_free(&d);
	if (rc < 0) {
		mp_out_discard(o);
		mp_out_discard(ro);
		return MP_EXIT_USAGE;
	}
	summary(stderr, report);
	if (ro && json_dumpf(report, mp_out_file(ro), JSON_INDENT(2)) < 0)
		rc = -1;
	if (ro)
		fputc('\n', mp_out_file(ro));
	json_decref(report);
	if ((o && mp_out_commit(o, err, sizeof(err)) < 0) ||
	    (ro && mp_out_commit(ro, err, sizeof(err)) < 0) || rc < 0) {
		fprintf(stderr, "meshpol export: %s\n", rc < 0 ? "writing the report" : err);
		return MP_EXIT_FAIL;
	}
	return rc ? MP_EXIT_FAIL : MP_EXIT_OK;
}
