--[[
  Moves a channel's debounced webhook events that are due into its outbox (member.left for each
  user gone longer than the debounce and still gone, then channel.vacated when nobody is left),
  and returns the oldest events of the outbox for the dispatcher to send.

  KEYS[1] presence  HASH user -> connections (claim-presence-7.lua)
  KEYS[2] hookstate HASH the channel's webhook state (includes/hooks.lua)
  KEYS[3] hooks     LIST the channel's webhook outbox

  ARGV[1] channel name
  ARGV[2] the most events to return

  Returns: { the earliest deadline still pending (0: none), the outbox length, event1, event2, … }.
]]
--- @include "now-ms"
--- @include "hooks"

local now = nowMs()
local channel = ARGV[1]
local state = redis.call('HGETALL', KEYS[2])
local due, pending = {}, 0
local vacate = nil
for i = 1, #state, 2 do
  local field, value = state[i], tonumber(state[i + 1])
  if string.sub(field, 1, 5) == 'left:' then
    if value <= now then due[#due + 1] = { at = value, user = string.sub(field, 6) }
    elseif pending == 0 or value < pending then pending = value end
  elseif field == 'vacate' then
    vacate = value
  end
end
table.sort(due, function(a, b) return a.at < b.at or (a.at == b.at and a.user < b.user) end)
for _, d in ipairs(due) do
  redis.call('HDEL', KEYS[2], 'left:' .. d.user)
  if not redis.call('HGET', KEYS[1], d.user) then
    hookMemberEvent(KEYS[2], KEYS[3], now, channel, 'member.left', d.user)
  end
end
if vacate then
  if redis.call('HLEN', KEYS[1]) > 0 then
    redis.call('HDEL', KEYS[2], 'vacate')
  elseif vacate <= now and pending == 0 then
    redis.call('HDEL', KEYS[2], 'vacate')
    redis.call('HSET', KEYS[2], 'occupied', '0')
    hookMemberEvent(KEYS[2], KEYS[3], now, channel, 'channel.vacated', nil)
  elseif pending == 0 or vacate < pending then
    pending = vacate
  end
end
local result = { pending, redis.call('LLEN', KEYS[3]) }
for _, e in ipairs(redis.call('LRANGE', KEYS[3], 0, tonumber(ARGV[2]) - 1)) do result[#result + 1] = e end
return result
