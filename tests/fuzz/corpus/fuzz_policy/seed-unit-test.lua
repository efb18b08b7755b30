-- meshpol test's own test of this bundle (tests/e2e/policy.sh runs it).
test "web charges" (function()
  expect_allow { from = "shop/web", to = "billing/pay", method = "POST", path = "/v1/charge" }
end)
test "sandbox is forbidden" (function()
  expect_deny { from = "sandbox/echo", to = "billing/pay", method = "POST", path = "/v1/charge",
                rule = "no-sandbox", policy = "t.rbac", effect = "forbidden" }
end)
test "decide returns a table" (function()
  local d = decide { from = "shop/web", to = "billing/pay", method = "GET", path = "/nope" }
  assert(d.effect == "not_permitted", d.effect)
  assert(d.bundle.revision == "7")
end)
