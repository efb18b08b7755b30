-- Hostile `when` functions against what one decision's `req` may leave for the next
-- (engine/decide.c: one `req` a decision, built in its first `when`'s call; the string cache
-- of the request's fields; tests/unit/test_decide.c, test_when_state). "hostile" runs first and
-- does what the request's x-mode header says, after reading req.source.principal: keeps req
-- and parts of it, raises, runs out of budget or memory; "reader" runs after it in the same
-- decision and reports, by raising (error(msg, 0): the reason's message), what its own req
-- reads and what the kept one reads.
policy "t.whenstate" { version = "1.0.0", kind = "rbac" }

local function s(v) return v == nil and "nil" or tostring(v) end

local kept = {} -- what a `when` kept past its decision
local seen = "none" -- the mode the last hostile call got to

deny "hostile" { service = "sandbox/echo", when = function(req)
  local mode = req.request.headers["x-mode"]
  if mode == "early" then
    seen = mode
    error("early, before reading req", 0)
  end
  local p = req.source.principal
  seen = s(mode)
  if mode == "stash" then
    kept.req, kept.source, kept.request = req, req.source, req.request
    kept.headers, kept.principal = req.request.headers, p
  elseif mode == "error" then
    error("hostile after reading " .. s(p), 0)
  elseif mode == "loop" then
    while true do end
  elseif mode == "pcall-loop" then
    pcall(function() while true do end end)
    seen = "swallowed"
  elseif mode == "hog" then
    local t = {}
    for i = 1, 1e9 do t[i] = string.rep("x", 4000) .. i end
  elseif mode == "pcall-hog" then
    local t = {}
    pcall(function() for i = 1, 1e9 do t[i] = string.rep("y", 4000) .. i end end)
    seen = "pcall-hog: " .. #t
    kept.hog = t -- what it took stays reachable: the next decisions run short of memory
  elseif mode == "free" then
    kept.hog = nil
  end
  return false
end }

deny "reader" { service = "sandbox/echo", when = function(req)
  local h = req.request.headers
  local out = { seen, s(req.source.principal), s(req.request.path), s(h["x-id"]),
                s(req.source == req.source), s(req.request.headers == h) }
  local k = kept.req
  if k then
    out[#out + 1] = table.concat({
      s(k.source.principal), s(kept.source.principal), s(kept.principal), s(k.request.path),
      s(kept.request.path), s(kept.headers["x-id"]), s(k.request.headers == kept.headers),
      s(k.source == kept.source), s(k == req), s(kept.source == req.source) }, ",")
  end
  out[#out + 1] = s(req.source.principal) -- ours again, after the kept one's
  out[#out + 1] = s(req.destination.service)
  error(table.concat(out, "|"), 0)
end }
