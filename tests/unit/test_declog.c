/* test_declog.c: server/declog.c, the decision log's queue in no-drop mode: a request thread that
 * finds the file free writes its own record before the submit returns, and its waiter is told
 * once; a record another thread writes reaches its waiter once too; a write that fails tells the
 * waiter why, and the log refuses what follows without a write; drop mode only queues.
 * Reference: docs/server.md ("Decision log"). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "alloc.h"
#include "declog.h"
#include "logship.h"
#include "trail.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[128];

static void tmp_path(char *out, size_t len, const char *name)
{
	snprintf(out, len, "%s/%s", dir, name);
	unlink(out);
}

/* --- the upload, stubbed: mp_declog calls it only when given one (test_other_thread). Its room
 * check runs on the thread that holds the trail, in the middle of a batch: room_hook runs there
 * once. --- */
static void (*room_hook)(void);

int mp_logship_room(mp_logship *s, size_t len)
{
	(void)s;
	(void)len;
	void (*hook)(void) = room_hook;
	room_hook = NULL;
	if (hook)
		hook();
	return 1;
}

void mp_logship_sink(void *s, const char *line, size_t len)
{
	(void)s;
	(void)line;
	(void)len;
}

void mp_logship_on_room(mp_logship *s, void (*room_cb)(void *arg), void *arg)
{
	(void)s;
	(void)room_cb;
	(void)arg;
}

void mp_logship_why_full(mp_logship *s, char *out, size_t len)
{
	(void)s;
	snprintf(out, len, "the upload buffer is full");
}

/* --- waiters and records --- */

typedef struct {
	mp_declog_waiter wt;
	atomic_int calls, ok;
	char why[300];
} waiter;

static void on_done(mp_declog_waiter *wt, int ok, const char *why)
{
	waiter *w = (waiter *)wt;
	assert_true(ok || (why && !strncmp(why, "decision log unavailable: ", 26)));
	snprintf(w->why, sizeof(w->why), "%s", ok ? "" : why);
	atomic_store(&w->ok, ok);
	atomic_fetch_add(&w->calls, 1);
}

/* A record's content, mp_malloc'd as mp_declog_submit_text takes it: {"n":N} padded with pad
 * bytes of "x". */
static char *content(int n, size_t pad, size_t *len)
{
	char *p = mp_malloc(pad + 64);
	assert_non_null(p);
	int k = snprintf(p, 64, "{\"n\":%d,\"pad\":\"", n);
	memset(p + k, 'x', pad);
	memcpy(p + k + pad, "\"}", 3);
	*len = (size_t)k + pad + 2;
	return p;
}

static int submit(mp_declog *l, int n, waiter *w, char *why, size_t whylen)
{
	size_t len;
	char *text = content(n, 8, &len);
	if (w)
		*w = (waiter){.wt.done = on_done};
	return mp_declog_submit_text(l, "decision", text, len, w ? &w->wt : NULL, why, whylen);
}

static mp_declog *open_log(const char *path, int drop, mp_logship *ship)
{
	char err[300];
	json_t *start = json_object();
	mp_declog *l = mp_declog_open(path, NULL, 16, drop, start, ship, err, sizeof(err));
	json_decref(start);
	if (!l)
		fail_msg("%s", err);
	return l;
}

static long count_in(const char *path, const char *needle)
{
	FILE *f = fopen(path, "r");
	char line[4096];
	long n = 0;
	assert_non_null(f);
	while (fgets(line, sizeof(line), f))
		n += strstr(line, needle) != NULL;
	fclose(f);
	return n;
}

static void expect_intact(const char *path, uint64_t records)
{
	mp_trail_report rep;
	char err[300];
	int rc = mp_trail_verify(path, NULL, &rep, err, sizeof(err));
	if (rc != 0)
		fail_msg("%s: %s", path, rc < 0 ? err : rep.message);
	assert_int_equal(rep.records, records);
}

/* The thread that finds the trail free writes its own record: it is in the file when the call
 * returns, and the waiter was told, once, on this thread. */
