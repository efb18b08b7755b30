policy "t.broken" { version = "1.0.0", kind = "custom", enforcement = "soft" }
check "crashes" { run = function(mesh, report) local t = nil; return t.x end }
check "fine" { run = function(mesh, report) report { subject = "x", message = "one", loc = mesh.services[1].loc } end }
