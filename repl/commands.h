/* commands.h: the shell's commands, declared in one table (name, arguments, what Tab completes,
 * help) and checked in one place: mp_command_run checks the arity, so no handler re-checks it
 * (as Redis's commandCheckArity does). Reference: docs/repl.md ("Commands"). */
#ifndef MP_COMMANDS_H
#define MP_COMMANDS_H

#include "shell.h"
#include "snapshot.h"

#include <stddef.h>

/* What Tab offers for a command's arguments. */
typedef enum {
	MP_ARG_NONE = 0,
	MP_ARG_COMMAND, /* command names */
	MP_ARG_PATH,    /* file names */
	MP_ARG_SERVICE, /* service names, namespace/name, SPIFFE IDs */
	MP_ARG_REQUEST, /* :decide: SRC -> DST METHOD ... */
	MP_ARG_WHO,     /* :who-can: SERVICE METHOD ... */
	MP_ARG_POLICY,  /* policy names */
	MP_ARG_WORDS,   /* the words listed in `choices` */
} mp_arg_kind;

typedef struct {
	const char *name;       /* typed after ':' */
	const char *alias;      /* another name, or NULL */
	const char *args;       /* the arguments' usage, e.g. "[PATTERN]" */
	int min_args, max_args; /* words after the name; -1: no limit */
	mp_arg_kind complete;
	const char *choices; /* for MP_ARG_WORDS: "on off" */
	/* argv: the words after the name; rest: the text after the name, as typed */
	int (*run)(mp_shell *sh, int argc, char **argv, const char *rest);
	const char *summary; /* one line, for :help */
	const char *help;    /* for :help NAME */
} mp_command;

/* The table (n rows), and one row by name or alias (with or without its ':'). */
const mp_command *mp_commands(size_t *n);
const mp_command *mp_command_find(const char *name);

/* Runs a line that starts with ':'. 0, or -1 after printing the error. */
int mp_command_run(mp_shell *sh, const char *line);

/* Loads MODEL and POLICY_DIR at startup (either may be NULL; without a model, the bundle's
 * manifest names one). quiet: print nothing on success. 0 or -1 (errors printed). */
int mp_command_open(mp_shell *sh, const char *model, const char *bundle_dir, int quiet);

/* Adds a chunk that declared decls to the session and rebuilds the snapshot; on failure the
 * chunk is dropped and the snapshot kept. 0 or -1 (errors printed). */
int mp_command_declare(mp_shell *sh, const char *code, size_t len, const mp_snap_decl *decls,
                       uint32_t ndecls);

/* :watch: reloads after the watched files changed (the paths are printed). */
void mp_command_watch_fired(mp_shell *sh, const char *const *paths, uint32_t n, int tags);
/* Starts or stops watching (the model's and bundle's files). 0 or -1. */
int mp_command_watch(mp_shell *sh, int on);

#endif
