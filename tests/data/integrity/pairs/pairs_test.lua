test "the deny with a when always denies" (function()
  expect_deny { from = "shop/web", to = "shop/web", method = "GET", path = "/", rule = "deny-k17" }
end)
