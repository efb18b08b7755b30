/* watch.h: --watch: inotify on the model and the bundle (directories recursively), with a
 * debounce, calling back once things are quiet. Design: docs/server.md ("Reload"). */
#ifndef MP_WATCH_H
#define MP_WATCH_H

#include <stddef.h>

struct event_base;
typedef struct mp_watch mp_watch;

/* Watches each path (a file or a directory tree) and its parent directory (so that replacing
 * the path itself, by rename or symbolic link, is seen too). on_change runs on base's thread
 * debounce_ms after the last change of a burst. NULL and err on failure. */
mp_watch *mp_watch_new(struct event_base *base, const char *const *paths, int npaths,
                       unsigned debounce_ms, void (*on_change)(void *arg), void *arg, char *err,
                       size_t errlen);
void mp_watch_free(mp_watch *w); /* NULL is fine */

#endif
