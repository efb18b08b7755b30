-- Rules declared in a loop over pairs(): the iteration order differs from one Lua state to the
-- next (string hashing is seeded per state), so a `when` must be bound to its rule by the
-- rule's identity, never by its position in the declaration order.
policy "t.pairs" { version = "1.0.0", kind = "rbac" }
local names = {}
for i = 1, 64 do names["k" .. i] = i end
for key, i in pairs(names) do
  if i == 17 then
    deny ("deny-" .. key) { service = "shop/web", when = function(req) return true end,
                            message = "the one deny" }
  else
    allow ("allow-" .. key) { service = "shop/web", when = function(req) return i < 0 end }
  end
end
