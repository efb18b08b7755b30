/* declog.c: the decision log's bounded queue and writer thread (see declog.h). The queue is a
 * ring of encoded records under one mutex and two condition variables; the writer takes
 * everything queued at once, so a burst costs one lock round-trip and one fsync. */
#include "declog.h"
#include "alloc.h"
#include "trail.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define LINGER_NS 1000000 /* the longest a record waits for others to share its fsync */
#define BATCH_MIN 64

typedef struct {
	const char *type; /* a string literal */
	char *text;       /* from mp_trail_content_encode; mp_free */
	size_t len;
} record;

struct mp_declog {
	mp_trail *trail; /* the writer thread's, until it exits */
	pthread_t writer;
	pthread_mutex_t lock;
	pthread_cond_t not_empty, not_full;
	record *ring;  /* capacity slots; under lock */
	record *batch; /* the writer's own copy of a batch */
	size_t cap, head, count;
	size_t batch_min; /* a batch this big ends the writer's wait for more */
	int stop;
	int drop;
	_Atomic uint64_t queued, written, dropped, errors;
	char first_error[256]; /* the first write error, reported once on stderr and at close */
	int write_failed;
};

static void *writer_main(void *arg)
{
	mp_declog *l = arg;
	char err[256];
	pthread_mutex_lock(&l->lock);
	for (;;) {
		while (l->count == 0 && !l->stop)
			pthread_cond_wait(&l->not_empty, &l->lock);
		if (l->count == 0)
			break; /* stopped and drained */
		if (l->count < l->batch_min && !l->stop) {
			/* let a batch gather for a moment: one wake-up and one fsync serve many
			 * records instead of one each */
			struct timespec until;
			clock_gettime(CLOCK_REALTIME, &until);
			until.tv_nsec += LINGER_NS;
			if (until.tv_nsec >= 1000000000) {
				until.tv_sec++;
				until.tv_nsec -= 1000000000;
			}
			while (l->count < l->batch_min && !l->stop &&
			       pthread_cond_timedwait(&l->not_empty, &l->lock, &until) == 0)
				;
		}
		size_t n = l->count;
		for (size_t i = 0; i < n; i++)
			l->batch[i] = l->ring[(l->head + i) % l->cap];
		l->head = (l->head + n) % l->cap;
		l->count = 0;
		pthread_cond_broadcast(&l->not_full);
		pthread_mutex_unlock(&l->lock);

		uint64_t ok = 0;
		for (size_t i = 0; i < n; i++) {
			if (mp_trail_append_encoded(l->trail, l->batch[i].type, l->batch[i].text,
			                            l->batch[i].len, err, sizeof(err)) == 0) {
				ok++;
			} else {
				atomic_fetch_add(&l->errors, 1);
				if (!l->write_failed) {
					l->write_failed = 1;
					snprintf(l->first_error, sizeof(l->first_error), "%s", err);
					fprintf(stderr, "meshpol serve: decision log: %s\n", err);
				}
			}
			mp_free(l->batch[i].text);
		}
		if (ok && mp_trail_sync(l->trail, err, sizeof(err)) < 0 && !l->write_failed) {
			l->write_failed = 1;
			snprintf(l->first_error, sizeof(l->first_error), "%s", err);
			fprintf(stderr, "meshpol serve: decision log: %s\n", err);
		}
		atomic_fetch_add(&l->written, ok);
		pthread_mutex_lock(&l->lock);
	}
	pthread_mutex_unlock(&l->lock);
	return NULL;
}

