-- Hostile test files for `meshpol test` (tests/e2e/integrity.sh copies this into the unit
-- bundle; `make check` runs it under AddressSanitizer). Every table the runner reads has
-- metamethods that hand back values nothing else holds, and make garbage so the collector runs
-- while the runner still points at them.
local function churn()
  local g = {}
  for i = 1, 8000 do g[i] = { i, tostring(i) } end
  return #g
end
-- Strings over 40 bytes are not interned: each call makes a new one that only the runner holds.
local function fresh(s) churn(); return (s .. "#"):sub(1, #s) end
local long = ("x"):rep(64)

local charge = { from = "shop/web", to = "billing/pay", method = "POST", path = "/v1/charge" }
local function proxy(spec)
  return setmetatable({}, { __index = function(_, k)
    local v = spec[k]
    if type(v) == "string" then return fresh(v) end
    if type(v) == "table" then
      local copy = {}
      for hk, hv in pairs(v) do copy[fresh(hk)] = fresh(hv) end
      churn()
      return copy
    end
    return v
  end })
end

test "fields made fresh by __index" (function()
  expect_allow(proxy(charge))
  expect_allow(proxy({ from = "shop/web", to = "billing/pay", method = "POST",
                       path = "/v1/refund/" .. long }))
end)

test "a large field made fresh by __index (its allocation drives the collector)" (function()
  -- before the runner kept what it read on the stack, this path was freed before the decision
  -- read it (AddressSanitizer: heap-use-after-free in mp_path_normalize)
  expect_deny(proxy({ from = "shop/web", to = "billing/pay", method = "POST",
                      path = "/v1/refund/" .. ("x"):rep(100000), effect = "forbidden" }))
end)

test "rule, policy and effect made fresh by __index" (function()
  expect_deny(proxy({ from = "sandbox/echo", to = "billing/pay", method = "POST",
                      path = "/v1/charge", rule = "no-sandbox", policy = "t.rbac",
                      effect = "forbidden" }))
end)

test "headers made fresh by __index" (function()
  expect_allow(proxy({ from = "shop/web", to = "shop/web", method = "DELETE", path = "/x",
                       headers = { ["X-Ok"] = "yes", ["X-Padding-" .. long] = long } }))
end)

test "decide with fields made fresh" (function()
  local d = decide(proxy({ from = "shop/web", to = "billing/pay", method = "GET", path = "/nope" }))
  assert(d.effect == "not_permitted", d.effect)
end)

test "an __index that raises fails the test" (function()
  expect_allow(setmetatable({}, { __index = function() error("hostile index") end }))
end)

test "an __index that never returns runs out of budget" (function()
  expect_allow(setmetatable({}, { __index = function() while true do end end }))
end)

test "an input that aliases one table everywhere is refused" (function()
  local t = {}
  for i = 1, 20 do t[i] = t end
  expect_allow { input = { destination = { service = "pay", namespace = "billing" }, context = t } }
end)

test "a cyclic input is cut at 32 levels" (function()
  local t = { destination = { service = "pay", namespace = "billing" } }
  t.context = t
  expect_deny { input = t }
end)

test "a __len and __pairs on headers are not trusted" (function()
  local h = setmetatable({ ["X-Ok"] = "yes" }, { __len = function() return 1e9 end,
    __pairs = function() error("pairs") end })
  expect_allow { from = "shop/web", to = "shop/web", method = "DELETE", path = "/x", headers = h }
end)

test(12345, function() expect_allow(proxy(charge)) end)
