/* repl.c: the shell's main loop: reading lines (readline's callback interface on a terminal,
 * plain reads from a pipe), Ctrl-C, history, :watch polling between prompts, and the output
 * helpers of shell.h. Design: docs/repl.md ("How it works").
 *
 * Ctrl-C, as lua.c handles it: the SIGINT handler only sets a flag and asks the sandboxes that
 * the running command registered (mp_shell_busy) to stop, through mp_sandbox_interrupt, which
 * is async-signal-safe; a signal can never touch a Lua state. At the prompt the flag cancels the
 * line being typed. After each command, a request no call consumed is consumed by a no-op call,
 * so it cannot stop the next command.
 *
 * The life of a line:
 *   WAITING --select: stdin readable--> rl_callback_read_char --line complete--> RUNNING
 *   WAITING --select: inotify readable, then quiet for 150 ms--> reload (printed above the prompt)
 *   WAITING --SIGINT--> the line is dropped --> WAITING (a fresh prompt)
 *   RUNNING --command or Lua done--> end_command: stale interrupts consumed --> WAITING
 */
#include "repl.h"
#include "alloc.h"
#include "ask.h"
#include "commands.h"
#include "complete.h"
#include "filewatch.h"
#include "luaeval.h"
#include "shell.h"
#include "snapshot.h"
#include "version.h"

#include <errno.h>
#include <lauxlib.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <readline/history.h>
#include <readline/readline.h>

#define HISTORY_MAX 1000 /* lines kept in the history file */
#define MAX_BUSY    4
#define PROMPT      "meshpol> "
#define PROMPT_MORE "    ...> "

/* --- Ctrl-C --- */

static volatile sig_atomic_t got_sigint, got_winch, got_term;
static mp_sandbox *volatile busy[MAX_BUSY];

static void on_sigint(int sig)
{
	(void)sig;
	got_sigint = 1;
	for (int i = 0; i < MAX_BUSY; i++) {
		mp_sandbox *sb = busy[i];
		if (sb)
			mp_sandbox_interrupt(sb);
	}
}

/* SIGTERM, SIGHUP: stop what runs and leave as Ctrl-D would (the history is saved). */
static void on_sigterm(int sig)
{
	got_term = 1;
	on_sigint(sig);
}

static void on_sigwinch(int sig)
{
	(void)sig;
	got_winch = 1;
}

void mp_shell_busy(mp_sandbox *sb)
{
	if (!sb)
		return;
	for (int i = 0; i < MAX_BUSY; i++)
		if (busy[i] == sb)
			return;
	for (int i = 0; i < MAX_BUSY; i++)
		if (!busy[i]) {
			busy[i] = sb;
			if (got_sigint) /* pressed just before: stop this one too */
				mp_sandbox_interrupt(sb);
			return;
		}
}

void mp_shell_unbusy(mp_sandbox *sb)
{
	for (int i = 0; sb && i < MAX_BUSY; i++)
		if (busy[i] == sb)
			busy[i] = NULL;
}

int mp_shell_interrupted(void)
{
	return got_sigint != 0;
}

static int noop(lua_State *L)
{
	(void)L;
	return 0;
}

/* After a command: forgets the registered sandboxes and consumes any interrupt request that
 * no call took (mp_sandbox_pcall takes one at its start). */
static void end_command(void)
{
	mp_sandbox *was[MAX_BUSY];
	for (int i = 0; i < MAX_BUSY; i++) {
		was[i] = busy[i];
		busy[i] = NULL;
	}
	if (got_sigint) {
		char err[128];
		for (int i = 0; i < MAX_BUSY; i++)
			if (was[i]) {
				lua_pushcfunction(mp_sandbox_lua(was[i]), noop);
				mp_sandbox_pcall(was[i], 0, 0, err, sizeof(err));
			}
	}
	got_sigint = 0;
}

/* --- output --- */

const char *mp_shell_color(const mp_shell *sh, enum mp_shell_color c)
{
	static const char *const seq[] = {"\033[0m", "\033[32m", "\033[31m", "\033[1m", "\033[2m"};
	return sh->color && (int)c >= 0 && c <= MP_C_DIM ? seq[c] : "";
}

