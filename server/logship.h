/* logship.h: `meshpol serve --decision-log-url`: the decision log's records, exactly as the trail
 * chained them, uploaded in gzip-compressed JSON arrays with retries and backoff, from a buffer
 * of bounded size. Format of a batch and what the receiver does with it: docs/bundles.md
 * ("Shipping decision logs"); the modes and counters are the decision log's (declog.h).
 *
 * Threads: the log's writer thread appends each record (mp_logship_sink, the trail's sink) after
 * asking for room (mp_logship_room); the upload thread owns the HTTP handle and takes records off
 * the buffer only once the receiver answered 2xx for their batch. The control thread renders
 * status. All shared state is under the shipper's lock.
 *
 * A record is never dropped once chained: room is asked for before a record is chained, and a
 * full buffer makes the decision log refuse (no-drop: the request fails closed) or drop (drop
 * mode) the record instead, as a failed write does; when uploads make room again, the shipper
 * calls the log back (mp_declog_retry), which chains a "gap" record saying what is missing.
 */
#ifndef MP_LOGSHIP_H
#define MP_LOGSHIP_H

#include <jansson.h>
#include <stddef.h>

#include "server.h"

struct evbuffer;
typedef struct mp_logship mp_logship;

/* Checks the options and starts the upload thread. NULL and err on failure. */
mp_logship *mp_logship_new(const mp_server_config *cfg, char *err, size_t errlen);
/* Room for one more record of about len bytes? 0 when the buffer is full: the caller then does
 * not chain the record, and room_cb is called once uploads have made room again. */
int mp_logship_room(mp_logship *s, size_t len);
/* Sets what is called (on the upload thread, without locks held) when room comes back. */
void mp_logship_on_room(mp_logship *s, void (*room_cb)(void *arg), void *arg);
/* The trail's sink (mp_trail_sink): takes a copy of one chained record. Never blocks. */
void mp_logship_sink(void *s, const char *line, size_t len);
/* Uploads everything buffered (the log's last records included), retrying for at most
 * timeout_ms, then stops the thread. 0, or -1 and err ("N records not uploaded: ..."). */
int mp_logship_finish(mp_logship *s, int timeout_ms, char *err, size_t errlen);
void mp_logship_free(mp_logship *s); /* NULL is fine */

/* Why the buffer is full, for the decision log's refusals: "upload buffer full (...)". */
void mp_logship_why_full(mp_logship *s, char *out, size_t len);
/* /health's "decision_log_upload" object; adds a problem (degraded) while uploads fail. */
json_t *mp_logship_health(mp_logship *s, json_t *problems, int *degraded);
void mp_logship_metrics(mp_logship *s, struct evbuffer *o);

#endif
