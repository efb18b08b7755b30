/* fetch.c: polling the bundle and model over HTTP, verifying them, handing them to a reload and
 * keeping the last good ones in a cache directory (see fetch.h). libcurl speaks HTTP (httpc.c);
 * the engine verifies archives (barchive.h). User guide: docs/bundles.md. */
#include "fetch.h"
#include "alloc.h"
#include "barchive.h"
#include "compile.h"
#include "files.h"
#include "httpc.h"
#include "reload.h"
#include "trail.h"

#include <event2/buffer.h>
#include <event2/event.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define BACKOFF_CAP_S 300 /* the longest wait after failures, whatever the interval */

/* A file fetched (or read from the cache) and verified; reference-counted, immutable. */
struct mp_fetch_blob {
	atomic_int refs;
	char *data; /* len bytes */
	size_t len;
	char sha256[65];       /* of the bytes */
	char etag[256];        /* the reply's ETag; "" when none */
	const char *from;      /* "url" or "cache" (a string literal) */
	char revision[128];    /* a bundle's manifest revision, "" when none */
	char content_hash[65]; /* a bundle's manifest bundle_sha256, or a model's hash */
};

enum { T_BUNDLE = 0, T_MODEL = 1 };

/* One URL polled. The fields after `lock` are under mp_fetch.lock. */
typedef struct {
	const char *what;  /* "bundle", "model" */
	const char *url;   /* as configured */
	const char *cache; /* file name in the cache directory */
	char label[512];   /* the URL without credentials: messages, status, bundle locations */
	mp_httpc *h;       /* the poll thread's */
	int failures;      /* consecutive polls without a reply (the poll thread's) */
	/* under lock */
	char etag[256];         /* sent as If-None-Match: the last 200's, kept or refused */
	mp_fetch_blob *pending; /* verified, not yet built */
	mp_fetch_blob *good;    /* the one in the snapshot serving */
	mp_fetch_blob *persist; /* good, not yet in the cache */
	uint64_t polls, not_modified, downloaded, refused, errors, activated;
	time_t last_attempt, last_success, last_error_at, activated_at;
	int unreachable; /* the last poll got no usable reply */
	int rejected;    /* the newest download was refused */
	char last_error[400];
	char cache_error[300];
} target;

struct mp_fetch {
	mp_server *srv;
	const mp_server_config *cfg;
	target t[2];
	int nt;
	pthread_mutex_t lock;
	pthread_cond_t wake; /* the poll thread's sleep: stop, or a download to persist */
	pthread_t thread;
	int started;
	atomic_int stop;
	int stopped; /* a stop signal came while mp_fetch_first waited */
	struct event *reload_ev;
	uint64_t rng;
};

static void blob_release(mp_fetch_blob *b)
{
	if (b && atomic_fetch_sub(&b->refs, 1) == 1) {
		free(b->data);
		mp_free(b);
	}
}

static mp_fetch_blob *blob_retain(mp_fetch_blob *b)
{
	if (b)
		atomic_fetch_add(&b->refs, 1);
	return b;
}

/* Takes over data (malloc'd). NULL when out of memory (data is freed). */
static mp_fetch_blob *blob_new(char *data, size_t len, const char *etag, const char *from)
{
	mp_fetch_blob *b = mp_calloc(1, sizeof(*b));
	if (!b) {
		free(data);
		return NULL;
	}
	atomic_init(&b->refs, 1);
	b->data = data;
	b->len = len;
	b->from = from;
	snprintf(b->etag, sizeof(b->etag), "%s", etag ? etag : "");
	unsigned char d[32];
	unsigned int n = 0;
	EVP_Digest(data, len, d, &n, EVP_sha256(), NULL);
	for (int i = 0; i < 32; i++)
		snprintf(b->sha256 + 2 * i, 3, "%02x", d[i]);
	return b;
}

