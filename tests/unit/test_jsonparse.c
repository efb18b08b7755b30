/* test_jsonparse.c: engine/jsonparse.cc, mp_json_parse against json_loadb itself: hand-written
 * hostile texts (numbers at the edges, escapes, surrogates, NUL, invalid UTF-8 of each kind,
 * nesting at the two parsers' limits, large strings, duplicate keys, every type at the top with
 * and without JSON_DECODE_ANY) and seeded mutations of real bodies. For each: both fail with the
 * same error, or both succeed with the same tree, value, type (integer vs real) and key order.
 * The fast path must be taken for the normal bodies, and the tree must come from jansson's
 * allocator.
 *
 * mp_request_parse against mp_request_from_json of mp_json_parse's tree, the same way: every
 * key of the input's tables with every kind of value, duplicates at every level, the header
 * count's edge, NULs, request.auth, and seeded mutations of the request examples. It may leave a
 * text to the tree (0), never read one the tree refuses, and a request it reads equals the
 * tree's, field by field. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "alloc.h"
#include "decide.h"
#include "jsonparse.h"
#include "mutate.h"

#include <glob.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The flags the server passes, and the two others of the combinations. */
static const size_t flag_sets[] = {JSON_REJECT_DUPLICATES, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY,
                                   0, JSON_DECODE_ANY};
#define NFLAGS (sizeof(flag_sets) / sizeof(flag_sets[0]))

static char *dump(const json_t *j)
{
	return j ? json_dumps(j, JSON_PRESERVE_ORDER | JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
}

static void print_text(const char *text, size_t len)
{
	print_error("input (%zu bytes): ", len);
	for (size_t i = 0; i < len && i < 200; i++) {
		unsigned char c = (unsigned char)text[i];
		if (c >= 0x20 && c < 0x7f && c != '\\')
			print_error("%c", c);
		else
			print_error("\\x%02x", c);
	}
	print_error("%s\n", len > 200 ? "..." : "");
}

/* 1 when mp_json_parse answered as json_loadb does (printing the difference when not). */
static int same_as_jansson(const char *text, size_t len, size_t flags)
{
	json_error_t want_err, got_err;
	memset(&want_err, 0x5a, sizeof(want_err));
	memset(&got_err, 0x5a, sizeof(got_err));
	json_t *want = json_loadb(text, len, flags, &want_err);
	json_t *got = mp_json_parse(text, len, flags, &got_err);
	char *w = dump(want), *g = dump(got);
	int same = (!want) == (!got) && (!w || (g && strcmp(w, g) == 0)) &&
	           (!want || json_equal(want, got)) && strcmp(want_err.text, got_err.text) == 0 &&
	           strcmp(want_err.source, got_err.source) == 0 && want_err.line == got_err.line &&
	           want_err.column == got_err.column && want_err.position == got_err.position;
	if (!same) {
		print_text(text, len);
		print_error(
		    "flags %zx\n json_loadb    %.200s [%s %d:%d @%d]\n mp_json_parse %.200s "
		    "[%s %d:%d @%d]\n",
		    flags, w ? w : "NULL", want_err.text, want_err.line, want_err.column,
		    want_err.position, g ? g : "NULL", got_err.text, got_err.line, got_err.column,
		    got_err.position);
	}
	free(w);
	free(g);
	json_decref(want);
	json_decref(got);
	return same;
}

static void check_all_flags(const char *text, size_t len)
{
	for (size_t f = 0; f < NFLAGS; f++)
		assert_true(same_as_jansson(text, len, flag_sets[f]));
}

/* 1 when this one call took the fast path. */
static int took_fast_path(const char *text, size_t len, size_t flags)
{
	mp_json_parse_counts before = mp_json_parse_counted();
	json_t *j = mp_json_parse(text, len, flags, NULL);
	mp_json_parse_counts after = mp_json_parse_counted();
	json_decref(j);
	assert_int_equal(after.fast + after.fallback, before.fast + before.fallback + 1);
	return after.fast == before.fast + 1;
}

/* Texts small enough to write out; each is checked under every flag combination. */
static const char *const cases[] = {
    /* every type at the top, bare and with white space */
    "{}",
    "[]",
    "\"s\"",
    "1",
    "-1",
    "1.5",
    "true",
    "false",
    "null",
    " {} ",
    "\t[]\r\n",
    " \"s\" ",
    " 1 ",
    "\n1.5\n",
    " true",
    "null ",
    "{\"a\":[1,2.5,\"x\",true,false,null,{},[]]}",
    /* numbers at the edges: jansson makes 1 an integer and 1.0, 1e2 reals */
    "[0]",
    "[-0]",
    "[-0.0]",
    "[-0e0]",
    "[0e400]",
    "[0.0e-99999]",
    "[1e308]",
    "[1e309]",
    "[-1e309]",
    "[1e-400]",
    "[-1e-400]",
    "[4.9e-324]",
    "[2.4e-324]",
    "[2.5e-324]",
    "[1.7976931348623157e308]",
    "[1.7976931348623159e308]",
    "[2.2250738585072011e-308]",
    "[9223372036854775807]",
    "[9223372036854775808]",
    "[-9223372036854775808]",
    "[-9223372036854775809]",
    "[18446744073709551615]",
    "[18446744073709551616]",
    "[123456789012345678901234567890]",
    "[-123456789012345678901234567890]",
    "[9223372036854775807.0]",
    "[9223372036854775808e0]",
    "[1.0]",
    "[1e2]",
    "[1E2]",
    "[1e+2]",
    "[1e-2]",
    "[1.5E-2]",
    "[0.1]",
    "[1e23]",
    "[8.98846567431158e307]",
    "[0.10000000000000000555111512312578270211815834045410156250001]",
    "[1234567890123456789012345678901234567890.5]",
    "[00]",
    "[01]",
    "[-01]",
    "[1.]",
    "[.1]",
    "[+1]",
    "[-]",
    "[--1]",
    "[1e]",
    "[1e+]",
    "[0x1]",
    "[Infinity]",
    "[NaN]",
    "[-Infinity]",
    "[1.e5]",
    "[1 2]",
    "1 2",
    "-",
    "01",
    /* escapes, surrogates valid and lone, \u0000 */
    "[\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"]",
    "[\"\\u00e9\\u20AC\\uFFFF\\uFFFE\"]",
    "[\"\\u0041\"]",
    "[\"\\uD83D\\uDE00\"]",
    "[\"\\ud83d\\ude00\"]",
    "[\"\\uDBFF\\uDFFF\"]",
    "[\"\\uD800\"]",
    "[\"\\uDC00\"]",
    "[\"\\uDFFF\"]",
    "[\"\\uD800\\uE000\"]",
    "[\"\\uD800\\uD800\"]",
    "[\"\\uD800x\"]",
    "[\"\\uD800\\u0041\"]",
    "[\"\\uDBFF\\uFFFF\"]",
    "[\"\\uDC00\\uD800\"]",
    "[\"\\u\"]",
    "[\"\\u12\"]",
    "[\"\\u12G4\"]",
    "[\"\\x\"]",
    "[\"\\'\"]",
    "[\"\\U0041\"]",
    "[\"\\a\"]",
    "[\"\\",
    "[\"\\u0000\"]",
    "[\"a\\u0000\"]",
    "{\"\\u0000\":1}",
    "{\"a\\u0000b\":1}",
    "\"\\u0000\"",
    "[\"\\\\u0000\"]",
    "{\"\\\\u0000\":\"\\\\\"}",
    /* invalid UTF-8 of each kind, in a string and outside one */
    "[\"\x80\"]",
    "[\"\xbf\"]",
    "[\"\xc2\"]",
    "[\"\xc2\x41\"]",
    "[\"\xc0\x80\"]",
    "[\"\xc1\xbf\"]",
    "[\"\xe0\x80\x80\"]",
    "[\"\xe0\x9f\xbf\"]",
    "[\"\xf0\x80\x80\x80\"]",
    "[\"\xf0\x8f\xbf\xbf\"]",
    "[\"\xed\xa0\x80\"]",
    "[\"\xed\xbf\xbf\"]",
    "[\"\xed\xa0\xbd\xed\xb8\x80\"]",
    "[\"\xf4\x90\x80\x80\"]",
    "[\"\xf5\x80\x80\x80\"]",
    "[\"\xf8\x88\x80\x80\x80\"]",
    "[\"\xfe\"]",
    "[\"\xff\"]",
    "[\"\xe2\x82\"]",
    "[\"\xf0\x9f\x98\"]",
    "[\"\xe2\x82\xac\xac\"]",
    "[\"\xc2\xa9\xe2\x82\xac\xf0\x9f\x98\x80\xef\xbf\xbf\xf4\x8f\xbf\xbf\"]",
    "\x80",
    "[\xc2\xa9]",
    "{\"\xc0\xae\":1}",
    "{\"\xc2\xa9\":1}",
    "[\"\x7f\"]",
    /* control characters, byte order mark, white space of other kinds */
    "[\"a\tb\"]",
    "[\"a\nb\"]",
    "[\"\x01\"]",
    "[\"\x1f\"]",
    "\xef\xbb\xbf{}",
    "\xef\xbb\xbf[1]",
    "\xef\xbb\xbf",
    "\v[1]",
    "\f[1]",
    "[1]\v",
    "\xc2\xa0[1]",
    "[1,\r\n2]",
    "[1\t,\t2]",
    "{\n\"a\"\n:\n1\n}",
    "\r\n",
    /* trailing garbage, structure errors, empty input */
    "",
    " ",
    "\n",
    "{}x",
    "{} {}",
    "[1]]",
    "{}\n\n,",
    "[1] //",
    "[1,]",
    "{\"a\":1,}",
    "{\"a\"}",
    "{1:2}",
    "{\"a\" 1}",
    "{\"a\":}",
    "['a']",
    "tru",
    "nulll",
    "[true false]",
    "[",
    "]",
    "{",
    "}",
    "[[]",
    "{\"a\":{}",
    "\"abc",
    "[\"abc]",
    "{,}",
    "[,1]",
    ",",
    ":",
    "{\"a\"::1}",
    /* duplicate keys, at the top and at depth; keys equal once unescaped */
    "{\"a\":1,\"a\":2}",
    "{\"a\":1,\"b\":2,\"a\":3}",
    "{\"a\":{\"b\":1,\"b\":2}}",
    "[{\"a\":1},{\"a\":1}]",
    "{\"a\":1,\"b\":{\"c\":[{\"d\":1,\"d\":{\"e\":2}}]}}",
    "{\"a\":1,\"\\u0061\":2}",
    "{\"\\u00e9\":1,\"\xc3\xa9\":2}",
    "{\"\":1,\"\":2}",
    "{\"a\":[1],\"b\":{},\"a\":null}",
    "{\"x\":{\"y\":{\"z\":{\"y\":1,\"y\":1}}}}",
    "{\"a\":1,\"A\":2}",
};

