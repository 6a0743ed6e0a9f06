-- Presence helpers. A channel's presence is held in three hashes that share its hash tag:
--   presence  user -> number of connections holding the name
--   holders   "<server>\t<connection>" -> user
--   hservers  server -> number of holders it has in the channel
-- A holder is alive while its server's route in the channel is (routes: server -> expiry).
-- Changes are published to every live routed server as "p\n<channel>\n+|-\n<user>", through the
-- inbox route (see inbox.lua), passed below as `prefix`. With webhooks on, keys[6] (hook state)
-- and keys[7] (outbox) take the member events (includes/hooks.lua), and the script sets
-- HOOKS = { debounce = <ms> }; HOOKS.due is then the time the channel's outbox needs the
-- dispatcher (0: not at all), which the script returns for its caller to schedule.
--- @include "hooks"

local HOOKS = nil

local function hookDue(at)
  if HOOKS.due == 0 or at < HOOKS.due then HOOKS.due = at end
end

local function publishPresence(routesKey, now, prefix, channel, sign, user)
  local servers = redis.call('ZRANGEBYSCORE', routesKey, '(' .. string.format('%d', now), '+inf')
  local event = 'p\n' .. channel .. '\n' .. sign .. '\n' .. user
  for _, server in ipairs(servers) do publishInbox(prefix, server, event) end
end

-- Drops one holder; publishes "-" when the user's last connection is gone.
local function dropHolder(keys, now, prefix, channel, server, field, user)
  local presenceKey, holdersKey, hserversKey, routesKey, sessionsKey = keys[1], keys[2], keys[3], keys[4], keys[5]
  redis.call('HDEL', holdersKey, field)
  if redis.call('HINCRBY', hserversKey, server, -1) <= 0 then redis.call('HDEL', hserversKey, server) end
  if redis.call('HINCRBY', presenceKey, user, -1) <= 0 then
    redis.call('HDEL', presenceKey, user)
    redis.call('HDEL', sessionsKey, user)
    publishPresence(routesKey, now, prefix, channel, '-', user)
    if HOOKS then
      hookLeft(keys[6], presenceKey, now, HOOKS.debounce, user)
      hookDue(now + HOOKS.debounce)
    end
  end
end

-- Removes every holder of servers whose route expired (a server that died without cleanup).
local function sweepDeadServers(keys, now, prefix, channel)
  local holdersKey, hserversKey, routesKey = keys[2], keys[3], keys[4]
  local servers = redis.call('HKEYS', hserversKey)
  for _, server in ipairs(servers) do
    local expiry = tonumber(redis.call('ZSCORE', routesKey, server) or '0')
    if expiry <= now then
      local cursor = '0'
      repeat
        local page = redis.call('HSCAN', holdersKey, cursor, 'MATCH', server .. '\t*', 'COUNT', 500)
        cursor = page[1]
        local entries = page[2]
        for i = 1, #entries, 2 do
          dropHolder(keys, now, prefix, channel, server, entries[i], entries[i + 1])
        end
      until cursor == '0'
      redis.call('HDEL', hserversKey, server)
    end
  end
end

local function keepPresence(keys, ttl)
  for _, i in ipairs({ 1, 2, 3, 5 }) do redis.call('PEXPIRE', keys[i], ttl) end
  -- An occupied channel's webhook state must not expire under its members.
  if HOOKS and redis.call('EXISTS', keys[6]) == 1 then redis.call('PEXPIRE', keys[6], HOOK_STATE_TTL_MS) end
end

-- Reads the webhook setting passed to a presence script ("" when off).
local function useHooks(debounce)
  if debounce ~= nil and debounce ~= '' then HOOKS = { debounce = tonumber(debounce), due = 0 } end
end

-- A presence script's answer: { due (0 when webhooks are off or nothing is owed), result... }
-- (a table result is spread after it).
local function withDue(result)
  local due = HOOKS and HOOKS.due or 0
  if type(result) ~= 'table' then return { due, result } end
  table.insert(result, 1, due)
  return result
end
