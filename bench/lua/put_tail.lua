-- wrk: unique-key writes to hraftd as put_hraftd.lua, reporting the tail too (p99.9), for
-- bench/tail_wrk.ts. Args: prefix value.
local common = require("common")
setup = common.setup

local prefix, value, n
local headers = { ["Content-Type"] = "application/json" }

function init(args)
  prefix = (args[1] or "w") .. "-" .. tostring(thread_no or 0) .. "-"
  value = args[2] or "v"
  n = 0
end

function request()
  n = n + 1
  return wrk.format("POST", "/key", headers, '{"' .. prefix .. n .. '":"' .. value .. '"}')
end

-- One line "TAILJSON {...}"; latencies in microseconds.
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'TAILJSON {"requests":%d,"duration_us":%d,"errors":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,' ..
    '"p999_us":%d,"max_us":%d}\n',
    summary.requests, summary.duration, e.connect + e.read + e.write + e.status + e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency:percentile(99.9),
    latency.max))
end
