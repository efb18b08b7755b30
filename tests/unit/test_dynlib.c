/* test_dynlib.c: engine/dynlib.c: a library is loaded by its soname and every function of the
 * table resolved (the sonames the build found for libcurl, libgit2 and libarchive among them); a
 * missing library, a file that is no library, and a library without one of the functions each fail
 * with the soname and the reason, leave every slot NULL, and fail again the same way; threads
 * racing to the first load load it once. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "dynlib.h"

#include <archive.h>
#include <curl/curl.h>
#include <git2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

MP_DYNLIB_DECLARE(crc32)
MP_DYNLIB_DECLARE(zlibVersion)
MP_DYNLIB_DECLARE(curl_version)
MP_DYNLIB_DECLARE(git_libgit2_version)
MP_DYNLIB_DECLARE(archive_version_number)

/* a name no library has */
static void (*sym_mp_no_such_function)(void);

static void test_loads_and_resolves(void **state)
{
	(void)state;
	static const mp_dynlib_sym syms[] = {MP_DYNLIB_SYM(crc32)
	                                         MP_DYNLIB_SYM(zlibVersion){NULL, NULL}};
	mp_dynlib lib = MP_DYNLIB_INIT("test", "libz.so.1", syms);
	char err[600] = "untouched";
	assert_int_equal(mp_dynlib_load(&lib, err, sizeof(err)), 0);
	assert_string_equal(err, "untouched");
	assert_non_null(sym_crc32);
	/* the function is zlib's: the same checksum as the one linked */
	const unsigned char text[] = "meshpol";
	assert_int_equal(sym_crc32(0, text, 7), crc32(0, text, 7));
	assert_string_equal(sym_zlibVersion(), zlibVersion());
	/* a second load is the first one's */
	void *h = lib.handle;
	assert_int_equal(mp_dynlib_load(&lib, err, sizeof(err)), 0);
	assert_ptr_equal(lib.handle, h);
}

/* The sonames the Makefile read for the two libraries loaded on first use name them. */
static void test_build_sonames(void **state)
{
	(void)state;
	static const mp_dynlib_sym curl[] = {MP_DYNLIB_SYM(curl_version){NULL, NULL}};
	static const mp_dynlib_sym git[] = {MP_DYNLIB_SYM(git_libgit2_version){NULL, NULL}};
	mp_dynlib c = MP_DYNLIB_INIT("libcurl", MP_SONAME_CURL, curl),
	          g = MP_DYNLIB_INIT("libgit2", MP_SONAME_GIT2, git);
	char err[600];
	assert_int_equal(mp_dynlib_load(&c, err, sizeof(err)), 0);
	assert_int_equal(strncmp(sym_curl_version(), "libcurl/", 8), 0);
	assert_int_equal(mp_dynlib_load(&g, err, sizeof(err)), 0);
	int major = -1, minor = -1, rev = -1;
	assert_int_equal(sym_git_libgit2_version(&major, &minor, &rev), 0);
	/* the library the headers were compiled against */
	assert_int_equal(major, LIBGIT2_VER_MAJOR);
	assert_int_equal(minor, LIBGIT2_VER_MINOR);
	static const mp_dynlib_sym arc[] = {MP_DYNLIB_SYM(archive_version_number){NULL, NULL}};
	mp_dynlib a = MP_DYNLIB_INIT("libarchive", MP_SONAME_ARCHIVE, arc);
	assert_int_equal(mp_dynlib_load(&a, err, sizeof(err)), 0);
	/* the same major version as the headers (libarchive's number is major * 1,000,000 + ...) */
	assert_int_equal(sym_archive_version_number() / 1000000, ARCHIVE_VERSION_NUMBER / 1000000);
}

static void assert_fails(mp_dynlib *lib, const char *want1, const char *want2)
{
	char err[600] = "";
	for (int round = 0; round < 2; round++) { /* the failure is kept, and said again */
		assert_int_equal(mp_dynlib_load(lib, err, sizeof(err)), -1);
		if (!strstr(err, want1) || !strstr(err, want2))
			fail_msg("'%s' does not say '%s' and '%s'", err, want1, want2);
		assert_null(lib->handle);
		for (const mp_dynlib_sym *s = lib->syms; s->name; s++)
			assert_null(*s->slot);
	}
}

static void test_missing_library(void **state)
{
	(void)state;
	static const mp_dynlib_sym syms[] = {MP_DYNLIB_SYM(crc32){NULL, NULL}};
	sym_crc32 = NULL;
	mp_dynlib lib = MP_DYNLIB_INIT("test", "libmeshpol-absent.so.7", syms);
	assert_fails(&lib, "libmeshpol-absent.so.7", "No such file");
}

/* A file by the library's name that is no library: text, then empty. */
static void test_not_a_library(void **state)
{
	(void)state;
	static const mp_dynlib_sym syms[] = {MP_DYNLIB_SYM(crc32){NULL, NULL}};
	char dir[] = "/tmp/test_dynlib.XXXXXX", path[64];
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/libz.so.1", dir);
	for (int empty = 0; empty < 2; empty++) {
		FILE *f = fopen(path, "w");
		assert_non_null(f);
		if (!empty)
			fputs("/* GNU ld script: ld takes it for the library, dlopen must not */\n"
			      "INPUT(-lz)\n",
			      f);
		fclose(f);
		sym_crc32 = NULL;
		mp_dynlib lib = MP_DYNLIB_INIT("test", path, syms);
		assert_fails(&lib, path, empty ? "file too short" : "invalid ELF header");
	}
	unlink(path);
	rmdir(dir);
}

/* libz has crc32 but not the second function: nothing is kept, crc32's slot cleared too. */
static void test_missing_function(void **state)
{
	(void)state;
	static const mp_dynlib_sym syms[] = {MP_DYNLIB_SYM(crc32)
	                                         MP_DYNLIB_SYM(mp_no_such_function){NULL, NULL}};
	mp_dynlib lib = MP_DYNLIB_INIT("test", "libz.so.1", syms);
	assert_fails(&lib, "test: libz.so.1: cannot use mp_no_such_function", "undefined symbol");
}

static mp_dynlib racing;
static void *race(void *arg)
{
	char err[600];
	*(int *)arg = mp_dynlib_load(&racing, err, sizeof(err));
	return NULL;
}

static void test_concurrent_first_load(void **state)
{
	(void)state;
	static const mp_dynlib_sym syms[] = {MP_DYNLIB_SYM(crc32){NULL, NULL}};
	racing = (mp_dynlib)MP_DYNLIB_INIT("test", "libz.so.1", syms);
	pthread_t t[8];
	int rc[8];
	for (int i = 0; i < 8; i++)
		assert_int_equal(pthread_create(&t[i], NULL, race, &rc[i]), 0);
	for (int i = 0; i < 8; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(rc[i], 0);
	}
	assert_non_null(racing.handle);
	assert_non_null(sym_crc32);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_loads_and_resolves), cmocka_unit_test(test_build_sonames),
	    cmocka_unit_test(test_missing_library),    cmocka_unit_test(test_not_a_library),
	    cmocka_unit_test(test_missing_function),   cmocka_unit_test(test_concurrent_first_load),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
