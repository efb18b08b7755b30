-- rbac.shop: who may call the shop team's services (namespaces shop and shop-us).
--
-- Routes served (examples/acme/routes.yaml): storefront-cart, storefront-checkout-canary,
-- storefront-recommendations, checkout-cart, checkout-notifications. The ingress gateway's
-- routes to the two storefronts are granted by rbac.platform; the shop's calls into other
-- teams' services are granted by those teams' policies (rbac.identity, rbac.billing, ...).

policy "rbac.shop" {
  version = "1.5.0",
  kind = "rbac",
  enforcement = "hard",
  severity = "high",
  controls = { "SOC2-CC6.1", "SOC2-CC6.3", "ISO27001-A.9.4.1" },
  description = "Calls into the shop team's services: cart, checkout and its canary, "
    .. "recommendations, notifications",
}

local SHOP = "spiffe://acme.io/ns/shop/sa/"

-- The cart: the EU storefront reads and edits it (route storefront-cart, prefix /cart).
role "cart.editor" {
  allow { service = "shop/cart", methods = { "GET", "POST", "PUT", "DELETE" },
          paths = { "/cart", "/cart/{**}" }, message = "the storefront edits the cart" },
}
bind "cart.editor" {
  principals = { SHOP .. "storefront" },
}

-- Checkout reads the cart it is paying for and clears it afterwards (route checkout-cart).
-- `{*}` is one segment: /cart/c-1001 but not /cart/c-1001/items.
allow "checkout-reads-and-clears-cart" {
  service = "shop/cart",
  methods = { "GET", "DELETE" },
  paths = { "/cart/{*}" },
  from = { principals = { SHOP .. "checkout" } },
  message = "checkout reads and clears the cart it pays for",
}

-- Checkout and its canary: the storefront splits POST /checkout 90/10 between them
-- (route storefront-checkout-canary), so both must accept the same calls.
role "checkout.caller" {
  allow { service = { "shop/checkout", "shop/checkout-v2" }, methods = { "POST" },
          paths = { "/checkout", "/checkout/{**}" }, message = "the storefront starts checkout" },
}
bind "checkout.caller" {
  principals = { SHOP .. "storefront" },
}

-- "Related products" (route storefront-recommendations, regex ^/product/[0-9]+/related$).
-- Both keys of `from` must match: the US storefront carries the same app label but lives in
-- namespace shop-us, so it is not granted.
allow "storefront-related-products" {
  service = "shop/recommendations",
  methods = { "GET" },
  paths = { "/product/{*}/related" },
  from = { namespaces = { "shop" }, labels = { app = "storefront" } },
  message = "the EU storefront shows related products",
}

-- Order confirmations (route checkout-notifications). The canary has no route to
-- notifications, so it is not granted either.
allow "checkout-order-confirmation" {
  service = "shop/notifications",
  methods = { "POST" },
  paths = { "/v1/order-confirmation", "/v1/order-confirmation/{*}" },
  from = { services = { "shop/checkout" } },
  message = "checkout sends the order confirmation e-mail",
}

-- Go's pprof and other debug handlers are compiled into the shop's services; they must never
-- be reachable through the mesh, whoever asks and whatever else allows it.
deny "no-debug-endpoints" {
  namespace = { "shop", "shop-us" },
  paths = { "/debug", "/debug/*" },
  message = "debug endpoints of shop services are not reachable through the mesh",
}

-- Order confirmation e-mails leave through Brevo (route notifications-email).
allow "brevo-egress" {
  external = "api.brevo.com",
  methods = { "POST" },
  paths = { "/v3/smtp/email" },
  from = { principals = { "spiffe://acme.io/ns/shop/sa/notifications" } },
  message = "notifications sends e-mail through Brevo",
}
