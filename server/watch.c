/* watch.c: --watch with inotify (see watch.h). Every burst of changes re-creates the watches
 * from the paths before calling back, so a tree that was replaced (renamed away, a symbolic link
 * pointed elsewhere) is watched where the path now leads. */
#include "watch.h"
#include "alloc.h"

#include <dirent.h>
#include <event2/event.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#define TREE_MASK                                                                                  \
	(IN_CLOSE_WRITE | IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_DELETE_SELF |   \
	 IN_MOVE_SELF | IN_ATTRIB)
#define PARENT_MASK                                                                                \
	(IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_CLOSE_WRITE | IN_ATTRIB)
#define MAX_DEPTH   16
#define MAX_WATCHES 4096

typedef struct {
	int wd;
	const char *only; /* a parent's watch: only events about this name count */
} entry;

struct mp_watch {
	struct event_base *base;
	int fd;
	struct event *ev, *timer;
	char **paths, **names; /* names: the basename of each path */
	int npaths;
	entry *e;
	size_t n, cap;
	unsigned debounce_ms;
	void (*cb)(void *);
	void *arg;
};

static int add(mp_watch *w, const char *path, uint32_t mask, const char *only)
{
	if (w->n == MAX_WATCHES)
		return -1;
	int wd = inotify_add_watch(w->fd, path, mask);
	if (wd < 0)
		return -1;
	if (w->n == w->cap) {
		size_t cap = w->cap ? w->cap * 2 : 16;
		entry *e = mp_realloc(w->e, cap * sizeof(*e));
		if (!e)
			return -1;
		w->e = e;
		w->cap = cap;
	}
	w->e[w->n++] = (entry){wd, only};
	return 0;
}

static void add_tree(mp_watch *w, const char *path, int depth)
{
	struct stat st;
	if (stat(path, &st) != 0)
		return; /* gone: the parent's watch sees it come back */
	if (add(w, path, TREE_MASK, NULL) < 0 || !S_ISDIR(st.st_mode) || depth >= MAX_DEPTH)
		return;
	DIR *d = opendir(path);
	struct dirent *de;
	while (d && (de = readdir(d))) {
		char child[PATH_MAX];
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (snprintf(child, sizeof(child), "%s/%s", path, de->d_name) >= (int)sizeof(child))
			continue;
		if (lstat(child, &st) == 0 && S_ISDIR(st.st_mode))
			add_tree(w, child, depth + 1);
	}
	if (d)
		closedir(d);
}

static void on_read(int fd, short what, void *arg);

static int arm(mp_watch *w, char *err, size_t errlen)
{
	if (w->ev)
		event_free(w->ev);
	if (w->fd >= 0)
		close(w->fd);
	w->ev = NULL;
	w->n = 0;
	if ((w->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC)) < 0) {
		snprintf(err, errlen, "--watch: inotify: %m");
		return -1;
	}
	for (int i = 0; i < w->npaths; i++) {
		char parent[PATH_MAX];
		snprintf(parent, sizeof(parent), "%s", w->paths[i]);
		char *slash = strrchr(parent, '/');
		if (!slash)
			snprintf(parent, sizeof(parent), ".");
		else if (slash == parent)
			parent[1] = '\0';
		else
			*slash = '\0';
		add(w, parent, PARENT_MASK, w->names[i]);
		add_tree(w, w->paths[i], 0);
	}
	w->ev = event_new(w->base, w->fd, EV_READ | EV_PERSIST, on_read, w);
	if (!w->ev || event_add(w->ev, NULL) < 0) {
		snprintf(err, errlen, "--watch: cannot watch (out of memory)");
		return -1;
	}
	return 0;
}

static void on_read(int fd, short what, void *arg)
{
	mp_watch *w = arg;
	char buf[8192] __attribute__((aligned(__alignof__(struct inotify_event))));
	int changed = 0;
	(void)what;
	for (;;) {
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n <= 0)
			break;
		for (char *p = buf; p < buf + n;) {
			const struct inotify_event *ev = (const struct inotify_event *)p;
			p += sizeof(*ev) + ev->len;
			if (ev->mask & IN_Q_OVERFLOW) {
				changed = 1;
				continue;
			}
			if (ev->mask & IN_IGNORED)
				continue;
			for (size_t i = 0; i < w->n; i++) {
				if (w->e[i].wd != ev->wd)
					continue;
				if (!w->e[i].only || (ev->len && !strcmp(ev->name, w->e[i].only)))
					changed = 1;
				break;
			}
		}
	}
	if (changed) {
		struct timeval tv = {w->debounce_ms / 1000, (w->debounce_ms % 1000) * 1000};
		event_add(w->timer, &tv); /* restarts the wait at every change */
	}
}

static void on_quiet(int fd, short what, void *arg)
{
	mp_watch *w = arg;
	char err[256];
	(void)fd;
	(void)what;
	if (arm(w, err, sizeof(err)) < 0)
		fprintf(stderr, "meshpol serve: %s\n", err);
	w->cb(w->arg);
}

mp_watch *mp_watch_new(struct event_base *base, const char *const *paths, int npaths,
                       unsigned debounce_ms, void (*on_change)(void *), void *arg, char *err,
                       size_t errlen)
{
	mp_watch *w = mp_calloc(1, sizeof(*w));
	if (!w)
		goto oom;
	w->base = base;
	w->fd = -1;
	w->debounce_ms = debounce_ms;
	w->cb = on_change;
	w->arg = arg;
	w->paths = mp_calloc((size_t)npaths, sizeof(char *));
	w->names = mp_calloc((size_t)npaths, sizeof(char *));
	if (!w->paths || !w->names)
		goto oom;
	w->npaths = npaths;
	for (int i = 0; i < npaths; i++) {
		/* a trailing slash would make the basename empty */
		size_t len = strlen(paths[i]);
		while (len > 1 && paths[i][len - 1] == '/')
			len--;
		if (!(w->paths[i] = mp_strndup(paths[i], len)))
			goto oom;
		const char *slash = strrchr(w->paths[i], '/');
		if (!(w->names[i] = mp_strdup(slash ? slash + 1 : w->paths[i])))
			goto oom;
	}
	if (!(w->timer = evtimer_new(base, on_quiet, w)))
		goto oom;
	if (arm(w, err, errlen) < 0)
		goto fail;
	return w;
oom:
	snprintf(err, errlen, "--watch: out of memory");
fail:
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
	if (w->fd >= 0)
		close(w->fd);
	for (int i = 0; w->paths && i < w->npaths; i++) {
		mp_free(w->paths[i]);
		if (w->names)
			mp_free(w->names[i]);
	}
	mp_free(w->paths);
	mp_free(w->names);
	mp_free(w->e);
	mp_free(w);
}
