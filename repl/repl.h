/* repl.h: `meshpol repl`, the interactive shell: GNU readline with history and completion,
 * commands (commands.h), Lua (luaeval.h), and scripts read from a pipe. The user's reference
 * and the design are in docs/repl.md. */
#ifndef MP_REPL_H
#define MP_REPL_H

typedef struct {
	const char *model;      /* -m MODEL, or NULL */
	const char *bundle_dir; /* -p POLICY_DIR, or NULL */
} mp_repl_opts;

/* Runs the shell until Ctrl-D, :quit or the end of a script. Returns the exit code: 0; with
 * stdin not a terminal, 1 when any command failed and 2 when MODEL or POLICY_DIR did not load. */
int mp_repl_run(const mp_repl_opts *o);

#endif
