-- Tests of rbac.catalog against the Acme mesh.
model "../examples/acme"

local GATEWAY = "spiffe://acme.io/ns/edge/sa/ingress-gateway"
local STOREFRONT = "spiffe://acme.io/ns/shop/sa/storefront"

test "the internet reads the catalog through the gateway" (function()
  expect_allow { from = GATEWAY, to = "catalog/products", method = "GET",
                 path = "/api/catalog/products/sku-4711" }
  expect_allow { from = GATEWAY, to = "catalog/products", method = "HEAD",
                 path = "/api/catalog/products" }
end)

test "the internet cannot change the catalog" (function()
  expect_deny { from = GATEWAY, to = "catalog/products", method = "POST",
                path = "/api/catalog/products", rule = "no-writes-from-edge",
                effect = "forbidden" }
end)

test "storefront search, stock and indexing" (function()
  expect_allow { from = STOREFRONT, to = "catalog/search", method = "GET", path = "/search" }
  expect_allow { from = STOREFRONT, to = "catalog/search", method = "GET",
                 path = "/search/suggest" }
  expect_allow { from = "catalog/products", to = "catalog/inventory", method = "GET",
                 path = "/v1/stock/sku-4711" }
  expect_allow { from = "catalog/search", to = "catalog/products", method = "GET",
                 path = "/v1/products/sku-4711" }
end)

-- Config and policy disagree on purpose: the mesh routes inventory -> search
-- (inventory-search-reindex, the middle of the routing loop, acme README #1); no rule allows it.
test "inventory may not trigger a reindex" (function()
  expect_deny { from = "catalog/inventory", to = "catalog/search", method = "POST",
                path = "/internal/reindex", effect = "not_permitted" }
end)