static void test_cases(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		check_all_flags(cases[i], strlen(cases[i]));
}

/* NUL bytes in the text itself (json_loadb takes a length, so they reach the parser). */
static void test_raw_nul(void **state)
{
	(void)state;
	static const struct {
		const char *text;
		size_t len;
	} nuls[] = {
	    {"[1]\0", 4},        {"\0[1]", 4},   {"[\"a\0b\"]", 7}, {"{\"a\0\":1}", 8},
	    {"[1,\0 2]", 7},     {"\0", 1},      {"{}\0\0", 4},     {"[\"\\u0000\0\"]", 11},
	    {"[\"\xc2\0\"]", 6}, {"[1\0.5]", 6},
	};
	for (size_t i = 0; i < sizeof(nuls) / sizeof(nuls[0]); i++)
		check_all_flags(nuls[i].text, nuls[i].len);
	/* no text at all: json_loadb's "wrong arguments" */
	json_error_t e;
	assert_null(mp_json_parse(NULL, 0, 0, &e));
	assert_string_equal(e.text, "wrong arguments");
}

/* "[[[...]]]" and {"a":{"a":...}} n deep: simdjson stops at 1,024, jansson at 2,048. */
static char *nested(size_t n, int objects)
{
	const char *open = objects ? "{\"a\":" : "[", *close = objects ? "}" : "]";
	size_t ol = strlen(open);
	char *s = malloc(n * (ol + 1) + 2), *p = s;
	for (size_t i = 0; i < n; i++, p += ol)
		memcpy(p, open, ol);
	if (objects)
		*p++ = '1';
	for (size_t i = 0; i < n; i++)
		*p++ = *close;
	*p = '\0';
	return s;
}

static void test_depth(void **state)
{
	(void)state;
	static const size_t depths[] = {1, 2, 1000, 1023, 1024, 1025, 1100, 2047, 2048, 2049, 5000};
	for (size_t i = 0; i < sizeof(depths) / sizeof(depths[0]); i++)
		for (int objects = 0; objects <= 1; objects++) {
			char *s = nested(depths[i], objects);
			check_all_flags(s, strlen(s));
			free(s);
		}
	char *s = nested(1000, 0);
	assert_true(took_fast_path(s, strlen(s), JSON_REJECT_DUPLICATES));
	free(s);
}

