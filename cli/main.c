/* main.c: `meshpol` entry point: one table of verbs, checked in one place, each handing over
 * to its front-end. Verb reference: docs/cli.md. */
#include "cli.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "diag.h"
#include "version.h"

static int cmd_version(int argc, char **argv)
{
	(void)argv;
	if (argc > 1)
		return mp_cli_check_arity(mp_cli_verb("version"), argc - 1);
	printf("meshpol %s\n", MP_VERSION);
	return MP_EXIT_OK;
}

static int cmd_help(int argc, char **argv);

static const mp_verb verbs[] = {
    {"compile", mp_cmd_compile, 1, -1,
     "compile [-o OUT.mpm] [--max-file-size BYTES] [--follow-symlinks] [--trust-domain TD] "
     "[--root-namespace NS] [--default-inbound-policy POLICY] [--cluster-networks CIDRS] "
     "[--control-plane-namespace NS] [--consul-default-intention-policy allow|deny] "
     "[--consul-namespaces off|mirror|mirror=PREFIX|NS] "
     "[--appmesh-allow-all-with-backends refuse|allow] [--kuma-system-namespace NS] "
     "[--cluster NAME [--cloud X] [--region R] [--zone Z]] [--cluster-dir NAME=DIR]... SOURCE...",
     "compile YAML files or directories into a model"},
    {"export", mp_cmd_export, 1, -1,
     "export --to istio [-o OUT.yaml] [--report REPORT.json] [--trust-domain TD] SOURCE...",
     "write another mesh's resources for the App Mesh of the sources, and check them"},
    {"check", mp_cmd_check, 1, 1, "check [-m MODEL] POLICY_DIR",
     "lint a policy bundle: syntax, metadata, references"},
    {"test", mp_cmd_test, 1, 1,
     "test [-v] [--run PATTERN] [--format text|junit|json] [-o FILE] [--watch] POLICY_DIR",
     "run a bundle's policy tests; the last line is \"N passed, M failed\""},
    {"decide", mp_cmd_decide, 0, 1, "decide -m MODEL [-p POLICY_DIR] [--explain] [INPUT.json|-]",
     "decide one request; prints the decision as JSON (exit 0 allow, 1 deny)"},
    {"verify", mp_cmd_verify, 1, 1, "verify TRAIL [--pubkey PUB.pem] [--head SHA256] [--runs N]",
     "check a trail's hash chain and seals (exit 0 intact, 1 tampered)"},
    {"trail", mp_cmd_trail, 1, -1,
     "trail head TRAIL [--pubkey PUB.pem] | trail adopt TRAIL [--sign-key KEY.pem]",
     "print a trail's head for verify --head; seal records found unsealed, on purpose"},
    {"keygen", mp_cmd_keygen, 0, 0, "keygen -o KEY.pem",
     "make an Ed25519 key pair for signing trail seals (KEY.pem, KEY.pub.pem)"},
    {"audit", mp_cmd_audit, 0, 0,
     "audit -m MODEL [-p POLICY_DIR] [--format text|json|junit|sarif|markdown] [-o FILE] "
     "[--fail-on LEVEL] [--trail FILE [--sign-key KEY.pem]] [--policy NAME] [--base DIR] "
     "[--docs-url URL]",
     "audit a mesh against every policy; exit 1 on findings at or above --fail-on (advisory, "
     "soft, hard, or a severity: critical, high, medium, low)"},
    {"diff", mp_cmd_diff, 0, 0,
     "diff [-m MODEL] --base BUNDLE|--base-rev REV --head BUNDLE | diff -p BUNDLE --base-model "
     "MODEL --head-model MODEL [--format text|json|markdown] [-o FILE] [--examples N] "
     "[--fail-on-change]",
     "every decision a bundle or mesh change alters (BUNDLE: a directory or REV:PATH)"},
    {"replay", mp_cmd_replay, 0, 0,
     "replay --decision-log FILE -p BUNDLE [-m MODEL] [--format text|json|markdown] [-o FILE] "
     "[--examples N] [--fail-on-change]",
     "decide a decision log's requests again under a candidate bundle: what would change"},
    {"serve", mp_cmd_serve, 0, 0,
     "serve -m MODEL -p POLICY_DIR [--listen ADDR:PORT] [--workers N] [--decision-log FILE "
     "[--log-mode no-drop|drop] [--log-queue N] [--sign-key KEY.pem]] [--shadow-bundle BUNDLE] "
     "[--tls-cert PEM --tls-key "
     "PEM [--client-ca PEM]] [--admin-listen ADDR:PORT] [--admin-token TOKEN] [--watch] "
     "[--destination-header NAME] [--max-body BYTES] [--max-header BYTES] [--read-timeout SEC] "
     "[--max-connections N] [--drain-timeout SEC] [--request-timeout SEC] [--when-budget N] "
     "[--trusted-proxy CIDR]... [--deny-body minimal|full] [--escaped-slashes "
     "reject|keep|unescape] [--path-params reject|strip|keep]",
     "the decision API over HTTP for proxies and apps (docs/server.md)"},
    {"repl", mp_cmd_repl, 0, 0, "repl [-m MODEL] [-p POLICY_DIR]",
     "the interactive shell: decide, explain, try rules in Lua (docs/repl.md)"},
    {"version", cmd_version, 0, 0, "version", "print the version"},
    {"help", cmd_help, 0, 1, "help [VERB]", "list the verbs, or explain one"},
};
#define NVERBS (sizeof(verbs) / sizeof(verbs[0]))

