/* serve_cmd.c: `meshpol serve`: reads the options into a server configuration and runs the
 * decision API (server/). Reference: docs/server.md. */
#include "../server/server.h"
#include "cli.h"

#include <errno.h>
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
	long long lo, hi;
} numeric[] = {
    {O_WORKERS, 1, 256},
    {O_LOG_QUEUE, 1, 10000000},
    {O_MAX_BODY, 64, 1LL << 30},
    {O_MAX_HEADER, 1024, 16LL << 20},
    {O_READ_TIMEOUT, 1, 3600},
    {O_MAX_CONNS, 1, 1000000},
    {O_DRAIN_TIMEOUT, 0, 3600},
    {O_REQUEST_TIMEOUT, 1, 3600},
    {O_WHEN_BUDGET, 1000, 1LL << 50},
    {O_GRPC_MAX_STREAMS, 1, 65536},
    {O_GRPC_IDLE_TIMEOUT, 1, 86400},
    {O_BUNDLE_POLL, 1, 86400},
    {O_BUNDLE_MAX, 1024, 1LL << 30},
    {O_LOG_BUFFER, 65536, 1LL << 32},
    {O_LOG_FLUSH, 10, 60000},
};

/* Options that only mean something beside another: the one, and what it needs. */
static const mp_cli_need needs[] = {
    {O_MODEL_URL, O_BUNDLE_URL},    {O_BUNDLE_PUBKEY, O_BUNDLE_URL}, {O_BUNDLE_POLL, O_BUNDLE_URL},
    {O_BUNDLE_CACHE, O_BUNDLE_URL}, {O_BUNDLE_TOKEN, O_BUNDLE_URL},  {O_BUNDLE_CA, O_BUNDLE_URL},
    {O_BUNDLE_MAX, O_BUNDLE_URL},   {O_LOG_TOKEN, O_LOG_URL},        {O_LOG_CA, O_LOG_URL},
    {O_LOG_BUFFER, O_LOG_URL},      {O_LOG_FLUSH, O_LOG_URL},
};

/* Is url an http or https URL? */
static int is_http_url(const char *url)
{
	return (!strncmp(url, "http://", 7) && url[7]) || (!strncmp(url, "https://", 8) && url[8]);
}

/* Options that take one of a few words: the words, in the order of the values they stand for
 * (words[i] sets the value i); the option table checks them. */
static const char *const log_modes[] = {"no-drop", "drop", NULL};
static const char *const deny_bodies[] = {"minimal", "full", NULL};
static const char *const escaped_slashes[] = {"reject", "keep", "unescape", NULL};
static const char *const path_params[] = {"reject", "strip", "keep", NULL};

/* The index of word in words (the table checked that it is one). */
static int choice(const char *const *words, const char *word)
{
	int k = 0;
	while (words[k] && strcmp(words[k], word))
		k++;
	return k;
}