/* Strings of 1 MB (past the fast path's capacity) and just under it, escaped and not. */
static void test_large(void **state)
{
	(void)state;
	static const size_t sizes[] = {60 * 1024, MP_JSON_FAST_MAX - 4, MP_JSON_FAST_MAX - 3,
	                               MP_JSON_FAST_MAX, 1024 * 1024};
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		size_t n = sizes[i];
		char *s = malloc(n + 1);
		memset(s, 'a', n);
		memcpy(s, "[\"", 2);
		memcpy(s + n - 2, "\"]", 2);
		for (size_t k = 100; k + 12 < n; k += 997) /* escapes and multibyte characters */
			memcpy(s + k, k % 2 ? "\\u00e9\\n" : "\xe2\x82\xac\\\"   ", 8);
		s[n] = '\0';
		check_all_flags(s, n);
		check_all_flags(s + 1, n - 2); /* the bare string */
		assert_int_equal(took_fast_path(s, n, JSON_REJECT_DUPLICATES),
		                 n <= MP_JSON_FAST_MAX);
		s[n / 2] = '\0'; /* and a NUL in the middle */
		check_all_flags(s, n);
		free(s);
	}
}

/* Without JSON_REJECT_DUPLICATES, jansson keeps the first key's place and the last value. */
static void test_duplicates_kept_last(void **state)
{
	(void)state;
	const char *t = "{\"a\":1,\"b\":2,\"a\":{\"c\":3}}";
	json_t *j = mp_json_parse(t, strlen(t), 0, NULL);
	char *s = dump(j);
	assert_string_equal(s, "{\"a\":{\"c\":3},\"b\":2}");
	free(s);
	json_decref(j);
	assert_true(took_fast_path(t, strlen(t), 0));
	assert_false(took_fast_path(t, strlen(t), JSON_REJECT_DUPLICATES));
}

/* Calls check(path, text, len) for each request body of the examples (at least five). */
static void each_example(void (*check)(const char *path, const char *text, size_t len))
{
	glob_t g;
	assert_int_equal(glob("examples/requests/*.json", 0, NULL, &g), 0);
	assert_true(g.gl_pathc >= 5);
	for (size_t i = 0; i < g.gl_pathc; i++) {
		FILE *f = fopen(g.gl_pathv[i], "rb");
		assert_non_null(f);
		char buf[8192];
		size_t n = fread(buf, 1, sizeof(buf), f);
		fclose(f);
		check(g.gl_pathv[i], buf, n);
	}
	globfree(&g);
}

static void body_fast(const char *path, const char *text, size_t len)
{
	assert_true(same_as_jansson(text, len, JSON_REJECT_DUPLICATES));
	if (!took_fast_path(text, len, JSON_REJECT_DUPLICATES))
		print_error("%s: not on the fast path\n", path);
	assert_true(took_fast_path(text, len, JSON_REJECT_DUPLICATES));
}

/* The request bodies of the examples take the fast path, under the server's flags. */
static void test_bodies_fast(void **state)
{
	(void)state;
	each_example(body_fast);
	/* and the shapes of the hand-written cases that should */
	static const char *const fast[] = {"{\"a\":[1,2.5,\"x\",true,false,null,{},[]]}",
	                                   "[-0]",
	                                   "[-0.0]",
	                                   "[\"\\u00e9\\uD83D\\uDE00\\n\"]",
	                                   "[9223372036854775807]",
	                                   "[-9223372036854775808]"};
	for (size_t i = 0; i < sizeof(fast) / sizeof(fast[0]); i++)
		assert_true(took_fast_path(fast[i], strlen(fast[i]), JSON_REJECT_DUPLICATES));
	assert_true(took_fast_path("1", 1, JSON_DECODE_ANY));
	assert_false(took_fast_path("1", 1, JSON_REJECT_DUPLICATES));
	assert_false(took_fast_path("{}", 2, JSON_ALLOW_NUL)); /* other flags: json_loadb */
}

/* --- jansson's allocator serves the tree (the server's body arena relies on it) --- */
static size_t allocs, frees;
static void *counting_malloc(size_t n)
{
	allocs++;
	return malloc(n);
}
static void counting_free(void *p)
{
	frees += p != NULL;
	free(p);
}

static void test_allocator(void **state)
{
	(void)state;
	json_malloc_t m;
	json_free_t f;
	json_get_alloc_funcs(&m, &f);
	json_set_alloc_funcs(counting_malloc, counting_free);
	const char *t = "{\"a\":[1,\"x\",{\"b\":2.5}],\"c\":\"long enough to be a string\"}";
	json_t *j = mp_json_parse(t, strlen(t), JSON_REJECT_DUPLICATES, NULL);
	assert_non_null(j);
	assert_true(allocs >= 8);
	json_decref(j);
	assert_int_equal(allocs, frees);
	json_set_alloc_funcs(m, f);
}

/* --- seeded mutations of real bodies (mutate.h) --- */

/* Seeds that are not files: the shapes the hand-written cases probe, in one document. */
static const char seed_doc[] =
    "{\"n\":[0,-0,1,-1,1.5,-0.0,1e2,1E-2,9223372036854775807,-9223372036854775808,0.1],"
    "\"s\":[\"\",\"\\u00e9\\uD83D\\uDE00\\n\\t\\\"\\\\\\/\",\"\xc2\xa9\xe2\x82\xac\"],"
    "\"o\":{\"a\":{\"b\":[{},[],null,true,false]},\"c\":\"d\"}}";

static int jansson_check(const char *text, size_t len, long i, int *read)
{
	(void)read; /* both ways read every text */
	return same_as_jansson(text, len, flag_sets[i % NFLAGS]);
}

