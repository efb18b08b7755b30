/* test_decision_json.c: engine/decision_json.c and engine/jsonbuf.c, the one decision encoder:
 * its bytes against jansson's for the same values (both forms, every reason kind, escaping), the
 * output's fields and key order pinned for one decision, and a buffer that runs out of memory. */
#include "testutil.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "alloc.h"
#include "decision_json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DIR  "tests/data/bundles/unit"
#define P(x) "spiffe://t/ns/" x

/* The encoder's bytes in a form, as a C string the caller frees. */
static char *encode(const mp_engine *e, const mp_decision *d, const char *id,
                    mp_decision_json_form form, int ascii)
{
	char storage[64]; /* small: every decision also exercises the move to the heap */
	mp_jsonbuf b;
	mp_jsonbuf_init(&b, storage, sizeof(storage));
	b.ascii = ascii;
	mp_decision_json_write(&b, e, d, id, form);
	assert_false(b.oom);
	char *s = malloc(b.len + 1);
	memcpy(s, b.p, b.len);
	s[b.len] = '\0';
	mp_jsonbuf_free(&b);
	return s;
}

/* The encoder against jansson: the compact output is what json_dumps prints for the values it
 * holds, in its own order; the sorted, ASCII form is what the trail's canonical form
 * (JSON_SORT_KEYS | JSON_ENSURE_ASCII) prints for the same values; mp_decision_json holds the
 * same values. */
static void check_against_jansson(const mp_engine *e, const mp_decision *d, const char *what)
{
	char *out = encode(e, d, "id-1", MP_DECISION_JSON_OUTPUT, 0);
	char *sorted = encode(e, d, "id-1", MP_DECISION_JSON_SORTED, 1);
	json_error_t err;
	json_t *j = json_loads(out, JSON_REJECT_DUPLICATES, &err);
	if (!j)
		print_error("%s: not JSON: %s: %s\n", what, err.text, out);
	assert_non_null(j);
	char *again = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
	char *canon = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENSURE_ASCII);
	if (strcmp(out, again))
		print_error("%s:\n encoder %s\n jansson %s\n", what, out, again);
	assert_string_equal(out, again);
	if (strcmp(sorted, canon))
		print_error("%s:\n encoder %s\n jansson %s\n", what, sorted, canon);
	assert_string_equal(sorted, canon);
	json_t *tree = mp_decision_json(e, d, "id-1");
	assert_true(json_equal(tree, j));
	json_decref(tree);
	free(again);
	free(canon);
	json_decref(j);
	free(out);
	free(sorted);
}

typedef struct {
	const char *name, *principal, *dst, *method, *path;
	uint32_t port;
	const char *header, *value;
} request_row;

/* One request per kind of outcome: allowed, forbidden by several rules, not permitted (no
 * reasons), a failed `when` (a message made at decision time), residency, the engine's own
 * reason (an unknown destination), an advisory. */
static const request_row requests[] = {
    {"allowed", P("shop/sa/web"), "billing/pay", "POST", "/v1/charge", 0, NULL, NULL},
    {"forbidden", P("sandbox/sa/echo"), "billing/pay", "GET", "/x.json", 0, NULL, NULL},
    {"not permitted", P("shop/sa/web"), "billing/pay", "DELETE", "/v1/charge", 0, NULL, NULL},
    {"when error", NULL, "shop/web", "OPTIONS", "/", 0, NULL, NULL},
    {"when timeout", NULL, "shop/web", "TRACE", "/", 0, NULL, NULL},
    {"residency", P("shop/sa/multi"), "billing/pay", "GET", "/x.json", 0, NULL, NULL},
    {"header", NULL, "shop/web", "PUT", "/", 0, "x-tenant", "eu-west"},
    {"unknown destination", P("shop/sa/web"), "nowhere \x01\"\\\t\xc3\xa9\xe4\xb8\xad", "GET", "/",
     0, NULL, NULL},
    {"advisory", P("shop/sa/web"), "shop/web", NULL, NULL, 8080, NULL, NULL},
};

