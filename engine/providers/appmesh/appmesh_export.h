/* appmesh_export.h: what the files of the way off App Mesh share (export.h, provider.h
 * migrate): export_appmesh.c (what App Mesh lets through, as Istio AuthorizationPolicies; the
 * op) and istio_appmesh.c (the requests that check it, the rest of Istio's resources, YAML).
 * docs/import.md ("The way off App Mesh"). */
#ifndef MP_APPMESH_EXPORT_H
#define MP_APPMESH_EXPORT_H

#include "appmesh_state.h"

#include <jansson.h>
#include <stdio.h>

/* One export: the meshes, the model, the resources so far, each workload's rules, the checks
 * and what does not carry over (the caller's), every node's Istio principal. Strings from
 * mp_amx_astr live in ar until the export ends. */
typedef struct {
	const mp_amstate *s;
	const mp_model *m;
	const char *td;
	mp_arena ar;
	json_t *docs;     /* the resources, in order */
	json_t *policies; /* workload id -> {"rules": [...]} */
	json_t *checks, *left;
	json_t *nodes_all; /* every node's principals */
} ex;

const char *mp_amx_astr(ex *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void mp_amx_left_out(ex *x, const char *what, const char *why);
/* A node's pod's service account in the target (its own, or appmesh-NODE when others share
 * it) and Istio principal (TD/ns/NS/sa/SA). */
const char *mp_amx_node_account(ex *x, const am_node *n, const am_pod *p);
const char *mp_amx_principal(ex *x, const am_node *n, const am_pod *p);
/* The port behind a Service's port (targetPort) of an App Mesh workload. */
uint32_t mp_amx_target_port(ex *x, mp_id svc, uint32_t port);
/* The virtual service of a mesh that stands for a model service, or NULL. */
const am_vservice *mp_amx_vs_of(const am_mesh *m, mp_id svc);
extern const char *const mp_amx_method_names[]; /* NULL-terminated */

/* istio_appmesh.c */
const char *mp_amx_label(ex *x, const char *s); /* a DNS label of a name */
json_t *mp_amx_workload_labels(ex *x, mp_id w);
const char *mp_amx_wl_ns(ex *x, mp_id w);
/* Appends a resource (spec taken) to the export. */
void mp_amx_doc(ex *x, const char *api, const char *kind, const char *ns, const char *name,
                json_t *spec);
void mp_amx_checks(ex *x);
void mp_amx_node_resources(ex *x, const am_mesh *m, const am_node *n);
void mp_amx_routes(ex *x, const am_mesh *m, const am_vservice *vs);
void mp_amx_gateway_resources(ex *x, const am_mesh *m, const am_gateway *g);
void mp_amx_yaml_value(FILE *f, json_t *v, int indent);

#define astr              mp_amx_astr
#define left_out          mp_amx_left_out
#define node_account      mp_amx_node_account
#define principal         mp_amx_principal
#define target_port       mp_amx_target_port
#define vs_of             mp_amx_vs_of
#define method_names      mp_amx_method_names
#define label             mp_amx_label
#define workload_labels   mp_amx_workload_labels
#define wl_ns             mp_amx_wl_ns
#define doc               mp_amx_doc
#define node_resources    mp_amx_node_resources
#define gateway_resources mp_amx_gateway_resources
#define yaml_value        mp_amx_yaml_value

#endif
