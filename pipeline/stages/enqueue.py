"""Enqueue: record a night's directory as a batch and hand each document to the ingest workers.

Runs where the directory is (the operator's host). Originals go to S3 first, because ingest
workers may run on hosts that cannot see the directory, and because originals are kept.
Re-running on the same directory and batch name records nothing twice.
"""

from __future__ import annotations

import json
import logging
import mimetypes
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from pipeline import nudges
from pipeline.db.artifacts import record_archived
from pipeline.db.models import Batch, Document
from pipeline.db.session import session_scope
from pipeline.db.states import DocumentState
from pipeline.db.transitions import move
from pipeline.errors import BadInput
from pipeline.ingest.discover import DiscoveredDocument, Rejected, discover, sha256_files
from pipeline.manifest import Route, Routing
from pipeline.progress import reopen_batch
from pipeline.settings import get_settings
from pipeline.storage import ObjectStore, original_key
from pipeline.students import ManifestRow, Owner, Students, record_owner

log = logging.getLogger(__name__)


@dataclass
class EnqueueReport:
    """What one enqueue did, for the CLI to print."""

    batch_id: int
    batch_name: str
    queued: list[str] = field(default_factory=list)
    already_known: list[str] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)
    duplicates: list[Rejected] = field(default_factory=list)
    #: Documents no student could be matched to, with the reason; sent all the same.
    unmatched: list[Rejected] = field(default_factory=list)
    #: Manifest rows that name no document of the directory.
    unused_rows: list[ManifestRow] = field(default_factory=list)


def enqueue_directory(
    root: Path,
    store: ObjectStore,
    *,
    batch_name: str | None = None,
    routes: Routing | None = None,
    settle_s: float | None = None,
    force: bool = False,
    students: Students | None = None,
    skip_blank: bool = True,
    notify_url: str | None = None,
) -> EnqueueReport:
    """Discover ``root``, upload new originals, record them and nudge ingest.

    Each document goes to the API its folder's route names (the batch default otherwise).
    Files changed within ``settle_s`` (default: the setting) wait for a later run. A file
    whose content was already sent to the same API with the same options, and is done or on
    its way, is skipped (state ``skipped``, ``duplicate_of`` the earlier document) unless
    ``force``. Each document's student comes from ``students`` (see ``pipeline.students``);
    a run with a corrected manifest corrects the owners of documents already recorded.
    """
    root = root.resolve()
    routes = routes or Routing(Route("correct_edu", {}))
    students = students or Students()
    found = discover(root, settle_s=get_settings().settle_s if settle_s is None else settle_s)
    name = batch_name or root.name
    batch_id = _batch(name, root, routes.default, notify_url)
    mine = own_files(routes, students)
    rejected = [r for r in found.rejected if not _is_own_file(root, r.rel_path, mine)]
    report = EnqueueReport(batch_id=batch_id, batch_name=name, rejected=rejected)
    report.unused_rows = students.unused_rows((doc.rel_path, doc.kind) for doc in found.documents)
    for reject in rejected:
        _record_rejected(batch_id, reject, routes.route(reject.rel_path))
    store.ensure_bucket()
    for doc in found.documents:
        owner = students.owner(doc.rel_path, doc.kind)
        try:
            document_id, owned = _document(
                batch_id, doc, routes.route(doc.rel_path), owner, skip_blank=skip_blank
            )
        except BadInput as e:  # the file vanished or became unreadable since the walk
            vanished = Rejected(doc.rel_path, str(e), e.code)
            report.rejected.append(vanished)
            _record_rejected(batch_id, vanished, routes.route(doc.rel_path))
            continue
        if not owned and owner.reason is not None:
            report.unmatched.append(Rejected(doc.rel_path, owner.reason, "no_student"))
        if document_id is None:
            report.already_known.append(doc.rel_path)
            continue
        earlier = _skip_if_already_sent(document_id, force=force)
        if earlier is not None:
            report.duplicates.append(Rejected(doc.rel_path, earlier, "duplicate"))
            continue
        _upload_originals(store, batch_id, document_id, doc)
        report.queued.append(doc.rel_path)
        _reopen(batch_id)
        nudges.send("ingest", [document_id])
    log.info(
        "batch %s: %d documents queued, %d already known, %d already sent, %d rejected",
        name,
        len(report.queued),
        len(report.already_known),
        len(report.duplicates),
        len(report.rejected),
    )
    return report


def own_files(routes: Routing, students: Students) -> set[Path]:
    """The manifests and the roster: not scans, wherever they lie."""
    return {
        path.resolve()
        for path in (routes.manifest, students.manifest, students.roster_file)
        if path is not None
    }


def _is_own_file(root: Path, rel_path: str, own: set[Path]) -> bool:
    return (root / rel_path).resolve() in own


