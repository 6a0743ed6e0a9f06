--[[
  Releases one connection's name in a channel (leave or disconnect).

  KEYS[1] presence  KEYS[2] holders  KEYS[3] hservers  KEYS[4] routes  KEYS[5] sessions
  (see claim-presence-5.lua)
  ARGV[1] server id  ARGV[2] connection id  ARGV[3] inbox route (includes/inbox.lua)  ARGV[4] channel name

  Returns: 1 released, 0 the connection held no name here.
]]
--- @include "now-ms"
--- @include "inbox"
--- @include "presence-sweep"

local field = ARGV[1] .. '\t' .. ARGV[2]
local user = redis.call('HGET', KEYS[2], field)
if not user then return 0 end
dropHolder(KEYS, nowMs(), ARGV[3], ARGV[4], ARGV[1], field, user)
return 1
