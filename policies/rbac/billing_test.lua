-- Tests of rbac.billing against the Acme mesh.
model "../examples/acme"

local CHECKOUT = "spiffe://acme.io/ns/shop/sa/checkout"
local CHECKOUT_V2 = "spiffe://acme.io/ns/shop/sa/checkout-v2"
local PAYMENTS = "spiffe://acme.io/ns/billing/sa/payments"
local INVOICING = "spiffe://acme.io/ns/billing/sa/invoicing"

test "checkout and its canary charge cards" (function()
  expect_allow { from = CHECKOUT, to = "billing/payments", method = "POST", path = "/v1/charge" }
  expect_allow { from = CHECKOUT_V2, to = "billing/payments", method = "POST",
                 path = "/v1/charge" }
  expect_allow { from = CHECKOUT, to = "billing/payments", method = "GET",
                 path = "/v1/charges/ch_3PqR7" }
end)

test "the canary may not refund" (function()
  expect_deny { from = CHECKOUT_V2, to = "billing/payments", method = "POST",
                path = "/v1/refunds/ch_3PqR7", rule = "no-refunds-from-canary",
                effect = "forbidden" }
end)

-- The planted over-broad grant (acme README #6) at work: payments-any-caller lets checkout do
-- anything on payments. When the grant is removed, this expectation must be turned around.
test "the over-broad grant lets checkout delete charges" (function()
  expect_allow { from = CHECKOUT, to = "billing/payments", method = "DELETE",
                 path = "/v1/charges/ch_3PqR7" }
end)

test "payments scores fraud and raises invoices" (function()
  expect_allow { from = PAYMENTS, to = "billing/fraud-check", method = "POST",
                 path = "/acme.billing.v1.FraudCheck/Score" }
  expect_allow { from = PAYMENTS, to = "billing/invoicing", method = "POST",
                 path = "/v1/invoices/inv-2026-0042" }
  expect_deny { from = PAYMENTS, to = "billing/invoicing", method = "GET",
                path = "/v1/invoices/inv-2026-0042", effect = "not_permitted" }
end)

test "the ledger takes its two writers on the PostgreSQL port only" (function()
  expect_allow { from = PAYMENTS, to = "billing/ledger", port = 5432 }
  expect_allow { from = INVOICING, to = "billing/ledger", port = 5432 }
  expect_deny { from = PAYMENTS, to = "billing/ledger", port = 8080, effect = "not_permitted" }
end)