static void test_decisions_as_jansson(void **state)
{
	unit_fixture *f = *state;
	for (size_t i = 0; i < sizeof(requests) / sizeof(requests[0]); i++) {
		const request_row *t = &requests[i];
		mp_header h = {t->header, t->value};
		mp_request r = {.principal = t->principal,
		                .dst_service = t->dst,
		                .method = t->method,
		                .path = t->path,
		                .port = t->port,
		                .headers = t->header ? &h : NULL,
		                .nheaders = t->header ? 1 : 0};
		mp_decision d;
		mp_decide(f->ev, &r, &d, NULL);
		check_against_jansson(f->e, &d, t->name);
	}
}

/* Decisions made by hand: what mp_decide makes rarely (dropped reasons, many advisories) and
 * messages with every kind of character. */
static void test_made_decisions(void **state)
{
	unit_fixture *f = *state;
	const mp_bundle *b = f->e->bundle;
	mp_decision d;
	memset(&d, 0, sizeof(d));
	d.effect = MP_EFFECT_FORBIDDEN;
	d.src_svc = d.dst_svc = d.dst_ext = MP_NONE;
	d.reasons[0] = (mp_reason){MP_NONE,
	                           MP_REASON_DENY,
	                           "ctl \x01\x1f\x7f quote \" backslash \\ slash / tab \t nl \n "
	                           "cr \r bs \b ff \f \xc3\xa9 \xe4\xb8\xad \xf0\x9f\x98\x80",
	                           {0}};
	d.reasons[1] =
	    (mp_reason){0, MP_REASON_DENY, NULL, {0}}; /* the message made from the rule */
	d.reasons[2] = (mp_reason){b->nrules - 1, MP_REASON_ERROR, "when: boom", {0}};
	d.reasons[3] = (mp_reason){1, MP_REASON_ALLOW, NULL, {0}};
	d.nreasons = 4;
	d.dropped = 7;
	d.advisories[0] = (mp_reason){0, MP_REASON_DENY, NULL, {0}};
	d.advisories[1] = (mp_reason){MP_NONE, MP_REASON_ERROR, "advisory failed", {0}};
	d.nadvisories = 2;
	check_against_jansson(f->e, &d, "made by hand");
	d.allow = 1;
	d.effect = MP_EFFECT_ALLOWED;
	d.nadvisories = 0;
	d.dropped = 0;
	check_against_jansson(f->e, &d, "allowed, nothing dropped");
	d.nreasons = 0;
	check_against_jansson(f->e, &d, "no reasons");
}

/* The fields and their order, pinned (DESIGN.md, "Decision output"). */
static void test_output_pinned(void **state)
{
	unit_fixture *f = *state;
	mp_request r = {.principal = P("sandbox/sa/echo"),
	                .dst_service = "billing/pay",
	                .method = "POST",
	                .path = "/v1/charge"};
	mp_decision d;
	mp_decide(f->ev, &r, &d, NULL);
	char *out = encode(f->e, &d, "id-1", MP_DECISION_JSON_OUTPUT, 0);
	char want[2048];
	snprintf(want, sizeof(want),
	         "{\"decision_id\":\"id-1\",\"allow\":false,\"effect\":\"forbidden\",\"reasons\":["
	         "{\"policy\":\"t.rbac\",\"version\":\"1.0.0\",\"rule\":\"no-sandbox\",\"effect\":"
	         "\"deny\",\"message\":\"sandbox may not call billing\",\"source\":\"%s\"}],"
	         "\"bundle\":{\"name\":\"%s\",\"revision\":\"%s\",\"sha256\":\"%s\"},"
	         "\"model\":{\"sha256\":\"%s\"}}",
	         f->e->bundle->rules[d.reasons[0].rule].loc, f->e->bundle->name,
	         f->e->bundle->revision, f->e->bundle->sha256, mp_model_sha256(f->e->model));
	assert_int_equal(d.nreasons, 1);
	assert_string_equal(out, want);
	free(out);
	out = encode(f->e, &d, "id-1", MP_DECISION_JSON_SORTED, 1);
	snprintf(
	    want, sizeof(want),
	    "{\"allow\":false,\"bundle\":{\"name\":\"%s\",\"revision\":\"%s\",\"sha256\":\"%s\"}"
	    ",\"decision_id\":\"id-1\",\"effect\":\"forbidden\",\"model\":{\"sha256\":\"%s\"},"
	    "\"reasons\":[{\"effect\":\"deny\",\"message\":\"sandbox may not call billing\","
	    "\"policy\":\"t.rbac\",\"rule\":\"no-sandbox\",\"source\":\"%s\",\"version\":"
	    "\"1.0.0\"}]}",
	    f->e->bundle->name, f->e->bundle->revision, f->e->bundle->sha256,
	    mp_model_sha256(f->e->model), f->e->bundle->rules[d.reasons[0].rule].loc);
	assert_string_equal(out, want);
	free(out);
}

