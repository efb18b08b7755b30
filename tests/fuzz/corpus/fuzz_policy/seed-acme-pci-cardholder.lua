-- pci.cardholder: the cardholder-data environment (CDE). Every service that handles data
-- class `pci` (the billing namespace, and checkout with its canary) may be reached only by the
-- callers named below, never from the sandbox and never without a principal.
--
-- These are deny rules: they hold whatever an rbac policy allows, including the over-broad
-- rbac.billing grant `payments-any-caller` (acme README #6).

policy "pci.cardholder" {
  version = "1.2.0",
  kind = "rbac",
  enforcement = "hard",
  severity = "critical",
  controls = { "PCI-DSS-7.1", "PCI-DSS-7.2.1", "PCI-DSS-1.3.1", "PCI-DSS-8.2.1", "SOC2-CC6.1" },
  description = "Only named callers reach card-data services; never the sandbox, never an "
    .. "unauthenticated caller",
}

-- The services that handle `pci` (examples/acme: namespace billing carries the class, and
-- shop/checkout, shop/checkout-v2 declare it).
local CARD_SERVICES = {
  "billing/payments", "billing/invoicing", "billing/fraud-check", "billing/ledger",
  "billing/stripe-adapter", "shop/checkout", "shop/checkout-v2",
}

-- Every principal allowed to talk to some card-data service (PCI DSS 7.2.1: access is
-- assigned per job function). rbac.* decides which of them may call what.
local NAMED_CALLERS = {}
for _, who in ipairs({
  "shop/sa/storefront",      -- checkout, checkout-v2
  "shop/sa/checkout",        -- payments
  "shop/sa/checkout-v2",     -- payments
  "shop-us/sa/storefront",   -- stripe-adapter
  "billing/sa/payments",     -- fraud-check, invoicing, ledger
  "billing/sa/invoicing",    -- ledger
  "monitoring/sa/otel-collector", -- GET /metrics
}) do
  NAMED_CALLERS["spiffe://acme.io/ns/" .. who] = true
end

-- The caller's principal from the decision input (docs/policy-language.md, `when`), or nil.
local function principal(req)
  local src = req.source
  return src and src.principal or nil
end

deny "no-sandbox-to-card-data" {
  service = CARD_SERVICES,
  from = { namespaces = { "sandbox" } },
  message = "sandbox workloads may not reach the cardholder-data environment",
}

deny "no-unauthenticated-card-access" {
  service = CARD_SERVICES,
  when = function(req) return principal(req) == nil end,
  message = "card-data services require an authenticated caller",
}

deny "card-data-named-callers-only" {
  service = CARD_SERVICES,
  when = function(req)
    local p = principal(req)
    return p ~= nil and not NAMED_CALLERS[p]
  end,
  message = "only named callers may reach card-data services",
}
