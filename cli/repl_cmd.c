/* repl_cmd.c: `meshpol repl [-m MODEL] [-p POLICY_DIR]`: reads the options and hands over to
 * the shell (repl/repl.h). Reference: docs/repl.md. */
#include "cli.h"

#include "../repl/repl.h"

#include <getopt.h>
#include <stddef.h>

int mp_cmd_repl(int argc, char **argv)
{
	const mp_verb *v = mp_cli_verb("repl");
	static const struct option opts[] = {
	    {"model", required_argument, NULL, 'm'},
	    {"policies", required_argument, NULL, 'p'},
	    {NULL, 0, NULL, 0},
	};
	mp_repl_opts o = {0};
	mp_cli_seen seen = {0};
	int c, rc;
	optind = 1;
	while ((c = getopt_long(argc, argv, "m:p:", opts, NULL)) != -1) {
		if (mp_cli_once(v, &seen, c, "m:p:", opts) != MP_EXIT_OK)
			return MP_EXIT_USAGE;
		if (c == 'm')
			o.model = optarg;
		else if (c == 'p')
			o.bundle_dir = optarg;
		else
			return mp_cli_usage_error(v, "unknown option");
	}
	if ((rc = mp_cli_check_arity(v, argc - optind)) != MP_EXIT_OK)
		return rc;
	return mp_repl_run(&o);
}
