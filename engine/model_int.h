/* model_int.h: the inside of mp_model, shared by model.c and mpm.c only. */
#ifndef MP_MODEL_INT_H
#define MP_MODEL_INT_H

#include "model.h"

#include <stdatomic.h>

#define MP_VEC(T)                                                                                  \
	struct {                                                                                   \
		T *v;                                                                              \
		uint32_t n, cap;                                                                   \
	}

/* A compressed-row index: the values for key k are val[off[k] .. off[k+1]). */
typedef struct {
	uint32_t *off; /* nkeys + 1 entries */
	char *val;     /* elements of elsize bytes */
	uint32_t nkeys;
	size_t elsize;
} mp_csr;

struct mp_model {
	atomic_int refs; /* references (mp_model_retain, mp_model_free); 1 when made or loaded */
	/* Strings: string i is blob[str_off[i] .. str_off[i+1]-1), NUL-terminated in blob. */
	MP_VEC(char) blob;
	MP_VEC(uint32_t) str_off; /* nstrings + 1 entries once a string exists */
	MP_VEC(uint32_t) str_hash;
	uint32_t *table; /* open-addressing interning table of string ids, MP_NONE = empty */
	uint32_t table_cap;

	MP_VEC(mp_cluster) clusters;
	MP_VEC(mp_jurisdiction) jurisdictions;
	MP_VEC(mp_namespace) namespaces;
	MP_VEC(mp_service) services;
	MP_VEC(mp_route) routes;
	MP_VEC(mp_external) externals;
	MP_VEC(mp_certificate) certs;
	MP_VEC(uint32_t) u32;
	MP_VEC(mp_label) labels;
	MP_VEC(mp_port) ports;
	MP_VEC(mp_target) targets;
	MP_VEC(mp_workload) workloads;
	MP_VEC(mp_resource) resources;
	MP_VEC(mp_import_finding) findings;
	MP_VEC(mp_source_name) sources; /* file names and their roots: left out of the hash */

	/* Derived indexes (mp_model_build_indexes). */
	mp_csr by_name, by_identity;                     /* string id -> service ids */
	mp_csr by_namespace, by_cluster;                 /* namespace / cluster id -> service ids */
	mp_csr edges_from, edges_to;                     /* service id -> mp_edge */
	MP_VEC(mp_edge) edges_any;                       /* edges of routes without a source */
	mp_csr ns_by_name, cluster_by_name, jur_by_name; /* string id -> id */
	mp_csr jur_by_region;                            /* region string id -> jurisdiction ids */
	mp_csr ext_by_key;                               /* name or host string id -> external id */
	int ext_mixed_case;    /* some host has capitals: lookups must scan */
	mp_csr workloads_of;   /* service id -> workload ids */
	mp_csr wl_by_identity; /* identity string id -> workload ids */

	unsigned char digest[32];
	char sha256[65];
};

int mp_model_append_str(mp_model *m, const char *s, size_t len, uint32_t h);
int mp_model_rehash(mp_model *m);
int mp_model_build_indexes(mp_model *m);
int mp_model_hash(const mp_model *m, unsigned char out[32]);
void mp_hex(const unsigned char *in, size_t n, char *out);

/* Writes the model's content, section by section, to sink; mpm.c. */
typedef int (*mp_sink_fn)(void *ctx, const void *p, size_t n);
int mp_model_serialize(const mp_model *m, mp_sink_fn sink, void *ctx);
/* Writes what the model's hash covers to sink: the content as mp_model_serialize writes it,
 * but with each source name (model.h, mp_source_name) without its root in the string data and
 * offsets, and without the source names section. mpm.c; 0, or -1 (OOM or the sink's -1). */
int mp_model_serialize_hashed(const mp_model *m, mp_sink_fn sink, void *ctx);

/* Test hook: when set, mpm.c calls it before reading the elements of each section (0 = the
 * string data), so a test can change the file between two reads. */
extern void (*mp_model_load_hook)(uint32_t section);

#endif
