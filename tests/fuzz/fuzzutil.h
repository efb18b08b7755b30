/* fuzzutil.h: helpers shared by the fuzz harnesses of tests/fuzz/ (files, a private temporary
 * directory, the repository root). How the harnesses are built and run: docs/testing.md. */
#ifndef MP_FUZZUTIL_H
#define MP_FUZZUTIL_H

#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The repository root, where the harnesses find stdlib/ and tests/data/. The Makefile and
 * tests/e2e/fuzz_replay.sh pass it; "." works when run from the root. */
#ifndef FUZZ_ROOT
#define FUZZ_ROOT "."
#endif

/* Every libFuzzer harness defines both; replay_main.c calls them without libFuzzer. */
int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A harness cannot go on (its fixture is missing): say why and stop. Not a finding. */
static inline void fuzz_die(const char *what)
{
	fprintf(stderr, "fuzz harness setup failed: %s\n", what);
	exit(2);
}

/* FUZZ_ROOT "/" rel into out. */
static inline const char *fuzz_path(char *out, size_t len, const char *rel)
{
	if (snprintf(out, len, "%s/%s", FUZZ_ROOT, rel) >= (int)len)
		fuzz_die("path too long");
	return out;
}

/* The whole file at path in malloc'd memory (NUL-terminated; *len excludes the NUL). */
static inline char *fuzz_read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t cap = 0, n = 0;
	if (!f)
		return NULL;
	for (;;) {
		if (n + 1 >= cap) {
			char *nb = realloc(buf, cap = cap ? cap * 2 : 4096);
			if (!nb) {
				free(buf);
				fclose(f);
				return NULL;
			}
			buf = nb;
		}
		size_t got = fread(buf + n, 1, cap - n - 1, f);
		n += got;
		if (got == 0)
			break;
	}
	fclose(f);
	buf[n] = '\0';
	*len = n;
	return buf;
}

/* Replaces the file at path with the size bytes at data. Dies if it cannot (a full disk is not a
 * finding of the code under test). */
static inline void fuzz_write_file(const char *path, const void *data, size_t size)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	const char *p = data;
	if (fd < 0)
		fuzz_die(path);
	while (size > 0) {
		ssize_t n = write(fd, p, size);
		if (n <= 0)
			fuzz_die(path);
		p += n;
		size -= (size_t)n;
	}
	close(fd);
}

/* A private directory under $TMPDIR (or /tmp), made on first use. The harness removes the files it
 * put there and the directory itself at exit (fuzz_tmp_cleanup, registered with atexit). */
static char fuzz_tmp_dir[512];
static const char *fuzz_tmp_files[8];
static unsigned fuzz_tmp_nfiles;

static inline void fuzz_tmp_cleanup(void)
{
	char path[1024];
	for (unsigned i = 0; i < fuzz_tmp_nfiles; i++) {
		snprintf(path, sizeof(path), "%s/%s", fuzz_tmp_dir, fuzz_tmp_files[i]);
		unlink(path);
	}
	if (fuzz_tmp_dir[0])
		rmdir(fuzz_tmp_dir);
}

/* The path of name (a plain file name the harness will create) in the private directory. */
static inline const char *fuzz_tmp_path(char *out, size_t len, const char *name)
{
	if (!fuzz_tmp_dir[0]) {
		const char *t = getenv("TMPDIR");
		snprintf(fuzz_tmp_dir, sizeof(fuzz_tmp_dir), "%s/meshpol-fuzz-XXXXXX",
		         t && *t ? t : "/tmp");
		if (!mkdtemp(fuzz_tmp_dir))
			fuzz_die("mkdtemp");
		atexit(fuzz_tmp_cleanup);
	}
	unsigned i;
	for (i = 0; i < fuzz_tmp_nfiles && strcmp(fuzz_tmp_files[i], name); i++)
		;
	if (i == fuzz_tmp_nfiles) {
		if (fuzz_tmp_nfiles == sizeof(fuzz_tmp_files) / sizeof(*fuzz_tmp_files))
			fuzz_die("too many temporary files");
		fuzz_tmp_files[fuzz_tmp_nfiles++] = name;
	}
	if (snprintf(out, len, "%s/%s", fuzz_tmp_dir, name) >= (int)len)
		fuzz_die("path too long");
	return out;
}

#endif
