/* audit_cmd.c: `meshpol audit`: the whole-model audit (engine/audit.c), written in one of the
 * report formats (engine/report.c) and, with --trail, appended to a compliance trail
 * (engine/trail.c). Reference: docs/cli.md. */
#include "audit.h"
#include "cli.h"
#include "diag.h"
#include "files.h"
#include "pathbase.h"
#include "report.h"
#include "trail.h"
#include "version.h"

#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Progress on a terminal only: a line on stderr, redrawn in place. */
static void show_progress(void *ctx, const char *step, uint64_t done, uint64_t total)
{
	(void)ctx;
	fprintf(stderr, "\r\033[Kaudit: %llu/%llu %.40s", (unsigned long long)done,
	        (unsigned long long)(total > done ? total : done), step);
	fflush(stderr);
}

/* SIGINT and SIGTERM: the handler only records the signal. The audit reads it as its stop
 * request (mp_audit_opts.interrupt: the rows between steps, the Lua checks at their hook, on
 * both threads); the command then writes no report, removes its temporary output and dies of the
 * same signal (docs/cli.md, "audit": "Interrupted"). A trail being written is finished and
 * sealed first: its run is appended whole or not at all. */
static atomic_int stop_signal;

static void on_stop_signal(int sig)
{
	atomic_store_explicit(&stop_signal, sig, memory_order_relaxed);
}

static const int stop_signals[] = {SIGINT, SIGTERM};
#define NSTOP (sizeof(stop_signals) / sizeof(stop_signals[0]))

/* Catches the stop signals, keeping any the caller ignores (a background job's SIGINT). */
static void catch_stops(struct sigaction old[NSTOP])
{
	struct sigaction sa = {.sa_handler = on_stop_signal, .sa_flags = SA_RESTART};
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < NSTOP; i++) {
		sigaction(stop_signals[i], NULL, &old[i]);
		if (old[i].sa_handler != SIG_IGN)
			sigaction(stop_signals[i], &sa, NULL);
	}
}

/* Puts the caller's handlers back; when a stop signal came, says what was left and dies of it. */
static void release_stops(const struct sigaction old[NSTOP], int sealed)
{
	for (size_t i = 0; i < NSTOP; i++)
		sigaction(stop_signals[i], &old[i], NULL);
	int sig = atomic_load(&stop_signal);
	if (!sig)
		return;
	fprintf(stderr, "meshpol audit: interrupted (%s): no report written%s\n",
	        sig == SIGINT ? "SIGINT" : "SIGTERM",
	        sealed ? "; the trail's run was finished and sealed" : "");
	fflush(stderr);
	signal(sig, SIG_DFL);
	raise(sig);
}

typedef struct {
	mp_trail *t;
	char *err;
	size_t errlen;
} trail_ctx;

static int trail_finding(void *vctx, json_t *f)
{
	trail_ctx *c = vctx;
	return mp_trail_append_nosync(c->t, "finding", f, c->err, c->errlen) < 0 ? -1 : 0;
}

/* Appends the run to the trail: start, one record per finding, end, seal. Then sets the audit's
 * "trail" to where the run is (docs/audit-format.md), for the report written after it. audit:
 * the streamed audit's summary; the findings are read back from res's spool. */
