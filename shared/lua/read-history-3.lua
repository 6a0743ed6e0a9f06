--[[
  Reads a channel's history consistently with its seq: either the last N messages, or every
  retained message after a given seq (capped).

  KEYS[1] msgs  ZSET    score = seq, member = message frame JSON
  KEYS[2] seq   STRING  last seq assigned
  KEYS[3] ids   ZSET    de-duplication keys (trimmed together with the messages)

  ARGV[1] retention in ms
  ARGV[2] mode: "last" or "since"
  ARGV[3] with "last": how many messages; with "since": the seq the reader already has
  ARGV[4] with "since": the most messages to return

  Returns: { seq, complete (1 or 0), frame1, frame2, ... } oldest first. `complete` is 0 when
  messages after `since` were already trimmed, when the cap cut the answer, or when `since` is
  ahead of the channel.
]]
--- @include "now-ms"
--- @include "trim-expired"

local retention = tonumber(ARGV[1])
local cutoff = nowMs() - retention
trimExpired(KEYS[1], KEYS[3], cutoff)

local seq = tonumber(redis.call('GET', KEYS[2]) or '0')
local result = { seq, 1 }

-- Keeps only frames stored at or after the cutoff (a prefix may remain after a bounded trim).
local function appendFresh(frames, step)
  local first, last = nil, nil
  for i = 1, #frames, step do
    local frame = frames[i]
    local ts = frameTime(frame)
    if ts == nil or ts >= cutoff then
      result[#result + 1] = frame
      local s = step == 2 and tonumber(frames[i + 1]) or nil
      if first == nil then first = s end
      last = s
    end
  end
  return first, last
end

if ARGV[2] == 'last' then
  local limit = tonumber(ARGV[3])
  if limit > 0 then appendFresh(redis.call('ZRANGE', KEYS[1], -limit, -1), 1) end
  return result
end

local since = tonumber(ARGV[3])
local cap = tonumber(ARGV[4])
if since >= seq then
  if since > seq then result[2] = 0 end
  return result
end
local frames = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. since, '+inf', 'WITHSCORES', 'LIMIT', 0, cap)
local first, last = appendFresh(frames, 2)
if first ~= since + 1 or last ~= seq then result[2] = 0 end
return result
