-- shop.lua: who may call the shop and billing services of the lab mesh.
policy "lab.rbac" {
  version = "1.2.0",
  kind = "rbac",
  severity = "high",
  controls = { "C-1" },
}

allow "web-starts-checkout" {
  service = "shop/checkout",
  methods = { "POST" },
  paths = { "/checkout", "/checkout/{**}" },
  from = { principals = { "spiffe://lab/ns/shop/sa/web" } },
  message = "the web front starts checkout",
}

allow "checkout-charges" {
  service = "billing/payments",
  methods = { "POST" },
  paths = { "/v1/charge" },
  from = { services = { "shop/checkout" } },
  message = "checkout charges cards",
}

role "reader" {
  allow { service = "billing/payments", methods = { "GET" }, paths = { "/v1/charges/{*}" } },
}
bind "reader" { namespaces = { "shop" } }

allow "scoring-for-ml" {
  service = "ml/scorer",
  methods = { "POST" },
  from = { namespaces = { "ml" } },
  message = "scoring is for the ml team's own jobs",
}

deny "no-sandbox" {
  service = "*", namespace = "billing",
  from = { namespaces = { "sandbox" } },
  message = "sandbox may not call billing",
}

allow "tenant-header" {
  service = "shop/web",
  methods = { "GET" },
  headers = { ["x-tenant"] = "eu-*" },
  when = function(req) return req.request.path ~= "/admin" end,
  message = "EU tenants browse the web front",
}
