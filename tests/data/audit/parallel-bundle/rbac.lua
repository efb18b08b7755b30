-- Grants the C rows judge while the checks run (tests/unit/test_audit_emit.c): an over-broad
-- grant on the data service, a principal no service has, a role nobody is bound to.
policy "t.grants" { version = "2.0.0", kind = "rbac", severity = "critical",
                    controls = { "C-GRANTS" } }
allow "anyone-to-pay" { service = "shop/pay", from = "*" }
allow "ghost-caller" { service = "shop/web", from = { principals = { "spiffe://t/ns/x/sa/ghost" } } }
role "unbound" { allow { service = "shop/api", methods = { "POST" } } }
