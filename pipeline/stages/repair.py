"""Repair: what the reconciler puts right of the findings of :mod:`pipeline.stages.check`.

Only what is safe without a person: a page sent again when no task of it is recorded
(counted in ``pages.ambiguous_submits``: the provider may have billed the lost task), a page
following its task (finished: persisted; failed: failed with the task's error), result rows
written again from the archived raw answer, a document ingested again when it has no pages,
a batch closed once nothing is left. Everything else is only reported.

A finding is repaired once it is older than ``SCANGRADE_STALE_AFTER_S``, and each repair is
a compare-and-set on the state the finding saw, so two reconcilers never repair one row
twice; one repairs at a time (an advisory lock). Each repair is counted on
``scangrade_repairs_total{kind}`` and in ``repairs`` (``scangrade status``).

A pass checks only the rows whose age crossed ``SCANGRADE_STALE_AFTER_S`` since about the
pass before (:func:`window`): what a pass costs follows the pipeline's pace, not the size of
its tables. Once every ``SCANGRADE_FULL_CHECK_EVERY_S`` (deployment-wide, a key in Redis) a
pass checks every row instead, for what the windows cannot see: a row edited by hand without
touching its ``updated_at``, or one that aged past its window while no reconciler ran.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import redis
from sqlalchemy import func, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from pipeline.adapters import broker
from pipeline.adapters.db.models import Batch, Page, ProviderTask, Repair
from pipeline.adapters.db.session import session_scope
from pipeline.adapters.db.states import BatchState, PageState
from pipeline.adapters.db.transitions import move
from pipeline.adapters.objectstore import get_store
from pipeline.adapters.provider import get_redis
from pipeline.domain.progress import finish_batch_if_done, reopen_batch
from pipeline.settings import Settings
from pipeline.stages.check import Finding, Window, check
from pipeline.stages.replay import replay_task
from pipeline.telemetry import metrics

log = logging.getLogger(__name__)

#: pg advisory lock key of the repair pass ("scgr" in ASCII).
REPAIR_LOCK = 0x73636772

_RESUBMIT = text(
    """
    UPDATE pages SET state = 'ready', updated_at = now(), retries = 0,
                     ambiguous_submits = ambiguous_submits + 1
    WHERE id = :row_id AND state = 'submitted' AND image_key IS NOT NULL
      AND NOT EXISTS (SELECT 1 FROM provider_tasks t WHERE t.page_id = pages.id)
    RETURNING id
    """
)
_REINGEST = text(
    """
    UPDATE documents SET state = 'pending', updated_at = now()
    WHERE id = :row_id AND state = 'ingested'
      AND NOT EXISTS (SELECT 1 FROM pages p WHERE p.document_id = documents.id)
    RETURNING id
    """
)


#: The window's width beyond two passes: a row's change commits a moment after its
#: ``updated_at`` (a transaction's start), and a pass may run late.
WINDOW_SLACK_S = 60.0
FULL_CHECK_KEY = "scangrade:reconcile:full-check"


def window(settings: Settings, now: datetime) -> Window:
    """The rows a pass checks: those that became old enough to repair since about the last."""
    until = now - timedelta(seconds=settings.stale_after_s)
    width = 2 * settings.reconcile_every_s + WINDOW_SLACK_S
    return Window(until - timedelta(seconds=width), until)


def _full_check_due(settings: Settings) -> bool:
    """Whether this pass checks every row: the first pass of each full-check period."""
    try:
        ttl_ms = max(1, int(settings.full_check_every_s * 1000))
        return bool(get_redis().set(FULL_CHECK_KEY, "1", nx=True, px=ttl_ms))
    except redis.RedisError:
        return False  # the window still covers this pass; a later one checks everything


def repair(settings: Settings) -> dict[str, int]:
    """Check the pass's window (or every row) and repair what is safe; rows each repair touched.

    Nothing when another reconciler is repairing at the moment.
    """
    with session_scope() as guard:
        if not guard.scalar(text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": REPAIR_LOCK}):
            return {}
        now = datetime.now(UTC)
        scope = None if _full_check_due(settings) else window(settings, now)
        with session_scope() as session:
            findings = check(session, settings, window=scope)
        horizon = now - timedelta(seconds=settings.stale_after_s)
        done: Counter[tuple[int, str]] = Counter()
        for finding in findings:
            if finding.fix is None or finding.since >= horizon:
                continue
            try:
                repaired = REPAIRS[finding.fix](finding)
            except Exception:
                log.exception(
                    "could not repair %s %d (%s)", finding.table, finding.row_id, finding.kind
                )
                continue
            if repaired:
                log.warning(
                    "repaired %s %d: %s (%s)",
                    finding.table,
                    finding.row_id,
                    finding.why,
                    finding.fix,
                )
                done[(finding.batch_id, finding.fix)] += 1
    record_repairs(done)
    counts: Counter[str] = Counter()
    for (_, kind), n in done.items():
        counts[kind] += n
    return {f"repair_{kind}": counts[kind] for kind in sorted(set(REPAIRS))}


def _resubmit(finding: Finding) -> bool:
    with session_scope() as session:
        moved = session.scalar(_RESUBMIT, {"row_id": finding.row_id}) is not None
    if moved:
        broker.send("submit", [finding.row_id])
    return moved


def _persist(finding: Finding) -> bool:
    with session_scope() as session:
        moved = move(session, Page, finding.row_id, PageState.SUBMITTED, PageState.PERSISTING)
    if moved and finding.task_row_id is not None:
        broker.send("persist", [finding.task_row_id])
    return moved


def _fail_page(finding: Finding) -> bool:
    with session_scope() as session:
        assert finding.task_row_id is not None
        task = session.get_one(ProviderTask, finding.task_row_id)
        moved = move(
            session,
            Page,
            finding.row_id,
            PageState.SUBMITTED,
            PageState.FAILED,
            error=task.error or "its provider task failed",
            error_code=task.error_code or "provider_failed",
        )
        if moved:
            finish_batch_if_done(session, finding.batch_id)
    return moved


def _repersist(finding: Finding) -> bool:
    with session_scope() as session:
        task = session.get_one(ProviderTask, finding.row_id)
        api, raw_key = task.api, task.raw_key
    assert raw_key is not None
    replay_task(finding.row_id, api, raw_key, get_store())
    return True


def _reingest(finding: Finding) -> bool:
    with session_scope() as session:
        moved = session.scalar(_REINGEST, {"row_id": finding.row_id}) is not None
        if moved and session.get_one(Batch, finding.batch_id).state == BatchState.DONE:
            reopen_batch(session, finding.batch_id)
    if moved:
        broker.send("ingest", [finding.row_id])
    return moved


def _close(finding: Finding) -> bool:
    state = select(Batch.state).where(Batch.id == finding.batch_id)
    with session_scope() as session:
        if session.scalar(state.with_for_update()) != BatchState.RUNNING:
            return False
        finish_batch_if_done(session, finding.batch_id)
        return session.scalar(state) == BatchState.DONE


#: The reconciler's repairs, by the ``fix`` a finding names.
REPAIRS: dict[str, Callable[[Finding], bool]] = {
    "resubmitted": _resubmit,
    "persist_nudged": _persist,
    "page_failed": _fail_page,
    "repersisted": _repersist,
    "reingested": _reingest,
    "batch_closed": _close,
}


def record_repairs(done: Counter[tuple[int, str]]) -> None:
    """Count the repairs on the metric and, per batch, in ``repairs``."""
    if not done:
        return
    rows = [{"batch_id": b, "kind": kind, "count": n} for (b, kind), n in done.items()]
    stmt = insert(Repair)
    upsert = stmt.on_conflict_do_update(
        index_elements=["batch_id", "kind"],
        set_={"count": Repair.count + stmt.excluded.count, "last_at": func.now()},
    )
    with session_scope() as session:
        session.execute(upsert, rows)
    for (_, kind), n in done.items():
        metrics.repaired(kind, n)


def repair_counts(session: Session, batch_id: int) -> dict[str, int]:
    """The reconciler's repairs of a batch so far, by kind."""
    rows = session.execute(
        select(Repair.kind, Repair.count).where(Repair.batch_id == batch_id).order_by(Repair.kind)
    )
    return {kind: count for kind, count in rows}
