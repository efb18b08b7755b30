/* graph_cmd.c: `meshpol graph`: the picture of the mesh alone, the one the html report holds
 * (engine/include/meshdot.h): DOT, or SVG laid out by Graphviz's dot. With a bundle the audit
 * runs first, for its residency leak paths and the verdicts on routes. Reference: docs/cli.md. */
#include "alloc.h"
#include "audit.h"
#include "cli.h"
#include "files.h"
#include "meshdot.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DOT_TIMEOUT_MS 120000

static const char *const graph_formats[] = {"svg", "dot", NULL};

const mp_option mp_graph_options[] = {
    MP_CLI_MODEL_OPTION,
    {'p', 'p', "policies", "POLICY_DIR",
     "the policy bundle: colours the routes it denies and the residency leaks it finds", NULL,
     MP_OPT_DIR},
    {'f', 'f', "format", "FORMAT",
     "svg (laid out by Graphviz's dot, the default) or dot (the graph, for dot or xdot)",
     graph_formats, 0},
    {'o', 'o', "output", "FILE", "write the picture to FILE, replaced whole (default stdout)", NULL,
     MP_OPT_FILE},
    MP_CLI_QUIET_OPTION,
    {0},
};

int mp_cmd_graph(int argc, char **argv)
{
	const mp_verb *v = mp_cli_verb("graph");
	const char *model = NULL, *policies = NULL, *format = "svg", *out_path = NULL;
	mp_cli_parser p = {0};
	int c, rc, quiet = 0;
	while ((c = mp_cli_next(v, &p, argc, argv)) != MP_CLI_DONE) {
		if (c == MP_CLI_ERROR)
			return MP_EXIT_USAGE;
		if (c == 'm')
			model = optarg;
		else if (c == 'p')
			policies = optarg;
		else if (c == 'f')
			format = optarg;
		else if (c == 'o')
			out_path = optarg;
		else if (c == 'q')
			quiet = 1;
	}
	if ((rc = mp_cli_check_arity(v, argc - optind)) != MP_EXIT_OK)
		return rc;
	if (!model)
		return mp_cli_usage_error(v, "-m MODEL is required");

	mp_diags d = {.quiet = quiet};
	mp_engine *e = NULL;
	mp_evaluator *ev = NULL;
	json_t *audit = NULL;
	mp_out *o = NULL;
	char *dot = NULL, *svg = NULL, err[1024];
	size_t dotlen = 0, svglen = 0;
	FILE *mem = NULL;
	rc = MP_EXIT_USAGE;
	if (!(o = mp_out_open(out_path ? out_path : "-", 0666, 0, err, sizeof(err)))) {
		fprintf(stderr, "meshpol graph: %s\n", err);
		goto out;
	}
	e = mp_engine_open(model, policies, &d);
	mp_diags_print(&d, stderr);
	if (!e)
		goto out;
	rc = MP_EXIT_FAIL;
	if (e->bundle) { /* the leaks are the audit's: run it as `meshpol audit` would */
		mp_evaluator_opts eo = {.when_budget = 4000000000ull};
		mp_audit_opts ao = {.fail_on = MP_ENF_HARD};
		if (!(ev = mp_evaluator_new(e, &eo, &d)) || !(audit = mp_audit_run(ev, &ao))) {
			mp_diags_print(&d, stderr);
			fprintf(stderr, "meshpol graph: the audit for the picture failed\n");
			goto out;
		}
	}
	if (!(mem = open_memstream(&dot, &dotlen)) || mp_meshdot_write(e, audit, mem, NULL) < 0 ||
	    fclose(mem) != 0) {
		mem = NULL;
		fprintf(stderr, "meshpol graph: out of memory\n");
		goto out;
	}
	mem = NULL;
	if (!strcmp(format, "svg") && mp_graphviz_render(dot, dotlen, "svg", DOT_TIMEOUT_MS, &svg,
	                                                 &svglen, err, sizeof(err)) < 0) {
		fprintf(stderr, "meshpol graph: %s\n", err);
		goto out;
	}
	if (fwrite(svg ? svg : dot, 1, svg ? svglen : dotlen, mp_out_file(o)) !=
	    (svg ? svglen : dotlen)) {
		fprintf(stderr, "meshpol graph: cannot write the picture\n");
		goto out;
	}
	int committed = mp_out_commit(o, err, sizeof(err));
	o = NULL; /* freed by the commit, whatever its result */
	if (committed < 0) {
		fprintf(stderr, "meshpol graph: %s\n", err);
		goto out;
	}
	rc = MP_EXIT_OK;
out:
	if (mem)
		fclose(mem);
	free(dot);
	mp_free(svg);
	mp_out_discard(o);
	json_decref(audit);
	mp_evaluator_free(ev);
	mp_engine_release(e);
	mp_diags_free(&d);
	return rc;
}
