"""Reconcile: find work whose nudge was lost, and nudge it again.

A killed worker or a flushed broker loses messages; Postgres says what is owed, so nothing
depends on a message surviving in Redis.
"""

from __future__ import annotations

import logging
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select, update

from pipeline.adapters import broker
from pipeline.adapters.db.models import Artifact, Batch, Document, Page, ProviderTask
from pipeline.adapters.db.session import session_scope
from pipeline.adapters.db.states import (
    ArtifactState,
    BatchState,
    DocumentState,
    PageState,
    TaskState,
)
from pipeline.domain import notify
from pipeline.domain.progress import finish_batch_if_done
from pipeline.settings import Settings
from pipeline.stages.repair import record_repairs, repair

log = logging.getLogger(__name__)


def reconcile(settings: Settings) -> dict[str, int]:
    """One pass over every stage; returns how many rows each step touched."""
    now = datetime.now(UTC)
    stale = now - timedelta(seconds=settings.stale_after_s)
    # A task cannot run past its hard time limit, so a claim older than that was orphaned.
    crashed = now - timedelta(seconds=settings.orphaned_claim_s())
    # A claim given back is nudged at once: a lost worker costs its time limit, not
    # stale_after_s on top.
    report = {
        "ingest_failed": _fail_crashing_documents(settings.max_page_attempts, crashed),
        "ingest_reset": _renudge(
            "ingest", _reset(Document, DocumentState.INGESTING, DocumentState.PENDING, crashed)
        ),
        # The worker died after claiming the page: whether its create_task reached the
        # provider is unknown, so the next submit counts as an ambiguous one.
        "submit_reset": _renudge(
            "submit",
            _reset(
                Page,
                PageState.SUBMITTING,
                PageState.READY,
                crashed,
                ambiguous_submits=Page.ambiguous_submits + 1,
            ),
        ),
    }
    report["ingest_nudged"] = _nudge_rows("ingest", Document, DocumentState.PENDING, stale)
    report["submit_nudged"] = _nudge_rows("submit", Page, PageState.READY, stale)
    report["persist_nudged"] = _nudge_tasks("persist", PageState.PERSISTING, stale)
    report["archive_nudged"] = _nudge_tasks("archive", PageState.ARCHIVING, stale)
    report["archive_expiring"] = _nudge_expiring(now, settings)
    report["batch_closed"] = _close_finished_batches()
    report["notify_nudged"] = notify.resend_overdue(settings)
    report |= repair(settings)  # rows whose state their other rows do not back
    touched = {step: count for step, count in report.items() if count}
    if touched:
        log.info("reconciler: %s", touched)
    return report


def _close_finished_batches() -> int:
    """Close running batches with nothing left: a close the stages missed, so a repair."""
    with session_scope() as session:
        running = list(session.scalars(select(Batch.id).where(Batch.state == BatchState.RUNNING)))
        closed = Counter(
            (batch_id, "batch_closed")
            for batch_id in running
            if finish_batch_if_done(session, batch_id)
        )
    record_repairs(closed)
    return len(closed)


def _fail_crashing_documents(max_attempts: int, before: datetime) -> int:
    """A document whose ingest killed its worker again and again fails instead of looping."""
    with session_scope() as session:
        ids = session.scalars(
            update(Document)
            .where(
                Document.state == DocumentState.INGESTING,
                Document.updated_at < before,
                Document.attempts >= max_attempts,
            )
            .values(
                state=DocumentState.FAILED,
                updated_at=datetime.now(UTC),
                error_code="worker_lost",
                error=f"its ingest was cut short {max_attempts} times (the worker died or hit "
                "the task time limit); the file may be damaged or far too large",
            )
            .returning(Document.id)
        ).all()
    for row_id in ids:
        log.error("document %d failed: its ingest killed the worker %d times", row_id, max_attempts)
    return len(ids)


def _reset(
    model: type[Document] | type[Page], stuck: str, back: str, before: datetime, **values: Any
) -> list[int]:
    """Give rows claimed by a worker that died back to the state before the claim; their ids."""
    with session_scope() as session:
        ids = session.scalars(
            update(model)
            .where(model.state == stuck, model.updated_at < before)
            .values(state=back, updated_at=datetime.now(UTC), **values)
            .returning(model.id)
        ).all()
    for row_id in ids:
        log.warning(
            "%s %d was left %s by a lost worker; retrying it", model.__tablename__, row_id, stuck
        )
    return list(ids)


def _renudge(stage: broker.Stage, ids: list[int]) -> int:
    """Nudge rows given back at once; how many were given back (a lost nudge waits a pass)."""
    broker.send(stage, ids)
    return len(ids)


def _nudge_rows(
    stage: broker.Stage, model: type[Document] | type[Page], state: str, before: datetime
) -> int:
    """Nudge rows waiting too long, but only once their queue is empty.

    A backlog is not a loss: thousands of pages may legitimately wait for the quota.
    """
    if broker.queue_length(broker.ROUTES[stage][1]) != 0:
        return 0
    with session_scope() as session:
        ids = list(
            session.scalars(
                select(model.id).where(model.state == state, model.updated_at < before).limit(1000)
            )
        )
    return broker.send(stage, ids)


def _nudge_tasks(stage: broker.Stage, state: str, before: datetime) -> int:
    with session_scope() as session:
        ids = list(
            session.scalars(
                select(ProviderTask.id)
                .join(Page, Page.id == ProviderTask.page_id)
                .where(
                    Page.state == state,
                    Page.updated_at < before,
                    ProviderTask.state == TaskState.FINISHED,
                )
                .limit(1000)
            )
        )
    return broker.send(stage, ids)


def _nudge_expiring(now: datetime, settings: Settings) -> int:
    """Archive at once, backlog or not, whatever would otherwise outlive its signed URLs."""
    return broker.send("archive", expiring_tasks(now, settings))


def expiring_tasks(now: datetime, settings: Settings) -> list[int]:
    """Tasks with an image to archive whose signed URL expires within the margin.

    ``SCANGRADE_ARCHIVE_EXPIRY_MARGIN_S``; only pages that have waited a while, and again on
    each pass until archived.
    """
    with session_scope() as session:
        ids = session.scalars(
            select(Artifact.provider_task_id)
            .join(Page, Page.id == Artifact.page_id)
            .where(
                Artifact.state == ArtifactState.PENDING,
                Artifact.source_expires_at
                < now + timedelta(seconds=settings.archive_expiry_margin_s),
                Page.state == PageState.ARCHIVING,
                Page.updated_at < now - timedelta(seconds=settings.stale_after_s / 4),
            )
            .distinct()
            .limit(1000)
        )
        return [task_id for task_id in ids if task_id is not None]
