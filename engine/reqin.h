/* reqin.h: the decision input's keys, one table per object of the input (decide.c), read by
 * mp_request_from_json from a jansson tree and by mp_request_parse (jsonparse.cc) from
 * simdjson's DOM. Prefix mp_in_. The shape: docs/cli.md ("decide"). */
#ifndef MP_REQIN_H
#define MP_REQIN_H

#include <stddef.h>

typedef enum {
	IN_STRING,  /* const char * in the request */
	IN_PORT,    /* uint32_t: an integer 1..65535 */
	IN_BOOL,    /* int: true or false */
	IN_STRINGS, /* a string or a list of strings (request.auth.audiences) */
	IN_STRMAP,  /* json_t *: an object of strings (source.labels) */
	IN_HEADERS, /* an object of strings, into the request's headers */
	IN_ANY,     /* json_t *: an object holding anything (context, request.auth.claims) */
	IN_OBJECT,  /* an object read with its own table; json_t * kept when it has a field */
} mp_in_type;

#define IN_NONE ((size_t)-1) /* a key that is checked but has no field of its own */

typedef struct mp_in_key mp_in_key;
struct mp_in_key {
	const char *name;
	mp_in_type type;
	size_t off;            /* into mp_request, or IN_NONE */
	const mp_in_key *keys; /* IN_OBJECT: its table, ended by a NULL name */
};

/* The input's top level: source, destination, request, context. */
extern const mp_in_key mp_in_keys[];

/* The key of keys named name (len bytes, no NUL inside), or NULL. */
const mp_in_key *mp_in_find(const mp_in_key *keys, const char *name, size_t len);

#endif
