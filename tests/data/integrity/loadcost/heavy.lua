-- Top-level code that needs more instructions than one `when` call may use (1M) but far fewer
-- than loading may (100M): every front-end must load it the same way.
policy "t.heavy" { version = "1.0.0", kind = "rbac" }
local n = 0
for i = 1, 1500000 do n = n + 1 end
allow "web" { service = "shop/web", when = function(req) return n == 1500000 end }
