/* compile_cmd.c: `meshpol compile`: YAML sources -> model summary, optionally an .mpm file. */
#include "cli.h"
#include "compile.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int mp_cmd_compile(int argc, char **argv)
{
	const mp_verb *v = mp_cli_verb("compile");
	static const struct option opts[] = {
	    {"output", required_argument, NULL, 'o'},
	    {"max-file-size", required_argument, NULL, 'M'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *out = NULL;
	mp_compile_opts copts = {0};
	int c, rc;
	optind = 1;
	while ((c = getopt_long(argc, argv, "o:h", opts, NULL)) != -1) {
		switch (c) {
		case 'o':
			out = optarg;
			break;
		case 'M': {
			char *end;
			unsigned long long n = strtoull(optarg, &end, 10);
			if (*end || !n)
				return mp_cli_usage_error(
				    v, "--max-file-size wants a byte count, not '%s'", optarg);
			copts.max_file_bytes = (size_t)n;
			break;
		}
		case 'h':
			printf("usage: meshpol %s\n", v->usage);
			return MP_EXIT_OK;
		default:
			return mp_cli_usage_error(v, "unknown option");
		}
	}
	if ((rc = mp_cli_check_arity(v, argc - optind)) != MP_EXIT_OK)
		return rc;

	mp_diags d = {0};
	mp_model *m =
	    mp_compile((const char *const *)argv + optind, (size_t)(argc - optind), &copts, &d);
	mp_diags_print(&d, stderr);
	if (!m) {
		fprintf(stderr, "meshpol compile: %u error%s\n", d.errors,
		        d.errors == 1 ? "" : "s");
		mp_diags_free(&d);
		return MP_EXIT_USAGE;
	}
	mp_diags_free(&d);
	rc = MP_EXIT_OK;
	if (out) {
		char err[1024];
		if (mp_model_save(m, out, err, sizeof(err)) < 0) {
			fprintf(stderr, "meshpol compile: %s\n", err);
			rc = MP_EXIT_FAIL;
			goto out;
		}
	}
	mp_model_view mv = mp_model_get_view(m);
	printf(
	    "%u clusters, %u jurisdictions, %u namespaces, %u services, %u routes, %u externals, "
	    "%u certificates; sha256 %s%s%s\n",
	    mv.nclusters, mv.njurisdictions, mv.nnamespaces, mv.nservices, mv.nroutes,
	    mv.nexternals, mv.ncerts, mp_model_sha256(m), out ? " -> " : "", out ? out : "");
out:
	mp_model_free(m);
	return rc;
}
