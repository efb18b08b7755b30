/* jsonbuf.c: JSON text into a growable byte buffer (see jsonbuf.h). The escaping rules are
 * jansson's (dump.c), so that bytes written here equal json_dumps's for the same values;
 * tests/unit/test_decide.c compares the two. */
#include "jsonbuf.h"
#include "alloc.h"

void mp_jsonbuf_init(mp_jsonbuf *b, char *storage, size_t cap)
{
	*b = (mp_jsonbuf){.p = storage, .cap = storage ? cap : 0};
}

void mp_jsonbuf_free(mp_jsonbuf *b)
{
	if (b->heap)
		mp_free(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
	b->heap = 0;
}

int mp_jsonbuf_grow(mp_jsonbuf *b, size_t n)
{
	if (b->oom)
		return -1;
	if (b->len + n <= b->cap)
		return 0;
	size_t cap = b->cap * 2 > b->len + n ? b->cap * 2 : b->len + n + 256;
	char *p = b->heap ? mp_realloc(b->p, cap) : mp_malloc(cap);
	if (!p) {
		b->oom = 1;
		return -1;
	}
	if (!b->heap && b->len)
		memcpy(p, b->p, b->len);
	b->p = p;
	b->cap = cap;
	b->heap = 1;
	return 0;
}

/* The length of the UTF-8 sequence at s (1-4), or 0 when it is not one. */
static size_t utf8_len(const unsigned char *s)
{
	unsigned c = s[0];
	size_t n;
	uint32_t cp;
	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf) {
		n = 2;
		cp = c & 0x1f;
	} else if (c >= 0xe0 && c <= 0xef) {
		n = 3;
		cp = c & 0x0f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		n = 4;
		cp = c & 0x07;
	} else {
		return 0;
	}
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

/* --- sixteen (SSE2) or eight bytes at a time: the bytes of a record are mostly plain ASCII --- */

#define ONES  0x0101010101010101ull
#define HIGHS 0x8080808080808080ull

static uint64_t load8(const unsigned char *p)
{
	uint64_t w;
	memcpy(&w, p, 8);
	return w;
}

#if defined(__SSE2__)
#include <emmintrin.h>

/* One bit for each of the sixteen bytes at p that is not copied into a JSON string as it is
 * (under 0x20, 0x80 and over, '"', '\\'): a signed compare with 0x20 takes both ends at once. */
static unsigned special16(const unsigned char *p)
{
	__m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
	__m128i s = _mm_or_si128(_mm_cmplt_epi8(v, _mm_set1_epi8(0x20)),
	                         _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('"')),
	                                      _mm_cmpeq_epi8(v, _mm_set1_epi8('\\'))));
	return (unsigned)_mm_movemask_epi8(s);
}

/* The end of the run of bytes from p that are copied as they are; begin..end is the string. Never
 * reads outside it: the last bytes of a string of sixteen or more are read as the sixteen that end
 * it (overlapping those before), a shorter tail from a copy. */
static const unsigned char *plain_run(const unsigned char *begin, const unsigned char *p,
                                      const unsigned char *end)
{
	unsigned m;
	while (end - p >= 16) {
		if ((m = special16(p)) != 0)
			return p + __builtin_ctz(m);
		p += 16;
	}
	if (p == end)
		return p;
	if (end - begin >= 16) {
		size_t back = 16 - (size_t)(end - p); /* the bytes before p: shifted out */
		m = special16(end - 16) >> back;
	} else {
		unsigned char t[16] = {0};
		memcpy(t, p, (size_t)(end - p));
		m = special16(t) & ((1u << (end - p)) - 1);
	}
	return m ? p + __builtin_ctz(m) : end;
}
#else
/* Are all eight bytes of w copied into a JSON string as they are (0x20-0x7f but '"' and '\\')?
 * The zero-byte tests (w - ONES) & ~w & HIGHS, on w and on w xor each byte that needs escaping,
 * and a byte under 0x20 the same way, are exact for "is there any". */
static int word_plain(uint64_t w)
{
	uint64_t q = w ^ (ONES * '"'), bs = w ^ (ONES * '\\');
	uint64_t special = ((w - ONES * 0x20) & ~w) | ((q - ONES) & ~q) | ((bs - ONES) & ~bs) | w;
	return (special & HIGHS) == 0;
}

/* The end of the run of bytes from p that are copied as they are; begin..end is the string. The
 * last bytes of a string of eight or more are read as the word that ends it (overlapping the
 * words before), not one by one. */
static const unsigned char *plain_run(const unsigned char *begin, const unsigned char *p,
                                      const unsigned char *end)
{
	while (end - p >= 8 && word_plain(load8(p)))
		p += 8;
	if (p < end && end - p < 8 && end - begin >= 8 && word_plain(load8(end - 8)))
		return end;
	while (p < end && *p >= 0x20 && *p < 0x80 && *p != '"' && *p != '\\')
		p++;
	return p;
}
#endif

