-- Webhook events (SPEC §8), appended to a channel's outbox (a LIST in the channel's slot) in the
-- same atomic step as the change they describe; the workers' dispatcher sends them in order.
-- A channel's hook state (HASH): "n" numbers its member events, "occupied" is "1" while it has
-- (or is still within the debounce of) members, "left:<user>" and "vacate" hold the deadlines of
-- the debounced member.left and channel.vacated.
--- @include "json"

-- The outbox outlives the 24 h of retries; the state lives a day past its last change or sweep.
local HOOK_OUTBOX_TTL_MS = 90000000
local HOOK_STATE_TTL_MS = 86400000

local function hookEvent(outboxKey, id, now, channel, kind, extra)
  redis.call('RPUSH', outboxKey, '{"id":' .. jsonString(id) .. ',"type":"' .. kind .. '","timestamp":' ..
    string.format('%d', now) .. ',"channel":' .. jsonString(channel) .. extra .. '}')
  redis.call('PEXPIRE', outboxKey, HOOK_OUTBOX_TTL_MS)
end

local function hookMemberEvent(stateKey, outboxKey, now, channel, kind, user)
  local n = redis.call('HINCRBY', stateKey, 'n', 1)
  redis.call('PEXPIRE', stateKey, HOOK_STATE_TTL_MS)
  local id = channel .. ':' .. string.format('%d', now) .. ':' .. n
  hookEvent(outboxKey, id, now, channel, kind, user and (',"user":' .. jsonString(user)) or '')
end

-- A user's first connection in the channel joined: member.joined at once (after channel.occupied
-- when the channel was empty), unless the user left within the debounce: then neither.
local function hookJoined(stateKey, outboxKey, now, channel, user)
  if redis.call('HDEL', stateKey, 'left:' .. user) == 1 then
    redis.call('HDEL', stateKey, 'vacate')
    return
  end
  redis.call('HDEL', stateKey, 'vacate')
  if redis.call('HGET', stateKey, 'occupied') ~= '1' then
    redis.call('HSET', stateKey, 'occupied', '1')
    hookMemberEvent(stateKey, outboxKey, now, channel, 'channel.occupied', nil)
  end
  hookMemberEvent(stateKey, outboxKey, now, channel, 'member.joined', user)
end

-- A user's last connection left: member.left once the debounce passes without a return, and
-- channel.vacated after it when nobody is left (see hooks-take-3.lua).
local function hookLeft(stateKey, presenceKey, now, debounce, user)
  local deadline = string.format('%d', now + debounce)
  redis.call('HSET', stateKey, 'left:' .. user, deadline)
  redis.call('PEXPIRE', stateKey, HOOK_STATE_TTL_MS)
  if redis.call('HLEN', presenceKey) == 0 then redis.call('HSET', stateKey, 'vacate', deadline) end
end
