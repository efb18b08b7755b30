/* filewatch.c: watching the model's and the bundle's files with inotify (see filewatch.h for
 * what is watched and what counts). The only user of inotify in the tree: the server's --watch
 * (server/watch.c puts it on a libevent loop) and the shell's :watch (repl/repl.c polls it).
 *
 * Each path added is a root. A root has up to three kinds of watches, one entry each:
 *   TREE    a directory of the root's tree (depth 0: the root itself): every name in it counts
 *           (filtered: relevant()), and a new directory in it is watched at once;
 *   SELF    a root that is a file: any event on it counts as the root;
 *   PARENT  the root's parent directory: only events about the root's own name count.
 * One inotify watch (wd) may carry several entries: the kernel gives the same wd for the same
 * inode, so a directory that is both a tree and a parent, or the parent of two roots, has one
 * entry per role and an event is offered to each. */
#include "filewatch.h"
#include "alloc.h"
#include "files.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define DIR_EVENTS                                                                                 \
	(IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_CLOSE_WRITE | IN_ATTRIB |        \
	 IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR)
#define FILE_EVENTS (IN_CLOSE_WRITE | IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF)
#define MAX_DEPTH   32   /* as the loaders' walk (files.c) */
#define MAX_WATCHES 4096 /* entries; a bundle with more directories is not one to watch */

typedef enum { W_TREE, W_SELF, W_PARENT } watch_kind;

typedef struct {
	int wd;
	watch_kind kind;
	uint32_t root;  /* index into roots */
	uint32_t depth; /* W_TREE: levels below the root */
	unsigned gen;   /* the arm that made or confirmed it (stale ones are removed) */
	char *dir;      /* W_TREE: the directory; W_SELF: the file; W_PARENT: the parent */
} entry;

typedef struct {
	char *path;   /* as given, trailing slashes removed */
	char *parent; /* its directory; NULL: none to watch ("/", ".", "..") */
	char *name;   /* its last component */
	int tag;
	int is_dir; /* when last watched */
} root;

struct mp_filewatch {
	int fd;
	unsigned debounce_ms;
	root *roots;
	uint32_t nroots, caproots;
	entry *e;
	uint32_t n, cap;
	unsigned gen;
	char **changed;
	uint32_t nchanged, capchanged;
	int tags;
	int pending;      /* a change counted since the last clear (even one not recorded: OOM) */
	int64_t quiet_at; /* CLOCK_MONOTONIC ms at which the burst is due */
};

