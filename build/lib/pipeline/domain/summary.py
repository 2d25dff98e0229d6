"""What an ended batch comes to: the facts ``status`` shows and the webhook summary carries.

Plain queries returning plain values, so that the notification, the live status screen and
the tests read the same numbers.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from pipeline.adapters.db.models import Batch, Document, Page
from pipeline.adapters.db.states import DocumentState, PageState
from pipeline.domain.progress import batch_progress

EXAMPLES = 20
"""Failed files and pages named in a summary; the counts cover every one."""


@dataclass(frozen=True)
class FailureCount:
    """Failed documents and pages sharing one error code (``unknown`` when none was given)."""

    error_code: str
    documents: int
    pages: int

    @property
    def total(self) -> int:
        """Documents and pages together."""
        return self.documents + self.pages


@dataclass(frozen=True)
class FailureExample:
    """One failed file (``page`` None) or page, with its reason."""

    rel_path: str
    page: int | None
    error_code: str | None
    error: str | None


#: The current version of each document: one replaced by a rescan no longer counts.
_CURRENT = Document.superseded_at.is_(None)


def failures_by_code(session: Session, batch_id: int) -> list[FailureCount]:
    """Failures of the batch by error code, most frequent first."""
    doc_code = func.coalesce(Document.error_code, "unknown").label("code")
    docs = session.execute(
        select(doc_code, func.count())
        .where(Document.batch_id == batch_id, Document.state == DocumentState.FAILED, _CURRENT)
        .group_by(doc_code)
    ).all()
    page_code = func.coalesce(Page.error_code, "unknown").label("code")
    pages = session.execute(
        select(page_code, func.count())
        .join(Document, Document.id == Page.document_id)
        .where(Page.batch_id == batch_id, Page.state == PageState.FAILED, _CURRENT)
        .group_by(page_code)
    ).all()
    doc_counts = {code: int(n) for code, n in docs}
    page_counts = {code: int(n) for code, n in pages}
    counts = [
        FailureCount(code, doc_counts.get(code, 0), page_counts.get(code, 0))
        for code in doc_counts.keys() | page_counts.keys()
    ]
    return sorted(counts, key=lambda c: (-c.total, c.error_code))


def failure_examples(
    session: Session, batch_id: int, limit: int = EXAMPLES
) -> list[FailureExample]:
    """Up to ``limit`` failed files, then failed pages, in path order."""
    docs = session.execute(
        select(Document.rel_path, Document.error_code, Document.error)
        .where(Document.batch_id == batch_id, Document.state == DocumentState.FAILED, _CURRENT)
        .order_by(Document.rel_path)
        .limit(limit)
    ).all()
    examples = [FailureExample(path, None, code, error) for path, code, error in docs]
    if len(examples) < limit:
        pages = session.execute(
            select(Document.rel_path, Page.page_no, Page.error_code, Page.error)
            .join(Document, Document.id == Page.document_id)
            .where(Page.batch_id == batch_id, Page.state == PageState.FAILED, _CURRENT)
            .order_by(Document.rel_path, Page.page_no)
            .limit(limit - len(examples))
        ).all()
        examples += [FailureExample(*row) for row in pages]
    return examples


def unmatched_pages(session: Session, batch_id: int) -> int:
    """Pages no student was matched to (listed in reports under no student)."""
    return int(
        session.scalar(
            select(func.count()).where(Page.batch_id == batch_id, Page.student_id.is_(None))
        )
        or 0
    )


def batch_summary(session: Session, batch_id: int) -> dict[str, Any]:
    """The JSON document a batch's ``--notify`` URL receives when the batch ends."""
    batch = session.get_one(Batch, batch_id)
    progress = batch_progress(session, batch_id)
    duration = None
    if batch.finished_at is not None:
        duration = round((batch.finished_at - batch.created_at).total_seconds(), 1)
    name = shlex.quote(batch.name)
    hints = {
        "status": f"scangrade status {name}",
        "report": f"scangrade report {name}",
        "export": f"scangrade export {name}",
    }
    if progress.failed:
        hints["retry"] = f"scangrade retry {name}"
    return {
        "event": "batch_ended",
        "batch_id": batch.id,
        "batch_name": batch.name,
        "state": batch.state,
        "cancelled": batch.cancelled_at is not None,
        "api": batch.api,
        "started_at": batch.created_at.isoformat(),
        "finished_at": batch.finished_at.isoformat() if batch.finished_at else None,
        "duration_s": duration,
        "documents": dict(sorted(progress.documents.items())),
        "pages": dict(sorted(progress.pages.items())),
        "failed": progress.failed,
        "failures": [
            {"error_code": f.error_code, "documents": f.documents, "pages": f.pages}
            for f in failures_by_code(session, batch_id)
        ],
        "failure_examples": [
            {"rel_path": e.rel_path, "page": e.page, "error_code": e.error_code, "error": e.error}
            for e in failure_examples(session, batch_id)
        ],
        "ambiguous_submits": progress.ambiguous_submits,
        "skipped_blank_pages": progress.pages.get(PageState.SKIPPED, 0),
        "unmatched_pages": unmatched_pages(session, batch_id),
        "next": hints,
    }
