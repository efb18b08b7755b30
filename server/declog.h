/* declog.h: the decision log: every decision as a "decision" record of a hash-chained trail
 * (engine/include/trail.h), written by one writer thread fed through a bounded queue. Format, modes
 * and guarantees: docs/server.md ("Decision log"); the trail format: docs/trail-format.md.
 *
 * Threads: request threads call mp_declog_submit_text (they encode the record, the costly part).
 * One thread at a time holds the mp_trail and appends what is queued: in no-drop mode the request
 * thread that queued a record, when the trail is free (no hand-off to another thread on the way to
 * the reply), else the writer thread; the writer thread fsyncs, retries and takes what request
 * threads leave. The control thread opens, retries and closes the log.
 *
 * Lifecycle: mp_declog_open (writes "start", starts the writer) -> mp_declog_submit* ->
 * mp_declog_finish (drains the queue, writes "end", seals, closes the file) -> mp_declog_free.
 *
 * States of a no-drop log (drop mode never leaves "available"):
 *   available --a write or fsync fails (writer)--> unavailable: every record queued or submitted
 *       from then on is refused without a write attempt, so the file keeps a complete prefix
 *   unavailable --mp_declog_retry, then a "gap" record written (writer)--> available
 */
#ifndef MP_DECLOG_H
#define MP_DECLOG_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "policy.h"

typedef struct mp_declog mp_declog;

/* A request waiting for its record to be written (no-drop mode). done is called exactly once,
 * on the thread that wrote the record (the writer, or a request thread, possibly the waiter's own
 * within mp_declog_submit_text), after the record's write(2) returned (ok = 1), or when it failed
 * or was refused (ok = 0, why: "decision log unavailable: ..."); the waiter is the caller's again
 * from that call on. done must not block. */
typedef struct mp_declog_waiter mp_declog_waiter;
struct mp_declog_waiter {
	void (*done)(mp_declog_waiter *wt, int ok, const char *why);
};

/* mp_declog_submit's results. */
enum { MP_DECLOG_QUEUED = 0, MP_DECLOG_DROPPED = 1, MP_DECLOG_REFUSED = -1 };

/* Opens (or continues) the trail at path, appends start (a JSON object, borrowed) and starts the
 * writer thread. drop: 0 no-drop (a full queue blocks submitters), 1 drop (a full queue drops the
 * record and counts it). NULL and err on failure (the trail is refused, see mp_trail_open).
 * path NULL: the chain is kept in memory only (then ship must be given). ship (borrowed, to
 * outlive the log): every record chained goes to it as written, the start record first; a full
 * upload buffer counts as a failed write (no-drop: refused, the log unavailable until the
 * upload makes room and a gap record is chained; drop: the record dropped). */
struct mp_logship;
mp_declog *mp_declog_open(const char *path, const char *sign_key, size_t capacity, int drop,
                          json_t *start, struct mp_logship *ship, char *err, size_t errlen);

/* Queues one record of the given type ("decision", "reload"; a string literal) with content
 * (borrowed), nobody waiting for it. Returns MP_DECLOG_QUEUED, MP_DECLOG_DROPPED (drop mode,
 * queue full) or MP_DECLOG_REFUSED (not encoded: counted as an error; or the log is unavailable
 * or finished: counted as refused). In no-drop mode it waits while the queue is full. Any
 * thread. */
int mp_declog_submit(mp_declog *l, const char *type, json_t *content);

/* The same with the content already encoded as mp_trail_content_encode would (a compact JSON
 * object, keys sorted, ASCII only): text is mp_malloc'd and taken over, whatever happens. wt:
 * NULL, or (no-drop mode only) called when the record is written or refused, as
 * mp_declog_waiter says; never called when this returns MP_DECLOG_REFUSED, which puts the reason
 * in why (why may be NULL). */
int mp_declog_submit_text(mp_declog *l, const char *type, char *text, size_t len,
                          mp_declog_waiter *wt, char *why, size_t whylen);

/* The size of a buffer mp_declog_buffer hands out: a decision record's usual size (the decision
 * and its input, every header included). */
#define MP_DECLOG_BUFFER 2048