static void test_mutations(void **state)
{
	(void)state;
	static const char *const patterns[] = {
	    "examples/requests/*.json", "examples/opa-envoy/*.json", "examples/kuma/request.json",
	    "tests/data/audit/sample.json"};
	char *seeds[64];
	size_t seed_len[64], nseeds = 0;
	seeds[nseeds] = strdup(seed_doc);
	seed_len[nseeds++] = strlen(seed_doc);
	for (size_t p = 0; p < sizeof(patterns) / sizeof(patterns[0]); p++) {
		nseeds =
		    mutate_add_seeds(patterns[p], seeds, seed_len, nseeds, 64, MP_JSON_FAST_MAX);
		assert_true(nseeds != SIZE_MAX);
	}
	assert_true(nseeds >= 10);

	const char *env = getenv("MP_JSONPARSE_MUTATIONS"); /* longer runs by hand */
	long total = env ? atol(env) : 200000;
	mp_json_parse_counts before = mp_json_parse_counted();
	mutate_counts c = mutate_run(seeds, seed_len, nseeds, total, 20261207,
	                             MP_JSON_FAST_MAX + 1024, jansson_check);
	mp_json_parse_counts after = mp_json_parse_counted();
	/* both paths were exercised, the fast one for a good share of the texts */
	print_message("%ld mutations: %llu fast, %llu to json_loadb\n", total,
	              (unsigned long long)(after.fast - before.fast),
	              (unsigned long long)(after.fallback - before.fallback));
	assert_int_equal(c.failures, 0);
	assert_true(after.fast - before.fast > (uint64_t)total / 10);
	assert_true(after.fallback - before.fallback > (uint64_t)total / 10);
	mutate_free_seeds(seeds, nseeds);
}

/* --- mp_request_parse: the decision input without the tree --- */

static int same_str(const char *a, const char *b)
{
	return a == b || (a && b && strcmp(a, b) == 0);
}

static int same_json(json_t *a, json_t *b)
{
	return a == b || (a && b && json_equal(a, b));
}

static int same_request(const mp_request *a, const mp_request *b)
{
	if (!same_str(a->principal, b->principal) ||
	    !same_str(a->src_namespace, b->src_namespace) ||
	    !same_str(a->src_service, b->src_service) || !same_str(a->src_ip, b->src_ip) ||
	    !same_str(a->src_cluster, b->src_cluster) ||
	    !same_str(a->dst_service, b->dst_service) ||
	    !same_str(a->dst_namespace, b->dst_namespace) ||
	    !same_str(a->dst_cluster, b->dst_cluster) || a->port != b->port ||
	    !same_str(a->method, b->method) || !same_str(a->path, b->path) ||
	    (!a->headers) != (!b->headers) || a->nheaders != b->nheaders ||
	    !same_json(a->context, b->context) || !same_str(a->src_remote_ip, b->src_remote_ip) ||
	    !same_str(a->dst_ip, b->dst_ip) || !same_str(a->dst_workload, b->dst_workload) ||
	    !same_str(a->host, b->host) || !same_str(a->sni, b->sni) ||
	    !same_json(a->auth, b->auth) || !same_json(a->src_labels, b->src_labels) ||
	    a->dst_external != b->dst_external || !same_str(a->src_peer, b->src_peer) ||
	    !same_str(a->src_partition, b->src_partition))
		return 0;
	for (uint32_t i = 0; i < a->nheaders; i++)
		if (!same_str(a->headers[i].name, b->headers[i].name) ||
		    !same_str(a->headers[i].value, b->headers[i].value))
			return 0;
	return 1;
}

/* --- mp_request_parsed_write: the input read back from the document --- */

/* A key writer that writes every key as json_dumps does and keeps every member. */
static int plain_key(mp_jsonbuf *b, void *arg, int depth, const char *key, size_t len, int first)
{
	(void)arg;
	(void)depth;
	if (strlen(key) != len)
		return -1; /* neither of the three: the comparison fails */
	if (!first)
		MP_JSONBUF_LIT(b, ",");
	mp_jsonbuf_string(b, key);
	MP_JSONBUF_LIT(b, ":");
	return MP_JSON_MEMBER_VALUE;
}

/* 1 when mp_request_parsed_write, right after a successful mp_request_parse, writes what
 * json_dumps(JSON_COMPACT | JSON_SORT_KEYS) writes of tree: in ASCII and in UTF-8. */
static int writes_as_tree(const char *text, size_t len, json_t *tree)
{
	int same = 1;
	for (int ascii = 0; ascii <= 1; ascii++) {
		char *want = json_dumps(tree, JSON_COMPACT | JSON_SORT_KEYS |
		                                  (ascii ? JSON_ENSURE_ASCII : 0));
		mp_jsonbuf b;
		mp_jsonbuf_init(&b, NULL, 0);
		b.ascii = ascii;
		int rc = mp_request_parsed_write(&b, plain_key, NULL);
		mp_jsonbuf_raw(&b, "", 1);
		if (rc != 0 || b.oom || !want || strcmp(want, b.p)) {
			print_text(text, len);
			print_error("ascii %d, rc %d:\n want %.300s\n  got %.300s\n", ascii, rc,
			            want ? want : "NULL", b.oom ? "(oom)" : b.p);
			same = 0;
		}
		free(want);
		mp_jsonbuf_free(&b);
	}
	return same;
}

/* 1 when mp_request_parse answered as the tree's path does, and what it read is written back as
 * the tree is dumped; *read: it read the text itself. */
static int same_as_tree(const char *text, size_t len, int *read)
{
	mp_request want, got;
	mp_header wh[MP_REQUEST_MAX_HEADERS], gh[MP_REQUEST_MAX_HEADERS];
	json_t *held[MP_REQUEST_HELD];
	char err[512];
	json_t *tree = mp_json_parse(text, len, JSON_REJECT_DUPLICATES, NULL);
	int tree_ok = tree && mp_request_from_json(tree, &want, wh, err, sizeof(err)) == 0;
	/* parsed last: its strings live until this thread's next parse */
	int fast = mp_request_parse(text, len, &got, gh, held);
	int same =
	    !fast || (tree_ok && same_request(&want, &got) && writes_as_tree(text, len, tree));
	if (!fast) {
		mp_request zero;
		memset(&zero, 0, sizeof(zero));
		same = same && !memcmp(&got, &zero, sizeof(zero)) && !held[0] && !held[1];
	}
	if (!same) {
		print_text(text, len);
		print_error("mp_request_parse read it (%s)\n",
		            tree_ok ? "the tree reads it otherwise" : "the tree refuses it");
	}
	for (size_t i = 0; i < MP_REQUEST_HELD; i++)
		json_decref(held[i]);
	json_decref(tree);
	if (read)
		*read = fast;
	return same;
}

/* Each is held to the tree; read says whether mp_request_parse must read it itself (1), must
 * leave it to the tree (0). */
