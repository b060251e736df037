
local b = redis.call('GETEX', KEYS[1], 'PX', ARGV[2])
if not b or string.sub(b, 5, 24) == '00000000004294967295' then return b end
local changed = false
if ARGV[1] > string.sub(b, 47, 66) then
  b = string.sub(b, 1, 46) .. ARGV[1] .. string.sub(b, 67)
  redis.call('ZADD', KEYS[2], ARGV[4], ARGV[3])
  changed = true
end
local pr = tonumber(ARGV[7])
if ARGV[6] == '1' or pr > 0 then
  local now, visit_gap = tonumber(ARGV[4]), tonumber(ARGV[5])
  -- The record's activity (an hc1 record has none: zero), plus the light touches this process
  -- counted since its last full touch (ARGV[7..10]), plus this request when ARGV[6] is '1', by
  -- the rule of Activity::record. Doubles: exact to 2^53.
  local r, v, t, l, rest = 0, 0, 0, 0, 99
  if string.sub(b, 1, 4) == 'hc2|' then
    r, v = tonumber(string.sub(b, 99, 118)), tonumber(string.sub(b, 120, 139))
    t, l = tonumber(string.sub(b, 141, 160)), tonumber(string.sub(b, 162, 181))
    rest = 183
  end
  r, v, t = r + pr, v + tonumber(ARGV[8]), t + tonumber(ARGV[9])
  if tonumber(ARGV[10]) > l then l = tonumber(ARGV[10]) end
  if ARGV[6] == '1' then
    if r == 0 then
      r, v, t, l = 1, 1, 0, now
    else
      local gap = now - l
      if gap < 0 then gap = 0 end
      if gap > visit_gap then v = v + 1 else t = t + gap end
      r = r + 1
      if now > l then l = now end
    end
  end
  local activity = string.format('%020.0f|%020.0f|%020.0f|%020.0f|', r, v, t, l)
  b = 'hc2|' .. string.sub(b, 5, 98) .. activity .. string.sub(b, rest)
  changed = true
end
if changed then redis.call('SET', KEYS[1], b, 'KEEPTTL') end
return b