static void test_own_write_answers_at_once(void **state)
{
	(void)state;
	char path[192], err[300];
	waiter w;
	mp_declog_stats st;
	tmp_path(path, sizeof(path), "own.jsonl");
	mp_declog *l = open_log(path, 0, NULL);
	assert_int_equal(submit(l, 1, &w, NULL, 0), MP_DECLOG_QUEUED);
	assert_int_equal(count_in(path, "\"n\":1,"), 1);
	assert_int_equal(atomic_load(&w.calls), 1);
	assert_int_equal(atomic_load(&w.ok), 1);
	assert_int_equal(submit(l, 2, &w, NULL, 0), MP_DECLOG_QUEUED);
	assert_int_equal(count_in(path, "\"n\":2,"), 1);
	assert_int_equal(atomic_load(&w.calls), 1);
	/* without a waiter: queued, and written here too */
	assert_int_equal(submit(l, 3, NULL, NULL, 0), MP_DECLOG_QUEUED);
	assert_int_equal(count_in(path, "\"n\":3,"), 1);
	mp_declog_get_stats(l, &st);
	assert_int_equal(st.queued, 3);
	assert_int_equal(st.written, 3);
	assert_int_equal(mp_declog_finish(l, NULL, err, sizeof(err)), 0);
	mp_declog_free(l);
	expect_intact(path, 6); /* start, three, end, seal */
	unlink(path);
}

/* Its own write fails: the waiter is told why; the log is unavailable and refuses the next record
 * without a write (the call says why, the waiter is not called). */
static void test_own_write_fails_closed(void **state)
{
	(void)state;
	char path[192], err[300], why[300];
	waiter w;
	struct stat sb;
	struct rlimit old, lim;
	mp_declog_stats st;
	tmp_path(path, sizeof(path), "fails.jsonl");
	mp_declog *l = open_log(path, 0, NULL);
	assert_int_equal(stat(path, &sb), 0);
	signal(SIGXFSZ, SIG_IGN);
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	lim = old;
	lim.rlim_cur = (rlim_t)sb.st_size + 20; /* room for a part of the record only */
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
	int rc = submit(l, 1, &w, why, sizeof(why));
	setrlimit(RLIMIT_FSIZE, &old);
	signal(SIGXFSZ, SIG_DFL);
	assert_int_equal(rc, MP_DECLOG_QUEUED);
	assert_int_equal(atomic_load(&w.calls), 1);
	assert_int_equal(atomic_load(&w.ok), 0);
	assert_non_null(strstr(w.why, "decision log unavailable: write: File too large"));
	assert_null(strstr(w.why, path)); /* replies do not learn server paths */
	mp_declog_get_stats(l, &st);
	assert_true(st.unavailable);
	assert_int_equal(st.failed, 1);
	why[0] = '\0';
	assert_int_equal(submit(l, 2, &w, why, sizeof(why)), MP_DECLOG_REFUSED);
	assert_non_null(strstr(why, "decision log unavailable: write: File too large"));
	assert_int_equal(atomic_load(&w.calls), 0); /* refused: never queued */
	assert_int_equal(mp_declog_finish(l, NULL, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "File too large"));
	mp_declog_free(l);
	assert_int_equal(count_in(path, "\"type\":\"decision\""), 0);
	expect_intact(path, 3); /* start, end, seal: the torn record was cut off */
	unlink(path);
}

/* A record queued while another thread holds the trail is written by that thread, and its waiter
 * is called, once, there; the holder's own waiter too. */
static mp_declog *other_log;
static waiter other_waiter;
static int other_rc;

static void *submit_other(void *arg)
{
	(void)arg;
	other_rc = submit(other_log, 2, &other_waiter, NULL, 0);
	return NULL;
}

static void while_holding(void)
{
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, submit_other, NULL), 0);
	pthread_join(t, NULL);
	/* it queued its record and left: this thread holds the trail */
	assert_int_equal(other_rc, MP_DECLOG_QUEUED);
	assert_int_equal(atomic_load(&other_waiter.calls), 0);
}

static void test_other_thread_calls_waiter(void **state)
{
	(void)state;
	char path[192], err[300];
	int ship = 0;
	waiter w;
	tmp_path(path, sizeof(path), "other.jsonl");
	other_log = open_log(path, 0, (mp_logship *)&ship);
	room_hook = while_holding;
	assert_int_equal(submit(other_log, 1, &w, NULL, 0), MP_DECLOG_QUEUED);
	assert_null(room_hook);
	assert_int_equal(atomic_load(&w.calls), 1);
	assert_int_equal(atomic_load(&other_waiter.calls), 1);
	assert_int_equal(atomic_load(&other_waiter.ok), 1);
	assert_int_equal(count_in(path, "\"n\":2,"), 1);
	assert_int_equal(mp_declog_finish(other_log, NULL, err, sizeof(err)), 0);
	mp_declog_free(other_log);
	expect_intact(path, 5);
	unlink(path);
}

