/* linkerd_authz.h: Linkerd's inbound authorization with linkerd2-proxy's semantics, compiled
 * from the model's Linkerd resources when a snapshot is built and evaluated per request without
 * Lua. How a decision is computed: docs/import.md ("Linkerd"); the inside: linkerd_state.h.
 *
 * Ownership: an mp_lkauthz owns everything it points at (one arena, and the regular
 * expressions it compiled) and borrows the model it was compiled from, which must outlive it
 * (the engine snapshot owns both). Immutable after mp_lkauthz_compile returns; any number of
 * threads may read it. */
#ifndef MP_LINKERD_AUTHZ_H
#define MP_LINKERD_AUTHZ_H

#include "provider.h"

#include <stddef.h>

typedef struct mp_lkauthz mp_lkauthz;

/* Compiles the model's Linkerd resources and records: 0 with *out (NULL when the model holds
 * nothing of Linkerd: the provider sits out), or -1 with a message in err (out of memory, or a
 * stored resource that does not compile: a model file crafted by hand). */
int mp_lkauthz_compile(const mp_model *m, mp_lkauthz **out, char *err, size_t errlen);
void mp_lkauthz_free(mp_lkauthz *a); /* NULL is fine */

/* Does the model hold Linkerd's configuration (the provider's present, provider.h): a
 * cluster's settings, the ConfigMap linkerd-config record the import writes for every cluster
 * once it holds Linkerd's documents or pods Linkerd injects? Without, the provider sits out. */
int mp_lkauthz_present(const mp_model *m);

/* The verdict on q (provider.h), its reasons added to d; explain, when a JSON array, gets
 * one object per step of Linkerd's (the server, the route, each authorization). As the
 * fallback (no bundle and every provider abstained): the implicit allow's reasons. Never
 * allocates through the engine's allocator (RE2 may grow its own cache, regex.h). */
uint32_t mp_lkauthz_decide(const mp_lkauthz *a, const mp_provider_request *q, mp_decision *d,
                           json_t *explain, int fallback);

/* Is s a regular expression Linkerd's proxy compiles (Rust's regex crate: RE2's syntax, which
 * meshpol evaluates with RE2 itself, engine/regex.h)? 0, or -1 with RE2's reason in err. */
int mp_linkerd_regex(const char *s, char *err, size_t errlen);

/* The next item of a comma-separated list at p (clusterNetworks, port lists), blanks trimmed,
 * into buf; returns where the list goes on. */
const char *mp_linkerd_item(const char *p, char *buf, size_t len);

#endif