void mp_shell_error(mp_shell *sh, const char *fmt, ...)
{
	char raw[8192], clean[8192 * 4];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(raw, sizeof(raw), fmt, ap);
	va_end(ap);
	size_t o = 0;
	for (const unsigned char *p = (const unsigned char *)raw; *p && o + 5 < sizeof(clean);
	     p++) {
		if ((*p < 32 && *p != '\n' && *p != '\t') || *p == 127)
			o += (size_t)snprintf(clean + o, sizeof(clean) - o, "\\x%02x", *p);
		else
			clean[o++] = (char)*p;
	}
	clean[o] = '\0';
	sh->failed = 1;
	fflush(stdout);
	fprintf(stderr, "%s\n", clean);
	fflush(stderr);
}

void mp_shell_diags(mp_shell *sh, const mp_diags *d)
{
	int failed = sh->failed;
	for (uint32_t i = 0; i < d->n; i++) {
		const mp_diag *g = &d->v[i];
		const char *lvl = g->level == MP_DIAG_NOTE ? "note: " : "";
		if (g->file && g->line && g->col)
			mp_shell_error(sh, "%s:%u:%u: %s%s", g->file, g->line, g->col, lvl, g->msg);
		else if (g->file && g->line)
			mp_shell_error(sh, "%s:%u: %s%s", g->file, g->line, lvl, g->msg);
		else if (g->file)
			mp_shell_error(sh, "%s: %s%s", g->file, lvl, g->msg);
		else
			mp_shell_error(sh, "%s%s", lvl, g->msg);
	}
	if (d->dropped)
		mp_shell_error(sh, "(%u more diagnostics not shown)", d->dropped);
	sh->failed = failed; /* the caller decides whether this failed */
}

double mp_shell_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void mp_shell_timing(const mp_shell *sh, const char *what, double s)
{
	if (!sh->show_time)
		return;
	if (s < 1e-3)
		printf("(%s in %.1f us)\n", what, s * 1e6);
	else if (s < 1)
		printf("(%s in %.2f ms)\n", what, s * 1e3);
	else
		printf("(%s in %.2f s)\n", what, s);
}

int mp_shell_need_model(mp_shell *sh, const char *cmd)
{
	if (sh->engine)
		return 0;
	mp_shell_error(sh,
	               ":%s: no model is loaded (load one with :mesh MODEL, or :load "
	               "POLICY_DIR whose manifest names one)",
	               cmd);
	return -1;
}

void mp_shell_free_words(char **words, int n)
{
	for (int i = 0; words && i < n; i++)
		mp_free(words[i]);
	mp_free(words);
}

int mp_shell_split(const char *text, char ***words)
{
	size_t len = strlen(text);
	char **w = mp_calloc(len / 2 + 2, sizeof(char *));
	char *buf = mp_malloc(len + 1);
	int n = 0;
	*words = NULL;
	if (!w || !buf)
		goto fail;
	for (const char *p = text;;) {
		while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
			p++;
		if (!*p)
			break;
		size_t o = 0;
		while (*p && *p != ' ' && *p != '\t' && *p != '\n' && *p != '\r') {
			if (*p == '"' || *p == '\'') {
				char q = *p++;
				while (*p && *p != q) {
					if (q == '"' && *p == '\\' && p[1])
						p++;
					buf[o++] = *p++;
				}
				if (!*p)
					goto fail;
				p++;
			} else {
				buf[o++] = *p++;
			}
		}
		if (!(w[n] = mp_strndup(buf, o)))
			goto fail;
		n++;
	}
	mp_free(buf);
	*words = w;
	return n;
fail:
	mp_free(buf);
	mp_shell_free_words(w, n);
	return -1;
}

/* --- snapshots --- */

mp_sandbox *mp_shell_ev_sandbox(mp_shell *sh)
{
	char err[512];
	if (!sh->ev_sb && sh->ev)
		sh->ev_sb = mp_evaluator_sandbox(sh->ev, err, sizeof(err));
	return sh->ev_sb;
}

static void free_lua(mp_shell *sh)
{
	if (sh->lua)
		mp_shell_unbusy(mp_rlua_sandbox(sh->lua));
	mp_rlua_free(sh->lua);
	sh->lua = NULL;
}

static void make_lua(mp_shell *sh, mp_engine *e)
{
	char err[512];
	free_lua(sh);
	if (!(sh->lua = mp_rlua_new(sh, e, err, sizeof(err))))
		mp_shell_error(sh, "the Lua side is unavailable: %s", err);
}

