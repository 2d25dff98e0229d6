"""Enqueue: record a night's directory as a batch and hand each document to the ingest workers.

Runs where the directory is (the operator's host). Originals go to S3 first, because ingest
workers may run on hosts that cannot see the directory, and because originals are kept.
S3 is checked before anything is recorded, and a batch this run created that got no original
uploaded is removed again when S3 fails mid-way: running the same command once S3 is back
does what the first run would have. Re-running on the same directory and batch name records
nothing twice; a file rescanned
since is a new version of its document (``pipeline.stages.record``), and two enqueues of
one directory at once record and send each file once.
"""

from __future__ import annotations

import logging
import mimetypes
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from pipeline.adapters import broker
from pipeline.adapters.db.artifacts import record_archived
from pipeline.adapters.db.models import Batch, Document
from pipeline.adapters.db.session import session_scope
from pipeline.adapters.db.states import DocumentState
from pipeline.adapters.documents.discovery import (
    DiscoveredDocument,
    DiscoveryResult,
    Rejected,
    discover,
    sha256_files,
)
from pipeline.adapters.objectstore import ObjectStore, original_key
from pipeline.domain.progress import reopen_batch
from pipeline.domain.routing import Route, Routing
from pipeline.domain.students import ManifestRow, Owner, Students, record_owner
from pipeline.errors import BadInput, ScangradeError
from pipeline.settings import get_settings
from pipeline.stages.record import PLACEHOLDER_KINDS, Found, Recorded, Step, record_document

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
    #: Files whose content changed at a path the batch holds: queued as new versions.
    rescanned: list[Rejected] = field(default_factory=list)
    #: Folders holding no scans (error_code empty_folder): missing work, recorded as such.
    missing: list[Rejected] = field(default_factory=list)


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
    ``force``. A file whose content changed at a path the batch holds is a new version of
    it (``pipeline.stages.record``). A folder holding no scans is a ``missing`` row. Each
    document's student comes from ``students`` (see ``pipeline.domain.students``); a run with a
    corrected manifest corrects the owners of documents already recorded.
    """
    root = root.resolve()
    routes = routes or Routing(Route("correct_edu", {}))
    students = students or Students()
    found = discover(root, settle_s=get_settings().settle_s if settle_s is None else settle_s)
    name = batch_name or root.name
    store.ensure_bucket()  # S3 down or refusing: nothing recorded yet
    batch_id, created = _batch(name, root, routes.default, notify_url)
    try:
        report = _record_all(
            EnqueueReport(batch_id=batch_id, batch_name=name),
            root,
            found,
            store,
            routes,
            students,
            force=force,
            skip_blank=skip_blank,
        )
    except ScangradeError:
        if created:
            _drop_if_nothing_uploaded(batch_id)
        raise
    _log_report(report)
    return report


def _log_report(report: EnqueueReport) -> None:
    log.info(
        "batch %s: %d documents queued (%d rescans), %d already known, %d already sent, "
        "%d rejected, %d folders with no scans",
        report.batch_name,
        len(report.queued),
        len(report.rescanned),
        len(report.already_known),
        len(report.duplicates),
        len(report.rejected),
        len(report.missing),
    )


def _record_all(
    report: EnqueueReport,
    root: Path,
    found: DiscoveryResult,
    store: ObjectStore,
    routes: Routing,
    students: Students,
    *,
    force: bool,
    skip_blank: bool,
) -> EnqueueReport:
    """Record what the walk found in the batch, uploading and queueing each new document."""
    batch_id, mine = report.batch_id, own_files(routes, students)
    rejected = [r for r in found.rejected if not _is_own_file(root, r.rel_path, mine)]
    report.rejected = rejected
    report.unused_rows = students.unused_rows((doc.rel_path, doc.kind) for doc in found.documents)
    for reject in rejected:
        _record_rejected(batch_id, reject, routes.route(reject.rel_path))
    _record_missing(batch_id, found.empty_folders, routes, students)
    report.missing = list(found.empty_folders)
    for doc in found.documents:
        _enqueue_one(report, store, doc, routes, students, force=force, skip_blank=skip_blank)
    return report


def _drop_if_nothing_uploaded(batch_id: int) -> None:
    """Remove a batch this run created when none of its originals reached S3.

    Left, it would be an empty batch ``running`` for ever; its re-run records it anew. A batch
    with an original uploaded is kept: the next run takes up its documents not yet uploaded.
    """
    with session_scope() as session:
        uploaded = session.scalar(
            select(Document.id)
            .where(
                Document.batch_id == batch_id, func.jsonb_array_length(Document.original_keys) > 0
            )
            .limit(1)
        )
        if uploaded is not None:
            return
        session.execute(delete(Document).where(Document.batch_id == batch_id))
        session.execute(delete(Batch).where(Batch.id == batch_id))
    log.info("batch %d: no original reached S3; the batch is not kept", batch_id)


def _enqueue_one(
    report: EnqueueReport,
    store: ObjectStore,
    doc: DiscoveredDocument,
    routes: Routing,
    students: Students,
    *,
    force: bool,
    skip_blank: bool,
) -> None:
    """Record one document, and send it on unless it is known or already sent."""
    batch_id, route = report.batch_id, routes.route(doc.rel_path)
    owner = students.owner(doc.rel_path, doc.kind)
    try:
        recorded, owned = _record(batch_id, doc, route, owner, force=force, skip_blank=skip_blank)
    except BadInput as e:  # the file vanished or became unreadable since the walk
        vanished = Rejected(doc.rel_path, str(e), e.code)
        report.rejected.append(vanished)
        _record_rejected(batch_id, vanished, route)
        return
    if not owned and owner.reason is not None:
        report.unmatched.append(Rejected(doc.rel_path, owner.reason, "no_student"))
    if recorded.step is Step.KNOWN:
        report.already_known.append(doc.rel_path)
        return
    if recorded.duplicate is not None:
        report.duplicates.append(Rejected(doc.rel_path, recorded.duplicate.reason, "duplicate"))
        return
    if recorded.replaced is not None:
        why = f"new content: replaces document {recorded.replaced}, kept as superseded"
        report.rescanned.append(Rejected(doc.rel_path, why, "rescan"))
    _upload_originals(store, batch_id, recorded.document_id, doc)
    report.queued.append(doc.rel_path)
    _reopen(batch_id)
    broker.send("ingest", [recorded.document_id])


def own_files(routes: Routing, students: Students) -> set[Path]:
    """The manifests and the roster: not scans, wherever they lie."""
    return {
        path.resolve()
        for path in (routes.manifest, students.manifest, students.roster_file)
        if path is not None
    }


def _is_own_file(root: Path, rel_path: str, own: set[Path]) -> bool:
    return (root / rel_path).resolve() in own


def _batch(name: str, root: Path, default: Route, notify_url: str | None) -> tuple[int, bool]:
    """The batch's id, and whether this run created it."""
    with session_scope() as session:
        existing = session.scalar(select(Batch.id).where(Batch.name == name))
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
        return batch_id, existing is None


