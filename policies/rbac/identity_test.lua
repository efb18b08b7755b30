-- Tests of rbac.identity against the Acme mesh. The grants on identity/accounts are tested in
-- residency/gdpr_test.lua: residency forbids them (accounts also runs in us-prod-1).
model "../examples/acme"

local STOREFRONT = "spiffe://acme.io/ns/shop/sa/storefront"

test "the storefront manages sessions through a role" (function()
  expect_allow { from = STOREFRONT, to = "identity/auth", method = "POST", path = "/auth/login" }
  expect_allow { from = STOREFRONT, to = "identity/auth", method = "GET",
                 path = "/auth/session/current" }
  expect_deny { from = STOREFRONT, to = "identity/auth", method = "DELETE",
                path = "/auth/session/current", effect = "not_permitted" }
end)

test "bulk account export is never served over the mesh" (function()
  -- catalog/search holds no personal data and runs in the EU only: no residency rule applies,
  -- so the deny rule is the one reason.
  expect_deny { from = "catalog/search", to = "identity/accounts", method = "GET",
                path = "/v1/export/2026-11", rule = "no-account-export", effect = "forbidden" }
end)
