/* options.c: the verbs' option tables at work: parsing (mp_cli_next, the one place options are
 * checked), and everything written from the same tables: --help, the man page and the bash and
 * zsh completion scripts (`meshpol help --man`, `--completion SHELL`, run by `make`). Reference:
 * docs/cli.md ("Options", "Help, man page and completion"). */
#include "cli.h"
#include "diag.h"
#include "version.h"

#include <assert.h>
#include <ctype.h>
#include <stdio.h>
#include <string.h>

/* ---- Parsing ---- */

static const mp_option *find_option(const mp_verb *v, int id)
{
	for (const mp_option *o = v->options; o && o->name; o++)
		if (o->id == id)
			return o;
	return NULL;
}

static void build(const mp_verb *v, mp_cli_parser *p)
{
	size_t n = 0, s = 0;
	p->shortopts[s++] = ':'; /* a missing value is ':', told apart from an unknown option */
	for (const mp_option *o = v->options; o && o->name; o++) {
		assert(n < MP_CLI_MAX_OPTIONS && o->id > 0 && o->id < MP_CLI_MAX_OPT);
		assert(!o->short_name || o->short_name == o->id);
		p->longopts[n++] =
		    (struct option){o->name, o->arg ? required_argument : no_argument, NULL, o->id};
		if (o->short_name) {
			p->shortopts[s++] = o->short_name;
			if (o->arg)
				p->shortopts[s++] = ':';
		}
	}
	p->longopts[n] = (struct option){0};
	p->shortopts[s] = '\0';
	p->started = 1;
}

/* "-m/--model", "--format" */
static const char *spelling(const mp_option *o, char *buf, size_t len)
{
	if (o->short_name)
		snprintf(buf, len, "-%c/--%s", o->short_name, o->name);
	else
		snprintf(buf, len, "--%s", o->name);
	return buf;
}

/* The words of values as "a, b or c" into buf. */
static const char *word_list(const char *const *values, char *buf, size_t len)
{
	size_t at = 0;
	buf[0] = '\0';
	for (size_t i = 0; values[i] && at < len; i++)
		at += (size_t)snprintf(buf + at, len - at, "%s%s",
		                       !i              ? ""
		                       : values[i + 1] ? ", "
		                                       : " or ",
		                       values[i]);
	return buf;
}

static int unknown_option(const mp_verb *v, const char *arg)
{
	const char *names[MP_CLI_MAX_OPTIONS + 1], *near;
	char q[96], word[96];
	size_t n = 0;
	const char *eq = strchr(arg, '=');
	size_t len = eq ? (size_t)(eq - arg) : strlen(arg);
	snprintf(word, sizeof(word), "%.*s", (int)(len < 90 ? len : 90),
	         arg[0] == '-' && arg[1] == '-' ? arg + 2 : arg + (arg[0] == '-'));
	for (const mp_option *o = v->options; o && o->name; o++)
		names[n++] = o->name;
	names[n] = NULL;
	near = strlen(word) > 1 ? mp_diag_nearest(word, names) : NULL;
	if (near)
		return mp_cli_usage_error(v, "unknown option '%s' (did you mean '--%s'?)",
		                          mp_diag_quote(arg, len, q, sizeof(q)), near);
	return mp_cli_usage_error(v, "unknown option '%s' (meshpol %s --help lists them)",
	                          mp_diag_quote(arg, len, q, sizeof(q)), v->name);
}

