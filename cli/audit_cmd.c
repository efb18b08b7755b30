/* audit_cmd.c: `meshpol audit`: the whole-model audit (engine/audit.c), written in one of the
 * report formats (engine/report.c) and, with --trail, appended to a compliance trail
 * (engine/trail.c). Reference: docs/cli.md. */
#include "audit.h"
#include "cli.h"
#include "diag.h"
#include "files.h"
#include "report.h"
#include "trail.h"
#include "version.h"

#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Progress on a terminal only: a line on stderr, redrawn in place. */
static void show_progress(void *ctx, const char *step, uint64_t done, uint64_t total)
{
	(void)ctx;
	fprintf(stderr, "\r\033[Kaudit: %llu/%llu %.40s", (unsigned long long)done,
	        (unsigned long long)(total > done ? total : done), step);
	fflush(stderr);
}

/* Appends the run to the trail: start, one record per finding, end, seal. Then sets the audit's
 * "trail" to where the run is (docs/audit-format.md), for the report written after it. */
static int write_trail(const char *path, const char *key, json_t *audit, char *err, size_t errlen)
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
	json_t *f;
	json_array_foreach(json_object_get(audit, "findings"), i,
	                   f) if (mp_trail_append_nosync(t, "finding", f, err, errlen) <
	                          0) goto out;
	json_array_foreach(json_object_get(audit, "errors"), i,
	                   f) if (mp_trail_append_nosync(t, "error", f, err, errlen) < 0) goto out;
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

static const char *const enforcement_levels[] = {"advisory", "soft", "hard", NULL};

enum { O_FAIL_ON = 256, O_TRAIL, O_SIGN_KEY, O_POLICY };
const mp_option mp_audit_options[] = {
    MP_CLI_MODEL_OPTION,
    {'p', 'p', "policies", "POLICY_DIR",
     "the policy bundle; without it only the import analyzers' findings are reported", NULL,
     MP_OPT_DIR},
    {'f', 'f', "format", "FORMAT", "the report's format (default text)", mp_report_formats, 0},
    {'o', 'o', "output", "FILE", "write the report to FILE, replaced whole (default stdout)", NULL,
     MP_OPT_FILE},
    {O_FAIL_ON, 0, "fail-on", "LEVEL",
     "exit 1 when a finding's enforcement is at or above LEVEL (default hard)", enforcement_levels,
     0},
    {O_TRAIL, 0, "trail", "FILE",
     "append the run to a tamper-evident compliance trail, sealed (docs/trail-format.md)", NULL,
     MP_OPT_FILE},
    {O_SIGN_KEY, 0, "sign-key", "KEY.pem", "sign the trail's seal with this Ed25519 key", NULL,
     MP_OPT_FILE},
    {O_POLICY, 0, "policy", "NAME", "audit this policy of the bundle only", NULL, 0},
    MP_CLI_QUIET_OPTION,
    {0},
};

int mp_cmd_audit(int argc, char **argv)
{
	const mp_verb *v = mp_cli_verb("audit");
	const char *model = NULL, *policies = NULL, *format = "text", *out_path = NULL;
	const char *trail = NULL, *key = NULL;
	mp_audit_opts ao = {.fail_on = MP_ENF_HARD};
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
		case O_FAIL_ON: /* the table checked the word */
			ao.fail_on = !strcmp(optarg, "advisory") ? MP_ENF_ADVISORY
			             : !strcmp(optarg, "soft")   ? MP_ENF_SOFT
			                                         : MP_ENF_HARD;
			break;
		}
	}
	if ((rc = mp_cli_check_arity(v, argc - optind)) != MP_EXIT_OK)
		return rc;
	if (!model)
		return mp_cli_usage_error(v, "-m MODEL is required");
	if (key && !trail)
		return mp_cli_usage_error(v, "--sign-key needs --trail");

	/* Every failure below is exit 2: 1 means findings and 3 a failed check, so a report or a
	 * trail that cannot be written is neither. The output is opened first, so that a bad -o
	 * is said before the audit runs; it replaces nothing until the commit. */
	rc = MP_EXIT_USAGE;
	mp_diags d = {.quiet = quiet};
	mp_evaluator *ev = NULL;
	mp_engine *e = NULL;
	json_t *audit = NULL;
	mp_out *o = NULL;
	char err[1024];
	if (!(o = mp_out_open(out_path ? out_path : "-", 0666, 0, err, sizeof(err)))) {
		fprintf(stderr, "meshpol audit: %s\n", err);
		goto out;
	}
	FILE *out = mp_out_file(o);
	/* without -p: no bundle, so only the checks that need none (the import analyzers') run */
	e = mp_engine_open(model, policies, &d);
	mp_diags_print(&d, stderr);
	if (e && ao.only_policy && check_only_policy(v, e->bundle, policies, ao.only_policy))
		goto out;
	/* checks walk the whole model: give them far more room than a per-request `when` */
	mp_evaluator_opts eo = {.when_budget = 4000000000ull};
	if (!e || !(ev = mp_evaluator_new(e, &eo, &d)))
		goto out;
	ao.sources = (const char *const *)&model;
	ao.nsources = 1;
	if (isatty(STDERR_FILENO)) {
		ao.progress = show_progress;
	}
	audit = mp_audit_run(ev, &ao);
	if (ao.progress)
		fprintf(stderr, "\r\033[K");
	if (!audit) {
		fprintf(stderr, "meshpol audit: out of memory\n");
		goto out;
	}
	/* The trail before the report, so that the report can name the run and its seal; a trail
	 * that cannot be written leaves no report behind that would claim one. */
	if (trail && write_trail(trail, key, audit, err, sizeof(err)) < 0) {
		fprintf(stderr, "meshpol audit: %s\n", err);
		goto out;
	}
	char note[640];
	mp_report_opts ro = {
	    .color = out == stdout && isatty(STDOUT_FILENO) && !getenv("NO_COLOR") &&
	             !strcmp(format, "text"),
	    .engine = e,
	    .note = note,
	    .notelen = sizeof(note),
	};
	if (mp_report_write_opts(audit, format, out, &ro, err, sizeof(err)) < 0) {
		fprintf(stderr, "meshpol audit: %s\n", err);
		goto out;
	}
	if (*note)
		fprintf(stderr, "meshpol audit: warning: %s\n", note);
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
	json_decref(audit);
	mp_evaluator_free(ev);
	mp_engine_release(e);
	mp_diags_free(&d);
	return rc;
}
