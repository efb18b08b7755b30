/* files.c: directory walks and whole-file reads (see files.h). */
#include "files.h"
#include "alloc.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

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

static int walk(const char *dir, const char *const *suffixes, int depth, mp_pathlist *out,
                mp_diags *d)
{
	int rc = 0;
	mp_pathlist here = {0};
	DIR *dp = opendir(dir);
	if (!dp) {
		mp_diags_error(d, dir, 0, 0, "cannot read directory: %s", strerror(errno));
		return 0;
	}
	struct dirent *e;
	size_t dlen = strlen(dir);
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
		snprintf(p, len, "%s%s%s", dir, dlen && dir[dlen - 1] == '/' ? "" : "/", e->d_name);
	}
	closedir(dp);
	if (here.n)
		qsort(here.v, here.n, sizeof(char *), cmp_str);
	for (uint32_t i = 0; i < here.n && rc == 0; i++) {
		struct stat st, lst;
		const char *p = here.v[i];
		if (stat(p, &st) == 0 && S_ISDIR(st.st_mode)) {
			if (lstat(p, &lst) == 0 && S_ISLNK(lst.st_mode))
				continue;
			if (depth >= MAX_DIR_DEPTH)
				mp_diags_error(d, p, 0, 0, "directories nested too deep");
			else
				rc = walk(p, suffixes, depth + 1, out, d);
			continue;
		}
		for (const char *const *s = suffixes; *s; s++)
			if (mp_has_suffix(p, *s)) {
				rc = mp_pathlist_add(out, p);
				break;
			}
	}
	mp_pathlist_free(&here);
	return rc;
}

int mp_files_walk(const char *dir, const char *const *suffixes, mp_pathlist *out, mp_diags *d)
{
	return walk(dir, suffixes, 0, out, d);
}

int mp_files_read(const char *path, size_t max, char **buf, size_t *len, mp_diags *d)
{
	struct stat st;
	char *b = NULL;
	FILE *f = fopen(path, "rb");
	*buf = NULL;
	*len = 0;
	if (!f || fstat(fileno(f), &st) < 0) {
		mp_diags_error(d, path, 0, 0, "cannot read: %s", strerror(errno));
		goto fail;
	}
	if (!S_ISREG(st.st_mode)) {
		mp_diags_error(d, path, 0, 0, "not a regular file");
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
	size_t got = fread(b, 1, (size_t)st.st_size, f);
	if (ferror(f)) {
		mp_diags_error(d, path, 0, 0, "cannot read: %s", strerror(errno));
		goto fail;
	}
	b[got] = '\0';
	fclose(f);
	*buf = b;
	*len = got;
	return 0;
fail:
	mp_free(b);
	if (f)
		fclose(f);
	return -1;
}
