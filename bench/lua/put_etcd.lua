-- wrk: unique-key writes to etcd through its v3 JSON gateway, POST /v3/kv/put with the key
-- and value base64-encoded, as the gateway's JSON mapping of bytes fields requires.
-- Args: prefix value.
local common = require("common")
setup = common.setup
done = common.done

local prefix, value64, n
local headers = { ["Content-Type"] = "application/json" }

function init(args)
  common.with_cli_headers(headers)
  prefix = (args[1] or "w") .. "-" .. tostring(thread_no or 0) .. "-"
  value64 = common.b64(args[2] or "v")
  n = 0
end

function request()
  n = n + 1
  local body = '{"key":"' .. common.b64(prefix .. n) .. '","value":"' .. value64 .. '"}'
  return wrk.format("POST", "/v3/kv/put", headers, body)
end