/* One string through the writer, as a C string the caller frees. */
static char *string_bytes(const char *s, int ascii)
{
	mp_jsonbuf b;
	mp_jsonbuf_init(&b, NULL, 0);
	b.ascii = ascii;
	mp_jsonbuf_string(&b, s);
	assert_false(b.oom);
	char *out = malloc(b.len + 1);
	memcpy(out, b.p, b.len);
	out[b.len] = '\0';
	mp_jsonbuf_free(&b);
	return out;
}

static void test_strings(void **state)
{
	(void)state;
	/* valid UTF-8: byte for byte jansson's, plain and ASCII-only */
	static const char *const valid[] = {
	    "",
	    "plain",
	    "quote \" backslash \\ slash / del \x7f",
	    "\x01\x02\x08\x09\x0a\x0b\x0c\x0d\x1b\x1f",
	    "two \xc3\xa9 three \xe4\xb8\xad four \xf0\x9f\x98\x80 last \xf4\x8f\xbf\xbf",
	    "\xef\xbf\xbf edge of the BMP, \xee\x80\x80 private use",
	};
	for (size_t i = 0; i < sizeof(valid) / sizeof(valid[0]); i++)
		for (int ascii = 0; ascii < 2; ascii++) {
			json_t *j = json_string(valid[i]);
			assert_non_null(j);
			char *want =
			    json_dumps(j, JSON_ENCODE_ANY | (ascii ? JSON_ENSURE_ASCII : 0));
			char *got = string_bytes(valid[i], ascii);
			assert_string_equal(got, want);
			free(got);
			free(want);
			json_decref(j);
		}
	/* not UTF-8 (which jansson refuses): each bad byte is U+FFFD, escaped */
	static const struct {
		const char *in, *out;
	} bad[] = {
	    {"a\xff"
	     "b",
	     "\"a\\uFFFDb\""},
	    {"\xc3", "\"\\uFFFD\""},                                  /* cut short */
	    {"\xc0\xaf", "\"\\uFFFD\\uFFFD\""},                       /* overlong */
	    {"\xed\xa0\x80", "\"\\uFFFD\\uFFFD\\uFFFD\""},            /* a surrogate */
	    {"\xf4\x90\x80\x80", "\"\\uFFFD\\uFFFD\\uFFFD\\uFFFD\""}, /* past U+10FFFF */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		for (int ascii = 0; ascii < 2; ascii++) {
			char *got = string_bytes(bad[i].in, ascii);
			assert_string_equal(got, bad[i].out);
			free(got);
		}
	char *null = string_bytes(NULL, 0);
	assert_string_equal(null, "\"\"");
	free(null);
}

/* Strings of random pieces at every offset from the eight-byte words the writer scans: plain
 * ASCII, the bytes that need escaping, multi-byte characters, and (for the validator) bytes that
 * are not UTF-8. Escaped as jansson does; valid exactly when json_string accepts them. */
static void test_strings_random(void **state)
{
	(void)state;
	static const char *const pieces[] = {
	    "a",
	    "plain text",
	    "\"",
	    "\\",
	    "/",
	    "\x7f",
	    "\x01",
	    "\x1f",
	    "\n",
	    "\t",
	    " ",
	    "\xc3\xa9",
	    "\xe4\xb8\xad",
	    "\xf0\x9f\x98\x80",
	    "0123456789abcdef",
	};
	static const char *const broken[] = {"\xff", "\xc3", "\xc0\xaf", "\xed\xa0\x80", "\x80"};
	unsigned seed = 20;
	char s[256];
	for (int round = 0; round < 20000; round++) {
		size_t len = 0;
		int npieces = (int)(rand_r(&seed) % 12), bad = round % 4 == 3;
		for (int i = 0; i < npieces; i++) {
			const char *piece =
			    pieces[rand_r(&seed) % (sizeof(pieces) / sizeof(pieces[0]))];
			if (bad && i == npieces / 2)
				piece =
				    broken[rand_r(&seed) % (sizeof(broken) / sizeof(broken[0]))];
			size_t n = strlen(piece);
			if (len + n >= sizeof(s))
				break;
			memcpy(s + len, piece, n);
			len += n;
		}
		s[len] = '\0';
		json_t *j = json_string(s);
		assert_int_equal(mp_jsonbuf_utf8_valid(s), j != NULL);
		for (int ascii = 0; j && ascii < 2; ascii++) {
			char *want =
			    json_dumps(j, JSON_ENCODE_ANY | (ascii ? JSON_ENSURE_ASCII : 0));
			char *got = string_bytes(s, ascii);
			assert_string_equal(got, want);
			free(got);
			free(want);
		}
		json_decref(j);
	}
}

/* Every length up to 40 with one byte that needs escaping (or a multi-byte character) at every
 * position, and none: the writer reads a string's last bytes as the eight-byte word that ends it,
 * so a special byte in that word, or in an earlier one, must still be found. */
static void test_strings_positions(void **state)
{
	(void)state;
	static const char *const specials[] = {"\"", "\\", "\n", "\x01", "\x1f", "\xc3\xa9"};
	char s[64];
	for (size_t len = 0; len <= 40; len++)
		for (size_t at = 0; at <= len; at++)
			for (size_t k = 0; k < sizeof(specials) / sizeof(specials[0]); k++) {
				size_t n = strlen(specials[k]);
				memset(s, 'x', len);
				if (at < len && at + n <= len)
					memcpy(s + at, specials[k], n);
				s[len] = '\0';
				json_t *j = json_string(s);
				assert_non_null(j);
				for (int ascii = 0; ascii < 2; ascii++) {
					char *want = json_dumps(
					    j, JSON_ENCODE_ANY | (ascii ? JSON_ENSURE_ASCII : 0));
					char *got = string_bytes(s, ascii);
					assert_string_equal(got, want);
					free(got);
					free(want);
				}
				json_decref(j);
			}
}

/* Two bytes to escape (or a character, or DEL, which is not escaped) at every pair of places in
 * strings of 0 to 48 bytes: the sixteen-byte scans, the tail read as the sixteen bytes that end
 * the string (what was escaped before it shifted out), the short tail read from a copy. Each
 * string is a heap block of its exact size, so that AddressSanitizer (make check) sees any read
 * past its end. */
static void test_strings_pairs(void **state)
{
	(void)state;
	static const char *const specials[] = {"\"", "\x01", "\x7f", "\xc3\xa9", "\xe4\xb8\xad"};
	const size_t nspecial = sizeof(specials) / sizeof(specials[0]);
	for (size_t len = 0; len <= 48; len++)
		for (size_t a = 0; a <= len; a++)
			for (size_t b = a; b <= len; b++)
				for (size_t k = 0; k < nspecial * nspecial; k++) {
					const char *x = specials[k / nspecial],
					           *y = specials[k % nspecial];
					size_t nx = strlen(x), ny = strlen(y);
					char *s = malloc(len + 1);
					assert_non_null(s);
					memset(s, 'a' + (char)(len % 26), len);
					s[len] = '\0';
					if (a + nx <= len)
						memcpy(s + a, x, nx);
					if (b >= a + nx && b + ny <= len)
						memcpy(s + b, y, ny);
					json_t *j = json_string(s);
					assert_non_null(j);
					for (int ascii = 0; ascii < 2; ascii++) {
						char *want = json_dumps(
						    j, JSON_ENCODE_ANY |
						           (ascii ? JSON_ENSURE_ASCII : 0));
						char *got = string_bytes(s, ascii);
						assert_string_equal(got, want);
						free(got);
						free(want);
					}
					assert_true(mp_jsonbuf_utf8_valid(s));
					json_decref(j);
					free(s);
				}
}

/* The caller's storage first, the heap when it is full; out of memory sticks. */
static void test_buffer(void **state)
{
	(void)state;
	char storage[8];
	mp_jsonbuf b;
	mp_jsonbuf_init(&b, storage, sizeof(storage));
	MP_JSONBUF_LIT(&b, "1234567");
	assert_ptr_equal(b.p, storage);
	assert_false(b.heap);
	MP_JSONBUF_LIT(&b, "89");
	assert_true(b.heap);
	assert_int_equal(b.len, 9);
	assert_memory_equal(b.p, "123456789", 9);
	mp_jsonbuf_uint(&b, UINT64_MAX);
	assert_memory_equal(b.p + 9, "18446744073709551615", 20);
	mp_jsonbuf_free(&b);
	assert_null(b.p);

	mp_jsonbuf_init(&b, storage, sizeof(storage));
	MP_JSONBUF_LIT(&b, "1234");
	mp_alloc_fail_after(0);
	MP_JSONBUF_LIT(&b, "too long for the storage");
	mp_alloc_fail_after(-1);
	assert_true(b.oom);
	MP_JSONBUF_LIT(&b, "x"); /* it would fit, but the contents are incomplete already */
	assert_int_equal(b.len, 4);
	assert_ptr_equal(b.p, storage);
	mp_jsonbuf_free(&b);
}

/* A decision into a buffer that cannot grow: oom, never a crash; mp_decision_json gives NULL. */
static void test_out_of_memory(void **state)
{
	unit_fixture *f = *state;
	mp_request r = {.principal = P("sandbox/sa/echo"), .dst_service = "billing/pay"};
	mp_decision d;
	mp_decide(f->ev, &r, &d, NULL);
	for (long n = 0; n < 3; n++) {
		mp_jsonbuf b;
		mp_jsonbuf_init(&b, NULL, 0);
		mp_alloc_fail_after(n);
		mp_decision_json_write(&b, f->e, &d, "id", MP_DECISION_JSON_OUTPUT);
		mp_alloc_fail_after(-1);
		if (n == 0)
			assert_true(b.oom);
		mp_jsonbuf_free(&b);
	}
	mp_alloc_fail_after(0);
	json_t *j = mp_decision_json(f->e, &d, "id");
	mp_alloc_fail_after(-1);
	json_decref(j); /* NULL, or whole: the first buffer is on the stack */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_decisions_as_jansson), cmocka_unit_test(test_made_decisions),
	    cmocka_unit_test(test_output_pinned),        cmocka_unit_test(test_strings),
	    cmocka_unit_test(test_strings_random),       cmocka_unit_test(test_strings_positions),
	    cmocka_unit_test(test_strings_pairs),        cmocka_unit_test(test_buffer),
	    cmocka_unit_test(test_out_of_memory),
	};
	return cmocka_run_group_tests(tests, unit_bundle_setup, unit_bundle_teardown);
}
