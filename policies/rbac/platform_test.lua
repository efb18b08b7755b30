-- Tests of rbac.platform against the Acme mesh.
model "../examples/acme"

local COLLECTOR = "spiffe://acme.io/ns/monitoring/sa/otel-collector"
local ECHO = "spiffe://acme.io/ns/sandbox/sa/echo"

test "the collector scrapes /metrics with GET only" (function()
  expect_allow { from = COLLECTOR, to = "catalog/search", method = "GET", path = "/metrics" }
  expect_allow { from = COLLECTOR, to = "catalog/inventory", method = "GET", path = "/metrics" }
  expect_deny { from = COLLECTOR, to = "catalog/search", method = "POST", path = "/metrics",
                effect = "not_permitted" }
  expect_deny { from = COLLECTOR, to = "catalog/search", method = "GET", path = "/metrics/raw",
                effect = "not_permitted" }
end)

test "any acme.io workload reads health endpoints (principal prefix pattern)" (function()
  expect_allow { from = "spiffe://acme.io/ns/catalog/sa/search", to = "catalog/inventory",
                 method = "GET", path = "/healthz" }
end)

test "the sandbox stays in the sandbox" (function()
  expect_deny { from = ECHO, to = "catalog/search", method = "GET", path = "/healthz",
                policy = "rbac.platform", rule = "sandbox-stays-in-sandbox", effect = "forbidden" }
end)

test "the echo service answers callers without a principal" (function()
  -- sandbox/echo is PERMISSIVE: require_mtls does not apply
  expect_allow { to = "sandbox/echo", method = "GET", path = "/echo/hello" }
  expect_allow { from = "spiffe://acme.io/ns/shop/sa/storefront", to = "sandbox/echo",
                 method = "POST", path = "/echo" }
end)

test "mesh-wide grants stop at the mesh's edge" (function()
  -- a grant to services never reaches externals: egress needs an `external` grant
  expect_deny { from = COLLECTOR, to = "api.stripe.com", method = "GET", path = "/metrics",
                effect = "not_permitted" }
  expect_deny { from = "spiffe://acme.io/ns/catalog/sa/search", to = "api.stripe.com",
                method = "GET", path = "/healthz", effect = "not_permitted" }
end)
