-- docs/policy-guide.md: the second test misspells the rule that denies the refund.
model "../../../../examples/acme"

local CANARY = "spiffe://acme.io/ns/shop/sa/checkout-v2"

test "the canary charges cards" (function()
  expect_allow { from = CANARY, to = "billing/payments", method = "POST", path = "/v1/charge" }
end)

test "the canary may not refund" (function()
  expect_deny { from = CANARY, to = "billing/payments", method = "POST",
                path = "/v1/refunds/ch_3PqR7", rule = "no-refund-from-canary",
                effect = "forbidden" }
end)

test "anyone with a principal may delete charges (the planted grant)" (function()
  expect_allow { from = "spiffe://acme.io/ns/shop/sa/checkout", to = "billing/payments",
                 method = "DELETE", path = "/v1/charges/ch_3PqR7" }
end)
