--[[
  Gives up a lease held by `owner` so that another process can take it at once.

  KEYS[1] lease   STRING  the owner's id, with an expiry
  ARGV[1] owner

  Returns: 1 released, 0 not held by `owner`.
]]
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