static int write_trail(const char *path, const char *key, json_t *audit, mp_audit_result *res,
                       char *err, size_t errlen)
{
	int rc = -1;
	mp_trail *t = mp_trail_open(path, key, err, errlen);
	if (!t)
		return -1;
	uint64_t first = mp_trail_seq(t) + 1;
	char host[256] = "?";
	gethostname(host, sizeof(host) - 1);
	struct passwd *pw = getpwuid(getuid());
	json_t *versions = json_array();
	size_t i;
	json_t *p;
	json_array_foreach(json_object_get(audit, "policies"), i, p) json_array_append_new(
	    versions, json_pack("{s:O, s:O}", "name", json_object_get(p, "name"), "version",
	                        json_object_get(p, "version")));
	json_t *start = json_pack(
	    "{s:O, s:O, s:O, s:o, s:s, s:s, s:O}", "tool", json_object_get(audit, "tool"), "bundle",
	    json_object_get(audit, "bundle"), "model", json_object_get(audit, "model"), "policies",
	    versions, "user", pw ? pw->pw_name : "?", "host", host, "audit_time",
	    json_object_get(audit, "time"));
	if (!start || mp_trail_append(t, "start", start, err, errlen) < 0)
		goto out;
	trail_ctx tc = {t, err, errlen};
	json_t *f;
	if (mp_audit_result_findings(res, trail_finding, &tc) != 0) {
		if (!*err)
			snprintf(err, errlen, "cannot read the audit's findings back");
		goto out;
	}
	json_array_foreach(json_object_get(audit, "errors"), i,
	                   f) if (mp_trail_append_nosync(t, "error", f, err, errlen) < 0) goto out;
	/* what each waiver accepted, by whom and until when (docs/trail-format.md) */
	json_array_foreach(json_object_get(audit, "waivers"), i,
	                   f) if (mp_trail_append_nosync(t, "waiver", f, err, errlen) < 0) goto out;
	json_t *end = json_pack("{s:O, s:O, s:O}", "counts", json_object_get(audit, "counts"),
	                        "result", json_object_get(audit, "result"), "fail_on",
	                        json_object_get(audit, "fail_on"));
	int bad = !end || mp_trail_append(t, "end", end, err, errlen) < 0;
	json_decref(end);
	if (bad || mp_trail_seal(t, err, errlen) < 0)
		goto out;
	char head[65], key_id[65] = "";
	mp_trail_head(t, head);
	if (key && mp_trail_key_id(key, key_id, err, errlen) < 0)
		goto out;
	json_object_set_new(audit, "trail",
	                    json_pack("{s:s, s:I, s:I, s:s, s:b, s:s?}", "file", path, "first_seq",
	                              (json_int_t)first, "seal_seq", (json_int_t)mp_trail_seq(t),
	                              "head", head, "signed", key != NULL, "key_id",
	                              key ? key_id : NULL));
	rc = 0;
out:
	json_decref(start);
	mp_trail_close(t);
	return rc;
}

/* --fail-on's words, in order: enforcement levels, then severities (docs/cli.md); and what each
 * means, at the same index. */
static const char *const fail_on_words[] = {"advisory", "soft",   "hard", "critical",
                                            "high",     "medium", "low",  NULL};
static const struct {
	uint32_t by, level;
} fail_on_levels[] = {
    {MP_FAIL_ON_ENFORCEMENT, MP_ENF_ADVISORY}, {MP_FAIL_ON_ENFORCEMENT, MP_ENF_SOFT},
    {MP_FAIL_ON_ENFORCEMENT, MP_ENF_HARD},     {MP_FAIL_ON_SEVERITY, MP_SEV_CRITICAL},
    {MP_FAIL_ON_SEVERITY, MP_SEV_HIGH},        {MP_FAIL_ON_SEVERITY, MP_SEV_MEDIUM},
    {MP_FAIL_ON_SEVERITY, MP_SEV_LOW},
};
_Static_assert(sizeof(fail_on_levels) / sizeof(fail_on_levels[0]) ==
                   sizeof(fail_on_words) / sizeof(fail_on_words[0]) - 1,
               "a meaning for every --fail-on word");

/* Says what the waivers did that needs a person: an expired one fails the gate (an error), one
 * that matches nothing is likely stale (a warning). */
static void report_waivers(json_t *audit)
{
	size_t i;
	json_t *w;
	json_array_foreach(json_object_get(audit, "waivers"), i, w)
	{
		json_t *loc = json_object_get(w, "location");
		const char *status = json_string_value(json_object_get(w, "status"));
		const char *what = json_object_get(w, "fingerprint") ? "fingerprint" : "rule";
		const char *name = json_string_value(json_object_get(w, what));
		if (!status || !strcmp(status, "active"))
			continue;
		fprintf(stderr, "meshpol audit: %s:%lld:%lld: ",
		        json_string_value(json_object_get(loc, "file")),
		        (long long)json_integer_value(json_object_get(loc, "line")),
		        (long long)json_integer_value(json_object_get(loc, "column")));
		if (!strcmp(status, "expired"))
			fprintf(stderr,
			        "waiver for %s %s expired on %s (owner %s): the audit fails until "
			        "it is "
			        "renewed or removed\n",
			        what, name, json_string_value(json_object_get(w, "expires")),
			        json_string_value(json_object_get(w, "owner")));
		else
			fprintf(stderr,
			        "warning: waiver for %s %s matches no finding (remove it?)\n", what,
			        name);
	}
}

