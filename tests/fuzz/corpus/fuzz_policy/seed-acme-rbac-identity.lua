-- rbac.identity: who may call the identity team's services (namespace identity, all `pii`).
--
-- Routes served: storefront-auth, auth-accounts, us-storefront-accounts. Note that
-- residency.gdpr forbids the last two at request time (identity/accounts also runs in
-- us-prod-1); see policies/README.md, "Config and policy disagree".

policy "rbac.identity" {
  version = "1.2.1",
  kind = "rbac",
  enforcement = "hard",
  severity = "high",
  controls = { "SOC2-CC6.1", "ISO27001-A.9.4.1", "GDPR-Art32" },
  description = "Calls into the identity team's services: auth (sessions) and accounts",
}

local NS = "spiffe://acme.io/ns/"

-- Sessions: log in, log out, read and refresh the session (route storefront-auth, prefix
-- /auth/).
role "identity.session" {
  allow { service = "identity/auth", methods = { "GET", "POST" }, paths = { "/auth/{**}" },
          message = "the storefront manages shopper sessions" },
}
bind "identity.session" {
  principals = { NS .. "shop/sa/storefront" },
}

-- Account look-ups over gRPC (route auth-accounts).
allow "auth-reads-accounts" {
  service = "identity/accounts",
  methods = { "POST" },
  paths = { "/acme.identity.v1.Accounts/{*}" },
  from = { principals = { NS .. "identity/sa/auth" } },
  message = "auth looks up the account behind a login",
}

-- The US storefront reads its customers' accounts from the US instance (route
-- us-storefront-accounts pins accounts@us-prod-1).
allow "us-storefront-reads-accounts" {
  service = "identity/accounts",
  methods = { "POST" },
  paths = { "/acme.identity.v1.Accounts/Get", "/acme.identity.v1.Accounts/Lookup" },
  from = { principals = { NS .. "shop-us/sa/storefront" } },
  message = "the US storefront reads US customer accounts",
}

-- Bulk export of accounts goes through the data team's audited export job, never the mesh.
deny "no-account-export" {
  service = { "identity/accounts", "identity/auth" },
  paths = { "/v1/export", "/v1/export/{**}", "/acme.identity.v1.Accounts/Export" },
  message = "bulk account export is not served over the mesh",
}
