-- stdlib/meshpol/dsl.lua: the policy DSL (docs/policy-language.md). It only records what a
-- policy file declares, with the file:line of each declaration; engine/policy.c validates every
-- field and compiles the declarations into C indexes, so the rules about fields live in one place.
local host = require("meshpol.host") -- where(level) -> "file:line" of a caller

local M = {}

local function fresh()
  return {
    policies = {}, -- { name, spec, loc, file }
    rules = {},    -- { type, name, spec, loc, policy (index), when_index }
    roles = {},    -- { name, entries = { { spec, loc, when_index } }, loc, policy }
    binds = {},    -- { role, spec, loc, policy }
    checks = {},   -- { name, spec, loc, policy, run_index }
    whens = {},    -- every `when` function, in declaration order
    runs = {},     -- every check's `run` function, in declaration order
    errors = {},   -- { loc, msg }: misuse of the DSL itself
  }
end

M.state = fresh()

function M.reset()
  M.state = fresh()
end

local function fail(loc, msg)
  local e = M.state.errors
  e[#e + 1] = { loc = loc, msg = msg }
end

local function push(list, item)
  list[#list + 1] = item
  return #list
end

local function remember_when(spec)
  if type(spec) == "table" and type(spec.when) == "function" then
    return push(M.state.whens, spec.when)
  end
  return nil
end

-- Installs the DSL's globals in env, the environment of one policy file. skipped, when the
-- bundle has in-memory files that replace declarations (engine/policy.h, mp_bundle_skip), is
-- the host's check: skipped(word, name) is true when the declaration the file makes here is
-- replaced, and is then left out. It must be called from the function the file calls.
function M.install(env, file, skipped)
  local ctx = { policy = nil }

  -- `word "name" { spec }`: returns the function that takes the spec.
  local function declare(word, record)
    return function(name)
      local loc = host.where(2)
      if type(name) ~= "string" then
        fail(loc, word .. ": expected a name in quotes, as in " .. word .. ' "name" { ... }')
        return function() end
      end
      if skipped and skipped(word, name) then
        return function() end
      end
      return function(spec)
        if type(spec) ~= "table" then
          fail(loc, word .. " '" .. name .. "': expected a table of fields after the name")
          return
        end
        if word ~= "policy" and not ctx.policy then
          fail(loc, word .. " '" .. name .. "': declare the policy first (policy \"name\" { ... })")
          return
        end
        record(name, spec, loc)
      end
    end
  end

  env.policy = declare("policy", function(name, spec, loc)
    if ctx.policy then
      fail(loc, "policy '" .. name .. "': a file declares one policy (already '" ..
        M.state.policies[ctx.policy].name .. "')")
      return
    end
    ctx.policy = push(M.state.policies, { name = name, spec = spec, loc = loc, file = file })
  end)

  local function rule(kind)
    return declare(kind, function(name, spec, loc)
      push(M.state.rules, { type = kind, name = name, spec = spec, loc = loc, policy = ctx.policy,
                            when_index = remember_when(spec) })
    end)
  end

  -- allow "name" { ... } is a rule; allow { ... } (no name) is an entry of a role.
  local allow_rule = rule("allow")
  env.allow = function(x)
    if type(x) == "table" then
      return { role_entry = true, spec = x, loc = host.where(2), when_index = remember_when(x) }
    end
    return allow_rule(x)
  end
  env.deny = rule("deny")
  env.residency = rule("residency")
  env.require_mtls = rule("require_mtls")
  env.declared_routes_only = rule("declared_routes_only")

  env.role = declare("role", function(name, spec, loc)
    local entries = {}
    for i, e in ipairs(spec) do
      if type(e) ~= "table" or not e.role_entry then
        fail(loc, "role '" .. name .. "': entry " .. i .. " must be allow { ... }")
      else
        entries[#entries + 1] = { spec = e.spec, loc = e.loc, when_index = e.when_index }
      end
    end
    -- sorted: the order of pairs() changes from one state to the next
    local unknown = {}
    for k in pairs(spec) do
      if type(k) ~= "number" then unknown[#unknown + 1] = tostring(k) end
    end
    table.sort(unknown)
    for _, k in ipairs(unknown) do
      fail(loc, "role '" .. name .. "': unknown field '" .. k .. "' (a role holds allow { ... } entries)")
    end
    push(M.state.roles, { name = name, entries = entries, loc = loc, policy = ctx.policy })
  end)

  env.bind = declare("bind", function(name, spec, loc)
    push(M.state.binds, { role = name, spec = spec, loc = loc, policy = ctx.policy })
  end)

  env.check = declare("check", function(name, spec, loc)
    local run_index
    if type(spec.run) == "function" then
      run_index = push(M.state.runs, spec.run)
    end
    push(M.state.checks, { name = name, spec = spec, loc = loc, policy = ctx.policy,
                           run_index = run_index })
  end)
end

return M
