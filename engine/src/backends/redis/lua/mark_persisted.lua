
local b = redis.call('GET', KEYS[1])
if not b then
  redis.call('SREM', KEYS[2], ARGV[2])
  return 0
end
local p = string.sub(b, 68, 87)
if ARGV[1] > p then
  p = ARGV[1]
  redis.call('SET', KEYS[1], string.sub(b, 1, 67) .. p .. string.sub(b, 88), 'KEEPTTL')
end
if p >= string.sub(b, 5, 24) then redis.call('SREM', KEYS[2], ARGV[2]) end
return 1
