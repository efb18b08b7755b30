/* watch.h: --watch: the engine's file watcher (filewatch.h) on the control loop, calling back
 * once a burst of changes to the model or the bundle has settled. Design: docs/server.md
 * ("Reload"). */
#ifndef MP_WATCH_H
#define MP_WATCH_H

#include <stddef.h>

struct event_base;
typedef struct mp_watch mp_watch;

/* Watches the model (a file or a directory of YAML) and the bundle directory as filewatch.h
 * says. on_change runs on base's thread debounce_ms after the last change of a burst, once the
 * watches follow the paths again. NULL and err on failure. */
mp_watch *mp_watch_new(struct event_base *base, const char *model, const char *bundle,
                       unsigned debounce_ms, void (*on_change)(void *arg), void *arg, char *err,
                       size_t errlen);
void mp_watch_free(mp_watch *w); /* NULL is fine */

#endif
