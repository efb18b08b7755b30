-- baseline.lua: transport and residency rules of the lab mesh.
policy "lab.baseline" { version = "2.0.0", kind = "traffic" }

require_mtls "strict" { message = "a STRICT service accepts only callers with a principal" }
residency "pii-in-eu" { data = "pii", stay_in = "EU", message = "pii stays in the EU" }

check "owners" {
  description = "every service names its owner",
  run = function(mesh, report)
    for _, svc in ipairs(mesh.services) do
      if not svc.owner then
        report { subject = svc.ref, message = "no owner", loc = svc.loc }
      end
    end
  end,
}
