/* cli.h: what the verbs of `meshpol` share: exit codes and the verb table's row type. */
#ifndef MP_CLI_H
#define MP_CLI_H

/* Exit codes (docs/cli.md). decide: 0 allow, 1 deny; audit: 1 findings at or above --fail-on,
 * 3 policy runtime error; verify: 1 tampered; every verb: 2 usage or input error. */
enum {
	MP_EXIT_OK = 0,
	MP_EXIT_FAIL = 1,
	MP_EXIT_USAGE = 2,
	MP_EXIT_RUNTIME = 3,
};

typedef struct {
	const char *name;
	int (*run)(int argc, char **argv); /* argv[0] is the verb */
	int min_args, max_args;            /* positional arguments after options; -1: no limit */
	const char *usage;
	const char *summary;
} mp_verb;

/* Prints "meshpol VERB: message" to stderr, and the verb's usage line; returns MP_EXIT_USAGE. */
int mp_cli_usage_error(const mp_verb *v, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Checks the number of positional arguments left after options against the verb's row. */
int mp_cli_check_arity(const mp_verb *v, int npos);
const mp_verb *mp_cli_verb(const char *name);

int mp_cmd_compile(int argc, char **argv);
int mp_cmd_decide(int argc, char **argv);
int mp_cmd_check(int argc, char **argv);
int mp_cmd_test(int argc, char **argv);
int mp_cmd_audit(int argc, char **argv);
int mp_cmd_repl(int argc, char **argv);
int mp_cmd_serve(int argc, char **argv);

int mp_cmd_verify(int argc, char **argv);
int mp_cmd_keygen(int argc, char **argv);
int mp_cmd_trail(int argc, char **argv);

#endif
