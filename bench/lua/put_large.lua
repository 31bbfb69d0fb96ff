-- wrk: writes of large values (issue 18's 64 KiB row), to hraftd (POST /key) or to
-- etcd's JSON gateway (POST /v3/kv/put, base64). The value is built once per thread, so wrk's
-- own CPU per request is one concatenation, not the value's construction. Keys cycle over
-- 1024 per thread (each write still a whole new 64 KiB log entry), so the map and etcd's
-- live keys stay bounded (2 threads x 1024 x 64 KiB = 128 MiB) however long the run.
-- Args: system (hraftd | etcd) prefix bytes.
local common = require("common")
setup = common.setup
done = common.done

local system, prefix, value, n
local headers = { ["Content-Type"] = "application/json" }

function init(args)
  common.with_cli_headers(headers)
  system = args[1] or "hraftd"
  prefix = (args[2] or "big") .. "-" .. tostring(thread_no or 0) .. "-"
  -- Printable and JSON-safe, not all one byte (no layer can shortcut a run of one character).
  local raw = string.rep("0123456789abcdef", math.ceil(tonumber(args[3] or "65536") / 16)):sub(1, tonumber(args[3] or "65536"))
  value = system == "etcd" and common.b64(raw) or raw
  n = 0
end

function request()
  n = n % 1024 + 1
  if system == "etcd" then
    return wrk.format("POST", "/v3/kv/put", headers, '{"key":"' .. common.b64(prefix .. n) .. '","value":"' .. value .. '"}')
  end
  return wrk.format("POST", "/key", headers, '{"' .. prefix .. n .. '":"' .. value .. '"}')
end
