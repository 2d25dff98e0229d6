"""The provider's quota, shared by every worker on every host, kept in Redis.

A GCRA (generic cell rate algorithm) in one Lua script, on Redis' own clock so host clocks do
not matter. A caller *reserves* the next free slot of a lane (one API key's quota for one
operation) and sleeps until it: one Redis round trip per provider call, no polling of the
limiter and no ping-pong through the broker. If the next free slot is further away than
``max_wait_s`` nothing is reserved and the caller is told how long to wait, so a worker never
holds its slot for long.

The same round trip spreads work over a pool of API keys: given several lanes (the same
operation on different keys) the script takes the one whose next slot comes first, skipping
keys that are parked (17/19, or their daily budget spent) and lanes whose daily call budget is
used up. Every slot taken is counted in the key's calls of the day, so budgets need no extra
round trip either.

Slots are spaced ``(1 + margin) / qps`` apart: a reserved slot is exact, but the call leaves a
few milliseconds late (sleep overshoot, a busy CPU, the network) and the provider counts
arrivals in a sliding second, so ``margin`` seconds per second of slack absorb that jitter.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import redis

from pipeline import metrics
from pipeline.errors import Transient

STATS_KEY = "scangrade:limiter:stats"
"""Hash of counters: ``round_trips``, ``waited`` (slots slept for), ``refused`` (too far)."""

# KEYS: per lane (tat, parked flag, calls-of-the-day counter), then the stats hash.
# ARGV: max wait (us), lane count, then per lane (interval us, daily call limit or -1).
# Returns {granted 0/1, lane index or 0 if none is open, wait us, {lanes over budget}, now us}.
_RESERVE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local max_wait = tonumber(ARGV[1])
local lanes = tonumber(ARGV[2])
local stats = KEYS[#KEYS]
redis.call('HINCRBY', stats, 'round_trips', 1)
-- The earliest slot wins; on a tie, the lane used longest ago (so keys take turns).
local best, best_slot, best_tat, spent = 0, 0, 0, {}
for i = 1, lanes do
  local limit = tonumber(ARGV[2 + 2 * i])
  if redis.call('EXISTS', KEYS[3 * i - 1]) == 0 then
    if limit >= 0 and tonumber(redis.call('GET', KEYS[3 * i]) or '0') >= limit then
      table.insert(spent, i)
    else
      local tat = tonumber(redis.call('GET', KEYS[3 * i - 2]) or '0')
      local slot = math.max(tat, now)
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
local interval = tonumber(ARGV[1 + 2 * best])
local tat = best_slot + interval
local ttl_ms = math.ceil((tat - now) / 1000) + 1000
redis.call('SET', KEYS[3 * best - 2], string.format('%d', tat), 'PX', ttl_ms)
redis.call('INCR', KEYS[3 * best])
redis.call('EXPIRE', KEYS[3 * best], 172800)
if wait > 0 then
  redis.call('HINCRBY', stats, 'waited', 1)
end
return {1, best, wait, spent, now}
"""

_DAY_OFFSET_S = 8 * 3600
"""The provider's day (its daily limits, error 17) turns at midnight in China (UTC+8)."""


def provider_day(now: float | None = None) -> int:
    """Days since the epoch in the provider's time zone: the key of a day's call counter."""
    return int(((time.time() if now is None else now) + _DAY_OFFSET_S) // 86400)


def seconds_to_day_end(now: float | None = None) -> float:
    """Seconds until the provider's day turns (when a daily limit is lifted)."""
    now = time.time() if now is None else now
    return (provider_day(now) + 1) * 86400 - _DAY_OFFSET_S - now


def parked_key(key_id: str) -> str:
    """Redis key of an API key's parked flag (its value is the reason)."""
    return f"scangrade:key:{key_id}:parked"


def calls_key(key_id: str, day: int | None = None) -> str:
    """Redis key counting an API key's calls on one provider day."""
    return f"scangrade:key:{key_id}:calls:{provider_day() if day is None else day}"


@dataclass(frozen=True)
class Lane:
    """One API key's quota for one operation of one API."""

    key_id: str
    api: str
    op: str
    qps: float
    daily_limit: int | None = None
    """Calls of the key per day after which this lane takes no more (None: no budget)."""

    @property
    def interval_us(self) -> int:
        """Microseconds between slots; 0 when the quota is unlimited."""
        return 0 if self.qps <= 0 else round(1_000_000 / self.qps)

    @property
    def tat_key(self) -> str:
        """Redis key of the lane's theoretical arrival time (the next free slot)."""
        return f"scangrade:limiter:{self.key_id}:{self.api}:{self.op}"


@dataclass(frozen=True)
class Grant:
    """The answer to one reservation.

    ``lane`` is the lane granted, or the one that came closest when refused; None when every
    lane is closed (parked or out of budget). ``wait_s`` is the sleep before the slot, or how
    long to come back after when refused. ``spent`` lists lanes over their daily budget.
    """

    granted: bool
    lane: Lane | None
    wait_s: float
    spent: tuple[Lane, ...] = ()
    at_s: float = 0.0
    """The slot's time by Redis' clock (seconds since the epoch)."""


class Limiter:
    """Reserves slots in shared lanes through Redis."""

    def __init__(self, client: redis.Redis, *, margin: float = 0.02) -> None:
        self._client = client
        self._margin = margin
        self._script = client.register_script(_RESERVE)

    def reserve(self, lanes: Sequence[Lane], max_wait_s: float) -> Grant:
        """Reserve the earliest open slot among ``lanes`` if it comes within ``max_wait_s``."""
        day = provider_day()
        keys: list[str] = []
        args: list[int] = [round(max_wait_s * 1_000_000), len(lanes)]
        for lane in lanes:
            keys += [lane.tat_key, parked_key(lane.key_id), calls_key(lane.key_id, day)]
            interval = round(lane.interval_us * (1 + self._margin))
            args += [interval, -1 if lane.daily_limit is None else lane.daily_limit]
        try:
            answer = self._script(keys=[*keys, STATS_KEY], args=args)
            granted, index, wait_us, spent, now_us = answer
        except redis.RedisError as e:
            raise Transient(f"rate limiter unavailable: {type(e).__name__}") from e
        return Grant(
            bool(granted),
            lanes[int(index) - 1] if index else None,
            int(wait_us) / 1_000_000,
            tuple(lanes[int(i) - 1] for i in spent),
            (int(now_us) + int(wait_us)) / 1_000_000,
        )

    def acquire(self, lanes: Sequence[Lane], max_wait_s: float) -> Grant:
        """Reserve as :meth:`reserve` does, and sleep until the slot if one was granted."""
        grant = self.reserve(lanes, max_wait_s)
        metrics.limiter_answer(lanes, grant)
        if grant.granted and grant.wait_s > 0:
            time.sleep(grant.wait_s)
        return grant
