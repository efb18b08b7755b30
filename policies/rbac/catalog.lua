-- rbac.catalog: who may call the catalog team's services (namespace catalog, public data).
--
-- Routes served: api-catalog, storefront-search, products-inventory, search-products.
-- Deliberately NOT granted: inventory-search-reindex (inventory POSTing /internal/reindex to
-- search), the middle edge of the routing loop the audit reports (acme README #1). The route
-- is declared; the policy does not allow it. See policies/README.md.

policy "rbac.catalog" {
  version = "1.1.0",
  kind = "rbac",
  enforcement = "hard",
  severity = "medium",
  controls = { "SOC2-CC6.1", "ISO27001-A.9.4.1" },
  description = "Calls into the catalog team's services: products, search, inventory",
}

local NS = "spiffe://acme.io/ns/"

-- The public catalog API behind the ingress gateway (route api-catalog: GET, HEAD on
-- /api/catalog/).
allow "gateway-browses-catalog" {
  service = "catalog/products",
  methods = { "GET", "HEAD" },
  paths = { "/api/catalog/{**}" },
  from = { principals = { NS .. "edge/sa/ingress-gateway" } },
  message = "the public catalog API is readable from the internet",
}

-- The catalog is read-only from the internet, whatever else allows it.
deny "no-writes-from-edge" {
  namespace = "catalog",
  methods = { "POST", "PUT", "PATCH", "DELETE" },
  from = { namespaces = { "edge" } },
  message = "the catalog cannot be changed from the internet",
}

-- Search box (route storefront-search: GET /search...).
allow "storefront-searches" {
  service = "catalog/search",
  methods = { "GET" },
  paths = { "/search", "/search/{**}" },
  from = { principals = { NS .. "shop/sa/storefront" } },
  message = "the storefront runs product searches",
}

-- Stock levels shown on product pages (route products-inventory).
allow "products-check-stock" {
  service = "catalog/inventory",
  methods = { "GET" },
  paths = { "/v1/stock/{*}" },
  from = { principals = { NS .. "catalog/sa/products" } },
  message = "products shows stock levels",
}

-- The search indexer reads products (route search-products).
allow "search-indexes-products" {
  service = "catalog/products",
  methods = { "GET" },
  paths = { "/v1/products", "/v1/products/{*}" },
  from = { principals = { NS .. "catalog/sa/search" } },
  message = "search indexes the product list",
}
