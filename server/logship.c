/* logship.c: uploading the decision log's records in batches (see logship.h). A batch is the
 * records' exact bytes, one per line, as a JSON array ("[\n" REC ",\n" REC "\n]\n"), compressed
 * with zlib's gzip; libcurl posts it (httpc.c). Format: docs/bundles.md. */
#include "logship.h"
#include "alloc.h"
#include "httpc.h"

#include <errno.h>
#include <event2/buffer.h>
#include <inttypes.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zlib.h>

#define BATCH_BYTES    (1u << 20) /* a batch's uncompressed bytes, at most (one record more) */
#define BATCH_RECORDS  10000u
#define BACKOFF_MS     500 /* after the first failure; doubled for each, to the cap */
#define BACKOFF_CAP_MS 30000
#define REPLY_MAX      65536

typedef struct rec {
	struct rec *next;
	uint64_t seq;
	size_t len; /* without the newline */
	char line[];
} rec;

struct mp_logship {
	const mp_server_config *cfg;
	char label[512];
	char log_id[33];
	mp_httpc *h;
	pthread_t thread;
	int started;
	atomic_int stop; /* abort now (a transfer in flight too) */
	pthread_mutex_t lock;
	pthread_cond_t wake, drained;
	/* under lock */
	rec *head, *tail;
	uint64_t count;
	size_t bytes, cap;
	int finishing;      /* upload everything now, then stop */
	int full;           /* refused room since the last upload made some */
	uint64_t oldest_ns; /* when the oldest buffered record arrived */
	uint64_t uploaded, batches, failures_total, full_refusals;
	int failures; /* in a row */
	time_t last_success, last_error_at;
	char last_error[400];
	void (*room_cb)(void *);
	void *room_arg;
	uint64_t rng;
};

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void deadline_in(struct timespec *ts, uint64_t ns)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += (time_t)(ns / 1000000000u);
	ts->tv_nsec += (long)(ns % 1000000000u);
	if (ts->tv_nsec >= 1000000000) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000;
	}
}

int mp_logship_room(mp_logship *s, size_t len)
{
	pthread_mutex_lock(&s->lock);
	int room = s->bytes + len <= s->cap;
	if (!room) {
		s->full = 1;
		s->full_refusals++;
	}
	pthread_mutex_unlock(&s->lock);
	return room;
}

void mp_logship_on_room(mp_logship *s, void (*room_cb)(void *arg), void *arg)
{
	pthread_mutex_lock(&s->lock);
	s->room_cb = room_cb;
	s->room_arg = arg;
	pthread_mutex_unlock(&s->lock);
}

void mp_logship_sink(void *arg, const char *line, size_t len)
{
	mp_logship *s = arg;
	if (len && line[len - 1] == '\n')
		len--;
	rec *r = mp_malloc(sizeof(*r) + len + 1);
	if (!r) { /* cannot happen but out of memory; the receiver's chain then shows the hole */
		fprintf(stderr,
		        "meshpol serve: --decision-log-url: out of memory: a record is lost\n");
		return;
	}
	r->next = NULL;
	r->len = len;
	r->seq = strtoull(line + strlen("{\"seq\":"), NULL, 10); /* the trail writes seq first */
	memcpy(r->line, line, len);
	r->line[len] = '\0';
	pthread_mutex_lock(&s->lock);
	if (s->tail)
		s->tail->next = r;
	else
		s->head = r, s->oldest_ns = now_ns();
	s->tail = r;
	s->count++;
	s->bytes += len + 1;
	if (s->bytes >= BATCH_BYTES || s->count == 1)
		pthread_cond_signal(&s->wake);
	pthread_mutex_unlock(&s->lock);
}

/* The first n records (or fewer: BATCH_* limits) as a gzip-compressed JSON array; the records
 * stay buffered until the upload succeeds. Only the upload thread removes records, so the list
 * up to *last is stable without the lock. NULL when out of memory. */
