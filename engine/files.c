/* files.c: directory walks and whole-file reads (see files.h). Only regular files are read, and
 * a FIFO is never opened in blocking mode, so a FIFO in a tree cannot hang a compile. Outputs
 * replace a file by renaming a finished temporary over it, and write devices, FIFOs and the
 * process's own descriptors in place (files.h, "outputs"; docs/cli.md, "Outputs"). */
#include "files.h"
#include "alloc.h"

#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAX_DIR_DEPTH 32

int mp_has_suffix(const char *name, const char *suffix)
{
	size_t n = strlen(name), k = strlen(suffix);
	return n > k && !strcmp(name + n - k, suffix);
}

static int push_owned(mp_pathlist *l, char *p)
{
	if (mp_grow((void **)&l->v, &l->cap, sizeof(*l->v), l->n, 32) < 0)
		return -1;
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

int mp_files_path_cmp(const char *a, const char *b)
{
	for (;;) {
		size_t na = strcspn(a, "/"), nb = strcspn(b, "/");
		int c = memcmp(a, b, na < nb ? na : nb);
		if (c || na != nb)
			return c ? c : na < nb ? -1 : 1;
		if (!a[na] || !b[nb]) /* one name is a file, the other a directory: cannot be */
			return (int)(unsigned char)a[na] - (int)(unsigned char)b[nb];
		a += na + 1;
		b += nb + 1;
	}
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

int mp_files_open_max(const char *path, size_t max, struct stat *st, char *why, size_t whylen)
{
	int fd = mp_files_open(path, st, why, whylen);
	if (fd >= 0 && (uint64_t)st->st_size > max) {
		snprintf(why, whylen,
		         "file is %lld bytes, over the %zu-byte limit for one file "
		         "(split it, or raise --max-file-size)",
		         (long long)st->st_size, max);
		close(fd);
		fd = -1;
	}
	return fd;
}

int mp_files_read(const char *path, size_t max, char **buf, size_t *len, mp_diags *d)
{
	struct stat st;
	char why[256];
	char *b = NULL;
	size_t got = 0;
	int fd = mp_files_open_max(path, max, &st, why, sizeof(why));
	*buf = NULL;
	*len = 0;
	if (fd < 0) {
		mp_diags_error(d, path, 0, 0, "%s", why);
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

/* ---- outputs (files.h) ---- */

struct mp_out {
	FILE *f;
	int borrowed;          /* stdout or stderr itself: flushed, never closed */
	int sync;              /* a regular file of ours: fsync it and its directory */
	int made;              /* MP_OUT_NEW: the file at path was created here */
	char path[PATH_MAX];   /* as given, for messages */
	char target[PATH_MAX]; /* what the temporary replaces: path with its links followed */
	char tmp[PATH_MAX];    /* the temporary beside target; "" when written in place */
};

static void out_error(char *err, size_t errlen, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void out_error(char *err, size_t errlen, const char *path, const char *fmt, ...)
{
	va_list ap;
	int n = snprintf(err, errlen, "%s: ", path);
	if (n < 0 || (size_t)n >= errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
	va_end(ap);
}

/* The descriptor a path names as a shell redirection would: "-" and /dev/stdout are 1,
 * /dev/stderr 2, /dev/fd/N and /proc/self/fd/N are N; -1 for any other path. Opening them by
 * name would reopen the file behind them from its start (or replace it); writing the descriptor
 * keeps the position and O_APPEND of whoever opened it. */
static int descriptor_of(const char *path)
{
	static const char *const prefixes[] = {"/dev/fd/", "/proc/self/fd/"};
	if (!strcmp(path, "-") || !strcmp(path, "/dev/stdout"))
		return 1;
	if (!strcmp(path, "/dev/stderr"))
		return 2;
	for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++) {
		size_t n = strlen(prefixes[i]);
		long fd = 0;
		if (strncmp(path, prefixes[i], n) || !path[n])
			continue;
		for (const char *p = path + n; *p; p++) {
			if (*p < '0' || *p > '9' || fd > (INT_MAX - 9) / 10)
				return -1;
			fd = fd * 10 + (*p - '0');
		}
		return (int)fd;
	}
	return -1;
}

/* Follows the symbolic links of path (at most 40, as the kernel does) into out: the file they
 * lead to, which exists and is not a link, or does not exist (a missing path, a dangling
 * link). 0, or -1 with errno. */
static int follow_links(const char *path, char *out, size_t outlen)
{
	char link[PATH_MAX], next[PATH_MAX];
	struct stat st;
	int w = snprintf(out, outlen, "%s", path);
	if (w < 0 || (size_t)w >= outlen)
		goto too_long;
	for (int hops = 0;; hops++) {
		if (lstat(out, &st) < 0) {
			if (errno == ENOENT)
				return 0; /* nothing there yet: the file to create */
			goto fail;
		}
		if (!S_ISLNK(st.st_mode))
			return 0;
		if (hops == 40) {
			errno = ELOOP;
			goto fail;
		}
		ssize_t n = readlink(out, link, sizeof(link) - 1);
		if (n < 0)
			goto fail;
		if ((size_t)n >= sizeof(link) - 1)
			goto too_long;
		link[n] = '\0';
		const char *slash = strrchr(out, '/');
		if (link[0] == '/' || !slash)
			w = snprintf(next, sizeof(next), "%s", link);
		else
			w = snprintf(next, sizeof(next), "%.*s/%s", (int)(slash - out), out, link);
		if (w < 0 || (size_t)w >= sizeof(next) || (size_t)w >= outlen)
			goto too_long;
		memcpy(out, next, (size_t)w + 1);
	}
too_long:
	errno = ENAMETOOLONG;
fail:
	return -1;
}

/* The directory of path into buf: "." for a bare name, "/" for a name at the root. */
static const char *dir_of(const char *path, char *buf, size_t len)
{
	const char *slash = strrchr(path, '/');
	if (!slash)
		snprintf(buf, len, ".");
	else if (slash == path)
		snprintf(buf, len, "/");
	else
		snprintf(buf, len, "%.*s", (int)(slash - path), path);
	return buf;
}

/* fsync the directory holding path, so that a rename or a creation in it survives a crash. */
static int sync_dir_of(const char *path)
{
	char dir[PATH_MAX];
	int fd = open(dir_of(path, dir, sizeof(dir)), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	int rc = fsync(fd) < 0 && errno != EINVAL ? -1 : 0;
	close(fd);
	return rc;
}

/* Creates o->tmp beside o->target: ".NAME.PID-N.tmp", hidden from directory walks. For an
 * existing target (old), the temporary gets its owner where permitted and its mode; else mode
 * under the umask. Returns the descriptor, or -1 with errno. */
static int make_temp(mp_out *o, const struct stat *old, mode_t mode)
{
	static unsigned counter;
	const char *slash = strrchr(o->target, '/');
	const char *base = slash ? slash + 1 : o->target;
	int dirlen = slash ? (int)(slash - o->target) : 0;
	int fd = -1, e;
	for (int attempt = 0; fd < 0 && attempt < 100; attempt++) {
		struct timespec now;
		clock_gettime(CLOCK_REALTIME, &now);
		unsigned n = ++counter ^ (unsigned)now.tv_nsec;
		int w = slash ? snprintf(o->tmp, sizeof(o->tmp), "%.*s/.%s.%ld-%08x.tmp", dirlen,
		                         o->target, base, (long)getpid(), n)
		              : snprintf(o->tmp, sizeof(o->tmp), ".%s.%ld-%08x.tmp", base,
		                         (long)getpid(), n);
		if (w < 0 || (size_t)w >= sizeof(o->tmp)) {
			errno = ENAMETOOLONG;
			goto fail;
		}
		fd = open(o->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, old ? 0600 : mode);
		if (fd < 0 && errno != EEXIST)
			goto fail;
	}
	if (fd < 0) /* 100 names taken: EEXIST */
		goto fail;
	if (old) {
		/* the owner first: changing it may clear set-id bits that the mode then restores */
		if (fchown(fd, old->st_uid, old->st_gid) < 0 &&
		    fchown(fd, (uid_t)-1, old->st_gid) < 0) {
			/* not permitted: the file becomes ours, as any file we create would */
		}
		if (fchmod(fd, old->st_mode & 07777) < 0)
			goto fail;
	}
	return fd;
fail:
	e = errno;
	if (fd >= 0) {
		close(fd);
		unlink(o->tmp);
	}
	o->tmp[0] = '\0';
	errno = e;
	return -1;
}

/* Opens a character device or a FIFO to write in place: no O_CREAT, no O_TRUNC, never a
 * controlling terminal. A FIFO is opened without blocking, retried until a reader opens it or
 * MP_OUT_FIFO_WAIT_MS pass. want is the kind stat saw: what is opened must still be that kind.
 * Returns the descriptor (blocking from now on) or -1 with the reason in err. */
static int open_in_place(const char *path, mode_t want, char *err, size_t errlen)
{
	struct stat st;
	int fd = -1, waited = 0;
	for (;;) {
		fd = open(path, O_WRONLY | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
		if (fd >= 0 || errno != ENXIO || !S_ISFIFO(want) || waited >= MP_OUT_FIFO_WAIT_MS)
			break;
		struct timespec pause = {0, 10 * 1000 * 1000};
		nanosleep(&pause, NULL);
		waited += 10;
	}
	if (fd < 0 && errno == ENXIO && S_ISFIFO(want)) {
		out_error(err, errlen, path,
		          "is a FIFO that no reader opened within %d s; not written",
		          MP_OUT_FIFO_WAIT_MS / 1000);
		goto fail;
	}
	if (fd < 0 || fstat(fd, &st) < 0)
		goto fail_errno;
	if ((st.st_mode & S_IFMT) != (want & S_IFMT)) {
		out_error(err, errlen, path, "changed into %s while being opened; not written",
		          mp_files_kind(st.st_mode));
		goto fail;
	}
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0)
		goto fail_errno;
	return fd;
fail_errno:
	out_error(err, errlen, path, "%s", strerror(errno));
fail:
	if (fd >= 0)
		close(fd);
	return -1;
}

mp_out *mp_out_open(const char *path, mode_t mode, int flags, char *err, size_t errlen)
{
	struct stat st;
	char dir[PATH_MAX];
	int fd = -1, exists, d;
	mp_out *o = mp_calloc(1, sizeof(*o));
	assert(path);
	if (!o) {
		out_error(err, errlen, path, "out of memory");
		return NULL;
	}
	if (!*path) {
		snprintf(err, errlen, "the output path is empty");
		goto fail;
	}
	if (snprintf(o->path, sizeof(o->path), "%s", path) >= (int)sizeof(o->path)) {
		errno = ENAMETOOLONG;
		goto fail_errno;
	}
	if (flags & MP_OUT_NEW) {
		fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOCTTY | O_CLOEXEC, mode);
		if (fd < 0 && errno == EEXIST) {
			out_error(err, errlen, path, "already exists; refusing to overwrite it");
			goto fail;
		}
		if (fd < 0)
			goto fail_errno;
		o->made = o->sync = 1;
		snprintf(o->target, sizeof(o->target), "%s", path);
		goto stream;
	}
	if ((d = descriptor_of(path)) == 1 || d == 2) {
		o->f = d == 1 ? stdout : stderr;
		o->borrowed = 1;
		return o;
	}
	if (d >= 0) {
		int fl = fcntl(d, F_GETFL);
		if (fl < 0)
			goto fail_errno;
		if ((fl & O_ACCMODE) == O_RDONLY) {
			out_error(err, errlen, path, "descriptor %d is open for reading only", d);
			goto fail;
		}
		if ((fd = fcntl(d, F_DUPFD_CLOEXEC, 3)) < 0)
			goto fail_errno;
		goto stream;
	}
	exists = stat(path, &st) == 0;
	if (!exists && errno != ENOENT)
		goto fail_errno;
	if (exists && S_ISDIR(st.st_mode)) {
		out_error(err, errlen, path, "is a directory");
		goto fail;
	}
	if (exists && (S_ISCHR(st.st_mode) || S_ISFIFO(st.st_mode))) {
		if ((fd = open_in_place(path, st.st_mode, err, errlen)) < 0)
			goto fail;
		goto stream;
	}
	if (exists && !S_ISREG(st.st_mode)) {
		out_error(err, errlen, path, "is %s; not written",
		          S_ISBLK(st.st_mode) ? "a block device" : mp_files_kind(st.st_mode));
		goto fail;
	}
	/* A regular file or nothing: the finished temporary will be renamed over the file that
	 * path leads to. A read-only file stays read-only for us, as fopen would have it. */
	if (follow_links(path, o->target, sizeof(o->target)) < 0)
		goto fail_errno;
	if (!*o->target || o->target[strlen(o->target) - 1] == '/') {
		out_error(err, errlen, path, "names a directory, not a file");
		goto fail;
	}
	if (exists && access(o->target, W_OK) < 0)
		goto fail_errno;
	if ((fd = make_temp(o, exists ? &st : NULL, mode)) < 0) {
		out_error(err, errlen, path, "cannot create a file in %s: %s",
		          dir_of(o->target, dir, sizeof(dir)), strerror(errno));
		goto fail;
	}
	o->sync = 1;
stream:
	if (!(o->f = fdopen(fd, "w")))
		goto fail_errno;
	return o;
fail_errno:
	out_error(err, errlen, path, "%s", strerror(errno));
fail:
	if (fd >= 0)
		close(fd);
	if (o->tmp[0])
		unlink(o->tmp);
	if (o->made)
		unlink(o->path);
	mp_free(o);
	return NULL;
}

FILE *mp_out_file(const mp_out *o)
{
	return o->f;
}

int mp_out_commit(mp_out *o, char *err, size_t errlen)
{
	struct stat st;
	int rc = -1;
	assert(o && o->f);
	FILE *f = o->f;
	o->f = NULL;
	errno = 0;
	int bad = fflush(f) != 0 || ferror(f);
	int e = errno ? errno : EIO;
	if (!bad && o->sync && fsync(fileno(f)) < 0) {
		bad = 1;
		e = errno;
	}
	if (!o->borrowed && fclose(f) != 0 && !bad) {
		bad = 1;
		e = errno;
	}
	if (bad) {
		out_error(err, errlen, o->path, "cannot write: %s", strerror(e));
		goto fail;
	}
	if (o->tmp[0]) {
		if (lstat(o->target, &st) == 0 && !S_ISREG(st.st_mode)) {
			out_error(err, errlen, o->path,
			          "%s became %s while being written; left as it is", o->target,
			          mp_files_kind(st.st_mode));
			goto fail;
		}
		if (rename(o->tmp, o->target) < 0) {
			out_error(err, errlen, o->path, "cannot replace %s: %s", o->target,
			          strerror(errno));
			goto fail;
		}
		o->tmp[0] = '\0';
	}
	if (o->sync && sync_dir_of(o->target) < 0) {
		out_error(err, errlen, o->path, "cannot sync its directory: %s", strerror(errno));
		goto fail;
	}
	rc = 0;
	goto out;
fail:
	if (o->tmp[0])
		unlink(o->tmp);
	if (o->made)
		unlink(o->path);
out:
	mp_free(o);
	return rc;
}

void mp_out_discard(mp_out *o)
{
	if (!o)
		return;
	if (o->f && o->borrowed)
		fflush(o->f);
	else if (o->f)
		fclose(o->f);
	if (o->tmp[0])
		unlink(o->tmp);
	if (o->made)
		unlink(o->path);
	mp_free(o);
}
