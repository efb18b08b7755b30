-- rbac.data: who may call the data team's services (events-ingest, warehouse, ml-scoring).
--
-- Routes served: invoicing-warehouse (and its mirror to events-ingest), events-to-warehouse,
-- otel-export. Deliberately NOT granted: recommendations-scoring (shop/recommendations to
-- data/ml-scoring in us-prod-1), the second hop of the residency leak the audit reports (acme
-- README #3). The route is declared; the policy does not allow it. See policies/README.md.

policy "rbac.data" {
  version = "1.0.2",
  kind = "rbac",
  enforcement = "hard",
  severity = "high",
  controls = { "SOC2-CC6.1", "ISO27001-A.9.4.1", "GDPR-Art25" },
  description = "Calls into the data team's services: event ingestion, the warehouse, "
    .. "ML scoring",
}

-- Batch loads into the warehouse over its HTTP port (routes invoicing-warehouse,
-- events-to-warehouse).
allow "warehouse-ingest" {
  service = "data/warehouse",
  ports = { 8080 },
  methods = { "POST" },
  paths = { "/v1/ingest/{*}" },
  from = { services = { "billing/invoicing", "data/events-ingest" } },
  message = "invoicing and the event pipeline load the warehouse",
}

-- The warehouse's SQL port is for the data team's own jobs only.
deny "warehouse-sql-data-team-only" {
  service = "data/warehouse",
  ports = { 5439 },
  from = { namespaces = { "edge", "shop", "shop-us", "billing", "identity", "catalog",
                          "banking-uk", "monitoring", "sandbox" } },
  message = "only the data team's jobs may query the warehouse over SQL",
}

-- Producers on the Kafka port (routes otel-export, and the mirror of invoicing-warehouse).
allow "events-ingest-producers" {
  service = "data/events-ingest",
  ports = { 9092 },
  from = { services = { "monitoring/otel-collector", "billing/invoicing" } },
  message = "telemetry and invoice events are produced to the ingest cluster",
}

-- GPU services (ml-scoring) serve the data team's own pipelines. Destination by label:
-- every service in namespace data labelled gpu=true.
allow "gpu-services-data-team-only" {
  namespace = "data",
  labels = { gpu = "true" },
  methods = { "POST" },
  from = { namespaces = { "data" } },
  message = "GPU model serving is for the data team's pipelines",
}
