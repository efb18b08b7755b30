-- docs/policy-guide.md: the part of rbac.billing (policies/rbac/billing.lua) its test needs.
policy "rbac.billing" { version = "2.4.0", kind = "rbac", severity = "critical" }

local CHECKOUT = "spiffe://acme.io/ns/shop/sa/checkout"
local CHECKOUT_V2 = "spiffe://acme.io/ns/shop/sa/checkout-v2"

allow "checkout-charges" {
  service = "billing/payments", methods = { "POST" }, paths = { "/v1/charge" },
  from = { principals = { CHECKOUT, CHECKOUT_V2 } },
}
deny "no-refunds-from-canary" {
  service = "billing/payments", paths = { "/v1/refunds", "/v1/refunds/{*}" },
  from = { principals = { CHECKOUT_V2 } },
  message = "the checkout canary may not issue refunds",
}
allow "payments-any-caller" { service = "billing/payments", from = { principals = { "*" } } }
