-- rbac.platform: mesh-wide grants owned by the platform team: metrics scraping, health
-- probes, the ingress gateway's routes to the storefronts, and the sandbox.
--
-- Routes served: web-storefront-eu, web-storefront-us, sandbox-echo. The gateway's storefront
-- routes are granted here, but residency.gdpr forbids them at request time (the gateway also
-- runs in uk-prod-1 and us-prod-1); see policies/README.md, "Config and policy disagree".

policy "rbac.platform" {
  version = "1.3.0",
  kind = "rbac",
  enforcement = "hard",
  severity = "medium",
  controls = { "SOC2-CC6.1", "SOC2-CC7.2", "ISO27001-A.13.1.3" },
  description = "Mesh-wide grants: metrics scraping, health probes, ingress to the storefronts, "
    .. "sandbox isolation",
}

local NS = "spiffe://acme.io/ns/"
local GATEWAY = NS .. "edge/sa/ingress-gateway"

-- Every namespace of the mesh: a grant names the namespaces it opens (a new one is added here;
-- `meshpol check` fails if one listed here disappears from the model). Externals are never in
-- reach: `service = "*"` covers services only, egress needs `external` (policy-language.md).
local PRODUCTION = { "edge", "shop", "shop-us", "billing", "identity", "catalog", "banking-uk",
                     "data", "monitoring" }
local ALL_NAMESPACES = { "sandbox", table.unpack(PRODUCTION) }

-- The OpenTelemetry collector scrapes /metrics on every service of the mesh, with GET only.
allow "monitoring-scrapes-metrics" {
  namespace = ALL_NAMESPACES,
  methods = { "GET" },
  paths = { "/metrics" },
  from = { principals = { NS .. "monitoring/sa/otel-collector" } },
  message = "the collector scrapes Prometheus metrics",
}

-- Any workload of the acme.io trust domain may read any service's health endpoints.
-- "spiffe://acme.io/*" is a prefix pattern: every principal that starts with it.
role "platform.health-reader" {
  allow { namespace = ALL_NAMESPACES, methods = { "GET" }, paths = { "/healthz", "/readyz" },
          message = "workloads read each other's health" },
}
bind "platform.health-reader" {
  principals = { "spiffe://acme.io/*" },
}

-- The ingress gateway serves both storefronts (routes web-storefront-eu, web-storefront-us:
-- every path, selected by Host). Pages and assets are read with GET and HEAD anywhere;
-- changes go to the storefronts' API paths only.
allow "gateway-to-storefronts-read" {
  service = { "shop/storefront", "shop-us/storefront" },
  methods = { "GET", "HEAD" },
  paths = { "/*" },
  from = { principals = { GATEWAY } },
  message = "shoppers browse the storefronts",
}
allow "gateway-to-storefronts-write" {
  service = { "shop/storefront", "shop-us/storefront" },
  methods = { "POST", "PUT", "DELETE" },
  paths = { "/api/cart/{**}", "/checkout", "/checkout/{**}", "/auth/{**}" },
  from = { principals = { GATEWAY } },
  message = "shoppers fill carts, log in and check out",
}

-- The sandbox's echo service answers anyone, with or without a principal (it is PERMISSIVE
-- and has no data; route sandbox-echo has no source).
allow "anyone-to-sandbox-echo" {
  service = "sandbox/echo",
  paths = { "/echo", "/echo/{**}" },
  from = "*",
  message = "the sandbox echo service is open to all",
}

-- Nothing in the sandbox reaches production, whatever else allows it.
deny "sandbox-stays-in-sandbox" {
  service = "*",
  namespace = PRODUCTION,
  from = { namespaces = { "sandbox" } },
  message = "sandbox workloads may not call production services",
}
