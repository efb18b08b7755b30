/* files.c: directory walks and whole-file reads (see files.h). Only regular files are read, and
 * a FIFO is never opened in blocking mode, so a FIFO in a tree cannot hang a compile. */
#include "files.h"
#include "alloc.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_DIR_DEPTH 32

int mp_has_suffix(const char *name, const char *suffix)
{
	size_t n = strlen(name), k = strlen(suffix);
	return n > k && !strcmp(name + n - k, suffix);
}

static int push_owned(mp_pathlist *l, char *p)
{
	if (l->n == l->cap) {
		uint32_t ncap = l->cap ? l->cap * 2 : 32;
		char **nv = mp_realloc(l->v, ncap * sizeof(*nv));
		if (!nv)
			return -1;
		l->v = nv;
		l->cap = ncap;
	}
	l->v[l->n++] = p;
	return 0;
}

int mp_pathlist_add(mp_pathlist *l, const char *path)
{
	char *p = mp_strdup(path);
	if (!p || push_owned(l, p) < 0) {
		mp_free(p);
		return -1;
	}
	return 0;
}

void mp_pathlist_free(mp_pathlist *l)
{
	for (uint32_t i = 0; i < l->n; i++)
		mp_free(l->v[i]);
	mp_free(l->v);
	memset(l, 0, sizeof(*l));
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

const char *mp_files_kind(mode_t mode)
{
	if (S_ISREG(mode))
		return "a regular file";
	if (S_ISDIR(mode))
		return "a directory";
	if (S_ISFIFO(mode))
		return "a FIFO";
	if (S_ISCHR(mode) || S_ISBLK(mode))
		return "a device";
	if (S_ISSOCK(mode))
		return "a socket";
	if (S_ISLNK(mode))
		return "a symbolic link";
	return "an unknown kind of file";
}

/* Does the resolved path lie inside the resolved directory root? */
static int resolved_inside(const char *root, const char *path)
{
	size_t n = strlen(root);
	if (n == 1 && root[0] == '/')
		return 1;
	return n && !strncmp(path, root, n) && (path[n] == '/' || !path[n]);
}

/* The check of one symbolic link: root is dir resolved ("" when it cannot be, so nothing is
 * inside; NULL when links may go anywhere). A link that resolves to nothing passes: reading
 * it reports that. */
static int link_inside(const char *dir, const char *root, const char *path, const mp_walk_opts *o,
                       mp_diags *d)
{
	char target[PATH_MAX];
	if (!root || !realpath(path, target) || resolved_inside(root, target))
		return 0;
	mp_diags_error(d, path, 0, 0, "symbolic link to a file outside %s, not read%s%s%s", dir,
	               o && o->follow_hint ? " (" : "", o && o->follow_hint ? o->follow_hint : "",
	               o && o->follow_hint ? ")" : "");
	return -1;
}

int mp_files_check_inside(const char *dir, const char *path, const mp_walk_opts *o, mp_diags *d)
{
	struct stat lst;
	char root[PATH_MAX];
	if (lstat(path, &lst) < 0 || !S_ISLNK(lst.st_mode) || (o && o->follow_symlinks))
		return 0;
	return link_inside(dir, realpath(dir, root) ? root : "", path, o, d);
}

/* Is the entry p, a name the walk wants, a file it may read? Reports why not. lst is its
 * lstat. */
static int readable_entry(const char *dir, const char *root, const char *p, const struct stat *lst,
                          const mp_walk_opts *o, mp_diags *d)
{
	struct stat st = *lst;
	if (S_ISLNK(lst->st_mode)) {
		if (stat(p, &st) < 0) {
			mp_diags_error(d, p, 0, 0, "cannot read: %s", strerror(errno));
			return 0;
		}
		if (link_inside(dir, root, p, o, d) < 0)
			return 0;
	}
	if (!S_ISREG(st.st_mode)) {
		mp_diags_error(d, p, 0, 0, "is %s, not a regular file", mp_files_kind(st.st_mode));
		return 0;
	}
	return 1;
}

static int wanted(const char *p, const char *const *suffixes)
{
	for (const char *const *s = suffixes; *s; s++)
		if (mp_has_suffix(p, *s))
			return 1;
	return 0;
}

/* dir is the directory the user named, root its resolved path (NULL: links may go anywhere);
 * here is the directory being read, depth levels below dir. */
static int walk(const char *dir, const char *root, const char *here_dir,
                const char *const *suffixes, const mp_walk_opts *o, int depth, mp_pathlist *out,
                mp_diags *d)
{
	int rc = 0;
	mp_pathlist here = {0};
	DIR *dp = opendir(here_dir);
	if (!dp) {
		mp_diags_error(d, here_dir, 0, 0, "cannot read directory: %s", strerror(errno));
		return 0;
	}
	struct dirent *e;
	size_t dlen = strlen(here_dir);
	while ((e = readdir(dp))) {
		if (e->d_name[0] == '.')
			continue;
		size_t len = dlen + strlen(e->d_name) + 2;
		char *p = mp_malloc(len);
		if (!p || push_owned(&here, p) < 0) {
			mp_free(p);
			rc = -1;
			break;
		}
		snprintf(p, len, "%s%s%s", here_dir, dlen && here_dir[dlen - 1] == '/' ? "" : "/",
		         e->d_name);
	}
	closedir(dp);
	if (here.n)
		qsort(here.v, here.n, sizeof(char *), cmp_str);
	for (uint32_t i = 0; i < here.n && rc == 0; i++) {
		struct stat st, lst;
		const char *p = here.v[i];
		if (lstat(p, &lst) < 0) /* gone since readdir */
			continue;
		if (S_ISDIR(lst.st_mode)) {
			if (depth >= MAX_DIR_DEPTH)
				mp_diags_error(d, p, 0, 0, "directories nested too deep");
			else
				rc = walk(dir, root, p, suffixes, o, depth + 1, out, d);
			continue;
		}
		if (S_ISLNK(lst.st_mode) && stat(p, &st) == 0 && S_ISDIR(st.st_mode))
			continue; /* links to directories are not followed */
		if (wanted(p, suffixes) && readable_entry(dir, root, p, &lst, o, d))
			rc = mp_pathlist_add(out, p);
	}
	mp_pathlist_free(&here);
	return rc;
}

int mp_files_walk_opts(const char *dir, const char *const *suffixes, const mp_walk_opts *o,
                       mp_pathlist *out, mp_diags *d)
{
	char root[PATH_MAX];
	const char *r = NULL;
	if (!(o && o->follow_symlinks))
		r = realpath(dir, root) ? root
		                        : ""; /* "": nothing is inside, so links are refused */
	return walk(dir, r, dir, suffixes, o, 0, out, d);
}

int mp_files_walk(const char *dir, const char *const *suffixes, mp_pathlist *out, mp_diags *d)
{
	return mp_files_walk_opts(dir, suffixes, NULL, out, d);
}

int mp_files_open(const char *path, struct stat *st, char *why, size_t whylen)
{
	/* stat first, so that a device is never opened (opening some has effects); fstat after,
	 * for what was opened. O_NONBLOCK: opening a FIFO would wait for a writer. */
	int fd = -1;
	if (stat(path, st) < 0)
		goto fail_errno;
	if (!S_ISREG(st->st_mode))
		goto fail_kind;
	if ((fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)) < 0 || fstat(fd, st) < 0)
		goto fail_errno;
	if (!S_ISREG(st->st_mode))
		goto fail_kind;
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0)
		goto fail_errno;
	return fd;
