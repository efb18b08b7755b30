/* loginput.h: the decision input of a decision log record, written straight into the record
 * (keys sorted, ASCII only: the trail's canonical form) with the bundle's mask applied on the
 * way, without building, changing or dumping a jansson tree. The bytes are those json_dumps
 * (JSON_COMPACT | JSON_SORT_KEYS | JSON_ENSURE_ASCII) wrote of the masked input; tests compare
 * the two (tests/e2e/server.sh, server_declog.sh, test_loginput.c). Masking: docs/server.md
 * ("Decision log"). */
#ifndef MP_LOGINPUT_H
#define MP_LOGINPUT_H

#include "jsonbuf.h"
#include "policy.h"
#include "proxyreq.h"

#include <jansson.h>

/* Writes input (borrowed, unchanged; NULL: null) with the fields mask->mask names as
 * "[masked]". mask NULL: nothing masked. Sets b->oom when out of memory. */
void mp_loginput_json(mp_jsonbuf *b, json_t *input, const mp_bundle *mask);

/* Writes the decision input this thread's last mp_request_parse read (jsonparse.h) from
 * simdjson's document, without its tree: the bytes mp_loginput_json writes of mp_json_parse's
 * tree of the same text once context.peer is deleted from it (as api.c's set_peer_context does
 * without a TLS peer). Call it before the thread parses anything else: when the document is gone
 * (or memory ran out) it sets b->oom, so the record is refused rather than written from another
 * input. */
void mp_loginput_parsed(mp_jsonbuf *b, const mp_bundle *mask);

/* Writes the decision input a proxy's request stands for (mp_proxyreq_input's, field for
 * field: every header with its name in lower case, the last of a repeated one). */
void mp_loginput_proxy(mp_jsonbuf *b, const mp_proxyreq *p, const mp_bundle *mask);

/* The reference the writers follow: replaces, in input, every field the bundle's mask names with
 * "[masked]". A mask entry is a dotted path ("request.headers.authorization"); names right under
 * "headers" match case-insensitively, as HTTP header names do. Fields that are absent stay
 * absent. test_loginput.c compares json_dumps of a tree masked by it with the writers' bytes. */
void mp_loginput_mask(json_t *input, const mp_bundle *b);

#endif
