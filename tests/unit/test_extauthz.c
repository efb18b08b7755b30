/* test_extauthz.c: server/extauthz.c: a CheckRequest's bytes (Envoy's field numbers, as
 * server/proto/ext_authz.proto declares them) -> the decision input, and a decision -> the
 * CheckResponse's bytes. Requests are packed by protobuf-c, or written byte by byte where a
 * packer would refuse them (a NUL inside a string, bytes that are not UTF-8). Reference:
 * docs/server.md ("gRPC ext_authz"). */
#include "alloc.h"
#include "extauthz.h"
#include "server.h"
#include "testutil.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

typedef Envoy__Service__Auth__V3__AttributeContext actx_t;
typedef Envoy__Service__Auth__V3__AttributeContext__HttpRequest__HeadersEntry hent_t;
typedef Envoy__Service__Auth__V3__AttributeContext__ContextExtensionsEntry xent_t;

/* --- building requests --- */

typedef struct {
	Envoy__Service__Auth__V3__CheckRequest req;
	actx_t ac;
	Envoy__Service__Auth__V3__AttributeContext__Peer src, dst;
	Envoy__Service__Auth__V3__Address saddr, daddr;
	Envoy__Service__Auth__V3__SocketAddress ssock, dsock;
	Envoy__Service__Auth__V3__AttributeContext__Request rq;
	Envoy__Service__Auth__V3__AttributeContext__HttpRequest http;
	Envoy__Service__Auth__V3__AttributeContext__TLSSession tls;
	Envoy__Service__Auth__V3__HeaderMap hmap;
	hent_t hent[80];
	hent_t *hp[80];
	xent_t xent[4];
	xent_t *xp[4];
	Envoy__Service__Auth__V3__HeaderValue hv[4];
	Envoy__Service__Auth__V3__HeaderValue *hvp[4];
} builder;

/* An HTTP check: checkout's principal from 10.1.2.3, POST /v1/charge to host. */
static void http_check(builder *b, const char *host)
{
	memset(b, 0, sizeof(*b));
	envoy__service__auth__v3__check_request__init(&b->req);
	envoy__service__auth__v3__attribute_context__init(&b->ac);
	envoy__service__auth__v3__attribute_context__peer__init(&b->src);
	envoy__service__auth__v3__attribute_context__peer__init(&b->dst);
	envoy__service__auth__v3__address__init(&b->saddr);
	envoy__service__auth__v3__address__init(&b->daddr);
	envoy__service__auth__v3__socket_address__init(&b->ssock);
	envoy__service__auth__v3__socket_address__init(&b->dsock);
	envoy__service__auth__v3__attribute_context__request__init(&b->rq);
	envoy__service__auth__v3__attribute_context__http_request__init(&b->http);
	envoy__service__auth__v3__attribute_context__tlssession__init(&b->tls);
	envoy__service__auth__v3__header_map__init(&b->hmap);
	b->req.attributes = &b->ac;
	b->ac.source = &b->src;
	b->src.principal = "spiffe://t/ns/shop/sa/web";
	b->src.address = &b->saddr;
	b->saddr.socket_address = &b->ssock;
	b->ssock.address = "10.1.2.3";
	b->ssock.port_value = 41000;
	b->ac.request = &b->rq;
	b->rq.http = &b->http;
	b->http.method = "POST";
	b->http.path = "/v1/charge";
	b->http.host = (char *)host;
	b->http.headers = b->hp;
	for (size_t i = 0; i < 80; i++) {
		envoy__service__auth__v3__attribute_context__http_request__headers_entry__init(
		    &b->hent[i]);
		b->hp[i] = &b->hent[i];
	}
	b->ac.context_extensions = b->xp;
	for (size_t i = 0; i < 4; i++) {
		envoy__service__auth__v3__attribute_context__context_extensions_entry__init(
		    &b->xent[i]);
		b->xp[i] = &b->xent[i];
		envoy__service__auth__v3__header_value__init(&b->hv[i]);
		b->hvp[i] = &b->hv[i];
	}
}

static void header(builder *b, const char *k, const char *v)
{
	b->hent[b->http.n_headers].key = (char *)k;
	b->hent[b->http.n_headers++].value = (char *)v;
}

static void extension(builder *b, const char *k, const char *v)
{
	b->xent[b->ac.n_context_extensions].key = (char *)k;
	b->xent[b->ac.n_context_extensions++].value = (char *)v;
}

/* --- reading them --- */