int mp_shell_set_engine(mp_shell *sh, mp_engine *e)
{
	mp_diags d = {0};
	mp_evaluator *ev = mp_evaluator_new(e, NULL, &d);
	if (!ev) {
		mp_shell_diags(sh, &d);
		mp_diags_free(&d);
		mp_engine_release(e);
		mp_shell_error(sh, "cannot make an evaluator; kept the previous snapshot");
		return -1;
	}
	mp_diags_free(&d);
	mp_shell_unbusy(sh->ev_sb);
	mp_evaluator_free(sh->ev);
	mp_engine_release(sh->engine);
	sh->engine = e;
	sh->ev = ev;
	sh->ev_sb = NULL;
	if (e->bundle && (e->bundle->nwhens || e->bundle->nruns) && !mp_shell_ev_sandbox(sh)) {
		char err[512];
		mp_evaluator_sandbox(ev, err, sizeof(err));
		mp_shell_error(sh, "warning: the bundle's when and check functions cannot run: %s",
		               err);
	}
	/* the Lua side lives as long as its model: a new one only when the model changed */
	mp_engine *le = sh->lua ? mp_rlua_engine(sh->lua) : NULL;
	if (!le || strcmp(mp_model_sha256(le->model), mp_model_sha256(e->model)))
		make_lua(sh, e);
	else
		mp_rlua_refresh(sh->lua);
	return 0;
}

/* --- reading lines --- */

typedef enum { LINE_OK, LINE_EOF, LINE_CANCEL } line_status;

typedef struct {
	char *buf; /* script input not yet returned (mp_malloc'd) */
	size_t len, cap;
	int eof;
} script_input;

static char *ready_line; /* from readline's callback */
static int line_ready, handler_installed;

static void on_line(char *line)
{
	rl_callback_handler_remove(); /* so readline shows no prompt until we are done */
	handler_installed = 0;
	ready_line = line;
	line_ready = 1;
}

/* The watch's changes were handled: forget them and follow the paths again. */
static void watch_done(mp_shell *sh)
{
	char err[512];
	if (sh->watch && mp_filewatch_clear(sh->watch, err, sizeof(err)) < 0) {
		int failed = sh->failed; /* not a command's failure */
		mp_shell_error(sh, "watch: %s", err);
		sh->failed = failed;
	}
}

/* Reloads after :watch saw changes (called once they have settled). */
static void watch_fire(mp_shell *sh)
{
	const char *const *paths;
	int tags;
	uint32_t n = mp_filewatch_changes(sh->watch, &paths, &tags);
	const char *keep[64];
	uint32_t k = 0;
	for (uint32_t i = 0; i < n && k < 64; i++) {
		struct stat st;
		size_t len = strlen(paths[i]);
		int source = (len > 4 && !strcmp(paths[i] + len - 4, ".lua")) ||
		             (len > 5 && !strcmp(paths[i] + len - 5, ".yaml")) ||
		             (len > 4 && !strcmp(paths[i] + len - 4, ".yml"));
		if (stat(paths[i], &st) == 0 || source) /* an editor's scratch file came and went */
			keep[k++] = paths[i];
	}
	if (!k) {
		watch_done(sh);
		return;
	}
	int failed = sh->failed, interactive = sh->interactive && handler_installed;
	if (interactive)
		rl_clear_visible_line();
	mp_command_watch_fired(sh, keep, k, tags);
	fflush(stdout);
	sh->failed = failed; /* a reload is not a command of the script */
	watch_done(sh);
	if (interactive) {
		rl_on_new_line();
		rl_redisplay();
	}
	end_command();
}

/* Waits for input on stdin, handling file changes meanwhile (a burst is handled once the watch
 * says it has settled). 1: stdin readable; 0: Ctrl-C. */
static int wait_input(mp_shell *sh)
{
	for (;;) {
		if (got_sigint || got_term) /* also when it came during a completion */
			return 0;
		fd_set rd;
		FD_ZERO(&rd);
		FD_SET(STDIN_FILENO, &rd);
		int wfd = sh->watch ? mp_filewatch_fd(sh->watch) : -1, maxfd = STDIN_FILENO;
		if (wfd >= 0) {
			FD_SET(wfd, &rd);
			maxfd = wfd > maxfd ? wfd : maxfd;
		}
		struct timeval tv, *tvp = NULL;
		int wait_ms = sh->watch ? mp_filewatch_wait_ms(sh->watch) : -1;
		if (wait_ms >= 0) {
			tv.tv_sec = wait_ms / 1000;
			tv.tv_usec = (suseconds_t)(wait_ms % 1000) * 1000;
			tvp = &tv;
		}
		int n = select(maxfd + 1, &rd, NULL, NULL, tvp);
		if (n < 0) {
			if (errno != EINTR)
				return 1; /* let the read report it */
			if (got_winch && sh->interactive) {
				got_winch = 0;
				rl_resize_terminal();
			}
			continue; /* Ctrl-C is seen at the top of the loop */
		}
		if (n == 0) {
			if (sh->watch && mp_filewatch_wait_ms(sh->watch) == 0)
				watch_fire(sh);
			continue;
		}
		if (wfd >= 0 && FD_ISSET(wfd, &rd))
			mp_filewatch_read(sh->watch);
		if (FD_ISSET(STDIN_FILENO, &rd))
			return 1;
	}
}

