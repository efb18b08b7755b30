/* cli.h: what the verbs of `meshpol` share: exit codes, the verb table's row type, and the checks
 * every verb's options go through. Reference: docs/cli.md. */
#ifndef MP_CLI_H
#define MP_CLI_H

#include <getopt.h>

/* Exit codes (docs/cli.md). decide: 0 allow, 1 deny; audit: 1 findings at or above --fail-on,
 * 3 policy runtime error; verify: 1 tampered; every other verb: 1 failed (an output that could
 * not be written once opened, a failed test); every verb: 2 usage or input error, which includes
 * an output path that cannot be opened (a missing directory, a directory, an existing key). */
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

/* `meshpol VERB --help` and `-h` never reach the verb: main.c prints the row's usage and exits
 * 0 when either appears among the arguments (before a "--"), whatever else is there. */

#define MP_CLI_MAX_OPT 512 /* option values getopt_long may return: chars, and 256.. for long */

/* The options that take a value which a verb's getopt_long loop has seen. Zero-initialise. */
typedef struct {
	const char *value[MP_CLI_MAX_OPT]; /* by option value: what it was first given */
	unsigned char seen[MP_CLI_MAX_OPT];
} mp_cli_seen;

/* One value per option: call it with each option c that getopt_long returns (with the same
 * shortopts and longopts), before acting on it. An option that takes a value ("m:" in
 * shortopts, required_argument in longopts) given a second time is a usage error: reported as
 * "-m/--model given twice ('a', then 'b'); give it once" with the usage line, and
 * MP_EXIT_USAGE returned; else MP_EXIT_OK. Flags may repeat; '?' and values no option has pass
 * through. An option meant to repeat (compile --cluster-dir) is simply not passed in. */
int mp_cli_once(const mp_verb *v, mp_cli_seen *seen, int c, const char *shortopts,
                const struct option *longopts);
const mp_verb *mp_cli_verb(const char *name);

int mp_cmd_compile(int argc, char **argv);
int mp_cmd_export(int argc, char **argv);
int mp_cmd_decide(int argc, char **argv);
int mp_cmd_check(int argc, char **argv);
int mp_cmd_test(int argc, char **argv);
int mp_cmd_audit(int argc, char **argv);
int mp_cmd_repl(int argc, char **argv);
int mp_cmd_serve(int argc, char **argv);
int mp_cmd_diff(int argc, char **argv);
int mp_cmd_replay(int argc, char **argv);

int mp_cmd_verify(int argc, char **argv);
int mp_cmd_keygen(int argc, char **argv);
int mp_cmd_trail(int argc, char **argv);

#endif
