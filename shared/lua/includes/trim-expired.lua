-- Removes a channel's messages stored before `cutoff` (ms) and their de-duplication keys.
-- Messages are stored in seq order with the Redis clock, so the expired ones are a prefix of the
-- sorted set; the timestamp is the second field of every stored frame. Almost every call finds
-- the oldest message still fresh, so that one is read alone; only an expired head reads on in
-- chunks. Bounded per call: a channel with a huge expired backlog is trimmed over several calls
-- (readers filter meanwhile).
local function frameTime(frame)
  return tonumber(string.match(frame, '"timestamp":(%d+)'))
end

local function trimExpired(msgsKey, idsKey, cutoff)
  redis.call('ZREMRANGEBYSCORE', idsKey, '-inf', '(' .. string.format('%d', cutoff))
  local oldest = redis.call('ZRANGE', msgsKey, 0, 0)[1]
  if oldest == nil then return end
  local ts = frameTime(oldest)
  if ts == nil or ts >= cutoff then return end
  for _ = 1, 50 do
    local head = redis.call('ZRANGE', msgsKey, 0, 199)
    local n = 0
    for _, frame in ipairs(head) do
      ts = frameTime(frame)
      if ts ~= nil and ts < cutoff then n = n + 1 else break end
    end
    if n > 0 then redis.call('ZREMRANGEBYRANK', msgsKey, 0, n - 1) end
    if n < 200 then return end
  end
end
