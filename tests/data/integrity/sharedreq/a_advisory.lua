-- An advisory policy whose `when` tampers with the request it is given: no other policy may
-- see the change.
policy "t.a-meddler" { version = "1.0.0", kind = "rbac", enforcement = "advisory" }
deny "meddle" { service = "billing/pay", when = function(req)
  pcall(function() req.source.namespace = nil end)
  pcall(function() rawset(req.source, "namespace", nil) end)
  return false
end }
