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
	O_GRPC_LISTEN,
	O_GRPC_MAX_STREAMS,
	O_GRPC_IDLE_TIMEOUT,
	O_BUNDLE_URL,
	O_MODEL_URL,
	O_BUNDLE_PUBKEY,
	O_BUNDLE_POLL,
	O_BUNDLE_CACHE,
	O_BUNDLE_TOKEN,
	O_BUNDLE_CA,
	O_BUNDLE_MAX,
	O_LOG_URL,
	O_LOG_TOKEN,
	O_LOG_CA,
	O_LOG_BUFFER,
	O_LOG_FLUSH,
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
    {O_GRPC_MAX_STREAMS, "--grpc-max-streams", 1, 65536},
    {O_GRPC_IDLE_TIMEOUT, "--grpc-idle-timeout", 1, 86400},
    {O_BUNDLE_POLL, "--bundle-poll", 1, 86400},
    {O_BUNDLE_MAX, "--bundle-max-size", 1024, 1LL << 30},
    {O_LOG_BUFFER, "--decision-log-buffer", 65536, 1LL << 32},
    {O_LOG_FLUSH, "--decision-log-flush-ms", 10, 60000},
};

/* Options that only mean something beside another: the one, and what it needs. */
static const struct {
	int opt;
	const char *name;
	int needs;
	const char *needs_name;
} needs[] = {
    {O_MODEL_URL, "--model-url", O_BUNDLE_URL, "--bundle-url"},
    {O_BUNDLE_PUBKEY, "--bundle-pubkey", O_BUNDLE_URL, "--bundle-url"},
    {O_BUNDLE_POLL, "--bundle-poll", O_BUNDLE_URL, "--bundle-url"},
    {O_BUNDLE_CACHE, "--bundle-cache", O_BUNDLE_URL, "--bundle-url"},
    {O_BUNDLE_TOKEN, "--bundle-token", O_BUNDLE_URL, "--bundle-url"},
    {O_BUNDLE_CA, "--bundle-ca", O_BUNDLE_URL, "--bundle-url"},
    {O_BUNDLE_MAX, "--bundle-max-size", O_BUNDLE_URL, "--bundle-url"},
    {O_LOG_TOKEN, "--decision-log-token", O_LOG_URL, "--decision-log-url"},
    {O_LOG_CA, "--decision-log-ca", O_LOG_URL, "--decision-log-url"},
    {O_LOG_BUFFER, "--decision-log-buffer", O_LOG_URL, "--decision-log-url"},
    {O_LOG_FLUSH, "--decision-log-flush-ms", O_LOG_URL, "--decision-log-url"},
};

