--[[
  Forwards "user is typing in channel" to the live push servers with members in the channel, at
  most once per user per channel per window. Nothing is stored but the window's marker, which
  expires with it.

  KEYS[1] marker  STRING  set while the user's last forwarded typing is within the window
  KEYS[2] routes  ZSET    score = route expiry (ms, Redis clock), member = push server id

  ARGV[1] window in ms
  ARGV[2] inbox route (see includes/inbox.lua)
  ARGV[3] channel name
  ARGV[4] user

  Returns: 1 when forwarded, 0 when dropped (inside the window).
]]
--- @include "now-ms"
--- @include "inbox"

if not redis.call('SET', KEYS[1], '1', 'NX', 'PX', ARGV[1]) then return 0 end
local event = 't\n' .. ARGV[3] .. '\n' .. ARGV[4]
for _, server in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '(' .. string.format('%d', nowMs()), '+inf')) do
  publishInbox(ARGV[2], server, event)
end
return 1
