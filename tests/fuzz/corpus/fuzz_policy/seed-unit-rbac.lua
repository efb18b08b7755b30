policy "t.rbac" { version = "1.0.0", kind = "rbac", severity = "high", controls = { "C-1" } }

allow "web-charges" {
  service = "billing/pay", methods = { "POST" }, paths = { "/v1/charge", "/v1/refund/*" },
  from = { principals = { "spiffe://t/ns/shop/sa/web" } },
  message = "web charges cards",
}
allow "templates" {
  service = "billing/pay", methods = { "GET" }, paths = { "/v1/charges/{*}/items", "/files/{**}" },
  from = { namespaces = { "shop" } },
}
allow "suffix" { service = "billing/pay", paths = { "*.json" }, from = { principals = { "*/sa/prom" } } }
allow "ports" { service = "shop/web", ports = { 8080 }, from = { principals = { "*" } } }
allow "headers" { service = "shop/web", methods = { "PUT" }, headers = { ["X-Tenant"] = "eu-*" } }
allow "labels" { labels = { tier = "front" }, methods = { "PATCH" }, from = { labels = { tier = "front" } } }
allow "egress" { external = { "api.stripe.com", "mail.example.eu" }, from = { services = { "billing/pay" } } }
deny "no-sandbox" { service = "*", namespace = "billing", from = { namespaces = { "sandbox" } },
                    message = "sandbox may not call billing" }
allow "when-true" { service = "shop/web", methods = { "DELETE" },
                    when = function(req) return req.request.headers["x-ok"] == "yes" end }
allow "when-error" { service = "shop/web", methods = { "OPTIONS" }, when = function(req) error("bad") end }
allow "when-loop" { service = "shop/web", methods = { "TRACE" }, when = function(req) while true do end end }

role "reader" { allow { service = "shop/web", methods = { "GET" }, paths = { "/r/*" } } }
bind "reader" { services = { "sandbox/echo" }, principals = { "*/sa/prom" } } -- either one
allow "health" { service = "*", methods = { "GET" }, paths = { "/healthz" } }
deny "no-admin" { service = "shop/web", paths = { "/admin", "/admin/*" } }
allow "public" { service = "shop/web", methods = { "GET" }, paths = { "/pub/{**}" } }
