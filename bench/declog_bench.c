/* declog_bench.c: the decision log's cost per record, in process: encoding a record (the decision
 * and its input, as server/api.c's encode_record writes it) and chaining it (framing, SHA-256,
 * the write). Each figure is set beside the way it was done before, measured in the same run:
 *   encode  the input written straight into the record, masked on the way (server/loginput.c),
 *           against masking the parsed tree in place and json_dumps of it (sorted, ASCII);
 *   proxy   the same record around a proxy's request (mp_loginput_proxy: GET /v1/check/ with Host
 *           and XFCC, as bench/server_bench.sh's check row), no comparison;
 *   chain   mp_trail_append_encoded on a chain kept in memory (frame, hash, hex of the head);
 *   write   to a file in /tmp (or $TMPDIR): one write(2) per record, against mp_trail_hold /
 *           mp_trail_flush every BATCH records (the log's writer batches what is queued).
 * The record is the server's for examples/requests/allow-checkout-charge.json decided against
 * examples/acme and the reference bundle, with the reference masks plus two of the bench's.
 * Usage: declog_bench [RECORDS] (default 200000); prints one line of key=value figures. */
#include "alloc.h"
#include "decide.h"
#include "decision_json.h"
#include "engine.h"
#include "jsonbuf.h"
#include "loginput.h"
#include "proxyreq.h"
#include "trail.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define BATCH 64

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The record around an input written by how (0: json_dumps of the masked tree, 1: direct, 2: the
 * proxy request px). */