int mp_cli_next(const mp_verb *v, mp_cli_parser *p, int argc, char **argv)
{
	char name[80], a[64], b[64], list[300], hint[200];
	if (!p->started) {
		build(v, p);
		optind = 1;
		opterr = 0;
	}
	int prev = optind;
	int c = getopt_long(argc, argv, p->shortopts, p->longopts, NULL);
	if (c == -1)
		return MP_CLI_DONE;
	if (c == '?') { /* a short option: optopt; a long one: the word getopt stopped at */
		char s[3] = {'-', (char)optopt, '\0'};
		unknown_option(v, optopt ? s : argv[optind - 1 >= prev ? optind - 1 : prev]);
		return MP_CLI_ERROR;
	}
	if (c == ':') { /* optopt: the option's id, short or long */
		const mp_option *o = find_option(v, optopt);
		mp_cli_usage_error(v, "%s needs a value (%s)",
		                   o ? spelling(o, name, sizeof(name)) : argv[optind - 1],
		                   o && o->arg ? o->arg : "see --help");
		return MP_CLI_ERROR;
	}
	const mp_option *o = find_option(v, c);
	assert(o);
	if (o->values) {
		size_t i = 0;
		while (o->values[i] && strcmp(o->values[i], optarg))
			i++;
		if (!o->values[i]) {
			const char *near = mp_diag_nearest(optarg, o->values);
			if (near)
				snprintf(hint, sizeof(hint), " (did you mean '%s'?)", near);
			else
				hint[0] = '\0';
			mp_cli_usage_error(v, "--%s takes %s, not '%s'%s", o->name,
			                   word_list(o->values, list, sizeof(list)),
			                   mp_diag_quote(optarg, strlen(optarg), a, sizeof(a)),
			                   hint);
			return MP_CLI_ERROR;
		}
	}
	if (o->arg && !(o->flags & MP_OPT_REPEAT)) {
		if (p->seen[c]) {
			const char *x = p->value[c] ? p->value[c] : "", *y = optarg ? optarg : "";
			mp_cli_usage_error(v, "%s given twice ('%s', then '%s'); give it once",
			                   spelling(o, name, sizeof(name)),
			                   mp_diag_quote(x, strlen(x), a, sizeof(a)),
			                   mp_diag_quote(y, strlen(y), b, sizeof(b)));
			return MP_CLI_ERROR;
		}
		p->value[c] = optarg;
	}
	p->seen[c] = 1;
	return c;
}

const char *mp_cli_option_name(const mp_verb *v, int id, char *buf, size_t len)
{
	const mp_option *o = find_option(v, id);
	assert(o);
	return spelling(o, buf, len);
}

int mp_cli_check_needs(const mp_verb *v, const mp_cli_parser *p, const mp_cli_need *needs, size_t n)
{
	char a[80], b[80];
	for (size_t i = 0; i < n; i++)
		if (p->seen[needs[i].opt] && !p->seen[needs[i].needs])
			return mp_cli_usage_error(
			    v, "%s needs %s", mp_cli_option_name(v, needs[i].opt, a, sizeof(a)),
			    mp_cli_option_name(v, needs[i].needs, b, sizeof(b)));
	return MP_EXIT_OK;
}

/* ---- --help ---- */

/* Writes text from column col on, wrapped at 100 columns, continuing lines at indent. */
static void wrapped(FILE *out, const char *text, int col, int indent)
{
	while (*text) {
		size_t word = strcspn(text, " ");
		if (col > indent && col + 1 + (int)word > 100) {
			fprintf(out, "\n%*s", indent, "");
			col = indent;
		} else if (col > indent) {
			fputc(' ', out);
			col++;
		}
		fwrite(text, 1, word, out);
		col += (int)word;
		text += word;
		text += strspn(text, " ");
	}
	fputc('\n', out);
}

void mp_cli_print_help(const mp_verb *v, FILE *out)
{
	char words[160], help[600];
	fprintf(out, "usage: meshpol %s\n%s\n", v->usage, v->summary);
	if (v->subcommands) {
		size_t ns;
		const mp_verb *subs = v->subcommands(&ns);
		fprintf(out, "\nsubcommands (meshpol %s SUBCOMMAND --help lists its options):\n",
		        v->name);
		for (size_t k = 0; k < ns; k++) {
			fprintf(out, "  %-28s ", strchr(subs[k].name, ' ') + 1);
			wrapped(out, subs[k].summary, 31, 31);
		}
	}
	if (!v->options || !v->options->name)
		return;
	fputs("\noptions:\n", out);
	for (const mp_option *o = v->options; o->name; o++) {
		size_t at = (size_t)snprintf(help, sizeof(help), "%s", o->help);
		for (size_t i = 0; o->values && o->values[i] && at < sizeof(help); i++)
			at += (size_t)snprintf(help + at, sizeof(help) - at, "%s%s",
			                       i ? "|" : "; one of ", o->values[i]);
		if (o->flags & MP_OPT_REPEAT && at < sizeof(help))
			snprintf(help + at, sizeof(help) - at, "; may repeat");
		if (o->short_name)
			snprintf(words, sizeof(words), "-%c, --%s%s%s", o->short_name, o->name,
			         o->arg ? " " : "", o->arg ? o->arg : "");
		else
			snprintf(words, sizeof(words), "    --%s%s%s", o->name, o->arg ? " " : "",
			         o->arg ? o->arg : "");
		if (strlen(words) > 28)
			fprintf(out, "  %s\n%31s", words, "");
		else
			fprintf(out, "  %-28s ", words);
		wrapped(out, help, 31, 31);
	}
	fprintf(out, "  %-28s %s\n", "-h, --help", "print this help and exit");
}

