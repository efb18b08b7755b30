/* jsonparse.h: JSON text to a jansson tree as json_loadb makes it, parsed by simdjson (C++,
 * jsonparse.cc): the server's request bodies. Prefix mp_json_. Design: docs/server.md
 * ("Performance", the fourth pass).
 *
 * The contract is json_loadb's: the same tree (values, integer vs real, key order) or the same
 * NULL and error. Only inputs where the two parsers are known to agree take simdjson's path; every
 * error, and every input where they could differ (a \u0000, an integer beyond int64, a text
 * simdjson refuses or does not fit its capacity, flags other than the two below), is handed to
 * json_loadb itself, so error texts, positions and the accept/reject decision stay jansson's.
 * tests/unit/test_jsonparse.c holds both to that, case by case and by mutation.
 *
 * Ownership: the tree is the caller's (json_decref), built with jansson's own constructors, so
 * jansson's allocator (json_set_alloc_funcs: the server's body arena) serves it. Each thread
 * keeps one simdjson parser (they are not thread-safe), allocated on its first call and freed
 * when the thread ends; its memory grows with the largest text it has parsed, which is at most
 * MP_JSON_FAST_MAX bytes (larger texts are json_loadb's): about 15 times that. */
#ifndef MP_JSONPARSE_H
#define MP_JSONPARSE_H

#pragma GCC visibility push(default) /* the engine's interface: exported */

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* The largest text simdjson parses (bytes); the server's JSON arena's size. */
#define MP_JSON_FAST_MAX (64 * 1024)

/* json_loadb(text, len, flags, err), faster where it can be. The flags with a fast path:
 * JSON_REJECT_DUPLICATES and JSON_DECODE_ANY; any other goes to json_loadb. */
json_t *mp_json_parse(const char *text, size_t len, size_t flags, json_error_t *err);

/* What this thread's calls did, so tests can tell that the fast path is taken. */
typedef struct {
	uint64_t fast;     /* built from simdjson's DOM */
	uint64_t fallback; /* handed to json_loadb */
} mp_json_parse_counts;
mp_json_parse_counts mp_json_parse_counted(void);

#pragma GCC visibility pop

#endif
