/* metrics.h: the server's counters (one set per worker thread, summed when scraped) and the
 * Prometheus text rendering of GET /metrics. Metric names: docs/server.md ("Metrics").
 *
 * Each counter is written by its worker thread only and read by whichever worker renders
 * /metrics: relaxed atomics, so an increment is a plain load and store (no locked
 * instruction) and a scrape never sees a torn value. */
#ifndef MP_METRICS_H
#define MP_METRICS_H

#include <stdatomic.h>
#include <stdint.h>

struct evbuffer;
struct mp_server;

/* The endpoints that make decisions. */
enum { MP_EP_DECIDE = 0, MP_EP_CHECK, MP_EP_DATA, MP_EP_NGINX, MP_EP_GRPC, MP_EP_COUNT };

/* Upper bounds of the latency histogram, in nanoseconds (the last bucket is +Inf). */
#define MP_METRICS_NBUCKETS 14

/* HTTP statuses the server itself answers with, counted by code. */
#define MP_METRICS_NSTATUS 11

/* gRPC status codes (0 OK .. 16 UNAUTHENTICATED). */
#define MP_METRICS_NGRPC 17

typedef struct {
	_Atomic uint64_t decisions[MP_EP_COUNT][3]; /* [endpoint][mp_effect] */
	_Atomic uint64_t latency[MP_METRICS_NBUCKETS + 1];
	_Atomic uint64_t latency_sum_ns, latency_count;
	_Atomic uint64_t status[MP_METRICS_NSTATUS];
	_Atomic uint64_t bad_requests; /* 400s: invalid JSON or input */
	_Atomic uint64_t when_calls, when_errors;
	_Atomic uint64_t conns_accepted, conns_rejected, conns_timed_out;
	_Atomic uint64_t evaluator_errors; /* a new snapshot's evaluator could not be made */
	_Atomic uint64_t failed_closed;    /* decisions answered fail-closed: not logged */
	_Atomic uint64_t grpc_status[MP_METRICS_NGRPC]; /* gRPC calls answered, by grpc-status */
	_Atomic uint64_t grpc_resets; /* gRPC streams reset before their reply (either side) */
} mp_metrics;

/* Adds n to a counter the calling thread owns. */
static inline void mp_metrics_add(_Atomic uint64_t *c, uint64_t n)
{
	atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n,
	                      memory_order_relaxed);
}

/* One decision: its endpoint, effect and handler time. */
void mp_metrics_decision(mp_metrics *m, int endpoint, uint32_t effect, uint64_t ns);
/* One reply the server sent, by status code. */
void mp_metrics_status(mp_metrics *m, int code);

/* Appends the whole Prometheus text exposition (format 0.0.4) to out. */
void mp_metrics_render(struct mp_server *srv, struct evbuffer *out);

#endif
