
local b = redis.call('GET', KEYS[1])
if not b or string.sub(b, 68, 87) >= string.sub(b, 5, 24) then
  redis.call('SREM', KEYS[2], ARGV[1])
  return false
end
return b
