/* test_cmd.c: `meshpol test`: runs a bundle's policy tests (engine/ptest.c). */
#include "cli.h"
#include "ptest.h"

#include <getopt.h>
#include <stdio.h>

int mp_cmd_test(int argc, char **argv)
{
	const mp_verb *v = mp_cli_verb("test");
	static const struct option opts[] = {
	    {"verbose", no_argument, NULL, 'v'},
	    {"run", required_argument, NULL, 'r'},
	    {NULL, 0, NULL, 0},
	};
	mp_ptest_opts o = {.out = stdout};
	int c, rc;
	optind = 1;
	while ((c = getopt_long(argc, argv, "v", opts, NULL)) != -1) {
		if (c == 'v')
			o.verbose = 1;
		else if (c == 'r')
			o.run = optarg;
		else
			return mp_cli_usage_error(v, "unknown option");
	}
	if ((rc = mp_cli_check_arity(v, argc - optind)) != MP_EXIT_OK)
		return rc;
	mp_diags d = {0};
	mp_ptest_result res;
	if (mp_ptest_run(argv[optind], &o, &res, &d) < 0) {
		mp_diags_print(&d, stderr);
		mp_diags_free(&d);
		return MP_EXIT_USAGE;
	}
	mp_diags_free(&d);
	printf("%u passed, %u failed\n", res.passed, res.failed);
	return res.failed ? MP_EXIT_FAIL : MP_EXIT_OK;
}
