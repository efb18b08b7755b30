-- rbac.banking: who may call the UK open-banking services (namespace banking-uk, all
-- `uk-pii`, FCA-regulated).
--
-- Routes served: web-open-banking-uk, open-banking-kyc, open-banking-statements. The
-- gateway's route is granted here, but residency.gdpr forbids it at request time (the gateway
-- also runs in the EU and the US); see policies/README.md.

policy "rbac.banking" {
  version = "1.2.0",
  kind = "rbac",
  enforcement = "hard",
  severity = "high",
  controls = { "SOC2-CC6.1", "ISO27001-A.9.4.1", "FCA-SYSC-9.1" },
  description = "Calls into the UK open-banking services: open-banking, kyc, statements",
}

local NS = "spiffe://acme.io/ns/"
local OPEN_BANKING = NS .. "banking-uk/sa/open-banking"

-- The open-banking API behind the ingress gateway (route web-open-banking-uk, Host
-- bank.acme.co.uk, prefix /open-banking/).
allow "gateway-to-open-banking" {
  service = "banking-uk/open-banking",
  methods = { "GET", "POST" },
  paths = { "/open-banking/{**}" },
  headers = { host = "bank.acme.co.uk" },
  from = { principals = { "spiffe://acme.io/ns/edge/sa/ingress-gateway" } },
  message = "UK customers use the open-banking API",
}

-- KYC checks for UK tenants only (route open-banking-kyc matches x-tenant: uk). Header names
-- are case-insensitive; the value pattern "uk" is exact.
allow "open-banking-kyc-uk-tenant" {
  service = "banking-uk/kyc",
  methods = { "GET", "POST" },
  paths = { "/v1/checks", "/v1/checks/{*}" },
  headers = { ["x-tenant"] = "uk" },
  from = { principals = { OPEN_BANKING } },
  message = "open-banking runs KYC checks for UK tenants",
}

-- Statements (route open-banking-statements, failing over to uk-dr-1).
allow "open-banking-reads-statements" {
  service = "banking-uk/statements",
  methods = { "GET" },
  paths = { "/v1/accounts/{*}/statements", "/v1/statements/{*}" },
  from = { principals = { OPEN_BANKING } },
  message = "open-banking serves account statements",
}

-- Issued statements are records the FCA requires us to keep unchanged.
deny "statements-are-immutable" {
  service = "banking-uk/statements",
  methods = { "PUT", "PATCH", "DELETE" },
  message = "issued statements are never changed or deleted (FCA record keeping)",
}

-- Open banking calls the partner bank's API (route open-banking-bank-api).
allow "bank-api-egress" {
  external = "api.northbridge-bank.co.uk",
  from = { principals = { "spiffe://acme.io/ns/banking-uk/sa/open-banking" } },
  message = "open banking calls Northbridge Bank",
}