/* Errors: the first one is kept (err starts empty at every entry point), later ones dropped. */
__attribute__((format(printf, 3, 4))) static void set_err(char *err, size_t errlen, const char *fmt,
                                                          ...)
{
	va_list ap;
	if (!errlen || *err)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

mp_filewatch *mp_filewatch_new(unsigned debounce_ms, char *err, size_t errlen)
{
	mp_filewatch *w = mp_calloc(1, sizeof(*w));
	if (!w) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	w->debounce_ms = debounce_ms;
	w->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (w->fd < 0) {
		snprintf(err, errlen, "cannot watch files: inotify: %s", strerror(errno));
		mp_free(w);
		return NULL;
	}
	return w;
}

static void forget_changes(mp_filewatch *w)
{
	for (uint32_t i = 0; i < w->nchanged; i++)
		mp_free(w->changed[i]);
	w->nchanged = 0;
	w->tags = 0;
	w->pending = 0;
}

void mp_filewatch_free(mp_filewatch *w)
{
	if (!w)
		return;
	for (uint32_t i = 0; i < w->n; i++)
		mp_free(w->e[i].dir);
	mp_free(w->e);
	for (uint32_t i = 0; i < w->nroots; i++) {
		mp_free(w->roots[i].path);
		mp_free(w->roots[i].parent);
		mp_free(w->roots[i].name);
	}
	mp_free(w->roots);
	forget_changes(w);
	mp_free(w->changed);
	close(w->fd);
	mp_free(w);
}

int mp_filewatch_fd(const mp_filewatch *w)
{
	return w->fd;
}

/* Does entry e watch a directory for its files: a tree's, or the one holding a file root? */
static int holds_files(const mp_filewatch *w, const entry *e)
{
	return e->kind == W_TREE || (e->kind == W_PARENT && !w->roots[e->root].is_dir);
}

uint32_t mp_filewatch_ndirs(const mp_filewatch *w)
{
	uint32_t n = 0;
	for (uint32_t i = 0; i < w->n; i++) {
		if (!holds_files(w, &w->e[i]))
			continue;
		uint32_t j = 0;
		while (j < i && (!holds_files(w, &w->e[j]) || w->e[j].wd != w->e[i].wd))
			j++;
		n += j == i;
	}
	return n;
}

/* Watches path in the role given, or confirms the entry that has it already. 0; 1 when path
 * is a directory below a root that is gone already; -1 (err) when it cannot be watched. */
static int add_entry(mp_filewatch *w, const char *path, watch_kind kind, uint32_t r, uint32_t depth,
                     char *err, size_t errlen)
{
	int wd = inotify_add_watch(w->fd, path, kind == W_SELF ? FILE_EVENTS : DIR_EVENTS);
	if (wd < 0 && kind == W_TREE && depth > 0 && (errno == ENOENT || errno == ENOTDIR))
		return 1; /* gone since it was listed: its parent saw it go */
	if (wd < 0) {
		set_err(err, errlen, "cannot watch %s: %s", path, strerror(errno));
		return -1;
	}
	for (uint32_t i = 0; i < w->n; i++) {
		entry *e = &w->e[i];
		if (e->wd != wd || e->kind != kind || e->root != r)
			continue;
		if (strcmp(e->dir, path)) { /* the same directory, reached by another path now */
			char *dir = mp_strdup(path);
			if (!dir)
				goto oom;
			mp_free(e->dir);
			e->dir = dir;
		}
		e->depth = depth;
		e->gen = w->gen;
		return 0;
	}
	if (w->n == MAX_WATCHES) {
		set_err(err, errlen, "cannot watch %s: more than %d watches", path, MAX_WATCHES);
		return -1;
	}
	if (mp_grow((void **)&w->e, &w->cap, sizeof(*w->e), w->n, 16) < 0)
		goto oom;
	char *dir = mp_strdup(path);
	if (!dir)
		goto oom;
	w->e[w->n++] = (entry){wd, kind, r, depth, w->gen, dir};
	return 0;
oom:
	set_err(err, errlen, "cannot watch %s: out of memory", path);
	return -1;
}

/* dir and every directory under it (not dot directories, not through symbolic links: as the
 * loaders walk). The first error is kept in err; the rest of the tree is still watched. */
static int add_tree(mp_filewatch *w, const char *dir, uint32_t r, uint32_t depth, char *err,
                    size_t errlen)
{
	int added = add_entry(w, dir, W_TREE, r, depth, err, errlen);
	if (added)
		return added < 0 ? -1 : 0;
	if (depth >= MAX_DEPTH)
		return 0;
	DIR *dp = opendir(dir);
	struct dirent *de;
	int rc = 0;
	while (dp && (de = readdir(dp))) {
		char path[PATH_MAX];
		struct stat st;
		if (de->d_name[0] == '.')
			continue;
		if (snprintf(path, sizeof(path), "%s/%s", dir, de->d_name) >= (int)sizeof(path))
			continue;
		if (lstat(path, &st) == 0 && S_ISDIR(st.st_mode) &&
		    add_tree(w, path, r, depth + 1, err, errlen) < 0)
			rc = -1;
	}
	if (dp)
		closedir(dp);
	return rc;
}

/* Every watch of root r. missing_ok: a root that is not there now (replaced halfway) is left to
 * its parent's watch, which sees it come back. */
static int watch_root(mp_filewatch *w, uint32_t r, int missing_ok, char *err, size_t errlen)
{
	const root *rt = &w->roots[r];
	struct stat st;
	int rc = 0;
	if (stat(rt->path, &st) < 0 && !missing_ok) {
		set_err(err, errlen, "cannot watch %s: %s", rt->path, strerror(errno));
		return -1;
	}
	if (rt->parent && add_entry(w, rt->parent, W_PARENT, r, 0, err, errlen) < 0)
		rc = -1;
	if (stat(rt->path, &st) < 0)
		return rc;
	w->roots[r].is_dir = S_ISDIR(st.st_mode);
	if ((S_ISDIR(st.st_mode) ? add_tree(w, rt->path, r, 0, err, errlen)
	                         : add_entry(w, rt->path, W_SELF, r, 0, err, errlen)) < 0)
		rc = -1;
	return rc;
}

/* Removes the entries the last arm did not make or confirm, and their watches unless another
 * entry still needs the same wd. */
static void prune(mp_filewatch *w)
{
	uint32_t k = 0;
	for (uint32_t i = 0; i < w->n; i++) {
		if (w->e[i].gen == w->gen) {
			w->e[k++] = w->e[i];
			continue;
		}
		int shared = 0;
		for (uint32_t j = 0; j < w->n && !shared; j++)
			shared = w->e[j].gen == w->gen && w->e[j].wd == w->e[i].wd;
		if (!shared) /* EINVAL when the kernel removed it already (its inode is gone) */
			inotify_rm_watch(w->fd, w->e[i].wd);
		mp_free(w->e[i].dir);
	}
	w->n = k;
}

int mp_filewatch_add(mp_filewatch *w, const char *path, int tag, char *err, size_t errlen)
{
	if (errlen)
		*err = '\0';
	size_t len = strlen(path);
	while (len > 1 && path[len - 1] == '/')
		len--;
	if (mp_grow((void **)&w->roots, &w->caproots, sizeof(*w->roots), w->nroots, 4) < 0)
		goto oom;
	root *rt = &w->roots[w->nroots];
	*rt = (root){.tag = tag};
	if (!(rt->path = mp_strndup(path, len)))
		goto oom;
	const char *slash = strrchr(rt->path, '/');
	const char *name = slash ? slash + 1 : rt->path;
	rt->name = mp_strdup(name);
	if (strcmp(name, ".") && strcmp(name, "..") && *name) {
		if (!slash)
			rt->parent = mp_strdup(".");
		else
			rt->parent = mp_strndup(rt->path,
			                        slash == rt->path ? 1 : (size_t)(slash - rt->path));
		if (!rt->parent)
			goto oom_root;
	}
	if (!rt->name)
		goto oom_root;
	uint32_t r = w->nroots++;
	if (watch_root(w, r, 0, err, errlen) < 0) { /* the root goes, with what it watched */
		w->nroots--;
		for (uint32_t i = 0; i < w->n; i++)
			if (w->e[i].root == r)
				w->e[i].gen = w->gen - 1;
		prune(w);
		mp_free(rt->path);
		mp_free(rt->parent);
		mp_free(rt->name);
		return -1;
	}
	return 0;
oom_root:
	mp_free(rt->path);
	mp_free(rt->parent);
	mp_free(rt->name);
oom:
	set_err(err, errlen, "cannot watch %s: out of memory", path);
	return -1;
}

static void record(mp_filewatch *w, const char *path, int tag)
{
	w->pending = 1;
	w->quiet_at = now_ms() + w->debounce_ms;
	w->tags |= tag;
	for (uint32_t i = 0; i < w->nchanged; i++)
		if (!strcmp(w->changed[i], path))
			return;
	if (mp_grow((void **)&w->changed, &w->capchanged, sizeof(*w->changed), w->nchanged, 16) < 0)
		return;
	if ((w->changed[w->nchanged] = mp_strdup(path)))
		w->nchanged++;
}

/* Is this name in a tree directory a file the loaders read? Dot files and editor backups never
 * are; a model tree holds YAML only. */
static int relevant(int tag, const char *name, int is_dir)
{
	size_t n = strlen(name);
	if (name[0] == '.' || (n && name[n - 1] == '~'))
		return 0;
	if (is_dir || (tag & MP_FILEWATCH_BUNDLE))
		return 1;
	return mp_has_suffix(name, ".yaml") || mp_has_suffix(name, ".yml");
}

/* The event, offered to entry i (whose wd it carries). 1 when it counted. */
static int on_event(mp_filewatch *w, uint32_t i, const struct inotify_event *ev)
{
	const entry *e = &w->e[i];
	const root *rt = &w->roots[e->root];
	const char *name = ev->len ? ev->name : NULL;
	if (e->kind == W_PARENT) {
		if (!name || strcmp(name, rt->name))
			return 0;
		record(w, rt->path, rt->tag);
		return 1;
	}
	if (e->kind == W_SELF || !name) { /* the file root, or a tree directory itself */
		if (e->kind == W_TREE && e->depth > 0)
			return 0; /* its parent directory reports it by name */
		record(w, rt->path, rt->tag);
		return 1;
	}
	int is_dir = (ev->mask & IN_ISDIR) != 0;
	if (!relevant(rt->tag, name, is_dir))
		return 0;
	char path[PATH_MAX];
	if (snprintf(path, sizeof(path), "%s/%s", e->dir, name) >= (int)sizeof(path))
		return 0;
	if (is_dir && (ev->mask & (IN_CREATE | IN_MOVED_TO))) {
		char err[256];
		uint32_t r = e->root, depth = e->depth + 1; /* add_tree may move w->e */
		if (depth <= MAX_DEPTH)
			add_tree(w, path, r, depth, err, sizeof(err));
	}
	record(w, path, rt->tag);
	return 1;
}

uint32_t mp_filewatch_read(mp_filewatch *w)
{
	_Alignas(struct inotify_event) char buf[8192];
	uint32_t counted = 0;
	for (;;) {
		ssize_t n = read(w->fd, buf, sizeof(buf));
		if (n <= 0)
			break;
		for (char *p = buf; p < buf + n;) {
			const struct inotify_event *ev = (const struct inotify_event *)p;
			p += sizeof(*ev) + ev->len;
			if (ev->mask &
			    IN_Q_OVERFLOW) { /* events were lost: anything may have changed */
				for (uint32_t r = 0; r < w->nroots; r++)
					record(w, w->roots[r].path, w->roots[r].tag);
				counted++;
				continue;
			}
			if (ev->mask & IN_IGNORED)
				continue;
			int hit = 0;
			for (uint32_t i = 0; i < w->n; i++)
				if (w->e[i].wd == ev->wd && w->e[i].gen == w->gen)
					hit |= on_event(w, i, ev);
			counted += (uint32_t)hit;
		}
	}
	return counted;
}

int mp_filewatch_wait_ms(const mp_filewatch *w)
{
	if (!w->pending)
		return -1;
	int64_t left = w->quiet_at - now_ms();
	return left <= 0 ? 0 : left > INT_MAX ? INT_MAX : (int)left;
}

uint32_t mp_filewatch_changes(const mp_filewatch *w, const char *const **paths, int *tags)
{
	*paths = (const char *const *)w->changed;
	*tags = w->tags;
	return w->nchanged;
}

int mp_filewatch_clear(mp_filewatch *w, char *err, size_t errlen)
{
	int rc = 0;
	if (errlen)
		*err = '\0';
	forget_changes(w);
	w->gen++;
	for (uint32_t r = 0; r < w->nroots; r++)
		if (watch_root(w, r, 1, err, errlen) < 0)
			rc = -1;
	prune(w); /* what the paths no longer lead to */
	return rc;
}
