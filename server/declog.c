/* declog.c: the decision log's bounded queue and writer thread (see declog.h). The queue is a
 * ring of encoded records under one mutex and its condition variables; the writer takes
 * everything queued at once, so a burst costs one lock round-trip and one fsync.
 *
 * No-drop mode answers a decision only once its record is written: each record carries a
 * waiter, told right after the record's write(2) returned, before any fsync (so replies do not
 * wait for the disk). A worker keeps the records of one turn of its loop and writes them
 * together at the turn's end (mp_declog_write_records): one lock round-trip and one write(2)
 * serve several requests, and their waiters are told on the worker's own thread. The writer
 * does not linger for a batch to gather in this mode, writes what is queued (one write(2) per
 * batch) before it fsyncs, and fsyncs at most once per SYNC_NS: under load every SYNC_NS, and
 * SYNC_NS after the last fsync when the queue runs dry. Drop mode's replies never wait, so its
 * writer lets a batch gather for up to LINGER_NS and fsyncs each batch. */
#include "declog.h"
#include "alloc.h"
#include "logship.h"
#include "trail.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

/* drop mode: the longest a record waits for others to share its fsync */
#define LINGER_NS 1000000
/* no-drop mode under load: the longest written records go without an fsync */
#define SYNC_NS   5000000
#define BATCH_MIN 64
/* the most record bytes the writer holds for one write(2) */
#define FLUSH_BYTES (256u << 10)

typedef struct {
	const char *type;     /* a string literal */
	char *text;           /* from mp_trail_content_encode or mp_declog_buffer; release() */
	size_t len, cap;      /* cap: text's allocation, 0 if not known */
	mp_declog_waiter *wt; /* NULL: nobody waits */
	int held;             /* the writer's: chained, waiting for mp_trail_flush */
} record;

struct mp_declog {
	mp_trail *trail;  /* the writer thread's, until it exits */
	char *path;       /* the file, or a name for messages when there is none */
	mp_logship *ship; /* --decision-log-url: borrowed; NULL: none */
	pthread_t writer;
	pthread_mutex_t lock;
	pthread_cond_t not_empty, not_full;
	record *ring;  /* capacity slots; under lock */
	record *batch; /* the writer's own copy of a batch */
	size_t cap, head, count;
	size_t batch_min; /* a batch this big ends the writer's wait for more */
	int stop;
	int finished; /* the writer is gone: submits are refused */
	int drop;
	/* under lock: the state (declog.h) and why; unavailable is also read without it
	 * (refusing) */
	atomic_int unavailable;
	int failing, retry;
	time_t failed_at;
	char error[256];       /* the last failure, without the path: "write: File too large" */
	char first_error[300]; /* the first failure, with the path: reported at close */
	uint64_t failed_since, refused_since; /* since the log was last available: the gap */
	uint64_t unsynced, synced_ns;         /* under lock: written since the last fsync, when */
	/* under lock: a thread holds the trail (the writer, or in no-drop mode a request thread
	 * writing its own record); the writer waits without a timeout and wants a signal */
	int writing, writer_waiting;
	/* under lock: threads waiting in mp_declog_write_records for the holder to let go (idle) */
	int idle_waiters;
	pthread_cond_t idle;
	_Atomic uint64_t queued, written, written_decisions, failed, refused, dropped, errors, gaps;
};

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* --- the buffers a thread keeps for its next records (mp_declog_buffer) --- */

/* A buffer kept is at most this big: a record that grew past it is freed. */
#define KEEP_MAX (64u << 10)
/* The most buffers a thread keeps, and their most bytes: a worker that writes a loop turn's
 * records together (mp_declog_write_records) frees that many and takes them again in its next
 * turn. */
#define KEEP_N     32
#define KEEP_BYTES (256u << 10)

typedef struct {
	char *buf[KEEP_N]; /* mp_malloc'd, each at least MP_DECLOG_BUFFER bytes */
	size_t cap[KEEP_N];
	int n;
	size_t bytes; /* the sum of cap[0, n) */
} spares;

static pthread_key_t spare_key; /* the thread's spares (mp_malloc'd), or NULL */
static pthread_once_t spare_once = PTHREAD_ONCE_INIT;
static int spare_ok;

