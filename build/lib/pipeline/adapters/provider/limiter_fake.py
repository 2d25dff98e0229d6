"""The limiter's lanes in memory: the Lua scripts' semantics in Python, for tests.

:class:`FakeBackend` answers as ``limiter_*.lua`` do on Redis (same slots, same spreading over
keys, same windows, same counters in ``stats``), one lock standing in for a script's
atomicity, so a :class:`~pipeline.adapters.provider.limiter.Limiter` over it can be tested
without a server, across threads or on a :class:`FakeClock` where time passes only when the
limiter sleeps. Parking and daily calls, which ``keys.py`` keeps in Redis, are its own
attributes here. Keys that expire in Redis expire here too when their expiry changes an
answer (a lane's booked slot: it breaks ties between keys).
"""

from __future__ import annotations

import math
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence

from pipeline.adapters.provider.limiter import Entry, Lane, Reservation, provider_day


class FakeClock:
    """Time for tests that passes only when someone sleeps (starts on a fixed date)."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.now = start
        self.slept: list[float] = []

    def time(self) -> float:
        """Seconds since the epoch, as ``time.time``."""
        return self.now

    def monotonic(self) -> float:
        """The same clock, as ``time.monotonic`` (it never goes back)."""
        return self.now

    def sleep(self, seconds: float) -> None:
        """Let ``seconds`` pass at once, and note them."""
        self.slept.append(seconds)
        self.now += max(0.0, seconds)

    def advance(self, seconds: float) -> None:
        """Let time pass without anyone sleeping (another caller's work, an answer's latency)."""
        self.now += seconds


class FakeBackend:
    """:class:`~pipeline.adapters.provider.limiter.LimiterBackend` in this process's memory."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._tats: dict[str, tuple[int, int]] = {}  # lane -> (slot us, expires at us)
        self._windows: dict[str, dict[str, int]] = {}  # lane -> call id -> stamp us
        self._calls: Counter[tuple[str, int]] = Counter()  # (key id, provider day) -> calls
        self._parked: dict[str, float | None] = {}  # key id -> until (None: until unparked)
        self.stats: Counter[str] = Counter()
        """``round_trips``, ``waited``, ``refused``, ``held``: as in Redis' ``STATS_KEY``."""

    def park(self, key_id: str, seconds: float | None = None) -> None:
        """Park a key (as ``keys.park``): no slot for ``seconds``, or until unparked."""
        with self._lock:
            self._parked[key_id] = None if seconds is None else self._clock() + seconds

    def unpark(self, key_id: str) -> None:
        """Let a parked key take calls again."""
        with self._lock:
            self._parked.pop(key_id, None)

    def calls_today(self, key_id: str) -> int:
        """The key's slots taken on the provider's current day."""
        with self._lock:
            return self._calls[(key_id, provider_day(self._clock()))]

    def window(self, lane: Lane) -> dict[str, float]:
        """The lane's window as it stands: call id -> stamp (seconds), stale ones included."""
        with self._lock:
            return {call: us / 1e6 for call, us in self._windows.get(lane.window_key, {}).items()}

    def reserve(
        self,
        lanes: Sequence[Lane],
        intervals_us: Sequence[int],
        max_wait_us: int,
        window_us: int,
    ) -> Reservation:
        """What ``limiter_reserve.lua`` answers."""
        with self._lock:
            now = self._now_us()
            self.stats["round_trips"] += 1
            day = provider_day(now / 1e6)
            best: int | None = None
            best_slot = best_tat = 0
            spent: list[int] = []
            for i, lane in enumerate(lanes):
                if self._is_parked(lane.key_id):
                    continue
                limit = lane.daily_limit
                if limit is not None and limit >= 0 and self._calls[(lane.key_id, day)] >= limit:
                    spent.append(i)
                    continue
                tat = self._tat(lane, now)
                slot = max(tat, now)
                first_out = self._blocker(lane, now, window_us) if lane.per_window > 0 else None
                if first_out is not None:
                    slot = max(slot, min(first_out, now) + window_us)
                if best is None or slot < best_slot or (slot == best_slot and tat < best_tat):
                    best, best_slot, best_tat = i, slot, tat
            if best is None:
                return Reservation(False, None, 0, tuple(spent), now)
            wait = best_slot - now
            if wait > max_wait_us:
                self.stats["refused"] += 1
                return Reservation(False, best, wait, tuple(spent), now)
            tat = best_slot + intervals_us[best]
            self._set_tat(lanes[best], tat, now, math.ceil((tat - now) / 1000) + 1000)
            self._calls[(lanes[best].key_id, day)] += 1
            if wait > 0:
                self.stats["waited"] += 1
            return Reservation(True, best, wait, tuple(spent), now)

    def enter(
        self, lane: Lane, call_id: str, interval_us: int, window_us: int, hold_us: int
    ) -> Entry:
        """What ``limiter_enter.lua`` answers."""
        with self._lock:
            now = self._now_us()
            self.stats["round_trips"] += 1
            window = self._windows.setdefault(lane.window_key, {})
            for call, stamp in list(window.items()):
                if stamp <= now - window_us:
                    del window[call]
            first_out = self._blocker(lane, now, window_us)
            if first_out is None:
                window[call_id] = now + hold_us
                if now + interval_us > self._tat(lane, now):
                    self._set_tat(
                        lane, now + interval_us, now, math.ceil(interval_us / 1000) + 1000
                    )
                return Entry(True)
            self.stats["held"] += 1
            return Entry(False, first_out + window_us - now, first_out > now)

    def leave(self, lane: Lane, call_id: str, window_us: int) -> None:
        """What ``limiter_leave.lua`` does."""
        with self._lock:
            now = self._now_us()
            self.stats["round_trips"] += 1
            self._windows.setdefault(lane.window_key, {})[call_id] = now

    def _now_us(self) -> int:
        return round(self._clock() * 1_000_000)

    def _is_parked(self, key_id: str) -> bool:
        if key_id not in self._parked:
            return False
        until = self._parked[key_id]
        return until is None or self._clock() < until

    def _tat(self, lane: Lane, now: int) -> int:
        tat, expires = self._tats.get(lane.tat_key, (0, 0))
        return tat if now < expires else 0

    def _set_tat(self, lane: Lane, tat: int, now: int, ttl_ms: int) -> None:
        self._tats[lane.tat_key] = (tat, now + ttl_ms * 1000)

    def _blocker(self, lane: Lane, now: int, window_us: int) -> int | None:
        """The stamp that must drop out of the window before another call fits, or None."""
        window = self._windows.get(lane.window_key, {})
        stamped = sorted(s for s in window.values() if s > now - window_us)
        if lane.per_window <= 0 or len(stamped) < lane.per_window:
            return None
        return stamped[len(stamped) - lane.per_window]
