-- Publishes a payload to one push server. `route` is "PUBLISH <prefix>" (one Redis: the server's
-- inbox) or "SPUBLISH <prefix>" (Redis Cluster: a shard channel tagged with the chat channel, so
-- it lives in this script's slot); the server id completes the channel name.
local function publishInbox(route, server, payload)
  local space = string.find(route, ' ', 1, true)
  redis.call(string.sub(route, 1, space - 1), string.sub(route, space + 1) .. server, payload)
end
