"""Per-key QPS limits, enforced like the provider's error 18.

The window is a strict sliding second: a call is refused when the key already had ``quota``
accepted calls of the same (api, op) in the last 1.000 s. Refused calls do not count, so a
client that hammers the endpoint is not punished beyond its own wasted calls; a client that
paces itself at exactly the quota never sees an 18.
"""

from __future__ import annotations

from collections import deque

WINDOW_S = 1.0


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
