"""Recording one found document: which version of its path it is, and whether to send it.

Enqueue and its dry run (``pipeline.stages.plan``) decide the same way, through
:func:`next_step` and :func:`earlier_copy`, so ``--dry-run`` says what the real run does.

The real run decides under two Postgres advisory locks held until its transaction commits:
one on the document's path in the batch, one on its content. Two enqueues of one directory
started together (two operators, or cron and a person) therefore record each path once per
version, and of two copies of one content the second always sees the first, committed: it is
skipped as the first's duplicate, never both as each other's.

A file whose content changed at a path the batch already holds (a rescan) is the next
``version`` there: the earlier one is kept, marked ``superseded_at``/``superseded_by``, and
its pages not yet sent are skipped (error_code ``superseded``), never paid for.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy import func, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from pipeline.adapters.db.models import Document, Page
from pipeline.adapters.db.states import DocumentState, PageState
from pipeline.adapters.db.transitions import move
from pipeline.domain.routing import Route

log = logging.getLogger(__name__)

#: Rows that only say why nothing was taken at a path: a later run takes the path over.
PLACEHOLDER_KINDS = ("rejected", "missing")


class Step(StrEnum):
    """What recording a found file does at its path."""

    NEW = "new"  # nothing recorded at the path yet
    RETAKE = "retake"  # a rejected file or an empty folder there: its row becomes the document
    RESUME = "resume"  # the same content, not yet uploaded (or skipped): taken up again
    KNOWN = "known"  # the same content, uploaded: nothing to do
    RESCAN = "rescan"  # new content at the path: a new version replaces the current one


@dataclass(frozen=True)
class Current:
    """The current version recorded at a path of a batch."""

    id: int
    kind: str
    sha256: str | None
    state: str
    version: int
    uploaded: bool


def current_version(session: Session, batch_id: int, rel_path: str) -> Current | None:
    """The version of ``rel_path`` that the batch counts, or None when there is none."""
    row = session.execute(
        select(
            Document.id,
            Document.kind,
            Document.sha256,
            Document.state,
            Document.version,
            Document.original_keys,
        ).where(
            Document.batch_id == batch_id,
            Document.rel_path == rel_path,
            Document.superseded_at.is_(None),
        )
    ).first()
    if row is None:
        return None
    return Current(row.id, row.kind, row.sha256, row.state, row.version, bool(row.original_keys))


def next_step(current: Current | None, sha256: str) -> Step:
    """What recording content ``sha256`` at a path whose current version is ``current`` does."""
    if current is None:
        return Step.NEW
    if current.kind in PLACEHOLDER_KINDS:
        return Step.RETAKE
    if current.sha256 != sha256:
        return Step.RESCAN
    if current.uploaded and current.state != DocumentState.PENDING:
        return Step.KNOWN
    return Step.RESUME


_EARLIER_COPY = text(
    """
    SELECT e.id, e.rel_path, b.name AS batch
    FROM documents e
    JOIN batches b ON b.id = e.batch_id
    WHERE e.sha256 = :sha256 AND e.api = :api AND e.options = CAST(:options AS jsonb)
      AND e.id IS DISTINCT FROM :document_id
      AND e.state <> 'skipped'
      AND e.superseded_at IS NULL
      AND (e.state IN ('pending', 'ingesting')
           OR EXISTS (SELECT 1 FROM pages p WHERE p.document_id = e.id
                      AND p.state NOT IN ('failed', 'skipped')))
    ORDER BY e.id
    LIMIT 1
    """
)


@dataclass(frozen=True)
class EarlierCopy:
    """A document whose pages already carry the same content to the same API."""

    id: int
    rel_path: str
    batch: str

    @property
    def reason(self) -> str:
        """Why the later copy is skipped, and how to send it anyway."""
        return (
            f"already sent as {self.rel_path!r} in batch {self.batch!r} (same content, "
            "API and options); enqueue with --force to pay for it again"
        )


def earlier_copy(
    session: Session,
    sha256: str,
    api: str,
    options: dict[str, Any],
    *,
    document_id: int | None = None,
) -> EarlierCopy | None:
    """The current document that already sent this content (done or on its way), or None.

    Content means the file's SHA-256 with the API and options it goes to; ``document_id``
    is the document asking, which does not count as its own earlier copy. A version replaced
    by a rescan does not count either: its results are in no view.
    """
    earlier = session.execute(
        _EARLIER_COPY,
        {
            "sha256": sha256,
            "api": api,
            "options": json.dumps(options),
            "document_id": document_id,
        },
    ).first()
    return None if earlier is None else EarlierCopy(earlier.id, earlier.rel_path, earlier.batch)


@dataclass(frozen=True)
class Found:
    """A file as enqueue found it, to be recorded."""

    rel_path: str
    kind: str
    sha256: str
    size_bytes: int
    route: Route
    skip_blank: bool


@dataclass(frozen=True)
class Recorded:
    """What recording did: the document, the step, and the earlier copy if it was skipped."""

    document_id: int
    step: Step
    duplicate: EarlierCopy | None = None
    replaced: int | None = None  # the version a rescan replaced (documents.id)

    @property
    def to_upload(self) -> bool:
        """Whether its originals go to S3 and its pages to the provider."""
        return self.step is not Step.KNOWN and self.duplicate is None


_LOCK = text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))")


def lock(session: Session, batch_id: int, rel_path: str, sha256: str) -> None:
    """Hold the path's lock, then the content's, until the transaction ends.

    Always in this order, so two enqueues never wait for each other in a circle.
    """
    for key in (f"path:{batch_id}:{rel_path}", f"content:{sha256}"):
        session.execute(_LOCK, {"key": key})


def record_document(session: Session, batch_id: int, found: Found, *, force: bool) -> Recorded:
    """Record ``found`` at its path (under the locks) and skip it if its content is already sent.

    Runs in the caller's transaction, which must commit right after: the locks end with it.
    """
    lock(session, batch_id, found.rel_path, found.sha256)
    current = current_version(session, batch_id, found.rel_path)
    step = next_step(current, found.sha256)
    if step is Step.KNOWN:
        assert current is not None
        return Recorded(current.id, step)
    if step is Step.RESUME:
        assert current is not None
        document_id = current.id
    elif step is Step.RETAKE:
        assert current is not None
        document_id = _retake(session, current.id, found)
    else:
        version = 1 if current is None else current.version + 1
        if current is not None:  # out of the current index first: the new row takes its place
            _mark_superseded(session, current.id)
        document_id = _insert(session, batch_id, found, version)
        if current is not None:
            _supersede(session, current.id, document_id)
    earlier = None
    if not force:
        earlier = earlier_copy(
            session, found.sha256, found.route.api, found.route.options, document_id=document_id
        )
    _skip_or_send(session, document_id, earlier)
    replaced = current.id if step is Step.RESCAN and current is not None else None
    return Recorded(document_id, step, earlier, replaced)


def _values(found: Found) -> dict[str, Any]:
    return {
        "kind": found.kind,
        "api": found.route.api,
        "options": found.route.options,
        "sha256": found.sha256,
        "size_bytes": found.size_bytes,
        "skip_blank": found.skip_blank,
    }


def _insert(session: Session, batch_id: int, found: Found, version: int) -> int:
    document_id = session.scalar(
        insert(Document)
        .values(batch_id=batch_id, rel_path=found.rel_path, version=version, **_values(found))
        .returning(Document.id)
    )
    assert document_id is not None
    return int(document_id)


def _retake(session: Session, document_id: int, found: Found) -> int:
    """A rejected file that now qualifies, or a folder once empty: its row becomes pending."""
    session.execute(
        update(Document)
        .where(Document.id == document_id)
        .values(
            **_values(found),
            state=DocumentState.PENDING,
            error=None,
            error_code=None,
            updated_at=func.now(),
        )
    )
    return document_id


def _mark_superseded(session: Session, document_id: int) -> None:
    session.execute(
        update(Document).where(Document.id == document_id).values(superseded_at=func.now())
    )


def _supersede(session: Session, old_id: int, new_id: int) -> None:
    """The old version names its successor; what of it was not yet sent never will be."""
    session.execute(update(Document).where(Document.id == old_id).values(superseded_by=new_id))
    why = f"replaced by a rescan (document {new_id}) before it was sent"
    move(
        session,
        Document,
        old_id,
        DocumentState.PENDING,
        DocumentState.SKIPPED,
        error=why,
        error_code="superseded",
    )
    session.execute(
        update(Page)
        .where(Page.document_id == old_id, Page.state == PageState.READY)
        .values(state=PageState.SKIPPED, error=why, error_code="superseded", updated_at=func.now())
    )
    log.info("document %d superseded by its rescan, document %d", old_id, new_id)


def _skip_or_send(session: Session, document_id: int, earlier: EarlierCopy | None) -> None:
    """Skip the document as a duplicate of ``earlier``, or make a skipped one pending again."""
    if earlier is None:
        move(
            session,
            Document,
            document_id,
            DocumentState.SKIPPED,
            DocumentState.PENDING,
            duplicate_of=None,
            error=None,
            error_code=None,
        )
        return
    session.execute(
        update(Document)
        .where(
            Document.id == document_id,
            Document.state.in_([DocumentState.PENDING, DocumentState.SKIPPED]),
        )
        .values(
            state=DocumentState.SKIPPED,
            duplicate_of=earlier.id,
            error=earlier.reason,
            error_code="duplicate",
            updated_at=func.now(),
        )
    )
    log.info("document %d skipped: %s", document_id, earlier.reason)