static const struct {
	const char *text;
	int read;
} inputs[] = {
    {"{\"destination\":{\"service\":\"pay\"}}", 1},
    {"{\"destination\":{\"service\":\"pay\",\"namespace\":\"billing\",\"port\":1,\"cluster\":\"c\","
     "\"ip\":\"10.0.0.1\",\"workload\":\"w\",\"external\":true}}",
     1},
    {"{\"destination\":{\"service\":\"pay\",\"port\":65535,\"external\":false}}", 1},
    {"{\"source\":{\"principal\":\"spiffe://t/ns/a/sa/b\",\"namespace\":\"a\",\"service\":\"b\","
     "\"ip\":\"1.2.3.4\",\"remote_ip\":\"5.6.7.8\",\"cluster\":\"c\",\"labels\":{\"k\":\"v\"},"
     "\"peer\":\"p\",\"partition\":\"q\"},\"destination\":{\"service\":\"pay\"}}",
     1},
    {"{\"request\":{\"method\":\"GET\",\"path\":\"/x\",\"host\":\"h\",\"sni\":\"s\","
     "\"headers\":{\"a\":\"1\",\"B\":\"2\",\"\":\"\"}},\"destination\":{\"service\":\"pay\"}}",
     1},
    {"{\"destination\":{\"service\":\"pay\"},\"context\":{\"a\":[1,2.5,\"x\",null,{\"b\":{}}]}}",
     1},
    {"{\"destination\":{\"service\":\"pay\"},\"context\":{},\"source\":null,\"request\":null}", 1},
    {"{\"destination\":{\"service\":\"pay\",\"port\":null,\"namespace\":null},"
     "\"source\":{\"labels\":null,\"principal\":null},\"request\":{\"headers\":null}}",
     1},
    {"{\"destination\":{\"service\":\"pay\"},\"request\":{\"headers\":{}}}", 1},
    {" \n{ \"destination\" : { \"service\" : \"p\\u00e9\\n\" } }\t", 1},
    /* the tree's: request.auth (kept as a tree of its own) */
    {"{\"destination\":{\"service\":\"pay\"},\"request\":{\"auth\":{\"principal\":\"x\"}}}", 0},
    {"{\"destination\":{\"service\":\"pay\"},\"request\":{\"auth\":{}}}", 0},
    {"{\"destination\":{\"service\":\"pay\"},\"request\":{\"auth\":null}}", 1},
    /* errors: every one the tree's, which says what is wrong */
    {"", 0},
    {"[]", 0},
    {"\"s\"", 0},
    {"{}", 0},
    {"null", 0},
    {"{\"destination\":null}", 0},
    {"{\"destination\":{}}", 0},
    {"{\"destination\":{\"service\":\"\"}}", 0},
    {"{\"destination\":{\"service\":null}}", 0},
    {"{\"destination\":\"pay\"}", 0},
    {"{\"destination\":{\"service\":1}}", 0},
    {"{\"destination\":{\"servic\":\"pay\"}}", 0},
    {"{\"destinatio\":{\"service\":\"pay\"}}", 0},
    {"{\"destination\":{\"service\":\"pay\"},\"x\":1}", 0},
    {"{\"destination\":{\"service\":\"pay\",\"port\":0}}", 0},
    {"{\"destination\":{\"service\":\"pay\",\"port\":65536}}", 0},
    {"{\"destination\":{\"service\":\"pay\",\"port\":-1}}", 0},
    {"{\"destination\":{\"service\":\"pay\",\"port\":8080.0}}", 0},
    {"{\"destination\":{\"service\":\"pay\",\"port\":\"8080\"}}", 0},
    {"{\"destination\":{\"service\":\"pay\",\"port\":1e3}}", 0},
    {"{\"destination\":{\"service\":\"pay\",\"port\":18446744073709551615}}", 0},
    {"{\"destination\":{\"service\":\"pay\",\"external\":\"true\"}}", 0},
    {"{\"destination\":{\"service\":\"pay\",\"external\":1}}", 0},
    {"{\"destination\":{\"service\":\"pay\"},\"source\":[]}", 0},
    {"{\"destination\":{\"service\":\"pay\"},\"source\":{\"labels\":{\"k\":1}}}", 0},
    {"{\"destination\":{\"service\":\"pay\"},\"source\":{\"labels\":[]}}", 0},
    {"{\"destination\":{\"service\":\"pay\"},\"source\":{\"labels\":{\"k\":null}}}", 0},
    {"{\"destination\":{\"service\":\"pay\"},\"context\":[]}", 0},
    {"{\"destination\":{\"service\":\"pay\"},\"context\":\"x\"}", 0},
    {"{\"destination\":{\"service\":\"pay\"},\"request\":{\"headers\":{\"a\":1}}}", 0},
    {"{\"destination\":{\"service\":\"pay\"},\"request\":{\"headers\":{\"a\":null}}}", 0},
    {"{\"destination\":{\"service\":\"pay\"},\"request\":{\"headers\":[\"a\"]}}", 0},
    {"{\"destination\":{\"service\":\"pay\"},\"request\":{\"method\":[\"GET\"]}}", 0},
    /* duplicates, at every level: json_loadb refuses them */
    {"{\"destination\":{\"service\":\"pay\"},\"destination\":{\"service\":\"pay\"}}", 0},
    {"{\"destination\":{\"service\":\"pay\",\"service\":\"pay\"}}", 0},
    {"{\"destination\":{\"service\":\"pay\",\"port\":null,\"port\":null}}", 0},
    {"{\"context\":null,\"destination\":{\"service\":\"pay\"},\"context\":null}", 0},
    {"{\"destination\":{\"service\":\"pay\"},\"request\":{\"headers\":{\"a\":\"1\",\"a\":\"2\"}}}",
     0},
    {"{\"destination\":{\"service\":\"pay\"},\"request\":{\"headers\":{\"a\":\"1\",\"A\":\"2\"}}}",
     1},
    {"{\"destination\":{\"service\":\"pay\"},\"request\":{\"headers\":{\"ab\":\"1\",\"a\":\"2\"}}}",
     1},
    {"{\"destination\":{\"service\":\"pay\"},\"context\":{\"a\":{\"b\":1,\"b\":2}}}", 0},
    {"{\"destination\":{\"service\":\"pay\"},\"source\":{\"labels\":{\"k\":\"1\",\"k\":\"2\"}}}",
     0},
    /* NUL, escaped: jansson refuses it in a key or a string */
    {"{\"destination\":{\"service\":\"p\\u0000y\"}}", 0},
    {"{\"destination\":{\"service\\u0000\":\"pay\"}}", 0},
    {"{\"destination\":{\"service\":\"pay\"},\"request\":{\"headers\":{\"a\\u0000\":\"1\"}}}", 0},
    {"{\"destination\":{\"service\":\"pay\"},\"request\":{\"headers\":{\"a\":\"\\u0000\"}}}", 0},
    {"{\"destination\":{\"service\":\"pay\"},\"context\":{\"\\u0000\":1}}", 0},
    /* a byte order mark; the text cut short; trailing bytes */
    {"\xEF\xBB\xBF{\"destination\":{\"service\":\"pay\"}}", 0},
    {"{\"destination\":{\"service\":\"pay\"}", 0},
    {"{\"destination\":{\"service\":\"pay\"}}x", 0},
    {"{\"destination\":{\"service\":\"pay\"}}{}", 0},
};

