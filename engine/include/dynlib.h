/* dynlib.h: a library loaded on first use rather than at process start.
 *
 * libcurl (the server's bundle polls and log uploads), libgit2 (bundles read at a Git revision)
 * and libarchive (bundle archives) bring 40 shared libraries between them; linked, the dynamic
 * loader maps and relocates every one of them at each start of every verb, ~16 ms of a 30 ms
 * start, though most runs (a check or an audit of a directory, test, the shell) call none. Their
 * callers name the functions they call in a table, and mp_dynlib_load dlopens the library by its
 * soname (fixed at build time from the library the build would have linked, so the ABI is the one
 * compiled against) and resolves the table. The pattern is systemd's (src/shared/dlfcn-util.c,
 * dlopen_many_sym_or_warn).
 *
 * A library is loaded at most once and never unloaded (they keep global state).
 * Thread-safe: concurrent first calls load it once; a failure is kept and returned again. */
#ifndef MP_DYNLIB_H
#define MP_DYNLIB_H

#pragma GCC visibility push(default) /* the engine's interface: exported */

#include <pthread.h>
#include <stddef.h>

/* One function a caller uses: its name in the library, and where its address goes. */
typedef struct {
	const char *name;
	void **slot; /* the caller's function pointer, as (void **)&sym_f */
} mp_dynlib_sym;

/* Declares the function pointer sym_NAME with NAME's own type (from the library's header). */
#define MP_DYNLIB_DECLARE(name) static __typeof__(name) *sym_##name;
/* The same shared by several files: declared in a header, defined in one file. */
#define MP_DYNLIB_EXTERN(name) extern __typeof__(name) *sym_##name;
#define MP_DYNLIB_DEFINE(name) __typeof__(name) *sym_##name;
/* A table entry for sym_NAME. */
#define MP_DYNLIB_SYM(name) {#name, (void **)&sym_##name},

/* A library and its table. Define one per library, static, with MP_DYNLIB_INIT. */
typedef struct {
	const char *name;          /* for errors: "libcurl" */
	const char *soname;        /* dlopen'd as is: the loader's search path, then its cache */
	const mp_dynlib_sym *syms; /* the functions, ended by {NULL, NULL} */
	pthread_mutex_t lock;
	void *handle;    /* under lock: set once every symbol resolved */
	char error[512]; /* under lock: why the load failed, "" when it has not */
} mp_dynlib;

#define MP_DYNLIB_INIT(nm, so, table)                                                              \
	{                                                                                          \
		.name = (nm), .soname = (so), .syms = (table), .lock = PTHREAD_MUTEX_INITIALIZER   \
	}

/* Loads lib and fills every slot of its table: 0, or -1 with "NAME: SONAME: why" in err (the
 * library is missing, not a library, or lacks a function) and every slot left NULL. */
int mp_dynlib_load(mp_dynlib *lib, char *err, size_t errlen);

#pragma GCC visibility pop

#endif
