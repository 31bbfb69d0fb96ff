-- wrk: reads of preloaded keys <prefix>0 .. <prefix>(count-1) from hraftd, at a read level.
-- Args: prefix count level (linearizable | stale). Also serves the bare Bun responder,
-- which answers every path with a constant.
local common = require("common")
setup = common.setup
done = common.done

local paths = {}

function init(args)
  local prefix, count, level = args[1] or "r-", tonumber(args[2] or "1"), args[3] or "linearizable"
  for i = 0, count - 1 do
    paths[#paths + 1] = "/key/" .. prefix .. i .. "?level=" .. level
  end
  math.randomseed((thread_no or 1) * 7919)
end

function request()
  return wrk.format("GET", paths[math.random(#paths)])
end
