/* loginput.c: the decision input of a log record, written without a jansson tree (see
 * loginput.h). */
#include "loginput.h"
#include "alloc.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* The deepest key a mask can name; keys below it are never masked. */
#define MAX_DEPTH 16

/* The path of the key being written: segs[0..depth-1]. */
typedef struct {
	const mp_bundle *mask;
	const char *segs[MAX_DEPTH];
} walk;

/* The end of mask m's first segment ('.' or the end of m) if it is exactly seg (without regard to
 * case when nocase: ASCII, as strncasecmp in the C locale), else NULL. An empty segment or one of
 * 256 bytes or more names nothing. One pass, leaving at the first byte that differs: most keys
 * differ from most masks there. */
static const char *segment_is(const char *m, const char *seg, int nocase)
{
	size_t i = 0;
	for (; m[i] && m[i] != '.'; i++) {
		unsigned char a = (unsigned char)seg[i], c = (unsigned char)m[i];
		if (nocase) {
			a = (unsigned char)(a >= 'A' && a <= 'Z' ? a + 32 : a);
			c = (unsigned char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
		}
		if (a != c) /* a key shorter than the segment ends here too */
			return NULL;
	}
	return i == 0 || i >= 256 || seg[i] ? NULL : m + i;
}

/* Does a mask entry name exactly the path segs[0..n-1]? Segments match exactly, except right
 * under a "headers" segment, where they match without regard to case (as mp_loginput_mask). */
static int masked(const walk *w, int n)
{
	for (uint32_t i = 0; w->mask && n <= MAX_DEPTH && i < w->mask->nmask; i++) {
		const char *m = w->mask->mask[i];
		int nocase = 0;
		for (int k = 0; k < n; k++) {
			const char *end = segment_is(m, w->segs[k], nocase);
			if (!end)
				break;
			if (k == n - 1) {
				if (!*end)
					return 1;
				break;
			}
			if (!*end)
				break;
			nocase = end - m == 7 && !memcmp(m, "headers", 7);
			m = end + 1;
		}
	}
	return 0;
}

/* An object's member, for writing the members in key order. */
typedef struct {
	const char *key;
	json_t *value;
} member;

static int by_name(const void *a, const void *b)
{
	return strcmp(((const member *)a)->key, ((const member *)b)->key);
}

/* A key (depth: its parent's depth) and, if the path is masked, "[masked]": 1 when masked. */
static int put_key(mp_jsonbuf *b, walk *w, int depth, const char *key, int first)
{
	if (!first)
		MP_JSONBUF_LIT(b, ",");
	mp_jsonbuf_string(b, key);
	MP_JSONBUF_LIT(b, ":");
	if (depth < 0 || depth >= MAX_DEPTH)
		return 0;
	w->segs[depth] = key;
	if (!masked(w, depth + 1))
		return 0;
	MP_JSONBUF_LIT(b, "\"[masked]\"");
	return 1;
}

/* v at depth (-1: inside an array, where masks do not reach). */
static void put_value(mp_jsonbuf *b, json_t *v, walk *w, int depth)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT: {
		size_t n = json_object_size(v), i = 0;
		member stack[32], *m = n <= 32 ? stack : mp_malloc(n * sizeof(*m));
		const char *k;
		json_t *x;
		if (!m) {
			b->oom = 1;
			return;
		}
		json_object_foreach(v, k, x)
		{
			m[i++] = (member){k, x};
		}
		if (n > 1)
			qsort(m, n, sizeof(*m), by_name);
		MP_JSONBUF_LIT(b, "{");
		for (i = 0; i < n; i++)
			if (!put_key(b, w, depth, m[i].key, i == 0))
				put_value(b, m[i].value, w,
				          depth < 0 || depth + 1 >= MAX_DEPTH ? -1 : depth + 1);
		MP_JSONBUF_LIT(b, "}");
		if (m != stack)
			mp_free(m);
		return;
	}
	case JSON_ARRAY:
		MP_JSONBUF_LIT(b, "[");
		for (size_t i = 0; i < json_array_size(v); i++) {
			if (i)
				MP_JSONBUF_LIT(b, ",");
			put_value(b, json_array_get(v, i), w, -1);
		}
		MP_JSONBUF_LIT(b, "]");
		return;
	case JSON_STRING:
		mp_jsonbuf_string(b, json_string_value(v));
		return;
	case JSON_INTEGER: { /* the digits of "%" JSON_INTEGER_FORMAT, without a printf */
		json_int_t i = json_integer_value(v);
		if (i < 0)
			MP_JSONBUF_LIT(b, "-");
		mp_jsonbuf_uint(b, i < 0 ? (uint64_t) - (i + 1) + 1 : (uint64_t)i);
		return;
	}
	case JSON_REAL: { /* rare in an input: jansson's own formatting of doubles */
		char *text = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
		if (!text) {
			b->oom = 1;
			return;
		}
		mp_jsonbuf_raw(b, text, strlen(text));
		free(text);
		return;
	}
	case JSON_TRUE:
		MP_JSONBUF_LIT(b, "true");
		return;
	case JSON_FALSE:
		MP_JSONBUF_LIT(b, "false");
		return;
	default:
		MP_JSONBUF_LIT(b, "null");
	}
}

