policy "t.allow" { version = "1.0.0", kind = "rbac" }
allow "web" { service = "shop/web" }
