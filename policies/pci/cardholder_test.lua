-- Tests of pci.cardholder against the Acme mesh.
model "../examples/acme"

local ECHO = "spiffe://acme.io/ns/sandbox/sa/echo"
local SEARCH = "spiffe://acme.io/ns/catalog/sa/search"

local function has_reason(d, policy, rule)
  for _, r in ipairs(d.reasons) do
    if r.policy == policy and r.rule == rule then return true end
  end
  return false
end

test "the sandbox never reaches card data" (function()
  expect_deny { from = ECHO, to = "billing/payments", method = "POST", path = "/v1/charge",
                policy = "pci.cardholder", rule = "no-sandbox-to-card-data",
                effect = "forbidden" }
  -- every matching deny is a reason, from every policy
  local d = decide { from = ECHO, to = "billing/payments", method = "POST", path = "/v1/charge" }
  assert(d.allow == false and d.effect == "forbidden", "sandbox -> payments must be forbidden")
  assert(has_reason(d, "pci.cardholder", "no-sandbox-to-card-data"), "no-sandbox-to-card-data")
  assert(has_reason(d, "pci.cardholder", "card-data-named-callers-only"),
         "card-data-named-callers-only")
  assert(has_reason(d, "rbac.platform", "sandbox-stays-in-sandbox"), "sandbox-stays-in-sandbox")
end)

test "card data needs an authenticated caller (a when condition)" (function()
  -- billing/ledger has mTLS DISABLE, so require_mtls does not apply: the pci rule does
  expect_deny { to = "billing/ledger", port = 5432, rule = "no-unauthenticated-card-access",
                effect = "forbidden" }
end)

test "only named callers reach card data, whatever rbac allows" (function()
  -- rbac.billing's over-broad payments-any-caller allows this; the named-callers deny wins
  expect_deny { from = SEARCH, to = "billing/payments", method = "POST", path = "/v1/charge",
                rule = "card-data-named-callers-only", effect = "forbidden" }
  expect_deny { from = SEARCH, to = "shop/checkout", method = "POST", path = "/checkout",
                rule = "card-data-named-callers-only", effect = "forbidden" }
end)

test "being a named caller grants nothing by itself" (function()
  -- the collector is named (it scrapes /metrics), but no rule lets it score fraud
  expect_allow { from = "spiffe://acme.io/ns/monitoring/sa/otel-collector",
                 to = "billing/fraud-check", method = "GET", path = "/metrics" }
  expect_deny { from = "spiffe://acme.io/ns/monitoring/sa/otel-collector",
                to = "billing/fraud-check", method = "POST",
                path = "/acme.billing.v1.FraudCheck/Score", effect = "not_permitted" }
end)
