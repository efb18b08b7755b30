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
      local n, sum = #dests, 0
      for i = 1, n do sum = sum + (dests[i].weight or 0) end
      if n > 0 and sum ~= 100 then
        -- the message's parts only for a route that is reported (most are not)
        local parts = {}
        for i, t in ipairs(dests) do
          parts[i] = string.format("%s %d", target_name(t), t.weight or 0)
        end
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

-- Adds region to the route's regions (seen: region -> true, list: in order of first sight).
local function add_region(seen, list, region)
  if not seen[region] then
    seen[region] = true
    list[#list + 1] = region
  end
end

-- Adds the regions each target of a list may be served from: its pinned cluster's, else every
-- region of its service (regions_of: a service's, read once per check run), else its external's;
-- true when a target's region is unknown (an external without a region, a service in no
-- cluster).
local function add_target_regions(targets, seen, list, regions_of)
  local unknown = false
  for i = 1, #targets do
    local t = targets[i]
    local c, svc, x = t.cluster, t.service, t.external
    if c then
      add_region(seen, list, c.region)
    elseif svc then
      local rs = regions_of(svc)
      if #rs == 0 then unknown = true end
      for k = 1, #rs do add_region(seen, list, rs[k]) end
    elseif x and x.region then
      add_region(seen, list, x.region)
    else
      unknown = true
    end
  end
  return unknown
end

check "cross-region-timeout" {
  severity = "medium",
  description = "a route that may cross regions sets a timeout",
  run = function(mesh, report)
    -- Each read of svc.regions builds a new list; a service is the target of many routes, so
    -- its list is read once and kept for the run (by svc.id, a number: no view built for it).
    local by_id = {}
    local function regions_of(svc)
      local id = svc.id
      local rs = by_id[id]
      if not rs then
        rs = svc.regions
        by_id[id] = rs
      end
      return rs
    end
    for _, r in ipairs(mesh.routes) do
      -- A route without a source has callers everywhere; it is judged by the callers' own
      -- routes, not here.
      local source = r.timeout_ms == nil and r.source
      if source then
        local seen, list = {}, {}
        local rs = regions_of(source)
        for k = 1, #rs do add_region(seen, list, rs[k]) end
        -- every target: weighted destinations, failover, then mirrors
        local unknown = add_target_regions(r.destinations, seen, list, regions_of)
        unknown = add_target_regions(r.failover, seen, list, regions_of) or unknown
        unknown = add_target_regions(r.mirrors, seen, list, regions_of) or unknown
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
