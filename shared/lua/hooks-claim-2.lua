--[[
  Leases the channel whose webhook outbox has been due longest and that no dispatcher loop is
  working on, and takes it off the due list (events arriving meanwhile put it back on).

  KEYS[1] due     ZSET channel -> when its outbox needs the dispatcher (ms)
  KEYS[2] leases  ZSET channel -> lease expiry (ms, Redis clock)

  ARGV[1] lease in ms

  Returns: the channel, or nil when none is due.
]]
--- @include "now-ms"

local now = nowMs()
for _, channel in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, 50)) do
  local lease = tonumber(redis.call('ZSCORE', KEYS[2], channel) or '0')
  if lease <= now then
    redis.call('ZADD', KEYS[2], now + tonumber(ARGV[1]), channel)
    redis.call('ZREM', KEYS[1], channel)
    return channel
  end
end
return false
