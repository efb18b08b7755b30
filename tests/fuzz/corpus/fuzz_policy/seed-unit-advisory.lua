policy "t.advisory" { version = "1.0.0", kind = "traffic", enforcement = "advisory" }
declared_routes_only "declared" { from = { namespaces = { "shop" } } }