const mp_option mp_serve_options[] = {
    MP_CLI_MODEL_OPTION,
    {'p', 'p', "policies", "POLICY_DIR", "the policy bundle", NULL, MP_OPT_DIR},
    {O_LISTEN, 0, "listen", "ADDR:PORT",
     "where the API listens (default 127.0.0.1:8181; [::1]:8181, :8181)", NULL, 0},
    {O_WORKERS, 0, "workers", "N",
     "worker threads, each with its own event loop and Lua state (default: one per CPU)", NULL, 0},
    {O_LOG, 0, "decision-log", "FILE", "append every decision to a hash-chained log (a trail)",
     NULL, MP_OPT_FILE},
    {O_SHADOW, 0, "shadow-bundle", "BUNDLE",
     "decide every request with this candidate bundle too (a directory, an archive, its URL or "
     "REV:PATH), never changing the answer; disagreements in /metrics and the decision record",
     NULL, MP_OPT_FILE},
    {O_LOG_MODE, 0, "log-mode", "MODE",
     "when the log's queue is full: requests wait (no-drop, the default), or the record is dropped "
     "and counted",
     log_modes, 0},
    {O_LOG_QUEUE, 0, "log-queue", "N", "records the log's queue holds (default 16384)", NULL, 0},
    {O_SIGN_KEY, 0, "sign-key", "KEY.pem",
     "sign the log's seals with this Ed25519 key (meshpol keygen)", NULL, MP_OPT_FILE},
    {O_TLS_CERT, 0, "tls-cert", "PEM", "serve HTTPS with this certificate (with --tls-key)", NULL,
     MP_OPT_FILE},
    {O_TLS_KEY, 0, "tls-key", "PEM", "the private key of --tls-cert", NULL, MP_OPT_FILE},
    {O_CLIENT_CA, 0, "client-ca", "PEM",
     "mutual TLS: require a client certificate signed by this CA", NULL, MP_OPT_FILE},
    {O_ADMIN_LISTEN, 0, "admin-listen", "ADDR:PORT",
     "a second, plain-HTTP listener for /v1/reload, /health and /metrics", NULL, 0},
    {O_ADMIN_TOKEN, 0, "admin-token", "TOKEN",
     "/v1/reload requires Authorization: Bearer TOKEN (also $MESHPOL_ADMIN_TOKEN)", NULL, 0},
    {O_WATCH, 0, "watch", NULL, "reload when the model or bundle changes on disk", NULL, 0},
    {O_DEST_HEADER, 0, "destination-header", "NAME",
     "where /v1/check reads the destination (default Host; no fall-back when given)", NULL, 0},
    {O_MAX_BODY, 0, "max-body", "BYTES", "largest request body, k/M suffixes accepted (default 1M)",
     NULL, 0},
    {O_MAX_HEADER, 0, "max-header", "BYTES", "largest request line plus headers (default 32k)",
     NULL, 0},
    {O_READ_TIMEOUT, 0, "read-timeout", "SEC",
     "a whole request must arrive within this; idle connections close after it (default 10)", NULL,
     0},
    {O_MAX_CONNS, 0, "max-connections", "N",
     "open client connections, all workers together (default 4096)", NULL, 0},
    {O_DRAIN_TIMEOUT, 0, "drain-timeout", "SEC",
     "how long SIGTERM waits for requests in flight (default: --read-timeout)", NULL, 0},
    {O_REQUEST_TIMEOUT, 0, "request-timeout", "SEC",
     "the watchdog: a decision's Lua running longer is interrupted (default 5)", NULL, 0},
    {O_WHEN_BUDGET, 0, "when-budget", "N", "budget units a `when` call may take (default 1M)", NULL,
     0},
    {O_TRUSTED_PROXY, 0, "trusted-proxy", "CIDR",
     "a peer whose identity headers count (XFCC, X-Forwarded-For); default every peer", NULL,
     MP_OPT_REPEAT},
    {O_DENY_BODY, 0, "deny-body", "MODE",
     "what a proxy's 403 carries: minimal (the default) or the whole decision", deny_bodies, 0},
    {O_ESCAPED_SLASHES, 0, "escaped-slashes", "MODE",
     "a proxy's path with %2F, %5C or \\: denied (the default), decided as written, or as /",
     escaped_slashes, 0},
    {O_PATH_PARAMS, 0, "path-params", "MODE",
     "a proxy's path with a ; parameter: denied (the default), decided without, or as written",
     path_params, 0},
    {O_GRPC_LISTEN, 0, "grpc-listen", "ADDR:PORT",
     "also serve Envoy's gRPC ext_authz Check there (HTTP/2 cleartext, or TLS with --tls-cert)",
     NULL, 0},
    {O_GRPC_MAX_STREAMS, 0, "grpc-max-streams", "N",
     "calls in flight on one gRPC connection; more are refused (default 100)", NULL, 0},
    {O_GRPC_IDLE_TIMEOUT, 0, "grpc-idle-timeout", "SEC",
     "a gRPC connection without a call for this long is closed (default 300)", NULL, 0},
    {O_BUNDLE_URL, 0, "bundle-url", "URL",
     "poll the bundle archive there (http or https); -p and -m become optional", NULL, 0},
    {O_MODEL_URL, 0, "model-url", "URL",
     "with --bundle-url: poll the model (.mpm) too; else -m, else the model the archive holds",
     NULL, 0},
    {O_BUNDLE_PUBKEY, 0, "bundle-pubkey", "PUB.pem",
     "with --bundle-url: a download must be signed by this Ed25519 key", NULL, MP_OPT_FILE},
    {O_BUNDLE_POLL, 0, "bundle-poll", "SECONDS",
     "with --bundle-url: between polls (default 30; doubled after each failure, to 300)", NULL, 0},
    {O_BUNDLE_CACHE, 0, "bundle-cache", "DIR",
     "with --bundle-url: keep the last good bundle (and model) there, for a restart", NULL,
     MP_OPT_DIR},
    {O_BUNDLE_TOKEN, 0, "bundle-token", "FILE",
     "with --bundle-url: send the token in FILE as Authorization: Bearer (read at every poll)",
     NULL, MP_OPT_FILE},
    {O_BUNDLE_CA, 0, "bundle-ca", "CA.pem",
     "with --bundle-url: the CA https bundle servers are verified against (default the system's)",
     NULL, MP_OPT_FILE},
    {O_BUNDLE_MAX, 0, "bundle-max-size", "BYTES",
     "with --bundle-url: the largest archive downloaded (default 64M)", NULL, 0},
    {O_LOG_URL, 0, "decision-log-url", "URL",
     "upload every decision log record, in gzip JSON batches, to URL", NULL, 0},
    {O_LOG_TOKEN, 0, "decision-log-token", "FILE",
     "with --decision-log-url: as --bundle-token, for the log's receiver", NULL, MP_OPT_FILE},
    {O_LOG_CA, 0, "decision-log-ca", "CA.pem",
     "with --decision-log-url: as --bundle-ca, for the log's receiver", NULL, MP_OPT_FILE},
    {O_LOG_BUFFER, 0, "decision-log-buffer", "BYTES",
     "with --decision-log-url: records held for upload (default 64M)", NULL, 0},
    {O_LOG_FLUSH, 0, "decision-log-flush-ms", "MS",
     "with --decision-log-url: the longest a record waits for its batch (default 1000)", NULL, 0},
    {0},
};

