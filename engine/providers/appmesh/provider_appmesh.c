/* provider_appmesh.c: AWS App Mesh (appmesh.k8s.aws, the controller's CRDs; and the App Mesh
 * resources of `terraform show -json`). Its importer (import_appmesh.c, record_appmesh.c,
 * terraform_appmesh.c) writes one normalized mesh per App Mesh mesh into the model; its
 * analyzers (analyze_appmesh.c) check them; its authorization ops read them back
 * (state_appmesh.c) and decide a request as App Mesh's Envoys would (decide_appmesh.c); the
 * export (export_appmesh.c) plans the way off it. docs/import.md ("App Mesh"). */
#include "appmesh_int.h"

#include <string.h>

#define APPMESH "appmesh.k8s.aws", " v1beta2 "
#define TF      "terraform", " 1 " /* the JSON format's major version */
/* Terraform's resources: read in the form alone (terraform_appmesh.c), no namespace */
#define TF_ONLY (MP_KIND_CLUSTER_SCOPED | MP_KIND_FORM_ONLY)

const mp_provider_kind mp_appmesh_kinds[AM_K_KINDS + 1] = {
    [AM_K_MESH] = {APPMESH, "Mesh", MP_KIND_CLUSTER_SCOPED, NULL},
    [AM_K_VIRTUALNODE] = {APPMESH, "VirtualNode", 0, NULL},
    [AM_K_VIRTUALSERVICE] = {APPMESH, "VirtualService", 0, NULL},
    [AM_K_VIRTUALROUTER] = {APPMESH, "VirtualRouter", 0, NULL},
    [AM_K_VIRTUALGATEWAY] = {APPMESH, "VirtualGateway", 0, NULL},
    [AM_K_GATEWAYROUTE] = {APPMESH, "GatewayRoute", 0, NULL},
    [AM_K_BACKENDGROUP] = {APPMESH, "BackendGroup", 0, NULL},
    [AM_K_TF_MESH] = {TF, "aws_appmesh_mesh", TF_ONLY, NULL},
    [AM_K_TF_VIRTUALNODE] = {TF, "aws_appmesh_virtual_node", TF_ONLY, NULL},
    [AM_K_TF_VIRTUALSERVICE] = {TF, "aws_appmesh_virtual_service", TF_ONLY, NULL},
    [AM_K_TF_VIRTUALROUTER] = {TF, "aws_appmesh_virtual_router", TF_ONLY, NULL},
    [AM_K_TF_ROUTE] = {TF, "aws_appmesh_route", TF_ONLY, NULL},
    [AM_K_TF_VIRTUALGATEWAY] = {TF, "aws_appmesh_virtual_gateway", TF_ONLY, NULL},
    [AM_K_TF_GATEWAYROUTE] = {TF, "aws_appmesh_gateway_route", TF_ONLY, NULL},
    [AM_K_KINDS] = {NULL, NULL, NULL, 0, NULL},
};

/* Where the sources disagree (docs/import.md, "App Mesh"): ALLOW_ALL on a node that declares
 * backends. The API reference's note (the default): its undeclared egress is refused; the user
 * guide and the examples: it is let through. */
static const mp_provider_option options[] = {
    {"allow-all-with-backends",
     "App Mesh's ALLOW_ALL egress for a node that declares backends: refuse (the API "
     "reference) or allow (the user guide)",
     "refuse"},
    {"import",
     "off: App Mesh's documents are left unread (meshpol export compiles the "
     "sources so, with the exported resources)",
     "on"},
    {NULL, NULL, NULL},
};

static int compile(const mp_model *m, void **state, char *err, size_t errlen)
{
	*state = NULL;
	return mp_amstate_compile(m, (mp_amstate **)state, err, errlen);
}

static uint32_t decide(const void *state, const mp_provider_request *q, mp_decision *d,
                       json_t *explain)
{
	return mp_amstate_decide(state, q, d, explain, 0);
}

/* Nothing of App Mesh refused or admitted: its mesh lets the request through. */
static uint32_t fallback(const void *state, const mp_provider_request *q, mp_decision *d)
{
	return mp_amstate_decide(state, q, d, NULL, 1);
}

static void free_state(void *state)
{
	mp_amstate_free(state);
}

/* Does m hold App Mesh's configuration: a mesh's record (the importer writes them in its
 * ROUTES phase, before Istio asks in its RESOURCES phase)? */
static int present(const mp_model *m)
{
	mp_model_view v = mp_model_get_view(m);
	for (uint32_t i = 0; i < v.nresources; i++)
		if (!strcmp(mp_model_str(m, v.resources[i].kind), AM_RECORD_KIND) &&
		    !strcmp(mp_model_str(m, v.resources[i].api), AM_RECORD_API))
			return 1;
	return 0;
}

const mp_provider mp_provider_appmesh = {
    .name = "appmesh",
    .title = "App Mesh",
    .kinds = mp_appmesh_kinds,
    .form = &mp_appmesh_form,
    .options = options,
    .import = &mp_appmesh_import,
    .analyzers = mp_appmesh_analyzers,
    .compile = compile,
    .decide = decide,
    .fallback = fallback,
    .free = free_state,
    .bundle_disagrees = "App Mesh lets the request through but the bundle, which has allow "
                        "rules for this destination, allows none of it",
    .present = present,
    .migrate = mp_appmesh_migrate,
    .migrate_off = "import",
};
