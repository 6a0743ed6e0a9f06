--[[
  Leases up to ARGV[2] of the channels whose webhook outbox has been due longest and that no
  dispatcher loop is working on, and takes them off the due list (events arriving meanwhile put
  them back on).

  KEYS[1] due     ZSET channel -> when its outbox needs the dispatcher (ms)
  KEYS[2] leases  ZSET channel -> lease expiry (ms, Redis clock)
  KEYS[3] retry   HASH channel -> retry state (JSON) while its oldest batch is being retried

  ARGV[1] lease in ms
  ARGV[2] the most channels to lease

  Returns: { channel, retry state or "" } for each channel leased.
]]
--- @include "now-ms"

local now = nowMs()
local want = tonumber(ARGV[2])
local leased = {}
for _, channel in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, want + 50)) do
  local lease = tonumber(redis.call('ZSCORE', KEYS[2], channel) or '0')
  if lease <= now then
    redis.call('ZADD', KEYS[2], now + tonumber(ARGV[1]), channel)
    redis.call('ZREM', KEYS[1], channel)
    leased[#leased + 1] = { channel, redis.call('HGET', KEYS[3], channel) or '' }
    if #leased >= want then break end
  end
end
return leased
