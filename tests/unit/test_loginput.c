/* test_loginput.c: server/loginput.c: the decision input a log record carries, written without a
 * jansson tree, is byte for byte json_dumps (compact, keys sorted, ASCII) of the input masked in
 * place by mp_loginput_mask, the writer it replaced. Reference: docs/server.md ("Decision log",
 * "Masking"). */
#include "alloc.h"
#include "loginput.h"
#include "testutil.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

/* json_dumps of in masked by the reference, and the writer's bytes, must be equal. */
static void expect_same(json_t *in, const mp_bundle *mask, const char *label)
{
	json_t *copy = json_deep_copy(in);
	mp_loginput_mask(copy, mask);
	char *want = json_dumps(copy, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENSURE_ASCII);
	mp_jsonbuf b;
	mp_jsonbuf_init(&b, NULL, 0);
	b.ascii = 1;
	mp_loginput_json(&b, in, mask);
	mp_jsonbuf_raw(&b, "", 1);
	assert_false(b.oom);
	if (strcmp(want, b.p))
		fail_msg("%s:\n want %s\n  got %s", label, want, b.p);
	free(want);
	mp_jsonbuf_free(&b);
	json_decref(copy);
}

static const char *const masks_sets[][5] = {
    {NULL},
    {"request.headers.authorization", "request.headers.cookie", NULL},
    {"source", "context.secret.deep", NULL},
    {"request.headers", "destination.port", NULL},
    {"request.Headers.x-a", "context.headers.X-B", "a..b", "", NULL},
};

static void test_json_inputs(void **state)
{
	(void)state;
	static const char *const inputs[] = {
	    "{\"source\":{\"principal\":\"spiffe://acme.io/ns/shop/sa/"
	    "checkout\",\"ip\":\"10.0.0.1\"},"
	    "\"destination\":{\"service\":\"payments\",\"namespace\":\"billing\",\"port\":8080},"
	    "\"request\":{\"method\":\"POST\",\"path\":\"/v1/"
	    "charge\",\"headers\":{\"Authorization\":"
	    "\"Bearer x\",\"authorization\":\"second\",\"x-tenant\":\"uk\",\"Cookie\":\"c=1\"}},"
	    "\"context\":{}}",
	    /* unicode, escapes, numbers, arrays whose objects masks never reach */
	    "{\"context\":{\"secret\":{\"deep\":[1,2],\"keep\":\"\\u00e9\\ud83d\\ude00\\n\\t\\\"/"
	    "\\u0001\\u007f\"},"
	    "\"headers\":{\"x-b\":1,\"X-B\":2},\"list\":[{\"source\":1},[],{}],\"r\":1.5,\"e\":-"
	    "1e300,"
	    "\"n\":null,\"t\":true,\"f\":false,\"i\":-9007199254740993,\"zz\":\"\",\"a\":{\"b\":{}}"
	    "}}",
	    "{\"request\":{\"headers\":\"not an object\"},\"source\":\"x\"}",
	    "{}",
	    "[1,{\"source\":2}]",
	};
	for (size_t i = 0; i < sizeof(inputs) / sizeof(inputs[0]); i++) {
		json_error_t je;
		json_t *in = json_loads(inputs[i], 0, &je);
		if (!in)
			fail_msg("input %zu: %s", i, je.text);
		for (size_t m = 0; m < sizeof(masks_sets) / sizeof(masks_sets[0]); m++) {
			mp_bundle bn = {0};
			bn.mask = (const char **)masks_sets[m];
			while (masks_sets[m][bn.nmask])
				bn.nmask++;
			char label[64];
			snprintf(label, sizeof(label), "input %zu, masks %zu", i, m);
			expect_same(in, m ? &bn : NULL, label);
		}
		json_decref(in);
	}
	mp_jsonbuf b; /* NULL input: null */
	mp_jsonbuf_init(&b, NULL, 0);
	mp_loginput_json(&b, NULL, NULL);
	assert_int_equal(b.len, 4);
	assert_memory_equal(b.p, "null", 4);
	mp_jsonbuf_free(&b);
}

/* Keys a client can send against masks a bundle can hold, the writer against the reference:
 * keys one byte short of or past a mask's segment, a '.' inside a key (never a path step),
 * header names in any case (case matters above "headers" only), empty keys, segments of 255,
 * 256 and 300 bytes, more members than the writer keeps on its stack, integers at their
 * limits. */
