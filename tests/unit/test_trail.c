/* test_trail.c: engine/trail.c: records chained across runs, seals signed and verified, every
 * kind of tampering named at the right line, refusals to extend a broken or unsealed trail,
 * adopting unsealed records on purpose, heads and run counts kept elsewhere, keys. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "alloc.h"
#include "trail.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[128];
static char key1[192], pub1[192], key2[192], pub2[192];
static char signed_trail[192], unsigned_trail[192], forged_trail[192];

static void tmp_path(char *out, size_t len, const char *name)
{
	snprintf(out, len, "%s/%s", dir, name);
	unlink(out);
}

/* ---- files as lines ---- */

typedef struct {
	char **v;
	size_t n;
} lines;

static char *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	*len = (size_t)ftell(f);
	rewind(f);
	char *buf = malloc(*len + 1);
	assert_int_equal(fread(buf, 1, *len, f), *len);
	buf[*len] = '\0';
	fclose(f);
	return buf;
}

static void write_file(const char *path, const char *data, size_t len)
{
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	fclose(f);
}

/* Every line of a file that ends in a newline, without it. */
static lines read_lines(const char *path)
{
	size_t len;
	char *text = read_file(path, &len);
	lines l = {calloc(len + 1, sizeof(char *)), 0};
	for (char *p = text, *nl; (nl = strchr(p, '\n')); p = nl + 1)
		l.v[l.n++] = strndup(p, (size_t)(nl - p));
	free(text);
	return l;
}

static void write_lines(const char *path, const lines *l)
{
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	for (size_t i = 0; i < l->n; i++)
		fprintf(f, "%s\n", l->v[i]);
	fclose(f);
}

static void lines_free(lines *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
}

/* Replaces the first `from` in 1-based line ln with `to`. */
static void edit_line(lines *l, size_t ln, const char *from, const char *to)
{
	char *s = l->v[ln - 1], *at = strstr(s, from);
	if (!at)
		fail_msg("line %zu has no '%s': %s", ln, from, s);
	size_t a = (size_t)(at - s), f = strlen(from), t = strlen(to), n = strlen(s);
	char *r = malloc(n - f + t + 1);
	memcpy(r, s, a);
	memcpy(r + a, to, t);
	memcpy(r + a + t, s + a + f, n - a - f + 1);
	free(s);
	l->v[ln - 1] = r;
}

/* ---- building trails ---- */

static void append_ok(mp_trail *t, const char *type, json_t *content, int sync)
{
	char err[512];
	int rc = sync ? mp_trail_append(t, type, content, err, sizeof(err))
	              : mp_trail_append_nosync(t, type, content, err, sizeof(err));
	if (rc != 0)
		fail_msg("append %s: %s", type, err);
	json_decref(content);
}

/* One audit-like run: start, three findings, end, seal (6 records). */
static void write_run(const char *path, const char *key)
{
	char err[512];
	mp_trail *t = mp_trail_open(path, key, err, sizeof(err));
	if (!t)
		fail_msg("open %s: %s", path, err);
	append_ok(t, "start", json_pack("{s:s, s:s}", "model", "5d41402a", "bundle", "r7"), 1);
	for (int i = 0; i < 3; i++)
		append_ok(t, "finding",
		          json_pack("{s:s, s:i, s:s, s:{s:s, s:i}}", "policy", "traffic.mtls", "n",
		                    i, "message", "web \xe2\x86\x92 api is plaintext", "source",
		                    "file", "mesh.yaml", "line", 12 + i),
		          0);
	append_ok(t, "end", json_pack("{s:i}", "findings", 3), 1);
	if (mp_trail_seal(t, err, sizeof(err)) != 0)
		fail_msg("seal: %s", err);
	mp_trail_close(t);
}

