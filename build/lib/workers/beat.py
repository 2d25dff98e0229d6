"""Celery beat that sends only while it holds the deployment's lease (``pipeline.runtime.leader``).

Every ``scangrade workers`` starts one; the others stand by, asking for the lease every
second. The schedule lives in memory: a beat that takes over sends every entry at once, then
on its interval, and keeps no state file.
"""

from __future__ import annotations

from typing import Any

from celery.beat import ScheduleEntry, Scheduler

from pipeline.adapters.provider import get_redis
from pipeline.runtime.leader import LEADER_KWARG, Lease
from pipeline.settings import get_settings

RENEW_EVERY_S = 1.0
"""How often the holder renews its lease, and a standby asks for it."""


class LeaderScheduler(Scheduler):  # type: ignore[misc]
    """The schedule of ``workers.app``, sent by the lease's holder only."""

    def setup_schedule(self) -> None:
        """Load the schedule, and enter the race for the lease."""
        super().setup_schedule()
        self._lease = Lease(get_redis(), get_settings().beat_lease_s)

    def tick(self, *args: Any, **kwargs: Any) -> float:
        """Send what is due if we lead; seconds until the next look."""
        if not self._lease.hold():
            return RENEW_EVERY_S
        return min(float(super().tick(*args, **kwargs)), RENEW_EVERY_S)

    def apply_async(
        self, entry: ScheduleEntry, producer: Any = None, advance: bool = True, **kwargs: Any
    ) -> Any:
        """Send one entry, fenced with our lease token (a deposed beat's sends do nothing)."""
        entry.kwargs = {**(entry.kwargs or {}), LEADER_KWARG: self._lease.token}
        return super().apply_async(entry, producer, advance, **kwargs)

    def close(self) -> None:
        """Give the lease back on a clean stop, so a standby takes over within a second."""
        self._lease.release()
        super().close()
