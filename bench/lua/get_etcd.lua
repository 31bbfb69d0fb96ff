-- wrk: reads of preloaded keys from etcd, POST /v3/kv/range; "stale" asks for a
-- serializable (local) read, "linearizable" for etcd's default quorum read.
-- Args: prefix count level.
local common = require("common")
setup = common.setup
done = common.done

local bodies = {}
local headers = { ["Content-Type"] = "application/json" }

function init(args)
  common.with_cli_headers(headers)
  local prefix, count, level = args[1] or "r-", tonumber(args[2] or "1"), args[3] or "linearizable"
  local serializable = level == "stale" and "true" or "false"
  for i = 0, count - 1 do
    bodies[#bodies + 1] = '{"key":"' .. common.b64(prefix .. i) .. '","serializable":' .. serializable .. '}'
  end
  math.randomseed((thread_no or 1) * 7919)
end

function request()
  return wrk.format("POST", "/v3/kv/range", headers, bodies[math.random(#bodies)])
end