/* --policy NAME must name a policy the audit would run: an enabled policy of the bundle (b,
 * NULL without -p), or the import's findings (MP_IMPORT_POLICY). Anything else would audit
 * nothing and pass, so it is a usage error naming the nearest name. */
static int check_only_policy(const mp_verb *v, const mp_bundle *b, const char *dir,
                             const char *name)
{
	uint32_t np = b ? b->npolicies : 0;
	const char **names = calloc((size_t)np + 2, sizeof(*names));
	char q[96], hint[400];
	uint32_t n = 0;
	int rc = MP_EXIT_USAGE;
	if (!names) {
		fprintf(stderr, "meshpol audit: out of memory\n");
		return MP_EXIT_USAGE;
	}
	for (uint32_t i = 0; i < np; i++) {
		if (!strcmp(b->policies[i].name, name)) {
			rc = b->policies[i].enabled
			         ? MP_EXIT_OK
			         : mp_cli_usage_error(v,
			                              "--policy '%s': the manifest of %s does not "
			                              "enable it, so the audit would not run it",
			                              name, dir);
			goto out;
		}
		if (b->policies[i].enabled)
			names[n++] = b->policies[i].name;
	}
	if (!strcmp(name, MP_IMPORT_POLICY)) {
		rc = MP_EXIT_OK;
		goto out;
	}
	names[n++] = MP_IMPORT_POLICY;
	rc = mp_cli_usage_error(v, "--policy '%s': no such policy %s%s (%s)",
	                        mp_diag_quote(name, strlen(name), q, sizeof(q)),
	                        b ? "in " : "without -p POLICY_DIR", b ? dir : "",
	                        mp_diag_hint(name, names, hint, sizeof(hint)));
out:
	free(names);
	return rc;
}

enum { O_FAIL_ON = 256, O_TRAIL, O_SIGN_KEY, O_POLICY, O_BASE, O_DOCS_URL, O_MESH_CONFIG, O_JOBS };
const mp_option mp_audit_options[] = {
    MP_CLI_MODEL_OPTION,
    {'p', 'p', "policies", "POLICY_DIR",
     "the policy bundle; without it only the import analyzers' findings are reported", NULL,
     MP_OPT_DIR},
    {'f', 'f', "format", "FORMAT", "the report's format (default text)", mp_report_formats, 0},
    {'o', 'o', "output", "FILE", "write the report to FILE, replaced whole (default stdout)", NULL,
     MP_OPT_FILE},
    {O_FAIL_ON, 0, "fail-on", "LEVEL",
     "exit 1 when a finding's enforcement (advisory, soft, hard) or severity (critical, high, "
     "medium, low) is at or above LEVEL (default hard)",
     fail_on_words, 0},
    {O_TRAIL, 0, "trail", "FILE",
     "append the run to a tamper-evident compliance trail, sealed (docs/trail-format.md)", NULL,
     MP_OPT_FILE},
    {O_SIGN_KEY, 0, "sign-key", "KEY.pem", "sign the trail's seal with this Ed25519 key", NULL,
     MP_OPT_FILE},
    {O_POLICY, 0, "policy", "NAME", "audit this policy of the bundle only", NULL, 0},
    {O_BASE, 0, "base", "DIR",
     "write locations relative to DIR (default: the Git work tree holding the model, else the "
     "current directory)",
     NULL, MP_OPT_DIR},
    {O_DOCS_URL, 0, "docs-url", "URL",
     "link rule help to this absolute http(s) URL of meshpol's docs/ (SARIF helpUri)", NULL, 0},
    {O_MESH_CONFIG, 0, "istio-mesh-config", "FILE",
     "Istio's MeshConfig for the analysis, as compile takes it", NULL, MP_OPT_FILE},
    {O_JOBS, 0, "jobs", "N",
     "threads: 1 loads and runs every check on one; 2 loads the model beside the bundle and runs "
     "the bundle's Lua checks beside the others, the report unchanged (default: 2 on a machine "
     "with two cores or more)",
     NULL, 0},
    MP_CLI_QUIET_OPTION,
    {0},
};

