/* loginput.c: the decision input of a log record, written without a jansson tree (see
 * loginput.h). */
#include "loginput.h"
#include "alloc.h"
#include "decide.h"
#include "jsonparse.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* The deepest key a mask can name (bundle.yaml's masks are checked against it at load); keys
 * below it are never masked. */
#define MAX_DEPTH MP_MASK_MAX_DEPTH
/* The most mask entries followed key by key (a bit each); a bundle with more takes the slower
 * walk over every entry at every key, with the same result. */
#define MAX_LIVE 64

/* The path of the key being written: segs[0..depth-1]. live[d]: the mask entries whose first d
 * segments name segs[0..d-1] (a bit each), and off[d] where their segment d starts: the same
 * place in each, as the segments before it are those keys. A key at depth d is compared with
 * the entries live there only, and sets live[d + 1] for its value; most keys have none. */
typedef struct {
	const mp_bundle *mask;
	int by_bits; /* the mask has MAX_LIVE entries or fewer: live and off are kept */
	const char *segs[MAX_DEPTH];
	uint64_t live[MAX_DEPTH + 1];
	uint32_t off[MAX_DEPTH + 1];
} walk;

static void walk_init(walk *w, const mp_bundle *mask)
{
	w->mask = mask && mask->nmask ? mask : NULL;
	w->by_bits = w->mask && mask->nmask <= MAX_LIVE;
	w->live[0] = !w->by_bits               ? 0
	             : mask->nmask == MAX_LIVE ? ~(uint64_t)0
	                                       : ((uint64_t)1 << mask->nmask) - 1;
	w->off[0] = 0;
}

/* The end of mask m's first segment ('.' or the end of m) if it is exactly seg (without regard to
 * case when nocase: ASCII, as strncasecmp in the C locale), else NULL. An empty segment or one of
 * more than MP_MASK_MAX_SEGMENT bytes names nothing (none is loaded). One pass, leaving at the
 * first byte that differs: most keys differ from most masks there. */
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
	return i == 0 || i > MP_MASK_MAX_SEGMENT || seg[i] ? NULL : m + i;
}

/* Does a mask entry name exactly the path segs[0..n-1]? Segments match exactly, except right
 * under a "headers" segment, where they match without regard to case (as mp_loginput_mask). The
 * walk over every entry, for masks of more than MAX_LIVE entries. */
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

/* Is the key at depth d (len bytes) masked? Compares it with the entries live at d and sets
 * live[d + 1] for its value. */
