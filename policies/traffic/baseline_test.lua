-- Tests of traffic.baseline's request rules against the Acme mesh. Its `check` rules run at
-- audit time (`meshpol audit`), not here.
model "../examples/acme"

local STOREFRONT = "spiffe://acme.io/ns/shop/sa/storefront"
local INVOICING = "spiffe://acme.io/ns/billing/sa/invoicing"

test "no plaintext to a STRICT service" (function()
  -- no `from`: the request has no principal; catalog/products is STRICT
  expect_deny { to = "catalog/products", method = "GET", path = "/api/catalog/products",
                policy = "traffic.baseline", rule = "no-plaintext-to-strict",
                effect = "forbidden" }
  -- the same request from the gateway's principal is allowed (rbac.catalog)
  expect_allow { from = "spiffe://acme.io/ns/edge/sa/ingress-gateway", to = "catalog/products",
                 method = "GET", path = "/api/catalog/products" }
end)

test "regulated namespaces call only declared routes" (function()
  -- invoicing is a named card-data caller and payments-any-caller grants it everything, but
  -- the mesh declares no route from invoicing to payments
  expect_deny { from = INVOICING, to = "billing/payments", method = "POST", path = "/v1/charge",
                rule = "declared-routes-only", effect = "forbidden" }
  expect_deny { from = STOREFRONT, to = "billing/payments", method = "POST", path = "/v1/charge",
                rule = "declared-routes-only", effect = "forbidden" }
end)

test "a mirror target counts as declared" (function()
  -- invoicing-warehouse mirrors to data/events-ingest
  expect_allow { from = INVOICING, to = "data/events-ingest", port = 9092 }
end)

test "a route without a source declares every caller" (function()
  -- sandbox-echo has no source
  expect_allow { from = STOREFRONT, to = "sandbox/echo", method = "GET", path = "/echo/ping" }
end)

test "namespaces outside the list are not limited to routes" (function()
  -- no route from search to inventory; catalog is not a regulated namespace
  expect_allow { from = "spiffe://acme.io/ns/catalog/sa/search", to = "catalog/inventory",
                 method = "GET", path = "/readyz" }
end)
