"""The limiter's lanes in the Redis every worker shares: each operation one Lua script.

The scripts are ``limiter_reserve.lua``, ``limiter_enter.lua`` and ``limiter_leave.lua``
beside this module (shipped as package data), read once per process and registered once per
client: redis-py sends each by its SHA and loads it again only if Redis forgot it. They run on
Redis' ``TIME``, so host clocks do not matter, and each is atomic, so any number of processes
on any number of hosts share a lane. The keys they touch are named in ``limiter.py``
(``keys.py`` parks keys by the same names).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from importlib import resources

import redis

from pipeline.adapters.provider.limiter import (
    STATS_KEY,
    Entry,
    Lane,
    Reservation,
    calls_key,
    parked_key,
    provider_day,
)
from pipeline.errors import Transient

_PRELUDES = {"reserve": ("blocker",), "enter": ("blocker",), "leave": ()}
"""The shared Lua functions each script needs in front of it (Lua scripts cannot import)."""


@functools.cache
def script_source(name: str) -> str:
    """The Lua of one limiter script (``reserve``, ``enter``, ``leave``), helpers included."""
    package = resources.files("pipeline.adapters.provider")
    parts = (*_PRELUDES[name], name)
    return "".join((package / f"limiter_{part}.lua").read_text(encoding="utf-8") for part in parts)


class RedisBackend:
    """:class:`~pipeline.adapters.provider.limiter.LimiterBackend` on a Redis server."""

    def __init__(self, client: redis.Redis) -> None:
        self._reserve = client.register_script(script_source("reserve"))
        self._enter = client.register_script(script_source("enter"))
        self._leave = client.register_script(script_source("leave"))

    def reserve(
        self,
        lanes: Sequence[Lane],
        intervals_us: Sequence[int],
        max_wait_us: int,
        window_us: int,
    ) -> Reservation:
        """Run ``limiter_reserve.lua`` over the lanes' keys."""
        day = provider_day()
        keys: list[str] = []
        args: list[int] = [max_wait_us, len(lanes), window_us]
        for lane, interval_us in zip(lanes, intervals_us, strict=True):
            keys += [lane.tat_key, parked_key(lane.key_id), calls_key(lane.key_id, day)]
            keys.append(lane.window_key)
            budget = -1 if lane.daily_limit is None else lane.daily_limit
            args += [interval_us, budget, lane.per_window]
        try:
            granted, index, wait_us, spent, now_us = self._reserve(
                keys=[*keys, STATS_KEY], args=args
            )
        except redis.RedisError as e:
            raise _unavailable(e) from e
        return Reservation(
            bool(granted),
            int(index) - 1 if index else None,
            int(wait_us),
            tuple(int(i) - 1 for i in spent),
            int(now_us),
        )

    def enter(
        self, lane: Lane, call_id: str, interval_us: int, window_us: int, hold_us: int
    ) -> Entry:
        """Run ``limiter_enter.lua`` on the lane's window."""
        keys = [lane.window_key, lane.tat_key, STATS_KEY]
        args: list[int | str] = [lane.per_window, window_us, hold_us, call_id, interval_us]
        try:
            answer = self._enter(keys=keys, args=args)
        except redis.RedisError as e:
            raise _unavailable(e) from e
        if answer[0]:
            return Entry(True)
        return Entry(False, int(answer[1]), bool(answer[2]))

    def leave(self, lane: Lane, call_id: str, window_us: int) -> None:
        """Run ``limiter_leave.lua`` on the lane's window."""
        try:
            self._leave(keys=[lane.window_key, STATS_KEY], args=[call_id, window_us])
        except redis.RedisError as e:
            raise _unavailable(e) from e


def _unavailable(e: redis.RedisError) -> Transient:
    return Transient(f"rate limiter unavailable: {type(e).__name__}")