static void test_hostile_keys(void **state)
{
	(void)state;
	char k255[256], k256[257], k300[301], m255[300], m256[300], m300[340];
	memset(k255, 'k', 255), k255[255] = '\0';
	memset(k256, 'k', 256), k256[256] = '\0';
	memset(k300, 'k', 300), k300[300] = '\0';
	snprintf(m255, sizeof(m255), "context.%s", k255);
	snprintf(m256, sizeof(m256), "context.%s", k256);
	snprintf(m300, sizeof(m300), "context.%s.x", k300);
	const char *masks[][8] = {
	    {"request.headers.authorization", "request.headers.cookie", NULL},
	    {m255, m256, m300, "request.headers.", ".request", "request..headers", NULL},
	    {"request.HEADERS.cookie", "Request.headers.cookie", "context.headers.X-B", NULL},
	    {"request", "context.many.k07", "context.many.k39", NULL},
	};
	json_t *in = json_pack(
	    "{s:{s:{s:s,s:s,s:s,s:s,s:s,s:s,s:s},s:s},s:{s:s},s:{s:I,s:I,s:I,s:I}}", "request",
	    "headers", "AUTHORIZATION", "a", "authorization.x", "b", "authorizatio", "c",
	    "authorizationx", "d", "Cookie", "e", "", "f", "cOoKiE", "g", "headers.cookie", "h",
	    "request.headers", "cookie", "i", "destination", "port", (json_int_t)INT64_MIN, "p2",
	    (json_int_t)INT64_MAX, "p3", (json_int_t)0, "p4", (json_int_t)-1);
	assert_non_null(in);
	json_t *ctx = json_object(), *many = json_object(), *hd = json_object();
	json_object_set_new(ctx, k255, json_string("255"));
	json_object_set_new(ctx, k256, json_string("256"));
	json_object_set_new(ctx, k300, json_pack("{s:i,s:i}", "x", 1, "y", 2));
	for (int i = 40; i-- > 0;) { /* past the 32 kept on the stack, added out of order */
		char key[8];
		snprintf(key, sizeof(key), "k%02d", i);
		json_object_set_new(many, key, json_integer(i));
	}
	json_object_set_new(ctx, "many", many);
	json_object_set_new(hd, "x-b", json_integer(1));
	json_object_set_new(hd, "X-B", json_integer(2));
	json_object_set_new(ctx, "headers", hd);
	json_object_set_new(in, "context", ctx);
	for (size_t m = 0; m < sizeof(masks) / sizeof(masks[0]); m++) {
		mp_bundle bn = {0};
		bn.mask = masks[m];
		while (masks[m][bn.nmask])
			bn.nmask++;
		char label[32];
		snprintf(label, sizeof(label), "hostile keys, masks %zu", m);
		expect_same(in, &bn, label);
	}
	json_decref(in);
}