static unsigned char *batch(rec *first, uint64_t avail, uint64_t *n, rec **last, size_t *zlen)
{
	size_t raw = 4;
	uint64_t k = 0;
	rec *r = first;
	for (; r && k < avail && k < BATCH_RECORDS && (k == 0 || raw + r->len + 2 <= BATCH_BYTES);
	     r = r->next, k++) {
		raw += r->len + 2;
		*last = r;
	}
	*n = k;
	char *text = malloc(raw + 1);
	if (!text)
		return NULL;
	size_t at = 0;
	text[at++] = '[';
	text[at++] = '\n';
	r = first;
	for (uint64_t i = 0; i < k; i++, r = r->next) {
		memcpy(text + at, r->line, r->len);
		at += r->len;
		if (i + 1 < k)
			text[at++] = ',';
		text[at++] = '\n';
	}
	text[at++] = ']';
	text[at++] = '\n';
	uLong bound = compressBound((uLong)at) + 64;
	unsigned char *z = malloc(bound);
	z_stream zs = {0};
	int ok = z && deflateInit2(&zs, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) == Z_OK;
	if (ok) {
		zs.next_in = (unsigned char *)text;
		zs.avail_in = (uInt)at;
		zs.next_out = z;
		zs.avail_out = (uInt)bound;
		ok = deflate(&zs, Z_FINISH) == Z_STREAM_END;
		*zlen = zs.total_out;
		deflateEnd(&zs);
	}
	free(text);
	if (!ok) {
		free(z);
		return NULL;
	}
	return z;
}

/* Posts one batch of the first records. 0 when the receiver took it (2xx). */
static int upload(mp_logship *s, rec *first, uint64_t avail, uint64_t *n, char *why, size_t whylen)
{
	rec *last = first;
	size_t zlen = 0;
	unsigned char *z = batch(first, avail, n, &last, &zlen);
	if (!z) {
		snprintf(why, whylen, "out of memory");
		return -1;
	}
	char id[64], seq[96];
	snprintf(id, sizeof(id), "X-Meshpol-Log-Id: %s", s->log_id);
	snprintf(seq, sizeof(seq), "X-Meshpol-Seq: %" PRIu64 "-%" PRIu64, first->seq, last->seq);
	const char *headers[] = {"Content-Type: application/json", "Content-Encoding: gzip", id,
	                         seq, NULL};
	mp_httpc_opts o = {.ca = s->cfg->log_ca,
	                   .token_file = s->cfg->log_token,
	                   .stop = &s->stop,
	                   .max_body = REPLY_MAX};
	mp_httpc_reply r;
	int rc = mp_httpc_post(s->h, s->cfg->log_url, z, zlen, headers, &o, &r);
	free(z);
	if (rc < 0) {
		snprintf(why, whylen, "%s", r.error);
		return -1;
	}
	mp_httpc_reply_free(&r);
	if (r.status < 200 || r.status > 299) {
		snprintf(why, whylen, "%.350s: HTTP %ld", s->label, r.status);
		return -1;
	}
	return 0;
}

static double uniform(mp_logship *s)
{
	s->rng = s->rng * 6364136223846793005u + 1442695040888963407u;
	return (double)(s->rng >> 11) / 9007199254740992.0;
}

static void *upload_main(void *arg)
{
	mp_logship *s = arg;
	uint64_t flush_ns = (uint64_t)s->cfg->log_flush_ms * 1000000u;
	struct timespec until;
	pthread_mutex_lock(&s->lock);
	while (!atomic_load(&s->stop)) {
		/* wait for a batch: enough bytes, the oldest record old enough, or the finish */
		if (!s->count) {
			if (s->finishing)
				break;
			pthread_cond_wait(&s->wake, &s->lock);
			continue;
		}
		uint64_t age = now_ns() - s->oldest_ns;
		if (!s->finishing && s->bytes < BATCH_BYTES && age < flush_ns) {
			deadline_in(&until, flush_ns - age);
			pthread_cond_timedwait(&s->wake, &s->lock, &until);
			continue;
		}
		rec *first = s->head;
		uint64_t avail = s->count, n = 0;
		pthread_mutex_unlock(&s->lock);
		char why[400];
		int rc = upload(s, first, avail, &n, why, sizeof(why));
		void (*cb)(void *) = NULL;
		void *cb_arg = NULL;
		pthread_mutex_lock(&s->lock);
		if (rc == 0) {
			for (uint64_t i = 0; i < n; i++) {
				rec *r = s->head;
				s->head = r->next;
				s->bytes -= r->len + 1;
				mp_free(r);
			}
			s->count -= n;
			if (!s->head)
				s->tail = NULL;
			s->oldest_ns = now_ns(); /* what is left waits no longer than a new batch */
			s->uploaded += n;
			s->batches++;
			s->last_success = time(NULL);
			if (s->failures)
				fprintf(
				    stderr,
				    "meshpol serve: --decision-log-url: uploading again (%" PRIu64
				    " records buffered)\n",
				    s->count);
			s->failures = 0;
			if (s->full &&
			    s->bytes <= s->cap / 2) { /* room for a while, not one record */
				s->full = 0;
				cb = s->room_cb;
				cb_arg = s->room_arg;
			}
			pthread_cond_broadcast(&s->drained);
		} else {
			if (!s->failures || strcmp(why, s->last_error))
				fprintf(stderr,
				        "meshpol serve: --decision-log-url: %s (%" PRIu64
				        " records buffered; retrying with backoff)\n",
				        why, s->count);
			snprintf(s->last_error, sizeof(s->last_error), "%s", why);
			s->last_error_at = time(NULL);
			s->failures_total++;
			s->failures++;
			uint64_t ms = BACKOFF_MS;
			for (int i = 1; i < s->failures && ms < BACKOFF_CAP_MS; i++)
				ms *= 2;
			ms = ms > BACKOFF_CAP_MS ? BACKOFF_CAP_MS : ms;
			deadline_in(&until,
			            (uint64_t)((double)ms * (0.5 + 0.5 * uniform(s)) * 1e6));
			while (!atomic_load(&s->stop) &&
			       pthread_cond_timedwait(&s->wake, &s->lock, &until) == 0)
				;
		}
		if (cb) {
			pthread_mutex_unlock(&s->lock);
			cb(cb_arg); /* the log chains a gap record: it comes back through the sink
			             */
			pthread_mutex_lock(&s->lock);
		}
	}
	pthread_cond_broadcast(&s->drained);
	pthread_mutex_unlock(&s->lock);
	return NULL;
}

