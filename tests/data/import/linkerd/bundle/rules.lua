policy "linkerd.bundle" { version = "1.0.0", kind = "rbac" }
deny "no-admin" { service = "booksapp/webapp", paths = { "/admin" } }
allow "metrics-from-anywhere" { service = "booksapp/books", paths = { "/metrics" } }
