policy "linkerd.defaults-bundle" { version = "1.0.0", kind = "rbac" }
allow "audit-reads" { service = "d-audit/app", methods = { "GET" } }