/* Threads submitting at once: each record's waiter is told exactly once, and every record is in
 * the file, the chain intact. */
#define THREADS 4
#define EACH    300
static mp_declog *busy_log;
static waiter busy_waiters[THREADS][EACH];
static int busy_rc[THREADS][EACH];

static void *submit_many(void *arg)
{
	int t = (int)(intptr_t)arg;
	for (int i = 0; i < EACH; i++)
		busy_rc[t][i] = submit(busy_log, t * EACH + i, &busy_waiters[t][i], NULL, 0);
	return NULL;
}

/* THREADS threads run fn(t) on busy_log, a log at name; then every waiter was told once, ok,
 * every record is in the file and the chain intact. */
static void run_busy(void *(*fn)(void *), const char *name)
{
	char path[192], err[300];
	pthread_t th[THREADS];
	tmp_path(path, sizeof(path), name);
	busy_log = open_log(path, 0, NULL);
	for (int t = 0; t < THREADS; t++)
		assert_int_equal(pthread_create(&th[t], NULL, fn, (void *)(intptr_t)t), 0);
	for (int t = 0; t < THREADS; t++)
		pthread_join(th[t], NULL);
	assert_int_equal(mp_declog_finish(busy_log, NULL, err, sizeof(err)), 0);
	mp_declog_free(busy_log);
	for (int t = 0; t < THREADS; t++) {
		for (int i = 0; i < EACH; i++) {
			assert_int_equal(atomic_load(&busy_waiters[t][i].calls), 1);
			assert_int_equal(atomic_load(&busy_waiters[t][i].ok), 1);
		}
	}
	assert_int_equal(count_in(path, "\"type\":\"decision\""), THREADS * EACH);
	expect_intact(path, THREADS * EACH + 3);
	unlink(path);
}

static void test_threads_each_answered_once(void **state)
{
	(void)state;
	run_busy(submit_many, "threads.jsonl");
	for (int t = 0; t < THREADS; t++)
		for (int i = 0; i < EACH; i++)
			assert_int_equal(busy_rc[t][i], MP_DECLOG_QUEUED);
}

/* --- a worker's records written together (mp_declog_write_records) --- */

/* recs[i] for record n0 + i, each with its waiter */
static void make_records(mp_declog_record *recs, waiter *w, int n0, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		size_t len;
		char *text = content(n0 + (int)i, 8, &len);
		w[i] = (waiter){.wt.done = on_done};
		recs[i] = (mp_declog_record){"decision", text, len, 0, &w[i].wt};
	}
}

/* The records are all in the file when the call returns, each waiter told once on this thread;
 * one that could not be encoded (NULL) is told why and counted as an error. */
static void test_records_written_together(void **state)
{
	(void)state;
	char path[192], err[300];
	mp_declog_record recs[6];
	waiter w[6];
	mp_declog_stats st;
	tmp_path(path, sizeof(path), "records.jsonl");
	mp_declog *l = open_log(path, 0, NULL);
	make_records(recs, w, 10, 6);
	mp_free(recs[3].text);
	recs[3].text = NULL; /* encoding ran out of memory */
	mp_declog_write_records(l, recs, 6);
	for (int i = 0; i < 6; i++) {
		char needle[32];
		snprintf(needle, sizeof(needle), "\"n\":%d,", 10 + i);
		assert_int_equal(count_in(path, needle), i == 3 ? 0 : 1);
		assert_int_equal(atomic_load(&w[i].calls), 1);
		assert_int_equal(atomic_load(&w[i].ok), i != 3);
	}
	assert_non_null(strstr(w[3].why, "could not be encoded"));
	mp_declog_write_records(l, recs, 0); /* none: nothing happens */
	mp_declog_get_stats(l, &st);
	assert_int_equal(st.queued, 5);
	assert_int_equal(st.written, 5);
	assert_int_equal(st.errors, 1);
	assert_int_equal(mp_declog_finish(l, NULL, err, sizeof(err)), 0);
	mp_declog_free(l);
	expect_intact(path, 8); /* start, five, end, seal */
	unlink(path);
}