/* ---- what the man page and the completions write: a part per verb and subcommand ---- */

typedef void (*row_writer)(FILE *out, const mp_verb *v, size_t n, const mp_verb *verbs);

/* w for every verb in order, each followed by its subcommands (trail head, bundle build). */
static void each_row(FILE *out, row_writer w)
{
	size_t n;
	const mp_verb *verbs = mp_cli_verbs(&n);
	for (size_t i = 0; i < n; i++) {
		size_t ns = 0;
		const mp_verb *subs = verbs[i].subcommands ? verbs[i].subcommands(&ns) : NULL;
		w(out, &verbs[i], n, verbs);
		for (size_t k = 0; k < ns; k++)
			w(out, &subs[k], n, verbs);
	}
}

/* ---- the man page ---- */

/* Text for groff: backslashes escaped, '-' as \-, a line never starting with '.' or '\''. */
static void man_text(FILE *out, const char *s)
{
	if (*s == '.' || *s == '\'')
		fputs("\\&", out);
	for (; *s; s++) {
		if (*s == '\\')
			fputs("\\e", out);
		else if (*s == '-')
			fputs("\\-", out);
		else
			fputc(*s, out);
	}
}

static void man_verb(FILE *out, const mp_verb *v, size_t n, const mp_verb *verbs)
{
	(void)n;
	(void)verbs;
	fputs(".SS ", out);
	man_text(out, v->name);
	fputs("\n.PP\n\\fBmeshpol\\fR ", out);
	man_text(out, v->usage);
	fputs("\n.PP\n", out);
	man_text(out, v->summary);
	fputc('\n', out);
	for (const mp_option *o = v->options; o && o->name; o++) {
		fputs(".TP\n", out);
		if (o->short_name)
			fprintf(out, "\\fB\\-%c\\fR, ", o->short_name);
		fputs("\\fB\\-\\-", out);
		man_text(out, o->name);
		fputs("\\fR", out);
		if (o->arg) {
			fputs(" \\fI", out);
			man_text(out, o->arg);
			fputs("\\fR", out);
		}
		fputc('\n', out);
		man_text(out, o->help);
		if (o->values) {
			fputs(" One of: ", out);
			for (size_t i = 0; o->values[i]; i++) {
				fputs(i ? ", " : "", out);
				man_text(out, o->values[i]);
			}
			fputc('.', out);
		}
		if (o->flags & MP_OPT_REPEAT)
			fputs(" May be given more than once.", out);
		fputc('\n', out);
	}
}

