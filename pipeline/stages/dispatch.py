"""Dispatch: hand the polls that are due to the poll workers, a quota's worth at a time.

Poll times live in Postgres (``provider_tasks.next_poll_at``), not in delayed broker
messages: thousands of tasks in flight cost no worker memory, a flushed broker loses nothing,
and no countdown ever outlives the broker's visibility timeout. Celery beat runs this every
second.

Each (API, key) lane gets at most two seconds of its get_result quota in flight (leased and not
yet answered), topped up each tick, earliest due first. So the poll queue never holds more
than the workers can send before the next tick, polls receive slots in the order they fell
due across every worker, and a lease never expires while its message waits.

When an API has no page left to submit, its remaining tasks are the batch's tail: a lane's
spare get_result slots then go to *early* polls of the running tasks closest to due, once each
is old enough to be likely finished, so the last results are seen soon after they are ready.
Early polls have a budget (``pipeline.domain.polling.early_poll_room``, ``EarlyPolls``): the batches
in flight on the key spend at most ``poll_budget`` calls per task in all, and a task is polled
early at most twice before its expected finish, so a small batch, all tail, is not asked about
every second.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import redis
from sqlalchemy import Row, TextClause, text
from sqlalchemy.orm import Session

from pipeline.adapters import broker
from pipeline.adapters.db.session import session_scope
from pipeline.adapters.provider.keys import PoolKey
from pipeline.adapters.provider.limiter import parked_key
from pipeline.domain.polling import EARLY_BEFORE_EXPECTED, LaneSpend, early_poll_room, early_polls
from pipeline.settings import Settings
from pipeline.stages.observed import processing_times

HORIZON_S = 2.0
"""Seconds of a lane's get_result quota that may be in flight at once."""

_LANES = text(
    """
    SELECT api, key_id, count(*) FILTER (WHERE lease_until > now()) AS leased
    FROM provider_tasks WHERE state = 'running'
    GROUP BY api, key_id
    """
)

_LEASE = """
    UPDATE provider_tasks SET lease_until = now() + make_interval(secs => :lease)
    WHERE id IN (
        SELECT id FROM provider_tasks
        WHERE state = 'running' AND api = :api AND key_id = :key_id
          AND (lease_until IS NULL OR lease_until < now())
          AND {condition}
        ORDER BY next_poll_at
        LIMIT :limit
        FOR UPDATE SKIP LOCKED)
    RETURNING id, next_poll_at
"""
_LEASE_DUE = text(_LEASE.format(condition="next_poll_at <= now()"))
_LEASE_EARLY = text(
    _LEASE.format(
        condition="next_poll_at > now()"
        " AND submitted_at <= now() - make_interval(secs => :min_age)"
        " AND coalesce(last_pending_at, submitted_at) <= now() - make_interval(secs => :gap)"
        " AND (polls < :before OR submitted_at <= now() - make_interval(secs => :expected))"
    )
)

_SPENT = text(
    """
    SELECT count(*) AS tasks, coalesce(sum(t.polls), 0) AS gets,
           count(*) FILTER (WHERE t.state = 'running') AS running,
           count(*) FILTER (WHERE t.state = 'running' AND t.lease_until > now()) AS leased
    FROM provider_tasks t JOIN pages p ON p.id = t.page_id
    WHERE t.api = :api AND t.key_id = :key_id AND t.mode = 'async'
      AND p.batch_id IN (
        SELECT running_page.batch_id
        FROM provider_tasks running_task JOIN pages running_page
          ON running_page.id = running_task.page_id
        WHERE running_task.state = 'running'
          AND running_task.api = :api AND running_task.key_id = :key_id)
    """
)

_SUBMISSIONS_LEFT = text(
    """
    SELECT EXISTS (
        SELECT 1 FROM pages JOIN documents ON documents.id = pages.document_id
        WHERE documents.api = :api AND pages.state IN ('ready', 'submitting'))
    OR EXISTS (
        SELECT 1 FROM documents WHERE api = :api AND state IN ('pending', 'ingesting'))
    """
)


@dataclass(frozen=True)
class _Lane:
    api: str
    key_id: str
    room: int


def dispatch_due_polls(settings: Settings, pool: list[PoolKey], client: redis.Redis) -> list[int]:
    """Lease the polls each lane has room for, earliest due first, and nudge the workers.

    Polls leased before a later lane failed (Postgres refused a connection) are still
    nudged: a lease without its message would wait out ``SCANGRADE_POLL_LEASE_S``.
    """
    due: list[Row[Any]] = []
    early: list[Row[Any]] = []
    try:
        for lane in _open_lanes(settings, pool, client):
            with session_scope() as session:
                leased = _lease(session, _LEASE_DUE, lane, lane.room, settings)
                spare = lane.room - len(leased)
                if spare > 0 and settings.poll_policy != "fixed":
                    early += _lease_early(session, lane, spare, settings)
            due += leased
    finally:
        ids = [row.id for row in sorted(due, key=lambda row: row.next_poll_at)]
        ids += [row.id for row in sorted(early, key=lambda row: row.next_poll_at)]
        broker.send("poll", ids)
    return ids


def _open_lanes(settings: Settings, pool: list[PoolKey], client: redis.Redis) -> list[_Lane]:
    """Lanes with running tasks and room for more polls; parked keys are left alone."""
    keys = {key.key_id: key for key in pool}
    with session_scope() as session:
        rows = session.execute(_LANES).all()
    lanes = []
    for row in rows:
        key = keys.get(row.key_id)
        if key is None or client.exists(parked_key(row.key_id)):
            continue
        qps = key.quotas[(row.api, "get_result")]
        cap = 200 if qps <= 0 else max(1, math.ceil(qps * HORIZON_S))
        if cap > row.leased:
            lanes.append(_Lane(row.api, row.key_id, cap - row.leased))
    return lanes


def _lease(
    session: Session,
    query: TextClause,
    lane: _Lane,
    limit: int,
    settings: Settings,
    **extra: float,
) -> list[Row[Any]]:
    params = {
        "api": lane.api,
        "key_id": lane.key_id,
        "limit": limit,
        "lease": settings.poll_lease_s,
    }
    return list(session.execute(query, {**params, **extra}).all())


def _lease_early(session: Session, lane: _Lane, spare: int, settings: Settings) -> list[Row[Any]]:
    """Spare slots of an API's tail go to the running tasks closest to due, within budget."""
    if session.scalar(_SUBMISSIONS_LEFT, {"api": lane.api}):
        return []
    spent = session.execute(_SPENT, {"api": lane.api, "key_id": lane.key_id}).one()
    room = early_poll_room(settings, LaneSpend(*spent), spare)
    if room <= 0:
        return []
    rule = early_polls(settings, processing_times(lane.api, lane.key_id))
    return _lease(
        session,
        _LEASE_EARLY,
        lane,
        room,
        settings,
        min_age=rule.min_age_s,
        gap=rule.gap_s,
        expected=rule.expected_s,
        before=EARLY_BEFORE_EXPECTED,
    )
