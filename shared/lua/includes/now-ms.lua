-- The Redis server's clock in whole milliseconds: one clock for every process on every host.
local function nowMs()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