/* Another thread writes its records while this one holds the trail: it waits until this one
 * lets go, then writes them itself, its waiters told once, on its own thread. */
static mp_declog *holder_log;
static mp_declog_record holder_recs[3];
static waiter holder_waiters[3];
static pthread_t holder_other;
static pthread_t holder_told_on[3];

static void on_done_here(mp_declog_waiter *wt, int ok, const char *why)
{
	for (int i = 0; i < 3; i++)
		if (wt == &holder_waiters[i].wt)
			holder_told_on[i] = pthread_self();
	on_done(wt, ok, why);
}

static void *write_others(void *arg)
{
	(void)arg;
	mp_declog_write_records(holder_log, holder_recs, 3);
	return NULL;
}

static void start_other_writer(void)
{
	make_records(holder_recs, holder_waiters, 20, 3);
	for (int i = 0; i < 3; i++)
		holder_waiters[i].wt.done = on_done_here;
	assert_int_equal(pthread_create(&holder_other, NULL, write_others, NULL), 0);
	usleep(20000); /* it is waiting for this thread by now, or soon: either way it waits */
	for (int i = 0; i < 3; i++)
		assert_int_equal(atomic_load(&holder_waiters[i].calls), 0);
}

static void test_records_wait_for_the_holder(void **state)
{
	(void)state;
	char path[192], err[300];
	int ship = 0;
	waiter w;
	tmp_path(path, sizeof(path), "records-holder.jsonl");
	holder_log = open_log(path, 0, (mp_logship *)&ship);
	room_hook = start_other_writer;
	assert_int_equal(submit(holder_log, 1, &w, NULL, 0), MP_DECLOG_QUEUED);
	assert_null(room_hook);
	pthread_join(holder_other, NULL);
	assert_int_equal(atomic_load(&w.calls), 1);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(atomic_load(&holder_waiters[i].calls), 1);
		assert_int_equal(atomic_load(&holder_waiters[i].ok), 1);
		assert_true(pthread_equal(holder_told_on[i], holder_other));
	}
	assert_int_equal(count_in(path, "\"type\":\"decision\""), 4);
	assert_int_equal(mp_declog_finish(holder_log, NULL, err, sizeof(err)), 0);
	mp_declog_free(holder_log);
	expect_intact(path, 7);
	unlink(path);
}

/* More records than the queue holds (the writer's batch holds a queue's worth): all written. */
static void test_records_more_than_the_queue(void **state)
{
	(void)state;
	char path[192], err[300];
	static mp_declog_record recs[50];
	static waiter w[50];
	tmp_path(path, sizeof(path), "records-full.jsonl");
	mp_declog *l = open_log(path, 0, NULL); /* 16 records */
	make_records(recs, w, 0, 50);
	mp_declog_write_records(l, recs, 50);
	for (int i = 0; i < 50; i++) {
		assert_int_equal(atomic_load(&w[i].calls), 1);
		assert_int_equal(atomic_load(&w[i].ok), 1);
	}
	assert_int_equal(mp_declog_finish(l, NULL, err, sizeof(err)), 0);
	mp_declog_free(l);
	assert_int_equal(count_in(path, "\"type\":\"decision\""), 50);
	expect_intact(path, 53);
	unlink(path);
}

/* A batch whose write fails part way (the file size limit): the records that fit are written and
 * their waiters told ok, the rest failed closed with the reason; the log is then unavailable and
 * the next records are refused at once, each waiter told why. The trail holds whole records. */
