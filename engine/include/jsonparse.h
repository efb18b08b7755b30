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

#include "jsonbuf.h"
#include "request.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* The largest text simdjson parses (bytes); the server's JSON arena's size. */
#define MP_JSON_FAST_MAX (64 * 1024)

/* json_loadb(text, len, flags, err), faster where it can be. The flags with a fast path:
 * JSON_REJECT_DUPLICATES and JSON_DECODE_ANY; any other goes to json_loadb. */
json_t *mp_json_parse(const char *text, size_t len, size_t flags, json_error_t *err);

/* The decision input in text as mp_request_from_json reads it from mp_json_parse(text, len,
 * JSON_REJECT_DUPLICATES, ...), read from simdjson's DOM without building that tree, where it
 * can: 1 with r filled, or 0 (r zeroed) where the caller must take the tree's path, which then
 * gives the request or the error. Every error is a 0, and so is every input where the two could
 * differ (a key not in the input's tables, a value of another type, a duplicate key, a \u0000,
 * request.auth, a text mp_json_parse would hand to json_loadb), so error texts and the accept or
 * reject decision stay the tree's; tests/unit/test_jsonparse.c holds the two paths to that.
 *
 * Ownership: r's strings (headers in hbuf, MP_REQUEST_MAX_HEADERS entries) are borrowed from this
 * thread's parser and valid until its next mp_json_parse or mp_request_parse call; the objects it
 * points to (context, source.labels) are jansson trees in held, the caller's (json_decref each;
 * NULL where none), built with jansson's allocator like mp_json_parse's. */
#define MP_REQUEST_HELD 2
int mp_request_parse(const char *text, size_t len, mp_request *r, mp_header *hbuf,
                     json_t *held[MP_REQUEST_HELD]);

/* What a key writer did with an object's member (mp_request_parsed_write). */
enum {
	MP_JSON_MEMBER_VALUE,   /* wrote the key: the writer writes the member's value next */
	MP_JSON_MEMBER_WRITTEN, /* wrote the key and a value of its own (a mask's "[masked]") */
	MP_JSON_MEMBER_LEFT_OUT /* wrote nothing: the member is left out */
};

/* Writes the key of an object's member into b, a comma before it unless first: key is len bytes
 * of UTF-8 without a NUL, NUL-terminated. depth: 0 for the input's own keys, one more for each
 * object below them, -1 anywhere below an array. An MP_JSON_MEMBER_ value. */
typedef int (*mp_json_key_writer)(mp_jsonbuf *b, void *arg, int depth, const char *key, size_t len,
                                  int first);

/* Writes the decision input the thread's last call of mp_json_parse or mp_request_parse read,
 * when that call was mp_request_parse and returned 1, from simdjson's document, as
 * json_dumps(JSON_COMPACT | JSON_SORT_KEYS, and JSON_ENSURE_ASCII when b->ascii) writes
 * mp_json_parse's tree of the same text: every object's members in strcmp's order, strings as
 * mp_jsonbuf_string escapes them, integers in decimal, reals as jansson prints them (jansson
 * prints them here), each key written by key(arg), which may mask or leave out the member. It
 * may be called again, until the next of those calls. 0; or -1 with b->oom set when memory ran
 * out or there is no such document (another text parsed since, or a 0 from mp_request_parse):
 * b then holds nothing usable. server/loginput.c writes a log record's input with it;
 * tests/unit/test_loginput.c and test_jsonparse.c hold it to json_dumps. */
int mp_request_parsed_write(mp_jsonbuf *b, mp_json_key_writer key, void *arg);

/* What this thread's calls did, so tests can tell that the fast paths are taken. */
typedef struct {
	uint64_t fast;          /* mp_json_parse: built from simdjson's DOM */
	uint64_t fallback;      /* mp_json_parse: handed to json_loadb */
	uint64_t input;         /* mp_request_parse: read without a tree */
	uint64_t input_refused; /* mp_request_parse: left to the tree's path */
} mp_json_parse_counts;
mp_json_parse_counts mp_json_parse_counted(void);

#pragma GCC visibility pop

#endif
