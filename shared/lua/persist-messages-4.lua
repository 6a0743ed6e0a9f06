--[[
  Stores a batch of messages of ONE chat channel, in order, each exactly once, and routes the
  stored messages to every live push server with members in the channel: one (S)PUBLISH per server
  carrying the batch's new frames in seq order, separated by "\n" (JSON frames hold no raw newline). Atomic: a retried or
  stalled job that runs this again stores nothing twice and skips nothing.

  KEYS[1] msgs    ZSET    score = seq, member = the message frame (JSON, as members receive it)
  KEYS[2] seq     STRING  the last seq assigned in the channel
  KEYS[3] ids     ZSET    score = time stored (ms), member = de-duplication key (author "\n" id)
  KEYS[4] routes  ZSET    score = route expiry (ms, Redis clock), member = push server id

  ARGV[1] retention in ms (messages older than this are trimmed; the keys expire after it, the
          seq counter not before the last live route does)
  ARGV[2] inbox route: "PUBLISH <prefix>" or "SPUBLISH <prefix>" (see includes/inbox.lua)
  ARGV[3], ARGV[4], ... pairs of: de-duplication key, frame tail (the frame's JSON after
          `"timestamp":N,`, i.e. `"channel":…,"id":…,"author":…,"text":…}`)

  Returns: one integer per message, in order: its new seq, or 0 when the key was already stored.
]]
--- @include "now-ms"
--- @include "trim-expired"
--- @include "inbox"

local retention = tonumber(ARGV[1])
local now = nowMs()
local nowText = string.format('%d', now)
trimExpired(KEYS[1], KEYS[3], now - retention)

-- Routes whose server stopped heart-beating are dead: drop them, publish to the rest.
redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', nowText)
local routed = redis.call('ZRANGE', KEYS[4], 0, -1, 'WITHSCORES')
local servers = {}
local lastRouteExpiry = 0
for i = 1, #routed, 2 do
  servers[#servers + 1] = routed[i]
  local expiry = tonumber(routed[i + 1])
  if expiry > lastRouteExpiry then lastRouteExpiry = expiry end
end

local result = {}
local frames = {}
local stored = 0
for i = 3, #ARGV, 2 do
  local key = ARGV[i]
  if redis.call('ZSCORE', KEYS[3], key) then
    result[#result + 1] = 0
  else
    local seq = redis.call('INCR', KEYS[2])
    local frame = '{"type":"message","seq":' .. seq .. ',"timestamp":' .. nowText .. ',' .. ARGV[i + 1]
    redis.call('ZADD', KEYS[1], seq, frame)
    redis.call('ZADD', KEYS[3], now, key)
    frames[#frames + 1] = frame
    result[#result + 1] = seq
    stored = stored + 1
  end
end

if stored > 0 then
  local payload = table.concat(frames, '\n')
  for _, server in ipairs(servers) do
    publishInbox(ARGV[2], server, payload)
  end
  redis.call('PEXPIRE', KEYS[1], retention)
  -- The seq counter outlives every member: at least as long as the last live route, so a
  -- retention shorter than the heartbeat cannot let it expire (and restart) under connected
  -- members (the push servers renew it with each route).
  redis.call('PEXPIRE', KEYS[2], string.format('%d', math.max(retention, lastRouteExpiry - now)))
  redis.call('PEXPIRE', KEYS[3], retention)
end
return result
