/* encode.h: the decision output object written straight into a reply, without building a
 * jansson tree: the bytes json_dumps(mp_decision_json(...), JSON_COMPACT | JSON_PRESERVE_ORDER)
 * would give, at a fraction of the cost (no allocation per field). tests/e2e/server.sh compares
 * the two for every example request. Why it lives here: docs/server.md ("How it is built"). */
#ifndef MP_ENCODE_H
#define MP_ENCODE_H

#include "decide.h"

#include <stddef.h>

/* A growable byte buffer: starts in the caller's storage, moves to the heap if it must. */
typedef struct {
	char *p;
	size_t len, cap;
	int heap;  /* p was allocated with mp_malloc */
	int oom;   /* an append failed: the contents are incomplete */
	int ascii; /* escape every non-ASCII character (\uXXXX), as JSON_ENSURE_ASCII does */
} mp_encode_buf;

void mp_encode_init(mp_encode_buf *b, char *storage, size_t cap);
void mp_encode_free(mp_encode_buf *b);
void mp_encode_raw(mp_encode_buf *b, const char *s, size_t n);
/* s as a JSON string, quoted and escaped as jansson does (with b->ascii, as with
 * JSON_ENSURE_ASCII); bytes that are not UTF-8 become U+FFFD. NULL is written as "". */
void mp_encode_string(mp_encode_buf *b, const char *s);

/* Whether mp_encode_decision can write d: every reason (and advisory) is a bundle rule's
 * allow, deny or error. The engine's own reasons (an unknown destination, ...) and reasons from
 * other sources take mp_decision_json instead, which knows every kind: rare paths, and the
 * encoder never has to guess. */
int mp_encode_knows(const mp_engine *e, const mp_decision *d);

/* The decision output object (DESIGN.md, "Decision output") of d, decided against e, with the
 * decision id given (mp_encode_knows(e, d) must hold). */
void mp_encode_decision(mp_encode_buf *b, const mp_engine *e, const mp_decision *d, const char *id);

/* The same object for the decision log (mp_encode_knows(e, d) must hold): keys sorted and every
 * non-ASCII character escaped, as mp_trail_content_encode writes a record's content (set b->ascii
 * first). */
void mp_encode_decision_sorted(mp_encode_buf *b, const mp_engine *e, const mp_decision *d,
                               const char *id);

#endif