static void spare_free(void *p)
{
	spares *s = p;
	for (int i = 0; i < s->n; i++)
		mp_free(s->buf[i]);
	mp_free(s);
}

static void spare_init(void)
{
	spare_ok = pthread_key_create(&spare_key, spare_free) == 0;
}

/* The calling thread's spares, made at its first call (NULL: out of memory). */
static spares *my_spares(void)
{
	pthread_once(&spare_once, spare_init);
	if (!spare_ok)
		return NULL;
	spares *s = pthread_getspecific(spare_key);
	if (!s && (s = mp_calloc(1, sizeof(*s))) && pthread_setspecific(spare_key, s) != 0) {
		mp_free(s);
		s = NULL;
	}
	return s;
}

char *mp_declog_buffer(void)
{
	spares *s = my_spares();
	if (s && s->n > 0) {
		s->n--;
		s->bytes -= s->cap[s->n];
		return s->buf[s->n];
	}
	return mp_malloc(MP_DECLOG_BUFFER);
}

/* Done with a record's text (cap: its allocation, 0 if not known): kept by the calling thread
 * for its next records if the size fits and there is room for it, else freed. */
static void release(char *text, size_t cap)
{
	if (text && cap >= MP_DECLOG_BUFFER && cap <= KEEP_MAX) {
		spares *s = my_spares();
		if (s && s->n < KEEP_N && s->bytes + cap <= KEEP_BYTES) {
			s->buf[s->n] = text;
			s->cap[s->n++] = cap;
			s->bytes += cap;
			return;
		}
	}
	mp_free(text);
}

/* "decision log unavailable: <the error>" for a waiter or a caller. */
static void why_unavailable(mp_declog *l, char *why, size_t whylen)
{
	if (why && whylen)
		snprintf(why, whylen, "decision log unavailable: %s",
		         l->finished ? "the server is shutting down" : l->error);
}

/* Records err as the log's failure (writer thread; takes the lock). err names the file; the
 * reason kept for replies does not (clients need not learn server paths). */
static void note_failure(mp_declog *l, const char *err)
{
	size_t n = strlen(l->path);
	const char *bare =
	    !strncmp(err, l->path, n) && !strncmp(err + n, ": ", 2) ? err + n + 2 : err;
	pthread_mutex_lock(&l->lock);
	if (!l->first_error[0]) {
		snprintf(l->first_error, sizeof(l->first_error), "%s", err);
		fprintf(stderr, "meshpol serve: decision log: %s%s\n", err,
		        l->drop ? " (drop mode: decisions go on, unlogged)"
		        : l->ship
		            ? ": refusing decisions (fail closed) until a reload retries it, or "
		              "the upload makes room"
		            : ": refusing decisions (fail closed) until a reload retries it");
	}
	snprintf(l->error, sizeof(l->error), "%s", bare);
	if (!l->failing || (!l->drop && !l->unavailable))
		l->failed_at = time(NULL);
	l->failing = 1;
	if (!l->drop)
		l->unavailable = 1;
	pthread_mutex_unlock(&l->lock);
}

/* An unavailable log comes back when a "gap" record, saying what is missing, can be written. */
static void try_gap(mp_declog *l)
{
	char err[300];
	pthread_mutex_lock(&l->lock);
	json_t *gap =
	    json_pack("{s:s, s:I, s:I}", "error", l->error, "failed", (json_int_t)l->failed_since,
	              "refused", (json_int_t)l->refused_since);
	pthread_mutex_unlock(&l->lock);
	if (!gap)
		return;
	int rc = mp_trail_append_nosync(l->trail, "gap", gap, err, sizeof(err));
	if (rc == 0)
		rc = mp_trail_sync(l->trail, err, sizeof(err));
	json_decref(gap);
	if (rc < 0) {
		atomic_fetch_add(&l->errors, 1);
		note_failure(l, err);
		return;
	}
	atomic_fetch_add(&l->gaps, 1);
	pthread_mutex_lock(&l->lock);
	l->unavailable = l->failing = 0;
	l->failed_since = l->refused_since = 0;
	pthread_mutex_unlock(&l->lock);
	fprintf(stderr, "meshpol serve: decision log: writable again (a gap record says what is "
	                "missing)\n");
}

