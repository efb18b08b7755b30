/* complete.c: Tab completion (see complete.h). Candidates are gathered once per Tab into a
 * list, then readline's generator filters them by the word typed so far. */
#include "complete.h"
#include "commands.h"
#include "luaeval.h"
#include "policy.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <readline/readline.h>

static mp_shell *shell;
static char **cands; /* malloc'd: readline's own allocator, since it frees what it is given */
static size_t ncands, capcands;
static int prefiltered; /* the Lua side chose the candidates: mesh.services["fraud-check"] */

static const char *const lua_breaks = " \t\n\"'`@$><=;|&{(,+-*/%^~#[]";

void mp_complete_free(void)
{
	for (size_t i = 0; i < ncands; i++)
		free(cands[i]);
	free(cands);
	cands = NULL;
	ncands = capcands = 0;
}

static void add(void *ctx, const char *s)
{
	(void)ctx;
	if (ncands == capcands) {
		size_t ncap = capcands ? capcands * 2 : 64;
		char **nv = realloc(cands, ncap * sizeof(*nv));
		if (!nv)
			return;
		cands = nv;
		capcands = ncap;
	}
	if ((cands[ncands] = strdup(s)))
		ncands++;
}

static char *generator(const char *text, int state)
{
	static size_t next, len;
	if (!state) {
		next = 0;
		len = strlen(text);
	}
	while (next < ncands) {
		const char *c = cands[next++];
		if (prefiltered || !strncmp(c, text, len))
			return strdup(c);
	}
	return NULL;
}

static void add_services(int externals)
{
	const mp_model *m = shell->engine ? shell->engine->model : NULL;
	if (!m)
		return;
	mp_model_view v = mp_model_get_view(m);
	char ref[512];
	for (mp_id s = 0; s < v.nservices; s++) {
		const char *name = mp_model_str(m, v.services[s].name);
		const mp_id *ids;
		snprintf(ref, sizeof(ref), "%s/%s",
		         mp_model_str(m, v.namespaces[v.services[s].ns].name), name);
		add(NULL, ref);
		if (mp_model_services_named(m, name, &ids) == 1)
			add(NULL, name);
		if (v.services[s].identity)
			add(NULL, mp_model_str(m, v.services[s].identity));
	}
	for (mp_id e = 0; externals && e < v.nexternals; e++) {
		add(NULL, mp_model_str(m, v.externals[e].name));
		add(NULL, mp_model_str(m, v.externals[e].host));
	}
}

static void add_methods(void)
{
	static const char *const methods[] = {"GET",   "HEAD",    "POST",    "PUT",   "DELETE",
	                                      "PATCH", "OPTIONS", "CONNECT", "TRACE", NULL};
	for (const char *const *m = methods; *m; m++)
		add(NULL, *m);
}

static void add_words(const char *choices)
{
	char buf[256];
	snprintf(buf, sizeof(buf), "%s", choices);
	for (char *save = NULL, *w = strtok_r(buf, " ", &save); w; w = strtok_r(NULL, " ", &save))
		add(NULL, w);
}

static size_t strip; /* bytes of a Lua completion before the word readline replaces */

static void add_stripped(void *ctx, const char *s)
{
	if (strlen(s) >= strip)
		add(ctx, s + strip);
}

/* Where the Lua expression that the word at start continues begins: back over names, dots,
 * colons and string subscripts (["..."], ['...']), which readline's word breaks split. */
static int expression_start(const char *line, int start)
{
	int i = start;
	while (i > 0) {
		char ch = line[i - 1];
		if (isalnum((unsigned char)ch) || ch == '_' || ch == '.' || ch == ':') {
			i--;
		} else if (ch == ']' && i >= 2 && (line[i - 2] == '"' || line[i - 2] == '\'')) {
			char q = line[i - 2];
			int j = i - 3;
			while (j >= 0 && line[j] != q)
				j--;
			if (j < 1 || line[j - 1] != '[')
				break;
			i = j - 1;
		} else {
			break;
		}
	}
	return i;
}

/* How many words line[from, to) holds (blank-separated: enough to know what comes next). */
static int count_words(const char *line, int from, int to)
{
	int n = 0, in = 0;
	for (int i = from; i < to; i++) {
		int blank = line[i] == ' ' || line[i] == '\t';
		if (!blank && !in)
			n++;
		in = !blank;
	}
	return n;
}

