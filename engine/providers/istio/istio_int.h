/* istio_int.h: what Istio's files share: its kinds (by index into its kinds table), its state
 * for one import, host resolution, and the functions one file calls in another:
 * provider_istio.c (the row), import_istio.c (PeerAuthentication, Gateways, ServiceEntries,
 * resources), routes_istio.c (DestinationRules, VirtualServices), analyze_istio.c (the
 * analyzers). Mapping: docs/import.md. */
#ifndef MP_ISTIO_INT_H
#define MP_ISTIO_INT_H

#include "import_int.h"

/* The rows of mp_istio_kinds (a document's kind points at one). */
enum {
	IK_VIRTUALSERVICE,
	IK_DESTINATIONRULE,
	IK_SERVICEENTRY,
	IK_GATEWAY,
	IK_SIDECAR,
	IK_PEERAUTHENTICATION,
	IK_AUTHORIZATIONPOLICY,
	IK_KINDS
};

extern const mp_provider_kind mp_istio_kinds[IK_KINDS + 1];
extern const struct mp_provider_import mp_istio_import; /* import_istio.c */
extern const mp_check_row mp_istio_analyzers[];         /* analyze_istio.c */

static inline int istio_is(const idoc *dc, uint32_t kind)
{
	return dc->kind == &mp_istio_kinds[kind];
}

/* A host resolved to a model element. */
typedef struct {
	uint32_t kind; /* mp_target_kind */
	mp_id id;      /* MP_NONE: not found */
} im_hostref;

typedef struct {
	mp_str host; /* lower case; may be a wildcard "*.example.com" */
	im_hostref ref;
} im_sehost;

/* Istio's state for one import (im_state), owned by the importer: begin and end in
 * import_istio.c. */
typedef struct {
	const char *rootns; /* the root namespace (option root-namespace); borrowed */
	const char
	    *meshpol_option; /* option meshpol-provider: the name meshpol goes by; borrowed */
	/* the extensionProviders entry of the mesh config that is meshpol (named meshpol_option,
	 * an Envoy ext_authz provider), or "" when the mesh config declares none; owned */
	char meshpol[256];
	mp_id *gw_svc;       /* per document, from ELEMENTS: the service standing for a Gateway */
	im_sehost *se_hosts; /* ServiceEntry hosts */
	uint32_t nse_hosts;
} istio_state;

static inline istio_state *istio_of(const mp_import *im)
{
	return im_state(im, &mp_provider_istio);
}

/* --- hosts (import_istio.c) --- */
/* Resolves a destination host as Istio does, relative to the namespace ns of the resource;
 * fqdn receives its canonical form. id MP_NONE when nothing in the model answers to it. */
im_hostref im_resolve_host(mp_import *im, const char *host, mp_str ns, char *fqdn, size_t len);
int im_host_covers(const char *pattern, const char *host); /* "*", "*.x.com" or exact */
void im_lower(const char *in, char *out, size_t len);

/* The ROUTES phase (routes_istio.c): VirtualServices -> routes. */
void mp_import_istio_routes(mp_import *im);
/* Validates an AuthorizationPolicy; fills the lines of its rules. -1 after an error
 * (analyze_istio.c). */
int mp_import_istio_check_authz(mp_import *im, idoc *dc, json_t *spec, mp_span *lines);

#endif
