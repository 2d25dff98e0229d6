"""The figures of ``scangrade status --watch``: stages, rates, ETA, failures and key headroom.

Everything comes from Postgres (and the key pool's Redis flags), read on the database's clock
so that windows agree with the rows' timestamps. A page's ``updated_at`` is when it reached
its last state, so pages ended in the last minute are counted directly. Calls per key: each
accepted create_task (or synchronous call) is a ``provider_tasks`` row with its ``key_id``
and ``submitted_at``; get_result answers only have a running count per task (``polls``), so
their rate is the difference between two snapshots, known from the second refresh on.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from datetime import datetime, timedelta

import redis
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from pipeline.adapters.db.models import Batch, Document, Page, ProviderTask
from pipeline.adapters.db.states import TERMINAL_PAGE_STATES, DocumentState, PageState
from pipeline.adapters.provider.apis import SPECS
from pipeline.adapters.provider.keys import PoolKey, key_states
from pipeline.domain.progress import BatchProgress, batch_progress
from pipeline.domain.summary import FailureCount, failures_by_code

WINDOW_S = 60.0
"""The "recent" of recent rates."""

#: Page states at or past each stage, for the stage bars (pages still to be graded).
_PAST: tuple[tuple[str, frozenset[str]], ...] = (
    (
        "submitted",
        frozenset({PageState.SUBMITTED, PageState.PERSISTING, PageState.ARCHIVING, PageState.DONE}),
    ),
    ("results received", frozenset({PageState.PERSISTING, PageState.ARCHIVING, PageState.DONE})),
    ("persisted", frozenset({PageState.ARCHIVING, PageState.DONE})),
    ("archived", frozenset({PageState.DONE})),
)


@dataclass(frozen=True)
class StageCount:
    """One progress bar: how many of ``total`` passed the stage."""

    name: str
    done: int
    total: int
    unit: str


@dataclass(frozen=True)
class Rates:
    """How fast pages end, and when the batch should."""

    ended: int
    ended_recently: int
    recent_s: float
    """The recent window: the last minute, or since the batch started if that is shorter."""
    elapsed_s: float
    remaining: int
    """Pages still to end, with an estimate for documents not yet split into pages."""

    @property
    def per_min_recent(self) -> float:
        """Pages ended per minute over the recent window."""
        return 60 * self.ended_recently / self.recent_s if self.recent_s > 0 else 0.0

    @property
    def per_min_overall(self) -> float:
        """Pages ended per minute since the batch started."""
        return 60 * self.ended / self.elapsed_s if self.elapsed_s > 0 else 0.0

    @property
    def eta_s(self) -> float | None:
        """Seconds until every page ended at the recent rate; None if nothing ended lately."""
        if self.remaining == 0:
            return 0.0
        if self.per_min_recent <= 0:
            return None
        return 60 * self.remaining / self.per_min_recent


@dataclass(frozen=True)
class LaneLoad:
    """One key's calls of one operation in the last minute, against its quota."""

    api: str
    op: str
    calls_per_min: float | None
    """None until known (get_result: from the second refresh on)."""
    quota_per_min: float | None
    """None: no quota configured."""

    @property
    def headroom_per_min(self) -> float | None:
        """Calls per minute still free, when both figures are known."""
        if self.calls_per_min is None or self.quota_per_min is None:
            return None
        return self.quota_per_min - self.calls_per_min


@dataclass(frozen=True)
class KeyLoad:
    """What one API key is doing and may still do."""

    key_id: str
    calls_today: int
    daily_budget: int | None
    parked: str | None
    parked_for_s: float | None
    lanes: tuple[LaneLoad, ...]


@dataclass(frozen=True)
class LiveStatus:
    """One refresh of the screen."""

    progress: BatchProgress
    now: datetime
    started_at: datetime
    finished_at: datetime | None
    stages: tuple[StageCount, ...]
    rates: Rates
    failures: tuple[FailureCount, ...]
    keys: tuple[KeyLoad, ...]


def db_now(session: Session) -> datetime:
    """The database's clock, which stamps the rows."""
    now: datetime | None = session.scalar(select(func.now()))
    assert now is not None
    return now


def stage_counts(progress: BatchProgress) -> list[StageCount]:
    """Documents split into pages, then pages past each stage, then pages ended.

    The page stages count pages still to be graded (not failed, not skipped as blank): the
    failures are listed apart. The last bar counts every page.
    """
    total_docs = sum(progress.documents.values())
    gradeable = progress.total_pages - sum(
        progress.pages.get(state, 0) for state in (PageState.FAILED, PageState.SKIPPED)
    )
    bars = [StageCount("ingested", total_docs - progress.ingesting, total_docs, "documents")]
    for name, states in _PAST:
        passed = sum(progress.pages.get(state, 0) for state in states)
        bars.append(StageCount(name, passed, gradeable, "pages"))
    bars.append(StageCount("done", progress.ended_pages, progress.total_pages, "pages"))
    return bars


def batch_rates(
    session: Session, progress: BatchProgress, now: datetime, window_s: float = WINDOW_S
) -> Rates:
    """Pages ended lately and since the start, and what remains (see :class:`Rates`)."""
    batch = session.get_one(Batch, progress.batch_id)
    end = batch.finished_at if batch.finished_at is not None else now
    elapsed = max(0.0, (end - batch.created_at).total_seconds())
    since = now - timedelta(seconds=window_s)
    recently = session.scalar(
        select(func.count()).where(
            Page.batch_id == progress.batch_id,
            Page.state.in_(TERMINAL_PAGE_STATES),
            Page.updated_at > since,
        )
    )
    split = progress.documents.get(DocumentState.INGESTED, 0)
    pages_per_doc = progress.total_pages / split if split else 1.0
    remaining = progress.total_pages - progress.ended_pages
    remaining += round(progress.ingesting * max(pages_per_doc, 1.0))
    return Rates(
        ended=progress.ended_pages,
        ended_recently=int(recently or 0),
        recent_s=min(window_s, elapsed),
        elapsed_s=elapsed,
        remaining=remaining,
    )


