-- Tests of residency.gdpr against the Acme mesh.
--
-- Region facts used below (examples/acme): the shop, billing and identity services run in
-- eu-prod-1/eu-prod-2 (EU), except identity/accounts, which also runs in us-prod-1 (US);
-- banking-uk runs in uk-prod-1/uk-dr-1 (UK); data/ml-scoring and shop-us/storefront in
-- us-prod-1; edge/ingress-gateway and monitoring/otel-collector run in EU, UK and US clusters.
model "../examples/acme"

local NS = "spiffe://acme.io/ns/"
local STOREFRONT = NS .. "shop/sa/storefront"
local CHECKOUT = NS .. "shop/sa/checkout"
local AUTH = NS .. "identity/sa/auth"
local US_STOREFRONT = NS .. "shop-us/sa/storefront"
local GATEWAY = NS .. "edge/sa/ingress-gateway"
local OPEN_BANKING = NS .. "banking-uk/sa/open-banking"

local function has_rule(d, rule)
  for _, r in ipairs(d.reasons) do
    if r.rule == rule then return r.policy == "residency.gdpr" end
  end
  return false
end

test "EU personal data inside the EU is fine" (function()
  expect_allow { from = STOREFRONT, to = "shop/cart", method = "POST", path = "/cart/items" }
end)

-- acme README #2: auth-accounts fails over to accounts@us-prod-1. At request time any call to
-- accounts may be served from the US, so the call is forbidden.
test "auth may not call accounts while accounts also runs in the US" (function()
  expect_deny { from = AUTH, to = "identity/accounts", method = "POST",
                path = "/acme.identity.v1.Accounts/Get", policy = "residency.gdpr",
                rule = "pii-stays-in-eu", effect = "forbidden" }
end)

test "EU personal data does not go out to a US host" (function()
  -- outbound: the caller holds pii, the destination (api.stripe.com) is in the US
  expect_deny { from = CHECKOUT, to = "api.stripe.com", method = "POST", path = "/v1/charges",
                rule = "pii-stays-in-eu", effect = "forbidden" }
end)

test "EU personal data is not read from the US" (function()
  -- inbound: the destination holds pii, the caller runs in the US
  expect_deny { from = "data/ml-scoring", to = "data/warehouse", port = 8080, method = "GET",
                path = "/v1/customers", rule = "pii-stays-in-eu", effect = "forbidden" }
end)

-- acme README #11: kyc (uk-pii) calls api.verifid.eu, an EU-only external.
test "UK personal data does not go to an EU external" (function()
  expect_deny { from = "banking-uk/kyc", to = "api.verifid.eu", method = "POST",
                path = "/v2/verifications", rule = "uk-pii-stays-in-uk", effect = "forbidden" }
end)

test "egress to hosts inside the jurisdiction is not a residency matter" (function()
  -- rbac grants these; residency has nothing against them
  expect_allow { from = OPEN_BANKING, to = "api.northbridge-bank.co.uk", method = "GET",
                 path = "/open-banking/v3.1/aisp/accounts" }
  expect_allow { from = "shop/notifications", to = "api.brevo.com", method = "POST",
                 path = "/v3/smtp/email" }
  -- and nothing grants other callers egress
  expect_deny { from = "shop/cart", to = "api.brevo.com", method = "POST",
                path = "/v3/smtp/email", effect = "not_permitted" }
end)

test "EU and UK personal data meet: both rules forbid, one per direction" (function()
  local d = decide { from = STOREFRONT, to = "banking-uk/statements", method = "GET",
                     path = "/v1/statements/st-1" }
  assert(d.allow == false and d.effect == "forbidden", "EU storefront -> UK statements")
  assert(has_rule(d, "pii-stays-in-eu"), "the storefront's pii would go to the UK")
  assert(has_rule(d, "uk-pii-stays-in-uk"), "the statements' uk-pii would go to the EU")
end)

-- Config and policy disagree (policies/README.md): the multi-region gateway and the US
-- storefront trip the residency rules on routes that rbac grants.
test "the gateway runs in the UK and the US: its routes to pii services are forbidden" (
function()
  expect_deny { from = GATEWAY, to = "shop/storefront", method = "GET", path = "/",
                headers = { host = "shop.acme.eu" }, rule = "pii-stays-in-eu",
                effect = "forbidden" }
  expect_deny { from = GATEWAY, to = "banking-uk/open-banking", method = "GET",
                path = "/open-banking/accounts", headers = { host = "bank.acme.co.uk" },
                rule = "uk-pii-stays-in-uk", effect = "forbidden" }
end)

test "the US storefront's own pii is read as EU pii" (function()
  expect_deny { from = US_STOREFRONT, to = "identity/accounts", method = "POST",
                path = "/acme.identity.v1.Accounts/Get", rule = "pii-stays-in-eu",
                effect = "forbidden" }
  expect_deny { from = US_STOREFRONT, to = "billing/stripe-adapter", method = "POST",
                path = "/checkout", rule = "pii-stays-in-eu", effect = "forbidden" }
end)
