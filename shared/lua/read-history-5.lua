--[[
  Reads a channel consistently with its seq: the last N messages, every retained event (messages
  in their current state and updates) after a given seq, or a page of messages before a seq; and
  the reader's read marker with the count of messages unread.

  KEYS[1] msgs    ZSET    score = seq, member = message frame JSON (current state)
  KEYS[2] seq     STRING  last seq assigned
  KEYS[3] ids     ZSET    de-duplication keys (trimmed together with the events)
  KEYS[4] events  ZSET    score = seq, member = update frame JSON
  KEYS[5] reads   HASH    user -> read marker (seq)

  ARGV[1] retention in ms
  ARGV[2] mode: "last", "since" or "page"
  ARGV[3] "last": how many messages; "since": the seq the reader already has; "page": the seq to
          read before (0: from the newest)
  ARGV[4] "since": the most events to return; "page": the most messages
  ARGV[5] the reader's user name ("" for none: read and unread are 0)

  Returns: { seq, flag, read, unread, frame1, frame2, ... } oldest first. For "last" and "since"
  the flag is `complete`: 0 when events after `since` were already trimmed, when the cap cut the
  answer, or when `since` is ahead of the channel. For "page" it is `more`: 1 when an older
  retained message exists.
]]
--- @include "now-ms"
--- @include "trim-expired"
--- @include "json"

local MAX_UNREAD = 1000
local MAX_UNREAD_SCAN = 5000

local retention = tonumber(ARGV[1])
local cutoff = nowMs() - retention
trimExpired(KEYS[1], KEYS[3], cutoff)
trimExpired(KEYS[4], KEYS[3], cutoff)

local seq = tonumber(redis.call('GET', KEYS[2]) or '0')
local result = { seq, 1, 0, 0 }

local function fresh(frame)
  local ts = frameTime(frame)
  return ts == nil or ts >= cutoff
end

-- The reader's marker, and the messages by others after it that are not deleted.
local reader = ARGV[5]
if reader ~= '' and ARGV[2] ~= 'page' then
  local marker = tonumber(redis.call('HGET', KEYS[5], reader) or '0')
  result[3] = marker
  if marker < seq then
    local mine = ',"author":' .. jsonString(reader) .. ',"text":'
    local unread = 0
    local frames = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. marker, '+inf', 'LIMIT', 0, MAX_UNREAD_SCAN)
    for _, frame in ipairs(frames) do
      if not string.find(frame, mine, 1, true) and not string.find(frame, ',"deleted":true', 1, true) and fresh(frame) then
        unread = unread + 1
        if unread >= MAX_UNREAD then break end
      end
    end
    result[4] = unread
  end
end

if ARGV[2] == 'last' then
  local limit = tonumber(ARGV[3])
  if limit > 0 then
    for _, frame in ipairs(redis.call('ZRANGE', KEYS[1], -limit, -1)) do
      if fresh(frame) then result[#result + 1] = frame end
    end
  end
  return result
end

if ARGV[2] == 'page' then
  local before = tonumber(ARGV[3])
  local limit = tonumber(ARGV[4])
  local max = before > 0 and '(' .. before or '+inf'
  local frames = redis.call('ZREVRANGEBYSCORE', KEYS[1], max, '-inf', 'LIMIT', 0, limit + 1)
  local page = {}
  local more = 0
  for i, frame in ipairs(frames) do
    if not fresh(frame) then break end
    if i > limit then more = 1 break end
    page[#page + 1] = frame
  end
  result[2] = more
  for i = #page, 1, -1 do result[#result + 1] = page[i] end
  return result
end

local since = tonumber(ARGV[3])
local cap = tonumber(ARGV[4])
if since >= seq then
  if since > seq then result[2] = 0 end
  return result
end
-- Messages and updates after `since`, merged in seq order.
local msgs = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. since, '+inf', 'WITHSCORES', 'LIMIT', 0, cap)
local events = redis.call('ZRANGEBYSCORE', KEYS[4], '(' .. since, '+inf', 'WITHSCORES', 'LIMIT', 0, cap)
local i, j = 1, 1
local first, last = nil, nil
local taken = 0
while taken < cap and (i <= #msgs or j <= #events) do
  local frame, s
  if j > #events or (i <= #msgs and tonumber(msgs[i + 1]) < tonumber(events[j + 1])) then
    frame, s = msgs[i], tonumber(msgs[i + 1])
    i = i + 2
  else
    frame, s = events[j], tonumber(events[j + 1])
    j = j + 2
  end
  if fresh(frame) then
    result[#result + 1] = frame
    if first == nil then first = s end
    last = s
    taken = taken + 1
  end
end
if first ~= since + 1 or last ~= seq then result[2] = 0 end
return result