/* A failed write of record r (writer thread, without the lock): counted, the log's state set,
 * the reason in why. */
static void write_failed(mp_declog *l, const char *err, char *why, size_t whylen)
{
	atomic_fetch_add(&l->failed, 1);
	note_failure(l, err);
	pthread_mutex_lock(&l->lock);
	l->failed_since++;
	why_unavailable(l, why, whylen);
	pthread_mutex_unlock(&l->lock);
}

/* Is the log refusing records (no-drop, unavailable)? Then why says so, and the gap grows. The
 * trail's holder asks before each record it writes: the usual answer, no, is read without the
 * lock. The flag is set under the lock by the thread that failed (the holder itself, whose next
 * record sees it, or the writer's fsync, which races with the writes going on anyway). */
static int refusing(mp_declog *l, char *why, size_t whylen)
{
	if (!atomic_load_explicit(&l->unavailable, memory_order_relaxed))
		return 0;
	pthread_mutex_lock(&l->lock);
	int refuse = l->unavailable;
	if (refuse) {
		l->refused_since++;
		why_unavailable(l, why, whylen);
	}
	pthread_mutex_unlock(&l->lock);
	return refuse;
}

/* Writes the records held since the last flush, batch[from, to) (those with held set), with one
 * write(2), and tells their waiters. When that write fails (nothing of it is in the file), they
 * are written one by one, as many as fit, as without batches: the log fails at the same record. */
static uint64_t flush_held(mp_declog *l, size_t from, size_t to)
{
	char err[300], why[300];
	uint64_t ok = 0;
	int batch_ok = mp_trail_flush(l->trail, err, sizeof(err)) == 0;
	for (size_t i = from; i < to; i++) {
		record *r = &l->batch[i];
		if (!r->held)
			continue;
		r->held = 0;
		int rc = 0;
		if (!batch_ok && refusing(l, why, sizeof(why))) {
			atomic_fetch_add(&l->refused, 1);
			rc = -1;
		} else if (!batch_ok &&
		           (rc = mp_trail_append_encoded(l->trail, r->type, r->text, r->len, err,
		                                         sizeof(err))) < 0) {
			atomic_fetch_add(&l->errors, 1);
			write_failed(l, err, why, sizeof(why));
		}
		release(r->text, r->cap);
		if (rc == 0) {
			ok++;
			atomic_fetch_add(&l->written, 1);
			if (!strcmp(r->type, "decision"))
				atomic_fetch_add(&l->written_decisions, 1);
			if (l->drop && l->failing) {
				pthread_mutex_lock(&l->lock);
				l->failing = 0;
				pthread_mutex_unlock(&l->lock);
			}
		}
		if (r->wt)
			r->wt->done(r->wt, rc == 0, rc == 0 ? NULL : why); /* theirs now */
	}
	return ok;
}

/* Writes one batch (the trail's holder, without the lock): the records are framed and chained
 * one by one and written together, FLUSH_BYTES at most per write(2); each waiter is told once
 * its record's write returned. With an upload (ship), record by record: its room is counted in
 * records already handed to it. */
static uint64_t write_batch(mp_declog *l, size_t n)
{
	char err[300], why[300];
	uint64_t ok = 0;
	size_t from = 0, held_bytes = 0;
	for (size_t i = 0; i < n; i++) {
		record *r = &l->batch[i];
		int refuse = refusing(l, why, sizeof(why));
		if (!refuse && l->ship && !mp_logship_room(l->ship, r->len + 256)) {
			/* the upload buffer is full: as a failed write, before the record is
			 * chained (drop mode: dropped, and the decision goes on) */
			char full[300];
			mp_logship_why_full(l->ship, full, sizeof(full));
			if (l->drop) {
				atomic_fetch_add(&l->dropped, 1);
				pthread_mutex_lock(&l->lock);
				snprintf(l->error, sizeof(l->error), "%.250s", full);
				l->failing = 1;
				pthread_mutex_unlock(&l->lock);
				release(r->text, r->cap);
				continue;
			}
			write_failed(l, full, why, sizeof(why));
		} else if (refuse) {
			atomic_fetch_add(&l->refused, 1);
		} else {
			if (!l->ship)
				mp_trail_hold(l->trail);
			if (mp_trail_append_encoded(l->trail, r->type, r->text, r->len, err,
			                            sizeof(err)) == 0) {
				r->held = 1; /* its text is freed once written */
				held_bytes += r->len;
				if (held_bytes >= FLUSH_BYTES || l->ship) {
					ok += flush_held(l, from, i + 1);
					from = i + 1;
					held_bytes = 0;
				}
				continue;
			}
			atomic_fetch_add(&l->errors, 1);
			write_failed(l, err, why, sizeof(why));
		}
		release(r->text, r->cap);
		if (r->wt)
			r->wt->done(r->wt, 0, why); /* the waiter is theirs now */
	}
	ok += flush_held(l, from, n);
	return ok;
}

