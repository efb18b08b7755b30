test "a misspelt key" (function()
  expect_deny { from = "spiffe://acme.io/ns/shop/sa/checkout", to = "billing/payments", rul = "x" }
end)
