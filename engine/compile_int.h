/* compile_int.h: the inside of the compiler, shared by compile.c (the driver: sources, the
 * table of names, the order of the passes, the importers' host) and compile_native.c (the
 * native format: its field tables, pass 1 and pass 2). Internal prefix cc_. Design:
 * docs/architecture.md ("Compiling"). */
#ifndef MP_COMPILE_INT_H
#define MP_COMPILE_INT_H

#include "compile.h"
#include "import.h"

#include <limits.h>
#include <stdint.h>
#include <yaml.h>

#define CC_VEC(T)                                                                                  \
	struct {                                                                                   \
		T *v;                                                                              \
		uint32_t n, cap;                                                                   \
	}

/* --- the table of names: (kind, a, b) -> (id, loc), for duplicate checks and pass-2 lookups;
 * native and imported elements share it, so a duplicate is reported alike either way --- */

enum {
	K_CLUSTER = 1,
	K_JURISDICTION,
	K_NAMESPACE,
	K_SERVICE,
	K_ROUTE,
	K_EXTERNAL,
	K_CERT,
	K_IDENTITY,
	K_REGION,
	/* names of elements dropped in pass 1 for their own errors (K_DROPPED + kind, a: the name
	 * or "namespace/name" as a reference spells it): pass 2 reports no reference to them,
	 * which would only repeat the first error */
	K_DROPPED = 16
};

typedef struct {
	uint32_t kind, a, b, id;
	mp_loc loc;
} mapent;

typedef struct {
	mapent *v;
	uint32_t n, cap; /* cap is a power of two; kind 0 marks an empty slot */
} keymap;

/* The raw elements of the native format (compile_native.c): pass 1 records them with the
 * location of each value, pass 2 resolves them. */
struct rstr;
struct rtarget;
struct rservice;
struct rroute;
struct rexternal;

/* One compilation. Owns its pools, its table of names and its importer, all freed when it
 * finishes (compile.c); the model goes to the caller when no error was reported. */
typedef struct {
	mp_model *m;
	mp_diags *d;
	keymap names;
	int oom;
	/* the document being decoded */
	yaml_document_t *doc;
	mp_str file_id;
	char dir[PATH_MAX]; /* the file's directory, for relative PEM paths */
	/* the native format's pass-1 pools and raw elements */
	CC_VEC(struct rstr) strs;
	CC_VEC(struct rtarget) targets;
	CC_VEC(struct rservice) services;
	CC_VEC(struct rroute) routes;
	CC_VEC(struct rexternal) externals;
	/* Kubernetes and Istio documents (import.h), created on the first one */
	mp_import *im;
	mp_import_host host;
	mp_import_opts import_opts; /* from opts; its cluster_dirs are import_dirs */
	mp_import_dir *import_dirs;
	const mp_compile_opts *opts;
	const char *path;  /* the file being read */
	uint32_t root_len; /* bytes of path that are its source root (mp_source_name) */
} compiler;

/* --- compile.c --- */

/* An error at loc, cut at 900 bytes. */
void cc_errorf(compiler *c, mp_loc loc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* The string s of the model: valid until the next string is interned. */
const char *cc_str(compiler *c, mp_str s);
/* Interns len bytes of s; 0 (and c->oom) when out of memory. */
mp_str cc_intern(compiler *c, const char *s, size_t len);
mapent *cc_map_find(const keymap *km, uint32_t kind, uint32_t a, uint32_t b);
/* 0, or -1 when out of memory. */
int cc_map_put(keymap *km, uint32_t kind, uint32_t a, uint32_t b, uint32_t id, mp_loc loc);
/* Declares a name; reports "duplicate WHAT (first at ...)" and returns -1 when it is taken. */
int cc_declare(compiler *c, uint32_t kind, uint32_t a, uint32_t b, uint32_t id, mp_loc loc,
               const char *what);

/* --- compile_native.c: the native format (docs/mesh-format.md) --- */

/* Pass 1: decodes one document through its kind's field table. Returns 1 when its apiVersion is
 * not meshpol.io/v1 but may be an importer's (the caller hands it over), else 0 (decoded, or
 * an error was reported). */
int cc_native_document(compiler *c, const yaml_node_t *root);
/* Pass 2, in this order, interleaved with the importer's steps (compile.c, finish). */
void cc_native_services(compiler *c);
void cc_native_externals(compiler *c);
void cc_native_routes(compiler *c); /* after the model's indexes are built */
void cc_native_free(compiler *c);   /* the pools */

#endif