typedef struct {
	mp_model *model;
	mp_extauthz_arena *arena;
	mp_extauthz q;
	mp_extauthz_in in;
	char err[512];
	uint8_t wire[8192];
} fixture;

static int setup(void **state)
{
	fixture *f = calloc(1, sizeof(*f));
	f->model = unit_mesh();
	f->arena = mp_extauthz_arena_new();
	f->in = (mp_extauthz_in){.peer_trusted = 1, .model = f->model};
	*state = f;
	return f->model && f->arena ? 0 : -1;
}

static int teardown(void **state)
{
	fixture *f = *state;
	mp_extauthz_free(&f->q);
	mp_extauthz_arena_free(f->arena);
	mp_model_free(f->model);
	free(f);
	return 0;
}

/* Reads wire bytes as the gRPC door does; the message's result. */
static int read_bytes(fixture *f, const uint8_t *data, size_t len)
{
	mp_extauthz_free(&f->q);
	mp_extauthz_arena_reset(f->arena);
	mp_extauthz_msg *m = mp_extauthz_unpack(f->arena, data, len);
	assert_non_null(m);
	f->err[0] = '\0';
	return mp_extauthz_read(&f->q, f->arena, m, &f->in, f->err, sizeof(f->err));
}

static int read_built(fixture *f, builder *b)
{
	size_t n = envoy__service__auth__v3__check_request__pack(&b->req, f->wire);
	assert_true(n < sizeof(f->wire));
	return read_bytes(f, f->wire, n);
}

static const char *hdr(const mp_request *r, const char *name)
{
	for (uint32_t i = 0; i < r->nheaders; i++)
		if (!strcmp(r->headers[i].name, name))
			return r->headers[i].value;
	return NULL;
}

static void test_http_request(void **state)
{
	fixture *f = *state;
	builder b;
	http_check(&b, "pay.billing:8080");
	header(&b, ":authority", "pay.billing:8080");
	header(&b, ":method", "POST");
	header(&b, ":path", "/v1/charge");
	header(&b, "x-tenant", "uk");
	b.ac.destination = &b.dst;
	b.dst.address = &b.daddr;
	b.daddr.socket_address = &b.dsock;
	b.dsock.address = "10.9.9.9";
	b.dsock.port_value = 9443;
	b.ac.tls_session = &b.tls;
	b.tls.sni = "pay.billing.svc";
	extension(&b, "destination_cluster", "eu1");
	extension(&b, "team", "payments");
	assert_int_equal(read_built(f, &b), MP_EXTAUTHZ_OK);
	const mp_request *r = &f->q.p.r;
	assert_null(f->q.p.refused);
	assert_string_equal(r->principal, "spiffe://t/ns/shop/sa/web");
	assert_string_equal(f->q.p.principal_source, "peer");
	assert_string_equal(r->src_ip, "10.1.2.3");
	assert_string_equal(r->method, "POST");
	assert_string_equal(r->path, "/v1/charge");
	assert_string_equal(r->dst_service, "pay");
	assert_string_equal(r->dst_namespace, "billing");
	assert_int_equal(r->port, 8080); /* the host's port wins over the socket's */
	assert_string_equal(r->dst_ip, "10.9.9.9");
	assert_string_equal(r->dst_cluster, "eu1");
	assert_string_equal(r->sni, "pay.billing.svc");
	/* pseudo-headers are not headers; host is the request's host */
	assert_int_equal(r->nheaders, 2);
	assert_string_equal(hdr(r, "host"), "pay.billing:8080");
	assert_string_equal(hdr(r, "x-tenant"), "uk");
	json_t *in = mp_extauthz_input(&f->q);
	assert_string_equal(
	    json_string_value(json_object_get(
	        json_object_get(json_object_get(in, "context"), "context_extensions"), "team")),
	    "payments");
	assert_string_equal(
	    json_string_value(json_object_get(json_object_get(in, "destination"), "ip")),
	    "10.9.9.9");
	assert_int_equal(
	    json_integer_value(json_object_get(json_object_get(in, "destination"), "port")), 8080);
	json_decref(in);
}