void mp_cli_write_man(FILE *out)
{
	fprintf(
	    out,
	    ".\\\" meshpol(1), written by `meshpol help --man` from the verb and option tables\n"
	    ".TH MESHPOL 1 \"\" \"meshpol %s\" \"User Commands\"\n"
	    ".nh\n.ad l\n.SH NAME\nmeshpol \\- policy\\-as\\-code engine for service meshes\n"
	    ".SH SYNOPSIS\n.B meshpol\n.I VERB\n.RI [ OPTIONS ]\n.RI [ ARGS ]\n"
	    ".SH DESCRIPTION\n"
	    "meshpol compiles a service mesh's configuration (its own YAML, Kubernetes, Istio, "
	    "Linkerd, Consul, App Mesh, Kuma) into a model and evaluates versioned policies "
	    "written "
	    "in Lua against it: for CI gates and auditors (\\fBaudit\\fR, \\fBverify\\fR), for "
	    "policy authors (\\fBcheck\\fR, \\fBtest\\fR, \\fBrepl\\fR) and for proxies that "
	    "ask allow or deny per request (\\fBserve\\fR, \\fBdecide\\fR).\n"
	    ".PP\nEvery verb takes \\fB\\-h\\fR or \\fB\\-\\-help\\fR, which prints its usage "
	    "and options. An option that takes a value may be given once, unless it says it "
	    "may repeat.\n.SH VERBS\n",
	    MP_VERSION);
	each_row(out, man_verb);
	fputs(".SH EXIT STATUS\n"
	      ".TP\n\\fBdecide\\fR\n0 allow, 1 deny, 2 usage or input error.\n"
	      ".TP\n\\fBaudit\\fR\n0 clean, 1 findings at or above \\fB\\-\\-fail\\-on\\fR, 2 "
	      "usage or input error, 3 policy runtime error.\n"
	      ".TP\n\\fBverify\\fR\n0 intact, 1 tampered or bad signature, 2 usage or input "
	      "error.\n"
	      ".TP\n\\fBexport\\fR\n0 no difference, 1 the check found differences, 2 usage or "
	      "input error.\n"
	      ".TP\nevery other verb\n0 ok, 1 failed, 2 usage or input error.\n"
	      ".SH ENVIRONMENT\n"
	      ".TP\n.B MESHPOL_STDLIB\nThe directory of the Lua standard library "
	      "(\\fImeshpol/dsl.lua\\fR); by default \\fI../share/meshpol/stdlib\\fR or "
	      "\\fI../stdlib\\fR beside the directory of the program.\n"
	      ".TP\n.B MESHPOL_DOT\nThe Graphviz program that lays out pictures "
	      "(\\fBgraph\\fR, \\fBaudit \\-\\-format html\\fR); by default \\fBdot\\fR.\n"
	      ".TP\n.B MESHPOL_ADMIN_TOKEN\nThe token of \\fBserve\\fR's admin listener.\n"
	      ".TP\n.B MESHPOL_LOAD_JOBS\n1: load a bundle directory's policy files on one "
	      "thread; 2: on two, whatever their size; unset: on two when the machine has two "
	      "cores and the files are big enough to pay. The bundle is the same either way.\n"
	      ".TP\n.B NO_COLOR\nNo colours in the text report.\n"
	      ".SH SEE ALSO\n.BR dot (1)\n.PP\nThe guides in the docs/ folder of meshpol's "
	      "sources: cli.md, policy\\-guide.md, server.md, repl.md.\n",
	      out);
}

/* ---- completion scripts ---- */

/* The words of v's subcommands ("head adopt join"), each followed by sep but the last. */
static void sub_words(FILE *out, const mp_verb *v)
{
	size_t ns;
	const mp_verb *subs = v->subcommands(&ns);
	for (size_t k = 0; k < ns; k++)
		fprintf(out, "%s%s", k ? " " : "", strchr(subs[k].name, ' ') + 1);
}

/* The verbs that have subcommands, as a shell pattern: "trail|bundle". */
static void sub_verbs(FILE *out, const mp_verb *verbs, size_t n)
{
	int first = 1;
	for (size_t i = 0; i < n; i++)
		if (verbs[i].subcommands) {
			fprintf(out, "%s%s", first ? "" : "|", verbs[i].name);
			first = 0;
		}
}

/* What completes a value or a positional argument: a compgen action or word list. */
static void bash_words(FILE *out, const mp_option *o)
{
	if (o->values) {
		fputs("COMPREPLY=($(compgen -W '", out);
		for (size_t i = 0; o->values[i]; i++)
			fprintf(out, "%s%s", i ? " " : "", o->values[i]);
		fputs("' -- \"$cur\"))", out);
	} else if (o->flags & MP_OPT_DIR) {
		fputs("COMPREPLY=($(compgen -d -- \"$cur\"))", out);
	} else if (o->flags & MP_OPT_FILE) {
		fputs("COMPREPLY=($(compgen -f -- \"$cur\"))", out);
	} else {
		fputs("COMPREPLY=()", out);
	}
}

