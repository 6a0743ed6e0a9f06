--[[
  Heartbeat of a channel's presence: drops the names of servers whose route expired (publishing
  their departure) and keeps the presence keys alive while servers use them. With ARGV[4] = "1"
  it also returns the names present.

  KEYS[1] presence  KEYS[2] holders  KEYS[3] hservers  KEYS[4] routes  KEYS[5] sessions
  KEYS[6] hookstate  KEYS[7] hooks (see claim-presence-7.lua)
  ARGV[1] inbox route (includes/inbox.lua)  ARGV[2] channel name  ARGV[3] key lifetime (ms, 0 = leave as is)
  ARGV[4] "1" to return the names  ARGV[5] webhook debounce in ms ("" when off)

  Returns: { due, the names present... } (ARGV[4] = "1"), else { due, the number of names }.
]]
--- @include "now-ms"
--- @include "inbox"
--- @include "presence-sweep"

useHooks(ARGV[5])
sweepDeadServers(KEYS, nowMs(), ARGV[1], ARGV[2])
local ttl = tonumber(ARGV[3])
if ttl > 0 and redis.call('EXISTS', KEYS[1]) == 1 then keepPresence(KEYS, ttl) end
if ARGV[4] == '1' then return withDue(redis.call('HKEYS', KEYS[1])) end
return withDue(redis.call('HLEN', KEYS[1]))
