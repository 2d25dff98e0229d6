"""Per-key QPS limits (the provider's error 18) and call allowances (errors 17 and 19).

The window is a strict sliding second: a call is refused when the key already had ``quota``
accepted calls of the same (api, op) in the last 1.000 s. Refused calls do not count, so a
client that hammers the endpoint is not punished beyond its own wasted calls; a client that
paces itself at exactly the quota never sees an 18.

The allowances count a key's admitted calls of every API and operation together, per provider
day and in all; here too refused calls do not count, so a key that ran dry today is whole again
tomorrow however often a client tried it in between.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping

WINDOW_S = 1.0

# The provider's day starts at 00:00 Beijing time (UTC+8, no daylight saving).
PROVIDER_UTC_OFFSET_S = 8 * 3600
DAY_S = 86400


class QpsLimiter:
    """Sliding one-second windows per (api key, api, op)."""

    def __init__(self) -> None:
        self._windows: dict[tuple[str, str, str], deque[float]] = {}

    def try_acquire(self, api_key: str, api: str, op: str, quota: float, now: float) -> bool:
        """Record an accepted call and return True, or return False if over quota.

        ``now`` is a monotonic clock reading; a quota of 0 (or less) means unlimited.
        """
        if quota <= 0:
            return True
        window = self._windows.setdefault((api_key, api, op), deque())
        while window and window[0] <= now - WINDOW_S:
            window.popleft()
        if len(window) >= quota:
            return False
        window.append(now)
        return True

    def reset(self) -> None:
        """Forget every window (used by ``POST /_sim/reset``)."""
        self._windows.clear()


def provider_day(epoch: float) -> int:
    """The number of the provider's day that ``epoch`` (``time.time()``) falls in."""
    return int((epoch + PROVIDER_UTC_OFFSET_S) // DAY_S)


class KeyCallCounter:
    """Admitted calls per API key, per provider day and in total.

    Every key is counted, limited or not, so a limit set at run time applies to the calls the
    key already made, as a provider-side allowance would.
    """

    def __init__(self) -> None:
        self._daily: dict[tuple[str, int], int] = {}
        self._total: dict[str, int] = {}
        self._day: int | None = None

    def refusal(self, api_key: str, limits: Mapping[str, int], now: float) -> int | None:
        """19 if the key used up its total, else 17 if it used up today's calls, else None.

        The total is checked first: it does not come back tomorrow, so a client told 17 would
        only wait for a day to be told 19. ``now`` is epoch time.
        """
        total = limits.get("total")
        if total is not None and self._total.get(api_key, 0) >= total:
            return 19
        daily = limits.get("daily")
        if daily is not None and self._daily.get((api_key, provider_day(now)), 0) >= daily:
            return 17
        return None

    def count(self, api_key: str, now: float) -> None:
        """Count one admitted call of ``api_key`` at epoch time ``now``."""
        day = provider_day(now)
        if day != self._day:
            # Earlier days can no longer refuse anything; keep the dict from growing forever.
            self._daily = {entry: n for entry, n in self._daily.items() if entry[1] >= day}
            self._day = day
        self._daily[(api_key, day)] = self._daily.get((api_key, day), 0) + 1
        self._total[api_key] = self._total.get(api_key, 0) + 1

    def reset(self) -> None:
        """Forget every count (used by ``POST /_sim/reset``)."""
        self._daily.clear()
        self._total.clear()
        self._day = None
