/* decide_index.h: the layout one decision reads, built once per bundle (policy_compile.c calls
 * mp_dindex_build) and read by decide.c. Why it exists and what it costs: docs/server.md
 * ("Performance", "The decision layout"). Internal prefix mp_dindex_.
 *
 * A decision used to walk the model's string table (hash slot, hash array, offsets, bytes), two
 * compressed rows (identity -> service, name -> service), the service array and, for each
 * candidate rule, a ~190-byte mp_rule and the pattern arrays and texts it points at: about 34
 * lines from memory at 10,000 services, against a handful at 100. The index keeps what one
 * decision needs together:
 *   - keys: one open-addressing table of 64-byte slots for the strings a request names (every
 *     service's name and identity, every exact principal a rule names), each slot holding the
 *     answers resolving that string gives (its model string id, the service it is the identity
 *     of and that service's namespace, the one service of that name and its rule block) and the
 *     key's first bytes, so a service name compares inside its slot;
 *   - records: for each destination, a block of 32-byte rule records, parallel to the bundle's
 *     svc_rules/ext_rules rows, holding the fields structural matching reads (type, advisory,
 *     methods, the one exact principal or namespace, the one path pattern, with identical
 *     pattern texts shared); a rule the record cannot describe is marked FULL and matched on its
 *     mp_rule as before.
 * Every answer is the model's own lookup, made once at build time: a request whose string is
 * not a key resolves as it did before (decide.c), so the index changes costs, never decisions.
 * Immutable once built; shared by every thread; allocated in the bundle's arena. */
#ifndef MP_DECIDE_INDEX_H
#define MP_DECIDE_INDEX_H

#include "policy.h"

#include <stddef.h>
#include <stdint.h>

#define MP_DINDEX_HEAD 20 /* key bytes kept in the slot */

/* One key of the table: 64 bytes, one cache line. text == NULL: an empty slot. */
typedef struct {
	uint64_t hash;    /* mp_dindex_hash of the key */
	const char *text; /* the model's bytes (NUL-terminated) */
	uint32_t len;     /* of text */
	mp_str str;       /* the model string id of text */
	mp_id ident_svc;  /* mp_model_find_service_by_identity_id(str) */
	mp_id ident_ns;   /* ident_svc's namespace, or MP_NONE */
	mp_id named_svc;  /* mp_model_find_service(text) */
	uint32_t rec_off; /* named_svc's rule block: svc_recs[rec_off .. rec_off + rec_n) */
	uint32_t rec_n;
	char head[MP_DINDEX_HEAD]; /* text's first bytes, zero-padded */
} mp_dindex_key;

enum {
	MP_DREC_DENY = 1,       /* a deny rule (else allow) */
	MP_DREC_ADVISORY = 2,   /* its policy is advisory */
	MP_DREC_FULL = 4,       /* match on the mp_rule: the record does not describe it */
	MP_DREC_WHEN = 8,       /* the rule has a `when` */
	MP_DREC_MESSAGE = 16,   /* the rule has a message (a reason reads the mp_rule) */
	MP_DREC_PRINCIPAL = 32, /* the caller's principal must be the model string `who` */
	MP_DREC_NS = 64,        /* the caller's namespace must be the namespace `who` */
	MP_DREC_PATH = 128,     /* the path must match paths[path] */
};

/* One candidate rule of a destination, as structural matching reads it: 16 bytes, four to a
 * cache line. Without FULL, the rule's source is `any` or asks for one exact principal or one
 * namespace (nothing else), it has at most one path pattern, and no ports or headers. */
typedef struct {
	uint32_t rule; /* index into bundle->rules */
	uint8_t flags; /* MP_DREC_* */
	uint8_t pad;
	uint16_t methods; /* the rule's mask; 0: any */
	uint32_t who;     /* with MP_DREC_PRINCIPAL or MP_DREC_NS */
	uint32_t path;    /* with MP_DREC_PATH: index into paths */
} mp_dindex_rec;

typedef struct mp_dindex {
	const mp_model *model;
	mp_dindex_key *keys; /* cap slots (at most a third used), 64-byte aligned */
	uint32_t mask;       /* cap - 1; cap a power of two */
	uint32_t nkeys;
	mp_dindex_rec *svc_recs; /* parallel to bundle->svc_rules */
	mp_dindex_rec *ext_recs; /* parallel to bundle->ext_rules */
	mp_pattern *paths;       /* the distinct path patterns of the records (a few hot lines) */
	uint32_t npaths;
	uint32_t any_advisory; /* some policy is advisory: decisions run the advisory pass */
} mp_dindex;

/* Builds the index of b (its rules and destination rows final) against b->model. alloc returns
 * n zeroed, 16-aligned bytes that live as long as b, or does not return (policy_compile.c's
 * allocator raises a Lua error). Scratch memory it frees itself; when that is short, records
 * with a path are FULL. plain (tests): every record FULL and no key, so that decisions take
 * the model's lookups and the mp_rule matching the index otherwise saves. */
mp_dindex *mp_dindex_build(const mp_bundle *b, void *(*alloc)(void *ctx, size_t n), void *ctx,
                           int plain);

/* Is path already what mp_path_normalize(path, merge_slashes = 1) makes of it, so that a
 * decision can use it as it is? 1 with its length in *len (< MP_DINDEX_PATH_MAX) when it has no
 * '%', '\\', '?' or '#', no "//" and no "/." (which every dot segment starts with); else 0. */
#define MP_DINDEX_PATH_MAX 2048 /* decide.c's normalisation buffer */
int mp_dindex_path_normal(const char *path, size_t *len);

/* The hash the table is keyed by (64 bits, a word at a time). */
uint64_t mp_dindex_hash(const char *s, size_t len);

/* The key whose bytes are s[0..len) and whose mp_dindex_hash is h, or NULL when it is none of
 * the index's. */
const mp_dindex_key *mp_dindex_find(const mp_dindex *x, const char *s, size_t len, uint64_t h);

/* Starts loading the slot a key of hash h sits in (or would): a decision asks for both of its
 * keys before it reads either, so that the two misses overlap. */
static inline void mp_dindex_prefetch(const mp_dindex *x, uint64_t h)
{
	__builtin_prefetch(&x->keys[(uint32_t)h & x->mask]);
}

#endif