static void test_proxy_inputs(void **state)
{
	(void)state;
	mp_proxyreq p;
	memset(&p, 0, sizeof(p));
	static const char *const names[] = {"Host",          "X-Forwarded-Client-Cert",
	                                    "Authorization", "authorization",
	                                    "X-Bad",         "x-bad",
	                                    "Cookie",        "x-latin",
	                                    "\xff-name"};
	static const char *const values[] = {
	    "payments.billing:8080", "By=a;URI=b", "Bearer 1", "Bearer 2", "ok", "\xc3(", "c=1",
	    "caf\xc3\xa9",           "v"};
	for (uint32_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		p.headers[i] = (mp_header){names[i], values[i]};
	p.r.headers = p.headers;
	p.r.nheaders = sizeof(names) / sizeof(names[0]);
	for (int variant = 0; variant < 4; variant++) {
		p.r.dst_service = "payments";
		p.r.dst_namespace = variant & 1 ? NULL : "billing";
		p.r.port = variant & 1 ? 0 : 8080;
		p.r.method = variant == 2 ? NULL : "GET";
		p.r.path = variant == 3 ? "/bad\xff" : variant == 2 ? NULL : "/v1/charges/ch_42";
		p.r.principal = variant & 2 ? NULL : "spiffe://acme.io/ns/shop/sa/checkout";
		p.r.src_ip = variant & 1 ? "10.1.2.3" : NULL;
		json_t *in = mp_proxyreq_input(&p);
		assert_non_null(in);
		for (size_t m = 0; m < sizeof(masks_sets) / sizeof(masks_sets[0]); m++) {
			mp_bundle bn = {0};
			bn.mask = (const char **)masks_sets[m];
			while (masks_sets[m][bn.nmask])
				bn.nmask++;
			json_t *copy = json_deep_copy(in);
			mp_loginput_mask(copy, m ? &bn : NULL);
			char *want =
			    json_dumps(copy, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENSURE_ASCII);
			mp_jsonbuf b;
			mp_jsonbuf_init(&b, NULL, 0);
			b.ascii = 1;
			mp_loginput_proxy(&b, &p, m ? &bn : NULL);
			mp_jsonbuf_raw(&b, "", 1);
			if (strcmp(want, b.p))
				fail_msg("variant %d, masks %zu:\n want %s\n  got %s", variant, m,
				         want, b.p);
			free(want);
			mp_jsonbuf_free(&b);
			json_decref(copy);
		}
		json_decref(in);
	}
}

/* A random tree of keys from a few segments (case variants, a '.' inside a key, an empty key,
 * "headers" at any depth) against random masks of the same segments, 1 to 70 entries: the
 * writer's key-by-key matching (64 entries or fewer) and its walk over every entry (more)
 * against the reference. */
static const char *const segs[] = {"a", "b", "A", "ab", "headers", "Headers", "x.y", ""};
#define NSEGS (sizeof(segs) / sizeof(segs[0]))

static json_t *random_tree(unsigned *seed, int depth)
{
	json_t *o = json_object();
	int n = (int)(rand_r(seed) % 4);
	for (int i = 0; i < n; i++) {
		const char *k = segs[rand_r(seed) % NSEGS];
		json_object_set_new(o, k,
		                    depth < 5 && rand_r(seed) % 3 ? random_tree(seed, depth + 1)
		                                                  : json_integer(i));
	}
	return o;
}

static void test_random_masks(void **state)
{
	(void)state;
	unsigned seed = 7;
	char text[70][64];
	const char *masks[70];
	for (int round = 0; round < 3000; round++) {
		json_t *in = random_tree(&seed, 0);
		uint32_t nm = 1 + (uint32_t)(rand_r(&seed) % (round % 2 ? 70 : 6));
		for (uint32_t i = 0; i < nm; i++) {
			int depth = 1 + (int)(rand_r(&seed) % 4);
			size_t len = 0;
			for (int d = 0; d < depth; d++)
				len +=
				    (size_t)snprintf(text[i] + len, sizeof(text[i]) - len, "%s%s",
				                     d ? "." : "", segs[rand_r(&seed) % NSEGS]);
			masks[i] = text[i];
		}
		mp_bundle bn = {0};
		bn.mask = masks;
		bn.nmask = nm;
		char label[48];
		snprintf(label, sizeof(label), "random masks, round %d", round);
		expect_same(in, &bn, label);
		json_decref(in);
	}
}

/* The mask entry that names a key as the 1st, 64th (the last followed key by key) and 65th
 * (past them: the walk over every entry) of a mask, the others naming nothing present. */
static void test_many_masks(void **state)
{
	(void)state;
	static char text[70][32];
	const char *masks[70];
	json_t *in = json_pack("{s:{s:{s:s,s:s}},s:{s:s}}", "request", "headers", "Authorization",
	                       "x", "keep", "y", "source", "principal", "p");
	for (uint32_t n = 1; n <= 70; n++)
		for (uint32_t at = 0; at < n; at++) {
			for (uint32_t i = 0; i < n; i++) {
				snprintf(text[i], sizeof(text[i]), "request.headers.h%u", i);
				masks[i] = text[i];
			}
			masks[at] = at % 2 ? "request.headers.authorization" : "source.principal";
			mp_bundle bn = {0};
			bn.mask = masks;
			bn.nmask = n;
			char label[48];
			snprintf(label, sizeof(label), "%u masks, the one at %u", n, at);
			expect_same(in, &bn, label);
		}
	json_decref(in);
}

/* A proxy's request with header names a client chooses: one byte short of or past a mask's
 * segment, a '.' inside, characters to escape at every place, 255 bytes (kept) and 256
 * (left out), repeated in other cases; values with escapes at every place. Against masks of
 * those names, the whole headers, a whole top-level object, and masks of 64 and 65 entries. */
static void test_proxy_hostile(void **state)
{
	(void)state;
	static char n255[256], n256[257], mask255[300], mask256[300], many[70][32];
	memset(n255, 'h', 255);
	memset(n256, 'h', 256);
	snprintf(mask255, sizeof(mask255), "request.headers.%s", n255);
	snprintf(mask256, sizeof(mask256), "request.headers.%s", n256);
	static char names[40][48], values[40][48];
	mp_proxyreq p;
	memset(&p, 0, sizeof(p));
	uint32_t nh = 0;
	static const char *const fixed[] = {
	    "authorizatio", "authorizationx", "Authorization.x", "AUTHORIZATION", "authorization",
	    "x\"q",         "x\\b",           "x\x01y",          "Cookie",        "cookie"};
	for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++) {
		p.headers[nh] = (mp_header){fixed[i], "v"};
		nh++;
	}
	p.headers[nh++] = (mp_header){n255, "255"};
	p.headers[nh++] = (mp_header){n256, "256"};
	for (int at = 0; at < 20 && nh < MP_REQUEST_MAX_HEADERS; at++) {
		/* a '"' at each place of a name, a control character at each place of a value */
		memset(names[at], 'n', 20);
		names[at][20] = '\0';
		names[at][at] = '"';
		memset(values[at], 'v', 20);
		values[at][20] = '\0';
		values[at][at] = at % 2 ? '\n' : '\\';
		p.headers[nh++] = (mp_header){names[at], values[at]};
	}
	p.r.headers = p.headers;
	p.r.nheaders = nh;
	p.r.dst_service = "payments";
	p.r.dst_namespace = "billing";
	p.r.port = 8080;
	p.r.method = "GET";
	p.r.path = "/a\"b\\c\x01";
	p.r.principal = "spiffe://acme.io/ns/shop/sa/checkout";
	p.r.src_ip = "10.1.2.3";
	for (int i = 0; i < 70; i++)
		snprintf(many[i], sizeof(many[i]), "request.headers.m%d", i);
	const char *sets[][8] = {
	    {"request.headers.authorization", "request.headers.cookie", NULL},
	    {"request.headers.AUTHORIZATION.x", "request.headers.authorization.x",
	     "request.headers.x\"q", "request.headers.x\\b", NULL},
	    {mask255, mask256, "request.headers.", "request.headers", NULL},
	    {"destination", "source.ip", "request.path", "request.method", NULL},
	    {"destination.port", "destination.namespace", "source", "Request.headers.cookie",
	     "request.HEADERS.cookie", NULL},
	};
	json_t *in = mp_proxyreq_input(&p);
	assert_non_null(in);
	for (size_t m = 0; m < sizeof(sets) / sizeof(sets[0]) + 2; m++) {
		const char *masks[70];
		mp_bundle bn = {0};
		bn.mask = masks;
		if (m < sizeof(sets) / sizeof(sets[0])) {
			while (sets[m][bn.nmask]) {
				masks[bn.nmask] = sets[m][bn.nmask];
				bn.nmask++;
			}
		} else { /* 64 or 65 entries, the last naming a header present */
			bn.nmask = m == sizeof(sets) / sizeof(sets[0]) ? 64 : 65;
			for (uint32_t i = 0; i < bn.nmask; i++)
				masks[i] = many[i];
			masks[bn.nmask - 1] = "request.headers.Cookie";
		}
		json_t *copy = json_deep_copy(in);
		mp_loginput_mask(copy, &bn);
		char *want = json_dumps(copy, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENSURE_ASCII);
		mp_jsonbuf b;
		mp_jsonbuf_init(&b, NULL, 0);
		b.ascii = 1;
		mp_loginput_proxy(&b, &p, &bn);
		mp_jsonbuf_raw(&b, "", 1);
		assert_false(b.oom);
		if (strcmp(want, b.p))
			fail_msg("hostile proxy input, masks %zu:\n want %s\n  got %s", m, want,
			         b.p);
		free(want);
		mp_jsonbuf_free(&b);
		json_decref(copy);
	}
	json_decref(in);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_json_inputs),  cmocka_unit_test(test_hostile_keys),
	    cmocka_unit_test(test_proxy_inputs), cmocka_unit_test(test_random_masks),
	    cmocka_unit_test(test_many_masks),   cmocka_unit_test(test_proxy_hostile),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
