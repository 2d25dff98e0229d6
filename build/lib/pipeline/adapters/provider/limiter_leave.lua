-- Stamp a call in its lane's window with the moment its answer came back
-- (LimiterBackend.leave).
-- KEYS: the lane's window, the stats. ARGV: call id, window (us).
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
redis.call('HINCRBY', KEYS[2], 'round_trips', 1)
redis.call('ZADD', KEYS[1], string.format('%d', now), ARGV[1])
local ttl = math.ceil(tonumber(ARGV[2]) / 1000) + 1000
if redis.call('PTTL', KEYS[1]) < ttl then
  redis.call('PEXPIRE', KEYS[1], ttl)
end
return 1