def _batch(name: str, root: Path, default: Route, notify_url: str | None) -> int:
    with session_scope() as session:
        values = {"name": name, "root_dir": str(root), "api": default.api}
        stmt = insert(Batch).values(**values, options=default.options, notify_url=notify_url)
        if notify_url is None:
            session.execute(stmt.on_conflict_do_nothing(index_elements=["name"]))
        else:  # a later run may name where the end of the batch is announced
            session.execute(
                stmt.on_conflict_do_update(index_elements=["name"], set_={"notify_url": notify_url})
            )
        batch_id = session.scalar(select(Batch.id).where(Batch.name == name))
        assert batch_id is not None
        return batch_id


def _reopen(batch_id: int) -> None:
    """A batch an earlier run closed is running again while a late file is on its way."""
    with session_scope() as session:
        reopen_batch(session, batch_id)


def _document(
    batch_id: int, doc: DiscoveredDocument, route: Route, owner: Owner, *, skip_blank: bool
) -> tuple[int | None, bool]:
    """Insert the document; its id (None if known and uploaded) and whether it has a student.

    The student is this run's, or an earlier run's when this one finds none.

    A file an earlier run rejected (still being written, unreadable then) is taken once it
    qualifies: its row becomes a pending document.
    """
    with session_scope() as session:
        stmt = insert(Document).values(
            batch_id=batch_id,
            rel_path=doc.rel_path,
            kind=doc.kind,
            api=route.api,
            options=route.options,
            sha256=sha256_files(doc.files),
            size_bytes=doc.size_bytes,
            skip_blank=skip_blank,
        )
        retaken = (
            "kind",
            "api",
            "options",
            "sha256",
            "size_bytes",
            "skip_blank",
            "state",
            "error",
            "error_code",
        )
        session.execute(
            stmt.on_conflict_do_update(
                index_elements=["batch_id", "rel_path"],
                set_={name: stmt.excluded[name] for name in retaken} | {"updated_at": func.now()},
                where=Document.kind == "rejected",
            )
        )
        row = session.execute(
            select(Document.id, Document.original_keys, Document.state).where(
                Document.batch_id == batch_id, Document.rel_path == doc.rel_path
            )
        ).one()
        owned = record_owner(session, row.id, owner)
    if row.original_keys and row.state != DocumentState.PENDING:
        return None, owned
    return int(row.id), owned


def _upload_originals(
    store: ObjectStore, batch_id: int, document_id: int, doc: DiscoveredDocument
) -> None:
    keys: list[str] = []
    with session_scope() as session:
        for index, path in enumerate(doc.files):
            content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
            stored = store.put(
                original_key(batch_id, document_id, index, path.suffix),
                path.read_bytes(),
                content_type,
            )
            keys.append(stored.key)
            record_archived(session, stored, "original", batch_id=batch_id, document_id=document_id)
        session.execute(
            update(Document).where(Document.id == document_id).values(original_keys=keys)
        )


def _record_rejected(batch_id: int, rejected: Rejected, route: Route) -> None:
    with session_scope() as session:
        stmt = insert(Document).values(
            batch_id=batch_id,
            rel_path=rejected.rel_path,
            kind="rejected",
            api=route.api,
            options=route.options,
            state=DocumentState.FAILED,
            error=rejected.reason,
            error_code=rejected.code,
        )
        # A file still rejected keeps its row, with the reason of this run.
        session.execute(
            stmt.on_conflict_do_update(
                index_elements=["batch_id", "rel_path"],
                set_={"error": stmt.excluded.error, "error_code": stmt.excluded.error_code},
                where=Document.kind == "rejected",
            )
        )


_EARLIER_COPY = text(
    """
    SELECT e.id, e.rel_path, b.name AS batch
    FROM documents e
    JOIN batches b ON b.id = e.batch_id
    WHERE e.sha256 = :sha256 AND e.api = :api AND e.options = CAST(:options AS jsonb)
      AND e.id IS DISTINCT FROM :document_id
      AND e.state <> 'skipped'
      AND (e.state IN ('pending', 'ingesting')
           OR EXISTS (SELECT 1 FROM pages p WHERE p.document_id = e.id AND p.state <> 'failed'))
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
    """The document that already sent this content (done or on its way), or None.

    Content means the file's SHA-256 with the API and options it goes to; ``document_id``
    is the document asking, which does not count as its own earlier copy.
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


def _skip_if_already_sent(document_id: int, *, force: bool) -> str | None:
    """Mark the document skipped if its content is already done or on its way; why, or None.

    Content means the file's SHA-256 with the API and options it goes to. With ``force``, or
    once the earlier copy has failed, a skipped document goes back to pending.
    """
    with session_scope() as session:
        doc = session.get_one(Document, document_id)
        earlier = None
        if not force and doc.sha256 is not None:
            earlier = earlier_copy(
                session, doc.sha256, doc.api, doc.options, document_id=document_id
            )
        if earlier is None:
            move(session, Document, document_id, DocumentState.SKIPPED, DocumentState.PENDING)
            return None
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
    return earlier.reason