static void test_input_cases(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(inputs) / sizeof(inputs[0]); i++) {
		int read;
		assert_true(same_as_tree(inputs[i].text, strlen(inputs[i].text), &read));
		if (read != inputs[i].read)
			print_error("case %zu: read %d, want %d: %s\n", i, read, inputs[i].read,
			            inputs[i].text);
		assert_int_equal(read, inputs[i].read);
	}
}

/* 64 headers are read; 65 are the tree's ("more than 64 headers"). */
static void test_input_header_count(void **state)
{
	(void)state;
	for (int n = MP_REQUEST_MAX_HEADERS - 1; n <= MP_REQUEST_MAX_HEADERS + 1; n++) {
		char text[4096];
		size_t len = (size_t)snprintf(text, sizeof(text),
		                              "{\"destination\":{\"service\":\"pay\"},"
		                              "\"request\":{\"headers\":{");
		for (int i = 0; i < n; i++)
			len += (size_t)snprintf(text + len, sizeof(text) - len, "%s\"h%d\":\"%d\"",
			                        i ? "," : "", i, i);
		len += (size_t)snprintf(text + len, sizeof(text) - len, "}}}");
		int read;
		assert_true(same_as_tree(text, len, &read));
		assert_int_equal(read, n <= MP_REQUEST_MAX_HEADERS);
	}
}

static void input_read(const char *path, const char *text, size_t len)
{
	int read;
	assert_true(same_as_tree(text, len, &read));
	if (!read)
		print_error("%s: left to the tree\n", path);
	assert_true(read);
}

/* The examples' bodies are read without the tree, each as the tree reads it, and what is kept
 * (context, labels) comes from jansson's allocator, freed by the caller. */
static void test_input_examples(void **state)
{
	(void)state;
	each_example(input_read);
	const char *t = "{\"destination\":{\"service\":\"pay\"},\"context\":{\"a\":[1]},"
	                "\"source\":{\"labels\":{\"k\":\"v\"}}}";
	mp_request r;
	mp_header h[MP_REQUEST_MAX_HEADERS];
	json_t *held[MP_REQUEST_HELD];
	allocs = frees = 0;
	json_set_alloc_funcs(counting_malloc, counting_free);
	mp_json_parse_counts before = mp_json_parse_counted();
	assert_int_equal(mp_request_parse(t, strlen(t), &r, h, held), 1);
	mp_json_parse_counts after = mp_json_parse_counted();
	assert_int_equal(after.input, before.input + 1);
	assert_int_equal(after.fast, before.fast); /* no tree of the whole text */
	assert_true(allocs > 0);
	assert_true(r.context == held[0] || r.context == held[1]);
	assert_true(r.src_labels == held[0] || r.src_labels == held[1]);
	json_decref(held[0]);
	json_decref(held[1]);
	assert_int_equal(allocs, frees);
	json_set_alloc_funcs(malloc, free);
	/* one left to the tree builds nothing it keeps */
	t = "{\"destination\":{\"service\":\"pay\"},\"context\":{\"a\":[1]},\"x\":1}";
	before = mp_json_parse_counted();
	assert_int_equal(mp_request_parse(t, strlen(t), &r, h, held), 0);
	assert_int_equal(mp_json_parse_counted().input_refused, before.input_refused + 1);
	assert_null(held[0]);
	assert_null(held[1]);
	assert_int_equal(mp_request_parse(NULL, 0, &r, h, held), 0);
}

static int tree_check(const char *text, size_t len, long i, int *read)
{
	(void)i;
	return same_as_tree(text, len, read);
}

static void test_input_mutations(void **state)
{
	(void)state;
	static const char extra[] =
	    "{\"source\":{\"principal\":\"spiffe://t/ns/a/sa/b\",\"labels\":{\"k\":\"v\"},"
	    "\"ip\":\"1.2.3.4\"},\"destination\":{\"service\":\"pay\",\"port\":8080,\"external\":"
	    "true},"
	    "\"request\":{\"method\":\"GET\",\"path\":\"/"
	    "\\u00e9\",\"headers\":{\"a\":\"1\",\"b\":\"\"}},"
	    "\"context\":{\"n\":[1,-0,1.5,null,true],\"o\":{\"p\":\"q\"}}}";
	char *seeds[32];
	size_t seed_len[32], nseeds = 0;
	seeds[nseeds] = strdup(extra);
	seed_len[nseeds++] = strlen(extra);
	size_t before = nseeds;
	nseeds = mutate_add_seeds("examples/requests/*.json", seeds, seed_len, nseeds, 32, 8192);
	assert_true(nseeds != SIZE_MAX && nseeds > before);
	const char *env = getenv("MP_JSONPARSE_MUTATIONS");
	long total = env ? atol(env) : 100000;
	mutate_counts c = mutate_run(seeds, seed_len, nseeds, total, 20261208, 16384, tree_check);
	long left = c.runs - c.read;
	print_message("%ld mutations: %ld read, %ld left to the tree\n", total, c.read, left);
	assert_int_equal(c.failures, 0);
	assert_true(c.read > total / 20);
	assert_true(left > total / 10);
	mutate_free_seeds(seeds, nseeds);
}

/* Numbers read back as jansson prints them: reals by "%.17g" with its trimming, integers to
 * int64's ends; the ones json_loadb refuses are left to the tree. Strings with every kind of
 * escape, UTF-8 of one to four bytes, 60 KB strings, nesting to simdjson's limit. */
