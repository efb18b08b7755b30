/* test_cmd.c: `meshpol test`: runs a bundle's policy tests (engine/ptest.c) and writes the
 * results as text, JUnit or JSON; with --watch, runs them again whenever the bundle or a model
 * its tests name changes (engine/filewatch.c). Exit 0 all passed, 1 some failed, 2 no tests to
 * run (none in the bundle, or none --run selects). Reference: docs/cli.md ("test"). */
#include "cli.h"
#include "diag.h"
#include "files.h"
#include "filewatch.h"
#include "ptest.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#define WATCH_QUIET_MS 200 /* a burst of saves settles before the tests run again */

static volatile sig_atomic_t stop_watching;

static void on_signal(int sig)
{
	(void)sig;
	stop_watching = 1;
}

typedef struct {
	const mp_verb *v;
	const char *dir, *format, *out_path;
	mp_ptest_opts o;
} test_run;

/* One run: the tests, their results in the format, the summary line. The summary ends stdout
 * for text (the fixed last line "N passed, M failed"); for junit and json it goes to stderr
 * when the document is on stdout, so the document stays whole. Returns the verb's exit code;
 * models (when not NULL) receives the models the tests named (a new reference). */
static int run_once(test_run *r, json_t **models)
{
	mp_diags d = {0};
	mp_ptest_result res;
	mp_out *o = NULL;
	char err[1024], q[96];
	int text = !strcmp(r->format, "text"), rc = MP_EXIT_USAGE;
	if (!(o = mp_out_open(r->out_path ? r->out_path : "-", 0666, 0, err, sizeof(err)))) {
		fprintf(stderr, "meshpol test: %s\n", err);
		return MP_EXIT_USAGE;
	}
	r->o.out = text ? mp_out_file(o) : NULL;
	if (mp_ptest_run(r->dir, &r->o, &res, &d) < 0) {
		mp_diags_print(&d, stderr);
		mp_diags_free(&d);
		mp_out_discard(o);
		return MP_EXIT_USAGE;
	}
	mp_diags_free(&d);
	if (models)
		*models = json_incref(res.models);
	/* No test ran: a gate would pass while testing nothing (a --run typo, empty files). */
	if (!res.passed && !res.failed && r->o.run) {
		rc = mp_cli_usage_error(r->v, "--run '%s' matches no test in %s",
		                        mp_diag_quote(r->o.run, strlen(r->o.run), q, sizeof(q)),
		                        r->dir);
		goto out;
	}
	if (!res.passed && !res.failed) {
		rc = mp_cli_usage_error(r->v, "%s: its test files declare no tests", r->dir);
		goto out;
	}
	FILE *f = mp_out_file(o);
	if (mp_ptest_write(&res, r->dir, r->format, f) < 0) {
		fprintf(stderr, "meshpol test: cannot write the %s results\n", r->format);
		rc = MP_EXIT_FAIL;
		goto out;
	}
	fprintf(text          ? f
	        : r->out_path ? stdout
	                      : stderr,
	        "%u passed, %u failed\n", res.passed, res.failed);
	int committed = mp_out_commit(o, err, sizeof(err));
	o = NULL; /* freed by the commit, whatever its result */
	if (committed < 0) {
		fprintf(stderr, "meshpol test: %s\n", err);
		rc = MP_EXIT_FAIL;
		goto out;
	}
	rc = res.failed ? MP_EXIT_FAIL : MP_EXIT_OK;
out:
	mp_out_discard(o);
	mp_ptest_result_free(&res);
	return rc;
}

/* Runs the tests, then again after each burst of changes to the bundle or the models its tests
 * name, until SIGINT or SIGTERM. The exit code is the last run's. */
