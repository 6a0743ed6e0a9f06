--[[
  Releases one connection's name in a channel (leave or disconnect).

  KEYS[1] presence  KEYS[2] holders  KEYS[3] hservers  KEYS[4] routes  KEYS[5] sessions
  KEYS[6] hookstate  KEYS[7] hooks (see claim-presence-7.lua)
  ARGV[1] server id  ARGV[2] connection id  ARGV[3] inbox route (includes/inbox.lua)  ARGV[4] channel name
  ARGV[5] webhook debounce in ms ("" when off)

  Returns: { due, 1 released or 0 the connection held no name here }.
]]
--- @include "now-ms"
--- @include "inbox"
--- @include "presence-sweep"

useHooks(ARGV[5])
local field = ARGV[1] .. '\t' .. ARGV[2]
local user = redis.call('HGET', KEYS[2], field)
if not user then return withDue(0) end
dropHolder(KEYS, nowMs(), ARGV[3], ARGV[4], ARGV[1], field, user)
return withDue(1)
