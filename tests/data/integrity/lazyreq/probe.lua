-- Probes of the `req` a `when` gets (engine/decide.c builds its fields when first read):
-- every field a `when` may read, in several orders, pairs and #, writes at every level, and a
-- `req` kept past its decision. Each probe reports by raising its findings (error(msg, 0)),
-- which the decision carries as the reason's message (tests/unit/test_decide.c).
policy "t.lazyreq" { version = "1.0.0", kind = "rbac" }

local function s(v) return v == nil and "nil" or tostring(v) end

-- A value as text, tables by sorted keys through pairs, with #.
local function dump(v)
  if type(v) ~= "table" then return s(v) end
  local keys = {}
  for k in pairs(v) do keys[#keys + 1] = k end
  table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
  local out = {}
  for _, k in ipairs(keys) do out[#out + 1] = s(k) .. "=" .. dump(v[k]) end
  return "{" .. table.concat(out, ",") .. "}#" .. #v
end

-- Every field read directly, deepest first, never through pairs.
deny "reads" { service = "billing/pay", when = function(req)
  local h = req.request.headers
  local ctx = req.context
  local d, src = req.destination, req.source
  error(table.concat({
    s(h["x-a"]), s(h["X-A"]), s(h["x-dup"]), s(h["content-type"]),
    s(ctx.k), s(ctx.list and #ctx.list), s(ctx.list and ctx.list[2]), s(ctx.obj and ctx.obj.n),
    s(d.service), s(d.namespace), s(d.port), s(math.type(d.port)),
    s(src.principal), s(src.namespace), s(src.service), s(src.ip),
    s(req.request.method), s(req.request.path),
    s(req.nope), s(req.source.nope), s(req.request.nope), s(req[1]), s(req[true]),
    s(req["source\0"]),
    s(req.source == src), s(req.request.headers == h), s(req.context == ctx),
    type(req), type(req.request), s(rawget(req, "source")), s(next(req)), s(next(req.request)),
    s(getmetatable(req)), s(getmetatable(req.request)),
  }, "|"), 0)
end }

-- One field read, then the whole of req through pairs (every field made then).
deny "pairs" { service = "shop/web", when = function(req)
  local m = req.request.method
  local before = req.source
  local all = dump(req)
  error(s(m) .. "|" .. s(before == req.source) .. "|" .. all .. "|" .. #req .. "|" .. #req.request
        .. "|" .. s(next(req)) .. "|" .. s(rawget(req.request, "method")), 0)
end }

-- Writes at every level, before and after pairs made the fields: each refused.
deny "writes" { service = "shop/us-api", when = function(req)
  local out = {}
  local function try(what, f)
    local ok, err = pcall(f)
    local msg = tostring(err)
    local ro = msg:match("attempt to modify read%-only table 'req' %(key '([^']*)'%)$")
    out[#out + 1] = what .. ":" .. (ok and "written" or ro and "ro " .. ro or msg)
  end
  try("req", function() req.source = {} end)
  try("req.x", function() req.x = 1 end)
  try("rawset", function() rawset(req, "source", {}) end)
  try("request", function() req.request.method = "GET" end)
  try("request.rawset", function() rawset(req.request, "path", "/") end)
  try("source", function() req.source.principal = "x" end)
  try("destination", function() req.destination.port = 1 end)
  try("headers", function() req.request.headers["x-a"] = "y" end)
  try("context", function() req.context.k = "y" end)
  try("context.obj", function() req.context.obj.n = 2 end)
  try("setmetatable", function() setmetatable(req, nil) end)
  for _ in pairs(req) do end
  for _ in pairs(req.request) do end
  try("req after pairs", function() req.request = {} end)
  try("request after pairs", function() rawset(req.request, "method", "GET") end)
  error(table.concat(out, "|") .. "|" .. s(req.source.principal) .. "|" .. s(req.request.method), 0)
end }

-- A req kept past its decision reads its own request in the next one.
local kept
deny "kept" { service = "shop/multi", when = function(req)
  local old = kept
  kept = req
  if old then
    error(s(old.source.principal) .. "|" .. s(old.request.path) .. "|" .. s(old.request.headers["x-a"])
          .. "|" .. s(old.context.k) .. "|" .. s(req.source.principal), 0)
  end
  return false
end }
