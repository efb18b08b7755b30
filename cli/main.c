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
static int cmd_subcommand(int argc, char **argv);

const char *const mp_report_formats[] = {"text",     "json", "junit", "sarif",
                                         "markdown", "html", NULL};
static const char *const shells[] = {"bash", "zsh", NULL};

enum { O_MAN = 256, O_COMPLETION };
static const mp_option help_options[] = {
    {O_MAN, 0, "man", NULL, "print the man page (groff -man) of every verb, for packagers", NULL,
     0},
    {O_COMPLETION, 0, "completion", "SHELL", "print the completion script for SHELL", shells, 0},
    {0},
};

static const mp_verb verbs[] = {
    {"compile", mp_cmd_compile, 1, -1,
     "compile [-q] [-o OUT.mpm] [--max-file-size BYTES] [--follow-symlinks] [--trust-domain TD] "
     "[--root-namespace NS] [--istio-meshpol-provider NAME] [--istio-mesh-config FILE] "
     "[--default-inbound-policy POLICY] [--cluster-networks CIDRS] "
     "[--control-plane-namespace NS] [--consul-default-intention-policy allow|deny] "
     "[--consul-namespaces off|mirror|mirror=PREFIX|NS] "
     "[--appmesh-allow-all-with-backends refuse|allow] [--kuma-system-namespace NS] "
     "[--cluster NAME [--cloud X] [--region R] [--zone Z]] [--cluster-dir NAME=DIR]... SOURCE...",
     "compile YAML files or directories into a model", mp_compile_options, NULL, NULL},
    {"export", mp_cmd_export, 1, -1,
     "export --to istio [-o OUT.yaml] [--report REPORT.json] [--trust-domain TD] SOURCE...",
     "write another mesh's resources for the App Mesh of the sources, and check them",
     mp_export_options, NULL, NULL},
    {"check", mp_cmd_check, 1, 1, "check [-q] [-m MODEL] POLICY_DIR",
     "lint a policy bundle: syntax, metadata, references", mp_check_options, "dir", NULL},
    {"test", mp_cmd_test, 1, 1,
     "test [-v] [--run PATTERN] [--format text|junit|json] [-o FILE] [--watch] POLICY_DIR",
     "run a bundle's policy tests; the last line is \"N passed, M failed\"", mp_test_options, "dir",
     NULL},
    {"decide", mp_cmd_decide, 0, 1,
     "decide -m MODEL [-p POLICY_DIR] [--explain] [-q] [INPUT.json|-]",
     "decide one request; prints the decision as JSON (exit 0 allow, 1 deny)", mp_decide_options,
     NULL, NULL},
    {"verify", mp_cmd_verify, 1, 1, "verify TRAIL [--pubkey PUB.pem] [--head SHA256] [--runs N]",
     "check a trail's hash chain and seals (exit 0 intact, 1 tampered)", mp_verify_options, NULL,
     NULL},
    {"trail", cmd_subcommand, 1, -1,
     "trail head TRAIL [--pubkey PUB.pem] | trail adopt TRAIL [--sign-key KEY.pem] | trail "
     "join BATCH...",
     "print a trail's head for verify --head; seal records found unsealed, on purpose; "
     "uploaded decision log batches back into JSON Lines",
     NULL, NULL, mp_trail_subcommands},
    {"keygen", mp_cmd_keygen, 0, 0, "keygen -o KEY.pem",
     "make an Ed25519 key pair for signing trail seals (KEY.pem, KEY.pub.pem)", mp_keygen_options,
     "none", NULL},
    {"bundle", cmd_subcommand, 1, -1,
     "bundle build -p DIR [-m MODEL] -o BUNDLE.tar.gz [--sign-key KEY.pem] [--revision R] | "
     "bundle verify BUNDLE.tar.gz [--pubkey PUB.pem] | bundle inspect BUNDLE.tar.gz "
     "[--format text|json]",
     "a policy bundle as one signed archive: build it, verify it, show what it holds", NULL, NULL,
     mp_bundle_subcommands},
    {"audit", mp_cmd_audit, 0, 0,
     "audit -m MODEL [-p POLICY_DIR] [--format text|json|junit|sarif|markdown|html] [-o FILE] "
     "[--fail-on LEVEL] [--trail FILE [--sign-key KEY.pem]] [--policy NAME] [--base DIR] "
     "[--docs-url URL] [--istio-mesh-config FILE] [--jobs N] [-q]",
     "audit a mesh against every policy; exit 1 on findings at or above --fail-on (advisory, "
     "soft, hard, or a severity: critical, high, medium, low)",
     mp_audit_options, "none", NULL},
    {"graph", mp_cmd_graph, 0, 0,
     "graph -m MODEL [-p POLICY_DIR] [--format svg|dot] [-o FILE] [-q]",
     "draw the mesh: services by jurisdiction and cluster, leaks and denied routes in colour",
     mp_graph_options, "none", NULL},
    {"diff", mp_cmd_diff, 0, 0,
     "diff [-m MODEL] --base BUNDLE|--base-rev REV --head BUNDLE | diff -p BUNDLE --base-model "
     "MODEL --head-model MODEL [--format text|json|markdown] [-o FILE] [--examples N] "
     "[--fail-on-change]",
     "every decision a bundle or mesh change alters (BUNDLE: a directory or REV:PATH)",
     mp_diff_options, "none", NULL},
    {"replay", mp_cmd_replay, 0, 0,
     "replay --decision-log FILE -p BUNDLE [-m MODEL] [--format text|json|markdown] [-o FILE] "
     "[--examples N] [--fail-on-change]",
     "decide a decision log's requests again under a candidate bundle: what would change",
     mp_replay_options, "none", NULL},
    {"serve", mp_cmd_serve, 0, 0,
     "serve -m MODEL -p POLICY_DIR [--listen ADDR:PORT] [--workers N] [--decision-log FILE "
     "[--log-mode no-drop|drop] [--log-queue N] [--sign-key KEY.pem]] [--shadow-bundle BUNDLE] "
     "[--tls-cert PEM --tls-key PEM [--client-ca PEM]] [--admin-listen ADDR:PORT] "
     "[--admin-token TOKEN] [--watch] "
     "[--destination-header NAME] [--max-body BYTES] [--max-header BYTES] [--read-timeout SEC] "
     "[--max-connections N] [--drain-timeout SEC] [--request-timeout SEC] [--when-budget N] "
     "[--trusted-proxy CIDR]... [--deny-body minimal|full] [--escaped-slashes "
     "reject|keep|unescape] [--path-params reject|strip|keep] [--grpc-listen ADDR:PORT "
     "[--grpc-max-streams N] [--grpc-idle-timeout SEC]] [--decision-log-url URL "
     "[--decision-log-token FILE] [--decision-log-ca CA.pem] [--decision-log-buffer BYTES] "
     "[--decision-log-flush-ms MS]] | serve --bundle-url URL [--model-url URL] "
     "[--bundle-pubkey PUB.pem] [--bundle-poll SECONDS] [--bundle-cache DIR] "
     "[--bundle-token FILE] [--bundle-ca CA.pem] [--bundle-max-size BYTES] [-m MODEL] "
     "[-p POLICY_DIR] ...",
     "the decision API over HTTP (and Envoy's gRPC ext_authz) for proxies and apps "
     "(docs/server.md)",
     mp_serve_options, "none", NULL},
    {"repl", mp_cmd_repl, 0, 0, "repl [-m MODEL] [-p POLICY_DIR]",
     "the interactive shell: decide, explain, try rules in Lua (docs/repl.md)", mp_repl_options,
     "none", NULL},
    {"version", cmd_version, 0, 0, "version", "print the version", NULL, "none", NULL},
    {"help", cmd_help, 0, 1, "help [VERB] | help --man | help --completion bash|zsh",
     "list the verbs, or explain one", help_options, "verb", NULL},
};
#define NVERBS (sizeof(verbs) / sizeof(verbs[0]))

