/* shell.h: the state the shell's modules share, and their common output helpers (colours, the
 * one error emitter, paths as the user knows them, Ctrl-C). repl.c owns the state; the design
 * is written in docs/repl.md ("How it works").
 *
 * Ownership, stated once: an mp_shell owns everything it points at. `engine` is the current
 * snapshot (one reference); `ev` is an evaluator on it; `last` retains the snapshot that made the
 * last decision, which may be older than `engine` after a reload. Replacing `engine` goes
 * through mp_shell_set_engine() only, which also replaces `ev` and refreshes the Lua side.
 */
#ifndef MP_SHELL_H
#define MP_SHELL_H

#include "decide.h"
#include "engine.h"
#include "sandbox.h"

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>

struct mp_snap;
struct mp_rlua;
struct mp_filewatch;

/* The last decision, kept for :why. */
typedef struct {
	mp_engine *engine; /* retained: the snapshot that decided */
	json_t *input;     /* owned: the decision input; req's strings point into it */
	mp_request req;
	mp_header hbuf[MP_REQUEST_MAX_HEADERS];
	mp_decision dec;
	json_t *explain; /* owned: mp_decide's explanation, one object per rule considered */
	char id[32];     /* "repl-N": decision ids are numbered, so scripted output is stable */
	double seconds;  /* the decision alone, without the explanation */
} mp_shell_decision;

typedef struct mp_shell {
	int interactive; /* stdin is a terminal: prompt, banner, readline, history */
	int color;       /* stdout is a terminal and NO_COLOR is unset */
	int show_time;   /* :time on */
	int json;        /* :format json */
	int failed;      /* a command failed: the exit code of a script */
	int quit;

	char *model_path;     /* MODEL as given or taken from the manifest; NULL: none */
	char *bundle_dir;     /* POLICY_DIR as given, without trailing '/'; NULL: none */
	struct mp_snap *snap; /* how snapshots are built: temp dir, bundle copy, session */
	mp_engine *engine;    /* the current snapshot; NULL until a model is loaded */
	mp_evaluator *ev;     /* decisions and audits on engine (production budgets) */
	mp_sandbox *ev_sb;    /* ev's sandbox once made (mp_shell_ev_sandbox), for Ctrl-C */
	struct mp_rlua *lua;  /* the Lua side (its own state, see luaeval.h) */
	struct mp_filewatch *watch;

	mp_shell_decision *last; /* NULL before the first decision */
	uint64_t ndecisions;
} mp_shell;

/* --- output --- */

enum mp_shell_color { MP_C_RESET, MP_C_ALLOW, MP_C_DENY, MP_C_BOLD, MP_C_DIM };
/* The ANSI sequence, or "" when colour is off. */
const char *mp_shell_color(const mp_shell *sh, enum mp_shell_color c);

/* The one error emitter: marks the command failed, flushes stdout (so a script's output keeps
 * its order when stdout and stderr go to one file) and prints the message to stderr with
 * control characters escaped. */
void mp_shell_error(mp_shell *sh, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Diagnostics (load errors) through the same emitter, one per line. */
void mp_shell_diags(mp_shell *sh, const mp_diags *d);

/* Seconds on a monotonic clock. */
double mp_shell_now(void);
/* Prints "(N ms)" when :time is on. */
void mp_shell_timing(const mp_shell *sh, const char *what, double seconds);

/* Splits a command's arguments into words: blanks separate them, "..." and '...' quote (a
 * backslash escapes inside double quotes). Returns the count with *words mp_malloc'd (free with
 * mp_shell_free_words), or -1 for an unclosed quote (*words NULL). */
int mp_shell_split(const char *text, char ***words);
void mp_shell_free_words(char **words, int n);

/* --- snapshots --- */

/* Installs e as the current snapshot (takes the caller's reference; e may equal the current
 * one): a new evaluator, the Lua side refreshed (and rebuilt when the model changed). 0, or -1
 * with the error printed (the previous snapshot stays). */
int mp_shell_set_engine(mp_shell *sh, mp_engine *e);
/* Prints an error and returns -1 when no model is loaded. */
int mp_shell_need_model(mp_shell *sh, const char *cmd);

/* --- Ctrl-C --- */

/* Registers a sandbox that may run during the current command, so that Ctrl-C interrupts it;
 * the registry is cleared after each command (a stale interrupt request is consumed then).
 * NULL is ignored. mp_shell_unbusy must be called before a registered sandbox is freed. */
void mp_shell_busy(mp_sandbox *sb);
void mp_shell_unbusy(mp_sandbox *sb);
/* The evaluator's sandbox (made on first use), or NULL when it cannot be built. */
mp_sandbox *mp_shell_ev_sandbox(mp_shell *sh);
/* Has Ctrl-C been pressed during the current command? Loops in C poll it. */
int mp_shell_interrupted(void);

#endif
