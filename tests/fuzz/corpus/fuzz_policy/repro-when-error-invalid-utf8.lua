policy "t.w" { version = "1.0.0", kind = "rbac" }
allow "w" { service = "shop/web", when = function(req) error("¹") end }
