/* serve_cmd.c: `meshpol serve`: reads the options into a server configuration and runs the
 * decision API (server/). Reference: docs/server.md. */
#include "../server/server.h"
#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A count or size: digits with an optional k/K (x1024) or m/M (x1024^2) suffix, in [lo, hi]. */
static int parse_num(const char *s, long long lo, long long hi, long long *out)
{
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (end == s || errno)
		return -1;
	if (*end == 'k' || *end == 'K') {
		v *= 1024;
		end++;
	} else if (*end == 'm' || *end == 'M') {
		v *= 1024 * 1024;
		end++;
	}
	if (*end || v < lo || v > hi)
		return -1;
	*out = v;
	return 0;
}

enum {
	O_LISTEN = 256,
	O_WORKERS,
	O_LOG,
	O_SHADOW,
	O_LOG_MODE,
	O_LOG_QUEUE,
	O_SIGN_KEY,
	O_TLS_CERT,
	O_TLS_KEY,
	O_CLIENT_CA,
	O_ADMIN_LISTEN,
	O_ADMIN_TOKEN,
	O_WATCH,
	O_DEST_HEADER,
	O_MAX_BODY,
	O_MAX_HEADER,
	O_READ_TIMEOUT,
	O_MAX_CONNS,
	O_DRAIN_TIMEOUT,
	O_REQUEST_TIMEOUT,
	O_WHEN_BUDGET,
	O_TRUSTED_PROXY,
	O_DENY_BODY,
	O_ESCAPED_SLASHES,
	O_PATH_PARAMS,
};

/* Numeric options: where each goes and its bounds, checked in one place. */
static const struct {
	int opt;
	const char *name;
	long long lo, hi;
} numeric[] = {
    {O_WORKERS, "--workers", 1, 256},
    {O_LOG_QUEUE, "--log-queue", 1, 10000000},
    {O_MAX_BODY, "--max-body", 64, 1LL << 30},
    {O_MAX_HEADER, "--max-header", 1024, 16LL << 20},
    {O_READ_TIMEOUT, "--read-timeout", 1, 3600},
    {O_MAX_CONNS, "--max-connections", 1, 1000000},
    {O_DRAIN_TIMEOUT, "--drain-timeout", 0, 3600},
    {O_REQUEST_TIMEOUT, "--request-timeout", 1, 3600},
    {O_WHEN_BUDGET, "--when-budget", 1000, 1LL << 50},
};

/* Options that take one of a few words: the words, in the order of the values they stand for,
 * checked in one place. */
static const struct {
	int opt;
	const char *name;
	const char *words[4]; /* NULL-terminated; words[i] sets the value i */
} choices[] = {
    {O_LOG_MODE, "--log-mode", {"no-drop", "drop", NULL}},
    {O_DENY_BODY, "--deny-body", {"minimal", "full", NULL}},
    {O_ESCAPED_SLASHES, "--escaped-slashes", {"reject", "keep", "unescape", NULL}},
    {O_PATH_PARAMS, "--path-params", {"reject", "strip", "keep", NULL}},
};

/* The value of a choice option's word, or -1 (after the usage error) when it is none of them. */
static int parse_choice(const mp_verb *v, int opt, const char *word)
{
	for (size_t i = 0; i < sizeof(choices) / sizeof(choices[0]); i++) {
		if (choices[i].opt != opt)
			continue;
		char list[96] = "";
		for (int k = 0; choices[i].words[k]; k++) {
			if (!strcmp(word, choices[i].words[k]))
				return k;
			snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s",
			         k ? (choices[i].words[k + 1] ? ", " : " or ") : "",
			         choices[i].words[k]);
		}
		mp_cli_usage_error(v, "%s takes %s, not '%s'", choices[i].name, list, word);
		return -1;
	}
	return -1;
}

