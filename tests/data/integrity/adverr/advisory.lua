-- Advisory policies never change the decision, even when their `when` fails.
policy "t.advisory" { version = "1.0.0", kind = "rbac", enforcement = "advisory" }
deny "broken" { service = "shop/web", when = function(req) error("advisory bug") end }
deny "spins" { service = "shop/web", when = function(req) while true do end end }