static void iso_time(time_t t, char out[32])
{
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* --- verifying what came --- */

/* Is the bundle archive in b what may be served (read, checked, signed by the key when one is
 * configured)? Fills b's revision and hash. 0, or -1 with every reason in d. */
static int verify_bundle(mp_fetch *f, const target *t, mp_fetch_blob *b, mp_diags *d)
{
	mp_barchive_limits lim = {.max_archive = f->cfg->bundle_max};
	mp_barchive *a = mp_barchive_read(t->label, b->data, b->len, &lim, d);
	int rc = a ? mp_barchive_check(a, f->cfg->bundle_pubkey, d) : -1;
	if (rc == 0 && a->manifest) {
		snprintf(b->revision, sizeof(b->revision), "%s", a->revision);
		snprintf(b->content_hash, sizeof(b->content_hash), "%s", a->bundle_sha256);
	}
	mp_barchive_free(a);
	return rc;
}

static int verify_model(mp_fetch_blob *b, const target *t, mp_diags *d)
{
	char err[512];
	mp_model *m = mp_model_load_mem(b->data, b->len, err, sizeof(err));
	if (!m) {
		mp_diags_error(d, t->label, 0, 0, "%s", err);
		return -1;
	}
	snprintf(b->content_hash, sizeof(b->content_hash), "%s", mp_model_sha256(m));
	mp_model_free(m);
	return 0;
}

static int verify(mp_fetch *f, const target *t, mp_fetch_blob *b, mp_diags *d)
{
	return t == &f->t[T_BUNDLE] ? verify_bundle(f, t, b, d) : verify_model(b, t, d);
}

/* "first reason (and N more)" of d, for one status line. */
static void first_reason(const mp_diags *d, char *out, size_t len)
{
	const char *msg = d->n ? d->v[0].msg : "refused";
	if (d->n > 1)
		snprintf(out, len, "%s (and %u more)", msg, d->n - 1);
	else
		snprintf(out, len, "%s", msg);
}

/* --- the cache directory --- */

static void cache_path(const mp_fetch *f, const target *t, const char *suffix, char *out,
                       size_t len)
{
	snprintf(out, len, "%s/%s%s", f->cfg->bundle_cache, t->cache, suffix);
}

/* Writes the file, then its ETag, each as a whole (a temporary renamed over it). */
static int write_cache(mp_fetch *f, const target *t, const mp_fetch_blob *b, char *err,
                       size_t errlen)
{
	char path[4096];
	const char *suffix[] = {"", ".etag"};
	for (int i = 0; i < 2; i++) {
		cache_path(f, t, suffix[i], path, sizeof(path));
		mp_out *o = mp_out_open(path, 0644, 0, err, errlen);
		if (!o)
			return -1;
		const void *p = i ? (const void *)b->etag : b->data;
		size_t n = i ? strlen(b->etag) : b->len;
		if (fwrite(p, 1, n, mp_out_file(o)) != n) {
			snprintf(err, errlen, "%.400s: write failed", path);
			mp_out_discard(o);
			return -1;
		}
		if (mp_out_commit(o, err, errlen) < 0)
			return -1;
	}
	return 0;
}

/* What the cache holds for t, verified; NULL when nothing (or nothing good: said so). */
static mp_fetch_blob *read_cache(mp_fetch *f, target *t)
{
	char path[4096], *data = NULL, *etag = NULL;
	size_t len = 0, elen = 0;
	mp_diags d = {0};
	struct stat st;
	cache_path(f, t, "", path, sizeof(path));
	if (stat(path, &st) < 0)
		return NULL;
	mp_fetch_blob *b = NULL;
	if (mp_files_read(path, f->cfg->bundle_max, &data, &len, &d) == 0) {
		char *copy = malloc(len + 1);
		if (copy)
			memcpy(copy, data, len + 1);
		cache_path(f, t, ".etag", path, sizeof(path));
		mp_diags ed = {0};
		if (mp_files_read(path, 255, &etag, &elen, &ed) < 0)
			etag = NULL;
		mp_diags_free(&ed);
		b = copy ? blob_new(copy, len, etag, "cache") : NULL;
		if (b && verify(f, t, b, &d) < 0) {
			blob_release(b);
			b = NULL;
		}
	}
	if (!b) {
		fprintf(stderr, "meshpol serve: %s: the cached %s is not used:\n", t->label,
		        t->what);
		mp_diags_print(&d, stderr);
	}
	mp_free(data);
	mp_free(etag);
	mp_diags_free(&d);
	return b;
}

/* --- polling --- */

/* Uniform in [0, 1), from a generator seeded by OpenSSL: replicas must not poll in step. */
static double uniform(mp_fetch *f)
{
	f->rng = f->rng * 6364136223846793005u + 1442695040888963407u;
	return (double)(f->rng >> 11) / 9007199254740992.0;
}

/* Seconds until the next poll of t: half the interval to all of it; after failures, the
 * interval doubled for each (to a cap), jittered the same way. */
static double next_delay(mp_fetch *f, int failures)
{
	double base = f->cfg->bundle_poll, cap = base > BACKOFF_CAP_S ? base : BACKOFF_CAP_S;
	for (int i = 0; i < failures && base < cap; i++)
		base *= 2;
	if (base > cap)
		base = cap;
	return base * (0.5 + 0.5 * uniform(f));
}

static void note_error(mp_fetch *f, target *t, const char *msg, int transport)
{
	pthread_mutex_lock(&f->lock);
	int repeat = !strcmp(t->last_error, msg) && (transport ? t->unreachable : t->rejected);
	snprintf(t->last_error, sizeof(t->last_error), "%s", msg);
	t->last_error_at = time(NULL);
	if (transport) {
		t->errors++;
		t->unreachable = 1;
	} else {
		t->refused++;
		t->rejected = 1;
	}
	pthread_mutex_unlock(&f->lock);
	if (!repeat) /* once per streak of the same failure: a down server must not flood the log */
		fprintf(stderr, "meshpol serve: %s: %s%s\n", t->what, msg,
		        transport ? " (still serving the last good one; retrying with backoff)"
		                  : " (refused; still serving the last good one)");
}

/* One poll of t (poll thread, or the main thread before it starts). Returns 1 when a new
 * verified download is pending, else 0. */
static int poll_target(mp_fetch *f, target *t)
{
	const mp_server_config *c = f->cfg;
	mp_httpc_opts o = {.ca = c->bundle_ca,
	                   .token_file = c->bundle_token,
	                   .stop = &f->stop,
	                   .max_body = c->bundle_max};
	mp_httpc_reply r;
	char etag[256], msg[600];
	pthread_mutex_lock(&f->lock);
	memcpy(etag, t->etag, sizeof(etag));
	t->polls++;
	t->last_attempt = time(NULL);
	pthread_mutex_unlock(&f->lock);
	if (mp_httpc_get(t->h, t->url, etag, &o, &r) < 0) {
		t->failures++;
		note_error(f, t, r.error, 1);
		return 0;
	}
	if (r.status != 200 && r.status != 304) {
		snprintf(msg, sizeof(msg), "%s: HTTP %ld", t->label, r.status);
		mp_httpc_reply_free(&r);
		t->failures++;
		note_error(f, t, msg, 1);
		return 0;
	}
	int was_down = t->failures > 0;
	t->failures = 0;
	if (was_down)
		fprintf(stderr, "meshpol serve: %s: %s answers again\n", t->what, t->label);
	if (r.status == 304) {
		pthread_mutex_lock(&f->lock);
		t->not_modified++;
		t->last_success = time(NULL);
		t->unreachable = 0;
		pthread_mutex_unlock(&f->lock);
		return 0;
	}
	/* 200: verified here, on this thread, before a reload is asked for */
	mp_fetch_blob *b = blob_new(r.body, r.len, r.etag, "url");
	r.body = NULL;
	mp_diags d = {0};
	int ok = b && verify(f, t, b, &d) == 0;
	pthread_mutex_lock(&f->lock);
	t->downloaded++;
	t->last_success = time(NULL);
	t->unreachable = 0;
	snprintf(t->etag, sizeof(t->etag), "%s", r.etag); /* refused or not: not again */
	const mp_fetch_blob *cur = t->pending ? t->pending : t->good;
	int same = ok && cur && !strcmp(cur->sha256, b->sha256);
	if (ok && !same) {
		blob_release(t->pending);
		t->pending = blob_retain(b);
		t->rejected = 0;
	} else if (same) {
		t->rejected = 0;
	}
	pthread_mutex_unlock(&f->lock);
	if (!ok) {
		char why[400];
		if (!b)
			mp_diags_error(&d, t->label, 0, 0, "out of memory");
		if (d.n > 1)
			mp_diags_print(&d, stderr);
		first_reason(&d, why, sizeof(why));
		snprintf(msg, sizeof(msg), "%.190s: %.390s", t->label, why);
		note_error(f, t, msg, 0);
	} else if (!same) {
		fprintf(stderr, "meshpol serve: %s: downloaded %s%s%s (%zu bytes, sha256 %.12s)\n",
		        t->what, t->label, *b->revision ? " revision " : "", b->revision, b->len,
		        b->sha256);
	}
	blob_release(b);
	mp_diags_free(&d);
	return ok && !same;
}

/* Writes the downloads the last builds made good into the cache (poll thread). */
static void persist(mp_fetch *f)
{
	for (int i = 0; i < f->nt; i++) {
		target *t = &f->t[i];
		char err[512];
		pthread_mutex_lock(&f->lock);
		mp_fetch_blob *b = t->persist;
		t->persist = NULL;
		pthread_mutex_unlock(&f->lock);
		if (!b)
			continue;
		int rc = f->cfg->bundle_cache ? write_cache(f, t, b, err, sizeof(err)) : 0;
		pthread_mutex_lock(&f->lock);
		snprintf(t->cache_error, sizeof(t->cache_error), "%.290s", rc < 0 ? err : "");
		pthread_mutex_unlock(&f->lock);
		if (rc < 0)
			fprintf(stderr, "meshpol serve: --bundle-cache: %s\n", err);
		blob_release(b);
	}
}

static void *poll_main(void *arg)
{
	mp_fetch *f = arg;
	struct timespec due[2];
	clock_gettime(CLOCK_MONOTONIC, &due[0]);
	due[1] = due[0];
	pthread_mutex_lock(&f->lock);
	while (!atomic_load(&f->stop)) {
		/* the earliest poll due; sleep until then, or until told to persist or stop */
		int next = f->nt > 1 &&
		           (due[1].tv_sec < due[0].tv_sec ||
		            (due[1].tv_sec == due[0].tv_sec && due[1].tv_nsec < due[0].tv_nsec));
		int any_persist = f->t[0].persist || (f->nt > 1 && f->t[1].persist);
		if (!any_persist && pthread_cond_timedwait(&f->wake, &f->lock, &due[next]) == 0)
			continue; /* woken: look again */
		pthread_mutex_unlock(&f->lock);
		persist(f);
		struct timespec now;
		clock_gettime(CLOCK_MONOTONIC, &now);
		int fresh = 0;
		for (int i = 0; i < f->nt && !atomic_load(&f->stop); i++) {
			if (now.tv_sec < due[i].tv_sec ||
			    (now.tv_sec == due[i].tv_sec && now.tv_nsec < due[i].tv_nsec))
				continue;
			fresh |= poll_target(f, &f->t[i]);
			double s = next_delay(f, f->t[i].failures);
			clock_gettime(CLOCK_MONOTONIC, &due[i]);
			due[i].tv_sec += (time_t)s;
			due[i].tv_nsec += (long)((s - (double)(time_t)s) * 1e9);
			if (due[i].tv_nsec >= 1000000000) {
				due[i].tv_sec++;
				due[i].tv_nsec -= 1000000000;
			}
		}
		if (fresh)
			event_active(f->reload_ev, EV_READ, 0);
		pthread_mutex_lock(&f->lock);
	}
	pthread_mutex_unlock(&f->lock);
	return NULL;
}

/* --- building --- */

mp_engine *mp_fetch_open(mp_fetch *f, mp_diags *d, mp_fetch_used *used)
{
	const mp_server_config *c = f->cfg;
	mp_barchive *a = NULL;
	mp_model *m = NULL;
	mp_bundle *b = NULL;
	char err[512];
	pthread_mutex_lock(&f->lock);
	target *tb = &f->t[T_BUNDLE], *tm = f->nt > 1 ? &f->t[T_MODEL] : NULL;
	used->bundle = blob_retain(tb->pending ? tb->pending : tb->good);
	used->model = tm ? blob_retain(tm->pending ? tm->pending : tm->good) : NULL;
	pthread_mutex_unlock(&f->lock);
	/* verified again: the bytes are in memory, and it costs little next to loading */
	mp_barchive_limits lim = {.max_archive = c->bundle_max};
	if (used->bundle &&
	    (!(a = mp_barchive_read(tb->label, used->bundle->data, used->bundle->len, &lim, d)) ||
	     mp_barchive_check(a, c->bundle_pubkey, d) < 0))
		goto fail;
	if (c->model)
		m = mp_model_open(c->model, d);
	else if (tm && used->model)
		m = (m = mp_model_load_mem(used->model->data, used->model->len, err, sizeof(err)))
		        ? m
		        : (mp_diags_error(d, tm->label, 0, 0, "%s", err), NULL);
	else if (tm)
		mp_diags_error(d, tm->label, 0, 0, "no model downloaded yet");
	else if (a)
		m = mp_barchive_model(a, d);
	else
		mp_diags_error(
		    d, NULL, 0, 0,
		    "no model: give -m MODEL or --model-url URL, or serve a bundle built "
		    "with one (meshpol bundle build -m)");
	if (!m)
		goto fail;
	if (a)
		b = mp_barchive_bundle(a, m, NULL, d);
	else if (c->bundle)
		b = mp_bundle_load(c->bundle, m, NULL, d);
	else
		mp_diags_error(d, tb->label, 0, 0, "no bundle downloaded yet");
	if (!b)
		goto fail;
	mp_barchive_free(a);
	return mp_engine_new_diags(m, b, d);
fail:
	mp_model_free(m);
	mp_barchive_free(a);
	return NULL;
}

void mp_fetch_release(mp_fetch_used *used)
{
	blob_release(used->bundle);
	blob_release(used->model);
	used->bundle = used->model = NULL;
}

void mp_fetch_built(mp_fetch *f, const mp_fetch_used *used, int ok, const mp_diags *d)
{
	char why[400];
	mp_fetch_blob *blobs[2] = {used->bundle, used->model};
	first_reason(d, why, sizeof(why));
	pthread_mutex_lock(&f->lock);
	for (int i = 0; i < f->nt; i++) {
		target *t = &f->t[i];
		mp_fetch_blob *b = blobs[i];
		if (!b)
			continue;
		if (t->pending == b) {
			t->pending = NULL;
			blob_release(b); /* the pending reference */
		}
		if (ok && t->good != b) {
			blob_release(t->good);
			t->good = blob_retain(b);
			t->activated++;
			t->activated_at = time(NULL);
			if (strcmp(b->from, "cache")) { /* the cache has it already */
				blob_release(t->persist);
				t->persist = blob_retain(b);
			}
		} else if (!ok && t->good != b) {
			t->refused++;
			t->rejected = 1;
			snprintf(t->last_error, sizeof(t->last_error),
			         "%s%.128s does not load: %.240s",
			         *b->revision ? "revision " : "the download", b->revision, why);
			t->last_error_at = time(NULL);
		}
	}
	pthread_cond_signal(&f->wake);
	pthread_mutex_unlock(&f->lock);
}

/* --- set-up --- */

static int init_target(mp_fetch *f, target *t, const char *what, const char *url, const char *cache)
{
	t->what = what;
	t->url = url;
	t->cache = cache;
	mp_httpc_redact(url, t->label, sizeof(t->label));
	if (!(t->h = mp_httpc_new()))
		return -1;
	if (f->cfg->bundle_cache && (t->pending = read_cache(f, t)))
		snprintf(t->etag, sizeof(t->etag), "%s", t->pending->etag);
	return 0;
}

mp_fetch *mp_fetch_new(mp_server *srv, char *err, size_t errlen)
{
	const mp_server_config *c = srv->cfg;
	struct stat st;
	char why[512], id[65];
	mp_fetch *f = mp_calloc(1, sizeof(*f));
	if (!f) {
		snprintf(err, errlen, "--bundle-url: out of memory");
		return NULL;
	}
	f->srv = srv;
	f->cfg = c;
	pthread_mutex_init(&f->lock, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&f->wake, &ca);
	pthread_condattr_destroy(&ca);
	if (RAND_bytes((unsigned char *)&f->rng, sizeof(f->rng)) != 1)
		f->rng = (uint64_t)time(NULL) ^ (uint64_t)getpid();
	if (c->bundle_pubkey && mp_trail_key_id(c->bundle_pubkey, id, why, sizeof(why)) < 0) {
		snprintf(err, errlen, "--bundle-pubkey: %s", why);
		goto fail;
	}
	if (c->bundle_cache && (stat(c->bundle_cache, &st) < 0 || !S_ISDIR(st.st_mode))) {
		snprintf(err, errlen, "--bundle-cache: %s: not a directory", c->bundle_cache);
		goto fail;
	}
	f->nt = c->model_url ? 2 : 1;
	if (init_target(f, &f->t[T_BUNDLE], "bundle", c->bundle_url, "bundle.tar.gz") < 0 ||
	    (c->model_url &&
	     init_target(f, &f->t[T_MODEL], "model", c->model_url, "model.mpm") < 0)) {
		snprintf(err, errlen, "--bundle-url: out of memory");
		goto fail;
	}
	return f;
fail:
	mp_fetch_free(f);
	return NULL;
}

/* What is missing to build a snapshot: "" when a bundle (downloaded or -p) and a model (-m,
 * downloaded, or the bundle archive's own) are there, else "a bundle", "a model" or both. */
static const char *missing(mp_fetch *f)
{
	pthread_mutex_lock(&f->lock);
	const target *tb = &f->t[T_BUNDLE], *tm = f->nt > 1 ? &f->t[T_MODEL] : NULL;
	int bundle = tb->pending || tb->good || f->cfg->bundle;
	int model = f->cfg->model || (tm ? tm->pending || tm->good : tb->pending || tb->good);
	pthread_mutex_unlock(&f->lock);
	return bundle && model ? ""
	       : bundle        ? "a model"
	       : model         ? "a bundle"
	                       : "a bundle and a model";
}

/* Sleeps s seconds, or until SIGTERM or SIGINT (blocked by the caller); 1 when one came. */
static int sleep_or_signal(double s)
{
	sigset_t stop;
	sigemptyset(&stop);
	sigaddset(&stop, SIGTERM);
	sigaddset(&stop, SIGINT);
	struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
	int sig = sigtimedwait(&stop, NULL, &ts);
	if (sig > 0)
		fprintf(stderr, "meshpol serve: %s while waiting for a bundle: stopping\n",
		        sig == SIGTERM ? "SIGTERM" : "SIGINT");
	return sig > 0;
}

mp_engine *mp_fetch_first(mp_fetch *f, mp_diags *d)
{
	sigset_t stop, old;
	mp_engine *e = NULL;
	sigemptyset(&stop);
	sigaddset(&stop, SIGTERM);
	sigaddset(&stop, SIGINT);
	/* no control loop yet: a stop signal while waiting is taken here */
	pthread_sigmask(SIG_BLOCK, &stop, &old);
	for (int said = 0;;) {
		const char *lack = missing(f);
		if (!*lack) {
			mp_fetch_used used = {0};
			mp_diags bd = {0};
			e = mp_fetch_open(f, &bd, &used);
			if (e && mp_reload_validate(e, &bd) < 0) {
				mp_engine_release(e);
				e = NULL;
			}
			mp_fetch_built(f, &used, e != NULL, &bd);
			mp_fetch_release(&used);
			if (!e)
				mp_diags_print(&bd, stderr);
			mp_diags_free(&bd);
			if (e)
				break;
			lack = missing(f);
		}
		if (*lack && !said++)
			fprintf(stderr,
			        "meshpol serve: waiting for %s that verifies and loads: polling "
			        "%s before listening\n",
			        lack, f->t[T_BUNDLE].label);
		/* poll (a refused download's ETag forgotten: it may load with another model) */
		int failures = 0;
		for (int i = 0; i < f->nt; i++) {
			target *t = &f->t[i];
			pthread_mutex_lock(&f->lock);
			if (!t->pending && !t->good)
				t->etag[0] = '\0';
			pthread_mutex_unlock(&f->lock);
			poll_target(f, t);
			failures = t->failures > failures ? t->failures : failures;
		}
		persist(f);
		if (!*missing(f) && !failures)
			continue;
		if (sleep_or_signal(next_delay(f, failures))) {
			f->stopped = 1;
			break;
		}
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (!e && !f->stopped)
		mp_diags_error(d, NULL, 0, 0, "no bundle to serve");
	return e;
}

int mp_fetch_stopped(const mp_fetch *f)
{
	return f->stopped;
}

static void on_reload(int fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	mp_reload_start(arg, "fetch");
}

int mp_fetch_start(mp_fetch *f, struct event_base *control, char *err, size_t errlen)
{
	if (!(f->reload_ev = event_new(control, -1, 0, on_reload, f->srv)) ||
	    mp_server_spawn(&f->thread, poll_main, f) != 0) {
		snprintf(err, errlen, "--bundle-url: cannot start the poll thread");
		return -1;
	}
	f->started = 1;
	return 0;
}

void mp_fetch_stop(mp_fetch *f)
{
	if (!f || !f->started)
		return;
	pthread_mutex_lock(&f->lock);
	atomic_store(&f->stop, 1);
	pthread_cond_signal(&f->wake);
	pthread_mutex_unlock(&f->lock);
	pthread_join(f->thread, NULL);
	f->started = 0;
}

void mp_fetch_free(mp_fetch *f)
{
	if (!f)
		return;
	mp_fetch_stop(f);
	for (int i = 0; i < 2; i++) {
		mp_httpc_free(f->t[i].h);
		blob_release(f->t[i].pending);
		blob_release(f->t[i].good);
		blob_release(f->t[i].persist);
	}
	if (f->reload_ev)
		event_free(f->reload_ev);
	pthread_mutex_destroy(&f->lock);
	pthread_cond_destroy(&f->wake);
	mp_free(f);
}

/* --- status --- */

static json_t *target_json(const target *t)
{
	char at[32];
	const mp_fetch_blob *g = t->good;
	json_t *o = json_pack("{s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:I}", "url", t->label, "status",
	                      t->unreachable ? "unreachable"
	                      : t->rejected  ? "refused"
	                      : g            ? "ok"
	                                     : "waiting",
	                      "polls", (json_int_t)t->polls, "not_modified",
	                      (json_int_t)t->not_modified, "downloaded", (json_int_t)t->downloaded,
	                      "activated", (json_int_t)t->activated, "refused",
	                      (json_int_t)t->refused, "errors", (json_int_t)t->errors);
	if (g) {
		json_object_set_new(o, "from", json_string(g->from));
		json_object_set_new(o, "etag", json_string(g->etag));
		json_object_set_new(o, "sha256", json_string(g->sha256));
		if (*g->revision)
			json_object_set_new(o, "revision", json_string(g->revision));
	}
	iso_time(t->last_success, at);
	json_object_set_new(o, "last_success", t->last_success ? json_string(at) : json_null());
	iso_time(t->activated_at, at);
	json_object_set_new(o, "activated_at", t->activated_at ? json_string(at) : json_null());
	if (t->last_error_at) {
		iso_time(t->last_error_at, at);
		json_t *msg = json_string(t->last_error);
		json_object_set_new(o, "last_error",
		                    json_pack("{s:s, s:o}", "at", at, "message",
		                              msg ? msg : json_string("(not UTF-8)")));
	} else {
		json_object_set_new(o, "last_error", json_null());
	}
	if (*t->cache_error)
		json_object_set_new(o, "cache_error", json_string(t->cache_error));
	return o;
}

json_t *mp_fetch_health(mp_fetch *f, json_t *problems, int *degraded)
{
	json_t *o = NULL;
	pthread_mutex_lock(&f->lock);
	for (int i = f->nt - 1; i >= 0; i--) {
		const target *t = &f->t[i];
		json_t *j = target_json(t);
		if (i == T_MODEL)
			o = j;
		else {
			if (o)
				json_object_set_new(j, "model", o);
			o = j;
		}
		if (t->unreachable || t->rejected) {
			char msg[600];
			snprintf(msg, sizeof(msg), "%s %s: %s", t->what,
			         t->unreachable ? "server unreachable" : "download refused",
			         t->last_error);
			json_t *m = json_string(msg);
			json_array_append_new(problems,
			                      m ? m : json_string("bundle source failing"));
			*degraded = 1;
		}
	}
	pthread_mutex_unlock(&f->lock);
	return o;
}

void mp_fetch_metrics(mp_fetch *f, struct evbuffer *o)
{
	static const char *const results[] = {"downloaded", "not_modified", "refused", "error"};
	pthread_mutex_lock(&f->lock);
	evbuffer_add_printf(o, "# HELP meshpol_bundle_polls_total Polls of --bundle-url and "
	                       "--model-url, by target and result.\n"
	                       "# TYPE meshpol_bundle_polls_total counter\n");
	for (int i = 0; i < f->nt; i++) {
		const target *t = &f->t[i];
		uint64_t n[] = {t->downloaded, t->not_modified, t->refused, t->errors};
		for (int k = 0; k < 4; k++)
			evbuffer_add_printf(
			    o,
			    "meshpol_bundle_polls_total{target=\"%s\",result=\"%s\"} "
			    "%" PRIu64 "\n",
			    t->what, results[k], n[k]);
	}
	static const struct {
		const char *name, *help;
	} gauges[] = {
	    {"meshpol_bundle_activated_total",
	     "Downloads swapped in (counter): a new bundle or model serving."},
	    {"meshpol_bundle_last_success_timestamp_seconds",
	     "When the server last answered a poll (Unix time; 0: never)."},
	    {"meshpol_bundle_last_error_timestamp_seconds",
	     "When a poll last failed or a download was refused (Unix time; 0: never)."},
	    {"meshpol_bundle_failing",
	     "1 while the server is unreachable or its download refused."},
	};
	for (size_t g = 0; g < sizeof(gauges) / sizeof(gauges[0]); g++) {
		evbuffer_add_printf(o, "# HELP %s %s\n# TYPE %s %s\n", gauges[g].name,
		                    gauges[g].help, gauges[g].name, g == 0 ? "counter" : "gauge");
		for (int i = 0; i < f->nt; i++) {
			const target *t = &f->t[i];
			uint64_t v = g == 0   ? t->activated
			             : g == 1 ? (uint64_t)t->last_success
			             : g == 2 ? (uint64_t)t->last_error_at
			                      : (uint64_t)(t->unreachable || t->rejected);
			evbuffer_add_printf(o, "%s{target=\"%s\"} %" PRIu64 "\n", gauges[g].name,
			                    t->what, v);
		}
	}
	pthread_mutex_unlock(&f->lock);
}