const mp_verb *mp_cli_verbs(size_t *n)
{
	*n = NVERBS;
	return verbs;
}

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

/* The subcommand of v that word names, or NULL. */
static const mp_verb *find_subcommand(const mp_verb *v, const char *word)
{
	size_t n = 0;
	const mp_verb *subs = v->subcommands ? v->subcommands(&n) : NULL;
	for (size_t i = 0; i < n; i++)
		if (!strcmp(strchr(subs[i].name, ' ') + 1, word))
			return &subs[i];
	return NULL;
}

int mp_cli_run_subcommand(const mp_verb *v, int argc, char **argv)
{
	size_t n, at = 0;
	const mp_verb *subs = v->subcommands(&n), *sub;
	char names[200] = "";
	for (size_t i = 0; i < n && at < sizeof(names); i++)
		at += (size_t)snprintf(names + at, sizeof(names) - at, "%s%s",
		                       !i          ? ""
		                       : i + 1 < n ? ", "
		                                   : " or ",
		                       strchr(subs[i].name, ' ') + 1);
	if (argc < 2 || argv[1][0] == '-')
		return mp_cli_usage_error(v, "missing subcommand (%s)", names);
	if (!(sub = find_subcommand(v, argv[1])))
		return mp_cli_usage_error(v, "unknown subcommand '%.40s' (%s)", argv[1], names);
	return sub->run(argc - 1, argv + 1);
}

