-- wrk: unique-key writes to hraftd, POST /key {"<prefix>-<thread>-<n>":"<value>"}.
-- Args: prefix value [mode]. Mode "plain" (the default); "once": each request carries its own
-- Idempotency-Key (the key's name); "create": each carries If-None-Match: * (create only, which
-- holds for a new key). Both cost a write what issue 16's safe retries and conditions cost.
local common = require("common")
setup = common.setup
done = common.done

local prefix, value, mode, n
local headers = { ["Content-Type"] = "application/json" }

function init(args)
  common.with_cli_headers(headers)
  prefix = (args[1] or "w") .. "-" .. tostring(thread_no or 0) .. "-"
  value = args[2] or "v"
  mode = args[3] or "plain"
  if mode == "create" then headers["If-None-Match"] = "*" end
  n = 0
end

function request()
  n = n + 1
  local key = prefix .. n
  if mode == "once" then headers["Idempotency-Key"] = key end
  return wrk.format("POST", "/key", headers, '{"' .. key .. '":"' .. value .. '"}')
end