/* Writes what is queued (the trail's holder, l->writing, with the lock held; released while
 * writing). */
static void write_queued(mp_declog *l)
{
	size_t n = l->count;
	for (size_t i = 0; i < n; i++)
		l->batch[i] = l->ring[(l->head + i) % l->cap];
	l->head = (l->head + n) % l->cap;
	l->count = 0;
	pthread_cond_broadcast(&l->not_full);
	pthread_mutex_unlock(&l->lock);
	uint64_t ok = write_batch(l, n);
	pthread_mutex_lock(&l->lock);
	l->unsynced += ok;
}

/* fsyncs what was written (the writer thread, with the lock held; released for the fsync). The
 * trail need not be held: fsync(2) of its descriptor covers every write that returned before it,
 * and request threads go on writing meanwhile (mp_trail_open's first sync, at open, did the
 * directory). The replies went out already: this is about a crash or power cut, not about
 * them. */
static void sync_written(mp_declog *l)
{
	char err[300];
	int fd = mp_trail_fd(l->trail);
	l->unsynced = 0;
	l->synced_ns = now_ns();
	pthread_mutex_unlock(&l->lock);
	if (fd >= 0 && fsync(fd) < 0) {
		snprintf(err, sizeof(err), "%s: fsync: %s", l->path, strerror(errno));
		atomic_fetch_add(&l->errors, 1);
		note_failure(l, err);
	}
	pthread_mutex_lock(&l->lock);
}

/* The trail's holder lets go (with the lock held): threads waiting to write their records
 * (idle) are told. */
static void let_go(mp_declog *l)
{
	l->writing = 0;
	if (l->idle_waiters)
		pthread_cond_broadcast(&l->idle);
}

/* The absolute CLOCK_REALTIME time ns from now, for pthread_cond_timedwait. */
static struct timespec deadline(uint64_t ns)
{
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	ns += (uint64_t)until.tv_nsec;
	until.tv_sec += (time_t)(ns / 1000000000u);
	until.tv_nsec = (long)(ns % 1000000000u);
	return until;
}

/* The writer thread: in drop mode it writes every batch; in no-drop mode the request threads
 * write their own records when the trail is free (mp_declog_submit_text), and the writer takes
 * what they leave, fsyncs, retries and closes. It waits without a timeout (idle, or for the
 * holder: writer_waiting, which the holder signals) or until the next fsync is due. */
static void *writer_main(void *arg)
{
	mp_declog *l = arg;
	pthread_mutex_lock(&l->lock);
	for (;;) {
		uint64_t age = now_ns() - l->synced_ns;
		int due = l->unsynced && (l->drop || l->stop || age >= SYNC_NS);
		if (l->writing || !(l->retry || l->stop || l->count || due)) {
			/* a sync is due SYNC_NS after the last. While records come (the last sync
			 * is recent), wait for that time even with nothing to sync yet: the request
			 * threads that write in the meantime need not wake this one (a futex call
			 * on their way to the reply); idle, wait to be woken */
			if (!l->writing && (l->unsynced || (!l->drop && age < SYNC_NS))) {
				struct timespec until = deadline(SYNC_NS - age); /* age < SYNC_NS */
				pthread_cond_timedwait(&l->not_empty, &l->lock, &until);
			} else {
				l->writer_waiting = 1;
				pthread_cond_wait(&l->not_empty, &l->lock);
				l->writer_waiting = 0;
			}
			continue;
		}
		l->writing = 1;
		if (l->retry) {
			l->retry = 0;
			if (l->unavailable) {
				pthread_mutex_unlock(&l->lock);
				try_gap(l);
				pthread_mutex_lock(&l->lock);
			}
		} else if (l->count) {
			if (l->drop && l->count < l->batch_min && !l->stop) {
				/* let a batch gather for a moment: one wake-up and one fsync
				 * serve many records instead of one each */
				struct timespec until = deadline(LINGER_NS);
				while (l->count < l->batch_min && !l->stop &&
				       pthread_cond_timedwait(&l->not_empty, &l->lock, &until) == 0)
					;
			}
			write_queued(l);
		}
		/* with requests waiting for their writes, write them first: an fsync waits for
		 * the disk, and they would wait for it too. No-drop mode syncs every SYNC_NS
		 * while records come, and SYNC_NS after the last sync when they stop: never more
		 * than one fsync per SYNC_NS, each record on disk within about SYNC_NS of its
		 * write. */
		let_go(l);
		if (l->unsynced && (l->drop || l->stop || now_ns() - l->synced_ns >= SYNC_NS))
			sync_written(l);
		if (l->stop && !l->count && !l->unsynced && !l->writing)
			break; /* stopped and drained */
	}
	pthread_mutex_unlock(&l->lock);
	return NULL;
}