def _reopen(batch_id: int) -> None:
    """A batch an earlier run closed is running again while a late file is on its way."""
    with session_scope() as session:
        reopen_batch(session, batch_id)


def _record(
    batch_id: int,
    doc: DiscoveredDocument,
    route: Route,
    owner: Owner,
    *,
    force: bool,
    skip_blank: bool,
) -> tuple[Recorded, bool]:
    """Record the document (one transaction, serialised); what was done, and if it has a student.

    The student is this run's, or an earlier run's when this one finds none.
    """
    found = Found(
        doc.rel_path, doc.kind, sha256_files(doc.files), doc.size_bytes, route, skip_blank
    )
    with session_scope() as session:
        recorded = record_document(session, batch_id, found, force=force)
        owned = record_owner(session, recorded.document_id, owner)
    return recorded, owned


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
        # A file still rejected keeps its row, with the reason of this run.
        _upsert_placeholder(session, batch_id, rejected, "rejected", route)


def _upsert_placeholder(
    session: Session, batch_id: int, item: Rejected, kind: str, route: Route
) -> int | None:
    """A failed row standing for a rejected file or an empty folder; its id.

    An earlier placeholder at the path takes this run's kind and reason; a real document
    there is left alone (None).
    """
    stmt = insert(Document).values(
        batch_id=batch_id,
        rel_path=item.rel_path,
        kind=kind,
        api=route.api,
        options=route.options,
        state=DocumentState.FAILED,
        error=item.reason,
        error_code=item.code,
    )
    document_id: int | None = session.scalar(
        stmt.on_conflict_do_update(
            index_elements=["batch_id", "rel_path"],
            index_where=Document.superseded_at.is_(None),
            set_={
                "kind": stmt.excluded.kind,
                "error": stmt.excluded.error,
                "error_code": stmt.excluded.error_code,
            },
            where=Document.kind.in_(PLACEHOLDER_KINDS),
        ).returning(Document.id)
    )
    return document_id


def _record_missing(
    batch_id: int, empty: list[Rejected], routes: Routing, students: Students
) -> None:
    """A row for each folder holding no scans, with its student; folders filled since lose it.

    The rows say what this run found: a folder that has scans now (or is gone) is no longer
    missing work.
    """
    with session_scope() as session:
        session.execute(
            delete(Document).where(
                Document.batch_id == batch_id,
                Document.kind == "missing",
                Document.rel_path.not_in([folder.rel_path for folder in empty]),
            )
        )
        for folder in empty:
            route = routes.route(folder.rel_path)
            document_id = _upsert_placeholder(session, batch_id, folder, "missing", route)
            if document_id is not None:
                record_owner(session, document_id, students.folder_owner(folder.rel_path))
