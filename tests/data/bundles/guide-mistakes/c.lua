policy "rbac.broken" { version = "1.0.0", kind = "rbac" }
