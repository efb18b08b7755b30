/* cli.h: what the verbs of `meshpol` share: exit codes, the verb table's row type, and the checks
 * every verb's options go through. Reference: docs/cli.md. */
#ifndef MP_CLI_H
#define MP_CLI_H

#include <getopt.h>
#include <stddef.h>
#include <stdio.h>

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

/* Option flags. */
enum {
	MP_OPT_REPEAT = 1u << 0, /* may be given more than once (compile --cluster-dir) */
	MP_OPT_FILE = 1u << 1,   /* its value is a file (completion offers files) */
	MP_OPT_DIR = 1u << 2,    /* its value is a directory */
};

/* One option of a verb: the table that parses it (mp_cli_next) is the one --help, the man page
 * and the shell completions are written from (cli/options.c), so none can miss an option. */
typedef struct {
	int id;           /* what mp_cli_next returns: the short letter when there is one, else a
	                   * value from 256 (as getopt_long returns) */
	char short_name;  /* 0: long only; else equal to id */
	const char *name; /* the long name, without "--" */
	const char *arg;  /* the value's placeholder ("MODEL"); NULL: a flag */
	const char *help; /* one sentence for --help and the man page */
	const char *const *values; /* the words it takes, NULL-terminated; NULL: anything */
	unsigned flags;            /* MP_OPT_* */
} mp_option;

/* The rows several verbs share, so that they say the same. */
#define MP_CLI_MODEL_OPTION                                                                        \
	{                                                                                          \
		'm', 'm', "model", "MODEL",                                                        \
		    "the mesh: a compiled .mpm file, or YAML files or a directory of them", NULL,  \
		    MP_OPT_FILE                                                                    \
	}
#define MP_CLI_QUIET_OPTION                                                                        \
	{                                                                                          \
		'q', 'q', "quiet", NULL, "print no notes (errors still)", NULL, 0                  \
	}

typedef struct mp_verb {
	const char *name;
	int (*run)(int argc, char **argv); /* argv[0] is the verb */
	int min_args, max_args;            /* positional arguments after options; -1: no limit */
	const char *usage;                 /* the synopsis: which options go together */
	const char *summary;
	const mp_option *options;  /* ends with a row whose name is NULL; NULL: none */
	const char *args_complete; /* positional arguments: "file", "dir", "verb", or a list of
	                            * words ("head adopt"); NULL: files */
	/* the verb's subcommands (trail head, bundle build), rows like the verbs' named "VERB SUB":
	 * main.c runs the one argv[1] names, prints its --help, and options.c writes them into the
	 * man page and completions; NULL: none */
	const struct mp_verb *(*subcommands)(size_t *n);
} mp_verb;

/* Prints "meshpol VERB: message" to stderr, and the verb's usage line; returns MP_EXIT_USAGE. */
int mp_cli_usage_error(const mp_verb *v, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Checks the number of positional arguments left after options against the verb's row. */
int mp_cli_check_arity(const mp_verb *v, int npos);

/* `meshpol VERB --help` and `-h` never reach the verb: main.c prints the verb's help (usage,
 * summary, every option of its table) and exits 0 when either appears among the arguments
 * (before a "--"), whatever else is there. */

#define MP_CLI_MAX_OPT     512 /* option ids getopt_long may return: chars, and 256.. */
#define MP_CLI_MAX_OPTIONS 64  /* options of one verb */

/* Runs the subcommand of v (a verb with subcommands) that argv[1] names; a missing or unknown
 * one is a usage error naming them. */
int mp_cli_run_subcommand(const mp_verb *v, int argc, char **argv);

/* A verb's option parser, over its table. Zero-initialise; one per parse. */
typedef struct {
	struct option longopts[MP_CLI_MAX_OPTIONS + 1];
	char shortopts[3 * MP_CLI_MAX_OPTIONS + 2];
	const char *value[MP_CLI_MAX_OPT];  /* by option id: the value it was first given */
	unsigned char seen[MP_CLI_MAX_OPT]; /* by option id: given at least once */
	int started;
} mp_cli_parser;

#define MP_CLI_DONE  (-1) /* no more options: positional arguments start at optind */
#define MP_CLI_ERROR (-2) /* a usage error was printed: return MP_EXIT_USAGE */

/* The next option of argv by v's table, its value in optarg. Checked here, once for every verb:
 * an unknown option (named, with the nearest option of the verb), a missing value, a value not
 * among the option's words (named with the words and the nearest), and an option that takes a
 * value given twice unless it may repeat ("-m/--model given twice ('a', then 'b'); give it
 * once"): each prints the usage error and returns MP_CLI_ERROR. */
int mp_cli_next(const mp_verb *v, mp_cli_parser *p, int argc, char **argv);
/* How the user spells option id of v: "-m/--model", "--format"; into buf. */
const char *mp_cli_option_name(const mp_verb *v, int id, char *buf, size_t len);

/* An option that only means something beside another (serve --model-url needs --bundle-url). */
typedef struct {
	int opt, needs; /* option ids of the verb's table */
} mp_cli_need;
/* After the parse: the first option given without the one it needs is a usage error ("--model-url
 * needs --bundle-url"), returning MP_EXIT_USAGE; else MP_EXIT_OK. */
int mp_cli_check_needs(const mp_verb *v, const mp_cli_parser *p, const mp_cli_need *needs,
                       size_t n);

/* --help for v on out: usage, summary, every option of its table. */
void mp_cli_print_help(const mp_verb *v, FILE *out);
/* The verbs, in order, and their count: for help, the man page and the completions. */
const mp_verb *mp_cli_verbs(size_t *n);
/* `meshpol help --man`: the man page (groff -man) of every verb from the tables. */
void mp_cli_write_man(FILE *out);
/* `meshpol help --completion bash|zsh`: a completion script from the tables; -1: no such shell. */
int mp_cli_write_completion(FILE *out, const char *shell);

const mp_verb *mp_cli_verb(const char *name);

int mp_cmd_compile(int argc, char **argv);
int mp_cmd_export(int argc, char **argv);
int mp_cmd_decide(int argc, char **argv);
int mp_cmd_check(int argc, char **argv);
int mp_cmd_test(int argc, char **argv);
int mp_cmd_audit(int argc, char **argv);
int mp_cmd_repl(int argc, char **argv);
int mp_cmd_serve(int argc, char **argv);

int mp_cmd_verify(int argc, char **argv);
int mp_cmd_keygen(int argc, char **argv);
int mp_cmd_graph(int argc, char **argv);
int mp_cmd_diff(int argc, char **argv);
int mp_cmd_replay(int argc, char **argv);

/* The verbs' option tables, beside the code that acts on them. */
extern const mp_option mp_compile_options[], mp_export_options[], mp_check_options[],
    mp_test_options[], mp_decide_options[], mp_verify_options[], mp_keygen_options[],
    mp_audit_options[], mp_serve_options[], mp_repl_options[], mp_graph_options[],
    mp_diff_options[], mp_replay_options[];
/* `meshpol trail`'s and `meshpol bundle`'s subcommands (trail_cmds.c, bundle_cmd.c). */
const mp_verb *mp_trail_subcommands(size_t *n);
const mp_verb *mp_bundle_subcommands(size_t *n);
/* Words shared by option tables. */
extern const char *const mp_report_formats[];

#endif