mp_logship *mp_logship_new(const mp_server_config *cfg, char *err, size_t errlen)
{
	unsigned char id[16];
	mp_logship *s = mp_calloc(1, sizeof(*s));
	if (!s || !(s->h = mp_httpc_new())) {
		snprintf(err, errlen, "--decision-log-url: out of memory");
		mp_free(s);
		return NULL;
	}
	s->cfg = cfg;
	s->cap = cfg->log_buffer;
	mp_httpc_redact(cfg->log_url, s->label, sizeof(s->label));
	if (RAND_bytes(id, sizeof(id)) != 1 ||
	    RAND_bytes((unsigned char *)&s->rng, sizeof(s->rng)) != 1) {
		snprintf(err, errlen, "--decision-log-url: no random bytes for the log's id");
		mp_httpc_free(s->h);
		mp_free(s);
		return NULL;
	}
	for (int i = 0; i < 16; i++)
		snprintf(s->log_id + 2 * i, 3, "%02x", id[i]);
	pthread_mutex_init(&s->lock, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&s->wake, &ca);
	pthread_cond_init(&s->drained, &ca);
	pthread_condattr_destroy(&ca);
	if (pthread_create(&s->thread, NULL, upload_main, s) != 0) {
		snprintf(err, errlen, "--decision-log-url: cannot start the upload thread");
		mp_logship_free(s);
		return NULL;
	}
	s->started = 1;
	return s;
}

int mp_logship_finish(mp_logship *s, int timeout_ms, char *err, size_t errlen)
{
	if (!s || !s->started)
		return 0;
	struct timespec until;
	deadline_in(&until, (uint64_t)timeout_ms * 1000000u);
	pthread_mutex_lock(&s->lock);
	s->finishing = 1;
	pthread_cond_signal(&s->wake);
	while (s->count && pthread_cond_timedwait(&s->drained, &s->lock, &until) != ETIMEDOUT)
		;
	uint64_t left = s->count;
	atomic_store(&s->stop, 1); /* gives up on a transfer still in flight */
	pthread_cond_signal(&s->wake);
	pthread_mutex_unlock(&s->lock);
	pthread_join(s->thread, NULL);
	s->started = 0;
	if (left) {
		snprintf(err, errlen,
		         "--decision-log-url: %" PRIu64 " records not uploaded at exit (%s)", left,
		         *s->last_error ? s->last_error : "the drain ran out of time");
		return -1;
	}
	return 0;
}

void mp_logship_free(mp_logship *s)
{
	if (!s)
		return;
	if (s->started) {
		atomic_store(&s->stop, 1);
		pthread_mutex_lock(&s->lock);
		pthread_cond_signal(&s->wake);
		pthread_mutex_unlock(&s->lock);
		pthread_join(s->thread, NULL);
	}
	while (s->head) {
		rec *r = s->head;
		s->head = r->next;
		mp_free(r);
	}
	mp_httpc_free(s->h);
	pthread_mutex_destroy(&s->lock);
	pthread_cond_destroy(&s->wake);
	pthread_cond_destroy(&s->drained);
	mp_free(s);
}