static void test_tcp_destination_from_principal(void **state)
{
	fixture *f = *state;
	builder b;
	http_check(&b, "");
	b.ac.request = NULL; /* the network filter: no HTTP request */
	b.ac.destination = &b.dst;
	b.dst.principal = "spiffe://t/ns/billing/sa/pay";
	b.dst.address = &b.daddr;
	b.daddr.socket_address = &b.dsock;
	b.dsock.address = "10.9.9.9";
	b.dsock.port_value = 9443;
	assert_int_equal(read_built(f, &b), MP_EXTAUTHZ_OK);
	const mp_request *r = &f->q.p.r;
	assert_null(r->method);
	assert_null(r->path);
	assert_string_equal(r->dst_service, "pay");
	assert_string_equal(r->dst_namespace, "billing");
	assert_int_equal(r->port, 9443);
	/* a principal the model does not know is named as given */
	b.dst.principal = "spiffe://t/ns/x/sa/nobody";
	assert_int_equal(read_built(f, &b), MP_EXTAUTHZ_OK);
	assert_string_equal(f->q.p.r.dst_service, "spiffe://t/ns/x/sa/nobody");
}

/* Where the destination comes from, first found wins. */
static void test_destination_order(void **state)
{
	fixture *f = *state;
	builder b;
	http_check(&b, "web.shop");
	header(&b, "x-meshpol-destination", "pay.billing:9000");
	extension(&b, "destination", "pay.billing:7000");
	assert_int_equal(read_built(f, &b), MP_EXTAUTHZ_OK);
	assert_int_equal(f->q.p.r.port, 7000);
	assert_string_equal(f->q.dst_from, "context_extensions destination");
	b.ac.n_context_extensions = 0;
	f->in.destination_header = "x-meshpol-destination";
	assert_int_equal(read_built(f, &b), MP_EXTAUTHZ_OK);
	assert_int_equal(f->q.p.r.port, 9000);
	b.http.n_headers = 0; /* configured, absent: no fall-back to the host */
	assert_int_equal(read_built(f, &b), MP_EXTAUTHZ_UNDECIDABLE);
	assert_string_equal(f->err,
	                    "destination.service: missing (no x-meshpol-destination header)");
	f->in.destination_header = NULL;
	assert_int_equal(read_built(f, &b), MP_EXTAUTHZ_OK);
	assert_string_equal(f->q.p.r.dst_service, "web");
	b.http.host = "";
	assert_int_equal(read_built(f, &b), MP_EXTAUTHZ_UNDECIDABLE);
	assert_non_null(strstr(f->err, "destination.service: missing"));
	b.http.host = "pay.billing:99999";
	assert_int_equal(read_built(f, &b), MP_EXTAUTHZ_UNDECIDABLE);
	assert_string_equal(f->err, "destination.service: the host is not a host[:port]");
}

/* The peer's principal wins over x-forwarded-client-cert; neither counts from an untrusted
 * peer. */
static void test_source(void **state)
{
	fixture *f = *state;
	builder b;
	http_check(&b, "pay.billing");
	header(&b, "x-forwarded-client-cert", "By=spiffe://t/x;URI=spiffe://t/ns/billing/sa/pay");
	assert_int_equal(read_built(f, &b), MP_EXTAUTHZ_OK);
	assert_string_equal(f->q.p.r.principal, "spiffe://t/ns/shop/sa/web");
	b.src.principal = "";
	assert_int_equal(read_built(f, &b), MP_EXTAUTHZ_OK);
	assert_string_equal(f->q.p.r.principal, "spiffe://t/ns/billing/sa/pay");
	assert_string_equal(f->q.p.principal_source, "xfcc");
	b.hent[0].value = "URI=\"open";
	assert_int_equal(read_built(f, &b), MP_EXTAUTHZ_UNDECIDABLE);
	assert_string_equal(f->err, "source.principal: x-forwarded-client-cert is malformed");
	b.src.principal = "spiffe://t/ns/shop/sa/web";
	f->in.peer_trusted = 0;
	assert_int_equal(read_built(f, &b), MP_EXTAUTHZ_OK);
	assert_null(f->q.p.r.principal);
	assert_null(f->q.p.r.src_ip);
	f->in.peer_trusted = 1;
	b.ssock.address = "not-an-ip";
	assert_int_equal(read_built(f, &b), MP_EXTAUTHZ_OK);
	assert_null(f->q.p.r.src_ip);
}

