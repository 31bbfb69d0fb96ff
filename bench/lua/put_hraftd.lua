-- wrk: unique-key writes to hraftd, POST /key {"<prefix>-<thread>-<n>":"<value>"}.
-- Args: prefix value.
local common = require("common")
setup = common.setup
done = common.done

local prefix, value, n
local headers = { ["Content-Type"] = "application/json" }

function init(args)
  common.with_cli_headers(headers)
  prefix = (args[1] or "w") .. "-" .. tostring(thread_no or 0) .. "-"
  value = args[2] or "v"
  n = 0
end

function request()
  n = n + 1
  return wrk.format("POST", "/key", headers, '{"' .. prefix .. n .. '":"' .. value .. '"}')
end
