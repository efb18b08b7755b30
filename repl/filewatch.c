/* filewatch.c: inotify watches for the shell's :watch (see filewatch.h). */
#include "filewatch.h"
#include "alloc.h"
#include "files.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#define EVENTS    (IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE | IN_CREATE)
#define MAX_DEPTH 32

typedef struct {
	int wd;
	int tag;
	char *dir;
	char *only; /* watching one file: its name; NULL: every file of the directory */
} wdir;

struct mp_filewatch {
	int fd;
	wdir *dirs;
	uint32_t ndirs, capdirs;
	char **changed;
	uint32_t nchanged, capchanged;
	int tags;
};

mp_filewatch *mp_filewatch_new(char *err, size_t errlen)
{
	mp_filewatch *w = mp_calloc(1, sizeof(*w));
	if (!w) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	w->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (w->fd < 0) {
		snprintf(err, errlen, "cannot watch files: %s", strerror(errno));
		mp_free(w);
		return NULL;
	}
	return w;
}

void mp_filewatch_clear(mp_filewatch *w)
{
	for (uint32_t i = 0; i < w->nchanged; i++)
		mp_free(w->changed[i]);
	w->nchanged = 0;
	w->tags = 0;
}

void mp_filewatch_free(mp_filewatch *w)
{
	if (!w)
		return;
	for (uint32_t i = 0; i < w->ndirs; i++) {
		mp_free(w->dirs[i].dir);
		mp_free(w->dirs[i].only);
	}
	mp_free(w->dirs);
	mp_filewatch_clear(w);
	mp_free(w->changed);
	close(w->fd);
	mp_free(w);
}

int mp_filewatch_fd(const mp_filewatch *w)
{
	return w->fd;
}

uint32_t mp_filewatch_ndirs(const mp_filewatch *w)
{
	return w->ndirs;
}

static int add_dir(mp_filewatch *w, const char *dir, const char *only, int tag, char *err,
                   size_t errlen)
{
	int wd = inotify_add_watch(w->fd, dir, EVENTS | IN_ONLYDIR);
	if (wd < 0) {
		snprintf(err, errlen, "cannot watch %s: %s", dir, strerror(errno));
		return -1;
	}
	for (uint32_t i = 0; i < w->ndirs; i++)
		if (w->dirs[i].wd == wd) { /* watched already (model and bundle may share one) */
			w->dirs[i].tag |= tag;
			if (!only && w->dirs[i].only) {
				mp_free(w->dirs[i].only);
				w->dirs[i].only = NULL;
			}
			return 0;
		}
	if (w->ndirs == w->capdirs) {
		uint32_t ncap = w->capdirs ? w->capdirs * 2 : 16;
		wdir *nv = mp_realloc(w->dirs, ncap * sizeof(*nv));
		if (!nv)
			goto oom;
		w->dirs = nv;
		w->capdirs = ncap;
	}
	wdir *d = &w->dirs[w->ndirs];
	d->wd = wd;
	d->tag = tag;
	d->dir = mp_strdup(dir);
	d->only = only ? mp_strdup(only) : NULL;
	if (!d->dir || (only && !d->only)) {
		mp_free(d->dir);
		mp_free(d->only);
		goto oom;
	}
	w->ndirs++;
	return 0;
oom:
	snprintf(err, errlen, "out of memory");
	return -1;
}

static int add_tree(mp_filewatch *w, const char *dir, int tag, int depth, char *err, size_t errlen)
{
	if (add_dir(w, dir, NULL, tag, err, errlen) < 0)
		return -1;
	if (depth >= MAX_DEPTH)
		return 0;
	DIR *dp = opendir(dir);
	struct dirent *e;
	int rc = 0;
	while (dp && rc == 0 && (e = readdir(dp))) {
		char path[PATH_MAX];
		struct stat st;
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		if (lstat(path, &st) == 0 && S_ISDIR(st.st_mode))
			rc = add_tree(w, path, tag, depth + 1, err, errlen);
	}
	if (dp)
		closedir(dp);
	return rc;
}

