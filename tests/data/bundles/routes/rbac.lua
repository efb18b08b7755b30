policy "t.routes" { version = "1.0.0", kind = "rbac", severity = "high" }

-- one principal, one namespace: rule records (decide_index.h) without the mp_rule
allow "b-to-c" { service = "z/c", from = { principals = { "spiffe://t/ns/y/sa/b" } } }
allow "y-to-d" { service = "z/d", from = { namespaces = { "y" } } }
deny "no-sandbox" { service = "z/c", from = { principals = { "spiffe://t/ns/sandbox/sa/e" } } }
-- a pattern and a list: matched on the mp_rule (FULL records)
allow "y-out" { external = { "api.ext.example" }, from = { principals = { "spiffe://t/ns/y/*" } } }
allow "two" { service = "z/d", from = { principals = { "spiffe://t/ns/z/sa/c", "spiffe://t/ns/q/sa/q" } } }