static void bash_args(FILE *out, const mp_verb *v, size_t nverbs, const mp_verb *verbs)
{
	const char *a = v->args_complete;
	if (v->subcommands) {
		fputs("COMPREPLY=($(compgen -W '", out);
		sub_words(out, v);
		fputs("' -- \"$cur\"))", out);
	} else if (!a || !strcmp(a, "file")) {
		fputs("COMPREPLY=($(compgen -f -- \"$cur\"))", out);
	} else if (!strcmp(a, "dir")) {
		fputs("COMPREPLY=($(compgen -d -- \"$cur\"))", out);
	} else if (!strcmp(a, "verb")) {
		fputs("COMPREPLY=($(compgen -W '", out);
		for (size_t i = 0; i < nverbs; i++)
			fprintf(out, "%s%s", i ? " " : "", verbs[i].name);
		fputs("' -- \"$cur\"))", out);
	} else if (!strcmp(a, "none")) {
		fputs("COMPREPLY=()", out);
	} else {
		fprintf(out, "COMPREPLY=($(compgen -W '%s' -- \"$cur\"))", a);
	}
}

static void bash_verb(FILE *out, const mp_verb *v, size_t n, const mp_verb *vs)
{
	fprintf(out, "\t'%s')\n\t\tcase \"$prev\" in\n", v->name);
	for (const mp_option *o = v->options; o && o->name; o++) {
		if (!o->arg)
			continue;
		fputs("\t\t", out);
		if (o->short_name)
			fprintf(out, "-%c|", o->short_name);
		fprintf(out, "--%s) ", o->name);
		bash_words(out, o);
		fputs("; return ;;\n", out);
	}
	fputs("\t\tesac\n\t\topts='", out);
	for (const mp_option *o = v->options; o && o->name; o++) {
		if (o->short_name)
			fprintf(out, "-%c ", o->short_name);
		fprintf(out, "--%s ", o->name);
	}
	fputs("--help'\n\t\tif [[ $cur == -* ]]; then\n"
	      "\t\t\tCOMPREPLY=($(compgen -W \"$opts\" -- \"$cur\"))\n\t\telse\n\t\t\t",
	      out);
	bash_args(out, v, n, vs);
	fputs("\n\t\tfi ;;\n", out);
}

static void write_bash(FILE *out)
{
	size_t n;
	const mp_verb *verbs = mp_cli_verbs(&n);
	fputs("# bash completion for meshpol, written by `meshpol help --completion bash` from the "
	      "verb\n# and option tables (cli/options.c).\n_meshpol() {\n"
	      "\tlocal cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]} key opts\n"
	      "\tif [ \"$COMP_CWORD\" -eq 1 ]; then\n\t\tCOMPREPLY=($(compgen -W '",
	      out);
	for (size_t i = 0; i < n; i++)
		fprintf(out, "%s%s", i ? " " : "", verbs[i].name);
	fputs("' -- \"$cur\"))\n\t\treturn\n\tfi\n\tkey=${COMP_WORDS[1]}\n\tcase \"$key\" in\n\t",
	      out);
	sub_verbs(out, verbs, n);
	fputs(")\n\t\tif [ \"$COMP_CWORD\" -gt 2 ]; then\n"
	      "\t\t\tkey=\"$key ${COMP_WORDS[2]}\"\n\t\tfi ;;\n\tesac\n\tcase \"$key\" in\n",
	      out);
	each_row(out, bash_verb);
	fputs("\tesac\n}\ncomplete -o filenames -o bashdefault -F _meshpol meshpol\n", out);
}

/* Text inside a zsh _arguments spec in single quotes: ' closes the quote, [ ] : \ are the
 * spec's own. */
static void zsh_text(FILE *out, const char *s)
{
	for (; *s; s++) {
		if (*s == '\'')
			fputs("'\\''", out);
		else if (*s == '[' || *s == ']' || *s == ':' || *s == '\\')
			fprintf(out, "\\%c", *s);
		else
			fputc(*s, out);
	}
}

