-- JSON helpers for rewriting a stored message. Strings are escaped exactly as JavaScript's
-- JSON.stringify does (", \, and control characters below U+0020; everything else as is), so
-- a frame rewritten here is byte-identical to one the push server built.
local JSON_ESCAPES = { ['"'] = '\\"', ['\\'] = '\\\\', ['\b'] = '\\b', ['\f'] = '\\f', ['\n'] = '\\n', ['\r'] = '\\r', ['\t'] = '\\t' }
local function jsonString(s)
  return '"' .. string.gsub(s, '[%z\1-\31"\\]', function(c)
    return JSON_ESCAPES[c] or string.format('\\u%04x', string.byte(c))
  end) .. '"'
end

-- A message frame in its current state, fields in a fixed order:
-- type, seq, timestamp, channel, id, author, text, edited, deleted, reactions (emoji and names sorted).
local function messageJson(m)
  local out = {
    '{"type":"message","seq":', string.format('%d', m.seq), ',"timestamp":', string.format('%d', m.timestamp),
    ',"channel":', jsonString(m.channel), ',"id":', jsonString(m.id), ',"author":', jsonString(m.author),
    ',"text":', jsonString(m.text),
  }
  if m.edited then out[#out + 1] = ',"edited":' .. string.format('%d', m.edited) end
  if m.deleted then out[#out + 1] = ',"deleted":true' end
  if m.reactions then
    local emojis = {}
    for emoji, names in pairs(m.reactions) do
      if #names > 0 then emojis[#emojis + 1] = emoji end
    end
    if #emojis > 0 then
      table.sort(emojis)
      local parts = {}
      for _, emoji in ipairs(emojis) do
        local names = m.reactions[emoji]
        table.sort(names)
        local quoted = {}
        for i, n in ipairs(names) do quoted[i] = jsonString(n) end
        parts[#parts + 1] = jsonString(emoji) .. ':[' .. table.concat(quoted, ',') .. ']'
      end
      out[#out + 1] = ',"reactions":{' .. table.concat(parts, ',') .. '}'
    end
  end
  out[#out + 1] = '}'
  return table.concat(out)
end
