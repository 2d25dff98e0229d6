-- Shared by limiter_reserve.lua and limiter_enter.lua (limiter_redis.py puts it in front of
-- each): the stamp of the call that must drop out of a lane's window before another call fits
-- (calls stamped within the last ``window`` us), or nil if one fits.
local function blocker(key, now, window, limit)
  local stamped = redis.call('ZRANGEBYSCORE', key,
    '(' .. string.format('%d', now - window), '+inf', 'WITHSCORES')
  local n = #stamped / 2
  if n < limit then
    return nil
  end
  return tonumber(stamped[2 * (n - limit + 1)])
end