static void encode(mp_jsonbuf *b, const mp_engine *e, const mp_decision *d, json_t *in,
                   const mp_proxyreq *px, const mp_bundle *mask, int how)
{
	mp_jsonbuf_init(b, NULL, 0);
	mp_jsonbuf_grow(b, 2048);
	b->ascii = 1;
	MP_JSONBUF_LIT(b, "{\"decision\":");
	mp_decision_json_write(b, e, d, "0193f0c2-0000-4000-8000-000000000000",
	                       MP_DECISION_JSON_SORTED);
	MP_JSONBUF_LIT(b, ",\"endpoint\":\"/v1/decide\",\"input\":");
	if (how == 2) {
		mp_loginput_proxy(b, px, mask);
	} else if (how) {
		mp_loginput_json(b, in, mask);
	} else {
		mp_loginput_mask(in, mask);
		char *text = json_dumps(in, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENSURE_ASCII);
		mp_jsonbuf_raw(b, text, strlen(text));
		free(text);
	}
	MP_JSONBUF_LIT(b, ",\"latency_ns\":1234}");
}

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 200000;
	mp_diags diags = {0};
	mp_engine *e = mp_engine_open("../examples/acme", "../policies", &diags);
	mp_evaluator *ev = e ? mp_evaluator_new(e, NULL, &diags) : NULL;
	json_error_t je;
	json_t *in = json_load_file("../examples/requests/allow-checkout-charge.json", 0, &je);
	mp_request r;
	mp_header hbuf[MP_REQUEST_MAX_HEADERS];
	char err[300], path[] = "/tmp/declog_bench.XXXXXX";
	if (!ev || !in || mp_request_from_json(in, &r, hbuf, err, sizeof(err)) < 0) {
		mp_diags_print(&diags, stderr);
		fprintf(stderr,
		        "declog_bench: cannot load the engine or the request (run from bench/)\n");
		return 1;
	}
	mp_decision d;
	mp_decide(ev, &r, &d, NULL);
	/* the bundle's masks and two more that apply to this input */
	const mp_bundle *bn = e->bundle;
	const char *masks[16];
	mp_bundle mask = *bn;
	uint32_t nm = 0;
	for (uint32_t i = 0; i < bn->nmask && nm < 14; i++)
		masks[nm++] = bn->mask[i];
	masks[nm++] = "request.headers.x-request-id";
	masks[nm++] = "source.principal";
	mask.mask = masks;
	mask.nmask = nm;

	/* the check row's request: GET /v1/check/v1/charges/ch_42, Host and XFCC (and wrk's none
	 * else) */
	static mp_proxyreq px;
	px.headers[0] = (mp_header){"Host", "payments.billing:8080"};
	px.headers[1] = (mp_header){"x-forwarded-client-cert",
	                            "By=spiffe://acme.io/ns/billing/sa/payments;URI=spiffe://"
	                            "acme.io/ns/shop/sa/checkout"};
	px.r.headers = px.headers;
	px.r.nheaders = 2;
	px.r.dst_service = "payments";
	px.r.dst_namespace = "billing";
	px.r.port = 8080;
	px.r.method = "GET";
	px.r.path = "/v1/charges/ch_42";
	px.r.principal = "spiffe://acme.io/ns/shop/sa/checkout";

	uint64_t t[3];
	size_t bytes[3] = {0, 0, 0};
	for (int how = 0; how < 3; how++) {
		uint64_t t0 = now_ns();
		for (long i = 0; i < n; i++) {
			mp_jsonbuf b;
			encode(&b, e, &d, in, &px, &mask, how);
			bytes[how] = b.len;
			mp_jsonbuf_free(&b);
		}
		t[how] = now_ns() - t0;
	}
	mp_jsonbuf rec;
	encode(&rec, e, &d, in, &px, &mask, 1);
	if (bytes[0] != bytes[1]) {
		fprintf(stderr, "declog_bench: the two encoders disagree (%zu and %zu bytes)\n",
		        bytes[0], bytes[1]);
		return 1;
	}

	/* chaining in memory: frame, hash, hex */
	mp_trail *mem = mp_trail_open(NULL, NULL, err, sizeof(err));
	uint64_t c0 = now_ns();
	for (long i = 0; mem && i < n; i++)
		mp_trail_append_encoded(mem, "decision", rec.p, rec.len, err, sizeof(err));
	uint64_t chain = now_ns() - c0;
	mp_trail_close(mem);

	/* to a file: a write(2) each, or one per BATCH */
	uint64_t w[2];
	for (int batched = 0; batched < 2; batched++) {
		int fd = mkstemp(path);
		close(fd);
		unlink(path);
		mp_trail *t = mp_trail_open(path, NULL, err, sizeof(err));
		if (!t) {
			fprintf(stderr, "declog_bench: %s\n", err);
			return 1;
		}
		uint64_t w0 = now_ns();
		for (long i = 0; i < n; i++) {
			if (batched && i % BATCH == 0)
				mp_trail_hold(t);
			mp_trail_append_encoded(t, "decision", rec.p, rec.len, err, sizeof(err));
			if (batched && i % BATCH == BATCH - 1)
				mp_trail_flush(t, err, sizeof(err));
		}
		mp_trail_flush(t, err, sizeof(err));
		w[batched] = now_ns() - w0;
		mp_trail_close(t);
		unlink(path);
		memcpy(path + strlen(path) - 6, "XXXXXX", 6);
	}
	printf("records=%ld record_bytes=%zu encode_tree_ns=%.0f encode_direct_ns=%.0f "
	       "encode_ratio=%.2f proxy_bytes=%zu encode_proxy_ns=%.0f chain_ns=%.0f "
	       "write_each_ns=%.0f write_batched_ns=%.0f write_ratio=%.2f\n",
	       n, rec.len, (double)t[0] / n, (double)t[1] / n, (double)t[1] / (double)t[0],
	       bytes[2], (double)t[2] / n, (double)chain / n, (double)w[0] / n, (double)w[1] / n,
	       (double)w[1] / (double)w[0]);
	mp_jsonbuf_free(&rec);
	json_decref(in);
	mp_evaluator_free(ev);
	mp_engine_release(e);
	mp_diags_free(&diags);
	return 0;
}
