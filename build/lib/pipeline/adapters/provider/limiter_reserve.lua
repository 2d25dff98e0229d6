-- Reserve the earliest open slot among a call's lanes (LimiterBackend.reserve).
-- KEYS: per lane (tat, parked flag, calls-of-the-day counter, window), then the stats hash.
-- ARGV: max wait (us), lane count, window (us), then per lane (interval us, daily call limit
-- or -1, calls per window or 0).
-- Returns {granted 0/1, lane index or 0 if none is open, wait us, {lanes over budget}, now us}.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local max_wait = tonumber(ARGV[1])
local lanes = tonumber(ARGV[2])
local window = tonumber(ARGV[3])
local stats = KEYS[#KEYS]
redis.call('HINCRBY', stats, 'round_trips', 1)
-- The earliest slot wins; on a tie, the lane used longest ago (so keys take turns).
local best, best_slot, best_tat, spent = 0, 0, 0, {}
for i = 1, lanes do
  local limit = tonumber(ARGV[3 * i + 2])
  if redis.call('EXISTS', KEYS[4 * i - 2]) == 0 then
    if limit >= 0 and tonumber(redis.call('GET', KEYS[4 * i - 1]) or '0') >= limit then
      table.insert(spent, i)
    else
      local tat = tonumber(redis.call('GET', KEYS[4 * i - 3]) or '0')
      local slot = math.max(tat, now)
      -- Not before the lane's window has room, as far as its calls sent so far tell (calls
      -- still unanswered are counted as answered now): a slow answer sends pages to other keys.
      local per_window = tonumber(ARGV[3 * i + 3])
      local first_out = per_window > 0 and blocker(KEYS[4 * i], now, window, per_window)
      if first_out then
        slot = math.max(slot, math.min(first_out, now) + window)
      end
      if best == 0 or slot < best_slot or (slot == best_slot and tat < best_tat) then
        best, best_slot, best_tat = i, slot, tat
      end
    end
  end
end
if best == 0 then
  return {0, 0, 0, spent, now}
end
local wait = best_slot - now
if wait > max_wait then
  redis.call('HINCRBY', stats, 'refused', 1)
  return {0, best, wait, spent, now}
end
local interval = tonumber(ARGV[3 * best + 1])
local tat = best_slot + interval
local ttl_ms = math.ceil((tat - now) / 1000) + 1000
redis.call('SET', KEYS[4 * best - 3], string.format('%d', tat), 'PX', ttl_ms)
redis.call('INCR', KEYS[4 * best - 1])
redis.call('EXPIRE', KEYS[4 * best - 1], 172800)
if wait > 0 then
  redis.call('HINCRBY', stats, 'waited', 1)
end
return {1, best, wait, spent, now}
