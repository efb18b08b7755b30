-- docs/policy-guide.md: the second test misspells the rule that denies the refund.
model "../../../../examples/acme"

local CHECKOUT = "spiffe://acme.io/ns/shop/sa/checkout"
local CHECKOUT_V2 = "spiffe://acme.io/ns/shop/sa/checkout-v2"

test "checkout and its canary charge cards" (function()
  expect_allow { from = CHECKOUT, to = "billing/payments", method = "POST", path = "/v1/charge" }
  expect_allow { from = CHECKOUT_V2, to = "billing/payments", method = "POST",
                 path = "/v1/charge" }
end)

test "the canary may not refund" (function()
  expect_deny { from = CHECKOUT_V2, to = "billing/payments", method = "POST",
                path = "/v1/refunds/ch_3PqR7", rule = "no-refund-from-canary",
                effect = "forbidden" }
end)

test "the over-broad grant lets checkout delete charges" (function()
  expect_allow { from = CHECKOUT, to = "billing/payments", method = "DELETE",
                 path = "/v1/charges/ch_3PqR7" }
end)
