
local b = redis.call('GET', KEYS[1])
if b and string.sub(b, 5, 24) == ARGV[1] and string.sub(b, 47, 66) == ARGV[2] then
  redis.call('DEL', KEYS[1])
  redis.call('ZREM', KEYS[2], ARGV[3])
  redis.call('SREM', KEYS[3], ARGV[3])
  return b
end
return false
