/* trail.c: the compliance trail: hash-chained JSON Lines records, Ed25519 seals, verification
 * and keys (see trail.h). Format, checks and threat model: docs/trail-format.md.
 * No hash, signature or JSON code of its own: OpenSSL EVP and jansson do that work. */
#include "trail.h"
#include "alloc.h"
#include "diag.h"
#include "files.h"
#include "jsonbuf.h"
#include "keys.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <limits.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define HASH_LEN    32
#define HEX_LEN     64
#define SIG_LEN     MP_KEY_SIG_LEN
#define SIG_B64_LEN MP_KEY_SIG_B64_LEN
#define SEAL_DOMAIN "meshpol-trail-seal-v1"

static const char zero_hex[HEX_LEN + 1] =
    "0000000000000000000000000000000000000000000000000000000000000000";

static void errf(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void errf(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

static int is_hex64(const char *s)
{
	if (!s || strlen(s) != HEX_LEN)
		return 0;
	for (const char *p = s; *p; p++)
		if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
			return 0;
	return 1;
}

int mp_trail_is_hash(const char *s)
{
	return is_hex64(s);
}

static void from_hex(const char *hex, unsigned char *out, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int hi = hex[2 * i], lo = hex[2 * i + 1];
		out[i] = (unsigned char)(((hi <= '9' ? hi - '0' : hi - 'a' + 10) << 4) |
		                         (lo <= '9' ? lo - '0' : lo - 'a' + 10));
	}
}

/* ---- SHA-256 of a line: one fetched digest and one reused context per user ---- */

typedef struct {
	EVP_MD *md;
	EVP_MD_CTX *ctx;
} hasher;

static int hasher_init(hasher *h)
{
	h->md = EVP_MD_fetch(NULL, "SHA2-256", NULL);
	h->ctx = EVP_MD_CTX_new();
	return h->md && h->ctx ? 0 : -1;
}

static void hasher_free(hasher *h)
{
	EVP_MD_CTX_free(h->ctx);
	EVP_MD_free(h->md);
	h->ctx = NULL;
	h->md = NULL;
}

static int hash_bytes(hasher *h, const void *p, size_t n, unsigned char out[HASH_LEN])
{
	return EVP_DigestInit_ex2(h->ctx, h->md, NULL) == 1 &&
	               EVP_DigestUpdate(h->ctx, p, n) == 1 &&
	               EVP_DigestFinal_ex(h->ctx, out, NULL) == 1
	           ? 0
	           : -1;
}

/* json_dump_callback's writer into an mp_jsonbuf. */
static int buf_add(const char *s, size_t n, void *data)
{
	mp_jsonbuf *b = data;
	mp_jsonbuf_raw(b, s, n);
	return b->oom ? -1 : 0;
}

/* ---- keys (keys.c) ---- */

int mp_trail_key_id(const char *pem_path, char out[65], char *err, size_t errlen)
{
	char ignored[8];
	EVP_PKEY *k = mp_key_load(pem_path, 0, ignored, sizeof(ignored));
	if (!k && !(k = mp_key_load(pem_path, 1, err, errlen)))
		return -1;
	int rc = mp_key_id(k, out);
	if (rc < 0)
		errf(err, errlen, "%s: cannot encode the public key", pem_path);
	EVP_PKEY_free(k);
	return rc;
}

/* The message a seal signs: it binds the seal's own seq, time and count to the chain head, and
 * names its purpose so a signature made for anything else never passes for a seal. A seal that
 * adopted records (adopted > 0) signs that too, so the mark cannot be stripped. */
static int seal_message(char *out, size_t len, uint64_t seq, const char *time, uint64_t records,
                        const char *head, uint64_t adopted)
{
	int n =
	    snprintf(out, len, SEAL_DOMAIN " seq=%" PRIu64 " time=%s records=%" PRIu64 " head=%s",
	             seq, time, records, head);
	if (n > 0 && (size_t)n < len && adopted)
		n += snprintf(out + n, len - (size_t)n, " adopted=%" PRIu64, adopted);
	return n > 0 && (size_t)n < len ? n : -1;
}

/* ---- time ---- */

/* RFC 3339, UTC, milliseconds: "2025-01-31T12:00:00.123Z". */
static void now_rfc3339(char out[32])
{
	/* the part to the second changes once a second: formatted once a second (per thread) */
	static _Thread_local time_t sec = (time_t)-1;
	static _Thread_local char text[24];
	static _Thread_local size_t len;
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	if (ts.tv_sec != sec) {
		struct tm tm;
		gmtime_r(&ts.tv_sec, &tm);
		len = strftime(text, sizeof(text), "%Y-%m-%dT%H:%M:%S", &tm);
		sec = ts.tv_sec;
	}
	int ms = (int)(ts.tv_nsec / 1000000);
	memcpy(out, text, len);
	out[len] = '.';
	out[len + 1] = (char)('0' + ms / 100);
	out[len + 2] = (char)('0' + ms / 10 % 10);
	out[len + 3] = (char)('0' + ms % 10);
	out[len + 4] = 'Z';
	out[len + 5] = '\0';
}

static int is_rfc3339_ms(const char *s)
{
	static const char shape[] = "dddd-dd-ddTdd:dd:dd.dddZ";
	if (!s || strlen(s) != sizeof(shape) - 1)
		return 0;
	for (size_t i = 0; shape[i]; i++)
		if (shape[i] == 'd' ? !(s[i] >= '0' && s[i] <= '9') : s[i] != shape[i])
			return 0;
	return 1;
}

/* ---- reading lines ---- */

typedef struct {
	int fd;
	char *buf;
	size_t cap, start, end;
	int eof;
	uint64_t line_no; /* of the line last returned */
	uint64_t offset;  /* bytes consumed: the offset just past the line last returned */
} reader;

/* Next line: 1 and *line, *len (without the newline), *nl (it had one); 0 at the end; -1 on a
 * read error (err); 2 for a line over MP_TRAIL_MAX_LINE. The line is valid until the next call. */
static int reader_next(reader *r, const char **line, size_t *len, int *nl, char *err, size_t errlen)
{
	size_t scan = r->start;
	for (;;) {
		char *p = r->end > scan ? memchr(r->buf + scan, '\n', r->end - scan) : NULL;
		if (p || r->eof) {
			size_t stop = p ? (size_t)(p - r->buf) : r->end;
			if (!p && r->start == r->end)
				return 0;
			*line = r->buf + r->start;
			*len = stop - r->start;
			*nl = p != NULL;
			r->offset += *len + (p != NULL);
			r->start = p ? stop + 1 : stop;
			r->line_no++;
			return 1;
		}
		if (r->end - r->start > MP_TRAIL_MAX_LINE) {
			r->line_no++;
			return 2;
		}
		if (r->start > 0) {
			memmove(r->buf, r->buf + r->start, r->end - r->start);
			r->end -= r->start;
			r->start = 0;
		}
		scan = r->end;
		if (r->end == r->cap) {
			size_t cap = r->cap ? r->cap * 2 : 64u << 10;
			if (cap > MP_TRAIL_MAX_LINE + 2)
				cap = MP_TRAIL_MAX_LINE + 2;
			char *nb = mp_realloc(r->buf, cap);
			if (!nb) {
				errf(err, errlen, "out of memory");
				return -1;
			}
			r->buf = nb;
			r->cap = cap;
		}
		ssize_t n = read(r->fd, r->buf + r->end, r->cap - r->end);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			errf(err, errlen, "read: %s", strerror(errno));
			return -1;
		}
		if (n == 0)
			r->eof = 1;
		r->end += (size_t)n;
	}
}

