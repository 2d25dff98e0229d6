"""Reconcile: find work whose nudge was lost, and nudge it again.

A killed worker or a flushed broker loses messages; Postgres says what is owed, so nothing
depends on a message surviving in Redis.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update

from pipeline import nudges
from pipeline.db.models import Batch, Document, Page, ProviderTask
from pipeline.db.session import session_scope
from pipeline.db.states import BatchState, DocumentState, PageState, TaskState
from pipeline.progress import finish_batch_if_done
from pipeline.settings import Settings

log = logging.getLogger(__name__)


def reconcile(settings: Settings) -> dict[str, int]:
    """One pass over every stage; returns how many rows each step touched."""
    now = datetime.now(UTC)
    stale = now - timedelta(seconds=settings.stale_after_s)
    crashed = now - timedelta(seconds=settings.task_time_limit_s + 60)
    report = {
        "ingest_reset": _reset(Document, DocumentState.INGESTING, DocumentState.PENDING, crashed),
        "submit_reset": _reset(Page, PageState.SUBMITTING, PageState.READY, crashed),
    }
    report["ingest_nudged"] = _nudge_rows("ingest", Document, DocumentState.PENDING, stale)
    report["submit_nudged"] = _nudge_rows("submit", Page, PageState.READY, stale)
    report["persist_nudged"] = _nudge_tasks("persist", PageState.PERSISTING, stale)
    report["archive_nudged"] = _nudge_tasks("archive", PageState.ARCHIVING, stale)
    with session_scope() as session:
        for batch_id in session.scalars(select(Batch.id).where(Batch.state == BatchState.RUNNING)):
            finish_batch_if_done(session, batch_id)
    touched = {step: count for step, count in report.items() if count}
    if touched:
        log.info("reconciler: %s", touched)
    return report


def _reset(model: type[Document] | type[Page], stuck: str, back: str, before: datetime) -> int:
    """Give rows claimed by a worker that died back to the state before the claim."""
    with session_scope() as session:
        ids = session.scalars(
            update(model)
            .where(model.state == stuck, model.updated_at < before)
            .values(state=back, updated_at=datetime.now(UTC))
            .returning(model.id)
        ).all()
    for row_id in ids:
        log.warning(
            "%s %d was left %s by a lost worker; retrying it", model.__tablename__, row_id, stuck
        )
    return len(ids)


def _nudge_rows(
    stage: nudges.Stage, model: type[Document] | type[Page], state: str, before: datetime
) -> int:
    """Nudge rows waiting too long, but only once their queue is empty.

    A backlog is not a loss: thousands of pages may legitimately wait for the quota.
    """
    if nudges.queue_length(nudges.ROUTES[stage][1]) != 0:
        return 0
    with session_scope() as session:
        ids = list(
            session.scalars(
                select(model.id).where(model.state == state, model.updated_at < before).limit(1000)
            )
        )
    return nudges.send(stage, ids)


def _nudge_tasks(stage: nudges.Stage, state: str, before: datetime) -> int:
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
    return nudges.send(stage, ids)