/* A buffer of at least MP_DECLOG_BUFFER bytes for the next record's text (mp_malloc'd; the
 * caller's, to submit with mp_declog_submit_buffer or to mp_free), or NULL when out of memory:
 * one the calling thread kept from a record it wrote, else a new one. A thread keeps the
 * buffers of the last records it wrote (up to 32, 256 KiB; freed when the thread exits), so
 * that a request thread that writes its own records (no-drop mode, the trail free) takes no
 * malloc and no free for them. Any thread. */
char *mp_declog_buffer(void);

/* mp_declog_submit_text, where text's allocation is cap bytes (mp_declog_buffer's, or more if it
 * grew): the thread that writes or refuses the record may keep the buffer (mp_declog_buffer).
 * cap 0: not known, the text is freed. */
int mp_declog_submit_buffer(mp_declog *l, const char *type, char *text, size_t len, size_t cap,
                            mp_declog_waiter *wt, char *why, size_t whylen);

/* A record handed to mp_declog_write_records: as mp_declog_submit_buffer takes one. */
typedef struct {
	const char *type;     /* a string literal */
	char *text;           /* the content (mp_malloc'd): the log's from the call on */
	size_t len, cap;      /* cap: text's allocation, 0 if not known */
	mp_declog_waiter *wt; /* told once; NULL: nobody waits */
} mp_declog_record;

/* No-drop mode: writes recs[0, n) on the calling thread, with one write(2) (and what others
 * queued meanwhile), after the thread writing now, if any, lets go; every waiter is told
 * before it returns: written, or not (the record could not be encoded, the log is unavailable
 * or finished, the write failed: ok 0 and the reason). A worker writes the records of one turn
 * of its loop so: one lock round-trip and one write(2) for them, and their replies sent by the
 * worker itself. Drop mode: queued as mp_declog_submit_buffer queues them, each waiter told at
 * once. */
void mp_declog_write_records(mp_declog *l, mp_declog_record *recs, size_t n);

/* The writer retries an unavailable log: it writes a "gap" record {"error", "failed",
 * "refused"} and, if that succeeds, takes records again. Any thread; no-op when available. */
void mp_declog_retry(mp_declog *l);

typedef struct {
	uint64_t depth, capacity; /* records queued now, and the most that fit */
	uint64_t queued;          /* records accepted into the queue */
	uint64_t written; /* records whose write(2) succeeded ("start" and "end" excluded) */
	uint64_t written_decisions; /* of which "decision" records */
	uint64_t failed;            /* records whose write failed */
	uint64_t refused;           /* records not written because the log was unavailable */
	uint64_t dropped;           /* drop mode: records dropped because the queue was full */
	uint64_t errors; /* records that could not be encoded, plus failed writes/fsyncs */
	uint64_t gaps;   /* "gap" records written (the log came back) */
	int drop_mode;
	int unavailable;  /* no-drop: refusing records since a write failed */
	int failing;      /* the last write or fsync failed (either mode) */
	time_t failed_at; /* when the log last became unavailable or failing; 0: never */
	char error[256];  /* the last write error, "" if none: "write: No space left ..." */
} mp_declog_stats;
void mp_declog_get_stats(mp_declog *l, mp_declog_stats *s);

/* Stops the writer after it has dealt with everything queued (written, or refused when
 * unavailable); later submits are refused. The counts (mp_declog_get_stats) are final after
 * it: the server's end record reads them then, so that a record still queued in drop mode is
 * counted as written or failed. A second call does nothing; mp_declog_finish calls it. NULL is
 * fine. */
void mp_declog_stop(mp_declog *l);
/* Stops the writer (mp_declog_stop), appends end (borrowed; may be NULL), seals and closes the
 * trail. Later submits
 * are refused; l stays allocated (so a thread the server gave up on cannot touch freed memory)
 * until mp_declog_free. 0, or -1 and err when a write or the seal failed or an earlier write
 * had failed. NULL is fine. */
int mp_declog_finish(mp_declog *l, json_t *end, char *err, size_t errlen);
/* Frees a finished log; no submitter may still be running. NULL is fine. */
void mp_declog_free(mp_declog *l);

#endif