/* ---- the chain check, shared by mp_trail_verify and mp_trail_open ---- */

typedef struct {
	reader rd;
	hasher h;
	EVP_PKEY *key;   /* borrowed; NULL: signatures not checked */
	char key_id[65]; /* of key */
	int for_open;    /* the writer is opening the trail: word refusals for it */
	mp_trail_report *rep;
	unsigned char last_hash[HASH_LEN];
	uint64_t last_seq;
	int last_is_seal;
	uint64_t since_seal;     /* records after the last seal, seals not counted */
	uint64_t last_seal_line; /* 0 before the first seal */
	int want_head;           /* look for a record whose hash is head */
	unsigned char head[HASH_LEN];
	uint64_t run_decisions; /* "decision" records since the last "start" */
	int run_drop;           /* that start record says "mode": "drop" (a decision log's) */
} scan;

static void bad(scan *s, uint64_t line, uint64_t seq, int is_seal, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static void bad(scan *s, uint64_t line, uint64_t seq, int is_seal, const char *fmt, ...)
{
	mp_trail_report *r = s->rep;
	va_list ap;
	r->bad_line = line;
	r->bad_seq = seq;
	va_start(ap, fmt);
	vsnprintf(r->reason, sizeof(r->reason), fmt, ap);
	va_end(ap);
	char where[48];
	if (seq)
		snprintf(where, sizeof(where), " (seq %" PRIu64 "%s)", seq,
		         is_seal ? ", seal" : "");
	else
		where[0] = '\0';
	snprintf(r->message, sizeof(r->message), "line %" PRIu64 "%s: %s", line, where, r->reason);
}

/* The "prev" of the next line, copied into out; 0 when there is no readable next record. */
static int next_prev(scan *s, char out[HEX_LEN + 1])
{
	const char *line;
	size_t len;
	int nl, found = 0;
	char ignored[8];
	if (reader_next(&s->rd, &line, &len, &nl, ignored, sizeof(ignored)) != 1 || !nl)
		return 0;
	json_t *j = json_loadb(line, len, JSON_REJECT_DUPLICATES, NULL);
	const char *prev = json_string_value(json_object_get(j, "prev"));
	if (is_hex64(prev)) {
		memcpy(out, prev, HEX_LEN + 1);
		found = 1;
	}
	json_decref(j);
	return found;
}

/* The line number of the first later record whose seq is want; 0 if none. Reads to the end. */
static uint64_t find_seq_ahead(scan *s, uint64_t want)
{
	const char *line;
	size_t len;
	int nl;
	char ignored[8];
	while (reader_next(&s->rd, &line, &len, &nl, ignored, sizeof(ignored)) == 1) {
		json_t *j = json_loadb(line, len, JSON_REJECT_DUPLICATES, NULL);
		json_t *seq = json_object_get(j, "seq");
		int hit = json_is_integer(seq) && (uint64_t)json_integer_value(seq) == want;
		json_decref(j);
		if (hit)
			return s->rd.line_no;
	}
	return 0;
}

/* A count field of a decision log's gap or end record: 0 when absent (an audit's end record
 * has none), -1 when present but not a count. */
static int64_t count_field(json_t *j, const char *name)
{
	json_t *v = json_object_get(j, name);
	if (!v)
		return 0;
	return json_is_integer(v) && json_integer_value(v) >= 0 ? json_integer_value(v) : -1;
}

/* What a decision log's "gap" and "end" records say is missing (docs/trail-format.md, "Decision
 * logs"), and whether an end record's count of decision records is the run's: a run that says
 * it wrote more or fewer than it holds was cut or padded, whatever its chain says. Returns -1
 * after bad(). */
static int account_run(scan *s, json_t *j, uint64_t ln, uint64_t seq, const char *type)
{
	mp_trail_report *r = s->rep;
	int64_t failed = count_field(j, "failed"), refused = count_field(j, "refused"),
	        dropped = count_field(j, "dropped");
	if (failed < 0 || refused < 0 || dropped < 0) {
		bad(s, ln, seq, 0, "%s record: failed, refused and dropped must be counts", type);
		return -1;
	}
	if (!strcmp(type, "gap")) {
		if (!r->gaps++)
			r->first_gap_line = ln;
		return 0;
	}
	json_t *jrecords = json_object_get(j, "decision_records");
	if (!jrecords)
		return 0; /* not a decision log's run */
	if (!json_is_integer(jrecords) || json_integer_value(jrecords) < 0) {
		bad(s, ln, seq, 0, "end record: decision_records must be a count");
		return -1;
	}
	if ((uint64_t)json_integer_value(jrecords) != s->run_decisions) {
		bad(s, ln, seq, 0,
		    "end record says the run wrote %" PRIu64 " decision records, but the run holds "
		    "%" PRIu64,
		    (uint64_t)json_integer_value(jrecords), s->run_decisions);
		return -1;
	}
	/* No-drop mode answers a decision only once its record is written: what failed or was
	 * refused was answered closed. Drop mode answers first: all of it was answered. */
	uint64_t lost = (uint64_t)failed + (uint64_t)refused;
	r->logged_runs++;
	r->unlogged += s->run_drop ? 0 : lost;
	r->dropped += (uint64_t)dropped + (s->run_drop ? lost : 0);
	if ((failed || refused || dropped) && !r->first_short_end_line)
		r->first_short_end_line = ln;
	return 0;
}

/* The checks of a seal record at line ln whose prev already matched the chain. *adopted: the
 * seal's "adopted" count, 0 when it has none. */
static void check_seal(scan *s, json_t *j, uint64_t ln, uint64_t seq, const char *time,
                       const char *prev, uint64_t *adopted)
{
	mp_trail_report *r = s->rep;
	char q[64];
	const char *head = json_string_value(json_object_get(j, "head"));
	json_t *records = json_object_get(j, "records");
	json_t *jadopted = json_object_get(j, "adopted");
	const char *alg = json_string_value(json_object_get(j, "alg"));
	*adopted = 0;
	if (!head || strcmp(head, prev) != 0) {
		bad(s, ln, seq, 1,
		    "head does not match the chain (the previous record's hash is %.16s...)", prev);
		return;
	}
	if (!json_is_integer(records) || json_integer_value(records) < 0 ||
	    (uint64_t)json_integer_value(records) != s->since_seal) {
		bad(s, ln, seq, 1, "records is %s, but %" PRIu64 " records were written since %s",
		    json_is_integer(records) ? "wrong" : "missing", s->since_seal,
		    r->seals ? "the previous seal" : "the start of the file");
		return;
	}
	if (jadopted && (!json_is_integer(jadopted) || json_integer_value(jadopted) < 1 ||
	                 (uint64_t)json_integer_value(jadopted) > s->since_seal)) {
		bad(s, ln, seq, 1, "adopted is not a count from 1 to records (%" PRIu64 ")",
		    s->since_seal);
		return;
	}
	if (jadopted)
		*adopted = (uint64_t)json_integer_value(jadopted);
	if (!alg) {
		bad(s, ln, seq, 1, "no alg");
		return;
	}
	if (!strcmp(alg, "none")) {
		if (s->key && s->for_open)
			bad(s, ln, seq, 1,
			    "unsigned seal, but the trail is being continued with a signing key "
			    "(start a new trail file)");
		else if (s->key)
			bad(s, ln, seq, 1, "unsigned seal while a public key was given");
		return;
	}
	if (strcmp(alg, "ed25519") != 0) {
		bad(s, ln, seq, 1, "unknown alg '%s'",
		    mp_diag_quote(alg, strlen(alg), q, sizeof(q)));
		return;
	}
	const char *sig64 = json_string_value(json_object_get(j, "signature"));
	const char *key_id = json_string_value(json_object_get(j, "key_id"));
	unsigned char sig[SIG_LEN];
	char msg[256];
	if (!is_hex64(key_id)) {
		bad(s, ln, seq, 1, "key_id is missing or not a 64-digit hex SHA-256");
		return;
	}
	if (mp_key_sig_decode(sig64, sig) < 0) {
		bad(s, ln, seq, 1, "signature is missing or not the base64 of 64 bytes");
		return;
	}
	r->signed_seals++;
	if (!r->key_id[0])
		memcpy(r->key_id, key_id, HEX_LEN + 1);
	if (!s->key) {
		if (s->for_open)
			bad(s, ln, seq, 1,
			    "sealed with a key (key_id %.16s...); "
			    "give that signing key to continue this trail",
			    key_id);
		return;
	}
	int n = seal_message(msg, sizeof(msg), seq, time, s->since_seal, head, *adopted);
	if (n < 0 || !mp_key_verify(s->key, msg, (size_t)n, sig)) {
		int other = strcmp(key_id, s->key_id) != 0;
		if (s->for_open)
			bad(s, ln, seq, 1,
			    "sealed by another key (key_id %.16s..., the signing key's is %.16s...)"
			    "; use that key or start a new trail file",
			    key_id, s->key_id);
		else if (other)
			bad(s, ln, seq, 1,
			    "signature does not verify with the given public key "
			    "(the seal names key_id %.16s..., the given key is %.16s...)",
			    key_id, s->key_id);
		else
			bad(s, ln, seq, 1, "signature does not verify with the given public key");
		return;
	}
	r->verified_signatures++;
}

/* Checks one line against the chain so far: 0 good (the chain advances), 1 bad (s->rep says
 * why), -1 error. */
static int check_line(scan *s, const char *line, size_t len, int nl, char *err, size_t errlen)
{
	mp_trail_report *r = s->rep;
	uint64_t ln = s->rd.line_no, seq = 0, expected = s->last_seq + 1;
	unsigned char hash[HASH_LEN];
	char last_hex[HEX_LEN + 1], next_hex[HEX_LEN + 1];
	json_error_t e;
	json_t *j = NULL;
	int rc = 1;
	if (!nl) {
		bad(s, ln, 0, 0,
		    "no newline at the end: the record is torn (the file was cut mid-line, or a "
		    "write was interrupted)");
		goto out;
	}
	if (len == 0) {
		bad(s, ln, 0, 0, "empty line (not a record)");
		goto out;
	}
	if (line[len - 1] == '\r') {
		bad(s, ln, 0, 0, "ends in a carriage return (were line endings converted?)");
		goto out;
	}
	if (!(j = json_loadb(line, len, JSON_REJECT_DUPLICATES, &e))) {
		bad(s, ln, 0, 0, "not valid JSON (column %d: %s)", e.column, e.text);
		goto out;
	}
	if (!json_is_object(j)) {
		bad(s, ln, 0, 0, "not a JSON object");
		goto out;
	}
	json_t *jseq = json_object_get(j, "seq");
	if (!json_is_integer(jseq) || json_integer_value(jseq) < 1) {
		bad(s, ln, 0, 0, "seq is missing or not a positive integer");
		goto out;
	}
	seq = (uint64_t)json_integer_value(jseq);
	const char *type = json_string_value(json_object_get(j, "type"));
	const char *time = json_string_value(json_object_get(j, "time"));
	const char *prev = json_string_value(json_object_get(j, "prev"));
	int is_seal = type && !strcmp(type, "seal");
	if (!type || !*type) {
		bad(s, ln, seq, 0, "type is missing or empty");
		goto out;
	}
	if (!is_rfc3339_ms(time)) {
		bad(s, ln, seq, is_seal, "time is missing or not RFC 3339 UTC with milliseconds");
		goto out;
	}
	if (!is_hex64(prev)) {
		bad(s, ln, seq, is_seal, "prev is missing or not a 64-digit hex SHA-256");
		goto out;
	}
	if (seq < expected) {
		bad(s, ln, seq, is_seal,
		    "seq goes backwards: %" PRIu64 " expected, found %" PRIu64
		    " (records reordered, or an earlier record copied in)",
		    expected, seq);
		goto out;
	}
	if (seq > expected) {
		uint64_t at = find_seq_ahead(s, expected);
		if (at)
			bad(s, ln, seq, is_seal,
			    "seq %" PRIu64 " expected, found %" PRIu64
			    " (records reordered: seq %" PRIu64 " is at line %" PRIu64 ")",
			    expected, seq, expected, at);
		else if (seq - expected == 1)
			bad(s, ln, seq, is_seal,
			    "seq %" PRIu64 " expected, found %" PRIu64 " (a record was removed)",
			    expected, seq);
		else
			bad(s, ln, seq, is_seal,
			    "seq %" PRIu64 " expected, found %" PRIu64 " (%" PRIu64
			    " records were removed)",
			    expected, seq, seq - expected);
		goto out;
	}
	if (hash_bytes(&s->h, line, len, hash) < 0) {
		errf(err, errlen, "SHA-256 failed");
		rc = -1;
		goto out;
	}
	if (s->last_seq == 0)
		memcpy(last_hex, zero_hex, sizeof(last_hex));
	else
		mp_key_hex(s->last_hash, HASH_LEN, last_hex);
	if (strcmp(prev, last_hex) != 0) {
		char hex[HEX_LEN + 1];
		mp_key_hex(hash, HASH_LEN, hex);
		if (ln == 1)
			bad(s, ln, seq, is_seal,
			    "prev is not 64 zeros, as the first record's must be");
		else if (!next_prev(s, next_hex))
			bad(s, ln, seq, is_seal,
			    "prev does not match the hash of line %" PRIu64
			    " (altered or removed record before it)",
			    ln - 1);
		else if (!strcmp(next_hex, hex))
			bad(s, ln - 1, s->last_seq, s->last_is_seal,
			    "record altered (its hash no longer matches the next record's prev)");
		else
			bad(s, ln, seq, is_seal,
			    "record altered: prev does not match the hash of line %" PRIu64
			    ", nor does its hash match line %" PRIu64 "'s prev",
			    ln - 1, ln + 1);
		goto out;
	}
	if (is_seal) {
		uint64_t adopted;
		check_seal(s, j, ln, seq, time, prev, &adopted);
		if (r->bad_line)
			goto out;
		if (adopted && !r->adopting_seals++)
			r->first_adopting_line = ln;
		r->adopted += adopted;
		r->seals++;
		r->first_unsealed_line = 0;
		s->since_seal = 0;
		s->last_seal_line = ln;
	} else {
		if (!s->since_seal++)
			r->first_unsealed_line = ln;
	}
	if (!strcmp(type, "start")) {
		r->runs++;
		s->run_decisions = 0;
		const char *mode = json_string_value(json_object_get(j, "mode"));
		s->run_drop = mode && !strcmp(mode, "drop");
	} else if (!strcmp(type, "decision")) {
		s->run_decisions++;
	} else if (!strcmp(type, "gap") || !strcmp(type, "end")) {
		if (account_run(s, j, ln, seq, type) < 0)
			goto out;
	}
	r->records++;
	if (s->want_head && !r->head_found && !memcmp(hash, s->head, HASH_LEN)) {
		r->head_found = 1;
		r->head_line = ln;
	}
	memcpy(s->last_hash, hash, HASH_LEN);
	s->last_seq = seq;
	s->last_is_seal = is_seal;
	rc = 0;
out:
	json_decref(j);
	return rc;
}

/* Reads fd from its current offset to the end: 0 intact, 1 tampered, -1 error (err). */
static int scan_run(scan *s, char *err, size_t errlen)
{
	const char *line;
	size_t len;
	int nl, rc;
	while ((rc = reader_next(&s->rd, &line, &len, &nl, err, errlen)) == 1)
		if ((rc = check_line(s, line, len, nl, err, errlen)) != 0)
			return rc;
	if (rc == 2) {
		bad(s, s->rd.line_no, 0, 0, "longer than the %u-byte line limit (not a record)",
		    MP_TRAIL_MAX_LINE);
		return 1;
	}
	if (rc < 0)
		return -1;
	s->rep->unsealed = s->since_seal;
	if (s->last_seq == 0)
		memcpy(s->rep->last_hash, zero_hex, HEX_LEN + 1);
	else
		mp_key_hex(s->last_hash, HASH_LEN, s->rep->last_hash);
	if (s->rep->head_found)
		s->rep->after_head = s->rep->records - s->rep->head_line;
	return 0;
}

/* A failure of the trail as a whole, not of one line: reported just past the last record. */
static void bad_whole(scan *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void bad_whole(scan *s, const char *fmt, ...)
{
	mp_trail_report *r = s->rep;
	va_list ap;
	r->bad_line = r->records + 1;
	r->bad_seq = 0;
	va_start(ap, fmt);
	vsnprintf(r->reason, sizeof(r->reason), fmt, ap);
	va_end(ap);
	snprintf(r->message, sizeof(r->message), "%s", r->reason);
}

/* The checks of a whole trail whose every line passed: with a key it must end in a seal, and it
 * must hold the recorded head and runs. 0 intact, 1 not (s->rep says why). */
static int check_whole(scan *s, const mp_trail_verify_opts *o)
{
	mp_trail_report *r = s->rep;
	if (s->key && r->records == 0) {
		bad_whole(s, "the trail is empty, but a signed trail holds at least one seal "
		             "(was it truncated?)");
		return 1;
	}
	if (s->key && r->unsealed) {
		if (r->seals)
			bad(s, r->first_unsealed_line, r->first_unsealed_line, 0,
			    "not sealed: %" PRIu64 " record%s after the last seal (line %" PRIu64
			    ") %s covered by no signature (added by hand, or a run that did not "
			    "seal)",
			    r->unsealed, r->unsealed == 1 ? "" : "s", s->last_seal_line,
			    r->unsealed == 1 ? "is" : "are");
		else
			bad(s, r->first_unsealed_line, r->first_unsealed_line, 0,
			    "not sealed: %" PRIu64
			    " record%s and no seal, but a signed trail ends in a "
			    "signed seal (written by hand, or a run that did not seal)",
			    r->unsealed, r->unsealed == 1 ? "" : "s");
		return 1;
	}
	if (o->head && !r->head_found) {
		bad_whole(s,
		          "head %s is not in the trail: it was truncated or rewritten (it now has "
		          "%" PRIu64 " record%s, head %s)",
		          o->head, r->records, r->records == 1 ? "" : "s", r->last_hash);
		return 1;
	}
	if (o->min_runs && r->runs < o->min_runs) {
		bad_whole(
		    s,
		    "%" PRIu64 " run%s, but at least %" PRIu64
		    " expected: whole runs are missing (the trail was truncated or rewritten)",
		    r->runs, r->runs == 1 ? "" : "s", o->min_runs);
		return 1;
	}
	return 0;
}

static int scan_init(scan *s, int fd, EVP_PKEY *key, int for_open, mp_trail_report *rep)
{
	memset(s, 0, sizeof(*s));
	memset(rep, 0, sizeof(*rep));
	s->rd.fd = fd;
	s->key = key;
	s->for_open = for_open;
	s->rep = rep;
	if (key && mp_key_id(key, s->key_id) < 0)
		return -1;
	return hasher_init(&s->h);
}

static void scan_free(scan *s)
{
	hasher_free(&s->h);
	mp_free(s->rd.buf);
	s->rd.buf = NULL;
}

int mp_trail_verify(const char *path, const char *pubkey_path, mp_trail_report *rep, char *err,
                    size_t errlen)
{
	mp_trail_verify_opts o = {.pubkey_path = pubkey_path};
	return mp_trail_verify_with(path, &o, rep, err, errlen);
}

int mp_trail_verify_with(const char *path, const mp_trail_verify_opts *o, mp_trail_report *rep,
                         char *err, size_t errlen)
{
	EVP_PKEY *key = NULL;
	scan s = {0};
	struct stat st;
	char why[256], q[96];
	int rc = -1, fd = -1;
	memset(rep, 0, sizeof(*rep));
	if (o->head && !is_hex64(o->head)) {
		errf(err, errlen, "head '%s' is not a SHA-256 in 64 lower-case hex digits",
		     mp_diag_quote(o->head, strlen(o->head), q, sizeof(q)));
		goto out;
	}
	if (o->pubkey_path && !(key = mp_key_load(o->pubkey_path, 0, err, errlen)))
		goto out;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0 || fstat(fd, &st) < 0) {
		errf(err, errlen, "%s: %s", path, strerror(errno));
		goto out;
	}
	if (S_ISDIR(st.st_mode)) {
		errf(err, errlen, "%s: is a directory", path);
		goto out;
	}
	if (scan_init(&s, fd, key, 0, rep) < 0) {
		errf(err, errlen, "%s: %s", path, mp_key_ssl_reason(why, sizeof(why)));
		goto out;
	}
	if (o->head) {
		s.want_head = 1;
		from_hex(o->head, s.head, HASH_LEN);
		/* 64 zeros: the head of an empty trail, which every trail extends */
		rep->head_found = !strcmp(o->head, zero_hex);
	}
	rc = scan_run(&s, why, sizeof(why));
	if (rc < 0)
		errf(err, errlen, "%s: %s", path, why);
	if (rc == 0)
		rc = check_whole(&s, o);
out:
	scan_free(&s);
	if (fd >= 0)
		close(fd);
	EVP_PKEY_free(key);
	return rc;
}

/* ---- the writer ---- */

struct mp_trail {
	int fd;
	char *path;
	EVP_PKEY *key; /* NULL: unsigned seals */
	char key_id[HEX_LEN + 1];
	hasher h;
	unsigned char head[HASH_LEN]; /* hash of the last record; all zero bytes before the first */
	uint64_t seq;                 /* of the last record; 0 for an empty trail */
	uint64_t since_seal;          /* records after the last seal, seals not counted */
	uint64_t adopted;             /* of those, found at open (MP_TRAIL_ADOPT_UNSEALED) */
	uint64_t size;                /* the file's length after the last complete record */
	int broken;                   /* a failed write could not be undone: no more writes */
	int dir_unsynced;             /* created by open: fsync the directory once */
	mp_jsonbuf line, content;     /* reused for every record (heap) */
	mp_trail_sink sink;           /* told every record written; NULL: none */
	void *sink_arg;
	/* mp_trail_hold: records framed and chained but not yet written (one write(2) for the
	 * lot in mp_trail_flush), and the chain as it was before them, to roll back to */
	int held;
	mp_jsonbuf pending;
	unsigned char held_head[HASH_LEN];
	uint64_t held_seq, held_since_seal;
};

mp_trail *mp_trail_open(const char *path, const char *sign_key_path, char *err, size_t errlen)
{
	return mp_trail_open_flags(path, sign_key_path, 0, err, errlen);
}

mp_trail *mp_trail_open_flags(const char *path, const char *sign_key_path, unsigned flags,
                              char *err, size_t errlen)
{
	mp_trail *t = mp_calloc(1, sizeof(*t));
	mp_trail_report rep;
	scan s = {0};
	struct stat st;
	char why[256];
	int rc;
	if (!t) {
		errf(err, errlen, "%s: out of memory", path ? path : "decision log");
		goto fail;
	}
	t->fd = -1;
	if (sign_key_path && !(t->key = mp_key_load(sign_key_path, 1, err, errlen)))
		goto fail;
	if ((t->key && mp_key_id(t->key, t->key_id) < 0) || hasher_init(&t->h) < 0) {
		errf(err, errlen, "%s: %s", path ? path : "decision log",
		     mp_key_ssl_reason(why, sizeof(why)));
		goto fail;
	}
	if (!(t->path = mp_strdup(path ? path : "decision log (memory)"))) {
		errf(err, errlen, "%s: out of memory", path ? path : "decision log");
		goto fail;
	}
	if (!path) /* a chain kept in memory only: its records go to the sink */
		return t;
	t->fd = open(path, O_RDWR | O_APPEND | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
	if (t->fd >= 0)
		t->dir_unsynced = 1;
	else if (errno == EEXIST)
		t->fd = open(path, O_RDWR | O_APPEND | O_CLOEXEC);
	if (t->fd < 0 || fstat(t->fd, &st) < 0) {
		errf(err, errlen, "%s: %s", path, strerror(errno));
		goto fail;
	}
	if (!S_ISREG(st.st_mode)) {
		errf(err, errlen, "%s: not a regular file", path);
		goto fail;
	}
	if (flock(t->fd, LOCK_EX | LOCK_NB) < 0) {
		errf(err, errlen, "%s: %s", path,
		     errno == EWOULDBLOCK ? "another process is appending to this trail"
		                          : strerror(errno));
		goto fail;
	}
	if (scan_init(&s, t->fd, t->key, 1, &rep) < 0) {
		errf(err, errlen, "%s: %s", path, mp_key_ssl_reason(why, sizeof(why)));
		goto fail;
	}
	rc = scan_run(&s, why, sizeof(why));
	if (rc < 0) {
		errf(err, errlen, "%s: %s", path, why);
		goto fail;
	}
	if (rc > 0) {
		errf(err, errlen, "%s: refusing to append to a broken trail: %s", path,
		     rep.message);
		goto fail;
	}
	/* Anyone can chain records; only a seal says who vouches for them. */
	if (rep.unsealed && !(flags & MP_TRAIL_ADOPT_UNSEALED)) {
		char after[64];
		if (rep.seals)
			snprintf(after, sizeof(after), "after the last seal (line %" PRIu64 ")",
			         s.last_seal_line);
		else
			snprintf(after, sizeof(after), "and no seal");
		errf(err, errlen,
		     "%s: refusing to extend a trail whose tail is not sealed: %" PRIu64
		     " record%s %s, from line %" PRIu64 " (seq %" PRIu64
		     "); a new seal would vouch for records this writer did not write (inspect "
		     "them, "
		     "then seal them on purpose with meshpol trail adopt, or start a new trail "
		     "file)",
		     path, rep.unsealed, rep.unsealed == 1 ? "" : "s", after,
		     rep.first_unsealed_line, rep.first_unsealed_line);
		goto fail;
	}
	t->seq = s.last_seq;
	memcpy(t->head, s.last_hash, HASH_LEN);
	t->since_seal = s.since_seal;
	t->adopted = s.since_seal;
	t->size = s.rd.offset;
	scan_free(&s);
	return t;
fail:
	scan_free(&s);
	mp_trail_close(t);
	return NULL;
}

void mp_trail_close(mp_trail *t)
{
	if (!t)
		return;
	if (t->fd >= 0)
		close(t->fd); /* releases the flock */
	EVP_PKEY_free(t->key);
	hasher_free(&t->h);
	mp_jsonbuf_free(&t->line);
	mp_jsonbuf_free(&t->content);
	mp_jsonbuf_free(&t->pending);
	mp_free(t->path);
	mp_free(t);
}

int mp_trail_fd(const mp_trail *t)
{
	return t->fd;
}

void mp_trail_set_sink(mp_trail *t, mp_trail_sink sink, void *arg)
{
	t->sink = sink;
	t->sink_arg = arg;
}

uint64_t mp_trail_seq(const mp_trail *t)
{
	return t->seq;
}

uint64_t mp_trail_unsealed(const mp_trail *t)
{
	return t->since_seal;
}

void mp_trail_head(const mp_trail *t, char out[65])
{
	if (t->seq == 0)
		memcpy(out, zero_hex, HEX_LEN + 1);
	else
		mp_key_hex(t->head, HASH_LEN, out);
}

static int valid_type(const char *type)
{
	size_t n = type ? strlen(type) : 0;
	if (n < 1 || n > 64)
		return 0;
	for (const char *p = type; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || strchr("_.-", *p)))
			return 0;
	return 1;
}

/* Encodes content (an object, or NULL for {}) into b, replacing what b held. */
static int encode_content(json_t *content, mp_jsonbuf *b, char *err, size_t errlen)
{
	static const char *const reserved[] = {"seq", "time", "type", "prev"};
	b->len = 0;
	b->oom = 0;
	if (!content && buf_add("{}", 2, b) < 0) {
		errf(err, errlen, "out of memory");
		return -1;
	}
	if (!content)
		return 0;
	if (!json_is_object(content)) {
		errf(err, errlen, "record content must be a JSON object");
		return -1;
	}
	for (size_t i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++) {
		if (json_object_get(content, reserved[i])) {
			errf(err, errlen,
			     "record content may not have a '%s' key (the trail sets it)",
			     reserved[i]);
			return -1;
		}
	}
	if (json_dump_callback(content, buf_add, b,
	                       JSON_COMPACT | JSON_SORT_KEYS | JSON_ENSURE_ASCII) != 0) {
		errf(err, errlen, "cannot encode record content (out of memory?)");
		return -1;
	}
	return 0;
}

char *mp_trail_content_encode(json_t *content, size_t *len, char *err, size_t errlen)
{
	mp_jsonbuf b;
	mp_jsonbuf_init(&b, NULL, 0);
	if (encode_content(content, &b, err, errlen) < 0)
		goto fail;
	if (buf_add("", 1, &b) < 0) {
		errf(err, errlen, "out of memory");
		goto fail;
	}
	*len = b.len - 1;
	return b.p; /* heap: appended to */
fail:
	mp_jsonbuf_free(&b);
	return NULL;
}

/* Writes all of p with as few write(2) calls as the kernel allows (one, normally). On failure
 * the file is cut back to t->size so that no torn record stays behind. */
static int write_line(mp_trail *t, const char *p, size_t n, char *err, size_t errlen)
{
	size_t off = 0;
	while (t->fd >= 0 && off < n) {
		ssize_t w = write(t->fd, p + off, n - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			if (w == 0)
				errno = EIO;
			goto fail;
		}
		off += (size_t)w;
	}
	t->size += n;
	return 0;
fail:;
	int saved = errno;
	if (off > 0 && ftruncate(t->fd, (off_t)t->size) != 0)
		t->broken = 1;
	errf(err, errlen, "%s: write: %s%s", t->path, strerror(saved),
	     t->broken ? "; the trail now ends in a torn record" : "");
	return -1;
}

/* Frames content ("{...}", compact) as the next record and writes it. */
static int write_record(mp_trail *t, const char *type, const char *time, const char *content,
                        size_t clen, char *err, size_t errlen)
{
	char head[256], prev[HEX_LEN + 1];
	unsigned char hash[HASH_LEN];
	mp_jsonbuf *b = &t->line, hb;
	if (t->broken) {
		errf(err, errlen, "%s: an earlier write failed and could not be undone", t->path);
		goto fail;
	}
	if (clen < 2 || content[0] != '{' || content[clen - 1] != '}' ||
	    memchr(content, '\n', clen)) {
		errf(err, errlen, "record content is not one compact JSON object");
		goto fail;
	}
	/* the head, by hand: {"seq":N,"time":"...","type":"...","prev":"<hex>" */
	mp_trail_head(t, prev);
	mp_jsonbuf_init(&hb, head, sizeof(head));
	MP_JSONBUF_LIT(&hb, "{\"seq\":");
	mp_jsonbuf_uint(&hb, t->seq + 1);
	MP_JSONBUF_LIT(&hb, ",\"time\":\"");
	mp_jsonbuf_raw(&hb, time, strlen(time));
	MP_JSONBUF_LIT(&hb, "\",\"type\":\"");
	mp_jsonbuf_raw(&hb, type, strlen(type)); /* valid_type: nothing to escape */
	MP_JSONBUF_LIT(&hb, "\",\"prev\":\"");
	mp_jsonbuf_raw(&hb, prev, HEX_LEN);
	MP_JSONBUF_LIT(&hb, "\"");
	size_t hlen = hb.len, n = hlen + (clen == 2 ? 1 : clen);
	if (n > MP_TRAIL_MAX_LINE) {
		errf(err, errlen, "%s: a %zu-byte record is over the %u-byte line limit", t->path,
		     n, MP_TRAIL_MAX_LINE);
		goto fail;
	}
	b->len = 0;
	b->oom = 0;
	if (n + 1 > b->cap && mp_jsonbuf_grow(b, n + 1) < 0) {
		errf(err, errlen, "%s: out of memory", t->path);
		goto fail;
	}
	buf_add(head, hlen, b);
	if (clen == 2) {
		buf_add("}", 1, b);
	} else {
		buf_add(",", 1, b);
		buf_add(content + 1, clen - 1, b);
	}
	if (hash_bytes(&t->h, b->p, b->len, hash) < 0) {
		errf(err, errlen, "%s: SHA-256 failed", t->path);
		goto fail;
	}
	buf_add("\n", 1, b);
	if (b->oom) {
		errf(err, errlen, "%s: out of memory", t->path);
		goto fail;
	}
	if (t->held) { /* written by mp_trail_flush, with the records held beside it */
		mp_jsonbuf_raw(&t->pending, b->p, b->len);
		if (t->pending.oom) {
			t->pending.oom = 0;
			errf(err, errlen, "%s: out of memory", t->path);
			goto fail;
		}
	} else if (write_line(t, b->p, b->len, err, errlen) < 0) {
		goto fail;
	}
	t->seq++;
	memcpy(t->head, hash, HASH_LEN);
	if (t->sink && !t->held)
		t->sink(t->sink_arg, b->p, b->len);
	return 0;
fail:
	return -1;
}

int mp_trail_append_encoded(mp_trail *t, const char *type, const char *content, size_t len,
                            char *err, size_t errlen)
{
	char time[32];
	if (!valid_type(type) || !strcmp(type, "seal")) {
		errf(err, errlen, "record type '%s' is not 1-64 of [a-z0-9_.-]%s", type ? type : "",
		     type && !strcmp(type, "seal") ? ", or is 'seal' (mp_trail_seal writes seals)"
		                                   : "");
		return -1;
	}
	now_rfc3339(time);
	if (write_record(t, type, time, content, len, err, errlen) < 0)
		return -1;
	t->since_seal++;
	return 0;
}

int mp_trail_append_nosync(mp_trail *t, const char *type, json_t *content, char *err, size_t errlen)
{
	if (encode_content(content, &t->content, err, errlen) < 0)
		return -1;
	return mp_trail_append_encoded(t, type, t->content.p, t->content.len, err, errlen);
}

void mp_trail_hold(mp_trail *t)
{
	if (t->held)
		return;
	t->held = 1;
	t->pending.len = 0;
	memcpy(t->held_head, t->head, HASH_LEN);
	t->held_seq = t->seq;
	t->held_since_seal = t->since_seal;
}

int mp_trail_flush(mp_trail *t, char *err, size_t errlen)
{
	if (!t->held)
		return 0;
	t->held = 0;
	if (t->pending.len == 0)
		return 0;
	if (write_line(t, t->pending.p, t->pending.len, err, errlen) < 0) {
		/* none of them is in the file: the chain goes back to before them */
		memcpy(t->head, t->held_head, HASH_LEN);
		t->seq = t->held_seq;
		t->since_seal = t->held_since_seal;
		t->pending.len = 0;
		return -1;
	}
	for (size_t off = 0; t->sink && off < t->pending.len;) { /* one record a line */
		const char *nl = memchr(t->pending.p + off, '\n', t->pending.len - off);
		size_t n = (size_t)(nl - (t->pending.p + off)) + 1;
		t->sink(t->sink_arg, t->pending.p + off, n);
		off += n;
	}
	t->pending.len = 0;
	return 0;
}

int mp_trail_sync(mp_trail *t, char *err, size_t errlen)
{
	int dfd = -1;
	char *dir = NULL;
	if (mp_trail_flush(t, err, errlen) < 0)
		return -1;
	if (t->fd < 0)
		return 0; /* in memory: nothing to sync */
	if (fsync(t->fd) < 0) {
		errf(err, errlen, "%s: fsync: %s", t->path, strerror(errno));
		goto fail;
	}
	if (t->dir_unsynced) {
		if (!(dir = mp_strdup(t->path))) {
			errf(err, errlen, "%s: out of memory", t->path);
			goto fail;
		}
		const char *d = dirname(dir);
		if ((dfd = open(d, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0 || fsync(dfd) < 0) {
			errf(err, errlen, "%s: fsync: %s", d, strerror(errno));
			goto fail;
		}
		t->dir_unsynced = 0;
		close(dfd);
		mp_free(dir);
	}
	return 0;
fail:
	if (dfd >= 0)
		close(dfd);
	mp_free(dir);
	return -1;
}

int mp_trail_append(mp_trail *t, const char *type, json_t *content, char *err, size_t errlen)
{
	if (mp_trail_append_nosync(t, type, content, err, errlen) < 0)
		return -1;
	return mp_trail_sync(t, err, errlen);
}

int mp_trail_seal(mp_trail *t, char *err, size_t errlen)
{
	char time[32], head[HEX_LEN + 1], msg[256];
	unsigned char sig[SIG_LEN];
	char sig64[SIG_B64_LEN + 1];
	json_t *c = NULL;
	if (mp_trail_flush(t, err, errlen) < 0)
		return -1;
	now_rfc3339(time);
	mp_trail_head(t, head);
	c = json_pack("{s:s, s:I, s:s}", "head", head, "records", (json_int_t)t->since_seal, "alg",
	              t->key ? "ed25519" : "none");
	if (!c || (t->adopted &&
	           json_object_set_new(c, "adopted", json_integer((json_int_t)t->adopted)) < 0))
		goto oom;
	if (t->key) {
		int n = seal_message(msg, sizeof(msg), t->seq + 1, time, t->since_seal, head,
		                     t->adopted);
		if (n < 0 || mp_key_sign(t->key, msg, (size_t)n, sig) < 0) {
			errf(err, errlen, "%s: signing the seal failed", t->path);
			goto fail;
		}
		mp_key_sig_encode(sig, sig64);
		if (json_object_set_new(c, "signature", json_string(sig64)) < 0 ||
		    json_object_set_new(c, "key_id", json_string(t->key_id)) < 0)
			goto oom;
	}
	if (encode_content(c, &t->content, err, errlen) < 0)
		goto fail;
	if (write_record(t, "seal", time, t->content.p, t->content.len, err, errlen) < 0)
		goto fail;
	t->since_seal = 0;
	t->adopted = 0;
	json_decref(c);
	return mp_trail_sync(t, err, errlen);
oom:
	errf(err, errlen, "%s: out of memory", t->path);
fail:
	json_decref(c);
	return -1;
}

/* ---- key generation ---- */

int mp_trail_pubkey_path(const char *key_path, char *out, size_t outlen)
{
	size_t n = strlen(key_path);
	if (n >= 4 && !strcmp(key_path + n - 4, ".pem"))
		n -= 4;
	int w = snprintf(out, outlen, "%.*s.pub.pem", (int)n, key_path);
	return w > 0 && (size_t)w < outlen ? 0 : -1;
}

/* Writes k's private (or public) PEM to f. */
static int write_pem(FILE *f, EVP_PKEY *k, int private)
{
	char *data;
	BIO *bio = BIO_new(BIO_s_mem());
	int ok = bio && (private ? PEM_write_bio_PrivateKey(bio, k, NULL, NULL, 0, NULL, NULL)
	                         : PEM_write_bio_PUBKEY(bio, k)) == 1;
	long n = ok ? BIO_get_mem_data(bio, &data) : 0;
	ok = ok && n > 0 && fwrite(data, 1, (size_t)n, f) == (size_t)n;
	BIO_free(bio);
	return ok ? 0 : -1;
}

int mp_trail_keygen_into(mp_out *priv, const char *priv_path, mp_out *pub, char *err, size_t errlen)
{
	char why[256];
	EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	if (!k) {
		errf(err, errlen, "Ed25519 key generation failed: %s",
		     mp_key_ssl_reason(why, sizeof(why)));
		goto fail;
	}
	errno = 0;
	if (write_pem(mp_out_file(priv), k, 1) < 0 || write_pem(mp_out_file(pub), k, 0) < 0) {
		errf(err, errlen, "%s: cannot write the key pair: %s", priv_path,
		     errno ? strerror(errno) : "OpenSSL error");
		ERR_clear_error();
		goto fail;
	}
	EVP_PKEY_free(k);
	k = NULL;
	int committed = mp_out_commit(priv, err, errlen);
	priv = NULL; /* freed by the commit, whatever its result */
	if (committed < 0)
		goto fail;
	committed = mp_out_commit(pub, err, errlen);
	pub = NULL;
	if (committed < 0) {
		unlink(priv_path);
		goto fail;
	}
	return 0;
fail:
	EVP_PKEY_free(k);
	mp_out_discard(priv);
	mp_out_discard(pub);
	return -1;
}

int mp_trail_keygen(const char *path, char *err, size_t errlen)
{
	char pub[PATH_MAX];
	mp_out *priv_out = NULL, *pub_out = NULL;
	if (mp_trail_pubkey_path(path, pub, sizeof(pub)) < 0) {
		errf(err, errlen, "%s: path too long", path);
		goto fail;
	}
	/* MP_OUT_NEW: only the files made here are removed on failure, never an existing one */
	if (!(priv_out = mp_out_open(path, 0600, MP_OUT_NEW, err, errlen)) ||
	    !(pub_out = mp_out_open(pub, 0644, MP_OUT_NEW, err, errlen)))
		goto fail;
	return mp_trail_keygen_into(priv_out, path, pub_out, err, errlen);
fail:
	mp_out_discard(priv_out);
	mp_out_discard(pub_out);
	return -1;
}