static void test_records_fail_part_way(void **state)
{
	(void)state;
	char path[192], err[300];
	mp_declog_record recs[4];
	waiter w[4];
	struct stat sb;
	struct rlimit old, lim;
	mp_declog_stats st;
	tmp_path(path, sizeof(path), "records-fail.jsonl");
	mp_declog *l = open_log(path, 0, NULL);
	/* a record's framed size: the file's growth by one (n 1 to 5: the same length) */
	assert_int_equal(stat(path, &sb), 0);
	off_t start = sb.st_size;
	make_records(recs, w, 1, 1);
	mp_declog_write_records(l, recs, 1);
	assert_int_equal(atomic_load(&w[0].ok), 1);
	assert_int_equal(stat(path, &sb), 0);
	off_t rec = sb.st_size - start;
	/* room for two more records and half of a third */
	signal(SIGXFSZ, SIG_IGN);
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	lim = old;
	lim.rlim_cur = (rlim_t)(sb.st_size + 2 * rec + rec / 2);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
	make_records(recs, w, 2, 4);
	mp_declog_write_records(l, recs, 4);
	setrlimit(RLIMIT_FSIZE, &old);
	signal(SIGXFSZ, SIG_DFL);
	assert_int_equal(atomic_load(&w[0].ok), 1);
	assert_int_equal(atomic_load(&w[1].ok), 1);
	assert_int_equal(atomic_load(&w[2].ok), 0);
	assert_non_null(strstr(w[2].why, "decision log unavailable: write: File too large"));
	assert_int_equal(atomic_load(&w[3].ok), 0);
	assert_non_null(strstr(w[3].why, "decision log unavailable"));
	make_records(recs, w, 6, 2);
	mp_declog_write_records(l, recs, 2); /* unavailable: refused without a write */
	for (int i = 0; i < 2; i++) {
		assert_int_equal(atomic_load(&w[i].calls), 1);
		assert_int_equal(atomic_load(&w[i].ok), 0);
		assert_non_null(
		    strstr(w[i].why, "decision log unavailable: write: File too large"));
	}
	mp_declog_get_stats(l, &st);
	assert_true(st.unavailable);
	assert_int_equal(st.refused, 3); /* the failed batch's last, and the two after */
	assert_int_equal(mp_declog_finish(l, NULL, err, sizeof(err)), -1);
	mp_declog_free(l);
	assert_int_equal(count_in(path, "\"type\":\"decision\""), 3);
	expect_intact(path, 6); /* start, three, end, seal */
	unlink(path);
}

/* Threads writing five records at a time, as workers do, with the writer syncing meanwhile: each
 * waiter told once, every record in the file, the chain intact. */
static void *write_many(void *arg)
{
	int t = (int)(intptr_t)arg;
	mp_declog_record recs[5];
	for (int i = 0; i < EACH; i += 5) {
		make_records(recs, &busy_waiters[t][i], t * EACH + i, 5);
		mp_declog_write_records(busy_log, recs, 5);
	}
	return NULL;
}

static void test_records_threads(void **state)
{
	(void)state;
	run_busy(write_many, "records-threads.jsonl");
}

/* After the log stopped: refused, each waiter told the server is shutting down. */
static void test_records_after_stop(void **state)
{
	(void)state;
	char path[192], err[300];
	mp_declog_record recs[2];
	waiter w[2];
	tmp_path(path, sizeof(path), "records-stop.jsonl");
	mp_declog *l = open_log(path, 0, NULL);
	mp_declog_stop(l);
	make_records(recs, w, 0, 2);
	mp_declog_write_records(l, recs, 2);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(atomic_load(&w[i].calls), 1);
		assert_int_equal(atomic_load(&w[i].ok), 0);
		assert_non_null(strstr(w[i].why, "shutting down"));
	}
	assert_int_equal(mp_declog_finish(l, NULL, err, sizeof(err)), 0);
	mp_declog_free(l);
	expect_intact(path, 3);
	unlink(path);
}

/* Drop mode: a record is queued, never written by the submitter, and written by the writer. */
static void test_drop_mode_queues(void **state)
{
	(void)state;
	char path[192], err[300];
	tmp_path(path, sizeof(path), "drop.jsonl");
	mp_declog *l = open_log(path, 1, NULL);
	assert_int_equal(submit(l, 1, NULL, NULL, 0), MP_DECLOG_QUEUED);
	assert_int_equal(mp_declog_finish(l, NULL, err, sizeof(err)), 0);
	mp_declog_free(l);
	assert_int_equal(count_in(path, "\"n\":1,"), 1);
	expect_intact(path, 4);
	unlink(path);
}

/* Drop mode at shutdown: records still queued when the server stops (the writer lingers for a
 * batch) are written by mp_declog_stop before it returns, so the counts the server's end record
 * reads after it hold every record submitted (server.c; the end record of a log that holds a
 * record it does not count would not verify). Ten rounds: each submits a burst and stops at
 * once, while the writer is still lingering over it. */
