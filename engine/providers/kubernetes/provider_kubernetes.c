/* provider_kubernetes.c: Kubernetes (v1, apps/v1), the workloads and services every mesh runs
 * on. It reads the model's shape only and has no say in decisions. */
#include "provider.h"

static const mp_provider_kind kinds[] = {
    {"", " v1 ", "Namespace"},
    {"", " v1 ", "Service"},
    {"", " v1 ", "ServiceAccount"},
    {"", " v1 ", "Node"},
    {"", " v1 ", "Pod"},
    {"apps", " v1 ", "Deployment"},
    {"apps", " v1 ", "StatefulSet"},
    {"apps", " v1 ", "DaemonSet"},
    {"apps", " v1 ", "ReplicaSet"},
    {NULL, NULL, NULL},
};

const mp_provider mp_provider_kubernetes = {
    .name = "kubernetes",
    .kinds = kinds,
};
