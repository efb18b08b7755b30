-- Tests of rbac.shop against the Acme mesh.
model "../examples/acme"

local STOREFRONT = "spiffe://acme.io/ns/shop/sa/storefront"
local US_STOREFRONT = "spiffe://acme.io/ns/shop-us/sa/storefront"
local CHECKOUT = "spiffe://acme.io/ns/shop/sa/checkout"

test "the storefront edits the cart" (function()
  expect_allow { from = STOREFRONT, to = "shop/cart", method = "GET", path = "/cart" }
  -- {**} matches any number of segments
  expect_allow { from = STOREFRONT, to = "shop/cart", method = "PUT",
                 path = "/cart/items/sku-4711/quantity" }
  expect_deny { from = STOREFRONT, to = "shop/cart", method = "PATCH", path = "/cart/items/1",
                effect = "not_permitted" }
end)

test "checkout reads and clears the cart, nothing more" (function()
  expect_allow { from = CHECKOUT, to = "shop/cart", method = "GET", path = "/cart/c-1001" }
  expect_allow { from = CHECKOUT, to = "shop/cart", method = "DELETE", path = "/cart/c-1001" }
  expect_deny { from = CHECKOUT, to = "shop/cart", method = "POST", path = "/cart/c-1001",
                effect = "not_permitted" }
  -- {*} is exactly one segment
  expect_deny { from = CHECKOUT, to = "shop/cart", method = "GET", path = "/cart/c-1001/items",
                effect = "not_permitted" }
end)

test "the storefront reaches checkout and its canary alike" (function()
  expect_allow { from = STOREFRONT, to = "shop/checkout", method = "POST", path = "/checkout" }
  expect_allow { from = STOREFRONT, to = "shop/checkout-v2", method = "POST",
                 path = "/checkout/orders/o-77" }
  expect_deny { from = STOREFRONT, to = "shop/checkout", method = "GET", path = "/checkout",
                effect = "not_permitted" }
end)

test "related products: a {*} template in the middle of a path" (function()
  expect_allow { from = STOREFRONT, to = "shop/recommendations", method = "GET",
                 path = "/product/12345/related" }
  expect_deny { from = STOREFRONT, to = "shop/recommendations", method = "GET",
                path = "/product/related", effect = "not_permitted" }
end)

test "every key of from must match: the US storefront is not the EU one" (function()
  -- same app=storefront label, but namespace shop-us
  expect_deny { from = US_STOREFRONT, to = "shop/recommendations", method = "GET",
                path = "/product/12345/related", effect = "not_permitted" }
end)

test "checkout sends order confirmations" (function()
  expect_allow { from = CHECKOUT, to = "shop/notifications", method = "POST",
                 path = "/v1/order-confirmation/o-77" }
end)

test "debug endpoints are never reachable" (function()
  expect_deny { from = STOREFRONT, to = "shop/cart", method = "GET", path = "/debug/pprof/heap",
                policy = "rbac.shop", rule = "no-debug-endpoints", effect = "forbidden" }
end)