/* A request thread holding the trail writes what is queued (two rounds at most, so that it
 * does not write for others for long), lets go, and tells the writer when it waits for the
 * holder or records are left for it. With the lock held. */
static void write_rest(mp_declog *l)
{
	for (int round = 0; round < 2 && l->count; round++)
		write_queued(l);
	let_go(l);
	if (l->writer_waiting || l->count)
		pthread_cond_signal(&l->not_empty);
}

/* No-drop mode: a request thread that finds the trail free writes what is queued itself, its
 * own record among it, instead of waking the writer and waiting for it to be scheduled (two
 * context switches a record on a busy machine). With the lock held. */
static void write_own(mp_declog *l)
{
	if (l->drop || l->writing || l->stop || l->finished)
		return;
	l->writing = 1;
	write_rest(l);
}

/* The upload made room again: a log that refused records takes them again after a gap record
 * (upload thread). */
static void room_again(void *arg)
{
	mp_declog_retry(arg);
}

mp_declog *mp_declog_open(const char *path, const char *sign_key, size_t capacity, int drop,
                          json_t *start, mp_logship *ship, char *err, size_t errlen)
{
	mp_declog *l = mp_calloc(1, sizeof(*l));
	if (!l || capacity == 0)
		goto oom;
	l->cap = capacity;
	l->batch_min = capacity < BATCH_MIN ? capacity : BATCH_MIN;
	l->drop = drop;
	l->ring = mp_calloc(capacity, sizeof(record));
	l->batch = mp_calloc(capacity, sizeof(record));
	l->path = mp_strdup(path ? path : "decision log");
	l->ship = ship;
	if (!l->ring || !l->batch || !l->path)
		goto oom;
	if (!(l->trail = mp_trail_open(path, sign_key, err, errlen)))
		goto fail;
	if (ship) /* every record goes up as chained, the start record first */
		mp_trail_set_sink(l->trail, mp_logship_sink, ship);
	if (mp_trail_append(l->trail, "start", start, err, errlen) < 0)
		goto fail;
	pthread_mutex_init(&l->lock, NULL);
	pthread_cond_init(&l->not_empty, NULL);
	pthread_cond_init(&l->not_full, NULL);
	pthread_cond_init(&l->idle, NULL);
	if (ship)
		mp_logship_on_room(ship, room_again, l);
	if (pthread_create(&l->writer, NULL, writer_main, l) != 0) {
		snprintf(err, errlen, "%s: cannot start the writer thread", path);
		pthread_mutex_destroy(&l->lock);
		pthread_cond_destroy(&l->not_empty);
		pthread_cond_destroy(&l->not_full);
		pthread_cond_destroy(&l->idle);
		goto fail;
	}
	return l;
oom:
	snprintf(err, errlen, "%s: out of memory", path);
fail:
	if (l) {
		mp_trail_close(l->trail);
		mp_free(l->ring);
		mp_free(l->batch);
		mp_free(l->path);
		mp_free(l);
	}
	return NULL;
}

