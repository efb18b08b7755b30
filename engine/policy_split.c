/* policy_split.c: a bundle directory's policy files loaded on two threads: while the loader runs
 * the first part of the files, a second thread runs the rest in its own sandbox and records
 * their declarations as `meshpol bundle build` does (pol_record_files); the loader then injects
 * those as it injects an archive's, and runs any file that was not stored, in file order, so
 * that the bundle is the one a single thread loads. Design: docs/architecture.md ("Loading a
 * directory on two threads"). Internal prefix pol_split_. */
#include "alloc.h"
#include "keys.h"
#include "policy_int.h"
#include "sandbox.h"

#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Policy text below which one thread loads (the second's sandbox, DSL and start take about
 * 2 ms: bench/README.md, "parallel directory load", says how this was judged). */
#define SPLIT_MIN_BYTES (256u << 10)
/* The share of the text the loader runs itself: it also injects the rest, and the thread also
 * records what it ran. */
#define SPLIT_FIRST_SHARE 0.62
/* The recording is used only when every file took at most this much of its budget on the
 * second thread: what a file costs differs between two states only by the charge for memory
 * (sandbox.h, mp_sandbox_memory_units_used), so a file far under the budget there is under it
 * in one thread's state too; with one near it, the loader runs every file, as one thread. */
#define SPLIT_UNITS_MAX (MP_BUNDLE_LOAD_BUDGET / 8)

static size_t test_mem_limit; /* pol_split_test_mem_limit's; set before any thread starts */

struct pol_split {
	const char *stdlib_dir; /* borrowed, as the bundle's files part.files point into */
	uint32_t from;          /* the first file of the second part */
	mp_bundle part; /* the thread's view: b's files from `from` on (files: owned copies) */
	pthread_t thread;
	int running;                  /* joined yet? */
	int ok;                       /* the thread made a recording (rec) */
	pol_record rec;               /* rec.sha points into digests */
	unsigned char (*digests)[32]; /* [npolicy_files - from] */
	const unsigned char **sha;    /* [npolicy_files]: NULL before `from` */
	pol_decls decls;              /* rec.out opened by pol_split_join */
};

static void *record_main(void *arg)
{
	pol_split *s = arg;
	mp_diags d = {0}; /* a file's errors are the loader's to report, when it runs it */
	uint32_t n = s->part.npolicy_files;
	for (uint32_t i = 0; i < n; i++)
		mp_key_sha256(s->part.files[i].text, s->part.files[i].len, s->digests[i]);
	s->ok = pol_record_files(&s->part, s->stdlib_dir, &s->rec, &d) == 0;
	mp_diags_free(&d);
	return NULL;
}

pol_split *pol_split_start(const mp_bundle *b, const mp_bundle_source *src, const char *stdlib_dir)
{
	uint32_t n = b->npolicy_files, jobs = mp_load_jobs(src->jobs);
	uint64_t total = 0, first = 0;
	if (n < 2 || jobs == 1 || b->nskips)
		return NULL;
	for (uint32_t i = 0; i < n; i++)
		total += b->files[i].len;
	if (jobs == 0 && (total < SPLIT_MIN_BYTES || sysconf(_SC_NPROCESSORS_ONLN) < 2))
		return NULL;
	uint32_t from = 1;
	for (first = b->files[0].len; from < n - 1 && first < total * SPLIT_FIRST_SHARE; from++)
		first += b->files[from].len;
	pol_split *s = mp_calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->stdlib_dir = stdlib_dir;
	s->from = from;
	s->part.dir = b->dir;
	s->part.npolicy_files = s->part.nfiles = n - from;
	s->part.files = mp_malloc((n - from) * sizeof(*s->part.files));
	s->digests = mp_malloc((n - from) * sizeof(*s->digests));
	s->sha = mp_calloc(n, sizeof(*s->sha));
	if (!s->part.files || !s->digests || !s->sha)
		goto fail;
	memcpy(s->part.files, b->files + from, (n - from) * sizeof(*s->part.files));
	for (uint32_t i = from; i < n; i++)
		s->sha[i] = s->digests[i - from];
	s->rec.mem_limit = test_mem_limit;
	s->rec.sha = s->sha + from;
	(void)mp_stdlib_dir(); /* its first call fills a static: not on two threads at once */
	/* signals are the caller's threads' to take (the server's loop, the audit's Ctrl-C): the
	 * thread starts with them all blocked */
	sigset_t all, before;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &before);
	int started = pthread_create(&s->thread, NULL, record_main, s) == 0;
	pthread_sigmask(SIG_SETMASK, &before, NULL);
	if (!started)
		goto fail;
	s->running = 1;
	return s;
fail:
	pol_split_free(s);
	return NULL;
}

uint32_t pol_split_from(const pol_split *s)
{
	return s->from;
}

const unsigned char *const *pol_split_sha(const pol_split *s)
{
	return s->sha;
}

const pol_decls *pol_split_join(pol_split *s, mp_sandbox *sb)
{
	char err[256];
	unsigned char dsl[32];
	if (s->running)
		pthread_join(s->thread, NULL);
	s->running = 0;
	/* A file near its budget, or a memory error, on the thread: one state might have failed
	 * where the other did not. And one state would have held the first part's and the
	 * second part's declarations at once: when the two together may pass the cap, one thread
	 * may have run out of memory where two did not. Then every file runs here, as then. */
	if (!s->ok || s->rec.max_units > SPLIT_UNITS_MAX || s->rec.mem_refused)
		return NULL;
	if (mp_sandbox_mem_used(sb) + s->rec.mem_peak > mp_sandbox_mem_limit(sb))
		return NULL;
	pol_dsl_sha256(mp_sandbox_lua(sb), dsl);
	/* 1 when the thread ran the same DSL; else (the file changed meanwhile) 0 */
	return pol_decls_open(s->rec.out, s->rec.len, dsl, &s->decls, err, sizeof(err)) == 1
	           ? &s->decls
	           : NULL;
}

void pol_split_test_mem_limit(size_t bytes)
{
	test_mem_limit = bytes;
}

void pol_split_free(pol_split *s)
{
	if (!s)
		return;
	if (s->running)
		pthread_join(s->thread, NULL);
	pol_decls_close(&s->decls);
	mp_free(s->rec.out);
	mp_free(s->part.files);
	mp_free(s->digests);
	mp_free(s->sha);
	mp_free(s);
}