static int watch(test_run *r)
{
	char err[512];
	json_t *models = NULL;
	mp_filewatch *w = mp_filewatch_new(WATCH_QUIET_MS, err, sizeof(err));
	struct sigaction sa = {.sa_handler = on_signal};
	int rc;
	if (!w) {
		fprintf(stderr, "meshpol test: --watch: %s\n", err);
		return MP_EXIT_USAGE;
	}
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	rc = run_once(r, &models);
	if (mp_filewatch_add(w, r->dir, MP_FILEWATCH_BUNDLE, err, sizeof(err)) < 0) {
		fprintf(stderr, "meshpol test: --watch: %s\n", err);
		rc = MP_EXIT_USAGE;
		goto out;
	}
	size_t i;
	json_t *m;
	json_array_foreach(models, i, m)
	{
		if (mp_filewatch_add(w, json_string_value(m), MP_FILEWATCH_MODEL, err,
		                     sizeof(err)) < 0)
			fprintf(stderr, "meshpol test: --watch: %s\n", err);
	}
	fprintf(stderr, "meshpol test: watching %s (%u director%s); Ctrl-C stops\n", r->dir,
	        mp_filewatch_ndirs(w), mp_filewatch_ndirs(w) == 1 ? "y" : "ies");
	while (!stop_watching) {
		int wait = mp_filewatch_wait_ms(w);
		struct pollfd p = {.fd = mp_filewatch_fd(w), .events = POLLIN};
		if (wait == 0) { /* a burst is due: run again */
			const char *const *paths;
			int tags;
			uint32_t n = mp_filewatch_changes(w, &paths, &tags), k = n;
			struct stat st;
			/* name a path that is still there: an editor's scratch file is gone by now
			 */
			while (k > 0 && stat(paths[k - 1], &st) < 0)
				k--;
			fprintf(stderr, "meshpol test: %s changed%s; running the tests again\n",
			        k   ? paths[k - 1]
			        : n ? paths[0]
			            : r->dir,
			        n > 1 ? " (and more)" : "");
			if (mp_filewatch_clear(w, err, sizeof(err)) < 0)
				fprintf(stderr, "meshpol test: --watch: %s\n", err);
			rc = run_once(r, NULL);
			fflush(stdout);
			continue;
		}
		if (poll(&p, 1, wait) < 0 && errno != EINTR) {
			fprintf(stderr, "meshpol test: --watch: %s\n", strerror(errno));
			break;
		}
		if (p.revents & POLLIN)
			mp_filewatch_read(w);
	}
out:
	json_decref(models);
	mp_filewatch_free(w);
	return rc;
}

static const char *const test_formats[] = {"text", "junit", "json", NULL};

enum { O_RUN = 256, O_WATCH };
const mp_option mp_test_options[] = {
    {'v', 'v', "verbose", NULL, "print every test, not only the failures", NULL, 0},
    {O_RUN, 0, "run", "PATTERN", "run only the tests whose name contains PATTERN", NULL, 0},
    {'f', 'f', "format", "FORMAT", "the results' format (default text)", test_formats, 0},
    {'o', 'o', "output", "FILE", "write the results to FILE, replaced whole (default stdout)", NULL,
     MP_OPT_FILE},
    {O_WATCH, 0, "watch", NULL,
     "run the tests again whenever the bundle or a model its tests name changes", NULL, 0},
    {0},
};

int mp_cmd_test(int argc, char **argv)
{
	test_run r = {.v = mp_cli_verb("test"), .format = "text"};
	mp_cli_parser p = {0};
	int c, rc, watching = 0;
	while ((c = mp_cli_next(r.v, &p, argc, argv)) != MP_CLI_DONE) {
		if (c == MP_CLI_ERROR)
			return MP_EXIT_USAGE;
		if (c == 'v')
			r.o.verbose = 1;
		else if (c == O_RUN)
			r.o.run = optarg;
		else if (c == 'f')
			r.format = optarg; /* the table checked the word */
		else if (c == 'o')
			r.out_path = optarg;
		else if (c == O_WATCH)
			watching = 1;
	}
	if ((rc = mp_cli_check_arity(r.v, argc - optind)) != MP_EXIT_OK)
		return rc;
	r.dir = argv[optind];
	return watching ? watch(&r) : run_once(&r, NULL);
}