static void test_drop_mode_stop_counts_everything(void **state)
{
	(void)state;
	char path[192], err[300];
	enum { BURST = 10 };
	tmp_path(path, sizeof(path), "drop-stop.jsonl");
	for (int round = 0; round < 10; round++) {
		mp_declog *l = open_log(path, 1, NULL);
		for (int i = 0; i < BURST; i++)
			assert_int_equal(submit(l, i, NULL, NULL, 0), MP_DECLOG_QUEUED);
		mp_declog_stop(l);
		mp_declog_stats s;
		mp_declog_get_stats(l, &s);
		assert_int_equal(s.written_decisions, BURST);
		assert_int_equal(s.failed + s.dropped + s.refused, 0);
		assert_int_equal(submit(l, BURST, NULL, NULL, 0), MP_DECLOG_REFUSED);
		json_t *end =
		    json_pack("{s:I}", "decision_records", (json_int_t)s.written_decisions);
		assert_int_equal(mp_declog_finish(l, end, err, sizeof(err)), 0);
		assert_int_equal(mp_declog_finish(l, end, err, sizeof(err)), 0); /* once only */
		json_decref(end);
		mp_declog_free(l);
		assert_int_equal(count_in(path, "\"type\":\"decision\""), BURST);
		assert_int_equal(count_in(path, "\"decision_records\":10"), 1);
		unlink(path);
	}
}

/* --- the buffer a thread keeps for its next record (mp_declog_buffer) --- */

/* A record written into a buffer from mp_declog_buffer, grown with mp_realloc past it when pad
 * asks for more, as the server's encoder does: {"n":N,"pad":"ccc..."}, c a letter of N, so that
 * a buffer handed out again while its record waits would show in the file. *cap: its size. */
static char *buffered(int n, size_t pad, size_t *len, size_t *cap)
{
	char *p = mp_declog_buffer();
	assert_non_null(p);
	*cap = MP_DECLOG_BUFFER;
	if (pad + 64 > *cap) {
		*cap = pad + 64;
		p = mp_realloc(p, *cap);
		assert_non_null(p);
	}
	int k = snprintf(p, 64, "{\"n\":%d,\"pad\":\"", n);
	memset(p + k, 'a' + n % 26, pad);
	memcpy(p + k + pad, "\"}", 2);
	*len = (size_t)k + pad + 2;
	return p;
}

/* The pad of record n: mostly under MP_DECLOG_BUFFER, some past it, a few past what a thread
 * keeps (64 KiB). */
static size_t pad_of(int n)
{
	return n % 50 == 7 ? 70000 : n % 10 == 3 ? 5000 : (size_t)(n * 37 % 1500);
}

/* Every decision record in path, each as pad_of and buffered wrote it: returns how many. */
static long check_records(const char *path)
{
	FILE *f = fopen(path, "r");
	size_t cap = 1 << 20;
	char *line = malloc(cap);
	long records = 0;
	assert_non_null(f);
	assert_non_null(line);
	while (fgets(line, (int)cap, f)) {
		const char *at = strstr(line, "\"n\":");
		int n;
		if (!strstr(line, "\"type\":\"decision\""))
			continue;
		assert_non_null(at);
		assert_int_equal(sscanf(at, "\"n\":%d", &n), 1);
		const char *pad = strstr(at, "\"pad\":\"");
		assert_non_null(pad);
		pad += 7;
		size_t want = pad_of(n), i = 0;
		while (pad[i] == 'a' + n % 26)
			i++;
		if (i != want || pad[i] != '"')
			fail_msg("record %d: %zu bytes of its pad, %zu wanted", n, i, want);
		records++;
	}
	free(line);
	fclose(f);
	return records;
}

/* The thread that writes its own record keeps its buffer and hands it out for the next record,
 * without an allocation; a text of unknown size (mp_declog_submit_text) or one that grew past
 * 64 KiB is freed, not kept; a refused record's buffer is kept too. */
