/* metrics.c: counting what the server does, and GET /metrics in the Prometheus text format
 * (version 0.0.4). Every metric is listed in docs/server.md ("Metrics"). */
#include "metrics.h"
#include "decide.h"
#include "fetch.h"
#include "logship.h"
#include "reload.h"
#include "server_int.h"
#include "shadow.h"
#include "version.h"

#include <event2/buffer.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static const uint64_t bucket_ns[MP_METRICS_NBUCKETS] = {
    5000,    10000,   25000,   50000,    100000,   250000,    500000,
    1000000, 2500000, 5000000, 10000000, 25000000, 100000000, 1000000000,
};
static const char *const bucket_le[MP_METRICS_NBUCKETS] = {
    "5e-06", "1e-05",  "2.5e-05", "5e-05", "0.0001", "0.00025", "0.0005",
    "0.001", "0.0025", "0.005",   "0.01",  "0.025",  "0.1",     "1",
};
static const int status_codes[MP_METRICS_NSTATUS - 1] = {200, 400, 401, 403, 404,
                                                         405, 413, 422, 500, 503};
static const char *const endpoint_names[MP_EP_COUNT] = {"decide", "check", "data", "nginx", "grpc"};
static const char *const grpc_codes[MP_METRICS_NGRPC] = {
    "OK",        "CANCELLED",      "UNKNOWN",           "INVALID_ARGUMENT",   "DEADLINE_EXCEEDED",
    "NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
    "ABORTED",   "OUT_OF_RANGE",   "UNIMPLEMENTED",     "INTERNAL",           "UNAVAILABLE",
    "DATA_LOSS", "UNAUTHENTICATED"};

void mp_metrics_decision(mp_metrics *m, int endpoint, uint32_t effect, uint64_t ns)
{
	int b = 0;
	while (b < MP_METRICS_NBUCKETS && ns > bucket_ns[b])
		b++;
	mp_metrics_add(&m->decisions[endpoint][effect < 3 ? effect : 2], 1);
	mp_metrics_add(&m->latency[b], 1);
	mp_metrics_add(&m->latency_sum_ns, ns);
	mp_metrics_add(&m->latency_count, 1);
}

void mp_metrics_status(mp_metrics *m, int code)
{
	int i = 0;
	while (i < MP_METRICS_NSTATUS - 1 && status_codes[i] != code)
		i++;
	mp_metrics_add(&m->status[i], 1);
}

#define LOAD(x) atomic_load_explicit(&(x), memory_order_relaxed)

static const mp_metrics layout; /* where each counter is in a set */

static uint64_t load_at(const mp_worker *w, size_t off)
{
	return LOAD(*(const _Atomic uint64_t *)((const char *)&w->metrics + off));
}

/* The sum of one counter over every worker and the admin listener's set: field is the
 * counter in `layout`. (A replaced worker's counts went on in its replacement's.) */
static uint64_t sum_at(mp_server *srv, const _Atomic uint64_t *field)
{
	size_t off = (size_t)((const char *)field - (const char *)&layout);
	uint64_t s = srv->admin ? load_at(srv->admin, off) : 0;
	for (int i = 0; i < srv->nworkers; i++)
		s += load_at(mp_server_worker(srv, i), off);
	return s;
}
#define SUM(srv, field) sum_at(srv, &layout.field)

