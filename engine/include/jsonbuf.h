/* jsonbuf.h: JSON text written straight into a growable byte buffer, without a jansson tree: the
 * writer under the decision encoder (decision_json.h) and the server's reply bodies. Design:
 * docs/architecture.md ("Decisions"). */
#ifndef MP_JSONBUF_H
#define MP_JSONBUF_H

#pragma GCC visibility push(default) /* the engine's interface: exported */

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* A growable byte buffer. It starts in the caller's storage (which may be NULL with cap 0) and
 * moves to the heap (mp_malloc) when that is full; mp_jsonbuf_free releases the heap copy, never
 * the caller's storage. The one exception: when heap is set, the caller may take p instead (and
 * mp_free it later), as the server does with a log record. The bytes are not NUL-terminated. A
 * failed append sets oom and makes every later append a no-op: write everything, then check oom
 * once. */
typedef struct {
	char *p;
	size_t len, cap;
	int heap;  /* p was allocated with mp_malloc */
	int oom;   /* an append failed: the contents are incomplete */
	int ascii; /* escape every non-ASCII character (\uXXXX), as JSON_ENSURE_ASCII does */
} mp_jsonbuf;

void mp_jsonbuf_init(mp_jsonbuf *b, char *storage, size_t cap);
void mp_jsonbuf_free(mp_jsonbuf *b); /* the heap copy, if any; b is empty afterwards */

/* Starts b in p, an mp_malloc'd block of cap bytes that b owns from here on (heap set: grown with
 * mp_realloc, freed by mp_jsonbuf_free, or taken as the exception above says). p NULL: empty. */
static inline void mp_jsonbuf_init_heap(mp_jsonbuf *b, char *p, size_t cap)
{
	*b = (mp_jsonbuf){.p = p, .cap = p ? cap : 0, .heap = p != NULL};
}

/* Makes room for n more bytes: 0, or -1 (and oom set). */
int mp_jsonbuf_grow(mp_jsonbuf *b, size_t n);

/* n bytes as they are. Inline: the encoder appends some thirty fragments per decision. */
static inline void mp_jsonbuf_raw(mp_jsonbuf *b, const char *s, size_t n)
{
	if (b->len + n > b->cap ? mp_jsonbuf_grow(b, n) < 0 : b->oom)
		return;
	memcpy(b->p + b->len, s, n);
	b->len += n;
}

/* A string literal as it is. */
#define MP_JSONBUF_LIT(b, s) mp_jsonbuf_raw(b, "" s, sizeof(s) - 1)

/* s as a JSON string, quoted and escaped as jansson's json_dumps does: \" \\ \b \f \n \r \t,
 * other control characters as \u00XX (upper-case hex), '/' and DEL as they are; with b->ascii
 * every non-ASCII character as \uXXXX (a surrogate pair beyond the BMP), as JSON_ENSURE_ASCII.
 * A byte that does not start a valid UTF-8 sequence becomes \uFFFD (jansson would refuse the
 * string; the engine keeps its strings valid UTF-8, so this is a last line). NULL is "". */
void mp_jsonbuf_string(mp_jsonbuf *b, const char *s);

/* The same for the len bytes at s, which hold no NUL (a string whose length is known). */
void mp_jsonbuf_string_n(mp_jsonbuf *b, const char *s, size_t len);

/* Is s valid UTF-8 (what jansson's json_string accepts)? 1 or 0. */
int mp_jsonbuf_utf8_valid(const char *s);

/* An unsigned integer in decimal. */
void mp_jsonbuf_uint(mp_jsonbuf *b, uint64_t v);

#pragma GCC visibility pop

#endif
