-- Enter a lane's window if a call now cannot make a second hold more than the quota
-- (LimiterBackend.enter).
-- KEYS: the lane's window (sorted set: call -> latest possible arrival), its tat, the stats.
-- ARGV: calls allowed per window, window (us), hold (us), call id, GCRA interval (us).
-- Returns {entered 0/1, wait us until the window has room, 1 if that call is still unanswered}.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local limit, window, hold = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
redis.call('HINCRBY', KEYS[3], 'round_trips', 1)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', string.format('%d', now - window))
local first_out = blocker(KEYS[1], now, window, limit)
if not first_out then
  redis.call('ZADD', KEYS[1], string.format('%d', now + hold), ARGV[4])
  redis.call('PEXPIRE', KEYS[1], math.ceil((hold + window) / 1000) + 1000)
  -- The GCRA follows the calls that leave: none is reserved closer than a slot after this one.
  local interval = tonumber(ARGV[5])
  local tat = tonumber(redis.call('GET', KEYS[2]) or '0')
  if now + interval > tat then
    redis.call('SET', KEYS[2], string.format('%d', now + interval), 'PX',
      math.ceil(interval / 1000) + 1000)
  end
  return {1, 0}
end
redis.call('HINCRBY', KEYS[3], 'held', 1)
return {0, first_out + window - now, first_out > now and 1 or 0}
