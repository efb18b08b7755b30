-- traffic.baseline: the mesh's transport baseline.
--
-- At request time: no plaintext to a STRICT service, and the regulated EU namespaces call
-- only what the mesh declares a route to. At audit time (`check` rules, run by
-- `meshpol audit`): routing loops, route weights, timeouts, retries, mTLS on services that
-- handle data, certificate expiry.

policy "traffic.baseline" {
  version = "2.0.0",
  kind = "traffic",
  enforcement = "hard",
  severity = "high",
  controls = { "SOC2-CC6.6", "SOC2-CC6.7", "SOC2-A1.2", "PCI-DSS-4.2.1", "ISO27001-A.13.1.1",
               "ISO27001-A.13.1.3" },
  description = "mTLS, declared routes only, and the static checks of routes, services and "
    .. "certificates",
}

require_mtls "no-plaintext-to-strict" {
  message = "a STRICT service accepts only mTLS callers with a principal",
}

---------------------------------------------------------------------------------------------
-- Static checks. Each reports { subject = ..., message = ..., loc = "file:line" }.
---------------------------------------------------------------------------------------------

local DAY = 86400

-- The regions a route target may be served from: its pinned cluster's, else every region of
-- its service, else its external's (an external without a region gives {}).
local function target_regions(t)
  if t.cluster then return { t.cluster.region } end
  if t.service then return t.service.regions end
  if t.external and t.external.region then return { t.external.region } end
  return {}
end

-- Every target of a route: weighted destinations, failover, then mirrors.
local function each_target(r, fn)
  for _, list in ipairs({ r.destinations, r.failover, r.mirrors }) do
    for _, t in ipairs(list) do fn(t) end
  end
end

local function target_name(t)
  local name = t.service and t.service.ref or (t.external and t.external.host) or "?"
  if t.cluster then name = name .. "@" .. t.cluster.name end
  return name
end

check "routing-loop" {
  severity = "high",
  description = "no service reaches itself again by following routes (destinations, "
    .. "failover, mirrors)",
  run = function(mesh, report)
    -- mesh:cycles() finds one cycle per strongly connected component, in C (linear time).
    -- Routes without a source apply to every caller and are not edges of the graph.
    for _, cycle in ipairs(mesh:cycles()) do
      local parts, related = { cycle.services[1].ref }, {}
      for i, r in ipairs(cycle.routes) do
        local nxt = cycle.services[i % #cycle.services + 1]
        parts[#parts + 1] = string.format("%s (%s)", nxt.ref, r.name)
        related[#related + 1] = { loc = r.loc, message = "hop " .. i .. ": route " .. r.name }
      end
      local path = {}
      for _, svc in ipairs(cycle.services) do path[#path + 1] = svc.ref end
      path[#path + 1] = cycle.services[1].ref
      report {
        subject = cycle.routes[1].name,
        message = string.format("routing loop through %d route%s: %s", #cycle.routes,
                                #cycle.routes == 1 and "" or "s", table.concat(parts, " -> ")),
        loc = cycle.routes[1].loc,
        path = path,
        related = related,
      }
    end
  end,
}

check "weights-sum-to-100" {
  severity = "medium",
  description = "the weights of a route's destinations add up to 100",
  run = function(mesh, report)
    for _, r in ipairs(mesh.routes) do
      local dests = r.destinations
      local sum, parts = 0, {}
      for _, t in ipairs(dests) do
        sum = sum + (t.weight or 0)
        parts[#parts + 1] = string.format("%s %d", target_name(t), t.weight or 0)
      end
      if #dests > 0 and sum ~= 100 then
        report {
          subject = r.name,
          message = string.format("destination weights add up to %d, not 100 (%s)", sum,
                                  table.concat(parts, " + ")),
          loc = r.loc,
        }
      end
    end
  end,
}

check "cross-region-timeout" {
  severity = "medium",
  description = "a route that may cross regions sets a timeout",
  run = function(mesh, report)
    for _, r in ipairs(mesh.routes) do
      -- A route without a source has callers everywhere; it is judged by the callers' own
      -- routes, not here.
      if r.timeout_ms == nil and r.source then
        local regions, list, unknown = {}, {}, false
        local function add(region)
          if not regions[region] then
            regions[region] = true
            list[#list + 1] = region
          end
        end
        for _, region in ipairs(r.source.regions) do add(region) end
        each_target(r, function(t)
          local rs = target_regions(t)
          if #rs == 0 then unknown = true end
          for _, region in ipairs(rs) do add(region) end
        end)
        if #list > 1 or unknown then
          report {
            subject = r.name,
            message = string.format("route spans regions %s%s and has no timeout",
                                    table.concat(list, ", "),
                                    unknown and " (and a target of unknown region)" or ""),
            loc = r.loc,
          }
        end
      end
    end
  end,
}

check "retries-bounded" {
  severity = "medium",
  description = "retries set a per-try timeout and at most 5 attempts",
  run = function(mesh, report)
    for _, r in ipairs(mesh.routes) do
      local rt = r.retries
      if rt then
        if rt.per_try_timeout_ms == nil then
          report {
            subject = r.name,
            message = string.format("%d retries without a per_try_timeout", rt.attempts),
            loc = r.loc,
          }
        end
        if rt.attempts > 5 then
          report {
            subject = r.name,
            message = string.format("%d retry attempts (at most 5)", rt.attempts),
            loc = r.loc,
          }
        end
      end
    end
  end,
}

check "mtls-strict-for-data" {
  severity = "high",
  description = "a service that handles a data class runs with mTLS STRICT",
  run = function(mesh, report)
    for _, svc in ipairs(mesh.services) do
      local data = svc.data
      if #data > 0 and svc.mtls ~= "STRICT" then
        report {
          subject = svc.ref,
          message = string.format("handles %s but mTLS is %s", table.concat(data, ", "),
                                  svc.mtls or "unset (the mesh default)"),
          loc = svc.loc,
        }
      end
    end
  end,
}

local function iso(t) return os.date("!%Y-%m-%dT%H:%M:%SZ", t) end

check "certificate-expired" {
  severity = "high",
  description = "no certificate is past its expiry",
  run = function(mesh, report)
    local now = os.time()
    for _, c in ipairs(mesh.certificates) do
      local t = c.not_after
      if t and t <= now then
        report {
          subject = c.name,
          message = string.format("expired %s (%d days ago)", iso(t), (now - t) // DAY),
          loc = c.loc,
        }
      end
    end
  end,
}

check "certificate-expiring-soon" {
  severity = "medium",
  description = "no certificate expires within 30 days",
  run = function(mesh, report)
    local now = os.time()
    for _, c in ipairs(mesh.certificates) do
      local t = c.not_after
      if t and t > now and t <= now + 30 * DAY then
        report {
          subject = c.name,
          message = string.format("expires %s (in %d days)", iso(t), (t - now) // DAY),
          loc = c.loc,
        }
      end
    end
  end,
}
