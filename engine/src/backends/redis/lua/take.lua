
local b = redis.call('GET', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('SREM', KEYS[3], ARGV[1])
if not b then return false end
redis.call('DEL', KEYS[1])
return b
