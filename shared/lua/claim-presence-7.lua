--[[
  Claims a name in a channel for one connection, atomically: no two connections hold one name,
  except connections of the same authenticated user, or a reconnect of the client session that
  holds it (its old connection may not be swept yet).

  KEYS[1] presence  HASH user -> connections holding it
  KEYS[2] holders   HASH "<server>\t<connection>" -> user
  KEYS[3] hservers  HASH server -> holders in the channel
  KEYS[4] routes    ZSET server -> route expiry (ms, Redis clock)
  KEYS[5] sessions  HASH user -> client session holding the name
  KEYS[6] hookstate HASH the channel's webhook state   KEYS[7] hooks  LIST its webhook outbox

  ARGV[1] server id     ARGV[2] connection id     ARGV[3] user
  ARGV[4] "1" when the same user may hold the name from several connections, else "0"
  ARGV[5] client session ("" when none)
  ARGV[6] inbox route (includes/inbox.lua)     ARGV[7] channel name     ARGV[8] key lifetime (ms)
  ARGV[9] webhook debounce in ms ("" when webhooks are off)

  Returns: { due, 1 claimed (or already held by this connection) or 0 the name is taken }; due is
  when the channel's webhook outbox needs the dispatcher (0: no need).
]]
--- @include "now-ms"
--- @include "inbox"
--- @include "presence-sweep"

local now = nowMs()
useHooks(ARGV[9])
local server, conn, user, session = ARGV[1], ARGV[2], ARGV[3], ARGV[5]
sweepDeadServers(KEYS, now, ARGV[6], ARGV[7])
local field = server .. '\t' .. conn
local current = redis.call('HGET', KEYS[2], field)
if current == user then return withDue(1) end
if current then
  -- The connection held another name here before: let it go first.
  dropHolder(KEYS, now, ARGV[6], ARGV[7], server, field, current)
end
local holders = tonumber(redis.call('HGET', KEYS[1], user) or '0')
if holders > 0 and ARGV[4] ~= '1' then
  if session == '' or redis.call('HGET', KEYS[5], user) ~= session then return withDue(0) end
end
redis.call('HSET', KEYS[2], field, user)
redis.call('HINCRBY', KEYS[3], server, 1)
if redis.call('HINCRBY', KEYS[1], user, 1) == 1 then
  if session ~= '' then redis.call('HSET', KEYS[5], user, session) end
  publishPresence(KEYS[4], now, ARGV[6], ARGV[7], '+', user)
  if HOOKS then
    hookJoined(KEYS[6], KEYS[7], now, ARGV[7], user)
    hookDue(now)
  end
end
keepPresence(KEYS, tonumber(ARGV[8]))
return withDue(1)
