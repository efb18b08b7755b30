/* test_cmd.c: `meshpol test`: runs a bundle's policy tests (engine/ptest.c). Exit 0 all passed,
 * 1 some failed, 2 no tests to run (none in the bundle, or none --run selects). */
#include "cli.h"
#include "diag.h"
#include "ptest.h"

#include <stdio.h>
#include <string.h>

const mp_option mp_test_options[] = {
    {'v', 'v', "verbose", NULL, "print every test, not only the failures", NULL, 0},
    {'r', 0, "run", "PATTERN", "run only the tests whose name contains PATTERN", NULL, 0},
    {0},
};

int mp_cmd_test(int argc, char **argv)
{
	const mp_verb *v = mp_cli_verb("test");
	mp_ptest_opts o = {.out = stdout};
	mp_cli_parser p = {0};
	int c, rc;
	while ((c = mp_cli_next(v, &p, argc, argv)) != MP_CLI_DONE) {
		if (c == MP_CLI_ERROR)
			return MP_EXIT_USAGE;
		if (c == 'v')
			o.verbose = 1;
		else if (c == 'r')
			o.run = optarg;
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
