"""An account-wide rate limit shared by every worker on every host, kept in Redis.

A GCRA (generic cell rate algorithm) in one Lua script, on Redis' own clock so host clocks do
not matter. A caller *reserves* the next free slot and sleeps until it: one Redis round trip
per provider call, no polling of the limiter and no ping-pong through the broker. If the next
free slot is further away than ``max_wait_s`` nothing is reserved and the caller is told how
long to wait, so that a worker never holds its slot for long.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import redis

from pipeline.errors import Transient

log = logging.getLogger(__name__)

# KEYS[1]: the limiter's key. ARGV: interval (us), longest wait to accept (us).
# Returns {reserved (1/0), wait (us)}. The key holds the theoretical arrival time (TAT).
_RESERVE = """
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) * 1000000 + tonumber(now_parts[2])
local interval = tonumber(ARGV[1])
local max_wait = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
local slot = math.max(tat, now)
local wait = slot - now
if wait > max_wait then
  return {0, wait}
end
local new_tat = slot + interval
local ttl_ms = math.ceil((new_tat - now) / 1000) + 1000
redis.call('SET', KEYS[1], string.format('%d', new_tat), 'PX', ttl_ms)
return {1, wait}
"""


@dataclass(frozen=True)
class Reservation:
    """The answer of one reservation attempt."""

    reserved: bool
    wait_s: float


class RateLimiter:
    """Slots of one (API key, api, operation) quota, shared through Redis."""

    def __init__(self, client: redis.Redis, name: str, qps: float, *, margin: float = 0.02):
        self._client = client
        self._key = f"scangrade:limiter:{name}"
        self._interval_us = 0 if qps <= 0 else round(1_000_000 * (1 + margin) / qps)
        self._script = client.register_script(_RESERVE)
        self.round_trips = 0

    def reserve(self, max_wait_s: float) -> Reservation:
        """Reserve the next slot if it comes within ``max_wait_s``."""
        if self._interval_us == 0:
            return Reservation(True, 0.0)
        self.round_trips += 1
        try:
            reserved, wait_us = self._script(
                keys=[self._key], args=[self._interval_us, round(max_wait_s * 1_000_000)]
            )
        except redis.RedisError as e:
            raise Transient(f"rate limiter unavailable: {type(e).__name__}") from e
        return Reservation(bool(reserved), int(wait_us) / 1_000_000)

    def acquire(self, max_wait_s: float = 2.0) -> float:
        """Wait for a slot; returns 0 once it is ours, or how long to come back after."""
        reservation = self.reserve(max_wait_s)
        if not reservation.reserved:
            return reservation.wait_s
        if reservation.wait_s > 0:
            time.sleep(reservation.wait_s)
        return 0.0
