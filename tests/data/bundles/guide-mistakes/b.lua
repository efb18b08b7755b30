policy "rbac.other" { version = "1.0.0", kind = "rbac" }
allow "unclosed" { service = "billing/payments",