void mp_loginput_json(mp_jsonbuf *b, json_t *input, const mp_bundle *mask)
{
	walk w = {.mask = mask};
	if (input)
		put_value(b, input, &w, 0);
	else
		MP_JSONBUF_LIT(b, "null");
}

/* A string member, left out when s is NULL or not UTF-8 (as json_string refuses it). */
static void put_str(mp_jsonbuf *b, walk *w, int depth, const char *key, const char *s, int *first)
{
	if (!s || !mp_jsonbuf_utf8_valid(s))
		return;
	if (!put_key(b, w, depth, key, *first))
		mp_jsonbuf_string(b, s);
	*first = 0;
}

/* Opens an object member: 1 when it is to be written, 0 when it was masked. */
static int open_member(mp_jsonbuf *b, walk *w, int depth, const char *key, int first)
{
	if (put_key(b, w, depth, key, first))
		return 0;
	MP_JSONBUF_LIT(b, "{");
	return 1;
}

typedef struct {
	char name[256];
	const char *value;
} header;

static int by_header(const void *a, const void *b)
{
	return strcmp(((const header *)a)->name, ((const header *)b)->name);
}

void mp_loginput_proxy(mp_jsonbuf *b, const mp_proxyreq *p, const mp_bundle *mask)
{
	const mp_request *r = &p->r;
	walk w = {.mask = mask};
	header h[MP_REQUEST_MAX_HEADERS];
	uint32_t nh = 0;
	int first;
	for (uint32_t i = 0; i < r->nheaders && i < MP_REQUEST_MAX_HEADERS; i++) {
		size_t n = strlen(r->headers[i].name);
		if (n >= sizeof(h[0].name) || !mp_jsonbuf_utf8_valid(r->headers[i].name) ||
		    !mp_jsonbuf_utf8_valid(r->headers[i].value))
			continue;
		for (size_t k = 0; k <= n; k++)
			h[nh].name[k] = (char)tolower((unsigned char)r->headers[i].name[k]);
		uint32_t j = 0;
		while (j < nh && strcmp(h[j].name, h[nh].name))
			j++;
		h[j].value = r->headers[i].value; /* a repeated name: the last value */
		nh += j == nh;
	}
	qsort(h, nh, sizeof(h[0]), by_header);
	MP_JSONBUF_LIT(b, "{");
	if (open_member(b, &w, 0, "destination", 1)) {
		first = 1;
		put_str(b, &w, 1, "namespace", r->dst_namespace, &first);
		if (r->port) {
			if (!put_key(b, &w, 1, "port", first))
				mp_jsonbuf_uint(b, (uint64_t)r->port);
			first = 0;
		}
		put_str(b, &w, 1, "service", r->dst_service, &first);
		MP_JSONBUF_LIT(b, "}");
	}
	if (open_member(b, &w, 0, "request", 0)) {
		if (open_member(b, &w, 1, "headers", 1)) {
			first = 1;
			for (uint32_t i = 0; i < nh; i++) { /* names and values are UTF-8 (above) */
				if (!put_key(b, &w, 2, h[i].name, first))
					mp_jsonbuf_string(b, h[i].value);
				first = 0;
			}
			MP_JSONBUF_LIT(b, "}");
		}
		first = 0;
		put_str(b, &w, 1, "method", r->method, &first);
		put_str(b, &w, 1, "path",
		        r->path && mp_jsonbuf_utf8_valid(r->path) ? r->path : "(not UTF-8)",
		        &first);
		MP_JSONBUF_LIT(b, "}");
	}
	if (open_member(b, &w, 0, "source", 0)) {
		first = 1;
		put_str(b, &w, 1, "ip", r->src_ip, &first);
		put_str(b, &w, 1, "principal", r->principal, &first);
		MP_JSONBUF_LIT(b, "}");
	}
	MP_JSONBUF_LIT(b, "}");
}

/* --- the reference: masking a tree in place --- */

/* The member of obj named name; under "headers", a case-insensitive match if no exact one. */
static const char *find_key(json_t *obj, const char *name, int nocase)
{
	const char *k;
	json_t *v;
	if (json_object_get(obj, name))
		return name;
	if (!nocase)
		return NULL;
	json_object_foreach(obj, k, v)
	{
		if (!strcasecmp(k, name))
			return k;
	}
	return NULL;
}

static void mask_path(json_t *node, const char *path)
{
	char seg[256];
	int nocase = 0;
	while (json_is_object(node)) {
		const char *dot = strchr(path, '.');
		size_t n = dot ? (size_t)(dot - path) : strlen(path);
		if (n == 0 || n >= sizeof(seg))
			return;
		memcpy(seg, path, n);
		seg[n] = '\0';
		const char *key = find_key(node, seg, nocase);
		if (!key)
			return;
		if (!dot) {
			/* every spelling of a header name, not just the first found */
			const char *k;
			json_t *v;
			void *tmp;
			json_object_foreach_safe(node, tmp, k, v)
			{
				if (nocase ? !strcasecmp(k, seg) : !strcmp(k, seg))
					json_object_set_new(node, k, json_string("[masked]"));
			}
			return;
		}
		nocase = !strcmp(seg, "headers");
		node = json_object_get(node, key);
		path = dot + 1;
	}
}

void mp_loginput_mask(json_t *input, const mp_bundle *b)
{
	for (uint32_t i = 0; b && i < b->nmask; i++)
		mask_path(input, b->mask[i]);
}