def creates_per_key(session: Session, since: datetime) -> dict[tuple[str, str], int]:
    """Accepted create_task (and synchronous) calls since ``since``, by (key id, API)."""
    rows = session.execute(
        select(ProviderTask.key_id, ProviderTask.api, func.count())
        .where(ProviderTask.submitted_at > since)
        .group_by(ProviderTask.key_id, ProviderTask.api)
    ).all()
    return {(key_id, api): int(n) for key_id, api, n in rows}


def polls_per_key(session: Session, floor: datetime) -> dict[tuple[str, str], int]:
    """get_result answers so far of tasks submitted after ``floor``, by (key id, API).

    A fixed ``floor`` older than any task still polled makes the sums grow only by new
    answers, so the difference between two readings is the calls made in between.
    """
    rows = session.execute(
        select(
            ProviderTask.key_id, ProviderTask.api, func.coalesce(func.sum(ProviderTask.polls), 0)
        )
        .where(ProviderTask.submitted_at > floor, ProviderTask.mode == "async")
        .group_by(ProviderTask.key_id, ProviderTask.api)
    ).all()
    return {(key_id, api): int(n) for key_id, api, n in rows}


def batch_apis(session: Session, batch_id: int) -> list[str]:
    """The APIs the batch's documents go to."""
    apis = session.scalars(select(Document.api).where(Document.batch_id == batch_id).distinct())
    return sorted(set(apis))


class StatusWatch:
    """Successive :class:`LiveStatus` of one batch; keeps what get_result rates need.

    ``poll_floor_s``: how far back tasks may still be polled (``SCANGRADE_POLL_GIVE_UP_S``).
    """

    def __init__(
        self,
        batch_id: int,
        pool: list[PoolKey],
        redis_client: redis.Redis | None,
        *,
        poll_floor_s: float,
        window_s: float = WINDOW_S,
    ) -> None:
        self.batch_id = batch_id
        self._pool = pool
        self._redis = redis_client
        self._floor_s = poll_floor_s
        self._window_s = window_s
        self._floor: datetime | None = None
        self._polls: deque[tuple[datetime, dict[tuple[str, str], int]]] = deque()

    def refresh(self, session: Session) -> LiveStatus:
        """Read the batch, its rates and the keys' load now."""
        now = db_now(session)
        progress = batch_progress(session, self.batch_id)
        batch = session.get_one(Batch, self.batch_id)
        return LiveStatus(
            progress=progress,
            now=now,
            started_at=batch.created_at,
            finished_at=batch.finished_at,
            stages=tuple(stage_counts(progress)),
            rates=batch_rates(session, progress, now, self._window_s),
            failures=tuple(failures_by_code(session, self.batch_id)),
            keys=tuple(self._keys(session, now)),
        )

    def _keys(self, session: Session, now: datetime) -> list[KeyLoad]:
        if not self._pool:
            return []
        per_min = 60.0 / self._window_s
        creates = creates_per_key(session, now - timedelta(seconds=self._window_s))
        gets = self._get_rates(session, now)
        ours = {key.key_id for key in self._pool}
        used = set(batch_apis(session, self.batch_id))
        used |= {api for key_id, api in creates if key_id in ours}
        specs = [spec for name, spec in SPECS.items() if name in used]
        states = {s.key_id: s for s in key_states(self._redis, self._pool)} if self._redis else {}
        loads = []
        for key in self._pool:
            lanes = []
            for spec in specs:
                created = creates.get((key.key_id, spec.name), 0) * per_min
                lanes.append(_lane(key, spec.name, spec.submit_op, created))
                if spec.asynchronous:
                    got = None if gets is None else gets.get((key.key_id, spec.name), 0.0)
                    lanes.append(_lane(key, spec.name, "get_result", got))
            state = states.get(key.key_id)
            loads.append(
                KeyLoad(
                    key.key_id,
                    state.calls_today if state else 0,
                    key.daily_budget,
                    state.parked if state else None,
                    state.parked_for_s if state else None,
                    tuple(lanes),
                )
            )
        return loads

    def _get_rates(self, session: Session, now: datetime) -> dict[tuple[str, str], float] | None:
        """get_result calls per minute by (key, API) since the reading a window ago.

        None on the first reading: a rate needs two.
        """
        if self._floor is None:
            self._floor = now - timedelta(seconds=self._floor_s)
        current = polls_per_key(session, self._floor)
        self._polls.append((now, current))
        window_start = now - timedelta(seconds=self._window_s)
        while len(self._polls) > 1 and self._polls[1][0] <= window_start:
            self._polls.popleft()
        then, before = self._polls[0]
        span = (now - then).total_seconds()
        if span <= 0:
            return None
        return {lane: 60 * (n - before.get(lane, 0)) / span for lane, n in current.items()}


def _lane(key: PoolKey, api: str, op: str, calls_per_min: float | None) -> LaneLoad:
    qps = key.quotas.get((api, op), 0.0)
    return LaneLoad(api, op, calls_per_min, qps * 60 if qps > 0 else None)
