policy "authz.bundle" { version = "1.0.0", kind = "rbac" }
deny "no-secrets" { service = "foo/httpbin", paths = { "/secrets" } }
allow "bundle-delete" { service = "foo/httpbin", methods = { "DELETE" } }
allow "bundle-open" { service = "foo/httpbin", paths = { "/bundle-open" } }
allow "sleep-hello" { service = "foo/sleep", paths = { "/hello" } }