/* Read, but denied with the reason: as the HTTP door refuses them. */
static void test_refused(void **state)
{
	fixture *f = *state;
	builder b;
	char names[70][16];
	http_check(&b, "pay.billing");
	header(&b, "x-a", "1");
	header(&b, "X-A", "2");
	assert_int_equal(read_built(f, &b), MP_EXTAUTHZ_OK);
	assert_non_null(strstr(f->q.p.refused, "the header X-A more than once"));
	http_check(&b, "pay.billing");
	for (int i = 0; i < 70; i++) {
		snprintf(names[i], sizeof(names[i]), "x-%d", i);
		header(&b, names[i], "v");
	}
	assert_int_equal(read_built(f, &b), MP_EXTAUTHZ_OK);
	assert_non_null(strstr(f->q.p.refused, "more headers than the engine reads (64)"));
	http_check(&b, "pay.billing");
	b.http.path = "/admin%2Fx";
	assert_int_equal(read_built(f, &b), MP_EXTAUTHZ_OK);
	assert_non_null(strstr(f->q.p.refused, "escaped slash"));
	f->in.escaped_slashes = MP_SLASHES_UNESCAPE;
	assert_int_equal(read_built(f, &b), MP_EXTAUTHZ_OK);
	assert_null(f->q.p.refused);
	assert_string_equal(f->q.p.r.path, "/admin/x");
	f->in.escaped_slashes = MP_SLASHES_REJECT;
	b.http.path = "admin";
	assert_int_equal(read_built(f, &b), MP_EXTAUTHZ_UNDECIDABLE);
	assert_string_equal(f->err, "attributes.request.http.path: not a path");
	b.http.path = "/";
	b.http.method = "GE T";
	assert_int_equal(read_built(f, &b), MP_EXTAUTHZ_UNDECIDABLE);
	assert_string_equal(f->err, "attributes.request.http.method: not an HTTP method");
	b.req.attributes = NULL;
	assert_int_equal(read_built(f, &b), MP_EXTAUTHZ_UNDECIDABLE);
	assert_string_equal(f->err, "attributes: missing");
}

/* encode_raw_headers: header_map with raw values, names not merged. */
static void test_header_map(void **state)
{
	fixture *f = *state;
	builder b;
	http_check(&b, "pay.billing");
	b.http.header_map = &b.hmap;
	b.hmap.headers = b.hvp;
	b.hmap.n_headers = 2;
	b.hv[0].key = ":authority";
	b.hv[0].raw_value = (ProtobufCBinaryData){9, (uint8_t *)"web.shop:"};
	b.hv[1].key = "x-raw";
	b.hv[1].raw_value = (ProtobufCBinaryData){3, (uint8_t *)"a\xff"
	                                                        "b"};
	b.http.host = "";
	assert_int_equal(read_built(f, &b), MP_EXTAUTHZ_UNDECIDABLE); /* "web.shop:" has no port */
	b.hv[0].raw_value = (ProtobufCBinaryData){8, (uint8_t *)"web.shop"};
	assert_int_equal(read_built(f, &b), MP_EXTAUTHZ_OK);
	assert_string_equal(f->q.p.r.dst_service, "web");
	assert_string_equal(hdr(&f->q.p.r, "x-raw"), "a\xff"
	                                             "b");
	b.hv[1].raw_value = (ProtobufCBinaryData){3, (uint8_t *)"a\0b"};
	assert_int_equal(read_built(f, &b), MP_EXTAUTHZ_OK);
	assert_non_null(strstr(f->q.p.refused, "has a NUL byte"));
	b.hmap.n_headers = 3; /* the same name twice: not merged, so refused */
	b.hv[2].key = "x-raw";
	b.hv[2].value = "c";
	b.hv[1].raw_value = (ProtobufCBinaryData){1, (uint8_t *)"a"};
	assert_int_equal(read_built(f, &b), MP_EXTAUTHZ_OK);
	assert_non_null(strstr(f->q.p.refused, "more than once"));
}

/* --- strings protobuf-c would take in silence --- */

static size_t put_field(uint8_t *o, int num, const void *data, size_t len)
{
	size_t n = 0;
	o[n++] = (uint8_t)(num << 3 | 2);
	assert_true(len < 128);
	o[n++] = (uint8_t)len;
	memcpy(o + n, data, len);
	return n + len;
}

/* CheckRequest{attributes{request{http{method, path, host}}}} with the path's bytes as given. */
static size_t raw_request(uint8_t *out, const char *path, size_t plen)
{
	uint8_t http[200], req[220], attrs[240];
	size_t n = put_field(http, 2, "GET", 3);
	n += put_field(http + n, 4, path, plen);
	n += put_field(http + n, 5, "pay.billing", 11);
	size_t r = put_field(req, 2, http, n);
	size_t a = put_field(attrs, 4, req, r);
	return put_field(out, 1, attrs, a);
}

