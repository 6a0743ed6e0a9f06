--[[
  Moves a user's read marker in a channel forward (never back) and tells the live push servers
  with members in the channel, which coalesce the changes into `receipts` frames.

  KEYS[1] reads   HASH    user -> read marker (seq)
  KEYS[2] seq     STRING  the channel's last seq
  KEYS[3] routes  ZSET    score = route expiry (ms, Redis clock), member = push server id

  ARGV[1] retention in ms (the markers are kept this long after the last change)
  ARGV[2] inbox route (see includes/inbox.lua)
  ARGV[3] channel name
  ARGV[4] user
  ARGV[5] seq read (a seq past the channel's latest counts as the latest)

  Returns: the new marker, or 0 when it did not move.
]]
--- @include "now-ms"
--- @include "inbox"

local latest = tonumber(redis.call('GET', KEYS[2]) or '0')
local read = math.min(tonumber(ARGV[5]), latest)
local old = tonumber(redis.call('HGET', KEYS[1], ARGV[4]) or '0')
if read <= old then return 0 end
local text = string.format('%d', read)
redis.call('HSET', KEYS[1], ARGV[4], text)
redis.call('PEXPIRE', KEYS[1], ARGV[1])
local event = 'r\n' .. ARGV[3] .. '\n' .. ARGV[4] .. '\n' .. text
for _, server in ipairs(redis.call('ZRANGEBYSCORE', KEYS[3], '(' .. string.format('%d', nowMs()), '+inf')) do
  publishInbox(ARGV[2], server, event)
end
return read
