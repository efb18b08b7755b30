/* files.h: finding and reading the files of a mesh or a bundle: sorted directory walks and
 * whole-file reads with a size cap, each problem reported as a diagnostic naming the path. */
#ifndef MP_FILES_H
#define MP_FILES_H

#include "diag.h"

#include <stddef.h>
#include <stdint.h>

/* A list of paths; owns the strings. Zero-initialise, then mp_pathlist_free. */
typedef struct {
	char **v;
	uint32_t n, cap;
} mp_pathlist;

/* Appends to out the regular files under dir (recursively, at most 32 levels) whose names end
 * in one of suffixes (a NULL-terminated list), in sorted order. Names starting with '.' are
 * skipped and symbolic links to directories are not followed. Unreadable directories are
 * reported into d. Returns -1 when out of memory, else 0. */
int mp_files_walk(const char *dir, const char *const *suffixes, mp_pathlist *out, mp_diags *d);
/* Appends a copy of path; -1 when out of memory. */
int mp_pathlist_add(mp_pathlist *l, const char *path);
void mp_pathlist_free(mp_pathlist *l);

/* Reads the whole regular file at path, refusing one over max bytes. On success *buf holds
 * *len bytes plus a NUL (the caller frees it with mp_free) and 0 is returned; otherwise -1 and
 * the reason in d. */
int mp_files_read(const char *path, size_t max, char **buf, size_t *len, mp_diags *d);

/* Does name end in suffix? */
int mp_has_suffix(const char *name, const char *suffix);

#endif
