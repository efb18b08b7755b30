policy "shop.rbac" { version = "1.0.0", kind = "rbac" }
allow "checkout-pays" {
  service = "shop/payments",
  from = { principals = { "spiffe://cluster.local/ns/shop/sa/checkout" } },
  message = "checkout pays",
}