static void header(struct evbuffer *o, const char *name, const char *type, const char *help)
{
	evbuffer_add_printf(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A label value: backslash, double quote and newline escaped (other bytes are ours). */
static void label(struct evbuffer *o, const char *v)
{
	for (; v && *v; v++) {
		if (*v == '\\' || *v == '"')
			evbuffer_add_printf(o, "\\%c", *v);
		else if (*v == '\n')
			evbuffer_add(o, "\\n", 2);
		else
			evbuffer_add(o, v, 1);
	}
}

static long resident_bytes(void)
{
	long pages = 0, rss = 0;
	FILE *f = fopen("/proc/self/statm", "r");
	if (!f)
		return 0;
	if (fscanf(f, "%ld %ld", &pages, &rss) != 2)
		rss = 0;
	fclose(f);
	return rss * sysconf(_SC_PAGESIZE);
}

void mp_metrics_render(mp_server *srv, struct evbuffer *o)
{
	header(o, "meshpol_decisions_total", "counter", "Decisions made, by endpoint and effect.");
	for (int e = 0; e < MP_EP_COUNT; e++)
		for (int f = 0; f < 3; f++)
			evbuffer_add_printf(
			    o,
			    "meshpol_decisions_total{endpoint=\"%s\",effect=\"%s\"} "
			    "%" PRIu64 "\n",
			    endpoint_names[e], mp_effect_name((uint32_t)f),
			    SUM(srv, decisions[e][f]));

	header(o, "meshpol_decision_duration_seconds", "histogram",
	       "Time from a decision request's arrival in its handler to its reply being queued.");
	uint64_t cum = 0;
	for (int b = 0; b <= MP_METRICS_NBUCKETS; b++) {
		cum += SUM(srv, latency[b]);
		evbuffer_add_printf(
		    o, "meshpol_decision_duration_seconds_bucket{le=\"%s\"} %" PRIu64 "\n",
		    b < MP_METRICS_NBUCKETS ? bucket_le[b] : "+Inf", cum);
	}
	evbuffer_add_printf(o, "meshpol_decision_duration_seconds_sum %.9f\n",
	                    (double)SUM(srv, latency_sum_ns) / 1e9);
	evbuffer_add_printf(o, "meshpol_decision_duration_seconds_count %" PRIu64 "\n",
	                    SUM(srv, latency_count));

	header(o, "meshpol_http_responses_total", "counter",
	       "Replies the server sent, by status (libevent's own parser errors not included).");
	for (int i = 0; i < MP_METRICS_NSTATUS; i++) {
		uint64_t n = SUM(srv, status[i]);
		if (i < MP_METRICS_NSTATUS - 1)
			evbuffer_add_printf(
			    o, "meshpol_http_responses_total{code=\"%d\"} %" PRIu64 "\n",
			    status_codes[i], n);
		else
			evbuffer_add_printf(
			    o, "meshpol_http_responses_total{code=\"other\"} %" PRIu64 "\n", n);
	}
	if (srv->cfg->grpc_listen) {
		header(o, "meshpol_grpc_responses_total", "counter",
		       "gRPC calls answered (--grpc-listen), by grpc-status (a denial is OK: the "
		       "CheckResponse says it).");
		for (int i = 0; i < MP_METRICS_NGRPC; i++)
			evbuffer_add_printf(
			    o, "meshpol_grpc_responses_total{code=\"%s\"} %" PRIu64 "\n",
			    grpc_codes[i], SUM(srv, grpc_status[i]));
		header(o, "meshpol_grpc_streams_reset_total", "counter",
		       "gRPC streams reset before their reply was sent (by the client, or for a "
		       "protocol error).");
		evbuffer_add_printf(o, "meshpol_grpc_streams_reset_total %" PRIu64 "\n",
		                    SUM(srv, grpc_resets));
	}
	header(o, "meshpol_bad_requests_total", "counter",
	       "Requests refused with 400: invalid JSON, a missing or mistyped field.");
	evbuffer_add_printf(o, "meshpol_bad_requests_total %" PRIu64 "\n", SUM(srv, bad_requests));
	header(o, "meshpol_errors_total", "counter",
	       "Faults: an evaluator for a new snapshot could not be made (out of memory).");
	evbuffer_add_printf(o, "meshpol_errors_total %" PRIu64 "\n", SUM(srv, evaluator_errors));

	header(o, "meshpol_decisions_failed_closed_total", "counter",
	       "Requests answered fail-closed (never allowed) instead of with their decision: the "
	       "decision log could not take the record, or the watchdog gave up on the worker.");
	evbuffer_add_printf(o,
	                    "meshpol_decisions_failed_closed_total{reason=\"decision_log\"} "
	                    "%" PRIu64 "\n",
	                    SUM(srv, failed_closed));
	evbuffer_add_printf(o,
	                    "meshpol_decisions_failed_closed_total{reason=\"watchdog\"} "
	                    "%" PRIu64 "\n",
	                    LOAD(srv->watchdog_failed_closed));
	header(o, "meshpol_watchdog_interrupts_total", "counter",
	       "Requests whose Lua the watchdog interrupted after --request-timeout.");
	evbuffer_add_printf(o, "meshpol_watchdog_interrupts_total %" PRIu64 "\n",
	                    LOAD(srv->watchdog_interrupts));
	header(o, "meshpol_watchdog_workers_replaced_total", "counter",
	       "Workers the watchdog gave up on and replaced (stuck past the grace period).");
	evbuffer_add_printf(o, "meshpol_watchdog_workers_replaced_total %" PRIu64 "\n",
	                    LOAD(srv->watchdog_replaced));

	header(o, "meshpol_when_calls_total", "counter", "Calls of rules' `when` functions.");
	evbuffer_add_printf(o, "meshpol_when_calls_total %" PRIu64 "\n", SUM(srv, when_calls));
	header(o, "meshpol_when_errors_total", "counter",
	       "`when` functions that failed or ran out of budget (the request was denied).");
	evbuffer_add_printf(o, "meshpol_when_errors_total %" PRIu64 "\n", SUM(srv, when_errors));

	header(o, "meshpol_connections_open", "gauge", "Client connections open now.");
	evbuffer_add_printf(o, "meshpol_connections_open %d\n", atomic_load(&srv->conns_open));
	header(
	    o, "meshpol_worker_connections_open", "gauge",
	    "Client connections open now, by the worker that accepted them (whichever wakes first "
	    "takes a connection: all of a burst often land on one).");
	for (int i = 0; i < srv->nworkers; i++)
		evbuffer_add_printf(o, "meshpol_worker_connections_open{worker=\"%d\"} %d\n", i,
		                    atomic_load(&mp_server_worker(srv, i)->conns_mine));
	header(o, "meshpol_connections_total", "counter", "Client connections accepted.");
	evbuffer_add_printf(o, "meshpol_connections_total %" PRIu64 "\n", SUM(srv, conns_accepted));
	header(o, "meshpol_connections_refused_total", "counter",
	       "Connections refused over --max-connections (503, then closed).");
	evbuffer_add_printf(o, "meshpol_connections_refused_total %" PRIu64 "\n",
	                    SUM(srv, conns_rejected));
	header(o, "meshpol_connections_timed_out_total", "counter",
	       "Connections closed because a request did not arrive within --read-timeout.");
	evbuffer_add_printf(o, "meshpol_connections_timed_out_total %" PRIu64 "\n",
	                    SUM(srv, conns_timed_out));

	pthread_mutex_lock(&srv->status_lock);
	mp_reload_status st = srv->status;
	pthread_mutex_unlock(&srv->status_lock);
	header(o, "meshpol_reloads_total", "counter",
	       "Reloads, by result (unchanged: the same model and bundle hashes).");
	evbuffer_add_printf(o, "meshpol_reloads_total{result=\"ok\"} %" PRIu64 "\n", st.ok);
	evbuffer_add_printf(o, "meshpol_reloads_total{result=\"unchanged\"} %" PRIu64 "\n",
	                    st.unchanged);
	evbuffer_add_printf(o, "meshpol_reloads_total{result=\"failed\"} %" PRIu64 "\n", st.failed);
	header(o, "meshpol_snapshot_loaded_timestamp_seconds", "gauge",
	       "When the snapshot serving now was loaded (Unix time).");
	evbuffer_add_printf(o, "meshpol_snapshot_loaded_timestamp_seconds %lld\n",
	                    (long long)st.loaded_at);
	header(o, "meshpol_reload_last_failure_timestamp_seconds", "gauge",
	       "When a reload last failed (Unix time; 0: never).");
	evbuffer_add_printf(o, "meshpol_reload_last_failure_timestamp_seconds %lld\n",
	                    (long long)st.last_failure);

	mp_engine *e = mp_reload_acquire(srv);
	const mp_bundle *b = e->bundle;
	header(o, "meshpol_snapshot_info", "gauge",
	       "The snapshot serving now: bundle name, revision and SHA-256, model SHA-256.");
	evbuffer_add_printf(o, "meshpol_snapshot_info{bundle_name=\"");
	label(o, b ? b->name : "");
	evbuffer_add_printf(o, "\",bundle_revision=\"");
	label(o, b ? b->revision : "");
	evbuffer_add_printf(o, "\",bundle_sha256=\"%s\",model_sha256=\"%s\"} 1\n",
	                    b ? b->sha256 : "", mp_model_sha256(e->model));
	mp_engine_release(e);
	header(o, "meshpol_build_info", "gauge", "The meshpol version serving.");
	evbuffer_add_printf(o, "meshpol_build_info{version=\"%s\"} 1\n", MP_VERSION);

	if (srv->log) {
		mp_declog_stats s;
		mp_declog_get_stats(srv->log, &s);
		header(
		    o, "meshpol_decision_log_mode", "gauge",
		    "The decision log's mode (no-drop: requests wait; drop: records are dropped).");
		evbuffer_add_printf(o, "meshpol_decision_log_mode{mode=\"%s\"} 1\n",
		                    s.drop_mode ? "drop" : "no-drop");
		header(o, "meshpol_decision_log_queue_depth", "gauge",
		       "Records waiting for the writer thread.");
		evbuffer_add_printf(o, "meshpol_decision_log_queue_depth %" PRIu64 "\n", s.depth);
		header(o, "meshpol_decision_log_queue_capacity", "gauge", "The queue's capacity.");
		evbuffer_add_printf(o, "meshpol_decision_log_queue_capacity %" PRIu64 "\n",
		                    s.capacity);
		header(o, "meshpol_decision_log_records_written_total", "counter",
		       "Records written to the decision log.");
		evbuffer_add_printf(o, "meshpol_decision_log_records_written_total %" PRIu64 "\n",
		                    s.written);
		header(o, "meshpol_decision_log_dropped_total", "counter",
		       "Records dropped because the queue was full (drop mode only).");
		evbuffer_add_printf(o, "meshpol_decision_log_dropped_total %" PRIu64 "\n",
		                    s.dropped);
		header(o, "meshpol_decision_log_errors_total", "counter",
		       "Records that could not be encoded or written, and failed fsyncs.");
		evbuffer_add_printf(o, "meshpol_decision_log_errors_total %" PRIu64 "\n", s.errors);
		header(o, "meshpol_decision_log_failed_total", "counter",
		       "Records whose write failed (disk full, file too large, I/O error).");
		evbuffer_add_printf(o, "meshpol_decision_log_failed_total %" PRIu64 "\n", s.failed);
		header(o, "meshpol_decision_log_refused_total", "counter",
		       "Records not written because the log was unavailable after a failed write "
		       "(no-drop mode: their requests failed closed).");
		evbuffer_add_printf(o, "meshpol_decision_log_refused_total %" PRIu64 "\n",
		                    s.refused);
		header(
		    o, "meshpol_decision_log_available", "gauge",
		    "1 while the log takes records; 0 after a failed write (no-drop mode) until a "
		    "reload retries it.");
		evbuffer_add_printf(o, "meshpol_decision_log_available %d\n", !s.unavailable);
	}

	mp_shadow_metrics(srv, o);
	if (srv->fetch)
		mp_fetch_metrics(srv->fetch, o);
	if (srv->logship)
		mp_logship_metrics(srv->logship, o);

	header(o, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.");
	evbuffer_add_printf(o, "process_resident_memory_bytes %ld\n", resident_bytes());
	header(o, "process_start_time_seconds", "gauge", "Start time of the process (Unix time).");
	evbuffer_add_printf(o, "process_start_time_seconds %lld\n", (long long)srv->started);
}