mp_declog *mp_declog_open(const char *path, const char *sign_key, size_t capacity, int drop,
                          json_t *start, char *err, size_t errlen)
{
	mp_declog *l = mp_calloc(1, sizeof(*l));
	if (!l || capacity == 0)
		goto oom;
	l->cap = capacity;
	l->batch_min = capacity < BATCH_MIN ? capacity : BATCH_MIN;
	l->drop = drop;
	l->ring = mp_calloc(capacity, sizeof(record));
	l->batch = mp_calloc(capacity, sizeof(record));
	if (!l->ring || !l->batch)
		goto oom;
	if (!(l->trail = mp_trail_open(path, sign_key, err, errlen)))
		goto fail;
	if (mp_trail_append(l->trail, "start", start, err, errlen) < 0)
		goto fail;
	pthread_mutex_init(&l->lock, NULL);
	pthread_cond_init(&l->not_empty, NULL);
	pthread_cond_init(&l->not_full, NULL);
	if (pthread_create(&l->writer, NULL, writer_main, l) != 0) {
		snprintf(err, errlen, "%s: cannot start the writer thread", path);
		pthread_mutex_destroy(&l->lock);
		pthread_cond_destroy(&l->not_empty);
		pthread_cond_destroy(&l->not_full);
		goto fail;
	}
	return l;
oom:
	snprintf(err, errlen, "%s: out of memory", path);
fail:
	if (l) {
		mp_trail_close(l->trail);
		mp_free(l->ring);
		mp_free(l->batch);
		mp_free(l);
	}
	return NULL;
}

/* Queues text (mp_malloc'd; owned from here on). */
static int enqueue(mp_declog *l, const char *type, char *text, size_t len)
{
	pthread_mutex_lock(&l->lock);
	while (l->count == l->cap && !l->drop)
		pthread_cond_wait(&l->not_full, &l->lock); /* backpressure */
	if (l->count == l->cap) {
		pthread_mutex_unlock(&l->lock);
		mp_free(text);
		atomic_fetch_add(&l->dropped, 1);
		return 1;
	}
	l->ring[(l->head + l->count) % l->cap] = (record){type, text, len};
	l->count++;
	if (l->count == 1 || l->count == l->batch_min)
		pthread_cond_signal(&l->not_empty);
	pthread_mutex_unlock(&l->lock);
	atomic_fetch_add(&l->queued, 1);
	return 0;
}

int mp_declog_submit(mp_declog *l, const char *type, json_t *content)
{
	char err[200];
	size_t len;
	char *text = mp_trail_content_encode(content, &len, err, sizeof(err));
	if (!text) {
		atomic_fetch_add(&l->errors, 1);
		return -1;
	}
	return enqueue(l, type, text, len);
}

int mp_declog_submit_text(mp_declog *l, const char *type, char *text, size_t len)
{
	if (!text || len < 2 || text[0] != '{' || text[len - 1] != '}') {
		mp_free(text);
		atomic_fetch_add(&l->errors, 1);
		return -1;
	}
	return enqueue(l, type, text, len);
}

void mp_declog_get_stats(mp_declog *l, mp_declog_stats *s)
{
	pthread_mutex_lock(&l->lock);
	s->depth = l->count;
	pthread_mutex_unlock(&l->lock);
	s->capacity = l->cap;
	s->queued = atomic_load(&l->queued);
	s->written = atomic_load(&l->written);
	s->dropped = atomic_load(&l->dropped);
	s->errors = atomic_load(&l->errors);
	s->drop_mode = l->drop;
}

int mp_declog_close(mp_declog *l, json_t *end, char *err, size_t errlen)
{
	if (!l)
		return 0;
	int rc = 0;
	pthread_mutex_lock(&l->lock);
	l->stop = 1;
	pthread_cond_signal(&l->not_empty);
	pthread_mutex_unlock(&l->lock);
	pthread_join(l->writer, NULL);
	/* the writer has exited: the trail is ours again */
	if (l->write_failed) {
		snprintf(err, errlen, "%s", l->first_error);
		rc = -1;
	}
	if (mp_trail_append_nosync(l->trail, "end", end, err, errlen) < 0 ||
	    mp_trail_seal(l->trail, err, errlen) < 0)
		rc = -1;
	mp_trail_close(l->trail);
	pthread_mutex_destroy(&l->lock);
	pthread_cond_destroy(&l->not_empty);
	pthread_cond_destroy(&l->not_full);
	mp_free(l->ring);
	mp_free(l->batch);
	mp_free(l);
	return rc;
}

/* --- masking --- */

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

void mp_declog_mask(json_t *input, const mp_bundle *b)
{
	for (uint32_t i = 0; b && i < b->nmask; i++)
		mask_path(input, b->mask[i]);
}
