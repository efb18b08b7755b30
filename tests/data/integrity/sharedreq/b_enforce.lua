policy "t.b-enforce" { version = "1.0.0", kind = "rbac" }
deny "no-shop-to-billing" { service = "billing/pay",
  when = function(req) return req.source.namespace == "shop" end }
