
local b = redis.call('GET', KEYS[1])
if not b then return {0} end
local v = string.sub(b, 5, 24)
if v ~= ARGV[2] then return {1, v} end
local a = string.sub(b, 47, 66)
if ARGV[4] > a then a = ARGV[4] end
-- hc2 keeps its activity (an update counts no request); an hc1 record stays hc1.
local header = 98
if string.sub(b, 1, 4) == 'hc2|' then header = 182 end
local user_end = header + tonumber(string.sub(b, 95, 97))
b = string.sub(b, 1, 4) .. ARGV[3] .. string.sub(b, 25, 46) .. a .. string.sub(b, 67, user_end) .. ARGV[1]
redis.call('SET', KEYS[1], b, 'PX', ARGV[5])
redis.call('ZADD', KEYS[2], tonumber(a), ARGV[6])
redis.call('SADD', KEYS[3], ARGV[6])
return {2, b}
