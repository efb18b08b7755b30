/* kubernetes_int.h: what Kubernetes' provider row (provider_kubernetes.c) and its importer
 * (import_k8s.c) share: the kinds it reads, by index into its kinds table. */
#ifndef MP_KUBERNETES_INT_H
#define MP_KUBERNETES_INT_H

#include "import_int.h"

/* The rows of mp_k8s_kinds (a document's kind points at one). */
enum {
	K8S_NAMESPACE,
	K8S_SERVICE,
	K8S_SERVICEACCOUNT,
	K8S_NODE,
	K8S_POD,
	K8S_DEPLOYMENT,
	K8S_STATEFULSET,
	K8S_DAEMONSET,
	K8S_REPLICASET,
	K8S_CONFIGMAP,
	K8S_SECRET,
	K8S_KINDS
};

extern const mp_provider_kind mp_k8s_kinds[K8S_KINDS + 1];
extern const struct mp_provider_import mp_k8s_import; /* import_k8s.c */
extern const mp_check_row mp_k8s_analyzers[];         /* import_k8s.c */

static inline int k8s_is(const idoc *dc, uint32_t kind)
{
	return dc->kind == &mp_k8s_kinds[kind];
}

/* The pod part of a workload document (a Pod, or a controller's pod template): its metadata and
 * spec; either is NULL when absent or not a mapping. For the meshes that inject proxies. */
void mp_k8s_pod(idoc *dc, yaml_node_t **meta, yaml_node_t **spec);

#endif