static void zsh_action(FILE *out, const mp_option *o)
{
	if (o->values) {
		fputs("(", out);
		for (size_t i = 0; o->values[i]; i++)
			fprintf(out, "%s%s", i ? " " : "", o->values[i]);
		fputs(")", out);
	} else if (o->flags & MP_OPT_DIR) {
		fputs("_files -/", out);
	} else if (o->flags & MP_OPT_FILE) {
		fputs("_files", out);
	} else {
		fputs(" ", out);
	}
}

static void zsh_verb(FILE *out, const mp_verb *v, size_t n, const mp_verb *verbs)
{
	fprintf(out, "\t'%s')\n\t\t_arguments -s -S \\\n", v->name);
	for (const mp_option *o = v->options; o && o->name; o++) {
		const char *rep = o->flags & MP_OPT_REPEAT ? "*" : "";
		for (int form = 0; form < (o->short_name ? 2 : 1); form++) {
			fputs("\t\t\t'", out);
			if (o->short_name && !*rep)
				fprintf(out, "(-%c --%s)", o->short_name, o->name);
			if (form == 0)
				fprintf(out, "%s--%s%s[", rep, o->name, o->arg ? "=" : "");
			else
				fprintf(out, "%s-%c%s[", rep, o->short_name, o->arg ? "+" : "");
			zsh_text(out, o->help);
			fputc(']', out);
			if (o->arg) {
				fputc(':', out);
				zsh_text(out, o->arg);
				fputc(':', out);
				zsh_action(out, o);
			}
			fputs("' \\\n", out);
		}
	}
	fputs("\t\t\t'(- *)'{-h,--help}'[print the help and exit]' \\\n\t\t\t'*:argument:", out);
	const char *a = v->args_complete;
	if (v->subcommands) {
		fputs("(", out);
		sub_words(out, v);
		fputs(")", out);
	} else if (!a || !strcmp(a, "file"))
		fputs("_files", out);
	else if (!strcmp(a, "dir"))
		fputs("_files -/", out);
	else if (!strcmp(a, "none"))
		fputs(" ", out);
	else if (!strcmp(a, "verb")) {
		fputs("(", out);
		for (size_t i = 0; i < n; i++)
			fprintf(out, "%s%s", i ? " " : "", verbs[i].name);
		fputs(")", out);
	} else
		fprintf(out, "(%s)", a);
	fputs("'\n\t\t;;\n", out);
}

static void write_zsh(FILE *out)
{
	size_t n;
	const mp_verb *verbs = mp_cli_verbs(&n);
	fputs("#compdef meshpol\n# zsh completion for meshpol, written by `meshpol help "
	      "--completion zsh` from the verb\n# and option tables (cli/options.c).\n"
	      "_meshpol() {\n\tlocal -a verbs\n\tverbs=(\n",
	      out);
	for (size_t i = 0; i < n; i++) {
		fprintf(out, "\t\t'%s:", verbs[i].name);
		zsh_text(out, verbs[i].summary);
		fputs("'\n", out);
	}
	fputs("\t)\n\tif (( CURRENT == 2 )); then\n\t\t_describe -t verbs 'meshpol verb' verbs\n"
	      "\t\treturn\n\tfi\n\tlocal key=$words[2]\n\tif [[ $key == (",
	      out);
	sub_verbs(out, verbs, n);
	fputs(") ]] && (( CURRENT > 3 )); then\n"
	      "\t\tkey=\"$key $words[3]\"\n\t\tshift 2 words\n\t\t(( CURRENT -= 2 ))\n"
	      "\telse\n\t\tshift words\n\t\t(( CURRENT-- ))\n\tfi\n\tcase $key in\n",
	      out);
	each_row(out, zsh_verb);
	fputs("\tesac\n}\n_meshpol \"$@\"\n", out);
}

int mp_cli_write_completion(FILE *out, const char *shell)
{
	if (!strcmp(shell, "bash"))
		write_bash(out);
	else if (!strcmp(shell, "zsh"))
		write_zsh(out);
	else
		return -1;
	return 0;
}
