policy "t.z-meddler" { version = "1.0.0", kind = "rbac", enforcement = "advisory" }
deny "meddle-late" { service = "billing/pay", when = function(req)
  pcall(function() req.source.namespace = nil end)
  return false
end }
