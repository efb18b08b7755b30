-- Tests of rbac.banking against the Acme mesh.
model "../examples/acme"

local OPEN_BANKING = "spiffe://acme.io/ns/banking-uk/sa/open-banking"

test "KYC checks need the UK tenant header" (function()
  expect_allow { from = OPEN_BANKING, to = "banking-uk/kyc", method = "POST", path = "/v1/checks",
                 headers = { ["x-tenant"] = "uk" } }
  -- header names are case-insensitive
  expect_allow { from = OPEN_BANKING, to = "banking-uk/kyc", method = "GET",
                 path = "/v1/checks/chk-91", headers = { ["X-Tenant"] = "uk" } }
  expect_deny { from = OPEN_BANKING, to = "banking-uk/kyc", method = "POST", path = "/v1/checks",
                headers = { ["x-tenant"] = "ie" }, effect = "not_permitted" }
  expect_deny { from = OPEN_BANKING, to = "banking-uk/kyc", method = "POST", path = "/v1/checks",
                effect = "not_permitted" }
end)

test "open-banking reads statements in both UK clusters" (function()
  expect_allow { from = OPEN_BANKING, to = "banking-uk/statements", method = "GET",
                 path = "/v1/accounts/acc-7/statements" }
end)

test "issued statements are immutable" (function()
  expect_deny { from = OPEN_BANKING, to = "banking-uk/statements", method = "DELETE",
                path = "/v1/statements/st-2026-10", rule = "statements-are-immutable",
                effect = "forbidden" }
end)
