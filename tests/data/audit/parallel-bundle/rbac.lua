policy "t.rbac" { version = "1.0.0", kind = "rbac", severity = "high", controls = { "C-RBAC" } }
allow "too-broad" { service = "shop/pay", from = "*" }
role "ghost-role" { allow { service = "shop/web", methods = { "GET" } } }
role "reader" { allow { service = "shop/web", methods = { "GET" } } }
bind "reader" { principals = { "spiffe://t/ns/shop/sa/nobody" } }
deny "no-web-to-api" { service = "shop/api", from = { services = { "shop/web" } } }
