/* kuma_authz.h: Kuma's inbound authorization with its control plane's and Envoy's semantics,
 * compiled from the model's Kuma resources and KumaDataplane records when a snapshot is built
 * and evaluated per request without Lua. How a decision is computed: docs/import.md ("Kuma");
 * the inside: kuma_state.h.
 *
 * Ownership: an mp_kmauthz owns everything it points at (one arena and the JSON it parsed) and
 * borrows the model it was compiled from, which must outlive it (the engine snapshot owns
 * both). Immutable after mp_kmauthz_compile returns; any number of threads may read it. */
#ifndef MP_KUMA_AUTHZ_H
#define MP_KUMA_AUTHZ_H

#include "provider.h"

#include <stddef.h>

typedef struct mp_kmauthz mp_kmauthz;

/* Compiles the model's Kuma resources and records: 0 with *out (NULL when the model holds
 * nothing of Kuma: the provider sits out), or -1 with a message in err (out of memory, or a
 * stored resource that does not compile: a model file crafted by hand). */
int mp_kmauthz_compile(const mp_model *m, mp_kmauthz **out, char *err, size_t errlen);
void mp_kmauthz_free(mp_kmauthz *a); /* NULL is fine */

/* Does m hold Kuma's configuration: a resource of its kinds or a dataplane's record (the
 * provider's present, provider.h)? */
int mp_kmauthz_present(const mp_model *m);

/* The verdict on q (provider.h), its reasons added to d; explain, when a JSON array, gets one
 * object per step (the dataplane inbound, its mTLS, each policy or permission tried). As the
 * fallback (no bundle and every provider abstained): Kuma's implicit allow and its reasons.
 * Never allocates through the engine's allocator. */
uint32_t mp_kmauthz_decide(const mp_kmauthz *a, const mp_provider_request *q, mp_decision *d,
                           json_t *explain, int fallback);

#endif
