#!/usr/bin/env python3
"""gen_k8s_mesh.py: a deterministic Kubernetes + Istio mesh for the compile benchmark.

    gen_k8s_mesh.py --services N [--namespaces K] OUT_DIR

writes OUT_DIR/ns-XXX.yaml, one file per namespace (K, default N / 100), each holding the
Namespace, a namespace-wide PeerAuthentication (STRICT), and per service: a Service, a
Deployment selecting it, a VirtualService routing its host to the next service (weighted
across two subsets) and a DestinationRule declaring the subsets. It exercises what grows
with the documents in the Kubernetes and Istio importers: Services folded by name, workloads
by namespace, PeerAuthentications per namespace, DestinationRules per destination, the host
map of the analyzers (issue 20: these were scans of every document per Service or route).
"""
import argparse
import os


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--services", type=int, required=True)
    ap.add_argument("--namespaces", type=int, default=0)
    ap.add_argument("out")
    a = ap.parse_args()
    n = a.services
    k = a.namespaces or max(1, n // 100)
    os.makedirs(a.out, exist_ok=True)
    for f in os.listdir(a.out):
        if f.endswith(".yaml"):
            os.remove(os.path.join(a.out, f))
    per = (n + k - 1) // k

    def ns_of(i):
        return "ns-%03d" % (i // per)

    docs_total = 0
    for j in range(k):
        ns = "ns-%03d" % j
        docs = [
            "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: %s\n"
            "  labels:\n    istio-injection: enabled\n" % ns,
            "apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata:\n"
            "  name: default\n  namespace: %s\nspec:\n  mtls:\n    mode: STRICT\n" % ns,
        ]
        for i in range(j * per, min(n, (j + 1) * per)):
            s = "svc-%05d" % i
            t = "svc-%05d" % ((i + 1) % n)
            tns = ns_of((i + 1) % n)
            docs.append(
                "apiVersion: v1\nkind: Service\nmetadata:\n  name: %s\n  namespace: %s\n"
                "spec:\n  selector:\n    app: %s\n  ports:\n  - name: http\n    port: 8080\n"
                % (s, ns, s))
            docs.append(
                "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: %s\n"
                "  namespace: %s\nspec:\n  selector:\n    matchLabels:\n      app: %s\n"
                "  template:\n    metadata:\n      labels:\n        app: %s\n"
                "        version: v1\n    spec:\n      serviceAccountName: %s\n"
                "      containers:\n      - name: app\n        image: example/app:1\n"
                % (s, ns, s, s, s))
            docs.append(
                "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata:\n"
                "  name: %s\n  namespace: %s\nspec:\n  hosts:\n  - %s\n  http:\n"
                "  - match:\n    - uri:\n        prefix: /api\n    route:\n"
                "    - destination:\n        host: %s.%s.svc.cluster.local\n"
                "        subset: v1\n      weight: 90\n"
                "    - destination:\n        host: %s.%s.svc.cluster.local\n"
                "        subset: v2\n      weight: 10\n    timeout: 5s\n"
                % (s, ns, s, t, tns, t, tns))
            docs.append(
                "apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata:\n"
                "  name: %s\n  namespace: %s\nspec:\n  host: %s.%s.svc.cluster.local\n"
                "  subsets:\n  - name: v1\n    labels:\n      version: v1\n"
                "  - name: v2\n    labels:\n      version: v2\n" % (s, ns, s, ns))
        docs_total += len(docs)
        with open(os.path.join(a.out, ns + ".yaml"), "w") as f:
            f.write("---\n".join(docs))
    print("gen_k8s_mesh: %s: %d services in %d namespaces, %d documents"
          % (a.out, n, k, docs_total))


if __name__ == "__main__":
    main()