/* A verb with subcommands (trail, bundle): argv[0] names it. */
static int cmd_subcommand(int argc, char **argv)
{
	return mp_cli_run_subcommand(mp_cli_verb(argv[0]), argc, argv);
}

/* Does the verb's argument list ask for help (--help or -h before any "--")? */
static int asks_help(int argc, char **argv)
{
	for (int i = 1; i < argc && strcmp(argv[i], "--"); i++)
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
			return 1;
	return 0;
}

/* `meshpol help VERB`, `meshpol VERB --help`: the verb's help, exit 0. */
static int print_usage(const mp_verb *v)
{
	mp_cli_print_help(v, stdout);
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
	const mp_verb *v = mp_cli_verb("help");
	mp_cli_parser p = {0};
	int c, rc, man = 0;
	const char *shell = NULL;
	while ((c = mp_cli_next(v, &p, argc, argv)) != MP_CLI_DONE) {
		if (c == MP_CLI_ERROR)
			return MP_EXIT_USAGE;
		if (c == O_MAN)
			man = 1;
		else
			shell = optarg;
	}
	if ((rc = mp_cli_check_arity(v, argc - optind)) != MP_EXIT_OK)
		return rc;
	if ((man || shell) && argc > optind)
		return mp_cli_usage_error(v, "--man and --completion take no verb");
	if (man && shell)
		return mp_cli_usage_error(v, "--man or --completion, not both");
	if (man) {
		mp_cli_write_man(stdout);
		return MP_EXIT_OK;
	}
	if (shell) {
		mp_cli_write_completion(stdout, shell); /* the table checked the shell */
		return MP_EXIT_OK;
	}
	if (argc <= optind) {
		list_verbs(stdout);
		return MP_EXIT_OK;
	}
	const mp_verb *w = mp_cli_verb(argv[optind]);
	if (!w) {
		const char *names[NVERBS + 1];
		char hint[300];
		for (size_t i = 0; i < NVERBS; i++)
			names[i] = verbs[i].name;
		names[NVERBS] = NULL;
		fprintf(stderr, "meshpol help: no verb '%s' (%s)\n", argv[optind],
		        mp_diag_hint(argv[optind], names, hint, sizeof(hint)));
		return MP_EXIT_USAGE;
	}
	return print_usage(w);
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
		const char *names[NVERBS + 1], *near;
		for (size_t i = 0; i < NVERBS; i++)
			names[i] = verbs[i].name;
		names[NVERBS] = NULL;
		near = mp_diag_nearest(argv[1], names);
		if (near)
			fprintf(stderr, "meshpol: unknown verb '%s' (did you mean '%s'?)\n",
			        argv[1], near);
		else
			fprintf(stderr, "meshpol: unknown verb '%s'\n", argv[1]);
		list_verbs(stderr);
		return MP_EXIT_USAGE;
	}
	if (asks_help(argc - 1, argv + 1)) {
		const mp_verb *sub = argc > 2 ? find_subcommand(v, argv[2]) : NULL;
		return print_usage(sub ? sub : v); /* trail head --help: the subcommand's */
	}
	return v->run(argc - 1, argv + 1);
}
