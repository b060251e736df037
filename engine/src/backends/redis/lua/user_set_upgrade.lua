
local moved = redis.call('SPOP', KEYS[1], ARGV[1])
for _, member in ipairs(moved) do
  redis.call('ZADD', KEYS[2], 0, member)
end
return #moved