/* Queues text (mp_malloc'd; owned from here on). */
static int enqueue(mp_declog *l, const char *type, char *text, size_t len, size_t cap,
                   mp_declog_waiter *wt, char *why, size_t whylen)
{
	pthread_mutex_lock(&l->lock);
	while (l->count == l->cap && !l->drop && !l->unavailable && !l->finished) {
		write_own(l);
		if (l->count == l->cap)
			pthread_cond_wait(&l->not_full, &l->lock); /* backpressure */
	}
	if (l->finished || (!l->drop && l->unavailable)) {
		why_unavailable(l, why, whylen);
		l->refused_since += !l->finished;
		pthread_mutex_unlock(&l->lock);
		release(text, cap);
		atomic_fetch_add(&l->refused, 1);
		return MP_DECLOG_REFUSED;
	}
	if (l->count == l->cap) {
		pthread_mutex_unlock(&l->lock);
		release(text, cap);
		atomic_fetch_add(&l->dropped, 1);
		return MP_DECLOG_DROPPED;
	}
	l->ring[(l->head + l->count) % l->cap] =
	    (record){type, text, len, cap, l->drop ? NULL : wt, 0};
	l->count++;
	/* no-drop: written now, here or by the trail's holder (which looks again before it lets
	 * go); drop: wake the writer for a batch's first record and when the batch is big enough
	 * to stop lingering */
	if (!l->drop)
		write_own(l);
	else if (l->count == 1 || l->count == l->batch_min)
		pthread_cond_signal(&l->not_empty);
	pthread_mutex_unlock(&l->lock);
	atomic_fetch_add(&l->queued, 1);
	return MP_DECLOG_QUEUED;
}

int mp_declog_submit(mp_declog *l, const char *type, json_t *content)
{
	char err[200];
	size_t len;
	char *text = mp_trail_content_encode(content, &len, err, sizeof(err));
	if (!text) {
		atomic_fetch_add(&l->errors, 1);
		return MP_DECLOG_REFUSED;
	}
	return enqueue(l, type, text, len, 0, NULL, NULL, 0);
}

/* Is text a record's content as the submitters take it (a compact JSON object)? Else it is
 * freed, counted as an error, and why says so. */
static int encoded(mp_declog *l, char *text, size_t len, char *why, size_t whylen)
{
	if (text && len >= 2 && text[0] == '{' && text[len - 1] == '}')
		return 1;
	mp_free(text);
	atomic_fetch_add(&l->errors, 1);
	if (why && whylen)
		snprintf(
		    why, whylen,
		    "decision log unavailable: the record could not be encoded (out of memory)");
	return 0;
}

int mp_declog_submit_buffer(mp_declog *l, const char *type, char *text, size_t len, size_t cap,
                            mp_declog_waiter *wt, char *why, size_t whylen)
{
	if (!encoded(l, text, len, why, whylen))
		return MP_DECLOG_REFUSED;
	return enqueue(l, type, text, len, cap, wt, why, whylen);
}

int mp_declog_submit_text(mp_declog *l, const char *type, char *text, size_t len,
                          mp_declog_waiter *wt, char *why, size_t whylen)
{
	return mp_declog_submit_buffer(l, type, text, len, 0, wt, why, whylen);
}

