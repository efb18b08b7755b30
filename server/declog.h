/* declog.h: the decision log: every decision as a "decision" record of a hash-chained trail
 * (engine/trail.h), written by one writer thread fed through a bounded queue. Format and modes:
 * docs/server.md ("Decision log"); the trail format: docs/trail-format.md.
 *
 * Threads: request threads call mp_declog_submit (it encodes the record on the caller's thread,
 * the costly part); the writer thread owns the mp_trail, appends each queued record and fsyncs
 * once per batch. The control thread opens and closes the log.
 *
 * Lifecycle: mp_declog_open (writes "start", starts the writer) -> mp_declog_submit* ->
 * mp_declog_close (drains the queue, writes "end", seals, closes the file, frees the log). */
#ifndef MP_DECLOG_H
#define MP_DECLOG_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "policy.h"

typedef struct mp_declog mp_declog;

/* Opens (or continues) the trail at path, appends start (a JSON object, borrowed) and starts the
 * writer thread. drop: 0 no-drop (a full queue blocks submitters), 1 drop (a full queue drops the
 * record and counts it). NULL and err on failure (the trail is refused, see mp_trail_open). */
mp_declog *mp_declog_open(const char *path, const char *sign_key, size_t capacity, int drop,
                          json_t *start, char *err, size_t errlen);

/* Queues one record of the given type ("decision", "reload"; a string literal) with content
 * (borrowed). Returns 0 queued, 1 dropped (drop mode, queue full), -1 when it could not be encoded
 * (counted as an error). In no-drop mode it waits while the queue is full. Any thread. */
int mp_declog_submit(mp_declog *l, const char *type, json_t *content);

/* The same with the content already encoded as mp_trail_content_encode would (a compact JSON
 * object, keys sorted, ASCII only): text is mp_malloc'd and taken over, whatever happens. */
int mp_declog_submit_text(mp_declog *l, const char *type, char *text, size_t len);

typedef struct {
	uint64_t depth, capacity; /* records queued now, and the most that fit */
	uint64_t queued, written, dropped, errors;
	int drop_mode;
} mp_declog_stats;
void mp_declog_get_stats(mp_declog *l, mp_declog_stats *s);

/* Stops the writer after it has written everything queued, appends end (borrowed; may be NULL),
 * seals, closes the trail and frees l. 0, or -1 and err when a write or the seal failed. No
 * submitter may still be running. NULL is fine. */
int mp_declog_close(mp_declog *l, json_t *end, char *err, size_t errlen);

/* Replaces, in a decision input, every field the bundle's mask names with "[masked]". A mask
 * entry is a dotted path ("request.headers.authorization"); names under "headers" match
 * case-insensitively, as HTTP header names do. Fields that are absent stay absent. */
void mp_declog_mask(json_t *input, const mp_bundle *b);

#endif
