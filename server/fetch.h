/* fetch.h: `meshpol serve --bundle-url`: the bundle (and --model-url's model) polled from an HTTP
 * server with ETags on a thread of its own, verified, swapped in by a reload, and kept in a cache
 * directory for a restart that cannot reach the server. User guide: docs/bundles.md ("Serving
 * from a URL"); the reload that swaps it: reload.c.
 *
 * Threads: the poll thread owns the HTTP handles and the cache directory; builds (reload.c's
 * thread, or the main thread at start) take what it fetched through mp_fetch_open; the control
 * thread reports each build's outcome (mp_fetch_built) and renders /health and /metrics. What
 * they share is under the fetch's lock; a downloaded file is reference-counted, so a build keeps
 * what it started with while newer ones arrive.
 *
 * Lifecycle of a download (one per target, bundle or model):
 *   polled --304--> nothing (the ETag still holds)
 *   polled --200, verified--> pending --built and swapped in--> good --> written to the cache
 *   polled --200, refused (signature, manifest, hashes)--> counted, logged; its ETag is kept, so
 *       the same bytes are not downloaded again, and the good one goes on serving
 *   pending --the build fails--> dropped, counted as refused
 *   polled --no reply, 5xx, ...--> counted; the next poll backs off (doubling, to a cap)
 */
#ifndef MP_FETCH_H
#define MP_FETCH_H

#include "server_int.h"

#include <jansson.h>

struct evbuffer;
typedef struct mp_fetch mp_fetch;
typedef struct mp_fetch_blob mp_fetch_blob;

/* What a build used (retained): NULL where it used the configured -p or -m. */
typedef struct {
	mp_fetch_blob *bundle, *model;
} mp_fetch_used;

/* Checks the options (the public key reads, the cache directory exists) and takes what the
 * cache holds, verified again as a download would be (a cache that does not verify is set
 * aside, and said so). Main thread, before the first snapshot. NULL and err on failure. */
mp_fetch *mp_fetch_new(mp_server *srv, char *err, size_t errlen);
/* The first snapshot: from the cache or -p (and -m), else polled for until a bundle arrives
 * that verifies and loads (the server does not listen until then). Main thread; SIGTERM and
 * SIGINT end the wait (NULL, and mp_fetch_stopped says so). */
mp_engine *mp_fetch_first(mp_fetch *f, mp_diags *d);
int mp_fetch_stopped(const mp_fetch *f);
/* Starts the poll thread; reloads are asked of control's thread. 0 or -1 and err. */
int mp_fetch_start(mp_fetch *f, struct event_base *control, char *err, size_t errlen);
/* Stops the poll thread (a transfer in flight is aborted) and waits for it. */
void mp_fetch_stop(mp_fetch *f);
void mp_fetch_free(mp_fetch *f); /* NULL is fine */

/* A snapshot from the newest bundle and model fetched (or -p and -m where none was), for a
 * build on any thread; used gets what it took (release it with mp_fetch_release). NULL with
 * errors in d. */
mp_engine *mp_fetch_open(mp_fetch *f, mp_diags *d, mp_fetch_used *used);
void mp_fetch_release(mp_fetch_used *used);
/* Control thread: the build that used these is swapped in or unchanged (ok), or refused (d
 * says why). */
void mp_fetch_built(mp_fetch *f, const mp_fetch_used *used, int ok, const mp_diags *d);

/* /health's "bundle_source" object; adds to problems what degrades the server (unreachable,
 * a refused download) and sets *degraded. */
json_t *mp_fetch_health(mp_fetch *f, json_t *problems, int *degraded);
/* /metrics' bundle lines. */
void mp_fetch_metrics(mp_fetch *f, struct evbuffer *o);

#endif
