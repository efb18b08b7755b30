/* pathbase.c: the base directory of report locations and paths relative to it (pathbase.h).
 * Design: docs/audit-format.md ("Locations and --base"). */
#include "pathbase.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Appends the components of s to out (which holds an absolute path of len bytes), resolving "."
 * and ".." lexically. -1 when it does not fit. */
static int append_components(char *out, size_t *len, size_t outlen, const char *s)
{
	while (*s) {
		size_t n = strcspn(s, "/");
		if (n == 0 || (n == 1 && s[0] == '.')) {
			/* nothing */
		} else if (n == 2 && s[0] == '.' && s[1] == '.') {
			while (*len > 1 && out[*len - 1] != '/')
				(*len)--;
			if (*len > 1)
				(*len)--; /* the slash before the component taken off */
			out[*len] = '\0';
		} else {
			size_t need = *len + (*len > 1) + n + 1;
			if (need > outlen)
				return -1;
			if (*len > 1)
				out[(*len)++] = '/';
			memcpy(out + *len, s, n);
			*len += n;
			out[*len] = '\0';
		}
		s += n;
		while (*s == '/')
			s++;
	}
	return 0;
}

int mp_path_absolute(const char *path, char *out, size_t outlen)
{
	char cwd[PATH_MAX];
	size_t len = 1;
	if (outlen < 2)
		return -1;
	strcpy(out, "/");
	if (path[0] != '/') {
		if (!getcwd(cwd, sizeof(cwd)) || append_components(out, &len, outlen, cwd) < 0)
			return -1;
	}
	return append_components(out, &len, outlen, path);
}

int mp_path_work_tree(const char *path, char *out, size_t outlen)
{
	char dir[PATH_MAX], probe[PATH_MAX + 8];
	struct stat st;
	if (!realpath(path, dir))
		return -1;
	if (stat(dir, &st) == 0 && !S_ISDIR(st.st_mode)) {
		char *slash = strrchr(dir, '/');
		if (!slash)
			return -1;
		slash[slash == dir] = '\0'; /* "/x" -> "/" */
	}
	for (;;) {
		snprintf(probe, sizeof(probe), "%s%s.git", dir, strcmp(dir, "/") ? "/" : "");
		if (lstat(probe, &st) == 0 && (S_ISDIR(st.st_mode) || S_ISREG(st.st_mode))) {
			if (strlen(dir) + 1 > outlen)
				return -1;
			strcpy(out, dir);
			return 0;
		}
		if (!strcmp(dir, "/"))
			return -1;
		char *slash = strrchr(dir, '/');
		slash[slash == dir] = '\0';
	}
}

/* 1 with abs's part below base in out, 0 when abs is not under base, -1 when it does not fit. */
static int strip_base(const char *base, const char *abs, char *out, size_t outlen)
{
	size_t n = strlen(base);
	const char *rest;
	if (!strcmp(base, "/"))
		rest = abs + 1;
	else if (!strncmp(abs, base, n) && abs[n] == '/')
		rest = abs + n + 1;
	else
		return 0;
	if (!*rest || strlen(rest) + 1 > outlen)
		return *rest ? -1 : 0;
	strcpy(out, rest);
	return 1;
}

/* abs relative to base through "..", when the two share a directory below "/" (a checkout with
 * its neighbours: ../shared/corpus); 1 with it in out, 0 when they share only "/", -1 when it
 * does not fit. */
static int climb(const char *base, const char *abs, char *out, size_t outlen)
{
	size_t common = 0, o = 0;
	for (size_t i = 0; base[i] && base[i] == abs[i]; i++)
		if (base[i] == '/' && i > 0)
			common = i;
	if (common == 0)
		return 0;
	for (const char *p = base + common; *p; p++) /* one ".." per component of base past it */
		if (*p == '/') {
			if (o + 4 > outlen)
				return -1;
			memcpy(out + o, "../", 3);
			o += 3;
		}
	if (o + strlen(abs + common + 1) + 1 > outlen)
		return -1;
	strcpy(out + o, abs + common + 1);
	return 1;
}

int mp_path_relative(const char *base, const char *file, char *out, size_t outlen)
{
	char abs[PATH_MAX], dir[PATH_MAX], real[PATH_MAX];
	int rc;
	if (mp_path_absolute(file, abs, sizeof(abs)) < 0)
		return -1;
	if ((rc = strip_base(base, abs, out, outlen)) != 0)
		return rc;
	/* outside lexically: maybe through a symbolic link (a /tmp link into the tree) */
	snprintf(dir, sizeof(dir), "%s", abs);
	char *slash = strrchr(dir, '/');
	*slash = '\0';
	if (realpath(*dir ? dir : "/", real)) {
		size_t n = strlen(real);
		if (n + 1 + strlen(slash + 1) + 1 <= sizeof(real)) {
			snprintf(real + n, sizeof(real) - n, "%s%s", n > 1 ? "/" : "", slash + 1);
			if ((rc = strip_base(base, real, out, outlen)) != 0)
				return rc;
		}
	}
	if ((rc = climb(base, abs, out, outlen)) != 0)
		return rc;
	if (strlen(abs) + 1 > outlen)
		return -1;
	strcpy(out, abs);
	return 0;
}