void mp_declog_write_records(mp_declog *l, mp_declog_record *recs, size_t n)
{
	char why[300];
	size_t k = 0;
	for (size_t i = 0; i < n; i++) { /* the ones not encoded: refused now */
		if (encoded(l, recs[i].text, recs[i].len, why, sizeof(why)))
			recs[k++] = recs[i];
		else if (recs[i].wt)
			recs[i].wt->done(recs[i].wt, 0, why);
	}
	n = k;
	if (l->drop) { /* as mp_declog_submit_buffer: nobody waits */
		for (size_t i = 0; i < n; i++) {
			enqueue(l, recs[i].type, recs[i].text, recs[i].len, recs[i].cap, NULL, NULL,
			        0);
			if (recs[i].wt)
				recs[i].wt->done(recs[i].wt, 1, NULL);
		}
		return;
	}
	pthread_mutex_lock(&l->lock);
	while (l->writing && !l->finished) {
		l->idle_waiters++;
		pthread_cond_wait(&l->idle, &l->lock);
		l->idle_waiters--;
	}
	if (l->finished || l->unavailable) {
		why_unavailable(l, why, sizeof(why));
		l->refused_since += l->finished ? 0 : n;
		pthread_mutex_unlock(&l->lock);
		for (size_t i = 0; i < n; i++) {
			release(recs[i].text, recs[i].cap);
			atomic_fetch_add(&l->refused, 1);
			if (recs[i].wt)
				recs[i].wt->done(recs[i].wt, 0, why);
		}
		return;
	}
	l->writing = 1;
	pthread_mutex_unlock(&l->lock);
	atomic_fetch_add(&l->queued, n);
	uint64_t ok = 0;
	for (size_t from = 0; from < n;) { /* the writer's batch holds a queue's worth */
		size_t m = n - from < l->cap ? n - from : l->cap;
		for (size_t i = 0; i < m; i++) {
			mp_declog_record *r = &recs[from + i];
			l->batch[i] = (record){r->type, r->text, r->len, r->cap, r->wt, 0};
		}
		ok += write_batch(l, m);
		from += m;
	}
	pthread_mutex_lock(&l->lock);
	l->unsynced += ok;
	write_rest(l); /* what others queued meanwhile */
	pthread_mutex_unlock(&l->lock);
}

void mp_declog_retry(mp_declog *l)
{
	pthread_mutex_lock(&l->lock);
	if (l->unavailable && !l->finished) {
		l->retry = 1;
		pthread_cond_signal(&l->not_empty);
	}
	pthread_mutex_unlock(&l->lock);
}

void mp_declog_get_stats(mp_declog *l, mp_declog_stats *s)
{
	pthread_mutex_lock(&l->lock);
	s->depth = l->count;
	s->unavailable = l->unavailable;
	s->failing = l->failing;
	s->failed_at = l->failed_at;
	snprintf(s->error, sizeof(s->error), "%s", l->error);
	pthread_mutex_unlock(&l->lock);
	s->capacity = l->cap;
	s->queued = atomic_load(&l->queued);
	s->written = atomic_load(&l->written);
	s->written_decisions = atomic_load(&l->written_decisions);
	s->failed = atomic_load(&l->failed);
	s->refused = atomic_load(&l->refused);
	s->dropped = atomic_load(&l->dropped);
	s->errors = atomic_load(&l->errors);
	s->gaps = atomic_load(&l->gaps);
	s->drop_mode = l->drop;
}

void mp_declog_stop(mp_declog *l)
{
	if (!l || l->finished)
		return;
	pthread_mutex_lock(&l->lock);
	l->stop = 1;
	pthread_cond_signal(&l->not_empty);
	pthread_mutex_unlock(&l->lock);
	pthread_join(l->writer, NULL);
	/* the writer has exited: the trail is ours again */
	pthread_mutex_lock(&l->lock);
	l->finished = 1;
	pthread_cond_broadcast(&l->not_full); /* a submitter waiting for room is refused */
	pthread_cond_broadcast(&l->idle);     /* and one waiting to write its records */
	pthread_mutex_unlock(&l->lock);
}

int mp_declog_finish(mp_declog *l, json_t *end, char *err, size_t errlen)
{
	if (!l || !l->trail)
		return 0;
	int rc = 0;
	mp_declog_stop(l);
	if (l->first_error[0]) {
		snprintf(err, errlen, "%s", l->first_error);
		rc = -1;
	}
	char e2[300];
	if (mp_trail_append_nosync(l->trail, "end", end, e2, sizeof(e2)) < 0 ||
	    mp_trail_seal(l->trail, e2, sizeof(e2)) < 0) {
		if (rc == 0)
			snprintf(err, errlen, "%s", e2);
		else
			fprintf(stderr, "meshpol serve: decision log: %s\n", e2);
		rc = -1;
	}
	mp_trail_close(l->trail);
	l->trail = NULL;
	return rc;
}

void mp_declog_free(mp_declog *l)
{
	if (!l)
		return;
	mp_trail_close(l->trail); /* only if never finished */
	pthread_mutex_destroy(&l->lock);
	pthread_cond_destroy(&l->not_empty);
	pthread_cond_destroy(&l->not_full);
	pthread_cond_destroy(&l->idle);
	mp_free(l->ring);
	mp_free(l->batch);
	mp_free(l->path);
	mp_free(l);
}
