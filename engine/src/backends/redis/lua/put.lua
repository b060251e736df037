
local cur = redis.call('GETRANGE', KEYS[1], 0, 97)
if cur ~= '' then
  local cv, nv = string.sub(cur, 5, 24), string.sub(ARGV[2], 5, 24)
  if cv > nv or (cv == nv and string.sub(cur, 47, 66) > string.sub(ARGV[2], 47, 66)) then return 0 end
end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
if string.sub(ARGV[2], 5, 24) == '00000000004294967295' then
  redis.call('ZREM', KEYS[2], ARGV[1])
else
  redis.call('ZADD', KEYS[2], ARGV[4], ARGV[1])
end
if ARGV[5] == '1' then
  redis.call('SADD', KEYS[3], ARGV[1])
else
  redis.call('SREM', KEYS[3], ARGV[1])
end
return 1
