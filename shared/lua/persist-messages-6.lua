--[[
  Stores a batch of events of ONE chat channel (messages, and updates of earlier messages), in
  order, each exactly once, and routes the stored events to every live push server with members
  in the channel: one (S)PUBLISH per server carrying the batch's new frames in seq order,
  separated by "\n" (JSON frames hold no raw newline). Atomic: a retried or stalled job that runs
  this again stores nothing twice and skips nothing.

  KEYS[1] msgs    ZSET    score = seq, member = the message frame in its current state (JSON)
  KEYS[2] seq     STRING  the last seq assigned in the channel (messages and updates)
  KEYS[3] ids     ZSET    score = time stored (ms), member = de-duplication key (author "\n" id)
  KEYS[4] routes  ZSET    score = route expiry (ms, Redis clock), member = push server id
  KEYS[5] events  ZSET    score = seq, member = an update frame (JSON, as members receive it)
  KEYS[6] hooks   LIST    the channel's webhook outbox (includes/hooks.lua)

  ARGV[1] retention in ms (events older than this are trimmed; the keys expire after it, the
          seq counter not before the last live route does)
  ARGV[2] inbox route: "PUBLISH <prefix>" or "SPUBLISH <prefix>" (see includes/inbox.lua)
  ARGV[3] the channel name when webhooks are on (each stored event is added to the outbox as
          message.stored or message.updated), else ""
  ARGV[4], ARGV[5], ARGV[6], ... triples of: de-duplication key, frame tail (the frame's JSON
          after `"timestamp":N,`), and for an update
          "<target>\t<action>\t<privileged 0|1>\t<author>\t<value>" (value: the edit's text or
          the emoji), "" for a message

  An update applies to a retained, not deleted message (edit and delete only by its author unless
  privileged: the server API); react of a reaction already there, unreact of one that is not,
  and a react past the caps (MAX_REACTION_EMOJI, MAX_REACTORS) change nothing. Such an update is
  dropped: never stored, no seq, its id still taken.

  Returns: one integer per event, in order: its new seq, 0 when the key was already stored, -1
  when the update was dropped.
]]
--- @include "now-ms"
--- @include "trim-expired"
--- @include "inbox"
--- @include "hooks"

local MAX_REACTION_EMOJI = 20
local MAX_REACTORS = 100

local retention = tonumber(ARGV[1])
local now = nowMs()
local nowText = string.format('%d', now)
local cutoff = now - retention
trimExpired(KEYS[1], KEYS[3], cutoff)
trimExpired(KEYS[5], KEYS[3], cutoff)