static line_status read_script_line(mp_shell *sh, script_input *in, char **out)
{
	for (;;) {
		char *nl = in->len ? memchr(in->buf, '\n', in->len) : NULL;
		if (nl || (in->eof && in->len)) {
			size_t n = nl ? (size_t)(nl - in->buf) : in->len;
			*out = malloc(n + 1);
			if (!*out)
				return LINE_EOF;
			memcpy(*out, in->buf, n);
			(*out)[n] = '\0';
			if (n && (*out)[n - 1] == '\r')
				(*out)[n - 1] = '\0';
			size_t used = nl ? n + 1 : n;
			memmove(in->buf, in->buf + used, in->len - used);
			in->len -= used;
			return LINE_OK;
		}
		if (in->eof)
			return LINE_EOF;
		if (!wait_input(sh))
			return LINE_CANCEL;
		if (in->cap - in->len < 4096) {
			size_t ncap = in->cap ? in->cap * 2 : 8192;
			char *nb = mp_realloc(in->buf, ncap);
			if (!nb)
				return LINE_EOF;
			in->buf = nb;
			in->cap = ncap;
		}
		ssize_t r = read(STDIN_FILENO, in->buf + in->len, in->cap - in->len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			in->eof = 1;
		else
			in->len += (size_t)r;
	}
}

static line_status read_terminal_line(mp_shell *sh, int more, char **out)
{
	if (!handler_installed) {
		rl_callback_handler_install(more ? PROMPT_MORE : PROMPT, on_line);
		handler_installed = 1;
	}
	while (!line_ready) {
		if (!wait_input(sh)) { /* Ctrl-C: drop what was typed */
			rl_free_line_state();
			rl_callback_sigcleanup();
			rl_callback_handler_remove();
			handler_installed = 0;
			fputs("\n", stdout);
			fflush(stdout);
			got_sigint = 0;
			return LINE_CANCEL;
		}
		rl_callback_read_char();
	}
	line_ready = 0;
	*out = ready_line;
	ready_line = NULL;
	if (!*out) {
		fputs("\n", stdout); /* Ctrl-D: leave the prompt's line */
		return LINE_EOF;
	}
	return LINE_OK;
}

/* --- the loop --- */

typedef struct {
	char *text; /* the Lua chunk typed so far (mp_malloc'd) */
	size_t len, cap;
} chunk_buf;

static int chunk_add(chunk_buf *c, const char *line)
{
	size_t n = strlen(line), need = c->len + n + 2;
	if (need > c->cap) {
		size_t ncap = need * 2;
		char *nt = mp_realloc(c->text, ncap);
		if (!nt)
			return -1;
		c->text = nt;
		c->cap = ncap;
	}
	if (c->len)
		c->text[c->len++] = '\n';
	memcpy(c->text + c->len, line, n + 1);
	c->len += n;
	return 0;
}

static void remember(mp_shell *sh, const char *line)
{
	if (!sh->interactive || !*line)
		return;
	HIST_ENTRY *last = history_length ? history_get(history_base + history_length - 1) : NULL;
	if (!last || strcmp(last->line, line))
		add_history(line);
}

static void handle_line(mp_shell *sh, chunk_buf *chunk, const char *line)
{
	if (!chunk->len) {
		const char *p = line;
		while (*p == ' ' || *p == '\t')
			p++;
		if (!*p)
			return;
		remember(sh, line);
		if (*p == ':') {
			mp_command_run(sh, p);
			return;
		}
	} else {
		remember(sh, line);
	}
	if (!sh->lua) {
		mp_shell_error(sh, "the Lua side is unavailable");
		return;
	}
	if (chunk_add(chunk, line) < 0) {
		mp_shell_error(sh, "out of memory");
		chunk->len = 0;
		return;
	}
	const mp_snap_decl *decls;
	uint32_t ndecls;
	double t0 = mp_shell_now();
	mp_rlua_status st = mp_rlua_eval(sh->lua, chunk->text, chunk->len, &decls, &ndecls);
	if (st == MP_RLUA_MORE)
		return;
	if (st == MP_RLUA_DONE)
		mp_shell_timing(sh, "ran", mp_shell_now() - t0);
	if (st == MP_RLUA_DECLARED) {
		end_command(); /* the chunk's run is over; the rebuild is a new step */
		mp_command_declare(sh, chunk->text, chunk->len, decls, ndecls);
	}
	chunk->len = 0;
}

static const char *history_path(char *buf, size_t len)
{
	const char *env = getenv("MESHPOL_HISTORY"), *home = getenv("HOME");
	if (env)
		return *env ? env : NULL; /* empty: no history file */
	if (!home || !*home)
		return NULL;
	snprintf(buf, len, "%s/.meshpol_history", home);
	return buf;
}

int mp_repl_run(const mp_repl_opts *o)
{
	mp_shell sh = {0};
	chunk_buf chunk = {0};
	script_input in = {0};
	char hbuf[4096];
	const char *hist = NULL;
	const char *nc = getenv("NO_COLOR");
	int rc = 0;

	sh.interactive = isatty(STDIN_FILENO);
	sh.color = isatty(STDOUT_FILENO) && !nc; /* as `meshpol audit` reads NO_COLOR */
	if (!(sh.snap = mp_snap_new())) {
		fprintf(stderr, "meshpol repl: out of memory\n");
		return 1;
	}
	struct sigaction sa = {0};
	sa.sa_handler = on_sigint; /* no SA_RESTART: select returns at once */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sa.sa_handler = on_sigterm;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	if (sh.interactive) {
		sa.sa_handler = on_sigwinch;
		sigaction(SIGWINCH, &sa, NULL);
		printf("meshpol %s shell: :help lists the commands, anything else is Lua. Tab "
		       "completes, Ctrl-D leaves.\n",
		       MP_VERSION);
	}
	if (mp_command_open(&sh, o->model, o->bundle_dir, !sh.interactive) < 0 && !sh.interactive) {
		rc = 2;
		goto out;
	}
	sh.failed = 0;
	if (!sh.lua)
		make_lua(&sh, NULL); /* no model yet: Lua without `mesh` */
	end_command();
	if (sh.interactive) {
		rl_readline_name = "meshpol";
		rl_catch_signals = 0; /* Ctrl-C is ours (see the top of this file) */
		rl_catch_sigwinch = 0;
		mp_complete_install(&sh);
		using_history();
		stifle_history(HISTORY_MAX);
		if ((hist = history_path(hbuf, sizeof(hbuf))))
			read_history(hist);
	}
	fflush(stdout);
	while (!sh.quit && !got_term) {
		char *line = NULL;
		line_status st = sh.interactive ? read_terminal_line(&sh, chunk.len > 0, &line)
		                                : read_script_line(&sh, &in, &line);
		if (st == LINE_EOF)
			break;
		if (st == LINE_CANCEL) {
			chunk.len = 0;
			end_command();
			if (got_term)
				break;
			if (!sh.interactive) { /* Ctrl-C while a script waits: stop */
				sh.failed = 1;
				break;
			}
			continue;
		}
		handle_line(&sh, &chunk, line);
		free(line); /* readline's, or read_script_line's malloc */
		fflush(stdout);
		end_command();
	}
	if (chunk.len && !sh.interactive)
		mp_shell_error(&sh, "stdin: the input ended inside an incomplete Lua chunk");
	if (!sh.interactive)
		rc = sh.failed ? 1 : 0;
out:
	if (handler_installed)
		rl_callback_handler_remove();
	if (hist) {
		write_history(hist);
		history_truncate_file(hist, HISTORY_MAX);
	}
	mp_complete_free();
	mp_ask_forget(&sh);
	mp_filewatch_free(sh.watch);
	free_lua(&sh);
	mp_shell_unbusy(sh.ev_sb);
	mp_evaluator_free(sh.ev);
	mp_engine_release(sh.engine);
	mp_snap_free(sh.snap);
	mp_free(sh.model_path);
	mp_free(sh.bundle_dir);
	mp_free(chunk.text);
	mp_free(in.buf);
	fflush(stdout);
	return rc;
}
