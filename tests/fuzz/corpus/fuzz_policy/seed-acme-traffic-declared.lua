-- traffic.routes: Acme's regulated namespaces call only the routes routes.yaml declares.
-- Kept apart from traffic.baseline, whose rules and checks are generic and hold for any mesh.

policy "traffic.routes" {
  version = "1.0.0",
  kind = "traffic",
  enforcement = "hard",
  severity = "high",
  controls = { "PCI-DSS-1.3.1", "ISO27001-A.13.1.3", "SOC2-CC6.6" },
  description = "Calls from regulated namespaces follow the declared routes only",
}

-- Namespaces holding card data, identities and UK banking data, and the EU shop: their
-- services call only what routes.yaml declares a route to (the route's source, or a route
-- without a source). shop-us is not listed yet: its route declarations are being written.
declared_routes_only "declared-routes-only" {
  from = { namespaces = { "shop", "billing", "identity", "banking-uk" } },
  message = "this namespace calls only destinations the mesh declares a route to",
}