/* The command the line starts with, and where its name ends; NULL for Lua. */
static const mp_command *line_command(const char *line, int *name_end)
{
	int i = 0;
	while (line[i] == ' ' || line[i] == '\t')
		i++;
	if (line[i] != ':')
		return NULL;
	int j = i + 1;
	while (line[j] && line[j] != ' ' && line[j] != '\t')
		j++;
	*name_end = j;
	char name[64];
	snprintf(name, sizeof(name), "%.*s", j - i - 1, line + i + 1);
	static const mp_command none = {0};
	const mp_command *c = mp_command_find(name);
	return c ? c : &none;
}

static char **attempt(const char *text, int start, int end)
{
	(void)end;
	int name_end = 0;
	const mp_command *c = line_command(rl_line_buffer, &name_end);
	rl_attempted_completion_over = 1; /* never fall back to file names by itself */
	mp_complete_free();
	prefiltered = !c;
	if (!c) {
		rl_completion_append_character = '\0';
		/* the word starts after a subscript (mesh.services["fraud-check"].na): complete
		 * the whole expression, and offer what follows the part before the word */
		int from = expression_start(rl_line_buffer, start);
		char expr[1024];
		snprintf(expr, sizeof(expr), "%.*s%s", start - from, rl_line_buffer + from, text);
		strip = (size_t)(start - from);
		if (shell->lua)
			mp_rlua_complete(shell->lua, expr, add_stripped, NULL);
		strip = 0;
		return rl_completion_matches(text, generator);
	}
	rl_completion_append_character = ' ';
	if (start < name_end) { /* the command's name */
		size_t n;
		const mp_command *all = mp_commands(&n);
		char buf[64];
		for (size_t i = 0; i < n; i++) {
			snprintf(buf, sizeof(buf), ":%s", all[i].name);
			add(NULL, buf);
		}
		return rl_completion_matches(text, generator);
	}
	int k = count_words(rl_line_buffer, name_end, start);
	switch (c->complete) {
	case MP_ARG_COMMAND:
		if (k == 0) {
			size_t n;
			const mp_command *all = mp_commands(&n);
			for (size_t i = 0; i < n; i++)
				add(NULL, all[i].name);
			add(NULL, "lua");
		}
		break;
	case MP_ARG_PATH:
		if (k == 0) {
			rl_filename_completion_desired = 1;
			return rl_completion_matches(text, rl_filename_completion_function);
		}
		break;
	case MP_ARG_SERVICE:
		if (k == 0)
			add_services(0);
		break;
	case MP_ARG_POLICY:
		for (uint32_t i = 0; k == 0 && shell->engine && shell->engine->bundle &&
		                     i < shell->engine->bundle->npolicies;
		     i++)
			add(NULL, shell->engine->bundle->policies[i].name);
		break;
	case MP_ARG_WORDS:
		if (k == 0)
			add_words(c->choices);
		else if (k == 1 && !strcmp(c->name, "session")) {
			rl_filename_completion_desired = 1;
			return rl_completion_matches(text, rl_filename_completion_function);
		}
		break;
	case MP_ARG_REQUEST: {
		/* SRC, then "->", then DST, then METHOD ... */
		const char *a = strstr(rl_line_buffer + name_end, "->");
		int apos = a ? (int)(a - rl_line_buffer) : -1;
		if (apos < 0 || apos + 2 > start) {
			if (k == 0)
				add_services(0);
			else
				add(NULL, "->");
		} else if (count_words(rl_line_buffer, apos + 2, start) == 0) {
			add_services(1);
		} else {
			add_methods();
		}
		break;
	}
	case MP_ARG_WHO:
		if (k == 0)
			add_services(1);
		else
			add_methods();
		break;
	default:
		break;
	}
	return rl_completion_matches(text, generator);
}

/* Commands split words at blanks only (service names have '-', SPIFFE IDs ':' and '/');
 * :decide also at '>' so that "checkout->pay" completes; Lua at its operators. */
static char *word_breaks(void)
{
	int name_end;
	const mp_command *c = line_command(rl_line_buffer, &name_end);
	if (!c)
		return (char *)lua_breaks;
	return (char *)(c->complete == MP_ARG_REQUEST ? " \t>" : " \t");
}

void mp_complete_install(mp_shell *sh)
{
	shell = sh;
	rl_attempted_completion_function = attempt;
	rl_completion_word_break_hook = word_breaks;
	rl_basic_word_break_characters = (char *)lua_breaks;
	rl_completer_quote_characters = NULL;
}