int mp_cmd_serve(int argc, char **argv)
{
	const mp_verb *v = mp_cli_verb("serve");
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
	mp_cli_parser p = {0};
	char name[80];
	int c, rc;
	while ((c = mp_cli_next(v, &p, argc, argv)) != MP_CLI_DONE) {
		long long n = 0;
		if (c == MP_CLI_ERROR)
			return MP_EXIT_USAGE;
		for (size_t i = 0; i < sizeof(numeric) / sizeof(numeric[0]); i++)
			if (numeric[i].opt == c &&
			    parse_num(optarg, numeric[i].lo, numeric[i].hi, &n) < 0)
				return mp_cli_usage_error(
				    v, "%s takes a number from %lld to %lld, not '%s'",
				    mp_cli_option_name(v, c, name, sizeof(name)), numeric[i].lo,
				    numeric[i].hi, optarg);
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
			cfg.log_drop = choice(log_modes, optarg);
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
			cfg.deny_body_full = choice(deny_bodies, optarg);
			break;
		case O_ESCAPED_SLASHES:
			cfg.escaped_slashes = choice(escaped_slashes, optarg);
			break;
		case O_PATH_PARAMS:
			cfg.path_params = choice(path_params, optarg);
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
				return mp_cli_usage_error(
				    v, "%s takes an http:// or https:// URL",
				    mp_cli_option_name(v, c, name, sizeof(name)));
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
		}
	}
	if ((rc = mp_cli_check_arity(v, argc - optind)) != MP_EXIT_OK)
		return rc;
	if (mp_cli_check_needs(v, &p, needs, sizeof(needs) / sizeof(needs[0])) != MP_EXIT_OK)
		return MP_EXIT_USAGE;
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
