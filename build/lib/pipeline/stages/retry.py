"""Retry: the operator's ``scangrade retry BATCH`` puts a batch's failures back on their way.

Pages with an image go back to ``ready`` (the next submit is a new create_task, paid for
again); pages that never got an image, and documents that failed to ingest, are ingested
again. Files rejected before ingest (not a scan, unreadable) and folders with no scans are
not here: they need the file fixed (or scanned) and ``enqueue`` again, which records a
changed file as a new version. Versions replaced by such a rescan are never retried: only
the current version's file is read again.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Select, delete, func, select, update
from sqlalchemy.orm import Session

from pipeline.adapters import broker
from pipeline.adapters.db.models import Batch, Document, Page
from pipeline.adapters.db.session import session_scope
from pipeline.adapters.db.states import DocumentState, PageState
from pipeline.domain.progress import reopen_batch
from pipeline.stages.record import PLACEHOLDER_KINDS

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Retried:
    """How many failed rows were queued again."""

    pages: int
    documents: int


def retry_failed(batch_id: int) -> Retried:
    """Queue every failed page and failed (not rejected) document of a batch again."""
    # Only the current version of each path: a rescan's predecessor is never read again.
    current = select(Document.id).where(
        Document.batch_id == batch_id, Document.superseded_at.is_(None)
    )
    with session_scope() as session:
        pages = _ready_failed_pages(session, batch_id, current)
        unsplit = _drop_imageless_pages(session, batch_id, current)
        documents = _reset_failed_documents(session, batch_id, unsplit)
        if pages or documents:
            reopen_batch(session, batch_id, cancelled_at=None)
        name = session.scalar(select(Batch.name).where(Batch.id == batch_id))
    broker.send("submit", pages)
    broker.send("ingest", documents)
    log.info(
        "batch %s: %d failed pages and %d failed documents queued again",
        name,
        len(pages),
        len(documents),
    )
    return Retried(len(pages), len(documents))


def _failed_pages(batch_id: int, current: Select[Any]) -> tuple[ColumnElement[bool], ...]:
    """The batch's failed pages of its current documents (``current``: their ids)."""
    return (
        Page.batch_id == batch_id,
        Page.state == PageState.FAILED,
        Page.document_id.in_(current),
    )


def _ready_failed_pages(session: Session, batch_id: int, current: Select[Any]) -> list[int]:
    """Failed pages that have an image, ``ready`` again with their errors cleared; their ids."""
    return list(
        session.scalars(
            update(Page)
            .where(*_failed_pages(batch_id, current), Page.image_key.is_not(None))
            .values(
                state=PageState.READY,
                retries=0,
                error=None,
                error_code=None,
                updated_at=func.now(),
            )
            .returning(Page.id)
        )
    )


def _drop_imageless_pages(session: Session, batch_id: int, current: Select[Any]) -> set[int]:
    """Delete failed pages that have no image; the documents they came from.

    Such a page failed in ingest: its document is split again.
    """
    return set(
        session.scalars(
            delete(Page)
            .where(*_failed_pages(batch_id, current), Page.image_key.is_(None))
            .returning(Page.document_id)
        )
    )


def _reset_failed_documents(session: Session, batch_id: int, unsplit: set[int]) -> list[int]:
    """Current failed documents, and those of ``unsplit``, ``pending`` again; their ids.

    Rejected files and empty folders (placeholders) stay as they are.
    """
    return list(
        session.scalars(
            update(Document)
            .where(
                Document.batch_id == batch_id,
                Document.kind.not_in(PLACEHOLDER_KINDS),
                Document.superseded_at.is_(None),
                (Document.state == DocumentState.FAILED) | Document.id.in_(unsplit),
            )
            .values(
                state=DocumentState.PENDING,
                attempts=0,
                error=None,
                error_code=None,
                updated_at=func.now(),
            )
            .returning(Document.id)
        )
    )
