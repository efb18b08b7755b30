/* envoyinput.h: OPA-Envoy's input on /v1/data and POST /: Envoy's CheckRequest as OPA-Envoy hands
 * it to Rego (protojson: input.attributes.request.http {method, path, host, headers},
 * input.attributes.source {principal, address.socketAddress.address}), read through Envoy's
 * front door (proxyreq.h), so it is decided as /v1/check decides the request it describes.
 * docs/server.md ("OPA-Envoy's input"). */
#ifndef MP_ENVOYINPUT_H
#define MP_ENVOYINPUT_H

#include "proxyreq.h"

#include <jansson.h>

/* A request read from OPA-Envoy's input. p.r's strings point into headers, into p and into the
 * input, which must outlive it; mp_envoyinput_free releases headers. */
typedef struct {
	mp_proxyreq p;
	struct evkeyvalq *headers; /* owned: http.headers as Envoy's door reads them, or NULL */
} mp_envoyinput;

/* Is input in OPA-Envoy's shape (it has "attributes", which a decision input never has)? */
int mp_envoyinput_is(json_t *input);

/* Reads input (borrowed). door holds Envoy's door's options (destination_header,
 * escaped_slashes, path_params, model); the rest of it is filled here. 0, or -1 with err naming
 * the field from input ("input.attributes.request.http.method: missing"). As on Envoy's door, a
 * request that may not be decided (a repeated header, a path the options refuse) returns 0
 * with e->p.refused set. e needs mp_envoyinput_free either way. */
int mp_envoyinput_read(mp_envoyinput *e, json_t *input, const mp_proxyreq_in *door, char *err,
                       size_t errlen);
void mp_envoyinput_free(mp_envoyinput *e);

#endif
