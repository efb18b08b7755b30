/* watch.c: --watch (see watch.h): the engine's watcher polled by the control loop's libevent,
 * with a timer for its quiet time. What is watched and what counts: engine/include/filewatch.h. */
#include "watch.h"
#include "alloc.h"
#include "filewatch.h"

#include <event2/event.h>
#include <stdio.h>

struct mp_watch {
	mp_filewatch *fw;
	struct event *ev, *timer;
	void (*cb)(void *);
	void *arg;
};

/* (Re)starts the timer for the quiet time left, when a change is pending. */
static void schedule(mp_watch *w)
{
	int ms = mp_filewatch_wait_ms(w->fw);
	if (ms < 0)
		return;
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
	event_add(w->timer, &tv);
}

static void on_read(int fd, short what, void *arg)
{
	mp_watch *w = arg;
	(void)fd;
	(void)what;
	if (mp_filewatch_read(w->fw))
		schedule(w);
}

static void on_quiet(int fd, short what, void *arg)
{
	mp_watch *w = arg;
	char err[512];
	(void)fd;
	(void)what;
	int ms = mp_filewatch_wait_ms(w->fw);
	if (ms != 0) { /* a change came meanwhile: wait for it to settle */
		schedule(w);
		return;
	}
	if (mp_filewatch_clear(w->fw, err, sizeof(err)) < 0)
		fprintf(stderr, "meshpol serve: --watch: %s\n", err);
	w->cb(w->arg);
}

mp_watch *mp_watch_new(struct event_base *base, const char *model, const char *bundle,
                       unsigned debounce_ms, void (*on_change)(void *), void *arg, char *err,
                       size_t errlen)
{
	char why[512];
	mp_watch *w = mp_calloc(1, sizeof(*w));
	if (!w) {
		snprintf(err, errlen, "--watch: out of memory");
		return NULL;
	}
	w->cb = on_change;
	w->arg = arg;
	if (!(w->fw = mp_filewatch_new(debounce_ms, why, sizeof(why))) ||
	    mp_filewatch_add(w->fw, model, MP_FILEWATCH_MODEL, why, sizeof(why)) < 0 ||
	    mp_filewatch_add(w->fw, bundle, MP_FILEWATCH_BUNDLE, why, sizeof(why)) < 0)
		goto fail;
	snprintf(why, sizeof(why), "out of memory");
	if (!(w->timer = evtimer_new(base, on_quiet, w)) ||
	    !(w->ev = event_new(base, mp_filewatch_fd(w->fw), EV_READ | EV_PERSIST, on_read, w)) ||
	    event_add(w->ev, NULL) < 0)
		goto fail;
	return w;
fail:
	snprintf(err, errlen, "--watch: %s", why);
	mp_watch_free(w);
	return NULL;
}

void mp_watch_free(mp_watch *w)
{
	if (!w)
		return;
	if (w->ev)
		event_free(w->ev);
	if (w->timer)
		event_free(w->timer);
	mp_filewatch_free(w->fw);
	mp_free(w);
}
