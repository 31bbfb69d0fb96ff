-- Shared by the wrk scripts in bench/lua: thread numbering (so keys stay unique across
-- threads), the -H headers merged into a script's own, base64 for etcd's JSON gateway, and
-- one machine-readable result line.
local bit = require("bit")
local common = {}

local threads = 0
-- Called by wrk once per thread in the main Lua state: give each thread its number.
function common.setup(thread)
  threads = threads + 1
  thread:set("thread_no", threads)
end

local alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

-- The script's own headers plus those given with wrk -H (for example Authorization):
-- wrk.format uses wrk.headers only when it is handed no headers at all, so scripts that pass
-- their own table merge the command line's into it once, here.
function common.with_cli_headers(own)
  for k, v in pairs(wrk.headers) do
    if own[k] == nil then own[k] = v end
  end
  return own
end

-- Standard base64 (RFC 4648 section 4) with '=' padding.
function common.b64(s)
  local out = {}
  for i = 1, #s, 3 do
    local a, b, c = s:byte(i, i + 2)
    local n = bit.bor(bit.lshift(a, 16), bit.lshift(b or 0, 8), c or 0)
    local c1 = bit.band(bit.rshift(n, 18), 63) + 1
    local c2 = bit.band(bit.rshift(n, 12), 63) + 1
    local c3 = bit.band(bit.rshift(n, 6), 63) + 1
    local c4 = bit.band(n, 63) + 1
    out[#out + 1] = alphabet:sub(c1, c1) .. alphabet:sub(c2, c2)
      .. (b and alphabet:sub(c3, c3) or "=") .. (c and alphabet:sub(c4, c4) or "=")
  end
  return table.concat(out)
end

-- Prints one line "BENCHJSON {...}" that bench/wrk.ts parses; latencies in microseconds.
function common.done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCHJSON {"requests":%d,"duration_us":%d,"bytes":%d,"err_connect":%d,"err_read":%d,' ..
    '"err_write":%d,"err_status":%d,"err_timeout":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,' ..
    '"p999_us":%d,"max_us":%d,"mean_us":%.1f}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status,
    e.timeout, latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency:percentile(99.9), latency.max, latency.mean))
end

return common