static void test_malformed_strings(void **state)
{
	fixture *f = *state;
	uint8_t wire[300];
	size_t n = raw_request(wire, "/ok", 3);
	assert_int_equal(read_bytes(f, wire, n), MP_EXTAUTHZ_OK);
	n = raw_request(wire, "/public\0/admin", 14);
	assert_int_equal(read_bytes(f, wire, n), MP_EXTAUTHZ_MALFORMED);
	assert_string_equal(
	    f->err, "attributes.request.http.path: not a valid string (not UTF-8, or a NUL in it)");
	n = raw_request(wire, "/\xc3\x28", 3);
	assert_int_equal(read_bytes(f, wire, n), MP_EXTAUTHZ_MALFORMED);
	/* not a CheckRequest at all */
	static const uint8_t junk[] = {0x0a, 0xff, 0xff, 0xff};
	mp_extauthz_arena_reset(f->arena);
	assert_null(mp_extauthz_unpack(f->arena, junk, sizeof(junk)));
	/* fields meshpol does not declare are skipped */
	uint8_t more[300];
	size_t k = put_field(more, 15, "unknown", 7);
	n = raw_request(wire, "/ok", 3);
	memcpy(more + k, wire, n);
	assert_int_equal(read_bytes(f, more, k + n), MP_EXTAUTHZ_OK);
	assert_string_equal(f->q.p.r.path, "/ok");
}

/* --- replies --- */

static Envoy__Service__Auth__V3__CheckResponse *unpack_reply(const uint8_t *p, size_t len)
{
	assert_true(len > 5);
	assert_int_equal(p[0], 0);
	size_t n = (size_t)p[1] << 24 | (size_t)p[2] << 16 | (size_t)p[3] << 8 | p[4];
	assert_int_equal(n, len - 5);
	return envoy__service__auth__v3__check_response__unpack(NULL, n, p + 5);
}

static void test_replies(void **state)
{
	size_t len;
	(void)state;
	mp_extauthz_reply ok = {.allow = 1, .code = 0, .id = "id-1"};
	uint8_t *p = mp_extauthz_pack(&ok, &len);
	Envoy__Service__Auth__V3__CheckResponse *r = unpack_reply(p, len);
	assert_int_equal(r->status->code, 0);
	assert_int_equal(r->http_response_case,
	                 ENVOY__SERVICE__AUTH__V3__CHECK_RESPONSE__HTTP_RESPONSE_OK_RESPONSE);
	assert_int_equal(r->ok_response->n_headers, 1);
	assert_string_equal(r->ok_response->headers[0]->header->key, "x-meshpol-decision-id");
	assert_string_equal(r->ok_response->headers[0]->header->value, "id-1");
	assert_non_null(r->ok_response->headers[0]->append); /* explicitly: replace */
	assert_false(r->ok_response->headers[0]->append->value);
	envoy__service__auth__v3__check_response__free_unpacked(r, NULL);
	mp_free(p);

	mp_extauthz_reply no = {.code = 7, .message = "forbidden", .id = "id-2", .body = "{}"};
	p = mp_extauthz_pack(&no, &len);
	r = unpack_reply(p, len);
	assert_int_equal(r->status->code, 7);
	assert_string_equal(r->status->message, "forbidden");
	assert_int_equal(r->http_response_case,
	                 ENVOY__SERVICE__AUTH__V3__CHECK_RESPONSE__HTTP_RESPONSE_DENIED_RESPONSE);
	assert_int_equal(r->denied_response->status->code, 403);
	assert_string_equal(r->denied_response->body, "{}");
	assert_int_equal(r->denied_response->n_headers, 2);
	assert_string_equal(r->denied_response->headers[1]->header->key, "content-type");
	envoy__service__auth__v3__check_response__free_unpacked(r, NULL);
	mp_free(p);

	mp_extauthz_reply bad = {.code = 3, .message = "why", .error = "why", .body = "{}"};
	p = mp_extauthz_pack(&bad, &len);
	r = unpack_reply(p, len);
	assert_int_equal(r->status->code, 3);
	assert_string_equal(r->denied_response->headers[0]->header->key, "x-meshpol-error");
	envoy__service__auth__v3__check_response__free_unpacked(r, NULL);
	mp_free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_http_request, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_tcp_destination_from_principal, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_destination_order, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_source, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_header_map, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_malformed_strings, setup, teardown),
	    cmocka_unit_test(test_replies),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
