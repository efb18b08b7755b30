/* test_cmd.c: `meshpol test`: runs a bundle's policy tests (engine/ptest.c). Exit 0 all passed,
 * 1 some failed, 2 no tests to run (none in the bundle, or none --run selects). */
#include "cli.h"
#include "diag.h"
#include "ptest.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

int mp_cmd_test(int argc, char **argv)
{
	const mp_verb *v = mp_cli_verb("test");
	static const struct option opts[] = {
	    {"verbose", no_argument, NULL, 'v'},
	    {"run", required_argument, NULL, 'r'},
	    {NULL, 0, NULL, 0},
	};
	mp_ptest_opts o = {.out = stdout};
	mp_cli_seen seen = {0};
	int c, rc;
	optind = 1;
	while ((c = getopt_long(argc, argv, "v", opts, NULL)) != -1) {
		if (mp_cli_once(v, &seen, c, "v", opts) != MP_EXIT_OK)
			return MP_EXIT_USAGE;
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
	/* No test ran: a gate would pass while testing nothing (a --run typo, empty files). */
	if (!res.passed && !res.failed && o.run) {
		char q[96];
		return mp_cli_usage_error(v, "--run '%s' matches no test in %s",
		                          mp_diag_quote(o.run, strlen(o.run), q, sizeof(q)),
		                          argv[optind]);
	}
	if (!res.passed && !res.failed)
		return mp_cli_usage_error(v, "%s: its test files declare no tests", argv[optind]);
	printf("%u passed, %u failed\n", res.passed, res.failed);
	return res.failed ? MP_EXIT_FAIL : MP_EXIT_OK;
}