int mp_jsonbuf_utf8_valid(const char *s)
{
	const unsigned char *p = (const unsigned char *)s, *end = p + strlen(s);
	while (p < end) {
#if defined(__SSE2__)
		while (end - p >= 16 &&
		       !_mm_movemask_epi8(_mm_loadu_si128((const __m128i *)(const void *)p)))
			p += 16;
#endif
		while (end - p >= 8 && !(load8(p) & HIGHS))
			p += 8;
		if (p == end)
			break;
		size_t n = *p < 0x80 ? 1 : utf8_len(p);
		if (!n)
			return 0;
		p += n;
	}
	return 1;
}

static void u_escape(mp_jsonbuf *b, uint32_t v)
{
	static const char hex[] = "0123456789ABCDEF";
	char u[6] = {'\\',       'u', hex[(v >> 12) & 15], hex[(v >> 8) & 15], hex[(v >> 4) & 15],
	             hex[v & 15]};
	mp_jsonbuf_raw(b, u, 6);
}

/* A UTF-8 sequence as \uXXXX, or a surrogate pair beyond the BMP (JSON_ENSURE_ASCII). */
static void escape_codepoint(mp_jsonbuf *b, const unsigned char *p, size_t n)
{
	static const unsigned char lead_mask[] = {0, 0x7f, 0x1f, 0x0f, 0x07};
	uint32_t cp = p[0] & lead_mask[n];
	for (size_t i = 1; i < n; i++)
		cp = (cp << 6) | (p[i] & 0x3f);
	if (cp < 0x10000) {
		u_escape(b, cp);
	} else {
		cp -= 0x10000;
		u_escape(b, 0xd800 | (cp >> 10));
		u_escape(b, 0xdc00 | (cp & 0x3ff));
	}
}

void mp_jsonbuf_string(mp_jsonbuf *b, const char *s)
{
	s = s ? s : "";
	mp_jsonbuf_string_n(b, s, strlen(s));
}

void mp_jsonbuf_string_n(mp_jsonbuf *b, const char *s, size_t len)
{
	const unsigned char *begin = (const unsigned char *)s;
	const unsigned char *end = begin + len, *p = plain_run(begin, begin, end);
	/* most strings need no escaping: room for them and their quotes at once, and written in
	 * one copy when the whole string is plain */
	if (b->len + len + 2 > b->cap ? mp_jsonbuf_grow(b, len + 2) < 0 : b->oom)
		return;
	char *o = b->p + b->len;
	*o = '"';
	if (p == end) {
		memcpy(o + 1, begin, len);
		o[len + 1] = '"';
		b->len += len + 2;
		return;
	}
	/* the plain bytes before the first to escape, scanned once */
	memcpy(o + 1, begin, (size_t)(p - begin));
	b->len += 1 + (size_t)(p - begin);
	while (p < end) {
		const unsigned char *run = p;
		p = plain_run(begin, p, end);
		mp_jsonbuf_raw(b, (const char *)run, (size_t)(p - run));
		if (p == end)
			break;
		unsigned c = *p;
		if (c >= 0x80) {
			size_t n = utf8_len(p);
			if (!n) {
				MP_JSONBUF_LIT(b, "\\uFFFD");
				p++;
			} else if (!b->ascii) {
				mp_jsonbuf_raw(b, (const char *)p, n);
				p += n;
			} else {
				escape_codepoint(b, p, n);
				p += n;
			}
			continue;
		}
		p++;
		switch (c) {
		case '"':
			MP_JSONBUF_LIT(b, "\\\"");
			break;
		case '\\':
			MP_JSONBUF_LIT(b, "\\\\");
			break;
		case '\b':
			MP_JSONBUF_LIT(b, "\\b");
			break;
		case '\f':
			MP_JSONBUF_LIT(b, "\\f");
			break;
		case '\n':
			MP_JSONBUF_LIT(b, "\\n");
			break;
		case '\r':
			MP_JSONBUF_LIT(b, "\\r");
			break;
		case '\t':
			MP_JSONBUF_LIT(b, "\\t");
			break;
		default:
			u_escape(b, c);
		}
	}
	MP_JSONBUF_LIT(b, "\"");
}

void mp_jsonbuf_uint(mp_jsonbuf *b, uint64_t v)
{
	char n[24], *p = n + sizeof(n); /* by hand: the trail writes one a record */
	do
		*--p = (char)('0' + v % 10);
	while (v /= 10);
	mp_jsonbuf_raw(b, p, (size_t)(n + sizeof(n) - p));
}
