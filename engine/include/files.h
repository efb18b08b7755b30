/* files.h: finding and reading the files of a mesh or a bundle: sorted directory walks and
 * whole-file reads with a size cap, each problem reported as a diagnostic naming the path; and
 * writing outputs without destroying what they replace. The rules (regular files only, symbolic
 * links kept inside the tree): docs/mesh-format.md; outputs: docs/cli.md ("Outputs"). */
#ifndef MP_FILES_H
#define MP_FILES_H

#pragma GCC visibility push(default) /* the engine's interface: exported */

#include "diag.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/types.h>

/* A list of paths; owns the strings. Zero-initialise, then mp_pathlist_free. */
typedef struct {
	char **v;
	uint32_t n, cap;
} mp_pathlist;

/* What a walk does with a symbolic link that leads outside the directory it walks (the tree
 * the user named). Zero-initialised, or NULL where one is taken: refuse it. */
typedef struct {
	int follow_symlinks;     /* 1: read it like a file of the tree */
	const char *follow_hint; /* else appended to the refusal, e.g. "--follow-symlinks reads
	                          * it"; NULL: nothing */
} mp_walk_opts;

/* Appends to out the regular files under dir (recursively, at most 32 levels) whose names end
 * in one of suffixes (a NULL-terminated list), in sorted order. Names starting with '.' are
 * skipped and symbolic links to directories are not followed. Nothing is opened but
 * directories: an entry with a wanted name that is not a regular file (a FIFO, a device, a
 * socket, a dangling link) or that is a symbolic link out of dir (unless o allows it) is
 * reported into d and left out. Unreadable directories are reported too. o may be NULL.
 * Returns -1 when out of memory, else 0. */
int mp_files_walk_opts(const char *dir, const char *const *suffixes, const mp_walk_opts *o,
                       mp_pathlist *out, mp_diags *d);
/* mp_files_walk_opts with o NULL. */
int mp_files_walk(const char *dir, const char *const *suffixes, mp_pathlist *out, mp_diags *d);
/* The order of a walk, for paths relative to the directory walked: component by component,
 * each compared as strcmp does, so "a/b.lua" comes before "a.lua" (a directory's files before
 * the names after it). <0, 0, >0 as strcmp. */
int mp_files_path_cmp(const char *a, const char *b);
/* Appends a copy of path; -1 when out of memory. */
int mp_pathlist_add(mp_pathlist *l, const char *path);
void mp_pathlist_free(mp_pathlist *l);

/* Is path a symbolic link that leads outside dir, which o does not allow? Then reports it into
 * d (naming path and dir, never what the link leads to) and returns -1; else 0. */
int mp_files_check_inside(const char *dir, const char *path, const mp_walk_opts *o, mp_diags *d);

/* Opens path for reading if it is a regular file, without blocking on a FIFO and without
 * opening a device. Returns a descriptor (close-on-exec, blocking; the caller closes it) with
 * its status in *st, or -1 with the reason in why ("is a FIFO, not a regular file", or
 * strerror's text). */
int mp_files_open(const char *path, struct stat *st, char *why, size_t whylen);

/* Reads from fd until len bytes or the end of the file, retrying interrupted reads. Returns the
 * bytes read (fewer than len at the end of the file), or -1 with errno set. */
ssize_t mp_files_read_fd(int fd, void *buf, size_t len);

/* As mp_files_open, refusing a file over max bytes ("file is N bytes, over the M-byte limit for
 * one file ..."): the checks of mp_files_read, for callers that read the file themselves. */
int mp_files_open_max(const char *path, size_t max, struct stat *st, char *why, size_t whylen);

/* Reads the whole regular file at path (as mp_files_open), refusing one over max bytes. On
 * success *buf holds *len bytes plus a NUL (the caller frees it with mp_free) and 0 is
 * returned; otherwise -1 and the reason in d. */
int mp_files_read(const char *path, size_t max, char **buf, size_t *len, mp_diags *d);

/* "a FIFO", "a directory", "a device", "a socket", "a symbolic link", "a regular file" or
 * "an unknown kind of file", for messages. */
const char *mp_files_kind(mode_t mode);

/* Does name end in suffix? */
int mp_has_suffix(const char *name, const char *suffix);

/* ---- outputs: every file meshpol writes (compile -o, audit -o, keygen) ----
 *
 * An output never destroys what it replaces (docs/cli.md, "Outputs"). By what path names:
 *   "-", /dev/stdout, /dev/stderr, /dev/fd/N, /proc/self/fd/N: that descriptor of the process,
 *     written as it is (like a shell redirection; nothing is created or renamed);
 *   a regular file or nothing: a temporary file in the same directory, fsynced and renamed over
 *     the target by mp_out_commit, so a reader sees the old file or the new one, never half of
 *     one; an existing file keeps its mode and, where permitted, its owner and group (not its
 *     other hard links, ACLs or extended attributes: the target is a new file);
 *   a symbolic link: followed, however many; the file it leads to is replaced, the link stays;
 *   a character device (/dev/null, a terminal): opened for writing and written directly, never
 *     created, truncated or renamed over;
 *   a FIFO: the same, once a reader has opened it. It is opened without blocking, retried for
 *     at most MP_OUT_FIFO_WAIT_MS, then refused ("no reader"), so a FIFO nobody reads cannot
 *     hang the run; once open, writes block while the reader reads, as a pipe does;
 *   a directory, a block device or a socket: refused, naming it.
 * Lifetime: mp_out_open, writes to mp_out_file, then exactly one of mp_out_commit (keep) or
 * mp_out_discard (leave the target as it was), either of which frees the output. */
typedef struct mp_out mp_out;

#define MP_OUT_FIFO_WAIT_MS 5000

enum {
	/* A new file only: a path that exists in any form (even a dangling symbolic link) is
	 * refused ("already exists; refusing to overwrite it"), and no descriptor name is taken.
	 * The file is created in place (O_EXCL) with the mode given, and removed by
	 * mp_out_discard. For keys, which are never overwritten. */
	MP_OUT_NEW = 1,
};

/* Opens path for writing as described above. mode: the permissions of a new file (the umask
 * applies); flags: 0 or MP_OUT_NEW. Returns NULL with "PATH: reason" in err when path cannot be
 * written (a missing directory, a directory, a FIFO without a reader, no permission, ...):
 * the path the caller was given is at fault, which the CLI reports as an input error. */
mp_out *mp_out_open(const char *path, mode_t mode, int flags, char *err, size_t errlen);
/* The stream to write to; valid until mp_out_commit or mp_out_discard. */
FILE *mp_out_file(const mp_out *o);
/* Finishes and frees o: flushes; for a file, fsyncs it, renames the temporary over the target
 * and fsyncs the directory. 0, or -1 with "PATH: reason" in err when the data could not be
 * written (a full disk, an I/O error, a target changed meanwhile into something not a regular
 * file); a replaced file is then as it was. */
int mp_out_commit(mp_out *o, char *err, size_t errlen);
/* Abandons and frees o: removes the temporary file (or the file MP_OUT_NEW made); a target
 * replaced atomically is left as it was. What was written to a descriptor, device or FIFO
 * cannot be taken back. NULL is fine. */
void mp_out_discard(mp_out *o);

#pragma GCC visibility pop

#endif