-- Routes whose server stopped heart-beating are dead: drop them, publish to the rest.
redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', nowText)
local routed = redis.call('ZRANGE', KEYS[4], 0, -1, 'WITHSCORES')
local servers = {}
local lastRouteExpiry = 0
for i = 1, #routed, 2 do
  servers[#servers + 1] = routed[i]
  local expiry = tonumber(routed[i + 1])
  if expiry > lastRouteExpiry then lastRouteExpiry = expiry end
end

local function indexOf(list, value)
  for i, v in ipairs(list) do if v == value then return i end end
  return nil
end

-- Applies an update to its target; returns the rewritten target, or nil when it changes nothing.
local function apply(target, action, privileged, author, value)
  local frames = redis.call('ZRANGEBYSCORE', KEYS[1], target, target)
  local frame = frames[1]
  if frame == nil then return nil end
  local m = cjson.decode(frame)
  if m.deleted or (frameTime(frame) or 0) < cutoff then return nil end
  if (action == 'edit' or action == 'delete') and m.author ~= author and not privileged then return nil end
  m.seq = target
  if action == 'edit' then
    m.text = value
    m.edited = now
  elseif action == 'delete' then
    m.text = ''
    m.deleted = true
    m.edited = nil
    m.reactions = nil
  else
    local reactions = m.reactions or {}
    local names = reactions[value]
    if action == 'react' then
      if names == nil then
        local distinct = 0
        for _ in pairs(reactions) do distinct = distinct + 1 end
        if distinct >= MAX_REACTION_EMOJI then return nil end
        names = {}
        reactions[value] = names
      end
      if indexOf(names, author) or #names >= MAX_REACTORS then return nil end
      names[#names + 1] = author
    else
      local at = names and indexOf(names, author)
      if not at then return nil end
      table.remove(names, at)
      if #names == 0 then reactions[value] = nil end
    end
    m.reactions = reactions
  end
  return frame, messageJson(m)
end

-- Webhook events of this batch, pushed to the outbox in one RPUSH at the end. Channel names
-- need no JSON escaping (CHANNEL_PATTERN), so ids and channel are quoted as they are.
local hookChannel = ARGV[3]
local hookEvents = {}
local hookHead = ',"timestamp":' .. nowText .. ',"channel":"' .. hookChannel .. '",'
local function hook(kind, field, seq, frame)
  if hookChannel == '' then return end
  hookEvents[#hookEvents + 1] = '{"id":"' .. hookChannel .. ':' .. seq .. ':' .. nowText .. '","type":"' .. kind .. '"' ..
    hookHead .. '"' .. field .. '":' .. frame .. '}'
end

local result = {}
local frames = {}
local stored = 0
for i = 4, #ARGV, 3 do
  local key, tail, extra = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  if redis.call('ZSCORE', KEYS[3], key) then
    result[#result + 1] = 0
  elseif extra == '' then
    local seq = redis.call('INCR', KEYS[2])
    local frame = '{"type":"message","seq":' .. seq .. ',"timestamp":' .. nowText .. ',' .. tail
    redis.call('ZADD', KEYS[1], seq, frame)
    redis.call('ZADD', KEYS[3], now, key)
    frames[#frames + 1] = frame
    result[#result + 1] = seq
    stored = stored + 1
    hook('message.stored', 'message', seq, frame)
  else
    local t1 = string.find(extra, '\t', 1, true)
    local t2 = string.find(extra, '\t', t1 + 1, true)
    local t3 = string.find(extra, '\t', t2 + 1, true)
    local t4 = string.find(extra, '\t', t3 + 1, true)
    local target = tonumber(string.sub(extra, 1, t1 - 1))
    local action = string.sub(extra, t1 + 1, t2 - 1)
    local privileged = string.sub(extra, t2 + 1, t3 - 1) == '1'
    local author = string.sub(extra, t3 + 1, t4 - 1)
    local old, rewritten = apply(target, action, privileged, author, string.sub(extra, t4 + 1))
    -- The id is taken either way: a retry of a dropped update stays dropped.
    redis.call('ZADD', KEYS[3], now, key)
    if old == nil then
      result[#result + 1] = -1
    else
      local seq = redis.call('INCR', KEYS[2])
      local frame = '{"type":"update","seq":' .. seq .. ',"timestamp":' .. nowText .. ',' .. tail
      redis.call('ZREM', KEYS[1], old)
      redis.call('ZADD', KEYS[1], target, rewritten)
      redis.call('ZADD', KEYS[5], seq, frame)
      hook('message.updated', 'update', seq, frame)
      frames[#frames + 1] = frame
      result[#result + 1] = seq
      stored = stored + 1
    end
  end
end

for i = 1, #hookEvents, 1000 do
  redis.call('RPUSH', KEYS[6], unpack(hookEvents, i, math.min(i + 999, #hookEvents)))
end
if #hookEvents > 0 then redis.call('PEXPIRE', KEYS[6], HOOK_OUTBOX_TTL_MS) end

if stored > 0 then
  local payload = table.concat(frames, '\n')
  for _, server in ipairs(servers) do
    publishInbox(ARGV[2], server, payload)
  end
  redis.call('PEXPIRE', KEYS[1], retention)
  redis.call('PEXPIRE', KEYS[5], retention)
  -- The seq counter outlives every member: at least as long as the last live route, so a
  -- retention shorter than the heartbeat cannot let it expire (and restart) under connected
  -- members (the push servers renew it with each route).
  redis.call('PEXPIRE', KEYS[2], string.format('%d', math.max(retention, lastRouteExpiry - now)))
end
if #result > 0 then redis.call('PEXPIRE', KEYS[3], retention) end
return result
