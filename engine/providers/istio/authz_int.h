/* authz_int.h: the inside of an mp_authz, shared by authz_compile.c (checking, compiling,
 * indexing) and authz.c (deciding). Semantics: docs/import.md ("AuthorizationPolicy"). */
#ifndef MP_AUTHZ_INT_H
#define MP_AUTHZ_INT_H

#include "arena.h"
#include "authz.h"
#include "ipnet.h"

#include <stddef.h>
#include <stdint.h>

/* --- compiled policies --- */

enum { V_EXACT, V_PREFIX, V_SUFFIX, V_ANY, V_TEMPLATE, V_IP, V_PORT, V_SA };

/* One value of a field: a string pattern, an IP block, a port or a service account. */
typedef struct {
	uint8_t kind, nocase;
	uint32_t len, port;
	const char *text; /* patterns: the literal part; V_SA: "/ns/NS/sa/SA" */
	mp_ipnet ip;      /* V_IP */
} az_val;

/* The request attribute a field examines. */
enum {
	A_PRINCIPAL,
	A_REQ_PRINCIPAL,
	A_NAMESPACE,
	A_SRC_IP,
	A_REMOTE_IP,
	A_TRUST_DOMAIN,
	A_SERVICE_ACCOUNT,
	A_HOST,
	A_PORT,
	A_METHOD,
	A_PATH,
	A_HEADER,
	A_AUDIENCES,
	A_PRESENTER,
	A_CLAIM,
	A_DST_IP,
	A_SNI,
	A_UNSUPPORTED, /* experimental.envoy.filters.*: cannot be evaluated; fails closed */
};

/* How a field's values are read and checked. */
enum { VK_PATTERN, VK_HOST, VK_PATH, VK_IP, VK_PORT, VK_SA };

typedef struct {
	uint8_t attr, neg, http_only;
	uint32_t n;
	az_val *v;
	const char *arg; /* header name (lower case), or claim path: nargs NUL-separated names */
	uint32_t nargs;
	const char *name; /* "source.principals", "when request.headers[x]": for explanations */
} az_field;

typedef struct {
	az_field *f;
	uint32_t n;
} az_clause;

typedef struct {
	az_clause *from, *to, when;
	uint32_t nfrom, nto;
	uint8_t http_only; /* some field is HTTP-only */
	uint8_t empty;     /* `{}`: matches every request */
	const char *name, *loc, *msg;
} az_rule;

enum { ACT_ALLOW = 0, ACT_DENY, ACT_AUDIT, ACT_CUSTOM };
static const char *const action_names[] = {"ALLOW", "DENY", "AUDIT", "CUSTOM"};

typedef struct {
	const char *key, *value;
} az_kv;

typedef struct {
	uint32_t action;
	uint32_t dry_run;
	uint32_t meshpol; /* CUSTOM with the mesh config's provider that is meshpol */
	mp_id ns, cluster;
	az_kv *sel;
	uint32_t nsel;
	mp_id *targets; /* targetRefs naming services; has_targets when targetRefs was given */
	uint32_t ntargets, has_targets;
	az_rule *rules;
	uint32_t nrules;
	const char *title, *version, *loc, *provider, *msg_nomatch, *nsname;
	const char *msg_nobundle; /* meshpol's CUSTOM matched without a bundle */
} az_policy;

struct mp_authz {
	const mp_model *m;
	mp_arena ar;         /* everything it points at */
	const char *meshpol; /* the extension provider that is meshpol, or "" */
	az_policy *p;
	uint32_t np;
	/* units: workloads, then services without workloads (each is its own workload) */
	uint32_t nworkloads, nunits;
	uint32_t *unit_off; /* nunits + 1 */
	uint32_t *unit_pol;
};

/* The text of a JSON scalar: strings as they are, numbers in decimal; NULL otherwise. */
const char *az_scalar_text(json_t *v, char *buf, size_t len);

#endif
