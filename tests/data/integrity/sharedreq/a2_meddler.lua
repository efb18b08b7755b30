-- An enforcing policy may not tamper with what another policy sees either.
policy "t.a2-meddler" { version = "1.0.0", kind = "rbac" }
allow "meddle-enforcing" { service = "billing/pay", when = function(req)
  pcall(function() req.source.namespace = nil end)
  pcall(function() req.source = {} end)
  pcall(function() rawset(req.source, "namespace", nil) end)
  pcall(function() setmetatable(req.source, nil) end)
  return false
end }