int mp_cmd_serve(int argc, char **argv)
{
	const mp_verb *v = mp_cli_verb("serve");
	static const struct option opts[] = {
	    {"model", required_argument, NULL, 'm'},
	    {"policies", required_argument, NULL, 'p'},
	    {"listen", required_argument, NULL, O_LISTEN},
	    {"workers", required_argument, NULL, O_WORKERS},
	    {"decision-log", required_argument, NULL, O_LOG},
	    {"shadow-bundle", required_argument, NULL, O_SHADOW},
	    {"log-mode", required_argument, NULL, O_LOG_MODE},
	    {"log-queue", required_argument, NULL, O_LOG_QUEUE},
	    {"sign-key", required_argument, NULL, O_SIGN_KEY},
	    {"tls-cert", required_argument, NULL, O_TLS_CERT},
	    {"tls-key", required_argument, NULL, O_TLS_KEY},
	    {"client-ca", required_argument, NULL, O_CLIENT_CA},
	    {"admin-listen", required_argument, NULL, O_ADMIN_LISTEN},
	    {"admin-token", required_argument, NULL, O_ADMIN_TOKEN},
	    {"watch", no_argument, NULL, O_WATCH},
	    {"destination-header", required_argument, NULL, O_DEST_HEADER},
	    {"max-body", required_argument, NULL, O_MAX_BODY},
	    {"max-header", required_argument, NULL, O_MAX_HEADER},
	    {"read-timeout", required_argument, NULL, O_READ_TIMEOUT},
	    {"max-connections", required_argument, NULL, O_MAX_CONNS},
	    {"drain-timeout", required_argument, NULL, O_DRAIN_TIMEOUT},
	    {"request-timeout", required_argument, NULL, O_REQUEST_TIMEOUT},
	    {"when-budget", required_argument, NULL, O_WHEN_BUDGET},
	    {"trusted-proxy", required_argument, NULL, O_TRUSTED_PROXY},
	    {"deny-body", required_argument, NULL, O_DENY_BODY},
	    {"escaped-slashes", required_argument, NULL, O_ESCAPED_SLASHES},
	    {"path-params", required_argument, NULL, O_PATH_PARAMS},
	    {NULL, 0, NULL, 0},
	};
	long nproc = sysconf(_SC_NPROCESSORS_ONLN);
	mp_server_config cfg = {
	    .listen = "127.0.0.1:8181",
	    .workers = nproc > 0 ? (int)(nproc > 256 ? 256 : nproc) : 1,
	    .log_queue = 16384,
	    .watch_debounce_ms = 200,
	    .max_body = 1 << 20,
	    .max_header = 32 << 10,
	    .read_timeout = 10,
	    .max_connections = 4096,
	    .drain_timeout = -1,
	    .request_timeout = 5,
	    .admin_token = getenv("MESHPOL_ADMIN_TOKEN"),
	};
	mp_cli_seen seen = {0};
	int c, rc;
	optind = 1;
	while ((c = getopt_long(argc, argv, "m:p:", opts, NULL)) != -1) {
		long long n = 0;
		if (c != O_TRUSTED_PROXY && mp_cli_once(v, &seen, c, "m:p:", opts) != MP_EXIT_OK)
			return MP_EXIT_USAGE; /* --trusted-proxy is the one that repeats */
		for (size_t i = 0; i < sizeof(numeric) / sizeof(numeric[0]); i++)
			if (numeric[i].opt == c &&
			    parse_num(optarg, numeric[i].lo, numeric[i].hi, &n) < 0)
				return mp_cli_usage_error(
				    v, "%s takes a number from %lld to %lld, not '%s'",
				    numeric[i].name, numeric[i].lo, numeric[i].hi, optarg);
		for (size_t i = 0; i < sizeof(choices) / sizeof(choices[0]); i++)
			if (choices[i].opt == c && (n = parse_choice(v, c, optarg)) < 0)
				return MP_EXIT_USAGE;
		switch (c) {
		case 'm':
			cfg.model = optarg;
			break;
		case 'p':
			cfg.bundle = optarg;
			break;
		case O_LISTEN:
			cfg.listen = optarg;
			break;
		case O_WORKERS:
			cfg.workers = (int)n;
			break;
		case O_LOG:
			cfg.decision_log = optarg;
			break;
		case O_SHADOW: /* a directory or REV:PATH (bundlesrc.h); a URL plugs in there */
			cfg.shadow_bundle = optarg;
			break;
		case O_LOG_MODE:
			cfg.log_drop = (int)n;
			break;
		case O_LOG_QUEUE:
			cfg.log_queue = (size_t)n;
			break;
		case O_SIGN_KEY:
			cfg.sign_key = optarg;
			break;
		case O_TLS_CERT:
			cfg.tls_cert = optarg;
			break;
		case O_TLS_KEY:
			cfg.tls_key = optarg;
			break;
		case O_CLIENT_CA:
			cfg.client_ca = optarg;
			break;
		case O_ADMIN_LISTEN:
			cfg.admin_listen = optarg;
			break;
		case O_ADMIN_TOKEN:
			cfg.admin_token = optarg;
			break;
		case O_WATCH:
			cfg.watch = 1;
			break;
		case O_DEST_HEADER:
			cfg.destination_header = optarg;
			break;
		case O_MAX_BODY:
			cfg.max_body = (size_t)n;
			break;
		case O_MAX_HEADER:
			cfg.max_header = (size_t)n;
			break;
		case O_READ_TIMEOUT:
			cfg.read_timeout = (int)n;
			break;
		case O_MAX_CONNS:
			cfg.max_connections = (int)n;
			break;
		case O_DRAIN_TIMEOUT:
			cfg.drain_timeout = (int)n;
			break;
		case O_REQUEST_TIMEOUT:
			cfg.request_timeout = (int)n;
			break;
		case O_WHEN_BUDGET:
			cfg.when_budget = (unsigned long long)n;
			break;
		case O_TRUSTED_PROXY:
			if (cfg.ntrusted == MP_SERVER_MAX_TRUSTED)
				return mp_cli_usage_error(v, "--trusted-proxy: at most %d ranges",
				                          MP_SERVER_MAX_TRUSTED);
			if (mp_server_parse_cidr(optarg, &cfg.trusted[cfg.ntrusted]) < 0)
				return mp_cli_usage_error(
				    v,
				    "--trusted-proxy takes an address or CIDR range "
				    "(127.0.0.1, 10.0.0.0/8, ::1/128), not '%s'",
				    optarg);
			cfg.ntrusted++;
			break;
		case O_DENY_BODY:
			cfg.deny_body_full = (int)n;
			break;
		case O_ESCAPED_SLASHES:
			cfg.escaped_slashes = (int)n;
			break;
		case O_PATH_PARAMS:
			cfg.path_params = (int)n;
			break;
		default:
			return mp_cli_usage_error(v, "unknown option");
		}
	}
	if ((rc = mp_cli_check_arity(v, argc - optind)) != MP_EXIT_OK)
		return rc;
	if (!cfg.model || !cfg.bundle)
		return mp_cli_usage_error(v, "-m MODEL and -p POLICY_DIR are required");
	if (!cfg.tls_cert != !cfg.tls_key)
		return mp_cli_usage_error(v, "--tls-cert and --tls-key go together");
	if (cfg.client_ca && !cfg.tls_cert)
		return mp_cli_usage_error(v, "--client-ca needs --tls-cert and --tls-key");
	if (cfg.sign_key && !cfg.decision_log)
		return mp_cli_usage_error(v, "--sign-key needs --decision-log");
	if (cfg.admin_token && !*cfg.admin_token)
		return mp_cli_usage_error(v, "--admin-token is empty");
	if (cfg.destination_header && !*cfg.destination_header)
		return mp_cli_usage_error(v, "--destination-header is empty");
	if (cfg.drain_timeout < 0)
		cfg.drain_timeout = cfg.read_timeout;
	return mp_server_run(&cfg);
}