static int masked_key(walk *w, int d, const char *key, size_t len)
{
	if (!w->by_bits) {
		w->segs[d] = key;
		return masked(w, d + 1);
	}
	uint64_t live = w->live[d], next = 0;
	uint32_t off = w->off[d];
	int hit = 0;
	while (live) {
		uint32_t i = (uint32_t)__builtin_ctzll(live);
		live &= live - 1;
		const char *m = w->mask->mask[i];
		/* right under a segment that is "headers", names match without regard to case */
		int nocase =
		    d > 0 && off - w->off[d - 1] == 8 && !memcmp(m + w->off[d - 1], "headers", 7);
		const char *end = segment_is(m + off, key, nocase);
		if (!end)
			continue;
		if (!*end)
			hit = 1;
		else
			next |= (uint64_t)1 << i;
	}
	w->live[d + 1] = next;
	w->off[d + 1] = off + (uint32_t)len + 1;
	return hit;
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

/* A key (depth: its parent's depth) and, if the path is masked, "[masked]": 1 when masked. plain:
 * the key has nothing to escape (one of the proxy input's own), and len is its length. */
static int put_key_n(mp_jsonbuf *b, walk *w, int depth, const char *key, size_t len, int plain,
                     int first)
{
	if (plain) {
		if (b->len + len + 4 > b->cap ? mp_jsonbuf_grow(b, len + 4) == 0 : !b->oom) {
			char *o = b->p + b->len;
			size_t n = 0;
			if (!first)
				o[n++] = ',';
			o[n++] = '"';
			memcpy(o + n, key, len);
			n += len;
			o[n++] = '"';
			o[n++] = ':';
			b->len += n;
		}
	} else {
		if (!first)
			MP_JSONBUF_LIT(b, ",");
		mp_jsonbuf_string_n(b, key, len);
		MP_JSONBUF_LIT(b, ":");
	}
	if (depth < 0 || depth >= MAX_DEPTH || !w->mask || !masked_key(w, depth, key, len))
		return 0;
	MP_JSONBUF_LIT(b, "\"[masked]\"");
	return 1;
}

static int put_key(mp_jsonbuf *b, walk *w, int depth, const char *key, int first)
{
	return put_key_n(b, w, depth, key, strlen(key), 0, first);
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
	walk w;
	walk_init(&w, mask);
	if (input)
		put_value(b, input, &w, 0);
	else
		MP_JSONBUF_LIT(b, "null");
}

/* The walk of a decision input read from simdjson's document: the mask's, and the top-level key
 * being written, for context.peer. */
typedef struct {
	walk w;
	int in_context; /* the members at depth 1 are context's */
} parsed_walk;

/* mp_request_parsed_write's key writer: put_key_n, and context.peer left out, as the tree's path
 * deletes it (a client never sets context.peer itself; api.c's set_peer_context). */
static int parsed_key(mp_jsonbuf *b, void *arg, int depth, const char *key, size_t len, int first)
{
	parsed_walk *p = arg;
	if (depth == 0)
		p->in_context = len == 7 && !memcmp(key, "context", 7);
	else if (depth == 1 && p->in_context && len == 4 && !memcmp(key, "peer", 4))
		return MP_JSON_MEMBER_LEFT_OUT;
	return put_key_n(b, &p->w, depth, key, len, 0, first) ? MP_JSON_MEMBER_WRITTEN
	                                                      : MP_JSON_MEMBER_VALUE;
}

void mp_loginput_parsed(mp_jsonbuf *b, const mp_bundle *mask)
{
	parsed_walk p = {.in_context = 0};
	walk_init(&p.w, mask);
	mp_request_parsed_write(b, parsed_key, &p);
}

/* The proxy input's own keys: string literals, nothing in them to escape. */
#define KEY(b, w, depth, lit, first) put_key_n(b, w, depth, lit, sizeof(lit) - 1, 1, first)

/* A string member (key: a literal, keylen its length), left out when s is NULL or not UTF-8 (as
 * json_string refuses it). */
static void put_str(mp_jsonbuf *b, walk *w, int depth, const char *key, size_t keylen,
                    const char *s, int *first)
{
	if (!s || !mp_jsonbuf_utf8_valid(s))
		return;
	if (!put_key_n(b, w, depth, key, keylen, 1, *first))
		mp_jsonbuf_string(b, s);
	*first = 0;
}
#define STR(b, w, depth, lit, s, first) put_str(b, w, depth, lit, sizeof(lit) - 1, s, first)

/* Opens an object member (key: a literal): 1 when it is to be written, 0 when it was masked. */
static int open_member(mp_jsonbuf *b, walk *w, int depth, const char *key, size_t keylen, int first)
{
	if (put_key_n(b, w, depth, key, keylen, 1, first))
		return 0;
	MP_JSONBUF_LIT(b, "{");
	return 1;
}
#define OPEN(b, w, depth, lit, first) open_member(b, w, depth, lit, sizeof(lit) - 1, first)

typedef struct {
	char name[256];
	size_t len;
	const char *value;
} header;

void mp_loginput_proxy(mp_jsonbuf *b, const mp_proxyreq *p, const mp_bundle *mask)
{
	const mp_request *r = &p->r;
	walk w;
	header h[MP_REQUEST_MAX_HEADERS];
	uint32_t nh = 0, order[MP_REQUEST_MAX_HEADERS];
	int first;
	walk_init(&w, mask);
	for (uint32_t i = 0; i < r->nheaders && i < MP_REQUEST_MAX_HEADERS; i++) {
		size_t n = strlen(r->headers[i].name);
		if (n >= sizeof(h[0].name) || !mp_jsonbuf_utf8_valid(r->headers[i].name) ||
		    !mp_jsonbuf_utf8_valid(r->headers[i].value))
			continue;
		for (size_t k = 0; k <= n; k++) {
			unsigned char c = (unsigned char)r->headers[i].name[k];
			h[nh].name[k] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
		}
		h[nh].len = n;
		uint32_t j = 0;
		while (j < nh && (h[j].len != n || memcmp(h[j].name, h[nh].name, n)))
			j++;
		h[j].value = r->headers[i].value; /* a repeated name: the last value */
		if (j == nh) { /* in name order: a few headers, an insertion each */
			uint32_t at = nh;
			while (at > 0 && strcmp(h[order[at - 1]].name, h[nh].name) > 0) {
				order[at] = order[at - 1];
				at--;
			}
			order[at] = nh++;
		}
	}
	MP_JSONBUF_LIT(b, "{");
	if (OPEN(b, &w, 0, "destination", 1)) {
		first = 1;
		STR(b, &w, 1, "namespace", r->dst_namespace, &first);
		if (r->port) {
			if (!KEY(b, &w, 1, "port", first))
				mp_jsonbuf_uint(b, (uint64_t)r->port);
			first = 0;
		}
		STR(b, &w, 1, "service", r->dst_service, &first);
		MP_JSONBUF_LIT(b, "}");
	}
	if (OPEN(b, &w, 0, "request", 0)) {
		if (OPEN(b, &w, 1, "headers", 1)) {
			first = 1;
			for (uint32_t i = 0; i < nh; i++) { /* names and values are UTF-8 (above) */
				const header *x = &h[order[i]];
				if (!put_key_n(b, &w, 2, x->name, x->len, 0, first))
					mp_jsonbuf_string(b, x->value);
				first = 0;
			}
			MP_JSONBUF_LIT(b, "}");
		}
		first = 0;
		STR(b, &w, 1, "method", r->method, &first);
		if (!r->path || !mp_jsonbuf_utf8_valid(r->path)) {
			if (!KEY(b, &w, 1, "path", first))
				MP_JSONBUF_LIT(b, "\"(not UTF-8)\"");
		} else if (!KEY(b, &w, 1, "path", first)) {
			mp_jsonbuf_string(b, r->path);
		}
		MP_JSONBUF_LIT(b, "}");
	}
	if (OPEN(b, &w, 0, "source", 0)) {
		first = 1;
		STR(b, &w, 1, "ip", r->src_ip, &first);
		STR(b, &w, 1, "principal", r->principal, &first);
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
