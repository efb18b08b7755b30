policy "kuma.bundle" { version = "1.0.0", kind = "rbac" }
deny "no-admin" { service = "pay/payments", paths = { "/admin" } }
allow "orders-reads" { service = "shop/orders", methods = { "GET" } }
