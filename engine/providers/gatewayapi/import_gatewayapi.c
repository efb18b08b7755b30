/* import_gatewayapi.c: the Gateway API's importer: its state and phases (mp_gwapi_import).
 * Every document is checked against its CRD (CLUSTERS); Gateways get their mesh and data plane
 * (ELEMENTS); listeners' conditions, attachment and routes follow (ROUTES); every document stays
 * in the model as a resource (RESOURCES). It answers `gateway` for the meshes whose own
 * resources name a Gateway API Gateway (an Istio VirtualService). docs/import.md ("Kubernetes
 * Gateway API"). */
#include "alloc.h"
#include "gatewayapi_int.h"

#include <string.h>

static void clusters(mp_import *im)
{
	for (uint32_t i = 0; i < im->ndocs; i++) {
		idoc *dc = &im->docs[i];
		if (dc->provider == &mp_provider_gatewayapi && im_live(dc))
			mp_gwapi_check(im, dc);
	}
}

/* Every document as written: GatewayClass cluster-wide, the others in their namespace. */
static void resources(mp_import *im)
{
	for (uint32_t i = 0; i < im->ndocs && !im->oom; i++) {
		idoc *dc = &im->docs[i];
		if (dc->provider != &mp_provider_gatewayapi || !im_live(dc))
			continue;
		json_t *spec = im_json(dc, dc->spec);
		if (!spec) {
			im->oom = 1;
			return;
		}
		im_add_resource(im, dc, spec, 0, (mp_span){0, 0});
	}
}

/* The Gateway ns/name of cluster, for a mesh's own resources that name one: its listeners'
 * hostnames (Istio's analyzer vsHostInKubernetesGateway reads them) and its data plane. */
static int gateway(mp_import *im, const char *ns, const char *name, mp_id cluster, im_gateway *out)
{
	gwapi_state *st = gwapi_of(im);
	for (uint32_t i = 0; i < im->ndocs; i++) {
		idoc *dc = &im->docs[i];
		yaml_node_t *ls, *l;
		if (!gwapi_is(dc, GW_GATEWAY) || !im_live(dc) || dc->cluster != cluster ||
		    strcmp(im_str_of(im, dc->ns), ns) || strcmp(im_str_of(im, dc->name), name))
			continue;
		memset(out, 0, sizeof(*out));
		out->doc = i;
		out->service = MP_NONE;
		if (st->gw_of && st->gw_of[i] != UINT32_MAX)
			out->service = st->gws[st->gw_of[i]].svc;
		if ((ls = im_get(dc, dc->spec, "listeners")) && ls->type == YAML_SEQUENCE_NODE)
			IM_SEQ_FOREACH(dc, ls, l)
			{
				const char *h = im_scalar(im_get(dc, l, "hostname"));
				if (!h || !*h)
					out->any_host = 1;
				else if (out->nhosts < IM_GATEWAY_HOSTS)
					out->hosts[out->nhosts++] = h;
			}
		return 1;
	}
	return 0;
}

static void *begin(mp_import *im)
{
	(void)im;
	return mp_calloc(1, sizeof(gwapi_state));
}

static void end(void *state)
{
	gwapi_state *st = state;
	for (uint32_t i = 0; i < st->ngws; i++)
		mp_free(st->gws[i].ls);
	mp_free(st->gws);
	mp_free(st->gw_of);
	mp_free(st->consumers);
	mp_free(st);
}

const struct mp_provider_import mp_gwapi_import = {
    .begin = begin,
    .end = end,
    .phase =
        {
            [IM_PHASE_CLUSTERS] = clusters,
            [IM_PHASE_ELEMENTS] = mp_gwapi_gateways,
            [IM_PHASE_ROUTES] = mp_gwapi_routes,
            [IM_PHASE_RESOURCES] = resources,
        },
    .gateway = gateway,
};