static void test_input_write_values(void **state)
{
	(void)state;
	static const struct {
		const char *context;
		int read;
	} values[] = {
	    {"{\"r\":[1.5,-0.0,0.1,1e300,-1e-300,5e-324,2.2250738585072014e-308]}", 1},
	    {"{\"r\":[1.7976931348623157e308,1e22,1e21,1e16,1e17,123456789.123456789]}", 1},
	    {"{\"r\":[2.5e-5,100.0,1E2,1e+2,0.5e1,-0,0,0.0,3.0e0,1e-7,123e-2]}", 1},
	    {"{\"i\":[9223372036854775807,-9223372036854775808,-1,1,4294967296]}", 1},
	    {"{\"r\":1e400}", 0},
	    {"{\"r\":-1e400}", 0},
	    {"{\"i\":18446744073709551616}", 0},
	    {"{\"i\":9223372036854775808}", 0},
	    {"{\"i\":-9223372036854775809}", 0},
	    {"{\"s\":\"\\u00e9\\u20ac\\ud83d\\ude00\\uffff\\n\\t\\b\\f\\r\\\"\\\\\\/"
	     "\\u0001\\u001f\\u007f\"}",
	     1},
	    {"{\"s\":\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\xef\xbf\xbf\x7f\"}", 1},
	    {"{\"\xc3\xa9\":1,\"e\":2,\"\\u00e8\":3,\"\":4,\"E\":5,\"ee\":6}", 1},
	    {"{\"s\":\"a\\u0000b\"}", 0},
	    {"{\"\\u0000\":1}", 0},
	    {"{\"s\":\"\\ud800\"}", 0},
	    {"{\"a\":1,\"a\":2}", 0},
	    {"{\"o\":[{\"a\":1,\"a\":2}]}", 0},
	    {"{\"o\":[{\"b\":1,\"a\":[{\"d\":{},\"c\":[]}]},[],{}],\"n\":null,\"t\":true,\"f\":"
	     "false}",
	     1},
	};
	char text[512];
	for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
		int n = snprintf(text, sizeof(text),
		                 "{\"destination\":{\"service\":\"pay\"},\"context\":%s}",
		                 values[i].context);
		int read;
		assert_true(same_as_tree(text, (size_t)n, &read));
		if (read != values[i].read)
			print_error("case %zu: read %d, want %d: %s\n", i, read, values[i].read,
			            text);
		assert_int_equal(read, values[i].read);
	}
	/* a 60 KB string with escapes and multi-byte characters; one over the fast path's size */
	static const size_t sizes[] = {60 * 1024, MP_JSON_FAST_MAX + 10};
	for (size_t k = 0; k < 2; k++) {
		size_t n = sizes[k];
		char *big = malloc(n + 1);
		int head = snprintf(big, n,
		                    "{\"destination\":{\"service\":\"pay\"},\"context\":{\"s\":\"");
		memset(big + head, 'a', n - (size_t)head);
		for (size_t at = (size_t)head + 10; at + 20 < n; at += 499)
			memcpy(big + at,
			       at % 2 ? "\\u00e9\\n\xe2\x82\xac" : "\\\"\xf0\x9f\x98\x80\\/xyz",
			       11);
		memcpy(big + n - 3, "\"}}", 3);
		big[n] = '\0';
		int read;
		assert_true(same_as_tree(big, n, &read));
		assert_int_equal(read, n <= MP_JSON_FAST_MAX);
		free(big);
	}
	/* nesting: context's objects and arrays to simdjson's 1,024 levels (the root and context
	 * are two), and past them */
	static const size_t depths[] = {10, 500, 1019, 1020, 1021, 1022, 1030};
	for (size_t k = 0; k < sizeof(depths) / sizeof(depths[0]); k++)
		for (int objects = 0; objects <= 1; objects++) {
			char *inner = nested(depths[k], objects);
			size_t n = strlen(inner) + 64;
			char *t = malloc(n);
			int len = snprintf(
			    t, n, "{\"destination\":{\"service\":\"pay\"},\"context\":{\"d\":%s}}",
			    inner);
			int read;
			assert_true(same_as_tree(t, (size_t)len, &read));
			if (depths[k] <= 1021 || depths[k] >= 1030) /* 1022: objects are not */
				assert_int_equal(read, depths[k] <= 1021);
			free(t);
			free(inner);
		}
}

/* The key writer's view: depths (-1 below an array), first, and members left out or written by
 * it. */
typedef struct {
	char log[512];
	size_t len;
} key_log;

static int logging_key(mp_jsonbuf *b, void *arg, int depth, const char *key, size_t len, int first)
{
	key_log *l = arg;
	l->len += (size_t)snprintf(l->log + l->len, sizeof(l->log) - l->len, "%s%s@%d%s",
	                           l->len ? " " : "", key, depth, first ? "^" : "");
	if (depth == 2 && !strcmp(key, "x")) /* context.k.x */
		return MP_JSON_MEMBER_LEFT_OUT;
	if (depth == 1 && !strcmp(key, "a")) /* the first member of context.e */
		return MP_JSON_MEMBER_LEFT_OUT;
	if (!first)
		MP_JSONBUF_LIT(b, ",");
	mp_jsonbuf_string(b, key);
	MP_JSONBUF_LIT(b, ":");
	if (!strcmp(key, "w")) {
		MP_JSONBUF_LIT(b, "\"W\"");
		return MP_JSON_MEMBER_WRITTEN;
	}
	(void)len;
	return MP_JSON_MEMBER_VALUE;
}

static void test_input_write_keys(void **state)
{
	(void)state;
	const char *t = "{\"destination\":{\"service\":\"pay\"},\"context\":{\"z\":1,"
	                "\"x\":[{\"x\":1,\"k\":{\"x\":2}}],\"k\":{\"x\":3,\"y\":{\"w\":{\"q\":1}}},"
	                "\"a\":2}}";
	mp_request r;
	mp_header h[MP_REQUEST_MAX_HEADERS];
	json_t *held[MP_REQUEST_HELD];
	assert_int_equal(mp_request_parse(t, strlen(t), &r, h, held), 1);
	key_log l = {.len = 0};
	mp_jsonbuf b;
	mp_jsonbuf_init(&b, NULL, 0);
	assert_int_equal(mp_request_parsed_write(&b, logging_key, &l), 0);
	mp_jsonbuf_raw(&b, "", 1);
	assert_string_equal(b.p,
	                    "{\"context\":{\"k\":{\"y\":{\"w\":\"W\"}},\"x\":[{\"k\":{\"x\":2},"
	                    "\"x\":1}],\"z\":1},\"destination\":{\"service\":\"pay\"}}");
	assert_string_equal(l.log, "context@0^ a@1^ k@1^ x@2^ y@2^ w@3^ x@1 k@-1^ x@-1^ x@-1 z@1 "
	                           "destination@0 service@1^");
	mp_jsonbuf_free(&b);
	/* written twice: the document is still there */
	mp_jsonbuf_init(&b, NULL, 0);
	assert_int_equal(mp_request_parsed_write(&b, plain_key, NULL), 0);
	mp_jsonbuf_free(&b);
	for (size_t i = 0; i < MP_REQUEST_HELD; i++)
		json_decref(held[i]);
}

