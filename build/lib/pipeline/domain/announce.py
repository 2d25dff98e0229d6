"""Ask for a batch's announcement: an on-its-way marker in Redis and a nudge to the control worker.

The update that closes a batch (``progress.finish_batch_if_done``) asks once its transaction
commits; the reconciler asks again for an ended batch no receiver took yet. What the nudge
starts (the summary POSTed, ``notified_at`` recorded) is ``pipeline.domain.notify``'s, which
builds on the batch's progress: this module needs neither, so the closing update can use it.

The marker says an announcement is on its way, so the closing update and the reconciler do
not both nudge. It lives ``ON_ITS_WAY_S``: once it expires (the task gave up on a receiver that
stayed down, or its nudge was lost) a new request nudges again.
"""

from __future__ import annotations

import contextlib
import logging

import redis
from sqlalchemy import event
from sqlalchemy.orm import Session

from pipeline.adapters import broker
from pipeline.adapters.provider import get_redis

log = logging.getLogger(__name__)

ON_ITS_WAY_S = 900
"""Life of the on-its-way marker: longer than the task's retries (timeouts included)."""


def marker(batch_id: int) -> str:
    """Redis key saying the batch's announcement is on its way (or was refused)."""
    return f"scangrade:notify:{batch_id}"


def announce_after_commit(session: Session, batch_id: int) -> None:
    """Nudge the announcement of ``batch_id`` once ``session`` commits (never from inside it)."""
    event.listen(session, "after_commit", lambda _: request(batch_id), once=True)


def request(batch_id: int) -> bool:
    """Nudge the announcement unless one is on its way; never raises (the reconciler retries)."""
    try:
        if not get_redis().set(marker(batch_id), "on its way", ex=ON_ITS_WAY_S, nx=True):
            return False
    except redis.RedisError as e:
        log.warning("batch %d ended; its announcement waits for Redis (%s)", batch_id, e)
        return False
    if broker.notify(batch_id):
        return True
    forget(batch_id)
    return False


def forget(batch_id: int) -> None:
    """No announcement is on its way any more: the next request nudges."""
    with contextlib.suppress(redis.RedisError):  # it expires on its own
        get_redis().delete(marker(batch_id))


def hold(batch_id: int, seconds: float) -> None:
    """Keep requests from nudging for ``seconds`` (a receiver refused the summary)."""
    with contextlib.suppress(redis.RedisError):
        get_redis().set(marker(batch_id), "refused", ex=max(1, round(seconds)))
