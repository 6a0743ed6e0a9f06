--[[
  Forwards "user is typing in channel" notices to the live push servers with members in their
  channels, each at most once per user per channel per window. Nothing is stored but the
  window's marker, which expires with it. A batch of notices goes in one call (on Redis Cluster
  the caller sends one call per chat channel: every key of a call is in one slot), and each push
  server gets one payload for the whole batch.

  KEYS[2i-1] marker  STRING  set while that user's last forwarded typing is within the window
  KEYS[2i]   routes  ZSET    score = route expiry (ms, Redis clock), member = push server id

  ARGV[1] window in ms
  ARGV[2] inbox route (see includes/inbox.lua)
  ARGV[2i+1], ARGV[2i+2] the i-th notice's channel name and user

  Publishes "t\n<channel>\n<user>[\n<channel>\n<user>…]" to each server with a forwarded notice.
  Returns: how many notices were forwarded (the others were inside their window).
]]
--- @include "now-ms"
--- @include "inbox"

local live = '(' .. string.format('%d', nowMs())
local payloads, servers, routesOf = {}, {}, {}
local forwarded = 0
for i = 1, #KEYS, 2 do
  if redis.call('SET', KEYS[i], '1', 'NX', 'PX', ARGV[1]) then
    forwarded = forwarded + 1
    local routes = routesOf[KEYS[i + 1]]
    if routes == nil then
      routes = redis.call('ZRANGEBYSCORE', KEYS[i + 1], live, '+inf')
      routesOf[KEYS[i + 1]] = routes
    end
    local line = ARGV[i + 2] .. '\n' .. ARGV[i + 3]
    for _, server in ipairs(routes) do
      local lines = payloads[server]
      if lines == nil then
        lines = { 't' }
        payloads[server] = lines
        servers[#servers + 1] = server
      end
      lines[#lines + 1] = line
    end
  end
end
for _, server in ipairs(servers) do
  publishInbox(ARGV[2], server, table.concat(payloads[server], '\n'))
end
return forwarded