static int setup(void **state)
{
	(void)state;
	char err[512];
	umask(022);
	snprintf(dir, sizeof(dir), "/tmp/meshpol-trail-%d", (int)getpid());
	if (mkdir(dir, 0700) != 0)
		return -1;
	tmp_path(key1, sizeof(key1), "k1.pem");
	tmp_path(pub1, sizeof(pub1), "k1.pub.pem");
	tmp_path(key2, sizeof(key2), "k2.pem");
	tmp_path(pub2, sizeof(pub2), "k2.pub.pem");
	if (mp_trail_keygen(key1, err, sizeof(err)) != 0 || mp_trail_keygen(key2, err, sizeof(err)))
		return -1;
	tmp_path(signed_trail, sizeof(signed_trail), "signed.jsonl");
	tmp_path(unsigned_trail, sizeof(unsigned_trail), "unsigned.jsonl");
	tmp_path(forged_trail, sizeof(forged_trail), "forged.jsonl");
	for (int run = 0; run < 2; run++) {
		write_run(signed_trail, key1);
		write_run(unsigned_trail, NULL);
		write_run(forged_trail, key2);
	}
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	char cmd[256];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static int verify(const char *path, const char *pub, mp_trail_report *rep)
{
	char err[512] = "";
	int rc = mp_trail_verify(path, pub, rep, err, sizeof(err));
	if (rc < 0)
		fail_msg("verify %s: %s", path, err);
	return rc;
}

static void sha256_hex(const char *s, size_t n, char out[65])
{
	unsigned char d[32];
	unsigned int dn;
	assert_int_equal(EVP_Digest(s, n, d, &dn, EVP_sha256(), NULL), 1);
	for (int i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", d[i]);
}

/* Appends n records chained by hand, as anyone can without a key: the attack a seal must not
 * launder. */
static void forge_records(lines *l, int n)
{
	for (int i = 0; i < n; i++) {
		char prev[65], rec[256];
		sha256_hex(l->v[l->n - 1], strlen(l->v[l->n - 1]), prev);
		snprintf(rec, sizeof(rec),
		         "{\"seq\":%zu,\"time\":\"2026-11-27T09:00:0%d.000Z\",\"type\":\"%s\","
		         "\"prev\":\"%s\",\"result\":\"pass\"}",
		         l->n + 1, i, i == 0 ? "start" : "end", prev);
		l->v = realloc(l->v, (l->n + 1) * sizeof(char *));
		l->v[l->n++] = strdup(rec);
	}
}

/* Copies src to path with n forged records appended. */
static void write_forged(const char *src, const char *path, int n)
{
	lines l = read_lines(src);
	forge_records(&l, n);
	write_lines(path, &l);
	lines_free(&l);
}

static void verify_opts_ok(const char *path, const mp_trail_verify_opts *o, mp_trail_report *rep,
                           int want)
{
	char err[512] = "";
	int rc = mp_trail_verify_with(path, o, rep, err, sizeof(err));
	if (rc != want)
		fail_msg("verify %s: rc %d, want %d (%s%s)", path, rc, want, err, rep->message);
}

/* ---- the happy path ---- */

static void test_runs_continue(void **state)
{
	(void)state;
	char path[192], err[512], head[65];
	mp_trail_report rep;
	tmp_path(path, sizeof(path), "runs.jsonl");
	write_run(path, NULL);

	mp_trail *t = mp_trail_open(path, NULL, err, sizeof(err));
	assert_non_null(t);
	assert_int_equal(mp_trail_seq(t), 6);
	append_ok(t, "start", NULL, 1);
	assert_int_equal(mp_trail_seq(t), 7);
	assert_int_equal(mp_trail_seal(t, err, sizeof(err)), 0);
	mp_trail_head(t, head);
	mp_trail_close(t);

	lines l = read_lines(path);
	assert_int_equal(l.n, 8);
	/* the canonical layout: seq, time, type, prev first, then the content's keys sorted */
	assert_true(!strncmp(l.v[0], "{\"seq\":1,\"time\":\"", 17));
	assert_non_null(strstr(l.v[0],
	                       "\",\"type\":\"start\",\"prev\":\"0000000000000000000000000000"
	                       "000000000000000000000000000000000000\",\"bundle\":\"r7\","
	                       "\"model\":\"5d41402a\"}"));
	assert_non_null(strstr(l.v[1], "\"message\":\"web \\u2192 api is plaintext\",\"n\":0,"
	                               "\"policy\":\"traffic.mtls\",\"source\":{\"file\":"
	                               "\"mesh.yaml\",\"line\":12}}"));
	/* a record without content, and the seal of the second run: one record since the first */
	assert_non_null(strstr(l.v[6], "\"type\":\"start\",\"prev\":\""));
	assert_true(l.v[6][strlen(l.v[6]) - 2] == '"');
	assert_non_null(strstr(l.v[7], "\"alg\":\"none\",\"head\":\""));
	assert_non_null(strstr(l.v[7], "\"records\":1}"));
	/* each prev is the hash of the line before; the head is the hash of the last line */
	for (size_t i = 1; i < l.n; i++) {
		char h[65], want[80];
		sha256_hex(l.v[i - 1], strlen(l.v[i - 1]), h);
		snprintf(want, sizeof(want), "\"prev\":\"%s\"", h);
		assert_non_null(strstr(l.v[i], want));
	}
	char last[65];
	sha256_hex(l.v[7], strlen(l.v[7]), last);
	assert_string_equal(head, last);
	lines_free(&l);

	assert_int_equal(verify(path, NULL, &rep), 0);
	assert_int_equal(rep.records, 8);
	assert_int_equal(rep.runs, 2);
	assert_int_equal(rep.seals, 2);
	assert_int_equal(rep.signed_seals, 0);
	assert_int_equal(rep.unsealed, 0);
	assert_int_equal(rep.bad_line, 0);
	unlink(path);
}

/* Records appended in held batches and one by one, with contents that fill, end exactly at and
 * pass the usual sizes: each prev is the hex of the SHA-256 of the line before (the head's
 * digits from their table: 800 records put every byte value in a hash), and mp_trail_head is
 * the hash of the last line. */
static void test_prev_is_hash_of_line_before(void **state)
{
	(void)state;
	char path[192], err[512], head[65];
	static char content[6000];
	mp_trail_report rep;
	tmp_path(path, sizeof(path), "prev.jsonl");
	mp_trail *t = mp_trail_open(path, NULL, err, sizeof(err));
	assert_non_null(t);
	for (int i = 0; i < 800; i++) {
		size_t pad = (size_t)(i * 131 % 5000);
		int k = snprintf(content, 64, "{\"i\":%d,\"p\":\"", i);
		memset(content + k, 'a' + i % 26, pad);
		memcpy(content + k + pad, "\"}", 2);
		if (i % 3 == 0)
			mp_trail_hold(t);
		assert_int_equal(mp_trail_append_encoded(t, "decision", content,
		                                         (size_t)k + pad + 2, err, sizeof(err)),
		                 0);
		if (i % 3 == 2)
			assert_int_equal(mp_trail_flush(t, err, sizeof(err)), 0);
	}
	assert_int_equal(mp_trail_flush(t, err, sizeof(err)), 0);
	mp_trail_head(t, head);
	mp_trail_close(t);
	lines l = read_lines(path);
	assert_int_equal(l.n, 800);
	assert_non_null(strstr(l.v[0], "\"prev\":\""
	                               "0000000000000000000000000000000000000000"
	                               "000000000000000000000000\""));
	for (size_t i = 1; i < l.n; i++) {
		char h[65], want[80];
		sha256_hex(l.v[i - 1], strlen(l.v[i - 1]), h);
		snprintf(want, sizeof(want), "\"prev\":\"%s\"", h);
		if (!strstr(l.v[i], want))
			fail_msg("line %zu: want %s", i + 1, want);
	}
	char last[65];
	sha256_hex(l.v[l.n - 1], strlen(l.v[l.n - 1]), last);
	assert_string_equal(head, last);
	lines_free(&l);
	assert_int_equal(verify(path, NULL, &rep), 0);
	assert_int_equal(rep.records, 800);
	unlink(path);
}

static void test_signed_trail_verifies(void **state)
{
	(void)state;
	mp_trail_report rep;
	struct stat st;
	char id[65], err[512];
	assert_int_equal(stat(key1, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(stat(pub1, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0644);
	assert_int_equal(stat(signed_trail, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0640);

	assert_int_equal(verify(signed_trail, NULL, &rep), 0);
	assert_int_equal(rep.records, 12);
	assert_int_equal(rep.runs, 2);
	assert_int_equal(rep.seals, 2);
	assert_int_equal(rep.signed_seals, 2);
	assert_int_equal(rep.verified_signatures, 0); /* present but not checked */
	assert_int_equal(mp_trail_key_id(pub1, id, err, sizeof(err)), 0);
	assert_string_equal(rep.key_id, id);
	assert_int_equal(mp_trail_key_id(key1, id, err, sizeof(err)), 0); /* same from either */
	assert_string_equal(rep.key_id, id);

	assert_int_equal(verify(signed_trail, pub1, &rep), 0);
	assert_int_equal(rep.signed_seals, 2);
	assert_int_equal(rep.verified_signatures, 2);
	assert_int_equal(verify(unsigned_trail, NULL, &rep), 0);
	assert_int_equal(rep.seals, 2);
	assert_int_equal(rep.signed_seals, 0);

	/* the seal's signature is Ed25519 over the documented message */
	lines l = read_lines(signed_trail);
	json_t *seal = json_loads(l.v[5], 0, NULL);
	assert_non_null(seal);
	char msg[256];
	snprintf(msg, sizeof(msg), "meshpol-trail-seal-v1 seq=6 time=%s records=5 head=%s",
	         json_string_value(json_object_get(seal, "time")),
	         json_string_value(json_object_get(seal, "head")));
	unsigned char sig[80];
	const char *b64 = json_string_value(json_object_get(seal, "signature"));
	assert_int_equal(EVP_DecodeBlock(sig, (const unsigned char *)b64, (int)strlen(b64)), 66);
	FILE *f = fopen(pub1, "r");
	EVP_PKEY *k = PEM_read_PUBKEY(f, NULL, NULL, NULL);
	fclose(f);
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	assert_int_equal(EVP_DigestVerifyInit(c, NULL, NULL, NULL, k), 1);
	assert_int_equal(EVP_DigestVerify(c, sig, 64, (unsigned char *)msg, strlen(msg)), 1);
	EVP_MD_CTX_free(c);
	EVP_PKEY_free(k);
	json_decref(seal);
	lines_free(&l);
}

/* ---- tampering, data-driven ---- */

static void change_byte(lines *l)
{
	edit_line(l, 3, "\"n\":1", "\"n\":7");
}
static void delete_middle(lines *l)
{
	free(l->v[2]);
	memmove(l->v + 2, l->v + 3, (l->n - 3) * sizeof(char *));
	l->n--;
}
static void delete_first_two(lines *l)
{
	free(l->v[0]);
	free(l->v[1]);
	memmove(l->v, l->v + 2, (l->n - 2) * sizeof(char *));
	l->n -= 2;
}
static void swap_pair(lines *l)
{
	char *s = l->v[2];
	l->v[2] = l->v[3];
	l->v[3] = s;
}
static void insert_copy(lines *l)
{
	memmove(l->v + 9, l->v + 8, (l->n - 8) * sizeof(char *));
	l->v[8] = strdup(l->v[1]);
	l->n++;
}
static void insert_blank(lines *l)
{
	memmove(l->v + 5, l->v + 4, (l->n - 4) * sizeof(char *));
	l->v[4] = strdup("");
	l->n++;
}
static void append_garbage(lines *l)
{
	l->v[l->n++] = strdup("garbage");
}
static void edit_seal_head(lines *l)
{
	char *h = strstr(l->v[5], "\"head\":\"") + 8;
	*h = *h == '0' ? '1' : '0';
}
static void edit_seal_records(lines *l)
{
	edit_line(l, 12, "\"records\":5", "\"records\":4");
}
static void edit_last_seal_time(lines *l)
{
	char *t = strstr(l->v[11], "\"time\":\"") + 8 + 22; /* last digit of the milliseconds */
	*t = *t == '0' ? '1' : '0';
}
static void edit_prev(lines *l)
{
	char *p = strstr(l->v[3], "\"prev\":\"") + 8;
	*p = *p == '0' ? '1' : '0';
}
static void edit_last_prev(lines *l)
{
	char *p = strstr(l->v[11], "\"prev\":\"") + 8;
	*p = *p == '0' ? '1' : '0';
}
static void edit_first_prev(lines *l)
{
	edit_line(l, 1, "\"prev\":\"0", "\"prev\":\"1");
}
static void duplicate_key(lines *l)
{
	edit_line(l, 3, "\"n\":1", "\"n\":1,\"n\":2");
}
static void crlf(lines *l)
{
	for (size_t i = 0; i < l->n; i++) {
		size_t n = strlen(l->v[i]);
		l->v[i] = realloc(l->v[i], n + 2);
		memcpy(l->v[i] + n, "\r", 2);
	}
}
/* The forged trail (sealed with key 2), its seals claiming key 1's key_id. */
static void forge_two(lines *l)
{
	forge_records(l, 2);
}
static void forge_one(lines *l)
{
	forge_records(l, 1);
}
/* The last run and its seal removed: a shorter trail that still ends in a good seal. */
static void drop_last_run(lines *l)
{
	for (size_t i = 6; i < l->n; i++)
		free(l->v[i]);
	l->n = 6;
}
static void drop_last_seal(lines *l)
{
	free(l->v[--l->n]);
}
static void drop_all_seals(lines *l)
{
	free(l->v[11]);
	l->n = 11;
	free(l->v[5]);
	memmove(l->v + 5, l->v + 6, (l->n - 6) * sizeof(char *));
	l->n--;
	/* rechain by hand from line 6 on: what anyone can do without a key */
	for (size_t i = 5; i < l->n; i++) {
		char prev[65], seq[32], *p;
		sha256_hex(l->v[i - 1], strlen(l->v[i - 1]), prev);
		p = strstr(l->v[i], "\"prev\":\"") + 8;
		memcpy(p, prev, 64);
		snprintf(seq, sizeof(seq), "{\"seq\":%zu,", i + 1);
		p = strchr(l->v[i], ',');
		char *r = malloc(strlen(seq) + strlen(p + 1) + 1);
		sprintf(r, "%s%s", seq, p + 1);
		free(l->v[i]);
		l->v[i] = r;
	}
}
static void claim_key1(lines *l)
{
	char id1[65], id2[65], err[256];
	assert_int_equal(mp_trail_key_id(pub1, id1, err, sizeof(err)), 0);
	assert_int_equal(mp_trail_key_id(pub2, id2, err, sizeof(err)), 0);
	edit_line(l, 6, id2, id1);
	edit_line(l, 12, id2, id1);
}

typedef struct {
	const char *name;
	const char **source; /* the trail to start from */
	void (*tamper)(lines *l);
	long cut; /* > 0: keep only this many bytes (instead of tamper) */
	const char **pubkey;
	int rc;
	uint64_t line, seq;
	const char *reason; /* a substring of rep.reason */
} tamper_case;

static const char *signed_src = signed_trail, *unsigned_src = unsigned_trail,
                  *forged_src = forged_trail, *pub1_path = pub1;

static const tamper_case cases[] = {
    {"one byte of a middle record changed", &signed_src, change_byte, 0, NULL, 1, 3, 3,
     "record altered (its hash no longer matches the next record's prev)"},
    {"a middle record deleted", &signed_src, delete_middle, 0, NULL, 1, 3, 4,
     "seq 3 expected, found 4 (a record was removed)"},
    {"the first two records deleted", &signed_src, delete_first_two, 0, NULL, 1, 1, 3,
     "seq 1 expected, found 3 (2 records were removed)"},
    {"two records swapped", &signed_src, swap_pair, 0, NULL, 1, 3, 4,
     "seq 3 expected, found 4 (records reordered: seq 3 is at line 4)"},
    {"an earlier record copied in", &signed_src, insert_copy, 0, NULL, 1, 9, 2,
     "seq goes backwards: 9 expected, found 2"},
    {"a blank line inserted", &signed_src, insert_blank, 0, NULL, 1, 5, 0, "empty line"},
    {"a garbage line appended", &signed_src, append_garbage, 0, NULL, 1, 13, 0,
     "not valid JSON (column 7: '[' or '{' expected near 'garbage')"},
    {"a duplicate key added", &signed_src, duplicate_key, 0, NULL, 1, 3, 0,
     "duplicate object key near '\"n\"'"},
    {"cut mid-line", &signed_src, NULL, 1200, NULL, 1, 0, 0, "no newline at the end"},
    {"a seal's head edited", &signed_src, edit_seal_head, 0, NULL, 1, 6, 6,
     "head does not match the chain"},
    {"a seal's record count edited", &signed_src, edit_seal_records, 0, NULL, 1, 12, 12,
     "records is wrong, but 5 records were written since the previous seal"},
    {"the last seal's time edited, with the key", &signed_src, edit_last_seal_time, 0, &pub1_path,
     1, 12, 12, "signature does not verify with the given public key"},
    {"the last seal's time edited, without a key (undetectable)", &signed_src, edit_last_seal_time,
     0, NULL, 0, 0, 0, ""},
    {"a middle record's prev edited", &signed_src, edit_prev, 0, NULL, 1, 4, 4,
     "record altered: prev does not match the hash of line 3, nor does its hash match line 5's "
     "prev"},
    {"the last record's prev edited", &signed_src, edit_last_prev, 0, NULL, 1, 12, 12,
     "prev does not match the hash of line 11 (altered or removed record before it)"},
    {"the first record's prev edited", &signed_src, edit_first_prev, 0, NULL, 1, 1, 1,
     "prev is not 64 zeros"},
    {"line endings converted", &signed_src, crlf, 0, NULL, 1, 1, 0, "carriage return"},
    {"seals forged with another key", &forged_src, NULL, 0, &pub1_path, 1, 6, 6,
     "signature does not verify with the given public key (the seal names key_id "},
    {"a forged seal claiming the right key_id", &forged_src, claim_key1, 0, &pub1_path, 1, 6, 6,
     "signature does not verify with the given public key"},
    {"forged seals are fine without a key", &forged_src, NULL, 0, NULL, 0, 0, 0, ""},
    {"unsigned seals while a key is given", &unsigned_src, NULL, 0, &pub1_path, 1, 6, 6,
     "unsigned seal while a public key was given"},
    {"records chained by hand after the last signed seal, with the key", &signed_src, forge_two, 0,
     &pub1_path, 1, 13, 13,
     "not sealed: 2 records after the last seal (line 12) are covered by no signature (added "
     "by hand, or a run that did not seal)"},
    {"one record chained by hand after the last signed seal, with the key", &signed_src, forge_one,
     0, &pub1_path, 1, 13, 13,
     "not sealed: 1 record after the last seal (line 12) is covered by no signature"},
    {"records chained by hand after the last seal, without a key (a note only)", &signed_src,
     forge_two, 0, NULL, 0, 0, 0, ""},
    {"the last seal cut off, with the key", &signed_src, drop_last_seal, 0, &pub1_path, 1, 7, 7,
     "not sealed: 5 records after the last seal (line 6)"},
    {"every seal removed and the chain redone, with the key", &signed_src, drop_all_seals, 0,
     &pub1_path, 1, 1, 1,
     "not sealed: 10 records and no seal, but a signed trail ends in a signed seal"},
    {"the last run and its seal removed (needs a head or a run count)", &signed_src, drop_last_run,
     0, &pub1_path, 0, 0, 0, ""},
};

static void test_tampering(void **state)
{
	(void)state;
	char path[192];
	tmp_path(path, sizeof(path), "tampered.jsonl");
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const tamper_case *c = &cases[i];
		mp_trail_report rep;
		if (c->cut) {
			size_t len;
			char *text = read_file(*c->source, &len);
			assert_true((size_t)c->cut < len);
			write_file(path, text, (size_t)c->cut);
			free(text);
		} else {
			lines l = read_lines(*c->source);
			if (c->tamper)
				c->tamper(&l);
			write_lines(path, &l);
			lines_free(&l);
		}
		int rc = verify(path, c->pubkey ? *c->pubkey : NULL, &rep);
		if (rc != c->rc || (c->line && rep.bad_line != c->line) || rep.bad_seq != c->seq ||
		    !strstr(rep.reason, c->reason))
			fail_msg("%s: rc %d, want %d; got \"%s\", want line %llu seq %llu \"%s\"",
			         c->name, rc, c->rc, rep.message, (unsigned long long)c->line,
			         (unsigned long long)c->seq, c->reason);
		if (rc == 1) {
			char prefix[64];
			snprintf(prefix, sizeof(prefix), "line %llu",
			         (unsigned long long)rep.bad_line);
			assert_true(!strncmp(rep.message, prefix, strlen(prefix)));
		}
	}
	unlink(path);
}

/* Where the cut lands: line 7 of the signed trail, the start of the second run. */
static void test_cut_names_the_torn_line(void **state)
{
	(void)state;
	lines l = read_lines(signed_trail);
	size_t off = 0;
	for (int i = 0; i < 6; i++)
		off += strlen(l.v[i]) + 1;
	lines_free(&l);
	char path[192];
	size_t len;
	mp_trail_report rep;
	tmp_path(path, sizeof(path), "cut.jsonl");
	char *text = read_file(signed_trail, &len);
	write_file(path, text, off + 40);
	free(text);
	assert_int_equal(verify(path, NULL, &rep), 1);
	assert_int_equal(rep.bad_line, 7);
	assert_string_equal(rep.message, "line 7: no newline at the end: the record is torn (the "
	                                 "file was cut mid-line, or a write was interrupted)");
	assert_int_equal(rep.records, 6);
	unlink(path);
}

/* ---- refusing to extend a broken trail ---- */

static void expect_open_refused(const char *path, const char *key, const char *want)
{
	char err[512];
	size_t before, after;
	free(read_file(path, &before));
	mp_trail *t = mp_trail_open(path, key, err, sizeof(err));
	if (t)
		fail_msg("opened %s; want a refusal with \"%s\"", path, want);
	if (!strstr(err, want))
		fail_msg("error \"%s\" lacks \"%s\"", err, want);
	free(read_file(path, &after));
	assert_int_equal(before, after);
}

static void test_refuse_broken_trail(void **state)
{
	(void)state;
	char path[192], err[512];
	size_t len;
	tmp_path(path, sizeof(path), "broken.jsonl");

	lines l = read_lines(unsigned_trail);
	change_byte(&l);
	write_lines(path, &l);
	lines_free(&l);
	expect_open_refused(path, NULL,
	                    "refusing to append to a broken trail: line 3 (seq 3): record altered");

	char *text = read_file(unsigned_trail, &len);
	write_file(path, text, len - 1); /* the last newline gone */
	expect_open_refused(path, NULL,
	                    "refusing to append to a broken trail: line 12: no newline at the end");
	write_file(path, text, len - 30); /* torn mid-line */
	expect_open_refused(path, NULL, "line 12: no newline at the end: the record is torn");
	write_file(path, "{\"seq\":1,", 9);
	expect_open_refused(path, NULL, "line 1: no newline");
	write_file(path, "not json\n", 9);
	expect_open_refused(path, NULL, "line 1: not valid JSON");

	/* the intact original still opens, and continues where it ended */
	write_file(path, text, len);
	free(text);
	mp_trail *t = mp_trail_open(path, NULL, err, sizeof(err));
	assert_non_null(t);
	assert_int_equal(mp_trail_seq(t), 12);
	mp_trail_close(t);
	unlink(path);
}

static void test_refuse_mismatched_keys(void **state)
{
	(void)state;
	char path[192];
	size_t len;
	tmp_path(path, sizeof(path), "keys.jsonl");
	char *text = read_file(signed_trail, &len);
	write_file(path, text, len);
	free(text);
	expect_open_refused(path, key2, "line 6 (seq 6, seal): sealed by another key (key_id ");
	expect_open_refused(path, NULL, "sealed with a key (key_id ");
	expect_open_refused(path, NULL, "give that signing key to continue this trail");
	text = read_file(unsigned_trail, &len);
	write_file(path, text, len);
	free(text);
	expect_open_refused(path, key1,
	                    "unsigned seal, but the trail is being continued with a "
	                    "signing key (start a new trail file)");
	unlink(path);
}

static void test_second_writer_refused(void **state)
{
	(void)state;
	char path[192], err[512];
	tmp_path(path, sizeof(path), "locked.jsonl");
	mp_trail *a = mp_trail_open(path, NULL, err, sizeof(err));
	assert_non_null(a);
	mp_trail *b = mp_trail_open(path, NULL, err, sizeof(err));
	assert_null(b);
	assert_non_null(strstr(err, "another process is appending to this trail"));
	mp_trail_close(a);
	b = mp_trail_open(path, NULL, err, sizeof(err));
	assert_non_null(b);
	mp_trail_close(b);
	unlink(path);
}

/* ---- the tail after the last seal: refused, or adopted on purpose ---- */

static void test_refuse_unsealed_tail(void **state)
{
	(void)state;
	char path[192], err[512];
	mp_trail_report rep;
	tmp_path(path, sizeof(path), "unsealed.jsonl");

	/* records chained by hand after a signed seal: a signed writer must not seal them */
	write_forged(signed_trail, path, 2);
	expect_open_refused(
	    path, key1,
	    "unsealed.jsonl: refusing to extend a trail whose tail is not sealed: 2 "
	    "records after the last seal (line 12), from line 13 (seq 13); a new "
	    "seal would vouch for records this writer did not write (inspect them, "
	    "then seal them on purpose with meshpol trail adopt, or start a new "
	    "trail file)");
	assert_int_equal(verify(path, pub1, &rep), 1);
	assert_int_equal(rep.bad_line, 13);
	assert_int_equal(rep.unsealed, 2);
	assert_int_equal(rep.first_unsealed_line, 13);

	/* the same for an unsigned trail and an unsigned writer */
	write_forged(unsigned_trail, path, 1);
	expect_open_refused(path, NULL,
	                    "not sealed: 1 record after the last seal (line 12), from line 13 "
	                    "(seq 13)");

	/* a run that died before its seal, and a trail that never had one */
	mp_trail *t = mp_trail_open(path, NULL, err, sizeof(err));
	assert_null(t);
	unlink(path);
	t = mp_trail_open(path, key1, err, sizeof(err));
	assert_non_null(t);
	append_ok(t, "start", NULL, 1);
	append_ok(t, "finding", NULL, 1);
	mp_trail_close(t);
	expect_open_refused(path, key1, "2 records and no seal, from line 1 (seq 1)");
	assert_int_equal(verify(path, pub1, &rep), 1);
	assert_string_equal(rep.message, "line 1 (seq 1): not sealed: 2 records and no seal, but a "
	                                 "signed trail ends in a signed seal (written by hand, or "
	                                 "a run that did not seal)");
	assert_int_equal(verify(path, NULL, &rep), 0); /* the chain alone is fine */
	assert_int_equal(rep.unsealed, 2);
	unlink(path);
}

static void test_adopt_unsealed(void **state)
{
	(void)state;
	char path[192], err[512];
	mp_trail_report rep;
	tmp_path(path, sizeof(path), "adopt.jsonl");
	write_forged(signed_trail, path, 2);

	/* adopting is explicit, and the seal says so */
	mp_trail *t = mp_trail_open_flags(path, key1, MP_TRAIL_ADOPT_UNSEALED, err, sizeof(err));
	if (!t)
		fail_msg("adopt: %s", err);
	assert_int_equal(mp_trail_unsealed(t), 2);
	append_ok(t, "note", NULL, 1); /* a record of its own: records 3, adopted 2 */
	assert_int_equal(mp_trail_seal(t, err, sizeof(err)), 0);
	assert_int_equal(mp_trail_unsealed(t), 0);
	append_ok(t, "start", NULL, 1);
	assert_int_equal(mp_trail_seal(t, err, sizeof(err)), 0); /* adopts nothing more */
	mp_trail_close(t);
	lines l = read_lines(path);
	assert_int_equal(l.n, 18);
	assert_non_null(strstr(l.v[15], "\"adopted\":2,\"alg\":\"ed25519\""));
	assert_non_null(strstr(l.v[15], "\"records\":3,"));
	assert_null(strstr(l.v[17], "adopted"));

	assert_int_equal(verify(path, pub1, &rep), 0);
	assert_int_equal(rep.adopting_seals, 1);
	assert_int_equal(rep.adopted, 2);
	assert_int_equal(rep.first_adopting_line, 16);
	assert_int_equal(rep.verified_signatures, 4);

	/* the signature covers the mark: stripping it, or changing it, is caught */
	lines m = read_lines(path);
	edit_line(&m, 16, "\"adopted\":2,", "");
	write_lines(path, &m);
	lines_free(&m);
	assert_int_equal(verify(path, pub1, &rep), 1);
	assert_int_equal(rep.bad_line, 16);
	assert_non_null(strstr(rep.reason, "signature does not verify with the given public key"));
	write_lines(path, &l);
	m = read_lines(path);
	edit_line(&m, 16, "\"adopted\":2,", "\"adopted\":4,");
	write_lines(path, &m);
	lines_free(&m);
	assert_int_equal(verify(path, NULL, &rep), 1);
	assert_string_equal(rep.reason, "adopted is not a count from 1 to records (3)");
	lines_free(&l);

	/* with the flag, a sealed trail adopts nothing and its seal has no mark */
	write_file(path, "", 0);
	write_run(path, NULL);
	t = mp_trail_open_flags(path, NULL, MP_TRAIL_ADOPT_UNSEALED, err, sizeof(err));
	assert_non_null(t);
	assert_int_equal(mp_trail_unsealed(t), 0);
	append_ok(t, "start", NULL, 1);
	assert_int_equal(mp_trail_seal(t, err, sizeof(err)), 0);
	mp_trail_close(t);
	assert_int_equal(verify(path, NULL, &rep), 0);
	assert_int_equal(rep.adopting_seals, 0);
	unlink(path);
}

/* ---- a head and a run count kept outside the trail ---- */

static void test_verify_head_and_runs(void **state)
{
	(void)state;
	char path[192], head[65], first_run[65], upper[65], err[512];
	mp_trail_report rep;
	mp_trail_verify_opts o = {.pubkey_path = pub1};
	tmp_path(path, sizeof(path), "head.jsonl");

	/* the head is the hash of the last record: what the writer says, and verify */
	mp_trail *t = mp_trail_open(signed_trail, key1, err, sizeof(err));
	assert_non_null(t);
	mp_trail_head(t, head);
	mp_trail_close(t);
	assert_int_equal(verify(signed_trail, pub1, &rep), 0);
	assert_string_equal(rep.last_hash, head);
	lines l = read_lines(signed_trail);
	sha256_hex(l.v[5], strlen(l.v[5]), first_run);
	lines_free(&l);

	o.head = head;
	o.min_runs = 2;
	verify_opts_ok(signed_trail, &o, &rep, 0);
	assert_true(rep.head_found);
	assert_int_equal(rep.head_line, 12);
	assert_int_equal(rep.after_head, 0);
	o.head = first_run; /* recorded after the first run: the trail grew since */
	verify_opts_ok(signed_trail, &o, &rep, 0);
	assert_int_equal(rep.head_line, 6);
	assert_int_equal(rep.after_head, 6);
	o.head = "0000000000000000000000000000000000000000000000000000000000000000";
	verify_opts_ok(signed_trail, &o, &rep, 0); /* the empty trail's head: everything follows */
	assert_int_equal(rep.head_line, 0);
	assert_int_equal(rep.after_head, 12);

	/* the last run and its seal removed: still a good signed trail, but not the one recorded */
	lines cut = read_lines(signed_trail);
	drop_last_run(&cut);
	write_lines(path, &cut);
	lines_free(&cut);
	o.head = NULL;
	o.min_runs = 0;
	verify_opts_ok(path, &o, &rep, 0);
	o.head = head;
	verify_opts_ok(path, &o, &rep, 1);
	assert_int_equal(rep.bad_line, 7);
	char want[480];
	snprintf(want, sizeof(want),
	         "head %s is not in the trail: it was truncated or rewritten (it now has 6 "
	         "records, head %s)",
	         head, first_run);
	assert_string_equal(rep.message, want);
	o.head = NULL;
	o.min_runs = 2;
	verify_opts_ok(path, &o, &rep, 1);
	assert_string_equal(rep.message, "1 run, but at least 2 expected: whole runs are missing "
	                                 "(the trail was truncated or rewritten)");
	o.min_runs = 1;
	verify_opts_ok(path, &o, &rep, 0);
	o.min_runs = 3;
	verify_opts_ok(signed_trail, &o, &rep, 1);

	/* rewritten: the same shape, another chain */
	o.pubkey_path = NULL;
	o.min_runs = 0;
	o.head = head;
	verify_opts_ok(forged_trail, &o, &rep, 1);
	assert_non_null(strstr(rep.message, "is not in the trail: it was truncated or rewritten"));

	/* a break in the chain is reported before the head is looked for */
	lines bad = read_lines(signed_trail);
	change_byte(&bad);
	write_lines(path, &bad);
	lines_free(&bad);
	verify_opts_ok(path, &o, &rep, 1);
	assert_int_equal(rep.bad_line, 3);

	/* a malformed head is an input error */
	for (int i = 0; i < 64; i++)
		upper[i] = (char)(head[i] >= 'a' ? head[i] - 'a' + 'A' : head[i]);
	upper[64] = '\0';
	const char *malformed[] = {"", "abc", upper,
	                           "e1cfd53a2b8abe548a55e5da2ff6c69ebd3af48812d3"
	                           "43132f47b0ef5cb3c835a"};
	for (size_t i = 0; i < sizeof(malformed) / sizeof(malformed[0]); i++) {
		o.head = malformed[i];
		assert_int_equal(mp_trail_verify_with(signed_trail, &o, &rep, err, sizeof(err)),
		                 -1);
		assert_non_null(strstr(err, "is not a SHA-256 in 64 lower-case hex digits"));
	}
	assert_true(mp_trail_is_hash(head));
	assert_false(mp_trail_is_hash(upper));
	unlink(path);
}

/* An empty file is a chain of no records: fine for the chain alone, not for a signed trail. */
static void test_empty_trail(void **state)
{
	(void)state;
	char path[192];
	mp_trail_report rep;
	mp_trail_verify_opts o = {0};
	tmp_path(path, sizeof(path), "empty.jsonl");
	write_file(path, "", 0);
	assert_int_equal(verify(path, NULL, &rep), 0);
	assert_string_equal(rep.last_hash,
	                    "0000000000000000000000000000000000000000000000000000000000000000");
	assert_int_equal(verify(path, pub1, &rep), 1);
	assert_int_equal(rep.bad_line, 1);
	assert_string_equal(rep.message,
	                    "the trail is empty, but a signed trail holds at least one "
	                    "seal (was it truncated?)");
	o.min_runs = 1;
	verify_opts_ok(path, &o, &rep, 1);
	o.min_runs = 0;
	o.head = "0000000000000000000000000000000000000000000000000000000000000000";
	verify_opts_ok(path, &o, &rep, 0); /* an empty trail is its own head */
	o.head = "e1cfd53a2b8abe548a55e5da2ff6c69ebd3af48812d343132f47b0ef5cb3c835";
	verify_opts_ok(path, &o, &rep, 1);
	unlink(path);
}

/* ---- what append refuses ---- */

static void test_bad_records(void **state)
{
	(void)state;
	char path[192], err[512];
	tmp_path(path, sizeof(path), "bad-records.jsonl");
	mp_trail *t = mp_trail_open(path, NULL, err, sizeof(err));
	assert_non_null(t);
	json_t *c = json_pack("{s:i}", "seq", 9);
	assert_int_equal(mp_trail_append(t, "finding", c, err, sizeof(err)), -1);
	assert_string_equal(err, "record content may not have a 'seq' key (the trail sets it)");
	json_decref(c);
	c = json_pack("[i]", 1);
	assert_int_equal(mp_trail_append(t, "finding", c, err, sizeof(err)), -1);
	assert_string_equal(err, "record content must be a JSON object");
	json_decref(c);
	assert_int_equal(mp_trail_append(t, "seal", NULL, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "mp_trail_seal writes seals"));
	assert_int_equal(mp_trail_append(t, "Bad Type", NULL, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "record type 'Bad Type' is not 1-64 of [a-z0-9_.-]"));
	assert_int_equal(mp_trail_append(t, "", NULL, err, sizeof(err)), -1);

	char *big = malloc(MP_TRAIL_MAX_LINE + 1);
	memset(big, 'x', MP_TRAIL_MAX_LINE);
	big[MP_TRAIL_MAX_LINE] = '\0';
	c = json_pack("{s:s}", "blob", big);
	assert_int_equal(mp_trail_append(t, "finding", c, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "over the 16777216-byte line limit"));
	json_decref(c);
	assert_int_equal(mp_trail_seq(t), 0);
	mp_trail_close(t);
	size_t len;
	free(read_file(path, &len));
	assert_int_equal(len, 0); /* nothing was written */

	/* and a line over the limit in a file is not a record */
	FILE *f = fopen(path, "wb");
	fputs(big, f);
	fputs("yy\n", f);
	fclose(f);
	free(big);
	mp_trail_report rep;
	assert_int_equal(verify(path, NULL, &rep), 1);
	assert_string_equal(rep.message, "line 1: longer than the 16777216-byte line limit (not a "
	                                 "record)");
	unlink(path);
}

/* Encoded on one thread, written on another: the same bytes as mp_trail_append. */
static void test_encoded_append(void **state)
{
	(void)state;
	char path[192], err[512];
	size_t len;
	mp_trail_report rep;
	tmp_path(path, sizeof(path), "encoded.jsonl");
	json_t *c = json_pack("{s:b, s:s, s:[i, i]}", "allow", 0, "decision_id", "0193", "z", 1, 2);
	char *text = mp_trail_content_encode(c, &len, err, sizeof(err));
	assert_non_null(text);
	assert_string_equal(text, "{\"allow\":false,\"decision_id\":\"0193\",\"z\":[1,2]}");
	assert_int_equal(len, strlen(text));
	mp_trail *t = mp_trail_open(path, NULL, err, sizeof(err));
	assert_non_null(t);
	assert_int_equal(mp_trail_append_encoded(t, "decision", text, len, err, sizeof(err)), 0);
	assert_int_equal(mp_trail_append_nosync(t, "decision", c, err, sizeof(err)), 0);
	assert_int_equal(mp_trail_append_encoded(t, "decision", "{}", 2, err, sizeof(err)), 0);
	assert_int_equal(mp_trail_append_encoded(t, "decision", "[1]", 3, err, sizeof(err)), -1);
	assert_int_equal(mp_trail_sync(t, err, sizeof(err)), 0);
	assert_int_equal(mp_trail_seq(t), 3);
	mp_trail_close(t);
	mp_free(text);
	json_decref(c);
	text = mp_trail_content_encode(NULL, &len, err, sizeof(err));
	assert_string_equal(text, "{}");
	mp_free(text);

	lines l = read_lines(path);
	assert_int_equal(l.n, 3);
	assert_string_equal(strstr(l.v[0], ",\"allow\""), strstr(l.v[1], ",\"allow\""));
	assert_string_equal(l.v[2] + strlen(l.v[2]) - 2, "\"}");
	lines_free(&l);
	assert_int_equal(verify(path, NULL, &rep), 0);
	assert_int_equal(rep.unsealed, 3);
	unlink(path);
}

/* The sink gets every record as written; a chain kept in memory only (path NULL, for an upload)
 * gives the same bytes a file would, which verify as a trail, seals signed. */
static void append_to(void *arg, const char *line, size_t len)
{
	FILE *f = arg;
	assert_true(len > 0 && line[len - 1] == '\n');
	assert_int_equal(fwrite(line, 1, len, f), len);
}

static void test_sink_and_memory(void **state)
{
	(void)state;
	char file[192], copy[192], mem[192], err[512];
	mp_trail_report rep;
	tmp_path(file, sizeof(file), "sink.jsonl");
	tmp_path(copy, sizeof(copy), "sink-copy.jsonl");
	tmp_path(mem, sizeof(mem), "memory.jsonl");
	FILE *fc = fopen(copy, "w"), *fm = fopen(mem, "w");
	mp_trail *t = mp_trail_open(file, key1, err, sizeof(err));
	mp_trail *m = mp_trail_open(NULL, key1, err, sizeof(err));
	assert_non_null(t);
	assert_non_null(m);
	mp_trail_set_sink(t, append_to, fc);
	mp_trail_set_sink(m, append_to, fm);
	json_t *c = json_pack("{s:s}", "what", "x");
	for (mp_trail **p = (mp_trail *[]){t, m, NULL}; *p; p++) {
		assert_int_equal(mp_trail_append(*p, "start", c, err, sizeof(err)), 0);
		assert_int_equal(mp_trail_append_nosync(*p, "decision", c, err, sizeof(err)), 0);
		assert_int_equal(mp_trail_sync(*p, err, sizeof(err)), 0);
		assert_int_equal(mp_trail_seal(*p, err, sizeof(err)), 0);
		assert_int_equal(mp_trail_seq(*p), 3);
	}
	json_decref(c);
	mp_trail_close(t);
	mp_trail_close(m);
	fclose(fc);
	fclose(fm);
	lines a = read_lines(file), b = read_lines(copy);
	assert_int_equal(a.n, b.n);
	for (size_t i = 0; i < a.n; i++)
		assert_string_equal(a.v[i], b.v[i]);
	lines_free(&a);
	lines_free(&b);
	assert_int_equal(verify(mem, pub1, &rep), 0);
	assert_int_equal(rep.records, 3);
	assert_int_equal(rep.verified_signatures, 1);
	unlink(file);
	unlink(copy);
	unlink(mem);
}

/* A write cut short (here by RLIMIT_FSIZE) is rolled back: the trail stays intact. */
static void test_failed_write_rolls_back(void **state)
{
	(void)state;
	char path[192], err[512];
	size_t before, after;
	struct rlimit old, lim;
	mp_trail_report rep;
	tmp_path(path, sizeof(path), "rollback.jsonl");
	write_run(path, NULL);
	free(read_file(path, &before));
	mp_trail *t = mp_trail_open(path, NULL, err, sizeof(err));
	assert_non_null(t);

	signal(SIGXFSZ, SIG_IGN);
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	lim = old;
	lim.rlim_cur = before + 40; /* room for a part of the record only */
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
	json_t *c = json_pack("{s:s}", "note", "a record longer than forty bytes, surely");
	int rc = mp_trail_append(t, "note", c, err, sizeof(err));
	setrlimit(RLIMIT_FSIZE, &old);
	signal(SIGXFSZ, SIG_DFL);

	assert_int_equal(rc, -1);
	assert_non_null(strstr(err, "write: File too large"));
	free(read_file(path, &after));
	assert_int_equal(before, after);
	assert_int_equal(mp_trail_seq(t), 6);
	assert_int_equal(mp_trail_append(t, "note", c, err, sizeof(err)), 0); /* and it goes on */
	assert_int_equal(mp_trail_seal(t, err, sizeof(err)), 0);
	json_decref(c);
	mp_trail_close(t);
	assert_int_equal(verify(path, NULL, &rep), 0);
	assert_int_equal(rep.records, 8);
	unlink(path);
}

/* Out of memory at every allocation: an error each time, and the trail always verifies. */
static void test_out_of_memory(void **state)
{
	(void)state;
	char path[192], err[512];
	mp_trail_report rep;
	int failures = 0;
	tmp_path(path, sizeof(path), "oom.jsonl");
	for (long n = 0;; n++) {
		/* a run cut short leaves records without their seal, which the next open refuses
		 * (test_refuse_unsealed_tail): each attempt starts from an empty trail */
		write_file(path, "", 0);
		err[0] = '\0';
		mp_alloc_fail_after(n);
		int ok = 0;
		mp_trail *t = mp_trail_open(path, key1, err, sizeof(err));
		if (t) {
			json_t *c = json_pack("{s:i}", "n", (int)n);
			ok = mp_trail_append(t, "start", c, err, sizeof(err)) == 0 &&
			     mp_trail_append_nosync(t, "finding", c, err, sizeof(err)) == 0 &&
			     mp_trail_seal(t, err, sizeof(err)) == 0;
			json_decref(c);
			mp_trail_close(t);
		}
		mp_alloc_fail_after(-1);
		assert_int_equal(verify(path, NULL, &rep), 0);
		if (ok) {
			assert_int_equal(verify(path, pub1, &rep), 0);
			break;
		}
		assert_true(err[0] != '\0');
		failures++;
		assert_true(n < 1000);
	}
	assert_true(failures >= 5);
	unlink(path);
}

/* ---- keys ---- */

static void test_keygen_refuses_overwrite(void **state)
{
	(void)state;
	char key[192], pub[192], err[512], out[16];
	size_t len;
	struct stat st;
	tmp_path(key, sizeof(key), "new.pem");
	tmp_path(pub, sizeof(pub), "new.pub.pem");
	write_file(key, "precious", 8);
	assert_int_equal(mp_trail_keygen(key, err, sizeof(err)), -1);
	assert_string_equal(strstr(err, "new.pem"),
	                    "new.pem: already exists; refusing to overwrite it");
	char *text = read_file(key, &len);
	assert_string_equal(text, "precious");
	free(text);
	assert_int_equal(stat(pub, &st), -1); /* no half pair */

	unlink(key);
	write_file(pub, "precious", 8);
	assert_int_equal(mp_trail_keygen(key, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "new.pub.pem: already exists"));
	assert_int_equal(stat(key, &st), -1); /* the private key made first was removed */
	text = read_file(pub, &len);
	assert_string_equal(text, "precious");
	free(text);
	unlink(pub);

	assert_int_equal(mp_trail_keygen(key, err, sizeof(err)), 0);
	assert_int_equal(stat(pub, &st), 0);
	unlink(key);
	unlink(pub);

	tmp_path(key, sizeof(key), "nodir/k.pem");
	assert_int_equal(mp_trail_keygen(key, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "k.pem: No such file or directory"));

	assert_int_equal(mp_trail_pubkey_path("a/k.pem", pub, sizeof(pub)), 0);
	assert_string_equal(pub, "a/k.pub.pem");
	assert_int_equal(mp_trail_pubkey_path("k", pub, sizeof(pub)), 0);
	assert_string_equal(pub, "k.pub.pem");
	assert_int_equal(mp_trail_pubkey_path("a-long-name.pem", out, sizeof(out)), -1);
}

static void write_pem_key(const char *path, EVP_PKEY *k, int private, int encrypted)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	if (encrypted)
		assert_int_equal(PEM_write_PKCS8PrivateKey(f, k, EVP_aes_128_cbc(), NULL, 0, NULL,
		                                           (void *)"secret"),
		                 1);
	else if (private)
		assert_int_equal(PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL), 1);
	else
		assert_int_equal(PEM_write_PUBKEY(f, k), 1);
	fclose(f);
}

static void test_bad_keys(void **state)
{
	(void)state;
	char path[192], junk[192], ec[192], ecpub[192], enc[192], err[512];
	mp_trail_report rep;
	tmp_path(path, sizeof(path), "keyed.jsonl");
	tmp_path(junk, sizeof(junk), "junk.pem");
	tmp_path(ec, sizeof(ec), "ec.pem");
	tmp_path(ecpub, sizeof(ecpub), "ec.pub.pem");
	tmp_path(enc, sizeof(enc), "enc.pem");
	write_file(junk, "-----BEGIN NOTHING-----\nxx\n", 27);
	EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	assert_non_null(k);
	write_pem_key(ec, k, 1, 0);
	write_pem_key(ecpub, k, 0, 0);
	EVP_PKEY_free(k);
	FILE *f = fopen(key1, "r");
	k = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	write_pem_key(enc, k, 1, 1);
	EVP_PKEY_free(k);

	const struct {
		const char *key;
		int private;
		const char *want;
	} bad[] = {
	    {junk, 1, "junk.pem: not a PEM private key ("},
	    {junk, 0, "junk.pem: not a PEM public key ("},
	    {pub1, 1, "k1.pub.pem: a public key; signing needs the private key"},
	    {key1, 0, "k1.pem: a private key; give the public key (KEY.pub.pem)"},
	    {ec, 1, "ec.pem: an EC key, not Ed25519 (make one with meshpol keygen)"},
	    {ecpub, 0, "ec.pub.pem: an EC key, not Ed25519"},
	    {enc, 1, "enc.pem: an encrypted private key; meshpol needs an unencrypted one"},
	    {"/nonexistent/k.pem", 1, "/nonexistent/k.pem: No such file or directory"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		if (bad[i].private) {
			assert_null(mp_trail_open(path, bad[i].key, err, sizeof(err)));
		} else {
			assert_int_equal(
			    mp_trail_verify(signed_trail, bad[i].key, &rep, err, sizeof(err)), -1);
		}
		if (!strstr(err, bad[i].want))
			fail_msg("key %s: error \"%s\" lacks \"%s\"", bad[i].key, err, bad[i].want);
	}
	struct stat st;
	assert_int_equal(stat(path, &st), -1); /* a bad key creates no trail */
	unlink(junk);
	unlink(ec);
	unlink(ecpub);
	unlink(enc);
}

static void test_verify_inputs(void **state)
{
	(void)state;
	char path[192], err[512];
	mp_trail_report rep;
	tmp_path(path, sizeof(path), "empty.jsonl");
	write_file(path, "", 0);
	assert_int_equal(verify(path, NULL, &rep), 0);
	assert_int_equal(rep.records, 0);
	assert_int_equal(mp_trail_verify("/nonexistent.jsonl", NULL, &rep, err, sizeof(err)), -1);
	assert_string_equal(err, "/nonexistent.jsonl: No such file or directory");
	assert_int_equal(mp_trail_verify(dir, NULL, &rep, err, sizeof(err)), -1);
	assert_non_null(strstr(err, ": is a directory"));
	mp_trail *t = mp_trail_open(dir, NULL, err, sizeof(err));
	assert_null(t);
	unlink(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_runs_continue),
	    cmocka_unit_test(test_prev_is_hash_of_line_before),
	    cmocka_unit_test(test_signed_trail_verifies),
	    cmocka_unit_test(test_tampering),
	    cmocka_unit_test(test_cut_names_the_torn_line),
	    cmocka_unit_test(test_refuse_broken_trail),
	    cmocka_unit_test(test_refuse_mismatched_keys),
	    cmocka_unit_test(test_second_writer_refused),
	    cmocka_unit_test(test_refuse_unsealed_tail),
	    cmocka_unit_test(test_adopt_unsealed),
	    cmocka_unit_test(test_verify_head_and_runs),
	    cmocka_unit_test(test_empty_trail),
	    cmocka_unit_test(test_bad_records),
	    cmocka_unit_test(test_encoded_append),
	    cmocka_unit_test(test_sink_and_memory),
	    cmocka_unit_test(test_failed_write_rolls_back),
	    cmocka_unit_test(test_out_of_memory),
	    cmocka_unit_test(test_keygen_refuses_overwrite),
	    cmocka_unit_test(test_bad_keys),
	    cmocka_unit_test(test_verify_inputs),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
