"""What the operator's commands read about batches, for the CLI to render.

Which batch a name means, the latest batches, and what failed in one. Reads only.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from pipeline.adapters.db.models import Batch, Document, Page
from pipeline.adapters.db.states import DocumentState, PageState


@dataclass(frozen=True)
class FailedDocument:
    """A file of the batch that failed, was rejected before ingest, or is a missing folder."""

    rel_path: str
    kind: str
    code: str | None
    reason: str | None


@dataclass(frozen=True)
class FailedPage:
    """A page of the batch that failed."""

    rel_path: str
    page_no: int
    code: str | None
    reason: str | None


@dataclass(frozen=True)
class Failures:
    """Every failed file and page of a batch, replaced versions (rescans) left out."""

    documents: list[FailedDocument]
    pages: list[FailedPage]


def find_batch(session: Session, name_or_id: str) -> int | None:
    """The id of the batch named ``name_or_id``, or whose id it is; None if there is none."""
    query = select(Batch.id).where(Batch.name == name_or_id)
    if name_or_id.isdigit():
        query = select(Batch.id).where((Batch.id == int(name_or_id)) | (Batch.name == name_or_id))
    return session.scalar(query)


def latest_batches(session: Session, limit: int = 10) -> list[int]:
    """The ids of the last ``limit`` batches, newest first."""
    return list(session.scalars(select(Batch.id).order_by(Batch.id.desc()).limit(limit)))


def failures(session: Session, batch_id: int) -> Failures:
    """The batch's failed files and pages, in path (and page) order."""
    docs = session.execute(
        select(Document.rel_path, Document.kind, Document.error_code, Document.error)
        .where(
            Document.batch_id == batch_id,
            Document.state == DocumentState.FAILED,
            Document.superseded_at.is_(None),
        )
        .order_by(Document.rel_path)
    ).all()
    pages = session.execute(
        select(Document.rel_path, Page.page_no, Page.error_code, Page.error)
        .join(Document, Document.id == Page.document_id)
        .where(
            Page.batch_id == batch_id,
            Page.state == PageState.FAILED,
            Document.superseded_at.is_(None),
        )
        .order_by(Document.rel_path, Page.page_no)
    ).all()
    return Failures(
        documents=[FailedDocument(*row) for row in docs],
        pages=[FailedPage(*row) for row in pages],
    )
