allow "too-early" { service = "billing/payments" }
policy "rbac.broken" { version = "1.3", kind = "rbac" }
allow "typo-service" { service = "billing/paymnts" }
allow "typo-field" { service = "billing/payments", path = { "/v1/charge" } }
allow "one-method" { service = "billing/payments", methods = "GET" }
allow "typo-from" { service = "billing/payments", from = { principal = { "spiffe://x" } } }
allow "no-destination" { methods = { "GET" } }
allow "shared-name" { service = "storefront" }
allow "bad-template" { service = "billing/payments", paths = { "/files/{**}/meta" } }
allow "bad-method" { service = "billing/payments", methods = { "FETCH" } }
residency "eu" { data = "pii", stay_in = "Europe" }
deny "when-not-fn" { service = "billing/payments", when = true }
bind "payments.writr" { principals = { "spiffe://acme.io/ns/shop/sa/checkout" } }