static void test_buffer_kept(void **state)
{
	(void)state;
	char path[192], err[300], why[300];
	size_t len, cap;
	waiter w = {.wt.done = on_done};
	tmp_path(path, sizeof(path), "kept.jsonl");
	mp_declog *l = open_log(path, 0, NULL);
	char *first = buffered(1, pad_of(1), &len, &cap);
	assert_int_equal(mp_declog_submit_buffer(l, "decision", first, len, cap, &w.wt, NULL, 0),
	                 MP_DECLOG_QUEUED);
	assert_int_equal(atomic_load(&w.calls), 1);
	unsigned long before = mp_alloc_count();
	char *again = mp_declog_buffer();
	assert_ptr_equal(again, first);
	assert_int_equal(mp_alloc_count(), before);
	mp_free(again);
	/* grown past what a thread keeps: freed */
	char *big = buffered(7, pad_of(7), &len, &cap); /* 70000 bytes */
	assert_int_equal(mp_declog_submit_buffer(l, "decision", big, len, cap, NULL, NULL, 0),
	                 MP_DECLOG_QUEUED);
	before = mp_alloc_count();
	mp_free(mp_declog_buffer());
	assert_int_equal(mp_alloc_count(), before + 1);
	/* its size not known: freed */
	char *unknown = buffered(3, pad_of(3), &len, &cap);
	assert_int_equal(mp_declog_submit_text(l, "decision", unknown, len, NULL, NULL, 0),
	                 MP_DECLOG_QUEUED);
	before = mp_alloc_count();
	mp_free(mp_declog_buffer());
	assert_int_equal(mp_alloc_count(), before + 1);
	assert_int_equal(check_records(path), 3);
	/* after the log stops: refused, and the buffer kept all the same */
	mp_declog_stop(l);
	char *late = buffered(4, 10, &len, &cap);
	assert_int_equal(
	    mp_declog_submit_buffer(l, "decision", late, len, cap, &w.wt, why, sizeof(why)),
	    MP_DECLOG_REFUSED);
	assert_ptr_equal(mp_declog_buffer(), late);
	mp_free(late);
	assert_int_equal(mp_declog_finish(l, NULL, err, sizeof(err)), 0);
	mp_declog_free(l);
	expect_intact(path, 6); /* start, three, end, seal */
	unlink(path);
}

/* Threads submitting records in buffers at once, some grown past MP_DECLOG_BUFFER and some past
 * 64 KiB: a buffer one thread wrote (its own or another's record) and kept is never handed out
 * while a record is still in it: every record is in the file byte for byte, each waiter told
 * once, the chain intact. */
static waiter buf_waiters[THREADS][EACH];
static int buf_rc[THREADS][EACH];

static void *submit_buffered(void *arg)
{
	int t = (int)(intptr_t)arg;
	for (int i = 0; i < EACH; i++) {
		int n = t * EACH + i;
		size_t len, cap;
		char *text = buffered(n, pad_of(n), &len, &cap);
		buf_waiters[t][i] = (waiter){.wt.done = on_done};
		buf_rc[t][i] = mp_declog_submit_buffer(busy_log, "decision", text, len, cap,
		                                       &buf_waiters[t][i].wt, NULL, 0);
	}
	return NULL;
}

static void test_buffers_threads(void **state)
{
	(void)state;
	char path[192], err[300];
	pthread_t th[THREADS];
	tmp_path(path, sizeof(path), "buffers.jsonl");
	busy_log = open_log(path, 0, NULL);
	for (int t = 0; t < THREADS; t++)
		assert_int_equal(pthread_create(&th[t], NULL, submit_buffered, (void *)(intptr_t)t),
		                 0);
	for (int t = 0; t < THREADS; t++)
		pthread_join(th[t], NULL);
	assert_int_equal(mp_declog_finish(busy_log, NULL, err, sizeof(err)), 0);
	mp_declog_free(busy_log);
	for (int t = 0; t < THREADS; t++)
		for (int i = 0; i < EACH; i++) {
			assert_int_equal(buf_rc[t][i], MP_DECLOG_QUEUED);
			assert_int_equal(atomic_load(&buf_waiters[t][i].calls), 1);
			assert_int_equal(atomic_load(&buf_waiters[t][i].ok), 1);
		}
	assert_int_equal(check_records(path), THREADS * EACH);
	expect_intact(path, THREADS * EACH + 3);
	unlink(path);
}

/* A write failing in the middle of a run of threads submitting buffers (the file size limit
 * reached): each record is either written and its waiter told so, or refused (told so, or the
 * submit says so); the file holds exactly the records answered as written, intact. */