void mp_logship_why_full(mp_logship *s, char *out, size_t len)
{
	pthread_mutex_lock(&s->lock);
	snprintf(out, len, "upload buffer full (%zu bytes waiting for %s%s%s)", s->bytes, s->label,
	         *s->last_error ? ": " : "", s->last_error);
	pthread_mutex_unlock(&s->lock);
}

json_t *mp_logship_health(mp_logship *s, json_t *problems, int *degraded)
{
	char at[32];
	struct tm tm;
	pthread_mutex_lock(&s->lock);
	json_t *o = json_pack(
	    "{s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:I}", "url", s->label, "log_id", s->log_id,
	    "status",
	    s->failures ? "failing"
	    : s->full   ? "full"
	                : "ok",
	    "buffered_records", (json_int_t)s->count, "buffered_bytes", (json_int_t)s->bytes,
	    "buffer_capacity", (json_int_t)s->cap, "uploaded_records", (json_int_t)s->uploaded,
	    "batches", (json_int_t)s->batches, "failed_uploads", (json_int_t)s->failures_total);
	if (s->last_success) {
		gmtime_r(&s->last_success, &tm);
		strftime(at, sizeof(at), "%Y-%m-%dT%H:%M:%SZ", &tm);
		json_object_set_new(o, "last_success", json_string(at));
	}
	if (s->last_error_at) {
		gmtime_r(&s->last_error_at, &tm);
		strftime(at, sizeof(at), "%Y-%m-%dT%H:%M:%SZ", &tm);
		json_t *m = json_string(s->last_error);
		json_object_set_new(o, "last_error",
		                    json_pack("{s:s, s:o}", "at", at, "message",
		                              m ? m : json_string("(not UTF-8)")));
	}
	if (s->failures) {
		char msg[600];
		snprintf(msg, sizeof(msg), "decision log upload failing: %s", s->last_error);
		json_t *m = json_string(msg);
		json_array_append_new(problems, m ? m : json_string("decision log upload failing"));
		*degraded = 1;
	}
	pthread_mutex_unlock(&s->lock);
	return o;
}

void mp_logship_metrics(mp_logship *s, struct evbuffer *o)
{
	pthread_mutex_lock(&s->lock);
	evbuffer_add_printf(
	    o,
	    "# HELP meshpol_decision_log_upload_records_total Records the receiver took.\n"
	    "# TYPE meshpol_decision_log_upload_records_total counter\n"
	    "meshpol_decision_log_upload_records_total %" PRIu64 "\n"
	    "# HELP meshpol_decision_log_upload_batches_total Batches the receiver took.\n"
	    "# TYPE meshpol_decision_log_upload_batches_total counter\n"
	    "meshpol_decision_log_upload_batches_total %" PRIu64 "\n"
	    "# HELP meshpol_decision_log_upload_failures_total Uploads that failed (retried).\n"
	    "# TYPE meshpol_decision_log_upload_failures_total counter\n"
	    "meshpol_decision_log_upload_failures_total %" PRIu64 "\n"
	    "# HELP meshpol_decision_log_upload_full_total Records refused room in the full "
	    "buffer (refused or dropped by the log's mode).\n"
	    "# TYPE meshpol_decision_log_upload_full_total counter\n"
	    "meshpol_decision_log_upload_full_total %" PRIu64 "\n"
	    "# HELP meshpol_decision_log_upload_buffered_bytes Bytes of records waiting for "
	    "upload.\n"
	    "# TYPE meshpol_decision_log_upload_buffered_bytes gauge\n"
	    "meshpol_decision_log_upload_buffered_bytes %zu\n"
	    "# HELP meshpol_decision_log_upload_buffered_records Records waiting for upload.\n"
	    "# TYPE meshpol_decision_log_upload_buffered_records gauge\n"
	    "meshpol_decision_log_upload_buffered_records %" PRIu64 "\n"
	    "# HELP meshpol_decision_log_upload_last_success_timestamp_seconds When a batch was "
	    "last taken (Unix time; 0: never).\n"
	    "# TYPE meshpol_decision_log_upload_last_success_timestamp_seconds gauge\n"
	    "meshpol_decision_log_upload_last_success_timestamp_seconds %lld\n",
	    s->uploaded, s->batches, s->failures_total, s->full_refusals, s->bytes, s->count,
	    (long long)s->last_success);
	pthread_mutex_unlock(&s->lock);
}
