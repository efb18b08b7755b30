#!/usr/bin/env python3
"""gen_mesh.py: a deterministic native mesh (docs/mesh-format.md) for the compile and audit benchmarks.

Usage: gen_mesh.py --services N [--routes-per-service K] [--seed S] [--routes-per-file D] OUT_DIR

The same arguments always give byte-identical files (random.Random(seed), fixed dates, no clock).

What it writes, for N services:
  6 clusters (aws, gcp, azure) in 3 jurisdictions (EU, UK, US), 2 clusters per jurisdiction;
  max(1, N/50) namespaces, each homed in one jurisdiction; labels on all, data classes on ~10%;
  N services, spread round-robin over the namespaces: SPIFFE identity, labels, 1-2 ports, owner,
    mtls (mostly STRICT, some PERMISSIVE/DISABLE, some unset), data classes on ~20%; one cluster
    of their namespace's jurisdiction, ~12% in both of its clusters, ~3% across jurisdictions;
  N*K routes between random services (source on ~85%): matches (methods, path, headers),
    weighted destinations on ~20%, cluster-pinned targets, external destinations on ~3%,
    timeouts on ~35%, retries on ~20%, mirrors on ~2%, failover on ~5%;
  max(1, N/100) externals and max(1, N/50) certificates (not_after between 2024 and 2028, so
    some have expired).
Every reference resolves: services are named `namespace/name`, externals by name.

Layout (several files in nested directories, so that directory recursion is exercised):
  infra/clusters.yaml       Cluster and Jurisdiction documents
  infra/externals.yaml      External documents
  infra/certificates.yml    Certificate documents (.yml on purpose)
  namespaces/<jur>/<ns>.yaml  one Namespace document followed by its services
  routes/routes-NNNN.yaml   routes, --routes-per-file documents each (default 2000)
  .gen_mesh.json            the arguments and counts (also marks the directory as generated)

OUT_DIR must be empty, missing, or a directory this script generated before (it is replaced).
"""
import argparse
import json
import os
import random
import shutil
import sys

TRUST_DOMAIN = "acme.io"

# name, provider, region, zone, network, jurisdiction
CLUSTERS = [
    ("aws-eu-west-1", "aws", "eu-west-1", "eu-west-1a", "net-eu", "EU"),
    ("gcp-europe-west3", "gcp", "europe-west3", "europe-west3-b", "net-eu", "EU"),
    ("aws-eu-west-2", "aws", "eu-west-2", "eu-west-2a", "net-uk", "UK"),
    ("azure-uksouth", "azure", "uksouth", None, "net-uk", "UK"),
    ("gcp-us-central1", "gcp", "us-central1", "us-central1-c", "net-us", "US"),
    ("azure-eastus", "azure", "eastus", None, "net-us", "US"),
]
JURISDICTIONS = {
    "EU": ["eu-west-1", "eu-central-1", "europe-west1", "europe-west3", "westeurope"],
    "UK": ["eu-west-2", "europe-west2", "uksouth", "ukwest"],
    "US": ["us-east-1", "us-west-2", "us-central1", "eastus", "westus2"],
}
JUR_NAMES = ["EU", "UK", "US"]
CLUSTERS_BY_JUR = {j: [c[0] for c in CLUSTERS if c[5] == j] for j in JUR_NAMES}

WORDS = ["payments", "checkout", "cart", "catalog", "search", "orders", "billing", "ledger",
         "users", "profile", "auth", "session", "inventory", "shipping", "pricing", "reviews",
         "ratings", "notify", "email", "sms", "reports", "analytics", "gateway", "frontend",
         "vault", "audit", "fraud", "risk", "kyc", "quotes", "claims", "records"]
TIERS = ["frontend", "backend", "data", "edge"]
DATA_CLASSES = ["pii", "pci", "health", "financial"]
MAIN_PORTS = [(8080, "http"), (8080, "http"), (8443, "https"), (9090, "grpc"), (50051, "grpc"),
              (3000, "http2"), (5432, "tcp"), (6379, "tcp"), (443, "tls")]
METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD"]
PATHS = ["/", "/api/", "/api/v1/", "/api/v2/", "/admin/", "/internal/", "/v1/charge", "/health"]
TIMEOUTS = ["250ms", "500ms", "1s", "1.5s", "2s", "5s", "30s", "1m"]
EXTERNAL_HOSTS = ["api.stripe.com", "api.twilio.com", "hooks.slack.com", "api.sendgrid.com",
                  "storage.googleapis.com", "s3.amazonaws.com", "api.github.com", "login.example.eu"]


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--services", type=int, required=True)
    ap.add_argument("--routes-per-service", type=int, default=2)
    ap.add_argument("--routes-per-file", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("out_dir")
    a = ap.parse_args(argv)
    if a.services < 1 or a.routes_per_service < 0 or a.routes_per_file < 1:
        ap.error("--services must be >= 1, --routes-per-service >= 0, --routes-per-file >= 1")
    return a


def prepare_out_dir(path):
    """Empties OUT_DIR if this script made it; refuses to touch any other non-empty directory."""
    if os.path.isdir(path) and os.listdir(path):
        if not os.path.exists(os.path.join(path, ".gen_mesh.json")):
            sys.exit("gen_mesh: %s is not empty and was not made by gen_mesh.py; refusing to "
                     "overwrite it" % path)
        shutil.rmtree(path)
    os.makedirs(path, exist_ok=True)
    # Claim the directory first, so that an interrupted run can be replaced by the next one.
    with open(os.path.join(path, ".gen_mesh.json"), "w") as f:
        f.write("{}\n")


class Writer:
    """Accumulates documents per file; each document is a list of lines."""

    def __init__(self, root):
        self.root = root
        self.files = {}  # relative path -> list of document strings
        self.docs = 0

    def add(self, rel, lines):
        self.files.setdefault(rel, []).append("\n".join(lines) + "\n")
        self.docs += 1

    def flush(self):
        total = 0
        for rel in sorted(self.files):
            full = os.path.join(self.root, rel)
            os.makedirs(os.path.dirname(full), exist_ok=True)
            text = "---\n".join(self.files[rel])
            with open(full, "w", encoding="ascii", newline="\n") as f:
                f.write(text)
            total += len(text)
        return total


def header(kind, name):
    return ["apiVersion: meshpol.io/v1", "kind: " + kind, "name: " + name]


def ports_lines(ports, indent):
    out = [indent + "ports:"]
    for number, proto, pname in ports:
        out.append(indent + "  - port: %d" % number)
        out.append(indent + "    protocol: " + proto)
        if pname:
            out.append(indent + "    name: " + pname)
    return out


def gen_infra(w):
    for name, provider, region, zone, network, _ in CLUSTERS:
        doc = header("Cluster", name) + ["provider: " + provider, "region: " + region]
        if zone:
            doc.append("zone: " + zone)
        doc.append("network: " + network)
        w.add("infra/clusters.yaml", doc)
    for jur in JUR_NAMES:
        w.add("infra/clusters.yaml",
              header("Jurisdiction", jur) + ["regions: [%s]" % ", ".join(JURISDICTIONS[jur])])


def gen_namespaces(rnd, n_ns, n_teams):
    namespaces = []
    for i in range(n_ns):
        name = "ns-%03d" % i
        jur = JUR_NAMES[i % len(JUR_NAMES)]
        labels = [("team", "team-%02d" % rnd.randrange(n_teams)),
                  ("env", rnd.choice(["prod", "staging", "dev"]))]
        data = sorted(rnd.sample(DATA_CLASSES, rnd.randint(1, 2))) if rnd.random() < 0.10 else []
        namespaces.append({"name": name, "jur": jur, "labels": labels, "data": data})
    return namespaces


def gen_services(rnd, n, namespaces, n_teams):
    services = []
    per_ns = {}
    for i in range(n):
        ns = namespaces[i % len(namespaces)]
        name = "%s-%05d" % (rnd.choice(WORDS), i)
        home = CLUSTERS_BY_JUR[ns["jur"]]
        r = rnd.random()
        if r < 0.03:  # across jurisdictions: what residency policies look for
            other = rnd.choice([j for j in JUR_NAMES if j != ns["jur"]])
            clusters = [rnd.choice(home), rnd.choice(CLUSTERS_BY_JUR[other])]
        elif r < 0.15:
            clusters = list(home)
        else:
            clusters = [rnd.choice(home)]
        number, proto = rnd.choice(MAIN_PORTS)
        ports = [(number, proto, "main")]
        if rnd.random() < 0.4:
            ports.append((rnd.choice([9901, 15090, 8081]), "http", "metrics"))
        svc = {
            "name": name, "ns": ns["name"], "clusters": clusters, "ports": ports,
            "labels": [("app", name), ("version", "v%d" % rnd.randint(1, 4)),
                       ("tier", rnd.choice(TIERS))],
            "data": sorted(rnd.sample(DATA_CLASSES, rnd.randint(1, 2))) if rnd.random() < 0.2 else [],
            "owner": "team-%02d" % rnd.randrange(n_teams),
            "mtls": rnd.choices(["STRICT", "PERMISSIVE", "DISABLE", None], [70, 15, 5, 10])[0],
        }
        svc["ref"] = "%s/%s" % (svc["ns"], name)
        svc["identity"] = "spiffe://%s/ns/%s/sa/%s" % (TRUST_DOMAIN, svc["ns"], name)
        services.append(svc)
        per_ns.setdefault(ns["name"], []).append(svc)
    return services, per_ns


def write_namespaces(w, namespaces, per_ns):
    for ns in namespaces:
        rel = "namespaces/%s/%s.yaml" % (ns["jur"].lower(), ns["name"])
        doc = header("Namespace", ns["name"]) + ["labels:"]
        doc += ["  %s: %s" % kv for kv in ns["labels"]]
        if ns["data"]:
            doc.append("data: [%s]" % ", ".join(ns["data"]))
        w.add(rel, doc)
        for s in per_ns.get(ns["name"], []):
            doc = header("Service", s["name"]) + ["namespace: " + s["ns"]]
            if len(s["clusters"]) == 1:
                doc.append("cluster: " + s["clusters"][0])
            else:
                doc.append("clusters:")
                doc += ["  - " + c for c in s["clusters"]]
            doc.append("identity: " + s["identity"])
            doc.append("labels:")
            doc += ["  %s: %s" % kv for kv in s["labels"]]
            doc += ports_lines(s["ports"], "")
            if s["data"]:
                doc.append("data: [%s]" % ", ".join(s["data"]))
            doc.append("owner: " + s["owner"])
            if s["mtls"]:
                doc.append("mtls: " + s["mtls"])
            w.add(rel, doc)


def gen_externals(rnd, w, n_ext):
    externals = []
    for i in range(n_ext):
        name = "ext-%04d" % i
        host = "%s-%d.%s" % ("api", i, rnd.choice(EXTERNAL_HOSTS))
        jur = rnd.choice(JUR_NAMES)
        doc = header("External", name) + ["host: " + host]
        if rnd.random() < 0.7:
            doc.append("region: " + rnd.choice(JURISDICTIONS[jur]))
        doc.append("jurisdiction: " + jur)
        doc += ports_lines([(443, "https", "https")], "")
        w.add("infra/externals.yaml", doc)
        externals.append(name)
    return externals


def gen_certificates(rnd, w, n_cert, services):
    for i in range(n_cert):
        s = rnd.choice(services)
        doc = header("Certificate", "cert-%04d" % i)
        doc.append("subject: CN=%s.%s" % (s["name"], s["ns"]))
        doc.append("identity: " + s["identity"])
        year, month, day = rnd.randint(2024, 2027), rnd.randint(1, 12), rnd.randint(1, 28)
        if rnd.random() < 0.5:
            doc.append("not_after: %04d-%02d-%02d" % (year, month, day))
        else:
            doc.append("not_after: %04d-%02d-%02dT%02d:%02d:00Z"
                       % (year, month, day, rnd.randrange(24), rnd.randrange(60)))
        w.add("infra/certificates.yml", doc)


def target_string(rnd, svc, pin_p):
    if len(svc["clusters"]) > 1 and rnd.random() < pin_p:
        return "%s@%s" % (svc["ref"], rnd.choice(svc["clusters"]))
    if rnd.random() < pin_p / 2:
        return "%s@%s" % (svc["ref"], svc["clusters"][0])
    return svc["ref"]


def split_weights(rnd, k):
    """k positive integer weights summing to 100."""
    cuts = sorted(rnd.sample(range(1, 100), k - 1))
    return [b - a for a, b in zip([0] + cuts, cuts + [100])]


def gen_routes(rnd, w, n_routes, services, externals, per_file):
    counts = {"weighted": 0, "external": 0, "failover": 0, "mirror": 0}
    for i in range(n_routes):
        rel = "routes/routes-%04d.yaml" % (i // per_file)
        dst = rnd.choice(services)
        doc = header("Route", "route-%06d" % i)
        if rnd.random() < 0.85:
            doc.append("source: " + rnd.choice(services)["ref"])
        r = rnd.random()
        if r < 0.20:  # weighted split across 2-3 services (canary / migration)
            ks = rnd.randint(2, 3)
            dsts = [dst]
            while len(dsts) < ks:
                s = rnd.choice(services)
                if all(s is not d for d in dsts):
                    dsts.append(s)
            doc.append("destinations:")
            for s, wt in zip(dsts, split_weights(rnd, ks)):
                doc.append("  - service: " + s["ref"])
                if len(s["clusters"]) > 1 and rnd.random() < 0.3:
                    doc.append("    cluster: " + rnd.choice(s["clusters"]))
                doc.append("    weight: %d" % wt)
            counts["weighted"] += 1
        elif r < 0.23 and externals:
            ext = rnd.choice(externals)
            if rnd.random() < 0.5:
                doc.append("destination: " + ext)
            else:
                doc += ["destination:", "  external: " + ext]
            counts["external"] += 1
        else:
            doc.append("destination: " + target_string(rnd, dst, 0.10))
        if rnd.random() < 0.7:
            doc.append("match:")
            if rnd.random() < 0.8:
                doc.append("  methods: [%s]" % ", ".join(sorted(rnd.sample(METHODS, rnd.randint(1, 3)))))
            p = rnd.random()
            if p < 0.6:
                doc += ["  path:", "    prefix: " + rnd.choice(PATHS)]
            elif p < 0.85:
                doc += ["  path:", "    exact: /api/v1/items/%d" % rnd.randrange(1000)]
            else:
                doc += ["  path:", "    regex: \"^/api/v[0-9]+/orders/[0-9]+$\""]
            if rnd.random() < 0.15:
                doc += ["  headers:", "    x-tenant: " + rnd.choice(["eu", "uk", "us"])]
        if rnd.random() < 0.35:
            doc.append("timeout: " + rnd.choice(TIMEOUTS))
        if rnd.random() < 0.20:
            doc += ["retries:", "  attempts: %d" % rnd.randint(0, 5),
                    "  per_try_timeout: " + rnd.choice(TIMEOUTS[:5])]
        if rnd.random() < 0.02:
            doc.append("mirror: " + rnd.choice(services)["ref"])
            counts["mirror"] += 1
        if rnd.random() < 0.05:
            doc.append("failover:")
            doc += ["  - " + target_string(rnd, rnd.choice(services), 0.3)
                    for _ in range(rnd.randint(1, 2))]
            counts["failover"] += 1
        w.add(rel, doc)
    return counts


def main(argv):
    a = parse_args(argv)
    rnd = random.Random(a.seed)
    n = a.services
    n_ns = max(1, n // 50)
    n_teams = max(5, n // 100)
    n_ext = max(1, n // 100)
    n_cert = max(1, n // 50)
    n_routes = n * a.routes_per_service

    prepare_out_dir(a.out_dir)
    w = Writer(a.out_dir)
    gen_infra(w)
    namespaces = gen_namespaces(rnd, n_ns, n_teams)
    services, per_ns = gen_services(rnd, n, namespaces, n_teams)
    write_namespaces(w, namespaces, per_ns)
    externals = gen_externals(rnd, w, n_ext)
    gen_certificates(rnd, w, n_cert, services)
    route_counts = gen_routes(rnd, w, n_routes, services, externals, a.routes_per_file)
    size = w.flush()

    summary = {
        "generator": "bench/gen_mesh.py", "seed": a.seed, "services": n,
        "routes_per_service": a.routes_per_service, "routes_per_file": a.routes_per_file,
        "clusters": len(CLUSTERS), "jurisdictions": len(JUR_NAMES), "namespaces": n_ns,
        "routes": n_routes, "externals": n_ext, "certificates": n_cert,
        "documents": w.docs, "files": len(w.files), "bytes": size, "route_features": route_counts,
    }
    with open(os.path.join(a.out_dir, ".gen_mesh.json"), "w") as f:
        json.dump(summary, f, indent=1, sort_keys=True)
        f.write("\n")
    print("gen_mesh: %s: %d services, %d routes, %d documents in %d files, %.1f MB"
          % (a.out_dir, n, n_routes, w.docs, len(w.files), size / 1e6), file=sys.stderr)


if __name__ == "__main__":
    main(sys.argv[1:])