int mp_filewatch_add(mp_filewatch *w, const char *path, int tag, char *err, size_t errlen)
{
	struct stat st;
	char dir[PATH_MAX], trimmed[PATH_MAX];
	snprintf(trimmed, sizeof(trimmed), "%s", path);
	for (size_t n = strlen(trimmed); n > 1 && trimmed[n - 1] == '/'; n--)
		trimmed[n - 1] = '\0';
	if (stat(trimmed, &st) < 0) {
		snprintf(err, errlen, "cannot watch %s: %s", trimmed, strerror(errno));
		return -1;
	}
	if (S_ISDIR(st.st_mode))
		return add_tree(w, trimmed, tag, 0, err, errlen);
	const char *slash = strrchr(trimmed, '/');
	if (!slash)
		snprintf(dir, sizeof(dir), ".");
	else
		snprintf(dir, sizeof(dir), "%.*s", (int)(slash == trimmed ? 1 : slash - trimmed),
		         trimmed);
	return add_dir(w, dir, slash ? slash + 1 : trimmed, tag, err, errlen);
}

static int record(mp_filewatch *w, const char *path, int tag)
{
	w->tags |= tag;
	for (uint32_t i = 0; i < w->nchanged; i++)
		if (!strcmp(w->changed[i], path))
			return 0;
	if (w->nchanged == w->capchanged) {
		uint32_t ncap = w->capchanged ? w->capchanged * 2 : 16;
		char **nv = mp_realloc(w->changed, ncap * sizeof(*nv));
		if (!nv)
			return 0;
		w->changed = nv;
		w->capchanged = ncap;
	}
	if (!(w->changed[w->nchanged] = mp_strdup(path)))
		return 0;
	w->nchanged++;
	return 1;
}

/* Is this a file the shell cares about? Dot files and editor backups never are; a model tree
 * holds YAML only. */
static int relevant(const wdir *d, const char *name, int is_dir)
{
	size_t n = strlen(name);
	if (name[0] == '.' || (n && name[n - 1] == '~'))
		return 0;
	if (d->only)
		return !strcmp(name, d->only);
	if (is_dir || (d->tag & MP_FILEWATCH_BUNDLE))
		return 1;
	return mp_has_suffix(name, ".yaml") || mp_has_suffix(name, ".yml");
}

uint32_t mp_filewatch_read(mp_filewatch *w)
{
	_Alignas(struct inotify_event) char buf[8192];
	uint32_t added = 0;
	char err[256];
	for (;;) {
		ssize_t n = read(w->fd, buf, sizeof(buf));
		if (n <= 0)
			break;
		for (char *p = buf; p < buf + n;) {
			const struct inotify_event *ev = (const struct inotify_event *)p;
			p += sizeof(*ev) + ev->len;
			if (!ev->len)
				continue;
			const wdir *d = NULL;
			for (uint32_t i = 0; i < w->ndirs && !d; i++)
				if (w->dirs[i].wd == ev->wd)
					d = &w->dirs[i];
			int is_dir = (ev->mask & IN_ISDIR) != 0;
			if (!d || !relevant(d, ev->name, is_dir))
				continue;
			if ((ev->mask & IN_CREATE) && !is_dir)
				continue; /* a new file counts once written (IN_CLOSE_WRITE) */
			char path[PATH_MAX];
			snprintf(path, sizeof(path), "%s/%s", d->dir, ev->name);
			int tag = d->tag;
			if (is_dir && (ev->mask & (IN_CREATE | IN_MOVED_TO)) && !d->only)
				add_tree(w, path, tag, 1, err,
				         sizeof(err)); /* d may move: copied tag */
			added += (uint32_t)record(w, path, tag);
		}
	}
	return added;
}

uint32_t mp_filewatch_changes(const mp_filewatch *w, const char *const **paths, int *tags)
{
	*paths = (const char *const *)w->changed;
	*tags = w->tags;
	return w->nchanged;
}
