policy "t.watch" { version = "1.0.0", kind = "rbac", enforcement = "advisory" }

allow "a-to-d" { service = "z/d", from = { principals = { "spiffe://t/ns/x/sa/a" } } }
