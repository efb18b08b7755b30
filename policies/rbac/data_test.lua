-- Tests of rbac.data against the Acme mesh.
model "../examples/acme"

local INVOICING = "spiffe://acme.io/ns/billing/sa/invoicing"

test "invoicing and the event pipeline load the warehouse over HTTP" (function()
  expect_allow { from = INVOICING, to = "data/warehouse", port = 8080, method = "POST",
                 path = "/v1/ingest/invoices" }
  expect_allow { from = "data/events-ingest", to = "data/warehouse", port = 8080,
                 method = "POST", path = "/v1/ingest/events" }
end)

test "the warehouse's SQL port is for the data team only" (function()
  expect_deny { from = INVOICING, to = "data/warehouse", port = 5439,
                rule = "warehouse-sql-data-team-only", effect = "forbidden" }
end)

test "telemetry is produced to the ingest cluster" (function()
  expect_allow { from = "spiffe://acme.io/ns/monitoring/sa/otel-collector",
                 to = "data/events-ingest", port = 9092 }
end)

test "GPU services are selected by label" (function()
  expect_allow { from = "data/events-ingest", to = "data/ml-scoring", method = "POST",
                 path = "/acme.ml.v1.Scoring/Score" }
end)

-- Config and policy disagree on purpose: the mesh routes recommendations -> ml-scoring
-- (recommendations-scoring, the US hop of the residency leak, acme README #3); no rule allows it.
test "recommendations may not call ML scoring in the US" (function()
  expect_deny { from = "spiffe://acme.io/ns/shop/sa/recommendations", to = "data/ml-scoring",
                method = "POST", path = "/acme.ml.v1.Scoring/Score", effect = "not_permitted" }
end)
