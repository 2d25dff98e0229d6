"""The provider's quota, shared by every worker on every host, kept in Redis.

A GCRA (generic cell rate algorithm) in one Lua script, on Redis' own clock so host clocks do
not matter. A caller *reserves* the next free slot of a lane (one API key's quota for one
operation) and sleeps until it: one Redis round trip, no polling of the limiter and no
ping-pong through the broker. If the next free slot is further away than ``max_wait_s``
nothing is reserved and the caller is told how long to wait, so a worker never holds its slot
for long.

The same round trip spreads work over a pool of API keys: given several lanes (the same
operation on different keys) the script takes the one whose next slot comes first, skipping
keys that are parked (17/19, or their daily budget spent) and lanes whose daily call budget is
used up. Every slot taken is counted in the key's calls of the day, so budgets need no extra
round trip either.

Slots are spaced ``(1 + margin) / qps`` apart, but a slot is only when a call may *leave*: the
provider counts a call when it *arrives*, in a sliding second, and between the two lie a
woken-up process waiting for a CPU, the upload and the provider's own queue. On a busy host
that is tens of milliseconds, more than any margin worth paying for, and two calls a second
apart by their slots arrive less than a second apart (error 18). So each lane also keeps a
*window* (:meth:`Limiter.enter_window`, :meth:`Limiter.leave_window`): the calls of the last
second, each stamped with the latest moment the provider can have counted it, which is when its
answer came back (until then, ``HOLD_S`` after it was sent). Right before sending, a call
enters the window only if fewer than the quota's calls are stamped within the last second;
leaving stamps it. A call arrives after it entered and every earlier call before it was
stamped, so no second can ever see more calls than the quota, however late any of them
arrives. That costs two more round trips per call and, where answers are slower than the
margin, their latency in throughput. The GCRA is re-based on the calls that actually leave,
so reservations never run ahead of them.
"""

from __future__ import annotations

import contextlib
import math
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

import redis

from pipeline.errors import Transient
from pipeline.telemetry import metrics

STATS_KEY = "scangrade:limiter:stats"
"""Hash of counters: ``round_trips`` (every script run), ``waited`` (slots slept for),
``refused`` (too far), ``held`` (calls that found their window full and waited again)."""

# Lua shared by both scripts: the stamp of the call that must drop out of a lane's window
# before another call fits (calls stamped within the last ``window`` us), or nil if one fits.
_BLOCKER = """
local function blocker(key, now, window, limit)
  local stamped = redis.call('ZRANGEBYSCORE', key,
    '(' .. string.format('%d', now - window), '+inf', 'WITHSCORES')
  local n = #stamped / 2
  if n < limit then
    return nil
  end
  return tonumber(stamped[2 * (n - limit + 1)])
end
"""

# KEYS: per lane (tat, parked flag, calls-of-the-day counter, window), then the stats hash.
# ARGV: max wait (us), lane count, window (us), then per lane (interval us, daily call limit
# or -1, calls per window or 0).
# Returns {granted 0/1, lane index or 0 if none is open, wait us, {lanes over budget}, now us}.
_RESERVE = (
    _BLOCKER
    + """
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
"""
)

# KEYS: the lane's window (sorted set: call -> latest possible arrival), its tat, the stats.
# ARGV: calls allowed per window, window (us), hold (us), call id, GCRA interval (us).
# Returns {entered 0/1, wait us until the window has room, 1 if that call is still unanswered}.
_ENTER = (
    _BLOCKER
    + """
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
"""
)

# KEYS: the lane's window, the stats. ARGV: call id, window (us).
_LEAVE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
redis.call('HINCRBY', KEYS[2], 'round_trips', 1)
redis.call('ZADD', KEYS[1], string.format('%d', now), ARGV[1])
local ttl = math.ceil(tonumber(ARGV[2]) / 1000) + 1000
if redis.call('PTTL', KEYS[1]) < ttl then
  redis.call('PEXPIRE', KEYS[1], ttl)
end
return 1
"""

WINDOW_S = 1.0
"""The provider's quota window: at most ``qps`` calls arrive in any second."""
WINDOW_SLACK_S = 0.002
"""Added to the window: the provider's clock and Redis' may tick at slightly different rates."""
HOLD_S = 5.0
"""How late after entering the window an unanswered call may still arrive at the provider.

A call still unanswered after this is taken to have arrived by then (a hung call must not
close a lane for the whole HTTP timeout); its answer, whenever it comes, stamps it again.
"""
RECHECK_S = 0.05
"""How soon to look again when the window is full of calls still waiting for their answer."""

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

    @property
    def window_key(self) -> str:
        """Redis key of the lane's calls of the last second (see :meth:`Limiter.enter_window`)."""
        return f"{self.tat_key}:window"

    @property
    def per_window(self) -> int:
        """Calls the provider admits in one window (0: unlimited)."""
        return 0 if self.qps <= 0 else math.ceil(self.qps)


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
        self._enter = client.register_script(_ENTER)
        self._leave = client.register_script(_LEAVE)

    def reserve(self, lanes: Sequence[Lane], max_wait_s: float) -> Grant:
        """Reserve the earliest open slot among ``lanes`` if it comes within ``max_wait_s``."""
        day = provider_day()
        keys: list[str] = []
        args: list[int] = [round(max_wait_s * 1_000_000), len(lanes), self._window_us()]
        for lane in lanes:
            keys += [lane.tat_key, parked_key(lane.key_id), calls_key(lane.key_id, day)]
            keys.append(lane.window_key)
            budget = -1 if lane.daily_limit is None else lane.daily_limit
            args += [self._interval_us(lane), budget, lane.per_window]
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

    def enter_window(self, lane: Lane, max_wait_s: float) -> str | None:
        """Wait until a call on ``lane`` cannot make a second hold more than the quota.

        Call it right before sending (after :meth:`acquire`), and :meth:`leave_window` with
        the id it returns once the answer is in, whatever it was. None if the window stays
        full for longer than ``max_wait_s``: nothing is held then. An unlimited lane has no
        window (no round trip).
        """
        call_id = uuid.uuid4().hex
        if lane.per_window <= 0:
            return call_id
        deadline = time.monotonic() + max_wait_s
        keys = [lane.window_key, lane.tat_key, STATS_KEY]
        args: list[int | str] = [
            lane.per_window,
            self._window_us(),
            round(HOLD_S * 1e6),
            call_id,
            self._interval_us(lane),
        ]
        while True:
            try:
                answer = self._enter(keys=keys, args=args)
            except redis.RedisError as e:
                raise Transient(f"rate limiter unavailable: {type(e).__name__}") from e
            if answer[0]:
                return call_id
            wait_s = int(answer[1]) / 1e6
            if answer[2]:  # the window empties as the answers still awaited come in
                wait_s = min(wait_s, RECHECK_S)
            if time.monotonic() + wait_s > deadline:
                return None
            time.sleep(wait_s)

    def leave_window(self, lane: Lane, call_id: str) -> None:
        """Stamp a call with the moment its answer (or its failure) came back.

        Never raises: the call has been made, and an unstamped call only keeps its hold.
        """
        if lane.per_window <= 0:
            return
        with contextlib.suppress(redis.RedisError):
            self._leave(keys=[lane.window_key, STATS_KEY], args=[call_id, self._window_us()])

    def _interval_us(self, lane: Lane) -> int:
        return round(lane.interval_us * (1 + self._margin))

    @staticmethod
    def _window_us() -> int:
        return round((WINDOW_S + WINDOW_SLACK_S) * 1e6)