/* Is url an http or https URL? */
static int is_http_url(const char *url)
{
	return (!strncmp(url, "http://", 7) && url[7]) || (!strncmp(url, "https://", 8) && url[8]);
}

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
	    {"grpc-listen", required_argument, NULL, O_GRPC_LISTEN},
	    {"grpc-max-streams", required_argument, NULL, O_GRPC_MAX_STREAMS},
	    {"grpc-idle-timeout", required_argument, NULL, O_GRPC_IDLE_TIMEOUT},
	    {"bundle-url", required_argument, NULL, O_BUNDLE_URL},
	    {"model-url", required_argument, NULL, O_MODEL_URL},
	    {"bundle-pubkey", required_argument, NULL, O_BUNDLE_PUBKEY},
	    {"bundle-poll", required_argument, NULL, O_BUNDLE_POLL},
	    {"bundle-cache", required_argument, NULL, O_BUNDLE_CACHE},
	    {"bundle-token", required_argument, NULL, O_BUNDLE_TOKEN},
	    {"bundle-ca", required_argument, NULL, O_BUNDLE_CA},
	    {"bundle-max-size", required_argument, NULL, O_BUNDLE_MAX},
	    {"decision-log-url", required_argument, NULL, O_LOG_URL},
	    {"decision-log-token", required_argument, NULL, O_LOG_TOKEN},
	    {"decision-log-ca", required_argument, NULL, O_LOG_CA},
	    {"decision-log-buffer", required_argument, NULL, O_LOG_BUFFER},
	    {"decision-log-flush-ms", required_argument, NULL, O_LOG_FLUSH},
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
	    .grpc_max_streams = 100,
	    .grpc_idle_timeout = 300,
	    .admin_token = getenv("MESHPOL_ADMIN_TOKEN"),
	    .bundle_poll = 30,
	    .bundle_max = MP_SERVER_BUNDLE_MAX,
	    .log_buffer = 64 << 20,
	    .log_flush_ms = 1000,
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
		case O_GRPC_LISTEN:
			cfg.grpc_listen = optarg;
			break;
		case O_GRPC_MAX_STREAMS:
			cfg.grpc_max_streams = (int)n;
			break;
		case O_GRPC_IDLE_TIMEOUT:
			cfg.grpc_idle_timeout = (int)n;
			break;
		case O_BUNDLE_URL:
		case O_MODEL_URL:
		case O_LOG_URL:
			if (!is_http_url(optarg))
				return mp_cli_usage_error(v,
				                          "--%s takes an http:// or https:// URL",
				                          c == O_BUNDLE_URL  ? "bundle-url"
				                          : c == O_MODEL_URL ? "model-url"
				                                             : "decision-log-url");
			*(c == O_BUNDLE_URL  ? &cfg.bundle_url
			  : c == O_MODEL_URL ? &cfg.model_url
			                     : &cfg.log_url) = optarg;
			break;
		case O_BUNDLE_PUBKEY:
			cfg.bundle_pubkey = optarg;
			break;
		case O_BUNDLE_POLL:
			cfg.bundle_poll = (int)n;
			break;
		case O_BUNDLE_CACHE:
			cfg.bundle_cache = optarg;
			break;
		case O_BUNDLE_TOKEN:
			cfg.bundle_token = optarg;
			break;
		case O_BUNDLE_CA:
			cfg.bundle_ca = optarg;
			break;
		case O_BUNDLE_MAX:
			cfg.bundle_max = (size_t)n;
			break;
		case O_LOG_TOKEN:
			cfg.log_token = optarg;
			break;
		case O_LOG_CA:
			cfg.log_ca = optarg;
			break;
		case O_LOG_BUFFER:
			cfg.log_buffer = (size_t)n;
			break;
		case O_LOG_FLUSH:
			cfg.log_flush_ms = (int)n;
			break;
		default:
			return mp_cli_usage_error(v, "unknown option");
		}
	}
	if ((rc = mp_cli_check_arity(v, argc - optind)) != MP_EXIT_OK)
		return rc;
	for (size_t i = 0; i < sizeof(needs) / sizeof(needs[0]); i++)
		if (seen.seen[needs[i].opt] && !seen.seen[needs[i].needs])
			return mp_cli_usage_error(v, "%s needs %s", needs[i].name,
			                          needs[i].needs_name);
	if (!cfg.bundle_url && (!cfg.model || !cfg.bundle))
		return mp_cli_usage_error(v, "-m MODEL and -p POLICY_DIR are required (or "
		                             "--bundle-url URL)");
	if (cfg.watch && cfg.bundle_url)
		return mp_cli_usage_error(v,
		                          "--watch reloads files on change; with --bundle-url the "
		                          "bundle is polled (--bundle-poll)");
	if (!cfg.tls_cert != !cfg.tls_key)
		return mp_cli_usage_error(v, "--tls-cert and --tls-key go together");
	if (cfg.client_ca && !cfg.tls_cert)
		return mp_cli_usage_error(v, "--client-ca needs --tls-cert and --tls-key");
	if (cfg.sign_key && !cfg.decision_log && !cfg.log_url)
		return mp_cli_usage_error(v,
		                          "--sign-key needs --decision-log or --decision-log-url");
	if (cfg.admin_token && !*cfg.admin_token)
		return mp_cli_usage_error(v, "--admin-token is empty");
	if (cfg.destination_header && !*cfg.destination_header)
		return mp_cli_usage_error(v, "--destination-header is empty");
	if (cfg.drain_timeout < 0)
		cfg.drain_timeout = cfg.read_timeout;
	return mp_server_run(&cfg);
}
