
local b = redis.call('GET', KEYS[1])
if not b then
  redis.call('ZREM', KEYS[2], ARGV[1])
  redis.call('SREM', KEYS[3], ARGV[1])
  return {0}
end
local a = string.sub(b, 47, 66)
if a > ARGV[2] then
  redis.call('ZADD', KEYS[2], tonumber(a), ARGV[1])
  return {1}
end
return {2, b}
