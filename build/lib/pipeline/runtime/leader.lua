-- Scripts of pipeline/runtime/leader.py, one per section.

-- name: renew
-- KEYS[1] the lease; ARGV[1] the holder's token, ARGV[2] the lease's life (ms).
-- Extends the lease only if the caller still holds it: 1 if so, else 0.
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0

-- name: release
-- KEYS[1] a lease or lock; ARGV[1] the holder's token. Deletes it only if the caller holds it.
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
