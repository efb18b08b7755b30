/* repl_cmd.c: `meshpol repl [-m MODEL] [-p POLICY_DIR]`: reads the options and hands over to
 * the shell (repl/repl.h). Reference: docs/repl.md. */
#include "cli.h"

#include "../repl/repl.h"

#include <stddef.h>

const mp_option mp_repl_options[] = {
    MP_CLI_MODEL_OPTION,
    {'p', 'p', "policies", "POLICY_DIR", "the policy bundle to load (and reload with :reload)",
     NULL, MP_OPT_DIR},
    {0},
};

int mp_cmd_repl(int argc, char **argv)
{
	const mp_verb *v = mp_cli_verb("repl");
	mp_repl_opts o = {0};
	mp_cli_parser p = {0};
	int c, rc;
	while ((c = mp_cli_next(v, &p, argc, argv)) != MP_CLI_DONE) {
		if (c == MP_CLI_ERROR)
			return MP_EXIT_USAGE;
		if (c == 'm')
			o.model = optarg;
		else if (c == 'p')
			o.bundle_dir = optarg;
	}
	if ((rc = mp_cli_check_arity(v, argc - optind)) != MP_EXIT_OK)
		return rc;
	return mp_repl_run(&o);
}
