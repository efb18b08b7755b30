-- rbac.billing: who may call the billing team's services (namespace billing, all `pci`).
--
-- Routes served: checkout-payments, checkout-v2-payments, us-storefront-payments,
-- payments-fraud-check, payments-ledger, payments-invoicing, invoicing-ledger.
-- pci.cardholder adds the card-data deny rules on top of these grants.

policy "rbac.billing" {
  version = "2.4.0",
  kind = "rbac",
  enforcement = "hard",
  severity = "critical",
  controls = { "SOC2-CC6.1", "PCI-DSS-7.1", "PCI-DSS-7.2", "ISO27001-A.9.4.1" },
  description = "Calls into the billing team's card-data services: payments, invoicing, "
    .. "fraud-check, ledger, stripe-adapter",
}

local NS = "spiffe://acme.io/ns/"
local CHECKOUT = NS .. "shop/sa/checkout"
local CHECKOUT_V2 = NS .. "shop/sa/checkout-v2"
local PAYMENTS = NS .. "billing/sa/payments"
local INVOICING = NS .. "billing/sa/invoicing"

-- Charging cards: checkout and its canary (routes checkout-payments, checkout-v2-payments).
allow "checkout-charges" {
  service = "billing/payments",
  methods = { "POST" },
  paths = { "/v1/charge" },
  from = { principals = { CHECKOUT, CHECKOUT_V2 } },
  message = "checkout charges cards",
}

-- Reading a charge back (order status pages).
role "payments.reader" {
  allow { service = "billing/payments", methods = { "GET" }, paths = { "/v1/charges/{*}" },
          message = "checkout reads a charge back" },
}
bind "payments.reader" {
  principals = { CHECKOUT, CHECKOUT_V2 },
}

-- The canary may charge, but refunds stay with the released checkout until the canary is
-- promoted.
deny "no-refunds-from-canary" {
  service = "billing/payments",
  paths = { "/v1/refunds", "/v1/refunds/{*}" },
  from = { principals = { CHECKOUT_V2 } },
  message = "the checkout canary may not issue refunds",
}

-- PLANTED PROBLEM (examples/acme/README.md #6): an over-broad grant. Any caller with a
-- principal, any method, any path, on the main card-data service. Left over from the
-- payments v12 migration; `meshpol audit` is expected to report it as over-broad. Requests
-- it would let through are still stopped by pci.cardholder (card-data-named-callers-only) and
-- traffic.baseline (declared-routes-only), except for the named callers on declared routes:
-- see policies/README.md.
allow "payments-any-caller" {
  service = "billing/payments",
  from = { principals = { "*" } },
  message = "temporary: any caller may use payments during the v12 migration",
}

-- Payments asks fraud-check for a score before charging (route payments-fraud-check, gRPC).
allow "payments-scores-fraud" {
  service = "billing/fraud-check",
  methods = { "POST" },
  paths = { "/acme.billing.v1.FraudCheck/{*}" },
  from = { principals = { PAYMENTS } },
  message = "payments scores each charge",
}

-- Invoices for settled charges (route payments-invoicing, prefix /v1/invoices).
allow "payments-creates-invoices" {
  service = "billing/invoicing",
  methods = { "POST" },
  paths = { "/v1/invoices", "/v1/invoices/{**}" },
  from = { principals = { PAYMENTS } },
  message = "payments raises an invoice for each settled charge",
}

-- The ledger is a PostgreSQL database (plain TCP, no method or path): only the two writers
-- (routes payments-ledger, invoicing-ledger), and only on its port.
allow "ledger-writers" {
  service = "billing/ledger",
  ports = { 5432 },
  from = { principals = { PAYMENTS, INVOICING } },
  message = "payments and invoicing write the ledger",
}

-- The US storefront pays through the Stripe adapter (route us-storefront-payments).
allow "us-storefront-checkout" {
  service = "billing/stripe-adapter",
  methods = { "POST" },
  paths = { "/checkout", "/checkout/{**}" },
  from = { principals = { NS .. "shop-us/sa/storefront" } },
  message = "the US storefront pays through Stripe",
}

-- Egress to the payment providers (routes stripe-adapter-stripe, payments-psp). External hosts
-- are granted by name: a mesh-wide `service = "*"` never reaches them.
allow "stripe-egress" {
  external = "api.stripe.com",
  methods = { "POST", "GET" },
  from = { principals = { NS .. "billing/sa/stripe-adapter" } },
  message = "the Stripe adapter calls Stripe",
}
allow "adyen-egress" {
  external = "checkout-live.adyen.com",
  methods = { "POST" },
  from = { principals = { PAYMENTS } },
  message = "payments calls Adyen",
}
