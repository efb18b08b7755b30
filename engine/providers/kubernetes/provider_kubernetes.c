/* provider_kubernetes.c: Kubernetes (v1, apps/v1), the workloads and services every mesh runs
 * on. Its importer (import_k8s.c) maps them into the model; it has no say in decisions.
 * ConfigMaps are kept for the mesh whose configuration one holds (its `reads` answer); Secrets
 * and injection webhooks for the meshes' analyzers. */
#include "kubernetes_int.h"

const mp_provider_kind mp_k8s_kinds[K8S_KINDS + 1] = {
    [K8S_NAMESPACE] = {"", " v1 ", "Namespace", MP_KIND_CLUSTER_SCOPED},
    [K8S_SERVICE] = {"", " v1 ", "Service", 0},
    [K8S_SERVICEACCOUNT] = {"", " v1 ", "ServiceAccount", 0},
    [K8S_NODE] = {"", " v1 ", "Node", MP_KIND_CLUSTER_SCOPED},
    [K8S_POD] = {"", " v1 ", "Pod", 0},
    [K8S_DEPLOYMENT] = {"apps", " v1 ", "Deployment", 0},
    [K8S_STATEFULSET] = {"apps", " v1 ", "StatefulSet", 0},
    [K8S_DAEMONSET] = {"apps", " v1 ", "DaemonSet", 0},
    [K8S_REPLICASET] = {"apps", " v1 ", "ReplicaSet", 0},
    [K8S_CONFIGMAP] = {"", " v1 ", "ConfigMap", 0}, /* kept for the mesh that reads it */
    /* kept for the meshes' analyzers, which read its name, type and key names, never its data
     * (Istio's Gateway credentials, the Gateway API's certificateRefs) */
    [K8S_SECRET] = {"", " v1 ", "Secret", 0},
    /* kept for the meshes' analyzers (Istio's injection webhooks) */
    [K8S_MUTATINGWEBHOOK] = {"admissionregistration.k8s.io", " v1 ", "MutatingWebhookConfiguration",
                             MP_KIND_CLUSTER_SCOPED},
    [K8S_KINDS] = {NULL, NULL, NULL, 0},
};

const mp_provider mp_provider_kubernetes = {
    .name = "kubernetes",
    .title = "Kubernetes",
    .kinds = mp_k8s_kinds,
    .import = &mp_k8s_import,
    .analyzers = mp_k8s_analyzers,
};
