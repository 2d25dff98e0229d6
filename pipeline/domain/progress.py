"""Where a batch stands: counts by state, and closing a batch once every page has ended."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select, text, update
from sqlalchemy.orm import Session

from pipeline.adapters.db.models import Batch, Document, Page
from pipeline.adapters.db.states import (
    LIVE_PAGE_STATES,
    TERMINAL_PAGE_STATES,
    BatchState,
    DocumentState,
    PageState,
    sql_states,
)
from pipeline.domain.announce import announce_after_commit

_FINISH = text(
    f"""
    UPDATE batches SET state = 'done', finished_at = now()
    WHERE id = :batch_id AND state = 'running'
      AND NOT EXISTS (SELECT 1 FROM documents
                      WHERE batch_id = :batch_id AND state IN ('pending', 'ingesting')
                        AND superseded_at IS NULL)
      AND NOT EXISTS (SELECT 1 FROM pages p JOIN documents d ON d.id = p.document_id
                      WHERE p.batch_id = :batch_id AND d.superseded_at IS NULL
                        AND p.state IN {sql_states(LIVE_PAGE_STATES)})
    RETURNING notify_url
    """
)


def finish_batch_if_done(session: Session, batch_id: int) -> bool:
    """Mark the batch done once no document or page is still on its way; True if this did.

    Versions replaced by a rescan do not count: the batch waits for their successors.

    If this closed it and it has a ``--notify`` URL, its summary is sent after the commit.
    """
    closed = session.execute(_FINISH, {"batch_id": batch_id}).first()
    if closed is not None and closed.notify_url:
        announce_after_commit(session, batch_id)
    return closed is not None


def reopen_batch(session: Session, batch_id: int, **values: Any) -> None:
    """The batch is running again: work was queued after it was closed (and ``values``).

    Its next end is announced again (``notified_at`` cleared).
    """
    session.execute(
        update(Batch)
        .where(Batch.id == batch_id)
        .values(state=BatchState.RUNNING, finished_at=None, notified_at=None, **values)
    )


@dataclass
class BatchProgress:
    """Counts a progress bar and a summary need."""

    batch_id: int
    name: str
    state: str
    documents: dict[str, int] = field(default_factory=dict)
    pages: dict[str, int] = field(default_factory=dict)
    #: create_task calls repeated after a lost answer: pages that may be billed twice.
    ambiguous_submits: int = 0
    #: Pages no student was matched to (listed by enqueue, never guessed).
    unowned_pages: int = 0
    #: Folders holding no scans (documents of kind missing, counted as failed too).
    missing_folders: int = 0
    #: Earlier versions replaced by a rescan: kept, and left out of every other count.
    superseded: int = 0
    #: Pages whose label's code gave their student, assignment and page.
    labelled_pages: int = 0
    #: Of those, pages turned upright by their label before they were stored and sent.
    turned_pages: int = 0

    @property
    def total_pages(self) -> int:
        """Pages known so far (documents still being ingested add more)."""
        return sum(self.pages.values())

    @property
    def ended_pages(self) -> int:
        """Pages done, failed, or skipped (blank)."""
        return sum(self.pages.get(state, 0) for state in TERMINAL_PAGE_STATES)

    @property
    def ingesting(self) -> int:
        """Documents not yet split into pages."""
        return self.documents.get(DocumentState.PENDING, 0) + self.documents.get(
            DocumentState.INGESTING, 0
        )

    @property
    def finished(self) -> bool:
        """Every document ingested or failed, every page done or failed."""
        return self.ingesting == 0 and self.ended_pages == self.total_pages

    @property
    def failed(self) -> int:
        """Failed pages plus documents that never became pages."""
        return self.pages.get(PageState.FAILED, 0) + self.documents.get(DocumentState.FAILED, 0)


def batch_progress(session: Session, batch_id: int) -> BatchProgress:
    """Counts by state for one batch: its current versions (``superseded`` counts the others)."""
    batch = session.get_one(Batch, batch_id)
    current = Document.superseded_at.is_(None)
    docs = session.execute(
        select(
            Document.state,
            func.count().filter(current),
            func.count().filter(current, Document.kind == "missing"),
            func.count().filter(~current),
        )
        .where(Document.batch_id == batch_id)
        .group_by(Document.state)
    ).all()
    pages = session.execute(
        select(
            Page.state,
            func.count(),
            func.sum(Page.ambiguous_submits),
            func.count().filter(Page.student_id.is_(None)),
            func.count().filter(Page.label_code.is_not(None)),
            func.count().filter(Page.label_turn > 0),
        )
        .join(Document, Document.id == Page.document_id)
        .where(Page.batch_id == batch_id, current)
        .group_by(Page.state)
    ).all()
    return BatchProgress(
        batch_id,
        batch.name,
        batch.state,
        documents={state: count for state, count, *_ in docs if count},
        pages={state: count for state, count, *_ in pages},
        ambiguous_submits=sum(int(row[2] or 0) for row in pages),
        unowned_pages=sum(row[3] for row in pages),
        missing_folders=sum(missing for _, _, missing, _ in docs),
        superseded=sum(old for *_, old in docs),
        labelled_pages=sum(row[4] for row in pages),
        turned_pages=sum(row[5] for row in pages),
    )