fail_kind:
	snprintf(why, whylen, "is %s, not a regular file", mp_files_kind(st->st_mode));
	goto fail;
fail_errno:
	snprintf(why, whylen, "cannot read: %s", strerror(errno));
fail:
	if (fd >= 0)
		close(fd);
	return -1;
}

ssize_t mp_files_read_fd(int fd, void *buf, size_t len)
{
	size_t got = 0;
	while (got < len) {
		ssize_t n = read(fd, (char *)buf + got, len - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0)
			break;
		got += (size_t)n;
	}
	return (ssize_t)got;
}

int mp_files_read(const char *path, size_t max, char **buf, size_t *len, mp_diags *d)
{
	struct stat st;
	char why[256];
	char *b = NULL;
	size_t got = 0;
	int fd = mp_files_open(path, &st, why, sizeof(why));
	*buf = NULL;
	*len = 0;
	if (fd < 0) {
		mp_diags_error(d, path, 0, 0, "%s", why);
		goto fail;
	}
	if ((uint64_t)st.st_size > max) {
		mp_diags_error(d, path, 0, 0,
		               "file is %lld bytes, over the %zu-byte limit for one file "
		               "(split it, or raise --max-file-size)",
		               (long long)st.st_size, max);
		goto fail;
	}
	if (!(b = mp_malloc((size_t)st.st_size + 1))) {
		mp_diags_error(d, path, 0, 0, "out of memory reading %lld bytes",
		               (long long)st.st_size);
		goto fail;
	}
	ssize_t n = mp_files_read_fd(fd, b, (size_t)st.st_size); /* short if it shrank */
	if (n < 0) {
		mp_diags_error(d, path, 0, 0, "cannot read: %s", strerror(errno));
		goto fail;
	}
	got = (size_t)n;
	b[got] = '\0';
	close(fd);
	*buf = b;
	*len = got;
	return 0;
fail:
	mp_free(b);
	if (fd >= 0)
		close(fd);
	return -1;
}