const mp_verb *mp_cli_verb(const char *name)
{
	for (size_t i = 0; i < NVERBS; i++)
		if (!strcmp(verbs[i].name, name))
			return &verbs[i];
	return NULL;
}

int mp_cli_usage_error(const mp_verb *v, const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "meshpol %s: ", v->name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nusage: meshpol %s\n", v->usage);
	return MP_EXIT_USAGE;
}

int mp_cli_check_arity(const mp_verb *v, int npos)
{
	if (npos < v->min_args)
		return mp_cli_usage_error(v, "missing argument");
	if (v->max_args >= 0 && npos > v->max_args)
		return mp_cli_usage_error(v, "too many arguments");
	return MP_EXIT_OK;
}

/* How the user spells option c: "-m/--model", "--format" or "-v"; NULL for no option. */
static const char *option_name(int c, const char *shortopts, const struct option *longopts,
                               int *takes_value, char *buf, size_t len)
{
	const char *s = c > 0 && c < 128 && c != ':' && shortopts ? strchr(shortopts, c) : NULL;
	const struct option *l = NULL;
	for (const struct option *o = longopts; o && o->name; o++)
		if (!o->flag && o->val == c) {
			l = o;
			break;
		}
	if (!s && !l)
		return NULL;
	*takes_value = (s && s[1] == ':') || (l && l->has_arg == required_argument);
	if (s && l)
		snprintf(buf, len, "-%c/--%s", c, l->name);
	else if (s)
		snprintf(buf, len, "-%c", c);
	else
		snprintf(buf, len, "--%s", l->name);
	return buf;
}

int mp_cli_once(const mp_verb *v, mp_cli_seen *seen, int c, const char *shortopts,
                const struct option *longopts)
{
	char name[80], first[64], again[64];
	int takes_value = 0;
	if (c < 0 || c >= MP_CLI_MAX_OPT ||
	    !option_name(c, shortopts, longopts, &takes_value, name, sizeof(name)) || !takes_value)
		return MP_EXIT_OK;
	if (!seen->seen[c]) {
		seen->seen[c] = 1;
		seen->value[c] = optarg;
		return MP_EXIT_OK;
	}
	const char *a = seen->value[c] ? seen->value[c] : "", *b = optarg ? optarg : "";
	return mp_cli_usage_error(v, "%s given twice ('%s', then '%s'); give it once", name,
	                          mp_diag_quote(a, strlen(a), first, sizeof(first)),
	                          mp_diag_quote(b, strlen(b), again, sizeof(again)));
}

/* Does the verb's argument list ask for help (--help or -h before any "--")? */
static int asks_help(int argc, char **argv)
{
	for (int i = 1; i < argc && strcmp(argv[i], "--"); i++)
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
			return 1;
	return 0;
}

/* `meshpol help VERB`, `meshpol VERB --help`: the usage line and the summary, exit 0. */
static int print_usage(const mp_verb *v)
{
	printf("usage: meshpol %s\n%s\n", v->usage, v->summary);
	return MP_EXIT_OK;
}

static void list_verbs(FILE *f)
{
	fprintf(f, "usage: meshpol VERB [ARGS]\n\nverbs:\n");
	for (size_t i = 0; i < NVERBS; i++)
		fprintf(f, "  %-9s %s\n", verbs[i].name, verbs[i].summary);
}

static int cmd_help(int argc, char **argv)
{
	int rc = mp_cli_check_arity(mp_cli_verb("help"), argc - 1);
	if (rc != MP_EXIT_OK)
		return rc;
	if (argc < 2) {
		list_verbs(stdout);
		return MP_EXIT_OK;
	}
	const mp_verb *v = mp_cli_verb(argv[1]);
	if (!v) {
		fprintf(stderr, "meshpol help: no verb '%s'\n", argv[1]);
		return MP_EXIT_USAGE;
	}
	return print_usage(v);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		list_verbs(stderr);
		return MP_EXIT_USAGE;
	}
	if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-V"))
		return cmd_version(0, NULL);
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))
		return cmd_help(1, argv + 1);
	const mp_verb *v = mp_cli_verb(argv[1]);
	if (!v) {
		fprintf(stderr, "meshpol: unknown verb '%s'\n", argv[1]);
		list_verbs(stderr);
		return MP_EXIT_USAGE;
	}
	if (asks_help(argc - 1, argv + 1))
		return print_usage(v);
	return v->run(argc - 1, argv + 1);
}
