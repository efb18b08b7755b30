/* test_loginput.c: server/loginput.c: the decision input a log record carries, written without a
 * jansson tree, is byte for byte json_dumps (compact, keys sorted, ASCII) of the input masked in
 * place by mp_loginput_mask, the writer it replaced. The input /v1/decide read from simdjson's
 * document (mp_loginput_parsed) is byte for byte what mp_loginput_json writes of the tree of the
 * same body once context.peer is deleted, or was left to the tree: the examples, hostile inputs
 * and seeded mutations, under several masks. Reference: docs/server.md ("Decision log",
 * "Masking", "Performance": the eighth pass). */
#include "alloc.h"
#include "jsonparse.h"
#include "loginput.h"
#include "mutate.h"
#include "testutil.h"

#include <glob.h>
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

/* Inputs of every shape, the first a decision input. */
static const char *const json_inputs[] = {
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

static void test_json_inputs(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(json_inputs) / sizeof(json_inputs[0]); i++) {
		json_error_t je;
		json_t *in = json_loads(json_inputs[i], 0, &je);
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

/* --- the input read from simdjson's document (mp_loginput_parsed) --- */

/* Masks a parsed input is written under: none; a header; a whole object; nested paths (one an
 * array, one under source.labels); header names in another case, and a segment in another case
 * above "headers" (which names nothing); 65 entries (the walk over every entry); the deepest
 * key a mask reaches (16 segments) and one past it (17: the writers' limit, MAX_DEPTH, where the
 * in-place reference would mask it; held to the tree's writer only); context.peer (left out
 * before masks) and source.peer (kept). */
#define NPARSED_MASKS 9
#define PAST_DEPTH    8 /* the set the reference is not held to */
static const char *parsed_masks[NPARSED_MASKS][70];
static mp_bundle parsed_bundles[NPARSED_MASKS];

static void parsed_masks_init(void)
{
	static char many[65][40], deep[2][80];
	static const char *const sets[][8] = {
	    {NULL},
	    {"request.headers.authorization", NULL},
	    {"context", NULL},
	    {"context.a.b", "source.labels.team", "context.list", NULL},
	    {"request.headers.X-Request-ID", "request.HEADERS.content-type",
	     "Request.headers.cookie", "request.headers.AUTHORIZATION", NULL},
	    {NULL}, /* 65 entries */
	    {deep[0], NULL},
	    {"source", "destination.port", "context.peer", "source.peer", NULL},
	    {deep[1], NULL},
	};
	for (int i = 0; i < 65; i++)
		snprintf(many[i], sizeof(many[i]), "request.headers.m%d", i);
	snprintf(many[64], sizeof(many[64]), "request.headers.X-Tenant");
	for (int d = 0; d < 2; d++) { /* context.d.d...: 16 and 17 segments */
		size_t n = (size_t)snprintf(deep[d], sizeof(deep[d]), "context");
		for (int k = 1; k < 16 + d; k++)
			n += (size_t)snprintf(deep[d] + n, sizeof(deep[d]) - n, ".d");
	}
	for (int m = 0; m < NPARSED_MASKS; m++) {
		uint32_t n = 0;
		if (m == 5)
			for (; n < 65; n++)
				parsed_masks[m][n] = many[n];
		else
			for (; sets[m][n]; n++)
				parsed_masks[m][n] = sets[m][n];
		parsed_bundles[m] = (mp_bundle){0};
		parsed_bundles[m].mask = parsed_masks[m];
		parsed_bundles[m].nmask = n;
	}
}

static void print_body(const char *text, size_t len)
{
	print_error("body (%zu bytes): ", len);
	for (size_t i = 0; i < len && i < 300; i++) {
		unsigned char c = (unsigned char)text[i];
		if (c >= 0x20 && c < 0x7f && c != '\\')
			print_error("%c", c);
		else
			print_error("\\x%02x", c);
	}
	print_error("%s\n", len > 300 ? "..." : "");
}

/* 1 when mp_request_parse leaves text to the tree, or mp_loginput_parsed writes under every mask
 * what mp_loginput_json writes of mp_json_parse's tree with context.peer deleted (as api.c's
 * tree path does without a TLS peer), which is json_dumps of that tree masked in place (but past
 * the writers' depth). *read: the document's path was taken. */
static int parsed_as_tree(const char *text, size_t len, int *read)
{
	mp_request r;
	mp_header h[MP_REQUEST_MAX_HEADERS];
	json_t *held[MP_REQUEST_HELD];
	json_t *tree = mp_json_parse(text, len, JSON_REJECT_DUPLICATES, NULL);
	*read = mp_request_parse(text, len, &r, h, held); /* last: the document written below */
	int same = 1;
	if (*read && !tree) {
		print_body(text, len);
		print_error("read from the document, refused by the tree\n");
		same = 0;
	}
	json_t *ctx = json_object_get(tree, "context");
	if (json_is_object(ctx))
		json_object_del(ctx, "peer");
	for (int m = 0; *read && tree && m < NPARSED_MASKS; m++) {
		const mp_bundle *mask = m ? &parsed_bundles[m] : NULL;
		mp_jsonbuf want, got;
		mp_jsonbuf_init(&want, NULL, 0);
		mp_jsonbuf_init(&got, NULL, 0);
		want.ascii = got.ascii = 1;
		mp_loginput_json(&want, tree, mask);
		mp_loginput_parsed(&got, mask);
		mp_jsonbuf_raw(&want, "", 1);
		mp_jsonbuf_raw(&got, "", 1);
		json_t *copy = json_deep_copy(tree);
		mp_loginput_mask(copy, mask);
		char *ref = json_dumps(copy, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENSURE_ASCII);
		if (want.oom || got.oom || strcmp(want.p, got.p) ||
		    (m != PAST_DEPTH && strcmp(ref, want.p))) {
			print_body(text, len);
			print_error(
			    "masks %d:\n tree     %.400s\n document %.400s\n dumps    %.400s\n", m,
			    want.oom ? "(oom)" : want.p, got.oom ? "(oom)" : got.p, ref);
			same = 0;
		}
		free(ref);
		json_decref(copy);
		mp_jsonbuf_free(&want);
		mp_jsonbuf_free(&got);
	}
	for (size_t i = 0; i < MP_REQUEST_HELD; i++)
		json_decref(held[i]);
	json_decref(tree);
	return same;
}

static void check_parsed(const char *text, int want_read)
{
	int read;
	assert_true(parsed_as_tree(text, strlen(text), &read));
	if (read != want_read)
		print_error("read %d, want %d: %s\n", read, want_read, text);
	assert_int_equal(read, want_read);
}

/* The example requests are read from the document and written as the tree's path writes them. */
static void test_parsed_examples(void **state)
{
	(void)state;
	parsed_masks_init();
	glob_t g;
	assert_int_equal(glob("examples/requests/*.json", 0, NULL, &g), 0);
	assert_true(g.gl_pathc >= 5);
	for (size_t i = 0; i < g.gl_pathc; i++) {
		FILE *f = fopen(g.gl_pathv[i], "rb");
		assert_non_null(f);
		char buf[8192];
		size_t n = fread(buf, 1, sizeof(buf), f);
		fclose(f);
		int read;
		assert_true(parsed_as_tree(buf, n, &read));
		if (!read)
			print_error("%s: left to the tree\n", g.gl_pathv[i]);
		assert_true(read);
	}
	globfree(&g);
}

/* A body rich in what the writer must get right, and the seed of the mutations below. */
static const char rich[] =
    "{\"source\":{\"principal\":\"spiffe://acme.io/ns/shop/sa/checkout\",\"namespace\":\"shop\","
    "\"labels\":{\"team\":\"pay\",\"Tier\":\"\\u00e9\"},\"peer\":\"p1\",\"ip\":\"10.0.0.1\"},"
    "\"destination\":{\"service\":\"payments\",\"namespace\":\"billing\",\"port\":8080,"
    "\"external\":false},"
    "\"request\":{\"method\":\"POST\",\"path\":\"/v1/charge?x=\\u00e9\xc3\xa9\","
    "\"headers\":{\"Authorization\":\"Bearer x\",\"authorization\":\"y\",\"X-Request-ID\":\"r1\","
    "\"cookie\":\"c=1\",\"x-a\\\"b\":\"\\ud83d\\ude00\",\"X-Tenant\":\"uk\"}},"
    "\"context\":{\"peer\":{\"principal\":\"forged\"},\"a\":{\"b\":[1,{\"peer\":2}],\"c\":-0.0},"
    "\"list\":[1.5,-9223372036854775808,null,true,\"s\"],\"r\":1e-7,"
    "\"d\":{\"d\":{\"d\":{\"d\":{\"d\":{\"d\":{\"d\":{\"d\":{\"d\":{\"d\":{\"d\":{\"d\":{\"d\":{"
    "\"d\":"
    "{\"d\":{\"d\":{\"d\":1}}}}}}}}}}}}}}}},\"\":\"empty key\"}}";

/* Hostile bodies, each either written as the tree's path writes it or left to the tree. */
static void test_parsed_hostile(void **state)
{
	(void)state;
	parsed_masks_init();
	static const struct {
		const char *text;
		int read;
	} cases[] = {
	    {rich, 1},
	    /* context.peer: left out at context's top only; source.peer is an input field */
	    {"{\"destination\":{\"service\":\"p\"},\"context\":{\"peer\":{\"principal\":\"forged\"}"
	     ","
	     "\"k\":\"v\"}}",
	     1},
	    {"{\"destination\":{\"service\":\"p\"},\"context\":{\"peer\":\"x\"}}", 1},
	    {"{\"context\":{\"peer\":null,\"a\":{\"peer\":1},\"peerx\":2,\"pee\":3},"
	     "\"destination\":{\"service\":\"p\"},\"source\":{\"peer\":\"kept\"}}",
	     1},
	    {"{\"destination\":{\"service\":\"p\"},\"context\":null}", 1},
	    {"{\"destination\":{\"service\":\"p\"},\"context\":{}}", 1},
	    {"{\"destination\":{\"service\":\"p\",\"port\":null},\"source\":null,\"request\":"
	     "{\"headers\":null}}",
	     1},
	    {"{\"destination\":{\"service\":\"p\"},\"peer\":{}}", 0},
	    /* numbers: reals as jansson prints them; what jansson refuses is left to it */
	    {"{\"destination\":{\"service\":\"p\"},\"context\":{\"r\":[1.5,-0.0,0.1,1e300,5e-324,"
	     "1e22,1e21,100.0,1E2,-0,9223372036854775807,-9223372036854775808]}}",
	     1},
	    {"{\"destination\":{\"service\":\"p\"},\"context\":{\"r\":1e400}}", 0},
	    {"{\"destination\":{\"service\":\"p\"},\"context\":{\"i\":18446744073709551616}}", 0},
	    {"{\"destination\":{\"service\":\"p\"},\"context\":{\"i\":-9223372036854775809}}", 0},
	    /* strings: every escape, UTF-8 raw and escaped, in keys and values, headers too */
	    {"{\"destination\":{\"service\":\"p\\u00e9\\n\"},\"request\":{\"headers\":{\"x-"
	     "\xc3\xa9\":"
	     "\"\xf0\x9f\x98\x80\\t\\\"\\\\\\/"
	     "\\u0001\\u001f\\u007f\\b\\f\\r\",\"X-Q\\\"\":\"\\uffff\"}},"
	     "\"context\":{\"\\u00e8\":1,\"e\":2,\"\xc3\xa9\":3,\"\":4,\"E\":5,\"\\u0001\":6}}",
	     1},
	    {"{\"destination\":{\"service\":\"p\"},\"context\":{\"s\":\"a\\u0000b\"}}", 0},
	    {"{\"destination\":{\"service\":\"p\"},\"request\":{\"headers\":{\"a\\u0000\":\"1\"}}}",
	     0},
	    {"{\"destination\":{\"service\":\"p\"},\"context\":{\"s\":\"\\ud800\"}}", 0},
	    /* duplicate keys at every level: json_loadb refuses them, so the document's path does
	     */
	    {"{\"destination\":{\"service\":\"p\"},\"destination\":{\"service\":\"p\"}}", 0},
	    {"{\"destination\":{\"service\":\"p\"},\"context\":{\"a\":[{\"b\":1,\"b\":2}]}}", 0},
	    {"{\"destination\":{\"service\":\"p\"},\"request\":{\"headers\":{\"a\":\"1\",\"a\":"
	     "\"2\"}}}",
	     0},
	    {"{\"destination\":{\"service\":\"p\"},\"request\":{\"headers\":{\"a\":\"1\",\"A\":"
	     "\"2\"}}}",
	     1},
	    /* not the document's: request.auth, an unknown key, another type */
	    {"{\"destination\":{\"service\":\"p\"},\"request\":{\"auth\":{\"principal\":\"x\"}}}",
	     0},
	    {"{\"destination\":{\"service\":\"p\"},\"x\":1}", 0},
	    {"{\"destination\":{\"service\":\"p\",\"port\":\"80\"}}", 0},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		check_parsed(cases[i].text, cases[i].read);
	for (size_t i = 0; i < sizeof(json_inputs) / sizeof(json_inputs[0]); i++)
		check_parsed(json_inputs[i], i == 0); /* the others are no decision input */
	/* 100 members in context, added out of order: past the writers' stacks */
	char wide[4096];
	size_t n = (size_t)snprintf(wide, sizeof(wide),
	                            "{\"destination\":{\"service\":\"p\"},\"context\":{");
	for (int i = 100; i-- > 0;)
		n += (size_t)snprintf(wide + n, sizeof(wide) - n, "%s\"k%02d\":{\"d\":%d}",
		                      i == 99 ? "" : ",", i, i);
	snprintf(wide + n, sizeof(wide) - n, "}}");
	check_parsed(wide, 1);
	/* nesting in context, to simdjson's limit and past it, under the deep masks */
	static const size_t depths[] = {13, 14, 15, 16, 17, 18, 1000, 1030};
	for (size_t k = 0; k < sizeof(depths) / sizeof(depths[0]); k++) {
		size_t d = depths[k], cap = d * 6 + 80;
		char *t = malloc(cap);
		size_t len =
		    (size_t)snprintf(t, cap, "{\"destination\":{\"service\":\"p\"},\"context\":");
		for (size_t i = 0; i < d; i++)
			len += (size_t)snprintf(t + len, cap - len, "{\"d\":");
		len += (size_t)snprintf(t + len, cap - len, "[1]");
		for (size_t i = 0; i < d; i++)
			t[len++] = '}';
		t[len++] = '}';
		t[len] = '\0';
		check_parsed(t, d <= 1000);
		free(t);
	}
	/* a header value of 60 KB with escapes, and a body past the document's 64 KiB */
	static const size_t sizes[] = {60 * 1024, MP_JSON_FAST_MAX + 100};
	for (size_t k = 0; k < 2; k++) {
		size_t size = sizes[k];
		char *t = malloc(size + 1);
		int head = snprintf(t, size,
		                    "{\"destination\":{\"service\":\"p\"},\"request\":{\"headers\":"
		                    "{\"authorization\":\"x\",\"x-big\":\"");
		memset(t + head, 'v', size - (size_t)head);
		for (size_t at = (size_t)head + 5; at + 20 < size; at += 777)
			memcpy(t + at,
			       at % 2 ? "\\u00e9\\n\xe2\x82\xac" : "\\\"\xf0\x9f\x98\x80\\/xyz",
			       11);
		memcpy(t + size - 4, "\"}}}", 4);
		t[size] = '\0';
		check_parsed(t, size <= MP_JSON_FAST_MAX);
		free(t);
	}
}

/* The document is written only while the thread's parser still holds it: after another parse
 * the record's input is refused (oom), never written from the other text. */
static void test_parsed_gone(void **state)
{
	(void)state;
	const char *t = "{\"destination\":{\"service\":\"p\"},\"context\":{\"k\":1}}";
	mp_request r;
	mp_header h[MP_REQUEST_MAX_HEADERS];
	json_t *held[MP_REQUEST_HELD];
	assert_int_equal(mp_request_parse(t, strlen(t), &r, h, held), 1);
	mp_jsonbuf b;
	mp_jsonbuf_init(&b, NULL, 0);
	mp_loginput_parsed(&b, NULL);
	mp_jsonbuf_raw(&b, "", 1);
	assert_false(b.oom);
	assert_string_equal(b.p, "{\"context\":{\"k\":1},\"destination\":{\"service\":\"p\"}}");
	mp_jsonbuf_free(&b);
	json_t *other = mp_json_parse("{\"x\":1}", 7, JSON_REJECT_DUPLICATES, NULL);
	assert_non_null(other);
	mp_jsonbuf_init(&b, NULL, 0);
	mp_loginput_parsed(&b, NULL);
	assert_true(b.oom);
	mp_jsonbuf_free(&b);
	json_decref(other);
	for (size_t i = 0; i < MP_REQUEST_HELD; i++)
		json_decref(held[i]);
}

static int parsed_check(const char *text, size_t len, long i, int *read)
{
	(void)i;
	return parsed_as_tree(text, len, read);
}

/* Seeded mutations of the examples and the rich body (mutate.h), each written as the tree's path
 * writes it under every mask, or left to the tree. */
static void test_parsed_mutations(void **state)
{
	(void)state;
	parsed_masks_init();
	char *seeds[32];
	size_t seed_len[32], nseeds = 0;
	seeds[nseeds] = strdup(rich);
	seed_len[nseeds++] = strlen(rich);
	size_t before = nseeds;
	nseeds = mutate_add_seeds("examples/requests/*.json", seeds, seed_len, nseeds, 32, 8192);
	assert_true(nseeds != SIZE_MAX && nseeds > before);
	const char *env = getenv("MP_LOGINPUT_MUTATIONS"); /* longer runs by hand */
	long total = env ? atol(env) : 100000;
	mutate_counts c = mutate_run(seeds, seed_len, nseeds, total, 20261209, 16384, parsed_check);
	print_message("%ld mutations: %ld read from the document (%ld of the rich body), the rest "
	              "left to the tree\n",
	              total, c.read, c.read_first);
	assert_int_equal(c.failures, 0);
	assert_true(c.read > total / 20);
	assert_true(c.read_first > total / 200);
	mutate_free_seeds(seeds, nseeds);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_json_inputs),     cmocka_unit_test(test_hostile_keys),
	    cmocka_unit_test(test_proxy_inputs),    cmocka_unit_test(test_random_masks),
	    cmocka_unit_test(test_many_masks),      cmocka_unit_test(test_proxy_hostile),
	    cmocka_unit_test(test_parsed_examples), cmocka_unit_test(test_parsed_hostile),
	    cmocka_unit_test(test_parsed_gone),     cmocka_unit_test(test_parsed_mutations),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