int mp_cmd_audit(int argc, char **argv)
{
	const mp_verb *v = mp_cli_verb("audit");
	const char *model = NULL, *policies = NULL, *format = "text", *out_path = NULL;
	const char *trail = NULL, *key = NULL, *base = NULL;
	char base_dir[PATH_MAX];
	mp_audit_opts ao = {.fail_on = MP_ENF_HARD};
	mp_waivers *waivers = NULL;
	/* an analysis: a malformed document is a finding, the rest is analysed (docs/import.md);
	 * --istio-mesh-config is istioctl analyze's --meshConfigFile */
	mp_provider_setting mesh_config = {"istio", "mesh-config", NULL};
	mp_compile_opts copts = {.analyze = 1};
	mp_cli_parser p = {0};
	int c, rc, quiet = 0;
	while ((c = mp_cli_next(v, &p, argc, argv)) != MP_CLI_DONE) {
		switch (c) {
		case MP_CLI_ERROR:
			return MP_EXIT_USAGE;
		case 'm':
			model = optarg;
			break;
		case 'p':
			policies = optarg;
			break;
		case 'f':
			format = optarg;
			break;
		case 'o':
			out_path = optarg;
			break;
		case O_TRAIL:
			trail = optarg;
			break;
		case O_SIGN_KEY:
			key = optarg;
			break;
		case O_POLICY:
			ao.only_policy = optarg;
			break;
		case 'q':
			quiet = 1;
			break;
		case O_MESH_CONFIG:
			mesh_config.value = optarg;
			copts.provider_opts = &mesh_config;
			copts.nprovider_opts = 1;
			break;
		case O_FAIL_ON: /* the table checked the word */
			for (size_t k = 0; fail_on_words[k]; k++)
				if (!strcmp(optarg, fail_on_words[k])) {
					ao.fail_on_by = fail_on_levels[k].by;
					ao.fail_on = fail_on_levels[k].level;
				}
			break;
		case O_BASE:
			base = optarg;
			break;
		case O_JOBS:
			if (strcmp(optarg, "1") && strcmp(optarg, "2"))
				return mp_cli_usage_error(v, "--jobs takes 1 or 2, not '%s'",
				                          optarg);
			ao.jobs = (uint32_t)(*optarg - '0');
			break;
		case O_DOCS_URL:
			if (strncmp(optarg, "https://", 8) && strncmp(optarg, "http://", 7))
				return mp_cli_usage_error(
				    v,
				    "--docs-url takes an absolute http(s) URL of docs/, not '%s'",
				    optarg);
			ao.docs_url = optarg;
			break;
		}
	}
	if ((rc = mp_cli_check_arity(v, argc - optind)) != MP_EXIT_OK)
		return rc;
	if (!model)
		return mp_cli_usage_error(v, "-m MODEL is required");
	if (key && !trail)
		return mp_cli_usage_error(v, "--sign-key needs --trail");
	/* locations relative to --base, else to the Git work tree holding the sources, else to the
	 * current directory (docs/audit-format.md, "Locations and --base") */
	if (base) {
		struct stat st;
		if (stat(base, &st) < 0 || !S_ISDIR(st.st_mode) || !realpath(base, base_dir))
			return mp_cli_usage_error(v, "--base %s: not a directory", base);
	} else if (mp_path_work_tree(model, base_dir, sizeof(base_dir)) < 0 &&
	           mp_path_absolute(".", base_dir, sizeof(base_dir)) < 0) {
		return mp_cli_usage_error(v, "cannot tell the current directory");
	}
	ao.base = base_dir;

	/* Every failure below is exit 2: 1 means findings and 3 a failed check, so a report or a
	 * trail that cannot be written is neither. The output is opened first, so that a bad -o
	 * is said before the audit runs; it replaces nothing until the commit. */
	rc = MP_EXIT_USAGE;
	mp_diags d = {.quiet = quiet};
	mp_evaluator *ev = NULL;
	mp_engine *e = NULL;
	json_t *audit = NULL;
	mp_audit_result *res = NULL; /* the streamed audit, whose spool the trail and report read */
	mp_out *o = NULL;
	char err[1024];
	struct sigaction old_actions[NSTOP];
	int sealed = 0;
	catch_stops(old_actions); /* before the output's temporary file exists */
	ao.interrupt = &stop_signal;
	if (!(o = mp_out_open(out_path ? out_path : "-", 0666, 0, err, sizeof(err)))) {
		fprintf(stderr, "meshpol audit: %s\n", err);
		goto out;
	}
	FILE *out = mp_out_file(o);
	/* without -p: no bundle, so only the checks that need none (the import analyzers') run */
	e = mp_engine_open_opts(model, policies, &copts, ao.jobs, &d);
	mp_diags_print(&d, stderr);
	if (atomic_load(&stop_signal))
		goto out;
	if (e && ao.only_policy && check_only_policy(v, e->bundle, policies, ao.only_policy))
		goto out;
	/* a malformed waivers.yaml is an input error: auditing without it would fail findings
	 * someone accepted, and auditing past it could accept what nobody did */
	if (e && e->bundle) {
		mp_diags wd = {0};
		int bad = mp_waivers_load(e->bundle, &waivers, &wd) < 0;
		mp_diags_print(&wd, stderr);
		mp_diags_free(&wd);
		if (bad)
			goto out;
	}
	ao.waivers = waivers;
	/* checks walk the whole model: give them far more room than a per-request `when` */
	mp_evaluator_opts eo = {.when_budget = 4000000000ull};
	if (!e || !(ev = mp_evaluator_new(e, &eo, &d)))
		goto out;
	ao.sources = (const char *const *)&model;
	ao.nsources = 1;
	if (isatty(STDERR_FILENO)) {
		ao.progress = show_progress;
	}
	/* Every format streams: the findings go to a spool as they are found, never held (json
	 * straight into the report by mp_audit_stream when there is no trail to name), and the
	 * trail and the report read them back from it (report.h, mp_report_write_result). */
	int json = !strcmp(format, "json"), direct = json && !trail;
	int wrote = mp_audit_stream(ev, &ao, direct ? out : NULL, &res);
	if (ao.progress)
		fprintf(stderr, "\r\033[K");
	if (wrote == MP_AUDIT_INTERRUPTED)
		goto out;
	if (wrote < 0 || (direct && (fflush(out) != 0 || ferror(out)))) {
		fprintf(stderr, "meshpol audit: %s\n",
		        wrote < 0 ? "out of memory, or no temporary file for the findings (in "
		                    "$TMPDIR, else /tmp)"
		                  : "cannot write the json report");
		goto out;
	}
	audit = json_incref(mp_audit_result_summary(res));
	report_waivers(audit);
	/* The trail before the report, so that the report can name the run and its seal; a trail
	 * that cannot be written leaves no report behind that would claim one. */
	err[0] = '\0';
	if (atomic_load(&stop_signal)) /* before the trail: it gets nothing */
		goto out;
	if (trail && write_trail(trail, key, audit, res, err, sizeof(err)) < 0) {
		fprintf(stderr, "meshpol audit: %s\n", err);
		goto out;
	}
	sealed = trail != NULL;
	if (atomic_load(&stop_signal)) /* the run is sealed; the report is not written */
		goto out;
	char note[640] = "";
	mp_report_opts ro = {
	    .color = out == stdout && isatty(STDOUT_FILENO) && !getenv("NO_COLOR") &&
	             !strcmp(format, "text"),
	    .engine = e,
	    .note = note,
	    .notelen = sizeof(note),
	};
	if (!direct && mp_report_write_result_opts(res, format, out, &ro, err, sizeof(err)) < 0) {
		fprintf(stderr, "meshpol audit: %s\n", err);
		goto out;
	}
	if (*note)
		fprintf(stderr, "meshpol audit: warning: %s\n", note);
	if (atomic_load(&stop_signal)) /* written but not committed: the temporary goes */
		goto out;
	int committed = mp_out_commit(o, err, sizeof(err));
	o = NULL; /* freed by the commit, whatever its result */
	if (committed < 0) {
		fprintf(stderr, "meshpol audit: %s\n", err);
		goto out;
	}
	if (json_array_size(json_object_get(audit, "errors")))
		rc = MP_EXIT_RUNTIME;
	else if (!strcmp(json_string_value(json_object_get(audit, "result")), "fail"))
		rc = MP_EXIT_FAIL;
	else
		rc = MP_EXIT_OK;
out:
	mp_out_discard(o);
	mp_waivers_free(waivers);
	json_decref(audit);
	mp_audit_result_free(res);
	mp_evaluator_free(ev);
	mp_engine_release(e);
	mp_diags_free(&d);
	if (rc == MP_EXIT_USAGE) /* not after a commit: a finished audit keeps its exit code */
		release_stops(old_actions, sealed);
	else
		for (size_t i = 0; i < NSTOP; i++)
			sigaction(stop_signals[i], &old_actions[i], NULL);
	return rc;
}