static void test_buffers_write_fails_mid_run(void **state)
{
	(void)state;
	char path[192], err[300];
	pthread_t th[THREADS];
	struct stat sb;
	struct rlimit old, lim;
	tmp_path(path, sizeof(path), "buffers-fail.jsonl");
	busy_log = open_log(path, 0, NULL);
	assert_int_equal(stat(path, &sb), 0);
	signal(SIGXFSZ, SIG_IGN);
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	lim = old;
	lim.rlim_cur = (rlim_t)sb.st_size + 200000; /* some hundred records, then a torn one */
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
	for (int t = 0; t < THREADS; t++)
		assert_int_equal(pthread_create(&th[t], NULL, submit_buffered, (void *)(intptr_t)t),
		                 0);
	for (int t = 0; t < THREADS; t++)
		pthread_join(th[t], NULL);
	setrlimit(RLIMIT_FSIZE, &old);
	signal(SIGXFSZ, SIG_DFL);
	mp_declog_stats st;
	mp_declog_get_stats(busy_log, &st);
	assert_true(st.unavailable);
	assert_int_equal(mp_declog_finish(busy_log, NULL, err, sizeof(err)), -1);
	mp_declog_free(busy_log);
	long written = 0, refused = 0;
	for (int t = 0; t < THREADS; t++)
		for (int i = 0; i < EACH; i++) {
			waiter *w = &buf_waiters[t][i];
			if (buf_rc[t][i] == MP_DECLOG_REFUSED) {
				assert_int_equal(atomic_load(&w->calls), 0);
				refused++;
				continue;
			}
			assert_int_equal(buf_rc[t][i], MP_DECLOG_QUEUED);
			assert_int_equal(atomic_load(&w->calls), 1);
			if (atomic_load(&w->ok))
				written++;
			else
				refused++;
		}
	assert_true(written > 0 && refused > 0);
	assert_int_equal(check_records(path), written);
	expect_intact(path, (uint64_t)written + 3);
	unlink(path);
}

/* A record over the trail's line limit is not written: its waiter is told, and the log refuses
 * what follows (fail closed), as after any failed write. */
static void test_oversized_record(void **state)
{
	(void)state;
	char path[192], err[300], why[300];
	size_t len, cap;
	waiter w = {.wt.done = on_done};
	tmp_path(path, sizeof(path), "oversized.jsonl");
	mp_declog *l = open_log(path, 0, NULL);
	char *huge = buffered(1, MP_TRAIL_MAX_LINE, &len, &cap);
	assert_int_equal(mp_declog_submit_buffer(l, "decision", huge, len, cap, &w.wt, NULL, 0),
	                 MP_DECLOG_QUEUED);
	assert_int_equal(atomic_load(&w.calls), 1);
	assert_int_equal(atomic_load(&w.ok), 0);
	assert_non_null(strstr(w.why, "line limit"));
	char *next = buffered(2, 10, &len, &cap);
	assert_int_equal(
	    mp_declog_submit_buffer(l, "decision", next, len, cap, &w.wt, why, sizeof(why)),
	    MP_DECLOG_REFUSED);
	assert_int_equal(mp_declog_finish(l, NULL, err, sizeof(err)), -1);
	mp_declog_free(l);
	assert_int_equal(check_records(path), 0);
	expect_intact(path, 3);
	unlink(path);
}

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/meshpol-declog-XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	return rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_own_write_answers_at_once),
	    cmocka_unit_test(test_own_write_fails_closed),
	    cmocka_unit_test(test_other_thread_calls_waiter),
	    cmocka_unit_test(test_threads_each_answered_once),
	    cmocka_unit_test(test_records_written_together),
	    cmocka_unit_test(test_records_wait_for_the_holder),
	    cmocka_unit_test(test_records_more_than_the_queue),
	    cmocka_unit_test(test_records_fail_part_way),
	    cmocka_unit_test(test_records_threads),
	    cmocka_unit_test(test_records_after_stop),
	    cmocka_unit_test(test_drop_mode_queues),
	    cmocka_unit_test(test_drop_mode_stop_counts_everything),
	    cmocka_unit_test(test_buffer_kept),
	    cmocka_unit_test(test_buffers_threads),
	    cmocka_unit_test(test_buffers_write_fails_mid_run),
	    cmocka_unit_test(test_oversized_record),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
