policy "inventory" { version = "1.0.0", kind = "custom", enforcement = "advisory" }
check "every-service-has-an-identity" {
  severity = "low",
  description = "services without a SPIFFE identity cannot be told apart by AuthorizationPolicies",
  run = function(mesh, report)
    for _, s in ipairs(mesh.services) do
      if not s.identity then report { subject = s.namespace .. "/" .. s.name, message = "no identity", loc = s.loc } end
    end
  end,
}
