-- A counter-named rule whose `when` captures the loop's value: each name is stable, but what
-- the rule checks depends on the iteration order, which differs between Lua states. Every
-- front-end must refuse it rather than bind a `when` that another state compiled differently.
policy "t.counter" { version = "1.0.0", kind = "rbac" }
local paths = {}
for i = 1, 64 do paths["/p" .. i] = true end
local n = 0
for path in pairs(paths) do
  n = n + 1
  deny ("rule-" .. n) { service = "shop/web", when = function(req) return req.request.path == path end }
end
