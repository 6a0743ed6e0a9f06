--[[
  Renews a lease held by `owner`; a lease someone else holds (or nobody) is left alone.

  KEYS[1] lease   STRING  the owner's id, with an expiry
  ARGV[1] owner   ARGV[2] lease time (ms)

  Returns: 1 renewed, 0 not held by `owner`.
]]
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