/* Once the thread has parsed another text (by simdjson or json_loadb), or failed to read one as
 * an input, the document is gone: -1 and oom, nothing usable. A thread that never read an input
 * has none. */
static void *write_unparsed(void *arg)
{
	(void)arg;
	mp_jsonbuf b;
	mp_jsonbuf_init(&b, NULL, 0);
	intptr_t rc = mp_request_parsed_write(&b, plain_key, NULL);
	rc = rc == -1 && b.oom && b.len == 0 ? 0 : 1;
	mp_jsonbuf_free(&b);
	return (void *)rc;
}

static void test_input_write_gone(void **state)
{
	(void)state;
	const char *t = "{\"destination\":{\"service\":\"pay\"}}";
	mp_request r;
	mp_header h[MP_REQUEST_MAX_HEADERS];
	json_t *held[MP_REQUEST_HELD];
	mp_jsonbuf b;
	for (int how = 0; how < 5; how++) {
		assert_int_equal(mp_request_parse(t, strlen(t), &r, h, held), 1);
		json_t *j = NULL;
		if (how == 0) /* another text's tree, by simdjson */
			j = mp_json_parse("[1]", 3, JSON_REJECT_DUPLICATES, NULL);
		else if (how == 1) /* one json_loadb reads */
			j = mp_json_parse("[1]", 3, JSON_ALLOW_NUL, NULL);
		else if (how == 2) /* an input left to the tree */
			assert_int_equal(mp_request_parse("{\"x\":1}", 7, &r, h, held), 0);
		else if (how == 3) /* a text simdjson refuses */
			assert_int_equal(mp_request_parse("{", 1, &r, h, held), 0);
		else /* no text */
			assert_int_equal(mp_request_parse(NULL, 0, &r, h, held), 0);
		json_decref(j);
		mp_jsonbuf_init(&b, NULL, 0);
		assert_int_equal(mp_request_parsed_write(&b, plain_key, NULL), -1);
		assert_true(b.oom);
		mp_jsonbuf_free(&b);
	}
	pthread_t th;
	void *rc;
	assert_int_equal(mp_request_parse(t, strlen(t), &r, h, held), 1);
	assert_int_equal(pthread_create(&th, NULL, write_unparsed, NULL), 0);
	assert_int_equal(pthread_join(th, &rc), 0);
	assert_null(rc);
}

/* Objects past the 64 members kept on the stack, at several levels at once (the members' array
 * grows while an object above is being written), against json_dumps; out of memory there: -1. */
static void test_input_write_wide(void **state)
{
	(void)state;
	size_t cap = 60000, len = 0;
	char *t = malloc(cap);
	len += (size_t)snprintf(t + len, cap - len,
	                        "{\"destination\":{\"service\":\"pay\"},\"context\":{");
	for (int i = 70; i-- > 0;) { /* out of order, each an object of 70 but the last few */
		len += (size_t)snprintf(t + len, cap - len, "%s\"k%02d\":", i == 69 ? "" : ",", i);
		if (i < 3) {
			len += (size_t)snprintf(t + len, cap - len, "%d", i);
			continue;
		}
		len += (size_t)snprintf(t + len, cap - len, "{");
		for (int j = 0; j < 70; j++)
			len += (size_t)snprintf(t + len, cap - len, "%s\"%c%d\":%d", j ? "," : "",
			                        'a' + (j * 7) % 26, j, j);
		len += (size_t)snprintf(t + len, cap - len, "}");
	}
	len += (size_t)snprintf(t + len, cap - len, "}}");
	assert_true(len < cap - 1);
	int read;
	assert_true(same_as_tree(t, len, &read));
	assert_true(read);
	mp_request r;
	mp_header h[MP_REQUEST_MAX_HEADERS];
	json_t *held[MP_REQUEST_HELD];
	assert_int_equal(mp_request_parse(t, len, &r, h, held), 1);
	for (long fail = 0; fail < 3; fail++) {
		mp_jsonbuf b;
		mp_jsonbuf_init(&b, NULL, 0);
		mp_alloc_fail_after(fail); /* the members' array, or the buffer's growth */
		int rc = mp_request_parsed_write(&b, plain_key, NULL);
		mp_alloc_fail_after(-1);
		assert_int_equal(rc, -1);
		assert_true(b.oom);
		mp_jsonbuf_free(&b);
	}
	mp_jsonbuf b; /* and the document is still there */
	mp_jsonbuf_init(&b, NULL, 0);
	assert_int_equal(mp_request_parsed_write(&b, plain_key, NULL), 0);
	mp_jsonbuf_free(&b);
	for (size_t i = 0; i < MP_REQUEST_HELD; i++)
		json_decref(held[i]);
	free(t);
}

/* Threads parse at once, each with its own simdjson parser. */
static void *parse_many(void *arg)
{
	const char *t = arg;
	long bad = 0;
	for (int i = 0; i < 2000; i++) {
		json_t *j = mp_json_parse(t, strlen(t), JSON_REJECT_DUPLICATES, NULL);
		bad += !j || json_integer_value(json_object_get(j, "i")) != 7;
		json_decref(j);
	}
	bad += mp_json_parse_counted().fast != 2000;
	return (void *)bad;
}

static void test_threads(void **state)
{
	(void)state;
	static const char *const texts[] = {"{\"i\":7,\"s\":\"one\"}", "{\"s\":[1,2,3],\"i\":7}",
	                                    "{\"a\":{\"b\":{}},\"i\":7}", "{\"i\":7}"};
	pthread_t t[4];
	for (int i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&t[i], NULL, parse_many, (void *)texts[i]), 0);
	for (int i = 0; i < 4; i++) {
		void *bad;
		assert_int_equal(pthread_join(t[i], &bad), 0);
		assert_null(bad);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_cases),
	    cmocka_unit_test(test_raw_nul),
	    cmocka_unit_test(test_depth),
	    cmocka_unit_test(test_large),
	    cmocka_unit_test(test_duplicates_kept_last),
	    cmocka_unit_test(test_bodies_fast),
	    cmocka_unit_test(test_allocator),
	    cmocka_unit_test(test_mutations),
	    cmocka_unit_test(test_threads),
	    cmocka_unit_test(test_input_cases),
	    cmocka_unit_test(test_input_header_count),
	    cmocka_unit_test(test_input_examples),
	    cmocka_unit_test(test_input_mutations),
	    cmocka_unit_test(test_input_write_values),
	    cmocka_unit_test(test_input_write_keys),
	    cmocka_unit_test(test_input_write_gone),
	    cmocka_unit_test(test_input_write_wide),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
