"""Enqueue: record a night's directory as a batch and hand each document to the ingest workers.

Runs where the directory is (the operator's host). Originals go to S3 first, because ingest
workers may run on hosts that cannot see the directory, and because originals are kept.
Re-running on the same directory and batch name records nothing twice.
"""

from __future__ import annotations

import logging
import mimetypes
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert

from pipeline import nudges
from pipeline.db.artifacts import record_archived
from pipeline.db.models import Batch, Document
from pipeline.db.session import session_scope
from pipeline.db.states import DocumentState
from pipeline.errors import BadInput
from pipeline.ingest.discover import DiscoveredDocument, Rejected, discover, sha256_files
from pipeline.manifest import Route, Routing
from pipeline.storage import ObjectStore, original_key

log = logging.getLogger(__name__)


@dataclass
class EnqueueReport:
    """What one enqueue did, for the CLI to print."""

    batch_id: int
    batch_name: str
    queued: list[str] = field(default_factory=list)
    already_known: list[str] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)


def enqueue_directory(
    root: Path,
    store: ObjectStore,
    *,
    batch_name: str | None = None,
    routes: Routing | None = None,
) -> EnqueueReport:
    """Discover ``root``, upload new originals, record them and nudge ingest.

    Each document goes to the API its folder's route names (the batch default otherwise).
    """
    root = root.resolve()
    routes = routes or Routing(Route("correct_edu", {}))
    found = discover(root)
    name = batch_name or root.name
    batch_id = _batch(name, root, routes.default)
    rejected = [r for r in found.rejected if not _is_manifest(root, r.rel_path, routes)]
    report = EnqueueReport(batch_id=batch_id, batch_name=name, rejected=rejected)
    for reject in rejected:
        _record_rejected(batch_id, reject, routes.route(reject.rel_path))
    store.ensure_bucket()
    for doc in found.documents:
        try:
            document_id = _document(batch_id, doc, routes.route(doc.rel_path))
        except BadInput as e:  # the file vanished or became unreadable since the walk
            vanished = Rejected(doc.rel_path, str(e), e.code)
            report.rejected.append(vanished)
            _record_rejected(batch_id, vanished, routes.route(doc.rel_path))
            continue
        if document_id is None:
            report.already_known.append(doc.rel_path)
            continue
        _upload_originals(store, batch_id, document_id, doc)
        report.queued.append(doc.rel_path)
        nudges.send("ingest", [document_id])
    log.info(
        "batch %s: %d documents queued, %d already known, %d rejected",
        name,
        len(report.queued),
        len(report.already_known),
        len(report.rejected),
    )
    return report


def _is_manifest(root: Path, rel_path: str, routes: Routing) -> bool:
    """The manifest itself is not a scan, wherever it lies."""
    return routes.manifest is not None and (root / rel_path).resolve() == routes.manifest.resolve()


def _batch(name: str, root: Path, default: Route) -> int:
    with session_scope() as session:
        stmt = (
            insert(Batch)
            .values(name=name, root_dir=str(root), api=default.api, options=default.options)
            .on_conflict_do_nothing(index_elements=["name"])
        )
        session.execute(stmt)
        batch_id = session.scalar(select(Batch.id).where(Batch.name == name))
        assert batch_id is not None
        return batch_id


def _document(batch_id: int, doc: DiscoveredDocument, route: Route) -> int | None:
    """Insert the document; None if it is known and already has its originals."""
    with session_scope() as session:
        stmt = (
            insert(Document)
            .values(
                batch_id=batch_id,
                rel_path=doc.rel_path,
                kind=doc.kind,
                api=route.api,
                options=route.options,
                sha256=sha256_files(doc.files),
                size_bytes=doc.size_bytes,
            )
            .on_conflict_do_nothing(index_elements=["batch_id", "rel_path"])
        )
        session.execute(stmt)
        row = session.execute(
            select(Document.id, Document.original_keys, Document.state).where(
                Document.batch_id == batch_id, Document.rel_path == doc.rel_path
            )
        ).one()
    if row.original_keys and row.state != DocumentState.PENDING:
        return None
    return int(row.id)


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
        session.execute(stmt.on_conflict_do_nothing(index_elements=["batch_id", "rel_path"]))
