
local b = redis.call('GET', KEYS[1])
if not b or string.sub(b, 5, 24) == '00000000004294967295' then return 0 end
-- Adds the requests a process counted in light touches (ARGV: requests, visits, think ms, last
-- request) to the record's activity; an hc1 record (none counted) becomes hc2.
local r, v, t, l, rest = 0, 0, 0, 0, 99
local hc2 = string.sub(b, 1, 4) == 'hc2|'
if hc2 then
  r, v = tonumber(string.sub(b, 99, 118)), tonumber(string.sub(b, 120, 139))
  t, l = tonumber(string.sub(b, 141, 160)), tonumber(string.sub(b, 162, 181))
  rest = 183
end
r, v, t = r + tonumber(ARGV[1]), v + tonumber(ARGV[2]), t + tonumber(ARGV[3])
if tonumber(ARGV[4]) > l then l = tonumber(ARGV[4]) end
local activity = string.format('%020.0f|%020.0f|%020.0f|%020.0f|', r, v, t, l)
if hc2 then
  -- Only the 84 bytes of the four numbers change: overwrite them in place (the TTL stays).
  redis.call('SETRANGE', KEYS[1], 98, activity)
else
  redis.call('SET', KEYS[1], 'hc2|' .. string.sub(b, 5, 98) .. activity .. string.sub(b, rest), 'KEEPTTL')
end
return 1
