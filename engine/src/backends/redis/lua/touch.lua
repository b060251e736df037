
local b = redis.call('GETEX', KEYS[1], 'PX', ARGV[2])
if not b then return false end
if ARGV[1] > string.sub(b, 47, 66) and string.sub(b, 5, 24) ~= '00000000004294967295' then
  b = string.sub(b, 1, 46) .. ARGV[1] .. string.sub(b, 67)
  redis.call('SET', KEYS[1], b, 'KEEPTTL')
  redis.call('ZADD', KEYS[2], ARGV[4], ARGV[3])
end
return b
