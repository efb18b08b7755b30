-- Lua checks beside the rbac rules, for the parallel audit (tests/unit/test_audit_emit.c): the
-- checks run on a worker thread while the C rows run on the caller's, and every report must be
-- the serial one byte for byte. Findings of several severities, one waived, one check erroring.
policy "t.checks" { version = "1.0.0", kind = "traffic", severity = "medium",
                    controls = { "C-CHECKS" } }

check "every-service" {
  severity = "low",
  description = "reports each service, to have many findings on the worker",
  run = function(mesh, report)
    for _, s in ipairs(mesh.services) do
      report { subject = s.ref, message = "service " .. s.ref .. " seen", loc = s.loc }
    end
  end,
}

check "every-route" {
  severity = "high",
  run = function(mesh, report)
    for _, r in ipairs(mesh.routes) do
      report { subject = r.name, message = "route " .. r.name, loc = r.loc,
               path = { r.source and r.source.ref or "any" } }
    end
  end,
}

check "fails" {
  run = function(mesh, report) error("this check fails on purpose") end,
}
